/* cli_view.h - how the `swarm` CLI shows a job: the progress line (bar,
 * counts, rate, elapsed, ETA) and the --json objects of jobs and workers.
 * The JSON field names are a stable contract (docs/CLI.md). */
#ifndef SWARM_CLI_VIEW_H
#define SWARM_CLI_VIEW_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>

#include "wire.h"

/* Rate and timing of a job at wall-clock time now_ms (ms since the epoch,
 * the clock swarmd stamps created_ms/finished_ms with). */
typedef struct {
    uint64_t elapsed_ms; /* created -> finished, or -> now while it runs */
    double rate;         /* finished sub-tasks (done + failed) per second; 0 = none yet */
    int64_t eta_ms;      /* time left at that rate; -1 = unknown or not running */
} cli_view_timing;

uint64_t cli_view_wall_ms(void);
void cli_view_timing_of(const Swarm__JobStatus *j, uint64_t now_ms, cli_view_timing *t);
/* "42s", "3m05s", "1h02m". */
void cli_view_duration(uint64_t ms, char *buf, size_t cap);
/* One line, no newline. tty: a bar (# done, x failed, - cancelled, . left);
 * else key=value pairs for logs and scripts. */
void cli_view_progress(FILE *f, const Swarm__JobStatus *j, int tty, uint64_t now_ms);
/* 1 for done, failed, cancelled. */
int cli_view_terminal(const char *state);

cJSON *cli_view_job_json(const Swarm__JobStatus *j, uint64_t now_ms);
/* An agent job's sandbox mode (docs/AGENTS.md) against the workers of the
 * Status reply: a text line to f when f, else "sandbox" and
 * "sandbox_refused_on" (workers without bubblewrap) into o. Nothing for a
 * plain job. */
void cli_view_sandbox(FILE *f, cJSON *o, const Swarm__JobStatus *j, const Swarm__Status *st);
cJSON *cli_view_worker_json(const Swarm__WorkerStatus *w);
/* Pretty-prints o on stdout and frees it. */
void cli_view_print_json(cJSON *o);

/* The context size a worker announced in its model string ("name (arch,
 * ctx 4096)"), or 0 when it announced none (the sim engine). */
uint32_t cli_view_worker_ctx(const Swarm__WorkerStatus *w);

#endif
