/* threadpool.h - private: the engine's fixed pthread pool and its
 * parallel-for (runtime/threadpool.c). A model owns one pool; the forward
 * pass splits matvec rows, attention heads and experts over it. */
#ifndef SWARM_RT_THREADPOOL_H
#define SWARM_RT_THREADPOOL_H

#include <stdint.h>

typedef struct rt_pool rt_pool;

/* Parallel-for over [0, n): fn(ctx, begin, end) is called on disjoint ranges. */
typedef void (*rt_pool_fn)(void *ctx, int64_t begin, int64_t end);
/* n_threads counts the caller; 0 = all online cores. */
int rt_pool_new(int n_threads, rt_pool **out);
void rt_pool_free(rt_pool *p);
int rt_pool_size(const rt_pool *p);
/* Runs fn over [0, n) in chunks of at least min_chunk, on the caller and the
 * pool's threads; returns when every chunk is done. */
void rt_pool_for(rt_pool *p, int64_t n, int64_t min_chunk, rt_pool_fn fn, void *ctx);

#endif
