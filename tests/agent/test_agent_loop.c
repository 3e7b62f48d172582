/* test_agent_loop.c - the agent loop (worker/agent/loop.c) on its own.
 *
 *   budgets     scripted model: the last step allowed must answer (tool_choice
 *               none), the token and wall budgets stop it with their names
 *   observe     observations capped in the conversation, failures marked
 *   compact     a small context: old observations shrink, old turns go, and
 *               a backend that reports a full context gets a smaller one
 *   pause       a paused backend is waited out (Retry-After honoured), then
 *               the step runs; a cancel during the pause stops it
 *   resume      stop after step 2, resume from the checkpoint: steps 3.. only,
 *               and a side effect of a re-run step is answered by the journal
 *   fixture     the embedded engine on each fixture model (SWARM_FIXTURES):
 *               every reply parses into a listed tool with a JSON object of
 *               arguments, or a final answer */
#include "agent_test.h"

#include <time.h>

#include "backend.h"
#include "loop.h"

/* ---- a scripted model ---- */

typedef struct {
    int n_calls;
    rt_tool_choice choices[32];
    size_t n_msgs[32], chars[32];
    int pauses;       /* answer PAUSED this many times first */
    int ctx_full;     /* answer CTX_FULL while the conversation is longer than this */
    const char *tool; /* the tool to call */
    const char *args; /* its arguments */
    uint32_t tokens;  /* per reply */
} script;

static size_t req_chars(const agent_model_req *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_msgs; i++)
        n += r->msgs[i].content ? strlen(r->msgs[i].content) : 0;
    return n;
}

static int script_complete(void *ctx, const agent_model_req *req, agent_reply *out,
                           uint64_t *retry_after_ms, char *err, size_t errlen)
{
    script *s = ctx;
    if (s->pauses > 0) {
        s->pauses--;
        *retry_after_ms = 20;
        snprintf(err, errlen, "HTTP 429 (rate limited): slow down");
        return AGENT_MODEL_PAUSED;
    }
    if (s->ctx_full && req_chars(req) > (size_t)s->ctx_full) {
        snprintf(err, errlen, "does not fit");
        return AGENT_MODEL_CTX_FULL;
    }
    int k = s->n_calls++;
    if (k < 32) {
        s->choices[k] = req->choice;
        s->n_msgs[k] = req->n_msgs;
        s->chars[k] = req_chars(req);
    }
    out->tokens = s->tokens ? s->tokens : 10;
    if (req->choice == RT_TOOL_CHOICE_NONE) {
        out->content = strdup("final answer");
        return 0;
    }
    out->content = strdup("");
    out->calls = calloc(1, sizeof *out->calls);
    out->n_calls = 1;
    char id[32];
    snprintf(id, sizeof id, "c%u", req->step);
    out->calls[0].id = strdup(id);
    out->calls[0].name = strdup(s->tool);
    out->calls[0].arguments = strdup(s->args);
    return 0;
}

typedef struct {
    int steps, pauses, stop_after, cancel_in_pause;
    char ckpt[1 << 16];
    char last_record[1 << 14];
} hooks_state;

static int on_step(void *ud, uint32_t step, const char *tool, uint64_t tokens, const char *record,
                   const char *checkpoint)
{
    hooks_state *h = ud;
    (void)tool;
    (void)tokens;
    h->steps++;
    snprintf(h->ckpt, sizeof h->ckpt, "%s", checkpoint);
    snprintf(h->last_record, sizeof h->last_record, "%s", record);
    return h->stop_after && (int)step >= h->stop_after;
}

static char g_mid[1 << 16];

static void on_journal(void *ud, const char *checkpoint)
{
    (void)ud;
    snprintf(g_mid, sizeof g_mid, "%s", checkpoint);
}

static int on_pause(void *ud, const char *reason, uint64_t retry_ms)
{
    hooks_state *h = ud;
    h->pauses++;
    CHECK_CONTAINS(reason, "429");
    CHECK(retry_ms == 20);
    return h->cancel_in_pause;
}

typedef struct {
    test_dirs d;
    agent_ws *ws;
    agent_registry *reg;
    agent_journal *j;
    agent_sandbox_cfg sb;
    agent_env env;
} fixture;

static void fx_open(fixture *f, const char *const *tools, size_t n)
{
    char err[512];
    memset(f, 0, sizeof *f);
    test_dirs_make(&f->d);
    CHECK(agent_ws_open(f->d.ws, &f->ws, err, sizeof err) == 0);
    CHECK(agent_registry_new(&f->reg) == 0);
    CHECK(agent_registry_add_builtins(f->reg, err, sizeof err) == 0);
    CHECK(agent_registry_filter(f->reg, tools, n, err, sizeof err) == 0);
    CHECK(agent_journal_new(&f->j) == 0);
    agent_sandbox_cfg_default(&f->sb);
    f->sb.allow_unsandboxed = f->sb.force_unsandboxed = 1;
    f->env = (agent_env){.ws = f->ws,
                         .sandbox = &f->sb,
                         .journal = f->j,
                         .job_id = "j",
                         .task_id = "t0000",
                         .agent_id = "t0000"};
}

static void fx_close(fixture *f)
{
    agent_journal_free(f->j);
    agent_registry_free(f->reg);
    agent_ws_free(f->ws);
    test_dirs_remove(&f->d);
}

static agent_loop_cfg cfg_make(fixture *f, script *s, hooks_state *h)
{
    return (agent_loop_cfg){.system_prompt = "sys",
                            .task = "task",
                            .task_id = "t0000",
                            .registry = f->reg,
                            .env = &f->env,
                            .model = {.ctx = s, .complete = script_complete},
                            .hooks = {.ud = h, .on_step = on_step, .on_pause = on_pause}};
}

static void t_budgets(void)
{
    const char *tools[] = {"list_dir"};
    fixture f;
    fx_open(&f, tools, 1);
    script s = {.tool = "list_dir", .args = "{\"path\":\".\"}"};
    hooks_state h = {0};
    agent_loop_cfg c = cfg_make(&f, &s, &h);
    c.budget.max_steps = 4;
    c.budget.first_step_tool = 1;
    agent_loop_result r;
    char err[512] = "";
    CHECK(agent_loop_run(&c, &r, err, sizeof err) == 0);
    CHECK(r.steps == 4 && r.tool_calls == 3 && h.steps == 4);
    CHECK(s.choices[0] == RT_TOOL_CHOICE_REQUIRED);
    CHECK(s.choices[1] == RT_TOOL_CHOICE_AUTO);
    CHECK(s.choices[3] == RT_TOOL_CHOICE_NONE); /* the last step answers */
    CHECK(r.answer && strcmp(r.answer, "final answer") == 0);
    CHECK(r.tokens == 40);
    agent_loop_result_free(&r);

    /* tokens: 25 buy two replies of 10 and a last one of 5 that must answer */
    memset(&s, 0, sizeof s);
    s.tool = "list_dir";
    s.args = "{\"path\":\".\"}";
    c.budget = (agent_budget){.max_steps = 50, .max_tokens = 25, .step_tokens = 10};
    CHECK(agent_loop_run(&c, &r, err, sizeof err) == 0);
    CHECK(r.steps == 3 && s.choices[2] == RT_TOOL_CHOICE_NONE);
    agent_loop_result_free(&r);

    /* wall time counted from the first start: an old start is already over */
    c.budget = (agent_budget){.max_steps = 50, .wall_ms = 1000};
    c.now_ms = 1; /* started in 1970 */
    CHECK(agent_loop_run(&c, &r, err, sizeof err) < 0);
    CHECK_CONTAINS(err, "wall time budget");
    agent_loop_result_free(&r);
    fx_close(&f);
}

static void t_observe(void)
{
    const char *tools[] = {"read_file"};
    fixture f;
    fx_open(&f, tools, 1);
    char path[400], big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    snprintf(path, sizeof path, "%s/big.txt", f.d.ws);
    FILE *fp = fopen(path, "w");
    fputs(big, fp);
    fclose(fp);
    script s = {.tool = "read_file", .args = "{\"path\":\"big.txt\"}"};
    hooks_state h = {0};
    agent_loop_cfg c = cfg_make(&f, &s, &h);
    c.budget = (agent_budget){.max_steps = 2, .observation_bytes = 300};
    agent_loop_result r;
    char err[512] = "";
    CHECK(agent_loop_run(&c, &r, err, sizeof err) == 0);
    CHECK_CONTAINS(h.ckpt, "[truncated: 300 of");
    CHECK(s.chars[1] < 1000); /* the model saw the capped observation */
    agent_loop_result_free(&r);
    /* a failing call is marked as such for the model */
    s = (script){.tool = "read_file", .args = "{\"path\":\"../etc/passwd\"}"};
    CHECK(agent_loop_run(&c, &r, err, sizeof err) == 0);
    CHECK_CONTAINS(h.ckpt, "\"content\":\"error: ");
    agent_loop_result_free(&r);
    fx_close(&f);
}

static void t_compact(void)
{
    const char *tools[] = {"read_file"};
    fixture f;
    fx_open(&f, tools, 1);
    char path[400], big[1500];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = 0;
    snprintf(path, sizeof path, "%s/b.txt", f.d.ws);
    FILE *fp = fopen(path, "w");
    fputs(big, fp);
    fclose(fp);
    script s = {.tool = "read_file", .args = "{\"path\":\"b.txt\"}"};
    hooks_state h = {0};
    agent_loop_cfg c = cfg_make(&f, &s, &h);
    c.budget = (agent_budget){.max_steps = 12, .observation_bytes = 2000};
    c.model.ctx_chars = 6000;
    agent_loop_result r;
    char err[512] = "";
    CHECK(agent_loop_run(&c, &r, err, sizeof err) == 0);
    CHECK(r.steps == 12);
    for (int i = 0; i < 12; i++)
        CHECK(s.chars[i] <= 6000 + 1600); /* never far past the limit */
    CHECK_CONTAINS(h.ckpt, "[observation compacted");
    agent_loop_result_free(&r);
    /* a backend that still finds it too long gets it compacted harder */
    s = (script){.tool = "read_file", .args = "{\"path\":\"b.txt\"}", .ctx_full = 3500};
    CHECK(agent_loop_run(&c, &r, err, sizeof err) == 0);
    CHECK(r.steps == 12);
    agent_loop_result_free(&r);
    fx_close(&f);
}

static void t_pause(void)
{
    const char *tools[] = {"list_dir"};
    fixture f;
    fx_open(&f, tools, 1);
    script s = {.tool = "list_dir", .args = "{\"path\":\".\"}", .pauses = 2};
    hooks_state h = {0};
    agent_loop_cfg c = cfg_make(&f, &s, &h);
    c.budget.max_steps = 2;
    agent_loop_result r;
    char err[512] = "";
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(agent_loop_run(&c, &r, err, sizeof err) == 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(h.pauses == 2 && r.steps == 2);
    CHECK(ms >= 40); /* Retry-After 20 ms, twice */
    agent_loop_result_free(&r);
    s.pauses = 1;
    h = (hooks_state){.cancel_in_pause = 1};
    CHECK(agent_loop_run(&c, &r, err, sizeof err) == 1);
    CHECK(r.stopped && r.steps == 0);
    agent_loop_result_free(&r);
    fx_close(&f);
}

static void t_resume(void)
{
    const char *tools[] = {"run"};
    fixture f;
    fx_open(&f, tools, 1);
    script s = {.tool = "run", .args = "{\"command\":\"echo x >> log.txt\"}"};
    hooks_state h = {.stop_after = 2};
    agent_loop_cfg c = cfg_make(&f, &s, &h);
    c.budget.max_steps = 5;
    agent_loop_result r;
    char err[512] = "";
    CHECK(agent_loop_run(&c, &r, err, sizeof err) == 1);
    CHECK(r.steps == 2 && r.tool_calls == 2);
    agent_loop_result_free(&r);
    char *ck = strdup(h.ckpt);

    /* resumed: steps 3..5 only, counters carried over */
    agent_journal_free(f.j);
    agent_journal_new(&f.j);
    f.env.journal = f.j;
    h = (hooks_state){0};
    s.n_calls = 0;
    c.checkpoint = ck;
    CHECK(agent_loop_run(&c, &r, err, sizeof err) == 0);
    CHECK(r.resumed_from == 2 && r.steps == 5 && r.tool_calls == 4 && h.steps == 3);
    CHECK(s.n_calls == 3);
    CHECK(s.n_msgs[0] == 6); /* system, user, 2 x (call + result) */
    agent_loop_result_free(&r);
    char *log = NULL;
    size_t len = 0;
    CHECK(agent_ws_read_all(f.ws, "log.txt", 4096, &log, &len, err, sizeof err) == 0);
    CHECK(log && len == 8); /* 4 runs: x\n x4 */
    free(log);

    CHECK_CONTAINS(ck, "\"journal\":[{");
    free(ck);

    /* a worker lost after a side effect ran but before its step ended: the
     * mid-step checkpoint (on_journal) resumes at that same step, and the
     * journal answers the repeated call instead of running it again */
    agent_ws_write_atomic(f.ws, "log.txt", "", 0, 0, err, sizeof err);
    agent_journal_free(f.j);
    agent_journal_new(&f.j);
    f.env.journal = f.j;
    h = (hooks_state){.stop_after = 1};
    s.n_calls = 0;
    c.checkpoint = NULL;
    c.hooks.on_journal = on_journal;
    CHECK(agent_loop_run(&c, &r, err, sizeof err) == 1);
    agent_loop_result_free(&r);
    CHECK(g_mid[0] != 0);
    CHECK_CONTAINS(g_mid, "\"step\":0");
    agent_journal_free(f.j);
    agent_journal_new(&f.j);
    f.env.journal = f.j;
    h = (hooks_state){.stop_after = 1};
    c.checkpoint = g_mid;
    CHECK(agent_loop_run(&c, &r, err, sizeof err) == 1);
    CHECK(r.resumed_from == 0 && r.steps == 1);
    CHECK_CONTAINS(h.last_record, "\"replayed\":true");
    agent_loop_result_free(&r);
    CHECK(agent_ws_read_all(f.ws, "log.txt", 4096, &log, &len, err, sizeof err) == 0);
    CHECK(log && len == 2); /* ran once, not twice */
    free(log);
    fx_close(&f);
}

static int fixture_ls(const agent_tool *tool, agent_env *env, const cJSON *args, agent_result *res)
{
    (void)tool;
    (void)env;
    (void)args;
    res->observation = strdup("a.txt");
    res->status = 0;
    return 0;
}

/* The fixture models hold 512 positions: enough for one step with a tool,
 * so each tool choice is asked once on a fresh conversation here (the whole
 * loop on the embedded engine runs in agent.loop_embedded, on mkmodel tiny). */
static void t_fixture(void)
{
    const char *fx = getenv("SWARM_FIXTURES");
    if (!fx || !*fx) {
        fprintf(stderr, "SWARM_FIXTURES not set\n");
        check_fail_count++;
        return;
    }
    const char *archs[] = {"qwen3moe", "mixtral", "deepseek2"};
    for (size_t a = 0; a < 3; a++) {
        char model[600], err[1024] = "";
        snprintf(model, sizeof model, "%s/models/%s/%s-q8_0.gguf", fx, archs[a], archs[a]);
        wb_backend *b = NULL;
        wb_slot *slot = NULL;
        if (wb_backend_open("embedded", model, 1, &b, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", model, err);
            check_fail_count++;
            continue;
        }
        CHECK(wb_backend_has_chat(b));
        CHECK(wb_slot_new(b, &slot, err, sizeof err) == 0);
        /* one tool with a short description: the rendered conversation
         * must leave room to generate in the fixtures' 512 positions */
        const char *tools[] = {"list_dir"};
        fixture f;
        fx_open(&f, tools, 1);
        agent_registry_free(f.reg);
        CHECK(agent_registry_new(&f.reg) == 0);
        CHECK(agent_registry_add(f.reg, "ls", "List files.",
                                 "{\"type\":\"object\",\"properties\":{\"dir\":{\"type\":"
                                 "\"string\"}},\"required\":[\"dir\"]}",
                                 fixture_ls, NULL, 0, err, sizeof err) == 0);
        const agent_tool *t = agent_registry_at(f.reg, 0);
        char *params = cJSON_PrintUnformatted(t->schema);
        rt_tool_def def = {.name = t->name, .description = t->description, .parameters = params};
        rt_chat_msg msgs[2] = {{.role = "system", .content = "Use tools."},
                               {.role = "user", .content = "List."}};
        rt_tool_choice choices[] = {RT_TOOL_CHOICE_REQUIRED, RT_TOOL_CHOICE_AUTO,
                                    RT_TOOL_CHOICE_NONE};
        int calls = 0;
        for (int seed = 1; seed <= 2; seed++)
            for (size_t k = 0; k < 3; k++) {
                agent_model_req req = {.msgs = msgs,
                                       .n_msgs = 2,
                                       .tools = &def,
                                       .n_tools = 1,
                                       .choice = choices[k],
                                       .max_tokens = 24,
                                       .step = 1,
                                       .task_id = "t0000"};
                agent_reply rep = {0};
                uint64_t ra = 0;
                int rc = wb_slot_chat(slot, &req, 0.8f, (uint64_t)seed, &rep, &ra, err, sizeof err);
                if (rc != 0) fprintf(stderr, "%s choice %d: %s\n", archs[a], (int)k, err);
                CHECK(rc == 0);
                if (choices[k] == RT_TOOL_CHOICE_REQUIRED) CHECK(rep.n_calls >= 1);
                if (choices[k] == RT_TOOL_CHOICE_NONE) CHECK(rep.n_calls == 0 && rep.content);
                for (size_t i = 0; i < rep.n_calls; i++) {
                    calls++;
                    CHECK(strcmp(rep.calls[i].name, "ls") == 0);
                    /* the registry's own schema check accepts what was generated */
                    agent_result res;
                    agent_audit au;
                    agent_registry_call(f.reg, &f.env, rep.calls[i].name, rep.calls[i].arguments, 1,
                                        &res, &au);
                    CHECK(res.status != -EINVAL && res.status != -ENOENT);
                    if (res.status == -EINVAL || res.status == -ENOENT)
                        fprintf(stderr, "%s: %s(%s): %s\n", archs[a], rep.calls[i].name,
                                rep.calls[i].arguments, res.observation);
                    agent_result_free(&res);
                }
                agent_reply_free(&rep);
            }
        fprintf(stderr, "%s: %d tool calls parsed and accepted\n", archs[a], calls);
        CHECK(calls >= 2);
        free(params);
        fx_close(&f);
        wb_slot_free(slot);
        wb_backend_free(b);
    }
}

int main(int argc, char **argv)
{
    const char *c = argc > 1 ? argv[1] : "";
    if (!strcmp(c, "budgets"))
        t_budgets();
    else if (!strcmp(c, "observe"))
        t_observe();
    else if (!strcmp(c, "compact"))
        t_compact();
    else if (!strcmp(c, "pause"))
        t_pause();
    else if (!strcmp(c, "resume"))
        t_resume();
    else if (!strcmp(c, "fixture"))
        t_fixture();
    else {
        fprintf(stderr, "usage: test_agent_loop budgets|observe|compact|pause|resume|fixture\n");
        return 2;
    }
    if (check_fail_count) fprintf(stderr, "%d check(s) failed\n", check_fail_count);
    return check_fail_count ? 1 : 0;
}
