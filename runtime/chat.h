/* chat.h - chat prompt formatting for the model families the engine runs.
 *
 * A family is named by a short string ("chatml", "llama3", "deepseek",
 * "deepseek3", "mistral", "harmony"); rt_chat_detect picks one from a GGUF's
 * tokenizer.chat_template text (falling back to general.architecture and the
 * vocabulary), and rt_chat_apply renders messages the way that family's
 * reference template does. The output is text meant to be tokenized with
 * parse_special = true and add_special as the vocabulary says: it never starts
 * with a BOS token, since the tokenizer adds that. */
#ifndef SWARM_CHAT_H
#define SWARM_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "gguf.h"
#include "rt.h"

/* The family for this model, or NULL when neither the template, the
 * architecture nor the vocabulary identifies one. */
const char *rt_chat_detect(const gguf_file *g);

/* Renders msgs (roles "system", "user", "assistant"; "tool" for chatml) into a
 * malloc'ed NUL-terminated *out. With add_generation_prompt the text ends
 * where the assistant's reply begins. Returns 0, or negative with err filled
 * (unknown family, unknown role, misplaced system message). */
int rt_chat_apply(const char *family, const rt_chat_msg *msgs, size_t n, bool add_generation_prompt,
                  char **out, char *err, size_t errlen);

/* NULL-terminated list of the family names rt_chat_apply knows. */
const char *const *rt_chat_families(void);

#endif
