/* chat.c - chat templates: family detection from GGUF metadata and prompt rendering.
 *
 * Each renderer reproduces its family's reference (Hugging Face / llama.cpp)
 * template: chatml (Qwen3's template, used by Qwen, OLMoE and most
 * fine-tunes), Llama 3 headers (Llama 3.1's JSON tool calling when tools are
 * given), DeepSeek-V2 "User:/Assistant:", DeepSeek-V3 fullwidth-bar markers
 * (the V3-0324 template), Mistral/Mixtral v0.1 [INST] turns, Mistral v3
 * (Mistral-7B-Instruct-v0.3 / Mixtral-8x22B) with [AVAILABLE_TOOLS], and
 * OpenAI's harmony format for gpt-oss. Tool definitions, assistant tool calls
 * and tool results are rendered in each family's own syntax; docs/RUNTIME.md
 * names the template each one follows and where we deviate. Images and
 * reasoning traces are out of scope. Parsing replies back into calls and the
 * tool-call grammars live in chat_tools.c. */
#include "chat.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_json.h"
#include "model.h"
#include "swarm_err.h"

static const char *const k_families[] = {"chatml",  "llama3",     "deepseek", "deepseek3",
                                         "mistral", "mistral-v3", "harmony",  NULL};

#define KNOWN "chatml, llama3, deepseek, deepseek3, mistral, mistral-v3, harmony"

const char *const *rt_chat_families(void)
{
    return k_families;
}

static bool has(const char *hay, size_t n, const char *needle)
{
    return memmem(hay, n, needle, strlen(needle)) != NULL;
}

static bool vocab_has(const gguf_file *g, const char *tok)
{
    const gguf_kv *kv = gguf_find(g, "tokenizer.ggml.tokens");
    if (!kv || kv->type != GGUF_T_ARRAY || kv->arr_type != GGUF_T_STRING) return false;
    for (uint64_t i = 0; i < kv->n; i++)
        if (gguf_str_eq(kv->strs[i], tok)) return true;
    return false;
}

const char *rt_chat_detect(const gguf_file *g)
{
    gguf_str t;
    if (gguf_get_str(g, "tokenizer.chat_template", &t) == 0 && t.len > 0) {
        const char *s = t.ptr;
        size_t n = (size_t)t.len;
        if (has(s, n, "<|im_start|>")) return "chatml";
        if (has(s, n, "<|start_header_id|>")) return "llama3";
        if (has(s, n, "<|channel|>") || (has(s, n, "<|start|>") && has(s, n, "<|message|>")))
            return "harmony";
        if (has(s, n, DS_USER) || has(s, n, DS_ASSISTANT)) return "deepseek3";
        if (has(s, n, "'User: '") || (has(s, n, "User: ") && has(s, n, "Assistant:")))
            return "deepseek";
        if (has(s, n, "[AVAILABLE_TOOLS]") || has(s, n, "[TOOL_CALLS]")) return "mistral-v3";
        if (has(s, n, "[INST]")) return "mistral";
    }
    gguf_str a;
    char arch[64] = "";
    if (gguf_get_str(g, "general.architecture", &a) == 0)
        snprintf(arch, sizeof(arch), "%.*s", (int)(a.len < 63 ? a.len : 63), a.ptr);
    if (vocab_has(g, "<|im_start|>")) return "chatml";
    if (vocab_has(g, "<|start_header_id|>")) return "llama3";
    if (!strncmp(arch, "qwen", 4) || !strcmp(arch, "olmoe") || !strncmp(arch, "olmo", 4))
        return "chatml";
    if (!strcmp(arch, "gpt-oss")) return "harmony";
    if (!strcmp(arch, "deepseek2") || !strcmp(arch, "deepseek3"))
        return vocab_has(g, DS_ASSISTANT) ? "deepseek3" : "deepseek";
    if (!strcmp(arch, "llama"))
        /* Llama-architecture MoE (Mixtral) without Llama 3 markers; the v3
         * tokenizer is the one with tool-call control tokens */
        return vocab_has(g, "[TOOL_CALLS]") ? "mistral-v3" : "mistral";
    return NULL;
}

typedef swarm_buf sbuf;

static void put(sbuf *b, const char *s)
{
    swarm_buf_put(b, s ? s : "");
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* content with leading/trailing whitespace removed (Jinja's trim) */
static void put_trimmed(sbuf *b, const char *s)
{
    s = s ? s : "";
    while (is_ws(*s))
        s++;
    size_t l = strlen(s);
    while (l && is_ws(s[l - 1]))
        l--;
    swarm_buf_putn(b, s, l);
}

static int bad_role(const char *family, size_t i, const char *role, const char *known, char *err,
                    size_t errlen)
{
    return swarm_err_set(err, errlen, "chat template %s: message %zu has role \"%s\" (expected %s)",
                         family, i, role ? role : "(null)", known);
}

static bool is(const char *role, const char *r)
{
    return role && !strcmp(role, r);
}

static bool nonempty(const char *s)
{
    return s && *s;
}

/* The renderers share one signature; tools may be NULL when n_tools is 0. */
typedef struct {
    const char *family;
    const rt_chat_msg *m;
    size_t n;
    const rt_tool_def *tools;
    size_t n_tools;
    bool gen;
    char *err;
    size_t el;
} render_ctx;

/* Appends json.dumps(text parsed as JSON, indent) - the templates' tojson. */
static int put_json(sbuf *b, const render_ctx *c, const char *what, const char *text, int indent)
{
    cj_value *v;
    char jerr[160];
    if (cj_parse(text, strlen(text), &v, NULL, jerr, sizeof(jerr)))
        return swarm_err_set(c->err, c->el, "chat template %s: %s: %s", c->family, what, jerr);
    cj_dump(b, v, indent);
    cj_free(v);
    return 0;
}

/* OpenAI's tool object {"type": "function", "function": {name, description,
 * parameters}} as json.dumps renders it (indent < 0: one line). */
static int put_tool_json(sbuf *b, const render_ctx *c, const rt_tool_def *t, int indent)
{
    sbuf src = {0};
    swarm_buf_put(&src, "{\"type\":\"function\",\"function\":{\"name\":");
    cj_dump_str(&src, t->name, strlen(t->name));
    if (t->description) {
        swarm_buf_put(&src, ",\"description\":");
        cj_dump_str(&src, t->description, strlen(t->description));
    }
    if (t->parameters) {
        swarm_buf_put(&src, ",\"parameters\":");
        swarm_buf_put(&src, t->parameters);
    }
    swarm_buf_put(&src, "}}");
    char what[128];
    snprintf(what, sizeof(what), "tool \"%s\" parameters", t->name);
    int rc = src.oom ? swarm_err_set(c->err, c->el, "out of memory")
                     : put_json(b, c, what, src.s, indent);
    free(src.s);
    return rc;
}

/* Checks what every renderer relies on: tools have names, calls have names
 * and JSON-object arguments, tool results have content. */
static int check_input(const render_ctx *c)
{
    for (size_t i = 0; i < c->n_tools; i++)
        if (!nonempty(c->tools[i].name))
            return swarm_err_set(c->err, c->el, "chat template %s: tool %zu has no name", c->family,
                                 i);
    for (size_t i = 0; i < c->n; i++) {
        const rt_chat_msg *m = &c->m[i];
        if (!m->content && !(is(m->role, "assistant") && m->n_tool_calls))
            return swarm_err_set(c->err, c->el, "chat template %s: message %zu has no content",
                                 c->family, i);
        if (m->n_tool_calls && !is(m->role, "assistant"))
            return swarm_err_set(
                c->err, c->el,
                "chat template %s: message %zu (%s) carries tool calls; only assistant "
                "messages may",
                c->family, i, m->role ? m->role : "(null)");
        for (size_t k = 0; k < m->n_tool_calls; k++) {
            const rt_tool_call *tc = &m->tool_calls[k];
            if (!nonempty(tc->name))
                return swarm_err_set(c->err, c->el,
                                     "chat template %s: message %zu call %zu has no name",
                                     c->family, i, k);
            const char *a = tc->arguments ? tc->arguments : "{}";
            cj_value *v;
            char jerr[160];
            if (cj_parse(a, strlen(a), &v, NULL, jerr, sizeof(jerr)))
                return swarm_err_set(c->err, c->el,
                                     "chat template %s: message %zu call %zu (%s) arguments: %s",
                                     c->family, i, k, tc->name, jerr);
            bool obj = v->t == CJ_OBJ;
            cj_free(v);
            if (!obj)
                return swarm_err_set(
                    c->err, c->el,
                    "chat template %s: message %zu call %zu (%s): arguments must be a "
                    "JSON object",
                    c->family, i, k, tc->name);
        }
    }
    return 0;
}

static const char *args_of(const rt_tool_call *tc)
{
    return tc->arguments ? tc->arguments : "{}";
}

/* Qwen3 (Qwen/Qwen3-30B-A3B tokenizer_config.json chat_template): tools in
 * the system turn inside <tools></tools>, calls as <tool_call> JSON after the
 * assistant's text, results as <tool_response> blocks in one user turn. */
static int render_chatml(sbuf *b, const render_ctx *c)
{
    const rt_chat_msg *m = c->m;
    size_t i0 = 0;
    if (c->n_tools) {
        put(b, "<|im_start|>system\n");
        if (c->n && is(m[0].role, "system")) {
            put(b, m[0].content);
            put(b, "\n\n");
            i0 = 1;
        }
        put(b, "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
               "You are provided with function signatures within <tools></tools> XML tags:\n"
               "<tools>");
        for (size_t t = 0; t < c->n_tools; t++) {
            put(b, "\n");
            if (put_tool_json(b, c, &c->tools[t], -1)) return -1;
        }
        put(b, "\n</tools>\n\nFor each function call, return a json object with function name and "
               "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": "
               "<function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n");
    }
    for (size_t i = i0; i < c->n; i++) {
        if (is(m[i].role, "tool")) {
            if (i == 0 || !is(m[i - 1].role, "tool")) put(b, "<|im_start|>user");
            put(b, "\n<tool_response>\n");
            put(b, m[i].content);
            put(b, "\n</tool_response>");
            if (i + 1 == c->n || !is(m[i + 1].role, "tool")) put(b, "<|im_end|>\n");
            continue;
        }
        if (!is(m[i].role, "system") && !is(m[i].role, "user") && !is(m[i].role, "assistant"))
            return bad_role("chatml", i, m[i].role, "system, user, assistant or tool", c->err,
                            c->el);
        put(b, "<|im_start|>");
        put(b, m[i].role);
        put(b, "\n");
        put(b, m[i].content);
        for (size_t k = 0; k < m[i].n_tool_calls; k++) {
            if (k > 0 || nonempty(m[i].content)) put(b, "\n");
            put(b, "<tool_call>\n{\"name\": \"");
            put(b, m[i].tool_calls[k].name);
            put(b, "\", \"arguments\": ");
            put(b, args_of(&m[i].tool_calls[k]));
            put(b, "}\n</tool_call>");
        }
        put(b, "<|im_end|>\n");
    }
    if (c->gen) put(b, "<|im_start|>assistant\n");
    return 0;
}

/* Llama 3.1 (meta-llama/Llama-3.1-8B-Instruct chat_template) with its
 * defaults: tools_in_user_message = true, date_string = "26 Jul 2024". */
static int render_llama31_tools_head(sbuf *b, const render_ctx *c, size_t *i0)
{
    const rt_chat_msg *m = c->m;
    size_t i = 0;
    put(b, "<|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\n"
           "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n");
    if (c->n && is(m[0].role, "system")) put_trimmed(b, m[i++].content);
    put(b, "<|eot_id|>");
    if (i >= c->n || !is(m[i].role, "user"))
        return swarm_err_set(
            c->err, c->el,
            "chat template llama3: tools go into the first user message, and message %zu "
            "is not a user message",
            i);
    put(b, "<|start_header_id|>user<|end_header_id|>\n\nGiven the following functions, please "
           "respond with a JSON for a function call with its proper arguments that best answers "
           "the given prompt.\n\nRespond in the format {\"name\": function name, \"parameters\": "
           "dictionary of argument name and its value}.Do not use variables.\n\n");
    for (size_t t = 0; t < c->n_tools; t++) {
        if (put_tool_json(b, c, &c->tools[t], 4)) return -1;
        put(b, "\n\n");
    }
    put_trimmed(b, m[i++].content);
    put(b, "<|eot_id|>");
    *i0 = i;
    return 0;
}

static int render_llama3(sbuf *b, const render_ctx *c)
{
    const rt_chat_msg *m = c->m;
    size_t i0 = 0;
    if (c->n_tools && render_llama31_tools_head(b, c, &i0)) return -1;
    for (size_t i = i0; i < c->n; i++) {
        if (is(m[i].role, "tool") || is(m[i].role, "ipython")) {
            /* Jinja finds a string iterable, so the template tojson's it */
            put(b, "<|start_header_id|>ipython<|end_header_id|>\n\n");
            cj_dump_str(b, m[i].content, strlen(m[i].content));
            put(b, "<|eot_id|>");
            continue;
        }
        if (!is(m[i].role, "system") && !is(m[i].role, "user") && !is(m[i].role, "assistant"))
            return bad_role("llama3", i, m[i].role, "system, user, assistant or tool", c->err,
                            c->el);
        if (m[i].n_tool_calls) {
            if (m[i].n_tool_calls != 1)
                return swarm_err_set(
                    c->err, c->el,
                    "chat template llama3: message %zu has %zu tool calls; Llama 3.1 "
                    "supports a single tool call at once",
                    i, m[i].n_tool_calls);
            put(b, "<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"");
            put(b, m[i].tool_calls[0].name);
            put(b, "\", \"parameters\": ");
            if (put_json(b, c, "tool call arguments", args_of(&m[i].tool_calls[0]), -1)) return -1;
            put(b, "}<|eot_id|>");
            continue;
        }
        put(b, "<|start_header_id|>");
        put(b, m[i].role);
        put(b, "<|end_header_id|>\n\n");
        put_trimmed(b, m[i].content);
        put(b, "<|eot_id|>");
    }
    if (c->gen) put(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return 0;
}

static int render_deepseek2(sbuf *b, const render_ctx *c)
{
    const rt_chat_msg *m = c->m;
    if (c->n_tools)
        return swarm_err_set(c->err, c->el, "chat template deepseek (V2) has no tool format");
    for (size_t i = 0; i < c->n; i++) {
        if (m[i].n_tool_calls)
            return swarm_err_set(c->err, c->el,
                                 "chat template deepseek (V2) has no tool-call format");
        if (is(m[i].role, "system")) {
            put(b, m[i].content);
            put(b, "\n\n");
        } else if (is(m[i].role, "user")) {
            put(b, "User: ");
            put(b, m[i].content);
            put(b, "\n\n");
        } else if (is(m[i].role, "assistant")) {
            put(b, "Assistant: ");
            put(b, m[i].content);
            put(b, DS_EOS);
        } else {
            return bad_role("deepseek", i, m[i].role, "system, user or assistant", c->err, c->el);
        }
    }
    if (c->gen) put(b, "Assistant:");
    return 0;
}

/* DeepSeek-V3 (deepseek-ai/DeepSeek-V3-0324 chat_template). The template
 * itself never renders tool definitions (DeepSeek's API does that server
 * side); we append them to the system prompt, see docs/RUNTIME.md. */
static int render_deepseek3(sbuf *b, const render_ctx *c)
{
    const rt_chat_msg *m = c->m;
    bool first_sp = true;
    for (size_t i = 0; i < c->n; i++)
        if (is(m[i].role, "system")) {
            if (!first_sp) put(b, "\n\n");
            put(b, m[i].content);
            first_sp = false;
        }
    if (c->n_tools) {
        if (!first_sp) put(b, "\n\n");
        put(b, "## Tools\nYou have access to the following tools:\n");
        for (size_t t = 0; t < c->n_tools; t++) {
            put(b, "\n### ");
            put(b, c->tools[t].name);
            if (c->tools[t].description) {
                put(b, "\nDescription: ");
                put(b, c->tools[t].description);
            }
            put(b, "\n\nParameters: ");
            if (put_json(b, c, "tool parameters",
                         c->tools[t].parameters ? c->tools[t].parameters : "{}", -1))
                return -1;
            put(b, "\n");
        }
        put(b, "\nIMPORTANT: to call tools, reply in exactly this format:\n" DS_CALLS_BEGIN
                   DS_CALL_BEGIN "function" DS_SEP
               "tool_name\n```json\n{\"arg\": \"value\"}\n```" DS_CALL_END DS_CALLS_END
               "\nwhere tool_name is one of the tools above and the JSON object follows its "
               "Parameters schema; several calls go one per line between " DS_CALLS_BEGIN
               " and " DS_CALLS_END ".");
    }
    bool is_tool = false, last_user = false, output_first = true;
    for (size_t i = 0; i < c->n; i++) {
        if (is(m[i].role, "system")) continue;
        if (is(m[i].role, "user")) {
            is_tool = false;
            last_user = true;
            put(b, DS_USER);
            put(b, m[i].content);
            put(b, DS_ASSISTANT);
        } else if (is(m[i].role, "assistant") && m[i].n_tool_calls) {
            last_user = false;
            if (is_tool) put(b, DS_OUTPUTS_END);
            is_tool = false;
            output_first = true;
            put(b, m[i].content);
            for (size_t k = 0; k < m[i].n_tool_calls; k++) {
                put(b, k ? "\n" DS_CALL_BEGIN : DS_CALLS_BEGIN DS_CALL_BEGIN);
                put(b, "function" DS_SEP);
                put(b, m[i].tool_calls[k].name);
                put(b, "\n```json\n");
                put(b, args_of(&m[i].tool_calls[k]));
                put(b, "\n```" DS_CALL_END);
            }
            put(b, DS_CALLS_END DS_EOS);
        } else if (is(m[i].role, "assistant")) {
            last_user = false;
            if (is_tool) put(b, DS_OUTPUTS_END);
            is_tool = false;
            put(b, m[i].content);
            put(b, DS_EOS);
        } else if (is(m[i].role, "tool")) {
            last_user = false;
            is_tool = true;
            put(b, output_first ? DS_OUTPUTS_BEGIN DS_OUTPUT_BEGIN : "\n" DS_OUTPUT_BEGIN);
            output_first = false;
            put(b, m[i].content);
            put(b, DS_OUTPUT_END);
        } else {
            return bad_role("deepseek3", i, m[i].role, "system, user, assistant or tool", c->err,
                            c->el);
        }
    }
    if (is_tool) put(b, DS_OUTPUTS_END);
    if (c->gen && !last_user && !is_tool) put(b, DS_ASSISTANT);
    return 0;
}

/* Mixtral-Instruct v0.1: "[INST] sys\n\nuser [/INST]answer</s>[INST] user [/INST]" */
static int render_mistral(sbuf *b, const render_ctx *c)
{
    const rt_chat_msg *m = c->m;
    const char *system = NULL;
    bool expect_user = true;
    if (c->n_tools)
        return swarm_err_set(
            c->err, c->el,
            "chat template mistral (Mixtral v0.1) has no tool format; use mistral-v3");
    for (size_t i = 0; i < c->n; i++) {
        if (m[i].n_tool_calls)
            return swarm_err_set(
                c->err, c->el,
                "chat template mistral (Mixtral v0.1) has no tool-call format; use "
                "mistral-v3");
        if (is(m[i].role, "system")) {
            if (i != 0)
                return swarm_err_set(c->err, c->el,
                                     "chat template mistral: the system message must come first "
                                     "(message %zu)",
                                     i);
            system = m[i].content;
        } else if (is(m[i].role, "user")) {
            if (!expect_user)
                return swarm_err_set(c->err, c->el,
                                     "chat template mistral: two user messages in a row "
                                     "(message %zu); roles must alternate",
                                     i);
            put(b, "[INST] ");
            if (system) {
                put(b, system);
                put(b, "\n\n");
                system = NULL;
            }
            put(b, m[i].content);
            put(b, " [/INST]");
            expect_user = false;
        } else if (is(m[i].role, "assistant")) {
            if (expect_user)
                return swarm_err_set(c->err, c->el,
                                     "chat template mistral: assistant message %zu does not "
                                     "follow a user message",
                                     i);
            put(b, m[i].content);
            put(b, "</s>");
            expect_user = true;
        } else {
            return bad_role("mistral", i, m[i].role, "system, user or assistant", c->err, c->el);
        }
    }
    return 0; /* the reply starts right after [/INST] */
}

static bool mistral_id_ok(const char *id)
{
    if (!id || strlen(id) != 9) return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

/* Mistral v3 (mistralai/Mistral-7B-Instruct-v0.3 chat_template; the same
 * tokenizer as Mixtral-8x22B-Instruct-v0.1): the system message joins the
 * last message only if that is a user message, tools precede the last user
 * message, call ids are 9 alphanumerics. String fields of a tool are pasted
 * between quotes unescaped, as the template does. */
static int render_mistral_v3(sbuf *b, const render_ctx *c)
{
    const rt_chat_msg *m = c->m;
    const char *system = NULL;
    size_t i0 = 0, last_user = (size_t)-1;
    if (c->n && is(m[0].role, "system")) {
        system = m[0].content;
        i0 = 1;
    }
    for (size_t i = i0; i < c->n; i++)
        if (is(m[i].role, "user")) last_user = i;
    for (size_t i = i0; i < c->n; i++) {
        if (is(m[i].role, "user")) {
            if (c->n_tools && i == last_user) {
                put(b, "[AVAILABLE_TOOLS] [");
                for (size_t t = 0; t < c->n_tools; t++) {
                    const rt_tool_def *td = &c->tools[t];
                    put(b, "{\"type\": \"function\", \"function\": {\"name\": \"");
                    put(b, td->name);
                    put(b, "\"");
                    if (td->description) {
                        put(b, ", \"description\": \"");
                        put(b, td->description);
                        put(b, "\"");
                    }
                    if (td->parameters) {
                        put(b, ", \"parameters\": ");
                        if (put_json(b, c, "tool parameters", td->parameters, -1)) return -1;
                    }
                    put(b, t + 1 < c->n_tools ? "}}, " : "}}]");
                }
                put(b, "[/AVAILABLE_TOOLS]");
            }
            put(b, "[INST] ");
            if (i + 1 == c->n && system) {
                put(b, system);
                put(b, "\n\n");
            }
            put(b, m[i].content);
            put(b, "[/INST]");
        } else if (is(m[i].role, "assistant") && m[i].n_tool_calls) {
            put(b, "[TOOL_CALLS] [");
            for (size_t k = 0; k < m[i].n_tool_calls; k++) {
                const rt_tool_call *tc = &m[i].tool_calls[k];
                if (!mistral_id_ok(tc->id))
                    return swarm_err_set(
                        c->err, c->el,
                        "chat template mistral-v3: message %zu call %zu: tool call ids "
                        "must be 9 alphanumeric characters (got \"%s\")",
                        i, k, tc->id ? tc->id : "(none)");
                put(b, "{\"name\": ");
                cj_dump_str(b, tc->name, strlen(tc->name));
                put(b, ", \"arguments\": ");
                if (put_json(b, c, "tool call arguments", args_of(tc), -1)) return -1;
                put(b, ", \"id\": \"");
                put(b, tc->id);
                put(b, k + 1 < m[i].n_tool_calls ? "\"}, " : "\"}]</s>");
            }
        } else if (is(m[i].role, "assistant")) {
            put(b, " ");
            put_trimmed(b, m[i].content);
            put(b, "</s>");
        } else if (is(m[i].role, "tool")) {
            if (!mistral_id_ok(m[i].tool_call_id))
                return swarm_err_set(
                    c->err, c->el,
                    "chat template mistral-v3: tool message %zu: tool_call_id must be 9 "
                    "alphanumeric characters (got \"%s\")",
                    i, m[i].tool_call_id ? m[i].tool_call_id : "(none)");
            put(b, "[TOOL_RESULTS] {\"content\": ");
            put(b, m[i].content);
            put(b, ", \"call_id\": \"");
            put(b, m[i].tool_call_id);
            put(b, "\"}[/TOOL_RESULTS]");
        } else if (is(m[i].role, "system")) {
            return swarm_err_set(
                c->err, c->el,
                "chat template mistral-v3: the system message must come first (message "
                "%zu)",
                i);
        } else {
            return bad_role("mistral-v3", i, m[i].role, "system, user, assistant or tool", c->err,
                            c->el);
        }
    }
    return 0; /* the reply starts right after [/INST] or [/TOOL_RESULTS] */
}

/* gpt-oss's TypeScript-like rendering of a JSON Schema type
 * (render_typescript_type in openai/gpt-oss-20b chat_template.jinja),
 * including its stray whitespace: under trim_blocks a nested property's type
 * follows a newline and 16 spaces. */
static void ts_type(sbuf *b, const cj_value *spec);

static bool truthy(const cj_value *v)
{
    if (!v) return false;
    switch (v->t) {
    case CJ_NULL:
    case CJ_FALSE:
        return false;
    case CJ_TRUE:
        return true;
    case CJ_NUM:
        return strtod(v->s, NULL) != 0;
    case CJ_STR:
    case CJ_ARR:
    case CJ_OBJ:
        return v->t == CJ_STR ? v->len > 0 : v->n > 0;
    }
    return false;
}

/* Jinja's "x + str": strings as they are, other values as JSON text. */
static void put_raw(sbuf *b, const cj_value *v)
{
    if (v->t == CJ_STR)
        swarm_buf_putn(b, v->s, v->len);
    else
        cj_dump(b, v, -1);
}

static bool in_required(const cj_value *req, const char *name)
{
    if (!req || req->t != CJ_ARR) return false;
    for (size_t i = 0; i < req->n; i++)
        if (cj_is_str(&req->kids[i], name)) return true;
    return false;
}

static void ts_type(sbuf *b, const cj_value *spec)
{
    const cj_value *type = cj_get(spec, "type");
    const cj_value *one = cj_get(spec, "oneOf");
    bool nullable = truthy(cj_get(spec, "nullable"));
    if (cj_is_str(type, "array")) {
        const cj_value *items = cj_get(spec, "items");
        if (truthy(items)) {
            const cj_value *it = cj_get(items, "type");
            if (cj_is_str(it, "string"))
                put(b, "string[]");
            else if (cj_is_str(it, "number") || cj_is_str(it, "integer"))
                put(b, "number[]");
            else if (cj_is_str(it, "boolean"))
                put(b, "boolean[]");
            else {
                sbuf inner = {0};
                ts_type(&inner, items);
                const char *s = inner.s ? inner.s : "";
                if (!strcmp(s, "object | object") || strlen(s) > 50)
                    put(b, "any[]");
                else {
                    put(b, s);
                    put(b, "[]");
                }
                free(inner.s);
            }
        } else {
            put(b, "any[]");
        }
        if (nullable) put(b, " | null");
    } else if (type && type->t == CJ_ARR && type->n > 0) {
        for (size_t i = 0; i < type->n; i++) {
            if (i) put(b, " | ");
            put_raw(b, &type->kids[i]);
        }
    } else if (truthy(one) && one->t == CJ_ARR) {
        bool objects = false;
        for (size_t i = 0; i < one->n; i++)
            objects |= cj_is_str(cj_get(&one->kids[i], "type"), "object");
        if (objects && one->n > 1) {
            put(b, "any");
            return;
        }
        for (size_t i = 0; i < one->n; i++) {
            const cj_value *v = &one->kids[i];
            ts_type(b, v);
            const cj_value *d = cj_get(v, "description");
            if (truthy(d)) {
                put(b, "// ");
                put_raw(b, d);
            }
            const cj_value *def = cj_get(v, "default");
            if (def) {
                put(b, "                    // default: ");
                cj_dump(b, def, -1);
            }
            if (i + 1 < one->n) put(b, " | \n");
        }
    } else if (cj_is_str(type, "string")) {
        const cj_value *e = cj_get(spec, "enum");
        if (truthy(e) && e->t == CJ_ARR) {
            put(b, "\"");
            for (size_t i = 0; i < e->n; i++) {
                if (i) put(b, "\" | \"");
                put_raw(b, &e->kids[i]);
            }
            put(b, "\"");
        } else {
            put(b, "string");
            if (nullable) put(b, " | null");
        }
    } else if (cj_is_str(type, "number") || cj_is_str(type, "integer")) {
        put(b, "number");
    } else if (cj_is_str(type, "boolean")) {
        put(b, "boolean");
    } else if (cj_is_str(type, "object")) {
        const cj_value *props = cj_get(spec, "properties");
        if (truthy(props) && props->t == CJ_OBJ) {
            const cj_value *req = cj_get(spec, "required");
            put(b, "{\n");
            for (size_t i = 0; i < props->n; i++) {
                put(b, props->keys[i]);
                if (!in_required(req, props->keys[i])) put(b, "?");
                put(b, ": \n                ");
                ts_type(b, &props->kids[i]);
                if (i + 1 < props->n) put(b, ", ");
            }
            put(b, "}");
        } else {
            put(b, "object");
        }
    } else {
        put(b, "any");
    }
}

/* render_tool_namespace("functions", tools) of the gpt-oss template */
static int put_harmony_tools(sbuf *b, const render_ctx *c)
{
    put(b, "## functions\n\nnamespace functions {\n\n");
    for (size_t t = 0; t < c->n_tools; t++) {
        const rt_tool_def *td = &c->tools[t];
        if (td->description) {
            put(b, "// ");
            put(b, td->description);
            put(b, "\n");
        }
        put(b, "type ");
        put(b, td->name);
        put(b, " = ");
        cj_value *p = NULL;
        char jerr[160];
        if (td->parameters &&
            cj_parse(td->parameters, strlen(td->parameters), &p, NULL, jerr, sizeof(jerr)))
            return swarm_err_set(c->err, c->el, "chat template harmony: tool \"%s\" parameters: %s",
                                 td->name, jerr);
        const cj_value *props = cj_get(p, "properties");
        if (truthy(props) && props->t == CJ_OBJ) {
            const cj_value *req = cj_get(p, "required");
            put(b, "(_: {\n");
            for (size_t i = 0; i < props->n; i++) {
                const cj_value *spec = &props->kids[i];
                const cj_value *d = cj_get(spec, "description");
                if (truthy(d)) {
                    put(b, "// ");
                    put_raw(b, d);
                    put(b, "\n");
                }
                put(b, props->keys[i]);
                if (!in_required(req, props->keys[i])) put(b, "?");
                put(b, ": ");
                ts_type(b, spec);
                const cj_value *def = cj_get(spec, "default");
                if (def) {
                    if (truthy(cj_get(spec, "enum"))) {
                        put(b, ", // default: ");
                        put_raw(b, def);
                    } else if (truthy(cj_get(spec, "oneOf"))) {
                        put(b, "// default: ");
                        put_raw(b, def);
                    } else {
                        put(b, ", // default: ");
                        cj_dump(b, def, -1);
                    }
                }
                put(b, ",\n");
            }
            put(b, "}) => any;\n\n");
        } else {
            put(b, "() => any;\n\n");
        }
        cj_free(p);
    }
    put(b, "} // namespace functions");
    return 0;
}

/* gpt-oss harmony (openai/gpt-oss-20b chat_template.jinja for the system and
 * developer messages and tool results; assistant calls as OpenAI's harmony
 * guide renders them: commentary channel, " to=functions.NAME <|constrain|>json").
 * The "Current date" line is left out so prompts do not change by the day. */
static int render_harmony(sbuf *b, const render_ctx *c)
{
    const rt_chat_msg *m = c->m;
    put(b, "<|start|>system<|message|>You are ChatGPT, a large language model trained by "
           "OpenAI.\nKnowledge cutoff: 2024-06\n\nReasoning: medium\n\n# Valid channels: "
           "analysis, commentary, final. Channel must be included for every message.");
    if (c->n_tools)
        put(b, "\nCalls to these tools must go to the commentary channel: 'functions'.");
    put(b, "<|end|>");
    size_t i0 = 0;
    const char *dev = NULL;
    if (c->n && (is(m[0].role, "system") || is(m[0].role, "developer"))) {
        dev = m[0].content;
        i0 = 1;
    }
    if (nonempty(dev) || c->n_tools) {
        put(b, "<|start|>developer<|message|>");
        if (nonempty(dev)) {
            put(b, "# Instructions\n\n");
            put(b, dev);
            put(b, "\n\n");
        }
        if (c->n_tools) {
            put(b, "# Tools\n\n");
            if (put_harmony_tools(b, c)) return -1;
        }
        put(b, "<|end|>");
    }
    const char *last_call = NULL;
    for (size_t i = i0; i < c->n; i++) {
        if (is(m[i].role, "system")) {
            put(b, "<|start|>developer<|message|># Instructions\n\n");
            put(b, m[i].content);
            put(b, "\n\n<|end|>");
        } else if (is(m[i].role, "user")) {
            put(b, "<|start|>user<|message|>");
            put(b, m[i].content);
            put(b, "<|end|>");
        } else if (is(m[i].role, "assistant") && m[i].n_tool_calls) {
            /* the text beside a call is its reasoning, kept only until a
             * later final answer makes it moot */
            bool future_final = false;
            for (size_t j = i + 1; j < c->n; j++)
                future_final |= is(m[j].role, "assistant") && !m[j].n_tool_calls;
            if (nonempty(m[i].content) && !future_final) {
                put(b, "<|start|>assistant<|channel|>analysis<|message|>");
                put(b, m[i].content);
                put(b, "<|end|>");
            }
            for (size_t k = 0; k < m[i].n_tool_calls; k++) {
                put(b, "<|start|>assistant<|channel|>commentary to=functions.");
                put(b, m[i].tool_calls[k].name);
                put(b, " <|constrain|>json<|message|>");
                put(b, args_of(&m[i].tool_calls[k]));
                put(b, "<|call|>");
                last_call = m[i].tool_calls[k].name;
            }
        } else if (is(m[i].role, "assistant")) {
            put(b, "<|start|>assistant<|channel|>final<|message|>");
            put(b, m[i].content);
            put(b, "<|end|>");
            last_call = NULL;
        } else if (is(m[i].role, "tool")) {
            const char *name = m[i].name;
            for (size_t j = i; !name && m[i].tool_call_id && j-- > 0;)
                for (size_t k = 0; k < m[j].n_tool_calls; k++)
                    if (m[j].tool_calls[k].id && !strcmp(m[j].tool_calls[k].id, m[i].tool_call_id))
                        name = m[j].tool_calls[k].name;
            if (!name) name = last_call;
            if (!name)
                return swarm_err_set(
                    c->err, c->el,
                    "chat template harmony: tool message %zu has no name and follows no "
                    "assistant tool call",
                    i);
            put(b, "<|start|>functions.");
            put(b, name);
            put(b, " to=assistant<|channel|>commentary<|message|>");
            put(b, m[i].content);
            put(b, "<|end|>");
        } else {
            return bad_role("harmony", i, m[i].role, "system, user, assistant or tool", c->err,
                            c->el);
        }
    }
    if (c->gen) put(b, "<|start|>assistant");
    return 0;
}

int rt_chat_apply_tools(const char *family, const rt_chat_msg *msgs, size_t n,
                        const rt_tool_def *tools, size_t n_tools, bool add_generation_prompt,
                        char **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!family)
        return swarm_err_set(err, errlen, "chat template: no family given (known: " KNOWN ")");
    if (n_tools && !tools)
        return swarm_err_set(err, errlen, "chat template %s: tools is NULL", family);
    render_ctx c = {family, msgs, n, tools, n_tools, add_generation_prompt, err, errlen};
    if (check_input(&c)) return -1;
    sbuf b = {0};
    swarm_buf_putn(&b, "", 0);
    int rc;
    if (!strcmp(family, "chatml"))
        rc = render_chatml(&b, &c);
    else if (!strcmp(family, "llama3"))
        rc = render_llama3(&b, &c);
    else if (!strcmp(family, "deepseek"))
        rc = render_deepseek2(&b, &c);
    else if (!strcmp(family, "deepseek3"))
        rc = render_deepseek3(&b, &c);
    else if (!strcmp(family, "mistral"))
        rc = render_mistral(&b, &c);
    else if (!strcmp(family, "mistral-v3"))
        rc = render_mistral_v3(&b, &c);
    else if (!strcmp(family, "harmony"))
        rc = render_harmony(&b, &c);
    else
        rc = swarm_err_set(err, errlen, "unknown chat template family \"%s\" (known: " KNOWN ")",
                           family);
    if (rc == 0 && b.oom)
        rc = swarm_err_set(err, errlen, "chat template %s: out of memory", family);
    if (rc) {
        free(b.s);
        return rc;
    }
    *out = b.s;
    return 0;
}

int rt_chat_apply(const char *family, const rt_chat_msg *msgs, size_t n, bool add_generation_prompt,
                  char **out, char *err, size_t errlen)
{
    return rt_chat_apply_tools(family, msgs, n, NULL, 0, add_generation_prompt, out, err, errlen);
}

const char *rt_chat_family(const rt_model *m, const char *template_name)
{
    if (template_name) return template_name;
    return m ? rt_chat_detect(m->g) : NULL;
}

int rt_chat_format_tools(const rt_model *m, const char *template_name, const rt_chat_msg *msgs,
                         size_t n_msgs, const rt_tool_def *tools, size_t n_tools,
                         bool add_generation_prompt, char **out, char *err, size_t errlen)
{
    *out = NULL;
    const char *family = rt_chat_family(m, template_name);
    if (!family)
        return swarm_err_set(
            err, errlen,
            "%s: no chat template family recognised from the model's metadata; name one "
            "(" KNOWN ")",
            m ? m->name : "(no model)");
    return rt_chat_apply_tools(family, msgs, n_msgs, tools, n_tools, add_generation_prompt, out,
                               err, errlen);
}
