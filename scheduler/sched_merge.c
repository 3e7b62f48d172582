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
 * "failed_tasks". The JSON is built in pages of tasks (collect.lua pages), so
 * swarmd's memory does not grow with the job: each page becomes three JSON
 * fragments (results, failed_tasks, merged) that Redis appends to scratch
 * keys; finish.lua joins them with the head and tail built at the end, and
 * only accepts the result while the job is still "merging", so it is stored
 * once. */
#include "sched_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "swarm_buf.h"

static const char *hash_get(const redisReply *h, const char *key)
{
    if (!h || h->type != REDIS_REPLY_ARRAY) return "";
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (strcmp(sched_reply_str(h->element[i]), key) == 0)
            return sched_reply_str(h->element[i + 1]);
    return "";
}

#define MERGE_LABEL_MAX 120 /* bytes of an item shown in its concat label */

/* "## <item>\n" with the item on one line (items may hold newlines) and
 * cut, on a UTF-8 boundary, to MERGE_LABEL_MAX bytes plus "...": a whole
 * line or file is an input, not a label (results[] keeps the full item). */
static void sb_label(swarm_buf *b, const char *item)
{
    size_t n = strlen(item);
    bool cut = n > MERGE_LABEL_MAX;
    if (cut) {
        n = MERGE_LABEL_MAX;
        while (n > 0 && ((unsigned char)item[n] & 0xC0) == 0x80)
            n--;
    }
    swarm_buf_putn(b, "## ", 3);
    for (size_t i = 0; i < n; i++)
        swarm_buf_putn(b, (item[i] == '\n' || item[i] == '\r') ? " " : &item[i], 1);
    if (cut) swarm_buf_putn(b, "...", 3);
    swarm_buf_putn(b, "\n", 1);
}

/* JSON string body (no quotes), escaped like cJSON prints it; escaping is
 * per byte, so pieces escaped one by one concatenate to the whole escaped. */
static void sb_json_body(swarm_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        const char *e = NULL;
        switch (c) {
        case '"':
            e = "\\\"";
            break;
        case '\\':
            e = "\\\\";
            break;
        case '\b':
            e = "\\b";
            break;
        case '\f':
            e = "\\f";
            break;
        case '\n':
            e = "\\n";
            break;
        case '\r':
            e = "\\r";
            break;
        case '\t':
            e = "\\t";
            break;
        default:
            break;
        }
        if (e) {
            swarm_buf_putn(b, e, strlen(e));
        } else if (c < 32) {
            char u[8];
            snprintf(u, sizeof u, "\\u%04x", c);
            swarm_buf_putn(b, u, 6);
        } else {
            swarm_buf_putn(b, s, 1);
        }
    }
}

/* Append a cJSON item printed unformatted, after a comma unless first. */
static void sb_item(swarm_buf *b, cJSON *item, bool *first)
{
    char *p = item ? cJSON_PrintUnformatted(item) : NULL;
    if (!p) {
        b->oom = true;
        return;
    }
    if (!*first) swarm_buf_putn(b, ",", 1);
    *first = false;
    swarm_buf_putn(b, p, strlen(p));
    free(p);
}

struct sched_merge_acc {
    char *job_id, *name, *merge, *reducer, *reduced;
    bool as_json, cancel, agent;
    uint64_t created_ms;
    bool first_r, first_f, first_m; /* no separator before the first piece */
    unsigned done, failed, cancelled, total;
    swarm_buf r, f, m; /* this page's fragments */
};

void sched_merge_summary(const sched_merge_acc *a, sched_merge_sum *sum)
{
    sum->name = a->name;
    sum->total = a->total;
    sum->done = a->done;
    sum->failed = a->failed;
    sum->cancelled = a->cancelled;
    sum->created_ms = a->created_ms;
    sum->agent = a->agent;
}

void sched_merge_free(sched_merge_acc *a)
{
    if (!a) return;
    free(a->job_id);
    free(a->name);
    free(a->merge);
    free(a->reducer);
    free(a->reduced);
    swarm_buf_free(&a->r);
    swarm_buf_free(&a->f);
    swarm_buf_free(&a->m);
    free(a);
}

int sched_merge_open(sched_merge_acc **out, const char *job_id, const redisReply *c, char *err,
                     size_t errlen)
{
    *out = NULL;
    if (!c || c->type != REDIS_REPLY_ARRAY || c->elements < 1) {
        snprintf(err, errlen, "merge %s: unexpected collect reply", job_id);
        return -1;
    }
    const redisReply *h = c->element[0];
    if (h->type != REDIS_REPLY_ARRAY || h->elements == 0) {
        snprintf(err, errlen, "merge %s: job not found", job_id);
        return -1;
    }
    sched_merge_acc *a = calloc(1, sizeof *a);
    if (!a) goto oom;
    const char *merge = hash_get(h, "merge");
    a->as_json = strcmp(merge, "json") == 0;
    a->cancel = strcmp(hash_get(h, "cancel_requested"), "1") == 0;
    a->agent = strcmp(hash_get(h, "agent"), "1") == 0;
    a->created_ms = strtoull(hash_get(h, "created_ms"), NULL, 10);
    a->first_r = a->first_f = a->first_m = true;
    /* merge "agent": the reducer task's answer is the merged result */
    a->job_id = strdup(job_id);
    a->name = strdup(hash_get(h, "name"));
    a->merge = strdup(merge);
    a->reducer = strdup(strcmp(merge, "agent") == 0 ? hash_get(h, "reducer") : "");
    if (!a->job_id || !a->name || !a->merge || !a->reducer) goto oom;
    *out = a;
    return 0;
oom:
    sched_merge_free(a);
    snprintf(err, errlen, "merge %s: out of memory", job_id);
    return -1;
}

int sched_merge_page(sched_merge_acc *a, const redisReply *c, size_t *n_tasks, char *err,
                     size_t errlen)
{
    *n_tasks = 0;
    if (!c || c->type != REDIS_REPLY_ARRAY || c->elements < 1) {
        snprintf(err, errlen, "merge %s: unexpected collect reply", a->job_id);
        return -1;
    }
    for (size_t i = 1; i < c->elements; i++) {
        const redisReply *t = c->element[i];
        (*n_tasks)++;
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
        if (ok && a->reducer[0] && strcmp(tid, a->reducer) == 0) {
            free(a->reduced);
            if (!(a->reduced = strdup(output))) goto oom;
        }
        a->total++;
        const char *why = NULL;
        if (ok) {
            a->done++;
        } else {
            why = error[0] ? error : st;
            if (strcmp(st, "cancelled") == 0) {
                a->cancelled++;
                why = "cancelled";
            } else {
                a->failed++;
                cJSON *f = cJSON_CreateObject();
                cJSON_AddStringToObject(f, "task_id", tid);
                cJSON_AddStringToObject(f, "item", item);
                cJSON_AddStringToObject(f, "error", why);
                cJSON_AddNumberToObject(f, "attempts", (double)attempt);
                sb_item(&a->f, f, &a->first_f);
                cJSON_Delete(f);
            }
        }
        cJSON *r = cJSON_CreateObject();
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
        if (why) cJSON_AddStringToObject(r, "error", why);
        sb_item(&a->r, r, &a->first_r);
        cJSON_Delete(r);
        if (a->as_json) {
            cJSON *mj = cJSON_CreateObject();
            cJSON_AddStringToObject(mj, "task_id", tid);
            cJSON_AddStringToObject(mj, "item", item);
            cJSON_AddStringToObject(mj, "status", st);
            if (ok) {
                size_t olen = t->element[4]->type == REDIS_REPLY_STRING ? t->element[4]->len : 0;
                cJSON *v = cJSON_ParseWithLength(output, olen);
                if (!v) v = cJSON_CreateString(output);
                if (v) cJSON_AddItemToObject(mj, "output", v);
            } else {
                cJSON_AddNullToObject(mj, "output");
                cJSON_AddStringToObject(mj, "error", why);
            }
            sb_item(&a->m, mj, &a->first_m);
            cJSON_Delete(mj);
        } else if (!a->reducer[0]) {
            if (!a->first_m) swarm_buf_putn(&a->m, "\\n\\n", 4);
            a->first_m = false;
            swarm_buf label = {0};
            sb_label(&label, item);
            sb_json_body(&a->m, swarm_buf_str(&label));
            if (label.oom) a->m.oom = true;
            swarm_buf_free(&label);
            if (ok) {
                sb_json_body(&a->m, output);
            } else {
                swarm_buf_putn(&a->m, "[", 1);
                sb_json_body(&a->m, st);
                if (strcmp(st, "cancelled") != 0) {
                    swarm_buf_putn(&a->m, ": ", 2);
                    sb_json_body(&a->m, why);
                }
                swarm_buf_putn(&a->m, "]", 1);
            }
        }
        if (a->r.oom || a->f.oom || a->m.oom) goto oom;
    }
    return 0;
oom:
    snprintf(err, errlen, "merge %s: out of memory", a->job_id);
    return -1;
}

const char *sched_merge_fragment(sched_merge_acc *a, int which, size_t *len)
{
    swarm_buf *b = which == 0 ? &a->r : which == 1 ? &a->f : &a->m;
    *len = b->n;
    return swarm_buf_str(b);
}

void sched_merge_clear(sched_merge_acc *a)
{
    /* keep the memory for the next page; the text starts over */
    swarm_buf *bufs[3] = {&a->r, &a->f, &a->m};
    for (int i = 0; i < 3; i++) {
        bufs[i]->n = 0;
        if (bufs[i]->s) bufs[i]->s[0] = 0;
    }
}

int sched_merge_close(sched_merge_acc *a, char **head, char **mid1, char **mid2, char **tail,
                      const char **state, char *err, size_t errlen)
{
    *head = *mid1 = *mid2 = *tail = NULL;
    /* a job with tasks cancelled one by one (swarm cancel JOB TASK) is not done */
    *state = a->cancel ? "cancelled" : a->failed ? "failed" : a->cancelled ? "cancelled" : "done";
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "job_id", a->job_id);
    cJSON_AddStringToObject(root, "name", a->name);
    cJSON_AddStringToObject(root, "state", *state);
    cJSON_AddStringToObject(root, "merge", a->merge);
    cJSON_AddNumberToObject(root, "total", a->total);
    cJSON_AddNumberToObject(root, "done", a->done);
    cJSON_AddNumberToObject(root, "failed", a->failed);
    cJSON_AddNumberToObject(root, "cancelled", a->cancelled);
    char *obj = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    swarm_buf h = {0}, m2 = {0}, tl = {0};
    size_t olen = obj ? strlen(obj) : 0;
    if (olen < 2) {
        free(obj);
        goto oom;
    }
    /* "{...}" -> "{...,"results":[" */
    swarm_buf_putn(&h, obj, olen - 1);
    free(obj);
    swarm_buf_putn(&h, ",\"results\":[", 12);
    swarm_buf_putn(&m2, "]", 1);
    if (a->as_json) {
        swarm_buf_putn(&m2, ",\"merged\":[", 11);
        swarm_buf_putn(&tl, "]}", 2);
    } else if (a->reducer[0]) {
        /* no answer when the reducer did not run: the sub-results stay in results[] */
        swarm_buf_putn(&m2, ",\"reducer\":\"", 12);
        sb_json_body(&m2, a->reducer);
        swarm_buf_putn(&m2, "\",\"merged\":\"", 12);
        sb_json_body(&m2, a->reduced ? a->reduced : "");
        swarm_buf_putn(&tl, "\"}", 2);
    } else {
        swarm_buf_putn(&m2, ",\"merged\":\"", 11);
        swarm_buf_putn(&tl, "\"}", 2);
    }
    *mid1 = strdup("],\"failed_tasks\":[");
    if (h.oom || m2.oom || tl.oom || !*mid1) goto oom;
    *head = h.s;
    *mid2 = m2.s;
    *tail = tl.s;
    return 0;
oom:
    swarm_buf_free(&h);
    swarm_buf_free(&m2);
    swarm_buf_free(&tl);
    free(*mid1);
    *mid1 = NULL;
    snprintf(err, errlen, "merge %s: out of memory", a->job_id);
    return -1;
}
