/* test_curve.c - proto/curve.c over real files and real ZeroMQ sockets
 * (ctest cluster.curve): key files (0600, never overwritten, both halves
 * checked, '#' inside a Z85 key is not a comment), authorized-keys parsing,
 * the client-side policy (ipc:// plain, tcp:// needs keys or --insecure), and
 * the ZAP handler on tcp://127.0.0.1: a listed key gets through, an unlisted
 * one and a plain-text client do not, the refusal is reported with the key,
 * and the refused client's watch says why. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "curve.h"
#include "../common/check.h"
#include "../common/test_files.h"

static void write_text(const char *path, const char *text)
{
    test_file_write(path, text);
    chmod(path, 0600); /* keypair files others can read are refused */
}

static void test_files(const char *dir)
{
    char err[512], path[600], text[600];
    curve_keypair kp, back;
    CHECK(curve_keypair_generate(&kp, err, sizeof err) == 0, "%s", err);
    CHECK(curve_keypair_write(&kp, dir, "node1", err, sizeof err) == 0, "%s", err);
    struct stat st;
    snprintf(path, sizeof path, "%s/node1.key", dir);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "node1.key mode %o",
          st.st_mode & 0777);
    snprintf(path, sizeof path, "%s/node1.pub", dir);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "node1.pub mode %o",
          st.st_mode & 0777);
    /* never overwritten */
    curve_keypair other;
    curve_keypair_generate(&other, err, sizeof err);
    CHECK(curve_keypair_write(&other, dir, "node1", err, sizeof err) != 0 && strstr(err, "exists"),
          "overwrite: %s", err);
    CHECK(curve_keypair_write(&other, dir, "../evil", err, sizeof err) != 0, "a name with /");
    /* both halves back from .key; only the public one from .pub */
    snprintf(path, sizeof path, "%s/node1.key", dir);
    CHECK(curve_key_load(path, true, &back, err, sizeof err) == 0, "%s", err);
    CHECK(!strcmp(back.public_z85, kp.public_z85) && !strcmp(back.secret_z85, kp.secret_z85),
          "key round trip");
    snprintf(path, sizeof path, "%s/node1.pub", dir);
    CHECK(curve_key_load(path, false, &back, err, sizeof err) == 0, "%s", err);
    CHECK(!strcmp(back.public_z85, kp.public_z85) && !back.secret_z85[0], "pub round trip");
    CHECK(curve_key_load(path, true, &back, err, sizeof err) != 0 && strstr(err, "secret-key"),
          ".pub where a keypair is needed: %s", err);
    /* a keypair others can read is refused; group-readable (a Kubernetes fsGroup) is not */
    snprintf(path, sizeof path, "%s/node1.key", dir);
    chmod(path, 0644);
    CHECK(curve_key_load(path, true, &back, err, sizeof err) != 0 && strstr(err, "chmod 600"),
          "world-readable keypair: %s", err);
    chmod(path, 0640);
    CHECK(curve_key_load(path, true, &back, err, sizeof err) == 0, "0640 keypair: %s", err);
    /* halves that do not belong together */
    snprintf(path, sizeof path, "%s/mixed.key", dir);
    snprintf(text, sizeof text, "public-key %s\nsecret-key %s\n", kp.public_z85, other.secret_z85);
    write_text(path, text);
    CHECK(curve_key_load(path, true, &back, err, sizeof err) != 0 && strstr(err, "belong"),
          "mismatched halves: %s", err);
    /* a truncated key and garbage */
    snprintf(path, sizeof path, "%s/short.key", dir);
    snprintf(text, sizeof text, "secret-key %.30s\n", kp.secret_z85);
    write_text(path, text);
    CHECK(curve_key_load(path, true, &back, err, sizeof err) != 0 && strstr(err, ":1:"),
          "short key: %s", err);
    snprintf(path, sizeof path, "%s/garbage.key", dir);
    write_text(path, "hello world\n");
    CHECK(curve_key_load(path, false, &back, err, sizeof err) != 0 && strstr(err, "not a key line"),
          "garbage: %s", err);
    snprintf(path, sizeof path, "%s/missing.key", dir);
    CHECK(curve_key_load(path, false, &back, err, sizeof err) != 0 && strstr(err, "missing.key"),
          "missing file: %s", err);
}

/* A key with '#' inside (Z85 uses it as a digit) and a comment after it. */
static void test_authlist(const char *dir)
{
    char err[512], path[600], text[1024];
    curve_keypair hash, plain;
    do
        curve_keypair_generate(&hash, err, sizeof err);
    while (!strchr(hash.public_z85, '#'));
    curve_keypair_generate(&plain, err, sizeof err);
    snprintf(path, sizeof path, "%s/authorized_keys", dir);
    snprintf(text, sizeof text, "# workers\n\n  %s worker-a # rack 1\n%s\n", hash.public_z85,
             plain.public_z85);
    write_text(path, text);
    curve_authlist *a = NULL;
    CHECK(curve_authlist_load(path, &a, err, sizeof err) == 0, "%s", err);
    CHECK(curve_authlist_count(a) == 2, "%zu keys", curve_authlist_count(a));
    uint8_t raw[32];
    const char *label = NULL;
    zmq_z85_decode(raw, hash.public_z85);
    CHECK(curve_authlist_has(a, raw, &label) && !strcmp(label, "worker-a"), "label %s",
          label ? label : "(none)");
    zmq_z85_decode(raw, plain.public_z85);
    CHECK(curve_authlist_has(a, raw, NULL), "second key");
    raw[0] ^= 1;
    CHECK(!curve_authlist_has(a, raw, NULL), "a changed key is listed");
    curve_authlist_free(a);
    /* a .pub with '#' in the key loads too */
    snprintf(path, sizeof path, "%s/hash.pub", dir);
    snprintf(text, sizeof text, "%s hashy\n", hash.public_z85);
    write_text(path, text);
    curve_keypair back;
    CHECK(curve_key_load(path, false, &back, err, sizeof err) == 0 &&
              !strcmp(back.public_z85, hash.public_z85),
          "%s", err);
    snprintf(path, sizeof path, "%s/empty_keys", dir);
    write_text(path, "# nobody\n");
    CHECK(curve_authlist_load(path, &a, err, sizeof err) != 0 && strstr(err, "no public key"),
          "empty list: %s", err);
    snprintf(path, sizeof path, "%s/bad_keys", dir);
    snprintf(text, sizeof text, "%s\nnot-a-key\n", plain.public_z85);
    write_text(path, text);
    CHECK(curve_authlist_load(path, &a, err, sizeof err) != 0 && strstr(err, ":2:"), "bad line: %s",
          err);
}

static void test_policy(void)
{
    char err[512] = "";
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    curve_client_opts none = {0};
    CHECK(!curve_endpoint_needs_keys("ipc:///tmp/x") && !curve_endpoint_needs_keys("inproc://x") &&
              curve_endpoint_needs_keys("tcp://10.0.0.1:7100"),
          "endpoint classes");
    CHECK(curve_client_prepare(s, "ipc:///tmp/x.ipc", &none, err, sizeof err) == 0, "ipc: %s", err);
    CHECK(curve_client_prepare(s, "tcp://127.0.0.1:1", &none, err, sizeof err) != 0 &&
              strstr(err, "--server-key FILE") && strstr(err, "--insecure"),
          "tcp without keys: %s", err);
    curve_client_opts insecure = {.insecure = true};
    CHECK(curve_client_prepare(s, "tcp://127.0.0.1:1", &insecure, err, sizeof err) == 0,
          "insecure: %s", err);
    zmq_close(s);
    zmq_ctx_term(ctx);
}

typedef struct {
    int admitted, refused;
    char last_refused[CURVE_Z85_LEN + 1];
} zap_seen;

static void on_zap(void *ud, bool admitted, const char *key, const char *label, const char *address)
{
    (void)label;
    (void)address;
    zap_seen *z = ud;
    if (admitted) {
        z->admitted++;
    } else {
        z->refused++;
        snprintf(z->last_refused, sizeof z->last_refused, "%s", key);
    }
}

/* A client sends "ping"; 1 when the server got it within ms. */
static int ping_through(void *ctx, void *server, const char *ep, const char *server_pub,
                        const curve_keypair *client, curve_watch **watch_out)
{
    char err[256];
    void *c = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(c, ZMQ_LINGER, &linger, sizeof linger);
    if (client) curve_client_setup(c, server_pub, client, err, sizeof err);
    curve_watch *w = NULL;
    curve_watch_open(ctx, c, &w, err, sizeof err);
    zmq_connect(c, ep);
    zmq_send(c, "ping", 4, 0);
    zmq_pollitem_t it = {server, 0, ZMQ_POLLIN, 0};
    int got = 0;
    if (zmq_poll(&it, 1, 700) == 1) {
        char id[256], body[16];
        zmq_recv(server, id, sizeof id, 0);
        int n = zmq_recv(server, body, sizeof body, 0);
        got = n == 4 && !memcmp(body, "ping", 4);
    }
    if (watch_out) {
        /* give the refusal event a moment to arrive */
        zmq_pollitem_t wi = {curve_watch_socket(w), 0, ZMQ_POLLIN, 0};
        zmq_poll(&wi, 1, 500);
    }
    zmq_close(c);
    if (watch_out)
        *watch_out = w;
    else
        curve_watch_close(w);
    return got;
}

static void test_zap(const char *dir)
{
    char err[512], path[600];
    curve_keypair server, good, bad;
    curve_keypair_generate(&server, err, sizeof err);
    curve_keypair_generate(&good, err, sizeof err);
    curve_keypair_generate(&bad, err, sizeof err);
    snprintf(path, sizeof path, "%s/zap_keys", dir);
    char text[256];
    snprintf(text, sizeof text, "%s good\n", good.public_z85);
    write_text(path, text);
    curve_authlist *keys = NULL;
    CHECK(curve_authlist_load(path, &keys, err, sizeof err) == 0, "%s", err);

    void *ctx = zmq_ctx_new();
    zap_seen seen = {0};
    curve_zap *zap = NULL;
    CHECK(curve_zap_start(ctx, keys, on_zap, &seen, &zap, err, sizeof err) == 0, "%s", err);
    curve_zap *second = NULL;
    CHECK(curve_zap_start(ctx, keys, NULL, NULL, &second, err, sizeof err) != 0,
          "two ZAP handlers in one context");
    void *srv = zmq_socket(ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(srv, ZMQ_LINGER, &linger, sizeof linger);
    CHECK(curve_server_setup(srv, &server, err, sizeof err) == 0, "%s", err);
    CHECK(zmq_bind(srv, "tcp://127.0.0.1:*") == 0, "bind: %s", zmq_strerror(errno));
    char ep[128];
    size_t len = sizeof ep;
    zmq_getsockopt(srv, ZMQ_LAST_ENDPOINT, ep, &len);

    CHECK(ping_through(ctx, srv, ep, server.public_z85, &good, NULL), "listed key blocked");
    curve_watch *w = NULL;
    CHECK(!ping_through(ctx, srv, ep, server.public_z85, &bad, &w), "unlisted key got through");
    char why[512] = "";
    CHECK(curve_watch_failed(w, why, sizeof why) == 1 && strstr(why, "refused"),
          "refused client's watch: %s", why);
    curve_watch_close(w);
    CHECK(!ping_through(ctx, srv, ep, NULL, NULL, NULL), "a plain-text client got through");
    CHECK(!ping_through(ctx, srv, ep, bad.public_z85, &good, NULL),
          "a client with the wrong server key got through");
    CHECK(seen.admitted >= 1 && seen.refused >= 1, "admitted %d refused %d", seen.admitted,
          seen.refused);
    CHECK(!strcmp(seen.last_refused, bad.public_z85), "refusal logged with key %s, want %s",
          seen.last_refused, bad.public_z85);
    CHECK(curve_zap_refused(zap) == (uint64_t)seen.refused &&
              curve_zap_admitted(zap) == (uint64_t)seen.admitted,
          "counters");
    zmq_close(srv);
    curve_zap_stop(zap);
    zmq_ctx_term(ctx);
    curve_authlist_free(keys);
}

int main(void)
{
    if (!curve_available()) {
        fprintf(stderr, "libzmq without CURVE\n");
        return 1;
    }
    char dir[] = "/tmp/swarm-curve-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_files(dir);
    test_authlist(dir);
    test_policy();
    test_zap(dir);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (check_fail_count) fprintf(stderr, "%d check(s) failed\n", check_fail_count);
    return check_fail_count ? 1 : 0;
}
