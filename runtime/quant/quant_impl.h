/* quant_impl.h - private to runtime/quant/: the kernels each type-family file
 * exports to the dispatch table in quant.c, and small shared helpers. */
#ifndef SWARM_QUANT_IMPL_H
#define SWARM_QUANT_IMPL_H

#include "quant.h"

#include <math.h>
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
RT_DECL_KERNELS(q4_0)
RT_DECL_KERNELS(q4_1)
RT_DECL_KERNELS(q5_0)
RT_DECL_KERNELS(q5_1)
RT_DECL_KERNELS(q8_0)
RT_DECL_KERNELS(q8_1)
RT_DECL_KERNELS(q2_K)
RT_DECL_KERNELS(q3_K)
RT_DECL_KERNELS(q4_K)
RT_DECL_KERNELS(q5_K)
RT_DECL_KERNELS(q6_K)
RT_DECL_KERNELS(q8_K)
RT_DECL_KERNELS(mxfp4)

static inline uint16_t rt_rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

float rt_vec_dot_q8_0(const void *w, const void *xq, int64_t n);
float rt_vec_dot_q4_0(const void *w, const void *xq, int64_t n);
float rt_vec_dot_q5_0(const void *w, const void *xq, int64_t n);
float rt_vec_dot_q4_K(const void *w, const void *xq, int64_t n);
float rt_vec_dot_q5_K(const void *w, const void *xq, int64_t n);
float rt_vec_dot_q6_K(const void *w, const void *xq, int64_t n);
float rt_vec_dot_mxfp4(const void *w, const void *xq, int64_t n);

/* Any vec_dot as a gemm: one call per (row, token) pair. */
void rt_gemm_generic(float (*vec_dot)(const void *, const void *, int64_t), const void *w,
                     size_t w_stride, int64_t nr, const void *xq, size_t x_stride, int64_t nt,
                     int64_t n, float *out, int64_t ldo);

/* 1 when the AVX-512 VNNI kernels of avx512.c can run here. */
int rt_cpu_has_avx512vnni(void);
#if defined(__x86_64__) || defined(__i386__)
#define RT_HAVE_AVX512_KERNELS 1
void rt_quantize_q8_0_avx512(const float *src, void *dst, int64_t n);
void rt_quantize_q8_K_avx512(const float *src, void *dst, int64_t n);
#define RT_DECL_GEMM(t)                                                                            \
    void rt_gemm_##t##_avx512(const void *w, size_t w_stride, int64_t nr, const void *xq,          \
                              size_t x_stride, int64_t nt, int64_t n, float *out, int64_t ldo);    \
    float rt_vec_dot_##t##_avx512(const void *w, const void *xq, int64_t n);
RT_DECL_GEMM(q8_0)
RT_DECL_GEMM(q4_K)
RT_DECL_GEMM(q6_K)
RT_DECL_GEMM(mxfp4)
#undef RT_DECL_GEMM
#endif

/* 1 when the AVX2 + FMA + F16C kernels of avx2.c can run here. */
int rt_cpu_has_avx2(void);
#if defined(__x86_64__) || defined(__i386__)
#define RT_HAVE_AVX2_KERNELS 1
float rt_dot_f32_avx2(const void *w, const float *x, int64_t n);
float rt_dot_f16_avx2(const void *w, const float *x, int64_t n);
float rt_dot_bf16_avx2(const void *w, const float *x, int64_t n);
float rt_dot_q8_0_avx2(const void *w, const float *x, int64_t n);
float rt_dot_q8_K_avx2(const void *w, const float *x, int64_t n);
float rt_dot_q4_0_avx2(const void *w, const float *x, int64_t n);
float rt_dot_q5_0_avx2(const void *w, const float *x, int64_t n);
float rt_dot_q4_K_avx2(const void *w, const float *x, int64_t n);
float rt_dot_q5_K_avx2(const void *w, const float *x, int64_t n);
float rt_dot_q6_K_avx2(const void *w, const float *x, int64_t n);
float rt_dot_mxfp4_avx2(const void *w, const float *x, int64_t n);
void rt_dequant_f16_avx2(const void *src, float *dst, int64_t n);
void rt_dequant_bf16_avx2(const void *src, float *dst, int64_t n);
void rt_dequant_q8_0_avx2(const void *src, float *dst, int64_t n);
void rt_dequant_q8_K_avx2(const void *src, float *dst, int64_t n);
void rt_dequant_q4_0_avx2(const void *src, float *dst, int64_t n);
void rt_dequant_q5_0_avx2(const void *src, float *dst, int64_t n);
void rt_dequant_q4_K_avx2(const void *src, float *dst, int64_t n);
void rt_dequant_q5_K_avx2(const void *src, float *dst, int64_t n);
void rt_dequant_q6_K_avx2(const void *src, float *dst, int64_t n);
void rt_dequant_mxfp4_avx2(const void *src, float *dst, int64_t n);
float rt_dot_q4_1_avx2(const void *w, const float *x, int64_t n);
float rt_dot_q5_1_avx2(const void *w, const float *x, int64_t n);
float rt_dot_q2_K_avx2(const void *w, const float *x, int64_t n);
float rt_dot_q3_K_avx2(const void *w, const float *x, int64_t n);
void rt_dequant_q4_1_avx2(const void *src, float *dst, int64_t n);
void rt_dequant_q5_1_avx2(const void *src, float *dst, int64_t n);
void rt_dequant_q2_K_avx2(const void *src, float *dst, int64_t n);
void rt_dequant_q3_K_avx2(const void *src, float *dst, int64_t n);
float rt_vec_dot_q8_0_avx2(const void *w, const void *xq, int64_t n);
float rt_vec_dot_q4_0_avx2(const void *w, const void *xq, int64_t n);
float rt_vec_dot_q5_0_avx2(const void *w, const void *xq, int64_t n);
float rt_vec_dot_q4_K_avx2(const void *w, const void *xq, int64_t n);
float rt_vec_dot_q5_K_avx2(const void *w, const void *xq, int64_t n);
float rt_vec_dot_q6_K_avx2(const void *w, const void *xq, int64_t n);
float rt_vec_dot_mxfp4_avx2(const void *w, const void *xq, int64_t n);
#endif

/* MXFP4: E2M1 values doubled as integers, and 2^(e - 128), half the E8M0
 * scale (exact for every e; subnormal for e < 2); their product is the
 * element's value. */
static const int8_t rt_e2m1_x2[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
static inline float rt_e8m0_half(uint8_t e)
{
    uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline void rt_wr16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

static inline float rt_rdh(const uint8_t *p)
{
    return rt_fp16_to_f32(rt_rd16(p));
}

/* Q4_K/Q5_K: the 6-bit scale and min of sub-block j (0..7) from the block's
 * 12 packed bytes q (j < 4: low 6 bits of q[j], q[j+4]; j >= 4: a nibble of
 * q[j+4] plus the top 2 bits of q[j-4] / q[j]). */
static inline void rt_k_scale_min(const uint8_t *q, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Q3_K: the sixteen signed scales (6 bits, minus 32) from the 12 packed bytes
 * p: low 4 bits in p[s] (s < 8) or the high nibble of p[s-8], top 2 bits at
 * bits 2*(s/4) of p[8 + s%4]. */
static inline void rt_q3_K_scales(const uint8_t *p, int *sc)
{
    for (int s = 0; s < 16; s++) {
        int lo = s < 8 ? (p[s] & 0xF) : (p[s - 8] >> 4);
        int hi = (p[8 + s % 4] >> (2 * (s / 4))) & 3;
        sc[s] = (lo | (hi << 4)) - 32;
    }
}

/* Q6_K: the four signed 6-bit codes (minus 32) that share position l of half
 * h: a = ql[64h + l], c = ql[64h + l + 32], hb = qh[32h + l]; q[g] is the code
 * of element 128h + 32g + l. */
static inline void rt_q6_K_codes(int a, int c, int hb, int q[4])
{
    q[0] = ((a & 0xF) | ((hb & 3) << 4)) - 32;
    q[1] = ((c & 0xF) | (((hb >> 2) & 3) << 4)) - 32;
    q[2] = ((a >> 4) | (((hb >> 4) & 3) << 4)) - 32;
    q[3] = ((c >> 4) | (((hb >> 6) & 3) << 4)) - 32;
}

/* Dot of n (a multiple of 8) floats with 8 independent partial sums, the
 * shape compilers turn into SIMD lanes. */
static inline float rt_dot_block(const float *a, const float *x, int n)
{
    float s[8] = {0};
    for (int i = 0; i < n; i += 8)
        for (int k = 0; k < 8; k++)
            s[k] += a[i + k] * x[i + k];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

/* Round to nearest (ties to even) without a libm call: adding 1.5 * 2^23
 * leaves the rounded integer in the low mantissa bits. Valid for
 * |f| < 2^22; larger values and NaN (possible only for garbage input) are
 * clamped so callers' own clamps still apply and nothing is undefined. */
static inline int rt_nearest_int(float f)
{
    if (!(fabsf(f) < 4194303.0f)) return f > 0 ? 4194303 : (f < 0 ? -4194303 : 0);
    float v = f + 12582912.0f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

#endif
