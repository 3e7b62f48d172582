/* cli_top.h - `swarm top`: a live view of every job, worker and running agent,
 * full-screen on a terminal (q quits), plain periodic frames otherwise. */
#ifndef SWARM_CLI_TOP_H
#define SWARM_CLI_TOP_H

#include <signal.h>

#include "cli_args.h"
#include "client.h"

/* state_dir finds the worker supervisor's crash-loop notes (STATE/crashloop);
 * stop is raised by SIGINT/SIGTERM. Returns the exit status (docs/CLI.md). */
int cli_top_run(cli_client *c, const cli_opts *o, const char *state_dir,
                volatile sig_atomic_t *stop);

#endif
