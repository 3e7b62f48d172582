/* backend.h - what a worker slot runs a sub-task on.
 *
 * A backend is opened once per worker process (the model is loaded once and
 * shared read-only); each agent slot owns a backend slot (its own session and
 * sampler). Two kinds exist: "embedded" (the real MoE engine, runtime/include/rt.h)
 * and "sim" (a clearly labelled simulated engine that emits deterministic fake
 * tokens with a delay, for scale tests of the orchestration only).
 *
 * Agent sub-tasks (worker/agent/loop.h) need one chat step at a time
 * (wb_slot_chat): "embedded" renders the conversation with the model's own
 * template and constrains the reply by the family's tool grammar, "http"
 * asks an OpenAI-compatible server (backend_http.c) and "replay" plays a
 * recorded trajectory (backend_replay.c, clearly labelled like "sim"). */
#ifndef SWARM_WORKER_BACKEND_H
#define SWARM_WORKER_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

typedef struct wb_backend wb_backend;
typedef struct wb_slot wb_slot;

typedef struct {
    const char *goal;         /* system context */
    const char *instructions; /* "{item}" is replaced by input */
    const char *input;
    uint32_t max_tokens;
    float temperature;
    uint64_t seed;
} wb_task;

/* Called every few tokens with the count so far and the whole text so far;
 * return non-zero to stop generation (cancel). */
typedef int (*wb_progress_fn)(void *ud, uint32_t tokens, const char *text, size_t len);

/* kind: "embedded" or "sim". threads: engine threads per eval (0 = runtime default). */
int wb_backend_open(const char *kind, const char *model_path, int threads, wb_backend **out,
                    char *err, size_t errlen);

/* What the http and replay kinds need besides a model path. */
typedef struct {
    const char *http_url;   /* http: the server's base URL (".../v1" or its root) */
    const char *http_model; /* http: the "model" named in requests (NULL: "default") */
    const char *api_key;    /* http: sent as "Authorization: Bearer"; NULL = none */
    const char *replay;     /* replay: the trajectory file (JSON lines) */
} wb_backend_opts;

/* kind: "embedded", "sim", "http" or "replay". */
int wb_backend_open_opts(const char *kind, const char *model_path, int threads,
                         const wb_backend_opts *opts, wb_backend **out, char *err, size_t errlen);
/* Whether the kind can run agent steps (wb_slot_chat). */
int wb_backend_has_chat(const wb_backend *b);
void wb_backend_free(wb_backend *b);
const char *wb_backend_kind(const wb_backend *b);
const char *wb_backend_model_name(const wb_backend *b);

int wb_slot_new(wb_backend *b, wb_slot **out, char *err, size_t errlen);
void wb_slot_free(wb_slot *s);

/* Runs one sub-task. On success *output is malloc'ed valid UTF-8 and *tokens
 * the number generated. Returns 1 when the progress callback stopped it. */
int wb_slot_run(wb_slot *s, const wb_task *t, wb_progress_fn progress, void *ud, char **output,
                uint32_t *tokens, char *err, size_t errlen);

/* One agent step (loop.h's agent_model.complete contract): 0, a negative
 * error, AGENT_MODEL_PAUSED (err = the reason, *retry_after_ms) or
 * AGENT_MODEL_CTX_FULL. */
int wb_slot_chat(wb_slot *s, const agent_model_req *req, float temperature, uint64_t seed,
                 agent_reply *out, uint64_t *retry_after_ms, char *err, size_t errlen);
/* Conversation bytes at which the agent loop should compact (0 = its default). */
size_t wb_slot_ctx_chars(const wb_slot *s);

/* The backend's shared prefix cache (the embedded engine's): counters since
 * it opened. Returns 0 when filled, < 0 when the kind has none (yet). */
typedef struct {
    uint64_t lookups, hits, tokens_reused, bytes, max_bytes;
} wb_cache_stats;
int wb_backend_cache_stats(wb_backend *b, wb_cache_stats *st);

/* Shared helpers (backend_util.c). */
/* instructions with every "{item}" replaced by input; malloc'ed. */
char *wb_prompt_expand(const char *instructions, const char *input);
/* Copy of buf[0..len) with invalid UTF-8 sequences replaced by U+FFFD; malloc'ed. */
char *wb_utf8_sanitize(const char *buf, size_t len);

#endif
