/* sandbox.c - runs an agent's shell command where it can do little harm.
 *
 * Layers, each covering what the others miss:
 *   bubblewrap   new user, pid, net, ipc, uts and cgroup namespaces: no network
 *                (only a down loopback), the root file system read-only, the
 *                workspace bound read-write, a private /tmp, /proc of its own
 *                pid namespace; when the pid namespace's init dies every
 *                process in it dies, so nothing outlives the call.
 *   seccomp      (libseccomp, handed to bwrap as --seccomp FD) refuses the
 *                calls a build or test never needs and an escape would:
 *                ptrace, mount, module loading, keyctl, bpf, namespaces,
 *                sockets other than AF_UNIX, TIOCSTI, ...
 *   rlimits      CPU seconds, address space, processes, file size.
 *   timeout      wall clock; the whole process group is SIGKILLed.
 *   output cap   stdout+stderr beyond the cap are read and dropped, so a
 *                chatty command neither blocks nor floods the transcript.
 * Linux exempts uid 0 from RLIMIT_NPROC, so a root worker names run_uid /
 * run_gid (the workspace must be writable by them) for the process limit to
 * hold; the pid namespace and the timeout still bound a fork bomb without. */
#include "agent.h"
#include "swarm_clock.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#include <sched.h>

void agent_sandbox_cfg_default(agent_sandbox_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->timeout_s = 120;
    cfg->cpu_s = 120;
    cfg->as_bytes = 4ull << 30;
    cfg->nproc = 256;
    cfg->fsize_bytes = 1ull << 30;
    cfg->output_cap = 64 * 1024;
    cfg->run_uid = -1;
    cfg->run_gid = -1;
}

static int bwrap_find(const agent_sandbox_cfg *cfg, char out[PATH_MAX])
{
    if (cfg->bwrap_path) {
        snprintf(out, PATH_MAX, "%s", cfg->bwrap_path);
        return access(out, X_OK) == 0 ? 0 : -ENOENT;
    }
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/bin:/bin";
    for (const char *p = path; *p;) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 0 && n < PATH_MAX - 8) {
            snprintf(out, PATH_MAX, "%.*s/bwrap", (int)n, p);
            if (access(out, X_OK) == 0) return 0;
        }
        p += n + (end ? 1 : 0);
    }
    return -ENOENT;
}

const char *agent_sandbox_mode(const agent_sandbox_cfg *cfg)
{
    char path[PATH_MAX];
    if (cfg->force_unsandboxed) return "unsandboxed";
    if (bwrap_find(cfg, path) == 0) return "bwrap";
    return cfg->allow_unsandboxed ? "unsandboxed" : "refused";
}

/* The filter as BPF in a memfd that bwrap reads and installs after its own
 * setup (mounting needs calls the filter refuses). */
static int seccomp_memfd(char *err, size_t errlen)
{
    static const char *const denied[] = {
        "ptrace",
        "mount",
        "umount2",
        "pivot_root",
        "chroot",
        "swapon",
        "swapoff",
        "reboot",
        "kexec_load",
        "kexec_file_load",
        "init_module",
        "finit_module",
        "delete_module",
        "keyctl",
        "add_key",
        "request_key",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "process_vm_readv",
        "process_vm_writev",
        "setns",
        "unshare",
        "acct",
        "open_by_handle_at",
        "name_to_handle_at",
        "iopl",
        "ioperm",
        "quotactl",
        "settimeofday",
        "clock_settime",
        "clock_adjtime",
        "adjtimex",
        "syslog",
        "fanotify_init",
        "mount_setattr",
        "move_mount",
        "open_tree",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "vhangup",
        "uselib",
    };
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) {
        snprintf(err, errlen, "seccomp: cannot create a filter");
        return -ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < sizeof denied / sizeof denied[0] && !rc; i++) {
        int nr = seccomp_syscall_resolve_name(denied[i]);
        if (nr != __NR_SCMP_ERROR) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    }
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                              SCMP_A0(SCMP_CMP_NE, AF_UNIX));
    static const unsigned long ns_flags[] = {CLONE_NEWNS,    CLONE_NEWUSER, CLONE_NEWPID,
                                             CLONE_NEWNET,   CLONE_NEWUTS,  CLONE_NEWIPC,
                                             CLONE_NEWCGROUP};
    for (size_t i = 0; i < sizeof ns_flags / sizeof ns_flags[0] && !rc; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
    /* clone3 passes its flags in memory a filter cannot read: ENOSYS makes
     * libc fall back to clone, whose flags the rules above do see. */
    if (!rc) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                              SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)TIOCSTI));
    if (rc) {
        seccomp_release(ctx);
        snprintf(err, errlen, "seccomp: adding a rule failed: %s", strerror(-rc));
        return rc;
    }
    int fd = memfd_create("swarm-seccomp", 0);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "seccomp: memfd_create: %s", strerror(errno));
    } else if ((rc = seccomp_export_bpf(ctx, fd)) != 0 || lseek(fd, 0, SEEK_SET) != 0) {
        snprintf(err, errlen, "seccomp: exporting the filter failed");
        close(fd);
        fd = -1;
        rc = rc ? rc : -EIO;
    }
    seccomp_release(ctx);
    return fd >= 0 ? fd : rc;
}

/* Between fork and exec only async-signal-safe calls: no stdio, no strerror. */
static void child_fail(int fd, const char *what)
{
    static const char pre[] = "sandbox: cannot start the command: ";
    size_t n = strlen(what);
    if (write(fd, pre, sizeof pre - 1) < 0 || write(fd, what, n) < 0 || write(fd, "\n", 1) < 0)
        _exit(127);
    _exit(127);
}

static void set_limit(int res, uint64_t v)
{
    if (v == 0) return;
    struct rlimit rl = {(rlim_t)v, (rlim_t)v};
    if (res == RLIMIT_CPU) rl.rlim_max = (rlim_t)v + 1; /* SIGXCPU first, SIGKILL a second later */
    setrlimit(res, &rl);
}

/* Append n bytes of the command's output, keeping at most cap in all (the
 * rest is dropped and the result marked truncated). */
static void output_keep(agent_run_result *res, size_t cap, const char *chunk, size_t n)
{
    size_t keep = cap - res->output_len;
    if (n > keep)
        res->truncated = 1;
    else
        keep = n;
    memcpy(res->output + res->output_len, chunk, keep);
    res->output_len += keep;
}

int agent_sandbox_run(const agent_sandbox_cfg *cfg, const char *workspace, const char *command,
                      double timeout_s, agent_run_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    char bwrap[PATH_MAX];
    int use_bwrap = !cfg->force_unsandboxed && bwrap_find(cfg, bwrap) == 0;
    if (!use_bwrap && !cfg->force_unsandboxed && !cfg->allow_unsandboxed) {
        snprintf(err, errlen,
                 "bubblewrap (bwrap) not found; install it, or set the job's unsandboxed mode to "
                 "run commands without a sandbox");
        return -EPERM;
    }
    if (!command || !*command) {
        snprintf(err, errlen, "empty command");
        return -EINVAL;
    }
    if (timeout_s <= 0 || (cfg->timeout_s > 0 && timeout_s > cfg->timeout_s))
        timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : 120;
    int sfd = -1;
    if (use_bwrap && (sfd = seccomp_memfd(err, errlen)) < 0) return sfd;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        if (sfd >= 0) close(sfd);
        return -errno;
    }
    char home[PATH_MAX + 8];
    snprintf(home, sizeof home, "HOME=%s", workspace);
    char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", home, "LANG=C.UTF-8", "TMPDIR=/tmp", NULL};
    /* argv is built before fork: the child only calls async-signal-safe functions. */
    const char *argv[48];
    int ac = 0;
    if (use_bwrap) {
        const char *fixed[] = {bwrap,
                               "--unshare-user",
                               "--unshare-ipc",
                               "--unshare-pid",
                               "--unshare-net",
                               "--unshare-uts",
                               "--unshare-cgroup-try",
                               "--die-with-parent",
                               "--new-session",
                               "--ro-bind",
                               "/",
                               "/",
                               "--dev",
                               "/dev",
                               "--proc",
                               "/proc",
                               "--tmpfs",
                               "/tmp",
                               "--bind",
                               workspace,
                               workspace,
                               "--chdir",
                               workspace,
                               "--clearenv",
                               "--setenv",
                               "PATH",
                               "/usr/local/bin:/usr/bin:/bin",
                               "--setenv",
                               "HOME",
                               workspace,
                               "--setenv",
                               "LANG",
                               "C.UTF-8",
                               "--setenv",
                               "TMPDIR",
                               "/tmp",
                               "--seccomp",
                               "3",
                               "--",
                               "/bin/sh",
                               "-c",
                               command,
                               NULL};
        for (; fixed[ac]; ac++)
            argv[ac] = fixed[ac];
        argv[ac] = NULL;
    } else {
        argv[0] = "/bin/sh";
        argv[1] = "-c";
        argv[2] = command;
        argv[3] = NULL;
    }
    int64_t t0 = (int64_t)swarm_clock_ms(), deadline = t0 + (int64_t)(timeout_s * 1000);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(pfd[0]);
        close(pfd[1]);
        if (sfd >= 0) close(sfd);
        snprintf(err, errlen, "fork: %s", strerror(e));
        return -e;
    }
    if (pid == 0) {
        setsid();
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(pfd[1], 1) < 0 || dup2(pfd[1], 2) < 0)
            child_fail(pfd[1], "redirecting output");
        if (sfd >= 0 && dup2(sfd, 3) < 0) child_fail(2, "passing the seccomp filter");
        /* Nothing of the worker (sockets, files) leaks into the command. */
        if (syscall(SYS_close_range, sfd >= 0 ? 4 : 3, ~0U, 0) != 0)
            for (int fd = sfd >= 0 ? 4 : 3; fd < 1024; fd++)
                close(fd);
        signal(SIGPIPE, SIG_DFL);
        set_limit(RLIMIT_CPU, cfg->cpu_s);
        set_limit(RLIMIT_AS, cfg->as_bytes);
        set_limit(RLIMIT_NPROC, cfg->nproc);
        set_limit(RLIMIT_FSIZE, cfg->fsize_bytes);
        set_limit(RLIMIT_CORE, 0);
        if (cfg->run_uid >= 0 && geteuid() == 0) {
            gid_t gid = (gid_t)(cfg->run_gid >= 0 ? cfg->run_gid : cfg->run_uid);
            if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid((uid_t)cfg->run_uid) != 0)
                child_fail(2, "dropping to run_uid");
        }
        if (!use_bwrap && chdir(workspace) != 0) child_fail(2, "entering the workspace");
        execve(argv[0], (char *const *)argv, envp);
        child_fail(2, use_bwrap ? "exec bwrap" : "exec /bin/sh");
    }
    close(pfd[1]);
    if (sfd >= 0) close(sfd);
    size_t cap = cfg->output_cap ? cfg->output_cap : 64 * 1024;
    res->output = malloc(cap + 1);
    if (!res->output) {
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(pfd[0]);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int status = 0, reaped = 0, open_pipe = 1;
    char chunk[16384];
    while (!reaped) {
        int64_t left = deadline - (int64_t)swarm_clock_ms();
        if (left <= 0) {
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            reaped = 1;
            res->timed_out = 1;
            break;
        }
        if (open_pipe) {
            struct pollfd p = {pfd[0], POLLIN, 0};
            int pr = poll(&p, 1, left > 50 ? 50 : (int)left);
            if (pr > 0) {
                ssize_t n = read(pfd[0], chunk, sizeof chunk);
                if (n > 0) {
                    output_keep(res, cap, chunk, (size_t)n);
                } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                    open_pipe = 0;
                }
            }
        } else {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (waitpid(pid, &status, WNOHANG) == pid) reaped = 1;
    }
    /* Background processes of the command die with it. */
    kill(-pid, SIGKILL);
    while (open_pipe) {
        /* Drain what the command wrote just before exiting. */
        struct pollfd p = {pfd[0], POLLIN, 0};
        if (poll(&p, 1, 0) <= 0) break;
        ssize_t n = read(pfd[0], chunk, sizeof chunk);
        if (n <= 0) break;
        output_keep(res, cap, chunk, (size_t)n);
    }
    close(pfd[0]);
    res->output[res->output_len] = 0;
    res->duration_ms = (int64_t)swarm_clock_ms() - t0;
    res->sandboxed = use_bwrap;
    if (WIFSIGNALED(status)) {
        res->exit_code = -1;
        res->term_signal = WTERMSIG(status);
    } else {
        res->exit_code = WEXITSTATUS(status);
    }
    return 0;
}

void agent_run_result_free(agent_run_result *res)
{
    if (!res) return;
    free(res->output);
    res->output = NULL;
    res->output_len = 0;
}
