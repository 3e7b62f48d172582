/* quant_impl.h - private to runtime/quant/: the kernels each type-family file
 * exports to the dispatch table in quant.c, and small shared helpers. */
#ifndef SWARM_QUANT_IMPL_H
#define SWARM_QUANT_IMPL_H

#include "quant.h"

#include <stdint.h>
#include <string.h>

#define RT_QK_K 256

#define RT_DECL_KERNELS(t)                                                                         \
    void rt_dequant_##t(const void *src, float *dst, int64_t n);                                   \
    void rt_quantize_##t(const float *src, void *dst, int64_t n);                                  \
    float rt_dot_##t(const void *w, const float *x, int64_t n);

RT_DECL_KERNELS(f32)
RT_DECL_KERNELS(f16)
RT_DECL_KERNELS(bf16)

static inline uint16_t rt_rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

#endif
