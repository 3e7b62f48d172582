/* swarmd.h - the coordinator's internals, shared by swarmd*.c.
 *
 * swarmd is one libuv loop: two ROUTER sockets (clients, workers) joined via
 * ZMQ_FD + uv_poll, the scheduler's async Redis connection, a 250 ms tick and
 * the signal handlers. The only state it holds that Redis does not is the
 * table of live workers (identity, credit, what it was assigned), which is
 * rebuilt from re-registrations and heartbeats after a restart. */
#ifndef SWARM_SWARMD_H
#define SWARM_SWARMD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <uv.h>

#include "scheduler.h"
#include "wire.h"

#define SWARMD_TICK_MS 250
#define SWARMD_LEASE_BATCH 256        /* most tasks leased in one script call */
#define SWARMD_DRAIN_BATCH 512        /* messages handled before yielding to the loop */
#define SWARMD_COMPLETE_BATCH 256     /* most results stored by one script call */
#define SWARMD_QUARANTINE_AFTER 3     /* leases lost without an answer */
#define SWARMD_RESULT_PAGE (1u << 20) /* most result bytes in one Status reply */
/* A worker's prefetch queue is used only while its sub-tasks take less than
 * this on average: there a Result -> lease -> Assign round trip would idle
 * its slots; longer tasks gain nothing from it and would wait behind
 * another, and their busy count stays at most the slots. */
#define SWARMD_PREFETCH_TASK_MS 50
#define SWARMD_AHEAD_MAX 16 /* most tasks of a job sent ahead of their lease's answer */
#define SWARMD_LIVE_MAX 256 /* jobs remembered as stored and not merged (held Status) */

/* Counters reported in every Status reply (and logged at exit). */
#define SWARMD_COUNTERS(X)                                                                         \
    X(CLIENT_BAD_PARSE, "client.bad_parse")                                                        \
    X(CLIENT_BAD_VERSION, "client.bad_version")                                                    \
    X(CLIENT_BAD_EMPTY, "client.bad_empty")                                                        \
    X(CLIENT_BAD_FRAMES, "client.bad_frames")                                                      \
    X(CLIENT_UNEXPECTED, "client.unexpected")                                                      \
    X(CLIENT_BAD_REQUEST, "client.bad_request")                                                    \
    X(WORKER_BAD_PARSE, "worker.bad_parse")                                                        \
    X(WORKER_BAD_VERSION, "worker.bad_version")                                                    \
    X(WORKER_BAD_EMPTY, "worker.bad_empty")                                                        \
    X(WORKER_BAD_FRAMES, "worker.bad_frames")                                                      \
    X(WORKER_UNEXPECTED, "worker.unexpected")                                                      \
    X(WORKER_BAD_REQUEST, "worker.bad_request")                                                    \
    X(WORKER_UNKNOWN, "worker.unknown_sender")                                                     \
    X(JOBS_SUBMITTED, "jobs.submitted")                                                            \
    X(JOBS_MERGED, "jobs.merged")                                                                  \
    X(JOBS_REMOVED, "jobs.removed")                                                                \
    X(ASSIGNS_SENT, "assigns.sent")                                                                \
    X(ASSIGNS_UNDELIVERABLE, "assigns.undeliverable")                                              \
    X(ASSIGNS_AHEAD, "assigns.ahead")         /* sent before the lease's answer */                 \
    X(ASSIGNS_WITHDRAWN, "assigns.withdrawn") /* ... that the answer did not confirm */            \
    X(RESULTS_ACCEPTED, "results.accepted")                                                        \
    X(RESULTS_RETRY, "results.retry")                                                              \
    X(RESULTS_FAILED, "results.failed")                                                            \
    X(RESULTS_STALE, "results.stale")                                                              \
    X(RESULTS_DUPLICATE, "results.duplicate")                                                      \
    X(RESULTS_UNKNOWN, "results.unknown")                                                          \
    X(RESULTS_REJECTED, "results.rejected")                                                        \
    X(PROGRESS_REJECTED, "progress.rejected")                                                      \
    X(WORKERS_LOST, "workers.lost")                                                                \
    X(WORKERS_RESTARTED, "workers.restarted")                                                      \
    X(WORKERS_QUARANTINED, "workers.quarantined")                                                  \
    X(LEASES_UNANSWERED, "leases.unanswered")                                                      \
    X(LEASES_EXPIRED, "leases.expired")                                                            \
    X(REDIS_ERRORS, "redis.errors")                                                                \
    X(AUTH_ADMITTED, "auth.admitted") /* CURVE handshakes the ZAP handler let in */                \
    X(AUTH_REFUSED, "auth.refused")   /* ... and refused: unlisted keys */

#define SWARMD_X_ENUM(id, name) SWARMD_C_##id,
enum { SWARMD_COUNTERS(SWARMD_X_ENUM) SWARMD_C_COUNT };
#undef SWARMD_X_ENUM

typedef struct swarmd_ref {
    char job[64], task[32];
    uint32_t attempt;
    uint64_t token;
    uint64_t since_ms; /* the loop's monotonic time (uv_now) it was assigned */
    bool answered;     /* the worker listed it, or sent Progress for it */
} swarmd_ref;

typedef struct swarmd_worker {
    uint8_t id[WIRE_MAX_IDENTITY];
    size_t id_len;
    char name[128], hostname[128], model[256];
    uint64_t incarnation; /* from Register: a new one means the process restarted */
    uint32_t slots;
    uint32_t credit;       /* last announced free slots */
    uint32_t since_credit; /* tasks assigned since that announcement */
    /* Register.batch: it takes AssignBatch, and each Result gives a slot
     * back (no Credit per task); prefetch: Assigns it queues beyond slots */
    bool batch;
    uint32_t prefetch;
    uint32_t task_ms; /* running mean of its Results' elapsed_ms: prefetch only for short tasks */
    uint64_t last_seen_ms; /* wall clock (epoch ms) of its last message: shown in Status */
    uint64_t seen_ms;      /* the same on the loop's monotonic time: the liveness check */
    /* Leases it lost without a word (assigned, never listed, no Progress or
     * Result); at SWARMD_QUARANTINE_AFTER it is quarantined: no credit, and
     * what it held does not burn the tasks' attempts. */
    uint32_t unanswered;
    bool quarantined;
    char quarantine_reason[160];
    char sandbox[16]; /* Register.sandbox: "bwrap" or "none" */
    /* prefix-cache counters from its last Heartbeat (has_pc: it sent them) */
    bool has_pc;
    uint64_t pc_lookups, pc_hits, pc_tokens_reused, pc_bytes, pc_max_bytes;
    swarmd_ref *inflight; /* assigned, no Result yet */
    size_t n_inflight, cap_inflight;
} swarmd_worker;

/* Sub-tasks a worker is running: what it holds, less what waits in its
 * prefetch queue (at most its slots; Status, /api and /metrics show this). */
static inline uint32_t swarmd_worker_busy(const swarmd_worker *w)
{
    return w->n_inflight < w->slots ? (uint32_t)w->n_inflight : w->slots;
}

typedef struct swarmd_config {
    const char *redis, *client_ep, *worker_ep, *log_path, *prefix;
    uint64_t heartbeat_ms, lease_ms;
    uint64_t retention_s;   /* ended jobs are removed this long after they finished */
    uint64_t leader_ttl_ms; /* the leader lease (swarmd_leader.c) */
    /* an upload (SubmitBegin..End) that gets no part this long is discarded */
    uint64_t upload_timeout_ms;
    /* HTTP dashboard/API/metrics (http.h): off unless http_addr is set */
    const char *http_addr, *http_token, *http_token_file;
    /* CURVE on network endpoints (proto/curve.h): swarmd's keypair and the
     * listed worker/client public keys; insecure = plain TCP, by request only */
    const char *server_key, *authorized_keys;
    bool insecure;
} swarmd_config;

typedef struct swarmd {
    swarmd_config cfg;
    uv_loop_t loop;
    void *zctx, *client, *worker;
    uv_poll_t client_poll, worker_poll;
    uv_timer_t tick, drain;
    unsigned drain_mask; /* sockets the next drain pass reads (swarmd.c) */
    uv_signal_t sigterm, sigint;
    sched_t *sched;
    FILE *log;
    swarmd_worker **workers;
    size_t n_workers, cap_workers;
    size_t rr; /* round-robin start for fair dispatch */
    unsigned ticks;
    bool leasing, lease_again, stopping;
    size_t lease_asked; /* slots the lease in flight asked for */
    /* the last lease came back short and nothing called swarmd_dispatch since:
     * no task is due (swarmd_dispatch_ahead) */
    bool lease_drained;
    /* Assigns sent ahead of the submit.lua that leases them (swarmd_submit_ahead),
     * confirmed or withdrawn by its answer */
    struct swarmd_ahead {
        char job[64], task[16], worker[128];
        uint64_t token;
        bool delivered;
    } ahead[SWARMD_AHEAD_MAX];
    size_t n_ahead;
    /* the last ones withdrawn: a Result for one is stale, not forged */
    struct swarmd_ahead withdrawn[SWARMD_AHEAD_MAX];
    size_t n_withdrawn, withdrawn_next;
    /* jobs this swarmd stored and has not seen merged (the newest
     * SWARMD_LIVE_MAX): a held Status for one waits without a first read */
    char live[SWARMD_LIVE_MAX][64];
    size_t n_live, live_next;
    struct swarmd_pending *pend; /* results drained, not yet sent to Redis */
    struct client_req *waiters;  /* Status requests held until their job ends */
    struct client_req *reading;  /* held Status requests whose first status read is out */
    char leader_id[200];         /* our leader lease value; "" until taken */
    char paused[400];            /* Redis refuses writes (OOM, disk): why, for Status */
    /* client requests are read once Redis first came up (or after a grace
     * period: then they get Error 7), not in the first moments after a start */
    bool clients_open;
    uint64_t started_ms; /* uv_now at start */
    size_t n_waiters;
    /* uploads between their parts (swarmd_client.c) */
    struct swarmd_submission *uploads;
    size_t n_uploads;
    size_t n_pend, cap_pend;
    struct swarmd_progress *prog; /* Progress drained, not yet sent (coalesced per task) */
    size_t n_prog, cap_prog;
    /* progress.lua / complete.lua calls awaiting their reply: while one is out,
     * new reports wait and go together when it answers (bigger batches under
     * load, no added wait when idle) */
    unsigned progress_inflight, complete_inflight;
    uint64_t counters[SWARMD_C_COUNT];
    struct swarmd_http *http; /* NULL without --http */
    struct curve_zap *zap;    /* ZAP handler; NULL when no endpoint uses CURVE */
    struct curve_authlist *authkeys;
} swarmd;

extern const char *const swarmd_counter_names[SWARMD_C_COUNT];

void swarmd_log(swarmd *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Send on a socket; a failure is logged. Schedules a drain: a send can
 * swallow the ZMQ_FD edge that announced pending input. */
int swarmd_send(swarmd *d, void *sock, const uint8_t *id, size_t id_len, const Swarm__Envelope *e);
void swarmd_send_error(swarmd *d, void *sock, const uint8_t *id, size_t id_len, uint64_t corr,
                       uint32_t code, const char *msg);
void swarmd_drain_soon(swarmd *d);

/* client endpoint (swarmd_client.c) */
void swarmd_client_handle(swarmd *d, const uint8_t *id, size_t id_len, Swarm__Envelope *env);
/* worker endpoint, dispatch, liveness (swarmd_worker.c) */
void swarmd_worker_handle(swarmd *d, const uint8_t *id, size_t id_len, Swarm__Envelope *env);
void swarmd_dispatch(swarmd *d);
/* Store a new plain job with its tasks leased in the same submit.lua call to
 * free slots (sched_job_submit_leased) and send their Assigns at once, without
 * waiting for the answer, when nothing else is due and every task fits. cb
 * gets the answer; it must call swarmd_ahead_settle first, which keeps the
 * Assigns (all leased) or withdraws them with a Cancel (submit.lua leased
 * none: another job waits). false: not done, submit the usual way; true with
 * err set: refused up front (report err). */
bool swarmd_submit_ahead(swarmd *d, const char *job_id, const sched_job_spec *spec,
                         sched_submitted_fn cb, void *ud, char *err, size_t errlen);
void swarmd_ahead_settle(swarmd *d, int rc, size_t leased);
void swarmd_workers_check(swarmd *d, uint64_t now);
void swarmd_workers_free(swarmd *d);
swarmd_worker *swarmd_worker_by_name(swarmd *d, const char *name);
void swarmd_merge_pending(swarmd *d);
void swarmd_tasks_stop(swarmd *d, const sched_taskref *refs, const char *const *workers, size_t n);
void swarmd_deadlines_check(swarmd *d);
/* Store the results gathered while draining: one script call per batch. */
void swarmd_results_flush(swarmd *d);
void swarmd_pending_free(swarmd *d); /* at exit: results and progress that never went out */
/* Status requests waiting for a job to end (Status.wait_ms, swarmd_client.c):
 * answered when it is merged, when their time is up, or at exit. */
/* Answer the clients waiting on job_id: from st (the job's status as its merge
 * stored it; NULL: read it) where it holds what they asked for. */
void swarmd_waiters_wake(swarmd *d, const char *job_id, const sched_job_status *st);
/* Jobs this swarmd stored and has not seen merged (swarmd_client.c). */
void swarmd_live_add(swarmd *d, const char *job_id);
bool swarmd_live_has(const swarmd *d, const char *job_id);
void swarmd_live_drop(swarmd *d, const char *job_id);
/* Whether a client waits on job_id. */
bool swarmd_waiters_on(const swarmd *d, const char *job_id);
void swarmd_waiters_tick(swarmd *d, uint64_t now);
void swarmd_waiters_free(swarmd *d);
/* Uploads (SubmitBegin/Chunk/End): the tick discards those silent for
 * cfg.upload_timeout_ms (with what they staged); at exit the rest are freed. */
void swarmd_uploads_tick(swarmd *d, uint64_t now);
void swarmd_uploads_free(swarmd *d);
/* A state change failed (err) or went through (NULL): Redis out of memory or
 * unable to persist pauses the work, with the reason shown in Status. */
void swarmd_redis_outcome(swarmd *d, const char *err);
/* Leader lease (swarmd_leader.c): wait for it (a standby blocks here), renew
 * it from the tick, give it back at exit. */
int swarmd_leader_acquire(swarmd *d);
void swarmd_leader_renew(swarmd *d);
void swarmd_leader_release(swarmd *d);
/* Shut down from inside the loop (e.g. the leader lease was lost). */
void swarmd_request_stop(swarmd *d, const char *why);

#endif
