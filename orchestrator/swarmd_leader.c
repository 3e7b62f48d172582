/* swarmd_leader.c - one active coordinator per Redis: a leader lease.
 *
 * Every swarmd takes the lease (P leader, a TTL of --leader-ttl-ms) before it
 * binds its endpoints; a second swarmd on the same Redis is a standby that
 * waits here until the lease is free, so it takes over within about one TTL
 * of the active one dying (kill -9 included), on the same endpoints, which
 * workers and clients reconnect to. The active one renews the lease from its
 * tick and stops if it ever finds another holder, so two coordinators never
 * dispatch at once. A plain blocking hiredis connection is enough while
 * waiting: there is nothing else to serve. */
#include "swarmd.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

static redisContext *leader_connect(const swarmd *d)
{
    const char *r = d->cfg.redis;
    struct timeval tv = {1, 0};
    if (strncmp(r, "unix:", 5) == 0) return redisConnectUnixWithTimeout(r + 5, tv);
    const char *colon = strrchr(r, ':');
    if (!colon) return NULL;
    char host[256];
    snprintf(host, sizeof host, "%.*s", (int)(colon - r), r);
    return redisConnectWithTimeout(host, atoi(colon + 1), tv);
}

static void leader_key(const swarmd *d, char *key, size_t len)
{
    snprintf(key, len, "%sleader", d->cfg.prefix);
}

int swarmd_leader_acquire(swarmd *d)
{
    char host[128] = "?", key[256];
    gethostname(host, sizeof host - 1);
    uint64_t rnd = sched_token_new();
    snprintf(d->leader_id, sizeof d->leader_id, "%s:%d:%016llx", host, (int)getpid(),
             (unsigned long long)rnd);
    leader_key(d, key, sizeof key);
    char holder[160] = "";
    for (;;) {
        redisContext *c = leader_connect(d);
        if (c && !c->err) {
            redisReply *rep = redisCommand(c, "SET %s %s NX PX %llu", key, d->leader_id,
                                           (unsigned long long)d->cfg.leader_ttl_ms);
            bool got = rep && rep->type == REDIS_REPLY_STATUS;
            freeReplyObject(rep);
            if (!got) {
                rep = redisCommand(c, "GET %s", key);
                if (rep && rep->type == REDIS_REPLY_STRING && strcmp(holder, rep->str) != 0) {
                    snprintf(holder, sizeof holder, "%s", rep->str);
                    swarmd_log(d, "standby: coordinator %s holds the leader lease; waiting",
                               holder);
                }
                freeReplyObject(rep);
            }
            redisFree(c);
            if (got) {
                swarmd_log(d, "leader lease taken (%s, ttl %llu ms)", d->leader_id,
                           (unsigned long long)d->cfg.leader_ttl_ms);
                return 0;
            }
        } else if (c) {
            redisFree(c);
        }
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void leader_renewed(void *ud, int rc, const char *err, long long held)
{
    swarmd *d = ud;
    if (rc != 0) return; /* Redis down: the lease may lapse; the next renewal tells */
    if (held == 0 && !d->stopping) {
        swarmd_log(d, "another coordinator took the leader lease: stopping");
        swarmd_request_stop(d, "lost the leader lease");
    }
}

void swarmd_leader_renew(swarmd *d)
{
    char err[256];
    if (!d->leader_id[0] || !d->sched || !sched_is_up(d->sched)) return;
    if (sched_leader_renew(d->sched, d->leader_id, d->cfg.leader_ttl_ms, leader_renewed, d, err,
                           sizeof err) != 0)
        d->counters[SWARMD_C_REDIS_ERRORS]++;
}

void swarmd_leader_release(swarmd *d)
{
    if (!d->leader_id[0]) return;
    char key[256];
    leader_key(d, key, sizeof key);
    redisContext *c = leader_connect(d);
    if (c && !c->err) {
        /* only our own lease: a standby may already hold the key */
        redisReply *rep = redisCommand(
            c, "EVAL %s 1 %s %s",
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
            "return 0",
            key, d->leader_id);
        freeReplyObject(rep);
    }
    if (c) redisFree(c);
    d->leader_id[0] = 0;
}
