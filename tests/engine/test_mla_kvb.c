/* test_mla_kvb.c - DeepSeek GGUFs converted before the split attn_k_b /
 * attn_v_b tensors carry one combined attn_kv_b per layer. This test rewrites
 * the deepseek2 F32 fixture into that older layout (kv_b rows per head: the
 * nope key rows, i.e. attn_k_b transposed, then the value rows of attn_v_b),
 * and checks the engine's logits on it against the llama.cpp golden. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf.h"
#include "gguf_write.h"
#include "quant.h"
#include "rt.h"

static int copy_kv(gguf_writer *w, const gguf_kv *kv, char *err, size_t errlen)
{
    if (strcmp(kv->key, "general.alignment") == 0) return 0;
    if (kv->type == GGUF_T_STRING) {
        char *s = strndup(kv->strs[0].ptr, kv->strs[0].len);
        int rc = s ? gguf_writer_add_str(w, kv->key, s, err, errlen) : -1;
        free(s);
        return rc;
    }
    if (kv->type == GGUF_T_ARRAY && kv->arr_type == GGUF_T_STRING) {
        const char **ss = malloc(sizeof(char *) * (kv->n + 1));
        size_t *ls = malloc(sizeof(size_t) * (kv->n + 1));
        for (uint64_t i = 0; i < kv->n; i++) {
            ss[i] = kv->strs[i].ptr;
            ls[i] = kv->strs[i].len;
        }
        int rc = gguf_writer_add_arr_str(w, kv->key, ss, ls, kv->n, err, errlen);
        free(ss);
        free(ls);
        return rc;
    }
    if (kv->type == GGUF_T_ARRAY)
        return gguf_writer_add_arr(w, kv->key, kv->arr_type, kv->data, kv->n, err, errlen);
    union {
        uint8_t u8;
        uint16_t u16;
        uint32_t u32;
        uint64_t u64;
        float f;
        double d;
    } v;
    switch (kv->type) {
    case GGUF_T_UINT8:
    case GGUF_T_INT8:
    case GGUF_T_BOOL:
        memcpy(&v.u8, kv->data, 1);
        return kv->type == GGUF_T_BOOL ? gguf_writer_add_bool(w, kv->key, v.u8 != 0, err, errlen)
               : kv->type == GGUF_T_UINT8
                   ? gguf_writer_add_u8(w, kv->key, v.u8, err, errlen)
                   : gguf_writer_add_i8(w, kv->key, (int8_t)v.u8, err, errlen);
    case GGUF_T_UINT16:
    case GGUF_T_INT16:
        memcpy(&v.u16, kv->data, 2);
        return kv->type == GGUF_T_UINT16
                   ? gguf_writer_add_u16(w, kv->key, v.u16, err, errlen)
                   : gguf_writer_add_i16(w, kv->key, (int16_t)v.u16, err, errlen);
    case GGUF_T_UINT32:
    case GGUF_T_INT32:
        memcpy(&v.u32, kv->data, 4);
        return kv->type == GGUF_T_UINT32
                   ? gguf_writer_add_u32(w, kv->key, v.u32, err, errlen)
                   : gguf_writer_add_i32(w, kv->key, (int32_t)v.u32, err, errlen);
    case GGUF_T_FLOAT32:
        memcpy(&v.f, kv->data, 4);
        return gguf_writer_add_f32(w, kv->key, v.f, err, errlen);
    case GGUF_T_UINT64:
    case GGUF_T_INT64:
        memcpy(&v.u64, kv->data, 8);
        return kv->type == GGUF_T_UINT64
                   ? gguf_writer_add_u64(w, kv->key, v.u64, err, errlen)
                   : gguf_writer_add_i64(w, kv->key, (int64_t)v.u64, err, errlen);
    case GGUF_T_FLOAT64:
        memcpy(&v.d, kv->data, 8);
        return gguf_writer_add_f64(w, kv->key, v.d, err, errlen);
    default:
        snprintf(err, errlen, "unexpected kv type %d for %s", (int)kv->type, kv->key);
        return -1;
    }
}

static bool is_split(const char *name)
{
    return strstr(name, ".attn_k_b.") != NULL || strstr(name, ".attn_v_b.") != NULL;
}

int main(int argc, char **argv)
{
    const char *fix = argc > 1 ? argv[1] : getenv("SWARM_FIXTURES");
    char src[1024], golden[1024], out[1024];
    snprintf(src, sizeof src, "%s/models/deepseek2/deepseek2-f32.gguf", fix ? fix : "");
    snprintf(golden, sizeof golden, "%s/models/deepseek2/deepseek2-f32-p1.f32", fix ? fix : "");
    if (!fix || access(src, R_OK) != 0 || access(golden, R_OK) != 0) {
        fprintf(stderr, "fixtures not found at %s\n", src);
        const char *ci = getenv("CI");
        return ci && strcmp(ci, "true") == 0 ? 1 : 77;
    }
    snprintf(out, sizeof out, "%s/engine-kvb-%d.gguf", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    char err[512];
    gguf_file *g = NULL;
    if (gguf_open(src, &g, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    gguf_writer *w = gguf_writer_new();
    int rc = 0;
    for (size_t i = 0; i < gguf_n_kv(g) && rc == 0; i++)
        rc = copy_kv(w, gguf_kv_at(g, i), err, sizeof err);
    /* tensors: everything but the split pair, plus attn_kv_b per layer */
    int32_t n_layer = 0;
    for (size_t i = 0; i < gguf_n_tensors(g) && rc == 0; i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        if (is_split(t->name)) {
            if (strstr(t->name, ".attn_k_b.")) {
                /* k_b: [nope, kv_lora, H]; kv_b: [kv_lora, H * (nope + v)] */
                char name[128];
                int il = atoi(t->name + 4);
                snprintf(name, sizeof name, "blk.%d.attn_kv_b.weight", il);
                char vname[128];
                snprintf(vname, sizeof vname, "blk.%d.attn_v_b.weight", il);
                const gguf_tensor *vt = gguf_tensor_find(g, vname);
                int64_t ne[2] = {t->ne[1], t->ne[2] * (t->ne[0] + (vt ? vt->ne[1] : 0))};
                rc =
                    vt && t->type == RT_TYPE_F32 && vt->type == RT_TYPE_F32
                        ? (gguf_writer_add_tensor(w, name, 2, ne, RT_TYPE_F32, err, sizeof err) < 0)
                        : -1;
                n_layer++;
            }
            continue;
        }
        rc = gguf_writer_add_tensor(w, t->name, t->n_dims, t->ne, t->type, err, sizeof err) < 0;
    }
    if (rc == 0) rc = gguf_writer_begin(w, out, err, sizeof err);
    for (size_t i = 0; i < gguf_n_tensors(g) && rc == 0; i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        if (!is_split(t->name)) {
            rc = gguf_writer_write(w, t->data, t->nbytes, err, sizeof err);
            continue;
        }
        if (!strstr(t->name, ".attn_k_b.")) continue;
        char vname[128];
        snprintf(vname, sizeof vname, "blk.%d.attn_v_b.weight", atoi(t->name + 4));
        const gguf_tensor *vt = gguf_tensor_find(g, vname);
        const int64_t NP = t->ne[0], R = t->ne[1], H = t->ne[2], V = vt->ne[1];
        const float *kb = t->data, *vb = vt->data;
        float *row = malloc(sizeof(float) * (size_t)R);
        for (int64_t h = 0; h < H && rc == 0; h++) {
            for (int64_t d = 0; d < NP && rc == 0; d++) {
                for (int64_t c = 0; c < R; c++)
                    row[c] = kb[(h * R + c) * NP + d];
                rc = gguf_writer_write(w, row, sizeof(float) * (size_t)R, err, sizeof err);
            }
            for (int64_t j = 0; j < V && rc == 0; j++)
                rc = gguf_writer_write(w, vb + (h * V + j) * R, sizeof(float) * (size_t)R, err,
                                       sizeof err);
        }
        free(row);
    }
    if (rc == 0) rc = gguf_writer_finish(w, err, sizeof err);
    gguf_writer_free(w);
    gguf_close(g);
    if (rc != 0 || n_layer == 0) {
        fprintf(stderr, "FAIL writing %s: %s\n", out, err);
        unlink(out);
        return 1;
    }
    /* golden prompt 1 of the fixture set (its ids come from the tokenizer; the
     * logits file size checks that they have the golden length) */
    size_t flen = 0;
    FILE *f = fopen(golden, "rb");
    fseek(f, 0, SEEK_END);
    flen = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    float *ref = malloc(flen);
    size_t got_n = fread(ref, 1, flen, f);
    fclose(f);
    rt_model *m = NULL;
    rt_load_params lp = {.n_threads = 2};
    int fails = 0;
    if (got_n != flen || rt_model_load(out, &lp, &m, err, sizeof err) != 0) {
        fprintf(stderr, "FAIL loading the attn_kv_b model: %s\n", err);
        fails++;
    } else {
        const size_t nv = (size_t)rt_model_n_vocab(m);
        const char *text =
            "Permission is hereby granted, free of charge, to any person obtaining a "
            "copy of this software";
        int32_t *ids = NULL;
        size_t n = 0;
        rt_session *s = NULL;
        float *lg = NULL;
        if (rt_tokenize(m, text, strlen(text), true, false, &ids, &n, err, sizeof err) != 0 ||
            n * nv * sizeof(float) != flen ||
            rt_session_new(m, (int32_t)n, &s, err, sizeof err) != 0 || !(lg = malloc(flen)) ||
            rt_session_eval(s, ids, n, lg, NULL, err, sizeof err) != 0) {
            fprintf(stderr, "FAIL evaluating (%zu tokens): %s\n", n, err);
            fails++;
        } else {
            float md = 0.0f;
            for (size_t i = 0; i < n * nv; i++)
                md = fmaxf(md, fabsf(lg[i] - ref[i]));
            printf("attn_kv_b layout: max-abs %g vs golden over %zu tokens\n", md, n);
            if (md > 1e-3f) {
                fprintf(stderr, "FAIL: attn_kv_b logits differ from golden by %g\n", md);
                fails++;
            }
        }
        free(lg);
        free(ids);
        rt_session_free(s);
        rt_model_free(m);
    }
    free(ref);
    unlink(out);
    return fails ? 1 : 0;
}
