/* tools_fs.c - the file tools: read_file, write_file, edit_file, list_dir,
 * glob, grep. All paths go through workspace.c; directory walks open each
 * level with O_NOFOLLOW from the level above, so they never leave the
 * workspace through a symlink and never loop. Output is capped; a capped
 * observation says so and says how to see the rest. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "agent_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_MAX_FILE (16u << 20) /* files larger than this are not read whole */
#define GREP_MAX_FILE (8u << 20)
#define WALK_MAX_ENTRIES 100000
#define WALK_MAX_DEPTH 64
#define LIST_MAX 1000

static int looks_binary(const char *buf, size_t len)
{
    return memchr(buf, 0, len < 8192 ? len : 8192) != NULL;
}

/* ----------------------------------------------------------- read_file */

static int tool_read_file(const agent_tool *t, agent_env *env, const cJSON *args, agent_result *res)
{
    const char *path = agent_arg_str(args, "path", "");
    long offset = agent_arg_int(args, "offset", 1), limit = agent_arg_int(args, "limit", 2000);
    if (offset < 1 || limit < 1)
        return agent_res_fail(res, -EINVAL, "read_file: offset and limit must be >= 1");
    char err[512], *data;
    size_t len;
    int rc = agent_ws_read_all(env->ws, path, READ_MAX_FILE, &data, &len, err, sizeof err);
    if (rc) return agent_res_fail(res, rc, "read_file: %s", err);
    if (looks_binary(data, len)) {
        free(data);
        return agent_res_fail(res, -EINVAL, "read_file: '%s' is a binary file (%zu bytes)", path,
                              len);
    }
    agent_sbuf b;
    /* Room for the trailer that says where to continue. */
    agent_sbuf_init(&b, agent_env_cap(env) > 512 ? agent_env_cap(env) - 256 : agent_env_cap(env));
    long line = 1, shown = 0, last = 0;
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (line >= offset && shown < limit && !b.truncated) {
            size_t before = b.len;
            agent_sbuf_printf(&b, "%6ld\t", line);
            agent_sbuf_add(&b, p, n);
            agent_sbuf_add(&b, "\n", 1);
            if (b.truncated) {
                b.len = before; /* whole lines only */
                b.buf[b.len] = 0;
            } else {
                shown++;
                last = line;
            }
        }
        p += n + (nl ? 1 : 0);
        line++;
    }
    long total = line - 1;
    free(data);
    int capped = b.truncated;
    b.truncated = 0;
    b.limit = (size_t)-1;
    if (total == 0)
        agent_sbuf_printf(&b, "[%s is empty]\n", path);
    else if (offset > total)
        agent_sbuf_printf(&b, "[offset %ld is past the end: '%s' has %ld lines]\n", offset, path,
                          total);
    else if (last < total)
        agent_sbuf_printf(&b, "[%s: lines %ld-%ld of %ld shown%s; call again with offset=%ld]\n",
                          path, offset, last, total, capped ? " (byte cap reached)" : "", last + 1);
    res->truncated = capped || last < total;
    return agent_res_ok(res, agent_sbuf_take(&b));
}

/* ---------------------------------------------------------- write_file */

static int tool_write_file(const agent_tool *t, agent_env *env, const cJSON *args,
                           agent_result *res)
{
    const char *path = agent_arg_str(args, "path", "");
    const char *content = agent_arg_str(args, "content", "");
    char err[512];
    size_t len = strlen(content);
    int rc = agent_ws_write_atomic(env->ws, path, content, len, 0, err, sizeof err);
    if (rc) return agent_res_fail(res, rc, "write_file: %s", err);
    char msg[600];
    snprintf(msg, sizeof msg, "wrote %zu bytes to %s", len, path);
    return agent_res_ok(res, strdup(msg));
}

/* ----------------------------------------------------------- edit_file */

static int tool_edit_file(const agent_tool *t, agent_env *env, const cJSON *args, agent_result *res)
{
    const char *path = agent_arg_str(args, "path", "");
    const char *old = agent_arg_str(args, "old_string", "");
    const char *new = agent_arg_str(args, "new_string", "");
    size_t olen = strlen(old), nlen = strlen(new);
    if (olen == 0)
        return agent_res_fail(res, -EINVAL,
                              "edit_file: old_string is empty; give the exact text "
                              "to replace");
    char err[512], *data;
    size_t len;
    int rc = agent_ws_read_all(env->ws, path, READ_MAX_FILE, &data, &len, err, sizeof err);
    if (rc) return agent_res_fail(res, rc, "edit_file: %s", err);
    /* Overlapping occurrences count too: the edit must be unambiguous. */
    size_t count = 0;
    const char *first = NULL;
    for (const char *p = data; (size_t)(p - data) + olen <= len;) {
        const char *hit = memmem(p, len - (size_t)(p - data), old, olen);
        if (!hit) break;
        if (!first) first = hit;
        count++;
        p = hit + 1;
    }
    if (count != 1) {
        free(data);
        if (count == 0)
            return agent_res_fail(res, -ENOENT,
                                  "edit_file: old_string not found in %s; read the file and copy "
                                  "the text exactly (whitespace included)",
                                  path);
        return agent_res_fail(res, -EEXIST,
                              "edit_file: old_string occurs %zu times in %s; include more "
                              "surrounding lines so it matches exactly once",
                              count, path);
    }
    size_t pre = (size_t)(first - data), outlen = len - olen + nlen;
    char *out = malloc(outlen + 1);
    if (!out) {
        free(data);
        return agent_res_fail(res, -ENOMEM, "edit_file: out of memory");
    }
    memcpy(out, data, pre);
    memcpy(out + pre, new, nlen);
    memcpy(out + pre + nlen, first + olen, len - pre - olen);
    long line = 1;
    for (size_t i = 0; i < pre; i++)
        line += data[i] == '\n';
    free(data);
    rc = agent_ws_write_atomic(env->ws, path, out, outlen, 0, err, sizeof err);
    free(out);
    if (rc) return agent_res_fail(res, rc, "edit_file: %s", err);
    char msg[600];
    snprintf(msg, sizeof msg, "edited %s: replaced 1 occurrence at line %ld (%zu -> %zu bytes)",
             path, line, olen, nlen);
    return agent_res_ok(res, strdup(msg));
}

/* ------------------------------------------------------------ list_dir */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct {
    char **v;
    size_t n, cap;
    int oom;
} strvec;

static void strvec_push(strvec *s, char *str)
{
    if (!str) {
        s->oom = 1;
        return;
    }
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        char **nv = realloc(s->v, nc * sizeof *nv);
        if (!nv) {
            free(str);
            s->oom = 1;
            return;
        }
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = str;
}

static void strvec_free(strvec *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

static int entry_type(int dfd, struct dirent *de)
{
    if (de->d_type != DT_UNKNOWN) return de->d_type;
    struct stat st;
    if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) return DT_UNKNOWN;
    return S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : DT_REG;
}

static int tool_list_dir(const agent_tool *t, agent_env *env, const cJSON *args, agent_result *res)
{
    const char *path = agent_arg_str(args, "path", ".");
    char err[512];
    int fd, rc = agent_ws_openat(env->ws, path, O_RDONLY | O_DIRECTORY, 0, &fd, err, sizeof err);
    if (rc) return agent_res_fail(res, rc, "list_dir: %s", err);
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return agent_res_fail(res, -errno, "list_dir: '%s': %s", path, strerror(errno));
    }
    strvec names = {0};
    size_t total = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        total++;
        if (names.n >= LIST_MAX) continue;
        int type = entry_type(dirfd(d), de);
        char *s = malloc(strlen(de->d_name) + 2);
        if (s) sprintf(s, "%s%s", de->d_name, type == DT_DIR ? "/" : type == DT_LNK ? "@" : "");
        strvec_push(&names, s);
    }
    closedir(d);
    if (names.n) qsort(names.v, names.n, sizeof *names.v, cmp_str); /* v is NULL when empty */
    agent_sbuf b;
    agent_sbuf_init(&b, agent_env_cap(env));
    for (size_t i = 0; i < names.n; i++)
        agent_sbuf_printf(&b, "%s\n", names.v[i]);
    if (total == 0)
        agent_sbuf_printf(&b, "[%s is empty]\n", path);
    else if (total > names.n)
        agent_sbuf_printf(&b, "[%zu of %zu entries shown]\n", names.n, total);
    res->truncated = b.truncated || total > names.n;
    strvec_free(&names);
    return agent_res_ok(res, agent_sbuf_take(&b));
}

/* ---------------------------------------------------------- tree walk */

typedef struct walker walker;
typedef void (*walk_fn)(walker *w, int dfd, const char *name, const char *rel, int type);

struct walker {
    walk_fn fn;
    size_t visited;
    int stop, limit_hit;
    void *ud;
};

/* Depth-first, entries in name order so results are stable. */
static void walk_dir(walker *w, int dfd, const char *rel, int depth)
{
    if (depth > WALK_MAX_DEPTH || w->stop) return;
    int fd = dup(dfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0) close(fd);
        return;
    }
    strvec names = {0};
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strcmp(de->d_name, ".git") == 0)
            continue;
        strvec_push(&names, strdup(de->d_name));
    }
    closedir(d);
    qsort(names.v, names.n, sizeof *names.v, cmp_str);
    for (size_t i = 0; i < names.n && !w->stop; i++) {
        if (++w->visited > WALK_MAX_ENTRIES) {
            w->stop = w->limit_hit = 1;
            break;
        }
        struct stat st;
        if (fstatat(dfd, names.v[i], &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        int type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : DT_REG;
        size_t n = strlen(rel) + strlen(names.v[i]) + 2;
        char *child = malloc(n);
        if (!child) break;
        if (*rel)
            snprintf(child, n, "%s/%s", rel, names.v[i]);
        else
            snprintf(child, n, "%s", names.v[i]);
        w->fn(w, dfd, names.v[i], child, type);
        if (type == DT_DIR) {
            int sub = openat(dfd, names.v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) {
                walk_dir(w, sub, child, depth + 1);
                close(sub);
            }
        }
        free(child);
    }
    strvec_free(&names);
}

/* ---------------------------------------------------------------- glob */

/* Segment-wise match: "**" spans any number of directories, other segments
 * are fnmatch patterns where a leading dot must be matched explicitly. */
static int glob_match(char **pat, size_t np, char **seg, size_t ns)
{
    if (np == 0) return ns == 0;
    if (strcmp(pat[0], "**") == 0) {
        for (size_t k = 0; k <= ns; k++)
            if (glob_match(pat + 1, np - 1, seg + k, ns - k)) return 1;
        return 0;
    }
    if (ns == 0 || fnmatch(pat[0], seg[0], FNM_PERIOD) != 0) return 0;
    return glob_match(pat + 1, np - 1, seg + 1, ns - 1);
}

static size_t split_path(char *s, char **out, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(s, "/", &save); tok && n < max; tok = strtok_r(NULL, "/", &save))
        if (strcmp(tok, ".") != 0) out[n++] = tok;
    return n;
}

typedef struct {
    char *pat[WALK_MAX_DEPTH + 2];
    size_t np;
    strvec hits;
    size_t total;
} glob_state;

static void glob_visit(walker *w, int dfd, const char *name, const char *rel, int type)
{
    glob_state *g = w->ud;
    char copy[4096], *seg[WALK_MAX_DEPTH + 2];
    snprintf(copy, sizeof copy, "%s", rel);
    size_t ns = split_path(copy, seg, WALK_MAX_DEPTH + 2);
    if (!glob_match(g->pat, g->np, seg, ns)) return;
    g->total++;
    if (g->hits.n >= LIST_MAX) return;
    char *s = malloc(strlen(rel) + 2);
    if (s) sprintf(s, "%s%s", rel, type == DT_DIR ? "/" : "");
    strvec_push(&g->hits, s);
}

static int tool_glob(const agent_tool *t, agent_env *env, const cJSON *args, agent_result *res)
{
    const char *pattern = agent_arg_str(args, "pattern", "");
    char err[512];
    int rc = agent_ws_check(pattern, err, sizeof err);
    if (rc) return agent_res_fail(res, rc, "glob: %s", err);
    glob_state g;
    memset(&g, 0, sizeof g);
    char *pcopy = strdup(pattern);
    if (!pcopy) return agent_res_fail(res, -ENOMEM, "glob: out of memory");
    g.np = split_path(pcopy, g.pat, WALK_MAX_DEPTH + 2);
    int fd;
    rc = agent_ws_openat(env->ws, ".", O_RDONLY | O_DIRECTORY, 0, &fd, err, sizeof err);
    if (rc) {
        free(pcopy);
        return agent_res_fail(res, rc, "glob: %s", err);
    }
    walker w = {glob_visit, 0, 0, 0, &g};
    walk_dir(&w, fd, "", 0);
    close(fd);
    free(pcopy);
    agent_sbuf b;
    agent_sbuf_init(&b, agent_env_cap(env));
    for (size_t i = 0; i < g.hits.n; i++)
        agent_sbuf_printf(&b, "%s\n", g.hits.v[i]);
    if (g.total == 0)
        agent_sbuf_printf(&b, "[no paths match %s]\n", pattern);
    else if (g.total > g.hits.n)
        agent_sbuf_printf(&b, "[%zu of %zu matches shown]\n", g.hits.n, g.total);
    if (w.limit_hit) agent_sbuf_printf(&b, "[walk stopped after %d entries]\n", WALK_MAX_ENTRIES);
    res->truncated = b.truncated || g.total > g.hits.n || w.limit_hit;
    strvec_free(&g.hits);
    return agent_res_ok(res, agent_sbuf_take(&b));
}

/* ---------------------------------------------------------------- grep */

typedef struct {
    pcre2_code *re;
    pcre2_match_data *md;
    const char *include;
    long max, matches, files;
    agent_sbuf *out;
} grep_state;

static void grep_file(grep_state *g, int dfd, const char *name, const char *rel)
{
    if (g->matches >= g->max) return;
    if (g->include) {
        const char *base = strrchr(rel, '/');
        const char *subject = strchr(g->include, '/') ? rel : (base ? base + 1 : rel);
        if (fnmatch(g->include, subject, 0) != 0) return;
    }
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > GREP_MAX_FILE) {
        close(fd);
        return;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    ssize_t got = buf ? read(fd, buf, (size_t)st.st_size) : -1;
    close(fd);
    if (got < 0 || looks_binary(buf, (size_t)got)) {
        free(buf);
        return;
    }
    g->files++;
    long line = 1;
    for (const char *p = buf, *end = buf + got; p < end && g->matches < g->max; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        int rc = pcre2_match(g->re, (PCRE2_SPTR)p, n, 0, 0, g->md, NULL);
        if (rc >= 0) {
            size_t show = n > 300 ? 300 : n;
            agent_sbuf_printf(g->out, "%s:%ld:", rel, line);
            agent_sbuf_add(g->out, p, show);
            agent_sbuf_add(g->out, show < n ? " [...]\n" : "\n", show < n ? 7 : 1);
            g->matches++;
        }
        p += n + (nl ? 1 : 0);
    }
    free(buf);
}

static void grep_visit(walker *w, int dfd, const char *name, const char *rel, int type)
{
    grep_state *g = w->ud;
    if (type == DT_REG) grep_file(g, dfd, name, rel);
    if (g->matches >= g->max || g->out->truncated) w->stop = 1;
}

static int tool_grep(const agent_tool *t, agent_env *env, const cJSON *args, agent_result *res)
{
    const char *pattern = agent_arg_str(args, "pattern", "");
    const char *path = agent_arg_str(args, "path", ".");
    long max = agent_arg_int(args, "max_matches", 100);
    if (max < 1 || max > 1000)
        return agent_res_fail(res, -EINVAL, "grep: max_matches must be 1..1000");
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
    if (agent_arg_bool(args, "ignore_case", 0)) opts |= PCRE2_CASELESS;
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &ec, &eo, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return agent_res_fail(res, -EINVAL, "grep: bad regex at offset %zu: %s", (size_t)eo,
                              (char *)msg);
    }
    agent_sbuf b;
    agent_sbuf_init(&b, agent_env_cap(env));
    grep_state g = {re,
                    pcre2_match_data_create_from_pattern(re, NULL),
                    agent_arg_str(args, "glob", NULL),
                    max,
                    0,
                    0,
                    &b};
    char err[512];
    int fd, rc = agent_ws_openat(env->ws, path, O_RDONLY, 0, &fd, err, sizeof err);
    walker w = {grep_visit, 0, 0, 0, &g};
    if (!rc && g.md) {
        struct stat st;
        fstat(fd, &st);
        if (S_ISDIR(st.st_mode)) {
            walk_dir(&w, fd, strcmp(path, ".") == 0 ? "" : path, 0);
        } else {
            /* A single file: grep it through its already-confined fd. */
            g.include = NULL;
            char *slash = strrchr(path, '/');
            int pfd;
            if (slash) {
                char *dir = strndup(path, (size_t)(slash - path));
                rc = dir ? agent_ws_openat(env->ws, dir, O_PATH | O_DIRECTORY, 0, &pfd, err,
                                           sizeof err)
                         : -ENOMEM;
                free(dir);
            } else {
                rc = agent_ws_openat(env->ws, ".", O_PATH | O_DIRECTORY, 0, &pfd, err, sizeof err);
            }
            if (!rc) {
                grep_file(&g, pfd, slash ? slash + 1 : path, path);
                close(pfd);
            }
        }
        close(fd);
    }
    pcre2_match_data_free(g.md);
    pcre2_code_free(re);
    if (rc) {
        free(b.buf);
        return agent_res_fail(res, rc, "grep: %s", err);
    }
    if (g.matches == 0)
        agent_sbuf_printf(&b, "[no matches for /%s/ in %ld files]\n", pattern, g.files);
    else if (g.matches >= max || b.truncated || w.limit_hit)
        agent_sbuf_printf(&b, "[stopped at %ld matches; narrow the pattern or path]\n", g.matches);
    res->truncated = b.truncated || g.matches >= max || w.limit_hit;
    return agent_res_ok(res, agent_sbuf_take(&b));
}

/* ------------------------------------------------------------ register */

int agent_tools_fs_register(agent_registry *r, char *err, size_t errlen)
{
    static const struct {
        const char *name, *desc, *schema;
        agent_tool_fn fn;
        int side_effect;
    } tools[] = {
        {"read_file",
         "Read a text file of the workspace; lines are numbered. Use offset/limit (lines) for "
         "long files.",
         "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},\"offset\":{"
         "\"type\":\"integer\",\"minimum\":1},\"limit\":{\"type\":\"integer\",\"minimum\":1}},"
         "\"required\":[\"path\"],\"additionalProperties\":false}",
         tool_read_file, 0},
        {"write_file",
         "Create or overwrite a file of the workspace with the given content (parent "
         "directories are created).",
         "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},\"content\":{"
         "\"type\":\"string\"}},\"required\":[\"path\",\"content\"],\"additionalProperties\":"
         "false}",
         tool_write_file, 1},
        {"edit_file",
         "Replace the exact text old_string by new_string in a file; old_string must occur "
         "exactly once.",
         "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},\"old_string\":{"
         "\"type\":\"string\"},\"new_string\":{\"type\":\"string\"}},\"required\":[\"path\","
         "\"old_string\",\"new_string\"],\"additionalProperties\":false}",
         tool_edit_file, 1},
        {"list_dir", "List a directory of the workspace (directories end in /, symlinks in @).",
         "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"}},"
         "\"additionalProperties\":false}",
         tool_list_dir, 0},
        {"glob", "Find workspace paths matching a pattern such as src/**/*.c.",
         "{\"type\":\"object\",\"properties\":{\"pattern\":{\"type\":\"string\"}},\"required\":["
         "\"pattern\"],\"additionalProperties\":false}",
         tool_glob, 0},
        {"grep", "Search file contents with a regular expression (PCRE2); prints file:line:text.",
         "{\"type\":\"object\",\"properties\":{\"pattern\":{\"type\":\"string\"},\"path\":{"
         "\"type\":\"string\"},\"glob\":{\"type\":\"string\"},\"ignore_case\":{\"type\":"
         "\"boolean\"},\"max_matches\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000}},"
         "\"required\":[\"pattern\"],\"additionalProperties\":false}",
         tool_grep, 0},
    };
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        int rc = agent_registry_add(r, tools[i].name, tools[i].desc, tools[i].schema, tools[i].fn,
                                    NULL, tools[i].side_effect, err, errlen);
        if (rc) return rc;
    }
    return 0;
}
