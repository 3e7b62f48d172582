/* zmtp.c - a ZMTP 3.0 DEALER peer over a unix socket, for the CLI (zmtp.h).
 *
 * Wire format (RFC 23/ZMTP): a 64-byte greeting each way (signature FF ..
 * 7F, version 3.0, mechanism "NULL", as-server 0), then a READY command each
 * way (properties Socket-Type and Identity), then frames: a flags byte (bit 0
 * MORE, bit 1 LONG, bit 2 COMMAND), a 1-byte or, when LONG, 8-byte
 * big-endian size, the body. Our greeting and READY go out as soon as the
 * socket connects (cli_client_open: the peer's answer comes while the CLI
 * reads the job file); the first message waits for the peer's READY, since
 * libzmq drops a connection whose first message arrives before it has sent
 * its own READY. */
#include "zmtp.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "swarm_clock.h"

#define ZMTP_GREETING 64
#define ZMTP_MORE 0x01
#define ZMTP_LONG 0x02
#define ZMTP_COMMAND 0x04
#define ZMTP_RETRY_MS 50 /* between connect attempts while swarmd is not there */

int cli_zmtp_init(cli_zmtp *z, const char *endpoint, char *err, size_t errlen)
{
    memset(z, 0, sizeof *z);
    z->fd = -1;
    const char *p = strncmp(endpoint, "ipc://", 6) == 0 ? endpoint + 6 : NULL;
    struct sockaddr_un sa;
    if (!p || !*p || strlen(p) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "%s: not an ipc:// path that fits a unix socket address (%zu bytes)",
                 endpoint, sizeof sa.sun_path - 1);
        return -1;
    }
    snprintf(z->path, sizeof z->path, "%s", p);
    return 0;
}

void cli_zmtp_reset(cli_zmtp *z)
{
    if (z->fd >= 0) close(z->fd);
    z->fd = -1;
    z->handshaken = false;
    z->in_len = 0;
}

void cli_zmtp_close(cli_zmtp *z)
{
    cli_zmtp_reset(z);
    free(z->in);
    z->in = NULL;
    z->in_cap = 0;
}

static int zmtp_wait(int fd, short ev, uint64_t deadline_ms)
{
    uint64_t now = swarm_clock_ms();
    if (now >= deadline_ms) return 0;
    struct pollfd p = {.fd = fd, .events = ev};
    int r = poll(&p, 1, (int)(deadline_ms - now));
    if (r < 0 && errno == EINTR) return 0;
    return r;
}

/* Write all of buf (the socket is non-blocking): 0, or -1 with err. */
static int zmtp_write(cli_zmtp *z, const void *buf, size_t len, uint64_t deadline_ms, char *err,
                      size_t errlen)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = send(z->fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (zmtp_wait(z->fd, POLLOUT, deadline_ms) > 0) continue;
            if (swarm_clock_ms() < deadline_ms) continue; /* a signal: go on */
            snprintf(err, errlen, "swarmd at ipc://%s does not take the request", z->path);
            return -1;
        }
        snprintf(err, errlen, "send to swarmd at ipc://%s: %s", z->path,
                 n < 0 ? strerror(errno) : "nothing written");
        return -1;
    }
    return 0;
}

static void zmtp_put_prop(uint8_t **p, const char *name, const char *value)
{
    size_t n = strlen(name), v = strlen(value);
    *(*p)++ = (uint8_t)n;
    memcpy(*p, name, n);
    *p += n;
    for (int i = 3; i >= 0; i--)
        *(*p)++ = (uint8_t)(v >> (8 * i));
    memcpy(*p, value, v);
    *p += v;
}

/* Connect and send our half of the handshake; retried until deadline while
 * the socket is missing or refuses (swarmd starting or restarting). */
static int zmtp_connect(cli_zmtp *z, uint64_t deadline_ms, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, z->path, strlen(z->path) + 1);
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            snprintf(err, errlen, "socket: %s", strerror(errno));
            return -1;
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
            z->fd = fd;
            break;
        }
        int e = errno;
        close(fd);
        if (e != ENOENT && e != ECONNREFUSED && e != EAGAIN && e != EINTR) {
            snprintf(err, errlen, "connect to swarmd at ipc://%s: %s", z->path, strerror(e));
            return -1;
        }
        uint64_t now = swarm_clock_ms();
        if (now >= deadline_ms) {
            snprintf(err, errlen, "no swarmd listening at ipc://%s (%s)", z->path, strerror(e));
            return -1;
        }
        uint64_t nap = deadline_ms - now < ZMTP_RETRY_MS ? deadline_ms - now : ZMTP_RETRY_MS;
        struct timespec ts = {0, (long)nap * 1000000L};
        nanosleep(&ts, NULL);
    }
    uint8_t hello[ZMTP_GREETING + 64] = {0}, *p = hello;
    p[0] = 0xFF;
    p[9] = 0x7F;
    p[10] = 3; /* version 3.0 */
    p[11] = 0;
    memcpy(p + 12, "NULL", 4); /* mechanism, zero-padded to 20; as-server 0; filler */
    p += ZMTP_GREETING;
    uint8_t *cmd = p + 2;
    uint8_t *q = cmd;
    *q++ = 5;
    memcpy(q, "READY", 5);
    q += 5;
    zmtp_put_prop(&q, "Socket-Type", "DEALER");
    zmtp_put_prop(&q, "Identity", "");
    p[0] = ZMTP_COMMAND;
    p[1] = (uint8_t)(q - cmd);
    z->handshaken = false;
    z->in_len = 0;
    if (zmtp_write(z, hello, (size_t)(q - hello), deadline_ms, err, errlen) != 0) {
        cli_zmtp_reset(z);
        return -1;
    }
    return 0;
}

static int zmtp_handshake(cli_zmtp *z, char *err, size_t errlen);
static int zmtp_fill(cli_zmtp *z, uint64_t deadline_ms, char *err, size_t errlen);

int cli_zmtp_connect(cli_zmtp *z, uint64_t deadline_ms, char *err, size_t errlen)
{
    return z->fd >= 0 ? 0 : zmtp_connect(z, deadline_ms, err, errlen);
}

int cli_zmtp_ready(cli_zmtp *z, uint64_t deadline_ms, char *err, size_t errlen)
{
    if (z->fd < 0 && zmtp_connect(z, deadline_ms, err, errlen) != 0) return -1;
    while (!z->handshaken) {
        int r = zmtp_handshake(z, err, errlen);
        if (r > 0) break;
        int f = r < 0 ? -1 : zmtp_fill(z, deadline_ms, err, errlen);
        if (f < 0) {
            cli_zmtp_reset(z);
            return -1;
        }
        if (f > 0 && swarm_clock_ms() >= deadline_ms) {
            snprintf(err, errlen, "swarmd at ipc://%s did not finish the handshake", z->path);
            cli_zmtp_reset(z);
            return -1;
        }
    }
    return 0;
}

int cli_zmtp_send(cli_zmtp *z, const void *buf, size_t len, uint64_t deadline_ms, char *err,
                  size_t errlen)
{
    if (cli_zmtp_ready(z, deadline_ms, err, errlen) != 0) return -1;
    uint8_t head[9];
    size_t hl;
    if (len <= 255) {
        head[0] = 0;
        head[1] = (uint8_t)len;
        hl = 2;
    } else {
        head[0] = ZMTP_LONG;
        for (int i = 0; i < 8; i++)
            head[1 + i] = (uint8_t)((uint64_t)len >> (8 * (7 - i)));
        hl = 9;
    }
    if (zmtp_write(z, head, hl, deadline_ms, err, errlen) != 0 ||
        zmtp_write(z, buf, len, deadline_ms, err, errlen) != 0) {
        cli_zmtp_reset(z);
        return -1;
    }
    return 0;
}

/* Read what is there into z->in: 0 got bytes, 1 timeout/signal, -1 closed. */
static int zmtp_fill(cli_zmtp *z, uint64_t deadline_ms, char *err, size_t errlen)
{
    if (z->in_cap - z->in_len < 65536) {
        size_t cap = z->in_cap ? z->in_cap * 2 : 131072;
        while (cap - z->in_len < 65536)
            cap *= 2;
        uint8_t *n = realloc(z->in, cap);
        if (!n) {
            snprintf(err, errlen, "out of memory reading a reply");
            return -1;
        }
        z->in = n;
        z->in_cap = cap;
    }
    for (;;) {
        ssize_t n = read(z->fd, z->in + z->in_len, z->in_cap - z->in_len);
        if (n > 0) {
            z->in_len += (size_t)n;
            return 0;
        }
        if (n == 0) {
            snprintf(err, errlen, "swarmd at ipc://%s closed the connection", z->path);
            return -1;
        }
        if (errno == EINTR) return 1;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            snprintf(err, errlen, "read from swarmd at ipc://%s: %s", z->path, strerror(errno));
            return -1;
        }
        if (zmtp_wait(z->fd, POLLIN, deadline_ms) <= 0) return 1;
    }
}

/* One whole frame at the head of z->in: 1 (flags, body, total bytes it
 * takes), 0 when more bytes are needed, -1 when it is larger than max_len. */
static int zmtp_frame(const cli_zmtp *z, size_t max_len, uint8_t *flags, const uint8_t **body,
                      size_t *body_len, size_t *used)
{
    if (z->in_len < 2) return 0;
    *flags = z->in[0];
    size_t hl = (*flags & ZMTP_LONG) ? 9 : 2;
    if (z->in_len < hl) return 0;
    uint64_t n = 0;
    if (*flags & ZMTP_LONG)
        for (int i = 0; i < 8; i++)
            n = (n << 8) | z->in[1 + i];
    else
        n = z->in[1];
    if (n > max_len) return -1;
    if (z->in_len - hl < n) return 0;
    *body = z->in + hl;
    *body_len = (size_t)n;
    *used = hl + (size_t)n;
    return 1;
}

static void zmtp_consume(cli_zmtp *z, size_t n)
{
    memmove(z->in, z->in + n, z->in_len - n);
    z->in_len -= n;
}

/* The peer's greeting and READY, from z->in: 1 done, 0 need more, -1 bad. */
static int zmtp_handshake(cli_zmtp *z, char *err, size_t errlen)
{
    if (z->in_len < ZMTP_GREETING) return 0;
    const uint8_t *g = z->in;
    if (g[0] != 0xFF || g[9] != 0x7F || g[10] < 3 || memcmp(g + 12, "NULL", 5) != 0) {
        snprintf(err, errlen,
                 "ipc://%s does not answer as a swarmd client endpoint (ZMTP 3, NULL security)",
                 z->path);
        return -1;
    }
    uint8_t flags;
    const uint8_t *body;
    size_t blen, used;
    /* the READY frame starts after the greeting: look at it there */
    cli_zmtp shifted = *z;
    shifted.in = z->in + ZMTP_GREETING;
    shifted.in_len = z->in_len - ZMTP_GREETING;
    int r = zmtp_frame(&shifted, 65536, &flags, &body, &blen, &used);
    if (r == 0) return 0;
    if (r < 0 || !(flags & ZMTP_COMMAND) || blen < 1 || body[0] + 1u > blen) {
        snprintf(err, errlen, "swarmd at ipc://%s sent a bad handshake", z->path);
        return -1;
    }
    if (body[0] == 5 && memcmp(body + 1, "ERROR", 5) == 0) {
        int rl = blen > 6 ? body[6] : 0;
        if (rl > (int)blen - 7) rl = (int)blen - 7;
        snprintf(err, errlen, "swarmd at ipc://%s refused the connection: %.*s", z->path,
                 rl > 0 ? rl : 0, (const char *)body + 7);
        return -1;
    }
    if (body[0] != 5 || memcmp(body + 1, "READY", 5) != 0) {
        snprintf(err, errlen, "swarmd at ipc://%s sent %.*s, not READY", z->path, body[0],
                 (const char *)body + 1);
        return -1;
    }
    zmtp_consume(z, ZMTP_GREETING + used);
    z->handshaken = true;
    return 1;
}

int cli_zmtp_recv(cli_zmtp *z, uint64_t deadline_ms, size_t max_len, uint8_t **out, size_t *len,
                  char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    if (z->fd < 0) {
        snprintf(err, errlen, "not connected to swarmd at ipc://%s", z->path);
        return -1;
    }
    int frames = 0;
    for (;;) {
        int r;
        if (!z->handshaken) {
            r = zmtp_handshake(z, err, errlen);
            if (r < 0) goto bad;
        } else {
            uint8_t flags;
            const uint8_t *body;
            size_t blen, used;
            r = zmtp_frame(z, max_len, &flags, &body, &blen, &used);
            if (r < 0) {
                snprintf(err, errlen, "swarmd at ipc://%s sent a frame over %zu bytes", z->path,
                         max_len);
                goto bad;
            }
            if (r > 0) {
                if (flags & ZMTP_COMMAND) { /* PING and the like: nothing we must answer */
                    zmtp_consume(z, used);
                    continue;
                }
                frames++;
                if (frames == 1 && !(flags & ZMTP_MORE)) {
                    *out = malloc(blen ? blen : 1);
                    if (!*out) {
                        snprintf(err, errlen, "out of memory for a %zu-byte reply", blen);
                        goto bad;
                    }
                    memcpy(*out, body, blen);
                    *len = blen;
                    zmtp_consume(z, used);
                    return 0;
                }
                zmtp_consume(z, used);
                if (!(flags & ZMTP_MORE)) {
                    snprintf(err, errlen, "reply has %d frames, expected 1", frames);
                    return -2;
                }
                continue;
            }
        }
        if (r > 0) continue; /* handshake done: frames may already be there */
        int f = zmtp_fill(z, deadline_ms, err, errlen);
        if (f < 0) goto bad;
        if (f > 0 && swarm_clock_ms() >= deadline_ms) return 1;
    }
bad:
    cli_zmtp_reset(z);
    return -1;
}
