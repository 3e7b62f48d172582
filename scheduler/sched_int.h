/* sched_int.h - internals shared by the scheduler's .c files (not installed). */
#ifndef SWARM_SCHED_INT_H
#define SWARM_SCHED_INT_H

#include <hiredis/hiredis.h>

#include "scheduler.h"

/* Reply accessors that accept both Lua integers and strings. */
const char *sched_reply_str(const redisReply *r);
long long sched_reply_ll(const redisReply *r);

/* The merged result JSON (docs/JOBS.md), built a page of tasks at a time
 * (sched_merge.c). open takes collect.lua's first reply (element 0: the job
 * hash); page turns a reply's tasks into this page's fragments (which = 0
 * results, 1 failed_tasks, 2 merged; cleared by sched_merge_clear once sent);
 * close gives the pieces finish.lua joins: head R mid1 F mid2 M tail. *state
 * is "done", "failed" or "cancelled" (static); the pieces are malloc'd. */
typedef struct sched_merge_acc sched_merge_acc;
int sched_merge_open(sched_merge_acc **out, const char *job_id, const redisReply *collect,
                     char *err, size_t errlen);
int sched_merge_page(sched_merge_acc *a, const redisReply *collect, size_t *n_tasks, char *err,
                     size_t errlen);
const char *sched_merge_fragment(sched_merge_acc *a, int which, size_t *len);
void sched_merge_clear(sched_merge_acc *a);
int sched_merge_close(sched_merge_acc *a, char **head, char **mid1, char **mid2, char **tail,
                      const char **state, char *err, size_t errlen);
void sched_merge_free(sched_merge_acc *a);
/* What the status of a merged job says besides its result: the merged tasks'
 * counts and the job's name and creation (collect_page's fields). */
typedef struct sched_merge_sum {
    const char *name; /* valid while a is */
    unsigned total, done, failed, cancelled;
    uint64_t created_ms;
    bool agent; /* an agent job: its status also names the sandbox */
} sched_merge_sum;
void sched_merge_summary(const sched_merge_acc *a, sched_merge_sum *sum);

#endif
