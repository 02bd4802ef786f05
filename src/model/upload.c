/* upload.c - moves a loaded model's weights into a device backend's memory, once: matrices
 * converted to the compute type (bf16 or float32), the float32 vector pool copied whole and
 * every pointer into it rebased. Also the model-load entry point that picks the backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "model/model.h"
#include "util/err.h"
#include "util/fp.h"
#include "util/mem.h"

#define STAGE_BYTES ((size_t)32 << 20)

static void *dev_alloc(ttt_model *m, size_t bytes) {
    void **list = realloc(m->dev_bufs, sizeof(void *) * (size_t)(m->n_dev_bufs + 1));
    if (!list) return NULL;
    m->dev_bufs = list;
    void *p = m->ops->alloc(bytes);
    if (p) m->dev_bufs[m->n_dev_bufs++] = p;
    return p;
}

/* n elements of type st at src into dst as wt (host memory). */
static void convert(void *dst, ttt_dtype wt, const void *src, ttt_dtype st, size_t n,
                    float *tmp) {
    if (wt == st) {
        memcpy(dst, src, n * ttt_dtype_size(st));
        return;
    }
    float *f = wt == TTT_DT_F32 ? dst : tmp;
    ttt_cpu_row_to_f32(f, src, st, n);
    if (wt == TTT_DT_BF16) {
        uint16_t *h = dst;
        for (size_t i = 0; i < n; i++) h[i] = ttt_f32_to_bf16(f[i]);
    }
}

static ttt_status upload_mat(ttt_model *m, ttt_mat *w, ttt_dtype wt, void *stage, float *tmp,
                             const char *what) {
    if (!w->data) return TTT_OK;
    const size_t n = (size_t)w->rows * (size_t)w->cols, es = ttt_dtype_size(wt);
    const size_t bytes = n * es;
    char *dst = dev_alloc(m, bytes);
    if (!dst)
        return ttt_err(TTT_ERR_NOMEM, "%s: out of device memory for %s (%.2f GiB more; the "
                       "model's weights take %.2f GiB as stored)", m->ops->name, what,
                       (double)bytes / (1u << 30), (double)m->weight_bytes / (1u << 30));
    const size_t block = STAGE_BYTES / es;
    const size_t ses = ttt_dtype_size(w->dtype);
    for (size_t i = 0; i < n; i += block) {
        size_t k = n - i < block ? n - i : block;
        convert(stage, wt, (const char *)w->data + i * ses, w->dtype, k, tmp);
        m->ops->to_backend(dst + i * es, stage, k * es);
    }
    w->data = dst;
    w->dtype = wt;
    return TTT_OK;
}

#define REBASE(p) ((p) = (p) ? dv + ((p) - m->vecs) : (p))

ttt_status ttt_model_upload(ttt_model *m, ttt_dtype wt) {
    void *stage = ttt_malloc_aligned(STAGE_BYTES);
    float *tmp = ttt_malloc_aligned(STAGE_BYTES * 2);
    ttt_status st = stage && tmp ? TTT_OK : ttt_err(TTT_ERR_NOMEM, "out of host memory");
    const int tied = m->lm_head.data == m->embed.data;
    if (st == TTT_OK) st = upload_mat(m, &m->embed, wt, stage, tmp, "the embedding");
    if (st == TTT_OK && tied) m->lm_head = m->embed;
    if (st == TTT_OK && !tied) st = upload_mat(m, &m->lm_head, wt, stage, tmp, "lm_head");
    char what[64];
    for (int l = 0; st == TTT_OK && l < m->cfg.n_layers; l++) {
        ttt_layer *L = &m->layers[l];
        ttt_mat *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down,
                           &L->ttt_proj};
        snprintf(what, sizeof what, "layer %d", l);
        for (size_t i = 0; st == TTT_OK && i < sizeof mats / sizeof mats[0]; i++)
            st = upload_mat(m, mats[i], wt, stage, tmp, what);
    }
    ttt_free_aligned(stage);
    ttt_free_aligned(tmp);
    if (st != TTT_OK) return st;

    float *dv = dev_alloc(m, sizeof(float) * m->n_vecs);
    if (!dv) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory for the norm vectors", m->ops->name);
    m->ops->to_backend(dv, m->vecs, sizeof(float) * m->n_vecs);
    REBASE(m->final_norm);
    REBASE(m->inv_freq_global);
    REBASE(m->inv_freq_local);
    for (int l = 0; l < m->cfg.n_layers; l++) {
        ttt_layer *L = &m->layers[l];
        REBASE(L->attn_norm);
        REBASE(L->post_attn_norm);
        REBASE(L->ffn_norm);
        REBASE(L->post_ffn_norm);
        REBASE(L->q_norm);
        REBASE(L->k_norm);
        REBASE(L->ttt_conv);
        L->inv_freq = m->cfg.layer_sliding[l] ? m->inv_freq_local : m->inv_freq_global;
    }
    return m->ops->sync();
}

void ttt_model_release(ttt_model *m) {
    for (int i = 0; i < m->n_dev_bufs; i++) m->ops->free(m->dev_bufs[i]);
    free(m->dev_bufs);
    m->dev_bufs = NULL;
    m->n_dev_bufs = 0;
}
