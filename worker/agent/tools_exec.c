/* tools_exec.c - the tools that reach beyond the file system: run (a shell
 * command in the sandbox), note / read_notes (job-wide memory behind the
 * agent_notes seam) and spawn (children through the agent_spawner seam), plus
 * the in-memory notes store used by tests and single-process runs. */
#include "agent_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------- run */

static int tool_run(const agent_tool *t, agent_env *env, const cJSON *args, agent_result *res)
{
    const char *command = agent_arg_str(args, "command", "");
    if (!env->sandbox)
        return agent_res_fail(res, -EPERM, "run: no sandbox configured for this job");
    double timeout = (double)agent_arg_int(args, "timeout_s", 0);
    agent_run_result rr;
    char err[512];
    int rc = agent_sandbox_run(env->sandbox, agent_ws_root(env->ws), command, timeout, &rr, err,
                               sizeof err);
    if (rc) return agent_res_fail(res, rc, "run: %s", err);
    agent_sbuf b;
    agent_sbuf_init(&b, (size_t)-1);
    if (rr.timed_out)
        agent_sbuf_printf(
            &b, "[killed at the %.0f s timeout]\n",
            timeout > 0 && timeout < env->sandbox->timeout_s ? timeout : env->sandbox->timeout_s);
    else if (rr.term_signal)
        agent_sbuf_printf(&b, "[killed by signal %d]\n", rr.term_signal);
    else
        agent_sbuf_printf(&b, "[exit status %d]\n", rr.exit_code);
    agent_sbuf_add(&b, rr.output ? rr.output : "", rr.output_len);
    if (rr.truncated)
        agent_sbuf_printf(&b, "\n[output truncated at %zu bytes]\n", env->sandbox->output_cap);
    res->exit_code = rr.exit_code;
    res->term_signal = rr.term_signal;
    res->truncated = rr.truncated;
    res->sandboxed = rr.sandboxed;
    agent_run_result_free(&rr);
    agent_res_ok(res, agent_sbuf_take(&b));
    /* A command that ran but failed is a failed tool call for the audit. */
    if (res->exit_code != 0 || res->term_signal != 0) res->status = -1;
    return res->status;
}

/* --------------------------------------------------------------- notes */

static int tool_note(const agent_tool *t, agent_env *env, const cJSON *args, agent_result *res)
{
    if (!env->notes || !env->notes->append)
        return agent_res_fail(res, -ENOSYS, "note: job memory is not available to this agent");
    char err[512];
    int rc = env->notes->append(env->notes->ctx, env->agent_id ? env->agent_id : "",
                                agent_arg_str(args, "tag", ""), agent_arg_str(args, "text", ""),
                                err, sizeof err);
    if (rc) return agent_res_fail(res, rc, "note: %s", err);
    return agent_res_ok(res, strdup("noted"));
}

static int tool_read_notes(const agent_tool *t, agent_env *env, const cJSON *args,
                           agent_result *res)
{
    if (!env->notes || !env->notes->read)
        return agent_res_fail(res, -ENOSYS,
                              "read_notes: job memory is not available to this agent");
    char err[512], *out = NULL;
    int rc =
        env->notes->read(env->notes->ctx, agent_arg_str(args, "tag", NULL), &out, err, sizeof err);
    if (rc) return agent_res_fail(res, rc, "read_notes: %s", err);
    if (out && !*out) {
        free(out);
        out = strdup("[no notes yet]");
    }
    return agent_res_ok(res, out);
}

typedef struct {
    char *author, *tag, *text;
} mem_note;

typedef struct {
    mem_note *v;
    size_t n, cap;
} mem_notes;

static int mem_append(void *ctx, const char *author, const char *tag, const char *text, char *err,
                      size_t errlen)
{
    mem_notes *m = ctx;
    if (!text || !*text) {
        snprintf(err, errlen, "empty note");
        return -EINVAL;
    }
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 16;
        mem_note *nv = realloc(m->v, nc * sizeof *nv);
        if (!nv) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        m->v = nv;
        m->cap = nc;
    }
    mem_note *e = &m->v[m->n];
    e->author = strdup(author ? author : "");
    e->tag = strdup(tag ? tag : "");
    e->text = strdup(text);
    if (!e->author || !e->tag || !e->text) {
        free(e->author);
        free(e->tag);
        free(e->text);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    m->n++;
    return 0;
}

static int mem_read(void *ctx, const char *tag, char **out, char *err, size_t errlen)
{
    mem_notes *m = ctx;
    agent_sbuf b;
    agent_sbuf_init(&b, (size_t)-1);
    for (size_t i = 0; i < m->n; i++) {
        if (tag && *tag && strcmp(tag, m->v[i].tag) != 0) continue;
        agent_sbuf_printf(&b, "[%s%s%s] %s\n", m->v[i].author, *m->v[i].tag ? " #" : "",
                          m->v[i].tag, m->v[i].text);
    }
    *out = agent_sbuf_take(&b);
    if (!*out) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

int agent_notes_mem_new(agent_notes *notes)
{
    mem_notes *m = calloc(1, sizeof *m);
    if (!m) return -ENOMEM;
    notes->ctx = m;
    notes->append = mem_append;
    notes->read = mem_read;
    return 0;
}

void agent_notes_mem_free(agent_notes *notes)
{
    mem_notes *m = notes ? notes->ctx : NULL;
    if (!m) return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].author);
        free(m->v[i].tag);
        free(m->v[i].text);
    }
    free(m->v);
    free(m);
    notes->ctx = NULL;
}

/* --------------------------------------------------------------- spawn */

static int tool_spawn(const agent_tool *t, agent_env *env, const cJSON *args, agent_result *res)
{
    if (!env->spawner || !env->spawner->spawn)
        return agent_res_fail(res, -ENOSYS, "spawn: this agent may not spawn sub-tasks");
    char err[512], *child = NULL;
    int rc = env->spawner->spawn(env->spawner->ctx, env->task_id ? env->task_id : "", args, &child,
                                 err, sizeof err);
    if (rc) {
        free(child);
        return agent_res_fail(res, rc, "spawn: %s", err);
    }
    char msg[256];
    snprintf(msg, sizeof msg, "spawned sub-task %s", child ? child : "?");
    free(child);
    return agent_res_ok(res, strdup(msg));
}

int agent_tools_exec_register(agent_registry *r, char *err, size_t errlen)
{
    static const struct {
        const char *name, *desc, *schema;
        agent_tool_fn fn;
        int side_effect;
    } tools[] = {
        {"run",
         "Run a shell command in the workspace inside the sandbox (no network, rest of the "
         "file system read-only); prints exit status and output.",
         "{\"type\":\"object\",\"properties\":{\"command\":{\"type\":\"string\"},\"timeout_s\":{"
         "\"type\":\"integer\",\"minimum\":1}},\"required\":[\"command\"],"
         "\"additionalProperties\":false}",
         tool_run, 1},
        {"note", "Leave a note in the job's shared memory for sibling agents.",
         "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"},\"tag\":{\"type\":"
         "\"string\"}},\"required\":[\"text\"],\"additionalProperties\":false}",
         tool_note, 1},
        {"read_notes", "Read the job's shared notes (optionally only those with a tag).",
         "{\"type\":\"object\",\"properties\":{\"tag\":{\"type\":\"string\"}},"
         "\"additionalProperties\":false}",
         tool_read_notes, 0},
        {"spawn",
         "Start a child sub-task with its own instructions and tools (within the job's budget "
         "and depth).",
         "{\"type\":\"object\",\"properties\":{\"instructions\":{\"type\":\"string\"},\"tools\":{"
         "\"type\":\"array\",\"items\":{\"type\":\"string\"}},\"depends_on\":{\"type\":\"array\","
         "\"items\":{\"type\":\"string\"}}},\"required\":[\"instructions\"],"
         "\"additionalProperties\":false}",
         tool_spawn, 1},
    };
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        int rc = agent_registry_add(r, tools[i].name, tools[i].desc, tools[i].schema, tools[i].fn,
                                    NULL, tools[i].side_effect, err, errlen);
        if (rc) return rc;
    }
    return 0;
}
