/* arch.h - private: the per-layer blocks the architecture files compose. */
#ifndef SWARM_RT_ARCH_H
#define SWARM_RT_ARCH_H

#include "model.h"

/* Attention sub-layers over nb tokens at positions pos0..: read the rows of
 * s->x, add their output to them, write the KV rows. */
void rt_attn_gqa(const rt_model *m, const rt_layer *ly, rt_scratch *s, float *kc, float *vc,
                 int32_t pos0, int32_t nb);
void rt_attn_mla(const rt_model *m, const rt_layer *ly, rt_scratch *s, float *kc, int32_t pos0,
                 int32_t nb);

/* FFN sub-layers: norm the nb rows of s->x, add the FFN output to them. */
void rt_ffn_block(const rt_model *m, const rt_layer *ly, rt_scratch *s, int32_t nb);

/* Router: choose n_expert_used experts and their weights from router logits
 * (modified in place). Exposed for tests. */
void rt_moe_route(const rt_hparams *hp, const rt_weight *probs_bias, float *logits, float *scratch,
                  int32_t *ids, float *weights);

#endif
