/* swarmd_client.c - the client endpoint: Submit, Status, Cancel.
 *
 * Each request is answered exactly once (Status or Error, same correlation
 * id). Replies wait for Redis: a Submit is acknowledged only after the job
 * and all its tasks are stored, so an acknowledged job survives a crash. */
#include "swarmd.h"

#include <stdlib.h>
#include <string.h>

#include "planner.h"

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
    struct client_req *next; /* in d->waiters */
    planner_job *pj; /* a Submit's plan: sched reads a large job's tasks until submit_done */
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
        ws[i].busy = (uint32_t)w->n_inflight;
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

/* Hold r until its job ends (or its time is up): true when parked. */
static bool waiter_park(client_req *r, const sched_job_status *jobs, size_t n)
{
    swarmd *d = r->d;
    if (!r->wait_until || n != 1 || !jobs[0].found || jobs[0].result_size) return false;
    if (uv_now(&d->loop) >= r->wait_until || d->n_waiters >= SWARMD_MAX_WAITERS || d->stopping)
        return false;
    r->next = d->waiters;
    d->waiters = r;
    d->n_waiters++;
    return true;
}

/* Detach the waiters matching (job, or every one past now) and answer them. */
static void waiters_answer(swarmd *d, const char *job_id, uint64_t now)
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
        status_of_job(r);
    }
}

void swarmd_waiters_wake(swarmd *d, const char *job_id)
{
    if (d->waiters) waiters_answer(d, job_id, 0);
}

void swarmd_waiters_tick(swarmd *d, uint64_t now)
{
    if (d->waiters) waiters_answer(d, NULL, now);
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
    }
}

static void submit_done(void *ud, int rc, const char *err)
{
    client_req *r = ud;
    swarmd *d = r->d;
    planner_job_free(r->pj);
    r->pj = NULL;
    swarmd_redis_outcome(d, rc != 0 ? err : NULL);
    if (rc != 0) {
        d->counters[SWARMD_C_REDIS_ERRORS]++;
        char msg[512];
        snprintf(msg, sizeof msg, "could not store job %s: %s", r->job_id, err);
        swarmd_log(d, "%s", msg);
        reply_fail(r, WIRE_E_INTERNAL, msg);
        return;
    }
    d->counters[SWARMD_C_JOBS_SUBMITTED]++;
    swarmd_log(d, "job %s stored", r->job_id);
    swarmd_dispatch(d);
    if (d->stopping || !d->sched) {
        reply_error(r, WIRE_E_INTERNAL, "swarmd is shutting down; job stored");
        free(r);
        return;
    }
    status_of_job(r);
}

/* The job text must be UTF-8 (status --json echoes it back, and JSON is
 * UTF-8) and must not hold a \u0000 escape (items travel as C strings: a
 * NUL would silently cut them). 0, or -1 with err naming the byte. */
static int submit_text_check(const char *s, char *err, size_t errlen)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (p[i]) {
        unsigned c = p[i];
        size_t n = c < 0x80             ? 1
                   : (c & 0xE0) == 0xC0 ? 2
                   : (c & 0xF0) == 0xE0 ? 3
                   : (c & 0xF8) == 0xF0 ? 4
                                        : 0;
        unsigned cp = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
        for (size_t k = 1; k < n; k++) {
            if ((p[i + k] & 0xC0) != 0x80) {
                n = 0;
                break;
            }
            cp = cp << 6 | (p[i + k] & 0x3F);
        }
        /* overlong forms, surrogates and beyond U+10FFFF are invalid too */
        if (n == 0 || (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
            (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) {
            snprintf(err, errlen,
                     "the job file is not valid UTF-8 (byte 0x%02x at offset %zu); save it as "
                     "UTF-8",
                     c, i);
            return -1;
        }
        if (c == '\\') {
            size_t run = 1;
            while (p[i + run] == '\\')
                run++;
            /* an odd run of backslashes escapes what follows */
            if (run % 2 == 1 && p[i + run] == 'u' && p[i + run + 1] == '0' &&
                p[i + run + 2] == '0' && p[i + run + 3] == '0' && p[i + run + 4] == '0') {
                snprintf(err, errlen,
                         "the job has a \\u0000 (NUL) escape at offset %zu: NUL cannot be part "
                         "of an item or instruction",
                         i + run - 1);
                return -1;
            }
            i += run;
            continue;
        }
        i += n;
    }
    return 0;
}

static void handle_submit(client_req *r, const Swarm__Submit *s)
{
    swarmd *d = r->d;
    char err[1024];
    planner_job *pj = NULL;
    if (submit_text_check(s->job_json, err, sizeof err) != 0) {
        swarmd_log(d, "submit rejected: %s", err);
        reply_fail(r, WIRE_E_BAD_REQUEST, err);
        return;
    }
    if (planner_plan(s->job_json, s->base_dir, &pj, err, sizeof err) != 0) {
        swarmd_log(d, "submit rejected: %s", err);
        reply_fail(r, WIRE_E_BAD_REQUEST, err);
        return;
    }
    sched_job_id_new(r->job_id, sizeof r->job_id);
    if (sched_job_submit(d->sched, r->job_id, &pj->spec, submit_done, r, err, sizeof err) != 0) {
        char msg[1100];
        snprintf(msg, sizeof msg, "job not accepted: %s", err);
        reply_fail(r, WIRE_E_INTERNAL, msg);
        planner_job_free(pj);
    } else {
        swarmd_log(d, "job %s (%s): %zu task(s), merge %s", r->job_id, pj->spec.name,
                   pj->spec.n_tasks, pj->spec.merge);
        r->pj = pj; /* freed by submit_done */
    }
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
