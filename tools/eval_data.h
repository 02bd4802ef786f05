/* eval_data.h - the data options of the RULER commands (`ttt eval`, `ttt ruler-gen`): word
 * lists, essay haystack, QA files, seed; loaded into a ttt_ruler_config. */
#ifndef TTT_TOOLS_EVAL_DATA_H
#define TTT_TOOLS_EVAL_DATA_H

#include "eval/eval.h"

typedef struct eval_data {
    const char *words_dir, *haystack, *squad, *hotpotqa; /* options; NULL: not given */
    int version;                                         /* --ruler-version; 0: 2024 */
    ttt_words words;
    ttt_qa_set sq, hq;
    char *essay;
    size_t essay_len;
} eval_data;

#define EVAL_DATA_HELP                                                                   \
    "  --words DIR        nounlist.txt, adjectivelist.txt, verblist.txt (RULER's\n"     \
    "                     wonderwords lists); default: the built-in lists\n"            \
    "  --haystack FILE    essay haystack text (niah_single_2/3, multikey_1, multivalue,\n" \
    "                     multiquery are skipped without it)\n"                          \
    "  --squad FILE       SQuAD v2 dev JSON (qa_1; skipped without it)\n"               \
    "  --hotpotqa FILE    HotpotQA dev-distractor JSON (qa_2; skipped without it)\n"   \
    "  --ruler-version Y  2024 (default: the generators of the published numbers) or 2025\n"

/* Parses argv[*i] if it is a data option: 1 consumed, 0 not ours, -1 error (printed). */
int eval_data_parse(eval_data *d, int argc, char **argv, int *i);
/* Loads what the options name and fills the data fields of cfg; prints an error naming the
 * command and returns -1 on failure. */
int eval_data_load(eval_data *d, const char *cmd, ttt_ruler_config *cfg);
void eval_data_free(eval_data *d);

/* "4k,8k,131072" -> lengths (k = 1024); returns the count, -1 on error (printed). */
int eval_parse_lengths(const char *opt, const char *s, int *out, int max);

#endif
