/* swarmd.c - the coordinator's main: flags, sockets, the event loop, shutdown.
 *
 * ZeroMQ sockets join libuv through their ZMQ_FD. That fd is edge-triggered:
 * it signals "something changed", not "a message is waiting", so every wakeup
 * drains the socket while ZMQ_EVENTS reports POLLIN, and every send schedules
 * another drain (a send can consume the edge of pending input). The 250 ms
 * tick is the safety net and the scheduler's clock: it drains, expires dead
 * workers and stale leases, merges finished jobs and dispatches ready tasks. */
#include "swarmd.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "curve.h"
#include "http.h"
#include "swarm_version.h"

#define SWARMD_X_NAME(id, name) name,
const char *const swarmd_counter_names[SWARMD_C_COUNT] = {SWARMD_COUNTERS(SWARMD_X_NAME)};
#undef SWARMD_X_NAME

void swarmd_log(swarmd *d, const char *fmt, ...)
{
    FILE *f = d->log ? d->log : stderr;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    /* one write per line (stderr is unbuffered: three calls were three
     * write(2)s on the loop, before every Submit's answer among others) */
    char line[2048];
    int n = snprintf(line, sizeof line, "%s.%03ldZ swarmd: ", when, ts.tv_nsec / 1000000L);
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (m >= 0 && (size_t)n + (size_t)m + 1 < sizeof line) {
        line[n + m] = '\n';
        fwrite(line, 1, (size_t)n + (size_t)m + 1, f);
    } else { /* a long line: in pieces */
        fwrite(line, 1, (size_t)n, f);
        vfprintf(f, fmt, again);
        fputc('\n', f);
    }
    va_end(again);
    fflush(f);
}

static void swarmd_drain_cb(uv_timer_t *t);

/* Drain sock (NULL: both) on the next turn: only a socket that was used or
 * signalled, since each ZMQ_EVENTS check costs libzmq a poll() and a getpid(). */
static void swarmd_drain_mark(swarmd *d, void *sock)
{
    if (d->stopping) return;
    d->drain_mask |= !sock ? 3 : sock == d->worker ? 1 : 2;
    if (!uv_is_active((uv_handle_t *)&d->drain)) uv_timer_start(&d->drain, swarmd_drain_cb, 0, 0);
}

void swarmd_drain_soon(swarmd *d)
{
    swarmd_drain_mark(d, NULL);
}

int swarmd_send(swarmd *d, void *sock, const uint8_t *id, size_t id_len, const Swarm__Envelope *e)
{
    char err[256];
    int rc = wire_send(sock, id, id_len, e, WIRE_SEND_DONTWAIT, err, sizeof err);
    if (rc != 0)
        swarmd_log(d, "send to %s peer failed: %s", sock == d->client ? "client" : "worker", err);
    else if (d->http && sock == d->worker)
        swarmd_http_on_send(d->http, id, id_len, e); /* dispatch timing, live output */
    swarmd_drain_mark(d, sock);
    return rc;
}

void swarmd_send_error(swarmd *d, void *sock, const uint8_t *id, size_t id_len, uint64_t corr,
                       uint32_t code, const char *msg)
{
    if (wire_send_error(sock, id, id_len, "swarmd", corr, code, msg) != 0)
        swarmd_log(d, "could not send Error(%u) to a %s peer: %s", code,
                   sock == d->client ? "client" : "worker", zmq_strerror(errno));
    swarmd_drain_mark(d, sock);
}

/* Handle every waiting message on one socket (up to a batch; then yield). */
static void swarmd_drain_socket(swarmd *d, void *sock, bool is_client)
{
    for (int n = 0; n < SWARMD_DRAIN_BATCH && !d->stopping; n++) {
        int events = 0;
        size_t len = sizeof events;
        if (zmq_getsockopt(sock, ZMQ_EVENTS, &events, &len) != 0 || !(events & ZMQ_POLLIN)) return;
        uint8_t id[WIRE_MAX_IDENTITY];
        size_t id_len = 0;
        Swarm__Envelope *env = NULL;
        char err[256] = "";
        int rc = wire_recv(sock, true, id, &id_len, &env, err, sizeof err);
        if (rc == 1) return;
        if (rc < 0) {
            static const int client_c[] = {0, SWARMD_C_CLIENT_BAD_PARSE,
                                           SWARMD_C_CLIENT_BAD_VERSION, SWARMD_C_CLIENT_BAD_EMPTY,
                                           SWARMD_C_CLIENT_BAD_FRAMES};
            static const int worker_c[] = {0, SWARMD_C_WORKER_BAD_PARSE,
                                           SWARMD_C_WORKER_BAD_VERSION, SWARMD_C_WORKER_BAD_EMPTY,
                                           SWARMD_C_WORKER_BAD_FRAMES};
            int code = -rc;
            if (code >= 1 && code <= 4) d->counters[(is_client ? client_c : worker_c)[code]]++;
            swarmd_log(d, "bad frame on the %s endpoint: %s", is_client ? "client" : "worker", err);
            if (id_len) swarmd_send_error(d, sock, id, id_len, 0, (uint32_t)code, err);
            continue;
        }
        if (is_client)
            swarmd_client_handle(d, id, id_len, env);
        else
            swarmd_worker_handle(d, id, id_len, env);
        if (!is_client && d->http) swarmd_http_on_recv(d->http, id, id_len, env);
        wire_free(env);
    }
    swarmd_drain_mark(d, sock); /* more may be waiting: come back after other events */
}

/* A just-started swarmd binds its endpoints before its Redis connection is
 * up; a request read in that moment would be answered Error 7 ("redis is not
 * connected") although nothing is wrong. Client requests wait in the socket
 * until Redis first comes up, or SWARMD_CLIENT_HOLD_MS pass (Redis down at
 * start: then they get the clear Error 7). Workers are read at once. */
#define SWARMD_CLIENT_HOLD_MS 2000

static bool swarmd_clients_open(swarmd *d)
{
    if (!d->clients_open &&
        (sched_is_up(d->sched) || uv_now(&d->loop) - d->started_ms >= SWARMD_CLIENT_HOLD_MS))
        d->clients_open = true;
    return d->clients_open;
}

/* mask: 1 the worker socket, 2 the client socket */
static void swarmd_drain_some(swarmd *d, unsigned mask)
{
    if (d->stopping) return;
    if (mask & 1) {
        swarmd_drain_socket(d, d->worker, false);
        /* the results this pass gathered go to Redis together */
        swarmd_results_flush(d);
    }
    if (mask & 2) {
        if (swarmd_clients_open(d))
            swarmd_drain_socket(d, d->client, true);
        else
            d->drain_mask |= 2; /* held: read on a later pass (the tick's) */
    }
}

static void swarmd_drain_all(swarmd *d)
{
    swarmd_drain_some(d, 3);
}

static void swarmd_drain_cb(uv_timer_t *t)
{
    swarmd *d = t->data;
    unsigned mask = d->drain_mask;
    d->drain_mask = 0;
    swarmd_drain_some(d, mask);
}

static void swarmd_poll_cb(uv_poll_t *p, int status, int events)
{
    swarmd *d = p->data;
    (void)status, (void)events;
    swarmd_drain_some(d, p == &d->worker_poll ? 1 : 2);
}

static void swarmd_expired_cb(void *ud, int rc, const char *err, long long n)
{
    swarmd *d = ud;
    if (rc != 0) {
        d->counters[SWARMD_C_REDIS_ERRORS]++;
        return;
    }
    if (n > 0) {
        d->counters[SWARMD_C_LEASES_EXPIRED] += (uint64_t)n;
        swarmd_log(d, "%lld lease(s) expired: tasks back to ready", n);
    }
}

static void swarmd_purged_cb(void *ud, int rc, const char *err, const char *jobs, long long left)
{
    swarmd *d = ud;
    if (rc != 0) {
        d->counters[SWARMD_C_REDIS_ERRORS]++;
        return;
    }
    long long n = strtoll(jobs, NULL, 10);
    if (n > 0) {
        d->counters[SWARMD_C_JOBS_REMOVED] += (uint64_t)n;
        swarmd_log(d, "retention: %lld ended job(s) older than %llu s removed", n,
                   (unsigned long long)d->cfg.retention_s);
    }
    (void)left;
}

/* Retention and the background deletion of removed jobs' task hashes, in
 * bounded batches so Redis is never blocked for long. */
static void swarmd_purge(swarmd *d)
{
    char err[256];
    uint64_t now = sched_now_ms(), keep = d->cfg.retention_s * 1000u;
    uint64_t before = now > keep ? now - keep : 0;
    if (sched_jobs_purge(d->sched, before, 100, 20000, swarmd_purged_cb, d, err, sizeof err) != 0)
        d->counters[SWARMD_C_REDIS_ERRORS]++;
}

static void swarmd_tick_cb(uv_timer_t *t)
{
    swarmd *d = t->data;
    if (d->stopping) return;
    if (d->zap) { /* counted on the ZAP thread; copied here so Status and /metrics show them */
        d->counters[SWARMD_C_AUTH_ADMITTED] = curve_zap_admitted(d->zap);
        d->counters[SWARMD_C_AUTH_REFUSED] = curve_zap_refused(d->zap);
    }
    swarmd_drain_all(d);
    if (!sched_is_up(d->sched)) return;
    /* the loop's monotonic time: waits and liveness are durations, immune to
     * the wall clock being set (lease times in Redis stay epoch ms) */
    uint64_t now = uv_now(&d->loop);
    swarmd_waiters_tick(d, now);
    swarmd_uploads_tick(d, now);
    swarmd_workers_check(d, now);
    char err[256];
    if (sched_leases_expire(d->sched, 1000, swarmd_expired_cb, d, err, sizeof err) != 0)
        d->counters[SWARMD_C_REDIS_ERRORS]++;
    if (d->ticks % 2 == 0) swarmd_leader_renew(d);
    if (++d->ticks % 4 == 0) {
        swarmd_deadlines_check(d); /* about once a second */
        swarmd_purge(d);
    }
    swarmd_merge_pending(d);
    swarmd_dispatch(d);
}

static void swarmd_sched_state(void *ud, bool up, const char *msg)
{
    swarmd *d = ud;
    swarmd_log(d, "%s", msg);
    if (up) {
        swarmd_merge_pending(d);
        swarmd_dispatch(d);
        swarmd_drain_soon(d); /* client requests held until now (swarmd_clients_open) */
    }
}

static void swarmd_close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void swarmd_stop(swarmd *d, const char *why)
{
    if (d->stopping) return;
    swarmd_log(d, "%s: shutting down", why);
    /* Pending Redis callbacks run now, while sockets can still carry replies. */
    sched_close(d->sched);
    d->sched = NULL;
    d->stopping = true;
    swarmd_http_stop(d->http); /* waiting HTTP requests get 503, MHD's threads end */
    uv_walk(&d->loop, swarmd_close_walk, NULL);
}

void swarmd_request_stop(swarmd *d, const char *why)
{
    swarmd_stop(d, why);
}

static void swarmd_signal_cb(uv_signal_t *s, int signum)
{
    swarmd_stop(s->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void usage(FILE *f)
{
    fprintf(f, "usage: swarmd --redis unix:PATH|HOST:PORT --client ENDPOINT --workers ENDPOINT\n"
               "              [--log FILE] [--heartbeat-ms 1000] [--lease-ms 5000] "
               "[--prefix swarm:]\n"
               "              [--retention-s 604800]  (ended jobs are removed after this)\n"
               "              [--upload-timeout-ms 30000]  (an upload of a job in chunks\n"
               "              that gets no part for this long is discarded)\n"
               "              [--leader-ttl-ms 2000]  (a second swarmd on the same Redis is a\n"
               "              standby: it takes over within about this long of the first dying)\n"
               "              [--http [HOST:]PORT [--http-token T | --http-token-file F]]\n"
               "                (dashboard, /api, /metrics; HOST defaults to 127.0.0.1; with a\n"
               "                token /api and /metrics want Authorization: Bearer T)\n"
               "              [--server-key swarmd.key --authorized-keys FILE | --insecure]\n"
               "                (tcp:// needs CURVE: swarmd's keypair from `swarm keygen` and\n"
               "                the workers'/clients' public keys, one per line; --insecure\n"
               "                allows plain TCP; ipc:// needs neither)\n"
               "       swarmd --version | --help\n");
}

static int parse_ms(const char *flag, const char *v, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(v ? v : "", &end, 10);
    if (!v || !*v || *end || errno || x < 10 || x > 3600000) {
        fprintf(stderr, "swarmd: %s \"%s\": expected milliseconds from 10 to 3600000\n", flag,
                v ? v : "");
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_args(int argc, char **argv, swarmd_config *c)
{
    c->prefix = "swarm:";
    c->heartbeat_ms = 1000;
    c->lease_ms = 0;
    c->retention_s = 7 * 24 * 3600;
    c->leader_ttl_ms = 2000;
    c->upload_timeout_ms = 30000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(a, "--version")) {
            swarm_version_print(stdout, "swarmd");
            exit(0);
        }
        if (!strcmp(a, "--insecure")) {
            c->insecure = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "swarmd: %s needs a value\n", a);
            return -1;
        }
        i++;
        if (!strcmp(a, "--redis"))
            c->redis = v;
        else if (!strcmp(a, "--client"))
            c->client_ep = v;
        else if (!strcmp(a, "--workers"))
            c->worker_ep = v;
        else if (!strcmp(a, "--log"))
            c->log_path = v;
        else if (!strcmp(a, "--prefix"))
            c->prefix = v;
        else if (!strcmp(a, "--heartbeat-ms")) {
            if (parse_ms(a, v, &c->heartbeat_ms)) return -1;
        } else if (!strcmp(a, "--lease-ms")) {
            if (parse_ms(a, v, &c->lease_ms)) return -1;
        } else if (!strcmp(a, "--leader-ttl-ms")) {
            if (parse_ms(a, v, &c->leader_ttl_ms)) return -1;
        } else if (!strcmp(a, "--upload-timeout-ms")) {
            if (parse_ms(a, v, &c->upload_timeout_ms)) return -1;
        } else if (!strcmp(a, "--retention-s")) {
            char *end = NULL;
            errno = 0;
            unsigned long long x = strtoull(v, &end, 10);
            if (!*v || *end || errno || x > 10ull * 365 * 24 * 3600) {
                fprintf(stderr, "swarmd: --retention-s \"%s\": expected seconds, 0 to 315360000\n",
                        v);
                return -1;
            }
            c->retention_s = x;
        } else if (!strcmp(a, "--http")) {
            c->http_addr = v;
        } else if (!strcmp(a, "--http-token")) {
            c->http_token = v;
        } else if (!strcmp(a, "--http-token-file")) {
            c->http_token_file = v;
        } else if (!strcmp(a, "--server-key")) {
            c->server_key = v;
        } else if (!strcmp(a, "--authorized-keys")) {
            c->authorized_keys = v;
        } else {
            fprintf(stderr, "swarmd: unknown flag %s\n", a);
            usage(stderr);
            return -1;
        }
    }
    if (!c->redis || !c->client_ep || !c->worker_ep) {
        fprintf(stderr, "swarmd: --redis, --client and --workers are required\n");
        usage(stderr);
        return -1;
    }
    if ((c->http_token || c->http_token_file) && !c->http_addr) {
        fprintf(stderr, "swarmd: --http-token and --http-token-file need --http ADDR\n");
        return -1;
    }
    if (c->http_token && c->http_token_file) {
        fprintf(stderr, "swarmd: give --http-token or --http-token-file, not both\n");
        return -1;
    }
    if (!c->lease_ms) c->lease_ms = 5 * c->heartbeat_ms;
    if (c->lease_ms <= c->heartbeat_ms) {
        fprintf(stderr, "swarmd: --lease-ms must be longer than --heartbeat-ms\n");
        return -1;
    }
    return 0;
}

/* Logged from the ZAP thread: the stream lock keeps each line whole. */
static void swarmd_zap_log(void *ud, bool admitted, const char *key, const char *label,
                           const char *address)
{
    swarmd *d = ud;
    FILE *f = d->log ? d->log : stderr;
    flockfile(f);
    if (admitted)
        swarmd_log(d, "auth: admitted key %s (%s) from %s", key, label, address);
    else
        swarmd_log(d, "auth: REFUSED key %s from %s: not in %s", key, address,
                   d->cfg.authorized_keys);
    funlockfile(f);
}

/* Network endpoints get CURVE unless --insecure: the keys are loaded and the
 * ZAP handler bound before any socket, so no connection is ever unchecked.
 * *server is left empty when nothing needs CURVE. */
static int swarmd_auth_start(swarmd *d, curve_keypair *server)
{
    const swarmd_config *c = &d->cfg;
    char err[512];
    memset(server, 0, sizeof *server);
    bool net = curve_endpoint_needs_keys(c->client_ep) || curve_endpoint_needs_keys(c->worker_ep);
    if (!net || c->insecure) {
        if (net) swarmd_log(d, "--insecure: network endpoints run WITHOUT CURVE (plain TCP)");
        return 0;
    }
    if (!curve_available()) {
        fprintf(stderr, "swarmd: this libzmq has no CURVE; use ipc:// or --insecure\n");
        return -1;
    }
    if (!c->server_key || !c->authorized_keys) {
        fprintf(stderr,
                "swarmd: a tcp:// endpoint needs --server-key FILE (swarmd's keypair from `swarm "
                "keygen`) and --authorized-keys FILE (workers' and clients' public keys), or "
                "--insecure for plain TCP\n");
        return -1;
    }
    if (curve_key_load(c->server_key, true, server, err, sizeof err) != 0 ||
        curve_authlist_load(c->authorized_keys, &d->authkeys, err, sizeof err) != 0 ||
        curve_zap_start(d->zctx, d->authkeys, swarmd_zap_log, d, &d->zap, err, sizeof err) != 0) {
        fprintf(stderr, "swarmd: %s\n", err);
        return -1;
    }
    swarmd_log(d, "auth: CURVE on, server key %s, %zu authorized key(s) from %s",
               server->public_z85, curve_authlist_count(d->authkeys), c->authorized_keys);
    return 0;
}

static void *swarmd_router(swarmd *d, const char *ep, const char *what, const curve_keypair *kp)
{
    char err[256];
    void *s = zmq_socket(d->zctx, ZMQ_ROUTER);
    if (s && kp->secret_z85[0] && curve_endpoint_needs_keys(ep) &&
        curve_server_setup(s, kp, err, sizeof err) != 0) {
        fprintf(stderr, "swarmd: the %s endpoint %s: %s\n", what, ep, err);
        zmq_close(s);
        return NULL;
    }
    if (!s || wire_socket_setup(s, true) != 0 || zmq_bind(s, ep) != 0) {
        fprintf(stderr, "swarmd: cannot bind the %s endpoint %s: %s\n", what, ep,
                zmq_strerror(errno));
        if (s) zmq_close(s);
        return NULL;
    }
    return s;
}

static int swarmd_poll_init(swarmd *d, uv_poll_t *p, void *sock)
{
    int fd = -1;
    size_t len = sizeof fd;
    if (zmq_getsockopt(sock, ZMQ_FD, &fd, &len) != 0) return -1;
    if (uv_poll_init(&d->loop, p, fd) != 0) return -1;
    p->data = d;
    return uv_poll_start(p, UV_READABLE, swarmd_poll_cb);
}

int main(int argc, char **argv)
{
    swarmd *d = calloc(1, sizeof *d);
    if (!d) return 1;
    int rc = 1;
    if (parse_args(argc, argv, &d->cfg) != 0) {
        free(d);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (d->cfg.log_path) {
        d->log = fopen(d->cfg.log_path, "a");
        if (!d->log) {
            fprintf(stderr, "swarmd: --log %s: %s\n", d->cfg.log_path, strerror(errno));
            free(d);
            return 1;
        }
    }
    /* a standby waits here, before binding anything, until it is the leader */
    swarmd_leader_acquire(d);
    uv_loop_init(&d->loop);
    d->started_ms = uv_now(&d->loop);
    d->zctx = zmq_ctx_new();
    char err[256];
    if (!d->zctx) goto out;
    curve_keypair server_key;
    if (swarmd_auth_start(d, &server_key) != 0) goto out;
    if (!(d->client = swarmd_router(d, d->cfg.client_ep, "client", &server_key))) goto out;
    if (!(d->worker = swarmd_router(d, d->cfg.worker_ep, "worker", &server_key))) goto out;
    explicit_bzero(server_key.secret_z85, sizeof server_key.secret_z85);
    sched_config sc = {.loop = &d->loop,
                       .redis = d->cfg.redis,
                       .prefix = d->cfg.prefix,
                       .on_state = swarmd_sched_state,
                       .ud = d};
    if (sched_open(&d->sched, &sc, err, sizeof err) != 0) {
        fprintf(stderr, "swarmd: %s\n", err);
        goto out;
    }
    if (swarmd_poll_init(d, &d->client_poll, d->client) != 0 ||
        swarmd_poll_init(d, &d->worker_poll, d->worker) != 0) {
        fprintf(stderr, "swarmd: cannot watch the ZeroMQ sockets\n");
        goto out;
    }
    uv_timer_init(&d->loop, &d->tick);
    uv_timer_init(&d->loop, &d->drain);
    d->tick.data = d->drain.data = d;
    uv_timer_start(&d->tick, swarmd_tick_cb, SWARMD_TICK_MS, SWARMD_TICK_MS);
    uv_signal_init(&d->loop, &d->sigterm);
    uv_signal_init(&d->loop, &d->sigint);
    d->sigterm.data = d->sigint.data = d;
    uv_signal_start(&d->sigterm, swarmd_signal_cb, SIGTERM);
    uv_signal_start(&d->sigint, swarmd_signal_cb, SIGINT);
    if (d->cfg.http_addr) {
        char token[256] = "";
        if (d->cfg.http_token_file &&
            swarmd_http_token_read(d->cfg.http_token_file, token, sizeof token, err, sizeof err)) {
            fprintf(stderr, "swarmd: %s\n", err);
            goto out;
        }
        const char *tok = d->cfg.http_token ? d->cfg.http_token : token;
        if (swarmd_http_start(d, d->cfg.http_addr, tok, &d->http, err, sizeof err) != 0) {
            fprintf(stderr, "swarmd: %s\n", err);
            goto out;
        }
    }
    swarmd_log(d,
               "up: client %s, workers %s, redis %s, prefix %s, heartbeat %llu ms, lease %llu ms",
               d->cfg.client_ep, d->cfg.worker_ep, d->cfg.redis, d->cfg.prefix,
               (unsigned long long)d->cfg.heartbeat_ms, (unsigned long long)d->cfg.lease_ms);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    rc = 0;
    for (int i = 0; i < SWARMD_C_COUNT; i++)
        if (d->counters[i])
            swarmd_log(d, "counter %s = %llu", swarmd_counter_names[i],
                       (unsigned long long)d->counters[i]);
    swarmd_log(d, "stopped");
out:
    if (d->sched) {
        sched_close(d->sched);
        d->sched = NULL;
    }
    d->stopping = true;
    swarmd_http_stop(d->http);
    uv_walk(&d->loop, swarmd_close_walk, NULL);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    swarmd_http_free(d->http);
    if (uv_loop_close(&d->loop) != 0) swarmd_log(d, "event loop did not close cleanly");
    if (d->client) zmq_close(d->client);
    if (d->worker) zmq_close(d->worker);
    curve_zap_stop(d->zap); /* after the CURVE sockets, before the context */
    curve_authlist_free(d->authkeys);
    if (d->zctx) zmq_ctx_term(d->zctx);
    swarmd_workers_free(d);
    swarmd_pending_free(d);
    swarmd_waiters_free(d);
    swarmd_uploads_free(d);
    swarmd_leader_release(d);
    if (d->log) fclose(d->log);
    free(d);
    return rc;
}
