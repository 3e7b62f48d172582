/* test_vocab.c - vocabulary loading rules, special tokens and robustness.
 *
 * Small GGUF vocabularies are written here to check: validation errors name
 * the file and key; user-defined tokens are split out of text even without
 * parse_special while control tokens are not; end-of-generation tokens are
 * recognised by text; BPE merges apply by rank. Then every real vocabulary
 * in the fixtures tokenizes random bytes without error or out-of-range ids,
 * and the hand-written GPT-2 / LLaMA-3 splitters agree with PCRE2 running the
 * original regexes with Unicode properties. Usage: test_vocab FIXTURES_DIR */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf.h"
#include "gguf_write.h"
#include "tokenizer/tok_internal.h"
#include "vocab.h"
#include "../common/check.h"

static char g_path[256];

/* GPT-2's byte -> printable codepoint map, written out independently of the runtime's. */
static void byte_text(int b, char *out)
{
    int cp;
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) {
        cp = b;
    } else {
        int n = 0;
        for (int i = 0; i < b; i++)
            n += !((i >= 0x21 && i <= 0x7E) || (i >= 0xA1 && i <= 0xAC) || i >= 0xAE);
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp, out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
    }
}

typedef struct {
    const char *model;     /* tokenizer.ggml.model, NULL = omit */
    const char *pre;       /* NULL = omit */
    bool merges;           /* write merges */
    const char *bad_merge; /* extra malformed merge */
    int64_t bos;           /* -1 = omit */
    bool short_scores;
} spec;

enum { N_BYTES = 256, ID_AB = 256, ID_TOOL, ID_IMS, ID_IME, N_TOK };

static int write_vocab(const spec *s)
{
    char err[256];
    static char texts[N_BYTES][4];
    const char *toks[N_TOK];
    int32_t types[N_TOK];
    float scores[N_TOK];
    for (int b = 0; b < N_BYTES; b++) {
        byte_text(b, texts[b]);
        toks[b] = texts[b];
        types[b] = 1;
    }
    toks[ID_AB] = "ab", types[ID_AB] = 1;
    toks[ID_TOOL] = "<tool>", types[ID_TOOL] = 4;     /* user-defined */
    toks[ID_IMS] = "<|im_start|>", types[ID_IMS] = 3; /* control */
    toks[ID_IME] = "<|im_end|>", types[ID_IME] = 1;   /* normal, but an EOG text */
    for (int i = 0; i < N_TOK; i++)
        scores[i] = (float)-i;
    const char *merges[] = {"a b", s->bad_merge};
    gguf_writer *w = gguf_writer_new();
    int rc = !w;
    if (!rc && s->model)
        rc = gguf_writer_add_str(w, "tokenizer.ggml.model", s->model, err, sizeof(err));
    if (!rc && s->pre) rc = gguf_writer_add_str(w, "tokenizer.ggml.pre", s->pre, err, sizeof(err));
    if (!rc)
        rc = gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, N_TOK, err,
                                     sizeof(err));
    if (!rc)
        rc = gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_T_INT32, types, N_TOK, err,
                                 sizeof(err));
    if (!rc)
        rc = gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_T_FLOAT32, scores,
                                 s->short_scores ? 10 : N_TOK, err, sizeof(err));
    if (!rc && s->merges)
        rc = gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", merges, NULL, s->bad_merge ? 2 : 1,
                                     err, sizeof(err));
    if (!rc && s->bos >= 0)
        rc = gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)s->bos, err,
                                 sizeof(err));
    if (!rc) rc = gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", false, err, sizeof(err));
    if (!rc)
        rc = gguf_writer_begin(w, g_path, err, sizeof(err)) ||
             gguf_writer_finish(w, err, sizeof(err));
    if (rc) fprintf(stderr, "cannot write %s: %s\n", g_path, err);
    gguf_writer_free(w);
    return rc;
}

/* Loads g_path; returns the vocab or NULL with err filled. */
static rt_vocab *load(gguf_file **g, char *err, size_t errlen)
{
    rt_vocab *v = NULL;
    *g = NULL;
    if (gguf_open(g_path, g, err, errlen)) return NULL;
    if (rt_vocab_load(*g, &v, err, errlen)) {
        gguf_close(*g);
        *g = NULL;
        return NULL;
    }
    return v;
}

static void expect_error(const spec *s, const char *what, const char *needle)
{
    char err[512] = "";
    gguf_file *g;
    if (write_vocab(s)) {
        CHECK(0, "%s: cannot write", what);
        return;
    }
    rt_vocab *v = load(&g, err, sizeof(err));
    CHECK(v == NULL, "%s: loaded without error", what);
    CHECK(strstr(err, needle) != NULL, "%s: error \"%s\" does not mention \"%s\"", what, err,
          needle);
    if (v) {
        rt_vocab_free(v);
        gguf_close(g);
    }
}

static void expect_ids(const rt_vocab *v, const char *text, bool parse_special, const int32_t *want,
                       size_t nw, const char *what)
{
    int32_t *ids = NULL;
    size_t n = 0;
    char err[256];
    int rc =
        rt_vocab_tokenize(v, text, strlen(text), false, parse_special, &ids, &n, err, sizeof(err));
    CHECK(rc == 0, "%s: %s", what, err);
    bool same = rc == 0 && n == nw && (n == 0 || memcmp(ids, want, n * sizeof(*ids)) == 0);
    if (!same) {
        fprintf(stderr, "  got:");
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n");
    }
    CHECK(same, "%s: ids differ", what);
    free(ids);
}

static void test_written(void)
{
    spec ok = {"gpt2", "gpt-2", true, NULL, ID_IMS, false};
    char err[512] = "";
    gguf_file *g;
    if (write_vocab(&ok)) {
        CHECK(0, "cannot write the base vocabulary");
        return;
    }
    rt_vocab *v = load(&g, err, sizeof(err));
    CHECK(v != NULL, "base vocabulary: %s", err);
    if (v) {
        CHECK(rt_vocab_n_tokens(v) == N_TOK, "n_tokens %d", rt_vocab_n_tokens(v));
        CHECK(rt_vocab_bos(v) == ID_IMS, "bos %d", rt_vocab_bos(v));
        CHECK(!rt_vocab_add_bos(v), "add_bos should follow the key (false)");
        const int32_t ab[] = {ID_AB, ID_TOOL, ID_AB, 'a'};
        expect_ids(v, "ab<tool>aba", false, ab, 4, "merge + user-defined token");
        const int32_t ctl_plain[] = {'x', '<', '|', 'i', 'm', '_', 's',
                                     't', 'a', 'r', 't', '|', '>', 'y'};
        expect_ids(v, "x<|im_start|>y", false, ctl_plain, 14, "control token is plain text");
        const int32_t ctl_special[] = {'x', ID_IMS, 'y'};
        expect_ids(v, "x<|im_start|>y", true, ctl_special, 3, "control token with parse_special");
        const int32_t eog_special[] = {ID_IME};
        expect_ids(v, "<|im_end|>", true, eog_special, 1, "EOG token with parse_special");
        /* "<|im_end|>" was a normal token, but its text makes it control: plain text now */
        const int32_t eog_plain[] = {'<', '|', 'i', 'm', '_', 'e', 'n', 'd', '|', '>'};
        expect_ids(v, "<|im_end|>", false, eog_plain, 10, "EOG text without parse_special");
        CHECK(rt_vocab_is_eog(v, ID_IME), "<|im_end|> is not end-of-generation");
        CHECK(!rt_vocab_is_eog(v, ID_IMS), "<|im_start|> is end-of-generation");
        CHECK(rt_vocab_find(v, "<tool>") == ID_TOOL, "find <tool>");
        CHECK(!strcmp(rt_vocab_model(v), "gpt2") && !strcmp(rt_vocab_pre(v), "gpt-2"),
              "model/pre names");
        CHECK(rt_vocab_is_control(v, ID_IMS) && rt_vocab_is_control(v, ID_IME) &&
                  !rt_vocab_is_control(v, ID_TOOL) && !rt_vocab_is_control(v, 'a') &&
                  !rt_vocab_is_control(v, N_TOK),
              "is_control");
        CHECK(rt_vocab_find(v, "<nope>") == -1, "find of a missing text");
        char buf[16];
        CHECK(rt_vocab_piece(v, ' ', buf, sizeof(buf)) == 1 && buf[0] == ' ',
              "piece of the space byte token");
        CHECK(rt_vocab_piece(v, ID_AB, buf, sizeof(buf)) == 2 && !memcmp(buf, "ab", 2),
              "piece of a merged token");
        CHECK(rt_vocab_piece(v, ID_TOOL, buf, 3) == 6 && !memcmp(buf, "<to", 3),
              "piece reports the full length and truncates to cap");
        CHECK(rt_vocab_piece(v, N_TOK, buf, sizeof(buf)) < 0, "piece of an out-of-range id");
        CHECK(rt_vocab_piece(v, -1, buf, sizeof(buf)) < 0, "piece of -1");
        int32_t *ids = NULL;
        size_t n = 5;
        CHECK(rt_vocab_tokenize(v, "", 0, true, false, &ids, &n, err, sizeof(err)) == 0 && n == 0,
              "empty text");
        free(ids);
        rt_vocab_free(v);
        gguf_close(g);
    }

    spec s = ok;
    s.model = NULL;
    expect_error(&s, "no model key", "tokenizer.ggml.model");
    s = ok, s.model = "sentencepiece-xl";
    expect_error(&s, "unknown model", "sentencepiece-xl");
    s = ok, s.merges = false;
    expect_error(&s, "BPE without merges", "tokenizer.ggml.merges");
    s = ok, s.bad_merge = "nospace";
    expect_error(&s, "malformed merge", "merges[1]");
    s = ok, s.pre = "martian-7b";
    expect_error(&s, "unknown pre-tokenizer", "martian-7b");
    s = ok, s.bos = 100000;
    expect_error(&s, "bos out of range", "bos_token_id");
    s = ok, s.short_scores = true;
    expect_error(&s, "short scores", "tokenizer.ggml.scores");
    /* every error names the file */
    s = ok, s.pre = "martian-7b";
    expect_error(&s, "error names file", g_path);

    /* "none": loads, but cannot tokenize */
    s = ok, s.model = "none";
    if (!write_vocab(&s)) {
        v = load(&g, err, sizeof(err));
        CHECK(v != NULL, "model none: %s", err);
        if (v) {
            int32_t *ids;
            size_t n;
            CHECK(rt_vocab_tokenize(v, "a", 1, false, false, &ids, &n, err, sizeof(err)) < 0 &&
                      strstr(err, "no vocabulary"),
                  "tokenize with no vocabulary: %s", err);
            rt_vocab_free(v);
            gguf_close(g);
        }
    }
    unlink(g_path);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static void test_random_bytes(const char *fix)
{
    static const char *names[] = {"bert-bge", "deepseek-coder", "deepseek-llm", "falcon",
                                  "gpt-2",    "llama-spm",      "mpt",          "phi-3",
                                  "refact",   "starcoder"};
    char path[1024], err[512];
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        snprintf(path, sizeof(path), "%s/tokenizer/llama.cpp-vocab/ggml-vocab-%s.gguf", fix,
                 names[k]);
        gguf_file *g;
        rt_vocab *v;
        if (gguf_open(path, &g, err, sizeof(err)) || rt_vocab_load(g, &v, err, sizeof(err))) {
            CHECK(0, "%s: %s", path, err);
            continue;
        }
        for (int t = 0; t < 20; t++) {
            char buf[600];
            size_t n = rnd() % sizeof(buf);
            for (size_t i = 0; i < n; i++) /* bias toward ASCII, spaces and UTF-8 lead bytes */
                buf[i] = t % 2 ? (char)rnd() : " a\n\xe4\xb8\x80\xc3\xa9<|>0"[rnd() % 12];
            int32_t *ids;
            size_t nid;
            int rc = rt_vocab_tokenize(v, buf, n, true, t % 3 == 0, &ids, &nid, err, sizeof(err));
            CHECK(rc == 0, "%s: random input %d: %s", names[k], t, err);
            if (rc == 0) {
                for (size_t i = 0; i < nid; i++)
                    CHECK(ids[i] >= 0 && ids[i] < rt_vocab_n_tokens(v), "%s: id %d out of range",
                          names[k], ids[i]);
                free(ids);
            }
        }
        rt_vocab_free(v);
        gguf_close(g);
    }
}

/* Splits with PCRE2 + Unicode properties, the reference for the hand-written splitters. */
static size_t pcre_split(const char *re, const char *s, size_t n, size_t *lens, size_t max)
{
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *c =
        pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
    size_t k = 0, at = 0, gap = 0;
    while (at < n && k < max) {
        if (pcre2_match(c, (PCRE2_SPTR)s, n, at, 0, md, NULL) < 0) break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[0] > gap) lens[k++] = ov[0] - gap; /* in bytes; the caller converts */
        lens[k++] = ov[1] - ov[0];
        gap = at = ov[1];
    }
    if (gap < n) lens[k++] = n - gap;
    pcre2_match_data_free(md);
    pcre2_code_free(c);
    return k;
}

static void test_splitters(void)
{
    static const char *re[] = {
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
        "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    };
    static const char *pre[] = {"gpt-2", "llama-bpe"};
    /* alphabet whose categories PCRE2 and the runtime tables agree on */
    static const char *alpha[] = {"a",
                                  "B",
                                  "z",
                                  "'",
                                  "s",
                                  "t",
                                  "L",
                                  "l",
                                  "1",
                                  "9",
                                  " ",
                                  " ",
                                  "\t",
                                  "\n",
                                  "\r",
                                  "!",
                                  ".",
                                  "(",
                                  "\xc3\xa9",
                                  "\xe4\xb8\xad",
                                  "\xf0\x9f\x9a\x80",
                                  "\xd0\x96",
                                  "_",
                                  "$",
                                  "\xc2\xa0"};
    for (int p = 0; p < 2; p++) {
        spec s = {"gpt2", pre[p], true, NULL, -1, false};
        char err[512];
        gguf_file *g;
        if (write_vocab(&s)) {
            CHECK(0, "write");
            continue;
        }
        rt_vocab *v = load(&g, err, sizeof(err));
        CHECK(v != NULL, "%s: %s", pre[p], err);
        if (!v) continue;
        int bad = 0;
        for (int t = 0; t < 400 && bad < 3; t++) {
            char text[400];
            size_t n = 0, nc = rnd() % 40;
            for (size_t i = 0; i < nc; i++) {
                const char *a = alpha[rnd() % (sizeof(alpha) / sizeof(alpha[0]))];
                memcpy(text + n, a, strlen(a));
                n += strlen(a);
            }
            size_t ref[400], nref = pcre_split(re[p], text, n, ref, 400);
            /* byte lengths -> codepoint counts */
            for (size_t i = 0, off = 0; i < nref; i++) {
                size_t cps = 0;
                for (size_t j = off; j < off + ref[i]; j++)
                    cps += ((unsigned char)text[j] & 0xC0) != 0x80;
                off += ref[i];
                ref[i] = cps;
            }
            size_t ncp = 0;
            uint32_t cps[400];
            for (size_t j = 0; j < n;) {
                unsigned char c = (unsigned char)text[j];
                size_t l = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
                uint32_t cp = l == 1 ? c : (c & (0x7F >> l));
                for (size_t q = 1; q < l; q++)
                    cp = (cp << 6) | ((unsigned char)text[j + q] & 0x3F);
                cps[ncp++] = cp;
                j += l;
            }
            size_t *got = NULL, ngot = 0;
            int rc = tok_pretok_split(v, cps, ncp, &got, &ngot, err, sizeof(err));
            bool same =
                rc == 0 && ngot == nref && (ngot == 0 || !memcmp(got, ref, ngot * sizeof(size_t)));
            if (!same) {
                bad++;
                fprintf(stderr, "  %s split differs for \"%.*s\": got", pre[p], (int)n, text);
                for (size_t i = 0; i < ngot; i++)
                    fprintf(stderr, " %zu", got[i]);
                fprintf(stderr, " want");
                for (size_t i = 0; i < nref; i++)
                    fprintf(stderr, " %zu", ref[i]);
                fprintf(stderr, "\n");
            }
            free(got);
        }
        CHECK(bad == 0, "%s: hand-written splitter disagrees with the regex", pre[p]);
        rt_vocab_free(v);
        gguf_close(g);
    }
    unlink(g_path);
}

/* Every supported tokenizer.ggml.pre compiles, and with all 256 byte tokens
 * present any text tokenizes and detokenizes back to itself. */
static void test_all_families(void)
{
    static const char *pres[] = {
        "default",      "llama3",      "llama-bpe",      "dbrx",   "smaug-bpe",
        "deepseek-llm", "deepseek-v3", "deepseek-coder", "falcon", "starcoder",
        "refact",       "command-r",   "gpt-2",          "mpt",    "olmo",
        "qwen2",        "stablelm2",   "poro-chat",      "bloom",  "chatglm-bpe",
        "viking",       "tekken",      "chameleon",      "gpt-4o", "llama4",
        "superbpe",     "bailingmoe",  "seed-coder",     "grok-2", "",
    };
    const char *text = "Hello World's 12345 3.14 -- naïve café 東京 ひらがな Привет 🚀\n\t  x  \r\n"
                       "<sentinel:12> IMGIMGABZ fooBarBAZ I'LL 1234567";
    for (size_t i = 0; i < sizeof(pres) / sizeof(pres[0]); i++) {
        spec s = {"gpt2", pres[i][0] ? pres[i] : NULL, true, NULL, -1, false};
        char err[512];
        gguf_file *g;
        if (write_vocab(&s)) {
            CHECK(0, "write");
            continue;
        }
        rt_vocab *v = load(&g, err, sizeof(err));
        CHECK(v != NULL, "pre \"%s\": %s", pres[i], err);
        if (!v) continue;
        int32_t *ids = NULL;
        size_t n = 0;
        int rc = rt_vocab_tokenize(v, text, strlen(text), false, false, &ids, &n, err, sizeof(err));
        CHECK(rc == 0, "pre \"%s\": %s", pres[i], err);
        if (rc == 0) {
            char out[1024];
            size_t o = 0;
            for (size_t k = 0; k < n; k++) {
                int l = rt_vocab_piece(v, ids[k], out + o, sizeof(out) - o);
                if (l > 0) o += (size_t)l;
            }
            CHECK(o == strlen(text) && !memcmp(out, text, o), "pre \"%s\": round trip differs",
                  pres[i]);
            free(ids);
        }
        rt_vocab_free(v);
        gguf_close(g);
    }
    unlink(g_path);
}

int main(int argc, char **argv)
{
    const char *fix = argc > 1 ? argv[1] : getenv("SWARM_FIXTURES");
    char dir[] = "/tmp/swarm-vocab-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(g_path, sizeof(g_path), "%s/v.gguf", dir);
    test_written();
    test_splitters();
    test_all_families();
    char probe[1024];
    snprintf(probe, sizeof(probe), "%s/tokenizer/llama.cpp-vocab/ggml-vocab-gpt-2.gguf",
             fix ? fix : "");
    if (fix && access(probe, R_OK) == 0) {
        test_random_bytes(fix);
    } else {
        const char *ci = getenv("CI");
        fprintf(stderr, "fixtures missing (%s): skipping random-input part\n", probe);
        if (ci && !strcmp(ci, "true")) check_fail_count++;
    }
    rmdir(dir);
    printf("%s (%d failures)\n", check_fail_count ? "FAILED" : "vocab checks passed",
           check_fail_count);
    return check_fail_count ? 1 : 0;
}
