/* chat_tools.c - tool calls in each family's native syntax: reading a model's
 * reply back into {name, arguments} calls plus plain content, and the GBNF
 * grammar that makes a reply either a well-formed call or a final answer.
 *
 * The renderers (chat.c) and these parsers agree on one form per family;
 * the parsers also accept the variants the published templates and models
 * produce (a missing closing marker at the end of the text, where generation
 * stopped on an end-of-generation token; harmony's recipient before or after
 * the channel). Arguments come back re-serialised as one-line JSON. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "chat_json.h"
#include "swarm_err.h"

void rt_tool_calls_free(rt_tool_call *calls, size_t n)
{
    if (!calls) return;
    for (size_t i = 0; i < n; i++) {
        free((char *)calls[i].id);
        free((char *)calls[i].name);
        free((char *)calls[i].arguments);
    }
    free(calls);
}

typedef struct {
    const char *family;
    const char *t;
    size_t len;
    rt_tool_call *calls;
    size_t n, cap;
    swarm_buf content;
    char *err;
    size_t el;
} parser;

static size_t find(const parser *P, size_t from, const char *needle)
{
    size_t nl = strlen(needle);
    if (from > P->len) return (size_t)-1;
    const char *hit = memmem(P->t + from, P->len - from, needle, nl);
    return hit ? (size_t)(hit - P->t) : (size_t)-1;
}

static bool at(const parser *P, size_t i, const char *s)
{
    size_t n = strlen(s);
    return i <= P->len && P->len - i >= n && !memcmp(P->t + i, s, n);
}

static size_t skip_ws(const parser *P, size_t i)
{
    while (i < P->len && (P->t[i] == ' ' || P->t[i] == '\t' || P->t[i] == '\n' || P->t[i] == '\r'))
        i++;
    return i;
}

static void add_content(parser *P, size_t from, size_t to)
{
    if (to > from) swarm_buf_putn(&P->content, P->t + from, to - from);
}

/* Records a call; args is the JSON arguments value (an object, or a string
 * holding one, as some models emit). */
static int add_call(parser *P, const char *name, size_t name_len, const cj_value *args,
                    const char *id)
{
    size_t k = P->n + 1;
    cj_value *decoded = NULL;
    char jerr[160];
    if (args && args->t == CJ_STR) {
        if (cj_parse(args->s, args->len, &decoded, NULL, jerr, sizeof(jerr)))
            return swarm_err_set(P->err, P->el, "%s tool call %zu (%.*s): arguments string: %s",
                                 P->family, k, (int)name_len, name, jerr);
        args = decoded;
    }
    if (args && args->t != CJ_OBJ) {
        cj_free(decoded);
        return swarm_err_set(P->err, P->el,
                             "%s tool call %zu (%.*s): arguments are not a JSON object", P->family,
                             k, (int)name_len, name);
    }
    if (name_len == 0) {
        cj_free(decoded);
        return swarm_err_set(P->err, P->el, "%s tool call %zu has an empty name", P->family, k);
    }
    if (P->n == P->cap) {
        size_t nc = P->cap ? P->cap * 2 : 4;
        rt_tool_call *ncalls = realloc(P->calls, nc * sizeof(*ncalls));
        if (!ncalls) {
            cj_free(decoded);
            return swarm_err_set(P->err, P->el, "out of memory");
        }
        P->calls = ncalls;
        P->cap = nc;
    }
    swarm_buf a = {0};
    if (args)
        cj_dump(&a, args, -1);
    else
        swarm_buf_put(&a, "{}");
    cj_free(decoded);
    rt_tool_call *c = &P->calls[P->n];
    c->name = strndup(name, name_len);
    c->id = id ? strdup(id) : NULL;
    c->arguments = a.s;
    P->n++;
    if (!c->name || (id && !c->id) || a.oom) return swarm_err_set(P->err, P->el, "out of memory");
    return 0;
}

/* A call object {"name": ..., ARGKEY: {...}, "id": ...} at v. */
static int add_call_object(parser *P, const cj_value *v, const char *argkey, const char *alt)
{
    size_t k = P->n + 1;
    if (!v || v->t != CJ_OBJ)
        return swarm_err_set(P->err, P->el, "%s tool call %zu is not a JSON object", P->family, k);
    const cj_value *name = cj_get(v, "name");
    if (!name || name->t != CJ_STR)
        return swarm_err_set(P->err, P->el, "%s tool call %zu has no \"name\" string", P->family,
                             k);
    const cj_value *args = cj_get(v, argkey);
    if (!args && alt) args = cj_get(v, alt);
    const cj_value *id = cj_get(v, "id");
    return add_call(P, name->s, name->len, args, id && id->t == CJ_STR ? id->s : NULL);
}

static int json_at(parser *P, size_t from, size_t to, cj_value **v, size_t *end, const char *what)
{
    char jerr[160];
    size_t e = 0;
    if (cj_parse(P->t + from, to - from, v, end ? &e : NULL, jerr, sizeof(jerr)))
        return swarm_err_set(P->err, P->el, "%s tool call %zu: %s: %s", P->family, P->n + 1, what,
                             jerr);
    if (end) *end = from + e;
    return 0;
}

/* Qwen3 / Hermes: <tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call> */
static int parse_chatml(parser *P)
{
    size_t pos = 0;
    for (;;) {
        size_t k = find(P, pos, "<tool_call>");
        if (k == (size_t)-1) {
            size_t e = find(P, pos, "<|im_end|>");
            add_content(P, pos, e == (size_t)-1 ? P->len : e);
            return 0;
        }
        add_content(P, pos, k);
        size_t b = k + strlen("<tool_call>");
        size_t e = find(P, b, "</tool_call>");
        size_t be = e == (size_t)-1 ? P->len : e;
        cj_value *v;
        if (json_at(P, b, be, &v, NULL, "body")) return -1;
        int rc = add_call_object(P, v, "arguments", "parameters");
        cj_free(v);
        if (rc) return rc;
        pos = e == (size_t)-1 ? P->len : e + strlen("</tool_call>");
    }
}

/* Llama 3.1: the whole reply is {"name": ..., "parameters": {...}} */
static int parse_llama3(parser *P)
{
    size_t s = skip_ws(P, 0);
    if (at(P, s, "<|python_tag|>")) s = skip_ws(P, s + strlen("<|python_tag|>"));
    if (s >= P->len || P->t[s] != '{') {
        add_content(P, 0, P->len);
        return 0;
    }
    cj_value *v = NULL;
    char jerr[160];
    size_t e = 0;
    if (cj_parse(P->t + s, P->len - s, &v, &e, jerr, sizeof(jerr))) {
        /* JSON-looking prose stays prose unless it starts like a call */
        if (at(P, skip_ws(P, s + 1), "\"name\""))
            return swarm_err_set(P->err, P->el, "llama3 tool call 1: %s", jerr);
        add_content(P, 0, P->len);
        return 0;
    }
    int rc = 0;
    if (v->t == CJ_OBJ && cj_get(v, "name") &&
        (cj_get(v, "parameters") || cj_get(v, "arguments"))) {
        rc = add_call_object(P, v, "parameters", "arguments");
        size_t rest = s + e, eot = find(P, rest, "<|eot_id|>"), eom = find(P, rest, "<|eom_id|>");
        add_content(P, rest, eot < eom ? eot : eom < P->len ? eom : P->len);
    } else {
        add_content(P, 0, P->len);
    }
    cj_free(v);
    return rc;
}

/* DeepSeek V3: CALLS_BEGIN (CALL_BEGIN function SEP NAME\n```json\nARGS\n```CALL_END)+ CALLS_END */
static int parse_deepseek3(parser *P)
{
    size_t k = find(P, 0, DS_CALLS_BEGIN);
    if (k == (size_t)-1) {
        size_t e = find(P, 0, DS_EOS);
        add_content(P, 0, e == (size_t)-1 ? P->len : e);
        return 0;
    }
    add_content(P, 0, k);
    size_t p = k + strlen(DS_CALLS_BEGIN);
    for (;;) {
        p = skip_ws(P, p);
        if (p >= P->len) return 0; /* stopped before the closing marker */
        if (at(P, p, DS_CALLS_END)) {
            p += strlen(DS_CALLS_END);
            size_t e = find(P, p, DS_EOS);
            add_content(P, p, e == (size_t)-1 ? P->len : e);
            return 0;
        }
        if (!at(P, p, DS_CALL_BEGIN))
            return swarm_err_set(P->err, P->el,
                                 "deepseek3 tool call %zu: expected " DS_CALL_BEGIN
                                 " or " DS_CALLS_END " at byte %zu",
                                 P->n + 1, p);
        p += strlen(DS_CALL_BEGIN);
        size_t sep = find(P, p, DS_SEP);
        if (sep == (size_t)-1)
            return swarm_err_set(P->err, P->el,
                                 "deepseek3 tool call %zu: no " DS_SEP " after its type", P->n + 1);
        size_t ns = sep + strlen(DS_SEP), ne = ns;
        while (ne < P->len && P->t[ne] != '\n' && P->t[ne] != '`' && P->t[ne] != '<')
            ne++;
        const char *name = P->t + ns;
        size_t name_len = ne - ns;
        while (name_len && (name[name_len - 1] == ' ' || name[name_len - 1] == '\r'))
            name_len--;
        p = skip_ws(P, ne);
        bool fenced = at(P, p, "```");
        if (fenced) {
            p += 3;
            if (at(P, p, "json")) p += 4;
        }
        size_t end_marker = find(P, p, DS_CALL_END);
        cj_value *v;
        size_t e = 0;
        if (json_at(P, p, end_marker == (size_t)-1 ? P->len : end_marker, &v, &e, "arguments"))
            return -1;
        int rc = add_call(P, name, name_len, v, NULL);
        cj_free(v);
        if (rc) return rc;
        p = skip_ws(P, e);
        if (fenced && at(P, p, "```")) p = skip_ws(P, p + 3);
        if (at(P, p, DS_CALL_END))
            p += strlen(DS_CALL_END);
        else if (p < P->len)
            return swarm_err_set(P->err, P->el,
                                 "deepseek3 tool call %zu: expected " DS_CALL_END " at byte %zu",
                                 P->n, p);
    }
}

/* Mistral v3: [TOOL_CALLS] [{"name": ..., "arguments": {...}, "id": ...}, ...] */
static int parse_mistral_v3(parser *P)
{
    size_t k = find(P, 0, "[TOOL_CALLS]");
    if (k == (size_t)-1) {
        size_t e = find(P, 0, "</s>");
        add_content(P, 0, e == (size_t)-1 ? P->len : e);
        return 0;
    }
    add_content(P, 0, k);
    size_t p = k + strlen("[TOOL_CALLS]");
    cj_value *v;
    size_t e = 0;
    if (json_at(P, p, P->len, &v, &e, "call list")) return -1;
    int rc = 0;
    if (v->t == CJ_ARR)
        for (size_t i = 0; i < v->n && !rc; i++)
            rc = add_call_object(P, &v->kids[i], "arguments", "parameters");
    else
        rc = add_call_object(P, v, "arguments", "parameters");
    cj_free(v);
    size_t s = find(P, e, "</s>");
    add_content(P, e, s == (size_t)-1 ? P->len : s);
    /* The template refuses history whose calls lack a 9-alphanumeric id, and
     * models rarely emit one: give such calls one derived from the reply
     * (FNV-1a of the text and the call's index), so it is stable. */
    for (size_t i = 0; rc == 0 && i < P->n; i++) {
        if (P->calls[i].id) continue;
        uint64_t h = 1469598103934665603ull;
        for (size_t b = 0; b < P->len; b++)
            h = (h ^ (unsigned char)P->t[b]) * 1099511628211ull;
        h = (h ^ i) * 1099511628211ull;
        static const char al[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        char id[10];
        for (int d = 0; d < 9; d++, h /= 62)
            id[d] = al[h % 62];
        id[9] = 0;
        if (!(P->calls[i].id = strdup(id))) rc = swarm_err_set(P->err, P->el, "out of memory");
    }
    return rc;
}

/* harmony: messages "[<|start|>assistant]HEADER<|message|>BODY(<|end|>|<|call|>|<|return|>)".
 * A header with "to=functions.NAME" is a call; the final channel is content;
 * analysis (reasoning) is dropped. */
static int parse_harmony(parser *P)
{
    if (find(P, 0, "<|message|>") == (size_t)-1) {
        add_content(P, 0, P->len);
        return 0;
    }
    size_t p = 0;
    while (p < P->len) {
        size_t next = find(P, p + 1, "<|start|>");
        size_t seg_end = next == (size_t)-1 ? P->len : next;
        size_t h = p;
        if (at(P, h, "<|start|>")) h += strlen("<|start|>");
        size_t mb = find(P, h, "<|message|>");
        if (mb == (size_t)-1 || mb > seg_end) {
            p = seg_end;
            continue;
        }
        size_t body = mb + strlen("<|message|>"), be = seg_end;
        static const char *const ends[] = {"<|end|>", "<|call|>", "<|return|>"};
        for (int i = 0; i < 3; i++) {
            size_t x = find(P, body, ends[i]);
            if (x != (size_t)-1 && x < be) be = x;
        }
        /* header fields: the recipient and the channel */
        size_t to = find(P, h, "to=");
        size_t ch = find(P, h, "<|channel|>");
        if (to != (size_t)-1 && to < mb) {
            size_t ns = to + 3;
            if (at(P, ns, "functions.")) ns += strlen("functions.");
            size_t ne = ns;
            while (ne < mb && P->t[ne] != ' ' && P->t[ne] != '<')
                ne++;
            cj_value *v;
            if (json_at(P, body, be, &v, NULL, "arguments")) return -1;
            int rc = add_call(P, P->t + ns, ne - ns, v, NULL);
            cj_free(v);
            if (rc) return rc;
        } else if (ch != (size_t)-1 && ch < mb) {
            size_t cs = ch + strlen("<|channel|>");
            if (at(P, cs, "final")) add_content(P, body, be);
        } else {
            add_content(P, body, be);
        }
        p = seg_end;
    }
    return 0;
}

int rt_chat_parse_tool_calls(const char *family, const char *text, size_t len, rt_tool_call **calls,
                             size_t *n_calls, char **content, char *err, size_t errlen)
{
    *calls = NULL;
    *n_calls = 0;
    *content = NULL;
    if (!family)
        return swarm_err_set(err, errlen, "tool-call parser: no chat template family given");
    parser P = {family, text ? text : "", text ? len : 0, NULL, 0, 0, {0}, err, errlen};
    swarm_buf_putn(&P.content, "", 0);
    int rc;
    if (!strcmp(family, "chatml"))
        rc = parse_chatml(&P);
    else if (!strcmp(family, "llama3"))
        rc = parse_llama3(&P);
    else if (!strcmp(family, "deepseek3"))
        rc = parse_deepseek3(&P);
    else if (!strcmp(family, "mistral-v3"))
        rc = parse_mistral_v3(&P);
    else if (!strcmp(family, "harmony"))
        rc = parse_harmony(&P);
    else if (!strcmp(family, "deepseek") || !strcmp(family, "mistral"))
        rc = swarm_err_set(
            err, errlen,
            "chat template family \"%s\" has no tool-call format (tool calls: chatml, "
            "llama3, deepseek3, mistral-v3, harmony)",
            family);
    else
        rc = swarm_err_set(
            err, errlen,
            "unknown chat template family \"%s\" (tool calls: chatml, llama3, deepseek3, "
            "mistral-v3, harmony)",
            family);
    if (rc == 0 && P.content.oom) rc = swarm_err_set(err, errlen, "out of memory");
    if (rc) {
        rt_tool_calls_free(P.calls, P.n);
        free(P.content.s);
        return rc;
    }
    /* the answer without the whitespace that separated it from the calls */
    char *s = P.content.s;
    size_t a = 0, z = P.content.n;
    while (a < z && (s[a] == ' ' || s[a] == '\n' || s[a] == '\t' || s[a] == '\r'))
        a++;
    while (z > a && (s[z - 1] == ' ' || s[z - 1] == '\n' || s[z - 1] == '\t' || s[z - 1] == '\r'))
        z--;
    memmove(s, s + a, z - a);
    s[z - a] = 0;
    *content = s;
    *calls = P.calls;
    *n_calls = P.n;
    return 0;
}

/* ---- grammars ---- */

/* A GBNF string literal for s (code points as they are, ASCII controls,
 * quotes and backslashes escaped). */
static void g_lit(swarm_buf *b, const char *s)
{
    swarm_buf_putn(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char e[8];
        if (c == '"' || c == '\\' || c < 0x20 || c == 0x7f) {
            snprintf(e, sizeof(e), "\\x%02X", c);
            swarm_buf_put(b, e);
        } else {
            swarm_buf_putn(b, s, 1);
        }
    }
    swarm_buf_putn(b, "\"", 1);
}

/* One code point (UTF-8 bytes at s) for a character class. */
static size_t g_class_cp(swarm_buf *b, const char *s)
{
    unsigned char c = (unsigned char)*s;
    size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (c < 0x80 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
        char e[8];
        snprintf(e, sizeof(e), "\\x%02X", c);
        swarm_buf_put(b, e);
    } else {
        swarm_buf_putn(b, s, n);
    }
    return n;
}

/* Rules NAME ::= text that does not contain marker m. The first code point
 * of every marker used here occurs in it only once, so a text avoids m iff
 * no occurrence of that code point is followed by the rest of m:
 *   NAME ::= [^c0]* (c0 NAME-r0)*
 *   NAME-rj ::= "" | [^Tj c0] [^c0]* | Tj NAME-r(j+1)   (T = m without c0) */
static void g_free_text(swarm_buf *b, const char *name, const char *m)
{
    unsigned char c = (unsigned char)m[0];
    size_t c0n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    char c0[8] = {0};
    memcpy(c0, m, c0n);
    swarm_buf_put(b, name);
    swarm_buf_put(b, " ::= [^");
    g_class_cp(b, c0);
    swarm_buf_put(b, "]* (");
    g_lit(b, c0);
    swarm_buf_put(b, " ");
    swarm_buf_put(b, name);
    swarm_buf_put(b, "-r0)*\n");
    const char *t = m + c0n;
    for (int j = 0; *t; j++) {
        unsigned char tc = (unsigned char)*t;
        size_t tn = tc < 0x80 ? 1 : tc < 0xE0 ? 2 : tc < 0xF0 ? 3 : 4;
        char tj[8] = {0};
        memcpy(tj, t, tn);
        char line[160];
        snprintf(line, sizeof(line), "%s-r%d ::= \"\" | [^", name, j);
        swarm_buf_put(b, line);
        g_class_cp(b, tj);
        g_class_cp(b, c0);
        swarm_buf_put(b, "] [^");
        g_class_cp(b, c0);
        swarm_buf_put(b, "]*");
        t += tn;
        if (*t) {
            swarm_buf_put(b, " | ");
            g_lit(b, tj);
            snprintf(line, sizeof(line), " %s-r%d", name, j + 1);
            swarm_buf_put(b, line);
        }
        swarm_buf_put(b, "\n");
    }
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* Appends gbnf with every rule name prefixed, so several compiled schemas
 * live in one grammar. Strings, classes, comments and {m,n} pass through. */
static void g_prefixed(swarm_buf *b, const char *g, const char *prefix)
{
    const char *p = g;
    while (*p) {
        char c = *p;
        if (c == '"' || c == '[') {
            char close = c == '"' ? '"' : ']';
            const char *s = p++;
            while (*p && *p != close) {
                if (*p == '\\' && p[1]) p++;
                p++;
            }
            if (*p) p++;
            swarm_buf_putn(b, s, (size_t)(p - s));
        } else if (c == '#') {
            const char *s = p;
            while (*p && *p != '\n')
                p++;
            swarm_buf_putn(b, s, (size_t)(p - s));
        } else if (c == '{') {
            const char *s = p;
            while (*p && *p != '}')
                p++;
            if (*p) p++;
            swarm_buf_putn(b, s, (size_t)(p - s));
        } else if (name_char(c)) {
            const char *s = p;
            while (name_char(*p))
                p++;
            swarm_buf_put(b, prefix);
            swarm_buf_putn(b, s, (size_t)(p - s));
        } else {
            swarm_buf_putn(b, p++, 1);
        }
    }
    swarm_buf_put(b, "\n");
}

typedef struct {
    const char *marker;  /* text that starts the calls (free text must avoid it) */
    const char *first;   /* before the first call */
    const char *between; /* between two calls */
    const char *last;    /* after the last call */
    const char *pre;     /* each call: before the name */
    const char *mid;     /* after the name, before the arguments */
    const char *opt;     /* GBNF of what may follow the arguments (NULL: nothing) */
    const char *post;    /* after the arguments */
    bool multi;          /* several calls in one reply */
    bool text_first;     /* free text may precede the calls */
} call_syntax;

static const call_syntax k_chatml = {.marker = "<tool_call>",
                                     .first = "",
                                     .between = "\n",
                                     .last = "",
                                     .pre = "<tool_call>\n{\"name\": \"",
                                     .mid = "\", \"arguments\": ",
                                     .post = "}\n</tool_call>",
                                     .multi = true,
                                     .text_first = true};
static const call_syntax k_llama3 = {.marker = "{",
                                     .first = "",
                                     .between = "",
                                     .last = "",
                                     .pre = "{\"name\": \"",
                                     .mid = "\", \"parameters\": ",
                                     .post = "}"};
static const call_syntax k_deepseek3 = {.marker = DS_CALLS_BEGIN,
                                        .first = DS_CALLS_BEGIN,
                                        .between = "\n",
                                        .last = DS_CALLS_END,
                                        .pre = DS_CALL_BEGIN "function" DS_SEP,
                                        .mid = "\n```json\n",
                                        .post = "\n```" DS_CALL_END,
                                        .multi = true,
                                        .text_first = true};
/* the optional id is the one the template writes into history */
static const call_syntax k_mistral = {.marker = "[TOOL_CALLS]",
                                      .first = "[TOOL_CALLS] [",
                                      .between = ", ",
                                      .last = "]",
                                      .pre = "{\"name\": \"",
                                      .mid = "\", \"arguments\": ",
                                      .opt = "(\", \\\"id\\\": \\\"\" [a-zA-Z0-9]{9} \"\\\"\")?",
                                      .post = "}",
                                      .multi = true};
static const call_syntax k_harmony = {.marker = "<|",
                                      .first = "",
                                      .between = "",
                                      .last = "",
                                      .pre = "<|channel|>commentary to=functions.",
                                      .mid = " <|constrain|>json<|message|>",
                                      /* <|call|> is an end-of-generation token: optional, so
                                       * the sampler may end the reply with it */
                                      .opt = "\"<|call|>\"?",
                                      .post = ""};

/* The name as it appears in the call: raw for every family here, which
 * writes it between quotes without escaping (templates paste it as is). */
static int check_tool_name(const char *name, char *err, size_t errlen)
{
    for (const char *p = name; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || *p == ' ' || *p == '<')
            return swarm_err_set(
                err, errlen,
                "tool name \"%s\" has a character (quote, backslash, space, '<' or a "
                "control) that no family's call syntax can carry",
                name);
    return 0;
}

int rt_chat_tool_grammar(const char *family, const rt_tool_def *tools, size_t n_tools,
                         rt_tool_choice choice, const char *named, char **gbnf, char *err,
                         size_t errlen)
{
    *gbnf = NULL;
    const call_syntax *cs;
    if (!family) return swarm_err_set(err, errlen, "tool grammar: no chat template family given");
    if (!strcmp(family, "chatml"))
        cs = &k_chatml;
    else if (!strcmp(family, "llama3"))
        cs = &k_llama3;
    else if (!strcmp(family, "deepseek3"))
        cs = &k_deepseek3;
    else if (!strcmp(family, "mistral-v3"))
        cs = &k_mistral;
    else if (!strcmp(family, "harmony"))
        cs = &k_harmony;
    else
        return swarm_err_set(
            err, errlen,
            "tool grammar: chat template family \"%s\" has no tool-call format (tool "
            "calls: chatml, llama3, deepseek3, mistral-v3, harmony)",
            family);
    if (choice != RT_TOOL_CHOICE_NONE && n_tools == 0)
        return swarm_err_set(err, errlen, "tool grammar: no tools given to call");
    if (choice == RT_TOOL_CHOICE_NAMED) {
        bool found = false;
        for (size_t i = 0; i < n_tools && named; i++)
            found |= tools[i].name && !strcmp(tools[i].name, named);
        if (!found)
            return swarm_err_set(
                err, errlen, "tool grammar: tool_choice names \"%s\", which is not a listed tool",
                named ? named : "(none)");
    }
    swarm_buf b = {0};
    swarm_buf_putn(&b, "", 0);
    bool calls = choice != RT_TOOL_CHOICE_NONE;
    bool text = choice == RT_TOOL_CHOICE_AUTO || choice == RT_TOOL_CHOICE_NONE;
    bool harmony = cs == &k_harmony;
    /* root */
    swarm_buf_put(&b, "root ::= ");
    if (harmony) {
        /* an optional analysis message, then the final answer or a call */
        swarm_buf_put(&b,
                      "(\"<|channel|>analysis<|message|>\" free \"<|end|><|start|>assistant\")? (");
        if (text) swarm_buf_put(&b, "\"<|channel|>final<|message|>\" free");
        if (text && calls) swarm_buf_put(&b, " | ");
        if (calls) swarm_buf_put(&b, "call");
        swarm_buf_put(&b, ")\n");
    } else if (!calls) {
        swarm_buf_put(&b, cs == &k_llama3 ? "answer\n" : "free\n");
    } else if (!text) {
        swarm_buf_put(&b, "calls\n");
    } else if (cs->text_first) {
        swarm_buf_put(&b, "free calls?\n");
    } else {
        swarm_buf_put(&b, cs == &k_llama3 ? "answer | calls\n" : "free | calls\n");
    }
    if (cs == &k_llama3)
        swarm_buf_put(&b, "answer ::= ([^{ \\x09\\x0A\\x0D] [^\\x00]*)?\n");
    else
        g_free_text(&b, "free", cs->marker);
    if (calls) {
        if (!harmony) {
            swarm_buf_put(&b, "calls ::= ");
            g_lit(&b, cs->first);
            swarm_buf_put(&b, cs->multi ? " call (" : " call");
            if (cs->multi) {
                g_lit(&b, cs->between);
                swarm_buf_put(&b, " call)*");
            }
            swarm_buf_put(&b, " ");
            g_lit(&b, cs->last);
            swarm_buf_put(&b, "\n");
        }
        swarm_buf_put(&b, "call ::= ");
        size_t alts = 0;
        for (size_t i = 0; i < n_tools; i++) {
            const rt_tool_def *t = &tools[i];
            if (!t->name || !*t->name) {
                free(b.s);
                return swarm_err_set(err, errlen, "tool grammar: tool %zu has no name", i);
            }
            if (choice == RT_TOOL_CHOICE_NAMED && strcmp(t->name, named)) continue;
            if (check_tool_name(t->name, err, errlen)) {
                free(b.s);
                return -1;
            }
            char ref[48];
            snprintf(ref, sizeof(ref), " t%zu-root ", i);
            if (alts++) swarm_buf_put(&b, " | ");
            g_lit(&b, cs->pre);
            swarm_buf_put(&b, " ");
            g_lit(&b, t->name);
            swarm_buf_put(&b, " ");
            g_lit(&b, cs->mid);
            swarm_buf_put(&b, ref);
            if (cs->opt) {
                swarm_buf_put(&b, cs->opt);
                swarm_buf_put(&b, " ");
            }
            g_lit(&b, cs->post);
        }
        swarm_buf_put(&b, "\n");
        for (size_t i = 0; i < n_tools; i++) {
            const rt_tool_def *t = &tools[i];
            if (choice == RT_TOOL_CHOICE_NAMED && strcmp(t->name, named)) continue;
            const char *schema = t->parameters ? t->parameters : "{\"type\": \"object\"}";
            char *sg = NULL, serr[256] = "";
            if (rt_json_schema_to_gbnf(schema, strlen(schema), &sg, serr, sizeof(serr))) {
                free(b.s);
                return swarm_err_set(err, errlen, "tool grammar: tool \"%s\" parameters: %s",
                                     t->name, serr);
            }
            char prefix[32];
            snprintf(prefix, sizeof(prefix), "t%zu-", i);
            g_prefixed(&b, sg, prefix);
            free(sg);
        }
    }
    if (b.oom) {
        free(b.s);
        return swarm_err_set(err, errlen, "tool grammar: out of memory");
    }
    *gbnf = b.s;
    return 0;
}
