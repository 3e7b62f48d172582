/* redis_fixture.h - start a private redis-server on a unix socket in a temp
 * dir for a test, and stop it. Part of the test kit (tests/common); any test
 * that needs a real Redis includes it. */
#ifndef SWARM_TEST_REDIS_FIXTURE_H
#define SWARM_TEST_REDIS_FIXTURE_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

typedef struct redis_fixture {
    char dir[256];
    char sock[300];
    char addr[310]; /* "unix:<sock>" */
    pid_t pid;
} redis_fixture;

static void fixture_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Starts redis-server in fx->dir (created if dir is empty). 0 or -1. */
static int redis_fixture_start(redis_fixture *fx)
{
    if (!fx->dir[0]) {
        snprintf(fx->dir, sizeof fx->dir, "/tmp/swarm-test-XXXXXX");
        if (!mkdtemp(fx->dir)) {
            perror("mkdtemp");
            return -1;
        }
    }
    snprintf(fx->sock, sizeof fx->sock, "%s/r.sock", fx->dir);
    snprintf(fx->addr, sizeof fx->addr, "unix:%s", fx->sock);
    unlink(fx->sock);
    fx->pid = fork();
    if (fx->pid < 0) return -1;
    if (fx->pid == 0) {
        char log[300];
        snprintf(log, sizeof log, "%s/redis.log", fx->dir);
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", fx->sock, "--save",
               "", "--appendonly", "no", "--daemonize", "no", "--dir", fx->dir, "--logfile", log,
               (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        redisContext *c = redisConnectUnix(fx->sock);
        if (c && !c->err) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r && r->type == REDIS_REPLY_STATUS;
            freeReplyObject(r);
            redisFree(c);
            if (ok) return 0;
        } else if (c) {
            redisFree(c);
        }
        int st;
        if (waitpid(fx->pid, &st, WNOHANG) == fx->pid) {
            fprintf(stderr, "redis-server exited early (is it installed?)\n");
            fx->pid = 0;
            return -1;
        }
        fixture_sleep_ms(10);
    }
    fprintf(stderr, "redis-server did not come up on %s\n", fx->sock);
    return -1;
}

static void redis_fixture_stop(redis_fixture *fx)
{
    if (fx->pid > 0) {
        kill(fx->pid, SIGKILL);
        waitpid(fx->pid, NULL, 0);
        fx->pid = 0;
    }
}

/* Stops redis and removes its files and the dir. */
static void redis_fixture_cleanup(redis_fixture *fx)
{
    redis_fixture_stop(fx);
    char cmd[400];
    if (fx->dir[0] && strncmp(fx->dir, "/tmp/swarm-test-", 16) == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", fx->dir);
    }
}

#endif
