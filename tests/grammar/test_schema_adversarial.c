/* test_schema_adversarial.c - the JSON Schema compiler on hostile and edge
 * inputs: a 10k-value enum, 200-level nesting (works) and deeper (clean
 * error), empty strings, unicode escapes in enum/const/pattern, recursive
 * $ref, $ref cycles, unsupported keywords refused with their JSON pointer,
 * malformed JSON refused with its position; plus exactness checks against
 * independent oracles: integer bounds against plain arithmetic over a range
 * of integers, patterns against PCRE2 over every short string of a small
 * alphabet, and "any key but the named ones" against string comparison. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt.h"
#include "../common/check.h"

typedef struct {
    char *s;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        while (nc < b->n + n + 1)
            nc *= 2;
        b->s = realloc(b->s, nc);
        if (!b->s) exit(2);
        b->cap = nc;
    }
    memcpy(b->s + b->n, s, n + 1);
    b->n += n;
}

/* Compiles schema to a loaded grammar; NULL with err filled when refused. */
static rt_grammar *compile(const char *schema, char *err, size_t errlen)
{
    char *g = NULL;
    if (rt_json_schema_to_gbnf(schema, strlen(schema), &g, err, errlen)) return NULL;
    rt_grammar *gr = NULL;
    if (rt_grammar_from_gbnf(g, strlen(g), "root", &gr, err, errlen)) {
        fprintf(stderr, "grammar text:\n%.2000s\n", g);
        gr = NULL;
    }
    free(g);
    return gr;
}

static bool accepts(const rt_grammar *g, const char *text)
{
    rt_grammar_state *st = rt_grammar_state_new(g);
    if (!st) exit(2);
    bool ok = rt_grammar_state_accept(st, text, strlen(text)) == 0 && rt_grammar_state_can_end(st);
    rt_grammar_state_free(st);
    return ok;
}

static void expect_refused(const char *schema, const char *needle)
{
    char err[512] = "";
    char *g = NULL;
    int rc = rt_json_schema_to_gbnf(schema, strlen(schema), &g, err, sizeof err);
    CHECK(rc != 0, "schema %s was not refused", schema);
    CHECK(rc == 0 || strstr(err, needle), "schema %s: error \"%s\" lacks \"%s\"", schema, err,
          needle);
    CHECK(rc != 0 || g != NULL, "no grammar and no error");
    free(g);
}

static void test_huge_enum(void)
{
    sbuf s = {0};
    sb_put(&s, "{\"enum\":[");
    char t[64];
    for (int i = 0; i < 10000; i++) {
        snprintf(t, sizeof t, "%s\"value-%05d\"", i ? "," : "", i * 7);
        sb_put(&s, t);
    }
    sb_put(&s, "]}");
    char err[512];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    rt_grammar *g = compile(s.s, err, sizeof err);
    clock_gettime(CLOCK_MONOTONIC, &b);
    CHECK(g, "10k enum: %s", err);
    if (g) {
        CHECK(accepts(g, "\"value-00000\""), "first enum value rejected");
        CHECK(accepts(g, "\"value-69993\""), "last enum value rejected");
        CHECK(!accepts(g, "\"value-70000\""), "non-member accepted");
        CHECK(!accepts(g, "\"value-00001\""), "non-member accepted");
        CHECK(!accepts(g, "\"value-0000\""), "prefix of a member accepted");
        rt_grammar_free(g);
    }
    printf("10000-value enum: schema -> loaded grammar in %.1f ms\n",
           (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6);
    free(s.s);
}

static char *nested(int depth, bool instance)
{
    sbuf s = {0};
    for (int i = 0; i < depth; i++)
        sb_put(&s, instance ? "{\"a\":"
                            : "{\"type\":\"object\",\"required\":[\"a\"],"
                              "\"additionalProperties\":false,\"properties\":{\"a\":");
    sb_put(&s, instance ? "1" : "{\"type\":\"integer\"}");
    for (int i = 0; i < depth; i++)
        sb_put(&s, instance ? "}" : "}}");
    return s.s;
}

static void test_deep_nesting(void)
{
    char err[512];
    char *s = nested(200, false), *v = nested(200, true);
    rt_grammar *g = compile(s, err, sizeof err);
    CHECK(g, "200 levels: %s", err);
    if (g) {
        CHECK(accepts(g, v), "200-level instance rejected");
        v[strlen(v) - 201] = '2'; /* the innermost value: still an integer */
        CHECK(accepts(g, v), "200-level instance (2) rejected");
        char *w = nested(199, true);
        CHECK(!accepts(g, w), "199-level instance accepted");
        free(w);
        rt_grammar_free(g);
    }
    free(s);
    free(v);
    s = nested(400, false);
    char *gb = NULL;
    int rc = rt_json_schema_to_gbnf(s, strlen(s), &gb, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "deeper than"), "400 levels: rc %d err %s", rc, err);
    free(gb);
    free(s);
    /* beyond the JSON parser's nesting limit: a clean parse error */
    s = nested(2000, false);
    gb = NULL;
    rc = rt_json_schema_to_gbnf(s, strlen(s), &gb, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "byte"), "2000 levels: rc %d err %s", rc, err);
    free(gb);
    free(s);
}

static void test_empty_strings(void)
{
    char err[512];
    rt_grammar *g = compile("{\"const\":\"\"}", err, sizeof err);
    CHECK(g, "const empty: %s", err);
    if (g) {
        CHECK(accepts(g, "\"\""), "empty string rejected");
        CHECK(!accepts(g, "\"a\""), "non-empty accepted");
        rt_grammar_free(g);
    }
    g = compile("{\"type\":\"object\",\"properties\":{\"\":{\"enum\":[\"\",\"x\"]}},"
                "\"required\":[\"\"],\"additionalProperties\":false}",
                err, sizeof err);
    CHECK(g, "empty property name: %s", err);
    if (g) {
        CHECK(accepts(g, "{\"\":\"\"}"), "empty key/value rejected");
        CHECK(accepts(g, "{\"\":\"x\"}"), "empty key rejected");
        CHECK(!accepts(g, "{}"), "missing required empty key accepted");
        CHECK(!accepts(g, "{\"\":\"y\"}"), "non-member accepted");
        rt_grammar_free(g);
    }
    g = compile("{\"type\":\"string\",\"maxLength\":0}", err, sizeof err);
    CHECK(g, "maxLength 0: %s", err);
    if (g) {
        CHECK(accepts(g, "\"\""), "empty rejected");
        CHECK(!accepts(g, "\"a\""), "one char accepted");
        rt_grammar_free(g);
    }
    /* additional properties next to a named empty key: "" itself excluded */
    g = compile("{\"properties\":{\"\":{\"type\":\"integer\"}},\"type\":\"object\"}", err,
                sizeof err);
    CHECK(g, "open object with empty key: %s", err);
    if (g) {
        CHECK(accepts(g, "{\"\":1,\"b\":\"x\"}"), "rejected");
        CHECK(!accepts(g, "{\"\":\"x\"}"), "empty key with a string accepted");
        rt_grammar_free(g);
    }
}

static void test_unicode(void)
{
    char err[512];
    rt_grammar *g = compile("{\"enum\":[\"caf\\u00e9\",\"\\ud83d\\ude00\",\"a\\u2028b\","
                            "\"tab\\tq\\\"\"]}",
                            err, sizeof err);
    CHECK(g, "unicode enum: %s", err);
    if (g) {
        CHECK(accepts(g, "\"caf\xc3\xa9\""), "raw UTF-8 e-acute rejected");
        CHECK(accepts(g, "\"\xf0\x9f\x98\x80\""), "raw emoji rejected");
        CHECK(accepts(g, "\"a\xe2\x80\xa8"
                         "b\""),
              "U+2028 rejected");
        CHECK(accepts(g, "\"tab\\tq\\\"\""), "escaped tab/quote rejected");
        CHECK(!accepts(g, "\"cafe\""), "cafe accepted");
        CHECK(!accepts(g, "\"\xf0\x9f\x98\x81\""), "other emoji accepted");
        rt_grammar_free(g);
    }
    g = compile("{\"const\":\"\\u00a9 \\u65e5\"}", err, sizeof err);
    CHECK(g, "unicode const: %s", err);
    if (g) {
        CHECK(accepts(g, "\"\xc2\xa9 \xe6\x97\xa5\""), "const rejected");
        rt_grammar_free(g);
    }
    g = compile("{\"type\":\"string\",\"pattern\":\"^[\\u03b1-\\u03c9]+\\\\u00e9?$\"}", err,
                sizeof err);
    CHECK(g, "unicode pattern: %s", err);
    if (g) {
        CHECK(accepts(g, "\"\xce\xb1\xcf\x89\""), "greek rejected");
        CHECK(accepts(g, "\"\xce\xb1\xc3\xa9\""), "greek + e-acute rejected");
        CHECK(!accepts(g, "\"a\""), "latin accepted");
        CHECK(!accepts(g, "\"\""), "empty accepted");
        rt_grammar_free(g);
    }
    /* free strings: escapes, surrogate pairs yes, lone surrogates no */
    g = compile("{\"type\":\"string\",\"maxLength\":2}", err, sizeof err);
    CHECK(g, "maxLength: %s", err);
    if (g) {
        CHECK(accepts(g, "\"\\ud83d\\ude00x\""), "surrogate pair + char rejected");
        CHECK(!accepts(g, "\"\\ud83d\""), "lone surrogate accepted");
        CHECK(accepts(g, "\"\\u00e9\\n\""), "escapes rejected");
        CHECK(!accepts(g, "\"abc\""), "3 chars accepted under maxLength 2");
        rt_grammar_free(g);
    }
}

static void test_recursion(void)
{
    char err[512];
    rt_grammar *g = compile("{\"$ref\":\"#/$defs/list\",\"$defs\":{\"list\":{\"type\":\"object\","
                            "\"properties\":{\"v\":{\"type\":\"integer\"},\"next\":{\"$ref\":\"#/"
                            "$defs/list\"}},\"required\":[\"v\"],\"additionalProperties\":false}}}",
                            err, sizeof err);
    CHECK(g, "linked list: %s", err);
    if (g) {
        sbuf s = {0};
        for (int i = 0; i < 60; i++)
            sb_put(&s, i ? ",\"next\":{\"v\":1" : "{\"v\":1");
        for (int i = 0; i < 60; i++)
            sb_put(&s, "}");
        CHECK(accepts(g, s.s), "60-deep list rejected");
        CHECK(!accepts(g, "{\"v\":1,\"next\":{}}"), "inner node without v accepted");
        free(s.s);
        rt_grammar_free(g);
    }
    /* mutual recursion through anyOf and arrays */
    g = compile("{\"$defs\":{\"e\":{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"array\","
                "\"items\":{\"$ref\":\"#/$defs/e\"}}]}},\"$ref\":\"#/$defs/e\"}",
                err, sizeof err);
    CHECK(g, "nested lists: %s", err);
    if (g) {
        CHECK(accepts(g, "[1,[2,[3,[]]],4]"), "nested list rejected");
        CHECK(!accepts(g, "[1,[\"x\"]]"), "string leaf accepted");
        rt_grammar_free(g);
    }
    expect_refused("{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":\"#/$defs/a\"}},"
                   "\"$ref\":\"#/$defs/a\"}",
                   "never reaches a schema");
    expect_refused("{\"$ref\":\"#/$defs/missing\"}", "/$ref: \"#/$defs/missing\" does not resolve");
    expect_refused("{\"$ref\":\"other.json#/a\"}", "/$ref: only local references");
}

static void test_refusals(void)
{
    expect_refused("{\"properties\":{\"a\":{\"not\":{\"minimum\":1}}}}",
                   "/properties/a/not: not is only supported around");
    expect_refused("{\"properties\":{\"a\":{\"propertyNames\":{\"maxLength\":2}}}}",
                   "/properties/a/propertyNames: propertyNames is only supported");
    expect_refused("{\"properties\":{\"a\":{\"maxProperties\":100}}}",
                   "/properties/a: minProperties/maxProperties above 64");
    expect_refused("{\"dependentRequired\":{\"a\":[1]}}", "/dependentRequired: values must be");
    expect_refused("{\"items\":{\"if\":{},\"then\":{}}}", "/items/if: keyword \"if\"");
    expect_refused("{\"prefixItems\":[{},{\"minContains\":2}]}", "/prefixItems/1/minContains:");
    expect_refused("{\"contains\":{},\"maxItems\":3}", "/contains: contains together with");
    expect_refused("{\"properties\":{\"a/b\":{\"unknownKeyword\":1}}}",
                   "/properties/a~1b/unknownKeyword: keyword \"unknownKeyword\"");
    expect_refused("{\"type\":\"number\",\"minimum\":1e300}", "/minimum: bounds beyond");
    expect_refused("{\"$schema\":\"https://example.com/custom\"}", "/$schema: unknown dialect");
    expect_refused("{\"type\":\"array\",\"uniqueItems\":true}", "/uniqueItems:");
    expect_refused("{\"oneOf\":[{\"type\":\"string\"},{\"maxLength\":3}]}", "/oneOf: branches 0");
    expect_refused("{\"type\":\"strin\"}", "/type: unknown type \"strin\"");
    expect_refused("{\"type\":\"string\",\"pattern\":\"(a)\\\\1\"}", "/pattern: pattern:");
    expect_refused("{\"type\":\"string\",\"pattern\":\"(?=a)\"}", "lookaround");
    expect_refused("{\"type\":\"string\",\"pattern\":\"^(?:a|)+b?$\"}",
                   "a repeated group that can match the empty string");
    expect_refused("{\"patternProperties\":{\"^x\":{}}}", "/patternProperties: keyword");
    expect_refused("false", "matches no value");
    expect_refused("{\"const\":\"a\\u0000b\"}", "\\u0000");
    expect_refused("42", "a schema must be an object or a boolean");
}

static void test_malformed(void)
{
    expect_refused("{\"type\": \"object\",, }", "malformed JSON at byte 1");
    expect_refused("{\n  \"type\": \"object\"\n  \"x\": 1}", "line 3");
    expect_refused("{\"type\":\"object\"} trailing",
                   "unexpected text after the JSON value at byte 18");
    expect_refused("", "malformed JSON at byte 0");
}

/* Integer bounds vs arithmetic, over [-1300, 1300] and the boundary
 * neighbourhoods of large bounds. */
static void test_integer_bounds(void)
{
    static const struct {
        const char *kw;
        double lo, hi;
        int flags; /* 1 = lo exclusive, 2 = hi exclusive, 4 = no lo, 8 = no hi */
    } cases[] = {
        {"", 0, 0, 0},     {"", -5, 5, 0},       {"", 1, 1000, 0},  {"", -999, -10, 0},
        {"", 37, 1234, 3}, {"", -1.5, 2.5, 0},   {"", 0, 0, 4},     {"", 99, 0, 8},
        {"", -120, 0, 8},  {"", 0, -7, 4},       {"", 10, 10, 0},   {"", 10, 10, 1},
        {"", 5, 999, 0},   {"", -100, 100, 3},   {"", 0.5, 0.7, 0}, {"", 7, 1007, 0},
        {"", 1e15, 0, 8},  {"", -4e18, 4e18, 0},
    };
    int checked = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char schema[256], err[512];
        int f = cases[c].flags;
        int k = snprintf(schema, sizeof schema, "{\"type\":\"integer\"");
        if (!(f & 4))
            k += snprintf(schema + k, sizeof schema - k, ",\"%s\":%.17g",
                          f & 1 ? "exclusiveMinimum" : "minimum", cases[c].lo);
        if (!(f & 8))
            k += snprintf(schema + k, sizeof schema - k, ",\"%s\":%.17g",
                          f & 2 ? "exclusiveMaximum" : "maximum", cases[c].hi);
        snprintf(schema + k, sizeof schema - k, "}");
        rt_grammar *g = compile(schema, err, sizeof err);
        /* an empty range is refused ("matches no value"), nothing else is */
        long double lo_i = f & 4 ? -1e30L : f & 1 ? floorl(cases[c].lo) + 1 : ceill(cases[c].lo);
        long double hi_i = f & 8 ? 1e30L : f & 2 ? ceill(cases[c].hi) - 1 : floorl(cases[c].hi);
        if (lo_i > hi_i) {
            CHECK(!g && strstr(err, "matches no value"), "%s: empty range not refused", schema);
            rt_grammar_free(g);
            continue;
        }
        CHECK(g, "%s: %s", schema, err);
        if (!g) continue;
        long double centres[3] = {0, cases[c].lo, cases[c].hi};
        for (int ci = 0; ci < 3; ci++) {
            long long base = (long long)centres[ci];
            long long span = ci == 0 ? 1300 : 30;
            for (long long v = base - span; v <= base + span; v++) {
                bool in = true;
                if (!(f & 4))
                    in = in &&
                         (f & 1 ? (long double)v > cases[c].lo : (long double)v >= cases[c].lo);
                if (!(f & 8))
                    in = in &&
                         (f & 2 ? (long double)v < cases[c].hi : (long double)v <= cases[c].hi);
                char t[32];
                snprintf(t, sizeof t, "%lld", v);
                bool acc = accepts(g, t);
                CHECK(acc == in, "%s: %s %s", schema, t, in ? "rejected" : "accepted");
                checked++;
            }
        }
        CHECK(!accepts(g, "1.0") && !accepts(g, "01") && !accepts(g, "-0") && !accepts(g, "1e2"),
              "%s: non-canonical integer accepted", schema);
        rt_grammar_free(g);
    }
    printf("integer bounds: %d values checked against arithmetic\n", checked);
}

/* Number bounds vs strtod: every accepted text is in range, the shortest
 * spelling of every in-range value k/100 is accepted. */
static void test_number_bounds(void)
{
    static const char *const schemas[] = {
        "{\"type\":\"number\",\"minimum\":1.5}",
        "{\"type\":\"number\",\"exclusiveMinimum\":1.5,\"maximum\":2.25}",
        "{\"type\":\"number\",\"minimum\":-2.75,\"exclusiveMaximum\":-0.5}",
        "{\"type\":\"number\",\"exclusiveMinimum\":-1,\"exclusiveMaximum\":1}",
        "{\"type\":\"number\",\"minimum\":0,\"maximum\":0.3}",
        "{\"type\":\"number\",\"exclusiveMinimum\":0.1,\"exclusiveMaximum\":0.2}",
        "{\"type\":\"number\",\"maximum\":-1.01}",
        "{\"minimum\":-3.5,\"maximum\":3}",
        "{\"type\":\"number\",\"exclusiveMinimum\":0}",
    };
    static const double bounds[][4] = {
        /* lo, lo exclusive, hi, hi exclusive (nan = none) */
        {1.5, 0, NAN, 0}, {1.5, 1, 2.25, 0},  {-2.75, 0, -0.5, 1}, {-1, 1, 1, 1},  {0, 0, 0.3, 0},
        {0.1, 1, 0.2, 1}, {NAN, 0, -1.01, 0}, {-3.5, 0, 3, 0},     {0, 1, NAN, 0},
    };
    int checked = 0;
    for (size_t c = 0; c < sizeof schemas / sizeof schemas[0]; c++) {
        char err[512];
        rt_grammar *g = compile(schemas[c], err, sizeof err);
        CHECK(g, "%s: %s", schemas[c], err);
        if (!g) continue;
        const double *b = bounds[c];
        for (int k = -400; k <= 400; k++) {
            double v = k / 100.0;
            bool in = (isnan(b[0]) || (b[1] ? v > b[0] : v >= b[0])) &&
                      (isnan(b[2]) || (b[3] ? v < b[2] : v <= b[2]));
            char canon[32], t[48];
            snprintf(canon, sizeof canon, "%.2f", v);
            size_t n = strlen(canon);
            while (canon[n - 1] == '0')
                canon[--n] = 0;
            if (canon[n - 1] == '.') canon[--n] = 0;
            if (!strcmp(canon, "-0")) strcpy(canon, "0");
            CHECK(accepts(g, canon) == in, "%s: %s %s", schemas[c], canon,
                  in ? "rejected" : "accepted");
            /* other spellings: accepted only when in range */
            const char *forms[] = {"%s0", "%s00001", "%se0", "0%s"};
            for (int f = 0; f < 4; f++) {
                if (f < 2 && !strchr(canon, '.')) continue;
                snprintf(t, sizeof t, forms[f], canon);
                double tv = strtod(t, NULL);
                bool t_in = (isnan(b[0]) || (b[1] ? tv > b[0] : tv >= b[0])) &&
                            (isnan(b[2]) || (b[3] ? tv < b[2] : tv <= b[2]));
                if (accepts(g, t))
                    CHECK(t_in && f < 3, "%s: %s accepted (out of range or not JSON)", schemas[c],
                          t);
            }
            checked++;
        }
        CHECK(!accepts(g, "1e0") || !strstr(schemas[c], "number"), "%s: exponent", schemas[c]);
        rt_grammar_free(g);
    }
    printf("number bounds: %d values checked against arithmetic\n", checked);
}

/* const/enum numbers: one canonical spelling, equal values merged. */
static void test_const_numbers(void)
{
    char err[512];
    rt_grammar *g = compile("{\"enum\":[1e-7,1.0,1,2.5,-0.0,123456789012,0.1]}", err, sizeof err);
    CHECK(g, "numeric enum: %s", err);
    if (!g) return;
    static const struct {
        const char *t;
        bool ok;
    } t[] = {{"0.0000001", true},    {"1", true},    {"2.5", true},   {"0", true},
             {"123456789012", true}, {"0.1", true},  {"1e-7", false}, {"3", false},
             {"0.2", false},         {"2.50", false}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        CHECK(accepts(g, t[i].t) == t[i].ok, "numeric enum: %s should be %s", t[i].t,
              t[i].ok ? "accepted" : "rejected");
    rt_grammar_free(g);
}

/* not around a type or a boolean schema. */
static void test_not(void)
{
    char err[512];
    rt_grammar *g = compile("{\"not\":{\"type\":[\"integer\",\"object\"]}}", err, sizeof err);
    CHECK(g, "not type: %s", err);
    if (g) {
        CHECK(accepts(g, "1.5") && accepts(g, "-0.25") && accepts(g, "\"x\"") && accepts(g, "[1]"),
              "non-integers rejected");
        CHECK(!accepts(g, "1") && !accepts(g, "1.0") && !accepts(g, "-3") && !accepts(g, "{}"),
              "integer or object accepted");
        rt_grammar_free(g);
    }
    g = compile("{\"type\":\"object\",\"properties\":{\"a\":{\"not\":{}}}}", err, sizeof err);
    CHECK(g, "forbidden property: %s", err);
    if (g) {
        CHECK(!accepts(g, "{\"a\":1}") && accepts(g, "{\"b\":1}"), "forbidden property");
        rt_grammar_free(g);
    }
}

/* contains: at least one item matches (items still apply to all). */
static void test_contains(void)
{
    char err[512];
    rt_grammar *g = compile("{\"type\":\"array\",\"items\":{\"type\":\"integer\"},"
                            "\"contains\":{\"minimum\":5}}",
                            err, sizeof err);
    CHECK(g, "contains: %s", err);
    if (!g) return;
    static const struct {
        const char *t;
        bool ok;
    } t[] = {{"[1,7]", true}, {"[7]", true},    {"[5,1,2]", true},      {"[9,9,9]", true},
             {"[]", false},   {"[1,2]", false}, {"[1,\"x\",7]", false}, {"[4.5,6]", false}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        CHECK(accepts(g, t[i].t) == t[i].ok, "contains: %s should be %s", t[i].t,
              t[i].ok ? "accepted" : "rejected");
    rt_grammar_free(g);
}

/* dependentRequired / dependentSchemas: p present => q present / S holds. */
static void test_dependencies(void)
{
    char err[512];
    rt_grammar *g = compile("{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{},\"c\":{}},"
                            "\"dependentRequired\":{\"c\":[\"a\"]},\"dependentSchemas\":{\"b\":{"
                            "\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]}}}",
                            err, sizeof err);
    CHECK(g, "dependencies: %s", err);
    if (g) {
        static const struct {
            const char *t;
            bool ok;
        } t[] = {{"{}", true},
                 {"{\"a\":\"x\"}", true},
                 {"{\"a\":1,\"c\":0}", true},
                 {"{\"c\":0}", false},
                 {"{\"a\":1,\"b\":0}", true},
                 {"{\"a\":\"x\",\"b\":0}", false},
                 {"{\"b\":0}", false},
                 {"{\"a\":2,\"b\":0,\"c\":[]}", true},
                 {"{\"zz\":1}", true}};
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
            CHECK(accepts(g, t[i].t) == t[i].ok, "dependencies: %s should be %s", t[i].t,
                  t[i].ok ? "accepted" : "rejected");
        rt_grammar_free(g);
    }
    g = compile("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"z\":{}},"
                "\"additionalProperties\":{\"type\":\"string\"},"
                "\"propertyNames\":{\"enum\":[\"a\",\"b\",3]}}",
                err, sizeof err);
    CHECK(g, "propertyNames enum: %s", err);
    if (g) {
        CHECK(accepts(g, "{\"a\":1,\"b\":\"x\"}") && accepts(g, "{}"), "allowed names rejected");
        CHECK(!accepts(g, "{\"z\":1}") && !accepts(g, "{\"c\":\"x\"}") &&
                  !accepts(g, "{\"b\":1}") && !accepts(g, "{\"a\":\"x\"}"),
              "propertyNames enum: other names or wrong values accepted");
        rt_grammar_free(g);
    }
    g = compile("{\"propertyNames\":{\"type\":\"number\"}}", err, sizeof err);
    CHECK(g && accepts(g, "{}") && !accepts(g, "{\"1\":1}") && accepts(g, "[1]"),
          "propertyNames number: %s", g ? "wrong" : err);
    rt_grammar_free(g);
    g = compile("{\"dependentRequired\":{}}", err, sizeof err);
    CHECK(g && accepts(g, "{\"q\":1}"), "empty dependentRequired: %s", g ? "rejects" : err);
    rt_grammar_free(g);
}

/* oneOf of closed objects told apart by a property one requires and the
 * other forbids (tool-argument unions without a tag). */
static void test_oneof_closed(void)
{
    char err[512];
    rt_grammar *g = compile(
        "{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
        "\"required\":[\"a\"],\"additionalProperties\":false},{\"type\":\"object\",\"properties\":"
        "{\"b\":{\"type\":\"integer\"},\"a\":false},\"required\":[\"b\"]}]}",
        err, sizeof err);
    CHECK(g, "oneOf closed objects: %s", err);
    if (!g) return;
    CHECK(accepts(g, "{\"a\":\"x\"}") && accepts(g, "{\"b\":1}") && accepts(g, "{\"b\":1,\"c\":2}"),
          "oneOf closed objects: a branch rejected");
    CHECK(!accepts(g, "{\"a\":\"x\",\"b\":1}") && !accepts(g, "{}") && !accepts(g, "{\"a\":1}"),
          "oneOf closed objects: accepted a non-member");
    rt_grammar_free(g);
}

/* minProperties / maxProperties count named and additional members. */
static void test_property_counts(void)
{
    char err[512];
    rt_grammar *g = compile("{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{}},"
                            "\"additionalProperties\":{\"type\":\"string\"},"
                            "\"minProperties\":1,\"maxProperties\":2}",
                            err, sizeof err);
    CHECK(g, "property counts: %s", err);
    if (!g) return;
    static const struct {
        const char *t;
        bool ok;
    } t[] = {{"{\"a\":1}", true},
             {"{\"x\":\"y\"}", true},
             {"{\"a\":1,\"x\":\"y\"}", true},
             {"{\"x\":\"y\",\"a\":1}", true},
             {"{\"a\":1,\"b\":2}", true},
             {"{}", false},
             {"{\"a\":1,\"b\":2,\"x\":\"y\"}", false},
             {"{\"x\":\"1\",\"y\":\"2\",\"z\":\"3\"}", false}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        CHECK(accepts(g, t[i].t) == t[i].ok, "property counts: %s should be %s", t[i].t,
              t[i].ok ? "accepted" : "rejected");
    rt_grammar_free(g);
}

/* Patterns vs PCRE2 over every string of length <= 4 over a small alphabet
 * (the patterns use only syntax where ECMA-262 and PCRE2 agree). */
static void test_patterns_vs_pcre2(void)
{
    static const char *const pats[] = {
        "^a{2,3}$", "b|^c",         "[^a-c]x",     "\\d+\\.\\d", "^(ab|c)*$", "a.c",
        "^$",       "x?y+z*",       "^[a-c1]{3}$", "(a|b)(c|1)", "^\\D\\w?$", "\\s",
        "^.{1,2}$", "^(?:a|b)+c?$", "[.]",         "^a*?b+?$",   "c$",        "^[\\x61-\\x62]",
    };
    static const char alpha[] = "abc1.x z";
    const int na = (int)strlen(alpha);
    int checked = 0;
    for (size_t p = 0; p < sizeof pats / sizeof pats[0]; p++) {
        sbuf sch = {0};
        sb_put(&sch, "{\"type\":\"string\",\"pattern\":\"");
        for (const char *c = pats[p]; *c; c++) {
            char t[3] = {*c, 0, 0};
            if (*c == '\\' || *c == '"') {
                t[0] = '\\';
                t[1] = *c;
            }
            sb_put(&sch, t);
        }
        sb_put(&sch, "\"}");
        char err[512];
        rt_grammar *g = compile(sch.s, err, sizeof err);
        CHECK(g, "pattern %s: %s", pats[p], err);
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)pats[p], PCRE2_ZERO_TERMINATED,
                                       PCRE2_DOLLAR_ENDONLY, &ec, &eo, NULL);
        CHECK(re, "pcre2 cannot compile %s", pats[p]);
        if (g && re) {
            pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
            for (int len = 0; len <= 4; len++) {
                int total = 1;
                for (int i = 0; i < len; i++)
                    total *= na;
                for (int idx = 0; idx < total; idx++) {
                    char s[8], q[16];
                    int v = idx;
                    for (int i = 0; i < len; i++, v /= na)
                        s[i] = alpha[v % na];
                    s[len] = 0;
                    snprintf(q, sizeof q, "\"%s\"", s);
                    bool want =
                        pcre2_match(re, (PCRE2_SPTR)s, (PCRE2_SIZE)len, 0, 0, md, NULL) >= 0;
                    bool got = accepts(g, q);
                    CHECK(got == want, "pattern %s on \"%s\": grammar %d, pcre2 %d", pats[p], s,
                          got, want);
                    checked++;
                }
            }
            pcre2_match_data_free(md);
        }
        pcre2_code_free(re);
        rt_grammar_free(g);
        free(sch.s);
    }
    printf("patterns: %d strings checked against PCRE2\n", checked);
}

/* Additional properties never take a named key, whatever its spelling. */
static void test_additional_keys(void)
{
    char err[512];
    rt_grammar *g = compile("{\"type\":\"object\",\"properties\":{\"foo\":{\"type\":\"integer\"},"
                            "\"fob\":{\"type\":\"integer\"},\"a\\nb\":{\"type\":\"null\"}},"
                            "\"additionalProperties\":{\"type\":\"string\"}}",
                            err, sizeof err);
    CHECK(g, "additional keys: %s", err);
    if (!g) return;
    static const struct {
        const char *text;
        bool ok;
    } t[] = {
        {"{\"foo\":1}", true},
        {"{\"foo\":\"x\"}", false},
        {"{\"fo\":\"x\"}", true},
        {"{\"foox\":\"x\"}", true},
        {"{\"fob\":\"x\"}", false},
        {"{\"foc\":\"x\"}", true},
        {"{\"\":\"x\"}", true},
        {"{\"f\\u006fo\":\"x\"}", false},
        {"{\"a\\nb\":null}", true},
        {"{\"a\\nb\":\"x\"}", false},
        {"{\"a\\u000ab\":\"x\"}", false},
        {"{\"a\\tb\":\"x\"}", true},
        {"{\"x\":\"1\",\"foo\":2,\"y\":\"2\",\"fob\":3}", true},
        {"{\"fob\":3,\"foo\":2}", false}, /* fixed order: schema order */
        {"{\"foo\":1,,\"x\":\"1\"}", false},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        CHECK(accepts(g, t[i].text) == t[i].ok, "%s should be %s", t[i].text,
              t[i].ok ? "accepted" : "rejected");
    rt_grammar_free(g);
}

/* Counts above one GBNF repetition (10000) are split into blocks: exact. */
static void test_large_counts(void)
{
    static const struct {
        long min, max;
        long lens[8];
        int n;
    } cases[] = {
        {0, 25000, {0, 1, 999, 1000, 1001, 24999, 25000, 25001}, 8},
        {12001, 23456, {12000, 12001, 20000, 22999, 23000, 23456, 23457, 23999}, 8},
        {10500, -1, {10499, 10500, 31000, 0, 0, 0, 0, 0}, 3},
        {0, 100, {0, 63, 64, 65, 81, 99, 100, 101}, 8},
        {70, 70, {69, 70, 71, 0, 0, 0, 0, 0}, 3},
        {65, 200, {64, 65, 66, 129, 130, 199, 200, 201}, 8},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char schema[128], err[512];
        if (cases[c].max >= 0)
            snprintf(schema, sizeof schema,
                     "{\"type\":\"string\",\"minLength\":%ld,\"maxLength\":%ld}", cases[c].min,
                     cases[c].max);
        else
            snprintf(schema, sizeof schema, "{\"type\":\"string\",\"minLength\":%ld}",
                     cases[c].min);
        rt_grammar *g = compile(schema, err, sizeof err);
        CHECK(g, "%s: %s", schema, err);
        if (!g) continue;
        for (int i = 0; i < cases[c].n; i++) {
            long len = cases[c].lens[i];
            char *t = malloc((size_t)len + 3);
            t[0] = '"';
            memset(t + 1, 'x', (size_t)len);
            t[len + 1] = '"';
            t[len + 2] = 0;
            bool want = len >= cases[c].min && (cases[c].max < 0 || len <= cases[c].max);
            CHECK(accepts(g, t) == want, "%s: length %ld %s", schema, len,
                  want ? "rejected" : "accepted");
            free(t);
        }
        rt_grammar_free(g);
    }
}

/* 300 prefixItems: positions nest, so the compiler cuts them into rules. */
static void test_long_tuple(void)
{
    sbuf s = {0}, v = {0};
    sb_put(&s, "{\"type\":\"array\",\"items\":false,\"prefixItems\":[");
    sb_put(&v, "[");
    for (int i = 0; i < 300; i++) {
        char t[64];
        snprintf(t, sizeof t, "%s{\"const\":%d}", i ? "," : "", i);
        sb_put(&s, t);
        snprintf(t, sizeof t, "%s%d", i ? "," : "", i);
        sb_put(&v, t);
    }
    sb_put(&s, "]}");
    sb_put(&v, "]");
    char err[512];
    rt_grammar *g = compile(s.s, err, sizeof err);
    CHECK(g, "300 prefixItems: %s", err);
    if (g) {
        CHECK(accepts(g, v.s), "300-item tuple rejected");
        CHECK(accepts(g, "[0,1,2]"), "short tuple prefix rejected");
        CHECK(!accepts(g, "[0,2]"), "wrong item accepted");
        v.s[v.n - 1] = ',';
        sb_put(&v, "300]");
        CHECK(!accepts(g, v.s), "301 items accepted with items: false");
        rt_grammar_free(g);
    }
    free(s.s);
    free(v.s);
}

/* Hostile sizes: refused cleanly, never a crash. */
static void test_hostile_sizes(void)
{
    sbuf s = {0};
    sb_put(&s, "{\"type\":\"string\",\"pattern\":\"");
    for (int i = 0; i < 5000; i++)
        sb_put(&s, "(");
    sb_put(&s, "a");
    for (int i = 0; i < 5000; i++)
        sb_put(&s, ")");
    sb_put(&s, "\"}");
    expect_refused(s.s, "groups nested deeper than 60");
    free(s.s);
    s = (sbuf){0};
    sb_put(&s, "{\"type\":\"object\",\"properties\":{\"");
    for (int i = 0; i < 20000; i++)
        sb_put(&s, "k");
    sb_put(&s, "\":{\"type\":\"integer\"}}");
    char *open_obj = malloc(s.n + 64), *closed = malloc(s.n + 64);
    snprintf(open_obj, s.n + 64, "%s}", s.s);
    snprintf(closed, s.n + 64, "%s,\"additionalProperties\":false}", s.s);
    expect_refused(open_obj, "property names longer than 512 characters");
    char err[512];
    rt_grammar *g = compile(closed, err, sizeof err);
    CHECK(g, "20000-character property name, closed object: %s", err);
    if (g) {
        sbuf v = {0};
        sb_put(&v, "{\"");
        for (int i = 0; i < 20000; i++)
            sb_put(&v, "k");
        sb_put(&v, "\":7}");
        CHECK(accepts(g, v.s), "long property name rejected");
        free(v.s);
        rt_grammar_free(g);
    }
    free(open_obj);
    free(closed);
    free(s.s);
}

/* Byte mutations of valid schemas: every outcome is a clean refusal or a
 * grammar that loads (a compiled grammar the loader rejects is a bug). */
static void test_mutations(void)
{
    static const char *const seeds[] = {
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\",\"minimum\":-5},"
        "\"b\":{\"type\":\"array\",\"items\":{\"enum\":[\"x\",1,null]},\"maxItems\":3}},"
        "\"required\":[\"a\"],\"additionalProperties\":{\"type\":\"string\",\"maxLength\":9}}",
        "{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"k\":{\"const\":\"p\"},\"n\":{"
        "\"type\":\"number\",\"exclusiveMaximum\":2.5}},\"required\":[\"k\"]},{\"type\":"
        "\"string\",\"pattern\":\"^[a-f0-9]{2,4}(-x)?$\"}]}",
        "{\"$defs\":{\"t\":{\"type\":\"object\",\"properties\":{\"c\":{\"type\":\"array\","
        "\"items\":{\"$ref\":\"#/$defs/t\"}}},\"dependentRequired\":{\"c\":[\"d\"]}}},"
        "\"$ref\":\"#/$defs/t\",\"not\":{\"type\":\"null\"}}",
    };
    uint64_t st = 0x9E3779B97F4A7C15ull;
    int compiled = 0, total = 0;
    for (int round = 0; round < 3000; round++) {
        const char *seed = seeds[round % 3];
        size_t n = strlen(seed);
        char *m = malloc(n + 8);
        memcpy(m, seed, n + 1);
        for (int k = 0; k < 1 + round % 3; k++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(st >> 33) % n;
            static const char pool[] = "{}[]\":,0123456789-.eaxz\\^$()|*+?";
            char ch = pool[(st >> 20) % (sizeof pool - 1)];
            switch ((st >> 40) % 3) {
            case 0:
                m[at] = ch;
                break;
            case 1:
                memmove(m + at, m + at + 1, n - at);
                n--;
                break;
            default:
                memmove(m + at + 1, m + at, n - at + 1);
                m[at] = ch;
                n++;
            }
            if (n == 0) break;
        }
        char err[512], *g = NULL;
        total++;
        if (rt_json_schema_to_gbnf(m, n, &g, err, sizeof err) == 0) {
            compiled++;
            rt_grammar *gr = NULL;
            CHECK(rt_grammar_from_gbnf(g, strlen(g), "root", &gr, err, sizeof err) == 0,
                  "mutated schema %s compiles to a grammar that does not load: %s", m, err);
            rt_grammar_free(gr);
        } else {
            CHECK(err[0] != 0, "refusal without a message: %s", m);
        }
        free(g);
        free(m);
    }
    printf("mutations: %d schemas, %d compiled (all loaded), the rest refused with a message\n",
           total, compiled);
}

static void test_deterministic(void)
{
    const char *s =
        "{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"k\":{\"const\":1},\"v\":{"
        "\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}},\"required\":[\"k\"]},{\"type\":"
        "\"string\",\"pattern\":\"^[a-z]+$\"}]}";
    char err[512], *a = NULL, *b = NULL;
    CHECK(rt_json_schema_to_gbnf(s, strlen(s), &a, err, sizeof err) == 0, "%s", err);
    CHECK(rt_json_schema_to_gbnf(s, strlen(s), &b, err, sizeof err) == 0, "%s", err);
    CHECK(a && b && !strcmp(a, b), "two compiles of one schema differ");
    free(a);
    free(b);
}

int main(void)
{
    test_huge_enum();
    test_deep_nesting();
    test_empty_strings();
    test_unicode();
    test_recursion();
    test_refusals();
    test_malformed();
    test_integer_bounds();
    test_number_bounds();
    test_const_numbers();
    test_not();
    test_contains();
    test_dependencies();
    test_oneof_closed();
    test_property_counts();
    test_patterns_vs_pcre2();
    test_additional_keys();
    test_large_counts();
    test_long_tuple();
    test_hostile_sizes();
    test_mutations();
    test_deterministic();
    if (check_fail_count) {
        fprintf(stderr, "%d failures\n", check_fail_count);
        return 1;
    }
    printf("all schema adversarial checks passed\n");
    return 0;
}
