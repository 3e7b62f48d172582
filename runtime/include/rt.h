/* rt.h - the embedded MoE inference engine: the one header the rest of swarm uses.
 * It is alone in runtime/include/, the engine's public include dir; every
 * other header under runtime/ is private (the build enforces it: ctest
 * runtime.boundary).
 *
 * Nouns: an rt_model (weights mmap'ed from one GGUF file, shareable and
 * read-only), an rt_session (one sequence: its KV cache and position), and an
 * rt_sampler (sampling state with its own seeded RNG). The runtime knows
 * nothing of ZeroMQ or Redis. Functions return 0 on success and a negative
 * status on error, writing a message a user can act on into err. */
#ifndef SWARM_RT_H
#define SWARM_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rt_model rt_model;
typedef struct rt_session rt_session;
typedef struct rt_sampler rt_sampler;

typedef struct {
    int n_threads; /* 0 = all online cores */
} rt_load_params;

int rt_model_load(const char *path, const rt_load_params *p, rt_model **out, char *err,
                  size_t errlen);
void rt_model_free(rt_model *m);

const char *rt_model_arch(const rt_model *m); /* general.architecture */
const char *rt_model_name(const rt_model *m); /* general.name or the file name */
int32_t rt_model_n_vocab(const rt_model *m);
int32_t rt_model_n_ctx_train(const rt_model *m);
int32_t rt_model_bos(const rt_model *m);
int32_t rt_model_eos(const rt_model *m);
bool rt_model_is_eog(const rt_model *m, int32_t id);
/* Weight bytes one decoded token reads: every layer's attention, router and
 * dense/shared FFN, n_expert_used of its experts, and the output head (the
 * memory traffic that bounds generation speed; bench's roofline uses it). */
size_t rt_model_decode_bytes(const rt_model *m);

/* Tokenize len bytes; *ids is malloc'ed. add_special adds BOS/EOS where the
 * model's vocabulary asks for them; parse_special turns special-token text
 * ("<|im_start|>") into its id - without it such text is tokenized as plain
 * characters (user-defined tokens are split out either way, as llama.cpp
 * does). */
int rt_tokenize(const rt_model *m, const char *text, size_t len, bool add_special,
                bool parse_special, int32_t **ids, size_t *n_ids, char *err, size_t errlen);
/* Bytes of one token; returns full length or negative for a bad id. */
int rt_token_piece(const rt_model *m, int32_t id, char *buf, size_t cap);

/* Chat formatting, chosen from the model's metadata (template family),
 * overridable by name: "chatml", "llama3", "deepseek", "deepseek3", "mistral",
 * "mistral-v3", "harmony". Output is malloc'ed text ready to tokenize with
 * parse_special. */

/* A tool call: made by an assistant message, or parsed from model output. */
typedef struct {
    const char *id;        /* call id; NULL where the family has none (Mistral: 9 alphanumerics) */
    const char *name;      /* the tool's name */
    const char *arguments; /* a JSON object, as text */
} rt_tool_call;

/* A tool the model may call (OpenAI's {"type":"function","function":{...}}). */
typedef struct {
    const char *name;
    const char *description; /* may be NULL */
    const char *parameters;  /* JSON Schema of the arguments object, as text; NULL = none */
} rt_tool_def;

typedef struct {
    const char *role; /* "system", "user", "assistant", "tool" (a tool's result) */
    const char *content;
    /* Tool calling (appended: {role, content} initializers stay valid). */
    const rt_tool_call *tool_calls; /* assistant: the calls it made (content may be NULL) */
    size_t n_tool_calls;
    const char *tool_call_id; /* tool: the id of the call this result answers */
    const char *name;         /* tool: the tool's name (else the answered call's name) */
} rt_chat_msg;
int rt_chat_format(const rt_model *m, const char *template_name /* NULL = auto */,
                   const rt_chat_msg *msgs, size_t n_msgs, bool add_generation_prompt, char **out,
                   char *err, size_t errlen);
/* rt_chat_format with tool definitions, rendered in the family's native
 * tool-calling format (runtime/chat.c; docs/RUNTIME.md lists each
 * family's source template). n_tools = 0 renders exactly as rt_chat_format. */
int rt_chat_format_tools(const rt_model *m, const char *template_name /* NULL = auto */,
                         const rt_chat_msg *msgs, size_t n_msgs, const rt_tool_def *tools,
                         size_t n_tools, bool add_generation_prompt, char **out, char *err,
                         size_t errlen);
/* The family rt_chat_format would use (template_name if given), or NULL. */
const char *rt_chat_family(const rt_model *m, const char *template_name);

/* Splits generated text into tool calls (*calls malloc'ed, free with
 * rt_tool_calls_free; NULL when none) and the remaining plain answer
 * (*content malloc'ed, never NULL on success). Fails with a message on an
 * unknown family or a call that is not well formed (bad JSON, no name). */
int rt_chat_parse_tool_calls(const char *family, const char *text, size_t len, rt_tool_call **calls,
                             size_t *n_calls, char **content, char *err, size_t errlen);
void rt_tool_calls_free(rt_tool_call *calls, size_t n);

/* What the model may emit when tools are offered (OpenAI's tool_choice). */
typedef enum {
    RT_TOOL_CHOICE_AUTO,     /* a final answer, or calls (text first where the family allows) */
    RT_TOOL_CHOICE_REQUIRED, /* one or more calls */
    RT_TOOL_CHOICE_NONE,     /* a final answer only */
    RT_TOOL_CHOICE_NAMED,    /* calls to the one named tool */
} rt_tool_choice;
/* A GBNF grammar (*gbnf malloc'ed) for the model's reply in the family's
 * syntax: calls name a listed tool and carry arguments valid for its schema
 * (rt_json_schema_to_gbnf). Markers such as <tool_call> are special tokens in
 * real vocabularies: sample under it with rt_grammar_opts.allow_special_text.
 * named is the tool for RT_TOOL_CHOICE_NAMED (ignored otherwise). */
int rt_chat_tool_grammar(const char *family, const rt_tool_def *tools, size_t n_tools,
                         rt_tool_choice choice, const char *named, char **gbnf, char *err,
                         size_t errlen);

/* Element type of a session's KV cache. F16 halves the bytes per position;
 * F32 is the reference (conformance and logits goldens run on it). */
typedef enum { RT_KV_F32 = 0, RT_KV_F16 = 1 } rt_kv_type;
/* A sequence with a KV cache for n_ctx positions (0 = min(n_ctx_train, 4096)). */
int rt_session_new(const rt_model *m, int32_t n_ctx, rt_session **out, char *err, size_t errlen);
/* Same with the KV cache's element type chosen (rt_session_new is F32). */
int rt_session_new_kv(const rt_model *m, int32_t n_ctx, rt_kv_type kv_type, rt_session **out,
                      char *err, size_t errlen);
/* "f32"/"f16" -> type; < 0 for anything else. */
int rt_kv_type_parse(const char *s, rt_kv_type *out);
const char *rt_kv_type_name(rt_kv_type t);
void rt_session_free(rt_session *s);
void rt_session_reset(rt_session *s);
int32_t rt_session_pos(const rt_session *s);
int32_t rt_session_n_ctx(const rt_session *s);

/* Feed n tokens at the current position. If logits_all is non-NULL it receives
 * n * n_vocab floats (row i = logits after token i); if logits_last is non-NULL
 * it receives the last row. Fails cleanly (nothing appended) when the
 * context would overflow or an id is out of range. */
int rt_session_eval(rt_session *s, const int32_t *tokens, size_t n, float *logits_all,
                    float *logits_last, char *err, size_t errlen);
/* Decode one token for each of n distinct sessions of the same model in one
 * pass: weights are read once for all of them and tokens routed to the same
 * expert are multiplied together (the MoE batching win for a worker's agent
 * slots). logits may be NULL, or hold per-session n_vocab-float buffers (each
 * may be NULL); rt_session_last_logits is updated either way. All-or-nothing:
 * fails without advancing any session on a full context or a bad id. The
 * sessions must not be used concurrently elsewhere during the call. */
int rt_sessions_decode(rt_session *const *ss, const int32_t *tokens, size_t n, float *const *logits,
                       char *err, size_t errlen);

/* Prefix reuse (the KV of a shared system prompt / job context is computed
 * once per session): rt_session_truncate drops positions >= n;
 * rt_session_reuse_prefix keeps the longest prefix of the cached tokens that
 * equals ids[0..n) - at most n - 1, so at least one token remains to be
 * evaluated - drops the rest, and returns its length k. Evaluate (or
 * rt_generate) ids + k next. */
void rt_session_truncate(rt_session *s, int32_t n);
size_t rt_session_reuse_prefix(rt_session *s, const int32_t *ids, size_t n);

/* The model a session runs, and the logits after its last evaluated token
 * (NULL before the first eval or after a reset). */
const rt_model *rt_session_model(const rt_session *s);
const float *rt_session_last_logits(const rt_session *s);

typedef struct {
    float temperature;       /* <= 0 means greedy */
    int32_t top_k;           /* 0 = off */
    float top_p;             /* 1 = off */
    float min_p;             /* 0 = off */
    float repeat_penalty;    /* 1 = off */
    int32_t repeat_last_n;   /* window for the penalties */
    float presence_penalty;  /* 0 = off */
    float frequency_penalty; /* 0 = off */
    uint64_t seed;
} rt_sampler_params;

rt_sampler_params rt_sampler_default_params(void); /* greedy */
rt_sampler *rt_sampler_new(const rt_sampler_params *p);
void rt_sampler_free(rt_sampler *s);
/* Picks a token from logits (modified in place); history = previous tokens.
 * Returns the id, -1 on error, or -2 when a grammar leaves no token. */
int32_t rt_sampler_sample(rt_sampler *s, float *logits, int32_t n_vocab, const int32_t *history,
                          size_t n_history);

/* Called for each generated token with its bytes; return non-zero to stop. */
typedef int (*rt_token_cb)(void *ud, int32_t id, const char *piece, size_t len);

typedef struct {
    int32_t n_predict;        /* max new tokens */
    bool stop_at_eog;         /* stop at end-of-generation tokens */
    const char *const *stops; /* NULL-terminated stop strings, or NULL */
    rt_token_cb on_token;     /* may be NULL */
    void *ud;
} rt_generate_params;

/* Evaluates the prompt (which may be empty if the session already holds
 * context), then samples up to n_predict tokens. Generated ids are returned in
 * a malloc'ed *out (may be NULL) and generated bytes in *text (may be NULL). */
int rt_generate(rt_session *s, rt_sampler *smp, const int32_t *prompt, size_t n_prompt,
                const rt_generate_params *gp, int32_t **out, size_t *n_out, char **text, char *err,
                size_t errlen);

/* Grammar-constrained decoding (runtime/grammar/, see docs/RUNTIME.md).
 * An rt_grammar is compiled once from GBNF (llama.cpp's syntax) or a JSON
 * Schema and is immutable: share it across threads and samplers. An
 * rt_grammar_state is one parse in progress over bytes (UTF-8 may be split
 * anywhere); it is not thread-safe. */
typedef struct rt_grammar rt_grammar; /* compiled, immutable, shareable across threads */
typedef struct rt_grammar_state rt_grammar_state; /* one parse in progress over bytes */

/* Compile GBNF text; root names the start rule (NULL = "root"). Errors name
 * line:column, undefined rules and left-recursive rules. */
int rt_grammar_from_gbnf(const char *gbnf, size_t len, const char *root, rt_grammar **out,
                         char *err, size_t errlen);
/* JSON Schema -> GBNF text (*gbnf malloc'ed; runtime/grammar/json_schema.c). */
int rt_json_schema_to_gbnf(const char *schema, size_t len, char **gbnf, char *err, size_t errlen);
/* rt_json_schema_to_gbnf then rt_grammar_from_gbnf. */
int rt_grammar_from_json_schema(const char *schema, size_t len, rt_grammar **out, char *err,
                                size_t errlen);
void rt_grammar_free(rt_grammar *g);

rt_grammar_state *rt_grammar_state_new(const rt_grammar *g); /* NULL on out of memory */
void rt_grammar_state_free(rt_grammar_state *st);
/* Feed n bytes: 0 ok; negative when rejected, the state then unchanged. */
int rt_grammar_state_accept(rt_grammar_state *st, const char *bytes, size_t n);
bool rt_grammar_state_can_end(
    const rt_grammar_state *st);                        /* the text so far is a complete sentence */
bool rt_grammar_state_done(const rt_grammar_state *st); /* nothing more may follow */
/* Shortest bytes that bring the state to an end (*bytes malloc'ed, NUL-
 * terminated; "" when it can already end). Returns the byte count or < 0. */
int rt_grammar_state_complete(const rt_grammar_state *st, char **bytes);

/* Constrain a sampler: at every rt_sampler_sample only tokens whose bytes
 * keep the output inside g survive (end-of-generation tokens only where g may
 * end; other special/control tokens never, unless opts allow those whose
 * literal text g accepts, e.g. "<tool_call>"), and the chosen token advances
 * the sampler's grammar state. g must outlive the sampler's use of it; g =
 * NULL removes the grammar. rt_generate restarts the state at each call. */
typedef struct {
    bool allow_special_text; /* control tokens may match their literal text */
    bool full_mask;          /* always mask the whole vocabulary (no top-candidate fast path) */
} rt_grammar_opts;
int rt_sampler_set_grammar(rt_sampler *s, const rt_model *m, const rt_grammar *g, char *err,
                           size_t errlen);
int rt_sampler_set_grammar_opts(rt_sampler *s, const rt_model *m, const rt_grammar *g,
                                const rt_grammar_opts *opts, char *err, size_t errlen);
/* Restart the sampler's grammar at its root (no-op without a grammar). */
void rt_sampler_reset_grammar(rt_sampler *s);
/* The sampler's grammar state (NULL without a grammar): read-only use. */
const rt_grammar_state *rt_sampler_grammar_state(const rt_sampler *s);
/* Allowed-token mask for the sampler's current grammar state: mask[i] = 1 if
 * token i may come next (n_vocab bytes). Returns 0, or < 0 without a grammar. */
int rt_sampler_grammar_mask(rt_sampler *s, uint8_t *mask, int32_t n_vocab);

/* ---- Continuous batching (runtime/batch.c) and prefix cache
 * (runtime/prefix_cache.c) ----
 * An rt_batch owns n_slots sequence slots (each an rt_session) over one
 * model. Requests are submitted from any thread; one engine thread drives
 * rt_batch_step (itself, or rt_batch_start's thread), which admits queued
 * requests into free slots while their KV fits the budget, evaluates one
 * prefill chunk for each joining sequence, samples one token for every
 * running sequence and decodes all of them in one rt_sessions_decode pass.
 * Sequences join and leave between steps. Each request gets its own
 * sampler (and grammar) and stop rules; the result for greedy decoding is
 * the same as rt_generate's. Callbacks run on the engine thread. */
typedef struct rt_batch rt_batch;

typedef struct {
    int32_t n_slots;        /* concurrent sequences (>= 1) */
    int32_t n_ctx;          /* positions per slot (0 = as rt_session_new) */
    size_t kv_budget_bytes; /* KV all running sequences may reserve (0 = n_slots full contexts) */
    size_t prefix_cache_bytes; /* bound of the shared prefix cache (0 = off) */
    int32_t prefill_chunk;     /* prompt tokens per sequence per step (0 = 256) */
    rt_kv_type kv_type;        /* slots' KV element type (zero value = F32) */
} rt_batch_params;

/* The outcome of one request. */
typedef struct {
    int rc;       /* 0 ok, 1 stopped by on_token, < 0 error (err says why) */
    int32_t *ids; /* generated ids (malloc'ed, owned by the receiver of the result) */
    size_t n_ids;
    char *text;       /* generated bytes, NUL-terminated (malloc'ed) */
    size_t n_reused;  /* prompt tokens whose KV came from the slot or the prefix cache */
    double t_first_s; /* seconds from submission to the first sampled token */
    char err[256];
} rt_batch_result;

typedef void (*rt_batch_done_cb)(void *ud, rt_batch_result *r); /* takes ownership of r's buffers */

typedef struct {
    const int32_t *prompt; /* copied at submission; must not be empty */
    size_t n_prompt;
    rt_sampler_params sampling;
    const rt_grammar *grammar; /* NULL = none; must outlive the request */
    rt_grammar_opts grammar_opts;
    rt_generate_params gen;   /* n_predict, stop_at_eog, stops (copied), on_token, ud */
    rt_batch_done_cb on_done; /* rt_batch_submit only; may be NULL */
    void *done_ud;
} rt_batch_request;

typedef struct {
    int32_t n_slots, running, queued;
    size_t kv_budget_bytes, kv_reserved_bytes, kv_bytes_per_token;
    uint64_t steps, decoded_tokens, prefill_tokens, finished;
    /* prefix cache */
    uint64_t pc_lookups, pc_hits, pc_tokens_reused, pc_evictions;
    size_t pc_bytes, pc_blocks, pc_bytes_max;
} rt_batch_stats;

int rt_batch_new(const rt_model *m, const rt_batch_params *p, rt_batch **out, char *err,
                 size_t errlen);
/* Stops the engine thread if started; queued and running requests finish
 * with an error. */
void rt_batch_free(rt_batch *b);
int32_t rt_batch_n_ctx(const rt_batch *b);
/* Thread-safe. Refused (negative, err says why) when the request can never
 * fit: prompt + n_predict beyond n_ctx or beyond the whole KV budget. */
int rt_batch_submit(rt_batch *b, const rt_batch_request *r, char *err, size_t errlen);
/* One engine step (only one thread may drive steps). Returns the number of
 * sequences still running or queued, or < 0 on an internal error. */
int rt_batch_step(rt_batch *b, char *err, size_t errlen);
/* Starts the engine thread that steps while there is work. */
int rt_batch_start(rt_batch *b, char *err, size_t errlen);
/* Thread-safe, blocking: submit and wait for the result (needs
 * rt_batch_start). Returns res->rc; res owns its buffers (rt_batch_result_free). */
int rt_batch_generate(rt_batch *b, const rt_batch_request *r, rt_batch_result *res);
void rt_batch_result_free(rt_batch_result *r);
void rt_batch_get_stats(rt_batch *b, rt_batch_stats *st);
/* KV bytes one position of one sequence takes (all layers, K and V), F32. */
size_t rt_kv_bytes_per_token(const rt_model *m);
/* The same for a KV element type. */
size_t rt_kv_bytes_per_token_type(const rt_model *m, rt_kv_type type);

#endif
