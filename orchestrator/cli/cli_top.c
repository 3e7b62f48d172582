/* cli_top.c - `swarm top`: every job, worker and running agent, live.
 *
 * Each frame is two requests to swarmd: Status (jobs with their counts and
 * timing, workers with slots and quarantine) and an Events page of kind
 * "live" (every leased or running sub-task with its tokens, output tail and,
 * for agents, steps and last tool). Tokens per second are measured here, from
 * the token counts of the same task attempts in consecutive frames, so swarmd
 * keeps no rate state for the view.
 *
 * On a terminal the frame is drawn on the alternate screen, in place, about 4
 * times a second, cut to the window's size (asked every frame, so a resize
 * needs no signal); q quits; the terminal is restored on q, SIGINT and
 * SIGTERM. Elsewhere (a pipe, a file, a log) it prints plain frames every 2
 * seconds, and --once prints a single frame. */
#include "cli_top.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli_logs.h"
#include "cli_view.h"
#include "swarm_clock.h"

#define TOP_TTY_MS 250    /* refresh on a terminal */
#define TOP_PLAIN_MS 2000 /* plain frames elsewhere */
#define TOP_LIVE_MAX 500  /* running tasks read per frame */
#define TOP_PLAIN_COLS 200

/* One running task attempt's token count, to measure tokens/s next frame. */
typedef struct {
    char key[112]; /* job/task#attempt */
    char worker[128];
    uint32_t tokens;
} top_sample;

typedef struct {
    top_sample *v;
    size_t n;
    uint64_t ms; /* monotonic time of the samples */
} top_samples;

typedef struct {
    char name[128];
    double rate; /* tokens/s, smoothed */
} top_rate;

typedef struct {
    cli_client *c;
    const char *state_dir;
    volatile sig_atomic_t *stop;
    top_samples prev;
    top_rate *rates;
    size_t n_rates;
    char err[512]; /* the last failure talking to swarmd, shown in the header */
} top_ctx;

/* A frame is built as lines, then cut to the window. */
typedef struct {
    char **v;
    size_t n, cap;
} top_lines;

static void top_add(top_lines *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void top_add(top_lines *l, const char *fmt, ...)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) return;
        l->v = v;
        l->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) >= 0) l->v[l->n++] = s;
    va_end(ap);
}

static void top_lines_free(top_lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* The last line of an output tail, one line of printable text. */
static void top_last_line(const char *tail, char *out, size_t cap)
{
    size_t len = strlen(tail);
    while (len > 0 && (tail[len - 1] == '\n' || tail[len - 1] == '\r' || tail[len - 1] == ' '))
        len--;
    size_t start = len;
    while (start > 0 && tail[start - 1] != '\n')
        start--;
    while (start < len && (tail[start] == ' ' || tail[start] == '\t'))
        start++;
    size_t n = 0;
    for (size_t i = start; i < len && n + 1 < cap; i++)
        out[n++] = (unsigned char)tail[i] < 0x20 || tail[i] == 0x7f ? ' ' : tail[i];
    out[n] = 0;
}

/* Measure tokens/s per worker from this frame's live tasks against the last. */
static void top_measure(top_ctx *t, const Swarm__Events *live)
{
    uint64_t now = swarm_clock_ms();
    top_samples cur = {.v = calloc(live ? live->n_entries + 1 : 1, sizeof(top_sample)), .ms = now};
    if (!cur.v) return;
    for (size_t i = 0; live && i < live->n_entries; i++) {
        const Swarm__LogEntry *e = live->entries[i];
        top_sample *s = &cur.v[cur.n++];
        snprintf(s->key, sizeof s->key, "%s#%s", e->id, cli_logs_field(e, "attempt"));
        snprintf(s->worker, sizeof s->worker, "%s", cli_logs_field(e, "worker"));
        s->tokens = (uint32_t)strtoul(cli_logs_field(e, "tokens"), NULL, 10);
    }
    double dt = t->prev.v ? (double)(now - t->prev.ms) / 1000.0 : 0;
    if (dt > 0.05) {
        /* per worker: the tokens its still-running attempts added */
        for (size_t w = 0; w < t->n_rates; w++) {
            double added = 0;
            for (size_t i = 0; i < cur.n; i++) {
                if (strcmp(cur.v[i].worker, t->rates[w].name) != 0) continue;
                for (size_t k = 0; k < t->prev.n; k++)
                    if (!strcmp(t->prev.v[k].key, cur.v[i].key) &&
                        cur.v[i].tokens >= t->prev.v[k].tokens) {
                        added += cur.v[i].tokens - t->prev.v[k].tokens;
                        break;
                    }
            }
            double r = added / dt;
            /* smoothed over about a second of frames */
            t->rates[w].rate = t->rates[w].rate * 0.5 + r * 0.5;
        }
    }
    free(t->prev.v);
    t->prev = cur;
}

static top_rate *top_rate_of(top_ctx *t, const char *worker)
{
    for (size_t i = 0; i < t->n_rates; i++)
        if (!strcmp(t->rates[i].name, worker)) return &t->rates[i];
    top_rate *r = realloc(t->rates, (t->n_rates + 1) * sizeof *r);
    if (!r) return NULL;
    t->rates = r;
    r = &t->rates[t->n_rates++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", worker);
    return r;
}

static int top_job_cmp(const void *a, const void *b)
{
    const Swarm__JobStatus *x = *(Swarm__JobStatus *const *)a;
    const Swarm__JobStatus *y = *(Swarm__JobStatus *const *)b;
    int xr = !cli_view_terminal(x->state), yr = !cli_view_terminal(y->state);
    if (xr != yr) return yr - xr; /* running first */
    return x->created_ms < y->created_ms ? 1 : x->created_ms > y->created_ms ? -1 : 0;
}

static int top_worker_cmp(const void *a, const void *b)
{
    const Swarm__WorkerStatus *x = *(Swarm__WorkerStatus *const *)a;
    const Swarm__WorkerStatus *y = *(Swarm__WorkerStatus *const *)b;
    return strverscmp(x->worker_id, y->worker_id);
}

/* The lines of one section, at most max of them (a "... N more" line included). */
static void top_section_cut(top_lines *dst, top_lines *src, size_t max)
{
    for (size_t i = 0; i < src->n; i++) {
        if (max && i + 1 == max && src->n > max) {
            top_add(dst, "  ... %zu more", src->n - i);
            break;
        }
        top_add(dst, "%s", src->v[i]);
    }
    top_lines_free(src);
}

/* Build a frame of at most rows lines (0 = no limit) for a window cols wide:
 * below 120 columns a running task is named by its job id's last 6 characters
 * and its task id, so its output still fits on the line. */
static void top_frame(top_ctx *t, const Swarm__Status *st, const Swarm__Events *live, size_t rows,
                      size_t cols, top_lines *out)
{
    int narrow = cols < 120;
    uint64_t now = cli_view_wall_ms();
    top_lines jobs = {0}, workers = {0}, tasks = {0};
    size_t running_jobs = 0;
    uint32_t slots = 0, busy = 0;
    double total_rate = 0;
    if (st) {
        Swarm__JobStatus **js = st->jobs;
        if (st->n_jobs > 1) qsort(js, st->n_jobs, sizeof js[0], top_job_cmp);
        for (size_t i = 0; i < st->n_jobs; i++) {
            const Swarm__JobStatus *j = js[i];
            if (!cli_view_terminal(j->state)) running_jobs++;
            char line[512];
            FILE *mem = fmemopen(line, sizeof line, "w");
            if (!mem) continue;
            cli_view_progress(mem, j, 1, now);
            fclose(mem);
            top_add(&jobs, "%s", line);
        }
        if (st->n_workers > 1)
            qsort(st->workers, st->n_workers, sizeof st->workers[0], top_worker_cmp);
        for (size_t i = 0; i < st->n_workers; i++) {
            const Swarm__WorkerStatus *w = st->workers[i];
            top_rate *r = top_rate_of(t, w->worker_id);
            double rate = r ? r->rate : 0;
            slots += w->slots;
            busy += w->busy;
            total_rate += rate;
            char age[32];
            cli_view_duration(now > w->last_seen_ms ? now - w->last_seen_ms : 0, age, sizeof age);
            char model[400];
            if (w->quarantined)
                snprintf(model, sizeof model, "QUARANTINED (gets no work): %s",
                         w->quarantine_reason);
            else
                snprintf(model, sizeof model, "%s", w->model);
            top_add(&workers, "%-20s %-14.14s %5u %5u %8.1f  %-6s %s", w->worker_id, w->hostname,
                    w->slots, w->busy, rate, age, model);
        }
    }
    /* crash loops the worker supervisor noted (launcher.c) */
    char path[1200], cl[512];
    snprintf(path, sizeof path, "%s/crashloop", t->state_dir);
    FILE *f = fopen(path, "r");
    while (f && fgets(cl, sizeof cl, f)) {
        cl[strcspn(cl, "\n")] = 0;
        top_add(&workers, "CRASH LOOP (supervisor): %s", cl);
    }
    if (f) fclose(f);
    for (size_t i = 0; live && i < live->n_entries; i++) {
        const Swarm__LogEntry *e = live->entries[i];
        char last[400], what[160];
        /* an agent's last answer or tool observation (its tail only names the
         * step), else the generated text's tail */
        last[0] = 0;
        if (strtoul(cli_logs_field(e, "steps"), NULL, 10) > 0)
            top_last_line(cli_logs_field(e, "output"), last, sizeof last);
        if (!last[0]) top_last_line(cli_logs_field(e, "tail"), last, sizeof last);
        const char *paused = cli_logs_field(e, "paused");
        const char *tool = cli_logs_field(e, "tool");
        unsigned steps = (unsigned)strtoul(cli_logs_field(e, "steps"), NULL, 10);
        if (*paused)
            snprintf(what, sizeof what, "PAUSED: %s", paused);
        else if (steps || *tool)
            snprintf(what, sizeof what, "step %u %s", steps + 1, *tool ? tool : "");
        else
            snprintf(what, sizeof what, "%s", cli_logs_field(e, "state"));
        if (narrow) {
            const char *jid = cli_logs_field(e, "job");
            size_t jl = strlen(jid);
            char id[96];
            snprintf(id, sizeof id, "%s/%s", jl > 6 ? jid + jl - 6 : jid, e->task_id);
            top_add(&tasks, "%-12s %-8.8s %6s %-16.16s %s", id, cli_logs_field(e, "worker"),
                    cli_logs_field(e, "tokens"), what, last);
        } else {
            top_add(&tasks, "%-30s %-16s %7s  %-22.22s %s", e->id, cli_logs_field(e, "worker"),
                    cli_logs_field(e, "tokens"), what, last);
        }
    }
    char clock[16];
    time_t tt = time(NULL);
    struct tm tm;
    localtime_r(&tt, &tm);
    strftime(clock, sizeof clock, "%H:%M:%S", &tm);
    top_add(
        out,
        "swarm top  %s   jobs %zu (%zu running)   workers %zu   slots %u/%u busy   %.1f tok/s%s%s",
        clock, st ? st->n_jobs : 0, running_jobs, st ? st->n_workers : 0, busy, slots, total_rate,
        t->err[0] ? "   swarmd: " : "", t->err);
    /* rows: header, 3 section titles and a blank line; the rest shared */
    size_t fixed = narrow ? 6 : 5; /* a narrow RUNNING title takes two lines */
    size_t room = rows > fixed + 3 ? rows - fixed : 0;
    size_t max_jobs = 0, max_workers = 0, max_tasks = 0;
    if (rows) {
        max_jobs = room / 3 ? room / 3 : 1;
        max_workers = room / 4 ? room / 4 : 1;
        if (jobs.n < max_jobs) max_jobs = jobs.n ? jobs.n : 1;
        if (workers.n < max_workers) max_workers = workers.n ? workers.n : 1;
        max_tasks = room > max_jobs + max_workers ? room - max_jobs - max_workers : 1;
    }
    top_add(out, "%s", "");
    top_add(out, "JOBS (%zu)", st ? st->n_jobs : 0);
    top_section_cut(out, &jobs, max_jobs);
    top_add(out, "WORKERS %-12s %-14s %5s %5s %8s  %-6s %s", "", "HOST", "SLOTS", "BUSY", "TOK/S",
            "SEEN", "MODEL");
    top_section_cut(out, &workers, max_workers);
    if (narrow) {
        top_add(out, "RUNNING (%zu)", live ? live->n_entries : 0);
        top_add(out, "%-12s %-8s %6s %-16s %s", "JOB/TASK", "WORKER", "TOKENS", "STEP LAST-TOOL",
                "LAST OUTPUT");
    } else
        top_add(out, "RUNNING (%zu) %-17s %-16s %7s  %-22s %s", live ? live->n_entries : 0, "",
                "WORKER", "TOKENS", "STEP LAST-TOOL", "LAST OUTPUT");
    top_section_cut(out, &tasks, max_tasks);
}

/* One frame's data from swarmd; 0 ok (either may be NULL on failure). */
static void top_fetch(top_ctx *t, Swarm__Envelope **status, Swarm__Envelope **live)
{
    char err[512];
    uint32_t code = 0;
    t->err[0] = 0;
    *status = *live = NULL;
    if (cli_client_status(t->c, NULL, false, false, 2000, status, &code, err, sizeof err) != 0) {
        snprintf(t->err, sizeof t->err, "%s", err);
        *status = NULL;
        return;
    }
    if (cli_logs_page(t->c, "live", "", "", "", TOP_LIVE_MAX, 0, t->stop, live, err, sizeof err) !=
        0) {
        snprintf(t->err, sizeof t->err, "%s", err);
        *live = NULL;
    }
}

/* Cut a line to cols display columns (UTF-8 sequences count as one). */
static void top_put_line(FILE *o, const char *s, size_t cols)
{
    size_t col = 0, i = 0;
    while (s[i] && col < cols) {
        size_t n = 1;
        while (s[i + n] && ((unsigned char)s[i + n] & 0xC0) == 0x80)
            n++;
        fwrite(s + i, 1, n, o);
        i += n;
        col++;
    }
}

static void top_window(size_t *rows, size_t *cols)
{
    struct winsize ws;
    *rows = 24;
    *cols = 80;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
        *rows = ws.ws_row;
        *cols = ws.ws_col;
    }
}

static void top_draw(top_ctx *t, size_t rows, size_t cols, int tty)
{
    Swarm__Envelope *st = NULL, *live = NULL;
    top_fetch(t, &st, &live);
    top_measure(t, live ? live->events : NULL);
    top_lines l = {0};
    top_frame(t, st ? st->status : NULL, live ? live->events : NULL, tty ? rows : 0, cols, &l);
    if (tty) {
        fputs("\033[H", stdout); /* home: redraw in place */
        for (size_t i = 0; i < l.n && i < rows; i++) {
            if (i == 0) fputs("\033[7m", stdout); /* the header in reverse video */
            top_put_line(stdout, l.v[i], cols);
            if (i == 0) fputs("\033[0m", stdout);
            fputs("\033[K", stdout);
            if (i + 1 < rows && i + 1 < l.n) fputs("\r\n", stdout);
        }
        fputs("\033[J", stdout); /* clear what the last frame left below */
    } else {
        for (size_t i = 0; i < l.n; i++) {
            top_put_line(stdout, l.v[i], TOP_PLAIN_COLS);
            fputc('\n', stdout);
        }
    }
    fflush(stdout);
    top_lines_free(&l);
    if (st) wire_free(st);
    if (live) wire_free(live);
}

/* Wait up to ms for a key; 1 when q was pressed. */
static int top_wait_key(int fd, int ms, volatile sig_atomic_t *stop)
{
    uint64_t end = swarm_clock_ms() + (uint64_t)ms;
    for (;;) {
        if (stop && *stop) return 0;
        uint64_t now = swarm_clock_ms();
        if (now >= end) return 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, fd >= 0 ? 1 : 0, (int)(end - now));
        if (n < 0 && errno == EINTR) continue; /* a signal: the loop checks stop */
        if (n <= 0 || !(p.revents & POLLIN)) {
            if (n > 0 && (p.revents & (POLLHUP | POLLERR))) return 1; /* terminal gone */
            continue;
        }
        char buf[64];
        ssize_t r = read(fd, buf, sizeof buf);
        if (r == 0) return 1;
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] == 'q' || buf[i] == 'Q') return 1;
    }
}

int cli_top_run(cli_client *c, const cli_opts *o, const char *state_dir,
                volatile sig_atomic_t *stop)
{
    top_ctx t = {.c = c, .state_dir = state_dir, .stop = stop};
    int tty = isatty(STDOUT_FILENO) && !o->once;
    int status = CLI_EXIT_OK;
    if (o->once) {
        /* two samples half a second apart, so tokens/s means something */
        Swarm__Envelope *st = NULL, *live = NULL;
        top_fetch(&t, &st, &live);
        if (!st) {
            fprintf(stderr, "swarm top: %s\n", t.err);
            if (live) wire_free(live);
            return CLI_EXIT_ERROR;
        }
        top_measure(&t, live ? live->events : NULL);
        for (size_t i = 0; i < st->status->n_workers; i++)
            top_rate_of(&t, st->status->workers[i]->worker_id);
        wire_free(st);
        if (live) wire_free(live);
        struct timespec ts = {0, 500 * 1000000L};
        nanosleep(&ts, NULL);
        top_draw(&t, 0, TOP_PLAIN_COLS, 0);
        goto out;
    }
    struct termios saved;
    int have_term = 0, in = -1;
    if (tty) {
        if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
            struct termios raw = saved;
            /* keys one by one, no echo; ISIG stays, so Ctrl-C is SIGINT */
            raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
            raw.c_cc[VMIN] = 0;
            raw.c_cc[VTIME] = 0;
            if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) have_term = 1;
            in = STDIN_FILENO;
        }
        fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout); /* alternate screen, no cursor */
        fflush(stdout);
    }
    for (;;) {
        if (stop && *stop) {
            status = CLI_EXIT_OK; /* Ctrl-C / SIGTERM is how a view is left */
            break;
        }
        size_t rows = 0, cols = TOP_PLAIN_COLS;
        if (tty) top_window(&rows, &cols);
        top_draw(&t, rows, cols, tty);
        if (!tty) fputc('\n', stdout);
        if (top_wait_key(in, tty ? TOP_TTY_MS : TOP_PLAIN_MS, stop)) break;
    }
    if (tty) {
        fputs("\033[?25h\033[?1049l", stdout); /* cursor back, main screen back */
        fflush(stdout);
        if (have_term) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    }
out:
    free(t.prev.v);
    free(t.rates);
    return status;
}
