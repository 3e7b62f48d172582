/* test_batch_proto.c - batched traffic between a real swarmd (real
 * redis-server) and two scripted batch workers over real ZeroMQ sockets.
 *
 * Both workers register with batch set and announce their slots once; they
 * never send another Credit and, once working, their heartbeats say 0 free
 * slots, so the job only finishes if every Result gives its slot back.
 * Checked: swarmd's Register reply says batch; a lease round's Assigns for
 * one worker arrive as ONE AssignBatch envelope (fewer envelopes than
 * Assigns); the Results each worker finishes together go back as ONE
 * ResultBatch and every sub-task is merged exactly once, in order; worker B's
 * ResultBatch carries, beside its own good results, a Result for a task that
 * worker A holds (with A's real lease token): that item is rejected and
 * counted (results.rejected) while B's other items merge; a peer that never
 * registered sends a ResultBatch with the same forged item: told to
 * register, rejected, counted; "FORGED" is never merged. Then a job of
 * 8 lines of 2.5 MB each: a round's Assigns for one worker would exceed
 * WIRE_MAX_MSG together, so they must go as several AssignBatches (none
 * undeliverable) and the job still ends with every line merged once.
 *
 * usage: test_batch_proto PATH/TO/swarmd */
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

#define N_ITEMS 40
#define HB_MS 300
#define N_BIG 8
#define BIG_LINE (2500 * 1000) /* 4 of them (one round for a 4-slot worker) exceed 8 MiB */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

typedef struct bp_task {
    char job[64], task[32], input[128];
    uint32_t attempt;
    uint64_t token, due;
} bp_task;

typedef struct batch_worker {
    void *sock;
    const char *name;
    uint32_t slots;
    uint64_t delay_ms, last_hb;
    bool registered, reply_batch;
    bool stingy; /* heartbeats say 0 free slots once working */
    bp_task run[64];
    size_t n_run;
    int assign_msgs, assigns, batch_msgs, max_batch, over_capacity;
    int result_msgs, results_sent, multi_result_msgs;
    /* a Result for another worker's task, added once to the next ResultBatch */
    bool forge_pending;
    bp_task forge;
} batch_worker;

static void send_env(void *sock, Swarm__Envelope *env)
{
    char err[128];
    if (wire_send(sock, NULL, 0, env, 0, err, sizeof err) != 0) fprintf(stderr, "send: %s\n", err);
}

static void *dealer(void *zctx, const char *ep, const char *id)
{
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    wire_socket_setup(s, false);
    int tmo = 2000;
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
    if (id) zmq_setsockopt(s, ZMQ_ROUTING_ID, id, strlen(id));
    zmq_connect(s, ep);
    return s;
}

static void bw_register(batch_worker *w)
{
    Swarm__Envelope env;
    Swarm__Register r;
    wire_envelope_init(&env, w->name, 1);
    swarm__register__init(&r);
    r.worker_id = (char *)w->name;
    r.hostname = "test";
    r.pid = (uint32_t)getpid();
    r.model = "scripted";
    r.slots = w->slots;
    r.batch = true;
    r.prefetch = 0;
    r.incarnation = (uint64_t)getpid() << 8 | w->slots;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_REGISTER;
    env.register_ = &r;
    send_env(w->sock, &env);
}

static void bw_heartbeat(batch_worker *w)
{
    Swarm__Envelope env;
    Swarm__Heartbeat hb;
    Swarm__TaskRef refs[64], *ptrs[64];
    wire_envelope_init(&env, w->name, 2);
    swarm__heartbeat__init(&hb);
    hb.worker_id = (char *)w->name;
    for (size_t i = 0; i < w->n_run; i++) {
        swarm__task_ref__init(&refs[i]);
        refs[i].job_id = w->run[i].job;
        refs[i].task_id = w->run[i].task;
        refs[i].attempt = w->run[i].attempt;
        refs[i].lease_token = w->run[i].token;
        ptrs[i] = &refs[i];
    }
    hb.n_running = w->n_run;
    hb.running = ptrs;
    /* once working, no credit in heartbeats either (a heartbeat's free_slots
     * resets swarmd's count): only the Results can give slots back */
    hb.free_slots = w->stingy && w->assigns ? 0 : w->slots - (uint32_t)w->n_run;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_HEARTBEAT;
    env.heartbeat = &hb;
    send_env(w->sock, &env);
    w->last_hb = now_ms();
}

static void bw_take(batch_worker *w, const Swarm__Assign *a)
{
    w->assigns++;
    if (w->n_run >= w->slots || w->n_run >= 64) {
        w->over_capacity++; /* swarmd leased more than the slots: a credit leak */
        return;
    }
    bp_task *t = &w->run[w->n_run++];
    snprintf(t->job, sizeof t->job, "%s", a->job_id);
    snprintf(t->task, sizeof t->task, "%s", a->task_id);
    snprintf(t->input, sizeof t->input, "%s", a->input);
    t->attempt = a->attempt;
    t->token = a->lease_token;
    t->due = now_ms() + w->delay_ms;
}

/* Handle what swarmd sent, then answer every due task in ONE ResultBatch. */
static void bw_pump(batch_worker *w)
{
    for (;;) {
        Swarm__Envelope *env = NULL;
        char err[128];
        int rc = wire_recv(w->sock, false, NULL, NULL, &env, err, sizeof err);
        if (rc == 1) break;
        if (rc < 0) continue;
        if (env->payload_case == SWARM__ENVELOPE__PAYLOAD_REGISTER) {
            w->registered = true;
            w->reply_batch = env->register_->batch;
            /* the only Credit this worker ever sends */
            Swarm__Envelope ce;
            Swarm__Credit cr;
            wire_envelope_init(&ce, w->name, 3);
            swarm__credit__init(&cr);
            cr.slots = w->slots;
            ce.payload_case = SWARM__ENVELOPE__PAYLOAD_CREDIT;
            ce.credit = &cr;
            send_env(w->sock, &ce);
        } else if (env->payload_case == SWARM__ENVELOPE__PAYLOAD_ASSIGN) {
            w->assign_msgs++;
            bw_take(w, env->assign);
        } else if (env->payload_case == SWARM__ENVELOPE__PAYLOAD_ASSIGN_BATCH) {
            const Swarm__AssignBatch *b = env->assign_batch;
            w->assign_msgs++;
            w->batch_msgs++;
            if ((int)b->n_assigns > w->max_batch) w->max_batch = (int)b->n_assigns;
            for (size_t i = 0; i < b->n_assigns; i++)
                bw_take(w, b->assigns[i]);
        }
        wire_free(env);
    }
    uint64_t t = now_ms();
    Swarm__Result res[65], *rp[65];
    Swarm__Progress pro;
    Swarm__Progress *pp[1] = {&pro};
    char out[65][160];
    size_t n = 0;
    for (size_t i = 0; i < w->n_run;) {
        if (w->run[i].due > t) {
            i++;
            continue;
        }
        bp_task *k = &w->run[i];
        swarm__result__init(&res[n]);
        snprintf(out[n], sizeof out[n], "echo:%s", k->input);
        res[n].job_id = strdup(k->job);
        res[n].task_id = strdup(k->task);
        res[n].attempt = k->attempt;
        res[n].lease_token = k->token;
        res[n].ok = true;
        res[n].output = out[n];
        res[n].tokens = 1;
        rp[n] = &res[n];
        n++;
        w->run[i] = w->run[--w->n_run];
    }
    if (n == 0) goto heartbeat;
    bool forged = w->forge_pending;
    if (forged) {
        /* another worker's task, its real token: only the sender is wrong */
        swarm__result__init(&res[n]);
        res[n].job_id = strdup(w->forge.job);
        res[n].task_id = strdup(w->forge.task);
        res[n].attempt = w->forge.attempt;
        res[n].lease_token = w->forge.token;
        res[n].ok = true;
        res[n].output = "FORGED";
        rp[n] = &res[n];
        w->forge_pending = false;
    }
    Swarm__Envelope env;
    Swarm__ResultBatch b;
    wire_envelope_init(&env, w->name, 4);
    swarm__result_batch__init(&b);
    b.n_results = n + (forged ? 1 : 0);
    b.results = rp;
    /* a Progress item for the first task rides along (handled before the results) */
    swarm__progress__init(&pro);
    pro.job_id = res[0].job_id;
    pro.task_id = res[0].task_id;
    pro.attempt = res[0].attempt;
    pro.lease_token = res[0].lease_token;
    pro.tokens = 1;
    pro.text_tail = "e";
    b.n_progress = 1;
    b.progress = pp;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_RESULT_BATCH;
    env.result_batch = &b;
    send_env(w->sock, &env);
    w->result_msgs++;
    w->results_sent += (int)n;
    if (n > 1) w->multi_result_msgs++;
    for (size_t i = 0; i < b.n_results; i++) {
        free(res[i].job_id);
        free(res[i].task_id);
    }
heartbeat:
    if (w->registered && now_ms() >= w->last_hb + HB_MS) bw_heartbeat(w);
}

static void pump_both(batch_worker *a, batch_worker *b, int ms)
{
    uint64_t end = now_ms() + (uint64_t)ms;
    do {
        zmq_pollitem_t it[2] = {{a->sock, 0, ZMQ_POLLIN, 0}, {b->sock, 0, ZMQ_POLLIN, 0}};
        zmq_poll(it, 2, 5);
        bw_pump(a);
        bw_pump(b);
    } while (now_ms() < end);
}

/* One request on a fresh client DEALER; its reply within ms (pumping the
 * workers meanwhile). */
static Swarm__Envelope *client_call_ms(void *zctx, const char *ep, Swarm__Envelope *req,
                                       batch_worker *a, batch_worker *b, int ms)
{
    void *s = dealer(zctx, ep, NULL);
    send_env(s, req);
    Swarm__Envelope *r = NULL;
    for (uint64_t end = now_ms() + (uint64_t)ms; !r && now_ms() < end;) {
        char err[128];
        int rc = wire_recv(s, false, NULL, NULL, &r, err, sizeof err);
        if (rc != 0) {
            r = NULL;
            pump_both(a, b, 5);
        }
    }
    zmq_close(s);
    return r;
}

static Swarm__Envelope *client_call(void *zctx, const char *ep, Swarm__Envelope *req,
                                    batch_worker *a, batch_worker *b)
{
    return client_call_ms(zctx, ep, req, a, b, 5000);
}

static Swarm__Envelope *status_call(void *zctx, const char *ep, const char *job, batch_worker *a,
                                    batch_worker *b)
{
    Swarm__Envelope env;
    Swarm__Status st;
    char *ids[1] = {(char *)job};
    wire_envelope_init(&env, "cli:test", 42);
    swarm__status__init(&st);
    st.job_ids = job ? ids : NULL;
    st.n_job_ids = job ? 1 : 0;
    st.with_result = job != NULL;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_STATUS;
    env.status = &st;
    return client_call(zctx, ep, &env, a, b);
}

static uint64_t counter(const Swarm__Status *s, const char *name)
{
    for (size_t i = 0; i < s->n_counters; i++)
        if (!strcmp(s->counters[i]->name, name)) return s->counters[i]->value;
    return (uint64_t)-1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_batch_proto PATH/TO/swarmd\n");
        return 2;
    }
    redis_fixture fx = {0};
    if (redis_fixture_start(&fx) != 0) return 1;
    char client_ep[400], worker_ep[400], log[400], hb[16];
    snprintf(client_ep, sizeof client_ep, "ipc://%s/client.ipc", fx.dir);
    snprintf(worker_ep, sizeof worker_ep, "ipc://%s/worker.ipc", fx.dir);
    snprintf(log, sizeof log, "%s/swarmd.log", fx.dir);
    snprintf(hb, sizeof hb, "%d", HB_MS);
    pid_t swarmd = fork();
    if (swarmd == 0) {
        execl(argv[1], argv[1], "--redis", fx.addr, "--client", client_ep, "--workers", worker_ep,
              "--log", log, "--heartbeat-ms", hb, "--lease-ms", "10000", "--prefix",
              "tb:", (char *)NULL);
        _exit(127);
    }
    void *zctx = zmq_ctx_new();
    batch_worker a = {.name = "wb-a", .slots = 4, .delay_ms = 400, .stingy = true};
    batch_worker b = {.name = "wb-b", .slots = 4, .delay_ms = 20, .stingy = true};
    a.sock = dealer(zctx, worker_ep, a.name);
    b.sock = dealer(zctx, worker_ep, b.name);
    char job[128] = "";
    char *result = NULL;
    /* swarmd may still be starting (slow under sanitizers): register until answered */
    for (uint64_t end = now_ms() + 15000; (!a.registered || !b.registered) && now_ms() < end;) {
        if (!a.registered) bw_register(&a);
        if (!b.registered) bw_register(&b);
        pump_both(&a, &b, 300);
    }
    REQUIRE(a.registered && b.registered, "swarmd did not answer Register");
    CHECK(a.reply_batch && b.reply_batch, "swarmd's Register reply does not say batch");

    /* the job: N_ITEMS items, the sub-tasks echo them */
    cJSON *jo = cJSON_CreateObject(), *fan = cJSON_CreateObject(), *items = cJSON_CreateArray();
    char item[N_ITEMS][32];
    for (int i = 0; i < N_ITEMS; i++) {
        snprintf(item[i], sizeof item[i], "item-%03d", i);
        cJSON_AddItemToArray(items, cJSON_CreateString(item[i]));
    }
    cJSON_AddStringToObject(jo, "name", "batch");
    cJSON_AddStringToObject(jo, "goal", "g");
    cJSON_AddStringToObject(jo, "instructions", "say {item}");
    cJSON_AddItemToObject(fan, "items", items);
    cJSON_AddItemToObject(jo, "fanout", fan);
    cJSON_AddStringToObject(jo, "merge", "concat");
    char *json = cJSON_PrintUnformatted(jo);
    cJSON_Delete(jo);
    Swarm__Envelope se;
    Swarm__Submit sub;
    wire_envelope_init(&se, "cli:test", 5);
    swarm__submit__init(&sub);
    sub.job_json = json;
    sub.base_dir = fx.dir;
    se.payload_case = SWARM__ENVELOPE__PAYLOAD_SUBMIT;
    se.submit = &sub;
    Swarm__Envelope *r = client_call(zctx, client_ep, &se, &a, &b);
    free(json);
    REQUIRE(r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS && r->status->n_jobs == 1,
            "Submit not answered with the job");
    snprintf(job, sizeof job, "%s", r->status->jobs[0]->job_id);
    wire_free(r);

    /* while A holds its first tasks (it answers after 400 ms), B's next
     * ResultBatch carries a Result for one of them */
    for (uint64_t end = now_ms() + 10000; a.n_run == 0 && now_ms() < end;)
        pump_both(&a, &b, 5);
    REQUIRE(a.n_run > 0, "worker A got no work");
    b.forge = a.run[0];
    b.forge_pending = true;
    /* and a peer that never registered sends the same forgery */
    {
        void *peer = dealer(zctx, worker_ep, NULL);
        Swarm__Envelope fe;
        Swarm__ResultBatch fb;
        Swarm__Result fr, *frp[1] = {&fr};
        wire_envelope_init(&fe, "forger", 9);
        swarm__result_batch__init(&fb);
        swarm__result__init(&fr);
        fr.job_id = a.run[0].job;
        fr.task_id = a.run[0].task;
        fr.attempt = a.run[0].attempt;
        fr.lease_token = a.run[0].token;
        fr.ok = true;
        fr.output = "FORGED";
        fb.n_results = 1;
        fb.results = frp;
        fe.payload_case = SWARM__ENVELOPE__PAYLOAD_RESULT_BATCH;
        fe.result_batch = &fb;
        send_env(peer, &fe);
        Swarm__Envelope *rep = NULL;
        for (uint64_t end = now_ms() + 3000; !rep && now_ms() < end;) {
            char err[128];
            if (wire_recv(peer, false, NULL, NULL, &rep, err, sizeof err) != 0) {
                rep = NULL;
                pump_both(&a, &b, 5);
            }
        }
        CHECK(rep && rep->payload_case == SWARM__ENVELOPE__PAYLOAD_ERROR &&
                  rep->error->code == WIRE_E_UNKNOWN_WORKER,
              "an unregistered peer's ResultBatch was not told to register");
        wire_free(rep);
        zmq_close(peer);
    }

    for (uint64_t end = now_ms() + 60000; !result && now_ms() < end;) {
        pump_both(&a, &b, 50);
        Swarm__Envelope *st = status_call(zctx, client_ep, job, &a, &b);
        if (st && st->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS && st->status->n_jobs == 1) {
            const Swarm__JobStatus *j = st->status->jobs[0];
            if (strcmp(j->state, "running") != 0 && j->result_json[0])
                result = strdup(j->result_json);
        }
        wire_free(st);
    }
    REQUIRE(result, "the job did not end (a Result that does not give its slot back stalls it)");

    /* every sub-task exactly once, in order, echoing its item; nothing forged */
    cJSON *res = cJSON_Parse(result);
    REQUIRE(res, "result is not JSON");
    cJSON *rs = cJSON_GetObjectItem(res, "results");
    CHECK(!strcmp(cJSON_GetObjectItem(res, "state")->valuestring, "done"));
    CHECK_EQ(cJSON_GetArraySize(rs), N_ITEMS);
    for (int i = 0; i < N_ITEMS && i < cJSON_GetArraySize(rs); i++) {
        cJSON *x = cJSON_GetArrayItem(rs, i);
        char tid[16], out[64];
        snprintf(tid, sizeof tid, "t%04d", i);
        snprintf(out, sizeof out, "echo:%s", item[i]);
        CHECK(!strcmp(cJSON_GetObjectItem(x, "task_id")->valuestring, tid), "result %d is %s", i,
              cJSON_GetObjectItem(x, "task_id")->valuestring);
        CHECK(!strcmp(cJSON_GetObjectItem(x, "output")->valuestring, out), "%s: %s", tid,
              cJSON_GetObjectItem(x, "output")->valuestring);
    }
    cJSON_Delete(res);
    CHECK(!strstr(result, "FORGED"), "a forged result was merged");

    /* batches: Assigns of a round arrive together, Results leave together */
    fprintf(stderr,
            "A: %d assigns in %d messages (%d batches, largest %d), %d results in %d messages\n"
            "B: %d assigns in %d messages (%d batches, largest %d), %d results in %d messages\n",
            a.assigns, a.assign_msgs, a.batch_msgs, a.max_batch, a.results_sent, a.result_msgs,
            b.assigns, b.assign_msgs, b.batch_msgs, b.max_batch, b.results_sent, b.result_msgs);
    CHECK(a.batch_msgs >= 1 && a.max_batch >= 2, "A never got an AssignBatch of 2 or more");
    CHECK(b.batch_msgs >= 1 && b.max_batch >= 2, "B never got an AssignBatch of 2 or more");
    CHECK(a.assign_msgs + b.assign_msgs < a.assigns + b.assigns,
          "as many Assign messages as Assigns: nothing was batched");
    CHECK(a.multi_result_msgs >= 1, "A never sent a ResultBatch of 2 or more");
    CHECK_EQ(a.over_capacity + b.over_capacity, 0);
    CHECK_EQ(a.results_sent + b.results_sent, N_ITEMS);
    CHECK(!b.forge_pending, "B never sent its forged item");

    Swarm__Envelope *st = status_call(zctx, client_ep, NULL, &a, &b);
    REQUIRE(st && st->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS, "no Status reply");
    CHECK_EQ(counter(st->status, "results.accepted"), N_ITEMS);
    CHECK(counter(st->status, "results.rejected") == 2, "results.rejected %llu, want 2",
          (unsigned long long)counter(st->status, "results.rejected"));
    CHECK_EQ(counter(st->status, "assigns.sent"), N_ITEMS);
    CHECK_EQ(counter(st->status, "assigns.undeliverable"), 0);
    wire_free(st);

    /* Assigns too large to travel together: split under WIRE_MAX_MSG */
    {
        char lines[512];
        snprintf(lines, sizeof lines, "%s/big.lines", fx.dir);
        FILE *f = fopen(lines, "w");
        REQUIRE(f, "cannot write %s", lines);
        char *line = malloc(BIG_LINE + 1);
        REQUIRE(line, "out of memory");
        memset(line, 'x', BIG_LINE);
        line[BIG_LINE] = 0;
        for (int i = 0; i < N_BIG; i++)
            fprintf(f, "L%02d-%s\n", i, line);
        free(line);
        fclose(f);
        int msgs0 = a.assign_msgs + b.assign_msgs, assigns0 = a.assigns + b.assigns;
        a.stingy = b.stingy = false; /* their heartbeats give the credit back */
        sub.job_json = "{\"name\":\"big\",\"goal\":\"g\",\"instructions\":\"say {item}\","
                       "\"fanout\":{\"lines\":\"big.lines\"},\"merge\":\"concat\"}";
        /* storing 20 MB of items takes a while under sanitizers */
        r = client_call_ms(zctx, client_ep, &se, &a, &b, 60000);
        REQUIRE(r && r->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS && r->status->n_jobs == 1,
                "Submit of the big job not answered with the job");
        snprintf(job, sizeof job, "%s", r->status->jobs[0]->job_id);
        wire_free(r);
        bool ended = false;
        for (uint64_t end = now_ms() + 60000; !ended && now_ms() < end;) {
            pump_both(&a, &b, 50);
            Swarm__Envelope *js = status_call(zctx, client_ep, job, &a, &b);
            if (js && js->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS &&
                js->status->n_jobs == 1 && strcmp(js->status->jobs[0]->state, "running") != 0) {
                const Swarm__JobStatus *j = js->status->jobs[0];
                ended = true;
                CHECK(!strcmp(j->state, "done"), "big job %s", j->state);
                CHECK_EQ(j->done, N_BIG);
                CHECK_EQ(j->failed, 0);
            }
            wire_free(js);
        }
        REQUIRE(ended, "the big job did not end");
        fprintf(stderr, "big job: %d assigns in %d messages\n", a.assigns + b.assigns - assigns0,
                a.assign_msgs + b.assign_msgs - msgs0);
        CHECK_EQ(a.assigns + b.assigns - assigns0, N_BIG);
        st = status_call(zctx, client_ep, NULL, &a, &b);
        REQUIRE(st && st->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS, "no Status reply");
        CHECK_EQ(counter(st->status, "assigns.undeliverable"), 0);
        CHECK_EQ(counter(st->status, "results.accepted"), N_ITEMS + N_BIG);
        wire_free(st);
    }

fail:
    free(result);
    zmq_close(a.sock);
    zmq_close(b.sock);
    if (swarmd > 0) {
        kill(swarmd, SIGTERM);
        int stt = 0;
        waitpid(swarmd, &stt, 0);
        CHECK(WIFEXITED(stt) && WEXITSTATUS(stt) == 0, "swarmd exit status %d", stt);
    }
    zmq_ctx_term(zctx);
    if (check_fail_count) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "tail -n 30 '%s' >&2", log);
        if (system(cmd) != 0) fprintf(stderr, "(no swarmd log)\n");
    }
    redis_fixture_cleanup(&fx);
    return check_done();
}
