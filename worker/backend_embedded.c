/* backend_embedded.c - runs sub-tasks on the embedded MoE engine (runtime/include/rt.h).
 *
 * The model is loaded once per worker and shared read-only by every slot.
 * The slot threads do not run forward passes themselves: they submit to one
 * rt_batch engine (runtime/batch.c) whose single thread decodes every
 * slot's next token in one batched step, on the model's one thread pool
 * (so slots add throughput instead of oversubscribing the cores). Each
 * request gets a fresh sampler, so a task's output depends only on its
 * prompt, seed and temperature. The engine's sequences keep their KV between
 * tasks and share a prefix cache: the next task reuses the longest common
 * prompt prefix (the job's system prompt and instruction head) instead of
 * evaluating it again. A task is admitted only while its KV (prompt +
 * max_tokens positions) fits the worker's KV budget, announced at Register
 * in the model name ("name (arch, ctx N, kv M MiB)"); SWARM_KV_BUDGET_MB and
 * SWARM_PREFIX_CACHE_MB override the defaults (half / an eighth of the
 * memory available at start).
 * Sub-tasks that start together wait for the one prefill of their shared
 * head (emb_prefill_wait) instead of each evaluating it; SWARM_PREFILL_SHARE=0
 * turns that off. SWARM_WORKER_TRACE=1 logs each sub-task's timeline and the
 * engine's counters (steps, decoded and prefilled tokens) to stderr.
 * An item too long for the context is shortened (and marked as such) rather
 * than failing the task: a summary of a truncated file is still useful. The
 * output then starts with a "[input truncated ...]" line, so the cut is
 * flagged in the job's result (docs/JOBS.md) and not only in the prompt. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend_internal.h"
#include "rt.h"

typedef struct {
    rt_model *model;
    int32_t n_ctx;
    size_t kv_budget, pc_bytes;
    int share_wait; /* emb_prefill_wait on (SWARM_PREFILL_SHARE=0 turns it off, for A/B runs) */
    int trace;      /* SWARM_WORKER_TRACE=1: one stderr line per sub-task (timeline, batch state) */
    /* every slot (to see the prompts in prefill) and a copy of the last
     * prompt whose prefill ended, so its KV is in the prefix cache; both
     * guarded by mu (see emb_prefill_wait) */
    struct emb_slot **slots;
    int32_t cap_slots;
    pthread_cond_t pf_cv;
    int32_t *done_ids;
    size_t done_n, done_cap;
    pthread_mutex_t mu; /* guards the lazy start of batch and n_slots */
    int32_t n_slots;
    rt_batch *batch; /* started on the first task, once every slot exists */
} emb_backend;

/* Tool grammars compiled for the last tool set, one per tool choice: an
 * agent offers the same tools every step, so each is compiled once. */
typedef struct {
    char *key; /* the family, the tools' names and schemas */
    rt_grammar *g;
} emb_grammar;

typedef struct emb_slot {
    emb_backend *b;
    int index;             /* creation order, named in trace lines */
    const int32_t *pf_ids; /* the prompt in prefill, guarded by b->mu */
    size_t pf_n;
    emb_grammar gram[RT_TOOL_CHOICE_NAMED + 1];
} emb_slot;

/* A prompt head shared with a prompt still in prefill must be this much
 * longer than what the cache already holds before a task waits for it: one
 * prefix-cache block (runtime/prefix_cache.h), the least it can reuse. */
#define EMB_SHARE_MIN 32

static size_t emb_common(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i])
        i++;
    return i;
}

/* Sub-tasks of a job that start together (the first wave, 8 slots at once)
 * would each evaluate the job's shared head, because the prefix cache only
 * gets it when a prefill ends. So a prompt waits while another slot's prompt
 * in prefill shares a head longer than the last finished prompt does (what
 * the cache holds, approximately); it then reuses that head. Steady-state
 * tasks share no more with each other than with the cache and never wait.
 * The wait ends with the other prefill (its first token or its end). */
static void emb_prefill_wait(emb_slot *s, const int32_t *ids, size_t n)
{
    emb_backend *b = s->b;
    pthread_mutex_lock(&b->mu);
    while (b->share_wait) {
        size_t cached = emb_common(ids, n, b->done_ids, b->done_n), best = 0;
        for (int32_t i = 0; i < b->n_slots; i++) {
            emb_slot *o = b->slots[i];
            if (o == s || !o->pf_ids) continue;
            size_t c = emb_common(ids, n, o->pf_ids, o->pf_n);
            if (c > best) best = c;
        }
        if (best < cached + EMB_SHARE_MIN) break;
        pthread_cond_wait(&b->pf_cv, &b->mu);
    }
    s->pf_ids = ids;
    s->pf_n = n;
    pthread_mutex_unlock(&b->mu);
}

/* The slot's prefill ended (or the request did): release the waiters. */
static void emb_prefill_done(emb_slot *s)
{
    emb_backend *b = s->b;
    pthread_mutex_lock(&b->mu);
    if (s->pf_ids) {
        if (b->done_cap < s->pf_n) {
            int32_t *nd = realloc(b->done_ids, s->pf_n * sizeof(int32_t));
            if (nd) {
                b->done_ids = nd;
                b->done_cap = s->pf_n;
            }
        }
        if (b->done_cap >= s->pf_n) {
            memcpy(b->done_ids, s->pf_ids, s->pf_n * sizeof(int32_t));
            b->done_n = s->pf_n;
        }
        s->pf_ids = NULL;
        s->pf_n = 0;
        pthread_cond_broadcast(&b->pf_cv);
    }
    pthread_mutex_unlock(&b->mu);
}

/* Seconds on the monotonic clock, for trace lines only. */
static double emb_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A sub-task's timeline and the engine's counters when it ended: where a
 * real swarm's slots lose time against the in-process batch (idle between a
 * Result and the next Assign, prefill not reused, fewer sequences per step). */
static void emb_trace(emb_backend *b, int slot, double t_submit, double t_end,
                      const rt_batch_result *res, size_t n_prompt, uint32_t tokens)
{
    rt_batch_stats st;
    rt_batch_get_stats(b->batch, &st);
    fprintf(stderr,
            "swarm-worker trace: slot %d submit %.3f end %.3f first %.3f s prompt %zu reused %zu "
            "tokens %u | running %d queued %d steps %llu decoded %llu prefilled %llu\n",
            slot, t_submit, t_end, res->t_first_s, n_prompt, res->n_reused, tokens, st.running,
            st.queued, (unsigned long long)st.steps, (unsigned long long)st.decoded_tokens,
            (unsigned long long)st.prefill_tokens);
}

/* Bytes from an environment variable in MiB, or def. */
static size_t emb_env_mb(const char *name, size_t def)
{
    const char *v = getenv(name);
    if (!v || !*v) return def;
    char *end = NULL;
    unsigned long long mb = strtoull(v, &end, 10);
    return end && *end == 0 ? (size_t)mb << 20 : def;
}

/* The batch engine, created when the first task arrives (slots are all
 * made at startup, so n_slots is final by then). */
static rt_batch *emb_batch(emb_backend *b, char *err, size_t errlen)
{
    pthread_mutex_lock(&b->mu);
    if (!b->batch) {
        rt_batch_params bp = {.n_slots = b->n_slots > 0 ? b->n_slots : 1,
                              .n_ctx = b->n_ctx,
                              .kv_budget_bytes = b->kv_budget,
                              .prefix_cache_bytes = b->pc_bytes,
                              /* half the bytes of F32 per position: twice the
                               * slots or context in the same budget */
                              .kv_type = RT_KV_F16};
        rt_batch *bt = NULL;
        if (rt_batch_new(b->model, &bp, &bt, err, errlen) == 0) {
            if (rt_batch_start(bt, err, errlen) == 0)
                b->batch = bt;
            else
                rt_batch_free(bt);
        }
    }
    rt_batch *r = b->batch;
    pthread_mutex_unlock(&b->mu);
    return r;
}

static int emb_open(const char *model_path, int threads, void **impl, char **model_name, char *err,
                    size_t errlen)
{
    if (!model_path || !*model_path) {
        snprintf(err, errlen, "--model: a GGUF model file is required for the embedded engine");
        return -1;
    }
    emb_backend *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rt_load_params lp = {.n_threads = threads};
    char rerr[512] = "";
    if (rt_model_load(model_path, &lp, &b->model, rerr, sizeof(rerr)) != 0) {
        snprintf(err, errlen, "cannot load model %s: %s", model_path, rerr);
        free(b);
        return -1;
    }
    /* the context each slot's session gets: announced in the model name at
     * Register ("name (arch, ctx N)") so `swarm submit` can refuse a
     * budget.max_tokens that cannot fit before any sub-task runs */
    rt_session *probe = NULL;
    int32_t n_ctx = 0;
    if (rt_session_new(b->model, 0, &probe, rerr, sizeof(rerr)) == 0) {
        n_ctx = rt_session_n_ctx(probe);
        rt_session_free(probe);
    }
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->pf_cv, NULL);
    b->n_ctx = n_ctx;
    long pages = sysconf(_SC_AVPHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    size_t avail = pages > 0 && psz > 0 ? (size_t)pages * (size_t)psz : (size_t)8 << 30;
    b->kv_budget = emb_env_mb("SWARM_KV_BUDGET_MB", avail / 2);
    b->pc_bytes = emb_env_mb("SWARM_PREFIX_CACHE_MB", avail / 8);
    const char *tr = getenv("SWARM_WORKER_TRACE");
    b->trace = tr && *tr && strcmp(tr, "0") != 0;
    const char *sw = getenv("SWARM_PREFILL_SHARE");
    b->share_wait = !(sw && strcmp(sw, "0") == 0);
    const char *name = rt_model_name(b->model);
    size_t n = strlen(name) + strlen(rt_model_arch(b->model)) + 64;
    *model_name = malloc(n);
    if (*model_name) {
        if (n_ctx > 0)
            snprintf(*model_name, n, "%s (%s, ctx %d, kv %zu MiB)", name, rt_model_arch(b->model),
                     (int)n_ctx, b->kv_budget >> 20);
        else
            snprintf(*model_name, n, "%s (%s)", name, rt_model_arch(b->model));
    }
    *impl = b;
    return 0;
}

static void emb_close(void *impl)
{
    emb_backend *b = impl;
    if (!b) return;
    rt_batch_free(b->batch);
    rt_model_free(b->model);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->pf_cv);
    free(b->slots);
    free(b->done_ids);
    free(b);
}

static int emb_slot_new(void *impl, void **slot, char *err, size_t errlen)
{
    emb_slot *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->b = impl;
    emb_backend *b = s->b;
    pthread_mutex_lock(&b->mu);
    if (b->n_slots == b->cap_slots) {
        int32_t cap = b->cap_slots ? b->cap_slots * 2 : 8;
        emb_slot **ns = realloc(b->slots, (size_t)cap * sizeof(*ns));
        if (!ns) {
            pthread_mutex_unlock(&b->mu);
            free(s);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        b->slots = ns;
        b->cap_slots = cap;
    }
    s->index = b->n_slots;
    b->slots[b->n_slots++] = s;
    pthread_mutex_unlock(&b->mu);
    *slot = s;
    return 0;
}

static void emb_slot_free(void *slot)
{
    emb_slot *s = slot;
    if (!s) return;
    /* no longer one of the slots emb_prefill_wait looks at */
    emb_backend *b = s->b;
    pthread_mutex_lock(&b->mu);
    for (int32_t i = 0; i < b->n_slots; i++)
        if (b->slots[i] == s) {
            b->slots[i] = b->slots[--b->n_slots];
            break;
        }
    pthread_mutex_unlock(&b->mu);
    for (size_t i = 0; i < sizeof s->gram / sizeof s->gram[0]; i++) {
        free(s->gram[i].key);
        rt_grammar_free(s->gram[i].g);
    }
    free(s);
}

/* Chat-format and tokenize goal + instructions(input). */
static int emb_prompt(const rt_model *m, const wb_task *t, const char *input, int32_t **ids,
                      size_t *n_ids, char *err, size_t errlen)
{
    char *user = wb_prompt_expand(t->instructions, input);
    if (!user) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rt_chat_msg msgs[2];
    size_t n = 0;
    if (t->goal && *t->goal) msgs[n++] = (rt_chat_msg){.role = "system", .content = t->goal};
    msgs[n++] = (rt_chat_msg){.role = "user", .content = user};
    char *text = NULL;
    int rc = rt_chat_format(m, NULL, msgs, n, true, &text, err, errlen);
    free(user);
    if (rc != 0) return -1;
    rc = rt_tokenize(m, text, strlen(text), true, true, ids, n_ids, err, errlen);
    free(text);
    if (rc != 0) return -1;
    /* templates that spell out BOS themselves would otherwise get two */
    int32_t bos = rt_model_bos(m);
    if (*n_ids >= 2 && bos >= 0 && (*ids)[0] == bos && (*ids)[1] == bos) {
        memmove(*ids, *ids + 1, (*n_ids - 1) * sizeof(int32_t));
        (*n_ids)--;
    }
    return 0;
}

typedef struct {
    char *buf;
    size_t len, cap;
    uint32_t tokens;
    wb_progress_fn progress;
    void *ud;
    int stopped;
    emb_slot *slot; /* its prefill ends with the first token */
} emb_gen;

static int emb_on_token(void *ud, int32_t id, const char *piece, size_t len)
{
    emb_gen *g = ud;
    (void)id;
    if (g->len + len + 1 > g->cap) {
        size_t cap = (g->cap ? g->cap * 2 : 256) + len;
        char *nb = realloc(g->buf, cap);
        if (!nb) return 1;
        g->buf = nb;
        g->cap = cap;
    }
    memcpy(g->buf + g->len, piece, len);
    g->len += len;
    g->buf[g->len] = 0;
    g->tokens++;
    if (g->tokens == 1) emb_prefill_done(g->slot);
    if (g->progress && g->progress(g->ud, g->tokens, g->buf, g->len)) {
        g->stopped = 1;
        return 1;
    }
    return 0;
}

static int emb_run(void *slot, const wb_task *t, wb_progress_fn progress, void *ud, char **output,
                   uint32_t *tokens, char *err, size_t errlen)
{
    emb_slot *s = slot;
    const rt_model *m = s->b->model;
    int32_t n_ctx = s->b->n_ctx;
    int32_t max_new = (int32_t)t->max_tokens;
    if (max_new <= 0) max_new = 1;
    if (max_new >= n_ctx) {
        snprintf(err, errlen, "budget.max_tokens %d does not fit the model context of %d tokens",
                 max_new, n_ctx);
        return -1;
    }
    int32_t *ids = NULL;
    size_t n_ids = 0;
    char *input = strdup(t->input ? t->input : "");
    if (!input) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t full_len = strlen(input), kept_len = full_len;
    /* Shorten an oversized item a few times, proportionally to the overflow. */
    for (int tries = 0;; tries++) {
        if (emb_prompt(m, t, input, &ids, &n_ids, err, errlen) != 0) {
            free(input);
            return -1;
        }
        size_t room = (size_t)(n_ctx - max_new);
        if (n_ids <= room) break;
        size_t ilen = strlen(input);
        size_t over = n_ids - room;
        free(ids);
        ids = NULL;
        if (tries >= 6 || ilen == 0) {
            snprintf(err, errlen,
                     "prompt is %zu tokens; with max_tokens %d it does not fit the context of %d",
                     n_ids, max_new, n_ctx);
            free(input);
            return -1;
        }
        /* tokens are at least ~1 byte: drop over*4 bytes plus a margin */
        size_t drop = over * 4 + 64;
        size_t keep = ilen > drop ? ilen - drop : 0;
        while (keep > 0 && ((unsigned char)input[keep] & 0xC0) == 0x80)
            keep--;
        const char mark[] = "\n[... truncated]";
        char *ni = malloc(keep + sizeof(mark));
        if (!ni) {
            free(input);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        memcpy(ni, input, keep);
        memcpy(ni + keep, mark, sizeof(mark));
        free(input);
        input = ni;
        kept_len = keep;
    }
    free(input);

    /* sub-tasks of a job share the system prompt and the instructions'
     * head: the batch engine reuses the KV of the longest common prefix
     * (a slot's last task or the prefix cache) and evaluates only the rest */
    rt_batch *bt = emb_batch(s->b, err, errlen);
    if (!bt) {
        free(ids);
        return -1;
    }
    emb_gen g = {.progress = progress, .ud = ud, .slot = s};
    rt_batch_request rq = {.prompt = ids, .n_prompt = n_ids};
    rq.sampling = rt_sampler_default_params();
    rq.sampling.temperature = t->temperature;
    rq.sampling.seed = t->seed;
    rq.gen = (rt_generate_params){
        .n_predict = max_new, .stop_at_eog = true, .on_token = emb_on_token, .ud = &g};
    rt_batch_result res;
    emb_prefill_wait(s, ids, n_ids);
    double t_submit = s->b->trace ? emb_now_s() : 0;
    int rc = rt_batch_generate(bt, &rq, &res);
    emb_prefill_done(s);
    free(ids);
    if (s->b->trace) emb_trace(s->b, s->index, t_submit, emb_now_s(), &res, n_ids, g.tokens);
    if (rc < 0) snprintf(err, errlen, "%s", res.err);
    rt_batch_result_free(&res);
    if (rc != 0 && !g.stopped) {
        free(g.buf);
        return -1;
    }
    char *text = wb_utf8_sanitize(g.buf ? g.buf : "", g.len);
    free(g.buf);
    *output = text;
    if (text && kept_len < full_len) {
        char head[160];
        int hn = snprintf(head, sizeof(head),
                          "[input truncated to fit the model context: kept %zu of %zu bytes]\n",
                          kept_len, full_len);
        size_t tn = strlen(text);
        *output = malloc((size_t)hn + tn + 1);
        if (*output) {
            memcpy(*output, head, (size_t)hn);
            memcpy(*output + hn, text, tn + 1);
        }
        free(text);
    }
    *tokens = g.tokens;
    if (!*output) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return g.stopped ? 1 : 0;
}

/* ---- agent steps ---- */

static char *emb_tools_key(const char *family, const rt_tool_def *tools, size_t n)
{
    size_t len = strlen(family) + 2;
    for (size_t i = 0; i < n; i++)
        len += strlen(tools[i].name) + (tools[i].parameters ? strlen(tools[i].parameters) : 0) + 2;
    char *k = malloc(len), *p = k;
    if (!k) return NULL;
    p += sprintf(p, "%s\n", family);
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s\n%s\n", tools[i].name, tools[i].parameters ? tools[i].parameters : "");
    *p = 0;
    return k;
}

static const rt_grammar *emb_tool_grammar(emb_slot *s, const char *family,
                                          const agent_model_req *req, char *err, size_t errlen)
{
    emb_grammar *eg = &s->gram[req->choice];
    char *key = emb_tools_key(family, req->tools, req->n_tools);
    if (!key) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (eg->g && eg->key && strcmp(eg->key, key) == 0) {
        free(key);
        return eg->g;
    }
    char *gbnf = NULL;
    rt_grammar *g = NULL;
    if (rt_chat_tool_grammar(family, req->tools, req->n_tools, req->choice, NULL, &gbnf, err,
                             errlen) != 0 ||
        rt_grammar_from_gbnf(gbnf, strlen(gbnf), NULL, &g, err, errlen) != 0) {
        free(gbnf);
        free(key);
        return NULL;
    }
    free(gbnf);
    free(eg->key);
    rt_grammar_free(eg->g);
    eg->key = key;
    eg->g = g;
    return g;
}

/* The conversation rendered by the model's own template with the tools,
 * the reply sampled under the family's tool grammar (so it always parses)
 * and split back into calls and text. */
static int emb_chat(void *slot, const agent_model_req *req, float temperature, uint64_t seed,
                    agent_reply *out, uint64_t *retry_after_ms, char *err, size_t errlen)
{
    emb_slot *s = slot;
    const rt_model *m = s->b->model;
    (void)retry_after_ms;
    const char *family = rt_chat_family(m, NULL);
    if (!family) {
        snprintf(err, errlen, "model %s has no chat template family for tool calls",
                 rt_model_name(m));
        return -1;
    }
    const rt_grammar *g = NULL;
    const char *tmpl = NULL; /* NULL: the model's own template */
    if (req->n_tools > 0 && !(g = emb_tool_grammar(s, family, req, err, errlen))) {
        /* older templates without a tool-call format (Mistral v0.1, DeepSeek
         * V2): use their family's tool-calling successor, whose markers the
         * grammar then forces, rather than refusing the agent */
        const char *next = strcmp(family, "mistral") == 0    ? "mistral-v3"
                           : strcmp(family, "deepseek") == 0 ? "deepseek3"
                                                             : "chatml";
        char err2[256];
        if (!(g = emb_tool_grammar(s, next, req, err2, sizeof err2))) return -1;
        family = tmpl = next;
    }
    char *text = NULL;
    if (rt_chat_format_tools(m, tmpl, req->msgs, req->n_msgs, req->tools, req->n_tools, true, &text,
                             err, errlen) != 0)
        return -1;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int rc = rt_tokenize(m, text, strlen(text), true, true, &ids, &n_ids, err, errlen);
    free(text);
    if (rc != 0) return -1;
    int32_t bos = rt_model_bos(m);
    if (n_ids >= 2 && bos >= 0 && ids[0] == bos && ids[1] == bos) {
        memmove(ids, ids + 1, (n_ids - 1) * sizeof(int32_t));
        n_ids--;
    }
    int32_t n_ctx = s->b->n_ctx;
    int32_t max_new = req->max_tokens > 0 ? (int32_t)req->max_tokens : 1;
    if ((int64_t)n_ids + max_new > n_ctx) {
        free(ids);
        snprintf(err, errlen,
                 "step %u: the conversation is %zu tokens; with %d to generate it does not fit the "
                 "context of %d",
                 req->step, n_ids, (int)max_new, (int)n_ctx);
        return AGENT_MODEL_CTX_FULL;
    }
    rt_batch *bt = emb_batch(s->b, err, errlen);
    if (!bt) {
        free(ids);
        return -1;
    }
    rt_batch_request rq = {.prompt = ids, .n_prompt = n_ids, .grammar = g};
    rq.sampling = rt_sampler_default_params();
    rq.sampling.temperature = temperature;
    rq.sampling.seed = seed + req->step; /* a fresh stream per step, reproducible per seed */
    rq.grammar_opts = (rt_grammar_opts){.allow_special_text = true};
    rq.gen = (rt_generate_params){.n_predict = max_new, .stop_at_eog = true};
    rt_batch_result res;
    rc = rt_batch_generate(bt, &rq, &res);
    free(ids);
    if (rc != 0) {
        snprintf(err, errlen, "%s", res.err);
        rt_batch_result_free(&res);
        return -1;
    }
    size_t n_out = res.n_ids;
    char *gen = res.text;
    res.text = NULL;
    rt_batch_result_free(&res);
    out->tokens = (uint32_t)n_out;
    if (req->n_tools == 0) {
        out->content = wb_utf8_sanitize(gen ? gen : "", gen ? strlen(gen) : 0);
        free(gen);
        if (!out->content) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        return 0;
    }
    rc = rt_chat_parse_tool_calls(family, gen ? gen : "", gen ? strlen(gen) : 0, &out->calls,
                                  &out->n_calls, &out->content, err, errlen);
    free(gen);
    return rc == 0 ? 0 : -1;
}

/* The loop compacts well before the context is full: tool definitions and
 * the template's markup take their share, and tokens average a few bytes. */
static size_t emb_ctx_chars(void *slot)
{
    emb_slot *s = slot;
    return (size_t)s->b->n_ctx * 2;
}

/* The batch engine's prefix-cache counters, for the worker's Heartbeat. */
static int emb_cache_stats(void *impl, wb_cache_stats *st)
{
    emb_backend *b = impl;
    rt_batch_stats bs;
    pthread_mutex_lock(&b->mu);
    rt_batch *bt = b->batch;
    if (bt) rt_batch_get_stats(bt, &bs);
    pthread_mutex_unlock(&b->mu);
    if (!bt) return -1; /* no task ran yet: nothing to report */
    st->lookups = bs.pc_lookups;
    st->hits = bs.pc_hits;
    st->tokens_reused = bs.pc_tokens_reused;
    st->bytes = bs.pc_bytes;
    st->max_bytes = bs.pc_bytes_max;
    return 0;
}

const wb_ops wb_embedded_ops = {
    .kind = "embedded",
    .open = emb_open,
    .close = emb_close,
    .slot_new = emb_slot_new,
    .slot_free = emb_slot_free,
    .run = emb_run,
    .chat = emb_chat,
    .ctx_chars = emb_ctx_chars,
    .cache_stats = emb_cache_stats,
};
