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
    const wb_ops *ops = NULL;
    *out = NULL;
    if (!kind || strcmp(kind, "embedded") == 0)
        ops = &wb_embedded_ops;
    else if (strcmp(kind, "sim") == 0)
        ops = &wb_sim_ops;
    else {
        snprintf(err, errlen, "--engine: unknown engine \"%s\" (use embedded or sim)", kind);
        return -1;
    }
    wb_backend *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    b->ops = ops;
    if (ops->open(model_path, threads, &b->impl, &b->model_name, err, errlen) != 0) {
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
