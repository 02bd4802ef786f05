/* load.c - tokenizer.json into the tables of tok.h: the BPE model (vocab, merges in both JSON
 * forms), added tokens, and the normalizer / pre-tokenizer / decoder / post-processor stages.
 * Anything ttt does not implement is refused by name, never skipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "tok/tok.h"
#include "util/err.h"
#include "util/mem.h"
#include "util/utf8.h"

#define NOMEM ttt_err(TTT_ERR_NOMEM, "tokenizer: out of memory")
#define LABEL 160

static ttt_status fmt_err(const char *label, const char *what) {
    return ttt_err(TTT_ERR_FORMAT, "%s: %s", label, what);
}

static const char *type_of(const cJSON *o, const char *label, ttt_status *st) {
    const char *type = NULL;
    *st = cJSON_IsObject(o) ? ttt_json_str(o, "type", label, true, NULL, &type)
                            : fmt_err(label, "must be an object");
    return type;
}

/* {"String": s} or {"Regex": r} */
static ttt_status parse_pattern(const cJSON *o, const char *label, tok_pattern *p) {
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(o, "pattern");
    char sub[LABEL];
    snprintf(sub, sizeof sub, "%.100s.pattern", label);
    if (!cJSON_IsObject(pat)) return fmt_err(sub, "must be an object {\"String\"|\"Regex\": ...}");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(pat, "String");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
    if (cJSON_IsString(s)) return tok_pattern_init(p, s->valuestring, false, sub);
    if (cJSON_IsString(r)) return tok_pattern_init(p, r->valuestring, true, sub);
    return fmt_err(sub, "needs a string field 'String' or 'Regex'");
}

/* One character (Metaspace replacement, Strip content) into dst[8]. */
static ttt_status one_char(const cJSON *o, const char *key, const char *def, const char *label,
                           char *dst) {
    const char *s;
    ttt_status st = ttt_json_str(o, key, label, def == NULL, def, &s);
    if (st != TTT_OK) return st;
    size_t n = strlen(s);
    uint32_t cp;
    if (n == 0 || n > 4 || tok_utf8_next(s, n, &cp) != n)
        return ttt_err(TTT_ERR_FORMAT, "%s: field '%s' must be one character", label, key);
    memcpy(dst, s, n + 1);
    return TTT_OK;
}

static ttt_status prepend_scheme(const cJSON *o, const char *label, tok_prepend *out) {
    const char *s;
    bool legacy;
    ttt_status st = ttt_json_bool(o, "add_prefix_space", label, true, &legacy);
    if (st == TTT_OK) st = ttt_json_str(o, "prepend_scheme", label, false, NULL, &s);
    if (st != TTT_OK) return st;
    if (!s) *out = legacy ? TOK_PREPEND_ALWAYS : TOK_PREPEND_NEVER;
    else if (!strcmp(s, "always")) *out = TOK_PREPEND_ALWAYS;
    else if (!strcmp(s, "first")) *out = TOK_PREPEND_FIRST;
    else if (!strcmp(s, "never")) *out = TOK_PREPEND_NEVER;
    else return ttt_err(TTT_ERR_FORMAT, "%s: unknown prepend_scheme '%s'", label, s);
    return TTT_OK;
}

/* Flattens a Sequence: calls one() on each leaf. */
typedef ttt_status (*leaf_fn)(ttt_tokenizer *t, const cJSON *o, const char *type,
                              const char *label);

static ttt_status walk(ttt_tokenizer *t, const cJSON *o, const char *label, const char *list_key,
                       leaf_fn one, int depth) {
    ttt_status st;
    const char *type = type_of(o, label, &st);
    if (st != TTT_OK) return st;
    if (strcmp(type, "Sequence")) return one(t, o, type, label);
    if (depth >= TOK_MAX_DEPTH) return fmt_err(label, "Sequences nested too deeply");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, list_key);
    if (!cJSON_IsArray(arr))
        return ttt_err(TTT_ERR_FORMAT, "%s: Sequence needs an array '%s'", label, list_key);
    int i = 0;
    for (const cJSON *c = arr->child; c; c = c->next, i++) {
        char sub[LABEL];
        snprintf(sub, sizeof sub, "%.100s.%s[%d]", label, list_key, i);
        if ((st = walk(t, c, sub, list_key, one, depth + 1)) != TTT_OK) return st;
    }
    return TTT_OK;
}

static ttt_status unsupported(const char *label, const char *what, const char *type) {
    return ttt_err(TTT_ERR_UNSUPPORTED, "%s: %s type '%s' is not supported", label, what, type);
}

static ttt_status one_norm(ttt_tokenizer *t, const cJSON *o, const char *type, const char *label) {
    if (t->n_norm == TOK_MAX_STAGES) return fmt_err(label, "too many normalizers");
    tok_norm *n = &t->norm[t->n_norm];
    memset(n, 0, sizeof *n);
    const char *s;
    ttt_status st = TTT_OK;
    if (!strcmp(type, "NFC")) n->kind = TOK_NORM_NFC;
    else if (!strcmp(type, "NFD")) n->kind = TOK_NORM_NFD;
    else if (!strcmp(type, "NFKC")) n->kind = TOK_NORM_NFKC;
    else if (!strcmp(type, "NFKD")) n->kind = TOK_NORM_NFKD;
    else if (!strcmp(type, "Replace")) {
        n->kind = TOK_NORM_REPLACE;
        if ((st = ttt_json_str(o, "content", label, true, NULL, &s)) == TTT_OK &&
            !(n->content = ttt_strdup(s)))
            st = NOMEM;
        if (st == TTT_OK) st = parse_pattern(o, label, &n->pat);
    } else if (!strcmp(type, "Prepend")) {
        n->kind = TOK_NORM_PREPEND;
        if ((st = ttt_json_str(o, "prepend", label, true, NULL, &s)) == TTT_OK &&
            !(n->content = ttt_strdup(s)))
            st = NOMEM;
    } else {
        return unsupported(label, "normalizer", type);
    }
    t->n_norm++; /* counted even on failure, so the free path sees what was allocated */
    return st;
}

static const char *GPT2_PATTERN =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static ttt_status one_pre(ttt_tokenizer *t, const cJSON *o, const char *type, const char *label) {
    if (t->n_pre == TOK_MAX_STAGES) return fmt_err(label, "too many pre-tokenizers");
    tok_pretok *p = &t->pre[t->n_pre];
    memset(p, 0, sizeof *p);
    ttt_status st = TTT_OK;
    if (!strcmp(type, "Split")) {
        static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious",
                                      "MergedWithNext", "Contiguous"};
        const char *b;
        p->kind = TOK_PRE_SPLIT;
        st = ttt_json_str(o, "behavior", label, true, NULL, &b);
        if (st == TTT_OK) {
            int k = 0;
            while (k < 5 && strcmp(b, names[k])) k++;
            if (k == 5) st = ttt_err(TTT_ERR_UNSUPPORTED, "%s: Split behavior '%s' is not "
                                     "supported", label, b);
            p->behavior = (tok_split_behavior)k;
        }
        if (st == TTT_OK) st = ttt_json_bool(o, "invert", label, false, &p->invert);
        t->n_pre++;
        if (st == TTT_OK) st = parse_pattern(o, label, &p->pat);
    } else if (!strcmp(type, "ByteLevel")) {
        p->kind = TOK_PRE_BYTELEVEL;
        st = ttt_json_bool(o, "add_prefix_space", label, true, &p->add_prefix_space);
        if (st == TTT_OK) st = ttt_json_bool(o, "use_regex", label, true, &p->use_regex);
        t->n_pre++;
        if (st == TTT_OK && p->use_regex) st = tok_pattern_init(&p->pat, GPT2_PATTERN, true, label);
    } else if (!strcmp(type, "Digits")) {
        /* Rust's char::is_numeric is \p{N}: each digit alone, or runs of them together */
        bool single;
        p->kind = TOK_PRE_SPLIT;
        st = ttt_json_bool(o, "individual_digits", label, false, &single);
        p->behavior = single ? TOK_SPLIT_ISOLATED : TOK_SPLIT_CONTIGUOUS;
        t->n_pre++;
        if (st == TTT_OK) st = tok_pattern_init(&p->pat, "\\p{N}", true, label);
    } else if (!strcmp(type, "Metaspace")) {
        p->kind = TOK_PRE_METASPACE;
        st = one_char(o, "replacement", "\xe2\x96\x81", label, p->replacement);
        if (st == TTT_OK) st = prepend_scheme(o, label, &p->prepend);
        if (st == TTT_OK) st = ttt_json_bool(o, "split", label, true, &p->split);
        t->n_pre++;
    } else {
        return unsupported(label, "pre-tokenizer", type);
    }
    return st;
}

static ttt_status one_dec(ttt_tokenizer *t, const cJSON *o, const char *type, const char *label) {
    if (t->n_dec == TOK_MAX_STAGES) return fmt_err(label, "too many decoders");
    tok_dec *d = &t->dec[t->n_dec];
    memset(d, 0, sizeof *d);
    ttt_status st = TTT_OK;
    const char *s;
    long long v = 0;
    if (!strcmp(type, "ByteLevel")) d->kind = TOK_DEC_BYTELEVEL;
    else if (!strcmp(type, "ByteFallback")) d->kind = TOK_DEC_BYTEFALLBACK;
    else if (!strcmp(type, "Fuse")) d->kind = TOK_DEC_FUSE;
    else if (!strcmp(type, "Replace")) {
        d->kind = TOK_DEC_REPLACE;
        if ((st = ttt_json_str(o, "content", label, true, NULL, &s)) == TTT_OK &&
            !(d->content = ttt_strdup(s)))
            st = NOMEM;
        t->n_dec++;
        return st == TTT_OK ? parse_pattern(o, label, &d->pat) : st;
    } else if (!strcmp(type, "Strip")) {
        d->kind = TOK_DEC_STRIP;
        st = one_char(o, "content", NULL, label, d->ch);
        if (st == TTT_OK) st = ttt_json_int(o, "start", label, true, 0, 0, 1 << 20, &v);
        d->start = (int)v;
        if (st == TTT_OK) st = ttt_json_int(o, "stop", label, true, 0, 0, 1 << 20, &v);
        d->stop = (int)v;
    } else if (!strcmp(type, "Metaspace")) {
        d->kind = TOK_DEC_METASPACE;
        st = one_char(o, "replacement", "\xe2\x96\x81", label, d->ch);
        if (st == TTT_OK) st = prepend_scheme(o, label, &d->prepend);
    } else {
        return unsupported(label, "decoder", type);
    }
    t->n_dec++;
    return st;
}

/* TemplateProcessing's "single" list composed into post_single: -1 stands for the text. */
static ttt_status one_post(ttt_tokenizer *t, const cJSON *o, const char *type, const char *label) {
    if (!strcmp(type, "ByteLevel")) return TTT_OK; /* offsets only */
    if (strcmp(type, "TemplateProcessing")) return unsupported(label, "post-processor", type);
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(o, "single");
    const cJSON *specials = cJSON_GetObjectItemCaseSensitive(o, "special_tokens");
    if (!cJSON_IsArray(single)) return fmt_err(label, "TemplateProcessing needs an array 'single'");
    tok_ids res = {0};
    ttt_status st = TTT_OK;
    int i = 0;
    for (const cJSON *c = single->child; c && st == TTT_OK; c = c->next, i++) {
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(c, "SpecialToken");
        const cJSON *sq = cJSON_GetObjectItemCaseSensitive(c, "Sequence");
        const char *id = NULL;
        char sub[LABEL];
        snprintf(sub, sizeof sub, "%.100s.single[%d]", label, i);
        if (sq) {
            if ((st = ttt_json_str(sq, "id", sub, true, NULL, &id)) != TTT_OK) break;
            if (strcmp(id, "A")) {
                st = ttt_err(TTT_ERR_UNSUPPORTED, "%s: sequence '%s' (pairs are not supported)",
                             sub, id);
                break;
            }
            for (int k = 0; k < (t->has_post ? t->n_post : 1) && st == TTT_OK; k++)
                if (!tok_ids_push(&res, t->has_post ? t->post_single[k] : -1)) st = NOMEM;
            continue;
        }
        if (!cJSON_IsObject(sp) || (st = ttt_json_str(sp, "id", sub, true, NULL, &id)) != TTT_OK) {
            if (st == TTT_OK) st = fmt_err(sub, "needs 'SpecialToken' or 'Sequence'");
            break;
        }
        const cJSON *def = cJSON_GetObjectItemCaseSensitive(specials, id);
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(def, "ids");
        if (!cJSON_IsArray(ids)) {
            st = ttt_err(TTT_ERR_FORMAT, "%s: special token '%s' has no ids in special_tokens",
                         sub, id);
            break;
        }
        for (const cJSON *x = ids->child; x && st == TTT_OK; x = x->next) {
            double d = cJSON_IsNumber(x) ? x->valuedouble : -1;
            if (d < 0 || d >= t->n_ids || d != (double)(int32_t)d)
                st = ttt_err(TTT_ERR_FORMAT, "%s: special token '%s' has an id outside the "
                             "vocabulary", sub, id);
            else if (!tok_ids_push(&res, (int32_t)d))
                st = NOMEM;
        }
    }
    if (st != TTT_OK) {
        tok_ids_free(&res);
        return st;
    }
    free(t->post_single);
    t->post_single = res.p;
    t->n_post = (int)res.n;
    t->has_post = true;
    return TTT_OK;
}

static ttt_status component(ttt_tokenizer *t, const cJSON *root, const char *key,
                            const char *list_key, leaf_fn one) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!o || cJSON_IsNull(o)) return TTT_OK;
    char label[LABEL];
    snprintf(label, sizeof label, "tokenizer.json: %s", key);
    return walk(t, o, label, list_key, one, 0);
}

/* ---- the BPE model ---- */

static ttt_status load_vocab(tok_bpe *m, const cJSON *vocab) {
    const char *L = "tokenizer.json: model.vocab";
    if (!cJSON_IsObject(vocab)) return fmt_err(L, "must be an object");
    size_t count = 0, bytes = 0;
    long long max_id = -1;
    for (const cJSON *c = vocab->child; c; c = c->next) {
        double d = cJSON_IsNumber(c) ? c->valuedouble : -1;
        if (d < 0 || d > 0x7ffffffe || d != (double)(long long)d)
            return ttt_err(TTT_ERR_FORMAT, "%s: '%s' must map to an id in [0, 2^31-2]", L,
                           c->string);
        if ((long long)d > max_id) max_id = (long long)d;
        count++;
        bytes += strlen(c->string) + 1;
    }
    /* ids index arrays: a sparse vocab with a huge id must not allocate gigabytes */
    if (max_id >= (long long)count * 4 + 1024)
        return ttt_err(TTT_ERR_FORMAT, "%s: ids go up to %lld for %zu entries", L, max_id, count);
    m->n_vocab = (int32_t)(max_id + 1);
    m->str = calloc((size_t)m->n_vocab + 1, sizeof *m->str);
    m->len = calloc((size_t)m->n_vocab + 1, sizeof *m->len);
    m->arena = malloc(bytes + 1);
    if (!m->str || !m->len || !m->arena ||
        !tok_strmap_init(&m->vocab, count, (const char *const *)m->str, m->len))
        return NOMEM;
    char *w = m->arena;
    for (const cJSON *c = vocab->child; c; c = c->next) {
        int32_t id = (int32_t)c->valuedouble;
        if (m->str[id])
            return ttt_err(TTT_ERR_FORMAT, "%s: id %d is given to both '%s' and '%s'", L, id,
                           m->str[id], c->string);
        size_t n = strlen(c->string);
        memcpy(w, c->string, n + 1);
        m->str[id] = w;
        m->len[id] = (uint32_t)n;
        w += n + 1;
        tok_strmap_put(&m->vocab, id);
    }
    return TTT_OK;
}

static ttt_status merge_side(const tok_bpe *m, const char *s, size_t n, int i, int32_t *id) {
    *id = tok_strmap_get(&m->vocab, s, n);
    if (*id < 0)
        return ttt_err(TTT_ERR_FORMAT, "tokenizer.json: model.merges[%d]: '%.*s' is not in the "
                       "vocabulary", i, (int)(n > 64 ? 64 : n), s);
    return TTT_OK;
}

static ttt_status load_merges(tok_bpe *m, const cJSON *merges) {
    const char *L = "tokenizer.json: model.merges";
    if (!cJSON_IsArray(merges)) return fmt_err(L, "must be an array");
    size_t count = (size_t)cJSON_GetArraySize(merges);
    if (!tok_u64map_init(&m->merges, count)) return NOMEM;
    tok_buf cat = {0};
    ttt_status st = TTT_OK;
    int i = 0;
    uint32_t rank = 0;
    for (const cJSON *c = merges->child; c && st == TTT_OK; c = c->next, i++) {
        const char *a, *b;
        size_t na, nb;
        if (cJSON_IsString(c)) {
            a = c->valuestring;
            if (!strncmp(a, "#version", 8)) continue;
            const char *sp = strchr(a, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                st = ttt_err(TTT_ERR_FORMAT, "%s[%d]: '%s' is not two tokens split by one "
                             "space", L, i, a);
                break;
            }
            na = (size_t)(sp - a);
            b = sp + 1;
            nb = strlen(b);
        } else if (cJSON_IsArray(c) && cJSON_GetArraySize(c) == 2 &&
                   cJSON_IsString(c->child) && cJSON_IsString(c->child->next)) {
            a = c->child->valuestring;
            b = c->child->next->valuestring;
            na = strlen(a);
            nb = strlen(b);
        } else {
            st = ttt_err(TTT_ERR_FORMAT, "%s[%d]: must be \"a b\" or [\"a\", \"b\"]", L, i);
            break;
        }
        int32_t ia, ib, in;
        if ((st = merge_side(m, a, na, i, &ia)) != TTT_OK) break;
        if ((st = merge_side(m, b, nb, i, &ib)) != TTT_OK) break;
        cat.len = 0;
        if (!tok_buf_put(&cat, a, na) || !tok_buf_put(&cat, b, nb)) {
            st = NOMEM;
            break;
        }
        if ((st = merge_side(m, cat.p, cat.len, i, &in)) != TTT_OK) break;
        /* a repeated pair keeps its last rank, as HF's map does */
        if (!tok_u64map_put(&m->merges, (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib, rank++,
                            (uint32_t)in)) {
            st = NOMEM;
            break;
        }
    }
    tok_buf_free(&cat);
    return st;
}

static ttt_status load_model(tok_bpe *m, const cJSON *model) {
    const char *L = "tokenizer.json: model";
    if (!cJSON_IsObject(model)) return fmt_err(L, "missing or not an object");
    const char *type, *unk, *pre, *suf;
    double dropout;
    ttt_status st = ttt_json_str(model, "type", L, false, "BPE", &type);
    if (st != TTT_OK) return st;
    if (strcmp(type, "BPE")) return unsupported(L, "model", type);
    if ((st = ttt_json_num(model, "dropout", L, false, 0, &dropout)) != TTT_OK ||
        (st = ttt_json_str(model, "unk_token", L, false, NULL, &unk)) != TTT_OK ||
        (st = ttt_json_str(model, "continuing_subword_prefix", L, false, "", &pre)) != TTT_OK ||
        (st = ttt_json_str(model, "end_of_word_suffix", L, false, "", &suf)) != TTT_OK ||
        (st = ttt_json_bool(model, "fuse_unk", L, false, &m->fuse_unk)) != TTT_OK ||
        (st = ttt_json_bool(model, "byte_fallback", L, false, &m->byte_fallback)) != TTT_OK ||
        (st = ttt_json_bool(model, "ignore_merges", L, false, &m->ignore_merges)) != TTT_OK)
        return st;
    if (dropout != 0)
        return ttt_err(TTT_ERR_UNSUPPORTED, "%s: BPE dropout %g is not supported", L, dropout);
    if (*pre || *suf)
        return ttt_err(TTT_ERR_UNSUPPORTED, "%s: continuing_subword_prefix / end_of_word_suffix "
                       "are not supported", L);
    if ((st = load_vocab(m, cJSON_GetObjectItemCaseSensitive(model, "vocab"))) != TTT_OK ||
        (st = load_merges(m, cJSON_GetObjectItemCaseSensitive(model, "merges"))) != TTT_OK)
        return st;
    m->unk_id = -1;
    if (unk && (m->unk_id = tok_strmap_get(&m->vocab, unk, strlen(unk))) < 0)
        return ttt_err(TTT_ERR_FORMAT, "%s: unk_token '%s' is not in the vocabulary", L, unk);
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        m->byte_id[b] = tok_strmap_get(&m->vocab, name, 6);
    }
    return tok_bpe_pairs_init(m) ? TTT_OK : NOMEM;
}

/* ---- added tokens ---- */

static ttt_status load_added(ttt_tokenizer *t, const cJSON *arr) {
    const char *L = "tokenizer.json: added_tokens";
    if (!arr || cJSON_IsNull(arr)) return TTT_OK;
    if (!cJSON_IsArray(arr)) return fmt_err(L, "must be an array");
    int n = cJSON_GetArraySize(arr);
    if (!(t->added = calloc((size_t)n + 1, sizeof *t->added))) return NOMEM;
    tok_match_ctx mc;
    ttt_status st = tok_match_ctx_init(&mc);
    tok_buf nb = {0}, tmp = {0};
    int i = 0;
    for (const cJSON *c = arr->child; c && st == TTT_OK; c = c->next, i++) {
        char sub[LABEL];
        snprintf(sub, sizeof sub, "%.100s[%d]", L, i);
        tok_added *a = &t->added[t->n_added];
        const char *content;
        long long id;
        if (!cJSON_IsObject(c)) {
            st = fmt_err(sub, "must be an object");
            break;
        }
        if ((st = ttt_json_int(c, "id", sub, true, 0, 0, 0x7ffffffe, &id)) != TTT_OK ||
            (st = ttt_json_str(c, "content", sub, true, NULL, &content)) != TTT_OK ||
            (st = ttt_json_bool(c, "special", sub, false, &a->special)) != TTT_OK ||
            (st = ttt_json_bool(c, "single_word", sub, false, &a->single_word)) != TTT_OK ||
            (st = ttt_json_bool(c, "lstrip", sub, false, &a->lstrip)) != TTT_OK ||
            (st = ttt_json_bool(c, "rstrip", sub, false, &a->rstrip)) != TTT_OK ||
            (st = ttt_json_bool(c, "normalized", sub, !a->special, &a->normalized)) != TTT_OK)
            break;
        if (id > (long long)t->bpe.n_vocab + 4 * (long long)n + 1024) {
            st = ttt_err(TTT_ERR_FORMAT, "%s: id %lld is far past the vocabulary", sub, id);
            break;
        }
        if (!*content) continue; /* HF ignores empty added tokens */
        a->id = (int32_t)id;
        a->len = strlen(content);
        if (!(a->content = ttt_strdup(content))) {
            st = NOMEM;
            break;
        }
        t->n_added++;
        if (a->normalized) {
            st = tok_normalize(t->norm, t->n_norm, &mc, content, a->len, &nb, &tmp);
            if (st == TTT_OK && !(a->norm = malloc(nb.len + 1))) st = NOMEM;
            if (st == TTT_OK) {
                memcpy(a->norm, nb.p, nb.len + 1);
                a->norm_len = nb.len;
            }
        }
    }
    tok_buf_free(&nb);
    tok_buf_free(&tmp);
    tok_match_ctx_free(&mc);
    return st;
}

/* id -> text for decoding (added tokens over the model's; a normalized added token decodes
 * from its normalized form, as HF does since 0.23) and the reverse map. */
static ttt_status build_ids(ttt_tokenizer *t) {
    int32_t n = t->bpe.n_vocab;
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].id >= n) n = t->added[i].id + 1;
    t->n_ids = n;
    t->id_str = calloc((size_t)n + 1, sizeof *t->id_str);
    t->id_len = calloc((size_t)n + 1, sizeof *t->id_len);
    t->id_special = calloc((size_t)n + 1, 1);
    if (!t->id_str || !t->id_len || !t->id_special) return NOMEM;
    for (int32_t i = 0; i < t->bpe.n_vocab; i++) {
        t->id_str[i] = t->bpe.str[i];
        t->id_len[i] = t->bpe.len[i];
    }
    for (int i = 0; i < t->n_added; i++) {
        const tok_added *a = &t->added[i];
        bool use_norm = a->norm && (a->norm_len != a->len || memcmp(a->norm, a->content, a->len));
        t->id_str[a->id] = use_norm ? a->norm : a->content;
        t->id_len[a->id] = (uint32_t)(use_norm ? a->norm_len : a->len);
        t->id_special[a->id] = a->special;
    }
    if (!tok_strmap_init(&t->id_map, (size_t)n, (const char *const *)t->id_str, t->id_len))
        return NOMEM;
    for (int32_t i = 0; i < n; i++)
        if (t->id_str[i]) tok_strmap_put(&t->id_map, i);
    /* the added token's own text finds its id even when it decodes from another form */
    for (int i = 0; i < t->n_added; i++) {
        const tok_added *a = &t->added[i];
        if (t->id_str[a->id] != a->content) continue;
        tok_strmap_put(&t->id_map, a->id);
    }
    return TTT_OK;
}

ttt_status tok_load_json(ttt_tokenizer *t, const char *text, size_t len, const char *label) {
    size_t bad;
    if (!ttt_utf8_valid(text, len, &bad))
        return ttt_err(TTT_ERR_FORMAT, "%s: not valid UTF-8 at byte offset %zu", label, bad);
    cJSON *root;
    ttt_status st = ttt_json_parse_object(text, len, label, &root);
    if (st != TTT_OK) return st;
    tok_bytelevel_table();
    if ((st = load_model(&t->bpe, cJSON_GetObjectItemCaseSensitive(root, "model"))) == TTT_OK &&
        (st = component(t, root, "normalizer", "normalizers", one_norm)) == TTT_OK &&
        (st = load_added(t, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"))) == TTT_OK &&
        (st = build_ids(t)) == TTT_OK &&
        (st = tok_trie_build(&t->trie_raw, t->added, t->n_added, false)) == TTT_OK &&
        (st = tok_trie_build(&t->trie_norm, t->added, t->n_added, true)) == TTT_OK &&
        (st = component(t, root, "pre_tokenizer", "pretokenizers", one_pre)) == TTT_OK &&
        (st = component(t, root, "decoder", "decoders", one_dec)) == TTT_OK &&
        (st = component(t, root, "post_processor", "processors", one_post)) == TTT_OK) {
        const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "decoder");
        t->has_decoder = dec && !cJSON_IsNull(dec);
    }
    if (st != TTT_OK && strncmp(ttt_last_error(), label, strlen(label)) &&
        strncmp(ttt_last_error(), "tokenizer.json", 14))
        ttt_err_prefix("%s", label);
    cJSON_Delete(root);
    return st;
}

void tok_components_free(ttt_tokenizer *t) {
    for (int i = 0; i < t->n_norm; i++) {
        tok_pattern_free(&t->norm[i].pat);
        free(t->norm[i].content);
    }
    for (int i = 0; i < t->n_pre; i++) tok_pattern_free(&t->pre[i].pat);
    for (int i = 0; i < t->n_dec; i++) {
        tok_pattern_free(&t->dec[i].pat);
        free(t->dec[i].content);
    }
    for (int i = 0; i < t->n_added; i++) {
        free(t->added[i].content);
        free(t->added[i].norm);
    }
    free(t->added);
    tok_trie_free(&t->trie_raw);
    tok_trie_free(&t->trie_norm);
    free(t->id_str);
    free(t->id_len);
    free(t->id_special);
    tok_strmap_free(&t->id_map);
    free(t->post_single);
    free(t->eos_ids);
    free(t->chat_template);
    tok_bpe_free(&t->bpe);
}
