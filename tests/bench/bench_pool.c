/* bench_pool.c - what one parallel-for of the engine's thread pool costs, and
 * from which job size a second thread pays off.
 *
 * The forward pass runs every matvec, attention and expert loop through
 * rt_pool_for (runtime/threadpool.c). A small model issues many small jobs
 * per token, so the fixed cost of one rt_pool_for (waking the workers and
 * waiting for all of them) decides whether more threads help. This times
 * jobs of a known amount of pure compute (64 equal chunks) on 1 thread (the
 * function called directly) and through a pool of T threads, alternating in
 * rounds within one run, plus an empty job to show the bare overhead. Both
 * the best call and the median call are reported (lowest over the rounds):
 * on a loaded machine the median is what a forward pass sees.
 *
 * usage: bench_pool [--threads T] [--rounds N] [--json]
 * Exit 0 when every job computed the same result on both sides. */
#include "threadpool.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_CHUNKS 64

typedef struct {
    long iters;                   /* work per chunk */
    double out[BENCH_CHUNKS * 8]; /* one result per chunk, 64 bytes apart */
} bench_job;

static double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A dependent chain of float ops: pure compute, no memory traffic. */
static void bench_chunk(void *ctx, int64_t begin, int64_t end)
{
    bench_job *j = ctx;
    for (int64_t c = begin; c < end; c++) {
        double a = 1.0 + (double)c * 1e-3;
        for (long i = 0; i < j->iters; i++)
            a = a * 0.999999 + 1e-7;
        j->out[c * 8] = a;
    }
}

static double bench_sum(const bench_job *j)
{
    double s = 0.0;
    for (int c = 0; c < BENCH_CHUNKS; c++)
        s += j->out[c * 8];
    return s;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Best and median time of one job (64 chunks) over reps calls, direct or
 * pooled; times is scratch space for reps doubles. */
static void bench_time(rt_pool *pool, bench_job *j, int reps, double *times, double *best,
                       double *median)
{
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now_s();
        if (pool)
            rt_pool_for(pool, BENCH_CHUNKS, 1, bench_chunk, j);
        else
            bench_chunk(j, 0, BENCH_CHUNKS);
        times[r] = bench_now_s() - t0;
    }
    qsort(times, (size_t)reps, sizeof *times, bench_cmp_double);
    *best = times[0];
    *median = times[reps / 2];
}

int main(int argc, char **argv)
{
    long threads = 2, rounds = 5;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if ((strcmp(argv[i], "--threads") == 0 || strcmp(argv[i], "--rounds") == 0) &&
                   i + 1 < argc) {
            long v = strtol(argv[i + 1], &end, 10);
            if (*end || v < 1 || v > 256) {
                fprintf(stderr, "bench_pool: %s %s: want an integer in 1..256\n", argv[i],
                        argv[i + 1]);
                return 2;
            }
            *(strcmp(argv[i], "--threads") == 0 ? &threads : &rounds) = v;
            i++;
        } else {
            fprintf(stderr, "usage: bench_pool [--threads T] [--rounds N] [--json]\n");
            return 2;
        }
    }
    rt_pool *pool = NULL;
    if (rt_pool_new((int)threads, &pool) != 0) {
        fprintf(stderr, "bench_pool: cannot start a pool of %ld threads\n", threads);
        return 1;
    }
    bench_job *job = calloc(1, sizeof *job);
    if (!job) {
        rt_pool_free(pool);
        fprintf(stderr, "bench_pool: out of memory\n");
        return 1;
    }
    double *times = malloc(sizeof(double) * 2000);
    if (!times) {
        free(job);
        rt_pool_free(pool);
        fprintf(stderr, "bench_pool: out of memory\n");
        return 1;
    }
    /* calibrate the chain's speed; the table reports the measured 1-thread
     * time anyway, the targets only spread the job sizes */
    double cal_best, cal_med;
    job->iters = 20000;
    bench_time(NULL, job, 20, times, &cal_best, &cal_med);
    double iters_per_us = (double)job->iters * BENCH_CHUNKS / (cal_best * 1e6);
    static const double target_us[] = {0, 16, 64, 256, 1024, 4096};
    int bad = 0;
    if (!json)
        printf("rt_pool_for, %d chunks per job, pool of %d threads vs 1 thread direct, "
               "%ld alternating rounds (best; median of the calls)\n"
               "%12s %12s %10s | %12s %12s %10s\n",
               BENCH_CHUNKS, rt_pool_size(pool), rounds, "1t best us", "pool best us", "speedup",
               "1t med us", "pool med us", "speedup");
    for (size_t k = 0; k < sizeof target_us / sizeof target_us[0]; k++) {
        job->iters = (long)(target_us[k] * iters_per_us / BENCH_CHUNKS);
        int reps = target_us[k] < 100 ? 2000 : target_us[k] < 2000 ? 200 : 40;
        double b1 = 1e30, bp = 1e30, m1 = 1e30, mp = 1e30;
        for (long r = 0; r < rounds; r++) {
            double b, m;
            bench_time(NULL, job, reps, times, &b, &m);
            double s1 = bench_sum(job);
            if (b < b1) b1 = b;
            if (m < m1) m1 = m;
            bench_time(pool, job, reps, times, &b, &m);
            if (bench_sum(job) != s1) bad++;
            if (b < bp) bp = b;
            if (m < mp) mp = m;
        }
        if (json)
            printf("{\"bench\":\"pool\",\"threads\":%d,\"direct_best_us\":%.3f,"
                   "\"pool_best_us\":%.3f,\"speedup_best\":%.3f,\"direct_median_us\":%.3f,"
                   "\"pool_median_us\":%.3f,\"speedup_median\":%.3f}\n",
                   rt_pool_size(pool), b1 * 1e6, bp * 1e6, b1 / bp, m1 * 1e6, mp * 1e6, m1 / mp);
        else
            printf("%12.2f %12.2f %9.2fx | %12.2f %12.2f %9.2fx\n", b1 * 1e6, bp * 1e6, b1 / bp,
                   m1 * 1e6, mp * 1e6, m1 / mp);
        fflush(stdout);
    }
    free(times);
    free(job);
    rt_pool_free(pool);
    if (bad) fprintf(stderr, "bench_pool: %d pooled jobs computed a different result\n", bad);
    return bad ? 1 : 0;
}
