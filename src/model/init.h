/* init.h - checkpoint layout helpers shared by `ttt init` and later writers. */
#ifndef TTT_MODEL_INIT_H
#define TTT_MODEL_INIT_H

#include <cjson/cJSON.h>

#include "io/safetensors.h"
#include "model/config.h"

/* A preset's config.json object (caller deletes), or NULL for an unknown name. */
cJSON *ttt_preset_config(const char *name);

/* What each checkpoint tensor is, for initialisation. */
typedef enum ttt_tensor_role {
    TTT_ROLE_MATRIX,    /* linear and embedding weights: N(0, initializer_range^2) */
    TTT_ROLE_NORM,      /* RMSNorm scale: 1, or 0 where the norm uses 1 + w */
    TTT_ROLE_TTT_CONV,  /* depthwise kernel */
    TTT_ROLE_TTT_PROJ,  /* W_target: zero with a random diagonal (official init) */
} ttt_tensor_role;

typedef struct ttt_tensor_list {
    int n;
    ttt_st_desc *descs;     /* [n] names point into names */
    ttt_tensor_role *roles; /* [n] */
    char *names;            /* storage of all names */
} ttt_tensor_list;

/* Every tensor a checkpoint of config c holds, in HF names and shapes, stored as dtype. */
ttt_status ttt_tensor_list_make(const ttt_config *c, ttt_dtype dtype, ttt_tensor_list *out);
void ttt_tensor_list_free(ttt_tensor_list *l);

/* The standard normal number k of tensor t under seed (counter-based: any order, any
 * thread gives the same value). */
float ttt_init_normal(uint64_t seed, int t, uint64_t k);
/* "0,6,12" into a JSON array of layer indices; opt names the option in errors. */
ttt_status ttt_init_parse_layers(const char *spec, const char *opt, cJSON **out);

#endif
