/* launcher.c - `swarm up` / `swarm down`: a private local swarm in a state dir.
 *
 * Layout of STATE: redis.sock (private redis-server, AOF on), client.ipc and
 * worker.ipc (swarmd's endpoints), logs/NAME.log, models/default.gguf, and one
 * pid file per process (redis.pid, swarmd.pid, worker-N.pid). The pid files
 * are the only record of what runs, so a pid is trusted only if the process
 * is alive, not a zombie, and its /proc comm matches what we started (pids
 * get reused). Children are started in their own session so a Ctrl-C meant
 * for the CLI does not reach them; `swarm down` stops them explicitly.
 * STATE/swarm.lock (flock) serialises concurrent up/down.
 *
 * Supervision: `swarm up` leaves a supervisor behind (a fork of itself,
 * supervisor.pid, logs/supervisor.log) that keeps the N workers alive: a
 * worker that exits is started again under the same id (a new incarnation,
 * so swarmd releases its predecessor's leases at once) after a backoff of
 * 0.5 s doubling to 30 s while it keeps dying young. Five restarts within a
 * minute is a crash loop, written to STATE/crashloop for `swarm status`. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "swarm_clock.h"

#define CLI_MAX_WORKERS 256

/* Every start appends this line to the process's log (l_spawn), so an error
 * quotes only what this run wrote, never an earlier run's lines. */
#define L_LOG_MARK "---- swarm up: process started ----\n"

static void l_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int l_mkdir_p(const char *path, char *err, size_t errlen)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create %s: %s", buf, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", buf, strerror(errno));
        return -1;
    }
    return 0;
}

int cli_env_init(cli_env *e, const char *state_opt, char *err, size_t errlen)
{
    memset(e, 0, sizeof(*e));
    char raw[1024];
    const char *env_state = getenv("SWARM_STATE");
    const char *home = getenv("HOME");
    if (state_opt && *state_opt)
        snprintf(raw, sizeof(raw), "%s", state_opt);
    else if (env_state && *env_state)
        snprintf(raw, sizeof(raw), "%s", env_state);
    else if (home && *home)
        snprintf(raw, sizeof(raw), "%s/.swarm", home);
    else {
        snprintf(err, errlen, "no state directory: pass --state DIR or set SWARM_STATE or HOME");
        return -1;
    }
    if (raw[0] != '/') {
        char cwd[1024];
        if (!getcwd(cwd, sizeof(cwd))) {
            snprintf(err, errlen, "getcwd: %s", strerror(errno));
            return -1;
        }
        char tmp[1024];
        int n = snprintf(tmp, sizeof(tmp), "%s/%s", cwd, raw);
        if (n < 0 || (size_t)n >= sizeof(tmp)) {
            snprintf(err, errlen, "state directory path too long");
            return -1;
        }
        memcpy(raw, tmp, sizeof(raw));
    }
    size_t len = strlen(raw);
    while (len > 1 && raw[len - 1] == '/')
        raw[--len] = 0;
    /* unix socket paths are limited to ~107 bytes */
    if (len + sizeof("/client.ipc") > 100) {
        snprintf(err, errlen, "state directory %s is too long for unix sockets (max ~88 chars)",
                 raw);
        return -1;
    }
    memcpy(e->state, raw, len + 1);
    char exe[1024];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        snprintf(err, errlen, "cannot read /proc/self/exe: %s", strerror(errno));
        return -1;
    }
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    snprintf(e->bindir, sizeof(e->bindir), "%s", exe);
    return 0;
}

void cli_env_client_endpoint(const cli_env *e, char *out, size_t cap)
{
    const char *ep = getenv("SWARM_ENDPOINT");
    if (ep && *ep)
        snprintf(out, cap, "%s", ep);
    else
        snprintf(out, cap, "ipc://%s/client.ipc", e->state);
}

/* ---- processes ---- */

/* Alive, not a zombie, and named comm (pids are reused). Reaps our own
 * children so they do not linger as zombies. */
static int l_pid_alive(pid_t pid, const char *comm)
{
    if (pid <= 1) return 0;
    int st;
    pid_t w = waitpid(pid, &st, WNOHANG);
    if (w == pid) return 0;
    if (kill(pid, 0) != 0 && errno == ESRCH) return 0;
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *rp = strrchr(buf, ')');
    if (rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X')) return 0;
    if (!comm) return 1;
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    f = fopen(path, "r");
    if (!f) return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    if (n && buf[n - 1] == '\n') buf[n - 1] = 0;
    /* comm is truncated to 15 bytes */
    return strncmp(buf, comm, 15) == 0;
}

static pid_t l_pid_read(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    long v = 0;
    if (fscanf(f, "%ld", &v) != 1) v = 0;
    fclose(f);
    return (pid_t)v;
}

static int l_pid_write(const char *path, pid_t pid)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "%d\n", (int)pid);
    return fclose(f);
}

typedef struct {
    char file[1100]; /* pid file path */
    char comm[32];
    pid_t pid;
} l_proc;

/* Every process the state dir's pid files name (workers first, redis last,
 * the order `down` stops them in). */
static int l_procs_list(const cli_env *e, l_proc *out, int cap)
{
    int n = 0;
    DIR *d = opendir(e->state);
    if (!d) return 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < cap - 2) {
        if (strncmp(de->d_name, "worker-", 7) != 0) continue;
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".pid") != 0) continue;
        snprintf(out[n].file, sizeof(out[n].file), "%s/%s", e->state, de->d_name);
        snprintf(out[n].comm, sizeof(out[n].comm), "swarm-worker");
        out[n].pid = l_pid_read(out[n].file);
        n++;
    }
    closedir(d);
    snprintf(out[n].file, sizeof(out[n].file), "%s/swarmd.pid", e->state);
    snprintf(out[n].comm, sizeof(out[n].comm), "swarmd");
    out[n].pid = l_pid_read(out[n].file);
    n++;
    snprintf(out[n].file, sizeof(out[n].file), "%s/redis.pid", e->state);
    snprintf(out[n].comm, sizeof(out[n].comm), "redis-server");
    out[n].pid = l_pid_read(out[n].file);
    n++;
    return n;
}

/* ---- worker supervision ---- */

static pid_t l_spawn(char *const argv[], const char *log, char *err, size_t errlen);
static int l_wait_gone(l_proc *p, int n, int ms);

#define SUP_BACKOFF_MIN_MS 500    /* $SWARM_RESTART_BACKOFF_MS overrides (tests) */
#define SUP_BACKOFF_MAX_FACTOR 60 /* the backoff tops out at 60 x the first: 30 s */
#define SUP_STABLE_MS 30000       /* alive this long: the backoff resets */
#define SUP_LOOP_WINDOW_MS 60000
#define SUP_LOOP_RESTARTS 5

typedef struct {
    uint64_t next_start;                  /* 0 = running (or not yet seen dead) */
    uint64_t started;                     /* when the current process started */
    uint64_t backoff;                     /* next wait after a young death */
    uint64_t restarts[SUP_LOOP_RESTARTS]; /* times of the last restarts (ring) */
    unsigned n_restarts;
} sup_worker;

static volatile sig_atomic_t sup_stop;

static void sup_on_term(int sig)
{
    (void)sig;
    sup_stop = 1;
}

static void sup_log(FILE *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sup_log(FILE *log, const char *fmt, ...)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[32];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(log, "%s swarm supervisor: ", ts);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(log, fmt, ap);
    va_end(ap);
    fputc('\n', log);
    fflush(log);
}

/* Rewrite STATE/crashloop: one line per worker in a crash loop (none: removed). */
static void sup_report(const cli_env *e, sup_worker *sw, int nw, uint64_t now)
{
    char path[1100], tmp[1100];
    snprintf(path, sizeof(path), "%s/crashloop", e->state);
    snprintf(tmp, sizeof(tmp), "%s/crashloop.tmp", e->state);
    FILE *f = NULL;
    for (int i = 0; i < nw; i++) {
        unsigned n = 0;
        for (unsigned k = 0; k < SUP_LOOP_RESTARTS && k < sw[i].n_restarts; k++)
            if (now - sw[i].restarts[k] <= SUP_LOOP_WINDOW_MS) n++;
        if (n < SUP_LOOP_RESTARTS) continue;
        if (!f && !(f = fopen(tmp, "w"))) return;
        fprintf(f,
                "worker w-%d is crash-looping: %u restarts within %d s, next try in %llu ms "
                "(see logs/worker-%d.log)\n",
                i + 1, n, SUP_LOOP_WINDOW_MS / 1000, (unsigned long long)sw[i].backoff, i + 1);
    }
    if (f) {
        fclose(f);
        rename(tmp, path);
    } else {
        unlink(path);
    }
}

/* The supervisor's loop (in the forked child): argv is a worker's command
 * line whose id_at-th word is rewritten per worker. Never returns. */
static void sup_run(const cli_env *e, int nw, char **argv, int id_at)
{
    signal(SIGTERM, sup_on_term);
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    char path[1100];
    snprintf(path, sizeof(path), "%s/logs/supervisor.log", e->state);
    FILE *log = fopen(path, "a");
    if (!log) _exit(1);
    sup_worker *sw = calloc((size_t)nw, sizeof(*sw));
    if (!sw) _exit(1);
    uint64_t now = swarm_clock_ms(), bmin = SUP_BACKOFF_MIN_MS;
    const char *env = getenv("SWARM_RESTART_BACKOFF_MS");
    if (env && atol(env) > 0) bmin = (uint64_t)atol(env);
    uint64_t bmax = bmin * SUP_BACKOFF_MAX_FACTOR;
    for (int i = 0; i < nw; i++) {
        sw[i].started = now;
        sw[i].backoff = bmin;
    }
    sup_log(log, "watching workers w-1..w-%d", nw);
    while (!sup_stop) {
        now = swarm_clock_ms();
        for (int i = 0; i < nw && !sup_stop; i++) {
            char pidf[1100], id[32], wlog[1100], err[256];
            snprintf(pidf, sizeof(pidf), "%s/worker-%d.pid", e->state, i + 1);
            snprintf(id, sizeof(id), "w-%d", i + 1);
            sup_worker *w = &sw[i];
            pid_t pid = l_pid_read(pidf);
            if (pid > 0 && l_pid_alive(pid, "swarm-worker")) {
                if (now - w->started >= SUP_STABLE_MS) w->backoff = bmin;
                continue;
            }
            if (!w->next_start) {
                /* just found dead: wait the backoff, longer each time it dies young */
                uint64_t lived = now - w->started;
                sup_log(log, "worker %s (pid %ld) exited after %llu ms", id, (long)pid,
                        (unsigned long long)lived);
                if (lived >= SUP_STABLE_MS) w->backoff = bmin;
                w->next_start = now + w->backoff;
                w->backoff = w->backoff * 2 > bmax ? bmax : w->backoff * 2;
                continue;
            }
            if (now < w->next_start) continue;
            snprintf(wlog, sizeof(wlog), "%s/logs/worker-%d.log", e->state, i + 1);
            argv[id_at] = id;
            pid_t np = l_spawn(argv, wlog, err, sizeof(err));
            if (np < 0) {
                sup_log(log, "cannot restart %s: %s", id, err);
                w->next_start = now + w->backoff;
                continue;
            }
            l_pid_write(pidf, np);
            w->started = now;
            w->next_start = 0;
            w->restarts[w->n_restarts++ % SUP_LOOP_RESTARTS] = now;
            sup_log(log, "worker %s restarted (pid %ld, restart %u)", id, (long)np, w->n_restarts);
        }
        sup_report(e, sw, nw, now);
        l_sleep_ms(100);
    }
    sup_log(log, "stopping; the workers stay for swarm down");
    fclose(log);
    free(sw);
    _exit(0);
}

/* Fork the supervisor: its own session, no inherited stdio or lock. */
static pid_t sup_start(const cli_env *e, int nw, char **argv, int id_at, int lock_fd)
{
    pid_t pid = fork();
    if (pid != 0) return pid;
    setsid();
    if (lock_fd >= 0) close(lock_fd);
    int nul = open("/dev/null", O_RDWR);
    if (nul >= 0) {
        dup2(nul, 0);
        dup2(nul, 1);
        dup2(nul, 2);
        if (nul > 2) close(nul);
    }
    sup_run(e, nw, argv, id_at);
    return 0;
}

/* Stop the supervisor first: a worker `down` stops must not be restarted. */
static void sup_stop_running(const cli_env *e)
{
    char path[1100];
    snprintf(path, sizeof(path), "%s/supervisor.pid", e->state);
    l_proc p = {.pid = l_pid_read(path)};
    snprintf(p.file, sizeof(p.file), "%s", path);
    snprintf(p.comm, sizeof(p.comm), "swarm");
    if (p.pid > 0 && l_pid_alive(p.pid, p.comm)) {
        kill(p.pid, SIGTERM);
        if (l_wait_gone(&p, 1, 5000) > 0) {
            kill(p.pid, SIGKILL);
            l_wait_gone(&p, 1, 2000);
        }
    }
    unlink(path);
}

int cli_swarm_running(const cli_env *e)
{
    char path[1100];
    snprintf(path, sizeof(path), "%s/swarmd.pid", e->state);
    pid_t pid = l_pid_read(path);
    return pid > 0 && l_pid_alive(pid, "swarmd");
}

static int l_lock(const cli_env *e, char *err, size_t errlen)
{
    char path[1100];
    snprintf(path, sizeof(path), "%s/swarm.lock", e->state);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    for (int i = 0; i < 300; i++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) return fd;
        l_sleep_ms(100);
    }
    close(fd);
    snprintf(err, errlen, "%s is held by another swarm up/down for 30 s; try again", path);
    return -1;
}

static void l_unlock(int fd)
{
    if (fd >= 0) close(fd); /* releases the flock */
}

/* fork + exec with stdout/stderr appended to log, in a new session. */
static pid_t l_spawn(char *const argv[], const char *log, char *err, size_t errlen)
{
    int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (lfd < 0) {
        snprintf(err, errlen, "cannot open log %s: %s", log, strerror(errno));
        return -1;
    }
    if (write(lfd, L_LOG_MARK, strlen(L_LOG_MARK)) < 0) {
        /* a log we cannot write to is reported by the process itself */
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(lfd);
        return -1;
    }
    if (pid == 0) {
        setsid();
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0) dup2(nul, 0);
        dup2(lfd, 1);
        dup2(lfd, 2);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        execv(argv[0], argv);
        dprintf(2, "swarm: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(lfd);
    return pid;
}

static void l_log_tail(const char *log, char *out, size_t cap)
{
    out[0] = 0;
    FILE *f = fopen(log, "r");
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > 8192 ? size - 8192 : 0;
    fseek(f, from, SEEK_SET);
    char buf[8193];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    const char *start = buf, *m;
    while ((m = strstr(start, L_LOG_MARK)))
        start = m + strlen(L_LOG_MARK);
    size_t len = strlen(start);
    if (len > 600) start += len - 600;
    snprintf(out, cap, "%s", start);
}

static int l_find_exe(const char *name, const char *bindir, char *out, size_t cap)
{
    if (bindir) {
        snprintf(out, cap, "%s/%s", bindir, name);
        if (access(out, X_OK) == 0) return 0;
    }
    const char *path = getenv("PATH");
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s:/usr/sbin:/usr/local/sbin:/usr/bin:/usr/local/bin",
             path ? path : "");
    for (char *save = NULL, *dir = strtok_r(buf, ":", &save); dir;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/%s", dir, name);
        if (access(out, X_OK) == 0) return 0;
    }
    return -1;
}

/* Send one inline command to redis over its unix socket; reply's first line in out. */
static int l_redis_cmd(const char *sock_path, const char *cmd, char *out, size_t cap, int wait_ms)
{
    struct sockaddr_un sa;
    size_t plen = strlen(sock_path);
    if (plen >= sizeof(sa.sun_path)) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, sock_path, plen + 1);
    struct timeval tv = {wait_ms / 1000, (wait_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    size_t len = strlen(cmd);
    if (write(fd, cmd, len) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    ssize_t n = read(fd, out, cap - 1);
    close(fd);
    if (n < 0) n = 0;
    out[n] = 0;
    return (int)n;
}

static int l_wait_gone(l_proc *p, int n, int ms)
{
    uint64_t deadline = swarm_clock_ms() + (uint64_t)ms;
    for (;;) {
        int alive = 0;
        for (int i = 0; i < n; i++)
            if (p[i].pid > 0 && l_pid_alive(p[i].pid, p[i].comm)) alive++;
        if (!alive || swarm_clock_ms() >= deadline) return alive;
        l_sleep_ms(50);
    }
}

int cli_down(const cli_env *e, bool quiet, int *stopped, char *err, size_t errlen)
{
    *stopped = 0;
    struct stat st;
    if (stat(e->state, &st) != 0) return 0; /* nothing was ever started here */
    int lock = l_lock(e, err, errlen);
    if (lock < 0) return -1;
    sup_stop_running(e);
    l_proc procs[CLI_MAX_WORKERS + 4];
    int n = l_procs_list(e, procs, CLI_MAX_WORKERS + 4);
    for (int i = 0; i < n; i++)
        if (procs[i].pid > 0 && !l_pid_alive(procs[i].pid, procs[i].comm)) procs[i].pid = 0;
    /* workers and swarmd first (they may still write results), redis last */
    int nr = n - 1;
    for (int i = 0; i < nr; i++)
        if (procs[i].pid > 0) {
            kill(procs[i].pid, SIGTERM);
            (*stopped)++;
        }
    if (l_wait_gone(procs, nr, 10000) > 0)
        for (int i = 0; i < nr; i++)
            if (procs[i].pid > 0 && l_pid_alive(procs[i].pid, procs[i].comm)) {
                if (!quiet)
                    fprintf(stderr, "swarm down: %s (pid %d) ignored SIGTERM; killing it\n",
                            procs[i].comm, (int)procs[i].pid);
                kill(procs[i].pid, SIGKILL);
            }
    l_wait_gone(procs, nr, 5000);
    l_proc *redis = &procs[n - 1];
    if (redis->pid > 0) {
        char sock[1100], reply[256];
        snprintf(sock, sizeof(sock), "%s/redis.sock", e->state);
        /* SHUTDOWN SAVE: the data set is on disk before redis exits */
        if (l_redis_cmd(sock, "SHUTDOWN SAVE\r\n", reply, sizeof(reply), 5000) < 0 ||
            strncmp(reply, "-", 1) == 0)
            kill(redis->pid, SIGTERM);
        (*stopped)++;
        if (l_wait_gone(redis, 1, 15000) > 0) {
            if (!quiet)
                fprintf(stderr, "swarm down: redis-server (pid %d) did not exit; killing it\n",
                        (int)redis->pid);
            kill(redis->pid, SIGKILL);
            l_wait_gone(redis, 1, 5000);
        }
    }
    int left = 0;
    for (int i = 0; i < n; i++) {
        if (procs[i].pid > 0 && l_pid_alive(procs[i].pid, procs[i].comm)) {
            left++;
            continue;
        }
        unlink(procs[i].file);
    }
    l_unlock(lock);
    if (left) {
        snprintf(err, errlen, "%d process(es) in %s would not stop", left, e->state);
        return -1;
    }
    return 0;
}

/* Ready = PING answered. Fails early if the process died. */
static int l_wait_redis(const cli_env *e, pid_t pid, const char *log, char *err, size_t errlen)
{
    char sock[1100], reply[256];
    snprintf(sock, sizeof(sock), "%s/redis.sock", e->state);
    uint64_t deadline = swarm_clock_ms() + 15000;
    while (swarm_clock_ms() < deadline) {
        if (!l_pid_alive(pid, NULL)) break;
        if (l_redis_cmd(sock, "PING\r\n", reply, sizeof(reply), 1000) > 0 &&
            strncmp(reply, "+PONG", 5) == 0)
            return 0;
        l_sleep_ms(50);
    }
    char tail[700];
    l_log_tail(log, tail, sizeof(tail));
    snprintf(err, errlen, "redis-server did not come up on %s; end of %s:\n%s", sock, log, tail);
    return -1;
}

/* Ready = answers Status; with want_workers, that many of our ids registered. */
static int l_wait_swarmd(const cli_env *e, pid_t swarmd_pid, int want_workers,
                         const pid_t *worker_pids, int timeout_ms, char *err, size_t errlen)
{
    char ep[1200];
    cli_env_client_endpoint(e, ep, sizeof(ep));
    cli_client c;
    if (cli_client_open(&c, ep, err, errlen) != 0) return -1;
    uint64_t deadline = swarm_clock_ms() + (uint64_t)timeout_ms;
    int rc = -1;
    char last[512] = "no answer yet";
    while (swarm_clock_ms() < deadline) {
        if (!l_pid_alive(swarmd_pid, NULL)) {
            char tail[700], log[1100];
            snprintf(log, sizeof(log), "%s/logs/swarmd.log", e->state);
            l_log_tail(log, tail, sizeof(tail));
            snprintf(err, errlen, "swarmd exited during start-up; end of %s:\n%s", log, tail);
            goto out;
        }
        for (int i = 0; i < want_workers; i++)
            if (!l_pid_alive(worker_pids[i], NULL)) {
                char tail[700], log[1100];
                snprintf(log, sizeof(log), "%s/logs/worker-%d.log", e->state, i + 1);
                l_log_tail(log, tail, sizeof(tail));
                snprintf(err, errlen, "swarm-worker %d exited during start-up; end of %s:\n%s",
                         i + 1, log, tail);
                goto out;
            }
        Swarm__Envelope *reply = NULL;
        uint32_t code = 0;
        int r = cli_client_status(&c, NULL, false, false, 1000, &reply, &code, last, sizeof(last));
        if (r == 0) {
            int seen = 0;
            const Swarm__Status *st = reply->status;
            for (int i = 0; i < want_workers; i++) {
                char id[32];
                snprintf(id, sizeof(id), "w-%d", i + 1);
                for (size_t j = 0; j < st->n_workers; j++)
                    if (strcmp(st->workers[j]->worker_id, id) == 0) {
                        seen++;
                        break;
                    }
            }
            wire_free(reply);
            if (seen >= want_workers) {
                rc = 0;
                goto out;
            }
            snprintf(last, sizeof(last), "%d of %d workers registered", seen, want_workers);
        }
        l_sleep_ms(100);
    }
    snprintf(err, errlen, "swarm did not become ready within %d s (%s); see %s/logs/",
             timeout_ms / 1000, last, e->state);
out:
    cli_client_close(&c);
    return rc;
}

static int l_default_model(const cli_env *e, char *out, size_t cap, bool quiet, char *err,
                           size_t errlen)
{
    snprintf(out, cap, "%s/models/default.gguf", e->state);
    if (access(out, R_OK) == 0) return 0;
    char infer[1100], log[1100];
    if (l_find_exe("swarm-infer", e->bindir, infer, sizeof(infer)) != 0) {
        snprintf(err, errlen,
                 "no --model given and swarm-infer (which makes the default model) is not in %s",
                 e->bindir);
        return -1;
    }
    snprintf(log, sizeof(log), "%s/logs/mkmodel.log", e->state);
    if (!quiet)
        fprintf(stderr,
                "swarm: making the default model %s (tiny qwen3moe, random weights: "
                "its text is noise; use --model for a real GGUF)\n",
                out);
    char *argv[] = {infer,    "mkmodel", "--arch", "qwen3moe", "--preset", "tiny",
                    "--type", "Q8_0",    "--out",  out,        NULL};
    pid_t pid = l_spawn(argv, log, err, errlen);
    if (pid < 0) return -1;
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || access(out, R_OK) != 0) {
        char tail[700];
        l_log_tail(log, tail, sizeof(tail));
        snprintf(err, errlen, "swarm-infer mkmodel failed; end of %s:\n%s", log, tail);
        unlink(out);
        return -1;
    }
    return 0;
}

/* What `swarm up` resolves and starts, handed from step to step. The worker
 * argv (and the strings it points to) must outlive the supervisor's fork. */
typedef struct l_up {
    const char *engine;
    bool sim;
    int nw, slots;
    char redis[1100], swarmd[1100], worker[1100]; /* executables */
    char model[1100];                             /* "" with the sim engine */
    char sock[256], logs[256];
    char worker_ep[1100];
    pid_t spid;
    pid_t wpids[CLI_MAX_WORKERS];
    char slots_s[16], threads_s[16], id[32];
    char *wargv[16];
} l_up;

/* Options alone: worker count and engine name (nothing started yet). */
static int l_up_check_opts(const cli_up_opts *o, l_up *u, char *err, size_t errlen)
{
    u->nw = o->workers;
    u->slots = o->slots > 0 ? o->slots : 1;
    if (u->nw < 1 || u->nw > CLI_MAX_WORKERS) {
        snprintf(err, errlen, "--workers must be 1..%d", CLI_MAX_WORKERS);
        return -1;
    }
    u->engine = o->engine && *o->engine ? o->engine : "embedded";
    u->sim = strcmp(u->engine, "sim") == 0;
    /* http and replay take their settings from the environment the workers
     * inherit ($SWARM_HTTP_URL, $SWARM_REPLAY: see swarm-worker --help) */
    if (!u->sim && strcmp(u->engine, "embedded") != 0 && strcmp(u->engine, "http") != 0 &&
        strcmp(u->engine, "replay") != 0) {
        snprintf(err, errlen, "--engine: unknown engine \"%s\" (use embedded, http, sim or replay)",
                 u->engine);
        return -1;
    }
    return 0;
}

/* Under the lock: refuse when a swarm runs here, and clear what a dead one left. */
static int l_up_refuse_running(const cli_env *e, char *err, size_t errlen)
{
    l_proc procs[CLI_MAX_WORKERS + 4];
    int n = l_procs_list(e, procs, CLI_MAX_WORKERS + 4);
    for (int i = 0; i < n; i++) {
        if (procs[i].pid > 0 && l_pid_alive(procs[i].pid, procs[i].comm)) {
            snprintf(err, errlen,
                     "a swarm is already running in %s (%s pid %d); stop it with `swarm down`",
                     e->state, procs[i].comm, (int)procs[i].pid);
            return -1;
        }
        unlink(procs[i].file); /* stale */
    }
    /* a supervisor left from a swarm whose other processes died would keep
     * starting workers for it */
    sup_stop_running(e);
    return 0;
}

/* redis-server on PATH, swarmd and swarm-worker next to swarm; the model. */
static int l_up_resolve(const cli_env *e, const cli_up_opts *o, l_up *u, char *err, size_t errlen)
{
    if (l_find_exe("redis-server", NULL, u->redis, sizeof(u->redis)) != 0) {
        snprintf(err, errlen,
                 "redis-server is not installed (on Debian/Ubuntu: apt-get install "
                 "redis-server); swarm up runs a private one");
        return -1;
    }
    if (l_find_exe("swarmd", e->bindir, u->swarmd, sizeof(u->swarmd)) != 0 ||
        l_find_exe("swarm-worker", e->bindir, u->worker, sizeof(u->worker)) != 0) {
        snprintf(err, errlen, "swarmd and swarm-worker must be installed next to swarm (in %s)",
                 e->bindir);
        return -1;
    }
    u->model[0] = 0;
    if (u->sim) return 0;
    if (o->model && *o->model) {
        if (!realpath(o->model, u->model)) {
            snprintf(err, errlen, "--model %s: %s", o->model, strerror(errno));
            return -1;
        }
        return 0;
    }
    return l_default_model(e, u->model, sizeof(u->model), o->quiet, err, errlen);
}

/* redis: private, unix socket only, AOF on; returns when it answers PING. */
static int l_up_start_redis(const cli_env *e, l_up *u, char *err, size_t errlen)
{
    char log[1100], path[1100];
    snprintf(u->sock, sizeof(u->sock), "%s/redis.sock", e->state);
    snprintf(log, sizeof(log), "%s/redis.log", u->logs);
    unlink(u->sock);
    char *rargv[] = {u->redis,
                     "--port",
                     "0",
                     "--unixsocket",
                     u->sock,
                     "--unixsocketperm",
                     "700",
                     "--dir",
                     (char *)e->state,
                     "--appendonly",
                     "yes",
                     "--appendfsync",
                     "everysec",
                     "--daemonize",
                     "no",
                     "--logfile",
                     "",
                     NULL};
    pid_t rpid = l_spawn(rargv, log, err, errlen);
    if (rpid < 0) return -1;
    snprintf(path, sizeof(path), "%s/redis.pid", e->state);
    l_pid_write(path, rpid);
    return l_wait_redis(e, rpid, log, err, errlen);
}

/* swarmd on the state dir's endpoints; returns when it answers Status. */
static int l_up_start_swarmd(const cli_env *e, const cli_up_opts *o, l_up *u, char *err,
                             size_t errlen)
{
    char log[1100], path[1100], redis_arg[1100], client_ep[1100], token_file[1100];
    snprintf(redis_arg, sizeof(redis_arg), "unix:%s", u->sock);
    snprintf(client_ep, sizeof(client_ep), "ipc://%s/client.ipc", e->state);
    snprintf(u->worker_ep, sizeof(u->worker_ep), "ipc://%s/worker.ipc", e->state);
    snprintf(log, sizeof(log), "%s/swarmd.log", u->logs);
    char *sargv[12] = {u->swarmd, "--redis",   redis_arg,    "--client",
                       client_ep, "--workers", u->worker_ep, NULL};
    if (o->http && *o->http) {
        /* the dashboard; STATE/http.token (when the user made one) guards its API */
        int k = 7;
        sargv[k++] = "--http";
        sargv[k++] = (char *)o->http;
        snprintf(token_file, sizeof(token_file), "%s/http.token", e->state);
        if (access(token_file, R_OK) == 0) {
            sargv[k++] = "--http-token-file";
            sargv[k++] = token_file;
        }
        sargv[k] = NULL;
    }
    u->spid = l_spawn(sargv, log, err, errlen);
    if (u->spid < 0) return -1;
    snprintf(path, sizeof(path), "%s/swarmd.pid", e->state);
    l_pid_write(path, u->spid);
    return l_wait_swarmd(e, u->spid, 0, NULL, 20000, err, errlen);
}

/* N workers sharing the cores between all slots; returns when all registered. */
static int l_up_start_workers(const cli_env *e, const cli_up_opts *o, l_up *u, char *err,
                              size_t errlen)
{
    int threads = o->threads;
    if (threads <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = (int)(cores / (u->nw * u->slots));
        if (threads < 1) threads = 1;
    }
    snprintf(u->slots_s, sizeof(u->slots_s), "%d", u->slots);
    snprintf(u->threads_s, sizeof(u->threads_s), "%d", threads);
    for (int i = 0; i < u->nw; i++) {
        char log[1100], path[1100];
        snprintf(u->id, sizeof(u->id), "w-%d", i + 1);
        snprintf(log, sizeof(log), "%s/worker-%d.log", u->logs, i + 1);
        int k = 0;
        u->wargv[k++] = u->worker;
        u->wargv[k++] = "--connect";
        u->wargv[k++] = u->worker_ep;
        u->wargv[k++] = "--id";
        u->wargv[k++] = u->id; /* wargv[4]: the supervisor sets it per worker */
        u->wargv[k++] = "--slots";
        u->wargv[k++] = u->slots_s;
        u->wargv[k++] = "--threads";
        u->wargv[k++] = u->threads_s;
        u->wargv[k++] = "--engine";
        u->wargv[k++] = (char *)u->engine;
        if (!u->sim) {
            u->wargv[k++] = "--model";
            u->wargv[k++] = u->model;
        }
        u->wargv[k] = NULL;
        u->wpids[i] = l_spawn(u->wargv, log, err, errlen);
        if (u->wpids[i] < 0) return -1;
        snprintf(path, sizeof(path), "%s/worker-%d.pid", e->state, i + 1);
        l_pid_write(path, u->wpids[i]);
    }
    return l_wait_swarmd(e, u->spid, u->nw, u->wpids, 60000, err, errlen);
}

/* The supervisor that restarts workers (the file comment); it holds the lock fd. */
static int l_up_start_supervisor(const cli_env *e, l_up *u, int lock, char *err, size_t errlen)
{
    char path[1100];
    pid_t sup = sup_start(e, u->nw, u->wargv, 4, lock);
    if (sup < 0) {
        snprintf(err, errlen, "cannot start the worker supervisor: %s", strerror(errno));
        return -1;
    }
    snprintf(path, sizeof(path), "%s/supervisor.pid", e->state);
    l_pid_write(path, sup);
    return 0;
}

static void l_up_banner(const cli_env *e, const cli_up_opts *o, const l_up *u)
{
    if (o->quiet) return;
    fprintf(stderr, "swarm up: redis, swarmd and %d worker(s) x %d slot(s) running in %s%s\n",
            u->nw, u->slots, e->state,
            u->sim                             ? " (SIMULATED engine)"
            : strcmp(u->engine, "replay") == 0 ? " (REPLAY engine: recorded trajectories)"
                                               : "");
    if (o->http && *o->http)
        fprintf(stderr, "swarm up: dashboard and /metrics on %s (see logs/swarmd.log)\n", o->http);
}

/* The steps in order; once a process was started, a failure stops them all
 * (swarm down) so nothing is left half up. */
int cli_up(const cli_env *e, const cli_up_opts *o, char *err, size_t errlen)
{
    l_up *u = calloc(1, sizeof *u);
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char models[256];
    snprintf(u->logs, sizeof(u->logs), "%s/logs", e->state);
    snprintf(models, sizeof(models), "%s/models", e->state);
    int rc = -1, lock = -1;
    if (l_mkdir_p(e->state, err, errlen) || l_mkdir_p(u->logs, err, errlen) ||
        l_mkdir_p(models, err, errlen) || l_up_check_opts(o, u, err, errlen) != 0)
        goto out;
    if ((lock = l_lock(e, err, errlen)) < 0) goto out;
    if (l_up_refuse_running(e, err, errlen) != 0 || l_up_resolve(e, o, u, err, errlen) != 0)
        goto out;
    if (l_up_start_redis(e, u, err, errlen) != 0 || l_up_start_swarmd(e, o, u, err, errlen) != 0 ||
        l_up_start_workers(e, o, u, err, errlen) != 0 ||
        l_up_start_supervisor(e, u, lock, err, errlen) != 0) {
        l_unlock(lock);
        lock = -1;
        int stopped;
        char derr[256];
        cli_down(e, true, &stopped, derr, sizeof(derr));
        goto out;
    }
    l_up_banner(e, o, u);
    rc = 0;
out:
    l_unlock(lock);
    free(u);
    return rc;
}
