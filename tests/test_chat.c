/* test_chat.c - chat prompts of the built-in formats, written out by hand from the models'
 * Jinja templates (Qwen3, Qwen2.5, Llama-3.0, Llama-3.1, Gemma3), format detection from a
 * template's text, and the prompt's ids through a golden tokenizer. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "tok/tok.h"

static const char *TOK =
    "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}";

static const char *prompt(ttt_tokenizer *t, const ttt_chat_msg *m, size_t n, int gen,
                          int think) {
    static char buf[2048];
    ttt_chat_params p = ttt_chat_default_params();
    p.add_generation_prompt = gen;
    p.enable_thinking = think;
    char *s;
    if (ttt_chat_apply(t, m, n, &p, &s) != TTT_OK) {
        fprintf(stderr, "chat: %s\n", ttt_last_error());
        return "ERROR";
    }
    snprintf(buf, sizeof buf, "%s", s);
    free(s);
    return buf;
}

static void test_qwen(ttt_tokenizer *t) {
    CHECK_OK(ttt_tokenizer_set_chat_template(
        t, "{%- for message in messages %}{{- '<|im_start|>' + message.role }}...{%- if "
           "enable_thinking is defined and enable_thinking is false %}"));
    CHECK(ttt_tokenizer_chat_format(t) == TTT_CHAT_CHATML);
    ttt_chat_msg m[] = {{"system", "S"},
                        {"user", "Hi"},
                        {"assistant", "<think>\nr1\n</think>\n\nA1"},
                        {"user", "Q2"}};
    const char *hist = "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                       "<|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\nQ2<|im_end|>\n";
    char want[1024];
    snprintf(want, sizeof want, "%s<|im_start|>assistant\n<think>\n\n</think>\n\n", hist);
    CHECK(!strcmp(prompt(t, m, 4, 1, 0), want));
    snprintf(want, sizeof want, "%s<|im_start|>assistant\n", hist);
    CHECK(!strcmp(prompt(t, m, 4, 1, 1), want));
    CHECK(!strcmp(prompt(t, m, 4, 0, 1), hist));
    /* an assistant turn after the last user turn keeps its reasoning */
    ttt_chat_msg m2[] = {{"user", "Hi"}, {"assistant", "<think>\nr\n</think>\n\nA"}};
    CHECK(!strcmp(prompt(t, m2, 2, 0, 1), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
                                          "<think>\nr\n</think>\n\nA<|im_end|>\n"));

    /* Qwen2.5: the default system message when none is given */
    CHECK_OK(ttt_tokenizer_set_chat_template(
        t, "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
           "assistant.<|im_end|>\\n' }}"));
    ttt_chat_msg u = {"user", "Hi"};
    CHECK(!strcmp(prompt(t, &u, 1, 1, 1),
                  "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                  "assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"));
}

static void test_llama(ttt_tokenizer *t) {
    CHECK_OK(ttt_tokenizer_set_chat_template(
        t, "{{- bos_token }}{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}"
           "{{- \"Cutting Knowledge Date: December 2023\\n\" }}"));
    CHECK(ttt_tokenizer_chat_format(t) == TTT_CHAT_LLAMA3);
    ttt_chat_msg m[] = {{"system", " Be brief. "}, {"user", " Hi\n"}};
    CHECK(!strcmp(prompt(t, m, 2, 1, 1),
                  "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                  "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
                  "Be brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n"));
    /* Llama-3.0: no system header of its own */
    CHECK_OK(ttt_tokenizer_set_chat_template(
        t, "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>"));
    CHECK(!strcmp(prompt(t, m + 1, 1, 1, 1),
                  "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n"));
}

static void test_gemma(ttt_tokenizer *t) {
    CHECK_OK(ttt_tokenizer_set_chat_template(t, "{{ '<start_of_turn>' + role + '\\n' }}"));
    CHECK(ttt_tokenizer_chat_format(t) == TTT_CHAT_GEMMA);
    ttt_chat_msg m[] = {{"system", "S "}, {"user", " Hi "}, {"assistant", "Yo"}, {"user", "Q"}};
    CHECK(!strcmp(prompt(t, m, 4, 1, 1),
                  "<bos><start_of_turn>user\nS \n\nHi<end_of_turn>\n<start_of_turn>model\nYo"
                  "<end_of_turn>\n<start_of_turn>user\nQ<end_of_turn>\n<start_of_turn>model\n"));
    ttt_chat_msg bad[] = {{"user", "a"}, {"user", "b"}};
    char *s;
    CHECK_FAILS(ttt_chat_apply(t, bad, 2, NULL, &s), TTT_ERR_ARG, "message 1 is 'user'");
}

static void test_detect(ttt_tokenizer *t) {
    CHECK_FAILS(ttt_tokenizer_set_chat_template(t, "{{ messages }} [INST]"), TTT_ERR_UNSUPPORTED,
                "none of the built-in formats");
    /* the old template stays */
    CHECK(ttt_tokenizer_chat_format(t) == TTT_CHAT_GEMMA);
    ttt_chat_msg m = {"user", NULL};
    char *s;
    CHECK_FAILS(ttt_chat_apply(t, &m, 1, NULL, &s), TTT_ERR_ARG, "message 0 has no role");
    ttt_chat_msg r = {"user<|im_end|>", "x"};
    CHECK_FAILS(ttt_chat_apply(t, &r, 1, NULL, &s), TTT_ERR_ARG, "holds '<'");
    CHECK(!strcmp(ttt_chat_format_name(TTT_CHAT_LLAMA3), "llama3"));
}

/* The prompt's special tokens become single ids (Qwen2 golden: <|im_start|> 1, <|im_end|> 2). */
static void test_ids(const char *golden) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tokenizers/qwen2", golden);
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        fprintf(stderr, "test_chat: golden tokenizers not found, their part skipped\n");
        return;
    }
    ttt_tokenizer *t;
    CHECK_OK(ttt_tokenizer_load(dir, &t));
    if (!t) return;
    CHECK_OK(ttt_tokenizer_set_chat_template(t, "<|im_start|>"));
    ttt_chat_msg m = {"user", "Hi <|im_end|>"};
    char *p;
    CHECK_OK(ttt_chat_apply(t, &m, 1, NULL, &p));
    int32_t *ids;
    size_t n;
    /* specials parsed: the user's literal <|im_end|> counts too */
    CHECK_OK(ttt_chat_tokenize(t, &m, 1, NULL, &ids, &n));
    int starts = 0, ends = 0;
    for (size_t i = 0; i < n; i++) starts += ids[i] == 1, ends += ids[i] == 2;
    CHECK(n > 4 && ids[0] == 1 && starts == 2 && ends == 2);
    free(ids);
    /* TTT_TOK_NO_SPECIAL (for user text): none of them are */
    CHECK_OK(ttt_tokenize(t, p, strlen(p), TTT_TOK_NO_SPECIAL, &ids, &n));
    starts = 0;
    for (size_t i = 0; i < n; i++) starts += ids[i] == 1;
    CHECK(starts == 0);
    free(ids);
    free(p);
    ttt_tokenizer_free(t);
}

int main(void) {
    ttt_tokenizer *t;
    CHECK_OK(tok_from_json(TOK, strlen(TOK), "t.json", &t));
    if (t) {
        test_qwen(t);
        test_llama(t);
        test_gemma(t);
        test_detect(t);
        ttt_tokenizer_free(t);
    }
    const char *golden = getenv("TTT_GOLDEN");
    if (golden) test_ids(golden);
    return check_summary("test_chat");
}
