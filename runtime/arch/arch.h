/* arch.h - private: the per-layer blocks the architecture files compose. */
#ifndef SWARM_RT_ARCH_H
#define SWARM_RT_ARCH_H

#include "model.h"

/* Attention sub-layers of layer il over nb batch rows (each with its own
 * sequence and position): read the rows of s->x, add their output to them,
 * write each row's K/V at its position. Rows of one sequence must come in
 * position order; all their KV rows are written before any row attends. */
void rt_attn_gqa(const rt_model *m, const rt_layer *ly, int32_t il, rt_scratch *s,
                 const rt_row *rows, int32_t nb);
void rt_attn_mla(const rt_model *m, const rt_layer *ly, int32_t il, rt_scratch *s,
                 const rt_row *rows, int32_t nb);

/* FFN sub-layers: norm the nb rows of s->x, add the FFN output to them. */
void rt_ffn_block(const rt_model *m, const rt_layer *ly, rt_scratch *s, int32_t nb);

/* One output of rt_matmul_multi: y[b * ldy + r] = W[r,:] . x[b] (expert
 * slice of a 3-D weight). */
typedef struct {
    float *y;
    int64_t ldy;
    const rt_weight *w;
    int64_t expert;
} rt_mm_out;
#define RT_MM_MAX 4
/* rt_matmul for up to RT_MM_MAX weights of the same input width against the
 * same nb activation rows, as one parallel job (falls back to one rt_matmul
 * each when the types have no common integer path). */
void rt_matmul_multi(rt_pool *pool, const rt_mm_out *outs, int n_outs, const float *x, int64_t ldx,
                     int64_t nb);

/* The integer matmuls hand the pool units of RT_ROW_GROUP weight rows, so a
 * thread's range starts and ends on a multiple of 16 rows (of each weight,
 * of each expert): a layout that interleaves groups of up to 16 rows (weight
 * repacking at load) is never cut. Only the last group of a weight is short. */
#define RT_ROW_GROUP 16

/* vd->gemm over nr rows (row_bytes apart) and nt quantized activation rows,
 * in row tiles small enough to stay in L2 while each token group reuses
 * them; the same bits as one gemm call (a kernel's result per (row, token)
 * does not depend on the split). */
void rt_gemm_tiled(const rt_vec_dot_traits *vd, const uint8_t *w, size_t row_bytes, int64_t nr,
                   const uint8_t *xq, size_t xq_stride, int64_t nt, int64_t n, float *y,
                   int64_t ldy);

/* Router: choose n_expert_used experts and their weights from router logits
 * (modified in place). Exposed for tests. */
void rt_moe_route(const rt_hparams *hp, const rt_weight *probs_bias, float *logits, float *scratch,
                  int32_t *ids, float *weights);

#endif
