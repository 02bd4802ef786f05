/* test_eval_ruler.c - the RULER generators: every task's prompt carries RULER's template and
 * answer prefix verbatim, its needles/answers are consistent with the context, it fills
 * [95%, 100%] of the budget by the test counter at several lengths, samples are deterministic,
 * and bad input gives clear errors. Expected strings are copied from the spec
 * (shared/specs/ruler-and-mqar.md), not from the code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "eval/eval.h"

static const char k_essay[] =
    "The quiet harbor town woke slowly. Fishermen mended nets by the water! Children ran along "
    "the pier? Nobody seemed to hurry. \"It will rain,\" said the baker. Clouds gathered over "
    "the hills, and the bells rang at noon.\n\nIn the evening the lamps were lit. ";

/* sentences never split at initials or abbreviations: needles land between sentences */
static void test_sentences(void) {
    static const char essay[] = "Mr. J. Smith met Dr. Brown at 5 p.m. today. It rained. "
                                "\"Why?\" he asked. (See e.g. the notes.) The end.";
    ttt_ruler_config cfg = {.essay = essay, .essay_len = strlen(essay),
                            .count = ttt_eval_count_words, .seed = 1};
    /* punkt splits after '?' whatever follows, so "he asked." is a sentence too */
    static const char *const starts[7] = {"Mr. J.", "It rained.", "\"Why?\"", "he asked.",
                                          "(See e.g.", "The end.", "One of the special"};
    int good = 0, total = 0;
    ttt_ruler_gen *g;
    CHECK_OK(ttt_ruler_gen_init(&cfg, TTT_RULER_NIAH_MULTIKEY_1, 2048, &g));
    for (int i = 0; g && i < 10; i++) {
        ttt_eval_sample s;
        CHECK_OK(ttt_ruler_gen_sample(g, i, &s));
        for (const char *p = s.context; (p = strstr(p, " is: ")); p++) {
            const char *after = strchr(p, '.') + 1;
            while (*after == ' ') after++;
            total++;
            bool ok = *after == '\n';
            for (int k = 0; k < 7 && !ok; k++) ok = !strncmp(after, starts[k], strlen(starts[k]));
            good += ok;
        }
        ttt_eval_sample_free(&s);
    }
    ttt_ruler_gen_free(g);
    if (good != total) fprintf(stderr, "sentences: %d of %d\n", good, total);
    CHECK(total == 40 && good == total);
}

/* hand-made SQuAD v2: 2 articles, 3 paragraphs, one impossible question */
static const char k_squad[] =
    "{\"version\":\"v2.0\",\"data\":["
    "{\"title\":\"A\",\"paragraphs\":["
    "{\"context\":\"Zeta paragraph about the river Ostra, which floods in spring.\",\"qas\":["
    "{\"question\":\"Which river floods in spring?\",\"id\":\"1\",\"answers\":[{\"text\":\"Ostra\",\"answer_start\":26},{\"text\":\"the river Ostra\",\"answer_start\":16}],\"is_impossible\":false},"
    "{\"question\":\"Who built the moon?\",\"id\":\"2\",\"answers\":[],\"is_impossible\":true}]},"
    "{\"context\":\"Alpha paragraph about the mountain Brel, the highest peak.\",\"qas\":["
    "{\"question\":\"Which is the highest peak?\",\"id\":\"3\",\"answers\":[{\"text\":\"Brel\",\"answer_start\":30}],\"is_impossible\":false}]}]},"
    "{\"title\":\"B\",\"paragraphs\":["
    "{\"context\":\"Middle paragraph on the lake Quen and its fish.\",\"qas\":["
    "{\"question\":\"Which lake has fish?\",\"id\":\"4\",\"answers\":[{\"text\":\"Quen\",\"answer_start\":24}],\"is_impossible\":false}]}]}]}";

static const char k_hotpot[] =
    "[{\"_id\":\"a\",\"question\":\"Which city hosts the Vell tower?\",\"answer\":\"Darm\","
    "\"context\":[[\"Vell tower\",[\"The Vell tower stands in Darm.\",\" It is old.\"]],"
    "[\"Darm\",[\"Darm is a city.\"]]]},"
    "{\"_id\":\"b\",\"question\":\"What colour is the Pim bird?\",\"answer\":\"blue\","
    "\"context\":[[\"Pim bird\",[\"The Pim bird is blue.\"]],[\"Darm\",[\"Darm is a city.\"]]]}]";

static int count_tokens(const char *s) {
    int n = 0;
    ttt_eval_count_words(NULL, s, strlen(s), &n);
    return n;
}

/* strstr without sanitizer interception: ASan's checks the whole rest of the haystack on
 * every call, which makes scans over a 128k-token context quadratic */
static const char *find(const char *hay, const char *needle) {
    size_t m = strlen(needle);
    for (; *hay; hay++)
        if (*hay == needle[0] && !strncmp(hay, needle, m)) return hay;
    return NULL;
}
#define strstr(h, n) find((h), (n))

static int occurrences(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Template pieces of each task (spec 1.2, singular forms rendered as the spec shows). */
static void check_template(const ttt_eval_sample *s) {
    const char *c = s->context, *q = s->question;
    switch (s->task) {
    case TTT_RULER_NIAH_SINGLE_1: case TTT_RULER_NIAH_SINGLE_2: case TTT_RULER_NIAH_MULTIKEY_1:
    case TTT_RULER_NIAH_MULTIKEY_2: {
        CHECK(strstr(c, "A special magic number is hidden within the following text. Make sure to "
                        "memorize it. I will quiz you about the number afterwards.\n") == c);
        char want[256];
        snprintf(want, sizeof want, "What is the special magic number for %.*s mentioned in the provided text?",
                 (int)(strstr(q, " mentioned") - (q + 37)), q + 37);
        CHECK(strncmp(q, "What is the special magic number for ", 37) == 0);
        CHECK(strstr(q, want) == q);
        CHECK(strncmp(s->answer_prefix, " The special magic number for ", 30) == 0);
        CHECK(ends_with(q, " mentioned in the provided text is"));
        break;
    }
    case TTT_RULER_NIAH_SINGLE_3: case TTT_RULER_NIAH_MULTIKEY_3:
        CHECK(strstr(c, "A special magic uuid is hidden within the following text. Make sure to "
                        "memorize it. I will quiz you about the uuid afterwards.\n") == c);
        CHECK(strncmp(q, "What is the special magic uuid for ", 35) == 0);
        CHECK(strncmp(s->answer_prefix, " The special magic uuid for ", 28) == 0);
        CHECK(ends_with(q, " mentioned in the provided text is"));
        break;
    case TTT_RULER_NIAH_MULTIVALUE: case TTT_RULER_NIAH_MULTIQUERY:
        CHECK(strstr(c, "Some special magic numbers are hidden within the following text. Make "
                        "sure to memorize it. I will quiz you about the numbers afterwards.\n") == c);
        CHECK(strncmp(q, "What are all the special magic numbers for ", 43) == 0);
        CHECK(strncmp(s->answer_prefix, " The special magic numbers for ", 31) == 0);
        CHECK(ends_with(q, " mentioned in the provided text are"));
        break;
    case TTT_RULER_VT:
        CHECK(strstr(c, "Memorize and track the chain(s) of variable assignment hidden in the "
                        "following text.\n\n") != NULL);
        CHECK(strncmp(q, "Question: Find all variables that are assigned the value ", 57) == 0);
        CHECK(strstr(q, " in the text above. Answer: According to the chain(s) of variable "
                        "assignment in the text above, 5 variables are assgined the value ") != NULL);
        CHECK(ends_with(q, ", they are: "));
        break;
    case TTT_RULER_CWE:
        CHECK(strstr(c, "Below is a numbered list of words. In these words, some appear more "
                        "often than others. Memorize the ones that appear most often.\n") == c);
        CHECK(!strcmp(q, "Question: What are the 10 most common words in the above list? Answer: "
                         "The top 10 words that appear most often in the list are:"));
        break;
    case TTT_RULER_FWE:
        CHECK(strstr(c, "Read the following coded text and track the frequency of each coded "
                        "word. Find the three most frequently appeared coded words. ") == c);
        CHECK(!strcmp(q, "Question: Do not provide any explanation. Please ignore the dots "
                         "'....'. What are the three most frequently appeared words in the "
                         "above coded text? Answer: According to the coded text above, the three "
                         "most frequently appeared words are:"));
        break;
    default:
        CHECK(strstr(c, "Answer the question based on the given documents. Only give me the "
                        "answer and do not output any other words.\n\nThe following are given "
                        "documents.\n\nDocument 1:\n") == c);
        static const char qh[] = "Answer the question based on the given documents. Only give "
                                 "me the answer and do not output any other words.\n\nQuestion: ";
        CHECK(strncmp(q, qh, strlen(qh)) == 0);
        CHECK(ends_with(q, " Answer:"));
        CHECK(!strcmp(s->answer_prefix, " Answer:"));
    }
    CHECK(ends_with(q, s->answer_prefix));
}

/* Counts the entries "<i>. word" equal to word in a numbered list. */
static int list_count(const char *list, const char *word) {
    int n = 0;
    size_t wl = strlen(word);
    for (const char *p = list; (p = strstr(p, ". ")); p += 2) {
        if (p == list || p[-1] < '0' || p[-1] > '9') continue;
        const char *w = p + 2;
        if (!strncmp(w, word, wl) && (w[wl] == ' ' || w[wl] == '\n' || w[wl] == '\0')) n++;
    }
    return n;
}

static int word_count(const char *text, const char *word) {
    int n = 0;
    size_t wl = strlen(word);
    for (const char *p = text; (p = strstr(p, word)); p += wl)
        if ((p == text || p[-1] == ' ') && (p[wl] == ' ' || p[wl] == '\n')) n++;
    return n;
}

/* Needles, answers and their counts (spec 1.3-1.10). */
static void check_answers(const ttt_eval_sample *s) {
    const char *c = s->context;
    static const int k_refs[TTT_RULER_N_TASKS] = {1, 1, 1, 1, 1, 1, 4, 4, 5, 10, 3, -1, -1};
    if (k_refs[s->task] > 0) CHECK(s->n_refs == k_refs[s->task]);
    if (s->task < TTT_RULER_QA_1 && s->task != TTT_RULER_VT)
        for (int i = 0; i < s->n_refs; i++) CHECK(strstr(c, s->refs[i]) != NULL);
    if (s->task <= TTT_RULER_NIAH_MULTIQUERY) {
        int needles = occurrences(c, "One of the special magic ");
        static const int k_needles[8] = {1, 1, 1, 4, -1, -1, 4, 4};
        if (k_needles[s->task] > 0) CHECK(needles == k_needles[s->task]);
        else CHECK(needles == s->size + 1); /* every haystack line is a needle */
        for (int i = 0; i < s->n_refs; i++) {
            char needle[200];
            const char *type = s->task == TTT_RULER_NIAH_SINGLE_3 || s->task == TTT_RULER_NIAH_MULTIKEY_3 ? "uuids" : "numbers";
            snprintf(needle, sizeof needle, "One of the special magic %s for ", type);
            CHECK(strstr(c, needle) != NULL);
            snprintf(needle, sizeof needle, " is: %s.", s->refs[i]);
            CHECK(occurrences(c, needle) == 1);
        }
        if (s->task == TTT_RULER_NIAH_SINGLE_3) {
            /* a v4 uuid: 8-4-4-4-12 lower-case hex, version 4, variant 8..b */
            const char *u = s->refs[0];
            CHECK(strlen(u) == 36 && u[8] == '-' && u[13] == '-' && u[14] == '4' && u[18] == '-' && u[23] == '-');
            CHECK(strchr("89ab", u[19]) != NULL);
        }
        if (s->task == TTT_RULER_NIAH_SINGLE_1) CHECK(strlen(s->refs[0]) == 7);
        if (s->task == TTT_RULER_NIAH_SINGLE_1)
            CHECK(occurrences(c, "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.") == s->size);
        if (s->task == TTT_RULER_NIAH_MULTIQUERY) CHECK(occurrences(s->question, ", and ") == 2); /* question and answer prefix */
    } else if (s->task == TTT_RULER_VT) {
        /* the chain: VAR X1 = value, VAR X2 = VAR X1, ... after the one-shot example */
        const char *real = strstr(c + 1, "Memorize and track");
        CHECK(real != NULL);
        if (!real) return;
        char stmt[64];
        const char *val = s->question + 57;
        snprintf(stmt, sizeof stmt, "VAR %s = %.5s", s->refs[0], val);
        CHECK(strstr(real, stmt) != NULL);
        for (int i = 1; i < 5; i++) {
            snprintf(stmt, sizeof stmt, "VAR %s = VAR %s ", s->refs[i], s->refs[i - 1]);
            CHECK(strstr(real, stmt) != NULL);
        }
        CHECK(strlen(s->refs[0]) == 5);
    } else if (s->task == TTT_RULER_CWE) {
        const char *list = strstr(c + 1, "Below is a numbered list");
        CHECK(list != NULL);
        if (!list) return;
        int common = s->length < 4096 ? 6 : 30;
        for (int i = 0; i < 10; i++) CHECK(list_count(list, s->refs[i]) == common);
    } else if (s->task == TTT_RULER_FWE) {
        int top = word_count(c, "..."), a = word_count(c, s->refs[0]), b = word_count(c, s->refs[1]),
            d = word_count(c, s->refs[2]);
        CHECK(top > a && a > b && b > d && d > 0);
    }
}

static void check_fill(const ttt_eval_sample *s) {
    char *full = malloc(strlen(s->context) + strlen(s->question) + 1);
    strcpy(full, s->context);
    strcat(full, s->question);
    int n = count_tokens(full), budget = s->length - s->max_new_tokens;
    CHECK(n == s->prompt_tokens);
    CHECK(n <= budget);
    CHECK(n >= budget * 0.95);
    if (n > budget || n < budget * 0.95)
        fprintf(stderr, "  %s at %d: %d tokens, budget %d\n", ttt_ruler_task_name(s->task), s->length, n, budget);
    free(full);
}

static void test_tasks(void) {
    ttt_qa_set sq, hq;
    CHECK_OK(ttt_qa_parse(k_squad, strlen(k_squad), TTT_QA_SQUAD, "squad", &sq));
    CHECK_OK(ttt_qa_parse(k_hotpot, strlen(k_hotpot), TTT_QA_HOTPOTQA, "hotpot", &hq));
    ttt_ruler_config cfg = {.essay = k_essay, .essay_len = strlen(k_essay), .squad = &sq,
                            .hotpotqa = &hq, .count = ttt_eval_count_words, .seed = 42};
    static const int lengths[] = {1024, 2048, 4096, 16384};
    static const int max_new[TTT_RULER_N_TASKS] = {128, 128, 128, 128, 128, 128, 128, 128, 30, 120, 50, 32, 32};
    for (int t = 0; t < TTT_RULER_N_TASKS; t++)
        for (int li = 0; li < 4; li++) {
            ttt_ruler_gen *g = NULL;
            if (t >= TTT_RULER_QA_1 && li > 0) continue; /* a 3-document pool fills only small lengths */
            int len = t >= TTT_RULER_QA_1 ? 200 : lengths[li];
            CHECK_OK(ttt_ruler_gen_init(&cfg, t, len, &g));
            if (!g) continue;
            for (int i = 0; i < 2; i++) {
                ttt_eval_sample s;
                CHECK_OK(ttt_ruler_gen_sample(g, i, &s));
                CHECK(s.task == t && s.length == len && s.index == i);
                CHECK(s.max_new_tokens == max_new[t]);
                CHECK(s.scorer == (t >= TTT_RULER_QA_1 ? TTT_SCORE_MATCH_PART : TTT_SCORE_MATCH_ALL));
                check_template(&s);
                check_answers(&s);
                if (t < TTT_RULER_QA_1) check_fill(&s);
                ttt_eval_sample_free(&s);
            }
            ttt_ruler_gen_free(g);
        }
    /* QA: the question's gold document is in the context, references are its answers */
    ttt_ruler_gen *g;
    CHECK_OK(ttt_ruler_gen_init(&cfg, TTT_RULER_QA_1, 4096, &g));
    ttt_eval_sample s;
    CHECK_OK(ttt_ruler_gen_sample(g, 0, &s));
    CHECK(strstr(s.context, "Zeta paragraph about the river Ostra") != NULL);
    CHECK(strstr(s.question, "Question: Which river floods in spring? Answer:") != NULL);
    CHECK(s.n_refs == 2 && !strcmp(s.refs[0], "Ostra") && !strcmp(s.refs[1], "the river Ostra"));
    CHECK(occurrences(s.context, "Document ") == 3); /* the whole pool: 3 unique paragraphs */
    ttt_eval_sample_free(&s);
    CHECK_OK(ttt_ruler_gen_sample(g, 1, &s)); /* the impossible question is skipped */
    CHECK(strstr(s.question, "Which is the highest peak?") != NULL);
    ttt_eval_sample_free(&s);
    CHECK_FAILS(ttt_ruler_gen_sample(g, 3, &s), TTT_ERR_ARG, "3 answerable questions");
    ttt_ruler_gen_free(g);
    CHECK_OK(ttt_ruler_gen_init(&cfg, TTT_RULER_QA_2, 4096, &g));
    CHECK_OK(ttt_ruler_gen_sample(g, 0, &s));
    CHECK(strstr(s.context, "Vell tower\nThe Vell tower stands in Darm. It is old.") != NULL);
    CHECK(s.n_refs == 1 && !strcmp(s.refs[0], "Darm"));
    CHECK(occurrences(s.context, "Document ") == 3); /* "Darm" twice in the file, once here */
    ttt_eval_sample_free(&s);
    ttt_ruler_gen_free(g);
    ttt_qa_free(&sq);
    ttt_qa_free(&hq);
}

/* spec 1.10: with fewer documents than the pool, the gold paragraph comes first, then the
 * other paragraphs of its article, then random others */
static void test_qa_choice(void) {
    char json[8192];
    size_t o = (size_t)snprintf(json, sizeof json, "{\"data\":[");
    for (int a = 0; a < 2; a++) {
        o += (size_t)snprintf(json + o, sizeof json - o, "%s{\"paragraphs\":[", a ? "," : "");
        for (int p = 0; p < (a ? 8 : 4); p++)
            o += (size_t)snprintf(json + o, sizeof json - o,
                                  "%s{\"context\":\"Para%c%d tells a short story of twenty words or so, "
                                  "enough to take some tokens in the prompt.\",\"qas\":[{\"question\":"
                                  "\"Q%c%d?\",\"answers\":[{\"text\":\"Para%c%d\"}]}]}",
                                  p ? "," : "", 'A' + a, p, 'A' + a, p, 'A' + a, p);
        o += (size_t)snprintf(json + o, sizeof json - o, "]}");
    }
    snprintf(json + o, sizeof json - o, "]}");
    ttt_qa_set q;
    CHECK_OK(ttt_qa_parse(json, strlen(json), TTT_QA_SQUAD, "fixture", &q));
    CHECK(q.n_docs == 12 && q.n_items == 12);
    ttt_ruler_config cfg = {.squad = &q, .count = ttt_eval_count_words, .seed = 42};
    /* a document is ~26 test tokens; the template ~75; budgets for ~3 and ~7 documents */
    int lens[2] = {32 + 75 + 3 * 27 + 10, 32 + 75 + 7 * 27 + 10};
    for (int k = 0; k < 2; k++) {
        ttt_ruler_gen *g;
        ttt_eval_sample s;
        CHECK_OK(ttt_ruler_gen_init(&cfg, TTT_RULER_QA_1, lens[k], &g));
        if (!g) continue;
        CHECK_OK(ttt_ruler_gen_sample(g, 1, &s)); /* question QA1, gold ParaA1 */
        int docs = occurrences(s.context, "Document "), a_docs = occurrences(s.context, "ParaA");
        CHECK(strstr(s.context, "ParaA1 tells") != NULL);
        CHECK(docs == s.size);
        if (k == 0) CHECK(docs >= 2 && docs <= 4 && a_docs == docs); /* its article only */
        else CHECK(docs >= 6 && a_docs == 4);                        /* whole article + others */
        /* within budget; whole documents are too coarse for the 95% floor at these lengths */
        CHECK(s.prompt_tokens <= lens[k] - 32 && s.prompt_tokens > lens[k] - 32 - 30); /* one more does not fit */
        ttt_eval_sample_free(&s);
        ttt_ruler_gen_free(g);
    }
    ttt_qa_free(&q);
}

static void test_long_and_chat(void) {
    /* 128k for two tasks, and a chat wrapper that must surround the task text */
    ttt_ruler_config cfg = {.count = ttt_eval_count_words, .seed = 7,
                            .chat_user = "<|user|>\n", .chat_assistant = "<|end|>\n<|assistant|>\n"};
    int tasks[2] = {TTT_RULER_NIAH_MULTIKEY_2, TTT_RULER_CWE};
    for (int k = 0; k < 2; k++) {
        ttt_ruler_gen *g;
        CHECK_OK(ttt_ruler_gen_init(&cfg, tasks[k], 131072, &g));
        if (!g) continue;
        ttt_eval_sample s;
        CHECK_OK(ttt_ruler_gen_sample(g, 3, &s));
        check_fill(&s);
        check_answers(&s);
        CHECK(strncmp(s.context, "<|user|>\n", 9) == 0);
        CHECK(strstr(s.question, "<|end|>\n<|assistant|>\n") != NULL);
        CHECK(ends_with(s.question, s.answer_prefix));
        CHECK(strstr(s.question, "<|assistant|>\n") + 14 == s.question + strlen(s.question) - strlen(s.answer_prefix));
        ttt_eval_sample_free(&s);
        ttt_ruler_gen_free(g);
    }
}

static void test_determinism(void) {
    ttt_ruler_config cfg = {.essay = k_essay, .essay_len = strlen(k_essay),
                            .count = ttt_eval_count_words, .seed = 42};
    for (int t = 0; t <= TTT_RULER_FWE; t++) {
        ttt_ruler_gen *a, *b;
        ttt_eval_sample x, y, z;
        CHECK_OK(ttt_ruler_gen_init(&cfg, t, 2048, &a));
        CHECK_OK(ttt_ruler_gen_init(&cfg, t, 2048, &b));
        CHECK_OK(ttt_ruler_gen_sample(a, 5, &x));
        CHECK_OK(ttt_ruler_gen_sample(b, 4, &z)); /* another sample first must not matter */
        CHECK_OK(ttt_ruler_gen_sample(b, 5, &y));
        CHECK(!strcmp(x.context, y.context) && !strcmp(x.question, y.question));
        CHECK(strcmp(x.context, z.context) || strcmp(x.question, z.question));
        ttt_eval_sample_free(&x);
        ttt_eval_sample_free(&y);
        ttt_eval_sample_free(&z);
        ttt_ruler_gen_free(a);
        ttt_ruler_gen_free(b);
        cfg.seed = 43; /* another seed: another prompt */
        CHECK_OK(ttt_ruler_gen_init(&cfg, t, 2048, &a));
        CHECK_OK(ttt_ruler_gen_sample(a, 5, &z));
        cfg.seed = 42;
        CHECK_OK(ttt_ruler_gen_init(&cfg, t, 2048, &b));
        CHECK_OK(ttt_ruler_gen_sample(b, 5, &x));
        CHECK(strcmp(x.context, z.context) || strcmp(x.question, z.question));
        ttt_eval_sample_free(&x);
        ttt_eval_sample_free(&z);
        ttt_ruler_gen_free(a);
        ttt_ruler_gen_free(b);
    }
}

/* spec 1.12: what differs between the 2024 generators and RULER's from May 2025 on */
static void test_versions(void) {
    ttt_ruler_config cfg = {.count = ttt_eval_count_words, .seed = 42};
    for (int v = 2024; v <= 2025; v++) {
        cfg.version = v;
        ttt_ruler_gen *g;
        ttt_eval_sample s;
        CHECK_OK(ttt_ruler_gen_init(&cfg, TTT_RULER_VT, 4096, &g));
        CHECK_OK(ttt_ruler_gen_sample(g, 0, &s));
        check_fill(&s);
        char stmt[64];
        snprintf(stmt, sizeof stmt, v == 2024 ? "again.\n VAR %s = VAR %s  The grass"
                                              : "again.\nVAR %s = VAR %s \nThe grass",
                 s.refs[1], s.refs[0]);
        CHECK(strstr(s.context, stmt) != NULL);
        CHECK(strstr(s.question, v == 2024 ? "5 variables are assgined the value "
                                           : "5 variables are assigned the value ") != NULL);
        /* the one-shot example ends with its 3-letter answers, then 2 (2025: 1) blank lines */
        const char *real = strstr(s.context + 1, "Memorize and track");
        CHECK(real && real - s.context > 20);
        if (real) {
            const char *gap = v == 2024 ? "\n\n\n\nMemorize" : "\n\nMemorize";
            CHECK(!strncmp(real - strlen(gap) + 8, gap, strlen(gap)));
            CHECK(real[-(int)strlen(gap) + 8 - 4] == ' ' && real[-(int)strlen(gap) + 8 - 3] >= 'A');
        }
        ttt_eval_sample_free(&s);
        ttt_ruler_gen_free(g);
        CHECK_OK(ttt_ruler_gen_init(&cfg, TTT_RULER_CWE, 4096, &g));
        CHECK_OK(ttt_ruler_gen_sample(g, 0, &s));
        CHECK(strstr(s.context, v == 2024 ? "appear most often in the list are:1. "
                                          : "appear most often in the list are: 1. ") != NULL);
        check_fill(&s);
        ttt_eval_sample_free(&s);
        ttt_ruler_gen_free(g);
        /* FWE: a vocabulary of length / 50 words (2025: (length - 50) / 50), the top one "...";
         * at 350 tokens (~100 words, "..." is 3 test tokens) all 7 (6) ranks appear */
        CHECK_OK(ttt_ruler_gen_init(&cfg, TTT_RULER_FWE, 350, &g));
        CHECK_OK(ttt_ruler_gen_sample(g, 0, &s));
        check_fill(&s);
        int distinct = 0;
        const char *text = s.context + strlen("Read the following coded text and track the "
                                              "frequency of each coded word. Find the three "
                                              "most frequently appeared coded words. ");
        char seen[200][8];
        for (const char *p = text; *p && *p != '\n';) {
            const char *e = p;
            while (*e && *e != ' ' && *e != '\n') e++;
            bool known = false;
            for (int i = 0; i < distinct && !known; i++)
                known = (size_t)(e - p) == strlen(seen[i]) && !strncmp(seen[i], p, (size_t)(e - p));
            if (!known && distinct < 200 && e - p < 8) {
                memcpy(seen[distinct], p, (size_t)(e - p));
                seen[distinct++][e - p] = 0;
            }
            p = *e == ' ' ? e + 1 : e;
        }
        CHECK(distinct == (v == 2024 ? 7 : 6));
        ttt_eval_sample_free(&s);
        ttt_ruler_gen_free(g);
    }
    cfg.version = 2023;
    ttt_ruler_gen *g;
    CHECK_FAILS(ttt_ruler_gen_init(&cfg, TTT_RULER_VT, 4096, &g), TTT_ERR_ARG, "RULER version 2023");
}

static void test_scorers(void) {
    /* spec 1.11: string_match_all = fraction found, string_match_part = any found;
     * case-insensitive substrings after strip */
    const char *refs[3] = {"1234567", "Apple", "kiwi"};
    CHECK(ttt_eval_score(TTT_SCORE_MATCH_ALL, " the numbers are 1234567 and apple.", refs, 3) == 2.0 / 3);
    CHECK(ttt_eval_score(TTT_SCORE_MATCH_ALL, "KIWI APPLE 1234567", refs, 3) == 1.0);
    CHECK(ttt_eval_score(TTT_SCORE_MATCH_ALL, "nothing", refs, 3) == 0.0);
    CHECK(ttt_eval_score(TTT_SCORE_MATCH_PART, "a kiwi", refs, 3) == 1.0);
    CHECK(ttt_eval_score(TTT_SCORE_MATCH_PART, "none of them", refs, 3) == 0.0);
    CHECK(ttt_eval_score(TTT_SCORE_MATCH_ALL, "pineapples", refs + 1, 1) == 1.0); /* plain substring */
    const char *nl[1] = {"a\nb"};
    CHECK(ttt_eval_score(TTT_SCORE_MATCH_ALL, "  a\tb  ", nl, 1) == 1.0); /* \t becomes \n */
    CHECK(ttt_eval_score(TTT_SCORE_MATCH_ALL, "", refs, 0) == 0.0);
    CHECK(ttt_eval_score(TTT_SCORE_MATCH_ALL, NULL, refs, 3) == 0.0);
}

static void ttt_essay_check_bad_utf8(void) {
    static const char essay[] = "Fine text. Then a bad byte \xfe here.";
    ttt_ruler_config cfg = {.essay = essay, .essay_len = strlen(essay),
                            .count = ttt_eval_count_words, .seed = 42};
    ttt_ruler_gen *g;
    CHECK_FAILS(ttt_ruler_gen_init(&cfg, TTT_RULER_NIAH_SINGLE_2, 4096, &g), TTT_ERR_FORMAT,
                "essay haystack: not UTF-8 at byte 27");
}

static void test_bad_input(void) {
    int t;
    CHECK_FAILS(ttt_ruler_task_parse("niah_single_9", &t), TTT_ERR_ARG, "unknown task 'niah_single_9'");
    CHECK_FAILS(ttt_ruler_task_parse("niah_single_9", &t), TTT_ERR_ARG, "known: niah_single_1, ");
    CHECK_FAILS(ttt_ruler_task_parse("niah_single_9", &t), TTT_ERR_ARG, "qa_2)");
    int list[TTT_RULER_N_TASKS], n;
    CHECK_OK(ttt_ruler_task_list("vt,cwe,vt", list, &n));
    CHECK(n == 2 && list[0] == TTT_RULER_VT && list[1] == TTT_RULER_CWE);
    CHECK_OK(ttt_ruler_task_list("all", list, &n));
    CHECK(n == 13);
    CHECK_FAILS(ttt_ruler_task_list("vt,bogus", list, &n), TTT_ERR_ARG, "unknown task 'bogus'");
    ttt_ruler_config cfg = {.count = ttt_eval_count_words, .seed = 42};
    ttt_ruler_gen *g;
    CHECK_FAILS(ttt_ruler_gen_init(&cfg, TTT_RULER_NIAH_SINGLE_1, 200, &g), TTT_ERR_ARG,
                "niah_single_1: length 200 is too small");
    CHECK_FAILS(ttt_ruler_gen_init(&cfg, TTT_RULER_VT, 120, &g), TTT_ERR_ARG, "vt: length 120 is too small");
    CHECK_FAILS(ttt_ruler_gen_init(&cfg, TTT_RULER_CWE, 100, &g), TTT_ERR_ARG, "cwe: length 100 is too small");
    CHECK_FAILS(ttt_ruler_gen_init(&cfg, TTT_RULER_QA_1, 4096, &g), TTT_ERR_UNSUPPORTED, "qa_1: skipped: no SQuAD");
    CHECK_FAILS(ttt_ruler_gen_init(&cfg, TTT_RULER_QA_2, 4096, &g), TTT_ERR_UNSUPPORTED, "--hotpotqa");
    CHECK_FAILS(ttt_ruler_gen_init(&cfg, TTT_RULER_NIAH_SINGLE_2, 4096, &g), TTT_ERR_UNSUPPORTED, "--haystack");
    ttt_qa_set q;
    CHECK_FAILS(ttt_qa_parse("{\"data\": [", 10, TTT_QA_SQUAD, "sq.json", &q), TTT_ERR_FORMAT, "sq.json: malformed JSON");
    const char *bad = "{\"data\":[{\"paragraphs\":[{\"context\":5,\"qas\":[]}]}]}";
    CHECK_FAILS(ttt_qa_parse(bad, strlen(bad), TTT_QA_SQUAD, "sq.json", &q), TTT_ERR_FORMAT,
                "data[0].paragraphs[0].context");
    bad = "{\"data\":[{\"paragraphs\":[{\"context\":\"c\",\"qas\":[{\"question\":\"q\",\"answers\":[{\"text\":1}]}]}]}]}";
    CHECK_FAILS(ttt_qa_parse(bad, strlen(bad), TTT_QA_SQUAD, "sq.json", &q), TTT_ERR_FORMAT,
                "qas[0].answers");
    bad = "[{\"question\":\"q\",\"answer\":\"a\",\"context\":[[\"t\", \"not a list\"]]}]";
    CHECK_FAILS(ttt_qa_parse(bad, strlen(bad), TTT_QA_HOTPOTQA, "hp.json", &q), TTT_ERR_FORMAT,
                "hp.json: [0].context[0]");
    CHECK_FAILS(ttt_qa_parse("{}", 2, TTT_QA_HOTPOTQA, "hp.json", &q), TTT_ERR_FORMAT, "want a JSON array");
    /* found by fuzz_qa: no documents at all */
    CHECK_FAILS(ttt_qa_parse("[]", 2, TTT_QA_HOTPOTQA, "hp.json", &q), TTT_ERR_FORMAT, "no answerable questions");
    CHECK_FAILS(ttt_qa_parse("{\"data\":[]}", 11, TTT_QA_SQUAD, "sq.json", &q), TTT_ERR_FORMAT, "no answerable questions");
    bad = "[{\"question\":\"q\",\"answer\":\"a\",\"context\":[]}]";
    CHECK_FAILS(ttt_qa_parse(bad, strlen(bad), TTT_QA_HOTPOTQA, "hp.json", &q), TTT_ERR_FORMAT, "[0].context: no documents");
    CHECK_FAILS(ttt_qa_load("/nonexistent/squad.json", TTT_QA_SQUAD, &q), TTT_ERR_IO, "/nonexistent/squad.json");
    ttt_words w;
    CHECK_FAILS(ttt_words_load("/nonexistent", &w), TTT_ERR_IO, "nounlist.txt");
    bad = "[{\"question\":\"q\xff\",\"answer\":\"a\",\"context\":[[\"t\",[\"s\"]]]}]";
    CHECK_FAILS(ttt_qa_parse(bad, strlen(bad), TTT_QA_HOTPOTQA, "hp.json", &q), TTT_ERR_FORMAT, "hp.json: not UTF-8 at byte 15");
    /* word lists: too long a word, bad UTF-8 */
    const char *tmp = getenv("TTT_TEST_TMP");
    char dir[900], path[1000];
    snprintf(dir, sizeof dir, "%s/eval_words_%d", tmp ? tmp : "/tmp", (int)getpid());
    mkdir(dir, 0755);
    static const char *const files[3] = {"nounlist.txt", "adjectivelist.txt", "verblist.txt"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        FILE *f = fopen(path, "wb");
        if (f) fputs(i == 1 ? "good\nx\n" : "apple\nkiwi  \r\n\npear\n", f), fclose(f);
    }
    CHECK_OK(ttt_words_load(dir, &w));
    CHECK(w.n_nouns == 3 && !strcmp(w.nouns[1], "kiwi") && w.n_adjectives == 2);
    ttt_words_free(&w);
    snprintf(path, sizeof path, "%s/verblist.txt", dir);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs("run\n", f);
        for (int i = 0; i < 120; i++) fputc('a', f);
        fputs("\n", f);
        fclose(f);
    }
    CHECK_FAILS(ttt_words_load(dir, &w), TTT_ERR_FORMAT, "verblist.txt: line 2: a word longer than 100 bytes");
    f = fopen(path, "wb");
    if (f) fputs("run\nca\xc3\n", f), fclose(f);
    CHECK_FAILS(ttt_words_load(dir, &w), TTT_ERR_FORMAT, "verblist.txt: not UTF-8 at byte 6");
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    ttt_essay_check_bad_utf8();
}

static void test_words(void) {
    ttt_words w;
    ttt_words_builtin(&w);
    CHECK(w.n_nouns >= 300 && w.n_adjectives >= 200 && w.n_verbs >= 200);
    const char *dir = "/work/shared/data/wonderwords";
    const char *env = getenv("TTT_GOLDEN");
    char path[1024];
    if (env) {
        snprintf(path, sizeof path, "%s/../data/wonderwords", env);
        dir = path;
    }
    if (ttt_words_load(dir, &w) != TTT_OK) {
        fprintf(stderr, "test_eval_ruler: %s absent, RULER word lists not tested\n", dir);
        return;
    }
    /* spec 4: v2.2.0 has 6,786 nouns, 912 adjective lines (910 unique), 1,042 verbs */
    CHECK(w.n_nouns == 6786);
    CHECK(w.n_adjectives == 912);
    CHECK(w.n_verbs == 1042);
    ttt_ruler_config cfg = {.words = &w, .count = ttt_eval_count_words, .seed = 42};
    ttt_ruler_gen *g;
    CHECK_OK(ttt_ruler_gen_init(&cfg, TTT_RULER_NIAH_SINGLE_1, 4096, &g));
    ttt_eval_sample s;
    CHECK_OK(ttt_ruler_gen_sample(g, 0, &s));
    check_fill(&s);
    /* the key is adjective-noun from the lists */
    const char *key = s.question + 37;
    const char *dash = strchr(key, '-');
    CHECK(dash != NULL);
    bool adj = false;
    for (int i = 0; dash && i < w.n_adjectives; i++)
        adj |= strlen(w.adjectives[i]) == (size_t)(dash - key) && !strncmp(w.adjectives[i], key, (size_t)(dash - key));
    CHECK(adj);
    ttt_eval_sample_free(&s);
    ttt_ruler_gen_free(g);
    ttt_words_free(&w);
}

int main(void) {
    test_tasks();
    test_qa_choice();
    test_sentences();
    test_long_and_chat();
    test_determinism();
    test_versions();
    test_scorers();
    test_bad_input();
    test_words();
    return check_summary("test_eval_ruler");
}
