/* backend_internal.h - the table each worker backend kind fills in. */
#ifndef SWARM_WORKER_BACKEND_INTERNAL_H
#define SWARM_WORKER_BACKEND_INTERNAL_H

#include "backend.h"

typedef struct {
    const char *kind;
    int (*open)(const char *model_path, int threads, void **impl, char **model_name, char *err,
                size_t errlen);
    void (*close)(void *impl);
    int (*slot_new)(void *impl, void **slot, char *err, size_t errlen);
    void (*slot_free)(void *slot);
    int (*run)(void *slot, const wb_task *t, wb_progress_fn progress, void *ud, char **output,
               uint32_t *tokens, char *err, size_t errlen);
    /* Optional (appended): open with wb_backend_opts (used instead of open
     * when set), one agent step, and the conversation size to compact at. */
    int (*open_opts)(const char *model_path, int threads, const wb_backend_opts *o, void **impl,
                     char **model_name, char *err, size_t errlen);
    int (*chat)(void *slot, const agent_model_req *req, float temperature, uint64_t seed,
                agent_reply *out, uint64_t *retry_after_ms, char *err, size_t errlen);
    size_t (*ctx_chars)(void *slot);
    /* Optional (appended): the shared prefix cache's counters; 0 when filled. */
    int (*cache_stats)(void *impl, wb_cache_stats *st);
} wb_ops;

extern const wb_ops wb_embedded_ops;
extern const wb_ops wb_sim_ops;
extern const wb_ops wb_http_ops;
extern const wb_ops wb_replay_ops;

#endif
