/* test_quant.c - tensor types: conversions, round-trip error bounds, fused
 * dot products, and bit-layout checks against real llama.cpp files.
 *
 * - fp16/bf16: IEEE edge cases written out by hand (subnormals, ties, inf,
 *   NaN), every half round-trips, and (when the compiler has _Float16) f32 to
 *   fp16 agrees with the compiler's own conversion on millions of inputs.
 * - every type: quantize -> dequantize stays within an error bound derived
 *   from the format (the code step of each block or sub-block for the data
 *   at hand), and dot_f32 equals a double-precision dot of the dequantized
 *   row within float rounding.
 * - golden (needs the fixtures dir as argv[1]): each tensor of the Q8_0,
 *   Q4_K_M and BF16 fixture files, dequantized here, matches the F32
 *   fixture's tensor within that format's bound - which only holds if our
 *   bit layouts match llama-quantize's - and our own quantizer, run on the
 *   F32 tensor, is no worse than llama-quantize was (for Q8_0/Q5_0 it must
 *   produce the very same bytes). */
#include "gguf.h"
#include "quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "../common/check.h"

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static float urand(void) /* [-1, 1) */
{
    return (float)((double)(rng() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
static float grand(void)
{
    float s = 0;
    for (int i = 0; i < 4; i++)
        s += urand();
    return s * 0.8660254f; /* ~unit variance */
}

/* ---- half precision ---- */

static void test_fp16(void)
{
    static const struct {
        uint16_t h;
        float f;
    } exact[] = {
        {0x0000, 0.0f},
        {0x3c00, 1.0f},
        {0xc000, -2.0f},
        {0x7bff, 65504.0f},
        {0x0400, 0x1p-14f},
        {0x0001, 0x1p-24f},
        {0x03ff, 1023 * 0x1p-24f},
        {0x3555, 0.333251953125f},
        {0x8001, -0x1p-24f},
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
        CHECK(rt_fp16_to_f32(exact[i].h) == exact[i].f);
        CHECK(rt_f32_to_fp16(exact[i].f) == exact[i].h);
    }
    CHECK(f2u(rt_fp16_to_f32(0x8000)) == 0x80000000u); /* -0 keeps its sign */
    CHECK(rt_f32_to_fp16(-0.0f) == 0x8000);
    CHECK(isinf(rt_fp16_to_f32(0x7c00)) && rt_fp16_to_f32(0x7c00) > 0);
    CHECK(isinf(rt_fp16_to_f32(0xfc00)) && rt_fp16_to_f32(0xfc00) < 0);
    CHECK(isnan(rt_fp16_to_f32(0x7e00)) && isnan(rt_fp16_to_f32(0x7c01)));
    CHECK(rt_f32_to_fp16(INFINITY) == 0x7c00 && rt_f32_to_fp16(-INFINITY) == 0xfc00);
    uint16_t hn = rt_f32_to_fp16(NAN);
    CHECK((hn & 0x7c00) == 0x7c00 && (hn & 0x3ff) != 0);
    hn = rt_f32_to_fp16(u2f(0x7f800001u)); /* signalling-style NaN must not become inf */
    CHECK((hn & 0x7c00) == 0x7c00 && (hn & 0x3ff) != 0);
    /* overflow and the tie at 65520 (between 65504 and "65536" = inf: to even = inf) */
    CHECK(rt_f32_to_fp16(65519.99f) == 0x7bff);
    CHECK(rt_f32_to_fp16(65520.0f) == 0x7c00);
    CHECK(rt_f32_to_fp16(1e10f) == 0x7c00 && rt_f32_to_fp16(-1e10f) == 0xfc00);
    /* ties to even in the normal range */
    CHECK(rt_f32_to_fp16(1.0f + 0x1p-11f) == 0x3c00);
    CHECK(rt_f32_to_fp16(1.0f + 3 * 0x1p-11f) == 0x3c02);
    CHECK(rt_f32_to_fp16(nextafterf(1.0f + 0x1p-11f, 2.0f)) == 0x3c01);
    /* subnormals: ties and the underflow edge */
    CHECK(rt_f32_to_fp16(0x1p-25f) == 0x0000);
    CHECK(rt_f32_to_fp16(nextafterf(0x1p-25f, 1.0f)) == 0x0001);
    CHECK(rt_f32_to_fp16(3 * 0x1p-25f) == 0x0002);
    CHECK(rt_f32_to_fp16(5 * 0x1p-25f) == 0x0002);
    CHECK(rt_f32_to_fp16(0x1p-14f - 0x1p-25f) == 0x0400); /* tie between 0x3ff and 0x400 */
    CHECK(rt_f32_to_fp16(1e-30f) == 0x0000 && rt_f32_to_fp16(-1e-30f) == 0x8000);
    /* every non-NaN half survives the round trip */
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = rt_fp16_to_f32((uint16_t)h);
        if (isnan(f)) continue;
        if (rt_f32_to_fp16(f) != h) {
            fprintf(stderr, "fp16 round trip of 0x%04x failed\n", h);
            check_fail_count++;
            break;
        }
    }
#ifdef __FLT16_MAX__
    /* independent oracle: the compiler's IEEE conversion */
    int bad = 0;
    for (int i = 0; i < 1000000 && bad < 5; i++) {
        uint32_t u = (uint32_t)rng();
        if (i & 1) u = (u & 0x807fffffu) | ((uint32_t)(100 + (rng() % 50)) << 23); /* near range */
        float f = u2f(u);
        if (isnan(f)) continue;
        _Float16 g = (_Float16)f;
        uint16_t want;
        memcpy(&want, &g, 2);
        if (rt_f32_to_fp16(f) != want) {
            fprintf(stderr, "fp16(%a) = 0x%04x, compiler says 0x%04x\n", (double)f,
                    rt_f32_to_fp16(f), want);
            bad++;
        }
    }
    check_fail_count += bad;
#endif
}

static void test_bf16(void)
{
    CHECK(rt_f32_to_bf16(1.0f) == 0x3f80 && rt_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(rt_f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80);     /* tie -> even */
    CHECK(rt_f32_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3f82); /* tie -> even */
    CHECK(rt_f32_to_bf16(nextafterf(1.0f + 0x1p-8f, 2.0f)) == 0x3f81);
    CHECK(rt_f32_to_bf16(-2.0f) == 0xc000);
    CHECK(rt_f32_to_bf16(INFINITY) == 0x7f80 && rt_f32_to_bf16(-INFINITY) == 0xff80);
    CHECK(rt_f32_to_bf16(u2f(0xff7fffffu)) == 0xff80); /* -FLT_MAX rounds to -inf */
    uint16_t n = rt_f32_to_bf16(u2f(0x7f800001u));     /* NaN with a low payload */
    CHECK((n & 0x7f80) == 0x7f80 && (n & 0x7f) != 0);
    CHECK(isnan(rt_bf16_to_f32(n)));
    CHECK(rt_f32_to_bf16(u2f(0x00008000u)) == 0x0000); /* subnormal tie -> even */
    CHECK(rt_f32_to_bf16(u2f(0x00018000u)) == 0x0002);
    CHECK(f2u(rt_bf16_to_f32(0x8000)) == 0x80000000u);
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = rt_bf16_to_f32((uint16_t)h);
        if (!isnan(f) && rt_f32_to_bf16(f) != h) {
            fprintf(stderr, "bf16 round trip of 0x%04x failed\n", h);
            check_fail_count++;
            break;
        }
    }
}

/* ---- error bounds derived from each format ----
 * For block (or sub-block) data x: a code step, and the worst error the
 * format permits as a multiple of it. */
typedef struct {
    uint32_t type;
    int sub;        /* elements sharing one scale */
    int levels;     /* code levels - 1 across the sub-block range */
    int symmetric;  /* codes centred on 0: range = 2*amax */
    double max_mul; /* max error <= max_mul * step (+ fp16 scale rounding) */
    double rms_mul; /* rms error <= rms_mul * rms step */
    /* K-quants: sub-block scales (and mins) are quantized on a grid of
     * scale_levels steps spanning the super-block's largest sub-block range
     * R, so each element may also be off by half a grid step per quantized
     * quantity: 0.5 * R / scale_levels for the scale, the same for the min. */
    int super;
    double scale_levels;
} fmt_bound;

static const fmt_bound bounds[] = {
    /* legacy: one rounding (0.5 step) except the top code of the symmetric
     * ones, which has no positive twin (1 step) */
    {RT_TYPE_Q4_0, 32, 15, 1, 1.0 * 15 / 16 * 1.02, 0.45, 0, 0},
    {RT_TYPE_Q5_0, 32, 31, 1, 1.0 * 31 / 32 * 1.02, 0.45, 0, 0},
    {RT_TYPE_Q4_1, 32, 15, 0, 0.5 * 1.05, 0.35, 0, 0},
    {RT_TYPE_Q5_1, 32, 31, 0, 0.5 * 1.1, 0.35, 0, 0},
    {RT_TYPE_Q8_0, 32, 254, 1, 0.5 * 1.15, 0.35, 0, 0},
    {RT_TYPE_Q8_1, 32, 254, 1, 0.5 * 1.15, 0.35, 0, 0},
    {RT_TYPE_Q8_K, 256, 254, 1, 0.5 * 1.01, 0.35, 0, 0},
    /* K-quants: the searched scale may clip a little, and the sub-block
     * scales are themselves quantized (6 bits; 4 bits for Q2_K) */
    {RT_TYPE_Q4_K, 32, 15, 0, 1.5, 0.40, 256, 63},
    {RT_TYPE_Q5_K, 32, 31, 0, 1.5, 0.40, 256, 63},
    {RT_TYPE_Q6_K, 16, 63, 1, 1.5, 0.40, 256, 256}, /* int8 scales over +-amax */
    {RT_TYPE_Q3_K, 16, 7, 1, 1.5, 0.45, 256, 64},   /* 6-bit signed scales */
    {RT_TYPE_Q2_K, 16, 3, 0, 2.0, 0.50, 256, 15},
    /* MXFP4: codes up to 6 with gaps of 2 at the top: worst is 1/6 of the
     * block's largest magnitude for the chosen power-of-two scale; we count
     * "levels" as 12 half-units over [-6, 6] and allow one gap */
    {RT_TYPE_MXFP4, 32, 12, 1, 2.0 * 1.01, 0.6, 0, 0},
};

/* step of one sub-block for the format */
static double sub_step(const fmt_bound *b, const float *x)
{
    double mn = 0, mx = 0, amax = 0;
    for (int i = 0; i < b->sub; i++) {
        mn = fmin(mn, x[i]);
        mx = fmax(mx, x[i]);
        amax = fmax(amax, fabs(x[i]));
    }
    return (b->symmetric ? 2 * amax : mx - mn) / b->levels;
}

/* Checks dequantized y against x for type b over n elements; returns 0 ok. */
static int check_bound(const fmt_bound *b, const float *x, const float *y, int64_t n,
                       const char *what, double *rms_out)
{
    double se = 0, sstep = 0, worst = 0;
    int bad = 0;
    double grid = 0;
    for (int64_t s = 0; s < n / b->sub; s++) {
        const float *xs = x + s * b->sub, *ys = y + s * b->sub;
        if (b->super && (s * b->sub) % b->super == 0) {
            double rmax = 0;
            for (int k = 0; k < b->super / b->sub; k++)
                rmax = fmax(rmax, sub_step(b, xs + k * b->sub) * b->levels);
            grid = (b->symmetric ? 0.5 : 1.0) * rmax / b->scale_levels;
        }
        double step = sub_step(b, xs), amax = 0;
        for (int i = 0; i < b->sub; i++)
            amax = fmax(amax, fabs(xs[i]));
        /* fp16 scales/mins round relative 2^-11: allow that times the magnitude */
        double lim = b->max_mul * step + grid + amax * 0x1p-9 + 1e-30;
        for (int i = 0; i < b->sub; i++) {
            double e = fabs((double)ys[i] - xs[i]);
            se += e * e;
            if (e / lim > worst) worst = e / lim;
            if (e > lim && bad++ < 3)
                fprintf(stderr, "%s %s: element %lld: %g vs %g, error %g > bound %g\n", what,
                        rt_type_name(b->type), (long long)(s * b->sub + i), ys[i], xs[i], e, lim);
        }
        sstep += (step + grid) * (step + grid) * b->sub;
    }
    double rms = sqrt(se / (double)n), rms_lim = b->rms_mul * sqrt(sstep / (double)n) + 1e-30;
    if (rms > rms_lim) {
        fprintf(stderr, "%s %s: rms error %g > bound %g\n", what, rt_type_name(b->type), rms,
                rms_lim);
        bad++;
    }
    if (rms_out) *rms_out = rms;
    return bad;
}

static double dot_ref(const float *a, const float *x, int64_t n, double *mag)
{
    double s = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        s += (double)a[i] * x[i];
        m += fabs((double)a[i] * x[i]);
    }
    *mag = m;
    return s;
}

static void fill_data(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t blk = i / 256;
        switch (blk % 6) {
        case 0:
            x[i] = grand();
            break;
        case 1:
            x[i] = urand() * 0.01f;
            break;
        case 2:
            x[i] = (i % 37 == 0) ? 20 * urand() : grand() * 0.1f;
            break; /* outliers */
        case 3:
            x[i] = 0.0f;
            break;
        case 4:
            x[i] = 0.75f + 0.01f * urand();
            break; /* all positive, narrow */
        default:
            x[i] = -3.0f + grand() * 1e-3f;
            break;
        }
    }
}

static void test_types(void)
{
    /* the table agrees with the geometry table and covers the promised types */
    static const uint32_t must[] = {RT_TYPE_F32,  RT_TYPE_F16,  RT_TYPE_BF16, RT_TYPE_Q8_0,
                                    RT_TYPE_Q4_0, RT_TYPE_Q4_1, RT_TYPE_Q5_0, RT_TYPE_Q5_1,
                                    RT_TYPE_Q4_K, RT_TYPE_Q5_K, RT_TYPE_Q6_K, RT_TYPE_Q8_K,
                                    RT_TYPE_MXFP4};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        CHECK(rt_type_get(must[i]) != NULL);
    for (uint32_t t = 0; t < RT_TYPE_COUNT + 5; t++) {
        const rt_type_traits *tr = rt_type_get(t);
        int64_t blck;
        size_t ts;
        if (!tr) continue;
        CHECK(rt_type_block_info(t, &blck, &ts) == 0 && blck == tr->blck_size &&
              ts == tr->type_size);
        CHECK(strcmp(tr->name, rt_type_name(t)) == 0);
        CHECK(tr->dequant && tr->quantize && tr->dot_f32);
        CHECK(rt_type_row_size(t, 4 * blck) == 4 * ts);
        CHECK(blck == 1 || rt_type_row_size(t, blck + 1) == 0);
    }
    CHECK(rt_type_get(4) == NULL && rt_type_get(RT_TYPE_COUNT) == NULL);
    CHECK(rt_type_name(1000) != NULL);

    const int64_t n = 256 * 12;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *v = malloc(n * sizeof *v);
    uint8_t *q = malloc((size_t)n * 4 + 64);
    fill_data(x, n);
    for (int64_t i = 0; i < n; i++)
        v[i] = grand();

    /* float types */
    const rt_type_traits *tr = rt_type_get(RT_TYPE_F32);
    tr->quantize(x, q, n);
    tr->dequant(q, y, n);
    CHECK(memcmp(x, y, n * sizeof *x) == 0);
    for (uint32_t t = RT_TYPE_F16; t <= RT_TYPE_BF16; t += RT_TYPE_BF16 - RT_TYPE_F16) {
        tr = rt_type_get(t);
        tr->quantize(x, q, n);
        tr->dequant(q, y, n);
        double rel = t == RT_TYPE_F16 ? 0x1p-11 : 0x1p-8;
        int bad = 0;
        for (int64_t i = 0; i < n; i++)
            if (fabs((double)y[i] - x[i]) > fabs(x[i]) * rel + 0x1p-24 && bad++ < 3)
                fprintf(stderr, "%s: %g -> %g\n", tr->name, x[i], y[i]);
        check_fail_count += bad;
    }

    for (size_t k = 0; k < sizeof bounds / sizeof bounds[0]; k++) {
        const fmt_bound *b = &bounds[k];
        tr = rt_type_get(b->type);
        if (!tr) {
            fprintf(stderr, "type %s missing\n", rt_type_name(b->type));
            check_fail_count++;
            continue;
        }
        memset(q, 0xAB, (size_t)n * 4);
        tr->quantize(x, q, n);
        CHECK(q[rt_type_row_size(b->type, n)] == 0xAB); /* wrote exactly one row */
        tr->dequant(q, y, n);
        double rms;
        check_fail_count += check_bound(b, x, y, n, "round trip", &rms);
        printf("%-6s round-trip rms %.5f\n", tr->name, rms);
    }

    /* dot_f32 == dot of the dequantized row, for every type, also at a row
     * that does not start on a 4-byte boundary */
    for (uint32_t t = 0; t < RT_TYPE_COUNT; t++) {
        tr = rt_type_get(t);
        if (!tr) continue;
        tr->quantize(x, q, n);
        for (int off = 0; off < 2; off++) {
            int64_t m = n / 2;
            const uint8_t *row = q + (off ? rt_type_row_size(t, m) : 0);
            tr->dequant(row, y, m);
            double mag, want = dot_ref(y, v, m, &mag);
            float got = tr->dot_f32(row, v, m);
            if (fabs(got - want) > 2e-6 * mag + 1e-30) {
                fprintf(stderr, "%s dot_f32 = %.9g, dequantized dot = %.9g (mag %g)\n", tr->name,
                        got, want, mag);
                check_fail_count++;
            }
        }
    }
    free(x), free(y), free(v), free(q);
}

/* The fast kernels rt_type_get() picks (AVX2 on this CPU, when it has it)
 * agree with the scalar reference on every type, for row lengths that
 * exercise the vector tails of the float types. */
static void test_fast_vs_scalar(void)
{
    const int64_t n = 256 * 8;
    float *x = malloc(n * sizeof *x), *v = malloc(n * sizeof *v), *y = malloc(n * sizeof *y);
    uint8_t *q = malloc((size_t)n * 4);
    fill_data(x, n);
    for (int64_t i = 0; i < n; i++)
        v[i] = grand();
    int n_fast = 0;
    for (uint32_t t = 0; t < RT_TYPE_COUNT; t++) {
        const rt_type_traits *fast = rt_type_get(t), *ref = rt_type_get_scalar(t);
        CHECK((fast == NULL) == (ref == NULL));
        if (!fast || !ref) continue;
        CHECK(fast->quantize == ref->quantize);
        n_fast += fast->dot_f32 != ref->dot_f32 || fast->dequant != ref->dequant;
        ref->quantize(x, q, n);
        /* dequantization is bit-identical */
        float *y2 = malloc(n * sizeof *y2);
        ref->dequant(q, y, n);
        fast->dequant(q, y2, n);
        if (memcmp(y, y2, n * sizeof *y) != 0) {
            fprintf(stderr, "%s: fast dequant differs from scalar\n", fast->name);
            check_fail_count++;
        }
        for (int64_t m = 1; m <= 40 && fast->blck_size == 1; m++) { /* vector tails */
            memset(y2, 0, 48 * sizeof *y2);
            fast->dequant(q, y2, m);
            if (memcmp(y, y2, m * sizeof *y) != 0 || y2[m] != 0) {
                fprintf(stderr, "%s: fast dequant of %lld elements wrong\n", fast->name,
                        (long long)m);
                check_fail_count++;
                break;
            }
        }
        free(y2);
        int64_t lens[] = {n, n - 256, 256, fast->blck_size, 3 * fast->blck_size, 8, 1, 7, 17, 33};
        for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
            int64_t m = lens[k];
            if (m <= 0 || m % fast->blck_size) continue;
            ref->dequant(q, y, m);
            double mag;
            dot_ref(y, v, m, &mag);
            float a = fast->dot_f32(q, v, m), b = ref->dot_f32(q, v, m);
            if (fabs((double)a - b) > 2e-6 * mag + 1e-30) {
                fprintf(stderr, "%s n=%lld: fast dot %.9g, scalar %.9g\n", fast->name, (long long)m,
                        a, b);
                check_fail_count++;
            }
        }
    }
    printf("fast kernels for %d types checked against scalar\n", n_fast);
    free(x), free(v), free(y), free(q);
}

/* Non-finite and extreme inputs: every quantizer copes without undefined
 * behaviour (UBSan would flag a NaN-to-int conversion), and blocks are
 * independent: a poisoned first block leaves later blocks' bytes unchanged. */
static void test_special_inputs(void)
{
    const int64_t n = 256 * 3;
    float *x = malloc(n * sizeof *x), *bad = malloc(n * sizeof *bad), *y = malloc(n * sizeof *y);
    uint8_t *qa = malloc((size_t)n * 4), *qb = malloc((size_t)n * 4);
    fill_data(x, n);
    static const float specials[] = {NAN, INFINITY, -INFINITY, 3e38f, -3e38f, 1e-42f, -0.0f};
    for (int variant = 0; variant < 3; variant++) {
        memcpy(bad, x, n * sizeof *x);
        for (int i = 0; i < 256; i++) {
            if (variant == 0) bad[i] = specials[i % 7];                     /* everything */
            if (variant == 1 && i % 9 == 0) bad[i] = specials[(i / 9) % 7]; /* sprinkled */
            if (variant == 2) bad[i] = i % 2 ? 3e38f : -3e38f;              /* huge, finite */
        }
        for (uint32_t t = 0; t < RT_TYPE_COUNT; t++) {
            const rt_type_traits *tr = rt_type_get(t);
            if (!tr) continue;
            tr->quantize(x, qa, n);
            tr->quantize(bad, qb, n);
            tr->dequant(qb, y, n); /* must not crash either */
            size_t first = rt_type_row_size(t, 256), all = rt_type_row_size(t, n);
            if (memcmp(qa + first, qb + first, all - first) != 0) {
                fprintf(stderr, "%s: special values in block 0 changed later blocks\n", tr->name);
                check_fail_count++;
            }
        }
    }
    free(x), free(bad), free(y), free(qa), free(qb);
}

/* Quantized-activation dots: exactly the dot of the dequantized weights with
 * the dequantized activations (integer sums are exact; only the float
 * scaling rounds), for the scalar and the fast kernels; and close to the
 * float-activation dot within the activation's rounding error. */
static void test_vec_dot(void)
{
    const int64_t n = 256 * 8;
    float *x = malloc(n * sizeof *x), *v = malloc(n * sizeof *v), *wd = malloc(n * sizeof *wd);
    float *vd = malloc(n * sizeof *vd);
    uint8_t *q = malloc((size_t)n * 4), *vq = malloc((size_t)n * 4);
    fill_data(x, n);
    for (int64_t i = 0; i < n; i++)
        v[i] = grand() * (i % 97 == 0 ? 10.0f : 1.0f);
    static const uint32_t want[] = {RT_TYPE_Q8_0, RT_TYPE_Q4_0, RT_TYPE_Q5_0, RT_TYPE_Q4_K,
                                    RT_TYPE_Q5_K, RT_TYPE_Q6_K, RT_TYPE_MXFP4};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
        CHECK(rt_type_vec_dot(want[k]));
    CHECK(rt_type_vec_dot(RT_TYPE_F32) == NULL && rt_type_vec_dot(RT_TYPE_COUNT) == NULL);
    for (uint32_t t = 0; t < RT_TYPE_COUNT; t++) {
        const rt_vec_dot_traits *fast = rt_type_vec_dot(t), *ref = rt_type_vec_dot_scalar(t);
        CHECK((fast == NULL) == (ref == NULL));
        if (!fast || !ref) continue;
        CHECK(fast->act_type == ref->act_type);
        const rt_type_traits *wt = rt_type_get(t), *at = rt_type_get(fast->act_type);
        wt->quantize(x, q, n);
        at->quantize(v, vq, n);
        wt->dequant(q, wd, n);
        at->dequant(vq, vd, n);
        for (int64_t m = n; m >= 256; m /= 4) {
            double mag, exact = dot_ref(wd, vd, m, &mag);
            float a = ref->vec_dot(q, vq, m), b = fast->vec_dot(q, vq, m);
            if (fabs(a - exact) > 2e-6 * mag + 1e-30 || fabs(b - exact) > 2e-6 * mag + 1e-30) {
                fprintf(stderr, "%s vec_dot n=%lld: scalar %.9g, fast %.9g, exact %.9g\n", wt->name,
                        (long long)m, a, b, exact);
                check_fail_count++;
            }
            /* against float activations: off by at most sum |w| * |v - vq| */
            double slack = 0;
            for (int64_t i = 0; i < m; i++)
                slack += fabs((double)wd[i] * ((double)v[i] - vd[i]));
            double mag2, fl = dot_ref(wd, v, m, &mag2);
            if (fabs(b - fl) > slack * 1.001 + 2e-6 * mag2) {
                fprintf(stderr, "%s vec_dot %g vs float-activation dot %g (slack %g)\n", wt->name,
                        b, fl, slack);
                check_fail_count++;
            }
        }
    }
    free(x), free(v), free(wd), free(vd), free(q), free(vq);
}

/* Every ISA's activation quantizer is bit-identical to the scalar one
 * (including ties: roundf rounds half away from zero for Q8_0, Q8_K rounds
 * half to even), and every ISA's gemm gives, for each (row, token), exactly
 * the bits of its own one-pair vec_dot whatever the number of tokens (what
 * makes prefill and decode agree), and stays within float rounding of the
 * scalar reference. */
static void test_gemm_n(int64_t n, int *checked_out)
{
    static const char *const isas[] = {"scalar", "avx2", "avx512vnni"};
    /* more rows and tokens than one kernel tile (4 x 8), with remainders */
    enum { NR = 11, NT = 19 };
    float *w = malloc(sizeof(float) * NR * n), *x = malloc(sizeof(float) * NT * n);
    float *wd = malloc(sizeof(float) * n), *xd = malloc(sizeof(float) * n);
    uint8_t *wq = malloc((size_t)NR * n * 4), *xq = malloc((size_t)NT * n * 4);
    uint8_t *xr = malloc((size_t)NT * n * 4);
    float out[NT * NR];
    for (int64_t i = 0; i < NR * n; i++)
        w[i] = grand();
    for (int64_t i = 0; i < NT * n; i++)
        x[i] = grand() * (i % 89 == 0 ? 8.0f : 1.0f);
    /* token 6: exact halves after scaling (amax 127 gives scale 1) */
    for (int64_t i = 0; i < n; i++)
        x[6 * n + i] = (i % 32 == 0) ? 127.0f : (float)((i % 11) - 5) + 0.5f;
    int checked = 0;
    for (uint32_t t = 0; t < RT_TYPE_COUNT; t++) {
        const rt_vec_dot_traits *ref = rt_type_vec_dot_scalar(t);
        if (!ref) continue;
        const rt_type_traits *wt = rt_type_get_scalar(t), *at = rt_type_get_scalar(ref->act_type);
        const size_t wrow = rt_type_row_size(t, n), arow = rt_type_row_size(ref->act_type, n);
        if (!wrow || !arow) continue; /* n is not a whole number of this type's blocks */
        for (int r = 0; r < NR; r++)
            wt->quantize(w + r * n, wq + r * wrow, n);
        for (int k = 0; k < NT; k++)
            at->quantize(x + k * n, xr + k * arow, n);
        for (size_t ii = 0; ii < sizeof isas / sizeof isas[0]; ii++) {
            const rt_vec_dot_traits *vd = rt_type_vec_dot_isa(t, isas[ii]);
            if (!vd) continue;
            checked++;
            CHECK(vd->act_type == ref->act_type && vd->gemm && vd->quantize_act);
            for (int k = 0; k < NT; k++)
                vd->quantize_act(x + k * n, xq + k * arow, n);
            if (memcmp(xq, xr, arow * NT) != 0) {
                fprintf(stderr, "%s/%s: activation quantizer differs from the scalar one\n",
                        wt->name, isas[ii]);
                check_fail_count++;
            }
            /* all tokens at once, then odd splits: bits must not change */
            vd->gemm(wq, wrow, NR, xq, arow, NT, n, out, NR);
            for (int split = 1; split <= 9; split += (split < 3 ? 1 : 6)) {
                float o2[NT * NR];
                for (int k0 = 0; k0 < NT; k0 += split) {
                    int kn = NT - k0 < split ? NT - k0 : split;
                    vd->gemm(wq, wrow, NR, xq + k0 * arow, arow, kn, n, o2 + k0 * NR, NR);
                }
                if (memcmp(o2, out, sizeof out) != 0) {
                    fprintf(stderr, "%s/%s: gemm bits depend on the token split %d\n", wt->name,
                            isas[ii], split);
                    check_fail_count++;
                }
            }
            /* rows in odd ranges (tile remainders): bits must not change */
            for (int rs = 1; rs <= 6; rs += 5) {
                float o2[NT * NR];
                for (int r0 = 0; r0 < NR; r0 += rs) {
                    int rn = NR - r0 < rs ? NR - r0 : rs;
                    vd->gemm(wq + r0 * wrow, wrow, rn, xq, arow, NT, n, o2 + r0, NR);
                }
                if (memcmp(o2, out, sizeof out) != 0) {
                    fprintf(stderr, "%s/%s: gemm bits depend on the row split %d\n", wt->name,
                            isas[ii], rs);
                    check_fail_count++;
                }
            }
            for (int r = 0; r < NR; r++) {
                wt->dequant(wq + r * wrow, wd, n);
                for (int k = 0; k < NT; k++) {
                    float one = vd->vec_dot(wq + r * wrow, xq + k * arow, n);
                    float sref = ref->vec_dot(wq + r * wrow, xq + k * arow, n);
                    at->dequant(xq + k * arow, xd, n);
                    double mag, exact = dot_ref(wd, xd, n, &mag);
                    float g = out[k * NR + r];
                    if (memcmp(&one, &g, sizeof g) != 0 || fabs(g - exact) > 2e-6 * mag ||
                        fabs(sref - exact) > 2e-6 * mag) {
                        fprintf(stderr,
                                "%s/%s gemm r%d t%d: %.9g, vec_dot %.9g, scalar %.9g, exact "
                                "%.9g\n",
                                wt->name, isas[ii], r, k, g, one, sref, exact);
                        check_fail_count++;
                    }
                }
            }
        }
    }
    *checked_out += checked;
    free(w), free(x), free(wd), free(xd), free(wq), free(xq), free(xr);
}

/* Weight rows of raw random bytes rather than quantizer output: every
 * MXFP4 exponent byte (0 and 1 give subnormal scales, 255 overflows to
 * inf) and every Q6_K code, high-bit and scale pattern, so a one-pair
 * vec_dot that computes its scales or codes its own way (vectorized, in
 * batches of blocks) is held to the gemm's bits on all of them. */
static void test_gemm_raw_bytes(uint32_t type, int64_t n, int *checked_out)
{
    static const char *const isas[] = {"scalar", "avx2", "avx512vnni"};
    enum { NR = 6, NT = 5 };
    const rt_vec_dot_traits *ref = rt_type_vec_dot_scalar(type);
    CHECK(ref != NULL);
    if (!ref) return;
    const rt_type_traits *at = rt_type_get_scalar(ref->act_type);
    const size_t wrow = rt_type_row_size(type, n), arow = rt_type_row_size(ref->act_type, n);
    CHECK(wrow > 0 && arow > 0);
    uint8_t *wq = malloc((size_t)NR * wrow), *xq = malloc((size_t)NT * arow);
    float *x = malloc(sizeof(float) * (size_t)n);
    float out[NT * NR];
    for (size_t i = 0; i < (size_t)NR * wrow; i++)
        wq[i] = (uint8_t)(rng() >> 24);
    for (int r = 0; r < NR; r++) {
        uint8_t *row = wq + (size_t)r * wrow;
        if (type == RT_TYPE_MXFP4) {
            /* rows 0-1 only tiny exponents (their sum is all subnormal
             * scales), row 2 every byte value in turn, the rest random */
            for (int64_t i = 0; i < n / 32; i++)
                if (r < 2)
                    row[17 * i] = (uint8_t)(i % (r ? 4 : 2));
                else if (r == 2)
                    row[17 * i] = (uint8_t)(i * 7);
        } else if (type == RT_TYPE_Q6_K) {
            for (int64_t i = 0; i < n / 256; i++) { /* finite d of either sign */
                const uint16_t d = rt_f32_to_fp16(grand() * 0.01f);
                memcpy(row + 210 * i + 208, &d, 2);
            }
        }
    }
    for (int k = 0; k < NT; k++) {
        for (int64_t i = 0; i < n; i++)
            x[i] = grand();
        at->quantize(x, xq + (size_t)k * arow, n);
    }
    for (size_t ii = 0; ii < sizeof isas / sizeof isas[0]; ii++) {
        const rt_vec_dot_traits *vd = rt_type_vec_dot_isa(type, isas[ii]);
        if (!vd) continue;
        (*checked_out)++;
        vd->gemm(wq, wrow, NR, xq, arow, NT, n, out, NR);
        for (int r = 0; r < NR; r++)
            for (int k = 0; k < NT; k++) {
                float one = vd->vec_dot(wq + (size_t)r * wrow, xq + (size_t)k * arow, n);
                float g = out[k * NR + r];
                if (memcmp(&one, &g, sizeof g) != 0) {
                    fprintf(stderr, "%s raw bytes n=%lld r%d t%d: gemm %.9g, vec_dot %.9g\n",
                            isas[ii], (long long)n, r, k, g, one);
                    check_fail_count++;
                }
            }
    }
    free(wq), free(xq), free(x);
}

/* n = 1024: whole K-quant blocks; n = 1184: 37 blocks of 32, an odd count
 * (the Q8_0 kernels pair blocks and pad the last one). Row counts also
 * vary by weight row (the tiles' row remainders) through the gemm calls
 * on sub-ranges below. */
static void test_gemm(void)
{
    int checked = 0;
    test_gemm_n(256 * 4, &checked);
    test_gemm_n(32 * 37, &checked);
    int raw = 0;
    test_gemm_raw_bytes(RT_TYPE_MXFP4, 32 * 37, &raw);
    test_gemm_raw_bytes(RT_TYPE_MXFP4, 32 * 64, &raw);
    test_gemm_raw_bytes(RT_TYPE_Q6_K, 256 * 5, &raw);
    CHECK(raw >= 3);
    checked += raw;
    CHECK(checked >= 10);
    printf("gemm/vec_dot/activation quantizers: %d (type, isa, n) cases checked\n", checked);
}

/* ---- golden: real llama-quantize output vs the F32 fixture ---- */

static const fmt_bound *bound_of(uint32_t type)
{
    for (size_t k = 0; k < sizeof bounds / sizeof bounds[0]; k++)
        if (bounds[k].type == type) return &bounds[k];
    return NULL;
}

static int golden_pair(const char *f32_path, const char *q_path)
{
    char err[512];
    gguf_file *a, *b;
    if (gguf_open(f32_path, &a, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (gguf_open(q_path, &b, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        gguf_close(a);
        return 1;
    }
    int bad = 0, n_checked = 0;
    for (size_t i = 0; i < gguf_n_tensors(b); i++) {
        const gguf_tensor *tq = gguf_tensor_at(b, i), *tf = gguf_tensor_find(a, tq->name);
        if (!tf || tf->type != RT_TYPE_F32) {
            fprintf(stderr, "%s: %s has no F32 twin\n", q_path, tq->name);
            bad++;
            continue;
        }
        int64_t n = tq->ne[0] * tq->ne[1] * tq->ne[2] * tq->ne[3];
        const rt_type_traits *tr = rt_type_get(tq->type);
        if (!tr) {
            fprintf(stderr, "%s: %s type %s unsupported\n", q_path, tq->name,
                    rt_type_name(tq->type));
            bad++;
            continue;
        }
        float *y = malloc((size_t)n * sizeof *y), *x = malloc((size_t)n * sizeof *x);
        memcpy(x, tf->data, (size_t)n * sizeof *x);
        tr->dequant(tq->data, y, n);
        char what[300];
        snprintf(what, sizeof what, "%.200s %.90s", q_path, tq->name);
        if (tq->type == RT_TYPE_F32) {
            bad += memcmp(x, y, (size_t)n * 4) != 0;
        } else if (tq->type == RT_TYPE_BF16) {
            /* the converter rounds to nearest even: every element must be exact */
            int64_t mism = 0;
            for (int64_t k = 0; k < n; k++)
                mism += rt_f32_to_bf16(x[k]) != rt_f32_to_bf16(y[k]);
            for (int64_t k = 0; k < n; k++)
                mism += y[k] != rt_bf16_to_f32(rt_f32_to_bf16(x[k]));
            if (mism) fprintf(stderr, "%s: %lld bf16 mismatches\n", what, (long long)mism);
            bad += mism != 0;
        } else {
            const fmt_bound *fb = bound_of(tq->type);
            double rms_all = 0;
            if (!fb) {
                fprintf(stderr, "%s: no bound for %s\n", what, rt_type_name(tq->type));
                bad++;
            } else {
                bad += check_bound(fb, x, y, n, what, &rms_all);
                /* the legacy types have one reference rounding: our bytes must
                 * be llama-quantize's, block for block */
                if (tq->type == RT_TYPE_Q8_0 || tq->type == RT_TYPE_Q5_0 ||
                    tq->type == RT_TYPE_Q4_0) {
                    uint8_t *mine = malloc(tq->nbytes);
                    tr->quantize(x, mine, n);
                    if (memcmp(mine, tq->data, tq->nbytes) != 0) {
                        fprintf(stderr, "%s: our %s bytes differ from llama-quantize's\n", what,
                                tr->name);
                        bad++;
                    }
                    free(mine);
                }
                /* our quantizer on the same F32 data is not worse than theirs
                 * (on the first rows only, to keep the test fast under ASan) */
                int64_t m = n < 16384 ? n : 16384 - 16384 % tr->blck_size;
                double se_ref = 0, se = 0;
                for (int64_t k = 0; k < m; k++)
                    se_ref += ((double)y[k] - x[k]) * ((double)y[k] - x[k]);
                uint8_t *q = malloc(tq->nbytes);
                tr->quantize(x, q, m);
                tr->dequant(q, y, m);
                for (int64_t k = 0; k < m; k++)
                    se += ((double)y[k] - x[k]) * ((double)y[k] - x[k]);
                if (se > se_ref * 1.05 * 1.05) {
                    fprintf(stderr, "%s: our %s rms %g vs llama-quantize %g\n", what, tr->name,
                            sqrt(se / (double)m), sqrt(se_ref / (double)m));
                    bad++;
                }
                free(q);
            }
        }
        /* dot against a fixed vector agrees with the F32 tensor's dot within
         * the same error the dequantized values have */
        float *v = malloc((size_t)tq->ne[0] * sizeof *v);
        for (int64_t k = 0; k < tq->ne[0]; k++)
            v[k] = sinf((float)k * 0.37f);
        tr->dequant(tq->data, y, tq->ne[0]);
        double mag, want = dot_ref(y, v, tq->ne[0], &mag);
        float got = tr->dot_f32(tq->data, v, tq->ne[0]);
        if (fabs(got - want) > 2e-6 * mag + 1e-30) {
            fprintf(stderr, "%s: dot %g vs %g\n", what, got, want);
            bad++;
        }
        free(v);
        free(x), free(y);
        n_checked++;
    }
    printf("golden %-55s %d tensors, %d failures\n", q_path, n_checked, bad);
    gguf_close(a);
    gguf_close(b);
    return bad + (n_checked == 0);
}

static int test_golden(const char *dir)
{
    static const char *const archs[] = {"qwen3moe", "mixtral", "deepseek2"};
    static const char *const quants[] = {"q8_0", "q4_k_m", "bf16"};
    int bad = 0, found = 0;
    for (size_t a = 0; a < 3; a++) {
        char f32[1024], qp[1024];
        snprintf(f32, sizeof f32, "%s/models/%s/%s-f32.gguf", dir, archs[a], archs[a]);
        struct stat st;
        if (stat(f32, &st) != 0) continue;
        for (size_t k = 0; k < 3; k++) {
            snprintf(qp, sizeof qp, "%s/models/%s/%s-%s.gguf", dir, archs[a], archs[a], quants[k]);
            if (stat(qp, &st) != 0) continue;
            found++;
            bad += golden_pair(f32, qp);
        }
    }
    if (!found) return -1;
    return bad;
}

int main(int argc, char **argv)
{
    test_fp16();
    test_bf16();
    test_types();
    test_fast_vs_scalar();
    test_vec_dot();
    test_gemm();
    test_special_inputs();
    const char *dir = argc > 1 ? argv[1] : getenv("SWARM_FIXTURES");
    const char *ci = getenv("CI");
    int g = dir ? test_golden(dir) : -1;
    if (g < 0) {
        fprintf(stderr, "fixtures not found under %s: golden checks skipped\n",
                dir ? dir : "(unset)");
        if (ci && strcmp(ci, "true") == 0) return 1;
        if (!check_fail_count) return 77;
    } else {
        check_fail_count += g;
    }
    printf("%d failures\n", check_fail_count);
    return check_fail_count ? 1 : 0;
}
