/* tok.h - internals of the tokenizer: a Hugging Face tokenizer.json (BPE model) read into
 * flat tables, and the pieces of its encode / decode pipelines. */
#ifndef TTT_TOK_TOK_H
#define TTT_TOK_TOK_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ttt.h"

/* Nesting of Sequence components accepted from a file (real files nest one level). */
#define TOK_MAX_DEPTH 8
/* Most components of each kind after Sequences are flattened. */
#define TOK_MAX_STAGES 32
#define TOK_MAX_FILE_BYTES ((size_t)1 << 30)

/* ---- growable byte string ---- */
typedef struct tok_buf {
    char *p;    /* [cap], NUL-terminated at len when non-NULL */
    size_t len;
    size_t cap;
} tok_buf;

bool tok_buf_reserve(tok_buf *b, size_t extra);
bool tok_buf_put(tok_buf *b, const void *s, size_t n);
void tok_buf_free(tok_buf *b);

/* ---- a list of strings in one buffer (the decoder's tokens) ---- */
typedef struct tok_list {
    tok_buf text;   /* the strings back to back */
    size_t *end;    /* [n]: piece i is text.p[end[i-1] .. end[i]) */
    uint8_t *first; /* [n]: 1 when the piece starts at offset 0 of the original input */
    size_t n;
    size_t cap;
} tok_list;

bool tok_list_push(tok_list *l, const char *s, size_t n, bool first);
static inline size_t tok_list_start(const tok_list *l, size_t i) { return i ? l->end[i - 1] : 0; }
void tok_list_clear(tok_list *l);
void tok_list_free(tok_list *l);

/* ---- hash maps ---- */
/* string -> id over a table of strings owned elsewhere (strs[id], lens[id]) */
typedef struct tok_strmap {
    int32_t *slot;          /* [cap]: id, or -1 when empty */
    size_t cap;             /* power of two */
    const char *const *strs; /* [n_ids] */
    const uint32_t *lens;    /* [n_ids] */
} tok_strmap;

uint64_t tok_hash(const void *s, size_t n);
bool tok_strmap_init(tok_strmap *m, size_t n, const char *const *strs, const uint32_t *lens);
/* Inserts id (replacing an equal string's id); false when full. */
bool tok_strmap_put(tok_strmap *m, int32_t id);
int32_t tok_strmap_get(const tok_strmap *m, const char *s, size_t n); /* -1: absent */
void tok_strmap_free(tok_strmap *m);

/* uint64 key -> two uint32 values (merges: (left, right) -> (rank, merged id); trie edges) */
typedef struct tok_u64map {
    uint64_t *key;  /* [cap]; UINT64_MAX when empty */
    uint32_t *v0;   /* [cap] */
    uint32_t *v1;   /* [cap] */
    size_t cap;     /* power of two, at least twice the entries */
    size_t n;
} tok_u64map;

bool tok_u64map_init(tok_u64map *m, size_t n_max);
bool tok_u64map_put(tok_u64map *m, uint64_t key, uint32_t v0, uint32_t v1); /* false: no memory */
bool tok_u64map_get(const tok_u64map *m, uint64_t key, uint32_t *v0, uint32_t *v1);
void tok_u64map_free(tok_u64map *m);

/* ---- patterns (Split, Replace) ---- */
typedef struct tok_pattern {
    char *str;       /* the literal (String) or regex source, owned */
    size_t len;
    pcre2_code *re;  /* NULL for a literal */
} tok_pattern;

ttt_status tok_pattern_init(tok_pattern *p, const char *str, bool regex, const char *label);
void tok_pattern_free(tok_pattern *p);
typedef struct tok_match_ctx {
    pcre2_match_data *md;
    pcre2_jit_stack *stack;
    pcre2_match_context *mc;
} tok_match_ctx;
ttt_status tok_match_ctx_init(tok_match_ctx *c);
void tok_match_ctx_free(tok_match_ctx *c);

/* Match spans, pairs of byte offsets. */
typedef struct tok_spans {
    size_t *p;   /* [2 * n]: start, end */
    size_t n;
    size_t cap;
} tok_spans;
void tok_spans_free(tok_spans *s);
/* Iterates the non-overlapping matches in s[0..n), left to right (it starts zeroed). Empty
 * regex matches are kept except right at the end of the previous match, as Oniguruma's
 * iterator (HF's) does. */
typedef struct tok_find {
    size_t pos;       /* where the next search starts */
    size_t last_end;  /* end of the last match */
    bool have_last;
} tok_find;
ttt_status tok_find_next(const tok_pattern *p, tok_match_ctx *c, const char *s, size_t n,
                         tok_find *it, size_t *ma, size_t *mb, bool *found);
/* All of them at once. */
ttt_status tok_find_all(const tok_pattern *p, tok_match_ctx *c, const char *s, size_t n,
                        tok_spans *out);

/* ---- normalizers ---- */
typedef enum tok_norm_kind {
    TOK_NORM_NFC, TOK_NORM_NFD, TOK_NORM_NFKC, TOK_NORM_NFKD,
    TOK_NORM_REPLACE, TOK_NORM_PREPEND,
} tok_norm_kind;

typedef struct tok_norm {
    tok_norm_kind kind;
    tok_pattern pat;  /* REPLACE: what to replace */
    char *content;    /* REPLACE: the replacement; PREPEND: the prefix (owned) */
} tok_norm;

/* out = the normalized s (cleared first). */
ttt_status tok_normalize(const tok_norm *stages, int n, tok_match_ctx *c, const char *s,
                         size_t len, tok_buf *out, tok_buf *tmp);

/* ---- pre-tokenizers ---- */
typedef enum tok_split_behavior {
    TOK_SPLIT_REMOVED, TOK_SPLIT_ISOLATED, TOK_SPLIT_MERGED_PREV, TOK_SPLIT_MERGED_NEXT,
    TOK_SPLIT_CONTIGUOUS,
} tok_split_behavior;

typedef enum tok_pretok_kind { TOK_PRE_SPLIT, TOK_PRE_BYTELEVEL, TOK_PRE_METASPACE } tok_pretok_kind;
typedef enum tok_prepend { TOK_PREPEND_ALWAYS, TOK_PREPEND_FIRST, TOK_PREPEND_NEVER } tok_prepend;

typedef struct tok_pretok {
    tok_pretok_kind kind;
    tok_pattern pat;              /* SPLIT; BYTELEVEL with use_regex (the GPT-2 pattern) */
    tok_split_behavior behavior;  /* SPLIT */
    bool invert;                  /* SPLIT */
    bool use_regex;               /* BYTELEVEL */
    bool add_prefix_space;        /* BYTELEVEL */
    char replacement[8];          /* METASPACE: one character, NUL-terminated UTF-8 */
    tok_prepend prepend;          /* METASPACE */
    bool split;                   /* METASPACE */
} tok_pretok;

/* Receives each pre-token; first: it starts at offset 0 of the original input. */
typedef ttt_status (*tok_piece_fn)(void *ctx, const char *s, size_t n, bool first);
/* Buffers of the stages: a stage that rewrites text keeps its output here while the stages
 * after it run on it. */
typedef struct tok_pre_scratch {
    tok_buf a[TOK_MAX_STAGES]; /* a stage's rewritten piece */
    tok_buf b[TOK_MAX_STAGES]; /* ByteLevel: one mapped sub-piece */
} tok_pre_scratch;
void tok_pre_scratch_free(tok_pre_scratch *s);
/* Runs the stages over s[0..len), streaming: fn gets the pre-tokens in order, and no list of
 * all of them is ever built (a long text costs memory in proportion to one piece). */
ttt_status tok_pretokenize(const tok_pretok *stages, int n, tok_match_ctx *c,
                           tok_pre_scratch *scr, const char *s, size_t len, bool first,
                           tok_piece_fn fn, void *ctx);
/* Byte -> its GPT-2 byte-level character as UTF-8 (1 or 2 bytes). */
typedef struct tok_bytechar {
    char s[2];   /* UTF-8 of the character */
    uint8_t len; /* 1 or 2 */
} tok_bytechar;
extern const tok_bytechar *tok_bytelevel_table(void);
/* The byte a byte-level character stands for, or -1 (cp: a code point). */
int tok_bytelevel_byte(uint32_t cp);

/* ---- BPE model ---- */
typedef struct tok_bpe {
    int32_t n_vocab;         /* ids 0..n_vocab-1 (some may be holes) */
    char **str;              /* [n_vocab]: token text, NULL for a hole; into arena */
    uint32_t *len;           /* [n_vocab] */
    char *arena;             /* all token strings, NUL-separated */
    tok_strmap vocab;
    tok_u64map merges;       /* (left << 32 | right) -> (rank, merged id) */
    int32_t unk_id;          /* -1: none */
    bool fuse_unk;
    bool byte_fallback;
    bool ignore_merges;
    int32_t byte_id[256];    /* byte_fallback: id of "<0xXX>", -1 when absent */
    /* Where a long word may be cut: every pair of adjacent code points inside some token
     * (a << 32 | b), and every single-character token (0xffffffff << 32 | c). */
    tok_u64map pairs;
} tok_bpe;

/* Builds m->pairs from the vocabulary. */
bool tok_bpe_pairs_init(tok_bpe *m);

/* Appends the ids of one pre-token. */
typedef struct tok_ids {
    int32_t *p;  /* [cap] */
    size_t n;
    size_t cap;
} tok_ids;
bool tok_ids_push(tok_ids *v, int32_t id);
void tok_ids_free(tok_ids *v);

typedef struct tok_word_cache tok_word_cache;
tok_word_cache *tok_word_cache_new(size_t max_words);
void tok_word_cache_free(tok_word_cache *c);
ttt_status tok_bpe_word(const tok_bpe *m, tok_word_cache *cache, const char *w, size_t n,
                        tok_ids *out);
void tok_bpe_free(tok_bpe *m);

/* ---- added tokens ---- */
typedef struct tok_added {
    char *content;      /* owned */
    size_t len;
    char *norm;         /* content after the normalizer (normalized tokens), owned or NULL */
    size_t norm_len;
    int32_t id;
    bool special, single_word, lstrip, rstrip, normalized; /* HF's AddedToken flags */
} tok_added;

/* A byte trie over the contents of some added tokens, for leftmost-longest matching. */
typedef struct tok_trie {
    tok_u64map edges;   /* (node << 8 | byte) -> (child, 0) */
    int32_t *term;      /* [n_nodes]: index into tokenizer's added[], or -1 */
    uint32_t n_nodes;
    uint8_t first[32];  /* bit set of first bytes */
} tok_trie;

/* Splits s into runs of text and added tokens; cb gets (text run) or (added index). */
typedef ttt_status (*tok_seg_fn)(void *ctx, const char *s, size_t n, int added, bool first);
ttt_status tok_trie_build(tok_trie *t, const tok_added *added, int n_added, bool normalized);
void tok_trie_free(tok_trie *t);
ttt_status tok_added_split(const tok_trie *t, const tok_added *added, const char *s, size_t n,
                           bool first, bool skip_special, tok_seg_fn cb, void *ctx);

/* ---- decoders ---- */
typedef enum tok_dec_kind {
    TOK_DEC_BYTELEVEL, TOK_DEC_REPLACE, TOK_DEC_BYTEFALLBACK, TOK_DEC_FUSE, TOK_DEC_STRIP,
    TOK_DEC_METASPACE,
} tok_dec_kind;

typedef struct tok_dec {
    tok_dec_kind kind;
    tok_pattern pat;    /* REPLACE */
    char *content;      /* REPLACE: replacement, owned */
    char ch[8];         /* STRIP: the character; METASPACE: the replacement */
    int start, stop;    /* STRIP */
    tok_prepend prepend; /* METASPACE */
} tok_dec;

ttt_status tok_decode_chain(const tok_dec *stages, int n, tok_match_ctx *c, tok_list *toks,
                            tok_list *tmp);
/* Appends s as UTF-8, each maximal ill-formed subsequence replaced by U+FFFD (what Rust's
 * String::from_utf8_lossy does). */
bool tok_utf8_lossy(tok_buf *out, const uint8_t *s, size_t n);
/* Decodes one code point at s (well-formed UTF-8 assumed); returns its length. */
size_t tok_utf8_next(const char *s, size_t n, uint32_t *cp);
size_t tok_utf8_put(char *dst, uint32_t cp);

/* ---- the tokenizer ---- */
struct ttt_tokenizer {
    tok_bpe bpe;
    tok_added *added;        /* [n_added] */
    int n_added;
    tok_trie trie_raw;       /* added tokens with normalized = false */
    tok_trie trie_norm;      /* added tokens with normalized = true */
    int32_t n_ids;           /* ids 0..n_ids-1 across model and added tokens */
    const char **id_str;     /* [n_ids]: what decoding an id starts from (added first) */
    uint32_t *id_len;        /* [n_ids] */
    uint8_t *id_special;     /* [n_ids] */
    tok_strmap id_map;       /* token text -> id over id_str */
    tok_norm norm[TOK_MAX_STAGES];
    int n_norm;
    tok_pretok pre[TOK_MAX_STAGES];
    int n_pre;
    tok_dec dec[TOK_MAX_STAGES];
    int n_dec;
    bool has_decoder;
    int32_t *post_single;    /* [n_post]: ids the post-processor wraps around the text; -1 = text */
    int n_post;
    bool has_post;
    /* tokenizer_config.json / generation_config.json */
    int32_t bos_id, eos_id;  /* -1 when none */
    bool add_bos, add_eos;   /* tokenizer_config add_bos_token / add_eos_token */
    int32_t *eos_ids;        /* [n_eos]: every id that ends generation */
    int n_eos;
    char *chat_template;     /* owned, NULL when none */
    int chat_format;         /* TTT_CHAT_* */
    int chat_flags;          /* detected template variants (chat.c) */
    float temperature, top_p;
    int top_k;
    int gen_flags;           /* which of the three generation_config gave */
};

ttt_status tok_load_json(ttt_tokenizer *t, const char *text, size_t len, const char *label);
/* A tokenizer from tokenizer.json text alone (no configs): tests and the fuzzer. */
ttt_status tok_from_json(const char *text, size_t len, const char *label, ttt_tokenizer **out);
ttt_status tok_load_configs(ttt_tokenizer *t, const char *dir);
void tok_components_free(ttt_tokenizer *t);
ttt_status tok_chat_detect(const char *tmpl, int *format, int *flags, const char *label);

#endif
