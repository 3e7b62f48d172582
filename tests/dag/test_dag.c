/* test_dag.c - the task DAG and dynamic spawn in the scheduler's fenced Lua
 * scripts, against a real redis-server: a task is ready the moment its own
 * dependencies are done (never waiting for a slow unrelated branch, checked
 * by the order of the events' timestamps), dependency results feed its input,
 * a failure skips only its dependants, cycles and unknown ids are refused at
 * submit naming them, and spawn beyond the job's budget (tasks, depth) is
 * refused with a message that says which budget. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "../common/sched_fixture.h"

typedef struct lease_rec {
    char job[32], task[16], worker[8], input[512];
    unsigned attempt;
    uint64_t token;
} lease_rec;

typedef struct tctx {
    sched_fixture f;  /* first: the kit's callbacks take a tctx as their ud */
    redisContext *db; /* plain connection for direct reads */
    char child[16], msg[512];
    lease_rec leases[16];
    size_t n_leases;
    lease_rec held[64];
    size_t n_held;
} tctx;

static void lease_cb(void *ud, int rc, const char *err, const sched_lease *l, size_t n)
{
    tctx *t = ud;
    t->f.rc = rc;
    snprintf(t->f.err, sizeof t->f.err, "%s", err ? err : "");
    t->n_leases = n < 16 ? n : 16;
    for (size_t i = 0; i < t->n_leases; i++) {
        lease_rec *r = &t->leases[i];
        snprintf(r->job, sizeof r->job, "%s", l[i].job_id);
        snprintf(r->task, sizeof r->task, "%s", l[i].task_id);
        snprintf(r->worker, sizeof r->worker, "%s", l[i].worker);
        snprintf(r->input, sizeof r->input, "%s", l[i].input);
        r->attempt = l[i].attempt;
        r->token = l[i].token;
        if (t->n_held < 64) t->held[t->n_held++] = *r;
    }
    t->f.calls++;
}

static void spawn_cb(void *ud, int rc, const char *err, int outcome, const char *child,
                     const char *msg)
{
    tctx *t = ud;
    t->f.rc = rc;
    t->f.outcome = outcome;
    snprintf(t->f.err, sizeof t->f.err, "%s", err ? err : "");
    snprintf(t->child, sizeof t->child, "%s", child);
    snprintf(t->msg, sizeof t->msg, "%s", msg);
    t->f.calls++;
}

static void retry_cb(void *ud, int rc, const char *err, const char *prev, size_t n)
{
    tctx *t = ud;
    t->f.rc = rc;
    t->f.outcome = (int)n;
    snprintf(t->f.err, sizeof t->f.err, "%s", err ? err : "");
    (void)prev;
    t->f.calls++;
}

/* Tasks are given as "item" or "item<dep,dep" by index: t0000, t0001, ... */
static int submit(tctx *t, const char *id, const char *const *items, size_t n, const char *dag,
                  uint32_t max_attempts, uint32_t max_subtasks, uint32_t max_depth)
{
    sched_task_spec tasks[16] = {{0}};
    for (size_t i = 0; i < n; i++)
        tasks[i] = (sched_task_spec){.instructions = "Do {item}", .item = items[i], .input = ""};
    sched_job_spec job = {.name = "dag",
                          .goal = "g",
                          .merge = "concat",
                          .max_tokens = 8,
                          .max_attempts = max_attempts,
                          .max_subtasks = max_subtasks,
                          .wall_time_s = 60,
                          .n_tasks = n,
                          .tasks = tasks,
                          .dag = dag,
                          .max_depth = max_depth};
    SCHED_SYNC(&t->f, sched_job_submit(t->f.s, id, &job, sched_fixture_done_cb, t, e_, sizeof e_));
    return t->f.rc;
}

static void lease(tctx *t, size_t n)
{
    sched_slot w[8];
    for (size_t i = 0; i < 8; i++)
        w[i] = (sched_slot){.worker = i % 2 ? "w2" : "w1", .incarnation = 1};
    SCHED_SYNC(&t->f, sched_task_lease(t->f.s, 30000, w, n, lease_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0);
}

static const lease_rec *held(tctx *t, const char *job, const char *task)
{
    for (size_t i = t->n_held; i-- > 0;)
        if (strcmp(t->held[i].job, job) == 0 && strcmp(t->held[i].task, task) == 0)
            return &t->held[i];
    return NULL;
}

static int complete(tctx *t, const char *job, const char *task, bool ok, const char *out)
{
    const lease_rec *h = held(t, job, task);
    CHECK(h != NULL);
    if (!h) return -1;
    sched_result r = {.ref = {job, task, h->attempt, h->token},
                      .worker = h->worker,
                      .ok = ok,
                      .output = out,
                      .error = ok ? "" : "compiler exploded",
                      .tokens = 5};
    SCHED_SYNC(&t->f, sched_task_complete(t->f.s, &r, sched_fixture_outcome_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0);
    return t->f.outcome;
}

static int spawn(tctx *t, const char *job, const char *parent, const char *item, const char *deps)
{
    const lease_rec *h = held(t, job, parent);
    CHECK(h != NULL);
    if (!h) return -1;
    sched_spawn sp = {.parent = {job, parent, h->attempt, h->token},
                      .worker = h->worker,
                      .instructions = "Child {item}",
                      .item = item,
                      .input = item,
                      .depends_on = deps,
                      .tools = ""};
    SCHED_SYNC(&t->f, sched_task_spawn(t->f.s, &sp, spawn_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0);
    return t->f.outcome;
}

/* A task field as the scheduler stores it (scheduler/lua/lib.lua): hot state in
 * the job's row column P job:<id>:st ("state|attempt|token|inc|tokens|cold|worker",
 * absent = ready, attempt 0), item and output in their columns, the rest in the
 * task's cold hash. */
static char *hget(tctx *t, const char *job, const char *task, const char *field, char *buf,
                  size_t len)
{
    static const char *const row[] = {"state",  "attempt", "token", "inc",
                                      "tokens", "cold",    "worker"};
    redisReply *r;
    if (!strcmp(field, "item") || !strcmp(field, "output")) {
        r = redisCommand(t->db, "HGET test:job:%s:%s %s", job, field[0] == 'i' ? "item" : "out",
                         task);
        snprintf(buf, len, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "");
        freeReplyObject(r);
        return buf;
    }
    for (size_t k = 0; k < sizeof row / sizeof row[0]; k++) {
        if (strcmp(field, row[k])) continue;
        r = redisCommand(t->db, "HGET test:job:%s:st %s", job, task);
        const char *v = r && r->type == REDIS_REPLY_STRING ? r->str : "ready|0|||0||";
        for (size_t i = 0; i < k && v; i++) {
            v = strchr(v, '|');
            v = v ? v + 1 : NULL;
        }
        size_t n = v ? (k + 1 < sizeof row / sizeof row[0] ? strcspn(v, "|") : strlen(v)) : 0;
        snprintf(buf, len, "%.*s", (int)n, v ? v : "");
        freeReplyObject(r);
        return buf;
    }
    r = redisCommand(t->db, "HGET test:job:%s:task:%s %s", job, task, field);
    snprintf(buf, len, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
    return buf;
}

/* Index of task in the comma-separated list (-1 if absent). */
static long list_index(const char *list, const char *task)
{
    size_t tl = strlen(task);
    long i = 0;
    for (const char *p = list;; i++) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == tl && !strncmp(p, task, tl)) return i;
        if (!c) return -1;
        p = c + 1;
    }
}

/* Timestamp and stream id of the first event `kind` of task (0 if none): the
 * stream orders events, the ts says they happened in the same script call.
 * A batch entry (scheduler/lua/lib.lua ev_flush: field n, comma-separated
 * task list, stored at the id of its last event) is read as its n events, the
 * k-th with id MS-(SEQ-n+1+k), as logs.lua expands it. */
static uint64_t event_ts(tctx *t, const char *job, const char *kind, const char *task, char *id,
                         size_t idlen)
{
    redisReply *r = redisCommand(t->db, "XRANGE test:job:%s:events - +", job);
    uint64_t ts = 0;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements && !ts; i++) {
        redisReply *e = r->element[i], *f = e->element[1];
        const char *ev = "", *tk = "", *tss = "0", *n = NULL;
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            if (!strcmp(f->element[k]->str, "event")) ev = f->element[k + 1]->str;
            if (!strcmp(f->element[k]->str, "task")) tk = f->element[k + 1]->str;
            if (!strcmp(f->element[k]->str, "ts")) tss = f->element[k + 1]->str;
            if (!strcmp(f->element[k]->str, "n")) n = f->element[k + 1]->str;
        }
        if (strcmp(ev, kind)) continue;
        if (!n && !strcmp(tk, task)) {
            ts = strtoull(tss, NULL, 10);
            if (id) snprintf(id, idlen, "%s", e->element[0]->str);
        } else if (n) {
            long at = list_index(tk, task);
            unsigned long long ms = 0, seq = 0, cnt = strtoull(n, NULL, 10);
            if (at < 0 || sscanf(e->element[0]->str, "%llu-%llu", &ms, &seq) != 2) continue;
            ts = strtoull(tss, NULL, 10);
            if (id) snprintf(id, idlen, "%llu-%llu", ms, seq - cnt + 1 + (unsigned long long)at);
        }
    }
    freeReplyObject(r);
    return ts;
}

/* Compare stream ids "ms-seq" numerically. */
static int id_cmp(const char *a, const char *b)
{
    unsigned long long am = 0, as = 0, bm = 0, bs = 0;
    sscanf(a, "%llu-%llu", &am, &as);
    sscanf(b, "%llu-%llu", &bm, &bs);
    if (am != bm) return am < bm ? -1 : 1;
    return as < bs ? -1 : as > bs;
}

static void merge(tctx *t)
{
    char e[256];
    int before = t->f.merged;
    CHECK(sched_merge_pending(t->f.s, sched_fixture_merged_cb, t, e, sizeof e) == 0);
    uint64_t end = swarm_clock_ms() + 5000;
    while (t->f.merged == before && swarm_clock_ms() < end)
        uv_run(t->f.loop, UV_RUN_NOWAIT), fixture_sleep_ms(1);
    CHECK(t->f.merged == before + 1);
}

static void test_submit_refused(tctx *t)
{
    const char *items[] = {"fetch", "parse", "index", "report"};
    /* parse -> index -> report -> parse */
    CHECK(submit(t, "j-cycle", items, 4, "t0001=t0003;t0002=t0001;t0003=t0002", 3, 100, 0) != 0);
    CHECK(strstr(t->f.err, "dependency cycle") != NULL);
    CHECK(strstr(t->f.err, "parse") && strstr(t->f.err, "index") && strstr(t->f.err, "report"));
    CHECK(strstr(t->f.err, "fetch") == NULL); /* not on the cycle, not named */
    CHECK(submit(t, "j-self", items, 2, "t0001=t0001", 3, 100, 0) != 0);
    CHECK(strstr(t->f.err, "depends on itself") != NULL);
    CHECK(submit(t, "j-unknown", items, 2, "t0001=t0007", 3, 100, 0) != 0);
    CHECK(strstr(t->f.err, "unknown task t0007") != NULL);
    /* nothing was written for a refused job */
    redisReply *r = redisCommand(t->db, "EXISTS test:job:j-cycle test:job:j-cycle:tasks");
    CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer == 0);
    freeReplyObject(r);
}

static void test_slow_branch(tctx *t)
{
    /* slow (t0000) <- after-slow (t0001);  quick (t0002) <- after-quick (t0003) */
    const char *items[] = {"slow", "after-slow", "quick", "after-quick"};
    CHECK(submit(t, "j-flow", items, 4, "t0001=t0000;t0003=t0002", 3, 100, 0) == 0);
    char buf[512];
    CHECK(!strcmp(hget(t, "j-flow", "t0001", "state", buf, sizeof buf), "pending"));
    lease(t, 4); /* only the two roots are ready */
    CHECK(t->n_leases == 2);
    CHECK(held(t, "j-flow", "t0000") && held(t, "j-flow", "t0002"));
    CHECK(complete(t, "j-flow", "t0002", true, "quick-result-42") == SCHED_OK);
    /* the slow branch still runs; after-quick is ready now, with quick's result */
    lease(t, 4);
    CHECK(t->n_leases == 1);
    CHECK(t->n_leases == 1 && !strcmp(t->leases[0].task, "t0003"));
    CHECK(strstr(t->leases[0].input, "## result of quick") != NULL);
    CHECK(strstr(t->leases[0].input, "quick-result-42") != NULL);
    CHECK(complete(t, "j-flow", "t0003", true, "aq") == SCHED_OK);
    fixture_sleep_ms(5); /* so "slow done" has a later timestamp than the quick branch */
    CHECK(complete(t, "j-flow", "t0000", true, "slow-result") == SCHED_OK);
    lease(t, 4);
    CHECK(t->n_leases == 1 && !strcmp(t->leases[0].task, "t0001"));
    CHECK(complete(t, "j-flow", "t0001", true, "as") == SCHED_OK);
    CHECK(t->f.merge);
    /* ordering by the events' timestamps: after-quick became ready in the very
     * script call that finished quick, and was leased and done before slow was */
    char id_qd[64], id_aqr[64], id_aqd[64], id_sd[64], id_asr[64];
    uint64_t quick_done = event_ts(t, "j-flow", "task_done", "t0002", id_qd, sizeof id_qd);
    uint64_t aq_ready = event_ts(t, "j-flow", "task_ready", "t0003", id_aqr, sizeof id_aqr);
    uint64_t aq_done = event_ts(t, "j-flow", "task_done", "t0003", id_aqd, sizeof id_aqd);
    uint64_t slow_done = event_ts(t, "j-flow", "task_done", "t0000", id_sd, sizeof id_sd);
    uint64_t as_ready = event_ts(t, "j-flow", "task_ready", "t0001", id_asr, sizeof id_asr);
    CHECK(quick_done && aq_ready == quick_done);
    CHECK(aq_done && slow_done && aq_done < slow_done);
    CHECK(id_cmp(id_aqd, id_sd) < 0);
    CHECK(as_ready == slow_done && id_cmp(id_sd, id_asr) < 0);
    merge(t);
    CHECK(!strcmp(t->f.merged_state, "done"));
}

static void test_failure_skips_branch(tctx *t)
{
    /* build (t0000) <- test (t0001) <- deploy (t0002);  docs (t0003) alone;
     * summary (t0004) needs test and docs */
    const char *items[] = {"build", "test", "deploy", "docs", "summary"};
    CHECK(submit(t, "j-fail", items, 5, "t0001=t0000;t0002=t0001;t0004=t0001,t0003", 1, 100, 0) ==
          0);
    lease(t, 4);
    CHECK(t->n_leases == 2); /* build and docs */
    CHECK(complete(t, "j-fail", "t0000", false, "") == SCHED_FAILED);
    char buf[512];
    for (int i = 1; i <= 4; i++) {
        char tid[16];
        snprintf(tid, sizeof tid, "t%04d", i);
        hget(t, "j-fail", tid, "state", buf, sizeof buf);
        if (i == 3)
            CHECK(!strcmp(buf, "leased")); /* docs: another branch, untouched */
        else
            CHECK(!strcmp(buf, "skipped"));
    }
    hget(t, "j-fail", "t0002", "error", buf, sizeof buf);
    CHECK(strstr(buf, "skipped: dependency t0000 (build) failed") != NULL);
    CHECK(strstr(buf, "compiler exploded") != NULL);
    CHECK(!t->f.merge);
    CHECK(complete(t, "j-fail", "t0003", true, "docs-ok") == SCHED_OK);
    CHECK(t->f.merge); /* all terminal: skipped counts as terminal */
    merge(t);
    CHECK(!strcmp(t->f.merged_state, "failed"));
    redisReply *r = redisCommand(t->db, "GET test:job:j-fail:result");
    const char *res = r && r->type == REDIS_REPLY_STRING ? r->str : "";
    CHECK(strstr(res, "\"state\":\"skipped\"") != NULL);
    CHECK(strstr(res, "docs-ok") != NULL);
    freeReplyObject(r);
    /* swarm retry: build runs again and its branch waits for it once more */
    SCHED_SYNC(&t->f, sched_job_retry(t->f.s, "j-fail", retry_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0 && t->f.outcome == 1);
    CHECK(!strcmp(hget(t, "j-fail", "t0002", "state", buf, sizeof buf), "pending"));
    lease(t, 4);
    CHECK(t->n_leases == 1 && !strcmp(t->leases[0].task, "t0000"));
    CHECK(complete(t, "j-fail", "t0000", true, "built") == SCHED_OK);
    lease(t, 4);
    CHECK(t->n_leases == 1 && !strcmp(t->leases[0].task, "t0001"));
    CHECK(complete(t, "j-fail", "t0001", true, "tested") == SCHED_OK);
    lease(t, 4); /* deploy and summary (docs is done) */
    CHECK(t->n_leases == 2);
    CHECK(complete(t, "j-fail", "t0002", true, "deployed") == SCHED_OK);
    CHECK(complete(t, "j-fail", "t0004", true, "summed") == SCHED_OK);
    CHECK(t->f.merge);
    merge(t);
    CHECK(!strcmp(t->f.merged_state, "done"));
}

static void test_spawn_budget(tctx *t)
{
    const char *items[] = {"lead"};
    CHECK(submit(t, "j-spawn", items, 1, NULL, 3, 3, 1) == 0);
    lease(t, 1);
    CHECK(t->n_leases == 1);
    CHECK(spawn(t, "j-spawn", "t0000", "child-a", "") == SCHED_SPAWN_OK);
    CHECK(!strcmp(t->child, "t0001"));
    /* depends on its parent, which still runs: it waits */
    CHECK(spawn(t, "j-spawn", "t0000", "child-b", "t0000") == SCHED_SPAWN_OK);
    CHECK(!strcmp(t->child, "t0002"));
    char buf[512];
    CHECK(!strcmp(hget(t, "j-spawn", "t0002", "state", buf, sizeof buf), "pending"));
    /* the fourth task is over budget.max_subtasks = 3 */
    CHECK(spawn(t, "j-spawn", "t0000", "child-c", "") == SCHED_SPAWN_REFUSED);
    CHECK(strstr(t->msg, "budget.max_subtasks exceeded") != NULL);
    CHECK(strstr(t->msg, "3 of its 3") != NULL);
    /* a forged token is not the holder */
    sched_spawn sp = {
        .parent = {"j-spawn", "t0000", 1, 12345}, .worker = "w1", .instructions = "x", .item = "x"};
    SCHED_SYNC(&t->f, sched_task_spawn(t->f.s, &sp, spawn_cb, t, e_, sizeof e_));
    CHECK(t->f.outcome == SCHED_SPAWN_STALE && t->child[0] == 0);
    /* child-a at depth 1 may not spawn below max_depth = 1 */
    lease(t, 2);
    CHECK(t->n_leases == 1 && !strcmp(t->leases[0].task, "t0001"));
    CHECK(spawn(t, "j-spawn", "t0001", "grandchild", "") == SCHED_SPAWN_REFUSED);
    CHECK(strstr(t->msg, "budget.max_depth exceeded") != NULL);
    redisReply *r = redisCommand(t->db, "HMGET test:job:j-spawn total n_ready n_pending");
    CHECK(r && r->elements == 3 && !strcmp(r->element[0]->str, "3") &&
          !strcmp(r->element[1]->str, "0") && !strcmp(r->element[2]->str, "1"));
    freeReplyObject(r);
    /* the parent finishes: child-b is released with the parent's result */
    CHECK(complete(t, "j-spawn", "t0000", true, "lead-out") == SCHED_OK);
    CHECK(complete(t, "j-spawn", "t0001", true, "a-out") == SCHED_OK);
    CHECK(!t->f.merge);
    lease(t, 2);
    CHECK(t->n_leases == 1 && !strcmp(t->leases[0].task, "t0002"));
    CHECK(strstr(t->leases[0].input, "lead-out") != NULL);
    CHECK(complete(t, "j-spawn", "t0002", true, "b-out") == SCHED_OK);
    CHECK(t->f.merge);
    merge(t);
    CHECK(!strcmp(t->f.merged_state, "done"));
}

static void test_model_plan(tctx *t)
{
    /* "plan": "model": t0000 plans; merge "agent": a reducer writes the answer */
    sched_task_spec tasks[1] = {{.instructions = "Plan {item}", .item = "plan", .input = ""}};
    sched_job_spec job = {.name = "planned",
                          .goal = "g",
                          .merge = "agent",
                          .max_tokens = 8,
                          .max_attempts = 3,
                          .max_subtasks = 5,
                          .wall_time_s = 60,
                          .n_tasks = 1,
                          .tasks = tasks,
                          .plan_schema = "{\"type\":\"object\"}"};
    SCHED_SYNC(&t->f,
               sched_job_submit(t->f.s, "j-plan", &job, sched_fixture_done_cb, t, e_, sizeof e_));
    CHECK(t->f.rc == 0);
    lease(t, 4);
    CHECK(t->n_leases == 1);
    /* a plan over the budget (5 - planner - reducer = 3 sub-tasks) fails the attempt */
    CHECK(complete(t, "j-plan", "t0000", true,
                   "{\"tasks\":[{\"id\":\"a\",\"instructions\":\"x\",\"depends_on\":[]},"
                   "{\"id\":\"b\",\"instructions\":\"x\",\"depends_on\":[]},"
                   "{\"id\":\"c\",\"instructions\":\"x\",\"depends_on\":[]},"
                   "{\"id\":\"d\",\"instructions\":\"x\",\"depends_on\":[]}]}") == SCHED_RETRY);
    char buf[512];
    hget(t, "j-plan", "t0000", "error", buf, sizeof buf);
    CHECK(strstr(buf, "exceed budget.max_subtasks") != NULL);
    /* a cycle is refused too; the retry waits out its backoff (1 s) */
    fixture_sleep_ms(1100);
    lease(t, 4);
    CHECK(t->n_leases == 1);
    CHECK(complete(t, "j-plan", "t0000", true,
                   "{\"tasks\":[{\"id\":\"a\",\"instructions\":\"x\",\"depends_on\":[\"b\"]},"
                   "{\"id\":\"b\",\"instructions\":\"x\",\"depends_on\":[\"a\"]}]}") ==
          SCHED_RETRY);
    hget(t, "j-plan", "t0000", "error", buf, sizeof buf);
    CHECK(strstr(buf, "dependency cycle a -> b -> a") ||
          strstr(buf, "dependency cycle b -> a -> b"));
    fixture_sleep_ms(2100);
    lease(t, 4);
    CHECK(t->n_leases == 1);
    CHECK(complete(t, "j-plan", "t0000", true,
                   "{\"tasks\":[{\"id\":\"survey\",\"instructions\":\"Survey\",\"depends_on\":[]},"
                   "{\"id\":\"write\",\"instructions\":\"Write it up\",\"tools\":[\"read_file\"],"
                   "\"depends_on\":[\"survey\"]}]}") == SCHED_OK);
    CHECK(!t->f.merge);
    /* survey t0001 ready; write t0002 waits for it; reducer t0003 waits for both */
    CHECK(!strcmp(hget(t, "j-plan", "t0001", "state", buf, sizeof buf), "ready"));
    CHECK(!strcmp(hget(t, "j-plan", "t0002", "deps", buf, sizeof buf), "t0001"));
    CHECK(!strcmp(hget(t, "j-plan", "t0002", "tools", buf, sizeof buf), "[\"read_file\"]"));
    CHECK(!strcmp(hget(t, "j-plan", "t0003", "deps", buf, sizeof buf), "t0001,t0002"));
    lease(t, 4);
    CHECK(t->n_leases == 1 && !strcmp(t->leases[0].task, "t0001"));
    CHECK(complete(t, "j-plan", "t0001", true, "survey-out") == SCHED_OK);
    lease(t, 4);
    CHECK(t->n_leases == 1 && !strcmp(t->leases[0].task, "t0002"));
    CHECK(complete(t, "j-plan", "t0002", true, "write-out") == SCHED_OK);
    lease(t, 4);
    CHECK(t->n_leases == 1 && !strcmp(t->leases[0].task, "t0003"));
    CHECK(strstr(t->leases[0].input, "survey-out") && strstr(t->leases[0].input, "write-out"));
    CHECK(complete(t, "j-plan", "t0003", true, "THE FINAL ANSWER") == SCHED_OK);
    CHECK(t->f.merge);
    merge(t);
    CHECK(!strcmp(t->f.merged_state, "done"));
    redisReply *r = redisCommand(t->db, "GET test:job:j-plan:result");
    const char *res = r && r->type == REDIS_REPLY_STRING ? r->str : "";
    CHECK(strstr(res, "\"merged\":\"THE FINAL ANSWER\"") != NULL);
    CHECK(strstr(res, "\"reducer\":\"t0003\"") != NULL);
    freeReplyObject(r);
}

int main(void)
{
    redis_fixture fx = {0};
    uv_loop_t loop;
    tctx t = {0};
    if (sched_fixture_start(&t.f, &fx, &loop, NULL, NULL) != 0) return 1;
    t.db = redisConnectUnix(fx.sock);
    CHECK(t.db && !t.db->err);
    if (t.db && !t.db->err) {
        test_submit_refused(&t);
        test_slow_branch(&t);
        test_failure_skips_branch(&t);
        test_spawn_budget(&t);
        test_model_plan(&t);
    }
    if (t.db) redisFree(t.db);
    sched_fixture_stop(&t.f, &fx);
    if (!check_fail_count) printf("test_dag: all checks passed\n");
    return check_done();
}
