/* avx512.c - AVX-512 VNNI integer kernels for the forward pass: the Q8_0 and
 * Q8_K activation quantizers, and multi-row x multi-token integer dots
 * (gemm) for Q8_0, Q4_K, Q6_K and MXFP4 weights.
 *
 * Why tiles of rows x tokens: prompt processing multiplies the same weight
 * row with many activation rows, so each weight block is loaded and
 * unpacked once and used for up to 8 tokens (and each token's activations
 * for up to 4 rows); the multiply instructions (all on one port) are what
 * limits the rate, so the kernels spend as few as they can per multiply-add
 * (see each type's comment). Why per-token numerics must not depend on
 * the batch: decode (one token) and prefill (many) must give the same
 * logits for the same position, and an 8-bit activation rounding turns any
 * float-level difference into a whole quantization step. So every kernel
 * here runs, for each (row, token) pair, the same sequence of float
 * operations whatever the number of tokens beside it: integer block sums are
 * exact, and each token has its own float accumulator. vec_dot is the
 * one-token case of the same body.
 *
 * The quantizers are bit-identical to the scalar references (same amax,
 * same scale, same rounding), which test_quant checks. */
#include "quant_impl.h"

#include <stdlib.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define RT_AVX512                                                                                  \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx2,fma,f16c")))
#define RT_INLINE static inline __attribute__((always_inline))

int rt_cpu_has_avx512vnni(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
           __builtin_cpu_supports("avx512dq") && rt_cpu_has_avx2();
}

static inline uint32_t rt_rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

RT_AVX512 RT_INLINE float h2f(const uint8_t *p)
{
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(rt_rd16(p))));
}

/* ---- activation quantizers (bit-identical to the scalar ones) ---- */

/* roundf: half away from zero, exactly (v - trunc(v) is exact in float). */
RT_AVX512 RT_INLINE __m512i round_away(__m512 v)
{
    __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(v, t);
    __mmask16 up = _mm512_cmp_ps_mask(f, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    __mmask16 dn = _mm512_cmp_ps_mask(f, _mm512_set1_ps(-0.5f), _CMP_LE_OQ);
    t = _mm512_mask_add_ps(t, up, t, _mm512_set1_ps(1.0f));
    t = _mm512_mask_sub_ps(t, dn, t, _mm512_set1_ps(1.0f));
    return _mm512_cvttps_epi32(t);
}

RT_AVX512 void rt_quantize_q8_0_avx512(const float *src, void *dst, int64_t n)
{
    uint8_t *b = dst;
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t i = 0; i < n / 32; i++, b += 34, src += 32) {
        __m512 x0 = _mm512_loadu_ps(src), x1 = _mm512_loadu_ps(src + 16);
        /* NaN or inf anywhere: the scalar code's special cases decide */
        __mmask16 bad0 =
            _mm512_cmp_ps_mask(_mm512_and_ps(x0, absmask), _mm512_set1_ps(3.0e38f), _CMP_NLT_UQ);
        __mmask16 bad1 =
            _mm512_cmp_ps_mask(_mm512_and_ps(x1, absmask), _mm512_set1_ps(3.0e38f), _CMP_NLT_UQ);
        if (bad0 | bad1) {
            rt_quantize_q8_0(src, b, 32);
            continue;
        }
        float amax = _mm512_reduce_max_ps(
            _mm512_max_ps(_mm512_and_ps(x0, absmask), _mm512_and_ps(x1, absmask)));
        float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        rt_wr16(b, rt_f32_to_fp16(d));
        const __m512 lim = _mm512_set1_ps(127.0f);
        __m512 v0 = _mm512_mul_ps(x0, _mm512_set1_ps(id));
        __m512 v1 = _mm512_mul_ps(x1, _mm512_set1_ps(id));
        v0 = _mm512_max_ps(_mm512_min_ps(v0, lim), _mm512_set1_ps(-127.0f));
        v1 = _mm512_max_ps(_mm512_min_ps(v1, lim), _mm512_set1_ps(-127.0f));
        _mm_storeu_si128((__m128i *)(b + 2), _mm512_cvtepi32_epi8(round_away(v0)));
        _mm_storeu_si128((__m128i *)(b + 18), _mm512_cvtepi32_epi8(round_away(v1)));
    }
}

RT_AVX512 void rt_quantize_q8_K_avx512(const float *src, void *dst, int64_t n)
{
    uint8_t *b = dst;
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += 292, src += RT_QK_K) {
        __m512 mx = _mm512_setzero_ps();
        __mmask16 bad = 0;
        for (int k = 0; k < RT_QK_K; k += 16) {
            __m512 a = _mm512_and_ps(_mm512_loadu_ps(src + k), absmask);
            bad |= _mm512_cmp_ps_mask(a, _mm512_set1_ps(3.0e38f), _CMP_NLT_UQ);
            mx = _mm512_max_ps(mx, a);
        }
        if (bad) {
            rt_quantize_q8_K(src, b, RT_QK_K);
            continue;
        }
        float amax = _mm512_reduce_max_ps(mx);
        if (amax == 0) {
            memset(b, 0, 292);
            continue;
        }
        /* the scalar code keeps the first element of largest magnitude */
        float max = 0;
        for (int k = 0; k < RT_QK_K; k += 16) {
            __m512 a = _mm512_and_ps(_mm512_loadu_ps(src + k), absmask);
            __mmask16 hit = _mm512_cmp_ps_mask(a, _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (hit) {
                max = src[k + __builtin_ctz(hit)];
                break;
            }
        }
        float iscale = -127.0f / max, d = 1.0f / iscale;
        memcpy(b, &d, 4);
        int8_t *q = (int8_t *)(b + 4);
        for (int s = 0; s < 16; s++) {
            __m512 v = _mm512_mul_ps(_mm512_set1_ps(iscale), _mm512_loadu_ps(src + 16 * s));
            /* cvtps rounds to nearest even, as rt_nearest_int does */
            __m512i qi = _mm512_cvtps_epi32(v);
            qi = _mm512_max_epi32(_mm512_min_epi32(qi, _mm512_set1_epi32(127)),
                                  _mm512_set1_epi32(-127));
            _mm_storeu_si128((__m128i *)(q + 16 * s), _mm512_cvtepi32_epi8(qi));
            int16_t bs = (int16_t)_mm512_reduce_add_epi32(qi);
            memcpy(b + 260 + 2 * s, &bs, 2);
        }
    }
}

/* ---- Q8_0 x Q8_0 ---- */

RT_AVX512 RT_INLINE __m512i load_2x32(const uint8_t *p0, const uint8_t *p1)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)p0)),
                              _mm256_loadu_si256((const __m256i *)p1), 1);
}

/* Every tile shape of R rows (given) x 1..8 tokens, as switch cases on
 * R * 16 + T: each shape is compiled with constant R and T, so its
 * accumulators live in registers. */
#define RT_TILES_T8(M, r) M(r, 8) M(r, 7) M(r, 6) M(r, 5) M(r, 4) M(r, 3) M(r, 2) M(r, 1)

/* Q8_0 tiles: Q8_TR rows x Q8_TT tokens. Two adjacent blocks per 512-bit
 * step (lanes 0-7 block i's eight int32 partial sums, lanes 8-15 block
 * i+1's). vpdpbusd multiplies unsigned by signed bytes, so the weights are
 * offset to w + 128 (an xor, once per row block, shared by every token) and
 * each token's step starts its integer sum at -128 * (sum of its four
 * bytes) per lane, precomputed once per call: the sum is then exactly
 * sum w * x, one instruction per 64 multiply-adds per (row, token).
 * The activations are laid out once per call, per 64-element pair of
 * blocks: 64 bytes of codes, the 16 int32 corrections, the 16 float scales
 * (8 x d_i, 8 x d_i+1); an odd last block is padded with zeros, which add
 * exactly nothing. */
enum { Q8_TR = 4, Q8_TT = 8, Q8_PAIR = 192 };

/* One pair of blocks i, i+1 of a Q8_0 activation row (a at block i; two = 0
 * when block i is the last): its codes, corrections and lane scales. */
RT_AVX512 RT_INLINE void q8_0_act_pair(const uint8_t *a, int two, __m512i *X, __m512i *NC,
                                       __m512 *DX)
{
    if (two) {
        *X = load_2x32(a + 2, a + 36);
        *DX = _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(h2f(a)), _mm512_set1_ps(h2f(a + 34)));
    } else {
        *X = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(a + 2)));
        *DX = _mm512_maskz_mov_ps(0x00FF, _mm512_set1_ps(h2f(a)));
    }
    *NC = _mm512_sub_epi32(
        _mm512_setzero_si512(),
        _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)0x80), *X));
}

RT_AVX512 static void q8_0_act_prep(const uint8_t *a, int64_t nb, uint8_t *dst)
{
    for (int64_t i = 0; i < nb; i += 2, a += 68, dst += Q8_PAIR) {
        __m512i X, NC;
        __m512 DX;
        q8_0_act_pair(a, i + 1 < nb, &X, &NC, &DX);
        _mm512_storeu_si512((void *)dst, X);
        _mm512_storeu_si512((void *)(dst + 64), NC);
        _mm512_storeu_ps((float *)(dst + 128), DX);
    }
}

/* MXFP4 through the Q8_0 tiles: a pair of 17-byte blocks becomes the same
 * 64 signed codes (doubled E2M1 values, |v| <= 12, so v + 128 is a byte)
 * offset by 128, and the 16 lane scales 2^(e - 128); a lone last block
 * leaves the upper half zero (codes 0, not 128: it must add nothing). */
RT_AVX512 RT_INLINE void mxfp4_pair(const uint8_t *b, int two, __m512i *W, __m512 *DW)
{
    const __m128i tab = _mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
    const __m256i m4 = _mm256_set1_epi8(0x0F), k80 = _mm256_set1_epi8((char)0x80);
    const __m128i v0 = _mm_loadu_si128((const __m128i *)(b + 1));
    if (two) {
        const __m256i v = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)(b + 18)), v0);
        const __m256i lo = _mm256_and_si256(v, m4),
                      hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        /* [b0 lo, b1 lo, b0 hi, b1 hi] -> [b0 lo, b0 hi, b1 lo, b1 hi]: element order */
        __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
        z = _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
        z = _mm512_shuffle_epi8(_mm512_broadcast_i32x4(tab), z);
        *W = _mm512_xor_si512(z, _mm512_set1_epi8((char)0x80));
        *DW = _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(rt_e8m0_half(b[0])),
                                   _mm512_set1_ps(rt_e8m0_half(b[17])));
    } else {
        const __m256i nib = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v0, 4), v0), m4);
        const __m256i c = _mm256_shuffle_epi8(_mm256_set_m128i(tab, tab), nib);
        *W = _mm512_zextsi256_si512(_mm256_xor_si256(c, k80));
        *DW = _mm512_maskz_mov_ps(0x00FF, _mm512_set1_ps(rt_e8m0_half(b[0])));
    }
}

/* R rows (stride ws) x T tokens (prepared by q8_0_act_prep); each (row,
 * token) has its own accumulator and the same float operations whatever R
 * and T are, so a token's result does not depend on its neighbours. */
RT_AVX512 RT_INLINE void q8_0_tile(const uint8_t *w, size_t ws, const int R,
                                   const uint8_t *const *xp, const int T, int64_t nb, float *out,
                                   int64_t ldo, const int mx, const int raw)
{
    __m512 acc[Q8_TR][Q8_TT];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            acc[r][t] = _mm512_setzero_ps();
    const __m512i k80 = _mm512_set1_epi8((char)0x80);
    /* half-precision scales at bytes 0 and 34 of a 64-byte load -> words 0, 17 */
    const __m512i sidx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 17, 17,
                                          17, 17, 17, 17, 17, 17, 0, 0, 0, 0, 0, 0, 0, 0);
    for (int64_t i = 0, p = 0; i < nb; i += 2, p++) {
        __m512i W[Q8_TR];
        __m512 DW[Q8_TR];
        for (int r = 0; r < R; r++) {
            if (mx) {
                mxfp4_pair(w + (size_t)r * ws + 17 * (size_t)i, i + 1 < nb, &W[r], &DW[r]);
                continue;
            }
            const uint8_t *b = w + (size_t)r * ws + 34 * (size_t)i;
            if (i + 1 < nb) {
                W[r] = _mm512_xor_si512(load_2x32(b + 2, b + 36), k80);
                const __m512i h =
                    _mm512_permutexvar_epi16(sidx, _mm512_loadu_si512((const void *)b));
                DW[r] = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
            } else {
                W[r] = _mm512_zextsi256_si512(_mm256_xor_si256(
                    _mm256_loadu_si256((const __m256i *)(b + 2)), _mm256_set1_epi8((char)0x80)));
                DW[r] = _mm512_maskz_mov_ps(0x00FF, _mm512_set1_ps(h2f(b)));
            }
        }
        for (int t = 0; t < T; t++) {
            __m512i X, NC;
            __m512 DX;
            if (raw) { /* vec_dot: the Q8_0 row itself, no layout pass */
                q8_0_act_pair(xp[t] + 34 * (size_t)i, i + 1 < nb, &X, &NC, &DX);
            } else {
                const uint8_t *a = xp[t] + Q8_PAIR * (size_t)p;
                X = _mm512_loadu_si512((const void *)a);
                NC = _mm512_loadu_si512((const void *)(a + 64));
                DX = _mm512_loadu_ps((const float *)(a + 128));
            }
            for (int r = 0; r < R; r++) {
                const __m512i s = _mm512_dpbusd_epi32(NC, W[r], X);
                acc[r][t] =
                    _mm512_fmadd_ps(_mm512_mul_ps(DW[r], DX), _mm512_cvtepi32_ps(s), acc[r][t]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            out[t * ldo + r] = _mm512_reduce_add_ps(acc[r][t]);
}

#define Q8_TILE(r, t)                                                                              \
    case (r)*16 + (t):                                                                             \
        q8_0_tile(w, ws, r, xp, t, nb, out, ldo, MX, 0);                                           \
        break;

#define MX 0
RT_AVX512 static void q8_0_tile_any(const uint8_t *w, size_t ws, int R, const uint8_t *const *xp,
                                    int T, int64_t nb, float *out, int64_t ldo)
{
    switch (R * 16 + T) {
        RT_TILES_T8(Q8_TILE, 4)
        RT_TILES_T8(Q8_TILE, 3)
        RT_TILES_T8(Q8_TILE, 2)
        RT_TILES_T8(Q8_TILE, 1)
    default:
        break; /* R and T are within the tile by construction */
    }
}
#undef MX
#define MX 1
RT_AVX512 static void mxfp4_tile_any(const uint8_t *w, size_t ws, int R, const uint8_t *const *xp,
                                     int T, int64_t nb, float *out, int64_t ldo)
{
    switch (R * 16 + T) {
        RT_TILES_T8(Q8_TILE, 4)
        RT_TILES_T8(Q8_TILE, 3)
        RT_TILES_T8(Q8_TILE, 2)
        RT_TILES_T8(Q8_TILE, 1)
    default:
        break;
    }
}
#undef MX
#undef Q8_TILE

/* The driver for weights against Q8_0 activations (Q8_0, MXFP4): token
 * groups outermost, so each group's activations are laid out once; row
 * tiles inside. */
RT_AVX512 static void gemm_q8act(const void *w, size_t w_stride, int64_t nr, const void *xq,
                                 size_t x_stride, int64_t nt, int64_t n, float *out, int64_t ldo,
                                 int mx)
{
    enum { STACK = 49152 };
    const int64_t nb = n / 32, np = (nb + 1) / 2;
    const size_t per_tok = (size_t)np * Q8_PAIR;
    _Alignas(64) uint8_t stack[STACK];
    uint8_t *heap = NULL, *buf = stack;
    if (per_tok * Q8_TT > STACK) { /* rows over 2048 elements */
        heap = malloc(per_tok * Q8_TT);
        if (!heap) {
            rt_gemm_generic(mx ? rt_vec_dot_mxfp4 : rt_vec_dot_q8_0, w, w_stride, nr, xq, x_stride,
                            nt, n, out, ldo);
            return;
        }
        buf = heap;
    }
    for (int64_t t0 = 0; t0 < nt; t0 += Q8_TT) {
        const int tn = (int)(nt - t0 < Q8_TT ? nt - t0 : Q8_TT);
        const uint8_t *xp[Q8_TT];
        for (int t = 0; t < tn; t++) {
            q8_0_act_prep((const uint8_t *)xq + (size_t)(t0 + t) * x_stride, nb,
                          buf + (size_t)t * per_tok);
            xp[t] = buf + (size_t)t * per_tok;
        }
        for (int64_t r0 = 0; r0 < nr; r0 += Q8_TR) {
            const int rn = (int)(nr - r0 < Q8_TR ? nr - r0 : Q8_TR);
            const uint8_t *wr = (const uint8_t *)w + (size_t)r0 * w_stride;
            float *o = out + t0 * ldo + r0;
            if (mx)
                mxfp4_tile_any(wr, w_stride, rn, xp, tn, nb, o, ldo);
            else
                q8_0_tile_any(wr, w_stride, rn, xp, tn, nb, o, ldo);
        }
    }
    free(heap);
}

RT_AVX512 void rt_gemm_q8_0_avx512(const void *w, size_t w_stride, int64_t nr, const void *xq,
                                   size_t x_stride, int64_t nt, int64_t n, float *out, int64_t ldo)
{
    gemm_q8act(w, w_stride, nr, xq, x_stride, nt, n, out, ldo, 0);
}

RT_AVX512 float rt_vec_dot_q8_0_avx512(const void *w, const void *xq, int64_t n)
{
    const uint8_t *xs[1] = {xq};
    float r;
    q8_0_tile(w, 0, 1, xs, 1, n / 32, &r, 1, 0, 1);
    return r;
}

RT_AVX512 void rt_gemm_mxfp4_avx512(const void *w, size_t w_stride, int64_t nr, const void *xq,
                                    size_t x_stride, int64_t nt, int64_t n, float *out, int64_t ldo)
{
    gemm_q8act(w, w_stride, nr, xq, x_stride, nt, n, out, ldo, 1);
}

/* One row, one token, one block per 256-bit step on the rows as they are:
 * block i's lanes are those the tiles give it (lanes 0-7 of a pair for even
 * i, 8-15 for odd i), each with the same integer sum, scale product and FMA,
 * and the final sum is over the same 16 lanes in the same order, so the
 * result has the tiles' bits (the lanes a lone last block leaves alone only
 * ever get +0 added there). Cheaper than a 1 x 1 tile for a lone row.
 *
 * Why the scales are done 16 blocks at a time: one scalar scale product per
 * block (a byte to a power of two, a half to a float, a multiply, a
 * broadcast) costs more shuffle-port work than the block's dot itself. Two
 * gathers, one conversion and one multiply give 16 of them (the same
 * float products), and each block then broadcasts its own from memory. */
RT_AVX512 RT_INLINE __m256 mxfp4_block_step(const uint8_t *b, const uint8_t *a, const float *sc,
                                            __m256 acc)
{
    const __m256i tab = _mm256_broadcastsi128_si256(
        _mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12));
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    /* the 16 code bytes in both halves; the high half shifted by 4 (its
     * high nibbles, elements 16-31): a broadcast load, not a lane insert */
    const __m256i nsh = _mm256_setr_epi16(0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4);
    const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(b + 1)));
    const __m256i W = _mm256_shuffle_epi8(tab, _mm256_and_si256(_mm256_srlv_epi16(v, nsh), m4));
    /* |w| x sign-moved x: the same exact integer sums as the tiles' offset
     * codes, one multiply instead of two when nothing is shared */
    const __m256i X = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(a + 2)), W);
    const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(W), X);
    return _mm256_fmadd_ps(_mm256_broadcast_ss(sc), _mm256_cvtepi32_ps(s), acc);
}

RT_AVX512 float rt_vec_dot_mxfp4_avx512(const void *w, const void *xq, int64_t n)
{
    const uint8_t *b = w, *a = xq;
    const int64_t nb = n / 32;
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i i17 = _mm512_mullo_epi32(lane, _mm512_set1_epi32(17));
    const __m512i i34 = _mm512_mullo_epi32(lane, _mm512_set1_epi32(34));
    const __m512i one = _mm512_set1_epi32(1), z = _mm512_setzero_si512();
    _Alignas(64) float sc[16];
    __m256 even = _mm256_setzero_ps(), odd = _mm256_setzero_ps();
    for (int64_t c = 0; c < nb; c += 16) {
        const int k = (int)(nb - c < 16 ? nb - c : 16);
        const __mmask16 m = (__mmask16)((1u << k) - 1);
        const uint8_t *bc = b + 17 * c, *ac = a + 34 * c;
        /* 4 bytes from each block's start: its exponent byte; from each
         * activation block's start: its half scale (both within the block) */
        const __m512i e = _mm512_and_si512(_mm512_mask_i32gather_epi32(z, m, i17, bc, 1),
                                           _mm512_set1_epi32(0xFF));
        const __m512i hx = _mm512_mask_i32gather_epi32(z, m, i34, ac, 1);
        /* rt_e8m0_half bit for bit: 2^(e - 128), subnormal for e < 2 */
        const __m512i eb =
            _mm512_mask_blend_epi32(_mm512_cmplt_epu32_mask(e, _mm512_set1_epi32(2)),
                                    _mm512_slli_epi32(_mm512_sub_epi32(e, one), 23),
                                    _mm512_sllv_epi32(_mm512_set1_epi32(0x00200000), e));
        _mm512_store_ps(
            sc, _mm512_mul_ps(_mm512_castsi512_ps(eb), _mm512_cvtph_ps(_mm512_cvtepi32_epi16(hx))));
        int j = 0;
        for (; j + 2 <= k; j += 2) { /* c is even: block c + j's parity is j's */
            even = mxfp4_block_step(bc + 17 * j, ac + 34 * j, sc + j, even);
            odd = mxfp4_block_step(bc + 17 * (j + 1), ac + 34 * (j + 1), sc + j + 1, odd);
        }
        if (j < k) even = mxfp4_block_step(bc + 17 * j, ac + 34 * j, sc + j, even);
    }
    return _mm512_reduce_add_ps(_mm512_insertf32x8(_mm512_castps256_ps512(even), odd, 1));
}

/* ---- Q4_K x Q8_K ---- */

/* The 8 6-bit scales and 8 6-bit mins of a K-quant block's 12 scale bytes,
 * as bytes sc[0..7] then mn[0..7] (the packing rt_k_scale_min reads one at a
 * time), in registers: a scalar unpack through memory stalls on store
 * forwarding. q points at the 12 bytes; 4 more are readable after them. With
 * u0..u2 the three little-endian words:
 *   sc[0..3] = u0 & 0x3f..,  sc[4..7] = (u2 & 0x0f..) | ((u0 >> 2) & 0x30..)
 *   mn[0..3] = u1 & 0x3f..,  mn[4..7] = ((u2 >> 4) & 0x0f..) | ((u1 >> 2) & 0x30..) */
RT_AVX512 RT_INLINE __m128i k_scales_unpack(const uint8_t *q)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)q);
    __m128i lo = _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 1, 2, 0)); /* u0 u2 u1 u2 */
    lo = _mm_srlv_epi32(lo, _mm_setr_epi32(0, 0, 0, 4));
    lo = _mm_and_si128(lo, _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    __m128i hi = _mm_srli_epi32(_mm_shuffle_epi32(v, _MM_SHUFFLE(1, 1, 0, 0)), 2);
    hi = _mm_and_si128(hi, _mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
    return _mm_or_si128(lo, hi);
}

/* Q4_K tiles: Q4_TR rows x Q4_TT tokens.
 *
 * The nibbles are unsigned and the Q8_K codes signed, so vpdpbusd sums four
 * products per int32 lane directly (|sum| <= 4 * 15 * 127, fits int16);
 * two such results packed to int16 (vpackssdw, exact) meet the sub-block
 * scales in one vpdpwssd: 1.5 multiply instructions per 64 multiply-adds
 * instead of 2 (vpmaddubsw + vpdpwssd). The activations are laid out once
 * per call so the weights need no shuffle: a 64-byte load of the codes
 * gives, in its low nibbles, elements 0-31 and 64-95 of a 128-element half
 * and, in its high nibbles, 32-63 and 96-127; each token's 256 codes are
 * stored in that order, then its 16 bsums and its scale (320 bytes a block).
 * Per (row, token, block) the integer sum folds to 8 lanes and the mins'
 * sum fills the other 8, so one conversion and one FMA (scales d * dx on
 * the first 8 lanes, -dmin * dx on the rest) finish the block. */
enum { Q4_TR = 1, Q4_TT = 8, Q4_BLK = 320 };

RT_AVX512 static void q4_K_act_prep(const uint8_t *a, int64_t nb, uint8_t *dst)
{
    for (int64_t i = 0; i < nb; i++, a += 292, dst += Q4_BLK) {
        for (int h = 0; h < 2; h++) {
            const uint8_t *q = a + 4 + 128 * h;
            uint8_t *o = dst + 128 * h;
            /* chunks of 32: 0 2 1 3 */
            _mm256_storeu_si256((__m256i *)o, _mm256_loadu_si256((const __m256i *)q));
            _mm256_storeu_si256((__m256i *)(o + 32), _mm256_loadu_si256((const __m256i *)(q + 64)));
            _mm256_storeu_si256((__m256i *)(o + 64), _mm256_loadu_si256((const __m256i *)(q + 32)));
            _mm256_storeu_si256((__m256i *)(o + 96), _mm256_loadu_si256((const __m256i *)(q + 96)));
        }
        memcpy(dst + 256, a + 260, 32);
        memcpy(dst + 288, a, 4);
        memset(dst + 292, 0, Q4_BLK - 292);
    }
}

/* vpermw indices into the block's 16 int16 words (scales 0-7, mins 8-15):
 * row p gives word w of 128-bit lane q of half p's packed sums the scale of
 * sub-block 4p + 2 * (q >= 2) + (w >= 4); row 2 (first 16 words) repeats
 * each min for the two 16-element halves of its sub-block (the bsums are
 * per 16). */
#define L4(s) s, s, s, s
static const uint16_t q4k_pack_idx[3][32] = {
    {L4(0), L4(1), L4(0), L4(1), L4(2), L4(3), L4(2), L4(3)},
    {L4(4), L4(5), L4(4), L4(5), L4(6), L4(7), L4(6), L4(7)},
    {8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15},
};
#undef L4

RT_AVX512 RT_INLINE void q4_K_tile(const uint8_t *w, size_t ws, const int R,
                                   const uint8_t *const *xp, const int T, int64_t nb, float *out,
                                   int64_t ldo, const int raw)
{
    __m512 acc[Q4_TR][Q4_TT];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            acc[r][t] = _mm512_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i ix0 = _mm512_loadu_si512((const void *)q4k_pack_idx[0]);
    const __m512i ix1 = _mm512_loadu_si512((const void *)q4k_pack_idx[1]);
    const __m512i ixm = _mm512_loadu_si512((const void *)q4k_pack_idx[2]);
    /* d and dmin (two halves) to [d x 8, dmin x 8]; the min lanes' sign flip */
    const __m512i dmi = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512 neg_hi = _mm512_castsi512_ps(_mm512_set_epi32(
        (int)0x80000000, (int)0x80000000, (int)0x80000000, (int)0x80000000, (int)0x80000000,
        (int)0x80000000, (int)0x80000000, (int)0x80000000, 0, 0, 0, 0, 0, 0, 0, 0));
    for (int64_t i = 0; i < nb; i++) {
        __m512i W[Q4_TR][4], S[Q4_TR][2];
        __m256i MN[Q4_TR];
        __m512 DM[Q4_TR];
        for (int r = 0; r < R; r++) {
            const uint8_t *b = w + (size_t)r * ws + 144 * (size_t)i;
            const __m512 dd = _mm512_cvtph_ps(_mm256_set1_epi32((int)rt_rd32(b)));
            DM[r] = _mm512_xor_ps(_mm512_permutexvar_ps(dmi, dd), neg_hi);
            const __m512i sm16 =
                _mm512_castsi256_si512(_mm256_cvtepu8_epi16(k_scales_unpack(b + 4)));
            MN[r] = _mm512_castsi512_si256(_mm512_permutexvar_epi16(ixm, sm16));
            S[r][0] = _mm512_permutexvar_epi16(ix0, sm16);
            S[r][1] = _mm512_permutexvar_epi16(ix1, sm16);
            for (int p = 0; p < 2; p++) {
                const __m512i v = _mm512_loadu_si512((const void *)(b + 16 + 64 * p));
                W[r][2 * p] = _mm512_and_si512(v, m4);
                W[r][2 * p + 1] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            }
        }
        for (int t = 0; t < T; t++) {
            __m512i X[4];
            __m256i bs;
            float dxs;
            if (raw) { /* vec_dot: the Q8_K row, chunks swapped in registers */
                const uint8_t *a = xp[t] + 292 * (size_t)i;
                X[0] = load_2x32(a + 4, a + 68);
                X[1] = load_2x32(a + 36, a + 100);
                X[2] = load_2x32(a + 132, a + 196);
                X[3] = load_2x32(a + 164, a + 228);
                bs = _mm256_loadu_si256((const __m256i *)(a + 260));
                memcpy(&dxs, a, 4);
            } else {
                const uint8_t *a = xp[t] + Q4_BLK * (size_t)i;
                for (int k = 0; k < 4; k++)
                    X[k] = _mm512_loadu_si512((const void *)(a + 64 * k));
                bs = _mm256_loadu_si256((const __m256i *)(a + 256));
                memcpy(&dxs, a + 288, 4);
            }
            const __m512 dx = _mm512_set1_ps(dxs);
            for (int r = 0; r < R; r++) {
                const __m512i z = _mm512_setzero_si512();
                __m512i p0 = _mm512_packs_epi32(_mm512_dpbusd_epi32(z, W[r][0], X[0]),
                                                _mm512_dpbusd_epi32(z, W[r][1], X[1]));
                __m512i p1 = _mm512_packs_epi32(_mm512_dpbusd_epi32(z, W[r][2], X[2]),
                                                _mm512_dpbusd_epi32(z, W[r][3], X[3]));
                __m512i is = _mm512_dpwssd_epi32(_mm512_madd_epi16(p0, S[r][0]), p1, S[r][1]);
                __m256i i8 =
                    _mm256_add_epi32(_mm512_castsi512_si256(is), _mm512_extracti64x4_epi64(is, 1));
                __m512i v =
                    _mm512_inserti64x4(_mm512_castsi256_si512(i8), _mm256_madd_epi16(bs, MN[r]), 1);
                acc[r][t] =
                    _mm512_fmadd_ps(_mm512_mul_ps(DM[r], dx), _mm512_cvtepi32_ps(v), acc[r][t]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            out[t * ldo + r] = _mm512_reduce_add_ps(acc[r][t]);
}

#define Q4_TILE(r, t)                                                                              \
    case (r)*16 + (t):                                                                             \
        q4_K_tile(w, ws, r, xp, t, nb, out, ldo, 0);                                               \
        break;

RT_AVX512 static void q4_K_tile_any(const uint8_t *w, size_t ws, int R, const uint8_t *const *xp,
                                    int T, int64_t nb, float *out, int64_t ldo)
{
    switch (R * 16 + T) {
        RT_TILES_T8(Q4_TILE, 1)
    default:
        break; /* R and T are within the tile by construction */
    }
}
#undef Q4_TILE

RT_AVX512 void rt_gemm_q4_K_avx512(const void *w, size_t w_stride, int64_t nr, const void *xq,
                                   size_t x_stride, int64_t nt, int64_t n, float *out, int64_t ldo)
{
    enum { STACK = 49152 };
    const int64_t nb = n / RT_QK_K;
    const size_t per_tok = (size_t)nb * Q4_BLK;
    _Alignas(64) uint8_t stack[STACK];
    uint8_t *heap = NULL, *buf = stack;
    if (per_tok * Q4_TT > STACK) { /* rows over 4608 elements */
        heap = malloc(per_tok * Q4_TT);
        if (!heap) {
            rt_gemm_generic(rt_vec_dot_q4_K, w, w_stride, nr, xq, x_stride, nt, n, out, ldo);
            return;
        }
        buf = heap;
    }
    for (int64_t t0 = 0; t0 < nt; t0 += Q4_TT) {
        const int tn = (int)(nt - t0 < Q4_TT ? nt - t0 : Q4_TT);
        const uint8_t *xp[Q4_TT];
        for (int t = 0; t < tn; t++) {
            q4_K_act_prep((const uint8_t *)xq + (size_t)(t0 + t) * x_stride, nb,
                          buf + (size_t)t * per_tok);
            xp[t] = buf + (size_t)t * per_tok;
        }
        for (int64_t r0 = 0; r0 < nr; r0 += Q4_TR) {
            const int rn = (int)(nr - r0 < Q4_TR ? nr - r0 : Q4_TR);
            q4_K_tile_any((const uint8_t *)w + (size_t)r0 * w_stride, w_stride, rn, xp, tn, nb,
                          out + t0 * ldo + r0, ldo);
        }
    }
    free(heap);
}

RT_AVX512 float rt_vec_dot_q4_K_avx512(const void *w, const void *xq, int64_t n)
{
    const uint8_t *xs[1] = {xq};
    float r;
    q4_K_tile(w, 0, 1, xs, 1, n / RT_QK_K, &r, 1, 1);
    return r;
}

/* ---- Q6_K x Q8_K ---- */

/* Q6_K tiles: Q6_TR rows x Q6_TT tokens, on the Q8_K rows as they are.
 * Codes q are unsigned 0..63, so vpdpbusd sums four products per lane
 * (<= 4 * 63 * 127, fits int16); two results packed to int16 meet the
 * 16-element sub-blocks' signed scales in one vpdpwssd, as for Q4_K. The
 * codes' -32 offset is folded into where each integer sum starts (see
 * q6_K_act_prep), so no per-(row, token) correction is left. */
enum { Q6_TR = 2, Q6_TT = 8 };

/* vpermw indices: word w of 128-bit lane q of half h's packed sums takes
 * scale 8h + q + 4 * (w >= 4) of the block's 16 (as int16, words 0-15). */
#define Q6I(h, q)                                                                                  \
    8 * (h) + (q), 8 * (h) + (q), 8 * (h) + (q), 8 * (h) + (q), 8 * (h) + (q) + 4,                 \
        8 * (h) + (q) + 4, 8 * (h) + (q) + 4, 8 * (h) + (q) + 4
static const uint16_t q6k_pack_idx[2][32] = {
    {Q6I(0, 0), Q6I(0, 1), Q6I(0, 2), Q6I(0, 3)},
    {Q6I(1, 0), Q6I(1, 1), Q6I(1, 2), Q6I(1, 3)},
};
#undef Q6I

/* A Q6_K block's 256 codes (0..63) as four 64-code chunks, elements 64k to
 * 64k + 63 in W[k]. Half h's 64 ql bytes hold, in their low nibbles,
 * elements 128h + 0..63 and, in their high nibbles, 128h + 64..127; its 32
 * qh bytes the two high bits of each (bits 0-1, 2-3, 4-5, 6-7 for the four
 * 32-element quarters). Why this shape: one variable shift puts every
 * code's high bits at bits 0-1 (low nibble's code) or 4-5 (high nibble's)
 * of its byte, and a bit select (vpternlog) merges each nibble with them:
 * six operations a half instead of eleven, the same codes. */
RT_AVX512 RT_INLINE void q6_K_codes(const uint8_t *b, __m512i W[4])
{
    const __m512i m4 = _mm512_set1_epi8(0x0F), m33 = _mm512_set1_epi8(0x33);
    /* per 16-bit word: shift 0 in the low 256 bits (quarters 0 and 2 of the
     * half), 2 in the high ones (quarters 1 and 3) */
    const __m512i sh = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    for (int h = 0; h < 2; h++) {
        const __m512i ql = _mm512_loadu_si512((const void *)(b + 64 * h));
        const __m512i qh =
            _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b + 128 + 32 * h)));
        /* u: bits 0-1 and 4-5 of each byte only (what a word shift moves
         * across bytes is masked off) */
        const __m512i u = _mm512_and_si512(_mm512_srlv_epi16(qh, sh), m33);
        /* 0xCA: m4 ? first : second, bit by bit */
        W[2 * h] = _mm512_ternarylogic_epi32(m4, ql, _mm512_slli_epi16(u, 4), 0xCA);
        W[2 * h + 1] = _mm512_ternarylogic_epi32(m4, _mm512_srli_epi16(ql, 4), u, 0xCA);
    }
}

RT_AVX512 RT_INLINE void q6_K_tile(const uint8_t *w, size_t ws, const int R,
                                   const uint8_t *const *xs, const uint8_t *const *nc, const int T,
                                   int64_t nb, float *out, int64_t ldo, const int raw)
{
    __m512 acc[Q6_TR][Q6_TT];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            acc[r][t] = _mm512_setzero_ps();
    const __m512i ix0 = _mm512_loadu_si512((const void *)q6k_pack_idx[0]);
    const __m512i ix1 = _mm512_loadu_si512((const void *)q6k_pack_idx[1]);
    for (int64_t i = 0; i < nb; i++) {
        __m512i W[Q6_TR][4], S[Q6_TR][2];
        __m256i SC[Q6_TR];
        __m512 D[Q6_TR];
        for (int r = 0; r < R; r++) {
            const uint8_t *b = w + (size_t)r * ws + 210 * (size_t)i;
            D[r] = _mm512_set1_ps(h2f(b + 208));
            SC[r] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + 192)));
            S[r][0] = _mm512_permutexvar_epi16(ix0, _mm512_castsi256_si512(SC[r]));
            S[r][1] = _mm512_permutexvar_epi16(ix1, _mm512_castsi256_si512(SC[r]));
            q6_K_codes(b, W[r]);
        }
        for (int t = 0; t < T; t++) {
            const uint8_t *a = xs[t] + 292 * (size_t)i;
            __m512i X[4];
            for (int k = 0; k < 4; k++)
                X[k] = _mm512_loadu_si512((const void *)(a + 4 + 64 * k));
            float dxs;
            memcpy(&dxs, a, 4);
            const __m512 dx = _mm512_set1_ps(dxs);
            /* the sums start at -32 x (four codes' sum) per lane, prepared
             * once per call. A lone vec_dot computes that sum beside the
             * codes' and subtracts, and adds the two halves' scaled sums
             * rather than chaining them: the same integers lane by lane (so
             * the same bits) on a shorter dependency chain, which is what
             * limits a one-row call of a few blocks. */
            const __m512i z = _mm512_setzero_si512();
            __m512i N[4];
            for (int k = 0; k < 4; k++)
                N[k] = raw ? _mm512_dpbusd_epi32(z, _mm512_set1_epi8(32), X[k])
                           : _mm512_loadu_si512((const void *)(nc[t] + 256 * (size_t)i + 64 * k));
            for (int r = 0; r < R; r++) {
                __m512i sk[4];
                for (int k = 0; k < 4; k++)
                    sk[k] = raw ? _mm512_sub_epi32(_mm512_dpbusd_epi32(z, W[r][k], X[k]), N[k])
                                : _mm512_dpbusd_epi32(N[k], W[r][k], X[k]);
                const __m512i p0 = _mm512_packs_epi32(sk[0], sk[1]);
                const __m512i p1 = _mm512_packs_epi32(sk[2], sk[3]);
                const __m512i is =
                    raw ? _mm512_add_epi32(_mm512_madd_epi16(p0, S[r][0]),
                                           _mm512_madd_epi16(p1, S[r][1]))
                        : _mm512_dpwssd_epi32(_mm512_madd_epi16(p0, S[r][0]), p1, S[r][1]);
                acc[r][t] =
                    _mm512_fmadd_ps(_mm512_mul_ps(D[r], dx), _mm512_cvtepi32_ps(is), acc[r][t]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            out[t * ldo + r] = _mm512_reduce_add_ps(acc[r][t]);
}

#define Q6_TILE(r, t)                                                                              \
    case (r)*16 + (t):                                                                             \
        q6_K_tile(w, ws, r, xs, nc, t, nb, out, ldo, 0);                                           \
        break;

RT_AVX512 static void q6_K_tile_any(const uint8_t *w, size_t ws, int R, const uint8_t *const *xs,
                                    const uint8_t *const *nc, int T, int64_t nb, float *out,
                                    int64_t ldo)
{
    switch (R * 16 + T) {
        RT_TILES_T8(Q6_TILE, 2)
        RT_TILES_T8(Q6_TILE, 1)
    default:
        break; /* R and T are within the tile by construction */
    }
}
#undef Q6_TILE

/* -32 x (sum of four codes) per int32 lane of each 64-code chunk of a Q8_K
 * row, 256 bytes a block: the Q6_K codes' offset, folded into the start of
 * each integer sum (|sum| <= 4 * 32 * 127 stays in int16 range). */
RT_AVX512 static void q6_K_act_prep(const uint8_t *a, int64_t nb, uint8_t *dst)
{
    const __m512i k32 = _mm512_set1_epi8(32), z = _mm512_setzero_si512();
    for (int64_t i = 0; i < nb; i++, a += 292, dst += 256)
        for (int k = 0; k < 4; k++) {
            const __m512i X = _mm512_loadu_si512((const void *)(a + 4 + 64 * k));
            _mm512_storeu_si512((void *)(dst + 64 * k),
                                _mm512_sub_epi32(z, _mm512_dpbusd_epi32(z, k32, X)));
        }
}

RT_AVX512 void rt_gemm_q6_K_avx512(const void *w, size_t w_stride, int64_t nr, const void *xq,
                                   size_t x_stride, int64_t nt, int64_t n, float *out, int64_t ldo)
{
    enum { STACK = 49152 };
    const int64_t nb = n / RT_QK_K;
    const size_t per_tok = (size_t)nb * 256;
    _Alignas(64) uint8_t stack[STACK];
    uint8_t *heap = NULL, *buf = stack;
    if (per_tok * Q6_TT > STACK) { /* rows over 6144 elements */
        heap = malloc(per_tok * Q6_TT);
        if (!heap) {
            rt_gemm_generic(rt_vec_dot_q6_K, w, w_stride, nr, xq, x_stride, nt, n, out, ldo);
            return;
        }
        buf = heap;
    }
    for (int64_t t0 = 0; t0 < nt; t0 += Q6_TT) {
        const int tn = (int)(nt - t0 < Q6_TT ? nt - t0 : Q6_TT);
        const uint8_t *xs[Q6_TT], *nc[Q6_TT];
        for (int t = 0; t < tn; t++) {
            xs[t] = (const uint8_t *)xq + (size_t)(t0 + t) * x_stride;
            nc[t] = buf + (size_t)t * per_tok;
            q6_K_act_prep(xs[t], nb, buf + (size_t)t * per_tok);
        }
        for (int64_t r0 = 0; r0 < nr; r0 += Q6_TR) {
            const int rn = (int)(nr - r0 < Q6_TR ? nr - r0 : Q6_TR);
            q6_K_tile_any((const uint8_t *)w + (size_t)r0 * w_stride, w_stride, rn, xs, nc, tn, nb,
                          out + t0 * ldo + r0, ldo);
        }
    }
    free(heap);
}

RT_AVX512 float rt_vec_dot_q6_K_avx512(const void *w, const void *xq, int64_t n)
{
    const uint8_t *xs[1] = {xq};
    float r;
    q6_K_tile(w, 0, 1, xs, NULL, 1, n / RT_QK_K, &r, 1, 1);
    return r;
}

#else

int rt_cpu_has_avx512vnni(void)
{
    return 0;
}

#endif
