/* loss.c - mean next-token cross-entropy over the labels that are not -100 (HF's ignore
 * index), with Gemma's final soft-cap; the logits are replaced by d loss / d logits. */
#include <math.h>

#include "train/train.h"

double tr_loss(ttt_trainer *t, float scale) {
    const ttt_config *c = &t->cfg;
    const int N = t->B * t->T, V = c->n_vocab;
    const float cap = c->final_softcap;
    int count = 0;
    for (int i = 0; i < N; i++) count += t->lab[i] != -100;
    const float g = count ? scale / (float)count : 0.0f;
    double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static) if ((size_t)N * V > TR_PAR_MIN)
    for (int i = 0; i < N; i++) {
        float *l = t->logits + (size_t)i * V;
        const int y = t->lab[i];
        if (y == -100) {
            for (int j = 0; j < V; j++) l[j] = 0.0f;
            continue;
        }
        if (cap > 0)
            for (int j = 0; j < V; j++) l[j] = cap * tanhf(l[j] / cap);
        float mx = l[0];
        for (int j = 1; j < V; j++) mx = l[j] > mx ? l[j] : mx;
        double sum = 0;
        for (int j = 0; j < V; j++) sum += exp((double)(l[j] - mx));
        const double lse = mx + log(sum);
        total += lse - l[y];
        for (int j = 0; j < V; j++) {
            float p = (float)exp(l[j] - lse);
            float d = (p - (j == y ? 1.0f : 0.0f)) * g;
            if (cap > 0) {
                float th = l[j] / cap;
                d *= 1.0f - th * th;
            }
            l[j] = d;
        }
    }
    return count ? total / count : 0.0;
}
