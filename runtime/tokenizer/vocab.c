/* vocab.c - loading a tokenizer from GGUF metadata and the tokenize/piece entry points.
 *
 * Mirrors llama.cpp's vocabulary semantics, since its output is the reference:
 * default special ids per tokenizer model, attributes from token_type, the
 * text-based detection of end-of-turn / FIM tokens (which also turns them into
 * control tokens), and the special-token partition that runs before the
 * tokenizer proper: user-defined tokens are always split out of the text,
 * control tokens only when parse_special is set. */
#include "tok_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_unicode.h"
#include "swarm_err.h"

int tok_ids_push(tok_ids *a, int32_t id)
{
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        int32_t *nv = realloc(a->v, nc * sizeof(*nv));
        if (!nv) return -1;
        a->v = nv;
        a->cap = nc;
    }
    a->v[a->n++] = id;
    return 0;
}

uint64_t tok_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

int32_t tok_lookup(const rt_vocab *v, const char *s, size_t n)
{
    if (!v->idx_cap) return -1;
    size_t mask = v->idx_cap - 1;
    for (size_t i = tok_hash(s, n) & mask;; i = (i + 1) & mask) {
        int32_t id = v->idx[i];
        if (id < 0) return -1;
        if (v->text[id].len == n && memcmp(v->arena + v->text[id].off, s, n) == 0) return id;
    }
}

/* Merge keys hash "left" + ' ' + "right" without building the string. */
static uint64_t merge_hash(const char *l, size_t ln, const char *r, size_t rn)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < ln; i++) {
        h ^= (unsigned char)l[i];
        h *= 1099511628211ull;
    }
    h ^= (unsigned char)' ';
    h *= 1099511628211ull;
    for (size_t i = 0; i < rn; i++) {
        h ^= (unsigned char)r[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static bool merge_eq(const rt_vocab *v, const tok_merge *m, const char *l, size_t ln, const char *r,
                     size_t rn)
{
    const char *s = v->merge_arena + m->str_off;
    return m->left_len == ln && m->str_len == ln + 1 + rn && memcmp(s, l, ln) == 0 &&
           memcmp(s + ln + 1, r, rn) == 0;
}

int32_t tok_merge_rank(const rt_vocab *v, const char *l, size_t ln, const char *r, size_t rn)
{
    if (!v->midx_cap) return -1;
    size_t mask = v->midx_cap - 1;
    for (size_t i = merge_hash(l, ln, r, rn) & mask;; i = (i + 1) & mask) {
        int32_t k = v->midx[i];
        if (k < 0) return -1;
        if (merge_eq(v, &v->merges[k], l, ln, r, rn)) return v->merges[k].rank;
    }
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n)
        c <<= 1;
    return c;
}

void rt_vocab_free(rt_vocab *v)
{
    if (!v) return;
    tok_pretok_free(v);
    free(v->arena);
    free(v->text);
    free(v->score);
    free(v->attr);
    free(v->idx);
    free(v->merge_arena);
    free(v->merges);
    free(v->midx);
    free(v->eog);
    free(v->special);
    free(v);
}

static const char *gpath(const gguf_file *g)
{
    const char *p = gguf_path(g);
    return p ? p : "(gguf)";
}

/* Copies a metadata string into buf (NUL-terminated, truncated); "" if missing. */
static void get_cstr(const gguf_file *g, const char *key, char *buf, size_t cap)
{
    gguf_str s;
    buf[0] = 0;
    if (gguf_get_str(g, key, &s) == 0) {
        size_t n = s.len < cap - 1 ? (size_t)s.len : cap - 1;
        memcpy(buf, s.ptr, n);
        buf[n] = 0;
    }
}

static int load_tokens(rt_vocab *v, const gguf_file *g, char *err, size_t errlen)
{
    const char *path = gpath(g);
    const gguf_kv *kt = gguf_find(g, "tokenizer.ggml.tokens");
    if (!kt)
        return swarm_err_set(err, errlen, "%s: key tokenizer.ggml.tokens missing (no vocabulary)",
                             path);
    if (kt->type != GGUF_T_ARRAY || kt->arr_type != GGUF_T_STRING)
        return swarm_err_set(err, errlen,
                             "%s: key tokenizer.ggml.tokens is not an array of strings", path);
    if (kt->n == 0 || kt->n > INT32_MAX / 2)
        return swarm_err_set(err, errlen, "%s: key tokenizer.ggml.tokens has %llu entries", path,
                             (unsigned long long)kt->n);
    size_t n = kt->n, total = 0;
    for (size_t i = 0; i < n; i++)
        total += (kt->strs[i].len ? kt->strs[i].len : 24) + 1;
    if (total > UINT32_MAX)
        return swarm_err_set(err, errlen, "%s: tokenizer.ggml.tokens too large", path);

    const gguf_kv *ks = gguf_find(g, "tokenizer.ggml.scores");
    if (ks && (ks->type != GGUF_T_ARRAY || ks->n < n ||
               (ks->arr_type != GGUF_T_FLOAT32 && ks->arr_type != GGUF_T_FLOAT64)))
        return swarm_err_set(
            err, errlen,
            "%s: key tokenizer.ggml.scores must be a float array with at least %zu "
            "entries",
            path, n);
    const gguf_kv *ky = gguf_find(g, "tokenizer.ggml.token_type");
    if (ky && (ky->type != GGUF_T_ARRAY || ky->n < n || ky->arr_type == GGUF_T_STRING ||
               ky->arr_type == GGUF_T_ARRAY || ky->arr_type == GGUF_T_FLOAT32 ||
               ky->arr_type == GGUF_T_FLOAT64 || ky->arr_type == GGUF_T_BOOL))
        return swarm_err_set(
            err, errlen,
            "%s: key tokenizer.ggml.token_type must be an integer array with at least "
            "%zu entries",
            path, n);

    v->n_tokens = (int32_t)n;
    v->arena = malloc(total);
    v->text = calloc(n, sizeof(*v->text));
    v->score = calloc(n, sizeof(*v->score));
    v->attr = calloc(n, sizeof(*v->attr));
    v->idx_cap = pow2_at_least(n * 2);
    v->idx = malloc(v->idx_cap * sizeof(*v->idx));
    if (!v->arena || !v->text || !v->score || !v->attr || !v->idx)
        return swarm_err_set(err, errlen, "%s: out of memory loading %zu tokens", path, n);
    memset(v->idx, 0xff, v->idx_cap * sizeof(*v->idx));

    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = kt->strs[i].ptr;
        size_t len = kt->strs[i].len;
        char tmp[32];
        if (len == 0) { /* llama.cpp renames empty tokens so they stay addressable */
            len = (size_t)snprintf(tmp, sizeof(tmp), "[EMPTY_%zu]", i);
            s = tmp;
        }
        memcpy(v->arena + off, s, len);
        v->arena[off + len] = 0;
        v->text[i].off = (uint32_t)off;
        v->text[i].len = (uint32_t)len;
        off += len + 1;
        if (len > v->max_token_len) v->max_token_len = (uint32_t)len;
        v->score[i] = ks ? (float)gguf_arr_f64(ks, i) : 0.0f;
        uint32_t attr = TOK_ATTR_NORMAL;
        if (ky) {
            switch (gguf_arr_i64(ky, i)) {
            case 1:
                attr = TOK_ATTR_NORMAL;
                break;
            case 2:
                attr = TOK_ATTR_UNKNOWN;
                break;
            case 3:
                attr = TOK_ATTR_CONTROL;
                break;
            case 4:
                attr = TOK_ATTR_USER_DEFINED;
                break;
            case 5:
                attr = TOK_ATTR_UNUSED;
                break;
            case 6:
                attr = TOK_ATTR_BYTE;
                break;
            default:
                attr = TOK_ATTR_UNDEFINED;
                break;
            }
        }
        v->attr[i] = attr;
        /* insert; a duplicate text maps to the later id (as llama.cpp's map does) */
        size_t mask = v->idx_cap - 1;
        for (size_t h = tok_hash(v->arena + v->text[i].off, len) & mask;; h = (h + 1) & mask) {
            int32_t id = v->idx[h];
            if (id < 0 || (v->text[id].len == len && memcmp(v->arena + v->text[id].off,
                                                            v->arena + v->text[i].off, len) == 0)) {
                v->idx[h] = (int32_t)i;
                break;
            }
        }
    }
    return 0;
}

static int load_merges(rt_vocab *v, const gguf_file *g, char *err, size_t errlen)
{
    const char *path = gpath(g);
    const gguf_kv *km = gguf_find(g, "tokenizer.ggml.merges");
    if (!km)
        return swarm_err_set(err, errlen, "%s: BPE vocabulary without key tokenizer.ggml.merges",
                             path);
    if (km->type != GGUF_T_ARRAY || km->arr_type != GGUF_T_STRING)
        return swarm_err_set(err, errlen,
                             "%s: key tokenizer.ggml.merges is not an array of strings", path);
    size_t n = km->n, total = 0;
    for (size_t i = 0; i < n; i++)
        total += km->strs[i].len + 1;
    if (total > UINT32_MAX || n > INT32_MAX / 2)
        return swarm_err_set(err, errlen, "%s: tokenizer.ggml.merges too large", path);
    v->merge_arena = malloc(total ? total : 1);
    v->merges = calloc(n ? n : 1, sizeof(*v->merges));
    v->midx_cap = pow2_at_least(n * 2);
    v->midx = malloc(v->midx_cap * sizeof(*v->midx));
    if (!v->merge_arena || !v->merges || !v->midx)
        return swarm_err_set(err, errlen, "%s: out of memory loading %zu merges", path, n);
    memset(v->midx, 0xff, v->midx_cap * sizeof(*v->midx));
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = km->strs[i].ptr;
        size_t len = km->strs[i].len;
        /* the separator is the first space after the first byte */
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp)
            return swarm_err_set(err, errlen,
                                 "%s: tokenizer.ggml.merges[%zu] = \"%.*s\" is not \"left right\"",
                                 path, i, (int)(len > 60 ? 60 : len), s);
        size_t ln = (size_t)(sp - s), rn = len - ln - 1;
        memcpy(v->merge_arena + off, s, len);
        v->merge_arena[off + len] = 0;
        tok_merge *m = &v->merges[v->n_merges];
        m->str_off = (uint32_t)off;
        m->str_len = (uint32_t)len;
        m->left_len = (uint32_t)ln;
        m->rank = (int32_t)i;
        off += len + 1;
        size_t mask = v->midx_cap - 1;
        const char *l = v->merge_arena + m->str_off;
        for (size_t h = merge_hash(l, ln, l + ln + 1, rn) & mask;; h = (h + 1) & mask) {
            int32_t k = v->midx[h];
            if (k < 0) {
                v->midx[h] = (int32_t)v->n_merges++;
                break;
            }
            if (merge_eq(v, &v->merges[k], l, ln, l + ln + 1, rn))
                break; /* a repeated merge keeps its first (best) rank */
        }
    }
    return 0;
}

static int add_eog(rt_vocab *v, int32_t id)
{
    if (id < 0) return 0;
    for (size_t i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return 0;
    int32_t *n = realloc(v->eog, (v->n_eog + 1) * sizeof(*n));
    if (!n) return -1;
    v->eog = n;
    v->eog[v->n_eog++] = id;
    return 0;
}

static bool text_is(const rt_vocab *v, int32_t id, const char *s)
{
    size_t n = strlen(s);
    return v->text[id].len == n && memcmp(v->arena + v->text[id].off, s, n) == 0;
}

static bool text_in(const rt_vocab *v, int32_t id, const char *const *list)
{
    for (; *list; list++)
        if (text_is(v, id, *list)) return true;
    return false;
}

static const char *const k_eot_texts[] = {"<|eot_id|>",
                                          "<|im_end|>",
                                          "<|end|>",
                                          "<end_of_turn>",
                                          "<|endoftext|>",
                                          "<|end_of_text|>",
                                          "<EOT>",
                                          "_<EOT>",
                                          "[EOT]",
                                          "<\xef\xbd\x9c"
                                          "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                                          "<end_of_utterance>",
                                          NULL};
static const char *const k_eog_texts[] = {
    "<|eot_id|>",      "<|im_end|>",         "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>",
    "<|endoftext|>",   "<|eom_id|>",         "<EOT>",   "_<EOT>",     "[EOT]",    "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", NULL};
static const char *const k_fim_texts[] = {"<|fim_prefix|>",
                                          "<fim-prefix>",
                                          "<fim_prefix>",
                                          "<PRE>",
                                          "\xe2\x96\x81<PRE>",
                                          "<|fim_suffix|>",
                                          "<fim-suffix>",
                                          "<fim_suffix>",
                                          "<SUF>",
                                          "\xe2\x96\x81<SUF>",
                                          "<|fim_middle|>",
                                          "<fim-middle>",
                                          "<fim_middle>",
                                          "<MID>",
                                          "\xe2\x96\x81<MID>",
                                          "<|fim_pad|>",
                                          "<fim-pad>",
                                          "<fim_pad>",
                                          "<PAD>",
                                          "<|fim_repo|>",
                                          "<|repo_name|>",
                                          "<fim-repo>",
                                          "<REPO>",
                                          "<reponame>",
                                          "<|file_sep|>",
                                          "<\xef\xbd\x9c"
                                          "fim\xe2\x96\x81"
                                          "begin\xef\xbd\x9c>",
                                          "<\xef\xbd\x9c"
                                          "fim\xe2\x96\x81hole\xef\xbd\x9c>",
                                          "<\xef\xbd\x9c"
                                          "fim\xe2\x96\x81"
                                          "end\xef\xbd\x9c>",
                                          NULL};

static int cmp_special(const void *a, const void *b, void *ctx)
{
    const rt_vocab *v = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (v->text[x].len != v->text[y].len) return v->text[x].len > v->text[y].len ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int setup_specials(rt_vocab *v, const gguf_file *g, bool eot_from_key, char *err,
                          size_t errlen)
{
    const char *path = gpath(g);
    /* Tokens recognised by their text become control tokens, as in llama.cpp;
     * this matters for tokenization: control tokens are plain text unless
     * parse_special, user-defined ones are always split out. */
    for (int32_t id = 0; id < v->n_tokens; id++) {
        bool eot = text_in(v, id, k_eot_texts);
        if (eot && v->eot < 0 && !eot_from_key) v->eot = id;
        if (text_in(v, id, k_eog_texts)) {
            v->attr[id] |= TOK_ATTR_CONTROL;
            if (add_eog(v, id)) return swarm_err_set(err, errlen, "%s: out of memory", path);
        } else if ((eot && !eot_from_key) || text_is(v, id, "<|eom_id|>") ||
                   text_in(v, id, k_fim_texts)) {
            v->attr[id] |= TOK_ATTR_CONTROL;
        }
        if (text_is(v, id, "<|eom_id|>") && v->eom < 0) v->eom = id;
    }
    for (int32_t id = 0; id < v->n_tokens; id++) {
        if (text_is(v, id, "<|channel|>") || text_is(v, id, "<|message|>") ||
            text_is(v, id, "<|start|>") || text_is(v, id, "<|constrain|>"))
            v->attr[id] = TOK_ATTR_USER_DEFINED; /* gpt-oss renders these always */
    }
    if (add_eog(v, v->eos) || add_eog(v, v->eot) || add_eog(v, v->eom))
        return swarm_err_set(err, errlen, "%s: out of memory", path);
    /* harmony: "<|end|>" ends a message, not the generation, when <|return|>/<|call|> exist */
    int32_t r = rt_vocab_find(v, "<|return|>"), c = rt_vocab_find(v, "<|call|>"),
            e = rt_vocab_find(v, "<|end|>");
    if (r >= 0 && c >= 0 && e >= 0) {
        for (size_t i = 0; i < v->n_eog; i++) {
            if (v->eog[i] == e) {
                v->eog[i] = v->eog[--v->n_eog];
                v->attr[e] = TOK_ATTR_USER_DEFINED;
                break;
            }
        }
    }

    char name[128];
    get_cstr(g, "general.name", name, sizeof(name));
    for (char *p = name; *p; p++)
        *p = (char)tolower((unsigned char)*p);

    size_t ns = 0;
    for (int32_t id = 0; id < v->n_tokens; id++)
        if (v->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN)) ns++;
    v->special = malloc((ns ? ns : 1) * sizeof(*v->special));
    if (!v->special) return swarm_err_set(err, errlen, "%s: out of memory", path);
    for (int32_t id = 0; id < v->n_tokens; id++)
        if (v->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN))
            v->special[v->n_special++] = id;
    qsort_r(v->special, v->n_special, sizeof(*v->special), cmp_special, v);

    if (strstr(name, "phi-3") || strstr(name, "phi3")) {
        /* Phi-3's special tokens swallow the whitespace after them */
        for (size_t i = 0; i < v->n_special; i++)
            v->attr[v->special[i]] |= TOK_ATTR_RSTRIP;
        int32_t id = rt_vocab_find(v, "</s>");
        if (id >= 0) v->attr[id] |= TOK_ATTR_RSTRIP;
        const char *no[] = {"<unk>", "<s>", "<|endoftext|>"};
        for (size_t i = 0; i < 3; i++)
            if ((id = rt_vocab_find(v, no[i])) >= 0) v->attr[id] &= ~(uint32_t)TOK_ATTR_RSTRIP;
    }
    return 0;
}

static int read_id(const gguf_file *g, const rt_vocab *v, const char *key, int32_t *id, bool *found,
                   char *err, size_t errlen)
{
    uint32_t x;
    int rc = gguf_get_u32(g, key, &x);
    if (found) *found = false;
    if (rc == -1) return 0;
    if (rc != 0)
        return swarm_err_set(err, errlen, "%s: key %s is not an unsigned integer", gpath(g), key);
    if (x >= (uint32_t)v->n_tokens)
        return swarm_err_set(err, errlen,
                             "%s: key %s = %u is out of range (vocabulary has %d tokens)", gpath(g),
                             key, x, v->n_tokens);
    *id = (int32_t)x;
    if (found) *found = true;
    return 0;
}

static int read_bool(const gguf_file *g, const char *key, bool *b, char *err, size_t errlen)
{
    int rc = gguf_get_bool(g, key, b);
    if (rc == -2) return swarm_err_set(err, errlen, "%s: key %s is not a bool", gpath(g), key);
    return 0;
}

int rt_vocab_load(const gguf_file *g, rt_vocab **out, char *err, size_t errlen)
{
    *out = NULL;
    const char *path = gpath(g);
    char model[64];
    gguf_str ms;
    int rc = gguf_get_str(g, "tokenizer.ggml.model", &ms);
    if (rc == -1)
        return swarm_err_set(err, errlen, "%s: key tokenizer.ggml.model missing (no tokenizer)",
                             path);
    if (rc != 0)
        return swarm_err_set(err, errlen, "%s: key tokenizer.ggml.model is not a string", path);
    get_cstr(g, "tokenizer.ggml.model", model, sizeof(model));

    rt_vocab *v = calloc(1, sizeof(*v));
    if (!v) return swarm_err_set(err, errlen, "%s: out of memory", path);
    v->bos = v->eos = v->eot = v->eom = v->unk = v->sep = v->pad = v->mask = -1;
    get_cstr(g, "tokenizer.ggml.pre", v->pre, sizeof(v->pre));

    if (!strcmp(model, "no_vocab") || !strcmp(model, "none") || !strcmp(model, "no")) {
        v->type = TOK_NONE;
        *out = v;
        return 0;
    }
    if (!strcmp(model, "llama")) {
        v->type = TOK_SPM;
        v->bos = 1, v->eos = 2, v->unk = 0;
        v->add_space_prefix = true, v->add_bos = true;
    } else if (!strcmp(model, "bert")) {
        v->type = TOK_WPM;
        v->bos = 101, v->unk = 100, v->sep = 102, v->pad = 0, v->mask = 103;
        v->add_bos = true, v->add_sep = true;
    } else if (!strcmp(model, "gpt2")) {
        v->type = TOK_BPE;
        v->bos = 11, v->eos = 11;
    } else {
        rt_vocab_free(v);
        return swarm_err_set(
            err, errlen,
            "%s: tokenizer.ggml.model \"%s\" is not supported (known: llama, gpt2, bert, "
            "none)",
            path, model);
    }

    if (load_tokens(v, g, err, errlen)) goto bad;
    /* default ids that do not exist in a small vocabulary mean "none" */
    int32_t *defs[] = {&v->bos, &v->eos, &v->unk, &v->sep, &v->pad, &v->mask};
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
        if (*defs[i] >= v->n_tokens) *defs[i] = -1;
    if (v->type == TOK_BPE && load_merges(v, g, err, errlen)) goto bad;
    if (v->type == TOK_BPE) {
        char perr[1024];
        if (tok_pretok_init(v, v->pre, perr, sizeof(perr))) {
            swarm_err_set(err, errlen, "%s: %s", path, perr);
            goto bad;
        }
        for (int b = 0; b < 256; b++) {
            size_t k = tok_utf8_put(tok_byte_to_cpt((uint8_t)b), v->byte_enc[b]);
            v->byte_enc[b][k] = 0;
        }
    }
    if (read_bool(g, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix, err, errlen))
        goto bad;

    bool eot_key = false;
    if (read_id(g, v, "tokenizer.ggml.bos_token_id", &v->bos, NULL, err, errlen) ||
        read_id(g, v, "tokenizer.ggml.eos_token_id", &v->eos, NULL, err, errlen) ||
        read_id(g, v, "tokenizer.ggml.eot_token_id", &v->eot, &eot_key, err, errlen) ||
        read_id(g, v, "tokenizer.ggml.eom_token_id", &v->eom, NULL, err, errlen) ||
        read_id(g, v, "tokenizer.ggml.unknown_token_id", &v->unk, NULL, err, errlen) ||
        read_id(g, v, "tokenizer.ggml.seperator_token_id", &v->sep, NULL, err, errlen) ||
        read_id(g, v, "tokenizer.ggml.padding_token_id", &v->pad, NULL, err, errlen) ||
        read_id(g, v, "tokenizer.ggml.mask_token_id", &v->mask, NULL, err, errlen))
        goto bad;
    if (read_bool(g, "tokenizer.ggml.add_bos_token", &v->add_bos, err, errlen) ||
        read_bool(g, "tokenizer.ggml.add_eos_token", &v->add_eos, err, errlen) ||
        read_bool(g, "tokenizer.ggml.add_sep_token", &v->add_sep, err, errlen))
        goto bad;
    if (v->add_bos && v->bos < 0 && v->type != TOK_WPM) {
        swarm_err_set(err, errlen,
                      "%s: tokenizer.ggml.add_bos_token is set but there is no BOS token", path);
        goto bad;
    }
    if (v->add_eos && v->eos < 0) {
        swarm_err_set(err, errlen,
                      "%s: tokenizer.ggml.add_eos_token is set but there is no EOS token", path);
        goto bad;
    }
    if (setup_specials(v, g, eot_key, err, errlen)) goto bad;
    *out = v;
    return 0;
bad:
    rt_vocab_free(v);
    return -1;
}

int32_t rt_vocab_n_tokens(const rt_vocab *v)
{
    return v->n_tokens;
}
int32_t rt_vocab_bos(const rt_vocab *v)
{
    return v->bos;
}
int32_t rt_vocab_eos(const rt_vocab *v)
{
    return v->eos;
}
bool rt_vocab_add_bos(const rt_vocab *v)
{
    return v->add_bos;
}
bool rt_vocab_add_eos(const rt_vocab *v)
{
    return v->add_eos;
}

bool rt_vocab_is_eog(const rt_vocab *v, int32_t id)
{
    for (size_t i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return true;
    return false;
}

const char *rt_vocab_model(const rt_vocab *v)
{
    switch (v->type) {
    case TOK_SPM:
        return "llama";
    case TOK_BPE:
        return "gpt2";
    case TOK_WPM:
        return "bert";
    default:
        return "none";
    }
}

const char *rt_vocab_pre(const rt_vocab *v)
{
    return v->pre;
}

bool rt_vocab_is_control(const rt_vocab *v, int32_t id)
{
    return id >= 0 && id < v->n_tokens && (v->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN));
}

int32_t rt_vocab_find(const rt_vocab *v, const char *text)
{
    return tok_lookup(v, text, strlen(text));
}

/* A fragment of the input: raw text [off, off+len) or an already-known token. */
typedef struct {
    int32_t id; /* -1 for raw text */
    size_t off, len;
} frag;

typedef struct {
    frag *v;
    size_t n, cap;
} frag_list;

static int frag_push(frag_list *l, int32_t id, size_t off, size_t len)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        frag *nv = realloc(l->v, nc * sizeof(*nv));
        if (!nv) return -1;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = (frag){id, off, len};
    return 0;
}

/* Splits every raw fragment at each occurrence of each special token, longest
 * tokens first, honouring the lstrip/rstrip attributes. */
static int partition(const rt_vocab *v, const char *text, size_t len, bool parse_special,
                     frag_list *out)
{
    frag_list cur = {0}, nxt = {0};
    if (frag_push(&cur, -1, 0, len)) return -1;
    for (size_t si = 0; si < v->n_special; si++) {
        int32_t sid = v->special[si];
        uint32_t attr = v->attr[sid];
        if (!parse_special && (attr & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN))) continue;
        const char *st = v->arena + v->text[sid].off;
        size_t sl = v->text[sid].len;
        bool any = false;
        for (size_t i = 0; i < cur.n && !any; i++)
            any = cur.v[i].id < 0 && cur.v[i].len >= sl &&
                  memmem(text + cur.v[i].off, cur.v[i].len, st, sl);
        if (!any) continue;
        nxt.n = 0;
        for (size_t i = 0; i < cur.n; i++) {
            frag f = cur.v[i];
            if (f.id >= 0) {
                if (frag_push(&nxt, f.id, 0, 0)) goto oom;
                continue;
            }
            size_t off = f.off, rem = f.len;
            for (;;) {
                const char *m = rem >= sl ? memmem(text + off, rem, st, sl) : NULL;
                if (!m) {
                    if (rem && frag_push(&nxt, -1, off, rem)) goto oom;
                    break;
                }
                size_t mpos = (size_t)(m - text);
                size_t llen = mpos - off;
                if (attr & TOK_ATTR_LSTRIP)
                    while (llen && isspace((unsigned char)text[off + llen - 1]))
                        llen--;
                if (llen && frag_push(&nxt, -1, off, llen)) goto oom;
                if (frag_push(&nxt, sid, 0, 0)) goto oom;
                size_t roff = mpos + sl, rlen = off + rem - roff;
                if (attr & TOK_ATTR_RSTRIP)
                    while (rlen && isspace((unsigned char)text[roff]))
                        roff++, rlen--;
                off = roff;
                rem = rlen;
                if (!rem) break;
            }
        }
        frag_list t = cur;
        cur = nxt;
        nxt = t;
    }
    free(nxt.v);
    *out = cur;
    return 0;
oom:
    free(cur.v);
    free(nxt.v);
    return -1;
}

int rt_vocab_tokenize(const rt_vocab *v, const char *text, size_t len, bool add_special,
                      bool parse_special, int32_t **ids, size_t *n_ids, char *err, size_t errlen)
{
    *ids = NULL;
    *n_ids = 0;
    if (v->type == TOK_NONE)
        return swarm_err_set(err, errlen,
                             "the model has no vocabulary (tokenizer.ggml.model = none)");
    if (!text && len) return swarm_err_set(err, errlen, "tokenize: NULL text");
    tok_ids out = {0};
    frag_list fr = {0};
    if (len && partition(v, text, len, parse_special, &fr)) {
        swarm_err_set(err, errlen, "tokenize: out of memory");
        goto bad;
    }
    bool bos = add_special && (v->type == TOK_WPM ? true : v->add_bos);
    if (bos) {
        if (v->bos < 0) {
            swarm_err_set(err, errlen,
                          "tokenize: the vocabulary asks for BOS but has no BOS token");
            goto bad;
        }
        if (tok_ids_push(&out, v->bos)) goto oom;
    }
    bool prev_special = true; /* SPM: a space prefix goes before text that starts a run */
    for (size_t i = 0; i < fr.n; i++) {
        frag f = fr.v[i];
        if (f.id >= 0) {
            if (tok_ids_push(&out, f.id)) goto oom;
            prev_special = true;
            continue;
        }
        int rc = 0;
        if (v->type == TOK_SPM) {
            size_t n = f.len + 1;
            char *buf = malloc(n);
            if (!buf) goto oom;
            size_t k = 0;
            if (v->add_space_prefix && prev_special) buf[k++] = ' ';
            memcpy(buf + k, text + f.off, f.len);
            rc = tok_spm_fragment(v, buf, k + f.len, &out, err, errlen);
            free(buf);
        } else if (v->type == TOK_BPE) {
            rc = tok_bpe_fragment(v, text + f.off, f.len, &out, err, errlen);
        } else {
            rc = tok_wpm_fragment(v, text + f.off, f.len, &out, err, errlen);
        }
        if (rc) goto bad;
        prev_special = false;
    }
    if (add_special && v->type == TOK_WPM) {
        if (v->sep < 0) {
            swarm_err_set(err, errlen, "tokenize: WordPiece vocabulary without a separator token");
            goto bad;
        }
        if (tok_ids_push(&out, v->sep)) goto oom;
    } else if (add_special && v->add_eos) {
        if (tok_ids_push(&out, v->eos)) goto oom;
    }
    free(fr.v);
    if (!out.v && !(out.v = malloc(sizeof(int32_t)))) goto oom;
    *ids = out.v;
    *n_ids = out.n;
    return 0;
oom:
    swarm_err_set(err, errlen, "tokenize: out of memory");
bad:
    free(fr.v);
    free(out.v);
    return -1;
}

static int copy_out(char *buf, size_t cap, const char *s, size_t n)
{
    if (buf && cap) memcpy(buf, s, n < cap ? n : cap);
    return (int)n;
}

int rt_vocab_piece(const rt_vocab *v, int32_t id, char *buf, size_t cap)
{
    if (id < 0 || id >= v->n_tokens) return -1;
    const char *t = v->arena + v->text[id].off;
    size_t n = v->text[id].len;
    uint32_t attr = v->attr[id];
    if (attr & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED))
        return copy_out(buf, cap, t, n);
    if (attr & TOK_ATTR_NORMAL) {
        size_t o = 0;
        if (v->type == TOK_BPE) {
            /* byte-level: each codepoint stands for one byte */
            size_t off = 0;
            while (off < n) {
                size_t prev = off;
                uint32_t cp = tok_utf8_next(t, n, &off);
                int b = tok_cpt_to_byte(cp);
                if (b >= 0) {
                    if (buf && o < cap) buf[o] = (char)b;
                    o++;
                } else { /* not a byte image: keep the UTF-8 as is */
                    for (size_t k = prev; k < off; k++, o++)
                        if (buf && o < cap) buf[o] = t[k];
                }
            }
            return (int)o;
        }
        /* SPM / WordPiece: U+2581 stands for a space */
        for (size_t k = 0; k < n;) {
            if (k + 3 <= n && memcmp(t + k, "\xe2\x96\x81", 3) == 0) {
                if (buf && o < cap) buf[o] = ' ';
                o++;
                k += 3;
            } else {
                if (buf && o < cap) buf[o] = t[k];
                o++;
                k++;
            }
        }
        return (int)o;
    }
    if ((attr & TOK_ATTR_BYTE) && v->type != TOK_WPM && n == 6 && !memcmp(t, "<0x", 3)) {
        char hex[3] = {t[3], t[4], 0};
        char b = (char)strtol(hex, NULL, 16);
        return copy_out(buf, cap, &b, 1);
    }
    return 0;
}
