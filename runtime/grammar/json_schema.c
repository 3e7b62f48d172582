/* json_schema.c - JSON Schema (draft 2020-12 subset) compiled to GBNF.
 *
 * The grammar accepts JSON texts whose values are valid under the schema.
 * Exactness comes first: every keyword is either compiled exactly or the
 * schema is refused with the JSON pointer of the keyword; nothing is
 * silently dropped (annotations - title, description, default, examples,
 * $comment, $schema, root $id, deprecated, readOnly, writeOnly, content*,
 * OpenAPI's discriminator, x-* extensions - carry no assertion and are
 * skipped).
 *
 * Model: a schema is compiled as a conjunction (a list of subschemas that
 * must all hold: the schema itself, its allOf members, the targets of $ref
 * with siblings). anyOf/oneOf distribute over the conjunction, one branch
 * each; oneOf only when its branches are provably disjoint (different types,
 * disjoint const/enum sets, a required discriminator property with
 * disjoint const/enum values, or a property one requires and the other
 * forbids), else it is refused. dependentRequired, dependentSchemas and
 * propertyNames (boolean or const/enum of names) are rewritten once into
 * those plain keywords. A conjunction with no combinators left compiles per
 * JSON type: null, boolean, numbers, strings, arrays (items, prefixItems,
 * counts, contains), objects (member counts for min/maxProperties); `not`
 * only around a boolean or a bare type.
 * Each conjunction becomes one rule, memoized by its members, so recursive
 * $ref becomes a recursive rule.
 *
 * Text produced (and so the only text the grammar accepts):
 * - whitespace: none before the value; after every token at most one space,
 *   or a newline followed by up to 20 spaces/tabs ("ws"), so a model can
 *   pretty-print shallow JSON but cannot loop on whitespace.
 * - objects: named properties in the schema's order (`properties` order,
 *   then required names not listed there), required ones present, optional
 *   ones may be left out; additional properties (when allowed - the default
 *   in JSON Schema is allowed) may appear anywhere between them.
 * - strings: any JSON escapes in free strings (\u escapes never encode a
 *   lone surrogate, so minLength/maxLength count code points exactly);
 *   property names, const/enum strings and pattern-constrained strings are
 *   written canonically: raw UTF-8 except ", \ and control characters.
 * - numbers: any JSON number; integers (type integer) are written without
 *   fraction or exponent, numbers with bounds without exponent.
 * - const/enum: the value's compact canonical text (integral numbers as
 *   integers, others as the shortest round-trip decimal, no exponent).
 *
 * pattern: an ECMA-262 subset over code points - literals, escapes
 * (\d \w \s \D \W \S \t \n \r \f \v \0 \xHH \uHHHH, escaped punctuation),
 * classes [...] / [^...] with ranges, `.`, groups (...) (?:...), `|`,
 * quantifiers * + ? {m} {m,} {m,n} (lazy forms too), anchors ^ $ at the
 * ends of top-level alternatives; unanchored patterns match anywhere.
 * Backreferences, lookaround, \b and unicode property escapes are refused.
 * format is an annotation in draft 2020-12 and asserts nothing here either
 * (the JSON Schema Test Suite checks exactly that).
 * minimum/maximum/exclusive*: integers and numbers (|bound| < 2^62).
 *
 * Limits (each an error naming the pointer): 256 levels of schema nesting,
 * lengths and item counts up to 10^7, 4 MiB of grammar, 8 MiB of schema. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"
#include "swarm_buf.h"
#include "swarm_err.h"
#include "swarm_utf8.h"

#define JSC_MAX_SCHEMA (8u << 20)
#define JSC_MAX_OUT (4u << 20)
#define JSC_MAX_DEPTH 256
#define JSC_MAX_REPEAT 10000   /* one {m,n} in GBNF */
#define JSC_MAX_COUNT 10000000 /* counts beyond JSC_MAX_REPEAT are split in blocks */
#define JSC_BLOCK 1000
#define JSC_MAX_CONJ 256
#define JSC_MAX_RULES 200000
#define JSC_MAX_NAME 40
#define JSC_BOUND_MAX 4611686018427387904.0 /* 2^62 */

/* JSON types as bits; numbers split into integral and non-integral values. */
enum {
    T_NULL = 1,
    T_BOOL = 2,
    T_OBJ = 4,
    T_ARR = 8,
    T_STR = 16,
    T_INT = 32,
    T_FRAC = 64,
    T_NUM = T_INT | T_FRAC,
    T_ALL = 127
};

/* Combinators of one conjunction member already expanded. */
enum { D_ALLOF = 1, D_ANYOF = 2, D_ONEOF = 4, D_REF = 8, D_DEP = 16 };

/* Helper rules, emitted after the schema rules when used. */
enum {
    H_WS,
    H_VALUE,
    H_OBJECT,
    H_ARRAY,
    H_STRING,
    H_CHAR,
    H_HEX,
    H_NUMBER,
    H_INTEGER,
    H_KCHAR,
    H_COUNT
};

static const char *const helper_name[H_COUNT] = {
    "ws",        "json-value", "json-object", "json-array",   "json-string",
    "json-char", "json-hex",   "json-number", "json-integer", "json-kchar",
};

/* ---- string -> int map (open addressing), for memo keys and rule names ---- */

typedef struct {
    char **keys;
    int *vals;
    size_t cap, n;
} jmap;

static uint64_t jmap_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int *jmap_get(const jmap *m, const char *k)
{
    if (!m->cap) return NULL;
    for (size_t i = jmap_hash(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i]) return NULL;
        if (!strcmp(m->keys[i], k)) return &m->vals[i];
    }
}

static int jmap_put(jmap *m, const char *k, int v)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 256;
        char **nk = calloc(nc, sizeof *nk);
        int *nv = calloc(nc, sizeof *nv);
        if (!nk || !nv) {
            free(nk);
            free(nv);
            return -1;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i]) continue;
            size_t j = jmap_hash(m->keys[i]) & (nc - 1);
            while (nk[j])
                j = (j + 1) & (nc - 1);
            nk[j] = m->keys[i];
            nv[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = nk;
        m->vals = nv;
        m->cap = nc;
    }
    size_t i = jmap_hash(k) & (m->cap - 1);
    while (m->keys[i]) {
        if (!strcmp(m->keys[i], k)) {
            m->vals[i] = v;
            return 0;
        }
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = strdup(k);
    if (!m->keys[i]) return -1;
    m->vals[i] = v;
    m->n++;
    return 0;
}

static void jmap_free(jmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->vals);
}

/* ---- compiler state ---- */

typedef struct {
    const cJSON *s;
    const char *ptr; /* JSON pointer of s, owned by the context */
    unsigned done;   /* D_* */
} jel;

typedef struct {
    jel *v;
    size_t n, cap;
} jconj;

typedef struct {
    char *name;
    char *body; /* NULL while being compiled */
    bool referenced_early;
} jrule;

#define MEMO_NEVER (-1)
#define MEMO_ANY (-3) /* json-value */

typedef struct {
    const cJSON *doc;
    jrule *rules;
    size_t n_rules, cap_rules;
    jmap names; /* rule name -> rule index (-1: helper) */
    jmap bases; /* name stem -> next suffix to try */
    jmap memo;  /* conjunction key -> rule index or MEMO_NEVER */
    char **strs;
    size_t n_strs, cap_strs;
    cJSON **synth; /* schemas written by the compiler (dependent* rewrites) */
    size_t n_synth, cap_synth;
    jmap synth_at; /* pointer of the rewritten member -> index in synth */
    bool helper[H_COUNT];
    size_t out_bytes;
    int depth;
    char *err;
    size_t errlen;
    bool failed;
} jctx;

/* The first failure's message is the one reported (later ones follow from it). */
__attribute__((format(printf, 2, 3))) static int jfail(jctx *x, const char *fmt, ...)
{
    if (!x->failed) {
        va_list ap;
        va_start(ap, fmt);
        swarm_err_vset(x->err, x->errlen, fmt, ap);
        va_end(ap);
        x->failed = true;
    }
    return -1;
}

static int joom(jctx *x)
{
    return jfail(x, "json schema: out of memory");
}

static const char *jstr_keep(jctx *x, char *s)
{
    if (!s) return NULL;
    if (x->n_strs == x->cap_strs) {
        size_t nc = x->cap_strs ? x->cap_strs * 2 : 64;
        char **p = realloc(x->strs, nc * sizeof *p);
        if (!p) {
            free(s);
            return NULL;
        }
        x->strs = p;
        x->cap_strs = nc;
    }
    x->strs[x->n_strs++] = s;
    return s;
}

/* ptr + "/" + escaped token (~ -> ~0, / -> ~1). */
static const char *jptr(jctx *x, const char *ptr, const char *tok)
{
    swarm_buf b = {0};
    swarm_buf_put(&b, ptr);
    swarm_buf_put(&b, "/");
    for (const char *p = tok; *p; p++) {
        if (*p == '~')
            swarm_buf_put(&b, "~0");
        else if (*p == '/')
            swarm_buf_put(&b, "~1");
        else
            swarm_buf_putn(&b, p, 1);
    }
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    if (!b.s) b.s = strdup("");
    return jstr_keep(x, b.s);
}

static const char *jptr_idx(jctx *x, const char *ptr, const char *kw, int i)
{
    char tok[32];
    snprintf(tok, sizeof tok, "%d", i);
    const char *p = jptr(x, ptr, kw);
    return p ? jptr(x, p, tok) : NULL;
}

static void jhelper(jctx *x, int h)
{
    if (x->helper[h]) return;
    x->helper[h] = true;
    switch (h) {
    case H_VALUE:
        jhelper(x, H_OBJECT);
        jhelper(x, H_ARRAY);
        jhelper(x, H_STRING);
        jhelper(x, H_NUMBER);
        break;
    case H_OBJECT:
    case H_ARRAY:
        jhelper(x, H_WS);
        jhelper(x, H_STRING);
        jhelper(x, H_VALUE);
        break;
    case H_STRING:
        jhelper(x, H_CHAR);
        break;
    case H_CHAR:
        jhelper(x, H_HEX);
        break;
    default:
        break;
    }
}

/* ---- UTF-8 and GBNF text ---- */

/* Decodes the code point at s[*i] (strict UTF-8, common/swarm_utf8.h) and
 * steps past it; -1 on invalid UTF-8. */
static int utf8_next(const char *s, size_t n, size_t *i, uint32_t *cp)
{
    size_t k = swarm_utf8_decode((const unsigned char *)s + *i, n - *i, cp);
    if (!k) return -1;
    *i += k;
    return 0;
}

/* One code point as GBNF source (inside a literal or a class). */
static void gb_cp(swarm_buf *b, uint32_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        swarm_buf_printf(b, "%c", (char)c);
    else if (c < 0x80)
        swarm_buf_printf(b, "\\x%02X", (unsigned)c);
    else if (c <= 0xFFFF)
        swarm_buf_printf(b, "\\u%04X", (unsigned)c);
    else
        swarm_buf_printf(b, "\\U%08X", (unsigned)c);
}

/* A GBNF string literal for UTF-8 bytes (n > 0, valid UTF-8). */
static int gb_lit(swarm_buf *b, const char *s, size_t n)
{
    swarm_buf_put(b, "\"");
    for (size_t i = 0; i < n;) {
        uint32_t c;
        if (utf8_next(s, n, &i, &c)) return -1;
        if (c == ' ')
            swarm_buf_put(b, " ");
        else
            gb_cp(b, c);
    }
    swarm_buf_put(b, "\"");
    return 0;
}

/* ---- code point sets ---- */

typedef struct {
    uint32_t *v; /* pairs lo, hi */
    size_t n, cap;
    bool oom;
} jset;

static void set_add(jset *s, uint32_t lo, uint32_t hi)
{
    if (s->oom || lo > hi) return;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        uint32_t *p = realloc(s->v, nc * 2 * sizeof *p);
        if (!p) {
            s->oom = true;
            return;
        }
        s->v = p;
        s->cap = nc;
    }
    s->v[2 * s->n] = lo;
    s->v[2 * s->n + 1] = hi;
    s->n++;
}

static int pair_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void set_norm(jset *s)
{
    if (s->n < 2) return;
    qsort(s->v, s->n, 2 * sizeof *s->v, pair_cmp);
    size_t k = 0;
    for (size_t i = 1; i < s->n; i++) {
        if (s->v[2 * i] <= s->v[2 * k + 1] + 1 && s->v[2 * k + 1] != UINT32_MAX) {
            if (s->v[2 * i + 1] > s->v[2 * k + 1]) s->v[2 * k + 1] = s->v[2 * i + 1];
        } else {
            k++;
            s->v[2 * k] = s->v[2 * i];
            s->v[2 * k + 1] = s->v[2 * i + 1];
        }
    }
    s->n = k + 1;
}

/* Complement within [0, 0x10FFFF] (s normalized). */
static jset set_not(const jset *s)
{
    jset r = {0};
    uint32_t next = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[2 * i] > next) set_add(&r, next, s->v[2 * i] - 1);
        next = s->v[2 * i + 1] + 1;
    }
    if (next <= 0x10FFFF) set_add(&r, next, 0x10FFFF);
    if (s->oom) r.oom = true;
    return r;
}

static bool set_has(const jset *s, uint32_t c)
{
    for (size_t i = 0; i < s->n; i++)
        if (c >= s->v[2 * i] && c <= s->v[2 * i + 1]) return true;
    return false;
}

static void gb_class(swarm_buf *b, const jset *s, bool neg)
{
    swarm_buf_put(b, neg ? "[^" : "[");
    for (size_t i = 0; i < s->n; i++) {
        gb_cp(b, s->v[2 * i]);
        if (s->v[2 * i + 1] != s->v[2 * i]) {
            swarm_buf_put(b, "-");
            gb_cp(b, s->v[2 * i + 1]);
        }
    }
    swarm_buf_put(b, "]");
}

/* Alternatives joined by |; an empty alternative makes the rest optional.
 * Returns false when there is no alternative at all (the empty language). */
typedef struct {
    swarm_buf b;
    int n;
    bool eps;
} jalt;

static void alt_add(jalt *a, const char *expr)
{
    if (!*expr) {
        a->eps = true;
        return;
    }
    if (a->n++) swarm_buf_put(&a->b, " | ");
    swarm_buf_put(&a->b, expr);
}

/* Writes the alternation as one grouped expression into out. */
static bool alt_emit(jalt *a, swarm_buf *out)
{
    bool any = a->n || a->eps;
    if (a->n == 1 && !a->eps)
        swarm_buf_put(out, swarm_buf_str(&a->b));
    else if (a->n) {
        swarm_buf_put(out, "(");
        swarm_buf_put(out, swarm_buf_str(&a->b));
        swarm_buf_put(out, a->eps ? ")?" : ")");
    }
    if (a->b.oom) out->oom = true;
    free(a->b.s);
    a->b = (swarm_buf){0};
    return any;
}

/* The characters of set s as they may appear inside a JSON string, written
 * canonically: raw UTF-8 except " \ and control characters, which take their
 * short escapes or \u00XX (either case); '/' also as \/. Returns false for
 * the empty set. */
static bool gb_jchars(swarm_buf *out, const jset *s)
{
    /* raw = s minus controls, '"', '\\' and surrogates */
    jset raw = {0};
    static const uint32_t cut[][2] = {{0, 0x1F}, {'"', '"'}, {'\\', '\\'}, {0xD800, 0xDFFF}};
    for (size_t i = 0; i < s->n; i++) {
        uint32_t lo = s->v[2 * i], hi = s->v[2 * i + 1];
        for (size_t k = 0; k < 4 && lo <= hi; k++) {
            if (cut[k][1] < lo || cut[k][0] > hi) continue;
            if (cut[k][0] > lo) set_add(&raw, lo, cut[k][0] - 1);
            lo = cut[k][1] + 1;
        }
        if (lo <= hi) set_add(&raw, lo, hi);
    }
    set_norm(&raw);
    jalt al = {0};
    if (raw.n) {
        swarm_buf c = {0};
        jset inv = set_not(&raw);
        if (inv.n < raw.n)
            gb_class(&c, &inv, true);
        else
            gb_class(&c, &raw, false);
        free(inv.v);
        alt_add(&al, swarm_buf_str(&c));
        free(c.s);
    }
    if (set_has(s, '"')) alt_add(&al, "\"\\\\\\\"\"");
    if (set_has(s, '\\')) alt_add(&al, "\"\\\\\\\\\"");
    if (set_has(s, '/')) alt_add(&al, "\"\\\\/\"");
    static const char shorts[][2] = {{8, 'b'}, {9, 't'}, {10, 'n'}, {12, 'f'}, {13, 'r'}};
    for (size_t k = 0; k < sizeof shorts / sizeof shorts[0]; k++)
        if (set_has(s, (uint32_t)shorts[k][0])) {
            char t[16];
            snprintf(t, sizeof t, "\"\\\\%c\"", shorts[k][1]);
            alt_add(&al, t);
        }
    for (int hi = 0; hi < 2; hi++) {
        jset low = {0};
        for (uint32_t c = 0; c < 16; c++) {
            if (!set_has(s, (uint32_t)hi * 16 + c)) continue;
            if (c < 10) {
                set_add(&low, '0' + c, '0' + c);
            } else {
                set_add(&low, 'a' + c - 10, 'a' + c - 10);
                set_add(&low, 'A' + c - 10, 'A' + c - 10);
            }
        }
        if (low.n) {
            set_norm(&low);
            swarm_buf t = {0};
            swarm_buf_printf(&t, "\"\\\\u00%d\" ", hi);
            gb_class(&t, &low, false);
            alt_add(&al, swarm_buf_str(&t));
            free(t.s);
        }
        free(low.v);
    }
    free(raw.v);
    return alt_emit(&al, out);
}

/* ---- JSON values: types, equality, canonical text ---- */

static unsigned jv_type(const cJSON *v)
{
    if (cJSON_IsNull(v)) return T_NULL;
    if (cJSON_IsBool(v)) return T_BOOL;
    if (cJSON_IsNumber(v)) return floor(v->valuedouble) == v->valuedouble ? T_INT : T_FRAC;
    if (cJSON_IsString(v)) return T_STR;
    if (cJSON_IsArray(v)) return T_ARR;
    return T_OBJ;
}

static bool jv_equal(const cJSON *a, const cJSON *b)
{
    unsigned ta = jv_type(a), tb = jv_type(b);
    if ((ta & T_NUM) && (tb & T_NUM)) return a->valuedouble == b->valuedouble;
    if (ta != tb) return false;
    switch (ta) {
    case T_NULL:
        return true;
    case T_BOOL:
        return cJSON_IsTrue(a) == cJSON_IsTrue(b);
    case T_STR:
        return !strcmp(a->valuestring, b->valuestring);
    case T_ARR: {
        const cJSON *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next)
            if (!jv_equal(x, y)) return false;
        return !x && !y;
    }
    default: {
        if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b)) return false;
        for (const cJSON *x = a->child; x; x = x->next) {
            const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);
            if (!y || !jv_equal(x, y)) return false;
        }
        return true;
    }
    }
}

/* The shortest decimal that reads back as d, in plain notation (no
 * exponent): "0.000001", "123.25". cap >= 400 holds every double. */
static void dbl_plain(double d, char *out, size_t cap)
{
    char e[64];
    int p = 1;
    for (; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, d);
        if (strtod(e, NULL) == d) break;
    }
    /* e = [-]D[.DDD]e[+-]XX */
    char digits[32];
    size_t nd = 0;
    const char *q = e;
    bool neg = *q == '-';
    if (neg) q++;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9' && nd < sizeof digits) digits[nd++] = *q;
    int x = *q ? atoi(q + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    size_t k = 0;
    if (neg) out[k++] = '-';
    if (x < 0) {
        out[k++] = '0';
        out[k++] = '.';
        for (int z = 0; z < -x - 1 && k + 2 < cap; z++)
            out[k++] = '0';
        for (size_t i = 0; i < nd && k + 1 < cap; i++)
            out[k++] = digits[i];
    } else {
        for (int i = 0; i <= x && k + 2 < cap; i++)
            out[k++] = (size_t)i < nd ? digits[i] : '0';
        if ((size_t)x + 1 < nd) {
            out[k++] = '.';
            for (size_t i = (size_t)x + 1; i < nd && k + 1 < cap; i++)
                out[k++] = digits[i];
        }
    }
    out[k] = 0;
}

/* Canonical number text: integral values as integers, others in the
 * shortest form that reads back to the same double. */
static void jv_num(swarm_buf *b, double d)
{
    char t[400];
    if (d == 0) {
        swarm_buf_put(b, "0");
        return;
    }
    if (floor(d) == d) {
        snprintf(t, sizeof t, "%.0f", d);
        swarm_buf_put(b, t);
        return;
    }
    dbl_plain(d, t, sizeof t);
    swarm_buf_put(b, t);
}

static void jv_str(swarm_buf *b, const char *s)
{
    swarm_buf_put(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            swarm_buf_put(b, "\\\"");
            break;
        case '\\':
            swarm_buf_put(b, "\\\\");
            break;
        case '\b':
            swarm_buf_put(b, "\\b");
            break;
        case '\f':
            swarm_buf_put(b, "\\f");
            break;
        case '\n':
            swarm_buf_put(b, "\\n");
            break;
        case '\r':
            swarm_buf_put(b, "\\r");
            break;
        case '\t':
            swarm_buf_put(b, "\\t");
            break;
        default:
            if (*p < 0x20)
                swarm_buf_printf(b, "\\u%04x", *p);
            else
                swarm_buf_putn(b, (const char *)p, 1);
        }
    }
    swarm_buf_put(b, "\"");
}

static void jv_canon(swarm_buf *b, const cJSON *v)
{
    switch (jv_type(v)) {
    case T_NULL:
        swarm_buf_put(b, "null");
        break;
    case T_BOOL:
        swarm_buf_put(b, cJSON_IsTrue(v) ? "true" : "false");
        break;
    case T_INT:
    case T_FRAC:
        jv_num(b, v->valuedouble);
        break;
    case T_STR:
        jv_str(b, v->valuestring);
        break;
    case T_ARR:
        swarm_buf_put(b, "[");
        for (const cJSON *c = v->child; c; c = c->next) {
            jv_canon(b, c);
            if (c->next) swarm_buf_put(b, ",");
        }
        swarm_buf_put(b, "]");
        break;
    default:
        swarm_buf_put(b, "{");
        for (const cJSON *c = v->child; c; c = c->next) {
            jv_str(b, c->string);
            swarm_buf_put(b, ":");
            jv_canon(b, c);
            if (c->next) swarm_buf_put(b, ",");
        }
        swarm_buf_put(b, "}");
    }
}

static bool jv_finite(const cJSON *v)
{
    if (cJSON_IsNumber(v)) return isfinite(v->valuedouble);
    for (const cJSON *c = v->child; c; c = c->next)
        if (!jv_finite(c)) return false;
    return true;
}

static int member_cmp(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* Canonical text with object members sorted: equal keys <=> equal JSON. */
static void jv_sorted(swarm_buf *b, const cJSON *v)
{
    if (jv_type(v) == T_ARR) {
        swarm_buf_put(b, "[");
        for (const cJSON *c = v->child; c; c = c->next) {
            jv_sorted(b, c);
            if (c->next) swarm_buf_put(b, ",");
        }
        swarm_buf_put(b, "]");
        return;
    }
    if (jv_type(v) != T_OBJ) {
        jv_canon(b, v);
        return;
    }
    size_t n = (size_t)cJSON_GetArraySize(v), k = 0;
    const cJSON **m = malloc((n + 1) * sizeof *m);
    if (!m) {
        b->oom = true;
        return;
    }
    for (const cJSON *c = v->child; c; c = c->next)
        m[k++] = c;
    qsort(m, n, sizeof *m, member_cmp);
    swarm_buf_put(b, "{");
    for (size_t i = 0; i < n; i++) {
        jv_str(b, m[i]->string);
        swarm_buf_put(b, ":");
        jv_sorted(b, m[i]);
        if (i + 1 < n) swarm_buf_put(b, ",");
    }
    swarm_buf_put(b, "}");
    free(m);
}

static char *jv_key(const cJSON *v)
{
    swarm_buf b = {0};
    jv_sorted(&b, v);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s ? b.s : strdup("");
}

static size_t utf8_count(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80) n++;
    return n;
}

/* ---- keywords ---- */

enum { K_ANNOT, K_SUPP, K_REFUSE };

typedef struct {
    const char *kw;
    int cls;
    unsigned types; /* K_SUPP: the instance types the keyword constrains */
} jkw;

static const jkw keywords[] = {
    {"title", K_ANNOT, 0},
    {"description", K_ANNOT, 0},
    {"default", K_ANNOT, 0},
    {"examples", K_ANNOT, 0},
    {"$comment", K_ANNOT, 0},
    {"$schema", K_ANNOT, 0},
    {"$id", K_ANNOT, 0},
    {"deprecated", K_ANNOT, 0},
    {"readOnly", K_ANNOT, 0},
    {"writeOnly", K_ANNOT, 0},
    {"contentMediaType", K_ANNOT, 0},
    {"contentEncoding", K_ANNOT, 0},
    {"contentSchema", K_ANNOT, 0},
    {"$defs", K_ANNOT, 0},
    {"discriminator", K_ANNOT, 0}, /* OpenAPI/Pydantic hint; the oneOf itself decides */
    {"definitions", K_ANNOT, 0},
    {"type", K_SUPP, T_ALL},
    {"enum", K_SUPP, T_ALL},
    {"const", K_SUPP, T_ALL},
    {"allOf", K_SUPP, T_ALL},
    {"anyOf", K_SUPP, T_ALL},
    {"oneOf", K_SUPP, T_ALL},
    {"$ref", K_SUPP, T_ALL},
    {"properties", K_SUPP, T_OBJ},
    {"required", K_SUPP, T_OBJ},
    {"additionalProperties", K_SUPP, T_OBJ},
    {"patternProperties", K_SUPP, T_OBJ},
    {"items", K_SUPP, T_ARR},
    {"prefixItems", K_SUPP, T_ARR},
    {"minItems", K_SUPP, T_ARR},
    {"maxItems", K_SUPP, T_ARR},
    {"uniqueItems", K_SUPP, T_ARR},
    {"contains", K_SUPP, T_ARR},
    {"dependentRequired", K_SUPP, T_OBJ},
    {"dependentSchemas", K_SUPP, T_OBJ},
    {"propertyNames", K_SUPP, T_OBJ},
    {"minProperties", K_SUPP, T_OBJ},
    {"maxProperties", K_SUPP, T_OBJ},
    {"minLength", K_SUPP, T_STR},
    {"maxLength", K_SUPP, T_STR},
    {"pattern", K_SUPP, T_STR},
    {"format", K_SUPP, T_STR},
    {"minimum", K_SUPP, T_NUM},
    {"maximum", K_SUPP, T_NUM},
    {"exclusiveMinimum", K_SUPP, T_NUM},
    {"exclusiveMaximum", K_SUPP, T_NUM},
    {"multipleOf", K_SUPP, T_NUM},
    {"not", K_SUPP, T_ALL},
};

static const jkw *kw_find(const char *k)
{
    static const jkw vendor = {"x-", K_ANNOT, 0}; /* x-* extensions are annotations */
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (!strcmp(keywords[i].kw, k)) return &keywords[i];
    return strncmp(k, "x-", 2) ? NULL : &vendor;
}

static int kw_fail(jctx *x, const char *ptr, const char *kw, const char *why)
{
    swarm_buf p = {0};
    swarm_buf_put(&p, ptr);
    swarm_buf_put(&p, "/");
    for (const char *c = kw; *c; c++)
        swarm_buf_put(&p, *c == '~' ? "~0" : *c == '/' ? "~1" : (char[]){*c, 0});
    int rc = jfail(x, "%s: %s", swarm_buf_str(&p), why);
    free(p.s);
    return rc;
}

static int kw_unsupported(jctx *x, const char *ptr, const char *kw)
{
    char why[160];
    snprintf(why, sizeof why, "keyword \"%.100s\" is not supported", kw);
    return kw_fail(x, ptr, kw, why);
}

/* Type names -> T_* bits. */
static int parse_type(jctx *x, const jel *e, const cJSON *t, unsigned *out)
{
    static const struct {
        const char *n;
        unsigned t;
    } names[] = {{"null", T_NULL},  {"boolean", T_BOOL}, {"object", T_OBJ}, {"array", T_ARR},
                 {"string", T_STR}, {"number", T_NUM},   {"integer", T_INT}};
    unsigned m = 0;
    const cJSON *one = t;
    if (cJSON_IsArray(t)) one = t->child;
    for (; one; one = cJSON_IsArray(t) ? one->next : NULL) {
        size_t k = 0;
        if (!cJSON_IsString(one))
            return kw_fail(x, e->ptr, "type", "must be a string or an array of strings");
        for (; k < sizeof names / sizeof names[0]; k++)
            if (!strcmp(names[k].n, one->valuestring)) break;
        if (k == sizeof names / sizeof names[0]) {
            char why[160];
            snprintf(why, sizeof why, "unknown type \"%.60s\"", one->valuestring);
            return kw_fail(x, e->ptr, "type", why);
        }
        m |= names[k].t;
    }
    *out = m;
    return 0;
}

/* ---- $ref ---- */

static int ref_resolve(jctx *x, const jel *e, jel *out)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(e->s, "$ref");
    if (!cJSON_IsString(r)) return kw_fail(x, e->ptr, "$ref", "must be a string");
    const char *s = r->valuestring;
    if (s[0] != '#' || (s[1] && s[1] != '/'))
        return kw_fail(x, e->ptr, "$ref",
                       "only local references (\"#\" or \"#/json/pointer\") are supported");
    const cJSON *cur = x->doc;
    const char *ptr = "";
    for (const char *p = s + 1; *p == '/';) {
        const char *q = strchr(p + 1, '/');
        size_t n = q ? (size_t)(q - p - 1) : strlen(p + 1);
        char *tok = malloc(n + 1);
        if (!tok) return joom(x);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            char c = p[1 + i];
            int hv = -1;
            if (c == '%' && i + 2 < n) {
                char h[3] = {p[2 + i], p[3 + i], 0}, *hend;
                long v = strtol(h, &hend, 16);
                if (!*hend && v > 0) hv = (int)v;
            }
            if (c == '%') {
                if (hv < 0) {
                    free(tok);
                    return kw_fail(x, e->ptr, "$ref", "bad percent-encoding in the reference");
                }
                tok[k++] = (char)hv;
                i += 2;
            } else if (c == '~' && i + 1 < n && (p[2 + i] == '0' || p[2 + i] == '1')) {
                tok[k++] = p[2 + i] == '0' ? '~' : '/';
                i++;
            } else {
                tok[k++] = c;
            }
        }
        tok[k] = 0;
        const cJSON *next = NULL;
        if (cJSON_IsObject(cur)) {
            if (cur != x->doc && cJSON_GetObjectItemCaseSensitive(cur, "$id")) {
                free(tok);
                return kw_fail(x, e->ptr, "$ref",
                               "references into a subschema with its own $id are not supported");
            }
            next = cJSON_GetObjectItemCaseSensitive(cur, tok);
        } else if (cJSON_IsArray(cur)) {
            char *end;
            long idx = strtol(tok, &end, 10);
            if (*tok && !*end && idx >= 0 && (tok[0] != '0' || !tok[1]))
                next = cJSON_GetArrayItem(cur, (int)idx);
        }
        if (!next) {
            free(tok);
            char why[300];
            snprintf(why, sizeof why, "\"%.200s\" does not resolve in this document", s);
            return kw_fail(x, e->ptr, "$ref", why);
        }
        ptr = jptr(x, ptr, tok);
        free(tok);
        if (!ptr) return joom(x);
        cur = next;
        p += 1 + n;
    }
    out->s = cur;
    out->ptr = ptr;
    out->done = 0;
    return 0;
}

/* Is e's only assertion a $ref (annotations and $defs aside)? */
static bool is_pure_ref(const jel *e)
{
    if (!cJSON_IsObject(e->s) || (e->done & D_REF)) return false;
    bool ref = false;
    for (const cJSON *k = e->s->child; k; k = k->next) {
        const jkw *w = kw_find(k->string);
        if (!strcmp(k->string, "$ref"))
            ref = true;
        else if (!w || w->cls != K_ANNOT)
            return false;
    }
    return ref;
}

/* ---- conjunctions ---- */

static int conj_push(jconj *c, jel e)
{
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 8;
        jel *p = realloc(c->v, nc * sizeof *p);
        if (!p) return -1;
        c->v = p;
        c->cap = nc;
    }
    c->v[c->n++] = e;
    return 0;
}

static int conj_copy(const jconj *src, jconj *dst)
{
    *dst = (jconj){0};
    for (size_t i = 0; i < src->n; i++)
        if (conj_push(dst, src->v[i])) return -1;
    return 0;
}

/* Adds e unless a member with the same pointer is there already. A member
 * that comes back after one of its combinators was expanded is a $ref cycle
 * through allOf/anyOf/oneOf, which has no finite expansion. */
static int conj_add(jctx *x, jconj *c, jel e)
{
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->v[i].ptr, e.ptr)) continue;
        if (c->v[i].done && c->v[i].done != e.done)
            return jfail(x,
                         "%s: schema refers back to itself through $ref/allOf/anyOf/oneOf; "
                         "such a cycle cannot be expanded",
                         *e.ptr ? e.ptr : "(root)");
        return 0;
    }
    if (c->n >= JSC_MAX_CONJ)
        return jfail(x, "%s: more than %d subschemas apply at once (allOf/$ref)",
                     *e.ptr ? e.ptr : "(root)", JSC_MAX_CONJ);
    return conj_push(c, e) ? joom(x) : 0;
}

/* The standard meta-schemas whose keywords mean what this compiler assumes
 * (a custom meta-schema may drop the validation vocabulary). */
static bool dialect_known(const cJSON *v)
{
    static const char *const known[] = {"json-schema.org/draft/2020-12/schema",
                                        "json-schema.org/draft/2019-09/schema",
                                        "json-schema.org/draft-07/schema"};
    if (!cJSON_IsString(v)) return false;
    const char *s = v->valuestring;
    if (!strncmp(s, "https://", 8))
        s += 8;
    else if (!strncmp(s, "http://", 7))
        s += 7;
    else
        return false;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        size_t n = strlen(known[i]);
        if (!strncmp(s, known[i], n) && (!s[n] || !strcmp(s + n, "#"))) return true;
    }
    return false;
}

/* Keyword check of one member: 0 ok, -1 refused. */
static int el_check(jctx *x, const jel *e)
{
    for (const cJSON *k = e->s->child; k; k = k->next) {
        const jkw *w = kw_find(k->string);
        if (!w || w->cls == K_REFUSE) return kw_unsupported(x, e->ptr, k->string);
        if (!strcmp(k->string, "$id") && *e->ptr)
            return kw_fail(x, e->ptr, "$id", "$id is only supported at the document root");
        if (!strcmp(k->string, "$schema") && !dialect_known(k))
            return kw_fail(x, e->ptr, "$schema",
                           "unknown dialect (its vocabularies may change what keywords mean); "
                           "draft 2020-12, 2019-09 and 07 are understood");
    }
    return 0;
}

static const cJSON *el_kw(const jel *e, const char *kw);

/* propertyNames as plain keywords, where that is exact: false -> no member
 * at all; const/enum of strings -> exactly those names may appear (each
 * keeps its own value schema); true or {} -> nothing. Appended to all. */
static int prop_names_rewrite(jctx *x, const jel *e, cJSON *all)
{
    const cJSON *pn = el_kw(e, "propertyNames");
    if (!pn || cJSON_IsTrue(pn)) return 0;
    const cJSON *names = NULL;
    bool none = cJSON_IsFalse(pn);
    if (cJSON_IsObject(pn)) {
        for (const cJSON *k = pn->child; k; k = k->next) {
            const jkw *w = kw_find(k->string);
            unsigned m = 0;
            if (!strcmp(k->string, "const") || !strcmp(k->string, "enum")) {
                names = k;
            } else if (!strcmp(k->string, "type")) {
                const jel ne = {pn, jptr(x, e->ptr, "propertyNames"), 0};
                if (!ne.ptr) return joom(x);
                if (parse_type(x, &ne, k, &m)) return -1;
                if (!(m & T_STR)) none = true; /* names are strings */
            } else if (!w || w->cls != K_ANNOT)
                return kw_fail(x, e->ptr, "propertyNames",
                               "propertyNames is only supported as a boolean schema or a "
                               "const/enum of names");
        }
        if (!names && !none) return 0; /* {} or {"type": "string"} */
    } else if (!none) {
        return kw_fail(x, e->ptr, "propertyNames", "must be a schema");
    }
    cJSON *g = cJSON_CreateObject();
    if (!cJSON_AddItemToArray(all, g) || !cJSON_AddFalseToObject(g, "additionalProperties"))
        return joom(x);
    if (none || !names) return 0;
    cJSON *props = cJSON_AddObjectToObject(g, "properties");
    if (!props) return joom(x);
    const cJSON *one = cJSON_IsArray(names) ? names->child : names;
    for (; one; one = cJSON_IsArray(names) ? one->next : NULL)
        if (cJSON_IsString(one) && !cJSON_GetObjectItemCaseSensitive(props, one->valuestring) &&
            !cJSON_AddTrueToObject(props, one->valuestring))
            return joom(x);
    return 0;
}

/* dependentRequired {p: [q...]} and dependentSchemas {p: S} as plain
 * keywords: for each p, anyOf [ p absent, p present with q... / with S ]
 * (the two branches are disjoint). The rewrite is built once per member
 * and kept, so its pointers name the same nodes on every use. */
static int dep_rewrite(jctx *x, const jel *e, jel *out)
{
    const char *ptr = jptr(x, e->ptr, "rewritten*");
    if (!ptr) return joom(x);
    int *have = jmap_get(&x->synth_at, ptr);
    if (have) {
        *out = (jel){x->synth[*have], ptr, 0};
        return 0;
    }
    cJSON *root = cJSON_CreateObject(), *all = cJSON_AddArrayToObject(root, "allOf");
    if (!all) {
        cJSON_Delete(root);
        return joom(x);
    }
    static const char *const kws[2] = {"dependentRequired", "dependentSchemas"};
    for (int w = 0; w < 2; w++) {
        const cJSON *d = el_kw(e, kws[w]);
        if (!d) continue;
        if (!cJSON_IsObject(d)) {
            cJSON_Delete(root);
            return kw_fail(x, e->ptr, kws[w], "must be an object");
        }
        for (const cJSON *k = d->child; k; k = k->next) {
            /* every node joins the tree as it is made: one delete frees all */
            cJSON *g = cJSON_CreateObject();
            bool ok = cJSON_AddItemToArray(all, g);
            cJSON *any = ok ? cJSON_AddArrayToObject(g, "anyOf") : NULL;
            cJSON *absent = any ? cJSON_CreateObject() : NULL;
            ok = absent && cJSON_AddItemToArray(any, absent);
            cJSON *props = ok ? cJSON_AddObjectToObject(absent, "properties") : NULL;
            ok = props && cJSON_AddFalseToObject(props, k->string);
            cJSON *present = ok ? cJSON_CreateObject() : NULL;
            ok = present && cJSON_AddItemToArray(any, present);
            cJSON *req = ok ? cJSON_AddArrayToObject(present, "required") : NULL;
            ok = req && cJSON_AddItemToArray(req, cJSON_CreateString(k->string));
            if (!ok) {
                cJSON_Delete(root);
                return joom(x);
            }
            if (w == 0) {
                bool names = cJSON_IsArray(k);
                for (const cJSON *q = names ? k->child : NULL; q && names; q = q->next)
                    names = cJSON_IsString(q) &&
                            cJSON_AddItemToArray(req, cJSON_CreateString(q->valuestring));
                if (!names) {
                    cJSON_Delete(root);
                    return kw_fail(x, e->ptr, kws[w], "values must be arrays of property names");
                }
            } else {
                /* S stays where it is: a $ref to it keeps its identity */
                const char *sp = jptr(x, e->ptr, kws[w]);
                sp = sp ? jptr(x, sp, k->string) : NULL;
                swarm_buf ref = {0};
                swarm_buf_put(&ref, "#");
                for (const char *c = sp ? sp : ""; *c; c++)
                    swarm_buf_put(&ref, *c == '%' ? "%25" : (char[]){*c, 0});
                ok = sp && !ref.oom && cJSON_AddStringToObject(present, "$ref", ref.s);
                free(ref.s);
                if (!ok) {
                    cJSON_Delete(root);
                    return joom(x);
                }
            }
        }
    }
    if (prop_names_rewrite(x, e, all)) {
        cJSON_Delete(root);
        return -1;
    }
    if (!all->child && !cJSON_AddItemToArray(all, cJSON_CreateTrue())) { /* no entries */
        cJSON_Delete(root);
        return joom(x);
    }
    if (x->n_synth == x->cap_synth) {
        size_t nc = x->cap_synth ? x->cap_synth * 2 : 8;
        cJSON **p = realloc(x->synth, nc * sizeof *p);
        if (!p) {
            cJSON_Delete(root);
            return joom(x);
        }
        x->synth = p;
        x->cap_synth = nc;
    }
    x->synth[x->n_synth] = root;
    if (jmap_put(&x->synth_at, ptr, (int)x->n_synth)) return joom(x);
    x->n_synth++;
    *out = (jel){root, ptr, 0};
    return 0;
}

/* Expands allOf and $ref (with siblings) in place; drops `true`.
 * Returns 0, 1 when a member is `false` (nothing matches), -1 on error. */
static int conj_flatten(jctx *x, jconj *c)
{
    for (size_t i = 0; i < c->n; i++) {
        jel *e = &c->v[i];
        if (cJSON_IsBool(e->s)) {
            if (cJSON_IsFalse(e->s)) return 1;
            continue;
        }
        if (!cJSON_IsObject(e->s))
            return jfail(x, "%s: a schema must be an object or a boolean",
                         *e->ptr ? e->ptr : "(root)");
        if (el_check(x, e)) return -1;
        const cJSON *all = cJSON_GetObjectItemCaseSensitive(e->s, "allOf");
        if (all && !(e->done & D_ALLOF)) {
            if (!cJSON_IsArray(all) || !all->child)
                return kw_fail(x, e->ptr, "allOf", "must be a non-empty array of schemas");
            e->done |= D_ALLOF;
            const char *base = e->ptr;
            int k = 0;
            for (const cJSON *s = all->child; s; s = s->next, k++) {
                const char *p = jptr_idx(x, base, "allOf", k);
                if (!p) return joom(x);
                if (conj_add(x, c, (jel){s, p, 0})) return -1;
                e = &c->v[i];
            }
        }
        if (cJSON_GetObjectItemCaseSensitive(e->s, "$ref") && !(e->done & D_REF)) {
            jel t;
            if (ref_resolve(x, e, &t)) return -1;
            e->done |= D_REF;
            if (conj_add(x, c, t)) return -1;
            e = &c->v[i];
        }
        if ((el_kw(e, "dependentRequired") || el_kw(e, "dependentSchemas") ||
             el_kw(e, "propertyNames")) &&
            !(e->done & D_DEP)) {
            jel t;
            if (dep_rewrite(x, e, &t)) return -1;
            e->done |= D_DEP;
            if (conj_add(x, c, t)) return -1;
        }
    }
    /* drop the `true` members */
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++)
        if (!cJSON_IsBool(c->v[i].s)) c->v[k++] = c->v[i];
    c->n = k;
    return 0;
}

static int jel_cmp(const void *a, const void *b)
{
    const jel *x = a, *y = b;
    int r = strcmp(x->ptr, y->ptr);
    return r ? r : (int)x->done - (int)y->done;
}

static char *conj_key(const jconj *c)
{
    jconj s;
    if (conj_copy(c, &s)) return NULL;
    if (s.n) qsort(s.v, s.n, sizeof *s.v, jel_cmp);
    swarm_buf b = {0};
    for (size_t i = 0; i < s.n; i++)
        swarm_buf_printf(&b, "%s\x01%u\x02", s.v[i].ptr, s.v[i].done);
    free(s.v);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s ? b.s : strdup("");
}

/* ---- rules ---- */

/* A fresh rule named after a JSON pointer (suffixed until unique). */
static int rule_new(jctx *x, const char *hint, const char *suffix)
{
    if (x->n_rules >= JSC_MAX_RULES)
        return jfail(x, "json schema: more than %d grammar rules", JSC_MAX_RULES);
    char base[JSC_MAX_NAME + 1];
    size_t n = 0;
    bool dash = true;
    for (const char *p = hint; *p && n < JSC_MAX_NAME; p++) {
        if (!strncmp(p, "/properties/", 12)) {
            p += 11;
            if (!dash) base[n++] = '-';
            dash = true;
            continue;
        }
        char c = *p;
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            base[n++] = c;
            dash = false;
        } else if (!dash) {
            base[n++] = '-';
            dash = true;
        }
    }
    while (n && base[n - 1] == '-')
        n--;
    base[n] = 0;
    if (!n) snprintf(base, sizeof base, "value");
    char stem[JSC_MAX_NAME + 48], name[JSC_MAX_NAME + 64];
    snprintf(stem, sizeof stem, "%s%s", base, suffix ? suffix : "");
    snprintf(name, sizeof name, "%s", stem);
    int *next = jmap_get(&x->bases, stem);
    for (int k = next ? *next : 2; jmap_get(&x->names, name); k++) {
        snprintf(name, sizeof name, "%s-%d", stem, k);
        if (jmap_put(&x->bases, stem, k + 1)) return joom(x);
    }
    if (x->n_rules == x->cap_rules) {
        size_t nc = x->cap_rules ? x->cap_rules * 2 : 64;
        jrule *p = realloc(x->rules, nc * sizeof *p);
        if (!p) return joom(x);
        x->rules = p;
        x->cap_rules = nc;
    }
    jrule *r = &x->rules[x->n_rules];
    *r = (jrule){0};
    r->name = strdup(name);
    if (!r->name || jmap_put(&x->names, name, (int)x->n_rules)) {
        free(r->name);
        return joom(x);
    }
    return (int)x->n_rules++;
}

static int rule_set(jctx *x, int r, const swarm_buf *body)
{
    if (body->oom) return joom(x);
    x->out_bytes += body->n + strlen(x->rules[r].name) + 6;
    if (x->out_bytes > JSC_MAX_OUT)
        return jfail(x, "json schema: the grammar would exceed %u bytes", JSC_MAX_OUT);
    x->rules[r].body = strdup(swarm_buf_str(body));
    return x->rules[r].body ? 0 : joom(x);
}

static int conj_rule(jctx *x, const jconj *c, const char **name);

/* Rule for a list of member schemas found under `kw` of the conjunction's
 * members (built by the caller); NULL name = nothing matches. */
static int sub_rule(jctx *x, jconj *sub, const char **name)
{
    int rc = conj_rule(x, sub, name);
    free(sub->v);
    *sub = (jconj){0};
    return rc;
}

/* ---- per-type compilation of a conjunction without combinators ---- */

static const cJSON *el_kw(const jel *e, const char *kw)
{
    return cJSON_GetObjectItemCaseSensitive(e->s, kw);
}

static int get_count(jctx *x, const jel *e, const char *kw, long *out)
{
    const cJSON *v = el_kw(e, kw);
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || floor(v->valuedouble) != v->valuedouble)
        return kw_fail(x, e->ptr, kw, "must be a non-negative integer");
    *out = v->valuedouble > 1e15 ? (long)1e15 : (long)v->valuedouble;
    return 1;
}

/* Bounds for integers: lo/hi as int64, has_* false = unbounded. */
typedef struct {
    bool has_lo, has_hi;
    int64_t lo, hi;
    const char *kw; /* a bound keyword seen, for messages */
    const jel *kw_el;
} jbounds;

static int bounds_collect(jctx *x, const jconj *c, jbounds *b)
{
    *b = (jbounds){0};
    static const char *const kws[4] = {"minimum", "exclusiveMinimum", "maximum",
                                       "exclusiveMaximum"};
    for (size_t i = 0; i < c->n; i++) {
        for (int k = 0; k < 4; k++) {
            const cJSON *v = el_kw(&c->v[i], kws[k]);
            if (!v) continue;
            if (!cJSON_IsNumber(v)) return kw_fail(x, c->v[i].ptr, kws[k], "must be a number");
            double d = v->valuedouble;
            if (!(fabs(d) < JSC_BOUND_MAX))
                return kw_fail(x, c->v[i].ptr, kws[k], "bounds beyond +-2^62 are not supported");
            b->kw = kws[k];
            b->kw_el = &c->v[i];
            int64_t iv;
            if (k < 2) { /* lower */
                iv = k == 0 ? (int64_t)ceil(d) : (int64_t)floor(d) + 1;
                if (!b->has_lo || iv > b->lo) b->lo = iv;
                b->has_lo = true;
            } else {
                iv = k == 2 ? (int64_t)floor(d) : (int64_t)ceil(d) - 1;
                if (!b->has_hi || iv < b->hi) b->hi = iv;
                b->has_hi = true;
            }
        }
    }
    return 0;
}

/* Decimal digit strings of equal length n, a <= b: every string between. */
static void dig_range(swarm_buf *o, const char *a, const char *b, size_t n);

static bool all_is(const char *s, size_t n, char c)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != c) return false;
    return true;
}

static void dig_any(swarm_buf *o, size_t n)
{
    if (n == 1)
        swarm_buf_put(o, "[0-9]");
    else if (n > 1)
        swarm_buf_printf(o, "[0-9]{%zu}", n);
}

/* strings of length n that are >= a (ge) or <= a (!ge) */
static void dig_bound(swarm_buf *o, const char *a, size_t n, bool ge)
{
    if (!n) return;
    if (all_is(a, n, ge ? '0' : '9')) {
        dig_any(o, n);
        return;
    }
    jalt al = {0};
    swarm_buf t = {0};
    swarm_buf_printf(&t, "\"%c\"", a[0]);
    if (n > 1) {
        swarm_buf_put(&t, " ");
        dig_bound(&t, a + 1, n - 1, ge);
    }
    alt_add(&al, swarm_buf_str(&t));
    t.n = 0;
    if (ge ? a[0] < '9' : a[0] > '0') {
        if (ge)
            swarm_buf_printf(&t, "[%c-9]", a[0] + 1);
        else
            swarm_buf_printf(&t, "[0-%c]", a[0] - 1);
        if (n > 1) {
            swarm_buf_put(&t, " ");
            dig_any(&t, n - 1);
        }
        alt_add(&al, swarm_buf_str(&t));
    }
    free(t.s);
    alt_emit(&al, o);
}

static void dig_range(swarm_buf *o, const char *a, const char *b, size_t n)
{
    if (!n) return;
    if (a[0] == b[0]) {
        swarm_buf_printf(o, "\"%c\"", a[0]);
        if (n > 1) {
            swarm_buf_put(o, " ");
            dig_range(o, a + 1, b + 1, n - 1);
        }
        return;
    }
    jalt al = {0};
    swarm_buf t = {0};
    char lo = a[0], hi = b[0];
    bool lo_full = all_is(a + 1, n - 1, '0'), hi_full = all_is(b + 1, n - 1, '9');
    if (!lo_full) {
        swarm_buf_printf(&t, "\"%c\" ", a[0]);
        dig_bound(&t, a + 1, n - 1, true);
        alt_add(&al, swarm_buf_str(&t));
        t.n = 0;
        lo++;
    }
    if (!hi_full) hi--;
    if (lo <= hi) {
        if (lo == hi)
            swarm_buf_printf(&t, "\"%c\"", lo);
        else
            swarm_buf_printf(&t, "[%c-%c]", lo, hi);
        if (n > 1) {
            swarm_buf_put(&t, " ");
            dig_any(&t, n - 1);
        }
        alt_add(&al, swarm_buf_str(&t));
        t.n = 0;
    }
    if (!hi_full) {
        swarm_buf_printf(&t, "\"%c\" ", b[0]);
        dig_bound(&t, b + 1, n - 1, false);
        alt_add(&al, swarm_buf_str(&t));
    }
    free(t.s);
    alt_emit(&al, o);
}

/* Non-negative integers in [a, b] (b < 0: unbounded), canonical digits. */
static void uint_range(swarm_buf *o, uint64_t a, int64_t b)
{
    char sa[32], sb[32], t[32];
    snprintf(sa, sizeof sa, "%llu", (unsigned long long)a);
    size_t la = strlen(sa), lb = 0;
    if (b >= 0) {
        snprintf(sb, sizeof sb, "%lld", (long long)b);
        lb = strlen(sb);
    }
    jalt al = {0};
    swarm_buf e = {0};
    if (b >= 0 && la == lb) {
        dig_range(&e, sa, sb, la);
        alt_add(&al, swarm_buf_str(&e));
    } else {
        memset(t, '9', la);
        t[la] = 0;
        dig_range(&e, sa, t, la);
        alt_add(&al, swarm_buf_str(&e));
        e.n = 0;
        if (b < 0) {
            swarm_buf_printf(&e, "[1-9] [0-9]{%zu,}", la);
            alt_add(&al, swarm_buf_str(&e));
        } else {
            if (lb > la + 1) {
                if (lb == la + 2)
                    swarm_buf_printf(&e, "[1-9] [0-9]{%zu}", la);
                else
                    swarm_buf_printf(&e, "[1-9] [0-9]{%zu,%zu}", la, lb - 2);
                alt_add(&al, swarm_buf_str(&e));
                e.n = 0;
            }
            t[0] = '1';
            memset(t + 1, '0', lb - 1);
            t[lb] = 0;
            dig_range(&e, t, sb, lb);
            alt_add(&al, swarm_buf_str(&e));
        }
    }
    free(e.s);
    alt_emit(&al, o);
}

/* Integers within bounds; false when the range is empty. */
static bool int_range(swarm_buf *o, const jbounds *b)
{
    if (b->has_lo && b->has_hi && b->lo > b->hi) return false;
    jalt al = {0};
    swarm_buf e = {0};
    /* negative part: magnitudes [max(1, -hi), -lo] */
    if (!b->has_lo || b->lo < 0) {
        uint64_t mlo = (b->has_hi && b->hi < 0) ? (uint64_t)(-b->hi) : 1;
        int64_t mhi = b->has_lo ? -b->lo : -1;
        swarm_buf_put(&e, "\"-\" ");
        uint_range(&e, mlo, mhi);
        alt_add(&al, swarm_buf_str(&e));
        e.n = 0;
    }
    if (!b->has_hi || b->hi >= 0) {
        uint64_t lo = (b->has_lo && b->lo > 0) ? (uint64_t)b->lo : 0;
        uint_range(&e, lo, b->has_hi ? b->hi : -1);
        alt_add(&al, swarm_buf_str(&e));
    }
    free(e.s);
    return alt_emit(&al, o);
}

/* Number bounds: [lo, hi] as doubles (has_* false = unbounded), inclusive;
 * exclusive bounds become the next double inward. A decimal x written out
 * in full rounds to a double >= lo whenever x >= the shortest decimal of lo
 * (rounding is monotonic), so comparing digits against that decimal is
 * sound, and the shortest spelling of every in-range double passes. */
typedef struct {
    bool has_lo, has_hi;
    double lo, hi;
} jdbounds;

static int dbounds_collect(jctx *x, const jconj *c, jdbounds *b)
{
    *b = (jdbounds){0};
    static const char *const kws[4] = {"minimum", "exclusiveMinimum", "maximum",
                                       "exclusiveMaximum"};
    for (size_t i = 0; i < c->n; i++)
        for (int k = 0; k < 4; k++) {
            const cJSON *v = el_kw(&c->v[i], kws[k]);
            if (!v) continue;
            if (!cJSON_IsNumber(v)) return kw_fail(x, c->v[i].ptr, kws[k], "must be a number");
            double d = v->valuedouble;
            if (!(fabs(d) < JSC_BOUND_MAX))
                return kw_fail(x, c->v[i].ptr, kws[k], "bounds beyond +-2^62 are not supported");
            if (k == 1) d = nextafter(d, INFINITY);
            if (k == 3) d = nextafter(d, -INFINITY);
            if (k < 2 && (!b->has_lo || d > b->lo)) b->lo = d, b->has_lo = true;
            if (k >= 2 && (!b->has_hi || d < b->hi)) b->hi = d, b->has_hi = true;
        }
    return 0;
}

/* |d| split into integer part and fraction digits (no trailing zeros). */
static void dec_split(double d, uint64_t *ip, char *frac, size_t cap)
{
    char t[400];
    dbl_plain(fabs(d), t, sizeof t);
    *ip = strtoull(t, NULL, 10);
    const char *dot = strchr(t, '.');
    snprintf(frac, cap, "%s", dot ? dot + 1 : "");
}

/* Fraction digits F from position i on with a <= 0.F <= b where the bounds
 * still bind (tlo/thi): alternatives starting with a digit go to al,
 * al->eps is set when F may end here. */
static void frac_alts(jctx *x, jalt *al, const char *a, const char *b, size_t i, bool tlo,
                      bool thi);

/* t += digit c followed by the continuation from position i; every 24
 * digits the continuation becomes a rule of its own, so a bound like the
 * smallest double (324 fraction digits) does not nest groups 324 deep. */
static void frac_digit(jctx *x, swarm_buf *t, char c, const char *a, const char *b, size_t i,
                       bool tlo, bool thi)
{
    jalt sub = {0};
    frac_alts(x, &sub, a, b, i, tlo, thi);
    swarm_buf_printf(t, "\"%c\"", c);
    if (sub.n) {
        swarm_buf_put(t, " ");
        if (i % 24 == 0) {
            int r = rule_new(x, "num-frac", NULL);
            swarm_buf body = {0};
            alt_emit(&sub, &body);
            if (r >= 0 && !rule_set(x, r, &body)) swarm_buf_put(t, x->rules[r].name);
            free(body.s);
        } else {
            alt_emit(&sub, t);
        }
    }
    free(sub.b.s);
}

static void frac_alts(jctx *x, jalt *al, const char *a, const char *b, size_t i, bool tlo, bool thi)
{
    size_t la = a ? strlen(a) : 0, lb = b ? strlen(b) : 0;
    if (tlo && i >= la) tlo = false;
    if (!tlo) al->eps = true;
    if (!tlo && !thi) {
        alt_add(al, "[0-9]+");
        return;
    }
    if (thi && i >= lb) { /* only zeros may follow */
        alt_add(al, "\"0\"+");
        return;
    }
    char lo = tlo ? a[i] : '0', hi = thi ? b[i] : '9';
    swarm_buf t = {0};
    if (lo == hi) {
        frac_digit(x, &t, lo, a, b, i + 1, tlo, thi);
        alt_add(al, swarm_buf_str(&t));
        free(t.s);
        return;
    }
    char mlo = lo, mhi = hi;
    if (tlo) {
        frac_digit(x, &t, lo, a, b, i + 1, true, false);
        alt_add(al, swarm_buf_str(&t));
        t.n = 0;
        mlo++;
    }
    if (thi) mhi--;
    if (mlo <= mhi) {
        if (mlo == mhi)
            swarm_buf_printf(&t, "\"%c\" [0-9]*", mlo);
        else
            swarm_buf_printf(&t, "[%c-%c] [0-9]*", mlo, mhi);
        alt_add(al, swarm_buf_str(&t));
        t.n = 0;
    }
    if (thi) {
        frac_digit(x, &t, hi, a, b, i + 1, false, true);
        alt_add(al, swarm_buf_str(&t));
    }
    free(t.s);
}

/* "." and fraction digits within the bounds (either may be NULL), or no
 * fraction at all where the lower bound allows. */
static void frac_expr(jctx *x, swarm_buf *o, const char *a, const char *b)
{
    jalt al = {0};
    frac_alts(x, &al, a, b, 0, a != NULL, b != NULL);
    bool eps = al.eps;
    al.eps = false;
    swarm_buf body = {0};
    alt_emit(&al, &body);
    if (body.n) swarm_buf_printf(o, eps ? " (\".\" %s)?" : " \".\" %s", body.s);
    free(body.s);
}

/* Magnitudes m in [lo, hi] (hi < 0: unbounded), plain decimal notation. */
static void mag_range(jctx *x, swarm_buf *o, double lo, double hi)
{
    uint64_t li, hi_i = 0;
    char lf[400], hf[400];
    dec_split(lo, &li, lf, sizeof lf);
    if (hi >= 0) dec_split(hi, &hi_i, hf, sizeof hf);
    jalt al = {0};
    swarm_buf t = {0};
    if (hi >= 0 && li == hi_i) {
        swarm_buf_printf(&t, "\"%llu\"", (unsigned long long)li);
        frac_expr(x, &t, lf, hf);
        alt_add(&al, swarm_buf_str(&t));
    } else {
        swarm_buf_printf(&t, "\"%llu\"", (unsigned long long)li);
        frac_expr(x, &t, lf, NULL);
        alt_add(&al, swarm_buf_str(&t));
        t.n = 0;
        if (hi < 0 || hi_i - li >= 2) {
            uint_range(&t, li + 1, hi < 0 ? -1 : (int64_t)(hi_i - 1));
            swarm_buf_put(&t, " (\".\" [0-9]+)?");
            alt_add(&al, swarm_buf_str(&t));
            t.n = 0;
        }
        if (hi >= 0) {
            swarm_buf_printf(&t, "\"%llu\"", (unsigned long long)hi_i);
            frac_expr(x, &t, NULL, hf);
            alt_add(&al, swarm_buf_str(&t));
        }
    }
    free(t.s);
    alt_emit(&al, o);
}

/* Numbers within the bounds, written without exponent; false if none. */
static bool num_range(jctx *x, swarm_buf *o, const jdbounds *b)
{
    if (b->has_lo && b->has_hi && b->lo > b->hi) return false;
    jalt al = {0};
    swarm_buf e = {0};
    if (!b->has_hi || b->hi >= 0) {
        mag_range(x, &e, b->has_lo && b->lo > 0 ? b->lo : 0, b->has_hi ? b->hi : -1);
        alt_add(&al, swarm_buf_str(&e));
        e.n = 0;
    }
    if (!b->has_lo || b->lo < 0) {
        swarm_buf_put(&e, "\"-\" ");
        mag_range(x, &e, b->has_hi && b->hi < 0 ? -b->hi : 0, b->has_lo ? -b->lo : -1);
        alt_add(&al, swarm_buf_str(&e));
    }
    free(e.s);
    return alt_emit(&al, o);
}

/* ---- patterns (ECMA-262 subset) ---- */

typedef struct {
    uint32_t *c;
    size_t n, i;
    jctx *x;
    const jel *e;
    int depth; /* open groups: bounded so a hostile pattern cannot exhaust the stack */
} jre;

static int re_err(jre *r, const char *what)
{
    char why[200];
    snprintf(why, sizeof why, "pattern: %s at character %zu", what, r->i);
    return kw_fail(r->x, r->e->ptr, "pattern", why);
}

static void set_class_esc(jset *s, uint32_t k)
{
    switch (k) {
    case 'd':
        set_add(s, '0', '9');
        break;
    case 'w':
        set_add(s, '0', '9');
        set_add(s, 'A', 'Z');
        set_add(s, 'a', 'z');
        set_add(s, '_', '_');
        break;
    default: /* s: ECMA WhiteSpace and LineTerminator */
        set_add(s, 9, 13);
        set_add(s, 32, 32);
        set_add(s, 0xA0, 0xA0);
        set_add(s, 0x1680, 0x1680);
        set_add(s, 0x2000, 0x200A);
        set_add(s, 0x2028, 0x2029);
        set_add(s, 0x202F, 0x202F);
        set_add(s, 0x205F, 0x205F);
        set_add(s, 0x3000, 0x3000);
        set_add(s, 0xFEFF, 0xFEFF);
    }
    set_norm(s);
}

static int re_hex(jre *r, int digits, uint32_t *v)
{
    *v = 0;
    for (int k = 0; k < digits; k++) {
        if (r->i >= r->n) return re_err(r, "truncated hex escape");
        uint32_t c = r->c[r->i++], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return re_err(r, "bad hex escape");
        *v = *v * 16 + d;
    }
    return 0;
}

/* After a backslash: a set (class escapes) or one code point. in_class:
 * \b is backspace there. Returns 0 with *cp set, 1 with *s filled, -1. */
static int re_escape(jre *r, bool in_class, uint32_t *cp, jset *s)
{
    if (r->i >= r->n) return re_err(r, "trailing backslash");
    uint32_t k = r->c[r->i++];
    switch (k) {
    case 'd':
    case 'w':
    case 's':
        set_class_esc(s, k);
        return 1;
    case 'D':
    case 'W':
    case 'S': {
        jset t = {0};
        set_class_esc(&t, k - 'A' + 'a');
        *s = set_not(&t);
        free(t.v);
        return 1;
    }
    case 't':
        *cp = 9;
        return 0;
    case 'n':
        *cp = 10;
        return 0;
    case 'v':
        *cp = 11;
        return 0;
    case 'f':
        *cp = 12;
        return 0;
    case 'r':
        *cp = 13;
        return 0;
    case '0':
        if (r->i < r->n && r->c[r->i] >= '0' && r->c[r->i] <= '9')
            return re_err(r, "octal escapes are not supported");
        *cp = 0;
        return 0;
    case 'x':
        return re_hex(r, 2, cp);
    case 'u': {
        if (r->i < r->n && r->c[r->i] == '{') return re_err(r, "\\u{...} is not supported");
        if (re_hex(r, 4, cp)) return -1;
        if (*cp >= 0xD800 && *cp <= 0xDBFF && r->i + 6 <= r->n && r->c[r->i] == '\\' &&
            r->c[r->i + 1] == 'u') {
            size_t save = r->i;
            uint32_t lo;
            r->i += 2;
            if (!re_hex(r, 4, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
                return 0;
            }
            r->x->failed = false;
            r->i = save;
        }
        if (*cp >= 0xD800 && *cp <= 0xDFFF) return re_err(r, "lone surrogate escape");
        return 0;
    }
    case 'b':
        if (in_class) {
            *cp = 8;
            return 0;
        }
        return re_err(r, "word boundaries (\\b) are not supported");
    default:
        if ((k >= 'a' && k <= 'z') || (k >= 'A' && k <= 'Z') || (k >= '1' && k <= '9'))
            return re_err(r,
                          "this escape (backreference, \\B, \\c, \\p, \\k ...) is not supported");
        *cp = k;
        return 0;
    }
}

static int re_class(jre *r, jset *out)
{
    bool neg = false;
    if (r->i < r->n && r->c[r->i] == '^') {
        neg = true;
        r->i++;
    }
    jset s = {0};
    while (true) {
        if (r->i >= r->n) {
            free(s.v);
            return re_err(r, "unterminated character class");
        }
        uint32_t c = r->c[r->i++];
        if (c == ']') break;
        uint32_t lo = c;
        if (c == '\\') {
            jset es = {0};
            int k = re_escape(r, true, &lo, &es);
            if (k < 0) {
                free(s.v);
                return -1;
            }
            if (k == 1) {
                for (size_t j = 0; j < es.n; j++)
                    set_add(&s, es.v[2 * j], es.v[2 * j + 1]);
                free(es.v);
                continue;
            }
        }
        if (r->i + 1 < r->n && r->c[r->i] == '-' && r->c[r->i + 1] != ']') {
            r->i++;
            uint32_t hi = r->c[r->i++];
            if (hi == '\\') {
                jset es = {0};
                int k = re_escape(r, true, &hi, &es);
                free(es.v);
                if (k != 0) {
                    free(s.v);
                    return k < 0 ? -1 : re_err(r, "class escape as a range end");
                }
            }
            if (hi < lo) {
                free(s.v);
                return re_err(r, "range out of order in character class");
            }
            set_add(&s, lo, hi);
        } else {
            set_add(&s, lo, lo);
        }
    }
    set_norm(&s);
    if (neg) {
        *out = set_not(&s);
        free(s.v);
    } else {
        *out = s;
    }
    return 0;
}

static int re_alt(jre *r, swarm_buf *out, bool top, bool *never, bool *nullable);

/* Parses {m}, {m,}, {m,n} at r->i (after '{'); 1 if it is not a quantifier. */
static int re_braces(jre *r, long *m, long *n)
{
    size_t i = r->i;
    long a = 0, b = -1;
    bool digits = false;
    while (i < r->n && r->c[i] >= '0' && r->c[i] <= '9') {
        if (a < 1000000) a = a * 10 + (long)(r->c[i] - '0');
        i++;
        digits = true;
    }
    if (!digits) return 1;
    if (i < r->n && r->c[i] == '}') {
        b = a;
    } else if (i < r->n && r->c[i] == ',') {
        i++;
        if (i < r->n && r->c[i] >= '0' && r->c[i] <= '9') {
            b = 0;
            while (i < r->n && r->c[i] >= '0' && r->c[i] <= '9') {
                if (b < 1000000) b = b * 10 + (long)(r->c[i] - '0');
                i++;
            }
        }
        if (i >= r->n || r->c[i] != '}') return 1;
    } else {
        return 1;
    }
    r->i = i + 1;
    *m = a;
    *n = b;
    return 0;
}

/* One atom with its quantifier, appended to seq; *never when it matches
 * nothing (and is not optional). */
static int re_atom(jre *r, swarm_buf *seq, bool *never, bool *nullable)
{
    swarm_buf a = {0};
    bool a_never = false, a_null = false;
    uint32_t c = r->c[r->i];
    jset s = {0};
    bool is_set = false;
    if (c == '(') {
        r->i++;
        if (r->i < r->n && r->c[r->i] == '?') {
            if (r->i + 1 < r->n && r->c[r->i + 1] == ':')
                r->i += 2;
            else
                return re_err(r, "lookaround and named groups are not supported");
        }
        if (++r->depth > 60) return re_err(r, "groups nested deeper than 60");
        swarm_buf g = {0};
        int grc = re_alt(r, &g, false, &a_never, &a_null);
        r->depth--;
        if (grc) {
            free(g.s);
            return -1;
        }
        if (r->i >= r->n || r->c[r->i] != ')') {
            free(g.s);
            return re_err(r, "missing )");
        }
        r->i++;
        if (g.n) {
            swarm_buf_put(&a, "(");
            swarm_buf_put(&a, g.s);
            swarm_buf_put(&a, ")");
        }
        free(g.s);
    } else if (c == '[') {
        r->i++;
        if (re_class(r, &s)) return -1;
        is_set = true;
    } else if (c == '.') {
        r->i++;
        set_add(&s, 0, 9);
        set_add(&s, 11, 12);
        set_add(&s, 14, 0x2027);
        set_add(&s, 0x202A, 0x10FFFF);
        is_set = true;
    } else if (c == '\\') {
        r->i++;
        uint32_t cp;
        int k = re_escape(r, false, &cp, &s);
        if (k < 0) return -1;
        if (k == 0) set_add(&s, cp, cp);
        is_set = true;
    } else if (c == '*' || c == '+' || c == '?') {
        return re_err(r, "nothing to repeat");
    } else if (c == '^' || c == '$') {
        return re_err(r, "anchors are only supported at the start/end of the pattern");
    } else {
        long m, n;
        if (c == '{' && (r->i++, re_braces(r, &m, &n) == 0)) return re_err(r, "nothing to repeat");
        if (c != '{') r->i++;
        set_add(&s, c, c);
        is_set = true;
    }
    if (is_set) {
        set_norm(&s);
        if (s.oom) {
            free(s.v);
            return joom(r->x);
        }
        if (!gb_jchars(&a, &s)) a_never = true;
        free(s.v);
    }
    /* quantifier */
    long m = 1, n = 1;
    if (r->i < r->n) {
        uint32_t q = r->c[r->i];
        if (q == '*' || q == '+' || q == '?') {
            m = q == '+' ? 1 : 0;
            n = q == '?' ? 1 : -1;
            r->i++;
        } else if (q == '{') {
            size_t save = r->i;
            r->i++;
            if (re_braces(r, &m, &n)) {
                r->i = save;
                m = n = 1;
            } else if (m > JSC_MAX_REPEAT || n > JSC_MAX_REPEAT) {
                free(a.s);
                return re_err(r, "repetition count above 10000");
            } else if (n >= 0 && n < m) {
                free(a.s);
                return re_err(r, "numbers out of order in {} quantifier");
            }
        }
        if (r->i < r->n && r->c[r->i] == '?' && !(m == 1 && n == 1)) r->i++; /* lazy */
        if (r->i < r->n && (r->c[r->i] == '*' || r->c[r->i] == '+' || r->c[r->i] == '?')) {
            free(a.s);
            return re_err(r, "nothing to repeat");
        }
    }
    *nullable = a_null || m == 0 || !a.n;
    if (a_null && a.n && n < 0) {
        free(a.s);
        return re_err(r, "a repeated group that can match the empty string is not supported");
    }
    if (a_never) {
        free(a.s);
        if (m > 0) *never = true;
        return 0;
    }
    if (!a.n || n == 0) { /* matches only the empty string */
        free(a.s);
        return 0;
    }
    if (seq->n) swarm_buf_put(seq, " ");
    bool grouped = a.s[0] == '(' || a.s[0] == '[' || (a.s[0] == '"' && !strchr(a.s + 1, ' '));
    if (!(m == 1 && n == 1) && !grouped) {
        swarm_buf_put(seq, "(");
        swarm_buf_put(seq, a.s);
        swarm_buf_put(seq, ")");
    } else {
        swarm_buf_put(seq, a.s);
    }
    if (m == 0 && n == 1)
        swarm_buf_put(seq, "?");
    else if (m == 0 && n < 0)
        swarm_buf_put(seq, "*");
    else if (m == 1 && n < 0)
        swarm_buf_put(seq, "+");
    else if (n < 0)
        swarm_buf_printf(seq, "{%ld,}", m);
    else if (m == n && m != 1)
        swarm_buf_printf(seq, "{%ld}", m);
    else if (m != n)
        swarm_buf_printf(seq, "{%ld,%ld}", m, n);
    free(a.s);
    return a.oom ? joom(r->x) : 0;
}

static int re_alt(jre *r, swarm_buf *out, bool top, bool *never, bool *nullable)
{
    jalt al = {0};
    bool any = false, any_null = false;
    while (true) {
        swarm_buf seq = {0};
        bool sn = false, anc_s = false, anc_e = false, seq_null = true;
        if (top && r->i < r->n && r->c[r->i] == '^') {
            anc_s = true;
            r->i++;
        }
        while (r->i < r->n && r->c[r->i] != '|' && r->c[r->i] != ')') {
            if (top && r->c[r->i] == '$' && (r->i + 1 == r->n || r->c[r->i + 1] == '|')) {
                anc_e = true;
                r->i++;
                break;
            }
            bool an = false;
            if (re_atom(r, &seq, &sn, &an)) {
                free(seq.s);
                free(al.b.s);
                return -1;
            }
            seq_null = seq_null && an;
        }
        if (!sn && seq_null) any_null = true;
        if (!sn) {
            swarm_buf full = {0};
            if (top && !anc_s) {
                jhelper(r->x, H_KCHAR);
                swarm_buf_put(&full, "json-kchar*");
            }
            if (seq.n) {
                if (full.n) swarm_buf_put(&full, " ");
                swarm_buf_put(&full, seq.s);
            }
            if (top && !anc_e) {
                jhelper(r->x, H_KCHAR);
                if (full.n) swarm_buf_put(&full, " ");
                swarm_buf_put(&full, "json-kchar*");
            }
            alt_add(&al, swarm_buf_str(&full));
            free(full.s);
            any = true;
        }
        free(seq.s);
        if (r->i < r->n && r->c[r->i] == '|') {
            r->i++;
            continue;
        }
        break;
    }
    if (top && r->i < r->n) {
        free(al.b.s);
        return re_err(r, "unmatched )");
    }
    *never = !any;
    *nullable = any_null;
    alt_emit(&al, out);
    return 0;
}

/* GBNF for the inside of a string matching the pattern; *never when no
 * string matches. */
static int pattern_expr(jctx *x, const jel *e, const char *pat, swarm_buf *out, bool *never)
{
    size_t n = strlen(pat), k = 0;
    uint32_t *cps = malloc((n + 1) * sizeof *cps);
    if (!cps) return joom(x);
    for (size_t i = 0; i < n;) {
        if (utf8_next(pat, n, &i, &cps[k])) {
            free(cps);
            return kw_fail(x, e->ptr, "pattern", "invalid UTF-8");
        }
        k++;
    }
    jre r = {cps, k, 0, x, e, 0};
    bool nullable;
    int rc = re_alt(&r, out, true, never, &nullable);
    free(cps);
    return rc;
}

/* atom{m,n} (n < 0: unbounded), atom already grouped. A count c above
 * JSC_REP_DIRECT is split exactly into blocks of B ~ sqrt(c) (the grammar
 * loader expands a count into that many elements, so this keeps a
 * maxLength of 20000 at a few hundred): {m} = (atom{B}){m/B} atom{m%B}, and
 * the lengths 0..N = a*B + b are either a <= N/B, b <= N%B, or
 * a < N/B, N%B < b < B. */
#define JSC_REP_DIRECT 64

static long rep_block(long c)
{
    long b = 8;
    while (b * b < c)
        b++;
    return b;
}

static void rep_emit(swarm_buf *o, const char *atom, long m, long n)
{
    if ((n >= 0 && n <= JSC_REP_DIRECT) || (n < 0 && m <= JSC_REP_DIRECT)) {
        if (n < 0 && m == 0)
            swarm_buf_printf(o, "%s*", atom);
        else if (n < 0 && m == 1)
            swarm_buf_printf(o, "%s+", atom);
        else if (n < 0)
            swarm_buf_printf(o, "%s{%ld,}", atom, m);
        else if (m == 0 && n == 1)
            swarm_buf_printf(o, "%s?", atom);
        else if (m == n && m == 1)
            swarm_buf_put(o, atom);
        else if (m == n)
            swarm_buf_printf(o, "%s{%ld}", atom, m);
        else
            swarm_buf_printf(o, "%s{%ld,%ld}", atom, m, n);
        return;
    }
    const char *sep = "";
    if (m > JSC_REP_DIRECT) {
        long b = rep_block(m);
        swarm_buf_printf(o, "(%s{%ld}){%ld}", atom, b, m / b);
        if (m % b) swarm_buf_printf(o, " %s{%ld}", atom, m % b);
        sep = " ";
    } else if (m > 0) {
        swarm_buf_printf(o, "%s{%ld}", atom, m);
        sep = " ";
    }
    if (n < 0) {
        swarm_buf_printf(o, "%s%s*", sep, atom);
        return;
    }
    long N = n - m;
    if (N == 0) return;
    if (N <= JSC_REP_DIRECT) {
        swarm_buf_printf(o, "%s%s{0,%ld}", sep, atom, N);
        return;
    }
    long b = rep_block(N), q = N / b, r = N % b;
    swarm_buf_printf(o, "%s((%s{%ld}){0,%ld}", sep, atom, b, q);
    if (r) swarm_buf_printf(o, " %s{0,%ld}", atom, r);
    if (r < b - 1) {
        swarm_buf_put(o, " | ");
        if (q > 1) swarm_buf_printf(o, "(%s{%ld}){0,%ld} ", atom, b, q - 1);
        swarm_buf_printf(o, "%s{%ld,%ld}", atom, r + 1, b - 1);
    }
    swarm_buf_put(o, ")");
}

/* ---- strings ---- */

static int comp_string(jctx *x, const jconj *c, swarm_buf *out, bool *never)
{
    long minl = 0, maxl = -1;
    const jel *pat_el = NULL, *len_el = NULL;
    const char *pat = NULL, *len_kw = NULL;
    for (size_t i = 0; i < c->n; i++) {
        const jel *e = &c->v[i];
        long v = 0;
        int k;
        if ((k = get_count(x, e, "minLength", &v)) < 0) return -1;
        if (k && v > minl) minl = v;
        if (k) len_el = e, len_kw = "minLength";
        if ((k = get_count(x, e, "maxLength", &v)) < 0) return -1;
        if (k && (maxl < 0 || v < maxl)) maxl = v;
        if (k) len_el = e, len_kw = "maxLength";
        const cJSON *p = el_kw(e, "pattern");
        if (p) {
            if (!cJSON_IsString(p)) return kw_fail(x, e->ptr, "pattern", "must be a string");
            if (pat && strcmp(pat, p->valuestring))
                return kw_fail(x, e->ptr, "pattern",
                               "several different patterns on one string are not supported");
            pat = p->valuestring;
            pat_el = e;
        }
        /* format is an annotation in draft 2020-12 (no assertion unless
         * the format-assertion vocabulary is in use): any string passes */
        const cJSON *f = el_kw(e, "format");
        if (f && !cJSON_IsString(f)) return kw_fail(x, e->ptr, "format", "must be a string");
    }
    bool has_len = minl > 0 || maxl >= 0;
    if (pat && has_len)
        return kw_fail(x, pat_el->ptr, "pattern",
                       "pattern together with minLength/maxLength is not supported");
    if (pat) {
        swarm_buf p = {0};
        if (pattern_expr(x, pat_el, pat, &p, never)) {
            free(p.s);
            return -1;
        }
        if (!*never) {
            swarm_buf_put(out, "\"\\\"\"");
            if (p.n) {
                swarm_buf_put(out, " ");
                swarm_buf_put(out, p.s);
            }
            swarm_buf_put(out, " \"\\\"\"");
        }
        free(p.s);
        return 0;
    }
    if (maxl >= 0 && minl > maxl) {
        *never = true;
        return 0;
    }
    if (minl > JSC_MAX_COUNT || maxl > JSC_MAX_COUNT)
        return kw_fail(x, len_el->ptr, len_kw, "lengths above 10000000 are not supported");
    swarm_buf_put(out, "\"\\\"\" ");
    if (maxl != 0) {
        jhelper(x, H_CHAR);
        rep_emit(out, "json-char", minl, maxl);
        swarm_buf_put(out, " ");
    }
    swarm_buf_put(out, "\"\\\"\"");
    return 0;
}

/* ---- arrays ---- */

static int comp_array(jctx *x, const jconj *c, swarm_buf *out, bool *never)
{
    long minn = 0, maxn = -1;
    size_t npre = 0;
    bool unique = false;
    const jel *cnt_el = c->v;
    const char *cnt_kw = "maxItems";
    for (size_t i = 0; i < c->n; i++) {
        const jel *e = &c->v[i];
        long v = 0;
        int k;
        if ((k = get_count(x, e, "minItems", &v)) < 0) return -1;
        if (k && v > minn) minn = v, cnt_el = e, cnt_kw = "minItems";
        if ((k = get_count(x, e, "maxItems", &v)) < 0) return -1;
        if (k && (maxn < 0 || v < maxn)) maxn = v, cnt_el = e, cnt_kw = "maxItems";
        const cJSON *u = el_kw(e, "uniqueItems");
        if (u) {
            if (!cJSON_IsBool(u)) return kw_fail(x, e->ptr, "uniqueItems", "must be a boolean");
            if (cJSON_IsTrue(u)) unique = true, cnt_el = e;
        }
        const cJSON *it = el_kw(e, "items");
        if (it && !cJSON_IsObject(it) && !cJSON_IsBool(it))
            return kw_fail(x, e->ptr, "items",
                           "must be a schema (the array form is prefixItems in 2020-12)");
        const cJSON *pre = el_kw(e, "prefixItems");
        if (pre) {
            if (!cJSON_IsArray(pre) || !pre->child)
                return kw_fail(x, e->ptr, "prefixItems", "must be a non-empty array of schemas");
            size_t np = (size_t)cJSON_GetArraySize(pre);
            if (np > npre) npre = np;
        }
    }
    if (npre > JSC_MAX_REPEAT) return jfail(x, "%s: more than 10000 prefixItems", c->v[0].ptr);
    /* per-position rules */
    const char **pos = calloc(npre + 1, sizeof *pos);
    if (!pos) return joom(x);
    long limit = -1; /* first position that can hold no value */
    for (size_t p = 0; p <= npre; p++) {
        jconj sub = {0};
        for (size_t i = 0; i < c->n; i++) {
            const jel *e = &c->v[i];
            const cJSON *pre = el_kw(e, "prefixItems");
            const cJSON *it = el_kw(e, "items");
            jel se = {0};
            if (p < npre && pre && (int)p < cJSON_GetArraySize(pre)) {
                se.s = cJSON_GetArrayItem(pre, (int)p);
                se.ptr = jptr_idx(x, e->ptr, "prefixItems", (int)p);
            } else if (it) {
                se.s = it;
                se.ptr = jptr(x, e->ptr, "items");
            } else {
                continue;
            }
            if (!se.ptr || conj_push(&sub, se)) {
                free(sub.v);
                free(pos);
                return joom(x);
            }
        }
        if (sub_rule(x, &sub, &pos[p])) {
            free(pos);
            return -1;
        }
        if (!pos[p] && limit < 0) limit = (long)p;
    }
    /* pos[npre] is the rule for every later position */
    long maxeff = maxn;
    if (limit >= 0 && (maxeff < 0 || limit < maxeff)) maxeff = limit;
    if (maxeff >= 0 && minn > maxeff) {
        free(pos);
        *never = true;
        return 0;
    }
    if (unique && (maxeff < 0 || maxeff > 1)) {
        free(pos);
        return kw_fail(x, cnt_el->ptr, "uniqueItems",
                       "uniqueItems: true is not supported (unless at most one item)");
    }
    /* contains (at least one item matches): items before it, the matching
     * one (items and contains together), items after it */
    const jel *con = NULL;
    for (size_t i = 0; i < c->n; i++) {
        if (!el_kw(&c->v[i], "contains")) continue;
        if (con) {
            free(pos);
            return kw_fail(x, c->v[i].ptr, "contains",
                           "several contains on one array are not "
                           "supported");
        }
        con = &c->v[i];
    }
    if (con) {
        if (npre || maxn >= 0 || minn > 1) {
            free(pos);
            return kw_fail(x, con->ptr, "contains",
                           "contains together with prefixItems, maxItems or minItems > 1 is not "
                           "supported");
        }
        const char *t = pos[npre], *tc = NULL;
        free(pos);
        if (!t) {
            *never = true;
            return 0;
        }
        jconj sub = {0};
        for (size_t i = 0; i < c->n; i++) {
            const cJSON *it = el_kw(&c->v[i], "items");
            if (!it) continue;
            jel se = {it, jptr(x, c->v[i].ptr, "items"), 0};
            if (!se.ptr || conj_push(&sub, se)) {
                free(sub.v);
                return joom(x);
            }
        }
        jel ce = {el_kw(con, "contains"), jptr(x, con->ptr, "contains"), 0};
        if (!ce.ptr || conj_push(&sub, ce)) {
            free(sub.v);
            return joom(x);
        }
        if (sub_rule(x, &sub, &tc)) return -1;
        if (!tc) {
            *never = true;
            return 0;
        }
        jhelper(x, H_WS);
        swarm_buf_printf(out, "\"[\" ws (%s ws \",\" ws)* %s ws (\",\" ws %s ws)* \"]\"", t, tc, t);
        return 0;
    }
    if (minn > JSC_MAX_COUNT || maxeff > JSC_MAX_COUNT) {
        free(pos);
        return kw_fail(x, cnt_el->ptr, cnt_kw, "item counts above 10000000 are not supported");
    }
    jhelper(x, H_WS);
    /* tail: positions >= npre */
    swarm_buf cur = {0};
    const char *t = pos[npre];
    if (maxeff < 0 || maxeff > (long)npre) {
        long a, b;
        if (npre == 0) {
            swarm_buf_printf(&cur, "%s ws", t);
            a = minn > 1 ? minn - 1 : 0;
            b = maxeff < 0 ? -1 : maxeff - 1;
        } else {
            a = minn > (long)npre ? minn - (long)npre : 0;
            b = maxeff < 0 ? -1 : maxeff - (long)npre;
        }
        if (b != 0) {
            if (cur.n) swarm_buf_put(&cur, " ");
            swarm_buf item = {0};
            swarm_buf_printf(&item, "(\",\" ws %s ws)", t);
            rep_emit(&cur, swarm_buf_str(&item), a, b);
            free(item.s);
        }
        if (npre == 0 && minn == 0) {
            swarm_buf w = {0};
            swarm_buf_printf(&w, "(%s)?", swarm_buf_str(&cur));
            free(cur.s);
            cur = w;
        }
    }
    size_t k = npre;
    if (maxeff >= 0 && (size_t)maxeff < k) k = (size_t)maxeff;
    for (size_t i = k; i-- > 0;) {
        swarm_buf it = {0};
        swarm_buf_printf(&it, "%s%s ws", i ? "\",\" ws " : "", pos[i]);
        if (cur.n) {
            swarm_buf_put(&it, " ");
            swarm_buf_put(&it, cur.s);
        }
        free(cur.s);
        cur = (swarm_buf){0};
        if ((long)i >= minn)
            swarm_buf_printf(&cur, "(%s)?", swarm_buf_str(&it));
        else
            swarm_buf_put(&cur, swarm_buf_str(&it));
        free(it.s);
        /* a rule every 24 positions keeps group nesting shallow */
        if (i % 24 == 0 && i) {
            int r = rule_new(x, c->v[0].ptr, "-items");
            if (r < 0 || rule_set(x, r, &cur)) {
                free(cur.s);
                free(pos);
                return -1;
            }
            cur.n = 0;
            swarm_buf_put(&cur, x->rules[r].name);
        }
    }
    free(pos);
    swarm_buf_put(out, "\"[\" ws ");
    if (cur.n) {
        swarm_buf_put(out, cur.s);
        swarm_buf_put(out, " ");
    }
    swarm_buf_put(out, "\"]\"");
    bool oom = cur.oom;
    free(cur.s);
    return oom ? joom(x) : 0;
}

/* ---- objects ---- */

/* A trie of the named keys (code points), for "any key but these". */
typedef struct {
    uint32_t cp;
    int first, next; /* child list */
    bool term;
} jtnode;

typedef struct {
    jtnode *v;
    size_t n, cap;
} jtrie;

static int trie_node(jtrie *t, uint32_t cp)
{
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 64;
        jtnode *p = realloc(t->v, nc * sizeof *p);
        if (!p) return -1;
        t->v = p;
        t->cap = nc;
    }
    t->v[t->n] = (jtnode){cp, -1, -1, false};
    return (int)t->n++;
}

static int trie_add(jtrie *t, const char *s)
{
    int at = 0;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        if (utf8_next(s, n, &i, &cp)) return -2;
        int prev = -1, k = t->v[at].first;
        while (k >= 0 && t->v[k].cp < cp) {
            prev = k;
            k = t->v[k].next;
        }
        if (k < 0 || t->v[k].cp != cp) {
            int nk = trie_node(t, cp);
            if (nk < 0) return -1;
            t->v[nk].next = k;
            if (prev < 0)
                t->v[at].first = nk;
            else
                t->v[prev].next = nk;
            k = nk;
        }
        at = k;
    }
    t->v[at].term = true;
    return 0;
}

/* Rules for trie node `at`: the non-empty continuations that do not end on a
 * named key. Returns the rule name index. */
static int trie_rule(jctx *x, const jtrie *t, int at, const char *base)
{
    int r = rule_new(x, base, "-key");
    if (r < 0) return -1;
    jalt al = {0};
    jset kids = {0};
    for (int k = t->v[at].first; k >= 0; k = t->v[k].next) {
        set_add(&kids, t->v[k].cp, t->v[k].cp);
        jset one = {0};
        set_add(&one, t->v[k].cp, t->v[k].cp);
        swarm_buf e = {0};
        gb_jchars(&e, &one);
        free(one.v);
        if (t->v[k].first < 0) {
            swarm_buf_put(&e, " json-kchar+");
        } else {
            int cr = trie_rule(x, t, k, base);
            if (cr < 0) {
                free(e.s);
                free(kids.v);
                free(al.b.s);
                return -1;
            }
            swarm_buf_printf(&e, " %s%s", x->rules[cr].name, t->v[k].term ? "" : "?");
        }
        alt_add(&al, swarm_buf_str(&e));
        free(e.s);
    }
    set_norm(&kids);
    jset other = set_not(&kids);
    swarm_buf e = {0};
    if (gb_jchars(&e, &other)) {
        swarm_buf_put(&e, " json-kchar*");
        alt_add(&al, swarm_buf_str(&e));
    }
    free(e.s);
    free(other.v);
    free(kids.v);
    jhelper(x, H_KCHAR);
    swarm_buf body = {0};
    alt_emit(&al, &body);
    int rc = rule_set(x, r, &body);
    free(body.s);
    return rc ? -1 : r;
}

typedef struct {
    const char *name;
    bool req;
    const char *rule; /* NULL: no value allowed */
} jprop;

static int comp_object(jctx *x, const jconj *c, const char *hint, swarm_buf *out, bool *never)
{
    jprop *pr = NULL;
    size_t np = 0, capp = 0;
    int rc = -1;
    jtrie trie = {0};
    int *srule = NULL;
#define ADD_PROP(nm)                                                                               \
    do {                                                                                           \
        size_t q_ = 0;                                                                             \
        while (q_ < np && strcmp(pr[q_].name, (nm)))                                               \
            q_++;                                                                                  \
        if (q_ == np) {                                                                            \
            if (np == capp) {                                                                      \
                capp = capp ? capp * 2 : 8;                                                        \
                jprop *p_ = realloc(pr, capp * sizeof *p_);                                        \
                if (!p_) goto oom;                                                                 \
                pr = p_;                                                                           \
            }                                                                                      \
            pr[np++] = (jprop){(nm), false, NULL};                                                 \
        }                                                                                          \
    } while (0)
    for (size_t i = 0; i < c->n; i++) {
        const cJSON *p = el_kw(&c->v[i], "properties");
        if (!p) continue;
        if (!cJSON_IsObject(p)) {
            kw_fail(x, c->v[i].ptr, "properties", "must be an object");
            goto done;
        }
        for (const cJSON *k = p->child; k; k = k->next)
            ADD_PROP(k->string);
    }
    for (size_t i = 0; i < c->n; i++) {
        const cJSON *rq = el_kw(&c->v[i], "required");
        if (!rq) continue;
        if (!cJSON_IsArray(rq)) {
            kw_fail(x, c->v[i].ptr, "required", "must be an array of strings");
            goto done;
        }
        for (const cJSON *k = rq->child; k; k = k->next) {
            if (!cJSON_IsString(k)) {
                kw_fail(x, c->v[i].ptr, "required", "must be an array of strings");
                goto done;
            }
            ADD_PROP(k->valuestring);
            for (size_t q = 0; q < np; q++)
                if (!strcmp(pr[q].name, k->valuestring)) pr[q].req = true;
        }
    }
    for (size_t i = 0; i < c->n; i++) {
        const cJSON *pp = el_kw(&c->v[i], "patternProperties");
        if (pp && (!cJSON_IsObject(pp) || pp->child)) {
            kw_unsupported(x, c->v[i].ptr, "patternProperties");
            goto done;
        }
        const cJSON *ap = el_kw(&c->v[i], "additionalProperties");
        if (ap && !cJSON_IsObject(ap) && !cJSON_IsBool(ap)) {
            kw_fail(x, c->v[i].ptr, "additionalProperties", "must be a schema");
            goto done;
        }
    }
    /* value rules */
    for (size_t q = 0; q < np; q++) {
        jconj sub = {0};
        for (size_t i = 0; i < c->n; i++) {
            const jel *e = &c->v[i];
            const cJSON *p = el_kw(e, "properties");
            const cJSON *s = p ? cJSON_GetObjectItemCaseSensitive(p, pr[q].name) : NULL;
            jel se = {0};
            if (s) {
                se.s = s;
                const char *pp = jptr(x, e->ptr, "properties");
                se.ptr = pp ? jptr(x, pp, pr[q].name) : NULL;
            } else if ((s = el_kw(e, "additionalProperties"))) {
                se.s = s;
                se.ptr = jptr(x, e->ptr, "additionalProperties");
            } else {
                continue;
            }
            if (!se.ptr || conj_push(&sub, se)) {
                free(sub.v);
                goto oom;
            }
        }
        if (sub_rule(x, &sub, &pr[q].rule)) goto done;
        if (!pr[q].rule && pr[q].req) {
            *never = true;
            rc = 0;
            goto done;
        }
    }
    const char *arule = NULL;
    {
        jconj sub = {0};
        for (size_t i = 0; i < c->n; i++) {
            const cJSON *s = el_kw(&c->v[i], "additionalProperties");
            if (!s) continue;
            jel se = {s, jptr(x, c->v[i].ptr, "additionalProperties"), 0};
            if (!se.ptr || conj_push(&sub, se)) {
                free(sub.v);
                goto oom;
            }
        }
        if (sub_rule(x, &sub, &arule)) goto done;
    }
    jhelper(x, H_WS);
    /* additional key: any key but the named ones */
    swarm_buf akv = {0};
    if (arule) {
        if (trie_node(&trie, 0) < 0) goto oom;
        for (size_t q = 0; q < np; q++) {
            /* the key trie is walked recursively, one level per character */
            if (utf8_count(pr[q].name) > 512) {
                jfail(x,
                      "%s: property names longer than 512 characters are not supported next "
                      "to additional properties",
                      *c->v[0].ptr ? c->v[0].ptr : "(root)");
                goto done;
            }
            int k = trie_add(&trie, pr[q].name);
            if (k == -2) {
                jfail(x, "%s: property name is not valid UTF-8", c->v[0].ptr);
                goto done;
            }
            if (k < 0) goto oom;
        }
        jhelper(x, H_KCHAR);
        swarm_buf_put(&akv, "\"\\\"\" ");
        if (trie.v[0].first < 0 && !trie.v[0].term) {
            swarm_buf_put(&akv, "json-kchar*");
        } else {
            int kr = trie_rule(x, &trie, 0, hint);
            if (kr < 0) goto done;
            swarm_buf_printf(&akv, "%s%s", x->rules[kr].name, trie.v[0].term ? "" : "?");
        }
        swarm_buf_printf(&akv, " \"\\\"\" ws \":\" ws %s ws", arule);
    }
    /* Named properties p0..p(n-1) in order; S+(i,c) / T+(i,c) are the
     * non-empty member lists from property i on after c members (c > 0: a
     * comma comes first; c counts up to C, where minProperties and
     * maxProperties are decided, and saturates there without a maximum);
     * S may start with an additional member, T starts with a named one (or
     * skips optional ones). Every member list has one parse, so the matcher
     * never forks on it. */
    long minp = 0, maxp = -1;
    for (size_t i = 0; i < c->n; i++) {
        long v = 0;
        int k;
        if ((k = get_count(x, &c->v[i], "minProperties", &v)) < 0) goto fail_early;
        if (k && v > minp) minp = v;
        if ((k = get_count(x, &c->v[i], "maxProperties", &v)) < 0) goto fail_early;
        if (k && (maxp < 0 || v < maxp)) maxp = v;
    }
    const long C = maxp >= 0 ? maxp : (minp > 1 ? minp : 1);
    if (C > 64 || (np + 1) * (size_t)(C + 1) > 200000) {
        jfail(x, "%s: minProperties/maxProperties above 64 are not supported",
              *c->v[0].ptr ? c->v[0].ptr : "(root)");
        goto fail_early;
    }
    const size_t NC = (size_t)C + 1;
    bool *nullable = calloc(np + 1, sizeof *nullable);
    bool *tne = calloc((np + 1) * NC, sizeof *tne); /* T+(i,c) non-empty */
    bool *sne = calloc((np + 1) * NC, sizeof *sne); /* S+(i,c) non-empty */
    srule = malloc(2 * (np + 1) * NC * sizeof *srule);
    bool *reach = calloc(2 * (np + 1) * NC, sizeof *reach);
    if (!nullable || !tne || !sne || !srule || !reach) {
        free(nullable);
        free(tne);
        free(sne);
        free(reach);
        free(akv.s);
        goto oom;
    }
    bool add = arule != NULL;
    nullable[np] = true;
    for (size_t i = np; i-- > 0;)
        nullable[i] = nullable[i + 1] && !pr[i].req;
#define AT(i, c) ((size_t)(i)*NC + (size_t)(c))
#define NEXTC(c) ((c) < C ? (c) + 1 : maxp >= 0 ? -1 : C)
#define NULLABLE(i, c) (nullable[i] && (c) >= minp)
        /* S(i,c) as a sequence element: empty allowed, or S+(i,c) exists */
#define SEQ_OK(i, c) (NULLABLE(i, c) || sne[AT(i, c)])
    for (size_t i = np + 1; i-- > 0;)
        for (long cc = C; cc >= 0; cc--) {
            long nc = NEXTC(cc);
            tne[AT(i, cc)] = i < np && ((pr[i].rule && nc >= 0 && SEQ_OK(i + 1, nc)) ||
                                        (!pr[i].req && tne[AT(i + 1, cc)]));
            bool more = add && nc >= 0 && (NULLABLE(i, nc) || (nc != cc && sne[AT(i, nc)]));
            sne[AT(i, cc)] = tne[AT(i, cc)] || more;
        }
    if (!SEQ_OK(0, 0)) {
        free(nullable);
        free(tne);
        free(sne);
        free(reach);
        free(akv.s);
        *never = true;
        rc = 0;
        goto done;
    }
    /* reachability: index (2*i + kind)*NC + c, kind 0 = S+, 1 = T+;
     * without additional properties S+ is T+ */
#define IDX(i, kind, c) ((2 * (size_t)(i) + (kind)) * NC + (size_t)(c))
#define MARK_S(i, c) (reach[IDX(i, add ? 0 : 1, c)] = true)
    if (sne[AT(0, 0)]) MARK_S(0, 0);
    for (size_t i = 0; i <= np; i++) {
        for (long cc = 0; cc <= C && add; cc++) {
            if (!reach[IDX(i, 0, cc)]) continue;
            long nc = NEXTC(cc);
            if (nc >= 0 && sne[AT(i, nc)]) reach[IDX(i, 0, nc)] = true;
            if (tne[AT(i, cc)]) reach[IDX(i, 1, cc)] = true;
        }
        for (long cc = 0; cc <= C; cc++) {
            if (!reach[IDX(i, 1, cc)] || i == np) continue;
            long nc = NEXTC(cc);
            if (pr[i].rule && nc >= 0 && sne[AT(i + 1, nc)]) MARK_S(i + 1, nc);
            if (!pr[i].req && tne[AT(i + 1, cc)]) reach[IDX(i + 1, 1, cc)] = true;
        }
    }
    for (size_t q = 0; q < 2 * (np + 1) * NC; q++)
        srule[q] = -1;
    bool ok = true;
    for (size_t i = 0; i <= np && ok; i++)
        for (int kind = 0; kind < 2 && ok; kind++)
            for (long cc = 0; cc <= C && ok; cc++) {
                if (!reach[IDX(i, kind, cc)]) continue;
                char suf[64];
                if (C == 1)
                    snprintf(suf, sizeof suf, "-%s%zu%s", kind ? "t" : "s", i, cc ? "m" : "");
                else
                    snprintf(suf, sizeof suf, "-%s%zu-n%ld", kind ? "t" : "s", i, cc);
                int r = rule_new(x, hint, suf);
                if (r < 0) ok = false;
                srule[IDX(i, kind, cc)] = r;
            }
    if (!ok) {
        free(nullable);
        free(tne);
        free(sne);
        free(reach);
        free(akv.s);
        goto done;
    }
#define SNAME(i, c) x->rules[srule[IDX(i, add ? 0 : 1, c)]].name
    for (size_t i = 0; i <= np && ok; i++)
        for (int kind = 0; kind < 2 && ok; kind++)
            for (long cc = 0; cc <= C && ok; cc++) {
                int r = srule[IDX(i, kind, cc)];
                if (r < 0) continue;
                jalt al = {0};
                swarm_buf t = {0};
                const char *K = cc ? "\",\" ws " : "";
                long nc = NEXTC(cc);
                if (kind == 0) {
                    if (nc >= 0 && SEQ_OK(i, nc)) {
                        swarm_buf_printf(&t, "%s%s", K, swarm_buf_str(&akv));
                        if (sne[AT(i, nc)])
                            swarm_buf_printf(&t, " %s%s", SNAME(i, nc), NULLABLE(i, nc) ? "?" : "");
                        alt_add(&al, swarm_buf_str(&t));
                        t.n = 0;
                    }
                    if (tne[AT(i, cc)]) alt_add(&al, x->rules[srule[IDX(i, 1, cc)]].name);
                } else {
                    if (pr[i].rule && nc >= 0 && SEQ_OK(i + 1, nc)) {
                        swarm_buf key = {0};
                        jv_str(&key, pr[i].name);
                        swarm_buf_put(&t, K);
                        if (gb_lit(&t, key.s, key.n)) ok = false;
                        free(key.s);
                        swarm_buf_printf(&t, " ws \":\" ws %s ws", pr[i].rule);
                        if (sne[AT(i + 1, nc)])
                            swarm_buf_printf(&t, " %s%s", SNAME(i + 1, nc),
                                             NULLABLE(i + 1, nc) ? "?" : "");
                        alt_add(&al, swarm_buf_str(&t));
                        t.n = 0;
                    }
                    if (!pr[i].req && tne[AT(i + 1, cc)])
                        alt_add(&al, x->rules[srule[IDX(i + 1, 1, cc)]].name);
                }
                free(t.s);
                swarm_buf body = {0};
                alt_emit(&al, &body);
                if (rule_set(x, r, &body)) ok = false;
                free(body.s);
            }
    if (ok) {
        swarm_buf_put(out, "\"{\" ws ");
        if (sne[AT(0, 0)]) swarm_buf_printf(out, "%s%s ", SNAME(0, 0), NULLABLE(0, 0) ? "?" : "");
        swarm_buf_put(out, "\"}\"");
    }
#undef SNAME
#undef MARK_S
#undef IDX
#undef SEQ_OK
#undef NULLABLE
#undef NEXTC
#undef AT
    free(nullable);
    free(tne);
    free(sne);
    free(reach);
    free(akv.s);
    rc = ok ? 0 : -1;
    goto done;
fail_early:
    free(akv.s);
    rc = -1;
    goto done;
oom:
    rc = joom(x);
done:
    free(pr);
    free(trie.v);
    free(srule);
    return rc;
#undef ADD_PROP
}

/* ---- enum / const ---- */

static bool enum_in(const cJSON *v, const cJSON *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (jv_equal(v, set[i])) return true;
    return false;
}

/* Does value v pass keyword kw of e? 1 yes, 0 no, -1 refused. */
static int enum_check(jctx *x, const jel *e, const cJSON *k, const cJSON *v)
{
    const char *kw = k->string;
    const jkw *w = kw_find(kw);
    unsigned vt = jv_type(v);
    if (!w || w->cls != K_SUPP || !(w->types & vt) || w->types == T_ALL) return 1;
    if (!strcmp(kw, "format")) return 1;
    if (!strcmp(kw, "minLength") || !strcmp(kw, "maxLength")) {
        long lim = 0;
        if (get_count(x, e, kw, &lim) < 0) return -1;
        long n = (long)utf8_count(v->valuestring);
        return kw[1] == 'i' ? n >= lim : n <= lim;
    }
    if (!strcmp(kw, "minItems") || !strcmp(kw, "maxItems") || !strcmp(kw, "minProperties") ||
        !strcmp(kw, "maxProperties")) {
        long lim = 0;
        if (get_count(x, e, kw, &lim) < 0) return -1;
        long n = cJSON_GetArraySize(v);
        return kw[1] == 'i' ? n >= lim : n <= lim;
    }
    if (!strcmp(kw, "minimum") || !strcmp(kw, "maximum") || !strcmp(kw, "exclusiveMinimum") ||
        !strcmp(kw, "exclusiveMaximum")) {
        if (!cJSON_IsNumber(k)) return kw_fail(x, e->ptr, kw, "must be a number");
        double d = v->valuedouble, b = k->valuedouble;
        if (kw[0] == 'm') return kw[1] == 'i' ? d >= b : d <= b;
        return kw[9] == 'M' && kw[10] == 'i' ? d > b : d < b;
    }
    if (!strcmp(kw, "multipleOf")) {
        if (!cJSON_IsNumber(k) || k->valuedouble <= 0)
            return kw_fail(x, e->ptr, kw, "must be a number above 0");
        double q = v->valuedouble / k->valuedouble;
        if (!isfinite(q) || floor(q) != q)
            return kw_fail(x, e->ptr, kw, "multipleOf together with enum/const is not supported");
        return 1;
    }
    if (!strcmp(kw, "required")) {
        if (!cJSON_IsArray(k)) return kw_fail(x, e->ptr, kw, "must be an array of strings");
        for (const cJSON *r = k->child; r; r = r->next) {
            if (!cJSON_IsString(r)) return kw_fail(x, e->ptr, kw, "must be an array of strings");
            if (!cJSON_GetObjectItemCaseSensitive(v, r->valuestring)) return 0;
        }
        return 1;
    }
    if (!strcmp(kw, "uniqueItems")) {
        if (!cJSON_IsTrue(k)) return 1;
        for (const cJSON *a = v->child; a; a = a->next)
            for (const cJSON *b = a->next; b; b = b->next)
                if (jv_equal(a, b)) return 0;
        return 1;
    }
    char why[160];
    snprintf(why, sizeof why, "\"%s\" together with enum/const is not supported", kw);
    return kw_fail(x, e->ptr, kw, why);
}

/* ---- one conjunction without anyOf/oneOf ---- */

static int conj_types(jctx *x, const jconj *c, unsigned *types)
{
    unsigned t = T_ALL;
    for (size_t i = 0; i < c->n; i++) {
        const jel *e = &c->v[i];
        const cJSON *ty = el_kw(e, "type");
        if (ty) {
            unsigned m = 0;
            if (parse_type(x, e, ty, &m)) return -1;
            t &= m;
        }
        const cJSON *mo = el_kw(e, "multipleOf");
        if (mo) {
            if (!cJSON_IsNumber(mo) || !(mo->valuedouble > 0))
                return kw_fail(x, e->ptr, "multipleOf", "must be a number above 0");
            if (mo->valuedouble == 1) t &= ~(unsigned)T_FRAC;
        }
        /* not: exact only around a boolean schema or a bare type */
        const cJSON *no = el_kw(e, "not");
        if (no) {
            unsigned m = T_ALL;
            if (cJSON_IsBool(no)) {
                m = cJSON_IsTrue(no) ? T_ALL : 0;
            } else if (cJSON_IsObject(no)) {
                for (const cJSON *k = no->child; k; k = k->next) {
                    const jkw *w = kw_find(k->string);
                    if (!strcmp(k->string, "type")) {
                        const jel ne = {no, jptr(x, e->ptr, "not"), 0};
                        if (!ne.ptr) return joom(x);
                        if (parse_type(x, &ne, k, &m)) return -1;
                    } else if (!w || w->cls != K_ANNOT || !strcmp(k->string, "$id")) {
                        return kw_fail(x, e->ptr, "not",
                                       "not is only supported around a boolean schema or a "
                                       "schema holding just \"type\"");
                    }
                }
            } else {
                return kw_fail(x, e->ptr, "not", "must be a schema");
            }
            t &= ~m;
        }
    }
    *types = t;
    return 0;
}

static int comp_leaf(jctx *x, const jconj *c, const char *hint, swarm_buf *out, bool *never)
{
    unsigned t;
    if (conj_types(x, c, &t)) return -1;
    /* enum / const: the intersection of the listed values, compared by
     * their canonical text with object members sorted (JSON equality) */
    const cJSON **vals = NULL;
    size_t nv = 0;
    bool has_enum = false;
    jmap seen = {0};
    for (size_t i = 0; i < c->n; i++) {
        const jel *e = &c->v[i];
        const cJSON *en = el_kw(e, "enum"), *co = el_kw(e, "const");
        for (int which = 0; which < 2; which++) {
            const cJSON *src = which ? co : en;
            if (!src) continue;
            if (!which && !cJSON_IsArray(src)) {
                free(vals);
                jmap_free(&seen);
                return kw_fail(x, e->ptr, "enum", "must be an array");
            }
            size_t cnt = which ? 1 : (size_t)cJSON_GetArraySize(src);
            const cJSON *one = which ? src : src->child;
            jmap cur = {0};
            const cJSON **nvv = malloc((cnt + 1) * sizeof *nvv);
            size_t k = 0;
            bool oom = !nvv;
            for (size_t j = 0; j < cnt && !oom; j++, one = one->next) {
                if (!jv_finite(one)) {
                    free(nvv);
                    free(vals);
                    jmap_free(&cur);
                    jmap_free(&seen);
                    return kw_fail(x, e->ptr, which ? "const" : "enum", "number out of range");
                }
                char *key = jv_key(one);
                if (!key) {
                    oom = true;
                    break;
                }
                if (!jmap_get(&cur, key) && (!has_enum || jmap_get(&seen, key))) {
                    if (jmap_put(&cur, key, 1))
                        oom = true;
                    else
                        nvv[k++] = one;
                }
                free(key);
            }
            if (oom) {
                free(nvv);
                free(vals);
                jmap_free(&cur);
                jmap_free(&seen);
                return joom(x);
            }
            free(vals);
            vals = nvv;
            nv = k;
            jmap_free(&seen);
            seen = cur;
            has_enum = true;
        }
    }
    jmap_free(&seen);
    if (has_enum) {
        jalt al = {0};
        int rc = 0;
        for (size_t j = 0; j < nv && !rc; j++) {
            const cJSON *v = vals[j];
            if (!(jv_type(v) & t)) continue;
            int keep = 1;
            for (size_t i = 0; i < c->n && keep == 1; i++)
                for (const cJSON *k = c->v[i].s->child; k && keep == 1; k = k->next)
                    keep = enum_check(x, &c->v[i], k, v);
            if (keep < 0) {
                rc = -1;
                break;
            }
            if (!keep) continue;
            swarm_buf lit = {0}, g = {0};
            jv_canon(&lit, v);
            if (lit.oom || gb_lit(&g, lit.s, lit.n))
                rc = lit.oom ? joom(x)
                             : jfail(x, "%s: enum/const string is not valid UTF-8",
                                     *c->v[0].ptr ? c->v[0].ptr : "(root)");
            alt_add(&al, swarm_buf_str(&g));
            free(lit.s);
            free(g.s);
        }
        free(vals);
        if (rc) {
            free(al.b.s);
            return -1;
        }
        if (!alt_emit(&al, out)) *never = true;
        return 0;
    }
    /* nothing constrains the value: any JSON */
    bool constrained = t != T_ALL;
    for (size_t i = 0; i < c->n && !constrained; i++)
        for (const cJSON *k = c->v[i].s->child; k && !constrained; k = k->next) {
            const jkw *w = kw_find(k->string);
            if (w && w->cls == K_SUPP && strcmp(k->string, "type") && strcmp(k->string, "allOf") &&
                strcmp(k->string, "$ref") && strcmp(k->string, "anyOf") &&
                strcmp(k->string, "oneOf"))
                constrained = true;
        }
    if (!constrained) {
        jhelper(x, H_VALUE);
        swarm_buf_put(out, "json-value");
        return 0;
    }
    jalt al = {0};
    if (t & T_NULL) alt_add(&al, "\"null\"");
    if (t & T_BOOL) alt_add(&al, "\"true\" | \"false\"");
    if (t & T_NUM) {
        jbounds b;
        if (bounds_collect(x, c, &b)) goto fail;
        for (size_t i = 0; i < c->n; i++) {
            const cJSON *mo = el_kw(&c->v[i], "multipleOf");
            if (mo && mo->valuedouble != 1) {
                kw_fail(x, c->v[i].ptr, "multipleOf", "multipleOf other than 1 is not supported");
                goto fail;
            }
        }
        if ((b.has_lo || b.has_hi) && !(t & T_INT)) {
            kw_fail(x, b.kw_el->ptr, b.kw, "bounds on non-integral numbers only are not supported");
            goto fail;
        }
        if ((b.has_lo || b.has_hi) && (t & T_FRAC)) {
            jdbounds db;
            if (dbounds_collect(x, c, &db)) goto fail;
            swarm_buf e = {0};
            if (num_range(x, &e, &db)) alt_add(&al, swarm_buf_str(&e));
            free(e.s);
            if (x->failed) goto fail;
        } else if (b.has_lo || b.has_hi) {
            swarm_buf e = {0};
            if (int_range(&e, &b)) alt_add(&al, swarm_buf_str(&e));
            free(e.s);
        } else if ((t & T_FRAC) && !(t & T_INT)) {
            /* non-integral numbers only (not: integer): a fraction with a
             * non-zero digit, no exponent */
            alt_add(&al, "\"-\"? ( \"0\" | [1-9] [0-9]* ) \".\" [0-9]* [1-9] [0-9]*");
        } else if (t & T_FRAC) {
            jhelper(x, H_NUMBER);
            alt_add(&al, "json-number");
        } else {
            jhelper(x, H_INTEGER);
            alt_add(&al, "json-integer");
        }
    }
    if (t & T_STR) {
        swarm_buf e = {0};
        bool nv2 = false;
        if (comp_string(x, c, &e, &nv2)) {
            free(e.s);
            goto fail;
        }
        if (!nv2) alt_add(&al, swarm_buf_str(&e));
        free(e.s);
    }
    if (t & T_ARR) {
        swarm_buf e = {0};
        bool nv2 = false;
        if (comp_array(x, c, &e, &nv2)) {
            free(e.s);
            goto fail;
        }
        if (!nv2) alt_add(&al, swarm_buf_str(&e));
        free(e.s);
    }
    if (t & T_OBJ) {
        swarm_buf e = {0};
        bool nv2 = false;
        if (comp_object(x, c, hint, &e, &nv2)) {
            free(e.s);
            goto fail;
        }
        if (!nv2) alt_add(&al, swarm_buf_str(&e));
        free(e.s);
    }
    if (!al.n) *never = true;
    /* a top-level alternation: no grouping needed in a rule body */
    swarm_buf_put(out, swarm_buf_str(&al.b));
    free(al.b.s);
    return 0;
fail:
    free(al.b.s);
    return -1;
}

/* ---- oneOf disjointness ---- */

typedef struct {
    unsigned types;
    bool fin;
    const cJSON **vals;
    size_t nv;
} jsum;

/* Types and finite value set of a flattened conjunction (combinators below
 * it are ignored: the summary over-approximates, which keeps the proof of
 * disjointness sound). */
static int conj_summary(jctx *x, const jconj *c, jsum *s)
{
    *s = (jsum){0};
    if (conj_types(x, c, &s->types)) return -1;
    for (size_t i = 0; i < c->n; i++) {
        const cJSON *en = el_kw(&c->v[i], "enum"), *co = el_kw(&c->v[i], "const");
        if (!en && !co) continue;
        const cJSON *arr[1] = {co};
        const cJSON *list = en && cJSON_IsArray(en) ? en->child : NULL;
        size_t cnt = co ? 1 : (size_t)cJSON_GetArraySize(en);
        if (en && !cJSON_IsArray(en)) continue;
        const cJSON **nvv = malloc((cnt + 1) * sizeof *nvv);
        if (!nvv) return joom(x);
        size_t k = 0;
        for (size_t j = 0; j < cnt; j++) {
            const cJSON *v = co ? arr[0] : list;
            if (!co) list = list->next;
            if (!(jv_type(v) & s->types)) continue;
            if (s->fin && !enum_in(v, s->vals, s->nv)) continue;
            nvv[k++] = v;
        }
        free(s->vals);
        s->vals = nvv;
        s->nv = k;
        s->fin = true;
    }
    return 0;
}

/* Finite value set of property `name` in c (direct const/enum), if any. */
static bool prop_finite(const jconj *c, const char *name, const cJSON **one_of, size_t cap,
                        size_t *n)
{
    bool fin = false;
    *n = 0;
    for (size_t i = 0; i < c->n; i++) {
        const cJSON *p = el_kw(&c->v[i], "properties");
        const cJSON *s = p ? cJSON_GetObjectItemCaseSensitive(p, name) : NULL;
        if (!s || !cJSON_IsObject(s)) continue;
        const cJSON *co = cJSON_GetObjectItemCaseSensitive(s, "const");
        const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum");
        const cJSON *tmp[64];
        size_t k = 0;
        if (co)
            tmp[k++] = co;
        else if (en && cJSON_IsArray(en) && cJSON_GetArraySize(en) <= 64)
            for (const cJSON *v = en->child; v; v = v->next)
                tmp[k++] = v;
        else
            continue;
        if (!fin) {
            *n = 0;
            for (size_t j = 0; j < k && *n < cap; j++)
                one_of[(*n)++] = tmp[j];
            fin = true;
        } else {
            size_t m = 0;
            for (size_t j = 0; j < *n; j++)
                if (enum_in(one_of[j], tmp, k)) one_of[m++] = one_of[j];
            *n = m;
        }
    }
    return fin;
}

static bool conj_required(const jconj *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++) {
        const cJSON *r = el_kw(&c->v[i], "required");
        for (const cJSON *k = cJSON_IsArray(r) ? r->child : NULL; k; k = k->next)
            if (cJSON_IsString(k) && !strcmp(k->valuestring, name)) return true;
    }
    return false;
}

static bool sum_disjoint(const jsum *a, const jsum *b)
{
    if (!(a->types & b->types)) return true;
    for (int side = 0; side < 2; side++) {
        const jsum *p = side ? b : a, *q = side ? a : b;
        if (!p->fin) continue;
        bool all_out = true;
        for (size_t i = 0; i < p->nv && all_out; i++)
            if ((jv_type(p->vals[i]) & q->types) &&
                (!q->fin || enum_in(p->vals[i], q->vals, q->nv)))
                all_out = false;
        if (all_out) return true;
    }
    return false;
}

/* Is there a property required by both with disjoint const/enum values
 * (and can only objects satisfy both)? */
/* Does some member of c rule out property `name` (name: false, or
 * additionalProperties: false without listing it)? */
static bool conj_forbids(const jconj *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++) {
        const cJSON *p = el_kw(&c->v[i], "properties");
        const cJSON *s = cJSON_IsObject(p) ? cJSON_GetObjectItemCaseSensitive(p, name) : NULL;
        if (s ? cJSON_IsFalse(s) : cJSON_IsFalse(el_kw(&c->v[i], "additionalProperties")))
            return true;
    }
    return false;
}

static bool discriminated(const jconj *a, const jsum *sa, const jconj *b, const jsum *sb)
{
    if ((sa->types & sb->types) & ~(unsigned)T_OBJ) return false;
    for (int side = 0; side < 2; side++) {
        const jconj *p = side ? b : a, *q = side ? a : b;
        /* a property one requires and the other forbids */
        for (size_t i = 0; i < p->n; i++) {
            const cJSON *r = el_kw(&p->v[i], "required");
            for (const cJSON *k = cJSON_IsArray(r) ? r->child : NULL; k; k = k->next)
                if (cJSON_IsString(k) && conj_forbids(q, k->valuestring)) return true;
        }
    }
    for (size_t i = 0; i < a->n; i++) {
        const cJSON *r = el_kw(&a->v[i], "required");
        for (const cJSON *k = cJSON_IsArray(r) ? r->child : NULL; k; k = k->next) {
            if (!cJSON_IsString(k) || !conj_required(b, k->valuestring)) continue;
            const cJSON *va[64], *vb[64];
            size_t na, nb;
            if (!prop_finite(a, k->valuestring, va, 64, &na) ||
                !prop_finite(b, k->valuestring, vb, 64, &nb))
                continue;
            bool overlap = false;
            for (size_t j = 0; j < na && !overlap; j++)
                overlap = enum_in(va[j], vb, nb);
            if (!overlap) return true;
        }
    }
    return false;
}

/* ---- the conjunction compiler ---- */

static int conj_rule_inner(jctx *x, jconj *c, const char *key, const char **name)
{
    *name = NULL;
    /* a member whose only assertion is $ref: follow the chain */
    if (c->n == 1 && is_pure_ref(&c->v[0])) {
        jel t = c->v[0];
        for (int hops = 0; is_pure_ref(&t); hops++) {
            if (el_check(x, &t)) return -1;
            if (hops > 64)
                return jfail(x, "%s/$ref: a chain of $ref that never reaches a schema",
                             c->v[0].ptr);
            jel u;
            if (ref_resolve(x, &t, &u)) return -1;
            t = u;
        }
        jconj sub = {0};
        if (conj_push(&sub, t)) return joom(x);
        int rc = conj_rule(x, &sub, name);
        free(sub.v);
        if (rc) return rc;
        /* this conjunction is an alias of its target's rule */
        int *idx = *name ? jmap_get(&x->names, *name) : NULL;
        int v = !*name ? MEMO_NEVER : (idx && *idx >= 0) ? *idx : MEMO_ANY;
        return jmap_put(&x->memo, key, v) ? joom(x) : 0;
    }
    int fl = conj_flatten(x, c);
    if (fl < 0) return -1;
    if (fl == 1 || c->n == 0) {
        if (fl == 1) {
            *name = NULL;
        } else {
            jhelper(x, H_VALUE);
            *name = "json-value";
        }
        return 0;
    }
    const char *hint = c->v[0].ptr;
    int r = rule_new(x, hint, NULL);
    if (r < 0) return -1;
    if (jmap_put(&x->memo, key, r)) return joom(x);
    /* first member with an anyOf/oneOf left: one branch each */
    size_t gi = c->n;
    const char *gkw = NULL;
    for (size_t i = 0; i < c->n && !gkw; i++) {
        if (el_kw(&c->v[i], "anyOf") && !(c->v[i].done & D_ANYOF))
            gi = i, gkw = "anyOf";
        else if (el_kw(&c->v[i], "oneOf") && !(c->v[i].done & D_ONEOF))
            gi = i, gkw = "oneOf";
    }
    swarm_buf body = {0};
    bool never = false;
    int rc = 0;
    if (gkw) {
        const jel *g = &c->v[gi];
        const cJSON *arr = el_kw(g, gkw);
        if (!cJSON_IsArray(arr) || !arr->child)
            return kw_fail(x, g->ptr, gkw, "must be a non-empty array of schemas");
        bool one = gkw[0] == 'o';
        size_t nb = (size_t)cJSON_GetArraySize(arr);
        jconj *br = calloc(nb, sizeof *br);
        jsum *sums = calloc(nb, sizeof *sums);
        const char **names = calloc(nb, sizeof *names);
        bool *live = calloc(nb, sizeof *live);
        if (!br || !sums || !names || !live) {
            free(br);
            free(sums);
            free(names);
            free(live);
            return joom(x);
        }
        jalt al = {0};
        size_t k = 0;
        const char *gptr = g->ptr;
        for (const cJSON *s = arr->child; s && !rc; s = s->next, k++) {
            if (conj_copy(c, &br[k])) {
                rc = joom(x);
                break;
            }
            br[k].v[gi].done |= one ? D_ONEOF : D_ANYOF;
            const char *p = jptr_idx(x, gptr, gkw, (int)k);
            if (!p || conj_push(&br[k], (jel){s, p, 0})) {
                rc = joom(x);
                break;
            }
            if (conj_rule(x, &br[k], &names[k])) {
                rc = -1;
                break;
            }
            live[k] = names[k] != NULL;
        }
        if (!rc && one) {
            /* exactly one branch: refuse unless the live ones are disjoint */
            for (size_t i = 0; i < nb && !rc; i++) {
                if (!live[i]) continue;
                jconj f;
                if (conj_copy(&br[i], &f)) {
                    rc = joom(x);
                    break;
                }
                int q = conj_flatten(x, &f);
                if (q < 0 || conj_summary(x, &f, &sums[i])) rc = -1;
                free(br[i].v);
                br[i] = f;
            }
            for (size_t i = 0; i < nb && !rc; i++)
                for (size_t j = i + 1; j < nb && !rc; j++) {
                    if (!live[i] || !live[j]) continue;
                    if (sum_disjoint(&sums[i], &sums[j]) ||
                        discriminated(&br[i], &sums[i], &br[j], &sums[j]))
                        continue;
                    char why[320];
                    snprintf(why, sizeof why,
                             "branches %zu and %zu may both match; oneOf is only supported when "
                             "its branches differ by type, const/enum, a required const "
                             "discriminator, or a property one requires and the other forbids",
                             i, j);
                    rc = kw_fail(x, gptr, "oneOf", why);
                }
        }
        for (size_t i = 0; i < nb && !rc; i++)
            if (live[i]) alt_add(&al, names[i]);
        for (size_t i = 0; i < nb; i++) {
            free(br[i].v);
            free(sums[i].vals);
        }
        free(br);
        free(sums);
        free(names);
        free(live);
        if (rc) {
            free(al.b.s);
            return -1;
        }
        never = !al.n;
        swarm_buf_put(&body, swarm_buf_str(&al.b));
        free(al.b.s);
    } else {
        rc = comp_leaf(x, c, hint, &body, &never);
        if (rc) {
            free(body.s);
            return -1;
        }
    }
    if (never) {
        free(body.s);
        if (x->rules[r].referenced_early)
            return jfail(x, "%s: schema matches nothing but is reached through a recursive $ref",
                         *hint ? hint : "(root)");
        /* keep the name reserved; the rule is not emitted */
        if (jmap_put(&x->memo, key, MEMO_NEVER)) return joom(x);
        *name = NULL;
        return 0;
    }
    rc = rule_set(x, r, &body);
    free(body.s);
    if (rc) return -1;
    *name = x->rules[r].name;
    return 0;
}

static int conj_rule(jctx *x, const jconj *cin, const char **name)
{
    *name = NULL;
    if (x->failed) return -1;
    if (cin->n == 0) {
        jhelper(x, H_VALUE);
        *name = "json-value";
        return 0;
    }
    char *key = conj_key(cin);
    if (!key) return joom(x);
    int *m = jmap_get(&x->memo, key);
    if (m) {
        free(key);
        if (*m == MEMO_NEVER) return 0;
        if (*m == MEMO_ANY) {
            *name = "json-value";
            return 0;
        }
        if (*m >= 0) {
            if (!x->rules[*m].body) x->rules[*m].referenced_early = true;
            *name = x->rules[*m].name;
            return 0;
        }
        return jfail(x, "json schema: internal memo state");
    }
    if (++x->depth > JSC_MAX_DEPTH) {
        free(key);
        return jfail(x, "json schema: nested deeper than %d levels (at %.200s...)", JSC_MAX_DEPTH,
                     cin->v[0].ptr);
    }
    jconj c;
    if (conj_copy(cin, &c)) {
        free(key);
        return joom(x);
    }
    int rc = conj_rule_inner(x, &c, key, name);
    free(c.v);
    free(key);
    x->depth--;
    return rc;
}

/* ---- helpers and entry point ---- */

static const char *const helper_body[H_COUNT] = {
    /* ws */ "( \" \" | \"\\n\" [ \\t]{0,20} )?",
    /* json-value */
    "json-object | json-array | json-string | json-number | \"true\" | \"false\" | \"null\"",
    /* json-object */
    "\"{\" ws ( json-string ws \":\" ws json-value ws ( \",\" ws json-string ws \":\" ws "
    "json-value ws )* )? \"}\"",
    /* json-array */ "\"[\" ws ( json-value ws ( \",\" ws json-value ws )* )? \"]\"",
    /* json-string */ "\"\\\"\" json-char* \"\\\"\"",
    /* json-char: no lone surrogates, raw or escaped */
    "[^\"\\\\\\x00-\\x1F\\uD800-\\uDFFF] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" ( [0-9a-cA-CefEF] "
    "json-hex{3} | [dD] [0-7] json-hex{2} | [dD] [89abAB] json-hex{2} \"\\\\u\" [dD] [c-fC-F] "
    "json-hex{2} ) )",
    /* json-hex */ "[0-9a-fA-F]",
    /* json-number */
    "\"-\"? ( \"0\" | [1-9] [0-9]* ) ( \".\" [0-9]+ )? ( [eE] [-+]? [0-9]+ )?",
    /* json-integer */ "\"-\"? ( \"0\" | [1-9] [0-9]* )",
    /* json-kchar: any character, canonically escaped */
    "[^\"\\\\\\x00-\\x1F\\uD800-\\uDFFF] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u00\" [01] "
    "[0-9a-fA-F] )",
};

static void jctx_free(jctx *x)
{
    for (size_t i = 0; i < x->n_rules; i++) {
        free(x->rules[i].name);
        free(x->rules[i].body);
    }
    free(x->rules);
    jmap_free(&x->names);
    jmap_free(&x->bases);
    jmap_free(&x->memo);
    for (size_t i = 0; i < x->n_strs; i++)
        free(x->strs[i]);
    free(x->strs);
    for (size_t i = 0; i < x->n_synth; i++)
        cJSON_Delete(x->synth[i]);
    free(x->synth);
    jmap_free(&x->synth_at);
}

/* Refuse strings holding U+0000: the JSON library ends strings there. */
static bool has_nul_escape(const char *s, size_t len)
{
    for (size_t i = 0; i + 5 < len; i++) {
        if (s[i] != '\\') continue;
        if (s[i + 1] == '\\') {
            i++;
            continue;
        }
        if (s[i + 1] == 'u' && s[i + 2] == '0' && s[i + 3] == '0' && s[i + 4] == '0' &&
            s[i + 5] == '0')
            return true;
    }
    return false;
}

int rt_json_schema_to_gbnf(const char *schema, size_t len, char **gbnf, char *err, size_t errlen)
{
    if (gbnf) *gbnf = NULL;
    if (!schema || !gbnf) {
        snprintf(err, errlen, "json schema: no schema given");
        return -1;
    }
    if (len > JSC_MAX_SCHEMA) {
        snprintf(err, errlen, "json schema: %zu bytes is above the %u-byte limit", len,
                 JSC_MAX_SCHEMA);
        return -1;
    }
    if (memchr(schema, 0, len)) {
        snprintf(err, errlen, "json schema: NUL byte in the schema text");
        return -1;
    }
    if (has_nul_escape(schema, len)) {
        snprintf(err, errlen, "json schema: strings containing \\u0000 are not supported");
        return -1;
    }
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(schema, len, &end, 0);
    size_t off = end ? (size_t)(end - schema) : 0;
    if (doc) {
        while (off < len && (schema[off] == ' ' || schema[off] == '\t' || schema[off] == '\n' ||
                             schema[off] == '\r'))
            off++;
    }
    if (!doc || off < len) {
        int line = 1, col = 1;
        for (size_t i = 0; i < off && i < len; i++) {
            if (schema[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        snprintf(err, errlen, "json schema: %s at byte %zu (line %d, column %d)",
                 doc ? "unexpected text after the JSON value" : "malformed JSON", off, line, col);
        cJSON_Delete(doc);
        return -1;
    }
    jctx x = {0};
    x.doc = doc;
    x.err = err;
    x.errlen = errlen;
    int rc = 0;
    for (int h = 0; h < H_COUNT && !rc; h++)
        if (jmap_put(&x.names, helper_name[h], -1)) rc = joom(&x);
    if (!rc && jmap_put(&x.names, "root", -1)) rc = joom(&x);
    const char *top = NULL;
    if (!rc) {
        jconj c = {0};
        if (conj_push(&c, (jel){doc, "", 0})) rc = joom(&x);
        if (!rc) rc = conj_rule(&x, &c, &top);
        free(c.v);
    }
    if (!rc && !top) rc = jfail(&x, "json schema: the schema matches no value at all");
    swarm_buf out = {0};
    if (!rc) {
        jhelper(&x, H_WS);
        swarm_buf_printf(&out, "root ::= %s ws\n", top);
        for (size_t i = 0; i < x.n_rules; i++)
            if (x.rules[i].body)
                swarm_buf_printf(&out, "%s ::= %s\n", x.rules[i].name, x.rules[i].body);
        for (int h = 0; h < H_COUNT; h++)
            if (x.helper[h]) {
                swarm_buf_put(&out, helper_name[h]);
                swarm_buf_put(&out, " ::= ");
                swarm_buf_put(&out, helper_body[h]);
                swarm_buf_put(&out, "\n");
            }
        if (out.oom)
            rc = joom(&x);
        else if (out.n > JSC_MAX_OUT)
            rc = jfail(&x, "json schema: the grammar would exceed %u bytes", JSC_MAX_OUT);
    }
    jctx_free(&x);
    cJSON_Delete(doc);
    if (rc) {
        free(out.s);
        return -1;
    }
    *gbnf = out.s;
    return 0;
}
