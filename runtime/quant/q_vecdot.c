/* q_vecdot.c - integer dot products of quantized weights against quantized
 * activations (scalar reference): Q8_0, Q4_0, Q5_0 weights against Q8_0
 * activations (and MXFP4), Q4_K, Q5_K, Q6_K against Q8_K. This is how llama.cpp's CPU
 * backend multiplies; the activation is quantized once per row and reused
 * for every weight row.
 *
 * Within a block everything is exact integer arithmetic; the block sums are
 * then scaled and accumulated in float. Per-block integer sums stay far
 * below 2^31 (worst case, Q6_K: 256 * 32 * 127 * 128 ~ 1.3e8). The AVX2
 * versions in avx2.c produce the same integer sums. */
#include "quant_impl.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* Q8_0 activation block: {fp16 d; int8 qs[32]} (34 bytes) */
static inline const int8_t *a8_qs(const uint8_t *a)
{
    return (const int8_t *)(a + 2);
}

float rt_vec_dot_q8_0(const void *w, const void *xq, int64_t n)
{
    const uint8_t *b = w, *a = xq;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++, b += 34, a += 34) {
        const int8_t *q = (const int8_t *)(b + 2), *x = a8_qs(a);
        int32_t s = 0;
        for (int j = 0; j < 32; j++)
            s += q[j] * x[j];
        sum += rt_rdh(b) * rt_rdh(a) * (float)s;
    }
    return sum;
}

float rt_vec_dot_q4_0(const void *w, const void *xq, int64_t n)
{
    const uint8_t *b = w, *a = xq;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++, b += 18, a += 34) {
        const uint8_t *qs = b + 2;
        const int8_t *x = a8_qs(a);
        int32_t s = 0;
        for (int j = 0; j < 16; j++)
            s += ((qs[j] & 0xF) - 8) * x[j] + ((qs[j] >> 4) - 8) * x[j + 16];
        sum += rt_rdh(b) * rt_rdh(a) * (float)s;
    }
    return sum;
}

float rt_vec_dot_q5_0(const void *w, const void *xq, int64_t n)
{
    const uint8_t *b = w, *a = xq;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++, b += 22, a += 34) {
        uint32_t qh;
        memcpy(&qh, b + 2, 4);
        const uint8_t *qs = b + 6;
        const int8_t *x = a8_qs(a);
        int32_t s = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = ((qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4)) - 16;
            int q1 = ((qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4)) - 16;
            s += q0 * x[j] + q1 * x[j + 16];
        }
        sum += rt_rdh(b) * rt_rdh(a) * (float)s;
    }
    return sum;
}

/* MXFP4 codes are doubled E2M1 values (integers), the scale a power of two */
float rt_vec_dot_mxfp4(const void *w, const void *xq, int64_t n)
{
    const uint8_t *b = w, *a = xq;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++, b += 17, a += 34) {
        const int8_t *x = a8_qs(a);
        int32_t s = 0;
        for (int j = 0; j < 16; j++)
            s += rt_e2m1_x2[b[1 + j] & 0xF] * x[j] + rt_e2m1_x2[b[1 + j] >> 4] * x[j + 16];
        sum += rt_e8m0_half(b[0]) * rt_rdh(a) * (float)s;
    }
    return sum;
}

/* Q8_K activation block: {float d; int8 qs[256]; int16 bsums[16]} */
static inline float a8k_d(const uint8_t *a)
{
    float d;
    memcpy(&d, a, 4);
    return d;
}

static inline int a8k_bsum(const uint8_t *a, int k)
{
    int16_t v;
    memcpy(&v, a + 260 + 2 * k, 2);
    return v;
}

static float vec_dot_q45_K(const uint8_t *b, const uint8_t *a, int64_t n, int five)
{
    const size_t bs = five ? 176 : 144;
    float sum = 0;
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += bs, a += 292) {
        const uint8_t *qs = b + (five ? 48 : 16), *qh = b + 16;
        const int8_t *x = (const int8_t *)(a + 4);
        int32_t sq = 0, sm = 0;
        for (int c = 0; c < 4; c++) {
            int s0, m0, s1, m1;
            rt_k_scale_min(b + 4, 2 * c, &s0, &m0);
            rt_k_scale_min(b + 4, 2 * c + 1, &s1, &m1);
            int32_t d0 = 0, d1 = 0;
            for (int l = 0; l < 32; l++) {
                int lo = qs[32 * c + l] & 0xF, hi = qs[32 * c + l] >> 4;
                if (five) {
                    lo |= ((qh[l] >> (2 * c)) & 1) << 4;
                    hi |= ((qh[l] >> (2 * c + 1)) & 1) << 4;
                }
                d0 += lo * x[64 * c + l];
                d1 += hi * x[64 * c + 32 + l];
            }
            sq += s0 * d0 + s1 * d1;
            sm += m0 * (a8k_bsum(a, 4 * c) + a8k_bsum(a, 4 * c + 1)) +
                  m1 * (a8k_bsum(a, 4 * c + 2) + a8k_bsum(a, 4 * c + 3));
        }
        float dx = a8k_d(a);
        sum += rt_rdh(b) * dx * (float)sq - rt_rdh(b + 2) * dx * (float)sm;
    }
    return sum;
}

float rt_vec_dot_q4_K(const void *w, const void *xq, int64_t n)
{
    return vec_dot_q45_K(w, xq, n, 0);
}

float rt_vec_dot_q5_K(const void *w, const void *xq, int64_t n)
{
    return vec_dot_q45_K(w, xq, n, 1);
}

float rt_vec_dot_q6_K(const void *w, const void *xq, int64_t n)
{
    const uint8_t *b = w, *a = xq;
    float sum = 0;
    for (int64_t i = 0; i < n / RT_QK_K; i++, b += 210, a += 292) {
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192), *x = (const int8_t *)(a + 4);
        int32_t sub[16] = {0};
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++) {
                int qa = ql[64 * h + l], qc = ql[64 * h + l + 32], hb = qh[32 * h + l];
                int q[4];
                rt_q6_K_codes(qa, qc, hb, q);
                const int8_t *xh = x + 128 * h;
                int s = 8 * h + l / 16;
                sub[s] += q[0] * xh[l];
                sub[s + 2] += q[1] * xh[l + 32];
                sub[s + 4] += q[2] * xh[l + 64];
                sub[s + 6] += q[3] * xh[l + 96];
            }
        int32_t st = 0;
        for (int s = 0; s < 16; s++)
            st += sc[s] * sub[s];
        sum += rt_rdh(b + 208) * a8k_d(a) * (float)st;
    }
    return sum;
}
