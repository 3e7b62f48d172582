/* attention.c - self-attention over the session's float32 KV cache:
 * grouped-query attention (llama, qwen3moe, qwen2moe, olmoe, gpt-oss with
 * sinks and sliding windows) and DeepSeek's multi-head latent attention.
 *
 * MLA caches only the normalised latent c_kv and the roped shared key part;
 * queries are absorbed into latent space through attn_k_b and the attended
 * latent is expanded per head through attn_v_b, so the cache is one
 * (kv_lora + rope)-wide row per token. Heads run in parallel on the pool. */
#include <math.h>
#include <string.h>

#include "arch.h"

typedef struct {
    const rt_model *m;
    const rt_layer *ly;
    rt_scratch *s;
    const float *kc, *vc;
    int32_t pos, t0;
} attn_job;

/* Scores of one head over cached rows t0..pos, softmaxed (with an optional
 * sink logit that takes probability mass but has no value). */
static void attn_probs(float *att, int32_t n, float sink, bool has_sink)
{
    float mx = has_sink ? sink : -INFINITY;
    for (int32_t t = 0; t < n; t++)
        mx = fmaxf(mx, att[t]);
    double sum = has_sink ? exp((double)(sink - mx)) : 0.0;
    for (int32_t t = 0; t < n; t++) {
        att[t] = expf(att[t] - mx);
        sum += att[t];
    }
    const float inv = (float)(1.0 / sum);
    for (int32_t t = 0; t < n; t++)
        att[t] *= inv;
}

static float dotf(const float *a, const float *b, int64_t n)
{
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void gqa_heads(void *ctx, int64_t hb, int64_t he)
{
    const attn_job *j = ctx;
    const rt_hparams *hp = &j->m->hp;
    const int32_t group = hp->n_head / hp->n_head_kv;
    const int32_t n = j->pos - j->t0 + 1;
    for (int64_t h = hb; h < he; h++) {
        const float *q = j->s->q + h * hp->head_k;
        const int64_t kvh = h / group;
        float *att = j->s->att + h * (int64_t)j->s->n_ctx;
        for (int32_t t = 0; t < n; t++) {
            const float *k = j->kc + (int64_t)(j->t0 + t) * hp->kv_k_dim + kvh * hp->head_k;
            att[t] = dotf(q, k, hp->head_k) * hp->kq_scale;
        }
        bool has_sink = j->ly->sinks.data != NULL;
        attn_probs(att, n, has_sink ? ((const float *)j->ly->sinks.data)[h] : 0.0f, has_sink);
        float *o = j->s->attn_out + h * hp->head_v;
        memset(o, 0, sizeof(float) * (size_t)hp->head_v);
        for (int32_t t = 0; t < n; t++) {
            const float *v = j->vc + (int64_t)(j->t0 + t) * hp->kv_v_dim + kvh * hp->head_v;
            const float a = att[t];
            for (int32_t d = 0; d < hp->head_v; d++)
                o[d] += a * v[d];
        }
    }
}

void rt_attn_gqa(const rt_model *m, const rt_layer *ly, rt_scratch *s, float *kc, float *vc,
                 int32_t pos)
{
    const rt_hparams *hp = &m->hp;
    const int32_t H = hp->n_head, HK = hp->n_head_kv;
    float *xn = s->xn;
    rt_rmsnorm(xn, s->x, &ly->attn_norm, hp->n_embd, hp->rms_eps);
    rt_matvec(m->pool, s->q, &ly->wq, 0, xn);
    rt_matvec(m->pool, s->k, &ly->wk, 0, xn);
    rt_matvec(m->pool, s->v, &ly->wv, 0, xn);
    rt_add_bias(s->q, &ly->bq, 0, (int64_t)H * hp->head_k);
    rt_add_bias(s->k, &ly->bk, 0, (int64_t)HK * hp->head_k);
    rt_add_bias(s->v, &ly->bv, 0, (int64_t)HK * hp->head_v);
    if (m->kind == RT_ARCH_QWEN3MOE) {
        for (int32_t h = 0; h < H; h++)
            rt_rmsnorm(s->q + h * hp->head_k, s->q + h * hp->head_k, &ly->q_norm, hp->head_k,
                       hp->rms_eps);
        for (int32_t h = 0; h < HK; h++)
            rt_rmsnorm(s->k + h * hp->head_k, s->k + h * hp->head_k, &ly->k_norm, hp->head_k,
                       hp->rms_eps);
    } else if (m->kind == RT_ARCH_OLMOE) {
        rt_rmsnorm(s->q, s->q, &ly->q_norm, (int64_t)H * hp->head_k, hp->rms_eps);
        rt_rmsnorm(s->k, s->k, &ly->k_norm, (int64_t)HK * hp->head_k, hp->rms_eps);
    }
    rt_rope_apply(s->q, H, hp->head_k, hp->n_rot, hp->rope, s->rope_cache);
    rt_rope_apply(s->k, HK, hp->head_k, hp->n_rot, hp->rope, s->rope_cache);
    memcpy(kc + (int64_t)pos * hp->kv_k_dim, s->k, sizeof(float) * (size_t)hp->kv_k_dim);
    memcpy(vc + (int64_t)pos * hp->kv_v_dim, s->v, sizeof(float) * (size_t)hp->kv_v_dim);
    int32_t t0 = 0;
    if (ly->swa && pos - hp->n_swa + 1 > 0) t0 = pos - hp->n_swa + 1;
    attn_job j = {m, ly, s, kc, vc, pos, t0};
    if ((int64_t)(pos - t0 + 1) * hp->head_k * H < 32768)
        gqa_heads(&j, 0, H);
    else
        rt_pool_for(m->pool, H, 1, gqa_heads, &j);
    rt_matvec(m->pool, s->tmp, &ly->wo, 0, s->attn_out);
    rt_add_bias(s->tmp, &ly->bo, 0, hp->n_embd);
    for (int32_t i = 0; i < hp->n_embd; i++)
        s->x[i] += s->tmp[i];
}

/* Per head: latent query (absorbed), scores, attended latent, value expansion. */
static void mla_heads(void *ctx, int64_t hb, int64_t he)
{
    const attn_job *j = ctx;
    const rt_hparams *hp = &j->m->hp;
    const rt_layer *ly = j->ly;
    const int32_t R = hp->kv_lora, P = hp->qk_rope, NP = hp->qk_nope;
    const int32_t n = j->pos + 1;
    for (int64_t h = hb; h < he; h++) {
        const float *qh = j->s->q + h * hp->head_k; /* [nope | rope] */
        float *ql = j->s->q_lat + h * (int64_t)R;
        float *row = j->s->row_buf + h * (int64_t)R;
        if (ly->wk_b.data) {
            rt_matvec(NULL, ql, &ly->wk_b, h, qh);
        } else {
            /* combined attn_kv_b: rows h*(nope+v) + d are the key part */
            memset(ql, 0, sizeof(float) * (size_t)R);
            for (int32_t d = 0; d < NP; d++) {
                rt_weight_row(&ly->wkv_b, h * (int64_t)(NP + hp->v_mla) + d, row);
                for (int32_t c = 0; c < R; c++)
                    ql[c] += qh[d] * row[c];
            }
        }
        float *att = j->s->att + h * (int64_t)j->s->n_ctx;
        for (int32_t t = 0; t < n; t++) {
            const float *kr = j->kc + (int64_t)t * hp->kv_k_dim;
            att[t] = (dotf(ql, kr, R) + dotf(qh + NP, kr + R, P)) * hp->kq_scale;
        }
        attn_probs(att, n, 0.0f, false);
        float *lat = row; /* reuse: attended latent */
        memset(lat, 0, sizeof(float) * (size_t)R);
        for (int32_t t = 0; t < n; t++) {
            const float *kr = j->kc + (int64_t)t * hp->kv_k_dim;
            const float a = att[t];
            for (int32_t c = 0; c < R; c++)
                lat[c] += a * kr[c];
        }
        float *o = j->s->attn_out + h * (int64_t)hp->v_mla;
        if (ly->wv_b.data) {
            rt_matvec(NULL, o, &ly->wv_b, h, lat);
        } else {
            for (int32_t d = 0; d < hp->v_mla; d++) {
                int64_t r = h * (int64_t)(NP + hp->v_mla) + NP + d;
                o[d] =
                    ly->wkv_b.tr->dot_f32(ly->wkv_b.data + (size_t)r * ly->wkv_b.row_bytes, lat, R);
            }
        }
    }
}

void rt_attn_mla(const rt_model *m, const rt_layer *ly, rt_scratch *s, float *kc, int32_t pos)
{
    const rt_hparams *hp = &m->hp;
    const int32_t H = hp->n_head, R = hp->kv_lora;
    float *xn = s->xn;
    rt_rmsnorm(xn, s->x, &ly->attn_norm, hp->n_embd, hp->rms_eps);
    if (ly->wq_a.data) {
        rt_matvec(m->pool, s->tmp, &ly->wq_a, 0, xn);
        rt_rmsnorm(s->tmp, s->tmp, &ly->q_a_norm, ly->wq_a.ne[1], hp->rms_eps);
        rt_matvec(m->pool, s->q, &ly->wq_b, 0, s->tmp);
    } else {
        rt_matvec(m->pool, s->q, &ly->wq, 0, xn);
    }
    float *kv = s->k; /* [kv_lora | rope] */
    rt_matvec(m->pool, kv, &ly->wkv_a_mqa, 0, xn);
    rt_rope_apply(s->q + hp->qk_nope, H, hp->head_k, hp->n_rot, hp->rope, s->rope_cache);
    rt_rope_apply(kv + R, 1, hp->qk_rope, hp->n_rot, hp->rope, s->rope_cache);
    rt_rmsnorm(kv, kv, &ly->kv_a_norm, R, hp->rms_eps);
    memcpy(kc + (int64_t)pos * hp->kv_k_dim, kv, sizeof(float) * (size_t)hp->kv_k_dim);
    attn_job j = {m, ly, s, kc, NULL, pos, 0};
    if ((int64_t)(pos + 1) * R * H < 32768)
        mla_heads(&j, 0, H);
    else
        rt_pool_for(m->pool, H, 1, mla_heads, &j);
    rt_matvec(m->pool, s->tmp, &ly->wo, 0, s->attn_out);
    for (int32_t i = 0; i < hp->n_embd; i++)
        s->x[i] += s->tmp[i];
}
