/* q_legacy.c - the 32-element block types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
 * Q8_1 (ggml layouts; all little-endian, fp16 scales).
 *
 *   Q4_0  {d; qs[16]}          x = d * (q - 8)         q = 4 bits
 *   Q4_1  {d, m; qs[16]}       x = d * q + m
 *   Q5_0  {d; qh[4]; qs[16]}   x = d * (q - 16)        q = 5 bits, bit 4 in qh
 *   Q5_1  {d, m; qh[4]; qs[16]} x = d * q + m
 *   Q8_0  {d; qs[32] int8}     x = d * q
 *   Q8_1  {d, s; qs[32] int8}  x = d * q, s = d * sum(q)
 *
 * Nibble packing: byte j holds element j (low nibble) and j + 16 (high).
 * For the 5-bit types bit j of the 32-bit qh is bit 4 of element j. */
#include "quant_impl.h"

/* Dequantized values must not depend on whether the compiler fuses a
 * multiply and an add: the scalar and vector kernels must agree bit for bit.
 * (GCC never fuses in ISO C mode, -std=c11, which the build uses.) */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define QK 32

/* The signed value of largest magnitude: the legacy quantizers map it to
 * the most negative code so the full code range is used. */
static float signed_absmax(const float *x, int n)
{
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

/* (int)v clamped to [0, hi]; NaN gives 0. Converting an out-of-range or NaN
 * float to int is undefined in C, and inf/NaN weights must not be. */
static int code_of(float v, int hi)
{
    if (!(v >= 0.0f)) return 0;
    if (v >= (float)hi) return hi;
    return (int)v;
}

static void min_max(const float *x, int n, float *mn, float *mx)
{
    *mn = x[0], *mx = x[0];
    for (int j = 1; j < n; j++) {
        if (x[j] < *mn) *mn = x[j];
        if (x[j] > *mx) *mx = x[j];
    }
}

/* ---- Q4_0: 18 bytes ---- */

static void deq_q4_0(const uint8_t *b, float *y)
{
    float d = rt_rdh(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)((qs[j] & 0xF) - 8);
        y[j + 16] = d * (float)((qs[j] >> 4) - 8);
    }
}

void rt_dequant_q4_0(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK; i++)
        deq_q4_0(b + 18 * i, dst + QK * i);
}

void rt_quantize_q4_0(const float *src, void *dst, int64_t n)
{
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / QK; i++, b += 18) {
        const float *x = src + QK * i;
        float d = signed_absmax(x, QK) / -8.0f;
        uint16_t dh = rt_f32_to_fp16(d);
        float id = d != 0 ? 1.0f / d : 0.0f;
        rt_wr16(b, dh);
        for (int j = 0; j < 16; j++) {
            int q0 = code_of(x[j] * id + 8.5f, 15), q1 = code_of(x[j + 16] * id + 8.5f, 15);
            b[2 + j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

float rt_dot_q4_0(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    float sum = 0, y[QK];
    for (int64_t i = 0; i < n / QK; i++) {
        deq_q4_0(b + 18 * i, y);
        sum += rt_dot_block(y, x + QK * i, QK);
    }
    return sum;
}

/* ---- Q4_1: 20 bytes ---- */

static void deq_q4_1(const uint8_t *b, float *y)
{
    float d = rt_rdh(b), m = rt_rdh(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)(qs[j] & 0xF) + m;
        y[j + 16] = d * (float)(qs[j] >> 4) + m;
    }
}

void rt_dequant_q4_1(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK; i++)
        deq_q4_1(b + 20 * i, dst + QK * i);
}

void rt_quantize_q4_1(const float *src, void *dst, int64_t n)
{
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / QK; i++, b += 20) {
        const float *x = src + QK * i;
        float mn, mx;
        min_max(x, QK, &mn, &mx);
        float d = (mx - mn) / 15.0f, id = d != 0 ? 1.0f / d : 0.0f;
        rt_wr16(b, rt_f32_to_fp16(d));
        rt_wr16(b + 2, rt_f32_to_fp16(mn));
        for (int j = 0; j < 16; j++) {
            int q0 = code_of((x[j] - mn) * id + 0.5f, 15);
            int q1 = code_of((x[j + 16] - mn) * id + 0.5f, 15);
            b[4 + j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

float rt_dot_q4_1(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    float sum = 0, y[QK];
    for (int64_t i = 0; i < n / QK; i++) {
        deq_q4_1(b + 20 * i, y);
        sum += rt_dot_block(y, x + QK * i, QK);
    }
    return sum;
}

/* ---- Q5_0: 22 bytes ---- */

static void deq_q5_0(const uint8_t *b, float *y)
{
    float d = rt_rdh(b);
    uint32_t qh;
    memcpy(&qh, b + 2, 4);
    const uint8_t *qs = b + 6;
    for (int j = 0; j < 16; j++) {
        int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
        y[j] = d * (float)(((qs[j] & 0xF) | (h0 << 4)) - 16);
        y[j + 16] = d * (float)(((qs[j] >> 4) | (h1 << 4)) - 16);
    }
}

void rt_dequant_q5_0(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK; i++)
        deq_q5_0(b + 22 * i, dst + QK * i);
}

void rt_quantize_q5_0(const float *src, void *dst, int64_t n)
{
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / QK; i++, b += 22) {
        const float *x = src + QK * i;
        float d = signed_absmax(x, QK) / -16.0f, id = d != 0 ? 1.0f / d : 0.0f;
        rt_wr16(b, rt_f32_to_fp16(d));
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = code_of(x[j] * id + 16.5f, 31), q1 = code_of(x[j + 16] * id + 16.5f, 31);
            b[6 + j] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + 16);
        }
        memcpy(b + 2, &qh, 4);
    }
}

float rt_dot_q5_0(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    float sum = 0, y[QK];
    for (int64_t i = 0; i < n / QK; i++) {
        deq_q5_0(b + 22 * i, y);
        sum += rt_dot_block(y, x + QK * i, QK);
    }
    return sum;
}

/* ---- Q5_1: 24 bytes ---- */

static void deq_q5_1(const uint8_t *b, float *y)
{
    float d = rt_rdh(b), m = rt_rdh(b + 2);
    uint32_t qh;
    memcpy(&qh, b + 4, 4);
    const uint8_t *qs = b + 8;
    for (int j = 0; j < 16; j++) {
        int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
        y[j] = d * (float)((qs[j] & 0xF) | (h0 << 4)) + m;
        y[j + 16] = d * (float)((qs[j] >> 4) | (h1 << 4)) + m;
    }
}

void rt_dequant_q5_1(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK; i++)
        deq_q5_1(b + 24 * i, dst + QK * i);
}

void rt_quantize_q5_1(const float *src, void *dst, int64_t n)
{
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / QK; i++, b += 24) {
        const float *x = src + QK * i;
        float mn, mx;
        min_max(x, QK, &mn, &mx);
        float d = (mx - mn) / 31.0f, id = d != 0 ? 1.0f / d : 0.0f;
        rt_wr16(b, rt_f32_to_fp16(d));
        rt_wr16(b + 2, rt_f32_to_fp16(mn));
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = code_of((x[j] - mn) * id + 0.5f, 31);
            int q1 = code_of((x[j + 16] - mn) * id + 0.5f, 31);
            b[8 + j] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + 16);
        }
        memcpy(b + 4, &qh, 4);
    }
}

float rt_dot_q5_1(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    float sum = 0, y[QK];
    for (int64_t i = 0; i < n / QK; i++) {
        deq_q5_1(b + 24 * i, y);
        sum += rt_dot_block(y, x + QK * i, QK);
    }
    return sum;
}

/* ---- Q8_0: 34 bytes, Q8_1: 36 bytes ---- */

/* Reference rounding, as llama-quantize does it (a test checks our bytes
 * against a llama.cpp Q8_0 file): d = amax / 127, codes round(x * (1/d))
 * with halves away from zero. */
static void quant8(const float *x, uint8_t *dh, int8_t *qs, int *qsum)
{
    float amax = 0;
    for (int j = 0; j < QK; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    rt_wr16(dh, rt_f32_to_fp16(d));
    int s = 0;
    for (int j = 0; j < QK; j++) {
        float v = x[j] * id;
        /* NaN, or inf times a zero id: no code is right; 0 is harmless */
        int q = v >= 127.0f ? 127 : v <= -127.0f ? -127 : (v == v ? (int)roundf(v) : 0);
        qs[j] = (int8_t)q;
        s += q;
    }
    *qsum = s;
}

static float dot8(const uint8_t *qs8, const float *x)
{
    const int8_t *q = (const int8_t *)qs8;
    float s[8] = {0};
    for (int j = 0; j < QK; j += 8)
        for (int k = 0; k < 8; k++)
            s[k] += (float)q[j + k] * x[j + k];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

void rt_dequant_q8_0(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK; i++, b += 34) {
        float d = rt_rdh(b);
        const int8_t *q = (const int8_t *)(b + 2);
        for (int j = 0; j < QK; j++)
            dst[QK * i + j] = d * (float)q[j];
    }
}

void rt_quantize_q8_0(const float *src, void *dst, int64_t n)
{
    uint8_t *b = dst;
    int s;
    for (int64_t i = 0; i < n / QK; i++, b += 34)
        quant8(src + QK * i, b, (int8_t *)(b + 2), &s);
}

float rt_dot_q8_0(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    float sum = 0;
    for (int64_t i = 0; i < n / QK; i++, b += 34)
        sum += rt_rdh(b) * dot8(b + 2, x + QK * i);
    return sum;
}

void rt_dequant_q8_1(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK; i++, b += 36) {
        float d = rt_rdh(b);
        const int8_t *q = (const int8_t *)(b + 4);
        for (int j = 0; j < QK; j++)
            dst[QK * i + j] = d * (float)q[j];
    }
}

void rt_quantize_q8_1(const float *src, void *dst, int64_t n)
{
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / QK; i++, b += 36) {
        int s;
        quant8(src + QK * i, b, (int8_t *)(b + 4), &s);
        rt_wr16(b + 2, rt_f32_to_fp16(rt_rdh(b) * (float)s));
    }
}

float rt_dot_q8_1(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    float sum = 0;
    for (int64_t i = 0; i < n / QK; i++, b += 36)
        sum += rt_rdh(b) * dot8(b + 4, x + QK * i);
    return sum;
}
