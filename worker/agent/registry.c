/* registry.c - the tool registry, argument checking, the replay journal and
 * audit records.
 *
 * One call path for every tool (built-in or MCP): parse the model's JSON
 * arguments, check them against the tool's schema so a malformed call gets a
 * clear observation instead of reaching the tool, skip side effects a resumed
 * agent already performed, cap the observation, and fill the audit record. */
#include "agent_internal.h"
#include "swarm_buf.h"
#include "swarm_clock.h"
#include "swarm_err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------- helpers */

int agent_res_fail(agent_result *res, int status, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    swarm_err_vset(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(res->observation);
    res->observation = strdup(buf);
    res->status = status < 0 ? status : -1;
    return res->status;
}

int agent_res_ok(agent_result *res, char *text)
{
    free(res->observation);
    res->observation = text ? text : strdup("");
    res->status = 0;
    return 0;
}

void agent_result_free(agent_result *res)
{
    if (!res) return;
    free(res->observation);
    memset(res, 0, sizeof *res);
}

void agent_sbuf_init(agent_sbuf *b, size_t limit)
{
    memset(b, 0, sizeof *b);
    b->limit = limit;
}

void agent_sbuf_add(agent_sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n > b->limit) {
        n = b->limit > b->len ? b->limit - b->len : 0;
        b->truncated = 1;
    }
    if (b->len + n + 1 > b->cap_alloc) {
        size_t want = b->cap_alloc ? b->cap_alloc : 256;
        while (want < b->len + n + 1)
            want *= 2;
        char *nb = realloc(b->buf, want);
        if (!nb) {
            b->oom = 1;
            return;
        }
        b->buf = nb;
        b->cap_alloc = want;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = 0;
}

void agent_sbuf_printf(agent_sbuf *b, const char *fmt, ...)
{
    /* formatted whole first, then added, so the cap cuts it like any text */
    swarm_buf t = {0};
    va_list ap;
    va_start(ap, fmt);
    swarm_buf_vprintf(&t, fmt, ap);
    va_end(ap);
    if (t.oom)
        b->oom = 1;
    else
        agent_sbuf_add(b, swarm_buf_str(&t), t.n);
    swarm_buf_free(&t);
}

char *agent_sbuf_take(agent_sbuf *b)
{
    char *s = b->buf;
    if (!s && !b->oom) s = strdup("");
    b->buf = NULL;
    b->len = b->cap_alloc = 0;
    return s;
}

const char *agent_arg_str(const cJSON *args, const char *key, const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

long agent_arg_int(const cJSON *args, const char *key, long dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : dflt;
}

int agent_arg_bool(const cJSON *args, const char *key, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

size_t agent_env_cap(const agent_env *env)
{
    return env && env->observation_cap ? env->observation_cap : AGENT_OBS_CAP_DEFAULT;
}

/* ------------------------------------------------------ canonical JSON */

static int cmp_keys(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

static void canon_add(agent_sbuf *b, const cJSON *v)
{
    if (cJSON_IsObject(v)) {
        size_t n = (size_t)cJSON_GetArraySize(v), i = 0;
        const cJSON **kids = n ? malloc(n * sizeof *kids) : NULL;
        if (n && !kids) {
            b->oom = 1;
            return;
        }
        for (const cJSON *c = v->child; c; c = c->next)
            kids[i++] = c;
        if (n) qsort(kids, n, sizeof *kids, cmp_keys);
        agent_sbuf_add(b, "{", 1);
        for (i = 0; i < n; i++) {
            cJSON *key = cJSON_CreateString(kids[i]->string);
            char *ks = key ? cJSON_PrintUnformatted(key) : NULL;
            if (i) agent_sbuf_add(b, ",", 1);
            if (ks)
                agent_sbuf_add(b, ks, strlen(ks));
            else
                b->oom = 1;
            agent_sbuf_add(b, ":", 1);
            canon_add(b, kids[i]);
            free(ks);
            cJSON_Delete(key);
        }
        agent_sbuf_add(b, "}", 1);
        free(kids);
    } else if (cJSON_IsArray(v)) {
        agent_sbuf_add(b, "[", 1);
        for (const cJSON *c = v->child; c; c = c->next) {
            if (c != v->child) agent_sbuf_add(b, ",", 1);
            canon_add(b, c);
        }
        agent_sbuf_add(b, "]", 1);
    } else {
        /* Leaves print alone: a detached copy has no siblings to print. */
        cJSON *copy = cJSON_Duplicate(v, 0);
        char *s = copy ? cJSON_PrintUnformatted(copy) : NULL;
        if (s)
            agent_sbuf_add(b, s, strlen(s));
        else
            b->oom = 1;
        free(s);
        cJSON_Delete(copy);
    }
}

char *agent_json_canonical(const cJSON *v)
{
    agent_sbuf b;
    agent_sbuf_init(&b, (size_t)-1);
    canon_add(&b, v);
    if (b.oom) {
        free(b.buf);
        return NULL;
    }
    return agent_sbuf_take(&b);
}

/* ------------------------------------------------------------ registry */

struct agent_registry {
    agent_tool *tools;
    size_t n, cap;
};

int agent_registry_new(agent_registry **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : -ENOMEM;
}

static void tool_clear(agent_tool *t)
{
    free(t->name);
    free(t->description);
    cJSON_Delete(t->schema);
}

void agent_registry_free(agent_registry *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++)
        tool_clear(&r->tools[i]);
    free(r->tools);
    free(r);
}

int agent_registry_add(agent_registry *r, const char *name, const char *description,
                       const char *schema_json, agent_tool_fn fn, void *udata, int side_effect,
                       char *err, size_t errlen)
{
    if (!name || !*name || strlen(name) >= sizeof(((agent_audit *)0)->tool)) {
        snprintf(err, errlen, "tool name '%s' is empty or too long", name ? name : "");
        return -EINVAL;
    }
    if (agent_registry_find(r, name)) {
        snprintf(err, errlen, "tool '%s' is already registered", name);
        return -EEXIST;
    }
    cJSON *schema = cJSON_Parse(schema_json ? schema_json : "{\"type\":\"object\"}");
    if (!cJSON_IsObject(schema)) {
        cJSON_Delete(schema);
        snprintf(err, errlen, "tool '%s': its argument schema is not a JSON object", name);
        return -EINVAL;
    }
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 16;
        agent_tool *nt = realloc(r->tools, nc * sizeof *nt);
        if (!nt) {
            cJSON_Delete(schema);
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        r->tools = nt;
        r->cap = nc;
    }
    agent_tool *t = &r->tools[r->n];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->description = strdup(description ? description : "");
    t->schema = schema;
    t->execute = fn;
    t->udata = udata;
    t->side_effect = side_effect;
    if (!t->name || !t->description) {
        tool_clear(t);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    r->n++;
    return 0;
}

int agent_registry_add_builtins(agent_registry *r, char *err, size_t errlen)
{
    int rc = agent_tools_fs_register(r, err, errlen);
    return rc ? rc : agent_tools_exec_register(r, err, errlen);
}

size_t agent_registry_count(const agent_registry *r)
{
    return r->n;
}

const agent_tool *agent_registry_at(const agent_registry *r, size_t i)
{
    return i < r->n ? &r->tools[i] : NULL;
}

const agent_tool *agent_registry_find(const agent_registry *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->tools[i].name, name) == 0) return &r->tools[i];
    return NULL;
}

static int name_allowed(const char *name, const char *pat)
{
    size_t n = strlen(pat);
    if (n > 0 && pat[n - 1] == '*') return strncmp(name, pat, n - 1) == 0;
    return strcmp(name, pat) == 0;
}

int agent_registry_filter(agent_registry *r, const char *const *allowed, size_t n, char *err,
                          size_t errlen)
{
    for (size_t a = 0; a < n; a++) {
        int hit = 0;
        for (size_t i = 0; i < r->n && !hit; i++)
            hit = name_allowed(r->tools[i].name, allowed[a]);
        if (!hit) {
            snprintf(err, errlen, "allowed tool '%s' matches no registered tool", allowed[a]);
            return -ENOENT;
        }
    }
    size_t keep = 0;
    for (size_t i = 0; i < r->n; i++) {
        int ok = 0;
        for (size_t a = 0; a < n && !ok; a++)
            ok = name_allowed(r->tools[i].name, allowed[a]);
        if (ok)
            r->tools[keep++] = r->tools[i];
        else
            tool_clear(&r->tools[i]);
    }
    r->n = keep;
    return 0;
}

char *agent_registry_tools_json(const agent_registry *r)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < r->n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, o);
        cJSON_AddStringToObject(o, "name", r->tools[i].name);
        cJSON_AddStringToObject(o, "description", r->tools[i].description);
        cJSON_AddItemToObject(o, "parameters", cJSON_Duplicate(r->tools[i].schema, 1));
    }
    char *s = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    return s;
}

static int type_matches(const cJSON *v, const char *type)
{
    if (strcmp(type, "string") == 0) return cJSON_IsString(v);
    if (strcmp(type, "integer") == 0)
        return cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble;
    if (strcmp(type, "number") == 0) return cJSON_IsNumber(v);
    if (strcmp(type, "boolean") == 0) return cJSON_IsBool(v);
    if (strcmp(type, "array") == 0) return cJSON_IsArray(v);
    if (strcmp(type, "object") == 0) return cJSON_IsObject(v);
    if (strcmp(type, "null") == 0) return cJSON_IsNull(v);
    return 1; /* a type this check does not know: the tool decides */
}

/* The top level of the schema only: required keys, declared property types,
 * and unknown keys when additionalProperties is false. Enough to turn a
 * malformed call into a precise observation; the grammar engine enforces the
 * full schema at generation time. */
static int args_check(const agent_tool *t, const cJSON *args, char *err, size_t errlen)
{
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(t->schema, "required");
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(t->schema, "properties");
    const cJSON *c;
    cJSON_ArrayForEach(c, req)
    {
        if (cJSON_IsString(c) && !cJSON_GetObjectItemCaseSensitive(args, c->valuestring)) {
            snprintf(err, errlen, "%s: missing required argument '%s'", t->name, c->valuestring);
            return -EINVAL;
        }
    }
    const cJSON *addl = cJSON_GetObjectItemCaseSensitive(t->schema, "additionalProperties");
    cJSON_ArrayForEach(c, args)
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(props, c->string);
        if (!p) {
            if (cJSON_IsFalse(addl)) {
                snprintf(err, errlen, "%s: unknown argument '%s'", t->name, c->string);
                return -EINVAL;
            }
            continue;
        }
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
        if (cJSON_IsString(type) && !type_matches(c, type->valuestring)) {
            snprintf(err, errlen, "%s: argument '%s' must be of type %s", t->name, c->string,
                     type->valuestring);
            return -EINVAL;
        }
    }
    return 0;
}

static void copy_id(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

int agent_registry_call(agent_registry *r, agent_env *env, const char *name, const char *args_json,
                        uint32_t step, agent_result *res, agent_audit *audit)
{
    memset(res, 0, sizeof *res);
    res->sandboxed = -1;
    agent_audit a;
    memset(&a, 0, sizeof a);
    copy_id(a.job_id, sizeof a.job_id, env->job_id);
    copy_id(a.task_id, sizeof a.task_id, env->task_id);
    copy_id(a.agent_id, sizeof a.agent_id, env->agent_id);
    copy_id(a.tool, sizeof a.tool, name);
    a.step = step;
    a.started_ms = (int64_t)swarm_wall_ms();
    int64_t t0 = (int64_t)swarm_clock_ms();
    a.bytes_in = args_json ? strlen(args_json) : 0;

    cJSON *args = NULL;
    const agent_tool *t = agent_registry_find(r, name ? name : "");
    if (!t) {
        agent_sbuf b;
        agent_sbuf_init(&b, 4096);
        agent_sbuf_printf(&b, "unknown tool '%s'; available:", name ? name : "");
        for (size_t i = 0; i < r->n; i++)
            agent_sbuf_printf(&b, " %s", r->tools[i].name);
        res->status = -ENOENT;
        res->observation = agent_sbuf_take(&b);
        goto done;
    }
    args = (args_json && *args_json) ? cJSON_Parse(args_json) : cJSON_CreateObject();
    if (!cJSON_IsObject(args)) {
        agent_res_fail(res, -EINVAL, "%s: arguments are not a JSON object", t->name);
        goto done;
    }
    char *canon = agent_json_canonical(args);
    agent_sha256_hex(canon ? canon : "", canon ? strlen(canon) : 0, a.args_sha256);
    free(canon);
    char msg[512];
    if (args_check(t, args, msg, sizeof msg) != 0) {
        agent_res_fail(res, -EINVAL, "%s", msg);
        goto done;
    }
    char key[160] = "";
    if (t->side_effect && env->journal) {
        agent_journal_key(step, t->name, args, key);
        const agent_journal_entry *e = agent_journal_find(env->journal, key);
        if (e && e->status == AGENT_JOURNAL_PENDING) {
            /* started, then the worker was lost: it may have run, maybe partly */
            agent_res_fail(res, -EAGAIN,
                           "%s: not run again: it was started before this agent's worker was "
                           "lost, and may already have taken effect; check its effects (read the "
                           "files it touches, list the directory) before repeating it",
                           t->name);
            res->replayed = 1;
            char jerr[256];
            agent_journal_set(env->journal, key, res->status, res->observation, jerr, sizeof jerr);
            goto done;
        }
        if (e) {
            res->observation = strdup(e->observation ? e->observation : "");
            res->status = e->status;
            res->replayed = 1;
            goto done;
        }
        if (env->intent) {
            char ierr[256] = "";
            if (agent_journal_record(env->journal, key, AGENT_JOURNAL_PENDING, "", ierr,
                                     sizeof ierr) != 0 ||
                env->intent(env->intent_ud, key, ierr, sizeof ierr) != 0) {
                agent_res_fail(res, -EIO,
                               "%s: not run: its intent could not be saved (%s); try again",
                               t->name, ierr);
                agent_journal_set(env->journal, key, res->status, res->observation, ierr,
                                  sizeof ierr);
                goto done;
            }
        }
    }
    t->execute(t, env, args, res);
    if (!res->observation) res->observation = strdup("");
    size_t cap = agent_env_cap(env);
    static const char tail[] = "\n[observation truncated]";
    if (res->observation && strlen(res->observation) > cap) {
        /* Cut on a UTF-8 boundary so the transcript stays valid text. */
        size_t cut = cap > sizeof tail ? cap - sizeof tail : 0;
        while (cut > 0 && ((unsigned char)res->observation[cut] & 0xC0) == 0x80)
            cut--;
        char *nb = realloc(res->observation, cut + sizeof tail);
        if (nb) {
            memcpy(nb + cut, tail, sizeof tail);
            res->observation = nb;
        }
        res->truncated = 1;
    }
    if (key[0]) {
        char jerr[256];
        if (agent_journal_set(env->journal, key, res->status, res->observation, jerr,
                              sizeof jerr) != 0)
            agent_journal_record(env->journal, key, res->status, res->observation, jerr,
                                 sizeof jerr);
    }
done:
    cJSON_Delete(args);
    a.status = res->status;
    a.exit_code = res->exit_code;
    a.term_signal = res->term_signal;
    a.replayed = res->replayed;
    a.truncated = res->truncated;
    a.sandboxed = res->sandboxed;
    a.duration_ms = (int64_t)swarm_clock_ms() - t0;
    a.bytes_out = res->observation ? strlen(res->observation) : 0;
    if (audit) *audit = a;
    return res->status;
}

/* ------------------------------------------------------------- journal */

struct agent_journal {
    agent_journal_entry *e;
    size_t n, cap;
};

int agent_journal_new(agent_journal **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : -ENOMEM;
}

void agent_journal_free(agent_journal *j)
{
    if (!j) return;
    for (size_t i = 0; i < j->n; i++)
        free(j->e[i].observation);
    free(j->e);
    free(j);
}

void agent_journal_key(uint32_t step, const char *tool, const cJSON *args, char key[160])
{
    char *canon = agent_json_canonical(args);
    char hex[65];
    agent_sha256_hex(canon ? canon : "", canon ? strlen(canon) : 0, hex);
    free(canon);
    snprintf(key, 160, "%u:%.80s:%s", step, tool, hex);
}

const agent_journal_entry *agent_journal_find(const agent_journal *j, const char *key)
{
    for (size_t i = 0; i < j->n; i++)
        if (strcmp(j->e[i].key, key) == 0) return &j->e[i];
    return NULL;
}

int agent_journal_record(agent_journal *j, const char *key, int status, const char *observation,
                         char *err, size_t errlen)
{
    if (strlen(key) >= sizeof j->e[0].key) {
        snprintf(err, errlen, "journal key too long");
        return -EINVAL;
    }
    if (agent_journal_find(j, key)) {
        snprintf(err, errlen, "journal already holds '%s'", key);
        return -EEXIST;
    }
    if (j->n == j->cap) {
        size_t nc = j->cap ? j->cap * 2 : 16;
        agent_journal_entry *ne = realloc(j->e, nc * sizeof *ne);
        if (!ne) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        j->e = ne;
        j->cap = nc;
    }
    agent_journal_entry *e = &j->e[j->n];
    snprintf(e->key, sizeof e->key, "%s", key);
    e->status = status;
    e->observation = strdup(observation ? observation : "");
    if (!e->observation) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    j->n++;
    return 0;
}

int agent_journal_set(agent_journal *j, const char *key, int status, const char *observation,
                      char *err, size_t errlen)
{
    for (size_t i = 0; i < j->n; i++) {
        if (strcmp(j->e[i].key, key) != 0) continue;
        char *o = strdup(observation ? observation : "");
        if (!o) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        free(j->e[i].observation);
        j->e[i].observation = o;
        j->e[i].status = status;
        return 0;
    }
    snprintf(err, errlen, "journal holds no '%s'", key);
    return -ENOENT;
}

char *agent_journal_to_json(const agent_journal *j)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < j->n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, o);
        cJSON_AddStringToObject(o, "key", j->e[i].key);
        cJSON_AddNumberToObject(o, "status", j->e[i].status);
        cJSON_AddStringToObject(o, "observation", j->e[i].observation);
    }
    char *s = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    return s;
}

int agent_journal_from_json(agent_journal *j, const char *text, char *err, size_t errlen)
{
    cJSON *arr = cJSON_Parse(text);
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        snprintf(err, errlen, "journal checkpoint is not a JSON array");
        return -EINVAL;
    }
    int rc = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, arr)
    {
        const char *key = agent_arg_str(o, "key", NULL);
        const char *obs = agent_arg_str(o, "observation", NULL);
        if (!key || !obs) {
            snprintf(err, errlen, "journal checkpoint entry lacks key or observation");
            rc = -EINVAL;
            break;
        }
        if (!agent_journal_find(j, key) &&
            (rc = agent_journal_record(j, key, (int)agent_arg_int(o, "status", 0), obs, err,
                                       errlen)) != 0)
            break;
    }
    cJSON_Delete(arr);
    return rc;
}

/* --------------------------------------------------------------- audit */

int agent_audit_to_json(const agent_audit *a, char **out, char *err, size_t errlen)
{
    *out = NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    cJSON_AddStringToObject(o, "job_id", a->job_id);
    cJSON_AddStringToObject(o, "task_id", a->task_id);
    cJSON_AddStringToObject(o, "agent_id", a->agent_id);
    cJSON_AddNumberToObject(o, "step", a->step);
    cJSON_AddStringToObject(o, "tool", a->tool);
    cJSON_AddStringToObject(o, "args_sha256", a->args_sha256);
    cJSON_AddNumberToObject(o, "status", a->status);
    cJSON_AddNumberToObject(o, "exit_code", a->exit_code);
    cJSON_AddNumberToObject(o, "signal", a->term_signal);
    cJSON_AddBoolToObject(o, "replayed", a->replayed);
    cJSON_AddBoolToObject(o, "truncated", a->truncated);
    if (a->sandboxed >= 0)
        cJSON_AddStringToObject(o, "sandbox", a->sandboxed ? "bwrap" : "unsandboxed");
    cJSON_AddNumberToObject(o, "started_ms", (double)a->started_ms);
    cJSON_AddNumberToObject(o, "duration_ms", (double)a->duration_ms);
    cJSON_AddNumberToObject(o, "bytes_in", (double)a->bytes_in);
    cJSON_AddNumberToObject(o, "bytes_out", (double)a->bytes_out);
    *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!*out) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 0;
}
