/* q_k.c - the 256-element "K" super-block types: Q2_K, Q3_K, Q4_K, Q5_K,
 * Q6_K, Q8_K (ggml layouts, little-endian, fp16 super-block scales except
 * Q8_K's float).
 *
 *   Q2_K {scales[16]; qs[64]; d; dmin}           16 x 16, x = d*sc*q - dmin*m, q 2 bits,
 *                                                 scales[i] = sc | m << 4
 *   Q3_K {hmask[32]; qs[64]; scales[12]; d}      16 x 16, x = d*(sc-32)*(q-4), q 3 bits,
 *                                                 6-bit sc packed as below
 *   Q4_K {d; dmin; scales[12]; qs[128]}          8 x 32, x = d*sc*q - dmin*m, q 4 bits
 *   Q5_K {d; dmin; scales[12]; qh[32]; qs[128]}  8 x 32, as Q4_K with q 5 bits
 *   Q6_K {ql[128]; qh[64]; scales[16] int8; d}   16 x 16, x = d*sc*(q-32), q 6 bits
 *   Q8_K {float d; qs[256] int8; bsums[16] i16}  x = d*q
 *
 * Sub-block s always covers elements [s*len, (s+1)*len). Where the bits of
 * element e live differs per type and is spelled out at each type.
 *
 * The quantizers search the sub-block scale (and min) by trying a fan of
 * candidate inverse scales around the naive one, refitting each by weighted
 * least squares, and keeping the best; the sub-block scales are then
 * themselves quantized and the codes recomputed against the final values. */
#include "quant_impl.h"

/* Dequantized values must not depend on whether the compiler fuses a
 * multiply and an add: the scalar and vector kernels must agree bit for bit.
 * (GCC never fuses in ISO C mode, -std=c11, which the build uses.) */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#include <float.h>

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Fit x ~ a*L - m with L in [0, nmax], m >= 0, minimizing sum w (a L - m - x)^2.
 * Writes L and returns a; *mout = m. */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L, float *mout)
{
    float mn = x[0], mx = x[0];
    for (int i = 1; i < n; i++) {
        mn = fminf(mn, x[i]);
        mx = fmaxf(mx, x[i]);
    }
    if (mn > 0) mn = 0;
    if (mx <= mn) {
        memset(L, 0, (size_t)n);
        *mout = -mn;
        return 0;
    }
    uint8_t Lt[32];
    float swx2 = 0;
    for (int i = 0; i < n; i++)
        swx2 += w[i] * x[i] * x[i];
    float best_a = (mx - mn) / (float)nmax, best_b = mn, best_err = FLT_MAX;
    for (int is = -1; is <= 20; is++) {
        float iscale =
            is < 0 ? (float)nmax / (mx - mn) : ((float)nmax - 1.0f + 0.1f * (float)is) / (mx - mn);
        float sw = 0, sl = 0, sl2 = 0, sx = 0, slx = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(rt_nearest_int(iscale * (x[i] - mn)), 0, nmax);
            Lt[i] = (uint8_t)l;
            sw += w[i], sl += w[i] * l, sl2 += w[i] * l * l, sx += w[i] * x[i];
            slx += w[i] * l * x[i];
        }
        float a, b;
        float D = sw * sl2 - sl * sl;
        if (is < 0 || D <= 0) {
            a = 1.0f / iscale, b = mn;
        } else {
            a = (sw * slx - sl * sx) / D;
            b = (sl2 * sx - sl * slx) / D;
            if (b > 0) { /* min must not be positive: pin it at 0 */
                b = 0;
                a = sl2 > 0 ? slx / sl2 : 0;
            }
        }
        /* sum w (a L + b - x)^2 expanded over the sums we already have */
        float err = a * a * sl2 + 2 * a * b * sl + b * b * sw - 2 * a * slx - 2 * b * sx + swx2;
        if (err < best_err) {
            best_err = err, best_a = a, best_b = b;
            memcpy(L, Lt, (size_t)n);
        }
    }
    *mout = -best_b;
    return best_a;
}

/* Fit x ~ a*L with L in [-nmax, nmax-1] minimizing sum w (a L - x)^2. */
static float fit_scale_sym(int n, int nmax, const float *x, const float *w, int8_t *L)
{
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), max = x[i];
    if (amax == 0) {
        memset(L, 0, (size_t)n);
        return 0;
    }
    int8_t Lt[32];
    float best_a = 0, best_gain = -1;
    for (int is = -9; is <= 9; is++) {
        float iscale = -((float)nmax + 0.1f * (float)is) / max;
        float sxl = 0, sl2 = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(rt_nearest_int(iscale * x[i]), -nmax, nmax - 1);
            Lt[i] = (int8_t)l;
            sxl += w[i] * x[i] * l;
            sl2 += w[i] * l * l;
        }
        /* err = sum w x^2 - sxl^2 / sl2 at the optimal a = sxl / sl2 */
        float gain = sl2 > 0 ? sxl * sxl / sl2 : 0;
        if (sl2 > 0 && gain > best_gain) {
            best_gain = gain, best_a = sxl / sl2;
            memcpy(L, Lt, (size_t)n);
        }
    }
    return best_a;
}

/* Weight by magnitude plus the sub-block's RMS: large values matter most but
 * small ones still count. */
static void weights_abs(const float *x, int n, float *w)
{
    float s2 = 0;
    for (int i = 0; i < n; i++)
        s2 += x[i] * x[i];
    float av = sqrtf(s2 / (float)n);
    for (int i = 0; i < n; i++)
        w[i] = av + fabsf(x[i]);
}

/* ---- 6-bit scale/min packing shared by Q4_K and Q5_K ---- */

static void put_scale_min(const int *sc, const int *m, uint8_t *q)
{
    memset(q, 0, 12);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            q[j] |= (uint8_t)sc[j];
            q[j + 4] |= (uint8_t)m[j];
        } else {
            q[j + 4] |= (uint8_t)((sc[j] & 0xF) | ((m[j] & 0xF) << 4));
            q[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            q[j] |= (uint8_t)((m[j] >> 4) << 6);
        }
    }
}

/* Shared Q4_K/Q5_K quantizer: 8 sub-blocks of 32 with 6-bit scales and mins;
 * writes d, dmin, the packed scales and the final codes L[256]. */
static void quant_k_scale_min(const float *x, int nmax, uint8_t *hdr, uint8_t *L)
{
    float scales[8], mins[8], w[32];
    float max_sc = 0, max_m = 0;
    for (int s = 0; s < 8; s++) {
        weights_abs(x + 32 * s, 32, w);
        scales[s] = fit_scale_min(32, nmax, x + 32 * s, w, L + 32 * s, &mins[s]);
        max_sc = fmaxf(max_sc, scales[s]);
        max_m = fmaxf(max_m, mins[s]);
    }
    float d = max_sc / 63.0f, dmin = max_m / 63.0f;
    uint16_t dh = rt_f32_to_fp16(d), dminh = rt_f32_to_fp16(dmin);
    d = rt_fp16_to_f32(dh), dmin = rt_fp16_to_f32(dminh);
    int sc[8], m[8];
    for (int s = 0; s < 8; s++) {
        sc[s] = d > 0 ? clampi(rt_nearest_int(scales[s] / d), 0, 63) : 0;
        m[s] = dmin > 0 ? clampi(rt_nearest_int(mins[s] / dmin), 0, 63) : 0;
    }
    rt_wr16(hdr, dh);
    rt_wr16(hdr + 2, dminh);
    put_scale_min(sc, m, hdr + 4);
    for (int s = 0; s < 8; s++) {
        float ds = d * (float)sc[s], dm = dmin * (float)m[s];
        if (ds == 0) {
            memset(L + 32 * s, 0, 32);
            continue;
        }
        for (int i = 0; i < 32; i++)
            L[32 * s + i] = (uint8_t)clampi(rt_nearest_int((x[32 * s + i] + dm) / ds), 0, nmax);
    }
}

/* ---- Q4_K: 144 bytes. Element 64c + i (i < 32) is the low nibble of
 * qs[32c + i], element 64c + 32 + i the high nibble. ---- */

static void deq_q4_K(const uint8_t *b, float *y)
{
    float d = rt_rdh(b), dmin = rt_rdh(b + 2);
    const uint8_t *sc = b + 4, *qs = b + 16;
    for (int c = 0; c < 4; c++) {
        int s0, m0, s1, m1;
        rt_k_scale_min(sc, 2 * c, &s0, &m0);
        rt_k_scale_min(sc, 2 * c + 1, &s1, &m1);
        float d0 = d * (float)s0, n0 = dmin * (float)m0, d1 = d * (float)s1, n1 = dmin * (float)m1;
        for (int i = 0; i < 32; i++) {
            y[64 * c + i] = d0 * (float)(qs[32 * c + i] & 0xF) - n0;
            y[64 * c + 32 + i] = d1 * (float)(qs[32 * c + i] >> 4) - n1;
        }
    }
}

void rt_dequant_q4_K(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / RT_QK_K; i++)
        deq_q4_K(b + 144 * i, dst + RT_QK_K * i);
}

void rt_quantize_q4_K(const float *src, void *dst, int64_t n)
{
    uint8_t *b = dst, L[RT_QK_K];
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += 144) {
        quant_k_scale_min(src + RT_QK_K * i, 15, b, L);
        for (int c = 0; c < 4; c++)
            for (int k = 0; k < 32; k++)
                b[16 + 32 * c + k] = (uint8_t)(L[64 * c + k] | (L[64 * c + 32 + k] << 4));
    }
}

float rt_dot_q4_K(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    float sum = 0, y[RT_QK_K];
    for (int64_t i = 0; i < n / RT_QK_K; i++) {
        deq_q4_K(b + 144 * i, y);
        sum += rt_dot_block(y, x + RT_QK_K * i, RT_QK_K);
    }
    return sum;
}

/* ---- Q5_K: 176 bytes. As Q4_K for the low 4 bits (qs at +48); bit 4 of
 * element 64c + i is bit 2c of qh[i], of element 64c + 32 + i bit 2c+1. ---- */

static void deq_q5_K(const uint8_t *b, float *y)
{
    float d = rt_rdh(b), dmin = rt_rdh(b + 2);
    const uint8_t *sc = b + 4, *qh = b + 16, *qs = b + 48;
    for (int c = 0; c < 4; c++) {
        int s0, m0, s1, m1;
        rt_k_scale_min(sc, 2 * c, &s0, &m0);
        rt_k_scale_min(sc, 2 * c + 1, &s1, &m1);
        float d0 = d * (float)s0, n0 = dmin * (float)m0, d1 = d * (float)s1, n1 = dmin * (float)m1;
        for (int i = 0; i < 32; i++) {
            int h0 = (qh[i] >> (2 * c)) & 1, h1 = (qh[i] >> (2 * c + 1)) & 1;
            y[64 * c + i] = d0 * (float)((qs[32 * c + i] & 0xF) | (h0 << 4)) - n0;
            y[64 * c + 32 + i] = d1 * (float)((qs[32 * c + i] >> 4) | (h1 << 4)) - n1;
        }
    }
}

void rt_dequant_q5_K(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / RT_QK_K; i++)
        deq_q5_K(b + 176 * i, dst + RT_QK_K * i);
}

void rt_quantize_q5_K(const float *src, void *dst, int64_t n)
{
    uint8_t *b = dst, L[RT_QK_K];
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += 176) {
        quant_k_scale_min(src + RT_QK_K * i, 31, b, L);
        uint8_t *qh = b + 16, *qs = b + 48;
        memset(qh, 0, 32);
        for (int c = 0; c < 4; c++)
            for (int k = 0; k < 32; k++) {
                int l0 = L[64 * c + k], l1 = L[64 * c + 32 + k];
                qs[32 * c + k] = (uint8_t)((l0 & 0xF) | ((l1 & 0xF) << 4));
                qh[k] |= (uint8_t)(((l0 >> 4) << (2 * c)) | ((l1 >> 4) << (2 * c + 1)));
            }
    }
}

float rt_dot_q5_K(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    float sum = 0, y[RT_QK_K];
    for (int64_t i = 0; i < n / RT_QK_K; i++) {
        deq_q5_K(b + 176 * i, y);
        sum += rt_dot_block(y, x + RT_QK_K * i, RT_QK_K);
    }
    return sum;
}

/* ---- Q6_K: 210 bytes. Element e: half h = e/128, p = e%128, g = p/32,
 * l = p%32. Low 4 bits: ql[64h + l + 32*(g&1)], low nibble for g < 2, high
 * nibble otherwise. High 2 bits: bits 2g..2g+1 of qh[32h + l]. Scale e/16. */

static void deq_q6_K(const uint8_t *b, float *y)
{
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = rt_rdh(b + 208);
    for (int h = 0; h < 2; h++) {
        for (int l = 0; l < 32; l++) {
            int a = ql[64 * h + l], c = ql[64 * h + l + 32], hb = qh[32 * h + l];
            int q[4];
            rt_q6_K_codes(a, c, hb, q);
            int s = 8 * h + l / 16;
            y[128 * h + l] = d * (float)sc[s] * (float)q[0];
            y[128 * h + l + 32] = d * (float)sc[s + 2] * (float)q[1];
            y[128 * h + l + 64] = d * (float)sc[s + 4] * (float)q[2];
            y[128 * h + l + 96] = d * (float)sc[s + 6] * (float)q[3];
        }
    }
}

void rt_dequant_q6_K(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / RT_QK_K; i++)
        deq_q6_K(b + 210 * i, dst + RT_QK_K * i);
}

/* Symmetric two-level quantizer used by Q6_K and Q3_K: 16 sub-blocks of 16
 * with codes in [-nmax, nmax-1] and signed sub-block scales in
 * [-smax, smax-1]. Returns the super-block scale d and fills sc/L. */
static float quant_k_sym(const float *x, int nmax, int smax, int *sc, int8_t *L)
{
    float scales[16], w[16], amax = 0, max = 0;
    for (int s = 0; s < 16; s++) {
        for (int i = 0; i < 16; i++)
            w[i] = x[16 * s + i] * x[16 * s + i];
        scales[s] = fit_scale_sym(16, nmax, x + 16 * s, w, L + 16 * s);
        if (fabsf(scales[s]) > amax) amax = fabsf(scales[s]), max = scales[s];
    }
    if (amax == 0) {
        memset(sc, 0, 16 * sizeof *sc);
        memset(L, 0, RT_QK_K);
        return 0;
    }
    float iscale = -(float)smax / max;
    float d = rt_fp16_to_f32(rt_f32_to_fp16(1.0f / iscale));
    for (int s = 0; s < 16; s++) {
        sc[s] = clampi(rt_nearest_int(iscale * scales[s]), -smax, smax - 1);
        float ds = d * (float)sc[s];
        for (int i = 0; i < 16; i++)
            L[16 * s + i] =
                ds == 0 ? 0 : (int8_t)clampi(rt_nearest_int(x[16 * s + i] / ds), -nmax, nmax - 1);
    }
    return d;
}

void rt_quantize_q6_K(const float *src, void *dst, int64_t n)
{
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += 210) {
        int sc[16];
        int8_t L[RT_QK_K];
        float d = quant_k_sym(src + RT_QK_K * i, 32, 128, sc, L);
        uint8_t *ql = b, *qh = b + 128;
        memset(b, 0, 192);
        for (int s = 0; s < 16; s++)
            b[192 + s] = (uint8_t)(int8_t)sc[s];
        rt_wr16(b + 208, rt_f32_to_fp16(d));
        for (int e = 0; e < RT_QK_K; e++) {
            int q = L[e] + 32, h = e / 128, p = e % 128, g = p / 32, l = p % 32;
            int qi = 64 * h + l + 32 * (g & 1);
            ql[qi] |= (uint8_t)((q & 0xF) << (g < 2 ? 0 : 4));
            qh[32 * h + l] |= (uint8_t)((q >> 4) << (2 * g));
        }
    }
}

float rt_dot_q6_K(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    float sum = 0, y[RT_QK_K];
    for (int64_t i = 0; i < n / RT_QK_K; i++) {
        deq_q6_K(b + 210 * i, y);
        sum += rt_dot_block(y, x + RT_QK_K * i, RT_QK_K);
    }
    return sum;
}

/* ---- Q3_K: 110 bytes. Element e: h = e/128, p = e%128, j = p/32, l = p%32.
 * Low 2 bits: bits 2j..2j+1 of qs[32h + l]; bit 2 (set means "no -4"): bit
 * 4h + j of hmask[l]. Scale e/16, 6 bits: low 4 bits in scales[s] (s < 8) or
 * the high nibble of scales[s-8]; top 2 bits at bits 2*(s/4) of
 * scales[8 + s%4]. ---- */

static void deq_q3_K(const uint8_t *b, float *y)
{
    const uint8_t *hm = b, *qs = b + 32;
    int sc[16];
    rt_q3_K_scales(b + 96, sc);
    float d = rt_rdh(b + 108);
    for (int e = 0; e < RT_QK_K; e++) {
        int h = e / 128, p = e % 128, j = p / 32, l = p % 32;
        int q = (qs[32 * h + l] >> (2 * j)) & 3;
        int hb = (hm[l] >> (4 * h + j)) & 1;
        y[e] = d * (float)sc[e / 16] * (float)(q - (hb ? 0 : 4));
    }
}

void rt_dequant_q3_K(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / RT_QK_K; i++)
        deq_q3_K(b + 110 * i, dst + RT_QK_K * i);
}

void rt_quantize_q3_K(const float *src, void *dst, int64_t n)
{
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += 110) {
        int sc[16];
        int8_t L[RT_QK_K];
        float d = quant_k_sym(src + RT_QK_K * i, 4, 32, sc, L);
        memset(b, 0, 108);
        uint8_t *hm = b, *qs = b + 32, *sp = b + 96;
        for (int s = 0; s < 16; s++) {
            int v = sc[s] + 32;
            if (s < 8)
                sp[s] |= (uint8_t)(v & 0xF);
            else
                sp[s - 8] |= (uint8_t)((v & 0xF) << 4);
            sp[8 + s % 4] |= (uint8_t)((v >> 4) << (2 * (s / 4)));
        }
        rt_wr16(b + 108, rt_f32_to_fp16(d));
        for (int e = 0; e < RT_QK_K; e++) {
            int u = L[e] + 4, h = e / 128, p = e % 128, j = p / 32, l = p % 32;
            qs[32 * h + l] |= (uint8_t)((u & 3) << (2 * j));
            hm[l] |= (uint8_t)((u >> 2) << (4 * h + j));
        }
    }
}

float rt_dot_q3_K(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    float sum = 0, y[RT_QK_K];
    for (int64_t i = 0; i < n / RT_QK_K; i++) {
        deq_q3_K(b + 110 * i, y);
        sum += rt_dot_block(y, x + RT_QK_K * i, RT_QK_K);
    }
    return sum;
}

/* ---- Q2_K: 84 bytes. Element e: h = e/128, p = e%128, j = p/32, l = p%32:
 * bits 2j..2j+1 of qs[32h + l]; scales[e/16] = sc | m << 4. ---- */

static void deq_q2_K(const uint8_t *b, float *y)
{
    const uint8_t *scl = b, *qs = b + 16;
    float d = rt_rdh(b + 80), dmin = rt_rdh(b + 82);
    for (int e = 0; e < RT_QK_K; e++) {
        int h = e / 128, p = e % 128, j = p / 32, l = p % 32;
        int q = (qs[32 * h + l] >> (2 * j)) & 3, s = scl[e / 16];
        y[e] = d * (float)(s & 0xF) * (float)q - dmin * (float)(s >> 4);
    }
}

void rt_dequant_q2_K(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / RT_QK_K; i++)
        deq_q2_K(b + 84 * i, dst + RT_QK_K * i);
}

void rt_quantize_q2_K(const float *src, void *dst, int64_t n)
{
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += 84) {
        const float *x = src + RT_QK_K * i;
        float scales[16], mins[16], w[16], max_sc = 0, max_m = 0;
        uint8_t L[RT_QK_K];
        for (int s = 0; s < 16; s++) {
            for (int k = 0; k < 16; k++)
                w[k] = fabsf(x[16 * s + k]);
            scales[s] = fit_scale_min(16, 3, x + 16 * s, w, L + 16 * s, &mins[s]);
            max_sc = fmaxf(max_sc, scales[s]);
            max_m = fmaxf(max_m, mins[s]);
        }
        uint16_t dh = rt_f32_to_fp16(max_sc / 15.0f), dminh = rt_f32_to_fp16(max_m / 15.0f);
        float d = rt_fp16_to_f32(dh), dmin = rt_fp16_to_f32(dminh);
        memset(b, 0, 80);
        for (int s = 0; s < 16; s++) {
            int sc = d > 0 ? clampi(rt_nearest_int(scales[s] / d), 0, 15) : 0;
            int m = dmin > 0 ? clampi(rt_nearest_int(mins[s] / dmin), 0, 15) : 0;
            b[s] = (uint8_t)(sc | (m << 4));
            float ds = d * (float)sc, dm = dmin * (float)m;
            for (int k = 0; k < 16; k++)
                L[16 * s + k] =
                    ds == 0 ? 0 : (uint8_t)clampi(rt_nearest_int((x[16 * s + k] + dm) / ds), 0, 3);
        }
        for (int e = 0; e < RT_QK_K; e++) {
            int h = e / 128, p = e % 128, j = p / 32, l = p % 32;
            b[16 + 32 * h + l] |= (uint8_t)(L[e] << (2 * j));
        }
        rt_wr16(b + 80, dh);
        rt_wr16(b + 82, dminh);
    }
}

float rt_dot_q2_K(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    float sum = 0, y[RT_QK_K];
    for (int64_t i = 0; i < n / RT_QK_K; i++) {
        deq_q2_K(b + 84 * i, y);
        sum += rt_dot_block(y, x + RT_QK_K * i, RT_QK_K);
    }
    return sum;
}

/* ---- Q8_K: 292 bytes; bsums[k] = sum of qs[16k..16k+15] (for int-dot users). ---- */

void rt_dequant_q8_K(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += 292) {
        float d;
        memcpy(&d, b, 4);
        const int8_t *q = (const int8_t *)(b + 4);
        for (int k = 0; k < RT_QK_K; k++)
            dst[RT_QK_K * i + k] = d * (float)q[k];
    }
}

/* As llama.cpp quantizes activations for its K-quant dot products: the
 * signed value of largest magnitude maps to -127 (so d may be negative). */
void rt_quantize_q8_K(const float *src, void *dst, int64_t n)
{
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += 292) {
        const float *x = src + RT_QK_K * i;
        float amax = 0, max = 0;
        for (int k = 0; k < RT_QK_K; k++)
            if (fabsf(x[k]) > amax) amax = fabsf(x[k]), max = x[k];
        if (amax == 0 || !isfinite(amax)) {
            memset(b, 0, 292);
            continue;
        }
        float iscale = -127.0f / max, d = 1.0f / iscale;
        memcpy(b, &d, 4);
        int8_t *q = (int8_t *)(b + 4);
        for (int s = 0; s < 16; s++) {
            int16_t bs = 0;
            for (int k = 0; k < 16; k++) {
                int v = clampi(rt_nearest_int(iscale * x[16 * s + k]), -127, 127);
                q[16 * s + k] = (int8_t)v;
                bs = (int16_t)(bs + v);
            }
            memcpy(b + 260 + 2 * s, &bs, 2);
        }
    }
}

float rt_dot_q8_K(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    float sum = 0;
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += 292) {
        float d, s[8] = {0};
        memcpy(&d, b, 4);
        const int8_t *q = (const int8_t *)(b + 4);
        const float *xx = x + RT_QK_K * i;
        for (int k = 0; k < RT_QK_K; k += 8)
            for (int t = 0; t < 8; t++)
                s[t] += (float)q[k + t] * xx[k + t];
        sum += d * (((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7])));
    }
    return sum;
}
