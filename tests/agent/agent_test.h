/* agent_test.h - workspace fixtures for tests/agent (checks come from the test kit,
 * tests/common/check.h). */
#ifndef SWARM_AGENT_TEST_H
#define SWARM_AGENT_TEST_H

#include "../common/check.h"
#include "../common/test_files.h"
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A temporary directory holding ws/ (the workspace) and outside/. */
typedef struct {
    char base[256], ws[300], outside[300];
} test_dirs;

static inline void test_dirs_make(test_dirs *d)
{
    snprintf(d->base, sizeof d->base, "/tmp/swarm-agent-XXXXXX");
    if (!mkdtemp(d->base)) {
        perror("mkdtemp");
        exit(1);
    }
    chmod(d->base, 0755);
    snprintf(d->ws, sizeof d->ws, "%s/ws", d->base);
    snprintf(d->outside, sizeof d->outside, "%s/outside", d->base);
    mkdir(d->ws, 0755);
    mkdir(d->outside, 0755);
}

static inline void test_dirs_remove(test_dirs *d)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->base);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", d->base);
}

/* Whole file as a malloc'ed string, NULL when unreadable. */
static inline char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = 0;
    fclose(f);
    return buf;
}

#endif
