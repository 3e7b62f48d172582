/* planner.h - turns a job file (JSON, docs/JOBS.md) into the job's sub-tasks.
 *
 * The planner is a seam: swarmd calls it through `planner`, so a model-driven
 * planner (goal -> sub-tasks decided by an agent) can replace the built-in
 * fan-out planner without touching the coordinator. */
#ifndef SWARM_PLANNER_H
#define SWARM_PLANNER_H

#include <stdbool.h>
#include <stddef.h>

#include "sched_spec.h"

#define PLANNER_MAX_FILE_BYTES (16 * 1024) /* glob fan-out: file contents per task, capped */

typedef struct planner_source planner_source; /* where a fan-out's tasks come from */

/* A planned job: spec (what the scheduler stores) and the storage it points into.
 *
 * A fan-out job is lazy (chunked): planner_open checks the whole job (counts,
 * budgets, {item}) but produces no task; planner_job_next then fills
 * spec.tasks/n_tasks with the next chunk only, reading the items, the lines
 * file or the globbed files as it goes, so no one ever holds every task of a
 * 1,000,000-task job. A job with tasks, a model plan or agent.git (their
 * dependencies need every task at once) is planned whole: chunked is false
 * and spec.tasks holds them all. */
typedef struct planner_job {
    sched_job_spec spec;
    char **strings; /* owned strings the spec points into */
    size_t n_strings, cap_strings;
    bool chunked;        /* spec.tasks is one chunk; planner_job_next gives the next */
    size_t total;        /* tasks the job has (known once planned) */
    size_t produced;     /* tasks handed out so far: the chunk's first id is produced - n_tasks */
    planner_source *src; /* chunked: the fan-out being read */
} planner_job;

/* planner_open flags */
#define PLANNER_ITEMS_STREAMED 1u /* fanout.items arrive later in chunks: planner_job_items */

typedef struct planner {
    const char *name;
    /* Plan job_json (relative paths resolve against base_dir). 0, or -1 with
     * err naming the field, e.g. "fanout.glob: no files match ...". */
    int (*plan)(const struct planner *self, const char *job_json, const char *base_dir,
                planner_job **out, char *err, size_t errlen);
    /* The same, lazily (planner_open below): a fan-out comes back chunked. */
    int (*open)(const struct planner *self, const char *job_json, const char *base_dir,
                unsigned flags, size_t items_total, planner_job **out, char *err, size_t errlen);
    void *state;
} planner;

/* The job text (a job file, or a chunk of its items) must be UTF-8 (status
 * --json echoes it back, and JSON is UTF-8) and must not hold a \u0000 escape
 * (items travel as C strings: a NUL would silently cut them). 0, or -1 with
 * err naming the byte. */
int planner_text_check(const char *s, char *err, size_t errlen);

/* Keep a copy of s for the job's lifetime (NULL on out of memory). */
char *planner_job_strdup(planner_job *j, const char *s);

/* planner_model.c: the job's "tasks" (explicit sub-tasks with ids and
 * depends_on) or "plan": "model" (the first task is a planning agent whose
 * schema-checked plan becomes the tasks, lua/plan.lua), plus a reducer
 * task for merge "agent". root is the whole job object; preamble the
 * top-level instructions ("" if none). Fills j->spec.tasks and .dag. */
int planner_dag_plan(planner_job *j, const void *root, const char *preamble, uint64_t max_subtasks,
                     char *err, size_t errlen);

/* Coding jobs: with agent.git ({"base", "check", "check_timeout_s"}) the
 * job gets a last task, the merge step (worker/agent/gitws.h: instructions
 * PLANNER_GIT_MERGE_TASK, input the tasks' ids in dependency order), that
 * depends on every task. The workspace must be a git repository. */
#define PLANNER_GIT_MERGE_TASK "swarm:git-merge"
int planner_git_step(planner_job *j, const void *root, uint64_t max_subtasks, char *err,
                     size_t errlen);

/* The JSON Schema a planning agent's plan must satisfy (docs/JOBS.md):
 * {"tasks": [{"id", "instructions", "tools", "depends_on"}]} with at most
 * max_tasks entries. malloc'ed. */
char *planner_plan_schema(uint64_t max_tasks);

/* The built-in planner: the job's fan-out (items, lines of a file, files of a glob). */
const planner *planner_fanout(void);

/* Convenience: planner_fanout()->plan. Every task at once (tests, small jobs);
 * swarmd uses planner_open/planner_job_next. */
int planner_plan(const char *job_json, const char *base_dir, planner_job **out, char *err,
                 size_t errlen);
void planner_job_free(planner_job *job);

/* Check job_json and prepare its tasks: a fan-out job comes back chunked with
 * no task produced yet (lines: the file is open and its lines counted; glob:
 * the matching paths listed and sorted, no file read), any other job whole.
 * With PLANNER_ITEMS_STREAMED the job's fanout.items must be [] and
 * items_total items follow through planner_job_items (the budget and the
 * {item} rule are checked against items_total now). Blocking file I/O: call it
 * off the event loop. 0, or -1 with err naming the field. */
int planner_open(const char *job_json, const char *base_dir, unsigned flags, size_t items_total,
                 planner_job **out, char *err, size_t errlen);
/* The next chunk of a chunked job: at most max_tasks tasks and about
 * max_bytes of task input (one task always) in spec.tasks/n_tasks, valid until
 * the next call. Returns the count, 0 when every task was produced, -1 with
 * err (a file that vanished or changed since planner_open). Blocking file I/O. */
int planner_job_next(planner_job *j, size_t max_tasks, size_t max_bytes, char *err, size_t errlen);
/* A streamed job's next chunk of items: items_json is a JSON array of
 * strings (UTF-8, no NUL). Fills spec.tasks/n_tasks like planner_job_next.
 * Returns the count, or -1 with err naming the item ("items[3]: expected a
 * string") or the overflow past items_total. */
int planner_job_items(planner_job *j, const char *items_json, char *err, size_t errlen);

#endif
