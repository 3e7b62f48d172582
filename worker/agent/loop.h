/* loop.h - the agent loop: a sub-task becomes a tool-using agent.
 *
 * Each step the model sees the conversation (system prompt, task, earlier
 * calls and observations) with the registry's tool definitions and answers
 * with tool calls or a final answer; the model side (agent_model) is any
 * backend: the embedded engine renders the conversation in the model's own
 * chat template and constrains the reply with the family's tool grammar, so
 * it always parses; the HTTP backend asks an OpenAI-compatible server; the
 * replay backend plays a recorded trajectory. The loop runs each call
 * through the registry (schema check, journal, audit), appends the
 * observation (capped), compacts old turns when the conversation nears the
 * model's context, and stops at a final answer or a budget: steps, tokens,
 * wall time counted from the sub-task's first start (a resumed agent keeps
 * its original start).
 *
 * After every step the loop hands its caller a transcript record (one JSON
 * line) and a checkpoint (JSON: conversation, counters, journal) that
 * agent_loop_run accepts back to resume after the last finished step:
 * steps are not repeated and side-effect tools found in the journal are not
 * executed again. */
#ifndef SWARM_AGENT_LOOP_H
#define SWARM_AGENT_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "rt.h"

/* One model reply: tool calls (calls[i] fields malloc'ed, freed with
 * rt_tool_calls_free) and/or text (the final answer when there are no
 * calls). */
typedef struct {
    char *content;
    rt_tool_call *calls;
    size_t n_calls;
    uint32_t tokens; /* generated for this reply */
} agent_reply;

void agent_reply_free(agent_reply *r);

typedef struct {
    const rt_chat_msg *msgs;
    size_t n_msgs;
    const rt_tool_def *tools;
    size_t n_tools;
    rt_tool_choice choice; /* REQUIRED on a first tool step, NONE on the last step */
    uint32_t max_tokens;   /* for this reply */
    uint32_t step;         /* 1-based */
    const char *task_id;   /* the replay backend looks its trajectory up by it */
    /* A streaming backend (http) reports the reply while it is written: the
     * tokens and text so far (the worker turns them into Progress). NULL:
     * nobody listens. */
    void (*on_partial)(void *ud, uint32_t tokens, const char *text, size_t len);
    void *partial_ud;
} agent_model_req;

/* agent_model.complete return values besides 0 and negative errors. */
enum {
    AGENT_MODEL_PAUSED = 1,   /* rate limit, quota, auth, server error: err says why; retry later */
    AGENT_MODEL_CTX_FULL = 2, /* the conversation does not fit: compact and retry */
};

typedef struct {
    void *ctx;
    /* Fills *out. On AGENT_MODEL_PAUSED *retry_after_ms is the server's
     * Retry-After (0 when it gave none). */
    int (*complete)(void *ctx, const agent_model_req *req, agent_reply *out,
                    uint64_t *retry_after_ms, char *err, size_t errlen);
    size_t ctx_chars; /* conversation size (bytes) at which old turns are compacted; 0 = 48 KiB */
} agent_model;

typedef struct {
    uint32_t max_steps;       /* 0 = 16 */
    uint64_t max_tokens;      /* generated tokens over all steps; 0 = no limit */
    uint32_t step_tokens;     /* tokens per reply; 0 = 256 */
    uint64_t wall_ms;         /* 0 = no limit */
    size_t observation_bytes; /* observation kept in the conversation; 0 = 4096 */
    int first_step_tool;      /* the first step must call a tool */
} agent_budget;

/* What the loop reports after each step. Return non-zero to stop (cancel). */
typedef struct {
    void *ud;
    /* record: the step's transcript line (JSON, no newline); checkpoint:
     * JSON to resume from after this step. tool: the first call's name, or
     * "" for a final answer. */
    int (*on_step)(void *ud, uint32_t step, const char *tool, uint64_t tokens, const char *record,
                   const char *checkpoint);
    /* A side-effect tool just ran inside a step: checkpoint as of the last
     * finished step plus the updated journal, so a worker lost before the
     * step ends re-runs the step without repeating the side effect. */
    void (*on_journal)(void *ud, const char *checkpoint);
    /* A side-effect tool is about to run: checkpoint as of the last finished
     * step plus the journal holding its key as pending. Return 0 only once
     * it is stored (a resumed agent then finds the intent and does not run
     * the tool blind); non-zero refuses the call. NULL: no intent. */
    int (*on_intent)(void *ud, const char *checkpoint, char *err, size_t errlen);
    /* The model paused (reason) and is retried in retry_ms; return non-zero to stop. */
    int (*on_pause)(void *ud, const char *reason, uint64_t retry_ms);
    /* Polled while paused and between steps; non-zero stops. */
    int (*cancelled)(void *ud);
} agent_hooks;

typedef struct {
    const char *system_prompt;
    const char *task; /* the user message */
    const char *task_id;
    agent_registry *registry;
    agent_env *env; /* env->journal must be set for resume protection */
    agent_model model;
    agent_budget budget;
    agent_hooks hooks;
    const char *checkpoint; /* NULL or "": fresh start */
    uint64_t now_ms;        /* unix epoch ms at this (re)start; 0 = clock */
} agent_loop_cfg;

typedef struct {
    char *answer; /* malloc'ed final answer */
    uint32_t steps, tool_calls;
    uint64_t tokens;
    uint32_t resumed_from; /* step the checkpoint had finished (0 = fresh) */
    int stopped;           /* cancelled through hooks */
} agent_loop_result;

/* 0: a final answer; 1: stopped by a hook; negative: error (err says which
 * budget ran out or what failed; res holds the counters so far). */
int agent_loop_run(const agent_loop_cfg *cfg, agent_loop_result *res, char *err, size_t errlen);
void agent_loop_result_free(agent_loop_result *res);

#endif
