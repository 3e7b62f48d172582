/* test_swarmd.c - swarmd as a real process against a real redis-server, driven
 * over real ZeroMQ sockets: a job runs on a fake worker that speaks the real
 * protocol (DEALER) while garbage, truncated, oversize, wrong-version,
 * empty-payload, multi-frame and wrong-endpoint messages hit BOTH endpoints.
 * Each bad message must be answered with the right Error (or dropped, for
 * oversize) and counted, and the job must complete with every result exactly
 * once. Then swarmd is killed with SIGKILL mid-job and restarted: the job
 * still completes. Usage: test_swarmd PATH/TO/swarmd
 *
 * test_swarmd PATH/TO/swarmd --clock-step PATH/TO/libfaketime.so.1: swarmd's
 * wall clock jumps an hour ahead and then two back (libfaketime, monotonic
 * clock untouched) while one worker heartbeats and another has gone silent:
 * the live one is never dropped and the silent one is dropped after three
 * heartbeats, as liveness runs on the loop's monotonic time. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <zmq.h>

#include "../common/redis_fixture.h"
#include "wire.h"
#include "../common/check.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- swarmd process ---- */

typedef struct env_t {
    const char *swarmd_bin;
    redis_fixture fx;
    char client_ep[400], worker_ep[400], log[400];
    pid_t swarmd;
    void *zctx;
    /* --clock-step: libfaketime preloaded into swarmd, its offset in faketime */
    const char *faketime_lib;
    char faketime[400];
} env_t;

static int swarmd_start(env_t *e)
{
    e->swarmd = fork();
    if (e->swarmd < 0) return -1;
    if (e->swarmd == 0) {
        if (e->faketime_lib) {
            /* CLOCK_REALTIME only: libuv's and ZeroMQ's monotonic clocks run on */
            setenv("LD_PRELOAD", e->faketime_lib, 1);
            setenv("FAKETIME_TIMESTAMP_FILE", e->faketime, 1);
            setenv("FAKETIME_NO_CACHE", "1", 1);
            setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
            /* an ASan build: libfaketime comes before the sanitizer runtime */
            char asan[600];
            const char *prev = getenv("ASAN_OPTIONS");
            snprintf(asan, sizeof asan, "%s%sverify_asan_link_order=0", prev ? prev : "",
                     prev && *prev ? ":" : "");
            setenv("ASAN_OPTIONS", asan, 1);
        }
        execl(e->swarmd_bin, e->swarmd_bin, "--redis", e->fx.addr, "--client", e->client_ep,
              "--workers", e->worker_ep, "--log", e->log, "--heartbeat-ms", "200", "--lease-ms",
              "1000", "--prefix", "t:", (char *)NULL);
        _exit(127);
    }
    return 0;
}

static int swarmd_stop(env_t *e, int sig)
{
    int st = -1;
    if (e->swarmd > 0) {
        kill(e->swarmd, sig);
        waitpid(e->swarmd, &st, 0);
        e->swarmd = 0;
    }
    return st;
}

/* ---- fake worker: the real protocol over a DEALER ---- */

typedef struct fw_task {
    char job[64], task[32], input[128];
    uint32_t attempt;
    uint64_t token; /* the Assign's lease_token, echoed like a real worker */
    uint64_t due;
} fw_task;

typedef struct fake_worker {
    void *sock;
    const char *name;
    uint32_t slots;
    uint64_t delay_ms, last_hb, last_register;
    bool registered;
    fw_task run[16];
    size_t n_run;
    int assigns, results_sent, reregisters, cancels;
    bool send_duplicate, send_stale; /* once each */
    bool greedy;                     /* takes every Assign, lists none, never answers (bug 6) */
} fake_worker;

static void send_env(void *sock, Swarm__Envelope *env)
{
    char err[128];
    if (wire_send(sock, NULL, 0, env, 0, err, sizeof err) != 0) fprintf(stderr, "send: %s\n", err);
}

static void fw_register(fake_worker *w)
{
    Swarm__Envelope env;
    Swarm__Register r;
    wire_envelope_init(&env, w->name, 1);
    swarm__register__init(&r);
    r.worker_id = (char *)w->name;
    r.hostname = "test";
    r.pid = (uint32_t)getpid();
    r.model = "fake";
    r.slots = w->slots;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_REGISTER;
    env.register_ = &r;
    send_env(w->sock, &env);
    w->last_register = now_ms();
}

static void fw_heartbeat(fake_worker *w)
{
    Swarm__Envelope env;
    Swarm__Heartbeat h;
    Swarm__TaskRef refs[16], *rp[16];
    wire_envelope_init(&env, w->name, 0);
    swarm__heartbeat__init(&h);
    h.worker_id = (char *)w->name;
    for (size_t i = 0; i < w->n_run; i++) {
        swarm__task_ref__init(&refs[i]);
        refs[i].job_id = w->run[i].job;
        refs[i].task_id = w->run[i].task;
        refs[i].attempt = w->run[i].attempt;
        refs[i].lease_token = w->run[i].token;
        rp[i] = &refs[i];
    }
    h.running = rp;
    h.n_running = w->n_run;
    h.free_slots = w->slots - (uint32_t)w->n_run; /* a greedy one: always all of them */
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_HEARTBEAT;
    env.heartbeat = &h;
    send_env(w->sock, &env);
    w->last_hb = now_ms();
}

static void fw_result(fake_worker *w, const fw_task *t, uint32_t attempt)
{
    Swarm__Envelope env;
    Swarm__Result r;
    char out[160];
    snprintf(out, sizeof out, "echo:%s", t->input);
    wire_envelope_init(&env, w->name, 0);
    swarm__result__init(&r);
    r.job_id = (char *)t->job;
    r.task_id = (char *)t->task;
    r.attempt = attempt;
    r.lease_token = t->token;
    r.ok = true;
    r.output = out;
    r.tokens = 3;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_RESULT;
    env.result = &r;
    send_env(w->sock, &env);
}

/* One pass: handle what arrived, finish due tasks, heartbeat. */
static void fw_pump(fake_worker *w)
{
    for (;;) {
        uint8_t id[1];
        size_t idl = 0;
        Swarm__Envelope *env = NULL;
        char err[128];
        int rc = wire_recv(w->sock, false, id, &idl, &env, err, sizeof err);
        if (rc == 1) break;
        if (rc < 0) {
            fprintf(stderr, "fake worker got a bad frame: %s\n", err);
            check_fail_count++;
            continue;
        }
        switch (env->payload_case) {
        case SWARM__ENVELOPE__PAYLOAD_REGISTER:
            w->registered = true;
            CHECK(env->register_->heartbeat_ms == 200);
            fw_heartbeat(w); /* announces our free slots: the credit */
            break;
        case SWARM__ENVELOPE__PAYLOAD_ERROR:
            if (env->error->code == WIRE_E_UNKNOWN_WORKER) {
                w->reregisters++;
                w->registered = false;
                fw_register(w);
            }
            break;
        case SWARM__ENVELOPE__PAYLOAD_ASSIGN: {
            const Swarm__Assign *a = env->assign;
            w->assigns++;
            if (w->greedy) break;       /* swallowed: no Progress, no Result, not listed */
            CHECK(w->n_run < w->slots); /* never more than our credit */
            if (w->n_run < 16) {
                fw_task *t = &w->run[w->n_run++];
                snprintf(t->job, sizeof t->job, "%s", a->job_id);
                snprintf(t->task, sizeof t->task, "%s", a->task_id);
                snprintf(t->input, sizeof t->input, "%s", a->input);
                t->attempt = a->attempt;
                t->token = a->lease_token;
                CHECK(t->token != 0);
                t->due = now_ms() + w->delay_ms;
                Swarm__Envelope pe;
                Swarm__Progress p;
                wire_envelope_init(&pe, w->name, 0);
                swarm__progress__init(&p);
                p.job_id = t->job;
                p.task_id = t->task;
                p.attempt = t->attempt;
                p.lease_token = t->token;
                p.tokens = 1;
                p.text_tail = "e";
                pe.payload_case = SWARM__ENVELOPE__PAYLOAD_PROGRESS;
                pe.progress = &p;
                send_env(w->sock, &pe);
            }
            break;
        }
        case SWARM__ENVELOPE__PAYLOAD_CANCEL:
            w->cancels++;
            for (size_t i = 0; i < w->n_run; i++)
                if (!strcmp(w->run[i].job, env->cancel->job_id) &&
                    !strcmp(w->run[i].task, env->cancel->task_id)) {
                    w->run[i] = w->run[--w->n_run];
                    break;
                }
            break;
        default:
            break;
        }
        wire_free(env);
    }
    uint64_t now = now_ms();
    for (size_t i = 0; i < w->n_run;) {
        if (now >= w->run[i].due) {
            fw_task t = w->run[i];
            w->run[i] = w->run[--w->n_run];
            fw_result(w, &t, t.attempt);
            w->results_sent++;
            if (w->send_duplicate) {
                fw_result(w, &t, t.attempt); /* the same result again */
                w->send_duplicate = false;
            } else if (w->send_stale) {
                fw_result(w, &t, t.attempt + 7); /* an attempt it never had */
                w->send_stale = false;
            }
            fw_heartbeat(w); /* free slots changed: announce credit */
            continue;
        }
        i++;
    }
    if (!w->registered && now - w->last_register > 300) fw_register(w);
    if (now - w->last_hb >= 200) fw_heartbeat(w);
}

static void pump_for(fake_worker *w, int ms)
{
    uint64_t end = now_ms() + (uint64_t)ms;
    do {
        zmq_pollitem_t it = {w->sock, 0, ZMQ_POLLIN, 0};
        zmq_poll(&it, 1, 5);
        fw_pump(w);
    } while (now_ms() < end);
}

static void pump_two(fake_worker *a, fake_worker *b, int ms)
{
    uint64_t end = now_ms() + (uint64_t)ms;
    do {
        zmq_pollitem_t it[2] = {{a->sock, 0, ZMQ_POLLIN, 0}, {b->sock, 0, ZMQ_POLLIN, 0}};
        zmq_poll(it, 2, 5);
        fw_pump(a);
        fw_pump(b);
    } while (now_ms() < end);
}

static void *dealer(env_t *e, const char *ep)
{
    void *s = zmq_socket(e->zctx, ZMQ_DEALER);
    wire_socket_setup(s, false);
    int tmo = 2000;
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
    zmq_connect(s, ep);
    return s;
}

/* Wait for one reply on sock (pumping the worker meanwhile). */
static Swarm__Envelope *await_reply(void *sock, fake_worker *w, int timeout_ms, int *bad)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    *bad = 0;
    while (now_ms() < end) {
        uint8_t id[1];
        size_t idl = 0;
        Swarm__Envelope *env = NULL;
        char err[128];
        int rc = wire_recv(sock, false, id, &idl, &env, err, sizeof err);
        if (rc == 0) return env;
        if (rc < 0) {
            *bad = rc;
            return NULL;
        }
        if (w)
            pump_for(w, 5);
        else
            fixture_sleep_ms(5);
    }
    return NULL;
}

/* Send raw frames on a fresh DEALER; return the Error code answered, 0 for
 * no answer within timeout, -1 for a non-Error answer. */
static int raw_exchange(env_t *e, const char *ep, const void *const *parts, const size_t *lens,
                        int n, fake_worker *w, int timeout_ms)
{
    void *s = dealer(e, ep);
    for (int i = 0; i < n; i++)
        zmq_send(s, parts[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0);
    int bad = 0;
    Swarm__Envelope *r = await_reply(s, w, timeout_ms, &bad);
    int code = 0;
    if (r) code = r->payload_case == SWARM__ENVELOPE__PAYLOAD_ERROR ? (int)r->error->code : -1;
    wire_free(r);
    zmq_close(s);
    return code;
}

static int raw1(env_t *e, const char *ep, const void *buf, size_t len, fake_worker *w)
{
    const void *p[1] = {buf};
    size_t l[1] = {len};
    return raw_exchange(e, ep, p, l, 1, w, 2000);
}

static size_t pack(const Swarm__Envelope *env, uint8_t **out)
{
    size_t n = protobuf_c_message_get_packed_size(&env->base);
    *out = malloc(n ? n : 1);
    protobuf_c_message_pack(&env->base, *out);
    return n;
}

/* Every kind of bad input on one endpoint; `wrong` is a payload valid only on the other. */
static void bad_frames(env_t *e, const char *ep, fake_worker *w, const Swarm__Envelope *wrong)
{
    CHECK(raw1(e, ep, "hello, not protobuf", 19, w) == WIRE_E_PARSE);
    CHECK(raw1(e, ep, "", 0, w) == WIRE_E_PARSE);

    Swarm__Envelope env;
    Swarm__Status st;
    char *ids[1] = {"j-some-job-id-0000"};
    wire_envelope_init(&env, "cli:test", 9);
    swarm__status__init(&st);
    st.job_ids = ids;
    st.n_job_ids = 1;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_STATUS;
    env.status = &st;
    uint8_t *buf;
    size_t n = pack(&env, &buf);
    CHECK(raw1(e, ep, buf, n - 3, w) == WIRE_E_PARSE); /* truncated */
    free(buf);

    env.version = 7;
    n = pack(&env, &buf);
    CHECK(raw1(e, ep, buf, n, w) == WIRE_E_VERSION);
    free(buf);

    Swarm__Envelope empty;
    wire_envelope_init(&empty, "cli:test", 10);
    n = pack(&empty, &buf);
    CHECK(raw1(e, ep, buf, n, w) == WIRE_E_EMPTY);
    free(buf);

    env.version = WIRE_VERSION;
    n = pack(&env, &buf);
    const void *parts[2] = {buf, buf};
    size_t lens[2] = {n, n};
    CHECK(raw_exchange(e, ep, parts, lens, 2, w, 2000) == WIRE_E_FRAMES);
    free(buf);

    n = pack(wrong, &buf);
    CHECK(raw1(e, ep, buf, n, w) == WIRE_E_UNEXPECTED);
    free(buf);

    /* Oversize: libzmq drops it and the connection; no reply, nothing breaks. */
    size_t big = WIRE_MAX_MSG + 1024;
    uint8_t *huge = calloc(1, big);
    const void *hp[1] = {huge};
    size_t hl[1] = {big};
    CHECK(raw_exchange(e, ep, hp, hl, 1, w, 300) == 0);
    free(huge);
}

static uint64_t counter(const Swarm__Status *s, const char *name)
{
    for (size_t i = 0; i < s->n_counters; i++)
        if (!strcmp(s->counters[i]->name, name)) return s->counters[i]->value;
    return (uint64_t)-1;
}

/* One request on a fresh client DEALER and its reply (3 s, pumping w
 * meanwhile); NULL on no reply. */
static Swarm__Envelope *client_call(env_t *e, Swarm__Envelope *req, fake_worker *w)
{
    void *s = dealer(e, e->client_ep);
    send_env(s, req);
    int bad;
    Swarm__Envelope *r = await_reply(s, w, 3000, &bad);
    zmq_close(s);
    return r;
}

/* Status of one job (or all when job is NULL); NULL on no reply. */
static Swarm__Envelope *status_call(env_t *e, const char *job, bool with_result, fake_worker *w)
{
    Swarm__Envelope env;
    Swarm__Status st;
    char *ids[1] = {(char *)job};
    wire_envelope_init(&env, "cli:test", 42);
    swarm__status__init(&st);
    st.job_ids = job ? ids : NULL;
    st.n_job_ids = job ? 1 : 0;
    st.with_result = with_result;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_STATUS;
    env.status = &st;
    Swarm__Envelope *r = client_call(e, &env, w);
    if (r && r->correlation_id != 42) CHECK(r->correlation_id == 42);
    return r;
}

static int submit(env_t *e, const char *json, char *job_id, size_t len, fake_worker *w)
{
    Swarm__Envelope env;
    Swarm__Submit sub;
    wire_envelope_init(&env, "cli:test", 5);
    swarm__submit__init(&sub);
    sub.job_json = (char *)json;
    sub.base_dir = e->fx.dir;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_SUBMIT;
    env.submit = &sub;
    Swarm__Envelope *r = client_call(e, &env, w);
    int rc = -1;
    if (r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS && r->status->n_jobs == 1) {
        snprintf(job_id, len, "%s", r->status->jobs[0]->job_id);
        CHECK(r->correlation_id == 5);
        rc = 0;
    } else if (r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_ERROR) {
        snprintf(job_id, len, "%s", r->error->message);
        rc = -(int)r->error->code;
    }
    wire_free(r);
    return rc;
}

/* Wait for a terminal job; returns its result JSON (malloc'd) or NULL. */
static char *wait_job(env_t *e, const char *job, fake_worker *w, int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    while (now_ms() < end) {
        Swarm__Envelope *r = status_call(e, job, true, w);
        if (r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS && r->status->n_jobs == 1) {
            const Swarm__JobStatus *j = r->status->jobs[0];
            if (strcmp(j->state, "running") != 0 && j->result_json[0]) {
                char *res = strdup(j->result_json);
                wire_free(r);
                return res;
            }
        }
        wire_free(r);
        pump_for(w, 50);
    }
    return NULL;
}

/* Every task exactly once, in order, each output echoing its item. */
static void check_result(const char *json, const char *const *items, int n)
{
    cJSON *res = json ? cJSON_Parse(json) : NULL;
    CHECK(res != NULL);
    if (!res) return;
    CHECK(!strcmp(cJSON_GetObjectItem(res, "state")->valuestring, "done"));
    CHECK(cJSON_GetObjectItem(res, "done")->valueint == n);
    cJSON *results = cJSON_GetObjectItem(res, "results");
    CHECK(cJSON_GetArraySize(results) == n);
    for (int i = 0; i < n && i < cJSON_GetArraySize(results); i++) {
        cJSON *x = cJSON_GetArrayItem(results, i);
        char tid[16], out[64];
        snprintf(tid, sizeof tid, "t%04d", i);
        snprintf(out, sizeof out, "echo:%s", items[i]);
        CHECK(!strcmp(cJSON_GetObjectItem(x, "task_id")->valuestring, tid));
        CHECK(!strcmp(cJSON_GetObjectItem(x, "output")->valuestring, out));
        CHECK(cJSON_IsTrue(cJSON_GetObjectItem(x, "ok")));
    }
    cJSON_Delete(res);
}

/* A private Redis, swarmd's endpoints and log in its temp dir, a ZeroMQ context. */
static int env_open(env_t *e)
{
    if (redis_fixture_start(&e->fx) != 0) return -1;
    snprintf(e->client_ep, sizeof e->client_ep, "ipc://%s/client.ipc", e->fx.dir);
    snprintf(e->worker_ep, sizeof e->worker_ep, "ipc://%s/worker.ipc", e->fx.dir);
    snprintf(e->log, sizeof e->log, "%s/swarmd.log", e->fx.dir);
    e->zctx = zmq_ctx_new();
    return e->zctx ? 0 : -1;
}

/* Set swarmd's wall-clock offset (libfaketime reads the file on every call). */
static void clock_offset(const env_t *e, const char *offset)
{
    FILE *f = fopen(e->faketime, "w");
    CHECK(f != NULL, "%s", e->faketime);
    if (!f) return;
    fprintf(f, "%s\n", offset);
    fclose(f);
}

/* Is worker `name` listed by Status? Counts workers.lost into *lost. */
static bool worker_listed(env_t *e, const char *name, fake_worker *w, uint64_t *lost)
{
    bool seen = false;
    Swarm__Envelope *r = status_call(e, NULL, false, w);
    CHECK(r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS);
    if (r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS) {
        for (size_t i = 0; i < r->status->n_workers; i++)
            seen |= !strcmp(r->status->workers[i]->worker_id, name);
        *lost = counter(r->status, "workers.lost");
    }
    wire_free(r);
    return seen;
}

/* The wall clock steps while workers are connected (see the file comment). */
static int clock_step(env_t *e)
{
    snprintf(e->faketime, sizeof e->faketime, "%s/faketime", e->fx.dir);
    clock_offset(e, "+0");
    if (swarmd_start(e) != 0) return 1;
    fake_worker w = {.name = "w-live", .slots = 1};
    fake_worker q = {.name = "w-quiet", .slots = 1};
    w.sock = dealer(e, e->worker_ep);
    q.sock = dealer(e, e->worker_ep);
    fw_register(&w);
    fw_register(&q);
    for (uint64_t until = now_ms() + 10000; !(w.registered && q.registered) && now_ms() < until;)
        pump_two(&w, &q, 20);
    CHECK(w.registered && q.registered);
    uint64_t lost = 0;

    /* An hour ahead: on the wall clock every worker would look silent for an
     * hour and be dropped at the next tick. */
    clock_offset(e, "+1h");
    pump_two(&w, &q, 1500); /* more than 3 heartbeats (200 ms) and several ticks */
    CHECK(worker_listed(e, "w-live", &w, &lost));
    CHECK(worker_listed(e, "w-quiet", &w, &lost));
    CHECK_EQ(lost, 0);
    CHECK_EQ(w.reregisters, 0);
    CHECK_EQ(q.reregisters, 0);

    /* Two hours back while w-quiet stops talking: on the wall clock it would
     * look seen in the future and never be dropped; on the monotonic clock it
     * goes after 3 heartbeats, and w-live stays. */
    clock_offset(e, "-1h");
    bool gone = false;
    for (uint64_t until = now_ms() + 5000; !gone && now_ms() < until;) {
        pump_for(&w, 100);
        gone = !worker_listed(e, "w-quiet", &w, &lost);
    }
    CHECK(gone, "a silent worker was not dropped after a backward clock step");
    CHECK_EQ(lost, 1);
    CHECK(worker_listed(e, "w-live", &w, &lost));
    CHECK_EQ(w.reregisters, 0);

    int st = swarmd_stop(e, SIGTERM);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    zmq_close(w.sock);
    zmq_close(q.sock);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (argc > 2 && (argc != 4 || strcmp(argv[2], "--clock-step") != 0))) {
        fprintf(stderr,
                "usage: test_swarmd PATH/TO/swarmd [--clock-step PATH/TO/libfaketime.so.1]\n");
        return 2;
    }
    env_t e = {.swarmd_bin = argv[1]};
    if (argc == 4) {
        if (access(argv[3], R_OK) != 0) {
            /* a test dependency (Debian package libfaketime), like tmux for the tui tests */
            const char *ci = getenv("CI");
            fprintf(stderr,
                    "test_swarmd: libfaketime not found at '%s' (apt-get install libfaketime)%s\n",
                    argv[3], ci && !strcmp(ci, "true") ? "" : ": skipped");
            return ci && !strcmp(ci, "true") ? 1 : 77;
        }
        e.faketime_lib = argv[3];
        if (env_open(&e) != 0) return 1;
        int rc = clock_step(&e);
        swarmd_stop(&e, SIGKILL);
        zmq_ctx_term(e.zctx);
        if (check_fail_count || rc) {
            char cmd[600];
            snprintf(cmd, sizeof cmd, "tail -n 20 '%s' >&2", e.log);
            if (system(cmd) != 0) fprintf(stderr, "(no swarmd log)\n");
        }
        redis_fixture_cleanup(&e.fx);
        return rc ? rc : check_done();
    }
    if (env_open(&e) != 0 || swarmd_start(&e) != 0) return 1;

    fake_worker w = {
        .name = "w-test", .slots = 2, .delay_ms = 200, .send_duplicate = true, .send_stale = true};
    w.sock = dealer(&e, e.worker_ep);
    fw_register(&w);
    /* swarmd may still be starting (slow under sanitizers and load) */
    for (uint64_t until = now_ms() + 10000; !w.registered && now_ms() < until;)
        pump_for(&w, 20);
    CHECK(w.registered);

    /* A job with a bad field is refused, naming the field. */
    char msg[512];
    CHECK(submit(&e,
                 "{\"goal\":\"g\",\"instructions\":\"x {item}\",\"fanout\":{\"items\":[\"a\"]},"
                 "\"budget\":{\"max_tokenz\":3}}",
                 msg, sizeof msg, &w) == -WIRE_E_BAD_REQUEST);
    CHECK(strstr(msg, "budget.max_tokenz") != NULL);

    static const char *const items1[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"};
    char job1[128];
    CHECK(submit(&e,
                 "{\"name\":\"t1\",\"goal\":\"g\",\"instructions\":\"say {item}\","
                 "\"fanout\":{\"items\":[\"alpha\",\"beta\",\"gamma\",\"delta\",\"epsilon\","
                 "\"zeta\"]},\"merge\":\"concat\",\"budget\":{\"max_tokens\":8}}",
                 job1, sizeof job1, &w) == 0);

    /* Bug 5: while t0000 runs, a peer that never registered sends its Result
     * (attempt 1, the only guess that could ever work, and a guessed token),
     * once under its own name and once claiming the holder's: both are
     * rejected and counted, and "FORGED" is never merged. */
    for (uint64_t until = now_ms() + 5000; w.n_run == 0 && now_ms() < until;)
        pump_for(&w, 5);
    CHECK(w.n_run >= 1);
    for (int k = 0; k < 2; k++) {
        void *peer = dealer(&e, e.worker_ep);
        Swarm__Envelope fe;
        Swarm__Result fr;
        wire_envelope_init(&fe, k ? "w-test" : "forger", 9);
        swarm__result__init(&fr);
        fr.job_id = job1;
        fr.task_id = "t0000";
        fr.attempt = 1;
        fr.lease_token = 1u + (uint64_t)k;
        fr.ok = true;
        fr.output = "FORGED";
        fe.payload_case = SWARM__ENVELOPE__PAYLOAD_RESULT;
        fe.result = &fr;
        send_env(peer, &fe);
        int bad = 0;
        Swarm__Envelope *rep = await_reply(peer, &w, 3000, &bad);
        CHECK(rep && rep->payload_case == SWARM__ENVELOPE__PAYLOAD_ERROR &&
              rep->error->code == WIRE_E_UNKNOWN_WORKER);
        wire_free(rep);
        zmq_close(peer);
    }

    /* Bad input on both endpoints while the job runs. */
    Swarm__Envelope reg_env, sub_env;
    Swarm__Register reg;
    Swarm__Submit sub;
    wire_envelope_init(&reg_env, "intruder", 3);
    swarm__register__init(&reg);
    reg.worker_id = "intruder";
    reg.slots = 1;
    reg_env.payload_case = SWARM__ENVELOPE__PAYLOAD_REGISTER;
    reg_env.register_ = &reg;
    wire_envelope_init(&sub_env, "cli:test", 4);
    swarm__submit__init(&sub);
    sub.job_json = "{}";
    sub_env.payload_case = SWARM__ENVELOPE__PAYLOAD_SUBMIT;
    sub_env.submit = &sub;
    bad_frames(&e, e.client_ep, &w, &reg_env);
    bad_frames(&e, e.worker_ep, &w, &sub_env);

    /* A heartbeat from a socket that never registered: told to register. */
    Swarm__Envelope hb_env;
    Swarm__Heartbeat hb;
    wire_envelope_init(&hb_env, "ghost", 6);
    swarm__heartbeat__init(&hb);
    hb.worker_id = "ghost";
    hb_env.payload_case = SWARM__ENVELOPE__PAYLOAD_HEARTBEAT;
    hb_env.heartbeat = &hb;
    uint8_t *hbuf;
    size_t hn = pack(&hb_env, &hbuf);
    CHECK(raw1(&e, e.worker_ep, hbuf, hn, &w) == WIRE_E_UNKNOWN_WORKER);
    free(hbuf);

    /* Status.wait_ms: swarmd holds the answer until the job has ended and its
     * result is stored (pushed, not polled): the one reply says done. */
    {
        void *s = dealer(&e, e.client_ep);
        Swarm__Envelope env;
        Swarm__Status st;
        char *ids[1] = {job1};
        wire_envelope_init(&env, "cli:test", 43);
        swarm__status__init(&st);
        st.job_ids = ids;
        st.n_job_ids = 1;
        st.wait_ms = 15000;
        env.payload_case = SWARM__ENVELOPE__PAYLOAD_STATUS;
        env.status = &st;
        send_env(s, &env);
        int bad;
        Swarm__Envelope *r = await_reply(s, &w, 20000, &bad);
        CHECK(r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS && r->status->n_jobs == 1);
        if (r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS && r->status->n_jobs == 1) {
            CHECK(!strcmp(r->status->jobs[0]->state, "done"));
            CHECK(r->status->jobs[0]->result_size > 0);
        }
        wire_free(r);
        zmq_close(s);
    }
    char *res1 = wait_job(&e, job1, &w, 15000);
    check_result(res1, items1, 6);
    free(res1);

    Swarm__Envelope *st = status_call(&e, NULL, false, &w);
    CHECK(st && st->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS);
    if (st && st->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS) {
        const Swarm__Status *s = st->status;
        const char *eps[2] = {"client", "worker"};
        for (int k = 0; k < 2; k++) {
            char name[64];
            snprintf(name, sizeof name, "%s.bad_parse", eps[k]);
            CHECK(counter(s, name) == 3);
            snprintf(name, sizeof name, "%s.bad_version", eps[k]);
            CHECK(counter(s, name) == 1);
            snprintf(name, sizeof name, "%s.bad_empty", eps[k]);
            CHECK(counter(s, name) == 1);
            snprintf(name, sizeof name, "%s.bad_frames", eps[k]);
            CHECK(counter(s, name) == 1);
            snprintf(name, sizeof name, "%s.unexpected", eps[k]);
            CHECK(counter(s, name) == 1);
        }
        CHECK(counter(s, "worker.unknown_sender") == 3);
        CHECK(counter(s, "results.rejected") == 2);
        CHECK(counter(s, "results.accepted") == 6);
        CHECK(counter(s, "results.duplicate") == 1);
        CHECK(counter(s, "results.stale") == 1);
        CHECK(s->n_workers == 1 && !strcmp(s->workers[0]->worker_id, "w-test"));
        CHECK(s->n_jobs == 1);
    }
    wire_free(st);

    /* A spray of random messages (random sizes, bytes and frame counts) on
     * both endpoints: swarmd answers or drops each and keeps serving. */
    unsigned seed = 2026;
    const char *eps2[2] = {e.client_ep, e.worker_ep};
    for (int k = 0; k < 2; k++) {
        void *s = dealer(&e, eps2[k]);
        uint8_t junk[512];
        for (int m = 0; m < 300; m++) {
            int frames = 1 + (int)(rand_r(&seed) % 3);
            for (int f = 0; f < frames; f++) {
                size_t len = (size_t)(rand_r(&seed) % sizeof junk);
                for (size_t b = 0; b < len; b++)
                    junk[b] = (uint8_t)rand_r(&seed);
                if (len > 1 && rand_r(&seed) % 4 == 0)
                    junk[0] = 0x08, junk[1] = 0x01; /* version 1 */
                zmq_send(s, junk, len, f + 1 < frames ? ZMQ_SNDMORE : 0);
            }
        }
        pump_for(&w, 200);
        zmq_close(s);
    }
    Swarm__Envelope *after = status_call(&e, NULL, false, &w);
    CHECK(after && after->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS);
    wire_free(after);

    /* kill -9 mid-job, restart: the job still completes, each task once. */
    w.delay_ms = 250;
    static const char *const items2[] = {"a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"};
    char job2[128];
    CHECK(submit(&e,
                 "{\"name\":\"t2\",\"goal\":\"g\",\"instructions\":\"say {item}\","
                 "\"fanout\":{\"items\":[\"a1\",\"a2\",\"a3\",\"a4\",\"a5\",\"a6\",\"a7\","
                 "\"a8\"]},\"budget\":{\"max_attempts\":5}}",
                 job2, sizeof job2, &w) == 0);
    int sent0 = w.results_sent;
    uint64_t end = now_ms() + 5000;
    while (w.results_sent < sent0 + 2 && now_ms() < end)
        pump_for(&w, 10);
    CHECK(w.results_sent >= sent0 + 2);
    swarmd_stop(&e, SIGKILL);
    pump_for(&w, 300);
    CHECK(swarmd_start(&e) == 0);
    char *res2 = wait_job(&e, job2, &w, 20000);
    check_result(res2, items2, 8);
    free(res2);
    CHECK(w.reregisters >= 1);

    /* Two workers share a job fairly; then one goes silent holding tasks: it is
     * declared dead after 3 heartbeats and its tasks finish on the other. */
    {
        fake_worker w2 = {.name = "w-two", .slots = 2, .delay_ms = 150};
        w2.sock = dealer(&e, e.worker_ep);
        fw_register(&w2);
        for (uint64_t until = now_ms() + 5000; !w2.registered && now_ms() < until;)
            pump_two(&w, &w2, 20);
        CHECK(w2.registered);
        w.delay_ms = 150;
        int a1 = w.assigns;
        static const char *const items5[] = {"f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8"};
        char job5[128];
        CHECK(submit(&e,
                     "{\"goal\":\"g\",\"instructions\":\"{item}\","
                     "\"fanout\":{\"items\":[\"f1\",\"f2\",\"f3\",\"f4\",\"f5\",\"f6\","
                     "\"f7\",\"f8\"]}}",
                     job5, sizeof job5, &w) == 0);
        uint64_t until = now_ms() + 3000;
        while ((w2.n_run < 1 || w2.results_sent < 1) && now_ms() < until)
            pump_two(&w, &w2, 5);
        int held = (int)w2.n_run;
        CHECK(w2.results_sent >= 1 && held >= 1);
        CHECK(w2.assigns >= 2 && w.assigns - a1 >= 2); /* both workers got work */
        /* w2 goes silent (no heartbeats, no results) with 2 tasks */
        char *res5 = wait_job(&e, job5, &w, 15000);
        check_result(res5, items5, 8);
        if (res5) {
            cJSON *r = cJSON_Parse(res5);
            int retried = 0;
            cJSON *x;
            cJSON_ArrayForEach(x, cJSON_GetObjectItem(r, "results"))
            {
                if (cJSON_GetObjectItem(x, "attempt")->valueint == 2) {
                    retried++;
                    CHECK(!strcmp(cJSON_GetObjectItem(x, "worker")->valuestring, "w-test"));
                }
            }
            /* what w2 held, plus any Assign still unread in its queue */
            CHECK(retried >= held && retried >= 1);
            cJSON_Delete(r);
        }
        free(res5);
        Swarm__Envelope *ws = status_call(&e, NULL, false, &w);
        if (ws && ws->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS) {
            CHECK(ws->status->n_workers == 1);
            CHECK(counter(ws->status, "workers.lost") == 1);
        }
        wire_free(ws);
        zmq_close(w2.sock);
    }

    /* Bug 6: a peer that registers 64 slots, heartbeats without listing its
     * tasks and never answers is quarantined (no more work) and the leases it
     * swallowed do not burn attempts: with max_attempts 1 every task still
     * ends done, on the honest worker. */
    {
        fake_worker g = {.name = "w-greedy", .slots = 64, .greedy = true};
        g.sock = dealer(&e, e.worker_ep);
        fw_register(&g);
        for (uint64_t until = now_ms() + 5000; !g.registered && now_ms() < until;)
            pump_two(&w, &g, 20);
        CHECK(g.registered);
        w.delay_ms = 20;
        static const char *const items6[] = {"g1", "g2", "g3", "g4", "g5",
                                             "g6", "g7", "g8", "g9", "g10"};
        char job6[128];
        CHECK(submit(&e,
                     "{\"goal\":\"g\",\"instructions\":\"{item}\",\"budget\":{\"max_attempts\":1},"
                     "\"fanout\":{\"items\":[\"g1\",\"g2\",\"g3\",\"g4\",\"g5\",\"g6\","
                     "\"g7\",\"g8\",\"g9\",\"g10\"]}}",
                     job6, sizeof job6, &w) == 0);
        char *res6 = NULL;
        for (uint64_t until = now_ms() + 20000; !res6 && now_ms() < until;) {
            pump_two(&w, &g, 50);
            Swarm__Envelope *r = status_call(&e, job6, true, &w);
            if (r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS && r->status->n_jobs == 1 &&
                r->status->jobs[0]->result_size)
                res6 = strdup(r->status->jobs[0]->result_json);
            wire_free(r);
        }
        CHECK(g.assigns >= 3); /* it did take work before it was caught */
        check_result(res6, items6, 10);
        free(res6);
        Swarm__Envelope *ws = status_call(&e, NULL, false, &w);
        CHECK(ws && ws->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS);
        if (ws && ws->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS) {
            bool seen = false;
            for (size_t i = 0; i < ws->status->n_workers; i++) {
                const Swarm__WorkerStatus *x = ws->status->workers[i];
                if (!strcmp(x->worker_id, "w-greedy")) {
                    seen = true;
                    CHECK(x->quarantined && strstr(x->quarantine_reason, "without answering"));
                } else {
                    CHECK(!x->quarantined);
                }
            }
            CHECK(seen);
            CHECK(counter(ws->status, "workers.quarantined") == 1);
        }
        wire_free(ws);
        int taken = g.assigns;
        pump_two(&w, &g, 600); /* quarantined: nothing more comes its way */
        CHECK(g.assigns == taken);
        zmq_close(g.sock);
    }

    /* Cancel a running job: the worker is told to stop, the job ends cancelled. */
    w.delay_ms = 60000;
    char job4[128];
    CHECK(submit(&e,
                 "{\"goal\":\"g\",\"instructions\":\"{item}\","
                 "\"fanout\":{\"items\":[\"c1\",\"c2\",\"c3\",\"c4\"]}}",
                 job4, sizeof job4, &w) == 0);
    end = now_ms() + 3000;
    while (w.n_run < 2 && now_ms() < end)
        pump_for(&w, 10);
    CHECK(w.n_run == 2);
    int cancels0 = w.cancels;
    {
        void *s = dealer(&e, e.client_ep);
        Swarm__Envelope env;
        Swarm__Cancel can;
        wire_envelope_init(&env, "cli:test", 77);
        swarm__cancel__init(&can);
        can.job_id = job4;
        env.payload_case = SWARM__ENVELOPE__PAYLOAD_CANCEL;
        env.cancel = &can;
        send_env(s, &env);
        int bad;
        Swarm__Envelope *r = await_reply(s, &w, 3000, &bad);
        CHECK(r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS && r->correlation_id == 77);
        if (r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS && r->status->n_jobs == 1)
            CHECK(!strcmp(r->status->jobs[0]->state, "cancelled"));
        wire_free(r);
        /* an unknown job is a bad request */
        can.job_id = "j-does-not-exist";
        send_env(s, &env);
        r = await_reply(s, &w, 3000, &bad);
        CHECK(r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_ERROR &&
              r->error->code == WIRE_E_BAD_REQUEST);
        wire_free(r);
        zmq_close(s);
    }
    pump_for(&w, 200);
    CHECK(w.cancels == cancels0 + 2 && w.n_run == 0);
    {
        Swarm__Envelope *r = status_call(&e, job4, true, &w);
        CHECK(r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS);
        if (r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS && r->status->n_jobs == 1) {
            const Swarm__JobStatus *j = r->status->jobs[0];
            CHECK(!strcmp(j->state, "cancelled") && j->cancelled == 4);
            CHECK(strstr(j->result_json, "\"state\":\"cancelled\"") != NULL);
        }
        wire_free(r);
    }

    /* Redis goes away: requests fail with a clear Error, swarmd keeps running,
     * reconnects when Redis is back, and new work flows again. */
    redis_fixture_stop(&e.fx);
    pump_for(&w, 300);
    Swarm__Envelope *down = status_call(&e, NULL, false, &w);
    CHECK(down && down->payload_case == SWARM__ENVELOPE__PAYLOAD_ERROR);
    if (down && down->payload_case == SWARM__ENVELOPE__PAYLOAD_ERROR) {
        CHECK(down->error->code == WIRE_E_INTERNAL);
        CHECK(strstr(down->error->message, "redis") != NULL);
    }
    wire_free(down);
    CHECK(redis_fixture_start(&e.fx) == 0);
    w.delay_ms = 10;
    char job3[128] = "";
    int rc3 = -1;
    end = now_ms() + 15000;
    while (rc3 != 0 && now_ms() < end) {
        rc3 = submit(&e,
                     "{\"goal\":\"g\",\"instructions\":\"{item}\","
                     "\"fanout\":{\"items\":[\"after\"]}}",
                     job3, sizeof job3, &w);
        if (rc3 != 0) pump_for(&w, 100);
    }
    CHECK(rc3 == 0);
    static const char *const items3[] = {"after"};
    char *res3 = rc3 == 0 ? wait_job(&e, job3, &w, 10000) : NULL;
    check_result(res3, items3, 1);
    free(res3);

    /* SIGTERM: a clean exit with status 0. */
    int stt = swarmd_stop(&e, SIGTERM);
    CHECK(WIFEXITED(stt) && WEXITSTATUS(stt) == 0);
    zmq_close(w.sock);
    zmq_ctx_term(e.zctx);
    if (check_fail_count || getenv("SWARM_TEST_VERBOSE")) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "tail -n %d '%s' >&2", check_fail_count ? 40 : 400, e.log);
        if (system(cmd) != 0) fprintf(stderr, "(no swarmd log)\n");
    }
    redis_fixture_cleanup(&e.fx);
    if (check_fail_count)
        fprintf(stderr, "%d check(s) failed\n", check_fail_count);
    else
        printf("test_swarmd: all checks passed\n");
    return check_fail_count ? 1 : 0;
}
