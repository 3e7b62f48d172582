/* test_merge.c - the merger (scheduler/sched_merge.c) on its own: collect.lua
 * replies are written in RESP and parsed by hiredis' own reader (the objects
 * swarmd gets from Redis), fed page by page like sched.c does, and the pieces
 * are joined the way finish.lua joins them. The joined result must be valid
 * JSON (docs/JOBS.md) with every task once, in order: concat labels, json
 * parsing, failed and cancelled tasks, the agent reducer, paging, big outputs,
 * escapes, and refusals of malformed replies. No Redis needed. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../common/check.h"
#include "sched_int.h"
#include "swarm_buf.h"

/* ---- collect replies in RESP ---- */

static void resp_bulk(swarm_buf *b, const char *s)
{
    swarm_buf_printf(b, "$%zu\r\n", strlen(s));
    swarm_buf_put(b, s);
    swarm_buf_put(b, "\r\n");
}

/* One task entry: {task, state, attempt, item, output, error, worker, tokens,
 * steps, tool_calls} as collect.lua returns it. */
typedef struct task_in {
    const char *id, *state, *attempt, *item, *output, *error, *worker, *tokens, *steps, *calls;
} task_in;

static void resp_task(swarm_buf *b, const task_in *t)
{
    const char *f[10] = {t->id,
                         t->state,
                         t->attempt ? t->attempt : "1",
                         t->item ? t->item : "",
                         t->output ? t->output : "",
                         t->error ? t->error : "",
                         t->worker ? t->worker : "w-1",
                         t->tokens ? t->tokens : "3",
                         t->steps ? t->steps : "",
                         t->calls ? t->calls : "0"};
    swarm_buf_put(b, "*10\r\n");
    for (int i = 0; i < 10; i++)
        resp_bulk(b, f[i]);
}

/* A collect reply: the job hash (fields, NULL-terminated name/value pairs;
 * NULL hash = a later page's empty {}) and tasks[0..n). */
static redisReply *collect_reply(const char *const *hash, const task_in *tasks, size_t n)
{
    swarm_buf b = {0};
    size_t nh = 0;
    while (hash && hash[nh])
        nh++;
    swarm_buf_printf(&b, "*%zu\r\n*%zu\r\n", n + 1, nh);
    for (size_t i = 0; i < nh; i++)
        resp_bulk(&b, hash[i]);
    for (size_t i = 0; i < n; i++)
        resp_task(&b, &tasks[i]);
    redisReply *r = NULL;
    redisReader *rd = redisReaderCreate();
    if (!b.oom && rd && redisReaderFeed(rd, b.s, b.n) == REDIS_OK &&
        redisReaderGetReply(rd, (void **)&r) == REDIS_OK && r)
        ;
    else
        CHECK(0, "RESP reply did not parse");
    redisReaderFree(rd);
    swarm_buf_free(&b);
    return r;
}

/* ---- the merger, driven like sched.c's collect/finish ops ---- */

typedef struct merged {
    char *json; /* head R mid1 F mid2 M tail */
    const char *state;
    size_t tasks; /* n_tasks summed over pages */
} merged;

/* Merge tasks in pages of `page`; returns 0 and fills *m, or -1 with err. */
static int merge_run(const char *job, const char *const *hash, const task_in *tasks, size_t n,
                     size_t page, merged *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    sched_merge_acc *a = NULL;
    swarm_buf frag[3] = {{0}};
    size_t at = 0;
    int rc = -1;
    do {
        size_t k = n - at < page ? n - at : page;
        redisReply *r = collect_reply(at == 0 ? hash : NULL, tasks + at, k);
        if (!r) goto out;
        if (!a && sched_merge_open(&a, job, r, err, errlen) != 0) {
            freeReplyObject(r);
            goto out;
        }
        sched_merge_clear(a); /* the previous page went to Redis */
        size_t got = 0;
        int prc = sched_merge_page(a, r, &got, err, errlen);
        freeReplyObject(r);
        if (prc != 0) goto out;
        CHECK_EQ(got, k);
        m->tasks += got;
        for (int w = 0; w < 3; w++) { /* what merge_append stores */
            size_t len;
            const char *p = sched_merge_fragment(a, w, &len);
            swarm_buf_putn(&frag[w], p, len);
        }
        at += k;
    } while (at < n);
    char *head, *mid1, *mid2, *tail;
    if (sched_merge_close(a, &head, &mid1, &mid2, &tail, &m->state, err, errlen) != 0) goto out;
    swarm_buf j = {0};
    swarm_buf_put(&j, head);
    swarm_buf_put(&j, swarm_buf_str(&frag[0]));
    swarm_buf_put(&j, mid1);
    swarm_buf_put(&j, swarm_buf_str(&frag[1]));
    swarm_buf_put(&j, mid2);
    swarm_buf_put(&j, swarm_buf_str(&frag[2]));
    swarm_buf_put(&j, tail);
    free(head);
    free(mid1);
    free(mid2);
    free(tail);
    m->json = j.s;
    rc = j.oom ? -1 : 0;
out:
    sched_merge_free(a);
    for (int w = 0; w < 3; w++)
        swarm_buf_free(&frag[w]);
    return rc;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static long long num_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
}

/* Merge and parse; the JSON must parse. Caller frees the tree. */
static cJSON *merge_parse(const char *const *hash, const task_in *tasks, size_t n, size_t page,
                          merged *m)
{
    char err[256] = "";
    int rc = merge_run("j-test", hash, tasks, n, page, m, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (rc != 0) return NULL;
    cJSON *root = cJSON_Parse(m->json);
    CHECK(root != NULL, "not JSON: %.300s", m->json);
    return root;
}

/* ---- cases ---- */

static const char *const H_CONCAT[] = {"name", "t", "merge", "concat", NULL};
static const char *const H_JSON[] = {"name", "t", "merge", "json", NULL};

/* concat: labelled sections in task order; failed and cancelled tasks say so;
 * results[] has every task once, failed_tasks only the failed one. */
static void test_concat(void)
{
    task_in t[] = {
        {.id = "t0000", .state = "done", .item = "alpha", .output = "out-a", .tokens = "7"},
        {.id = "t0001", .state = "failed", .attempt = "3", .item = "beta", .error = "boom"},
        {.id = "t0002", .state = "cancelled", .item = "gamma"},
        {.id = "t0003", .state = "done", .item = "delta", .output = "out-d"},
    };
    merged m;
    cJSON *root = merge_parse(H_CONCAT, t, 4, 2000, &m);
    if (!root) return;
    CHECK_STR(m.state, "failed"); /* a failure outweighs a cancellation */
    CHECK_STR(str_of(root, "state"), "failed");
    CHECK_STR(str_of(root, "job_id"), "j-test");
    CHECK_STR(str_of(root, "merge"), "concat");
    CHECK_EQ(num_of(root, "total"), 4);
    CHECK_EQ(num_of(root, "done"), 2);
    CHECK_EQ(num_of(root, "failed"), 1);
    CHECK_EQ(num_of(root, "cancelled"), 1);
    CHECK_STR(str_of(root, "merged"),
              "## alpha\nout-a\n\n## beta\n[failed: boom]\n\n## gamma\n[cancelled]\n\n## delta\n"
              "out-d");
    cJSON *res = cJSON_GetObjectItem(root, "results");
    CHECK_EQ(cJSON_GetArraySize(res), 4);
    for (int i = 0; i < 4 && i < cJSON_GetArraySize(res); i++) {
        cJSON *x = cJSON_GetArrayItem(res, i);
        CHECK_STR(str_of(x, "task_id"), t[i].id);
        CHECK_STR(str_of(x, "item"), t[i].item);
        CHECK_STR(str_of(x, "state"), t[i].state);
        CHECK(cJSON_IsTrue(cJSON_GetObjectItem(x, "ok")) == !strcmp(t[i].state, "done"));
        /* a task that did not succeed shows no output, only why */
        CHECK_STR(str_of(x, "output"), !strcmp(t[i].state, "done") ? t[i].output : "");
        CHECK(cJSON_GetObjectItem(x, "steps") == NULL); /* not an agent task */
    }
    cJSON *r1 = cJSON_GetArrayItem(res, 1);
    CHECK_STR(str_of(r1, "error"), "boom");
    CHECK_EQ(num_of(r1, "attempt"), 3);
    CHECK_STR(str_of(cJSON_GetArrayItem(res, 2), "error"), "cancelled");
    CHECK_EQ(num_of(cJSON_GetArrayItem(res, 0), "tokens"), 7);
    CHECK_STR(str_of(cJSON_GetArrayItem(res, 0), "worker"), "w-1");
    cJSON *ft = cJSON_GetObjectItem(root, "failed_tasks");
    CHECK_EQ(cJSON_GetArraySize(ft), 1);
    cJSON *f0 = cJSON_GetArrayItem(ft, 0);
    CHECK_STR(str_of(f0, "task_id"), "t0001");
    CHECK_STR(str_of(f0, "item"), "beta");
    CHECK_STR(str_of(f0, "error"), "boom");
    CHECK_EQ(num_of(f0, "attempts"), 3);
    CHECK(m.tasks == 4);
    cJSON_Delete(root);
    free(m.json);
}

/* A job with no tasks still gets a whole, valid result. */
static void test_empty(void)
{
    merged m;
    cJSON *root = merge_parse(H_CONCAT, NULL, 0, 2000, &m);
    if (!root) return;
    CHECK_STR(m.state, "done");
    CHECK_EQ(num_of(root, "total"), 0);
    CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(root, "results")), 0);
    CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(root, "failed_tasks")), 0);
    CHECK_STR(str_of(root, "merged"), "");
    cJSON_Delete(root);
    free(m.json);
    /* json merge: merged is an empty array */
    root = merge_parse(H_JSON, NULL, 0, 2000, &m);
    if (!root) return;
    CHECK(cJSON_IsArray(cJSON_GetObjectItem(root, "merged")));
    CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(root, "merged")), 0);
    cJSON_Delete(root);
    free(m.json);
}

/* json: an output that parses is kept as JSON, one that does not as a string,
 * a failed task's output is null with its error. */
static void test_json(void)
{
    task_in t[] = {
        {.id = "t0000", .state = "done", .item = "a", .output = "{\"k\":[1,2,{\"z\":null}]}"},
        {.id = "t0001", .state = "done", .item = "b", .output = "not json {"},
        {.id = "t0002", .state = "failed", .item = "c", .error = "model crashed"},
        {.id = "t0003", .state = "done", .item = "d", .output = "42"},
    };
    merged m;
    cJSON *root = merge_parse(H_JSON, t, 4, 2000, &m);
    if (!root) return;
    CHECK_STR(m.state, "failed");
    cJSON *mg = cJSON_GetObjectItem(root, "merged");
    CHECK_EQ(cJSON_GetArraySize(mg), 4);
    cJSON *m0 = cJSON_GetArrayItem(mg, 0), *m1 = cJSON_GetArrayItem(mg, 1);
    cJSON *m2 = cJSON_GetArrayItem(mg, 2), *m3 = cJSON_GetArrayItem(mg, 3);
    CHECK_STR(str_of(m0, "task_id"), "t0000");
    CHECK_STR(str_of(m0, "status"), "done");
    cJSON *o0 = cJSON_GetObjectItem(m0, "output");
    CHECK(cJSON_IsObject(o0));
    CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(o0, "k")), 3);
    CHECK_STR(str_of(m1, "output"), "not json {");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(m2, "output")));
    CHECK_STR(str_of(m2, "error"), "model crashed");
    CHECK_STR(str_of(m2, "status"), "failed");
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(m3, "output")));
    CHECK_EQ(num_of(m3, "output"), 42);
    CHECK_STR(str_of(m3, "item"), "d");
    cJSON_Delete(root);
    free(m.json);
}

/* Pages: 4500 tasks in pages of 2000 (as sched.c sends them) give the same
 * JSON as one page; order and exactly-once hold across page edges. */
static void test_pages(void)
{
    enum { N = 4500 };
    task_in *t = calloc(N, sizeof *t);
    char(*ids)[16] = calloc(N, sizeof *ids), (*items)[24] = calloc(N, sizeof *items);
    if (!t || !ids || !items) {
        CHECK(0, "out of memory");
        goto out;
    }
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "t%05d", i);
        snprintf(items[i], sizeof items[i], "item %d", i);
        bool bad = i % 1000 == 999;
        t[i] = (task_in){.id = ids[i],
                         .state = bad ? "failed" : "done",
                         .item = items[i],
                         .output = items[i],
                         .error = bad ? "no" : ""};
    }
    merged one, paged, as_json;
    cJSON *a = merge_parse(H_CONCAT, t, N, N, &one);
    cJSON *b = merge_parse(H_CONCAT, t, N, 2000, &paged);
    if (a && b) {
        CHECK(paged.tasks == N);
        CHECK_STR(paged.json, one.json);
        cJSON *res = cJSON_GetObjectItem(b, "results");
        CHECK_EQ(cJSON_GetArraySize(res), N);
        int in_order = 0;
        cJSON *x;
        cJSON_ArrayForEach(x, res)
        {
            const char *id = str_of(x, "task_id");
            in_order += id && !strcmp(id, ids[in_order]);
        }
        CHECK_EQ(in_order, N);
        CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(b, "failed_tasks")), 4);
        CHECK_EQ(num_of(b, "failed"), 4);
        /* the merged text joins page edges with the same blank line */
        const char *mg = str_of(b, "merged");
        CHECK(mg && strstr(mg, "## item 1999\n[failed: no]\n\n## item 2000\nitem 2000"));
    }
    cJSON *c = merge_parse(H_JSON, t, N, 2000, &as_json);
    if (c) CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(c, "merged")), N);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(c);
    free(one.json);
    free(paged.json);
    free(as_json.json);
out:
    free(t);
    free(ids);
    free(items);
}

/* A 3 MiB output and an item longer than a label: both kept whole where they
 * belong, the label cut on a UTF-8 boundary and kept on one line. */
static void test_big(void)
{
    size_t big = 3u << 20;
    char *out = malloc(big + 1);
    char item[400];
    if (!out) {
        CHECK(0, "out of memory");
        return;
    }
    for (size_t i = 0; i < big; i++)
        out[i] = (char)('a' + i % 26);
    out[big] = 0;
    /* 119 ASCII bytes, then 'é' (2 bytes) straddling byte 120, a newline, more */
    size_t k = 0;
    for (; k < 119; k++)
        item[k] = 'x';
    memcpy(item + k, "\xc3\xa9\nline two", 12);
    task_in t[] = {{.id = "t0000", .state = "done", .item = item, .output = out}};
    merged m;
    cJSON *root = merge_parse(H_CONCAT, t, 1, 2000, &m);
    if (root) {
        cJSON *r0 = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "results"), 0);
        const char *o = str_of(r0, "output");
        CHECK(o && strlen(o) == big && !memcmp(o, out, big));
        CHECK_STR(str_of(r0, "item"), item);
        const char *mg = str_of(root, "merged");
        /* "## " + 119 x's, the 2-byte letter left out whole, "...", newline */
        char want[200];
        snprintf(want, sizeof want, "## %.119s...\n", item);
        CHECK(mg && !strncmp(mg, want, strlen(want)), "label: %.140s", mg ? mg : "(null)");
        CHECK(mg && strlen(mg) == strlen(want) + big);
        cJSON_Delete(root);
        free(m.json);
    }
    free(out);
}

/* Quotes, backslashes, control bytes and multi-byte text survive both the
 * hand-escaped concat text and cJSON's arrays byte for byte. */
static void test_escapes(void)
{
    const char *nasty = "q\"b\\s\x01\x1f\t\r\b\f end \xe4\xb8\xad\xf0\x9f\x90\x9d";
    task_in t[] = {{.id = "t0000", .state = "done", .item = "i\"1", .output = nasty},
                   {.id = "t0001", .state = "failed", .item = "i2", .error = nasty}};
    merged m;
    cJSON *root = merge_parse(H_CONCAT, t, 2, 2000, &m);
    if (!root) return;
    char want[300];
    snprintf(want, sizeof want, "## i\"1\n%s\n\n## i2\n[failed: %s]", nasty, nasty);
    CHECK_STR(str_of(root, "merged"), want);
    CHECK_STR(str_of(cJSON_GetArrayItem(cJSON_GetObjectItem(root, "results"), 0), "output"), nasty);
    CHECK_STR(str_of(cJSON_GetArrayItem(cJSON_GetObjectItem(root, "failed_tasks"), 0), "error"),
              nasty);
    cJSON_Delete(root);
    free(m.json);
}

/* merge "agent": the reducer task's answer is the merged result; agent
 * sub-tasks carry steps and tool_calls; no answer when the reducer failed. */
static void test_agent(void)
{
    static const char *const h[] = {"name", "r", "merge", "agent", "reducer", "t0002", NULL};
    task_in t[] = {
        {.id = "t0000", .state = "done", .item = "a", .output = "A", .steps = "4", .calls = "3"},
        {.id = "t0001", .state = "done", .item = "b", .output = "B", .steps = "2", .calls = "1"},
        {.id = "t0002", .state = "done", .item = "", .output = "the \"answer\"", .steps = "1"},
    };
    merged m;
    cJSON *root = merge_parse(h, t, 3, 2000, &m);
    if (root) {
        CHECK_STR(m.state, "done");
        CHECK_STR(str_of(root, "reducer"), "t0002");
        CHECK_STR(str_of(root, "merged"), "the \"answer\"");
        cJSON *r0 = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "results"), 0);
        CHECK_EQ(num_of(r0, "steps"), 4);
        CHECK_EQ(num_of(r0, "tool_calls"), 3);
        cJSON_Delete(root);
        free(m.json);
    }
    t[2].state = "failed";
    t[2].error = "out of steps";
    root = merge_parse(h, t, 3, 2000, &m);
    if (root) {
        CHECK_STR(m.state, "failed");
        CHECK_STR(str_of(root, "merged"), "");
        CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(root, "results")), 3);
        cJSON_Delete(root);
        free(m.json);
    }
}

/* A job whose cancel was requested ends cancelled even with every task done;
 * tasks cancelled one by one (no job cancel) also make it cancelled. */
static void test_cancel(void)
{
    static const char *const h[] = {"merge", "concat", "cancel_requested", "1", NULL};
    task_in t[] = {{.id = "t0000", .state = "done", .item = "a", .output = "x"}};
    merged m;
    cJSON *root = merge_parse(h, t, 1, 2000, &m);
    if (root) {
        CHECK_STR(m.state, "cancelled");
        CHECK_STR(str_of(root, "state"), "cancelled");
        CHECK_STR(str_of(root, "name"), ""); /* no name field: empty, still a string */
        cJSON_Delete(root);
        free(m.json);
    }
    task_in t2[] = {{.id = "t0000", .state = "done", .item = "a", .output = "x"},
                    {.id = "t0001", .state = "cancelled", .item = "b"}};
    root = merge_parse(H_CONCAT, t2, 2, 2000, &m);
    if (root) {
        CHECK_STR(m.state, "cancelled");
        CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(root, "failed_tasks")), 0);
        cJSON_Delete(root);
        free(m.json);
    }
}

/* Malformed replies are refused with the job named; a short task entry is
 * counted (the page advances) but not merged. */
static void test_refusals(void)
{
    char err[256] = "";
    sched_merge_acc *a = (sched_merge_acc *)1;
    CHECK(sched_merge_open(&a, "j-x", NULL, err, sizeof err) == -1);
    CHECK(a == NULL);
    CHECK_CONTAINS(err, "merge j-x: unexpected collect reply");

    redisReply *r = collect_reply(NULL, NULL, 0); /* {{}}: the job hash is gone */
    CHECK(sched_merge_open(&a, "j-x", r, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "merge j-x: job not found");
    freeReplyObject(r);

    r = collect_reply(H_CONCAT, NULL, 0);
    CHECK(sched_merge_open(&a, "j-x", r, err, sizeof err) == 0);
    freeReplyObject(r);
    if (!a) return;
    size_t n = 9;
    CHECK(sched_merge_page(a, NULL, &n, err, sizeof err) == -1);
    CHECK_EQ(n, 0);
    /* {{}, {"t0000", "done"}}: too short for a task */
    redisReader *rd = redisReaderCreate();
    const char *short_task = "*2\r\n*0\r\n*2\r\n$5\r\nt0000\r\n$4\r\ndone\r\n";
    redisReply *sr = NULL;
    if (rd && redisReaderFeed(rd, short_task, strlen(short_task)) == REDIS_OK &&
        redisReaderGetReply(rd, (void **)&sr) == REDIS_OK && sr) {
        CHECK(sched_merge_page(a, sr, &n, err, sizeof err) == 0);
        CHECK_EQ(n, 1);
        size_t len = 1;
        sched_merge_fragment(a, 0, &len);
        CHECK_EQ(len, 0);
        freeReplyObject(sr);
    } else {
        CHECK(0, "short task reply did not parse");
    }
    redisReaderFree(rd);
    char *head, *mid1, *mid2, *tail;
    const char *state;
    CHECK(sched_merge_close(a, &head, &mid1, &mid2, &tail, &state, err, sizeof err) == 0);
    CHECK_STR(state, "done");
    CHECK_CONTAINS(head, "\"total\":0");
    free(head);
    free(mid1);
    free(mid2);
    free(tail);
    sched_merge_free(a);
}

int main(void)
{
    test_concat();
    test_empty();
    test_json();
    test_pages();
    test_big();
    test_escapes();
    test_agent();
    test_cancel();
    test_refusals();
    if (!check_fail_count) printf("test_merge: all checks passed\n");
    return check_done();
}
