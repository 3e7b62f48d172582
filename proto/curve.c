/* curve.c - CURVE key files, the authorized-keys list and the ZAP handler
 * thread (see curve.h for the file formats and the policy). */
#include "curve.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define CURVE_FILE_MAX (1 << 20) /* larger key/authorized-keys files are refused */

int curve_available(void)
{
    return zmq_has("curve") ? 1 : 0;
}

bool curve_endpoint_needs_keys(const char *ep)
{
    if (!ep) return false;
    return strncmp(ep, "ipc://", 6) != 0 && strncmp(ep, "inproc://", 9) != 0;
}

int curve_keypair_generate(curve_keypair *kp, char *err, size_t errlen)
{
    memset(kp, 0, sizeof *kp);
    if (!curve_available()) {
        snprintf(err, errlen, "this libzmq was built without CURVE (zmq_has(\"curve\") is false)");
        return -1;
    }
    if (zmq_curve_keypair(kp->public_z85, kp->secret_z85) != 0) {
        snprintf(err, errlen, "zmq_curve_keypair: %s", zmq_strerror(errno));
        return -1;
    }
    return 0;
}

/* Writes a whole file created 0600 (O_EXCL: never replaces a key). */
static int curve_file_write(const char *path, const char *text, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
                 errno == EEXIST ? " (remove it first, or choose another --name)" : "");
        return -1;
    }
    size_t n = strlen(text), off = 0;
    while (off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            snprintf(err, errlen, "%s: write: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    /* the umask may have taken bits away, never added: set exactly 0600 */
    if (fchmod(fd, 0600) != 0 || close(fd) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static bool curve_name_ok(const char *name)
{
    if (!name || !*name || strlen(name) > 64) return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.') return false;
    return name[0] != '.';
}

int curve_keypair_write(const curve_keypair *kp, const char *dir, const char *name, char *err,
                        size_t errlen)
{
    if (!curve_name_ok(name)) {
        snprintf(err, errlen,
                 "key name \"%s\": use 1-64 letters, digits, '-', '_' or '.', not starting "
                 "with '.'",
                 name ? name : "");
        return -1;
    }
    char key_path[4096], pub_path[4096], text[512];
    snprintf(key_path, sizeof key_path, "%s/%s.key", dir, name);
    snprintf(pub_path, sizeof pub_path, "%s/%s.pub", dir, name);
    struct stat st;
    if (stat(key_path, &st) == 0 || stat(pub_path, &st) == 0) {
        snprintf(err, errlen, "%s or %s exists already (remove it first, or choose another --name)",
                 key_path, pub_path);
        return -1;
    }
    snprintf(text, sizeof text,
             "# swarm CURVE keypair \"%s\" - the secret key: keep this file private\n"
             "public-key %s\nsecret-key %s\n",
             name, kp->public_z85, kp->secret_z85);
    if (curve_file_write(key_path, text, err, errlen) != 0) return -1;
    snprintf(text, sizeof text, "%s %s\n", kp->public_z85, name);
    if (curve_file_write(pub_path, text, err, errlen) != 0) {
        unlink(key_path);
        return -1;
    }
    return 0;
}

static char *curve_file_read(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(CURVE_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, CURVE_FILE_MAX + 1, f) : 0;
    bool bad = ferror(f);
    fclose(f);
    if (!buf || bad || n > CURVE_FILE_MAX) {
        snprintf(err, errlen, "%s: %s", path,
                 !buf  ? "out of memory"
                 : bad ? "read error"
                       : "too large for a key file");
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

/* A Z85 key token: exactly 40 characters that decode. */
static bool curve_z85_ok(const char *s, size_t len, uint8_t out[32])
{
    if (len != CURVE_Z85_LEN) return false;
    char tmp[CURVE_Z85_LEN + 1];
    memcpy(tmp, s, len);
    tmp[len] = 0;
    uint8_t dummy[32];
    return zmq_z85_decode(out ? out : dummy, tmp) != NULL;
}

/* Splits the next line off *p into its first token and the rest (trimmed).
 * '#' cannot simply start a comment anywhere: it is a Z85 digit, so callers
 * take a 40-character first token as a key before treating '#' as a comment,
 * and a comment after a key must follow a blank. */
static bool curve_next_line(char **p, char **tok, size_t *tok_len, char **rest)
{
    if (!**p) return false;
    char *line = *p, *nl = strchr(line, '\n');
    if (nl) {
        *nl = 0;
        *p = nl + 1;
    } else {
        *p = line + strlen(line);
    }
    while (*line && isspace((unsigned char)*line))
        line++;
    char *end = line;
    while (*end && !isspace((unsigned char)*end))
        end++;
    *tok = line;
    *tok_len = (size_t)(end - line);
    char *r = end;
    if (*r) *r++ = 0;
    while (*r && isspace((unsigned char)*r))
        r++;
    for (char *c = r; *c; c++)
        if (*c == '#' && (c == r || isspace((unsigned char)c[-1]))) {
            *c = 0;
            break;
        }
    size_t rl = strlen(r);
    while (rl && isspace((unsigned char)r[rl - 1]))
        r[--rl] = 0;
    *rest = r;
    return true;
}

static bool curve_comment(const char *tok, size_t tl)
{
    return tl == 0 || (tok[0] == '#' && !curve_z85_ok(tok, tl, NULL));
}

int curve_key_load(const char *path, bool need_secret, curve_keypair *kp, char *err, size_t errlen)
{
    memset(kp, 0, sizeof *kp);
    if (!path || !*path) {
        snprintf(err, errlen, "no key file given");
        return -1;
    }
    char *text = curve_file_read(path, err, errlen);
    if (!text) return -1;
    char *p = text, *tok, *rest;
    size_t tl;
    int line = 0, rc = 0;
    while (rc == 0 && curve_next_line(&p, &tok, &tl, &rest)) {
        line++;
        if (curve_comment(tok, tl)) continue;
        char *dst = NULL, *val = rest;
        val[strcspn(val, " \t\r")] = 0; /* "public-key KEY": the key is the next token */
        if (tl == 10 && !strncmp(tok, "public-key", 10))
            dst = kp->public_z85;
        else if (tl == 10 && !strncmp(tok, "secret-key", 10))
            dst = kp->secret_z85;
        else if (curve_z85_ok(tok, tl, NULL) && !kp->public_z85[0]) {
            dst = kp->public_z85; /* a .pub line: "Z85 [label]" */
            val = tok;
        } else {
            snprintf(err, errlen,
                     "%s:%d: not a key line (want \"public-key Z85\", "
                     "\"secret-key Z85\" or a 40-character Z85 public key)",
                     path, line);
            rc = -1;
            break;
        }
        if (!curve_z85_ok(val, strlen(val), NULL)) {
            snprintf(err, errlen, "%s:%d: the key is not 40 characters of Z85", path, line);
            rc = -1;
            break;
        }
        memcpy(dst, val, CURVE_Z85_LEN + 1);
    }
    free(text);
    if (rc) return rc;
    if (need_secret && !kp->secret_z85[0]) {
        snprintf(
            err, errlen,
            "%s: no secret-key line; this wants a keypair file (NAME.key from `swarm keygen`), "
            "not a public key",
            path);
        return -1;
    }
    struct stat st;
    if (kp->secret_z85[0] && stat(path, &st) == 0 && (st.st_mode & 0007)) {
        /* like ssh: a secret anyone on the host can read is not a secret */
        snprintf(err, errlen,
                 "%s holds a secret key but is readable by other users (mode %03o): chmod 600 %s",
                 path, (unsigned)(st.st_mode & 0777), path);
        explicit_bzero(kp, sizeof *kp);
        return -1;
    }
    if (kp->secret_z85[0]) {
        char derived[CURVE_Z85_LEN + 1];
        if (zmq_curve_public(derived, kp->secret_z85) != 0) {
            snprintf(err, errlen, "%s: cannot derive the public key: %s", path,
                     zmq_strerror(errno));
            return -1;
        }
        if (kp->public_z85[0] && strcmp(derived, kp->public_z85) != 0) {
            snprintf(err, errlen, "%s: public-key does not belong to secret-key", path);
            return -1;
        }
        memcpy(kp->public_z85, derived, sizeof derived);
    }
    if (!kp->public_z85[0]) {
        snprintf(err, errlen, "%s: no key in the file", path);
        return -1;
    }
    return 0;
}

/* ---- authorized keys ---- */

typedef struct curve_authkey {
    uint8_t key[32];
    char label[64];
} curve_authkey;

struct curve_authlist {
    curve_authkey *keys;
    size_t n;
};

int curve_authlist_load(const char *path, curve_authlist **out, char *err, size_t errlen)
{
    *out = NULL;
    char *text = curve_file_read(path, err, errlen);
    if (!text) return -1;
    curve_authlist *a = calloc(1, sizeof *a);
    size_t cap = 0;
    char *p = text, *tok, *rest;
    size_t tl;
    int line = 0, rc = a ? 0 : -1;
    if (!a) snprintf(err, errlen, "out of memory");
    while (rc == 0 && curve_next_line(&p, &tok, &tl, &rest)) {
        line++;
        if (curve_comment(tok, tl)) continue;
        uint8_t key[32];
        if (!curve_z85_ok(tok, tl, key)) {
            snprintf(err, errlen,
                     "%s:%d: not a public key (want a 40-character Z85 key, then an optional "
                     "label; '#' starts a comment)",
                     path, line);
            rc = -1;
            break;
        }
        if (a->n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            curve_authkey *nk = realloc(a->keys, nc * sizeof *nk);
            if (!nk) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
                break;
            }
            a->keys = nk;
            cap = nc;
        }
        memcpy(a->keys[a->n].key, key, 32);
        snprintf(a->keys[a->n].label, sizeof a->keys[a->n].label, "%s", rest);
        a->n++;
    }
    free(text);
    if (rc == 0 && a->n == 0) {
        snprintf(err, errlen, "%s: lists no public key (add workers' and clients' NAME.pub lines)",
                 path);
        rc = -1;
    }
    if (rc) {
        curve_authlist_free(a);
        return -1;
    }
    *out = a;
    return 0;
}

void curve_authlist_free(curve_authlist *a)
{
    if (!a) return;
    free(a->keys);
    free(a);
}

size_t curve_authlist_count(const curve_authlist *a)
{
    return a ? a->n : 0;
}

bool curve_authlist_has(const curve_authlist *a, const uint8_t key[32], const char **label)
{
    for (size_t i = 0; a && i < a->n; i++)
        if (!memcmp(a->keys[i].key, key, 32)) {
            if (label) *label = a->keys[i].label;
            return true;
        }
    return false;
}

/* ---- sockets ---- */

int curve_server_setup(void *sock, const curve_keypair *server, char *err, size_t errlen)
{
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, server->secret_z85, CURVE_Z85_LEN) != 0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, CURVE_ZAP_DOMAIN, strlen(CURVE_ZAP_DOMAIN)) != 0) {
        snprintf(err, errlen, "CURVE server setup: %s", zmq_strerror(errno));
        return -1;
    }
    return 0;
}

int curve_client_setup(void *sock, const char *server_public_z85, const curve_keypair *client,
                       char *err, size_t errlen)
{
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_public_z85, CURVE_Z85_LEN) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, client->public_z85, CURVE_Z85_LEN) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, client->secret_z85, CURVE_Z85_LEN) != 0) {
        snprintf(err, errlen, "CURVE client setup: %s", zmq_strerror(errno));
        return -1;
    }
    return 0;
}

int curve_client_prepare(void *sock, const char *endpoint, const curve_client_opts *o, char *err,
                         size_t errlen)
{
    if (!curve_endpoint_needs_keys(endpoint) || o->insecure) return 0;
    const char *skf = o->server_key_flag ? o->server_key_flag : "--server-key FILE";
    const char *kf = o->key_flag ? o->key_flag : "--key FILE";
    const char *inf = o->insecure_flag ? o->insecure_flag : "--insecure";
    if (!o->server_key_path || !*o->server_key_path || !o->key_path || !*o->key_path) {
        snprintf(err, errlen,
                 "%s is a network endpoint and needs CURVE keys: %s (swarmd's public "
                 "key, its NAME.pub) and %s (this side's keypair from `swarm keygen`, its "
                 ".pub listed in swarmd's --authorized-keys); or %s for plain TCP",
                 endpoint, skf, kf, inf);
        return -1;
    }
    if (!curve_available()) {
        snprintf(err, errlen, "this libzmq was built without CURVE; cannot secure %s", endpoint);
        return -1;
    }
    curve_keypair server, me;
    char e2[512];
    if (curve_key_load(o->server_key_path, false, &server, e2, sizeof e2) != 0) {
        snprintf(err, errlen, "swarmd's public key (%s): %s", skf, e2);
        return -1;
    }
    if (curve_key_load(o->key_path, true, &me, e2, sizeof e2) != 0) {
        snprintf(err, errlen, "this side's keypair (%s): %s", kf, e2);
        return -1;
    }
    int rc = curve_client_setup(sock, server.public_z85, &me, err, errlen);
    explicit_bzero(&me, sizeof me);
    return rc;
}

/* ---- handshake watch ---- */

struct curve_watch {
    void *pair;
};

int curve_watch_open(void *zctx, void *sock, curve_watch **out, char *err, size_t errlen)
{
    *out = NULL;
    curve_watch *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char addr[64];
    snprintf(addr, sizeof addr, "inproc://swarm-curve-watch-%p", (void *)w);
    int linger = 0;
    if (zmq_socket_monitor(sock, addr,
                           ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0 ||
        !(w->pair = zmq_socket(zctx, ZMQ_PAIR)) ||
        zmq_setsockopt(w->pair, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_connect(w->pair, addr) != 0) {
        snprintf(err, errlen, "handshake monitor: %s", zmq_strerror(errno));
        if (w->pair) zmq_close(w->pair);
        free(w);
        return -1;
    }
    *out = w;
    return 0;
}

void *curve_watch_socket(const curve_watch *w)
{
    return w ? w->pair : NULL;
}

int curve_watch_failed(curve_watch *w, char *err, size_t errlen)
{
    int failed = 0;
    while (w) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, w->pair, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            break;
        }
        /* frame 1: uint16 event, uint32 value (the ZAP status code); frame 2: the endpoint */
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&ev) >= 6) {
            memcpy(&event, zmq_msg_data(&ev), 2);
            memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, 4);
        }
        bool more = zmq_msg_more(&ev);
        zmq_msg_close(&ev);
        char ep[256] = "?";
        if (more) {
            zmq_msg_init(&addr);
            if (zmq_msg_recv(&addr, w->pair, 0) >= 0)
                snprintf(ep, sizeof ep, "%.*s", (int)zmq_msg_size(&addr),
                         (char *)zmq_msg_data(&addr));
            zmq_msg_close(&addr);
        }
        if (failed) continue; /* keep the first failure's message, drain the rest */
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
            snprintf(err, errlen,
                     "swarmd at %s refused this side's key (ZAP status %u): add its NAME.pub "
                     "line to swarmd's --authorized-keys file",
                     ep, value);
            failed = 1;
        } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
                   event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
            snprintf(err, errlen,
                     "CURVE handshake with %s failed: is the server key swarmd's own .pub, and "
                     "does swarmd run with CURVE (not --insecure)?",
                     ep);
            failed = 1;
        }
    }
    return failed;
}

void curve_watch_close(curve_watch *w)
{
    if (!w) return;
    zmq_close(w->pair);
    free(w);
}

/* ---- ZAP handler (RFC 27: ZeroMQ Authentication Protocol) ---- */

struct curve_zap {
    void *zctx, *rep, *ctl_main, *ctl_thread;
    const curve_authlist *keys;
    curve_zap_log_fn on_decision;
    void *ud;
    pthread_t thread;
    atomic_uint_least64_t refused, admitted;
};

#define ZAP_FRAMES_MAX 8

static void curve_zap_reply(void *rep, const zmq_msg_t *request_id, const char *code,
                            const char *text, const char *user)
{
    zmq_send(rep, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(rep, zmq_msg_data((zmq_msg_t *)request_id), zmq_msg_size((zmq_msg_t *)request_id),
             ZMQ_SNDMORE);
    zmq_send(rep, code, strlen(code), ZMQ_SNDMORE);
    zmq_send(rep, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(rep, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(rep, "", 0, 0);
}

static void curve_zap_handle(curve_zap *z)
{
    zmq_msg_t f[ZAP_FRAMES_MAX];
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, z->rep, 0) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        if (n < ZAP_FRAMES_MAX) {
            zmq_msg_init(&f[n]);
            zmq_msg_move(&f[n++], &m);
        }
        zmq_msg_close(&m);
    }
    /* version, request id, domain, address, routing id, mechanism, credentials... */
    if (n >= 6) {
        char mech[32] = "", addr[128] = "", key_z85[CURVE_Z85_LEN + 1] = "";
        snprintf(mech, sizeof mech, "%.*s", (int)zmq_msg_size(&f[5]), (char *)zmq_msg_data(&f[5]));
        snprintf(addr, sizeof addr, "%.*s", (int)zmq_msg_size(&f[3]), (char *)zmq_msg_data(&f[3]));
        bool ok = false;
        const char *label = "";
        if (!strcmp(mech, "CURVE") && n >= 7 && zmq_msg_size(&f[6]) == 32) {
            const uint8_t *key = zmq_msg_data(&f[6]);
            zmq_z85_encode(key_z85, key, 32);
            ok = curve_authlist_has(z->keys, key, &label);
        }
        /* only CURVE clients with a listed key are let in; the swarm's
         * sockets are all CURVE servers, so anything else is refused */
        if (ok)
            atomic_fetch_add(&z->admitted, 1);
        else
            atomic_fetch_add(&z->refused, 1);
        if (z->on_decision)
            z->on_decision(z->ud, ok, key_z85[0] ? key_z85 : mech, label ? label : "", addr);
        curve_zap_reply(z->rep, &f[1], ok ? "200" : "400", ok ? "OK" : "key not authorized",
                        ok ? key_z85 : "");
    } else if (n >= 2) {
        curve_zap_reply(z->rep, &f[1], "500", "malformed ZAP request", "");
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

static void *curve_zap_main(void *arg)
{
    curve_zap *z = arg;
    for (;;) {
        zmq_pollitem_t it[2] = {{z->rep, 0, ZMQ_POLLIN, 0}, {z->ctl_thread, 0, ZMQ_POLLIN, 0}};
        int r = zmq_poll(it, 2, -1);
        if (r < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (it[1].revents & ZMQ_POLLIN) break;
        if (it[0].revents & ZMQ_POLLIN) curve_zap_handle(z);
    }
    return NULL;
}

static void curve_zap_close(curve_zap *z)
{
    if (z->rep) zmq_close(z->rep);
    if (z->ctl_main) zmq_close(z->ctl_main);
    if (z->ctl_thread) zmq_close(z->ctl_thread);
    free(z);
}

int curve_zap_start(void *zctx, const curve_authlist *keys, curve_zap_log_fn on_decision, void *ud,
                    curve_zap **out, char *err, size_t errlen)
{
    *out = NULL;
    curve_zap *z = calloc(1, sizeof *z);
    if (!z) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    z->zctx = zctx;
    z->keys = keys;
    z->on_decision = on_decision;
    z->ud = ud;
    char ctl[64];
    snprintf(ctl, sizeof ctl, "inproc://swarm-zap-ctl-%p", (void *)z);
    int linger = 0;
    z->rep = zmq_socket(zctx, ZMQ_REP);
    z->ctl_thread = zmq_socket(zctx, ZMQ_PAIR);
    z->ctl_main = zmq_socket(zctx, ZMQ_PAIR);
    if (!z->rep || !z->ctl_thread || !z->ctl_main) {
        snprintf(err, errlen, "ZAP handler sockets: %s", zmq_strerror(errno));
        curve_zap_close(z);
        return -1;
    }
    zmq_setsockopt(z->rep, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(z->ctl_thread, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(z->ctl_main, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(z->rep, "inproc://zeromq.zap.01") != 0) {
        snprintf(err, errlen, "ZAP handler: bind inproc://zeromq.zap.01: %s%s", zmq_strerror(errno),
                 errno == EADDRINUSE ? " (another handler runs in this context)" : "");
        curve_zap_close(z);
        return -1;
    }
    if (zmq_bind(z->ctl_thread, ctl) != 0 || zmq_connect(z->ctl_main, ctl) != 0) {
        snprintf(err, errlen, "ZAP handler control pair: %s", zmq_strerror(errno));
        curve_zap_close(z);
        return -1;
    }
    int rc = pthread_create(&z->thread, NULL, curve_zap_main, z);
    if (rc != 0) {
        snprintf(err, errlen, "ZAP handler thread: %s", strerror(rc));
        curve_zap_close(z);
        return -1;
    }
    *out = z;
    return 0;
}

uint64_t curve_zap_refused(const curve_zap *z)
{
    return z ? atomic_load(&((curve_zap *)z)->refused) : 0;
}

uint64_t curve_zap_admitted(const curve_zap *z)
{
    return z ? atomic_load(&((curve_zap *)z)->admitted) : 0;
}

void curve_zap_stop(curve_zap *z)
{
    if (!z) return;
    zmq_send(z->ctl_main, "", 0, 0);
    pthread_join(z->thread, NULL);
    curve_zap_close(z);
}
