/* worker.c - swarm-worker: registration, heartbeats, credit, slot threads.
 *
 * Protocol (see proto/swarm.proto): Register until swarmd answers; then a
 * Heartbeat every interval listing running tasks (swarmd extends their
 * leases), a Credit with the number of free slots whenever it changes, one
 * Assign per free slot, Progress while a task runs, one Result per task.
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
    pthread_mutex_t mu;
    pthread_cond_t cv;
    Swarm__Envelope *pending; /* handed over by main, guarded by mu */
    int quit;                 /* guarded by mu */
    atomic_int cancel;        /* set by main, read by the running task */
    /* a request to swarmd from the running task (an agent's notes): the
     * main thread hands the answer whose correlation id is wait_corr over in
     * reply; both guarded by mu */
    uint64_t wait_corr;
    Swarm__Envelope *reply;
    uint64_t req_seq; /* slot thread only */
    /* main thread only */
    int busy;
    int cancelled;
    char *job_id, *task_id;
    uint32_t attempt;
    uint64_t token; /* the lease's fencing token, echoed in everything about it */
} worker_slot;

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

static uint32_t worker_free_slots(const worker *w)
{
    uint32_t n = 0;
    for (int i = 0; i < w->n_slots; i++)
        if (!w->slots[i].busy) n++;
    return n;
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
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_REGISTER;
    env.register_ = &reg;
    worker_send(w, &env);
    w->last_register_ms = swarm_clock_ms();
}

static void worker_send_credit(worker *w, int force)
{
    uint32_t free_slots = worker_free_slots(w);
    if (!w->registered || (!force && free_slots == w->last_credit)) return;
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    Swarm__Credit cr = SWARM__CREDIT__INIT;
    wire_envelope_init(&env, w->id, ++w->corr);
    cr.slots = free_slots;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_CREDIT;
    env.credit = &cr;
    worker_send(w, &env);
    w->last_credit = free_slots;
}

static void worker_send_heartbeat(worker *w)
{
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    Swarm__Heartbeat hb = SWARM__HEARTBEAT__INIT;
    Swarm__TaskRef refs[w->n_slots];
    Swarm__TaskRef *ptrs[w->n_slots];
    size_t n = 0;
    for (int i = 0; i < w->n_slots; i++) {
        worker_slot *s = &w->slots[i];
        if (!s->busy || s->cancelled) continue;
        swarm__task_ref__init(&refs[n]);
        refs[n].job_id = s->job_id;
        refs[n].task_id = s->task_id;
        refs[n].attempt = s->attempt;
        refs[n].lease_token = s->token;
        ptrs[n] = &refs[n];
        n++;
    }
    wire_envelope_init(&env, w->id, ++w->corr);
    hb.worker_id = w->id;
    hb.n_running = n;
    hb.running = ptrs;
    hb.free_slots = worker_free_slots(w);
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

typedef struct {
    worker_slot *s;
    void *push;
    const Swarm__Assign *a;
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
    char *tail = wb_utf8_sanitize(text + start, len - start);
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    Swarm__Progress p = SWARM__PROGRESS__INIT;
    wire_envelope_init(&env, r->s->w->id, 0);
    p.job_id = r->a->job_id;
    p.task_id = r->a->task_id;
    p.attempt = r->a->attempt;
    p.lease_token = r->a->lease_token;
    p.tokens = tokens;
    p.text_tail = tail ? tail : "";
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_PROGRESS;
    env.progress = &p;
    send_env(r->push, &env);
    free(tail);
    return 0;
}

static void slot_execute_agent(worker_slot *s, void *push, const Swarm__Assign *a);

/* Send a finished attempt's Result (res holds the output and counts; rc 0 ok,
 * 1 cancelled, else failed with err) to the main thread for swarmd. */
static void slot_send_result(worker_slot *s, void *push, const Swarm__Assign *a, Swarm__Result *res,
                             int rc, char *err, size_t errlen, uint64_t t0)
{
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    wire_envelope_init(&env, s->w->id, 0);
    res->job_id = a->job_id;
    res->task_id = a->task_id;
    res->attempt = a->attempt;
    res->lease_token = a->lease_token;
    res->ok = rc == 0;
    if (rc == 1) snprintf(err, errlen, "cancelled");
    res->error = rc == 0 ? "" : err;
    res->elapsed_ms = swarm_clock_ms() - t0;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_RESULT;
    env.result = res;
    /* the main thread must learn the slot is free, so retry until it goes */
    while (send_env(push, &env) != 0 && errno == EAGAIN)
        usleep(1000);
}

static void slot_execute(worker_slot *s, void *push, const Swarm__Assign *a)
{
    if (a->agent_json && *a->agent_json) {
        slot_execute_agent(s, push, a);
        return;
    }
    wb_task t = {.goal = a->goal,
                 .instructions = a->instructions,
                 .input = a->input,
                 .max_tokens = a->max_tokens,
                 .temperature = a->temperature,
                 .seed = a->seed};
    slot_run r = {.s = s, .push = push, .a = a, .sent_ms = swarm_clock_ms()};
    char *output = NULL, err[512] = "";
    uint32_t tokens = 0;
    uint64_t t0 = swarm_clock_ms();
    int rc = wb_slot_run(s->ws, &t, slot_progress, &r, &output, &tokens, err, sizeof(err));
    Swarm__Result res = SWARM__RESULT__INIT;
    res.output = output ? output : "";
    res.tokens = tokens;
    slot_send_result(s, push, a, &res, rc, err, sizeof(err), t0);
    free(output);
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

/* An agent sub-task: the loop streams a Progress per step (agent_task.c). */
static void slot_execute_agent(worker_slot *s, void *push, const Swarm__Assign *a)
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
    res.output = o.output ? o.output : "";
    res.tokens = o.tokens;
    res.steps = o.steps;
    res.tool_calls = o.tool_calls;
    slot_send_result(s, push, a, &res, rc, err, sizeof(err), t0);
    free(o.output);
}

static void *slot_main(void *arg)
{
    worker_slot *s = arg;
    void *push = zmq_socket(s->w->ctx, ZMQ_PUSH);
    int linger = 0;
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_connect(push, s->w->inproc);
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->pending && !s->quit)
            pthread_cond_wait(&s->cv, &s->mu);
        Swarm__Envelope *env = s->pending;
        s->pending = NULL;
        int quit = s->quit;
        pthread_mutex_unlock(&s->mu);
        if (env) {
            slot_execute(s, push, env->assign);
            wire_free(env);
        }
        if (quit) break;
    }
    zmq_close(push);
    return NULL;
}

/* ---- main thread: messages from swarmd ---- */

static void slot_clear(worker_slot *s)
{
    s->busy = 0;
    s->cancelled = 0;
    free(s->job_id);
    free(s->task_id);
    s->job_id = s->task_id = NULL;
}

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

/* Takes ownership of env (an Assign). */
static void worker_on_assign(worker *w, Swarm__Envelope *env)
{
    const Swarm__Assign *a = env->assign;
    worker_slot *s = NULL;
    for (int i = 0; i < w->n_slots; i++) {
        worker_slot *x = &w->slots[i];
        if (x->busy && strcmp(x->job_id, a->job_id) == 0 && strcmp(x->task_id, a->task_id) == 0 &&
            x->attempt == a->attempt) {
            worker_log(w, "duplicate Assign %s/%s attempt %u ignored", a->job_id, a->task_id,
                       a->attempt);
            wire_free(env);
            return;
        }
        if (!x->busy && !s) s = x;
    }
    if (!s) {
        worker_log(w, "Assign %s/%s with no free slot: refused", a->job_id, a->task_id);
        worker_reject_assign(w, a, "worker had no free slot (credit exceeded)");
        wire_free(env);
        worker_send_credit(w, 1);
        return;
    }
    s->busy = 1;
    s->cancelled = 0;
    s->job_id = strdup(a->job_id);
    s->task_id = strdup(a->task_id);
    s->attempt = a->attempt;
    s->token = a->lease_token;
    atomic_store(&s->cancel, 0);
    pthread_mutex_lock(&s->mu);
    s->pending = env;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    /* the Credit goes once the whole burst of Assigns is handled (worker_on_dealer) */
}

static void worker_on_cancel(worker *w, const Swarm__Cancel *c)
{
    for (int i = 0; i < w->n_slots; i++) {
        worker_slot *s = &w->slots[i];
        if (!s->busy || strcmp(s->job_id, c->job_id) != 0) continue;
        if (c->task_id[0] && strcmp(s->task_id, c->task_id) != 0) continue;
        if (c->task_id[0] && c->attempt && c->attempt != s->attempt) continue;
        worker_log(w, "cancel %s/%s", s->job_id, s->task_id);
        s->cancelled = 1;
        atomic_store(&s->cancel, 1);
    }
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
    if (!w->registered) worker_log(w, "registered with swarmd at %s", w->cfg->connect);
    w->registered = 1;
    w->probed = 0;
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
        case SWARM__ENVELOPE__PAYLOAD_ASSIGN:
            worker_on_assign(w, env);
            env = NULL;
            break;
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

/* Slot threads' Progress/Result, forwarded verbatim. */
static void worker_on_pull(worker *w)
{
    for (;;) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, w->pull, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            /* one Credit for every slot freed in this pass, not one per Result */
            worker_send_credit(w, 0);
            return;
        }
        const void *data = zmq_msg_data(&msg);
        size_t len = zmq_msg_size(&msg);
        Swarm__Envelope *env = NULL;
        char err[128];
        int forward = 1;
        if (wire_decode(data, len, &env, err, sizeof(err)) == 0 &&
            env->payload_case == SWARM__ENVELOPE__PAYLOAD_RESULT) {
            const Swarm__Result *r = env->result;
            for (int i = 0; i < w->n_slots; i++) {
                worker_slot *s = &w->slots[i];
                if (s->busy && strcmp(s->job_id, r->job_id) == 0 &&
                    strcmp(s->task_id, r->task_id) == 0 && s->attempt == r->attempt) {
                    if (s->cancelled) forward = 0; /* swarmd already settled it */
                    slot_clear(s);
                    break;
                }
            }
        }
        if (env) wire_free(env);
        if (forward && zmq_send(w->dealer, data, len, ZMQ_DONTWAIT) < 0)
            worker_log(w, "forward to swarmd failed: %s", zmq_strerror(errno));
        zmq_msg_close(&msg);
    }
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
        for (int i = 0; i < w->n_slots; i++) {
            worker_slot *s = &w->slots[i];
            if (!s->started) continue;
            atomic_store(&s->cancel, 1);
            pthread_mutex_lock(&s->mu);
            s->quit = 1;
            pthread_cond_signal(&s->cv);
            pthread_mutex_unlock(&s->mu);
        }
        for (int i = 0; i < w->n_slots; i++) {
            worker_slot *s = &w->slots[i];
            if (s->started) pthread_join(s->th, NULL);
            if (s->pending) wire_free(s->pending);
            if (s->reply) wire_free(s->reply);
            wb_slot_free(s->ws);
            slot_clear(s);
            pthread_mutex_destroy(&s->mu);
            pthread_cond_destroy(&s->cv);
        }
        free(w->slots);
    }
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
        zmq_pollitem_t items[2] = {{w.dealer, 0, ZMQ_POLLIN, 0}, {w.pull, 0, ZMQ_POLLIN, 0}};
        uint64_t t = swarm_clock_ms();
        long timeout = next_tick > t ? (long)(next_tick - t) : 0;
        if (timeout > 200) timeout = 200; /* notice a stop request promptly */
        int n = zmq_poll(items, 2, timeout);
        if (n < 0 && errno != EINTR) {
            worker_log(&w, "zmq_poll: %s", zmq_strerror(errno));
            break;
        }
        if (n > 0 && (items[1].revents & ZMQ_POLLIN)) worker_on_pull(&w);
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
