/* loss.c - mean next-token cross-entropy over the labels that are not -100 (HF's ignore
 * index), with Gemma's final soft-cap; the logits are replaced by d loss / d logits. */
#include "train/train.h"

double tr_loss(ttt_trainer *t, const int32_t *labels_host, float scale) {
    const int N = t->B * t->T;
    int count = 0;
    for (int i = 0; i < N; i++) count += labels_host[i] != -100;
    const float g = count ? scale / (float)count : 0.0f;
    const double total = t->ops->loss(t->logits, t->lab, N, t->cfg.n_vocab,
                                      t->cfg.final_softcap, g);
    return count ? total / count : 0.0;
}
