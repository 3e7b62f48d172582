/* sched_fixture.h - the test kit's harness for the scheduler's async API: a
 * sched_t on a libuv loop against a redis_fixture, the last callback's result,
 * the callbacks most calls need, and SCHED_SYNC, which issues a call and runs
 * the loop until its callback came. Make sched_fixture the FIRST member of a
 * test's own context so the shared callbacks and the test's own ones can take
 * the same `ud`. Used by tests/scheduler and tests/dag (each had a copy). */
#ifndef SWARM_TEST_SCHED_FIXTURE_H
#define SWARM_TEST_SCHED_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>

#include <uv.h>

#include "check.h"
#include "redis_fixture.h"
#include "scheduler.h"
#include "swarm_clock.h"

typedef struct sched_fixture {
    uv_loop_t *loop;
    sched_t *s;
    /* the last callback's result; calls counts callbacks */
    int calls, rc, outcome;
    bool merge;      /* outcome callbacks: this result made the job ready to merge */
    long long count; /* count callbacks */
    char err[512];
    int merged; /* jobs merged (sched_fixture_merged_cb) */
    char merged_state[32], merged_job[64];
    /* the stored status the last merge reported (merged_st: it reported one) */
    bool merged_st;
    char merged_st_state[32];
    uint32_t merged_st_done, merged_st_total;
    uint64_t merged_st_size;  /* result bytes */
    char merged_st_page[256]; /* the start of the result page it carried */
} sched_fixture;

/* Runs the loop until *counter reaches target or timeout_ms pass. */
__attribute__((unused)) static void sched_fixture_spin(sched_fixture *f, const int *counter,
                                                       int target, int timeout_ms)
{
    uint64_t end = swarm_clock_ms() + (uint64_t)timeout_ms;
    while (*counter < target && swarm_clock_ms() < end)
        uv_run(f->loop, UV_RUN_NOWAIT), fixture_sleep_ms(1);
}

/* Runs the loop until the scheduler is connected (5 s at most). */
__attribute__((unused)) static bool sched_fixture_wait_up(sched_fixture *f)
{
    uint64_t end = swarm_clock_ms() + 5000;
    while (!sched_is_up(f->s) && swarm_clock_ms() < end)
        uv_run(f->loop, UV_RUN_NOWAIT), fixture_sleep_ms(1);
    return sched_is_up(f->s);
}

/* sched_open on fx (key prefix "test:") and wait until it is up; on_state
 * and ud go to the config as they are. Returns 0, or -1 with err. */
__attribute__((unused)) static int
sched_fixture_open(sched_fixture *f, uv_loop_t *loop, const redis_fixture *fx,
                   void (*on_state)(void *ud, bool up, const char *msg), void *ud, char *err,
                   size_t errlen)
{
    f->loop = loop;
    sched_config cfg = {
        .loop = loop, .redis = fx->addr, .prefix = "test:", .on_state = on_state, .ud = ud};
    if (sched_open(&f->s, &cfg, err, errlen) != 0) return -1;
    if (!sched_fixture_wait_up(f)) {
        snprintf(err, errlen, "the scheduler did not connect to %.200s within 5 s", fx->addr);
        return -1;
    }
    return 0;
}

/* Close the scheduler and let the loop finish its handles. */
__attribute__((unused)) static void sched_fixture_close(sched_fixture *f)
{
    sched_close(f->s);
    f->s = NULL;
    uv_run(f->loop, UV_RUN_DEFAULT);
}

/* What a test's main starts with: a private redis-server in fx, a loop, and
 * sched_fixture_open on them. Says why on stderr and returns -1 when it cannot. */
__attribute__((unused)) static int
sched_fixture_start(sched_fixture *f, redis_fixture *fx, uv_loop_t *loop,
                    void (*on_state)(void *ud, bool up, const char *msg), void *ud)
{
    char err[256];
    if (redis_fixture_start(fx) != 0) {
        fprintf(stderr, "cannot start redis-server\n");
        return -1;
    }
    uv_loop_init(loop);
    if (sched_fixture_open(f, loop, fx, on_state, ud, err, sizeof err) != 0) {
        fprintf(stderr, "sched_open: %s\n", err);
        uv_loop_close(loop);
        redis_fixture_cleanup(fx);
        return -1;
    }
    return 0;
}

/* The end of main: the scheduler closed, the loop closed with no handle left
 * (checked), the redis-server stopped and its dir removed. */
__attribute__((unused)) static void sched_fixture_stop(sched_fixture *f, redis_fixture *fx)
{
    sched_fixture_close(f);
    CHECK(uv_loop_close(f->loop) == 0);
    redis_fixture_cleanup(fx);
}

__attribute__((unused)) static void sched_fixture_done_cb(void *ud, int rc, const char *err)
{
    sched_fixture *f = ud;
    f->rc = rc;
    snprintf(f->err, sizeof f->err, "%s", err ? err : "");
    f->calls++;
}

__attribute__((unused)) static void sched_fixture_outcome_cb(void *ud, int rc, const char *err,
                                                             int outcome, bool merge)
{
    sched_fixture *f = ud;
    f->rc = rc;
    f->outcome = outcome;
    f->merge = merge;
    snprintf(f->err, sizeof f->err, "%s", err ? err : "");
    f->calls++;
}

__attribute__((unused)) static void sched_fixture_count_cb(void *ud, int rc, const char *err,
                                                           long long n)
{
    sched_fixture *f = ud;
    f->rc = rc;
    f->count = n;
    snprintf(f->err, sizeof f->err, "%s", err ? err : "");
    f->calls++;
}

__attribute__((unused)) static void sched_fixture_merged_cb(void *ud, const char *job, int rc,
                                                            const char *err, const char *state,
                                                            const sched_job_status *st)
{
    sched_fixture *f = ud;
    if (rc == 0) {
        f->merged++;
        snprintf(f->merged_state, sizeof f->merged_state, "%s", state);
        snprintf(f->merged_job, sizeof f->merged_job, "%s", job);
        f->merged_st = st != NULL;
        if (st) {
            snprintf(f->merged_st_state, sizeof f->merged_st_state, "%s", st->state);
            f->merged_st_done = st->done;
            f->merged_st_total = st->total;
            f->merged_st_size = st->result_size;
            snprintf(f->merged_st_page, sizeof f->merged_st_page, "%.*s",
                     (int)(st->result_len < 255 ? st->result_len : 255), st->result_json);
        }
    } else {
        fprintf(stderr, "merge %s failed: %s\n", job, err);
    }
}

/* Issue `call` (which may use the error buffer e_) and run the loop until its
 * callback came, exactly once; a call refused up front sets rc = -1 and err. */
#define SCHED_SYNC(f, call)                                                                        \
    do {                                                                                           \
        char e_[256];                                                                              \
        int before_ = (f)->calls;                                                                  \
        if ((call) != 0) {                                                                         \
            (f)->rc = -1;                                                                          \
            snprintf((f)->err, sizeof(f)->err, "%s", e_);                                          \
        } else {                                                                                   \
            sched_fixture_spin((f), &(f)->calls, before_ + 1, 5000);                               \
            CHECK((f)->calls == before_ + 1);                                                      \
        }                                                                                          \
    } while (0)

#endif
