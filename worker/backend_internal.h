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
} wb_ops;

extern const wb_ops wb_embedded_ops;
extern const wb_ops wb_sim_ops;

#endif
