/* vocab.h - tokenizers read from GGUF metadata (tokenizer.ggml.*).
 *
 * Byte-level BPE with the pre-tokenizer named by tokenizer.ggml.pre, and
 * SentencePiece ("llama") with byte fallback. Special/control tokens are
 * plain text unless parse_special is set. Matches llama.cpp's tokenization. */
#ifndef SWARM_VOCAB_H
#define SWARM_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

typedef struct rt_vocab rt_vocab;

int rt_vocab_load(const gguf_file *g, rt_vocab **out, char *err, size_t errlen);
void rt_vocab_free(rt_vocab *v);

int32_t rt_vocab_n_tokens(const rt_vocab *v);
int32_t rt_vocab_bos(const rt_vocab *v); /* -1 if none */
int32_t rt_vocab_eos(const rt_vocab *v); /* -1 if none */
bool rt_vocab_add_bos(const rt_vocab *v);
bool rt_vocab_add_eos(const rt_vocab *v);
/* End-of-generation: eos, eot, eom and similar ("<|im_end|>", "<|return|>", ...). */
bool rt_vocab_is_eog(const rt_vocab *v, int32_t id);
/* Token id of an exact special-token text, or -1. */
int32_t rt_vocab_find(const rt_vocab *v, const char *text);

/* "llama" (SentencePiece), "gpt2" (byte-level BPE), "bert" (WordPiece) or "none". */
const char *rt_vocab_model(const rt_vocab *v);
/* tokenizer.ggml.pre as read ("" when absent, which means "default"). */
const char *rt_vocab_pre(const rt_vocab *v);
/* Control or unknown tokens (never produced by tokenizing text without
 * parse_special; samplers and grammars usually exclude them). Note that
 * user-defined tokens, unlike control tokens, are split out of text even
 * without parse_special, as llama.cpp does. */
bool rt_vocab_is_control(const rt_vocab *v, int32_t id);

/* Tokenize len bytes. add_special adds BOS/EOS as the vocabulary says;
 * parse_special turns special-token strings in the text into their ids.
 * *ids is malloc'ed (caller frees). Returns 0 or negative with err filled. */
int rt_vocab_tokenize(const rt_vocab *v, const char *text, size_t len, bool add_special,
                      bool parse_special, int32_t **ids, size_t *n_ids, char *err, size_t errlen);

/* The bytes of one token (byte-level decoding, SPM "▁" -> ' ', <0xNN> -> byte).
 * Writes at most cap bytes; returns the full length, or negative for a bad id. */
int rt_vocab_piece(const rt_vocab *v, int32_t id, char *buf, size_t cap);

#endif
