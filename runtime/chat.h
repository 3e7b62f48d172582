/* chat.h - chat prompt formatting for the model families the engine runs.
 *
 * A family is named by a short string ("chatml", "llama3", "deepseek",
 * "deepseek3", "mistral", "mistral-v3", "harmony"); rt_chat_detect picks one
 * from a GGUF's tokenizer.chat_template text (falling back to
 * general.architecture and the vocabulary), and rt_chat_apply renders
 * messages the way that family's reference template does. The output is text
 * meant to be tokenized with parse_special = true and add_special as the
 * vocabulary says: it never starts with a BOS token, since the tokenizer adds
 * that. Tool definitions, calls and results use each family's native syntax;
 * rt_chat_parse_tool_calls and rt_chat_tool_grammar (chat_tools.c, declared
 * in rt.h) read replies back and constrain them. */
#ifndef SWARM_CHAT_H
#define SWARM_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "gguf.h"
#include "rt.h"

/* DeepSeek's markers use U+FF5C (fullwidth bar) and U+2581 (lower block). */
#define DS_BAR "\xef\xbd\x9c"
#define DS_SP "\xe2\x96\x81"
#define DS_EOS "<" DS_BAR "end" DS_SP "of" DS_SP "sentence" DS_BAR ">"
#define DS_USER "<" DS_BAR "User" DS_BAR ">"
#define DS_ASSISTANT "<" DS_BAR "Assistant" DS_BAR ">"
#define DS_CALLS_BEGIN "<" DS_BAR "tool" DS_SP "calls" DS_SP "begin" DS_BAR ">"
#define DS_CALLS_END "<" DS_BAR "tool" DS_SP "calls" DS_SP "end" DS_BAR ">"
#define DS_CALL_BEGIN "<" DS_BAR "tool" DS_SP "call" DS_SP "begin" DS_BAR ">"
#define DS_CALL_END "<" DS_BAR "tool" DS_SP "call" DS_SP "end" DS_BAR ">"
#define DS_SEP "<" DS_BAR "tool" DS_SP "sep" DS_BAR ">"
#define DS_OUTPUTS_BEGIN "<" DS_BAR "tool" DS_SP "outputs" DS_SP "begin" DS_BAR ">"
#define DS_OUTPUTS_END "<" DS_BAR "tool" DS_SP "outputs" DS_SP "end" DS_BAR ">"
#define DS_OUTPUT_BEGIN "<" DS_BAR "tool" DS_SP "output" DS_SP "begin" DS_BAR ">"
#define DS_OUTPUT_END "<" DS_BAR "tool" DS_SP "output" DS_SP "end" DS_BAR ">"

/* The family for this model, or NULL when neither the template, the
 * architecture nor the vocabulary identifies one. */
const char *rt_chat_detect(const gguf_file *g);

/* Renders msgs (roles "system", "user", "assistant", and "tool" where the
 * family has tool results) into a malloc'ed NUL-terminated *out. With
 * add_generation_prompt the text ends where the assistant's reply begins.
 * Returns 0, or negative with err filled (unknown family, unknown role,
 * misplaced system message, malformed tool-call arguments). */
int rt_chat_apply(const char *family, const rt_chat_msg *msgs, size_t n, bool add_generation_prompt,
                  char **out, char *err, size_t errlen);
/* rt_chat_apply with tool definitions (n_tools = 0 is rt_chat_apply). */
int rt_chat_apply_tools(const char *family, const rt_chat_msg *msgs, size_t n,
                        const rt_tool_def *tools, size_t n_tools, bool add_generation_prompt,
                        char **out, char *err, size_t errlen);

/* NULL-terminated list of the family names rt_chat_apply knows. */
const char *const *rt_chat_families(void);

#endif
