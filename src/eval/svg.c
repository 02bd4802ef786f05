/* svg.c - line charts as SVG text: axes, ticks, grid, one coloured line per series, legend;
 * a log2 x axis for sequence lengths. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "eval/eval.h"
#include "eval/report.h"
#include "io/file.h"
#include "util/err.h"

#define W 720.0
#define H 440.0
#define ML 70.0  /* margins: left, right (legend), top, bottom */
#define MR 190.0
#define MT 40.0
#define MB 56.0

static const char *const k_colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                       "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

static void xml_text(ttt_buf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '<') ttt_buf_puts(b, "&lt;");
        else if (*s == '>') ttt_buf_puts(b, "&gt;");
        else if (*s == '&') ttt_buf_puts(b, "&amp;");
        else if (*s == '"') ttt_buf_puts(b, "&quot;");
        else if ((unsigned char)*s >= 0x20) ttt_buf_put(b, s, 1);
    }
}

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving about n ticks over span. */
static double nice_step(double span, int n) {
    double raw = span / n, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void fmt_len(char *out, size_t n, double v) {
    if (v >= 1024 && fmod(v, 1024) == 0) snprintf(out, n, "%.0fk", v / 1024);
    else snprintf(out, n, "%g", v);
}

ttt_status ttt_svg_line_chart(const char *path, const ttt_svg_chart *c, const ttt_svg_series *s,
                              int n_series) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < n_series; i++)
        for (int k = 0; k < s[i].n; k++) {
            double x = s[i].x[k], y = s[i].y[k];
            if (!isfinite(y) || !isfinite(x) || (c->log2_x && x <= 0)) continue;
            if (c->log2_x) x = log2(x);
            x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
        }
    if (!isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (c->y_from_zero) y0 = fmin(0, y0);
    if (c->y_max > 0) y1 = fmax(y1, c->y_max);
    if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
    /* a margin keeps the end points off the frame */
    double pad = (x1 - x0) * 0.04;
    x0 -= pad, x1 += pad;
    if (y1 - y0 < 1e-12) y1 = y0 + (y0 != 0 ? fabs(y0) : 1);
    double ystep = nice_step(y1 - y0, 5);
    y0 = floor(y0 / ystep) * ystep;
    y1 = ceil(y1 / ystep) * ystep;
    const double pw = W - ML - MR, ph = H - MT - MB;
#define PX(x) (ML + ((x) - x0) / (x1 - x0) * pw)
#define PY(y) (MT + ph - ((y) - y0) / (y1 - y0) * ph)
    ttt_buf b = {0};
    ttt_buf_printf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                       "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
                   W, H, W, H);
    ttt_buf_printf(&b, "<rect width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", W, H);
    ttt_buf_printf(&b, "<text x=\"%.1f\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">", ML + pw / 2);
    xml_text(&b, c->title ? c->title : "");
    ttt_buf_puts(&b, "</text>\n");
    /* y grid and ticks */
    for (double y = y0; y <= y1 + ystep * 1e-6; y += ystep) {
        ttt_buf_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                       ML, PY(y), ML + pw, PY(y));
        ttt_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", ML - 6,
                       PY(y) + 4, fabs(y) < ystep * 1e-6 ? 0.0 : y);
    }
    /* x ticks: powers of two on a log2 axis, else nice steps */
    double xstep = c->log2_x ? fmax(1, ceil((x1 - x0) / 10)) : nice_step(x1 - x0, 6);
    for (double x = c->log2_x ? ceil(x0) : ceil(x0 / xstep) * xstep; x <= x1 + 1e-9; x += xstep) {
        char lab[32];
        fmt_len(lab, sizeof lab, c->log2_x ? exp2(x) : x);
        ttt_buf_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                       PX(x), MT, PX(x), MT + ph);
        ttt_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", PX(x),
                       MT + ph + 16, lab);
    }
    ttt_buf_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                       "stroke=\"black\"/>\n", ML, MT, pw, ph);
    ttt_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", ML + pw / 2, H - 14);
    xml_text(&b, c->x_label ? c->x_label : "");
    ttt_buf_printf(&b, "</text>\n<text transform=\"translate(18 %.1f) rotate(-90)\" "
                       "text-anchor=\"middle\">", MT + ph / 2);
    xml_text(&b, c->y_label ? c->y_label : "");
    ttt_buf_puts(&b, "</text>\n");
    for (int i = 0; i < n_series; i++) {
        const char *col = k_colors[i % (int)(sizeof k_colors / sizeof *k_colors)];
        ttt_buf_printf(&b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col);
        for (int k = 0; k < s[i].n; k++) {
            double x = s[i].x[k], y = s[i].y[k];
            if (!isfinite(y) || (c->log2_x && x <= 0)) continue;
            ttt_buf_printf(&b, "%.1f,%.1f ", PX(c->log2_x ? log2(x) : x), PY(y));
        }
        ttt_buf_puts(&b, "\"/>\n");
        for (int k = 0; k < s[i].n; k++) {
            double x = s[i].x[k], y = s[i].y[k];
            if (!isfinite(y) || (c->log2_x && x <= 0)) continue;
            ttt_buf_printf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                           PX(c->log2_x ? log2(x) : x), PY(y), col);
        }
        double ly = MT + 10 + 20 * i;
        ttt_buf_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                           "stroke-width=\"2\"/>\n<text x=\"%.1f\" y=\"%.1f\">",
                       ML + pw + 14, ly, ML + pw + 38, ly, col, ML + pw + 44, ly + 4);
        xml_text(&b, s[i].name ? s[i].name : "");
        ttt_buf_puts(&b, "</text>\n");
    }
#undef PX
#undef PY
    ttt_buf_puts(&b, "</svg>\n");
    if (b.oom) {
        ttt_buf_free(&b);
        return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path);
    }
    ttt_status st = ttt_write_file_atomic(path, b.p, b.len);
    ttt_buf_free(&b);
    return st;
}
