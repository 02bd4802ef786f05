/* cli.c - option parsing and timing helpers. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool cli_int(const char *opt, const char *val, long long min, long long max, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(val, &end, 10);
    if (end == val || *end || errno || v < min || v > max) {
        fprintf(stderr, "ttt: option %s: '%s' is not an integer in [%lld, %lld]\n", opt, val, min,
                max);
        return false;
    }
    *out = v;
    return true;
}

bool cli_float(const char *opt, const char *val, double *out) {
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (end == val || *end || errno) {
        fprintf(stderr, "ttt: option %s: '%s' is not a number\n", opt, val);
        return false;
    }
    *out = v;
    return true;
}

const char *cli_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "ttt: option %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int cli_int_list(const char *opt, const char *val, int *out, int max) {
    int n = 0;
    const char *p = val;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > 1 << 30 || (*end && *end != ',') || n == max) {
            fprintf(stderr, "ttt: option %s: '%s' is not a list of up to %d integers\n", opt,
                    val, max);
            return -1;
        }
        out[n++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return n;
}

double cli_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int cli_usage_error(const char *cmd, const char *msg) {
    fprintf(stderr, "ttt %s: %s (see ttt %s --help)\n", cmd, msg, cmd);
    return 2;
}

int cli_fail(const char *cmd, const char *msg) {
    fprintf(stderr, "ttt %s: %s\n", cmd, msg);
    return 1;
}

bool cli_read_file(const char *cmd, const char *path, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    FILE *f = !strcmp(path, "-") ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "ttt %s: %s: %s\n", cmd, path, strerror(errno));
        return false;
    }
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        if (n + 1 == cap) {
            char *nb = cap < ((size_t)1 << 40) ? realloc(b, cap * 2) : NULL;
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
        size_t r = fread(b + n, 1, cap - 1 - n, f);
        n += r;
        if (r == 0) break;
    }
    bool err = !b || ferror(f);
    if (f != stdin) fclose(f);
    if (err) {
        fprintf(stderr, "ttt %s: %s: %s\n", cmd, path, b ? "read error" : "out of memory");
        free(b);
        return false;
    }
    b[n] = 0;
    *out = b;
    *len = n;
    return true;
}

/* /proc/self/clear_refs "5" resets VmHWM to the current RSS. */
void cli_rss_reset(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

long long cli_rss_peak(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atoll(line + 6);
    if (f) fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

int cli_model_option(int argc, char **argv, int *i, ttt_model_params *p) {
    const char *a = argv[*i], *v;
    if (!strcmp(a, "--device") || !strcmp(a, "-dev")) {
        if (!(v = cli_value(argc, argv, i))) return -1;
        int d = ttt_device_from_name(v);
        if (d < 0) {
            fprintf(stderr, "ttt: %s must be cpu or cuda, not '%s'\n", a, v);
            return -1;
        }
        p->device = d;
        return 1;
    }
    if (!strcmp(a, "--precision")) {
        if (!(v = cli_value(argc, argv, i))) return -1;
        if (!strcmp(v, "bf16")) p->precision = TTT_PREC_BF16;
        else if (!strcmp(v, "f32") || !strcmp(v, "fp32")) p->precision = TTT_PREC_F32;
        else {
            fprintf(stderr, "ttt: --precision must be bf16 or f32, not '%s'\n", v);
            return -1;
        }
        return 1;
    }
    return 0;
}
