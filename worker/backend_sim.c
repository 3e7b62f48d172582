/* backend_sim.c - SIMULATED engine for scale tests of the orchestration only.
 *
 * It loads no model and runs no inference: it emits deterministic fake
 * "tokens" (words picked by a hash of the prompt, seed and position) with a
 * fixed delay per token, so thousands of sub-tasks can exercise swarmd, Redis
 * and the worker protocol quickly. Its output says "[sim]" so nobody mistakes
 * it for a model's answer. Never the default engine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend_internal.h"

typedef struct {
    long token_us; /* delay per fake token */
} sim_backend;

static int sim_open(const char *model_path, int threads, void **impl, char **model_name, char *err,
                    size_t errlen)
{
    (void)model_path;
    (void)threads;
    sim_backend *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    b->token_us = 1000;
    const char *e = getenv("SWARM_SIM_TOKEN_US");
    if (e && *e) b->token_us = strtol(e, NULL, 10);
    if (b->token_us < 0) b->token_us = 0;
    *model_name = strdup("sim (simulated engine, no model)");
    *impl = b;
    return 0;
}

static void sim_close(void *impl)
{
    free(impl);
}

static int sim_slot_new(void *impl, void **slot, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    *slot = impl;
    return 0;
}

static void sim_slot_free(void *slot)
{
    (void)slot;
}

static uint64_t sim_hash(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static int sim_run(void *slot, const wb_task *t, wb_progress_fn progress, void *ud, char **output,
                   uint32_t *tokens, char *err, size_t errlen)
{
    static const char *const words[] = {"alpha", "beta",  "gamma", "delta", "omega", "swarm",
                                        "agent", "task",  "merge", "token", "lease", "queue",
                                        "redis", "model", "ready", "done"};
    sim_backend *b = slot;
    uint64_t h = sim_hash(0xcbf29ce484222325ull ^ t->seed, t->goal);
    h = sim_hash(h, t->instructions);
    h = sim_hash(h, t->input);
    uint32_t n = t->max_tokens ? t->max_tokens : 1;
    size_t cap = 8 + (size_t)n * 8, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    len = (size_t)snprintf(buf, cap, "[sim]");
    int stopped = 0;
    uint32_t i;
    for (i = 0; i < n; i++) {
        if (b->token_us > 0) {
            struct timespec ts = {b->token_us / 1000000, (b->token_us % 1000000) * 1000};
            nanosleep(&ts, NULL);
        }
        h = (h ^ i) * 0x100000001b3ull;
        len += (size_t)snprintf(buf + len, cap - len, " %s", words[(h >> 33) % 16]);
        if (progress && progress(ud, i + 1, buf, len)) {
            stopped = 1;
            i++;
            break;
        }
    }
    *output = buf;
    *tokens = i;
    return stopped ? 1 : 0;
}

const wb_ops wb_sim_ops = {
    .kind = "sim",
    .open = sim_open,
    .close = sim_close,
    .slot_new = sim_slot_new,
    .slot_free = sim_slot_free,
    .run = sim_run,
};
