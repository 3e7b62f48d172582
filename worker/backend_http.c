/* backend_http.c - agent steps on any OpenAI-compatible server (libcurl).
 *
 * POST <url>/v1/chat/completions with the conversation, the tools and a
 * tool_choice; the reply's message.tool_calls / content become the step's
 * calls / answer. vLLM, llama-server and `swarm-infer serve` all speak it.
 *
 * Requests ask for a stream ("stream": true, usage included): the reply comes
 * as server-sent events, each "data: {chunk}" carrying a delta of the content
 * or of the tool calls (numbered by index, arguments in fragments), then
 * "data: [DONE]". The deltas are assembled as they arrive and reported
 * through the request's on_partial hook, so a sub-task's tokens and output
 * tail reach `swarm status` while the model writes, not only when it ends. A
 * server that ignores "stream" and answers one JSON object still works.
 *
 * Answers that say "not now" rather than "never" - 429 (rate limit), 402
 * (quota), 401/403 (auth), 5xx, or no connection at all - pause the
 * sub-task (AGENT_MODEL_PAUSED with the status and the server's message,
 * and Retry-After when sent): the agent loop reports the pause through
 * Progress, so `swarm status` shows it, and retries with backoff. Other 4xx
 * answers are request errors and fail the sub-task with the server's text. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "backend_internal.h"

typedef struct {
    char *endpoint; /* full .../chat/completions URL */
    char *model;
    char *auth; /* "Authorization: Bearer ..." or NULL */
} http_backend;

typedef struct {
    http_backend *b;
    CURL *curl;
} http_slot;

/* A growable byte string (content and arguments being assembled). */
typedef struct {
    char *p;
    size_t len, cap;
} http_str;

typedef struct {
    char *buf; /* the body; with SSE only the part not yet split into lines */
    size_t len, cap;
    uint64_t retry_after_ms;
    int sse;       /* Content-Type: text/event-stream */
    int sse_oom;   /* an allocation failed while assembling */
    int sse_done;  /* data: [DONE] seen */
    int cancelled; /* the partial hook asked to stop */
    uint32_t n_deltas, usage_tokens;
    http_str content;
    cJSON *calls; /* [{id, name, arguments}] by the deltas' index */
    void (*on_partial)(void *ud, uint32_t tokens, const char *text, size_t len);
    int (*on_partial_stop)(void *ud, uint32_t tokens, const char *text, size_t len);
    void *partial_ud;
} http_resp;

#define HTTP_MAX_BODY (64u * 1024 * 1024) /* refuse absurd replies */
#define HTTP_MAX_CALLS 64

static int str_add(http_str *s, const char *p, size_t n)
{
    if (s->len + n + 1 > HTTP_MAX_BODY) return -1;
    if (s->len + n + 1 > s->cap) {
        size_t cap = (s->cap ? s->cap * 2 : 256) + n;
        char *np = realloc(s->p, cap);
        if (!np) return -1;
        s->p = np;
        s->cap = cap;
    }
    memcpy(s->p + s->len, p, n);
    s->len += n;
    s->p[s->len] = 0;
    return 0;
}

/* Appends v to the string member key of o (created when missing). */
static int json_str_append(cJSON *o, const char *key, const char *v)
{
    cJSON *cur = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(cur)) return cJSON_AddStringToObject(o, key, v) ? 0 : -1;
    size_t a = strlen(cur->valuestring), b = strlen(v);
    if (a + b + 1 > HTTP_MAX_BODY) return -1;
    char *n = malloc(a + b + 1);
    if (!n) return -1;
    memcpy(n, cur->valuestring, a);
    memcpy(n + a, v, b + 1);
    cJSON *item = cJSON_CreateString(n);
    free(n);
    return item && cJSON_ReplaceItemInObjectCaseSensitive(o, key, item) ? 0 : -1;
}

/* One chunk's choices[0].delta (content, tool_calls) and usage. */
static int sse_apply(http_resp *r, const cJSON *chunk)
{
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(chunk, "usage");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens");
    if (cJSON_IsNumber(ct) && ct->valuedouble >= 0) r->usage_tokens = (uint32_t)ct->valuedouble;
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(chunk, "choices");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(choices, 0), "delta");
    if (!cJSON_IsObject(d)) return 0;
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(d, "content");
    if (cJSON_IsString(content) && *content->valuestring) {
        if (str_add(&r->content, content->valuestring, strlen(content->valuestring))) return -1;
        r->n_deltas++;
    }
    const cJSON *tcs = cJSON_GetObjectItemCaseSensitive(d, "tool_calls");
    const cJSON *tc;
    int pos = 0;
    cJSON_ArrayForEach(tc, tcs)
    {
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(tc, "index");
        int i = cJSON_IsNumber(idx) ? (int)idx->valuedouble : pos;
        pos++;
        if (i < 0 || i >= HTTP_MAX_CALLS) return -1;
        if (!r->calls && !(r->calls = cJSON_CreateArray())) return -1;
        while (cJSON_GetArraySize(r->calls) <= i) {
            cJSON *o = cJSON_CreateObject();
            if (!o) return -1;
            cJSON_AddItemToArray(r->calls, o);
        }
        cJSON *call = cJSON_GetArrayItem(r->calls, i);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(tc, "id");
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(tc, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(f, "arguments");
        if (cJSON_IsString(id) && !cJSON_GetObjectItemCaseSensitive(call, "id") &&
            !cJSON_AddStringToObject(call, "id", id->valuestring))
            return -1;
        if (cJSON_IsString(name) && json_str_append(call, "name", name->valuestring)) return -1;
        if (cJSON_IsString(args) && json_str_append(call, "arguments", args->valuestring))
            return -1;
        if (cJSON_IsObject(args)) {
            char *a = cJSON_PrintUnformatted(args);
            int bad = !a || json_str_append(call, "arguments", a);
            free(a);
            if (bad) return -1;
        }
        r->n_deltas++;
    }
    return 0;
}

/* Splits the complete lines of an event stream off r->buf; each "data:" line
 * is one chunk (blank lines, comments and other fields are skipped). */
static void sse_feed(http_resp *r)
{
    size_t start = 0;
    for (;;) {
        char *nl = memchr(r->buf + start, '\n', r->len - start);
        if (!nl) break;
        size_t end = (size_t)(nl - r->buf);
        *nl = 0;
        if (end > start && r->buf[end - 1] == '\r') r->buf[end - 1] = 0;
        const char *line = r->buf + start;
        start = end + 1;
        if (strncmp(line, "data:", 5) != 0) continue;
        line += 5;
        while (*line == ' ')
            line++;
        if (strcmp(line, "[DONE]") == 0) {
            r->sse_done = 1;
            continue;
        }
        cJSON *chunk = cJSON_Parse(line);
        if (chunk && sse_apply(r, chunk) != 0) r->sse_oom = 1;
        cJSON_Delete(chunk);
        uint32_t tokens = r->usage_tokens ? r->usage_tokens : r->n_deltas;
        if (r->on_partial)
            r->on_partial(r->partial_ud, tokens, r->content.p ? r->content.p : "", r->content.len);
        if (r->on_partial_stop &&
            r->on_partial_stop(r->partial_ud, tokens, r->content.p ? r->content.p : "",
                               r->content.len))
            r->cancelled = 1;
    }
    memmove(r->buf, r->buf + start, r->len - start);
    r->len -= start;
    r->buf[r->len] = 0;
}

static void http_resp_free(http_resp *r)
{
    free(r->buf);
    free(r->content.p);
    cJSON_Delete(r->calls);
}

static void http_close(void *impl)
{
    http_backend *b = impl;
    if (!b) return;
    free(b->endpoint);
    free(b->model);
    free(b->auth);
    free(b);
    curl_global_cleanup(); /* pairs with the init in open */
}

static int http_open_opts(const char *model_path, int threads, const wb_backend_opts *o,
                          void **impl, char **model_name, char *err, size_t errlen)
{
    (void)model_path;
    (void)threads;
    if (!o || !o->http_url || !*o->http_url) {
        snprintf(err, errlen, "--engine http needs --http-url URL (an OpenAI-compatible server)");
        return -1;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        snprintf(err, errlen, "libcurl failed to initialise");
        return -1;
    }
    http_backend *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *u = o->http_url;
    size_t ul = strlen(u);
    while (ul > 0 && u[ul - 1] == '/')
        ul--;
    const char *suffix = ul >= 3 && strncmp(u + ul - 3, "/v1", 3) == 0 ? "/chat/completions"
                                                                       : "/v1/chat/completions";
    size_t n = ul + strlen(suffix) + 1;
    b->endpoint = malloc(n);
    b->model = strdup(o->http_model && *o->http_model ? o->http_model : "default");
    if (b->endpoint) snprintf(b->endpoint, n, "%.*s%s", (int)ul, u, suffix);
    if (o->api_key && *o->api_key) {
        size_t an = strlen(o->api_key) + 32;
        b->auth = malloc(an);
        if (b->auth) snprintf(b->auth, an, "Authorization: Bearer %s", o->api_key);
    }
    if (!b->endpoint || !b->model || (o->api_key && *o->api_key && !b->auth)) {
        http_close(b);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    n = strlen(b->endpoint) + strlen(b->model) + 32;
    *model_name = malloc(n);
    if (*model_name) snprintf(*model_name, n, "%s at %s (http)", b->model, b->endpoint);
    *impl = b;
    return 0;
}

static int http_open(const char *model_path, int threads, void **impl, char **model_name, char *err,
                     size_t errlen)
{
    return http_open_opts(model_path, threads, NULL, impl, model_name, err, errlen);
}

static int http_slot_new(void *impl, void **slot, char *err, size_t errlen)
{
    http_slot *s = calloc(1, sizeof *s);
    if (!s || !(s->curl = curl_easy_init())) {
        free(s);
        snprintf(err, errlen, "libcurl: cannot create a handle");
        return -1;
    }
    s->b = impl;
    *slot = s;
    return 0;
}

static void http_slot_free(void *slot)
{
    http_slot *s = slot;
    if (!s) return;
    curl_easy_cleanup(s->curl);
    free(s);
}

static size_t http_on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    http_resp *r = ud;
    size_t n = size * nmemb;
    if (r->len + n + 1 > HTTP_MAX_BODY) return 0;
    if (r->len + n + 1 > r->cap) {
        size_t cap = (r->cap ? r->cap * 2 : 4096) + n;
        char *nb = realloc(r->buf, cap);
        if (!nb) return 0;
        r->buf = nb;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, p, n);
    r->len += n;
    r->buf[r->len] = 0;
    if (r->sse) sse_feed(r);
    /* 0 aborts the transfer: out of memory, or the task was cancelled */
    return r->sse_oom || r->cancelled ? 0 : n;
}

static size_t http_on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    http_resp *r = ud;
    size_t n = size * nmemb;
    static const char key[] = "retry-after:";
    if (n > sizeof key - 1 && strncasecmp(p, key, sizeof key - 1) == 0) {
        const char *v = p + sizeof key - 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (isdigit((unsigned char)*v)) r->retry_after_ms = strtoull(v, NULL, 10) * 1000u;
    }
    static const char ctype[] = "content-type:";
    if (n > sizeof ctype - 1 && strncasecmp(p, ctype, sizeof ctype - 1) == 0) {
        /* only a 200's stream is parsed as one; errors come as JSON */
        char v[128];
        snprintf(v, sizeof v, "%.*s", (int)(n - (sizeof ctype - 1)), p + sizeof ctype - 1);
        r->sse = strstr(v, "text/event-stream") != NULL;
    }
    return n;
}

static const char *choice_name(rt_tool_choice c)
{
    switch (c) {
    case RT_TOOL_CHOICE_REQUIRED:
        return "required";
    case RT_TOOL_CHOICE_NONE:
        return "none";
    default:
        return "auto";
    }
}

static char *http_request_body(const http_backend *b, const agent_model_req *req, float temperature,
                               uint64_t seed)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "model", b->model);
    cJSON *msgs = cJSON_AddArrayToObject(root, "messages");
    for (size_t i = 0; i < req->n_msgs; i++) {
        const rt_chat_msg *m = &req->msgs[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "role", m->role);
        cJSON_AddStringToObject(o, "content", m->content ? m->content : "");
        if (m->n_tool_calls) {
            cJSON *tc = cJSON_AddArrayToObject(o, "tool_calls");
            for (size_t k = 0; k < m->n_tool_calls; k++) {
                const rt_tool_call *c = &m->tool_calls[k];
                cJSON *co = cJSON_CreateObject();
                char id[48];
                snprintf(id, sizeof id, "call_%zu_%zu", i, k);
                cJSON_AddStringToObject(co, "id", c->id ? c->id : id);
                cJSON_AddStringToObject(co, "type", "function");
                cJSON *f = cJSON_AddObjectToObject(co, "function");
                cJSON_AddStringToObject(f, "name", c->name);
                cJSON_AddStringToObject(f, "arguments", c->arguments ? c->arguments : "{}");
                cJSON_AddItemToArray(tc, co);
            }
        }
        if (m->tool_call_id) cJSON_AddStringToObject(o, "tool_call_id", m->tool_call_id);
        if (m->name && strcmp(m->role, "tool") == 0) cJSON_AddStringToObject(o, "name", m->name);
        cJSON_AddItemToArray(msgs, o);
    }
    if (req->n_tools) {
        cJSON *tools = cJSON_AddArrayToObject(root, "tools");
        for (size_t i = 0; i < req->n_tools; i++) {
            cJSON *t = cJSON_CreateObject();
            cJSON_AddStringToObject(t, "type", "function");
            cJSON *f = cJSON_AddObjectToObject(t, "function");
            cJSON_AddStringToObject(f, "name", req->tools[i].name);
            if (req->tools[i].description)
                cJSON_AddStringToObject(f, "description", req->tools[i].description);
            cJSON *p = req->tools[i].parameters ? cJSON_Parse(req->tools[i].parameters) : NULL;
            cJSON_AddItemToObject(f, "parameters", p ? p : cJSON_CreateObject());
            cJSON_AddItemToArray(tools, t);
        }
        cJSON_AddStringToObject(root, "tool_choice", choice_name(req->choice));
    }
    cJSON_AddNumberToObject(root, "max_tokens", req->max_tokens ? req->max_tokens : 256);
    cJSON_AddNumberToObject(root, "temperature", temperature);
    cJSON_AddNumberToObject(root, "seed", (double)(seed & 0xFFFFFFFFu));
    cJSON_AddBoolToObject(root, "stream", 1);
    cJSON *so = cJSON_AddObjectToObject(root, "stream_options");
    if (so) cJSON_AddBoolToObject(so, "include_usage", 1);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* The server's own words for an error answer, else the body's start. */
static void http_error_text(const char *body, char *out, size_t cap)
{
    cJSON *o = body ? cJSON_Parse(body) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    const cJSON *msg = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : e;
    if (cJSON_IsString(msg))
        snprintf(out, cap, "%s", msg->valuestring);
    else
        snprintf(out, cap, "%.200s", body ? body : "");
    cJSON_Delete(o);
}

static int http_parse_reply(const char *body, agent_reply *out, char *err, size_t errlen)
{
    cJSON *o = cJSON_Parse(body);
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(o, "choices");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(choices, 0), "message");
    if (!cJSON_IsObject(msg)) {
        snprintf(err, errlen, "http: the reply has no choices[0].message: %.200s", body);
        cJSON_Delete(o);
        return -1;
    }
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    out->content = strdup(cJSON_IsString(content) ? content->valuestring : "");
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
    size_t n = cJSON_IsArray(calls) ? (size_t)cJSON_GetArraySize(calls) : 0;
    int rc = out->content ? 0 : -1;
    if (n && rc == 0) {
        out->calls = calloc(n, sizeof *out->calls);
        out->n_calls = out->calls ? n : 0;
        for (size_t i = 0; out->calls && i < n; i++) {
            const cJSON *c = cJSON_GetArrayItem(calls, (int)i);
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(c, "function");
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
            const cJSON *args = cJSON_GetObjectItemCaseSensitive(f, "arguments");
            if (!cJSON_IsString(name)) {
                snprintf(err, errlen, "http: tool_calls[%zu] has no function.name", i);
                rc = -1;
                break;
            }
            out->calls[i].id = cJSON_IsString(id) ? strdup(id->valuestring) : NULL;
            out->calls[i].name = strdup(name->valuestring);
            out->calls[i].arguments = cJSON_IsString(args)   ? strdup(args->valuestring)
                                      : cJSON_IsObject(args) ? cJSON_PrintUnformatted(args)
                                                             : strdup("{}");
        }
    }
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(o, "usage");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens");
    out->tokens = cJSON_IsNumber(ct) ? (uint32_t)ct->valuedouble : 0;
    cJSON_Delete(o);
    if (rc != 0 && !*err) snprintf(err, errlen, "out of memory");
    return rc;
}

/* The assembled stream as one reply. */
static int http_stream_reply(http_resp *r, agent_reply *out, char *err, size_t errlen)
{
    if (r->sse_oom) {
        snprintf(err, errlen, "http: the streamed reply is too large or memory ran out");
        return -1;
    }
    out->content = strdup(r->content.p ? r->content.p : "");
    if (!out->content) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t n = r->calls ? (size_t)cJSON_GetArraySize(r->calls) : 0;
    if (n) {
        out->calls = calloc(n, sizeof *out->calls);
        if (!out->calls) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        out->n_calls = n;
        for (size_t i = 0; i < n; i++) {
            const cJSON *c = cJSON_GetArrayItem(r->calls, (int)i);
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
            const cJSON *args = cJSON_GetObjectItemCaseSensitive(c, "arguments");
            if (!cJSON_IsString(name) || !*name->valuestring) {
                snprintf(err, errlen, "http: streamed tool_calls[%zu] has no function.name", i);
                return -1;
            }
            out->calls[i].id = cJSON_IsString(id) ? strdup(id->valuestring) : NULL;
            out->calls[i].name = strdup(name->valuestring);
            out->calls[i].arguments = strdup(cJSON_IsString(args) ? args->valuestring : "{}");
            if (!out->calls[i].name || !out->calls[i].arguments) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }
    }
    out->tokens = r->usage_tokens ? r->usage_tokens : r->n_deltas;
    return 0;
}

static int http_chat_stream(http_slot *s, const agent_model_req *req, float temperature,
                            uint64_t seed, agent_reply *out, uint64_t *retry_after_ms, http_resp *r,
                            char *err, size_t errlen);

static int http_chat(void *slot, const agent_model_req *req, float temperature, uint64_t seed,
                     agent_reply *out, uint64_t *retry_after_ms, char *err, size_t errlen)
{
    http_resp r = {.on_partial = req->on_partial, .partial_ud = req->partial_ud};
    int rc = http_chat_stream(slot, req, temperature, seed, out, retry_after_ms, &r, err, errlen);
    http_resp_free(&r);
    return rc;
}

static int http_chat_stream(http_slot *s, const agent_model_req *req, float temperature,
                            uint64_t seed, agent_reply *out, uint64_t *retry_after_ms,
                            http_resp *rp, char *err, size_t errlen)
{
    char *body = http_request_body(s->b, req, temperature, seed);
    if (!body) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    http_resp *r = rp;
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    if (s->b->auth) hdr = curl_slist_append(hdr, s->b->auth);
    CURL *c = s->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, s->b->endpoint);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 600L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    free(body);
    int rc;
    if (r->cancelled) {
        snprintf(err, errlen, "cancelled");
        rc = -1;
    } else if (cc == CURLE_WRITE_ERROR && r->sse_oom) {
        rc = http_stream_reply(r, out, err, errlen);
    } else if (cc != CURLE_OK) {
        /* the server is down or unreachable: wait for it, do not fail */
        snprintf(err, errlen, "%s: %s", s->b->endpoint, curl_easy_strerror(cc));
        rc = AGENT_MODEL_PAUSED;
    } else if (status == 200 && r->sse) {
        if (r->len) sse_feed(r); /* a last line without its newline */
        rc = http_stream_reply(r, out, err, errlen);
    } else if (status == 200) {
        rc = http_parse_reply(r->buf ? r->buf : "", out, err, errlen);
    } else {
        char msg[256];
        http_error_text(r->buf, msg, sizeof msg);
        int pause =
            status == 429 || status == 402 || status == 401 || status == 403 || status >= 500;
        snprintf(err, errlen, "%s answered HTTP %ld%s: %s", s->b->endpoint, status,
                 status == 429                    ? " (rate limited)"
                 : status == 402                  ? " (quota)"
                 : status == 401 || status == 403 ? " (auth)"
                 : status >= 500                  ? " (server error)"
                                                  : "",
                 msg);
        rc = pause ? AGENT_MODEL_PAUSED : -1;
        *retry_after_ms = r->retry_after_ms;
    }
    return rc;
}

static int http_run(void *slot, const wb_task *t, wb_progress_fn progress, void *ud, char **output,
                    uint32_t *tokens, char *err, size_t errlen)
{
    /* a plain sub-task is one agent step without tools */
    char *user = wb_prompt_expand(t->instructions, t->input);
    if (!user) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rt_chat_msg msgs[2];
    size_t n = 0;
    if (t->goal && *t->goal) msgs[n++] = (rt_chat_msg){.role = "system", .content = t->goal};
    msgs[n++] = (rt_chat_msg){.role = "user", .content = user};
    agent_model_req req = {.msgs = msgs, .n_msgs = n, .max_tokens = t->max_tokens, .step = 1};
    agent_reply rep = {0};
    uint64_t ra = 0;
    /* the stream's text goes to the worker's progress as it arrives; a
     * cancel (progress answers non-zero) ends the transfer */
    http_resp r = {.on_partial_stop = progress, .partial_ud = ud};
    int rc = http_chat_stream(slot, &req, t->temperature, t->seed, &rep, &ra, &r, err, errlen);
    http_resp_free(&r);
    free(user);
    if (rc != 0) {
        agent_reply_free(&rep);
        return -1;
    }
    *output = rep.content;
    rep.content = NULL;
    *tokens = rep.tokens;
    agent_reply_free(&rep);
    if (progress && *output) progress(ud, *tokens, *output, strlen(*output));
    return 0;
}

const wb_ops wb_http_ops = {
    .kind = "http",
    .open = http_open,
    .close = http_close,
    .slot_new = http_slot_new,
    .slot_free = http_slot_free,
    .run = http_run,
    .open_opts = http_open_opts,
    .chat = http_chat,
};
