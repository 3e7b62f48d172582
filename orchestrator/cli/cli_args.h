/* cli_args.h - the `swarm` command table: each command's options, its
 * --help text, and strict parsing of its command line.
 *
 * One table (cli_args.c) says which options a command takes, so `--help`
 * works for every command, an option a command does not take is an error
 * naming it, and every number is checked (whole, in range) before anything
 * runs: `--workers abc` is a usage error (exit 2), never a silent default. */
#ifndef SWARM_CLI_ARGS_H
#define SWARM_CLI_ARGS_H

#include <stdio.h>

/* Exit statuses shared by every command (docs/CLI.md). */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1,     /* could not do it: no swarm, unknown job, nothing to cancel */
    CLI_EXIT_USAGE = 2,     /* bad command line */
    CLI_EXIT_FAILED = 3,    /* wait: the job ended failed */
    CLI_EXIT_CANCELLED = 4, /* wait: the job ended cancelled */
    CLI_EXIT_TIMEOUT = 5,   /* wait: --timeout passed first */
    CLI_EXIT_INTERRUPTED = 130,
};

/* Option bits: which options a command accepts. */
enum {
    CLI_O_STATE = 1u << 0,
    CLI_O_JOB = 1u << 1,
    CLI_O_MODEL = 1u << 2,
    CLI_O_ENGINE = 1u << 3,
    CLI_O_WORKERS = 1u << 4,
    CLI_O_SLOTS = 1u << 5,
    CLI_O_THREADS = 1u << 6,
    CLI_O_JSON = 1u << 7,
    CLI_O_TIMEOUT = 1u << 8,
    CLI_O_OUT = 1u << 9,
    CLI_O_HTTP = 1u << 10,
    CLI_O_FOLLOW = 1u << 11,   /* logs -f */
    CLI_O_ONCE = 1u << 12,     /* top --once */
    CLI_O_INSECURE = 1u << 13, /* plain TCP to a tcp:// swarmd (as SWARM_INSECURE=1) */
};

#define CLI_MAX_MORE 256 /* task ids in one `swarm cancel JOB TASK...` */

typedef struct {
    const char *state;
    const char *job;
    const char *model;
    const char *engine;
    int workers; /* 0 = not given */
    int slots;
    int threads;
    int timeout_s; /* 0 = none */
    int json;
    const char *out;  /* --out FILE */
    const char *http; /* up --http ADDR */
    const char *arg;  /* the positional argument (a job id or a job file) */
    const char *arg2; /* the second one (logs JOB TASK) */
    int follow;       /* -f */
    int once;         /* --once */
    int insecure;     /* --insecure: plain TCP to a tcp:// SWARM_ENDPOINT */
    /* CLI_POS_REQUIRED_MANY: the words after arg (cancel JOB TASK...) */
    const char *more[CLI_MAX_MORE];
    int n_more;
} cli_opts;

/* Positional argument of a command. */
/* CLI_POS_REQUIRED_PAIR: a required one and an optional second (JOB [TASK]). */
/* CLI_POS_REQUIRED_MANY: a required one and up to CLI_MAX_MORE more (JOB [TASK...]). */
enum {
    CLI_POS_NONE,
    CLI_POS_OPTIONAL,
    CLI_POS_REQUIRED,
    CLI_POS_REQUIRED_PAIR,
    CLI_POS_REQUIRED_MANY
};

typedef struct cli_command {
    const char *name;
    const char *synopsis; /* after "swarm NAME " */
    const char *summary;  /* one line for `swarm --help` */
    const char *details;  /* the rest of `swarm NAME --help` */
    unsigned options;     /* CLI_O_* */
    int positional;       /* CLI_POS_* */
    const char *pos_name; /* "JOB", "JOB.json" */
} cli_command;

/* The command named name, or NULL. */
const cli_command *cli_command_find(const char *name);

/* `swarm --help`: every command with its summary. */
void cli_usage_print(FILE *f);
/* `swarm CMD --help`: synopsis, what it does, its options, exit statuses. */
void cli_command_help(FILE *f, const cli_command *c);

/* Parse argv (the words after the command name) for c into o.
 * Returns 0 to run the command, 1 when --help was asked (help printed on
 * stdout), or -1 after printing a usage error that names the offending
 * option or value on stderr (exit CLI_EXIT_USAGE). */
int cli_args_parse(const cli_command *c, int argc, char **argv, cli_opts *o);

/* Strict whole number in [min, max]: 0, or -1 with err naming flag and value. */
int cli_args_int(const char *flag, const char *value, long min, long max, int *out, char *err,
                 size_t errlen);

#endif
