/* attention.c - self-attention over the session's KV cache (F32 or F16
 * rows) for a batch of consecutive tokens: grouped-query attention (llama, qwen3moe,
 * qwen2moe, olmoe, gpt-oss with sinks and sliding windows) and DeepSeek's
 * multi-head latent attention.
 *
 * The batch's K/V rows are written first, then every (token, head) pair
 * attends causally to positions 0..its own (or its sliding window).
 * MLA caches only the normalised latent c_kv and the roped shared key part;
 * queries are absorbed into latent space through attn_k_b and the attended
 * latent is expanded per head through attn_v_b, so the cache is one
 * (kv_lora + rope)-wide row per token. (token, head) pairs run on the pool.
 *
 * Positions are visited in tiles of ATTN_TILE with an online softmax (a
 * running max and sum rescale the partial output when a later tile raises
 * the max), so a long context never materialises its whole score row, and
 * an F16 cache is converted one tile at a time with the CPU's fastest
 * F16 -> F32 kernel (F16C/AVX-512 where present) into a small float buffer. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"

/* Positions per attention tile: a tile's K and V (converted from F16) stay in L1/L2. */
#define ATTN_TILE 128

typedef struct {
    const rt_model *m;
    const rt_layer *ly;
    rt_scratch *s;
    const rt_row *rows;
    int32_t il, max_pos;
    rt_dot_rows_fn dot_rows;
    const rt_type_traits *f16; /* F16 <-> F32 row kernels for an F16 cache */
} attn_job;

/* Online softmax state for one (token, head): running max, sum of exp. */
typedef struct {
    float mx;
    double sum;
} attn_acc;

/* Rows [t0, t0 + n) of a cache layer, columns [off, off + d) of each
 * stride-wide row, as floats: a pointer into an F32 cache (*ld = stride) or
 * the F16 rows converted into buf (*ld = d). */
static const float *kv_tile(const attn_job *j, const void *base, rt_kv_type type, int64_t stride,
                            int64_t off, int32_t t0, int32_t n, int32_t d, float *buf, int64_t *ld)
{
    if (type == RT_KV_F32) {
        *ld = stride;
        return (const float *)base + (int64_t)t0 * stride + off;
    }
    const uint16_t *h = (const uint16_t *)base + (int64_t)t0 * stride + off;
    for (int32_t t = 0; t < n; t++)
        j->f16->dequant(h + (int64_t)t * stride, buf + (int64_t)t * d, d);
    *ld = d;
    return buf;
}

/* Stores a token's n-float K or V row at element offset off of a cache layer. */
static void kv_store(const attn_job *j, void *base, rt_kv_type type, int64_t off, const float *src,
                     int64_t n)
{
    if (type == RT_KV_F32)
        memcpy((float *)base + off, src, sizeof(float) * (size_t)n);
    else
        j->f16->quantize(src, (uint16_t *)base + off, n);
}

/* Folds a tile of n scores into the running softmax: raises the max and
 * rescales the partial output o (width d) when needed, then turns the
 * scores into their unnormalised weights. */
static void attn_tile_fold(attn_acc *a, float *att, int32_t n, float *o, int32_t d)
{
    float mt = a->mx;
    for (int32_t t = 0; t < n; t++)
        mt = fmaxf(mt, att[t]);
    if (mt > a->mx) {
        const float c = a->mx == -INFINITY ? 0.0f : expf(a->mx - mt);
        a->sum *= c;
        for (int32_t i = 0; i < d; i++)
            o[i] *= c;
        a->mx = mt;
    }
    for (int32_t t = 0; t < n; t++) {
        att[t] = expf(att[t] - a->mx);
        a->sum += att[t];
    }
}

/* o += sum_t att[t] * v[t], v rows ld floats apart. */
static void attn_accum(float *restrict o, const float *restrict att, const float *v, int64_t ld,
                       int32_t n, int32_t d)
{
    for (int32_t t = 0; t < n; t++) {
        const float a = att[t];
        const float *restrict vr = v + (int64_t)t * ld;
        for (int32_t i = 0; i < d; i++)
            o[i] += a * vr[i];
    }
}

static void attn_finish(const attn_acc *a, float *o, int32_t d)
{
    const float inv = (float)(1.0 / a->sum);
    for (int32_t i = 0; i < d; i++)
        o[i] *= inv;
}

static int32_t rt_rows_max_pos(const rt_row *rows, int32_t nb)
{
    int32_t mx = 0;
    for (int32_t b = 0; b < nb; b++)
        mx = rows[b].pos > mx ? rows[b].pos : mx;
    return mx;
}

/* The job of one layer's attention over rows [0, nb): GQA and MLA alike. */
static attn_job attn_job_make(const rt_model *m, const rt_layer *ly, rt_scratch *s,
                              const rt_row *rows, int32_t il, int32_t nb)
{
    attn_job j = {m,
                  ly,
                  s,
                  rows,
                  il,
                  rt_rows_max_pos(rows, nb),
                  rt_dot_rows_select(),
                  rt_type_get(RT_TYPE_F16)};
    return j;
}

static void gqa_pairs(void *ctx, int64_t jb, int64_t je)
{
    const attn_job *j = ctx;
    const rt_hparams *hp = &j->m->hp;
    const int32_t H = hp->n_head, group = hp->n_head / hp->n_head_kv;
    float *att = malloc(sizeof(float) * (size_t)ATTN_TILE * (size_t)(1 + hp->head_k + hp->head_v));
    if (!att) return; /* leaves zeros: only under memory exhaustion */
    float *kbuf = att + ATTN_TILE, *vbuf = kbuf + (int64_t)ATTN_TILE * hp->head_k;
    for (int64_t jj = jb; jj < je; jj++) {
        const int32_t b = (int32_t)(jj / H), h = (int32_t)(jj % H);
        const rt_row *row = &j->rows[b];
        const int32_t pos = row->pos;
        const void *kc = row->k[j->il], *vc = row->v[j->il];
        int32_t t0 = 0;
        if (j->ly->swa && pos - hp->n_swa + 1 > 0) t0 = pos - hp->n_swa + 1;
        const float *q = j->s->q + ((int64_t)b * H + h) * hp->head_k;
        const int64_t kvh = h / group;
        const bool has_sink = j->ly->sinks.data != NULL;
        /* a sink takes probability mass but contributes no value: it starts
         * the running max and sum as exp(sink - sink) = 1 */
        attn_acc acc = {-INFINITY, 0.0};
        if (has_sink) acc = (attn_acc){((const float *)j->ly->sinks.data)[h], 1.0};
        float *o = j->s->attn_out + ((int64_t)b * H + h) * hp->head_v;
        memset(o, 0, sizeof(float) * (size_t)hp->head_v);
        for (int32_t tb = t0; tb <= pos; tb += ATTN_TILE) {
            const int32_t n = pos + 1 - tb < ATTN_TILE ? pos + 1 - tb : ATTN_TILE;
            int64_t ldk, ldv;
            const float *kt = kv_tile(j, kc, row->kv_type, hp->kv_k_dim, kvh * hp->head_k, tb, n,
                                      hp->head_k, kbuf, &ldk);
            j->dot_rows(q, kt, ldk, n, hp->head_k, att, 1);
            for (int32_t t = 0; t < n; t++)
                att[t] *= hp->kq_scale;
            attn_tile_fold(&acc, att, n, o, hp->head_v);
            const float *vt = kv_tile(j, vc, row->kv_type, hp->kv_v_dim, kvh * hp->head_v, tb, n,
                                      hp->head_v, vbuf, &ldv);
            attn_accum(o, att, vt, ldv, n, hp->head_v);
        }
        attn_finish(&acc, o, hp->head_v);
    }
    free(att);
}

void rt_attn_gqa(const rt_model *m, const rt_layer *ly, int32_t il, rt_scratch *s,
                 const rt_row *rows, int32_t nb)
{
    const rt_hparams *hp = &m->hp;
    const int32_t H = hp->n_head, HK = hp->n_head_kv, E = hp->n_embd;
    const int64_t qd = (int64_t)H * hp->head_k, kd = (int64_t)HK * hp->head_k,
                  vd = (int64_t)HK * hp->head_v;
    for (int32_t b = 0; b < nb; b++)
        rt_rmsnorm(s->xn + (int64_t)b * E, s->x + (int64_t)b * E, &ly->attn_norm, E, hp->rms_eps);
    /* q, k and v in one job: one hand-off to the pool, activations quantized once */
    const rt_mm_out qkv[3] = {
        {s->q, qd, &ly->wq, 0}, {s->k, kd, &ly->wk, 0}, {s->v, vd, &ly->wv, 0}};
    rt_matmul_multi(m->pool, qkv, 3, s->xn, E, nb);
    attn_job j = attn_job_make(m, ly, s, rows, il, nb);
    for (int32_t b = 0; b < nb; b++) {
        float *q = s->q + b * qd, *k = s->k + b * kd, *v = s->v + b * vd;
        rt_add_bias(q, &ly->bq, 0, qd);
        rt_add_bias(k, &ly->bk, 0, kd);
        rt_add_bias(v, &ly->bv, 0, vd);
        if (m->kind == RT_ARCH_QWEN3MOE) {
            for (int32_t h = 0; h < H; h++)
                rt_rmsnorm(q + h * hp->head_k, q + h * hp->head_k, &ly->q_norm, hp->head_k,
                           hp->rms_eps);
            for (int32_t h = 0; h < HK; h++)
                rt_rmsnorm(k + h * hp->head_k, k + h * hp->head_k, &ly->k_norm, hp->head_k,
                           hp->rms_eps);
        } else if (m->kind == RT_ARCH_OLMOE) {
            rt_rmsnorm(q, q, &ly->q_norm, qd, hp->rms_eps);
            rt_rmsnorm(k, k, &ly->k_norm, kd, hp->rms_eps);
        }
        const float *cs = s->rope_cache + (int64_t)b * hp->n_rot;
        rt_rope_apply(q, H, hp->head_k, hp->n_rot, hp->rope, cs);
        rt_rope_apply(k, HK, hp->head_k, hp->n_rot, hp->rope, cs);
        kv_store(&j, rows[b].k[il], rows[b].kv_type, (int64_t)rows[b].pos * hp->kv_k_dim, k, kd);
        kv_store(&j, rows[b].v[il], rows[b].kv_type, (int64_t)rows[b].pos * hp->kv_v_dim, v, vd);
    }
    if ((int64_t)(j.max_pos + 1) * hp->head_k * H * nb < 32768)
        gqa_pairs(&j, 0, (int64_t)nb * H);
    else
        rt_pool_for(m->pool, (int64_t)nb * H, 1, gqa_pairs, &j);
    rt_matmul(m->pool, s->tmp, E, &ly->wo, 0, s->attn_out, (int64_t)H * hp->head_v, nb);
    for (int32_t b = 0; b < nb; b++) {
        float *t = s->tmp + (int64_t)b * E, *x = s->x + (int64_t)b * E;
        rt_add_bias(t, &ly->bo, 0, E);
        for (int32_t i = 0; i < E; i++)
            x[i] += t[i];
    }
}

/* Per (token, head): latent query (absorbed), scores, attended latent, value expansion. */
static void mla_pairs(void *ctx, int64_t jb, int64_t je)
{
    const attn_job *j = ctx;
    const rt_hparams *hp = &j->m->hp;
    const rt_layer *ly = j->ly;
    const int32_t H = hp->n_head, R = hp->kv_lora, P = hp->qk_rope, NP = hp->qk_nope;
    const int32_t kd = hp->kv_k_dim;
    float *ql =
        malloc(sizeof(float) * ((size_t)2 * (size_t)R + (size_t)ATTN_TILE * (size_t)(1 + kd)));
    if (!ql) return;
    float *lat = ql + R, *att = ql + 2 * R, *kbuf = att + ATTN_TILE;
    for (int64_t jj = jb; jj < je; jj++) {
        const int32_t b = (int32_t)(jj / H), h = (int32_t)(jj % H);
        const rt_row *row = &j->rows[b];
        const int32_t pos = row->pos;
        const void *kc = row->k[j->il];
        const float *qh = j->s->q + ((int64_t)b * H + h) * hp->head_k; /* [nope | rope] */
        if (ly->wk_b.data) {
            rt_matvec(NULL, ql, &ly->wk_b, h, qh);
        } else {
            /* combined attn_kv_b: rows h*(nope+v) + d are the key part */
            memset(ql, 0, sizeof(float) * (size_t)R);
            for (int32_t d = 0; d < NP; d++) {
                rt_weight_row(&ly->wkv_b, h * (int64_t)(NP + hp->v_mla) + d, lat);
                for (int32_t c = 0; c < R; c++)
                    ql[c] += qh[d] * lat[c];
            }
        }
        attn_acc acc = {-INFINITY, 0.0};
        memset(lat, 0, sizeof(float) * (size_t)R);
        for (int32_t tb = 0; tb <= pos; tb += ATTN_TILE) {
            const int32_t n = pos + 1 - tb < ATTN_TILE ? pos + 1 - tb : ATTN_TILE;
            int64_t ld;
            const float *kt = kv_tile(j, kc, row->kv_type, kd, 0, tb, n, kd, kbuf, &ld);
            for (int32_t t = 0; t < n; t++) {
                const float *kr = kt + (int64_t)t * ld;
                att[t] = (rt_dot(ql, kr, R) + rt_dot(qh + NP, kr + R, P)) * hp->kq_scale;
            }
            attn_tile_fold(&acc, att, n, lat, R);
            attn_accum(lat, att, kt, ld, n, R); /* the latent doubles as V */
        }
        attn_finish(&acc, lat, R);
        float *o = j->s->attn_out + ((int64_t)b * H + h) * hp->v_mla;
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
    free(ql);
}

void rt_attn_mla(const rt_model *m, const rt_layer *ly, int32_t il, rt_scratch *s,
                 const rt_row *rows, int32_t nb)
{
    const rt_hparams *hp = &m->hp;
    const int32_t H = hp->n_head, R = hp->kv_lora, E = hp->n_embd;
    const int64_t qd = (int64_t)H * hp->head_k, kd = hp->kv_k_dim;
    for (int32_t b = 0; b < nb; b++)
        rt_rmsnorm(s->xn + (int64_t)b * E, s->x + (int64_t)b * E, &ly->attn_norm, E, hp->rms_eps);
    /* the query (or its low-rank part) and [kv_lora | rope] in one job */
    if (ly->wq_a.data) {
        const int64_t ql = ly->wq_a.ne[1];
        const rt_mm_out in[2] = {{s->tmp, ql, &ly->wq_a, 0}, {s->k, kd, &ly->wkv_a_mqa, 0}};
        rt_matmul_multi(m->pool, in, 2, s->xn, E, nb);
        for (int32_t b = 0; b < nb; b++)
            rt_rmsnorm(s->tmp + b * ql, s->tmp + b * ql, &ly->q_a_norm, ql, hp->rms_eps);
        rt_matmul(m->pool, s->q, qd, &ly->wq_b, 0, s->tmp, ql, nb);
    } else {
        const rt_mm_out in[2] = {{s->q, qd, &ly->wq, 0}, {s->k, kd, &ly->wkv_a_mqa, 0}};
        rt_matmul_multi(m->pool, in, 2, s->xn, E, nb);
    }
    attn_job j = attn_job_make(m, ly, s, rows, il, nb);
    for (int32_t b = 0; b < nb; b++) {
        const float *cs = s->rope_cache + (int64_t)b * hp->n_rot;
        float *kv = s->k + b * kd;
        rt_rope_apply(s->q + b * qd + hp->qk_nope, H, hp->head_k, hp->n_rot, hp->rope, cs);
        rt_rope_apply(kv + R, 1, hp->qk_rope, hp->n_rot, hp->rope, cs);
        rt_rmsnorm(kv, kv, &ly->kv_a_norm, R, hp->rms_eps);
        kv_store(&j, rows[b].k[il], rows[b].kv_type, (int64_t)rows[b].pos * kd, kv, kd);
    }
    if ((int64_t)(j.max_pos + 1) * R * H * nb < 32768)
        mla_pairs(&j, 0, (int64_t)nb * H);
    else
        rt_pool_for(m->pool, (int64_t)nb * H, 1, mla_pairs, &j);
    rt_matmul(m->pool, s->tmp, E, &ly->wo, 0, s->attn_out, (int64_t)H * hp->v_mla, nb);
    for (int32_t b = 0; b < nb; b++)
        for (int32_t i = 0; i < E; i++)
            s->x[(int64_t)b * E + i] += s->tmp[(int64_t)b * E + i];
}
