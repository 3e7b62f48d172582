/* sched_int.h - internals shared by the scheduler's .c files (not installed). */
#ifndef SWARM_SCHED_INT_H
#define SWARM_SCHED_INT_H

#include <hiredis/hiredis.h>

#include "scheduler.h"

/* Reply accessors that accept both Lua integers and strings. */
const char *sched_reply_str(const redisReply *r);
long long sched_reply_ll(const redisReply *r);

/* Build the merged result JSON (docs/JOBS.md) from a collect.lua reply.
 * *json is malloc'd; *state is "done", "failed" or "cancelled" (static). */
int sched_merge_build(const redisReply *collect, const char *job_id, char **json,
                      const char **state, char *err, size_t errlen);

#endif
