/* cli_view.c - progress lines and JSON views of jobs and workers.
 *
 * Failures are never drawn as progress: the bar has its own glyph for a
 * failed ('x') and a cancelled ('-') sub-task, so a job whose sub-tasks all
 * failed shows a bar of x, not a full bar of #. */
#include "cli_view.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "swarm_clock.h"

uint64_t cli_view_wall_ms(void)
{
    return swarm_wall_ms();
}

int cli_view_terminal(const char *state)
{
    return strcmp(state, "done") == 0 || strcmp(state, "failed") == 0 ||
           strcmp(state, "cancelled") == 0;
}

void cli_view_timing_of(const Swarm__JobStatus *j, uint64_t now_ms, cli_view_timing *t)
{
    uint64_t end = j->finished_ms ? j->finished_ms : now_ms;
    t->elapsed_ms = j->created_ms && end > j->created_ms ? end - j->created_ms : 0;
    unsigned finished = j->done + j->failed;
    t->rate = t->elapsed_ms > 0 ? finished * 1000.0 / (double)t->elapsed_ms : 0;
    t->eta_ms = -1;
    unsigned ended = j->done + j->failed + j->cancelled;
    if (!cli_view_terminal(j->state) && t->rate > 0 && j->total >= ended)
        t->eta_ms = (int64_t)((j->total - ended) * 1000.0 / t->rate);
}

void cli_view_duration(uint64_t ms, char *buf, size_t cap)
{
    uint64_t s = ms / 1000;
    if (s < 60)
        snprintf(buf, cap, "%llus", (unsigned long long)s);
    else if (s < 3600)
        snprintf(buf, cap, "%llum%02llus", (unsigned long long)(s / 60),
                 (unsigned long long)(s % 60));
    else
        snprintf(buf, cap, "%lluh%02llum", (unsigned long long)(s / 3600),
                 (unsigned long long)(s / 60 % 60));
}

void cli_view_progress(FILE *f, const Swarm__JobStatus *j, int tty, uint64_t now_ms)
{
    cli_view_timing t;
    cli_view_timing_of(j, now_ms, &t);
    char el[32], eta[32] = "-";
    cli_view_duration(t.elapsed_ms, el, sizeof(el));
    if (t.eta_ms >= 0) cli_view_duration((uint64_t)t.eta_ms, eta, sizeof(eta));
    if (tty) {
        enum { W = 30 };
        char bar[W + 1];
        unsigned total = j->total ? j->total : 1;
        /* cumulative cut points, so rounding never overfills the bar */
        unsigned c1 = j->done * W / total;
        unsigned c2 = (j->done + j->failed) * W / total;
        unsigned c3 = (j->done + j->failed + j->cancelled) * W / total;
        /* one failure is always visible, even among thousands of successes */
        if (j->failed && c2 == c1) {
            if (c1 > 0)
                c1--;
            else
                c2++;
        }
        if (c3 < c2) c3 = c2;
        for (unsigned i = 0; i < W; i++)
            bar[i] = i < c1 ? '#' : i < c2 ? 'x' : i < c3 ? '-' : '.';
        bar[W] = 0;
        fprintf(f, "%s %-16.16s [%s] %u/%u done  %u failed  %u running  %.1f/s  %s", j->job_id,
                j->name, bar, j->done, j->total, j->failed, j->running, t.rate, el);
        if (t.eta_ms >= 0) fprintf(f, "  ETA %s", eta);
        fprintf(f, "  %s", j->state);
    } else {
        fprintf(f,
                "%s %s state=%s done=%u/%u failed=%u running=%u pending=%u cancelled=%u "
                "rate=%.2f/s elapsed=%s eta=%s",
                j->job_id, j->name, j->state, j->done, j->total, j->failed, j->running, j->pending,
                j->cancelled, t.rate, el, eta);
    }
}

cJSON *cli_view_job_json(const Swarm__JobStatus *j, uint64_t now_ms)
{
    cli_view_timing t;
    cli_view_timing_of(j, now_ms, &t);
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
    cJSON_AddNumberToObject(o, "elapsed_ms", (double)t.elapsed_ms);
    cJSON_AddNumberToObject(o, "rate_per_s", t.rate);
    if (t.eta_ms >= 0)
        cJSON_AddNumberToObject(o, "eta_ms", (double)t.eta_ms);
    else
        cJSON_AddNullToObject(o, "eta_ms");
    return o;
}

void cli_view_sandbox(FILE *f, cJSON *o, const Swarm__JobStatus *j, const Swarm__Status *st)
{
    if (!j->sandbox || !*j->sandbox) return;
    int bwrap = strcmp(j->sandbox, "bwrap") == 0;
    cJSON *refused = o && bwrap ? cJSON_CreateArray() : NULL;
    char names[256] = "";
    size_t n_refused = 0, used = 0;
    /* a bwrap job's run tool is refused on a worker without bubblewrap */
    for (size_t i = 0; bwrap && i < st->n_workers; i++) {
        const Swarm__WorkerStatus *w = st->workers[i];
        if (!w->sandbox || strcmp(w->sandbox, "none") != 0) continue;
        n_refused++;
        if (refused) cJSON_AddItemToArray(refused, cJSON_CreateString(w->worker_id));
        if (used < sizeof names - 1) {
            int k =
                snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "", w->worker_id);
            used = k > 0 ? used + (size_t)k : used;
        }
    }
    if (o) {
        cJSON_AddStringToObject(o, "sandbox", j->sandbox);
        if (refused) cJSON_AddItemToObject(o, "sandbox_refused_on", refused);
        return;
    }
    if (!bwrap)
        fprintf(f,
                "  sandbox: %s (explicit opt-in: agents' run executes without bubblewrap, "
                "with rlimits and a timeout only)\n",
                j->sandbox);
    else if (n_refused)
        fprintf(f,
                "  sandbox: bwrap; agents' run is REFUSED on %zu worker(s) without bubblewrap "
                "(%s): install bubblewrap there, or set the job's agent.sandbox to "
                "\"unsandboxed\"\n",
                n_refused, names);
    else
        fprintf(f, "  sandbox: bwrap (agents' run in bubblewrap + seccomp, no network)\n");
}

uint32_t cli_view_worker_ctx(const Swarm__WorkerStatus *w)
{
    const char *p = w->model ? strstr(w->model, "ctx ") : NULL;
    if (!p) return 0;
    char *end = NULL;
    unsigned long v = strtoul(p + 4, &end, 10);
    return end != p + 4 && v < 0x7fffffff ? (uint32_t)v : 0;
}

cJSON *cli_view_worker_json(const Swarm__WorkerStatus *w)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "worker_id", w->worker_id);
    cJSON_AddStringToObject(o, "hostname", w->hostname);
    cJSON_AddNumberToObject(o, "slots", w->slots);
    cJSON_AddNumberToObject(o, "busy", w->busy);
    cJSON_AddNumberToObject(o, "last_seen_ms", (double)w->last_seen_ms);
    cJSON_AddStringToObject(o, "model", w->model);
    cJSON_AddBoolToObject(o, "quarantined", w->quarantined);
    if (w->sandbox && *w->sandbox) cJSON_AddStringToObject(o, "sandbox", w->sandbox);
    if (w->quarantined) cJSON_AddStringToObject(o, "quarantine_reason", w->quarantine_reason);
    uint32_t ctx = cli_view_worker_ctx(w);
    if (ctx)
        cJSON_AddNumberToObject(o, "n_ctx", ctx);
    else
        cJSON_AddNullToObject(o, "n_ctx");
    if (w->prefix_cache) {
        const Swarm__PrefixCacheStats *p = w->prefix_cache;
        cJSON *pc = cJSON_AddObjectToObject(o, "prefix_cache");
        cJSON_AddNumberToObject(pc, "lookups", (double)p->lookups);
        cJSON_AddNumberToObject(pc, "hits", (double)p->hits);
        cJSON_AddNumberToObject(pc, "tokens_reused", (double)p->tokens_reused);
        cJSON_AddNumberToObject(pc, "bytes", (double)p->bytes);
        cJSON_AddNumberToObject(pc, "max_bytes", (double)p->max_bytes);
    }
    return o;
}

void cli_view_print_json(cJSON *o)
{
    char *s = cJSON_Print(o);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    cJSON_Delete(o);
}
