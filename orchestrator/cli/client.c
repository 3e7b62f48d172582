/* client.c - request/reply with swarmd over a DEALER socket.
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
    snprintf(c->endpoint, sizeof(c->endpoint), "%s", endpoint);
    snprintf(c->sender, sizeof(c->sender), "cli:%d", (int)getpid());
    c->corr = (uint64_t)time(NULL) << 20;
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
    if (c->sock) zmq_close(c->sock);
    curve_watch_close(c->watch);
    c->watch = NULL;
    if (c->ctx) zmq_ctx_term(c->ctx);
    c->sock = c->ctx = NULL;
}

int cli_client_call(cli_client *c, Swarm__Envelope *req, int timeout_ms, Swarm__Envelope **reply,
                    uint32_t *code, char *err, size_t errlen)
{
    *reply = NULL;
    if (code) *code = 0;
    if (!c->sock && cli_client_socket(c, err, errlen) != 0) return -1;
    uint64_t corr = ++c->corr;
    wire_envelope_stamp(req, c->sender, corr); /* keeps the payload the caller set */
    char werr[200];
    if (wire_send(c->sock, NULL, 0, req, WIRE_SEND_DONTWAIT, werr, sizeof werr) != 0) {
        snprintf(err, errlen, "send to swarmd at %s: %s", c->endpoint,
                 errno == EMSGSIZE ? werr : zmq_strerror(errno));
        return -1;
    }
    uint64_t deadline = swarm_clock_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
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
        if (env->correlation_id != corr) { /* answer to an older request */
            wire_free(env);
            continue;
        }
        if (env->payload_case == SWARM__ENVELOPE__PAYLOAD_ERROR) {
            snprintf(err, errlen, "%s", env->error->message);
            if (code) *code = env->error->code;
            wire_free(env);
            return -2;
        }
        *reply = env;
        return 0;
    }
    snprintf(err, errlen, "no answer from swarmd at %s within %d ms", c->endpoint, timeout_ms);
    zmq_close(c->sock);
    c->sock = NULL;
    return -1;
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

int cli_client_result(cli_client *c, const char *job_id, int timeout_ms, char **out, size_t *len,
                      char *state, size_t state_len, uint32_t *code, char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    char *buf = NULL;
    size_t have = 0;
    uint64_t size = 0;
    do {
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
        size_t n = strlen(j->result_json);
        if (!buf) {
            size = j->result_size;
            buf = malloc(size + 1);
            if (!buf) {
                snprintf(err, errlen, "out of memory for a %llu-byte result",
                         (unsigned long long)size);
                wire_free(reply);
                return -1;
            }
        }
        if (j->result_size != size || n == 0 || have + n > size) {
            snprintf(err, errlen, "job %s: result changed while it was read", job_id);
            wire_free(reply);
            free(buf);
            return -1;
        }
        memcpy(buf + have, j->result_json, n);
        have += n;
        wire_free(reply);
    } while (have < size);
    buf[have] = 0;
    *out = buf;
    *len = have;
    return 0;
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
