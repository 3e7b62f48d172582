/* planner.h - turns a job file (JSON, docs/JOBS.md) into the job's sub-tasks.
 *
 * The planner is a seam: swarmd calls it through `planner`, so a model-driven
 * planner (goal -> sub-tasks decided by an agent) can replace the built-in
 * fan-out planner without touching the coordinator. */
#ifndef SWARM_PLANNER_H
#define SWARM_PLANNER_H

#include <stddef.h>

#include "scheduler.h"

#define PLANNER_MAX_FILE_BYTES (16 * 1024) /* glob fan-out: file contents per task, capped */

/* A planned job: spec (what the scheduler stores) and the storage it points into. */
typedef struct planner_job {
    sched_job_spec spec;
    char **strings; /* owned strings the spec points into */
    size_t n_strings, cap_strings;
} planner_job;

typedef struct planner {
    const char *name;
    /* Plan job_json (relative paths resolve against base_dir). 0, or -1 with
     * err naming the field, e.g. "fanout.glob: no files match ...". */
    int (*plan)(const struct planner *self, const char *job_json, const char *base_dir,
                planner_job **out, char *err, size_t errlen);
    void *state;
} planner;

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

/* Convenience: planner_fanout()->plan. */
int planner_plan(const char *job_json, const char *base_dir, planner_job **out, char *err,
                 size_t errlen);
void planner_job_free(planner_job *job);

#endif
