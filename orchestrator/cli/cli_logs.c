/* cli_logs.c - `swarm logs [-f] JOB [TASK]`: a job's events, its agents'
 * transcript steps and their audit records, as text or JSON lines.
 *
 * Three sources, each read in pages after a cursor (swarmd's Events request):
 * the job's event stream (by stream id), the audit stream (by stream id) and
 * the transcripts (by task and line index). Without -f each is printed in
 * turn. With -f the backlog is printed the same way, then the event stream
 * leads: a task_step event fetches that task's new transcript lines (a
 * per-task line cursor says which were printed), and the audit stream is
 * polled after it. Every cursor lives here, not in swarmd, so a swarmd
 * restart costs nothing but a retried request, and nothing is printed twice.
 * Memory stays bounded by a page (500 entries, ~1 MiB) plus one small cursor
 * per agent task that has steps. */
#include "cli_logs.h"
#include "swarm_clock.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOGS_PAGE 500
#define LOGS_RETRY_MS 120000 /* how long a swarmd restart is waited for */
#define LOGS_POLL_MS 250
#define LOGS_BUSY_POLL_MS 20 /* after a poll that found many events */
#define LOGS_MAP_MAX 1000000 /* agent tasks whose transcript cursor is kept */

static void logs_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int cli_logs_page(cli_client *c, const char *kind, const char *job, const char *task,
                  const char *after, uint32_t limit, int retry_ms, volatile sig_atomic_t *stop,
                  Swarm__Envelope **reply, char *err, size_t errlen)
{
    uint64_t start = swarm_clock_ms();
    for (;;) {
        Swarm__Envelope env = SWARM__ENVELOPE__INIT;
        Swarm__Events rq = SWARM__EVENTS__INIT;
        rq.job_id = (char *)(job ? job : "");
        rq.task_id = (char *)(task ? task : "");
        rq.kind = (char *)kind;
        rq.after = (char *)(after ? after : "");
        rq.limit = limit;
        env.payload_case = SWARM__ENVELOPE__PAYLOAD_EVENTS;
        env.events = &rq;
        uint32_t code = 0;
        int rc = cli_client_call(c, &env, 5000, reply, &code, err, errlen);
        if (rc == 0 && (*reply)->payload_case != SWARM__ENVELOPE__PAYLOAD_EVENTS) {
            snprintf(err, errlen, "swarmd answered an Events request with payload %d (too old?)",
                     (int)(*reply)->payload_case);
            wire_free(*reply);
            *reply = NULL;
            return -2;
        }
        /* an unknown job or a bad request is final; "Redis not connected yet"
         * (a swarmd just restarted) is not */
        if (rc == 0 || (rc == -2 && code != WIRE_E_INTERNAL)) return rc;
        /* swarmd may be restarting; it keeps nothing a cursor needs */
        if ((stop && *stop) || swarm_clock_ms() - start >= (uint64_t)retry_ms) return -1;
        logs_sleep_ms(LOGS_POLL_MS);
    }
}

const char *cli_logs_field(const Swarm__LogEntry *e, const char *name)
{
    for (size_t i = 0; i + 1 < e->n_fields; i += 2)
        if (strcmp(e->fields[i], name) == 0) return e->fields[i + 1];
    return "";
}

/* ---- per-task transcript cursors: task id -> next line index ---- */

typedef struct {
    char **keys;
    uint32_t *next;
    size_t n, cap; /* cap: a power of two, or 0 */
    int full;      /* LOGS_MAP_MAX reached: said once */
} logs_map;

static size_t logs_hash(const char *s)
{
    size_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static size_t logs_map_slot(const logs_map *m, const char *k)
{
    size_t i = logs_hash(k) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], k) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static uint32_t logs_map_get(const logs_map *m, const char *k)
{
    if (!m->cap) return 0;
    size_t i = logs_map_slot(m, k);
    return m->keys[i] ? m->next[i] : 0;
}

/* 0, or -1 when the map is full or out of memory (the caller stops showing
 * follow-up transcript lines rather than repeating them). */
static int logs_map_set(logs_map *m, const char *k, uint32_t v)
{
    if (m->cap) {
        size_t i = logs_map_slot(m, k);
        if (m->keys[i]) {
            m->next[i] = v;
            return 0;
        }
    }
    if (m->n >= LOGS_MAP_MAX) return -1;
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        logs_map g = {
            .keys = calloc(cap, sizeof(char *)), .next = calloc(cap, sizeof(uint32_t)), .cap = cap};
        if (!g.keys || !g.next) {
            free(g.keys);
            free(g.next);
            return -1;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) {
                size_t j = logs_map_slot(&g, m->keys[i]);
                g.keys[j] = m->keys[i];
                g.next[j] = m->next[i];
            }
        free(m->keys);
        free(m->next);
        m->keys = g.keys;
        m->next = g.next;
        m->cap = cap;
    }
    size_t i = logs_map_slot(m, k);
    if (!(m->keys[i] = strdup(k))) return -1;
    m->next[i] = v;
    m->n++;
    return 0;
}

static void logs_map_free(logs_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->next);
}

/* ---- one `swarm logs` run ---- */

typedef struct {
    cli_client *c;
    const char *job, *task; /* task NULL = every task */
    int json;
    volatile sig_atomic_t *stop;
    char ev_cur[128], au_cur[128];
    uint64_t ev_trimmed, au_trimmed; /* the streams' drop counters last seen */
    int ev_seen, au_seen;            /* a page of that stream was read */
    size_t ev_read;                  /* events printed by the last drain */
    logs_map map;
    char state[32];
    int failed; /* an error was printed: exit 1 */
} logs_ctx;

static int logs_terminal(const char *s)
{
    return !strcmp(s, "done") || !strcmp(s, "failed") || !strcmp(s, "cancelled");
}

/* "1700000000123-4" -> ms, seq; 0 when it is not a stream id. */
static int logs_id_parse(const char *id, uint64_t *ms, uint64_t *seq)
{
    char *end = NULL;
    *ms = strtoull(id, &end, 10);
    if (end == id || *end != '-') return 0;
    *seq = strtoull(end + 1, NULL, 10);
    return 1;
}

static int logs_id_after(const char *a, const char *b)
{
    uint64_t am, as, bm, bs;
    if (!logs_id_parse(a, &am, &as) || !logs_id_parse(b, &bm, &bs)) return 0;
    return am > bm || (am == bm && as > bs);
}

static void logs_clock(uint64_t ms, char *buf, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    char hms[16];
    strftime(hms, sizeof hms, "%H:%M:%S", &tm);
    snprintf(buf, cap, "%s.%03u", hms, (unsigned)(ms % 1000));
}

/* A JSON line on stdout; frees o. */
static void logs_emit(cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
    }
    free(s);
    cJSON_Delete(o);
}

/* Short, one-line form of s: control characters become spaces, at most max bytes
 * (not splitting a UTF-8 sequence), "..." when cut. */
static void logs_clip(const char *s, size_t max, char *out, size_t cap)
{
    size_t n = 0, i = 0;
    if (max + 4 > cap) max = cap > 4 ? cap - 4 : 0;
    for (; s[i] && n < max; i++)
        out[n++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
    if (s[i]) {
        /* n == i here: back off to the start of the sequence being cut */
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = 0;
}

/* Fields that are whole numbers in the stream become JSON numbers. */
static int logs_numeric_field(const char *name)
{
    static const char *const names[] = {"attempt", "tokens", "step", "backoff_ms", "tasks"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i])) return 1;
    return 0;
}

static void logs_print_event(logs_ctx *x, const Swarm__LogEntry *e)
{
    uint64_t ms = 0, seq = 0;
    logs_id_parse(e->id, &ms, &seq);
    const char *ts = cli_logs_field(e, "ts");
    if (*ts) ms = strtoull(ts, NULL, 10);
    const char *ev = cli_logs_field(e, "event");
    if (x->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "type", "event");
        cJSON_AddStringToObject(o, "job_id", x->job);
        cJSON_AddStringToObject(o, "id", e->id);
        cJSON_AddNumberToObject(o, "ts_ms", (double)ms);
        cJSON_AddStringToObject(o, "event", ev);
        if (e->task_id[0])
            cJSON_AddStringToObject(o, "task_id", e->task_id);
        else
            cJSON_AddNullToObject(o, "task_id");
        for (size_t i = 0; i + 1 < e->n_fields; i += 2) {
            const char *k = e->fields[i], *v = e->fields[i + 1];
            if (!strcmp(k, "ts") || !strcmp(k, "event") || !strcmp(k, "task")) continue;
            char *end = NULL;
            double d = strtod(v, &end);
            if (logs_numeric_field(k) && *v && end && !*end)
                cJSON_AddNumberToObject(o, k, d);
            else
                cJSON_AddStringToObject(o, k, v);
        }
        logs_emit(o);
        return;
    }
    char clock[32];
    logs_clock(ms, clock, sizeof clock);
    printf("%s %-8s %-14s", clock, e->task_id[0] ? e->task_id : "-", ev);
    for (size_t i = 0; i + 1 < e->n_fields; i += 2) {
        const char *k = e->fields[i], *v = e->fields[i + 1];
        if (!strcmp(k, "ts") || !strcmp(k, "event") || !strcmp(k, "task")) continue;
        char clip[512];
        logs_clip(v, 300, clip, sizeof clip);
        if (strchr(clip, ' ') || !clip[0])
            printf(" %s=\"%s\"", k, clip);
        else
            printf(" %s=%s", k, clip);
    }
    fputc('\n', stdout);
}

static double logs_num(const cJSON *o, const char *k, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static const char *logs_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* One transcript line (docs/AGENTS.md): step, each call's tool, arguments,
 * digest and exit status, tokens; the answer on the final step. */
static void logs_print_step(logs_ctx *x, const char *task, uint32_t index, const char *line)
{
    cJSON *r = cJSON_Parse(line);
    if (x->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "type", "step");
        cJSON_AddStringToObject(o, "job_id", x->job);
        cJSON_AddStringToObject(o, "task_id", task);
        cJSON_AddNumberToObject(o, "index", index);
        if (r)
            cJSON_AddItemToObject(o, "record", r);
        else
            cJSON_AddStringToObject(o, "record_text", line);
        logs_emit(o);
        return;
    }
    if (!r) {
        char clip[256];
        logs_clip(line, 200, clip, sizeof clip);
        printf("%-12s %-8s step ?        (not JSON) %s\n", "", task, clip);
        return;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "stub"))) {
        printf("%-12s %-8s step ?        (a %.0f-byte transcript line, too large to show)\n", "",
               task, logs_num(r, "bytes", 0));
        cJSON_Delete(r);
        return;
    }
    char head[64];
    snprintf(head, sizeof head, "step %.0f", logs_num(r, "step", 0));
    printf("%-12s %-8s %-14s tokens=%.0f total=%.0f ms=%.0f%s\n", "", task, head,
           logs_num(r, "tokens", 0), logs_num(r, "tokens_total", 0), logs_num(r, "ms", 0),
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "final")) ? " final" : "");
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(r, "tool_calls");
    const cJSON *call;
    cJSON_ArrayForEach(call, calls)
    {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(call, "audit");
        char args[160], digest[16] = "";
        logs_clip(logs_str(call, "arguments"), 100, args, sizeof args);
        snprintf(digest, sizeof digest, "%.12s", logs_str(a, "args_sha256"));
        printf("%-12s %-8s   tool %s %s", "", task, logs_str(call, "name"), args);
        if (digest[0]) printf(" sha256=%s", digest);
        printf(" status=%.0f", logs_num(call, "status", 0));
        if (a) printf(" exit=%.0f", logs_num(a, "exit_code", 0));
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(call, "replayed")))
            printf(" (replayed from the journal)");
        fputc('\n', stdout);
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "final"))) {
        char text[240];
        logs_clip(logs_str(r, "content"), 200, text, sizeof text);
        printf("%-12s %-8s   answer \"%s\"\n", "", task, text);
    }
    cJSON_Delete(r);
}

static void logs_print_audit(logs_ctx *x, const Swarm__LogEntry *e)
{
    uint64_t ms = 0, seq = 0;
    logs_id_parse(e->id, &ms, &seq);
    cJSON *r = cJSON_Parse(cli_logs_field(e, "record"));
    if (x->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "type", "audit");
        cJSON_AddStringToObject(o, "job_id", x->job);
        cJSON_AddStringToObject(o, "id", e->id);
        cJSON_AddNumberToObject(o, "ts_ms", (double)ms);
        cJSON_AddStringToObject(o, "task_id", e->task_id);
        if (r)
            cJSON_AddItemToObject(o, "record", r);
        else
            cJSON_AddStringToObject(o, "record_text", cli_logs_field(e, "record"));
        logs_emit(o);
        return;
    }
    char clock[32];
    logs_clock(ms, clock, sizeof clock);
    if (!r) {
        printf("%s %-8s audit          (not JSON)\n", clock, e->task_id);
        return;
    }
    printf("%s %-8s audit          tool=%s step=%.0f sha256=%.12s status=%.0f exit=%.0f "
           "signal=%.0f ms=%.0f in=%.0fB out=%.0fB%s%s%s\n",
           clock, e->task_id, logs_str(r, "tool"), logs_num(r, "step", 0),
           logs_str(r, "args_sha256"), logs_num(r, "status", 0), logs_num(r, "exit_code", 0),
           logs_num(r, "signal", 0), logs_num(r, "duration_ms", 0), logs_num(r, "bytes_in", 0),
           logs_num(r, "bytes_out", 0), *logs_str(r, "sandbox") ? " sandbox=" : "",
           logs_str(r, "sandbox"),
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "replayed")) ? " replayed" : "");
    cJSON_Delete(r);
}

static void logs_notice(logs_ctx *x, const char *kind, uint64_t dropped, const char *msg)
{
    if (x->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "type", "gap");
        cJSON_AddStringToObject(o, "job_id", x->job);
        cJSON_AddStringToObject(o, "stream", kind);
        cJSON_AddNumberToObject(o, "dropped", (double)dropped);
        cJSON_AddStringToObject(o, "message", msg);
        logs_emit(o);
    } else {
        printf("-- %s\n", msg);
    }
}

static int logs_fail(logs_ctx *x, const char *err)
{
    fflush(stdout);
    if (x->stop && *x->stop) return -1; /* interrupted: not an error to report */
    fprintf(stderr, "swarm logs: %s\n", err);
    x->failed = 1;
    return -1;
}

/* Entries of a stream page the cap dropped before this reader saw them. */
static int logs_gap(logs_ctx *x, const char *kind, const char *cur, const Swarm__Events *ev,
                    uint64_t *trimmed_seen, int *seen)
{
    int gap = 0;
    char msg[256];
    if (!*seen) {
        if (ev->trimmed && !x->task) {
            snprintf(msg, sizeof msg,
                     "%" PRIu64 " earlier %s were dropped by the stream's cap (it keeps "
                     "the latest ~%s)",
                     ev->trimmed, strcmp(kind, "events") == 0 ? "events" : "audit records",
                     strcmp(kind, "events") == 0 ? "1000, ~100 once ended" : "100000");
            logs_notice(x, kind, ev->trimmed, msg);
        }
    } else if (ev->trimmed > *trimmed_seen && cur[0] && ev->first[0] &&
               logs_id_after(ev->first, cur)) {
        /* entries after our cursor were dropped: say so rather than skip silently */
        snprintf(msg, sizeof msg,
                 "some %s after %s were dropped by the stream's cap before they could "
                 "be read (the stream now starts at %s)",
                 strcmp(kind, "events") == 0 ? "events" : "audit records", cur, ev->first);
        logs_notice(x, kind, ev->trimmed - *trimmed_seen, msg);
        gap = 1;
    }
    *trimmed_seen = ev->trimmed;
    *seen = 1;
    return gap;
}

static int logs_task_transcript(logs_ctx *x, const char *task);

/* Read the event stream up to now. *gap: entries were dropped unread. */
static int logs_drain_events(logs_ctx *x, int follow_steps, int *gap)
{
    for (;;) {
        Swarm__Envelope *reply = NULL;
        char err[1024];
        int rc = cli_logs_page(x->c, "events", x->job, x->task, x->ev_cur, LOGS_PAGE, LOGS_RETRY_MS,
                               x->stop, &reply, err, sizeof err);
        if (rc != 0) return logs_fail(x, err);
        const Swarm__Events *ev = reply->events;
        if (logs_gap(x, "events", x->ev_cur, ev, &x->ev_trimmed, &x->ev_seen) && gap) *gap = 1;
        snprintf(x->state, sizeof x->state, "%s", ev->job_state);
        x->ev_read += ev->n_entries;
        int bad = 0;
        for (size_t i = 0; i < ev->n_entries && !bad; i++) {
            const Swarm__LogEntry *e = ev->entries[i];
            logs_print_event(x, e);
            if (follow_steps && e->task_id[0] && !strcmp(cli_logs_field(e, "event"), "task_step"))
                bad = logs_task_transcript(x, e->task_id) != 0;
        }
        snprintf(x->ev_cur, sizeof x->ev_cur, "%s", ev->next);
        int more = ev->more;
        wire_free(reply);
        fflush(stdout);
        if (bad) return -1;
        if (!more || (x->stop && *x->stop)) return 0;
    }
}

static int logs_drain_audit(logs_ctx *x)
{
    for (;;) {
        Swarm__Envelope *reply = NULL;
        char err[1024];
        int rc = cli_logs_page(x->c, "audit", x->job, x->task, x->au_cur, LOGS_PAGE, LOGS_RETRY_MS,
                               x->stop, &reply, err, sizeof err);
        if (rc != 0) return logs_fail(x, err);
        const Swarm__Events *ev = reply->events;
        logs_gap(x, "audit", x->au_cur, ev, &x->au_trimmed, &x->au_seen);
        for (size_t i = 0; i < ev->n_entries; i++)
            logs_print_audit(x, ev->entries[i]);
        snprintf(x->au_cur, sizeof x->au_cur, "%s", ev->next);
        int more = ev->more;
        wire_free(reply);
        fflush(stdout);
        if (!more || (x->stop && *x->stop)) return 0;
    }
}

/* Print the lines of one page not printed yet (the map says per task). */
static void logs_print_lines(logs_ctx *x, const Swarm__Events *ev)
{
    for (size_t i = 0; i < ev->n_entries; i++) {
        const Swarm__LogEntry *e = ev->entries[i];
        const char *colon = strrchr(e->id, ':');
        uint32_t idx = colon ? (uint32_t)strtoul(colon + 1, NULL, 10) : 0;
        if (idx < logs_map_get(&x->map, e->task_id)) continue;
        logs_print_step(x, e->task_id, idx, cli_logs_field(e, "record"));
        if (logs_map_set(&x->map, e->task_id, idx + 1) != 0 && !x->map.full) {
            x->map.full = 1;
            fprintf(stderr,
                    "swarm logs: more than %d agent tasks: later steps of new tasks may "
                    "be shown again\n",
                    LOGS_MAP_MAX);
        }
    }
}

/* New transcript lines of one task, from its cursor. */
static int logs_task_transcript(logs_ctx *x, const char *task)
{
    for (;;) {
        char after[32];
        snprintf(after, sizeof after, "%" PRIu32, logs_map_get(&x->map, task));
        Swarm__Envelope *reply = NULL;
        char err[1024];
        int rc = cli_logs_page(x->c, "transcript", x->job, task, after, LOGS_PAGE, LOGS_RETRY_MS,
                               x->stop, &reply, err, sizeof err);
        if (rc != 0) return logs_fail(x, err);
        logs_print_lines(x, reply->events);
        int more = reply->events->more && reply->events->n_entries > 0;
        wire_free(reply);
        if (!more || (x->stop && *x->stop)) return 0;
    }
}

/* Every task's transcript lines not printed yet, in task order. */
static int logs_all_transcripts(logs_ctx *x)
{
    if (x->task) return logs_task_transcript(x, x->task);
    char cur[64] = "";
    for (;;) {
        Swarm__Envelope *reply = NULL;
        char err[1024];
        int rc = cli_logs_page(x->c, "transcript", x->job, NULL, cur, LOGS_PAGE, LOGS_RETRY_MS,
                               x->stop, &reply, err, sizeof err);
        if (rc != 0) return logs_fail(x, err);
        logs_print_lines(x, reply->events);
        snprintf(cur, sizeof cur, "%s", reply->events->next);
        int more = reply->events->more;
        wire_free(reply);
        fflush(stdout);
        if (!more || (x->stop && *x->stop)) return 0;
    }
}

static void logs_end(logs_ctx *x)
{
    if (x->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "type", "end");
        cJSON_AddStringToObject(o, "job_id", x->job);
        cJSON_AddStringToObject(o, "state", x->state);
        logs_emit(o);
    } else {
        printf("-- job %s ended: %s\n", x->job, x->state);
    }
    fflush(stdout);
}

int cli_logs_run(cli_client *c, const cli_opts *o, volatile sig_atomic_t *stop)
{
    logs_ctx x = {.c = c, .job = o->arg, .task = o->arg2, .json = o->json, .stop = stop};
    int status = CLI_EXIT_OK;
    /* the backlog: events, then transcripts, then audit */
    if (logs_drain_events(&x, 0, NULL) != 0 || logs_all_transcripts(&x) != 0 ||
        logs_drain_audit(&x) != 0) {
        status = CLI_EXIT_ERROR;
        goto out;
    }
    if (!o->follow) goto out;
    while (!logs_terminal(x.state)) {
        if (stop && *stop) {
            status = CLI_EXIT_INTERRUPTED;
            goto out;
        }
        /* a busy job is read again soon: its capped stream must not outrun us */
        logs_sleep_ms(x.ev_read > 50 ? LOGS_BUSY_POLL_MS : LOGS_POLL_MS);
        x.ev_read = 0;
        int gap = 0;
        if (logs_drain_events(&x, 1, &gap) != 0) {
            status = CLI_EXIT_ERROR;
            goto out;
        }
        /* steps whose task_step event was dropped: catch up from the lists */
        if ((gap && logs_all_transcripts(&x) != 0) || logs_drain_audit(&x) != 0) {
            status = CLI_EXIT_ERROR;
            goto out;
        }
    }
    logs_end(&x);
out:
    fflush(stdout);
    logs_map_free(&x.map);
    if (x.failed && status == CLI_EXIT_OK) status = CLI_EXIT_ERROR;
    if (stop && *stop) status = CLI_EXIT_INTERRUPTED;
    return status;
}
