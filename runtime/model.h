/* model.h - private: a loaded model (hyper-parameters, bound weight tensors,
 * thread pool) and the per-architecture forward pass over shared blocks.
 *
 * Weights stay in the read-only GGUF mapping; an rt_weight is a typed view of
 * one tensor (shape checked at load time). The forward pass processes one
 * token at a time against the session's float32 KV cache. */
#ifndef SWARM_RT_MODEL_H
#define SWARM_RT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch_list.h"
#include "gguf.h"
#include "quant.h"
#include "rt.h"
#include "threadpool.h"
#include "vocab.h"

typedef enum { RT_ROPE_NORM, RT_ROPE_NEOX } rt_rope_kind;
typedef enum { RT_GATE_SOFTMAX, RT_GATE_SIGMOID, RT_GATE_SOFTMAX_WEIGHT } rt_gate_kind;

/* A view of one tensor in the mapping; data == NULL means "absent". */
typedef struct {
    const uint8_t *data;
    const rt_type_traits *tr;
    uint32_t type;
    int64_t ne[4];
    size_t row_bytes; /* bytes of one ne[0]-long row */
    const char *name;
} rt_weight;

typedef struct {
    rt_weight attn_norm, wq, wk, wv, wo, bq, bk, bv, bo, q_norm, k_norm, sinks;
    /* deepseek2 MLA */
    rt_weight wq_a, q_a_norm, wq_b, wkv_a_mqa, kv_a_norm, wk_b, wv_b, wkv_b;
    /* FFN: dense or MoE (+ shared expert) */
    rt_weight ffn_norm, ffn_gate, ffn_up, ffn_down;
    rt_weight gate_inp, gate_inp_b, gate_exps, up_exps, down_exps;
    rt_weight gate_exps_b, up_exps_b, down_exps_b, exp_probs_b;
    rt_weight gate_shexp, up_shexp, down_shexp, gate_inp_shexp;
    bool moe;
    bool swa; /* sliding-window attention layer */
} rt_layer;

typedef struct {
    int32_t n_layer, n_embd, n_head, n_head_kv, head_k, head_v, n_vocab, n_ctx_train;
    int32_t n_rot;
    float rms_eps;
    rt_rope_kind rope;
    float rope_base, rope_freq_scale; /* freq_scale = 1 / scaling factor */
    bool yarn;
    float yarn_ext_factor, yarn_attn_factor, yarn_beta_fast, yarn_beta_slow, yarn_log_mul;
    float yarn_mscale; /* intended magnitude of the rotated vectors */
    int32_t n_ctx_orig;
    float kq_scale;
    /* MoE */
    int32_t n_expert, n_expert_used, n_ff, n_ff_exp, n_ff_shexp, n_expert_shared;
    int32_t n_dense_lead, n_group, n_group_used;
    bool expert_norm;
    float expert_scale;
    rt_gate_kind gating;
    /* deepseek2 */
    int32_t q_lora, kv_lora, qk_nope, qk_rope, v_mla; /* head_k = nope + rope for MLA */
    /* gpt-oss */
    int32_t n_swa;
    float swiglu_alpha, swiglu_limit;
    /* KV row widths per layer (floats) */
    int32_t kv_k_dim, kv_v_dim;
} rt_hparams;

struct rt_model {
    gguf_file *g;
    rt_vocab *vocab;
    char arch[32];
    char *name;
    rt_arch_kind kind;
    rt_hparams hp;
    rt_weight tok_embd, output_norm, output;
    rt_layer *layers;
    rt_pool *pool;
    /* grammar masking: the token trie, built on first use (grammar/mask.c) */
    _Atomic(void *) grammar_trie;
};

void rt_grammar_trie_free(void *trie);

/* Tokens evaluated together per forward call (prompt processing): weights
 * are read (and dequantized) once per batch instead of once per token. */
#define RT_BATCH 64

/* Per-session scratch for one batch of up to RT_BATCH tokens (row-major
 * [token][...] buffers sized from the model). */
typedef struct {
    float *x, *xn, *q, *k, *v, *attn_out, *tmp;
    float *hb, *hb2, *moe_out, *router, *scores;
    float *xg, *yg;    /* MoE: inputs gathered per expert, their outputs */
    int32_t *gidx;     /* MoE: (token, slot) of each gathered row */
    float *exp_w;      /* [token][n_expert_used] */
    int32_t *exp_id;   /* [token][n_expert_used] */
    float *rope_cache; /* [token][n_rot] */
    int64_t wide, ff;
    int32_t n_ctx;
} rt_scratch;

/* One batch row: the sequence (KV cache per layer) its token belongs to and
 * the token's position in it. */
typedef struct {
    void **k, **v; /* per layer, elements of kv_type */
    int32_t pos;
    rt_kv_type kv_type;
} rt_row;

/* Forward n (<= RT_BATCH) tokens, row b at rows[b] (rows may belong to
 * different sequences: the sessions of one worker decoding together). Writes
 * each row's K/V; logits_all receives n rows of n_vocab floats when non-NULL. */
int rt_forward_rows(const rt_model *m, rt_scratch *s, const rt_row *rows, const int32_t *tokens,
                    int32_t n, float *logits_all);

/* Forward n (<= RT_BATCH) tokens at positions pos..pos+n-1 (the KV rows before
 * pos are filled); writes their K/V rows. logits_all (n rows) and/or
 * logits_last (the last row) receive n_vocab floats per row when non-NULL. */
int rt_forward_batch(const rt_model *m, rt_scratch *s, void **kc, void **vc, rt_kv_type kv_type,
                     int32_t n_ctx, const int32_t *tokens, int32_t n, int32_t pos,
                     float *logits_all, float *logits_last);
int rt_scratch_init(const rt_model *m, rt_scratch *s, int32_t n_ctx);
void rt_scratch_free(rt_scratch *s);

/* Shared blocks (arch/blocks.c). */
void rt_rmsnorm(float *out, const float *x, const rt_weight *w, int64_t n, float eps);
/* Y[b][r] = W[r,:] . X[b] for the nb rows of X (row strides ldx, ldy) against a
 * 2-D weight or one expert slice of a 3-D one. */
void rt_matmul(rt_pool *pool, float *y, int64_t ldy, const rt_weight *w, int64_t expert,
               const float *x, int64_t ldx, int64_t nb);
/* y[r] = W[r,:] . x (one vector). */
void rt_matvec(rt_pool *pool, float *y, const rt_weight *w, int64_t expert, const float *x);
/* y += b (b may be absent); b may be 2-D (per-expert rows). */
void rt_add_bias(float *y, const rt_weight *b, int64_t expert, int64_t n);
int rt_weight_row(const rt_weight *w, int64_t row, float *out); /* dequantize one row */
float rt_dot(const float *a, const float *b, int64_t n);
/* out[b * ldo] = w . x[b * ldx] for b < nb (arch/simd.c picks the fastest). */
typedef void (*rt_dot_rows_fn)(const float *w, const float *x, int64_t ldx, int64_t nb, int64_t n,
                               float *out, int64_t ldo);
rt_dot_rows_fn rt_dot_rows_select(void);
/* Two adjacent weight rows at once: out[b * ldo + 0/1] (NULL if unavailable). */
typedef void (*rt_dot_rows2_fn)(const float *w0, const float *w1, const float *x, int64_t ldx,
                                int64_t nb, int64_t n, float *out, int64_t ldo);
rt_dot_rows2_fn rt_dot_rows2_select(void);
void rt_rope_apply(float *v, int32_t n_heads, int32_t head_dim, int32_t n_rot, rt_rope_kind kind,
                   const float *cs);
void rt_rope_cache(const rt_hparams *hp, int32_t pos, float *cs);
void rt_softmax(float *x, int64_t n);
float rt_silu(float x);

#endif
