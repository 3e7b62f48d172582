/* arch.h - private: the per-layer blocks the architecture files compose. */
#ifndef SWARM_RT_ARCH_H
#define SWARM_RT_ARCH_H

#include "model.h"

/* Attention sub-layers: read s->x, add their output to s->x, write KV row pos. */
void rt_attn_gqa(const rt_model *m, const rt_layer *ly, rt_scratch *s, float *kc, float *vc,
                 int32_t pos);
void rt_attn_mla(const rt_model *m, const rt_layer *ly, rt_scratch *s, float *kc, int32_t pos);

/* FFN sub-layers: norm s->x, add the FFN output to s->x. */
void rt_ffn_block(const rt_model *m, const rt_layer *ly, rt_scratch *s);

/* Router: choose n_expert_used experts and their weights from router logits
 * (modified in place). Exposed for tests. */
void rt_moe_route(const rt_hparams *hp, const rt_weight *probs_bias, float *logits, float *scratch,
                  int32_t *ids, float *weights);

#endif
