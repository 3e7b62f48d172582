/* cli.h - the `swarm` command's entry point (commands in cli.c). */
#ifndef SWARM_CLI_H
#define SWARM_CLI_H

/* Runs one swarm command line; returns the process exit status. */
int cli_main(int argc, char **argv);

#endif
