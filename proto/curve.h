/* curve.h - CURVE keys and ZAP authentication for swarm's TCP endpoints.
 *
 * Off one machine every ZeroMQ endpoint is encrypted and authenticated with
 * libzmq's built-in CURVE: swarmd holds a server keypair, each worker and
 * client its own keypair, and a ZAP handler thread (inproc://zeromq.zap.01 in
 * swarmd's context) admits only public keys listed in an authorized-keys
 * file. ipc:// and inproc:// endpoints stay plain: the file system already
 * guards them. Plain TCP needs an explicit opt-out (--insecure).
 *
 * Files (all written 0600 by `swarm keygen`):
 *   NAME.key  "public-key Z85" and "secret-key Z85" lines (keep it private)
 *   NAME.pub  one line "Z85 NAME" (hand it to the other side)
 *   authorized keys: one public key per line, an optional label after it,
 *   '#' starts a comment line (or, after a blank, a trailing comment) -
 *   `cat *.pub > authorized_keys` makes one. */
#ifndef SWARM_CURVE_H
#define SWARM_CURVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CURVE_Z85_LEN 40 /* a 32-byte key in Z85 */
#define CURVE_ZAP_DOMAIN "swarm"

typedef struct curve_keypair {
    char public_z85[CURVE_Z85_LEN + 1];
    char secret_z85[CURVE_Z85_LEN + 1]; /* "" when only the public key was loaded */
} curve_keypair;

/* 1 when this libzmq was built with CURVE, else 0. */
int curve_available(void);
/* True for endpoints that leave the machine (tcp://, ...): they need keys. */
bool curve_endpoint_needs_keys(const char *endpoint);

int curve_keypair_generate(curve_keypair *kp, char *err, size_t errlen);
/* Writes DIR/NAME.key and DIR/NAME.pub with mode 0600; refuses to overwrite
 * an existing file (a lost secret cannot be got back). */
int curve_keypair_write(const curve_keypair *kp, const char *dir, const char *name, char *err,
                        size_t errlen);
/* Loads a .key file (both halves, checked to belong together) or, unless
 * need_secret, a .pub file or a bare Z85 public key. */
int curve_key_load(const char *path, bool need_secret, curve_keypair *kp, char *err, size_t errlen);

typedef struct curve_authlist curve_authlist;
int curve_authlist_load(const char *path, curve_authlist **out, char *err, size_t errlen);
void curve_authlist_free(curve_authlist *a);
size_t curve_authlist_count(const curve_authlist *a);
/* Is this 32-byte public key listed? *label (may be NULL) gets its label. */
bool curve_authlist_has(const curve_authlist *a, const uint8_t key[32], const char **label);

/* A CURVE server socket: call before bind, after curve_zap_start. */
int curve_server_setup(void *sock, const curve_keypair *server, char *err, size_t errlen);
/* A CURVE client socket: call before connect. */
int curve_client_setup(void *sock, const char *server_public_z85, const curve_keypair *client,
                       char *err, size_t errlen);

/* Client side in one call for swarm-worker and the CLI: nothing for ipc/inproc
 * endpoints or when insecure; otherwise both key files are required (the
 * flag names are used in the error so the user knows what to pass). */
typedef struct curve_client_opts {
    const char *server_key_path; /* swarmd's .pub (or .key) */
    const char *key_path;        /* this process's .key */
    bool insecure;
    /* how the user gives each, for messages: "--server-key FILE", "SWARM_KEY=FILE" */
    const char *server_key_flag, *key_flag, *insecure_flag;
} curve_client_opts;
int curve_client_prepare(void *sock, const char *endpoint, const curve_client_opts *o, char *err,
                         size_t errlen);

/* A client socket's handshake watch (zmq_socket_monitor), so a key swarmd
 * refuses is reported instead of silence. Open it after setup, before
 * connect; close it before the context is terminated. */
typedef struct curve_watch curve_watch;
int curve_watch_open(void *zctx, void *sock, curve_watch **out, char *err, size_t errlen);
/* The PAIR socket that becomes readable on an event (for zmq_poll). */
void *curve_watch_socket(const curve_watch *w);
/* Reads pending events without blocking: 1 with err set when a handshake
 * was refused (ZAP said no: the key is not authorized) or failed (wrong
 * server key, or one side without CURVE), else 0. */
int curve_watch_failed(curve_watch *w, char *err, size_t errlen);
void curve_watch_close(curve_watch *w);

/* The ZAP handler: one thread answering libzmq's authentication requests for
 * every CURVE socket of zctx. on_decision is called from that thread for each
 * request (admitted or not) with the client's key in Z85 and its address. */
typedef void (*curve_zap_log_fn)(void *ud, bool admitted, const char *key_z85, const char *label,
                                 const char *address);
typedef struct curve_zap curve_zap;
int curve_zap_start(void *zctx, const curve_authlist *keys, curve_zap_log_fn on_decision, void *ud,
                    curve_zap **out, char *err, size_t errlen);
/* Counts since start (read from any thread). */
uint64_t curve_zap_refused(const curve_zap *z);
uint64_t curve_zap_admitted(const curve_zap *z);
/* Stops and joins the thread; call after the CURVE sockets are closed, before
 * zmq_ctx_term. NULL is fine. */
void curve_zap_stop(curve_zap *z);

#endif
