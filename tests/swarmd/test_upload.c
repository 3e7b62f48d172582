/* test_upload.c - a job's items uploaded in parts (SubmitBegin, SubmitChunk,
 * SubmitEnd) and planning off swarmd's event loop, against a real swarmd and
 * redis-server over real ZeroMQ sockets.
 *
 * Uploads: a good one makes a job only at SubmitEnd (nothing is visible
 * before); each bad part gets its named Error and discards the upload with
 * what it staged (unknown upload, out of order, too large, bad items, more
 * or fewer items than announced, a client that goes silent: discarded after
 * --upload-timeout-ms); another client's part is refused without harm; swarmd
 * answers Status after all of it.
 *
 * Off the loop: a fanout.lines job naming a FIFO blocks its planner in
 * fopen() until the test opens the other end. Meanwhile a worker holding a
 * lease heartbeats every 100 ms (lease 600 ms) and Status requests are timed:
 * a planner on the loop would freeze both for 2 s. Usage: test_upload SWARMD */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zmq.h>

#include "../common/check.h"
#include "../common/redis_fixture.h"
#include "wire.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

typedef struct env_t {
    redis_fixture fx;
    char client_ep[400], worker_ep[400], log[400];
    pid_t swarmd;
    void *zctx;
} env_t;

static void *dealer(env_t *e, const char *ep)
{
    void *s = zmq_socket(e->zctx, ZMQ_DEALER);
    wire_socket_setup(s, false);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(s, ep);
    return s;
}

/* One request, its reply (NULL on timeout). */
static Swarm__Envelope *call(void *sock, Swarm__Envelope *req, int timeout_ms)
{
    static uint64_t corr = 100; /* test-local sequence */
    char err[200];
    wire_envelope_stamp(req, "cli:test", ++corr);
    if (wire_send(sock, NULL, 0, req, 0, err, sizeof err) != 0) {
        fprintf(stderr, "send: %s\n", err);
        return NULL;
    }
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    while (now_ms() < end) {
        zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
        zmq_poll(&it, 1, 20);
        Swarm__Envelope *env = NULL;
        int rc = wire_recv(sock, false, NULL, NULL, &env, err, sizeof err);
        if (rc == 1) continue;
        if (rc < 0) return NULL;
        if (env->correlation_id == corr) return env;
        wire_free(env);
    }
    return NULL;
}

/* The reply's Error message ("" if it is not an Error). */
static const char *error_of(const Swarm__Envelope *r)
{
    return r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_ERROR ? r->error->message : "";
}

static Swarm__Envelope *begin(void *sock, const char *job, uint64_t total)
{
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    Swarm__SubmitBegin b = SWARM__SUBMIT_BEGIN__INIT;
    b.job_json = (char *)job;
    b.base_dir = "/tmp";
    b.items_total = total;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_SUBMIT_BEGIN;
    env.submit_begin = &b;
    return call(sock, &env, 10000);
}

static Swarm__Envelope *chunk(void *sock, const char *upload, uint64_t seq, const char *items)
{
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    Swarm__SubmitChunk c = SWARM__SUBMIT_CHUNK__INIT;
    c.upload_id = (char *)upload;
    c.seq = seq;
    c.items_json = (char *)items;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_SUBMIT_CHUNK;
    env.submit_chunk = &c;
    return call(sock, &env, 10000);
}

static Swarm__Envelope *end_upload(void *sock, const char *upload, uint64_t chunks)
{
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    Swarm__SubmitEnd e = SWARM__SUBMIT_END__INIT;
    e.upload_id = (char *)upload;
    e.chunks = chunks;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_SUBMIT_END;
    env.submit_end = &e;
    return call(sock, &env, 10000);
}

/* Begins an upload of total items: its id in id (empty on failure). */
static void begin_ok(void *sock, uint64_t total, char *id, size_t cap)
{
    Swarm__Envelope *r = begin(sock,
                               "{\"goal\":\"g\",\"instructions\":\"say {item}\","
                               "\"fanout\":{\"items\":[]}}",
                               total);
    id[0] = 0;
    CHECK(r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_SUBMIT_ACK, "SubmitBegin: %s",
          error_of(r));
    if (r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_SUBMIT_ACK) {
        snprintf(id, cap, "%s", r->submit_ack->upload_id);
        CHECK_EQ(r->submit_ack->next_seq, 0);
    }
    wire_free(r);
}

/* Expect an Error whose message holds want. */
static void expect_error(Swarm__Envelope *r, const char *want)
{
    CHECK(r != NULL, "no answer (want an Error with \"%s\")", want);
    CHECK(r && strstr(error_of(r), want), "Error \"%s\" does not say \"%s\"", error_of(r), want);
    if (r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_ERROR)
        CHECK_EQ(r->error->code, WIRE_E_BAD_REQUEST);
    wire_free(r);
}

static void expect_ack(Swarm__Envelope *r, uint64_t next_seq, uint64_t items)
{
    CHECK(r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_SUBMIT_ACK, "want SubmitAck: %s",
          error_of(r));
    if (r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_SUBMIT_ACK) {
        CHECK_EQ(r->submit_ack->next_seq, next_seq);
        CHECK_EQ(r->submit_ack->items, items);
    }
    wire_free(r);
}

/* Status of every job: how many there are (-1 on no answer); the counter
 * name's value in *counter when asked. */
static int status_jobs(void *sock, const char *counter, uint64_t *value)
{
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    Swarm__Status st = SWARM__STATUS__INIT;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_STATUS;
    env.status = &st;
    Swarm__Envelope *r = call(sock, &env, 10000);
    if (!r || r->payload_case != SWARM__ENVELOPE__PAYLOAD_STATUS) {
        wire_free(r);
        return -1;
    }
    int n = (int)r->status->n_jobs;
    for (size_t i = 0; counter && i < r->status->n_counters; i++)
        if (!strcmp(r->status->counters[i]->name, counter)) *value = r->status->counters[i]->value;
    wire_free(r);
    return n;
}

static long long redis_int(env_t *e, const char *cmd)
{
    redisContext *c = redisConnectUnix(e->fx.sock);
    redisReply *r = c && !c->err ? redisCommand(c, cmd) : NULL;
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    if (c) redisFree(c);
    return v;
}

static bool log_has(env_t *e, const char *want)
{
    FILE *f = fopen(e->log, "r");
    char line[2048];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, want) != NULL;
    if (f) fclose(f);
    return found;
}

static void uploads(env_t *e)
{
    void *c = dealer(e, e->client_ep), *other = dealer(e, e->client_ep);
    char id[64], msg[200];
    int jobs0 = status_jobs(c, NULL, NULL);
    CHECK(jobs0 >= 0, "swarmd does not answer Status");

    /* a good upload: no job until SubmitEnd */
    begin_ok(c, 3, id, sizeof id);
    expect_ack(chunk(c, id, 0, "[\"a\", \"b\"]"), 1, 2);
    CHECK_EQ(redis_int(e, "ZCARD t:submitting"), 1); /* staged ... */
    CHECK_EQ(status_jobs(c, NULL, NULL), jobs0);     /* ... and invisible */
    expect_ack(chunk(c, id, 1, "[\"c\"]"), 2, 3);
    Swarm__Envelope *r = end_upload(c, id, 2);
    CHECK(r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS && r->status->n_jobs == 1,
          "SubmitEnd: %s", error_of(r));
    if (r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS && r->status->n_jobs == 1)
        CHECK_EQ(r->status->jobs[0]->total, 3);
    wire_free(r);
    CHECK_EQ(status_jobs(c, NULL, NULL), jobs0 + 1);
    CHECK_EQ(redis_int(e, "ZCARD t:submitting"), 0);
    /* an ended upload takes no more parts */
    expect_error(chunk(c, id, 2, "[\"d\"]"), "unknown upload");

    /* never begun */
    expect_error(chunk(c, "u0123456789abcdef", 0, "[\"x\"]"), "SubmitChunk: unknown upload");
    expect_error(end_upload(c, "nope", 0), "SubmitEnd: unknown upload");

    /* SubmitBegin's own checks */
    expect_error(begin(c,
                       "{\"goal\":\"g\",\"instructions\":\"say {item}\",\"fanout\":{\"items\":"
                       "[\"inline\"]}}",
                       1),
                 "must hold \"items\": []");
    expect_error(begin(c, "{\"goal\":\"g\",\"instructions\":\"x\",\"fanout\":{\"items\":[]}}", 2),
                 "never mention {item}");
    expect_error(begin(c,
                       "{\"goal\":\"g\",\"instructions\":\"{item}\",\"fanout\":{\"items\":[]},"
                       "\"budget\":{\"max_subtasks\":10}}",
                       11),
                 "11 items exceed budget.max_subtasks 10");
    expect_error(begin(c,
                       "{\"goal\":\"g\",\"instructions\":\"{item}\",\"fanout\":{\"lines\":"
                       "\"x.txt\"}}",
                       1),
                 "a streamed job fans out over items");

    /* out of order: refused and the upload is gone, with what it staged */
    begin_ok(c, 4, id, sizeof id);
    expect_ack(chunk(c, id, 0, "[\"a\"]"), 1, 1);
    expect_error(chunk(c, id, 2, "[\"b\"]"),
                 "chunk seq 2 out of order (expected 1); upload discarded");
    expect_error(chunk(c, id, 1, "[\"b\"]"), "unknown upload");
    for (uint64_t until = now_ms() + 5000;
         redis_int(e, "ZCARD t:submitting") != 0 && now_ms() < until;)
        fixture_sleep_ms(20);
    CHECK_EQ(redis_int(e, "ZCARD t:submitting"), 0);

    /* too large: a 5 MiB chunk (under the 8 MiB message cap) */
    begin_ok(c, 2, id, sizeof id);
    size_t big = 5u << 20;
    char *huge = malloc(big + 8);
    if (huge) {
        memset(huge, 'x', big + 8);
        memcpy(huge, "[\"", 2);
        memcpy(huge + big + 2, "\"]", 3);
        expect_error(chunk(c, id, 0, huge), "too large");
        free(huge);
    }
    expect_error(chunk(c, id, 0, "[\"a\"]"), "unknown upload");

    /* bad items: not a string, a NUL, invalid UTF-8, more than announced */
    begin_ok(c, 2, id, sizeof id);
    expect_error(chunk(c, id, 0, "[\"a\", 7]"), "fanout.items[1]: expected a string");
    begin_ok(c, 2, id, sizeof id);
    expect_error(chunk(c, id, 0, "[\"a\\u0000b\"]"), "NUL");
    begin_ok(c, 2, id, sizeof id);
    expect_error(chunk(c, id, 0, "[\"a\xff\"]"), "not valid UTF-8");
    begin_ok(c, 2, id, sizeof id);
    expect_error(chunk(c, id, 0, "[\"a\", \"b\", \"c\"]"), "1 more than the 2 announced");
    begin_ok(c, 2, id, sizeof id);
    expect_error(chunk(c, id, 0, "{\"a\": 1}"), "expected a JSON array of strings");

    /* fewer than announced at SubmitEnd */
    begin_ok(c, 3, id, sizeof id);
    expect_ack(chunk(c, id, 0, "[\"a\", \"b\"]"), 1, 2);
    expect_error(end_upload(c, id, 1),
                 "2 item(s) received, 1 chunk(s) sent and 3 item(s) announced");

    /* another client cannot touch an upload; its owner carries on */
    begin_ok(c, 2, id, sizeof id);
    expect_error(chunk(other, id, 0, "[\"a\", \"b\"]"), "belongs to another client");
    expect_ack(chunk(c, id, 0, "[\"a\", \"b\"]"), 1, 2);

    /* ... then goes silent: discarded after --upload-timeout-ms (500) with
     * what it staged */
    CHECK_EQ(redis_int(e, "ZCARD t:submitting"), 1);
    for (uint64_t until = now_ms() + 8000;
         redis_int(e, "ZCARD t:submitting") != 0 && now_ms() < until;)
        fixture_sleep_ms(50);
    CHECK_EQ(redis_int(e, "ZCARD t:submitting"), 0);
    snprintf(msg, sizeof msg, "upload %s (job ", id);
    CHECK(log_has(e, msg) && log_has(e, "discarded: no part for"),
          "swarmd's log does not say upload %s was discarded for silence", id);
    expect_error(end_upload(c, id, 1), "unknown upload");

    /* nothing half-submitted became a job, and swarmd still serves */
    CHECK_EQ(status_jobs(c, NULL, NULL), jobs0 + 1);
    CHECK(kill(e->swarmd, 0) == 0, "swarmd died");
    zmq_close(c);
    zmq_close(other);
}

/* ---- off the loop: a planner blocked on a FIFO ---- */

typedef struct fake_worker {
    void *sock;
    char job[64], task[32];
    uint32_t attempt;
    uint64_t token;
    int assigns;
} fake_worker;

static void fw_send_hb(fake_worker *w)
{
    Swarm__Envelope env;
    Swarm__Heartbeat h;
    Swarm__TaskRef ref, *rp = &ref;
    char err[128];
    wire_envelope_init(&env, "w-up", 0);
    swarm__heartbeat__init(&h);
    h.worker_id = "w-up";
    swarm__task_ref__init(&ref);
    ref.job_id = w->job;
    ref.task_id = w->task;
    ref.attempt = w->attempt;
    ref.lease_token = w->token;
    h.running = &rp;
    h.n_running = w->assigns ? 1 : 0;
    h.free_slots = w->assigns ? 0 : 1;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_HEARTBEAT;
    env.heartbeat = &h;
    wire_send(w->sock, NULL, 0, &env, 0, err, sizeof err);
}

static void fw_pump(fake_worker *w)
{
    for (;;) {
        Swarm__Envelope *env = NULL;
        char err[128];
        int rc = wire_recv(w->sock, false, NULL, NULL, &env, err, sizeof err);
        if (rc != 0) break;
        if (env->payload_case == SWARM__ENVELOPE__PAYLOAD_ASSIGN) {
            w->assigns++;
            snprintf(w->job, sizeof w->job, "%s", env->assign->job_id);
            snprintf(w->task, sizeof w->task, "%s", env->assign->task_id);
            w->attempt = env->assign->attempt;
            w->token = env->assign->lease_token;
            fw_send_hb(w); /* listed at once: the lease is answered */
        } else if (env->payload_case == SWARM__ENVELOPE__PAYLOAD_REGISTER) {
            fw_send_hb(w);
        }
        wire_free(env);
    }
}

static void off_loop(env_t *e)
{
    void *c = dealer(e, e->client_ep);
    fake_worker w = {.sock = dealer(e, e->worker_ep)};
    Swarm__Envelope env;
    Swarm__Register reg;
    char err[128], dir[300], fifo[400], job[800];
    wire_envelope_init(&env, "w-up", 1);
    swarm__register__init(&reg);
    reg.worker_id = "w-up";
    reg.hostname = "test";
    reg.model = "fake";
    reg.slots = 1;
    reg.incarnation = 7;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_REGISTER;
    env.register_ = &reg;
    wire_send(w.sock, NULL, 0, &env, 0, err, sizeof err);

    /* a one-task job whose task the worker holds and never finishes */
    Swarm__Envelope req = SWARM__ENVELOPE__INIT;
    Swarm__Submit sub = SWARM__SUBMIT__INIT;
    sub.job_json =
        "{\"goal\":\"g\",\"instructions\":\"hold {item}\",\"fanout\":{\"items\":[\"x\"]}}";
    sub.base_dir = "/tmp";
    req.payload_case = SWARM__ENVELOPE__PAYLOAD_SUBMIT;
    req.submit = &sub;
    Swarm__Envelope *r = call(c, &req, 10000);
    CHECK(r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS, "Submit: %s", error_of(r));
    wire_free(r);
    uint64_t last_hb = 0;
    for (uint64_t until = now_ms() + 10000; !w.assigns && now_ms() < until;) {
        fw_pump(&w);
        if (now_ms() - last_hb >= 100) fw_send_hb(&w), last_hb = now_ms();
        fixture_sleep_ms(10);
    }
    CHECK(w.assigns == 1, "the held task was not assigned");

    /* the planner opens a FIFO: fopen blocks until a writer comes */
    snprintf(dir, sizeof dir, "%s", e->fx.dir);
    snprintf(fifo, sizeof fifo, "%s/lines.fifo", dir);
    CHECK(mkfifo(fifo, 0600) == 0);
    snprintf(job, sizeof job,
             "{\"goal\":\"g\",\"instructions\":\"{item}\",\"fanout\":{\"lines\":\"%s\"}}", fifo);
    wire_envelope_init(&req, "cli:test", 0);
    req.payload_case = SWARM__ENVELOPE__PAYLOAD_SUBMIT;
    sub.job_json = job;
    req.submit = &sub;
    void *c2 = dealer(e, e->client_ep);
    char serr[128];
    wire_envelope_stamp(&req, "cli:test2", 4242);
    CHECK(wire_send(c2, NULL, 0, &req, 0, serr, sizeof serr) == 0);

    /* 2 s of heartbeats and timed Status requests while it is blocked */
    uint64_t worst = 0, t_end = now_ms() + 2000;
    int answered = 0;
    while (now_ms() < t_end) {
        fw_pump(&w);
        if (now_ms() - last_hb >= 100) fw_send_hb(&w), last_hb = now_ms();
        uint64_t t0 = now_ms();
        int n = status_jobs(c, NULL, NULL);
        uint64_t rtt = now_ms() - t0;
        if (n >= 0) answered++;
        if (rtt > worst) worst = rtt;
        fixture_sleep_ms(50);
    }
    printf("off-loop: %d Status answers while the planner was blocked, worst %llu ms\n", answered,
           (unsigned long long)worst);
    CHECK(answered >= 10, "only %d Status answers in 2 s: the loop is blocked", answered);
    CHECK(worst < 500, "a Status took %llu ms while the planner was blocked",
          (unsigned long long)worst);
    uint64_t expired = 99, lost = 99;
    status_jobs(c, "leases.expired", &expired);
    status_jobs(c, "workers.lost", &lost);
    CHECK_EQ(expired, 0);
    CHECK_EQ(lost, 0);
    CHECK_EQ(w.assigns, 1); /* the held task was never taken away and re-sent */

    /* the writer comes: the planner goes on and refuses a pipe */
    int fd = open(fifo, O_WRONLY | O_NONBLOCK);
    CHECK(fd >= 0, "the planner is not reading the FIFO");
    if (fd >= 0) {
        /* swarmd may have refused the pipe and closed it already (EPIPE) */
        if (write(fd, "a\nb\n", 4) < 0) fprintf(stderr, "(the FIFO was closed first)\n");
        close(fd);
    }
    Swarm__Envelope *rep = NULL;
    for (uint64_t until = now_ms() + 10000; !rep && now_ms() < until;) {
        zmq_pollitem_t it = {c2, 0, ZMQ_POLLIN, 0};
        zmq_poll(&it, 1, 50);
        if (wire_recv(c2, false, NULL, NULL, &rep, serr, sizeof serr) != 0) rep = NULL;
        fw_pump(&w);
    }
    CHECK(rep && strstr(error_of(rep), "not a regular file"), "FIFO job answered: %s",
          rep ? error_of(rep) : "(nothing)");
    wire_free(rep);
    unlink(fifo);
    zmq_close(c2);
    zmq_close(c);
    zmq_close(w.sock);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_upload PATH/TO/swarmd\n");
        return 2;
    }
    env_t e = {0};
    signal(SIGPIPE, SIG_IGN); /* the FIFO's reader may be gone when we write */
    if (redis_fixture_start(&e.fx) != 0) return 1;
    snprintf(e.client_ep, sizeof e.client_ep, "ipc://%s/client.ipc", e.fx.dir);
    snprintf(e.worker_ep, sizeof e.worker_ep, "ipc://%s/worker.ipc", e.fx.dir);
    snprintf(e.log, sizeof e.log, "%s/swarmd.log", e.fx.dir);
    e.zctx = zmq_ctx_new();
    e.swarmd = fork();
    if (e.swarmd == 0) {
        execl(argv[1], argv[1], "--redis", e.fx.addr, "--client", e.client_ep, "--workers",
              e.worker_ep, "--log", e.log, "--heartbeat-ms", "100", "--lease-ms", "600",
              "--upload-timeout-ms", "500", "--prefix", "t:", (char *)NULL);
        _exit(127);
    }
    void *probe = dealer(&e, e.client_ep);
    int up = -1;
    for (uint64_t until = now_ms() + 15000; up < 0 && now_ms() < until;)
        up = status_jobs(probe, NULL, NULL);
    zmq_close(probe);
    CHECK(up >= 0, "swarmd did not come up");
    if (up >= 0) {
        uploads(&e);
        off_loop(&e);
    }
    int st = 0;
    kill(e.swarmd, SIGTERM);
    waitpid(e.swarmd, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "swarmd did not exit cleanly (status %d)", st);
    if (check_fail_count) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "tail -n 30 '%s' >&2", e.log);
        if (system(cmd) != 0) fprintf(stderr, "(no swarmd log)\n");
    }
    zmq_ctx_term(e.zctx);
    redis_fixture_cleanup(&e.fx);
    return check_done();
}
