/* test_schema_suite.c - the JSON Schema Test Suite (draft 2020-12) against
 * the JSON Schema -> GBNF compiler and the grammar matcher.
 *
 * For every case whose schema compiles (the subset documented in
 * runtime/grammar/json_schema.c), each instance is serialized compactly and
 * fed to the compiled grammar: an instance marked valid must be accepted,
 * one marked invalid rejected. JSON objects are unordered while the grammar
 * fixes one member order (the schema's), so an instance counts as accepted
 * when some order of its members is accepted, and an invalid instance must
 * be rejected in every order. Numbers are written canonically (integral
 * values as integers, others as the shortest round-trip decimal without
 * exponent). Cases the
 * compiler refuses are counted as unsupported, with the refusal reasons.
 * Exits 1 on any mismatch within the supported cases.
 *
 * usage: test_schema_suite SUITE_DIR        run and print the coverage table
 *        test_schema_suite --gbnf FILE      print the grammar for a schema
 *        test_schema_suite --check CASES.jsonl  accept 1/0 per instance */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

/* cJSON ends strings at U+0000: the raw text's \u0000 escapes are swapped
 * for this private-use marker before parsing and written back as \u0000. */
#define NUL_MARK "\xee\x80\x80\xee\x80\x81"
#define NUL_MARK_ESC "\\uE000\\uE001"
#define MAX_ORDERS 2000

typedef struct {
    char *s;
    size_t n, cap;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        while (nc < b->n + n + 1)
            nc *= 2;
        char *p = realloc(b->s, nc);
        if (!p) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
        b->s = p;
        b->cap = nc;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void sb_put(sbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    sbuf b = {0};
    char tmp[65536];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0)
        sb_putn(&b, tmp, k);
    fclose(f);
    if (!b.s) sb_put(&b, "");
    *len = b.n;
    return b.s;
}

static void put_num(sbuf *b, double d)
{
    char t[400];
    if (d == 0) {
        sb_put(b, "0");
        return;
    }
    if (floor(d) == d) {
        snprintf(t, sizeof t, "%.0f", d);
        sb_put(b, t);
        return;
    }
    /* shortest round-trip digits, written without exponent */
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(t, sizeof t, "%.*e", prec - 1, d);
        if (strtod(t, NULL) == d) break;
    }
    snprintf(t, sizeof t, "%.*e", prec - 1, d);
    char dig[32];
    int nd = 0, ex = atoi(strchr(t, 'e') + 1);
    for (const char *p = t; *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') dig[nd++] = *p;
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    if (d < 0) sb_put(b, "-");
    if (ex < 0) {
        sb_put(b, "0.");
        for (int z = 0; z < -ex - 1; z++)
            sb_put(b, "0");
        sb_putn(b, dig, (size_t)nd);
    } else {
        for (int i = 0; i <= ex; i++)
            sb_putn(b, i < nd ? &dig[i] : "0", 1);
        if (ex + 1 < nd) {
            sb_put(b, ".");
            sb_putn(b, dig + ex + 1, (size_t)(nd - ex - 1));
        }
    }
}

static void put_str(sbuf *b, const char *s)
{
    sb_put(b, "\"");
    size_t ml = strlen(NUL_MARK);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!strncmp(p, NUL_MARK, ml)) {
            sb_put(b, "\\u0000");
            p += ml - 1;
            continue;
        }
        char t[8];
        switch (c) {
        case '"':
            sb_put(b, "\\\"");
            break;
        case '\\':
            sb_put(b, "\\\\");
            break;
        case '\b':
            sb_put(b, "\\b");
            break;
        case '\f':
            sb_put(b, "\\f");
            break;
        case '\n':
            sb_put(b, "\\n");
            break;
        case '\r':
            sb_put(b, "\\r");
            break;
        case '\t':
            sb_put(b, "\\t");
            break;
        default:
            if (c < 0x20) {
                snprintf(t, sizeof t, "\\u%04x", c);
                sb_put(b, t);
            } else {
                sb_putn(b, p, 1);
            }
        }
    }
    sb_put(b, "\"");
}

/* Serializations of v: every member order of every object, up to cap
 * strings (*complete = false when cut). Each is appended to out[]. */
typedef struct {
    char **v;
    size_t n, cap;
} slist;

static void sl_push(slist *l, char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v) exit(2);
    }
    l->v[l->n++] = s;
}

static void sl_free(slist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    *l = (slist){0};
}

/* Cartesian product of parts[0..k) separated by sep, wrapped in open/close. */
static void product(slist *parts, size_t k, const char *open, const char *close, slist *out,
                    bool *complete)
{
    size_t total = 1;
    for (size_t i = 0; i < k; i++) {
        total *= parts[i].n;
        if (total > MAX_ORDERS) {
            total = MAX_ORDERS;
            *complete = false;
        }
    }
    size_t *idx = calloc(k + 1, sizeof *idx);
    for (size_t t = 0; t < total; t++) {
        sbuf b = {0};
        sb_put(&b, open);
        for (size_t i = 0; i < k; i++) {
            if (i) sb_put(&b, ",");
            sb_put(&b, parts[i].v[idx[i]]);
        }
        sb_put(&b, close);
        sl_push(out, b.s);
        for (size_t i = k; i-- > 0;) {
            if (++idx[i] < parts[i].n) break;
            idx[i] = 0;
        }
    }
    free(idx);
}

static void serialize(const cJSON *v, slist *out, bool *complete)
{
    sbuf b = {0};
    if (cJSON_IsNull(v)) {
        sb_put(&b, "null");
    } else if (cJSON_IsBool(v)) {
        sb_put(&b, cJSON_IsTrue(v) ? "true" : "false");
    } else if (cJSON_IsNumber(v)) {
        put_num(&b, v->valuedouble);
    } else if (cJSON_IsString(v)) {
        put_str(&b, v->valuestring);
    } else if (cJSON_IsArray(v)) {
        size_t k = (size_t)cJSON_GetArraySize(v), i = 0;
        slist *parts = calloc(k + 1, sizeof *parts);
        for (const cJSON *c = v->child; c; c = c->next)
            serialize(c, &parts[i++], complete);
        product(parts, k, "[", "]", out, complete);
        for (i = 0; i < k; i++)
            sl_free(&parts[i]);
        free(parts);
        return;
    } else {
        /* members as "key":value strings, then every permutation */
        size_t k = (size_t)cJSON_GetArraySize(v), i = 0;
        slist *mem = calloc(k + 1, sizeof *mem);
        for (const cJSON *c = v->child; c; c = c->next, i++) {
            slist vals = {0};
            serialize(c, &vals, complete);
            for (size_t j = 0; j < vals.n; j++) {
                sbuf m = {0};
                put_str(&m, c->string);
                sb_put(&m, ":");
                sb_put(&m, vals.v[j]);
                sl_push(&mem[i], m.s);
            }
            sl_free(&vals);
        }
        size_t *perm = calloc(k + 1, sizeof *perm);
        for (i = 0; i < k; i++)
            perm[i] = i;
        size_t made = 0;
        while (true) {
            slist *parts = calloc(k + 1, sizeof *parts);
            for (i = 0; i < k; i++)
                parts[i] = mem[perm[i]];
            product(parts, k, "{", "}", out, complete);
            free(parts);
            if (++made >= MAX_ORDERS) {
                *complete = false;
                break;
            }
            /* next permutation */
            size_t a = k;
            if (k < 2) break;
            for (a = k - 1; a > 0 && perm[a - 1] >= perm[a]; a--) {
            }
            if (a == 0) break;
            size_t c = k - 1;
            while (perm[c] <= perm[a - 1])
                c--;
            size_t t = perm[a - 1];
            perm[a - 1] = perm[c];
            perm[c] = t;
            for (size_t l = a, r = k - 1; l < r; l++, r--) {
                t = perm[l];
                perm[l] = perm[r];
                perm[r] = t;
            }
        }
        free(perm);
        for (i = 0; i < k; i++)
            sl_free(&mem[i]);
        free(mem);
        return;
    }
    sl_push(out, b.s);
}

/* The schema as text, compactly (members in their order). */
static char *schema_text(const cJSON *s)
{
    slist one = {0};
    bool complete = true;
    /* a schema is one serialization: serialize each object in data order */
    sbuf b = {0};
    if (cJSON_IsObject(s)) {
        sb_put(&b, "{");
        for (const cJSON *c = s->child; c; c = c->next) {
            put_str(&b, c->string);
            sb_put(&b, ":");
            char *t = schema_text(c);
            sb_put(&b, t);
            free(t);
            if (c->next) sb_put(&b, ",");
        }
        sb_put(&b, "}");
        return b.s;
    }
    if (cJSON_IsArray(s)) {
        sb_put(&b, "[");
        for (const cJSON *c = s->child; c; c = c->next) {
            char *t = schema_text(c);
            sb_put(&b, t);
            free(t);
            if (c->next) sb_put(&b, ",");
        }
        sb_put(&b, "]");
        return b.s;
    }
    serialize(s, &one, &complete);
    char *r = one.v[0];
    one.v[0] = NULL;
    one.n = 0;
    free(one.v);
    return r;
}

static bool grammar_accepts(const rt_grammar *g, const char *text)
{
    rt_grammar_state *st = rt_grammar_state_new(g);
    if (!st) exit(2);
    bool ok = rt_grammar_state_accept(st, text, strlen(text)) == 0 && rt_grammar_state_can_end(st);
    rt_grammar_state_free(st);
    return ok;
}

/* refusal reasons: the keyword named in the message */
typedef struct {
    char kw[64];
    int n;
} reason;

static void reason_add(reason *r, int *nr, const char *err)
{
    char kw[64] = "other";
    const char *q = strstr(err, "keyword \"");
    if (q) {
        q += 9;
        size_t k = strcspn(q, "\"");
        snprintf(kw, sizeof kw, "%.*s", (int)(k < 60 ? k : 60), q);
    } else {
        /* "/ptr/kw: ..." - the last pointer token */
        const char *colon = strstr(err, ": ");
        if (colon && err[0] == '/') {
            const char *s = colon;
            while (s > err && s[-1] != '/')
                s--;
            snprintf(kw, sizeof kw, "%.*s", (int)(colon - s < 60 ? colon - s : 60), s);
        }
    }
    for (int i = 0; i < *nr; i++)
        if (!strcmp(r[i].kw, kw)) {
            r[i].n++;
            return;
        }
    if (*nr < 128) {
        snprintf(r[*nr].kw, sizeof r[*nr].kw, "%s", kw);
        r[(*nr)++].n = 1;
    }
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int print_gbnf(const char *path)
{
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(stderr, "%s: cannot read\n", path);
        return 2;
    }
    char err[512], *g = NULL;
    int rc = rt_json_schema_to_gbnf(text, len, &g, err, sizeof err);
    free(text);
    if (rc) {
        fprintf(stderr, "refused: %s\n", err);
        return 1;
    }
    fputs(g, stdout);
    rt_grammar *gr = NULL;
    if (rt_grammar_from_gbnf(g, strlen(g), "root", &gr, err, sizeof err)) {
        fprintf(stderr, "grammar does not load: %s\n", err);
        free(g);
        return 1;
    }
    rt_grammar_free(gr);
    free(g);
    return 0;
}

/* --check CASES: one {"schema": S, "instances": [...]} per line; prints per
 * line "refused: why", or one 1/0 per instance (1 = the grammar accepts it
 * in some member order). For differential tests against other validators. */
static int check_cases(const char *path)
{
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(stderr, "%s: cannot read\n", path);
        return 2;
    }
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *c = cJSON_Parse(line);
        const cJSON *sch = cJSON_GetObjectItemCaseSensitive(c, "schema");
        const cJSON *inst = cJSON_GetObjectItemCaseSensitive(c, "instances");
        if (!sch || !cJSON_IsArray(inst)) {
            fprintf(stderr, "bad case line: %.200s\n", line);
            return 2;
        }
        char *stext = schema_text(sch), err[512];
        rt_grammar *g = NULL;
        if (rt_grammar_from_json_schema(stext, strlen(stext), &g, err, sizeof err)) {
            printf("refused: %s\n", err);
        } else {
            for (const cJSON *v = inst->child; v; v = v->next) {
                slist ser = {0};
                bool complete = true;
                serialize(v, &ser, &complete);
                bool acc = false;
                for (size_t i = 0; i < ser.n && !acc; i++)
                    acc = grammar_accepts(g, ser.v[i]);
                putchar(acc ? '1' : '0');
                sl_free(&ser);
            }
            putchar('\n');
            rt_grammar_free(g);
        }
        free(stext);
        cJSON_Delete(c);
    }
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--gbnf")) return print_gbnf(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "--check")) return check_cases(argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: test_schema_suite SUITE_DIR | --gbnf SCHEMA.json\n");
        return 2;
    }
    const char *ci = getenv("CI");
    bool under_ci = ci && !strcmp(ci, "true");
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "%s: JSON Schema Test Suite not found%s\n", argv[1],
                under_ci ? " (required under CI=true)" : ", skipping");
        return under_ci ? 1 : 77;
    }
    char **files = NULL;
    size_t nf = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l > 5 && !strcmp(de->d_name + l - 5, ".json")) {
            files = realloc(files, (nf + 1) * sizeof *files);
            files[nf++] = strdup(de->d_name);
        }
    }
    closedir(d);
    if (!nf) {
        fprintf(stderr, "%s: no test files\n", argv[1]);
        return under_ci ? 1 : 77;
    }
    qsort(files, nf, sizeof *files, name_cmp);
    int cases = 0, supported = 0, tests = 0, tests_run = 0, passed = 0, unordered = 0;
    int mismatches = 0;
    reason reasons[128];
    int nr = 0;
    printf("%-28s %6s %9s %6s %6s\n", "file", "cases", "supported", "tests", "pass");
    for (size_t fi = 0; fi < nf; fi++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], files[fi]);
        size_t len;
        char *raw = read_file(path, &len);
        if (!raw) {
            fprintf(stderr, "%s: cannot read\n", path);
            return 1;
        }
        /* \u0000 -> marker (see NUL_MARK) */
        sbuf fixed = {0};
        for (size_t i = 0; i < len; i++) {
            if (raw[i] == '\\' && i + 1 < len && raw[i + 1] == '\\') {
                sb_putn(&fixed, raw + i, 2);
                i++;
            } else if (i + 6 <= len && !strncmp(raw + i, "\\u0000", 6)) {
                sb_put(&fixed, NUL_MARK_ESC);
                i += 5;
            } else {
                sb_putn(&fixed, raw + i, 1);
            }
        }
        free(raw);
        cJSON *doc = cJSON_Parse(fixed.s);
        free(fixed.s);
        if (!cJSON_IsArray(doc)) {
            fprintf(stderr, "%s: not a test-suite file\n", path);
            return 1;
        }
        int f_cases = 0, f_sup = 0, f_tests = 0, f_pass = 0;
        for (const cJSON *c = doc->child; c; c = c->next) {
            const cJSON *schema = cJSON_GetObjectItemCaseSensitive(c, "schema");
            const cJSON *ts = cJSON_GetObjectItemCaseSensitive(c, "tests");
            const cJSON *desc = cJSON_GetObjectItemCaseSensitive(c, "description");
            f_cases++;
            int nt = cJSON_GetArraySize(ts);
            tests += nt;
            char *stext = schema_text(schema);
            char err[512], *gbnf = NULL;
            if (rt_json_schema_to_gbnf(stext, strlen(stext), &gbnf, err, sizeof err)) {
                reason_add(reasons, &nr, err);
                if (getenv("SCHEMA_SUITE_VERBOSE"))
                    printf("  refused %s / %s: %s\n", files[fi], desc->valuestring, err);
                free(stext);
                continue;
            }
            rt_grammar *g = NULL;
            if (rt_grammar_from_gbnf(gbnf, strlen(gbnf), "root", &g, err, sizeof err)) {
                printf("MISMATCH %s / %s: the compiled grammar does not load: %s\n%s\n", files[fi],
                       desc->valuestring, err, gbnf);
                mismatches++;
                free(gbnf);
                free(stext);
                continue;
            }
            f_sup++;
            for (const cJSON *t = ts->child; t; t = t->next) {
                const cJSON *data = cJSON_GetObjectItemCaseSensitive(t, "data");
                bool valid = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "valid"));
                const cJSON *td = cJSON_GetObjectItemCaseSensitive(t, "description");
                slist ser = {0};
                bool complete = true;
                serialize(data, &ser, &complete);
                if (!complete) unordered++;
                size_t acc = 0, first_acc = 0;
                for (size_t i = 0; i < ser.n; i++)
                    if (grammar_accepts(g, ser.v[i]) && !acc++) first_acc = i;
                bool ok = valid ? acc > 0 : acc == 0;
                f_tests++;
                if (ok) {
                    f_pass++;
                } else {
                    mismatches++;
                    printf("MISMATCH %s / %s / %s: instance %s is %s but the grammar %s it\n"
                           "  schema: %s\n",
                           files[fi], desc->valuestring, td->valuestring,
                           ser.v[valid ? 0 : first_acc], valid ? "valid" : "invalid",
                           valid ? "rejects" : "accepts", stext);
                    if (getenv("SCHEMA_SUITE_VERBOSE")) printf("%s\n", gbnf);
                }
                sl_free(&ser);
            }
            rt_grammar_free(g);
            free(gbnf);
            free(stext);
        }
        printf("%-28s %6d %9d %6d %6d\n", files[fi], f_cases, f_sup, f_tests, f_pass);
        cases += f_cases;
        supported += f_sup;
        tests_run += f_tests;
        passed += f_pass;
        cJSON_Delete(doc);
        free(files[fi]);
    }
    free(files);
    printf("%-28s %6d %9d %6d %6d\n", "TOTAL", cases, supported, tests_run, passed);
    printf("files %zu, cases %d, cases supported %d (%.1f%%), tests in the suite %d, tests run %d, "
           "passed %d, pass rate %.2f%%\n",
           nf, cases, supported, 100.0 * supported / (cases ? cases : 1), tests, tests_run, passed,
           100.0 * passed / (tests_run ? tests_run : 1));
    if (unordered)
        printf("note: %d instances had more than %d member orders; the first %d were tried\n",
               unordered, MAX_ORDERS, MAX_ORDERS);
    printf("refusals by keyword:");
    for (int i = 0; i < nr; i++)
        printf(" %s=%d", reasons[i].kw, reasons[i].n);
    printf("\n");
    if (mismatches) {
        printf("FAIL: %d mismatches within supported cases\n", mismatches);
        return 1;
    }
    return 0;
}
