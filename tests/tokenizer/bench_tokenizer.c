/* bench_tokenizer.c - tokenizer throughput on a large text (not a test; prints MB/s).
 * Usage: bench_tokenizer VOCAB.gguf TEXT_FILE [repeat] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf.h"
#include "vocab.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s VOCAB.gguf TEXT_FILE [repeat]\n", argv[0]);
        return 2;
    }
    int rep = argc > 3 ? atoi(argv[3]) : 1;
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    size_t len = (size_t)n * (size_t)rep;
    char *text = malloc(len + 1);
    if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) return 1;
    fclose(f);
    for (int r = 1; r < rep; r++)
        memcpy(text + (size_t)r * (size_t)n, text, (size_t)n);
    char err[512];
    gguf_file *g;
    rt_vocab *v;
    struct timespec t0, t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (gguf_open(argv[1], &g, err, sizeof(err)) || rt_vocab_load(g, &v, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int32_t *ids;
    size_t nid;
    if (rt_vocab_tokenize(v, text, len, false, false, &ids, &nid, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t2);
    double lt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    double tt = (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_nsec - t1.tv_nsec) * 1e-9;
    printf("{\"vocab\":\"%s\",\"n_vocab\":%d,\"load_s\":%.3f,\"bytes\":%zu,\"tokens\":%zu,"
           "\"tokenize_s\":%.3f,\"mb_s\":%.2f,\"tok_s\":%.0f}\n",
           argv[1], rt_vocab_n_tokens(v), lt, len, nid, tt, (double)len / 1e6 / tt,
           (double)nid / tt);
    free(ids);
    rt_vocab_free(v);
    gguf_close(g);
    free(text);
    return 0;
}
