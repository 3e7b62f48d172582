/* chat_json.c - the JSON reader and Python-style writer behind chat_json.h.
 *
 * Recursive descent with a depth limit, so hostile tool arguments fail with a
 * message instead of exhausting the stack. */
#include "chat_json.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarm_err.h"
#include "swarm_utf8.h"

enum { CJ_MAX_DEPTH = 256 };

typedef struct {
    const char *p;
    size_t len, i;
    char *err;
    size_t errlen;
    bool failed;
} cj_reader;

/* The first failure is reported, with the byte offset it was found at. */
__attribute__((format(printf, 2, 3))) static int rfail(cj_reader *r, const char *fmt, ...)
{
    if (!r->failed) {
        swarm_err_set(r->err, r->errlen, "invalid JSON at byte %zu: ", r->i);
        va_list ap;
        va_start(ap, fmt);
        swarm_err_vappend(r->err, r->errlen, fmt, ap);
        va_end(ap);
    }
    r->failed = true;
    return -1;
}

static void skip_ws(cj_reader *r)
{
    while (r->i < r->len &&
           (r->p[r->i] == ' ' || r->p[r->i] == '\t' || r->p[r->i] == '\n' || r->p[r->i] == '\r'))
        r->i++;
}

static int hex4(cj_reader *r, uint32_t *out)
{
    if (r->len - r->i < 4) return rfail(r, "truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        char c = r->p[r->i++];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return rfail(r, "bad hex digit in \\u escape");
    }
    *out = v;
    return 0;
}

static void put_utf8(swarm_buf *b, uint32_t cp)
{
    char u[4];
    swarm_buf_putn(b, u, swarm_utf8_encode(cp, u));
}

/* Reads a string at r->i (on the opening quote) into a fresh buffer. */
static int read_string(cj_reader *r, char **out, size_t *outlen)
{
    swarm_buf b = {0};
    swarm_buf_putn(&b, "", 0);
    r->i++; /* opening quote */
    for (;;) {
        if (r->i >= r->len) {
            free(b.s);
            return rfail(r, "unterminated string");
        }
        unsigned char c = (unsigned char)r->p[r->i];
        if (c == '"') {
            r->i++;
            break;
        }
        if (c < 0x20) {
            free(b.s);
            return rfail(r, "control character 0x%02x in a string (escape it)", c);
        }
        if (c != '\\') {
            size_t j = r->i;
            while (j < r->len && r->p[j] != '"' && r->p[j] != '\\' &&
                   (unsigned char)r->p[j] >= 0x20)
                j++;
            swarm_buf_putn(&b, r->p + r->i, j - r->i);
            r->i = j;
            continue;
        }
        if (++r->i >= r->len) {
            free(b.s);
            return rfail(r, "unterminated escape");
        }
        char e = r->p[r->i++];
        const char *rep = NULL;
        switch (e) {
        case '"':
            rep = "\"";
            break;
        case '\\':
            rep = "\\";
            break;
        case '/':
            rep = "/";
            break;
        case 'b':
            rep = "\b";
            break;
        case 'f':
            rep = "\f";
            break;
        case 'n':
            rep = "\n";
            break;
        case 'r':
            rep = "\r";
            break;
        case 't':
            rep = "\t";
            break;
        case 'u': {
            uint32_t cp;
            if (hex4(r, &cp)) {
                free(b.s);
                return -1;
            }
            if (cp >= 0xD800 && cp < 0xDC00) {
                uint32_t lo;
                if (r->len - r->i < 6 || r->p[r->i] != '\\' || r->p[r->i + 1] != 'u') {
                    free(b.s);
                    return rfail(r, "high surrogate without its low half");
                }
                r->i += 2;
                if (hex4(r, &lo)) {
                    free(b.s);
                    return -1;
                }
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    free(b.s);
                    return rfail(r, "high surrogate without its low half");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                free(b.s);
                return rfail(r, "lone low surrogate");
            }
            put_utf8(&b, cp);
            break;
        }
        default:
            free(b.s);
            return rfail(r, "unknown escape \\%c", e);
        }
        if (rep) swarm_buf_putn(&b, rep, 1);
    }
    if (b.oom) {
        free(b.s);
        return rfail(r, "out of memory");
    }
    *out = b.s;
    *outlen = b.n;
    return 0;
}

static int read_value(cj_reader *r, cj_value *v, int depth);

static int add_kid(cj_reader *r, cj_value *v, size_t *cap)
{
    if (v->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        cj_value *nk = realloc(v->kids, nc * sizeof(*nk));
        if (!nk) return rfail(r, "out of memory");
        v->kids = nk;
        if (v->t == CJ_OBJ) {
            char **kk = realloc(v->keys, nc * sizeof(*kk));
            if (!kk) return rfail(r, "out of memory");
            v->keys = kk;
        }
        *cap = nc;
    }
    memset(&v->kids[v->n], 0, sizeof(v->kids[0]));
    if (v->t == CJ_OBJ) v->keys[v->n] = NULL;
    v->n++;
    return 0;
}

static int read_container(cj_reader *r, cj_value *v, int depth)
{
    bool obj = r->p[r->i] == '{';
    char close = obj ? '}' : ']';
    v->t = obj ? CJ_OBJ : CJ_ARR;
    r->i++;
    size_t cap = 0;
    skip_ws(r);
    if (r->i < r->len && r->p[r->i] == close) {
        r->i++;
        return 0;
    }
    for (;;) {
        skip_ws(r);
        if (add_kid(r, v, &cap)) return -1;
        if (obj) {
            if (r->i >= r->len || r->p[r->i] != '"')
                return rfail(r, "expected a member name in double quotes");
            size_t kl;
            if (read_string(r, &v->keys[v->n - 1], &kl)) return -1;
            skip_ws(r);
            if (r->i >= r->len || r->p[r->i] != ':')
                return rfail(r, "expected ':' after a member name");
            r->i++;
        }
        if (read_value(r, &v->kids[v->n - 1], depth + 1)) return -1;
        skip_ws(r);
        if (r->i < r->len && r->p[r->i] == ',') {
            r->i++;
            continue;
        }
        if (r->i < r->len && r->p[r->i] == close) {
            r->i++;
            return 0;
        }
        return rfail(r, "expected ',' or '%c'", close);
    }
}

static int read_number(cj_reader *r, cj_value *v)
{
    size_t s = r->i, i = r->i;
    if (i < r->len && r->p[i] == '-') i++;
    if (i < r->len && r->p[i] == '0')
        i++;
    else if (i < r->len && r->p[i] >= '1' && r->p[i] <= '9')
        while (i < r->len && r->p[i] >= '0' && r->p[i] <= '9')
            i++;
    else
        return rfail(r, "expected a value");
    if (i < r->len && r->p[i] == '.') {
        i++;
        if (i >= r->len || r->p[i] < '0' || r->p[i] > '9') {
            r->i = i;
            return rfail(r, "expected a digit after '.'");
        }
        while (i < r->len && r->p[i] >= '0' && r->p[i] <= '9')
            i++;
    }
    if (i < r->len && (r->p[i] == 'e' || r->p[i] == 'E')) {
        i++;
        if (i < r->len && (r->p[i] == '+' || r->p[i] == '-')) i++;
        if (i >= r->len || r->p[i] < '0' || r->p[i] > '9') {
            r->i = i;
            return rfail(r, "expected a digit in the exponent");
        }
        while (i < r->len && r->p[i] >= '0' && r->p[i] <= '9')
            i++;
    }
    v->t = CJ_NUM;
    v->s = strndup(r->p + s, i - s);
    if (!v->s) return rfail(r, "out of memory");
    v->len = i - s;
    r->i = i;
    return 0;
}

static bool lit(cj_reader *r, const char *w)
{
    size_t n = strlen(w);
    if (r->len - r->i >= n && !memcmp(r->p + r->i, w, n)) {
        r->i += n;
        return true;
    }
    return false;
}

static int read_value(cj_reader *r, cj_value *v, int depth)
{
    if (depth > CJ_MAX_DEPTH) return rfail(r, "nested deeper than %d levels", CJ_MAX_DEPTH);
    skip_ws(r);
    if (r->i >= r->len) return rfail(r, "unexpected end of text, expected a value");
    char c = r->p[r->i];
    if (c == '{' || c == '[') return read_container(r, v, depth);
    if (c == '"') {
        v->t = CJ_STR;
        return read_string(r, &v->s, &v->len);
    }
    if (lit(r, "true")) {
        v->t = CJ_TRUE;
        return 0;
    }
    if (lit(r, "false")) {
        v->t = CJ_FALSE;
        return 0;
    }
    if (lit(r, "null")) {
        v->t = CJ_NULL;
        return 0;
    }
    return read_number(r, v);
}

static void free_inner(cj_value *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free_inner(&v->kids[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->kids);
    free(v->keys);
    free(v->s);
}

void cj_free(cj_value *v)
{
    if (!v) return;
    free_inner(v);
    free(v);
}

int cj_parse(const char *text, size_t len, cj_value **out, size_t *end, char *err, size_t errlen)
{
    *out = NULL;
    cj_reader r = {text, len, 0, err, errlen, false};
    cj_value *v = calloc(1, sizeof(*v));
    if (!v) return rfail(&r, "out of memory");
    if (read_value(&r, v, 0) == 0) {
        if (end) {
            *end = r.i;
        } else {
            skip_ws(&r);
            if (r.i < r.len) rfail(&r, "unexpected text after the value");
        }
    }
    if (r.failed) {
        cj_free(v);
        return -1;
    }
    *out = v;
    return 0;
}

const cj_value *cj_get(const cj_value *obj, const char *key)
{
    if (!obj || obj->t != CJ_OBJ) return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (!strcmp(obj->keys[i], key)) return &obj->kids[i];
    return NULL;
}

bool cj_is_str(const cj_value *v, const char *s)
{
    return v && v->t == CJ_STR && v->len == strlen(s) && !memcmp(v->s, s, v->len);
}

/* json.dumps escapes ", \, the C0 controls (\n \r \t \b \f by name) and
 * leaves everything else, non-ASCII included (ensure_ascii=False), as is. */
void cj_dump_str(swarm_buf *b, const char *s, size_t n)
{
    swarm_buf_putn(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        char hex[8];
        switch (c) {
        case '"':
            rep = "\\\"";
            break;
        case '\\':
            rep = "\\\\";
            break;
        case '\n':
            rep = "\\n";
            break;
        case '\r':
            rep = "\\r";
            break;
        case '\t':
            rep = "\\t";
            break;
        case '\b':
            rep = "\\b";
            break;
        case '\f':
            rep = "\\f";
            break;
        default:
            if (c < 0x20) {
                snprintf(hex, sizeof(hex), "\\u%04x", c);
                rep = hex;
            }
        }
        if (rep) {
            swarm_buf_putn(b, s + run, i - run);
            swarm_buf_put(b, rep);
            run = i + 1;
        }
    }
    swarm_buf_putn(b, s + run, n - run);
    swarm_buf_putn(b, "\"", 1);
}

static void newline(swarm_buf *b, int indent, int level)
{
    swarm_buf_putn(b, "\n", 1);
    for (int i = 0; i < indent * level; i++)
        swarm_buf_putn(b, " ", 1);
}

static void dump(swarm_buf *b, const cj_value *v, int indent, int level)
{
    switch (v->t) {
    case CJ_NULL:
        swarm_buf_put(b, "null");
        return;
    case CJ_TRUE:
        swarm_buf_put(b, "true");
        return;
    case CJ_FALSE:
        swarm_buf_put(b, "false");
        return;
    case CJ_NUM:
        swarm_buf_putn(b, v->s, v->len);
        return;
    case CJ_STR:
        cj_dump_str(b, v->s, v->len);
        return;
    case CJ_ARR:
    case CJ_OBJ:
        break;
    }
    bool obj = v->t == CJ_OBJ;
    if (v->n == 0) {
        swarm_buf_put(b, obj ? "{}" : "[]");
        return;
    }
    swarm_buf_put(b, obj ? "{" : "[");
    for (size_t i = 0; i < v->n; i++) {
        if (i) swarm_buf_put(b, indent < 0 ? ", " : ",");
        if (indent >= 0) newline(b, indent, level + 1);
        if (obj) {
            cj_dump_str(b, v->keys[i], strlen(v->keys[i]));
            swarm_buf_put(b, ": ");
        }
        dump(b, &v->kids[i], indent, level + 1);
    }
    if (indent >= 0) newline(b, indent, level);
    swarm_buf_put(b, obj ? "}" : "]");
}

void cj_dump(swarm_buf *b, const cj_value *v, int indent)
{
    dump(b, v, indent, 0);
}

bool cj_equal(const cj_value *a, const cj_value *b)
{
    if (a->t != b->t) return false;
    switch (a->t) {
    case CJ_NULL:
    case CJ_TRUE:
    case CJ_FALSE:
        return true;
    case CJ_NUM:
        return strtod(a->s, NULL) == strtod(b->s, NULL);
    case CJ_STR:
        return a->len == b->len && !memcmp(a->s, b->s, a->len);
    case CJ_ARR:
        if (a->n != b->n) return false;
        for (size_t i = 0; i < a->n; i++)
            if (!cj_equal(&a->kids[i], &b->kids[i])) return false;
        return true;
    case CJ_OBJ:
        if (a->n != b->n) return false;
        for (size_t i = 0; i < a->n; i++) {
            const cj_value *o = cj_get(b, a->keys[i]);
            if (!o || !cj_equal(&a->kids[i], o)) return false;
        }
        return true;
    }
    return false;
}
