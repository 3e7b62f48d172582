/* cli_args.c - the `swarm` command table, --help texts and strict option parsing.
 *
 * The help texts here are the user's first documentation; docs/CLI.md is the
 * full reference and says the same things. Parsing is strict on purpose: an
 * option the command does not take, a missing value or a number that is not
 * a whole number in range is a usage error naming it, so a typo never turns
 * into a silently different swarm. */
#include "cli_args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CLI_MAX_WORKERS 256 /* launcher.c's limit */
#define CLI_MAX_SLOTS 1024  /* swarm-worker's limit */
#define CLI_MAX_THREADS 1024
#define CLI_MAX_TIMEOUT_S (30 * 24 * 3600)

static const char cli_state_help[] =
    "  --state DIR      the swarm's state directory (default $SWARM_STATE, else $HOME/.swarm)\n"
    "  --insecure       plain TCP to a tcp:// SWARM_ENDPOINT, no CURVE (as SWARM_INSECURE=1;\n"
    "                   swarmd and swarm-worker take the same flag)\n";

static const cli_command cli_commands[] = {
    {"up",
     "[--workers N] [--slots K] [--threads T] [--model M.gguf] [--engine E] [--http ADDR] "
     "[--state DIR]",
     "start redis, swarmd and N workers in the state directory",
     "Starts a private redis-server (unix socket, AOF on), swarmd and N swarm-workers,\n"
     "and returns once every worker has registered.\n"
     "  --workers N      worker processes, 1..256 (default 4)\n"
     "  --slots K        agent slots per worker, 1..1024 (default 2)\n"
     "  --threads T      engine threads per worker, 0..1024 (default 0: cores / (N*K))\n"
     "  --model M.gguf   the model every worker loads (default STATE/models/default.gguf,\n"
     "                   a tiny random-weight model made on first use: its text is noise)\n"
     "  --engine E       embedded (default) or sim (a SIMULATED engine for scale tests)\n"
     "  --http ADDR      swarmd serves the dashboard, /api and /metrics on [HOST:]PORT\n"
     "                   (HOST 127.0.0.1 unless given; STATE/http.token, if present,\n"
     "                   is the API token: docs/OPERATIONS.md)\n",
     CLI_O_STATE | CLI_O_WORKERS | CLI_O_SLOTS | CLI_O_THREADS | CLI_O_MODEL | CLI_O_ENGINE |
         CLI_O_HTTP,
     CLI_POS_NONE, NULL},
    {"down", "[--state DIR]", "stop everything `swarm up` started",
     "Stops the workers, swarmd and redis-server that `swarm up` started in the state\n"
     "directory (redis saves its data first). It cannot stop a swarm it did not start:\n"
     "with SWARM_ENDPOINT set it says so and exits 1 when nothing local was running.\n",
     CLI_O_STATE, CLI_POS_NONE, NULL},
    {"submit", "JOB.json [--state DIR]", "submit a job; prints its id",
     "Sends the job file to swarmd (relative paths in it resolve against its folder)\n"
     "and prints the new job's id on stdout. The job is checked first: a budget.max_tokens\n"
     "that does not fit the context of the workers' model is refused here.\n",
     CLI_O_STATE | CLI_O_JOB, CLI_POS_OPTIONAL, "JOB.json"},
    {"status", "[JOB] [--json] [--state DIR]", "progress of one or all jobs",
     "One line per job: a bar (# done, x failed, - cancelled), counts, the rate of\n"
     "finished sub-tasks per second, the elapsed time and, while running, an ETA.\n"
     "  --json           a JSON document instead (docs/CLI.md); for one JOB it holds\n"
     "                   the merged result once the job has ended\n",
     CLI_O_STATE | CLI_O_JSON, CLI_POS_OPTIONAL, "JOB"},
    {"run",
     "--job JOB.json [--workers N] [--slots K] [--threads T] [--model M.gguf] [--engine E] "
     "[--json] [--state DIR]",
     "up if needed, submit, follow, print the merged result",
     "Starts a swarm when none runs in the state directory (and stops it afterwards),\n"
     "submits the job, shows its progress on stderr and prints the merged result on\n"
     "stdout. Exit 0 when every sub-task succeeded, 1 otherwise, 130 on Ctrl-C (which\n"
     "cancels the job).\n"
     "  --job JOB.json   the job file (or give it as the argument)\n"
     "  --json           print the whole result JSON (docs/JOBS.md) instead of the text\n"
     "  --workers, --slots, --threads, --model, --engine: as for `swarm up`\n",
     CLI_O_STATE | CLI_O_JOB | CLI_O_WORKERS | CLI_O_SLOTS | CLI_O_THREADS | CLI_O_MODEL |
         CLI_O_ENGINE | CLI_O_JSON,
     CLI_POS_OPTIONAL, "JOB.json"},
    {"wait", "JOB [--timeout S] [--json] [--state DIR]", "block until a job ends",
     "Waits until JOB is done, failed or cancelled. Exit 0 done, 3 failed, 4 cancelled,\n"
     "5 when --timeout passed first, 1 when the job is unknown or swarmd unreachable.\n"
     "  --timeout S      give up after S seconds (1..2592000)\n"
     "  --json           print the job's final status as JSON (as `swarm status JOB --json`)\n",
     CLI_O_STATE | CLI_O_TIMEOUT | CLI_O_JSON, CLI_POS_REQUIRED, "JOB"},
    {"cancel", "JOB [TASK...] [--state DIR]", "cancel a running job, or some of its sub-tasks",
     "Without TASK: cancels every unfinished sub-task of JOB. Exit 0 when this call\n"
     "cancelled it; 1 when the job is unknown or had already ended (done, failed or\n"
     "cancelled): then nothing is changed and the message says what state it is in.\n"
     "With TASK ids (as in swarm status JOB --json, at most 256): cancels only those.\n"
     "A queued one never runs, a running one is stopped on its worker, one that had\n"
     "already ended is left as it was and named on stderr; the rest of the job runs\n"
     "on, and the job ends cancelled. Prints \"cancelled JOB/TASK\" for each task this\n"
     "call cancelled; exit 0 when it cancelled every TASK named, 1 when any was unknown\n"
     "or already ended (the others are still cancelled).\n",
     CLI_O_STATE, CLI_POS_REQUIRED_MANY, "JOB"},
    {"retry", "JOB [--state DIR]", "re-run the failed sub-tasks of a failed job",
     "Queues every failed sub-task of JOB again, with one more attempt each, and puts\n"
     "the job back to running (its old result is dropped; `swarm wait JOB` follows it).\n"
     "Exit 1, changing nothing, when the job is unknown or not failed (still running,\n"
     "done, or cancelled).\n",
     CLI_O_STATE, CLI_POS_REQUIRED, "JOB"},
    {"rm", "JOB [--state DIR]", "delete an ended job and everything stored for it",
     "Removes JOB (done, failed or cancelled) from swarmd's Redis: its record, tasks,\n"
     "result and events. A running job is refused (swarm cancel it first). Ended jobs\n"
     "are also removed on their own after swarmd's --retention-s (default 7 days).\n",
     CLI_O_STATE, CLI_POS_REQUIRED, "JOB"},
    {"result", "JOB [--json] [--out FILE] [--state DIR]", "the merged result of an ended job",
     "Prints the merged text of JOB (or with --json the whole result JSON, docs/JOBS.md),\n"
     "read from swarmd in pages, so any size works. Exit 1 while the job still runs.\n"
     "  --json           the whole result JSON\n"
     "  --out FILE       write it to FILE instead of stdout\n",
     CLI_O_STATE | CLI_O_JSON | CLI_O_OUT, CLI_POS_REQUIRED, "JOB"},
    {"logs", "[-f] JOB [TASK] [--json] [--state DIR]",
     "a job's events, agent transcripts and audit; -f follows live",
     "Prints JOB's events (time, task, transition, worker, attempt, error), then for\n"
     "agent sub-tasks each transcript step (step, tool, arguments digest, exit status,\n"
     "tokens) and the audit record of each tool call. With TASK, only that sub-task.\n"
     "The event stream keeps about the last 1000 events (100 once the job ended); a\n"
     "line says when older ones were dropped. Read from swarmd in pages: any size works.\n"
     "  -f, --follow     then keep printing new events, steps and audit records as they\n"
     "                   happen, until the job ends (exit 0); swarmd may restart meanwhile\n"
     "  --json           one JSON object per line instead (docs/CLI.md, a stable format)\n",
     CLI_O_STATE | CLI_O_JSON | CLI_O_FOLLOW, CLI_POS_REQUIRED_PAIR, "JOB [TASK]"},
    {"top", "[--once [--json]] [--state DIR]", "full-screen live view of jobs, workers and agents",
     "Redraws in place about 4 times a second: every job with its progress, rate and\n"
     "ETA; every worker with busy slots, tokens/s and quarantine or crash loops; every\n"
     "running sub-task with its tokens, agent step and tool, and its last output line.\n"
     "q (or Ctrl-C) quits and restores the terminal. When stdout is not a terminal it\n"
     "prints the same view as plain text every 2 seconds instead.\n"
     "  --once           print one view and exit\n"
     "  --json           with --once: that view as JSON, the document of swarm status --json\n",
     CLI_O_STATE | CLI_O_ONCE | CLI_O_JSON, CLI_POS_NONE, NULL},
    {"keygen", "[NAME] [--out DIR]", "make a CURVE keypair for tcp:// endpoints",
     "Writes DIR/NAME.key (the keypair: keep it private) and DIR/NAME.pub (the public\n"
     "key), both mode 0600; an existing file is never replaced. NAME defaults to the\n"
     "short host name. swarmd takes its own NAME.key with --server-key and every\n"
     "worker's and client's NAME.pub line in --authorized-keys; a worker or client\n"
     "takes swarmd's .pub and its own .key (docs/DEPLOY.md; for the CLI:\n"
     "SWARM_SERVER_KEY, SWARM_KEY, or SWARM_INSECURE=1 for plain TCP).\n"
     "  --out DIR        where to write them (default: the current directory)\n",
     CLI_O_OUT, CLI_POS_OPTIONAL, "NAME"},
    {"workers", "[--json] [--state DIR]", "list registered workers",
     "One line per worker: id, host, slots, busy slots, model (with its context size).\n"
     "  --json           a JSON array instead (docs/CLI.md)\n",
     CLI_O_STATE | CLI_O_JSON, CLI_POS_NONE, NULL},
};

#define CLI_N_COMMANDS (sizeof(cli_commands) / sizeof(cli_commands[0]))

const cli_command *cli_command_find(const char *name)
{
    for (size_t i = 0; i < CLI_N_COMMANDS; i++)
        if (strcmp(cli_commands[i].name, name) == 0) return &cli_commands[i];
    return NULL;
}

void cli_usage_print(FILE *f)
{
    fprintf(f, "usage: swarm COMMAND [options]     (swarm COMMAND --help for its options)\n");
    for (size_t i = 0; i < CLI_N_COMMANDS; i++)
        fprintf(f, "  %-9s %s\n", cli_commands[i].name, cli_commands[i].summary);
    fprintf(f,
            "  --version print the version and exit\n"
            "State dir: --state DIR, else $SWARM_STATE, else $HOME/.swarm.\n"
            "SWARM_ENDPOINT=ENDPOINT talks to a swarmd that `swarm up` did not start.\n"
            "Exit status: 0 ok, 1 error, 2 bad command line (swarm wait: 3 failed, 4 cancelled,\n"
            "5 timeout). Reference: docs/CLI.md.\n");
}

void cli_command_help(FILE *f, const cli_command *c)
{
    fprintf(f, "usage: swarm %s %s\n%s.\n\n%s", c->name, c->synopsis, c->summary, c->details);
    if (c->options & CLI_O_STATE) fputs(cli_state_help, f);
    fprintf(f, "  --help           this text\n");
}

int cli_args_int(const char *flag, const char *value, long min, long max, int *out, char *err,
                 size_t errlen)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(value, &end, 10);
    /* strtol takes leading blanks and a sign; a count must be plain digits */
    if (!value[0] || value[0] == ' ' || value[0] == '+' || *end || errno == ERANGE || v < min ||
        v > max) {
        snprintf(err, errlen, "%s \"%s\": expected a whole number from %ld to %ld", flag, value,
                 min, max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Options that take no value. */
#define CLI_FLAGS (CLI_O_JSON | CLI_O_FOLLOW | CLI_O_ONCE | CLI_O_INSECURE)

typedef struct {
    const char *name;
    unsigned bit;
    long min, max; /* numbers only (max > 0) */
} cli_option;

static const cli_option cli_options[] = {
    {"--state", CLI_O_STATE, 0, 0},
    {"--job", CLI_O_JOB, 0, 0},
    {"--model", CLI_O_MODEL, 0, 0},
    {"--engine", CLI_O_ENGINE, 0, 0},
    {"--workers", CLI_O_WORKERS, 1, CLI_MAX_WORKERS},
    {"--slots", CLI_O_SLOTS, 1, CLI_MAX_SLOTS},
    {"--threads", CLI_O_THREADS, 0, CLI_MAX_THREADS},
    {"--timeout", CLI_O_TIMEOUT, 1, CLI_MAX_TIMEOUT_S},
    {"--json", CLI_O_JSON, 0, 0},
    {"--out", CLI_O_OUT, 0, 0},
    {"--http", CLI_O_HTTP, 0, 0},
    {"-f", CLI_O_FOLLOW, 0, 0},
    {"--follow", CLI_O_FOLLOW, 0, 0},
    {"--once", CLI_O_ONCE, 0, 0},
    {"--insecure", CLI_O_INSECURE, 0, 0},
};

static int cli_option_set(const cli_option *op, const char *v, cli_opts *o, char *err,
                          size_t errlen)
{
    switch (op->bit) {
    case CLI_O_STATE:
        o->state = v;
        return 0;
    case CLI_O_JOB:
        o->job = v;
        return 0;
    case CLI_O_MODEL:
        o->model = v;
        return 0;
    case CLI_O_ENGINE:
        o->engine = v;
        return 0;
    case CLI_O_WORKERS:
        return cli_args_int(op->name, v, op->min, op->max, &o->workers, err, errlen);
    case CLI_O_SLOTS:
        return cli_args_int(op->name, v, op->min, op->max, &o->slots, err, errlen);
    case CLI_O_THREADS:
        return cli_args_int(op->name, v, op->min, op->max, &o->threads, err, errlen);
    case CLI_O_TIMEOUT:
        return cli_args_int(op->name, v, op->min, op->max, &o->timeout_s, err, errlen);
    case CLI_O_OUT:
        o->out = v;
        return 0;
    case CLI_O_HTTP:
        o->http = v;
        return 0;
    default:
        return 0;
    }
}

int cli_args_parse(const cli_command *c, int argc, char **argv, cli_opts *o)
{
    char err[512];
    memset(o, 0, sizeof(*o));
    /* --help wins wherever it stands (unless it is another option's value),
     * so `swarm up --workers abc --help` still shows the help */
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli_command_help(stdout, c);
            return 1;
        }
        for (size_t k = 0; k < sizeof(cli_options) / sizeof(cli_options[0]); k++)
            if (strcmp(argv[i], cli_options[k].name) == 0 && !(cli_options[k].bit & CLI_FLAGS)) {
                i++; /* skip its value */
                break;
            }
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const cli_option *op = NULL;
        for (size_t k = 0; k < sizeof(cli_options) / sizeof(cli_options[0]) && !op; k++)
            if (strcmp(a, cli_options[k].name) == 0) op = &cli_options[k];
        if (op) {
            /* --insecure goes with every command that talks to a swarm */
            unsigned takes = c->options | ((c->options & CLI_O_STATE) ? CLI_O_INSECURE : 0);
            if (!(takes & op->bit)) {
                fprintf(stderr,
                        "swarm %s: %s is not an option of `swarm %s` (see swarm %s --help)\n",
                        c->name, a, c->name, c->name);
                return -1;
            }
            if (op->bit & CLI_FLAGS) {
                if (op->bit == CLI_O_JSON) o->json = 1;
                if (op->bit == CLI_O_FOLLOW) o->follow = 1;
                if (op->bit == CLI_O_ONCE) o->once = 1;
                if (op->bit == CLI_O_INSECURE) o->insecure = 1;
                continue;
            }
            if (i + 1 >= argc) {
                fprintf(stderr, "swarm %s: %s needs a value (see swarm %s --help)\n", c->name, a,
                        c->name);
                return -1;
            }
            if (cli_option_set(op, argv[++i], o, err, sizeof(err)) != 0) {
                fprintf(stderr, "swarm %s: %s\n", c->name, err);
                return -1;
            }
            continue;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "swarm %s: unknown option %s (see swarm %s --help)\n", c->name, a,
                    c->name);
            return -1;
        }
        if (c->positional == CLI_POS_NONE) {
            fprintf(stderr, "swarm %s: unexpected argument \"%s\" (see swarm %s --help)\n", c->name,
                    a, c->name);
            return -1;
        }
        if (o->arg && c->positional == CLI_POS_REQUIRED_MANY) {
            if (o->n_more >= CLI_MAX_MORE) {
                fprintf(stderr, "swarm %s: at most %d ids after %s; unexpected \"%s\"\n", c->name,
                        CLI_MAX_MORE, c->pos_name, a);
                return -1;
            }
            o->more[o->n_more++] = a;
            continue;
        }
        if (o->arg && c->positional == CLI_POS_REQUIRED_PAIR && !o->arg2) {
            o->arg2 = a;
            continue;
        }
        if (o->arg) {
            fprintf(stderr, "swarm %s: one %s only; unexpected \"%s\"\n", c->name, c->pos_name, a);
            return -1;
        }
        o->arg = a;
    }
    if ((c->positional == CLI_POS_REQUIRED || c->positional == CLI_POS_REQUIRED_PAIR ||
         c->positional == CLI_POS_REQUIRED_MANY) &&
        !o->arg) {
        fprintf(stderr, "swarm %s: which %s? usage: swarm %s %s\n", c->name, c->pos_name, c->name,
                c->synopsis);
        return -1;
    }
    return 0;
}
