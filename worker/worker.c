/* worker.c - swarm-worker: registration, heartbeats, credit, slot threads.
 *
 * Protocol (see proto/swarm.proto): Register until swarmd answers; then a
 * Heartbeat every interval listing running (and queued) tasks so swarmd
 * extends their leases, Progress while a task runs, one Result per task.
 * With a coordinator whose Register reply says batch, Assigns arrive as
 * AssignBatch, the Results and Progress ready together leave as one
 * ResultBatch, a Result gives its slot back (Credit only on registering), and
 * up to `prefetch` Assigns wait in the queue beyond the slots. With an older
 * coordinator: one Assign per free slot and a Credit whenever the number of
 * free slots changes.
 *
 * Threads: the main thread owns the DEALER. Assigns go into one queue under
 * w->mu; idle slot threads take them from it themselves, and a slot that
 * finishes takes the next one without a round trip through main. Finished
 * attempts go onto a done list under the same mutex, and the first one onto
 * an empty list writes an eventfd: one wake-up of main per drain, not one
 * message per result. Agent sub-tasks' Progress and requests still travel
 * over the slot's inproc PUSH (agent_task.c).
 *
 * swarmd restarts and lost connections: swarmd never speaks unprompted to an
 * idle worker, so silence alone proves nothing. After a few silent heartbeat
 * intervals the worker probes with a Register (always answered); if that
 * also goes unanswered it drops the socket and reconnects. An Error telling
 * it that it is unknown makes it register again at once. Results produced
 * meanwhile are still sent: swarmd accepts a result whose fencing token
 * (attempt plus the Assign's random lease_token) matches and whose sender
 * holds the lease. Each process start registers a new random incarnation,
 * so swarmd releases a crashed predecessor's leases at once. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "agent.h"
#include "agent_task.h"
#include "curve.h"
#include "backend.h"
#include "wire.h"
#include "worker.h"
#include "swarm_clock.h"

#define WORKER_VERSION "swarm-worker 0.1"
#define TAIL_BYTES 80

typedef struct worker worker;

typedef struct {
    worker *w;
    int index;
    pthread_t th;
    int started;
    wb_slot *ws;
    /* the attempt this slot runs (NULL when idle) and whether swarmd took it
     * back (its Result is dropped): both guarded by w->mu */
    Swarm__Assign *cur;
    int cancelled;
    atomic_int cancel; /* set by main, read by the running task */
    /* a request to swarmd from the running task (an agent's notes): the
     * main thread hands the answer whose correlation id is wait_corr over in
     * reply; both guarded by mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t wait_corr;
    Swarm__Envelope *reply;
    uint64_t req_seq; /* slot thread only */
} worker_slot;

/* A finished attempt (a Result) or a plain task's Progress report, handed
 * from a slot to the main thread on w->done. */
typedef struct worker_done {
    struct worker_done *next;
    Swarm__Assign *a; /* a Result: its attempt's Assign, owned; Progress: borrowed */
    int drop;         /* the attempt was cancelled: swarmd already settled it */
    int is_progress;
    Swarm__Result res;   /* strings point into a, out and err */
    Swarm__Progress pro; /* strings point into a and out */
    char *out, *err;
} worker_done;

struct worker {
    const worker_config *cfg;
    char id[256];
    char host[200];
    char inproc[96];
    void *ctx;
    void *dealer;
    struct curve_watch *watch; /* a tcp:// dealer's handshakes: a refused key ends the worker */
    void *pull;
    wb_backend *backend;
    worker_slot *slots;
    int n_slots;
    /* the queue of Assigns not yet started, the slots' cur/cancelled, the
     * done list and quit: all guarded by mu; idle slots wait on cv */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int mu_ready;
    Swarm__Assign **queue;
    size_t q_head, q_n, q_cap;
    worker_done *done_head, *done_tail;
    int done_armed; /* wake_fd was written and main has not drained since */
    /* slots asleep on cv, and those signalled but not yet up: one slot is
     * woken at a time, and it wakes the next when it finds more queued, so
     * a burst of short tasks is run by the slots already awake instead of
     * waking every thread for a few microseconds of work */
    int sleepers, waking;
    int quit;
    int wake_fd;       /* eventfd: "the done list has items" */
    int batch;         /* swarmd's Register reply said it speaks batches */
    uint32_t prefetch; /* Assigns queued beyond the slots, when batch */
    int registered;
    uint64_t hb_ms;
    uint64_t last_rx_ms;
    uint64_t last_register_ms;
    int probed;
    uint32_t last_credit;
    uint64_t corr;
    uint64_t incarnation; /* random per process: swarmd tells a restart from a reconnect */
};

static void worker_log(const worker *w, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[32];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "%s swarm-worker[%s]: %s\n", ts, w->id, msg);
    fflush(stderr);
}

/* Pack and send without blocking: a full queue to a gone swarmd must never
 * stall the worker (the reconnect logic deals with the peer). */
static int send_env(void *sock, const Swarm__Envelope *env)
{
    return wire_send(sock, NULL, 0, env, WIRE_SEND_DONTWAIT, NULL, 0);
}

static void worker_send(worker *w, Swarm__Envelope *env)
{
    if (send_env(w->dealer, env) != 0)
        worker_log(w, "send to swarmd failed: %s (will retry via reconnect)", zmq_strerror(errno));
}

/* Attempts held (running or queued); call with w->mu held. */
static uint32_t worker_held_locked(const worker *w)
{
    uint32_t n = (uint32_t)w->q_n;
    for (int i = 0; i < w->n_slots; i++)
        if (w->slots[i].cur) n++;
    return n;
}

/* What swarmd may still send: the slots, plus the prefetch queue when batching. */
static uint32_t worker_capacity(const worker *w)
{
    return (uint32_t)w->n_slots + (w->batch ? w->prefetch : 0);
}

static uint32_t worker_free_slots(worker *w)
{
    pthread_mutex_lock(&w->mu);
    uint32_t held = worker_held_locked(w);
    pthread_mutex_unlock(&w->mu);
    uint32_t cap = worker_capacity(w);
    return cap > held ? cap - held : 0;
}

static void worker_send_register(worker *w)
{
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    Swarm__Register reg = SWARM__REGISTER__INIT;
    wire_envelope_init(&env, w->id, ++w->corr);
    reg.worker_id = w->id;
    reg.hostname = w->host;
    reg.pid = (uint32_t)getpid();
    reg.model = (char *)wb_backend_model_name(w->backend);
    reg.slots = (uint32_t)w->n_slots;
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    reg.mem_bytes = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
    reg.version = WORKER_VERSION;
    reg.heartbeat_ms = w->hb_ms;
    reg.incarnation = w->incarnation;
    /* whether agents' run tool is sandboxed here, for `swarm status` */
    agent_sandbox_cfg sb;
    agent_sandbox_cfg_default(&sb);
    reg.sandbox = strcmp(agent_sandbox_mode(&sb), "bwrap") == 0 ? "bwrap" : "none";
    reg.batch = 1;
    reg.prefetch = w->prefetch;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_REGISTER;
    env.register_ = &reg;
    worker_send(w, &env);
    w->last_register_ms = swarm_clock_ms();
}

static void worker_send_credit(worker *w, int force)
{
    /* a batching swarmd counts each Result as a freed slot: Credit only
     * when (re)registering or after a refused Assign */
    if (!w->registered || (!force && w->batch)) return;
    uint32_t free_slots = worker_free_slots(w);
    if (!force && free_slots == w->last_credit) return;
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    Swarm__Credit cr = SWARM__CREDIT__INIT;
    wire_envelope_init(&env, w->id, ++w->corr);
    cr.slots = free_slots;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_CREDIT;
    env.credit = &cr;
    worker_send(w, &env);
    w->last_credit = free_slots;
}

static void task_ref_set(Swarm__TaskRef *r, const Swarm__Assign *a)
{
    swarm__task_ref__init(r);
    r->job_id = a->job_id;
    r->task_id = a->task_id;
    r->attempt = a->attempt;
    r->lease_token = a->lease_token;
}

static void worker_send_heartbeat(worker *w)
{
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    Swarm__Heartbeat hb = SWARM__HEARTBEAT__INIT;
    size_t cap = (size_t)w->n_slots + w->q_cap + 1;
    Swarm__TaskRef *refs = calloc(cap, sizeof *refs);
    Swarm__TaskRef **ptrs = calloc(cap, sizeof *ptrs);
    if (!refs || !ptrs) {
        free(refs);
        free(ptrs);
        worker_log(w, "out of memory building a heartbeat");
        return;
    }
    size_t n = 0;
    /* the strings point into the held Assigns: packed and sent under the lock */
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < w->n_slots; i++) {
        worker_slot *s = &w->slots[i];
        if (!s->cur || s->cancelled) continue;
        task_ref_set(&refs[n], s->cur);
        ptrs[n] = &refs[n];
        n++;
    }
    /* queued ones too: swarmd extends their leases and, should this worker
     * die, releases them with the running ones */
    for (size_t i = 0; i < w->q_n && n < cap; i++) {
        task_ref_set(&refs[n], w->queue[w->q_head + i]);
        ptrs[n] = &refs[n];
        n++;
    }
    uint32_t held = worker_held_locked(w);
    wire_envelope_init(&env, w->id, ++w->corr);
    hb.worker_id = w->id;
    hb.n_running = n;
    hb.running = ptrs;
    hb.free_slots = worker_capacity(w) > held ? worker_capacity(w) - held : 0;
    Swarm__PrefixCacheStats pcs = SWARM__PREFIX_CACHE_STATS__INIT;
    wb_cache_stats cst;
    if (wb_backend_cache_stats(w->backend, &cst) == 0) {
        pcs.lookups = cst.lookups;
        pcs.hits = cst.hits;
        pcs.tokens_reused = cst.tokens_reused;
        pcs.bytes = cst.bytes;
        pcs.max_bytes = cst.max_bytes;
        hb.prefix_cache = &pcs;
    }
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_HEARTBEAT;
    env.heartbeat = &hb;
    worker_send(w, &env);
    pthread_mutex_unlock(&w->mu);
    free(refs);
    free(ptrs);
}

static int worker_connect(worker *w, char *err, size_t errlen)
{
    w->dealer = zmq_socket(w->ctx, ZMQ_DEALER);
    if (!w->dealer) {
        snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(errno));
        return -1;
    }
    wire_socket_setup(w->dealer, false);
    zmq_setsockopt(w->dealer, ZMQ_ROUTING_ID, w->id, strlen(w->id));
    curve_client_opts co = {.server_key_path = w->cfg->server_key,
                            .key_path = w->cfg->key,
                            .insecure = w->cfg->insecure != 0};
    curve_watch_close(w->watch);
    w->watch = NULL;
    if (curve_client_prepare(w->dealer, w->cfg->connect, &co, err, errlen) != 0 ||
        (curve_endpoint_needs_keys(w->cfg->connect) &&
         curve_watch_open(w->ctx, w->dealer, &w->watch, err, errlen) != 0)) {
        zmq_close(w->dealer);
        w->dealer = NULL;
        return -1;
    }
    if (zmq_connect(w->dealer, w->cfg->connect) != 0) {
        snprintf(err, errlen, "--connect %s: %s", w->cfg->connect, zmq_strerror(errno));
        zmq_close(w->dealer);
        w->dealer = NULL;
        return -1;
    }
    return 0;
}

/* ---- slot threads ---- */

/* Append to the done list (w->mu held); returns 1 when main must be woken
 * (the list was drained since the last wake-up), 0 when a wake is pending. */
static int done_append_locked(worker *w, worker_done *d)
{
    d->next = NULL;
    if (w->done_tail)
        w->done_tail->next = d;
    else
        w->done_head = d;
    w->done_tail = d;
    if (w->done_armed) return 0;
    w->done_armed = 1;
    return 1;
}

static void worker_wake(worker *w)
{
    uint64_t one = 1;
    /* EAGAIN only when the counter is full, which still means "awake" */
    if (write(w->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        worker_log(w, "cannot wake the main thread: %s", strerror(errno));
}

typedef struct {
    worker_slot *s;
    Swarm__Assign *a;
    uint32_t sent_tokens;
    uint64_t sent_ms;
} slot_run;

static int slot_progress(void *ud, uint32_t tokens, const char *text, size_t len)
{
    slot_run *r = ud;
    if (atomic_load(&r->s->cancel)) return 1;
    uint64_t t = swarm_clock_ms();
    /* the first report after a few tokens, then at most one per 100 ms: each
     * Progress costs swarmd a Redis write */
    if (tokens < r->sent_tokens + 4 || (r->sent_tokens > 0 && t < r->sent_ms + 100)) return 0;
    r->sent_tokens = tokens;
    r->sent_ms = t;
    size_t start = len > TAIL_BYTES ? len - TAIL_BYTES : 0;
    while (start < len && ((unsigned char)text[start] & 0xC0) == 0x80)
        start++;
    worker_done *d = calloc(1, sizeof *d);
    if (!d) return 0; /* a report only: the Result still comes */
    d->is_progress = 1;
    d->a = r->a; /* borrowed: its Result, which frees it, is queued after this */
    d->out = wb_utf8_sanitize(text + start, len - start);
    swarm__progress__init(&d->pro);
    d->pro.job_id = r->a->job_id;
    d->pro.task_id = r->a->task_id;
    d->pro.attempt = r->a->attempt;
    d->pro.lease_token = r->a->lease_token;
    d->pro.tokens = tokens;
    d->pro.text_tail = d->out ? d->out : "";
    worker *w = r->s->w;
    pthread_mutex_lock(&w->mu);
    int wake = done_append_locked(w, d);
    pthread_mutex_unlock(&w->mu);
    if (wake) worker_wake(w);
    return 0;
}

/* A finished attempt's Result for the main thread (rc 0 ok, 1 cancelled, else
 * failed with err). tmpl holds the counts; output (malloc'ed) moves in. NULL
 * when out of memory: the Result is lost and the lease expires. */
static worker_done *slot_result(Swarm__Assign *a, const Swarm__Result *tmpl, char *output, int rc,
                                const char *err, uint64_t t0)
{
    worker_done *d = calloc(1, sizeof *d);
    char *e = rc == 0 ? NULL : strdup(rc == 1 ? "cancelled" : err);
    if (!d || (rc != 0 && !e)) {
        free(d);
        free(e);
        free(output);
        return NULL;
    }
    d->a = a;
    d->out = output;
    d->err = e;
    d->res = *tmpl;
    d->res.job_id = a->job_id;
    d->res.task_id = a->task_id;
    d->res.attempt = a->attempt;
    d->res.lease_token = a->lease_token;
    d->res.ok = rc == 0;
    d->res.output = output ? output : "";
    d->res.error = e ? e : "";
    d->res.elapsed_ms = swarm_clock_ms() - t0;
    return d;
}

static worker_done *slot_execute_agent(worker_slot *s, void *push, Swarm__Assign *a);

static worker_done *slot_execute(worker_slot *s, void *push, Swarm__Assign *a)
{
    if (a->agent_json && *a->agent_json) return slot_execute_agent(s, push, a);
    wb_task t = {.goal = a->goal,
                 .instructions = a->instructions,
                 .input = a->input,
                 .max_tokens = a->max_tokens,
                 .temperature = a->temperature,
                 .seed = a->seed};
    slot_run r = {.s = s, .a = a, .sent_ms = swarm_clock_ms()};
    char *output = NULL, err[512] = "";
    uint32_t tokens = 0;
    uint64_t t0 = swarm_clock_ms();
    int rc = wb_slot_run(s->ws, &t, slot_progress, &r, &output, &tokens, err, sizeof(err));
    Swarm__Result res = SWARM__RESULT__INIT;
    res.tokens = tokens;
    return slot_result(a, &res, output, rc, err, t0);
}

/* A request from the running task to swarmd, answered through the main
 * thread: the correlation id names the slot ((index + 1) << 48 | sequence), so
 * worker_on_dealer knows whose answer it is. Waits timeout_ms at most, less if
 * the task is cancelled. */
typedef struct {
    worker_slot *s;
    void *push;
} slot_req_ctx;

static int slot_request(void *ud, Swarm__Envelope *req, Swarm__Envelope **reply, int timeout_ms,
                        char *err, size_t errlen)
{
    slot_req_ctx *rc = ud;
    worker_slot *s = rc->s;
    *reply = NULL;
    uint64_t corr = (uint64_t)(s->index + 1) << 48 | (++s->req_seq & 0xffffffffffffu);
    req->correlation_id = corr;
    pthread_mutex_lock(&s->mu);
    s->wait_corr = corr;
    if (s->reply) wire_free(s->reply);
    s->reply = NULL;
    pthread_mutex_unlock(&s->mu);
    char werr[160];
    if (wire_send(rc->push, NULL, 0, req, 0, werr, sizeof werr) != 0) {
        snprintf(err, errlen, "cannot reach the worker's main thread: %s", werr);
        return errno == ENOMEM ? -ENOMEM : -EIO;
    }
    uint64_t deadline = swarm_clock_ms() + (uint64_t)timeout_ms;
    pthread_mutex_lock(&s->mu);
    while (!s->reply && !atomic_load(&s->cancel) && swarm_clock_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L; /* wake to notice a cancel */
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    *reply = s->reply;
    s->reply = NULL;
    s->wait_corr = 0;
    pthread_mutex_unlock(&s->mu);
    if (*reply) return 0;
    if (atomic_load(&s->cancel)) {
        snprintf(err, errlen, "cancelled");
        return -ECANCELED;
    }
    snprintf(err, errlen, "swarmd did not answer within %d ms", timeout_ms);
    return -ETIMEDOUT;
}

/* An agent sub-task: the loop streams a Progress per step (agent_task.c)
 * over the slot's PUSH; the Result goes on the done list like any other. */
static worker_done *slot_execute_agent(worker_slot *s, void *push, Swarm__Assign *a)
{
    slot_req_ctx rq = {.s = s, .push = push};
    worker_agent_ctx c = {.slot = s->ws,
                          .worker_id = s->w->id,
                          .push = push,
                          .assign = a,
                          .cancel = &s->cancel,
                          .request = slot_request,
                          .request_ud = &rq};
    worker_agent_out o;
    char err[1024] = "";
    uint64_t t0 = swarm_clock_ms();
    int rc = worker_agent_execute(&c, &o, err, sizeof(err));
    Swarm__Result res = SWARM__RESULT__INIT;
    res.tokens = o.tokens;
    res.steps = o.steps;
    res.tool_calls = o.tool_calls;
    return slot_result(a, &res, o.output, rc, err, t0);
}

/* Wake one sleeping slot for the queue unless one is already on its way
 * (w->mu held). */
static void worker_kick_locked(worker *w)
{
    if (w->q_n > 0 && w->sleepers > 0 && w->waking == 0) {
        w->waking++;
        pthread_cond_signal(&w->cv);
    }
}

/* The oldest queued Assign (w->mu held, queue not empty). */
static Swarm__Assign *queue_pop_locked(worker *w)
{
    Swarm__Assign *a = w->queue[w->q_head++];
    if (--w->q_n == 0) w->q_head = 0;
    return a;
}

static void *slot_main(void *arg)
{
    worker_slot *s = arg;
    worker *w = s->w;
    void *push = zmq_socket(w->ctx, ZMQ_PUSH);
    int linger = 0;
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_connect(push, w->inproc);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->quit && w->q_n == 0) {
            w->sleepers++;
            pthread_cond_wait(&w->cv, &w->mu);
            w->sleepers--;
            if (w->waking) w->waking--;
        }
        if (w->quit) break;
        /* a slot that just finished takes the next queued Assign here, with
         * no hand-off through the main thread */
        Swarm__Assign *a = queue_pop_locked(w);
        worker_kick_locked(w); /* more queued: the next slot */
        s->cur = a;
        s->cancelled = 0;
        atomic_store(&s->cancel, 0);
        pthread_mutex_unlock(&w->mu);
        worker_done *d = slot_execute(s, push, a);
        pthread_mutex_lock(&w->mu);
        s->cur = NULL;
        int wake = 0;
        if (d) {
            d->drop = s->cancelled;
            wake = done_append_locked(w, d);
        } else {
            swarm__assign__free_unpacked(a, NULL);
        }
        if (wake) worker_wake(w);
    }
    pthread_mutex_unlock(&w->mu);
    zmq_close(push);
    return NULL;
}

/* ---- main thread: messages from swarmd ---- */

static void worker_reject_assign(worker *w, const Swarm__Assign *a, const char *why)
{
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    Swarm__Result res = SWARM__RESULT__INIT;
    wire_envelope_init(&env, w->id, ++w->corr);
    res.job_id = a->job_id;
    res.task_id = a->task_id;
    res.attempt = a->attempt;
    res.lease_token = a->lease_token;
    res.ok = 0;
    res.output = "";
    res.error = (char *)why;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_RESULT;
    env.result = &res;
    worker_send(w, &env);
}

/* The same lease: an Assign for the same attempt under another token is a new
 * lease (swarmd withdrew one it sent ahead of the lease and sent the real one). */
static int same_attempt(const Swarm__Assign *x, const Swarm__Assign *a)
{
    return x->attempt == a->attempt && x->lease_token == a->lease_token &&
           strcmp(x->task_id, a->task_id) == 0 && strcmp(x->job_id, a->job_id) == 0;
}

/* Queue one Assign for the slots; takes ownership of a. */
static void worker_take_assign(worker *w, Swarm__Assign *a)
{
    const char *why = NULL;
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < w->n_slots && !why; i++)
        if (w->slots[i].cur && same_attempt(w->slots[i].cur, a)) why = "duplicate";
    for (size_t i = 0; i < w->q_n && !why; i++)
        if (same_attempt(w->queue[w->q_head + i], a)) why = "duplicate";
    if (!why && worker_held_locked(w) >= worker_capacity(w)) why = "full";
    if (!why && w->q_head + w->q_n == w->q_cap) {
        if (w->q_head) {
            memmove(w->queue, w->queue + w->q_head, w->q_n * sizeof *w->queue);
            w->q_head = 0;
        } else {
            size_t cap = w->q_cap ? w->q_cap * 2 : 32;
            Swarm__Assign **q = realloc(w->queue, cap * sizeof *q);
            if (q) {
                w->queue = q;
                w->q_cap = cap;
            } else {
                why = "oom";
            }
        }
    }
    if (!why) {
        w->queue[w->q_head + w->q_n++] = a;
        worker_kick_locked(w);
    }
    pthread_mutex_unlock(&w->mu);
    if (!why) return;
    if (!strcmp(why, "duplicate")) {
        worker_log(w, "duplicate Assign %s/%s attempt %u ignored", a->job_id, a->task_id,
                   a->attempt);
    } else {
        worker_log(w, "Assign %s/%s with no free slot: refused", a->job_id, a->task_id);
        worker_reject_assign(w, a,
                             strcmp(why, "oom") == 0 ? "worker out of memory queueing the task"
                                                     : "worker had no free slot (credit exceeded)");
        worker_send_credit(w, 1);
    }
    swarm__assign__free_unpacked(a, NULL);
}

static void worker_on_cancel(worker *w, const Swarm__Cancel *c)
{
    int n = 0;
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < w->n_slots; i++) {
        worker_slot *s = &w->slots[i];
        const Swarm__Assign *a = s->cur;
        if (!a || strcmp(a->job_id, c->job_id) != 0) continue;
        if (c->task_id[0] && strcmp(a->task_id, c->task_id) != 0) continue;
        if (c->task_id[0] && c->attempt && c->attempt != a->attempt) continue;
        s->cancelled = 1;
        atomic_store(&s->cancel, 1);
        n++;
    }
    /* queued ones never start */
    size_t keep = 0;
    for (size_t i = 0; i < w->q_n; i++) {
        Swarm__Assign *a = w->queue[w->q_head + i];
        int hit = strcmp(a->job_id, c->job_id) == 0 &&
                  (!c->task_id[0] || (strcmp(a->task_id, c->task_id) == 0 &&
                                      (!c->attempt || c->attempt == a->attempt)));
        if (hit) {
            swarm__assign__free_unpacked(a, NULL);
            n++;
        } else {
            w->queue[w->q_head + keep++] = a;
        }
    }
    w->q_n = keep;
    if (!keep) w->q_head = 0;
    pthread_mutex_unlock(&w->mu);
    if (n)
        worker_log(w, "cancel %s/%s: %d attempt(s) stopped", c->job_id,
                   c->task_id[0] ? c->task_id : "*", n);
}

/* The answer to a slot's request (slot_request): handed over when that slot
 * still waits for this correlation id; ownership of env moves with it. */
static int worker_route_reply(worker *w, Swarm__Envelope *env)
{
    uint64_t corr = env->correlation_id;
    uint64_t idx = corr >> 48;
    if (idx == 0 || idx > (uint64_t)w->n_slots) return 0;
    worker_slot *s = &w->slots[idx - 1];
    int taken = 0;
    pthread_mutex_lock(&s->mu);
    if (s->wait_corr == corr && !s->reply) {
        s->reply = env;
        taken = 1;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return taken;
}

static void worker_registered(worker *w, const Swarm__Register *r)
{
    if (!w->registered)
        worker_log(w, "registered with swarmd at %s%s", w->cfg->connect,
                   r->batch ? " (batched)" : "");
    w->registered = 1;
    w->probed = 0;
    w->batch = r->batch;
    if (r->heartbeat_ms >= 50 && r->heartbeat_ms <= 60000) w->hb_ms = r->heartbeat_ms;
    worker_send_credit(w, 1);
    worker_send_heartbeat(w);
}

static void worker_on_dealer(worker *w)
{
    for (;;) {
        Swarm__Envelope *env = NULL;
        char err[256] = "";
        int rc = wire_recv(w->dealer, false, NULL, NULL, &env, err, sizeof(err));
        if (rc == 1) {
            /* one Credit per burst of messages, not one per Assign */
            worker_send_credit(w, 0);
            return;
        }
        w->last_rx_ms = swarm_clock_ms();
        w->probed = 0;
        if (rc < 0) {
            worker_log(w, "bad message from swarmd dropped: %s", err);
            continue;
        }
        switch (env->payload_case) {
        case SWARM__ENVELOPE__PAYLOAD_REGISTER:
            worker_registered(w, env->register_);
            break;
        case SWARM__ENVELOPE__PAYLOAD_ASSIGN: {
            /* the Assign moves to the queue; the emptied envelope is freed */
            Swarm__Assign *a = env->assign;
            env->assign = NULL;
            env->payload_case = SWARM__ENVELOPE__PAYLOAD__NOT_SET;
            worker_take_assign(w, a);
            break;
        }
        case SWARM__ENVELOPE__PAYLOAD_ASSIGN_BATCH: {
            Swarm__AssignBatch *b = env->assign_batch;
            for (size_t i = 0; i < b->n_assigns; i++) {
                Swarm__Assign *a = b->assigns[i];
                b->assigns[i] = NULL;
                if (a) worker_take_assign(w, a);
            }
            b->n_assigns = 0;
            break;
        }
        case SWARM__ENVELOPE__PAYLOAD_CANCEL:
            worker_on_cancel(w, env->cancel);
            break;
        case SWARM__ENVELOPE__PAYLOAD_NOTES:
        case SWARM__ENVELOPE__PAYLOAD_SPAWN:
        case SWARM__ENVELOPE__PAYLOAD_PROGRESS: /* a stored intent (agent_task.c) */
            if (worker_route_reply(w, env)) env = NULL;
            break;
        case SWARM__ENVELOPE__PAYLOAD_ERROR: {
            const char *m = env->error->message;
            worker_log(w, "swarmd says: %s (code %u)", m, env->error->code);
            /* an answer to a slot's request: the slot reports it (no retry) */
            if (env->error->code != WIRE_E_UNKNOWN_WORKER && worker_route_reply(w, env)) {
                env = NULL;
                break;
            }
            if (env->error->code == WIRE_E_UNKNOWN_WORKER) {
                w->registered = 0;
                worker_send_register(w);
            }
            break;
        }
        default:
            worker_log(w, "unexpected message (payload %d) from swarmd ignored",
                       (int)env->payload_case);
            break;
        }
        if (env) wire_free(env);
    }
}

/* Agent sub-tasks' Progress and requests from the slots, forwarded verbatim. */
static void worker_on_pull(worker *w)
{
    for (;;) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, w->pull, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            return;
        }
        if (zmq_send(w->dealer, zmq_msg_data(&msg), zmq_msg_size(&msg), ZMQ_DONTWAIT) < 0)
            worker_log(w, "forward to swarmd failed: %s", zmq_strerror(errno));
        zmq_msg_close(&msg);
    }
}

/* Room for items in one ResultBatch body: the limit less a margin for the
 * envelope's own fields and each item's tag and length. */
#define RESULT_BATCH_ROOM ((size_t)WIRE_MAX_MSG - 4096)

static void done_send_batch(worker *w, Swarm__Result **rs, size_t nr, Swarm__Progress **ps,
                            size_t np)
{
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    wire_envelope_init(&env, w->id, ++w->corr);
    Swarm__ResultBatch b = SWARM__RESULT_BATCH__INIT;
    if (nr + np == 1 || !w->batch) {
        /* a lone item, or an older swarmd: the plain messages */
        for (size_t i = 0; i < np; i++) {
            env.payload_case = SWARM__ENVELOPE__PAYLOAD_PROGRESS;
            env.progress = ps[i];
            worker_send(w, &env);
        }
        for (size_t i = 0; i < nr; i++) {
            env.payload_case = SWARM__ENVELOPE__PAYLOAD_RESULT;
            env.result = rs[i];
            worker_send(w, &env);
        }
        return;
    }
    b.n_results = nr;
    b.results = rs;
    b.n_progress = np;
    b.progress = ps;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_RESULT_BATCH;
    env.result_batch = &b;
    worker_send(w, &env);
}

/* Everything the slots finished since the last pass: sent as few messages
 * as fit (in order), then freed. */
static void worker_on_done(worker *w)
{
    uint64_t v;
    if (read(w->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
        worker_log(w, "eventfd read: %s", strerror(errno));
    pthread_mutex_lock(&w->mu);
    worker_done *list = w->done_head;
    w->done_head = w->done_tail = NULL;
    w->done_armed = 0;
    pthread_mutex_unlock(&w->mu);
    if (!list) return;
    size_t n = 0;
    for (worker_done *d = list; d; d = d->next)
        n++;
    Swarm__Result **rs = calloc(n, sizeof *rs);
    Swarm__Progress **ps = calloc(n, sizeof *ps);
    size_t nr = 0, np = 0, bytes = 0;
    for (worker_done *d = list; d; d = d->next) {
        if (d->drop) continue; /* swarmd took it back already */
        size_t sz = (d->is_progress ? protobuf_c_message_get_packed_size(&d->pro.base)
                                    : protobuf_c_message_get_packed_size(&d->res.base)) +
                    16;
        if (!rs || !ps) {
            /* out of memory for the arrays: each goes alone */
            Swarm__Result *r1 = &d->res;
            Swarm__Progress *p1 = &d->pro;
            if (d->is_progress)
                done_send_batch(w, NULL, 0, &p1, 1);
            else
                done_send_batch(w, &r1, 1, NULL, 0);
            continue;
        }
        if (nr + np > 0 && bytes + sz > RESULT_BATCH_ROOM) {
            done_send_batch(w, rs, nr, ps, np);
            nr = np = 0;
            bytes = 0;
        }
        if (d->is_progress)
            ps[np++] = &d->pro;
        else
            rs[nr++] = &d->res;
        bytes += sz;
    }
    if (nr + np) done_send_batch(w, rs, nr, ps, np);
    free(rs);
    free(ps);
    while (list) {
        worker_done *d = list;
        list = d->next;
        if (!d->is_progress) swarm__assign__free_unpacked(d->a, NULL);
        free(d->out);
        free(d->err);
        free(d);
    }
    /* an older swarmd learns of freed slots from Credit (one per pass) */
    worker_send_credit(w, 0);
}

static void worker_tick(worker *w)
{
    uint64_t t = swarm_clock_ms();
    uint64_t silence = t - w->last_rx_ms;
    if (!w->registered) {
        if (t - w->last_register_ms >= 2 * w->hb_ms) worker_send_register(w);
        if (silence >= 10 * w->hb_ms) {
            char err[256];
            worker_log(w, "no answer from swarmd for %llu ms: reconnecting",
                       (unsigned long long)silence);
            zmq_close(w->dealer);
            if (worker_connect(w, err, sizeof(err)) != 0) {
                worker_log(w, "%s", err);
                return;
            }
            w->last_rx_ms = t;
            worker_send_register(w);
        }
        return;
    }
    worker_send_heartbeat(w);
    /* a safety net for the one-at-a-time wake-ups: nothing queued may wait
     * while slots sleep */
    pthread_mutex_lock(&w->mu);
    if (w->q_n > 0 && w->sleepers > 0) pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (silence >= 5 * w->hb_ms && !w->probed) {
        /* swarmd is quiet to idle workers; a Register is always answered */
        w->probed = 1;
        w->registered = 0;
        worker_send_register(w);
    }
}

static int worker_init(worker *w, const worker_config *cfg, char *err, size_t errlen)
{
    w->cfg = cfg;
    w->hb_ms = cfg->heartbeat_ms > 0 ? (uint64_t)cfg->heartbeat_ms : 1000;
    gethostname(w->host, sizeof(w->host) - 1);
    if (cfg->id && *cfg->id)
        snprintf(w->id, sizeof(w->id), "%s", cfg->id);
    else
        snprintf(w->id, sizeof(w->id), "w-%s-%d", w->host, (int)getpid());
    w->n_slots = cfg->slots > 0 ? cfg->slots : 1;
    /* SWARM_WORKER_PREFETCH: Assigns queued beyond the slots (default
     * min(slots, 64)) so a slot finds its next task waiting; 0 turns it off */
    const char *pf = getenv("SWARM_WORKER_PREFETCH");
    long pfv = pf && *pf ? strtol(pf, NULL, 10) : (w->n_slots < 64 ? w->n_slots : 64);
    w->prefetch = pfv < 0 ? 0 : pfv > 64 ? 64 : (uint32_t)pfv;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->mu_ready = 1;
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->wake_fd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        return -1;
    }
    while (!w->incarnation)
        if (getentropy(&w->incarnation, sizeof w->incarnation) != 0)
            w->incarnation = (uint64_t)getpid() << 32 ^ swarm_clock_ms();
    if (!cfg->connect || !*cfg->connect) {
        snprintf(err, errlen, "--connect: swarmd's worker endpoint is required");
        return -1;
    }
    wb_backend_opts bo = {.http_url = cfg->http_url,
                          .http_model = cfg->http_model,
                          .api_key = cfg->api_key,
                          .replay = cfg->replay};
    if (wb_backend_open_opts(cfg->engine, cfg->model, cfg->threads, &bo, &w->backend, err,
                             errlen) != 0)
        return -1;
    if (strcmp(wb_backend_kind(w->backend), "sim") == 0)
        worker_log(w, "engine: SIMULATED (fake tokens, for scale tests only; no model runs)");
    else
        worker_log(w, "engine: %s, model %s", wb_backend_kind(w->backend),
                   wb_backend_model_name(w->backend));
    w->ctx = zmq_ctx_new();
    snprintf(w->inproc, sizeof(w->inproc), "inproc://swarm-worker-%p", (void *)w);
    w->pull = zmq_socket(w->ctx, ZMQ_PULL);
    int linger = 0;
    zmq_setsockopt(w->pull, ZMQ_LINGER, &linger, sizeof(linger));
    if (zmq_bind(w->pull, w->inproc) != 0) {
        snprintf(err, errlen, "inproc bind: %s", zmq_strerror(errno));
        return -1;
    }
    if (worker_connect(w, err, errlen) != 0) return -1;
    w->slots = calloc((size_t)w->n_slots, sizeof(*w->slots));
    if (!w->slots) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < w->n_slots; i++) {
        worker_slot *s = &w->slots[i];
        s->w = w;
        s->index = i;
        pthread_mutex_init(&s->mu, NULL);
        pthread_cond_init(&s->cv, NULL);
        if (wb_slot_new(w->backend, &s->ws, err, errlen) != 0) return -1;
        if (pthread_create(&s->th, NULL, slot_main, s) != 0) {
            snprintf(err, errlen, "cannot start slot thread %d", i);
            return -1;
        }
        s->started = 1;
    }
    return 0;
}

static void worker_fini(worker *w)
{
    if (w->slots) {
        pthread_mutex_lock(&w->mu);
        w->quit = 1;
        for (int i = 0; i < w->n_slots; i++)
            atomic_store(&w->slots[i].cancel, 1);
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        for (int i = 0; i < w->n_slots; i++) {
            worker_slot *s = &w->slots[i];
            if (s->started) pthread_join(s->th, NULL);
            if (s->reply) wire_free(s->reply);
            wb_slot_free(s->ws);
            pthread_mutex_destroy(&s->mu);
            pthread_cond_destroy(&s->cv);
        }
        free(w->slots);
    }
    /* what never ran or never went out */
    for (size_t i = 0; i < w->q_n; i++)
        swarm__assign__free_unpacked(w->queue[w->q_head + i], NULL);
    free(w->queue);
    while (w->done_head) {
        worker_done *d = w->done_head;
        w->done_head = d->next;
        if (!d->is_progress) swarm__assign__free_unpacked(d->a, NULL);
        free(d->out);
        free(d->err);
        free(d);
    }
    if (w->mu_ready) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
    }
    if (w->wake_fd >= 0) close(w->wake_fd);
    if (w->dealer) zmq_close(w->dealer);
    curve_watch_close(w->watch);
    if (w->pull) zmq_close(w->pull);
    if (w->ctx) zmq_ctx_term(w->ctx);
    wb_backend_free(w->backend);
}

int worker_run(const worker_config *cfg, char *err, size_t errlen)
{
    worker w;
    memset(&w, 0, sizeof(w));
    w.wake_fd = -1;
    if (worker_init(&w, cfg, err, errlen) != 0) {
        worker_fini(&w);
        return -1;
    }
    worker_log(&w, "%d slot(s), connecting to %s", w.n_slots, cfg->connect);
    w.last_rx_ms = swarm_clock_ms();
    worker_send_register(&w);
    uint64_t next_tick = swarm_clock_ms() + w.hb_ms;
    int rc = 0;
    while (!*cfg->stop) {
        zmq_pollitem_t items[3] = {{w.dealer, 0, ZMQ_POLLIN, 0},
                                   {w.pull, 0, ZMQ_POLLIN, 0},
                                   {NULL, w.wake_fd, ZMQ_POLLIN, 0}};
        uint64_t t = swarm_clock_ms();
        long timeout = next_tick > t ? (long)(next_tick - t) : 0;
        if (timeout > 200) timeout = 200; /* notice a stop request promptly */
        int n = zmq_poll(items, 3, timeout);
        if (n < 0 && errno != EINTR) {
            worker_log(&w, "zmq_poll: %s", zmq_strerror(errno));
            break;
        }
        /* an agent's Progress (PUSH) was sent before its Result (done list) */
        if (n > 0 && (items[1].revents & ZMQ_POLLIN)) worker_on_pull(&w);
        if (n > 0 && (items[2].revents & ZMQ_POLLIN)) worker_on_done(&w);
        if (n > 0 && (items[0].revents & ZMQ_POLLIN)) worker_on_dealer(&w);
        if (swarm_clock_ms() >= next_tick) {
            worker_tick(&w);
            next_tick = swarm_clock_ms() + w.hb_ms;
            /* a refused key will not start working by retrying: say why and stop */
            if (curve_watch_failed(w.watch, err, errlen)) {
                rc = -1;
                break;
            }
        }
    }
    worker_log(&w, "stopping");
    worker_fini(&w);
    return rc;
}
