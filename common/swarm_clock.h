/* swarm_clock.h - the monotonic clock for timeouts, deadlines and durations
 * (never the wall clock, which jumps when the time is set), and the one wall
 * clock reader for times that are stored or shown (epoch ms). libc only. */
#ifndef SWARM_CLOCK_H
#define SWARM_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC. */
static inline uint64_t swarm_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Seconds on CLOCK_MONOTONIC, for benchmarks and rates. */
static inline double swarm_clock_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Milliseconds since the Unix epoch (CLOCK_REALTIME): only for times that
 * are stored, compared across processes or shown - never for a duration. */
static inline uint64_t swarm_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif
