/* test_agent_sandbox.c - the run tool's sandbox with real bubblewrap: network
 * blocked, writes outside the workspace blocked, seccomp active, fork bomb and
 * memory hog contained, a sleeping command killed with its group at the
 * timeout, output capped, and the refusal / explicit unsandboxed mode.
 * Usage: test_agent_sandbox <case>. Without bwrap a case skips (77), except
 * under CI=true where it fails. */
#include "agent_test.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

static test_dirs d;
static agent_sandbox_cfg cfg;

static void setup(void)
{
    test_dirs_make(&d);
    agent_sandbox_cfg_default(&cfg);
    cfg.timeout_s = 20;
    /* Linux exempts uid 0 from RLIMIT_NPROC: run commands as nobody, the
     * workspace theirs, when the test runs as root. */
    if (geteuid() == 0) {
        cfg.run_uid = 65534;
        cfg.run_gid = 65534;
        if (chown(d.ws, 65534, 65534) != 0) perror("chown");
    }
}

static int run(const char *command, double timeout, agent_run_result *r)
{
    char err[512];
    int rc = agent_sandbox_run(&cfg, d.ws, command, timeout, r, err, sizeof err);
    if (rc)
        fprintf(stderr, "agent_sandbox_run: %s\n", err);
    else
        fprintf(stderr, "[%s] exit=%d signal=%d timed_out=%d truncated=%d %lld ms: %.300s\n",
                r->sandboxed ? "bwrap" : "plain", r->exit_code, r->term_signal, r->timed_out,
                r->truncated, (long long)r->duration_ms, r->output);
    return rc;
}

/* Processes anywhere on the machine whose command line contains marker. */
static int count_procs(const char *marker)
{
    DIR *dir = opendir("/proc");
    int n = 0;
    struct dirent *de;
    while (dir && (de = readdir(dir)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
        char path[300], buf[4096];
        snprintf(path, sizeof path, "/proc/%s/cmdline", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        for (size_t i = 0; i < len; i++)
            if (buf[i] == 0) buf[i] = ' ';
        buf[len] = 0;
        if (strstr(buf, marker)) n++;
    }
    if (dir) closedir(dir);
    return n;
}

static void case_network(void)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    CHECK(bind(ls, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(ls, 8) == 0);
    getsockname(ls, (struct sockaddr *)&sa, &sl);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "exec 3<>/dev/tcp/127.0.0.1/%d && echo connected",
             ntohs(sa.sin_port));
    char bash_cmd[300];
    snprintf(bash_cmd, sizeof bash_cmd, "bash -c '%s'", cmd);
    agent_run_result r;
    CHECK(run(bash_cmd, 10, &r) == 0);
    CHECK(r.sandboxed == 1);
    CHECK(r.exit_code != 0);
    CHECK(!strstr(r.output, "connected"));
    agent_run_result_free(&r);
    CHECK(accept(ls, NULL, NULL) < 0 && errno == EAGAIN); /* nothing reached us */
    /* Control: the same command outside the sandbox does connect, so the
     * refusal above is the sandbox's doing. */
    cfg.force_unsandboxed = 1;
    CHECK(run(bash_cmd, 10, &r) == 0);
    CHECK(r.sandboxed == 0 && r.exit_code == 0);
    CHECK_CONTAINS(r.output, "connected");
    agent_run_result_free(&r);
    int c = accept(ls, NULL, NULL);
    CHECK(c >= 0);
    if (c >= 0) close(c);
    close(ls);
}

static void case_seccomp(void)
{
    /* Inside a fresh network namespace an AF_INET socket would still be
     * created; EAFNOSUPPORT proves the filter. PTRACE_TRACEME (syscall 101 on
     * x86-64) succeeds anywhere unfiltered. */
    const char *cmd = "perl -e 'socket(S, 2, 1, 0) or print \"inet: $!\\n\"; "
                      "socket(U, 1, 1, 0) and print \"unix ok\\n\"; "
                      "$r = syscall(101, 0, 0, 0, 0); print \"ptrace=$r\\n\"'";
    agent_run_result r;
    CHECK(run(cmd, 10, &r) == 0);
    CHECK_CONTAINS(r.output, "inet: Address family not supported");
    CHECK_CONTAINS(r.output, "unix ok");
    CHECK_CONTAINS(r.output, "ptrace=-1");
    agent_run_result_free(&r);
    cfg.force_unsandboxed = 1;
    CHECK(run(cmd, 10, &r) == 0);
    CHECK(!strstr(r.output, "inet:"));
    CHECK_CONTAINS(r.output, "ptrace=0");
    agent_run_result_free(&r);
}

static void case_writes(void)
{
    char cmd[1200], p[400];
    snprintf(cmd, sizeof cmd,
             "echo in > inside.txt; echo ok-inside; "
             "echo out > %s/escaped.txt || echo blocked-outside; "
             "echo etc > /etc/swarm-agent-test || echo blocked-etc; "
             "echo t > /tmp/swarm-agent-private && echo tmp-ok",
             d.outside);
    agent_run_result r;
    CHECK(run(cmd, 10, &r) == 0);
    CHECK_CONTAINS(r.output, "ok-inside");
    CHECK_CONTAINS(r.output, "blocked-outside");
    CHECK_CONTAINS(r.output, "blocked-etc");
    CHECK_CONTAINS(r.output, "tmp-ok");
    agent_run_result_free(&r);
    snprintf(p, sizeof p, "%s/inside.txt", d.ws);
    char *t = read_text(p);
    CHECK(t && strcmp(t, "in\n") == 0);
    free(t);
    snprintf(p, sizeof p, "%s/escaped.txt", d.outside);
    CHECK(access(p, F_OK) != 0);
    CHECK(access("/etc/swarm-agent-test", F_OK) != 0);
    CHECK(access("/tmp/swarm-agent-private", F_OK) != 0); /* /tmp was private */
}

/* Tasks (threads count for RLIMIT_NPROC) the given uid already runs. */
static int count_user_tasks(uid_t uid)
{
    DIR *dir = opendir("/proc");
    int n = 0;
    struct dirent *de;
    while (dir && (de = readdir(dir)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
        char path[300];
        struct stat st;
        snprintf(path, sizeof path, "/proc/%s/task", de->d_name);
        if (stat(path, &st) != 0 || st.st_uid != uid) continue;
        DIR *t = opendir(path);
        struct dirent *te;
        while (t && (te = readdir(t)) != NULL)
            n += te->d_name[0] != '.';
        if (t) closedir(t);
    }
    if (dir) closedir(dir);
    return n;
}

static void case_forkbomb(void)
{
    /* The limit counts every process of the user: leave room for those that
     * already exist (a CI user's other jobs), then 32 for the bomb. */
    int existing = count_user_tasks(cfg.run_uid >= 0 ? (uid_t)cfg.run_uid : geteuid());
    cfg.nproc = (uint64_t)existing + 32;
    fprintf(stderr, "uid already runs %d tasks; RLIMIT_NPROC %d\n", existing, existing + 32);
    /* Counting bomb: forks sleepers until the kernel refuses. */
    const char *count = "perl -e 'for $i (1..100000) { $p = fork; if (!defined $p) { print "
                        "\"fork failed after $i: $!\\n\"; exit 0 } if ($p == 0) { sleep 60; exit "
                        "0 } }; print \"no limit\\n\"'";
    agent_run_result r;
    CHECK(run(count, 20, &r) == 0);
    CHECK_CONTAINS(r.output, "fork failed after");
    CHECK_CONTAINS(r.output, "Resource temporarily unavailable");
    CHECK(!strstr(r.output, "no limit"));
    int after = 0;
    const char *at = strstr(r.output, "after ");
    if (at) after = atoi(at + 6);
    CHECK(after > 1 && after <= 40);
    /* The sleepers died with the sandbox instead of sleeping on. */
    CHECK(r.duration_ms < 15000);
    agent_run_result_free(&r);
    /* The classic shell bomb, killed at its timeout with everything it made. */
    const char *marker = "swarm_bomb_marker_4242";
    char bomb[300];
    snprintf(bomb, sizeof bomb, "true %s; b(){ b | b & }; b; sleep 30", marker);
    CHECK(run(bomb, 3, &r) == 0);
    CHECK(r.duration_ms < 10000);
    agent_run_result_free(&r);
    usleep(200 * 1000);
    CHECK(count_procs(marker) == 0);
    /* The machine can still fork. */
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    CHECK(pid > 0);
    if (pid > 0) waitpid(pid, NULL, 0);
}

static void case_memhog(void)
{
    cfg.as_bytes = 256ull << 20;
    agent_run_result r;
    CHECK(run("perl -e '$n = 1 << 30; $x = \"a\" x $n; print \"allocated\\n\"'", 20, &r) == 0);
    CHECK(r.exit_code != 0);
    CHECK(!strstr(r.output, "allocated"));
    CHECK_CONTAINS(r.output, "Out of memory");
    agent_run_result_free(&r);
    /* Within the limit the same program works. */
    CHECK(run("perl -e '$x = \"a\" x (16*1024*1024); print \"allocated\\n\"'", 20, &r) == 0);
    CHECK(r.exit_code == 0);
    CHECK_CONTAINS(r.output, "allocated");
    agent_run_result_free(&r);
}

static void case_timeout(void)
{
    for (int plain = 0; plain < 2; plain++) {
        cfg.force_unsandboxed = plain;
        const char *marker = plain ? "86399.125" : "86399.375";
        char cmd[200];
        snprintf(cmd, sizeof cmd, "sleep %s & sleep %s; echo never", marker, marker);
        agent_run_result r;
        CHECK(run(cmd, 1, &r) == 0);
        CHECK(r.timed_out);
        CHECK(r.term_signal == SIGKILL);
        CHECK(r.duration_ms >= 900 && r.duration_ms < 5000);
        CHECK(!strstr(r.output, "never"));
        agent_run_result_free(&r);
        usleep(200 * 1000);
        CHECK(count_procs(marker) == 0); /* the background sleep died too */
    }
    /* A command that finishes reports its exit status, not a timeout. */
    agent_run_result r;
    cfg.force_unsandboxed = 0;
    CHECK(run("echo hello; exit 3", 10, &r) == 0);
    CHECK(!r.timed_out && r.exit_code == 3 && r.term_signal == 0);
    CHECK(strcmp(r.output, "hello\n") == 0);
    agent_run_result_free(&r);
    /* The configured timeout caps the one a call asks for. */
    cfg.timeout_s = 1;
    CHECK(run("sleep 30", 60, &r) == 0);
    CHECK(r.timed_out && r.duration_ms < 5000);
    agent_run_result_free(&r);
}

static void case_output_cap(void)
{
    cfg.output_cap = 1000;
    agent_run_result r;
    CHECK(run("head -c 3000000 /dev/zero | tr '\\0' x; echo; echo done >&2", 20, &r) == 0);
    CHECK(r.exit_code == 0 && !r.timed_out); /* drained, never blocked */
    CHECK(r.truncated);
    CHECK(r.output_len == 1000);
    agent_run_result_free(&r);
    CHECK(run("printf 'short'", 20, &r) == 0);
    CHECK(!r.truncated && r.output_len == 5);
    agent_run_result_free(&r);
}

/* The run tool through the registry: observation, audit, refusal. */
static void case_run_tool(void)
{
    char err[512];
    agent_ws *ws;
    agent_registry *reg;
    CHECK(agent_ws_open(d.ws, &ws, err, sizeof err) == 0);
    agent_registry_new(&reg);
    agent_registry_add_builtins(reg, err, sizeof err);
    agent_env env = {.ws = ws, .sandbox = &cfg, .task_id = "t1", .agent_id = "a1"};
    agent_result res;
    agent_audit a;
    CHECK(agent_registry_call(reg, &env, "run", "{\"command\":\"echo hi; exit 2\"}", 1, &res, &a) <
          0);
    CHECK_CONTAINS(res.observation, "[exit status 2]\nhi\n");
    CHECK(a.exit_code == 2 && a.sandboxed == 1);
    char *json;
    CHECK(agent_audit_to_json(&a, &json, err, sizeof err) == 0);
    CHECK_CONTAINS(json, "\"sandbox\":\"bwrap\"");
    CHECK_CONTAINS(json, "\"exit_code\":2");
    free(json);
    agent_result_free(&res);
    CHECK(strcmp(agent_sandbox_mode(&cfg), "bwrap") == 0);

    /* Without bwrap: refused, and the message says how to opt out. */
    cfg.bwrap_path = "/nonexistent/bwrap";
    CHECK(strcmp(agent_sandbox_mode(&cfg), "refused") == 0);
    CHECK(agent_registry_call(reg, &env, "run", "{\"command\":\"echo hi\"}", 2, &res, &a) < 0);
    CHECK_CONTAINS(res.observation, "bwrap");
    CHECK_CONTAINS(res.observation, "unsandboxed mode");
    agent_result_free(&res);
    cfg.allow_unsandboxed = 1;
    CHECK(strcmp(agent_sandbox_mode(&cfg), "unsandboxed") == 0);
    CHECK(agent_registry_call(reg, &env, "run", "{\"command\":\"echo hi\"}", 3, &res, &a) == 0);
    CHECK(a.sandboxed == 0);
    CHECK(agent_audit_to_json(&a, &json, err, sizeof err) == 0);
    CHECK_CONTAINS(json, "\"sandbox\":\"unsandboxed\"");
    free(json);
    agent_result_free(&res);
    agent_registry_free(reg);
    agent_ws_free(ws);
}

/* CPU seconds and file size: a spinning loop dies of SIGXCPU long before the
 * wall clock, a large write stops at the size limit. Inside bwrap a signal
 * death reads as exit 128+N. */
static void case_limits(void)
{
    cfg.cpu_s = 1;
    cfg.fsize_bytes = 1 << 20;
    agent_run_result r;
    CHECK(run("perl -e '1 while 1'", 40, &r) == 0);
    CHECK(!r.timed_out);
    CHECK(r.exit_code == 128 + SIGXCPU || r.exit_code == 128 + SIGKILL);
    agent_run_result_free(&r);
    CHECK(run("head -c 3000000 /dev/zero > big.bin; echo status=$?", 20, &r) == 0);
    CHECK_CONTAINS(r.output, "status=153"); /* 128 + SIGXFSZ */
    agent_run_result_free(&r);
    char p[400];
    snprintf(p, sizeof p, "%s/big.bin", d.ws);
    struct stat st;
    CHECK(stat(p, &st) == 0 && st.st_size == 1 << 20);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr,
                "usage: %s network|seccomp|writes|forkbomb|memhog|limits|timeout|output_cap|"
                "run_tool\n",
                argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    agent_sandbox_cfg probe;
    agent_sandbox_cfg_default(&probe);
    if (strcmp(agent_sandbox_mode(&probe), "bwrap") != 0) {
        const char *ci = getenv("CI");
        fprintf(stderr, "bubblewrap (bwrap) is not installed%s\n",
                ci && strcmp(ci, "true") == 0 ? "; CI=true: failing" : "; skipping");
        return ci && strcmp(ci, "true") == 0 ? 1 : 77;
    }
    setup();
    const char *c = argv[1];
    if (strcmp(c, "network") == 0)
        case_network();
    else if (strcmp(c, "seccomp") == 0)
        case_seccomp();
    else if (strcmp(c, "writes") == 0)
        case_writes();
    else if (strcmp(c, "forkbomb") == 0)
        case_forkbomb();
    else if (strcmp(c, "memhog") == 0)
        case_memhog();
    else if (strcmp(c, "timeout") == 0)
        case_timeout();
    else if (strcmp(c, "output_cap") == 0)
        case_output_cap();
    else if (strcmp(c, "limits") == 0)
        case_limits();
    else if (strcmp(c, "run_tool") == 0)
        case_run_tool();
    else {
        fprintf(stderr, "unknown case %s\n", c);
        return 2;
    }
    test_dirs_remove(&d);
    if (!check_fail_count) printf("ok\n");
    return check_done();
}
