/* tok_unicode.h - codepoint helpers shared by the tokenizers (private to runtime/tokenizer).
 *
 * UTF-8 decoding that never fails (an invalid byte becomes U+FFFD, as llama.cpp
 * does, so splits stay aligned with it), category flags from generated tables,
 * the GPT-2 byte<->codepoint map, and the one-codepoint lowercase/NFD maps used
 * by WordPiece. */
#ifndef SWARM_TOK_UNICODE_H
#define SWARM_TOK_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    TOK_F_UNDEF = 1,
    TOK_F_NUMBER = 2,
    TOK_F_LETTER = 4,
    TOK_F_SEPARATOR = 8,
    TOK_F_ACCENT = 16,
    TOK_F_PUNCT = 32,
    TOK_F_SYMBOL = 64,
    TOK_F_CONTROL = 128,
    TOK_F_CATEGORY = 255,
    TOK_F_WHITESPACE = 256,
};

typedef struct {
    uint32_t start;
    uint16_t flags;
} tok_urange;

typedef struct {
    uint32_t from, to;
} tok_umap;

extern const tok_urange tok_flag_ranges[];
extern const size_t tok_flag_ranges_n;
extern const uint32_t tok_whitespace[];
extern const size_t tok_whitespace_n;
extern const uint16_t tok_ascii_flags[128];
extern const tok_umap tok_lower[];
extern const size_t tok_lower_n;
extern const tok_umap tok_nfd[];
extern const size_t tok_nfd_n;

/* Flags of a codepoint (category bits + TOK_F_WHITESPACE); UNDEF past U+10FFFF. */
unsigned tok_cpt_flags(uint32_t cp);
uint32_t tok_cpt_lower(uint32_t cp);
uint32_t tok_cpt_nfd(uint32_t cp);

/* Length of the UTF-8 sequence announced by a lead byte (1 for stray bytes). */
size_t tok_utf8_len(unsigned char lead);
/* Decode one codepoint at s[*off] (len bytes total); invalid input yields
 * U+FFFD and advances one byte. */
uint32_t tok_utf8_next(const char *s, size_t len, size_t *off);
/* Encode cp into out (4 bytes room); returns the byte count. */
size_t tok_utf8_put(uint32_t cp, char *out);
/* Decode a whole string into a malloc'ed codepoint array (NULL on OOM when len > 0). */
uint32_t *tok_utf8_decode(const char *s, size_t len, size_t *n_out);

/* GPT-2 byte-level map: byte -> codepoint, and back (-1 if cp is no byte's image). */
uint32_t tok_byte_to_cpt(uint8_t b);
int tok_cpt_to_byte(uint32_t cp);

#endif
