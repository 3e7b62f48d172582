/* backend_replay.c - the REPLAY engine: plays a recorded trajectory back.
 *
 * Clearly labelled like "sim": no model runs. The trajectory is a JSON-lines
 * file of model outputs, one per agent step - the same shape as the step
 * records of an agent transcript (worker/agent/loop.c), so a recorded run's
 * transcript replays as is:
 *
 *   {"task_id": "t0003", "step": 2, "content": "...",
 *    "tool_calls": [{"name": "edit_file", "arguments": {...} or "{...}"}],
 *    "delay_ms": 200}
 *
 * A line without task_id (or with "*") serves every task at that step; a
 * task's own line wins. delay_ms holds the step back (to reproduce timing or
 * to let a test kill a worker mid-agent). A step with no recorded output
 * fails the sub-task with a message naming the task and step. Other fields
 * (observations, audit) are ignored. Plain (non-agent) sub-tasks are refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "backend_internal.h"

typedef struct {
    char *task_id; /* NULL: any task */
    uint32_t step;
    cJSON *line;
} rp_entry;

typedef struct {
    char *path;
    rp_entry *v;
    size_t n;
} rp_backend;

static void rp_close(void *impl)
{
    rp_backend *b = impl;
    if (!b) return;
    for (size_t i = 0; i < b->n; i++) {
        free(b->v[i].task_id);
        cJSON_Delete(b->v[i].line);
    }
    free(b->v);
    free(b->path);
    free(b);
}

static int rp_load(rp_backend *b, char *err, size_t errlen)
{
    FILE *f = fopen(b->path, "r");
    if (!f) {
        snprintf(err, errlen, "--replay %s: %s", b->path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, cap_v = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
            line[--len] = 0;
        if (len == 0 || line[0] == '#') continue;
        cJSON *o = cJSON_Parse(line);
        const cJSON *step = cJSON_GetObjectItemCaseSensitive(o, "step");
        if (!cJSON_IsObject(o) || !cJSON_IsNumber(step) || step->valuedouble < 1) {
            snprintf(err, errlen, "%s:%d: expected a JSON object with \"step\" >= 1", b->path,
                     lineno);
            cJSON_Delete(o);
            rc = -1;
            break;
        }
        if (b->n == cap_v) {
            cap_v = cap_v ? cap_v * 2 : 64;
            rp_entry *nv = realloc(b->v, cap_v * sizeof *nv);
            if (!nv) {
                cJSON_Delete(o);
                snprintf(err, errlen, "out of memory");
                rc = -1;
                break;
            }
            b->v = nv;
        }
        const cJSON *tid = cJSON_GetObjectItemCaseSensitive(o, "task_id");
        rp_entry *e = &b->v[b->n++];
        e->task_id = cJSON_IsString(tid) && strcmp(tid->valuestring, "*") != 0
                         ? strdup(tid->valuestring)
                         : NULL;
        e->step = (uint32_t)step->valuedouble;
        e->line = o;
    }
    free(line);
    fclose(f);
    if (rc == 0 && b->n == 0) {
        snprintf(err, errlen, "--replay %s: no recorded steps", b->path);
        rc = -1;
    }
    return rc;
}

static int rp_open_opts(const char *model_path, int threads, const wb_backend_opts *o, void **impl,
                        char **model_name, char *err, size_t errlen)
{
    (void)model_path;
    (void)threads;
    if (!o || !o->replay || !*o->replay) {
        snprintf(err, errlen, "--engine replay needs --replay FILE (a recorded trajectory)");
        return -1;
    }
    rp_backend *b = calloc(1, sizeof *b);
    if (!b || !(b->path = strdup(o->replay))) {
        free(b);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (rp_load(b, err, errlen) != 0) {
        rp_close(b);
        return -1;
    }
    size_t n = strlen(b->path) + 64;
    *model_name = malloc(n);
    if (*model_name) snprintf(*model_name, n, "replay (REPLAYED trajectory %s, no model)", b->path);
    *impl = b;
    return 0;
}

static int rp_open(const char *model_path, int threads, void **impl, char **model_name, char *err,
                   size_t errlen)
{
    return rp_open_opts(model_path, threads, NULL, impl, model_name, err, errlen);
}

static int rp_slot_new(void *impl, void **slot, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    *slot = impl; /* read-only after open: slots share it */
    return 0;
}

static void rp_slot_free(void *slot)
{
    (void)slot;
}

static int rp_run(void *slot, const wb_task *t, wb_progress_fn progress, void *ud, char **output,
                  uint32_t *tokens, char *err, size_t errlen)
{
    (void)slot;
    (void)t;
    (void)progress;
    (void)ud;
    (void)output;
    (void)tokens;
    snprintf(err, errlen,
             "the replay engine only replays agent sub-tasks (the job has no \"agent\")");
    return -1;
}

static const cJSON *rp_find(const rp_backend *b, const char *task_id, uint32_t step)
{
    const cJSON *any = NULL;
    for (size_t i = 0; i < b->n; i++) {
        if (b->v[i].step != step) continue;
        if (b->v[i].task_id && task_id && strcmp(b->v[i].task_id, task_id) == 0)
            return b->v[i].line;
        if (!b->v[i].task_id && !any) any = b->v[i].line;
    }
    return any;
}

static int rp_chat(void *slot, const agent_model_req *req, float temperature, uint64_t seed,
                   agent_reply *out, uint64_t *retry_after_ms, char *err, size_t errlen)
{
    const rp_backend *b = slot;
    (void)temperature;
    (void)seed;
    (void)retry_after_ms;
    const cJSON *line = rp_find(b, req->task_id, req->step);
    if (!line) {
        snprintf(err, errlen, "replay %s: no recorded output for task %s step %u", b->path,
                 req->task_id ? req->task_id : "?", req->step);
        return -1;
    }
    const cJSON *delay = cJSON_GetObjectItemCaseSensitive(line, "delay_ms");
    if (cJSON_IsNumber(delay) && delay->valuedouble > 0) {
        double ms = delay->valuedouble > 600000 ? 600000 : delay->valuedouble;
        struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
                              .tv_nsec = (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6)};
        nanosleep(&ts, NULL);
    }
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(line, "content");
    out->content = strdup(cJSON_IsString(content) ? content->valuestring : "");
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(line, "tool_calls");
    size_t n = cJSON_IsArray(calls) ? (size_t)cJSON_GetArraySize(calls) : 0;
    if (req->choice == RT_TOOL_CHOICE_NONE) n = 0; /* the loop wants an answer now */
    if (n) {
        out->calls = calloc(n, sizeof *out->calls);
        if (!out->calls) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        out->n_calls = n;
        for (size_t i = 0; i < n; i++) {
            const cJSON *c = cJSON_GetArrayItem(calls, (int)i);
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
            const cJSON *args = cJSON_GetObjectItemCaseSensitive(c, "arguments");
            char id[32];
            snprintf(id, sizeof id, "call_%u_%zu", req->step, i);
            out->calls[i].id = strdup(id);
            out->calls[i].name = strdup(cJSON_IsString(name) ? name->valuestring : "");
            out->calls[i].arguments = cJSON_IsString(args)   ? strdup(args->valuestring)
                                      : cJSON_IsObject(args) ? cJSON_PrintUnformatted(args)
                                                             : strdup("{}");
            if (!out->calls[i].id || !out->calls[i].name || !out->calls[i].arguments) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }
    }
    if (!out->content) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(line, "tokens");
    out->tokens = cJSON_IsNumber(tok) ? (uint32_t)tok->valuedouble
                                      : (uint32_t)(1 + strlen(out->content) / 4 + 8 * n);
    return 0;
}

const wb_ops wb_replay_ops = {
    .kind = "replay",
    .open = rp_open,
    .close = rp_close,
    .slot_new = rp_slot_new,
    .slot_free = rp_slot_free,
    .run = rp_run,
    .open_opts = rp_open_opts,
    .chat = rp_chat,
};
