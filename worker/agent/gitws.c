/* gitws.c - coding jobs' git workspace: worktrees per agent and the ordered,
 * checked, rolled-back merge (gitws.h says the contract).
 *
 * git is run as a child with an argv (never through a shell, so a branch
 * name cannot inject a command) and a fixed identity, so commits work on a
 * machine with no git configuration. A merge that leaves the check failing
 * when it passed before is undone with `reset --hard` to the commit before
 * it: the target branch only ever holds merges that kept the check green
 * (or, if the base already fails, merges that did not make the verdict
 * worse: a failing check cannot get "more failing" by exit status alone, so
 * those are kept and the final verdict is reported as failing). */
#include "gitws.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#define GITWS_OUT_CAP (64 * 1024)   /* git output kept per command */
#define GITWS_CHECK_TAIL (4 * 1024) /* check output kept in the report */

/* Runs git -C dir args...; *out (optional) gets stdout+stderr (capped).
 * Returns git's exit status (0..255), or -1 with err when it could not run. */
static int git_run(const char *dir, const char *const *args, char **out, char *err, size_t errlen)
{
    const char *pre[] = {"git",
                         "-C",
                         dir,
                         "-c",
                         "user.name=swarm",
                         "-c",
                         "user.email=swarm@localhost",
                         "-c",
                         "commit.gpgsign=false",
                         "-c",
                         "core.hooksPath=/dev/null"};
    size_t np = sizeof pre / sizeof pre[0], na = 0;
    while (args[na])
        na++;
    const char **argv = calloc(np + na + 1, sizeof *argv);
    if (out) *out = NULL;
    if (!argv) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(argv, pre, sizeof pre);
    memcpy(argv + np, args, na * sizeof *args);
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        free(argv);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        free(argv);
        return -1;
    }
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        setenv("GIT_TERMINAL_PROMPT", "0", 1);
        setenv("GIT_MERGE_AUTOEDIT", "no", 1);
        execvp("git", (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    free(argv);
    char *buf = malloc(GITWS_OUT_CAP + 1);
    size_t len = 0;
    char tmp[4096];
    ssize_t n;
    while ((n = read(pfd[0], tmp, sizeof tmp)) != 0) {
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        size_t take = buf && len < GITWS_OUT_CAP ? (size_t)n : 0;
        if (take > GITWS_OUT_CAP - len) take = GITWS_OUT_CAP - len;
        if (take) memcpy(buf + len, tmp, take);
        len += take;
    }
    close(pfd[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (buf) buf[len] = 0;
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    if (code == 127) {
        snprintf(err, errlen, "git could not be run (is git installed?)");
        free(buf);
        return -1;
    }
    if (out)
        *out = buf;
    else
        free(buf);
    return code;
}

/* git that must succeed: its output's first line goes into err otherwise. */
static int git_ok(const char *dir, const char *const *args, char **out, char *err, size_t errlen)
{
    char *o = NULL;
    int rc = git_run(dir, args, &o, err, errlen);
    if (rc > 0) {
        const char *msg = o ? o : "";
        size_t l = strcspn(msg, "\n");
        snprintf(err, errlen, "git %s %s: %.*s", args[0], args[1] ? args[1] : "", (int)l, msg);
    }
    if (rc == 0 && out)
        *out = o;
    else
        free(o);
    return rc == 0 ? 0 : -1;
}

int gitws_worktree_add(const char *repo, const char *branch, const char *base, const char *dir,
                       char *err, size_t errlen)
{
    const char *args[] = {"worktree", "add", "-q", "-b", branch, dir, base, NULL};
    return git_ok(repo, args, NULL, err, errlen);
}

int gitws_worktree_remove(const char *repo, const char *dir, char *err, size_t errlen)
{
    const char *args[] = {"worktree", "remove", "--force", dir, NULL};
    return git_ok(repo, args, NULL, err, errlen);
}

int gitws_commit_all(const char *dir, const char *message, int *committed, char *err, size_t errlen)
{
    *committed = 0;
    const char *add[] = {"add", "-A", NULL};
    if (git_ok(dir, add, NULL, err, errlen)) return -1;
    const char *diff[] = {"diff", "--cached", "--quiet", NULL};
    int rc = git_run(dir, diff, NULL, err, errlen);
    if (rc < 0) return -1;
    if (rc == 0) return 0; /* nothing staged */
    const char *commit[] = {"commit", "-q", "-m", message, NULL};
    if (git_ok(dir, commit, NULL, err, errlen)) return -1;
    *committed = 1;
    return 0;
}

static char *rev_parse(const char *dir, const char *ref, char *err, size_t errlen)
{
    const char *args[] = {"rev-parse", "--verify", "-q", ref, NULL};
    char *o = NULL;
    if (git_ok(dir, args, &o, err, errlen)) return NULL;
    if (o) o[strcspn(o, "\n")] = 0;
    return o;
}

/* Runs the check; passed = exit 0. *tail: the last GITWS_CHECK_TAIL bytes. */
static int run_check(const gitws_merge_cfg *cfg, const char *dir, int *passed, int *exit_code,
                     char **tail, char *err, size_t errlen)
{
    agent_run_result res = {0};
    double to = cfg->check_timeout_s > 0 ? cfg->check_timeout_s : 300;
    agent_sandbox_cfg def;
    const agent_sandbox_cfg *sb = cfg->sandbox;
    if (!sb) {
        agent_sandbox_cfg_default(&def);
        sb = &def;
    }
    if (agent_sandbox_run(sb, dir, cfg->check, to, &res, err, errlen) != 0) return -1;
    *passed = res.exit_code == 0 && !res.timed_out && !res.term_signal;
    *exit_code = res.exit_code;
    const char *o = res.output ? res.output : "";
    size_t n = res.output_len;
    if (n > GITWS_CHECK_TAIL) {
        o += n - GITWS_CHECK_TAIL;
        n = GITWS_CHECK_TAIL;
    }
    *tail = strndup(o, n);
    agent_run_result_free(&res);
    return 0;
}

/* Whether any of files (one path per line, relative to dir) still holds a
 * conflict marker line. */
static bool markers_left(const char *dir, const char *files)
{
    bool left = false;
    const char *p = files;
    while (*p && !left) {
        size_t n = strcspn(p, "\n");
        char *path = NULL;
        if (n && asprintf(&path, "%s/%.*s", dir, (int)n, p) < 0) path = NULL;
        FILE *f = path ? fopen(path, "r") : NULL;
        free(path);
        char line[1024];
        while (f && !left && fgets(line, sizeof line, f))
            left = !strncmp(line, "<<<<<<< ", 8) || !strncmp(line, ">>>>>>> ", 8) ||
                   !strcmp(line, "=======\n");
        if (f) fclose(f);
        p += n;
        if (*p) p++;
    }
    return left;
}

static void report_check(cJSON *root, const char *command, int passed, int exit_code,
                         const char *out)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "command", command);
    cJSON_AddBoolToObject(c, "passed", passed);
    cJSON_AddNumberToObject(c, "exit_code", exit_code);
    cJSON_AddStringToObject(c, "output", out ? out : "");
    cJSON_ReplaceItemInObjectCaseSensitive(root, "check", c);
}

int gitws_merge(const gitws_merge_cfg *cfg, char **report, char *err, size_t errlen)
{
    *report = NULL;
    if (!cfg->repo || !cfg->base || !cfg->target || !cfg->workdir) {
        snprintf(err, errlen, "merge: repo, base, target and workdir are required");
        return -1;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/merge-XXXXXX", cfg->workdir);
    if (!mkdtemp(dir)) {
        snprintf(err, errlen, "merge: %s: %s", cfg->workdir, strerror(errno));
        return -1;
    }
    rmdir(dir); /* git worktree add makes it */
    /* -B: the target restarts at base, so a retried merge step is idempotent */
    const char *add[] = {"worktree", "add", "-q", "-B", cfg->target, dir, cfg->base, NULL};
    if (git_ok(cfg->repo, add, NULL, err, errlen)) return -1;

    cJSON *root = cJSON_CreateObject(), *merged = cJSON_CreateArray(),
          *rolled = cJSON_CreateArray(), *conflicts = cJSON_CreateArray();
    cJSON_AddStringToObject(root, "branch", cfg->target);
    cJSON_AddItemToObject(root, "merged", merged);
    cJSON_AddItemToObject(root, "rolled_back", rolled);
    cJSON_AddItemToObject(root, "conflicts", conflicts);
    cJSON_AddNullToObject(root, "check");
    bool has_check = cfg->check && cfg->check[0];
    int passed = 1, code = 0, rc = -1;
    char *tail = NULL;
    if (has_check) {
        if (run_check(cfg, dir, &passed, &code, &tail, err, errlen)) goto out;
        cJSON_AddBoolToObject(root, "base_check_passed", passed);
        report_check(root, cfg->check, passed, code, tail);
    }
    for (size_t i = 0; i < cfg->n_branches; i++) {
        const char *br = cfg->branches[i];
        char *before = rev_parse(dir, "HEAD", err, errlen);
        if (!before) goto out;
        const char *m[] = {"merge", "-q", "--no-ff", "--no-edit", "-m", "swarm: merge", br, NULL};
        char *mo = NULL;
        int mrc = git_run(dir, m, &mo, err, errlen);
        if (mrc < 0) {
            free(before);
            goto out;
        }
        if (mrc != 0) {
            /* a conflict (or an unknown branch): the merge agent, or roll back */
            const char *u[] = {"diff", "--name-only", "--diff-filter=U", NULL};
            char *files = NULL;
            git_run(dir, u, &files, err, errlen);
            bool conflicted = files && files[0];
            cJSON *c = cJSON_CreateObject();
            cJSON_AddStringToObject(c, "branch", br);
            cJSON_AddStringToObject(c, "files", conflicted ? files : "");
            int resolved = 0;
            char rerr[512] = "";
            if (conflicted && cfg->resolve &&
                cfg->resolve(cfg->resolve_ud, dir, br, files, rerr, sizeof rerr) == 0) {
                const char *ca[] = {"add", "-A", NULL};
                const char *cc[] = {"commit", "-q", "--no-edit", NULL};
                /* the agent's word is not enough: no conflict marker may remain */
                resolved = !markers_left(dir, files) &&
                           git_ok(dir, ca, NULL, rerr, sizeof rerr) == 0 &&
                           git_ok(dir, cc, NULL, rerr, sizeof rerr) == 0;
            }
            cJSON_AddBoolToObject(c, "resolved", resolved);
            if (!conflicted) cJSON_AddStringToObject(c, "error", mo ? mo : "merge failed");
            cJSON_AddItemToArray(conflicts, c);
            if (!resolved) {
                const char *ab[] = {"merge", "--abort", NULL};
                const char *rs[] = {"reset", "-q", "--hard", before, NULL};
                git_run(dir, ab, NULL, err, errlen);
                git_run(dir, rs, NULL, err, errlen);
                cJSON *r = cJSON_CreateObject();
                cJSON_AddStringToObject(r, "branch", br);
                cJSON_AddStringToObject(r, "reason",
                                        !conflicted    ? "merge failed"
                                        : cfg->resolve ? "conflict the merge agent did not resolve"
                                                       : "conflict (no merge agent)");
                cJSON_AddItemToArray(rolled, r);
                free(files);
                free(mo);
                free(before);
                continue;
            }
            free(files);
        }
        free(mo);
        if (has_check) {
            int now_passed = 0, now_code = 0;
            char *now_tail = NULL;
            if (run_check(cfg, dir, &now_passed, &now_code, &now_tail, err, errlen)) {
                free(before);
                goto out;
            }
            if (passed && !now_passed) {
                /* this merge broke a passing check: undo it */
                const char *rs[] = {"reset", "-q", "--hard", before, NULL};
                if (git_ok(dir, rs, NULL, err, errlen)) {
                    free(now_tail);
                    free(before);
                    goto out;
                }
                cJSON *r = cJSON_CreateObject();
                cJSON_AddStringToObject(r, "branch", br);
                char why[96];
                snprintf(why, sizeof why, "check failed after the merge (exit %d)", now_code);
                cJSON_AddStringToObject(r, "reason", why);
                cJSON_AddStringToObject(r, "check_output", now_tail ? now_tail : "");
                cJSON_AddItemToArray(rolled, r);
                free(now_tail);
                free(before);
                continue;
            }
            passed = now_passed;
            code = now_code;
            free(tail);
            tail = now_tail;
            report_check(root, cfg->check, passed, code, tail);
        }
        cJSON_AddItemToArray(merged, cJSON_CreateString(br));
        free(before);
    }
    char *head = rev_parse(dir, "HEAD", err, errlen);
    if (!head) goto out;
    cJSON_AddStringToObject(root, "head", head);
    free(head);
    *report = cJSON_PrintUnformatted(root);
    rc = *report ? 0 : -1;
    if (rc) snprintf(err, errlen, "out of memory");
out:
    free(tail);
    cJSON_Delete(root);
    /* the target branch holds the result; the merge worktree is scratch */
    char rerr[256];
    (void)gitws_worktree_remove(cfg->repo, dir, rerr, sizeof rerr);
    return rc;
}

/* ---- coding jobs ---- */

static int path_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

int gitws_agent_begin(const char *repo, const char *job, const char *task, const char *base,
                      char *wt, size_t wtlen, char *err, size_t errlen)
{
    char dir[4096], branch[256];
    snprintf(dir, sizeof dir, "%s/.git/swarm-worktrees", repo);
    if (!path_exists(dir) && mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "agent.git: %s: %s (is the workspace a git repository?)", dir,
                 strerror(errno));
        return -1;
    }
    if ((size_t)snprintf(wt, wtlen, "%s/%s-%s", dir, job, task) >= wtlen) {
        snprintf(err, errlen, "agent.git: worktree path too long");
        return -1;
    }
    snprintf(branch, sizeof branch, "swarm/%s/%s", job, task);
    if (path_exists(wt)) return 0; /* a resumed attempt on this worker */
    char ref[300];
    snprintf(ref, sizeof ref, "refs/heads/%s", branch);
    char *have = NULL;
    const char *probe[] = {"rev-parse", "--verify", "-q", ref, NULL};
    int exists = git_run(repo, probe, &have, err, errlen) == 0;
    free(have);
    if (exists) {
        /* the branch outlived an attempt elsewhere: continue on it */
        const char *args[] = {"worktree", "add", "-q", wt, branch, NULL};
        return git_ok(repo, args, NULL, err, errlen);
    }
    return gitws_worktree_add(repo, branch, base && *base ? base : "HEAD", wt, err, errlen);
}

int gitws_agent_end(const char *repo, const char *wt, const char *job, const char *task, char *err,
                    size_t errlen)
{
    char msg[256];
    int committed = 0;
    snprintf(msg, sizeof msg, "swarm %s: agent %s", job, task);
    if (gitws_commit_all(wt, msg, &committed, err, errlen)) return -1;
    return gitws_worktree_remove(repo, wt, err, errlen);
}

int gitws_merge_job(const char *repo, const char *job, const char *base, const char *check,
                    const char *order, const agent_sandbox_cfg *sandbox, double check_timeout_s,
                    gitws_resolve_fn resolve, void *resolve_ud, char **report, char *err,
                    size_t errlen)
{
    char work[4096], target[256];
    snprintf(work, sizeof work, "%s/.git/swarm-worktrees", repo);
    if (!path_exists(work) && mkdir(work, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "merge: %s: %s", work, strerror(errno));
        return -1;
    }
    snprintf(target, sizeof target, "swarm/%s/merged", job); /* beside the agents' branches */
    size_t cap = 16, n = 0;
    char **br = calloc(cap, sizeof *br);
    int rc = -1;
    const char *p = order ? order : "";
    size_t line = strcspn(p, "\n");
    while (br && line > 0) {
        size_t k = strcspn(p, ",\n");
        if (k > line) k = line;
        if (k > 0 && k < 64) {
            if (n == cap) {
                char **nb = realloc(br, 2 * cap * sizeof *br);
                if (!nb) break;
                br = nb;
                cap *= 2;
            }
            if (asprintf(&br[n], "swarm/%s/%.*s", job, (int)k, p) < 0) break;
            n++;
        }
        p += k;
        line -= k;
        if (line > 0 && *p == ',') {
            p++;
            line--;
        }
    }
    if (!br) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    gitws_merge_cfg cfg = {.repo = repo,
                           .base = base && *base ? base : "HEAD",
                           .target = target,
                           .branches = (const char *const *)br,
                           .n_branches = n,
                           .check = check,
                           .sandbox = sandbox,
                           .check_timeout_s = check_timeout_s,
                           .resolve = resolve,
                           .resolve_ud = resolve_ud,
                           .workdir = work};
    rc = gitws_merge(&cfg, report, err, errlen);
    for (size_t i = 0; i < n; i++)
        free(br[i]);
    free(br);
    return rc;
}
