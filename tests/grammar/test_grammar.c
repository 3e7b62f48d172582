/* test_grammar.c - the grammar engine: GBNF parsing and its errors, the
 * byte-level matcher (repetitions, classes, escapes, partial UTF-8, can_end /
 * done / complete), hostile inputs (huge alternations, deep nesting), and on
 * the fixture models (BPE and SPM tokenizers): every example grammar loads
 * and constrains generation (output re-checked by an independent accept pass,
 * json.gbnf output parsed by cJSON), the fast token mask equals the
 * brute-force set over many random states, and end-of-generation tokens are
 * allowed exactly where the grammar may end.
 *
 * Plus a seeded mutation run over the fixture grammars (hostile input: no
 * crash, clean refusals, valid completions).
 *
 * usage: test_grammar unit | fixtures DIR | mask DIR | mutate DIR */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "grammar/grammar.h"
#include "model.h"
#include "rt.h"
#include "vocab.h"
#include "../common/check.h"
#include "../common/test_files.h"

static rt_grammar *compile(const char *src)
{
    char err[512] = "";
    rt_grammar *g = NULL;
    int rc = rt_grammar_from_gbnf(src, strlen(src), NULL, &g, err, sizeof err);
    CHECK(rc == 0 && g, "compile failed: %s\n--- grammar:\n%s", err, src);
    return g;
}

/* Does g accept s as a whole sentence? (fresh state, one accept call) */
static bool matches(const rt_grammar *g, const char *s, size_t n)
{
    rt_grammar_state *st = rt_grammar_state_new(g);
    bool ok = st && rt_grammar_state_accept(st, s, n) == 0 && rt_grammar_state_can_end(st);
    rt_grammar_state_free(st);
    return ok;
}

/* Same, byte by byte (partial UTF-8 sequences in between). */
static bool matches_bytewise(const rt_grammar *g, const char *s, size_t n)
{
    rt_grammar_state *st = rt_grammar_state_new(g);
    bool ok = st != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = rt_grammar_state_accept(st, s + i, 1) == 0;
    ok = ok && rt_grammar_state_can_end(st);
    rt_grammar_state_free(st);
    return ok;
}

static void expect_error(const char *src, const char *needle)
{
    char err[512] = "";
    rt_grammar *g = NULL;
    int rc = rt_grammar_from_gbnf(src, strlen(src), NULL, &g, err, sizeof err);
    CHECK(rc < 0 && !g, "grammar should be refused:\n%s", src);
    CHECK(strstr(err, needle) != NULL, "error '%s' should mention '%s'", err, needle);
    rt_grammar_free(g);
}

static void test_errors(void)
{
    expect_error("root ::= root \"a\" | \"b\"\n", "'root' is left-recursive");
    expect_error("root ::= expr\nexpr ::= term \"+\" | \"x\"\nterm ::= expr \"*\"\n",
                 "left-recursive");
    /* through a nullable prefix */
    expect_error("root ::= ws root \"a\" | \"b\"\nws ::= \" \"?\n", "'root' is left-recursive");
    expect_error("root ::= item\n", "undefined rule 'item'");
    expect_error("root ::= \"a\"\n  \nx ::= \"b\" undefined-thing\n",
                 "grammar 3:11: undefined rule");
    expect_error("root ::= \"a\\q\"\n", "bad escape '\\q'");
    expect_error("root ::= \"\\x4\"\n", "bad escape");
    expect_error("root ::= \"abc\n", "unterminated string");
    expect_error("root ::= [abc\n", "unterminated character class");
    expect_error("root ::= (\"a\" | \"b\"\n", "unclosed '('");
    expect_error("root ::= \"a\" )\n", "unbalanced ')'");
    expect_error("root ::= [z-a]\n", "out of order");
    expect_error("root ::= \"a\"{3,1}\n", "n < m");
    expect_error("root ::= \"a\"\nroot ::= \"b\"\n", "defined twice");
    expect_error("other ::= \"a\"\n", "no rule named 'root'");
    expect_error("root ::= <think>\n", "token references");
    expect_error("root ::= \"a\" root\n", "can never finish");
    expect_error("root ::= \"a\"{1,99999}\n", "repetition count");
    /* hostile nesting is refused, not a stack overflow */
    char deep[4096];
    size_t n = 0;
    n += (size_t)snprintf(deep + n, sizeof deep - n, "root ::= ");
    for (int i = 0; i < 1000; i++)
        deep[n++] = '(';
    deep[n++] = '"';
    deep[n++] = 'a';
    deep[n++] = '"';
    for (int i = 0; i < 1000; i++)
        deep[n++] = ')';
    deep[n++] = '\n';
    deep[n] = 0;
    expect_error(deep, "nested deeper");
}

static void test_matching(void)
{
    rt_grammar *g = compile("# comment line\n"
                            "root ::= greet ws name (\",\" ws name)* \"!\"?  # trailing\n"
                            "greet ::= \"hi\" | \"hello\"\n"
                            "name ::= [A-Z] [a-z]{1,3}\n"
                            "ws ::= [ \\t]*\n");
    if (g) {
        CHECK(matches(g, "hi Bob", 6), "simple");
        CHECK(matches(g, "hello  Al, Ann,Zed!", 19), "list with separators");
        CHECK(!matches(g, "hi Bobby", 8), "{1,3} upper bound");
        CHECK(!matches(g, "hi B", 4), "{1,3} lower bound");
        CHECK(!matches(g, "hey Bob", 7), "alternatives");
        rt_grammar_state *st = rt_grammar_state_new(g);
        CHECK(rt_grammar_state_accept(st, "hello Jo", 8) == 0, "prefix");
        CHECK(rt_grammar_state_can_end(st), "can end after a name");
        CHECK(!rt_grammar_state_done(st), "more may follow");
        CHECK(rt_grammar_state_accept(st, "x", 1) == 0, "third letter");
        CHECK(rt_grammar_state_accept(st, "zz", 2) < 0, "too many letters rejected");
        CHECK(rt_grammar_state_accept(st, "!", 1) == 0, "bang");
        CHECK(rt_grammar_state_done(st), "nothing after '!'");
        CHECK(rt_grammar_state_accept(st, "!", 1) < 0, "done rejects more");
        rt_grammar_state_free(st);
        /* a rejected accept leaves the state unchanged */
        st = rt_grammar_state_new(g);
        CHECK(rt_grammar_state_accept(st, "hi", 2) == 0, "hi");
        CHECK(rt_grammar_state_accept(st, " Bx1", 4) < 0, "bad tail");
        CHECK(rt_grammar_state_accept(st, " Bo", 3) == 0, "state unchanged after reject");
        char *tail = NULL;
        int tn = rt_grammar_state_complete(st, &tail);
        CHECK(tn == 0 && tail && tail[0] == 0, "already complete: '%s'", tail ? tail : "(null)");
        free(tail);
        rt_grammar_state_free(st);
        st = rt_grammar_state_new(g);
        CHECK(rt_grammar_state_accept(st, "hel", 3) == 0, "hel");
        tn = rt_grammar_state_complete(st, &tail);
        CHECK(tn > 0 && tail, "completion");
        if (tn > 0) {
            char full[64];
            snprintf(full, sizeof full, "hel%s", tail);
            CHECK(matches(g, full, strlen(full)), "completed text '%s' parses", full);
            CHECK(strlen(full) == 7, "shortest completion of 'hel' is 'lo' + name: '%s'", full);
        }
        free(tail);
        rt_grammar_state_free(st);
        rt_grammar_free(g);
    }
    /* escapes, negation, any-char, empty literal, empty alternative */
    g = compile("root ::= \"\\x41\\u00e9\\U0001F600\\t\\n\\\\\\\"\" [^a-c\\]] . \"\" end\n"
                "end ::= | \"\\-\"\n");
    if (g) {
        const char *ok1 = "A\xc3\xa9\xf0\x9f\x98\x80\t\n\\\"d\xe2\x82\xac";
        CHECK(matches(g, ok1, strlen(ok1)), "escapes and classes");
        CHECK(matches_bytewise(g, ok1, strlen(ok1)), "escapes byte by byte");
        const char *ok2 = "A\xc3\xa9\xf0\x9f\x98\x80\t\n\\\"]z-";
        CHECK(!matches(g, ok2, strlen(ok2)), "\\] excluded by the negated class");
        const char *ok3 = "A\xc3\xa9\xf0\x9f\x98\x80\t\n\\\"zz-";
        CHECK(matches(g, ok3, strlen(ok3)), "optional \\- end");
        const char *bad = "A\xc3\xa9\xf0\x9f\x98\x80\t\n\\\"bz";
        CHECK(!matches(g, bad, strlen(bad)), "negated class rejects b");
        rt_grammar_free(g);
    }
    /* partial UTF-8: a split code point is held until complete, and a lead
     * byte that cannot start any allowed code point is refused at once */
    g = compile("root ::= [ぁ-ゟ]+\n");
    if (g) {
        rt_grammar_state *st = rt_grammar_state_new(g);
        const char *hira = "\xe3\x81\x82"; /* あ U+3042 */
        CHECK(rt_grammar_state_accept(st, hira, 1) == 0, "lead byte");
        CHECK(!rt_grammar_state_can_end(st), "mid code point cannot end");
        char *tail = NULL;
        int tn = rt_grammar_state_complete(st, &tail);
        CHECK(tn == 2, "completion of a split code point is its 2 missing bytes (%d)", tn);
        free(tail);
        CHECK(rt_grammar_state_accept(st, hira + 1, 1) == 0, "2nd byte");
        CHECK(rt_grammar_state_accept(st, hira + 2, 1) == 0, "3rd byte");
        CHECK(rt_grammar_state_can_end(st), "complete code point");
        CHECK(rt_grammar_state_accept(st, "\xe4", 1) < 0, "U+4xxx lead byte refused");
        CHECK(rt_grammar_state_accept(st, "\xc3", 1) < 0, "2-byte lead refused");
        CHECK(rt_grammar_state_accept(st, "a", 1) < 0, "ASCII refused");
        CHECK(rt_grammar_state_accept(st, "\xe3\x82", 2) == 0, "split again");
        CHECK(rt_grammar_state_accept(st, "A", 1) < 0, "not a continuation byte");
        rt_grammar_state_free(st);
        rt_grammar_free(g);
    }
    /* huge alternation (an enum of 5000 values) */
    size_t cap = 5000 * 16 + 64, n = 0;
    char *src = malloc(cap);
    n += (size_t)snprintf(src + n, cap - n, "root ::= ");
    for (int i = 0; i < 5000; i++)
        n += (size_t)snprintf(src + n, cap - n, "%s\"v%d\"", i ? " | " : "", i * 7);
    snprintf(src + n, cap - n, "\n");
    g = compile(src);
    free(src);
    if (g) {
        CHECK(matches(g, "v34986", 6), "last enum value");
        CHECK(matches(g, "v0", 2), "first enum value");
        CHECK(!matches(g, "v1", 2), "non-member");
        CHECK(!matches(g, "v349", 4) || (349 % 7 == 0), "prefix of a member is not one");
        rt_grammar_free(g);
    }
    /* deep nesting of input: 2000 nested arrays through recursion */
    g = compile("root ::= arr\narr ::= \"[\" (arr (\",\" arr)*)? \"]\"\n");
    if (g) {
        char *deep = malloc(4001);
        for (int i = 0; i < 2000; i++) {
            deep[i] = '[';
            deep[2000 + i] = ']';
        }
        CHECK(matches(g, deep, 4000), "2000 nested arrays");
        CHECK(!matches(g, deep, 3999), "one bracket short");
        rt_grammar_state *st = rt_grammar_state_new(g);
        CHECK(rt_grammar_state_accept(st, deep, 2000) == 0, "open 2000");
        char *tail = NULL;
        int tn = rt_grammar_state_complete(st, &tail);
        CHECK(tn == 2000 && tail && tail[0] == ']' && tail[1999] == ']',
              "completion closes 2000 arrays (%d)", tn);
        free(tail);
        rt_grammar_state_free(st);
        free(deep);
        rt_grammar_free(g);
    }
    /* empty strings: a grammar whose only sentence is "" */
    g = compile("root ::= \"\"\n");
    if (g) {
        rt_grammar_state *st = rt_grammar_state_new(g);
        CHECK(rt_grammar_state_done(st), "empty language is done at once");
        CHECK(rt_grammar_state_accept(st, "a", 1) < 0, "nothing accepted");
        rt_grammar_state_free(st);
        rt_grammar_free(g);
    }
    /* a chain of 20000 rules, each "a" then the next (declared in the order a
     * fixpoint sweep resolves slowest): compiles, matches, and the shortest
     * completion walks all 20000 levels without recursing on the C stack */
    {
        size_t cap2 = 20000 * 40 + 64, n2 = 0;
        char *chain = malloc(cap2);
        n2 += (size_t)snprintf(chain + n2, cap2 - n2, "root ::= r0\n");
        for (int i = 0; i < 20000; i++)
            n2 += (size_t)snprintf(chain + n2, cap2 - n2, "r%d ::= \"a\" r%d | \"a\" r%d \"c\"\n",
                                   i, i + 1, i + 1);
        snprintf(chain + n2, cap2 - n2, "r20000 ::= \"b\"\n");
        g = compile(chain);
        free(chain);
        if (g) {
            rt_grammar_state *st = rt_grammar_state_new(g);
            CHECK(rt_grammar_state_accept(st, "aaa", 3) == 0, "chain prefix");
            char *tail = NULL;
            int tn = rt_grammar_state_complete(st, &tail);
            CHECK(tn == 19998, "completion of the chain is 19997 a's and b (%d)", tn);
            if (tn == 19998) CHECK(tail[0] == 'a' && tail[19997] == 'b', "completion text");
            free(tail);
            rt_grammar_state_free(st);
            rt_grammar_free(g);
        }
        /* 1500 rules each starting with the next: refused, not recursed into */
        cap2 = 1500 * 40 + 64;
        n2 = 0;
        chain = malloc(cap2);
        n2 += (size_t)snprintf(chain + n2, cap2 - n2, "root ::= r0\n");
        for (int i = 0; i < 1500; i++)
            n2 += (size_t)snprintf(chain + n2, cap2 - n2, "r%d ::= r%d \"x\" | \"y\"\n", i, i + 1);
        snprintf(chain + n2, cap2 - n2, "r1500 ::= \"b\"\n");
        expect_error(chain, "rules entered without consuming input");
        free(chain);
    }
    /* repetition of a multi-character literal applies to the whole literal */
    g = compile("root ::= \"ab\"{2} \"c\"*\n");
    if (g) {
        CHECK(matches(g, "abab", 4), "ab{2}");
        CHECK(matches(g, "ababccc", 7), "c*");
        CHECK(!matches(g, "abb", 3), "not b{2}");
        rt_grammar_free(g);
    }
}

static const char *grammar_files[] = {"arithmetic", "c",    "chess",    "english",
                                      "japanese",   "json", "json_arr", "list"};
static const char *models[] = {"qwen3moe/qwen3moe-q8_0.gguf", "mixtral/mixtral-q8_0.gguf",
                               "deepseek2/deepseek2-q8_0.gguf"};

static rt_grammar *load_fixture_grammar(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/grammars/%s.gbnf", dir, name);
    size_t len = 0;
    char *src = test_file_read(path, &len);
    CHECK(src != NULL, "cannot read %s", path);
    if (!src) return NULL;
    char err[512] = "";
    rt_grammar *g = NULL;
    CHECK(rt_grammar_from_gbnf(src, len, NULL, &g, err, sizeof err) == 0, "%s: %s", path, err);
    free(src);
    return g;
}

typedef struct {
    const rt_model *m;
    const rt_grammar *g;
    char text[2048];
    int rc;
} thread_job;

/* Masked sampling over generated logits (no forward pass): the trie is built
 * lazily by whichever thread gets there first, the grammar is shared. */
static void *thread_sample(void *arg)
{
    thread_job *j = arg;
    char err[256];
    int32_t nv = rt_model_n_vocab(j->m);
    float *logits = malloc(sizeof(float) * (size_t)nv);
    rt_sampler_params sp = rt_sampler_default_params();
    sp.temperature = 1.0f;
    sp.seed = 99;
    rt_sampler *smp = rt_sampler_new(&sp);
    j->rc = rt_sampler_set_grammar(smp, j->m, j->g, err, sizeof err);
    size_t tl = 0;
    uint64_t x = 42;
    for (int step = 0; step < 200 && j->rc == 0; step++) {
        if (rt_grammar_state_done(rt_sampler_grammar_state(smp))) break;
        for (int32_t i = 0; i < nv; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            logits[i] = (float)(x >> 40) * 1e-6f;
        }
        int32_t id = rt_sampler_sample(smp, logits, nv, NULL, 0);
        if (id < 0 || rt_model_is_eog(j->m, id)) break;
        char piece[256];
        int n = rt_token_piece(j->m, id, piece, sizeof piece);
        if (n <= 0 || tl + (size_t)n >= sizeof j->text) break;
        memcpy(j->text + tl, piece, (size_t)n);
        tl += (size_t)n;
    }
    j->text[tl] = 0;
    rt_sampler_free(smp);
    free(logits);
    return NULL;
}

static void check_threads(const char *dir)
{
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/models/%s", dir, models[0]);
    rt_model *m = NULL;
    rt_load_params lp = {.n_threads = 1};
    if (rt_model_load(path, &lp, &m, err, sizeof err) != 0) {
        CHECK(0, "%s", err);
        return;
    }
    rt_grammar *g = load_fixture_grammar(dir, "json");
    thread_job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].m = m;
        jobs[i].g = g;
        pthread_create(&th[i], NULL, thread_sample, &jobs[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        CHECK(jobs[i].rc == 0, "thread %d: set_grammar failed", i);
        CHECK(strcmp(jobs[i].text, jobs[0].text) == 0, "thread %d diverged: '%s' vs '%s'", i,
              jobs[i].text, jobs[0].text);
    }
    CHECK(strlen(jobs[0].text) > 0, "threads produced nothing");
    rt_grammar_state *st = g ? rt_grammar_state_new(g) : NULL;
    CHECK(st && rt_grammar_state_accept(st, jobs[0].text, strlen(jobs[0].text)) == 0,
          "threaded output is a prefix of the grammar: '%s'", jobs[0].text);
    rt_grammar_state_free(st);
    rt_grammar_free(g);
    rt_model_free(m);
}

static int run_fixtures(const char *dir)
{
    check_threads(dir);
    char path[1024], err[512];
    for (size_t mi = 0; mi < sizeof models / sizeof *models; mi++) {
        snprintf(path, sizeof path, "%s/models/%s", dir, models[mi]);
        rt_model *m = NULL;
        rt_load_params lp = {.n_threads = 1};
        if (rt_model_load(path, &lp, &m, err, sizeof err) != 0) {
            CHECK(0, "%s", err);
            continue;
        }
        for (size_t gi = 0; gi < sizeof grammar_files / sizeof *grammar_files; gi++) {
            rt_grammar *g = load_fixture_grammar(dir, grammar_files[gi]);
            if (!g) continue;
            for (int mode = 0; mode < 2; mode++) { /* greedy, then temperature 1 */
                rt_session *s = NULL;
                CHECK(rt_session_new(m, 512, &s, err, sizeof err) == 0, "%s", err);
                rt_sampler_params sp = rt_sampler_default_params();
                sp.temperature = mode ? 1.0f : 0.0f;
                sp.seed = 7 + gi;
                rt_sampler *smp = rt_sampler_new(&sp);
                CHECK(rt_sampler_set_grammar(smp, m, g, err, sizeof err) == 0, "%s", err);
                int32_t *prompt = NULL, *out = NULL;
                size_t n_prompt = 0, n_out = 0;
                char *text = NULL;
                rt_tokenize(m, "Output:", 7, true, false, &prompt, &n_prompt, err, sizeof err);
                rt_generate_params gp = {.n_predict = 40, .stop_at_eog = true};
                int rc = rt_generate(s, smp, prompt, n_prompt, &gp, &out, &n_out, &text, err,
                                     sizeof err);
                CHECK(rc == 0, "%s/%s: %s", models[mi], grammar_files[gi], err);
                if (rc == 0) {
                    size_t tl = strlen(text);
                    CHECK(tl > 0 || strcmp(grammar_files[gi], "c") == 0,
                          "%s/%s mode %d: empty output", models[mi], grammar_files[gi], mode);
                    CHECK(matches(g, text, tl), "%s/%s mode %d: output does not parse: '%s'",
                          models[mi], grammar_files[gi], mode, text);
                    /* the returned ids spell the text (completion tokens included) */
                    size_t pl = 0;
                    char *spelled = malloc(tl + 1 + 64 * n_out);
                    for (size_t i = 0; i < n_out; i++) {
                        int k = rt_token_piece(m, out[i], spelled + pl, 64);
                        if (k > 0) pl += (size_t)k;
                    }
                    CHECK(pl == tl && memcmp(spelled, text, tl) == 0,
                          "%s/%s: ids do not spell the text", models[mi], grammar_files[gi]);
                    free(spelled);
                    CHECK(rt_session_pos(s) == (int32_t)(n_prompt + n_out),
                          "session holds prompt + ids");
                    if (strncmp(grammar_files[gi], "json", 4) == 0) {
                        cJSON *j = cJSON_ParseWithLength(text, tl);
                        CHECK(j != NULL, "%s/%s: cJSON rejects '%s'", models[mi], grammar_files[gi],
                              text);
                        cJSON_Delete(j);
                    }
                    if (mode == 1 && mi == 0 && gi == 0)
                        printf("sample %s/%s: %s\n", models[mi], grammar_files[gi], text);
                }
                free(prompt);
                free(out);
                free(text);
                rt_sampler_free(smp);
                rt_session_free(s);
            }
            rt_grammar_free(g);
        }
        rt_model_free(m);
    }
    return 0;
}

/* Control tokens: masked by default even where the grammar accepts their
 * text; allowed there (and only there) with allow_special_text. */
static void check_special_opt_in(rt_model *m)
{
    char err[512], piece[256], src[512];
    int32_t nv = rt_model_n_vocab(m), id = -1;
    int n = 0;
    for (int32_t i = 0; i < nv && id < 0; i++) {
        if (!rt_vocab_is_control(m->vocab, i) || rt_model_is_eog(m, i)) continue;
        n = rt_token_piece(m, i, piece, sizeof piece);
        if (n > 2 && n < 100 && !memchr(piece, '"', (size_t)n) && !memchr(piece, '\\', (size_t)n))
            id = i;
    }
    CHECK(id >= 0, "%s: no control token to test with", rt_model_name(m));
    if (id < 0) return;
    snprintf(src, sizeof src, "root ::= \"%.*s\" [a-z]*\n", n, piece);
    printf("%s: opt-in check with control token %d '%.*s'\n", rt_model_name(m), id, n, piece);
    rt_grammar *g = compile(src);
    if (!g) return;
    uint8_t *mask = malloc((size_t)nv);
    for (int opt = 0; opt < 2; opt++) {
        rt_grammar_opts go = {.allow_special_text = opt == 1};
        rt_sampler *smp = rt_sampler_new(NULL);
        CHECK(rt_sampler_set_grammar_opts(smp, m, g, &go, err, sizeof err) == 0, "%s", err);
        CHECK(rt_sampler_grammar_mask(smp, mask, nv) == 0, "mask");
        CHECK(mask[id] == opt, "%s: control token %d '%.*s' allowed=%d with opt-in=%d",
              rt_model_name(m), id, n, piece, mask[id], opt);
        int32_t others = 0;
        for (int32_t i = 0; i < nv; i++)
            if (i != id && rt_vocab_is_control(m->vocab, i)) others += mask[i];
        CHECK(others == 0, "other control tokens allowed (%d)", others);
        rt_sampler_free(smp);
    }
    free(mask);
    rt_grammar_free(g);
}

static int run_mask(const char *dir)
{
    char path[1024], err[512];
    static const char *gnames[] = {"json", "japanese", "english", "c", "chess"};
    for (size_t mi = 0; mi < sizeof models / sizeof *models; mi++) {
        snprintf(path, sizeof path, "%s/models/%s", dir, models[mi]);
        rt_model *m = NULL;
        rt_load_params lp = {.n_threads = 1};
        if (rt_model_load(path, &lp, &m, err, sizeof err) != 0) {
            CHECK(0, "%s", err);
            continue;
        }
        check_special_opt_in(m);
        int32_t nv = rt_model_n_vocab(m);
        uint8_t *mask = malloc((size_t)nv);
        float *logits = malloc(sizeof(float) * (size_t)nv);
        long states = 0, allowed_total = 0, eog_allowed = 0;
        uint64_t compactions = 0;
        for (size_t gi = 0; gi < sizeof gnames / sizeof *gnames; gi++) {
            rt_grammar *g = load_fixture_grammar(dir, gnames[gi]);
            if (!g) continue;
            for (int seed = 0; seed < 3; seed++) {
                rt_sampler_params sp = rt_sampler_default_params();
                sp.temperature = 1.0f;
                sp.seed = (uint64_t)(seed * 31 + gi);
                rt_grammar_opts go = {.full_mask = seed == 2};
                rt_sampler *smp = rt_sampler_new(&sp);
                CHECK(rt_sampler_set_grammar_opts(smp, m, g, &go, err, sizeof err) == 0, "%s", err);
                /* seed 1: compact the node arena every few steps (ids change, caches reset) */
                if (seed == 1) gmasker_set_compact_limit(rt_sampler_masker(smp), 8);
                char text[4096];
                size_t tl = 0;
                uint64_t x = 0x1234567ull + (uint64_t)seed * 977 + gi;
                for (int step = 0; step < 20; step++) {
                    const rt_grammar_state *cur = rt_sampler_grammar_state(smp);
                    if (rt_grammar_state_done(cur)) break;
                    CHECK(rt_sampler_grammar_mask(smp, mask, nv) == 0, "mask");
                    /* brute force: every token, from a fresh state replaying text */
                    rt_grammar_state *st = rt_grammar_state_new(g);
                    CHECK(rt_grammar_state_accept(st, text, tl) == 0, "replay");
                    bool can_end = rt_grammar_state_can_end(st);
                    int bad = 0;
                    for (int32_t id = 0; id < nv; id++) {
                        bool want;
                        if (rt_model_is_eog(m, id)) {
                            want = can_end;
                        } else {
                            char piece[512];
                            int n = rt_token_piece(m, id, piece, sizeof piece);
                            want = false;
                            /* control tokens are masked (no opt-in here) */
                            if (n > 0 && n <= (int)sizeof piece &&
                                !rt_vocab_is_control(m->vocab, id)) {
                                rt_grammar_state *t2 = rt_grammar_state_new(g);
                                want = rt_grammar_state_accept(t2, text, tl) == 0 &&
                                       rt_grammar_state_accept(t2, piece, (size_t)n) == 0;
                                rt_grammar_state_free(t2);
                            }
                        }
                        if (want != (mask[id] != 0)) {
                            if (bad++ < 3)
                                fprintf(stderr, "  token %d: mask %d brute %d after '%.*s'\n", id,
                                        mask[id], want, (int)tl, text);
                        }
                        allowed_total += mask[id];
                    }
                    CHECK(bad == 0, "%s/%s seed %d step %d: %d tokens differ", models[mi],
                          gnames[gi], seed, step, bad);
                    for (int32_t id = 0; id < nv; id++)
                        if (rt_model_is_eog(m, id)) {
                            CHECK(mask[id] == can_end, "EOG %d allowed=%d but can_end=%d", id,
                                  mask[id], can_end);
                            eog_allowed += mask[id];
                        }
                    rt_grammar_state_free(st);
                    states++;
                    /* advance with random logits through the sampler (fast path or not) */
                    for (int32_t i = 0; i < nv; i++) {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        logits[i] = (float)(x % 1000) / 100.0f;
                    }
                    int32_t id = rt_sampler_sample(smp, logits, nv, NULL, 0);
                    if (id == -2) break;
                    CHECK(id >= 0, "sample failed");
                    if (id < 0) break;
                    CHECK(mask[id], "sampled token %d was masked", id);
                    if (rt_model_is_eog(m, id)) break;
                    char piece[512];
                    int n = rt_token_piece(m, id, piece, sizeof piece);
                    if (n > 0 && tl + (size_t)n < sizeof text) {
                        memcpy(text + tl, piece, (size_t)n);
                        tl += (size_t)n;
                    } else {
                        break;
                    }
                    rt_grammar_state *chk = rt_grammar_state_new(g);
                    CHECK(rt_grammar_state_accept(chk, text, tl) == 0, "sampled text accepted");
                    rt_grammar_state_free(chk);
                }
                compactions += gmasker_stats(rt_sampler_masker(smp))->compactions;
                rt_sampler_free(smp);
            }
            rt_grammar_free(g);
        }
        printf("%s: %ld states compared, %ld allowed (token, state) pairs, EOG allowed %ld "
               "times, %llu arena compactions\n",
               models[mi], states, allowed_total, eog_allowed, (unsigned long long)compactions);
        CHECK(compactions > 0, "the compaction path was not exercised");
        CHECK(states > 100, "too few states compared (%ld)", states);
        free(mask);
        free(logits);
        rt_model_free(m);
    }
    return 0;
}

/* Mutated fixture grammars (seeded, deterministic): every input either
 * compiles or is refused with a "grammar..." message; compiled ones survive
 * random bytes, and their shortest completion is accepted and ends. */
static int run_mutate(const char *dir, int iterations)
{
    char *src[8];
    size_t len[8];
    int nf = 0;
    for (size_t gi = 0; gi < sizeof grammar_files / sizeof *grammar_files && nf < 8; gi++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/grammars/%s.gbnf", dir, grammar_files[gi]);
        src[nf] = test_file_read(path, &len[nf]);
        CHECK(src[nf] != NULL, "cannot read %s", path);
        if (src[nf]) nf++;
    }
    static const char alphabet[] = "()[]|*+?{},.\"\\^-:= \n#ab0x\xe3\x81\x82";
    uint64_t x = 88172645463325252ull;
    long compiled = 0, refused = 0;
    for (int it = 0; it < iterations && nf > 0; it++) {
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
        int fi = (int)(RND() % (uint64_t)nf);
        size_t n = len[fi];
        char *buf = malloc(n + 8);
        memcpy(buf, src[fi], n);
        for (int k = 0, muts = 1 + (int)(RND() % 4); k < muts && n > 1; k++) {
            size_t at = RND() % n;
            char c = alphabet[RND() % (sizeof alphabet - 1)];
            int op = (int)(RND() % 3);
            if (op == 0) {
                buf[at] = c;
            } else if (op == 1 && n < len[fi] + 8) {
                memmove(buf + at + 1, buf + at, n - at);
                buf[at] = c;
                n++;
            } else {
                memmove(buf + at, buf + at + 1, n - at - 1);
                n--;
            }
        }
        char err[512] = "";
        rt_grammar *g = NULL;
        if (rt_grammar_from_gbnf(buf, n, NULL, &g, err, sizeof err) != 0) {
            refused++;
            CHECK(strncmp(err, "grammar", 7) == 0, "unexpected error text '%s'", err);
            free(buf);
            continue;
        }
        compiled++;
        rt_grammar_state *st = rt_grammar_state_new(g);
        CHECK(st != NULL, "state");
        for (int k = 0; st && k < 40; k++) {
            char b =
                (char)(RND() % 3 == 0 ? RND() : (uint64_t)alphabet[RND() % (sizeof alphabet - 1)]);
            rt_grammar_state_accept(st, &b, 1);
        }
        char *tail = NULL;
        int tn = st ? rt_grammar_state_complete(st, &tail) : -1;
        CHECK(tn >= 0, "no completion");
        if (tn >= 0) {
            CHECK(rt_grammar_state_accept(st, tail, (size_t)tn) == 0, "completion rejected");
            CHECK(rt_grammar_state_can_end(st), "completion does not end");
        }
        free(tail);
        rt_grammar_state_free(st);
        rt_grammar_free(g);
        free(buf);
#undef RND
    }
    printf("mutated grammars: %ld compiled, %ld refused\n", compiled, refused);
    CHECK(compiled > iterations / 10 && refused > iterations / 10, "mutation mix is degenerate");
    for (int i = 0; i < nf; i++)
        free(src[i]);
    return 0;
}

static const char *fixtures_dir(int argc, char **argv)
{
    const char *d = argc > 2 ? argv[2] : getenv("SWARM_FIXTURES");
    if (d) {
        char p[1024];
        snprintf(p, sizeof p, "%s/grammars/json.gbnf", d);
        FILE *f = fopen(p, "rb");
        if (f) {
            fclose(f);
            return d;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "unit";
    if (strcmp(mode, "unit") == 0) {
        test_errors();
        test_matching();
    } else {
        const char *dir = fixtures_dir(argc, argv);
        if (!dir) {
            const char *ci = getenv("CI");
            fprintf(stderr, "fixtures not found (pass DIR or set SWARM_FIXTURES)\n");
            return ci && strcmp(ci, "true") == 0 ? 1 : 77;
        }
        if (strcmp(mode, "fixtures") == 0)
            run_fixtures(dir);
        else if (strcmp(mode, "mutate") == 0)
            run_mutate(dir, 4000);
        else
            run_mask(dir);
    }
    if (check_fail_count) fprintf(stderr, "%d failure(s)\n", check_fail_count);
    return check_fail_count ? 1 : 0;
}
