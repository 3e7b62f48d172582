/* test_files.h - the test kit's file helpers: a private temp dir per test,
 * whole-file read/write, and recursive removal, so tests stop carrying their
 * own copies. Failures to set up exit(2): a test without its fixture cannot
 * prove anything. */
#ifndef SWARM_TEST_FILES_H
#define SWARM_TEST_FILES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Creates /tmp/swarm-<tag>-XXXXXX into dir (size n); exits on failure. */
__attribute__((unused)) static void test_tmpdir_make(char *dir, size_t n, const char *tag)
{
    snprintf(dir, n, "/tmp/swarm-%s-XXXXXX", tag);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(2);
    }
}

/* Removes a dir made by test_tmpdir_make (refuses anything outside /tmp/swarm-). */
__attribute__((unused)) static void test_tmpdir_remove(const char *dir)
{
    if (!dir[0] || strncmp(dir, "/tmp/swarm-", 11) != 0 || strchr(dir, '\'')) return;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
}

/* Writes text to path (truncating); exits on failure. */
__attribute__((unused)) static void test_file_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

/* The whole file as a malloc'ed NUL-terminated string (length in *len when
 * len is not NULL), or NULL when unreadable. */
__attribute__((unused)) static char *test_file_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

#endif
