/* backend.c - picks a backend kind by name and forwards to its table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_internal.h"

struct wb_backend {
    const wb_ops *ops;
    void *impl;
    char *model_name;
};

struct wb_slot {
    wb_backend *b;
    void *impl;
};

int wb_backend_open(const char *kind, const char *model_path, int threads, wb_backend **out,
                    char *err, size_t errlen)
{
    wb_backend_opts none = {0};
    return wb_backend_open_opts(kind, model_path, threads, &none, out, err, errlen);
}

int wb_backend_open_opts(const char *kind, const char *model_path, int threads,
                         const wb_backend_opts *opts, wb_backend **out, char *err, size_t errlen)
{
    const wb_ops *ops = NULL;
    *out = NULL;
    if (!kind || strcmp(kind, "embedded") == 0)
        ops = &wb_embedded_ops;
    else if (strcmp(kind, "sim") == 0)
        ops = &wb_sim_ops;
    else if (strcmp(kind, "http") == 0)
        ops = &wb_http_ops;
    else if (strcmp(kind, "replay") == 0)
        ops = &wb_replay_ops;
    else {
        snprintf(err, errlen, "--engine: unknown engine \"%s\" (use embedded, http, sim or replay)",
                 kind);
        return -1;
    }
    wb_backend *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    b->ops = ops;
    int orc = ops->open_opts
                  ? ops->open_opts(model_path, threads, opts, &b->impl, &b->model_name, err, errlen)
                  : ops->open(model_path, threads, &b->impl, &b->model_name, err, errlen);
    if (orc != 0) {
        free(b);
        return -1;
    }
    *out = b;
    return 0;
}

void wb_backend_free(wb_backend *b)
{
    if (!b) return;
    b->ops->close(b->impl);
    free(b->model_name);
    free(b);
}

const char *wb_backend_kind(const wb_backend *b)
{
    return b->ops->kind;
}

const char *wb_backend_model_name(const wb_backend *b)
{
    return b->model_name ? b->model_name : "";
}

int wb_backend_cache_stats(wb_backend *b, wb_cache_stats *st)
{
    memset(st, 0, sizeof *st);
    return b->ops->cache_stats ? b->ops->cache_stats(b->impl, st) : -1;
}

int wb_slot_new(wb_backend *b, wb_slot **out, char *err, size_t errlen)
{
    wb_slot *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->b = b;
    if (b->ops->slot_new(b->impl, &s->impl, err, errlen) != 0) {
        free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void wb_slot_free(wb_slot *s)
{
    if (!s) return;
    s->b->ops->slot_free(s->impl);
    free(s);
}

int wb_slot_run(wb_slot *s, const wb_task *t, wb_progress_fn progress, void *ud, char **output,
                uint32_t *tokens, char *err, size_t errlen)
{
    *output = NULL;
    *tokens = 0;
    return s->b->ops->run(s->impl, t, progress, ud, output, tokens, err, errlen);
}

int wb_backend_has_chat(const wb_backend *b)
{
    return b->ops->chat != NULL;
}

int wb_slot_chat(wb_slot *s, const agent_model_req *req, float temperature, uint64_t seed,
                 agent_reply *out, uint64_t *retry_after_ms, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    *retry_after_ms = 0;
    if (!s->b->ops->chat) {
        snprintf(err, errlen,
                 "the %s engine cannot run agent sub-tasks (use embedded, http or replay)",
                 s->b->ops->kind);
        return -1;
    }
    return s->b->ops->chat(s->impl, req, temperature, seed, out, retry_after_ms, err, errlen);
}

size_t wb_slot_ctx_chars(const wb_slot *s)
{
    return s->b->ops->ctx_chars ? s->b->ops->ctx_chars(s->impl) : 0;
}
