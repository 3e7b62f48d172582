/* test_golden.c - the engine library against llama.cpp's golden outputs:
 * F32 logits of every fixture prompt within 1e-3, greedy continuations equal
 * up to the first low-margin step, quantized models no worse than 1.25x the
 * reference's own RMS error; plus session behaviour on a real model
 * (reset/chunked evaluation reproduce logits, KV overflow and bad ids fail
 * cleanly without advancing the session). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"
#include "../common/check.h"
#include "../common/test_files.h"

static int32_t *json_ids(const cJSON *arr, size_t *n)
{
    *n = (size_t)cJSON_GetArraySize(arr);
    int32_t *ids = malloc(sizeof(int32_t) * (*n + 1));
    for (size_t i = 0; i < *n; i++)
        ids[i] = (int32_t)cJSON_GetArrayItem(arr, (int)i)->valuedouble;
    return ids;
}

typedef struct {
    char buf[4096];
    size_t len;
} collect;

static int collect_cb(void *ud, int32_t id, const char *piece, size_t len)
{
    collect *c = ud;
    (void)id;
    if (c->len + len < sizeof c->buf) {
        memcpy(c->buf + c->len, piece, len);
        c->len += len;
    }
    return 0;
}

/* Stop strings: generation ends at the first occurrence; neither the text nor
 * the streamed bytes contain it; the session holds prompt + returned ids. */
static void check_stops(rt_model *m, const int32_t *ids, size_t n)
{
    char err[256];
    rt_session *s = NULL;
    CHECK(rt_session_new(m, (int32_t)n + 24, &s, err, sizeof err) == 0, "%s", err);
    if (!s) return;
    rt_sampler_params sp = rt_sampler_default_params();
    rt_sampler *smp = rt_sampler_new(&sp);
    rt_generate_params gp = {.n_predict = 24};
    char *full = NULL;
    int32_t *out = NULL;
    size_t nout = 0;
    CHECK(rt_generate(s, smp, ids, n, &gp, &out, &nout, &full, err, sizeof err) == 0, "%s", err);
    CHECK(rt_session_pos(s) == (int32_t)(n + nout), "session pos %d after %zu + %zu",
          rt_session_pos(s), n, nout);
    size_t flen = full ? strlen(full) : 0;
    if (flen >= 6) {
        char stop[4];
        memcpy(stop, full + flen / 2, 3);
        stop[3] = 0;
        const char *first = strstr(full, stop);
        size_t want = (size_t)(first - full);
        if (strlen(stop) == 3) {
            rt_session_reset(s);
            const char *stops[] = {stop, NULL};
            collect c = {.len = 0};
            rt_generate_params g2 = {
                .n_predict = 24, .stops = stops, .on_token = collect_cb, .ud = &c};
            char *text = NULL;
            int32_t *o2 = NULL;
            size_t n2 = 0;
            CHECK(rt_generate(s, smp, ids, n, &g2, &o2, &n2, &text, err, sizeof err) == 0, "%s",
                  err);
            CHECK(text && strlen(text) == want && memcmp(text, full, want) == 0,
                  "stop string: got %zu bytes, expected the %zu before it", text ? strlen(text) : 0,
                  want);
            CHECK(c.len == want && memcmp(c.buf, full, want) == 0,
                  "streamed %zu bytes, expected %zu", c.len, want);
            CHECK(n2 < nout, "stop string did not end generation early");
            free(text);
            free(o2);
        }
    }
    free(full);
    free(out);
    rt_sampler_free(smp);
    rt_session_free(s);
}

/* Several sessions at different positions decoded in one batch give each
 * the same logits as evaluating alone (the golden rows). */
static void check_multi(rt_model *m, const int32_t *ids, size_t n, const float *ref)
{
    char err[256];
    const size_t nv = (size_t)rt_model_n_vocab(m);
    if (n < 6) return;
    rt_session *ss[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++)
        CHECK(rt_session_new(m, (int32_t)n, &ss[i], err, sizeof err) == 0, "%s", err);
    if (!ss[0] || !ss[1] || !ss[2]) goto out;
    CHECK(rt_session_eval(ss[0], ids, 3, NULL, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(rt_session_eval(ss[1], ids, 5, NULL, NULL, err, sizeof err) == 0, "%s", err);
    int32_t toks[3] = {ids[3], ids[5], ids[0]};
    size_t rows[3] = {3, 5, 0};
    float *lg[3];
    for (int i = 0; i < 3; i++)
        lg[i] = malloc(sizeof(float) * nv);
    CHECK(rt_sessions_decode(ss, toks, 3, lg, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < 3; i++) {
        float md = 0.0f;
        for (size_t v = 0; v < nv; v++)
            md = fmaxf(md, fabsf(lg[i][v] - ref[rows[i] * nv + v]));
        CHECK(md <= 1e-3f, "batched decode: session %d differs by %g", i, md);
        CHECK(rt_session_pos(ss[i]) == (int32_t)rows[i] + 1, "session %d pos %d", i,
              rt_session_pos(ss[i]));
        free(lg[i]);
    }
    /* duplicates and bad ids are rejected without moving anyone */
    rt_session *dup[2] = {ss[0], ss[0]};
    CHECK(rt_sessions_decode(dup, toks, 2, NULL, err, sizeof err) < 0, "duplicate accepted");
    int32_t bad[3] = {ids[4], -5, ids[1]};
    CHECK(rt_sessions_decode(ss, bad, 3, NULL, err, sizeof err) < 0, "bad id accepted");
    CHECK(rt_session_pos(ss[0]) == 4 && rt_session_pos(ss[2]) == 1, "failed decode moved pos");
out:
    for (int i = 0; i < 3; i++)
        rt_session_free(ss[i]);
}

/* Session checks on one real model. */
static void check_sessions(rt_model *m, const int32_t *ids, size_t n, const float *ref)
{
    char err[256];
    const size_t nv = (size_t)rt_model_n_vocab(m);
    rt_session *s = NULL;
    CHECK(rt_session_new(m, (int32_t)n + 2, &s, err, sizeof err) == 0, "%s", err);
    if (!s) return;
    float *a = malloc(sizeof(float) * nv * n), *last = malloc(sizeof(float) * nv);
    /* chunked evaluation after a reset gives the same rows */
    size_t h = n / 2;
    CHECK(rt_session_eval(s, ids, h, a, NULL, err, sizeof err) == 0, "%s", err);
    rt_session_reset(s);
    CHECK(rt_session_pos(s) == 0, "reset keeps pos %d", rt_session_pos(s));
    CHECK(rt_session_last_logits(s) == NULL, "reset keeps last logits");
    CHECK(rt_session_eval(s, ids, h, a, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(rt_session_eval(s, ids + h, n - h, a + h * nv, last, err, sizeof err) == 0, "%s", err);
    float md = 0.0f;
    for (size_t i = 0; i < n * nv; i++)
        md = fmaxf(md, fabsf(a[i] - ref[i]));
    CHECK(md <= 1e-3f, "chunked eval after reset differs from golden by %g", md);
    CHECK(memcmp(last, a + (n - 1) * nv, sizeof(float) * nv) == 0, "logits_last != last row");
    /* prefix reuse: the same prompt keeps all but its last token */
    CHECK(rt_session_reuse_prefix(s, ids, n) == n - 1, "same prompt not reused");
    CHECK(rt_session_eval(s, ids + n - 1, 1, NULL, last, err, sizeof err) == 0, "%s", err);
    md = 0.0f;
    for (size_t v = 0; v < nv; v++)
        md = fmaxf(md, fabsf(last[v] - ref[(n - 1) * nv + v]));
    CHECK(md <= 1e-3f, "reused prefix: last row differs by %g", md);
    /* a shorter prompt that is a prefix */
    CHECK(rt_session_reuse_prefix(s, ids, h) == h - 1, "prefix prompt not reused");
    CHECK(rt_session_eval(s, ids + h - 1, 1, NULL, last, err, sizeof err) == 0, "%s", err);
    md = 0.0f;
    for (size_t v = 0; v < nv; v++)
        md = fmaxf(md, fabsf(last[v] - ref[(h - 1) * nv + v]));
    CHECK(md <= 1e-3f, "reused shorter prefix: row differs by %g", md);
    /* a diverging prompt equals evaluating it from scratch */
    {
        int32_t *alt = malloc(sizeof(int32_t) * n);
        memcpy(alt, ids, sizeof(int32_t) * n);
        alt[h] = (alt[h] + 1) % (int32_t)nv;
        CHECK(rt_session_eval(s, ids + h, n - h, NULL, NULL, err, sizeof err) == 0, "%s", err);
        size_t k = rt_session_reuse_prefix(s, alt, n);
        CHECK(k == h, "diverging prompt reused %zu, expected %zu", k, h);
        CHECK(rt_session_eval(s, alt + k, n - k, NULL, last, err, sizeof err) == 0, "%s", err);
        rt_session *f = NULL;
        float *fl = malloc(sizeof(float) * nv);
        CHECK(rt_session_new(m, (int32_t)n, &f, err, sizeof err) == 0, "%s", err);
        if (f && fl) {
            CHECK(rt_session_eval(f, alt, n, NULL, fl, err, sizeof err) == 0, "%s", err);
            md = 0.0f;
            for (size_t v = 0; v < nv; v++)
                md = fmaxf(md, fabsf(last[v] - fl[v]));
            CHECK(md <= 1e-4f, "diverged reuse differs from a fresh session by %g", md);
        }
        rt_session_free(f);
        free(fl);
        free(alt);
    }
    /* bad ids are rejected and nothing is appended */
    int32_t pos = rt_session_pos(s);
    int32_t bad[2] = {0, (int32_t)nv};
    CHECK(rt_session_eval(s, bad, 2, NULL, NULL, err, sizeof err) < 0, "id n_vocab accepted");
    CHECK(strstr(err, "out of range") != NULL, "unhelpful error: %s", err);
    int32_t neg = -1;
    CHECK(rt_session_eval(s, &neg, 1, NULL, NULL, err, sizeof err) < 0, "id -1 accepted");
    CHECK(rt_session_pos(s) == pos, "failed eval moved pos to %d", rt_session_pos(s));
    /* KV overflow: room for exactly 2 more tokens */
    int32_t three[3] = {ids[0], ids[0], ids[0]};
    CHECK(rt_session_eval(s, three, 3, NULL, NULL, err, sizeof err) < 0, "overflow accepted");
    CHECK(strstr(err, "context") != NULL, "unhelpful overflow error: %s", err);
    CHECK(rt_session_pos(s) == pos, "overflowing eval moved pos");
    CHECK(rt_session_eval(s, three, 2, NULL, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(rt_session_eval(s, three, 1, NULL, NULL, err, sizeof err) < 0, "full session accepted");
    rt_session_free(s);
    free(a);
    free(last);
}

static void check_arch(const char *dir, const char *arch)
{
    char path[1400]; /* dir (1023) + arch (255) + file: Release -Wformat-truncation */
    snprintf(path, sizeof path, "%s/%s/golden.json", dir, arch);
    char *js = test_file_read(path, NULL);
    if (!js) return;
    cJSON *g = cJSON_Parse(js);
    free(js);
    CHECK(g != NULL, "%s: bad JSON", path);
    if (!g) return;
    const cJSON *models = cJSON_GetObjectItem(g, "models");
    const cJSON *f32 = cJSON_GetObjectItem(models, "f32");
    const cJSON *mq;
    cJSON_ArrayForEach(mq, models)
    {
        const char *quant = mq->string;
        bool is_f32 = strcmp(quant, "f32") == 0;
        /* keep the suite fast: F32 and the most lossy quant */
        if (!is_f32 && strcmp(quant, "q4_k_m") != 0) continue;
        snprintf(path, sizeof path, "%s/%s/%s", dir, arch,
                 cJSON_GetObjectItem(mq, "gguf")->valuestring);
        rt_model *m = NULL;
        char err[512];
        rt_load_params lp = {.n_threads = 2};
        CHECK(rt_model_load(path, &lp, &m, err, sizeof err) == 0, "%s", err);
        if (!m) continue;
        const size_t nv = (size_t)rt_model_n_vocab(m);
        double sq = 0.0;
        size_t npos = 0;
        const cJSON *p;
        int pi = 0;
        cJSON_ArrayForEach(p, cJSON_GetObjectItem(mq, "prompts"))
        {
            size_t n, ng;
            int32_t *ids = json_ids(cJSON_GetObjectItem(p, "ids"), &n);
            int32_t *greedy = json_ids(cJSON_GetObjectItem(p, "greedy_ids"), &ng);
            const cJSON *fp = cJSON_GetArrayItem(cJSON_GetObjectItem(f32, "prompts"), pi);
            snprintf(path, sizeof path, "%s/%s/%s", dir, arch,
                     cJSON_GetObjectItem(fp, "logits_file")->valuestring);
            size_t flen = 0;
            float *ref = (float *)test_file_read(path, &flen);
            CHECK(ref && flen == n * nv * sizeof(float), "%s: size %zu", path, flen);
            rt_session *s = NULL;
            CHECK(rt_session_new(m, (int32_t)(n + ng), &s, err, sizeof err) == 0, "%s", err);
            float *got = malloc(sizeof(float) * n * nv);
            if (ref && s && flen == n * nv * sizeof(float)) {
                CHECK(rt_session_eval(s, ids, n, got, NULL, err, sizeof err) == 0, "%s", err);
                float md = 0.0f;
                for (size_t i = 0; i < n * nv; i++) {
                    float d = fabsf(got[i] - ref[i]);
                    md = fmaxf(md, d);
                    sq += (double)d * d;
                }
                npos += n;
                if (is_f32) {
                    CHECK(md <= 1e-3f, "%s f32 p%d: logits max-abs %g > 1e-3", arch, pi, md);
                    /* greedy continuation, compared up to the first low-margin step */
                    rt_sampler_params sp = rt_sampler_default_params();
                    rt_sampler *smp = rt_sampler_new(&sp);
                    rt_generate_params gp = {.n_predict = (int32_t)ng};
                    int32_t *out = NULL;
                    size_t nout = 0;
                    CHECK(rt_generate(s, smp, NULL, 0, &gp, &out, &nout, NULL, err, sizeof err) ==
                              0,
                          "%s", err);
                    const cJSON *mg = cJSON_GetObjectItem(p, "greedy_margins");
                    size_t k = 0;
                    while (k < ng && cJSON_GetArrayItem(mg, (int)k)->valuedouble > 1e-2)
                        k++;
                    k = k + 1 < ng ? k + 1 : ng;
                    CHECK(nout == ng, "%s p%d: generated %zu of %zu", arch, pi, nout, ng);
                    for (size_t i = 0; i < k && i < nout; i++)
                        CHECK(out[i] == greedy[i], "%s p%d greedy step %zu: %d != %d", arch, pi, i,
                              out[i], greedy[i]);
                    free(out);
                    rt_sampler_free(smp);
                    if (pi == 1) check_sessions(m, ids, n, ref);
                    if (pi == 0) check_stops(m, ids, n);
                    if (pi == 2) check_multi(m, ids, n, ref);
                }
            }
            free(got);
            rt_session_free(s);
            free(ref);
            free(ids);
            free(greedy);
            pi++;
        }
        if (!is_f32 && npos) {
            double rms = sqrt(sq / (double)(npos * nv));
            double ref_rms =
                cJSON_GetObjectItem(cJSON_GetObjectItem(mq, "error_vs_f32"), "rms")->valuedouble;
            CHECK(rms <= 1.25 * ref_rms, "%s %s: rms %g > 1.25 x %g", arch, quant, rms, ref_rms);
        }
        printf("%s %s: checked\n", arch, quant);
        rt_model_free(m);
    }
    cJSON_Delete(g);
}

int main(int argc, char **argv)
{
    const char *fix = argc > 1 ? argv[1] : getenv("SWARM_FIXTURES");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models", fix ? fix : "");
    DIR *d = fix ? opendir(dir) : NULL;
    if (!d) {
        fprintf(stderr, "fixtures not found at %s\n", dir);
        const char *ci = getenv("CI");
        return ci && strcmp(ci, "true") == 0 ? 1 : 77;
    }
    struct dirent *e;
    int n_arch = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        check_arch(dir, e->d_name);
        n_arch++;
    }
    closedir(d);
    CHECK(n_arch > 0, "no fixture models in %s", dir);
    if (check_fail_count) {
        fprintf(stderr, "%d check(s) failed\n", check_fail_count);
        return 1;
    }
    printf("engine golden: all checks hold (%d architectures)\n", n_arch);
    return 0;
}
