/* threadpool.c - a small fixed pthread pool for the forward pass's
 * parallel-for (matvec rows, attention heads, experts).
 *
 * One job at a time: the caller publishes (fn, ctx, n), every thread -
 * the caller included - claims chunks from an atomic counter tagged with the
 * job's generation, and the caller returns as soon as every chunk is
 * finished (it does not wait for sleeping workers to wake and check in). A model owns one pool;
 * sessions of the same model must not run their forward passes concurrently on it, so the pool
 * serialises callers with its own lock. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "threadpool.h"

/* One published job. Workers copy it under the mutex, so a worker that wakes
 * late reads one whole job, never a mix of two. */
typedef struct {
    rt_pool_fn fn;
    void *ctx;
    int64_t n, chunk, n_chunks;
    uint32_t gen;
} pool_job;

struct rt_pool {
    int n_threads; /* including the caller */
    pthread_t *threads;
    pthread_mutex_t run_lock; /* one job at a time */
    pthread_mutex_t mu;
    pthread_cond_t cv_start, cv_done;
    uint64_t generation;
    bool stop;
    pool_job job; /* the current job, under mu */
    /* (generation << 32) | next chunk index. Claiming a chunk is a CAS that
     * also checks the generation, so a late worker still holding an older
     * job can never take (and lose) a chunk of the next one. */
    _Atomic uint64_t claim;
    /* chunks of the current job finished; the caller returns when it reaches
     * n_chunks, whether or not the workers ever woke up */
    atomic_int_fast64_t done;
};

/* Runs chunks of job *j until none is left; returns how many it ran. */
static int64_t pool_work(rt_pool *p, const pool_job *j)
{
    int64_t ran = 0;
    uint64_t cur = atomic_load_explicit(&p->claim, memory_order_relaxed);
    for (;;) {
        if ((uint32_t)(cur >> 32) != j->gen) break;
        const int64_t c = (int64_t)(cur & 0xffffffffu);
        if (c >= j->n_chunks) break;
        if (!atomic_compare_exchange_weak_explicit(&p->claim, &cur, cur + 1, memory_order_acquire,
                                                   memory_order_relaxed))
            continue;
        const int64_t b = c * j->chunk;
        const int64_t e = b + j->chunk < j->n ? b + j->chunk : j->n;
        j->fn(j->ctx, b, e);
        ran++;
        /* release: the chunk's writes are visible to whoever sees the count */
        if (atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel) + 1 == j->n_chunks) {
            /* last chunk: wake the caller if it went to sleep. Taking mu
             * orders this against the caller's check-then-wait. */
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
        cur = atomic_load_explicit(&p->claim, memory_order_relaxed);
    }
    return ran;
}

static void *pool_main(void *arg)
{
    rt_pool *p = arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->generation == seen)
            pthread_cond_wait(&p->cv_start, &p->mu);
        if (p->stop) break;
        seen = p->generation;
        const pool_job j = p->job;
        pthread_mutex_unlock(&p->mu);
        pool_work(p, &j);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int rt_pool_new(int n_threads, rt_pool **out)
{
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)c : 1;
    }
    if (n_threads > 256) n_threads = 256;
    rt_pool *p = calloc(1, sizeof *p);
    if (!p) return -1;
    p->n_threads = n_threads;
    pthread_mutex_init(&p->run_lock, NULL);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_start, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    atomic_init(&p->claim, 0);
    atomic_init(&p->done, 0);
    if (n_threads > 1) {
        p->threads = calloc((size_t)n_threads - 1, sizeof *p->threads);
        if (!p->threads) {
            free(p);
            return -1;
        }
        for (int i = 0; i < n_threads - 1; i++) {
            if (pthread_create(&p->threads[i], NULL, pool_main, p) != 0) {
                p->n_threads = i + 1; /* run with what we got */
                break;
            }
        }
    }
    *out = p;
    return 0;
}

void rt_pool_free(rt_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv_start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads - 1; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    pthread_mutex_destroy(&p->run_lock);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_start);
    pthread_cond_destroy(&p->cv_done);
    free(p);
}

int rt_pool_size(const rt_pool *p)
{
    return p ? p->n_threads : 1;
}

void rt_pool_for(rt_pool *p, int64_t n, int64_t min_chunk, rt_pool_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (min_chunk < 1) min_chunk = 1;
    if (!p || p->n_threads <= 1 || n <= min_chunk) {
        fn(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&p->run_lock);
    int64_t chunk = n / ((int64_t)p->n_threads * 4);
    if (chunk < min_chunk) chunk = min_chunk;
    if ((n + chunk - 1) / chunk > (int64_t)0x7fffffff) chunk = n / 0x7fffffff + 1;
    pthread_mutex_lock(&p->mu);
    p->generation++;
    pool_job j = {.fn = fn,
                  .ctx = ctx,
                  .n = n,
                  .chunk = chunk,
                  .n_chunks = (n + chunk - 1) / chunk,
                  .gen = (uint32_t)p->generation};
    p->job = j;
    atomic_store(&p->done, 0);
    atomic_store(&p->claim, (uint64_t)j.gen << 32);
    pthread_cond_broadcast(&p->cv_start);
    pthread_mutex_unlock(&p->mu);
    pool_work(p, &j);
    /* Wait for the chunks to be finished, not for the workers to check in:
     * when the caller ran them all, this returns at once. A short spin
     * covers a worker finishing its last chunk; then sleep. */
    for (int spin = 0; spin < 2000; spin++) {
        if (atomic_load_explicit(&p->done, memory_order_acquire) == j.n_chunks) goto out;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->done, memory_order_acquire) != j.n_chunks)
        pthread_cond_wait(&p->cv_done, &p->mu);
    pthread_mutex_unlock(&p->mu);
out:
    pthread_mutex_unlock(&p->run_lock);
}
