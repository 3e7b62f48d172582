/* planner_model.c - the planners with dependencies, behind the planner seam.
 *
 *   "tasks": [...]   explicit sub-tasks, each {id, instructions, depends_on,
 *                    input}: the DAG is checked here (unique ids, unknown
 *                    ids, cycles, each named) and again, atomically, by
 *                    lua/submit.lua, which owns the task state.
 *   "plan": "model"  the job starts as one task: a planning agent, run on a
 *                    worker like any other (swarmd never runs a model), whose
 *                    answer must satisfy planner_plan_schema(); when it
 *                    completes, lua/complete.lua hands it to plan_expand
 *                    (lua/lib.lua), which checks it again and turns it into
 *                    the job's tasks in the same script call.
 *   merge "agent"    a reducer task, depending on every other task, writes
 *                    the final answer from their results; the merged result
 *                    is its output (sched_merge.c).
 * A task's dependencies' results reach it through {item}: lua/lib.lua's
 * dag_ready appends each one to the task's input, so a task with
 * dependencies whose instructions never say {item} gets it appended. */
#include "planner.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#define PLAN_ID_MAX 64

static bool id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > PLAN_ID_MAX) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return false;
    return true;
}

/* The growing text of one task or of the DAG string. */
typedef struct pm_buf {
    char *p;
    size_t len, cap;
} pm_buf;

static int pm_add(pm_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
    return 0;
}

/* Depth-first search for a cycle from i; colour 1 = on the path. On a cycle
 * the path from its start is written into err as "a -> b -> a". */
static bool pm_cycle(size_t i, int *colour, size_t *path, size_t depth, size_t **deps,
                     const size_t *n_deps, const char *const *ids, char *err, size_t errlen)
{
    colour[i] = 1;
    path[depth] = i;
    for (size_t k = 0; k < n_deps[i]; k++) {
        size_t d = deps[i][k];
        if (colour[d] == 1) {
            size_t from = 0;
            while (path[from] != d)
                from++;
            int off = snprintf(err, errlen, "tasks: dependency cycle ");
            for (size_t p = from; p <= depth && off > 0 && (size_t)off < errlen; p++)
                off += snprintf(err + off, errlen - (size_t)off, "%s -> ", ids[path[p]]);
            if (off > 0 && (size_t)off < errlen)
                snprintf(err + off, errlen - (size_t)off, "%s", ids[d]);
            return true;
        }
        if (colour[d] == 0 && pm_cycle(d, colour, path, depth + 1, deps, n_deps, ids, err, errlen))
            return true;
    }
    colour[i] = 2;
    return false;
}

static int pm_task(planner_job *j, size_t *cap, const char *item, const char *instr,
                   const char *input)
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
    t->item = planner_job_strdup(j, item);
    t->instructions = planner_job_strdup(j, instr);
    t->input = planner_job_strdup(j, input);
    if (!t->item || !t->instructions || !t->input) return -1;
    s->n_tasks++;
    return 0;
}

/* preamble + text (+ "{item}" when inputs or results must reach the prompt). */
static int pm_instructions(pm_buf *b, const char *preamble, const char *text, bool needs_item)
{
    b->len = 0;
    if (pm_add(b, "")) return -1;
    if (preamble[0] && (pm_add(b, preamble) || pm_add(b, "\n\n"))) return -1;
    if (pm_add(b, text)) return -1;
    if (needs_item && !strstr(text, "{item}") && pm_add(b, "\n\n{item}")) return -1;
    return 0;
}

static const char REDUCE_TEXT[] =
    "Write the final answer to the job's goal from the results of its sub-tasks below. "
    "Keep what they found, resolve disagreements, and say what is missing.";

static int plan_tasks(planner_job *j, const cJSON *tasks, const char *preamble, bool reduce,
                      uint64_t max_subtasks, char *err, size_t errlen)
{
    if (!cJSON_IsArray(tasks) || cJSON_GetArraySize(tasks) == 0) {
        snprintf(err, errlen, "tasks: expected a non-empty array of {id, instructions, ...}");
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(tasks);
    if (n + (reduce ? 1 : 0) > max_subtasks) {
        snprintf(err, errlen, "tasks: %zu tasks%s exceed budget.max_subtasks %llu", n,
                 reduce ? " and the reducer" : "", (unsigned long long)max_subtasks);
        return -1;
    }
    static const char *const keys[] = {"id", "instructions", "depends_on", "input", NULL};
    const char **ids = calloc(n, sizeof *ids);
    size_t **deps = calloc(n, sizeof *deps), *n_deps = calloc(n, sizeof *n_deps);
    int *colour = calloc(n, sizeof *colour);
    size_t *path = calloc(n, sizeof *path), cap = 0;
    pm_buf dag = {0}, ins = {0};
    int rc = -1;
    if (!ids || !deps || !n_deps || !colour || !path || pm_add(&dag, "")) {
        snprintf(err, errlen, "out of memory planning the job");
        goto out;
    }
    size_t i = 0;
    for (const cJSON *t = tasks->child; t; t = t->next, i++) {
        char where[48];
        snprintf(where, sizeof where, "tasks[%zu]", i);
        if (!cJSON_IsObject(t)) {
            snprintf(err, errlen, "%s: expected an object {id, instructions, depends_on}", where);
            goto out;
        }
        for (const cJSON *k = t->child; k; k = k->next) {
            size_t a = 0;
            while (keys[a] && strcmp(keys[a], k->string) != 0)
                a++;
            if (!keys[a]) {
                snprintf(err, errlen,
                         "%s.%s: unknown key (allowed: id, instructions, depends_on, input)", where,
                         k->string);
                goto out;
            }
        }
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(t, "id");
        if (!cJSON_IsString(id) || !id_ok(id->valuestring)) {
            snprintf(err, errlen,
                     "%s.id: expected 1 to %d letters, digits, '_', '-' or '.' (e.g. \"parse\")",
                     where, PLAN_ID_MAX);
            goto out;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(ids[k], id->valuestring) == 0) {
                snprintf(err, errlen, "%s.id: \"%s\" is also tasks[%zu].id", where, id->valuestring,
                         k);
                goto out;
            }
        ids[i] = id->valuestring;
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(t, "instructions");
        if (!cJSON_IsString(in) || !in->valuestring[0]) {
            snprintf(err, errlen, "%s.instructions: expected a non-empty string", where);
            goto out;
        }
        const cJSON *input = cJSON_GetObjectItemCaseSensitive(t, "input");
        if (input && !cJSON_IsString(input)) {
            snprintf(err, errlen, "%s.input: expected a string", where);
            goto out;
        }
        const cJSON *dl = cJSON_GetObjectItemCaseSensitive(t, "depends_on");
        if (dl && !cJSON_IsArray(dl)) {
            snprintf(err, errlen, "%s.depends_on: expected an array of task ids", where);
            goto out;
        }
        const char *inp = input ? input->valuestring : "";
        if (pm_instructions(&ins, preamble, in->valuestring,
                            inp[0] || cJSON_GetArraySize(dl) > 0) ||
            pm_task(j, &cap, id->valuestring, ins.p, inp)) {
            snprintf(err, errlen, "out of memory planning the job");
            goto out;
        }
    }
    /* dependencies by index, once every id is known */
    i = 0;
    for (const cJSON *t = tasks->child; t; t = t->next, i++) {
        const cJSON *dl = cJSON_GetObjectItemCaseSensitive(t, "depends_on");
        size_t nd = (size_t)cJSON_GetArraySize(dl);
        if (!nd) continue;
        if (!(deps[i] = calloc(nd, sizeof **deps))) {
            snprintf(err, errlen, "out of memory planning the job");
            goto out;
        }
        char tid[24];
        sched_task_id(i, tid, sizeof tid);
        if (pm_add(&dag, dag.len ? ";" : "") || pm_add(&dag, tid) || pm_add(&dag, "=")) goto oom;
        for (const cJSON *d = dl->child; d; d = d->next) {
            size_t k = 0;
            if (!cJSON_IsString(d)) {
                snprintf(err, errlen, "tasks[%zu].depends_on: expected task ids (strings)", i);
                goto out;
            }
            while (k < n && strcmp(ids[k], d->valuestring) != 0)
                k++;
            if (k == n) {
                snprintf(err, errlen, "tasks[%zu].depends_on: unknown task id \"%s\" (task \"%s\")",
                         i, d->valuestring, ids[i]);
                goto out;
            }
            if (k == i) {
                snprintf(err, errlen, "tasks[%zu].depends_on: task \"%s\" depends on itself", i,
                         ids[i]);
                goto out;
            }
            deps[i][n_deps[i]++] = k;
            sched_task_id(k, tid, sizeof tid);
            if (pm_add(&dag, n_deps[i] > 1 ? "," : "") || pm_add(&dag, tid)) goto oom;
        }
    }
    for (i = 0; i < n; i++)
        if (colour[i] == 0 && pm_cycle(i, colour, path, 0, deps, n_deps, ids, err, errlen))
            goto out;
    if (reduce) {
        /* the reducer depends on every task and comes last */
        char tid[24];
        sched_task_id(n, tid, sizeof tid);
        if (pm_add(&dag, dag.len ? ";" : "") || pm_add(&dag, tid) || pm_add(&dag, "=")) goto oom;
        for (i = 0; i < n; i++) {
            sched_task_id(i, tid, sizeof tid);
            if (pm_add(&dag, i ? "," : "") || pm_add(&dag, tid)) goto oom;
        }
        if (pm_instructions(&ins, preamble, REDUCE_TEXT, true) ||
            pm_task(j, &cap, "reduce", ins.p, ""))
            goto oom;
        sched_task_id(n, tid, sizeof tid);
        if (!(j->spec.reducer = planner_job_strdup(j, tid))) goto oom;
    }
    if (dag.len && !(j->spec.dag = planner_job_strdup(j, dag.p))) goto oom;
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory planning the job");
out:
    for (i = 0; deps && i < n; i++)
        free(deps[i]);
    free(ids);
    free(deps);
    free(n_deps);
    free(colour);
    free(path);
    free(dag.p);
    free(ins.p);
    return rc;
}

char *planner_plan_schema(uint64_t max_tasks)
{
    char *s = NULL;
    const char *fmt =
        "{\"type\":\"object\",\"properties\":{\"tasks\":{\"type\":\"array\",\"minItems\":1,"
        "\"maxItems\":%llu,\"items\":{\"type\":\"object\",\"properties\":{"
        "\"id\":{\"type\":\"string\",\"pattern\":\"^[A-Za-z0-9_.-]{1,64}$\"},"
        "\"instructions\":{\"type\":\"string\",\"minLength\":1},"
        "\"tools\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
        "\"depends_on\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}},"
        "\"required\":[\"id\",\"instructions\",\"depends_on\"],\"additionalProperties\":false}}},"
        "\"required\":[\"tasks\"],\"additionalProperties\":false}";
    int n = snprintf(NULL, 0, fmt, (unsigned long long)max_tasks);
    if (n < 0 || !(s = malloc((size_t)n + 1))) return NULL;
    snprintf(s, (size_t)n + 1, fmt, (unsigned long long)max_tasks);
    return s;
}

static const char PLAN_TEXT[] =
    "Plan the job's goal as sub-tasks for other agents. Answer with one JSON object that "
    "matches this JSON Schema, and nothing else:\n%s\n"
    "Each sub-task gets an id, self-contained instructions, the tools it needs and the ids of "
    "the sub-tasks whose results it needs (depends_on; no cycles). Independent sub-tasks run "
    "in parallel, so only add a dependency when a result is really needed. At most %llu "
    "sub-tasks.";

static int plan_model(planner_job *j, const char *preamble, bool reduce, uint64_t max_subtasks,
                      char *err, size_t errlen)
{
    if (max_subtasks < 2 + (reduce ? 1 : 0)) {
        snprintf(err, errlen,
                 "budget.max_subtasks: %llu leaves no room for a plan (the planning task%s "
                 "count)",
                 (unsigned long long)max_subtasks, reduce ? " and the reducer" : "");
        return -1;
    }
    uint64_t room = max_subtasks - 1 - (reduce ? 1 : 0);
    char *schema = planner_plan_schema(room);
    pm_buf b = {0};
    size_t cap = 0;
    int rc = -1;
    if (schema) {
        int n = snprintf(NULL, 0, PLAN_TEXT, schema, (unsigned long long)room);
        char *text = n > 0 ? malloc((size_t)n + 1) : NULL;
        if (text) {
            snprintf(text, (size_t)n + 1, PLAN_TEXT, schema, (unsigned long long)room);
            if (pm_instructions(&b, preamble, text, false) == 0 &&
                pm_task(j, &cap, "plan", b.p, "") == 0 &&
                (j->spec.plan_schema = planner_job_strdup(j, schema)))
                rc = 0;
            /* an agent job: the worker gives the planning agent a submit_plan
             * tool with this schema, so the embedded engine's tool grammar
             * forces the plan's shape */
            cJSON *spec = rc == 0 && j->spec.agent_json ? cJSON_Parse(j->spec.agent_json) : NULL;
            cJSON *sch = spec ? cJSON_Parse(schema) : NULL;
            if (spec && sch) {
                cJSON_AddItemToObject(spec, "plan_schema", sch);
                sch = NULL;
                char *js = cJSON_PrintUnformatted(spec);
                const char *kept = js ? planner_job_strdup(j, js) : NULL;
                if (kept)
                    j->spec.agent_json = kept;
                else
                    rc = -1;
                free(js);
            }
            cJSON_Delete(sch);
            cJSON_Delete(spec);
            free(text);
        }
    }
    if (rc) snprintf(err, errlen, "out of memory planning the job");
    free(schema);
    free(b.p);
    return rc;
}

int planner_dag_plan(planner_job *j, const void *root_v, const char *preamble,
                     uint64_t max_subtasks, char *err, size_t errlen)
{
    const cJSON *root = root_v;
    const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(root, "tasks");
    const cJSON *plan = cJSON_GetObjectItemCaseSensitive(root, "plan");
    const cJSON *merge = cJSON_GetObjectItemCaseSensitive(root, "merge");
    bool reduce = cJSON_IsString(merge) && strcmp(merge->valuestring, "agent") == 0;
    if (tasks && plan) {
        snprintf(err, errlen, "plan: give either tasks or \"plan\": \"model\", not both");
        return -1;
    }
    if (plan) {
        if (!cJSON_IsString(plan) || strcmp(plan->valuestring, "model") != 0) {
            snprintf(err, errlen, "plan: the only planner by name is \"model\" (or give tasks)");
            return -1;
        }
        return plan_model(j, preamble ? preamble : "", reduce, max_subtasks, err, errlen);
    }
    return plan_tasks(j, tasks, preamble ? preamble : "", reduce, max_subtasks, err, errlen);
}

/* Depth-first post-order over the DAG string's dependencies: every task
 * after the tasks it depends on. */
static void topo_visit(size_t i, size_t **deps, const size_t *nd, int *seen, size_t *out, size_t *k)
{
    seen[i] = 1;
    for (size_t d = 0; d < nd[i]; d++)
        if (!seen[deps[i][d]]) topo_visit(deps[i][d], deps, nd, seen, out, k);
    out[(*k)++] = i;
}

int planner_git_step(planner_job *j, const void *root_v, uint64_t max_subtasks, char *err,
                     size_t errlen)
{
    const cJSON *agent = cJSON_GetObjectItemCaseSensitive((const cJSON *)root_v, "agent");
    const cJSON *git = cJSON_GetObjectItemCaseSensitive(agent, "git");
    if (!git) return 0;
    static const char *const keys[] = {"base", "check", "check_timeout_s", NULL};
    if (!cJSON_IsObject(git)) {
        snprintf(err, errlen, "agent.git: expected an object {base, check}");
        return -1;
    }
    for (const cJSON *k = git->child; k; k = k->next) {
        size_t a = 0;
        while (keys[a] && strcmp(keys[a], k->string) != 0)
            a++;
        if (!keys[a]) {
            snprintf(err, errlen,
                     "agent.git.%s: unknown key (allowed: base, check, "
                     "check_timeout_s)",
                     k->string);
            return -1;
        }
        if (a < 2 && !cJSON_IsString(k)) {
            snprintf(err, errlen, "agent.git.%s: expected a string", k->string);
            return -1;
        }
        if (a == 2 && (!cJSON_IsNumber(k) || k->valuedouble < 1)) {
            snprintf(err, errlen, "agent.git.check_timeout_s: expected seconds (>= 1)");
            return -1;
        }
    }
    if (j->spec.plan_schema) {
        snprintf(err, errlen,
                 "agent.git: the merge step needs tasks or a fanout, not "
                 "\"plan\": \"model\" (not supported yet)");
        return -1;
    }
    /* the normalized agent spec holds the absolute workspace */
    cJSON *spec = cJSON_Parse(j->spec.agent_json ? j->spec.agent_json : "");
    const cJSON *ws = cJSON_GetObjectItemCaseSensitive(spec, "workspace");
    char gitdir[4200];
    struct stat st;
    snprintf(gitdir, sizeof gitdir, "%s/.git", cJSON_IsString(ws) ? ws->valuestring : "");
    bool repo = stat(gitdir, &st) == 0 && S_ISDIR(st.st_mode);
    if (!repo)
        snprintf(err, errlen,
                 "agent.git: the workspace %s is not a git repository (git init "
                 "it, or drop agent.git)",
                 cJSON_IsString(ws) ? ws->valuestring : "?");
    cJSON_Delete(spec);
    if (!repo) return -1;
    size_t n = j->spec.n_tasks;
    if (n + 1 > max_subtasks) {
        snprintf(err, errlen,
                 "agent.git: the merge step would be task %zu, over "
                 "budget.max_subtasks %llu",
                 n + 1, (unsigned long long)max_subtasks);
        return -1;
    }
    size_t **deps = calloc(n, sizeof *deps), *nd = calloc(n, sizeof *nd),
           *order = calloc(n, sizeof *order);
    int *seen = calloc(n, sizeof *seen);
    pm_buf in = {0}, dag = {0};
    int rc = -1;
    if (!deps || !nd || !order || !seen || pm_add(&in, "") || pm_add(&dag, "")) goto oom;
    /* "tA=tB,tC;..." back into indices (ids are t%04zu = their index) */
    for (const char *p = j->spec.dag ? j->spec.dag : ""; *p;) {
        size_t t = strtoul(p + 1, NULL, 10);
        const char *q = strchr(p, '=');
        const char *end = strchr(p, ';');
        if (!end) end = p + strlen(p);
        if (!q || q > end || t >= n) break;
        size_t cnt = 1;
        for (const char *c = q; c < end; c++)
            cnt += *c == ',';
        if (!(deps[t] = calloc(cnt, sizeof **deps))) goto oom;
        for (const char *c = q + 1; c < end;) {
            size_t d = strtoul(c + 1, NULL, 10);
            if (d < n) deps[t][nd[t]++] = d;
            c = strchr(c, ',');
            if (!c || c > end) break;
            c++;
        }
        p = *end ? end + 1 : end;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!seen[i]) topo_visit(i, deps, nd, seen, order, &k);
    char tid[24];
    if (j->spec.dag && (pm_add(&dag, j->spec.dag) || pm_add(&dag, ";"))) goto oom;
    sched_task_id(n, tid, sizeof tid);
    if (pm_add(&dag, tid) || pm_add(&dag, "=")) goto oom;
    for (size_t i = 0; i < n; i++) {
        sched_task_id(order[i], tid, sizeof tid);
        if (pm_add(&in, i ? "," : "") || pm_add(&in, tid)) goto oom;
        sched_task_id(i, tid, sizeof tid);
        if (pm_add(&dag, i ? "," : "") || pm_add(&dag, tid)) goto oom;
    }
    /* the merge step's input must start with the order: a line of its own */
    if (pm_add(&in, "\n")) goto oom;
    size_t cap = n; /* pm_task grows the array past n */
    if (pm_task(j, &cap, "merge", PLANNER_GIT_MERGE_TASK, in.p) ||
        !(j->spec.dag = planner_job_strdup(j, dag.p)))
        goto oom;
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory planning the job");
out:
    for (size_t i = 0; deps && i < n; i++)
        free(deps[i]);
    free(deps);
    free(nd);
    free(order);
    free(seen);
    free(in.p);
    free(dag.p);
    return rc;
}
