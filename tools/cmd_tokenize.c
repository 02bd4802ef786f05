/* cmd_tokenize.c - `ttt tokenize`: text to ids and back with a model's tokenizer.json, the
 * golden-case check, chat prompts and the encode benchmark. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ttt.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ttt tokenize --tokenizer DIR|FILE [options]   text (-f FILE or stdin) -> ids\n"
            "       ttt tokenize --tokenizer DIR|FILE --decode     ids on stdin -> text\n"
            "       ttt tokenize --check DIR                       golden cases (cases.json)\n"
            "       ttt tokenize --tokenizer DIR|FILE --bench FILE encode speed, MB/s\n"
            "       ttt tokenize --bench-text MB                   deterministic mixed text\n"
            "\n"
            "  --tokenizer P      a model directory (tokenizer.json, tokenizer_config.json,\n"
            "                     generation_config.json) or a tokenizer.json file\n"
            "  -f, --file FILE    read the input from FILE instead of stdin\n"
            "  --add-special      apply the post-processor (BOS/EOS) when encoding\n"
            "  --no-special       special tokens written in the text are plain text\n"
            "  --decode           read ids (space separated) and print their text\n"
            "  --skip-special     with --decode: leave special tokens out\n"
            "  --chat FILE        print the chat prompt of a JSON list of {role, content}\n"
            "  --template FILE    with --chat: a chat template file to detect the format from\n"
            "  --no-think         with --chat: Qwen3's enable_thinking = false\n"
            "  --ids              with --chat: print the prompt's ids instead of its text\n"
            "  -r N               with --bench: repetitions (best is reported; default 3)\n");
}

static char *read_all(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) {
            if (ferror(f)) break;
            buf[n] = '\0';
            *len = n;
            return buf;
        }
        char *nb = cap < ((size_t)1 << 31) ? realloc(buf, 2 * cap + 1) : NULL;
        if (!nb) break;
        buf = nb;
        cap *= 2;
    }
    free(buf);
    return NULL;
}

static char *read_path(const char *path, size_t *len) {
    FILE *f = path ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "ttt tokenize: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *s = read_all(f, len);
    if (!s) fprintf(stderr, "ttt tokenize: %s: read error\n", path ? path : "stdin");
    if (path) fclose(f);
    return s;
}

static int fail_lib(void) {
    fprintf(stderr, "ttt tokenize: %s\n", ttt_last_error());
    return 1;
}

static int print_ids(const int32_t *ids, size_t n) {
    for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
    printf("\n");
    return ferror(stdout) ? 1 : 0;
}

/* Whitespace-separated decimal ids. */
static int parse_ids(const char *s, int32_t **ids, size_t *n) {
    size_t cap = 64;
    *n = 0;
    *ids = malloc(cap * sizeof **ids);
    for (const char *p = s; *ids;) {
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
        if (!*p) return 0;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < INT32_MIN || v > INT32_MAX ||
            (*end && !strchr(" \n\t\r", *end))) {
            fprintf(stderr, "ttt tokenize: input byte %zu: not an integer id\n", (size_t)(p - s));
            free(*ids);
            *ids = NULL;
            return 1;
        }
        if (*n == cap) {
            int32_t *q = realloc(*ids, 2 * cap * sizeof *q);
            if (!q) break;
            *ids = q;
            cap *= 2;
        }
        (*ids)[(*n)++] = (int32_t)v;
        p = end;
    }
    free(*ids);
    *ids = NULL;
    fprintf(stderr, "ttt tokenize: out of memory\n");
    return 1;
}

/* ---- --check: every case of DIR/cases.json ---- */

static int check_case(const ttt_tokenizer *t, int k, const char *text, const cJSON *want_ids,
                      const char *want_text) {
    int32_t *ids;
    size_t n;
    int bad = 0;
    if (ttt_tokenize(t, text, strlen(text), 0, &ids, &n) != TTT_OK) {
        fprintf(stderr, "case %d: encode failed: %s\n", k, ttt_last_error());
        return 1;
    }
    size_t want_n = (size_t)cJSON_GetArraySize(want_ids);
    const cJSON *w = want_ids->child;
    for (size_t i = 0; i < n || i < want_n; i++, w = w ? w->next : NULL) {
        int got = i < n ? ids[i] : -1, exp = w && cJSON_IsNumber(w) ? w->valueint : -1;
        if (got != exp) {
            fprintf(stderr, "case %d: ids differ at %zu: got %d, want %d (%zu vs %zu ids)\n", k,
                    i, got, exp, n, want_n);
            bad = 1;
            break;
        }
    }
    /* decode the reference ids, not ours: the two halves are checked independently */
    int32_t *ref = malloc((want_n + 1) * sizeof *ref);
    w = want_ids->child;
    for (size_t i = 0; ref && i < want_n; i++, w = w->next) ref[i] = w->valueint;
    char *dec = NULL;
    size_t dlen;
    if (!ref || ttt_detokenize(t, ref, want_n, 0, &dec, &dlen) != TTT_OK) {
        fprintf(stderr, "case %d: decode failed: %s\n", k, ttt_last_error());
        bad = 1;
    } else if (strcmp(dec, want_text)) {
        fprintf(stderr, "case %d: decoded text differs:\n  got  \"%s\"\n  want \"%s\"\n", k, dec,
                want_text);
        bad = 1;
    }
    /* streaming: the pieces must add up to the same text */
    ttt_detok *d = NULL;
    size_t cap = strlen(want_text) + 64, len = 0;
    char *acc = malloc(cap);
    int sbad = !acc || ttt_detok_init(t, 0, &d) != TTT_OK;
    for (size_t i = 0; !sbad && i <= want_n; i++) {
        const char *piece;
        size_t pl;
        if ((i < want_n ? ttt_detok_push(d, ref[i], &piece, &pl)
                        : ttt_detok_flush(d, &piece, &pl)) != TTT_OK ||
            len + pl >= cap) {
            sbad = 1;
            break;
        }
        memcpy(acc + len, piece, pl);
        len += pl;
    }
    if (!sbad && (len != strlen(want_text) || memcmp(acc, want_text, len))) sbad = 1;
    if (sbad) fprintf(stderr, "case %d: streaming decode differs from the text\n", k);
    ttt_detok_free(d);
    free(acc);
    free(dec);
    free(ref);
    free(ids);
    return bad || sbad;
}

static int run_check(const char *dir) {
    ttt_tokenizer *t;
    if (ttt_tokenizer_load(dir, &t) != TTT_OK) return fail_lib();
    size_t len;
    char path[4096];
    snprintf(path, sizeof path, "%s/cases.json", dir);
    char *text = read_path(path, &len);
    cJSON *cases = text ? cJSON_ParseWithLength(text, len) : NULL;
    int failed = 0, k = 0;
    if (!cJSON_IsArray(cases)) {
        fprintf(stderr, "ttt tokenize: %s: not a JSON array of cases\n", path);
        failed = 1;
    }
    for (const cJSON *c = cases ? cases->child : NULL; c && cJSON_IsArray(cases); c = c->next, k++) {
        const cJSON *tx = cJSON_GetObjectItemCaseSensitive(c, "text");
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(c, "ids");
        const cJSON *dec = cJSON_GetObjectItemCaseSensitive(c, "decoded");
        if (!cJSON_IsString(tx) || !cJSON_IsArray(ids) || !cJSON_IsString(dec)) {
            fprintf(stderr, "case %d: needs text, ids and decoded\n", k);
            failed++;
            continue;
        }
        failed += check_case(t, k, tx->valuestring, ids, dec->valuestring);
    }
    if (k == 0) failed = 1; /* an empty file checks nothing */
    printf("%s: %d cases, %d failed\n", dir, k, failed);
    cJSON_Delete(cases);
    free(text);
    ttt_tokenizer_free(t);
    return failed ? 1 : 0;
}

/* ---- --chat ---- */

static int run_chat(const ttt_tokenizer *tc, const char *msgs_path, const char *tmpl_path,
                    ttt_chat_params *p, int print_ids_flag) {
    ttt_tokenizer *t = (ttt_tokenizer *)tc;
    size_t len;
    int rc = 1;
    if (tmpl_path) {
        char *tmpl = read_path(tmpl_path, &len);
        if (!tmpl) return 1;
        ttt_status st = ttt_tokenizer_set_chat_template(t, tmpl);
        free(tmpl);
        if (st != TTT_OK) {
            fprintf(stderr, "ttt tokenize: %s: %s\n", tmpl_path, ttt_last_error());
            return 1;
        }
    }
    char *text = read_path(msgs_path, &len);
    cJSON *arr = text ? cJSON_ParseWithLength(text, len) : NULL;
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;
    ttt_chat_msg *m = n >= 0 ? calloc((size_t)n + 1, sizeof *m) : NULL;
    int i = 0;
    for (const cJSON *c = m ? arr->child : NULL; c; c = c->next, i++) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(c, "role");
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(c, "content");
        if (!cJSON_IsString(r) || !cJSON_IsString(ct)) break;
        m[i] = (ttt_chat_msg){r->valuestring, ct->valuestring};
    }
    char *prompt = NULL;
    if (!m || i != n) {
        fprintf(stderr, "ttt tokenize: %s: not a JSON list of {\"role\", \"content\"} strings\n",
                msgs_path);
    } else if (ttt_chat_apply(t, m, (size_t)n, p, &prompt) != TTT_OK) {
        rc = fail_lib();
    } else if (print_ids_flag) {
        int32_t *ids;
        size_t ni;
        rc = ttt_chat_tokenize(t, m, (size_t)n, p, &ids, &ni) == TTT_OK ? print_ids(ids, ni)
                                                                         : fail_lib();
        if (rc == 0) free(ids);
    } else {
        fputs(prompt, stdout);
        rc = ferror(stdout) ? 1 : 0;
    }
    free(prompt);
    free(m);
    cJSON_Delete(arr);
    free(text);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    const char *tok_path = NULL, *file = NULL, *check = NULL, *bench = NULL, *chat = NULL;
    const char *tmpl = NULL;
    int flags = 0, decode = 0, ids_out = 0;
    long long reps = 3;
    double bench_mb = -1;
    ttt_chat_params cp = ttt_chat_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--tokenizer") || !strcmp(a, "-m")) {
            if (!(tok_path = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(file = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--check")) {
            if (!(check = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--bench")) {
            if (!(bench = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--bench-text")) {
            const char *v = cli_value(argc, argv, &i);
            if (!v || !cli_float(a, v, &bench_mb) || bench_mb <= 0 || bench_mb > 4096)
                return cli_usage_error("tokenize", "--bench-text needs a size in MB (0, 4096]");
        } else if (!strcmp(a, "-r")) {
            const char *v = cli_value(argc, argv, &i);
            if (!v || !cli_int(a, v, 1, 1000, &reps)) return 2;
        } else if (!strcmp(a, "--chat")) {
            if (!(chat = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--template")) {
            if (!(tmpl = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--add-special")) {
            flags |= TTT_TOK_ADD_SPECIAL;
        } else if (!strcmp(a, "--no-special")) {
            flags |= TTT_TOK_NO_SPECIAL;
        } else if (!strcmp(a, "--skip-special")) {
            flags |= TTT_TOK_SKIP_SPECIAL;
        } else if (!strcmp(a, "--decode")) {
            decode = 1;
        } else if (!strcmp(a, "--no-think")) {
            cp.enable_thinking = 0;
        } else if (!strcmp(a, "--ids")) {
            ids_out = 1;
        } else {
            fprintf(stderr, "ttt tokenize: unknown option '%s' (see ttt tokenize --help)\n", a);
            return 2;
        }
    }
    if (bench_mb > 0) return tok_bench_text(bench_mb);
    if (check) return run_check(check);
    if (!tok_path) return cli_usage_error("tokenize", "--tokenizer DIR|FILE is required");
    ttt_tokenizer *t;
    if (ttt_tokenizer_load(tok_path, &t) != TTT_OK) return fail_lib();
    int rc;
    if (bench) {
        rc = tok_bench(t, bench, (int)reps);
    } else if (chat) {
        rc = run_chat(t, chat, tmpl, &cp, ids_out);
    } else {
        size_t len;
        char *in = read_path(file, &len);
        rc = 1;
        if (in && decode) {
            int32_t *ids;
            size_t n;
            char *text;
            size_t tl;
            if (parse_ids(in, &ids, &n) == 0) {
                if (ttt_detokenize(t, ids, n, flags, &text, &tl) == TTT_OK) {
                    rc = fwrite(text, 1, tl, stdout) == tl ? 0 : 1;
                    free(text);
                } else {
                    rc = fail_lib();
                }
                free(ids);
            }
        } else if (in) {
            int32_t *ids;
            size_t n;
            if (ttt_tokenize(t, in, len, flags, &ids, &n) == TTT_OK) {
                rc = print_ids(ids, n);
                free(ids);
            } else {
                rc = fail_lib();
            }
        }
        free(in);
    }
    ttt_tokenizer_free(t);
    return rc;
}
