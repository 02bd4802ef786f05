/* chat.c - chat prompts in the built-in formats (ChatML / Qwen, Llama-3, Gemma), chosen by
 * looking at the model's Jinja chat template; no Jinja is evaluated. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tok/tok.h"
#include "util/err.h"
#include "util/mem.h"

#define NOMEM ttt_err(TTT_ERR_NOMEM, "chat: out of memory")

enum {
    CHAT_THINK = 1,        /* ChatML with Qwen3's enable_thinking switch */
    CHAT_QWEN_SYSTEM = 2,  /* Qwen2.5's default system message */
    CHAT_DATE = 4,         /* Llama-3.1+: system header with knowledge cut-off and date */
    CHAT_DATE_TODAY = 8,   /* Llama-3.2+: today's date (strftime_now) */
};

static const char QWEN_SYSTEM[] = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

ttt_status tok_chat_detect(const char *tmpl, int *format, int *flags, const char *label) {
    *format = TTT_CHAT_NONE;
    *flags = 0;
    if (strstr(tmpl, "<|im_start|>")) {
        *format = TTT_CHAT_CHATML;
        if (strstr(tmpl, "enable_thinking")) *flags |= CHAT_THINK;
        if (strstr(tmpl, QWEN_SYSTEM)) *flags |= CHAT_QWEN_SYSTEM;
    } else if (strstr(tmpl, "<|start_header_id|>")) {
        *format = TTT_CHAT_LLAMA3;
        if (strstr(tmpl, "Cutting Knowledge Date")) *flags |= CHAT_DATE;
        if (strstr(tmpl, "strftime_now")) *flags |= CHAT_DATE_TODAY;
    } else if (strstr(tmpl, "<start_of_turn>")) {
        *format = TTT_CHAT_GEMMA;
    } else {
        return ttt_err(TTT_ERR_UNSUPPORTED, "%s: the chat template is none of the built-in "
                       "formats (ChatML, Llama-3, Gemma)", label ? label : "chat template");
    }
    return TTT_OK;
}

ttt_chat_params ttt_chat_default_params(void) {
    return (ttt_chat_params){.add_generation_prompt = 1, .enable_thinking = 1};
}

int ttt_tokenizer_chat_format(const ttt_tokenizer *t) { return t->chat_format; }

const char *ttt_chat_format_name(int format) {
    switch (format) {
    case TTT_CHAT_CHATML: return "chatml";
    case TTT_CHAT_LLAMA3: return "llama3";
    case TTT_CHAT_GEMMA: return "gemma";
    default: return "none";
    }
}

ttt_status ttt_tokenizer_set_chat_template(ttt_tokenizer *t, const char *tmpl) {
    int format, flags;
    ttt_status st = tok_chat_detect(tmpl, &format, &flags, NULL);
    if (st != TTT_OK) return st;
    char *copy = ttt_strdup(tmpl);
    if (!copy) return NOMEM;
    free(t->chat_template);
    t->chat_template = copy;
    t->chat_format = format;
    t->chat_flags = flags;
    return TTT_OK;
}

static bool put(tok_buf *b, const char *s) { return tok_buf_put(b, s, strlen(s)); }

/* Jinja's |trim: Python's str.strip() of white space. */
static bool put_trim(tok_buf *b, const char *s) {
    size_t n = strlen(s);
    while (n && strchr(" \t\n\r\v\f", s[n - 1])) n--;
    size_t i = 0;
    while (i < n && strchr(" \t\n\r\v\f", s[i])) i++;
    return tok_buf_put(b, s + i, n - i);
}

static const char *token_text(const ttt_tokenizer *t, int32_t id, const char *def) {
    const char *s = ttt_tokenizer_token(t, id);
    return s ? s : def;
}

/* Qwen3 keeps an assistant turn's reasoning only after the last user turn: reasoning is what
 * lies between <think> and the first </think>, the answer what follows the last one. */
static bool qwen3_assistant(const char *c, bool keep_think, bool last, tok_buf *b) {
    const char *first_end = strstr(c, "</think>");
    const char *r0 = c, *r1 = c, *answer = c;
    if (first_end) {
        for (const char *p = first_end; p; p = strstr(p + 1, "</think>")) answer = p + 8;
        r1 = first_end;
        for (const char *p = strstr(c, "<think>"); p && p < first_end; p = strstr(p + 1, "<think>"))
            r0 = p + 7;
    }
    while (first_end && *answer == '\n') answer++;
    while (r0 < r1 && *r0 == '\n') r0++;
    while (r1 > r0 && r1[-1] == '\n') r1--;
    if (!keep_think || (!last && r1 == r0)) return put(b, answer);
    while (*answer == '\n') answer++;
    return put(b, "<think>\n") && tok_buf_put(b, r0, (size_t)(r1 - r0)) &&
           put(b, "\n</think>\n\n") && put(b, answer);
}

static bool chatml(const ttt_tokenizer *t, const ttt_chat_msg *m, size_t n,
                   const ttt_chat_params *p, tok_buf *b) {
    bool ok = true;
    if ((t->chat_flags & CHAT_QWEN_SYSTEM) && (n == 0 || strcmp(m[0].role, "system")))
        ok = put(b, "<|im_start|>system\n") && put(b, QWEN_SYSTEM) && put(b, "<|im_end|>\n");
    size_t last_user = n ? n - 1 : 0;
    for (size_t i = n; i-- > 0;)
        if (!strcmp(m[i].role, "user")) {
            last_user = i;
            break;
        }
    for (size_t i = 0; i < n && ok; i++) {
        ok = put(b, "<|im_start|>") && put(b, m[i].role) && put(b, "\n");
        if ((t->chat_flags & CHAT_THINK) && !strcmp(m[i].role, "assistant"))
            ok = ok && qwen3_assistant(m[i].content, i > last_user, i + 1 == n, b);
        else
            ok = ok && put(b, m[i].content);
        ok = ok && put(b, "<|im_end|>\n");
    }
    if (ok && p->add_generation_prompt) {
        ok = put(b, "<|im_start|>assistant\n");
        if (ok && (t->chat_flags & CHAT_THINK) && !p->enable_thinking)
            ok = put(b, "<think>\n\n</think>\n\n");
    }
    return ok;
}

static bool llama3(const ttt_tokenizer *t, const ttt_chat_msg *m, size_t n,
                   const ttt_chat_params *p, tok_buf *b) {
    bool ok = put(b, token_text(t, t->bos_id, "<|begin_of_text|>"));
    size_t i = 0;
    if (t->chat_flags & CHAT_DATE) {
        char date[32] = "26 Jul 2024";
        if (t->chat_flags & CHAT_DATE_TODAY) {
            time_t now = time(NULL);
            struct tm tmv;
            if (gmtime_r(&now, &tmv)) strftime(date, sizeof date, "%d %b %Y", &tmv);
        }
        ok = ok && put(b, "<|start_header_id|>system<|end_header_id|>\n\n") &&
             put(b, "Cutting Knowledge Date: December 2023\nToday Date: ") && put(b, date) &&
             put(b, "\n\n");
        if (ok && n > 0 && !strcmp(m[0].role, "system")) ok = put_trim(b, m[0].content), i = 1;
        ok = ok && put(b, "<|eot_id|>");
    }
    for (; i < n && ok; i++)
        ok = put(b, "<|start_header_id|>") && put(b, m[i].role) &&
             put(b, "<|end_header_id|>\n\n") && put_trim(b, m[i].content) && put(b, "<|eot_id|>");
    if (ok && p->add_generation_prompt)
        ok = put(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return ok;
}

static bool gemma(const ttt_tokenizer *t, const ttt_chat_msg *m, size_t n,
                  const ttt_chat_params *p, tok_buf *b) {
    bool ok = put(b, token_text(t, t->bos_id, "<bos>"));
    const char *system = NULL;
    size_t i = 0;
    if (n > 0 && !strcmp(m[0].role, "system")) system = m[0].content, i = 1;
    for (bool first = true; i < n && ok; i++, first = false) {
        const char *role = !strcmp(m[i].role, "assistant") ? "model" : m[i].role;
        ok = put(b, "<start_of_turn>") && put(b, role) && put(b, "\n");
        if (ok && first && system) ok = put(b, system) && put(b, "\n\n");
        ok = ok && put_trim(b, m[i].content) && put(b, "<end_of_turn>\n");
    }
    if (ok && p->add_generation_prompt) ok = put(b, "<start_of_turn>model\n");
    return ok;
}

/* Gemma's template refuses anything but user / assistant turns in alternation (after an
 * optional system message). */
static ttt_status gemma_check(const ttt_chat_msg *m, size_t n) {
    size_t i = n > 0 && !strcmp(m[0].role, "system") ? 1 : 0;
    for (size_t k = 0; i < n; i++, k++)
        if (strcmp(m[i].role, k % 2 ? "assistant" : "user"))
            return ttt_err(TTT_ERR_ARG, "chat: message %zu is '%s'; Gemma needs user and "
                           "assistant turns in alternation, user first", i, m[i].role);
    return TTT_OK;
}

ttt_status ttt_chat_apply(const ttt_tokenizer *t, const ttt_chat_msg *msgs, size_t n,
                          const ttt_chat_params *p, char **text) {
    *text = NULL;
    ttt_chat_params def = ttt_chat_default_params();
    if (!p) p = &def;
    if (!t || (n && !msgs)) return ttt_err(TTT_ERR_ARG, "chat: NULL argument");
    for (size_t i = 0; i < n; i++) {
        if (!msgs[i].role || !msgs[i].content)
            return ttt_err(TTT_ERR_ARG, "chat: message %zu has no role or content", i);
        /* a role is a header's text: it must not open a special token */
        if (!*msgs[i].role || strpbrk(msgs[i].role, "<\n"))
            return ttt_err(TTT_ERR_ARG, "chat: message %zu: role '%s' is empty or holds '<' or "
                           "a newline", i, msgs[i].role);
    }
    if (t->chat_format == TTT_CHAT_NONE)
        return ttt_err(TTT_ERR_UNSUPPORTED, "chat: the tokenizer has %s chat template",
                       t->chat_template ? "an unrecognised (not ChatML, Llama-3 or Gemma)" : "no");
    if (t->chat_format == TTT_CHAT_GEMMA) {
        ttt_status st = gemma_check(msgs, n);
        if (st != TTT_OK) return st;
    }
    tok_buf b = {0};
    bool ok = t->chat_format == TTT_CHAT_CHATML ? chatml(t, msgs, n, p, &b)
              : t->chat_format == TTT_CHAT_LLAMA3 ? llama3(t, msgs, n, p, &b)
                                                   : gemma(t, msgs, n, p, &b);
    if (ok) ok = tok_buf_reserve(&b, 0);
    if (!ok) {
        tok_buf_free(&b);
        return NOMEM;
    }
    *text = b.p;
    return TTT_OK;
}

ttt_status ttt_chat_tokenize(const ttt_tokenizer *t, const ttt_chat_msg *msgs, size_t n,
                             const ttt_chat_params *p, int32_t **ids, size_t *n_ids) {
    *ids = NULL;
    *n_ids = 0;
    char *text;
    ttt_status st = ttt_chat_apply(t, msgs, n, p, &text);
    if (st != TTT_OK) return st;
    st = ttt_tokenize(t, text, strlen(text), 0, ids, n_ids);
    free(text);
    return st;
}
