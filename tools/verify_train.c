/* verify_train.c - the training checks of `ttt verify`: --grads compares every parameter
 * gradient of the mean next-token loss with DIR/grads.safetensors; --adamw replays the
 * adamw_trajectory rows of DIR/expected.json (loss before each step, grad norm before
 * clipping, and the loss after the last step). Losses must agree to tol, grad norms to
 * 100 tol. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "verify_train.h"

/* Labels: the ids shifted by one; the last position has none (-100). */
static int32_t *labels_of(const int32_t *ids, int T) {
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)T);
    if (!lab) return NULL;
    for (int i = 0; i + 1 < T; i++) lab[i] = ids[i + 1];
    lab[T - 1] = -100;
    return lab;
}

int verify_grads(const char *dir, ttt_model *m, const int32_t *ids, int T, double tol,
                 int device) {
    char path[4096];
    snprintf(path, sizeof path, "%s/grads.safetensors", dir);
    ttt_tensors *ref = NULL;
    ttt_trainer *tr = NULL;
    int32_t *lab = labels_of(ids, T);
    float *buf = NULL;
    int fails = 0, rc = 1;
    ttt_train_params p = ttt_train_default_params();
    p.device = device;
    double loss = 0;
    if (!lab) goto fail;
    if (ttt_tensors_open(path, &ref) != TTT_OK || ttt_trainer_init(m, &p, &tr) != TTT_OK ||
        ttt_trainer_step(tr, ids, lab, NULL, 1, T, &loss) != TTT_OK)
        goto fail;
    printf("%s: gradients of the mean next-token loss (%d tokens), loss %.7f\n", dir, T, loss);
    const int n = ttt_tensors_count(ref);
    if (n != ttt_trainer_n_tensors(tr)) {
        printf("  %d gradient tensors in %s, the model has %d parameters  FAIL\n", n, path,
               ttt_trainer_n_tensors(tr));
        fails++;
    }
    double worst = 0;
    for (int i = 0; i < n; i++) {
        ttt_tensor_info ti;
        ttt_train_tensor ours;
        if (ttt_tensors_get(ref, i, &ti) != TTT_OK) goto fail;
        if (ttt_trainer_find(tr, ti.name, &ours) != TTT_OK || ours.n_elements != ti.n_elements) {
            printf("  %-44s missing or of another size  FAIL\n", ti.name);
            fails++;
            continue;
        }
        free(buf);
        buf = malloc(sizeof(float) * (ti.n_elements ? ti.n_elements : 1));
        if (!buf || ttt_tensor_to_f32(&ti, buf) != TTT_OK) goto fail;
        double e = verify_max_rel(ours.grad, buf, ti.n_elements);
        int ok = e < tol;
        fails += !ok;
        worst = e > worst ? e : worst;
        if (!ok) printf("  %-44s max rel err %.3e  FAIL\n", ti.name, e);
    }
    printf("  %d gradient tensors, worst max rel err %.3e\n", n, worst);
    printf("%s: %s\n", dir, fails ? "FAILED" : "all gradients match");
    rc = fails ? 1 : 0;
    goto done;
fail:
    fprintf(stderr, "ttt verify: %s\n", lab ? ttt_last_error() : "out of memory");
done:
    free(buf);
    free(lab);
    ttt_trainer_free(tr);
    ttt_tensors_close(ref);
    return rc;
}

static cJSON *read_json(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = malloc(1 << 20);
    size_t len = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
    int big = !feof(f);
    fclose(f);
    cJSON *root = NULL;
    if (text && !big) {
        text[len] = 0;
        root = cJSON_Parse(text);
    }
    free(text);
    return root;
}

/* One policy's trajectory; returns failures (-1 when it cannot run). */
static int trajectory(const char *name, const cJSON *rows, ttt_model *m, const int32_t *ids,
                      const int32_t *lab, int T, double tol, int device) {
    ttt_train_params p = ttt_train_default_params();
    p.device = device;
    if (!strcmp(name, "all")) p.policy = TTT_TRAIN_ALL;
    else if (!strcmp(name, "adapter")) p.policy = TTT_TRAIN_ADAPTER;
    else if (!strcmp(name, "ttt")) p.policy = TTT_TRAIN_TTT;
    else {
        fprintf(stderr, "ttt verify: adamw_trajectory: unknown policy '%s'\n", name);
        return -1;
    }
    ttt_trainer *tr;
    if (ttt_trainer_init(m, &p, &tr) != TTT_OK) {
        fprintf(stderr, "ttt verify: %s\n", ttt_last_error());
        return -1;
    }
    int fails = 0, k = 0;
    const cJSON *row;
    printf("  policy %s (%d trainable tensors)\n", name, ttt_trainer_n_tensors(tr));
    cJSON_ArrayForEach(row, rows) {
        const cJSON *l = cJSON_GetArrayItem(row, 0), *gn = cJSON_GetArrayItem(row, 1);
        double loss, norm = 0;
        if (!cJSON_IsNumber(l) || ttt_trainer_step(tr, ids, lab, NULL, 1, T, &loss) != TTT_OK) {
            fprintf(stderr, "ttt verify: adamw_trajectory %s row %d: %s\n", name, k,
                    cJSON_IsNumber(l) ? ttt_last_error() : "not [loss, norm]");
            fails = -1;
            break;
        }
        double el = fabs(loss - l->valuedouble) / fabs(l->valuedouble);
        int ok = el < tol;
        if (cJSON_IsNumber(gn)) {
            if (ttt_trainer_apply(tr, &norm, NULL) != TTT_OK) {
                fprintf(stderr, "ttt verify: %s\n", ttt_last_error());
                fails = -1;
                break;
            }
            double en = fabs(norm - gn->valuedouble) / fabs(gn->valuedouble);
            /* the norm is a sensitive function of the weights (a near-clip step amplifies
             * float32 rounding), so it is held to a looser bound than the loss */
            ok = ok && en < 100 * tol;
            printf("    step %2d  loss %.7f (ref %.7f, rel %.1e)  grad norm %.6f (ref %.6f, rel "
                   "%.1e)  %s\n", k + 1, loss, l->valuedouble, el, norm, gn->valuedouble, en,
                   ok ? "ok" : "FAIL");
        } else {
            printf("    final    loss %.7f (ref %.7f, rel %.1e)  %s\n", loss, l->valuedouble,
                   el, ok ? "ok" : "FAIL");
        }
        fails += !ok;
        k++;
    }
    ttt_trainer_free(tr);
    return fails;
}

int verify_adamw(const char *dir, ttt_model *m, const int32_t *ids, int T, double tol,
                 int device) {
    char path[4096];
    snprintf(path, sizeof path, "%s/expected.json", dir);
    cJSON *root = read_json(path);
    const cJSON *traj = cJSON_GetObjectItemCaseSensitive(root, "adamw_trajectory");
    const cJSON *note = cJSON_GetObjectItemCaseSensitive(root, "adamw_note");
    int32_t *lab = labels_of(ids, T);
    int fails = 0;
    if (!cJSON_IsObject(traj) || !lab) {
        fprintf(stderr, "ttt verify: %s: no adamw_trajectory object\n", path);
        fails = -1;
    } else {
        ttt_train_params p = ttt_train_default_params();
        printf("%s: AdamW lr %g betas (%g, %g) eps %g weight decay %g clip %g, 10 steps on "
               "input_ids\n", dir, p.lr, p.beta1, p.beta2, p.eps, p.weight_decay,
               p.max_grad_norm);
        if (cJSON_IsString(note)) printf("  reference: %s\n", note->valuestring);
        const cJSON *pol;
        cJSON_ArrayForEach(pol, traj) {
            int f = trajectory(pol->string, pol, m, ids, lab, T, tol, device);
            if (f < 0) {
                fails = -1;
                break;
            }
            fails += f;
        }
    }
    if (fails >= 0) printf("%s: %s\n", dir, fails ? "FAILED" : "all AdamW steps match");
    free(lab);
    cJSON_Delete(root);
    return fails ? 1 : 0;
}
