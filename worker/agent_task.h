/* agent_task.h - runs one agent sub-task (an Assign with agent_json) on a
 * worker slot: builds the workspace, tool registry, sandbox and MCP servers
 * from the job's agent spec, drives the agent loop on the slot's backend and
 * streams one Progress per step (transcript line + checkpoint) to swarmd. */
#ifndef SWARM_WORKER_AGENT_TASK_H
#define SWARM_WORKER_AGENT_TASK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "swarm.pb-c.h"

typedef struct {
    wb_slot *slot;
    const char *worker_id;
    void *push; /* where Progress envelopes go (the slot's inproc PUSH) */
    const Swarm__Assign *assign;
    const atomic_int *cancel;
    /* Sends req to swarmd (correlation id set here) and waits for its answer
     * (*reply, free with wire_free): an agent's job-wide notes. NULL: notes
     * stay in this sub-task's memory. */
    int (*request)(void *ud, Swarm__Envelope *req, Swarm__Envelope **reply, int timeout_ms,
                   char *err, size_t errlen);
    void *request_ud;
} worker_agent_ctx;

typedef struct {
    char *output; /* malloc'ed final answer */
    uint32_t tokens, steps, tool_calls;
} worker_agent_out;

/* 0 done, 1 cancelled, negative failed (err says why; out holds the counts). */
int worker_agent_execute(const worker_agent_ctx *c, worker_agent_out *out, char *err,
                         size_t errlen);

#endif
