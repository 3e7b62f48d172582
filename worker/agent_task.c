/* agent_task.c - one agent sub-task on a worker slot (see agent_task.h).
 *
 * The agent spec (docs/AGENTS.md) arrives as JSON in Assign.agent_json, and
 * a retried sub-task's last checkpoint in Assign.checkpoint. Everything an
 * agent needs lives for the sub-task only: the workspace handle, the
 * registry (built-ins filtered by the job's allowed list, plus the tools of
 * its MCP servers), the journal (restored from the checkpoint, so resumed
 * side effects are not repeated). The notes are the job's: note / read_notes
 * go to swarmd (a Notes request through the worker's main thread), which
 * keeps them in Redis, so sibling agents on any worker read them. */
#include "agent_task.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "agent.h"
#include "agent_internal.h"
#include "cite.h"
#include "gitws.h"
#include "loop.h"
#include "wire.h"
#include "swarm_clock.h"

#define AGENT_MAX_MCP 8
#define AGENT_MAX_TOOLS 64

static const char AGENT_PREAMBLE[] =
    "You are an agent working inside a job's workspace. Paths are relative to the workspace "
    "root. Use the tools to investigate and act; each tool result comes back to you. When the "
    "task is done, reply with your final answer and no tool call.";

typedef struct {
    const worker_agent_ctx *c;
    uint32_t tool_calls;
    uint64_t tokens;
    int paused;
    char tail[160];
} agent_run_state;

static int agent_send(void *push, const Swarm__Envelope *env)
{
    /* blocking: a step record must not be dropped (the main thread drains it) */
    return wire_send(push, NULL, 0, env, 0, NULL, 0);
}

/* Every agent Progress carries the running token count and a tail for
 * `swarm status`/`swarm top`: the pause reason while paused (why the agent
 * makes no progress), else the last finished step. */
/* One Progress envelope of this task (fenced by its attempt and lease
 * token); env points at p, so both live in the caller's frame. */
static void agent_progress_fill(const worker_agent_ctx *c, Swarm__Envelope *env, Swarm__Progress *p,
                                uint32_t step, const char *tool, uint64_t tokens,
                                uint32_t tool_calls, const char *record, const char *ckpt,
                                const char *paused, const char *tail)
{
    const Swarm__Assign *a = c->assign;
    wire_envelope_init(env, c->worker_id, 0);
    p->job_id = a->job_id;
    p->task_id = a->task_id;
    p->attempt = a->attempt;
    p->lease_token = a->lease_token;
    p->tokens = (uint32_t)tokens;
    p->text_tail = (char *)tail;
    p->step = step;
    p->tool = (char *)(tool ? tool : "");
    p->step_json = (char *)(record ? record : "");
    p->checkpoint = (char *)(ckpt ? ckpt : "");
    p->paused = (char *)(paused ? paused : "");
    p->tool_calls = tool_calls;
    env->payload_case = SWARM__ENVELOPE__PAYLOAD_PROGRESS;
    env->progress = p;
}

static void agent_progress(const worker_agent_ctx *c, uint32_t step, const char *tool,
                           uint64_t tokens, uint32_t tool_calls, const char *record,
                           const char *ckpt, const char *paused, const char *tail)
{
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    Swarm__Progress p = SWARM__PROGRESS__INIT;
    agent_progress_fill(c, &env, &p, step, tool, tokens, tool_calls, record, ckpt, paused, tail);
    agent_send(c->push, &env);
}

static int hook_step(void *ud, uint32_t step, const char *tool, uint64_t tokens, const char *record,
                     const char *checkpoint)
{
    agent_run_state *st = ud;
    cJSON *r = cJSON_Parse(record);
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(r, "tool_calls");
    st->tool_calls += cJSON_IsArray(calls) ? (uint32_t)cJSON_GetArraySize(calls) : 0;
    cJSON_Delete(r);
    st->paused = 0;
    st->tokens = tokens;
    snprintf(st->tail, sizeof st->tail, "step %u: %s", step, *tool ? tool : "final answer");
    agent_progress(st->c, step, tool, tokens, st->tool_calls, record, checkpoint, "", st->tail);
    return atomic_load(st->c->cancel) != 0;
}

static void hook_journal(void *ud, const char *checkpoint)
{
    agent_run_state *st = ud;
    agent_progress(st->c, 0, "", st->tokens, st->tool_calls, "", checkpoint, "", st->tail);
}

static int hook_pause(void *ud, const char *reason, uint64_t retry_ms)
{
    agent_run_state *st = ud;
    char why[600];
    snprintf(why, sizeof why, "%s; retrying in %llu ms", reason, (unsigned long long)retry_ms);
    st->paused = 1;
    char tail[160];
    snprintf(tail, sizeof tail, "[paused] %.150s", why);
    agent_progress(st->c, 0, "", st->tokens, st->tool_calls, "", "", why, tail);
    return atomic_load(st->c->cancel) != 0;
}

/* A side-effect tool is about to run: its intent (the journal holding the
 * call as pending) must be in Redis first, so a worker killed while the tool
 * runs leaves a resumed agent an intent to reconcile, not a gap. Sent as a
 * Progress carrying the checkpoint through the slot's request path: swarmd
 * answers once checkpoint.lua stored it. */
static int hook_intent(void *ud, const char *checkpoint, char *err, size_t errlen)
{
    agent_run_state *st = ud;
    const worker_agent_ctx *c = st->c;
    if (!c->request) return 0; /* no swarmd to keep it */
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    Swarm__Progress p = SWARM__PROGRESS__INIT;
    agent_progress_fill(c, &env, &p, 0, "", st->tokens, st->tool_calls, "", checkpoint, "",
                        st->tail);
    Swarm__Envelope *reply = NULL;
    char rerr[256];
    int rc = c->request(c->request_ud, &env, &reply, 10000, rerr, sizeof rerr);
    if (rc == 0 && reply->payload_case == SWARM__ENVELOPE__PAYLOAD_ERROR) {
        snprintf(rerr, sizeof rerr, "%s", reply->error->message);
        rc = -EIO;
    } else if (rc == 0 && reply->payload_case != SWARM__ENVELOPE__PAYLOAD_PROGRESS) {
        snprintf(rerr, sizeof rerr, "swarmd answered with payload %d", (int)reply->payload_case);
        rc = -EPROTO;
    }
    if (reply) wire_free(reply);
    if (rc) snprintf(err, errlen, "swarmd did not store it: %s", rerr);
    return rc;
}

static int hook_cancelled(void *ud)
{
    agent_run_state *st = ud;
    return atomic_load(st->c->cancel) != 0;
}

/* ---- job-wide notes through swarmd (proto Notes, scheduler/lua/notes.lua) ---- */

#define NOTES_TIMEOUT_MS 10000
#define NOTES_READ_MAX (64 * 1024) /* bytes of notes one read_notes returns */

/* One Notes request for this sub-task's lease; *out: the reply's Notes. */
static int notes_call(const worker_agent_ctx *c, const char *author, const char *tag,
                      const char *text, const char *after, Swarm__Envelope **reply, char *err,
                      size_t errlen)
{
    const Swarm__Assign *a = c->assign;
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    Swarm__Notes n = SWARM__NOTES__INIT;
    wire_envelope_init(&env, c->worker_id, 0);
    n.job_id = a->job_id;
    n.task_id = a->task_id;
    n.attempt = a->attempt;
    n.lease_token = a->lease_token;
    n.author = (char *)(author ? author : "");
    n.tag = (char *)(tag ? tag : "");
    n.text = (char *)(text ? text : "");
    n.after = (char *)(after ? after : "");
    n.limit = 200;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_NOTES;
    env.notes = &n;
    char rerr[256];
    int rc = c->request(c->request_ud, &env, reply, NOTES_TIMEOUT_MS, rerr, sizeof rerr);
    if (rc) {
        snprintf(err, errlen, "job memory unavailable: %s; try again later", rerr);
        return rc;
    }
    Swarm__Envelope *r = *reply;
    if (r->payload_case == SWARM__ENVELOPE__PAYLOAD_ERROR) {
        snprintf(err, errlen, "swarmd refused: %s", r->error->message);
        return -EINVAL;
    }
    if (r->payload_case != SWARM__ENVELOPE__PAYLOAD_NOTES) {
        snprintf(err, errlen, "swarmd answered with payload %d", (int)r->payload_case);
        return -EPROTO;
    }
    if (r->notes->error[0]) {
        snprintf(err, errlen, "%s", r->notes->error);
        return -EINVAL;
    }
    return 0;
}

static int remote_append(void *ctx, const char *author, const char *tag, const char *text,
                         char *err, size_t errlen)
{
    if (!text || !*text) {
        snprintf(err, errlen, "empty note");
        return -EINVAL;
    }
    Swarm__Envelope *r = NULL;
    int rc = notes_call(ctx, author, tag, text, "", &r, err, errlen);
    if (r) wire_free(r);
    return rc;
}

/* Every note (of a tag) oldest first, page by page, up to NOTES_READ_MAX. */
static int remote_read(void *ctx, const char *tag, char **out, char *err, size_t errlen)
{
    agent_sbuf b;
    agent_sbuf_init(&b, (size_t)-1);
    char after[80] = "";
    size_t bytes = 0;
    int more = 1, rc = 0;
    while (more && bytes < NOTES_READ_MAX) {
        Swarm__Envelope *r = NULL;
        rc = notes_call(ctx, "", tag, "", after, &r, err, errlen);
        if (rc) {
            if (r) wire_free(r);
            break;
        }
        const Swarm__Notes *n = r->notes;
        for (size_t i = 0; i < n->n_notes; i++) {
            const Swarm__Note *e = n->notes[i];
            agent_sbuf_printf(&b, "[%s%s%s] %s\n", e->author, *e->tag ? " #" : "", e->tag, e->text);
            bytes += strlen(e->text) + strlen(e->author) + strlen(e->tag) + 6;
        }
        more = n->more && n->n_notes > 0 && strcmp(after, n->next) != 0;
        snprintf(after, sizeof after, "%s", n->next);
        wire_free(r);
    }
    if (!rc && more) agent_sbuf_printf(&b, "[more notes not shown: read_notes with a tag]\n");
    *out = agent_sbuf_take(&b);
    if (rc) {
        free(*out);
        *out = NULL;
        return rc;
    }
    if (!*out) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

/* ---- "plan": "model": the planning task's submit_plan tool ---- */

/* Keeps the plan (the tool's arguments, which the tool-call grammar forced
 * into agent.plan_schema) as the task's answer; lua/lib.lua plan_expand
 * checks it again and turns it into tasks. */
static int tool_submit_plan(const agent_tool *t, agent_env *env, const cJSON *args,
                            agent_result *res)
{
    (void)env;
    char **plan = t->udata;
    char *text = cJSON_PrintUnformatted(args);
    if (!text) return agent_res_fail(res, -ENOMEM, "submit_plan: out of memory");
    free(*plan);
    *plan = text;
    return agent_res_ok(res, strdup("plan received; answer \"done\" to finish"));
}

/* ---- spawn through swarmd (proto Spawn, scheduler/lua/spawn.lua) ---- */

#define SPAWN_TIMEOUT_MS 10000

/* The spawn tool's children: a Spawn request for this sub-task's lease; the
 * scheduler's refusal (a budget, named) comes back in err, which the tool
 * turns into the agent's observation. */
static int remote_spawn(void *ctx, const char *parent_task, const cJSON *args, char **child_id,
                        char *err, size_t errlen)
{
    const worker_agent_ctx *c = ctx;
    const Swarm__Assign *a = c->assign;
    (void)parent_task;
    *child_id = NULL;
    const cJSON *ins = cJSON_GetObjectItemCaseSensitive(args, "instructions");
    const cJSON *deps = cJSON_GetObjectItemCaseSensitive(args, "depends_on");
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(args, "tools");
    if (!cJSON_IsString(ins) || !ins->valuestring[0]) {
        snprintf(err, errlen, "instructions: a non-empty string is required");
        return -EINVAL;
    }
    size_t nd = (size_t)cJSON_GetArraySize(deps), nt = (size_t)cJSON_GetArraySize(tools);
    char **dv = calloc(nd + 1, sizeof *dv), **tv = calloc(nt + 1, sizeof *tv);
    if (!dv || !tv) {
        free(dv);
        free(tv);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, deps) if (cJSON_IsString(e) && i < nd) dv[i++] = e->valuestring;
    nd = i;
    i = 0;
    cJSON_ArrayForEach(e, tools) if (cJSON_IsString(e) && i < nt) tv[i++] = e->valuestring;
    nt = i;
    char item[96];
    snprintf(item, sizeof item, "child of %s", a->task_id);
    Swarm__Envelope env = SWARM__ENVELOPE__INIT, *r = NULL;
    Swarm__Spawn sp = SWARM__SPAWN__INIT;
    wire_envelope_init(&env, c->worker_id, 0);
    sp.job_id = a->job_id;
    sp.task_id = a->task_id;
    sp.attempt = a->attempt;
    sp.lease_token = a->lease_token;
    sp.instructions = ins->valuestring;
    sp.item = item;
    sp.n_depends_on = nd;
    sp.depends_on = dv;
    sp.n_tools = nt;
    sp.tools = tv;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_SPAWN;
    env.spawn = &sp;
    char rerr[256];
    int rc = c->request(c->request_ud, &env, &r, SPAWN_TIMEOUT_MS, rerr, sizeof rerr);
    free(dv);
    free(tv);
    if (rc) {
        snprintf(err, errlen, "the scheduler did not answer: %s; try again later", rerr);
        return rc;
    }
    if (r->payload_case == SWARM__ENVELOPE__PAYLOAD_ERROR) {
        snprintf(err, errlen, "swarmd refused: %s", r->error->message);
        rc = -EINVAL;
    } else if (r->payload_case != SWARM__ENVELOPE__PAYLOAD_SPAWN) {
        snprintf(err, errlen, "swarmd answered with payload %d", (int)r->payload_case);
        rc = -EPROTO;
    } else if (r->spawn->error[0] || !r->spawn->child_task_id[0]) {
        snprintf(err, errlen, "%s", r->spawn->error[0] ? r->spawn->error : "no child was created");
        rc = -EDQUOT;
    } else if (!(*child_id = strdup(r->spawn->child_task_id))) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
    }
    wire_free(r);
    return rc;
}

typedef struct {
    wb_slot *slot;
    float temperature;
    uint64_t seed;
    agent_run_state *st;
    uint32_t step;       /* the step being written */
    uint64_t partial_ms; /* when the last partial Progress left */
} agent_model_ctx;

/* A streaming backend's reply so far: tokens and the text's tail go out as a
 * Progress (no step record, so swarmd only updates the task's tokens and
 * tail), at most one per 100 ms since each costs swarmd a Redis write. */
static void model_partial(void *ud, uint32_t tokens, const char *text, size_t len)
{
    agent_model_ctx *m = ud;
    uint64_t t = swarm_clock_ms();
    if (m->partial_ms && t < m->partial_ms + 100) return;
    m->partial_ms = t;
    size_t start = len > 80 ? len - 80 : 0;
    while (start < len && ((unsigned char)text[start] & 0xC0) == 0x80)
        start++;
    char *clean = wb_utf8_sanitize(text + start, len - start);
    char tail[160];
    snprintf(tail, sizeof tail, "step %u: writing: %s", m->step, clean ? clean : "");
    free(clean);
    agent_run_state *st = m->st;
    agent_progress(st->c, 0, "", st->tokens + tokens, st->tool_calls, "", "", "", tail);
}

static int model_complete(void *ctx, const agent_model_req *req, agent_reply *out,
                          uint64_t *retry_after_ms, char *err, size_t errlen)
{
    agent_model_ctx *m = ctx;
    agent_model_req r = *req;
    r.on_partial = model_partial;
    r.partial_ud = m;
    m->step = req->step;
    m->partial_ms = 0;
    return wb_slot_chat(m->slot, &r, m->temperature, m->seed, out, retry_after_ms, err, errlen);
}

static double spec_num(const cJSON *o, const char *k, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static const char *spec_str(const cJSON *o, const char *k, const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

/* Starts the spec's MCP servers and adds their tools ("<name>__<tool>"). */
static int agent_mcp_setup(const cJSON *spec, agent_registry *reg, agent_mcp **mcps, size_t *n_mcp,
                           char *err, size_t errlen)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(spec, "mcp");
    const cJSON *srv;
    cJSON_ArrayForEach(srv, list)
    {
        if (*n_mcp >= AGENT_MAX_MCP) {
            snprintf(err, errlen, "agent.mcp: at most %d servers", AGENT_MAX_MCP);
            return -1;
        }
        const char *name = spec_str(srv, "name", NULL);
        const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(srv, "command");
        int argc = cJSON_IsArray(cmd) ? cJSON_GetArraySize(cmd) : 0;
        if (!name || argc < 1 || argc > 63) {
            snprintf(err, errlen, "agent.mcp: each server needs a name and a command array");
            return -1;
        }
        char *argv[64];
        for (int i = 0; i < argc; i++) {
            const cJSON *a = cJSON_GetArrayItem(cmd, i);
            argv[i] = cJSON_IsString(a) ? a->valuestring : (char *)"";
        }
        argv[argc] = NULL;
        char merr[512];
        if (agent_mcp_start(name, argv, spec_num(srv, "timeout_s", 30), NULL, &mcps[*n_mcp], merr,
                            sizeof merr) != 0) {
            snprintf(err, errlen, "agent.mcp %s: %s", name, merr);
            return -1;
        }
        (*n_mcp)++;
        if (agent_mcp_register(mcps[*n_mcp - 1], reg, merr, sizeof merr) != 0) {
            snprintf(err, errlen, "agent.mcp %s: %s", name, merr);
            return -1;
        }
    }
    return 0;
}

/* ---- the merge agent of a coding job's merge step (gitws_resolve_fn) ---- */

typedef struct {
    const worker_agent_ctx *c;
    const cJSON *spec;
    const agent_sandbox_cfg *sb;
    agent_run_state *st;
} merge_agent;

/* An agent loop in the conflicted merge worktree with the file tools only:
 * it edits the files until no conflict marker is left (gitws checks that,
 * not the agent's word). */
static int merge_resolve(void *ud, const char *dir, const char *branch, const char *files,
                         char *err, size_t errlen)
{
    merge_agent *m = ud;
    const Swarm__Assign *a = m->c->assign;
    static const char *const tools[] = {"read_file", "write_file", "edit_file", "list_dir", "grep"};
    agent_ws *ws = NULL;
    agent_registry *reg = NULL;
    agent_journal *journal = NULL;
    char *task = NULL, *system = NULL;
    int rc = -1;
    if (agent_ws_open(dir, &ws, err, errlen) != 0) return -1;
    if (agent_registry_new(&reg) != 0 || agent_journal_new(&journal) != 0 ||
        agent_registry_add_builtins(reg, err, errlen) != 0 ||
        agent_registry_filter(reg, tools, sizeof tools / sizeof tools[0], err, errlen) != 0)
        goto out;
    if (asprintf(&task,
                 "Merging branch %s left conflicts in these files:\n%s\nEdit each file so that "
                 "it keeps the intent of both sides and contains no conflict marker lines "
                 "(<<<<<<<, =======, >>>>>>>). Then answer with what you did.",
                 branch, files) < 0 ||
        asprintf(&system, "%s%s%s", a->goal ? a->goal : "", a->goal && *a->goal ? "\n\n" : "",
                 AGENT_PREAMBLE) < 0) {
        task = system = NULL;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    agent_env env = {.ws = ws,
                     .sandbox = m->sb,
                     .journal = journal,
                     .job_id = a->job_id,
                     .task_id = a->task_id,
                     .agent_id = "merge-agent",
                     .observation_cap = 64 * 1024};
    agent_model_ctx mctx = {
        .slot = m->c->slot, .temperature = a->temperature, .seed = a->seed, .st = m->st};
    agent_loop_cfg cfg = {
        .system_prompt = system,
        .task = task,
        .task_id = a->task_id,
        .registry = reg,
        .env = &env,
        .model = {.ctx = &mctx,
                  .complete = model_complete,
                  .ctx_chars = wb_slot_ctx_chars(m->c->slot)},
        .budget = {.max_steps = (uint32_t)spec_num(m->spec, "max_steps", 8),
                   .max_tokens = (uint64_t)spec_num(m->spec, "max_tokens", 0),
                   .step_tokens = a->max_tokens,
                   .wall_ms = (uint64_t)(spec_num(m->spec, "wall_time_s", 0) * 1000),
                   .observation_bytes = (size_t)spec_num(m->spec, "observation_bytes", 4096),
                   .first_step_tool = true},
        .hooks = {.ud = m->st, .on_step = hook_step, .cancelled = hook_cancelled},
    };
    agent_loop_result res;
    rc = agent_loop_run(&cfg, &res, err, errlen);
    agent_loop_result_free(&res);
out:
    free(task);
    free(system);
    agent_registry_free(reg);
    agent_journal_free(journal);
    agent_ws_free(ws);
    return rc == 0 ? 0 : -1;
}

int worker_agent_execute(const worker_agent_ctx *c, worker_agent_out *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const Swarm__Assign *a = c->assign;
    cJSON *spec = cJSON_Parse(a->agent_json);
    agent_ws *ws = NULL;
    agent_registry *reg = NULL;
    agent_journal *journal = NULL;
    agent_notes notes = {0};
    agent_mcp *mcps[AGENT_MAX_MCP] = {0};
    size_t n_mcp = 0;
    char *user = NULL, *system = NULL;
    char *plan = NULL; /* "plan": "model": submit_plan's arguments */
    int rc = -1;
    if (!cJSON_IsObject(spec)) {
        snprintf(err, errlen, "agent: the Assign's agent spec is not a JSON object");
        goto out;
    }
    const char *root = spec_str(spec, "workspace", NULL);
    if (!root) {
        snprintf(err, errlen, "agent.workspace: missing");
        goto out;
    }
    /* coding jobs (agent.git, gitws.h): the merge step runs no model; an
     * agent works in its own worktree on its own branch */
    const cJSON *git = cJSON_GetObjectItemCaseSensitive(spec, "git");
    const char *repo = root;
    char wt[4096] = "";
    if (cJSON_IsObject(git)) {
        const char *base = spec_str(git, "base", "HEAD"), *check = spec_str(git, "check", "");
        if (strcmp(a->instructions, GITWS_MERGE_TASK) == 0) {
            agent_sandbox_cfg msb;
            agent_sandbox_cfg_default(&msb);
            if (strcmp(spec_str(spec, "sandbox", "bwrap"), "unsandboxed") == 0)
                msb.allow_unsandboxed = msb.force_unsandboxed = 1;
            agent_run_state mst = {.c = c};
            merge_agent ma = {.c = c, .spec = spec, .sb = &msb, .st = &mst};
            rc = gitws_merge_job(repo, a->job_id, base, check, a->input, &msb,
                                 spec_num(git, "check_timeout_s", 600), merge_resolve, &ma,
                                 &out->output, err, errlen);
            goto out;
        }
        if (gitws_agent_begin(repo, a->job_id, a->task_id, base, wt, sizeof wt, err, errlen))
            goto out;
        root = wt;
    }
    char werr[512];
    if (agent_ws_open(root, &ws, werr, sizeof werr) != 0) {
        snprintf(err, errlen, "agent.workspace: %s", werr);
        goto out;
    }
    if (c->request) {
        notes.ctx = (void *)c;
        notes.append = remote_append;
        notes.read = remote_read;
    }
    if (agent_registry_new(&reg) != 0 || agent_journal_new(&journal) != 0 ||
        (!c->request && agent_notes_mem_new(&notes) != 0)) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (agent_registry_add_builtins(reg, err, errlen) != 0) goto out;
    if (agent_mcp_setup(spec, reg, mcps, &n_mcp, err, errlen) != 0) goto out;
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(spec, "tools");
    if (cJSON_IsArray(tools)) {
        const char *allowed[AGENT_MAX_TOOLS];
        size_t n = 0;
        const cJSON *t;
        cJSON_ArrayForEach(t, tools)
        {
            if (cJSON_IsString(t) && n < AGENT_MAX_TOOLS) allowed[n++] = t->valuestring;
        }
        char ferr[512];
        if (agent_registry_filter(reg, allowed, n, ferr, sizeof ferr) != 0) {
            snprintf(err, errlen, "agent.tools: %s", ferr);
            goto out;
        }
    }
    /* the planning task (t0000 of a "plan": "model" job) answers through
     * submit_plan, whose arguments schema is the plan's */
    const cJSON *plan_schema = cJSON_GetObjectItemCaseSensitive(spec, "plan_schema");
    if (cJSON_IsObject(plan_schema) && strcmp(a->task_id, "t0000") == 0) {
        char *sj = cJSON_PrintUnformatted(plan_schema);
        int prc = sj ? agent_registry_add(reg, "submit_plan",
                                          "Submit the plan: the sub-tasks, their tools and "
                                          "dependencies. Call it once, then answer \"done\".",
                                          sj, tool_submit_plan, &plan, 0, err, errlen)
                     : -1;
        free(sj);
        if (prc != 0) goto out;
    }
    agent_sandbox_cfg sb;
    agent_sandbox_cfg_default(&sb);
    const char *mode = spec_str(spec, "sandbox", "bwrap");
    if (strcmp(mode, "unsandboxed") == 0) sb.allow_unsandboxed = sb.force_unsandboxed = 1;
    sb.timeout_s = spec_num(spec, "run_timeout_s", 60);
    /* spawn: children through swarmd, within the job's budget */
    agent_spawner spawner = {.ctx = (void *)c, .spawn = remote_spawn};
    agent_env env = {.ws = ws,
                     .sandbox = &sb,
                     .notes = &notes,
                     .spawner = c->request ? &spawner : NULL,
                     .journal = journal,
                     .job_id = a->job_id,
                     .task_id = a->task_id,
                     .agent_id = a->task_id,
                     .observation_cap = 64 * 1024};
    user = wb_prompt_expand(a->instructions, a->input);
    const char *extra = spec_str(spec, "system", "");
    size_t sn = strlen(a->goal ? a->goal : "") + strlen(extra) + sizeof AGENT_PREAMBLE + 8;
    system = malloc(sn);
    if (!user || !system) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    snprintf(system, sn, "%s%s%s%s%s", a->goal ? a->goal : "", a->goal && *a->goal ? "\n\n" : "",
             AGENT_PREAMBLE, *extra ? "\n\n" : "", extra);
    agent_run_state st = {.c = c};
    agent_model_ctx mctx = {
        .slot = c->slot, .temperature = a->temperature, .seed = a->seed, .st = &st};
    if (a->checkpoint && *a->checkpoint) {
        cJSON *ck = cJSON_Parse(a->checkpoint);
        st.tool_calls = (uint32_t)spec_num(ck, "tool_calls", 0);
        st.tokens = (uint64_t)spec_num(ck, "tokens", 0);
        cJSON_Delete(ck);
    }
    agent_loop_cfg cfg = {
        .system_prompt = system,
        .task = user,
        .task_id = a->task_id,
        .registry = reg,
        .env = &env,
        .model = {.ctx = &mctx,
                  .complete = model_complete,
                  .ctx_chars = wb_slot_ctx_chars(c->slot)},
        .budget = {.max_steps = (uint32_t)spec_num(spec, "max_steps", 8),
                   .max_tokens = (uint64_t)spec_num(spec, "max_tokens", 0),
                   .step_tokens = a->max_tokens,
                   .wall_ms = (uint64_t)(spec_num(spec, "wall_time_s", 0) * 1000),
                   .observation_bytes = (size_t)spec_num(spec, "observation_bytes", 4096),
                   .first_step_tool = strcmp(spec_str(spec, "first_step", "tool"), "tool") == 0},
        .hooks = {.ud = &st,
                  .on_step = hook_step,
                  .on_journal = hook_journal,
                  .on_intent = hook_intent,
                  .on_pause = hook_pause,
                  .cancelled = hook_cancelled},
        .checkpoint = a->checkpoint,
    };
    agent_loop_result res;
    rc = agent_loop_run(&cfg, &res, err, errlen);
    out->output = res.answer;
    res.answer = NULL;
    out->steps = res.steps;
    out->tool_calls = res.tool_calls;
    out->tokens = (uint32_t)res.tokens;
    agent_loop_result_free(&res);
    if (rc == 0 && plan) {
        free(out->output);
        out->output = plan;
        plan = NULL;
    }
    if (rc == 0 && wt[0] && gitws_agent_end(repo, wt, a->job_id, a->task_id, err, errlen)) rc = -1;
    /* research jobs: the answer's file:line citations, checked against the
     * workspace, are reported after it (cite.h) */
    cite_report cr;
    if (rc == 0 && out->output &&
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "citations")) &&
        cite_check(root, out->output, &cr, err, errlen) == 0) {
        char *both = NULL;
        if (asprintf(&both, "%s\n\n%s", out->output, cr.summary) >= 0) {
            free(out->output);
            out->output = both;
        }
        cite_report_free(&cr);
    }
out:
    free(plan);
    free(user);
    free(system);
    agent_registry_free(reg);
    for (size_t i = 0; i < n_mcp; i++)
        agent_mcp_free(mcps[i]);
    agent_journal_free(journal);
    if (notes.ctx && !c->request) agent_notes_mem_free(&notes);
    agent_ws_free(ws);
    cJSON_Delete(spec);
    return rc;
}
