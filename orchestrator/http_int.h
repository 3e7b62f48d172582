/* http_int.h - internals shared by http.c (the MHD threads' side) and
 * http_loop.c (the libuv loop's side) of swarmd's HTTP server.
 *
 * Invariant: fields under "mu" are touched only with mu held; fields marked
 * "loop" only on the loop thread; MHD threads read nothing else. */
#ifndef SWARM_SWARMD_HTTP_INT_H
#define SWARM_SWARMD_HTTP_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "http.h"

#define HTTP_RING_CAP 4096        /* SSE events kept for slow readers */
#define HTTP_REQ_TIMEOUT_MS 10000 /* a request the loop has not answered by then gets 503 */
#define HTTP_SWEEP_MS 500         /* event sweep and tokens/s window tick */
#define HTTP_SWEEP_JOBS 16        /* jobs whose tasks one sweep diffs */

typedef enum {
    HTTP_REQ_JOBS,
    HTTP_REQ_JOB,
    HTTP_REQ_WORKERS,
    HTTP_REQ_CANCEL,
    HTTP_REQ_METRICS,
} http_req_kind;

/* One API request handed from an MHD thread to the loop. Two owners (the
 * waiting MHD thread and the loop); whoever drops the last ref frees it. */
typedef struct http_req {
    struct http_req *next; /* mu: the queue */
    swarmd_http *h;
    http_req_kind kind;
    char job_id[64];
    int refs;        /* mu */
    bool done;       /* mu */
    unsigned status; /* mu, once done */
    const char *ctype;
    char *body;     /* mu, once done: malloc'd */
    uint64_t t0_ms; /* loop: when its Redis call left */
} http_req;

typedef struct http_loop http_loop; /* loop-side state (http_loop.c) */

struct swarmd_http {
    struct swarmd *d;
    struct MHD_Daemon *mhd;
    char token[256]; /* "" = no auth */
    char where[160]; /* "http://HOST:PORT" for the log */

    pthread_mutex_t mu;
    pthread_cond_t cv;         /* a request finished, an event arrived, or closing */
    bool closing;              /* mu */
    http_req *q_head, *q_tail; /* mu */
    char *ring[HTTP_RING_CAP]; /* mu: event i lives at ring[i % CAP] */
    uint64_t seq_next;         /* mu: sequence number of the next event */
    int subscribers;           /* mu: open SSE streams */

    uv_async_t async; /* loop: woken when the queue got a request */
    uv_timer_t timer; /* loop: the sweep */
    bool handles;     /* loop: async and timer initialised */
    http_loop *lp;    /* loop */
};

/* http.c, any thread */
void http_req_finish(http_req *r, unsigned status, const char *ctype, char *body);
void http_req_error(http_req *r, unsigned status, const char *msg);
/* Append one SSE event (name, one-line JSON); dropped when nobody listens. */
void http_event_push(swarmd_http *h, const char *name, const char *json);
int http_subscribers(swarmd_http *h);

/* http_loop.c, loop thread */
int http_loop_init(swarmd_http *h, char *err, size_t errlen);
void http_loop_free(swarmd_http *h);
void http_loop_async_cb(uv_async_t *a);
void http_loop_timer_cb(uv_timer_t *t);
/* Pending requests of the loop side: answered 503 (swarmd stops). */
void http_loop_stop(swarmd_http *h);

/* web_assets.c, generated from orchestrator/web/ at build time */
typedef struct swarmd_web_asset {
    const char *path, *ctype;
    const unsigned char *data;
    size_t len;
} swarmd_web_asset;
extern const swarmd_web_asset swarmd_web_assets[];
extern const size_t swarmd_web_assets_count;

#endif
