/* serve_json.c - the OpenAI wire format for `swarm-infer serve`: request
 * bodies are validated field by field (a client error names the field, as
 * OpenAI's own 400s do) and turned into a serve_request; responses and
 * stream chunks are built here with cJSON so their shape is in one file. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"
#include "swarm_err.h"

/* A client error: the message, and the request field it is about (OpenAI's
 * error.param). */
__attribute__((format(printf, 5, 6))) static int bad(const char **param, const char *field,
                                                     char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    swarm_err_vset(err, errlen, fmt, ap);
    va_end(ap);
    *param = field;
    return -1;
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

static char *dup_s(const char *s)
{
    return dup_n(s, strlen(s));
}

/* A number field: absent or null leaves *out alone; anything but a number in
 * [lo, hi] is a client error naming the field. */
static int get_number(const cJSON *o, const char *field, double lo, double hi, double *out,
                      const char **param, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return bad(param, field, err, errlen, "'%s' must be a number", field);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return bad(param, field, err, errlen, "'%s' is %g; it must be between %g and %g", field,
                   v->valuedouble, lo, hi);
    *out = v->valuedouble;
    return 0;
}

static int get_integer(const cJSON *o, const char *field, double lo, double hi, double *out,
                       bool *present, const char **param, char *err, size_t errlen)
{
    double d = NAN;
    if (get_number(o, field, lo, hi, &d, param, err, errlen) != 0) return -1;
    if (isnan(d)) return 0;
    if (d != floor(d)) return bad(param, field, err, errlen, "'%s' must be an integer", field);
    *out = d;
    if (present) *present = true;
    return 0;
}

static int get_bool(const cJSON *o, const char *field, bool *out, const char **param, char *err,
                    size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) return bad(param, field, err, errlen, "'%s' must be a boolean", field);
    *out = cJSON_IsTrue(v);
    return 0;
}

/* Fields every endpoint shares: model, sampling, max tokens, stop, stream. */
static int parse_common(const cJSON *root, serve_request *r, const char **param, char *err,
                        size_t errlen)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model && !cJSON_IsString(model) && !cJSON_IsNull(model))
        return bad(param, "model", err, errlen, "'model' must be a string");
    double temp = 1.0, top_p = 1.0, min_p = 0.0, pres = 0.0, freq = 0.0, rep = 1.0, d;
    if (get_number(root, "temperature", 0, 2, &temp, param, err, errlen) != 0 ||
        get_number(root, "top_p", 0, 1, &top_p, param, err, errlen) != 0 ||
        get_number(root, "min_p", 0, 1, &min_p, param, err, errlen) != 0 ||
        get_number(root, "presence_penalty", -2, 2, &pres, param, err, errlen) != 0 ||
        get_number(root, "frequency_penalty", -2, 2, &freq, param, err, errlen) != 0 ||
        get_number(root, "repeat_penalty", 0, 10, &rep, param, err, errlen) != 0)
        return -1;
    r->sp = rt_sampler_default_params();
    r->sp.temperature = (float)temp;
    r->sp.top_p = (float)top_p;
    r->sp.min_p = (float)min_p;
    r->sp.presence_penalty = (float)pres;
    r->sp.frequency_penalty = (float)freq;
    r->sp.repeat_penalty = (float)rep;
    d = 0;
    if (get_integer(root, "top_k", 0, 1e6, &d, NULL, param, err, errlen) != 0) return -1;
    r->sp.top_k = (int32_t)d;
    d = 0;
    if (get_integer(root, "seed", -9.2e18, 9.2e18, &d, &r->has_seed, param, err, errlen) != 0)
        return -1;
    r->sp.seed = (uint64_t)(int64_t)d;
    d = 1;
    if (get_integer(root, "n", 1, 128, &d, NULL, param, err, errlen) != 0) return -1;
    if (d != 1) return bad(param, "n", err, errlen, "'n' must be 1 (one choice per request)");
    /* max_completion_tokens is the newer name; either may be given */
    bool have = false;
    d = -1;
    if (get_integer(root, "max_completion_tokens", 1, 1e9, &d, &have, param, err, errlen) != 0 ||
        (!have && get_integer(root, "max_tokens", 1, 1e9, &d, &have, param, err, errlen) != 0))
        return -1;
    if (have) r->max_tokens = (int32_t)d;
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(root, "stop");
    if (stop && cJSON_IsString(stop)) {
        if (stop->valuestring[0]) r->stops[0] = dup_s(stop->valuestring);
    } else if (stop && cJSON_IsArray(stop)) {
        int n = cJSON_GetArraySize(stop), k = 0;
        if (n > SERVE_MAX_STOPS)
            return bad(param, "stop", err, errlen, "'stop' has %d entries; at most %d are allowed",
                       n, SERVE_MAX_STOPS);
        const cJSON *s;
        cJSON_ArrayForEach(s, stop)
        {
            if (!cJSON_IsString(s))
                return bad(param, "stop", err, errlen,
                           "'stop' must be a string or an array of "
                           "strings");
            if (s->valuestring[0]) r->stops[k++] = dup_s(s->valuestring);
        }
    } else if (stop && !cJSON_IsNull(stop)) {
        return bad(param, "stop", err, errlen, "'stop' must be a string or an array of strings");
    }
    if (get_bool(root, "stream", &r->stream, param, err, errlen) != 0 ||
        get_bool(root, "ignore_eos", &r->ignore_eos, param, err, errlen) != 0)
        return -1;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so))
            return bad(param, "stream_options", err, errlen, "'stream_options' must be an object");
        if (get_bool(so, "include_usage", &r->include_usage, param, err, errlen) != 0) return -1;
    }
    return 0;
}

/* Message content: a string, null, or an array of {type: "text", text} parts
 * (concatenated; other part types cannot be fed to a text model). */
static int message_text(const cJSON *c, size_t i, char **out, const char **param, char *err,
                        size_t errlen)
{
    *out = NULL;
    if (!c || cJSON_IsNull(c)) return 0;
    if (cJSON_IsString(c)) {
        *out = dup_s(c->valuestring);
        goto check;
    }
    if (!cJSON_IsArray(c))
        return bad(param, "messages", err, errlen,
                   "'messages[%zu].content' must be a string or an array of text parts", i);
    size_t len = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, c)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "type");
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (!cJSON_IsString(t) || strcmp(t->valuestring, "text") != 0 || !cJSON_IsString(x))
            return bad(param, "messages", err, errlen,
                       "'messages[%zu].content' parts must be {\"type\": \"text\", \"text\": "
                       "string} (this model reads text only)",
                       i);
        len += strlen(x->valuestring);
    }
    *out = malloc(len + 1);
    if (!*out) goto check;
    len = 0;
    cJSON_ArrayForEach(p, c)
    {
        const char *x = cJSON_GetObjectItemCaseSensitive(p, "text")->valuestring;
        memcpy(*out + len, x, strlen(x));
        len += strlen(x);
    }
    (*out)[len] = 0;
check:
    if (!*out) return bad(param, NULL, err, errlen, "out of memory");
    return 0;
}

static int parse_tools(const cJSON *root, serve_request *r, const char **param, char *err,
                       size_t errlen)
{
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    const cJSON *choice = cJSON_GetObjectItemCaseSensitive(root, "tool_choice");
    if (tools && !cJSON_IsNull(tools)) {
        if (!cJSON_IsArray(tools))
            return bad(param, "tools", err, errlen, "'tools' must be an array");
        int i = 0;
        const cJSON *t;
        cJSON_ArrayForEach(t, tools)
        {
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(t, "type");
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
            const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
            if (!cJSON_IsString(type) || strcmp(type->valuestring, "function") != 0)
                return bad(param, "tools", err, errlen, "'tools[%d].type' must be \"function\"", i);
            if (!cJSON_IsObject(fn) || !cJSON_IsString(name) || !name->valuestring[0])
                return bad(param, "tools", err, errlen,
                           "'tools[%d].function' must be an object with a non-empty 'name'", i);
            if (params && !cJSON_IsObject(params) && !cJSON_IsNull(params))
                return bad(param, "tools", err, errlen,
                           "'tools[%d].function.parameters' must be a JSON Schema object", i);
            i++;
        }
        if (i > 0) {
            r->tools = cJSON_Duplicate(tools, 1);
            r->defs = calloc((size_t)i, sizeof *r->defs);
            r->def_params = calloc((size_t)i, sizeof *r->def_params);
            if (!r->tools || !r->defs || !r->def_params)
                return bad(param, NULL, err, errlen, "out of memory");
            cJSON_ArrayForEach(t, r->tools)
            {
                const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
                const cJSON *desc = cJSON_GetObjectItemCaseSensitive(fn, "description");
                const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
                rt_tool_def *d = &r->defs[r->n_defs];
                d->name = cJSON_GetObjectItemCaseSensitive(fn, "name")->valuestring;
                d->description = cJSON_IsString(desc) ? desc->valuestring : NULL;
                if (cJSON_IsObject(params)) {
                    r->def_params[r->n_defs] = cJSON_PrintUnformatted(params);
                    if (!r->def_params[r->n_defs])
                        return bad(param, NULL, err, errlen, "out of memory");
                    d->parameters = r->def_params[r->n_defs];
                }
                r->n_defs++;
            }
        }
    }
    const char *c = NULL;
    if (!choice || cJSON_IsNull(choice)) {
        c = r->tools ? "auto" : "none";
    } else if (cJSON_IsString(choice)) {
        c = choice->valuestring;
        if (strcmp(c, "auto") != 0 && strcmp(c, "none") != 0 && strcmp(c, "required") != 0)
            return bad(param, "tool_choice", err, errlen,
                       "'tool_choice' must be \"none\", \"auto\", \"required\" or "
                       "{\"type\": \"function\", \"function\": {\"name\": ...}}");
    } else {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(choice, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        if (!cJSON_IsObject(choice) || !cJSON_IsString(name))
            return bad(param, "tool_choice", err, errlen,
                       "'tool_choice' must be \"none\", \"auto\", \"required\" or "
                       "{\"type\": \"function\", \"function\": {\"name\": ...}}");
        c = name->valuestring;
        bool found = false;
        const cJSON *t;
        cJSON_ArrayForEach(t, r->tools)
        {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(t, "function"), "name");
            if (strcmp(n->valuestring, c) == 0) found = true;
        }
        if (!found)
            return bad(param, "tool_choice", err, errlen,
                       "'tool_choice' names function '%s', which is not in 'tools'", c);
    }
    if (!r->tools && strcmp(c, "none") != 0)
        return bad(param, "tool_choice", err, errlen,
                   "'tool_choice' is \"%s\" but no 'tools' "
                   "were given",
                   c);
    r->tool_choice = dup_s(c);
    if (!r->tool_choice) return bad(param, NULL, err, errlen, "out of memory");
    return 0;
}

static int parse_response_format(const cJSON *root, serve_request *r, const char **param, char *err,
                                 size_t errlen)
{
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(root, "response_format");
    if (!rf || cJSON_IsNull(rf)) return 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(rf, "type");
    if (!cJSON_IsObject(rf) || !cJSON_IsString(type))
        return bad(param, "response_format", err, errlen,
                   "'response_format' must be an object with a 'type'");
    if (strcmp(type->valuestring, "text") == 0) return 0;
    if (strcmp(type->valuestring, "json_object") == 0) {
        r->json_object = true;
        return 0;
    }
    if (strcmp(type->valuestring, "json_schema") != 0)
        return bad(param, "response_format", err, errlen,
                   "'response_format.type' must be \"text\", \"json_object\" or \"json_schema\"");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(js, "schema");
    if (!cJSON_IsObject(js) || (!cJSON_IsObject(schema) && !cJSON_IsBool(schema)))
        return bad(param, "response_format", err, errlen,
                   "'response_format.json_schema.schema' must be a JSON Schema object");
    r->json_schema = cJSON_PrintUnformatted(schema);
    if (!r->json_schema) return bad(param, NULL, err, errlen, "out of memory");
    return 0;
}

/* The rendered conversation's pieces: roles point into the JSON tree,
 * contents are owned copies. */
typedef struct {
    rt_chat_msg *msgs;
    char **owned;
    rt_tool_call **calls; /* each assistant message's tool calls */
    size_t n;
} chat_msgs;

static void chat_msgs_free(chat_msgs *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->owned[i]);
        free(c->calls[i]);
    }
    free(c->owned);
    free(c->calls);
    free(c->msgs);
}

/* An assistant message's tool_calls: [{id, type: "function", function:
 * {name, arguments}}]; the strings stay in the request's JSON tree. */
static int message_calls(const cJSON *tc, size_t i, chat_msgs *c, const char **param, char *err,
                         size_t errlen)
{
    if (!tc || cJSON_IsNull(tc)) return 0;
    if (!cJSON_IsArray(tc))
        return bad(param, "messages", err, errlen, "'messages[%zu].tool_calls' must be an array",
                   i);
    int n = cJSON_GetArraySize(tc), k = 0;
    if (n == 0) return 0;
    c->calls[i] = calloc((size_t)n, sizeof **c->calls);
    if (!c->calls[i]) return bad(param, NULL, err, errlen, "out of memory");
    const cJSON *call;
    cJSON_ArrayForEach(call, tc)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(call, "id");
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
        if (!cJSON_IsString(name) || !cJSON_IsString(args))
            return bad(param, "messages", err, errlen,
                       "'messages[%zu].tool_calls[%d].function' must have string 'name' and "
                       "'arguments'",
                       i, k);
        c->calls[i][k].id = cJSON_IsString(id) ? id->valuestring : NULL;
        c->calls[i][k].name = name->valuestring;
        c->calls[i][k].arguments = args->valuestring;
        k++;
    }
    c->msgs[i].tool_calls = c->calls[i];
    c->msgs[i].n_tool_calls = (size_t)k;
    return 0;
}

static int parse_messages(const cJSON *root, chat_msgs *c, const char **param, char *err,
                          size_t errlen)
{
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!msgs) return bad(param, "messages", err, errlen, "'messages' is required");
    if (!cJSON_IsArray(msgs))
        return bad(param, "messages", err, errlen, "'messages' must be an array");
    int n = cJSON_GetArraySize(msgs);
    if (n == 0) return bad(param, "messages", err, errlen, "'messages' must not be empty");
    c->msgs = calloc((size_t)n, sizeof *c->msgs);
    c->owned = calloc((size_t)n, sizeof *c->owned);
    c->calls = calloc((size_t)n, sizeof *c->calls);
    if (!c->msgs || !c->owned || !c->calls) return bad(param, NULL, err, errlen, "out of memory");
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        size_t i = c->n;
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role))
            return bad(param, "messages", err, errlen,
                       "'messages[%zu]' must be an object with a string 'role'", i);
        const char *r = role->valuestring;
        /* "developer" is OpenAI's newer name for the system role */
        if (strcmp(r, "developer") == 0) r = "system";
        if (strcmp(r, "system") != 0 && strcmp(r, "user") != 0 && strcmp(r, "assistant") != 0 &&
            strcmp(r, "tool") != 0)
            return bad(param, "messages", err, errlen,
                       "'messages[%zu].role' is '%s'; it must be system, developer, user, "
                       "assistant or tool",
                       i, role->valuestring);
        char *text;
        if (message_text(cJSON_GetObjectItemCaseSensitive(m, "content"), i, &text, param, err,
                         errlen) != 0)
            return -1;
        if (!text) {
            text = dup_s("");
            if (!text) return bad(param, NULL, err, errlen, "out of memory");
        }
        c->owned[i] = text;
        c->msgs[i].role = r;
        c->msgs[i].content = text;
        c->n++;
        if (strcmp(r, "assistant") == 0 &&
            message_calls(cJSON_GetObjectItemCaseSensitive(m, "tool_calls"), i, c, param, err,
                          errlen) != 0)
            return -1;
        if (strcmp(r, "tool") == 0) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "tool_call_id");
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name");
            if (id && !cJSON_IsString(id))
                return bad(param, "messages", err, errlen,
                           "'messages[%zu].tool_call_id' must be a string", i);
            c->msgs[i].tool_call_id = cJSON_IsString(id) ? id->valuestring : NULL;
            c->msgs[i].name = cJSON_IsString(name) ? name->valuestring : NULL;
        }
    }
    return 0;
}

static int parse_chat(const rt_model *m, const cJSON *root, serve_request *r, const char **param,
                      char *err, size_t errlen)
{
    chat_msgs c = {0};
    int rc = -1;
    if (parse_messages(root, &c, param, err, errlen) != 0 ||
        parse_tools(root, r, param, err, errlen) != 0 ||
        parse_response_format(root, r, param, err, errlen) != 0)
        goto done;
    if (r->tools && strcmp(r->tool_choice, "none") != 0 && (r->json_schema || r->json_object)) {
        bad(param, "response_format", err, errlen,
            "'response_format' cannot be combined with 'tools' unless 'tool_choice' is \"none\"");
        goto done;
    }
    char cerr[256];
    if (rt_chat_format_tools(m, NULL, c.msgs, c.n, r->defs, r->n_defs, true, &r->prompt, cerr,
                             sizeof cerr) != 0) {
        bad(param, "messages", err, errlen, "'messages' cannot be rendered: %s", cerr);
        goto done;
    }
    r->prompt_special = true;
    rc = 0;
done:
    chat_msgs_free(&c);
    return rc;
}

static int parse_completion(const cJSON *root, serve_request *r, const char **param, char *err,
                            size_t errlen)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    /* a one-element array is what clients send for a single prompt */
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(p->child)) p = p->child;
    if (!p) return bad(param, "prompt", err, errlen, "'prompt' is required");
    if (!cJSON_IsString(p))
        return bad(param, "prompt", err, errlen,
                   "'prompt' must be a string (or an array holding one string)");
    r->prompt = dup_s(p->valuestring);
    if (!r->prompt) return bad(param, NULL, err, errlen, "out of memory");
    return parse_response_format(root, r, param, err, errlen);
}

int serve_request_parse(const rt_model *m, serve_kind kind, const char *body, size_t len,
                        serve_request *out, const char **param, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    *param = NULL;
    out->kind = kind;
    /* OpenAI's legacy completions default to 16 tokens; chat runs to the end */
    out->max_tokens = kind == SERVE_COMPLETION ? 16 : -1;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        return bad(param, NULL, err, errlen,
                   "the request body is not valid JSON (error near byte %zu of %zu)", at, len);
    }
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        bad(param, NULL, err, errlen, "the request body must be a JSON object");
        goto done;
    }
    if (parse_common(root, out, param, err, errlen) != 0) goto done;
    if (kind == SERVE_CHAT ? parse_chat(m, root, out, param, err, errlen)
                           : parse_completion(root, out, param, err, errlen))
        goto done;
    rc = 0;
done:
    cJSON_Delete(root);
    if (rc != 0) serve_request_free(out);
    return rc;
}

void serve_request_free(serve_request *r)
{
    free(r->prompt);
    for (int i = 0; i < SERVE_MAX_STOPS; i++)
        free(r->stops[i]);
    free(r->json_schema);
    cJSON_Delete(r->tools);
    free(r->tool_choice);
    for (size_t i = 0; i < r->n_defs; i++)
        free(r->def_params[i]);
    free(r->def_params);
    free(r->defs);
    memset(r, 0, sizeof *r);
}

bool serve_request_wants_tools(const serve_request *r)
{
    return r->tools && r->tool_choice && strcmp(r->tool_choice, "none") != 0;
}

int serve_request_grammar(const rt_model *m, const serve_request *r, rt_grammar **g,
                          const char **param, char *err, size_t errlen)
{
    *g = NULL;
    *param = NULL;
    char gerr[384];
    if (serve_request_wants_tools(r)) {
        const char *family = rt_chat_family(m, NULL);
        rt_tool_choice choice = strcmp(r->tool_choice, "auto") == 0       ? RT_TOOL_CHOICE_AUTO
                                : strcmp(r->tool_choice, "required") == 0 ? RT_TOOL_CHOICE_REQUIRED
                                                                          : RT_TOOL_CHOICE_NAMED;
        char *gbnf = NULL;
        int rc = family ? rt_chat_tool_grammar(family, r->defs, r->n_defs, choice, r->tool_choice,
                                               &gbnf, gerr, sizeof gerr)
                        : -1;
        if (!family) snprintf(gerr, sizeof gerr, "the model's chat family is unknown");
        if (rc == 0) rc = rt_grammar_from_gbnf(gbnf, strlen(gbnf), NULL, g, gerr, sizeof gerr);
        free(gbnf);
        if (rc != 0) return bad(param, "tools", err, errlen, "'tools' cannot be used: %s", gerr);
        return 0;
    }
    /* json_object is the schema that admits any object */
    const char *schema = r->json_schema   ? r->json_schema
                         : r->json_object ? "{\"type\":\"object\"}"
                                          : NULL;
    if (!schema) return 0;
    if (rt_grammar_from_json_schema(schema, strlen(schema), g, gerr, sizeof gerr) != 0)
        return bad(param, "response_format", err, errlen,
                   "'response_format' schema is not supported: %s", gerr);
    return 0;
}

int serve_tool_calls_parse(const rt_model *m, const char *text, size_t len, const char *id_seed,
                           cJSON **calls, char **content, char *err, size_t errlen)
{
    *calls = NULL;
    *content = NULL;
    const char *family = rt_chat_family(m, NULL);
    if (!family) {
        snprintf(err, errlen, "the model's chat family is unknown");
        return -1;
    }
    rt_tool_call *tc = NULL;
    size_t n = 0;
    if (rt_chat_parse_tool_calls(family, text, len, &tc, &n, content, err, errlen) != 0) return -1;
    if (n > 0) {
        *calls = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++) {
            cJSON *c = cJSON_CreateObject();
            char id[96];
            if (tc[i].id && tc[i].id[0])
                snprintf(id, sizeof id, "%s", tc[i].id);
            else
                snprintf(id, sizeof id, "call_%s_%zu", id_seed, i);
            cJSON_AddStringToObject(c, "id", id);
            cJSON_AddStringToObject(c, "type", "function");
            cJSON *fn = cJSON_AddObjectToObject(c, "function");
            cJSON_AddStringToObject(fn, "name", tc[i].name);
            cJSON_AddStringToObject(fn, "arguments", tc[i].arguments ? tc[i].arguments : "{}");
            cJSON_AddItemToArray(*calls, c);
        }
    }
    rt_tool_calls_free(tc, n);
    return 0;
}

char *serve_error_json(const char *message, const char *type, const char *param)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "type", type);
    if (param)
        cJSON_AddStringToObject(e, "param", param);
    else
        cJSON_AddNullToObject(e, "param");
    cJSON_AddNullToObject(e, "code");
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static void add_usage(cJSON *root, const serve_result *r)
{
    cJSON *u = cJSON_AddObjectToObject(root, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", r->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", r->completion_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", r->prompt_tokens + r->completion_tokens);
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", r->cached_tokens);
}

static cJSON *head(serve_kind kind, const serve_result *r, bool chunk)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", r->id);
    cJSON_AddStringToObject(root, "object",
                            kind == SERVE_COMPLETION ? "text_completion"
                            : chunk                  ? "chat.completion.chunk"
                                                     : "chat.completion");
    cJSON_AddNumberToObject(root, "created", (double)r->created);
    cJSON_AddStringToObject(root, "model", r->model);
    return root;
}

/* cJSON strings end at a NUL; the text was sanitized so it holds none. */
static cJSON *text_node(const char *text, size_t len)
{
    char *t = dup_n(text ? text : "", text ? len : 0);
    cJSON *s = cJSON_CreateString(t ? t : "");
    free(t);
    return s;
}

char *serve_response_json(serve_kind kind, const serve_result *r)
{
    cJSON *root = head(kind, r, false);
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", 0);
    if (kind == SERVE_CHAT) {
        cJSON *msg = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        if (r->tool_calls && r->text_len == 0)
            cJSON_AddNullToObject(msg, "content");
        else
            cJSON_AddItemToObject(msg, "content", text_node(r->text, r->text_len));
        if (r->tool_calls)
            cJSON_AddItemToObject(msg, "tool_calls", cJSON_Duplicate(r->tool_calls, 1));
        cJSON_AddNullToObject(msg, "refusal");
    } else {
        cJSON_AddItemToObject(c, "text", text_node(r->text, r->text_len));
    }
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddStringToObject(c, "finish_reason", r->finish_reason);
    add_usage(root, r);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

char *serve_chunk_sse(serve_kind kind, const serve_result *r, const char *text, size_t len,
                      int flags)
{
    cJSON *root = head(kind, r, true);
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    if (flags & SERVE_CHUNK_USAGE) {
        add_usage(root, r);
    } else {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddItemToArray(choices, c);
        cJSON_AddNumberToObject(c, "index", 0);
        if (kind == SERVE_CHAT) {
            cJSON *d = cJSON_AddObjectToObject(c, "delta");
            if (flags & SERVE_CHUNK_ROLE) cJSON_AddStringToObject(d, "role", "assistant");
            if (text || (flags & SERVE_CHUNK_ROLE))
                cJSON_AddItemToObject(d, "content", text_node(text, len));
            if ((flags & SERVE_CHUNK_TOOLS) && r->tool_calls) {
                cJSON *tc = cJSON_Duplicate(r->tool_calls, 1);
                int i = 0;
                cJSON *call;
                /* stream deltas number each call so clients can assemble them */
                cJSON_ArrayForEach(call, tc) cJSON_AddNumberToObject(call, "index", i++);
                cJSON_AddItemToObject(d, "tool_calls", tc);
            }
        } else {
            cJSON_AddItemToObject(c, "text", text_node(text, len));
        }
        cJSON_AddNullToObject(c, "logprobs");
        if (flags & SERVE_CHUNK_FINISH)
            cJSON_AddStringToObject(c, "finish_reason", r->finish_reason);
        else
            cJSON_AddNullToObject(c, "finish_reason");
    }
    char *js = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!js) return NULL;
    size_t n = strlen(js);
    char *frame = malloc(n + 9);
    if (frame) {
        memcpy(frame, "data: ", 6);
        memcpy(frame + 6, js, n);
        memcpy(frame + 6 + n, "\n\n", 3);
    }
    free(js);
    return frame;
}

/* Length of the valid UTF-8 sequence at s (1..4), 0 when invalid, -1 when
 * valid so far but cut short by the end of the buffer. */
static int utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    int len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0; /* overlong */
        if (c == 0xED) hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90; /* overlong */
        if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n) return -1;
        unsigned lo_i = i == 1 ? lo : 0x80, hi_i = i == 1 ? hi : 0xBF;
        if (s[i] < lo_i || s[i] > hi_i) return 0;
    }
    return len;
}

size_t serve_utf8_complete(const char *s, size_t n)
{
    /* only the last 3 bytes can start an unfinished sequence */
    size_t from = n > 3 ? n - 3 : 0;
    for (size_t i = from; i < n; i++) {
        if (utf8_seq((const unsigned char *)s + i, n - i) == -1) return i;
    }
    return n;
}

char *serve_utf8_sanitize(const char *s, size_t n, size_t *out_len)
{
    char *o = malloc(n * 3 + 1); /* each bad byte may become 3 */
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        int l = s[i] ? utf8_seq((const unsigned char *)s + i, n - i) : 0;
        if (l <= 0) {
            memcpy(o + k, "\xEF\xBF\xBD", 3);
            k += 3;
            i++;
            continue;
        }
        memcpy(o + k, s + i, (size_t)l);
        k += (size_t)l;
        i += (size_t)l;
    }
    o[k] = 0;
    *out_len = k;
    return o;
}
