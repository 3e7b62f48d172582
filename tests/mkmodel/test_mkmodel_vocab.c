/* test_mkmodel_vocab.c - the vocabularies mkmodel generates work as tokenizers.
 *
 * For each family (one per architecture, plus the V3 DeepSeek variant and a
 * real-size vocabulary padded with generated merges): the tokenizer loads
 * with rt_vocab_load; texts in English, code, whitespace, digits, UTF-8 and
 * emoji tokenize and detokenize back to the same bytes; common words take
 * fewer tokens than bytes (the merges are real); special tokens are found
 * and parsed when asked; BOS is added exactly when the family says so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf.h"
#include "mkmodel.h"
#include "vocab.h"
#include "../common/check.h"

static const char *const texts[] = {
    "Hello world",
    "The coordinator merges the results of all the agents.",
    "int main(void)\n{\n    return 0;\n}\n",
    "  leading and trailing spaces  ",
    "\t\ttabs\n\nnewlines\r\n",
    "12345 3.14159 1e-6",
    "caf\xc3\xa9 na\xc3\xafve \xce\xb1\xce\xb2\xce\xb3 "
    "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "
    "\xe4\xbd\xa0\xe5\xa5\xbd",
    "emoji \xf0\x9f\x98\x80\xf0\x9f\x9a\x80!",
    "def f(x):\n    return {\"ok\": x * 2}\n",
    "zyxwvutsrq qqqq xkcd",
};

static void check_family(const char *arch, const char *preset, const char *routing,
                         const char *vocab_n, const char *dir, const char *special_text,
                         bool expect_bos)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/%s.gguf", dir, arch);
    snprintf(check_ctx, sizeof check_ctx, "%s%s vocab %s", arch, routing ? " v3" : "",
             vocab_n ? vocab_n : "");
    const char *argv[16] = {"mkmodel", "--arch", arch,    "--preset", preset,
                            "--type",  "Q8_0",   "--out", path};
    int argc = 9;
    if (routing) {
        argv[argc++] = "--routing";
        argv[argc++] = routing;
    }
    if (vocab_n) {
        argv[argc++] = "--vocab";
        argv[argc++] = vocab_n;
    }
    if (rt_mkmodel_main(argc, (char **)argv) != 0) {
        fprintf(stderr, "[%s] mkmodel failed\n", check_ctx);
        check_fail_count++;
        return;
    }
    gguf_file *g = NULL;
    rt_vocab *v = NULL;
    if (gguf_open(path, &g, err, sizeof err) || rt_vocab_load(g, &v, err, sizeof err)) {
        fprintf(stderr, "[%s] load: %s\n", check_ctx, err);
        check_fail_count++;
        if (g) gguf_close(g);
        unlink(path);
        return;
    }
    int32_t n_vocab = rt_vocab_n_tokens(v);
    CHECK(n_vocab == (vocab_n ? atoi(vocab_n) : 1024));
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        const char *t = texts[i];
        int32_t *ids = NULL;
        size_t n = 0;
        if (rt_vocab_tokenize(v, t, strlen(t), false, false, &ids, &n, err, sizeof err)) {
            fprintf(stderr, "[%s] tokenize \"%s\": %s\n", check_ctx, t, err);
            check_fail_count++;
            continue;
        }
        char out[1024];
        size_t len = 0;
        for (size_t k = 0; k < n; k++) {
            CHECK(ids[k] >= 0 && ids[k] < n_vocab);
            int pl = rt_vocab_piece(v, ids[k], out + len, sizeof out - len);
            CHECK(pl >= 0 && len + (size_t)pl < sizeof out);
            if (pl > 0) len += (size_t)pl;
        }
        out[len] = 0;
        /* SentencePiece prepends a word marker, which detokenizes as a space */
        const char *got = out;
        if (strcmp(arch, "llama") == 0 && got[0] == ' ') got++;
        if (strcmp(got, t) != 0) {
            fprintf(stderr, "[%s] round trip of \"%s\" gave \"%s\"\n", check_ctx, t, out);
            check_fail_count++;
        }
        /* English compresses: the merges are real (not at the smallest sizes) */
        if (i == 1 && n_vocab >= 1024) CHECK(n * 2 < strlen(t));
        free(ids);
    }
    /* BOS as the family says */
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(rt_vocab_tokenize(v, "hi", 2, true, false, &ids, &n, err, sizeof err) == 0);
    CHECK(n >= 1 && (ids[0] == rt_vocab_bos(v)) == expect_bos);
    free(ids);
    /* the family's special token: a single id when parsed, plain text otherwise */
    int32_t sid = rt_vocab_find(v, special_text);
    CHECK(sid >= 0);
    ids = NULL;
    CHECK(rt_vocab_tokenize(v, special_text, strlen(special_text), false, true, &ids, &n, err,
                            sizeof err) == 0);
    CHECK(n == 1 && ids[0] == sid);
    free(ids);
    ids = NULL;
    CHECK(rt_vocab_tokenize(v, special_text, strlen(special_text), false, false, &ids, &n, err,
                            sizeof err) == 0);
    CHECK(n > 1);
    free(ids);
    CHECK(rt_vocab_eos(v) >= 0 && rt_vocab_is_eog(v, rt_vocab_eos(v)));
    rt_vocab_free(v);
    gguf_close(g);
    unlink(path);
}

int main(void)
{
    char dir[] = "/tmp/swarm-mkvocab-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    check_family("qwen3moe", "tiny", NULL, NULL, dir, "<|im_end|>", false);
    check_family("qwen2moe", "tiny", NULL, NULL, dir, "<|im_start|>", false);
    check_family("llama", "tiny", NULL, NULL, dir, "</s>", true);
    check_family("deepseek2", "tiny", NULL, NULL, dir,
                 "<\xef\xbd\x9c"
                 "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                 true);
    check_family("deepseek2", "tiny", "v3", NULL, dir,
                 "<\xef\xbd\x9c"
                 "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                 true);
    check_family("olmoe", "tiny", NULL, NULL, dir, "<|endoftext|>", false);
    check_family("gpt-oss", "tiny", NULL, NULL, dir, "<|return|>", false);
    /* big vocabularies are padded with generated merges; they must still work */
    check_family("qwen3moe", "tiny", NULL, "20000", dir, "<|im_end|>", false);
    check_family("llama", "tiny", NULL, "8000", dir, "</s>", true);
    /* the smallest vocabularies mkmodel accepts still work */
    check_family("qwen3moe", "tiny", NULL, "325", dir, "<|im_end|>", false);
    check_family("llama", "tiny", NULL, "387", dir, "</s>", true);
    rmdir(dir);
    if (check_done()) return 1;
    printf("mkmodel vocabularies: ok\n");
    return 0;
}
