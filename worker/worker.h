/* worker.h - the swarm-worker process as a library: connect to swarmd, take
 * sub-tasks by credit and run each on one of K agent slots.
 *
 * Threads: only the calling (main) thread touches the DEALER socket to
 * swarmd. It queues Assigns under one mutex; each slot thread takes the next
 * one itself, runs it on its own backend slot and puts the Result on a done
 * list that wakes the main thread once per drain (an eventfd), which sends
 * what is ready as one ResultBatch to a swarmd that speaks batches. An agent
 * task's Progress and requests go through the slot's inproc PUSH. */
#ifndef SWARM_WORKER_H
#define SWARM_WORKER_H

#include <signal.h>
#include <stddef.h>

typedef struct {
    const char *connect;               /* swarmd worker endpoint */
    const char *model;                 /* GGUF path (embedded engine) */
    const char *engine;                /* "embedded" (default), "http", "sim" or "replay" */
    const char *id;                    /* worker id; NULL = w-<host>-<pid> */
    int slots;                         /* agent slots (>= 1) */
    int threads;                       /* engine threads, 0 = runtime default */
    int heartbeat_ms;                  /* until swarmd says otherwise */
    const volatile sig_atomic_t *stop; /* set by a signal handler to leave cleanly */
    /* engine http: an OpenAI-compatible server; engine replay: a trajectory */
    const char *http_url, *http_model, *api_key;
    const char *replay;
    /* CURVE for a tcp:// --connect (proto/curve.h): swarmd's public key file,
     * this worker's keypair file; insecure = plain TCP, by request only */
    const char *server_key, *key;
    int insecure;
} worker_config;

/* Runs until *cfg->stop is set. Returns 0 on a clean stop, -1 with err set
 * when the worker cannot start (model does not load, bad endpoint...). */
int worker_run(const worker_config *cfg, char *err, size_t errlen);

#endif
