/* serve.h - `swarm-infer serve`: an OpenAI-compatible HTTP server over the
 * embedded engine. serve.c owns the HTTP side (libmicrohttpd), the request
 * queue and the slot threads; serve_json.c turns request bodies into
 * serve_request values and builds the response JSON, so the wire format
 * lives in one place. */
#ifndef SWARM_SERVE_H
#define SWARM_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "rt.h"

#define SERVE_MAX_STOPS 4 /* OpenAI accepts up to 4 stop sequences */

typedef enum { SERVE_CHAT, SERVE_COMPLETION } serve_kind;

/* One validated request, ready to run on a slot. Strings are malloc'ed. */
typedef struct {
    serve_kind kind;
    bool stream, include_usage;
    char *prompt;        /* text to tokenize (chat: already in the model's template) */
    bool prompt_special; /* chat text carries special tokens; a raw completion prompt does not */
    int32_t max_tokens;  /* -1 = until the context is full */
    rt_sampler_params sp;
    bool has_seed;                    /* without one the server picks a fresh seed per request */
    char *stops[SERVE_MAX_STOPS + 1]; /* NULL-terminated */
    /* constrained output: a JSON schema (serialized), plain JSON, or tool calls */
    char *json_schema;
    bool json_object;
    cJSON *tools;      /* the request's tools array (owned), NULL without tools */
    char *tool_choice; /* "auto", "none", "required" or a function name */
    rt_tool_def *defs; /* tools as the engine takes them (names point into tools) */
    char **def_params; /* each tool's parameters schema as text (owned) */
    size_t n_defs;
    bool ignore_eos; /* llama.cpp's extension: generate past end-of-generation tokens */
} serve_request;

/* Parses and validates a request body. On a client error returns -1 with a
 * message naming the offending field in err and the field's name in *param
 * (NULL when it is the body as a whole). The chat template is applied here,
 * so a conversation the model's family cannot render is a client error too. */
int serve_request_parse(const rt_model *m, serve_kind kind, const char *body, size_t len,
                        serve_request *out, const char **param, char *err, size_t errlen);
void serve_request_free(serve_request *r);

/* True when the reply may be tool calls (tools given, tool_choice not "none"). */
bool serve_request_wants_tools(const serve_request *r);

/* The grammar the reply must follow (JSON schema, JSON object or the model
 * family's tool-call syntax), or *g = NULL when the output is free. A schema
 * the compiler refuses is a client error naming the field in *param. */
int serve_request_grammar(const rt_model *m, const serve_request *r, rt_grammar **g,
                          const char **param, char *err, size_t errlen);

/* Splits generated text into OpenAI tool_calls (*calls, NULL when none) and
 * the remaining content (*content, malloc'ed). Calls without an id get
 * "call_<id_seed>_<index>". */
int serve_tool_calls_parse(const rt_model *m, const char *text, size_t len, const char *id_seed,
                           cJSON **calls, char **content, char *err, size_t errlen);

/* OpenAI-style error body: {"error":{"message","type","param","code"}}; malloc'ed. */
char *serve_error_json(const char *message, const char *type, const char *param);

/* Result of one generation, for the response builders. */
typedef struct {
    const char *id, *model;
    long created;
    const char *text; /* generated text (valid UTF-8) */
    size_t text_len;
    const char *finish_reason; /* "stop", "length" or "tool_calls" */
    cJSON *tool_calls;         /* parsed calls (borrowed) or NULL */
    int32_t prompt_tokens, completion_tokens, cached_tokens;
} serve_result;

char *serve_response_json(serve_kind kind, const serve_result *r);

/* What one streamed chunk carries besides text (chat deltas). */
enum {
    SERVE_CHUNK_ROLE = 1,   /* delta.role = "assistant" (the first chunk) */
    SERVE_CHUNK_TOOLS = 2,  /* delta.tool_calls from r->tool_calls */
    SERVE_CHUNK_FINISH = 4, /* finish_reason = r->finish_reason */
    SERVE_CHUNK_USAGE = 8,  /* the trailing usage chunk: choices [], usage set */
};
/* One SSE frame, "data: {...}\n\n", malloc'ed; text may be NULL. */
char *serve_chunk_sse(serve_kind kind, const serve_result *r, const char *text, size_t len,
                      int flags);

/* Length of the longest prefix of s[0..n) that does not end inside an
 * unfinished UTF-8 sequence (the rest waits for the next token's bytes). */
size_t serve_utf8_complete(const char *s, size_t n);
/* Copy of s[0..n) with invalid UTF-8 replaced by U+FFFD (JSON output must be
 * valid UTF-8, a random-weight model emits any bytes); malloc'ed, *out_len set. */
char *serve_utf8_sanitize(const char *s, size_t n, size_t *out_len);

/* The `serve` subcommand; argv[0] is "serve". Returns the process exit code. */
int serve_main(int argc, char **argv);

#endif
