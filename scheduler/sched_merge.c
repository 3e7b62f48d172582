/* sched_merge.c - the merger: one result JSON per job (format in docs/JOBS.md).
 *
 * Deterministic reducers over the collected tasks, in task order:
 *   concat - one labelled section per task, "## <item>\n<output>", joined
 *            with a blank line, so each output can be matched to its item
 *            (a failed or cancelled task's section says so instead);
 *   json   - an array of {task_id, item, status, output} per task: output
 *            parsed as JSON, or kept as a string when it does not parse, or
 *            null (with error) when the task did not succeed.
 * Every task appears exactly once in "results"; failed ones also in
 * "failed_tasks". The JSON is built here and stored by finish.lua, which only
 * accepts it while the job is still "merging", so it is stored once. */
#include "sched_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

static const char *hash_get(const redisReply *h, const char *key)
{
    if (!h || h->type != REDIS_REPLY_ARRAY) return "";
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (strcmp(sched_reply_str(h->element[i]), key) == 0)
            return sched_reply_str(h->element[i + 1]);
    return "";
}

/* Append s to a growing buffer. */
typedef struct strbuf {
    char *p;
    size_t len, cap;
    bool oom;
} strbuf;

static void sb_add(strbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

#define MERGE_LABEL_MAX 120 /* bytes of an item shown in its concat label */

/* "## <item>\n" with the item on one line (items may hold newlines) and
 * cut, on a UTF-8 boundary, to MERGE_LABEL_MAX bytes plus "...": a whole
 * line or file is an input, not a label (results[] keeps the full item). */
static void sb_label(strbuf *b, const char *item)
{
    size_t n = strlen(item);
    bool cut = n > MERGE_LABEL_MAX;
    if (cut) {
        n = MERGE_LABEL_MAX;
        while (n > 0 && ((unsigned char)item[n] & 0xC0) == 0x80)
            n--;
    }
    sb_add(b, "## ", 3);
    for (size_t i = 0; i < n; i++)
        sb_add(b, (item[i] == '\n' || item[i] == '\r') ? " " : &item[i], 1);
    if (cut) sb_add(b, "...", 3);
    sb_add(b, "\n", 1);
}

int sched_merge_build(const redisReply *c, const char *job_id, char **json, const char **state,
                      char *err, size_t errlen)
{
    *json = NULL;
    *state = NULL;
    if (!c || c->type != REDIS_REPLY_ARRAY || c->elements < 1) {
        snprintf(err, errlen, "merge %s: unexpected collect reply", job_id);
        return -1;
    }
    const redisReply *h = c->element[0];
    if (h->type != REDIS_REPLY_ARRAY || h->elements == 0) {
        snprintf(err, errlen, "merge %s: job not found", job_id);
        return -1;
    }
    const char *merge = hash_get(h, "merge");
    bool as_json = strcmp(merge, "json") == 0;
    bool cancel = strcmp(hash_get(h, "cancel_requested"), "1") == 0;
    /* merge "agent": the reducer task's answer is the merged result */
    const char *reducer = strcmp(merge, "agent") == 0 ? hash_get(h, "reducer") : "";
    const char *reduced = NULL;
    unsigned done = 0, failed = 0, cancelled = 0, total = 0;

    cJSON *root = cJSON_CreateObject();
    cJSON *results = cJSON_CreateArray();
    cJSON *failed_tasks = cJSON_CreateArray();
    cJSON *merged_json = as_json ? cJSON_CreateArray() : NULL;
    strbuf cat = {0};
    bool first = true;
    if (!root || !results || !failed_tasks || (as_json && !merged_json)) goto oom;

    for (size_t i = 1; i < c->elements; i++) {
        const redisReply *t = c->element[i];
        if (t->type != REDIS_REPLY_ARRAY || t->elements < 8) continue;
        const char *tid = sched_reply_str(t->element[0]);
        const char *st = sched_reply_str(t->element[1]);
        long long attempt = sched_reply_ll(t->element[2]);
        const char *item = sched_reply_str(t->element[3]);
        const char *output = sched_reply_str(t->element[4]);
        const char *error = sched_reply_str(t->element[5]);
        const char *worker = sched_reply_str(t->element[6]);
        long long tokens = sched_reply_ll(t->element[7]);
        bool ok = strcmp(st, "done") == 0;
        if (ok && reducer[0] && strcmp(tid, reducer) == 0) reduced = output;
        total++;
        cJSON *r = cJSON_CreateObject();
        if (!r) goto oom;
        cJSON_AddItemToArray(results, r);
        cJSON_AddStringToObject(r, "task_id", tid);
        cJSON_AddStringToObject(r, "item", item);
        cJSON_AddBoolToObject(r, "ok", ok);
        cJSON_AddStringToObject(r, "state", st);
        cJSON_AddStringToObject(r, "output", ok ? output : "");
        cJSON_AddNumberToObject(r, "attempt", (double)attempt);
        cJSON_AddStringToObject(r, "worker", worker);
        cJSON_AddNumberToObject(r, "tokens", (double)tokens);
        if (t->elements >= 10 && sched_reply_str(t->element[8])[0]) {
            /* an agent sub-task (collect.lua: steps, tool_calls) */
            cJSON_AddNumberToObject(r, "steps", (double)sched_reply_ll(t->element[8]));
            cJSON_AddNumberToObject(r, "tool_calls", (double)sched_reply_ll(t->element[9]));
        }
        cJSON *mj = NULL;
        if (as_json) {
            if (!(mj = cJSON_CreateObject())) goto oom;
            cJSON_AddItemToArray(merged_json, mj);
            cJSON_AddStringToObject(mj, "task_id", tid);
            cJSON_AddStringToObject(mj, "item", item);
            cJSON_AddStringToObject(mj, "status", st);
        } else {
            if (!first) sb_add(&cat, "\n\n", 2);
            first = false;
            sb_label(&cat, item);
        }
        if (ok) {
            done++;
            if (as_json) {
                size_t olen = t->element[4]->type == REDIS_REPLY_STRING ? t->element[4]->len : 0;
                cJSON *v = cJSON_ParseWithLength(output, olen);
                if (!v) v = cJSON_CreateString(output);
                if (!v) goto oom;
                cJSON_AddItemToObject(mj, "output", v);
            } else {
                sb_add(&cat, output, strlen(output));
            }
        } else {
            const char *why = error[0] ? error : st;
            if (strcmp(st, "cancelled") == 0) {
                cancelled++;
                why = "cancelled";
            } else {
                failed++;
                cJSON *f = cJSON_CreateObject();
                if (!f) goto oom;
                cJSON_AddItemToArray(failed_tasks, f);
                cJSON_AddStringToObject(f, "task_id", tid);
                cJSON_AddStringToObject(f, "item", item);
                cJSON_AddStringToObject(f, "error", why);
                cJSON_AddNumberToObject(f, "attempts", (double)attempt);
            }
            cJSON_AddStringToObject(r, "error", why);
            if (as_json) {
                cJSON_AddNullToObject(mj, "output");
                cJSON_AddStringToObject(mj, "error", why);
            } else {
                sb_add(&cat, "[", 1);
                sb_add(&cat, st, strlen(st));
                if (strcmp(st, "cancelled") != 0) {
                    sb_add(&cat, ": ", 2);
                    sb_add(&cat, why, strlen(why));
                }
                sb_add(&cat, "]", 1);
            }
        }
    }
    if (cat.oom) goto oom;
    /* a job with tasks cancelled one by one (swarm cancel JOB TASK) is not done */
    *state = cancel ? "cancelled" : failed ? "failed" : cancelled ? "cancelled" : "done";
    cJSON_AddStringToObject(root, "job_id", job_id);
    cJSON_AddStringToObject(root, "name", hash_get(h, "name"));
    cJSON_AddStringToObject(root, "state", *state);
    cJSON_AddStringToObject(root, "merge", merge);
    cJSON_AddNumberToObject(root, "total", total);
    cJSON_AddNumberToObject(root, "done", done);
    cJSON_AddNumberToObject(root, "failed", failed);
    cJSON_AddNumberToObject(root, "cancelled", cancelled);
    cJSON_AddItemToObject(root, "results", results);
    results = NULL;
    cJSON_AddItemToObject(root, "failed_tasks", failed_tasks);
    failed_tasks = NULL;
    if (as_json) {
        cJSON_AddItemToObject(root, "merged", merged_json);
        merged_json = NULL;
    } else if (reducer[0]) {
        /* no answer when the reducer did not run: the sub-results stay in results[] */
        cJSON_AddStringToObject(root, "reducer", reducer);
        cJSON_AddStringToObject(root, "merged", reduced ? reduced : "");
    } else {
        cJSON_AddStringToObject(root, "merged", cat.p ? cat.p : "");
    }
    *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    free(cat.p);
    if (!*json) {
        snprintf(err, errlen, "merge %s: out of memory", job_id);
        return -1;
    }
    return 0;
oom:
    cJSON_Delete(root);
    cJSON_Delete(results);
    cJSON_Delete(failed_tasks);
    cJSON_Delete(merged_json);
    free(cat.p);
    snprintf(err, errlen, "merge %s: out of memory", job_id);
    return -1;
}
