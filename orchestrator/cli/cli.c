/* cli.c - the `swarm` commands: up, down, submit, status, run, cancel, workers.
 *
 * Output rules: results and --json documents go to stdout; progress and
 * diagnostics go to stderr, so `swarm run --json > out.json` is clean.
 * Progress is a redrawn bar on a TTY and plain, change-only lines otherwise. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"

#define CLI_TIMEOUT_MS 10000
#define CLI_MAX_JOB_BYTES (4 * 1024 * 1024)

static volatile sig_atomic_t g_interrupted;

static void cli_on_signal(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

typedef struct {
    const char *state;
    const char *job;
    const char *model;
    const char *engine;
    int workers;
    int slots;
    int threads;
    int json;
    const char *arg; /* positional */
} cli_opts;

static void cli_usage(FILE *f)
{
    fprintf(
        f, "usage: swarm COMMAND [options]\n"
           "  up [--workers N] [--slots K] [--model M.gguf] [--state DIR]\n"
           "                            start redis, swarmd and N workers in DIR\n"
           "  down [--state DIR]        stop everything `up` started\n"
           "  submit JOB.json           submit a job; prints its id\n"
           "  status [JOB] [--json]     progress of one or all jobs (JOB --json: with its result)\n"
           "  run --job JOB.json [--workers N] [--model M.gguf] [--json] [--state DIR]\n"
           "                            up if needed, submit, follow, print the merged result\n"
           "  cancel JOB                cancel a job\n"
           "  workers [--json]          list registered workers\n"
           "State dir: --state DIR, else $SWARM_STATE, else $HOME/.swarm.\n"
           "Without --model the swarm uses STATE/models/default.gguf, a tiny random-weight\n"
           "model made on first use: its text is noise. Pass --model for a real GGUF.\n"
           "--engine sim (up/run) runs a SIMULATED engine for scale tests, not a model.\n"
           "--threads T (up/run): engine threads per worker (default cores / (N*K)).\n"
           "SWARM_ENDPOINT=ENDPOINT talks to a swarmd that `swarm up` did not start.\n");
}

static int cli_parse(int argc, char **argv, cli_opts *o)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int needs = 1;
        if (strcmp(a, "--json") == 0) {
            o->json = 1;
            needs = 0;
        } else if (a[0] == '-' && a[1] == '-' && !v) {
            fprintf(stderr, "swarm: %s needs a value\n", a);
            return -1;
        } else if (strcmp(a, "--state") == 0)
            o->state = v;
        else if (strcmp(a, "--job") == 0)
            o->job = v;
        else if (strcmp(a, "--model") == 0)
            o->model = v;
        else if (strcmp(a, "--engine") == 0)
            o->engine = v;
        else if (strcmp(a, "--workers") == 0)
            o->workers = atoi(v);
        else if (strcmp(a, "--slots") == 0)
            o->slots = atoi(v);
        else if (strcmp(a, "--threads") == 0)
            o->threads = atoi(v);
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "swarm: unknown option %s\n", a);
            return -1;
        } else {
            if (o->arg) {
                fprintf(stderr, "swarm: unexpected argument %s\n", a);
                return -1;
            }
            o->arg = a;
            needs = 0;
        }
        i += needs;
    }
    return 0;
}

static int cli_connect(const cli_env *e, cli_client *c, const char *cmd)
{
    char ep[1200], err[512];
    cli_env_client_endpoint(e, ep, sizeof(ep));
    if (!getenv("SWARM_ENDPOINT") && !cli_swarm_running(e)) {
        fprintf(stderr, "swarm %s: no swarm is running in %s (start one with `swarm up`)\n", cmd,
                e->state);
        return -1;
    }
    if (cli_client_open(c, ep, err, sizeof(err)) != 0) {
        fprintf(stderr, "swarm %s: %s\n", cmd, err);
        return -1;
    }
    return 0;
}

/* ---- job JSON helpers ---- */

static cJSON *cli_job_json(const Swarm__JobStatus *j)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "job_id", j->job_id);
    cJSON_AddStringToObject(o, "name", j->name);
    cJSON_AddStringToObject(o, "state", j->state);
    cJSON_AddNumberToObject(o, "total", j->total);
    cJSON_AddNumberToObject(o, "done", j->done);
    cJSON_AddNumberToObject(o, "failed", j->failed);
    cJSON_AddNumberToObject(o, "running", j->running);
    cJSON_AddNumberToObject(o, "pending", j->pending);
    cJSON_AddNumberToObject(o, "cancelled", j->cancelled);
    cJSON_AddNumberToObject(o, "created_ms", (double)j->created_ms);
    cJSON_AddNumberToObject(o, "finished_ms", (double)j->finished_ms);
    return o;
}

static cJSON *cli_worker_json(const Swarm__WorkerStatus *w)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "worker_id", w->worker_id);
    cJSON_AddStringToObject(o, "hostname", w->hostname);
    cJSON_AddNumberToObject(o, "slots", w->slots);
    cJSON_AddNumberToObject(o, "busy", w->busy);
    cJSON_AddNumberToObject(o, "last_seen_ms", (double)w->last_seen_ms);
    cJSON_AddStringToObject(o, "model", w->model);
    return o;
}

static void cli_print_json(cJSON *o)
{
    char *s = cJSON_Print(o);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    cJSON_Delete(o);
}

static int cli_terminal(const char *state)
{
    return strcmp(state, "done") == 0 || strcmp(state, "failed") == 0 ||
           strcmp(state, "cancelled") == 0;
}

/* One line of progress; bar only when tty. */
static void cli_progress_line(FILE *f, const Swarm__JobStatus *j, int tty)
{
    if (tty) {
        const int width = 30;
        unsigned total = j->total ? j->total : 1;
        int fill = (int)((j->done + j->failed + j->cancelled) * (unsigned)width / total);
        char bar[64];
        for (int i = 0; i < width; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        fprintf(f, "%s %-16.16s [%s] %u/%u done  %u failed  %u running  %s", j->job_id, j->name,
                bar, j->done, j->total, j->failed, j->running, j->state);
    } else {
        fprintf(f, "%s %s state=%s done=%u/%u failed=%u running=%u pending=%u cancelled=%u",
                j->job_id, j->name, j->state, j->done, j->total, j->failed, j->running, j->pending,
                j->cancelled);
    }
}

/* ---- commands ---- */

static int cmd_up(const cli_env *e, const cli_opts *o)
{
    cli_up_opts u = {.workers = o->workers > 0 ? o->workers : 4,
                     .slots = o->slots > 0 ? o->slots : 2,
                     .threads = o->threads,
                     .model = o->model,
                     .engine = o->engine};
    char err[2048];
    if (cli_up(e, &u, err, sizeof(err)) != 0) {
        fprintf(stderr, "swarm up: %s\n", err);
        return 1;
    }
    return 0;
}

static int cmd_down(const cli_env *e, int quiet)
{
    char err[512];
    int stopped = 0;
    if (cli_down(e, quiet, &stopped, err, sizeof(err)) != 0) {
        fprintf(stderr, "swarm down: %s\n", err);
        return 1;
    }
    if (!quiet) fprintf(stderr, "swarm down: stopped %d process(es) in %s\n", stopped, e->state);
    return 0;
}

/* Submit a job file; returns 0 and fills job_id/total. */
static int cli_submit_file(cli_client *c, const char *file, char *job_id, size_t cap,
                           uint32_t *total)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        fprintf(stderr, "swarm submit: %s: %s\n", file, strerror(errno));
        return -1;
    }
    char *buf = malloc(CLI_MAX_JOB_BYTES + 1);
    size_t n = buf ? fread(buf, 1, CLI_MAX_JOB_BYTES + 1, f) : 0;
    fclose(f);
    if (!buf || n > CLI_MAX_JOB_BYTES) {
        fprintf(stderr, "swarm submit: %s: larger than %d bytes\n", file, CLI_MAX_JOB_BYTES);
        free(buf);
        return -1;
    }
    buf[n] = 0;
    char abs[PATH_MAX], dir[PATH_MAX];
    if (!realpath(file, abs)) {
        fprintf(stderr, "swarm submit: %s: %s\n", file, strerror(errno));
        free(buf);
        return -1;
    }
    snprintf(dir, sizeof(dir), "%s", abs);
    char *base = dirname(dir);
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    Swarm__Submit sub = SWARM__SUBMIT__INIT;
    sub.job_json = buf;
    sub.base_dir = base;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_SUBMIT;
    env.submit = &sub;
    Swarm__Envelope *reply = NULL;
    char err[2048];
    uint32_t code = 0;
    int rc = cli_client_call(c, &env, 60000, &reply, &code, err, sizeof(err));
    free(buf);
    if (rc != 0) {
        fprintf(stderr, "swarm submit: %s: %s\n", file, err);
        return -1;
    }
    if (reply->payload_case != SWARM__ENVELOPE__PAYLOAD_STATUS || reply->status->n_jobs < 1) {
        fprintf(stderr, "swarm submit: %s: swarmd's reply holds no job\n", file);
        wire_free(reply);
        return -1;
    }
    snprintf(job_id, cap, "%s", reply->status->jobs[0]->job_id);
    if (total) *total = reply->status->jobs[0]->total;
    wire_free(reply);
    return 0;
}

static int cmd_submit(const cli_env *e, const cli_opts *o)
{
    const char *file = o->arg ? o->arg : o->job;
    if (!file) {
        fprintf(stderr, "swarm submit: which job file? usage: swarm submit JOB.json\n");
        return 2;
    }
    cli_client c;
    if (cli_connect(e, &c, "submit") != 0) return 1;
    char id[256];
    uint32_t total = 0;
    int rc = cli_submit_file(&c, file, id, sizeof(id), &total);
    cli_client_close(&c);
    if (rc != 0) return 1;
    printf("%s\n", id);
    return 0;
}

static int cmd_status(const cli_env *e, const cli_opts *o)
{
    cli_client c;
    if (cli_connect(e, &c, "status") != 0) return 1;
    Swarm__Envelope *reply = NULL;
    char err[1024];
    uint32_t code;
    /* one job as JSON also carries its merged result once it is terminal */
    bool with_result = o->arg && o->json;
    int rc = cli_client_status(&c, o->arg, with_result, false, CLI_TIMEOUT_MS, &reply, &code, err,
                               sizeof(err));
    cli_client_close(&c);
    if (rc != 0) {
        fprintf(stderr, "swarm status: %s\n", err);
        return 1;
    }
    const Swarm__Status *st = reply->status;
    if (o->json) {
        if (o->arg) {
            if (st->n_jobs < 1) {
                fprintf(stderr, "swarm status: no job %s\n", o->arg);
                wire_free(reply);
                return 1;
            }
            cJSON *jo = cli_job_json(st->jobs[0]);
            cJSON *res = st->jobs[0]->result_json[0] ? cJSON_Parse(st->jobs[0]->result_json) : NULL;
            if (res) cJSON_AddItemToObject(jo, "result", res);
            cli_print_json(jo);
        } else {
            cJSON *root = cJSON_CreateObject();
            cJSON *jobs = cJSON_AddArrayToObject(root, "jobs");
            for (size_t i = 0; i < st->n_jobs; i++)
                cJSON_AddItemToArray(jobs, cli_job_json(st->jobs[i]));
            cJSON *ws = cJSON_AddArrayToObject(root, "workers");
            for (size_t i = 0; i < st->n_workers; i++)
                cJSON_AddItemToArray(ws, cli_worker_json(st->workers[i]));
            cli_print_json(root);
        }
    } else {
        int tty = isatty(1);
        if (!o->arg) printf("%zu worker(s); %zu job(s)\n", st->n_workers, st->n_jobs);
        for (size_t i = 0; i < st->n_jobs; i++) {
            cli_progress_line(stdout, st->jobs[i], tty);
            fputc('\n', stdout);
        }
    }
    wire_free(reply);
    return 0;
}

static int cli_worker_cmp(const void *a, const void *b)
{
    const Swarm__WorkerStatus *x = *(Swarm__WorkerStatus *const *)a;
    const Swarm__WorkerStatus *y = *(Swarm__WorkerStatus *const *)b;
    return strverscmp(x->worker_id, y->worker_id); /* w-2 before w-10 */
}

static int cmd_workers(const cli_env *e, const cli_opts *o)
{
    cli_client c;
    if (cli_connect(e, &c, "workers") != 0) return 1;
    Swarm__Envelope *reply = NULL;
    char err[1024];
    uint32_t code;
    int rc =
        cli_client_status(&c, NULL, false, false, CLI_TIMEOUT_MS, &reply, &code, err, sizeof(err));
    cli_client_close(&c);
    if (rc != 0) {
        fprintf(stderr, "swarm workers: %s\n", err);
        return 1;
    }
    const Swarm__Status *st = reply->status;
    if (st->n_workers > 1)
        qsort(st->workers, st->n_workers, sizeof(st->workers[0]), cli_worker_cmp);
    if (o->json) {
        cJSON *ws = cJSON_CreateArray();
        for (size_t i = 0; i < st->n_workers; i++)
            cJSON_AddItemToArray(ws, cli_worker_json(st->workers[i]));
        cli_print_json(ws);
    } else {
        printf("%-20s %-16s %5s %5s  %s\n", "WORKER", "HOST", "SLOTS", "BUSY", "MODEL");
        for (size_t i = 0; i < st->n_workers; i++) {
            const Swarm__WorkerStatus *w = st->workers[i];
            printf("%-20s %-16s %5u %5u  %s\n", w->worker_id, w->hostname, w->slots, w->busy,
                   w->model);
        }
    }
    wire_free(reply);
    return 0;
}

static int cli_cancel_job(cli_client *c, const char *job, char *err, size_t errlen)
{
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    Swarm__Cancel can = SWARM__CANCEL__INIT;
    can.job_id = (char *)job;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_CANCEL;
    env.cancel = &can;
    Swarm__Envelope *reply = NULL;
    uint32_t code;
    int rc = cli_client_call(c, &env, CLI_TIMEOUT_MS, &reply, &code, err, errlen);
    if (reply) wire_free(reply);
    return rc;
}

static int cmd_cancel(const cli_env *e, const cli_opts *o)
{
    if (!o->arg) {
        fprintf(stderr, "swarm cancel: which job? usage: swarm cancel JOB\n");
        return 2;
    }
    cli_client c;
    if (cli_connect(e, &c, "cancel") != 0) return 1;
    char err[1024];
    int rc = cli_cancel_job(&c, o->arg, err, sizeof(err));
    cli_client_close(&c);
    if (rc != 0) {
        fprintf(stderr, "swarm cancel: %s\n", err);
        return 1;
    }
    printf("cancelled %s\n", o->arg);
    return 0;
}

/* Print the merged result: the whole result JSON, or the merged text. */
static int cli_print_result(const char *result_json, int as_json)
{
    if (!result_json[0]) {
        fprintf(stderr, "swarm run: swarmd returned no merged result\n");
        return -1;
    }
    if (as_json) {
        fputs(result_json, stdout);
        size_t n = strlen(result_json);
        if (!n || result_json[n - 1] != '\n') fputc('\n', stdout);
        return 0;
    }
    cJSON *r = cJSON_Parse(result_json);
    if (!r) {
        fprintf(stderr, "swarm run: swarmd's result is not JSON\n");
        return -1;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "merged");
    if (cJSON_IsString(m)) {
        fputs(m->valuestring, stdout);
        fputc('\n', stdout);
    } else if (m) {
        char *s = cJSON_Print(m);
        if (s) printf("%s\n", s);
        free(s);
    }
    const cJSON *ft = cJSON_GetObjectItemCaseSensitive(r, "failed_tasks");
    const cJSON *t;
    cJSON_ArrayForEach(t, ft)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(t, "task_id");
        const cJSON *er = cJSON_GetObjectItemCaseSensitive(t, "error");
        fprintf(stderr, "swarm run: task %s failed: %s\n",
                cJSON_IsString(id) ? id->valuestring : "?",
                cJSON_IsString(er) ? er->valuestring : "?");
    }
    cJSON_Delete(r);
    return 0;
}

static uint64_t cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Follow a job until it is terminal; returns its final status reply with the result. */
static int cli_follow(cli_client *c, const char *job, Swarm__Envelope **final)
{
    int tty = isatty(2);
    char last[512] = "";
    uint64_t last_ok = cli_now_ms(), last_print = 0;
    int cancelled = 0;
    uint64_t terminal_since = 0;
    *final = NULL;
    for (;;) {
        if (g_interrupted && !cancelled) {
            char err[512];
            fprintf(stderr, "%sswarm run: interrupted; cancelling %s\n", tty ? "\n" : "", job);
            if (cli_cancel_job(c, job, err, sizeof(err)) != 0)
                fprintf(stderr, "swarm run: cancel: %s\n", err);
            cancelled = 1;
        }
        Swarm__Envelope *reply = NULL;
        char err[1024];
        uint32_t code = 0;
        int rc = cli_client_status(c, job, true, false, 5000, &reply, &code, err, sizeof(err));
        if (rc == -2) {
            fprintf(stderr, "swarm run: %s\n", err);
            return -1;
        }
        if (rc != 0) {
            if (cli_now_ms() - last_ok > 120000) {
                fprintf(stderr, "swarm run: lost swarmd: %s\n", err);
                return -1;
            }
            continue; /* swarmd may be restarting; it resumes the job */
        }
        last_ok = cli_now_ms();
        if (reply->status->n_jobs < 1) {
            fprintf(stderr, "swarm run: swarmd no longer knows job %s\n", job);
            wire_free(reply);
            return -1;
        }
        const Swarm__JobStatus *j = reply->status->jobs[0];
        char line[512];
        FILE *mem = fmemopen(line, sizeof(line), "w");
        if (mem) {
            cli_progress_line(mem, j, tty);
            fclose(mem);
        }
        /* the merged result lands just after the state turns terminal */
        if (cli_terminal(j->state) && !terminal_since) terminal_since = cli_now_ms();
        int term =
            cli_terminal(j->state) && (j->result_json[0] || cli_now_ms() - terminal_since > 10000);
        if (tty) {
            fprintf(stderr, "\r%s\033[K", line);
            if (term) fputc('\n', stderr);
        } else if (strcmp(line, last) != 0 && (term || cli_now_ms() - last_print >= 1000)) {
            fprintf(stderr, "%s\n", line);
            last_print = cli_now_ms();
            snprintf(last, sizeof(last), "%s", line);
        }
        if (term) {
            *final = reply;
            return 0;
        }
        wire_free(reply);
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int cmd_run(const cli_env *e, const cli_opts *o)
{
    const char *file = o->job ? o->job : o->arg;
    if (!file) {
        fprintf(stderr, "swarm run: usage: swarm run --job JOB.json [--workers N] [--model M] "
                        "[--json] [--state DIR]\n");
        return 2;
    }
    if (access(file, R_OK) != 0) {
        fprintf(stderr, "swarm run: %s: %s\n", file, strerror(errno));
        return 1;
    }
    int started = 0;
    if (!getenv("SWARM_ENDPOINT") && !cli_swarm_running(e)) {
        if (cmd_up(e, o) != 0) return 1;
        started = 1;
    } else if (o->model || o->workers) {
        fprintf(stderr,
                "swarm run: using the swarm already running in %s (its workers and "
                "model; --workers/--model ignored)\n",
                e->state);
    }
    int status = 1;
    cli_client c;
    if (g_interrupted) goto down;
    if (cli_connect(e, &c, "run") != 0) goto down;
    char id[256];
    uint32_t total = 0;
    if (cli_submit_file(&c, file, id, sizeof(id), &total) != 0) {
        cli_client_close(&c);
        goto down;
    }
    fprintf(stderr, "swarm run: job %s submitted (%u sub-tasks)\n", id, total);
    Swarm__Envelope *final = NULL;
    if (cli_follow(&c, id, &final) == 0) {
        const Swarm__JobStatus *j = final->status->jobs[0];
        cli_print_result(j->result_json, o->json);
        fflush(stdout);
        if (strcmp(j->state, "done") == 0)
            status = 0;
        else
            fprintf(stderr, "swarm run: job %s ended %s (%u done, %u failed, %u cancelled)\n", id,
                    j->state, j->done, j->failed, j->cancelled);
        wire_free(final);
    }
    cli_client_close(&c);
down:
    if (started && cmd_down(e, 1) != 0) status = 1;
    if (g_interrupted && status != 0) status = 130;
    return status;
}

int cli_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        cli_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    cli_opts o;
    memset(&o, 0, sizeof(o));
    if (cli_parse(argc - 2, argv + 2, &o) != 0) {
        cli_usage(stderr);
        return 2;
    }
    cli_env e;
    char err[1024];
    if (cli_env_init(&e, o.state, err, sizeof(err)) != 0) {
        fprintf(stderr, "swarm: %s\n", err);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = cli_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (strcmp(cmd, "up") == 0) return cmd_up(&e, &o);
    if (strcmp(cmd, "down") == 0) return cmd_down(&e, 0);
    if (strcmp(cmd, "submit") == 0) return cmd_submit(&e, &o);
    if (strcmp(cmd, "status") == 0) return cmd_status(&e, &o);
    if (strcmp(cmd, "run") == 0) return cmd_run(&e, &o);
    if (strcmp(cmd, "cancel") == 0) return cmd_cancel(&e, &o);
    if (strcmp(cmd, "workers") == 0) return cmd_workers(&e, &o);
    fprintf(stderr, "swarm: unknown command \"%s\"\n", cmd);
    cli_usage(stderr);
    return 2;
}
