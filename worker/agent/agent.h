/* agent.h - the tools a sub-task agent may call, confined to its workspace.
 *
 * This is the library the agent loop (issue 8) drives; it needs neither the
 * engine's grammar support nor the scheduler, so it stands alone:
 *
 *   workspace  paths the model names are relative to the job's workspace and
 *              resolved beneath it (openat2 RESOLVE_BENEATH; a no-symlink walk
 *              where the kernel lacks openat2); "..", absolute paths and
 *              symlinks leading outside are refused with the path named.
 *   registry   tools by name: description, JSON Schema of the arguments (fed
 *              to the grammar engine and the chat template) and an execute
 *              function taking JSON arguments and returning an observation.
 *              A job's allowed-tool list filters it; MCP servers add theirs.
 *   journal    side-effect tools record (step, tool, args digest) so a resumed
 *              agent does not replay them.
 *   sandbox    `run` executes inside bubblewrap + seccomp + rlimits with no
 *              network, a wall-clock timeout and an output cap.
 *   audit      one record per tool call, serialized to JSON.
 *
 * Every function returns 0 on success or a negative status and fills err
 * with a message the user (or the model, for tool failures) can act on. */
#ifndef SWARM_AGENT_H
#define SWARM_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

/* ---------------------------------------------------------------- digest */

/* SHA-256 of buf[0..len) as 64 lowercase hex digits + NUL. */
void agent_sha256_hex(const void *buf, size_t len, char hex[65]);

/* Canonical JSON (object keys sorted, no whitespace) so that equal arguments
 * give equal digests whatever order the model wrote the keys in; malloc'ed. */
char *agent_json_canonical(const cJSON *v);

/* ------------------------------------------------------------- workspace */

typedef struct agent_ws agent_ws;

/* root must be an existing directory; it is held open for the lifetime. */
int agent_ws_open(const char *root, agent_ws **out, char *err, size_t errlen);
void agent_ws_free(agent_ws *ws);
const char *agent_ws_root(const agent_ws *ws);
/* Tests force the portable no-symlink walk used where openat2 is missing. */
void agent_ws_use_openat2(agent_ws *ws, int on);

/* Lexical check: non-empty, relative, no ".." component, no NUL. */
int agent_ws_check(const char *rel, char *err, size_t errlen);
/* openat(2) beneath the workspace: flags/mode as openat; symlinks are
 * followed only while they stay inside (never in the portable walk). */
int agent_ws_openat(const agent_ws *ws, const char *rel, int flags, mode_t mode, int *fd, char *err,
                    size_t errlen);
/* Whole file, at most max bytes (more is an error naming the size). */
int agent_ws_read_all(const agent_ws *ws, const char *rel, size_t max, char **data, size_t *len,
                      char *err, size_t errlen);
/* Write through a temporary file and rename, creating missing parent
 * directories; a symlink at rel is replaced, never followed. mode 0 keeps an
 * existing file's mode (0644 for a new one). */
int agent_ws_write_atomic(const agent_ws *ws, const char *rel, const void *data, size_t len,
                          mode_t mode, char *err, size_t errlen);

/* --------------------------------------------------------------- sandbox */

typedef struct {
    const char *bwrap_path; /* NULL: "bwrap" searched in PATH */
    int allow_unsandboxed;  /* without bwrap, run plainly instead of refusing */
    int force_unsandboxed;  /* run plainly even when bwrap exists (tests, opt-in jobs) */
    double timeout_s;       /* wall clock; the whole process group is killed */
    uint64_t cpu_s;         /* RLIMIT_CPU */
    uint64_t as_bytes;      /* RLIMIT_AS */
    uint64_t nproc;         /* RLIMIT_NPROC (not enforced by Linux for uid 0: see run_uid) */
    uint64_t fsize_bytes;   /* RLIMIT_FSIZE */
    size_t output_cap;      /* stdout+stderr bytes kept */
    long run_uid, run_gid;  /* >= 0 and caller is root: drop to them before bwrap */
} agent_sandbox_cfg;

typedef struct {
    char *output; /* malloc'ed stdout+stderr interleaved, at most output_cap bytes */
    size_t output_len;
    int truncated;   /* more output was produced and dropped */
    int exit_code;   /* -1 when killed by a signal */
    int term_signal; /* 0 unless killed */
    int timed_out;   /* killed at the wall-clock timeout */
    int sandboxed;   /* 1 bwrap, 0 explicitly unsandboxed */
    int64_t duration_ms;
} agent_run_result;

void agent_sandbox_cfg_default(agent_sandbox_cfg *cfg);
/* "bwrap", "unsandboxed" (explicit) or "refused" (no bwrap, no opt-in): what
 * `swarm status` shows for a job's run tool. */
const char *agent_sandbox_mode(const agent_sandbox_cfg *cfg);
/* Runs `/bin/sh -c command` with cwd = workspace root. A non-zero exit or a
 * kill is reported in *res, not as an error; errors are setup failures. */
int agent_sandbox_run(const agent_sandbox_cfg *cfg, const char *workspace, const char *command,
                      double timeout_s, agent_run_result *res, char *err, size_t errlen);
void agent_run_result_free(agent_run_result *res);

/* ----------------------------------------------- notes and spawn (seams) */

/* Job-wide memory: swarmd backs it by Redis later; agent_notes_mem_new()
 * gives an in-memory one for tests and single-process runs. */
typedef struct {
    void *ctx;
    int (*append)(void *ctx, const char *author, const char *tag, const char *text, char *err,
                  size_t errlen);
    /* *out: malloc'ed notes (tag NULL = all), oldest first, one per block. */
    int (*read)(void *ctx, const char *tag, char **out, char *err, size_t errlen);
} agent_notes;

int agent_notes_mem_new(agent_notes *notes);
void agent_notes_mem_free(agent_notes *notes);

/* Children through the scheduler: args are the spawn tool's arguments; a
 * budget refusal comes back negative with the reason in err. */
typedef struct {
    void *ctx;
    int (*spawn)(void *ctx, const char *parent_task, const cJSON *args, char **child_id, char *err,
                 size_t errlen);
} agent_spawner;

/* --------------------------------------------------------------- journal */

typedef struct agent_journal agent_journal;

typedef struct {
    char key[160]; /* "<step>:<tool>:<sha256 of canonical args>" */
    int status;
    char *observation;
} agent_journal_entry;

int agent_journal_new(agent_journal **out);
void agent_journal_free(agent_journal *j);
void agent_journal_key(uint32_t step, const char *tool, const cJSON *args, char key[160]);
const agent_journal_entry *agent_journal_find(const agent_journal *j, const char *key);
int agent_journal_record(agent_journal *j, const char *key, int status, const char *observation,
                         char *err, size_t errlen);
/* The status of an intent: the tool was about to run when the journal was
 * saved. A resumed agent finding it does not know whether the side effect
 * happened, so the call is not run again and the model is told to check. */
#define AGENT_JOURNAL_PENDING (-100000)
/* Replaces the outcome of a key already recorded (an intent, once it ran). */
int agent_journal_set(agent_journal *j, const char *key, int status, const char *observation,
                      char *err, size_t errlen);
/* Checkpoint form: a JSON array of {key, status, observation}; malloc'ed. */
char *agent_journal_to_json(const agent_journal *j);
int agent_journal_from_json(agent_journal *j, const char *text, char *err, size_t errlen);

/* ----------------------------------------------------------------- audit */

typedef struct {
    char job_id[64], task_id[64], agent_id[64];
    char tool[96];
    char args_sha256[65];
    uint32_t step;
    int status;         /* 0 ok, negative: the tool failed */
    int exit_code;      /* run: the command's exit code; -1 killed; 0 otherwise */
    int term_signal;    /* run: the killing signal */
    int replayed;       /* journal hit: not executed again */
    int truncated;      /* observation or output capped */
    int sandboxed;      /* run: 1 bwrap, 0 unsandboxed; -1 not applicable */
    int64_t started_ms; /* unix epoch */
    int64_t duration_ms;
    size_t bytes_in;  /* argument JSON */
    size_t bytes_out; /* observation */
} agent_audit;

int agent_audit_to_json(const agent_audit *a, char **out, char *err, size_t errlen);

/* -------------------------------------------------------- tools/registry */

typedef struct agent_tool agent_tool;

/* What one tool call runs against; owned by the agent loop. */
typedef struct {
    agent_ws *ws;
    const agent_sandbox_cfg *sandbox;
    agent_notes *notes;     /* NULL: note/read_notes fail clearly */
    agent_spawner *spawner; /* NULL: spawn fails clearly */
    agent_journal *journal; /* NULL: no replay protection */
    const char *job_id, *task_id, *agent_id;
    size_t observation_cap; /* bytes of observation kept (0: 64 KiB) */
    /* Called before a side-effect tool runs, the journal already holding its
     * key as AGENT_JOURNAL_PENDING: returns 0 once that journal is durable
     * (the checkpoint stored), so a worker lost while the tool runs leaves
     * an intent behind, never a silent gap. Non-zero: the tool is not run
     * (err says why). NULL: no intent is recorded. */
    int (*intent)(void *ud, const char *key, char *err, size_t errlen);
    void *intent_ud;
} agent_env;

typedef struct {
    char *observation; /* malloc'ed; holds the error text when status < 0 */
    int status;
    int exit_code, term_signal, truncated, replayed, sandboxed;
} agent_result;

typedef int (*agent_tool_fn)(const agent_tool *tool, agent_env *env, const cJSON *args,
                             agent_result *res);

struct agent_tool {
    char *name;
    char *description;
    cJSON *schema; /* JSON Schema of the arguments object */
    agent_tool_fn execute;
    void *udata;
    int side_effect; /* journaled: a resumed agent does not replay it */
};

typedef struct agent_registry agent_registry;

int agent_registry_new(agent_registry **out);
void agent_registry_free(agent_registry *r);
int agent_registry_add(agent_registry *r, const char *name, const char *description,
                       const char *schema_json, agent_tool_fn fn, void *udata, int side_effect,
                       char *err, size_t errlen);
/* read_file write_file edit_file list_dir glob grep run note read_notes spawn */
int agent_registry_add_builtins(agent_registry *r, char *err, size_t errlen);
size_t agent_registry_count(const agent_registry *r);
const agent_tool *agent_registry_at(const agent_registry *r, size_t i);
const agent_tool *agent_registry_find(const agent_registry *r, const char *name);
/* Keeps only the allowed tools ("fs__*" allows every tool of server fs); an
 * allowed name matching nothing is an error (a typo in a job file). */
int agent_registry_filter(agent_registry *r, const char *const *allowed, size_t n, char *err,
                          size_t errlen);
/* [{"name","description","parameters"}...] for the chat template; malloc'ed. */
char *agent_registry_tools_json(const agent_registry *r);
/* Parses args_json, checks it against the tool's schema (required keys,
 * property types, no unknown keys), consults the journal for side-effect
 * tools, executes, and fills the audit record. Returns res->status. */
int agent_registry_call(agent_registry *r, agent_env *env, const char *name, const char *args_json,
                        uint32_t step, agent_result *res, agent_audit *audit);
void agent_result_free(agent_result *res);

/* ------------------------------------------------------------ MCP client */

typedef struct agent_mcp agent_mcp;

/* Starts argv[0] (PATH searched) with stdio pipes, runs initialize +
 * notifications/initialized and tools/list. timeout_s bounds every request. */
int agent_mcp_start(const char *server_name, char *const argv[], double timeout_s,
                    const char *stderr_path, agent_mcp **out, char *err, size_t errlen);
void agent_mcp_free(agent_mcp *m);
pid_t agent_mcp_pid(const agent_mcp *m);
/* The server's tools as listed by tools/list (a JSON array, borrowed). */
const cJSON *agent_mcp_tools(const agent_mcp *m);
/* tools/call; *text: the text content joined; *is_error from the result. */
int agent_mcp_call(agent_mcp *m, const char *tool, const cJSON *args, char **text, int *is_error,
                   char *err, size_t errlen);
/* Adds every server tool as "<server>__<tool>" (the MCP object stays owned
 * by the caller and must outlive the registry's use). */
int agent_mcp_register(agent_mcp *m, agent_registry *r, char *err, size_t errlen);

#endif
