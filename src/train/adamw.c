/* adamw.c - the optimizer step: global-norm clipping as torch.nn.utils.clip_grad_norm_
 * (coefficient max_norm / (norm + 1e-6), at most 1), AdamW as torch.optim.AdamW (decoupled
 * decay p *= 1 - lr wd; bias-corrected moments; denominator sqrt(v / bc2) + eps), and the
 * learning-rate schedule (linear warm-up, then constant, linear or cosine decay to lr_min). */
#include <math.h>

#include "train/train.h"
#include "util/err.h"

double ttt_trainer_lr_at(const ttt_trainer *t, int64_t step) {
    if (!t) return 0;
    const ttt_train_params *p = &t->p;
    int64_t warm = p->warmup_steps;
    if (warm == 0 && p->warmup_ratio > 0) warm = (int64_t)ceil(p->warmup_ratio * p->total_steps);
    if (step < warm) return p->lr * (double)(step + 1) / (double)warm;
    if (p->decay == TTT_LR_CONSTANT || p->total_steps <= warm) return p->lr;
    double prog = (double)(step - warm) / (double)(p->total_steps - warm);
    prog = prog < 0 ? 0 : prog > 1 ? 1 : prog;
    const double f = p->decay == TTT_LR_LINEAR ? 1.0 - prog
                                               : 0.5 * (1.0 + cos(3.14159265358979323846 * prog));
    return p->lr_min + (p->lr - p->lr_min) * f;
}

ttt_status ttt_trainer_apply(ttt_trainer *t, double *grad_norm, double *lr_out) {
    if (!t) return ttt_err(TTT_ERR_ARG, "ttt_trainer_apply: NULL trainer");
    ttt_status st = tr_device_view(t);
    if (st != TTT_OK) return st;
    const size_t n = t->n_train_el;
    const double norm = sqrt(t->be->sumsq(t->gbuf, n));
    if ((st = t->be->sync()) != TTT_OK) return st;
    if (!isfinite(norm))
        return ttt_err(TTT_ERR_ARG, "trainer: the gradient norm is not finite (step %lld)",
                       (long long)t->step);
    float clip = 1.0f;
    if (t->p.max_grad_norm > 0) {
        double coef = t->p.max_grad_norm / (norm + 1e-6);
        clip = coef < 1.0 ? (float)coef : 1.0f;
    }
    const double lr = ttt_trainer_lr_at(t, t->step);
    t->step++;
    const double b1 = t->p.beta1, b2 = t->p.beta2;
    const tr_adamw_args h = {.clip = clip,
                             .decay = (float)(1.0 - lr * t->p.weight_decay),
                             .step_size = (float)(lr / (1.0 - pow(b1, (double)t->step))),
                             .bc2_sqrt = (float)sqrt(1.0 - pow(b2, (double)t->step)),
                             .eps = (float)t->p.eps, .b1 = (float)b1, .b2 = (float)b2};
    t->ops->adamw(t->wbuf, t->gbuf, t->mbuf, t->vbuf, n, &h);
    t->be->zero(t->gbuf, sizeof(float) * n);
    t->host_stale = t->on_device;
    if ((st = t->be->sync()) != TTT_OK) return st;
    if (grad_norm) *grad_norm = norm;
    if (lr_out) *lr_out = lr;
    return TTT_OK;
}
