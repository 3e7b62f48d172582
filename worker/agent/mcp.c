/* mcp.c - Model Context Protocol client over stdio.
 *
 * The server is a child process speaking JSON-RPC 2.0, one JSON object per
 * line, on its stdin/stdout. We run the handshake (initialize, then the
 * notifications/initialized notification), list its tools (following
 * nextCursor pages) and call them; each becomes a registry tool named
 * "<server>__<tool>" so the agent sees it beside the built-ins, under the same
 * audit and journal. The child's stdio is a socketpair rather than pipes so a
 * write to a crashed server returns EPIPE (MSG_NOSIGNAL) instead of killing
 * the worker with SIGPIPE. Every request has a timeout; a request that times
 * out is cancelled (notifications/cancelled); a server that exits is reported
 * with its exit status and refuses further calls. */
#include "agent_internal.h"
#include "swarm_clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MCP_LINE_MAX (16u << 20)
#define MCP_PROTOCOL "2025-06-18"

struct agent_mcp {
    char *name;
    pid_t pid;
    int fd;
    double timeout_s;
    long next_id;
    char *rbuf;
    size_t rlen, rcap;
    cJSON *tools;
    int dead, exit_status;
};

static int mcp_dead_msg(agent_mcp *m, char *err, size_t errlen)
{
    if (!m->dead) {
        int st;
        m->dead = 1;
        m->exit_status = -1;
        /* Give a crashing server a moment to be reaped for its status. */
        for (int i = 0; i < 50; i++) {
            pid_t r = waitpid(m->pid, &st, WNOHANG);
            if (r == m->pid) {
                m->exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                m->pid = -1;
                break;
            }
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (m->exit_status > 128)
        snprintf(err, errlen, "MCP server '%s' died (signal %d)", m->name, m->exit_status - 128);
    else if (m->exit_status >= 0)
        snprintf(err, errlen, "MCP server '%s' exited with status %d", m->name, m->exit_status);
    else
        snprintf(err, errlen, "MCP server '%s' closed its connection", m->name);
    return -EPIPE;
}

static int mcp_send(agent_mcp *m, cJSON *msg, char *err, size_t errlen)
{
    if (m->dead) return mcp_dead_msg(m, err, errlen);
    char *s = cJSON_PrintUnformatted(msg);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    size_t len = strlen(s);
    s[len] = '\n'; /* the NUL becomes the line end; send len + 1 bytes */
    size_t off = 0;
    int rc = 0;
    while (off < len + 1) {
        ssize_t n = send(m->fd, s + off, len + 1 - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = mcp_dead_msg(m, err, errlen);
            break;
        }
        off += (size_t)n;
    }
    free(s);
    return rc;
}

/* Next line from the server, waiting until deadline; *line malloc'ed. */
static int mcp_read_line(agent_mcp *m, int64_t deadline, char **line, char *err, size_t errlen)
{
    for (;;) {
        char *nl = m->rlen ? memchr(m->rbuf, '\n', m->rlen) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - m->rbuf);
            *line = strndup(m->rbuf, n);
            memmove(m->rbuf, nl + 1, m->rlen - n - 1);
            m->rlen -= n + 1;
            return *line ? 0 : -ENOMEM;
        }
        if (m->dead) return mcp_dead_msg(m, err, errlen);
        int64_t left = deadline - (int64_t)swarm_clock_ms();
        if (left <= 0) {
            snprintf(err, errlen, "MCP server '%s' did not answer within %.1f s", m->name,
                     m->timeout_s);
            return -ETIMEDOUT;
        }
        struct pollfd p = {m->fd, POLLIN, 0};
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) continue;
        if (m->rlen + 65536 + 1 > m->rcap) {
            if (m->rcap >= MCP_LINE_MAX) {
                snprintf(err, errlen, "MCP server '%s' sent a line over %u bytes", m->name,
                         MCP_LINE_MAX);
                return -EMSGSIZE;
            }
            size_t nc = m->rcap ? m->rcap * 2 : 131072;
            char *nb = realloc(m->rbuf, nc);
            if (!nb) {
                snprintf(err, errlen, "out of memory");
                return -ENOMEM;
            }
            m->rbuf = nb;
            m->rcap = nc;
        }
        ssize_t n = recv(m->fd, m->rbuf + m->rlen, m->rcap - m->rlen - 1, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return mcp_dead_msg(m, err, errlen);
        m->rlen += (size_t)n;
    }
}

/* Answers a request the server sent us: ping, or "method not found". */
static void mcp_answer_server(agent_mcp *m, const cJSON *msg)
{
    cJSON *resp = cJSON_CreateObject();
    char err[256];
    cJSON_AddStringToObject(resp, "jsonrpc", "2.0");
    cJSON_AddItemToObject(resp, "id", cJSON_Duplicate(cJSON_GetObjectItem(msg, "id"), 1));
    const char *method = agent_arg_str(msg, "method", "");
    if (strcmp(method, "ping") == 0) {
        cJSON_AddItemToObject(resp, "result", cJSON_CreateObject());
    } else {
        cJSON *e = cJSON_AddObjectToObject(resp, "error");
        cJSON_AddNumberToObject(e, "code", -32601);
        cJSON_AddStringToObject(e, "message", "method not supported by the swarm client");
    }
    mcp_send(m, resp, err, sizeof err);
    cJSON_Delete(resp);
}

static int mcp_notify(agent_mcp *m, const char *method, cJSON *params, char *err, size_t errlen)
{
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
    cJSON_AddStringToObject(msg, "method", method);
    if (params) cJSON_AddItemToObject(msg, "params", params);
    int rc = mcp_send(m, msg, err, errlen);
    cJSON_Delete(msg);
    return rc;
}

/* One request/response; params is consumed; *result owned by the caller. */
static int mcp_request(agent_mcp *m, const char *method, cJSON *params, cJSON **result, char *err,
                       size_t errlen)
{
    *result = NULL;
    long id = ++m->next_id;
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
    cJSON_AddNumberToObject(msg, "id", (double)id);
    cJSON_AddStringToObject(msg, "method", method);
    cJSON_AddItemToObject(msg, "params", params ? params : cJSON_CreateObject());
    int rc = mcp_send(m, msg, err, errlen);
    cJSON_Delete(msg);
    if (rc) return rc;
    int64_t deadline = (int64_t)swarm_clock_ms() + (int64_t)(m->timeout_s * 1000);
    for (;;) {
        char *line = NULL;
        rc = mcp_read_line(m, deadline, &line, err, errlen);
        if (rc == -ETIMEDOUT) {
            char e2[128];
            cJSON *cp = cJSON_CreateObject();
            cJSON_AddNumberToObject(cp, "requestId", (double)id);
            cJSON_AddStringToObject(cp, "reason", "timeout");
            mcp_notify(m, "notifications/cancelled", cp, e2, sizeof e2);
            size_t n = strlen(err);
            snprintf(err + n, errlen > n ? errlen - n : 0, " to %s", method);
        }
        if (rc) return rc;
        cJSON *resp = cJSON_Parse(line);
        free(line);
        if (!cJSON_IsObject(resp)) {
            cJSON_Delete(resp); /* not JSON-RPC (a stray log line): skip it */
            continue;
        }
        const cJSON *rid = cJSON_GetObjectItem(resp, "id");
        if (cJSON_GetObjectItem(resp, "method")) {
            if (rid) mcp_answer_server(m, resp);
            cJSON_Delete(resp);
            continue;
        }
        if (!cJSON_IsNumber(rid) || (long)rid->valuedouble != id) {
            cJSON_Delete(resp); /* a late answer to a cancelled request */
            continue;
        }
        const cJSON *e = cJSON_GetObjectItem(resp, "error");
        if (e) {
            snprintf(err, errlen, "MCP server '%s': %s failed: %s (code %d)", m->name, method,
                     agent_arg_str(e, "message", "no message"), (int)agent_arg_int(e, "code", 0));
            cJSON_Delete(resp);
            return -EPROTO;
        }
        cJSON *r = cJSON_DetachItemFromObject(resp, "result");
        cJSON_Delete(resp);
        if (!cJSON_IsObject(r)) {
            cJSON_Delete(r);
            snprintf(err, errlen, "MCP server '%s': %s answered without a result object", m->name,
                     method);
            return -EPROTO;
        }
        *result = r;
        return 0;
    }
}

void agent_mcp_free(agent_mcp *m)
{
    if (!m) return;
    if (m->fd >= 0) close(m->fd); /* the server sees EOF on stdin and should exit */
    if (m->pid > 0) {
        int st;
        int64_t until = (int64_t)swarm_clock_ms() + 1000;
        while (waitpid(m->pid, &st, WNOHANG) == 0) {
            if ((int64_t)swarm_clock_ms() > until) {
                kill(-m->pid, SIGKILL);
                waitpid(m->pid, &st, 0);
                break;
            }
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    cJSON_Delete(m->tools);
    free(m->rbuf);
    free(m->name);
    free(m);
}

pid_t agent_mcp_pid(const agent_mcp *m)
{
    return m->pid;
}

const cJSON *agent_mcp_tools(const agent_mcp *m)
{
    return m->tools;
}

int agent_mcp_start(const char *server_name, char *const argv[], double timeout_s,
                    const char *stderr_path, agent_mcp **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!server_name || !*server_name || strstr(server_name, "__") || !argv || !argv[0]) {
        snprintf(err, errlen, "MCP server needs a name (without \"__\") and a command");
        return -EINVAL;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        snprintf(err, errlen, "socketpair: %s", strerror(errno));
        return -errno;
    }
    agent_mcp *m = calloc(1, sizeof *m);
    if (!m || !(m->name = strdup(server_name))) {
        free(m);
        close(sv[0]);
        close(sv[1]);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    m->fd = sv[0];
    m->timeout_s = timeout_s > 0 ? timeout_s : 30;
    m->pid = fork();
    if (m->pid < 0) {
        int e = errno;
        close(sv[1]);
        agent_mcp_free(m);
        snprintf(err, errlen, "fork: %s", strerror(e));
        return -e;
    }
    if (m->pid == 0) {
        setpgid(0, 0);
        int efd =
            open(stderr_path ? stderr_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (dup2(sv[1], 0) < 0 || dup2(sv[1], 1) < 0 || (efd >= 0 && dup2(efd, 2) < 0)) _exit(126);
        syscall(SYS_close_range, 3, ~0U, 0);
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(sv[1]);
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "protocolVersion", MCP_PROTOCOL);
    cJSON_AddItemToObject(params, "capabilities", cJSON_CreateObject());
    cJSON *ci = cJSON_AddObjectToObject(params, "clientInfo");
    cJSON_AddStringToObject(ci, "name", "swarm");
    cJSON_AddStringToObject(ci, "version", "0.1");
    cJSON *result = NULL;
    int rc = mcp_request(m, "initialize", params, &result, err, errlen);
    if (!rc && !cJSON_IsObject(cJSON_GetObjectItem(result, "capabilities"))) {
        snprintf(err, errlen, "MCP server '%s': initialize result lacks capabilities", m->name);
        rc = -EPROTO;
    }
    cJSON_Delete(result);
    if (!rc) rc = mcp_notify(m, "notifications/initialized", NULL, err, errlen);
    m->tools = cJSON_CreateArray();
    char *cursor = NULL;
    while (!rc) {
        cJSON *lp = cJSON_CreateObject();
        if (cursor) cJSON_AddStringToObject(lp, "cursor", cursor);
        free(cursor);
        cursor = NULL;
        rc = mcp_request(m, "tools/list", lp, &result, err, errlen);
        if (rc) break;
        cJSON *tools = cJSON_GetObjectItem(result, "tools");
        cJSON *t;
        cJSON_ArrayForEach(t, tools)
        {
            if (cJSON_IsString(cJSON_GetObjectItem(t, "name")))
                cJSON_AddItemToArray(m->tools, cJSON_Duplicate(t, 1));
        }
        const char *next = agent_arg_str(result, "nextCursor", NULL);
        if (next && *next) cursor = strdup(next);
        cJSON_Delete(result);
        if (!cursor) break;
    }
    free(cursor);
    if (rc) {
        agent_mcp_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int agent_mcp_call(agent_mcp *m, const char *tool, const cJSON *args, char **text, int *is_error,
                   char *err, size_t errlen)
{
    *text = NULL;
    *is_error = 0;
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "name", tool);
    cJSON_AddItemToObject(params, "arguments",
                          args ? cJSON_Duplicate(args, 1) : cJSON_CreateObject());
    cJSON *result;
    int rc = mcp_request(m, "tools/call", params, &result, err, errlen);
    if (rc) return rc;
    agent_sbuf b;
    agent_sbuf_init(&b, (size_t)-1);
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(result, "content"))
    {
        const char *type = agent_arg_str(c, "type", "?");
        if (b.len) agent_sbuf_add(&b, "\n", 1);
        if (strcmp(type, "text") == 0)
            agent_sbuf_printf(&b, "%s", agent_arg_str(c, "text", ""));
        else
            agent_sbuf_printf(&b, "[%s content omitted]", type);
    }
    *is_error = cJSON_IsTrue(cJSON_GetObjectItem(result, "isError"));
    cJSON_Delete(result);
    *text = agent_sbuf_take(&b);
    if (!*text) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

static int mcp_tool_exec(const agent_tool *t, agent_env *env, const cJSON *args, agent_result *res)
{
    agent_mcp *m = t->udata;
    const char *remote = t->name + strlen(m->name) + 2;
    char err[512], *text;
    int is_error;
    int rc = agent_mcp_call(m, remote, args, &text, &is_error, err, sizeof err);
    if (rc) return agent_res_fail(res, rc, "%s: %s", t->name, err);
    agent_res_ok(res, text);
    if (is_error) res->status = -1;
    return res->status;
}

int agent_mcp_register(agent_mcp *m, agent_registry *r, char *err, size_t errlen)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, m->tools)
    {
        char name[96];
        int n = snprintf(name, sizeof name, "%s__%s", m->name, agent_arg_str(t, "name", ""));
        if (n < 0 || (size_t)n >= sizeof name) {
            snprintf(err, errlen, "MCP server '%s': tool name '%s' is too long", m->name,
                     agent_arg_str(t, "name", ""));
            return -ENAMETOOLONG;
        }
        const cJSON *schema = cJSON_GetObjectItem(t, "inputSchema");
        char *sj = cJSON_IsObject(schema) ? cJSON_PrintUnformatted(schema) : NULL;
        /* Without a read-only hint a tool is assumed to have side effects,
         * so a resumed agent does not repeat it. */
        const cJSON *ann = cJSON_GetObjectItem(t, "annotations");
        int side_effect = !cJSON_IsTrue(cJSON_GetObjectItem(ann, "readOnlyHint"));
        int rc = agent_registry_add(r, name, agent_arg_str(t, "description", ""), sj, mcp_tool_exec,
                                    m, side_effect, err, errlen);
        free(sj);
        if (rc) return rc;
    }
    return 0;
}
