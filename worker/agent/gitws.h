/* gitws.h - coding jobs' git workspace: a worktree and branch per agent, and
 * the merge step (docs/JOBS.md "Coding jobs").
 *
 * Each agent of a coding job works in its own worktree of the job's
 * repository, on its own branch, so agents never see each other's half-done
 * edits. The merge step (a task on a worker) merges the branches into one
 * target branch in dependency order; a conflict goes to a merge agent (a
 * callback) or, without one or when it cannot resolve it, is recorded and the
 * merge aborted; after each merge the job's check command runs in the
 * sandbox, and a merge that turns a passing check into a failing one is
 * rolled back. The report says the final branch and head, what was merged,
 * what was rolled back and why, and the check's last verdict. git runs as a
 * child process (argv, no shell); nothing here touches the caller's checkout
 * of the target branch. */
#ifndef SWARM_AGENT_GITWS_H
#define SWARM_AGENT_GITWS_H

#include <stddef.h>

#include "agent.h"

/* An agent's worktree at dir on a new branch made from base (a ref). */
int gitws_worktree_add(const char *repo, const char *branch, const char *base, const char *dir,
                       char *err, size_t errlen);
/* Commit everything changed in the worktree dir (nothing to commit is fine);
 * *committed = 1 when a commit was made. */
int gitws_commit_all(const char *dir, const char *message, int *committed, char *err,
                     size_t errlen);
/* Remove a worktree made by gitws_worktree_add (its branch stays). */
int gitws_worktree_remove(const char *repo, const char *dir, char *err, size_t errlen);

/* A merge agent: resolve the conflicts of merging branch in dir (files lists
 * the conflicted paths, one per line), leaving the files without conflict
 * markers. 0 = resolved; negative = could not (the merge is rolled back). */
typedef int (*gitws_resolve_fn)(void *ud, const char *dir, const char *branch, const char *files,
                                char *err, size_t errlen);

typedef struct gitws_merge_cfg {
    const char *repo;            /* the job's repository */
    const char *base;            /* ref the target starts from, e.g. "main" */
    const char *target;          /* branch made (or reset) at base, e.g. "swarm/<job>" */
    const char *const *branches; /* the agents' branches, in dependency order */
    size_t n_branches;
    const char *check; /* shell command run in the merge worktree, "" / NULL = none */
    const agent_sandbox_cfg *sandbox;
    double check_timeout_s;
    gitws_resolve_fn resolve; /* NULL: conflicts are recorded and rolled back */
    void *resolve_ud;
    const char *workdir; /* where the merge worktree is made (a fresh subdirectory) */
} gitws_merge_cfg;

/* Runs the merge step. *report is malloc'ed JSON:
 * {"branch", "head", "merged": [branch...], "rolled_back": [{"branch",
 *  "reason", "check_output"}], "conflicts": [{"branch", "files", "resolved"}],
 *  "check": {"command", "passed", "exit_code", "output"} | null,
 *  "base_check_passed"}. Errors are setup failures (no repository, git
 * missing); a failing check or a conflict is a result, not an error. */
int gitws_merge(const gitws_merge_cfg *cfg, char **report, char *err, size_t errlen);

/* ---- coding jobs (the job's agent.git: {"base", "check"}) ---- */

/* The merge step's task: its instructions are this marker and its input
 * starts with the agents' task ids in dependency order, comma-separated
 * (orchestrator/planner_model.c planner_git_step). */
#define GITWS_MERGE_TASK "swarm:git-merge"

/* An agent's worktree, <repo>/.git/swarm-worktrees/<job>-<task>, on branch
 * swarm/<job>/<task> made from base; reused when it exists (a resumed
 * sub-task continues on its branch). wt receives the path. */
int gitws_agent_begin(const char *repo, const char *job, const char *task, const char *base,
                      char *wt, size_t wtlen, char *err, size_t errlen);
/* The agent finished: commit its work on its branch, drop the worktree. */
int gitws_agent_end(const char *repo, const char *wt, const char *job, const char *task, char *err,
                    size_t errlen);
/* The merge step of job: branches swarm/<job>/<task> for the ids in order
 * (comma-separated) into swarm/<job>/merged, made at base; report as gitws_merge. */
int gitws_merge_job(const char *repo, const char *job, const char *base, const char *check,
                    const char *order, const agent_sandbox_cfg *sandbox, double check_timeout_s,
                    gitws_resolve_fn resolve, void *resolve_ud, char **report, char *err,
                    size_t errlen);

#endif
