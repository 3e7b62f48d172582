/* test_mkmodel.c - `swarm-infer mkmodel` output, checked through the reader.
 *
 * For every architecture x type at the tiny preset: the file opens with
 * gguf_open; it has exactly the tensors llama.cpp expects for that
 * architecture, with the shapes (ggml order) written out independently
 * below; each tensor has the type the documented policy gives it; the
 * metadata names the architecture and its hyperparameters; the weights
 * dequantize to finite values with the intended scale (norms 1, weights
 * std ~ 1/sqrt(fan_in)). Also: same seed -> byte-identical file, another
 * seed -> different weights, any --threads -> same bytes; bad options fail
 * without leaving a file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch_list.h"
#include "gguf.h"
#include "gguf_write.h"
#include "mkmodel.h"
#include "quant.h"
#include "rt.h"
#include "../common/check.h"

/* Tiny preset dimensions, restated here on purpose (not read from mkmodel). */
enum { E = 256, V = 1024, X = 8, F = 256, NL = 2 };

typedef struct {
    const char *name;
    int n_dims;
    int64_t ne[3];
} exp_t;

typedef struct {
    exp_t t[160];
    int n;
} explist;

static void ex(explist *l, const char *name, int n_dims, int64_t a, int64_t b, int64_t c)
{
    exp_t *e = &l->t[l->n++];
    e->name = strdup(name);
    e->n_dims = n_dims;
    e->ne[0] = a;
    e->ne[1] = b;
    e->ne[2] = c;
}

static void exl(explist *l, int layer, const char *suffix, int n_dims, int64_t a, int64_t b,
                int64_t c)
{
    char name[128];
    snprintf(name, sizeof name, "blk.%d.%s", layer, suffix);
    ex(l, name, n_dims, a, b, c);
}

static void explist_free(explist *l)
{
    for (int i = 0; i < l->n; i++)
        free((char *)l->t[i].name);
    l->n = 0;
}

/* The tensors llama.cpp loads for each architecture (tiny shapes). */
static void expected_tensors(const char *arch, bool v3, explist *l)
{
    ex(l, "token_embd.weight", 2, E, V, 1);
    ex(l, "output_norm.weight", 1, E, 1, 1);
    ex(l, "output.weight", 2, E, V, 1);
    for (int i = 0; i < NL; i++) {
        exl(l, i, "attn_norm.weight", 1, E, 1, 1);
        if (strcmp(arch, "deepseek2") == 0) {
            /* q_lora 128, kv_lora 128, 4 heads, nope 64, rope 32, v 64 */
            exl(l, i, "attn_q_a.weight", 2, E, 128, 1);
            exl(l, i, "attn_q_a_norm.weight", 1, 128, 1, 1);
            exl(l, i, "attn_q_b.weight", 2, 128, 4 * 96, 1);
            exl(l, i, "attn_kv_a_mqa.weight", 2, E, 128 + 32, 1);
            exl(l, i, "attn_kv_a_norm.weight", 1, 128, 1, 1);
            exl(l, i, "attn_k_b.weight", 3, 64, 128, 4);
            exl(l, i, "attn_v_b.weight", 3, 128, 64, 4);
            exl(l, i, "attn_output.weight", 2, 4 * 64, E, 1);
            exl(l, i, "ffn_norm.weight", 1, E, 1, 1);
            if (i == 0) { /* leading dense layer, ff 512 */
                exl(l, i, "ffn_gate.weight", 2, E, 512, 1);
                exl(l, i, "ffn_up.weight", 2, E, 512, 1);
                exl(l, i, "ffn_down.weight", 2, 512, E, 1);
                continue;
            }
            exl(l, i, "ffn_gate_inp.weight", 2, E, X, 1);
            if (v3) exl(l, i, "exp_probs_b.bias", 1, X, 1, 1);
            exl(l, i, "ffn_gate_exps.weight", 3, E, F, X);
            exl(l, i, "ffn_up_exps.weight", 3, E, F, X);
            exl(l, i, "ffn_down_exps.weight", 3, F, E, X);
            exl(l, i, "ffn_gate_shexp.weight", 2, E, F, 1);
            exl(l, i, "ffn_up_shexp.weight", 2, E, F, 1);
            exl(l, i, "ffn_down_shexp.weight", 2, F, E, 1);
            continue;
        }
        int kv = strcmp(arch, "olmoe") == 0 ? 4 * 64 : 2 * 64;
        exl(l, i, "attn_q.weight", 2, E, 4 * 64, 1);
        exl(l, i, "attn_k.weight", 2, E, kv, 1);
        exl(l, i, "attn_v.weight", 2, E, kv, 1);
        exl(l, i, "attn_output.weight", 2, 4 * 64, E, 1);
        bool bias = strcmp(arch, "qwen2moe") == 0 || strcmp(arch, "gpt-oss") == 0;
        if (bias) {
            exl(l, i, "attn_q.bias", 1, 4 * 64, 1, 1);
            exl(l, i, "attn_k.bias", 1, kv, 1, 1);
            exl(l, i, "attn_v.bias", 1, kv, 1, 1);
        }
        if (strcmp(arch, "qwen3moe") == 0) {
            exl(l, i, "attn_q_norm.weight", 1, 64, 1, 1);
            exl(l, i, "attn_k_norm.weight", 1, 64, 1, 1);
        }
        if (strcmp(arch, "olmoe") == 0) {
            exl(l, i, "attn_q_norm.weight", 1, 4 * 64, 1, 1);
            exl(l, i, "attn_k_norm.weight", 1, kv, 1, 1);
        }
        exl(l, i, "ffn_gate_inp.weight", 2, E, X, 1);
        exl(l, i, "ffn_gate_exps.weight", 3, E, F, X);
        exl(l, i, "ffn_up_exps.weight", 3, E, F, X);
        exl(l, i, "ffn_down_exps.weight", 3, F, E, X);
        if (strcmp(arch, "gpt-oss") == 0) {
            exl(l, i, "attn_output.bias", 1, E, 1, 1);
            exl(l, i, "attn_sinks.weight", 1, 4, 1, 1);
            exl(l, i, "post_attention_norm.weight", 1, E, 1, 1);
            exl(l, i, "ffn_gate_inp.bias", 1, X, 1, 1);
            exl(l, i, "ffn_gate_exps.bias", 2, F, X, 1);
            exl(l, i, "ffn_up_exps.bias", 2, F, X, 1);
            exl(l, i, "ffn_down_exps.bias", 2, E, X, 1);
        } else {
            exl(l, i, "ffn_norm.weight", 1, E, 1, 1);
        }
        if (strcmp(arch, "qwen2moe") == 0) { /* shared expert, ff 512, with its sigmoid gate */
            exl(l, i, "ffn_gate_inp_shexp.weight", 1, E, 1, 1);
            exl(l, i, "ffn_gate_shexp.weight", 2, E, 512, 1);
            exl(l, i, "ffn_up_shexp.weight", 2, E, 512, 1);
            exl(l, i, "ffn_down_shexp.weight", 2, 512, E, 1);
        }
    }
}

static int layer_of(const char *name)
{
    int l = -1;
    if (sscanf(name, "blk.%d.", &l) != 1) return -1;
    return l;
}

/* The documented type policy (see mkmodel.c's header comment). */
static uint32_t expected_type(const char *type, const char *name, int n_dims, int64_t ne0)
{
    size_t n = strlen(name);
    if (n_dims == 1 || (n > 5 && strcmp(name + n - 5, ".bias") == 0) ||
        strstr(name, "ffn_gate_inp"))
        return RT_TYPE_F32;
    bool output = strcmp(name, "output.weight") == 0;
    int layer = layer_of(name);
    uint32_t t;
    if (strcmp(type, "F32") == 0)
        t = RT_TYPE_F32;
    else if (strcmp(type, "F16") == 0)
        t = RT_TYPE_F16;
    else if (strcmp(type, "BF16") == 0)
        t = RT_TYPE_BF16;
    else if (strcmp(type, "Q8_0") == 0)
        t = RT_TYPE_Q8_0;
    else if (strcmp(type, "Q6_K") == 0)
        t = RT_TYPE_Q6_K;
    else if (strcmp(type, "Q4_0") == 0)
        t = output ? RT_TYPE_Q6_K : RT_TYPE_Q4_0;
    else if (strcmp(type, "MXFP4") == 0)
        t = strstr(name, "_exps.") ? RT_TYPE_MXFP4 : RT_TYPE_Q8_0;
    else { /* Q4_K_M with 8 experts and 2 layers: layer 1 is a "more bits" layer */
        if (output)
            t = RT_TYPE_Q6_K;
        else if (strstr(name, ".attn_k.weight") || strstr(name, ".attn_v.weight"))
            t = RT_TYPE_Q8_0;
        else if (strstr(name, ".attn_output.weight"))
            t = RT_TYPE_Q5_K;
        else if (strstr(name, ".ffn_down") && layer == 1)
            t = RT_TYPE_Q6_K;
        else
            t = RT_TYPE_Q4_K;
    }
    /* rows that do not fit a 256-block fall back */
    if ((t == RT_TYPE_Q4_K) && ne0 % 256) t = RT_TYPE_Q5_0;
    if ((t == RT_TYPE_Q5_K || t == RT_TYPE_Q6_K) && ne0 % 256) t = RT_TYPE_Q8_0;
    return t;
}

static double tensor_stats(const gguf_tensor *t, double *mean, double *std, double *maxabs,
                           bool *finite)
{
    const rt_type_traits *tr = rt_type_get(t->type);
    int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    float *buf = malloc((size_t)n * sizeof *buf);
    tr->dequant(t->data, buf, n);
    double s = 0, s2 = 0, m = 0;
    *finite = true;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(buf[i])) *finite = false;
        s += buf[i];
        s2 += (double)buf[i] * buf[i];
        if (fabs(buf[i]) > m) m = fabs(buf[i]);
    }
    free(buf);
    *mean = s / (double)n;
    *std = sqrt(s2 / (double)n - *mean * *mean);
    *maxabs = m;
    return (double)n;
}

static int run_mkmodel(const char *arch, const char *preset, const char *type, const char *out,
                       const char *seed, const char *extra)
{
    const char *argv[16];
    int argc = 0;
    argv[argc++] = "mkmodel";
    if (arch) {
        argv[argc++] = "--arch";
        argv[argc++] = arch;
    }
    argv[argc++] = "--preset";
    argv[argc++] = preset;
    argv[argc++] = "--type";
    argv[argc++] = type;
    argv[argc++] = "--out";
    argv[argc++] = out;
    if (seed) {
        argv[argc++] = "--seed";
        argv[argc++] = seed;
    }
    if (extra) {
        argv[argc++] = "--routing";
        argv[argc++] = extra;
    }
    argv[argc] = NULL;
    return rt_mkmodel_main(argc, (char **)argv);
}

static void check_model(const char *path, const char *arch, bool v3, const char *type)
{
    char err[512];
    gguf_file *f = NULL;
    snprintf(check_ctx, sizeof check_ctx, "%s %s%s", arch, type, v3 ? " v3" : "");
    if (gguf_open(path, &f, err, sizeof err) != 0) {
        fprintf(stderr, "[%s] gguf_open: %s\n", check_ctx, err);
        check_fail_count++;
        return;
    }
    gguf_str s;
    CHECK(gguf_get_str(f, "general.architecture", &s) == 0 && gguf_str_eq(s, arch));
    char key[128];
    uint32_t u;
    snprintf(key, sizeof key, "%s.block_count", arch);
    CHECK(gguf_get_u32(f, key, &u) == 0 && u == NL);
    snprintf(key, sizeof key, "%s.embedding_length", arch);
    CHECK(gguf_get_u32(f, key, &u) == 0 && u == E);
    snprintf(key, sizeof key, "%s.expert_count", arch);
    CHECK(gguf_get_u32(f, key, &u) == 0 && u == X);
    snprintf(key, sizeof key, "%s.expert_used_count", arch);
    CHECK(gguf_get_u32(f, key, &u) == 0 && u == 2);
    snprintf(key, sizeof key, "%s.attention.head_count", arch);
    CHECK(gguf_get_u32(f, key, &u) == 0 && u == 4);
    if (strcmp(arch, "qwen3moe") == 0 || strcmp(arch, "gpt-oss") == 0 ||
        strcmp(arch, "qwen2moe") == 0 || strcmp(arch, "deepseek2") == 0) {
        snprintf(key, sizeof key, "%s.expert_feed_forward_length", arch);
        CHECK(gguf_get_u32(f, key, &u) == 0 && u == F);
    }
    if (strcmp(arch, "deepseek2") == 0) {
        CHECK(gguf_get_u32(f, "deepseek2.attention.kv_lora_rank", &u) == 0 && u == 128);
        CHECK(gguf_get_u32(f, "deepseek2.attention.q_lora_rank", &u) == 0 && u == 128);
        CHECK(gguf_get_u32(f, "deepseek2.leading_dense_block_count", &u) == 0 && u == 1);
        CHECK(gguf_get_u32(f, "deepseek2.expert_shared_count", &u) == 0 && u == 1);
        CHECK(gguf_get_u32(f, "deepseek2.rope.dimension_count", &u) == 0 && u == 32);
        CHECK(gguf_get_u32(f, "deepseek2.attention.key_length_mla", &u) == 0 && u == 96);
        CHECK(gguf_get_u32(f, "deepseek2.attention.value_length_mla", &u) == 0 && u == 64);
        CHECK(gguf_get_u32(f, "deepseek2.expert_gating_func", &u) == 0 && u == (v3 ? 2u : 1u));
        if (v3) {
            bool b;
            CHECK(gguf_get_bool(f, "deepseek2.expert_weights_norm", &b) == 0 && b);
            CHECK(gguf_get_u32(f, "deepseek2.expert_group_count", &u) == 0 && u > 1 && X % u == 0);
            CHECK(gguf_get_u32(f, "deepseek2.expert_group_used_count", &u) == 0 && u >= 1);
        }
    }
    if (strcmp(arch, "gpt-oss") == 0)
        CHECK(gguf_get_u32(f, "gpt-oss.attention.sliding_window", &u) == 0 && u > 0);
    /* tokenizer: exactly V tokens, the family's model, BOS/EOS in range */
    const gguf_kv *toks = gguf_find(f, "tokenizer.ggml.tokens");
    CHECK(toks && toks->type == GGUF_T_ARRAY && toks->arr_type == GGUF_T_STRING && toks->n == V);
    const gguf_kv *tt = gguf_find(f, "tokenizer.ggml.token_type");
    CHECK(tt && tt->n == V);
    bool spm = strcmp(arch, "llama") == 0;
    CHECK(gguf_get_str(f, "tokenizer.ggml.model", &s) == 0 &&
          gguf_str_eq(s, spm ? "llama" : "gpt2"));
    if (spm) {
        const gguf_kv *sc = gguf_find(f, "tokenizer.ggml.scores");
        CHECK(sc && sc->n == V);
        CHECK(toks && toks->strs && gguf_str_eq(toks->strs[3], "<0x00>") &&
              gguf_str_eq(toks->strs[258], "<0xFF>"));
    } else {
        const gguf_kv *mg = gguf_find(f, "tokenizer.ggml.merges");
        CHECK(mg && mg->arr_type == GGUF_T_STRING && mg->n > 100);
        CHECK(gguf_get_str(f, "tokenizer.ggml.pre", &s) == 0 && s.len > 0);
        /* GPT-2 byte mapping: byte 0x20 is U+0120 "Ġ", byte 'a' is "a" */
        CHECK(toks && toks->strs && gguf_str_eq(toks->strs[32], "\xc4\xa0") &&
              gguf_str_eq(toks->strs['a'], "a"));
    }
    uint32_t bos = 0, eos = 0;
    CHECK(gguf_get_u32(f, "tokenizer.ggml.eos_token_id", &eos) == 0 && eos < V);
    CHECK(gguf_get_u32(f, "tokenizer.ggml.bos_token_id", &bos) == 0 && bos < V);
    CHECK(gguf_get_str(f, "tokenizer.chat_template", &s) == 0 && s.len > 20);

    explist want = {.n = 0};
    expected_tensors(arch, v3, &want);
    CHECK(gguf_n_tensors(f) == (size_t)want.n);
    for (int i = 0; i < want.n; i++) {
        const exp_t *e = &want.t[i];
        const gguf_tensor *t = gguf_tensor_find(f, e->name);
        snprintf(check_ctx, sizeof check_ctx, "%s %s%s: %s", arch, type, v3 ? " v3" : "", e->name);
        CHECK(t != NULL);
        if (!t) continue;
        CHECK((int)t->n_dims == e->n_dims);
        for (int d = 0; d < 3; d++)
            CHECK(t->ne[d] == e->ne[d]);
        uint32_t et = expected_type(type, e->name, e->n_dims, e->ne[0]);
        if (t->type != et)
            fprintf(stderr, "  %s: type %s, expected %s\n", e->name, rt_type_name(t->type),
                    rt_type_name(et));
        CHECK(t->type == et);
        double mean, std, maxabs;
        bool finite;
        tensor_stats(t, &mean, &std, &maxabs, &finite);
        CHECK(finite);
        if (strstr(e->name, "norm.weight")) {
            CHECK(mean == 1.0 && maxabs == 1.0);
        } else if (strcmp(e->name, "token_embd.weight") == 0) {
            CHECK(std > 0.9 && std < 1.1 && fabs(mean) < 0.05);
        } else if (!strstr(e->name, ".bias") && !strstr(e->name, "sinks") &&
                   !strstr(e->name, "ffn_gate_inp") && strcmp(e->name, "output.weight") != 0) {
            double target = 1.0 / sqrt((double)e->ne[0]);
            CHECK(std > 0.8 * target && std < 1.2 * target);
            CHECK(maxabs < 6.0 * target); /* bounded: no wild outliers */
        } else {
            CHECK(std > 0.0);
        }
    }
    explist_free(&want);

    /* special tokens other than EOS, and bytes other than printable ASCII,
     * tab and newline, have zero output rows; EOS and all other tokens do not
     * (the model can end a generation, never emits <|im_start|> or \xff) */
    const gguf_tensor *out = gguf_tensor_find(f, "output.weight");
    snprintf(check_ctx, sizeof check_ctx, "%s %s%s: special output rows", arch, type,
             v3 ? " v3" : "");
    if (out && tt && tt->n == V && rt_type_get(out->type)) {
        float *w = malloc((size_t)(E * V) * sizeof *w);
        rt_type_get(out->type)->dequant(out->data, w, (int64_t)E * V);
        int muted = 0;
        for (int64_t id = 0; id < V; id++) {
            int64_t ty = gguf_arr_i64(tt, (uint64_t)id);
            bool zero = true;
            for (int64_t j = 0; j < E; j++)
                if (w[id * E + j] != 0.0f) zero = false;
            bool special = ty == 2 || ty == 3 || ty == 4; /* unknown, control, user-defined */
            /* byte tokens: GPT-2 mapped bytes at ids 0..255, or SPM "<0xNN>" */
            int byte = -1;
            if (!spm && id < 256) byte = (int)id;
            if (spm && ty == 6 && toks && toks->strs && toks->strs[id].len == 6) {
                char hex[3] = {toks->strs[id].ptr[3], toks->strs[id].ptr[4], 0};
                byte = (int)strtol(hex, NULL, 16);
            }
            bool bad_byte =
                byte >= 0 && !(byte == '\t' || byte == '\n' || (byte >= 32 && byte < 127));
            if ((special && id != (int64_t)eos) || bad_byte) {
                CHECK(zero);
                muted++;
            } else {
                CHECK(!zero);
            }
        }
        CHECK(muted >= 1);
        free(w);
    }
    gguf_close(f);
}

static long file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static bool same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = false;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

int main(int argc, char **argv)
{
    /* test_mkmodel [ARCH|misc [MODELS_DIR]]: one architecture per run (ctest
     * runs them in parallel), or "misc". With MODELS_DIR, check the files
     * make_models.sh wrote there with `swarm-infer mkmodel` (shared with the
     * generate test) instead of writing them in-process. */
    if (argc > 1 && strcmp(argv[1], "archs") == 0) {
        /* test_mkmodel archs NAME...: the list CMake read from arch_list.h
         * (the per-architecture tests) is the engine's list, in order */
        CHECK_EQ(argc - 2, RT_ARCH_COUNT);
        for (int k = 0; k < RT_ARCH_COUNT && k + 2 < argc; k++)
            CHECK_STR(argv[k + 2], rt_arch_name((rt_arch_kind)k));
        return check_done();
    }
    const char *only = argc > 1 ? argv[1] : NULL;
    const char *models = argc > 2 ? argv[2] : NULL;
    char dir[] = "/tmp/swarm-mkmodel-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    /* every architecture of the engine's one list (runtime/arch_list.h) */
    const char *archs[RT_ARCH_COUNT];
    for (int k = 0; k < RT_ARCH_COUNT; k++)
        archs[k] = rt_arch_name((rt_arch_kind)k);
    rt_arch_kind only_kind;
    if (only && strcmp(only, "misc") != 0)
        CHECK(rt_arch_from_name(only, &only_kind) == 0, "%s is not in RT_ARCH_LIST", only);
    static const char *const types[] = {"F32",  "F16",    "BF16", "Q8_0",
                                        "Q4_0", "Q4_K_M", "Q6_K", "MXFP4"};
    char path[512], path2[512];
    for (size_t a = 0; a < sizeof archs / sizeof archs[0]; a++)
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
            if (only && strcmp(only, archs[a]) != 0) continue;
            snprintf(check_ctx, sizeof check_ctx, "mkmodel %s %s", archs[a], types[t]);
            if (models) {
                snprintf(path, sizeof path, "%s/%s-%s-v2.gguf", models, archs[a], types[t]);
                check_model(path, archs[a], false, types[t]);
                if (strcmp(archs[a], "deepseek2") == 0 &&
                    (strcmp(types[t], "Q8_0") == 0 || strcmp(types[t], "Q4_K_M") == 0)) {
                    snprintf(path, sizeof path, "%s/%s-%s-v3.gguf", models, archs[a], types[t]);
                    check_model(path, archs[a], true, types[t]);
                }
                continue;
            }
            snprintf(path, sizeof path, "%s/%s-%s.gguf", dir, archs[a], types[t]);
            int rc = run_mkmodel(archs[a], "tiny", types[t], path, NULL, NULL);
            CHECK(rc == 0);
            if (rc == 0) check_model(path, archs[a], false, types[t]);
            unlink(path);
        }
    if (only && strcmp(only, "misc") != 0) goto done;
    /* DeepSeek V3-style routing variant */
    snprintf(path, sizeof path, "%s/ds3.gguf", dir);
    snprintf(check_ctx, sizeof check_ctx, "mkmodel deepseek2 --routing v3");
    CHECK(run_mkmodel("deepseek2", "tiny", "Q8_0", path, NULL, "v3") == 0);
    check_model(path, "deepseek2", true, "Q8_0");
    unlink(path);

    /* determinism: same seed -> same bytes; another seed -> other weights */
    snprintf(check_ctx, sizeof check_ctx, "determinism");
    snprintf(path, sizeof path, "%s/s7a.gguf", dir);
    snprintf(path2, sizeof path2, "%s/s7b.gguf", dir);
    CHECK(run_mkmodel("qwen3moe", "tiny", "Q4_K_M", path, "7", NULL) == 0);
    CHECK(run_mkmodel("qwen3moe", "tiny", "Q4_K_M", path2, "7", NULL) == 0);
    CHECK(file_size(path) > 0 && same_file(path, path2));
    CHECK(run_mkmodel("qwen3moe", "tiny", "Q4_K_M", path2, "8", NULL) == 0);
    CHECK(file_size(path) == file_size(path2) && !same_file(path, path2));
    /* the thread count does not change the bytes */
    {
        const char *a1[] = {"mkmodel", "--arch",    "qwen3moe", "--type", "Q4_K_M", "--seed",
                            "7",       "--threads", "1",        "--out",  path2,    NULL};
        CHECK(rt_mkmodel_main(11, (char **)a1) == 0 && same_file(path, path2));
        const char *a3[] = {"mkmodel", "--arch",    "qwen3moe", "--type", "Q4_K_M", "--seed",
                            "7",       "--threads", "3",        "--out",  path2,    NULL};
        CHECK(rt_mkmodel_main(11, (char **)a3) == 0 && same_file(path, path2));
    }
    unlink(path);
    unlink(path2);

    /* bad options: non-zero, and no file (or temporary) left behind */
    snprintf(check_ctx, sizeof check_ctx, "bad options");
    snprintf(path, sizeof path, "%s/bad.gguf", dir);
    CHECK(run_mkmodel("nosucharch", "tiny", "Q8_0", path, NULL, NULL) != 0);
    CHECK(run_mkmodel("qwen3moe", "tiny", "Q3_XL", path, NULL, NULL) != 0);
    CHECK(run_mkmodel("qwen3moe", "huge", "Q8_0", path, NULL, NULL) != 0);
    CHECK(run_mkmodel("llama", "qwen3-30b-a3b", "Q8_0", path, NULL, NULL) != 0);
    CHECK(run_mkmodel("qwen3moe", "tiny", "Q8_0", path, NULL, "v3") != 0);
    CHECK(file_size(path) < 0);
    CHECK(run_mkmodel("qwen3moe", "tiny", "Q8_0", "/nonexistent-dir/m.gguf", NULL, NULL) != 0);

    /* the loader refuses an architecture outside the list and names every
     * one in it (the message reads the same list as mkmodel) */
    snprintf(check_ctx, sizeof check_ctx, "unsupported architecture");
    snprintf(path, sizeof path, "%s/mamba.gguf", dir);
    {
        char err[512] = "";
        gguf_writer *w = gguf_writer_new();
        REQUIRE(w &&
                    gguf_writer_add_str(w, "general.architecture", "mamba", err, sizeof err) == 0 &&
                    gguf_writer_begin(w, path, err, sizeof err) == 0 &&
                    gguf_writer_finish(w, err, sizeof err) == 0,
                "%s", err);
        rt_model *m = NULL;
        CHECK(rt_model_load(path, NULL, &m, err, sizeof err) != 0 && m == NULL);
        CHECK_CONTAINS(err, "architecture 'mamba' is not supported (supported: ");
        for (int k = 0; k < RT_ARCH_COUNT; k++)
            CHECK_CONTAINS(err, rt_arch_name((rt_arch_kind)k));
    fail:
        gguf_writer_free(w);
        unlink(path);
    }

done:;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rmdir %s", dir);
    CHECK(system(cmd) == 0); /* empty: nothing left behind */
    if (check_done()) return 1;
    printf("mkmodel: all archs x types ok\n");
    return 0;
}
