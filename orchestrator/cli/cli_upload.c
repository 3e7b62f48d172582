/* cli_upload.c - sends a job's long fanout.items list to swarmd in chunks.
 *
 * The job text is never parsed into a tree: a small scanner finds the items
 * array and the boundaries of its elements, and each chunk is the original
 * text of a run of elements wrapped in [ ], so swarmd checks the very bytes
 * of the file (UTF-8, \u0000 escapes) as it does for a whole Submit, and the
 * CLI holds the file and one chunk. Each part waits for its answer (swarmd
 * stores a chunk's tasks before acknowledging it), which paces the upload to
 * what Redis takes. */
#include "cli_upload.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCAN_MAX_DEPTH 512

static const char *scan_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at '"': just past the closing quote, or NULL. */
static const char *scan_string(const char *p, const char *e)
{
    for (p++; p < e; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Just past the value at p (strings, nesting and literals), or NULL. */
static const char *scan_value(const char *p, const char *e)
{
    if (p >= e) return NULL;
    if (*p == '"') return scan_string(p, e);
    if (*p != '{' && *p != '[') {
        const char *q = p;
        while (q < e && !strchr(",]} \t\r\n", *q))
            q++;
        return q > p ? q : NULL;
    }
    int depth = 0;
    while (p < e) {
        if (*p == '"') {
            if (!(p = scan_string(p, e))) return NULL;
            continue;
        }
        if (*p == '{' || *p == '[') {
            if (++depth > SCAN_MAX_DEPTH) return NULL;
        } else if (*p == '}' || *p == ']') {
            if (--depth == 0) return p + 1;
        }
        p++;
    }
    return NULL;
}

/* In the object at p, the value of key (raw bytes, no escapes): its start,
 * or NULL. */
static const char *scan_member(const char *p, const char *e, const char *key)
{
    p = scan_ws(p, e);
    if (p >= e || *p != '{') return NULL;
    p = scan_ws(p + 1, e);
    size_t klen = strlen(key);
    while (p < e && *p == '"') {
        const char *k = p + 1, *kend = scan_string(p, e);
        if (!kend) return NULL;
        p = scan_ws(kend, e);
        if (p >= e || *p != ':') return NULL;
        const char *v = scan_ws(p + 1, e);
        if ((size_t)(kend - 1 - k) == klen && memcmp(k, key, klen) == 0) return v;
        if (!(p = scan_value(v, e))) return NULL;
        p = scan_ws(p, e);
        if (p < e && *p == ',') p = scan_ws(p + 1, e);
    }
    return NULL;
}

int cli_upload_find_items(const char *text, size_t len, size_t *start, size_t *end)
{
    const char *e = text + len;
    const char *fan = scan_member(text, e, "fanout");
    const char *items = fan ? scan_member(fan, e, "items") : NULL;
    const char *stop = items && *items == '[' ? scan_value(items, e) : NULL;
    if (!stop) return 0;
    *start = (size_t)(items - text);
    *end = (size_t)(stop - text);
    return 1;
}

char *cli_upload_header(const char *text, size_t len, size_t start, size_t end)
{
    char *h = malloc(len - (end - start) + 3);
    if (!h) return NULL;
    memcpy(h, text, start);
    memcpy(h + start, "[]", 2);
    memcpy(h + start + 2, text + end, len - end);
    h[len - (end - start) + 2] = 0;
    return h;
}

/* One part sent, its answer checked: 0 with *reply (a SubmitAck or Status). */
static int upload_call(cli_client *c, Swarm__Envelope *env, int timeout_ms, int want,
                       Swarm__Envelope **reply, char *err, size_t errlen)
{
    uint32_t code = 0;
    if (cli_client_call(c, env, timeout_ms, reply, &code, err, errlen) != 0) return -1;
    if ((int)(*reply)->payload_case != want) {
        snprintf(err, errlen, "swarmd answered an upload part with payload %d",
                 (int)(*reply)->payload_case);
        wire_free(*reply);
        *reply = NULL;
        return -1;
    }
    return 0;
}

/* Sends the elements [from, to) of the items text (a run of whole elements). */
static int upload_chunk(cli_client *c, const char *upload_id, uint64_t seq, const char *from,
                        const char *to, int timeout_ms, char *err, size_t errlen)
{
    size_t n = (size_t)(to - from);
    char *json = malloc(n + 3);
    if (!json) {
        snprintf(err, errlen, "out of memory for an upload chunk");
        return -1;
    }
    json[0] = '[';
    memcpy(json + 1, from, n);
    json[n + 1] = ']';
    json[n + 2] = 0;
    Swarm__Envelope env = SWARM__ENVELOPE__INIT, *reply = NULL;
    Swarm__SubmitChunk ch = SWARM__SUBMIT_CHUNK__INIT;
    ch.upload_id = (char *)upload_id;
    ch.seq = seq;
    ch.items_json = json;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_SUBMIT_CHUNK;
    env.submit_chunk = &ch;
    int rc =
        upload_call(c, &env, timeout_ms, SWARM__ENVELOPE__PAYLOAD_SUBMIT_ACK, &reply, err, errlen);
    free(json);
    if (rc == 0 && reply->submit_ack->next_seq != seq + 1) {
        snprintf(err, errlen, "swarmd acknowledged upload chunk %llu with next seq %llu",
                 (unsigned long long)seq, (unsigned long long)reply->submit_ack->next_seq);
        rc = -1;
    }
    wire_free(reply);
    return rc;
}

int cli_upload_job(cli_client *c, const char *text, size_t len, size_t start, size_t end,
                   const char *base_dir, int timeout_ms, char *job_id, size_t cap, uint32_t *total,
                   char *err, size_t errlen)
{
    const char *e = text + end - 1; /* the closing ']' */
    /* count the items first: SubmitBegin announces them */
    uint64_t count = 0;
    for (const char *p = scan_ws(text + start + 1, e); p < e;) {
        if (!(p = scan_value(p, e))) break;
        count++;
        p = scan_ws(p, e);
        if (p < e && *p == ',') p = scan_ws(p + 1, e);
    }
    char *header = cli_upload_header(text, len, start, end);
    if (!header) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    Swarm__Envelope env = SWARM__ENVELOPE__INIT, *reply = NULL;
    Swarm__SubmitBegin b = SWARM__SUBMIT_BEGIN__INIT;
    b.job_json = header;
    b.base_dir = (char *)base_dir;
    b.items_total = count;
    env.payload_case = SWARM__ENVELOPE__PAYLOAD_SUBMIT_BEGIN;
    env.submit_begin = &b;
    int rc =
        upload_call(c, &env, timeout_ms, SWARM__ENVELOPE__PAYLOAD_SUBMIT_ACK, &reply, err, errlen);
    free(header);
    if (rc != 0) return -1;
    char upload_id[64];
    snprintf(upload_id, sizeof upload_id, "%s", reply->submit_ack->upload_id);
    wire_free(reply);

    uint64_t seq = 0;
    const char *p = scan_ws(text + start + 1, e), *chunk = NULL, *last = NULL;
    size_t in_chunk = 0;
    while (p < e) {
        const char *q = scan_value(p, e);
        if (!q) break; /* malformed: swarmd refuses the chunk that holds it */
        if (chunk &&
            (in_chunk == CLI_UPLOAD_CHUNK_ITEMS || (size_t)(q - chunk) > CLI_UPLOAD_CHUNK_BYTES)) {
            if (upload_chunk(c, upload_id, seq++, chunk, last, timeout_ms, err, errlen)) return -1;
            chunk = NULL;
            in_chunk = 0;
        }
        if (!chunk) chunk = p;
        last = q;
        in_chunk++;
        p = scan_ws(q, e);
        if (p < e && *p == ',') p = scan_ws(p + 1, e);
    }
    if (chunk && upload_chunk(c, upload_id, seq++, chunk, last, timeout_ms, err, errlen)) return -1;

    Swarm__SubmitEnd end_part = SWARM__SUBMIT_END__INIT;
    Swarm__Envelope env2 = SWARM__ENVELOPE__INIT;
    end_part.upload_id = upload_id;
    end_part.chunks = seq;
    env2.payload_case = SWARM__ENVELOPE__PAYLOAD_SUBMIT_END;
    env2.submit_end = &end_part;
    if (upload_call(c, &env2, timeout_ms, SWARM__ENVELOPE__PAYLOAD_STATUS, &reply, err, errlen))
        return -1;
    return cli_submit_reply_job(reply, job_id, cap, total, err, errlen);
}

int cli_submit_reply_job(Swarm__Envelope *reply, char *job_id, size_t cap, uint32_t *total,
                         char *err, size_t errlen)
{
    if (reply->payload_case != SWARM__ENVELOPE__PAYLOAD_STATUS || reply->status->n_jobs < 1) {
        snprintf(err, errlen, "swarmd's reply holds no job");
        wire_free(reply);
        return -1;
    }
    snprintf(job_id, cap, "%s", reply->status->jobs[0]->job_id);
    if (total) *total = reply->status->jobs[0]->total;
    wire_free(reply);
    return 0;
}
