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
#include "zmtp.h"

/* One request/reply exchange, kept for SWARM_TIMING=1 (cli_client_timing). */
typedef struct {
    const char *kind;     /* submit, upload, status, wait, result, other */
    uint32_t us;          /* send to matching reply, microseconds */
    uint32_t reply_bytes; /* the reply's encoded size */
    double at;            /* when the reply arrived, swarm_clock_sec() */
} cli_exchange;

#define CLI_MAX_TRACE 32

typedef struct {
    /* ipc:// (a local swarmd): ZMTP spoken directly (zmtp.h), no libzmq
     * context; SWARM_CLIENT_LIBZMQ=1 or any other endpoint: libzmq */
    bool direct;
    cli_zmtp z;
    void *ctx;
    void *sock;
    struct curve_watch *watch; /* tcp:// only: turns a refused key into an error */
    char endpoint[1100];
    char sender[64];
    uint64_t corr;
    /* SWARM_TIMING=1: what each exchange cost, to find round trips to remove */
    bool timing;
    double opened;    /* swarm_clock_sec() at cli_client_open */
    double submitted; /* just before the first Submit (or SubmitBegin) was sent; 0 = none */
    uint32_t n_calls, n_trace;
    uint64_t max_reply; /* largest reply's encoded size (all calls) */
    cli_exchange trace[CLI_MAX_TRACE];
} cli_client;

int cli_client_open(cli_client *c, const char *endpoint, char *err, size_t errlen);
void cli_client_close(cli_client *c);

/* Send req (payload set by the caller; version/sender/correlation filled in
 * here) and wait up to timeout_ms for its reply. Returns 0 with *reply (free
 * with wire_free), -1 on timeout/transport error, or -2 when swarmd answered
 * with Error (err holds its message, *code its code). */
int cli_client_call(cli_client *c, Swarm__Envelope *req, int timeout_ms, Swarm__Envelope **reply,
                    uint32_t *code, char *err, size_t errlen);

/* The second answer to request corr: a Submit with wait_ms whose first answer
 * said held (Status.held). Waits up to timeout_ms; returns as cli_client_call. */
int cli_client_await(cli_client *c, uint64_t corr, int timeout_ms, Swarm__Envelope **reply,
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

/* With SWARM_TIMING=1 (c->timing), one line to stderr: what `label` measured
 * (submit_to_result for run: from just before Submit was sent to the merged
 * result in hand; wait_to_end for wait), then each exchange (kind:us/bytes),
 * how many came after the Submit, and the largest reply. Contract output on
 * stdout is unchanged. */
void cli_client_timing(const cli_client *c, const char *label, double from, double to);

/* cli_client_status_wait, and the reply carries the first page of the
 * merged result once the job has ended: a small job's whole result comes
 * with the pushed end, in one reply (no reply is ever more than a page). */
int cli_client_status_wait_result(cli_client *c, const char *job_id, uint32_t wait_ms,
                                  int timeout_ms, Swarm__Envelope **reply, uint32_t *code,
                                  char *err, size_t errlen);

/* cli_client_result starting from a page already in hand (first, may be
 * NULL): only the rest of the result is requested, page by page. */
int cli_client_result_from(cli_client *c, const char *job_id, const Swarm__JobStatus *first,
                           int timeout_ms, char **out, size_t *len, char *state, size_t state_len,
                           uint32_t *code, char *err, size_t errlen);

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
