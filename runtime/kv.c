/* kv.c - the per-session KV cache: one K and V row per position and layer,
 * float32 or float16 (half the bytes per position, so twice the context or
 * slots in the same memory budget), allocated for n_ctx positions up front
 * so a long generation never reallocates mid-stream. MLA layers store only
 * the latent row (V empty). */
#include <stdlib.h>
#include <string.h>

#include "kv.h"

size_t rt_kv_elem_size(rt_kv_type type)
{
    return type == RT_KV_F16 ? sizeof(uint16_t) : sizeof(float);
}

int rt_kv_init(rt_kv *kv, const rt_model *m, int32_t n_ctx, rt_kv_type type)
{
    const rt_hparams *hp = &m->hp;
    const size_t es = rt_kv_elem_size(type);
    kv->n_layer = hp->n_layer;
    kv->n_ctx = n_ctx;
    kv->type = type;
    kv->k = calloc((size_t)hp->n_layer, sizeof *kv->k);
    kv->v = calloc((size_t)hp->n_layer, sizeof *kv->v);
    if (!kv->k || !kv->v) goto oom;
    for (int32_t il = 0; il < hp->n_layer; il++) {
        kv->k[il] = malloc(es * (size_t)n_ctx * (size_t)hp->kv_k_dim);
        if (!kv->k[il]) goto oom;
        if (hp->kv_v_dim > 0) {
            kv->v[il] = malloc(es * (size_t)n_ctx * (size_t)hp->kv_v_dim);
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
    return rt_kv_bytes_type(m, n_ctx, RT_KV_F32);
}

size_t rt_kv_bytes_type(const rt_model *m, int32_t n_ctx, rt_kv_type type)
{
    const rt_hparams *hp = &m->hp;
    return rt_kv_elem_size(type) * (size_t)n_ctx * (size_t)hp->n_layer *
           (size_t)(hp->kv_k_dim + hp->kv_v_dim);
}

size_t rt_kv_bytes_per_token_type(const rt_model *m, rt_kv_type type)
{
    return rt_kv_bytes_type(m, 1, type);
}

size_t rt_kv_bytes_per_token(const rt_model *m)
{
    return rt_kv_bytes_type(m, 1, RT_KV_F32);
}

int rt_kv_type_parse(const char *s, rt_kv_type *out)
{
    if (strcmp(s, "f32") == 0) {
        *out = RT_KV_F32;
        return 0;
    }
    if (strcmp(s, "f16") == 0) {
        *out = RT_KV_F16;
        return 0;
    }
    return -1;
}

const char *rt_kv_type_name(rt_kv_type t)
{
    return t == RT_KV_F16 ? "f16" : "f32";
}
