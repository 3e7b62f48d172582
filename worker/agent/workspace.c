/* workspace.c - every path an agent names is resolved beneath its workspace.
 *
 * The model's paths are untrusted: "..", absolute paths and symlinks that lead
 * outside are refused with the offending path in the message. Resolution is
 * done by the kernel in one step (openat2 + RESOLVE_BENEATH) so a symlink
 * swapped in between a check and the open cannot escape; where openat2 is
 * missing (kernels before 5.6) a component-by-component walk with O_NOFOLLOW
 * refuses every symlink instead, which is stricter but just as race-free. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct agent_ws {
    char *root;
    int dirfd;
    int use_openat2;
};

static long ws_openat2(int dirfd, const char *path, struct open_how *how)
{
#ifdef SYS_openat2
    return syscall(SYS_openat2, dirfd, path, how, sizeof *how);
#else
    (void)dirfd;
    (void)path;
    (void)how;
    errno = ENOSYS;
    return -1;
#endif
}

int agent_ws_open(const char *root, agent_ws **out, char *err, size_t errlen)
{
    *out = NULL;
    char *real = realpath(root, NULL);
    if (!real) {
        snprintf(err, errlen, "workspace '%s': %s", root, strerror(errno));
        return -1;
    }
    int fd = open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "workspace '%s': %s", real, strerror(errno));
        free(real);
        return -1;
    }
    agent_ws *ws = calloc(1, sizeof *ws);
    if (!ws) {
        close(fd);
        free(real);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ws->root = real;
    ws->dirfd = fd;
    struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_BENEATH};
    long probe = ws_openat2(fd, ".", &how);
    ws->use_openat2 = probe >= 0 || errno != ENOSYS;
    if (probe >= 0) close((int)probe);
    *out = ws;
    return 0;
}

void agent_ws_free(agent_ws *ws)
{
    if (!ws) return;
    close(ws->dirfd);
    free(ws->root);
    free(ws);
}

const char *agent_ws_root(const agent_ws *ws)
{
    return ws->root;
}

void agent_ws_use_openat2(agent_ws *ws, int on)
{
    ws->use_openat2 = on;
}

int agent_ws_check(const char *rel, char *err, size_t errlen)
{
    if (!rel || !*rel) {
        snprintf(err, errlen, "empty path; name a file relative to the workspace");
        return -EINVAL;
    }
    if (strlen(rel) >= PATH_MAX) {
        snprintf(err, errlen, "path of %zu bytes is too long", strlen(rel));
        return -ENAMETOOLONG;
    }
    if (rel[0] == '/') {
        snprintf(err, errlen,
                 "'%s': absolute paths are refused; name files relative to the workspace", rel);
        return -EPERM;
    }
    for (const char *p = rel; *p;) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            snprintf(err, errlen, "'%s': '..' is refused; paths stay inside the workspace", rel);
            return -EPERM;
        }
        p += n;
        while (*p == '/')
            p++;
    }
    return 0;
}

static int ws_errno_msg(int e, const char *rel, char *err, size_t errlen)
{
    if (e == EXDEV)
        snprintf(err, errlen, "'%s': resolves outside the workspace (through a symlink); refused",
                 rel);
    else if (e == ENOENT)
        snprintf(err, errlen, "'%s': no such file or directory in the workspace", rel);
    else if (e == ELOOP)
        snprintf(err, errlen, "'%s': a symlink that cannot be followed safely; refused", rel);
    else
        snprintf(err, errlen, "'%s': %s", rel, strerror(e));
    return -e;
}

/* The portable walk: every component opened with O_NOFOLLOW from the one
 * before, so neither a symlink nor a concurrent rename can lead outside. */
static int ws_walk(const agent_ws *ws, const char *rel, int flags, mode_t mode, int *fd, char *err,
                   size_t errlen)
{
    char *copy = strdup(rel);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int cur = -1, rc = 0;
    char *save = NULL, *comp = strtok_r(copy, "/", &save);
    char *next = comp ? strtok_r(NULL, "/", &save) : NULL;
    int base = ws->dirfd;
    while (comp && next) {
        if (strcmp(comp, ".") != 0) {
            int nfd = openat(base, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (nfd < 0) {
                int e = errno;
                struct stat st;
                if ((e == ENOTDIR || e == ELOOP) &&
                    fstatat(base, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
                    snprintf(err, errlen,
                             "'%s': component '%s' is a symlink; refused (symlinks are not "
                             "followed on this kernel: no openat2)",
                             rel, comp);
                    rc = -ELOOP;
                } else {
                    rc = ws_errno_msg(e, rel, err, errlen);
                }
                goto out;
            }
            if (cur >= 0) close(cur);
            cur = nfd;
            base = cur;
        }
        comp = next;
        next = strtok_r(NULL, "/", &save);
    }
    int f = openat(base, comp ? comp : ".", flags | O_NOFOLLOW | O_CLOEXEC, mode);
    if (f < 0) {
        int e = errno;
        if (e == ELOOP)
            snprintf(err, errlen,
                     "'%s': is a symlink; refused (symlinks are not followed on this kernel: "
                     "no openat2)",
                     rel);
        rc = e == ELOOP ? -ELOOP : ws_errno_msg(e, rel, err, errlen);
        goto out;
    }
    *fd = f;
out:
    if (cur >= 0) close(cur);
    free(copy);
    return rc;
}

int agent_ws_openat(const agent_ws *ws, const char *rel, int flags, mode_t mode, int *fd, char *err,
                    size_t errlen)
{
    *fd = -1;
    int rc = agent_ws_check(rel, err, errlen);
    if (rc) return rc;
    if (!ws->use_openat2) return ws_walk(ws, rel, flags, mode, fd, err, errlen);
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                           .mode = (flags & O_CREAT) ? mode : 0,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    /* RESOLVE_BENEATH answers EAGAIN when a rename anywhere on the system
     * raced the lookup (it cannot then prove the path stayed beneath): the
     * kernel asks callers to retry. Bounded, so a hostile renamer inside the
     * workspace gets an error instead of a livelock. */
    long f = -1;
    for (int tries = 0; tries < 256; tries++) {
        f = ws_openat2(ws->dirfd, rel, &how);
        if (f >= 0 || errno != EAGAIN) break;
    }
    if (f < 0) return ws_errno_msg(errno, rel, err, errlen);
    *fd = (int)f;
    return 0;
}

int agent_ws_read_all(const agent_ws *ws, const char *rel, size_t max, char **data, size_t *len,
                      char *err, size_t errlen)
{
    *data = NULL;
    *len = 0;
    int fd, rc = agent_ws_openat(ws, rel, O_RDONLY, 0, &fd, err, errlen);
    if (rc) return rc;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "'%s': %s", rel,
                 S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
        close(fd);
        return -EISDIR;
    }
    if ((uint64_t)st.st_size > max) {
        snprintf(err, errlen, "'%s': %lld bytes, over the %zu-byte limit", rel,
                 (long long)st.st_size, max);
        close(fd);
        return -EFBIG;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = ws_errno_msg(errno, rel, err, errlen);
            free(buf);
            close(fd);
            return rc;
        }
        if (n == 0) break; /* shrank while reading: keep what is there */
        got += (size_t)n;
    }
    close(fd);
    buf[got] = 0;
    *data = buf;
    *len = got;
    return 0;
}

/* Opens the directory part of rel (everything before the last '/'),
 * creating missing directories one at a time beneath the workspace. */
static int ws_open_parent(const agent_ws *ws, const char *rel, int *dirfd, char *err, size_t errlen)
{
    const char *slash = strrchr(rel, '/');
    if (!slash) return agent_ws_openat(ws, ".", O_PATH | O_DIRECTORY, 0, dirfd, err, errlen);
    char *dir = strndup(rel, (size_t)(slash - rel));
    if (!dir) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = agent_ws_openat(ws, dir, O_PATH | O_DIRECTORY, 0, dirfd, err, errlen);
    if (rc == -ENOENT) {
        /* Create each missing component from its (already confined) parent;
         * mkdirat never follows a symlink in its last component. */
        for (char *p = dir;; p++) {
            if (*p != '/' && *p != 0) continue;
            char save = *p;
            *p = 0;
            char *last = strrchr(dir, '/');
            int pfd;
            if (last) {
                *last = 0;
                rc = agent_ws_openat(ws, *dir ? dir : ".", O_PATH | O_DIRECTORY, 0, &pfd, err,
                                     errlen);
                *last = '/';
            } else {
                rc = agent_ws_openat(ws, ".", O_PATH | O_DIRECTORY, 0, &pfd, err, errlen);
            }
            if (rc) {
                free(dir);
                return rc;
            }
            const char *name = last ? last + 1 : dir;
            if (*name && mkdirat(pfd, name, 0755) != 0 && errno != EEXIST) {
                rc = ws_errno_msg(errno, rel, err, errlen);
                close(pfd);
                free(dir);
                return rc;
            }
            close(pfd);
            *p = save;
            if (!save) break;
        }
        rc = agent_ws_openat(ws, dir, O_PATH | O_DIRECTORY, 0, dirfd, err, errlen);
    }
    free(dir);
    return rc;
}

int agent_ws_write_atomic(const agent_ws *ws, const char *rel, const void *data, size_t len,
                          mode_t mode, char *err, size_t errlen)
{
    int rc = agent_ws_check(rel, err, errlen);
    if (rc) return rc;
    const char *slash = strrchr(rel, '/');
    const char *base = slash ? slash + 1 : rel;
    if (!*base || strcmp(base, ".") == 0) {
        snprintf(err, errlen, "'%s': names a directory, not a file", rel);
        return -EISDIR;
    }
    int dfd;
    rc = ws_open_parent(ws, rel, &dfd, err, errlen);
    if (rc) return rc;
    struct stat st;
    if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "'%s': is a directory", rel);
            close(dfd);
            return -EISDIR;
        }
        if (mode == 0 && S_ISREG(st.st_mode)) mode = st.st_mode & 07777;
    }
    if (mode == 0) mode = 0644;
    char tmp[NAME_MAX + 1];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(tmp, sizeof tmp, ".swarm-tmp-%ld-%ld", (long)getpid(), (long)ts.tv_nsec);
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        rc = ws_errno_msg(errno, rel, err, errlen);
        close(dfd);
        return rc;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = ws_errno_msg(errno, rel, err, errlen);
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    if (!rc && fchmod(fd, mode) != 0) rc = ws_errno_msg(errno, rel, err, errlen);
    close(fd);
    if (!rc && renameat(dfd, tmp, dfd, base) != 0) rc = ws_errno_msg(errno, rel, err, errlen);
    if (rc) unlinkat(dfd, tmp, 0);
    close(dfd);
    return rc;
}
