/* backend_embedded.c - runs sub-tasks on the embedded MoE engine (runtime/rt.h).
 *
 * The model is loaded once per worker and shared read-only by every slot;
 * each slot owns an rt_session (its KV cache) and makes a fresh sampler per
 * task so a task's output depends only on its prompt, seed and temperature.
 * A slot keeps its KV between tasks: the next task reuses the longest common
 * prompt prefix (the job's system prompt and instruction head) instead of
 * evaluating it again.
 * An item too long for the context is shortened (and marked as such) rather
 * than failing the task: a summary of a truncated file is still useful. The
 * output then starts with a "[input truncated ...]" line, so the cut is
 * flagged in the job's result (docs/JOBS.md) and not only in the prompt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_internal.h"
#include "rt.h"

typedef struct {
    rt_model *model;
} emb_backend;

/* Tool grammars compiled for the last tool set, one per tool choice: an
 * agent offers the same tools every step, so each is compiled once. */
typedef struct {
    char *key; /* the family, the tools' names and schemas */
    rt_grammar *g;
} emb_grammar;

typedef struct {
    emb_backend *b;
    rt_session *sess;
    emb_grammar gram[RT_TOOL_CHOICE_NAMED + 1];
} emb_slot;

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
    const char *name = rt_model_name(b->model);
    size_t n = strlen(name) + strlen(rt_model_arch(b->model)) + 32;
    *model_name = malloc(n);
    if (*model_name) {
        if (n_ctx > 0)
            snprintf(*model_name, n, "%s (%s, ctx %d)", name, rt_model_arch(b->model), (int)n_ctx);
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
    rt_model_free(b->model);
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
    if (rt_session_new(s->b->model, 0, &s->sess, err, errlen) != 0) {
        free(s);
        return -1;
    }
    *slot = s;
    return 0;
}

static void emb_slot_free(void *slot)
{
    emb_slot *s = slot;
    if (!s) return;
    for (size_t i = 0; i < sizeof s->gram / sizeof s->gram[0]; i++) {
        free(s->gram[i].key);
        rt_grammar_free(s->gram[i].g);
    }
    rt_session_free(s->sess);
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
    int32_t n_ctx = rt_session_n_ctx(s->sess);
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
     * head: keep the KV of the longest common prefix with the slot's last
     * task and evaluate only the rest */
    size_t keep = rt_session_reuse_prefix(s->sess, ids, n_ids);
    rt_sampler_params sp = rt_sampler_default_params();
    sp.temperature = t->temperature;
    sp.seed = t->seed;
    rt_sampler *smp = rt_sampler_new(&sp);
    if (!smp) {
        free(ids);
        snprintf(err, errlen, "out of memory (sampler)");
        return -1;
    }
    emb_gen g = {.progress = progress, .ud = ud};
    rt_generate_params gp = {
        .n_predict = max_new, .stop_at_eog = true, .on_token = emb_on_token, .ud = &g};
    int rc =
        rt_generate(s->sess, smp, ids + keep, n_ids - keep, &gp, NULL, NULL, NULL, err, errlen);
    if (rc != 0) rt_session_reset(s->sess); /* never reuse a half-written context */
    rt_sampler_free(smp);
    free(ids);
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
    int32_t n_ctx = rt_session_n_ctx(s->sess);
    int32_t max_new = req->max_tokens > 0 ? (int32_t)req->max_tokens : 1;
    if ((int64_t)n_ids + max_new > n_ctx) {
        free(ids);
        snprintf(err, errlen,
                 "step %u: the conversation is %zu tokens; with %d to generate it does not fit the "
                 "context of %d",
                 req->step, n_ids, (int)max_new, (int)n_ctx);
        return AGENT_MODEL_CTX_FULL;
    }
    size_t keep = rt_session_reuse_prefix(s->sess, ids, n_ids);
    rt_sampler_params sp = rt_sampler_default_params();
    sp.temperature = temperature;
    sp.seed = seed + req->step; /* a fresh stream per step, reproducible per seed */
    rt_sampler *smp = rt_sampler_new(&sp);
    if (!smp) {
        free(ids);
        snprintf(err, errlen, "out of memory (sampler)");
        return -1;
    }
    rt_grammar_opts go = {.allow_special_text = true};
    if (g && rt_sampler_set_grammar_opts(smp, m, g, &go, err, errlen) != 0) {
        rt_sampler_free(smp);
        free(ids);
        return -1;
    }
    size_t n_out = 0;
    char *gen = NULL;
    rt_generate_params gp = {.n_predict = max_new, .stop_at_eog = true};
    rc = rt_generate(s->sess, smp, ids + keep, n_ids - keep, &gp, NULL, &n_out, &gen, err, errlen);
    rt_sampler_free(smp);
    free(ids);
    if (rc != 0) {
        rt_session_reset(s->sess);
        free(gen);
        return -1;
    }
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
    return (size_t)rt_session_n_ctx(s->sess) * 2;
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
};
