/* test_mkmodel_fixtures.c - mkmodel's tiny models against llama.cpp's own files.
 *
 * The conformance fixtures (SWARM_FIXTURES/models/<dir>) were written by
 * llama.cpp's gguf-py and quantized by llama-quantize, with the same tiny
 * shapes as mkmodel's tiny preset (2 layers, 256 wide, 8 experts, vocab 512).
 * So `mkmodel --preset tiny --vocab 512 --type T` must produce exactly the
 * same tensor names, ranks, shapes and per-tensor types as the fixture of
 * that type (this checks the Q4_K_M policy against llama-quantize's), and
 * the same architecture metadata keys and values (context_length aside).
 *
 * usage: test_mkmodel_fixtures FIXTURES_DIR
 * Exits 77 (skip) if the fixtures are missing, unless CI=true. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"
#include "mkmodel.h"
#include "quant.h"
#include "../common/check.h"

static bool same_value(const gguf_kv *a, const gguf_kv *b)
{
    if (a->type != b->type) return false;
    if (a->type == GGUF_T_STRING)
        return a->strs[0].len == b->strs[0].len &&
               memcmp(a->strs[0].ptr, b->strs[0].ptr, a->strs[0].len) == 0;
    size_t n = gguf_vtype_size(a->type);
    return n && memcmp(a->data, b->data, n) == 0;
}

static void compare(const char *fixtures, const char *arch, const char *dir, const char *type,
                    const char *ftype, const char *tmp)
{
    char mine[512], theirs[1024], err[512];
    snprintf(check_ctx, sizeof check_ctx, "%s %s vs %s/%s-%s.gguf", arch, type, dir, dir, ftype);
    snprintf(mine, sizeof mine, "%s/%s-%s.gguf", tmp, arch, type);
    snprintf(theirs, sizeof theirs, "%s/models/%s/%s-%s.gguf", fixtures, dir, dir, ftype);
    const char *argv[] = {"mkmodel", "--arch",  arch,  "--preset", "tiny", "--type",
                          type,      "--vocab", "512", "--out",    mine,   NULL};
    CHECK(rt_mkmodel_main(11, (char **)argv) == 0);
    gguf_file *a = NULL, *b = NULL;
    if (gguf_open(mine, &a, err, sizeof err) || gguf_open(theirs, &b, err, sizeof err)) {
        fprintf(stderr, "[%s] %s\n", check_ctx, err);
        check_fail_count++;
        if (a) gguf_close(a);
        unlink(mine);
        return;
    }
    CHECK(gguf_n_tensors(a) == gguf_n_tensors(b));
    for (size_t i = 0; i < gguf_n_tensors(b); i++) {
        const gguf_tensor *tb = gguf_tensor_at(b, i);
        const gguf_tensor *ta = gguf_tensor_find(a, tb->name);
        snprintf(check_ctx, sizeof check_ctx, "%s %s: tensor %s", arch, type, tb->name);
        CHECK(ta != NULL);
        if (!ta) continue;
        CHECK(ta->n_dims == tb->n_dims);
        for (int d = 0; d < GGUF_MAX_DIMS; d++)
            CHECK(ta->ne[d] == tb->ne[d]);
        if (ta->type != tb->type)
            fprintf(stderr, "  %s: mkmodel %s, llama-quantize %s\n", tb->name,
                    rt_type_name(ta->type), rt_type_name(tb->type));
        CHECK(ta->type == tb->type);
    }
    /* every architecture key llama.cpp's file has, with the same value */
    size_t plen = strlen(arch);
    for (size_t i = 0; i < gguf_n_kv(b); i++) {
        const gguf_kv *kb = gguf_kv_at(b, i);
        bool arch_key = strncmp(kb->key, arch, plen) == 0 && kb->key[plen] == '.';
        bool tok_key = strcmp(kb->key, "tokenizer.ggml.model") == 0 ||
                       strcmp(kb->key, "tokenizer.ggml.pre") == 0 ||
                       strcmp(kb->key, "tokenizer.ggml.add_bos_token") == 0 ||
                       strcmp(kb->key, "general.architecture") == 0 ||
                       strcmp(kb->key, "general.file_type") == 0;
        if (!arch_key && !tok_key) continue;
        snprintf(check_ctx, sizeof check_ctx, "%s %s: key %s", arch, type, kb->key);
        const gguf_kv *ka = gguf_find(a, kb->key);
        CHECK(ka != NULL);
        if (!ka || strstr(kb->key, ".context_length")) continue; /* ours is longer on purpose */
        CHECK(same_value(ka, kb));
    }
    gguf_close(a);
    gguf_close(b);
    unlink(mine);
}

int main(int argc, char **argv)
{
    const char *fixtures = argc > 1 ? argv[1] : getenv("SWARM_FIXTURES");
    char probe[1024];
    struct stat st;
    snprintf(probe, sizeof probe, "%s/models/qwen3moe/qwen3moe-f32.gguf", fixtures ? fixtures : "");
    if (!fixtures || stat(probe, &st) != 0) {
        const char *ci = getenv("CI");
        fprintf(stderr, "fixtures not found (%s)\n", probe);
        return ci && strcmp(ci, "true") == 0 ? 1 : 77;
    }
    char tmp[] = "/tmp/swarm-mkfix-XXXXXX";
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    static const char *const pairs[][2] = {
        {"qwen3moe", "qwen3moe"}, {"llama", "mixtral"}, {"deepseek2", "deepseek2"}};
    static const char *const types[][2] = {
        {"F32", "f32"}, {"BF16", "bf16"}, {"Q8_0", "q8_0"}, {"Q4_K_M", "q4_k_m"}};
    for (size_t p = 0; p < 3; p++)
        for (size_t t = 0; t < 4; t++)
            compare(fixtures, pairs[p][0], pairs[p][1], types[t][0], types[t][1], tmp);
    rmdir(tmp);
    if (check_done()) return 1;
    printf("mkmodel tiny models match llama.cpp's fixtures: ok\n");
    return 0;
}
