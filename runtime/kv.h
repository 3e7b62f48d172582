/* kv.h - private: the per-session float32 KV cache. */
#ifndef SWARM_RT_KV_H
#define SWARM_RT_KV_H

#include "model.h"

typedef struct {
    int32_t n_layer, n_ctx;
    float **k, **v; /* [n_layer] -> [n_ctx][kv_k_dim | kv_v_dim] */
} rt_kv;

int rt_kv_init(rt_kv *kv, const rt_model *m, int32_t n_ctx);
void rt_kv_free(rt_kv *kv);
size_t rt_kv_bytes(const rt_model *m, int32_t n_ctx);

#endif
