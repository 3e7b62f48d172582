/* swarmd_client.c - the client endpoint: Submit (whole or uploaded in
 * chunks), Status, Cancel, Retry, Events.
 *
 * Each request is answered exactly once (Status or Error, same correlation
 * id). Replies wait for Redis: a Submit is acknowledged only after the job
 * and all its tasks are stored, so an acknowledged job survives a crash. */
#include "swarmd.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "planner.h"
#include "swarm_clock.h"

typedef struct client_req {
    swarmd *d;
    uint8_t id[WIRE_MAX_IDENTITY];
    size_t id_len;
    uint64_t corr;
    char job_id[64];
    char task_id[64]; /* Cancel of one task */
    bool with_result, with_tasks;
    bool silent; /* a cancel's continuation: nobody waits for an answer */
    uint64_t result_offset;
    uint32_t result_limit;
    uint64_t wait_until;     /* Status.wait_ms: hold the answer until then (uv_now) */
    uint32_t hold_ms;        /* Submit.wait_ms: after the answer, wait on the new job */
    bool held;               /* this Status answer says a second one follows */
    struct client_req *next; /* in d->waiters */
} client_req;

#define SWARMD_MAX_WAITERS 4096

static client_req *req_new(swarmd *d, const uint8_t *id, size_t id_len, uint64_t corr)
{
    client_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->d = d;
    memcpy(r->id, id, id_len);
    r->id_len = id_len;
    r->corr = corr;
    return r;
}

static void reply_error(client_req *r, uint32_t code, const char *msg)
{
    if (code == WIRE_E_BAD_REQUEST) r->d->counters[SWARMD_C_CLIENT_BAD_REQUEST]++;
    swarmd_send_error(r->d, r->d->client, r->id, r->id_len, r->corr, code, msg);
}

/* The request ends here: answer with an Error and release it. */
static void reply_fail(client_req *r, uint32_t code, const char *msg)
{
    reply_error(r, code, msg);
    free(r);
}

/* Status reply from scheduler job summaries plus the worker table and counters. */
static void reply_status(client_req *r, const sched_job_status *jobs, size_t n)
{
    swarmd *d = r->d;
    Swarm__Envelope env;
    Swarm__Status st;
    wire_envelope_init(&env, "swarmd", r->corr);
    swarm__status__init(&st);
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_STATUS;
    env.status = &st;
    st.held = r->held;

    Swarm__JobStatus *js = calloc(n ? n : 1, sizeof *js);
    Swarm__JobStatus **jp = calloc(n ? n : 1, sizeof *jp);
    Swarm__WorkerStatus *ws = calloc(d->n_workers ? d->n_workers : 1, sizeof *ws);
    Swarm__WorkerStatus **wp = calloc(d->n_workers ? d->n_workers : 1, sizeof *wp);
    Swarm__PrefixCacheStats *pcs = calloc(d->n_workers ? d->n_workers : 1, sizeof *pcs);
    Swarm__Counter cs[SWARMD_C_COUNT];
    Swarm__Counter *cp[SWARMD_C_COUNT];
    size_t total_tasks = 0;
    for (size_t i = 0; i < n; i++)
        total_tasks += jobs[i].n_tasks;
    Swarm__TaskStatus *ts = calloc(total_tasks ? total_tasks : 1, sizeof *ts);
    Swarm__TaskStatus **tp = calloc(total_tasks ? total_tasks : 1, sizeof *tp);
    if (!js || !jp || !ws || !wp || !ts || !tp || !pcs) {
        reply_error(r, WIRE_E_INTERNAL, "out of memory building the Status reply");
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const sched_job_status *s = &jobs[i];
        Swarm__JobStatus *j = &js[i];
        swarm__job_status__init(j);
        jp[i] = j;
        j->job_id = (char *)s->job_id;
        j->name = (char *)s->name;
        j->state = (char *)s->state;
        j->total = s->total;
        j->done = s->done;
        j->failed = s->failed;
        j->running = s->running;
        j->pending = s->pending;
        j->cancelled = s->cancelled;
        j->created_ms = s->created_ms;
        j->finished_ms = s->finished_ms;
        j->result_json = (char *)s->result_json;
        j->result_size = s->result_size;
        j->sandbox = (char *)(s->sandbox ? s->sandbox : "");
        j->tasks = &tp[k];
        for (size_t t = 0; t < s->n_tasks; t++, k++) {
            Swarm__TaskStatus *x = &ts[k];
            swarm__task_status__init(x);
            tp[k] = x;
            x->task_id = (char *)s->tasks[t].task_id;
            x->state = (char *)s->tasks[t].state;
            x->attempt = s->tasks[t].attempt;
            x->worker_id = (char *)s->tasks[t].worker;
            x->tokens = s->tasks[t].tokens;
            x->error = (char *)s->tasks[t].error;
        }
        j->n_tasks = s->n_tasks;
    }
    st.jobs = jp;
    st.n_jobs = n;
    for (size_t i = 0; i < d->n_workers; i++) {
        const swarmd_worker *w = d->workers[i];
        swarm__worker_status__init(&ws[i]);
        wp[i] = &ws[i];
        ws[i].worker_id = (char *)w->name;
        ws[i].hostname = (char *)w->hostname;
        ws[i].model = (char *)w->model;
        ws[i].slots = w->slots;
        ws[i].busy = swarmd_worker_busy(w);
        ws[i].last_seen_ms = w->last_seen_ms;
        ws[i].quarantined = w->quarantined;
        ws[i].quarantine_reason = (char *)w->quarantine_reason;
        ws[i].sandbox = (char *)w->sandbox;
        if (w->has_pc) {
            swarm__prefix_cache_stats__init(&pcs[i]);
            pcs[i].lookups = w->pc_lookups;
            pcs[i].hits = w->pc_hits;
            pcs[i].tokens_reused = w->pc_tokens_reused;
            pcs[i].bytes = w->pc_bytes;
            pcs[i].max_bytes = w->pc_max_bytes;
            ws[i].prefix_cache = &pcs[i];
        }
    }
    st.workers = wp;
    st.n_workers = d->n_workers;
    for (int i = 0; i < SWARMD_C_COUNT; i++) {
        swarm__counter__init(&cs[i]);
        cs[i].name = (char *)swarmd_counter_names[i];
        cs[i].value = d->counters[i];
        cp[i] = &cs[i];
    }
    st.counters = cp;
    st.n_counters = SWARMD_C_COUNT;
    st.paused = d->paused;
    if (swarmd_send(d, d->client, r->id, r->id_len, &env) != 0) {
        /* Too big (a huge result) or the client left: say so if we can. */
        reply_error(r, WIRE_E_INTERNAL, "Status reply could not be sent (too large?)");
    }
out:
    free(js);
    free(jp);
    free(ws);
    free(wp);
    free(pcs);
    free(ts);
    free(tp);
}

static void status_of_job(client_req *r);

/* Hold r until its job ends (or its time is up): true when held. */
static bool waiter_hold(client_req *r)
{
    swarmd *d = r->d;
    if (uv_now(&d->loop) >= r->wait_until || d->n_waiters >= SWARMD_MAX_WAITERS || d->stopping)
        return false;
    r->next = d->waiters;
    d->waiters = r;
    d->n_waiters++;
    return true;
}

/* Hold r if its job, just read, has not ended: true when held. */
static bool waiter_park(client_req *r, const sched_job_status *jobs, size_t n)
{
    if (!r->wait_until || n != 1 || !jobs[0].found || jobs[0].result_size) return false;
    return waiter_hold(r);
}

void swarmd_live_add(swarmd *d, const char *job_id)
{
    /* a ring: the oldest entry makes room (its waiters then read first) */
    snprintf(d->live[d->live_next], sizeof d->live[0], "%s", job_id);
    d->live_next = (d->live_next + 1) % SWARMD_LIVE_MAX;
    if (d->n_live < SWARMD_LIVE_MAX) d->n_live++;
}

bool swarmd_live_has(const swarmd *d, const char *job_id)
{
    for (size_t i = 0; i < d->n_live; i++)
        if (!strcmp(d->live[i], job_id)) return true;
    return false;
}

void swarmd_live_drop(swarmd *d, const char *job_id)
{
    for (size_t i = 0; i < d->n_live; i++)
        if (!strcmp(d->live[i], job_id)) d->live[i][0] = 0;
}

/* Detach the waiters matching (job, or every one past now) and answer them:
 * from st (the job's status as its merge stored it) where it holds what a
 * waiter asked for, else from a status read. */
static void waiters_answer(swarmd *d, const char *job_id, uint64_t now, const sched_job_status *st)
{
    client_req *ready = NULL;
    for (client_req **pp = &d->waiters; *pp;) {
        client_req *r = *pp;
        if ((job_id && strcmp(r->job_id, job_id) == 0) || (!job_id && now >= r->wait_until)) {
            *pp = r->next;
            d->n_waiters--;
            r->next = ready;
            ready = r;
            continue;
        }
        pp = &r->next;
    }
    while (ready) {
        client_req *r = ready;
        ready = r->next;
        r->wait_until = 0; /* answer now, whatever the state */
        /* st carries the first result page only when one was asked of the merge */
        if (st && !r->with_tasks && (!r->with_result || st->result_len || !st->result_size)) {
            sched_job_status one = *st;
            if (!r->with_result) {
                one.result_json = "";
                one.result_len = 0;
            }
            reply_status(r, &one, 1);
            free(r);
        } else {
            status_of_job(r);
        }
    }
}

void swarmd_waiters_wake(swarmd *d, const char *job_id, const sched_job_status *st)
{
    if (d->waiters) waiters_answer(d, job_id, 0, st);
}

bool swarmd_waiters_on(const swarmd *d, const char *job_id)
{
    for (const client_req *r = d->waiters; r; r = r->next)
        if (strcmp(r->job_id, job_id) == 0) return true;
    /* a held Status still reading its job will park on it */
    for (const client_req *r = d->reading; r; r = r->next)
        if (strcmp(r->job_id, job_id) == 0) return true;
    return false;
}

void swarmd_waiters_tick(swarmd *d, uint64_t now)
{
    if (d->waiters) waiters_answer(d, NULL, now, NULL);
}

void swarmd_waiters_free(swarmd *d)
{
    while (d->waiters) {
        client_req *r = d->waiters;
        d->waiters = r->next;
        free(r);
    }
    d->n_waiters = 0;
}

static void status_done(void *ud, int rc, const char *err, const sched_job_status *jobs, size_t n)
{
    client_req *r = ud;
    for (client_req **pp = &r->d->reading; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            r->next = NULL;
            break;
        }
    }
    if (rc == 0 && waiter_park(r, jobs, n)) return;
    if (rc != 0) {
        r->d->counters[SWARMD_C_REDIS_ERRORS]++;
        char msg[512];
        snprintf(msg, sizeof msg, "status: %s", err);
        reply_error(r, WIRE_E_INTERNAL, msg);
    } else {
        const char *missing = NULL;
        for (size_t i = 0; i < n && !missing; i++)
            if (!jobs[i].found) missing = jobs[i].job_id;
        if (missing) {
            char msg[256];
            snprintf(msg, sizeof msg, "unknown job %s", missing);
            reply_error(r, WIRE_E_BAD_REQUEST, msg);
        } else {
            reply_status(r, jobs, n);
        }
    }
    free(r);
}

static void status_of_job(client_req *r)
{
    char err[256];
    if (!r->d->sched) {
        reply_fail(r, WIRE_E_INTERNAL, "swarmd is shutting down");
        return;
    }
    const char *ids[1] = {r->job_id};
    if (sched_status(r->d->sched, ids, 1, r->with_tasks, r->with_result, 0, SWARMD_RESULT_PAGE,
                     status_done, r, err, sizeof err) != 0) {
        reply_fail(r, WIRE_E_INTERNAL, err);
    } else if (r->wait_until) {
        r->next = r->d->reading; /* until status_done: swarmd_waiters_on sees it */
        r->d->reading = r;
    }
}

/* ---- Submit and uploads: planned off the loop, stored chunk by chunk ----
 *
 * Planning globs and reads files, so it runs on libuv's thread pool
 * (uv_queue_work) and only its outcome comes back to the loop: a big
 * workspace never stalls heartbeats. A fan-out job of more than
 * SWARMD_WHOLE_TASKS tasks is then produced a chunk at a time
 * (planner_job_next, again off the loop) and each chunk staged in Redis
 * (sched_job_stage) before the next is made, so swarmd holds one chunk, never
 * the job; sched_job_commit makes the job visible with the last. An upload
 * (SubmitBegin/Chunk/End, swarm.proto) is the same with the chunks coming
 * from the client. Whatever fails on the way drops what was staged: no job
 * is ever half visible. */

#define SWARMD_WHOLE_TASKS 2000           /* up to this many: one submit.lua call */
#define SWARMD_STAGE_TASKS 2000           /* tasks per submit_chunk.lua call */
#define SWARMD_STAGE_BYTES (4u << 20)     /* ... and about this much task input */
#define SWARMD_MAX_UPLOADS 16             /* uploads in progress at once */
#define SWARMD_CHUNK_MAX_BYTES (4u << 20) /* one SubmitChunk's items_json */

typedef struct swarmd_submission {
    swarmd *d;
    client_req *r; /* answered when this step ends; NULL while an upload waits */
    uv_work_t work;
    char *json, *base_dir; /* until planned */
    unsigned flags;        /* PLANNER_ITEMS_STREAMED for an upload */
    size_t items_total;
    planner_job *pj;
    int rc; /* the thread's outcome: tasks produced, or -1 with err */
    char err[1024];
    char job_id[64];
    size_t staged; /* tasks Redis has staged */
    /* an upload, between its parts: in d->uploads */
    struct swarmd_submission *next;
    char upload_id[24];
    uint8_t owner[WIRE_MAX_IDENTITY];
    size_t owner_len;
    uint64_t next_seq, last_ms; /* last_ms: uv_now of its last part */
    bool busy;                  /* a part is being stored: nothing else until answered */
    bool leased_behind;         /* a lease.lua went out right behind its submit.lua */
} swarmd_submission;

static void sub_free(swarmd_submission *sub)
{
    if (!sub) return;
    planner_job_free(sub->pj);
    free(sub->json);
    free(sub->base_dir);
    free(sub->r);
    free(sub);
}

static void upload_unlink(swarmd_submission *sub)
{
    swarmd *d = sub->d;
    for (swarmd_submission **pp = &d->uploads; *pp; pp = &(*pp)->next)
        if (*pp == sub) {
            *pp = sub->next;
            d->n_uploads--;
            return;
        }
}

/* Drop what this submission staged (it never became a job) and free it. */
static void sub_abort(swarmd_submission *sub)
{
    char e[256];
    if (sub->staged && sub->d->sched &&
        sched_job_stage_abort(sub->d->sched, sub->job_id, e, sizeof e))
        swarmd_log(sub->d, "job %s: staged tasks left for purge.lua (%s)", sub->job_id, e);
    sub_free(sub);
}

/* The step failed: answer with an Error, drop what was staged. */
static void sub_fail(swarmd_submission *sub, uint32_t code, const char *msg)
{
    swarmd_log(sub->d, "submit %s: %s", sub->job_id[0] ? sub->job_id : "rejected", msg);
    if (sub->r) reply_error(sub->r, code, msg);
    sub_abort(sub);
}

/* An upload ends badly between parts: out of the list, staged tasks dropped. */
static void upload_discard(swarmd_submission *sub, const char *why)
{
    upload_unlink(sub);
    swarmd_log(sub->d, "upload %s (job %s, %zu task(s) staged) discarded: %s", sub->upload_id,
               sub->job_id, sub->staged, why);
    sub_abort(sub);
}

static void sub_queue(swarmd_submission *sub, uv_work_cb work, uv_after_work_cb after)
{
    sub->work.data = sub;
    if (uv_queue_work(&sub->d->loop, &sub->work, work, after) != 0)
        sub_fail(sub, WIRE_E_INTERNAL, "cannot queue the planning work");
}

static void submit_log(swarmd *d, const swarmd_submission *sub)
{
    const planner_job *pj = sub->pj;
    swarmd_log(d, "job %s (%s): %zu task(s), merge %s%s", sub->job_id, pj->spec.name,
               pj->chunked ? pj->total : pj->spec.n_tasks, pj->spec.merge,
               sub->flags & PLANNER_ITEMS_STREAMED ? ", items uploaded in chunks" : "");
}

static void submit_done(void *ud, int rc, const char *err)
{
    swarmd_submission *sub = ud;
    swarmd *d = sub->d;
    client_req *r = sub->r;
    swarmd_redis_outcome(d, rc != 0 ? err : NULL);
    if (rc != 0) {
        d->counters[SWARMD_C_REDIS_ERRORS]++;
        char msg[512];
        snprintf(msg, sizeof msg, "could not store job %s: %s", sub->job_id, err);
        sub_fail(sub, WIRE_E_INTERNAL, msg);
        return;
    }
    /* The answer is built from what was just stored (the job is running,
     * every task still pending), not read back: one Redis round trip less
     * between a Submit and its answer. */
    char name[256];
    snprintf(name, sizeof name, "%s", sub->pj->spec.name ? sub->pj->spec.name : "");
    /* staged in chunks (a big fan-out, an upload), else stored whole */
    uint32_t total = (uint32_t)(sub->staged ? sub->staged : sub->pj->spec.n_tasks);
    bool leased = sub->leased_behind;
    sub->r = NULL;
    sub_free(sub);
    d->counters[SWARMD_C_JOBS_SUBMITTED]++;
    swarmd_live_add(d, r->job_id);
    char stored[sizeof r->job_id];
    memcpy(stored, r->job_id, sizeof stored);
    /* lease first (unless it went right behind submit.lua): the task's way
     * to a worker is the longer path to the result */
    if (!leased) swarmd_dispatch(d);
    if (d->stopping || !d->sched) {
        reply_fail(r, WIRE_E_INTERNAL, "swarmd is shutting down; job stored");
        return;
    }
    sched_job_status js = {.job_id = r->job_id,
                           .name = name,
                           .state = "running",
                           .found = true,
                           .total = total,
                           .pending = total,
                           .created_ms = swarm_wall_ms(),
                           .result_json = "",
                           .sandbox = ""};
    /* Submit.wait_ms: the same request waits on its job, answered a second
     * time when the job ends (its merge hands over the stored status) */
    r->held = r->hold_ms && d->n_waiters < SWARMD_MAX_WAITERS;
    reply_status(r, &js, 1);
    swarmd_log(d, "job %s stored", stored); /* after the answer: off its path */
    if (r->held) {
        r->held = false;
        r->with_result = true;
        r->wait_until = uv_now(&d->loop) + r->hold_ms;
        if (waiter_hold(r)) return;
        r->wait_until = 0; /* cannot wait after all: the second answer now */
        status_of_job(r);
        return;
    }
    free(r);
}

/* submit.lua's answer to swarmd_submit_ahead: the Assigns sent ahead are kept
 * or withdrawn first, then the submission ends as any other. */
static void submit_ahead_done(void *ud, int rc, const char *err, size_t leased)
{
    swarmd_submission *sub = ud;
    swarmd_ahead_settle(sub->d, rc, leased);
    submit_done(ud, rc, err);
}

static void upload_ack(swarmd_submission *sub)
{
    client_req *r = sub->r;
    Swarm__Envelope env;
    Swarm__SubmitAck ack;
    wire_envelope_init(&env, "swarmd", r->corr);
    swarm__submit_ack__init(&ack);
    ack.upload_id = sub->upload_id;
    ack.next_seq = sub->next_seq;
    ack.items = sub->pj->produced;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_SUBMIT_ACK;
    env.submit_ack = &ack;
    swarmd_send(sub->d, sub->d->client, r->id, r->id_len, &env);
    free(r);
    sub->r = NULL;
    sub->busy = false;
    sub->last_ms = uv_now(&sub->d->loop);
}

static void submit_next_work(uv_work_t *w)
{
    swarmd_submission *sub = w->data;
    sub->err[0] = 0;
    sub->rc = planner_job_next(sub->pj, SWARMD_STAGE_TASKS, SWARMD_STAGE_BYTES, sub->err,
                               sizeof sub->err);
}

static void submit_next_after(uv_work_t *w, int status);

static void stage_done(void *ud, int rc, const char *err)
{
    swarmd_submission *sub = ud;
    swarmd *d = sub->d;
    swarmd_redis_outcome(d, rc != 0 ? err : NULL);
    if (rc != 0) {
        d->counters[SWARMD_C_REDIS_ERRORS]++;
        char msg[512];
        snprintf(msg, sizeof msg, "could not store job %s: %s", sub->job_id, err);
        if (sub->upload_id[0]) upload_unlink(sub);
        sub_fail(sub, WIRE_E_INTERNAL, msg);
        return;
    }
    sub->staged = sub->pj->produced;
    if (d->stopping || !d->sched) {
        if (sub->upload_id[0]) upload_unlink(sub);
        sub_fail(sub, WIRE_E_INTERNAL, "swarmd is shutting down; job not stored");
    } else if (sub->upload_id[0]) {
        upload_ack(sub);
    } else {
        sub_queue(sub, submit_next_work, submit_next_after);
    }
}

/* Stores the chunk in pj->spec (n tasks), or commits the job after the last. */
static void submit_store(swarmd_submission *sub, size_t n)
{
    swarmd *d = sub->d;
    char err[512];
    planner_job *pj = sub->pj;
    int rc = n ? sched_job_stage(d->sched, sub->job_id, pj->produced - n, pj->spec.tasks, n,
                                 stage_done, sub, err, sizeof err)
               : sched_job_commit(d->sched, sub->job_id, &pj->spec, sub->staged, submit_done, sub,
                                  err, sizeof err);
    if (rc != 0) {
        char msg[700];
        snprintf(msg, sizeof msg, "job not accepted: %s", err);
        if (sub->upload_id[0]) upload_unlink(sub);
        sub_fail(sub, WIRE_E_INTERNAL, msg);
    }
}

static void submit_next_after(uv_work_t *w, int status)
{
    swarmd_submission *sub = w->data;
    if (status != 0 || sub->d->stopping || !sub->d->sched) {
        sub_fail(sub, WIRE_E_INTERNAL, "swarmd is shutting down; job not stored");
        return;
    }
    if (sub->rc < 0) { /* the workspace changed under the planner */
        sub_fail(sub, WIRE_E_BAD_REQUEST, sub->err);
        return;
    }
    submit_store(sub, (size_t)sub->rc);
}

/* Off the loop: check the text, plan (glob, count lines), and for a small
 * fan-out make every task at once. */
static void submit_open_work(uv_work_t *w)
{
    swarmd_submission *sub = w->data;
    sub->rc = -1;
    if (planner_text_check(sub->json, sub->err, sizeof sub->err) == 0 &&
        planner_open(sub->json, sub->base_dir, sub->flags, sub->items_total, &sub->pj, sub->err,
                     sizeof sub->err) == 0) {
        sub->rc = 0;
        planner_job *pj = sub->pj;
        if (pj->chunked && !(sub->flags & PLANNER_ITEMS_STREAMED) &&
            pj->total <= SWARMD_WHOLE_TASKS)
            sub->rc = planner_job_next(pj, pj->total, SIZE_MAX, sub->err, sizeof sub->err);
    }
    free(sub->json); /* the plan holds what it needs */
    sub->json = NULL;
}

/* A job whose budget.max_tokens cannot fit the context of the workers'
 * model is refused before it exists, instead of every attempt of every
 * sub-task failing later. Only workers know their context: they announce it
 * in their model at Register, "name (arch, ctx N)" (the sim engine announces
 * none and is not checked; nor is a swarm with no worker yet). Checked here,
 * not in the CLI, so a Submit needs no Status request before it. */
static int submit_context_check(swarmd *d, uint32_t want, char *why, size_t whylen)
{
    const swarmd_worker *tight = NULL;
    unsigned long n_ctx = 0;
    for (size_t i = 0; want && i < d->n_workers; i++) {
        const char *p = strstr(d->workers[i]->model, "ctx ");
        char *end = NULL;
        unsigned long v = p ? strtoul(p + 4, &end, 10) : 0;
        if (!p || end == p + 4 || v == 0 || v >= 0x7fffffff) continue;
        if (!n_ctx || v < n_ctx) {
            n_ctx = v;
            tight = d->workers[i];
        }
    }
    if (!tight || want < n_ctx) return 0;
    snprintf(why, whylen,
             "budget.max_tokens %u does not fit the model context of %lu tokens (worker %s "
             "runs %s); the prompt needs room too: use a budget.max_tokens well below %lu",
             want, n_ctx, tight->name, tight->model, n_ctx);
    return -1;
}

static void submit_open_after(uv_work_t *w, int status)
{
    swarmd_submission *sub = w->data;
    swarmd *d = sub->d;
    char err[1024];
    if (status != 0 || d->stopping || !d->sched) {
        sub_fail(sub, WIRE_E_INTERNAL, "swarmd is shutting down; job not stored");
        return;
    }
    if (sub->rc < 0) {
        swarmd_log(d, "submit rejected: %s", sub->err);
        reply_error(sub->r, WIRE_E_BAD_REQUEST, sub->err);
        sub_free(sub);
        return;
    }
    planner_job *pj = sub->pj;
    char why[600];
    if (submit_context_check(d, pj->spec.max_tokens, why, sizeof why) != 0) {
        swarmd_log(d, "submit rejected: %s", why);
        reply_error(sub->r, WIRE_E_BAD_REQUEST, why);
        sub_free(sub);
        return;
    }
    sched_job_id_new(sub->job_id, sizeof sub->job_id);
    snprintf(sub->r->job_id, sizeof sub->r->job_id, "%s", sub->job_id);
    /* logged once the job's calls (and Assigns) are on their way: a log line
     * is a write() the first sub-task need not wait for */
    if (sub->flags & PLANNER_ITEMS_STREAMED || (pj->chunked && pj->total > SWARMD_WHOLE_TASKS))
        submit_log(d, sub);
    if (sub->flags & PLANNER_ITEMS_STREAMED) {
        /* an upload: the items come in SubmitChunks, each acknowledged */
        uint64_t tok = sched_token_new();
        snprintf(sub->upload_id, sizeof sub->upload_id, "u%016llx", (unsigned long long)tok);
        sub->next = d->uploads;
        d->uploads = sub;
        d->n_uploads++;
        upload_ack(sub);
        return;
    }
    if (!pj->chunked || pj->total <= SWARMD_WHOLE_TASKS) {
        /* whole (a DAG, or small): one submit.lua call, pj alive until it
         * answers; a small plain job on an idle swarm is leased in that call
         * and its Assigns leave now, ahead of the answer */
        err[0] = 0;
        bool ahead =
            swarmd_submit_ahead(d, sub->job_id, &pj->spec, submit_ahead_done, sub, err, sizeof err);
        int rc = ahead ? (err[0] ? -1 : 0)
                       : sched_job_submit(d->sched, sub->job_id, &pj->spec, submit_done, sub, err,
                                          sizeof err);
        if (rc != 0) {
            char msg[1100];
            snprintf(msg, sizeof msg, "job not accepted: %s", err);
            submit_log(d, sub);
            sub_fail(sub, WIRE_E_INTERNAL, msg);
            return;
        }
        /* Otherwise lease now, pipelined behind submit.lua on the same
         * connection: Redis runs them in order, so the lease sees the stored
         * tasks, and the first task leaves one round trip sooner than after
         * the answer (if the submit fails, the lease finds nothing). */
        sub->leased_behind = true;
        if (!ahead) swarmd_dispatch(d);
        submit_log(d, sub);
        return;
    }
    sub_queue(sub, submit_next_work, submit_next_after);
}

static swarmd_submission *sub_new(client_req *r, const char *json, const char *base_dir)
{
    swarmd_submission *sub = calloc(1, sizeof *sub);
    if (!sub || !(sub->json = strdup(json)) || !(sub->base_dir = strdup(base_dir))) {
        if (sub) free(sub->json);
        free(sub);
        reply_fail(r, WIRE_E_INTERNAL, "out of memory");
        return NULL;
    }
    sub->d = r->d;
    sub->r = r;
    return sub;
}

/* Planning reads files only for agent jobs (their workspace) and for
 * fanout.lines / fanout.glob; a small job that names none of them (and has
 * no \u escape that could spell one) is planned right here on the loop: the
 * thread pool's hand-off and wake-up back would be most of a small job's
 * submit time. Anything else, or anything in doubt, goes to the pool. */
#define SWARMD_INLINE_PLAN_BYTES 16384

static bool submit_plans_inline(const char *json)
{
    static const char *const io_keys[] = {"\"agent\"", "\"lines\"", "\"glob\"", "\"workspace\"",
                                          "\\u"};
    if (strlen(json) > SWARMD_INLINE_PLAN_BYTES) return false;
    for (size_t i = 0; i < sizeof io_keys / sizeof io_keys[0]; i++)
        if (strstr(json, io_keys[i])) return false;
    return true;
}

static void handle_submit(client_req *r, const Swarm__Submit *s)
{
    r->hold_ms = s->wait_ms > 60000 ? 60000 : s->wait_ms;
    swarmd_submission *sub = sub_new(r, s->job_json, s->base_dir);
    if (!sub) return;
    if (submit_plans_inline(s->job_json)) {
        sub->work.data = sub;
        submit_open_work(&sub->work);
        submit_open_after(&sub->work, 0);
        return;
    }
    sub_queue(sub, submit_open_work, submit_open_after);
}

static void handle_submit_begin(client_req *r, const Swarm__SubmitBegin *b)
{
    swarmd *d = r->d;
    if (d->n_uploads >= SWARMD_MAX_UPLOADS) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "SubmitBegin: %d uploads are in progress already; try again when one ends",
                 SWARMD_MAX_UPLOADS);
        reply_fail(r, WIRE_E_BAD_REQUEST, msg);
        return;
    }
    swarmd_submission *sub = sub_new(r, b->job_json, b->base_dir);
    if (!sub) return;
    sub->flags = PLANNER_ITEMS_STREAMED;
    sub->items_total = b->items_total;
    memcpy(sub->owner, r->id, r->id_len);
    sub->owner_len = r->id_len;
    sub->busy = true; /* not listed until planned */
    sub_queue(sub, submit_open_work, submit_open_after);
}

/* The upload a part names, if it may take one: else r is answered and NULL. */
static swarmd_submission *upload_part(client_req *r, const char *what, const char *upload_id)
{
    swarmd *d = r->d;
    char msg[300];
    swarmd_submission *sub = d->uploads;
    while (sub && strcmp(sub->upload_id, upload_id) != 0)
        sub = sub->next;
    if (!sub)
        snprintf(msg, sizeof msg,
                 "%s: unknown upload \"%.40s\" (never begun, already ended, or discarded: "
                 "nothing came for %llu ms or a part was refused)",
                 what, upload_id, (unsigned long long)d->cfg.upload_timeout_ms);
    else if (sub->owner_len != r->id_len || memcmp(sub->owner, r->id, r->id_len) != 0)
        snprintf(msg, sizeof msg, "%s: upload %s belongs to another client", what, upload_id);
    else if (sub->busy)
        snprintf(msg, sizeof msg,
                 "%s: upload %s is still storing the previous part; send the next one after its "
                 "SubmitAck",
                 what, upload_id);
    else
        return sub;
    reply_fail(r, WIRE_E_BAD_REQUEST, msg);
    return NULL;
}

/* A part was refused: the upload is gone, the client told why. */
static void upload_refuse(swarmd_submission *sub, client_req *r, const char *msg)
{
    char full[1200];
    snprintf(full, sizeof full, "%s; upload discarded", msg);
    upload_discard(sub, msg);
    reply_fail(r, WIRE_E_BAD_REQUEST, full);
}

static void handle_submit_chunk(client_req *r, const Swarm__SubmitChunk *c)
{
    swarmd_submission *sub = upload_part(r, "SubmitChunk", c->upload_id);
    if (!sub) return;
    char msg[1100], err[1024];
    size_t len = strlen(c->items_json);
    if (c->seq != sub->next_seq) {
        snprintf(msg, sizeof msg,
                 "SubmitChunk: upload %s: chunk seq %llu out of order (expected %llu)",
                 sub->upload_id, (unsigned long long)c->seq, (unsigned long long)sub->next_seq);
        upload_refuse(sub, r, msg);
        return;
    }
    if (len > SWARMD_CHUNK_MAX_BYTES) {
        snprintf(msg, sizeof msg,
                 "SubmitChunk: upload %s: chunk %llu is too large (%zu bytes; at most %u)",
                 sub->upload_id, (unsigned long long)c->seq, len, SWARMD_CHUNK_MAX_BYTES);
        upload_refuse(sub, r, msg);
        return;
    }
    /* parsed here, on the loop: at most SWARMD_CHUNK_MAX_BYTES, no file I/O */
    int n = planner_job_items(sub->pj, c->items_json, err, sizeof err);
    if (n < 0) {
        snprintf(msg, sizeof msg, "SubmitChunk: upload %s: chunk %llu: %s", sub->upload_id,
                 (unsigned long long)c->seq, err);
        upload_refuse(sub, r, msg);
        return;
    }
    sub->next_seq++;
    sub->busy = true;
    sub->r = r;
    if (n == 0)
        upload_ack(sub);
    else
        submit_store(sub, (size_t)n);
}

static void handle_submit_end(client_req *r, const Swarm__SubmitEnd *e)
{
    swarmd_submission *sub = upload_part(r, "SubmitEnd", e->upload_id);
    if (!sub) return;
    char msg[400];
    if (e->chunks != sub->next_seq || sub->pj->produced != sub->pj->total) {
        snprintf(msg, sizeof msg,
                 "SubmitEnd: upload %s: %llu chunk(s) with %zu item(s) received, %llu chunk(s) "
                 "sent and %zu item(s) announced in SubmitBegin",
                 sub->upload_id, (unsigned long long)sub->next_seq, sub->pj->produced,
                 (unsigned long long)e->chunks, sub->pj->total);
        upload_refuse(sub, r, msg);
        return;
    }
    upload_unlink(sub); /* from here it is a submission like any other */
    snprintf(r->job_id, sizeof r->job_id, "%s", sub->job_id);
    sub->r = r;
    submit_store(sub, 0);
}

void swarmd_uploads_tick(swarmd *d, uint64_t now)
{
    for (swarmd_submission *sub = d->uploads, *next; sub; sub = next) {
        next = sub->next;
        if (!sub->busy && now - sub->last_ms >= d->cfg.upload_timeout_ms) {
            char why[160];
            snprintf(why, sizeof why, "no part for %llu ms (the client is gone?)",
                     (unsigned long long)(now - sub->last_ms));
            upload_discard(sub, why);
        }
    }
}

void swarmd_uploads_free(swarmd *d)
{
    while (d->uploads) {
        swarmd_submission *sub = d->uploads;
        d->uploads = sub->next;
        sub_free(sub); /* Redis is gone: purge.lua drops what it staged */
    }
    d->n_uploads = 0;
}

static void cancel_done(void *ud, int rc, const char *err, const char *prev,
                        const sched_taskref *running, const char *const *workers, size_t n)
{
    client_req *r = ud;
    swarmd *d = r->d;
    if (rc != 0 && r->silent) {
        d->counters[SWARMD_C_REDIS_ERRORS]++;
        swarmd_log(d, "cancel of %s not finished (%s); run swarm cancel again", r->job_id,
                   err ? err : "failed");
        free(r);
        return;
    }
    if (rc != 0) {
        char msg[512];
        bool unknown = err && strstr(err, "unknown job");
        if (!unknown) d->counters[SWARMD_C_REDIS_ERRORS]++;
        snprintf(msg, sizeof msg, "cancel %s: %s", r->job_id, err ? err : "failed");
        reply_fail(r, unknown ? WIRE_E_BAD_REQUEST : WIRE_E_INTERNAL, msg);
        return;
    }
    bool more = prev && strcmp(prev, "running-more") == 0;
    if (more) prev = "running";
    if (!r->silent)
        swarmd_log(d, "job %s cancelled (was %s), stopping %zu running task(s)", r->job_id, prev,
                   n);
    swarmd_tasks_stop(d, running, workers, n);
    swarmd_merge_pending(d);
    if (more && !d->stopping && d->sched) {
        /* the rest of a big job, chunk by chunk; the client hears back now */
        client_req *next = calloc(1, sizeof *next);
        char err2[256];
        if (next) {
            next->d = d;
            next->silent = true;
            snprintf(next->job_id, sizeof next->job_id, "%s", r->job_id);
            if (sched_job_cancel(d->sched, next->job_id, cancel_done, next, err2, sizeof err2) !=
                0) {
                swarmd_log(d, "cancel of %s not finished (%s); run swarm cancel again", r->job_id,
                           err2);
                free(next);
            }
        }
    }
    if (r->silent) {
        free(r);
        return;
    }
    if (d->stopping || !d->sched) {
        reply_error(r, WIRE_E_INTERNAL, "swarmd is shutting down; cancel stored");
        free(r);
        return;
    }
    status_of_job(r);
}

/* `swarm cancel JOB TASK`: a task that had ended, or a job that is not
 * running, is an Error naming its state, so the CLI reports it honestly. */
static void task_cancel_done(void *ud, int rc, const char *err, bool cancelled, const char *state,
                             uint32_t attempt, const char *worker)
{
    client_req *r = ud;
    swarmd *d = r->d;
    char msg[512];
    if (rc < 0) {
        bool unknown = err && strstr(err, "unknown ");
        if (!unknown) d->counters[SWARMD_C_REDIS_ERRORS]++;
        snprintf(msg, sizeof msg, "cancel %s %s: %s", r->job_id, r->task_id, err ? err : "failed");
        reply_fail(r, unknown ? WIRE_E_BAD_REQUEST : WIRE_E_INTERNAL, msg);
        return;
    }
    if (rc > 0 || !cancelled) {
        if (rc > 0)
            snprintf(msg, sizeof msg, "job %s is %s, not running; task %s not cancelled", r->job_id,
                     state, r->task_id);
        else
            snprintf(msg, sizeof msg, "task %s of job %s had already ended %s; nothing to cancel",
                     r->task_id, r->job_id, state);
        reply_fail(r, WIRE_E_BAD_REQUEST, msg);
        return;
    }
    swarmd_log(d, "task %s/%s cancelled (was %s)", r->job_id, r->task_id, state);
    if (strcmp(state, "leased") == 0 || strcmp(state, "running") == 0) {
        sched_taskref ref = {.job_id = r->job_id, .task_id = r->task_id, .attempt = attempt};
        const char *w = worker;
        swarmd_tasks_stop(d, &ref, &w, 1);
    }
    swarmd_merge_pending(d);
    if (d->stopping || !d->sched) {
        reply_error(r, WIRE_E_INTERNAL, "swarmd is shutting down; cancel stored");
        free(r);
        return;
    }
    status_of_job(r);
}

static void retry_done(void *ud, int rc, const char *err, const char *prev, size_t n)
{
    client_req *r = ud;
    swarmd *d = r->d;
    char msg[512];
    if (rc != 0) {
        bool unknown = err && strstr(err, "unknown job");
        if (!unknown) d->counters[SWARMD_C_REDIS_ERRORS]++;
        snprintf(msg, sizeof msg, "retry %s: %s", r->job_id, err ? err : "failed");
        reply_fail(r, unknown ? WIRE_E_BAD_REQUEST : WIRE_E_INTERNAL, msg);
        return;
    }
    if (strcmp(prev, "failed") != 0) {
        /* nothing changed: say why, the CLI shows it as is */
        snprintf(msg, sizeof msg,
                 "retry %s: the job is %s; only a failed job has failed sub-tasks to re-run%s",
                 r->job_id, prev,
                 strcmp(prev, "running") == 0 || strcmp(prev, "merging") == 0
                     ? " (wait for it to end: swarm wait)"
                     : "");
        reply_fail(r, WIRE_E_BAD_REQUEST, msg);
        return;
    }
    swarmd_log(d, "job %s retried: %zu failed task(s) back to ready", r->job_id, n);
    swarmd_dispatch(d);
    if (d->stopping || !d->sched) {
        reply_error(r, WIRE_E_INTERNAL, "swarmd is shutting down; retry stored");
        free(r);
        return;
    }
    status_of_job(r);
}

static void removed_done(void *ud, int rc, const char *err, const char *running, long long left)
{
    client_req *r = ud;
    swarmd *d = r->d;
    char msg[512];
    if (rc != 0) {
        bool unknown = err && strstr(err, "unknown job");
        if (!unknown) d->counters[SWARMD_C_REDIS_ERRORS]++;
        snprintf(msg, sizeof msg, "rm %s: %s", r->job_id, err ? err : "failed");
        reply_error(r, unknown ? WIRE_E_BAD_REQUEST : WIRE_E_INTERNAL, msg);
    } else if (running) {
        snprintf(msg, sizeof msg, "rm %s: the job is %s; cancel it first (swarm cancel %s)",
                 r->job_id, running, r->job_id);
        reply_error(r, WIRE_E_BAD_REQUEST, msg);
    } else {
        d->counters[SWARMD_C_JOBS_REMOVED]++;
        swarmd_log(d, "job %s removed (%lld task record(s) left to delete in the background)",
                   r->job_id, left);
        reply_status(r, NULL, 0);
    }
    free(r);
}

/* ---- Events: a page of a job's logs (`swarm logs`, `swarm top`) ---- */

#define SWARMD_LOG_LIMIT 500        /* most entries in one Events reply */
#define SWARMD_LOG_BYTES (1u << 20) /* about this many bytes of them at most */

static void logs_done(void *ud, int rc, const char *err, const sched_log_page *pg)
{
    client_req *r = ud;
    swarmd *d = r->d;
    if (rc != 0) {
        bool unknown = err && strstr(err, "unknown job");
        bool bad = err && strstr(err, "log kind");
        if (!unknown && !bad) d->counters[SWARMD_C_REDIS_ERRORS]++;
        char msg[512];
        snprintf(msg, sizeof msg, "logs: %s", err ? err : "failed");
        reply_fail(r, unknown || bad ? WIRE_E_BAD_REQUEST : WIRE_E_INTERNAL, msg);
        return;
    }
    Swarm__Envelope env;
    Swarm__Events ev;
    wire_envelope_init(&env, "swarmd", r->corr);
    swarm__events__init(&ev);
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_EVENTS;
    env.events = &ev;
    Swarm__LogEntry *es = calloc(pg->n ? pg->n : 1, sizeof *es);
    Swarm__LogEntry **ep = calloc(pg->n ? pg->n : 1, sizeof *ep);
    if (!es || !ep) {
        reply_error(r, WIRE_E_INTERNAL, "out of memory building the Events reply");
        goto out;
    }
    for (size_t i = 0; i < pg->n; i++) {
        swarm__log_entry__init(&es[i]);
        ep[i] = &es[i];
        es[i].id = (char *)pg->entries[i].id;
        es[i].task_id = (char *)pg->entries[i].task;
        es[i].fields = (char **)pg->entries[i].fields;
        es[i].n_fields = pg->entries[i].n_fields;
    }
    ev.job_id = r->job_id;
    ev.entries = ep;
    ev.n_entries = pg->n;
    ev.next = (char *)pg->next;
    ev.job_state = (char *)pg->state;
    ev.more = pg->more;
    ev.trimmed = pg->trimmed;
    ev.first = (char *)pg->first;
    if (swarmd_send(d, d->client, r->id, r->id_len, &env) != 0)
        reply_error(r, WIRE_E_INTERNAL, "Events reply could not be sent (too large?)");
out:
    free(es);
    free(ep);
    free(r);
}

static void handle_events(client_req *r, const Swarm__Events *e)
{
    char err[300];
    bool live = strcmp(e->kind, "live") == 0;
    if ((!live && !e->job_id[0]) || strlen(e->job_id) >= sizeof r->job_id ||
        strlen(e->task_id) >= 64 || strlen(e->after) >= 128) {
        reply_fail(r, WIRE_E_BAD_REQUEST,
                   "Events: job_id missing (only kind live may omit it), or job_id, task_id or "
                   "after too long");
        return;
    }
    snprintf(r->job_id, sizeof r->job_id, "%s", e->job_id);
    uint32_t limit = e->limit == 0 || e->limit > SWARMD_LOG_LIMIT ? SWARMD_LOG_LIMIT : e->limit;
    if (sched_logs_read(r->d->sched, e->kind, e->job_id, e->task_id, e->after, limit,
                        SWARMD_LOG_BYTES, logs_done, r, err, sizeof err) != 0) {
        reply_fail(r, WIRE_E_INTERNAL, err);
    }
}

void swarmd_client_handle(swarmd *d, const uint8_t *id, size_t id_len, Swarm__Envelope *env)
{
    client_req *r = req_new(d, id, id_len, env->correlation_id);
    char err[300];
    if (!r) {
        swarmd_send_error(d, d->client, id, id_len, env->correlation_id, WIRE_E_INTERNAL,
                          "out of memory");
        return;
    }
    switch (env->payload_case) {
    case SWARM__ENVELOPE__PAYLOAD_SUBMIT:
        handle_submit(r, env->submit);
        return;
    case SWARM__ENVELOPE__PAYLOAD_SUBMIT_BEGIN:
        handle_submit_begin(r, env->submit_begin);
        return;
    case SWARM__ENVELOPE__PAYLOAD_SUBMIT_CHUNK:
        handle_submit_chunk(r, env->submit_chunk);
        return;
    case SWARM__ENVELOPE__PAYLOAD_SUBMIT_END:
        handle_submit_end(r, env->submit_end);
        return;
    case SWARM__ENVELOPE__PAYLOAD_STATUS: {
        const Swarm__Status *s = env->status;
        for (size_t i = 0; i < s->n_job_ids; i++) {
            if (!s->job_ids[i][0] || strlen(s->job_ids[i]) >= sizeof r->job_id) {
                reply_fail(r, WIRE_E_BAD_REQUEST, "Status.job_ids: empty or too long job id");
                return;
            }
        }
        r->with_result = s->with_result;
        r->with_tasks = s->with_tasks;
        if (s->wait_ms && s->n_job_ids == 1) {
            snprintf(r->job_id, sizeof r->job_id, "%s", s->job_ids[0]);
            r->wait_until = uv_now(&d->loop) + (s->wait_ms > 60000 ? 60000 : s->wait_ms);
            /* a job this swarmd stored and has not merged yet: nothing to read
             * before it ends (its merge answers the waiter); the first page of
             * the result is what a held Status gets. Not while Redis is down:
             * then the read tells the client so (Error 7). */
            if (sched_is_up(d->sched) && swarmd_live_has(d, r->job_id) && !s->result_offset &&
                (!s->result_limit || s->result_limit >= SWARMD_RESULT_PAGE) && waiter_hold(r))
                return;
        }
        /* a page, never the whole result: replies stay far below WIRE_MAX_MSG */
        uint32_t limit = s->result_limit;
        if (limit == 0 || limit > SWARMD_RESULT_PAGE) limit = SWARMD_RESULT_PAGE;
        /* many jobs at once: no results (each would be a page) */
        bool with_result = s->with_result && s->n_job_ids == 1;
        if (sched_status(d->sched, (const char *const *)s->job_ids, s->n_job_ids, s->with_tasks,
                         with_result, s->result_offset, limit, status_done, r, err,
                         sizeof err) != 0) {
            reply_fail(r, WIRE_E_INTERNAL, err);
        }
        return;
    }
    case SWARM__ENVELOPE__PAYLOAD_CANCEL: {
        const Swarm__Cancel *c = env->cancel;
        if (!c->job_id[0] || strlen(c->job_id) >= sizeof r->job_id) {
            reply_fail(r, WIRE_E_BAD_REQUEST, "Cancel.job_id: missing or too long");
            return;
        }
        snprintf(r->job_id, sizeof r->job_id, "%s", c->job_id);
        if (c->remove) {
            if (sched_job_remove(d->sched, r->job_id, removed_done, r, err, sizeof err) != 0) {
                reply_fail(r, WIRE_E_INTERNAL, err);
            }
            return;
        }
        if (c->task_id[0]) {
            if (strlen(c->task_id) >= sizeof r->task_id) {
                reply_fail(r, WIRE_E_BAD_REQUEST, "Cancel.task_id: too long");
                return;
            }
            snprintf(r->task_id, sizeof r->task_id, "%s", c->task_id);
            if (sched_task_cancel(d->sched, r->job_id, r->task_id, task_cancel_done, r, err,
                                  sizeof err) != 0) {
                reply_fail(r, WIRE_E_INTERNAL, err);
            }
            return;
        }
        if (sched_job_cancel(d->sched, r->job_id, cancel_done, r, err, sizeof err) != 0) {
            reply_fail(r, WIRE_E_INTERNAL, err);
        }
        return;
    }
    case SWARM__ENVELOPE__PAYLOAD_EVENTS:
        handle_events(r, env->events);
        return;
    case SWARM__ENVELOPE__PAYLOAD_RETRY: {
        const Swarm__Retry *rt = env->retry;
        if (!rt->job_id[0] || strlen(rt->job_id) >= sizeof r->job_id) {
            reply_fail(r, WIRE_E_BAD_REQUEST, "Retry.job_id: missing or too long");
            return;
        }
        snprintf(r->job_id, sizeof r->job_id, "%s", rt->job_id);
        if (sched_job_retry(d->sched, r->job_id, retry_done, r, err, sizeof err) != 0) {
            reply_fail(r, WIRE_E_INTERNAL, err);
        }
        return;
    }
    default: {
        char msg[128];
        d->counters[SWARMD_C_CLIENT_UNEXPECTED]++;
        snprintf(msg, sizeof msg, "payload %d is not valid on the client endpoint",
                 (int)env->payload_case);
        swarmd_log(d, "bad frame on the client endpoint: %s", msg);
        swarmd_send_error(d, d->client, id, id_len, env->correlation_id, WIRE_E_UNEXPECTED, msg);
        free(r);
        return;
    }
    }
}
