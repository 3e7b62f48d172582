/* mxfp4.c - MXFP4 (OCP microscaling FP4), ggml layout: 32 elements in 17
 * bytes {uint8 e; uint8 qs[16]}. Element j is the low nibble of qs[j],
 * element j + 16 the high nibble; a nibble is an FP4 E2M1 code (sign bit 3)
 * and the block scale is 2^(e - 127). ggml stores the E2M1 values doubled
 * as integers {0,1,2,3,4,6,8,12} and halves the scale to compensate; the
 * product is the same, which is what we compute. */
#include "quant_impl.h"

/* Dequantized values must not depend on whether the compiler fuses a
 * multiply and an add: the scalar and vector kernels must agree bit for bit.
 * (GCC never fuses in ISO C mode, -std=c11, which the build uses.) */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#include <float.h>

static void deq_mxfp4(const uint8_t *b, float *y)
{
    float d = rt_e8m0_half(b[0]);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)rt_e2m1_x2[b[1 + j] & 0xF];
        y[j + 16] = d * (float)rt_e2m1_x2[b[1 + j] >> 4];
    }
}

void rt_dequant_mxfp4(const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 32; i++)
        deq_mxfp4(b + 17 * i, dst + 32 * i);
}

/* Nearest code for v (already divided by the half scale). Ties go to the
 * code with the even mantissa, as round-to-nearest-even would. */
static int nearest_code(float v)
{
    float a = fabsf(v), best = FLT_MAX;
    int bi = 0;
    for (int c = 0; c < 8; c++) {
        float e = fabsf(a - (float)rt_e2m1_x2[c]);
        if (e < best || (e == best && (c & 1) == 0)) best = e, bi = c;
    }
    return (v < 0 && bi != 0) ? bi | 8 : bi;
}

static float quant_block(const float *x, uint8_t e, uint8_t *qs)
{
    float d = rt_e8m0_half(e), id = 1.0f / d, err = 0;
    memset(qs, 0, 16);
    for (int j = 0; j < 32; j++) {
        int c = nearest_code(x[j] * id);
        float r = d * (float)rt_e2m1_x2[c] - x[j];
        err += r * r;
        qs[j & 15] |= (uint8_t)(c << (j < 16 ? 0 : 4));
    }
    return err;
}

void rt_quantize_mxfp4(const float *src, void *dst, int64_t n)
{
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / 32; i++, b += 17) {
        const float *x = src + 32 * i;
        float amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        if (amax == 0 || !isfinite(amax)) {
            memset(b, 0, 17);
            continue;
        }
        /* largest E2M1 magnitude is 6 = 1.5 * 2^2: pick e so amax lands near
         * it, then also try one step up (less clipping) and keep the better */
        int e = (int)floorf(log2f(amax)) - 2 + 127;
        e = e < 0 ? 0 : e > 253 ? 253 : e;
        uint8_t qa[16], qb[16];
        float ea = quant_block(x, (uint8_t)e, qa), eb = quant_block(x, (uint8_t)(e + 1), qb);
        if (eb < ea) {
            b[0] = (uint8_t)(e + 1);
            memcpy(b + 1, qb, 16);
        } else {
            b[0] = (uint8_t)e;
            memcpy(b + 1, qa, 16);
        }
    }
}

float rt_dot_mxfp4(const void *w, const float *x, int64_t n)
{
    const uint8_t *b = w;
    float sum = 0, y[32];
    for (int64_t i = 0; i < n / 32; i++) {
        deq_mxfp4(b + 17 * i, y);
        sum += rt_dot_block(y, x + 32 * i, 32);
    }
    return sum;
}
