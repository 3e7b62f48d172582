/* test_agent_tools.c - workspace confinement, the file tools, registry,
 * journal, audit and notes against real files in a temporary workspace.
 * Usage: test_agent_tools <case>; each case is its own ctest (agent.<case>). */
#include "agent_test.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>

typedef struct {
    test_dirs d;
    agent_ws *ws;
    agent_registry *reg;
    agent_env env;
    agent_sandbox_cfg sb;
    agent_notes notes;
    agent_journal *journal;
} fixture;

static void fx_open(fixture *f)
{
    char err[512];
    memset(f, 0, sizeof *f);
    test_dirs_make(&f->d);
    if (agent_ws_open(f->d.ws, &f->ws, err, sizeof err) != 0) {
        fprintf(stderr, "agent_ws_open: %s\n", err);
        exit(1);
    }
    agent_registry_new(&f->reg);
    if (agent_registry_add_builtins(f->reg, err, sizeof err) != 0) {
        fprintf(stderr, "builtins: %s\n", err);
        exit(1);
    }
    agent_sandbox_cfg_default(&f->sb);
    agent_notes_mem_new(&f->notes);
    agent_journal_new(&f->journal);
    f->env.ws = f->ws;
    f->env.sandbox = &f->sb;
    f->env.notes = &f->notes;
    f->env.journal = f->journal;
    f->env.job_id = "job-1";
    f->env.task_id = "task-7";
    f->env.agent_id = "agent-a";
}

static void fx_close(fixture *f)
{
    agent_journal_free(f->journal);
    agent_notes_mem_free(&f->notes);
    agent_registry_free(f->reg);
    agent_ws_free(f->ws);
    test_dirs_remove(&f->d);
}

/* Calls a tool; returns its status and leaves the observation in *obs. */
static int call(fixture *f, const char *tool, const char *args, uint32_t step, char **obs)
{
    agent_result res;
    agent_audit a;
    int rc = agent_registry_call(f->reg, &f->env, tool, args, step, &res, &a);
    *obs = res.observation;
    res.observation = NULL;
    agent_result_free(&res);
    return rc;
}

static void path_in(const fixture *f, const char *rel, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", f->d.ws, rel);
}

/* ------------------------------------------------------------- cases */

static void case_digest(void)
{
    char hex[65];
    agent_sha256_hex("", 0, hex);
    CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
    agent_sha256_hex("abc", 3, hex);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    agent_sha256_hex(two, strlen(two), hex);
    CHECK(strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0);
    char *million = malloc(1000000);
    memset(million, 'a', 1000000);
    agent_sha256_hex(million, 1000000, hex);
    CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
    free(million);
    /* Key order and whitespace do not change the canonical form. */
    cJSON *a = cJSON_Parse("{\"b\": [1, {\"y\":2,\"x\":\"s\\n\"}], \"a\": true}");
    cJSON *b = cJSON_Parse("{\"a\":true,\"b\":[1,{\"x\":\"s\\n\",\"y\":2}]}");
    char *ca = agent_json_canonical(a), *cb = agent_json_canonical(b);
    CHECK(ca && cb && strcmp(ca, cb) == 0);
    CHECK(ca && strcmp(ca, "{\"a\":true,\"b\":[1,{\"x\":\"s\\n\",\"y\":2}]}") == 0);
    free(ca);
    free(cb);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static void confinement_checks(fixture *f)
{
    char err[512], p[600], *obs;
    int fd;
    /* Lexical refusals name the path. */
    CHECK(agent_ws_openat(f->ws, "../outside/secret", O_RDONLY, 0, &fd, err, sizeof err) < 0);
    CHECK_CONTAINS(err, "'../outside/secret'");
    CHECK_CONTAINS(err, "'..' is refused");
    CHECK(agent_ws_openat(f->ws, "sub/../../outside/secret", O_RDONLY, 0, &fd, err, sizeof err) <
          0);
    CHECK_CONTAINS(err, "..");
    CHECK(agent_ws_openat(f->ws, "/etc/passwd", O_RDONLY, 0, &fd, err, sizeof err) < 0);
    CHECK_CONTAINS(err, "'/etc/passwd': absolute paths are refused");
    CHECK(agent_ws_openat(f->ws, "", O_RDONLY, 0, &fd, err, sizeof err) < 0);

    /* A symlink inside the workspace pointing outside: reading through it,
     * into it and writing through it are refused; the target is untouched. */
    CHECK(call(f, "read_file", "{\"path\":\"escape_file\"}", 1, &obs) < 0);
    CHECK_CONTAINS(obs, "'escape_file'");
    CHECK_CONTAINS(obs, "refused");
    free(obs);
    CHECK(call(f, "read_file", "{\"path\":\"escape_dir/secret\"}", 1, &obs) < 0);
    CHECK_CONTAINS(obs, "'escape_dir/secret'");
    free(obs);
    CHECK(call(f, "write_file", "{\"path\":\"escape_dir/new\",\"content\":\"x\"}", 1, &obs) < 0);
    CHECK_CONTAINS(obs, "escape_dir");
    free(obs);
    snprintf(p, sizeof p, "%s/new", f->d.outside);
    CHECK(access(p, F_OK) != 0);
    CHECK(call(f, "list_dir", "{\"path\":\"escape_dir\"}", 1, &obs) < 0);
    free(obs);
    CHECK(call(f, "read_file", "{\"path\":\"abs_link\"}", 1, &obs) < 0);
    CHECK_CONTAINS(obs, "abs_link");
    free(obs);
    CHECK(call(f, "edit_file",
               "{\"path\":\"escape_file\",\"old_string\":\"top\",\"new_string\":\"pwned\"}", 1,
               &obs) < 0);
    free(obs);
    snprintf(p, sizeof p, "%s/secret", f->d.outside);
    char *secret = read_text(p);
    CHECK(secret && strcmp(secret, "top secret\n") == 0);
    free(secret);
    /* write_file replaces a symlink at the final name instead of following it. */
    CHECK(call(f, "write_file", "{\"path\":\"escape_file\",\"content\":\"mine\"}", 2, &obs) == 0);
    free(obs);
    secret = read_text(p);
    CHECK(secret && strcmp(secret, "top secret\n") == 0);
    free(secret);
    path_in(f, "escape_file", p, sizeof p);
    struct stat st;
    CHECK(lstat(p, &st) == 0 && S_ISREG(st.st_mode));
    /* grep and glob walks do not descend through the symlinked directory. */
    CHECK(call(f, "grep", "{\"pattern\":\"secret\"}", 1, &obs) == 0);
    CHECK(obs && !strstr(obs, "top secret"));
    free(obs);
    CHECK(call(f, "glob", "{\"pattern\":\"**/secret\"}", 1, &obs) == 0);
    CHECK_CONTAINS(obs, "no paths match");
    free(obs);
}

static void case_confinement(void)
{
    for (int mode = 0; mode < 2; mode++) {
        fixture f;
        fx_open(&f);
        /* mode 1: the portable walk used where openat2 is missing */
        if (mode == 1) agent_ws_use_openat2(f.ws, 0);
        char p[600], t[600];
        snprintf(p, sizeof p, "%s/secret", f.d.outside);
        test_file_write(p, "top secret\n");
        path_in(&f, "escape_file", t, sizeof t);
        CHECK(symlink(p, t) == 0);
        path_in(&f, "escape_dir", t, sizeof t);
        CHECK(symlink("../outside", t) == 0);
        path_in(&f, "abs_link", t, sizeof t);
        CHECK(symlink("/etc/passwd", t) == 0);
        confinement_checks(&f);
        /* A symlink that stays inside is followed with openat2 and refused
         * (stricter) by the portable walk. */
        path_in(&f, "real.txt", p, sizeof p);
        test_file_write(p, "inside\n");
        path_in(&f, "alias", t, sizeof t);
        CHECK(symlink("real.txt", t) == 0);
        char *obs;
        int rc = call(&f, "read_file", "{\"path\":\"alias\"}", 1, &obs);
        if (mode == 0) {
            CHECK(rc == 0);
            CHECK_CONTAINS(obs, "inside");
        } else {
            CHECK(rc < 0);
            CHECK_CONTAINS(obs, "symlink");
        }
        free(obs);
        fx_close(&f);
    }
}

static void case_files(void)
{
    fixture f;
    fx_open(&f);
    char *obs, p[600];
    /* write_file creates parents; read_file numbers lines. */
    CHECK(call(&f, "write_file", "{\"path\":\"src/deep/a.c\",\"content\":\"one\\ntwo\\nthree\\n\"}",
               1, &obs) == 0);
    CHECK_CONTAINS(obs, "wrote 14 bytes to src/deep/a.c");
    free(obs);
    path_in(&f, "src/deep/a.c", p, sizeof p);
    char *text = read_text(p);
    CHECK(text && strcmp(text, "one\ntwo\nthree\n") == 0);
    free(text);
    CHECK(call(&f, "read_file", "{\"path\":\"src/deep/a.c\"}", 2, &obs) == 0);
    CHECK_CONTAINS(obs, "     1\tone\n     2\ttwo\n     3\tthree\n");
    free(obs);
    CHECK(call(&f, "read_file", "{\"path\":\"src/deep/a.c\",\"offset\":2,\"limit\":1}", 2, &obs) ==
          0);
    CHECK_CONTAINS(obs, "     2\ttwo\n");
    CHECK(obs && !strstr(obs, "three"));
    CHECK_CONTAINS(obs, "call again with offset=3");
    free(obs);
    CHECK(call(&f, "read_file", "{\"path\":\"missing.txt\"}", 2, &obs) < 0);
    CHECK_CONTAINS(obs, "'missing.txt': no such file");
    free(obs);
    CHECK(call(&f, "read_file", "{\"path\":\"src\"}", 2, &obs) < 0);
    CHECK_CONTAINS(obs, "is a directory");
    free(obs);
    /* Byte cap: a long file is cut at whole lines and says so. */
    {
        char *big = malloc(10000 * 21 + 64), *q = big;
        for (int i = 0; i < 10000; i++)
            q += sprintf(q, "line %05d of filler\n", i);
        path_in(&f, "big.txt", p, sizeof p);
        test_file_write(p, big);
        free(big);
        f.env.observation_cap = 4096;
        agent_result res;
        agent_audit a;
        CHECK(agent_registry_call(f.reg, &f.env, "read_file", "{\"path\":\"big.txt\"}", 3, &res,
                                  &a) == 0);
        CHECK(res.truncated);
        CHECK(strlen(res.observation) <= 4096);
        CHECK_CONTAINS(res.observation, "byte cap reached");
        CHECK_CONTAINS(res.observation, "of 10000 shown");
        agent_result_free(&res);
        f.env.observation_cap = 0;
    }
    CHECK(call(&f, "write_file", "{\"path\":\"src\",\"content\":\"x\"}", 2, &obs) < 0);
    CHECK_CONTAINS(obs, "'src': is a directory");
    free(obs);
    CHECK(call(&f, "write_file", "{\"path\":\"/tmp/x\",\"content\":\"x\"}", 2, &obs) < 0);
    CHECK_CONTAINS(obs, "'/tmp/x': absolute paths are refused");
    free(obs);
    CHECK(call(&f, "write_file", "{\"path\":\"empty.txt\",\"content\":\"\"}", 2, &obs) == 0);
    free(obs);
    CHECK(call(&f, "read_file", "{\"path\":\"empty.txt\"}", 2, &obs) == 0);
    CHECK_CONTAINS(obs, "[empty.txt is empty]");
    free(obs);
    path_in(&f, "empty.txt", p, sizeof p);
    unlink(p);
    /* Binary files are not dumped. */
    path_in(&f, "blob.bin", p, sizeof p);
    {
        FILE *b = fopen(p, "wb");
        fwrite("ab\0cd", 1, 5, b);
        fclose(b);
    }
    CHECK(call(&f, "read_file", "{\"path\":\"blob.bin\"}", 2, &obs) < 0);
    CHECK_CONTAINS(obs, "binary");
    free(obs);

    /* edit_file: exactly one match replaced; 0 and >1 refused clearly. */
    path_in(&f, "e.txt", p, sizeof p);
    test_file_write(p, "alpha beta\ngamma beta\ndelta\n");
    chmod(p, 0755);
    CHECK(call(&f, "edit_file", "{\"path\":\"e.txt\",\"old_string\":\"beta\",\"new_string\":\"B\"}",
               4, &obs) < 0);
    CHECK_CONTAINS(obs, "occurs 2 times in e.txt");
    free(obs);
    CHECK(call(&f, "edit_file", "{\"path\":\"e.txt\",\"old_string\":\"zeta\",\"new_string\":\"Z\"}",
               4, &obs) < 0);
    CHECK_CONTAINS(obs, "not found in e.txt");
    free(obs);
    CHECK(call(&f, "edit_file", "{\"path\":\"e.txt\",\"old_string\":\"\",\"new_string\":\"Z\"}", 4,
               &obs) < 0);
    CHECK_CONTAINS(obs, "empty");
    free(obs);
    text = read_text(p);
    CHECK(text && strcmp(text, "alpha beta\ngamma beta\ndelta\n") == 0);
    free(text);
    CHECK(call(&f, "edit_file",
               "{\"path\":\"e.txt\",\"old_string\":\"gamma beta\",\"new_string\":\"GAMMA\"}", 5,
               &obs) == 0);
    CHECK_CONTAINS(obs, "line 2");
    free(obs);
    text = read_text(p);
    CHECK(text && strcmp(text, "alpha beta\nGAMMA\ndelta\n") == 0);
    free(text);
    struct stat st;
    CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0755); /* mode kept */
    /* Overlapping occurrences count: "aa" in "aaa" is ambiguous. */
    path_in(&f, "o.txt", p, sizeof p);
    test_file_write(p, "aaa");
    CHECK(call(&f, "edit_file", "{\"path\":\"o.txt\",\"old_string\":\"aa\",\"new_string\":\"b\"}",
               6, &obs) < 0);
    CHECK_CONTAINS(obs, "occurs 2 times");
    free(obs);

    /* list_dir: sorted, directories and symlinks marked. */
    path_in(&f, "zlink", p, sizeof p);
    CHECK(symlink("e.txt", p) == 0);
    CHECK(call(&f, "list_dir", "{}", 7, &obs) == 0);
    CHECK_CONTAINS(obs, "big.txt\nblob.bin\ne.txt\no.txt\nsrc/\nzlink@\n");
    free(obs);
    CHECK(call(&f, "list_dir", "{\"path\":\"nope\"}", 7, &obs) < 0);
    CHECK_CONTAINS(obs, "'nope'");
    free(obs);
    CHECK(call(&f, "list_dir", "{\"path\":\"e.txt\"}", 7, &obs) < 0);
    free(obs);

    /* glob with ** and plain segments; hidden files need an explicit dot. */
    CHECK(call(&f, "write_file", "{\"path\":\"src/b.c\",\"content\":\"int x;\\n\"}", 8, &obs) == 0);
    free(obs);
    CHECK(call(&f, "write_file", "{\"path\":\"src/.hidden.c\",\"content\":\"\"}", 9, &obs) == 0);
    free(obs);
    CHECK(call(&f, "glob", "{\"pattern\":\"src/**/*.c\"}", 10, &obs) == 0);
    CHECK(obs && strcmp(obs, "src/b.c\nsrc/deep/a.c\n") == 0);
    free(obs);
    CHECK(call(&f, "glob", "{\"pattern\":\"*.txt\"}", 10, &obs) == 0);
    CHECK(obs && strcmp(obs, "big.txt\ne.txt\no.txt\n") == 0);
    free(obs);
    CHECK(call(&f, "glob", "{\"pattern\":\"../*\"}", 10, &obs) < 0);
    CHECK_CONTAINS(obs, "'..' is refused");
    free(obs);

    /* grep: file:line output, regex, case folding, glob filter, caps, errors. */
    CHECK(call(&f, "grep", "{\"pattern\":\"^GAMMA$\"}", 11, &obs) == 0);
    CHECK(obs && strcmp(obs, "e.txt:2:GAMMA\n") == 0);
    free(obs);
    CHECK(call(&f, "grep", "{\"pattern\":\"gamma\",\"ignore_case\":true,\"path\":\"e.txt\"}", 11,
               &obs) == 0);
    CHECK(obs && strcmp(obs, "e.txt:2:GAMMA\n") == 0);
    free(obs);
    CHECK(call(&f, "grep", "{\"pattern\":\"int \\\\w+;\",\"glob\":\"*.c\"}", 11, &obs) == 0);
    CHECK(obs && strcmp(obs, "src/b.c:1:int x;\n") == 0);
    free(obs);
    CHECK(call(&f, "grep", "{\"pattern\":\"filler\",\"max_matches\":3}", 11, &obs) == 0);
    CHECK_CONTAINS(obs, "big.txt:1:line 00000 of filler\nbig.txt:2:");
    CHECK_CONTAINS(obs, "stopped at 3 matches");
    free(obs);
    CHECK(call(&f, "grep", "{\"pattern\":\"(unclosed\"}", 11, &obs) < 0);
    CHECK_CONTAINS(obs, "bad regex");
    free(obs);
    CHECK(call(&f, "grep", "{\"pattern\":\"nothing-like-this\"}", 11, &obs) == 0);
    CHECK_CONTAINS(obs, "no matches");
    free(obs);
    fx_close(&f);
}

static void case_registry(void)
{
    fixture f;
    fx_open(&f);
    char *obs, err[512];
    const char *names[] = {"read_file", "write_file", "edit_file", "list_dir",   "glob",
                           "grep",      "run",        "note",      "read_notes", "spawn"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK(agent_registry_find(f.reg, names[i]) != NULL);
    /* Tool definitions for the chat template / grammar: valid JSON schemas. */
    char *tj = agent_registry_tools_json(f.reg);
    cJSON *arr = cJSON_Parse(tj);
    CHECK(cJSON_GetArraySize(arr) == 10);
    const cJSON *t;
    cJSON_ArrayForEach(t, arr)
    {
        const cJSON *params = cJSON_GetObjectItem(t, "parameters");
        CHECK(cJSON_IsObject(params));
        CHECK(strcmp(cJSON_GetObjectItem(params, "type")->valuestring, "object") == 0);
    }
    cJSON_Delete(arr);
    free(tj);
    /* Argument checks: missing, wrong type, unknown key, not an object. */
    CHECK(call(&f, "read_file", "{}", 1, &obs) < 0);
    CHECK_CONTAINS(obs, "missing required argument 'path'");
    free(obs);
    CHECK(call(&f, "read_file", "{\"path\":3}", 1, &obs) < 0);
    CHECK_CONTAINS(obs, "'path' must be of type string");
    free(obs);
    CHECK(call(&f, "read_file", "{\"path\":\"a\",\"bogus\":1}", 1, &obs) < 0);
    CHECK_CONTAINS(obs, "unknown argument 'bogus'");
    free(obs);
    CHECK(call(&f, "read_file", "[1]", 1, &obs) < 0);
    CHECK_CONTAINS(obs, "not a JSON object");
    free(obs);
    CHECK(call(&f, "no_such_tool", "{}", 1, &obs) < 0);
    CHECK_CONTAINS(obs, "unknown tool 'no_such_tool'; available: read_file");
    free(obs);
    /* A job's allowed list filters; a typo is an error. */
    const char *typo[] = {"read_file", "raed_file"};
    CHECK(agent_registry_filter(f.reg, typo, 2, err, sizeof err) < 0);
    CHECK_CONTAINS(err, "'raed_file'");
    CHECK(agent_registry_count(f.reg) == 10);
    const char *allowed[] = {"read_file", "grep", "read_*"};
    CHECK(agent_registry_filter(f.reg, allowed, 3, err, sizeof err) == 0);
    CHECK(agent_registry_count(f.reg) == 3);
    CHECK(agent_registry_find(f.reg, "read_notes") != NULL);
    CHECK(agent_registry_find(f.reg, "write_file") == NULL);
    CHECK(call(&f, "write_file", "{\"path\":\"x\",\"content\":\"y\"}", 1, &obs) < 0);
    CHECK_CONTAINS(obs, "unknown tool 'write_file'");
    free(obs);
    char p[600];
    path_in(&f, "x", p, sizeof p);
    CHECK(access(p, F_OK) != 0);
    fx_close(&f);
}

static int spawn_count;

static int fake_scheduler_spawn(void *ctx, const char *parent, const cJSON *args, char **child,
                                char *err, size_t errlen)
{
    int *budget = ctx;
    if (*budget <= 0) {
        snprintf(err, errlen, "job budget of sub-tasks exhausted");
        return -1;
    }
    (*budget)--;
    char id[64];
    snprintf(id, sizeof id, "%s.%d", parent, ++spawn_count);
    *child = strdup(id);
    return 0;
}

static void case_journal_audit(void)
{
    fixture f;
    fx_open(&f);
    char *obs, p[600], err[256];
    /* A side effect at step 3 is journaled; replaying step 3 with the same
     * arguments (keys in another order) returns the recorded observation
     * without touching the file again. */
    agent_result res;
    agent_audit a;
    CHECK(agent_registry_call(&*f.reg, &f.env, "write_file",
                              "{\"path\":\"j.txt\",\"content\":\"first\"}", 3, &res, &a) == 0);
    CHECK(!res.replayed);
    agent_result_free(&res);
    CHECK(strcmp(a.tool, "write_file") == 0 && a.step == 3 && a.status == 0);
    CHECK(strcmp(a.task_id, "task-7") == 0 && strcmp(a.agent_id, "agent-a") == 0);
    CHECK(a.bytes_in == strlen("{\"path\":\"j.txt\",\"content\":\"first\"}"));
    CHECK(a.bytes_out == strlen("wrote 5 bytes to j.txt"));
    char expect[65];
    const char *canon = "{\"content\":\"first\",\"path\":\"j.txt\"}";
    agent_sha256_hex(canon, strlen(canon), expect);
    CHECK(strcmp(a.args_sha256, expect) == 0);
    char *json = NULL;
    CHECK(agent_audit_to_json(&a, &json, err, sizeof err) == 0);
    cJSON *aj = cJSON_Parse(json);
    CHECK(aj && strcmp(cJSON_GetObjectItem(aj, "tool")->valuestring, "write_file") == 0);
    CHECK(aj && strcmp(cJSON_GetObjectItem(aj, "args_sha256")->valuestring, expect) == 0);
    CHECK(aj && cJSON_GetObjectItem(aj, "duration_ms") && cJSON_GetObjectItem(aj, "bytes_out"));
    CHECK(aj && cJSON_GetObjectItem(aj, "step")->valueint == 3);
    CHECK(aj && cJSON_IsFalse(cJSON_GetObjectItem(aj, "replayed")));
    cJSON_Delete(aj);
    free(json);

    path_in(&f, "j.txt", p, sizeof p);
    test_file_write(p, "changed by someone else");
    CHECK(agent_registry_call(f.reg, &f.env, "write_file",
                              "{\"content\":\"first\",\"path\":\"j.txt\"}", 3, &res, &a) == 0);
    CHECK(res.replayed && a.replayed);
    CHECK_CONTAINS(res.observation, "wrote 5 bytes to j.txt");
    agent_result_free(&res);
    char *text = read_text(p);
    CHECK(text && strcmp(text, "changed by someone else") == 0);
    free(text);
    /* A different step is a new action and runs. */
    CHECK(call(&f, "write_file", "{\"path\":\"j.txt\",\"content\":\"first\"}", 4, &obs) == 0);
    free(obs);
    text = read_text(p);
    CHECK(text && strcmp(text, "first") == 0);
    free(text);
    /* Read-only tools are not journaled. */
    CHECK(call(&f, "read_file", "{\"path\":\"j.txt\"}", 5, &obs) == 0);
    free(obs);
    /* The journal survives a checkpoint round trip (a resumed worker). */
    char *ckpt = agent_journal_to_json(f.journal);
    agent_journal *resumed;
    agent_journal_new(&resumed);
    CHECK(agent_journal_from_json(resumed, ckpt, err, sizeof err) == 0);
    cJSON *args = cJSON_Parse("{\"path\":\"j.txt\",\"content\":\"first\"}");
    char key[160];
    agent_journal_key(3, "write_file", args, key);
    const agent_journal_entry *e = agent_journal_find(resumed, key);
    CHECK(e && e->status == 0 && strstr(e->observation, "wrote 5 bytes"));
    agent_journal_key(5, "read_file", args, key);
    CHECK(agent_journal_find(resumed, key) == NULL);
    CHECK(agent_journal_from_json(resumed, "{\"not\":\"array\"}", err, sizeof err) < 0);
    cJSON_Delete(args);
    agent_journal_free(resumed);
    free(ckpt);

    /* Notes: job-wide memory shared by agents through the seam. */
    CHECK(call(&f, "note", "{\"text\":\"tests live in t/\",\"tag\":\"layout\"}", 6, &obs) == 0);
    free(obs);
    f.env.agent_id = "agent-b";
    CHECK(call(&f, "note", "{\"text\":\"parser is slow\"}", 1, &obs) == 0);
    free(obs);
    CHECK(call(&f, "read_notes", "{}", 2, &obs) == 0);
    CHECK(obs &&
          strcmp(obs, "[agent-a #layout] tests live in t/\n[agent-b] parser is slow\n") == 0);
    free(obs);
    CHECK(call(&f, "read_notes", "{\"tag\":\"layout\"}", 3, &obs) == 0);
    CHECK(obs && strcmp(obs, "[agent-a #layout] tests live in t/\n") == 0);
    free(obs);
    CHECK(call(&f, "note", "{\"text\":\"\"}", 4, &obs) < 0);
    free(obs);
    agent_notes *saved = f.env.notes;
    f.env.notes = NULL;
    CHECK(call(&f, "read_notes", "{}", 5, &obs) < 0);
    CHECK_CONTAINS(obs, "not available");
    free(obs);
    f.env.notes = saved;

    /* Spawn goes through the scheduler seam; its refusal reaches the model. */
    CHECK(call(&f, "spawn", "{\"instructions\":\"do x\"}", 7, &obs) < 0);
    CHECK_CONTAINS(obs, "may not spawn");
    free(obs);
    int budget = 1;
    agent_spawner sp = {&budget, fake_scheduler_spawn};
    f.env.spawner = &sp;
    CHECK(call(&f, "spawn", "{\"instructions\":\"do x\",\"tools\":[\"grep\"]}", 8, &obs) == 0);
    CHECK_CONTAINS(obs, "spawned sub-task task-7.1");
    free(obs);
    CHECK(call(&f, "spawn", "{\"instructions\":\"do y\"}", 9, &obs) < 0);
    CHECK_CONTAINS(obs, "budget of sub-tasks exhausted");
    free(obs);
    /* A resumed agent replaying step 8 does not spawn a second child. */
    CHECK(call(&f, "spawn", "{\"tools\":[\"grep\"],\"instructions\":\"do x\"}", 8, &obs) == 0);
    CHECK_CONTAINS(obs, "task-7.1");
    free(obs);
    CHECK(spawn_count == 1);
    fx_close(&f);
}

/* A concurrent process swaps a workspace directory for a symlink to the
 * outside over and over while reads go through it: resolution is atomic
 * (openat2) or symlink-free (walk), so no read ever returns outside data. */
static void case_race(void)
{
    for (int mode = 0; mode < 2; mode++) {
        fixture f;
        fx_open(&f);
        if (mode == 1) agent_ws_use_openat2(f.ws, 0);
        char p[700], real[600], link[600];
        snprintf(p, sizeof p, "%s/f", f.d.outside);
        test_file_write(p, "SECRET\n");
        path_in(&f, "real", real, sizeof real);
        path_in(&f, "d", link, sizeof link);
        mkdir(real, 0755);
        snprintf(p, sizeof p, "%s/f", real);
        test_file_write(p, "inside\n");
        char tmp[620];
        snprintf(tmp, sizeof tmp, "%s.tmp", link);
        pid_t pid = fork();
        if (pid == 0) {
            /* d is a symlink atomically retargeted between the real directory
             * (inside) and ../outside, the race a check-then-open would lose. */
            for (;;) {
                if (symlink("real", tmp) != 0 || rename(tmp, link) != 0) _exit(1);
                if (symlink("../outside", tmp) != 0 || rename(tmp, link) != 0) _exit(1);
            }
        }
        int inside = 0, leaked = 0;
        for (int i = 0; i < 3000; i++) {
            char *obs;
            int rc = call(&f, "read_file", "{\"path\":\"d/f\"}", 1, &obs);
            if (obs && strstr(obs, "SECRET")) leaked++;
            if (rc == 0 && obs && strstr(obs, "inside")) inside++;
            free(obs);
        }
        int st = 0;
        CHECK(waitpid(pid, &st, WNOHANG) == 0); /* the swapper kept running */
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fprintf(stderr, "mode %d: %d of 3000 reads saw the real directory, %d leaked\n", mode,
                inside, leaked);
        CHECK(leaked == 0);
        /* The walk refuses every symlink, so it never reads through d. How
         * many openat2 reads land inside depends on scheduling (a busy
         * renamer makes the kernel answer EAGAIN), so it is printed, not
         * asserted; with the link at rest the two resolvers must differ. */
        if (mode == 1) CHECK(inside == 0);
        unlink(link);
        CHECK(symlink("real", link) == 0);
        char *obs = NULL;
        int rc = call(&f, "read_file", "{\"path\":\"d/f\"}", 1, &obs);
        CHECK(mode == 0 ? (rc == 0 && obs && strstr(obs, "inside")) : rc < 0);
        free(obs);
        fx_close(&f);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s digest|confinement|race|files|registry|journal_audit\n",
                argv[0]);
        return 2;
    }
    const char *c = argv[1];
    if (strcmp(c, "digest") == 0)
        case_digest();
    else if (strcmp(c, "confinement") == 0)
        case_confinement();
    else if (strcmp(c, "files") == 0)
        case_files();
    else if (strcmp(c, "registry") == 0)
        case_registry();
    else if (strcmp(c, "race") == 0)
        case_race();
    else if (strcmp(c, "journal_audit") == 0)
        case_journal_audit();
    else {
        fprintf(stderr, "unknown case %s\n", c);
        return 2;
    }
    if (check_fail_count) {
        fprintf(stderr, "%d check(s) failed\n", check_fail_count);
        return 1;
    }
    printf("ok\n");
    return 0;
}
