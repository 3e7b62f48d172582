/* forward.c - one token through the whole model: embedding lookup, each
 * layer's attention (GQA or MLA) and FFN (dense or MoE) sub-layers with
 * pre-norm residuals, final norm and the output head. The families differ
 * only in the blocks chosen here and the flags bound at load time. */
#include <stdlib.h>
#include <string.h>

#include "arch.h"

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

int rt_scratch_init(const rt_model *m, rt_scratch *s, int32_t n_ctx)
{
    const rt_hparams *hp = &m->hp;
    memset(s, 0, sizeof *s);
    int64_t ff = 1;
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const rt_layer *ly = &m->layers[il];
        ff = max64(ff, ly->ffn_gate.ne[1]);
        ff = max64(ff, ly->gate_exps.ne[1]);
        ff = max64(ff, ly->gate_shexp.ne[1]);
    }
    const int64_t B = RT_BATCH;
    int64_t wide = max64(hp->n_embd, hp->q_lora);
    int64_t qd = (int64_t)hp->n_head * hp->head_k;
    int64_t kd = max64(hp->kv_k_dim, (int64_t)hp->n_head_kv * hp->head_k);
    int64_t ne = max64(1, hp->n_expert);
    int64_t k = max64(1, hp->n_expert_used);
    s->n_ctx = n_ctx;
    s->wide = wide;
    s->ff = ff;
#define ALLOC(f, n)                                                                                \
    do {                                                                                           \
        s->f = calloc((size_t)(n), sizeof *s->f);                                                  \
        if (!s->f) goto oom;                                                                       \
    } while (0)
    ALLOC(x, B * hp->n_embd);
    ALLOC(xn, B * hp->n_embd);
    ALLOC(tmp, B * wide);
    ALLOC(moe_out, B * hp->n_embd);
    ALLOC(q, B * qd);
    ALLOC(k, B * kd);
    ALLOC(v, B * max64(1, hp->kv_v_dim));
    ALLOC(attn_out, B * hp->n_head * max64(hp->head_v, hp->v_mla));
    ALLOC(hb, B * ff);
    ALLOC(hb2, B * ff);
    ALLOC(router, B * ne);
    ALLOC(scores, ne);
    ALLOC(xg, B * hp->n_embd);
    ALLOC(yg, B * hp->n_embd);
    ALLOC(gidx, B * k);
    ALLOC(exp_w, B * k);
    ALLOC(exp_id, B * k);
    ALLOC(rope_cache, B * hp->n_rot);
#undef ALLOC
    return 0;
oom:
    rt_scratch_free(s);
    return -1;
}

void rt_scratch_free(rt_scratch *s)
{
    free(s->x);
    free(s->xn);
    free(s->tmp);
    free(s->moe_out);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->attn_out);
    free(s->hb);
    free(s->hb2);
    free(s->router);
    free(s->scores);
    free(s->xg);
    free(s->yg);
    free(s->gidx);
    free(s->exp_w);
    free(s->exp_id);
    free(s->rope_cache);
    memset(s, 0, sizeof *s);
}

int rt_forward_rows(const rt_model *m, rt_scratch *s, const rt_row *rows, const int32_t *tokens,
                    int32_t n, float *logits_all)
{
    const rt_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd;
    if (n <= 0 || n > RT_BATCH) return -1;
    for (int32_t b = 0; b < n; b++) {
        if (tokens[b] < 0 || tokens[b] >= hp->n_vocab || rows[b].pos < 0) return -1;
        if (rt_weight_row(&m->tok_embd, tokens[b], s->x + b * E) != 0) return -1;
        rt_rope_cache(hp, rows[b].pos, s->rope_cache + (int64_t)b * hp->n_rot);
    }
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const rt_layer *ly = &m->layers[il];
        if (m->kind == RT_ARCH_DEEPSEEK2)
            rt_attn_mla(m, ly, il, s, rows, n);
        else
            rt_attn_gqa(m, ly, il, s, rows, n);
        rt_ffn_block(m, ly, s, n);
    }
    if (logits_all) {
        for (int32_t b = 0; b < n; b++)
            rt_rmsnorm(s->xn + b * E, s->x + b * E, &m->output_norm, E, hp->rms_eps);
        rt_matmul(m->pool, logits_all, hp->n_vocab, &m->output, 0, s->xn, E, n);
    }
    return 0;
}

int rt_forward_batch(const rt_model *m, rt_scratch *s, void **kc, void **vc, rt_kv_type kv_type,
                     int32_t n_ctx, const int32_t *tokens, int32_t n, int32_t pos,
                     float *logits_all, float *logits_last)
{
    const rt_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd;
    if (n <= 0 || n > RT_BATCH || pos < 0 || pos + n > n_ctx) return -1;
    rt_row rows[RT_BATCH];
    for (int32_t b = 0; b < n; b++)
        rows[b] = (rt_row){kc, vc, pos + b, kv_type};
    if (rt_forward_rows(m, s, rows, tokens, n, logits_all) != 0) return -1;
    if (logits_all && logits_last) {
        memcpy(logits_last, logits_all + (int64_t)(n - 1) * hp->n_vocab,
               sizeof(float) * (size_t)hp->n_vocab);
    } else if (logits_last) {
        rt_rmsnorm(s->xn, s->x + (int64_t)(n - 1) * E, &m->output_norm, E, hp->rms_eps);
        rt_matvec(m->pool, logits_last, &m->output, 0, s->xn);
    }
    return 0;
}

/* Bytes of w a token reads: all of a 2-D weight, k of a 3-D expert stack. */
static size_t weight_read_bytes(const rt_weight *w, int64_t k)
{
    if (!w->data) return 0;
    const size_t slice = w->row_bytes * (size_t)w->ne[1];
    return w->ne[2] > 1 ? slice * (size_t)(k < w->ne[2] ? k : w->ne[2]) : slice;
}

size_t rt_model_decode_bytes(const rt_model *m)
{
    const int64_t k = m->hp.n_expert_used > 0 ? m->hp.n_expert_used : 1;
    size_t sum = weight_read_bytes(&m->output, 1);
    for (int32_t il = 0; il < m->hp.n_layer; il++) {
        const rt_layer *ly = &m->layers[il];
        const rt_weight *ws[] = {&ly->wq,        &ly->wk,         &ly->wv,
                                 &ly->wo,        &ly->wq_a,       &ly->wq_b,
                                 &ly->wkv_a_mqa, &ly->wk_b,       &ly->wv_b,
                                 &ly->wkv_b,     &ly->ffn_gate,   &ly->ffn_up,
                                 &ly->ffn_down,  &ly->gate_inp,   &ly->gate_exps,
                                 &ly->up_exps,   &ly->down_exps,  &ly->gate_shexp,
                                 &ly->up_shexp,  &ly->down_shexp, &ly->gate_inp_shexp};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
            sum += weight_read_bytes(ws[i], k);
    }
    return sum;
}
