/* cmd_chat.c - `ttt chat`: an interactive multi-turn conversation. One session holds the
 * whole conversation: each turn feeds only the new text (what the chat format adds after the
 * tokens already read), so the KV cache and the fast weights carry across turns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "gen.h"
#include "run_opts.h"
#include "ttt.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ttt chat -m DIR [options]\n"
            "\n"
            "Talks with the model of DIR in its chat format (from tokenizer_config.json's\n"
            "chat_template: ChatML, Llama-3 or Gemma). Type a message and press Enter; end a line\n"
            "with \\ to continue it on the next. The KV cache and the fast weights carry across\n"
            "turns. Commands: /reset forgets the conversation (KV cache and fast weights),\n"
            "/quit ends (so does end of input).\n"
            "\n"
            "  -m, --model DIR            Hugging Face checkpoint directory\n"
            "  --system TEXT              a system message first\n"
            "  --chat-template-file FILE  use this chat template (its format is detected)\n"
            "  --no-think                 Qwen3: answer without a thinking block\n"
            RUN_OPTS_HELP);
}

typedef struct chat {
    run_ctx rc;
    run_opts *o;
    ttt_chat_msg *msgs; /* [n] the conversation */
    char **owned;       /* [n] contents we allocated */
    size_t n, cap;
    const char *system;
    ttt_chat_params cp;
} chat;

static int push(chat *c, const char *role, char *content) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        ttt_chat_msg *m = realloc(c->msgs, cap * sizeof *m);
        if (m) c->msgs = m;
        char **o = m ? realloc(c->owned, cap * sizeof *o) : NULL;
        if (!o) return -1;
        c->owned = o;
        c->cap = cap;
    }
    c->msgs[c->n] = (ttt_chat_msg){.role = role, .content = content};
    c->owned[c->n++] = content;
    return 0;
}

static void forget(chat *c) {
    for (size_t i = 0; i < c->n; i++) free(c->owned[i]);
    c->n = 0;
    ttt_session_reset(c->rc.sess);
    ttt_sampler_reset(c->rc.smp);
}

/* The text this turn adds after what the session has read. The session holds the tokens of
 * the conversation as it happened (the last reply as generated), so the new text is what the
 * format puts after the last reply: render with a marker in the reply's place and take what
 * follows it. That also holds where the format re-renders earlier replies (Qwen3 drops their
 * thinking block). */
static ttt_status new_text(chat *c, char **out) {
    *out = NULL;
    char *text = NULL;
    const ttt_chat_msg *prev = c->n >= 2 ? &c->msgs[c->n - 2] : NULL;
    if (!prev || strcmp(prev->role, "assistant"))
        return ttt_chat_apply(c->rc.tok, c->msgs, c->n, &c->cp, out);
    static const char MARK[] = "\x01ttt-reply\x01";
    const char *content = prev->content;
    c->msgs[c->n - 2].content = MARK;
    ttt_status st = ttt_chat_apply(c->rc.tok, c->msgs, c->n, &c->cp, &text);
    c->msgs[c->n - 2].content = content;
    if (st != TTT_OK) return st;
    const char *at = strstr(text, MARK);
    if (!at) {
        free(text);
        return TTT_ERR_UNSUPPORTED;
    }
    *out = strdup(at + sizeof MARK - 1);
    free(text);
    return *out ? TTT_OK : TTT_ERR_NOMEM;
}

/* One turn: the user's message in, the reply streamed out. */
static int turn(chat *c, const char *user, int32_t *pending) {
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int rc = -1;
    char *u = strdup(user);
    if (!u || push(c, "user", u)) {
        free(u);
        fprintf(stderr, "ttt chat: out of memory\n");
        return -1;
    }
    c->cp.add_generation_prompt = 1;
    if (new_text(c, &text) != TTT_OK ||
        ttt_tokenize(c->rc.tok, text, strlen(text), 0, &ids, &n_ids) != TTT_OK) {
        fprintf(stderr, "ttt chat: %s\n", ttt_last_error());
        c->n--, free(u);
        goto done;
    }
    if (*pending >= 0) {
        /* the last reply's final token was sampled but not read; an end-of-turn token is
         * part of the format's text instead */
        int32_t *with = malloc((n_ids + 1) * sizeof *with);
        if (!with) goto done;
        with[0] = *pending;
        memcpy(with + 1, ids, n_ids * sizeof *ids);
        free(ids);
        ids = with;
        n_ids++;
    }
    gen_stats st;
    c->o->gen.capture = true;
    ttt_status s = gen_run(c->rc.sess, c->rc.smp, ids, (int)n_ids, &c->o->gen, c->rc.decode,
                           c->rc.decode_ctx, stdout, &st);
    fputc('\n', stdout);
    fflush(stdout);
    *pending = st.hit_eos ? -1 : st.pending;
    char *reply = st.text ? st.text : strdup("");
    if (s != TTT_OK || !reply) {
        fprintf(stderr, "ttt chat: %s\n", s != TTT_OK ? ttt_last_error() : "out of memory");
        free(reply);
        goto done;
    }
    if (st.ctx_full) fprintf(stderr, "[context full: /reset to start again]\n");
    if (push(c, "assistant", reply)) {
        free(reply);
        goto done;
    }
    if (isatty(2)) gen_print_stats(&st);
    rc = 0;
done:
    free(ids);
    free(text);
    return rc;
}

/* A line from stdin; lines ending in a backslash continue. NULL at end of input. */
static char *read_message(void) {
    char *msg = NULL, *line = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (isatty(0)) fputs(msg ? ". " : "> ", stdout), fflush(stdout);
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) break;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        int more = n > 0 && line[n - 1] == '\\';
        if (more) line[--n] = 0;
        char *m = realloc(msg, len + (size_t)n + 2);
        if (!m) break;
        msg = m;
        memcpy(msg + len, line, (size_t)n);
        len += (size_t)n;
        if (more) msg[len++] = '\n';
        msg[len] = 0;
        if (!more) break;
    }
    free(line);
    return msg;
}

int cmd_chat(int argc, char **argv) {
    run_opts o;
    run_opts_defaults(&o);
    chat c = {.o = &o, .cp = ttt_chat_default_params()};
    const char *tmpl_file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = run_opts_parse(&o, argc, argv, &i);
        if (r == 1) continue;
        if (r < 0) return 2;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--system")) {
            if (!(c.system = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--chat-template-file")) {
            if (!(tmpl_file = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--no-think")) {
            c.cp.enable_thinking = 0;
        } else {
            char msg[256];
            snprintf(msg, sizeof msg, "unknown option '%s'", a);
            return cli_usage_error("chat", msg);
        }
    }
    if (!o.model_dir) return cli_usage_error("chat", "missing -m DIR");
    if (run_ctx_init(&c.rc, &o, "chat", true) != 0) return 1;
    int status = 1;
    if (tmpl_file) {
        char *t;
        size_t len;
        if (!cli_read_file("chat", tmpl_file, &t, &len)) goto out;
        ttt_status st = ttt_tokenizer_set_chat_template(c.rc.tok, t);
        free(t);
        if (st != TTT_OK) {
            fprintf(stderr, "ttt chat: %s: %s\n", tmpl_file, ttt_last_error());
            goto out;
        }
    }
    if (ttt_tokenizer_chat_format(c.rc.tok) == TTT_CHAT_NONE) {
        cli_fail("chat", "the model has no chat template of a known format (ChatML, Llama-3, "
                         "Gemma); give one with --chat-template-file");
        goto out;
    }
    fprintf(stderr, "chat format: %s; /reset forgets, /quit ends\n",
            ttt_chat_format_name(ttt_tokenizer_chat_format(c.rc.tok)));
    int32_t pending = -1;
    status = 0;
    for (char *m; (m = read_message());) {
        if (!strcmp(m, "/quit") || !strcmp(m, "/exit")) {
            free(m);
            break;
        }
        if (!strcmp(m, "/reset")) {
            forget(&c);
            pending = -1;
            fprintf(stderr, "[conversation, KV cache and fast weights reset]\n");
        } else if (*m) {
            if (c.n == 0 && c.system) {
                char *sys = strdup(c.system);
                if (!sys || push(&c, "system", sys)) free(sys), status = 1;
            }
            if (status == 0 && turn(&c, m, &pending)) status = 1;
        }
        free(m);
        if (status) break;
    }
out:
    forget(&c);
    free(c.msgs);
    free(c.owned);
    run_ctx_free(&c.rc);
    return status;
}
