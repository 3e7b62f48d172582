/* quant.c - the tensor-type dispatch table, exact fp16/bf16 conversions, and
 * the unquantized float kernels (F32, F16, BF16).
 *
 * Block geometry is listed for every ggml type id the GGUF format defines,
 * so the loader can validate any file; kernels exist only for the types
 * named in the table below, and rt_type_get() returns NULL for the rest. */
#include "quant_impl.h"

/* Dequantized values must not depend on whether the compiler fuses a
 * multiply and an add: the scalar and vector kernels must agree bit for bit.
 * (GCC never fuses in ISO C mode, -std=c11, which the build uses.) */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

typedef struct {
    const char *name;
    int64_t blck;
    size_t tsize;
} type_geom;

/* ggml type geometry - name, elements per block, bytes per block - written
 * once here: geom[] (every id the GGUF format defines; gaps are ids ggml has
 * retired) and the kernel tables below take their first fields from these. */
#define G_f32 "f32", 1, 4
#define G_f16 "f16", 1, 2
#define G_q4_0 "q4_0", 32, 18
#define G_q4_1 "q4_1", 32, 20
#define G_q5_0 "q5_0", 32, 22
#define G_q5_1 "q5_1", 32, 24
#define G_q8_0 "q8_0", 32, 34
#define G_q8_1 "q8_1", 32, 36
#define G_q2_K "q2_K", 256, 84
#define G_q3_K "q3_K", 256, 110
#define G_q4_K "q4_K", 256, 144
#define G_q5_K "q5_K", 256, 176
#define G_q6_K "q6_K", 256, 210
#define G_q8_K "q8_K", 256, 292
#define G_iq2_xxs "iq2_xxs", 256, 66
#define G_iq2_xs "iq2_xs", 256, 74
#define G_iq3_xxs "iq3_xxs", 256, 98
#define G_iq1_s "iq1_s", 256, 50
#define G_iq4_nl "iq4_nl", 32, 18
#define G_iq3_s "iq3_s", 256, 110
#define G_iq2_s "iq2_s", 256, 82
#define G_iq4_xs "iq4_xs", 256, 136
#define G_i8 "i8", 1, 1
#define G_i16 "i16", 1, 2
#define G_i32 "i32", 1, 4
#define G_i64 "i64", 1, 8
#define G_f64 "f64", 1, 8
#define G_iq1_m "iq1_m", 256, 56
#define G_bf16 "bf16", 1, 2
#define G_tq1_0 "tq1_0", 256, 54
#define G_tq2_0 "tq2_0", 256, 66
#define G_mxfp4 "mxfp4", 32, 17

static const type_geom geom[RT_TYPE_COUNT] = {
    [0] = {G_f32},     [1] = {G_f16},      [2] = {G_q4_0},   [3] = {G_q4_1},    [6] = {G_q5_0},
    [7] = {G_q5_1},    [8] = {G_q8_0},     [9] = {G_q8_1},   [10] = {G_q2_K},   [11] = {G_q3_K},
    [12] = {G_q4_K},   [13] = {G_q5_K},    [14] = {G_q6_K},  [15] = {G_q8_K},   [16] = {G_iq2_xxs},
    [17] = {G_iq2_xs}, [18] = {G_iq3_xxs}, [19] = {G_iq1_s}, [20] = {G_iq4_nl}, [21] = {G_iq3_s},
    [22] = {G_iq2_s},  [23] = {G_iq4_xs},  [24] = {G_i8},    [25] = {G_i16},    [26] = {G_i32},
    [27] = {G_i64},    [28] = {G_f64},     [29] = {G_iq1_m}, [30] = {G_bf16},   [34] = {G_tq1_0},
    [35] = {G_tq2_0},  [39] = {G_mxfp4},
};

/* Types with kernels (geometry from the G_* list above).
 * The scalar table is the reference; the AVX2 one swaps in the dequant and
 * dot_f32 kernels of avx2.c where it has them (quantizers stay scalar). */
#define K(t) G_##t, rt_dequant_##t, rt_quantize_##t, rt_dot_##t
static const rt_type_traits traits_scalar[RT_TYPE_COUNT] = {
    [RT_TYPE_F32] = {K(f32)},     [RT_TYPE_F16] = {K(f16)},   [RT_TYPE_BF16] = {K(bf16)},
    [RT_TYPE_Q4_0] = {K(q4_0)},   [RT_TYPE_Q4_1] = {K(q4_1)}, [RT_TYPE_Q5_0] = {K(q5_0)},
    [RT_TYPE_Q5_1] = {K(q5_1)},   [RT_TYPE_Q8_0] = {K(q8_0)}, [RT_TYPE_Q8_1] = {K(q8_1)},
    [RT_TYPE_Q2_K] = {K(q2_K)},   [RT_TYPE_Q3_K] = {K(q3_K)}, [RT_TYPE_Q4_K] = {K(q4_K)},
    [RT_TYPE_Q5_K] = {K(q5_K)},   [RT_TYPE_Q6_K] = {K(q6_K)}, [RT_TYPE_Q8_K] = {K(q8_K)},
    [RT_TYPE_MXFP4] = {K(mxfp4)},
};

#ifdef RT_HAVE_AVX2_KERNELS
#define A(t) G_##t, rt_dequant_##t##_avx2, rt_quantize_##t, rt_dot_##t##_avx2
static const rt_type_traits traits_avx2[RT_TYPE_COUNT] = {
    [RT_TYPE_F32] = {G_f32, rt_dequant_f32, rt_quantize_f32, rt_dot_f32_avx2},
    [RT_TYPE_F16] = {A(f16)},
    [RT_TYPE_BF16] = {A(bf16)},
    [RT_TYPE_Q4_0] = {A(q4_0)},
    [RT_TYPE_Q4_1] = {A(q4_1)},
    [RT_TYPE_Q5_0] = {A(q5_0)},
    [RT_TYPE_Q5_1] = {A(q5_1)},
    [RT_TYPE_Q8_0] = {A(q8_0)},
    [RT_TYPE_Q8_1] = {K(q8_1)},
    [RT_TYPE_Q2_K] = {A(q2_K)},
    [RT_TYPE_Q3_K] = {A(q3_K)},
    [RT_TYPE_Q4_K] = {A(q4_K)},
    [RT_TYPE_Q5_K] = {A(q5_K)},
    [RT_TYPE_Q6_K] = {A(q6_K)},
    [RT_TYPE_Q8_K] = {A(q8_K)},
    [RT_TYPE_MXFP4] = {A(mxfp4)},
};
#undef A
#endif
#undef K

void rt_gemm_generic(float (*vec_dot)(const void *, const void *, int64_t), const void *w,
                     size_t w_stride, int64_t nr, const void *xq, size_t x_stride, int64_t nt,
                     int64_t n, float *out, int64_t ldo)
{
    for (int64_t r = 0; r < nr; r++)
        for (int64_t t = 0; t < nt; t++)
            out[t * ldo + r] = vec_dot((const uint8_t *)w + (size_t)r * w_stride,
                                       (const uint8_t *)xq + (size_t)t * x_stride, n);
}

#define GEN_GEMM(fn)                                                                               \
    static void gemm_##fn(const void *w, size_t ws, int64_t nr, const void *xq, size_t xs,         \
                          int64_t nt, int64_t n, float *out, int64_t ldo)                          \
    {                                                                                              \
        rt_gemm_generic(fn, w, ws, nr, xq, xs, nt, n, out, ldo);                                   \
    }
GEN_GEMM(rt_vec_dot_q8_0)
GEN_GEMM(rt_vec_dot_q4_0)
GEN_GEMM(rt_vec_dot_q5_0)
GEN_GEMM(rt_vec_dot_q4_K)
GEN_GEMM(rt_vec_dot_q5_K)
GEN_GEMM(rt_vec_dot_q6_K)
GEN_GEMM(rt_vec_dot_mxfp4)
#define VD(act, fn, q)                                                                             \
    {                                                                                              \
        RT_TYPE_##act, fn, gemm_##fn, q                                                            \
    }

static const rt_vec_dot_traits vd_scalar[RT_TYPE_COUNT] = {
    [RT_TYPE_Q8_0] = VD(Q8_0, rt_vec_dot_q8_0, rt_quantize_q8_0),
    [RT_TYPE_Q4_0] = VD(Q8_0, rt_vec_dot_q4_0, rt_quantize_q8_0),
    [RT_TYPE_Q5_0] = VD(Q8_0, rt_vec_dot_q5_0, rt_quantize_q8_0),
    [RT_TYPE_Q4_K] = VD(Q8_K, rt_vec_dot_q4_K, rt_quantize_q8_K),
    [RT_TYPE_Q5_K] = VD(Q8_K, rt_vec_dot_q5_K, rt_quantize_q8_K),
    [RT_TYPE_Q6_K] = VD(Q8_K, rt_vec_dot_q6_K, rt_quantize_q8_K),
    [RT_TYPE_MXFP4] = VD(Q8_0, rt_vec_dot_mxfp4, rt_quantize_q8_0),
};
#ifdef RT_HAVE_AVX2_KERNELS
GEN_GEMM(rt_vec_dot_q8_0_avx2)
GEN_GEMM(rt_vec_dot_q4_0_avx2)
GEN_GEMM(rt_vec_dot_q5_0_avx2)
GEN_GEMM(rt_vec_dot_q4_K_avx2)
GEN_GEMM(rt_vec_dot_q5_K_avx2)
GEN_GEMM(rt_vec_dot_q6_K_avx2)
GEN_GEMM(rt_vec_dot_mxfp4_avx2)
static const rt_vec_dot_traits vd_avx2[RT_TYPE_COUNT] = {
    [RT_TYPE_Q8_0] = VD(Q8_0, rt_vec_dot_q8_0_avx2, rt_quantize_q8_0),
    [RT_TYPE_Q4_0] = VD(Q8_0, rt_vec_dot_q4_0_avx2, rt_quantize_q8_0),
    [RT_TYPE_Q5_0] = VD(Q8_0, rt_vec_dot_q5_0_avx2, rt_quantize_q8_0),
    [RT_TYPE_Q4_K] = VD(Q8_K, rt_vec_dot_q4_K_avx2, rt_quantize_q8_K),
    [RT_TYPE_Q5_K] = VD(Q8_K, rt_vec_dot_q5_K_avx2, rt_quantize_q8_K),
    [RT_TYPE_Q6_K] = VD(Q8_K, rt_vec_dot_q6_K_avx2, rt_quantize_q8_K),
    [RT_TYPE_MXFP4] = VD(Q8_0, rt_vec_dot_mxfp4_avx2, rt_quantize_q8_0),
};
#endif
#ifdef RT_HAVE_AVX512_KERNELS
/* VNNI multi-token kernels where they exist; elsewhere the AVX2 integer dot
 * (with the vectorised quantizers, which are bit-identical to the scalar) */
#define VN(act, t, q)                                                                              \
    {                                                                                              \
        RT_TYPE_##act, rt_vec_dot_##t##_avx512, rt_gemm_##t##_avx512, q                            \
    }
static const rt_vec_dot_traits vd_avx512[RT_TYPE_COUNT] = {
    [RT_TYPE_Q8_0] = VN(Q8_0, q8_0, rt_quantize_q8_0_avx512),
    [RT_TYPE_Q4_0] = VD(Q8_0, rt_vec_dot_q4_0_avx2, rt_quantize_q8_0_avx512),
    [RT_TYPE_Q5_0] = VD(Q8_0, rt_vec_dot_q5_0_avx2, rt_quantize_q8_0_avx512),
    [RT_TYPE_Q4_K] = VN(Q8_K, q4_K, rt_quantize_q8_K_avx512),
    [RT_TYPE_Q5_K] = VD(Q8_K, rt_vec_dot_q5_K_avx2, rt_quantize_q8_K_avx512),
    [RT_TYPE_Q6_K] = VN(Q8_K, q6_K, rt_quantize_q8_K_avx512),
    [RT_TYPE_MXFP4] = VN(Q8_0, mxfp4, rt_quantize_q8_0_avx512),
};
#undef VN
#endif
#undef VD
#undef GEN_GEMM

const rt_vec_dot_traits *rt_type_vec_dot_scalar(uint32_t type)
{
    if (type >= RT_TYPE_COUNT || !vd_scalar[type].vec_dot) return NULL;
    return &vd_scalar[type];
}

const rt_vec_dot_traits *rt_type_vec_dot_isa(uint32_t type, const char *isa)
{
    if (type >= RT_TYPE_COUNT || !vd_scalar[type].vec_dot) return NULL;
    if (strcmp(isa, "scalar") == 0) return &vd_scalar[type];
#ifdef RT_HAVE_AVX2_KERNELS
    if (strcmp(isa, "avx2") == 0 && rt_cpu_has_avx2()) return &vd_avx2[type];
#endif
#ifdef RT_HAVE_AVX512_KERNELS
    if (strcmp(isa, "avx512vnni") == 0 && rt_cpu_has_avx512vnni()) return &vd_avx512[type];
#endif
    return NULL;
}

const rt_vec_dot_traits *rt_type_vec_dot(uint32_t type)
{
    if (type >= RT_TYPE_COUNT || !vd_scalar[type].vec_dot) return NULL;
#ifdef RT_HAVE_AVX512_KERNELS
    if (rt_cpu_has_avx512vnni()) return &vd_avx512[type];
#endif
#ifdef RT_HAVE_AVX2_KERNELS
    if (rt_cpu_has_avx2()) return &vd_avx2[type];
#endif
    return &vd_scalar[type];
}

int rt_type_block_info(uint32_t type, int64_t *blck_size, size_t *type_size)
{
    if (type >= RT_TYPE_COUNT || geom[type].blck == 0) return -1;
    *blck_size = geom[type].blck;
    *type_size = geom[type].tsize;
    return 0;
}

const rt_type_traits *rt_type_get_scalar(uint32_t type)
{
    if (type >= RT_TYPE_COUNT || !traits_scalar[type].dequant) return NULL;
    return &traits_scalar[type];
}

const rt_type_traits *rt_type_get(uint32_t type)
{
    if (type >= RT_TYPE_COUNT || !traits_scalar[type].dequant) return NULL;
#ifdef RT_HAVE_AVX2_KERNELS
    /* a cached CPU-feature read (libgcc fills it at start-up): cheap per call */
    if (rt_cpu_has_avx2()) return &traits_avx2[type];
#endif
    return &traits_scalar[type];
}

const char *rt_type_name(uint32_t type)
{
    /* Unknown ids get a fixed string: no per-call buffer, no mutable state. */
    if (type >= RT_TYPE_COUNT || !geom[type].name) return "unknown type";
    return geom[type].name;
}

size_t rt_type_row_size(uint32_t type, int64_t n)
{
    int64_t b;
    size_t ts;
    if (rt_type_block_info(type, &b, &ts) < 0 || n < 0 || n % b != 0) return 0;
    return (size_t)(n / b) * ts;
}

/* ---- exact half-precision conversions ---- */

static inline uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float rt_fp16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24 is exact in float */
        float v = (float)mant * 5.9604644775390625e-8f;
        return u2f(f2u(v) | sign);
    }
    if (exp == 31) return u2f(sign | 0x7f800000u | (mant << 13));
    return u2f(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t rt_f32_to_fp16(float f)
{
    uint32_t u = f2u(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) /* NaN: keep it quiet and keep the top payload bits */
        return (uint16_t)(sign | 0x7e00 | ((a >> 13) & 0x3ff));
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* >= 65520 rounds to inf */
    if (a < 0x38800000u) {                                  /* below 2^-14: subnormal */
        uint32_t exp = a >> 23;
        if (exp < 102) return sign; /* below half the smallest subnormal */
        uint32_t mant = (a & 0x7fffff) | 0x800000, shift = 126 - exp;
        uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = (a - 0x38000000u) >> 13, rem = a & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

float rt_bf16_to_f32(uint16_t h)
{
    return u2f((uint32_t)h << 16);
}

uint16_t rt_f32_to_bf16(float f)
{
    uint32_t u = f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

/* ---- F32 / F16 / BF16 kernels ---- */

void rt_dequant_f32(const void *src, float *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void rt_quantize_f32(const float *src, void *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

float rt_dot_f32(const void *w, const float *x, int64_t n)
{
    const float *a = w; /* may be unaligned in theory; GGUF data is 32-aligned */
    float s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            s[k] += a[i + k] * x[i + k];
    for (; i < n; i++)
        s[0] += a[i] * x[i];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

void rt_dequant_f16(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = rt_fp16_to_f32(rt_rd16(p + 2 * i));
}

void rt_quantize_f16(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = rt_f32_to_fp16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

float rt_dot_f16(const void *w, const float *x, int64_t n)
{
    const uint8_t *p = w;
    float s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            s[k] += rt_fp16_to_f32(rt_rd16(p + 2 * (i + k))) * x[i + k];
    for (; i < n; i++)
        s[0] += rt_fp16_to_f32(rt_rd16(p + 2 * i)) * x[i];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

void rt_dequant_bf16(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = rt_bf16_to_f32(rt_rd16(p + 2 * i));
}

void rt_quantize_bf16(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = rt_f32_to_bf16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

float rt_dot_bf16(const void *w, const float *x, int64_t n)
{
    const uint8_t *p = w;
    float s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            s[k] += rt_bf16_to_f32(rt_rd16(p + 2 * (i + k))) * x[i + k];
    for (; i < n; i++)
        s[0] += rt_bf16_to_f32(rt_rd16(p + 2 * i)) * x[i];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}
