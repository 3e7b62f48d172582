/* model.c - rt_model_load: read an architecture's hyper-parameters from GGUF
 * metadata and bind every tensor the forward pass will touch, checking name,
 * shape and type up front so the forward pass never meets a surprise.
 *
 * Sizes come from metadata and are cross-checked against tensor shapes;
 * where metadata is optional (e.g. expert FFN width) the tensor shape is the
 * authority. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "swarm_err.h"

typedef struct {
    rt_model *m;
    char *err;
    size_t errlen;
} loader;

/* "<path>: <message>", so the user knows which file is broken. */
__attribute__((format(printf, 2, 3))) static int load_fail(loader *L, const char *fmt, ...)
{
    swarm_err_set(L->err, L->errlen, "%s: ", gguf_path(L->m->g));
    va_list ap;
    va_start(ap, fmt);
    swarm_err_vappend(L->err, L->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* "<arch>.<suffix>" as an integer; def when missing and not required. */
static int hp_u32(loader *L, const char *suffix, bool required, int32_t def, int32_t *out)
{
    char key[160];
    snprintf(key, sizeof key, "%s.%s", L->m->arch, suffix);
    uint32_t v;
    int rc = gguf_get_u32(L->m->g, key, &v);
    if (rc == -1) {
        if (required) return load_fail(L, "missing metadata key %s", key);
        *out = def;
        return 0;
    }
    if (rc < 0 || v > (uint32_t)INT32_MAX)
        return load_fail(L, "metadata key %s is not a non-negative 32-bit integer", key);
    *out = (int32_t)v;
    return 0;
}

static int hp_f32(loader *L, const char *suffix, bool required, float def, float *out)
{
    char key[160];
    snprintf(key, sizeof key, "%s.%s", L->m->arch, suffix);
    int rc = gguf_get_f32(L->m->g, key, out);
    if (rc == -1) {
        if (required) return load_fail(L, "missing metadata key %s", key);
        *out = def;
        return 0;
    }
    if (rc < 0) return load_fail(L, "metadata key %s is not a float", key);
    if (!isfinite(*out)) return load_fail(L, "metadata key %s is not finite", key);
    return 0;
}

static int hp_bool(loader *L, const char *suffix, bool def, bool *out)
{
    char key[160];
    snprintf(key, sizeof key, "%s.%s", L->m->arch, suffix);
    int rc = gguf_get_bool(L->m->g, key, out);
    if (rc == -1) {
        *out = def;
        return 0;
    }
    if (rc < 0) return load_fail(L, "metadata key %s is not a bool", key);
    return 0;
}

enum { W_OPT = 0, W_REQ = 1, W_F32 = 2 };

/* Bind one tensor. ne[i] < 0 means "any size" (the actual size is kept). */
static int bind(loader *L, rt_weight *w, int flags, const char *name, int64_t ne0, int64_t ne1,
                int64_t ne2)
{
    memset(w, 0, sizeof *w);
    const gguf_tensor *t = gguf_tensor_find(L->m->g, name);
    if (!t) {
        if (flags & W_REQ)
            return load_fail(L, "missing tensor %s (needed by architecture %s)", name, L->m->arch);
        return 0;
    }
    const int64_t want[3] = {ne0, ne1, ne2};
    for (int i = 0; i < 3; i++) {
        if (want[i] >= 0 && t->ne[i] != want[i])
            return load_fail(L,
                             "tensor %s has shape [%lld, %lld, %lld], expected [%lld, %lld, %lld]",
                             name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                             (long long)ne0, (long long)ne1, (long long)ne2);
    }
    if (t->ne[3] != 1) return load_fail(L, "tensor %s has 4 dimensions, expected at most 3", name);
    if ((flags & W_F32) && t->type != RT_TYPE_F32)
        return load_fail(L, "tensor %s has type %s, only f32 is supported for it", name,
                         rt_type_name(t->type));
    const rt_type_traits *tr = rt_type_get(t->type);
    if (!tr || !tr->dot_f32 || !tr->dequant)
        return load_fail(L, "tensor %s has type %s, not supported", name, rt_type_name(t->type));
    size_t rb = rt_type_row_size(t->type, t->ne[0]);
    if (rb == 0)
        return load_fail(L,
                         "tensor %s: row length %lld is not a multiple of the %s block size %lld",
                         name, (long long)t->ne[0], tr->name, (long long)tr->blck_size);
    if ((uint64_t)rb * (uint64_t)t->ne[1] * (uint64_t)t->ne[2] > t->nbytes)
        return load_fail(L, "tensor %s: data smaller than its shape", name);
    w->data = t->data;
    w->tr = tr;
    w->type = t->type;
    for (int i = 0; i < 4; i++)
        w->ne[i] = t->ne[i];
    w->row_bytes = rb;
    w->name = t->name;
    return 0;
}

static int bindl(loader *L, rt_weight *w, int flags, int il, const char *suffix, int64_t ne0,
                 int64_t ne1, int64_t ne2)
{
    char name[128];
    snprintf(name, sizeof name, "blk.%d.%s", il, suffix);
    return bind(L, w, flags, name, ne0, ne1, ne2);
}

static bool has_tensor(loader *L, int il, const char *suffix)
{
    char name[128];
    snprintf(name, sizeof name, "blk.%d.%s", il, suffix);
    return gguf_tensor_find(L->m->g, name) != NULL;
}

static int load_arch_kind(loader *L)
{
    gguf_str s;
    if (gguf_get_str(L->m->g, "general.architecture", &s) != 0)
        return load_fail(L, "missing metadata key general.architecture");
    if (s.len >= sizeof L->m->arch) return load_fail(L, "architecture name too long");
    memcpy(L->m->arch, s.ptr, s.len);
    L->m->arch[s.len] = 0;
    if (rt_arch_from_name(L->m->arch, &L->m->kind) == 0) return 0;
    char names[256];
    return load_fail(L, "architecture '%s' is not supported (supported: %s)", L->m->arch,
                     rt_arch_names_join(", ", names, sizeof names));
}

static int load_rope_scaling(loader *L)
{
    rt_hparams *hp = &L->m->hp;
    char key[160];
    gguf_str st = {0};
    snprintf(key, sizeof key, "%s.rope.scaling.type", L->m->arch);
    bool have_type = gguf_get_str(L->m->g, key, &st) == 0;
    float factor = 0.0f;
    if (hp_f32(L, "rope.scaling.factor", false, 0.0f, &factor)) return -1;
    if (factor == 0.0f && hp_f32(L, "rope.scale_linear", false, 0.0f, &factor)) return -1;
    hp->rope_freq_scale = factor > 0.0f ? 1.0f / factor : 1.0f;
    hp->yarn = false;
    if (have_type) {
        if (gguf_str_eq(st, "yarn")) {
            hp->yarn = true;
        } else if (gguf_str_eq(st, "none")) {
            hp->rope_freq_scale = 1.0f;
        } else if (!gguf_str_eq(st, "linear")) {
            return load_fail(L, "rope scaling type '%.*s' is not supported (none, linear, yarn)",
                             (int)st.len, st.ptr);
        }
    }
    if (hp_u32(L, "rope.scaling.original_context_length", false, hp->n_ctx_train, &hp->n_ctx_orig))
        return -1;
    if (hp_f32(L, "rope.scaling.yarn_ext_factor", false, 1.0f, &hp->yarn_ext_factor) ||
        hp_f32(L, "rope.scaling.yarn_beta_fast", false, 32.0f, &hp->yarn_beta_fast) ||
        hp_f32(L, "rope.scaling.yarn_beta_slow", false, 1.0f, &hp->yarn_beta_slow) ||
        hp_f32(L, "rope.scaling.yarn_log_multiplier", false, 0.0f, &hp->yarn_log_mul))
        return -1;
    float attn_factor = 1.0f;
    if (hp_f32(L, "rope.scaling.attn_factor", false, 1.0f, &attn_factor)) return -1;
    hp->yarn_attn_factor = attn_factor;
    if (hp->yarn && hp->yarn_ext_factor != 0.0f) {
        /* The rotation itself multiplies cos/sin by 1 + 0.1 ln(factor) (YaRN's
         * magnitude correction); fold the family's intended magnitude into
         * attn_factor relative to that, as the reference does:
         * - no log multiplier: keep the standard correction;
         * - DeepSeek: none on the vectors, it goes into the attention scale;
         * - others: mscale(1) / mscale(log_mul). */
        const float f = 1.0f / hp->rope_freq_scale;
        const float corr = 1.0f + 0.1f * logf(f); /* what the rotation applies */
        const float ms1 = f <= 1.0f ? 1.0f : corr;
        float want = ms1;
        if (hp->yarn_log_mul != 0.0f) {
            float ms_all = f <= 1.0f ? 1.0f : 1.0f + 0.1f * hp->yarn_log_mul * logf(f);
            want = L->m->kind == RT_ARCH_DEEPSEEK2 ? 1.0f : ms1 / ms_all;
        }
        hp->yarn_attn_factor = want / corr * attn_factor;
        hp->yarn_mscale = want * attn_factor;
    }
    return 0;
}

static int load_hparams(loader *L)
{
    rt_model *m = L->m;
    rt_hparams *hp = &m->hp;
    if (hp_u32(L, "block_count", true, 0, &hp->n_layer) ||
        hp_u32(L, "embedding_length", true, 0, &hp->n_embd) ||
        hp_u32(L, "attention.head_count", true, 0, &hp->n_head) ||
        hp_u32(L, "attention.head_count_kv", false, hp->n_head, &hp->n_head_kv) ||
        hp_u32(L, "context_length", false, 4096, &hp->n_ctx_train))
        return -1;
    if (hp->n_layer <= 0 || hp->n_embd <= 0 || hp->n_head <= 0 || hp->n_head_kv <= 0 ||
        hp->n_head % hp->n_head_kv != 0 || hp->n_layer > 4096 || hp->n_head > 4096)
        return load_fail(L, "inconsistent attention sizes (layers %d, embd %d, heads %d/%d)",
                         hp->n_layer, hp->n_embd, hp->n_head, hp->n_head_kv);
    if (hp_u32(L, "attention.key_length", false, hp->n_embd / hp->n_head, &hp->head_k) ||
        hp_u32(L, "attention.value_length", false, hp->head_k, &hp->head_v) ||
        hp_u32(L, "rope.dimension_count", false, hp->head_k, &hp->n_rot) ||
        hp_f32(L, "rope.freq_base", false, 10000.0f, &hp->rope_base) ||
        hp_f32(L, "attention.layer_norm_rms_epsilon", true, 0.0f, &hp->rms_eps))
        return -1;
    if (hp_u32(L, "expert_count", false, 0, &hp->n_expert) ||
        hp_u32(L, "expert_used_count", false, 0, &hp->n_expert_used) ||
        hp_u32(L, "feed_forward_length", false, 0, &hp->n_ff) ||
        hp_u32(L, "expert_feed_forward_length", false, 0, &hp->n_ff_exp) ||
        hp_u32(L, "expert_shared_feed_forward_length", false, 0, &hp->n_ff_shexp) ||
        hp_u32(L, "expert_shared_count", false, 0, &hp->n_expert_shared) ||
        hp_u32(L, "leading_dense_block_count", false, 0, &hp->n_dense_lead) ||
        hp_u32(L, "expert_group_count", false, 0, &hp->n_group) ||
        hp_u32(L, "expert_group_used_count", false, 0, &hp->n_group_used) ||
        hp_f32(L, "expert_weights_scale", false, 0.0f, &hp->expert_scale) ||
        hp_u32(L, "attention.sliding_window", false, 0, &hp->n_swa))
        return -1;
    if (hp->n_expert_used > hp->n_expert || hp->n_expert > 4096)
        return load_fail(L, "expert_used_count %d exceeds expert_count %d", hp->n_expert_used,
                         hp->n_expert);
    if (hp->n_group > 1 && (hp->n_expert % hp->n_group != 0 || hp->n_group_used <= 0 ||
                            hp->n_group_used > hp->n_group || hp->n_group > 256))
        return load_fail(
            L,
            "expert_group_count %d / expert_group_used_count %d invalid for %d experts "
            "(groups must divide the experts, at most 256)",
            hp->n_group, hp->n_group_used, hp->n_expert);
    /* Routing conventions per family (what the reference implementation does). */
    hp->gating = RT_GATE_SOFTMAX;
    hp->expert_norm = m->kind == RT_ARCH_LLAMA || m->kind == RT_ARCH_QWEN3MOE;
    if (m->kind == RT_ARCH_DEEPSEEK2) {
        int32_t gf = 0;
        if (hp_u32(L, "expert_gating_func", false, 1, &gf) ||
            hp_bool(L, "expert_weights_norm", false, &hp->expert_norm))
            return -1;
        if (gf != 1 && gf != 2)
            return load_fail(L, "expert_gating_func %d not supported (1 softmax, 2 sigmoid)", gf);
        hp->gating = gf == 2 ? RT_GATE_SIGMOID : RT_GATE_SOFTMAX;
    } else if (m->kind == RT_ARCH_GPTOSS) {
        hp->gating = RT_GATE_SOFTMAX_WEIGHT;
        hp->expert_norm = false;
        hp->expert_scale = 0.0f;
    } else if (m->kind == RT_ARCH_LLAMA || m->kind == RT_ARCH_QWEN3MOE) {
        hp->expert_scale = 0.0f;
    }
    hp->rope =
        (m->kind == RT_ARCH_LLAMA || m->kind == RT_ARCH_DEEPSEEK2) ? RT_ROPE_NORM : RT_ROPE_NEOX;
    hp->swiglu_alpha = 1.702f;
    hp->swiglu_limit = 7.0f;

    if (m->kind == RT_ARCH_DEEPSEEK2) {
        int32_t k_mla = 0, v_mla = 0;
        if (hp_u32(L, "attention.q_lora_rank", false, 0, &hp->q_lora) ||
            hp_u32(L, "attention.kv_lora_rank", true, 0, &hp->kv_lora) ||
            hp_u32(L, "attention.key_length_mla", false, 0, &k_mla) ||
            hp_u32(L, "attention.value_length_mla", false, 0, &v_mla))
            return -1;
        if (k_mla > 0 && v_mla > 0) {
            hp->head_k = k_mla;
            hp->head_v = v_mla;
        }
        hp->qk_rope = hp->n_rot;
        hp->qk_nope = hp->head_k - hp->n_rot;
        hp->v_mla = hp->head_v;
        if (hp->qk_nope <= 0 || hp->kv_lora <= 0)
            return load_fail(L, "MLA head sizes inconsistent (key %d, rope %d, kv_lora %d)",
                             hp->head_k, hp->n_rot, hp->kv_lora);
        hp->kv_k_dim = hp->kv_lora + hp->qk_rope;
        hp->kv_v_dim = 0; /* the compressed latent doubles as V */
    } else {
        hp->kv_k_dim = hp->n_head_kv * hp->head_k;
        hp->kv_v_dim = hp->n_head_kv * hp->head_v;
    }
    if (hp->n_rot <= 0 || hp->n_rot % 2 != 0 ||
        hp->n_rot > (m->kind == RT_ARCH_DEEPSEEK2 ? hp->head_k : hp->head_k))
        return load_fail(L, "rope.dimension_count %d invalid for head size %d", hp->n_rot,
                         hp->head_k);
    if (load_rope_scaling(L)) return -1;
    float att_scale = 0.0f;
    if (hp_f32(L, "attention.scale", false, 0.0f, &att_scale)) return -1;
    hp->kq_scale = att_scale != 0.0f ? att_scale : 1.0f / sqrtf((float)hp->head_k);
    if (m->kind == RT_ARCH_DEEPSEEK2 && hp->yarn && hp->yarn_ext_factor != 0.0f) {
        /* DeepSeek applies YaRN's magnitude as mscale^2 on the scores */
        float ms =
            hp->yarn_mscale * (1.0f + 0.1f * hp->yarn_log_mul * logf(1.0f / hp->rope_freq_scale));
        hp->kq_scale = ms * ms / sqrtf((float)hp->head_k);
    }
    return 0;
}

static int load_attention(loader *L, int il, rt_layer *ly)
{
    const rt_hparams *hp = &L->m->hp;
    const int64_t E = hp->n_embd, H = hp->n_head, HK = hp->n_head_kv;
    if (bindl(L, &ly->attn_norm, W_REQ | W_F32, il, "attn_norm.weight", E, 1, 1)) return -1;
    if (L->m->kind == RT_ARCH_DEEPSEEK2) {
        if (has_tensor(L, il, "attn_q_a.weight")) {
            int64_t r = hp->q_lora > 0 ? hp->q_lora : -1;
            if (bindl(L, &ly->wq_a, W_REQ, il, "attn_q_a.weight", E, r, 1) ||
                bindl(L, &ly->q_a_norm, W_REQ | W_F32, il, "attn_q_a_norm.weight", ly->wq_a.ne[1],
                      1, 1) ||
                bindl(L, &ly->wq_b, W_REQ, il, "attn_q_b.weight", ly->wq_a.ne[1], H * hp->head_k,
                      1))
                return -1;
        } else if (bindl(L, &ly->wq, W_REQ, il, "attn_q.weight", E, H * hp->head_k, 1)) {
            return -1;
        }
        if (bindl(L, &ly->wkv_a_mqa, W_REQ, il, "attn_kv_a_mqa.weight", E,
                  hp->kv_lora + hp->qk_rope, 1) ||
            bindl(L, &ly->kv_a_norm, W_REQ | W_F32, il, "attn_kv_a_norm.weight", hp->kv_lora, 1, 1))
            return -1;
        if (has_tensor(L, il, "attn_k_b.weight")) {
            if (bindl(L, &ly->wk_b, W_REQ, il, "attn_k_b.weight", hp->qk_nope, hp->kv_lora, H) ||
                bindl(L, &ly->wv_b, W_REQ, il, "attn_v_b.weight", hp->kv_lora, hp->v_mla, H))
                return -1;
        } else if (bindl(L, &ly->wkv_b, W_REQ, il, "attn_kv_b.weight", hp->kv_lora,
                         H * (hp->qk_nope + hp->v_mla), 1)) {
            return -1;
        }
        return bindl(L, &ly->wo, W_REQ, il, "attn_output.weight", H * hp->v_mla, E, 1);
    }
    if (bindl(L, &ly->wq, W_REQ, il, "attn_q.weight", E, H * hp->head_k, 1) ||
        bindl(L, &ly->wk, W_REQ, il, "attn_k.weight", E, HK * hp->head_k, 1) ||
        bindl(L, &ly->wv, W_REQ, il, "attn_v.weight", E, HK * hp->head_v, 1) ||
        bindl(L, &ly->wo, W_REQ, il, "attn_output.weight", H * hp->head_v, E, 1) ||
        bindl(L, &ly->bq, W_F32, il, "attn_q.bias", H * hp->head_k, 1, 1) ||
        bindl(L, &ly->bk, W_F32, il, "attn_k.bias", HK * hp->head_k, 1, 1) ||
        bindl(L, &ly->bv, W_F32, il, "attn_v.bias", HK * hp->head_v, 1, 1) ||
        bindl(L, &ly->bo, W_F32, il, "attn_output.bias", E, 1, 1))
        return -1;
    if (L->m->kind == RT_ARCH_QWEN3MOE) {
        if (bindl(L, &ly->q_norm, W_REQ | W_F32, il, "attn_q_norm.weight", hp->head_k, 1, 1) ||
            bindl(L, &ly->k_norm, W_REQ | W_F32, il, "attn_k_norm.weight", hp->head_k, 1, 1))
            return -1;
    } else if (L->m->kind == RT_ARCH_OLMOE) {
        if (bindl(L, &ly->q_norm, W_REQ | W_F32, il, "attn_q_norm.weight", H * hp->head_k, 1, 1) ||
            bindl(L, &ly->k_norm, W_REQ | W_F32, il, "attn_k_norm.weight", HK * hp->head_k, 1, 1))
            return -1;
    } else if (L->m->kind == RT_ARCH_GPTOSS) {
        if (bindl(L, &ly->sinks, W_REQ | W_F32, il, "attn_sinks.weight", H, 1, 1)) return -1;
    }
    return 0;
}

static int load_ffn(loader *L, int il, rt_layer *ly)
{
    rt_hparams *hp = &L->m->hp;
    const int64_t E = hp->n_embd;
    const char *norm =
        L->m->kind == RT_ARCH_GPTOSS ? "post_attention_norm.weight" : "ffn_norm.weight";
    if (bindl(L, &ly->ffn_norm, W_REQ | W_F32, il, norm, E, 1, 1)) return -1;
    bool moe = has_tensor(L, il, "ffn_gate_inp.weight") && il >= hp->n_dense_lead;
    ly->moe = moe;
    if (!moe) {
        int64_t ff = hp->n_ff > 0 ? hp->n_ff : -1;
        if (bindl(L, &ly->ffn_gate, W_REQ, il, "ffn_gate.weight", E, ff, 1) ||
            bindl(L, &ly->ffn_up, W_REQ, il, "ffn_up.weight", E, ly->ffn_gate.ne[1], 1) ||
            bindl(L, &ly->ffn_down, W_REQ, il, "ffn_down.weight", ly->ffn_gate.ne[1], E, 1))
            return -1;
        return 0;
    }
    const int64_t NE = hp->n_expert;
    if (NE <= 0 || hp->n_expert_used <= 0)
        return load_fail(L, "layer %d has experts but expert_count/expert_used_count are unset",
                         il);
    int64_t ffe = hp->n_ff_exp > 0 ? hp->n_ff_exp : -1;
    if (bindl(L, &ly->gate_inp, W_REQ, il, "ffn_gate_inp.weight", E, NE, 1) ||
        bindl(L, &ly->gate_exps, W_REQ, il, "ffn_gate_exps.weight", E, ffe, NE))
        return -1;
    ffe = ly->gate_exps.ne[1];
    if (hp->n_ff_exp == 0)
        hp->n_ff_exp = (int32_t)ffe;
    else if (hp->n_ff_exp != ffe)
        return load_fail(L, "layer %d expert FFN width %lld differs from layer 0's %d", il,
                         (long long)ffe, hp->n_ff_exp);
    if (bindl(L, &ly->up_exps, W_REQ, il, "ffn_up_exps.weight", E, ffe, NE) ||
        bindl(L, &ly->down_exps, W_REQ, il, "ffn_down_exps.weight", ffe, E, NE) ||
        bindl(L, &ly->exp_probs_b, W_F32, il, "exp_probs_b.bias", NE, 1, 1))
        return -1;
    if (L->m->kind == RT_ARCH_GPTOSS) {
        if (bindl(L, &ly->gate_inp_b, W_REQ | W_F32, il, "ffn_gate_inp.bias", NE, 1, 1) ||
            bindl(L, &ly->gate_exps_b, W_REQ | W_F32, il, "ffn_gate_exps.bias", ffe, NE, 1) ||
            bindl(L, &ly->up_exps_b, W_REQ | W_F32, il, "ffn_up_exps.bias", ffe, NE, 1) ||
            bindl(L, &ly->down_exps_b, W_REQ | W_F32, il, "ffn_down_exps.bias", E, NE, 1))
            return -1;
    }
    if (has_tensor(L, il, "ffn_gate_shexp.weight")) {
        int64_t ffs = hp->n_ff_shexp > 0 ? hp->n_ff_shexp : -1;
        if (bindl(L, &ly->gate_shexp, W_REQ, il, "ffn_gate_shexp.weight", E, ffs, 1) ||
            bindl(L, &ly->up_shexp, W_REQ, il, "ffn_up_shexp.weight", E, ly->gate_shexp.ne[1], 1) ||
            bindl(L, &ly->down_shexp, W_REQ, il, "ffn_down_shexp.weight", ly->gate_shexp.ne[1], E,
                  1))
            return -1;
        if (L->m->kind == RT_ARCH_QWEN2MOE &&
            bindl(L, &ly->gate_inp_shexp, W_REQ | W_F32, il, "ffn_gate_inp_shexp.weight", E, 1, 1))
            return -1;
    } else if (L->m->kind == RT_ARCH_QWEN2MOE ||
               (L->m->kind == RT_ARCH_DEEPSEEK2 && hp->n_expert_shared > 0)) {
        return load_fail(L, "missing tensor blk.%d.ffn_gate_shexp.weight (shared expert)", il);
    }
    return 0;
}

static int load_tensors(loader *L)
{
    rt_model *m = L->m;
    rt_hparams *hp = &m->hp;
    if (bind(L, &m->tok_embd, W_REQ, "token_embd.weight", hp->n_embd, -1, 1)) return -1;
    hp->n_vocab = (int32_t)m->tok_embd.ne[1];
    if (bind(L, &m->output_norm, W_REQ | W_F32, "output_norm.weight", hp->n_embd, 1, 1) ||
        bind(L, &m->output, W_OPT, "output.weight", hp->n_embd, hp->n_vocab, 1))
        return -1;
    if (!m->output.data) m->output = m->tok_embd; /* tied embeddings */
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return load_fail(L, "out of memory");
    for (int il = 0; il < hp->n_layer; il++) {
        rt_layer *ly = &m->layers[il];
        if (load_attention(L, il, ly) || load_ffn(L, il, ly)) return -1;
        /* gpt-oss alternates sliding-window (even layers) and full attention. */
        ly->swa = m->kind == RT_ARCH_GPTOSS && hp->n_swa > 0 && il % 2 == 0;
    }
    return 0;
}

int rt_model_load(const char *path, const rt_load_params *p, rt_model **out, char *err,
                  size_t errlen)
{
    *out = NULL;
    rt_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    if (gguf_open(path, &m->g, err, errlen) != 0) {
        free(m);
        return -1;
    }
    loader L = {m, err, errlen};
    if (load_arch_kind(&L) || load_hparams(&L) || load_tensors(&L)) goto fail;
    if (rt_vocab_load(m->g, &m->vocab, err, errlen) != 0) goto fail;
    if (rt_vocab_n_tokens(m->vocab) > m->hp.n_vocab) {
        load_fail(&L, "vocabulary has %d tokens but token_embd has %d rows",
                  rt_vocab_n_tokens(m->vocab), m->hp.n_vocab);
        goto fail;
    }
    gguf_str nm;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (gguf_get_str(m->g, "general.name", &nm) == 0 && nm.len > 0)
        m->name = strndup(nm.ptr, nm.len);
    else
        m->name = strdup(base);
    if (!m->name || rt_pool_new(p ? p->n_threads : 0, &m->pool) != 0) {
        load_fail(&L, "out of memory");
        goto fail;
    }
    *out = m;
    return 0;
fail:
    rt_model_free(m);
    return -1;
}

void rt_model_free(rt_model *m)
{
    if (!m) return;
    rt_pool_free(m->pool);
    rt_grammar_trie_free(atomic_load(&m->grammar_trie));
    rt_vocab_free(m->vocab);
    free(m->layers);
    free(m->name);
    gguf_close(m->g);
    free(m);
}

const char *rt_model_arch(const rt_model *m)
{
    return m->arch;
}
const char *rt_model_name(const rt_model *m)
{
    return m->name;
}
int32_t rt_model_n_vocab(const rt_model *m)
{
    return m->hp.n_vocab;
}
int32_t rt_model_n_ctx_train(const rt_model *m)
{
    return m->hp.n_ctx_train;
}
int32_t rt_model_bos(const rt_model *m)
{
    return rt_vocab_bos(m->vocab);
}
int32_t rt_model_eos(const rt_model *m)
{
    return rt_vocab_eos(m->vocab);
}
bool rt_model_is_eog(const rt_model *m, int32_t id)
{
    return rt_vocab_is_eog(m->vocab, id);
}

int rt_tokenize(const rt_model *m, const char *text, size_t len, bool add_special,
                bool parse_special, int32_t **ids, size_t *n_ids, char *err, size_t errlen)
{
    return rt_vocab_tokenize(m->vocab, text, len, add_special, parse_special, ids, n_ids, err,
                             errlen);
}

int rt_token_piece(const rt_model *m, int32_t id, char *buf, size_t cap)
{
    return rt_vocab_piece(m->vocab, id, buf, cap);
}
