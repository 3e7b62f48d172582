/* wire.c - framing for swarm's ZeroMQ sockets (see wire.h for the contract).
 *
 * A body is one packed swarm.Envelope. ROUTER sockets carry [identity][body];
 * DEALER sockets carry [body]. Anything else is a framing error: the whole
 * multi-part message is consumed so the next receive starts on a message
 * boundary, and the caller gets -WIRE_E_* plus a one-line reason. */
#include "wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

static void wire_err_set(char *err, size_t errlen, const char *fmt, const char *detail)
{
    if (err && errlen) snprintf(err, errlen, fmt, detail ? detail : "");
}

int wire_socket_setup(void *sock, bool router)
{
    int64_t maxmsg = WIRE_MAX_MSG;
    /* A short linger: replies to a vanished peer must not hold up shutdown. */
    int linger = 200;
    if (zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0) return -1;
    if (zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) != 0) return -1;
    if (router) {
        int on = 1;
        if (zmq_setsockopt(sock, ZMQ_ROUTER_MANDATORY, &on, sizeof on) != 0) return -1;
        /* A peer that reconnects with the same routing id (a restarted
         * worker with --id) replaces its stale connection. */
        if (zmq_setsockopt(sock, ZMQ_ROUTER_HANDOVER, &on, sizeof on) != 0) return -1;
    }
    return 0;
}

void wire_envelope_stamp(Swarm__Envelope *env, const char *sender, uint64_t correlation_id)
{
    env->version = WIRE_VERSION;
    /* protobuf-c packs string fields by pointer; "" is its empty default. */
    env->sender = (char *)(sender ? sender : "");
    env->correlation_id = correlation_id;
}

void wire_envelope_init(Swarm__Envelope *env, const char *sender, uint64_t correlation_id)
{
    swarm__envelope__init(env);
    wire_envelope_stamp(env, sender, correlation_id);
}

int wire_send(void *sock, const void *id, size_t id_len, const Swarm__Envelope *env, int flags,
              char *err, size_t errlen)
{
    size_t len = protobuf_c_message_get_packed_size(&env->base);
    if (len > WIRE_MAX_MSG) {
        if (err && errlen)
            snprintf(err, errlen, "message of %zu bytes exceeds the %d byte limit", len,
                     WIRE_MAX_MSG);
        errno = EMSGSIZE;
        return -1;
    }
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        wire_err_set(err, errlen, "out of memory packing a message%s", NULL);
        errno = ENOMEM;
        return -1;
    }
    protobuf_c_message_pack(&env->base, buf);
    /* ROUTER sends never block the coordinator's loop: a full or gone peer
     * is an error the caller handles (EAGAIN / EHOSTUNREACH). */
    int zflags = id || (flags & WIRE_SEND_DONTWAIT) ? ZMQ_DONTWAIT : 0;
    if (id) {
        if (zmq_send(sock, id, id_len, zflags | ZMQ_SNDMORE) < 0) {
            int e = errno;
            wire_err_set(err, errlen, "send identity: %s", zmq_strerror(e));
            free(buf);
            errno = e;
            return -1;
        }
    }
    if (zmq_send(sock, buf, len, zflags) < 0) {
        int e = errno;
        wire_err_set(err, errlen, "send: %s", zmq_strerror(e));
        free(buf);
        errno = e;
        return -1;
    }
    free(buf);
    return 0;
}

int wire_decode(const void *buf, size_t len, Swarm__Envelope **out, char *err, size_t errlen)
{
    *out = NULL;
    if (len == 0) {
        wire_err_set(err, errlen, "empty body: not an Envelope%s", NULL);
        return -WIRE_E_PARSE;
    }
    if (len > WIRE_MAX_MSG) {
        if (err && errlen)
            snprintf(err, errlen, "body of %zu bytes exceeds the %d byte limit", len, WIRE_MAX_MSG);
        return -WIRE_E_PARSE;
    }
    Swarm__Envelope *env = swarm__envelope__unpack(NULL, len, buf);
    if (!env) {
        if (err && errlen)
            snprintf(err, errlen, "body of %zu bytes does not parse as a swarm.Envelope", len);
        return -WIRE_E_PARSE;
    }
    if (env->version != WIRE_VERSION) {
        if (err && errlen)
            snprintf(err, errlen, "protocol version %u, this side speaks %u", env->version,
                     WIRE_VERSION);
        swarm__envelope__free_unpacked(env, NULL);
        return -WIRE_E_VERSION;
    }
    if (env->payload_case == SWARM__ENVELOPE__PAYLOAD__NOT_SET) {
        wire_err_set(err, errlen, "Envelope has no payload%s", NULL);
        swarm__envelope__free_unpacked(env, NULL);
        return -WIRE_E_EMPTY;
    }
    *out = env;
    return 0;
}

void wire_free(Swarm__Envelope *env)
{
    if (env) swarm__envelope__free_unpacked(env, NULL);
}

/* Discard the remaining parts of a multi-part message; returns how many. */
static int wire_drain_parts(void *sock)
{
    int n = 0;
    int more = 1;
    size_t ml = sizeof more;
    while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &ml) == 0 && more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        /* The rest of a message is already queued: this cannot block. */
        if (zmq_msg_recv(&m, sock, 0) < 0) {
            zmq_msg_close(&m);
            break;
        }
        zmq_msg_close(&m);
        n++;
        ml = sizeof more;
    }
    return n;
}

int wire_recv(void *sock, bool router, uint8_t *id, size_t *id_len, Swarm__Envelope **out,
              char *err, size_t errlen)
{
    *out = NULL;
    if (id_len) *id_len = 0;
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
        int e = errno;
        zmq_msg_close(&m);
        if (e == EAGAIN || e == EINTR) return 1;
        wire_err_set(err, errlen, "recv: %s", zmq_strerror(e));
        errno = e;
        return 1;
    }
    if (router) {
        size_t n = zmq_msg_size(&m);
        if (n > WIRE_MAX_IDENTITY) n = WIRE_MAX_IDENTITY;
        if (id) memcpy(id, zmq_msg_data(&m), n);
        if (id_len) *id_len = n;
        int more = zmq_msg_more(&m);
        zmq_msg_close(&m);
        if (!more) {
            wire_err_set(err, errlen, "message has an identity but no body%s", NULL);
            return -WIRE_E_FRAMES;
        }
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) < 0) {
            zmq_msg_close(&m);
            wire_err_set(err, errlen, "message truncated after the identity frame%s", NULL);
            return -WIRE_E_FRAMES;
        }
    }
    if (zmq_msg_more(&m)) {
        int extra = wire_drain_parts(sock);
        zmq_msg_close(&m);
        if (err && errlen)
            snprintf(err, errlen, "message has %d body frames, expected 1", extra + 1);
        return -WIRE_E_FRAMES;
    }
    int rc = wire_decode(zmq_msg_data(&m), zmq_msg_size(&m), out, err, errlen);
    zmq_msg_close(&m);
    return rc;
}

int wire_send_error(void *sock, const void *id, size_t id_len, const char *sender,
                    uint64_t correlation_id, uint32_t code, const char *message)
{
    Swarm__Envelope env;
    Swarm__Error e;
    wire_envelope_init(&env, sender, correlation_id);
    swarm__error__init(&e);
    e.code = code;
    e.message = (char *)(message ? message : "");
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_ERROR;
    env.error = &e;
    return wire_send(sock, id, id_len, &env, 0, NULL, 0);
}
