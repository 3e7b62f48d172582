/* avx2.c - AVX2 + FMA + F16C kernels: dot_f32 for F32, F16, BF16, Q8_0,
 * Q8_K, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and MXFP4;
 * dequantize for the same types but F32; the integer vec_dot against
 * quantized activations for Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K and MXFP4; and
 * rt_cpu_has_avx2, the run-time check quant.c selects them by.
 *
 * Each kernel computes exactly what the scalar one in q_*.c does (same
 * codes, same scales) but in a different summation order, so results agree
 * within float rounding; test_quant checks that on every type. The file
 * compiles everywhere; the functions exist only on x86, built with a target
 * attribute so the rest of the library needs no -mavx2, and quant.c picks
 * them at run time when the CPU has the features. */
#include "quant_impl.h"

/* Dequantized values must not depend on whether the compiler fuses a
 * multiply and an add: the scalar and vector kernels must agree bit for bit.
 * (GCC never fuses in ISO C mode, -std=c11, which the build uses.) */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define RT_AVX2 __attribute__((target("avx2,fma,f16c")))

RT_AVX2 static inline float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* fp16 scale via F16C: the scalar converter branches, and these kernels
 * read one or two scales per 32 elements */
RT_AVX2 static inline float h2f(const uint8_t *p)
{
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(rt_rd16(p))));
}

/* sum_i q[i] * x[i] for 16 int8 codes, added into acc */
RT_AVX2 static inline __m256 dot16_i8(__m128i q, const float *x, __m256 acc)
{
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), _mm256_loadu_ps(x), acc);
    q = _mm_srli_si128(q, 8);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), _mm256_loadu_ps(x + 8),
                           acc);
}

RT_AVX2 static inline __m256 dot32_i8(__m256i q, const float *x, __m256 acc)
{
    acc = dot16_i8(_mm256_castsi256_si128(q), x, acc);
    return dot16_i8(_mm256_extracti128_si256(q, 1), x + 16, acc);
}

RT_AVX2 static inline __m256 sum32(const float *x)
{
    __m256 a = _mm256_add_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8));
    __m256 b = _mm256_add_ps(_mm256_loadu_ps(x + 16), _mm256_loadu_ps(x + 24));
    return _mm256_add_ps(a, b);
}

RT_AVX2 float rt_dot_f32_avx2(const void *w, const float *x, int64_t n)
{
    const float *a = w;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(x + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(x + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(x + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(x + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(x + i), s0);
    float s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++)
        s += a[i] * x[i];
    return s;
}

RT_AVX2 float rt_dot_f16_avx2(const void *w, const float *x, int64_t n)
{
    const uint8_t *p = w;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 2 * i)));
        __m256 a1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 2 * i + 16)));
        s0 = _mm256_fmadd_ps(a0, _mm256_loadu_ps(x + i), s0);
        s1 = _mm256_fmadd_ps(a1, _mm256_loadu_ps(x + i + 8), s1);
    }
    float s = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        s += rt_fp16_to_f32(rt_rd16(p + 2 * i)) * x[i];
    return s;
}

RT_AVX2 static inline __m256 bf16x8(const uint8_t *p)
{
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

RT_AVX2 float rt_dot_bf16_avx2(const void *w, const float *x, int64_t n)
{
    const uint8_t *p = w;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(bf16x8(p + 2 * i), _mm256_loadu_ps(x + i), s0);
        s1 = _mm256_fmadd_ps(bf16x8(p + 2 * i + 16), _mm256_loadu_ps(x + i + 8), s1);
    }
    float s = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        s += rt_bf16_to_f32(rt_rd16(p + 2 * i)) * x[i];
    return s;
}

RT_AVX2 float rt_dot_q8_0_avx2(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++, b += 34, x += 32) {
        __m256 bs = dot32_i8(_mm256_loadu_si256((const __m256i *)(b + 2)), x, _mm256_setzero_ps());
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b)), bs, acc);
    }
    return hsum(acc);
}

RT_AVX2 float rt_dot_q8_K_avx2(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += 292, x += RT_QK_K) {
        __m256 bs = _mm256_setzero_ps();
        for (int k = 0; k < RT_QK_K; k += 32)
            bs = dot32_i8(_mm256_loadu_si256((const __m256i *)(b + 4 + k)), x + k, bs);
        float d;
        memcpy(&d, b, 4);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), bs, acc);
    }
    return hsum(acc);
}

/* 16 packed bytes -> 32 nibbles in element order (low nibbles = 0..15,
 * high nibbles = 16..31), as the legacy types lay them out */
RT_AVX2 static inline __m256i nibbles32(const uint8_t *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    __m128i m = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}

RT_AVX2 float rt_dot_q4_0_avx2(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    __m256 acc = _mm256_setzero_ps();
    const __m256i eight = _mm256_set1_epi8(8);
    for (int64_t i = 0; i < n / 32; i++, b += 18, x += 32) {
        __m256i q = _mm256_sub_epi8(nibbles32(b + 2), eight);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b)), dot32_i8(q, x, _mm256_setzero_ps()), acc);
    }
    return hsum(acc);
}

/* 32 bits -> 32 bytes holding 0x10 where the bit is set */
RT_AVX2 static inline __m256i bits_to_0x10(uint32_t bits)
{
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303ll, 0x0202020202020202ll,
                                           0x0101010101010101ll, 0x0000000000000000ll);
    const __m256i sel = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), shuf);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, sel), sel);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

RT_AVX2 float rt_dot_q5_0_avx2(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    __m256 acc = _mm256_setzero_ps();
    const __m256i sixteen = _mm256_set1_epi8(16);
    for (int64_t i = 0; i < n / 32; i++, b += 22, x += 32) {
        uint32_t qh;
        memcpy(&qh, b + 2, 4);
        __m256i q = _mm256_or_si256(nibbles32(b + 6), bits_to_0x10(qh));
        q = _mm256_sub_epi8(q, sixteen);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b)), dot32_i8(q, x, _mm256_setzero_ps()), acc);
    }
    return hsum(acc);
}

/* The 64 codes of chunk c (0..3) of a Q4_K/Q5_K block: lo = its first 32 (low
 * nibbles), hi = its last 32 (high nibbles), plus the 5th bit from qh for Q5_K.
 * Shared by the float dot, the dequantizer and the integer vec_dot. */
RT_AVX2 static inline void q45_codes(const uint8_t *qs, __m256i qh, int c, int five, __m256i *lo,
                                     __m256i *hi)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
    *lo = _mm256_and_si256(v, m4);
    *hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    if (five) {
        __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one);
        __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one);
        *lo = _mm256_or_si256(*lo, _mm256_slli_epi16(h0, 4));
        *hi = _mm256_or_si256(*hi, _mm256_slli_epi16(h1, 4));
    }
}

/* Q4_K and Q5_K share everything but where the codes' 5th bit comes from. */
RT_AVX2 static inline float dot_q45_K(const uint8_t *b, const float *x, int64_t n, int five)
{
    const size_t bs = five ? 176 : 144;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += bs, x += RT_QK_K) {
        float d = h2f(b), dmin = h2f(b + 2);
        const uint8_t *qs = b + (five ? 48 : 16);
        __m256i qh = five ? _mm256_loadu_si256((const __m256i *)(b + 16)) : _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i lo, hi;
            q45_codes(qs, qh, c, five, &lo, &hi);
            int s0, m0, s1, m1;
            rt_k_scale_min(b + 4, 2 * c, &s0, &m0);
            rt_k_scale_min(b + 4, 2 * c + 1, &s1, &m1);
            const float *x0 = x + 64 * c, *x1 = x0 + 32;
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)s0),
                                  dot32_i8(lo, x0, _mm256_setzero_ps()), acc);
            acc = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * (float)m0), sum32(x0), acc);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)s1),
                                  dot32_i8(hi, x1, _mm256_setzero_ps()), acc);
            acc = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * (float)m1), sum32(x1), acc);
        }
    }
    return hsum(acc);
}

RT_AVX2 float rt_dot_q4_K_avx2(const void *w, const float *x, int64_t n)
{
    return dot_q45_K(w, x, n, 0);
}

RT_AVX2 float rt_dot_q5_K_avx2(const void *w, const float *x, int64_t n)
{
    return dot_q45_K(w, x, n, 1);
}

RT_AVX2 float rt_dot_q6_K_avx2(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
    const __m256i k32 = _mm256_set1_epi8(32);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += 210, x += RT_QK_K) {
        const int8_t *sc = (const int8_t *)(b + 192);
        float d = h2f(b + 208);
        for (int h = 0; h < 2; h++) {
            __m256i qa = _mm256_loadu_si256((const __m256i *)(b + 64 * h));
            __m256i qc = _mm256_loadu_si256((const __m256i *)(b + 64 * h + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * h));
            __m256i low[4] = {_mm256_and_si256(qa, m4), _mm256_and_si256(qc, m4),
                              _mm256_and_si256(_mm256_srli_epi16(qa, 4), m4),
                              _mm256_and_si256(_mm256_srli_epi16(qc, 4), m4)};
            for (int g = 0; g < 4; g++) {
                __m256i hb = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), m3);
                __m256i q = _mm256_sub_epi8(_mm256_or_si256(low[g], _mm256_slli_epi16(hb, 4)), k32);
                const float *xg = x + 128 * h + 32 * g;
                int s = 8 * h + 2 * g;
                __m256 a0 = dot16_i8(_mm256_castsi256_si128(q), xg, _mm256_setzero_ps());
                __m256 a1 = dot16_i8(_mm256_extracti128_si256(q, 1), xg + 16, _mm256_setzero_ps());
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc[s]), a0, acc);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc[s + 1]), a1, acc);
            }
        }
    }
    return hsum(acc);
}

RT_AVX2 float rt_dot_mxfp4_avx2(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    const __m128i tab = _mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++, b += 17, x += 32) {
        __m256i nib = nibbles32(b + 1);
        __m256i q = _mm256_shuffle_epi8(_mm256_set_m128i(tab, tab), nib);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(rt_e8m0_half(b[0])),
                              dot32_i8(q, x, _mm256_setzero_ps()), acc);
    }
    return hsum(acc);
}

/* ---- dequantization: the same float operations as the scalar code (a
 * multiply, then a subtract for the types with mins; never fused), so the
 * results are bit-identical ---- */

RT_AVX2 static inline void put16_i8(__m128i q, __m256 d, __m256 m, float *y)
{
    __m256 a = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
    __m256 b = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8)));
    _mm256_storeu_ps(y, _mm256_sub_ps(_mm256_mul_ps(d, a), m));
    _mm256_storeu_ps(y + 8, _mm256_sub_ps(_mm256_mul_ps(d, b), m));
}

RT_AVX2 static inline void put32_i8(__m256i q, __m256 d, __m256 m, float *y)
{
    put16_i8(_mm256_castsi256_si128(q), d, m, y);
    put16_i8(_mm256_extracti128_si256(q, 1), d, m, y + 16);
}

RT_AVX2 void rt_dequant_f16_avx2(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 2 * i))));
    for (; i < n; i++)
        dst[i] = rt_fp16_to_f32(rt_rd16(p + 2 * i));
}

RT_AVX2 void rt_dequant_bf16_avx2(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, bf16x8(p + 2 * i));
    for (; i < n; i++)
        dst[i] = rt_bf16_to_f32(rt_rd16(p + 2 * i));
}

RT_AVX2 void rt_dequant_q8_0_avx2(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    const __m256 z = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++, b += 34, dst += 32)
        put32_i8(_mm256_loadu_si256((const __m256i *)(b + 2)), _mm256_set1_ps(h2f(b)), z, dst);
}

RT_AVX2 void rt_dequant_q8_K_avx2(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    const __m256 z = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += 292, dst += RT_QK_K) {
        float d;
        memcpy(&d, b, 4);
        for (int k = 0; k < RT_QK_K; k += 32)
            put32_i8(_mm256_loadu_si256((const __m256i *)(b + 4 + k)), _mm256_set1_ps(d), z,
                     dst + k);
    }
}

RT_AVX2 void rt_dequant_q4_0_avx2(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    const __m256 z = _mm256_setzero_ps();
    const __m256i eight = _mm256_set1_epi8(8);
    for (int64_t i = 0; i < n / 32; i++, b += 18, dst += 32)
        put32_i8(_mm256_sub_epi8(nibbles32(b + 2), eight), _mm256_set1_ps(h2f(b)), z, dst);
}

RT_AVX2 void rt_dequant_q5_0_avx2(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    const __m256 z = _mm256_setzero_ps();
    const __m256i sixteen = _mm256_set1_epi8(16);
    for (int64_t i = 0; i < n / 32; i++, b += 22, dst += 32) {
        uint32_t qh;
        memcpy(&qh, b + 2, 4);
        __m256i q = _mm256_sub_epi8(_mm256_or_si256(nibbles32(b + 6), bits_to_0x10(qh)), sixteen);
        put32_i8(q, _mm256_set1_ps(h2f(b)), z, dst);
    }
}

RT_AVX2 static inline void deq_q45_K(const uint8_t *b, float *y, int64_t n, int five)
{
    const size_t bs = five ? 176 : 144;
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += bs, y += RT_QK_K) {
        float d = h2f(b), dmin = h2f(b + 2);
        const uint8_t *qs = b + (five ? 48 : 16);
        __m256i qh = five ? _mm256_loadu_si256((const __m256i *)(b + 16)) : _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i lo, hi;
            q45_codes(qs, qh, c, five, &lo, &hi);
            int s0, m0, s1, m1;
            rt_k_scale_min(b + 4, 2 * c, &s0, &m0);
            rt_k_scale_min(b + 4, 2 * c + 1, &s1, &m1);
            put32_i8(lo, _mm256_set1_ps(d * (float)s0), _mm256_set1_ps(dmin * (float)m0),
                     y + 64 * c);
            put32_i8(hi, _mm256_set1_ps(d * (float)s1), _mm256_set1_ps(dmin * (float)m1),
                     y + 64 * c + 32);
        }
    }
}

RT_AVX2 void rt_dequant_q4_K_avx2(const void *src, float *dst, int64_t n)
{
    deq_q45_K(src, dst, n, 0);
}

RT_AVX2 void rt_dequant_q5_K_avx2(const void *src, float *dst, int64_t n)
{
    deq_q45_K(src, dst, n, 1);
}

RT_AVX2 void rt_dequant_q6_K_avx2(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
    const __m256i k32 = _mm256_set1_epi8(32);
    const __m256 z = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += 210, dst += RT_QK_K) {
        const int8_t *sc = (const int8_t *)(b + 192);
        float d = h2f(b + 208);
        for (int h = 0; h < 2; h++) {
            __m256i qa = _mm256_loadu_si256((const __m256i *)(b + 64 * h));
            __m256i qc = _mm256_loadu_si256((const __m256i *)(b + 64 * h + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * h));
            __m256i low[4] = {_mm256_and_si256(qa, m4), _mm256_and_si256(qc, m4),
                              _mm256_and_si256(_mm256_srli_epi16(qa, 4), m4),
                              _mm256_and_si256(_mm256_srli_epi16(qc, 4), m4)};
            for (int g = 0; g < 4; g++) {
                __m256i hb = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), m3);
                __m256i q = _mm256_sub_epi8(_mm256_or_si256(low[g], _mm256_slli_epi16(hb, 4)), k32);
                int s = 8 * h + 2 * g;
                float *yg = dst + 128 * h + 32 * g;
                put16_i8(_mm256_castsi256_si128(q), _mm256_set1_ps(d * (float)sc[s]), z, yg);
                put16_i8(_mm256_extracti128_si256(q, 1), _mm256_set1_ps(d * (float)sc[s + 1]), z,
                         yg + 16);
            }
        }
    }
}

RT_AVX2 void rt_dequant_mxfp4_avx2(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    const __m128i tab = _mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
    const __m256 z = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++, b += 17, dst += 32) {
        __m256i q = _mm256_shuffle_epi8(_mm256_set_m128i(tab, tab), nibbles32(b + 1));
        uint32_t e = b[0];
        uint32_t bits = e < 2 ? 0x00200000u << e : (e - 1) << 23;
        float dh;
        memcpy(&dh, &bits, 4);
        put32_i8(q, _mm256_set1_ps(dh), z, dst);
    }
}

/* ---- Q4_1, Q5_1 (x = d*q + m), Q2_K, Q3_K ---- */

RT_AVX2 static inline __m256i q5_1_codes(const uint8_t *b)
{
    uint32_t qh;
    memcpy(&qh, b + 4, 4);
    return _mm256_or_si256(nibbles32(b + 8), bits_to_0x10(qh));
}

RT_AVX2 float rt_dot_q4_1_avx2(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++, b += 20, x += 32) {
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b)),
                              dot32_i8(nibbles32(b + 4), x, _mm256_setzero_ps()), acc);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b + 2)), sum32(x), acc);
    }
    return hsum(acc);
}

RT_AVX2 float rt_dot_q5_1_avx2(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++, b += 24, x += 32) {
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b)),
                              dot32_i8(q5_1_codes(b), x, _mm256_setzero_ps()), acc);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b + 2)), sum32(x), acc);
    }
    return hsum(acc);
}

RT_AVX2 void rt_dequant_q4_1_avx2(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 32; i++, b += 20, dst += 32) /* d*q - (-m) == d*q + m exactly */
        put32_i8(nibbles32(b + 4), _mm256_set1_ps(h2f(b)), _mm256_set1_ps(-h2f(b + 2)), dst);
}

RT_AVX2 void rt_dequant_q5_1_avx2(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 32; i++, b += 24, dst += 32)
        put32_i8(q5_1_codes(b), _mm256_set1_ps(h2f(b)), _mm256_set1_ps(-h2f(b + 2)), dst);
}

/* Q2_K/Q3_K: half h, shift j: 32 codes from bits 2j..2j+1 of qs[32h + l],
 * elements 128h + 32j + l, sub-blocks (of 16) 8h + 2j and 8h + 2j + 1. */
RT_AVX2 static inline __m256i q2_codes(__m256i qs, int j)
{
    return _mm256_and_si256(_mm256_srli_epi16(qs, 2 * j), _mm256_set1_epi8(3));
}

/* Q3_K: the 2 low bits, plus 4 where the hmask bit (4h + j) is set, minus 4 */
RT_AVX2 static inline __m256i q3_codes(__m256i qs, __m256i hm, int h, int j)
{
    __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + j), _mm256_set1_epi8(1));
    __m256i u = _mm256_or_si256(q2_codes(qs, j), _mm256_slli_epi16(hb, 2));
    return _mm256_sub_epi8(u, _mm256_set1_epi8(4));
}

RT_AVX2 static inline __m256 sum16(const float *x)
{
    return _mm256_add_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8));
}

RT_AVX2 float rt_dot_q2_K_avx2(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += 84, x += RT_QK_K) {
        float d = h2f(b + 80), dmin = h2f(b + 82);
        for (int h = 0; h < 2; h++) {
            __m256i qs = _mm256_loadu_si256((const __m256i *)(b + 16 + 32 * h));
            for (int j = 0; j < 4; j++) {
                __m256i q = q2_codes(qs, j);
                int s = 8 * h + 2 * j;
                const float *xs = x + 128 * h + 32 * j;
                __m256 a0 = dot16_i8(_mm256_castsi256_si128(q), xs, _mm256_setzero_ps());
                __m256 a1 = dot16_i8(_mm256_extracti128_si256(q, 1), xs + 16, _mm256_setzero_ps());
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)(b[s] & 0xF)), a0, acc);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)(b[s + 1] & 0xF)), a1, acc);
                acc = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * (float)(b[s] >> 4)), sum16(xs), acc);
                acc = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * (float)(b[s + 1] >> 4)),
                                       sum16(xs + 16), acc);
            }
        }
    }
    return hsum(acc);
}

RT_AVX2 void rt_dequant_q2_K_avx2(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += 84, dst += RT_QK_K) {
        float d = h2f(b + 80), dmin = h2f(b + 82);
        for (int h = 0; h < 2; h++) {
            __m256i qs = _mm256_loadu_si256((const __m256i *)(b + 16 + 32 * h));
            for (int j = 0; j < 4; j++) {
                __m256i q = q2_codes(qs, j);
                int s = 8 * h + 2 * j;
                float *ys = dst + 128 * h + 32 * j;
                put16_i8(_mm256_castsi256_si128(q), _mm256_set1_ps(d * (float)(b[s] & 0xF)),
                         _mm256_set1_ps(dmin * (float)(b[s] >> 4)), ys);
                put16_i8(_mm256_extracti128_si256(q, 1),
                         _mm256_set1_ps(d * (float)(b[s + 1] & 0xF)),
                         _mm256_set1_ps(dmin * (float)(b[s + 1] >> 4)), ys + 16);
            }
        }
    }
}

RT_AVX2 float rt_dot_q3_K_avx2(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += 110, x += RT_QK_K) {
        int sc[16];
        rt_q3_K_scales(b + 96, sc);
        float d = h2f(b + 108);
        __m256i hm = _mm256_loadu_si256((const __m256i *)b);
        for (int h = 0; h < 2; h++) {
            __m256i qs = _mm256_loadu_si256((const __m256i *)(b + 32 + 32 * h));
            for (int j = 0; j < 4; j++) {
                __m256i q = q3_codes(qs, hm, h, j);
                int s = 8 * h + 2 * j;
                const float *xs = x + 128 * h + 32 * j;
                __m256 a0 = dot16_i8(_mm256_castsi256_si128(q), xs, _mm256_setzero_ps());
                __m256 a1 = dot16_i8(_mm256_extracti128_si256(q, 1), xs + 16, _mm256_setzero_ps());
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc[s]), a0, acc);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc[s + 1]), a1, acc);
            }
        }
    }
    return hsum(acc);
}

RT_AVX2 void rt_dequant_q3_K_avx2(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    const __m256 z = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += 110, dst += RT_QK_K) {
        int sc[16];
        rt_q3_K_scales(b + 96, sc);
        float d = h2f(b + 108);
        __m256i hm = _mm256_loadu_si256((const __m256i *)b);
        for (int h = 0; h < 2; h++) {
            __m256i qs = _mm256_loadu_si256((const __m256i *)(b + 32 + 32 * h));
            for (int j = 0; j < 4; j++) {
                __m256i q = q3_codes(qs, hm, h, j);
                int s = 8 * h + 2 * j;
                float *ys = dst + 128 * h + 32 * j;
                put16_i8(_mm256_castsi256_si128(q), _mm256_set1_ps(d * (float)sc[s]), z, ys);
                put16_i8(_mm256_extracti128_si256(q, 1), _mm256_set1_ps(d * (float)sc[s + 1]), z,
                         ys + 16);
            }
        }
    }
}

/* ---- integer dots against quantized activations (see q_vecdot.c) ---- */

/* 32 signed int8 pairs -> 8 int32 partial sums of w*x. The sign trick makes
 * the first operand of maddubs unsigned; pair sums stay below 2 * 128 * 127. */
RT_AVX2 static inline __m256i dot_i8(__m256i w, __m256i x)
{
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

RT_AVX2 float rt_vec_dot_q8_0_avx2(const void *w, const void *xq, int64_t n)
{
    const uint8_t *b = w, *a = xq;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++, b += 34, a += 34) {
        __m256i s = dot_i8(_mm256_loadu_si256((const __m256i *)(b + 2)),
                           _mm256_loadu_si256((const __m256i *)(a + 2)));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b) * h2f(a)), _mm256_cvtepi32_ps(s), acc);
    }
    return hsum(acc);
}

RT_AVX2 float rt_vec_dot_q4_0_avx2(const void *w, const void *xq, int64_t n)
{
    const uint8_t *b = w, *a = xq;
    const __m256i eight = _mm256_set1_epi8(8);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++, b += 18, a += 34) {
        __m256i q = _mm256_sub_epi8(nibbles32(b + 2), eight);
        __m256i s = dot_i8(q, _mm256_loadu_si256((const __m256i *)(a + 2)));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b) * h2f(a)), _mm256_cvtepi32_ps(s), acc);
    }
    return hsum(acc);
}

RT_AVX2 float rt_vec_dot_q5_0_avx2(const void *w, const void *xq, int64_t n)
{
    const uint8_t *b = w, *a = xq;
    const __m256i sixteen = _mm256_set1_epi8(16);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++, b += 22, a += 34) {
        uint32_t qh;
        memcpy(&qh, b + 2, 4);
        __m256i q = _mm256_sub_epi8(_mm256_or_si256(nibbles32(b + 6), bits_to_0x10(qh)), sixteen);
        __m256i s = dot_i8(q, _mm256_loadu_si256((const __m256i *)(a + 2)));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b) * h2f(a)), _mm256_cvtepi32_ps(s), acc);
    }
    return hsum(acc);
}

RT_AVX2 float rt_vec_dot_mxfp4_avx2(const void *w, const void *xq, int64_t n)
{
    const uint8_t *b = w, *a = xq;
    const __m128i tab = _mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++, b += 17, a += 34) {
        __m256i q = _mm256_shuffle_epi8(_mm256_set_m128i(tab, tab), nibbles32(b + 1));
        __m256i s = dot_i8(q, _mm256_loadu_si256((const __m256i *)(a + 2)));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(rt_e8m0_half(b[0]) * h2f(a)), _mm256_cvtepi32_ps(s),
                              acc);
    }
    return hsum(acc);
}

/* Codes are unsigned here (0..31), so maddubs takes them directly. The
 * mins only need the activation's block sums, accumulated on the side. */
RT_AVX2 static inline float vec_dot_q45_K(const uint8_t *b, const uint8_t *a, int64_t n, int five)
{
    const size_t bs = five ? 176 : 144;
    __m256 acc = _mm256_setzero_ps();
    float mins = 0;
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += bs, a += 292) {
        const uint8_t *qs = b + (five ? 48 : 16);
        __m256i qh = five ? _mm256_loadu_si256((const __m256i *)(b + 16)) : _mm256_setzero_si256();
        int sc[8], mn[8];
        for (int j = 0; j < 8; j++)
            rt_k_scale_min(b + 4, j, &sc[j], &mn[j]);
        int16_t bsums[16];
        memcpy(bsums, a + 260, 32);
        int sm = 0;
        for (int j = 0; j < 8; j++)
            sm += mn[j] * (bsums[2 * j] + bsums[2 * j + 1]);
        __m256i sq = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i lo, hi;
            q45_codes(qs, qh, c, five, &lo, &hi);
            __m256i x0 = _mm256_loadu_si256((const __m256i *)(a + 4 + 64 * c));
            __m256i x1 = _mm256_loadu_si256((const __m256i *)(a + 4 + 64 * c + 32));
            __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, x0),
                                           _mm256_set1_epi16((short)sc[2 * c]));
            __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, x1),
                                           _mm256_set1_epi16((short)sc[2 * c + 1]));
            sq = _mm256_add_epi32(sq, _mm256_add_epi32(p0, p1));
        }
        float dx;
        memcpy(&dx, a, 4);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b) * dx), _mm256_cvtepi32_ps(sq), acc);
        mins += h2f(b + 2) * dx * (float)sm;
    }
    return hsum(acc) - mins;
}

RT_AVX2 float rt_vec_dot_q4_K_avx2(const void *w, const void *xq, int64_t n)
{
    return vec_dot_q45_K(w, xq, n, 0);
}

RT_AVX2 float rt_vec_dot_q5_K_avx2(const void *w, const void *xq, int64_t n)
{
    return vec_dot_q45_K(w, xq, n, 1);
}

/* Q6_K codes q - 32: sum (q - 32) x = sum q x - 32 * sum x, with q unsigned
 * for maddubs and sum x per 16 from the activation's bsums. */
RT_AVX2 float rt_vec_dot_q6_K_avx2(const void *w, const void *xq, int64_t n)
{
    const uint8_t *b = w, *a = xq;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    float offs = 0;
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += 210, a += 292) {
        const int8_t *sc = (const int8_t *)(b + 192);
        __m256i st = _mm256_setzero_si256();
        int sx = 0;
        for (int s = 0; s < 16; s++) {
            int16_t bsv;
            memcpy(&bsv, a + 260 + 2 * s, 2);
            sx += sc[s] * bsv;
        }
        for (int h = 0; h < 2; h++) {
            __m256i qa = _mm256_loadu_si256((const __m256i *)(b + 64 * h));
            __m256i qc = _mm256_loadu_si256((const __m256i *)(b + 64 * h + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * h));
            __m256i low[4] = {_mm256_and_si256(qa, m4), _mm256_and_si256(qc, m4),
                              _mm256_and_si256(_mm256_srli_epi16(qa, 4), m4),
                              _mm256_and_si256(_mm256_srli_epi16(qc, 4), m4)};
            for (int g = 0; g < 4; g++) {
                __m256i hb = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), m3);
                __m256i q = _mm256_or_si256(low[g], _mm256_slli_epi16(hb, 4));
                __m256i x = _mm256_loadu_si256((const __m256i *)(a + 4 + 128 * h + 32 * g));
                int s = 8 * h + 2 * g;
                __m256i scv = _mm256_set_m128i(_mm_set1_epi16(sc[s + 1]), _mm_set1_epi16(sc[s]));
                st = _mm256_add_epi32(st, _mm256_madd_epi16(_mm256_maddubs_epi16(q, x), scv));
            }
        }
        float dx;
        memcpy(&dx, a, 4);
        /* keep the int lanes; the -32 offset goes to the side sum */
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b + 208) * dx), _mm256_cvtepi32_ps(st), acc);
        offs += h2f(b + 208) * dx * (float)(32 * sx);
    }
    return hsum(acc) - offs;
}

int rt_cpu_has_avx2(void)
{
    /* reads libgcc's/compiler-rt's CPU model, filled once at start-up */
#if defined(__clang__)
    /* clang's builtin does not know "f16c"; every AVX2 CPU has it */
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
#endif
}

#else

int rt_cpu_has_avx2(void)
{
    return 0;
}

#endif
