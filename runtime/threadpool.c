/* threadpool.c - a small fixed pthread pool for the forward pass's
 * parallel-for (matvec rows, attention heads, experts).
 *
 * One job at a time: the caller publishes (fn, ctx, n), every thread -
 * the caller included - claims chunks from an atomic counter tagged with the
 * job's generation, and the caller returns as soon as every chunk is
 * finished (it does not wait for sleeping workers to wake and check in). A model owns one pool;
 * sessions of the same model must not run their forward passes concurrently on it, so the pool
 * serialises callers with its own lock.
 *
 * Why workers spin before sleeping: a decode step issues a few jobs per
 * layer separated by microseconds of serial work (norms, routing), and
 * waking a sleeping thread through a condition variable costs tens of
 * microseconds (more under a hypervisor), during which only the caller
 * streams weights. So a worker that finished a job polls for the next one
 * for a bounded time (SWARM_POOL_SPIN_US, default 200 us; 0 = always sleep)
 * and only then sleeps; the caller signals the condition variable only when
 * some worker actually sleeps. The bound keeps an idle engine, or one on an
 * oversubscribed machine, from burning a core. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
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
    /* written under mu, read without it by spinning workers */
    _Atomic uint64_t generation;
    atomic_bool stop;
    int sleepers;    /* workers waiting on cv_start, under mu */
    int64_t spin_ns; /* how long a worker polls for the next job */
    pool_job job;    /* the current job, under mu */
    /* (generation << 32) | next chunk index. Claiming a chunk is a CAS that
     * also checks the generation, so a late worker still holding an older
     * job can never take (and lose) a chunk of the next one. */
    _Atomic uint64_t claim;
    /* chunks of the current job finished; the caller returns when it reaches
     * n_chunks, whether or not the workers ever woke up */
    atomic_int_fast64_t done;
    /* SWARM_POOL_STATS=1: counters printed to stderr when the pool is freed
     * (a profiler for the forward pass's threading, under run_lock) */
    bool stats;
    int64_t st_jobs, st_par_ns, st_wait_ns, st_serial_ns, st_last_end;
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

static int64_t pool_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void pool_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Polls up to p->spin_ns for a generation other than seen (or stop). */
static void pool_spin(rt_pool *p, uint64_t seen)
{
    if (p->spin_ns <= 0) return;
    const int64_t until = pool_now_ns() + p->spin_ns;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(&p->generation, memory_order_acquire) != seen ||
            atomic_load_explicit(&p->stop, memory_order_relaxed))
            return;
        pool_relax();
        if ((i & 63) == 0 && pool_now_ns() > until) return;
    }
}

static void *pool_main(void *arg)
{
    rt_pool *p = arg;
    uint64_t seen = 0;
    for (;;) {
        pool_spin(p, seen);
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->generation == seen) {
            p->sleepers++;
            pthread_cond_wait(&p->cv_start, &p->mu);
            p->sleepers--;
        }
        if (p->stop) break;
        seen = p->generation;
        const pool_job j = p->job;
        pthread_mutex_unlock(&p->mu);
        pool_work(p, &j);
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
    p->spin_ns = 200000;
    const char *spin = getenv("SWARM_POOL_SPIN_US");
    if (spin && *spin) {
        char *end;
        long us = strtol(spin, &end, 10);
        if (!*end && us >= 0 && us <= 1000000) p->spin_ns = (int64_t)us * 1000;
    }
    const char *st = getenv("SWARM_POOL_STATS");
    p->stats = st && *st && *st != '0';
    atomic_init(&p->generation, 0);
    atomic_init(&p->stop, false);
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
    if (p->stats && p->st_jobs)
        fprintf(stderr,
                "pool: %lld jobs on %d threads, %.1f ms in jobs (%.2f us each), caller waited "
                "%.1f ms for the other threads, %.1f ms alone between jobs\n",
                (long long)p->st_jobs, p->n_threads, (double)p->st_par_ns / 1e6,
                (double)p->st_par_ns / 1e3 / (double)p->st_jobs, (double)p->st_wait_ns / 1e6,
                (double)p->st_serial_ns / 1e6);
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
    /* about 8 chunks per thread: the last chunk each thread runs is short, so
     * the threads reach the end of a job close together */
    int64_t chunk = n / ((int64_t)p->n_threads * 8);
    if (chunk < min_chunk) chunk = min_chunk;
    if ((n + chunk - 1) / chunk > (int64_t)0x7fffffff) chunk = n / 0x7fffffff + 1;
    const int64_t t_start = p->stats ? pool_now_ns() : 0;
    pthread_mutex_lock(&p->mu);
    const uint64_t gen = atomic_load_explicit(&p->generation, memory_order_relaxed) + 1;
    pool_job j = {.fn = fn,
                  .ctx = ctx,
                  .n = n,
                  .chunk = chunk,
                  .n_chunks = (n + chunk - 1) / chunk,
                  .gen = (uint32_t)gen};
    p->job = j;
    atomic_store(&p->done, 0);
    atomic_store(&p->claim, (uint64_t)j.gen << 32);
    /* release: a spinning worker that sees the new generation then takes mu
     * and copies the whole job */
    atomic_store_explicit(&p->generation, gen, memory_order_release);
    if (p->sleepers > 0) pthread_cond_broadcast(&p->cv_start);
    pthread_mutex_unlock(&p->mu);
    pool_work(p, &j);
    const int64_t t_own = p->stats ? pool_now_ns() : 0;
    /* Wait for the chunks to be finished, not for the workers to check in:
     * when the caller ran them all, this returns at once. A short spin
     * covers a worker finishing its last chunk; then sleep. */
    for (int spin = 0; spin < 2000; spin++) {
        if (atomic_load_explicit(&p->done, memory_order_acquire) == j.n_chunks) goto out;
        pool_relax();
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->done, memory_order_acquire) != j.n_chunks)
        pthread_cond_wait(&p->cv_done, &p->mu);
    pthread_mutex_unlock(&p->mu);
out:
    if (p->stats) {
        const int64_t t_end = pool_now_ns();
        p->st_jobs++;
        p->st_par_ns += t_end - t_start;
        p->st_wait_ns += t_end - t_own;
        /* the caller alone between two jobs (gaps over 1 ms are idle time
         * or another phase, not the forward pass's serial work) */
        if (p->st_last_end && t_start - p->st_last_end < 1000000)
            p->st_serial_ns += t_start - p->st_last_end;
        p->st_last_end = t_end;
    }
    pthread_mutex_unlock(&p->run_lock);
}
