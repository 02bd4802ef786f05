/* batch.c - several sessions decoding together (ttt_batch_*): one token per session per call,
 * the rows of all sessions stacked so that every shared weight is read once per step.
 *
 * What is per row and what is shared:
 *   shared: embedding, norms, Q/K/V/O, gate/up, W_down of layers (or rows) without a learned
 *           fast weight, the head: one GEMM over all rows;
 *   per row: RoPE position, KV cache (rope_rows, kv_store_rows, attention_rows read the
 *           rows' descriptors), and in TTT layers the fast weight S of the row's session,
 *           the session's pending chunk and its update when the chunk completes.
 * The layer order of work is that of forward.c, so a batched step equals a one-token
 * ttt_session_eval of each session (same ops, same order of float operations per row).
 *
 * On a backend that records (CUDA graphs), the layer loop is recorded once and replayed:
 * everything that changes from step to step (positions, caches, where the pending rows go)
 * is read from the row descriptors in the backend's memory, and what the ops are given by
 * the host (row count, each row's fast weights, the split of the keys) is the recording's
 * key. The host's own bookkeeping (pending rows, chunk updates) runs after the loop. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "util/err.h"
#include "util/mem.h"

struct ttt_batch {
    ttt_model *m;
    const ttt_ops *ops;
    int cap;            /* most rows (sessions) per call */
    float *x;           /* [cap, D] residual stream */
    float *xn;          /* [cap, D] */
    float *q;           /* [cap, H*hd] */
    float *k;           /* [cap, Hkv*hd] */
    float *v;           /* [cap, Hkv*hd] */
    float *att;         /* [cap, H*hd] */
    float *g;           /* [cap, F] gate, then Z */
    float *u;           /* [cap, F] */
    float *o;           /* [cap, D] */
    float *emb;         /* [cap, D] embedding output (TTT target input_embed); NULL if unused */
    float *lg;          /* [cap, V] logits (device backends; on the CPU, for argmax alone) */
    ttt_row_kv *rows_h; /* [L, cap] row descriptors, host */
    ttt_row_kv *rows_d; /* [L, cap] the same in the backend's memory */
    float **dst_h;      /* [L, 2, cap] where each row's Z and target go in its session's
                           pending chunk (NULL: the row does not learn in that layer) */
    float **dst_d;      /* [L, 2, cap] the same in the backend's memory */
    /* the recorded layer loop (ops->rec_*; NULL key: the backend does not record) */
    void *rec;          /* the backend's recording, or NULL */
    uintptr_t *key;     /* [3][key_cap] keys: the recording's, the last step's, this step's */
    int key_cap;        /* 2 + cap * (1 + TTT layers) */
    int key_len[3];
    int rec_fails;      /* recordings in a row that failed; at 2 the batch stops trying */
};

void ttt_batch_free(ttt_batch *b) {
    if (!b) return;
    const ttt_ops *o = b->ops;
    float *bufs[] = {b->x, b->xn, b->q, b->k, b->v, b->att, b->g, b->u, b->o, b->emb, b->lg};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) o->free(bufs[i]);
    o->free(b->rows_d);
    free(b->rows_h);
    o->free(b->dst_d);
    free(b->dst_h);
    if (b->rec) o->rec_free(b->rec);
    free(b->key);
    b->m->n_sessions--;
    free(b);
}

static float *alloc_rows(const ttt_ops *o, int cap, size_t width, int *fail) {
    size_t n, bytes;
    if (*fail || !ttt_mul_size((size_t)cap, width, &n) || !ttt_mul_size(n, sizeof(float), &bytes)) {
        *fail = 1;
        return NULL;
    }
    float *p = o->alloc(bytes);
    if (!p) *fail = 1;
    return p;
}

ttt_status ttt_batch_init(ttt_model *m, int max_seqs, ttt_batch **out) {
    if (!out) return ttt_err(TTT_ERR_ARG, "ttt_batch_init: NULL out");
    *out = NULL;
    if (!m) return ttt_err(TTT_ERR_ARG, "ttt_batch_init: NULL model");
    if (max_seqs < 1 || max_seqs > 65536)
        return ttt_err(TTT_ERR_ARG, "batch: max_seqs %d is outside [1, 65536]", max_seqs);
    const ttt_config *c = &m->cfg;
    const ttt_ops *o = m->ops;
    ttt_batch *b = calloc(1, sizeof *b);
    if (!b) return ttt_err(TTT_ERR_NOMEM, "batch: out of memory");
    b->m = m;
    b->ops = o;
    b->cap = max_seqs;
    m->n_sessions++; /* like a session, a batch pins the TTT parameters */
    const size_t D = (size_t)c->d_model, F = (size_t)c->d_ff;
    const size_t HD = (size_t)c->n_heads * c->head_dim, KD = (size_t)c->n_kv_heads * c->head_dim;
    int fail = 0;
    b->x = alloc_rows(o, max_seqs, D, &fail);
    b->xn = alloc_rows(o, max_seqs, D, &fail);
    b->q = alloc_rows(o, max_seqs, HD, &fail);
    b->k = alloc_rows(o, max_seqs, KD, &fail);
    b->v = alloc_rows(o, max_seqs, KD, &fail);
    b->att = alloc_rows(o, max_seqs, HD, &fail);
    b->g = alloc_rows(o, max_seqs, F, &fail);
    b->u = alloc_rows(o, max_seqs, F, &fail);
    b->o = alloc_rows(o, max_seqs, D, &fail);
    if (c->n_ttt_layers > 0 && c->ttt_target == TTT_TARGET_EMBED)
        b->emb = alloc_rows(o, max_seqs, D, &fail);
    b->lg = alloc_rows(o, max_seqs, (size_t)c->n_vocab, &fail);
    const size_t n_rows = (size_t)c->n_layers * max_seqs;
    if (!fail) {
        b->rows_h = calloc(n_rows, sizeof *b->rows_h);
        b->rows_d = o->alloc(n_rows * sizeof *b->rows_d);
        b->dst_h = calloc(2 * n_rows, sizeof *b->dst_h);
        b->dst_d = o->alloc(2 * n_rows * sizeof *b->dst_d);
        fail = !b->rows_h || !b->rows_d || !b->dst_h || !b->dst_d;
    }
    if (!fail && o->rec_begin) {
        b->key_cap = 2 + max_seqs * (1 + c->n_ttt_layers);
        b->key = calloc(3 * (size_t)b->key_cap, sizeof *b->key);
        fail = !b->key;
    }
    if (fail) {
        ttt_batch_free(b);
        return ttt_err(TTT_ERR_NOMEM, "batch: out of memory for buffers of %d sequences",
                       max_seqs);
    }
    *out = b;
    return TTT_OK;
}

/* The MLP's down-projection of n rows into b->o: W_down in one GEMM for the rows that use it,
 * each learned fast weight S for its own row; then the learning rows join their sessions'
 * pending chunks (one copy_rows for Z and the target, to places fixed at the start of the
 * step; chunks_advance counts them after the layers). Where every row has its own S and no
 * norm follows, each product adds into the residual x itself (the same sums as through b->o
 * and an add, one kernel fewer): returns 1 then. */
static int mlp_down(ttt_batch *b, ttt_session *const *ss, int l, int n) {
    const ttt_model *m = b->m;
    const ttt_config *c = &m->cfg;
    const ttt_ops *o = b->ops;
    const ttt_layer *L = &m->layers[l];
    const int D = c->d_model, F = c->d_ff;
    int shared = 0, learn = 0;
    for (int i = 0; i < n; i++) {
        if (!L->ttt || ss[i]->ttt_mode == TTT_MODE_OFF || !ss[i]->fast[l].S) shared = 1;
        if (L->ttt && ss[i]->ttt_mode == TTT_MODE_ON) learn = 1;
    }
    if (shared) o->matmul(b->o, b->g, &L->w_down, n, 0);
    const int direct = !shared && !L->post_ffn_norm;
    float *out = direct ? b->x : b->o;
    if (!L->ttt) return 0;
    for (int i = 0; i < n; i++) {
        const ttt_fast *f = &ss[i]->fast[l];
        if (ss[i]->ttt_mode == TTT_MODE_OFF || !f->S) continue;
        ttt_mat S = {.data = f->S, .dtype = TTT_DT_F32, .rows = D, .cols = F};
        o->matmul(out + (size_t)i * D, b->g + (size_t)i * F, &S, 1, direct);
    }
    if (learn)
        o->copy_rows(b->dst_d + (size_t)l * 2 * b->cap, b->cap, b->g, (size_t)F,
                     c->ttt_target == TTT_TARGET_EMBED ? b->emb : b->xn, (size_t)D, n);
    return direct;
}

/* After the layers: each learning row is one more pending row of its sessions' TTT layers,
 * and a completed chunk updates that S. Layer l's update reads and writes only layer l's
 * state, which later layers of the step do not use, so it may wait until here. */
static ttt_status chunks_advance(ttt_batch *b, ttt_session *const *ss, int n) {
    const ttt_config *c = &b->m->cfg;
    for (int l = 0; l < c->n_layers; l++) {
        if (!b->m->layers[l].ttt) continue;
        for (int i = 0; i < n; i++) {
            ttt_fast *f = &ss[i]->fast[l];
            if (ss[i]->ttt_mode != TTT_MODE_ON) continue;
            ttt_status st;
            if (++f->tail == c->ttt_chunk && (st = ttt_fast_update(ss[i], l)) != TTT_OK)
                return st;
        }
    }
    return TTT_OK;
}

/* Before the step: room for one more pending row in every learning (session, TTT layer), and
 * where that row goes. Nothing has moved yet if this fails. */
static ttt_status pending_slots(ttt_batch *b, ttt_session *const *ss, int n) {
    const ttt_config *c = &b->m->cfg;
    for (int l = 0; l < c->n_layers; l++) {
        float **dz = b->dst_h + (size_t)l * 2 * b->cap, **dt = dz + b->cap;
        for (int i = 0; i < n; i++) {
            dz[i] = dt[i] = NULL;
            if (!b->m->layers[l].ttt || ss[i]->ttt_mode != TTT_MODE_ON) continue;
            ttt_fast *f = &ss[i]->fast[l];
            ttt_status st = ttt_fast_reserve(ss[i], l, f->tail + 1);
            if (st != TTT_OK) return st;
            dz[i] = f->zt + (size_t)f->tail * c->d_ff;
            dt[i] = f->tt + (size_t)f->tail * c->d_model;
        }
    }
    return TTT_OK;
}

static void layer_step(ttt_batch *b, ttt_session *const *ss, int l, int n, int max_pos) {
    const ttt_model *m = b->m;
    const ttt_config *c = &m->cfg;
    const ttt_ops *o = b->ops;
    const ttt_layer *L = &m->layers[l];
    const int D = c->d_model, hd = c->head_dim, H = c->n_heads, Hkv = c->n_kv_heads;
    const ttt_row_kv *rows = b->rows_d + (size_t)l * b->cap;

    ttt_block_qkv(m, l, b->x, b->xn, b->q, b->k, b->v, n);
    if (o->qkv_prep) {
        o->qkv_prep(b->q, b->k, b->v, n, H, Hkv, hd, L->q_norm, L->k_norm, c->norm_eps,
                    L->inv_freq, 0, rows, NULL, NULL, 0);
    } else {
        if (L->q_norm) {
            o->rmsnorm(b->q, b->q, L->q_norm, n * H, hd, c->norm_eps);
            o->rmsnorm(b->k, b->k, L->k_norm, n * Hkv, hd, c->norm_eps);
        }
        o->rope_rows(b->q, n, H, hd, rows, L->inv_freq);
        o->rope_rows(b->k, n, Hkv, hd, rows, L->inv_freq);
        o->kv_store_rows(rows, b->k, b->v, n, Hkv, hd);
    }
    ttt_attn_params ap = {.n_head = H, .n_head_kv = Hkv, .head_dim = hd, .head_stride = 0,
                          .window = L->window, .scale = c->attn_scale,
                          .softcap = c->attn_softcap};
    o->attention_rows(b->att, b->q, rows, n, max_pos, &ap);
    ttt_block_mid(m, l, b->x, b->xn, b->att, b->o, b->g, b->u, n);
    if (!L->ttt && !L->post_ffn_norm) { /* the plain MLP adds straight into the residual */
        o->matmul(b->x, b->g, &L->w_down, n, 1);
    } else if (!mlp_down(b, ss, l, n)) {
        if (L->post_ffn_norm) o->rmsnorm(b->o, b->o, L->post_ffn_norm, n, D, c->norm_eps);
        o->add(b->x, b->o, (size_t)n * D);
    }
}

/* The layers, op by op; a host backend reports a failure after each layer. */
static ttt_status run_layers(ttt_batch *b, ttt_session *const *ss, int n, int max_pos) {
    const ttt_ops *o = b->ops;
    for (int l = 0; l < b->m->cfg.n_layers; l++) {
        layer_step(b, ss, l, n, max_pos);
        ttt_status st = o->device ? TTT_OK : o->sync();
        if (st != TTT_OK) return st;
    }
    return TTT_OK;
}

/* What the recorded ops are given by the host, besides the batch's own buffers and the
 * model's weights: the row count, the key split, each row's TTT mode and fast weights. */
static int step_key(const ttt_batch *b, ttt_session *const *ss, int n, int max_pos,
                    uintptr_t *k) {
    int j = 0;
    k[j++] = (uintptr_t)n;
    k[j++] = (uintptr_t)max_pos;
    for (int i = 0; i < n; i++) {
        k[j++] = (uintptr_t)ss[i]->ttt_mode;
        for (int l = 0; l < b->m->cfg.n_layers; l++)
            if (b->m->layers[l].ttt) k[j++] = (uintptr_t)ss[i]->fast[l].S;
    }
    return j;
}

static int key_same(const ttt_batch *b, int a, int c) {
    return b->key_len[a] == b->key_len[c] &&
           !memcmp(b->key + (size_t)a * b->key_cap, b->key + (size_t)c * b->key_cap,
                   sizeof *b->key * (size_t)b->key_len[a]);
}

static void key_copy(ttt_batch *b, int dst, int src) {
    memcpy(b->key + (size_t)dst * b->key_cap, b->key + (size_t)src * b->key_cap,
           sizeof *b->key * (size_t)b->key_len[src]);
    b->key_len[dst] = b->key_len[src];
}

/* The layers by replaying a recording where one fits this step. A key seen for the first
 * time runs op by op (the backend's buffers settle); the second step with it is recorded. */
enum { KEY_REC, KEY_SEEN, KEY_NOW };
static ttt_status layers(ttt_batch *b, ttt_session *const *ss, int n, int max_pos) {
    const ttt_ops *o = b->ops;
    if (!b->key || b->rec_fails >= 2) return run_layers(b, ss, n, max_pos);
    b->key_len[KEY_NOW] = step_key(b, ss, n, max_pos, b->key + (size_t)KEY_NOW * b->key_cap);
    if (b->rec && key_same(b, KEY_REC, KEY_NOW)) {
        if (o->replay(b->rec)) return TTT_OK;
        o->rec_free(b->rec); /* the backend replaced a buffer it holds */
        b->rec = NULL;
    }
    if (!key_same(b, KEY_SEEN, KEY_NOW)) {
        key_copy(b, KEY_SEEN, KEY_NOW);
        return run_layers(b, ss, n, max_pos);
    }
    if (!o->rec_begin()) return run_layers(b, ss, n, max_pos);
    ttt_status st = run_layers(b, ss, n, max_pos); /* recorded: nothing runs yet */
    void *r = o->rec_end();
    if (st == TTT_OK && r) {
        if (b->rec) o->rec_free(b->rec);
        b->rec = r;
        key_copy(b, KEY_REC, KEY_NOW);
        b->rec_fails = 0;
        if (o->replay(r)) return TTT_OK;
    } else if (r) {
        o->rec_free(r);
    }
    b->rec_fails++;
    return run_layers(b, ss, n, max_pos);
}

static ttt_status check_args(const ttt_batch *b, ttt_session *const *ss, int n,
                             const int32_t *tokens) {
    if (!b) return ttt_err(TTT_ERR_ARG, "ttt_batch_decode: NULL batch");
    if (n < 1 || n > b->cap)
        return ttt_err(TTT_ERR_ARG, "batch: %d sessions, want 1 to %d (max_seqs)", n, b->cap);
    if (!ss || !tokens) return ttt_err(TTT_ERR_ARG, "ttt_batch_decode: NULL sessions or tokens");
    for (int i = 0; i < n; i++) {
        const ttt_session *s = ss[i];
        if (!s) return ttt_err(TTT_ERR_ARG, "batch: session %d is NULL", i);
        if (s->m != b->m) return ttt_err(TTT_ERR_ARG, "batch: session %d is of another model", i);
        if (s->failed)
            return ttt_err(TTT_ERR_ARG, "batch: session %d failed midway earlier; reset it", i);
        if (s->n_past >= s->n_ctx)
            return ttt_err(TTT_ERR_ARG, "batch: session %d is full (%d tokens)", i, s->n_ctx);
        if (tokens[i] < 0 || tokens[i] >= b->m->cfg.n_vocab)
            return ttt_err(TTT_ERR_ARG, "batch: token %d of session %d is out of range [0, %d)",
                           tokens[i], i, b->m->cfg.n_vocab);
        for (int j = 0; j < i; j++)
            if (ss[j] == s)
                return ttt_err(TTT_ERR_ARG, "batch: session %d is passed twice (also as %d)", i,
                               j);
    }
    return TTT_OK;
}

static ttt_status decode(ttt_batch *b, ttt_session *const *ss, int n, const int32_t *tokens,
                         const ttt_head_req *r) {
    const ttt_model *m = b->m;
    const ttt_config *c = &m->cfg;
    const ttt_ops *o = b->ops;
    const int D = c->d_model, hd = c->head_dim;
    int max_pos = 0;
    for (int l = 0; l < c->n_layers; l++)
        for (int i = 0; i < n; i++) {
            const ttt_session *s = ss[i];
            b->rows_h[(size_t)l * b->cap + i] = (ttt_row_kv){
                .kc = s->kc[l], .vc = s->vc[l], .head_stride = (size_t)s->kv_cap[l] * hd,
                .pos = s->n_past};
            if (s->n_past > max_pos) max_pos = s->n_past;
        }
    /* every layer's rows in one copy (the unused tail of each layer's block too) */
    o->to_backend(b->rows_d, b->rows_h, sizeof *b->rows_h * (size_t)c->n_layers * b->cap);
    o->to_backend(b->dst_d, b->dst_h, sizeof *b->dst_h * (size_t)c->n_layers * 2 * b->cap);

    /* a recording is made for a key split of up to 2^k - 1: a new one only when the longest
     * sequence passes a power of two (the split of a row's keys depends on it, not whether
     * they are right) */
    if (b->key) {
        unsigned u = (unsigned)max_pos;
        for (int sh = 1; sh < 32; sh *= 2) u |= u >> sh;
        max_pos = (int)u;
    }

    o->embed(b->x, &m->embed, tokens, n, c->embed_scale);
    if (b->emb) o->copy(b->emb, b->x, sizeof(float) * (size_t)n * D);
    ttt_status st = layers(b, ss, n, max_pos);
    if (st == TTT_OK) st = chunks_advance(b, ss, n);
    if (st != TTT_OK) return st;
    for (int i = 0; i < n; i++) ss[i]->n_past++;
    if (ttt_head_wanted(r)) {
        ttt_head_apply_norm(o, m, o->device || !r->logits ? b->lg : r->logits, b->x, b->xn, n,
                            r);
    }
    return o->sync();
}

const float *ttt_batch_logits(const ttt_batch *b, int i) {
    return b && b->lg && i >= 0 && i < b->cap ? b->lg + (size_t)i * b->m->cfg.n_vocab : NULL;
}

ttt_status ttt_batch_decode(ttt_batch *b, ttt_session *const *ss, int n, const int32_t *tokens,
                            float *logits) {
    return ttt_batch_decode_out(b, ss, n, tokens, &(ttt_eval_out){.logits = logits});
}

ttt_status ttt_batch_decode_argmax(ttt_batch *b, ttt_session *const *ss, int n,
                                   const int32_t *tokens, float *logits, int32_t *argmax) {
    return ttt_batch_decode_out(b, ss, n, tokens,
                                &(ttt_eval_out){.logits = logits, .argmax = argmax});
}

ttt_status ttt_batch_decode_out(ttt_batch *b, ttt_session *const *ss, int n,
                                const int32_t *tokens, const ttt_eval_out *out) {
    ttt_eval_out none = {0};
    if (!out) out = &none;
    if (out->hidden) return ttt_err(TTT_ERR_ARG, "batch: hidden states are not returned");
    ttt_status st = check_args(b, ss, n, tokens);
    if (st != TTT_OK) return st;
    if ((st = ttt_eval_out_check(out, b->m->cfg.n_vocab)) != TTT_OK) return st;
    ttt_threads_apply();
    /* caches grow before anything moves, so a failure here leaves every session as it was */
    for (int i = 0; i < n; i++)
        if ((st = ttt_session_kv_reserve(ss[i], ss[i]->n_past + 1)) != TTT_OK) return st;
    if ((st = pending_slots(b, ss, n)) != TTT_OK) return st;
    const ttt_head_req hr = {.logits = out->logits, .argmax = out->argmax,
                             .top_logit = out->top_logit, .top_id = out->top_id,
                             .top_lse = out->top_lse, .top_k = out->top_k,
                             .limit = out->argmax_limit, .all = 1};
    /* a session's own kept logits (ttt_session_logits) are stale once it steps here */
    for (int i = 0; i < n; i++) ss[i]->last_lg = NULL;
    st = decode(b, ss, n, tokens, &hr);
    if (st != TTT_OK)
        for (int i = 0; i < n; i++) ss[i]->failed = 1;
    return st;
}
