/* scheduler.h - swarm's task state machine, kept in Redis (library swarm_sched).
 *
 * Redis is the source of truth; this module only issues Lua scripts through
 * async hiredis on the caller's libuv loop. Every state change is one script,
 * a function of the Redis function library swarm (FCALL swarm_<name>; the
 * library is loaded on connect and again on "Function not found"), fenced by the task's attempt
 * number, so a late or duplicate result can never be merged twice, and by a per-lease random token
 * plus the holder's name, so a forged one is never merged.
 *
 * Keys (P = prefix, default "swarm:"), one per line:
 *  - P jobs: zset, job id -> created ms (the jobs index).
 *  - P job:<id>: hash, name goal merge state total n_<state> budget fields,
 *    created_ms finished_ms result cancel_requested.
 *  - P job:<id>:tasks: list, task ids in fan-out order.
 *  - A task is a row across per-job column hashes keyed by task id (one
 *    variadic HMGET/HSET per column for a batch, lua/lib.lua row_get/rows_load/
 *    row_set/rows_flush): P job:<id>:item (task -> item, every task),
 *    P job:<id>:st (task -> "state|attempt|token|inc|tokens|cold|worker"; token
 *    the lease's random fencing token, a decimal string, inc the holder's
 *    incarnation; absent = ready, attempt 0), P job:<id>:out (task -> output).
 *  - P job:<id>:task:<tid>: hash of a task's cold fields, only when it has one
 *    (row flag cold = 1): instructions and input when they differ from their
 *    defaults (the job's P job:<id>:ins, the item), deps dependants waiting,
 *    error, forgiven, ready_at, parent depth tools, tail.
 *  - P job:<id>:events: stream (capped ~1000 entries) of every transition. A
 *    script's task_leased / task_done events of one job are one entry with
 *    field n (lua/lib.lua ev_flush); lua/logs.lua reads it back as n events,
 *    each with its own MS-SEQ id.
 *  - P ready: zset, "<job>/<tid>" -> ready-at ms (backoff delays a retry).
 *  - P leased: zset, "<job>/<tid>" -> lease_until ms.
 *  - P merging: set, jobs whose tasks are all terminal, waiting for the merger.
 *  - P deadlines: zset, running job id -> created + budget.wall_time_s (ms).
 *  - Agent jobs: the job hash's agent (the spec JSON); the task hash's ckpt
 *    (last checkpoint), steps, tool_calls, paused (the backend's pause
 *    reason, '' while it answers); P job:<id>:task:<tid>:transcript: list,
 *    one JSON line per agent step; P job:<id>:notes: stream of the agents'
 *    job-wide notes (author tag text task), capped at SCHED_NOTES_MAX.
 *
 * Calling convention: an operation returns 0 when it was sent (its callback
 * then runs exactly once, later, from the loop) or -1 with err filled when it
 * could not be (Redis down: the callback never runs). Strings handed to a
 * callback are valid only during the callback. */
#ifndef SWARM_SCHED_H
#define SWARM_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "sched_spec.h"

typedef struct sched sched_t;

typedef struct sched_config {
    uv_loop_t *loop;
    const char *redis;  /* "unix:/path/to/sock" or "host:port" */
    const char *prefix; /* key prefix, default "swarm:" */
    /* Told about connection changes (up = connected and scripts loaded). */
    void (*on_state)(void *ud, bool up, const char *msg);
    void *ud;
} sched_config;

/* Starts connecting (and reconnecting with backoff, forever). */
int sched_open(sched_t **out, const sched_config *cfg, char *err, size_t errlen);
/* Disconnects; pending callbacks run with an error. Handles close on the
 * next loop iteration, so run the loop once more before uv_loop_close. */
void sched_close(sched_t *s);
bool sched_is_up(const sched_t *s);
uint64_t sched_now_ms(void);

/* ---- submission (the spec types: sched_spec.h) ---- */

typedef void (*sched_done_fn)(void *ud, int rc, const char *err);
/* Stores the job and its tasks; job_id must be unique. A job of more than
 * 2000 tasks without a DAG is written in batches (lua/submit_chunk.lua) and
 * becomes visible with the last one: *job must then stay valid until cb. */
int sched_job_submit(sched_t *s, const char *job_id, const sched_job_spec *job, sched_done_fn cb,
                     void *ud, char *err, size_t errlen);
/* A job written as it is planned (a lazy fan-out, a streamed upload), never
 * held whole: stage writes tasks first..first+n-1 (they must follow what is
 * staged: a gap or a repeat is an error), invisible to leasing and status;
 * commit stores the job hash over the staged tasks (job->tasks, n_tasks and
 * dag unused), which makes the job visible; abort drops what was staged
 * (fire and forget; purge.lua drops a submission idle for 10 minutes anyway). */
int sched_job_stage(sched_t *s, const char *job_id, size_t first, const sched_task_spec *tasks,
                    size_t n, sched_done_fn cb, void *ud, char *err, size_t errlen);
int sched_job_commit(sched_t *s, const char *job_id, const sched_job_spec *job, size_t staged,
                     sched_done_fn cb, void *ud, char *err, size_t errlen);
int sched_job_stage_abort(sched_t *s, const char *job_id, char *err, size_t errlen);
/* Writes a fresh id "j-YYYYmmddHHMMSS-xxxx" into buf (>= 32 bytes). */
void sched_job_id_new(char *buf, size_t len);

/* ---- leasing ---- */
typedef struct sched_lease {
    const char *job_id, *task_id, *worker;
    uint32_t attempt;
    uint64_t token; /* the lease's fencing token, to send in Assign */
    const char *goal, *instructions, *input;
    uint32_t max_tokens;
    double temperature;
    uint64_t seed;
    uint64_t lease_until;
    const char *agent_json; /* "" unless an agent job */
    const char *checkpoint; /* the task's last agent checkpoint, "" for a fresh start */
} sched_lease;
typedef void (*sched_lease_fn)(void *ud, int rc, const char *err, const sched_lease *l, size_t n);
/* One free slot to fill: the worker's name and incarnation, and the token its
 * lease gets (0: a fresh random one; a caller that sends the Assign before the
 * answer draws its own with sched_token_new). */
typedef struct sched_slot {
    const char *worker;
    uint64_t incarnation;
    uint64_t token;
} sched_slot;
/* Leases up to n ready tasks, the i-th to slots[i] (give each worker as
 * many entries as free slots, interleaved for fairness). Each lease gets a
 * fresh random token (getrandom) unless its slot brings one; the holder must
 * echo it. */
int sched_task_lease(sched_t *s, uint64_t lease_ms, const sched_slot *slots, size_t n,
                     sched_lease_fn cb, void *ud, char *err, size_t errlen);

/* sched_job_submit for a whole job of ready tasks (at most 2000, no dependencies)
 * whose tasks are leased in the same call, task i to slots[i] with the slot's
 * own token (lua/submit.lua "lease"), when no other job waits to be leased and
 * every task has a slot: cb's leased is then job->n_tasks, else 0 (the tasks
 * wait ready, leased by sched_task_lease like any others). A caller that sent
 * the Assigns before the answer withdraws them on 0. */
typedef void (*sched_submitted_fn)(void *ud, int rc, const char *err, size_t leased);
int sched_job_submit_leased(sched_t *s, const char *job_id, const sched_job_spec *job,
                            uint64_t lease_ms, const sched_slot *slots, size_t n,
                            sched_submitted_fn cb, void *ud, char *err, size_t errlen);
/* A random non-zero 64-bit fencing token. */
uint64_t sched_token_new(void);

/* A task attempt as a worker names it: attempt and token are the fence. */
typedef struct sched_taskref {
    const char *job_id, *task_id;
    uint32_t attempt;
    uint64_t token;
} sched_taskref;

/* Outcome of a fenced call. */
enum {
    SCHED_OK = 0,
    SCHED_STALE = 1,     /* attempt does not match: the worker lost this lease */
    SCHED_DUPLICATE = 2, /* the task already ended with this attempt */
    SCHED_UNKNOWN = 3,   /* no such job/task */
    SCHED_RETRY = 4,     /* failed result: requeued with backoff */
    SCHED_FAILED = 5,    /* failed result: attempts exhausted */
    SCHED_FORGED = 6,    /* current attempt, but wrong token or not sent by the holder */
};
const char *sched_outcome_name(int outcome);

typedef void (*sched_outcome_fn)(void *ud, int rc, const char *err, int outcome, bool merge);
/* leased -> running (first call), lease extended, token count stored.
 * worker = the sender, which must hold the lease. */
int sched_task_progress(sched_t *s, const sched_taskref *t, const char *worker, uint32_t tokens,
                        const char *tail, uint64_t lease_ms, sched_outcome_fn cb, void *ud,
                        char *err, size_t errlen);

/* One Progress report, for the batched call below. */
typedef struct sched_progress {
    sched_taskref ref;
    const char *worker, *tail;
    uint32_t tokens;
} sched_progress;

/* An agent step (or pause) as a worker reports it. */
typedef struct sched_step {
    uint32_t step, tool_calls;
    const char *record;     /* the step's transcript line; "" for a pause-only report */
    const char *checkpoint; /* "" keeps the last one */
    const char *paused;     /* the backend's pause reason; "" = running */
} sched_step;
/* Stores the step's transcript line and checkpoint (fenced like progress). */
int sched_task_checkpoint(sched_t *s, const sched_taskref *t, const char *worker,
                          const sched_step *st, sched_outcome_fn cb, void *ud, char *err,
                          size_t errlen);

typedef struct sched_result {
    sched_taskref ref;
    const char *worker; /* the sender; must be the lease holder */
    bool ok;
    const char *output, *error;
    uint32_t tokens;
    uint64_t elapsed_ms;
} sched_result;
/* merge = true when this result made the job ready to merge. */
int sched_task_complete(sched_t *s, const sched_result *r, sched_outcome_fn cb, void *ud, char *err,
                        size_t errlen);
/* n results in one script call (the throughput path); cb gets outcome[i] and
 * merge[i] for r[i], in order. */
typedef void (*sched_outcomes_fn)(void *ud, int rc, const char *err, const int *outcome,
                                  const bool *merge, size_t n);
/* In the callback of sched_tasks_complete: how many tasks that call made due
 * now (dependants released, planned tasks added); 0 anywhere else. A caller
 * whose queue was drained needs to lease again only when it is not 0. */
size_t sched_complete_due(const sched_t *s);
int sched_tasks_complete(sched_t *s, const sched_result *r, size_t n, sched_outcomes_fn cb,
                         void *ud, char *err, size_t errlen);

/* n Progress reports in one script call (swarmd coalesces a drain pass's);
 * cb gets outcome[i] (ok, stale, unknown, forged) for p[i], merge[] all false. */
int sched_tasks_progress(sched_t *s, const sched_progress *p, size_t n, uint64_t lease_ms,
                         sched_outcomes_fn cb, void *ud, char *err, size_t errlen);

typedef void (*sched_count_fn)(void *ud, int rc, const char *err, long long n);
/* Extend the leases of tasks a live worker still runs (n = how many matched:
 * attempt, token and holder). */
int sched_tasks_heartbeat(sched_t *s, const char *worker, const sched_taskref *refs, size_t n,
                          uint64_t lease_ms, sched_count_fn cb, void *ud, char *err, size_t errlen);
/* Attempts lost with their worker: back to ready with backoff, or failed.
 * forgive: lost to a quarantined worker; the attempt does not count against
 * max_attempts and the task is ready again at once. */
int sched_tasks_fail(sched_t *s, const sched_taskref *refs, size_t n, const char *reason,
                     bool forgive, sched_count_fn cb, void *ud, char *err, size_t errlen);
/* Expire up to max leases whose lease_until has passed. */
int sched_leases_expire(sched_t *s, size_t max, sched_count_fn cb, void *ud, char *err,
                        size_t errlen);

/* A worker registered as a new process: the leases held under its name by
 * another incarnation go back to ready (or fail) now. n = how many. */
int sched_worker_release(sched_t *s, const char *worker, uint64_t incarnation, sched_count_fn cb,
                         void *ud, char *err, size_t errlen);

/* ---- dynamic spawn (lua/spawn.lua) ---- */
typedef struct sched_spawn {
    sched_taskref parent;
    const char *worker; /* the sender; must hold the parent's lease */
    const char *instructions, *item, *input;
    const char *depends_on; /* task ids, comma-separated, "" = none */
    const char *tools;      /* JSON array of tool names, "" = the job's */
} sched_spawn;
enum {
    SCHED_SPAWN_OK = 0,
    SCHED_SPAWN_REFUSED = 1, /* over a budget (max_subtasks, depth, tokens, wall time) */
    SCHED_SPAWN_STALE = 2,   /* the parent no longer holds this attempt */
};
/* child = the new task's id (outcome OK) or "", msg = why not (a refusal's
 * message says which budget, for the agent's observation). */
typedef void (*sched_spawn_fn)(void *ud, int rc, const char *err, int outcome, const char *child,
                               const char *msg);
/* A running task's agent creates a child task in its job, counted against the
 * job's budget; the child waits for depends_on like a submitted task. */
int sched_task_spawn(sched_t *s, const sched_spawn *sp, sched_spawn_fn cb, void *ud, char *err,
                     size_t errlen);

/* ---- agents' job-wide notes (lua/notes.lua) ---- */
/* P job:<id>:notes, a stream: the note tool appends, read_notes pages it.
 * Fenced like progress: only the lease holder of a running task of the job. */
#define SCHED_NOTE_MAX_BYTES 4096u /* one note's text */
#define SCHED_NOTE_TAG_MAX 64u
#define SCHED_NOTES_MAX 1000u /* kept per job; the oldest go first */
typedef struct sched_note {
    const char *id, *author, *tag, *text;
} sched_note;
typedef struct sched_notes_page {
    const char *id;   /* add: the new note's id */
    const char *next; /* read: cursor for the next page */
    bool more;        /* read: notes after next are stored */
    size_t n;
    const sched_note *notes;
} sched_notes_page;
/* outcome: SCHED_OK, or SCHED_STALE/UNKNOWN/FORGED (the sender lost the lease) */
typedef void (*sched_notes_fn)(void *ud, int rc, const char *err, int outcome,
                               const sched_notes_page *page);
/* Appends one note (the caller checks the byte caps above). */
int sched_notes_add(sched_t *s, const sched_taskref *t, const char *worker, const char *author,
                    const char *tag, const char *text, sched_notes_fn cb, void *ud, char *err,
                    size_t errlen);
/* One page of notes after the cursor (exclusive; "" = the oldest), oldest
 * first, only those tagged tag unless tag is "": at most limit notes and
 * about max_bytes (one note always, so a page never comes back empty). */
int sched_notes_read(sched_t *s, const sched_taskref *t, const char *worker, const char *tag,
                     const char *after, uint32_t limit, uint32_t max_bytes, sched_notes_fn cb,
                     void *ud, char *err, size_t errlen);

/* ---- leader lease (lua/leader.lua) ---- */
/* Renew holder's lease on P leader for ttl_ms (taking it again if it lapsed and
 * nobody else took it): n = 1 held, 0 another coordinator holds it. */
int sched_leader_renew(sched_t *s, const char *holder, uint64_t ttl_ms, sched_count_fn cb, void *ud,
                       char *err, size_t errlen);

/* ---- removal and retention ---- */
/* remove: state is NULL when the job was removed (its task hashes, `left` of
 * them, are deleted in the background by sched_jobs_purge), else the state of
 * a job that still runs (nothing changed). purge: state is the number of jobs
 * removed, as text. */
typedef void (*sched_removed_fn)(void *ud, int rc, const char *err, const char *state,
                                 long long left);
/* `swarm rm`: rc < 0 with "unknown job" for a missing job. */
int sched_job_remove(sched_t *s, const char *job_id, sched_removed_fn cb, void *ud, char *err,
                     size_t errlen);
/* Retention: remove up to max_jobs ended jobs that finished at or before
 * finished_before_ms, then delete up to max_tasks task hashes of removed jobs. */
int sched_jobs_purge(sched_t *s, uint64_t finished_before_ms, size_t max_jobs, size_t max_tasks,
                     sched_removed_fn cb, void *ud, char *err, size_t errlen);

/* ---- cancel ---- */
typedef void (*sched_cancel_fn)(void *ud, int rc, const char *err, const char *prev_state,
                                const sched_taskref *running, const char *const *workers, size_t n);
/* rc < 0 with "unknown job" for a missing job; prev_state "running" when this
 * call cancelled it (running lists the tasks to stop), else the state it was in.
 * A big job is cancelled in chunks of 20000 tasks: "running-more" means the job
 * already reads as cancelled and leases nothing, and the caller must call
 * again (each call lists the running tasks of its chunk). */
int sched_job_cancel(sched_t *s, const char *job_id, sched_cancel_fn cb, void *ud, char *err,
                     size_t errlen);

/* One task of a running job (`swarm cancel JOB TASK`, lua/cancel.lua with a
 * task id). rc 0 and cancelled true: state is the task's state before (leased
 * or running: stop attempt on worker); rc 0 and cancelled false: the task had
 * already ended in state, nothing changed; rc 1: the job is not running
 * (state is the job's); rc < 0 with "unknown task"/"unknown job" in err. */
typedef void (*sched_task_cancel_fn)(void *ud, int rc, const char *err, bool cancelled,
                                     const char *state, uint32_t attempt, const char *worker);
int sched_task_cancel(sched_t *s, const char *job_id, const char *task_id, sched_task_cancel_fn cb,
                      void *ud, char *err, size_t errlen);

/* ---- retry (`swarm retry`, lua/retry.lua) ---- */
/* Re-run the failed tasks of a failed job: each goes back to ready with one
 * more attempt, the job to running. rc < 0 with "unknown job" for a missing
 * job; otherwise prev_state is "failed" when this call re-queued n tasks, or
 * the state the job was in (then nothing changed: only a failed job has
 * failed tasks to re-run). */
typedef void (*sched_retry_fn)(void *ud, int rc, const char *err, const char *prev_state, size_t n);
int sched_job_retry(sched_t *s, const char *job_id, sched_retry_fn cb, void *ud, char *err,
                    size_t errlen);

/* Jobs past their budget.wall_time_s (up to max): every unfinished task
 * fails ("budget.wall_time_s exceeded") and the job goes to merging. cb gets
 * the tasks that were leased or running (refs[i].job_id varies), to stop them. */
int sched_jobs_deadline(sched_t *s, size_t max, sched_cancel_fn cb, void *ud, char *err,
                        size_t errlen);

/* ---- status ---- */
typedef struct sched_task_status {
    const char *task_id, *state, *worker, *error;
    uint32_t attempt, tokens;
} sched_task_status;
typedef struct sched_job_status {
    const char *job_id, *name, *state; /* state: running done failed cancelled */
    bool found;
    uint32_t total, done, failed, cancelled, running, pending;
    uint64_t created_ms, finished_ms;
    const char *result_json; /* a page of it: "" unless asked and terminal */
    size_t result_len;       /* bytes in this page */
    uint64_t result_size;    /* the whole merged result's bytes (0 until merged) */
    const char *sandbox;     /* agent jobs: agent.sandbox ("bwrap", "unsandboxed"); else "" */
    size_t n_tasks;
    sched_task_status *tasks;
} sched_job_status;
typedef void (*sched_status_fn)(void *ud, int rc, const char *err, const sched_job_status *jobs,
                                size_t n);
/* with_result: result_json holds bytes [result_offset, result_offset + result_limit)
 * of the merged result (read it whole in pages); with_tasks: the first 1000 tasks. */
int sched_status(sched_t *s, const char *const *job_ids, size_t n, bool with_tasks,
                 bool with_result, uint64_t result_offset, uint32_t result_limit,
                 sched_status_fn cb, void *ud, char *err, size_t errlen);

/* ---- merge ---- */
/* st: when the merge stored the result, the job's status as stored (with the
 * first result_page bytes of the result), so a client waiting on the job is
 * answered without another read; NULL when not known. */
typedef void (*sched_merged_fn)(void *ud, const char *job_id, int rc, const char *err,
                                const char *state, const sched_job_status *st);
/* Merges every job waiting in P merging (not already being merged by this
 * process): collect, build the result JSON (docs/JOBS.md), store it once.
 * cb runs once per job merged (state = final job state). */
int sched_merge_pending(sched_t *s, sched_merged_fn cb, void *ud, char *err, size_t errlen);
/* The same for one job, named by a complete call's merge flag: no round trip
 * to read P merging first (a job that ends is merged one reply sooner). Called
 * from the complete call's callback, a small job (complete.lua INLINE_MERGE) is
 * merged from the first page that reply carried: no collect round trip either.
 * result_page: result bytes cb's st carries (0: none). */
/* ready (may be NULL): called once a one-page merge's result is built and the
 * call that stores it sent, with the status it stores (result_page bytes of
 * the result), before that call answers: a waiting client can have it then,
 * as any later read runs behind the store on the same connection. Not for
 * agent jobs. */
typedef void (*sched_merge_ready_fn)(void *ud, const char *job_id, const sched_job_status *st);
int sched_job_merge(sched_t *s, const char *job_id, uint32_t result_page,
                    sched_merge_ready_fn ready, sched_merged_fn cb, void *ud, char *err,
                    size_t errlen);

/* ---- logs (`swarm logs`, `swarm top`; lua/logs.lua, read only) ---- */
typedef struct sched_log_entry {
    const char *id, *task;
    const char *const *fields; /* name, value, name, value, ... */
    size_t n_fields;
} sched_log_entry;
typedef struct sched_log_page {
    const char *state; /* the job's state ("" for live over every job) */
    const char *next;  /* cursor of the next page */
    const char *first; /* events/audit: oldest stored id */
    bool more;         /* more is stored after next */
    uint64_t trimmed;  /* events/audit: entries the stream's cap dropped */
    size_t n;
    const sched_log_entry *entries;
} sched_log_page;
typedef void (*sched_logs_fn)(void *ud, int rc, const char *err, const sched_log_page *page);
/* One page of kind "events", "audit", "transcript" or "live" (lua/logs.lua says
 * what each holds and its cursor) after the cursor after. rc < 0 with "unknown
 * job" for a missing job. */
int sched_logs_read(sched_t *s, const char *kind, const char *job_id, const char *task_id,
                    const char *after, uint32_t limit, uint32_t max_bytes, sched_logs_fn cb,
                    void *ud, char *err, size_t errlen);

#endif
