/* pretok.c - the BPE pre-tokenizers: splitting text into words before merges.
 *
 * Each family named by tokenizer.ggml.pre is a list of regexes applied in
 * sequence, each one refining the words of the previous (matches and the gaps
 * between them both become words). To reproduce llama.cpp exactly we also
 * reproduce how it evaluates them: the GPT-2 and LLaMA-3 patterns run through
 * hand-written splitters; any other pattern that uses \p{..} classes runs over
 * a "collapsed" text where every non-ASCII codepoint is replaced by one byte
 * standing for its category (and \p{X} by a class of that byte plus the ASCII
 * members), so e.g. a non-ASCII uppercase letter also matches [^A-Z]; patterns
 * without \p{..} run over codepoints with non-ASCII whitespace mapped to \v.
 * PCRE2 evaluates the regexes (8-bit, JIT when available). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"
#include "tok_unicode.h"
#include "swarm_err.h"

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_LLAMA3                                                                                  \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"     \
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                                   \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"     \
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_PORO                                                                                    \
    " ?[^(\\s|.,!?\xe2\x80\xa6\xe3\x80\x82\xef\xbc\x8c\xe3\x80\x81\xe0\xa5\xa4\xdb\x94\xd8\x8c)]+"
#define RE_GPT4O                                                                                   \
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]" \
    "|"                                                                                            \
    "'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])" \
    "("                                                                                            \
    "[^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| "            \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_TEKKEN                                                                                  \
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?(" \
    "("                                                                                            \
    "?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| "                                        \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]"                                                  \
    "+|\\s+(?!\\S)|\\s+"
/* deepseek-llm's letter class, from its tokenizer.json (UTF-8) */
#define RE_DSLLM_LETTERS                                                                           \
    "\\s?[A-Za-z\xc2\xb5\xc3\x80-\xc3\x96\xc3\x98-\xc3\xb6\xc3\xb8-\xc6\xba\xc6\xbc-\xc6\xbf\xc7"  \
    "\x84-\xca\x93\xca\x95-\xca\xaf\xcd\xb0-\xcd\xb3\xcd\xb6\xcd\xb7\xcd\xbb-\xcd\xbd\xcd\xbf\xce" \
    "\x86\xce\x88-\xce\x8a\xce\x8c\xce\x8e-\xce\xa1\xce\xa3-\xcf\xb5\xcf\xb7-\xd2\x81\xd2\x8a-"    \
    "\xd4"                                                                                         \
    "\xaf\xd4\xb1-\xd5\x96\xe1\x82\xa0-\xe1\x83\x85\xe1\x8e\xa0-\xe1\x8f\xb5\xe1\x8f\xb8-\xe1\x8f" \
    "\xbd\xe1\xb2\x90-\xe1\xb2\xba\xe1\xb2\xbd-\xe1\xb2\xbf\xe1\xb4\x80-\xe1\xb4\xab\xe1\xb5\xab-" \
    "\xe1\xb5\xb7\xe1\xb5\xb9-\xe1\xb6\x9a\xe1\xb8\x80-\xe1\xbc\x95\xe1\xbc\x98-\xe1\xbc\x9d\xe1"  \
    "\xbc\xa0-\xe1\xbd\x85\xe1\xbd\x88-\xe1\xbd\x8d\xe1\xbd\x90-\xe1\xbd\x97\xe1\xbd\x99\xe1\xbd"  \
    "\x9b\xe1\xbd\x9d\xe1\xbd\x9f-\xe1\xbd\xbd\xe1\xbe\x80-\xe1\xbe\xb4\xe1\xbe\xb6-\xe1\xbe\xbc"  \
    "\xe1\xbe\xbe\xe1\xbf\x82-\xe1\xbf\x84\xe1\xbf\x86-\xe1\xbf\x8c\xe1\xbf\x90-\xe1\xbf\x93\xe1"  \
    "\xbf\x96-\xe1\xbf\x9b\xe1\xbf\xa0-\xe1\xbf\xac\xe1\xbf\xb2-\xe1\xbf\xb4\xe1\xbf\xb6-\xe1\xbf" \
    "\xbc\xe2\x84\x82\xe2\x84\x87\xe2\x84\x8a-\xe2\x84\x93\xe2\x84\x95\xe2\x84\x99-\xe2\x84\x9d"   \
    "\xe2\x84\xa4\xe2\x84\xa6\xe2\x84\xa8\xe2\x84\xaa-\xe2\x84\xad\xe2\x84\xaf-\xe2\x84\xb4\xe2"   \
    "\x84\xb9\xe2\x84\xbc-\xe2\x84\xbf\xe2\x85\x85-\xe2\x85\x89\xe2\x85\x8e\xe2\x86\x83\xe2\x86"   \
    "\x84\xe2\xb0\x80-\xe2\xb1\xbb\xe2\xb1\xbe-\xe2\xb3\xa4\xe2\xb3\xab-\xe2\xb3\xae\xe2\xb3\xb2"  \
    "\xe2\xb3\xb3\xea\x99\x80-\xea\x99\xad\xea\x9a\x80-\xea\x9a\x9b\xea\x9c\xa2-\xea\x9d\xaf\xea"  \
    "\x9d\xb1-\xea\x9e\x87\xea\x9e\x8b-\xea\x9e\x8e\xea\xad\xb0-\xea\xae\xbf\xef\xac\x80-\xef\xac" \
    "\x86\xef\xac\x93-\xef\xac\x97\xef\xbc\xa1-\xef\xbc\xba\xef\xbd\x81-\xef\xbd\x9a\xf0\x90\x90"  \
    "\x80-\xf0\x90\x91\x8f\xf0\x90\x92\xb0-\xf0\x90\x93\x93\xf0\x90\x93\x98-\xf0\x90\x93\xbb\xf0"  \
    "\x90\xb2\x80-\xf0\x90\xb2\xb2\xf0\x90\xb3\x80-\xf0\x90\xb3\xb2\xf0\x91\xa2\xa0-\xf0\x91\xa3"  \
    "\x9f\xf0\x9e\xa4\x80-\xf0\x9e\xa5\x83]+"
#define RE_DS_PUNCT                                                                                \
    "\\s?[!-/:-~\xef\xbc\x81-\xef\xbc\x8f\xef\xbc\x9a-\xef\xbd\x9e\xe2\x80\x98-\xe2\x80\x9f\xe3"   \
    "\x80\x80-\xe3\x80\x82]+"
#define RE_DS_CJK "[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9e\xbf]+"
#define RE_DS3_CJK "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+"
#define RE_DS3_MAIN                                                                                \
    "[!\"#$%&'()*+,\\-./"                                                                          \
    ":;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"                \
    " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"

typedef struct {
    const char *names; /* '|'-separated tokenizer.ggml.pre values */
    const char *res[TOK_MAX_SPLITS];
    bool ignore_merges, add_bos, no_bos;
} pre_family;

static const pre_family k_families[] = {
    {"default", {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}, 0, 0, 0},
    {"llama3|llama-v3|llama-bpe|falcon3|falcon-h1|pixtral|midm-2.0|lfm2", {RE_LLAMA3}, 1, 1, 0},
    {"dbrx|smaug-bpe", {RE_LLAMA3}, 0, 0, 0},
    {"deepseek-llm",
     {"[\r\n]", RE_DSLLM_LETTERS, RE_DS_PUNCT, "\\s+$", RE_DS_CJK, "\\p{N}+"},
     0,
     0,
     0},
    {"deepseek-v3|hunyuan-dense", {"\\p{N}{1,3}", RE_DS3_CJK, RE_DS3_MAIN}, 0, 0, 0},
    {"deepseek-coder", {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_DS_CJK, "\\p{N}"}, 0, 0, 0},
    {"falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}, 0, 0, 0},
    {"starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b", {"\\p{N}", RE_GPT2}, 0, 0, 0},
    {"gpt-2|phi-2|jina-es|jina-de|gigachat|jina-v1-en|jina-v2-es|jina-v2-de|jina-v2-code|"
     "roberta-bpe|mpt|olmo|jais|trillion|exaone4|a.x-4.0|mellum|granite-docling",
     {RE_GPT2},
     0,
     0,
     0},
    {"qwen2|deepseek-r1-qwen|stablelm2|megrez|hunyuan|solar-open", {RE_QWEN2}, 0, 0, 0},
    {"poro-chat|bloom|gpt3-finnish", {RE_PORO}, 0, 0, 0},
    {"glm4|chatglm-bpe", {RE_LLAMA3}, 0, 0, 1},
    {"viking", {RE_PORO, "\\p{N}"}, 0, 0, 0},
    {"tekken", {RE_TEKKEN}, 1, 1, 0},
    {"chameleon",
     {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", "\\p{N}",
      "[\\p{P}!-/:-@\\[-`{-~]", RE_GPT2},
     0,
     1,
     0},
    {"gpt-4o|llama4|minimax-m2", {RE_GPT4O}, 0, 0, 0},
    {"superbpe", {"\\p{N}+", "(?=(\\d{3})+(?!\\d))"}, 0, 0, 0},
    {"bailingmoe|bailingmoe2|llada-moe",
     {"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"},
     0,
     0,
     0},
    {"seed-coder",
     {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
      "\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
     0,
     0,
     0},
    {"grok-2", {RE_QWEN2}, 0, 0, 0},
};

static bool name_in(const char *names, const char *pre)
{
    size_t n = strlen(pre);
    for (const char *p = names; *p;) {
        const char *e = strchr(p, '|');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, pre, n) == 0) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

/* llama.cpp's stand-in bytes for the categories in collapsed text */
enum { COL_OTHER = 0xD0, COL_N = 0xD1, COL_L = 0xD2, COL_P = 0xD3, COL_M = 0xD4, COL_S = 0xD5 };

static int cat_of_escape(const char *p)
{
    if (p[0] != '\\' || p[1] != 'p' || p[2] != '{' || !p[3] || p[4] != '}') return 0;
    switch (p[3]) {
    case 'N':
        return COL_N;
    case 'L':
        return COL_L;
    case 'P':
        return COL_P;
    case 'M':
        return COL_M;
    case 'S':
        return COL_S;
    default:
        return 0;
    }
}

static bool uses_categories(const char *re)
{
    for (const char *p = re; *p; p++)
        if (cat_of_escape(p)) return true;
    return false;
}

/* Rewrites \p{X} into "[<byte>ascii-members]" (or without brackets inside a class). */
static char *collapse_regex(const char *re)
{
    size_t n = strlen(re);
    char *o = malloc(n * 48 + 1);
    if (!o) return NULL;
    size_t k = 0;
    bool inside = false;
    for (size_t i = 0; i < n; i++) {
        if (re[i] == '[' && (i == 0 || re[i - 1] != '\\')) {
            o[k++] = '[';
            inside = true;
            continue;
        }
        if (inside && re[i] == ']' && re[i - 1] != '\\') {
            o[k++] = ']';
            inside = false;
            continue;
        }
        int c = cat_of_escape(re + i);
        if (c) {
            static const char *const ascii[] = {
                [COL_N - COL_OTHER] = "0-9",
                [COL_L - COL_OTHER] = "A-Za-z",
                [COL_P - COL_OTHER] = "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}",
                [COL_M - COL_OTHER] = "",
                [COL_S - COL_OTHER] = "\\$\\+<->^`\\|",
            };
            if (!inside) o[k++] = '[';
            o[k++] = (char)c;
            const char *a = ascii[c - COL_OTHER];
            size_t al = strlen(a);
            memcpy(o + k, a, al);
            k += al;
            if (!inside) o[k++] = ']';
            i += 4;
            continue;
        }
        o[k++] = re[i];
    }
    o[k] = 0;
    return o;
}

static int compile(tok_split *s, const char *re, bool utf, char *err, size_t errlen)
{
    int ec;
    PCRE2_SIZE eo;
    uint32_t opts = PCRE2_DOLLAR_ENDONLY | (utf ? PCRE2_UTF : 0);
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, opts, &ec, &eo, NULL);
    if (!code) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof(msg));
        return swarm_err_set(err, errlen, "pre-tokenizer regex does not compile at offset %zu: %s",
                             (size_t)eo, (const char *)msg);
    }
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
    s->code = code;
    return 0;
}

int tok_pretok_init(rt_vocab *v, const char *pre, char *err, size_t errlen)
{
    const pre_family *fam = NULL;
    const char *name = pre[0] ? pre : "default"; /* llama.cpp's fallback for old files */
    for (size_t i = 0; i < sizeof(k_families) / sizeof(k_families[0]); i++) {
        if (name_in(k_families[i].names, name)) {
            fam = &k_families[i];
            break;
        }
    }
    if (!fam) {
        char known[1024];
        size_t k = 0;
        for (size_t i = 0; i < sizeof(k_families) / sizeof(k_families[0]) && k < sizeof(known) - 1;
             i++)
            k += (size_t)snprintf(known + k, sizeof(known) - k, "%s%s", i ? "|" : "",
                                  k_families[i].names);
        return swarm_err_set(err, errlen, "tokenizer.ggml.pre \"%s\" is not supported (known: %s)",
                             pre, known);
    }
    v->ignore_merges = fam->ignore_merges;
    if (fam->add_bos) v->add_bos = true;
    if (fam->no_bos) v->bos = -1;
    for (size_t i = 0; i < TOK_MAX_SPLITS && fam->res[i]; i++) {
        const char *re = fam->res[i];
        tok_split *s = &v->splits[v->n_splits];
        if (!strcmp(re, RE_GPT2)) {
            s->kind = TOK_SPLIT_GPT2;
        } else if (!strcmp(re, RE_LLAMA3)) {
            s->kind = TOK_SPLIT_LLAMA3;
        } else if (uses_categories(re)) {
            char *c = collapse_regex(re);
            if (!c) return swarm_err_set(err, errlen, "out of memory");
            s->kind = TOK_SPLIT_COLLAPSED;
            int rc = compile(s, c, false, err, errlen);
            free(c);
            if (rc) return rc;
        } else {
            s->kind = TOK_SPLIT_UTF;
            if (compile(s, re, true, err, errlen)) return -1;
        }
        v->n_splits++;
    }
    return 0;
}

void tok_pretok_free(rt_vocab *v)
{
    for (size_t i = 0; i < v->n_splits; i++)
        if (v->splits[i].code) pcre2_code_free(v->splits[i].code);
    v->n_splits = 0;
}

typedef struct {
    size_t *v;
    size_t n, cap;
} lens;

static int lens_push(lens *l, size_t x)
{
    if (x == 0) return 0; /* empty words tokenize to nothing */
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        size_t *nv = realloc(l->v, nc * sizeof(*nv));
        if (!nv) return -1;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = x;
    return 0;
}

#define OUT_OF_RANGE 0xFFFFFFFFu

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ over [a, b) */
static int split_gpt2(const uint32_t *cp, size_t a, size_t b, lens *out)
{
#define CPT(p) ((p) >= a && (p) < b ? cp[p] : OUT_OF_RANGE)
#define FL(p) ((p) >= a && (p) < b ? tok_cpt_flags(cp[p]) : 0u)
    size_t prev = a;
    for (size_t pos = a; pos < b;) {
        uint32_t c = CPT(pos);
        unsigned f = FL(pos);
        if (c == '\'' && pos + 1 < b) {
            uint32_t n1 = CPT(pos + 1);
            if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
                pos += 2;
                goto emit;
            }
            if (pos + 2 < b) {
                uint32_t n2 = CPT(pos + 2);
                if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') ||
                    (n1 == 'l' && n2 == 'l')) {
                    pos += 3;
                    goto emit;
                }
            }
        }
        unsigned f2 = c == ' ' ? FL(pos + 1) : f;
        if (f2 & TOK_F_LETTER) {
            pos += c == ' ';
            while (FL(pos) & TOK_F_LETTER)
                pos++;
            goto emit;
        }
        if (f2 & TOK_F_NUMBER) {
            pos += c == ' ';
            while (FL(pos) & TOK_F_NUMBER)
                pos++;
            goto emit;
        }
        if (!(f2 & (TOK_F_WHITESPACE | TOK_F_LETTER | TOK_F_NUMBER)) && f2) {
            pos += c == ' ';
            for (;;) {
                unsigned g = FL(pos);
                if ((g & (TOK_F_WHITESPACE | TOK_F_LETTER | TOK_F_NUMBER)) || !g) break;
                pos++;
            }
            goto emit;
        }
        {
            size_t nws = 0;
            while (FL(pos + nws) & TOK_F_WHITESPACE)
                nws++;
            if (nws > 1 && CPT(pos + nws) != OUT_OF_RANGE)
                pos += nws - 1; /* leave the last space to prefix the next word */
            else if (nws > 0)
                pos += nws;
            else
                pos++;
        }
    emit:
        if (lens_push(out, pos - prev)) return -1;
        prev = pos;
    }
    return 0;
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 * \s*[\r\n]+|\s+(?!\S)|\s+ over [a, b) */
static int split_llama3(const uint32_t *cp, size_t a, size_t b, lens *out)
{
    size_t prev = a;
    for (size_t pos = a; pos < b;) {
        uint32_t c = CPT(pos);
        unsigned f = FL(pos);
        if (c == '\'' && pos + 1 < b) {
            uint32_t n1 = tok_cpt_lower(CPT(pos + 1));
            if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
                pos += 2;
                goto emit;
            }
            if (pos + 2 < b) {
                uint32_t n2 = tok_cpt_lower(CPT(pos + 2));
                if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') ||
                    (n1 == 'l' && n2 == 'l')) {
                    pos += 3;
                    goto emit;
                }
            }
        }
        if (!(c == '\r' || c == '\n' || (f & TOK_F_NUMBER))) {
            if ((f & TOK_F_LETTER) || (FL(pos + 1) & TOK_F_LETTER)) {
                pos++;
                while (FL(pos) & TOK_F_LETTER)
                    pos++;
                goto emit;
            }
        }
        if (f & TOK_F_NUMBER) {
            size_t ini = pos;
            while (FL(pos) & TOK_F_NUMBER) {
                if (++pos - ini >= 3) {
                    if (lens_push(out, pos - prev)) return -1;
                    prev = pos;
                    ini = pos;
                }
            }
            goto emit;
        }
        {
            unsigned f2 = c == ' ' ? FL(pos + 1) : f;
            if (!(f2 & (TOK_F_WHITESPACE | TOK_F_LETTER | TOK_F_NUMBER)) && f) {
                pos += c == ' ';
                for (;;) {
                    unsigned g = FL(pos);
                    if ((g & (TOK_F_WHITESPACE | TOK_F_LETTER | TOK_F_NUMBER)) || !g) break;
                    pos++;
                }
                while (CPT(pos) == '\r' || CPT(pos) == '\n')
                    pos++;
                goto emit;
            }
        }
        {
            size_t nws = 0, last_rn = 0;
            while (FL(pos + nws) & TOK_F_WHITESPACE) {
                uint32_t c2 = CPT(pos + nws);
                if (c2 == '\r' || c2 == '\n') last_rn = pos + nws + 1;
                nws++;
            }
            if (last_rn > 0)
                pos = last_rn;
            else if (nws > 1 && CPT(pos + nws) != OUT_OF_RANGE)
                pos += nws - 1;
            else if (nws > 0)
                pos += nws;
            else
                pos++;
        }
    emit:
        if (lens_push(out, pos - prev)) return -1;
        prev = pos;
    }
    return 0;
#undef CPT
#undef FL
}

/* Matches and the gaps between them become words, within [a, b) of subject
 * (byte offsets; map converts bytes to codepoint counts when non-NULL). */
typedef struct {
    pcre2_match_data *md;
    pcre2_match_context *mctx; /* with a large JIT stack, made on first need */
    pcre2_jit_stack *jstack;
} matcher;

/* JIT matching uses a small machine-stack area by default; patterns with
 * repeated groups inside lookaheads can exhaust it on long words, so retry
 * those with a heap-allocated stack of up to 64 MB. */
static int match_once(const pcre2_code *code, PCRE2_SPTR s, size_t len, size_t start, uint32_t opts,
                      matcher *m)
{
    int rc = pcre2_match(code, s, len, start, opts, m->md, m->mctx);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !m->jstack) {
        m->jstack = pcre2_jit_stack_create(256 * 1024, 64 * 1024 * 1024, NULL);
        m->mctx = pcre2_match_context_create(NULL);
        if (!m->jstack || !m->mctx) return rc;
        pcre2_jit_stack_assign(m->mctx, NULL, m->jstack);
        rc = pcre2_match(code, s, len, start, opts, m->md, m->mctx);
    }
    return rc;
}

static int split_regex(const pcre2_code *code, const unsigned char *subj, size_t a, size_t b,
                       const size_t *byte_to_cp, matcher *mt, lens *out)
{
    pcre2_match_data *md = mt->md;
#define CP(x) (byte_to_cp ? byte_to_cp[x] : (x))
    PCRE2_SPTR s = subj + a;
    size_t len = b - a, start = 0, gap = 0;
    uint32_t opts = 0;
    while (start <= len) {
        /* subjects are valid UTF-8 by construction; skipping the check keeps
         * each call O(match) instead of O(subject) */
        int rc = match_once(code, s, len, start, opts | PCRE2_NO_UTF_CHECK, mt);
        if (rc == PCRE2_ERROR_NOMATCH) {
            if (opts == 0) break;
            /* no non-empty match here after an empty one: step one character */
            opts = 0;
            start++;
            while (byte_to_cp && start < len && (s[start] & 0xC0) == 0x80)
                start++;
            continue;
        }
        if (rc < 0) return -2;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (ms > gap && lens_push(out, CP(a + ms) - CP(a + gap))) return -1;
        if (lens_push(out, CP(a + me) - CP(a + ms))) return -1;
        gap = me;
        start = me;
        opts = ms == me ? (PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED) : 0;
    }
    if (gap < len && lens_push(out, CP(b) - CP(a + gap))) return -1;
    return 0;
#undef CP
}

int tok_pretok_split(const rt_vocab *v, const uint32_t *cps, size_t n, size_t **out_lens,
                     size_t *n_out, char *err, size_t errlen)
{
    lens cur = {0}, nxt = {0};
    unsigned char *coll = NULL, *wtxt = NULL;
    size_t *b2c = NULL, *c2b = NULL;
    matcher mt = {0};
    int rc = -1;
    if (lens_push(&cur, n)) goto oom;
    for (size_t si = 0; si < v->n_splits; si++) {
        const tok_split *sp = &v->splits[si];
        nxt.n = 0;
        if ((sp->kind == TOK_SPLIT_COLLAPSED || sp->kind == TOK_SPLIT_UTF) && !mt.md) {
            mt.md = pcre2_match_data_create(32, NULL);
            if (!mt.md) goto oom;
        }
        if (sp->kind == TOK_SPLIT_COLLAPSED && !coll) {
            coll = malloc(n ? n : 1);
            if (!coll) goto oom;
            for (size_t i = 0; i < n; i++) {
                uint32_t c = cps[i];
                unsigned f;
                if (c < 128)
                    coll[i] = (unsigned char)c;
                else if ((f = tok_cpt_flags(c)) & TOK_F_WHITESPACE)
                    coll[i] = 0x0B;
                else {
                    switch (f & TOK_F_CATEGORY) {
                    case TOK_F_NUMBER:
                        coll[i] = COL_N;
                        break;
                    case TOK_F_LETTER:
                        coll[i] = COL_L;
                        break;
                    case TOK_F_PUNCT:
                        coll[i] = COL_P;
                        break;
                    case TOK_F_ACCENT:
                        coll[i] = COL_M;
                        break;
                    case TOK_F_SYMBOL:
                        coll[i] = COL_S;
                        break;
                    default:
                        coll[i] = COL_OTHER;
                        break;
                    }
                }
            }
        }
        if (sp->kind == TOK_SPLIT_UTF && !wtxt) {
            wtxt = malloc(n * 4 + 1);
            c2b = malloc((n + 1) * sizeof(*c2b));
            b2c = malloc((n * 4 + 1) * sizeof(*b2c));
            if (!wtxt || !c2b || !b2c) goto oom;
            size_t k = 0;
            for (size_t i = 0; i < n; i++) {
                uint32_t c = cps[i];
                if (c > 0x7F && (tok_cpt_flags(c) & TOK_F_WHITESPACE)) c = 0x0B;
                if ((c >= 0xD800 && c < 0xE000) || c > 0x10FFFF)
                    c = 0xFFFD; /* PCRE2 needs valid UTF-8; neither matches any class */
                c2b[i] = k;
                size_t w = tok_utf8_put(c, (char *)wtxt + k);
                for (size_t j = 0; j < w; j++)
                    b2c[k + j] = i;
                k += w;
            }
            c2b[n] = k;
            b2c[k] = n;
        }
        size_t a = 0;
        for (size_t wi = 0; wi < cur.n; wi++) {
            size_t b = a + cur.v[wi];
            int r = 0;
            switch (sp->kind) {
            case TOK_SPLIT_GPT2:
                r = split_gpt2(cps, a, b, &nxt);
                break;
            case TOK_SPLIT_LLAMA3:
                r = split_llama3(cps, a, b, &nxt);
                break;
            case TOK_SPLIT_COLLAPSED:
                r = split_regex(sp->code, coll, a, b, NULL, &mt, &nxt);
                break;
            case TOK_SPLIT_UTF:
                r = split_regex(sp->code, wtxt, c2b[a], c2b[b], b2c, &mt, &nxt);
                break;
            }
            if (r == -1) goto oom;
            if (r < 0) {
                swarm_err_set(
                    err, errlen,
                    "pre-tokenizer \"%s\": regex match failed on a word of %zu characters "
                    "(resource limit)",
                    v->pre, b - a);
                goto done;
            }
            a = b;
        }
        lens t = cur;
        cur = nxt;
        nxt = t;
    }
    *out_lens = cur.v;
    *n_out = cur.n;
    cur.v = NULL;
    rc = 0;
    goto done;
oom:
    swarm_err_set(err, errlen, "tokenize: out of memory");
done:
    free(cur.v);
    free(nxt.v);
    free(coll);
    free(wtxt);
    free(b2c);
    free(c2b);
    if (mt.md) pcre2_match_data_free(mt.md);
    if (mt.mctx) pcre2_match_context_free(mt.mctx);
    if (mt.jstack) pcre2_jit_stack_free(mt.jstack);
    return rc;
}
