/* http.h - swarmd's HTTP side: dashboard, JSON API, server-sent events and
 * Prometheus metrics (libmicrohttpd), as swarmd's main sees it.
 *
 * MHD serves connections on threads of its own, while every piece of swarmd
 * state (the worker table, counters, the scheduler's Redis connection) lives
 * on the libuv loop. The two meet in one place: a request queue under a mutex
 * that the loop drains on a uv_async wake-up, answering each request through
 * a condition variable; events for the SSE stream flow the other way through
 * a ring under the same mutex. No MHD thread ever touches swarmd state.
 *
 * Everything here except swarmd_http_free runs on the loop thread. */
#ifndef SWARM_SWARMD_HTTP_H
#define SWARM_SWARMD_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct swarmd;
typedef struct swarmd_http swarmd_http;

/* Listen on addr ("PORT", "HOST:PORT", "[V6]:PORT"; host 127.0.0.1 when
 * omitted). token: when non-empty, /api/ and /metrics want
 * "Authorization: Bearer TOKEN" (the page itself is public). */
int swarmd_http_start(struct swarmd *d, const char *addr, const char *token, swarmd_http **out,
                      char *err, size_t errlen);
/* swarmd is stopping: waiting requests get 503, event streams end, MHD's
 * threads are joined. Call before the loop's handles are closed. */
void swarmd_http_stop(swarmd_http *h);
/* After the loop has run its last callbacks. NULL is fine. */
void swarmd_http_free(swarmd_http *h);

/* Taps on the worker endpoint: every message received from (after it was
 * handled) and sent to a worker. They feed live output, dispatch latency and
 * tokens/s; they never change what swarmd does. */
void swarmd_http_on_recv(swarmd_http *h, const uint8_t *id, size_t id_len,
                         const Swarm__Envelope *env);
void swarmd_http_on_send(swarmd_http *h, const uint8_t *id, size_t id_len,
                         const Swarm__Envelope *env);

/* Read a token file's first line into out (cap bytes); 0 or -1 with err. */
int swarmd_http_token_read(const char *path, char *out, size_t cap, char *err, size_t errlen);

#endif
