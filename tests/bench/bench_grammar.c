/* bench_grammar.c - grammar-constrained decoding cost: per-token masking time
 * (median, p99) for a 20-tool JSON tool-call grammar over a ~50k-token
 * vocabulary, and grammar compile time for that 20-tool schema.
 *
 * The vocabulary comes from a random-weight model written by mkmodel (olmoe
 * tiny preset with --vocab 50304; only its tokenizer matters here), or
 * --model M.gguf. No forward pass runs: logits are generated, so the figures
 * are the sampler's own cost per token. Three runs per mode:
 *   plain     - sampling with no grammar (the baseline the others add to)
 *   full      - the whole vocabulary masked at every step (opts.full_mask)
 *   fast      - top-candidate fast path, with "model-like" logits in which a
 *               token the grammar allows leads (as a trained model's would)
 *   fast-rand - fast path on random logits (the leader is often not
 *               allowed, and then the step falls back to the full mask)
 *   mask-only - the full mode's mask computation alone (trie walk or cache
 *               hit), without applying it or picking
 * The grammar is the JSON Schema compiled by rt_grammar_from_json_schema when
 * that compiler is available, else the same structure written as GBNF.
 *
 * --grammar F.gbnf measures that grammar instead (e.g. a string-heavy one).
 *
 * usage: bench_grammar [--model M.gguf] [--grammar F.gbnf] [--vocab N] [--tokens N] [--smoke] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "grammar/grammar.h"
#include "swarm_buf.h"
#include "mkmodel.h"
#include "rt.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID,
                  &ts); /* CPU time: immune to preemption on a shared machine */
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
    if (n == 0) return 0;
    qsort(v, (size_t)n, sizeof *v, dbl_cmp);
    int i = (int)ceil(p * n) - 1;
    if (i < 0) i = 0;
    if (i >= n) i = n - 1;
    return v[i];
}

/* 20 tools, each {"name": const, "arguments": {4-6 typed properties}}. */
static char *tool_schema(void)
{
    static const char *types[] = {"string", "integer", "boolean", "number"};
    swarm_buf b = {0};
    swarm_buf_printf(&b, "{\"anyOf\":[");
    for (int t = 0; t < 20; t++) {
        swarm_buf_printf(
            &b, "%s{\"type\":\"object\",\"properties\":{\"name\":{\"const\":\"tool_%02d\"},",
            t ? "," : "", t);
        swarm_buf_printf(&b, "\"arguments\":{\"type\":\"object\",\"properties\":{");
        int np = 4 + t % 3;
        for (int p = 0; p < np; p++)
            swarm_buf_printf(&b, "%s\"arg_%d_%d\":{\"type\":\"%s\"}", p ? "," : "", t, p,
                             types[(t + p) % 4]);
        swarm_buf_printf(&b,
                         ",\"mode\":{\"enum\":[\"fast\",\"safe\",\"dry-run\"]}},\"required\":[");
        for (int p = 0; p < np; p++)
            swarm_buf_printf(&b, "%s\"arg_%d_%d\"", p ? "," : "", t, p);
        swarm_buf_printf(
            &b, ",\"mode\"],\"additionalProperties\":false}},\"required\":[\"name\",\"arguments\"],"
                "\"additionalProperties\":false}");
    }
    swarm_buf_printf(&b, "]}");
    return b.s;
}

/* The same structure as GBNF (what a schema compiler emits for it). */
static char *tool_gbnf(void)
{
    static const char *types[] = {"string", "integer", "boolean", "number"};
    swarm_buf b = {0};
    swarm_buf_printf(&b, "root ::=");
    for (int t = 0; t < 20; t++)
        swarm_buf_printf(&b, "%s tool-%d", t ? " |" : "", t);
    swarm_buf_printf(&b, "\n");
    for (int t = 0; t < 20; t++) {
        swarm_buf_printf(
            &b,
            "tool-%d ::= \"{\" ws \"\\\"name\\\"\" ws \":\" ws \"\\\"tool_%02d\\\"\" ws \",\" ws "
            "\"\\\"arguments\\\"\" ws \":\" ws args-%d ws \"}\"\n",
            t, t, t);
        swarm_buf_printf(&b, "args-%d ::= \"{\" ws", t);
        int np = 4 + t % 3;
        for (int p = 0; p < np; p++)
            swarm_buf_printf(&b, " \"\\\"arg_%d_%d\\\"\" ws \":\" ws %s ws \",\" ws", t, p,
                             types[(t + p) % 4]);
        swarm_buf_printf(&b, " \"\\\"mode\\\"\" ws \":\" ws mode ws \"}\"\n");
    }
    swarm_buf_printf(
        &b, "mode ::= \"\\\"fast\\\"\" | \"\\\"safe\\\"\" | \"\\\"dry-run\\\"\"\n"
            "string ::= \"\\\"\" ([^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" "
            "[0-9a-fA-F]{4}))* \"\\\"\"\n"
            "integer ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15})\n"
            "number ::= integer (\".\" [0-9]+)? ([eE] [-+]? [0-9]+)?\n"
            "boolean ::= \"true\" | \"false\"\n"
            "ws ::= [ \\t\\n]{0,20}\n");
    return b.s;
}

typedef struct {
    double *t;
    int n;
    int tokens;
    double ms_total;
    uint64_t hits, misses, nodes;
} run_stats;

/* One constrained generation of up to n_tok tokens; times rt_sampler_sample. */
static int run(const rt_model *m, const rt_grammar *g, int mode, int n_tok, uint64_t seed,
               run_stats *rs, char **text_out)
{
    int32_t nv = rt_model_n_vocab(m);
    float *logits = malloc(sizeof(float) * (size_t)nv);
    rt_sampler_params sp = rt_sampler_default_params();
    sp.seed = seed;
    rt_sampler *smp = rt_sampler_new(&sp); /* greedy over the logits below */
    rt_sampler_params op = sp;
    op.temperature = 1.0f;
    rt_sampler *oracle = rt_sampler_new(&op);
    char err[256];
    rt_grammar_opts full = {.full_mask = true}, fast = {.full_mask = false};
    if (mode != 0)
        rt_sampler_set_grammar_opts(smp, m, g, mode == 1 || mode == 4 ? &full : &fast, err,
                                    sizeof err);
    rt_sampler_set_grammar_opts(oracle, m, g, &full, err, sizeof err);
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    swarm_buf text = {0};
    swarm_buf_printf(&text, "%s", "");
    for (int i = 0; i < n_tok; i++) {
        for (int32_t k = 0; k < nv; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            logits[k] = (float)(x % 10000) * 1e-3f;
        }
        int32_t want = -1;
        if (mode != 3) {
            /* the oracle picks a token the grammar allows (untimed); it leads */
            float *tmp = malloc(sizeof(float) * (size_t)nv);
            memcpy(tmp, logits, sizeof(float) * (size_t)nv);
            want = rt_sampler_sample(oracle, tmp, nv, NULL, 0);
            free(tmp);
            if (want < 0) break;
            logits[want] += 20.0f;
        }
        double t0 = now_us(), t1;
        int32_t id;
        if (mode == 4) { /* the mask alone (walk or cache hit); the pick is untimed */
            gmasker_mask(rt_sampler_masker(smp));
            t1 = now_us();
            id = rt_sampler_sample(smp, logits, nv, NULL, 0);
        } else {
            id = rt_sampler_sample(smp, logits, nv, NULL, 0);
            t1 = now_us();
        }
        rs->t[rs->n++] = t1 - t0;
        rs->ms_total += (t1 - t0) * 1e-3;
        rs->tokens++;
        if (id < 0 || (want >= 0 && id != want)) break;
        if (rt_model_is_eog(m, id)) break;
        char piece[256];
        int pl = rt_token_piece(m, id, piece, sizeof piece);
        if (pl > 0 && pl < (int)sizeof piece) swarm_buf_printf(&text, "%.*s", pl, piece);
        if (mode != 0 && rt_grammar_state_done(rt_sampler_grammar_state(smp))) break;
    }
    gmasker *gm = rt_sampler_masker(smp);
    if (gm) {
        rs->hits += gmasker_stats(gm)->hits;
        rs->misses += gmasker_stats(gm)->misses;
        rs->nodes += gmasker_stats(gm)->trie_nodes;
    }
    if (text_out)
        *text_out = text.s;
    else
        free(text.s);
    free(logits);
    rt_sampler_free(smp);
    rt_sampler_free(oracle);
    return 0;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *gfile = NULL;
    long vocab = 50304, n_tok = 400;
    bool smoke = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc)
            model = argv[++i];
        else if (strcmp(argv[i], "--grammar") == 0 && i + 1 < argc)
            gfile = argv[++i];
        else if (strcmp(argv[i], "--vocab") == 0 && i + 1 < argc)
            vocab = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--tokens") == 0 && i + 1 < argc)
            n_tok = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--smoke") == 0)
            smoke = true;
        else {
            fprintf(stderr,
                    "usage: bench_grammar [--model M.gguf] [--vocab N] [--tokens N] [--smoke]\n");
            return 2;
        }
    }
    if (smoke) {
        vocab = 2048;
        n_tok = 40;
    }
    char tmp_model[256] = "";
    if (!model) {
        snprintf(tmp_model, sizeof tmp_model, "/tmp/bench_grammar_%ld_%d.gguf", vocab,
                 (int)getpid());
        char vs[32];
        snprintf(vs, sizeof vs, "%ld", vocab);
        char *mk[] = {"mkmodel", "--arch", "olmoe", "--preset", "tiny",      "--type", "Q8_0",
                      "--vocab", vs,       "--out", tmp_model,  "--threads", "1",      NULL};
        if (rt_mkmodel_main(13, mk) != 0) {
            fprintf(stderr, "bench_grammar: mkmodel failed\n");
            return 1;
        }
        model = tmp_model;
    }
    char err[512];
    rt_model *m = NULL;
    rt_load_params lp = {.n_threads = 1};
    int rc = rt_model_load(model, &lp, &m, err, sizeof err);
    if (tmp_model[0]) unlink(tmp_model);
    if (rc != 0) {
        fprintf(stderr, "bench_grammar: %s\n", err);
        return 1;
    }
    /* compile times: median of 9 */
    char *schema = tool_schema(), *gbnf = tool_gbnf();
    double ct[9], cs[9];
    rt_grammar *g = NULL, *gs = NULL;
    bool have_schema = true;
    for (int i = 0; i < 9; i++) {
        double t0 = now_us();
        rt_grammar *x = NULL;
        if (rt_grammar_from_gbnf(gbnf, strlen(gbnf), NULL, &x, err, sizeof err) != 0) {
            fprintf(stderr, "bench_grammar: GBNF: %s\n", err);
            return 1;
        }
        ct[i] = now_us() - t0;
        if (i == 0)
            g = x;
        else
            rt_grammar_free(x);
        t0 = now_us();
        x = NULL;
        if (have_schema &&
            rt_grammar_from_json_schema(schema, strlen(schema), &x, err, sizeof err) != 0) {
            printf("schema compiler: %s (the GBNF form of the same schema is used)\n", err);
            have_schema = false;
        }
        cs[i] = now_us() - t0;
        if (i == 0 && x)
            gs = x;
        else
            rt_grammar_free(x);
    }
    printf("vocab %d (%s), 20-tool grammar: GBNF compile median %.2f ms", rt_model_n_vocab(m),
           rt_model_name(m), pct(ct, 9, 0.5) * 1e-3);
    if (have_schema) printf(", JSON Schema compile median %.2f ms", pct(cs, 9, 0.5) * 1e-3);
    printf("\n");
    const rt_grammar *use = gs ? gs : g;
    rt_grammar *gf = NULL;
    if (gfile) {
        FILE *f = fopen(gfile, "rb");
        char *src = f ? malloc(1 << 20) : NULL;
        size_t n = src ? fread(src, 1, (1 << 20) - 1, f) : 0;
        if (f) fclose(f);
        if (!src || rt_grammar_from_gbnf(src, n, NULL, &gf, err, sizeof err) != 0) {
            fprintf(stderr, "bench_grammar: %s: %s\n", gfile, src ? err : "cannot read");
            free(src);
            return 1;
        }
        free(src);
        use = gf;
        printf("grammar: %s\n", gfile);
    }
    /* warm the model's token trie once (built on first use, then shared) */
    double t0 = now_us();
    {
        rt_sampler *w = rt_sampler_new(NULL);
        rt_sampler_set_grammar(w, m, use, err, sizeof err);
        rt_sampler_free(w);
    }
    printf("token trie build (once per model): %.1f ms\n", (now_us() - t0) * 1e-3);
    static const char *names[] = {"plain", "full", "fast", "fast-rand", "mask-only"};
    int runs = smoke ? 1 : 3;
    int failures = 0;
    for (int mode = 0; mode < 5; mode++) {
        run_stats rs = {0};
        rs.t = malloc(sizeof(double) * (size_t)(n_tok * runs + 1));
        for (int r = 0; r < runs; r++) {
            char *text = NULL;
            run(m, use, mode, (int)n_tok, (uint64_t)(r + 1), &rs, &text);
            if (mode != 0 && r == 0) {
                rt_grammar_state *st = rt_grammar_state_new(use);
                if (rt_grammar_state_accept(st, text, strlen(text)) != 0) {
                    fprintf(stderr, "bench_grammar: %s output rejected by the grammar\n",
                            names[mode]);
                    failures++;
                }
                rt_grammar_state_free(st);
                if (mode == 2 && !smoke) printf("  sample: %.160s\n", text);
            }
            free(text);
        }
        double mean = rs.tokens ? rs.ms_total * 1e3 / rs.tokens : 0;
        printf("%-9s %5d tokens: median %8.1f us  p99 %8.1f us  mean %8.1f us per token\n",
               names[mode], rs.tokens, pct(rs.t, rs.n, 0.5), pct(rs.t, rs.n, 0.99), mean);
        if (rs.hits + rs.misses)
            printf("          full masks: %llu cached, %llu walked (%.0f trie nodes per walk)\n",
                   (unsigned long long)rs.hits, (unsigned long long)rs.misses,
                   rs.misses ? (double)rs.nodes / (double)rs.misses : 0.0);
        free(rs.t);
    }
    free(schema);
    free(gbnf);
    rt_grammar_free(g);
    rt_grammar_free(gs);
    rt_grammar_free(gf);
    rt_model_free(m);
    return failures ? 1 : 0;
}
