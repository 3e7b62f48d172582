/* simd.c - float32 dot products for the batched matmul (a dequantized weight
 * row against several activation rows), with AVX-512 and AVX2+FMA versions
 * selected at run time; the library itself is built without -mavx2. */
#include <stdbool.h>

#include "model.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RT_HAVE_X86 1
#define RT_AVX2 __attribute__((target("avx2,fma")))

RT_AVX2 static inline float hsum256(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}

/* out[b * ldo] = w . x[b * ldx] for b < nb, four activation rows at a time so
 * each loaded weight vector is used four times. */
RT_AVX2 static void dot_rows_avx2(const float *w, const float *x, int64_t ldx, int64_t nb,
                                  int64_t n, float *out, int64_t ldo)
{
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        const float *x0 = x + b * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx, *x3 = x2 + ldx;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            __m256 wv = _mm256_loadu_ps(w + i);
            a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x0 + i), a0);
            a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x1 + i), a1);
            a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x2 + i), a2);
            a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x3 + i), a3);
        }
        float s0 = hsum256(a0), s1 = hsum256(a1), s2 = hsum256(a2), s3 = hsum256(a3);
        for (; i < n; i++) {
            s0 += w[i] * x0[i];
            s1 += w[i] * x1[i];
            s2 += w[i] * x2[i];
            s3 += w[i] * x3[i];
        }
        out[b * ldo] = s0;
        out[(b + 1) * ldo] = s1;
        out[(b + 2) * ldo] = s2;
        out[(b + 3) * ldo] = s3;
    }
    for (; b < nb; b++) {
        const float *xb = x + b * ldx;
        __m256 a = _mm256_setzero_ps(), c = a;
        int64_t i = 0;
        for (; i + 16 <= n; i += 16) {
            a = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(xb + i), a);
            c = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(xb + i + 8), c);
        }
        float s = hsum256(_mm256_add_ps(a, c));
        for (; i < n; i++)
            s += w[i] * xb[i];
        out[b * ldo] = s;
    }
}

#define RT_AVX512 __attribute__((target("avx512f")))

/* Same contract as dot_rows_avx2, 16 floats per step. */
RT_AVX512 static void dot_rows_avx512(const float *w, const float *x, int64_t ldx, int64_t nb,
                                      int64_t n, float *out, int64_t ldo)
{
    const int64_t n16 = n & ~(int64_t)15;
    const __mmask16 tail = (__mmask16)((1u << (n - n16)) - 1u);
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        const float *x0 = x + b * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx, *x3 = x2 + ldx;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t i = 0; i < n16; i += 16) {
            __m512 wv = _mm512_loadu_ps(w + i);
            a0 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x0 + i), a0);
            a1 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x1 + i), a1);
            a2 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x2 + i), a2);
            a3 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x3 + i), a3);
        }
        if (tail) {
            __m512 wv = _mm512_maskz_loadu_ps(tail, w + n16);
            a0 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(tail, x0 + n16), a0);
            a1 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(tail, x1 + n16), a1);
            a2 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(tail, x2 + n16), a2);
            a3 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(tail, x3 + n16), a3);
        }
        out[b * ldo] = _mm512_reduce_add_ps(a0);
        out[(b + 1) * ldo] = _mm512_reduce_add_ps(a1);
        out[(b + 2) * ldo] = _mm512_reduce_add_ps(a2);
        out[(b + 3) * ldo] = _mm512_reduce_add_ps(a3);
    }
    for (; b < nb; b++) {
        const float *xb = x + b * ldx;
        __m512 a = _mm512_setzero_ps();
        for (int64_t i = 0; i < n16; i += 16)
            a = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(xb + i), a);
        if (tail)
            a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w + n16),
                                _mm512_maskz_loadu_ps(tail, xb + n16), a);
        out[b * ldo] = _mm512_reduce_add_ps(a);
    }
}

/* Two weight rows at once: out[b * ldo] = w0 . x_b and out[b * ldo + 1] =
 * w1 . x_b; each activation load feeds two FMAs, each weight load four. */
RT_AVX512 static void dot_rows2_avx512(const float *w0, const float *w1, const float *x,
                                       int64_t ldx, int64_t nb, int64_t n, float *out, int64_t ldo)
{
    const int64_t n16 = n & ~(int64_t)15;
    const __mmask16 tail = (__mmask16)((1u << (n - n16)) - 1u);
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        const float *x0 = x + b * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx, *x3 = x2 + ldx;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        __m512 c0 = a0, c1 = a0, c2 = a0, c3 = a0;
        for (int64_t i = 0; i <= n16; i += 16) {
            __mmask16 k = i < n16 ? (__mmask16)0xFFFF : tail;
            if (!k) break;
            __m512 u = _mm512_maskz_loadu_ps(k, w0 + i), v = _mm512_maskz_loadu_ps(k, w1 + i);
            __m512 y0 = _mm512_maskz_loadu_ps(k, x0 + i), y1 = _mm512_maskz_loadu_ps(k, x1 + i);
            __m512 y2 = _mm512_maskz_loadu_ps(k, x2 + i), y3 = _mm512_maskz_loadu_ps(k, x3 + i);
            a0 = _mm512_fmadd_ps(u, y0, a0);
            a1 = _mm512_fmadd_ps(u, y1, a1);
            a2 = _mm512_fmadd_ps(u, y2, a2);
            a3 = _mm512_fmadd_ps(u, y3, a3);
            c0 = _mm512_fmadd_ps(v, y0, c0);
            c1 = _mm512_fmadd_ps(v, y1, c1);
            c2 = _mm512_fmadd_ps(v, y2, c2);
            c3 = _mm512_fmadd_ps(v, y3, c3);
        }
        out[b * ldo] = _mm512_reduce_add_ps(a0);
        out[b * ldo + 1] = _mm512_reduce_add_ps(c0);
        out[(b + 1) * ldo] = _mm512_reduce_add_ps(a1);
        out[(b + 1) * ldo + 1] = _mm512_reduce_add_ps(c1);
        out[(b + 2) * ldo] = _mm512_reduce_add_ps(a2);
        out[(b + 2) * ldo + 1] = _mm512_reduce_add_ps(c2);
        out[(b + 3) * ldo] = _mm512_reduce_add_ps(a3);
        out[(b + 3) * ldo + 1] = _mm512_reduce_add_ps(c3);
    }
    if (b < nb) {
        dot_rows_avx512(w0, x + b * ldx, ldx, nb - b, n, out + b * ldo, ldo);
        dot_rows_avx512(w1, x + b * ldx, ldx, nb - b, n, out + b * ldo + 1, ldo);
    }
}
#endif

static void dot_rows_scalar(const float *w, const float *x, int64_t ldx, int64_t nb, int64_t n,
                            float *out, int64_t ldo)
{
    for (int64_t b = 0; b < nb; b++)
        out[b * ldo] = rt_dot(w, x + b * ldx, n);
}

rt_dot_rows_fn rt_dot_rows_select(void)
{
#ifdef RT_HAVE_X86
    if (__builtin_cpu_supports("avx512f")) return dot_rows_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return dot_rows_avx2;
#endif
    return dot_rows_scalar;
}

/* The two-row kernel, or NULL where only the one-row kernel exists. */
rt_dot_rows2_fn rt_dot_rows2_select(void)
{
#ifdef RT_HAVE_X86
    if (__builtin_cpu_supports("avx512f")) return dot_rows2_avx512;
#endif
    return NULL;
}
