/* zmtp.h - the CLI's own ZMTP 3.0 DEALER over a local ipc:// (unix socket)
 * endpoint, NULL security, one-frame messages: what `swarm` needs to talk to
 * a local swarmd without starting libzmq.
 *
 * Why: a libzmq context costs a short-lived CLI process about a millisecond
 * of its life (pgm_init's NSS lookups in zmq_ctx_new, an I/O thread and a
 * reaper to start, both joined again at zmq_ctx_term), and every message
 * crosses that I/O thread twice. swarmd's ROUTER endpoint speaks the same
 * ZMTP 3.0 either way (RFC 23: greeting, NULL READY handshake, frames), so
 * the local case talks it directly; tcp:// (CURVE) keeps libzmq. */
#ifndef SWARM_CLI_ZMTP_H
#define SWARM_CLI_ZMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cli_zmtp {
    int fd;          /* -1 while not connected */
    bool handshaken; /* the peer's greeting and READY were read */
    char path[1024]; /* the unix socket */
    uint8_t *in;     /* bytes read, not yet parsed */
    size_t in_len, in_cap;
} cli_zmtp;

/* Remember the endpoint (ipc://PATH); connects lazily. 0, or -1 with err
 * when PATH does not fit a unix socket address. */
int cli_zmtp_init(cli_zmtp *z, const char *endpoint, char *err, size_t errlen);
/* Drop the connection (the next send reconnects): after a timeout, so a late
 * reply to an abandoned request can never be read as a new one's. */
void cli_zmtp_reset(cli_zmtp *z);
void cli_zmtp_close(cli_zmtp *z);

/* Connect now and send our half of the handshake, without waiting for the
 * peer's (a missing socket is retried until deadline_ms). 0, or -1 with err. */
int cli_zmtp_connect(cli_zmtp *z, uint64_t deadline_ms, char *err, size_t errlen);

/* Connected and the peer's half of the handshake read (connecting first if
 * needed, as cli_zmtp_send): 0, or -1 with err. */
int cli_zmtp_ready(cli_zmtp *z, uint64_t deadline_ms, char *err, size_t errlen);

/* Send one message (one frame), connecting first if needed; a refused or
 * missing socket (swarmd restarting) is retried until deadline_ms (the
 * swarm_clock_ms() time). 0, or -1 with err. */
int cli_zmtp_send(cli_zmtp *z, const void *buf, size_t len, uint64_t deadline_ms, char *err,
                  size_t errlen);

/* Receive one message; *out (malloc'd) holds its one frame. Returns 0, 1 on
 * timeout (deadline_ms passed, or a signal interrupted the wait: the caller
 * checks the time), or -1 with err (connection lost, bad frames). A message
 * of more than one frame is consumed and reported as -2 with err. */
int cli_zmtp_recv(cli_zmtp *z, uint64_t deadline_ms, size_t max_len, uint8_t **out, size_t *len,
                  char *err, size_t errlen);

#endif
