/* mkmodel.c - `swarm-infer mkmodel`: write a random-weight GGUF for a supported
 * MoE architecture, at a tiny test preset or at real published shapes.
 *
 * The file has exactly the tensor names, shapes (ggml order: ne[0] is the
 * row length) and metadata keys llama.cpp's converter writes for a real model
 * of the architecture, a generated tokenizer of the family's kind, and
 * seeded random weights scaled so activations stay sane (std 1/sqrt(fan_in),
 * norms 1, router and output head wider for clear top-k / greedy margins).
 * The output-head rows of special tokens other than EOS, and of byte tokens
 * for non-printable or non-ASCII bytes, are zero: a random model then writes
 * printable text, without chat-structure tokens (<|im_start|>, <s>,
 * <|channel|>) or broken UTF-8 that would garble transcripts, and EOS can
 * still end a generation.
 *
 * Nothing large is ever held in memory: the header is written first with
 * precomputed offsets, then each tensor is generated, quantized and written a
 * chunk of rows at a time. Each tensor has its own PRNG stream seeded from
 * (seed, tensor name), so the bytes depend only on the seed and the shapes.
 *
 * Tensor types follow llama-quantize's policy, approximately:
 *  - 1-D tensors (norms, biases, sinks, exp_probs_b), every *.bias and the
 *    router ffn_gate_inp stay F32.
 *  - F32/F16/BF16/Q8_0/Q6_K: every other tensor in that type.
 *  - Q4_0: Q4_0, except output.weight in Q6_K (llama-quantize does the same).
 *  - Q4_K_M: Q4_K, with output.weight Q6_K; ffn_down* in Q6_K on the layers
 *    llama-quantize's use_more_bits() picks (first and last eighth, every
 *    third between); attn_v Q6_K on those layers too; when the model has
 *    exactly 8 experts attn_k/attn_v are Q8_0 and attn_output Q5_K (its MoE
 *    rule).
 *  - MXFP4: expert tensors (*_exps) MXFP4, everything else Q8_0.
 *  - A row length that is not a multiple of the chosen type's block falls
 *    back like llama-quantize: Q4_K -> Q5_0, Q5_K/Q6_K -> Q8_0, then F16. A
 *    type without a quantizer in quant.h falls back the same way (with a
 *    note on stderr). */
#include "mkmodel.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>

#include "arch_list.h"
#include "gguf_write.h"
#include "mkmodel_vocab.h"
#include "quant.h"
#include "swarm_err.h"
#include "swarm_rand.h"

#define MK_MAX_THREADS 64

typedef struct {
    rt_arch_kind arch;
    const char *preset;
    int n_layer, n_embd, n_head, n_head_kv, head_dim;
    int n_ff;     /* feed_forward_length (dense FFN, or the expert FFN where the arch says so) */
    int n_ff_exp; /* expert_feed_forward_length */
    int n_expert, n_expert_used;
    int n_expert_shared, n_ff_shexp;
    int n_ctx;
    float rope_base, rms_eps;
    int n_vocab;
    /* deepseek2 (MLA) */
    int q_lora, kv_lora, qk_nope, qk_rope, v_head, n_dense_lead;
    float expert_weights_scale;
    int gating; /* 1 softmax, 2 sigmoid */
    bool v3_routing;
    int n_group, n_group_used;
    /* rope scaling (0 factor = none) */
    float yarn_factor, yarn_log_mul;
    int yarn_orig_ctx;
    /* gpt-oss */
    int sliding_window;
} mk_hparams;

typedef enum {
    K_WEIGHT, /* std 1/sqrt(fan_in) */
    K_EMBD,   /* std 1 */
    K_OUTPUT, /* std 4/sqrt(fan_in): clear greedy margins */
    K_ROUTER, /* std 4/sqrt(fan_in) (softmax) or 2/sqrt (sigmoid): clear top-k margins */
    K_NORM,   /* 1 */
    K_BIAS,   /* std 0.02 */
    K_SINK,   /* std 1 */
    K_PROBS_B /* std 0.05 */
} mk_kind;

typedef struct {
    char name[96];
    uint32_t n_dims;
    int64_t ne[4];
    mk_kind kind;
    uint32_t type;
    int layer; /* -1 for global tensors */
} mk_tensor;

typedef struct {
    mk_tensor *t;
    size_t n, cap;
} mk_tensors;

typedef enum { Y_F32, Y_F16, Y_BF16, Y_Q8_0, Y_Q4_0, Y_Q4_K_M, Y_Q6_K, Y_MXFP4 } mk_ftype;
static const struct {
    const char *name;
    uint32_t file_type; /* general.file_type (llama_ftype) */
} ftypes[] = {
    [Y_F32] = {"F32", 0},    [Y_F16] = {"F16", 1},      [Y_BF16] = {"BF16", 32},
    [Y_Q8_0] = {"Q8_0", 7},  [Y_Q4_0] = {"Q4_0", 2},    [Y_Q4_K_M] = {"Q4_K_M", 15},
    [Y_Q6_K] = {"Q6_K", 18}, [Y_MXFP4] = {"MXFP4", 38},
};

/* ---- presets ---- */

static void preset_tiny(mk_hparams *h, rt_arch_kind arch)
{
    memset(h, 0, sizeof *h);
    h->arch = arch;
    h->preset = "tiny";
    /* 256-wide rows so the K-quants (256-element blocks) are really exercised */
    h->n_layer = 2;
    h->n_embd = 256;
    h->n_head = 4;
    h->n_head_kv = 2;
    h->head_dim = 64;
    h->n_ff = 256;
    h->n_ff_exp = 256;
    h->n_expert = 8;
    h->n_expert_used = 2;
    h->n_ctx = 4096;
    h->rope_base = 10000.0f;
    h->rms_eps = 1e-6f;
    h->n_vocab = 1024;
    switch (arch) {
    case RT_ARCH_DEEPSEEK2:
        h->n_head_kv = 1;
        h->n_ff = 512; /* the leading dense layer */
        h->q_lora = 128;
        h->kv_lora = 128;
        h->qk_nope = 64;
        h->qk_rope = 32;
        h->v_head = 64;
        h->n_dense_lead = 1;
        h->n_expert_shared = 1;
        h->n_ff_shexp = h->n_ff_exp;
        h->expert_weights_scale = 1.0f;
        h->gating = 1;
        break;
    case RT_ARCH_QWEN2MOE:
        h->n_expert_shared = 1;
        h->n_ff_shexp = 512;
        h->n_ff = 512;
        break;
    case RT_ARCH_OLMOE:
        h->n_head_kv = h->n_head; /* OLMoE has no GQA */
        h->rms_eps = 1e-5f;
        break;
    case RT_ARCH_GPTOSS:
        h->rms_eps = 1e-5f;
        h->sliding_window = 128;
        h->rope_base = 150000.0f;
        break;
    default:
        break;
    }
}

/* Real shapes from the published configs (config.json of each model). */
static int preset_real(mk_hparams *h, const char *preset, rt_arch_kind *arch_io, bool arch_given,
                       char *err, size_t errlen)
{
    rt_arch_kind a;
    if (strcmp(preset, "olmoe-1b-7b") == 0)
        a = RT_ARCH_OLMOE;
    else if (strcmp(preset, "qwen3-30b-a3b") == 0)
        a = RT_ARCH_QWEN3MOE;
    else if (strcmp(preset, "deepseek-v2-lite") == 0)
        a = RT_ARCH_DEEPSEEK2;
    else if (strcmp(preset, "gpt-oss-20b") == 0)
        a = RT_ARCH_GPTOSS;
    else
        return swarm_err_set(
            err, errlen,
            "unknown --preset %s (tiny, olmoe-1b-7b, qwen3-30b-a3b, deepseek-v2-lite, "
            "gpt-oss-20b)",
            preset);
    if (arch_given && *arch_io != a)
        return swarm_err_set(err, errlen, "--preset %s is a %s model, not --arch %s", preset,
                             rt_arch_name(a), rt_arch_name(*arch_io));
    *arch_io = a;
    memset(h, 0, sizeof *h);
    h->arch = a;
    h->preset = preset;
    switch (a) {
    case RT_ARCH_OLMOE: /* allenai/OLMoE-1B-7B-0924 */
        h->n_layer = 16;
        h->n_embd = 2048;
        h->n_head = 16;
        h->n_head_kv = 16;
        h->head_dim = 128;
        h->n_ff = 1024;
        h->n_ff_exp = 1024;
        h->n_expert = 64;
        h->n_expert_used = 8;
        h->n_ctx = 4096;
        h->rope_base = 10000.0f;
        h->rms_eps = 1e-5f;
        h->n_vocab = 50304;
        break;
    case RT_ARCH_QWEN3MOE: /* Qwen/Qwen3-30B-A3B */
        h->n_layer = 48;
        h->n_embd = 2048;
        h->n_head = 32;
        h->n_head_kv = 4;
        h->head_dim = 128;
        h->n_ff = 6144;
        h->n_ff_exp = 768;
        h->n_expert = 128;
        h->n_expert_used = 8;
        h->n_ctx = 40960;
        h->rope_base = 1000000.0f;
        h->rms_eps = 1e-6f;
        h->n_vocab = 151936;
        break;
    case RT_ARCH_DEEPSEEK2: /* deepseek-ai/DeepSeek-V2-Lite */
        h->n_layer = 27;
        h->n_embd = 2048;
        h->n_head = 16;
        h->n_head_kv = 1; /* MLA is stored as one shared latent head */
        h->n_ff = 10944;
        h->n_ff_exp = 1408;
        h->n_expert = 64;
        h->n_expert_used = 6;
        h->n_expert_shared = 2;
        h->n_ff_shexp = 2 * 1408;
        h->n_ctx = 163840;
        h->rope_base = 10000.0f;
        h->rms_eps = 1e-6f;
        h->n_vocab = 102400;
        h->q_lora = 0;
        h->kv_lora = 512;
        h->qk_nope = 128;
        h->qk_rope = 64;
        h->v_head = 128;
        h->n_dense_lead = 1;
        h->expert_weights_scale = 1.0f;
        h->gating = 1;
        h->yarn_factor = 40.0f;
        h->yarn_orig_ctx = 4096;
        h->yarn_log_mul = 0.0707f; /* 0.1 * mscale_all_dim */
        break;
    case RT_ARCH_GPTOSS: /* openai/gpt-oss-20b */
        h->n_layer = 24;
        h->n_embd = 2880;
        h->n_head = 64;
        h->n_head_kv = 8;
        h->head_dim = 64;
        h->n_ff = 2880;
        h->n_ff_exp = 2880;
        h->n_expert = 32;
        h->n_expert_used = 4;
        h->n_ctx = 131072;
        h->rope_base = 150000.0f;
        h->rms_eps = 1e-5f;
        h->n_vocab = 201088;
        h->sliding_window = 128;
        h->yarn_factor = 32.0f;
        h->yarn_orig_ctx = 4096;
        break;
    default:
        return swarm_err_set(err, errlen, "no real preset for --arch %s", rt_arch_name(a));
    }
    return 0;
}

static mk_vocab_family vocab_family(const mk_hparams *h)
{
    switch (h->arch) {
    case RT_ARCH_LLAMA:
        return MK_VOCAB_SPM;
    case RT_ARCH_DEEPSEEK2:
        return h->v3_routing ? MK_VOCAB_DEEPSEEK3 : MK_VOCAB_DEEPSEEK;
    case RT_ARCH_OLMOE:
        return MK_VOCAB_OLMO;
    case RT_ARCH_GPTOSS:
        return MK_VOCAB_GPTOSS;
    default:
        return MK_VOCAB_QWEN;
    }
}

/* ---- tensor list ---- */

static int add_t(mk_tensors *ts, mk_kind kind, int layer, uint32_t n_dims, int64_t ne0, int64_t ne1,
                 int64_t ne2, const char *fmt, ...)
{
    if (ts->n == ts->cap) {
        size_t cap = ts->cap ? 2 * ts->cap : 128;
        mk_tensor *t = realloc(ts->t, cap * sizeof *t);
        if (!t) return -1;
        ts->t = t;
        ts->cap = cap;
    }
    mk_tensor *t = &ts->t[ts->n++];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = n_dims > 1 ? ne1 : 1;
    t->ne[2] = n_dims > 2 ? ne2 : 1;
    t->ne[3] = 1;
    t->kind = kind;
    t->layer = layer;
    return 0;
}

#define T1(kind, l, a, ...) add_t(ts, kind, l, 1, a, 1, 1, __VA_ARGS__)
#define T2(kind, l, a, b, ...) add_t(ts, kind, l, 2, a, b, 1, __VA_ARGS__)
#define T3(kind, l, a, b, c, ...) add_t(ts, kind, l, 3, a, b, c, __VA_ARGS__)

static int build_tensors(const mk_hparams *h, mk_tensors *ts)
{
    const int64_t E = h->n_embd, V = h->n_vocab, X = h->n_expert, D = h->head_dim;
    const int64_t HD = (int64_t)h->n_head * D, KD = (int64_t)h->n_head_kv * D;
    int rc = 0;
    rc |= T2(K_EMBD, -1, E, V, "token_embd.weight");
    for (int l = 0; l < h->n_layer && !rc; l++) {
        rc |= T1(K_NORM, l, E, "blk.%d.attn_norm.weight", l);
        if (h->arch == RT_ARCH_DEEPSEEK2) {
            const int64_t qk = h->qk_nope + h->qk_rope, H = h->n_head;
            if (h->q_lora > 0) {
                rc |= T2(K_WEIGHT, l, E, h->q_lora, "blk.%d.attn_q_a.weight", l);
                rc |= T1(K_NORM, l, h->q_lora, "blk.%d.attn_q_a_norm.weight", l);
                rc |= T2(K_WEIGHT, l, h->q_lora, H * qk, "blk.%d.attn_q_b.weight", l);
            } else {
                rc |= T2(K_WEIGHT, l, E, H * qk, "blk.%d.attn_q.weight", l);
            }
            rc |= T2(K_WEIGHT, l, E, h->kv_lora + h->qk_rope, "blk.%d.attn_kv_a_mqa.weight", l);
            rc |= T1(K_NORM, l, h->kv_lora, "blk.%d.attn_kv_a_norm.weight", l);
            rc |= T3(K_WEIGHT, l, h->qk_nope, h->kv_lora, H, "blk.%d.attn_k_b.weight", l);
            rc |= T3(K_WEIGHT, l, h->kv_lora, h->v_head, H, "blk.%d.attn_v_b.weight", l);
            rc |= T2(K_WEIGHT, l, H * h->v_head, E, "blk.%d.attn_output.weight", l);
        } else {
            bool bias = h->arch == RT_ARCH_QWEN2MOE || h->arch == RT_ARCH_GPTOSS;
            rc |= T2(K_WEIGHT, l, E, HD, "blk.%d.attn_q.weight", l);
            if (bias) rc |= T1(K_BIAS, l, HD, "blk.%d.attn_q.bias", l);
            rc |= T2(K_WEIGHT, l, E, KD, "blk.%d.attn_k.weight", l);
            if (bias) rc |= T1(K_BIAS, l, KD, "blk.%d.attn_k.bias", l);
            rc |= T2(K_WEIGHT, l, E, KD, "blk.%d.attn_v.weight", l);
            if (bias) rc |= T1(K_BIAS, l, KD, "blk.%d.attn_v.bias", l);
            rc |= T2(K_WEIGHT, l, HD, E, "blk.%d.attn_output.weight", l);
            if (h->arch == RT_ARCH_GPTOSS) {
                rc |= T1(K_BIAS, l, E, "blk.%d.attn_output.bias", l);
                rc |= T1(K_SINK, l, h->n_head, "blk.%d.attn_sinks.weight", l);
            }
            if (h->arch == RT_ARCH_QWEN3MOE) { /* per-head RMSNorm of q and k */
                rc |= T1(K_NORM, l, D, "blk.%d.attn_q_norm.weight", l);
                rc |= T1(K_NORM, l, D, "blk.%d.attn_k_norm.weight", l);
            }
            if (h->arch == RT_ARCH_OLMOE) { /* OLMoE normalizes the whole q / k vectors */
                rc |= T1(K_NORM, l, HD, "blk.%d.attn_q_norm.weight", l);
                rc |= T1(K_NORM, l, KD, "blk.%d.attn_k_norm.weight", l);
            }
        }
        if (h->arch == RT_ARCH_GPTOSS)
            rc |= T1(K_NORM, l, E, "blk.%d.post_attention_norm.weight", l);
        else
            rc |= T1(K_NORM, l, E, "blk.%d.ffn_norm.weight", l);

        if (h->arch == RT_ARCH_DEEPSEEK2 && l < h->n_dense_lead) {
            rc |= T2(K_WEIGHT, l, E, h->n_ff, "blk.%d.ffn_gate.weight", l);
            rc |= T2(K_WEIGHT, l, E, h->n_ff, "blk.%d.ffn_up.weight", l);
            rc |= T2(K_WEIGHT, l, h->n_ff, E, "blk.%d.ffn_down.weight", l);
            continue;
        }
        const int64_t F =
            h->arch == RT_ARCH_OLMOE || h->arch == RT_ARCH_LLAMA ? h->n_ff : h->n_ff_exp;
        rc |= T2(K_ROUTER, l, E, X, "blk.%d.ffn_gate_inp.weight", l);
        if (h->arch == RT_ARCH_GPTOSS) rc |= T1(K_BIAS, l, X, "blk.%d.ffn_gate_inp.bias", l);
        if (h->v3_routing) rc |= T1(K_PROBS_B, l, X, "blk.%d.exp_probs_b.bias", l);
        rc |= T3(K_WEIGHT, l, E, F, X, "blk.%d.ffn_gate_exps.weight", l);
        if (h->arch == RT_ARCH_GPTOSS) rc |= T2(K_BIAS, l, F, X, "blk.%d.ffn_gate_exps.bias", l);
        rc |= T3(K_WEIGHT, l, E, F, X, "blk.%d.ffn_up_exps.weight", l);
        if (h->arch == RT_ARCH_GPTOSS) rc |= T2(K_BIAS, l, F, X, "blk.%d.ffn_up_exps.bias", l);
        rc |= T3(K_WEIGHT, l, F, E, X, "blk.%d.ffn_down_exps.weight", l);
        if (h->arch == RT_ARCH_GPTOSS) rc |= T2(K_BIAS, l, E, X, "blk.%d.ffn_down_exps.bias", l);
        if (h->n_expert_shared > 0) {
            const int64_t S = h->n_ff_shexp;
            if (h->arch == RT_ARCH_QWEN2MOE) /* sigmoid gate of the shared expert */
                rc |= T1(K_ROUTER, l, E, "blk.%d.ffn_gate_inp_shexp.weight", l);
            rc |= T2(K_WEIGHT, l, E, S, "blk.%d.ffn_gate_shexp.weight", l);
            rc |= T2(K_WEIGHT, l, E, S, "blk.%d.ffn_up_shexp.weight", l);
            rc |= T2(K_WEIGHT, l, S, E, "blk.%d.ffn_down_shexp.weight", l);
        }
    }
    rc |= T1(K_NORM, -1, E, "output_norm.weight");
    rc |= T2(K_OUTPUT, -1, E, V, "output.weight");
    return rc ? -1 : 0;
}

/* ---- type policy ---- */

static bool type_usable(uint32_t type, int64_t ne0)
{
    const rt_type_traits *tr = rt_type_get(type);
    if (!tr || ne0 % tr->blck_size != 0) return false;
    return type == RT_TYPE_F32 || tr->quantize != NULL;
}

static uint32_t type_fallback(uint32_t type)
{
    switch (type) {
    case RT_TYPE_Q4_K:
        return RT_TYPE_Q5_0;
    case RT_TYPE_Q5_K:
    case RT_TYPE_Q6_K:
    case RT_TYPE_Q5_0:
    case RT_TYPE_MXFP4:
        return RT_TYPE_Q8_0;
    case RT_TYPE_F16:
    case RT_TYPE_BF16:
        return RT_TYPE_F32;
    default:
        return RT_TYPE_F16;
    }
}

/* llama-quantize's use_more_bits(): the first and last eighth of the layers
 * and every third one between get more bits. */
static bool use_more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static uint32_t wanted_type(const mk_hparams *h, const mk_tensor *t, mk_ftype ft)
{
    if (t->n_dims == 1 || ends_with(t->name, ".bias") || strstr(t->name, "ffn_gate_inp"))
        return RT_TYPE_F32;
    bool output = strcmp(t->name, "output.weight") == 0;
    switch (ft) {
    case Y_F32:
        return RT_TYPE_F32;
    case Y_F16:
        return RT_TYPE_F16;
    case Y_BF16:
        return RT_TYPE_BF16;
    case Y_Q8_0:
        return RT_TYPE_Q8_0;
    case Y_Q6_K:
        return RT_TYPE_Q6_K;
    case Y_Q4_0:
        return output ? RT_TYPE_Q6_K : RT_TYPE_Q4_0;
    case Y_MXFP4:
        return strstr(t->name, "_exps.") ? RT_TYPE_MXFP4 : RT_TYPE_Q8_0;
    case Y_Q4_K_M:
        if (output) return RT_TYPE_Q6_K;
        if (strstr(t->name, ".attn_v.weight")) {
            if (h->n_expert == 8) return RT_TYPE_Q8_0;
            return use_more_bits(t->layer, h->n_layer) ? RT_TYPE_Q6_K : RT_TYPE_Q4_K;
        }
        if (strstr(t->name, ".attn_k.weight") && h->n_expert == 8) return RT_TYPE_Q8_0;
        if (strstr(t->name, ".attn_output.weight") && h->n_expert == 8) return RT_TYPE_Q5_K;
        if (strstr(t->name, ".ffn_down") && use_more_bits(t->layer, h->n_layer))
            return RT_TYPE_Q6_K;
        return RT_TYPE_Q4_K;
    }
    return RT_TYPE_F32;
}

/* Remembers which fallback notes were printed so each is printed once. */
typedef struct {
    uint32_t from[16], to[16];
    int n;
} note_set;

static uint32_t choose_type(const mk_hparams *h, const mk_tensor *t, mk_ftype ft, note_set *notes)
{
    uint32_t want = wanted_type(h, t, ft), type = want;
    while (!type_usable(type, t->ne[0]) && type != RT_TYPE_F32)
        type = type_fallback(type);
    if (type != want) {
        bool seen = false;
        for (int i = 0; i < notes->n; i++)
            if (notes->from[i] == want && notes->to[i] == type) seen = true;
        if (!seen && notes->n < 16) { /* once per (wanted, used) pair */
            const rt_type_traits *tr = rt_type_get(want);
            if (!tr || !tr->quantize)
                fprintf(stderr, "mkmodel: note: no %s quantizer in this build; using %s (%s)\n",
                        rt_type_name(want), rt_type_name(type), t->name);
            else
                fprintf(stderr,
                        "mkmodel: note: %s: row length %lld is not a multiple of the %s block; "
                        "using %s (and likewise for similar tensors)\n",
                        t->name, (long long)t->ne[0], rt_type_name(want), rt_type_name(type));
            notes->from[notes->n] = want;
            notes->to[notes->n] = type;
            notes->n++;
        }
    }
    return type;
}

/* ---- metadata ---- */

typedef struct {
    gguf_writer *w;
    const char *arch;
    char *err;
    size_t errlen;
    int rc;
} kvctx;

static void kv_u32(kvctx *c, const char *k, uint32_t v)
{
    char key[128];
    if (c->rc) return;
    snprintf(key, sizeof key, "%s.%s", c->arch, k);
    c->rc = gguf_writer_add_u32(c->w, key, v, c->err, c->errlen);
}
static void kv_f32(kvctx *c, const char *k, float v)
{
    char key[128];
    if (c->rc) return;
    snprintf(key, sizeof key, "%s.%s", c->arch, k);
    c->rc = gguf_writer_add_f32(c->w, key, v, c->err, c->errlen);
}
static void kv_bool(kvctx *c, const char *k, bool v)
{
    char key[128];
    if (c->rc) return;
    snprintf(key, sizeof key, "%s.%s", c->arch, k);
    c->rc = gguf_writer_add_bool(c->w, key, v, c->err, c->errlen);
}
static void kv_str(kvctx *c, const char *k, const char *v)
{
    char key[128];
    if (c->rc) return;
    snprintf(key, sizeof key, "%s.%s", c->arch, k);
    c->rc = gguf_writer_add_str(c->w, key, v, c->err, c->errlen);
}

static int write_kvs(gguf_writer *w, const mk_hparams *h, mk_ftype ft, char *err, size_t errlen)
{
    char name[128];
    snprintf(name, sizeof name, "swarm-random-%s-%s%s", rt_arch_name(h->arch), h->preset,
             h->v3_routing ? "-v3" : "");
    if (gguf_writer_add_str(w, "general.architecture", rt_arch_name(h->arch), err, errlen) ||
        gguf_writer_add_str(w, "general.name", name, err, errlen) ||
        gguf_writer_add_u32(w, "general.file_type", ftypes[ft].file_type, err, errlen) ||
        gguf_writer_set_alignment(w, 32, err, errlen))
        return -1;
    if (ft != Y_F32 && ft != Y_F16 && ft != Y_BF16 &&
        gguf_writer_add_u32(w, "general.quantization_version", 2, err, errlen))
        return -1;
    kvctx c = {w, rt_arch_name(h->arch), err, errlen, 0};
    kv_u32(&c, "block_count", (uint32_t)h->n_layer);
    kv_u32(&c, "context_length", (uint32_t)h->n_ctx);
    kv_u32(&c, "embedding_length", (uint32_t)h->n_embd);
    kv_u32(&c, "feed_forward_length", (uint32_t)h->n_ff);
    kv_u32(&c, "attention.head_count", (uint32_t)h->n_head);
    kv_u32(&c, "attention.head_count_kv", (uint32_t)h->n_head_kv);
    kv_f32(&c, "rope.freq_base", h->rope_base);
    kv_f32(&c, "attention.layer_norm_rms_epsilon", h->rms_eps);
    kv_u32(&c, "expert_count", (uint32_t)h->n_expert);
    kv_u32(&c, "expert_used_count", (uint32_t)h->n_expert_used);
    kv_u32(&c, "vocab_size", (uint32_t)h->n_vocab);
    switch (h->arch) {
    case RT_ARCH_QWEN3MOE:
    case RT_ARCH_GPTOSS:
        kv_u32(&c, "attention.key_length", (uint32_t)h->head_dim);
        kv_u32(&c, "attention.value_length", (uint32_t)h->head_dim);
        kv_u32(&c, "expert_feed_forward_length", (uint32_t)h->n_ff_exp);
        break;
    case RT_ARCH_QWEN2MOE:
        kv_u32(&c, "expert_feed_forward_length", (uint32_t)h->n_ff_exp);
        kv_u32(&c, "expert_shared_feed_forward_length", (uint32_t)h->n_ff_shexp);
        break;
    case RT_ARCH_LLAMA:
        kv_u32(&c, "rope.dimension_count", (uint32_t)h->head_dim);
        break;
    case RT_ARCH_DEEPSEEK2:
        kv_u32(&c, "leading_dense_block_count", (uint32_t)h->n_dense_lead);
        if (h->q_lora > 0) kv_u32(&c, "attention.q_lora_rank", (uint32_t)h->q_lora);
        kv_u32(&c, "attention.kv_lora_rank", (uint32_t)h->kv_lora);
        /* the absorbed-MLA view llama.cpp uses with split attn_k_b / attn_v_b */
        kv_u32(&c, "attention.key_length", (uint32_t)(h->kv_lora + h->qk_rope));
        kv_u32(&c, "attention.value_length", (uint32_t)h->kv_lora);
        kv_u32(&c, "attention.key_length_mla", (uint32_t)(h->qk_nope + h->qk_rope));
        kv_u32(&c, "attention.value_length_mla", (uint32_t)h->v_head);
        kv_u32(&c, "expert_feed_forward_length", (uint32_t)h->n_ff_exp);
        kv_u32(&c, "expert_shared_count", (uint32_t)h->n_expert_shared);
        kv_u32(&c, "rope.dimension_count", (uint32_t)h->qk_rope);
        kv_f32(&c, "expert_weights_scale", h->expert_weights_scale);
        kv_u32(&c, "expert_gating_func", (uint32_t)h->gating);
        if (h->v3_routing) {
            kv_bool(&c, "expert_weights_norm", true);
            kv_u32(&c, "expert_group_count", (uint32_t)h->n_group);
            kv_u32(&c, "expert_group_used_count", (uint32_t)h->n_group_used);
        }
        break;
    default:
        break;
    }
    if (h->arch == RT_ARCH_GPTOSS)
        kv_u32(&c, "attention.sliding_window", (uint32_t)h->sliding_window);
    if (h->yarn_factor > 0) {
        kv_str(&c, "rope.scaling.type", "yarn");
        kv_f32(&c, "rope.scaling.factor", h->yarn_factor);
        kv_u32(&c, "rope.scaling.original_context_length", (uint32_t)h->yarn_orig_ctx);
        if (h->yarn_log_mul > 0) kv_f32(&c, "rope.scaling.yarn_log_multiplier", h->yarn_log_mul);
    }
    if (c.rc) return -1;
    return mk_vocab_add(w, vocab_family(h), h->n_vocab, err, errlen);
}

/* ---- random weights ---- */

typedef struct {
    uint64_t s[4];
} xoshiro;

/* One independent stream per (seed, tensor name, chunk): chunks can be
 * generated in any order, on any number of threads, with the same bytes. */
static void rng_seed(xoshiro *r, uint64_t seed, const char *name, uint64_t chunk)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    uint64_t x = seed ^ h;
    x ^= swarm_splitmix64(&x) + chunk * 0xD1B54A32D192ED03ull;
    for (int i = 0; i < 4; i++)
        r->s[i] = swarm_splitmix64(&x);
}

static inline uint64_t rng_next(xoshiro *r)
{
    return swarm_xoshiro_next(r->s);
}

/* Irwin-Hall sum of four uniforms, rescaled to mean 0, std 1: normal-ish,
 * bounded (|x| < 3.47), and cheap enough for billions of weights. */
static inline float rng_normalish(xoshiro *r)
{
    uint64_t a = rng_next(r), b = rng_next(r);
    const float k = 1.0f / 4294967296.0f;
    float u = (float)(uint32_t)a * k + (float)(uint32_t)(a >> 32) * k + (float)(uint32_t)b * k +
              (float)(uint32_t)(b >> 32) * k;
    return (u - 2.0f) * 1.7320508f;
}

static float kind_std(const mk_hparams *h, const mk_tensor *t)
{
    float fan = (float)t->ne[0];
    switch (t->kind) {
    case K_WEIGHT:
        return 1.0f / sqrtf(fan);
    case K_EMBD:
        return 1.0f;
    case K_OUTPUT:
        return 4.0f / sqrtf(fan);
    case K_ROUTER:
        return (h->gating == 2 ? 2.0f : 4.0f) / sqrtf(fan);
    case K_BIAS:
        return 0.02f;
    case K_SINK:
        return 1.0f;
    case K_PROBS_B:
        return 0.05f;
    case K_NORM:
        return 0.0f;
    }
    return 0.0f;
}

typedef struct {
    uint64_t total, done, next_report;
    bool show;
    time_t start;
} progress;

static void progress_step(progress *p, uint64_t n)
{
    p->done += n;
    if (!p->show || p->done < p->next_report) return;
    p->next_report += p->total / 20;
    fprintf(stderr, "mkmodel: %3d%% (%.2f of %.2f GB, %lds)\n",
            (int)(100.0 * (double)p->done / (double)p->total), (double)p->done / 1e9,
            (double)p->total / 1e9, (long)(time(NULL) - p->start));
}

/* Elements generated per chunk: small enough that a chunk buffer per thread
 * stays a few MB, large enough to amortize the per-chunk bookkeeping. */
#define CHUNK_ELEMS (1 << 18)

/* One chunk: rows [first_row, first_row + k) of a tensor, generated into
 * fbuf and, unless F32, quantized into qbuf. */
typedef struct {
    const mk_hparams *h;
    const mk_tensor *t;
    uint64_t seed, chunk, first_row, k;
    float *fbuf;
    uint8_t *qbuf;
    const void *out; /* fbuf or qbuf */
    size_t nbytes;
} gen_slot;

static void gen_chunk(gen_slot *g)
{
    const mk_tensor *t = g->t;
    const size_t n = (size_t)(g->k * (uint64_t)t->ne[0]);
    if (t->kind == K_NORM) {
        for (size_t i = 0; i < n; i++)
            g->fbuf[i] = 1.0f;
    } else {
        const float std = kind_std(g->h, t);
        xoshiro rng;
        rng_seed(&rng, g->seed, t->name, g->chunk);
        for (size_t i = 0; i < n; i++)
            g->fbuf[i] = std * rng_normalish(&rng);
    }
    if (t->kind == K_OUTPUT) { /* muted tokens: logit 0, never the top pick */
        const mk_vocab_family fam = vocab_family(g->h);
        for (uint64_t r = 0; r < g->k; r++)
            if (mk_vocab_is_muted(fam, g->h->n_vocab, (int32_t)(g->first_row + r)))
                memset(g->fbuf + r * (uint64_t)t->ne[0], 0, (size_t)t->ne[0] * sizeof(float));
    }
    g->out = g->fbuf;
    if (t->type != RT_TYPE_F32) {
        rt_type_get(t->type)->quantize(g->fbuf, g->qbuf, (int64_t)n);
        g->out = g->qbuf;
    }
    g->nbytes = (size_t)g->k * rt_type_row_size(t->type, t->ne[0]);
}

/* Thread k of n runs slots k, k+n, k+2n, ... of a batch. */
typedef struct {
    gen_slot *slots;
    int n_slots, k, n;
} gen_worker;

static void *gen_worker_main(void *arg)
{
    gen_worker *wk = arg;
    for (int s = wk->k; s < wk->n_slots; s += wk->n)
        gen_chunk(&wk->slots[s]);
    return NULL;
}

typedef struct {
    int n_threads;
    gen_slot *slots; /* n_threads slots, each with its own buffers */
} gen_pool;

static int write_tensor(gguf_writer *w, const mk_hparams *h, const mk_tensor *t, uint64_t seed,
                        gen_pool *pool, progress *prog, char *err, size_t errlen)
{
    const int64_t ne0 = t->ne[0];
    const uint64_t rows = (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
    const uint64_t rows_per_chunk = ne0 >= CHUNK_ELEMS ? 1 : (uint64_t)(CHUNK_ELEMS / ne0);
    const uint64_t n_chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
    for (uint64_t c0 = 0; c0 < n_chunks; c0 += (uint64_t)pool->n_threads) {
        int n_slots = 0;
        for (uint64_t c = c0; c < n_chunks && n_slots < pool->n_threads; c++, n_slots++) {
            gen_slot *g = &pool->slots[n_slots];
            g->h = h;
            g->t = t;
            g->seed = seed;
            g->chunk = c;
            g->first_row = c * rows_per_chunk;
            g->k = rows - g->first_row < rows_per_chunk ? rows - g->first_row : rows_per_chunk;
        }
        /* the calling thread works too; extra threads only when there is work */
        int n_workers = n_slots;
        pthread_t tids[MK_MAX_THREADS];
        gen_worker wks[MK_MAX_THREADS];
        bool started[MK_MAX_THREADS] = {false};
        for (int k = 0; k < n_workers; k++)
            wks[k] = (gen_worker){pool->slots, n_slots, k, n_workers};
        for (int k = 1; k < n_workers; k++)
            started[k] = pthread_create(&tids[k], NULL, gen_worker_main, &wks[k]) == 0;
        gen_worker_main(&wks[0]);
        for (int k = 1; k < n_workers; k++) {
            if (started[k])
                pthread_join(tids[k], NULL);
            else
                gen_worker_main(&wks[k]); /* could not start a thread: do its share here */
        }
        /* written in order, so the file does not depend on the thread count */
        for (int s = 0; s < n_slots; s++) {
            /* F32 data is written in host order; GGUF is little-endian, as are
             * all the hosts swarm targets. */
            if (gguf_writer_write(w, pool->slots[s].out, pool->slots[s].nbytes, err, errlen))
                return -1;
            progress_step(prog, pool->slots[s].nbytes);
        }
    }
    return 0;
}

/* ---- command line ---- */

static void usage(FILE *f)
{
    char archs[256];
    fprintf(f,
            "usage: swarm-infer mkmodel --arch ARCH --preset PRESET --type TYPE --out FILE.gguf\n"
            "                           [--seed N] [--vocab N] [--routing v2|v3] [--threads N]\n"
            "                           [--dry-run] [--tag-arch qwen3moe]\n"
            "  ARCH    %s\n"
            "  PRESET  tiny | olmoe-1b-7b qwen3-30b-a3b deepseek-v2-lite gpt-oss-20b (real "
            "shapes;\n"
            "          --arch may be left out, it follows from the preset)\n"
            "  TYPE    F32 F16 BF16 Q8_0 Q4_0 Q4_K_M Q6_K MXFP4\n"
            "  --routing v3  deepseek2 only: V3-style sigmoid gating with exp_probs_b and\n"
            "                expert groups (tiny preset), with the deepseek-v3 tokenizer\n"
            "  --dry-run     build the header only; print tensors, parameters and file size\n"
            "                as one JSON line, write nothing\n"
            "  --tag-arch qwen3moe  write an olmoe preset's shapes as a qwen3moe model (per-head\n"
            "                q/k norms; same bytes and work per token): for engines without\n"
            "                olmoe, such as ik_llama.cpp in the benchmarks\n"
            "  --threads N   generate and quantize on N threads (default: all cores); the\n"
            "                file is the same for any N\n"
            "Writes random weights (deterministic for a given --seed, default 1).\n",
            rt_arch_names_join(" ", archs, sizeof archs));
}

static bool parse_int(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

int rt_mkmodel_main(int argc, char **argv)
{
    const char *arch_s = NULL, *preset = "tiny", *type_s = "Q8_0", *out = NULL, *routing = "v2";
    const char *tag_arch = NULL;
    long long seed = 1, vocab = 0, n_threads = sysconf(_SC_NPROCESSORS_ONLN);
    bool dry_run = false;
    char err[512] = "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--dry-run") == 0) {
            dry_run = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "mkmodel: %s needs a value (or is unknown)\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--arch") == 0) {
            arch_s = v;
        } else if (strcmp(a, "--preset") == 0) {
            preset = v;
        } else if (strcmp(a, "--type") == 0) {
            type_s = v;
        } else if (strcmp(a, "--out") == 0 || strcmp(a, "-o") == 0) {
            out = v;
        } else if (strcmp(a, "--routing") == 0) {
            routing = v;
        } else if (strcmp(a, "--tag-arch") == 0) {
            tag_arch = v;
        } else if (strcmp(a, "--seed") == 0) {
            if (!parse_int(v, 0, INT64_MAX, &seed)) {
                fprintf(stderr, "mkmodel: --seed %s: not a non-negative integer\n", v);
                return 2;
            }
        } else if (strcmp(a, "--threads") == 0 || strcmp(a, "-t") == 0) {
            if (!parse_int(v, 1, MK_MAX_THREADS, &n_threads)) {
                fprintf(stderr, "mkmodel: --threads %s: not an integer in 1..%d\n", v,
                        MK_MAX_THREADS);
                return 2;
            }
        } else if (strcmp(a, "--vocab") == 0) {
            if (!parse_int(v, 1, 1 << 22, &vocab)) {
                fprintf(stderr, "mkmodel: --vocab %s: not an integer in 1..4194304\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "mkmodel: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!out && !dry_run) {
        fprintf(stderr, "mkmodel: --out FILE.gguf is required\n");
        usage(stderr);
        return 2;
    }
    if (n_threads < 1) n_threads = 1;
    if (n_threads > MK_MAX_THREADS) n_threads = MK_MAX_THREADS;
    rt_arch_kind arch = RT_ARCH_QWEN3MOE;
    bool arch_given = arch_s != NULL;
    if (arch_s) {
        if (rt_arch_from_name(arch_s, &arch) != 0) {
            char names[256];
            fprintf(stderr, "mkmodel: unknown --arch %s (%s)\n", arch_s,
                    rt_arch_names_join(", ", names, sizeof names));
            return 2;
        }
    }
    mk_ftype ft = Y_F32;
    {
        size_t k = 0, n = sizeof ftypes / sizeof ftypes[0];
        while (k < n && strcasecmp(ftypes[k].name, type_s) != 0)
            k++;
        if (k == n) {
            fprintf(stderr,
                    "mkmodel: unknown --type %s (F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, Q6_K, "
                    "MXFP4)\n",
                    type_s);
            return 2;
        }
        ft = (mk_ftype)k;
    }
    mk_hparams h;
    if (strcmp(preset, "tiny") == 0) {
        if (!arch_given) {
            fprintf(stderr, "mkmodel: --arch is required with --preset tiny\n");
            return 2;
        }
        preset_tiny(&h, arch);
    } else if (preset_real(&h, preset, &arch, arch_given, err, sizeof err)) {
        fprintf(stderr, "mkmodel: %s\n", err);
        return 2;
    }
    if (strcmp(routing, "v3") == 0) {
        if (h.arch != RT_ARCH_DEEPSEEK2) {
            fprintf(stderr, "mkmodel: --routing v3 applies to --arch deepseek2 only\n");
            return 2;
        }
        /* DeepSeek-V3 style: sigmoid scores + exp_probs_b bias for selection,
         * experts in groups (top groups first), normalized weights, scale 2.5 */
        h.v3_routing = true;
        h.gating = 2;
        h.expert_weights_scale = 2.5f;
        h.n_group = h.n_expert >= 8 ? 4 : 1;
        h.n_group_used = h.n_group > 1 ? 2 : 1;
    } else if (strcmp(routing, "v2") != 0) {
        fprintf(stderr, "mkmodel: unknown --routing %s (v2 or v3)\n", routing);
        return 2;
    }
    if (tag_arch) {
        if (strcmp(tag_arch, "qwen3moe") != 0 || h.arch != RT_ARCH_OLMOE) {
            fprintf(stderr, "mkmodel: --tag-arch %s: only qwen3moe, for an olmoe model\n",
                    tag_arch);
            return 2;
        }
        /* the olmoe shapes under qwen3moe's names and metadata: its q/k
         * norms are per head instead of over the whole projection */
        h.arch = RT_ARCH_QWEN3MOE;
    }
    if (vocab) h.n_vocab = (int)vocab;
    if (h.n_vocab < mk_vocab_min_size(vocab_family(&h))) {
        fprintf(stderr, "mkmodel: --vocab %d is too small for %s (at least %d)\n", h.n_vocab,
                rt_arch_name(h.arch), mk_vocab_min_size(vocab_family(&h)));
        return 2;
    }

    int rc = 1;
    mk_tensors ts = {0};
    gen_pool pool = {0};
    gguf_writer *w = gguf_writer_new();
    if (!w || build_tensors(&h, &ts)) {
        fprintf(stderr, "mkmodel: out of memory\n");
        goto done;
    }
    if (write_kvs(w, &h, ft, err, sizeof err)) {
        fprintf(stderr, "mkmodel: %s\n", err);
        goto done;
    }
    note_set notes = {.n = 0};
    int64_t max_ne0 = 0;
    for (size_t i = 0; i < ts.n; i++) {
        mk_tensor *t = &ts.t[i];
        t->type = choose_type(&h, t, ft, &notes);
        if (gguf_writer_add_tensor(w, t->name, t->n_dims, t->ne, t->type, err, sizeof err) < 0) {
            fprintf(stderr, "mkmodel: %s\n", err);
            goto done;
        }
        if (t->ne[0] > max_ne0) max_ne0 = t->ne[0];
    }
    size_t cap = max_ne0 > CHUNK_ELEMS ? (size_t)max_ne0 : CHUNK_ELEMS;
    pool.slots = calloc((size_t)n_threads, sizeof *pool.slots);
    if (!pool.slots) {
        fprintf(stderr, "mkmodel: out of memory\n");
        goto done;
    }
    pool.n_threads = (int)n_threads;
    for (int k = 0; k < pool.n_threads; k++) {
        pool.slots[k].fbuf = malloc(cap * sizeof(float));
        pool.slots[k].qbuf = malloc(cap * sizeof(float)); /* no type is wider than f32 */
        if (!pool.slots[k].fbuf || !pool.slots[k].qbuf) {
            fprintf(stderr, "mkmodel: out of memory\n");
            goto done;
        }
    }
    uint64_t fsize = gguf_writer_file_size(w);
    if (dry_run) {
        uint64_t params = 0;
        for (size_t i = 0; i < ts.n; i++)
            params += (uint64_t)(ts.t[i].ne[0] * ts.t[i].ne[1] * ts.t[i].ne[2] * ts.t[i].ne[3]);
        printf("{\"arch\":\"%s\",\"preset\":\"%s\",\"type\":\"%s\",\"tensors\":%zu,"
               "\"params\":%llu,\"bytes\":%llu,\"n_vocab\":%d}\n",
               rt_arch_name(h.arch), h.preset, ftypes[ft].name, ts.n, (unsigned long long)params,
               (unsigned long long)fsize, h.n_vocab);
        rc = 0;
        goto done;
    }
    progress prog = {.total = fsize, .show = fsize > (256u << 20), .start = time(NULL)};
    prog.next_report = fsize / 20;
    if (prog.show)
        fprintf(stderr, "mkmodel: writing %s (%s %s %s, %zu tensors, %.2f GB)\n", out,
                rt_arch_name(h.arch), h.preset, ftypes[ft].name, ts.n, (double)fsize / 1e9);
    if (gguf_writer_begin(w, out, err, sizeof err)) {
        fprintf(stderr, "mkmodel: %s\n", err);
        goto done;
    }
    for (size_t i = 0; i < ts.n; i++)
        if (write_tensor(w, &h, &ts.t[i], (uint64_t)seed, &pool, &prog, err, sizeof err)) {
            fprintf(stderr, "mkmodel: %s\n", err);
            goto done;
        }
    if (gguf_writer_finish(w, err, sizeof err)) {
        fprintf(stderr, "mkmodel: %s\n", err);
        goto done;
    }
    if (prog.show)
        fprintf(stderr, "mkmodel: wrote %s (%.2f GB) in %lds\n", out, (double)fsize / 1e9,
                (long)(time(NULL) - prog.start));
    rc = 0;
done:
    gguf_writer_free(w); /* removes the temporary file on failure */
    free(ts.t);
    for (int k = 0; pool.slots && k < pool.n_threads; k++) {
        free(pool.slots[k].fbuf);
        free(pool.slots[k].qbuf);
    }
    free(pool.slots);
    return rc;
}
