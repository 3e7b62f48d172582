/* planner.c - the built-in fan-out planner: job JSON -> one sub-task per item.
 *
 * Strict by design: an unknown key is an error naming it, and every error
 * names the field (budget.max_attempts, fanout.lines, ...) so a user can fix
 * the job file without reading code. Instructions that never mention {item}
 * are refused when there is more than one item (they would all be alike). Fan-out sources:
 *   items - a JSON array of strings;
 *   lines - each non-empty line of a text file;
 *   glob  - files matching a pattern ("**" spans directories) under a
 *           workspace dir, sorted by path; the task input is the path and the
 *           file's contents, capped at PLANNER_MAX_FILE_BYTES. */
#include "planner.h"
#include "swarm_utf8.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#define PLANNER_MAX_DEPTH 32

static char *pj_keep(planner_job *j, char *s)
{
    if (!s) return NULL;
    if (j->n_strings == j->cap_strings) {
        size_t cap = j->cap_strings ? j->cap_strings * 2 : 64;
        char **p = realloc(j->strings, sizeof *p * cap);
        if (!p) {
            free(s);
            return NULL;
        }
        j->strings = p;
        j->cap_strings = cap;
    }
    j->strings[j->n_strings++] = s;
    return s;
}

static char *pj_strdup(planner_job *j, const char *s)
{
    return pj_keep(j, strdup(s ? s : ""));
}

void planner_job_free(planner_job *j)
{
    if (!j) return;
    for (size_t i = 0; i < j->n_strings; i++)
        free(j->strings[i]);
    free(j->strings);
    free(j->spec.tasks);
    free(j);
}

char *planner_job_strdup(planner_job *j, const char *s)
{
    return pj_strdup(j, s);
}

static int pj_add_task(planner_job *j, const char *item, const char *input, size_t *cap)
{
    sched_job_spec *s = &j->spec;
    if (s->n_tasks == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        sched_task_spec *t = realloc(s->tasks, sizeof *t * c);
        if (!t) return -1;
        s->tasks = t;
        *cap = c;
    }
    sched_task_spec *t = &s->tasks[s->n_tasks];
    t->instructions = NULL; /* set once the job's instructions are kept */
    t->item = pj_strdup(j, item);
    t->input = input == item ? t->item : pj_strdup(j, input);
    if (!t->item || !t->input) return -1;
    s->n_tasks++;
    return 0;
}

/* Replace bytes that are not valid UTF-8 (strict: no overlong forms, no
 * surrogates) with '?': task inputs travel as protobuf strings and end up in
 * prompts. A NUL is replaced too, so the input stays one C string. */
static void utf8_sanitize(char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t len = s[i] ? swarm_utf8_seq_len((const unsigned char *)s + i, n - i) : 0;
        if (!len) {
            s[i] = '?';
            i++;
        } else {
            i += len;
        }
    }
}

static char *path_join(const char *base, const char *rel)
{
    size_t n = strlen(base) + strlen(rel) + 2;
    char *p = malloc(n);
    if (!p) return NULL;
    if (rel[0] == '/' || !base[0])
        snprintf(p, n, "%s", rel);
    else
        snprintf(p, n, "%s%s%s", base, base[strlen(base) - 1] == '/' ? "" : "/", rel);
    return p;
}

/* ---- glob: "**" matches any number of directories ---- */

static bool glob_match_segs(char **pat, size_t np, char **seg, size_t ns)
{
    if (np == 0) return ns == 0;
    if (strcmp(pat[0], "**") == 0) {
        for (size_t k = 0; k <= ns; k++)
            if (glob_match_segs(pat + 1, np - 1, seg + k, ns - k)) return true;
        return false;
    }
    if (ns == 0) return false;
    if (fnmatch(pat[0], seg[0], FNM_PERIOD) != 0) return false;
    return glob_match_segs(pat + 1, np - 1, seg + 1, ns - 1);
}

static size_t split_segs(char *s, char **out, size_t max)
{
    size_t n = 0;
    for (char *tok = strtok(s, "/"); tok && n < max; tok = strtok(NULL, "/"))
        out[n++] = tok;
    return n;
}

static bool glob_match(const char *pattern, const char *path)
{
    char pbuf[PATH_MAX], sbuf[PATH_MAX];
    char *pat[64], *seg[64];
    snprintf(pbuf, sizeof pbuf, "%s", pattern);
    snprintf(sbuf, sizeof sbuf, "%s", path);
    size_t np = split_segs(pbuf, pat, 64);
    size_t ns = split_segs(sbuf, seg, 64);
    return glob_match_segs(pat, np, seg, ns);
}

typedef struct pathlist {
    char **v;
    size_t n, cap;
    bool oom;
} pathlist;

static void pathlist_add(pathlist *l, const char *p)
{
    if (l->oom) return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **v = realloc(l->v, sizeof *v * cap);
        if (!v) {
            l->oom = true;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(p))) {
        l->oom = true;
        return;
    }
    l->n++;
}

static void pathlist_free(pathlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* Collect regular files under root/rel matching pattern; symlinked dirs are
 * not followed (no loops, no escaping the workspace). */
static void glob_walk(const char *root, const char *rel, const char *pattern, int depth,
                      pathlist *out, size_t limit)
{
    if (depth > PLANNER_MAX_DEPTH || out->n > limit || out->oom) return;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[PATH_MAX], full[PATH_MAX];
        if (snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >=
                (int)sizeof sub ||
            snprintf(full, sizeof full, "%s/%s", root, sub) >= (int)sizeof full)
            continue; /* path too long: not a file we can name */
        struct stat st;
        if (lstat(full, &st) != 0) continue;
        if (S_ISDIR(st.st_mode))
            glob_walk(root, sub, pattern, depth + 1, out, limit);
        else if (S_ISREG(st.st_mode) && glob_match(pattern, sub))
            pathlist_add(out, sub);
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "path: <rel>\n\n<contents>" with the contents capped and sanitized. */
static char *file_input(const char *root, const char *rel, char *err, size_t errlen)
{
    char full[PATH_MAX];
    snprintf(full, sizeof full, "%s/%s", root, rel);
    FILE *f = fopen(full, "rb");
    if (!f) {
        snprintf(err, errlen, "fanout.glob: %s: %s", full, strerror(errno));
        return NULL;
    }
    size_t head = strlen(rel) + 16;
    char *buf = malloc(head + PLANNER_MAX_FILE_BYTES + 64);
    if (!buf) {
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int h = snprintf(buf, head, "path: %s\n\n", rel);
    size_t n = fread(buf + h, 1, PLANNER_MAX_FILE_BYTES, f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    utf8_sanitize(buf + h, n);
    buf[h + n] = 0;
    if (more) strcat(buf + h + n, "\n[... truncated]");
    return buf;
}

/* ---- JSON field helpers ---- */

static int check_keys(const cJSON *obj, const char *where, const char *const *allowed, char *err,
                      size_t errlen)
{
    for (const cJSON *c = obj->child; c; c = c->next) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(c->string, *a) == 0;
        if (!ok) {
            snprintf(err, errlen, "%s%s%s: unknown key (allowed: ", where, where[0] ? "." : "",
                     c->string);
            for (const char *const *a = allowed; *a; a++) {
                size_t l = strlen(err);
                snprintf(err + l, errlen - l, "%s%s", *a, a[1] ? ", " : ")");
            }
            return -1;
        }
    }
    return 0;
}

static int get_string(const cJSON *obj, const char *key, const char *field, bool required,
                      const char **out, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        if (required) {
            snprintf(err, errlen, "%s: missing (a string is required)", field);
            return -1;
        }
        return 0;
    }
    if (!cJSON_IsString(v)) {
        snprintf(err, errlen, "%s: expected a string", field);
        return -1;
    }
    *out = v->valuestring;
    return 0;
}

static int get_uint(const cJSON *obj, const char *key, const char *field, uint64_t min,
                    uint64_t max, uint64_t *out, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(uint64_t)v->valuedouble ||
        v->valuedouble < (double)min || v->valuedouble > (double)max) {
        snprintf(err, errlen, "%s: expected an integer from %llu to %llu", field,
                 (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *out = (uint64_t)v->valuedouble;
    return 0;
}

/* The job's "agent" object (docs/AGENTS.md): checked here so a typo fails the
 * submit, then stored normalized (workspace made absolute) for the workers. */
static int plan_agent(const cJSON *a, const char *base_dir, planner_job *j, char *err,
                      size_t errlen)
{
    static const char *const keys[] = {
        "tools",         "workspace", "max_steps",  "max_tokens", "wall_time_s",       "sandbox",
        "run_timeout_s", "mcp",       "first_step", "system",     "observation_bytes", "git",
        "citations",     NULL};
    static const char *const mcp_keys[] = {"name", "command", "timeout_s", NULL};
    if (!cJSON_IsObject(a)) {
        snprintf(err, errlen, "agent: expected an object");
        return -1;
    }
    if (check_keys(a, "agent", keys, err, errlen)) return -1;
    uint64_t v;
    if (get_uint(a, "max_steps", "agent.max_steps", 1, 1000, &v, err, errlen) ||
        get_uint(a, "max_tokens", "agent.max_tokens", 1, 100000000, &v, err, errlen) ||
        get_uint(a, "wall_time_s", "agent.wall_time_s", 1, 30u * 24 * 3600, &v, err, errlen) ||
        get_uint(a, "run_timeout_s", "agent.run_timeout_s", 1, 24 * 3600, &v, err, errlen) ||
        get_uint(a, "observation_bytes", "agent.observation_bytes", 256, 1 << 20, &v, err, errlen))
        return -1;
    const char *ws = NULL, *sandbox = "bwrap", *first = "tool", *system = "";
    if (get_string(a, "workspace", "agent.workspace", true, &ws, err, errlen) ||
        get_string(a, "sandbox", "agent.sandbox", false, &sandbox, err, errlen) ||
        get_string(a, "first_step", "agent.first_step", false, &first, err, errlen) ||
        get_string(a, "system", "agent.system", false, &system, err, errlen))
        return -1;
    if (strcmp(sandbox, "bwrap") != 0 && strcmp(sandbox, "unsandboxed") != 0) {
        snprintf(err, errlen,
                 "agent.sandbox: \"%s\" is not a mode (use \"bwrap\" or \"unsandboxed\")", sandbox);
        return -1;
    }
    if (strcmp(first, "tool") != 0 && strcmp(first, "auto") != 0) {
        snprintf(err, errlen, "agent.first_step: use \"tool\" or \"auto\"");
        return -1;
    }
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(a, "tools");
    if (!cJSON_IsArray(tools) || cJSON_GetArraySize(tools) == 0) {
        snprintf(err, errlen, "agent.tools: expected a non-empty array of tool names");
        return -1;
    }
    int i = 0;
    for (const cJSON *t = tools->child; t; t = t->next, i++)
        if (!cJSON_IsString(t) || !t->valuestring[0]) {
            snprintf(err, errlen, "agent.tools[%d]: expected a tool name", i);
            return -1;
        }
    const cJSON *mcp = cJSON_GetObjectItemCaseSensitive(a, "mcp");
    if (mcp) {
        if (!cJSON_IsArray(mcp)) {
            snprintf(err, errlen, "agent.mcp: expected an array of servers");
            return -1;
        }
        i = 0;
        for (const cJSON *m = mcp->child; m; m = m->next, i++) {
            char where[32];
            snprintf(where, sizeof where, "agent.mcp[%d]", i);
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name");
            const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(m, "command");
            if (!cJSON_IsObject(m) || check_keys(m, where, mcp_keys, err, errlen)) {
                if (!cJSON_IsObject(m)) snprintf(err, errlen, "%s: expected an object", where);
                return -1;
            }
            if (!cJSON_IsString(name) || !name->valuestring[0] ||
                strspn(name->valuestring, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
                    strlen(name->valuestring)) {
                snprintf(err, errlen, "%s.name: expected a short name of a-z, 0-9 and -", where);
                return -1;
            }
            if (!cJSON_IsArray(cmd) || cJSON_GetArraySize(cmd) == 0 ||
                !cJSON_IsString(cmd->child)) {
                snprintf(err, errlen, "%s.command: expected [program, args...]", where);
                return -1;
            }
        }
    }
    char *joined = path_join(base_dir ? base_dir : "", ws);
    char real[PATH_MAX];
    struct stat st;
    if (!joined || !realpath(joined, real) || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "agent.workspace: %s is not a directory", joined ? joined : ws);
        free(joined);
        return -1;
    }
    free(joined);
    cJSON *norm = cJSON_Duplicate(a, 1);
    if (!norm) return -1;
    cJSON_ReplaceItemInObjectCaseSensitive(norm, "workspace", cJSON_CreateString(real));
    j->spec.agent_json = pj_keep(j, cJSON_PrintUnformatted(norm));
    cJSON_Delete(norm);
    if (!j->spec.agent_json) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int plan_fanout(const planner *self, const char *json, const char *base_dir,
                       planner_job **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!base_dir) base_dir = "";
    cJSON *root = cJSON_Parse(json ? json : "");
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        int off = at && json ? (int)(at - json) : 0;
        snprintf(err, errlen, "not valid JSON (near byte %d)", off);
        return -1;
    }
    planner_job *j = calloc(1, sizeof *j);
    pathlist files = {0};
    size_t cap = 0;
    if (!j) {
        cJSON_Delete(root);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sched_job_spec *s = &j->spec;
    const char *name = "job", *goal = NULL, *instructions = NULL, *merge = "concat";
    uint64_t max_tokens = 64, max_attempts = 3, max_subtasks = 1000, wall = 3600, seed = 0;
    double temperature = 0.0;
    static const char *const top[] = {"name",   "goal",     "instructions", "fanout", "merge",
                                      "budget", "sampling", "agent",        "tasks",  "plan",
                                      NULL};
    static const char *const fan_keys[] = {"items", "lines", "glob", "workspace", NULL};
    static const char *const budget_keys[] = {
        "max_tokens", "max_attempts", "max_subtasks", "wall_time_s", "max_depth", "tokens", NULL};
    uint64_t max_depth = 0, job_tokens = 0;
    static const char *const sampling_keys[] = {"temperature", "seed", NULL};
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "job: expected a JSON object");
        goto fail;
    }
    if (check_keys(root, "", top, err, errlen)) goto fail;
    /* explicit tasks or a model plan (planner_model.c) bring their own
     * instructions; the top-level ones are then an optional preamble */
    bool dag = cJSON_GetObjectItemCaseSensitive(root, "tasks") ||
               cJSON_GetObjectItemCaseSensitive(root, "plan");
    if (dag) instructions = "";
    if (get_string(root, "name", "name", false, &name, err, errlen) ||
        get_string(root, "goal", "goal", true, &goal, err, errlen) ||
        get_string(root, "instructions", "instructions", !dag, &instructions, err, errlen) ||
        get_string(root, "merge", "merge", false, &merge, err, errlen))
        goto fail;
    if (!goal[0]) {
        snprintf(err, errlen, "goal: must not be empty");
        goto fail;
    }
    if (!instructions[0] && !dag) {
        snprintf(err, errlen, "instructions: must not be empty");
        goto fail;
    }
    if (dag && strcmp(merge, "agent") == 0) {
        /* a reducer agent task writes the answer (planner_model.c) */
    } else if (strcmp(merge, "concat") != 0 && strcmp(merge, "json") != 0) {
        snprintf(err, errlen, "merge: \"%s\" is not a merge policy (use \"concat\" or \"json\")",
                 merge);
        goto fail;
    }
    const cJSON *budget = cJSON_GetObjectItemCaseSensitive(root, "budget");
    if (budget) {
        if (!cJSON_IsObject(budget)) {
            snprintf(err, errlen, "budget: expected an object");
            goto fail;
        }
        if (check_keys(budget, "budget", budget_keys, err, errlen) ||
            get_uint(budget, "max_tokens", "budget.max_tokens", 1, 1000000, &max_tokens, err,
                     errlen) ||
            get_uint(budget, "max_attempts", "budget.max_attempts", 1, 100, &max_attempts, err,
                     errlen) ||
            get_uint(budget, "max_subtasks", "budget.max_subtasks", 1, 1000000, &max_subtasks, err,
                     errlen) ||
            get_uint(budget, "wall_time_s", "budget.wall_time_s", 1, 30u * 24 * 3600, &wall, err,
                     errlen) ||
            get_uint(budget, "max_depth", "budget.max_depth", 1, 64, &max_depth, err, errlen) ||
            get_uint(budget, "tokens", "budget.tokens", 1, 1ull << 50, &job_tokens, err, errlen))
            goto fail;
    }
    const cJSON *sampling = cJSON_GetObjectItemCaseSensitive(root, "sampling");
    if (sampling) {
        if (!cJSON_IsObject(sampling)) {
            snprintf(err, errlen, "sampling: expected an object");
            goto fail;
        }
        if (check_keys(sampling, "sampling", sampling_keys, err, errlen) ||
            get_uint(sampling, "seed", "sampling.seed", 0, (1ull << 53), &seed, err, errlen))
            goto fail;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(sampling, "temperature");
        if (t) {
            if (!cJSON_IsNumber(t) || t->valuedouble < 0 || t->valuedouble > 10) {
                snprintf(err, errlen, "sampling.temperature: expected a number from 0 to 10");
                goto fail;
            }
            temperature = t->valuedouble;
        }
    }

    const cJSON *agent = cJSON_GetObjectItemCaseSensitive(root, "agent");
    if (agent && plan_agent(agent, base_dir, j, err, errlen)) goto fail;

    const cJSON *fan = cJSON_GetObjectItemCaseSensitive(root, "fanout");
    if (dag) {
        if (fan) {
            snprintf(err, errlen, "fanout: give either fanout or tasks/plan, not both");
            goto fail;
        }
        if (planner_dag_plan(j, root, instructions, max_subtasks, err, errlen)) goto fail;
        goto planned;
    }
    if (!fan) {
        snprintf(err, errlen, "fanout: missing (an object with items, lines or glob)");
        goto fail;
    }
    if (!cJSON_IsObject(fan)) {
        snprintf(err, errlen, "fanout: expected an object with items, lines or glob");
        goto fail;
    }
    if (check_keys(fan, "fanout", fan_keys, err, errlen)) goto fail;
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(fan, "items");
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive(fan, "lines");
    const cJSON *glob = cJSON_GetObjectItemCaseSensitive(fan, "glob");
    const cJSON *ws = cJSON_GetObjectItemCaseSensitive(fan, "workspace");
    if ((items != NULL) + (lines != NULL) + (glob != NULL) != 1) {
        snprintf(err, errlen, "fanout: give exactly one of items, lines or glob");
        goto fail;
    }
    if (ws && !glob) {
        snprintf(err, errlen, "fanout.workspace: only used with fanout.glob");
        goto fail;
    }
    if (items) {
        if (!cJSON_IsArray(items)) {
            snprintf(err, errlen, "fanout.items: expected an array of strings");
            goto fail;
        }
        int i = 0;
        for (const cJSON *it = items->child; it; it = it->next, i++) {
            if (!cJSON_IsString(it)) {
                snprintf(err, errlen, "fanout.items[%d]: expected a string", i);
                goto fail;
            }
            if ((uint64_t)i >= max_subtasks) break;
            if (pj_add_task(j, it->valuestring, it->valuestring, &cap)) goto oom;
        }
        if ((uint64_t)cJSON_GetArraySize(items) > max_subtasks) {
            snprintf(err, errlen, "fanout.items: %d items exceed budget.max_subtasks %llu",
                     cJSON_GetArraySize(items), (unsigned long long)max_subtasks);
            goto fail;
        }
    } else if (lines) {
        if (!cJSON_IsString(lines) || !lines->valuestring[0]) {
            snprintf(err, errlen, "fanout.lines: expected a file path");
            goto fail;
        }
        char *path = path_join(base_dir, lines->valuestring);
        struct stat lst;
        if (path && stat(path, &lst) == 0 && S_ISDIR(lst.st_mode)) {
            snprintf(err, errlen,
                     "fanout.lines: %s is a directory; give a text file (one item per line), "
                     "or use fanout.glob for the files in a directory",
                     path);
            free(path);
            goto fail;
        }
        FILE *f = path ? fopen(path, "r") : NULL;
        if (!f) {
            snprintf(err, errlen, "fanout.lines: %s: %s", path ? path : lines->valuestring,
                     strerror(errno));
            free(path);
            goto fail;
        }
        char *line = NULL;
        size_t lcap = 0;
        ssize_t n;
        size_t count = 0;
        while ((n = getline(&line, &lcap, f)) >= 0) {
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                             line[n - 1] == '\t'))
                line[--n] = 0;
            if (n == 0) continue;
            if (++count > max_subtasks) break;
            utf8_sanitize(line, (size_t)n);
            if (pj_add_task(j, line, line, &cap)) {
                free(line);
                fclose(f);
                free(path);
                goto oom;
            }
        }
        free(line);
        fclose(f);
        if (count > max_subtasks) {
            snprintf(err, errlen, "fanout.lines: %s has more than budget.max_subtasks %llu lines",
                     path, (unsigned long long)max_subtasks);
            free(path);
            goto fail;
        }
        free(path);
    } else {
        if (!cJSON_IsString(glob) || !glob->valuestring[0]) {
            snprintf(err, errlen, "fanout.glob: expected a pattern such as \"**/*.c\"");
            goto fail;
        }
        if (ws && (!cJSON_IsString(ws) || !ws->valuestring[0])) {
            snprintf(err, errlen, "fanout.workspace: expected a directory path");
            goto fail;
        }
        const char *wsrel = ws ? ws->valuestring : ".";
        char *wsdir = path_join(base_dir, wsrel);
        if (!wsdir) goto oom;
        size_t wl = strlen(wsdir);
        while (wl > 1 && wsdir[wl - 1] == '/')
            wsdir[--wl] = 0;
        struct stat st;
        if (stat(wsdir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "fanout.workspace: %s is not a directory", wsdir);
            free(wsdir);
            goto fail;
        }
        glob_walk(wsdir, "", glob->valuestring, 0, &files, (size_t)max_subtasks);
        if (files.oom) {
            free(wsdir);
            goto oom;
        }
        if (files.n == 0) {
            snprintf(err, errlen, "fanout.glob: no files match \"%s\" under %s", glob->valuestring,
                     wsrel);
            free(wsdir);
            goto fail;
        }
        if (files.n > max_subtasks) {
            snprintf(err, errlen,
                     "fanout.glob: more than budget.max_subtasks %llu files match "
                     "\"%s\" under %s",
                     (unsigned long long)max_subtasks, glob->valuestring, wsrel);
            free(wsdir);
            goto fail;
        }
        qsort(files.v, files.n, sizeof *files.v, cmp_str);
        for (size_t i = 0; i < files.n; i++) {
            char *input = file_input(wsdir, files.v[i], err, errlen);
            if (!input || !pj_keep(j, input)) {
                free(wsdir);
                goto fail;
            }
            if (pj_add_task(j, files.v[i], input, &cap)) {
                free(wsdir);
                goto oom;
            }
        }
        free(wsdir);
    }
    if (s->n_tasks == 0) {
        snprintf(err, errlen, "fanout: no items to fan out");
        goto fail;
    }
    /* {item} is the only way an item reaches its sub-task's prompt: without
     * it every sub-task would run the very same prompt */
    if (s->n_tasks > 1 && !strstr(instructions, "{item}")) {
        snprintf(err, errlen,
                 "instructions: never mention {item}, so all %zu sub-tasks would get the same "
                 "prompt; write {item} where each item (line, file) goes, e.g. \"Summarise: "
                 "{item}\"",
                 s->n_tasks);
        goto fail;
    }
planned:
    s->name = pj_strdup(j, name);
    s->goal = pj_strdup(j, goal);
    s->merge = pj_strdup(j, merge);
    const char *ins = pj_strdup(j, instructions);
    if (!s->name || !s->goal || !s->merge || !ins) goto oom;
    for (size_t i = 0; i < s->n_tasks; i++)
        if (!s->tasks[i].instructions) s->tasks[i].instructions = ins;
    s->max_depth = (uint32_t)max_depth;
    s->max_job_tokens = job_tokens;
    if (agent && planner_git_step(j, root, max_subtasks, err, errlen)) goto fail;
    s->max_tokens = (uint32_t)max_tokens;
    s->max_attempts = (uint32_t)max_attempts;
    s->max_subtasks = (uint32_t)max_subtasks;
    s->wall_time_s = (uint32_t)wall;
    s->temperature = temperature;
    s->seed = seed;
    pathlist_free(&files);
    cJSON_Delete(root);
    *out = j;
    return 0;
oom:
    snprintf(err, errlen, "out of memory planning the job");
fail:
    pathlist_free(&files);
    cJSON_Delete(root);
    planner_job_free(j);
    return -1;
}

static const planner planner_fanout_impl = {.name = "fanout", .plan = plan_fanout};

const planner *planner_fanout(void)
{
    return &planner_fanout_impl;
}

int planner_plan(const char *job_json, const char *base_dir, planner_job **out, char *err,
                 size_t errlen)
{
    const planner *p = planner_fanout();
    return p->plan(p, job_json, base_dir, out, err, errlen);
}
