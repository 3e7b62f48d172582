/* swarmd_worker.c - the worker endpoint, dispatch by credit, worker liveness.
 *
 * A worker is known by its ZeroMQ identity once it has sent Register. The
 * coordinator never has more tasks outstanding on a worker than both its
 * registered slots and its last announced credit (less what was assigned
 * since that announcement). Dispatch is one lease script per round, the
 * slots interleaved across workers so every worker gets a fair share.
 *
 * Batch peers (Register.batch): a round's Assigns for one worker go as one
 * AssignBatch, its Results and Progress come back as ResultBatch, and each
 * Result gives a slot back, so such a worker sends no Credit per task; it
 * may also hold Register.prefetch queued Assigns beyond its slots. */
#include "swarmd.h"
#include "http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

swarmd_worker *swarmd_worker_by_name(swarmd *d, const char *name)
{
    for (size_t i = 0; i < d->n_workers; i++)
        if (strcmp(d->workers[i]->name, name) == 0) return d->workers[i];
    return NULL;
}

static swarmd_worker *worker_by_id(swarmd *d, const uint8_t *id, size_t id_len)
{
    for (size_t i = 0; i < d->n_workers; i++) {
        swarmd_worker *w = d->workers[i];
        if (w->id_len == id_len && memcmp(w->id, id, id_len) == 0) return w;
    }
    return NULL;
}

static void worker_free(swarmd_worker *w)
{
    if (!w) return;
    free(w->inflight);
    free(w);
}

void swarmd_workers_free(swarmd *d)
{
    for (size_t i = 0; i < d->n_workers; i++)
        worker_free(d->workers[i]);
    free(d->workers);
    d->workers = NULL;
    d->n_workers = 0;
}

/* A message from w: it is alive. Liveness runs on the loop's monotonic time
 * (a wall-clock step would lose every worker at once, or none ever);
 * last_seen_ms is only what Status shows. */
static void worker_seen(swarmd *d, swarmd_worker *w)
{
    w->seen_ms = uv_now(&d->loop);
    w->last_seen_ms = sched_now_ms();
}

static int inflight_add(swarmd_worker *w, const char *job, const char *task, uint32_t attempt,
                        uint64_t token, uint64_t now, bool answered)
{
    for (size_t i = 0; i < w->n_inflight; i++) {
        swarmd_ref *f = &w->inflight[i];
        if (!strcmp(f->job, job) && !strcmp(f->task, task)) {
            if (f->attempt != attempt) f->answered = false;
            f->answered |= answered;
            f->attempt = attempt;
            f->token = token;
            return 0;
        }
    }
    if (w->n_inflight == w->cap_inflight) {
        size_t cap = w->cap_inflight ? w->cap_inflight * 2 : 8;
        swarmd_ref *p = realloc(w->inflight, sizeof *p * cap);
        if (!p) return -1;
        w->inflight = p;
        w->cap_inflight = cap;
    }
    swarmd_ref *f = &w->inflight[w->n_inflight++];
    snprintf(f->job, sizeof f->job, "%s", job);
    snprintf(f->task, sizeof f->task, "%s", task);
    f->attempt = attempt;
    f->token = token;
    f->since_ms = now;
    f->answered = answered;
    return 0;
}

/* Returns whether w had it. */
static bool inflight_drop(swarmd_worker *w, const char *job, const char *task)
{
    for (size_t i = 0; i < w->n_inflight; i++) {
        if (!strcmp(w->inflight[i].job, job) && !strcmp(w->inflight[i].task, task)) {
            w->inflight[i] = w->inflight[--w->n_inflight];
            return true;
        }
    }
    return false;
}

static void fail_done(void *ud, int rc, const char *err, long long n)
{
    swarmd *d = ud;
    if (rc != 0) {
        /* Not lost: the leases expire and the tick requeues them. */
        d->counters[SWARMD_C_REDIS_ERRORS]++;
        swarmd_log(d, "requeue of a lost worker's tasks failed (%s); leases will expire", err);
    }
}

/* Forget a worker; its outstanding attempts go back to ready (fenced). */
static void worker_remove(swarmd *d, swarmd_worker *w, const char *why)
{
    swarmd_log(d, "worker %s removed (%s); %zu task(s) back to the queue", w->name, why,
               w->n_inflight);
    if (w->n_inflight && d->sched && !d->stopping) {
        sched_taskref *refs = calloc(w->n_inflight, sizeof *refs);
        char reason[300], err[256];
        snprintf(reason, sizeof reason, "worker %s lost: %s", w->name, why);
        if (refs) {
            for (size_t i = 0; i < w->n_inflight; i++) {
                refs[i].job_id = w->inflight[i].job;
                refs[i].task_id = w->inflight[i].task;
                refs[i].attempt = w->inflight[i].attempt;
            }
            if (sched_tasks_fail(d->sched, refs, w->n_inflight, reason, w->quarantined, fail_done,
                                 d, err, sizeof err) != 0)
                swarmd_log(d, "cannot requeue now (%s); leases will expire", err);
            free(refs);
        }
    }
    for (size_t i = 0; i < d->n_workers; i++) {
        if (d->workers[i] == w) {
            d->workers[i] = d->workers[--d->n_workers];
            break;
        }
    }
    worker_free(w);
}

void swarmd_workers_check(swarmd *d, uint64_t now)
{
    uint64_t limit = 3 * d->cfg.heartbeat_ms;
    for (size_t i = 0; i < d->n_workers;) {
        swarmd_worker *w = d->workers[i];
        if (now > w->seen_ms + limit) {
            char why[96];
            snprintf(why, sizeof why, "silent for %llu ms", (unsigned long long)(now - w->seen_ms));
            d->counters[SWARMD_C_WORKERS_LOST]++;
            worker_remove(d, w, why);
            continue; /* the slot now holds another worker */
        }
        i++;
    }
}

static uint32_t worker_free_slots(const swarmd_worker *w)
{
    if (w->quarantined) return 0;
    uint32_t cap = w->slots + (w->task_ms < SWARMD_PREFETCH_TASK_MS ? w->prefetch : 0);
    uint32_t by_slots = cap > w->n_inflight ? cap - (uint32_t)w->n_inflight : 0;
    uint32_t by_credit = w->credit > w->since_credit ? w->credit - w->since_credit : 0;
    return by_slots < by_credit ? by_slots : by_credit;
}

/* ---- dispatch ---- */

void swarmd_redis_outcome(swarmd *d, const char *err)
{
    if (!err) {
        if (d->paused[0]) swarmd_log(d, "redis takes writes again: work resumes");
        d->paused[0] = 0;
        return;
    }
    /* Redis' own error prefixes: OOM (maxmemory), MISCONF (a failed save:
     * disk full), READONLY (a replica) */
    if (strncmp(err, "OOM", 3) && strncmp(err, "MISCONF", 7) && strncmp(err, "READONLY", 8)) return;
    if (!d->paused[0]) swarmd_log(d, "work paused: redis refuses writes: %s", err);
    snprintf(d->paused, sizeof d->paused,
             "redis refuses writes (%.240s); work resumes by itself "
             "once it accepts them",
             err);
}

static void assign_fill(swarmd *d, Swarm__Assign *a, const sched_lease *l)
{
    swarm__assign__init(a);
    a->job_id = (char *)l->job_id;
    a->task_id = (char *)l->task_id;
    a->attempt = l->attempt;
    a->lease_token = l->token;
    a->goal = (char *)l->goal;
    a->instructions = (char *)l->instructions;
    a->input = (char *)l->input;
    a->max_tokens = l->max_tokens;
    a->temperature = (float)l->temperature;
    a->seed = l->seed;
    a->lease_ms = d->cfg.lease_ms;
    a->agent_json = (char *)(l->agent_json ? l->agent_json : "");
    a->checkpoint = (char *)(l->checkpoint ? l->checkpoint : "");
}

/* Room left for Assigns in one AssignBatch body: the limit less a margin
 * for the envelope's own fields and each item's tag and length. */
#define ASSIGN_BATCH_ROOM ((size_t)WIRE_MAX_MSG - 4096)

/* Send the Assigns of leases idx[0..m) to w: one AssignBatch per
 * ASSIGN_BATCH_ROOM bytes for a batch peer, else one Assign each. sent[k]
 * says whether idx[k]'s went out. */
static void assigns_send(swarmd *d, swarmd_worker *w, const sched_lease *l, const size_t *idx,
                         size_t m, Swarm__Assign *as, Swarm__Assign **ptrs, bool *sent)
{
    for (size_t k = 0; k < m; k++) {
        assign_fill(d, &as[k], &l[idx[k]]);
        ptrs[k] = &as[k];
    }
    if (!w->batch || m == 1) {
        for (size_t k = 0; k < m; k++) {
            Swarm__Envelope env;
            wire_envelope_init(&env, "swarmd", 0);
            env.payload_case = SWARM__ENVELOPE__PAYLOAD_ASSIGN;
            env.assign = &as[k];
            sent[k] = swarmd_send(d, d->worker, w->id, w->id_len, &env) == 0;
        }
        return;
    }
    for (size_t k = 0; k < m;) {
        size_t first = k, bytes = 0;
        /* at least one per message: a lone one over the limit fails as it would alone */
        do {
            bytes += protobuf_c_message_get_packed_size(&as[k].base) + 16;
            k++;
        } while (k < m &&
                 bytes + protobuf_c_message_get_packed_size(&as[k].base) + 16 <= ASSIGN_BATCH_ROOM);
        Swarm__Envelope env;
        Swarm__AssignBatch b;
        wire_envelope_init(&env, "swarmd", 0);
        swarm__assign_batch__init(&b);
        b.n_assigns = k - first;
        b.assigns = &ptrs[first];
        env.payload_case = SWARM__ENVELOPE__PAYLOAD_ASSIGN_BATCH;
        env.assign_batch = &b;
        bool ok = swarmd_send(d, d->worker, w->id, w->id_len, &env) == 0;
        for (size_t j = first; j < k; j++) {
            sent[j] = ok;
            if (ok && d->http) {
                /* the dashboard's taps see each Assign as if it went alone */
                Swarm__Envelope one;
                wire_envelope_init(&one, "swarmd", 0);
                one.payload_case = SWARM__ENVELOPE__PAYLOAD_ASSIGN;
                one.assign = &as[j];
                swarmd_http_on_send(d->http, w->id, w->id_len, &one);
            }
        }
    }
}

/* Send the Assigns of leases l[0..n), one message per worker per call, and
 * track them in flight; delivered[i] (when not NULL) says whether l[i]'s went
 * out. The ones that could not be delivered go to lost[] (when not NULL): the
 * return value counts them. */
static size_t leases_deliver(swarmd *d, const sched_lease *l, size_t n, sched_taskref *lost,
                             bool *delivered)
{
    uint64_t now = uv_now(&d->loop);
    swarmd_worker **ws = calloc(n ? n : 1, sizeof *ws);
    bool *handled = calloc(n ? n : 1, sizeof *handled);
    bool *sent = calloc(n ? n : 1, sizeof *sent);
    size_t *idx = calloc(n ? n : 1, sizeof *idx);
    Swarm__Assign *as = calloc(n ? n : 1, sizeof *as);
    Swarm__Assign **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    size_t n_lost = 0;
    bool oom = !ws || !handled || !sent || !idx || !as || !ptrs;
    for (size_t i = 0; i < n; i++) {
        if (!oom && handled[i]) continue;
        swarmd_worker *w = oom || d->stopping ? NULL : swarmd_worker_by_name(d, l[i].worker);
        size_t m = 0;
        if (w) {
            /* this worker's leases of the round, in lease order: one message */
            for (size_t j = i; j < n; j++) {
                if (handled[j]) continue;
                if (!ws[j]) ws[j] = swarmd_worker_by_name(d, l[j].worker);
                if (ws[j] == w) {
                    idx[m++] = j;
                    handled[j] = true;
                }
            }
            assigns_send(d, w, l, idx, m, as, ptrs, sent);
        }
        for (size_t k = 0; k < (w ? m : 1); k++) {
            size_t j = w ? idx[k] : i;
            if (delivered) delivered[j] = w && sent[k];
            if (w && sent[k]) {
                d->counters[SWARMD_C_ASSIGNS_SENT]++;
                w->since_credit++;
                if (inflight_add(w, l[j].job_id, l[j].task_id, l[j].attempt, l[j].token, now,
                                 false) != 0)
                    swarmd_log(d, "out of memory tracking %s/%s", l[j].job_id, l[j].task_id);
                continue;
            }
            d->counters[SWARMD_C_ASSIGNS_UNDELIVERABLE]++;
            if (lost) {
                lost[n_lost].job_id = l[j].job_id;
                lost[n_lost].task_id = l[j].task_id;
                lost[n_lost].attempt = l[j].attempt;
            }
            n_lost++;
            if (w) {
                /* ROUTER_MANDATORY: the peer is gone (or its queue is full). */
                w->credit = 0;
                w->since_credit = 0;
            }
        }
    }
    free(ws);
    free(handled);
    free(sent);
    free(idx);
    free(as);
    free(ptrs);
    return n_lost;
}

/* Withdraw the Assigns sent ahead of a submit that did not lease them: Cancel
 * to their worker, out of its in-flight set. */
static void ahead_withdraw(swarmd *d)
{
    for (size_t i = 0; i < d->n_ahead; i++) {
        const struct swarmd_ahead *a = &d->ahead[i];
        if (!a->delivered) continue;
        d->counters[SWARMD_C_ASSIGNS_WITHDRAWN]++;
        swarmd_log(d, "assign %s/%s sent ahead to %s withdrawn: the lease went otherwise", a->job,
                   a->task, a->worker);
        d->withdrawn[d->withdrawn_next] = *a;
        d->withdrawn_next = (d->withdrawn_next + 1) % SWARMD_AHEAD_MAX;
        if (d->n_withdrawn < SWARMD_AHEAD_MAX) d->n_withdrawn++;
        sched_taskref ref = {.job_id = a->job, .task_id = a->task, .attempt = 1};
        const char *wn = a->worker;
        swarmd_tasks_stop(d, &ref, &wn, 1);
    }
    d->n_ahead = 0;
}

static void lease_done(void *ud, int rc, const char *err, const sched_lease *l, size_t n)
{
    swarmd *d = ud;
    d->leasing = false;
    swarmd_redis_outcome(d, rc != 0 ? err : NULL);
    if (rc != 0) {
        d->counters[SWARMD_C_REDIS_ERRORS]++;
        swarmd_log(d, "lease failed: %s", err);
        return;
    }
    sched_taskref *lost = calloc(n ? n : 1, sizeof *lost);
    size_t n_lost = leases_deliver(d, l, n, lost, NULL);
    if (n_lost && lost && d->sched && !d->stopping) {
        char err2[256];
        if (sched_tasks_fail(d->sched, lost, n_lost, "could not deliver Assign to its worker",
                             false, fail_done, d, err2, sizeof err2) != 0)
            swarmd_log(d, "cannot requeue undeliverable tasks now (%s)", err2);
    }
    free(lost);
    /* Lease again when asked to meanwhile, or when every slot asked for got a
     * task (there may be more); fewer than asked: nothing more is due now,
     * until something calls swarmd_dispatch again. */
    d->lease_drained = !d->lease_again && n < d->lease_asked;
    if (d->lease_again || (n > 0 && n >= d->lease_asked)) {
        d->lease_again = false;
        swarmd_dispatch(d);
    }
}

/* The free slots to fill, interleaved: one slot of each worker per round,
 * starting at a rotating worker. Returns how many (at most cap). */
static size_t dispatch_slots(swarmd *d, sched_slot *slots, size_t cap)
{
    uint32_t *avail = calloc(d->n_workers ? d->n_workers : 1, sizeof *avail);
    if (!avail) return 0;
    uint32_t most = 0;
    for (size_t i = 0; i < d->n_workers; i++) {
        avail[i] = worker_free_slots(d->workers[i]);
        if (avail[i] > most) most = avail[i];
    }
    size_t n = 0;
    for (uint32_t round = 0; round < most && n < cap; round++) {
        for (size_t k = 0; k < d->n_workers && n < cap; k++) {
            size_t i = (d->rr + k) % d->n_workers;
            if (avail[i] > round) {
                slots[n].worker = d->workers[i]->name;
                slots[n].incarnation = d->workers[i]->incarnation;
                slots[n].token = 0;
                n++;
            }
        }
    }
    d->rr++;
    free(avail);
    return n;
}

static bool lease_send(swarmd *d, const sched_slot *slots, size_t n)
{
    char err[256];
    d->leasing = true;
    d->lease_again = false;
    d->lease_asked = n;
    if (sched_task_lease(d->sched, d->cfg.lease_ms, slots, n, lease_done, d, err, sizeof err) !=
        0) {
        d->leasing = false;
        d->counters[SWARMD_C_REDIS_ERRORS]++;
        return false;
    }
    return true;
}

void swarmd_dispatch(swarmd *d)
{
    /* whatever called: something may be ready now (the lease's answer tells) */
    d->lease_drained = false;
    if (d->stopping || !d->sched || !sched_is_up(d->sched)) return;
    if (d->leasing) {
        d->lease_again = true;
        return;
    }
    if (d->n_workers == 0) return;
    sched_slot *slots = calloc(SWARMD_LEASE_BATCH, sizeof *slots);
    if (!slots) return;
    size_t n = dispatch_slots(d, slots, SWARMD_LEASE_BATCH);
    if (n > 0) lease_send(d, slots, n);
    free(slots);
}

bool swarmd_submit_ahead(swarmd *d, const char *job_id, const sched_job_spec *spec,
                         sched_submitted_fn cb, void *ud, char *err, size_t errlen)
{
    /* Only a plain job (no side effects if withdrawn: no agent; no dependencies,
     * no plan) whose tasks fit the free slots, when nothing else is due (the
     * last lease came back short, no lease is out) and no other job is ahead. */
    if (d->stopping || !d->sched || !sched_is_up(d->sched) || d->leasing || !d->lease_drained ||
        d->n_ahead || d->n_workers == 0 || spec->n_tasks == 0 || spec->n_tasks > SWARMD_AHEAD_MAX ||
        (spec->agent_json && *spec->agent_json) || (spec->dag && *spec->dag) ||
        (spec->plan_schema && *spec->plan_schema))
        return false;
    sched_slot slots[SWARMD_AHEAD_MAX];
    size_t m = spec->n_tasks;
    if (dispatch_slots(d, slots, m) < m) return false; /* the first m, as interleaved */
    for (size_t i = 0; i < m; i++)
        slots[i].token = sched_token_new();
    err[0] = 0;
    if (sched_job_submit_leased(d->sched, job_id, spec, d->cfg.lease_ms, slots, m, cb, ud, err,
                                errlen) != 0)
        return err[0] != 0; /* refused up front: the caller reports err */
    /* submit.lua leases task i to slot i unless another job waits: the Assigns
     * go now, confirmed or withdrawn by its answer (swarmd_ahead_settle) */
    sched_lease l[SWARMD_AHEAD_MAX];
    char ids[SWARMD_AHEAD_MAX][16];
    memset(l, 0, sizeof l);
    for (size_t i = 0; i < m; i++) {
        sched_task_id(i, ids[i], sizeof ids[i]);
        const sched_task_spec *t = &spec->tasks[i];
        l[i] = (sched_lease){.job_id = job_id,
                             .task_id = ids[i],
                             .worker = slots[i].worker,
                             .attempt = 1,
                             .token = slots[i].token,
                             .goal = spec->goal ? spec->goal : "",
                             .instructions = t->instructions ? t->instructions : "",
                             .input = t->input ? t->input : (t->item ? t->item : ""),
                             .max_tokens = spec->max_tokens,
                             .temperature = spec->temperature,
                             .seed = spec->seed,
                             .agent_json = "",
                             .checkpoint = ""};
    }
    bool delivered[SWARMD_AHEAD_MAX] = {false};
    leases_deliver(d, l, m, NULL, delivered);
    d->n_ahead = 0;
    for (size_t i = 0; i < m; i++) {
        struct swarmd_ahead *a = &d->ahead[d->n_ahead++];
        snprintf(a->job, sizeof a->job, "%s", job_id);
        memcpy(a->task, ids[i], sizeof a->task);
        snprintf(a->worker, sizeof a->worker, "%s", slots[i].worker);
        a->token = slots[i].token;
        a->delivered = delivered[i];
        if (delivered[i]) d->counters[SWARMD_C_ASSIGNS_AHEAD]++;
    }
    return true;
}

void swarmd_ahead_settle(swarmd *d, int rc, size_t leased)
{
    if (!d->n_ahead) return;
    if (rc != 0 || leased == 0) {
        ahead_withdraw(d);
        swarmd_dispatch(d); /* the tasks wait ready (or the job is not stored) */
        return;
    }
    /* leased as sent; one whose Assign could not go waits out its lease unless
     * failed back now (it runs again elsewhere) */
    sched_taskref lost[SWARMD_AHEAD_MAX];
    size_t n_lost = 0;
    for (size_t i = 0; i < d->n_ahead; i++)
        if (!d->ahead[i].delivered)
            lost[n_lost++] = (sched_taskref){
                .job_id = d->ahead[i].job, .task_id = d->ahead[i].task, .attempt = 1};
    if (n_lost && d->sched && !d->stopping) {
        char err2[256];
        if (sched_tasks_fail(d->sched, lost, n_lost, "could not deliver Assign to its worker",
                             false, fail_done, d, err2, sizeof err2) != 0)
            swarmd_log(d, "cannot requeue undeliverable tasks now (%s)", err2);
    }
    d->n_ahead = 0;
}

/* Tell workers to stop tasks that no longer count (cancelled, past deadline). */
void swarmd_tasks_stop(swarmd *d, const sched_taskref *refs, const char *const *workers, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        swarmd_worker *w = swarmd_worker_by_name(d, workers[i]);
        if (!w) continue;
        Swarm__Envelope env;
        Swarm__Cancel c;
        wire_envelope_init(&env, "swarmd", 0);
        swarm__cancel__init(&c);
        c.job_id = (char *)refs[i].job_id;
        c.task_id = (char *)refs[i].task_id;
        c.attempt = refs[i].attempt;
        env.payload_case = SWARM__ENVELOPE__PAYLOAD_CANCEL;
        env.cancel = &c;
        swarmd_send(d, d->worker, w->id, w->id_len, &env);
        inflight_drop(w, refs[i].job_id, refs[i].task_id);
    }
}

static void deadline_done(void *ud, int rc, const char *err, const char *prev,
                          const sched_taskref *refs, const char *const *workers, size_t n)
{
    swarmd *d = ud;
    if (rc != 0) {
        d->counters[SWARMD_C_REDIS_ERRORS]++;
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(refs[i].job_id, refs[i - 1].job_id) != 0)
            swarmd_log(d, "job %s ran past budget.wall_time_s: unfinished tasks failed",
                       refs[i].job_id);
    swarmd_tasks_stop(d, refs, workers, n);
    swarmd_merge_pending(d);
}

void swarmd_deadlines_check(swarmd *d)
{
    char err[256];
    if (d->stopping || !d->sched || !sched_is_up(d->sched)) return;
    if (sched_jobs_deadline(d->sched, 100, deadline_done, d, err, sizeof err) != 0)
        d->counters[SWARMD_C_REDIS_ERRORS]++;
}

/* ---- merge ---- */

static void merged(void *ud, const char *job_id, int rc, const char *err, const char *state,
                   const sched_job_status *st)
{
    swarmd *d = ud;
    if (rc != 0) {
        d->counters[SWARMD_C_REDIS_ERRORS]++;
        swarmd_log(d, "merge of job %s failed: %s (retried on the next tick)", job_id, err);
        return;
    }
    swarmd_live_drop(d, job_id);
    d->counters[SWARMD_C_JOBS_MERGED]++;
    swarmd_waiters_wake(d, job_id, st); /* the clients first, then the log line */
    swarmd_log(d, "job %s merged: %s", job_id, state);
}

/* A one-page merge's result is on its way to Redis: the clients waiting on
 * the job get the status it stores now (merged() follows when it is stored). */
static void merge_ready(void *ud, const char *job_id, const sched_job_status *st)
{
    swarmd_waiters_wake(ud, job_id, st);
}

void swarmd_merge_pending(swarmd *d)
{
    char err[256];
    if (d->stopping || !d->sched || !sched_is_up(d->sched)) return;
    if (sched_merge_pending(d->sched, merged, d, err, sizeof err) != 0)
        d->counters[SWARMD_C_REDIS_ERRORS]++;
}

/* ---- messages ---- */

typedef struct result_ctx {
    swarmd *d;
    char worker[128];
    char job[64], task[32];
    uint32_t attempt;
    bool progress;
} result_ctx;

static void progress_outcome(const result_ctx *c, int rc, int outcome)
{
    swarmd *d = c->d;
    if (rc == 0 && outcome == SCHED_FORGED) {
        d->counters[SWARMD_C_PROGRESS_REJECTED]++;
        swarmd_log(d, "progress %s/%s#%u from %s rejected: not the lease holder or wrong token",
                   c->job, c->task, c->attempt, c->worker);
    } else if (rc == 0 && outcome == SCHED_STALE && !d->stopping) {
        /* The worker lost this attempt: tell it to stop wasting the slot. */
        swarmd_worker *w = swarmd_worker_by_name(d, c->worker);
        if (w) {
            Swarm__Envelope env;
            Swarm__Cancel cn;
            wire_envelope_init(&env, "swarmd", 0);
            swarm__cancel__init(&cn);
            char job[sizeof c->job], task[sizeof c->task]; /* protobuf-c fields are not const */
            memcpy(job, c->job, sizeof job);
            memcpy(task, c->task, sizeof task);
            cn.job_id = job;
            cn.task_id = task;
            cn.attempt = c->attempt;
            env.payload_case = SWARM__ENVELOPE__PAYLOAD_CANCEL;
            env.cancel = &cn;
            swarmd_send(d, d->worker, w->id, w->id_len, &env);
        }
    } else if (rc != 0) {
        d->counters[SWARMD_C_REDIS_ERRORS]++;
    }
}

static void progress_done(void *ud, int rc, const char *err, int outcome, bool merge)
{
    (void)err;
    (void)merge;
    progress_outcome(ud, rc, outcome);
    free(ud);
}

/* Plain Progress reports gathered while draining, one per task attempt (a
 * later report replaces an earlier one: only the last tokens and tail
 * matter), stored by one progress.lua call per drain pass. */
struct swarmd_progress {
    result_ctx c;
    uint64_t token;
    uint32_t tokens;
    char tail[128];
};

typedef struct progress_batch {
    swarmd *d;
    struct swarmd_progress *p;
    size_t n;
} progress_batch;

static void progress_batch_done(void *ud, int rc, const char *err, const int *outcome,
                                const bool *merge, size_t n)
{
    progress_batch *b = ud;
    swarmd *d = b->d;
    (void)err;
    (void)merge;
    for (size_t i = 0; i < b->n; i++)
        progress_outcome(&b->p[i].c, rc == 0 && i < n ? 0 : -1,
                         rc == 0 && i < n ? outcome[i] : SCHED_UNKNOWN);
    free(b->p);
    free(b);
    if (d->progress_inflight) d->progress_inflight--;
    if (!d->stopping) swarmd_results_flush(d); /* what waited for this reply */
}

static void swarmd_progress_flush(swarmd *d)
{
    if (!d->n_prog || (d->progress_inflight && d->n_prog < SWARMD_COMPLETE_BATCH)) return;
    progress_batch *b = calloc(1, sizeof *b);
    sched_progress *sp = calloc(d->n_prog, sizeof *sp);
    char err[256] = "out of memory";
    int rc = -1;
    if (b && sp) {
        b->d = d;
        b->p = d->prog;
        b->n = d->n_prog;
        for (size_t i = 0; i < b->n; i++) {
            const struct swarmd_progress *p = &b->p[i];
            sp[i] = (sched_progress){.ref = {p->c.job, p->c.task, p->c.attempt, p->token},
                                     .worker = p->c.worker,
                                     .tail = p->tail,
                                     .tokens = p->tokens};
        }
        rc = d->sched ? sched_tasks_progress(d->sched, sp, b->n, d->cfg.lease_ms,
                                             progress_batch_done, b, err, sizeof err)
                      : -1;
        if (rc == 0) d->progress_inflight++;
    }
    free(sp);
    if (rc != 0) {
        /* lost reports only delay running/tokens; the heartbeat keeps the lease */
        d->counters[SWARMD_C_REDIS_ERRORS]++;
        free(d->prog);
        free(b);
    }
    d->prog = NULL;
    d->n_prog = d->cap_prog = 0;
}

/* Queue a plain Progress (no step, checkpoint or pause) for the drain's batch. */
static void progress_queue(swarmd *d, const swarmd_worker *w, const Swarm__Progress *p)
{
    struct swarmd_progress *q = NULL;
    for (size_t i = 0; i < d->n_prog && !q; i++)
        if (d->prog[i].c.attempt == p->attempt && !strcmp(d->prog[i].c.task, p->task_id) &&
            !strcmp(d->prog[i].c.job, p->job_id) && !strcmp(d->prog[i].c.worker, w->name))
            q = &d->prog[i];
    if (!q) {
        if (d->n_prog == d->cap_prog) {
            size_t cap = d->cap_prog ? d->cap_prog * 2 : 64;
            struct swarmd_progress *np = realloc(d->prog, sizeof *np * cap);
            if (!np) return; /* only delays running/tokens */
            d->prog = np;
            d->cap_prog = cap;
        }
        q = &d->prog[d->n_prog++];
        memset(q, 0, sizeof *q);
        q->c.d = d;
        q->c.progress = true;
        snprintf(q->c.worker, sizeof q->c.worker, "%s", w->name);
        snprintf(q->c.job, sizeof q->c.job, "%s", p->job_id);
        snprintf(q->c.task, sizeof q->c.task, "%s", p->task_id);
        q->c.attempt = p->attempt;
    }
    q->token = p->lease_token;
    q->tokens = p->tokens;
    snprintf(q->tail, sizeof q->tail, "%s", p->text_tail);
    if (d->n_prog >= SWARMD_COMPLETE_BATCH) swarmd_progress_flush(d);
}

static void heartbeat_done(void *ud, int rc, const char *err, long long n)
{
    swarmd *d = ud;
    if (rc != 0) d->counters[SWARMD_C_REDIS_ERRORS]++;
}

static void bad_request(swarmd *d, const uint8_t *id, size_t id_len, uint64_t corr, const char *msg)
{
    d->counters[SWARMD_C_WORKER_BAD_REQUEST]++;
    swarmd_log(d, "bad request on the worker endpoint: %s", msg);
    swarmd_send_error(d, d->worker, id, id_len, corr, WIRE_E_BAD_REQUEST, msg);
}

static bool ref_ok(const char *job, const char *task)
{
    return job[0] && task[0] && strlen(job) < 64 && strlen(task) < 32 && !strchr(job, '/');
}

static void released_cb(void *ud, int rc, const char *err, long long n)
{
    swarmd *d = ud;
    if (rc != 0) {
        d->counters[SWARMD_C_REDIS_ERRORS]++;
        swarmd_log(d, "release of a restarted worker's leases failed (%s); they will expire", err);
    } else if (n > 0) {
        swarmd_log(d, "%lld lease(s) of a restarted worker released", n);
    }
}

static void handle_register(swarmd *d, const uint8_t *id, size_t id_len, const Swarm__Envelope *env)
{
    const Swarm__Register *r = env->register_;
    if (!r->worker_id[0] || strlen(r->worker_id) >= 128 || r->slots == 0 || r->slots > 4096) {
        bad_request(d, id, id_len, env->correlation_id,
                    "Register: worker_id (1-127 bytes) and slots (1-4096) are required");
        return;
    }
    swarmd_worker *w = worker_by_id(d, id, id_len);
    if (w && w->incarnation != r->incarnation) {
        /* The same identity from a new process (a restart under the same id):
         * what the old one ran is lost now, not when its leases expire. */
        d->counters[SWARMD_C_WORKERS_RESTARTED]++;
        worker_remove(d, w, "restarted (new incarnation)");
        w = NULL;
    }
    swarmd_worker *same = swarmd_worker_by_name(d, r->worker_id);
    if (same && same != w) {
        /* A restarted worker under the same name: its old attempts are lost. */
        d->counters[SWARMD_C_WORKERS_LOST]++;
        worker_remove(d, same, "re-registered from a new connection");
    }
    if (!w) {
        if (d->n_workers == d->cap_workers) {
            size_t cap = d->cap_workers ? d->cap_workers * 2 : 16;
            swarmd_worker **p = realloc(d->workers, sizeof *p * cap);
            if (!p) return;
            d->workers = p;
            d->cap_workers = cap;
        }
        w = calloc(1, sizeof *w);
        if (!w) return;
        memcpy(w->id, id, id_len);
        w->id_len = id_len;
        d->workers[d->n_workers++] = w;
    }
    snprintf(w->name, sizeof w->name, "%s", r->worker_id);
    snprintf(w->hostname, sizeof w->hostname, "%s", r->hostname);
    snprintf(w->model, sizeof w->model, "%s", r->model);
    snprintf(w->sandbox, sizeof w->sandbox, "%s", r->sandbox);
    w->slots = r->slots;
    w->batch = r->batch;
    /* queued Assigns wait behind running ones: a few per slot at most */
    w->prefetch = r->batch ? (r->prefetch < r->slots ? r->prefetch : r->slots) : 0;
    if (w->prefetch > 64) w->prefetch = 64;
    /* no prefetch until its first Results show short tasks */
    if (!w->task_ms) w->task_ms = SWARMD_PREFETCH_TASK_MS;
    bool new_incarnation = w->incarnation != r->incarnation;
    w->incarnation = r->incarnation;
    if (new_incarnation && d->sched && sched_is_up(d->sched)) {
        /* Leases of an earlier incarnation this coordinator never saw (it
         * restarted too): release them in Redis. */
        char err[256];
        if (sched_worker_release(d->sched, w->name, w->incarnation, released_cb, d, err,
                                 sizeof err) != 0)
            d->counters[SWARMD_C_REDIS_ERRORS]++;
    }
    /* No credit until the worker announces it (Credit or Heartbeat): a worker
     * re-registering after a coordinator restart may still be busy. What we
     * assigned to this identity stays tracked; heartbeats prune it. */
    w->credit = 0;
    w->since_credit = 0;
    worker_seen(d, w);
    swarmd_log(d, "worker %s registered: host %s, pid %u, %u slot(s), model %s", w->name,
               w->hostname, r->pid, w->slots, w->model);
    Swarm__Envelope rep;
    Swarm__Register rr;
    wire_envelope_init(&rep, "swarmd", env->correlation_id);
    swarm__register__init(&rr);
    rr.worker_id = w->name;
    rr.heartbeat_ms = d->cfg.heartbeat_ms;
    rr.batch = true; /* this coordinator takes ResultBatch and returns credit per Result */
    rep.payload_case = SWARM__ENVELOPE__PAYLOAD_REGISTER;
    rep.register_ = &rr;
    swarmd_send(d, d->worker, id, id_len, &rep);
    swarmd_dispatch(d);
}

static void tell_unknown(swarmd *d, const uint8_t *id, size_t id_len, uint64_t corr,
                         const char *what)
{
    char msg[160];
    d->counters[SWARMD_C_WORKER_UNKNOWN]++;
    snprintf(msg, sizeof msg, "%s from an unregistered worker: send Register again", what);
    swarmd_send_error(d, d->worker, id, id_len, corr, WIRE_E_UNKNOWN_WORKER, msg);
}

static void handle_heartbeat(swarmd *d, swarmd_worker *w, const Swarm__Heartbeat *h)
{
    uint64_t now = uv_now(&d->loop);
    worker_seen(d, w);
    w->credit = h->free_slots;
    if (h->prefix_cache) {
        w->has_pc = true;
        w->pc_lookups = h->prefix_cache->lookups;
        w->pc_hits = h->prefix_cache->hits;
        w->pc_tokens_reused = h->prefix_cache->tokens_reused;
        w->pc_bytes = h->prefix_cache->bytes;
        w->pc_max_bytes = h->prefix_cache->max_bytes;
    }
    w->since_credit = 0;
    /* Tasks it runs that we did not know about (we restarted): track them. */
    for (size_t i = 0; i < h->n_running; i++) {
        const Swarm__TaskRef *t = h->running[i];
        if (ref_ok(t->job_id, t->task_id))
            inflight_add(w, t->job_id, t->task_id, t->attempt, t->lease_token, now, true);
    }
    /* Assigned long ago and not reported: the worker does not have it. A
     * lease lost without a word (no Progress or Result either) counts toward
     * quarantine, and goes back to the queue now rather than at its expiry. */
    swarmd_ref *gone = w->n_inflight ? calloc(w->n_inflight, sizeof *gone) : NULL;
    size_t n_lost = 0;
    for (size_t i = 0; i < w->n_inflight;) {
        swarmd_ref *f = &w->inflight[i];
        bool listed = false;
        for (size_t k = 0; k < h->n_running && !listed; k++)
            listed =
                !strcmp(h->running[k]->job_id, f->job) && !strcmp(h->running[k]->task_id, f->task);
        if (!listed && now > f->since_ms + 2 * d->cfg.heartbeat_ms) {
            if (!f->answered) {
                w->unanswered++;
                d->counters[SWARMD_C_LEASES_UNANSWERED]++;
                if (gone) gone[n_lost++] = *f;
            }
            w->inflight[i] = w->inflight[--w->n_inflight];
            continue;
        }
        i++;
    }
    if (!w->quarantined && w->unanswered >= SWARMD_QUARANTINE_AFTER) {
        w->quarantined = true;
        d->counters[SWARMD_C_WORKERS_QUARANTINED]++;
        snprintf(w->quarantine_reason, sizeof w->quarantine_reason,
                 "lost %u lease(s) without answering (no Progress, Result or Heartbeat entry)",
                 w->unanswered);
        swarmd_log(d, "worker %s quarantined: %s; it gets no more work", w->name,
                   w->quarantine_reason);
    }
    sched_taskref *lost = n_lost ? calloc(n_lost, sizeof *lost) : NULL;
    for (size_t i = 0; lost && i < n_lost; i++)
        lost[i] = (sched_taskref){gone[i].job, gone[i].task, gone[i].attempt, gone[i].token};
    if (lost && d->sched && sched_is_up(d->sched)) {
        char reason[200], ferr[256];
        snprintf(reason, sizeof reason, "worker %s never answered for this task%s", w->name,
                 w->quarantined ? " (quarantined)" : "");
        if (sched_tasks_fail(d->sched, lost, n_lost, reason, w->quarantined, fail_done, d, ferr,
                             sizeof ferr) != 0)
            d->counters[SWARMD_C_REDIS_ERRORS]++;
    }
    free(lost);
    free(gone);
    if (h->n_running) {
        sched_taskref *refs = calloc(h->n_running, sizeof *refs);
        size_t n = 0;
        char err[256];
        for (size_t i = 0; refs && i < h->n_running; i++) {
            const Swarm__TaskRef *t = h->running[i];
            if (!ref_ok(t->job_id, t->task_id)) continue;
            refs[n].job_id = t->job_id;
            refs[n].task_id = t->task_id;
            refs[n].attempt = t->attempt;
            refs[n].token = t->lease_token;
            n++;
        }
        if (n && sched_tasks_heartbeat(d->sched, w->name, refs, n, d->cfg.lease_ms, heartbeat_done,
                                       d, err, sizeof err) != 0)
            d->counters[SWARMD_C_REDIS_ERRORS]++;
        free(refs);
    }
    swarmd_dispatch(d);
}

/* A result waiting for the next batch (owned copies: the Envelope is freed
 * as soon as its handler returns). */
struct swarmd_pending {
    result_ctx c;
    char *output, *error;
    bool ok;
    uint32_t tokens;
    uint64_t elapsed_ms, token;
};

typedef struct batch_ctx {
    swarmd *d;
    struct swarmd_pending *p;
    size_t n;
} batch_ctx;

static void batch_free(struct swarmd_pending *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].output);
        free(p[i].error);
    }
    free(p);
}

static bool withdrawn_was(const swarmd *d, const result_ctx *c, uint64_t token)
{
    for (size_t i = 0; i < d->n_withdrawn; i++) {
        const struct swarmd_ahead *a = &d->withdrawn[i];
        if (a->token == token && !strcmp(a->task, c->task) && !strcmp(a->job, c->job)) return true;
    }
    return false;
}

static void results_done(void *ud, int rc, const char *err, const int *outcome, const bool *merge,
                         size_t n)
{
    batch_ctx *b = ud;
    swarmd *d = b->d;
    size_t due = rc == 0 && d->sched ? sched_complete_due(d->sched) : 0;
    if (d->complete_inflight) d->complete_inflight--;
    swarmd_redis_outcome(d, rc != 0 ? err : NULL);
    static const int counter[] = {SWARMD_C_RESULTS_ACCEPTED,  SWARMD_C_RESULTS_STALE,
                                  SWARMD_C_RESULTS_DUPLICATE, SWARMD_C_RESULTS_UNKNOWN,
                                  SWARMD_C_RESULTS_RETRY,     SWARMD_C_RESULTS_FAILED,
                                  SWARMD_C_RESULTS_REJECTED};
    bool merge_failed = false;
    for (size_t i = 0; i < b->n; i++) {
        const result_ctx *c = &b->p[i].c;
        if (rc != 0 || i >= n) {
            d->counters[SWARMD_C_REDIS_ERRORS]++;
            swarmd_log(d, "result %s/%s#%u from %s not stored: %s (its lease will expire)", c->job,
                       c->task, c->attempt, c->worker, rc != 0 ? err : "no reply for it");
            continue;
        }
        int oc = outcome[i];
        /* the Result of an Assign withdrawn before its lease answered holds no
         * lease: stale, not a forgery */
        if (oc != SCHED_OK && withdrawn_was(d, c, b->p[i].token)) {
            oc = SCHED_STALE;
            swarmd_log(d, "result %s/%s#%u from %s: its Assign was withdrawn (stale)", c->job,
                       c->task, c->attempt, c->worker);
        } else if (oc != SCHED_OK) {
            swarmd_log(d, "result %s/%s#%u from %s: %s", c->job, c->task, c->attempt, c->worker,
                       sched_outcome_name(oc));
        }
        if (oc >= 0 && oc <= SCHED_FORGED) d->counters[counter[oc]]++;
        /* the job this result ended: merged now, without first asking Redis
         * which jobs wait (the tick's swarmd_merge_pending retries a failure) */
        char e2[256];
        if (merge[i] && !d->stopping && d->sched &&
            sched_job_merge(d->sched, c->job, swarmd_waiters_on(d, c->job) ? SWARMD_RESULT_PAGE : 0,
                            merge_ready, merged, d, e2, sizeof e2) != 0)
            merge_failed = true;
    }
    batch_free(b->p, b->n);
    free(b);
    if (merge_failed) swarmd_merge_pending(d);
    if (!d->stopping) swarmd_results_flush(d); /* what waited for this reply */
    /* the freed slots want work only if some may be due: tasks this call made
     * due, or others (the last lease did not come back short). Not otherwise:
     * a lease right behind finish.lua would delay its answer */
    if (rc != 0 || due || !d->lease_drained) swarmd_dispatch(d);
}

void swarmd_pending_free(swarmd *d)
{
    batch_free(d->pend, d->n_pend);
    d->pend = NULL;
    d->n_pend = d->cap_pend = 0;
    free(d->prog);
    d->prog = NULL;
    d->n_prog = d->cap_prog = 0;
}

void swarmd_results_flush(swarmd *d)
{
    /* progress first: Redis runs the calls in order, and a task's Progress
     * stored after its Result would read as stale */
    swarmd_progress_flush(d);
    if (!d->n_pend || (d->complete_inflight && d->n_pend < SWARMD_COMPLETE_BATCH)) return;
    batch_ctx *b = calloc(1, sizeof *b);
    sched_result *sr = calloc(d->n_pend, sizeof *sr);
    char err[256] = "out of memory";
    if (b && sr) {
        b->d = d;
        b->p = d->pend;
        b->n = d->n_pend;
        for (size_t i = 0; i < b->n; i++) {
            const struct swarmd_pending *p = &b->p[i];
            sr[i] = (sched_result){.ref = {p->c.job, p->c.task, p->c.attempt, p->token},
                                   .worker = p->c.worker,
                                   .ok = p->ok,
                                   .output = p->output ? p->output : "",
                                   .error = p->error ? p->error : "",
                                   .tokens = p->tokens,
                                   .elapsed_ms = p->elapsed_ms};
        }
        d->pend = NULL;
        d->n_pend = d->cap_pend = 0;
        d->complete_inflight++; /* results_done takes it back, on the error path too */
        int rc = d->sched
                     ? sched_tasks_complete(d->sched, sr, b->n, results_done, b, err, sizeof err)
                     : -1;
        free(sr);
        if (rc == 0) return;
        results_done(b, -1, err, NULL, NULL, 0);
        return;
    }
    free(sr);
    free(b);
    d->counters[SWARMD_C_REDIS_ERRORS]++;
    swarmd_log(d, "%zu result(s) not stored: %s (their leases will expire)", d->n_pend, err);
    batch_free(d->pend, d->n_pend);
    d->pend = NULL;
    d->n_pend = d->cap_pend = 0;
}

static void handle_result(swarmd *d, const uint8_t *id, size_t id_len, swarmd_worker *w,
                          const Swarm__Envelope *env)
{
    const Swarm__Result *r = env->result;
    if (!ref_ok(r->job_id, r->task_id) || r->attempt == 0) {
        bad_request(d, id, id_len, env->correlation_id,
                    "Result: job_id, task_id and attempt are required");
        return;
    }
    if (w) {
        worker_seen(d, w);
        /* a batch peer sends no Credit per task: the Result of a task it
         * held gives its slot back (a Result for one it did not hold, forged
         * or stale, gives nothing) */
        if (inflight_drop(w, r->job_id, r->task_id) && w->batch) {
            if (w->since_credit)
                w->since_credit--;
            else if (w->credit < w->slots + w->prefetch)
                w->credit++;
            /* mean over about the last 8 */
            uint64_t ms = r->elapsed_ms < 3600000 ? r->elapsed_ms : 3600000;
            w->task_ms = (uint32_t)((7 * (uint64_t)w->task_ms + ms) / 8);
        }
    }
    /* a queued Progress of this attempt is moot now (and would read as stale) */
    for (size_t i = 0; i < d->n_prog; i++)
        if (d->prog[i].c.attempt == r->attempt && !strcmp(d->prog[i].c.task, r->task_id) &&
            !strcmp(d->prog[i].c.job, r->job_id)) {
            d->prog[i] = d->prog[--d->n_prog];
            break;
        }
    if (d->n_pend == d->cap_pend) {
        size_t cap = d->cap_pend ? d->cap_pend * 2 : 64;
        struct swarmd_pending *np = realloc(d->pend, sizeof *np * cap);
        if (!np) {
            swarmd_log(d, "out of memory queueing result %s/%s (its lease will expire)", r->job_id,
                       r->task_id);
            return;
        }
        d->pend = np;
        d->cap_pend = cap;
    }
    struct swarmd_pending *p = &d->pend[d->n_pend];
    memset(p, 0, sizeof *p);
    result_ctx *c = &p->c;
    c->d = d;
    /* The sender: its registered name, else (swarmd restarted and it has not
     * registered again yet) the name it claims. Either way complete.lua only
     * accepts the lease holder echoing the lease's random token. */
    snprintf(c->worker, sizeof c->worker, "%s", w ? w->name : env->sender);
    snprintf(c->job, sizeof c->job, "%s", r->job_id);
    snprintf(c->task, sizeof c->task, "%s", r->task_id);
    c->attempt = r->attempt;
    p->output = strdup(r->output);
    p->error = strdup(r->error[0] ? r->error : "failed without a message");
    if (!p->output || !p->error) {
        free(p->output);
        free(p->error);
        swarmd_log(d, "out of memory queueing result %s/%s (its lease will expire)", r->job_id,
                   r->task_id);
        return;
    }
    p->ok = r->ok;
    p->tokens = r->tokens;
    p->elapsed_ms = r->elapsed_ms;
    p->token = r->lease_token;
    d->n_pend++;
    /* stored when this drain pass ends (swarmd_drain_socket), or now if full */
    if (d->n_pend >= SWARMD_COMPLETE_BATCH) swarmd_results_flush(d);
}

/* A Progress whose correlation id names a worker slot (high 16 bits set)
 * asks to hear when its checkpoint is stored: an agent's intent to run a
 * side-effect tool (worker/agent_task.c hook_intent), which waits for this. */
typedef struct ckpt_ack {
    swarmd *d;
    uint8_t id[WIRE_MAX_IDENTITY];
    size_t id_len;
    uint64_t corr;
    char job[64], task[32];
    uint32_t attempt;
} ckpt_ack;

static void checkpoint_acked(void *ud, int rc, const char *err, int outcome, bool merge)
{
    ckpt_ack *a = ud;
    swarmd *d = a->d;
    (void)merge;
    char why[300] = "";
    if (rc != 0) {
        d->counters[SWARMD_C_REDIS_ERRORS]++;
        snprintf(why, sizeof why, "checkpoint not stored (redis: %.200s)", err ? err : "?");
    } else if (outcome != SCHED_OK) {
        snprintf(why, sizeof why, "checkpoint not stored: the task no longer holds its lease (%s)",
                 sched_outcome_name(outcome));
    }
    if (!d->stopping && why[0]) {
        swarmd_send_error(d, d->worker, a->id, a->id_len, a->corr, WIRE_E_INTERNAL, why);
    } else if (!d->stopping) {
        Swarm__Envelope env;
        Swarm__Progress p;
        wire_envelope_init(&env, "swarmd", a->corr);
        swarm__progress__init(&p);
        p.job_id = a->job;
        p.task_id = a->task;
        p.attempt = a->attempt;
        env.payload_case = SWARM__ENVELOPE__PAYLOAD_PROGRESS;
        env.progress = &p;
        swarmd_send(d, d->worker, a->id, a->id_len, &env);
    }
    free(a);
}

static void checkpoint_done(void *ud, int rc, const char *err, int outcome, bool merge)
{
    swarmd *d = ud;
    (void)merge;
    if (rc != 0) {
        d->counters[SWARMD_C_REDIS_ERRORS]++;
        swarmd_log(d, "agent checkpoint not stored: %s", err ? err : "?");
    } else if (outcome == SCHED_FORGED) {
        d->counters[SWARMD_C_PROGRESS_REJECTED]++;
    }
}

static void handle_progress(swarmd *d, const uint8_t *id, size_t id_len, swarmd_worker *w,
                            const Swarm__Envelope *env)
{
    const Swarm__Progress *p = env->progress;
    if (!ref_ok(p->job_id, p->task_id) || p->attempt == 0) {
        bad_request(d, id, id_len, env->correlation_id,
                    "Progress: job_id, task_id and attempt are required");
        return;
    }
    worker_seen(d, w);
    for (size_t i = 0; i < w->n_inflight; i++)
        if (!strcmp(w->inflight[i].job, p->job_id) && !strcmp(w->inflight[i].task, p->task_id))
            w->inflight[i].answered = true;
    bool step = (p->step_json && *p->step_json) || (p->checkpoint && *p->checkpoint) ||
                (p->paused && *p->paused);
    if (!step) {
        progress_queue(d, w, p); /* stored with the drain pass's batch */
        return;
    }
    /* a step's checkpoint must follow its progress: the queued ones go first */
    swarmd_progress_flush(d);
    result_ctx *c = calloc(1, sizeof *c);
    if (!c) return;
    c->d = d;
    c->progress = true;
    snprintf(c->worker, sizeof c->worker, "%s", w->name);
    snprintf(c->job, sizeof c->job, "%s", p->job_id);
    snprintf(c->task, sizeof c->task, "%s", p->task_id);
    c->attempt = p->attempt;
    sched_taskref ref = {p->job_id, p->task_id, p->attempt, p->lease_token};
    char tail[128];
    snprintf(tail, sizeof tail, "%s", p->text_tail);
    char err[256];
    if (sched_task_progress(d->sched, &ref, w->name, p->tokens, tail, d->cfg.lease_ms,
                            progress_done, c, err, sizeof err) != 0) {
        d->counters[SWARMD_C_REDIS_ERRORS]++;
        free(c);
    }
    /* an agent step (transcript line + checkpoint), a side effect journaled
     * mid-step (checkpoint only) or a paused backend */
    if ((p->step_json && *p->step_json) || (p->checkpoint && *p->checkpoint) ||
        (p->paused && *p->paused)) {
        sched_step st = {.step = p->step,
                         .tool_calls = p->tool_calls,
                         .record = p->step_json,
                         .checkpoint = p->checkpoint,
                         .paused = p->paused};
        if (p->paused && *p->paused)
            swarmd_log(d, "task %s/%s paused: %s", p->job_id, p->task_id, p->paused);
        ckpt_ack *ack = NULL;
        if ((env->correlation_id >> 48) != 0 && p->checkpoint && *p->checkpoint &&
            (ack = calloc(1, sizeof *ack)) != NULL) {
            ack->d = d;
            ack->id_len = id_len < sizeof ack->id ? id_len : sizeof ack->id;
            memcpy(ack->id, id, ack->id_len);
            ack->corr = env->correlation_id;
            snprintf(ack->job, sizeof ack->job, "%s", p->job_id);
            snprintf(ack->task, sizeof ack->task, "%s", p->task_id);
            ack->attempt = p->attempt;
        }
        if (sched_task_checkpoint(d->sched, &ref, w->name, &st,
                                  ack ? checkpoint_acked : checkpoint_done,
                                  ack ? (void *)ack : (void *)d, err, sizeof err) != 0) {
            d->counters[SWARMD_C_REDIS_ERRORS]++;
            if (ack) {
                swarmd_send_error(d, d->worker, id, id_len, env->correlation_id, WIRE_E_INTERNAL,
                                  "checkpoint not stored: redis is not connected");
                free(ack);
            }
        }
    }
}

/* ---- agents' job-wide notes (the note / read_notes tools, lua/notes.lua) ---- */

typedef struct notes_ctx {
    swarmd *d;
    uint8_t id[WIRE_MAX_IDENTITY];
    size_t id_len;
    uint64_t corr;
    bool add;
} notes_ctx;

static void notes_reply(swarmd *d, const uint8_t *id, size_t id_len, uint64_t corr,
                        const char *error, const sched_notes_page *pg)
{
    Swarm__Envelope env;
    Swarm__Notes n;
    wire_envelope_init(&env, "swarmd", corr);
    swarm__notes__init(&n);
    n.error = (char *)(error ? error : "");
    size_t cnt = pg ? pg->n : 0;
    Swarm__Note *v = cnt ? calloc(cnt, sizeof *v) : NULL;
    Swarm__Note **pv = cnt ? calloc(cnt, sizeof *pv) : NULL;
    if (cnt && (!v || !pv)) {
        n.error = "out of memory answering read_notes";
        cnt = 0;
    }
    for (size_t i = 0; i < cnt; i++) {
        swarm__note__init(&v[i]);
        v[i].id = (char *)pg->notes[i].id;
        v[i].author = (char *)pg->notes[i].author;
        v[i].tag = (char *)pg->notes[i].tag;
        v[i].text = (char *)pg->notes[i].text;
        pv[i] = &v[i];
    }
    n.n_notes = cnt;
    n.notes = pv;
    n.next = (char *)(pg && pg->next ? pg->next : "");
    n.more = pg && pg->more;
    n.id = (char *)(pg && pg->id ? pg->id : "");
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_NOTES;
    env.notes = &n;
    swarmd_send(d, d->worker, id, id_len, &env);
    free(v);
    free(pv);
}

static void notes_done(void *ud, int rc, const char *err, int outcome, const sched_notes_page *pg)
{
    notes_ctx *c = ud;
    char why[400] = "";
    if (rc != 0) {
        c->d->counters[SWARMD_C_REDIS_ERRORS]++;
        snprintf(why, sizeof why, "job memory is unavailable (redis: %.200s); try again later",
                 err ? err : "?");
    } else if (outcome != SCHED_OK) {
        snprintf(why, sizeof why, "this task no longer holds its lease (%s): its notes are not %s",
                 sched_outcome_name(outcome), c->add ? "stored" : "readable");
    }
    if (!c->d->stopping) notes_reply(c->d, c->id, c->id_len, c->corr, why, why[0] ? NULL : pg);
    free(c);
}

static void handle_notes(swarmd *d, const uint8_t *id, size_t id_len, swarmd_worker *w,
                         const Swarm__Envelope *env)
{
    const Swarm__Notes *n = env->notes;
    char why[300] = "";
    if (!ref_ok(n->job_id, n->task_id) || n->attempt == 0) {
        bad_request(d, id, id_len, env->correlation_id,
                    "Notes: job_id, task_id and attempt are required");
        return;
    }
    worker_seen(d, w);
    size_t tl = strlen(n->text), gl = strlen(n->tag);
    /* the caps keep one job's memory bounded whatever its agents write */
    if (tl > SCHED_NOTE_MAX_BYTES)
        snprintf(why, sizeof why,
                 "the note is %zu bytes; a note holds at most %u bytes (shorten it, or write the "
                 "details to a file in the workspace and note its path)",
                 tl, SCHED_NOTE_MAX_BYTES);
    else if (gl > SCHED_NOTE_TAG_MAX)
        snprintf(why, sizeof why, "the tag is %zu bytes; a tag holds at most %u bytes", gl,
                 SCHED_NOTE_TAG_MAX);
    else if (strlen(n->author) > 128)
        snprintf(why, sizeof why, "the author is over 128 bytes");
    else if (strlen(n->after) > 64)
        snprintf(why, sizeof why, "the cursor is not a note id");
    if (why[0]) {
        notes_reply(d, id, id_len, env->correlation_id, why, NULL);
        return;
    }
    notes_ctx *c = calloc(1, sizeof *c);
    if (!c) return;
    c->d = d;
    memcpy(c->id, id, id_len < sizeof c->id ? id_len : sizeof c->id);
    c->id_len = id_len < sizeof c->id ? id_len : sizeof c->id;
    c->corr = env->correlation_id;
    c->add = tl > 0;
    sched_taskref ref = {n->job_id, n->task_id, n->attempt, n->lease_token};
    char err[256];
    uint32_t limit = n->limit == 0 || n->limit > 200 ? 200 : n->limit;
    int rc = c->add ? sched_notes_add(d->sched, &ref, w->name, n->author, n->tag, n->text,
                                      notes_done, c, err, sizeof err)
                    : sched_notes_read(d->sched, &ref, w->name, n->tag, n->after, limit, 64 * 1024,
                                       notes_done, c, err, sizeof err);
    if (rc != 0) notes_done(c, -1, err, SCHED_UNKNOWN, NULL);
}

/* ---- dynamic spawn (an agent's spawn tool, lua/spawn.lua) ---- */

#define SPAWN_MAX_INSTRUCTIONS (16 * 1024)
#define SPAWN_MAX_DEPS 64

typedef struct spawn_ctx {
    swarmd *d;
    uint8_t id[WIRE_MAX_IDENTITY];
    size_t id_len;
    uint64_t corr;
} spawn_ctx;

static void spawn_reply(swarmd *d, const uint8_t *id, size_t id_len, uint64_t corr,
                        const char *child, const char *error)
{
    Swarm__Envelope env;
    Swarm__Spawn sp;
    wire_envelope_init(&env, "swarmd", corr);
    swarm__spawn__init(&sp);
    sp.child_task_id = (char *)(child ? child : "");
    sp.error = (char *)(error ? error : "");
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_SPAWN;
    env.spawn = &sp;
    swarmd_send(d, d->worker, id, id_len, &env);
}

static void spawn_done(void *ud, int rc, const char *err, int outcome, const char *child,
                       const char *msg)
{
    spawn_ctx *c = ud;
    char why[600] = "";
    if (rc != 0) {
        c->d->counters[SWARMD_C_REDIS_ERRORS]++;
        snprintf(why, sizeof why, "the scheduler is unavailable (redis: %.200s); try again later",
                 err ? err : "?");
    } else if (outcome == SCHED_SPAWN_REFUSED) {
        snprintf(why, sizeof why, "refused: %.500s", msg);
    } else if (outcome != SCHED_SPAWN_OK) {
        snprintf(why, sizeof why, "this task no longer holds its lease (%.200s)", msg);
    } else {
        swarmd_log(c->d, "spawned %s", child);
    }
    if (!c->d->stopping) spawn_reply(c->d, c->id, c->id_len, c->corr, why[0] ? "" : child, why);
    free(c);
}

static void handle_spawn(swarmd *d, const uint8_t *id, size_t id_len, swarmd_worker *w,
                         const Swarm__Envelope *env)
{
    const Swarm__Spawn *s = env->spawn;
    if (!ref_ok(s->job_id, s->task_id) || s->attempt == 0) {
        bad_request(d, id, id_len, env->correlation_id,
                    "Spawn: job_id, task_id and attempt are required");
        return;
    }
    worker_seen(d, w);
    char why[300] = "";
    size_t il = strlen(s->instructions);
    if (il == 0 || il > SPAWN_MAX_INSTRUCTIONS)
        snprintf(why, sizeof why, "the child's instructions must be 1 to %d bytes (got %zu)",
                 SPAWN_MAX_INSTRUCTIONS, il);
    else if (s->n_depends_on > SPAWN_MAX_DEPS)
        snprintf(why, sizeof why, "depends_on names %zu tasks; at most %d", s->n_depends_on,
                 SPAWN_MAX_DEPS);
    for (size_t i = 0; !why[0] && i < s->n_depends_on; i++)
        if (!s->depends_on[i][0] || strlen(s->depends_on[i]) >= 32 || strchr(s->depends_on[i], ','))
            snprintf(why, sizeof why, "depends_on[%zu] is not a task id", i);
    if (why[0]) {
        spawn_reply(d, id, id_len, env->correlation_id, "", why);
        return;
    }
    /* depends_on and tools travel to the script as one string each */
    size_t dl = 1, tl = 3;
    for (size_t i = 0; i < s->n_depends_on; i++)
        dl += strlen(s->depends_on[i]) + 1;
    for (size_t i = 0; i < s->n_tools; i++)
        tl += 2 * strlen(s->tools[i]) + 4;
    char *deps = calloc(1, dl), *tools = calloc(1, tl);
    spawn_ctx *c = calloc(1, sizeof *c);
    if (!deps || !tools || !c) {
        free(deps);
        free(tools);
        free(c);
        spawn_reply(d, id, id_len, env->correlation_id, "", "swarmd is out of memory");
        return;
    }
    for (size_t i = 0; i < s->n_depends_on; i++) {
        if (i) strcat(deps, ",");
        strcat(deps, s->depends_on[i]);
    }
    if (s->n_tools) {
        char *p = tools;
        *p++ = '[';
        for (size_t i = 0; i < s->n_tools; i++) {
            if (i) *p++ = ',';
            *p++ = '"';
            for (const char *q = s->tools[i]; *q; q++) {
                if (*q == '"' || *q == '\\') *p++ = '\\';
                *p++ = *q;
            }
            *p++ = '"';
        }
        *p++ = ']';
        *p = 0;
    }
    c->d = d;
    memcpy(c->id, id, id_len < sizeof c->id ? id_len : sizeof c->id);
    c->id_len = id_len < sizeof c->id ? id_len : sizeof c->id;
    c->corr = env->correlation_id;
    sched_spawn sp = {.parent = {s->job_id, s->task_id, s->attempt, s->lease_token},
                      .worker = w->name,
                      .instructions = s->instructions,
                      .item = s->item[0] ? s->item : "spawned",
                      .input = "",
                      .depends_on = deps,
                      .tools = tools};
    char err[256];
    if (sched_task_spawn(d->sched, &sp, spawn_done, c, err, sizeof err) != 0)
        spawn_done(c, -1, err, SCHED_SPAWN_STALE, "", "");
    free(deps);
    free(tools);
}

/* A ResultBatch: each item handled exactly as if it came alone (same
 * checks, same fencing, same taps), progress first. */
static void handle_result_batch(swarmd *d, const uint8_t *id, size_t id_len, swarmd_worker *w,
                                const Swarm__Envelope *env)
{
    const Swarm__ResultBatch *b = env->result_batch;
    Swarm__Envelope one = *env;
    for (size_t i = 0; w && i < b->n_progress; i++) {
        one.payload_case = SWARM__ENVELOPE__PAYLOAD_PROGRESS;
        one.progress = b->progress[i];
        handle_progress(d, id, id_len, w, &one);
        if (d->http) swarmd_http_on_recv(d->http, id, id_len, &one);
    }
    for (size_t i = 0; i < b->n_results; i++) {
        one.payload_case = SWARM__ENVELOPE__PAYLOAD_RESULT;
        one.result = b->results[i];
        handle_result(d, id, id_len, w, &one);
        if (d->http) swarmd_http_on_recv(d->http, id, id_len, &one);
    }
    /* the slots these results freed are leased again now, not after Redis
     * has stored the results */
    if (w && b->n_results) swarmd_dispatch(d);
}

void swarmd_worker_handle(swarmd *d, const uint8_t *id, size_t id_len, Swarm__Envelope *env)
{
    swarmd_worker *w = worker_by_id(d, id, id_len);
    switch (env->payload_case) {
    case SWARM__ENVELOPE__PAYLOAD_REGISTER:
        handle_register(d, id, id_len, env);
        return;
    case SWARM__ENVELOPE__PAYLOAD_HEARTBEAT:
        if (!w) {
            tell_unknown(d, id, id_len, env->correlation_id, "Heartbeat");
            return;
        }
        handle_heartbeat(d, w, env->heartbeat);
        return;
    case SWARM__ENVELOPE__PAYLOAD_CREDIT:
        if (!w) {
            tell_unknown(d, id, id_len, env->correlation_id, "Credit");
            return;
        }
        worker_seen(d, w);
        w->credit = env->credit->slots;
        w->since_credit = 0;
        swarmd_dispatch(d);
        return;
    case SWARM__ENVELOPE__PAYLOAD_PROGRESS:
        if (!w) {
            tell_unknown(d, id, id_len, env->correlation_id, "Progress");
            return;
        }
        handle_progress(d, id, id_len, w, env);
        return;
    case SWARM__ENVELOPE__PAYLOAD_NOTES:
        if (!w) {
            tell_unknown(d, id, id_len, env->correlation_id, "Notes");
            return;
        }
        handle_notes(d, id, id_len, w, env);
        return;
    case SWARM__ENVELOPE__PAYLOAD_SPAWN:
        if (!w) {
            tell_unknown(d, id, id_len, env->correlation_id, "Spawn");
            return;
        }
        handle_spawn(d, id, id_len, w, env);
        return;
    case SWARM__ENVELOPE__PAYLOAD_RESULT:
        /* A valid result is accepted even from an unknown sender (swarmd
         * restarted mid-task): the fencing token decides, not the table. */
        if (!w) tell_unknown(d, id, id_len, env->correlation_id, "Result");
        handle_result(d, id, id_len, w, env);
        return;
    case SWARM__ENVELOPE__PAYLOAD_RESULT_BATCH:
        /* as a lone Result: the fencing token decides; Progress needs a
         * registered sender and is dropped without one */
        if (!w) tell_unknown(d, id, id_len, env->correlation_id, "ResultBatch");
        handle_result_batch(d, id, id_len, w, env);
        return;
    default: {
        char msg[128];
        d->counters[SWARMD_C_WORKER_UNEXPECTED]++;
        snprintf(msg, sizeof msg, "payload %d is not valid on the worker endpoint",
                 (int)env->payload_case);
        swarmd_log(d, "bad frame on the worker endpoint: %s", msg);
        swarmd_send_error(d, d->worker, id, id_len, env->correlation_id, WIRE_E_UNEXPECTED, msg);
        return;
    }
    }
}
