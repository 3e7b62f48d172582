/* test_sched.c - the scheduler's fenced Lua state machine against a real
 * redis-server: lease/complete/fence, retry with backoff to max_attempts,
 * lease expiry, merge exactly once, cancel, and Redis going away and back. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "../common/sched_fixture.h"

typedef struct tctx {
    sched_fixture f;        /* first: the kit's callbacks take a tctx as their ud */
    const char *redis_sock; /* for direct checks with a plain connection */
    int up_events, down_events;
    bool up;
    size_t n_leases;
    char lease_task[16][16];
    unsigned lease_attempt[16];
    char lease_input[16][64];
    /* every lease seen: job/task -> its token and holder, as a worker would keep */
    char held[64][48];
    uint64_t held_token[64];
    char held_worker[64][8];
    size_t n_held;
    sched_job_status status;
    char status_state[32];
    char result[65536];
    size_t n_cancel;
    int batch_ok, batch_calls; /* test_lease_batch's complete call */
    bool batch_merge;
    int batch_outcome[8]; /* test_rows_batch: each result's outcome */
    /* test_inline_merge: the merge's early status */
    int ready_calls, merged_before;
    bool ready_before_merged;
    char ready_state[16], ready_page[4096];
    uint32_t ready_done;
    uint64_t ready_size, ready_finished;
} tctx;

static void on_state(void *ud, bool up, const char *msg)
{
    tctx *t = ud;
    t->up = up;
    if (up)
        t->up_events++;
    else
        t->down_events++;
}

static void lease_cb(void *ud, int rc, const char *err, const sched_lease *l, size_t n)
{
    tctx *t = ud;
    t->f.rc = rc;
    snprintf(t->f.err, sizeof t->f.err, "%s", err ? err : "");
    t->n_leases = n;
    for (size_t i = 0; i < n && i < 16; i++) {
        snprintf(t->lease_task[i], sizeof t->lease_task[i], "%s", l[i].task_id);
        snprintf(t->lease_input[i], sizeof t->lease_input[i], "%s", l[i].input);
        t->lease_attempt[i] = l[i].attempt;
        char key[48];
        snprintf(key, sizeof key, "%s/%s", l[i].job_id, l[i].task_id);
        size_t k = 0;
        while (k < t->n_held && strcmp(t->held[k], key) != 0)
            k++;
        if (k == t->n_held && t->n_held < 64) t->n_held++;
        if (k < 64) {
            snprintf(t->held[k], sizeof t->held[k], "%s", key);
            snprintf(t->held_worker[k], sizeof t->held_worker[k], "%s", l[i].worker);
            t->held_token[k] = l[i].token;
        }
    }
    t->f.calls++;
}

static void status_cb(void *ud, int rc, const char *err, const sched_job_status *j, size_t n)
{
    tctx *t = ud;
    t->f.rc = rc;
    if (rc == 0 && n == 1) {
        t->status = *j;
        snprintf(t->status_state, sizeof t->status_state, "%s", j->state);
        t->status.state = t->status_state;
        snprintf(t->result, sizeof t->result, "%s", j->result_json);
        t->status.tasks = NULL;
        t->status.job_id = t->status.name = t->status.result_json = NULL;
    }
    t->f.calls++;
}

static void cancel_cb(void *ud, int rc, const char *err, const char *prev,
                      const sched_taskref *running, const char *const *workers, size_t n)
{
    tctx *t = ud;
    t->f.rc = rc;
    t->n_cancel = n;
    snprintf(t->f.err, sizeof t->f.err, "%s", err ? err : "");
    t->f.calls++;
}

static void submit_wall(tctx *t, const char *id, size_t n, const char *merge, uint32_t max_attempts,
                        uint32_t wall_s)
{
    sched_task_spec tasks[8];
    char items[8][32];
    for (size_t i = 0; i < n; i++) {
        snprintf(items[i], sizeof items[i], "item%zu", i);
        tasks[i].instructions = "Say {item}";
        tasks[i].item = items[i];
        tasks[i].input = items[i];
    }
    sched_job_spec job = {.name = "test",
                          .goal = "g",
                          .merge = merge,
                          .max_tokens = 8,
                          .max_attempts = max_attempts,
                          .max_subtasks = 100,
                          .wall_time_s = wall_s,
                          .temperature = 0.5,
                          .seed = 7,
                          .n_tasks = n,
                          .tasks = tasks};
    SCHED_SYNC(&t->f, sched_job_submit(t->f.s, id, &job, sched_fixture_done_cb, t, e_, sizeof e_));
    if (t->f.rc != 0) fprintf(stderr, "submit %s: %s\n", id, t->f.err);
    CHECK(t->f.rc == 0);
}

static void submit(tctx *t, const char *id, size_t n, const char *merge, uint32_t max_attempts)
{
    submit_wall(t, id, n, merge, max_attempts, 60);
}

static void lease(tctx *t, size_t n, uint64_t lease_ms)
{
    sched_slot w[8];
    for (int i = 0; i < 8; i++)
        w[i] = (sched_slot){.worker = i % 2 ? "w2" : "w1", .incarnation = 7};
    SCHED_SYNC(&t->f, sched_task_lease(t->f.s, lease_ms, w, n, lease_cb, t, e_, sizeof e_));
    if (t->f.rc != 0) fprintf(stderr, "lease: %s\n", t->f.err);
    CHECK(t->f.rc == 0);
}

/* The token and holder of job/task's latest lease (0 / "w1" if never leased). */
static uint64_t held(tctx *t, const char *job, const char *task, const char **worker)
{
    char key[48];
    snprintf(key, sizeof key, "%s/%s", job, task);
    for (size_t k = 0; k < t->n_held; k++) {
        if (strcmp(t->held[k], key) == 0) {
            if (worker) *worker = t->held_worker[k];
            return t->held_token[k];
        }
    }
    if (worker) *worker = "w1";
    return 0;
}

static int complete(tctx *t, const char *job, const char *task, unsigned attempt, bool ok,
                    const char *out)
{
    const char *w = NULL;
    uint64_t tok = held(t, job, task, &w);
    sched_result r = {.ref = {job, task, attempt, tok},
                      .worker = w,
                      .ok = ok,
                      .output = out,
                      .error = ok ? "" : "boom",
                      .tokens = 3};
    SCHED_SYNC(&t->f, sched_task_complete(t->f.s, &r, sched_fixture_outcome_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0);
    return t->f.outcome;
}

/* Wait until nothing is left waiting in test:merging. */
static void merge_wait(tctx *t)
{
    redisContext *c = redisConnectUnix(t->redis_sock);
    uint64_t end = swarm_clock_ms() + 5000;
    long long left = 1;
    while (left > 0 && swarm_clock_ms() < end) {
        for (int i = 0; i < 5; i++)
            uv_run(t->f.loop, UV_RUN_NOWAIT), fixture_sleep_ms(1);
        redisReply *r = c && !c->err ? redisCommand(c, "SCARD test:merging") : NULL;
        left = r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
        freeReplyObject(r);
    }
    if (c) redisFree(c);
    /* the finish callbacks follow their replies */
    for (int i = 0; i < 20; i++)
        uv_run(t->f.loop, UV_RUN_NOWAIT), fixture_sleep_ms(1);
}

/* Run the merger and wait for it. */
static void merge_all(tctx *t)
{
    char e[256];
    CHECK(sched_merge_pending(t->f.s, sched_fixture_merged_cb, t, e, sizeof e) == 0);
    merge_wait(t);
}

static void status(tctx *t, const char *job)
{
    const char *ids[1] = {job};
    SCHED_SYNC(&t->f,
               sched_status(t->f.s, ids, 1, true, true, 0, 1u << 20, status_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0);
}

static void test_fence_and_merge(tctx *t)
{
    submit(t, "j-a", 3, "concat", 3);
    lease(t, 2, 30000);
    CHECK(t->n_leases == 2);
    CHECK(strcmp(t->lease_task[0], "t0000") == 0 && strcmp(t->lease_task[1], "t0001") == 0);
    CHECK(t->lease_attempt[0] == 1 && strcmp(t->lease_input[0], "item0") == 0);
    CHECK(complete(t, "j-a", "t0000", 1, true, "out0") == SCHED_OK);
    CHECK(!t->f.merge);
    /* the same result again: duplicate; an old attempt: stale; unknown task */
    CHECK(complete(t, "j-a", "t0000", 1, true, "again") == SCHED_DUPLICATE);
    CHECK(complete(t, "j-a", "t0001", 2, true, "wrong attempt") == SCHED_STALE);
    CHECK(complete(t, "j-a", "t0002", 0, true, "never leased") == SCHED_STALE);
    CHECK(complete(t, "j-a", "t9999", 1, true, "x") == SCHED_UNKNOWN);
    CHECK(complete(t, "j-a", "t0001", 1, true, "out1") == SCHED_OK);
    lease(t, 4, 30000);
    CHECK(t->n_leases == 1 && strcmp(t->lease_task[0], "t0002") == 0);
    status(t, "j-a");
    CHECK(t->status.total == 3 && t->status.done == 2 && t->status.running == 1);
    CHECK(strcmp(t->status.state, "running") == 0);

    /* Two completions of the last task pipelined: one wins, the merge runs once. */
    char e[256];
    const char *w2 = NULL;
    uint64_t tok2 = held(t, "j-a", "t0002", &w2);
    sched_result r = {.ref = {"j-a", "t0002", 1, tok2},
                      .worker = w2,
                      .ok = true,
                      .output = "out2",
                      .error = "",
                      .tokens = 3};
    int outcomes[2] = {-1, -1};
    int before = t->f.calls;
    CHECK(sched_task_complete(t->f.s, &r, sched_fixture_outcome_cb, t, e, sizeof e) == 0);
    CHECK(sched_task_complete(t->f.s, &r, sched_fixture_outcome_cb, t, e, sizeof e) == 0);
    sched_fixture_spin(&t->f, &t->f.calls, before + 2, 5000);
    outcomes[1] = t->f.outcome;
    CHECK(outcomes[1] == SCHED_DUPLICATE);
    merge_all(t);
    merge_all(t);
    CHECK(t->f.merged == 1);
    CHECK(strcmp(t->f.merged_state, "done") == 0);
    status(t, "j-a");
    CHECK(strcmp(t->status.state, "done") == 0);
    cJSON *res = cJSON_Parse(t->result);
    CHECK(res != NULL);
    if (res) {
        cJSON *results = cJSON_GetObjectItem(res, "results");
        CHECK(cJSON_GetArraySize(results) == 3);
        for (int i = 0; i < cJSON_GetArraySize(results); i++) {
            cJSON *x = cJSON_GetArrayItem(results, i);
            char want[16], wout[16];
            snprintf(want, sizeof want, "t%04d", i);
            snprintf(wout, sizeof wout, "out%d", i);
            CHECK(strcmp(cJSON_GetObjectItem(x, "task_id")->valuestring, want) == 0);
            CHECK(strcmp(cJSON_GetObjectItem(x, "output")->valuestring, wout) == 0);
            CHECK(cJSON_IsTrue(cJSON_GetObjectItem(x, "ok")));
        }
        /* concat: one section per task, labelled with its item */
        CHECK(strcmp(cJSON_GetObjectItem(res, "merged")->valuestring,
                     "## item0\nout0\n\n## item1\nout1\n\n## item2\nout2") == 0);
        CHECK(cJSON_GetObjectItem(res, "done")->valueint == 3);
        cJSON_Delete(res);
    }
}

static void test_retry_expire(tctx *t)
{
    merge_all(t);
    int merged0 = t->f.merged;
    submit(t, "j-b", 2, "json", 2);
    lease(t, 2, 30000);
    CHECK(t->n_leases == 2);
    /* t0000 fails once: requeued with a 1 s backoff, not leasable before. */
    CHECK(complete(t, "j-b", "t0000", 1, false, "") == SCHED_RETRY);
    lease(t, 2, 30000);
    CHECK(t->n_leases == 0);
    status(t, "j-b");
    CHECK(t->status.pending == 1 && t->status.running == 1);
    fixture_sleep_ms(1100);
    lease(t, 1, 50); /* a short lease that will expire */
    CHECK(t->n_leases == 1 && t->lease_attempt[0] == 2);
    fixture_sleep_ms(80);
    SCHED_SYNC(&t->f, sched_leases_expire(t->f.s, 100, sched_fixture_count_cb, t, e_, sizeof e_));
    CHECK(t->f.count == 1);
    /* attempt 2 of 2 expired: failed for good, a late result is stale */
    status(t, "j-b");
    CHECK(t->status.failed == 1);
    CHECK(complete(t, "j-b", "t0000", 2, true, "late") == SCHED_STALE);
    CHECK(complete(t, "j-b", "t0000", 1, true, "older") == SCHED_STALE);
    /* heartbeat extends only matching attempts */
    const char *hw = NULL;
    uint64_t htok = held(t, "j-b", "t0001", &hw);
    sched_taskref refs[2] = {{"j-b", "t0001", 1, htok}, {"j-b", "t0001", 7, htok}};
    SCHED_SYNC(&t->f, sched_tasks_heartbeat(t->f.s, hw, refs, 2, 30000, sched_fixture_count_cb, t,
                                            e_, sizeof e_));
    CHECK(t->f.count == 1);
    /* a wrong token, or another worker naming the right one, extends nothing */
    refs[0].token = htok ^ 1;
    SCHED_SYNC(&t->f, sched_tasks_heartbeat(t->f.s, hw, refs, 1, 30000, sched_fixture_count_cb, t,
                                            e_, sizeof e_));
    CHECK(t->f.count == 0);
    refs[0].token = htok;
    SCHED_SYNC(&t->f, sched_tasks_heartbeat(t->f.s, "intruder", refs, 1, 30000,
                                            sched_fixture_count_cb, t, e_, sizeof e_));
    CHECK(t->f.count == 0);
    CHECK(complete(t, "j-b", "t0001", 1, true, "{\"k\": 1}") == SCHED_OK);
    CHECK(t->f.merge);
    merge_all(t);
    CHECK(t->f.merged == merged0 + 1);
    CHECK(strcmp(t->f.merged_state, "failed") == 0);
    status(t, "j-b");
    CHECK(strcmp(t->status.state, "failed") == 0);
    cJSON *res = cJSON_Parse(t->result);
    CHECK(res != NULL);
    if (res) {
        cJSON *m = cJSON_GetObjectItem(res, "merged");
        /* json: every task as {task_id, item, status, output}; output null when it failed */
        CHECK(cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2);
        cJSON *m0 = cJSON_GetArrayItem(m, 0), *m1 = cJSON_GetArrayItem(m, 1);
        CHECK(m0 && !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(m0, "status")), "failed"));
        CHECK(m0 && cJSON_IsNull(cJSON_GetObjectItem(m0, "output")));
        CHECK(m1 && !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(m1, "item")), "item1"));
        CHECK(m1 && !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(m1, "task_id")), "t0001"));
        CHECK(m1 && cJSON_GetObjectItem(cJSON_GetObjectItem(m1, "output"), "k")->valueint == 1);
        cJSON *f = cJSON_GetObjectItem(res, "failed_tasks");
        CHECK(cJSON_GetArraySize(f) == 1);
        CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(f, 0), "attempts")->valueint == 2);
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(res, "results")) == 2);
        cJSON_Delete(res);
    }
}

static void test_worker_lost_and_cancel(tctx *t)
{
    submit(t, "j-c", 3, "concat", 3);
    lease(t, 2, 30000);
    CHECK(t->n_leases == 2);
    sched_taskref lost[1] = {{"j-c", "t0000", 1, 0}};
    SCHED_SYNC(&t->f, sched_tasks_fail(t->f.s, lost, 1, "worker w1 lost", false,
                                       sched_fixture_count_cb, t, e_, sizeof e_));
    CHECK(t->f.count == 1);
    status(t, "j-c");
    CHECK(t->status.pending == 2 && t->status.running == 1);
    SCHED_SYNC(&t->f, sched_job_cancel(t->f.s, "j-c", cancel_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0 && t->n_cancel == 1);
    CHECK(complete(t, "j-c", "t0001", 1, true, "after cancel") == SCHED_STALE);
    merge_all(t);
    status(t, "j-c");
    CHECK(strcmp(t->status.state, "cancelled") == 0 && t->status.cancelled == 3);
    SCHED_SYNC(&t->f, sched_job_cancel(t->f.s, "j-nope", cancel_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == -1 && strstr(t->f.err, "unknown job"));
}

static void test_deadline_and_noscript(tctx *t, redis_fixture *fx)
{
    merge_all(t);
    int merged0 = t->f.merged;
    submit_wall(t, "j-e", 3, "concat", 3, 1);
    lease(t, 1, 30000);
    CHECK(t->n_leases == 1);
    CHECK(complete(t, "j-e", "t0000", 1, true, "in time") == SCHED_OK);
    lease(t, 1, 30000);
    CHECK(t->n_leases == 1 && strcmp(t->lease_task[0], "t0001") == 0);
    SCHED_SYNC(&t->f, sched_jobs_deadline(t->f.s, 10, cancel_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0 && t->n_cancel == 0); /* not yet */
    fixture_sleep_ms(1050);
    SCHED_SYNC(&t->f, sched_jobs_deadline(t->f.s, 10, cancel_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0 && t->n_cancel == 1); /* t0001 was running: stop it */
    CHECK(complete(t, "j-e", "t0001", 1, true, "too late") == SCHED_STALE);
    merge_all(t);
    CHECK(t->f.merged == merged0 + 1 && strcmp(t->f.merged_state, "failed") == 0);
    status(t, "j-e");
    CHECK(t->status.done == 1 && t->status.failed == 2);
    CHECK(strstr(t->result, "budget.wall_time_s exceeded") != NULL);

    /* The function library flushed behind our back: the next FCALL gets
     * "Function not found", loads the library again and resends. */
    redisContext *c = redisConnectUnix(fx->sock);
    CHECK(c && !c->err);
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "FUNCTION FLUSH");
        CHECK(r && r->type == REDIS_REPLY_STATUS);
        freeReplyObject(r);
    }
    submit(t, "j-f", 1, "concat", 1);
    lease(t, 1, 1000);
    CHECK(t->n_leases == 1 && strcmp(t->lease_task[0], "t0000") == 0);
    CHECK(complete(t, "j-f", "t0000", 1, true, "ok") == SCHED_OK);
    if (c && !c->err) {
        /* back as library swarm; the read-only status is flagged no-writes
         * (it must answer while Redis is out of memory), lease is not */
        redisReply *r = redisCommand(c, "FUNCTION LIST LIBRARYNAME swarm");
        CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
        int seen = 0;
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
            redisReply *lib = r->element[0], *fns = NULL;
            for (size_t i = 0; i + 1 < lib->elements; i += 2)
                if (strcmp(lib->element[i]->str, "functions") == 0) fns = lib->element[i + 1];
            for (size_t i = 0; fns && i < fns->elements; i++) {
                redisReply *fn = fns->element[i];
                const char *name = NULL;
                redisReply *flags = NULL;
                for (size_t k = 0; k + 1 < fn->elements; k += 2) {
                    if (strcmp(fn->element[k]->str, "name") == 0) name = fn->element[k + 1]->str;
                    if (strcmp(fn->element[k]->str, "flags") == 0) flags = fn->element[k + 1];
                }
                if (!name || !flags) continue;
                bool ro = flags->elements == 1 && strcmp(flags->element[0]->str, "no-writes") == 0;
                if (strcmp(name, "swarm_status") == 0) {
                    CHECK(ro);
                    seen++;
                }
                if (strcmp(name, "swarm_lease") == 0) {
                    CHECK(!ro && flags->elements == 0);
                    seen++;
                }
            }
        }
        CHECK(seen == 2);
        freeReplyObject(r);
    }
    if (c) redisFree(c);
}

/* Two coordinators (two connections) race on the same last task and both try
 * to merge: one completion wins, the result is stored exactly once. */
static void test_two_connections(tctx *t, redis_fixture *fx)
{
    tctx u = {.redis_sock = fx->sock};
    char err[256];
    CHECK(sched_fixture_open(&u.f, t->f.loop, fx, on_state, &u, err, sizeof err) == 0, "%s", err);
    merge_all(t);
    int merged_t = t->f.merged;
    submit(t, "j-g", 2, "concat", 3);
    lease(t, 2, 30000);
    CHECK(t->n_leases == 2);
    CHECK(complete(t, "j-g", "t0000", 1, true, "first") == SCHED_OK);
    const char *gw = NULL;
    uint64_t gtok = held(t, "j-g", "t0001", &gw);
    sched_result r = {.ref = {"j-g", "t0001", 1, gtok},
                      .worker = gw,
                      .ok = true,
                      .output = "second",
                      .error = "",
                      .tokens = 1};
    int tb = t->f.calls, ub = u.f.calls;
    CHECK(sched_task_complete(t->f.s, &r, sched_fixture_outcome_cb, t, err, sizeof err) == 0);
    CHECK(sched_task_complete(u.f.s, &r, sched_fixture_outcome_cb, &u, err, sizeof err) == 0);
    sched_fixture_spin(&t->f, &t->f.calls, tb + 1, 5000);
    sched_fixture_spin(&u.f, &u.f.calls, ub + 1, 5000);
    CHECK((t->f.outcome == SCHED_OK) != (u.f.outcome == SCHED_OK));
    CHECK(t->f.outcome == SCHED_DUPLICATE || u.f.outcome == SCHED_DUPLICATE);
    CHECK(t->f.merge != u.f.merge); /* exactly one of them made the job ready to merge */
    CHECK(sched_merge_pending(t->f.s, sched_fixture_merged_cb, t, err, sizeof err) == 0);
    CHECK(sched_merge_pending(u.f.s, sched_fixture_merged_cb, &u, err, sizeof err) == 0);
    merge_wait(t);
    CHECK((t->f.merged - merged_t) + u.f.merged == 1);
    status(t, "j-g");
    cJSON *res = cJSON_Parse(t->result);
    CHECK(res && cJSON_GetArraySize(cJSON_GetObjectItem(res, "results")) == 2);
    if (res)
        CHECK(!strcmp(cJSON_GetObjectItem(res, "merged")->valuestring,
                      "## item0\nfirst\n\n## item1\nsecond"));
    cJSON_Delete(res);
    sched_close(u.f.s);
    for (int i = 0; i < 10; i++)
        uv_run(t->f.loop, UV_RUN_NOWAIT);
}

/* Bug 5: a result or progress for the running attempt is merged only from
 * the lease holder echoing the lease's random token. */
static void test_forged(tctx *t)
{
    submit(t, "j-x", 2, "concat", 3);
    lease(t, 2, 30000);
    CHECK(t->n_leases == 2);
    const char *w = NULL;
    uint64_t tok = held(t, "j-x", "t0000", &w);
    CHECK(tok != 0 && tok != held(t, "j-x", "t0001", NULL));
    sched_result r = {.ref = {"j-x", "t0000", 1, 0},
                      .worker = "peer",
                      .ok = true,
                      .output = "FORGED",
                      .error = "",
                      .tokens = 1};
    /* no token, a guessed one, the right one from another sender */
    SCHED_SYNC(&t->f, sched_task_complete(t->f.s, &r, sched_fixture_outcome_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0 && t->f.outcome == SCHED_FORGED);
    r.ref.token = tok + 1;
    r.worker = w;
    SCHED_SYNC(&t->f, sched_task_complete(t->f.s, &r, sched_fixture_outcome_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0 && t->f.outcome == SCHED_FORGED);
    r.ref.token = tok;
    r.worker = strcmp(w, "w1") ? "w1" : "w2";
    SCHED_SYNC(&t->f, sched_task_complete(t->f.s, &r, sched_fixture_outcome_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0 && t->f.outcome == SCHED_FORGED);
    sched_taskref ref = {"j-x", "t0000", 1, tok ^ 0x100};
    SCHED_SYNC(&t->f, sched_task_progress(t->f.s, &ref, w, 5, "x", 30000, sched_fixture_outcome_cb,
                                          t, e_, sizeof e_));
    CHECK(t->f.rc == 0 && t->f.outcome == SCHED_FORGED);
    ref.token = tok;
    SCHED_SYNC(&t->f, sched_task_progress(t->f.s, &ref, w, 5, "x", 30000, sched_fixture_outcome_cb,
                                          t, e_, sizeof e_));
    CHECK(t->f.rc == 0 && t->f.outcome == SCHED_OK);
    /* the holder's own result still goes in; the forged output never did */
    CHECK(complete(t, "j-x", "t0000", 1, true, "real") == SCHED_OK);
    CHECK(complete(t, "j-x", "t0001", 1, true, "real1") == SCHED_OK);
    merge_all(t);
    status(t, "j-x");
    CHECK(strcmp(t->status.state, "done") == 0);
    CHECK(strstr(t->result, "FORGED") == NULL && strstr(t->result, "real") != NULL);
}

/* Bug 7: jobs are served round-robin, so a small job submitted behind a big
 * one gets slots at once; budget.wall_time_s counts from the first dispatch. */
static void test_fair_share(tctx *t)
{
    submit(t, "j-big", 8, "concat", 3);
    submit(t, "j-small", 2, "concat", 3);
    lease(t, 4, 30000);
    CHECK(t->n_leases == 4);
    CHECK(held(t, "j-small", "t0000", NULL) != 0 && held(t, "j-small", "t0001", NULL) != 0);
    CHECK(held(t, "j-big", "t0000", NULL) != 0 && held(t, "j-big", "t0001", NULL) != 0);
    SCHED_SYNC(&t->f, sched_job_cancel(t->f.s, "j-big", cancel_cb, t, e_, sizeof e_));
    SCHED_SYNC(&t->f, sched_job_cancel(t->f.s, "j-small", cancel_cb, t, e_, sizeof e_));
    merge_all(t);

    /* queued for longer than its wall time, never dispatched: not failed */
    submit_wall(t, "j-wall", 1, "concat", 3, 1);
    fixture_sleep_ms(1100);
    SCHED_SYNC(&t->f, sched_jobs_deadline(t->f.s, 10, cancel_cb, t, e_, sizeof e_));
    status(t, "j-wall");
    CHECK(strcmp(t->status.state, "running") == 0 && t->status.failed == 0);
    lease(t, 1, 30000);
    CHECK(t->n_leases == 1);
    fixture_sleep_ms(1050);
    SCHED_SYNC(&t->f, sched_jobs_deadline(t->f.s, 10, cancel_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0 && t->n_cancel == 1);
    merge_all(t);
    status(t, "j-wall");
    CHECK(strcmp(t->status.state, "failed") == 0);
}

/* The batched paths: one lease call fills every slot it is given across jobs
 * (each job its share per turn, what one job cannot use goes to the others),
 * with the leased index kept exact by its one ZADD per turn; one complete call
 * stores many results and takes them all out of that index again. */
static void batch_outcomes_cb(void *ud, int rc, const char *err, const int *outcome,
                              const bool *merge, size_t n)
{
    tctx *t = ud;
    (void)err;
    t->f.rc = rc;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (outcome[i] == SCHED_OK) t->batch_ok++;
        t->batch_merge |= merge[i];
    }
    t->batch_calls++;
    t->f.calls++;
}

static void outcomes_cb(void *ud, int rc, const char *err, const int *outcome, const bool *merge,
                        size_t n)
{
    tctx *t = ud;
    (void)err;
    (void)merge;
    t->f.rc = rc;
    for (size_t i = 0; rc == 0 && i < n && i < 8; i++)
        t->batch_outcome[i] = outcome[i];
    t->f.calls++;
}

static long long leased_count(tctx *t)
{
    redisContext *c = redisConnectUnix(t->redis_sock);
    redisReply *r = c && !c->err ? redisCommand(c, "ZCARD test:leased") : NULL;
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    if (c) redisFree(c);
    return n;
}

static void test_lease_batch(tctx *t)
{
    merge_all(t);
    long long leased0 = leased_count(t);
    submit(t, "j-many", 8, "concat", 3);
    submit(t, "j-two", 2, "concat", 3);
    sched_slot w[12];
    for (int i = 0; i < 12; i++)
        w[i] = (sched_slot){.worker = i % 2 ? "w2" : "w1", .incarnation = 7};
    SCHED_SYNC(&t->f, sched_task_lease(t->f.s, 30000, w, 12, lease_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0);
    /* 12 slots, 10 ready tasks: all of them in this one call, each once */
    CHECK(t->n_leases == 10);
    int seen[8] = {0}, two = 0;
    for (size_t i = 0; i < t->n_leases && i < 16; i++) {
        CHECK(t->lease_attempt[i] == 1);
        unsigned k = 99;
        if (sscanf(t->lease_task[i], "t%u", &k) == 1 && k < 8) seen[k]++;
    }
    for (int k = 0; k < 8; k++) {
        char tid[16];
        snprintf(tid, sizeof tid, "t%04d", k);
        CHECK(held(t, "j-many", tid, NULL) != 0);
        if (k < 2) two += held(t, "j-two", tid, NULL) != 0;
        CHECK(seen[k] >= 1 && seen[k] <= 2); /* t0000/t0001 exist in both jobs */
    }
    CHECK(two == 2);
    CHECK(leased_count(t) == leased0 + 10);

    /* all ten results in one complete call: every one accepted, both jobs end */
    sched_result r[10];
    char tids[10][16];
    const char *jobs[10];
    for (int i = 0; i < 10; i++) {
        jobs[i] = i < 8 ? "j-many" : "j-two";
        snprintf(tids[i], sizeof tids[i], "t%04d", i < 8 ? i : i - 8);
        const char *wk = NULL;
        uint64_t tok = held(t, jobs[i], tids[i], &wk);
        r[i] = (sched_result){.ref = {jobs[i], tids[i], 1, tok},
                              .worker = wk,
                              .ok = true,
                              .output = "batched",
                              .error = "",
                              .tokens = 1};
    }
    t->batch_ok = t->batch_calls = 0;
    t->batch_merge = false;
    SCHED_SYNC(&t->f, sched_tasks_complete(t->f.s, r, 10, batch_outcomes_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0 && t->batch_calls == 1 && t->batch_ok == 10 && t->batch_merge);
    CHECK(leased_count(t) == leased0);
    merge_all(t);
    status(t, "j-many");
    CHECK(strcmp(t->status.state, "done") == 0 && t->status.done == 8);
    status(t, "j-two");
    CHECK(strcmp(t->status.state, "done") == 0 && t->status.done == 2);
}

static void removed_cb(void *ud, int rc, const char *err, const char *state, long long left)
{
    tctx *t = ud;
    t->f.rc = rc;
    snprintf(t->f.err, sizeof t->f.err, "%s", err ? err : "");
    snprintf(t->status_state, sizeof t->status_state, "%s", state ? state : "(removed)");
    t->f.count = left;
    t->f.calls++;
}

/* Keys in Redis matching pattern (a plain connection, SCAN). */
static long long keys_matching(tctx *t, const char *pattern)
{
    redisContext *c = redisConnectUnix(t->redis_sock);
    long long n = -1;
    if (c && !c->err) {
        n = 0;
        char cursor[32] = "0";
        do {
            redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
            if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
                freeReplyObject(r);
                n = -1;
                break;
            }
            snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
            n += (long long)r->element[1]->elements;
            freeReplyObject(r);
        } while (strcmp(cursor, "0") != 0);
    }
    if (c) redisFree(c);
    return n;
}

/* A task is a row across per-job columns (scheduler/lua/lib.lua): a fan-out
 * task has no hash of its own, and complete.lua's batch fast path (rows read
 * once per batch) still merges a result sent twice in one batch only once and
 * refuses a wrong token in the same batch. */
static void test_rows_batch(tctx *t)
{
    merge_all(t);
    submit(t, "j-row", 3, "concat", 3);
    lease(t, 3, 30000);
    CHECK(keys_matching(t, "test:job:j-row:task:*") == 0);
    CHECK(keys_matching(t, "test:job:j-row:st") == 1);
    const char *w0 = NULL, *w1 = NULL;
    uint64_t k0 = held(t, "j-row", "t0001", &w0), k1 = held(t, "j-row", "t0002", &w1);
    CHECK(k0 != 0 && k1 != 0);
    sched_result r[4] = {{.ref = {"j-row", "t0001", 1, k0},
                          .worker = w0,
                          .ok = true,
                          .output = "first",
                          .error = "",
                          .tokens = 1},
                         {.ref = {"j-row", "t0001", 1, k0},
                          .worker = w0,
                          .ok = true,
                          .output = "again",
                          .error = "",
                          .tokens = 1},
                         {.ref = {"j-row", "t0002", 1, k1 + 1},
                          .worker = w1,
                          .ok = true,
                          .output = "forged",
                          .error = "",
                          .tokens = 1},
                         {.ref = {"j-row", "t0002", 1, k1},
                          .worker = w1,
                          .ok = true,
                          .output = "second",
                          .error = "",
                          .tokens = 1}};
    memset(t->batch_outcome, -1, sizeof t->batch_outcome);
    SCHED_SYNC(&t->f, sched_tasks_complete(t->f.s, r, 4, outcomes_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0);
    CHECK(t->batch_outcome[0] == SCHED_OK && t->batch_outcome[1] == SCHED_DUPLICATE);
    CHECK(t->batch_outcome[2] == SCHED_FORGED && t->batch_outcome[3] == SCHED_OK);
    /* the last two again, alone: still forged, and a duplicate; nothing changes */
    SCHED_SYNC(&t->f, sched_tasks_complete(t->f.s, r + 2, 2, outcomes_cb, t, e_, sizeof e_));
    CHECK(t->batch_outcome[0] == SCHED_FORGED && t->batch_outcome[1] == SCHED_DUPLICATE);
    merge_all(t);
    status(t, "j-row");
    CHECK(strcmp(t->status.state, "running") == 0 && t->status.done == 2);
    CHECK(complete(t, "j-row", "t0000", 1, true, "zeroth") == SCHED_OK);
    merge_all(t);
    status(t, "j-row");
    CHECK(strcmp(t->status.state, "done") == 0 && t->status.done == 3);
    CHECK(strstr(t->result, "first") && strstr(t->result, "second"));
    CHECK(!strstr(t->result, "again") && !strstr(t->result, "forged"));
}

/* Bug 3: nothing was ever deleted. `swarm rm` removes an ended job's every key;
 * a running one is refused; retention (purge) removes old ended jobs. */
static void test_remove_and_retention(tctx *t)
{
    submit(t, "j-r", 2, "concat", 3);
    lease(t, 2, 30000);
    CHECK(complete(t, "j-r", "t0000", 1, true, "a") == SCHED_OK);
    CHECK(complete(t, "j-r", "t0001", 1, true, "b") == SCHED_OK);
    merge_all(t);
    CHECK(keys_matching(t, "test:job:j-r:*") >= 4); /* tasks, 2 task hashes, events, result */
    SCHED_SYNC(&t->f, sched_job_remove(t->f.s, "j-r", removed_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0 && strcmp(t->status_state, "(removed)") == 0 && t->f.count == 0);
    CHECK(keys_matching(t, "test:job:j-r") == 0 && keys_matching(t, "test:job:j-r:*") == 0);
    CHECK(keys_matching(t, "test:trash*") == 0);
    const char *ids[1] = {"j-r"};
    SCHED_SYNC(&t->f,
               sched_status(t->f.s, ids, 1, false, false, 0, 0, status_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0 && !t->status.found);
    SCHED_SYNC(&t->f, sched_job_remove(t->f.s, "j-r", removed_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == -1 && strstr(t->f.err, "unknown job"));

    submit(t, "j-r2", 3, "concat", 3);
    SCHED_SYNC(&t->f, sched_job_remove(t->f.s, "j-r2", removed_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0 && strcmp(t->status_state, "running") == 0);
    CHECK(keys_matching(t, "test:job:j-r2") == 1);
    SCHED_SYNC(&t->f, sched_job_cancel(t->f.s, "j-r2", cancel_cb, t, e_, sizeof e_));
    merge_all(t);
    /* retention: finished before an hour ago -> kept; before now + 1 s -> removed */
    SCHED_SYNC(&t->f, sched_jobs_purge(t->f.s, sched_now_ms() - 3600000, 100, 1000, removed_cb, t,
                                       e_, sizeof e_));
    CHECK(t->f.rc == 0 && strcmp(t->status_state, "0") == 0);
    CHECK(keys_matching(t, "test:job:j-r2") == 1);
    SCHED_SYNC(&t->f, sched_jobs_purge(t->f.s, sched_now_ms() + 1000, 100, 1000, removed_cb, t, e_,
                                       sizeof e_));
    CHECK(t->f.rc == 0 && atoi(t->status_state) >= 1 && t->f.count == 0);
    CHECK(keys_matching(t, "test:job:j-r2") == 0 && keys_matching(t, "test:job:j-r2:*") == 0);
    CHECK(keys_matching(t, "test:trash*") == 0);
}

static void test_redis_down(tctx *t, redis_fixture *fx)
{
    redis_fixture_stop(fx);
    for (int i = 0; i < 100 && sched_is_up(t->f.s); i++)
        uv_run(t->f.loop, UV_RUN_NOWAIT), fixture_sleep_ms(5);
    CHECK(!sched_is_up(t->f.s));
    char e[256];
    sched_slot w[1] = {{.worker = "w1", .incarnation = 1}};
    CHECK(sched_task_lease(t->f.s, 1000, w, 1, lease_cb, t, e, sizeof e) == -1);
    CHECK(strstr(e, "not connected") != NULL);
    CHECK(redis_fixture_start(fx) == 0);
    sched_fixture_wait_up(&t->f);
    CHECK(sched_is_up(t->f.s));
    /* a fresh redis has no functions: the library is loaded on connect */
    submit(t, "j-d", 1, "concat", 1);
    lease(t, 1, 1000);
    CHECK(t->n_leases == 1);
}

/* FCALLs Redis has run so far (INFO commandstats), -1 if unreadable. */
static long long fcalls(tctx *t)
{
    redisContext *c = redisConnectUnix(t->redis_sock);
    long long n = -1;
    redisReply *r = c && !c->err ? redisCommand(c, "INFO commandstats") : NULL;
    const char *at = r && r->type == REDIS_REPLY_STRING ? r->str : NULL;
    at = at ? strstr(at, "cmdstat_fcall:calls=") : NULL;
    if (at) n = strtoll(at + strlen("cmdstat_fcall:calls="), NULL, 10);
    freeReplyObject(r);
    if (c) redisFree(c);
    return n;
}

/* The merge's early status (sched_merge_ready_fn): what it will store. */
static void merge_ready_cb(void *ud, const char *job, const sched_job_status *st)
{
    tctx *t = ud;
    t->ready_calls++;
    t->ready_before_merged = t->f.merged == t->merged_before;
    snprintf(t->ready_state, sizeof t->ready_state, "%s", st->state);
    t->ready_done = st->done;
    t->ready_size = st->result_size;
    t->ready_finished = st->finished_ms;
    snprintf(t->ready_page, sizeof t->ready_page, "%.*s", (int)st->result_len, st->result_json);
    (void)job;
}

/* The complete call's callback merges what it ended, as swarmd does. */
static void merge_from_complete_cb(void *ud, int rc, const char *err, const int *outcome,
                                   const bool *merge, size_t n)
{
    tctx *t = ud;
    outcomes_cb(ud, rc, err, outcome, merge, n);
    char e[256];
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (merge[i])
            CHECK(sched_job_merge(t->f.s, "j-inl", 4096, merge_ready_cb, sched_fixture_merged_cb, t,
                                  e, sizeof e) == 0,
                  "%s", e);
}

/* A small job's merge rides on the complete call that ended it: its first (and
 * only) collect page comes back with the outcomes, so the merge is complete.lua
 * then finish.lua, two calls, and finish.lua answers with the stored status
 * and the result's first page (what swarmd answers a waiting client with). A
 * batch of progress reports gets one outcome per report. */
static void test_inline_merge(tctx *t)
{
    merge_all(t);
    submit(t, "j-inl", 1, "concat", 3);
    lease(t, 1, 30000);
    const char *w = NULL;
    uint64_t tok = held(t, "j-inl", "t0000", &w);
    CHECK(tok != 0);
    int merged0 = t->f.merged;
    t->merged_before = merged0;
    t->ready_calls = 0;
    t->f.merged_st = false;
    long long before = fcalls(t);
    sched_result r = {.ref = {"j-inl", "t0000", 1, tok},
                      .worker = w,
                      .ok = true,
                      .output = "inline answer",
                      .error = "",
                      .tokens = 2};
    SCHED_SYNC(&t->f,
               sched_tasks_complete(t->f.s, &r, 1, merge_from_complete_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0 && t->batch_outcome[0] == SCHED_OK);
    sched_fixture_spin(&t->f, &t->f.merged, merged0 + 1, 5000);
    CHECK_EQ(t->f.merged, merged0 + 1);
    CHECK_EQ(fcalls(t), before + 2); /* complete, finish: no collect call */
    CHECK(t->f.merged_st);
    CHECK_STR(t->f.merged_st_state, "done");
    CHECK(t->f.merged_st_done == 1 && t->f.merged_st_total == 1);
    CHECK(t->f.merged_st_size > 0);
    CHECK(!strncmp(t->f.merged_st_page, "{\"job_id\":\"j-inl\"", 17), "%s", t->f.merged_st_page);
    /* told first, before the store answered, exactly what it stored */
    CHECK(t->ready_calls == 1 && t->ready_before_merged);
    CHECK_STR(t->ready_state, "done");
    CHECK(t->ready_done == 1 && t->ready_size == t->f.merged_st_size);
    CHECK(!strncmp(t->ready_page, t->f.merged_st_page, strlen(t->f.merged_st_page)));
    status(t, "j-inl");
    CHECK(t->status.result_size == t->f.merged_st_size);
    CHECK(!strcmp(t->result, t->ready_page), "stored %s, told %s", t->result, t->ready_page);
    CHECK(t->status.finished_ms == t->ready_finished);
    CHECK(!strncmp(t->result, t->f.merged_st_page, strlen(t->f.merged_st_page)));
    CHECK(strstr(t->result, "\"merged\":\"## item0\\ninline answer\"") != NULL, "%s", t->result);

    /* progress: two reports in one call, the second with a wrong token */
    submit(t, "j-prog", 2, "concat", 3);
    lease(t, 2, 30000);
    sched_progress p[2];
    char tids[2][16];
    for (int i = 0; i < 2; i++) {
        snprintf(tids[i], sizeof tids[i], "t%04d", i);
        const char *wk = NULL;
        uint64_t tk = held(t, "j-prog", tids[i], &wk);
        p[i] = (sched_progress){
            .ref = {"j-prog", tids[i], 1, i ? tk + 1 : tk}, .worker = wk, .tail = "", .tokens = 1};
    }
    t->batch_outcome[0] = t->batch_outcome[1] = -1;
    SCHED_SYNC(&t->f, sched_tasks_progress(t->f.s, p, 2, 30000, outcomes_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0);
    CHECK_EQ(t->batch_outcome[0], SCHED_OK);
    CHECK_EQ(t->batch_outcome[1], SCHED_FORGED);
}

static void submitted_cb(void *ud, int rc, const char *err, size_t leased)
{
    tctx *t = ud;
    t->f.rc = rc;
    t->f.count = (long long)leased;
    snprintf(t->f.err, sizeof t->f.err, "%s", err ? err : "");
    t->f.calls++;
}

/* sched_job_submit_leased: a whole plain job stored and leased in one
 * submit.lua call, task i to slot i with the slot's token, when no other job
 * waits; its results are then fenced by those tokens. With another job waiting
 * to be leased it leases nothing (fair share): the tasks wait ready and a
 * lease call hands them out, the waiting job's first. */
static void test_submit_leased(tctx *t)
{
    merge_all(t);
    /* drain whatever earlier cases left due */
    for (int i = 0; i < 8; i++)
        lease(t, 8, 30000);
    sched_task_spec tasks[2] = {{"Say {item}", "a", "a"}, {"Say {item}", "b", "b"}};
    sched_job_spec job = {.name = "ahead",
                          .goal = "g",
                          .merge = "concat",
                          .max_tokens = 8,
                          .max_attempts = 3,
                          .max_subtasks = 10,
                          .wall_time_s = 60,
                          .temperature = 0.5,
                          .seed = 7,
                          .n_tasks = 2,
                          .tasks = tasks};
    sched_slot sl[2] = {{.worker = "w1", .incarnation = 7, .token = 1111},
                        {.worker = "w2", .incarnation = 7, .token = 2222}};
    SCHED_SYNC(&t->f, sched_job_submit_leased(t->f.s, "j-ahead", &job, 30000, sl, 2, submitted_cb,
                                              t, e_, sizeof e_));
    CHECK(t->f.rc == 0, "%s", t->f.err);
    CHECK_EQ(t->f.count, 2);
    status(t, "j-ahead");
    CHECK(t->status.running == 2 && t->status.pending == 0, "running %u pending %u",
          t->status.running, t->status.pending);
    /* nothing left to lease: both are held */
    lease(t, 2, 30000);
    CHECK_EQ(t->n_leases, 0);
    /* fenced by the slots' tokens: a wrong one is forged, the right ones end the job */
    sched_result r = {.ref = {"j-ahead", "t0000", 1, 1112},
                      .worker = "w1",
                      .ok = true,
                      .output = "A",
                      .error = "",
                      .tokens = 1};
    SCHED_SYNC(&t->f, sched_task_complete(t->f.s, &r, sched_fixture_outcome_cb, t, e_, sizeof e_));
    CHECK_EQ(t->f.outcome, SCHED_FORGED);
    r.ref.token = 1111;
    SCHED_SYNC(&t->f, sched_task_complete(t->f.s, &r, sched_fixture_outcome_cb, t, e_, sizeof e_));
    CHECK_EQ(t->f.outcome, SCHED_OK);
    r = (sched_result){.ref = {"j-ahead", "t0001", 1, 2222},
                       .worker = "w2",
                       .ok = true,
                       .output = "B",
                       .error = "",
                       .tokens = 1};
    SCHED_SYNC(&t->f, sched_task_complete(t->f.s, &r, sched_fixture_outcome_cb, t, e_, sizeof e_));
    CHECK(t->f.outcome == SCHED_OK && t->f.merge);
    merge_all(t);
    status(t, "j-ahead");
    CHECK_STR(t->status.state, "done");

    /* another job waits: nothing is leased at submit, the waiting one goes first */
    submit(t, "j-waits", 1, "concat", 3);
    sl[0].token = 3333;
    sl[1].token = 4444;
    SCHED_SYNC(&t->f, sched_job_submit_leased(t->f.s, "j-behind", &job, 30000, sl, 2, submitted_cb,
                                              t, e_, sizeof e_));
    CHECK(t->f.rc == 0 && t->f.count == 0, "rc %d leased %lld", t->f.rc, t->f.count);
    lease(t, 1, 30000);
    CHECK(t->n_leases == 1 && held(t, "j-waits", "t0000", NULL) != 0);
    lease(t, 4, 30000);
    CHECK_EQ(t->n_leases, 2);
    CHECK(held(t, "j-behind", "t0000", NULL) != 0 && held(t, "j-behind", "t0001", NULL) != 0);
    CHECK(held(t, "j-behind", "t0000", NULL) != 3333);
}

int main(void)
{
    redis_fixture fx = {0};
    uv_loop_t loop;
    tctx t = {0};
    if (sched_fixture_start(&t.f, &fx, &loop, on_state, &t) != 0) return 1;
    t.redis_sock = fx.sock;
    test_fence_and_merge(&t);
    test_retry_expire(&t);
    test_worker_lost_and_cancel(&t);
    test_deadline_and_noscript(&t, &fx);
    test_two_connections(&t, &fx);
    test_forged(&t);
    test_fair_share(&t);
    test_lease_batch(&t);
    test_remove_and_retention(&t);
    test_rows_batch(&t);
    test_inline_merge(&t);
    test_submit_leased(&t);
    test_redis_down(&t, &fx);
    sched_fixture_stop(&t.f, &fx);
    if (!check_fail_count) printf("test_sched: all checks passed\n");
    return check_done();
}
