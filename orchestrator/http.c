/* http.c - swarmd's HTTP server, the MHD threads' side: routing, auth,
 * embedded static files, the hand-over of API requests to the loop, and the
 * server-sent event stream.
 *
 * MHD runs a thread per connection, so a handler may block: an API request
 * is queued under mu, the loop is woken with uv_async_send (made while mu is
 * held and closing is false, so the async handle is known to be open), and
 * the handler waits on cv until the loop answers or HTTP_REQ_TIMEOUT_MS
 * passes. An SSE stream is an MHD callback response whose reader blocks on
 * cv for the next event of the ring, sending a comment every 10 s so
 * proxies and dead peers are noticed. */
#include "http_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "swarmd.h"

#define HTTP_SSE_PING_S 10
#define HTTP_MAX_CONNECTIONS 128

/* ---- any thread ---- */

static void req_unref_locked(http_req *r)
{
    if (--r->refs == 0) {
        free(r->body);
        free(r);
    }
}

void http_req_finish(http_req *r, unsigned status, const char *ctype, char *body)
{
    swarmd_http *h = r->h;
    pthread_mutex_lock(&h->mu);
    if (r->done) {
        free(body);
    } else {
        r->done = true;
        r->status = status;
        r->ctype = ctype;
        r->body = body;
    }
    req_unref_locked(r);
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

static char *json_error(const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

void http_req_error(http_req *r, unsigned status, const char *msg)
{
    http_req_finish(r, status, "application/json", json_error(msg));
}

void http_event_push(swarmd_http *h, const char *name, const char *json)
{
    pthread_mutex_lock(&h->mu);
    if (h->subscribers > 0 && !h->closing) {
        size_t n = strlen(name) + strlen(json) + 64;
        char *text = malloc(n);
        if (text) {
            snprintf(text, n, "id: %llu\nevent: %s\ndata: %s\n\n", (unsigned long long)h->seq_next,
                     name, json);
            char **slot = &h->ring[h->seq_next % HTTP_RING_CAP];
            free(*slot);
            *slot = text;
            h->seq_next++;
            pthread_cond_broadcast(&h->cv);
        }
    }
    pthread_mutex_unlock(&h->mu);
}

int http_subscribers(swarmd_http *h)
{
    pthread_mutex_lock(&h->mu);
    int n = h->subscribers;
    pthread_mutex_unlock(&h->mu);
    return n;
}

/* ---- MHD threads ---- */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *ctype,
                               char *body, bool owned)
{
    if (!body) return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(body), body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (owned) free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"swarmd\"");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result respond_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return respond(c, status, "application/json", json_error(msg), true);
}

/* Constant time in the token's length: the comparison leaks no prefix. */
static bool token_equal(const char *given, const char *want)
{
    size_t gl = strlen(given), wl = strlen(want);
    unsigned char diff = gl != wl;
    for (size_t i = 0; i < wl; i++)
        diff |= (unsigned char)(want[i] ^ (i < gl ? given[i] : 0));
    return diff == 0;
}

static bool authorized(swarmd_http *h, struct MHD_Connection *c, bool allow_query)
{
    if (!h->token[0]) return true;
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (a && strncasecmp(a, "Bearer ", 7) == 0) {
        a += 7;
        while (*a == ' ')
            a++;
        return token_equal(a, h->token);
    }
    /* EventSource cannot set headers: the stream alone takes ?token= */
    const char *q =
        allow_query ? MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token") : NULL;
    return q && token_equal(q, h->token);
}

static bool job_id_ok(const char *s, size_t n)
{
    if (n == 0 || n >= 64) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return false;
    }
    return true;
}

/* Queue r for the loop and wait for its answer. */
static enum MHD_Result api_call(swarmd_http *h, struct MHD_Connection *c, http_req_kind kind,
                                const char *job, size_t job_len)
{
    http_req *r = calloc(1, sizeof *r);
    if (!r) return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    r->h = h;
    r->kind = kind;
    r->refs = 2;
    if (job) memcpy(r->job_id, job, job_len);
    pthread_mutex_lock(&h->mu);
    if (h->closing) {
        pthread_mutex_unlock(&h->mu);
        free(r);
        return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "swarmd is shutting down");
    }
    if (h->q_tail)
        h->q_tail->next = r;
    else
        h->q_head = r;
    h->q_tail = r;
    uv_async_send(&h->async);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += HTTP_REQ_TIMEOUT_MS / 1000;
    int wrc = 0;
    while (!r->done && wrc != ETIMEDOUT)
        wrc = pthread_cond_timedwait(&h->cv, &h->mu, &until);
    unsigned status = MHD_HTTP_SERVICE_UNAVAILABLE;
    const char *ctype = "application/json";
    char *body = NULL;
    if (r->done) {
        status = r->status;
        ctype = r->ctype;
        body = r->body;
        r->body = NULL;
    } else {
        r->done = true; /* the loop's late answer is dropped */
    }
    req_unref_locked(r);
    pthread_mutex_unlock(&h->mu);
    if (!body) return respond_error(c, status, "swarmd did not answer in time (busy or stopping)");
    return respond(c, status, ctype, body, true);
}

/* ---- server-sent events ---- */

typedef struct sse_sub {
    swarmd_http *h;
    uint64_t next; /* the next event to send */
    char *pending; /* the event being sent */
    size_t off, len;
} sse_sub;

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sse_sub *s = cls;
    swarmd_http *h = s->h;
    (void)pos;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        if (s->pending && s->off < s->len) {
            size_t n = s->len - s->off < max ? s->len - s->off : max;
            memcpy(buf, s->pending + s->off, n);
            s->off += n;
            pthread_mutex_unlock(&h->mu);
            return (ssize_t)n;
        }
        free(s->pending);
        s->pending = NULL;
        if (h->closing) {
            pthread_mutex_unlock(&h->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (s->next < h->seq_next) {
            if (h->seq_next - s->next > HTTP_RING_CAP) {
                /* too slow: skip to the oldest kept event and say so */
                s->next = h->seq_next - HTTP_RING_CAP;
                s->pending = strdup(": events were dropped for this slow reader\n\n");
            } else {
                s->pending = strdup(h->ring[s->next % HTTP_RING_CAP]);
                s->next++;
            }
            s->off = 0;
            s->len = s->pending ? strlen(s->pending) : 0;
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += HTTP_SSE_PING_S;
        if (pthread_cond_timedwait(&h->cv, &h->mu, &until) == ETIMEDOUT && !h->closing &&
            s->next == h->seq_next) {
            s->pending = strdup(": ping\n\n");
            s->off = 0;
            s->len = s->pending ? strlen(s->pending) : 0;
        }
    }
}

static void sse_free(void *cls)
{
    sse_sub *s = cls;
    pthread_mutex_lock(&s->h->mu);
    s->h->subscribers--;
    pthread_mutex_unlock(&s->h->mu);
    free(s->pending);
    free(s);
}

static enum MHD_Result sse_start(swarmd_http *h, struct MHD_Connection *c)
{
    sse_sub *s = calloc(1, sizeof *s);
    if (!s) return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    s->h = h;
    /* the page reconnects after 2 s; it reads current state from the API */
    s->pending = strdup("retry: 2000\n: swarmd events\n\n");
    s->len = s->pending ? strlen(s->pending) : 0;
    pthread_mutex_lock(&h->mu);
    if (h->closing) {
        pthread_mutex_unlock(&h->mu);
        free(s->pending);
        free(s);
        return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "swarmd is shutting down");
    }
    s->next = h->seq_next;
    h->subscribers++;
    pthread_mutex_unlock(&h->mu);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_free);
    if (!r) {
        sse_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- routing ---- */

static enum MHD_Result route(swarmd_http *h, struct MHD_Connection *c, const char *url,
                             const char *method)
{
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    if (strncmp(url, "/api/", 5) != 0 && strcmp(url, "/metrics") != 0) {
        const char *path = strcmp(url, "/") == 0 ? "/index.html" : url;
        for (size_t i = 0; i < swarmd_web_assets_count; i++) {
            const swarmd_web_asset *a = &swarmd_web_assets[i];
            if (strcmp(a->path, path) != 0) continue;
            if (!get) return respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
            struct MHD_Response *r =
                MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
            if (!r) return MHD_NO;
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->ctype);
            enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
            MHD_destroy_response(r);
            return ret;
        }
        return respond_error(c, MHD_HTTP_NOT_FOUND, "no such page");
    }
    bool events = strcmp(url, "/api/events") == 0;
    if (!authorized(h, c, events))
        return respond_error(c, MHD_HTTP_UNAUTHORIZED,
                             "this swarmd wants an API token: send Authorization: Bearer TOKEN "
                             "(the token swarmd was started with, --http-token or "
                             "--http-token-file)");
    if (strcmp(url, "/metrics") == 0) {
        if (!get) return respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
        return api_call(h, c, HTTP_REQ_METRICS, NULL, 0);
    }
    if (events) {
        if (!get) return respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
        return sse_start(h, c);
    }
    if (strcmp(url, "/api/jobs") == 0 || strcmp(url, "/api/workers") == 0) {
        if (!get) return respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
        return api_call(h, c, url[5] == 'j' ? HTTP_REQ_JOBS : HTTP_REQ_WORKERS, NULL, 0);
    }
    if (strncmp(url, "/api/jobs/", 10) == 0) {
        const char *id = url + 10, *slash = strchr(id, '/');
        size_t n = slash ? (size_t)(slash - id) : strlen(id);
        if (!job_id_ok(id, n)) return respond_error(c, MHD_HTTP_NOT_FOUND, "no such job id");
        if (!slash) {
            if (!get) return respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
            return api_call(h, c, HTTP_REQ_JOB, id, n);
        }
        if (strcmp(slash, "/cancel") == 0) {
            if (!post) return respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
            return api_call(h, c, HTTP_REQ_CANCEL, id, n);
        }
    }
    return respond_error(c, MHD_HTTP_NOT_FOUND, "no such API path");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    if (!*con_cls) {
        *con_cls = cls; /* any non-NULL marker: the headers were read */
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0; /* no endpoint reads a body */
        return MHD_YES;
    }
    return route(cls, c, url, method);
}

/* ---- lifecycle (loop thread) ---- */

static int parse_addr(const char *addr, struct sockaddr_storage *ss, bool *v6, char *err,
                      size_t errlen)
{
    char host[128] = "127.0.0.1";
    const char *port = addr;
    memset(ss, 0, sizeof *ss);
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':' || (size_t)(end - addr - 1) >= sizeof host) goto bad;
        memcpy(host, addr + 1, (size_t)(end - addr - 1));
        host[end - addr - 1] = 0;
        port = end + 2;
    } else if (strchr(addr, ':')) {
        const char *colon = strrchr(addr, ':');
        if ((size_t)(colon - addr) >= sizeof host) goto bad;
        if (colon > addr) {
            memcpy(host, addr, (size_t)(colon - addr));
            host[colon - addr] = 0;
        }
        port = colon + 1;
    }
    char *end = NULL;
    errno = 0;
    unsigned long p = strtoul(port, &end, 10);
    if (!*port || *end || errno || p > 65535) goto bad;
    if (!strcmp(host, "localhost")) snprintf(host, sizeof host, "127.0.0.1");
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)p);
        *v6 = false;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)p);
        *v6 = true;
        return 0;
    }
bad:
    snprintf(err, errlen,
             "--http \"%s\": expected PORT, HOST:PORT or [IPV6]:PORT with a numeric host "
             "(e.g. 127.0.0.1:8080)",
             addr);
    return -1;
}

int swarmd_http_token_read(const char *path, char *out, size_t cap, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "--http-token-file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[512] = "";
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    fclose(f);
    line[strcspn(line, "\r\n")] = 0;
    if (!line[0] || strlen(line) >= cap) {
        snprintf(err, errlen,
                 "--http-token-file %s: the first line must hold a token (1-%zu bytes)", path,
                 cap - 1);
        return -1;
    }
    snprintf(out, cap, "%s", line);
    return 0;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    swarmd *d = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = 0;
    /* MHD logs from its own threads: stderr, not swarmd's log FILE */
    (void)d;
    fprintf(stderr, "swarmd: http: %s\n", msg);
}

int swarmd_http_start(swarmd *d, const char *addr, const char *token, swarmd_http **out, char *err,
                      size_t errlen)
{
    struct sockaddr_storage ss;
    bool v6 = false;
    *out = NULL;
    if (parse_addr(addr, &ss, &v6, err, errlen) != 0) return -1;
    if (token && strlen(token) >= sizeof((swarmd_http *)0)->token) {
        snprintf(err, errlen, "--http-token: longer than 255 bytes");
        return -1;
    }
    swarmd_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    h->d = d;
    snprintf(h->token, sizeof h->token, "%s", token ? token : "");
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    if (http_loop_init(h, err, errlen) != 0) {
        swarmd_http_free(h);
        return -1;
    }
    uv_async_init(&d->loop, &h->async, http_loop_async_cb);
    uv_timer_init(&d->loop, &h->timer);
    h->async.data = h->timer.data = h;
    h->handles = true;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    /* the logger first: MHD reports options it parses before it with its own */
    h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
                              mhd_log, d, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (!h->mhd) {
        snprintf(err, errlen,
                 "--http %s: cannot listen there (in use, or not an address of "
                 "this host?)",
                 addr);
        pthread_mutex_lock(&h->mu);
        h->closing = true;
        pthread_mutex_unlock(&h->mu);
        *out = h; /* its handles are on the loop: freed with swarmd_http_free */
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info ? info->port : 0;
    char host[INET6_ADDRSTRLEN] = "?";
    if (v6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
    snprintf(h->where, sizeof h->where, v6 ? "http://[%s]:%u" : "http://%s:%u", host, port);
    uv_timer_start(&h->timer, http_loop_timer_cb, HTTP_SWEEP_MS, HTTP_SWEEP_MS);
    swarmd_log(d, "http: dashboard %s/ , metrics %s/metrics, API token %s", h->where, h->where,
               h->token[0] ? "required" : "not set (only the local machine should reach this)");
    *out = h;
    return 0;
}

void swarmd_http_stop(swarmd_http *h)
{
    if (!h) return;
    pthread_mutex_lock(&h->mu);
    h->closing = true;
    /* queued, not yet taken by the loop */
    while (h->q_head) {
        http_req *r = h->q_head;
        h->q_head = r->next;
        if (!r->done) {
            r->done = true;
            r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
            r->ctype = "application/json";
            r->body = json_error("swarmd is shutting down");
        }
        req_unref_locked(r);
    }
    h->q_tail = NULL;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    http_loop_stop(h);
    if (h->mhd) {
        MHD_stop_daemon(h->mhd); /* joins every connection thread */
        h->mhd = NULL;
    }
    if (h->handles) {
        uv_timer_stop(&h->timer);
        if (!uv_is_closing((uv_handle_t *)&h->timer)) uv_close((uv_handle_t *)&h->timer, NULL);
        if (!uv_is_closing((uv_handle_t *)&h->async)) uv_close((uv_handle_t *)&h->async, NULL);
    }
}

void swarmd_http_free(swarmd_http *h)
{
    if (!h) return;
    http_loop_free(h);
    for (size_t i = 0; i < HTTP_RING_CAP; i++)
        free(h->ring[i]);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
}
