/* client.h - the swarm CLI's side of swarmd's client endpoint, and the
 * launcher that starts/stops a local swarm in a state directory.
 *
 * The CLI is a thin main (main.c) over this library: cli_client sends one
 * request Envelope at a time over a DEALER socket and waits for the reply
 * with the same correlation id; cli_up/cli_down manage the processes
 * (redis-server, swarmd, swarm-workers) through pid files in the state dir. */
#ifndef SWARM_CLI_CLIENT_H
#define SWARM_CLI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

typedef struct {
    void *ctx;
    void *sock;
    struct curve_watch *watch; /* tcp:// only: turns a refused key into an error */
    char endpoint[1100];
    char sender[64];
    uint64_t corr;
} cli_client;

int cli_client_open(cli_client *c, const char *endpoint, char *err, size_t errlen);
void cli_client_close(cli_client *c);

/* Send req (payload set by the caller; version/sender/correlation filled in
 * here) and wait up to timeout_ms for its reply. Returns 0 with *reply (free
 * with wire_free), -1 on timeout/transport error, or -2 when swarmd answered
 * with Error (err holds its message, *code its code). */
int cli_client_call(cli_client *c, Swarm__Envelope *req, int timeout_ms, Swarm__Envelope **reply,
                    uint32_t *code, char *err, size_t errlen);

/* Status request helper: job_id NULL = all jobs. */
int cli_client_status(cli_client *c, const char *job_id, bool with_result, bool with_tasks,
                      int timeout_ms, Swarm__Envelope **reply, uint32_t *code, char *err,
                      size_t errlen);

/* Status of one job, answered by swarmd as soon as the job has ended and its
 * result is stored, or after wait_ms: the end of a job is pushed, not polled. */
int cli_client_status_wait(cli_client *c, const char *job_id, uint32_t wait_ms, int timeout_ms,
                           Swarm__Envelope **reply, uint32_t *code, char *err, size_t errlen);

/* The whole merged result of job_id, read in pages (Status with_result and an
 * offset) so no reply is ever larger than a page. Returns 0 with *out
 * (malloc'd, NUL-terminated, *len bytes), 1 when the job has no result yet
 * (*state says its state), -1/-2 as cli_client_call. */
int cli_client_result(cli_client *c, const char *job_id, int timeout_ms, char **out, size_t *len,
                      char *state, size_t state_len, uint32_t *code, char *err, size_t errlen);

/* ---- launcher (launcher.c) ---- */

typedef struct {
    char state[128];   /* absolute state directory (unix socket paths must stay short) */
    char bindir[1024]; /* where swarm, swarmd, swarm-worker, swarm-infer live */
} cli_env;

/* --state DIR, else $SWARM_STATE, else $HOME/.swarm; made absolute. */
int cli_env_init(cli_env *e, const char *state_opt, char *err, size_t errlen);
/* ipc://STATE/client.ipc unless $SWARM_ENDPOINT is set. */
void cli_env_client_endpoint(const cli_env *e, char *out, size_t cap);

typedef struct {
    int workers;        /* N */
    int slots;          /* K per worker */
    int threads;        /* engine threads per worker, 0 = cores / (N*K) */
    const char *model;  /* NULL = STATE/models/default.gguf (made once) */
    const char *engine; /* "embedded" or "sim" */
    const char *http;   /* swarmd --http ADDR, NULL = no HTTP server */
    bool quiet;
} cli_up_opts;

/* 1 if this state dir has a live swarmd, else 0. */
int cli_swarm_running(const cli_env *e);
int cli_up(const cli_env *e, const cli_up_opts *o, char *err, size_t errlen);
/* Stops everything the pid files name; *stopped = processes signalled. */
int cli_down(const cli_env *e, bool quiet, int *stopped, char *err, size_t errlen);

#endif
