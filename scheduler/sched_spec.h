/* sched_spec.h - what a job is made of before it is stored: the job and task
 * specs the planner fills and sched_job_submit / sched_job_stage write.
 *
 * Plain C types with no Redis or libuv in sight, so the planner (and its
 * tests) use them without linking the scheduler (library swarm_sched_spec,
 * header only). */
#ifndef SWARM_SCHED_SPEC_H
#define SWARM_SCHED_SPEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct sched_task_spec {
    const char *instructions;
    const char *item;  /* short label (the item, line, or file path) */
    const char *input; /* what replaces {item}: text, line, or path + contents */
} sched_task_spec;

typedef struct sched_job_spec {
    const char *name, *goal, *merge; /* merge: "concat" | "json" */
    uint32_t max_tokens, max_attempts, max_subtasks, wall_time_s;
    double temperature;
    uint64_t seed;
    size_t n_tasks;
    sched_task_spec *tasks; /* ids are t0000, t0001, ... in this order */
    const char *agent_json; /* NULL/"": plain generations; else the agent spec (docs/AGENTS.md) */
    /* Task DAG (lua/submit.lua): NULL/"" = every task ready at once, else
     * "<task>=<dep>,<dep>;..." by task id; a task waits for its dependencies
     * and is skipped when one fails. An unknown id or a cycle refuses the job. */
    const char *dag;
    uint32_t max_depth;      /* spawn depth allowed below a submitted task (0: 3) */
    uint64_t max_job_tokens; /* spawn refused once the job's tasks used this many (0: no cap) */
    const char *reducer;     /* merge "agent": the reducer task's id, its output is the answer */
    /* "plan": "model": t0000 is the planning task; its answer, checked against
     * this JSON Schema, becomes the job's tasks (lua/lib.lua plan_expand) */
    const char *plan_schema;
} sched_job_spec;

/* Task id of the i-th task ("t0000"); buf >= 16 bytes. Ids are the fan-out
 * order, so whoever writes task i names it alone (a chunk needs no context). */
static inline void sched_task_id(size_t i, char *buf, size_t len)
{
    snprintf(buf, len, "t%04zu", i);
}

#endif
