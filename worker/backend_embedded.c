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

typedef struct {
    emb_backend *b;
    rt_session *sess;
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

const wb_ops wb_embedded_ops = {
    .kind = "embedded",
    .open = emb_open,
    .close = emb_close,
    .slot_new = emb_slot_new,
    .slot_free = emb_slot_free,
    .run = emb_run,
};
