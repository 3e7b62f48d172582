/* http_loop.c - swarmd's HTTP server, the loop's side: answers the API
 * requests MHD threads queue, produces the SSE events, keeps the figures
 * /metrics reports.
 *
 * Events come from two places. Job progress and task transitions are read
 * back from Redis, the source of truth, by a sweep every HTTP_SWEEP_MS while
 * someone listens: the summaries of all jobs, then the tasks of the jobs
 * that run (or just stopped running), each diffed against the last sweep.
 * Live output cannot wait for that: the taps on the worker endpoint turn
 * each Progress (its text tail, agent step line, pause) and Result into an
 * event at once. The same taps time dispatch (an Assign sent until the
 * worker's first Progress or Result for it) and count tokens per worker. */
#include "http_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "swarm_buf.h"
#include "swarm_clock.h"
#include "swarmd.h"

#define FLIGHT_BUCKETS 4096
#define FLIGHT_MAX 100000         /* assigns tracked at once; more are not timed */
#define FLIGHT_FORGET_MS 3600000u /* an assign never answered is forgotten after this */
#define RATE_WINDOW_MS 2000       /* tokens/s is measured over windows this long */
#define WSTATS_MAX 4096           /* distinct worker names with token counts */
#define TAIL_MAX 160              /* output tail kept per running task */
#define STEP_LINE_MAX 400         /* an agent step line, as far as events show it */

typedef struct hist {
    const double *bounds;
    size_t n;
    uint64_t counts[16]; /* counts[i]: observations <= bounds[i]; counts[n]: the rest */
    double sum;
    uint64_t count;
} hist;

static const double dispatch_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                         0.5,   1,    2.5,   5,    10,  30};
static const double rtt_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};

typedef struct flight {
    struct flight *next;
    char job[64], task[32];
    uint32_t attempt;
    char worker[128];
    uint64_t assigned_ms;
    bool started;
    uint32_t tokens;
    char tail[TAIL_MAX];
} flight;

typedef struct wstats {
    char name[128];
    uint64_t tokens;        /* all tokens its tasks reported */
    uint64_t window_tokens; /* tokens at the window's start */
    uint64_t window_ms;
    double rate;
} wstats;

typedef struct sweep_job {
    char id[64];
    char *sig; /* the job's summary JSON: an event when it changes */
    bool running, seen;
    bool tasks_known; /* task sigs hold a baseline */
    size_t n_tasks;
    char **task_ids, **task_sigs;
} sweep_job;

struct http_loop {
    flight *flights[FLIGHT_BUCKETS];
    size_t n_flights;
    wstats *ws;
    size_t n_ws;
    hist dispatch, rtt;
    uint64_t last_forget_ms;
    /* the sweep */
    bool sweeping, baseline_done, stopped;
    sweep_job **jobs;
    size_t n_jobs, cap_jobs;
    char *workers_sig;
};

/* ---- small helpers ---- */

/* A Prometheus label value: backslash, quote and newline escaped. */
static void sb_label(swarm_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            swarm_buf_printf(b, "\\%c", *s);
        else if (*s == '\n')
            swarm_buf_printf(b, "\\n");
        else
            swarm_buf_printf(b, "%c", *s);
    }
}

static void hist_observe(hist *h, double v)
{
    size_t i = 0;
    while (i < h->n && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

static void hist_print(swarm_buf *b, const char *name, const char *help, const hist *h)
{
    swarm_buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i < h->n; i++) {
        cum += h->counts[i];
        swarm_buf_printf(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, h->bounds[i], cum);
    }
    swarm_buf_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %.6f\n%s_count %" PRIu64 "\n",
                     name, h->count, name, h->sum, name, h->count);
}

static char *json_take(cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

/* Answer r with o (consumed) as JSON, or 500 when it cannot be printed. */
static void reply_json(http_req *r, cJSON *o)
{
    char *s = json_take(o);
    if (s)
        http_req_finish(r, 200, "application/json", s);
    else
        http_req_error(r, 500, "out of memory");
}

static swarmd_worker *worker_by_id(swarmd *d, const uint8_t *id, size_t id_len)
{
    for (size_t i = 0; i < d->n_workers; i++)
        if (d->workers[i]->id_len == id_len && !memcmp(d->workers[i]->id, id, id_len))
            return d->workers[i];
    return NULL;
}

/* Append src to out (cap bytes, NUL included) without splitting a UTF-8
 * sequence and with newlines as spaces: a step line is one line. */
static void line_append(char *out, size_t cap, const char *src)
{
    size_t len = strlen(out);
    for (; *src && len + 1 < cap; src++)
        out[len++] = (*src == '\n' || *src == '\r' || *src == '\t') ? ' ' : *src;
    out[len] = 0;
    if (!*src) return;
    /* cut: if the last sequence is incomplete, drop it whole */
    size_t k = len;
    while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80)
        k--;
    if (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0xC0) {
        unsigned char lead = (unsigned char)out[k - 1];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
        if (len - (k - 1) < need) out[k - 1] = 0;
    }
}

/* One readable line for an agent step's transcript record (worker/agent
 * loop.c: content, tool_calls [{name, arguments, status, observation}],
 * final): "name(arguments) -> observation; ..." or "answer: content".
 * Returns whether the step was the final answer. */
static bool step_summary(const char *record, char *out, size_t cap)
{
    out[0] = 0;
    cJSON *r = cJSON_Parse(record);
    if (!r) {
        line_append(out, cap, record);
        return false;
    }
    bool final = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "final"));
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(r, "tool_calls");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(r, "content");
    const cJSON *c;
    cJSON_ArrayForEach(c, calls)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(c, "arguments");
        const cJSON *obs = cJSON_GetObjectItemCaseSensitive(c, "observation");
        if (out[0]) line_append(out, cap, "; ");
        line_append(out, cap, cJSON_IsString(name) ? name->valuestring : "?");
        line_append(out, cap, "(");
        line_append(out, cap, cJSON_IsString(args) ? args->valuestring : "");
        line_append(out, cap, ")");
        if (cJSON_IsString(obs) && obs->valuestring[0]) {
            line_append(out, cap, " -> ");
            line_append(out, cap, obs->valuestring);
        }
    }
    if (cJSON_IsString(content) && content->valuestring[0]) {
        if (out[0]) line_append(out, cap, "; ");
        line_append(out, cap, final ? "answer: " : "");
        line_append(out, cap, content->valuestring);
    }
    cJSON_Delete(r);
    return final;
}

/* ---- flights: assigns on their way to the first word from the worker ---- */

static size_t flight_hash(const char *job, const char *task)
{
    uint64_t x = 0xcbf29ce484222325ull;
    for (const char *s = job; *s; s++)
        x = (x ^ (unsigned char)*s) * 0x100000001b3ull;
    x = (x ^ '/') * 0x100000001b3ull;
    for (const char *s = task; *s; s++)
        x = (x ^ (unsigned char)*s) * 0x100000001b3ull;
    return (size_t)(x % FLIGHT_BUCKETS);
}

static flight **flight_find(http_loop *lp, const char *job, const char *task)
{
    flight **pp = &lp->flights[flight_hash(job, task)];
    while (*pp && (strcmp((*pp)->job, job) || strcmp((*pp)->task, task)))
        pp = &(*pp)->next;
    return pp;
}

static void flight_drop(http_loop *lp, flight **pp)
{
    flight *f = *pp;
    *pp = f->next;
    free(f);
    lp->n_flights--;
}

static wstats *wstats_get(http_loop *lp, const char *name)
{
    for (size_t i = 0; i < lp->n_ws; i++)
        if (!strcmp(lp->ws[i].name, name)) return &lp->ws[i];
    if (lp->n_ws == WSTATS_MAX) return NULL;
    wstats *w = &lp->ws[lp->n_ws++];
    memset(w, 0, sizeof *w);
    snprintf(w->name, sizeof w->name, "%s", name);
    w->window_ms = swarm_clock_ms();
    return w;
}

static void tokens_add(http_loop *lp, const char *worker, flight *f, uint32_t tokens)
{
    if (tokens <= f->tokens) return;
    wstats *w = wstats_get(lp, worker);
    if (w) w->tokens += tokens - f->tokens;
    f->tokens = tokens;
}

void swarmd_http_on_send(swarmd_http *h, const uint8_t *id, size_t id_len,
                         const Swarm__Envelope *env)
{
    http_loop *lp = h->lp;
    swarmd *d = h->d;
    if (env->payload_case == SWARM__ENVELOPE__PAYLOAD_ASSIGN) {
        const Swarm__Assign *a = env->assign;
        swarmd_worker *w = worker_by_id(d, id, id_len);
        if (!w || strlen(a->job_id) >= 64 || strlen(a->task_id) >= 32) return;
        flight **pp = flight_find(lp, a->job_id, a->task_id);
        flight *f = *pp;
        if (!f) {
            if (lp->n_flights >= FLIGHT_MAX || !(f = calloc(1, sizeof *f))) return;
            snprintf(f->job, sizeof f->job, "%s", a->job_id);
            snprintf(f->task, sizeof f->task, "%s", a->task_id);
            f->next = lp->flights[flight_hash(a->job_id, a->task_id)];
            lp->flights[flight_hash(a->job_id, a->task_id)] = f;
            lp->n_flights++;
        }
        f->attempt = a->attempt;
        snprintf(f->worker, sizeof f->worker, "%s", w->name);
        f->assigned_ms = swarm_clock_ms();
        f->started = false;
        f->tokens = 0;
        f->tail[0] = 0;
    } else if (env->payload_case == SWARM__ENVELOPE__PAYLOAD_CANCEL) {
        const Swarm__Cancel *c = env->cancel;
        if (!c->task_id || !c->task_id[0]) return;
        flight **pp = flight_find(lp, c->job_id, c->task_id);
        if (*pp) flight_drop(lp, pp);
    }
}

/* The assign's first answer: dispatch latency. */
static void flight_started(http_loop *lp, flight *f)
{
    if (f->started) return;
    f->started = true;
    uint64_t now = swarm_clock_ms();
    hist_observe(&lp->dispatch, (double)(now - f->assigned_ms) / 1000.0);
}

/* The fields every live event about a sub-task attempt starts with. */
static cJSON *task_event(const char *job, const char *task, uint32_t attempt, const char *worker)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "job_id", job);
    cJSON_AddStringToObject(o, "task_id", task);
    cJSON_AddNumberToObject(o, "attempt", attempt);
    cJSON_AddStringToObject(o, "worker", worker);
    return o;
}

void swarmd_http_on_recv(swarmd_http *h, const uint8_t *id, size_t id_len,
                         const Swarm__Envelope *env)
{
    http_loop *lp = h->lp;
    swarmd_worker *w = worker_by_id(h->d, id, id_len);
    if (!w) return; /* only registered workers speak on the dashboard */
    bool listen = http_subscribers(h) > 0;
    if (env->payload_case == SWARM__ENVELOPE__PAYLOAD_PROGRESS) {
        const Swarm__Progress *p = env->progress;
        flight *f = *flight_find(lp, p->job_id, p->task_id);
        if (f && f->attempt == p->attempt) {
            flight_started(lp, f);
            tokens_add(lp, w->name, f, p->tokens);
            if (p->text_tail && p->text_tail[0])
                snprintf(f->tail, sizeof f->tail, "%s", p->text_tail);
        }
        if (!listen) return;
        cJSON *o = task_event(p->job_id, p->task_id, p->attempt, w->name);
        cJSON_AddNumberToObject(o, "tokens", p->tokens);
        cJSON_AddStringToObject(o, "tail", p->text_tail ? p->text_tail : "");
        if (p->step_json && p->step_json[0]) {
            char line[STEP_LINE_MAX + 1];
            bool final = step_summary(p->step_json, line, sizeof line);
            cJSON_AddNumberToObject(o, "step", p->step);
            cJSON_AddNumberToObject(o, "tool_calls", p->tool_calls);
            cJSON_AddStringToObject(o, "step_line", line);
            cJSON_AddBoolToObject(o, "final", final);
        }
        if (p->paused && p->paused[0]) cJSON_AddStringToObject(o, "paused", p->paused);
        char *s = json_take(o);
        if (s) http_event_push(h, "output", s);
        free(s);
    } else if (env->payload_case == SWARM__ENVELOPE__PAYLOAD_RESULT) {
        const Swarm__Result *r = env->result;
        flight **pp = flight_find(lp, r->job_id, r->task_id);
        if (*pp && (*pp)->attempt == r->attempt) {
            flight_started(lp, *pp);
            tokens_add(lp, w->name, *pp, r->tokens);
            flight_drop(lp, pp);
        }
        if (!listen) return;
        cJSON *o = task_event(r->job_id, r->task_id, r->attempt, w->name);
        cJSON_AddBoolToObject(o, "ok", r->ok);
        cJSON_AddNumberToObject(o, "tokens", r->tokens);
        cJSON_AddNumberToObject(o, "elapsed_ms", (double)r->elapsed_ms);
        if (!r->ok) cJSON_AddStringToObject(o, "error", r->error ? r->error : "");
        char *s = json_take(o);
        if (s) http_event_push(h, "result", s);
        free(s);
    }
}

/* ---- JSON views ---- */

static cJSON *job_json(const sched_job_status *j)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "job_id", j->job_id);
    cJSON_AddStringToObject(o, "name", j->name ? j->name : "");
    cJSON_AddStringToObject(o, "state", j->state ? j->state : "");
    cJSON_AddNumberToObject(o, "total", j->total);
    cJSON_AddNumberToObject(o, "done", j->done);
    cJSON_AddNumberToObject(o, "failed", j->failed);
    cJSON_AddNumberToObject(o, "cancelled", j->cancelled);
    cJSON_AddNumberToObject(o, "running", j->running);
    cJSON_AddNumberToObject(o, "ready", j->pending);
    cJSON_AddNumberToObject(o, "created_ms", (double)j->created_ms);
    cJSON_AddNumberToObject(o, "finished_ms", (double)j->finished_ms);
    return o;
}

static cJSON *task_json(http_loop *lp, const char *job, const sched_task_status *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "job_id", job);
    cJSON_AddStringToObject(o, "task_id", t->task_id);
    cJSON_AddStringToObject(o, "state", t->state ? t->state : "");
    cJSON_AddNumberToObject(o, "attempt", t->attempt);
    cJSON_AddStringToObject(o, "worker", t->worker ? t->worker : "");
    cJSON_AddNumberToObject(o, "tokens", t->tokens);
    cJSON_AddStringToObject(o, "error", t->error ? t->error : "");
    /* the live output of a running attempt; none once it ended (the page
     * keeps the last line it saw) */
    flight *f = *flight_find(lp, job, t->task_id);
    if (f && f->tail[0]) cJSON_AddStringToObject(o, "tail", f->tail);
    return o;
}

static cJSON *workers_json(swarmd_http *h, bool live_fields)
{
    swarmd *d = h->d;
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < d->n_workers; i++) {
        const swarmd_worker *w = d->workers[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "worker_id", w->name);
        cJSON_AddStringToObject(o, "hostname", w->hostname);
        cJSON_AddStringToObject(o, "model", w->model);
        cJSON_AddNumberToObject(o, "slots", w->slots);
        cJSON_AddNumberToObject(o, "busy", (double)swarmd_worker_busy(w));
        cJSON_AddBoolToObject(o, "quarantined", w->quarantined);
        cJSON_AddStringToObject(o, "quarantine_reason", w->quarantine_reason);
        wstats *s = NULL;
        for (size_t k = 0; k < h->lp->n_ws && !s; k++)
            if (!strcmp(h->lp->ws[k].name, w->name)) s = &h->lp->ws[k];
        /* one decimal: a sweep's event fires on real change, not noise */
        cJSON_AddNumberToObject(o, "tokens_per_s", s ? (double)(long)(s->rate * 10) / 10 : 0);
        cJSON_AddNumberToObject(o, "tokens_total", s ? (double)s->tokens : 0);
        if (live_fields) cJSON_AddNumberToObject(o, "last_seen_ms", (double)w->last_seen_ms);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

/* ---- requests ---- */

static bool redis_up(swarmd_http *h)
{
    swarmd *d = h->d;
    return !d->stopping && d->sched && sched_is_up(d->sched);
}

static void metrics_send(http_req *r, const sched_job_status *jobs, size_t n);

static void status_cb(void *ud, int rc, const char *err, const sched_job_status *jobs, size_t n)
{
    http_req *r = ud;
    swarmd_http *h = r->h;
    if (rc == 0) hist_observe(&h->lp->rtt, (double)(swarm_clock_ms() - r->t0_ms) / 1000.0);
    if (rc != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "Redis: %s", err ? err : "error");
        http_req_error(r, 503, msg);
        return;
    }
    if (r->kind == HTTP_REQ_METRICS) {
        metrics_send(r, jobs, n);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    if (r->kind == HTTP_REQ_JOBS) {
        cJSON *a = cJSON_AddArrayToObject(o, "jobs");
        for (size_t i = n; i-- > 0;) /* newest first */
            if (jobs[i].found) cJSON_AddItemToArray(a, job_json(&jobs[i]));
    } else {
        if (n != 1 || !jobs[0].found) {
            cJSON_Delete(o);
            char msg[128];
            snprintf(msg, sizeof msg, "unknown job %s", r->job_id);
            http_req_error(r, 404, msg);
            return;
        }
        cJSON_AddItemToObject(o, "job", job_json(&jobs[0]));
        cJSON *a = cJSON_AddArrayToObject(o, "tasks");
        for (size_t i = 0; i < jobs[0].n_tasks; i++)
            cJSON_AddItemToArray(a, task_json(h->lp, r->job_id, &jobs[0].tasks[i]));
        /* status.lua lists the first 1000 tasks of a job */
        cJSON_AddBoolToObject(o, "tasks_truncated", jobs[0].n_tasks < jobs[0].total);
    }
    reply_json(r, o);
}

typedef struct cancel_more {
    swarmd *d;
    char job[64];
} cancel_more;

static void cancel_more_cb(void *ud, int rc, const char *err, const char *prev,
                           const sched_taskref *running, const char *const *workers, size_t n);

/* A big job is cancelled in chunks: go on without anyone waiting. */
static void cancel_continue(swarmd *d, const char *job)
{
    char err[256];
    if (d->stopping || !d->sched) return;
    cancel_more *m = calloc(1, sizeof *m);
    if (!m) return;
    m->d = d;
    snprintf(m->job, sizeof m->job, "%s", job);
    if (sched_job_cancel(d->sched, m->job, cancel_more_cb, m, err, sizeof err) != 0) {
        swarmd_log(d, "http: cancel of %s not finished (%s); cancel it again", job, err);
        free(m);
    }
}

static void cancel_more_cb(void *ud, int rc, const char *err, const char *prev,
                           const sched_taskref *running, const char *const *workers, size_t n)
{
    cancel_more *m = ud;
    swarmd *d = m->d;
    if (rc == 0) {
        swarmd_tasks_stop(d, running, workers, n);
        swarmd_merge_pending(d);
        if (prev && !strcmp(prev, "running-more")) cancel_continue(d, m->job);
    } else {
        d->counters[SWARMD_C_REDIS_ERRORS]++;
        swarmd_log(d, "http: cancel of %s not finished (%s); cancel it again", m->job,
                   err ? err : "error");
    }
    free(m);
}

static void cancel_cb(void *ud, int rc, const char *err, const char *prev,
                      const sched_taskref *running, const char *const *workers, size_t n)
{
    http_req *r = ud;
    swarmd_http *h = r->h;
    swarmd *d = h->d;
    char msg[300];
    if (rc != 0) {
        bool unknown = err && strstr(err, "unknown job");
        if (!unknown) d->counters[SWARMD_C_REDIS_ERRORS]++;
        snprintf(msg, sizeof msg, "cancel %s: %s", r->job_id, err ? err : "failed");
        http_req_error(r, unknown ? 404 : 503, msg);
        return;
    }
    bool more = prev && !strcmp(prev, "running-more");
    if (more || (prev && !strcmp(prev, "running"))) {
        swarmd_log(d, "http: job %s cancelled (was running), stopping %zu running task(s)",
                   r->job_id, n);
        swarmd_tasks_stop(d, running, workers, n);
        swarmd_merge_pending(d);
        if (more) cancel_continue(d, r->job_id);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "job_id", r->job_id);
        cJSON_AddStringToObject(o, "state", "cancelled");
        cJSON_AddStringToObject(o, "previous_state", "running");
        cJSON_AddNumberToObject(o, "tasks_stopped", (double)n);
        reply_json(r, o);
        return;
    }
    snprintf(msg, sizeof msg, "job %s is %s: nothing to cancel", r->job_id, prev ? prev : "?");
    http_req_error(r, 409, msg);
}

static void req_run(swarmd_http *h, http_req *r)
{
    swarmd *d = h->d;
    char err[256];
    if (r->kind == HTTP_REQ_WORKERS) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "workers", workers_json(h, true));
        reply_json(r, o);
        return;
    }
    if (!redis_up(h)) {
        http_req_error(r, 503, "swarmd is not connected to Redis right now; try again");
        return;
    }
    r->t0_ms = swarm_clock_ms();
    int rc;
    if (r->kind == HTTP_REQ_CANCEL) {
        rc = sched_job_cancel(d->sched, r->job_id, cancel_cb, r, err, sizeof err);
    } else {
        const char *ids[1] = {r->job_id};
        bool one = r->kind == HTTP_REQ_JOB;
        rc = sched_status(d->sched, one ? ids : NULL, one ? 1 : 0, one, false, 0, 0, status_cb, r,
                          err, sizeof err);
    }
    if (rc != 0) {
        d->counters[SWARMD_C_REDIS_ERRORS]++;
        http_req_error(r, 503, err);
    }
}

void http_loop_async_cb(uv_async_t *a)
{
    swarmd_http *h = a->data;
    pthread_mutex_lock(&h->mu);
    http_req *list = h->q_head;
    h->q_head = h->q_tail = NULL;
    pthread_mutex_unlock(&h->mu);
    while (list) {
        http_req *r = list;
        list = r->next;
        r->next = NULL;
        req_run(h, r);
    }
}

/* ---- metrics ---- */

static void metrics_send(http_req *r, const sched_job_status *jobs, size_t n)
{
    swarmd_http *h = r->h;
    swarmd *d = h->d;
    http_loop *lp = h->lp;
    uint64_t st[6] = {0}; /* ready running done failed cancelled waiting */
    uint64_t js[5] = {0}; /* running merging done failed cancelled */
    static const char *const jnames[] = {"running", "merging", "done", "failed", "cancelled"};
    uint64_t queue = 0;
    for (size_t i = 0; i < n; i++) {
        const sched_job_status *j = &jobs[i];
        if (!j->found) continue;
        uint64_t known = (uint64_t)j->pending + j->running + j->done + j->failed + j->cancelled;
        st[0] += j->pending;
        st[1] += j->running;
        st[2] += j->done;
        st[3] += j->failed;
        st[4] += j->cancelled;
        st[5] += j->total > known ? j->total - known : 0;
        for (int k = 0; k < 5; k++)
            if (j->state && !strcmp(j->state, jnames[k])) js[k]++;
        if (j->state && !strcmp(j->state, "running")) queue += j->pending;
    }
    swarm_buf b = {0};
    static const char *const snames[] = {"ready",  "running",   "done",
                                         "failed", "cancelled", "waiting"};
    swarm_buf_printf(&b, "# HELP swarm_subtasks Sub-tasks of the newest 1000 jobs, by state.\n"
                         "# TYPE swarm_subtasks gauge\n");
    for (int k = 0; k < 6; k++)
        swarm_buf_printf(&b, "swarm_subtasks{state=\"%s\"} %" PRIu64 "\n", snames[k], st[k]);
    swarm_buf_printf(
        &b, "# HELP swarm_jobs Jobs (the newest 1000) by state.\n# TYPE swarm_jobs gauge\n");
    for (int k = 0; k < 5; k++)
        swarm_buf_printf(&b, "swarm_jobs{state=\"%s\"} %" PRIu64 "\n", jnames[k], js[k]);
    swarm_buf_printf(
        &b,
        "# HELP swarm_queue_depth Sub-tasks of running jobs ready and waiting for a slot.\n"
        "# TYPE swarm_queue_depth gauge\nswarm_queue_depth %" PRIu64 "\n",
        queue);
    size_t live = 0, quarantined = 0;
    for (size_t i = 0; i < d->n_workers; i++)
        d->workers[i]->quarantined ? quarantined++ : live++;
    swarm_buf_printf(&b,
                     "# HELP swarm_workers Workers registered with this swarmd.\n"
                     "# TYPE swarm_workers gauge\nswarm_workers{state=\"live\"} %zu\n"
                     "swarm_workers{state=\"quarantined\"} %zu\n",
                     live, quarantined);
    static const char *const wm[][3] = {
        {"swarm_worker_slots", "gauge", "Agent slots a worker registered."},
        {"swarm_worker_busy_slots", "gauge", "Sub-tasks assigned to a worker and not finished."},
        {"swarm_worker_tokens_per_second", "gauge",
         "Tokens per second a worker's sub-tasks generated over the last 2 s."},
        {"swarm_worker_tokens_total", "counter",
         "Tokens a worker's sub-tasks reported since swarmd started."}};
    for (int m = 0; m < 4; m++) {
        swarm_buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", wm[m][0], wm[m][2], wm[m][0],
                         wm[m][1]);
        for (size_t i = 0; i < d->n_workers; i++) {
            const swarmd_worker *w = d->workers[i];
            wstats *s = NULL;
            for (size_t k = 0; k < lp->n_ws && !s; k++)
                if (!strcmp(lp->ws[k].name, w->name)) s = &lp->ws[k];
            swarm_buf_printf(&b, "%s{worker=\"", wm[m][0]);
            sb_label(&b, w->name);
            if (m == 0) swarm_buf_printf(&b, "\"} %u\n", w->slots);
            if (m == 1) swarm_buf_printf(&b, "\"} %u\n", swarmd_worker_busy(w));
            if (m == 2) swarm_buf_printf(&b, "\"} %.3f\n", s ? s->rate : 0.0);
            if (m == 3) swarm_buf_printf(&b, "\"} %" PRIu64 "\n", s ? s->tokens : 0);
        }
    }
    hist_print(&b, "swarm_dispatch_latency_seconds",
               "Time from an Assign sent to a worker to its first Progress or Result.",
               &lp->dispatch);
    hist_print(&b, "swarm_redis_roundtrip_seconds",
               "Round trip of the scheduler's status script, as the HTTP side times it.", &lp->rtt);
    swarm_buf_printf(&b,
                     "# HELP swarm_bad_frames_total Frames rejected on an endpoint, by reason.\n"
                     "# TYPE swarm_bad_frames_total counter\n");
    static const struct {
        int c;
        const char *ep, *why;
    } bad[] = {{SWARMD_C_CLIENT_BAD_PARSE, "client", "parse"},
               {SWARMD_C_CLIENT_BAD_VERSION, "client", "version"},
               {SWARMD_C_CLIENT_BAD_EMPTY, "client", "empty"},
               {SWARMD_C_CLIENT_BAD_FRAMES, "client", "frames"},
               {SWARMD_C_CLIENT_UNEXPECTED, "client", "unexpected"},
               {SWARMD_C_WORKER_BAD_PARSE, "worker", "parse"},
               {SWARMD_C_WORKER_BAD_VERSION, "worker", "version"},
               {SWARMD_C_WORKER_BAD_EMPTY, "worker", "empty"},
               {SWARMD_C_WORKER_BAD_FRAMES, "worker", "frames"},
               {SWARMD_C_WORKER_UNEXPECTED, "worker", "unexpected"},
               {SWARMD_C_WORKER_UNKNOWN, "worker", "unknown_sender"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        swarm_buf_printf(&b, "swarm_bad_frames_total{endpoint=\"%s\",reason=\"%s\"} %" PRIu64 "\n",
                         bad[i].ep, bad[i].why, d->counters[bad[i].c]);
    swarm_buf_printf(&b,
                     "# HELP swarmd_events_total Every counter swarmd keeps (swarm status shows "
                     "them too).\n# TYPE swarmd_events_total counter\n");
    for (int i = 0; i < SWARMD_C_COUNT; i++)
        swarm_buf_printf(&b, "swarmd_events_total{counter=\"%s\"} %" PRIu64 "\n",
                         swarmd_counter_names[i], d->counters[i]);
    swarm_buf_printf(&b,
                     "# HELP swarm_http_event_streams Open server-sent event streams.\n"
                     "# TYPE swarm_http_event_streams gauge\nswarm_http_event_streams %d\n",
                     http_subscribers(h));
    if (b.oom) {
        swarm_buf_free(&b);
        http_req_error(r, 500, "out of memory");
        return;
    }
    http_req_finish(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.s);
}

/* ---- the sweep ---- */

static sweep_job *sweep_find(http_loop *lp, const char *id)
{
    for (size_t i = 0; i < lp->n_jobs; i++)
        if (!strcmp(lp->jobs[i]->id, id)) return lp->jobs[i];
    return NULL;
}

static sweep_job *sweep_add(http_loop *lp, const char *id)
{
    if (lp->n_jobs == lp->cap_jobs) {
        size_t cap = lp->cap_jobs ? lp->cap_jobs * 2 : 64;
        sweep_job **p = realloc(lp->jobs, cap * sizeof *p);
        if (!p) return NULL;
        lp->jobs = p;
        lp->cap_jobs = cap;
    }
    sweep_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    snprintf(j->id, sizeof j->id, "%s", id);
    lp->jobs[lp->n_jobs++] = j;
    return j;
}

static void sweep_job_tasks_free(sweep_job *j)
{
    for (size_t i = 0; i < j->n_tasks; i++) {
        free(j->task_ids[i]);
        free(j->task_sigs[i]);
    }
    free(j->task_ids);
    free(j->task_sigs);
    j->task_ids = j->task_sigs = NULL;
    j->n_tasks = 0;
}

static void sweep_reset(http_loop *lp)
{
    for (size_t i = 0; i < lp->n_jobs; i++) {
        sweep_job_tasks_free(lp->jobs[i]);
        free(lp->jobs[i]->sig);
        free(lp->jobs[i]);
    }
    free(lp->jobs);
    lp->jobs = NULL;
    lp->n_jobs = lp->cap_jobs = 0;
    lp->baseline_done = false;
    free(lp->workers_sig);
    lp->workers_sig = NULL;
}

typedef struct sweep_ctx {
    swarmd_http *h;
    uint64_t t0_ms;
} sweep_ctx;

static void sweep_tasks_cb(void *ud, int rc, const char *err, const sched_job_status *jobs,
                           size_t n)
{
    sweep_ctx *c = ud;
    swarmd_http *h = c->h;
    http_loop *lp = h->lp;
    (void)err;
    lp->sweeping = false;
    if (rc != 0 || lp->stopped) {
        free(c);
        return;
    }
    hist_observe(&lp->rtt, (double)(swarm_clock_ms() - c->t0_ms) / 1000.0);
    free(c);
    for (size_t i = 0; i < n; i++) {
        const sched_job_status *s = &jobs[i];
        sweep_job *j = sweep_find(lp, s->job_id);
        if (!j || !s->found) continue;
        char **ids = calloc(s->n_tasks ? s->n_tasks : 1, sizeof *ids);
        char **sigs = calloc(s->n_tasks ? s->n_tasks : 1, sizeof *sigs);
        if (!ids || !sigs) {
            free(ids);
            free(sigs);
            continue;
        }
        for (size_t t = 0; t < s->n_tasks; t++) {
            const sched_task_status *ts = &s->tasks[t];
            char sig[1024];
            snprintf(sig, sizeof sig, "%s\x1f%u\x1f%s\x1f%s", ts->state ? ts->state : "",
                     ts->attempt, ts->worker ? ts->worker : "", ts->error ? ts->error : "");
            ids[t] = strdup(ts->task_id);
            sigs[t] = strdup(sig);
            bool same = j->tasks_known && t < j->n_tasks && j->task_ids[t] &&
                        !strcmp(j->task_ids[t], ts->task_id) && j->task_sigs[t] &&
                        !strcmp(j->task_sigs[t], sig);
            if (j->tasks_known && !same) {
                char *js = json_take(task_json(lp, s->job_id, ts));
                if (js) http_event_push(h, "task", js);
                free(js);
            }
        }
        sweep_job_tasks_free(j);
        j->task_ids = ids;
        j->task_sigs = sigs;
        j->n_tasks = s->n_tasks;
        j->tasks_known = true;
    }
}

static void sweep_jobs_cb(void *ud, int rc, const char *err, const sched_job_status *jobs, size_t n)
{
    sweep_ctx *c = ud;
    swarmd_http *h = c->h;
    http_loop *lp = h->lp;
    (void)err;
    if (rc != 0 || lp->stopped) {
        lp->sweeping = false;
        free(c);
        return;
    }
    hist_observe(&lp->rtt, (double)(swarm_clock_ms() - c->t0_ms) / 1000.0);
    for (size_t i = 0; i < lp->n_jobs; i++)
        lp->jobs[i]->seen = false;
    const char *watch[HTTP_SWEEP_JOBS];
    size_t n_watch = 0;
    for (size_t i = n; i-- > 0;) { /* newest first: they get the watch slots */
        const sched_job_status *s = &jobs[i];
        if (!s->found) continue;
        char *sig = json_take(job_json(s));
        if (!sig) continue;
        bool running = s->state && (!strcmp(s->state, "running") || !strcmp(s->state, "merging"));
        sweep_job *j = sweep_find(lp, s->job_id);
        if (!j) {
            if (!(j = sweep_add(lp, s->job_id))) {
                free(sig);
                continue;
            }
            if (lp->baseline_done) http_event_push(h, "job", sig);
        } else if (strcmp(j->sig, sig) != 0) {
            http_event_push(h, "job", sig);
        }
        free(j->sig);
        j->sig = sig;
        j->seen = true;
        /* a job that just stopped running gets one more task sweep: its last transitions */
        if ((running || j->running) && n_watch < HTTP_SWEEP_JOBS) watch[n_watch++] = j->id;
        j->running = running;
    }
    for (size_t i = 0; i < lp->n_jobs;) {
        sweep_job *j = lp->jobs[i];
        if (j->seen) {
            i++;
            continue;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "job_id", j->id);
        cJSON_AddStringToObject(o, "state", "removed");
        char *s = json_take(o);
        if (s) http_event_push(h, "job", s);
        free(s);
        sweep_job_tasks_free(j);
        free(j->sig);
        free(j);
        lp->jobs[i] = lp->jobs[--lp->n_jobs];
    }
    lp->baseline_done = true;
    char *ws = json_take(workers_json(h, false));
    if (ws && (!lp->workers_sig || strcmp(ws, lp->workers_sig) != 0)) {
        /* the event carries an object, like every other */
        size_t len = strlen(ws) + 16;
        char *wrapped = malloc(len);
        if (wrapped) {
            snprintf(wrapped, len, "{\"workers\":%s}", ws);
            http_event_push(h, "workers", wrapped);
            free(wrapped);
        }
        free(lp->workers_sig);
        lp->workers_sig = ws;
    } else {
        free(ws);
    }
    char err2[256];
    if (n_watch && redis_up(h)) {
        c->t0_ms = swarm_clock_ms();
        if (sched_status(h->d->sched, watch, n_watch, true, false, 0, 0, sweep_tasks_cb, c, err2,
                         sizeof err2) == 0)
            return; /* still sweeping */
    }
    lp->sweeping = false;
    free(c);
}

static void rates_update(http_loop *lp, uint64_t now)
{
    for (size_t i = 0; i < lp->n_ws; i++) {
        wstats *w = &lp->ws[i];
        if (now < w->window_ms + RATE_WINDOW_MS) continue;
        w->rate = (double)(w->tokens - w->window_tokens) * 1000.0 / (double)(now - w->window_ms);
        w->window_tokens = w->tokens;
        w->window_ms = now;
    }
    if (now < lp->last_forget_ms + 60000) return;
    lp->last_forget_ms = now;
    for (size_t b = 0; b < FLIGHT_BUCKETS; b++) {
        flight **pp = &lp->flights[b];
        while (*pp) {
            if (now > (*pp)->assigned_ms + FLIGHT_FORGET_MS)
                flight_drop(lp, pp);
            else
                pp = &(*pp)->next;
        }
    }
}

void http_loop_timer_cb(uv_timer_t *t)
{
    swarmd_http *h = t->data;
    http_loop *lp = h->lp;
    if (lp->stopped || h->d->stopping) return;
    rates_update(lp, swarm_clock_ms());
    if (http_subscribers(h) == 0) {
        /* nobody listens: the next listener starts from a fresh baseline */
        if (!lp->sweeping && lp->n_jobs) sweep_reset(lp);
        return;
    }
    if (lp->sweeping || !redis_up(h)) return;
    sweep_ctx *c = calloc(1, sizeof *c);
    if (!c) return;
    c->h = h;
    c->t0_ms = swarm_clock_ms();
    char err[256];
    lp->sweeping = true;
    if (sched_status(h->d->sched, NULL, 0, false, false, 0, 0, sweep_jobs_cb, c, err, sizeof err) !=
        0) {
        lp->sweeping = false;
        free(c);
    }
}

/* ---- lifecycle ---- */

int http_loop_init(swarmd_http *h, char *err, size_t errlen)
{
    http_loop *lp = calloc(1, sizeof *lp);
    wstats *ws = calloc(WSTATS_MAX, sizeof *ws);
    if (!lp || !ws) {
        free(lp);
        free(ws);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    lp->ws = ws;
    lp->dispatch.bounds = dispatch_bounds;
    lp->dispatch.n = sizeof dispatch_bounds / sizeof dispatch_bounds[0];
    lp->rtt.bounds = rtt_bounds;
    lp->rtt.n = sizeof rtt_bounds / sizeof rtt_bounds[0];
    lp->last_forget_ms = swarm_clock_ms();
    h->lp = lp;
    return 0;
}

void http_loop_stop(swarmd_http *h)
{
    if (h->lp) h->lp->stopped = true;
}

void http_loop_free(swarmd_http *h)
{
    http_loop *lp = h->lp;
    if (!lp) return;
    for (size_t b = 0; b < FLIGHT_BUCKETS; b++)
        while (lp->flights[b])
            flight_drop(lp, &lp->flights[b]);
    sweep_reset(lp);
    free(lp->ws);
    free(lp);
    h->lp = NULL;
}
