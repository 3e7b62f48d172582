/* gbnf.c - GBNF (llama.cpp's grammar syntax) to a compiled rt_grammar.
 *
 * Recursive-descent parser over the text: rules `name ::= alternatives`,
 * literals, character classes (ranges, negation), `.`, groups, the postfix
 * operators * + ? {m} {m,} {m,n}, comments, and newlines inside groups or
 * after `|`. Groups and repetitions are lowered to generated rules so the
 * matcher only ever sees code-point sets and rule references. Checks done
 * here so the matcher can trust the grammar: every referenced rule is
 * defined, no rule is left-recursive (directly, indirectly or through a
 * nullable prefix), and sizes/nesting are bounded so hostile input cannot
 * exhaust the stack or memory. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar.h"

#define GBNF_MAX_TEXT (4u << 20) /* bytes of grammar text */
#define GBNF_MAX_DEPTH 200       /* nested groups */
#define GBNF_MAX_REPEAT 10000    /* bound of {m,n} */
#define GBNF_MAX_ELEMS (4 << 20) /* elements after lowering repetitions */
#define GBNF_MAX_NAME 256
#define GBNF_MAX_CHAIN 1000 /* rules entered without consuming input, nested */

/* ---- builder: rules as lists of alternatives of element lists ---- */

typedef struct {
    gelem *v;
    int32_t n, cap;
} elist;

typedef struct {
    elist *alts;
    int32_t n, cap;
    char *name;
    bool defined, generated;
    const char *ref; /* first reference, for "undefined rule" (line:col computed then) */
} brule;

typedef struct {
    uint32_t *v; /* pairs */
    int32_t n, cap;
} rlist;

typedef struct {
    const char *src, *p, *end;
    brule *rules;
    int32_t n_rules, cap_rules;
    gcharset *cs;
    int32_t n_cs, cap_cs;
    rlist ranges;
    int64_t n_elems;
    int32_t *names; /* open addressing over user rule ids, -1 empty */
    uint32_t names_cap, n_names;
    int depth;
    char *err;
    size_t errlen;
    bool failed;
} parser;

static void where(const parser *P, const char *at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (const char *q = P->src; q < at && q < P->end; q++) {
        if (*q == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)*q & 0xC0) != 0x80) {
            (*col)++;
        }
    }
}

/* Records the first error with its line:column; later ones are ignored. */
static int fail_at(parser *P, const char *at, const char *fmt, const char *arg)
{
    if (P->failed) return -1;
    P->failed = true;
    int line, col;
    where(P, at, &line, &col);
    char msg[400];
    snprintf(msg, sizeof msg, fmt, arg ? arg : "");
    snprintf(P->err, P->errlen, "grammar %d:%d: %s", line, col, msg);
    return -1;
}

static int oom(parser *P)
{
    if (!P->failed) snprintf(P->err, P->errlen, "grammar: out of memory");
    P->failed = true;
    return -1;
}

static int grow(void **v, int32_t *cap, int32_t need, size_t esz)
{
    if (need <= *cap) return 0;
    int32_t nc = *cap ? *cap : 8;
    while (nc < need) {
        if (nc > INT32_MAX / 2) return -1;
        nc *= 2;
    }
    void *t = realloc(*v, (size_t)nc * esz);
    if (!t) return -1;
    *v = t;
    *cap = nc;
    return 0;
}

static int elist_add(parser *P, elist *l, uint8_t kind, int32_t arg)
{
    if (++P->n_elems > GBNF_MAX_ELEMS)
        return fail_at(P, P->p, "grammar too large (more than %s elements)", "4M");
    if (grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v)) return oom(P);
    l->v[l->n++] = (gelem){kind, arg};
    return 0;
}

static uint32_t name_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static int32_t rule_find(const parser *P, const char *name, size_t nlen)
{
    if (!P->names_cap) return -1;
    for (uint32_t h = name_hash(name, nlen) & (P->names_cap - 1);;
         h = (h + 1) & (P->names_cap - 1)) {
        int32_t r = P->names[h];
        if (r < 0) return -1;
        if (strlen(P->rules[r].name) == nlen && memcmp(P->rules[r].name, name, nlen) == 0) return r;
    }
}

/* Indexes user rule r by name (generated rules are never looked up). */
static int name_index(parser *P, int32_t r)
{
    if ((P->n_names + 1) * 2 > P->names_cap) {
        uint32_t nc = P->names_cap ? P->names_cap * 2 : 256;
        int32_t *t = malloc(sizeof *t * nc);
        if (!t) return -1;
        memset(t, 0xff, sizeof *t * nc);
        for (uint32_t i = 0; i < P->names_cap; i++) {
            int32_t q = P->names[i];
            if (q < 0) continue;
            uint32_t h = name_hash(P->rules[q].name, strlen(P->rules[q].name)) & (nc - 1);
            while (t[h] >= 0)
                h = (h + 1) & (nc - 1);
            t[h] = q;
        }
        free(P->names);
        P->names = t;
        P->names_cap = nc;
    }
    uint32_t h = name_hash(P->rules[r].name, strlen(P->rules[r].name)) & (P->names_cap - 1);
    while (P->names[h] >= 0)
        h = (h + 1) & (P->names_cap - 1);
    P->names[h] = r;
    P->n_names++;
    return 0;
}

static int32_t rule_new(parser *P, const char *name, size_t nlen, bool generated)
{
    if (grow((void **)&P->rules, &P->cap_rules, P->n_rules + 1, sizeof *P->rules)) return oom(P);
    brule *r = &P->rules[P->n_rules];
    memset(r, 0, sizeof *r);
    r->name = malloc(nlen + 1);
    if (!r->name) return oom(P);
    memcpy(r->name, name, nlen);
    r->name[nlen] = 0;
    r->generated = generated;
    if (!generated && name_index(P, P->n_rules)) return oom(P);
    return P->n_rules++;
}

/* A generated rule, named after the rule being defined (for messages). */
static int32_t rule_gen(parser *P, int32_t parent)
{
    char nm[GBNF_MAX_NAME + 32];
    snprintf(nm, sizeof nm, "%s#%d", P->rules[parent].name, P->n_rules);
    int32_t r = rule_new(P, nm, strlen(nm), true);
    if (r >= 0) P->rules[r].defined = true;
    return r;
}

static elist *rule_alt_new(parser *P, int32_t r)
{
    brule *R = &P->rules[r];
    if (grow((void **)&R->alts, &R->cap, R->n + 1, sizeof *R->alts)) {
        oom(P);
        return NULL;
    }
    memset(&R->alts[R->n], 0, sizeof R->alts[R->n]);
    return &R->alts[R->n++];
}

/* ---- lexing ---- */

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* Skips blanks and comments; newlines only when newline_ok. */
static void skip_space(parser *P, bool newline_ok)
{
    while (P->p < P->end) {
        char c = *P->p;
        if (c == ' ' || c == '\t' || (newline_ok && (c == '\n' || c == '\r'))) {
            P->p++;
        } else if (c == '#') {
            while (P->p < P->end && *P->p != '\n')
                P->p++;
        } else {
            break;
        }
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One UTF-8 code point of the grammar text. */
static int decode_utf8(parser *P, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)P->p;
    size_t left = (size_t)(P->end - P->p);
    unsigned char c = s[0];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || (size_t)n > left) return fail_at(P, P->p, "invalid UTF-8 in the grammar%s", "");
    uint32_t v = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return fail_at(P, P->p, "invalid UTF-8 in the grammar%s", "");
        v = v << 6 | (s[i] & 0x3F);
    }
    P->p += n;
    *cp = v;
    return 0;
}

/* A character inside "..." or [...], escapes included. */
static int parse_char(parser *P, uint32_t *cp)
{
    if (P->p >= P->end) return fail_at(P, P->p, "unexpected end of grammar%s", "");
    if (*P->p != '\\') return decode_utf8(P, cp);
    const char *at = P->p;
    if (P->p + 1 >= P->end) return fail_at(P, at, "unterminated escape%s", "");
    char e = P->p[1];
    P->p += 2;
    int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
    if (digits) {
        uint32_t v = 0;
        for (int i = 0; i < digits; i++) {
            int h = P->p < P->end ? hexval(*P->p) : -1;
            if (h < 0) return fail_at(P, at, "bad escape: \\%c needs hex digits", (char[]){e, 0});
            v = v << 4 | (uint32_t)h;
            P->p++;
        }
        if (v > 0x10FFFF) return fail_at(P, at, "escape beyond U+10FFFF%s", "");
        *cp = v;
        return 0;
    }
    switch (e) {
    case 't':
        *cp = '\t';
        return 0;
    case 'n':
        *cp = '\n';
        return 0;
    case 'r':
        *cp = '\r';
        return 0;
    case '\\':
    case '"':
    case '\'':
    case '[':
    case ']':
    case '-':
    case '^':
    case '/':
        *cp = (uint32_t)e;
        return 0;
    default:
        break;
    }
    char b[8];
    snprintf(b, sizeof b, "\\%c", e);
    return fail_at(P, at, "bad escape '%s'", b);
}

static int range_cmp(const void *a, const void *b)
{
    const uint32_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Adds a charset from the pairs in tmp (sorted and merged here). */
static int32_t cs_add(parser *P, uint32_t *tmp, int32_t n, bool neg)
{
    if (n > 1) qsort(tmp, (size_t)n, 2 * sizeof *tmp, range_cmp);
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        if (m > 0 && tmp[2 * i] <= tmp[2 * (m - 1) + 1] + 1) {
            if (tmp[2 * i + 1] > tmp[2 * (m - 1) + 1]) tmp[2 * (m - 1) + 1] = tmp[2 * i + 1];
        } else {
            tmp[2 * m] = tmp[2 * i];
            tmp[2 * m + 1] = tmp[2 * i + 1];
            m++;
        }
    }
    if (grow((void **)&P->cs, &P->cap_cs, P->n_cs + 1, sizeof *P->cs) ||
        grow((void **)&P->ranges.v, &P->ranges.cap, 2 * (P->ranges.n + m), sizeof(uint32_t)))
        return oom(P);
    gcharset *c = &P->cs[P->n_cs];
    memset(c, 0, sizeof *c);
    c->r0 = P->ranges.n;
    c->nr = m;
    c->neg = neg;
    if (m > 0) memcpy(P->ranges.v + 2 * P->ranges.n, tmp, sizeof(uint32_t) * 2 * (size_t)m);
    P->ranges.n += m;
    for (uint32_t ch = 0; ch < 128; ch++) {
        bool in = false;
        for (int32_t i = 0; i < m && !in; i++)
            in = ch >= tmp[2 * i] && ch <= tmp[2 * i + 1];
        if (in != neg) c->ascii[ch >> 6] |= 1ull << (ch & 63);
    }
    return P->n_cs++;
}

static int32_t cs_single(parser *P, uint32_t cp)
{
    uint32_t t[2] = {cp, cp};
    return cs_add(P, t, 1, false);
}

static int parse_alternates(parser *P, int32_t rule);

/* Wraps element e (one gelem) into repetition rules for {min, max} (max < 0 = unbounded). */
static int apply_repeat(parser *P, int32_t rule, elist *seq, gelem e, long min, long max)
{
    for (long i = 0; i < min; i++)
        if (elist_add(P, seq, e.kind, e.arg)) return -1;
    if (max < 0) {
        /* S ::= e S | (empty): right recursion, which the matcher runs as a loop */
        int32_t s = rule_gen(P, rule);
        if (s < 0) return -1;
        elist *a = rule_alt_new(P, s);
        if (!a || elist_add(P, a, e.kind, e.arg) || elist_add(P, a, GE_RULE, s)) return -1;
        if (!rule_alt_new(P, s)) return -1;
        return elist_add(P, seq, GE_RULE, s);
    }
    /* up to (max - min) more: O_k ::= e O_{k-1} | (empty), nested, so no
     * ambiguity between "which optional copy matched" */
    int32_t prev = -1;
    for (long k = 0; k < max - min; k++) {
        int32_t o = rule_gen(P, rule);
        if (o < 0) return -1;
        elist *a = rule_alt_new(P, o);
        if (!a || elist_add(P, a, e.kind, e.arg)) return -1;
        if (prev >= 0 && elist_add(P, &P->rules[o].alts[0], GE_RULE, prev)) return -1;
        if (!rule_alt_new(P, o)) return -1;
        prev = o;
    }
    if (prev >= 0) return elist_add(P, seq, GE_RULE, prev);
    return 0;
}

static int parse_count(parser *P, long *v)
{
    const char *s = P->p;
    long x = 0;
    while (P->p < P->end && *P->p >= '0' && *P->p <= '9') {
        x = x * 10 + (*P->p - '0');
        if (x > GBNF_MAX_REPEAT) return fail_at(P, s, "repetition count above %s", "10000");
        P->p++;
    }
    if (P->p == s) return fail_at(P, s, "expected a number in {m,n}%s", "");
    *v = x;
    return 0;
}

/* One sequence (the items of one alternative) into seq. */
static int parse_sequence(parser *P, int32_t rule, elist *seq, bool nested)
{
    while (P->p < P->end && !P->failed) {
        const char *at = P->p;
        char c = *P->p;
        gelem e;
        int32_t lit_start = seq->n; /* a literal's last char is what a postfix applies to */
        bool is_lit = false;
        if (c == '"') {
            P->p++;
            while (P->p < P->end && *P->p != '"') {
                if (*P->p == '\n') return fail_at(P, at, "unterminated string literal%s", "");
                uint32_t cp;
                if (parse_char(P, &cp)) return -1;
                int32_t cs = cs_single(P, cp);
                if (cs < 0 || elist_add(P, seq, GE_CHARS, cs)) return -1;
            }
            if (P->p >= P->end) return fail_at(P, at, "unterminated string literal%s", "");
            P->p++;
            is_lit = true;
            if (seq->n == lit_start) { /* "" matches nothing: no element */
                skip_space(P, nested);
                continue;
            }
            e = seq->v[seq->n - 1];
        } else if (c == '[') {
            P->p++;
            bool neg = false;
            if (P->p < P->end && *P->p == '^') {
                neg = true;
                P->p++;
            }
            uint32_t *tmp = NULL;
            int32_t n = 0, cap = 0;
            while (P->p < P->end && *P->p != ']') {
                if (*P->p == '\n') {
                    free(tmp);
                    return fail_at(P, at, "unterminated character class%s", "");
                }
                uint32_t lo, hi;
                if (parse_char(P, &lo)) {
                    free(tmp);
                    return -1;
                }
                hi = lo;
                if (P->p + 1 < P->end && *P->p == '-' && P->p[1] != ']') {
                    P->p++;
                    if (parse_char(P, &hi)) {
                        free(tmp);
                        return -1;
                    }
                    if (hi < lo) {
                        free(tmp);
                        return fail_at(P, at, "character range out of order%s", "");
                    }
                }
                if (grow((void **)&tmp, &cap, 2 * (n + 1), sizeof *tmp)) {
                    free(tmp);
                    return oom(P);
                }
                tmp[2 * n] = lo;
                tmp[2 * n + 1] = hi;
                n++;
            }
            if (P->p >= P->end) {
                free(tmp);
                return fail_at(P, at, "unterminated character class%s", "");
            }
            P->p++;
            int32_t cs = cs_add(P, tmp, n, neg);
            free(tmp);
            if (cs < 0) return -1;
            e = (gelem){GE_CHARS, cs};
        } else if (c == '.') {
            P->p++;
            int32_t cs = cs_add(P, NULL, 0, true);
            if (cs < 0) return -1;
            e = (gelem){GE_CHARS, cs};
        } else if (c == '(') {
            P->p++;
            if (++P->depth > GBNF_MAX_DEPTH)
                return fail_at(P, at, "groups nested deeper than %s", "200");
            int32_t g = rule_gen(P, rule);
            if (g < 0) return -1;
            skip_space(P, true);
            if (parse_alternates(P, g)) return -1;
            if (P->p >= P->end || *P->p != ')') return fail_at(P, at, "unclosed '('%s", "");
            P->p++;
            P->depth--;
            e = (gelem){GE_RULE, g};
        } else if (is_name_char(c)) {
            const char *s = P->p;
            while (P->p < P->end && is_name_char(*P->p))
                P->p++;
            size_t nlen = (size_t)(P->p - s);
            if (nlen > GBNF_MAX_NAME) return fail_at(P, s, "rule name too long%s", "");
            int32_t r = rule_find(P, s, nlen);
            if (r < 0) {
                r = rule_new(P, s, nlen, false);
                if (r < 0) return -1;
                P->rules[r].ref = s;
            }
            e = (gelem){GE_RULE, r};
        } else if (c == '<' || c == '!') {
            return fail_at(P, at,
                           "token references (<...>, !<...>) are not supported; match the "
                           "token's text as a \"literal\" instead%s",
                           "");
        } else {
            break; /* end of this sequence: | ) newline or something the caller checks */
        }
        if (!is_lit) {
            if (elist_add(P, seq, e.kind, e.arg)) return -1;
        }
        skip_space(P, nested);
        /* postfix operators apply to the last element */
        if (P->p < P->end && (*P->p == '*' || *P->p == '+' || *P->p == '?' || *P->p == '{')) {
            long min = 0, max = -1;
            const char *op = P->p;
            if (*P->p == '*') {
                P->p++;
            } else if (*P->p == '+') {
                min = 1;
                P->p++;
            } else if (*P->p == '?') {
                max = 1;
                P->p++;
            } else {
                P->p++;
                skip_space(P, nested);
                if (parse_count(P, &min)) return -1;
                skip_space(P, nested);
                if (P->p < P->end && *P->p == ',') {
                    P->p++;
                    skip_space(P, nested);
                    if (P->p < P->end && *P->p != '}') {
                        if (parse_count(P, &max)) return -1;
                        if (max < min) return fail_at(P, op, "{m,n} with n < m%s", "");
                    }
                } else {
                    max = min;
                }
                skip_space(P, nested);
                if (P->p >= P->end || *P->p != '}') return fail_at(P, op, "expected '}'%s", "");
                P->p++;
            }
            if (is_lit && seq->n - lit_start > 1) {
                /* a postfix applies to the whole literal: move it into a rule */
                int32_t lr = rule_gen(P, rule);
                elist *la = lr >= 0 ? rule_alt_new(P, lr) : NULL;
                if (!la) return -1;
                for (int32_t i = lit_start; i < seq->n; i++)
                    if (elist_add(P, la, seq->v[i].kind, seq->v[i].arg)) return -1;
                P->n_elems -= seq->n - lit_start;
                seq->n = lit_start;
                e = (gelem){GE_RULE, lr};
            } else {
                seq->n--; /* the element is re-emitted by apply_repeat */
                P->n_elems--;
            }
            if (apply_repeat(P, rule, seq, e, min, max)) return -1;
            skip_space(P, nested);
            if (P->p < P->end && (*P->p == '*' || *P->p == '+' || *P->p == '?' || *P->p == '{'))
                return fail_at(P, P->p, "repetition of a repetition; group it with ( )%s", "");
        }
    }
    return P->failed ? -1 : 0;
}

static int parse_alternates(parser *P, int32_t rule)
{
    bool nested = P->rules[rule].generated;
    for (;;) {
        elist *seq = rule_alt_new(P, rule);
        if (!seq) return -1;
        /* seq may move while parsing (generated rules grow P->rules): use an index */
        int32_t ai = P->rules[rule].n - 1;
        elist tmp = {0};
        int rc = parse_sequence(P, rule, &tmp, nested);
        P->rules[rule].alts[ai] = tmp;
        if (rc) return -1;
        if (P->p < P->end && *P->p == '|') {
            P->p++;
            skip_space(P, true);
            continue;
        }
        return 0;
    }
}

static int parse_rules(parser *P)
{
    skip_space(P, true);
    while (P->p < P->end && !P->failed) {
        const char *s = P->p;
        while (P->p < P->end && is_name_char(*P->p))
            P->p++;
        size_t nlen = (size_t)(P->p - s);
        if (nlen == 0) return fail_at(P, s, "expected a rule name%s", "");
        if (nlen > GBNF_MAX_NAME) return fail_at(P, s, "rule name too long%s", "");
        skip_space(P, false);
        if (P->end - P->p < 3 || memcmp(P->p, "::=", 3) != 0)
            return fail_at(P, P->p, "expected '::=' after the rule name%s", "");
        P->p += 3;
        skip_space(P, true);
        int32_t r = rule_find(P, s, nlen);
        if (r >= 0 && P->rules[r].defined) {
            char nm[GBNF_MAX_NAME + 1];
            memcpy(nm, s, nlen);
            nm[nlen] = 0;
            return fail_at(P, s, "rule '%s' is defined twice", nm);
        }
        if (r < 0) r = rule_new(P, s, nlen, false);
        if (r < 0) return -1;
        P->rules[r].defined = true;
        P->depth = 0;
        if (parse_alternates(P, r)) return -1;
        skip_space(P, false);
        if (P->p < P->end && *P->p != '\n' && *P->p != '\r') {
            if (*P->p == ')') return fail_at(P, P->p, "unbalanced ')'%s", "");
            char b[2] = {*P->p, 0};
            return fail_at(P, P->p, "unexpected character '%s'", b);
        }
        skip_space(P, true);
    }
    return P->failed ? -1 : 0;
}

/* ---- checks: undefined rules, nullable, left recursion, min lengths ---- */

/* Iterative DFS over "r may start with s" edges; on a cycle, names a user
 * rule on it. Returns 0 or -1 with err filled. */
static int check_left_recursion(parser *P, const bool *nul, char *const *names)
{
    int32_t n = P->n_rules;
    uint8_t *color = calloc((size_t)n, 1);
    int32_t *stk = malloc(sizeof(int32_t) * 2 * (size_t)(n + 1));
    int32_t *path = malloc(sizeof(int32_t) * (size_t)(n + 1));
    if (!color || !stk || !path) {
        free(color);
        free(stk);
        free(path);
        return oom(P);
    }
    int rc = 0;
    for (int32_t s0 = 0; s0 < n && rc == 0; s0++) {
        if (color[s0]) continue;
        /* frame: rule, next edge index (alt * 65536 + elem would overflow; walk alts/elems
         * as a flat counter over the rule's leftmost-reachable refs) */
        int32_t sp = 0;
        stk[0] = s0;
        stk[1] = 0;
        path[0] = s0;
        color[s0] = 1;
        sp = 1;
        while (sp > 0 && rc == 0) {
            int32_t r = stk[2 * (sp - 1)];
            int32_t k = stk[2 * (sp - 1) + 1]++;
            /* the k-th leftmost-reachable reference of r */
            int32_t found = -1, cnt = 0;
            for (int32_t a = 0; a < P->rules[r].n && found < 0; a++) {
                const elist *l = &P->rules[r].alts[a];
                for (int32_t i = 0; i < l->n; i++) {
                    if (l->v[i].kind != GE_RULE) break;
                    if (cnt++ == k) {
                        found = l->v[i].arg;
                        break;
                    }
                    if (!nul[l->v[i].arg]) break;
                }
            }
            if (found < 0) {
                color[r] = 2;
                sp--;
                continue;
            }
            if (color[found] == 1) {
                /* cycle: path from found to r; name the first user rule on it */
                const char *name = names[found];
                int32_t at = sp - 1;
                while (at > 0 && path[at] != found)
                    at--;
                for (int32_t i = at; i < sp; i++)
                    if (!P->rules[path[i]].generated) {
                        name = names[path[i]];
                        break;
                    }
                char nm[GBNF_MAX_NAME + 1];
                snprintf(nm, sizeof nm, "%s", name);
                char *hash = strchr(nm, '#');
                bool via_rep = hash != NULL;
                if (hash) *hash = 0;
                snprintf(P->err, P->errlen,
                         "grammar: rule '%s' is left-recursive%s; rewrite it with repetition, "
                         "e.g. a ::= b (\"x\" b)*",
                         nm,
                         via_rep ? " (through a group or a repetition of something that can "
                                   "match the empty string)"
                                 : "");
                P->failed = true;
                rc = -1;
                break;
            }
            if (color[found] == 0) {
                color[found] = 1;
                stk[2 * sp] = found;
                stk[2 * sp + 1] = 0;
                path[sp] = found;
                sp++;
            }
        }
    }
    free(color);
    free(stk);
    free(path);
    return rc;
}

static int32_t sat_add(int32_t a, int32_t b)
{
    return (a == INT32_MAX || b == INT32_MAX || a > INT32_MAX - b) ? INT32_MAX : a + b;
}

/* ---- charset queries (shared with the matcher) ---- */

bool grammar_cs_has(const rt_grammar *g, int32_t cs, uint32_t cp)
{
    const gcharset *c = &g->cs[cs];
    if (cp < 128) return (c->ascii[cp >> 6] >> (cp & 63)) & 1;
    const uint32_t *r = g->ranges + 2 * c->r0;
    int32_t lo = 0, hi = c->nr - 1;
    while (lo <= hi) {
        int32_t mid = (lo + hi) / 2;
        if (cp < r[2 * mid])
            hi = mid - 1;
        else if (cp > r[2 * mid + 1])
            lo = mid + 1;
        else
            return !c->neg;
    }
    return c->neg;
}

bool grammar_cs_any(const rt_grammar *g, int32_t cs, uint32_t lo, uint32_t hi)
{
    const gcharset *c = &g->cs[cs];
    const uint32_t *r = g->ranges + 2 * c->r0;
    if (!c->neg) {
        for (int32_t i = 0; i < c->nr; i++)
            if (r[2 * i] <= hi && r[2 * i + 1] >= lo) return true;
        return false;
    }
    /* complement: some point of [lo, hi] outside every (merged) range */
    for (int32_t i = 0; i < c->nr; i++)
        if (r[2 * i] <= lo && r[2 * i + 1] >= hi) return false;
    return true;
}

uint32_t grammar_cs_first(const rt_grammar *g, int32_t cs, uint32_t lo, uint32_t hi)
{
    const gcharset *c = &g->cs[cs];
    const uint32_t *r = g->ranges + 2 * c->r0;
    if (!c->neg) {
        for (int32_t i = 0; i < c->nr; i++)
            if (r[2 * i] <= hi && r[2 * i + 1] >= lo) return r[2 * i] > lo ? r[2 * i] : lo;
        return UINT32_MAX;
    }
    uint32_t x = lo;
    for (int32_t i = 0; i < c->nr; i++)
        if (r[2 * i] <= x && r[2 * i + 1] >= x) x = r[2 * i + 1] + 1;
    return x <= hi ? x : UINT32_MAX;
}

/* ---- fewest code points per rule, and the leftmost-chain depth ---- */

typedef struct {
    int32_t cost, rule;
} hitem;

static void heap_push(hitem *h, int32_t *n, hitem x)
{
    int32_t i = (*n)++;
    while (i > 0) {
        int32_t p = (i - 1) / 2;
        if (h[p].cost <= x.cost) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static hitem heap_pop(hitem *h, int32_t *n)
{
    hitem top = h[0], x = h[--(*n)];
    int32_t i = 0;
    for (;;) {
        int32_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1].cost < h[c].cost) c++;
        if (h[c].cost >= x.cost) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = x;
    return top;
}

/* g->min_rule by Knuth's generalisation of Dijkstra: an alternative's cost
 * is known once every rule it references is final, and the cheapest known
 * alternative finalises its rule. Linear-logarithmic, so a hostile chain of
 * rules cannot make it quadratic the way a fixpoint sweep would be. */
static int compute_min(parser *P, rt_grammar *g)
{
    int32_t n_alt = 0;
    for (int32_t r = 0; r < g->n_rules; r++)
        n_alt += g->rule_nalt[r];
    int32_t *cost = malloc(sizeof(int32_t) * ((size_t)n_alt + 1));
    int32_t *pend = malloc(sizeof(int32_t) * ((size_t)n_alt + 1));
    int32_t *alt_rule = malloc(sizeof(int32_t) * ((size_t)n_alt + 1));
    int32_t *occ0 = calloc((size_t)g->n_rules + 1, sizeof(int32_t));
    int32_t *occ = malloc(sizeof(int32_t) * ((size_t)g->n_el + 1));
    bool *fin = calloc((size_t)g->n_rules + 1, 1);
    hitem *h = malloc(sizeof(hitem) * ((size_t)n_alt + 1));
    int rc = -1;
    if (!cost || !pend || !alt_rule || !occ0 || !occ || !fin || !h) {
        oom(P);
        goto done;
    }
    for (int32_t r = 0; r < g->n_rules; r++) {
        g->min_rule[r] = INT32_MAX;
        for (int32_t k = 0; k < g->rule_nalt[r]; k++) {
            int32_t a = g->rule_alt0[r] + k;
            alt_rule[a] = r;
            cost[a] = 0;
            pend[a] = 0;
            for (int32_t p = g->alt_start[a]; g->el[p].kind != GE_END; p++) {
                if (g->el[p].kind == GE_CHARS) {
                    cost[a] = sat_add(cost[a], 1);
                } else {
                    pend[a]++;
                    occ0[g->el[p].arg + 1]++;
                }
            }
        }
    }
    for (int32_t r = 0; r < g->n_rules; r++)
        occ0[r + 1] += occ0[r];
    {
        int32_t *fill = malloc(sizeof(int32_t) * ((size_t)g->n_rules + 1));
        if (!fill) {
            oom(P);
            goto done;
        }
        memcpy(fill, occ0, sizeof(int32_t) * (size_t)g->n_rules);
        for (int32_t a = 0; a < n_alt; a++)
            for (int32_t p = g->alt_start[a]; g->el[p].kind != GE_END; p++)
                if (g->el[p].kind == GE_RULE) occ[fill[g->el[p].arg]++] = a;
        free(fill);
    }
    int32_t hn = 0;
    for (int32_t a = 0; a < n_alt; a++)
        if (pend[a] == 0) heap_push(h, &hn, (hitem){cost[a], alt_rule[a]});
    while (hn > 0) {
        hitem x = heap_pop(h, &hn);
        if (fin[x.rule]) continue;
        fin[x.rule] = true;
        g->min_rule[x.rule] = x.cost;
        for (int32_t i = occ0[x.rule]; i < occ0[x.rule + 1]; i++) {
            int32_t a = occ[i];
            cost[a] = sat_add(cost[a], x.cost);
            if (--pend[a] == 0) heap_push(h, &hn, (hitem){cost[a], alt_rule[a]});
        }
    }
    rc = 0;
done:
    free(cost);
    free(pend);
    free(alt_rule);
    free(occ0);
    free(occ);
    free(fin);
    free(h);
    return rc;
}

/* Longest chain of rules entered without consuming input (r starts with s,
 * possibly after nullable elements): the matcher expands such chains by
 * recursion, so they are bounded here. The graph is acyclic (left recursion
 * was refused): longest paths by peeling rules whose successors are done. */
static int check_chain_depth(parser *P, const rt_grammar *g, const bool *nul)
{
    int32_t n = g->n_rules;
    int32_t *outd = calloc((size_t)n + 1, sizeof(int32_t));
    int32_t *rev0 = calloc((size_t)n + 2, sizeof(int32_t));
    int32_t *depth = calloc((size_t)n + 1, sizeof(int32_t));
    int32_t *queue = malloc(sizeof(int32_t) * ((size_t)n + 1));
    int32_t *rev = NULL;
    int rc = -1;
    if (!outd || !rev0 || !depth || !queue) goto oom;
    for (int pass = 0; pass < 2; pass++) {
        for (int32_t r = 0; r < n; r++) {
            for (int32_t k = 0; k < g->rule_nalt[r]; k++) {
                for (int32_t p = g->alt_start[g->rule_alt0[r] + k]; g->el[p].kind == GE_RULE; p++) {
                    int32_t s2 = g->el[p].arg;
                    if (pass == 0) {
                        outd[r]++;
                        rev0[s2 + 1]++;
                    } else {
                        rev[rev0[s2]++] = r;
                    }
                    if (!nul[s2]) break;
                }
            }
        }
        if (pass == 0) {
            for (int32_t r = 0; r < n; r++)
                rev0[r + 1] += rev0[r];
            rev = malloc(sizeof(int32_t) * ((size_t)rev0[n] + 1));
            if (!rev) goto oom;
        }
    }
    /* pass 1 advanced rev0[s] to the end of s's list: list s is [rev0[s-1], rev0[s]) */
    int32_t qh = 0, qt = 0, worst = -1;
    for (int32_t r = 0; r < n; r++)
        if (outd[r] == 0) {
            depth[r] = 1;
            queue[qt++] = r;
        }
    while (qh < qt) {
        int32_t s2 = queue[qh++];
        if (worst < 0 || depth[s2] > depth[worst]) worst = s2;
        for (int32_t i = s2 ? rev0[s2 - 1] : 0; i < rev0[s2]; i++) {
            int32_t r = rev[i];
            if (depth[s2] + 1 > depth[r]) depth[r] = depth[s2] + 1;
            if (--outd[r] == 0) queue[qt++] = r;
        }
    }
    if (worst >= 0 && depth[worst] > GBNF_MAX_CHAIN) {
        char nm[GBNF_MAX_NAME + 1];
        snprintf(nm, sizeof nm, "%s", g->rule_names[worst]);
        char *hash = strchr(nm, '#');
        if (hash) *hash = 0;
        snprintf(P->err, P->errlen,
                 "grammar: rule '%s' starts a chain of %d rules entered without consuming "
                 "input (limit %d)",
                 nm, depth[worst], GBNF_MAX_CHAIN);
        P->failed = true;
    } else {
        rc = 0;
    }
    goto done;
oom:
    oom(P);
done:
    free(outd);
    free(rev0);
    free(depth);
    free(queue);
    free(rev);
    return rc;
}

/* ---- lowering to the flat form ---- */

static int flatten(parser *P, rt_grammar *g, int32_t root)
{
    int64_t n_el = 0, n_alt = 0;
    for (int32_t r = 0; r < P->n_rules; r++) {
        n_alt += P->rules[r].n;
        for (int32_t a = 0; a < P->rules[r].n; a++)
            n_el += P->rules[r].alts[a].n + 1;
    }
    g->n_rules = P->n_rules;
    g->n_el = (int32_t)n_el;
    g->el = malloc(sizeof *g->el * (size_t)(n_el + 1));
    g->alt_start = malloc(sizeof(int32_t) * (size_t)(n_alt + 1));
    g->rule_alt0 = malloc(sizeof(int32_t) * (size_t)P->n_rules);
    g->rule_nalt = malloc(sizeof(int32_t) * (size_t)P->n_rules);
    g->rule_names = calloc((size_t)P->n_rules, sizeof(char *));
    g->min_pos = malloc(sizeof(int32_t) * (size_t)(n_el + 1));
    g->min_rule = malloc(sizeof(int32_t) * (size_t)P->n_rules);
    if (!g->el || !g->alt_start || !g->rule_alt0 || !g->rule_nalt || !g->rule_names ||
        !g->min_pos || !g->min_rule)
        return oom(P);
    int32_t pe = 0, pa = 0;
    for (int32_t r = 0; r < P->n_rules; r++) {
        g->rule_alt0[r] = pa;
        g->rule_nalt[r] = P->rules[r].n;
        g->rule_names[r] = P->rules[r].name;
        P->rules[r].name = NULL;
        for (int32_t a = 0; a < P->rules[r].n; a++) {
            g->alt_start[pa++] = pe;
            const elist *l = &P->rules[r].alts[a];
            for (int32_t i = 0; i < l->n; i++)
                g->el[pe++] = l->v[i];
            g->el[pe++] = (gelem){GE_END, 0};
        }
    }
    g->cs = P->cs;
    g->n_cs = P->n_cs;
    g->ranges = P->ranges.v;
    P->cs = NULL;
    P->ranges.v = NULL;
    g->root = root;
    if (compute_min(P, g)) return -1;
    /* fewest code points from each position to its alternative's end */
    for (int32_t p = g->n_el - 1; p >= 0; p--) {
        if (g->el[p].kind == GE_END)
            g->min_pos[p] = 0;
        else
            g->min_pos[p] = sat_add(g->el[p].kind == GE_CHARS ? 1 : g->min_rule[g->el[p].arg],
                                    g->min_pos[p + 1]);
    }
    return 0;
}

static void parser_free(parser *P)
{
    for (int32_t r = 0; r < P->n_rules; r++) {
        for (int32_t a = 0; a < P->rules[r].n; a++)
            free(P->rules[r].alts[a].v);
        free(P->rules[r].alts);
        free(P->rules[r].name);
    }
    free(P->rules);
    free(P->names);
    free(P->cs);
    free(P->ranges.v);
}

void rt_grammar_free(rt_grammar *g)
{
    if (!g) return;
    for (int32_t r = 0; g->rule_names && r < g->n_rules; r++)
        free(g->rule_names[r]);
    free(g->rule_names);
    free(g->el);
    free(g->alt_start);
    free(g->rule_alt0);
    free(g->rule_nalt);
    free(g->cs);
    free(g->ranges);
    free(g->min_pos);
    free(g->min_rule);
    free(g);
}

int rt_grammar_from_gbnf(const char *gbnf, size_t len, const char *root, rt_grammar **out,
                         char *err, size_t errlen)
{
    *out = NULL;
    if (!gbnf) {
        snprintf(err, errlen, "grammar: no text");
        return -1;
    }
    if (len > GBNF_MAX_TEXT) {
        snprintf(err, errlen, "grammar: %zu bytes is above the %u-byte limit", len, GBNF_MAX_TEXT);
        return -1;
    }
    if (!root) root = "root";
    parser P = {.src = gbnf, .p = gbnf, .end = gbnf + len, .err = err, .errlen = errlen};
    rt_grammar *g = NULL;
    bool *nul = NULL;
    int rc = -1;
    if (parse_rules(&P)) goto done;
    int32_t r = rule_find(&P, root, strlen(root));
    if (r < 0 || !P.rules[r].defined) {
        snprintf(err, errlen, "grammar: no rule named '%s' (the start rule)", root);
        goto done;
    }
    for (int32_t i = 0; i < P.n_rules; i++) {
        if (!P.rules[i].defined) {
            int line, col;
            where(&P, P.rules[i].ref, &line, &col);
            snprintf(err, errlen, "grammar %d:%d: undefined rule '%s'", line, col, P.rules[i].name);
            goto done;
        }
    }
    g = calloc(1, sizeof *g);
    if (!g) {
        oom(&P);
        goto done;
    }
    if (flatten(&P, g, r)) goto done;
    nul = malloc((size_t)g->n_rules + 1);
    if (!nul) {
        oom(&P);
        goto done;
    }
    for (int32_t i = 0; i < g->n_rules; i++)
        nul[i] = g->min_rule[i] == 0;
    if (check_left_recursion(&P, nul, g->rule_names) || check_chain_depth(&P, g, nul)) goto done;
    if (g->min_rule[r] == INT32_MAX) {
        snprintf(err, errlen, "grammar: rule '%s' can never finish (every alternative recurses)",
                 root);
        goto done;
    }
    *out = g;
    g = NULL;
    rc = 0;
done:
    free(nul);
    rt_grammar_free(g);
    parser_free(&P);
    return rc;
}

int rt_grammar_from_json_schema(const char *schema, size_t len, rt_grammar **out, char *err,
                                size_t errlen)
{
    *out = NULL;
    char *gbnf = NULL;
    if (rt_json_schema_to_gbnf(schema, len, &gbnf, err, errlen) != 0) {
        free(gbnf);
        return -1;
    }
    int rc = rt_grammar_from_gbnf(gbnf, strlen(gbnf), "root", out, err, errlen);
    free(gbnf);
    return rc;
}
