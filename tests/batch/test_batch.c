/* test_batch.c - the continuous-batching engine (runtime/batch.c) and the
 * prefix cache (runtime/prefix_cache.c) against single-sequence generation
 * on the fixture models. One binary, one case per argv[1]:
 *   greedy     batch results == rt_generate's, for every fixture architecture
 *   joinleave  requests from threads joining and leaving a running engine
 *   grammar    grammar-constrained sequences next to free ones
 *   budget     KV budget admission and refusal
 *   prefix     prefix-cache reuse counts, equal logits, LRU eviction
 *   handover   a freed slot takes the next request's prefill in the same step */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"
#include "prefix_cache.h"
#include "rt.h"
#include "../common/check.h"

static const char *fixtures;

static rt_model *load(const char *arch, const char *type)
{
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/models/%s/%s-%s.gguf", fixtures, arch, arch, type);
    rt_load_params lp = {.n_threads = 2};
    rt_model *m = NULL;
    if (rt_model_load(path, &lp, &m, err, sizeof err) != 0) {
        fprintf(stderr, "cannot load %s: %s\n", path, err);
        exit(1);
    }
    return m;
}

/* Deterministic pseudo-random prompt ids (avoiding control tokens is not
 * needed: the engine evaluates any in-range id). */
static int32_t *make_prompt(const rt_model *m, uint64_t seed, size_t n)
{
    int32_t *p = malloc(sizeof(int32_t) * n);
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (int32_t)(x % (uint64_t)rt_model_n_vocab(m));
    }
    return p;
}

typedef struct {
    char *s;
    size_t len;
} stream;

static int on_tok(void *ud, int32_t id, const char *piece, size_t len)
{
    stream *st = ud;
    (void)id;
    st->s = realloc(st->s, st->len + len + 1);
    memcpy(st->s + st->len, piece, len);
    st->len += len;
    st->s[st->len] = 0;
    return 0;
}

/* The reference: a fresh session and rt_generate. */
static void single(rt_model *m, const rt_batch_request *r, int32_t n_ctx, int32_t **ids,
                   size_t *n_ids, char **text, stream *st)
{
    char err[512];
    rt_session *s = NULL;
    if (rt_session_new(m, n_ctx, &s, err, sizeof err) != 0) {
        fprintf(stderr, "session: %s\n", err);
        exit(1);
    }
    rt_sampler *smp = rt_sampler_new(&r->sampling);
    if (r->grammar)
        rt_sampler_set_grammar_opts(smp, m, r->grammar, &r->grammar_opts, err, sizeof err);
    rt_generate_params gp = r->gen;
    gp.on_token = st ? on_tok : NULL;
    gp.ud = st;
    if (rt_generate(s, smp, r->prompt, r->n_prompt, &gp, ids, n_ids, text, err, sizeof err) != 0) {
        fprintf(stderr, "rt_generate: %s\n", err);
        exit(1);
    }
    rt_sampler_free(smp);
    rt_session_free(s);
}

static bool same_ids(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, sizeof(int32_t) * na) == 0);
}

/* Runs the engine by hand (no thread) until every request finished. */
static void drain(rt_batch *b, int *max_running)
{
    char err[512];
    rt_batch_stats st;
    for (int guard = 0; guard < 100000; guard++) {
        int rc = rt_batch_step(b, err, sizeof err);
        rt_batch_get_stats(b, &st);
        if (max_running && st.running > *max_running) *max_running = st.running;
        if (rc <= 0) return;
    }
    CHECK(0, "engine did not drain");
}

typedef struct {
    rt_batch_result res;
    bool done;
} collected;

static void on_done(void *ud, rt_batch_result *r)
{
    collected *c = ud;
    c->res = *r;
    c->done = true;
}

/* ---- handover: a finished sequence's slot starts the next one's prefill
 * in the same step (no idle step between sub-tasks) ---- */
static void case_handover(void)
{
    rt_model *m = load("qwen3moe", "q8_0");
    char err[512];
    rt_batch *b = NULL;
    rt_batch_params bp = {.n_slots = 1, .n_ctx = 64};
    CHECK(rt_batch_new(m, &bp, &b, err, sizeof err) == 0, "rt_batch_new: %s", err);
    enum { T = 3, NPRED = 4 };
    collected col[T];
    int32_t *pr[T];
    memset(col, 0, sizeof col);
    for (int i = 0; i < T; i++) {
        pr[i] = make_prompt(m, 700 + (uint64_t)i, 5);
        rt_batch_request r = {
            .prompt = pr[i], .n_prompt = 5, .on_done = on_done, .done_ud = &col[i]};
        r.sampling = rt_sampler_default_params();
        r.gen.n_predict = NPRED;
        CHECK(rt_batch_submit(b, &r, err, sizeof err) == 0, "submit: %s", err);
    }
    for (int guard = 0; guard < 1000 && rt_batch_step(b, err, sizeof err) > 0; guard++)
        ;
    rt_batch_stats st;
    rt_batch_get_stats(b, &st);
    /* a sequence holds its slot for its prefill step and NPRED samples, the
     * last of which frees the slot and admits the next prompt's prefill into
     * that same step: T * NPRED + 1 steps in all (T * (NPRED + 1) if a freed
     * slot idled until the next step) */
    CHECK(st.steps == (uint64_t)(T * NPRED + 1),
          "%llu steps for %d sequences of %d tokens, want %d", (unsigned long long)st.steps, T,
          NPRED, T * NPRED + 1);
    for (int i = 0; i < T; i++) {
        CHECK(col[i].done && col[i].res.rc == 0 && col[i].res.n_ids == NPRED, "req %d: %s", i,
              col[i].res.err);
        rt_batch_result_free(&col[i].res);
        free(pr[i]);
    }
    rt_batch_free(b);
    rt_model_free(m);
}

/* ---- greedy: batch == single, for each architecture ---- */
static void case_greedy(void)
{
    const char *archs[] = {"qwen3moe", "mixtral", "deepseek2"};
    for (size_t a = 0; a < 3; a++) {
        rt_model *m = load(archs[a], "q8_0");
        enum { NR = 7 };
        rt_batch_request rq[NR];
        int32_t *prompts[NR];
        collected col[NR];
        memset(col, 0, sizeof col);
        char err[512];
        rt_batch *b = NULL;
        rt_batch_params bp = {.n_slots = 4, .n_ctx = 256, .prefill_chunk = 16};
        CHECK(rt_batch_new(m, &bp, &b, err, sizeof err) == 0, "rt_batch_new: %s", err);
        for (int i = 0; i < NR; i++) {
            prompts[i] = make_prompt(m, 100 + (uint64_t)i, 3 + (size_t)i * 7);
            rq[i] = (rt_batch_request){.prompt = prompts[i], .n_prompt = 3 + (size_t)i * 7};
            rq[i].sampling = rt_sampler_default_params();
            if (i == 5) { /* seeded sampling: equal too, each sequence owns its RNG */
                rq[i].sampling.temperature = 0.8f;
                rq[i].sampling.seed = 42;
            }
            rq[i].gen = (rt_generate_params){.n_predict = 4 + i * 2, .stop_at_eog = false};
            rq[i].on_done = on_done;
            rq[i].done_ud = &col[i];
            CHECK(rt_batch_submit(b, &rq[i], err, sizeof err) == 0, "submit: %s", err);
        }
        int maxr = 0;
        drain(b, &maxr);
        CHECK(maxr == 4, "%s: at most %d sequences ran together, want 4", archs[a], maxr);
        rt_batch_stats st;
        rt_batch_get_stats(b, &st);
        CHECK(st.decoded_tokens > st.steps, "%s: %llu tokens in %llu steps: nothing was batched",
              archs[a], (unsigned long long)st.decoded_tokens, (unsigned long long)st.steps);
        for (int i = 0; i < NR; i++) {
            int32_t *ids = NULL;
            size_t n = 0;
            char *text = NULL;
            single(m, &rq[i], 256, &ids, &n, &text, NULL);
            CHECK(col[i].done && col[i].res.rc == 0, "%s req %d: rc %d %s", archs[a], i,
                  col[i].res.rc, col[i].res.err);
            CHECK(n == (size_t)rq[i].gen.n_predict, "%s req %d: single made %zu tokens", archs[a],
                  i, n);
            CHECK(same_ids(ids, n, col[i].res.ids, col[i].res.n_ids),
                  "%s req %d: batch ids differ from rt_generate's (%zu vs %zu tokens)", archs[a], i,
                  col[i].res.n_ids, n);
            CHECK(col[i].res.text && strcmp(text, col[i].res.text) == 0, "%s req %d: text differs",
                  archs[a], i);
            free(ids);
            free(text);
            rt_batch_result_free(&col[i].res);
            free(prompts[i]);
        }
        rt_batch_free(b);
        rt_model_free(m);
    }
}

/* ---- join/leave: threads submit while the engine runs ---- */
typedef struct {
    rt_batch *b;
    rt_batch_request r;
    rt_batch_result res;
    stream st;
} job;

static void *job_main(void *arg)
{
    job *j = arg;
    j->r.gen.on_token = on_tok;
    j->r.gen.ud = &j->st;
    rt_batch_generate(j->b, &j->r, &j->res);
    return NULL;
}

static void case_joinleave(void)
{
    rt_model *m = load("qwen3moe", "q8_0");
    char err[512];
    rt_batch *b = NULL;
    rt_batch_params bp = {.n_slots = 3, .n_ctx = 256, .prefill_chunk = 8};
    CHECK(rt_batch_new(m, &bp, &b, err, sizeof err) == 0, "rt_batch_new: %s", err);
    CHECK(rt_batch_start(b, err, sizeof err) == 0, "start: %s", err);
    enum { NJ = 8 };
    job jobs[NJ];
    pthread_t th[NJ];
    int32_t *prompts[NJ];
    /* stop strings built from the reference output, so one request really
     * stops on one mid-stream */
    const char *stops[2] = {NULL, NULL};
    char stopbuf[8] = "";
    for (int i = 0; i < NJ; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        prompts[i] = make_prompt(m, 7 + (uint64_t)i, 5 + (size_t)(i * 7) % 40);
        jobs[i].b = b;
        jobs[i].r = (rt_batch_request){.prompt = prompts[i], .n_prompt = 5 + (size_t)(i * 7) % 40};
        jobs[i].r.sampling = rt_sampler_default_params();
        jobs[i].r.gen = (rt_generate_params){.n_predict = 1 + (i * 5) % 17, .stop_at_eog = true};
    }
    {
        int32_t *ids = NULL;
        size_t n = 0;
        char *text = NULL;
        jobs[3].r.gen.stop_at_eog = false;
        jobs[3].r.gen.n_predict = 16;
        single(m, &jobs[3].r, 256, &ids, &n, &text, NULL);
        size_t tl = strlen(text);
        if (tl >= 6) {
            memcpy(stopbuf, text + tl / 2, 2);
            stops[0] = stopbuf;
            jobs[3].r.gen.stops = stops;
        }
        free(ids);
        free(text);
    }
    /* waves: 4 threads, then 4 more while the first are running */
    for (int i = 0; i < NJ; i++) {
        pthread_create(&th[i], NULL, job_main, &jobs[i]);
        if (i == 3) {
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    for (int i = 0; i < NJ; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < NJ; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        char *text = NULL;
        stream st = {0};
        single(m, &jobs[i].r, 256, &ids, &n, &text, &st);
        CHECK(jobs[i].res.rc == 0, "job %d: rc %d %s", i, jobs[i].res.rc, jobs[i].res.err);
        CHECK(same_ids(ids, n, jobs[i].res.ids, jobs[i].res.n_ids), "job %d: ids differ", i);
        CHECK(jobs[i].res.text && strcmp(text, jobs[i].res.text) == 0, "job %d: text differs", i);
        CHECK(st.len == jobs[i].st.len && (st.len == 0 || memcmp(st.s, jobs[i].st.s, st.len) == 0),
              "job %d: streamed bytes differ (%zu vs %zu)", i, jobs[i].st.len, st.len);
        CHECK(jobs[i].res.t_first_s >= 0, "job %d: no first-token time", i);
        free(ids);
        free(text);
        free(st.s);
        free(jobs[i].st.s);
        rt_batch_result_free(&jobs[i].res);
        free(prompts[i]);
    }
    if (stops[0]) CHECK(jobs[3].res.n_ids < 16, "the stop string did not stop job 3");
    rt_batch_stats s;
    rt_batch_get_stats(b, &s);
    CHECK(s.finished == NJ, "finished %llu of %d", (unsigned long long)s.finished, NJ);
    CHECK(s.running == 0 && s.queued == 0, "engine not idle: %d running %d queued", s.running,
          s.queued);
    rt_batch_free(b);
    rt_model_free(m);
}

/* ---- grammar: constrained sequences in a batch ---- */
static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)len + 1);
    *n = fread(p, 1, (size_t)len, f);
    p[*n] = 0;
    fclose(f);
    return p;
}

static void case_grammar(void)
{
    rt_model *m = load("qwen3moe", "q8_0");
    char err[512], path[1024];
    const char *names[] = {"arithmetic", "list"};
    rt_grammar *g[2];
    for (int i = 0; i < 2; i++) {
        size_t n = 0;
        snprintf(path, sizeof path, "%s/grammars/%s.gbnf", fixtures, names[i]);
        char *src = read_file(path, &n);
        CHECK(src != NULL, "cannot read %s", path);
        if (!src) exit(1);
        CHECK(rt_grammar_from_gbnf(src, n, NULL, &g[i], err, sizeof err) == 0, "%s: %s", path, err);
        free(src);
    }
    rt_batch *b = NULL;
    rt_batch_params bp = {.n_slots = 4, .n_ctx = 256};
    CHECK(rt_batch_new(m, &bp, &b, err, sizeof err) == 0, "rt_batch_new: %s", err);
    enum { NR = 6 };
    rt_batch_request rq[NR];
    collected col[NR];
    int32_t *prompts[NR];
    memset(col, 0, sizeof col);
    for (int i = 0; i < NR; i++) {
        prompts[i] = make_prompt(m, 300 + (uint64_t)i, 6 + (size_t)i);
        rq[i] = (rt_batch_request){.prompt = prompts[i], .n_prompt = 6 + (size_t)i};
        rq[i].sampling = rt_sampler_default_params();
        rq[i].grammar = i % 3 == 2 ? NULL : g[i % 3];
        rq[i].gen = (rt_generate_params){.n_predict = 6 + 4 * i, .stop_at_eog = true};
        rq[i].on_done = on_done;
        rq[i].done_ud = &col[i];
        CHECK(rt_batch_submit(b, &rq[i], err, sizeof err) == 0, "submit: %s", err);
    }
    drain(b, NULL);
    for (int i = 0; i < NR; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        char *text = NULL;
        single(m, &rq[i], 256, &ids, &n, &text, NULL);
        CHECK(col[i].done && col[i].res.rc == 0, "req %d: %s", i, col[i].res.err);
        CHECK(same_ids(ids, n, col[i].res.ids, col[i].res.n_ids), "req %d: ids differ", i);
        CHECK(col[i].res.text && strcmp(text, col[i].res.text) == 0, "req %d: text differs", i);
        if (rq[i].grammar && col[i].res.text) {
            rt_grammar_state *gs = rt_grammar_state_new(rq[i].grammar);
            CHECK(rt_grammar_state_accept(gs, col[i].res.text, strlen(col[i].res.text)) == 0 &&
                      rt_grammar_state_can_end(gs),
                  "req %d: output \"%s\" is not a sentence of %s", i, col[i].res.text,
                  names[i % 3]);
            rt_grammar_state_free(gs);
        }
        free(ids);
        free(text);
        rt_batch_result_free(&col[i].res);
        free(prompts[i]);
    }
    rt_batch_free(b);
    rt_grammar_free(g[0]);
    rt_grammar_free(g[1]);
    rt_model_free(m);
}

/* ---- budget: admission only when the KV fits ---- */
static void case_budget(void)
{
    rt_model *m = load("qwen3moe", "q8_0");
    char err[512];
    size_t bpt = rt_kv_bytes_per_token(m);
    CHECK(bpt > 0, "no KV bytes per token");
    rt_batch *b = NULL;
    rt_batch_params bp = {.n_slots = 4, .n_ctx = 256, .kv_budget_bytes = bpt * 100};
    CHECK(rt_batch_new(m, &bp, &b, err, sizeof err) == 0, "rt_batch_new: %s", err);
    int32_t *p = make_prompt(m, 9, 60);
    rt_batch_request r = {.prompt = p, .n_prompt = 60};
    r.sampling = rt_sampler_default_params();
    r.gen.n_predict = 50; /* 110 positions > 100 */
    err[0] = 0;
    CHECK(rt_batch_submit(b, &r, err, sizeof err) < 0, "a request beyond the budget was queued");
    CHECK(strstr(err, "KV budget") != NULL, "refusal does not name the KV budget: %s", err);
    r.gen.n_predict = 250; /* beyond the context */
    CHECK(rt_batch_submit(b, &r, err, sizeof err) < 0 && strstr(err, "context"),
          "a request beyond the context was queued: %s", err);
    /* three requests of 45 positions: only two fit at once */
    collected col[3];
    memset(col, 0, sizeof col);
    r.n_prompt = 30;
    r.gen.n_predict = 15;
    r.on_done = on_done;
    for (int i = 0; i < 3; i++) {
        r.done_ud = &col[i];
        CHECK(rt_batch_submit(b, &r, err, sizeof err) == 0, "submit: %s", err);
    }
    int maxr = 0;
    rt_batch_stats st;
    for (int guard = 0; guard < 10000; guard++) {
        int rc = rt_batch_step(b, err, sizeof err);
        rt_batch_get_stats(b, &st);
        if (st.running > maxr) maxr = st.running;
        CHECK(st.kv_reserved_bytes <= st.kv_budget_bytes, "reserved %zu > budget %zu",
              st.kv_reserved_bytes, st.kv_budget_bytes);
        if (rc <= 0) break;
    }
    CHECK(maxr == 2, "%d sequences ran at once under a budget that fits 2", maxr);
    for (int i = 0; i < 3; i++) {
        CHECK(col[i].done && col[i].res.rc == 0 && col[i].res.n_ids == 15, "req %d: %s", i,
              col[i].res.err);
        if (i > 0)
            CHECK(same_ids(col[0].res.ids, col[0].res.n_ids, col[i].res.ids, col[i].res.n_ids),
                  "req %d differs from req 0 for the same prompt", i);
    }
    for (int i = 0; i < 3; i++)
        rt_batch_result_free(&col[i].res);
    free(p);
    rt_batch_free(b);
    rt_model_free(m);
}

/* ---- prefix cache ---- */
static void case_prefix(void)
{
    rt_model *m = load("qwen3moe", "q8_0");
    char err[512];
    const size_t NP = 300, NT = 8;
    int32_t *a = make_prompt(m, 500, NP + NT), *bq = make_prompt(m, 501, NP + NT);
    memcpy(bq, a, sizeof(int32_t) * NP); /* same 300-token prefix, different tail (the 1,000-token
                                            figure is tests/bench/bench_batch.sh) */
    int32_t *z = make_prompt(m, 502, 40);
    /* through the batch: one slot, so the second agent's prefix can only
     * come from the cache (the unrelated request in between overwrote the
     * slot's own KV) */
    rt_batch *b = NULL;
    rt_batch_params bp = {.n_slots = 1, .n_ctx = 512, .prefix_cache_bytes = 256u << 20};
    CHECK(rt_batch_new(m, &bp, &b, err, sizeof err) == 0, "rt_batch_new: %s", err);
    collected col[3];
    memset(col, 0, sizeof col);
    const int32_t *pr[3] = {a, z, bq};
    size_t ns[3] = {NP + NT, 40, NP + NT};
    for (int i = 0; i < 3; i++) {
        rt_batch_request r = {
            .prompt = pr[i], .n_prompt = ns[i], .on_done = on_done, .done_ud = &col[i]};
        r.sampling = rt_sampler_default_params();
        r.gen.n_predict = 6;
        CHECK(rt_batch_submit(b, &r, err, sizeof err) == 0, "submit: %s", err);
        drain(b, NULL);
    }
    size_t whole = NP / RT_PREFIX_BLOCK * RT_PREFIX_BLOCK;
    CHECK(col[0].res.n_reused == 0, "first agent reused %zu tokens", col[0].res.n_reused);
    CHECK(col[2].res.n_reused == whole, "second agent reused %zu tokens, want %zu",
          col[2].res.n_reused, whole);
    rt_batch_stats st;
    rt_batch_get_stats(b, &st);
    CHECK(st.pc_hits == 1 && st.pc_tokens_reused == whole,
          "prefix cache stats: %llu hits, %llu tokens reused", (unsigned long long)st.pc_hits,
          (unsigned long long)st.pc_tokens_reused);
    {
        rt_batch_request r = {.prompt = bq, .n_prompt = NP + NT};
        r.sampling = rt_sampler_default_params();
        r.gen.n_predict = 6;
        int32_t *ids = NULL;
        size_t n = 0;
        char *text = NULL;
        single(m, &r, 512, &ids, &n, &text, NULL);
        CHECK(same_ids(ids, n, col[2].res.ids, col[2].res.n_ids),
              "ids after a prefix-cache hit differ from a full evaluation");
        free(ids);
        free(text);
    }
    for (int i = 0; i < 3; i++)
        rt_batch_result_free(&col[i].res);
    rt_batch_free(b);

    /* equal logits: KV copied from the cache + the tail evaluated == all evaluated */
    const int32_t nv = rt_model_n_vocab(m);
    float *l1 = malloc(sizeof(float) * (size_t)nv), *l2 = malloc(sizeof(float) * (size_t)nv);
    rt_session *s1 = NULL, *s2 = NULL;
    rt_session_new(m, 512, &s1, err, sizeof err);
    rt_session_new(m, 512, &s2, err, sizeof err);
    rt_prefix_cache *pc = NULL;
    size_t blk = rt_kv_bytes(m, RT_PREFIX_BLOCK);
    CHECK(rt_prefix_cache_new(m, 4 * blk, &pc, err, sizeof err) == 0, "cache: %s", err);
    rt_session_eval(s1, a, 2 * RT_PREFIX_BLOCK + 5, NULL, NULL, err, sizeof err);
    rt_prefix_cache_store(pc, s1, a, 2 * RT_PREFIX_BLOCK + 5);
    rt_session_reset(s1);
    rt_session_eval(s1, bq, 2 * RT_PREFIX_BLOCK + 7, NULL, l1, err, sizeof err);
    size_t got = rt_prefix_cache_load(pc, s2, bq, 2 * RT_PREFIX_BLOCK + 7, 2 * RT_PREFIX_BLOCK + 6);
    CHECK(got == 2 * RT_PREFIX_BLOCK, "loaded %zu positions, want %d", got, 2 * RT_PREFIX_BLOCK);
    CHECK(rt_session_pos(s2) == (int32_t)got, "session at %d after the load", rt_session_pos(s2));
    rt_session_eval(s2, bq + got, 2 * RT_PREFIX_BLOCK + 7 - got, NULL, l2, err, sizeof err);
    CHECK(memcmp(l1, l2, sizeof(float) * (size_t)nv) == 0,
          "logits after a cached prefix differ from a full evaluation");
    /* eviction: 4 blocks fit; a (2 blocks) + z' (2 blocks) fill it, touching
     * a then storing a third prompt evicts z' (the least recently used) */
    int32_t *y = make_prompt(m, 600, 2 * RT_PREFIX_BLOCK),
            *w = make_prompt(m, 601, 2 * RT_PREFIX_BLOCK);
    rt_session_reset(s1);
    rt_session_eval(s1, y, 2 * RT_PREFIX_BLOCK, NULL, NULL, err, sizeof err);
    rt_prefix_cache_store(pc, s1, y, 2 * RT_PREFIX_BLOCK);
    rt_prefix_cache_stats ps;
    rt_prefix_cache_get_stats(pc, &ps);
    CHECK(ps.blocks == 4 && ps.evictions == 0, "%zu blocks, %llu evictions after two prompts",
          ps.blocks, (unsigned long long)ps.evictions);
    rt_session_reset(s2);
    CHECK(rt_prefix_cache_load(pc, s2, a, 2 * RT_PREFIX_BLOCK + 1, 2 * RT_PREFIX_BLOCK) ==
              2 * RT_PREFIX_BLOCK,
          "prompt a not cached");
    rt_session_reset(s1);
    rt_session_eval(s1, w, 2 * RT_PREFIX_BLOCK, NULL, NULL, err, sizeof err);
    rt_prefix_cache_store(pc, s1, w, 2 * RT_PREFIX_BLOCK);
    rt_prefix_cache_get_stats(pc, &ps);
    CHECK(ps.blocks == 4 && ps.evictions == 2 && ps.bytes <= 4 * blk,
          "%zu blocks (%zu bytes), %llu evictions after the third prompt", ps.blocks, ps.bytes,
          (unsigned long long)ps.evictions);
    rt_session_reset(s2);
    CHECK(rt_prefix_cache_load(pc, s2, y, 2 * RT_PREFIX_BLOCK + 1, 2 * RT_PREFIX_BLOCK) == 0,
          "the least recently used prompt was not evicted");
    rt_session_reset(s2);
    CHECK(rt_prefix_cache_load(pc, s2, a, 2 * RT_PREFIX_BLOCK + 1, 2 * RT_PREFIX_BLOCK) ==
              2 * RT_PREFIX_BLOCK,
          "the recently used prompt was evicted");
    rt_prefix_cache_free(pc);
    rt_session_free(s1);
    rt_session_free(s2);
    free(l1);
    free(l2);
    free(y);
    free(w);
    free(a);
    free(bq);
    free(z);
    rt_model_free(m);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr,
                "usage: test_batch FIXTURES greedy|joinleave|grammar|budget|prefix|handover\n");
        return 2;
    }
    fixtures = argv[1];
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/models/qwen3moe/qwen3moe-q8_0.gguf", fixtures);
    FILE *f = fopen(probe, "rb");
    if (!f) {
        fprintf(stderr, "fixtures not found at %s\n", fixtures);
        const char *ci = getenv("CI");
        return ci && strcmp(ci, "true") == 0 ? 1 : 77;
    }
    fclose(f);
    const char *c = argv[2];
    if (strcmp(c, "greedy") == 0)
        case_greedy();
    else if (strcmp(c, "joinleave") == 0)
        case_joinleave();
    else if (strcmp(c, "grammar") == 0)
        case_grammar();
    else if (strcmp(c, "budget") == 0)
        case_budget();
    else if (strcmp(c, "prefix") == 0)
        case_prefix();
    else if (strcmp(c, "handover") == 0)
        case_handover();
    else {
        fprintf(stderr, "unknown case %s\n", c);
        return 2;
    }
    if (check_fail_count) fprintf(stderr, "%d check(s) failed\n", check_fail_count);
    return check_fail_count ? 1 : 0;
}
