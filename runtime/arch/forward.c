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
    int64_t wide = max64(hp->n_embd, hp->q_lora);
    int64_t qd = (int64_t)hp->n_head * hp->head_k;
    int64_t kd = max64(hp->kv_k_dim, (int64_t)hp->n_head_kv * hp->head_k);
    int64_t ne = max64(1, hp->n_expert);
    int64_t lat = max64(1, (int64_t)hp->n_head * hp->kv_lora);
    s->n_ctx = n_ctx;
#define ALLOC(f, n)                                                                                \
    do {                                                                                           \
        s->f = calloc((size_t)(n), sizeof *s->f);                                                  \
        if (!s->f) goto oom;                                                                       \
    } while (0)
    ALLOC(x, hp->n_embd);
    ALLOC(xn, hp->n_embd);
    ALLOC(tmp, wide);
    ALLOC(tmp2, wide);
    ALLOC(moe_out, hp->n_embd);
    ALLOC(q, qd);
    ALLOC(k, kd);
    ALLOC(v, max64(1, hp->kv_v_dim));
    ALLOC(att, (int64_t)hp->n_head * n_ctx);
    ALLOC(attn_out, (int64_t)hp->n_head * hp->head_v);
    ALLOC(hb, ff);
    ALLOC(hb2, ff);
    ALLOC(router, ne);
    ALLOC(scores, ne);
    ALLOC(exp_w, ne);
    ALLOC(exp_id, ne);
    ALLOC(q_lat, lat);
    ALLOC(row_buf, lat);
    ALLOC(rope_cache, hp->n_rot);
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
    free(s->tmp2);
    free(s->moe_out);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->att);
    free(s->attn_out);
    free(s->hb);
    free(s->hb2);
    free(s->router);
    free(s->scores);
    free(s->exp_w);
    free(s->exp_id);
    free(s->q_lat);
    free(s->row_buf);
    free(s->rope_cache);
    memset(s, 0, sizeof *s);
}

int rt_forward_token(const rt_model *m, rt_scratch *s, float **kc, float **vc, int32_t n_ctx,
                     int32_t token, int32_t pos, float *logits)
{
    const rt_hparams *hp = &m->hp;
    if (token < 0 || token >= hp->n_vocab || pos < 0 || pos >= n_ctx) return -1;
    if (rt_weight_row(&m->tok_embd, token, s->x) != 0) return -1;
    rt_rope_cache(hp, pos, s->rope_cache);
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const rt_layer *ly = &m->layers[il];
        if (m->kind == RT_ARCH_DEEPSEEK2)
            rt_attn_mla(m, ly, s, kc[il], pos);
        else
            rt_attn_gqa(m, ly, s, kc[il], vc[il], pos);
        rt_ffn_block(m, ly, s);
    }
    if (logits) {
        rt_rmsnorm(s->xn, s->x, &m->output_norm, hp->n_embd, hp->rms_eps);
        rt_matvec(m->pool, logits, &m->output, 0, s->xn);
    }
    return 0;
}
