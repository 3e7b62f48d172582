/* test_gitws.c - coding jobs' merge step on real git repositories in a temp
 * dir (worker/agent/gitws.c): agents' worktrees on their own branches, merged
 * in dependency order; a branch that breaks the check command (run in the
 * sandbox) is rolled back and reported, a conflict without a merge agent is
 * recorded and rolled back, the same conflict with a merge agent is merged,
 * and the final branch passes its check. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "gitws.h"
#include "../common/check.h"

static char root[256];

static void put(const char *dir, const char *rel, const char *text)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static int sh(const char *fmt, const char *arg)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, arg, arg, arg);
    return system(cmd);
}

/* One agent's work: a worktree on branch from base, files written, committed. */
static void agent_work(const char *repo, const char *branch, const char *base, const char *rel,
                       const char *text)
{
    char dir[512], err[512];
    snprintf(dir, sizeof dir, "%s/wt-%s", root, branch);
    int rc = gitws_worktree_add(repo, branch, base, dir, err, sizeof err);
    if (rc) fprintf(stderr, "worktree %s: %s\n", branch, err);
    CHECK(rc == 0);
    put(dir, rel, text);
    int committed = 0;
    CHECK(gitws_commit_all(dir, branch, &committed, err, sizeof err) == 0);
    CHECK(committed == 1);
    /* nothing new: no empty commit */
    CHECK(gitws_commit_all(dir, branch, &committed, err, sizeof err) == 0 && committed == 0);
    CHECK(gitws_worktree_remove(repo, dir, err, sizeof err) == 0);
}

/* The merge agent: keeps both sides of value.txt's conflict, no markers. */
static int resolve_both(void *ud, const char *dir, const char *branch, const char *files, char *err,
                        size_t errlen)
{
    int *calls = ud;
    (*calls)++;
    if (!strstr(files, "shared.txt")) {
        snprintf(err, errlen, "unexpected conflict in %s (%s)", files, branch);
        return -1;
    }
    put(dir, "shared.txt", "left\nright\n");
    return 0;
}

static cJSON *merge(const char *repo, const char *target, const char *const *br, size_t n,
                    gitws_resolve_fn resolve, void *ud)
{
    agent_sandbox_cfg sb;
    agent_sandbox_cfg_default(&sb);
    sb.allow_unsandboxed = 1; /* bwrap when it works here, else plainly */
    gitws_merge_cfg cfg = {.repo = repo,
                           .base = "main",
                           .target = target,
                           .branches = br,
                           .n_branches = n,
                           .check = "sh check.sh",
                           .sandbox = &sb,
                           .check_timeout_s = 30,
                           .resolve = resolve,
                           .resolve_ud = ud,
                           .workdir = root};
    char *report = NULL, err[512];
    int rc = gitws_merge(&cfg, &report, err, sizeof err);
    if (rc) fprintf(stderr, "merge: %s\n", err);
    CHECK(rc == 0);
    cJSON *j = report ? cJSON_Parse(report) : NULL;
    CHECK(j != NULL);
    free(report);
    return j;
}

static bool in_array(const cJSON *a, const char *name, const char *key)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, a)
    {
        const cJSON *v = key ? cJSON_GetObjectItemCaseSensitive(e, key) : e;
        if (cJSON_IsString(v) && !strcmp(v->valuestring, name)) return true;
    }
    return false;
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/swarm-gitws-XXXXXX");
    if (!mkdtemp(root)) return 1;
    char repo[512];
    snprintf(repo, sizeof repo, "%s/repo", root);
    mkdir(repo, 0755);
    /* the check passes while value.txt does not say "broken" */
    put(repo, "check.sh", "! grep -q broken value.txt\n");
    put(repo, "value.txt", "fine\n");
    put(repo, "shared.txt", "base\n");
    CHECK(sh("cd '%s' && git init -q -b main && git add -A && git -c user.name=t -c "
             "user.email=t@t commit -q -m base",
             repo) == 0);

    agent_work(repo, "agent-a", "main", "a.txt", "feature a\n");
    agent_work(repo, "agent-break", "main", "value.txt", "broken\n");
    agent_work(repo, "agent-b", "agent-a", "b.txt", "feature b on a\n");
    agent_work(repo, "agent-left", "main", "shared.txt", "left\n");
    agent_work(repo, "agent-right", "main", "shared.txt", "right\n");

    /* dependency order: a before b (b was built on a) */
    const char *order[] = {"agent-a", "agent-break", "agent-b", "agent-left", "agent-right"};
    cJSON *r = merge(repo, "swarm/job1", order, 5, NULL, NULL);
    if (r) {
        const cJSON *merged = cJSON_GetObjectItemCaseSensitive(r, "merged");
        const cJSON *rolled = cJSON_GetObjectItemCaseSensitive(r, "rolled_back");
        const cJSON *check = cJSON_GetObjectItemCaseSensitive(r, "check");
        CHECK(cJSON_GetArraySize(merged) == 3);
        CHECK(in_array(merged, "agent-a", NULL) && in_array(merged, "agent-b", NULL) &&
              in_array(merged, "agent-left", NULL));
        CHECK(cJSON_GetArraySize(rolled) == 2);
        CHECK(in_array(rolled, "agent-break", "branch") &&
              in_array(rolled, "agent-right", "branch"));
        char *txt = cJSON_PrintUnformatted(rolled);
        CHECK(txt && strstr(txt, "check failed after the merge (exit 1)"));
        CHECK(txt && strstr(txt, "conflict (no merge agent)"));
        free(txt);
        CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "base_check_passed")));
        CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(check, "passed")));
        const cJSON *conf = cJSON_GetObjectItemCaseSensitive(r, "conflicts");
        CHECK(cJSON_GetArraySize(conf) == 1 && in_array(conf, "agent-right", "branch"));
        /* the branch as reported: holds a, b and left, not the breaking change */
        CHECK(sh("cd '%s' && git show swarm/job1:a.txt >/dev/null 2>&1 && git show "
                 "swarm/job1:b.txt >/dev/null 2>&1 && git show swarm/job1:value.txt | grep -qx "
                 "fine && git show swarm/job1:shared.txt | grep -qx left",
                 repo) == 0);
        const cJSON *head = cJSON_GetObjectItemCaseSensitive(r, "head");
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "cd '%s' && test \"$(git rev-parse swarm/job1)\" = %s", repo,
                 cJSON_IsString(head) ? head->valuestring : "none");
        CHECK(system(cmd) == 0);
        cJSON_Delete(r);
    }

    /* the same conflict with a merge agent: resolved, merged, check run after */
    int calls = 0;
    const char *pair[] = {"agent-left", "agent-right"};
    r = merge(repo, "swarm/job2", pair, 2, resolve_both, &calls);
    CHECK(calls == 1);
    if (r) {
        const cJSON *merged = cJSON_GetObjectItemCaseSensitive(r, "merged");
        CHECK(cJSON_GetArraySize(merged) == 2);
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "rolled_back")) == 0);
        char *txt = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(r, "conflicts"));
        CHECK(txt && strstr(txt, "\"resolved\":true"));
        free(txt);
        CHECK(sh("cd '%s' && test \"$(git show swarm/job2:shared.txt)\" = \"$(printf "
                 "'left\\nright')\"",
                 repo) == 0);
        cJSON_Delete(r);
    }
    /* no merge worktree left behind */
    CHECK(sh("cd '%s' && test \"$(git worktree list | wc -l)\" = 1", repo) == 0);
    sh("rm -rf '%s'", root);
    if (check_fail_count)
        fprintf(stderr, "%d check(s) failed\n", check_fail_count);
    else
        printf("test_gitws: all checks passed\n");
    return check_fail_count ? 1 : 0;
}
