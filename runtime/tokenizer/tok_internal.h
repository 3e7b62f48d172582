/* tok_internal.h - the rt_vocab structure and the pieces each tokenizer file implements.
 *
 * rt_vocab owns copies of all token texts (one arena), a hash from text to id,
 * the BPE merge ranks (hashed by the "left right" merge string with the split
 * remembered) and the compiled pre-tokenizer regexes. It is immutable after
 * rt_vocab_load, so one vocab may be used from many threads at once: all
 * scratch memory lives in the call. */
#ifndef SWARM_TOK_INTERNAL_H
#define SWARM_TOK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vocab.h"

/* Token attributes (as llama.cpp derives them from tokenizer.ggml.token_type). */
enum {
    TOK_ATTR_UNDEFINED = 0,
    TOK_ATTR_UNKNOWN = 1 << 0,
    TOK_ATTR_UNUSED = 1 << 1,
    TOK_ATTR_NORMAL = 1 << 2,
    TOK_ATTR_CONTROL = 1 << 3,
    TOK_ATTR_USER_DEFINED = 1 << 4,
    TOK_ATTR_BYTE = 1 << 5,
    TOK_ATTR_LSTRIP = 1 << 7,
    TOK_ATTR_RSTRIP = 1 << 8,
};

typedef enum { TOK_NONE, TOK_SPM, TOK_BPE, TOK_WPM } tok_type;

/* One pre-tokenizer step: a hand-written splitter or a PCRE2 regex. */
typedef enum {
    TOK_SPLIT_GPT2,
    TOK_SPLIT_LLAMA3,
    TOK_SPLIT_COLLAPSED,
    TOK_SPLIT_UTF
} tok_split_kind;

typedef struct {
    tok_split_kind kind;
    void *code; /* pcre2_code_8 * for the regex kinds */
} tok_split;

#define TOK_MAX_SPLITS 8

typedef struct {
    uint32_t off; /* into the text arena */
    uint32_t len;
} tok_text;

typedef struct {
    uint32_t str_off, str_len; /* merge string "left right" in the merge arena */
    uint32_t left_len;         /* bytes before the separating space */
    int32_t rank;
} tok_merge;

struct rt_vocab {
    tok_type type;
    char pre[64];
    int32_t n_tokens;
    char *arena; /* all token texts, NUL-separated */
    tok_text *text;
    float *score;
    uint32_t *attr;
    uint32_t max_token_len;

    /* text -> id: open addressing, capacity a power of two, -1 = empty */
    int32_t *idx;
    size_t idx_cap;

    /* merges: open addressing over tok_merge entries */
    char *merge_arena;
    tok_merge *merges;
    size_t n_merges;
    int32_t *midx;
    size_t midx_cap;

    int32_t bos, eos, eot, eom, unk, sep, pad, mask;
    bool add_bos, add_eos, add_sep, add_space_prefix, ignore_merges;
    int32_t *eog;
    size_t n_eog;

    /* special tokens (control / user-defined / unknown), longest text first */
    int32_t *special;
    size_t n_special;

    tok_split splits[TOK_MAX_SPLITS];
    size_t n_splits;
    char byte_enc[256][3]; /* GPT-2 byte -> UTF-8 of its codepoint (NUL-terminated) */
};

/* Growable id list used by every tokenizer. */
typedef struct {
    int32_t *v;
    size_t n, cap;
} tok_ids;
int tok_ids_push(tok_ids *a, int32_t id);

uint64_t tok_hash(const char *s, size_t n);
int32_t tok_lookup(const rt_vocab *v, const char *s, size_t n);
int32_t tok_merge_rank(const rt_vocab *v, const char *l, size_t ln, const char *r, size_t rn);

/* Pre-tokenizer setup (pretok.c): picks the splits for tokenizer.ggml.pre. */
int tok_pretok_init(rt_vocab *v, const char *pre, char *err, size_t errlen);
void tok_pretok_free(rt_vocab *v);
/* Split text into words; returns malloc'ed word lengths in codepoints over the
 * decoded codepoints cps[0..n). */
int tok_pretok_split(const rt_vocab *v, const uint32_t *cps, size_t n, size_t **lens,
                     size_t *n_lens, char *err, size_t errlen);

/* Tokenizer bodies: append ids for one raw-text fragment. */
int tok_bpe_fragment(const rt_vocab *v, const char *text, size_t len, tok_ids *out, char *err,
                     size_t errlen);
int tok_spm_fragment(const rt_vocab *v, const char *text, size_t len, tok_ids *out, char *err,
                     size_t errlen);
int tok_wpm_fragment(const rt_vocab *v, const char *text, size_t len, tok_ids *out, char *err,
                     size_t errlen);

#endif
