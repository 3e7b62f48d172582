/* moe.c - feed-forward blocks: dense SwiGLU, and mixture-of-experts with the
 * routing variants of the supported families:
 *   softmax over all experts then top-k (Mixtral, Qwen, OLMoE, DeepSeek-V2),
 *   sigmoid + selection bias + expert groups (DeepSeek-V3),
 *   top-k on raw logits then softmax over the chosen (gpt-oss);
 * optional renormalisation and scaling of the chosen weights, shared experts
 * (plain or sigmoid-gated), per-expert biases and gpt-oss's clamped SwiGLU. */
#include <math.h>
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
    rt_matmul(m->pool, s->hb, ff, gate, e, x, E, n);
    rt_matmul(m->pool, s->hb2, ff, up, e, x, E, n);
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
    for (int32_t e = 0; e < NE; e++) {
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
