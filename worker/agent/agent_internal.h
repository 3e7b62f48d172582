/* agent_internal.h - helpers shared by the agent library's files (not API). */
#ifndef SWARM_AGENT_INTERNAL_H
#define SWARM_AGENT_INTERNAL_H

#include "agent.h"

#include <stdarg.h>

#define AGENT_OBS_CAP_DEFAULT (64 * 1024)

/* Sets res->status and a formatted observation; returns status. */
int agent_res_fail(agent_result *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Takes ownership of text (malloc'ed) as the observation; status 0. */
int agent_res_ok(agent_result *res, char *text);

/* Growable string for observations: appends stop at cap and set truncated. */
typedef struct {
    char *buf;
    size_t len, cap_alloc, limit;
    int truncated, oom;
} agent_sbuf;

void agent_sbuf_init(agent_sbuf *b, size_t limit);
void agent_sbuf_add(agent_sbuf *b, const char *s, size_t n);
void agent_sbuf_printf(agent_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the malloc'ed string (never NULL unless out of memory). */
char *agent_sbuf_take(agent_sbuf *b);

/* Argument accessors: the schema check has already run. */
const char *agent_arg_str(const cJSON *args, const char *key, const char *dflt);
long agent_arg_int(const cJSON *args, const char *key, long dflt);
int agent_arg_bool(const cJSON *args, const char *key, int dflt);

size_t agent_env_cap(const agent_env *env);

int agent_tools_fs_register(agent_registry *r, char *err, size_t errlen);
int agent_tools_exec_register(agent_registry *r, char *err, size_t errlen);

#endif
