/* sched.c - the scheduler's Redis connection and its fenced Lua operations.
 *
 * One async hiredis connection on the caller's libuv loop. It reconnects with
 * backoff (100 ms doubling to 5 s) forever; while it is down every operation
 * fails at once with a message, so the coordinator keeps serving and simply
 * retries on its next tick. The scripts are one Redis function library
 * (swarm, generated from lua/ by embed_lua.cmake), FUNCTION LOAD REPLACEd on
 * every connect, and each call is FCALL swarm_<name> 0 prefix now ...: the
 * library's shared prelude (lua/lib.lua) runs once per load, not per call. A
 * "Function not found" reply (Redis restarted without its data, FUNCTION
 * FLUSH) loads the library again and resends the call once, behind the load on
 * the same connection. */
#include "sched_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <hiredis/async.h>

/* enum sched_script (S_SUBMIT ... S_COUNT) and sched_script_src[], both
 * generated from the one list in embed_lua.cmake. */
#include "sched_scripts.h"
#include "swarm_buf.h"
#include "swarm_clock.h"

struct sched {
    uv_loop_t *loop;
    redisAsyncContext *ac;
    bool up, closing;
    bool reloading; /* a FUNCTION LOAD is in flight on this connection */
    char prefix[128];
    char *unix_path, *host;
    int port;
    uv_timer_t timer;
    uv_timer_t watch; /* stall watchdog, see sched_watch_cb */
    int open_handles;
    uint64_t backoff_ms;
    size_t n_wait;          /* script calls sent, reply not yet seen */
    uint64_t last_reply_ms; /* when Redis last answered one */
    void (*on_state)(void *ud, bool up, const char *msg);
    void *ud;
    char **merging; /* job ids this process is merging now */
    size_t n_merging;
    /* While a complete reply's callback runs: that reply, whose elements from
     * inl_from on are (job, first collect page) pairs for sched_job_merge. */
    const redisReply *inl;
    size_t inl_from;
    size_t due; /* ... and how many tasks it made due (sched_complete_due) */
};

size_t sched_complete_due(const sched_t *s)
{
    return s->due;
}

typedef struct sched_op sched_op;
typedef void (*sched_op_fn)(sched_op *op, redisReply *r, const char *err);
struct sched_op {
    sched_t *s;
    int script;
    bool retried;
    int argc, cap;
    char **argv;
    size_t *lens;
    sched_op_fn fn;
    void *cb, *ud;
    char *tag;                  /* per-op string (job id of a merge) */
    sched_merge_acc *acc;       /* a merge's state, handed from page to page */
    uint64_t at;                /* tasks merged before this collect page; results in a complete */
    uint32_t result_page;       /* a merge: result bytes finish.lua returns with the job's status */
    sched_merge_ready_fn ready; /* a merge: told the status a one-page merge stores, once sent */
};

uint64_t sched_now_ms(void)
{
    return swarm_wall_ms();
}

const char *sched_reply_str(const redisReply *r)
{
    if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) && r->str)
        return r->str;
    return "";
}

long long sched_reply_ll(const redisReply *r)
{
    if (!r) return 0;
    if (r->type == REDIS_REPLY_INTEGER) return r->integer;
    if (r->type == REDIS_REPLY_STRING && r->str) return strtoll(r->str, NULL, 10);
    return 0;
}

const char *sched_outcome_name(int outcome)
{
    static const char *const names[] = {"ok",    "stale",  "duplicate", "unknown",
                                        "retry", "failed", "forged"};
    return outcome >= 0 && outcome <= SCHED_FORGED ? names[outcome] : "?";
}

static void sched_report(sched_t *s, bool up, const char *msg)
{
    if (s->on_state) s->on_state(s->ud, up, msg);
}

/* ---- operations: argument building and dispatch ---- */

static void op_free(sched_op *op)
{
    if (!op) return;
    /* argv[0], argv[1] point at constants (FCALL, the function name). */
    for (int i = 2; i < op->argc; i++)
        free(op->argv[i]);
    free(op->argv);
    free(op->lens);
    free(op->tag);
    sched_merge_free(op->acc);
    free(op);
}

static int op_arg(sched_op *op, const void *p, size_t len)
{
    if (op->argc == op->cap) {
        int cap = op->cap ? op->cap * 2 : 16;
        char **a = realloc(op->argv, sizeof *a * (size_t)cap);
        if (!a) return -1;
        op->argv = a;
        size_t *l = realloc(op->lens, sizeof *l * (size_t)cap);
        if (!l) return -1;
        op->lens = l;
        op->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c) return -1;
    if (len) memcpy(c, p, len);
    c[len] = 0;
    op->argv[op->argc] = c;
    op->lens[op->argc] = len;
    op->argc++;
    return 0;
}

/* Replaces argument i (one built earlier, not yet sent). */
static int op_set(sched_op *op, int i, const char *str)
{
    char *c = strdup(str);
    if (!c || i < 2 || i >= op->argc) {
        free(c);
        return -1;
    }
    free(op->argv[i]);
    op->argv[i] = c;
    op->lens[i] = strlen(c);
    return 0;
}

static int op_str(sched_op *op, const char *str)
{
    if (!str) str = "";
    return op_arg(op, str, strlen(str));
}

static int op_u64(sched_op *op, uint64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "%" PRIu64, v);
    return op_str(op, b);
}

/* New op: [FCALL swarm_<name> 0 prefix now ...]; slots 0 and 1 are set at send. */
static sched_op *op_new(sched_t *s, int script, sched_op_fn fn, void *cb, void *ud)
{
    sched_op *op = calloc(1, sizeof *op);
    if (!op) return NULL;
    op->s = s;
    op->script = script;
    op->fn = fn;
    op->cb = cb;
    op->ud = ud;
    if (op_arg(op, "", 0) || op_arg(op, "", 0) || op_str(op, "0") || op_str(op, s->prefix) ||
        op_u64(op, sched_now_ms())) {
        op_free(op);
        return NULL;
    }
    free(op->argv[0]);
    free(op->argv[1]);
    op->argv[0] = op->argv[1] = NULL;
    return op;
}

static void op_reply(redisAsyncContext *ac, void *reply, void *priv);
static int sched_library_load(sched_t *s);

static int op_dispatch(sched_op *op)
{
    sched_t *s = op->s;
    op->argv[0] = "FCALL";
    op->argv[1] = (char *)sched_script_fn[op->script];
    op->lens[0] = strlen(op->argv[0]);
    op->lens[1] = strlen(op->argv[1]);
    if (redisAsyncCommandArgv(s->ac, op_reply, op, op->argc, (const char **)op->argv, op->lens) !=
        REDIS_OK)
        return -1;
    if (s->n_wait++ == 0) s->last_reply_ms = sched_now_ms();
    return 0;
}

/* Sends op or frees it and explains why not. */
static int op_send(sched_op *op, char *err, size_t errlen)
{
    if (!op) {
        snprintf(err, errlen, "out of memory building a Redis call");
        return -1;
    }
    sched_t *s = op->s;
    if (s->closing || !s->up || !s->ac) {
        snprintf(err, errlen, "redis is not connected (%s); retrying in the background",
                 s->closing     ? "shutting down"
                 : s->unix_path ? s->unix_path
                                : s->host);
        op_free(op);
        return -1;
    }
    if (op_dispatch(op) != 0) {
        snprintf(err, errlen, "redis connection is closing");
        op_free(op);
        return -1;
    }
    return 0;
}

static void op_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    sched_op *op = priv;
    sched_t *s = op->s;
    redisReply *r = reply;
    if (s->n_wait) s->n_wait--;
    s->last_reply_ms = sched_now_ms();
    if (!r) {
        /* The connection is going away: no new calls until reconnected. */
        s->up = false;
        op->fn(op, NULL, "redis connection lost");
        op_free(op);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR && r->str && strstr(r->str, "Function not found") &&
        !op->retried && s->ac == ac && !s->closing) {
        /* The library is gone (Redis lost its data, FUNCTION FLUSH): load it
         * again unless a load is already queued, and resend behind the load;
         * one connection runs its commands in order. */
        op->retried = true;
        if (sched_library_load(s) == 0 && op_dispatch(op) == 0) return;
    }
    if (r->type == REDIS_REPLY_ERROR)
        op->fn(op, NULL, r->str ? r->str : "redis error");
    else
        op->fn(op, r, NULL);
    op_free(op);
}

/* ---- the hiredis <-> libuv glue ----
 *
 * Not hiredis' own adapters/libuv.h: on a poll error (libuv reports EPOLLERR,
 * e.g. a unix socket reset by SHUTDOWN NOSAVE while commands were in flight)
 * that adapter returns without telling hiredis, libuv has already stopped the
 * handle, and the context stays "connected" for good: every later command is
 * queued on a dead socket and swarmd hangs. Here an error is handed to hiredis
 * as readable and writable, so its read()/write() sees the failure and runs
 * the disconnect path (callbacks with NULL replies, then reconnect). */
typedef struct sched_uv_io {
    redisAsyncContext *ac; /* NULL once hiredis cleaned up */
    uv_poll_t poll;
    uv_prepare_t flush; /* writes what the turn's calls queued (sched_uv_flush) */
    int events, polled; /* wanted; what the poll handle was started with */
    int open;           /* handles not closed yet: io is freed when both are */
    bool flushing;
} sched_uv_io;

static void sched_uv_poll_cb(uv_poll_t *h, int status, int events)
{
    sched_uv_io *io = h->data;
    if (status < 0) events = UV_READABLE | UV_WRITABLE;
    if (io->ac && (events & UV_READABLE)) redisAsyncHandleRead(io->ac);
    if (io->ac && (events & UV_WRITABLE)) redisAsyncHandleWrite(io->ac);
}

/* libuv re-registers the fd on every uv_poll_start (epoll_ctl DEL + ADD): only
 * when the events change */
static void sched_uv_update(sched_uv_io *io)
{
    if (io->events == io->polled) return;
    io->polled = io->events;
    if (io->events)
        uv_poll_start(&io->poll, io->events, sched_uv_poll_cb);
    else
        uv_poll_stop(&io->poll);
}

static void sched_uv_add_read(void *p)
{
    sched_uv_io *io = p;
    io->events |= UV_READABLE;
    sched_uv_update(io);
}

static void sched_uv_del_read(void *p)
{
    sched_uv_io *io = p;
    io->events &= ~UV_READABLE;
    sched_uv_update(io);
}

/* Once per loop turn, before libuv polls: one write() of every call queued in
 * the turn, with no wait for writability (a socket almost always has room).
 * hiredis asks for a write again only when some output is left (socket
 * full): only then is the poll handle told to wait for UV_WRITABLE. */
static void sched_uv_flush(uv_prepare_t *h)
{
    sched_uv_io *io = h->data;
    uv_prepare_stop(h);
    if (!io->ac) return;
    io->flushing = true;
    redisAsyncHandleWrite(io->ac); /* may disconnect: io->ac is then NULL */
    io->flushing = false;
}

static void sched_uv_add_write(void *p)
{
    sched_uv_io *io = p;
    /* connected: flush at the end of the turn; connecting (writable means the
     * connect finished) or output left over from a flush: wait for the poll */
    if (!io->flushing && io->ac && (io->ac->c.flags & REDIS_CONNECTED)) {
        uv_prepare_start(&io->flush, sched_uv_flush);
        return;
    }
    io->events |= UV_WRITABLE;
    sched_uv_update(io);
}

static void sched_uv_del_write(void *p)
{
    sched_uv_io *io = p;
    uv_prepare_stop(&io->flush);
    io->events &= ~UV_WRITABLE;
    sched_uv_update(io);
}

static void sched_uv_closed(uv_handle_t *h)
{
    sched_uv_io *io = h->data;
    if (--io->open == 0) free(io);
}

static void sched_uv_cleanup(void *p)
{
    sched_uv_io *io = p;
    io->ac = NULL; /* hiredis frees the context after this returns */
    uv_close((uv_handle_t *)&io->poll, sched_uv_closed);
    uv_close((uv_handle_t *)&io->flush, sched_uv_closed);
}

static int sched_uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    if (ac->ev.data) return -1;
    sched_uv_io *io = calloc(1, sizeof *io);
    if (!io) return -1;
    if (uv_poll_init(loop, &io->poll, ac->c.fd) != 0) {
        free(io);
        return -1;
    }
    uv_prepare_init(loop, &io->flush);
    io->open = 2;
    io->ac = ac;
    io->poll.data = io;
    io->flush.data = io;
    ac->ev.addRead = sched_uv_add_read;
    ac->ev.delRead = sched_uv_del_read;
    ac->ev.addWrite = sched_uv_add_write;
    ac->ev.delWrite = sched_uv_del_write;
    ac->ev.cleanup = sched_uv_cleanup;
    ac->ev.data = io;
    return 0;
}

/* ---- connection ---- */

static void sched_connect(sched_t *s);

static void sched_timer_cb(uv_timer_t *t)
{
    sched_t *s = t->data;
    if (!s->closing && !s->ac) sched_connect(s);
}

/* Belt and braces behind sched_uv_poll_cb: a connection that still looks
 * up but has not answered any of its outstanding calls for SCHED_STALL_MS
 * (a half-open TCP peer, a frozen server) is dropped and reconnected, so the
 * callers get their errors instead of waiting forever. Longer than any one
 * script runs (each is bounded by its batch size). */
#define SCHED_STALL_MS 30000

static void sched_retry_later(sched_t *s);

static void sched_watch_cb(uv_timer_t *t)
{
    sched_t *s = t->data;
    if (s->closing || !s->ac || !s->n_wait) return;
    uint64_t now = sched_now_ms();
    if (now < s->last_reply_ms + SCHED_STALL_MS) return;
    char msg[200];
    snprintf(msg, sizeof msg, "redis: %zu call(s) unanswered for %llu ms; reconnecting", s->n_wait,
             (unsigned long long)(now - s->last_reply_ms));
    sched_report(s, false, msg);
    redisAsyncContext *ac = s->ac;
    s->up = false;
    s->ac = NULL;
    ac->data = NULL;    /* its disconnect callback must not touch s: we retry here */
    redisAsyncFree(ac); /* runs every pending callback with a NULL reply */
    s->n_wait = 0;
    sched_retry_later(s);
}

static void sched_retry_later(sched_t *s)
{
    if (s->closing) return;
    uv_timer_start(&s->timer, sched_timer_cb, s->backoff_ms, 0);
    s->backoff_ms = s->backoff_ms * 2 > 5000 ? 5000 : s->backoff_ms * 2;
}

/* The reply to FUNCTION LOAD REPLACE. The first one on a connection brings the
 * scheduler up; a failure (a Redis older than 7.0, a library Redis refuses)
 * is reported and the connection dropped and retried, since no call can work. */
static void sched_library_loaded(redisAsyncContext *ac, void *reply, void *priv)
{
    sched_t *s = ac->data;
    redisReply *r = reply;
    (void)priv;
    if (!s || !r) return;
    s->reloading = false;
    if (r->type == REDIS_REPLY_ERROR) {
        char msg[400];
        snprintf(msg, sizeof msg,
                 "redis: FUNCTION LOAD of the scheduler library failed (swarm needs Redis >= 7.0): "
                 "%s",
                 r->str ? r->str : "?");
        sched_report(s, false, msg);
        /* graceful: on_disconnect then retries with backoff */
        if (s->ac == ac) redisAsyncDisconnect(ac);
        return;
    }
    if (!s->up) {
        s->up = true;
        s->backoff_ms = 100;
        sched_report(s, true, "redis connected, function library loaded");
    }
}

/* Queues FUNCTION LOAD REPLACE of the library unless one is already queued
 * (every call sent after it then finds the functions). */
static int sched_library_load(sched_t *s)
{
    if (s->reloading) return 0;
    if (redisAsyncCommand(s->ac, sched_library_loaded, NULL, "FUNCTION LOAD REPLACE %s",
                          sched_library_src) != REDIS_OK)
        return -1;
    s->reloading = true;
    return 0;
}

static void sched_on_connect(const redisAsyncContext *c, int status)
{
    sched_t *s = c->data;
    if (!s) return;
    if (status != REDIS_OK) {
        char msg[300];
        snprintf(msg, sizeof msg, "redis connect failed: %s", c->errstr[0] ? c->errstr : "?");
        s->ac = NULL; /* hiredis frees the context */
        sched_report(s, false, msg);
        sched_retry_later(s);
        return;
    }
    s->reloading = false;
    if (sched_library_load(s) != 0) sched_report(s, false, "redis: cannot queue FUNCTION LOAD");
}

static void sched_on_disconnect(const redisAsyncContext *c, int status)
{
    sched_t *s = c->data;
    if (!s) return;
    s->ac = NULL;
    s->up = false;
    if (s->closing) return;
    char msg[300];
    snprintf(msg, sizeof msg, "redis disconnected: %s",
             status == REDIS_OK ? "closed" : (c->errstr[0] ? c->errstr : "error"));
    sched_report(s, false, msg);
    sched_retry_later(s);
}

static void sched_connect(sched_t *s)
{
    redisAsyncContext *ac =
        s->unix_path ? redisAsyncConnectUnix(s->unix_path) : redisAsyncConnect(s->host, s->port);
    if (!ac || ac->err) {
        char msg[300];
        snprintf(msg, sizeof msg, "redis connect %s: %s", s->unix_path ? s->unix_path : s->host,
                 ac ? ac->errstr : "out of memory");
        if (ac) redisAsyncFree(ac);
        sched_report(s, false, msg);
        sched_retry_later(s);
        return;
    }
    ac->data = s;
    if (sched_uv_attach(ac, s->loop) != 0) {
        redisAsyncFree(ac);
        sched_report(s, false, "redis: cannot attach to the event loop");
        sched_retry_later(s);
        return;
    }
    redisAsyncSetConnectCallback(ac, sched_on_connect);
    redisAsyncSetDisconnectCallback(ac, sched_on_disconnect);
    s->ac = ac;
}

int sched_open(sched_t **out, const sched_config *cfg, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg || !cfg->loop || !cfg->redis || !cfg->redis[0]) {
        snprintf(err, errlen, "scheduler: no redis address given");
        return -1;
    }
    sched_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->loop = cfg->loop;
    s->on_state = cfg->on_state;
    s->ud = cfg->ud;
    s->backoff_ms = 100;
    const char *prefix = cfg->prefix ? cfg->prefix : "swarm:";
    if (strlen(prefix) >= sizeof s->prefix || strchr(prefix, '/')) {
        snprintf(err, errlen, "--prefix \"%s\": at most %zu characters, no '/'", prefix,
                 sizeof s->prefix - 1);
        free(s);
        return -1;
    }
    snprintf(s->prefix, sizeof s->prefix, "%s", prefix);
    if (strncmp(cfg->redis, "unix:", 5) == 0) {
        s->unix_path = strdup(cfg->redis + 5);
    } else {
        const char *colon = strrchr(cfg->redis, ':');
        char *end = NULL;
        long port = colon ? strtol(colon + 1, &end, 10) : 0;
        if (!colon || colon == cfg->redis || !end || *end || port <= 0 || port > 65535) {
            snprintf(err, errlen, "--redis \"%s\": expected unix:PATH or HOST:PORT", cfg->redis);
            free(s);
            return -1;
        }
        s->host = strndup(cfg->redis, (size_t)(colon - cfg->redis));
        s->port = (int)port;
    }
    uv_timer_init(s->loop, &s->timer);
    uv_timer_init(s->loop, &s->watch);
    s->timer.data = s->watch.data = s;
    s->open_handles = 2;
    uv_timer_start(&s->watch, sched_watch_cb, 1000, 1000);
    sched_connect(s);
    *out = s;
    return 0;
}

static void sched_free_cb(uv_handle_t *h)
{
    sched_t *s = h->data;
    if (--s->open_handles > 0) return;
    free(s->unix_path);
    free(s->host);
    for (size_t i = 0; i < s->n_merging; i++)
        free(s->merging[i]);
    free(s->merging);
    free(s);
}

void sched_close(sched_t *s)
{
    if (!s) return;
    s->closing = true;
    s->up = false;
    if (s->ac) {
        redisAsyncContext *ac = s->ac;
        redisAsyncFree(ac); /* runs pending callbacks with NULL replies */
        s->ac = NULL;
    }
    uv_timer_stop(&s->timer);
    uv_timer_stop(&s->watch);
    uv_close((uv_handle_t *)&s->timer, sched_free_cb);
    uv_close((uv_handle_t *)&s->watch, sched_free_cb);
}

bool sched_is_up(const sched_t *s)
{
    return s && s->up;
}

void sched_job_id_new(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        rnd = (uint32_t)sched_now_ms() ^ (uint32_t)getpid() * 2654435761u;
    snprintf(buf, len, "j-%04d%02d%02d%02d%02d%02d-%06x", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rnd & 0xffffffu);
}

/* ---- submit ---- */

static void op_done_reply(sched_op *op, redisReply *r, const char *err)
{
    ((sched_done_fn)op->cb)(op->ud, err ? -1 : 0, err);
}

/* Jobs over this many tasks (and without a DAG, whose checks need every task
 * in one script) are written in batches by submit_chunk.lua, then submit.lua
 * stores the job with the last batch: swarmd never builds a Redis call (argument
 * copies plus hiredis' command buffer) holding more than one batch. */
#define SCHED_SUBMIT_BATCH 2000

/* n tasks as script arguments; tasks[k] is the job's task first + k. */
static int submit_tasks(sched_op *op, const sched_task_spec *tasks, size_t first, size_t n)
{
    int bad = 0;
    for (size_t k = 0; !bad && k < n; k++) {
        char tid[24]; /* room for any size_t: Release -Wformat-truncation */
        sched_task_id(first + k, tid, sizeof tid);
        const sched_task_spec *t = &tasks[k];
        bad = op_str(op, tid) || op_str(op, t->instructions) || op_str(op, t->item) ||
              op_str(op, t->input);
    }
    return bad;
}

/* submit.lua: the job hash and tasks staged..n_tasks-1 (the first staged ones
 * are already written by submit_chunk.lua). */
static int submit_final_op(sched_t *s, const char *job_id, const sched_job_spec *job, size_t staged,
                           const char *lease, sched_op_fn fn, void *cb, void *ud, char *err,
                           size_t errlen)
{
    sched_op *op = op_new(s, S_SUBMIT, fn, cb, ud);
    char num[64];
    int bad = !op;
    bool agent = job->agent_json && *job->agent_json;
    bool dag = job->dag && *job->dag;
    bool reducer = job->reducer && *job->reducer, plan = job->plan_schema && *job->plan_schema;
    /* ARGV: job id, how many field pairs follow, the pairs, the tasks; the
     * count is filled in once the pairs are built, so it cannot drift */
    bad = bad || op_str(op, job_id) || op_str(op, "");
    int at_count = bad ? 0 : op->argc - 1;
    bad = bad || op_str(op, "name") || op_str(op, job->name) || op_str(op, "goal") ||
          op_str(op, job->goal) || op_str(op, "merge") || op_str(op, job->merge);
    bad = bad || op_str(op, "max_tokens") || op_u64(op, job->max_tokens) ||
          op_str(op, "max_attempts") || op_u64(op, job->max_attempts) ||
          op_str(op, "max_subtasks") || op_u64(op, job->max_subtasks) ||
          op_str(op, "wall_time_s") || op_u64(op, job->wall_time_s);
    snprintf(num, sizeof num, "%.9g", job->temperature);
    bad = bad || op_str(op, "temperature") || op_str(op, num) || op_str(op, "seed") ||
          op_u64(op, job->seed);
    bad = bad || op_str(op, "max_depth") || op_u64(op, job->max_depth) ||
          op_str(op, "max_job_tokens") || op_u64(op, job->max_job_tokens);
    if (agent) bad = bad || op_str(op, "agent") || op_str(op, job->agent_json);
    if (dag) bad = bad || op_str(op, "dag") || op_str(op, job->dag);
    if (reducer) bad = bad || op_str(op, "reducer") || op_str(op, job->reducer);
    if (plan) bad = bad || op_str(op, "plan_schema") || op_str(op, job->plan_schema);
    if (staged) bad = bad || op_str(op, "staged") || op_u64(op, staged);
    if (lease) bad = bad || op_str(op, "lease") || op_str(op, lease);
    if (!bad) {
        snprintf(num, sizeof num, "%d", (op->argc - at_count - 1) / 2);
        bad = op_set(op, at_count, num);
    }
    if (job->n_tasks > staged)
        bad = bad || submit_tasks(op, job->tasks + staged, staged, job->n_tasks - staged);
    if (bad && op) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

static int submit_final(sched_t *s, const char *job_id, const sched_job_spec *job, size_t staged,
                        sched_done_fn cb, void *ud, char *err, size_t errlen)
{
    return submit_final_op(s, job_id, job, staged, NULL, op_done_reply, (void *)cb, ud, err,
                           errlen);
}

static void op_submitted_reply(sched_op *op, redisReply *r, const char *err)
{
    sched_submitted_fn cb = (sched_submitted_fn)op->cb;
    if (err)
        cb(op->ud, -1, err, 0);
    else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        cb(op->ud, -1, "submit: unexpected reply", 0);
    else
        cb(op->ud, 0, NULL, (size_t)sched_reply_ll(r->element[1]));
}

int sched_job_submit_leased(sched_t *s, const char *job_id, const sched_job_spec *job,
                            uint64_t lease_ms, const sched_slot *slots, size_t n,
                            sched_submitted_fn cb, void *ud, char *err, size_t errlen)
{
    if (job->n_tasks > SCHED_SUBMIT_BATCH || (job->dag && *job->dag) || n < job->n_tasks) {
        snprintf(err, errlen, "submit with leases: a whole job of ready tasks, one slot each");
        return -1;
    }
    /* "lease_ms;worker,token,incarnation;..." (lua/submit.lua) */
    swarm_buf b = {0};
    char num[64];
    snprintf(num, sizeof num, "%" PRIu64, lease_ms);
    swarm_buf_put(&b, num);
    for (size_t i = 0; i < n; i++) {
        snprintf(num, sizeof num, ",%" PRIu64 ",%" PRIu64, slots[i].token, slots[i].incarnation);
        swarm_buf_putn(&b, ";", 1);
        swarm_buf_put(&b, slots[i].worker);
        swarm_buf_put(&b, num);
    }
    if (b.oom) {
        swarm_buf_free(&b);
        snprintf(err, errlen, "out of memory building a Redis call");
        return -1;
    }
    int rc = submit_final_op(s, job_id, job, 0, swarm_buf_str(&b), op_submitted_reply, (void *)cb,
                             ud, err, errlen);
    swarm_buf_free(&b);
    return rc;
}

/* A large job's submission in flight: one batch at a time, the next sent when
 * Redis acknowledged the previous one. */
typedef struct submit_chain {
    sched_t *s;
    char job_id[64];
    const sched_job_spec *job; /* the caller's, valid until cb */
    size_t next, staged;       /* next task to send; tasks staged before submit.lua */
    sched_done_fn cb;
    void *ud;
} submit_chain;

static void chain_abort_reply(sched_op *op, redisReply *r, const char *err)
{
    /* nothing waits for it: if it failed, purge.lua drops the staged tasks
     * 10 minutes after the last batch */
    (void)op, (void)r, (void)err;
}

/* Reports the failure and drops what was staged (the job was never visible). */
static void chain_fail(submit_chain *c, const char *why)
{
    char e[256];
    sched_op *op = op_new(c->s, S_SUBMIT_CHUNK, chain_abort_reply, NULL, NULL);
    if (op && (op_str(op, c->job_id) || op_str(op, "abort"))) {
        op_free(op);
        op = NULL;
    }
    if (op) op_send(op, e, sizeof e);
    c->cb(c->ud, -1, why);
    free(c);
}

static void chain_reply(sched_op *op, redisReply *r, const char *err);

/* Sends the next batch, or the job with the last one (then c is freed and cb
 * answers through op_done_reply). -1 with err when nothing could be sent. */
static int chain_step(submit_chain *c, char *err, size_t errlen)
{
    if (c->next >= c->staged) {
        int rc = submit_final(c->s, c->job_id, c->job, c->staged, c->cb, c->ud, err, errlen);
        if (rc == 0) free(c);
        return rc;
    }
    size_t to = c->next + SCHED_SUBMIT_BATCH;
    if (to > c->staged) to = c->staged;
    sched_op *op = op_new(c->s, S_SUBMIT_CHUNK, chain_reply, NULL, c);
    if (op && (op_str(op, c->job_id) || op_str(op, "tasks") || op_u64(op, c->next) ||
               submit_tasks(op, c->job->tasks + c->next, c->next, to - c->next))) {
        op_free(op);
        op = NULL;
    }
    if (op_send(op, err, errlen) != 0) return -1;
    c->next = to;
    return 0;
}

static void chain_reply(sched_op *op, redisReply *r, const char *err)
{
    submit_chain *c = op->ud;
    char e[256];
    (void)r;
    if (err)
        chain_fail(c, err);
    else if (chain_step(c, e, sizeof e) != 0)
        chain_fail(c, e);
}

int sched_job_submit(sched_t *s, const char *job_id, const sched_job_spec *job, sched_done_fn cb,
                     void *ud, char *err, size_t errlen)
{
    if (job->n_tasks <= SCHED_SUBMIT_BATCH || (job->dag && *job->dag))
        return submit_final(s, job_id, job, 0, cb, ud, err, errlen);
    submit_chain *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory building a Redis call");
        return -1;
    }
    c->s = s;
    snprintf(c->job_id, sizeof c->job_id, "%s", job_id);
    c->job = job;
    /* the last batch (1..SCHED_SUBMIT_BATCH tasks) goes with the job hash */
    c->staged = (job->n_tasks - 1) / SCHED_SUBMIT_BATCH * SCHED_SUBMIT_BATCH;
    c->cb = cb;
    c->ud = ud;
    if (chain_step(c, err, errlen) != 0) {
        free(c);
        return -1;
    }
    return 0;
}

/* ---- streamed submission: stage, then commit or abort ---- */

int sched_job_stage(sched_t *s, const char *job_id, size_t first, const sched_task_spec *tasks,
                    size_t n, sched_done_fn cb, void *ud, char *err, size_t errlen)
{
    sched_op *op = op_new(s, S_SUBMIT_CHUNK, op_done_reply, (void *)cb, ud);
    if (op && (op_str(op, job_id) || op_str(op, "tasks") || op_u64(op, first) ||
               submit_tasks(op, tasks, first, n))) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

int sched_job_commit(sched_t *s, const char *job_id, const sched_job_spec *job, size_t staged,
                     sched_done_fn cb, void *ud, char *err, size_t errlen)
{
    if (staged == 0 || (job->dag && *job->dag)) {
        snprintf(err, errlen, "job %s: nothing staged to commit (or a DAG, which is never staged)",
                 job_id);
        return -1;
    }
    sched_job_spec whole = *job; /* every task is staged: none goes with the job hash */
    whole.tasks = NULL;
    whole.n_tasks = staged;
    return submit_final(s, job_id, &whole, staged, cb, ud, err, errlen);
}

int sched_job_stage_abort(sched_t *s, const char *job_id, char *err, size_t errlen)
{
    sched_op *op = op_new(s, S_SUBMIT_CHUNK, chain_abort_reply, NULL, NULL);
    if (op && (op_str(op, job_id) || op_str(op, "abort"))) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

/* ---- spawn ---- */

static void op_spawn_reply(sched_op *op, redisReply *r, const char *err)
{
    sched_spawn_fn cb = (sched_spawn_fn)op->cb;
    if (err || r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
        cb(op->ud, -1, err ? err : "spawn: unexpected reply", SCHED_SPAWN_STALE, "", "");
        return;
    }
    const char *what = sched_reply_str(r->element[0]), *arg = sched_reply_str(r->element[1]);
    if (strcmp(what, "ok") == 0)
        cb(op->ud, 0, NULL, SCHED_SPAWN_OK, arg, "");
    else
        cb(op->ud, 0, NULL, strcmp(what, "refused") == 0 ? SCHED_SPAWN_REFUSED : SCHED_SPAWN_STALE,
           "", arg);
}

int sched_task_spawn(sched_t *s, const sched_spawn *sp, sched_spawn_fn cb, void *ud, char *err,
                     size_t errlen)
{
    sched_op *op = op_new(s, S_SPAWN, op_spawn_reply, (void *)cb, ud);
    char tok[32];
    snprintf(tok, sizeof tok, "%" PRIu64, sp->parent.token);
    int bad = !op || op_str(op, sp->parent.job_id) || op_str(op, sp->parent.task_id) ||
              op_u64(op, sp->parent.attempt) || op_str(op, tok) || op_str(op, sp->worker) ||
              op_str(op, sp->instructions) || op_str(op, sp->item ? sp->item : "") ||
              op_str(op, sp->input ? sp->input : "") ||
              op_str(op, sp->depends_on ? sp->depends_on : "") ||
              op_str(op, sp->tools ? sp->tools : "");
    if (bad && op) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

/* ---- lease ---- */

/* The first slot's worker in a lease op's argv: FCALL name 0 prefix now
 * lease_ms, then worker token incarnation per slot. */
#define LEASE_SLOT0 6

/* lease.lua's flat reply: a job header ('' job goal max_tokens temperature
 * seed agent lease_until), then that job's tasks (task attempt instructions
 * input checkpoint), then the next header; the i-th task took the i-th slot
 * of the request, whose worker and token are in op->argv. */
static void op_lease_reply(sched_op *op, redisReply *r, const char *err)
{
    sched_lease_fn cb = (sched_lease_fn)op->cb;
    if (err || r->type != REDIS_REPLY_ARRAY) {
        cb(op->ud, -1, err ? err : "lease: unexpected reply", NULL, 0);
        return;
    }
    size_t cap = r->elements / 5 + 1;
    sched_lease *l = calloc(cap, sizeof *l);
    if (!l) {
        cb(op->ud, -1, "out of memory", NULL, 0);
        return;
    }
    size_t n = 0, slots = op->argc > LEASE_SLOT0 ? (size_t)(op->argc - LEASE_SLOT0) / 3 : 0;
    redisReply *const *job = NULL;
    for (size_t i = 0; i < r->elements;) {
        redisReply *const *e = &r->element[i];
        if (e[0]->type == REDIS_REPLY_STRING && e[0]->len == 0) {
            if (i + 8 > r->elements) break;
            job = e;
            i += 8;
            continue;
        }
        if (!job || i + 5 > r->elements || n >= slots || n >= cap) break;
        sched_lease *x = &l[n];
        const char *const *slot = (const char *const *)&op->argv[LEASE_SLOT0 + 3 * n];
        n++;
        i += 5;
        x->job_id = sched_reply_str(job[1]);
        x->goal = sched_reply_str(job[2]);
        x->max_tokens = (uint32_t)sched_reply_ll(job[3]);
        x->temperature = strtod(sched_reply_str(job[4]), NULL);
        x->seed = strtoull(sched_reply_str(job[5]), NULL, 10);
        x->agent_json = sched_reply_str(job[6]);
        x->lease_until = (uint64_t)sched_reply_ll(job[7]);
        x->task_id = sched_reply_str(e[0]);
        x->attempt = (uint32_t)sched_reply_ll(e[1]);
        x->instructions = sched_reply_str(e[2]);
        x->input = sched_reply_str(e[3]);
        x->checkpoint = sched_reply_str(e[4]);
        x->worker = slot[0];
        x->token = strtoull(slot[1], NULL, 10);
    }
    cb(op->ud, 0, NULL, l, n);
    free(l);
}

uint64_t sched_token_new(void)
{
    uint64_t t = 0;
    while (t == 0) {
        if (getrandom(&t, sizeof t, 0) != (ssize_t)sizeof t) {
            /* getrandom on Linux >= 3.17 does not fail for 8 bytes once the pool
             * is up; fall back to a mix that is still unpredictable off-host */
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            t = ((uint64_t)ts.tv_nsec << 32 ^ (uint64_t)ts.tv_sec) * 0x9E3779B97F4A7C15u ^
                (uint64_t)getpid();
        }
    }
    return t;
}

int sched_task_lease(sched_t *s, uint64_t lease_ms, const sched_slot *slots, size_t n,
                     sched_lease_fn cb, void *ud, char *err, size_t errlen)
{
    sched_op *op = op_new(s, S_LEASE, op_lease_reply, (void *)cb, ud);
    int bad = !op || op_u64(op, lease_ms);
    /* the slots' tokens from one getrandom call, not one syscall per slot */
    uint64_t tok[64];
    for (size_t i = 0; !bad && i < n; i++) {
        size_t at = i % 64;
        if (at == 0) {
            size_t want = n - i < 64 ? n - i : 64;
            if (getrandom(tok, want * sizeof *tok, 0) != (ssize_t)(want * sizeof *tok))
                for (size_t k = 0; k < want; k++)
                    tok[k] = sched_token_new();
        }
        if (tok[at] == 0) tok[at] = sched_token_new(); /* 0 means "no token" */
        bad = op_str(op, slots[i].worker) ||
              op_u64(op, slots[i].token ? slots[i].token : tok[at]) ||
              op_u64(op, slots[i].incarnation);
    }
    if (bad && op) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

/* ---- fenced single-task calls ---- */

static int outcome_parse(const char *s)
{
    if (!strcmp(s, "ok")) return SCHED_OK;
    if (!strcmp(s, "stale")) return SCHED_STALE;
    if (!strcmp(s, "duplicate")) return SCHED_DUPLICATE;
    if (!strcmp(s, "retry")) return SCHED_RETRY;
    if (!strcmp(s, "failed")) return SCHED_FAILED;
    if (!strcmp(s, "forged")) return SCHED_FORGED;
    return SCHED_UNKNOWN;
}

static void op_outcome_reply(sched_op *op, redisReply *r, const char *err)
{
    sched_outcome_fn cb = (sched_outcome_fn)op->cb;
    if (err) {
        cb(op->ud, -1, err, SCHED_UNKNOWN, false);
        return;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2)
        cb(op->ud, 0, NULL, outcome_parse(sched_reply_str(r->element[0])),
           sched_reply_ll(r->element[1]) != 0);
    else if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) /* progress.lua: one report */
        cb(op->ud, 0, NULL, outcome_parse(sched_reply_str(r->element[0])), false);
    else
        cb(op->ud, 0, NULL, outcome_parse(sched_reply_str(r)), false);
}

static int op_ref(sched_op *op, const sched_taskref *t)
{
    return op_str(op, t->job_id) || op_str(op, t->task_id) || op_u64(op, t->attempt);
}

/* A fenced ref: job, task, attempt, token. */
static int op_fref(sched_op *op, const sched_taskref *t)
{
    return op_ref(op, t) || op_u64(op, t->token);
}

int sched_task_progress(sched_t *s, const sched_taskref *t, const char *worker, uint32_t tokens,
                        const char *tail, uint64_t lease_ms, sched_outcome_fn cb, void *ud,
                        char *err, size_t errlen)
{
    sched_op *op = op_new(s, S_PROGRESS, op_outcome_reply, (void *)cb, ud);
    if (op && (op_fref(op, t) || op_str(op, worker) || op_u64(op, tokens) || op_u64(op, lease_ms) ||
               op_str(op, tail))) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

static void op_progress_reply(sched_op *op, redisReply *r, const char *err)
{
    sched_outcomes_fn cb = (sched_outcomes_fn)op->cb;
    if (err || r->type != REDIS_REPLY_ARRAY) {
        cb(op->ud, -1, err ? err : "progress: unexpected reply", NULL, NULL, 0);
        return;
    }
    size_t n = r->elements; /* one outcome per report */
    int *outcomes = calloc(n ? n : 1, sizeof *outcomes);
    bool *merge = calloc(n ? n : 1, sizeof *merge); /* always false: progress ends nothing */
    if (!outcomes || !merge) {
        free(outcomes);
        free(merge);
        cb(op->ud, -1, "out of memory", NULL, NULL, 0);
        return;
    }
    for (size_t i = 0; i < n; i++)
        outcomes[i] = outcome_parse(sched_reply_str(r->element[i]));
    cb(op->ud, 0, NULL, outcomes, merge, n);
    free(outcomes);
    free(merge);
}

int sched_tasks_progress(sched_t *s, const sched_progress *p, size_t n, uint64_t lease_ms,
                         sched_outcomes_fn cb, void *ud, char *err, size_t errlen)
{
    sched_op *op = op_new(s, S_PROGRESS, op_progress_reply, (void *)cb, ud);
    for (size_t i = 0; op && i < n; i++) {
        if (op_fref(op, &p[i].ref) || op_str(op, p[i].worker) || op_u64(op, p[i].tokens) ||
            op_u64(op, lease_ms) || op_str(op, p[i].tail)) {
            op_free(op);
            op = NULL;
        }
    }
    return op_send(op, err, errlen);
}

int sched_task_checkpoint(sched_t *s, const sched_taskref *t, const char *worker,
                          const sched_step *st, sched_outcome_fn cb, void *ud, char *err,
                          size_t errlen)
{
    sched_op *op = op_new(s, S_CHECKPOINT, op_outcome_reply, (void *)cb, ud);
    if (op && (op_fref(op, t) || op_str(op, worker) || op_u64(op, st->step) ||
               op_u64(op, st->tool_calls) || op_str(op, st->record ? st->record : "") ||
               op_str(op, st->checkpoint ? st->checkpoint : "") ||
               op_str(op, st->paused ? st->paused : ""))) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

static int op_result(sched_op *op, const sched_result *r)
{
    return op_fref(op, &r->ref) || op_str(op, r->worker) || op_str(op, r->ok ? "1" : "0") ||
           op_str(op, r->output) || op_str(op, r->error) || op_u64(op, r->tokens) ||
           op_u64(op, r->elapsed_ms);
}

/* One result: complete.lua's flat reply is its outcome and merge flag. */
static void op_complete1_reply(sched_op *op, redisReply *r, const char *err)
{
    if (!err && r->type == REDIS_REPLY_ARRAY && r->elements >= 2)
        op_outcome_reply(op, r, NULL);
    else
        op_outcome_reply(op, r, err ? err : "complete: unexpected reply");
}

int sched_task_complete(sched_t *s, const sched_result *r, sched_outcome_fn cb, void *ud, char *err,
                        size_t errlen)
{
    sched_op *op = op_new(s, S_COMPLETE, op_complete1_reply, (void *)cb, ud);
    if (op && op_result(op, r)) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

static void op_complete_reply(sched_op *op, redisReply *r, const char *err)
{
    sched_outcomes_fn cb = (sched_outcomes_fn)op->cb;
    if (err || r->type != REDIS_REPLY_ARRAY) {
        cb(op->ud, -1, err ? err : "complete: unexpected reply", NULL, NULL, 0);
        return;
    }
    /* flat: outcome, merge flag per result sent; then how many tasks it made
     * due; then (job, first collect page) pairs of the small jobs this call
     * turned to merging */
    size_t n = op->at;
    if (2 * n > r->elements) n = r->elements / 2;
    int *outcomes = calloc(n ? n : 1, sizeof *outcomes);
    bool *merge = calloc(n ? n : 1, sizeof *merge);
    if (!outcomes || !merge) {
        free(outcomes);
        free(merge);
        cb(op->ud, -1, "out of memory", NULL, NULL, 0);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        outcomes[i] = outcome_parse(sched_reply_str(r->element[2 * i]));
        merge[i] = sched_reply_ll(r->element[2 * i + 1]) != 0;
    }
    sched_t *s = op->s;
    s->inl = r; /* sched_job_merge, called from cb, merges from these pages */
    s->inl_from = 2 * n + 1;
    s->due = 2 * n < r->elements ? (size_t)sched_reply_ll(r->element[2 * n]) : 0;
    cb(op->ud, 0, NULL, outcomes, merge, n);
    s->inl = NULL;
    s->due = 0;
    free(outcomes);
    free(merge);
}

int sched_tasks_complete(sched_t *s, const sched_result *r, size_t n, sched_outcomes_fn cb,
                         void *ud, char *err, size_t errlen)
{
    sched_op *op = op_new(s, S_COMPLETE, op_complete_reply, (void *)cb, ud);
    if (op) op->at = n;
    for (size_t i = 0; op && i < n; i++) {
        if (op_result(op, &r[i])) {
            op_free(op);
            op = NULL;
        }
    }
    return op_send(op, err, errlen);
}

static void op_count_reply(sched_op *op, redisReply *r, const char *err)
{
    ((sched_count_fn)op->cb)(op->ud, err ? -1 : 0, err, err ? 0 : sched_reply_ll(r));
}

int sched_tasks_heartbeat(sched_t *s, const char *worker, const sched_taskref *refs, size_t n,
                          uint64_t lease_ms, sched_count_fn cb, void *ud, char *err, size_t errlen)
{
    sched_op *op = op_new(s, S_HEARTBEAT, op_count_reply, (void *)cb, ud);
    int bad = !op || op_u64(op, lease_ms) || op_str(op, worker);
    for (size_t i = 0; !bad && i < n; i++)
        bad = op_fref(op, &refs[i]);
    if (bad && op) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

int sched_tasks_fail(sched_t *s, const sched_taskref *refs, size_t n, const char *reason,
                     bool forgive, sched_count_fn cb, void *ud, char *err, size_t errlen)
{
    sched_op *op = op_new(s, S_FAIL, op_count_reply, (void *)cb, ud);
    int bad = !op || op_str(op, reason) || op_str(op, forgive ? "1" : "0");
    for (size_t i = 0; !bad && i < n; i++)
        bad = op_ref(op, &refs[i]);
    if (bad && op) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

int sched_leases_expire(sched_t *s, size_t max, sched_count_fn cb, void *ud, char *err,
                        size_t errlen)
{
    sched_op *op = op_new(s, S_EXPIRE, op_count_reply, (void *)cb, ud);
    if (op && op_u64(op, max)) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

int sched_worker_release(sched_t *s, const char *worker, uint64_t incarnation, sched_count_fn cb,
                         void *ud, char *err, size_t errlen)
{
    sched_op *op = op_new(s, S_RELEASE, op_count_reply, (void *)cb, ud);
    if (op && (op_str(op, worker) || op_u64(op, incarnation))) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

/* ---- leader lease ---- */

int sched_leader_renew(sched_t *s, const char *holder, uint64_t ttl_ms, sched_count_fn cb, void *ud,
                       char *err, size_t errlen)
{
    sched_op *op = op_new(s, S_LEADER, op_count_reply, (void *)cb, ud);
    if (op && (op_str(op, holder) || op_u64(op, ttl_ms))) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

/* ---- removal and retention ---- */

static void op_remove_reply(sched_op *op, redisReply *r, const char *err)
{
    sched_removed_fn cb = (sched_removed_fn)op->cb;
    if (err || r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
        cb(op->ud, -1, err ? err : "remove: unexpected reply", NULL, 0);
        return;
    }
    const char *st = sched_reply_str(r->element[0]);
    long long left = r->elements > 1 ? sched_reply_ll(r->element[1]) : 0;
    cb(op->ud, 0, NULL, strcmp(st, "ok") == 0 ? NULL : st, left);
}

int sched_job_remove(sched_t *s, const char *job_id, sched_removed_fn cb, void *ud, char *err,
                     size_t errlen)
{
    sched_op *op = op_new(s, S_REMOVE, op_remove_reply, (void *)cb, ud);
    if (op && op_str(op, job_id)) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

static void op_purge_reply(sched_op *op, redisReply *r, const char *err)
{
    sched_removed_fn cb = (sched_removed_fn)op->cb;
    if (err || r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
        cb(op->ud, -1, err ? err : "purge: unexpected reply", NULL, 0);
        return;
    }
    char n[32];
    snprintf(n, sizeof n, "%lld", sched_reply_ll(r->element[0]));
    cb(op->ud, 0, NULL, n, sched_reply_ll(r->element[1]));
}

int sched_jobs_purge(sched_t *s, uint64_t finished_before_ms, size_t max_jobs, size_t max_tasks,
                     sched_removed_fn cb, void *ud, char *err, size_t errlen)
{
    sched_op *op = op_new(s, S_PURGE, op_purge_reply, (void *)cb, ud);
    if (op && (op_u64(op, finished_before_ms) || op_u64(op, max_jobs) || op_u64(op, max_tasks))) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

/* ---- cancel ---- */

static void op_cancel_reply(sched_op *op, redisReply *r, const char *err)
{
    sched_cancel_fn cb = (sched_cancel_fn)op->cb;
    if (err || r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
        cb(op->ud, -1, err ? err : "cancel: unexpected reply", NULL, NULL, NULL, 0);
        return;
    }
    const char *st = sched_reply_str(r->element[0]);
    bool more = strcmp(st, "more") == 0;
    if (strcmp(st, "ok") != 0 && !more) {
        cb(op->ud, 0, NULL, strcmp(st, "merging") == 0 ? "running" : st, NULL, NULL, 0);
        return;
    }
    size_t n = (r->elements - 1) / 3;
    sched_taskref *refs = calloc(n ? n : 1, sizeof *refs);
    const char **workers = calloc(n ? n : 1, sizeof *workers);
    if (!refs || !workers) {
        free(refs);
        free(workers);
        cb(op->ud, -1, "out of memory", NULL, NULL, NULL, 0);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        refs[i].job_id = op->tag;
        refs[i].task_id = sched_reply_str(r->element[1 + 3 * i]);
        refs[i].attempt = (uint32_t)sched_reply_ll(r->element[2 + 3 * i]);
        workers[i] = sched_reply_str(r->element[3 + 3 * i]);
    }
    cb(op->ud, 0, NULL, more ? "running-more" : "running", refs, workers, n);
    free(refs);
    free(workers);
}

int sched_job_cancel(sched_t *s, const char *job_id, sched_cancel_fn cb, void *ud, char *err,
                     size_t errlen)
{
    sched_op *op = op_new(s, S_CANCEL, op_cancel_reply, (void *)cb, ud);
    if (op && (op_str(op, job_id) || op_u64(op, 20000) || !(op->tag = strdup(job_id)))) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

static void op_task_cancel_reply(sched_op *op, redisReply *r, const char *err)
{
    sched_task_cancel_fn cb = (sched_task_cancel_fn)op->cb;
    if (err || r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
        cb(op->ud, -1, err ? err : "cancel: unexpected reply", false, NULL, 0, NULL);
        return;
    }
    const char *st = sched_reply_str(r->element[0]);
    if (strcmp(st, "task") == 0 && r->elements >= 4) {
        cb(op->ud, 0, NULL, true, sched_reply_str(r->element[1]),
           (uint32_t)sched_reply_ll(r->element[2]), sched_reply_str(r->element[3]));
        return;
    }
    if (strcmp(st, "ended") == 0 && r->elements >= 2) {
        cb(op->ud, 0, NULL, false, sched_reply_str(r->element[1]), 0, NULL);
        return;
    }
    /* the job itself was not running: {state} */
    cb(op->ud, 1, NULL, false, st, 0, NULL);
}

int sched_task_cancel(sched_t *s, const char *job_id, const char *task_id, sched_task_cancel_fn cb,
                      void *ud, char *err, size_t errlen)
{
    sched_op *op = op_new(s, S_CANCEL, op_task_cancel_reply, (void *)cb, ud);
    if (op && (op_str(op, job_id) || op_u64(op, 0) || op_str(op, task_id))) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

/* ---- retry ---- */

static void op_retry_reply(sched_op *op, redisReply *r, const char *err)
{
    sched_retry_fn cb = (sched_retry_fn)op->cb;
    if (err || r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
        cb(op->ud, -1, err ? err : "retry: unexpected reply", NULL, 0);
        return;
    }
    const char *st = sched_reply_str(r->element[0]);
    if (strcmp(st, "ok") != 0) {
        cb(op->ud, 0, NULL, st, 0);
        return;
    }
    long long n = r->elements > 1 ? sched_reply_ll(r->element[1]) : 0;
    cb(op->ud, 0, NULL, "failed", n > 0 ? (size_t)n : 0);
}

int sched_job_retry(sched_t *s, const char *job_id, sched_retry_fn cb, void *ud, char *err,
                    size_t errlen)
{
    sched_op *op = op_new(s, S_RETRY, op_retry_reply, (void *)cb, ud);
    if (op && op_str(op, job_id)) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

/* ---- merge: collect -> build JSON -> finish (fenced: stored once) ---- */

static void merging_drop(sched_t *s, const char *job)
{
    for (size_t i = 0; i < s->n_merging; i++) {
        if (strcmp(s->merging[i], job) == 0) {
            free(s->merging[i]);
            s->merging[i] = s->merging[--s->n_merging];
            return;
        }
    }
}

static int status_entry_parse(const redisReply *e, sched_job_status *j);

static void op_finish_reply(sched_op *op, redisReply *r, const char *err)
{
    sched_merged_fn cb = (sched_merged_fn)op->cb;
    /* argv: ... [5] job [6] state [7] json */
    const char *state = op->argv[6];
    merging_drop(op->s, op->tag);
    if (err) {
        cb(op->ud, op->tag, -1, err, state, NULL);
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
               sched_reply_ll(r->element[0]) == 1) {
        /* stored: {1, the job's status entry} */
        sched_job_status st;
        int rc = status_entry_parse(r->element[1], &st);
        cb(op->ud, op->tag, 0, NULL, state, rc == 0 && st.found ? &st : NULL);
        if (rc == 0) free(st.tasks);
    }
    /* 0: another merger stored it first; nothing to report. */
}

#define MERGE_PAGE 2000 /* tasks per collect.lua call: swarmd holds one page, not the job */

/* The previous page's fragments, appended by the next Redis call. */
static int op_merge_frags(sched_op *op, sched_merge_acc *a)
{
    for (int w = 0; w < 3; w++) {
        size_t n;
        const char *p = sched_merge_fragment(a, w, &n);
        if (op_arg(op, p, n)) return -1;
    }
    return 0;
}

static void op_collect_reply(sched_op *op, redisReply *r, const char *err);

/* A collect page from task at; a (owned by the op once sent) is NULL for the first. */
static sched_op *collect_op(sched_t *s, const char *job, uint64_t at, sched_merge_acc *a,
                            uint32_t result_page, sched_merge_ready_fn ready, void *cb, void *ud)
{
    sched_op *c = op_new(s, S_COLLECT, op_collect_reply, cb, ud);
    if (c && (op_str(c, job) || op_u64(c, at) || op_u64(c, MERGE_PAGE) ||
              (a && op_merge_frags(c, a)) || !(c->tag = strdup(job)))) {
        op_free(c);
        c = NULL;
    }
    if (c) {
        c->acc = a;
        c->at = at;
        c->result_page = result_page;
        c->ready = ready;
    } else {
        sched_merge_free(a);
    }
    return c;
}

/* One collect page in hand (a collect.lua reply, or the first page a complete
 * reply carried), tasks [at0, ...) of job: merged into a (NULL: r is the first
 * page), then the next page asked for or finish.lua sent. The job is in
 * s->merging: it leaves on a failure here (cb told) or in op_finish_reply. */
static void merge_on_page(sched_t *s, const char *job, uint64_t at0, sched_merge_acc *a,
                          const redisReply *r, uint32_t result_page, sched_merge_ready_fn ready,
                          sched_merged_fn cb, void *ud)
{
    char msg[512];
    size_t n = 0;
    if (!a && sched_merge_open(&a, job, r, msg, sizeof msg) != 0) a = NULL;
    if (a) sched_merge_clear(a); /* the previous page is in Redis now */
    if (!a || sched_merge_page(a, r, &n, msg, sizeof msg) != 0) {
        sched_merge_free(a);
        goto fail;
    }
    uint64_t at = at0 + n;
    if (n == MERGE_PAGE) { /* maybe more: the next page */
        if (op_send(collect_op(s, job, at, a, result_page, ready, (void *)cb, ud), msg,
                    sizeof msg) != 0)
            goto fail;
        return;
    }
    char *head, *mid1, *mid2, *tail;
    const char *state = NULL;
    if (sched_merge_close(a, &head, &mid1, &mid2, &tail, &state, msg, sizeof msg) != 0) {
        sched_merge_free(a);
        goto fail;
    }
    sched_op *fin = op_new(s, S_FINISH, op_finish_reply, (void *)cb, ud);
    swarm_buf whole = {0};
    if (fin && at0 == 0) {
        /* one page: the whole result in one argument, no scratch keys */
        const char *parts[4] = {head, mid1, mid2, tail};
        for (int w = 0; w < 4; w++) {
            swarm_buf_putn(&whole, parts[w], strlen(parts[w]));
            size_t fl;
            const char *fp = w < 3 ? sched_merge_fragment(a, w, &fl) : "";
            swarm_buf_putn(&whole, fp, w < 3 ? fl : 0);
        }
        if (whole.oom || op_str(fin, job) || op_str(fin, state) ||
            op_arg(fin, whole.s ? whole.s : "", whole.n) || op_str(fin, "") || op_str(fin, "") ||
            op_str(fin, "") || op_u64(fin, 0) || op_str(fin, "") || op_str(fin, "") ||
            op_str(fin, "") || op_u64(fin, result_page) || !(fin->tag = strdup(job))) {
            op_free(fin);
            fin = NULL;
        }
    } else if (fin &&
               (op_str(fin, job) || op_str(fin, state) || op_str(fin, head) || op_str(fin, mid1) ||
                op_str(fin, mid2) || op_str(fin, tail) || op_u64(fin, at) ||
                op_merge_frags(fin, a) || op_u64(fin, result_page) || !(fin->tag = strdup(job)))) {
        op_free(fin);
        fin = NULL;
    }
    free(head);
    free(mid1);
    free(mid2);
    free(tail);
    /* finish.lua stores it with the coordinator's clock of this call */
    uint64_t finished_ms = fin ? strtoull(fin->argv[4], NULL, 10) : 0;
    if (op_send(fin, msg, sizeof msg) != 0) {
        sched_merge_free(a);
        swarm_buf_free(&whole);
        goto fail;
    }
    /* A one-page result is now on its way to being stored, built from task
     * outputs that are stored: the status it stores, for whoever waits, one
     * finish.lua round trip sooner (the same connection runs any later read
     * after it). Not for an agent job (its status names a sandbox). */
    sched_merge_sum sum;
    sched_merge_summary(a, &sum);
    if (ready && result_page && at0 == 0 && !sum.agent) {
        sched_job_status st = {.job_id = job,
                               .name = sum.name,
                               .state = state,
                               .found = true,
                               .total = sum.total,
                               .done = sum.done,
                               .failed = sum.failed,
                               .cancelled = sum.cancelled,
                               .created_ms = sum.created_ms,
                               .finished_ms = finished_ms,
                               .result_json = whole.s ? whole.s : "",
                               .result_len = whole.n < result_page ? whole.n : result_page,
                               .result_size = whole.n,
                               .sandbox = ""};
        /* the page is a string of result_len bytes: end it there for the call */
        char cut = 0;
        if (whole.s && whole.n > result_page) {
            cut = whole.s[result_page];
            whole.s[result_page] = 0;
        }
        ready(ud, job, &st);
        if (cut) whole.s[result_page] = cut;
    }
    sched_merge_free(a);
    swarm_buf_free(&whole);
    return;
fail:
    /* cb may see job freed: it is a copy owned by the caller */
    merging_drop(s, job);
    cb(ud, job, -1, msg, NULL, NULL);
}

static void op_collect_reply(sched_op *op, redisReply *r, const char *err)
{
    sched_merged_fn cb = (sched_merged_fn)op->cb;
    if (err) {
        merging_drop(op->s, op->tag);
        cb(op->ud, op->tag, -1, err, NULL, NULL);
        return;
    }
    sched_merge_acc *a = op->acc;
    op->acc = NULL;
    merge_on_page(op->s, op->tag, op->at, a, r, op->result_page, op->ready, cb, op->ud);
}

/* Starts job's merge unless this process is merging it already: 0 started or
 * busy, -1 (err) when it could not be sent (the tick retries it). first: the
 * job's first collect page when a complete reply carried it (no collect call). */
static int merge_start(sched_t *s, const char *job, const redisReply *first, uint32_t result_page,
                       sched_merge_ready_fn ready, sched_merged_fn cb, void *ud, char *err,
                       size_t errlen)
{
    for (size_t k = 0; k < s->n_merging; k++)
        if (strcmp(s->merging[k], job) == 0) return 0;
    char **m = realloc(s->merging, sizeof *m * (s->n_merging + 1));
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->merging = m;
    char *dup = strdup(job);
    if (!dup) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->merging[s->n_merging++] = dup;
    if (first) {
        /* job may be the caller's string: merge_on_page's failure path drops the
         * merging entry and tells cb, both of which only read it */
        merge_on_page(s, job, 0, NULL, first, result_page, ready, cb, ud);
        return 0;
    }
    if (op_send(collect_op(s, job, 0, NULL, result_page, ready, (void *)cb, ud), err, errlen) !=
        0) {
        merging_drop(s, job);
        return -1;
    }
    return 0;
}

static void op_pending_reply(sched_op *op, redisReply *r, const char *err)
{
    sched_t *s = op->s;
    if (err || r->type != REDIS_REPLY_ARRAY) return; /* retried on the next tick */
    for (size_t i = 0; i < r->elements; i++) {
        const char *job = sched_reply_str(r->element[i]);
        char msg[300];
        if (job[0] && merge_start(s, job, NULL, 0, NULL, (sched_merged_fn)op->cb, op->ud, msg,
                                  sizeof msg) != 0)
            return;
    }
}

int sched_job_merge(sched_t *s, const char *job_id, uint32_t result_page,
                    sched_merge_ready_fn ready, sched_merged_fn cb, void *ud, char *err,
                    size_t errlen)
{
    if (!job_id || !job_id[0]) {
        snprintf(err, errlen, "no job to merge");
        return -1;
    }
    /* the complete reply being handled may carry the job's first page */
    const redisReply *first = NULL;
    for (size_t i = s->inl_from; s->inl && i + 1 < s->inl->elements && !first; i += 2)
        if (strcmp(sched_reply_str(s->inl->element[i]), job_id) == 0)
            first = s->inl->element[i + 1];
    return merge_start(s, job_id, first, result_page, ready, cb, ud, err, errlen);
}

static void pending_cmd_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    sched_op *op = priv;
    redisReply *r = reply;
    if (r && r->type != REDIS_REPLY_ERROR) op_pending_reply(op, r, NULL);
    op_free(op);
}

int sched_merge_pending(sched_t *s, sched_merged_fn cb, void *ud, char *err, size_t errlen)
{
    if (s->closing || !s->up || !s->ac) {
        snprintf(err, errlen, "redis is not connected");
        return -1;
    }
    /* A plain SMEMBERS; the op only carries the callback. */
    sched_op *op = calloc(1, sizeof *op);
    if (!op) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    op->s = s;
    op->cb = (void *)cb;
    op->ud = ud;
    char key[sizeof s->prefix + 16];
    snprintf(key, sizeof key, "%smerging", s->prefix);
    /* %s is one argument even if the prefix has spaces */
    if (redisAsyncCommand(s->ac, pending_cmd_reply, op, "SMEMBERS %s", key) != REDIS_OK) {
        free(op);
        snprintf(err, errlen, "redis connection is closing");
        return -1;
    }
    return 0;
}

/* ---- status ---- */

/* One job of status.lua's reply (lib.lua status_entry) into j, pointing into
 * e; j->tasks is allocated (free it). -1: out of memory. */
static int status_entry_parse(const redisReply *e, sched_job_status *j)
{
    memset(j, 0, sizeof *j);
    j->job_id = j->name = j->state = j->result_json = j->sandbox = "";
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2) return 0;
    j->job_id = sched_reply_str(e->element[0]);
    j->found = sched_reply_ll(e->element[1]) == 1;
    if (!j->found || e->elements < 15) return 0;
    j->name = sched_reply_str(e->element[2]);
    j->state = sched_reply_str(e->element[3]);
    if (strcmp(j->state, "merging") == 0) j->state = "running";
    j->total = (uint32_t)sched_reply_ll(e->element[4]);
    j->done = (uint32_t)sched_reply_ll(e->element[5]);
    j->failed = (uint32_t)sched_reply_ll(e->element[6]);
    j->cancelled = (uint32_t)sched_reply_ll(e->element[7]);
    j->running = (uint32_t)sched_reply_ll(e->element[8]);
    j->pending = (uint32_t)sched_reply_ll(e->element[9]);
    j->created_ms = (uint64_t)sched_reply_ll(e->element[10]);
    j->finished_ms = (uint64_t)sched_reply_ll(e->element[11]);
    j->result_json = sched_reply_str(e->element[12]);
    j->result_len = e->element[12]->type == REDIS_REPLY_STRING ? e->element[12]->len : 0;
    j->result_size = (uint64_t)sched_reply_ll(e->element[13]);
    j->sandbox = sched_reply_str(e->element[14]);
    size_t nt = e->elements - 15;
    if (!nt) return 0;
    j->tasks = calloc(nt, sizeof *j->tasks);
    if (!j->tasks) return -1;
    for (size_t k = 0; k < nt; k++) {
        const redisReply *t = e->element[15 + k];
        if (t->type != REDIS_REPLY_ARRAY || t->elements < 6) continue;
        sched_task_status *ts = &j->tasks[j->n_tasks++];
        ts->task_id = sched_reply_str(t->element[0]);
        ts->state = sched_reply_str(t->element[1]);
        ts->attempt = (uint32_t)sched_reply_ll(t->element[2]);
        ts->worker = sched_reply_str(t->element[3]);
        ts->tokens = (uint32_t)sched_reply_ll(t->element[4]);
        ts->error = sched_reply_str(t->element[5]);
    }
    return 0;
}

static void op_status_reply(sched_op *op, redisReply *r, const char *err)
{
    sched_status_fn cb = (sched_status_fn)op->cb;
    if (err || r->type != REDIS_REPLY_ARRAY) {
        cb(op->ud, -1, err ? err : "status: unexpected reply", NULL, 0);
        return;
    }
    size_t n = r->elements;
    sched_job_status *jobs = calloc(n ? n : 1, sizeof *jobs);
    if (!jobs) {
        cb(op->ud, -1, "out of memory", NULL, 0);
        return;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = status_entry_parse(r->element[i], &jobs[i]);
    if (rc == 0)
        cb(op->ud, 0, NULL, jobs, n);
    else
        cb(op->ud, -1, "out of memory", NULL, 0);
    for (size_t i = 0; i < n; i++)
        free(jobs[i].tasks);
    free(jobs);
}

int sched_status(sched_t *s, const char *const *job_ids, size_t n, bool with_tasks,
                 bool with_result, uint64_t result_offset, uint32_t result_limit,
                 sched_status_fn cb, void *ud, char *err, size_t errlen)
{
    sched_op *op = op_new(s, S_STATUS, op_status_reply, (void *)cb, ud);
    int bad = !op || op_str(op, with_tasks ? "1" : "0") || op_str(op, with_result ? "1" : "0") ||
              op_u64(op, result_offset) || op_u64(op, result_limit);
    for (size_t i = 0; !bad && i < n; i++)
        bad = op_str(op, job_ids[i]);
    if (bad && op) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

/* ---- wall-time budget ---- */

static void op_deadline_reply(sched_op *op, redisReply *r, const char *err)
{
    sched_cancel_fn cb = (sched_cancel_fn)op->cb;
    if (err || r->type != REDIS_REPLY_ARRAY) {
        cb(op->ud, -1, err ? err : "deadline: unexpected reply", NULL, NULL, NULL, 0);
        return;
    }
    size_t n = r->elements / 4;
    sched_taskref *refs = calloc(n ? n : 1, sizeof *refs);
    const char **workers = calloc(n ? n : 1, sizeof *workers);
    if (!refs || !workers) {
        free(refs);
        free(workers);
        cb(op->ud, -1, "out of memory", NULL, NULL, NULL, 0);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        refs[i].job_id = sched_reply_str(r->element[4 * i]);
        refs[i].task_id = sched_reply_str(r->element[4 * i + 1]);
        refs[i].attempt = (uint32_t)sched_reply_ll(r->element[4 * i + 2]);
        workers[i] = sched_reply_str(r->element[4 * i + 3]);
    }
    cb(op->ud, 0, NULL, "running", refs, workers, n);
    free(refs);
    free(workers);
}

int sched_jobs_deadline(sched_t *s, size_t max, sched_cancel_fn cb, void *ud, char *err,
                        size_t errlen)
{
    sched_op *op = op_new(s, S_DEADLINE, op_deadline_reply, (void *)cb, ud);
    if (op && op_u64(op, max)) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

/* ---- logs (`swarm logs`, `swarm top`; lua/logs.lua) ---- */

static void op_logs_reply(sched_op *op, redisReply *r, const char *err)
{
    sched_logs_fn cb = (sched_logs_fn)op->cb;
    if (err || r->type != REDIS_REPLY_ARRAY || r->elements < 5) {
        cb(op->ud, -1, err ? err : "logs: unexpected reply", NULL);
        return;
    }
    size_t n = r->elements - 5, n_fields = 0;
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = r->element[5 + i];
        if (e->type == REDIS_REPLY_ARRAY && e->elements >= 2) n_fields += e->elements - 2;
    }
    sched_log_entry *es = calloc(n ? n : 1, sizeof *es);
    const char **fs = calloc(n_fields ? n_fields : 1, sizeof *fs);
    if (!es || !fs) {
        free(es);
        free(fs);
        cb(op->ud, -1, "out of memory", NULL);
        return;
    }
    sched_log_page pg = {.state = sched_reply_str(r->element[0]),
                         .next = sched_reply_str(r->element[1]),
                         .more = sched_reply_ll(r->element[2]) != 0,
                         .trimmed = (uint64_t)sched_reply_ll(r->element[3]),
                         .first = sched_reply_str(r->element[4]),
                         .entries = es};
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = r->element[5 + i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2) continue;
        sched_log_entry *x = &es[pg.n++];
        x->id = sched_reply_str(e->element[0]);
        x->task = sched_reply_str(e->element[1]);
        x->fields = &fs[k];
        for (size_t f = 2; f < e->elements; f++)
            fs[k++] = sched_reply_str(e->element[f]);
        x->n_fields = e->elements - 2;
    }
    cb(op->ud, 0, NULL, &pg);
    free(es);
    free(fs);
}

int sched_logs_read(sched_t *s, const char *kind, const char *job_id, const char *task_id,
                    const char *after, uint32_t limit, uint32_t max_bytes, sched_logs_fn cb,
                    void *ud, char *err, size_t errlen)
{
    sched_op *op = op_new(s, S_LOGS, op_logs_reply, (void *)cb, ud);
    if (op && (op_str(op, kind) || op_str(op, job_id) || op_str(op, task_id) || op_str(op, after) ||
               op_u64(op, limit) || op_u64(op, max_bytes))) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

/* ---- agents' job-wide notes (lua/notes.lua) ---- */

static void op_notes_reply(sched_op *op, redisReply *r, const char *err)
{
    sched_notes_fn cb = (sched_notes_fn)op->cb;
    sched_notes_page pg = {.id = "", .next = ""};
    if (err || r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
        cb(op->ud, -1, err ? err : "notes: unexpected reply", SCHED_UNKNOWN, &pg);
        return;
    }
    int outcome = outcome_parse(sched_reply_str(r->element[0]));
    if (outcome != SCHED_OK || r->elements < 3) {
        /* add: {'ok', id}; anything else: an outcome and '' */
        pg.id = sched_reply_str(r->element[1]);
        cb(op->ud, 0, NULL, outcome, &pg);
        return;
    }
    pg.next = sched_reply_str(r->element[1]);
    pg.more = sched_reply_ll(r->element[2]) != 0;
    size_t n = (r->elements - 3) / 4;
    sched_note *v = calloc(n ? n : 1, sizeof *v);
    if (!v) {
        cb(op->ud, -1, "out of memory", SCHED_UNKNOWN, &pg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        redisReply **e = &r->element[3 + 4 * i];
        v[i] = (sched_note){sched_reply_str(e[0]), sched_reply_str(e[1]), sched_reply_str(e[2]),
                            sched_reply_str(e[3])};
    }
    pg.notes = v;
    pg.n = n;
    cb(op->ud, 0, NULL, SCHED_OK, &pg);
    free(v);
}

int sched_notes_add(sched_t *s, const sched_taskref *t, const char *worker, const char *author,
                    const char *tag, const char *text, sched_notes_fn cb, void *ud, char *err,
                    size_t errlen)
{
    sched_op *op = op_new(s, S_NOTES, op_notes_reply, (void *)cb, ud);
    if (op && (op_fref(op, t) || op_str(op, worker) || op_str(op, "add") || op_str(op, author) ||
               op_str(op, tag) || op_str(op, text) || op_u64(op, SCHED_NOTES_MAX))) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}

int sched_notes_read(sched_t *s, const sched_taskref *t, const char *worker, const char *tag,
                     const char *after, uint32_t limit, uint32_t max_bytes, sched_notes_fn cb,
                     void *ud, char *err, size_t errlen)
{
    sched_op *op = op_new(s, S_NOTES, op_notes_reply, (void *)cb, ud);
    if (op && (op_fref(op, t) || op_str(op, worker) || op_str(op, "read") || op_str(op, tag) ||
               op_str(op, after) || op_u64(op, limit) || op_u64(op, max_bytes))) {
        op_free(op);
        op = NULL;
    }
    return op_send(op, err, errlen);
}
