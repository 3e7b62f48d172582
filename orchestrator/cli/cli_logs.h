/* cli_logs.h - `swarm logs [-f] JOB [TASK]`: what every sub-task of a job
 * did (events, agent transcripts, audit), printed or followed live.
 *
 * It and `swarm top` (cli_top.h) read swarmd's Events request (proto/swarm.proto): pages after a
 * cursor the CLI keeps, so a follower neither repeats nor skips an entry, and
 * rides out a swarmd restart by asking again with the same cursor. */
#ifndef SWARM_CLI_LOGS_H
#define SWARM_CLI_LOGS_H

#include <signal.h>

#include "cli_args.h"
#include "client.h"

/* `swarm logs`: prints to stdout; stop is raised by SIGINT/SIGTERM. Returns
 * the exit status (docs/CLI.md). */
int cli_logs_run(cli_client *c, const cli_opts *o, volatile sig_atomic_t *stop);

/* One Events page (kind, job, task, after, limit); transport errors (swarmd
 * restarting) are retried for up to retry_ms while *stop stays 0. Returns 0
 * with *reply (wire_free it), -1 (err says why) or -2 when swarmd refused
 * (unknown job). Shared by logs and top. */
int cli_logs_page(cli_client *c, const char *kind, const char *job, const char *task,
                  const char *after, uint32_t limit, int retry_ms, volatile sig_atomic_t *stop,
                  Swarm__Envelope **reply, char *err, size_t errlen);

/* The value of field name in a LogEntry (name, value pairs), or "". */
const char *cli_logs_field(const Swarm__LogEntry *e, const char *name);

#endif
