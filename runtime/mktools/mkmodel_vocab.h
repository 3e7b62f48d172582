/* mkmodel_vocab.h - generated tokenizer vocabularies for `swarm-infer mkmodel`.
 *
 * Internal to mkmodel: builds a vocabulary of exactly n_vocab tokens in the
 * shape llama.cpp's converter stores for a model family (byte-level BPE with
 * GPT-2 byte mapping and merges, or SentencePiece pieces with scores and
 * <0xNN> byte fallback), learned from a small built-in English + code text
 * and padded with generated merges, and writes the tokenizer.ggml.* keys and
 * a chat template that identifies the family. */
#ifndef SWARM_MKMODEL_VOCAB_H
#define SWARM_MKMODEL_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf_write.h"

typedef enum {
    MK_VOCAB_QWEN,      /* gpt2 / qwen2, ChatML */
    MK_VOCAB_OLMO,      /* gpt2 / olmo, Tulu-style template */
    MK_VOCAB_DEEPSEEK,  /* gpt2 / deepseek-llm, DeepSeek V2 template, BOS added */
    MK_VOCAB_DEEPSEEK3, /* gpt2 / deepseek-v3, DeepSeek V3 template, BOS added */
    MK_VOCAB_GPTOSS,    /* gpt2 / gpt-4o, harmony template */
    MK_VOCAB_SPM,       /* llama (SentencePiece), Mistral [INST] template, BOS added */
} mk_vocab_family;

/* Smallest n_vocab the family accepts (bytes + specials + a few merges). */
int32_t mk_vocab_min_size(mk_vocab_family fam);

/* Whether token id is a special token other than EOS (control and
 * user-defined tokens: <|im_start|>, <s>, <think>, ...) or a byte token for
 * a byte that is not printable ASCII, tab or newline. mkmodel gives these
 * zero output-head rows so a random model writes printable ASCII text (no
 * chat-structure tokens, no broken UTF-8), while EOS stays reachable and
 * generation can end. */
bool mk_vocab_is_muted(mk_vocab_family fam, int32_t n_vocab, int32_t id);

/* Build and add the tokenizer.* keys to w. Deterministic for given args. */
int mk_vocab_add(gguf_writer *w, mk_vocab_family fam, int32_t n_vocab, char *err, size_t errlen);

#endif
