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
 *           file's contents, capped at PLANNER_MAX_FILE_BYTES.
 * A fan-out is lazy: planning (plan_fanout, in named steps: parse, header,
 * source, the {item} rule, finish) checks everything and counts the tasks;
 * the tasks themselves are made a chunk at a time (planner_job_next), so the
 * items, lines or files are read while swarmd writes the previous chunk to
 * Redis and none of it is held whole. Planning does blocking file I/O and is
 * thread-safe per job (no strtok, no cJSON_GetErrorPtr): swarmd runs it on
 * libuv's thread pool, off the event loop. */
#include "planner.h"
#include "swarm_utf8.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#define PLANNER_MAX_DEPTH 32

/* The fan-out being read, a chunk at a time. */
typedef enum { SRC_ITEMS, SRC_LINES, SRC_GLOB, SRC_STREAMED } src_kind;

typedef struct pathlist {
    char **v;
    size_t n, cap;
    bool oom;
} pathlist;

struct planner_source {
    src_kind kind;
    cJSON *root;       /* items: the parsed job; the tasks' strings point into it */
    const cJSON *item; /* items: the next one */
    FILE *f;           /* lines: the open file */
    char *path;        /* lines: its path; glob: the workspace directory */
    char *line;        /* lines: getline's buffer */
    size_t line_cap;
    pathlist files; /* glob: the matching paths, sorted */
    size_t next_file;
    const char *instructions; /* the job's (kept in the job's strings) */
    sched_task_spec *tasks;   /* the current chunk */
    size_t cap_tasks;
    char **chunk; /* strings the current chunk owns, freed by the next one */
    size_t n_chunk, cap_chunk;
    bool keep_all; /* planner_plan: every chunk's strings stay with the job */
};

static int strv_push(char ***v, size_t *n, size_t *cap, char *s)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        char **p = realloc(*v, sizeof *p * c);
        if (!p) return -1;
        *v = p;
        *cap = c;
    }
    (*v)[(*n)++] = s;
    return 0;
}

static char *pj_keep(planner_job *j, char *s)
{
    if (!s) return NULL;
    if (strv_push(&j->strings, &j->n_strings, &j->cap_strings, s)) {
        free(s);
        return NULL;
    }
    return s;
}

static char *pj_strdup(planner_job *j, const char *s)
{
    return pj_keep(j, strdup(s ? s : ""));
}

static void pathlist_free(pathlist *l);

static void src_chunk_clear(planner_source *src)
{
    for (size_t i = 0; i < src->n_chunk; i++)
        free(src->chunk[i]);
    src->n_chunk = 0;
}

static void src_free(planner_source *src)
{
    if (!src) return;
    src_chunk_clear(src);
    free(src->chunk);
    free(src->tasks);
    cJSON_Delete(src->root);
    if (src->f) fclose(src->f);
    free(src->path);
    free(src->line);
    pathlist_free(&src->files);
    free(src);
}

void planner_job_free(planner_job *j)
{
    if (!j) return;
    for (size_t i = 0; i < j->n_strings; i++)
        free(j->strings[i]);
    free(j->strings);
    if (!j->chunked) free(j->spec.tasks); /* chunked: the source's chunk array */
    src_free(j->src);
    free(j);
}

char *planner_job_strdup(planner_job *j, const char *s)
{
    return pj_strdup(j, s);
}

/* A string owned by the current chunk (or by the job, for planner_plan). */
static char *src_keep(planner_job *j, char *s)
{
    planner_source *src = j->src;
    if (!s) return NULL;
    if (src->keep_all) return pj_keep(j, s);
    if (strv_push(&src->chunk, &src->n_chunk, &src->cap_chunk, s)) {
        free(s);
        return NULL;
    }
    return s;
}

/* Appends a task to the current chunk; item and input are kept as given. */
static int src_add_task(planner_job *j, const char *item, const char *input)
{
    planner_source *src = j->src;
    sched_job_spec *s = &j->spec;
    if (s->n_tasks == src->cap_tasks) {
        size_t c = src->cap_tasks ? src->cap_tasks * 2 : 64;
        sched_task_spec *t = realloc(src->tasks, sizeof *t * c);
        if (!t) return -1;
        src->tasks = t;
        src->cap_tasks = c;
        s->tasks = t;
    }
    sched_task_spec *t = &s->tasks[s->n_tasks++];
    t->instructions = src->instructions;
    t->item = item;
    t->input = input;
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
    char *save = NULL; /* strtok_r: planning runs on several threads at once */
    for (char *tok = strtok_r(s, "/", &save); tok && n < max; tok = strtok_r(NULL, "/", &save))
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

/* ---- the job's text ---- */

int planner_text_check(const char *s, char *err, size_t errlen)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, len = strlen(s);
    while (p[i]) {
        size_t n = swarm_utf8_seq_len(p + i, len - i);
        if (n == 0) {
            snprintf(err, errlen,
                     "the job file is not valid UTF-8 (byte 0x%02x at offset %zu); save it as "
                     "UTF-8",
                     p[i], i);
            return -1;
        }
        if (p[i] == '\\') {
            size_t run = 1;
            while (p[i + run] == '\\')
                run++;
            /* an odd run of backslashes escapes what follows */
            if (run % 2 == 1 && p[i + run] == 'u' && p[i + run + 1] == '0' &&
                p[i + run + 2] == '0' && p[i + run + 3] == '0' && p[i + run + 4] == '0') {
                snprintf(err, errlen,
                         "the job has a \\u0000 (NUL) escape at offset %zu: NUL cannot be part "
                         "of an item or instruction",
                         i + run - 1);
                return -1;
            }
            i += run;
            continue;
        }
        i += n;
    }
    return 0;
}

/* ---- planning in steps: parse, header, source, the {item} rule, finish ---- */

/* What the top level of a job file says, checked. */
typedef struct plan_header {
    const char *name, *goal, *instructions, *merge;
    uint64_t max_tokens, max_attempts, max_subtasks, wall, seed, max_depth, job_tokens;
    double temperature;
    bool dag; /* explicit tasks or a model plan (planner_model.c) */
    const cJSON *agent, *fan;
} plan_header;

static cJSON *plan_parse(const char *json, char *err, size_t errlen)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json ? json : "", &end, 0);
    if (!root) {
        /* the end pointer, not cJSON_GetErrorPtr: that one is a global */
        int off = end && json ? (int)(end - json) : 0;
        snprintf(err, errlen, "not valid JSON (near byte %d)", off);
    }
    return root;
}

static int plan_budget(const cJSON *root, plan_header *h, char *err, size_t errlen)
{
    static const char *const keys[] = {
        "max_tokens", "max_attempts", "max_subtasks", "wall_time_s", "max_depth", "tokens", NULL};
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "budget");
    if (!b) return 0;
    if (!cJSON_IsObject(b)) {
        snprintf(err, errlen, "budget: expected an object");
        return -1;
    }
    if (check_keys(b, "budget", keys, err, errlen) ||
        get_uint(b, "max_tokens", "budget.max_tokens", 1, 1000000, &h->max_tokens, err, errlen) ||
        get_uint(b, "max_attempts", "budget.max_attempts", 1, 100, &h->max_attempts, err, errlen) ||
        get_uint(b, "max_subtasks", "budget.max_subtasks", 1, 1000000, &h->max_subtasks, err,
                 errlen) ||
        get_uint(b, "wall_time_s", "budget.wall_time_s", 1, 30u * 24 * 3600, &h->wall, err,
                 errlen) ||
        get_uint(b, "max_depth", "budget.max_depth", 1, 64, &h->max_depth, err, errlen) ||
        get_uint(b, "tokens", "budget.tokens", 1, 1ull << 50, &h->job_tokens, err, errlen))
        return -1;
    return 0;
}

static int plan_sampling(const cJSON *root, plan_header *h, char *err, size_t errlen)
{
    static const char *const keys[] = {"temperature", "seed", NULL};
    const cJSON *sm = cJSON_GetObjectItemCaseSensitive(root, "sampling");
    if (!sm) return 0;
    if (!cJSON_IsObject(sm)) {
        snprintf(err, errlen, "sampling: expected an object");
        return -1;
    }
    if (check_keys(sm, "sampling", keys, err, errlen) ||
        get_uint(sm, "seed", "sampling.seed", 0, (1ull << 53), &h->seed, err, errlen))
        return -1;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(sm, "temperature");
    if (t) {
        if (!cJSON_IsNumber(t) || t->valuedouble < 0 || t->valuedouble > 10) {
            snprintf(err, errlen, "sampling.temperature: expected a number from 0 to 10");
            return -1;
        }
        h->temperature = t->valuedouble;
    }
    return 0;
}

/* The top-level keys, strings, merge policy, budget and sampling. */
static int plan_header_read(const cJSON *root, plan_header *h, char *err, size_t errlen)
{
    static const char *const top[] = {"name",   "goal",     "instructions", "fanout", "merge",
                                      "budget", "sampling", "agent",        "tasks",  "plan",
                                      NULL};
    *h = (plan_header){.name = "job",
                       .merge = "concat",
                       .max_tokens = 64,
                       .max_attempts = 3,
                       .max_subtasks = 1000,
                       .wall = 3600};
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "job: expected a JSON object");
        return -1;
    }
    if (check_keys(root, "", top, err, errlen)) return -1;
    /* explicit tasks or a model plan (planner_model.c) bring their own
     * instructions; the top-level ones are then an optional preamble */
    h->dag = cJSON_GetObjectItemCaseSensitive(root, "tasks") ||
             cJSON_GetObjectItemCaseSensitive(root, "plan");
    if (h->dag) h->instructions = "";
    if (get_string(root, "name", "name", false, &h->name, err, errlen) ||
        get_string(root, "goal", "goal", true, &h->goal, err, errlen) ||
        get_string(root, "instructions", "instructions", !h->dag, &h->instructions, err, errlen) ||
        get_string(root, "merge", "merge", false, &h->merge, err, errlen))
        return -1;
    if (!h->goal[0]) {
        snprintf(err, errlen, "goal: must not be empty");
        return -1;
    }
    if (!h->instructions[0] && !h->dag) {
        snprintf(err, errlen, "instructions: must not be empty");
        return -1;
    }
    if (h->dag && strcmp(h->merge, "agent") == 0) {
        /* a reducer agent task writes the answer (planner_model.c) */
    } else if (strcmp(h->merge, "concat") != 0 && strcmp(h->merge, "json") != 0) {
        snprintf(err, errlen, "merge: \"%s\" is not a merge policy (use \"concat\" or \"json\")",
                 h->merge);
        return -1;
    }
    if (plan_budget(root, h, err, errlen) || plan_sampling(root, h, err, errlen)) return -1;
    h->agent = cJSON_GetObjectItemCaseSensitive(root, "agent");
    h->fan = cJSON_GetObjectItemCaseSensitive(root, "fanout");
    return 0;
}

/* fanout.items: every entry a string, within the budget; the tasks point into
 * root, which the source keeps. */
static int source_items(planner_job *j, const plan_header *h, const cJSON *items, char *err,
                        size_t errlen)
{
    if (!cJSON_IsArray(items)) {
        snprintf(err, errlen, "fanout.items: expected an array of strings");
        return -1;
    }
    size_t n = 0;
    for (const cJSON *it = items->child; it; it = it->next, n++)
        if (!cJSON_IsString(it)) {
            snprintf(err, errlen, "fanout.items[%zu]: expected a string", n);
            return -1;
        }
    if (n > h->max_subtasks) {
        snprintf(err, errlen, "fanout.items: %zu items exceed budget.max_subtasks %llu", n,
                 (unsigned long long)h->max_subtasks);
        return -1;
    }
    j->src->kind = SRC_ITEMS;
    j->src->item = items->child;
    j->total = n;
    return 0;
}

/* A line of the file with trailing whitespace cut; false at the end. */
static bool lines_next(planner_source *src, size_t *len)
{
    ssize_t n;
    while ((n = getline(&src->line, &src->line_cap, src->f)) >= 0) {
        char *line = src->line;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                         line[n - 1] == '\t'))
            line[--n] = 0;
        if (n > 0) {
            *len = (size_t)n;
            return true;
        }
    }
    return false;
}

/* fanout.lines: the file opened and its non-empty lines counted (a pass that
 * holds one line), then read again a chunk at a time. */
static int source_lines(planner_job *j, const plan_header *h, const cJSON *lines,
                        const char *base_dir, char *err, size_t errlen)
{
    planner_source *src = j->src;
    if (!cJSON_IsString(lines) || !lines->valuestring[0]) {
        snprintf(err, errlen, "fanout.lines: expected a file path");
        return -1;
    }
    src->path = path_join(base_dir, lines->valuestring);
    struct stat lst;
    if (src->path && stat(src->path, &lst) == 0 && S_ISDIR(lst.st_mode)) {
        snprintf(err, errlen,
                 "fanout.lines: %s is a directory; give a text file (one item per line), "
                 "or use fanout.glob for the files in a directory",
                 src->path);
        return -1;
    }
    src->f = src->path ? fopen(src->path, "r") : NULL;
    if (!src->f) {
        snprintf(err, errlen, "fanout.lines: %s: %s", src->path ? src->path : lines->valuestring,
                 strerror(errno));
        return -1;
    }
    struct stat fst;
    if (fstat(fileno(src->f), &fst) != 0 || !S_ISREG(fst.st_mode)) {
        snprintf(err, errlen,
                 "fanout.lines: %s is not a regular file (a pipe or a device cannot be read "
                 "twice: once to count the lines, once to fan them out)",
                 src->path);
        return -1;
    }
    size_t count = 0, len;
    while (count <= h->max_subtasks && lines_next(src, &len))
        count++;
    if (count > h->max_subtasks) {
        snprintf(err, errlen, "fanout.lines: %s has more than budget.max_subtasks %llu lines",
                 src->path, (unsigned long long)h->max_subtasks);
        return -1;
    }
    if (ferror(src->f) || fseek(src->f, 0, SEEK_SET) != 0) {
        snprintf(err, errlen, "fanout.lines: %s: %s", src->path, strerror(errno));
        return -1;
    }
    src->kind = SRC_LINES;
    j->total = count;
    return 0;
}

/* fanout.glob: the matching paths listed and sorted; no file is read yet. */
static int source_glob(planner_job *j, const plan_header *h, const cJSON *glob, const cJSON *ws,
                       const char *base_dir, char *err, size_t errlen)
{
    planner_source *src = j->src;
    if (!cJSON_IsString(glob) || !glob->valuestring[0]) {
        snprintf(err, errlen, "fanout.glob: expected a pattern such as \"**/*.c\"");
        return -1;
    }
    if (ws && (!cJSON_IsString(ws) || !ws->valuestring[0])) {
        snprintf(err, errlen, "fanout.workspace: expected a directory path");
        return -1;
    }
    const char *wsrel = ws ? ws->valuestring : ".";
    if (!(src->path = path_join(base_dir, wsrel))) {
        snprintf(err, errlen, "out of memory planning the job");
        return -1;
    }
    size_t wl = strlen(src->path);
    while (wl > 1 && src->path[wl - 1] == '/')
        src->path[--wl] = 0;
    struct stat st;
    if (stat(src->path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "fanout.workspace: %s is not a directory", src->path);
        return -1;
    }
    glob_walk(src->path, "", glob->valuestring, 0, &src->files, (size_t)h->max_subtasks);
    if (src->files.oom) {
        snprintf(err, errlen, "out of memory planning the job");
        return -1;
    }
    if (src->files.n == 0) {
        snprintf(err, errlen, "fanout.glob: no files match \"%s\" under %s", glob->valuestring,
                 wsrel);
        return -1;
    }
    if (src->files.n > h->max_subtasks) {
        snprintf(err, errlen,
                 "fanout.glob: more than budget.max_subtasks %llu files match \"%s\" under %s",
                 (unsigned long long)h->max_subtasks, glob->valuestring, wsrel);
        return -1;
    }
    qsort(src->files.v, src->files.n, sizeof *src->files.v, cmp_str);
    src->kind = SRC_GLOB;
    j->total = src->files.n;
    return 0;
}

/* fanout.items sent apart (swarm submit of a long list: SubmitChunk): the
 * job holds an empty list and says how many items follow. */
static int source_streamed(planner_job *j, const plan_header *h, const cJSON *items,
                           size_t items_total, char *err, size_t errlen)
{
    if (!cJSON_IsArray(items) || cJSON_GetArraySize(items) != 0) {
        snprintf(err, errlen,
                 "fanout.items: a streamed job sends its items in chunks; the job itself must "
                 "hold \"items\": []");
        return -1;
    }
    if (items_total > h->max_subtasks) {
        snprintf(err, errlen, "fanout.items: %zu items exceed budget.max_subtasks %llu",
                 items_total, (unsigned long long)h->max_subtasks);
        return -1;
    }
    j->src->kind = SRC_STREAMED;
    j->total = items_total;
    return 0;
}

/* The job's "fanout" object: which source, opened and counted. */
static int plan_source(planner_job *j, const plan_header *h, const char *base_dir, unsigned flags,
                       size_t items_total, char *err, size_t errlen)
{
    static const char *const fan_keys[] = {"items", "lines", "glob", "workspace", NULL};
    const cJSON *fan = h->fan;
    if (!fan) {
        snprintf(err, errlen, "fanout: missing (an object with items, lines or glob)");
        return -1;
    }
    if (!cJSON_IsObject(fan)) {
        snprintf(err, errlen, "fanout: expected an object with items, lines or glob");
        return -1;
    }
    if (check_keys(fan, "fanout", fan_keys, err, errlen)) return -1;
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(fan, "items");
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive(fan, "lines");
    const cJSON *glob = cJSON_GetObjectItemCaseSensitive(fan, "glob");
    const cJSON *ws = cJSON_GetObjectItemCaseSensitive(fan, "workspace");
    if ((items != NULL) + (lines != NULL) + (glob != NULL) != 1) {
        snprintf(err, errlen, "fanout: give exactly one of items, lines or glob");
        return -1;
    }
    if (ws && !glob) {
        snprintf(err, errlen, "fanout.workspace: only used with fanout.glob");
        return -1;
    }
    if ((flags & PLANNER_ITEMS_STREAMED) && !items) {
        snprintf(err, errlen, "fanout: a streamed job fans out over items (fanout.items: [])");
        return -1;
    }
    if (flags & PLANNER_ITEMS_STREAMED)
        return source_streamed(j, h, items, items_total, err, errlen);
    if (items) return source_items(j, h, items, err, errlen);
    if (lines) return source_lines(j, h, lines, base_dir, err, errlen);
    return source_glob(j, h, glob, ws, base_dir, err, errlen);
}

/* {item} is the only way an item reaches its sub-task's prompt: without it
 * every sub-task would run the very same prompt. */
static int plan_item_rule(size_t total, const char *instructions, char *err, size_t errlen)
{
    if (total == 0) {
        snprintf(err, errlen, "fanout: no items to fan out");
        return -1;
    }
    if (total > 1 && !strstr(instructions, "{item}")) {
        snprintf(err, errlen,
                 "instructions: never mention {item}, so all %zu sub-tasks would get the same "
                 "prompt; write {item} where each item (line, file) goes, e.g. \"Summarise: "
                 "{item}\"",
                 total);
        return -1;
    }
    return 0;
}

/* The job's strings and budgets into the spec. */
static int plan_finish(planner_job *j, const plan_header *h)
{
    sched_job_spec *s = &j->spec;
    s->name = pj_strdup(j, h->name);
    s->goal = pj_strdup(j, h->goal);
    s->merge = pj_strdup(j, h->merge);
    const char *ins = pj_strdup(j, h->instructions);
    if (!s->name || !s->goal || !s->merge || !ins) return -1;
    if (j->src) j->src->instructions = ins;
    for (size_t i = 0; i < s->n_tasks; i++)
        if (!s->tasks[i].instructions) s->tasks[i].instructions = ins;
    s->max_depth = (uint32_t)h->max_depth;
    s->max_job_tokens = h->job_tokens;
    s->max_tokens = (uint32_t)h->max_tokens;
    s->max_attempts = (uint32_t)h->max_attempts;
    s->max_subtasks = (uint32_t)h->max_subtasks;
    s->wall_time_s = (uint32_t)h->wall;
    s->temperature = h->temperature;
    s->seed = h->seed;
    return 0;
}

/* A chunked job made whole: every chunk's tasks in one array, strings kept
 * by the job (planner_plan, and agent.git, whose merge step depends on every
 * task). */
static int pj_materialise(planner_job *j, char *err, size_t errlen)
{
    if (!j->chunked) return 0;
    sched_task_spec *all = NULL;
    size_t n = 0;
    j->src->keep_all = true;
    int got;
    while ((got = planner_job_next(j, 4096, SIZE_MAX, err, errlen)) > 0) {
        sched_task_spec *p = realloc(all, sizeof *p * (n + (size_t)got));
        if (!p) {
            free(all);
            snprintf(err, errlen, "out of memory planning the job");
            return -1;
        }
        all = p;
        memcpy(all + n, j->spec.tasks, sizeof *all * (size_t)got);
        n += (size_t)got;
    }
    if (got < 0) {
        free(all);
        return -1;
    }
    j->chunked = false; /* spec.tasks is now ours to free; the source keeps the strings */
    j->spec.tasks = all;
    j->spec.n_tasks = n;
    return 0;
}

static int plan_fanout(const planner *self, const char *json, const char *base_dir, unsigned flags,
                       size_t items_total, planner_job **out, char *err, size_t errlen)
{
    (void)self;
    *out = NULL;
    if (!base_dir) base_dir = "";
    cJSON *root = plan_parse(json, err, errlen);
    if (!root) return -1;
    const cJSON *doc = root; /* the job: kept by root here, or by the source */
    planner_job *j = calloc(1, sizeof *j);
    plan_header h;
    if (!j) {
        cJSON_Delete(root);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (plan_header_read(root, &h, err, errlen)) goto fail;
    if (h.agent && plan_agent(h.agent, base_dir, j, err, errlen)) goto fail;
    if (h.dag) {
        if (h.fan) {
            snprintf(err, errlen, "fanout: give either fanout or tasks/plan, not both");
            goto fail;
        }
        if (flags & PLANNER_ITEMS_STREAMED) {
            snprintf(err, errlen, "fanout: a streamed job fans out over items, not tasks/plan");
            goto fail;
        }
        if (planner_dag_plan(j, root, h.instructions, h.max_subtasks, err, errlen)) goto fail;
        if (plan_finish(j, &h)) goto oom;
    } else {
        if (!(j->src = calloc(1, sizeof *j->src))) goto oom;
        j->chunked = true;
        j->src->root = root; /* items point into it */
        if (plan_source(j, &h, base_dir, flags, items_total, err, errlen) ||
            plan_item_rule(j->total, h.instructions, err, errlen))
            goto fail_src;
        if (plan_finish(j, &h)) goto oom_src;
        /* the merge step depends on every task: such a job is planned whole */
        if (h.agent && cJSON_GetObjectItemCaseSensitive(h.agent, "git") &&
            (flags & PLANNER_ITEMS_STREAMED)) {
            snprintf(err, errlen,
                     "agent.git: not with a streamed job (its merge step needs "
                     "every task at once)");
            goto fail_src;
        }
        if (h.agent && cJSON_GetObjectItemCaseSensitive(h.agent, "git") &&
            pj_materialise(j, err, errlen))
            goto fail_src;
        root = NULL; /* the source's now */
    }
    if (h.agent && planner_git_step(j, doc, h.max_subtasks, err, errlen)) goto fail;
    cJSON_Delete(root);
    *out = j;
    return 0;
oom_src:
    snprintf(err, errlen, "out of memory planning the job");
fail_src:
    root = NULL; /* freed with the source */
    goto fail;
oom:
    snprintf(err, errlen, "out of memory planning the job");
fail:
    cJSON_Delete(root);
    planner_job_free(j);
    return -1;
}

/* ---- chunks ---- */

static int next_item(planner_job *j, size_t *bytes, char *err, size_t errlen)
{
    planner_source *src = j->src;
    const cJSON *it = src->item;
    if (!it) {
        snprintf(err, errlen, "fanout.items: fewer items than counted");
        return -1;
    }
    src->item = it->next;
    *bytes += strlen(it->valuestring);
    return src_add_task(j, it->valuestring, it->valuestring);
}

static int next_line(planner_job *j, size_t *bytes, char *err, size_t errlen)
{
    planner_source *src = j->src;
    size_t len;
    if (!lines_next(src, &len)) {
        snprintf(err, errlen, "fanout.lines: %s changed while it was read (%zu lines, %zu counted)",
                 src->path, j->produced, j->total);
        return -1;
    }
    utf8_sanitize(src->line, len);
    char *line = src_keep(j, strndup(src->line, len));
    if (!line) {
        snprintf(err, errlen, "out of memory planning the job");
        return -1;
    }
    *bytes += len;
    return src_add_task(j, line, line);
}

static int next_file(planner_job *j, size_t *bytes, char *err, size_t errlen)
{
    planner_source *src = j->src;
    const char *rel = src->files.v[src->next_file++];
    char *input = file_input(src->path, rel, err, errlen);
    if (!input) return -1;
    if (!src_keep(j, input)) {
        snprintf(err, errlen, "out of memory planning the job");
        return -1;
    }
    *bytes += strlen(input);
    return src_add_task(j, rel, input);
}

int planner_job_next(planner_job *j, size_t max_tasks, size_t max_bytes, char *err, size_t errlen)
{
    if (!j || !j->chunked || !j->src) return 0;
    planner_source *src = j->src;
    if (src->kind == SRC_STREAMED) {
        snprintf(err, errlen, "a streamed job's items come from planner_job_items");
        return -1;
    }
    if (!src->keep_all) src_chunk_clear(src);
    j->spec.n_tasks = 0;
    j->spec.tasks = src->tasks;
    size_t bytes = 0;
    while (j->spec.n_tasks < max_tasks && bytes < max_bytes && j->produced < j->total) {
        int rc = src->kind == SRC_ITEMS   ? next_item(j, &bytes, err, errlen)
                 : src->kind == SRC_LINES ? next_line(j, &bytes, err, errlen)
                                          : next_file(j, &bytes, err, errlen);
        if (rc) {
            if (!err[0]) snprintf(err, errlen, "out of memory planning the job");
            return -1;
        }
        j->produced++;
    }
    return (int)j->spec.n_tasks;
}

int planner_job_items(planner_job *j, const char *items_json, char *err, size_t errlen)
{
    if (!j || !j->chunked || !j->src || j->src->kind != SRC_STREAMED) {
        snprintf(err, errlen, "items: this job does not take streamed items");
        return -1;
    }
    planner_source *src = j->src;
    src_chunk_clear(src);
    j->spec.n_tasks = 0;
    j->spec.tasks = src->tasks;
    if (planner_text_check(items_json, err, errlen)) return -1;
    const char *end = NULL;
    cJSON *arr = cJSON_ParseWithOpts(items_json, &end, 0);
    if (!cJSON_IsArray(arr)) {
        snprintf(err, errlen, "items: expected a JSON array of strings (near byte %d)",
                 arr ? 0 : (int)(end ? end - items_json : 0));
        cJSON_Delete(arr);
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
    if (j->produced + n > j->total) {
        snprintf(err, errlen, "items: %zu more than the %zu announced", j->produced + n - j->total,
                 j->total);
        cJSON_Delete(arr);
        return -1;
    }
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        char *item = cJSON_IsString(it) ? src_keep(j, strdup(it->valuestring)) : NULL;
        if (!item || src_add_task(j, item, item)) {
            if (cJSON_IsString(it))
                snprintf(err, errlen, "out of memory planning the job");
            else
                snprintf(err, errlen, "fanout.items[%zu]: expected a string", j->produced + i);
            cJSON_Delete(arr);
            return -1;
        }
    }
    cJSON_Delete(arr);
    j->produced += n;
    return (int)n;
}

/* ---- the seam ---- */

static int plan_whole(const planner *self, const char *json, const char *base_dir,
                      planner_job **out, char *err, size_t errlen)
{
    if (plan_fanout(self, json, base_dir, 0, 0, out, err, errlen)) return -1;
    if (pj_materialise(*out, err, errlen)) {
        planner_job_free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

static const planner planner_fanout_impl = {
    .name = "fanout", .plan = plan_whole, .open = plan_fanout};

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

int planner_open(const char *job_json, const char *base_dir, unsigned flags, size_t items_total,
                 planner_job **out, char *err, size_t errlen)
{
    const planner *p = planner_fanout();
    return p->open(p, job_json, base_dir, flags, items_total, out, err, errlen);
}
