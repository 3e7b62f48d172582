/* moe.c - feed-forward blocks: dense SwiGLU, and mixture-of-experts with the
 * routing variants of the supported families:
 *   softmax over all experts then top-k (Mixtral, Qwen, OLMoE, DeepSeek-V2),
 *   sigmoid + selection bias + expert groups (DeepSeek-V3),
 *   top-k on raw logits then softmax over the chosen (gpt-oss);
 * optional renormalisation and scaling of the chosen weights, shared experts
 * (plain or sigmoid-gated), per-expert biases and gpt-oss's clamped SwiGLU. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"

static float sigmoidf(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

void rt_moe_route(const rt_hparams *hp, const rt_weight *probs_bias, float *logits, float *scratch,
                  int32_t *ids, float *weights)
{
    const int32_t NE = hp->n_expert, K = hp->n_expert_used;
    float *probs = logits;
    if (hp->gating == RT_GATE_SOFTMAX)
        rt_softmax(probs, NE);
    else if (hp->gating == RT_GATE_SIGMOID)
        for (int32_t e = 0; e < NE; e++)
            probs[e] = sigmoidf(probs[e]);
    /* Selection scores: probabilities plus the optional selection bias. */
    float *sel = scratch;
    for (int32_t e = 0; e < NE; e++)
        sel[e] = probs[e] +
                 (probs_bias && probs_bias->data ? ((const float *)probs_bias->data)[e] : 0.0f);
    if (hp->n_group > 1 && hp->n_group_used < hp->n_group) {
        /* Keep the n_group_used groups whose two best experts score highest. */
        const int32_t G = hp->n_group, per = NE / G;
        float gscore[256];
        bool keep[256];
        int32_t ng = G > 256 ? 256 : G;
        for (int32_t g = 0; g < ng; g++) {
            float a = -INFINITY, b = -INFINITY;
            for (int32_t i = 0; i < per; i++) {
                float v = sel[g * per + i];
                if (v > a) {
                    b = a;
                    a = v;
                } else if (v > b) {
                    b = v;
                }
            }
            gscore[g] = per >= 2 ? a + b : a;
            keep[g] = false;
        }
        for (int32_t k = 0; k < hp->n_group_used && k < ng; k++) {
            int32_t best = -1;
            for (int32_t g = 0; g < ng; g++)
                if (!keep[g] && (best < 0 || gscore[g] > gscore[best])) best = g;
            keep[best] = true;
        }
        for (int32_t g = 0; g < ng; g++)
            if (!keep[g])
                for (int32_t i = 0; i < per; i++)
                    sel[g * per + i] = -INFINITY;
    }
    /* top-k by selection score (stable: lower id wins ties) */
    for (int32_t k = 0; k < K; k++) {
        int32_t best = -1;
        for (int32_t e = 0; e < NE; e++) {
            bool taken = false;
            for (int32_t j = 0; j < k; j++)
                taken |= ids[j] == e;
            if (!taken && (best < 0 || sel[e] > sel[best])) best = e;
        }
        ids[k] = best;
        weights[k] = probs[best];
    }
    if (hp->gating == RT_GATE_SOFTMAX_WEIGHT) rt_softmax(weights, K);
    if (hp->expert_norm) {
        float sum = 0.0f;
        for (int32_t k = 0; k < K; k++)
            sum += weights[k];
        if (sum < 6.103515625e-5f) sum = 6.103515625e-5f;
        for (int32_t k = 0; k < K; k++)
            weights[k] /= sum;
    }
    if (hp->expert_scale != 0.0f && hp->expert_scale != 1.0f)
        for (int32_t k = 0; k < K; k++)
            weights[k] *= hp->expert_scale;
}

/* out[i] = down(act(gate(x[i]), up(x[i]))) for n rows of x (stride E) through
 * one expert slice (or a dense FFN); hb/hb2 hold n rows of width ff. */
static void swiglu_ffn(const rt_model *m, rt_scratch *s, const rt_weight *gate, const rt_weight *up,
                       const rt_weight *down, const rt_weight *gate_b, const rt_weight *up_b,
                       const rt_weight *down_b, int64_t e, const float *x, float *out, int32_t n)
{
    const rt_hparams *hp = &m->hp;
    const int64_t ff = gate->ne[1], E = hp->n_embd;
    const rt_mm_out gu[2] = {{s->hb, ff, gate, e}, {s->hb2, ff, up, e}};
    rt_matmul_multi(m->pool, gu, 2, x, E, n);
    for (int32_t b = 0; b < n; b++) {
        float *g = s->hb + b * ff, *u = s->hb2 + b * ff;
        rt_add_bias(g, gate_b, e, ff);
        rt_add_bias(u, up_b, e, ff);
        if (m->kind == RT_ARCH_GPTOSS) {
            const float lim = hp->swiglu_limit, alpha = hp->swiglu_alpha;
            for (int64_t i = 0; i < ff; i++) {
                float gi = fminf(g[i], lim);
                float ui = fmaxf(-lim, fminf(u[i], lim));
                g[i] = gi * sigmoidf(alpha * gi) * (ui + 1.0f);
            }
        } else {
            for (int64_t i = 0; i < ff; i++)
                g[i] = rt_silu(g[i]) * u[i];
        }
    }
    rt_matmul(m->pool, out, E, down, e, s->hb, ff, n);
    for (int32_t b = 0; b < n; b++)
        rt_add_bias(out + b * E, down_b, e, E);
}

/* ---- the integer expert path: all chosen experts in two parallel jobs ----
 *
 * Decode reads 8 of 64 experts per layer; running each expert's gate, up and
 * down projections as separate parallel-fors costs a thread hand-off per
 * matmul (24 per layer). Here one job runs, per unit of (expert, a block of
 * ff rows), the gate and up rows of that block, the SwiGLU of those rows and
 * their quantization for the down projection (the activation quantizers
 * work block by block, so a unit aligned to the quantizer's block writes
 * exactly the bytes a whole-row call would); a second job runs the down
 * projections. Each token's input is quantized once rather than once per
 * expert. Each expert's weights are read once per batch (for all its
 * tokens), and skipped when no token chose it. Per (row, token) the
 * arithmetic is the gemm's, so results do not depend on the batch. */
typedef struct {
    const rt_model *m;
    const rt_layer *ly;
    const rt_vec_dot_traits *vg, *vu, *vdn;
    int32_t n_act;    /* experts chosen by at least one token */
    int32_t ids[512]; /* their ids, ascending */
    int32_t off[513]; /* slot range of each, expert-major */
    int64_t ff, E;
    const uint8_t *xq; /* gathered quantized inputs [slot][arow] */
    size_t arow, hrow;
    int64_t upd;      /* RT_ROW_GROUP units per expert in the down job */
    int64_t rb, upe;  /* ff rows per gate/up unit (a multiple of the down
                       * quantizer's block) and units per expert */
    int64_t hblk;     /* elements per block of the down activation type */
    size_t hblk_size; /* bytes per such block */
    float *hb, *hb2;  /* [slot][ff] */
    uint8_t *hq;      /* [slot][hrow] quantized SwiGLU output */
    float *yo;        /* [slot][E] */
} moe_job;

static const uint8_t *expert_rows(const rt_weight *w, int64_t e, int64_t r)
{
    return w->data + ((size_t)e * (size_t)w->ne[1] + (size_t)r) * w->row_bytes;
}

/* SwiGLU of columns [r0, r1) of one slot's gate (g) and up (u) rows, in place in g. */
static void moe_swiglu(const moe_job *j, int32_t ex, float *g, float *u, int64_t r0, int64_t r1)
{
    const rt_hparams *hp = &j->m->hp;
    const rt_layer *ly = j->ly;
    if (ly->gate_exps_b.data) {
        const float *gb =
            (const float *)(ly->gate_exps_b.data + (size_t)ex * ly->gate_exps_b.row_bytes);
        for (int64_t i = r0; i < r1; i++)
            g[i] += gb[i];
    }
    if (ly->up_exps_b.data) {
        const float *ub =
            (const float *)(ly->up_exps_b.data + (size_t)ex * ly->up_exps_b.row_bytes);
        for (int64_t i = r0; i < r1; i++)
            u[i] += ub[i];
    }
    if (j->m->kind == RT_ARCH_GPTOSS) {
        const float lim = hp->swiglu_limit, alpha = hp->swiglu_alpha;
        for (int64_t i = r0; i < r1; i++) {
            float gi = fminf(g[i], lim);
            float ui = fmaxf(-lim, fminf(u[i], lim));
            g[i] = gi * sigmoidf(alpha * gi) * (ui + 1.0f);
        }
    } else {
        for (int64_t i = r0; i < r1; i++)
            g[i] = rt_silu(g[i]) * u[i];
    }
}

/* units [b, e) of the index space (expert k, row block q) = k * upe + q */
static void moe_gate_up(void *ctx, int64_t b, int64_t e)
{
    const moe_job *j = ctx;
    const rt_layer *ly = j->ly;
    for (int64_t unit = b; unit < e; unit++) {
        const int64_t k = unit / j->upe, r0 = unit % j->upe * j->rb;
        const int64_t r1 = r0 + j->rb < j->ff ? r0 + j->rb : j->ff;
        const int32_t ex = j->ids[k], s0 = j->off[k], nt = j->off[k + 1] - s0;
        const uint8_t *xq = j->xq + (size_t)s0 * j->arow;
        j->vg->gemm(expert_rows(&ly->gate_exps, ex, r0), ly->gate_exps.row_bytes, r1 - r0, xq,
                    j->arow, nt, j->ff, j->hb + (int64_t)s0 * j->ff + r0, j->ff);
        j->vu->gemm(expert_rows(&ly->up_exps, ex, r0), ly->up_exps.row_bytes, r1 - r0, xq, j->arow,
                    nt, j->ff, j->hb2 + (int64_t)s0 * j->ff + r0, j->ff);
        const size_t qoff = (size_t)(r0 / j->hblk) * j->hblk_size;
        for (int32_t t = s0; t < s0 + nt; t++) {
            float *g = j->hb + (int64_t)t * j->ff, *u = j->hb2 + (int64_t)t * j->ff;
            moe_swiglu(j, ex, g, u, r0, r1);
            j->vdn->quantize_act(g + r0, j->hq + (size_t)t * j->hrow + qoff, r1 - r0);
        }
    }
}

/* units [b, e) of the index space (expert k, row group q) = k * upd + q */
static void moe_down(void *ctx, int64_t b, int64_t e)
{
    const moe_job *j = ctx;
    const rt_layer *ly = j->ly;
    while (b < e) {
        const int64_t k = b / j->upd, q0 = b % j->upd;
        const int64_t q1 = e - k * j->upd < j->upd ? e - k * j->upd : j->upd;
        const int64_t r0 = q0 * RT_ROW_GROUP;
        const int64_t r1 = q1 * RT_ROW_GROUP < j->E ? q1 * RT_ROW_GROUP : j->E;
        const int32_t ex = j->ids[k], s0 = j->off[k], nt = j->off[k + 1] - s0;
        rt_gemm_tiled(j->vdn, expert_rows(&ly->down_exps, ex, r0), ly->down_exps.row_bytes, r1 - r0,
                      j->hq + (size_t)s0 * j->hrow, j->hrow, nt, j->ff,
                      j->yo + (int64_t)s0 * j->E + r0, j->E);
        b = k * j->upd + q1;
    }
}

/* 0 when done, -1 when these experts need the float path (or memory ran
 * out before anything was written). Adds the weighted expert outputs of the
 * nb rows into s->moe_out. */
static int moe_experts_int(const rt_model *m, const rt_layer *ly, rt_scratch *s, int32_t nb)
{
    const rt_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, NE = hp->n_expert, K = hp->n_expert_used;
    const int64_t ff = ly->gate_exps.ne[1];
    moe_job j = {.m = m, .ly = ly, .ff = ff, .E = E};
    j.vg = rt_type_vec_dot(ly->gate_exps.type);
    j.vu = rt_type_vec_dot(ly->up_exps.type);
    j.vdn = rt_type_vec_dot(ly->down_exps.type);
    if (!j.vg || !j.vu || !j.vdn || j.vg->act_type != j.vu->act_type || NE > 512) return -1;
    j.arow = rt_type_row_size(j.vg->act_type, E);
    j.hrow = rt_type_row_size(j.vdn->act_type, ff);
    if (!j.arow || !j.hrow) return -1;
    size_t hbs;
    if (rt_type_block_info(j.vdn->act_type, &j.hblk, &hbs) != 0 || j.hblk <= 0) return -1;
    j.hblk_size = hbs;
    /* units of at least 128 rows: small enough to balance two threads over
     * one expert, big enough that a unit is mostly weight streaming */
    j.rb = (128 + j.hblk - 1) / j.hblk * j.hblk;
    j.upe = (ff + j.rb - 1) / j.rb;
    const int64_t slots = (int64_t)nb * K;
    uint8_t *xq1 = malloc(j.arow * (size_t)nb);
    uint8_t *xq = malloc(j.arow * (size_t)slots);
    float *hb = malloc(sizeof(float) * (size_t)(slots * ff * 2));
    uint8_t *hq = malloc(j.hrow * (size_t)slots);
    float *yo = malloc(sizeof(float) * (size_t)(slots * E));
    int32_t *slot_of = malloc(sizeof(int32_t) * (size_t)slots); /* (token, k) -> slot */
    if (!xq1 || !xq || !hb || !hq || !yo || !slot_of) {
        free(xq1), free(xq), free(hb), free(hq), free(yo), free(slot_of);
        return -1;
    }
    for (int32_t b = 0; b < nb; b++)
        j.vg->quantize_act(s->xn + b * E, xq1 + (size_t)b * j.arow, E);
    /* expert-major slots: each expert's tokens in token order */
    int32_t n = 0;
    for (int32_t e = 0; e < NE; e++) {
        int32_t c0 = n;
        for (int64_t i = 0; i < slots; i++) {
            if (s->exp_id[i] != e) continue;
            memcpy(xq + (size_t)n * j.arow, xq1 + (size_t)(i / K) * j.arow, j.arow);
            slot_of[i] = n++;
        }
        if (n > c0) {
            j.ids[j.n_act] = e;
            j.off[j.n_act++] = c0;
        }
    }
    j.off[j.n_act] = n;
    j.xq = xq;
    j.hb = hb;
    j.hb2 = hb + slots * ff;
    j.hq = hq;
    j.yo = yo;
    /* rows per chunk: whole experts where possible, so each thread streams
     * its own experts' weights */
    /* tiny models: below 2^18 multiply-adds the caller alone is faster
     * (the same threshold as rt_matmul) */
    rt_pool *pool = (int64_t)n * ff * E < 262144 ? NULL : m->pool;
    rt_pool_for(pool, j.n_act * j.upe, 1, moe_gate_up, &j);
    j.upd = (E + RT_ROW_GROUP - 1) / RT_ROW_GROUP;
    rt_pool_for(pool, j.n_act * j.upd, 1, moe_down, &j);
    /* a token's experts are added in ascending expert id, whatever the batch */
    for (int32_t k = 0; k < j.n_act; k++) {
        const int32_t ex = j.ids[k];
        for (int64_t i = 0; i < slots; i++) {
            if (s->exp_id[i] != ex) continue;
            float *acc = s->moe_out + (i / K) * E;
            float *y = yo + (int64_t)slot_of[i] * E;
            rt_add_bias(y, &ly->down_exps_b, ex, E);
            const float w = s->exp_w[i];
            for (int64_t c = 0; c < E; c++)
                acc[c] += w * y[c];
        }
    }
    free(xq1), free(xq), free(hb), free(hq), free(yo), free(slot_of);
    return 0;
}

void rt_ffn_block(const rt_model *m, const rt_layer *ly, rt_scratch *s, int32_t nb)
{
    const rt_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, NE = hp->n_expert, K = hp->n_expert_used;
    for (int32_t b = 0; b < nb; b++)
        rt_rmsnorm(s->xn + b * E, s->x + b * E, &ly->ffn_norm, E, hp->rms_eps);
    if (!ly->moe) {
        swiglu_ffn(m, s, &ly->ffn_gate, &ly->ffn_up, &ly->ffn_down, NULL, NULL, NULL, 0, s->xn,
                   s->tmp, nb);
        for (int64_t i = 0; i < nb * E; i++)
            s->x[i] += s->tmp[i];
        return;
    }
    rt_matmul(m->pool, s->router, NE, &ly->gate_inp, 0, s->xn, E, nb);
    for (int32_t b = 0; b < nb; b++) {
        rt_add_bias(s->router + b * NE, &ly->gate_inp_b, 0, NE);
        rt_moe_route(hp, &ly->exp_probs_b, s->router + b * NE, s->scores, s->exp_id + b * K,
                     s->exp_w + b * K);
    }
    memset(s->moe_out, 0, sizeof(float) * (size_t)(nb * E));
    /* Each chosen expert runs once over all the batch's tokens routed to it. */
    for (int32_t e = moe_experts_int(m, ly, s, nb) == 0 ? NE : 0; e < NE; e++) {
        int32_t n = 0;
        for (int32_t i = 0; i < nb * K; i++) {
            if (s->exp_id[i] != e) continue;
            memcpy(s->xg + n * E, s->xn + (i / K) * E, sizeof(float) * (size_t)E);
            s->gidx[n++] = i;
        }
        if (n == 0) continue;
        swiglu_ffn(m, s, &ly->gate_exps, &ly->up_exps, &ly->down_exps, &ly->gate_exps_b,
                   &ly->up_exps_b, &ly->down_exps_b, e, s->xg, s->yg, n);
        for (int32_t r = 0; r < n; r++) {
            const int32_t i = s->gidx[r];
            const float w = s->exp_w[i];
            float *acc = s->moe_out + (i / K) * E;
            const float *y = s->yg + r * E;
            for (int64_t c = 0; c < E; c++)
                acc[c] += w * y[c];
        }
    }
    if (ly->gate_shexp.data) {
        swiglu_ffn(m, s, &ly->gate_shexp, &ly->up_shexp, &ly->down_shexp, NULL, NULL, NULL, 0,
                   s->xn, s->tmp, nb);
        for (int32_t b = 0; b < nb; b++) {
            float g = 1.0f;
            if (ly->gate_inp_shexp.data)
                g = sigmoidf(rt_dot((const float *)ly->gate_inp_shexp.data, s->xn + b * E, E));
            for (int64_t c = 0; c < E; c++)
                s->moe_out[b * E + c] += g * s->tmp[b * E + c];
        }
    }
    for (int64_t i = 0; i < nb * E; i++)
        s->x[i] += s->moe_out[i];
}
