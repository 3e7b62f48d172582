/* test_agent_mcp.c - the MCP client against the reference filesystem server
 * (@modelcontextprotocol/server-filesystem under node): handshake, tools/list,
 * tools/call through the registry and audit; a crashed server, a silent one
 * and one that cannot start are reported clearly.
 * Usage (via mcp_test.sh): test_agent_mcp <case> <server index.js>. */
#include "agent_test.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static test_dirs d;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static agent_mcp *start_fs(const char *entry)
{
    char err[512], log[400];
    snprintf(log, sizeof log, "%s/server.log", d.base);
    char *argv[] = {"node", (char *)entry, d.ws, NULL};
    agent_mcp *m = NULL;
    if (agent_mcp_start("fs", argv, 30, log, &m, err, sizeof err) != 0) {
        fprintf(stderr, "agent_mcp_start: %s\n", err);
        char *l = read_text(log);
        fprintf(stderr, "server log: %s\n", l ? l : "(none)");
        free(l);
    }
    return m;
}

static const cJSON *find_tool(const agent_mcp *m, const char *name)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, agent_mcp_tools(m))
    {
        const cJSON *n = cJSON_GetObjectItem(t, "name");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0) return t;
    }
    return NULL;
}

static void case_tools(const char *entry)
{
    char p[400], err[512];
    snprintf(p, sizeof p, "%s/hello.txt", d.ws);
    char content[128];
    snprintf(content, sizeof content, "written by the test at %lld\n", (long long)now_ms());
    test_file_write(p, content);

    agent_mcp *m = start_fs(entry);
    CHECK(m != NULL);
    if (!m) return;
    CHECK(agent_mcp_pid(m) > 0);
    CHECK(cJSON_GetArraySize(agent_mcp_tools(m)) >= 5);
    const char *reader = find_tool(m, "read_text_file") ? "read_text_file" : "read_file";
    CHECK(find_tool(m, reader) != NULL);
    CHECK(find_tool(m, "list_directory") != NULL);
    CHECK(find_tool(m, "write_file") != NULL);
    CHECK(cJSON_IsObject(cJSON_GetObjectItem(find_tool(m, "list_directory"), "inputSchema")));

    /* Directly: tools/call returns the file's text. */
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "path", p);
    char *text = NULL;
    int is_error = 1;
    CHECK(agent_mcp_call(m, reader, args, &text, &is_error, err, sizeof err) == 0);
    CHECK(!is_error);
    CHECK(text && strcmp(text, content) == 0);
    free(text);
    cJSON_Delete(args);

    /* Through the registry, beside the built-ins, prefixed by server name. */
    agent_registry *reg;
    agent_registry_new(&reg);
    CHECK(agent_registry_add_builtins(reg, err, sizeof err) == 0);
    CHECK(agent_mcp_register(m, reg, err, sizeof err) == 0);
    char fsname[128];
    snprintf(fsname, sizeof fsname, "fs__%s", reader);
    CHECK(agent_registry_find(reg, fsname) != NULL);
    CHECK(agent_registry_find(reg, "fs__list_directory") != NULL);
    char *tj = agent_registry_tools_json(reg);
    CHECK_CONTAINS(tj, "\"name\":\"fs__list_directory\"");
    free(tj);
    const char *allowed[] = {"read_file", "fs__*"};
    CHECK(agent_registry_filter(reg, allowed, 2, err, sizeof err) == 0);
    CHECK(agent_registry_find(reg, "grep") == NULL);
    CHECK(agent_registry_count(reg) == 1 + (size_t)cJSON_GetArraySize(agent_mcp_tools(m)));

    agent_ws *ws;
    CHECK(agent_ws_open(d.ws, &ws, err, sizeof err) == 0);
    agent_journal *j;
    agent_journal_new(&j);
    agent_env env = {.ws = ws, .journal = j, .task_id = "t1", .agent_id = "a1"};
    agent_result res;
    agent_audit a;
    char argbuf[600];
    snprintf(argbuf, sizeof argbuf, "{\"path\":\"%s\"}", p);
    CHECK(agent_registry_call(reg, &env, fsname, argbuf, 1, &res, &a) == 0);
    CHECK(res.observation && strcmp(res.observation, content) == 0);
    CHECK(strcmp(a.tool, fsname) == 0 && a.status == 0 && a.bytes_out == strlen(content));
    agent_result_free(&res);
    snprintf(argbuf, sizeof argbuf, "{\"path\":\"%s\"}", d.ws);
    CHECK(agent_registry_call(reg, &env, "fs__list_directory", argbuf, 2, &res, &a) == 0);
    CHECK_CONTAINS(res.observation, "hello.txt");
    agent_result_free(&res);
    /* The server's own refusal (outside its allowed directory) is a failed
     * call with the server's message as the observation. */
    snprintf(argbuf, sizeof argbuf, "{\"path\":\"%s/x\"}", d.outside);
    CHECK(agent_registry_call(reg, &env, fsname, argbuf, 3, &res, &a) < 0);
    CHECK(res.observation && strlen(res.observation) > 0);
    fprintf(stderr, "refusal observation: %s\n", res.observation);
    agent_result_free(&res);
    /* write_file has side effects: journaled and not replayed on resume. */
    char wpath[400];
    snprintf(wpath, sizeof wpath, "%s/from_mcp.txt", d.ws);
    snprintf(argbuf, sizeof argbuf, "{\"path\":\"%s\",\"content\":\"mcp wrote this\"}", wpath);
    CHECK(agent_registry_call(reg, &env, "fs__write_file", argbuf, 4, &res, &a) == 0);
    CHECK(!res.replayed);
    agent_result_free(&res);
    char *w = read_text(wpath);
    CHECK(w && strcmp(w, "mcp wrote this") == 0);
    free(w);
    unlink(wpath);
    CHECK(agent_registry_call(reg, &env, "fs__write_file", argbuf, 4, &res, &a) == 0);
    CHECK(res.replayed && a.replayed);
    agent_result_free(&res);
    CHECK(access(wpath, F_OK) != 0);

    agent_journal_free(j);
    agent_ws_free(ws);
    agent_registry_free(reg);
    agent_mcp_free(m);
}

static void case_errors(const char *entry)
{
    char err[512];
    /* A server killed mid-session: calls fail naming the server and signal. */
    agent_mcp *m = start_fs(entry);
    CHECK(m != NULL);
    if (m) {
        agent_registry *reg;
        agent_registry_new(&reg);
        CHECK(agent_mcp_register(m, reg, err, sizeof err) == 0);
        CHECK(kill(agent_mcp_pid(m), SIGKILL) == 0);
        agent_ws *ws;
        CHECK(agent_ws_open(d.ws, &ws, err, sizeof err) == 0);
        agent_env env = {.ws = ws};
        agent_result res;
        agent_audit a;
        char argbuf[400];
        snprintf(argbuf, sizeof argbuf, "{\"path\":\"%s\"}", d.ws);
        CHECK(agent_registry_call(reg, &env, "fs__list_directory", argbuf, 1, &res, &a) < 0);
        CHECK_CONTAINS(res.observation, "MCP server 'fs' died (signal 9)");
        agent_result_free(&res);
        CHECK(agent_registry_call(reg, &env, "fs__list_directory", argbuf, 2, &res, &a) < 0);
        CHECK_CONTAINS(res.observation, "MCP server 'fs'");
        agent_result_free(&res);
        agent_ws_free(ws);
        agent_registry_free(reg);
        agent_mcp_free(m);
    }
    /* A server that never answers: initialize times out. */
    char *silent[] = {"sleep", "30", NULL};
    int64_t t0 = now_ms();
    m = NULL;
    CHECK(agent_mcp_start("quiet", silent, 1, NULL, &m, err, sizeof err) < 0);
    CHECK(m == NULL);
    CHECK_CONTAINS(err, "MCP server 'quiet' did not answer within 1.0 s to initialize");
    CHECK(now_ms() - t0 < 5000);
    /* One that cannot start, and one that exits at once. */
    char *missing[] = {"/nonexistent/mcp-server", NULL};
    CHECK(agent_mcp_start("gone", missing, 5, NULL, &m, err, sizeof err) < 0);
    CHECK_CONTAINS(err, "MCP server 'gone' exited with status 127");
    char *quits[] = {"sh", "-c", "exit 3", NULL};
    CHECK(agent_mcp_start("quits", quits, 5, NULL, &m, err, sizeof err) < 0);
    CHECK_CONTAINS(err, "exited with status 3");
    char *bad[] = {"true", NULL};
    CHECK(agent_mcp_start("a__b", bad, 5, NULL, &m, err, sizeof err) < 0);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s tools|errors SERVER_INDEX_JS\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    test_dirs_make(&d);
    if (strcmp(argv[1], "tools") == 0)
        case_tools(argv[2]);
    else if (strcmp(argv[1], "errors") == 0)
        case_errors(argv[2]);
    else {
        fprintf(stderr, "unknown case %s\n", argv[1]);
        return 2;
    }
    test_dirs_remove(&d);
    if (!check_fail_count) printf("ok\n");
    return check_done();
}
