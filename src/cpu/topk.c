/* topk.c - the k largest logits of each row (the candidates a sampler draws from), by a
 * bounded heap: O(V log k) per row. Its order is the GPU kernel's (src/cuda/topk.cu), so the
 * two backends return the same ids for the same logits. */
#include <math.h>

#include "cpu/cpu.h"
#include "util/fp.h"

typedef struct tk_ent {
    uint32_t key; /* ttt_f32_order_key of the logit */
    int32_t id;
} tk_ent;

/* a ranks before b: larger, or equal with the lower id */
static int before(tk_ent a, tk_ent b) {
    return a.key > b.key || (a.key == b.key && a.id < b.id);
}

/* Restores the heap below i: every parent ranks after its children (the root ranks last). */
static void sift_down(tk_ent *h, int n, int i) {
    for (;;) {
        int w = i;
        const int l = 2 * i + 1, r = l + 1;
        if (l < n && before(h[w], h[l])) w = l;
        if (r < n && before(h[w], h[r])) w = r;
        if (w == i) return;
        const tk_ent t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* log sum exp of l[0 .. n) in double, NaN left out; -inf for an empty or all -inf row */
static float row_lse(const float *l, int n) {
    double mx = -INFINITY, z = 0;
    for (int i = 0; i < n; i++)
        if (l[i] > mx) mx = l[i];
    if (mx == -INFINITY) return -INFINITY;
    if (mx == INFINITY) return INFINITY;
    for (int i = 0; i < n; i++)
        if (l[i] == l[i]) z += exp((double)l[i] - mx);
    return (float)(mx + log(z));
}

void ttt_cpu_topk(float *val, int32_t *id, float *lse, const float *x, int n, int V, int limit,
                  int k) {
    tk_ent h[TTT_TOP_K_MAX];
    if (k > TTT_TOP_K_MAX) k = TTT_TOP_K_MAX;
    if (k > limit) k = limit;
    for (int r = 0; r < n; r++) {
        const float *l = x + (size_t)r * V;
        if (lse) lse[r] = row_lse(l, limit);
        int m = 0;
        for (int i = 0; i < limit; i++) {
            const tk_ent e = {ttt_f32_order_key(l[i]), i};
            if (m < k) {
                /* sift up */
                int j = m++;
                h[j] = e;
                while (j > 0 && before(h[(j - 1) / 2], h[j])) {
                    const tk_ent t = h[j];
                    h[j] = h[(j - 1) / 2];
                    h[(j - 1) / 2] = t;
                    j = (j - 1) / 2;
                }
            } else if (before(e, h[0])) {
                h[0] = e;
                sift_down(h, m, 0);
            }
        }
        /* pop the last-ranked into the back: the row comes out largest first */
        for (int j = m - 1; j >= 0; j--) {
            const tk_ent last = h[0];
            h[0] = h[j];
            sift_down(h, j, 0);
            val[(size_t)r * k + j] = l[last.id];
            id[(size_t)r * k + j] = last.id;
        }
    }
}
