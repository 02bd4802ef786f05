/* attn.c - causal attention over the KV cache, tiled with an online softmax (flash-attention
 * style), so no T x T matrix ever exists: memory is O(tile) per thread.
 *
 * The cache is head-major ([Hkv][positions][hd]), so a tile streams one contiguous block of
 * keys and values. Work items are (KV head, block of queries, slice of keys). The query
 * heads that share a KV head are stacked into one tile (GQA), so each key/value row is read
 * once per tile. Tiles with many rows use sgemm; thin tiles (decode) use dot loops, which
 * are bandwidth-bound on the cache. When there are too few items for the threads (decode),
 * the keys are split into slices whose partial softmax results are merged at the end
 * (flash-decoding).
 * FLOPs: 4 * H * hd per (query, visible key); bytes: the visible K and V rows once per tile. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "cpu/simd.h"
#include "util/mem.h"

#define TILE_ROWS 64 /* query rows (heads of a group x tokens) per tile */
#define TILE_KEYS 256
#define SMALL_ROWS 8 /* below this many rows, dot loops beat sgemm */

typedef struct attn_job {
    const float *q, *kc, *vc;
    float *out;
    const ttt_attn_params *p;
    int p0, n;
    int G;       /* query heads per KV head */
    int bq;      /* tokens per query block */
    int nqb;     /* query blocks */
    int nsplit;  /* key slices per (KV head, query block) */
    float *part; /* nsplit > 1: partial results [items][rows][hd + 2] */
} attn_job;

typedef struct tile {
    float *Q; /* [rows, hd] */
    float *S; /* [rows, TILE_KEYS] scores, then probabilities */
    float *O; /* [rows, hd] unnormalised output */
    float *m; /* [rows] running max */
    float *l; /* [rows] running sum */
} tile;

static inline float dot(const float *a, const float *b, int n) {
    vf acc0 = vf_zero(), acc1 = vf_zero();
    int d = 0;
    for (; d + 2 * TTT_VL <= n; d += 2 * TTT_VL) {
        acc0 = vf_fma(vf_load(a + d), vf_load(b + d), acc0);
        acc1 = vf_fma(vf_load(a + d + TTT_VL), vf_load(b + d + TTT_VL), acc1);
    }
    float s = vf_sum(vf_add(acc0, acc1));
    for (; d < n; d++) s += a[d] * b[d];
    return s;
}

/* y += a * x */
static inline void axpy(float *y, const float *x, float a, int n) {
    const vf va = vf_set1(a);
    int d = 0;
    for (; d + TTT_VL <= n; d += TTT_VL)
        vf_store(y + d, vf_fma(va, vf_load(x + d), vf_load(y + d)));
    for (; d < n; d++) y[d] += a * x[d];
}

static inline void scale_row(float *y, float a, int n) {
    const vf va = vf_set1(a);
    int d = 0;
    for (; d + TTT_VL <= n; d += TTT_VL) vf_store(y + d, vf_mul(va, vf_load(y + d)));
    for (; d < n; d++) y[d] *= a;
}

static void scores(tile *t, int R, const float *K, int kvs, int bk, int hd, float scale) {
    if (R >= SMALL_ROWS) {
        ttt_cpu_gemm(0, 1, R, bk, hd, scale, t->Q, hd, K, kvs, 0.0f, t->S, TILE_KEYS);
        return;
    }
    for (int c = 0; c < bk; c++) {
        const float *k = K + (size_t)c * kvs;
        for (int r = 0; r < R; r++)
            t->S[(size_t)r * TILE_KEYS + c] = scale * dot(t->Q + (size_t)r * hd, k, hd);
    }
}

static void accumulate_pv(tile *t, int R, const float *V, int kvs, int bk, int hd) {
    if (R >= SMALL_ROWS) {
        ttt_cpu_gemm(0, 0, R, hd, bk, 1.0f, t->S, TILE_KEYS, V, kvs, 1.0f, t->O, hd);
        return;
    }
    for (int c = 0; c < bk; c++) {
        const float *v = V + (size_t)c * kvs;
        for (int r = 0; r < R; r++) {
            float pr = t->S[(size_t)r * TILE_KEYS + c];
            if (pr != 0.0f) axpy(t->O + (size_t)r * hd, v, pr, hd);
        }
    }
}

/* Soft-caps and exponentiates one tile of scores, rescaling the running state. The keys a row
 * sees form one range (causal end, window start), so masking is two bounds, not a test per
 * score. */
static void online_softmax(tile *t, int R, int nb, int qpos0, int kb, int bk, int hd,
                           const ttt_attn_params *p) {
    for (int r = 0; r < R; r++) {
        float *s = t->S + (size_t)r * TILE_KEYS;
        const int pos = qpos0 + r % nb;
        int c0 = p->window > 0 ? pos - p->window + 1 - kb : 0;
        int c1 = pos + 1 - kb;
        c0 = c0 < 0 ? 0 : c0;
        c1 = c1 > bk ? bk : c1;
        if (c1 <= c0) { /* nothing visible in this tile for this row */
            memset(s, 0, sizeof(float) * (size_t)bk);
            continue;
        }
        if (p->softcap > 0.0f)
            for (int c = c0; c < c1; c++) s[c] = p->softcap * tanhf(s[c] / p->softcap);
        float mx = -INFINITY;
        int c = c0;
        if (c1 - c0 >= TTT_VL) {
            vf vm = vf_load(s + c0);
            for (c = c0 + TTT_VL; c + TTT_VL <= c1; c += TTT_VL) vm = vf_max(vm, vf_load(s + c));
            mx = vf_hmax(vm);
        }
        for (; c < c1; c++) mx = s[c] > mx ? s[c] : mx;
        const float m_new = mx > t->m[r] ? mx : t->m[r];
        const float corr = expf(t->m[r] - m_new);
        const vf vmn = vf_set1(m_new);
        vf vsum = vf_zero();
        for (c = c0; c + TTT_VL <= c1; c += TTT_VL) {
            vf e = vf_exp(vf_sub(vf_load(s + c), vmn));
            vf_store(s + c, e);
            vsum = vf_add(vsum, e);
        }
        float sum = vf_sum(vsum);
        for (; c < c1; c++) {
            s[c] = expf(s[c] - m_new);
            sum += s[c];
        }
        if (c0 > 0) memset(s, 0, sizeof(float) * (size_t)c0);
        if (c1 < bk) memset(s + c1, 0, sizeof(float) * (size_t)(bk - c1));
        t->l[r] = t->l[r] * corr + sum;
        t->m[r] = m_new;
        if (corr != 1.0f) scale_row(t->O + (size_t)r * hd, corr, hd);
    }
}

static void run_item(const attn_job *J, tile *t, int item) {
    const ttt_attn_params *p = J->p;
    const int hd = p->head_dim, H = p->n_head;
    const int kvs = hd; /* cache row stride: each KV head's rows are contiguous */
    const int sp = item % J->nsplit;
    const int qb = (item / J->nsplit) % J->nqb;
    const int g = item / J->nsplit / J->nqb;
    const int i0 = qb * J->bq;
    const int nb = J->n - i0 < J->bq ? J->n - i0 : J->bq;
    const int R = J->G * nb;
    const int qpos0 = J->p0 + i0;

    int lo = p->window > 0 ? qpos0 - p->window + 1 : 0;
    if (lo < 0) lo = 0;
    const int hi = qpos0 + nb; /* exclusive */
    const int seg = (hi - lo + J->nsplit - 1) / J->nsplit;
    const int ks = lo + sp * seg;
    const int ke = ks + seg < hi ? ks + seg : hi;

    for (int h = 0; h < J->G; h++)
        for (int i = 0; i < nb; i++)
            memcpy(t->Q + ((size_t)h * nb + i) * hd,
                   J->q + (size_t)(i0 + i) * H * hd + (size_t)(g * J->G + h) * hd,
                   sizeof(float) * (size_t)hd);
    for (int r = 0; r < R; r++) {
        t->m[r] = -INFINITY;
        t->l[r] = 0.0f;
    }
    memset(t->O, 0, sizeof(float) * (size_t)R * hd);

    for (int kb = ks; kb < ke; kb += TILE_KEYS) {
        const int bk = ke - kb < TILE_KEYS ? ke - kb : TILE_KEYS;
        const float *K = J->kc + (size_t)g * p->head_stride + (size_t)kb * kvs;
        const float *V = J->vc + (size_t)g * p->head_stride + (size_t)kb * kvs;
        scores(t, R, K, kvs, bk, hd, p->scale);
        online_softmax(t, R, nb, qpos0, kb, bk, hd, p);
        accumulate_pv(t, R, V, kvs, bk, hd);
    }

    if (J->nsplit > 1) {
        float *dst = J->part + (size_t)item * J->G * J->bq * (hd + 2);
        for (int r = 0; r < R; r++) {
            float *d = dst + (size_t)r * (hd + 2);
            memcpy(d, t->O + (size_t)r * hd, sizeof(float) * (size_t)hd);
            d[hd] = t->m[r];
            d[hd + 1] = t->l[r];
        }
        return;
    }
    for (int h = 0; h < J->G; h++)
        for (int i = 0; i < nb; i++) {
            const int r = h * nb + i;
            const float inv = 1.0f / t->l[r];
            float *o = J->out + (size_t)(i0 + i) * H * hd + (size_t)(g * J->G + h) * hd;
            for (int d = 0; d < hd; d++) o[d] = t->O[(size_t)r * hd + d] * inv;
        }
}

/* Combines the key slices of each (KV head, query block): softmax over the union. */
static void merge_splits(const attn_job *J) {
    const int hd = J->p->head_dim, H = J->p->n_head;
    const int groups = J->p->n_head_kv * J->nqb;
#pragma omp parallel for schedule(static)
    for (int gi = 0; gi < groups; gi++) {
        const int qb = gi % J->nqb, g = gi / J->nqb;
        const int i0 = qb * J->bq;
        const int nb = J->n - i0 < J->bq ? J->n - i0 : J->bq;
        const size_t stride = (size_t)J->G * J->bq * (hd + 2);
        for (int h = 0; h < J->G; h++)
            for (int i = 0; i < nb; i++) {
                const int r = h * nb + i;
                float M = -INFINITY;
                for (int sp = 0; sp < J->nsplit; sp++) {
                    const float *d = J->part + (size_t)(gi * J->nsplit + sp) * stride +
                                     (size_t)r * (hd + 2);
                    if (d[hd] > M) M = d[hd];
                }
                float *o = J->out + (size_t)(i0 + i) * H * hd + (size_t)(g * J->G + h) * hd;
                memset(o, 0, sizeof(float) * (size_t)hd);
                float L = 0.0f;
                for (int sp = 0; sp < J->nsplit; sp++) {
                    const float *d = J->part + (size_t)(gi * J->nsplit + sp) * stride +
                                     (size_t)r * (hd + 2);
                    if (d[hd] == -INFINITY) continue;
                    const float w = expf(d[hd] - M);
                    L += d[hd + 1] * w;
                    for (int k = 0; k < hd; k++) o[k] += d[k] * w;
                }
                const float inv = 1.0f / L;
                for (int k = 0; k < hd; k++) o[k] *= inv;
            }
    }
}

void ttt_cpu_attention(float *out, const float *q, const float *kc, const float *vc, int p0,
                       int n, const ttt_attn_params *p) {
    attn_job J = {.q = q, .kc = kc, .vc = vc, .out = out, .p = p, .p0 = p0, .n = n};
    J.G = p->n_head / p->n_head_kv;
    J.bq = TILE_ROWS / J.G > 0 ? TILE_ROWS / J.G : 1;
    if (J.bq > n) J.bq = n;
    J.nqb = (n + J.bq - 1) / J.bq;
    J.nsplit = 1;
    const int threads = omp_get_max_threads();
    const int items0 = p->n_head_kv * J.nqb;
    int keys = p0 + n;
    if (p->window > 0 && keys > p->window + n) keys = p->window + n;
    if (items0 < 2 * threads && keys > 2 * TILE_KEYS) {
        int want = (2 * threads + items0 - 1) / items0;
        int most = keys / TILE_KEYS;
        J.nsplit = want < most ? want : most;
    }
    const int items = items0 * J.nsplit;
    const int rows = J.G * J.bq;
    const int hd = p->head_dim;
    if (J.nsplit > 1) {
        J.part = ttt_malloc_aligned(sizeof(float) * (size_t)items * rows * (hd + 2));
        if (!J.part) J.nsplit = 1; /* fall back to one slice: slower, same result */
    }
    const int n_items = J.nsplit > 1 ? items : items0;
    int failed = 0;

#pragma omp parallel
    {
        tile t;
        float *mem = ttt_malloc_aligned(sizeof(float) *
                                        ((size_t)rows * (2 * hd + TILE_KEYS + 2)));
        t.Q = mem;
        t.S = t.Q + (size_t)rows * hd;
        t.O = t.S + (size_t)rows * TILE_KEYS;
        t.m = t.O + (size_t)rows * hd;
        t.l = t.m + rows;
        if (!mem) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int it = 0; it < n_items; it++)
            if (mem) run_item(&J, &t, it);
        ttt_free_aligned(mem);
    }
    if (failed) ttt_cpu_fail(TTT_ERR_NOMEM, "attention tile");
    if (J.nsplit > 1) {
        merge_splits(&J);
        ttt_free_aligned(J.part);
    }
}
