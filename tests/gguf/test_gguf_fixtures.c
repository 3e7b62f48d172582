/* test_gguf_fixtures.c - loads every GGUF under the fixtures directory
 * (tiny models and llama.cpp's vocab-only files) and checks what the rest of
 * the runtime relies on: metadata present and typed as expected, every
 * tensor of a known type with its bytes inside the file and its size equal
 * to the shape's, tensors in model files supported by a kernel, and the
 * vocabulary consistent with the embedding matrix.
 *
 * Usage: test_gguf_fixtures FIXTURES_DIR. Exit 77 (skip) when the directory
 * is missing, unless CI=true, where that is a failure. */
#include "gguf.h"
#include "quant.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int n_files, n_models, failures;

#define FAILF(...)                                                                                 \
    do {                                                                                           \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        failures++;                                                                                \
    } while (0)

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void check_file(const char *path)
{
    char err[512];
    gguf_file *f;
    double t0 = now_ms();
    if (gguf_open(path, &f, err, sizeof err) != 0) {
        FAILF("FAIL %s: %s", path, err);
        return;
    }
    double ms = now_ms() - t0;
    n_files++;
    bool is_model = strstr(path, "/models/") != NULL;
    gguf_str arch;
    if (gguf_get_str(f, "general.architecture", &arch) != 0 || arch.len == 0)
        FAILF("FAIL %s: general.architecture missing or not a string", path);
    if (gguf_version(f) < 2 || gguf_version(f) > 3) FAILF("FAIL %s: version", path);
    uint64_t al = gguf_alignment(f);
    if (al == 0 || (al & (al - 1))) FAILF("FAIL %s: alignment %llu", path, (unsigned long long)al);

    const uint8_t *base = gguf_file_base(f);
    size_t size = gguf_file_size(f);
    for (size_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        int64_t blck;
        size_t ts;
        if (rt_type_block_info(t->type, &blck, &ts) != 0) {
            FAILF("FAIL %s: %s has unknown type %u", path, t->name, t->type);
            continue;
        }
        int64_t rows = 1;
        for (int d = 1; d < GGUF_MAX_DIMS; d++)
            rows *= t->ne[d];
        if (t->nbytes != rt_type_row_size(t->type, t->ne[0]) * (uint64_t)rows)
            FAILF("FAIL %s: %s nbytes %llu does not match its shape", path, t->name,
                  (unsigned long long)t->nbytes);
        const uint8_t *p = t->data;
        if (p < base + gguf_data_offset(f) || p + t->nbytes > base + size ||
            (size_t)(p - base) != gguf_data_offset(f) + t->offset)
            FAILF("FAIL %s: %s data outside the file", path, t->name);
        if ((uintptr_t)p % al != 0) FAILF("FAIL %s: %s data not aligned", path, t->name);
        if (gguf_tensor_find(f, t->name) != t) FAILF("FAIL %s: lookup of %s", path, t->name);
        if (is_model && !rt_type_get(t->type))
            FAILF("FAIL %s: %s type %s has no kernels", path, t->name, rt_type_name(t->type));
    }
    for (size_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        if (gguf_find(f, kv->key) != kv) FAILF("FAIL %s: lookup of key %s", path, kv->key);
    }

    const gguf_kv *tok = gguf_find(f, "tokenizer.ggml.tokens");
    if (!tok || tok->type != GGUF_T_ARRAY || tok->arr_type != GGUF_T_STRING || tok->n == 0 ||
        !tok->strs) {
        FAILF("FAIL %s: tokenizer.ggml.tokens missing or not a string array", path);
    } else {
        for (uint64_t k = 0; k < tok->n; k++) {
            const char *s = tok->strs[k].ptr;
            if ((const uint8_t *)s < base || (const uint8_t *)s + tok->strs[k].len > base + size) {
                FAILF("FAIL %s: token %llu outside the file", path, (unsigned long long)k);
                break;
            }
        }
    }
    if (is_model) {
        n_models++;
        const gguf_tensor *emb = gguf_tensor_find(f, "token_embd.weight");
        if (gguf_n_tensors(f) == 0 || !emb) {
            FAILF("FAIL %s: model without token_embd.weight", path);
        } else if (tok && (uint64_t)emb->ne[1] != tok->n) {
            FAILF("FAIL %s: token_embd rows %lld != %llu tokens", path, (long long)emb->ne[1],
                  (unsigned long long)tok->n);
        }
        char key[128];
        uint32_t n_layer;
        snprintf(key, sizeof key, "%.*s.block_count", (int)arch.len, arch.ptr);
        if (gguf_get_u32(f, key, &n_layer) != 0 || n_layer == 0)
            FAILF("FAIL %s: %s missing", path, key);
    }
    printf("ok %-60s v%u %3zu kv %4zu tensors %7llu tokens %6.2f ms\n", path, gguf_version(f),
           gguf_n_kv(f), gguf_n_tensors(f), tok ? (unsigned long long)tok->n : 0ull, ms);
    gguf_close(f);
}

static int visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    size_t n = strlen(path);
    if (flag == FTW_F && n > 5 && strcmp(path + n - 5, ".gguf") == 0) check_file(path);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : getenv("SWARM_FIXTURES");
    const char *ci = getenv("CI");
    struct stat st;
    if (!dir || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "fixtures directory %s not found\n", dir ? dir : "(unset)");
        return ci && strcmp(ci, "true") == 0 ? 1 : 77;
    }
    nftw(dir, visit, 16, FTW_PHYS);
    printf("%d GGUF files (%d models), %d failures\n", n_files, n_models, failures);
    if (n_files == 0 || n_models == 0) {
        fprintf(stderr, "FAIL: no GGUF models found under %s\n", dir);
        return 1;
    }
    return failures ? 1 : 0;
}
