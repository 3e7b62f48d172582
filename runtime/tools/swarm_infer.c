/* swarm_infer.c - `swarm-infer`: the engine on its own, for conformance
 * checks, benchmarks and quick experiments. Sub-commands follow the stable
 * command-line contracts in DESIGN.md: tokenize, logits, generate, bench,
 * mkmodel, serve (serve.c). Usage errors exit 2, model/runtime errors exit 1. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gguf.h"
#include "mkmodel.h"
#include "rt.h"
#include "serve.h"
#include "swarm_version.h"
#include "vocab.h"
#include "swarm_clock.h"

#define EXIT_USAGE 2

static const char *usage_text =
    "usage: swarm-infer COMMAND [options]\n"
    "  tokenize --model M.gguf (--text S | --text-file F) [--no-bos]\n"
    "  logits   --model M.gguf --tokens 1,2,3 --out F.f32 [-t THREADS]\n"
    "  generate --model M.gguf (--tokens IDS | --prompt S) [-n N] [--greedy] [--seed N]\n"
    "           [--temp T] [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R]\n"
    "           [--repeat-last-n N] [--presence-penalty P] [--frequency-penalty P]\n"
    "           [--ids] [--ignore-eos] [--stop S]... [--ctx N] [-t THREADS] [--chat]\n"
    "           [--kv-type f32|f16]\n"
    "           [--grammar F.gbnf | --json-schema F.json]\n"
    "           (under a grammar the output always parses: it stops where the grammar\n"
    "            may end, and a completion is appended when -n runs out)\n"
    "           (--chat wraps --prompt as one user message in the model's chat format)\n"
    "           (--tokens generates exactly N tokens, as reference runs do; --prompt stops\n"
    "            at end-of-generation tokens unless --ignore-eos)\n"
    "  bench    --model M.gguf [-p 512] [-n 128] [-t THREADS] [--streams N] [--json]\n"
    "           [--kv-type f32|f16]\n"
    "           (--kv-type: the KV cache's element type; generate/logits/bench default f32,\n"
    "            the reference the goldens were made with; serve and the worker use f16)\n"
    "           (--streams N: N sequences decode together; --batch B is the same)\n"
    "  mkmodel  --arch A --preset P --type T --out M.gguf (see swarm-infer mkmodel --help)\n"
    "  serve    --model M.gguf [--host 127.0.0.1] [--port 8080] [--slots N] [--max-queue N]\n"
    "           [--api-key K] (OpenAI-compatible HTTP; see swarm-infer serve --help)\n"
    "  --version print the version (and git describe of the build) and exit\n";

static int usage(const char *msg)
{
    if (msg) fprintf(stderr, "swarm-infer: %s\n", msg);
    fputs(usage_text, stderr);
    return EXIT_USAGE;
}

typedef struct {
    const char *model, *text, *text_file, *tokens, *prompt, *out, *json_schema, *grammar;
    const char *kv_type_s;
    rt_kv_type kv_type;
    const char *stops[17];
    int n_stops;
    bool no_bos, greedy, ids, json, ignore_eos, chat, help;
    long n_predict, n_prompt, n_threads, n_ctx, batch;
    long seed, top_k, repeat_last_n;
    double temp, top_p, min_p, repeat_penalty, presence, frequency;
    bool have_n, have_p;
} opts;

static int parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end) return -1;
    *out = v;
    return 0;
}

static int parse_opts(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->n_predict = 24;
    o->n_prompt = 512;
    o->seed = -1;
    o->temp = 0.8;
    o->top_p = 1.0;
    o->repeat_penalty = 1.0;
    o->repeat_last_n = 64;
    o->batch = 1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define STR(flag, field)                                                                           \
    if (strcmp(a, flag) == 0) {                                                                    \
        if (!v) return fprintf(stderr, "swarm-infer: %s needs a value\n", flag), -1;               \
        o->field = v;                                                                              \
        i++;                                                                                       \
        continue;                                                                                  \
    }
#define NUM(flag, field, fn)                                                                       \
    if (strcmp(a, flag) == 0) {                                                                    \
        if (!v || fn(v, &o->field) != 0)                                                           \
            return fprintf(stderr, "swarm-infer: %s needs a number\n", flag), -1;                  \
        i++;                                                                                       \
        continue;                                                                                  \
    }
#define FLAG(flag, field)                                                                          \
    if (strcmp(a, flag) == 0) {                                                                    \
        o->field = true;                                                                           \
        continue;                                                                                  \
    }
        STR("--model", model) STR("-m", model) STR("--text", text) STR("--text-file", text_file);
        STR("--tokens", tokens) STR("--prompt", prompt) STR("--out", out);
        STR("--json-schema", json_schema) STR("--grammar", grammar);
        STR("--kv-type", kv_type_s);
        FLAG("--no-bos", no_bos) FLAG("--greedy", greedy) FLAG("--ids", ids);
        FLAG("--json", json) FLAG("--ignore-eos", ignore_eos) FLAG("--chat", chat);
        FLAG("--help", help) FLAG("-h", help);
        NUM("--seed", seed, parse_long) NUM("-t", n_threads, parse_long);
        NUM("--threads", n_threads, parse_long) NUM("--ctx", n_ctx, parse_long);
        NUM("--batch", batch, parse_long)
        NUM("--streams", batch, parse_long) NUM("--top-k", top_k, parse_long);
        NUM("--repeat-last-n", repeat_last_n, parse_long);
        NUM("--temp", temp, parse_double) NUM("--top-p", top_p, parse_double);
        NUM("--min-p", min_p, parse_double) NUM("--repeat-penalty", repeat_penalty, parse_double);
        NUM("--presence-penalty", presence, parse_double);
        NUM("--frequency-penalty", frequency, parse_double);
        if (strcmp(a, "-n") == 0 || strcmp(a, "--n-predict") == 0) {
            if (!v || parse_long(v, &o->n_predict) != 0 || o->n_predict < 0)
                return fprintf(stderr, "swarm-infer: -n needs a non-negative number\n"), -1;
            o->have_n = true;
            i++;
            continue;
        }
        if (strcmp(a, "-p") == 0) {
            if (!v || parse_long(v, &o->n_prompt) != 0 || o->n_prompt < 0)
                return fprintf(stderr, "swarm-infer: -p needs a non-negative number\n"), -1;
            o->have_p = true;
            i++;
            continue;
        }
        if (strcmp(a, "--stop") == 0) {
            if (!v || o->n_stops >= 16)
                return fprintf(stderr, "swarm-infer: --stop needs a value (at most 16)\n"), -1;
            o->stops[o->n_stops++] = v;
            i++;
            continue;
        }
#undef STR
#undef NUM
#undef FLAG
        fprintf(stderr, "swarm-infer: unknown option '%s'\n", a);
        return -1;
    }
    if (o->n_threads < 0 || o->n_threads > 1024)
        return fprintf(stderr, "swarm-infer: -t must be between 0 and 1024\n"), -1;
    if (o->kv_type_s && rt_kv_type_parse(o->kv_type_s, &o->kv_type) != 0)
        return fprintf(stderr, "swarm-infer: --kv-type must be f32 or f16, not '%s'\n",
                       o->kv_type_s),
               -1;
    return 0;
}

static int parse_ids(const char *s, int32_t **out, size_t *n)
{
    size_t cap = 16, len = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return -1;
    const char *p = s;
    while (*p) {
        while (*p == ',' || *p == ' ')
            p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 0 || v > INT32_MAX) {
            free(ids);
            return -1;
        }
        if (len == cap) {
            int32_t *t = realloc(ids, (cap *= 2) * sizeof *ids);
            if (!t) {
                free(ids);
                return -1;
            }
            ids = t;
        }
        ids[len++] = (int32_t)v;
        p = end;
        if (*p && *p != ',' && *p != ' ') {
            free(ids);
            return -1;
        }
    }
    *out = ids;
    *n = len;
    return 0;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    while (b) {
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
        if (n == cap) {
            char *t = realloc(b, cap *= 2);
            if (!t) {
                free(b);
                b = NULL;
            } else {
                b = t;
            }
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return NULL;
    }
    *len = n;
    return b;
}

static int cmd_tokenize(const opts *o)
{
    if (!o->model || (!o->text == !o->text_file))
        return usage("tokenize needs --model and exactly one of --text / --text-file");
    char err[512];
    size_t len = 0;
    char *text = NULL;
    if (o->text_file) {
        text = read_file(o->text_file, &len);
        if (!text) {
            fprintf(stderr, "swarm-infer: cannot read %s: %s\n", o->text_file, strerror(errno));
            return 1;
        }
    }
    gguf_file *g = NULL;
    rt_vocab *v = NULL;
    int rc = 1;
    if (gguf_open(o->model, &g, err, sizeof err) != 0 ||
        rt_vocab_load(g, &v, err, sizeof err) != 0) {
        fprintf(stderr, "swarm-infer: %s\n", err);
        goto done;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    const char *t = o->text_file ? text : o->text;
    if (!o->text_file) len = strlen(o->text);
    if (rt_vocab_tokenize(v, t, len, !o->no_bos, false, &ids, &n, err, sizeof err) != 0) {
        fprintf(stderr, "swarm-infer: %s\n", err);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        printf(i ? " %d" : "%d", ids[i]);
    printf("\n");
    free(ids);
    rc = 0;
done:
    rt_vocab_free(v);
    gguf_close(g);
    free(text);
    return rc;
}

static int load_model(const opts *o, rt_model **m)
{
    char err[512];
    rt_load_params lp = {.n_threads = (int)o->n_threads};
    if (rt_model_load(o->model, &lp, m, err, sizeof err) != 0) {
        fprintf(stderr, "swarm-infer: %s\n", err);
        return -1;
    }
    return 0;
}

static int cmd_logits(const opts *o)
{
    if (!o->model || !o->tokens || !o->out)
        return usage("logits needs --model, --tokens and --out");
    int32_t *ids;
    size_t n;
    if (parse_ids(o->tokens, &ids, &n) != 0 || n == 0)
        return usage("--tokens must be a comma-separated list of non-negative token ids");
    rt_model *m = NULL;
    rt_session *s = NULL;
    float *logits = NULL;
    char err[512];
    int rc = 1;
    if (load_model(o, &m) != 0) goto done;
    long n_ctx = o->n_ctx > 0 ? o->n_ctx : (long)n;
    if (rt_session_new_kv(m, (int32_t)n_ctx, o->kv_type, &s, err, sizeof err) != 0) goto fail;
    const size_t nv = (size_t)rt_model_n_vocab(m);
    logits = malloc(sizeof(float) * nv * n);
    if (!logits) {
        snprintf(err, sizeof err, "out of memory for %zu x %zu logits", n, nv);
        goto fail;
    }
    if (rt_session_eval(s, ids, n, logits, NULL, err, sizeof err) != 0) goto fail;
    FILE *f = fopen(o->out, "wb");
    if (!f || fwrite(logits, sizeof(float), nv * n, f) != nv * n || fclose(f) != 0) {
        snprintf(err, sizeof err, "cannot write %s: %s", o->out, strerror(errno));
        goto fail;
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "swarm-infer: %s\n", err);
done:
    free(logits);
    free(ids);
    rt_session_free(s);
    rt_model_free(m);
    return rc;
}

static int print_piece(void *ud, int32_t id, const char *piece, size_t len)
{
    (void)ud;
    (void)id;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0;
}

static int cmd_generate(const opts *o)
{
    if (!o->model || (!o->tokens == !o->prompt))
        return usage("generate needs --model and exactly one of --tokens / --prompt");
    if (o->json_schema && o->grammar) return usage("give at most one of --json-schema / --grammar");
    int32_t *prompt = NULL;
    size_t n_prompt = 0;
    if (o->tokens && (parse_ids(o->tokens, &prompt, &n_prompt) != 0 || n_prompt == 0))
        return usage("--tokens must be a comma-separated list of non-negative token ids");
    rt_model *m = NULL;
    rt_session *s = NULL;
    rt_sampler *smp = NULL;
    int32_t *gen = NULL;
    size_t n_gen = 0;
    char *text = NULL;
    rt_grammar *gram = NULL;
    char err[512];
    int rc = 1;
    if (o->json_schema || o->grammar) {
        /* compile before loading the model: a bad grammar is a usage error */
        const char *gpath = o->grammar ? o->grammar : o->json_schema;
        size_t glen = 0;
        char *gtext = read_file(gpath, &glen);
        if (!gtext) {
            fprintf(stderr, "swarm-infer: cannot read %s: %s\n", gpath, strerror(errno));
            free(prompt);
            return 1;
        }
        int grc = o->grammar ? rt_grammar_from_gbnf(gtext, glen, NULL, &gram, err, sizeof err)
                             : rt_grammar_from_json_schema(gtext, glen, &gram, err, sizeof err);
        free(gtext);
        if (grc != 0) {
            fprintf(stderr, "swarm-infer: %s: %s\n", gpath, err);
            free(prompt);
            return 1;
        }
    }
    if (load_model(o, &m) != 0) goto done;
    if (o->prompt) {
        char *chat = NULL;
        const char *ptext = o->prompt;
        if (o->chat) {
            rt_chat_msg msg = {.role = "user", .content = o->prompt};
            if (rt_chat_format(m, NULL, &msg, 1, true, &chat, err, sizeof err) != 0) goto fail;
            ptext = chat;
        }
        int trc =
            rt_tokenize(m, ptext, strlen(ptext), true, true, &prompt, &n_prompt, err, sizeof err);
        free(chat);
        if (trc != 0) goto fail;
    }
    if (n_prompt == 0) {
        snprintf(err, sizeof err, "the prompt tokenized to nothing");
        goto fail;
    }
    /* under a grammar, room for the completion appended when -n runs out */
    long n_ctx = o->n_ctx > 0 ? o->n_ctx : (long)n_prompt + o->n_predict + (gram ? 256 : 0);
    if (rt_session_new_kv(m, (int32_t)n_ctx, o->kv_type, &s, err, sizeof err) != 0) goto fail;
    rt_sampler_params sp = rt_sampler_default_params();
    sp.temperature = o->greedy ? 0.0f : (float)o->temp;
    sp.top_k = (int32_t)o->top_k;
    sp.top_p = (float)o->top_p;
    sp.min_p = (float)o->min_p;
    sp.repeat_penalty = (float)o->repeat_penalty;
    sp.repeat_last_n = (int32_t)o->repeat_last_n;
    sp.presence_penalty = (float)o->presence;
    sp.frequency_penalty = (float)o->frequency;
    sp.seed = o->seed >= 0 ? (uint64_t)o->seed : (uint64_t)time(NULL);
    smp = rt_sampler_new(&sp);
    if (!smp) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    if (gram && rt_sampler_set_grammar(smp, m, gram, err, sizeof err) != 0) goto fail;
    const char *stops[17] = {0};
    for (int i = 0; i < o->n_stops; i++)
        stops[i] = o->stops[i];
    rt_generate_params gp = {
        .n_predict = (int32_t)o->n_predict,
        .stop_at_eog = o->prompt != NULL && !o->ignore_eos,
        .stops = o->n_stops ? stops : NULL,
        .on_token = o->ids ? NULL : print_piece,
    };
    if (rt_generate(s, smp, prompt, n_prompt, &gp, &gen, &n_gen, &text, err, sizeof err) != 0)
        goto fail;
    if (o->ids) {
        for (size_t i = 0; i < n_gen; i++)
            printf(i ? " %d" : "%d", gen[i]);
    }
    printf("\n");
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "swarm-infer: %s\n", err);
done:
    free(text);
    free(gen);
    free(prompt);
    rt_sampler_free(smp);
    rt_grammar_free(gram);
    rt_session_free(s);
    rt_model_free(m);
    return rc;
}

/* Read bandwidth: nt threads each sum their share of one buffer larger than
 * any cache; best of a few passes (the machine is shared, the best pass is
 * the closest to what the memory system gives). */
typedef struct {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
} bw_part;

static void *bw_read(void *arg)
{
    bw_part *b = arg;
    uint64_t s[8] = {0};
    for (size_t i = 0; i + 8 <= b->n; i += 8)
        for (int k = 0; k < 8; k++)
            s[k] += b->p[i + k];
    b->sum = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
    return NULL;
}

static double bench_bandwidth_gb_s(long nt)
{
    const size_t bytes = (size_t)1 << 30, n = bytes / 8;
    if (nt < 1) nt = 1;
    if (nt > 64) nt = 64;
    uint64_t *buf = malloc(bytes);
    if (!buf) return 0.0;
    for (size_t i = 0; i < n; i++)
        buf[i] = i;
    double best = 0.0;
    for (int pass = 0; pass < 4; pass++) {
        pthread_t th[64];
        bw_part parts[64];
        double t0 = swarm_clock_sec();
        for (long t = 0; t < nt; t++) {
            parts[t] = (bw_part){buf + n / (size_t)nt * (size_t)t, n / (size_t)nt, 0};
            if (pthread_create(&th[t], NULL, bw_read, &parts[t]) != 0) parts[t].n = 0;
        }
        uint64_t sum = 0;
        for (long t = 0; t < nt; t++)
            if (parts[t].n) pthread_join(th[t], NULL), sum += parts[t].sum;
        double dt = swarm_clock_sec() - t0;
        if (sum != 0 && dt > 0 && (double)bytes / dt > best) best = (double)bytes / dt;
    }
    free(buf);
    return best / 1e9;
}

/* bench: prompt processing of -p tokens, then -n decode steps. With
 * --streams N (or --batch N), N sessions (each prefilled with the same
 * prompt) decode together, one token each per step through
 * rt_sessions_decode; tg_tok_s counts all N streams. The memory read
 * bandwidth is measured in the same run, so roofline (single-stream tg over
 * bandwidth / weight bytes per token) compares like with like. An untimed
 * warm-up runs first. */
static int cmd_bench(const opts *o)
{
    if (!o->model) return usage("bench needs --model");
    if (o->batch < 1 || o->batch > 256) return usage("--batch must be between 1 and 256");
    long np = o->n_prompt, ng = o->have_n ? o->n_predict : 128, B = o->batch;
    rt_model *m = NULL;
    rt_session **ss = NULL;
    int32_t *ids = NULL, *toks = NULL;
    char err[512];
    int rc = 1;
    if (load_model(o, &m) != 0) goto done;
    long n_ctx = np + ng + 1;
    ss = calloc((size_t)B, sizeof *ss);
    ids = malloc(sizeof(int32_t) * (size_t)(np + 1));
    toks = malloc(sizeof(int32_t) * (size_t)B);
    if (!ss || !ids || !toks) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    for (long b = 0; b < B; b++)
        if (rt_session_new_kv(m, (int32_t)n_ctx, o->kv_type, &ss[b], err, sizeof err) != 0)
            goto fail;
    /* deterministic pseudo-random prompt over the vocabulary */
    uint32_t x = 12345;
    const int32_t nv = rt_model_n_vocab(m);
    for (long i = 0; i < np; i++) {
        x = x * 1664525u + 1013904223u;
        ids[i] = (int32_t)((x >> 8) % (uint32_t)nv);
    }
    /* Warm-up, untimed (llama-bench does the same): a 64-token prompt and one
     * decode step in a scratch session touch every expert, the output head and
     * the thread pool, so the timed runs do not pay the mmap page-in. */
    {
        rt_session *w = NULL;
        int32_t wt[65];
        for (int i = 0; i < 65; i++)
            wt[i] = (int32_t)((uint32_t)(i * 2654435761u) >> 8) % nv;
        if (rt_session_new_kv(m, 65, o->kv_type, &w, err, sizeof err) != 0) goto fail;
        int wrc = rt_session_eval(w, wt, 64, NULL, NULL, err, sizeof err);
        if (wrc == 0) wrc = rt_session_eval(w, wt + 64, 1, NULL, NULL, err, sizeof err);
        rt_session_free(w);
        if (wrc != 0) goto fail;
    }
    double t0 = swarm_clock_sec();
    if (np > 0 && rt_session_eval(ss[0], ids, (size_t)np, NULL, NULL, err, sizeof err) != 0)
        goto fail;
    double t1 = swarm_clock_sec();
    /* the other sessions get the same prompt (not timed) */
    for (long b = 1; b < B && np > 0; b++)
        if (rt_session_eval(ss[b], ids, (size_t)np, NULL, NULL, err, sizeof err) != 0) goto fail;
    for (long b = 0; b < B; b++)
        toks[b] = (int32_t)((np > 0 ? ids[np - 1] : 1) + b) % nv;
    double t2 = swarm_clock_sec();
    for (long i = 0; i < ng; i++) {
        int drc = B == 1 ? rt_session_eval(ss[0], toks, 1, NULL, NULL, err, sizeof err)
                         : rt_sessions_decode(ss, toks, (size_t)B, NULL, err, sizeof err);
        if (drc != 0) goto fail;
        for (long b = 0; b < B; b++)
            toks[b] = (toks[b] * 31 + 7 + (int32_t)b) % nv;
    }
    double t3 = swarm_clock_sec();
    double pp = np > 0 ? (double)np / (t1 - t0) : 0.0;
    double tg = ng > 0 ? (double)(ng * B) / (t3 - t2) : 0.0;
    long nthr = o->n_threads > 0 ? o->n_threads : sysconf(_SC_NPROCESSORS_ONLN);
    double bw = bench_bandwidth_gb_s(nthr);
    double bpt = (double)rt_model_decode_bytes(m);
    /* the bound for one stream: bandwidth / bytes per token */
    double bound = bpt > 0 ? bw * 1e9 / bpt : 0.0;
    double roof = bound > 0 && B == 1 ? tg / bound : 0.0;
    if (o->json)
        printf("{\"model\":\"%s\",\"arch\":\"%s\",\"n_prompt\":%ld,\"n_gen\":%ld,\"batch\":%ld,"
               "\"streams\":%ld,\"threads\":%ld,\"pp_tok_s\":%.3f,\"tg_tok_s\":%.3f,"
               "\"pp_s\":%.4f,\"tg_s\":%.4f,\"bandwidth_gb_s\":%.3f,\"bytes_per_token\":%.0f,"
               "\"tg_bound_tok_s\":%.3f,\"roofline\":%.4f,\"kv_type\":\"%s\","
               "\"kv_bytes_per_token\":%zu,\"kv_bytes\":%zu}\n",
               rt_model_name(m), rt_model_arch(m), np, ng, B, B, nthr, pp, tg, t1 - t0, t3 - t2, bw,
               bpt, bound, roof, rt_kv_type_name(o->kv_type),
               rt_kv_bytes_per_token_type(m, o->kv_type),
               rt_kv_bytes_per_token_type(m, o->kv_type) * (size_t)n_ctx * (size_t)B);
    else
        printf("%s (%s): prompt %ld tok at %.2f tok/s, generation %ld x %ld tok at %.2f tok/s;\n"
               "read bandwidth %.2f GB/s, %.3f GB per token: bound %.2f tok/s%s%.2f\n",
               rt_model_name(m), rt_model_arch(m), np, pp, B, ng, tg, bw, bpt / 1e9, bound,
               B == 1 ? ", roofline " : " (single-stream roofline n/a) ", roof);
    if (!o->json)
        printf("KV cache %s: %zu bytes per position, %zu bytes for %ld x %ld positions\n",
               rt_kv_type_name(o->kv_type), rt_kv_bytes_per_token_type(m, o->kv_type),
               rt_kv_bytes_per_token_type(m, o->kv_type) * (size_t)n_ctx * (size_t)B, B, n_ctx);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "swarm-infer: %s\n", err);
done:
    for (long b = 0; ss && b < B; b++)
        rt_session_free(ss[b]);
    free(ss);
    free(ids);
    free(toks);
    rt_model_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage(NULL);
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        swarm_version_print(stdout, "swarm-infer");
        return 0;
    }
    if (strcmp(cmd, "mkmodel") == 0) return rt_mkmodel_main(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0) return serve_main(argc - 1, argv + 1);
    opts o;
    if (parse_opts(argc, argv, &o) != 0) return usage(NULL);
    if (o.help) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(cmd, "tokenize") == 0) return cmd_tokenize(&o);
    if (strcmp(cmd, "logits") == 0) return cmd_logits(&o);
    if (strcmp(cmd, "generate") == 0) return cmd_generate(&o);
    if (strcmp(cmd, "bench") == 0) return cmd_bench(&o);
    fprintf(stderr, "swarm-infer: unknown command '%s'\n", cmd);
    return usage(NULL);
}
