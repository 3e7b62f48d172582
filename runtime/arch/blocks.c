/* blocks.c - the building blocks every architecture's forward pass shares:
 * RMS norm, matrix-vector products over (quantized) weights, rotary position
 * embeddings (normal, NEOX, YaRN) and softmax.
 *
 * Numerics follow the reference (ggml CPU) closely where it matters for the
 * 1e-3 F32 tolerance: RMS sums in double, rope angles advanced in float by
 * repeated multiplication, softmax with max subtraction. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"

void rt_rmsnorm(float *out, const float *x, const rt_weight *w, int64_t n, float eps)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(x[i] * x[i]);
    const float scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
    const float *wd = w && w->data ? (const float *)w->data : NULL;
    for (int64_t i = 0; i < n; i++)
        out[i] = wd ? x[i] * scale * wd[i] : x[i] * scale;
}

float rt_dot(const float *a, const float *b, int64_t n)
{
    /* independent partial sums so the compiler can vectorise without
     * reassociating a single accumulator */
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += a[i + j] * b[i + j];
    float s = 0.0f;
    for (; i < n; i++)
        s += a[i] * b[i];
    return s + ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

typedef struct {
    float *y;
    int64_t ldy;
    const rt_weight *w;
    const uint8_t *base;
    const float *x;
    int64_t ldx, nb, n;
    rt_dot_rows_fn dot_rows;
    rt_dot_rows2_fn dot_rows2;
} matmul_job;

/* Up to how many activation rows the fused dequantize+dot kernel is cheaper
 * than dequantizing the weight row once (measured break-even: the K-quants
 * and bf16 have costly dequantization, f16/q8_0 cheap). */
static int64_t fused_max_rows(uint32_t type)
{
    switch (type) {
    case RT_TYPE_F16:
        return 2;
    case RT_TYPE_Q8_0:
    case RT_TYPE_Q6_K:
        return 4;
    case RT_TYPE_BF16:
        return 16;
    default:
        return 8;
    }
}

static void matmul_rows(void *ctx, int64_t begin, int64_t end)
{
    const matmul_job *j = ctx;
    const rt_type_traits *tr = j->w->tr;
    /* F32 weights (routers, norms-sized heads) always take the panel kernels
     * below: their per-(row, token) sums do not depend on the batch size,
     * so decode and prompt processing route tokens identically. */
    if (j->nb == 1 && j->w->type != RT_TYPE_F32) {
        for (int64_t r = begin; r < end; r++)
            j->y[r] = tr->dot_f32(j->base + (size_t)r * j->w->row_bytes, j->x, j->n);
        return;
    }
    /* A few tokens: the fused kernel per token beats dequantizing the row. */
    if (j->w->type != RT_TYPE_F32 && j->nb < fused_max_rows(j->w->type)) {
        for (int64_t r = begin; r < end; r++) {
            const uint8_t *src = j->base + (size_t)r * j->w->row_bytes;
            for (int64_t b = 0; b < j->nb; b++)
                j->y[b * j->ldy + r] = tr->dot_f32(src, j->x + b * j->ldx, j->n);
        }
        return;
    }
    /* Several tokens: dequantize a panel of rows once, then float dots over
     * blocks of tokens so the panel stays in L2 and the token block in L1. */
    enum { PANEL = 32, TOKENS = 8 };
    const bool deq = j->w->type != RT_TYPE_F32;
    float *buf = NULL;
    if (deq) {
        buf = malloc(sizeof(float) * PANEL * (size_t)j->n);
        if (!buf) { /* fall back to the fused kernel */
            for (int64_t r = begin; r < end; r++)
                for (int64_t b = 0; b < j->nb; b++)
                    j->y[b * j->ldy + r] =
                        tr->dot_f32(j->base + (size_t)r * j->w->row_bytes, j->x + b * j->ldx, j->n);
            return;
        }
    }
    const float *wr[PANEL];
    for (int64_t r0 = begin; r0 < end; r0 += PANEL) {
        const int64_t rp = end - r0 < PANEL ? end - r0 : PANEL;
        for (int64_t i = 0; i < rp; i++) {
            const uint8_t *src = j->base + (size_t)(r0 + i) * j->w->row_bytes;
            if (deq) {
                tr->dequant(src, buf + i * j->n, j->n);
                wr[i] = buf + i * j->n;
            } else {
                wr[i] = (const float *)src;
            }
        }
        for (int64_t b0 = 0; b0 < j->nb; b0 += TOKENS) {
            const int64_t tb = j->nb - b0 < TOKENS ? j->nb - b0 : TOKENS;
            const float *xb = j->x + b0 * j->ldx;
            float *yb = j->y + b0 * j->ldy + r0;
            int64_t i = 0;
            if (j->dot_rows2)
                for (; i + 2 <= rp; i += 2)
                    j->dot_rows2(wr[i], wr[i + 1], xb, j->ldx, tb, j->n, yb + i, j->ldy);
            for (; i < rp; i++)
                j->dot_rows(wr[i], xb, j->ldx, tb, j->n, yb + i, j->ldy);
        }
    }
    free(buf);
}

/* The integer path: activations quantized once per call (Q8_0 or Q8_K, as
 * llama.cpp's CPU backend does), then the type's gemm over chunks of rows. */
typedef struct {
    float *y;
    int64_t ldy;
    const uint8_t *base;
    size_t row_bytes;
    const uint8_t *xq;
    size_t xq_stride;
    int64_t nb, n, rows;
    const rt_vec_dot_traits *vd;
} qmatmul_job;

void rt_gemm_tiled(const rt_vec_dot_traits *vd, const uint8_t *w, size_t row_bytes, int64_t nr,
                   const uint8_t *xq, size_t xq_stride, int64_t nt, int64_t n, float *y,
                   int64_t ldy)
{
    /* The kernels walk token groups outermost and rows inside, so with more
     * tokens than one group a row range is read once per group: keep the
     * range to ~256 KiB so the later groups find it in L2, not in memory. */
    int64_t tile = nr;
    if (nt > 4) {
        tile = (int64_t)(((size_t)256 << 10) / (row_bytes ? row_bytes : 1)) & ~(int64_t)15;
        if (tile < 16) tile = 16;
    }
    for (int64_t r = 0; r < nr; r += tile) {
        const int64_t rn = nr - r < tile ? nr - r : tile;
        vd->gemm(w + (size_t)r * row_bytes, row_bytes, rn, xq, xq_stride, nt, n, y + r, ldy);
    }
}

/* units [ub, ue) of RT_ROW_GROUP rows */
static void qmatmul_units(void *ctx, int64_t ub, int64_t ue)
{
    const qmatmul_job *j = ctx;
    const int64_t begin = ub * RT_ROW_GROUP;
    const int64_t end = ue * RT_ROW_GROUP < j->rows ? ue * RT_ROW_GROUP : j->rows;
    rt_gemm_tiled(j->vd, j->base + (size_t)begin * j->row_bytes, j->row_bytes, end - begin, j->xq,
                  j->xq_stride, j->nb, j->n, j->y + begin, j->ldy);
}

/* 0 when done; -1 when the weight has no integer path (or no memory), so the
 * float path runs. Every batch size goes through the same gemm, so a token's
 * logits are the same whether it is decoded alone or in a prompt batch. */
static int qmatmul(rt_pool *pool, float *y, int64_t ldy, const rt_weight *w, const uint8_t *base,
                   const float *x, int64_t ldx, int64_t nb)
{
    const rt_vec_dot_traits *vd = rt_type_vec_dot(w->type);
    const int64_t rows = w->ne[1], n = w->ne[0];
    if (!vd) return -1;
    const size_t arow = rt_type_row_size(vd->act_type, n);
    if (arow == 0) return -1; /* n not a multiple of the activation block */
    uint8_t *xq = malloc(arow * (size_t)nb);
    if (!xq) return -1;
    for (int64_t b = 0; b < nb; b++)
        vd->quantize_act(x + b * ldx, xq + (size_t)b * arow, n);
    qmatmul_job j = {y, ldy, base, w->row_bytes, xq, arow, nb, n, rows, vd};
    const int64_t units = (rows + RT_ROW_GROUP - 1) / RT_ROW_GROUP;
    /* same threshold as the float path (see rt_matmul) */
    if (!pool || rows * n * nb < 262144)
        qmatmul_units(&j, 0, units);
    else
        rt_pool_for(pool, units, 1, qmatmul_units, &j);
    free(xq);
    return 0;
}

/* Several weights against the same activations in one parallel job: the
 * activation rows are quantized once and the weights' rows form one index
 * space, so q/k/v (say) cost one thread hand-off instead of three and the
 * threads never wait at a barrier between them. Per (row, token) the gemm
 * is the one rt_matmul runs, so results are bit for bit the same. */
typedef struct {
    const rt_mm_out *outs;
    int n_outs;
    int64_t cum[RT_MM_MAX + 1]; /* first unit (RT_ROW_GROUP rows) of each output */
    const uint8_t *xq;
    size_t xq_stride;
    int64_t nb, n;
    const rt_vec_dot_traits *vd[RT_MM_MAX];
} qmulti_job;

/* units [b, e) of the outputs' concatenated row groups */
static void qmulti_units(void *ctx, int64_t b, int64_t e)
{
    const qmulti_job *j = ctx;
    int i = 0;
    while (b < e) {
        while (j->cum[i + 1] <= b)
            i++;
        const rt_mm_out *o = &j->outs[i];
        const rt_weight *w = o->w;
        const int64_t u1 = (e < j->cum[i + 1] ? e : j->cum[i + 1]) - j->cum[i];
        const int64_t r0 = (b - j->cum[i]) * RT_ROW_GROUP;
        const int64_t r1 = u1 * RT_ROW_GROUP < w->ne[1] ? u1 * RT_ROW_GROUP : w->ne[1];
        const uint8_t *base =
            w->data + ((size_t)o->expert * (size_t)w->ne[1] + (size_t)r0) * w->row_bytes;
        rt_gemm_tiled(j->vd[i], base, w->row_bytes, r1 - r0, j->xq, j->xq_stride, j->nb, j->n,
                      o->y + r0, o->ldy);
        b = j->cum[i] + u1;
    }
}

void rt_matmul_multi(rt_pool *pool, const rt_mm_out *outs, int n_outs, const float *x, int64_t ldx,
                     int64_t nb)
{
    if (nb <= 0 || n_outs <= 0) return;
    qmulti_job j = {.outs = outs, .n_outs = n_outs, .nb = nb};
    bool fused = n_outs <= RT_MM_MAX;
    for (int i = 0; fused && i < n_outs; i++) {
        const rt_weight *w = outs[i].w;
        j.vd[i] = rt_type_vec_dot(w->type);
        fused = j.vd[i] && w->ne[0] == outs[0].w->ne[0] && j.vd[i]->act_type == j.vd[0]->act_type;
        j.cum[i + 1] = j.cum[i] + (fused ? (w->ne[1] + RT_ROW_GROUP - 1) / RT_ROW_GROUP : 0);
    }
    j.n = outs[0].w->ne[0];
    const size_t arow = fused ? rt_type_row_size(j.vd[0]->act_type, j.n) : 0;
    uint8_t *xq = arow ? malloc(arow * (size_t)nb) : NULL;
    if (!xq) { /* mixed or float types (or no memory): one matmul each */
        for (int i = 0; i < n_outs; i++)
            rt_matmul(pool, outs[i].y, outs[i].ldy, outs[i].w, outs[i].expert, x, ldx, nb);
        return;
    }
    for (int64_t b = 0; b < nb; b++)
        j.vd[0]->quantize_act(x + b * ldx, xq + (size_t)b * arow, j.n);
    j.xq = xq;
    j.xq_stride = arow;
    const int64_t units = j.cum[n_outs];
    /* same threshold as rt_matmul */
    if (!pool || units * RT_ROW_GROUP * j.n * nb < 262144)
        qmulti_units(&j, 0, units);
    else
        rt_pool_for(pool, units, 1, qmulti_units, &j);
    free(xq);
}

void rt_matmul(rt_pool *pool, float *y, int64_t ldy, const rt_weight *w, int64_t expert,
               const float *x, int64_t ldx, int64_t nb)
{
    const int64_t rows = w->ne[1];
    if (nb <= 0) return;
    if (qmatmul(pool, y, ldy, w, w->data + (size_t)expert * (size_t)rows * w->row_bytes, x, ldx,
                nb) == 0)
        return;
    matmul_job j = {
        .y = y,
        .ldy = ldy,
        .w = w,
        .base = w->data + (size_t)expert * (size_t)rows * w->row_bytes,
        .x = x,
        .ldx = ldx,
        .nb = nb,
        .n = w->ne[0],
        .dot_rows = rt_dot_rows_select(),
        .dot_rows2 = rt_dot_rows2_select(),
    };
    /* Small products are not worth waking threads for: a sleeping worker
     * takes several microseconds to wake, so below about 2^18
     * multiply-adds the caller alone finishes first (measured on the tiny
     * qwen3moe Q8_0/Q4_K_M models at -t 2: 2^18 gave 1.14x to 1.17x the
     * decode tokens/s of 2^16; 2^14 and 2^20 were no better). */
    if (!pool || rows * w->ne[0] * nb < 262144)
        matmul_rows(&j, 0, rows);
    else
        rt_pool_for(pool, rows, nb > 1 ? 4 : 16, matmul_rows, &j);
}

void rt_matvec(rt_pool *pool, float *y, const rt_weight *w, int64_t expert, const float *x)
{
    rt_matmul(pool, y, w->ne[1], w, expert, x, w->ne[0], 1);
}

int rt_weight_row(const rt_weight *w, int64_t row, float *out)
{
    if (!w->data || !w->tr || !w->tr->dequant) return -1;
    w->tr->dequant(w->data + (size_t)row * w->row_bytes, out, w->ne[0]);
    return 0;
}

void rt_add_bias(float *y, const rt_weight *b, int64_t expert, int64_t n)
{
    if (!b || !b->data) return;
    const float *bd = (const float *)(b->data + (size_t)expert * b->row_bytes);
    for (int64_t i = 0; i < n; i++)
        y[i] += bd[i];
}

static float yarn_ramp(float low, float high, int i0)
{
    float y = ((float)(i0 / 2) - low) / fmaxf(0.001f, high - low);
    return 1.0f - fminf(1.0f, fmaxf(0.0f, y));
}

static float yarn_corr_dim(int n_dims, int n_ctx_orig, float n_rot, float base)
{
    return (float)n_dims * logf((float)n_ctx_orig / (n_rot * 2.0f * (float)M_PI)) /
           (2.0f * logf(base));
}

void rt_rope_cache(const rt_hparams *hp, int32_t pos, float *cs)
{
    const int n_dims = hp->n_rot;
    const float theta_scale = powf(hp->rope_base, -2.0f / (float)n_dims);
    const float freq_scale = hp->rope_freq_scale;
    float ext = hp->yarn ? hp->yarn_ext_factor : 0.0f;
    float corr0 = 0.0f, corr1 = 0.0f;
    if (ext != 0.0f) {
        float start =
            floorf(yarn_corr_dim(n_dims, hp->n_ctx_orig, hp->yarn_beta_fast, hp->rope_base));
        float end = ceilf(yarn_corr_dim(n_dims, hp->n_ctx_orig, hp->yarn_beta_slow, hp->rope_base));
        corr0 = fmaxf(0.0f, start);
        corr1 = fminf((float)(n_dims - 1), end);
    }
    float theta = (float)pos;
    for (int i0 = 0; i0 < n_dims; i0 += 2) {
        float mscale = hp->yarn ? hp->yarn_attn_factor : 1.0f;
        float t_interp = freq_scale * theta;
        float t = t_interp;
        if (ext != 0.0f) {
            float mix = yarn_ramp(corr0, corr1, i0) * ext;
            t = t_interp * (1.0f - mix) + theta * mix;
            mscale *= 1.0f + 0.1f * logf(1.0f / freq_scale);
        }
        cs[i0] = cosf(t) * mscale;
        cs[i0 + 1] = sinf(t) * mscale;
        theta *= theta_scale;
    }
}

void rt_rope_apply(float *v, int32_t n_heads, int32_t head_dim, int32_t n_rot, rt_rope_kind kind,
                   const float *cs)
{
    for (int32_t h = 0; h < n_heads; h++) {
        float *x = v + (size_t)h * head_dim;
        for (int32_t i0 = 0; i0 < n_rot; i0 += 2) {
            const float c = cs[i0], s = cs[i0 + 1];
            int32_t a = kind == RT_ROPE_NEOX ? i0 / 2 : i0;
            int32_t b = kind == RT_ROPE_NEOX ? i0 / 2 + n_rot / 2 : i0 + 1;
            const float x0 = x[a], x1 = x[b];
            x[a] = x0 * c - x1 * s;
            x[b] = x0 * s + x1 * c;
        }
    }
}

void rt_softmax(float *x, int64_t n)
{
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        mx = fmaxf(mx, x[i]);
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
}

float rt_silu(float x)
{
    return x / (1.0f + expf(-x));
}
