/* kv.c - the per-session KV cache: one float32 K and V row per position and
 * layer, allocated for n_ctx positions up front so a long generation never
 * reallocates mid-stream. MLA layers store only the latent row (V empty). */
#include <stdlib.h>

#include "kv.h"

int rt_kv_init(rt_kv *kv, const rt_model *m, int32_t n_ctx)
{
    const rt_hparams *hp = &m->hp;
    kv->n_layer = hp->n_layer;
    kv->n_ctx = n_ctx;
    kv->k = calloc((size_t)hp->n_layer, sizeof *kv->k);
    kv->v = calloc((size_t)hp->n_layer, sizeof *kv->v);
    if (!kv->k || !kv->v) goto oom;
    for (int32_t il = 0; il < hp->n_layer; il++) {
        kv->k[il] = malloc(sizeof(float) * (size_t)n_ctx * (size_t)hp->kv_k_dim);
        if (!kv->k[il]) goto oom;
        if (hp->kv_v_dim > 0) {
            kv->v[il] = malloc(sizeof(float) * (size_t)n_ctx * (size_t)hp->kv_v_dim);
            if (!kv->v[il]) goto oom;
        }
    }
    return 0;
oom:
    rt_kv_free(kv);
    return -1;
}

void rt_kv_free(rt_kv *kv)
{
    for (int32_t il = 0; il < kv->n_layer; il++) {
        if (kv->k) free(kv->k[il]);
        if (kv->v) free(kv->v[il]);
    }
    free(kv->k);
    free(kv->v);
    kv->k = kv->v = NULL;
    kv->n_layer = 0;
}

size_t rt_kv_bytes(const rt_model *m, int32_t n_ctx)
{
    const rt_hparams *hp = &m->hp;
    return sizeof(float) * (size_t)n_ctx * (size_t)hp->n_layer *
           (size_t)(hp->kv_k_dim + hp->kv_v_dim);
}

size_t rt_kv_bytes_per_token(const rt_model *m)
{
    return rt_kv_bytes(m, 1);
}
