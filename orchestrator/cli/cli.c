/* cli.c - the `swarm` commands: up, down, submit, status, run, wait, cancel,
 * retry, result, workers.
 *
 * Output rules: results and --json documents go to stdout; progress and
 * diagnostics go to stderr, so `swarm run --json > out.json` is clean.
 * Progress is a redrawn bar on a TTY and plain, change-only lines otherwise.
 * Options, --help texts and exit statuses live in cli_args.c, the views of
 * jobs and workers in cli_view.c; docs/CLI.md is the reference. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_args.h"
#include "cli_logs.h"
#include "cli_top.h"
#include "cli_upload.h"
#include "cli_keygen.h"
#include "cli_view.h"
#include "client.h"
#include "swarm_version.h"
#include "swarm_clock.h"

#define CLI_TIMEOUT_MS 10000
#define CLI_MAX_JOB_BYTES (4 * 1024 * 1024)
#define CLI_MAX_UPLOAD_BYTES ((size_t)1 << 30) /* a job file with a long fanout.items list */
#define CLI_SUBMIT_TIMEOUT_MS 300000 /* longest wait for a Submit's (or upload part's) answer */
#define CLI_FOLLOW_WAIT_MS 1000      /* run: each held Status waits this long (the progress line) */
/* how a worker's output starts when its input was cut (worker/backend_embedded.c) */
#define CLI_TRUNCATED_MARK "[input truncated"

static volatile sig_atomic_t g_interrupted;

static void cli_on_signal(int sig)
{
    (void)sig;
    g_interrupted = 1;
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

/* ---- commands ---- */

static int cmd_up(const cli_env *e, const cli_opts *o)
{
    cli_up_opts u = {.workers = o->workers > 0 ? o->workers : 4,
                     .slots = o->slots > 0 ? o->slots : 2,
                     .threads = o->threads,
                     .model = o->model,
                     .engine = o->engine,
                     .http = o->http};
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
    if (quiet) return 0;
    /* `down` only knows the pid files of its state dir: a swarmd reached
     * through SWARM_ENDPOINT (another host, a systemd unit) is not its to stop */
    const char *ep = getenv("SWARM_ENDPOINT");
    if (ep && *ep) {
        fprintf(stderr,
                "swarm down: SWARM_ENDPOINT=%s is not stopped: `swarm down` stops only the "
                "processes `swarm up` started in a state directory, and cannot reach a swarmd "
                "or workers it did not start (stop those where they were started: their "
                "systemd unit, Slurm job or Kubernetes deployment, or kill swarmd there).\n",
                ep);
        if (stopped == 0) {
            fprintf(stderr, "swarm down: nothing was running in %s either; nothing stopped\n",
                    e->state);
            return 1;
        }
    }
    if (stopped == 0)
        fprintf(stderr, "swarm down: no swarm was running in %s; nothing to stop\n", e->state);
    else
        fprintf(stderr,
                "swarm down: stopped %d local process(es) (workers, swarmd, redis-server) in %s\n",
                stopped, e->state);
    return 0;
}

/* Submit a job file; returns 0 and fills job_id/total. */
/* Submit a job file; *job_id gets its id. wait_ms > 0 asks swarmd to wait on
 * the job as a held Status would (Submit.wait_ms): *held is then the
 * correlation id of the second answer to await (cli_client_await), or 0 when
 * none follows (send the held Status). */
static int cli_submit_file(cli_client *c, const char *file, char *job_id, size_t cap,
                           uint32_t *total, uint32_t wait_ms, uint64_t *held)
{
    if (held) *held = 0;
    struct stat fst;
    if (stat(file, &fst) == 0 && S_ISDIR(fst.st_mode)) {
        fprintf(stderr, "swarm submit: %s is a directory; give the job's .json file\n", file);
        return -1;
    }
    FILE *f = fopen(file, "rb");
    if (!f) {
        fprintf(stderr, "swarm submit: %s: %s\n", file, strerror(errno));
        return -1;
    }
    /* read whole: a long fanout.items list makes a job file larger than one
     * Submit may be; that list then goes as an upload in chunks */
    size_t n = 0, bcap = 1 << 16;
    char *buf = malloc(bcap + 1);
    while (buf && n <= CLI_MAX_UPLOAD_BYTES) {
        if (n == bcap) {
            char *p = realloc(buf, bcap * 2 + 1);
            if (!p) break;
            buf = p;
            bcap *= 2;
        }
        size_t got = fread(buf + n, 1, bcap - n, f);
        if (got == 0) break;
        n += got;
    }
    bool eof = feof(f);
    fclose(f);
    size_t is = 0, ie = 0;
    bool upload = buf && eof && cli_upload_find_items(buf, n, &is, &ie) == 1 &&
                  ie - is >= CLI_UPLOAD_MIN_BYTES;
    if (!buf || !eof || (!upload && n > CLI_MAX_JOB_BYTES)) {
        fprintf(stderr,
                "swarm submit: %s: larger than %d bytes (only a long fanout.items list may make "
                "a job file larger: it is sent in chunks)\n",
                file, CLI_MAX_JOB_BYTES);
        free(buf);
        return -1;
    }
    buf[n] = 0;
    /* no Status request first: swarmd itself refuses a budget.max_tokens that
     * does not fit its workers' model context (swarmd_client.c) */
    char abs[PATH_MAX], dir[PATH_MAX];
    if (!realpath(file, abs)) {
        fprintf(stderr, "swarm submit: %s: %s\n", file, strerror(errno));
        free(buf);
        return -1;
    }
    snprintf(dir, sizeof(dir), "%s", abs);
    char *base = dirname(dir);
    if (upload) {
        char err[2048];
        int rc = cli_upload_job(c, buf, n, is, ie, base, CLI_SUBMIT_TIMEOUT_MS, job_id, cap, total,
                                err, sizeof(err));
        free(buf);
        if (rc != 0) fprintf(stderr, "swarm submit: %s: %s\n", file, err);
        return rc;
    }
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    Swarm__Submit sub = SWARM__SUBMIT__INIT;
    sub.job_json = buf;
    sub.base_dir = base;
    sub.wait_ms = wait_ms;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_SUBMIT;
    env.submit = &sub;
    Swarm__Envelope *reply = NULL;
    char err[2048];
    uint32_t code = 0;
    /* swarmd answers once every task is stored: a fanout.lines or glob job of
     * 1,000,000 tasks takes ~40 s to stage on a loaded 2-core machine */
    int rc = cli_client_call(c, &env, CLI_SUBMIT_TIMEOUT_MS, &reply, &code, err, sizeof(err));
    free(buf);
    if (rc != 0) {
        fprintf(stderr, "swarm submit: %s: %s\n", file, err);
        return -1;
    }
    bool follows =
        reply && reply->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS && reply->status->held;
    if (cli_submit_reply_job(reply, job_id, cap, total, err, sizeof(err)) != 0) {
        fprintf(stderr, "swarm submit: %s: %s\n", file, err);
        return -1;
    }
    if (held && follows) *held = c->corr;
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
    int rc = cli_submit_file(&c, file, id, sizeof(id), &total, 0, NULL);
    cli_client_close(&c);
    if (rc != 0) return 1;
    printf("%s\n", id);
    return 0;
}

/* Crash loops the worker supervisor reported (STATE/crashloop, launcher.c):
 * each line to f, or into arr when arr is given. */
static void cli_crashloops(const cli_env *e, FILE *f, cJSON *arr)
{
    char path[1100], line[512];
    snprintf(path, sizeof(path), "%s/crashloop", e->state);
    FILE *in = fopen(path, "r");
    if (!in) return;
    while (fgets(line, sizeof(line), in)) {
        line[strcspn(line, "\n")] = 0;
        if (arr)
            cJSON_AddItemToArray(arr, cJSON_CreateString(line));
        else if (f)
            fprintf(f, "supervisor: %s\n", line);
    }
    fclose(in);
}

static int cmd_status(const cli_env *e, const cli_opts *o)
{
    cli_client c;
    if (cli_connect(e, &c, "status") != 0) return 1;
    Swarm__Envelope *reply = NULL;
    char err[1024];
    uint32_t code;
    /* one job as JSON also carries its merged result once it is terminal,
     * read in pages (a Status reply never carries a whole result); the first
     * page comes with the status itself */
    bool want_result = o->arg && o->json;
    int rc = cli_client_status(&c, o->arg, want_result, false, CLI_TIMEOUT_MS, &reply, &code, err,
                               sizeof(err));
    char *result = NULL;
    size_t result_len = 0;
    if (rc == 0 && want_result && reply->status->n_jobs == 1 &&
        reply->status->jobs[0]->result_size) {
        rc = cli_client_result_from(&c, o->arg, reply->status->jobs[0], CLI_TIMEOUT_MS, &result,
                                    &result_len, NULL, 0, &code, err, sizeof(err));
        if (rc == 1) rc = 0;
        if (rc != 0) wire_free(reply);
    }
    cli_client_close(&c);
    if (rc != 0) {
        fprintf(stderr, "swarm status: %s\n", err);
        return 1;
    }
    const Swarm__Status *st = reply->status;
    uint64_t now = cli_view_wall_ms();
    if (o->json) {
        if (o->arg) {
            if (st->n_jobs < 1) {
                fprintf(stderr, "swarm status: no job %s\n", o->arg);
                wire_free(reply);
                return 1;
            }
            cJSON *jo = cli_view_job_json(st->jobs[0], now);
            cli_view_sandbox(NULL, jo, st->jobs[0], st);
            cJSON *res = result ? cJSON_Parse(result) : NULL;
            if (res) cJSON_AddItemToObject(jo, "result", res);
            cli_view_print_json(jo);
        } else {
            cJSON *root = cJSON_CreateObject();
            cJSON *jobs = cJSON_AddArrayToObject(root, "jobs");
            for (size_t i = 0; i < st->n_jobs; i++) {
                cJSON *jo = cli_view_job_json(st->jobs[i], now);
                cli_view_sandbox(NULL, jo, st->jobs[i], st);
                cJSON_AddItemToArray(jobs, jo);
            }
            cJSON *ws = cJSON_AddArrayToObject(root, "workers");
            for (size_t i = 0; i < st->n_workers; i++)
                cJSON_AddItemToArray(ws, cli_view_worker_json(st->workers[i]));
            cli_crashloops(e, NULL, cJSON_AddArrayToObject(root, "crash_loops"));
            cJSON_AddStringToObject(root, "paused", st->paused ? st->paused : "");
            cli_view_print_json(root);
        }
    } else {
        int tty = isatty(1);
        if (!o->arg) {
            printf("%zu worker(s); %zu job(s)\n", st->n_workers, st->n_jobs);
            cli_crashloops(e, stdout, NULL);
            if (st->paused && st->paused[0]) printf("PAUSED: %s\n", st->paused);
            for (size_t i = 0; i < st->n_workers; i++)
                if (st->workers[i]->sandbox && !strcmp(st->workers[i]->sandbox, "none"))
                    printf("worker %s: no bubblewrap; agents' run is refused there unless their "
                           "job sets agent.sandbox \"unsandboxed\"\n",
                           st->workers[i]->worker_id);
        }
        for (size_t i = 0; i < st->n_jobs; i++) {
            cli_view_progress(stdout, st->jobs[i], tty, now);
            fputc('\n', stdout);
            cli_view_sandbox(stdout, NULL, st->jobs[i], st);
        }
    }
    wire_free(reply);
    free(result);
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
            cJSON_AddItemToArray(ws, cli_view_worker_json(st->workers[i]));
        cli_view_print_json(ws);
    } else {
        printf("%-20s %-16s %5s %5s  %s\n", "WORKER", "HOST", "SLOTS", "BUSY", "MODEL");
        for (size_t i = 0; i < st->n_workers; i++) {
            const Swarm__WorkerStatus *w = st->workers[i];
            printf("%-20s %-16s %5u %5u  %s\n", w->worker_id, w->hostname, w->slots, w->busy,
                   w->model);
            if (w->prefix_cache)
                printf("%-20s prefix cache: %llu hits of %llu lookups, %llu tokens reused, "
                       "%.1f of %.1f MiB\n",
                       "", (unsigned long long)w->prefix_cache->hits,
                       (unsigned long long)w->prefix_cache->lookups,
                       (unsigned long long)w->prefix_cache->tokens_reused,
                       (double)w->prefix_cache->bytes / 1048576.0,
                       (double)w->prefix_cache->max_bytes / 1048576.0);
            if (w->quarantined)
                printf("%-20s QUARANTINED (gets no work): %s\n", "", w->quarantine_reason);
            if (w->sandbox && !strcmp(w->sandbox, "none"))
                printf("%-20s no bubblewrap: agents' run refused unless their job is "
                       "\"unsandboxed\"\n",
                       "");
        }
    }
    wire_free(reply);
    return 0;
}

/* Cancel job; the job's state after the call goes to state (when not NULL):
 * "cancelled" when it ran, else the terminal state it was already in. */
static int cli_cancel_job(cli_client *c, const char *job, char *state, size_t cap, char *err,
                          size_t errlen)
{
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    Swarm__Cancel can = SWARM__CANCEL__INIT;
    can.job_id = (char *)job;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_CANCEL;
    env.cancel = &can;
    Swarm__Envelope *reply = NULL;
    uint32_t code;
    int rc = cli_client_call(c, &env, CLI_TIMEOUT_MS, &reply, &code, err, errlen);
    if (state && cap) {
        state[0] = 0;
        if (rc == 0 && reply->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS &&
            reply->status->n_jobs > 0)
            snprintf(state, cap, "%s", reply->status->jobs[0]->state);
    }
    if (reply) wire_free(reply);
    return rc;
}

/* `swarm cancel JOB TASK...`: one Cancel per task. swarmd answers a task that
 * had ended, an unknown one or a job that is not running with an Error naming
 * it, so each line printed says what really happened to that task. */
static int cli_cancel_tasks(cli_client *c, const cli_opts *o)
{
    int rc_all = CLI_EXIT_OK;
    for (int i = 0; i < o->n_more; i++) {
        Swarm__Envelope env = SWARM__ENVELOPE__INIT;
        Swarm__Cancel can = SWARM__CANCEL__INIT;
        can.job_id = (char *)o->arg;
        can.task_id = (char *)o->more[i];
        env.payload_case = SWARM__ENVELOPE__PAYLOAD_CANCEL;
        env.cancel = &can;
        Swarm__Envelope *reply = NULL;
        uint32_t code = 0;
        char err[1024];
        int rc = cli_client_call(c, &env, CLI_TIMEOUT_MS, &reply, &code, err, sizeof(err));
        if (reply) wire_free(reply);
        if (rc != 0) {
            fprintf(stderr, "swarm cancel: %s\n", err);
            rc_all = CLI_EXIT_ERROR;
            /* no swarmd at all: the other tasks would say the same */
            if (rc == -1) break;
            continue;
        }
        printf("cancelled %s/%s\n", o->arg, o->more[i]);
        fflush(stdout);
    }
    return rc_all;
}

/* Honest cancel: a job that had already ended is reported as such (exit 1),
 * never as "cancelled". The state is read first (cancelling an ended job
 * changes nothing in the scheduler, so the reply alone cannot tell an old
 * cancel from this one), then the cancel reply confirms what happened. */
static int cmd_cancel(const cli_env *e, const cli_opts *o)
{
    cli_client c;
    if (cli_connect(e, &c, "cancel") != 0) return CLI_EXIT_ERROR;
    if (o->n_more > 0) {
        int rt = cli_cancel_tasks(&c, o);
        cli_client_close(&c);
        return rt;
    }
    char err[1024], before[32] = "", after[32] = "";
    Swarm__Envelope *reply = NULL;
    uint32_t code = 0;
    int rc = cli_client_status(&c, o->arg, false, false, CLI_TIMEOUT_MS, &reply, &code, err,
                               sizeof(err));
    if (rc == 0) {
        if (reply->status->n_jobs > 0) {
            const Swarm__JobStatus *j = reply->status->jobs[0];
            snprintf(before, sizeof(before), "%s", j->state);
            if (strcmp(j->state, "running") != 0) {
                if (cli_view_terminal(j->state))
                    fprintf(stderr,
                            "swarm cancel: job %s had already ended %s (%u done, %u failed, "
                            "%u cancelled of %u); nothing to cancel\n",
                            o->arg, j->state, j->done, j->failed, j->cancelled, j->total);
                else
                    fprintf(stderr,
                            "swarm cancel: job %s is %s: all its sub-tasks have ended and its "
                            "result is being merged; nothing to cancel\n",
                            o->arg, j->state);
                wire_free(reply);
                cli_client_close(&c);
                return CLI_EXIT_ERROR;
            }
        }
        wire_free(reply);
    } else {
        /* swarmd answers an unknown job with an Error naming it */
        fprintf(stderr, "swarm cancel: %s\n", err);
        cli_client_close(&c);
        return CLI_EXIT_ERROR;
    }
    rc = cli_cancel_job(&c, o->arg, after, sizeof(after), err, sizeof(err));
    cli_client_close(&c);
    if (rc != 0) {
        fprintf(stderr, "swarm cancel: %s\n", err);
        return CLI_EXIT_ERROR;
    }
    if (strcmp(after, "cancelled") != 0) {
        /* it ended between the two calls */
        fprintf(stderr,
                "swarm cancel: job %s ended %s before the cancel arrived; nothing to cancel\n",
                o->arg, after[0] ? after : "(state unknown)");
        return CLI_EXIT_ERROR;
    }
    printf("cancelled %s\n", o->arg);
    return CLI_EXIT_OK;
}

/* Failed sub-tasks and inputs the worker cut to fit the context, on stderr:
 * easy to miss in the merged text, and --json readers want them too. */
static void cli_result_notes(const cJSON *r)
{
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
    /* the worker marks a cut input at the head of the output (docs/JOBS.md) */
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(r, "results");
    cJSON_ArrayForEach(t, res)
    {
        const cJSON *out = cJSON_GetObjectItemCaseSensitive(t, "output");
        if (!cJSON_IsString(out) ||
            strncmp(out->valuestring, CLI_TRUNCATED_MARK, strlen(CLI_TRUNCATED_MARK)) != 0)
            continue;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(t, "task_id");
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(t, "item");
        fprintf(stderr, "swarm run: task %s (%.60s): input truncated to fit the model context\n",
                cJSON_IsString(id) ? id->valuestring : "?",
                cJSON_IsString(item) ? item->valuestring : "?");
    }
}

/* Print the merged result: the whole result JSON, or the merged text. */
static int cli_print_result(FILE *to, const char *result_json, int as_json)
{
    if (!result_json[0]) {
        fprintf(stderr, "swarm run: swarmd returned no merged result\n");
        return -1;
    }
    cJSON *r = cJSON_Parse(result_json);
    if (as_json) {
        fputs(result_json, to);
        size_t n = strlen(result_json);
        if (!n || result_json[n - 1] != '\n') fputc('\n', to);
        if (r) cli_result_notes(r);
        cJSON_Delete(r);
        return 0;
    }
    if (!r) {
        fprintf(stderr, "swarm run: swarmd's result is not JSON\n");
        return -1;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "merged");
    if (cJSON_IsString(m)) {
        fputs(m->valuestring, to);
        fputc('\n', to);
    } else if (m) {
        char *s = cJSON_Print(m);
        if (s) fprintf(to, "%s\n", s);
        free(s);
    }
    cli_result_notes(r);
    cJSON_Delete(r);
    return 0;
}

/* A run or wait whose swarmd answered Error 7 (it cannot reach Redis) or did
 * not answer: said once per outage, then a pause before asking again (an
 * Error comes back at once, and swarmd keeps the job through the outage). */
static void cli_transient_wait(const char *cmd, int rc, const char *err, int *noted)
{
    if (!*noted)
        fprintf(stderr, "swarm %s: %s; waiting for it to come back (the job is kept)\n", cmd, err);
    *noted = 1;
    if (rc == -2) {
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Follow a job until it is terminal; returns its final status reply with the result. */
/* held: the correlation id of a Submit's second answer still to come (0: none). */
static int cli_follow(cli_client *c, const char *job, uint64_t held, Swarm__Envelope **final)
{
    int tty = isatty(2);
    char last[512] = "";
    uint64_t last_ok = swarm_clock_ms(), last_print = 0;
    int cancelled = 0;
    uint64_t terminal_since = 0;
    int noted = 0;
    *final = NULL;
    for (;;) {
        if (g_interrupted && !cancelled) {
            char err[512];
            fprintf(stderr, "%sswarm run: interrupted; cancelling %s\n", tty ? "\n" : "", job);
            if (cli_cancel_job(c, job, NULL, 0, err, sizeof(err)) != 0)
                fprintf(stderr, "swarm run: cancel: %s\n", err);
            cancelled = 1;
        }
        Swarm__Envelope *reply = NULL;
        char err[1024];
        uint32_t code = 0;
        /* held by swarmd until the job ends (at most 1 s, for the progress line);
         * the reply that says it ended carries the result's first page */
        uint64_t asked = swarm_clock_ms();
        int rc = held ? cli_client_await(c, held, CLI_FOLLOW_WAIT_MS + 5000, &reply, &code, err,
                                         sizeof(err))
                      : cli_client_status_wait_result(c, job, CLI_FOLLOW_WAIT_MS, 5000, &reply,
                                                      &code, err, sizeof(err));
        held = 0;
        if (rc == -2 && code != WIRE_E_INTERNAL) {
            fprintf(stderr, "swarm run: %s\n", err);
            return -1;
        }
        if (rc != 0) {
            if (swarm_clock_ms() - last_ok > 120000) {
                fprintf(stderr, "swarm run: lost swarmd: %s\n", err);
                return -1;
            }
            /* swarmd may be restarting, or its Redis (Error 7): it keeps and
             * resumes the job, so this waits the outage out */
            cli_transient_wait("run", rc, err, &noted);
            continue;
        }
        noted = 0;
        last_ok = swarm_clock_ms();
        if (reply->status->n_jobs < 1) {
            fprintf(stderr, "swarm run: swarmd no longer knows job %s\n", job);
            wire_free(reply);
            return -1;
        }
        const Swarm__JobStatus *j = reply->status->jobs[0];
        char line[512], counts[160];
        FILE *mem = fmemopen(line, sizeof(line), "w");
        if (mem) {
            cli_view_progress(mem, j, tty, cli_view_wall_ms());
            fclose(mem);
        }
        /* plain lines are printed when the counts change, not the clock */
        snprintf(counts, sizeof(counts), "%s %u %u %u %u %u", j->state, j->done, j->failed,
                 j->running, j->pending, j->cancelled);
        /* the merged result lands just after the state turns terminal */
        if (cli_view_terminal(j->state) && !terminal_since) terminal_since = swarm_clock_ms();
        int term = cli_view_terminal(j->state) &&
                   (j->result_size || swarm_clock_ms() - terminal_since > 10000);
        if (tty) {
            fprintf(stderr, "\r%s\033[K", line);
            if (term) fputc('\n', stderr);
        } else if (strcmp(counts, last) != 0 && (term || swarm_clock_ms() - last_print >= 1000)) {
            fprintf(stderr, "%s\n", line);
            last_print = swarm_clock_ms();
            snprintf(last, sizeof(last), "%s", counts);
        }
        if (term) {
            *final = reply;
            return 0;
        }
        wire_free(reply);
        /* an older swarmd answers at once: do not spin */
        uint64_t took = swarm_clock_ms() - asked;
        if (took < 200) {
            struct timespec ts = {0, (long)(200 - took) * 1000000L};
            nanosleep(&ts, NULL);
        }
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
    /* swarmd waits on the job with the Submit itself (its second answer),
     * not after a further request: the end is pushed one exchange sooner */
    uint64_t held = 0;
    if (cli_submit_file(&c, file, id, sizeof(id), &total, CLI_FOLLOW_WAIT_MS, &held) != 0) {
        cli_client_close(&c);
        goto down;
    }
    fprintf(stderr, "swarm run: job %s submitted (%u sub-tasks)\n", id, total);
    Swarm__Envelope *final = NULL;
    if (cli_follow(&c, id, held, &final) == 0) {
        const Swarm__JobStatus *j = final->status->jobs[0];
        char *result = NULL, err[1024] = "";
        size_t result_len = 0;
        uint32_t code = 0;
        /* the result in pages: no single reply has to hold it; the first came
         * with the end, so a small result needs no further request */
        if (cli_client_result_from(&c, id, j, CLI_TIMEOUT_MS, &result, &result_len, NULL, 0, &code,
                                   err, sizeof(err)) < 0)
            fprintf(stderr, "swarm run: reading the result: %s\n", err);
        cli_client_timing(&c, "submit_to_result", c.submitted, swarm_clock_sec());
        cli_print_result(stdout, result ? result : "", o->json);
        free(result);
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

/* Block until the job ends; the exit status says how it ended. Ctrl-C stops
 * waiting, not the job (that is `swarm cancel`). swarmd may restart while
 * we wait (it resumes every job), so transport errors are retried for a
 * while; an Error reply (unknown job) is final. */
static int cmd_wait(const cli_env *e, const cli_opts *o)
{
    cli_client c;
    if (cli_connect(e, &c, "wait") != 0) return CLI_EXIT_ERROR;
    uint64_t start = swarm_clock_ms(), last_ok = start;
    int noted = 0;
    char last_state[32] = "unknown";
    int status = CLI_EXIT_ERROR;
    for (;;) {
        if (g_interrupted) {
            fprintf(stderr, "swarm wait: interrupted; job %s is still %s (not cancelled)\n", o->arg,
                    last_state);
            status = CLI_EXIT_INTERRUPTED;
            break;
        }
        if (o->timeout_s && swarm_clock_ms() - start >= (uint64_t)o->timeout_s * 1000u) {
            fprintf(stderr, "swarm wait: job %s is still %s after %d s (--timeout)\n", o->arg,
                    last_state, o->timeout_s);
            status = CLI_EXIT_TIMEOUT;
            break;
        }
        Swarm__Envelope *reply = NULL;
        char err[1024];
        uint32_t code = 0;
        /* swarmd holds the answer until the job ends (pushed, not polled); at
         * most 1 s, so Ctrl-C and --timeout are seen */
        uint32_t wait_ms = 1000;
        if (o->timeout_s) {
            uint64_t left = (uint64_t)o->timeout_s * 1000u - (swarm_clock_ms() - start);
            if (left < wait_ms) wait_ms = left ? (uint32_t)left : 1;
        }
        uint64_t asked = swarm_clock_ms();
        int rc = cli_client_status_wait(&c, o->arg, wait_ms, 5000, &reply, &code, err, sizeof(err));
        if (rc == -2 && code != WIRE_E_INTERNAL) {
            fprintf(stderr, "swarm wait: %s\n", err);
            break;
        }
        if (rc == 0 && reply->status->n_jobs < 1) {
            fprintf(stderr, "swarm wait: swarmd does not know job %s\n", o->arg);
            wire_free(reply);
            break;
        }
        if (rc != 0) {
            if (swarm_clock_ms() - last_ok > 120000) {
                fprintf(stderr, "swarm wait: lost swarmd: %s\n", err);
                break;
            }
            cli_transient_wait("wait", rc, err, &noted);
        } else {
            noted = 0;
            last_ok = swarm_clock_ms();
            const Swarm__JobStatus *j = reply->status->jobs[0];
            snprintf(last_state, sizeof(last_state), "%s", j->state);
            if (cli_view_terminal(j->state)) {
                char line[512];
                FILE *mem = fmemopen(line, sizeof(line), "w");
                if (mem) {
                    cli_view_progress(mem, j, 0, cli_view_wall_ms());
                    fclose(mem);
                    fprintf(stderr, "swarm wait: %s\n", line);
                }
                cli_client_timing(&c, "wait_to_end", c.opened, swarm_clock_sec());
                if (o->json) cli_view_print_json(cli_view_job_json(j, cli_view_wall_ms()));
                status = strcmp(j->state, "done") == 0     ? CLI_EXIT_OK
                         : strcmp(j->state, "failed") == 0 ? CLI_EXIT_FAILED
                                                           : CLI_EXIT_CANCELLED;
                wire_free(reply);
                break;
            }
            wire_free(reply);
        }
        /* an older swarmd (no wait_ms) or a lost one answers at once: do not spin */
        uint64_t took = swarm_clock_ms() - asked;
        if (took < 200) {
            struct timespec ts = {0, (long)(200 - took) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    cli_client_close(&c);
    return status;
}

/* The merged result of an ended job, read in pages; to stdout or --out. */
/* Delete an ended job (Cancel with remove set). */
static int cmd_rm(const cli_env *e, const cli_opts *o)
{
    cli_client c;
    if (cli_connect(e, &c, "rm") != 0) return CLI_EXIT_ERROR;
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    Swarm__Cancel rq = SWARM__CANCEL__INIT;
    rq.job_id = (char *)o->arg;
    rq.remove = 1;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_CANCEL;
    env.cancel = &rq;
    Swarm__Envelope *reply = NULL;
    char err[1024];
    uint32_t code = 0;
    int rc = cli_client_call(&c, &env, CLI_TIMEOUT_MS, &reply, &code, err, sizeof(err));
    cli_client_close(&c);
    if (rc != 0) {
        fprintf(stderr, "swarm rm: %s\n", err);
        return CLI_EXIT_ERROR;
    }
    wire_free(reply);
    printf("removed %s\n", o->arg);
    return CLI_EXIT_OK;
}

static int cmd_result(const cli_env *e, const cli_opts *o)
{
    cli_client c;
    if (cli_connect(e, &c, "result") != 0) return CLI_EXIT_ERROR;
    char *result = NULL, err[1024] = "", state[32] = "";
    size_t len = 0;
    uint32_t code = 0;
    int rc = cli_client_result(&c, o->arg, CLI_TIMEOUT_MS, &result, &len, state, sizeof(state),
                               &code, err, sizeof(err));
    cli_client_close(&c);
    if (rc == 1) {
        fprintf(stderr, "swarm result: job %s is %s: no merged result yet (swarm wait %s)\n",
                o->arg, state, o->arg);
        return CLI_EXIT_ERROR;
    }
    if (rc != 0) {
        fprintf(stderr, "swarm result: %s\n", err);
        return CLI_EXIT_ERROR;
    }
    FILE *f = stdout;
    if (o->out && !(f = fopen(o->out, "w"))) {
        fprintf(stderr, "swarm result: --out %s: %s\n", o->out, strerror(errno));
        free(result);
        return CLI_EXIT_ERROR;
    }
    int prc = cli_print_result(f, result, o->json);
    if (o->out && (ferror(f) | fclose(f)) && prc == 0) {
        fprintf(stderr, "swarm result: --out %s: write failed\n", o->out);
        prc = -1;
    }
    free(result);
    return prc == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
}

/* Re-run a failed job's failed sub-tasks (one more attempt each). swarmd
 * refuses, saying why, a job that is not failed, and nothing changes. */
static int cmd_retry(const cli_env *e, const cli_opts *o)
{
    cli_client c;
    if (cli_connect(e, &c, "retry") != 0) return CLI_EXIT_ERROR;
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    Swarm__Retry rt = SWARM__RETRY__INIT;
    rt.job_id = (char *)o->arg;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_RETRY;
    env.retry = &rt;
    Swarm__Envelope *reply = NULL;
    char err[1024];
    uint32_t code = 0;
    int rc = cli_client_call(&c, &env, CLI_TIMEOUT_MS, &reply, &code, err, sizeof(err));
    cli_client_close(&c);
    if (rc != 0) {
        fprintf(stderr, "swarm retry: %s\n", err);
        return CLI_EXIT_ERROR;
    }
    unsigned n = 0;
    if (reply->payload_case == SWARM__ENVELOPE__PAYLOAD_STATUS && reply->status->n_jobs > 0)
        n = reply->status->jobs[0]->pending + reply->status->jobs[0]->running;
    wire_free(reply);
    printf("retrying %s: %u failed sub-task(s) queued again\n", o->arg, n);
    return CLI_EXIT_OK;
}

/* `swarm logs` and `swarm top` live in cli_logs.c and cli_top.c. */
static int cmd_logs(const cli_env *e, const cli_opts *o)
{
    cli_client c;
    if (cli_connect(e, &c, "logs") != 0) return CLI_EXIT_ERROR;
    int rc = cli_logs_run(&c, o, &g_interrupted);
    cli_client_close(&c);
    return rc;
}

static int cmd_top(const cli_env *e, const cli_opts *o)
{
    if (o->json) {
        /* a live view has no JSON form; one snapshot is `swarm status --json` */
        if (!o->once) {
            fprintf(stderr, "swarm top: --json needs --once (one snapshot; for a live feed "
                            "use swarm logs -f JOB --json)\n");
            return CLI_EXIT_USAGE;
        }
        cli_opts all = *o;
        all.arg = NULL;
        return cmd_status(e, &all);
    }
    cli_client c;
    if (cli_connect(e, &c, "top") != 0) return CLI_EXIT_ERROR;
    int rc = cli_top_run(&c, o, e->state, &g_interrupted);
    cli_client_close(&c);
    return rc;
}

typedef int (*cli_cmd_fn)(const cli_env *e, const cli_opts *o);

static int cmd_down_verbose(const cli_env *e, const cli_opts *o)
{
    (void)o;
    return cmd_down(e, 0);
}

static const struct {
    const char *name;
    cli_cmd_fn fn;
} cli_dispatch[] = {
    {"up", cmd_up},         {"down", cmd_down_verbose},
    {"submit", cmd_submit}, {"status", cmd_status},
    {"run", cmd_run},       {"wait", cmd_wait},
    {"cancel", cmd_cancel}, {"workers", cmd_workers},
    {"result", cmd_result}, {"retry", cmd_retry},
    {"rm", cmd_rm},         {"keygen", cli_keygen},
    {"logs", cmd_logs},     {"top", cmd_top},
};

int cli_main(int argc, char **argv)
{
    if (argc < 2) {
        cli_usage_print(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        /* `swarm help CMD` is `swarm CMD --help` */
        const cli_command *hc = argc > 2 ? cli_command_find(argv[2]) : NULL;
        if (argc > 2 && !hc) {
            fprintf(stderr, "swarm help: unknown command \"%s\"\n", argv[2]);
            cli_usage_print(stderr);
            return CLI_EXIT_USAGE;
        }
        if (hc)
            cli_command_help(stdout, hc);
        else
            cli_usage_print(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        swarm_version_print(stdout, "swarm");
        return CLI_EXIT_OK;
    }
    const cli_command *c = cli_command_find(cmd);
    cli_cmd_fn fn = NULL;
    for (size_t i = 0; c && i < sizeof(cli_dispatch) / sizeof(cli_dispatch[0]); i++)
        if (strcmp(cli_dispatch[i].name, cmd) == 0) fn = cli_dispatch[i].fn;
    if (!fn) {
        fprintf(stderr, "swarm: unknown command \"%s\"\n", cmd);
        cli_usage_print(stderr);
        return CLI_EXIT_USAGE;
    }
    cli_opts o;
    int pr = cli_args_parse(c, argc - 2, argv + 2, &o);
    if (pr != 0) return pr > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    /* the client socket reads SWARM_INSECURE (client.c); the flag sets it for
     * this process only, so both spellings behave the same */
    if (o.insecure) setenv("SWARM_INSECURE", "1", 1);
    cli_env e;
    char err[1024];
    if (cli_env_init(&e, o.state, err, sizeof(err)) != 0) {
        fprintf(stderr, "swarm: %s\n", err);
        return CLI_EXIT_ERROR;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = cli_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return fn(&e, &o);
}
