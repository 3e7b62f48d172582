/* test_wire.c - proto framing: every payload survives encode -> real ZeroMQ
 * sockets -> decode unchanged; garbage, truncated, wrong-version, empty and
 * multi-frame input is rejected with the right code and never crashes; every
 * truncation of a valid message and random bytes are handled. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "wire.h"
#include "../common/check.h"

static size_t pack(const Swarm__Envelope *env, uint8_t **out)
{
    size_t n = protobuf_c_message_get_packed_size(&env->base);
    *out = malloc(n ? n : 1);
    protobuf_c_message_pack(&env->base, *out);
    return n;
}

/* The envelope of each payload kind, with every field set to a non-default. */
static void fill(Swarm__Envelope *env, int kind, void *storage)
{
    wire_envelope_init(env, "sender-x", 1234567890123ull + (uint64_t)kind);
    static char *ids[2] = {"j-1", "j-2"};
    switch (kind) {
    case SWARM__ENVELOPE__PAYLOAD_REGISTER: {
        Swarm__Register *r = storage;
        swarm__register__init(r);
        r->worker_id = "w-1";
        r->hostname = "host";
        r->pid = 42;
        r->model = "m.gguf";
        r->slots = 4;
        r->mem_bytes = 1ull << 40;
        r->version = "0.1";
        r->heartbeat_ms = 1000;
        env->register_ = r;
        break;
    }
    case SWARM__ENVELOPE__PAYLOAD_HEARTBEAT: {
        Swarm__Heartbeat *h = storage;
        static Swarm__TaskRef t;
        static Swarm__TaskRef *tp[1] = {&t};
        swarm__heartbeat__init(h);
        swarm__task_ref__init(&t);
        t.job_id = "j-1";
        t.task_id = "t0001";
        t.attempt = 3;
        h->worker_id = "w-1";
        h->running = tp;
        h->n_running = 1;
        h->free_slots = 2;
        env->heartbeat = h;
        break;
    }
    case SWARM__ENVELOPE__PAYLOAD_CREDIT: {
        Swarm__Credit *c = storage;
        swarm__credit__init(c);
        c->slots = 7;
        env->credit = c;
        break;
    }
    case SWARM__ENVELOPE__PAYLOAD_ASSIGN: {
        Swarm__Assign *a = storage;
        swarm__assign__init(a);
        a->job_id = "j-1";
        a->task_id = "t0002";
        a->attempt = 2;
        a->goal = "goal";
        a->instructions = "do {item}";
        a->input = "in\xc3\xa9";
        a->max_tokens = 24;
        a->temperature = 0.5f;
        a->seed = 99;
        a->lease_ms = 5000;
        env->assign = a;
        break;
    }
    case SWARM__ENVELOPE__PAYLOAD_PROGRESS: {
        Swarm__Progress *p = storage;
        swarm__progress__init(p);
        p->job_id = "j-1";
        p->task_id = "t0003";
        p->attempt = 1;
        p->tokens = 12;
        p->text_tail = "tail";
        env->progress = p;
        break;
    }
    case SWARM__ENVELOPE__PAYLOAD_RESULT: {
        Swarm__Result *r = storage;
        swarm__result__init(r);
        r->job_id = "j-1";
        r->task_id = "t0004";
        r->attempt = 1;
        r->ok = true;
        r->output = "output text";
        r->error = "none";
        r->tokens = 24;
        r->elapsed_ms = 321;
        env->result = r;
        break;
    }
    case SWARM__ENVELOPE__PAYLOAD_CANCEL: {
        Swarm__Cancel *c = storage;
        swarm__cancel__init(c);
        c->job_id = "j-1";
        c->task_id = "t0005";
        c->attempt = 4;
        env->cancel = c;
        break;
    }
    case SWARM__ENVELOPE__PAYLOAD_SUBMIT: {
        Swarm__Submit *s = storage;
        swarm__submit__init(s);
        s->job_json = "{\"goal\":\"g\"}";
        s->base_dir = "/tmp";
        env->submit = s;
        break;
    }
    case SWARM__ENVELOPE__PAYLOAD_STATUS: {
        Swarm__Status *s = storage;
        static Swarm__JobStatus j;
        static Swarm__JobStatus *jp[1] = {&j};
        static Swarm__Counter c;
        static Swarm__Counter *cp[1] = {&c};
        swarm__status__init(s);
        swarm__job_status__init(&j);
        swarm__counter__init(&c);
        j.job_id = "j-1";
        j.state = "done";
        j.total = 5;
        j.done = 5;
        j.result_json = "{}";
        c.name = "client.bad_parse";
        c.value = 3;
        s->job_ids = ids;
        s->n_job_ids = 2;
        s->with_result = true;
        s->jobs = jp;
        s->n_jobs = 1;
        s->counters = cp;
        s->n_counters = 1;
        env->status = s;
        break;
    }
    case SWARM__ENVELOPE__PAYLOAD_ERROR: {
        Swarm__Error *e = storage;
        swarm__error__init(e);
        e->code = WIRE_E_BAD_REQUEST;
        e->message = "bad";
        env->error = e;
        break;
    }
    }
    env->payload_case = (Swarm__Envelope__PayloadCase)kind;
}

static const int kinds[] = {
    SWARM__ENVELOPE__PAYLOAD_REGISTER, SWARM__ENVELOPE__PAYLOAD_HEARTBEAT,
    SWARM__ENVELOPE__PAYLOAD_CREDIT,   SWARM__ENVELOPE__PAYLOAD_ASSIGN,
    SWARM__ENVELOPE__PAYLOAD_PROGRESS, SWARM__ENVELOPE__PAYLOAD_RESULT,
    SWARM__ENVELOPE__PAYLOAD_CANCEL,   SWARM__ENVELOPE__PAYLOAD_SUBMIT,
    SWARM__ENVELOPE__PAYLOAD_STATUS,   SWARM__ENVELOPE__PAYLOAD_ERROR,
};

/* Packed bytes equal after a decode/re-encode: every field survived. */
static void test_roundtrip(void)
{
    union {
        Swarm__Register a;
        Swarm__Heartbeat b;
        Swarm__Assign c;
        Swarm__Result d;
        Swarm__Status e;
        Swarm__Submit f;
    } storage;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        Swarm__Envelope env;
        fill(&env, kinds[i], &storage);
        uint8_t *buf;
        size_t n = pack(&env, &buf);
        Swarm__Envelope *out = NULL;
        char err[200];
        CHECK(wire_decode(buf, n, &out, err, sizeof err) == 0);
        if (out) {
            CHECK(out->payload_case == (Swarm__Envelope__PayloadCase)kinds[i]);
            CHECK(out->version == WIRE_VERSION);
            CHECK(!strcmp(out->sender, "sender-x"));
            CHECK(out->correlation_id == 1234567890123ull + (uint64_t)kinds[i]);
            uint8_t *again;
            size_t m = pack(out, &again);
            CHECK(m == n && memcmp(buf, again, n) == 0);
            free(again);
        }
        wire_free(out);
        free(buf);
    }
}

static void test_decode_errors(void)
{
    Swarm__Envelope *out = (Swarm__Envelope *)1;
    char err[200];
    CHECK(wire_decode("", 0, &out, err, sizeof err) == -WIRE_E_PARSE && out == NULL);
    CHECK(wire_decode("\xff\xff\xff\xff", 4, &out, err, sizeof err) == -WIRE_E_PARSE);
    CHECK(strstr(err, "does not parse") != NULL);

    Swarm__Envelope env;
    Swarm__Result r;
    fill(&env, SWARM__ENVELOPE__PAYLOAD_RESULT, &r);
    env.version = 2;
    uint8_t *buf;
    size_t n = pack(&env, &buf);
    CHECK(wire_decode(buf, n, &out, err, sizeof err) == -WIRE_E_VERSION && out == NULL);
    CHECK(strstr(err, "version 2") != NULL);
    free(buf);

    Swarm__Envelope empty;
    wire_envelope_init(&empty, "x", 1);
    n = pack(&empty, &buf);
    CHECK(wire_decode(buf, n, &out, err, sizeof err) == -WIRE_E_EMPTY && out == NULL);
    free(buf);

    /* Every truncation of a valid message: rejected or a valid prefix, never a crash. */
    env.version = WIRE_VERSION;
    n = pack(&env, &buf);
    int rejected = 0;
    for (size_t cut = 0; cut < n; cut++) {
        int rc = wire_decode(buf, cut, &out, err, sizeof err);
        if (rc < 0) rejected++;
        CHECK((rc == 0) == (out != NULL));
        wire_free(out);
    }
    CHECK(rejected >= (int)n / 2); /* most prefixes cut a field */
    free(buf);

    /* Random bytes (fixed seed): no crash, consistent results. */
    unsigned seed = 12345;
    uint8_t junk[256];
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)(rand_r(&seed) % sizeof junk);
        for (size_t i = 0; i < len; i++)
            junk[i] = (uint8_t)rand_r(&seed);
        int rc = wire_decode(junk, len, &out, err, sizeof err);
        CHECK(rc == 0 || rc == -WIRE_E_PARSE || rc == -WIRE_E_VERSION || rc == -WIRE_E_EMPTY);
        CHECK((rc == 0) == (out != NULL));
        wire_free(out);
    }
}

/* Over real sockets: ROUTER <-> DEALER, framing errors consume the whole message. */
static void test_sockets(void)
{
    void *ctx = zmq_ctx_new();
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    void *dealer = zmq_socket(ctx, ZMQ_DEALER);
    CHECK(wire_socket_setup(router, true) == 0);
    CHECK(wire_socket_setup(dealer, false) == 0);
    int64_t maxmsg = 0;
    size_t ml = sizeof maxmsg;
    zmq_getsockopt(router, ZMQ_MAXMSGSIZE, &maxmsg, &ml);
    CHECK(maxmsg == WIRE_MAX_MSG);
    CHECK(zmq_bind(router, "inproc://wire-test") == 0);
    CHECK(zmq_connect(dealer, "inproc://wire-test") == 0);
    uint8_t id[WIRE_MAX_IDENTITY];
    size_t id_len = 0;
    Swarm__Envelope *out = NULL;
    char err[200];
    CHECK(wire_recv(router, true, id, &id_len, &out, err, sizeof err) == 1); /* nothing yet */

    Swarm__Envelope env;
    Swarm__Progress p;
    fill(&env, SWARM__ENVELOPE__PAYLOAD_PROGRESS, &p);
    /* a 3-frame message first, then a good one: the bad one is consumed whole */
    zmq_send(dealer, "a", 1, ZMQ_SNDMORE);
    zmq_send(dealer, "b", 1, ZMQ_SNDMORE);
    zmq_send(dealer, "c", 1, 0);
    CHECK(wire_send(dealer, NULL, 0, &env, 0, err, sizeof err) == 0);
    int rc;
    zmq_pollitem_t it = {router, 0, ZMQ_POLLIN, 0};
    zmq_poll(&it, 1, 1000);
    rc = wire_recv(router, true, id, &id_len, &out, err, sizeof err);
    CHECK(rc == -WIRE_E_FRAMES && id_len > 0 && out == NULL);
    zmq_poll(&it, 1, 1000);
    rc = wire_recv(router, true, id, &id_len, &out, err, sizeof err);
    CHECK(rc == 0 && out && out->payload_case == SWARM__ENVELOPE__PAYLOAD_PROGRESS);
    if (out) CHECK(out->progress->tokens == 12 && !strcmp(out->progress->task_id, "t0003"));
    wire_free(out);

    /* reply to that identity; an unknown identity is an error, not silence */
    CHECK(wire_send_error(router, id, id_len, "swarmd", 77, WIRE_E_PARSE, "nope") == 0);
    zmq_pollitem_t dt = {dealer, 0, ZMQ_POLLIN, 0};
    zmq_poll(&dt, 1, 1000);
    rc = wire_recv(dealer, false, NULL, NULL, &out, err, sizeof err);
    CHECK(rc == 0 && out && out->payload_case == SWARM__ENVELOPE__PAYLOAD_ERROR);
    if (out) CHECK(out->correlation_id == 77 && out->error->code == WIRE_E_PARSE);
    wire_free(out);
    CHECK(wire_send(router, "nobody", 6, &env, 0, err, sizeof err) == -1);

    /* stamping keeps the payload; the size limit holds on DEALER sends too */
    Swarm__Envelope big;
    Swarm__Result br;
    fill(&big, SWARM__ENVELOPE__PAYLOAD_RESULT, &br);
    size_t blen = (size_t)WIRE_MAX_MSG + 16;
    char *huge = malloc(blen + 1);
    CHECK(huge != NULL);
    if (huge) {
        memset(huge, 'x', blen);
        huge[blen] = 0;
        br.output = huge;
        wire_envelope_stamp(&big, "stamped", 991);
        CHECK(big.payload_case == SWARM__ENVELOPE__PAYLOAD_RESULT && big.result == &br);
        CHECK(big.version == WIRE_VERSION && big.correlation_id == 991);
        CHECK_STR(big.sender, "stamped");
        errno = 0;
        CHECK(wire_send(dealer, NULL, 0, &big, WIRE_SEND_DONTWAIT, err, sizeof err) == -1);
        CHECK(errno == EMSGSIZE);
        CHECK_CONTAINS(err, "exceeds");
        free(huge);
    }

    zmq_close(dealer);
    zmq_close(router);
    zmq_ctx_term(ctx);
}

int main(void)
{
    test_roundtrip();
    test_decode_errors();
    test_sockets();
    if (check_fail_count) {
        fprintf(stderr, "%d check(s) failed\n", check_fail_count);
        return 1;
    }
    printf("test_wire: all checks passed\n");
    return 0;
}
