/* client.c - request/reply with swarmd over a DEALER socket (libzmq), or
 * for a local ipc:// swarmd the same ZMTP spoken directly (zmtp.c).
 *
 * One outstanding request at a time; replies are matched on correlation id
 * so a late answer to an earlier, timed-out request is skipped. After a
 * timeout the socket is rebuilt so a queued stale request cannot confuse the
 * next call. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "client.h"
#include "curve.h"
#include "swarm_clock.h"

static int cli_client_socket(cli_client *c, char *err, size_t errlen)
{
    c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
    if (!c->sock) {
        snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(errno));
        return -1;
    }
    wire_socket_setup(c->sock, false);
    int linger = 0;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof(linger));
    /* a tcp:// SWARM_ENDPOINT is CURVE unless SWARM_INSECURE=1 (--insecure sets it) */
    const char *insecure = getenv("SWARM_INSECURE");
    curve_client_opts co = {.server_key_path = getenv("SWARM_SERVER_KEY"),
                            .key_path = getenv("SWARM_KEY"),
                            .insecure = insecure && !strcmp(insecure, "1"),
                            .server_key_flag = "SWARM_SERVER_KEY=FILE",
                            .key_flag = "SWARM_KEY=FILE",
                            .insecure_flag = "--insecure (or SWARM_INSECURE=1)"};
    curve_watch_close(c->watch);
    c->watch = NULL;
    if (curve_client_prepare(c->sock, c->endpoint, &co, err, errlen) != 0 ||
        (curve_endpoint_needs_keys(c->endpoint) &&
         curve_watch_open(c->ctx, c->sock, &c->watch, err, errlen) != 0)) {
        zmq_close(c->sock);
        c->sock = NULL;
        return -1;
    }
    if (zmq_connect(c->sock, c->endpoint) != 0) {
        snprintf(err, errlen, "%s: %s", c->endpoint, zmq_strerror(errno));
        zmq_close(c->sock);
        c->sock = NULL;
        return -1;
    }
    return 0;
}

int cli_client_open(cli_client *c, const char *endpoint, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->z.fd = -1;
    snprintf(c->endpoint, sizeof(c->endpoint), "%s", endpoint);
    snprintf(c->sender, sizeof(c->sender), "cli:%d", (int)getpid());
    c->corr = (uint64_t)time(NULL) << 20;
    const char *tm = getenv("SWARM_TIMING");
    c->timing = tm && !strcmp(tm, "1");
    c->opened = swarm_clock_sec();
    const char *lz = getenv("SWARM_CLIENT_LIBZMQ");
    if (strncmp(endpoint, "ipc://", 6) == 0 && !(lz && !strcmp(lz, "1"))) {
        c->direct = true;
        if (cli_zmtp_init(&c->z, endpoint, err, errlen) != 0) return -1;
        /* start the handshake now, so it runs while the caller prepares its
         * request; a swarmd not (yet) listening is retried by the first call */
        char cerr[256];
        (void)cli_zmtp_connect(&c->z, swarm_clock_ms(), cerr, sizeof cerr);
        return 0;
    }
    c->ctx = zmq_ctx_new();
    if (!c->ctx) {
        snprintf(err, errlen, "zmq_ctx_new failed");
        return -1;
    }
    if (cli_client_socket(c, err, errlen) != 0) {
        zmq_ctx_term(c->ctx);
        c->ctx = NULL;
        return -1;
    }
    return 0;
}

void cli_client_close(cli_client *c)
{
    cli_zmtp_close(&c->z);
    if (c->sock) zmq_close(c->sock);
    curve_watch_close(c->watch);
    c->watch = NULL;
    if (c->ctx) zmq_ctx_term(c->ctx);
    c->sock = c->ctx = NULL;
}

static const char *cli_exchange_kind(const Swarm__Envelope *req)
{
    if (!req) return "held"; /* the second answer of a Submit with wait_ms */
    switch (req->payload_case) {
    case SWARM__ENVELOPE__PAYLOAD_SUBMIT:
        return "submit";
    case SWARM__ENVELOPE__PAYLOAD_SUBMIT_BEGIN:
    case SWARM__ENVELOPE__PAYLOAD_SUBMIT_CHUNK:
    case SWARM__ENVELOPE__PAYLOAD_SUBMIT_END:
        return "upload";
    case SWARM__ENVELOPE__PAYLOAD_STATUS:
        return req->status->wait_ms ? "wait" : req->status->with_result ? "result" : "status";
    default:
        return "other";
    }
}

static void cli_client_trace(cli_client *c, const Swarm__Envelope *req, const Swarm__Envelope *rep,
                             double sent)
{
    double now = swarm_clock_sec();
    uint64_t bytes = swarm__envelope__get_packed_size(rep);
    if (bytes > c->max_reply) c->max_reply = bytes;
    c->n_calls++;
    if (c->n_trace >= CLI_MAX_TRACE) return;
    cli_exchange *x = &c->trace[c->n_trace++];
    x->kind = cli_exchange_kind(req);
    x->us = (uint32_t)((now - sent) * 1e6);
    x->reply_bytes = (uint32_t)bytes;
    x->at = now;
}

void cli_client_timing(const cli_client *c, const char *label, double from, double to)
{
    if (!c->timing) return;
    /* one fprintf: the line is not interleaved with progress output */
    char line[2048];
    size_t n = 0;
    int after = 0;
    n += (size_t)snprintf(line + n, sizeof line - n,
                          "swarm timing: %s_us=%.0f open_to_submit_us=%.0f exchanges=", label,
                          (to - from) * 1e6, c->submitted ? (c->submitted - c->opened) * 1e6 : 0.0);
    for (uint32_t i = 0; i < c->n_trace && n < sizeof line - 64; i++) {
        const cli_exchange *x = &c->trace[i];
        n += (size_t)snprintf(line + n, sizeof line - n, "%s%s:%u/%uB", i ? "," : "", x->kind,
                              x->us, x->reply_bytes);
        if (c->submitted && x->at > c->submitted && strcmp(x->kind, "submit") != 0 &&
            strcmp(x->kind, "upload") != 0)
            after++;
    }
    if (n < sizeof line)
        snprintf(line + n, sizeof line - n, " calls=%u after_submit=%d max_reply_bytes=%llu",
                 c->n_calls, after, (unsigned long long)c->max_reply);
    fprintf(stderr, "%s\n", line);
}

/* A decoded reply: 0 it answers this request (*reply set), 1 it answers an
 * older one (skipped), -2 swarmd answered with Error. */
static int cli_client_take(cli_client *c, const Swarm__Envelope *req, Swarm__Envelope *env,
                           uint64_t corr, double sent, Swarm__Envelope **reply, uint32_t *code,
                           char *err, size_t errlen)
{
    if (env->correlation_id != corr) { /* answer to an older request */
        wire_free(env);
        return 1;
    }
    if (c->timing) cli_client_trace(c, req, env, sent);
    if (env->payload_case == SWARM__ENVELOPE__PAYLOAD_ERROR) {
        snprintf(err, errlen, "%s", env->error->message);
        if (code) *code = env->error->code;
        wire_free(env);
        return -2;
    }
    *reply = env;
    return 0;
}

/* The answer to corr over the direct connection (req: what it answers, for
 * SWARM_TIMING; NULL for a Submit's second answer). */
static int cli_client_recv_direct(cli_client *c, const Swarm__Envelope *req, uint64_t corr,
                                  double sent, uint64_t start, uint64_t deadline, int timeout_ms,
                                  Swarm__Envelope **reply, uint32_t *code, char *err, size_t errlen)
{
    char zerr[512] = "";
    for (;;) {
        uint8_t *msg = NULL;
        size_t mlen = 0;
        int r = cli_zmtp_recv(&c->z, deadline, (size_t)WIRE_MAX_MSG + 64, &msg, &mlen, zerr,
                              sizeof zerr);
        if (r == 1) {
            if (swarm_clock_ms() < deadline) continue; /* a signal */
            break;
        }
        if (r == -2) {
            snprintf(err, errlen, "bad reply from swarmd: %s", zerr);
            return -1;
        }
        if (r < 0) {
            /* swarmd went away mid-request (a restart): callers retry, so do
             * not let them spin on a closed socket */
            uint64_t now = swarm_clock_ms();
            if (now - start < 100 && deadline > now) {
                uint64_t nap =
                    deadline - now < 100 - (now - start) ? deadline - now : 100 - (now - start);
                struct timespec ts = {0, (long)nap * 1000000L};
                nanosleep(&ts, NULL);
            }
            snprintf(err, errlen, "no answer from swarmd at %s: %s", c->endpoint, zerr);
            return -1;
        }
        Swarm__Envelope *env = NULL;
        char derr[256] = "";
        int d = wire_decode(msg, mlen, &env, derr, sizeof derr);
        free(msg);
        if (d < 0) {
            snprintf(err, errlen, "bad reply from swarmd: %s", derr);
            return -1;
        }
        int t = cli_client_take(c, req, env, corr, sent, reply, code, err, errlen);
        if (t != 1) return t;
    }
    snprintf(err, errlen, "no answer from swarmd at %s within %d ms%s%s%s", c->endpoint, timeout_ms,
             zerr[0] ? " (" : "", zerr, zerr[0] ? ")" : "");
    cli_zmtp_reset(&c->z); /* a late reply must not answer the next request */
    return -1;
}

/* The request over the direct ZMTP connection (ipc://). */
static int cli_client_call_direct(cli_client *c, Swarm__Envelope *req, uint64_t corr, double sent,
                                  uint64_t deadline, int timeout_ms, Swarm__Envelope **reply,
                                  uint32_t *code, char *err, size_t errlen)
{
    uint64_t start = swarm_clock_ms();
    size_t len = protobuf_c_message_get_packed_size(&req->base);
    if (len > WIRE_MAX_MSG) {
        snprintf(err, errlen,
                 "send to swarmd at %s: message of %zu bytes exceeds the %d byte limit",
                 c->endpoint, len, WIRE_MAX_MSG);
        return -1;
    }
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        snprintf(err, errlen, "out of memory packing a %zu-byte request", len);
        return -1;
    }
    protobuf_c_message_pack(&req->base, buf);
    char zerr[512] = "";
    int rc = cli_zmtp_send(&c->z, buf, len, deadline, zerr, sizeof zerr);
    free(buf);
    if (rc != 0) {
        snprintf(err, errlen, "no answer from swarmd at %s within %d ms (%s)", c->endpoint,
                 timeout_ms, zerr);
        cli_zmtp_reset(&c->z);
        return -1;
    }
    return cli_client_recv_direct(c, req, corr, sent, start, deadline, timeout_ms, reply, code, err,
                                  errlen);
}

/* The answer to corr over the libzmq socket (req as cli_client_recv_direct). */
static int cli_client_recv_zmq(cli_client *c, const Swarm__Envelope *req, uint64_t corr,
                               double sent, uint64_t deadline, int timeout_ms,
                               Swarm__Envelope **reply, uint32_t *code, char *err, size_t errlen)
{
    for (;;) {
        uint64_t t = swarm_clock_ms();
        if (t >= deadline) break;
        zmq_pollitem_t it[2] = {{c->sock, 0, ZMQ_POLLIN, 0},
                                {curve_watch_socket(c->watch), 0, ZMQ_POLLIN, 0}};
        int pr = zmq_poll(it, c->watch ? 2 : 1, (long)(deadline - t));
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) break;
        if (c->watch && (it[1].revents & ZMQ_POLLIN) && curve_watch_failed(c->watch, err, errlen)) {
            zmq_close(c->sock);
            c->sock = NULL;
            return -1;
        }
        if (!(it[0].revents & ZMQ_POLLIN)) continue;
        Swarm__Envelope *env = NULL;
        char derr[256] = "";
        int r = wire_recv(c->sock, false, NULL, NULL, &env, derr, sizeof(derr));
        if (r == 1) continue;
        if (r < 0) {
            snprintf(err, errlen, "bad reply from swarmd: %s", derr);
            return -1;
        }
        int took = cli_client_take(c, req, env, corr, sent, reply, code, err, errlen);
        if (took != 1) return took;
    }
    snprintf(err, errlen, "no answer from swarmd at %s within %d ms", c->endpoint, timeout_ms);
    zmq_close(c->sock);
    c->sock = NULL;
    return -1;
}

int cli_client_call(cli_client *c, Swarm__Envelope *req, int timeout_ms, Swarm__Envelope **reply,
                    uint32_t *code, char *err, size_t errlen)
{
    *reply = NULL;
    if (code) *code = 0;
    uint64_t corr = ++c->corr;
    wire_envelope_stamp(req, c->sender, corr); /* keeps the payload the caller set */
    uint64_t deadline = swarm_clock_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    if (c->direct) {
        /* connection setup (after a restart, a reset) is not part of the
         * exchange SWARM_TIMING reports: libzmq too connects before sending */
        char zerr[512];
        if (cli_zmtp_ready(&c->z, deadline, zerr, sizeof zerr) != 0) {
            snprintf(err, errlen, "no answer from swarmd at %s: %s", c->endpoint, zerr);
            return -1;
        }
    }
    double sent = c->timing ? swarm_clock_sec() : 0;
    if (c->timing && !c->submitted &&
        (req->payload_case == SWARM__ENVELOPE__PAYLOAD_SUBMIT ||
         req->payload_case == SWARM__ENVELOPE__PAYLOAD_SUBMIT_BEGIN))
        c->submitted = sent;
    if (c->direct)
        return cli_client_call_direct(c, req, corr, sent, deadline, timeout_ms, reply, code, err,
                                      errlen);
    if (!c->sock && cli_client_socket(c, err, errlen) != 0) return -1;
    char werr[200];
    if (wire_send(c->sock, NULL, 0, req, WIRE_SEND_DONTWAIT, werr, sizeof werr) != 0) {
        snprintf(err, errlen, "send to swarmd at %s: %s", c->endpoint,
                 errno == EMSGSIZE ? werr : zmq_strerror(errno));
        return -1;
    }
    return cli_client_recv_zmq(c, req, corr, sent, deadline, timeout_ms, reply, code, err, errlen);
}

int cli_client_await(cli_client *c, uint64_t corr, int timeout_ms, Swarm__Envelope **reply,
                     uint32_t *code, char *err, size_t errlen)
{
    *reply = NULL;
    if (code) *code = 0;
    uint64_t start = swarm_clock_ms();
    uint64_t deadline = start + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    double sent = c->timing ? swarm_clock_sec() : 0;
    if (c->direct)
        return cli_client_recv_direct(c, NULL, corr, sent, start, deadline, timeout_ms, reply, code,
                                      err, errlen);
    if (!c->sock) {
        snprintf(err, errlen, "no answer from swarmd at %s: not connected", c->endpoint);
        return -1;
    }
    return cli_client_recv_zmq(c, NULL, corr, sent, deadline, timeout_ms, reply, code, err, errlen);
}

static int cli_client_status_at(cli_client *c, const char *job_id, bool with_result,
                                bool with_tasks, uint64_t offset, uint32_t wait_ms, int timeout_ms,
                                Swarm__Envelope **reply, uint32_t *code, char *err, size_t errlen);

int cli_client_status_wait(cli_client *c, const char *job_id, uint32_t wait_ms, int timeout_ms,
                           Swarm__Envelope **reply, uint32_t *code, char *err, size_t errlen)
{
    return cli_client_status_at(c, job_id, false, false, 0, wait_ms, timeout_ms + (int)wait_ms,
                                reply, code, err, errlen);
}

int cli_client_status(cli_client *c, const char *job_id, bool with_result, bool with_tasks,
                      int timeout_ms, Swarm__Envelope **reply, uint32_t *code, char *err,
                      size_t errlen)
{
    return cli_client_status_at(c, job_id, with_result, with_tasks, 0, 0, timeout_ms, reply, code,
                                err, errlen);
}

int cli_client_status_wait_result(cli_client *c, const char *job_id, uint32_t wait_ms,
                                  int timeout_ms, Swarm__Envelope **reply, uint32_t *code,
                                  char *err, size_t errlen)
{
    return cli_client_status_at(c, job_id, true, false, 0, wait_ms, timeout_ms + (int)wait_ms,
                                reply, code, err, errlen);
}

/* Append one page (j->result_json) to *buf; the first page fixes the size. */
static int cli_result_append(const char *job_id, const Swarm__JobStatus *j, char **buf,
                             size_t *have, uint64_t *size, char *err, size_t errlen)
{
    size_t n = strlen(j->result_json);
    if (!*buf) {
        *size = j->result_size;
        *buf = malloc(*size + 1);
        if (!*buf) {
            snprintf(err, errlen, "out of memory for a %llu-byte result",
                     (unsigned long long)*size);
            return -1;
        }
    }
    if (j->result_size != *size || n == 0 || *have + n > *size) {
        snprintf(err, errlen, "job %s: result changed while it was read", job_id);
        return -1;
    }
    memcpy(*buf + *have, j->result_json, n);
    *have += n;
    return 0;
}

int cli_client_result_from(cli_client *c, const char *job_id, const Swarm__JobStatus *first,
                           int timeout_ms, char **out, size_t *len, char *state, size_t state_len,
                           uint32_t *code, char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    char *buf = NULL;
    size_t have = 0;
    uint64_t size = 0;
    /* a page already in hand (the pushed end of `swarm run`): no request for it */
    if (first && first->result_size && first->result_json && first->result_json[0]) {
        if (cli_result_append(job_id, first, &buf, &have, &size, err, errlen) != 0) {
            free(buf);
            return -1;
        }
    }
    while (!buf || have < size) {
        Swarm__Envelope *reply = NULL;
        int rc = cli_client_status_at(c, job_id, true, false, have, 0, timeout_ms, &reply, code,
                                      err, errlen);
        if (rc != 0) {
            free(buf);
            return rc;
        }
        if (reply->status->n_jobs < 1) {
            snprintf(err, errlen, "swarmd does not know job %s", job_id);
            wire_free(reply);
            free(buf);
            return -1;
        }
        const Swarm__JobStatus *j = reply->status->jobs[0];
        if (state) snprintf(state, state_len, "%s", j->state);
        if (!j->result_size) {
            wire_free(reply);
            free(buf);
            return 1;
        }
        int arc = cli_result_append(job_id, j, &buf, &have, &size, err, errlen);
        wire_free(reply);
        if (arc != 0) {
            free(buf);
            return -1;
        }
    }
    buf[have] = 0;
    *out = buf;
    *len = have;
    return 0;
}

int cli_client_result(cli_client *c, const char *job_id, int timeout_ms, char **out, size_t *len,
                      char *state, size_t state_len, uint32_t *code, char *err, size_t errlen)
{
    return cli_client_result_from(c, job_id, NULL, timeout_ms, out, len, state, state_len, code,
                                  err, errlen);
}

static int cli_client_status_at(cli_client *c, const char *job_id, bool with_result,
                                bool with_tasks, uint64_t offset, uint32_t wait_ms, int timeout_ms,
                                Swarm__Envelope **reply, uint32_t *code, char *err, size_t errlen)
{
    Swarm__Envelope env = SWARM__ENVELOPE__INIT;
    Swarm__Status st = SWARM__STATUS__INIT;
    st.result_offset = offset;
    st.wait_ms = wait_ms;
    char *ids[1] = {(char *)job_id};
    if (job_id) {
        st.n_job_ids = 1;
        st.job_ids = ids;
    }
    st.with_result = with_result;
    st.with_tasks = with_tasks;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_STATUS;
    env.status = &st;
    int rc = cli_client_call(c, &env, timeout_ms, reply, code, err, errlen);
    if (rc == 0 && (*reply)->payload_case != SWARM__ENVELOPE__PAYLOAD_STATUS) {
        snprintf(err, errlen, "swarmd answered Status with payload %d",
                 (int)(*reply)->payload_case);
        wire_free(*reply);
        *reply = NULL;
        return -1;
    }
    return rc;
}
