/* wire.h - framing for swarm's ZeroMQ sockets: one protobuf Envelope per body.
 *
 * Every socket gets ZMQ_MAXMSGSIZE (WIRE_MAX_MSG), LINGER and, for ROUTER
 * sockets, ZMQ_ROUTER_MANDATORY so undeliverable messages are errors, not
 * silence. Decoding never trusts the peer: a body that does not parse, has
 * the wrong version or no payload is reported with a message and a code; the
 * caller counts it, logs it and answers with Error where it can. */
#ifndef SWARM_WIRE_H
#define SWARM_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "swarm.pb-c.h"

#define WIRE_VERSION 1u
#define WIRE_MAX_MSG (8 * 1024 * 1024) /* bytes; larger messages are dropped by libzmq */
#define WIRE_MAX_IDENTITY 255

enum {
    WIRE_E_PARSE = 1,       /* body is not an Envelope */
    WIRE_E_VERSION = 2,     /* version != WIRE_VERSION */
    WIRE_E_EMPTY = 3,       /* no payload */
    WIRE_E_FRAMES = 4,      /* wrong number of frames */
    WIRE_E_UNEXPECTED = 5,  /* payload not valid on this endpoint */
    WIRE_E_BAD_REQUEST = 6, /* payload fields invalid (bad job JSON, unknown job, ...) */
    WIRE_E_INTERNAL = 7,    /* the coordinator could not complete the request (e.g. Redis down) */
    WIRE_E_UNKNOWN_WORKER =
        8, /* sender is not registered (e.g. swarmd restarted): send Register again */
};

/* Apply the standard options. router: also ROUTER_MANDATORY. */
int wire_socket_setup(void *sock, bool router);

/* A fresh envelope: clears *env (payload included), then stamps it. */
void wire_envelope_init(Swarm__Envelope *env, const char *sender, uint64_t correlation_id);

/* Stamp version, sender and correlation id on an envelope whose payload the
 * caller already set; the payload is kept. */
void wire_envelope_stamp(Swarm__Envelope *env, const char *sender, uint64_t correlation_id);

/* wire_send flags. */
enum {
    WIRE_SEND_DONTWAIT = 1, /* a full queue is an error (EAGAIN), never a wait */
};

/* Pack and send, refusing bodies over WIRE_MAX_MSG (EMSGSIZE). For ROUTER
 * sockets pass the peer identity (such a send never blocks, whatever flags
 * say: a full or gone peer is an error); else id = NULL, and the send blocks
 * (bounded by the socket's ZMQ_SNDTIMEO if the caller sets one) unless flags
 * has WIRE_SEND_DONTWAIT. Returns 0, or -1 with errno and err set (e.g.
 * EHOSTUNREACH for a gone peer). */
int wire_send(void *sock, const void *id, size_t id_len, const Swarm__Envelope *env, int flags,
              char *err, size_t errlen);

/* Unpack a body; checks version and payload presence. On failure returns
 * -WIRE_E_* and sets err; *out is NULL. Free a success with wire_free(). */
int wire_decode(const void *buf, size_t len, Swarm__Envelope **out, char *err, size_t errlen);
void wire_free(Swarm__Envelope *env);

/* Receive one message without blocking. router: expect [identity][body].
 * Returns 1 if nothing is waiting, 0 on success, or -WIRE_E_* for a bad
 * message (already fully consumed from the socket, identity still filled in
 * when there was one so the caller can answer with Error). */
int wire_recv(void *sock, bool router, uint8_t *id, size_t *id_len, Swarm__Envelope **out,
              char *err, size_t errlen);

/* Send an Error reply. */
int wire_send_error(void *sock, const void *id, size_t id_len, const char *sender,
                    uint64_t correlation_id, uint32_t code, const char *message);

#endif
