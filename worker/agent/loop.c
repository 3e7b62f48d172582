/* loop.c - the agent loop (see loop.h): model reply -> tool calls through
 * the registry -> observations appended -> next step, with budgets,
 * compaction, per-step transcript records and resumable checkpoints.
 *
 * The conversation is kept as owned messages (agent_msg) and lent to the
 * model as rt_chat_msg views each step, so every backend sees one shape.
 * Checkpoints carry the whole (compacted) conversation rather than the
 * model's raw text: resuming needs no model state, only the messages. */
#include "loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_internal.h"
#include "swarm_clock.h"

#define LOOP_DEFAULT_STEPS 16
#define LOOP_DEFAULT_STEP_TOKENS 256
#define LOOP_DEFAULT_OBS 4096
#define LOOP_DEFAULT_CTX_CHARS (48 * 1024)
#define LOOP_PAUSE_MIN_MS 1000
#define LOOP_PAUSE_MAX_MS 32000
#define LOOP_CTX_RETRIES 4

typedef struct {
    char *role, *content;
    rt_tool_call *calls; /* owned */
    size_t n_calls;
    char *tool_call_id, *name;
} agent_msg;

typedef struct {
    agent_msg *v;
    size_t n, cap;
} msg_list;

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

void agent_reply_free(agent_reply *r)
{
    if (!r) return;
    free(r->content);
    rt_tool_calls_free(r->calls, r->n_calls);
    memset(r, 0, sizeof *r);
}

void agent_loop_result_free(agent_loop_result *res)
{
    if (!res) return;
    free(res->answer);
    res->answer = NULL;
}

static void msg_free(agent_msg *m)
{
    free(m->role);
    free(m->content);
    rt_tool_calls_free(m->calls, m->n_calls);
    free(m->tool_call_id);
    free(m->name);
    memset(m, 0, sizeof *m);
}

static void msgs_free(msg_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        msg_free(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Appends a message; takes ownership of m's strings (also on failure). */
static int msgs_push(msg_list *l, agent_msg *m)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        agent_msg *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) {
            msg_free(m);
            return -ENOMEM;
        }
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = *m;
    memset(m, 0, sizeof *m);
    return 0;
}

static int msgs_push_text(msg_list *l, const char *role, const char *content)
{
    agent_msg m = {.role = xstrdup(role), .content = xstrdup(content ? content : "")};
    if (!m.role || !m.content) {
        msg_free(&m);
        return -ENOMEM;
    }
    return msgs_push(l, &m);
}

static rt_tool_call *calls_dup(const rt_tool_call *c, size_t n)
{
    if (n == 0) return NULL;
    rt_tool_call *d = calloc(n, sizeof *d);
    if (!d) return NULL;
    for (size_t i = 0; i < n; i++) {
        d[i].id = xstrdup(c[i].id);
        d[i].name = xstrdup(c[i].name ? c[i].name : "");
        d[i].arguments = xstrdup(c[i].arguments ? c[i].arguments : "{}");
        if ((c[i].id && !d[i].id) || !d[i].name || !d[i].arguments) {
            rt_tool_calls_free(d, n);
            return NULL;
        }
    }
    return d;
}

static size_t msgs_chars(const msg_list *l)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        const agent_msg *m = &l->v[i];
        n += 16 + (m->content ? strlen(m->content) : 0);
        for (size_t k = 0; k < m->n_calls; k++)
            n += 32 + strlen(m->calls[k].name) + strlen(m->calls[k].arguments);
    }
    return n;
}

/* Borrowed rt_chat_msg views of the conversation (array malloc'ed). */
static rt_chat_msg *msgs_view(const msg_list *l)
{
    rt_chat_msg *v = calloc(l->n ? l->n : 1, sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < l->n; i++) {
        const agent_msg *m = &l->v[i];
        v[i] = (rt_chat_msg){.role = m->role,
                             .content = m->content,
                             .tool_calls = m->calls,
                             .n_tool_calls = m->n_calls,
                             .tool_call_id = m->tool_call_id,
                             .name = m->name};
    }
    return v;
}

/* Old turns go first when the conversation nears the model's context: the
 * system prompt and the task (messages 0 and 1) and the newest turns stay;
 * older observations shrink to a stub, then whole old turns are dropped
 * (a tool message is never separated from the call it answers). Returns 1
 * when something was compacted. */
static int msgs_compact(msg_list *l, size_t limit, int hard)
{
    int changed = 0;
    size_t keep_tail = hard ? 2 : 4; /* newest messages left untouched */
    for (size_t i = 2; i + keep_tail < l->n && msgs_chars(l) > limit; i++) {
        agent_msg *m = &l->v[i];
        if (strcmp(m->role, "tool") == 0 && m->content && strlen(m->content) > 120) {
            char stub[160];
            snprintf(stub, sizeof stub,
                     "[observation compacted: %zu bytes; call the tool again if needed]",
                     strlen(m->content));
            char *s = strdup(stub);
            if (!s) break;
            free(m->content);
            m->content = s;
            changed = 1;
        }
    }
    /* still too big: drop the oldest assistant turn with its tool results */
    while (msgs_chars(l) > limit && l->n > 2 + keep_tail) {
        size_t end = 3; /* [2] is an assistant turn; its tool results follow */
        while (end < l->n - keep_tail && strcmp(l->v[end].role, "tool") == 0)
            end++;
        for (size_t i = 2; i < end; i++)
            msg_free(&l->v[i]);
        memmove(&l->v[2], &l->v[end], (l->n - end) * sizeof *l->v);
        l->n -= end - 2;
        changed = 1;
    }
    return changed;
}

/* ------------------------------------------------------------ checkpoint */

static cJSON *calls_to_json(const rt_tool_call *c, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        if (c[i].id) cJSON_AddStringToObject(o, "id", c[i].id);
        cJSON_AddStringToObject(o, "name", c[i].name);
        cJSON_AddStringToObject(o, "arguments", c[i].arguments);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

typedef struct {
    uint32_t step, tool_calls;
    uint64_t tokens, started_ms;
} loop_counters;

static char *checkpoint_make(const msg_list *l, const loop_counters *c, const agent_journal *j)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddNumberToObject(root, "v", 1);
    cJSON_AddNumberToObject(root, "step", c->step);
    cJSON_AddNumberToObject(root, "tool_calls", c->tool_calls);
    cJSON_AddNumberToObject(root, "tokens", (double)c->tokens);
    cJSON_AddNumberToObject(root, "started_ms", (double)c->started_ms);
    cJSON *msgs = cJSON_AddArrayToObject(root, "messages");
    for (size_t i = 0; msgs && i < l->n; i++) {
        const agent_msg *m = &l->v[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddStringToObject(o, "role", m->role);
        cJSON_AddStringToObject(o, "content", m->content ? m->content : "");
        if (m->n_calls) cJSON_AddItemToObject(o, "tool_calls", calls_to_json(m->calls, m->n_calls));
        if (m->tool_call_id) cJSON_AddStringToObject(o, "tool_call_id", m->tool_call_id);
        if (m->name) cJSON_AddStringToObject(o, "name", m->name);
        cJSON_AddItemToArray(msgs, o);
    }
    char *jtext = j ? agent_journal_to_json(j) : NULL;
    cJSON *jj = jtext ? cJSON_Parse(jtext) : NULL;
    free(jtext);
    cJSON_AddItemToObject(root, "journal", jj ? jj : cJSON_CreateArray());
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

static const char *json_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double json_num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static int checkpoint_load(const char *text, msg_list *l, loop_counters *c, agent_journal *j,
                           char *err, size_t errlen)
{
    cJSON *root = cJSON_Parse(text);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!cJSON_IsObject(root) || !cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) < 2) {
        cJSON_Delete(root);
        snprintf(err, errlen, "checkpoint: not an agent checkpoint (messages missing)");
        return -EINVAL;
    }
    c->step = (uint32_t)json_num(root, "step");
    c->tool_calls = (uint32_t)json_num(root, "tool_calls");
    c->tokens = (uint64_t)json_num(root, "tokens");
    c->started_ms = (uint64_t)json_num(root, "started_ms");
    const cJSON *m;
    int rc = 0;
    cJSON_ArrayForEach(m, msgs)
    {
        const char *role = json_str(m, "role");
        if (!role) {
            snprintf(err, errlen, "checkpoint: a message has no role");
            rc = -EINVAL;
            break;
        }
        agent_msg am = {.role = strdup(role),
                        .content = xstrdup(json_str(m, "content") ? json_str(m, "content") : ""),
                        .tool_call_id = xstrdup(json_str(m, "tool_call_id")),
                        .name = xstrdup(json_str(m, "name"))};
        const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
        size_t nc = cJSON_IsArray(calls) ? (size_t)cJSON_GetArraySize(calls) : 0;
        if (nc) {
            am.calls = calloc(nc, sizeof *am.calls);
            am.n_calls = am.calls ? nc : 0;
            for (size_t i = 0; am.calls && i < nc; i++) {
                const cJSON *ci = cJSON_GetArrayItem(calls, (int)i);
                am.calls[i].id = xstrdup(json_str(ci, "id"));
                am.calls[i].name = strdup(json_str(ci, "name") ? json_str(ci, "name") : "");
                am.calls[i].arguments =
                    strdup(json_str(ci, "arguments") ? json_str(ci, "arguments") : "{}");
            }
        }
        if ((rc = msgs_push(l, &am)) != 0) {
            snprintf(err, errlen, "out of memory");
            break;
        }
    }
    const cJSON *jj = cJSON_GetObjectItemCaseSensitive(root, "journal");
    if (rc == 0 && j && cJSON_IsArray(jj)) {
        char *jt = cJSON_PrintUnformatted(jj);
        if (!jt || agent_journal_from_json(j, jt, err, errlen) != 0) rc = -EINVAL;
        free(jt);
    }
    cJSON_Delete(root);
    return rc;
}

/* ------------------------------------------------------------------ loop */

/* Sleeps ms in short slices so a cancel is seen; returns 1 when cancelled. */
static int loop_wait(const agent_hooks *h, uint64_t ms)
{
    while (ms > 0) {
        if (h->cancelled && h->cancelled(h->ud)) return 1;
        uint64_t slice = ms < 100 ? ms : 100;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)slice * 1000000L};
        nanosleep(&ts, NULL);
        ms -= slice;
    }
    return h->cancelled && h->cancelled(h->ud);
}

/* The model's reply for one step: pauses are waited out (backoff honoring
 * Retry-After, never counted as failures), a full context compacts harder. */
static int loop_ask(const agent_loop_cfg *cfg, msg_list *msgs, const rt_tool_def *tools,
                    size_t n_tools, rt_tool_choice choice, uint32_t max_tokens, uint32_t step,
                    size_t ctx_chars, agent_reply *reply, int *stopped, char *err, size_t errlen)
{
    uint64_t backoff = LOOP_PAUSE_MIN_MS;
    int ctx_tries = 0;
    for (;;) {
        rt_chat_msg *view = msgs_view(msgs);
        if (!view) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        agent_model_req req = {.msgs = view,
                               .n_msgs = msgs->n,
                               .tools = tools,
                               .n_tools = n_tools,
                               .choice = choice,
                               .max_tokens = max_tokens,
                               .step = step,
                               .task_id = cfg->task_id};
        uint64_t retry_after = 0;
        memset(reply, 0, sizeof *reply);
        int rc = cfg->model.complete(cfg->model.ctx, &req, reply, &retry_after, err, errlen);
        free(view);
        if (rc == 0) return 0;
        agent_reply_free(reply);
        if (rc == AGENT_MODEL_PAUSED) {
            uint64_t wait = retry_after > 0 ? retry_after : backoff;
            if (wait > LOOP_PAUSE_MAX_MS && retry_after == 0) wait = LOOP_PAUSE_MAX_MS;
            if (cfg->hooks.on_pause && cfg->hooks.on_pause(cfg->hooks.ud, err, wait)) {
                *stopped = 1;
                return 1;
            }
            if (loop_wait(&cfg->hooks, wait)) {
                *stopped = 1;
                return 1;
            }
            backoff = backoff * 2 > LOOP_PAUSE_MAX_MS ? LOOP_PAUSE_MAX_MS : backoff * 2;
            continue;
        }
        if (rc == AGENT_MODEL_CTX_FULL && ctx_tries++ < LOOP_CTX_RETRIES) {
            ctx_chars = ctx_chars / 2;
            if (msgs_compact(msgs, ctx_chars, 1)) continue;
        }
        if (rc == AGENT_MODEL_CTX_FULL)
            snprintf(err + strlen(err), errlen - strlen(err),
                     " (the conversation cannot be compacted further)");
        return rc < 0 ? rc : -E2BIG;
    }
}

/* The step's transcript record: what the model said, what each call did. */
static char *record_make(const agent_loop_cfg *cfg, uint32_t step, const agent_reply *reply,
                         cJSON *calls_out, uint64_t tokens, int final, uint64_t ms)
{
    cJSON *r = cJSON_CreateObject();
    if (!r) {
        cJSON_Delete(calls_out);
        return NULL;
    }
    if (cfg->env && cfg->env->job_id) cJSON_AddStringToObject(r, "job_id", cfg->env->job_id);
    if (cfg->task_id) cJSON_AddStringToObject(r, "task_id", cfg->task_id);
    cJSON_AddNumberToObject(r, "step", step);
    cJSON_AddStringToObject(r, "content", reply->content ? reply->content : "");
    cJSON_AddItemToObject(r, "tool_calls", calls_out ? calls_out : cJSON_CreateArray());
    cJSON_AddBoolToObject(r, "final", final);
    cJSON_AddNumberToObject(r, "tokens", reply->tokens);
    cJSON_AddNumberToObject(r, "tokens_total", (double)tokens);
    cJSON_AddNumberToObject(r, "ms", (double)ms);
    char *s = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    return s;
}

/* The env's intent hook: the checkpoint of the last finished step with the
 * journal (holding the pending key) goes to hooks.on_intent. */
typedef struct {
    const agent_loop_cfg *cfg;
    const msg_list *msgs; /* its first n_before messages: the last finished step */
    size_t n_before;
    const loop_counters *done;
} loop_intent_ctx;

static int loop_intent(void *ud, const char *key, char *err, size_t errlen)
{
    loop_intent_ctx *ic = ud;
    (void)key;
    msg_list before = {.v = ic->msgs->v, .n = ic->n_before};
    char *ck = checkpoint_make(&before, ic->done, ic->cfg->env->journal);
    if (!ck) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = ic->cfg->hooks.on_intent(ic->cfg->hooks.ud, ck, err, errlen);
    free(ck);
    return rc;
}

static int loop_run_calls_in(const agent_loop_cfg *cfg, msg_list *msgs, agent_reply *reply,
                             uint32_t step, size_t obs_cap, cJSON *calls_out,
                             const loop_counters *done);

/* Runs the reply's calls; appends the assistant turn and tool results. With
 * hooks.on_intent the env's intent hook is installed for these calls only
 * (its context lives on this stack frame). */
static int loop_run_calls(const agent_loop_cfg *cfg, msg_list *msgs, agent_reply *reply,
                          uint32_t step, size_t obs_cap, cJSON *calls_out,
                          const loop_counters *done)
{
    loop_intent_ctx ic = {.cfg = cfg, .msgs = msgs, .n_before = msgs->n, .done = done};
    int hook = cfg->env && cfg->env->journal && cfg->hooks.on_intent;
    if (hook) {
        cfg->env->intent = loop_intent;
        cfg->env->intent_ud = &ic;
    }
    int rc = loop_run_calls_in(cfg, msgs, reply, step, obs_cap, calls_out, done);
    if (hook) {
        cfg->env->intent = NULL;
        cfg->env->intent_ud = NULL;
    }
    return rc;
}

static int loop_run_calls_in(const agent_loop_cfg *cfg, msg_list *msgs, agent_reply *reply,
                             uint32_t step, size_t obs_cap, cJSON *calls_out,
                             const loop_counters *done)
{
    size_t n_before = msgs->n; /* the conversation as of the last finished step */
    agent_msg am = {.role = strdup("assistant"),
                    .content = xstrdup(reply->content ? reply->content : ""),
                    .calls = calls_dup(reply->calls, reply->n_calls),
                    .n_calls = reply->n_calls};
    if (!am.role || !am.content || !am.calls) {
        msg_free(&am);
        return -ENOMEM;
    }
    if (msgs_push(msgs, &am) != 0) return -ENOMEM;
    for (size_t i = 0; i < reply->n_calls; i++) {
        const rt_tool_call *c = &reply->calls[i];
        agent_result res;
        agent_audit audit;
        agent_registry_call(cfg->registry, cfg->env, c->name, c->arguments, step, &res, &audit);
        const agent_tool *t = agent_registry_find(cfg->registry, c->name);
        if (t && t->side_effect && !res.replayed && cfg->hooks.on_journal && cfg->env &&
            cfg->env->journal) {
            msg_list before = {.v = msgs->v, .n = n_before};
            char *ck = checkpoint_make(&before, done, cfg->env->journal);
            if (ck) cfg->hooks.on_journal(cfg->hooks.ud, ck);
            free(ck);
        }
        const char *obs = res.observation ? res.observation : "";
        size_t olen = strlen(obs);
        char *kept;
        if (olen > obs_cap) {
            size_t cut = obs_cap;
            while (cut > 0 && ((unsigned char)obs[cut] & 0xC0) == 0x80)
                cut--;
            kept = malloc(cut + 64);
            if (kept)
                snprintf(kept, cut + 64, "%.*s\n[truncated: %zu of %zu bytes shown]", (int)cut, obs,
                         cut, olen);
        } else {
            kept = strdup(obs);
        }
        if (res.status < 0 && kept) {
            /* the model must see that the call failed, not just the text */
            size_t n = strlen(kept) + 16;
            char *e = malloc(n);
            if (e) snprintf(e, n, "error: %s", kept);
            free(kept);
            kept = e;
        }
        cJSON *co = cJSON_CreateObject();
        if (co) {
            if (c->id) cJSON_AddStringToObject(co, "id", c->id);
            cJSON_AddStringToObject(co, "name", c->name);
            cJSON_AddStringToObject(co, "arguments", c->arguments);
            cJSON_AddNumberToObject(co, "status", res.status);
            cJSON_AddBoolToObject(co, "replayed", res.replayed);
            cJSON_AddStringToObject(co, "observation", kept ? kept : "");
            char *aj = NULL;
            char aerr[64];
            if (agent_audit_to_json(&audit, &aj, aerr, sizeof aerr) == 0 && aj) {
                cJSON *ao = cJSON_Parse(aj);
                if (ao) cJSON_AddItemToObject(co, "audit", ao);
            }
            free(aj);
            cJSON_AddItemToArray(calls_out, co);
        }
        agent_msg tm = {.role = strdup("tool"),
                        .content = kept,
                        .tool_call_id = xstrdup(c->id),
                        .name = strdup(c->name)};
        agent_result_free(&res);
        if (!tm.role || !tm.content || !tm.name) {
            msg_free(&tm);
            return -ENOMEM;
        }
        if (msgs_push(msgs, &tm) != 0) return -ENOMEM;
    }
    return 0;
}

int agent_loop_run(const agent_loop_cfg *cfg, agent_loop_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    if (!cfg->model.complete || !cfg->registry) {
        snprintf(err, errlen, "agent: no model or no tool registry");
        return -EINVAL;
    }
    const agent_budget *b = &cfg->budget;
    uint32_t max_steps = b->max_steps ? b->max_steps : LOOP_DEFAULT_STEPS;
    uint32_t step_tokens = b->step_tokens ? b->step_tokens : LOOP_DEFAULT_STEP_TOKENS;
    size_t obs_cap = b->observation_bytes ? b->observation_bytes : LOOP_DEFAULT_OBS;
    size_t ctx_chars = cfg->model.ctx_chars ? cfg->model.ctx_chars : LOOP_DEFAULT_CTX_CHARS;
    uint64_t now = cfg->now_ms ? cfg->now_ms : swarm_wall_ms();

    msg_list msgs = {0};
    loop_counters c = {.started_ms = now};
    int rc = 0;
    if (cfg->checkpoint && *cfg->checkpoint) {
        rc = checkpoint_load(cfg->checkpoint, &msgs, &c, cfg->env ? cfg->env->journal : NULL, err,
                             errlen);
        if (rc != 0) goto out;
        if (!c.started_ms) c.started_ms = now;
        res->resumed_from = c.step;
    } else if ((rc = msgs_push_text(&msgs, "system", cfg->system_prompt)) != 0 ||
               (rc = msgs_push_text(&msgs, "user", cfg->task)) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }

    /* tool definitions for the template / request, borrowed from the registry */
    size_t n_tools = agent_registry_count(cfg->registry);
    rt_tool_def *tools = calloc(n_tools ? n_tools : 1, sizeof *tools);
    char **params = calloc(n_tools ? n_tools : 1, sizeof *params);
    if (!tools || !params) {
        free(tools);
        free(params);
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n_tools; i++) {
        const agent_tool *t = agent_registry_at(cfg->registry, i);
        params[i] = cJSON_PrintUnformatted(t->schema);
        tools[i] =
            (rt_tool_def){.name = t->name, .description = t->description, .parameters = params[i]};
    }

    for (;;) {
        if (cfg->hooks.cancelled && cfg->hooks.cancelled(cfg->hooks.ud)) {
            rc = 1;
            break;
        }
        uint32_t step = c.step + 1;
        uint64_t t0 = swarm_wall_ms();
        if (b->wall_ms && t0 >= c.started_ms + b->wall_ms) {
            snprintf(err, errlen,
                     "agent wall time budget of %llu ms exceeded after %u steps (counted from the "
                     "sub-task's first start)",
                     (unsigned long long)b->wall_ms, c.step);
            rc = -ETIMEDOUT;
            break;
        }
        uint32_t want = step_tokens;
        int last = step >= max_steps;
        if (b->max_tokens) {
            if (c.tokens >= b->max_tokens) {
                snprintf(err, errlen, "agent token budget of %llu exhausted after %u steps",
                         (unsigned long long)b->max_tokens, c.step);
                rc = -ENOSPC;
                break;
            }
            if (b->max_tokens - c.tokens <= want) {
                want = (uint32_t)(b->max_tokens - c.tokens);
                last = 1; /* the remaining tokens buy one answer, not another call */
            }
        }
        rt_tool_choice choice = RT_TOOL_CHOICE_AUTO;
        if (last || n_tools == 0)
            choice = RT_TOOL_CHOICE_NONE;
        else if (step == 1 && b->first_step_tool)
            choice = RT_TOOL_CHOICE_REQUIRED;
        if (msgs_chars(&msgs) > ctx_chars) msgs_compact(&msgs, ctx_chars * 3 / 4, 0);

        agent_reply reply;
        int stopped = 0;
        rc = loop_ask(cfg, &msgs, tools, n_tools, choice, want, step, ctx_chars, &reply, &stopped,
                      err, errlen);
        if (stopped) {
            rc = 1;
            break;
        }
        if (rc != 0) break;
        c.tokens += reply.tokens;
        cJSON *calls_out = cJSON_CreateArray();
        int final = reply.n_calls == 0;
        if (!final && choice == RT_TOOL_CHOICE_NONE) {
            /* a backend that ignored "no more calls": take its text as the answer */
            final = 1;
        }
        if (!final) {
            rc = loop_run_calls(cfg, &msgs, &reply, step, obs_cap, calls_out, &c);
            c.tool_calls += (uint32_t)reply.n_calls;
            if (rc != 0) {
                snprintf(err, errlen, "out of memory running step %u", step);
                cJSON_Delete(calls_out);
                agent_reply_free(&reply);
                break;
            }
        } else {
            msgs_push_text(&msgs, "assistant", reply.content ? reply.content : "");
        }
        c.step = step;
        char *record =
            record_make(cfg, step, &reply, calls_out, c.tokens, final, swarm_wall_ms() - t0);
        char *ckpt = checkpoint_make(&msgs, &c, cfg->env ? cfg->env->journal : NULL);
        int stop = 0;
        if (cfg->hooks.on_step)
            stop = cfg->hooks.on_step(cfg->hooks.ud, step, final ? "" : reply.calls[0].name,
                                      c.tokens, record ? record : "{}", ckpt ? ckpt : "");
        free(record);
        free(ckpt);
        if (final) {
            res->answer = strdup(reply.content ? reply.content : "");
            agent_reply_free(&reply);
            rc = res->answer ? 0 : -ENOMEM;
            break;
        }
        agent_reply_free(&reply);
        if (stop) {
            rc = 1;
            break;
        }
    }
    for (size_t i = 0; i < n_tools; i++)
        free(params[i]);
    free(params);
    free(tools);
out:
    res->steps = c.step;
    res->tool_calls = c.tool_calls;
    res->tokens = c.tokens;
    res->stopped = rc == 1;
    msgs_free(&msgs);
    return rc;
}
