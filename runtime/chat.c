/* chat.c - chat templates: family detection from GGUF metadata and prompt rendering.
 *
 * Each renderer reproduces its family's reference (Hugging Face / llama.cpp)
 * template for plain text messages: chatml (Qwen, OLMoE and most fine-tunes),
 * Llama 3 headers, DeepSeek-V2 "User:/Assistant:", DeepSeek-V3 fullwidth-bar
 * markers, Mistral/Mixtral [INST] turns, and OpenAI's harmony format for
 * gpt-oss. Tool calls, images and reasoning traces are out of scope. */
#include "chat.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_families[] = {"chatml",  "llama3",  "deepseek", "deepseek3",
                                         "mistral", "harmony", NULL};

const char *const *rt_chat_families(void)
{
    return k_families;
}

/* DeepSeek's markers use U+FF5C (fullwidth bar) and U+2581 (lower block). */
#define DS_EOS                                                                                     \
    "<\xef\xbd\x9c"                                                                                \
    "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
#define DS_USER "<\xef\xbd\x9cUser\xef\xbd\x9c>"
#define DS_ASSISTANT                                                                               \
    "<\xef\xbd\x9c"                                                                                \
    "Assistant\xef\xbd\x9c>"

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
        return "mistral"; /* Llama-architecture MoE (Mixtral) without Llama 3 markers */
    return NULL;
}

typedef struct {
    char *s;
    size_t n, cap;
    bool oom;
} sbuf;

static void put(sbuf *b, const char *s)
{
    size_t l = strlen(s);
    if (b->oom) return;
    if (b->n + l + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + l + 1)
            nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->n, s, l + 1);
    b->n += l;
}

/* content with leading/trailing whitespace removed (Llama 3's template trims) */
static void put_trimmed(sbuf *b, const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    size_t l = strlen(s);
    while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\n' || s[l - 1] == '\r'))
        l--;
    char *t = strndup(s, l);
    if (!t) {
        b->oom = true;
        return;
    }
    put(b, t);
    free(t);
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int bad_role(const char *family, size_t i, const char *role, char *err, size_t errlen)
{
    return fail(err, errlen,
                "chat template %s: message %zu has role \"%s\" (expected system, user "
                "or assistant)",
                family, i, role ? role : "(null)");
}

static bool is(const char *role, const char *r)
{
    return role && !strcmp(role, r);
}

static int render_chatml(sbuf *b, const rt_chat_msg *m, size_t n, bool gen, char *err, size_t el)
{
    for (size_t i = 0; i < n; i++) {
        if (!is(m[i].role, "system") && !is(m[i].role, "user") && !is(m[i].role, "assistant") &&
            !is(m[i].role, "tool"))
            return bad_role("chatml", i, m[i].role, err, el);
        put(b, "<|im_start|>");
        put(b, m[i].role);
        put(b, "\n");
        put(b, m[i].content);
        put(b, "<|im_end|>\n");
    }
    if (gen) put(b, "<|im_start|>assistant\n");
    return 0;
}

static int render_llama3(sbuf *b, const rt_chat_msg *m, size_t n, bool gen, char *err, size_t el)
{
    for (size_t i = 0; i < n; i++) {
        if (!is(m[i].role, "system") && !is(m[i].role, "user") && !is(m[i].role, "assistant"))
            return bad_role("llama3", i, m[i].role, err, el);
        put(b, "<|start_header_id|>");
        put(b, m[i].role);
        put(b, "<|end_header_id|>\n\n");
        put_trimmed(b, m[i].content);
        put(b, "<|eot_id|>");
    }
    if (gen) put(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return 0;
}

static int render_deepseek(sbuf *b, const rt_chat_msg *m, size_t n, bool gen, bool v3, char *err,
                           size_t el)
{
    const char *fam = v3 ? "deepseek3" : "deepseek";
    for (size_t i = 0; i < n; i++) {
        if (is(m[i].role, "system")) {
            put(b, m[i].content);
            put(b, "\n\n");
        } else if (is(m[i].role, "user")) {
            put(b, v3 ? DS_USER : "User: ");
            put(b, m[i].content);
            if (!v3) put(b, "\n\n");
        } else if (is(m[i].role, "assistant")) {
            put(b, v3 ? DS_ASSISTANT : "Assistant: ");
            put(b, m[i].content);
            put(b, DS_EOS);
        } else {
            return bad_role(fam, i, m[i].role, err, el);
        }
    }
    if (gen) put(b, v3 ? DS_ASSISTANT : "Assistant:");
    return 0;
}

/* Mixtral-Instruct: "[INST] sys\n\nuser [/INST]answer</s>[INST] user [/INST]" */
static int render_mistral(sbuf *b, const rt_chat_msg *m, size_t n, bool gen, char *err, size_t el)
{
    const char *system = NULL;
    bool expect_user = true;
    for (size_t i = 0; i < n; i++) {
        if (is(m[i].role, "system")) {
            if (i != 0)
                return fail(err, el,
                            "chat template mistral: the system message must come first "
                            "(message %zu)",
                            i);
            system = m[i].content;
        } else if (is(m[i].role, "user")) {
            if (!expect_user)
                return fail(err, el,
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
                return fail(err, el,
                            "chat template mistral: assistant message %zu does not "
                            "follow a user message",
                            i);
            put(b, m[i].content);
            put(b, "</s>");
            expect_user = true;
        } else {
            return bad_role("mistral", i, m[i].role, err, el);
        }
    }
    (void)gen; /* the reply starts right after [/INST] */
    return 0;
}

/* gpt-oss harmony: a fixed system header, the caller's system text as the
 * developer message, final-channel assistant turns. */
static int render_harmony(sbuf *b, const rt_chat_msg *m, size_t n, bool gen, char *err, size_t el)
{
    put(b, "<|start|>system<|message|>You are ChatGPT, a large language model trained by "
           "OpenAI.\nKnowledge cutoff: 2024-06\n\nReasoning: medium\n\n# Valid channels: "
           "analysis, commentary, final. Channel must be included for every message.<|end|>");
    for (size_t i = 0; i < n; i++) {
        if (is(m[i].role, "system")) {
            put(b, "<|start|>developer<|message|># Instructions\n\n");
            put(b, m[i].content);
            put(b, "\n\n<|end|>");
        } else if (is(m[i].role, "user")) {
            put(b, "<|start|>user<|message|>");
            put(b, m[i].content);
            put(b, "<|end|>");
        } else if (is(m[i].role, "assistant")) {
            put(b, "<|start|>assistant<|channel|>final<|message|>");
            put(b, m[i].content);
            put(b, "<|end|>");
        } else {
            return bad_role("harmony", i, m[i].role, err, el);
        }
    }
    if (gen) put(b, "<|start|>assistant");
    return 0;
}

int rt_chat_apply(const char *family, const rt_chat_msg *msgs, size_t n, bool add_generation_prompt,
                  char **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!family)
        return fail(err, errlen,
                    "chat template: no family given (known: chatml, llama3, "
                    "deepseek, deepseek3, mistral, harmony)");
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].content)
            return fail(err, errlen, "chat template %s: message %zu has no content", family, i);
    sbuf b = {0};
    put(&b, "");
    int rc;
    bool g = add_generation_prompt;
    if (!strcmp(family, "chatml"))
        rc = render_chatml(&b, msgs, n, g, err, errlen);
    else if (!strcmp(family, "llama3"))
        rc = render_llama3(&b, msgs, n, g, err, errlen);
    else if (!strcmp(family, "deepseek"))
        rc = render_deepseek(&b, msgs, n, g, false, err, errlen);
    else if (!strcmp(family, "deepseek3"))
        rc = render_deepseek(&b, msgs, n, g, true, err, errlen);
    else if (!strcmp(family, "mistral"))
        rc = render_mistral(&b, msgs, n, g, err, errlen);
    else if (!strcmp(family, "harmony"))
        rc = render_harmony(&b, msgs, n, g, err, errlen);
    else
        rc = fail(err, errlen,
                  "unknown chat template family \"%s\" (known: chatml, llama3, "
                  "deepseek, deepseek3, mistral, harmony)",
                  family);
    if (rc == 0 && b.oom) rc = fail(err, errlen, "chat template %s: out of memory", family);
    if (rc) {
        free(b.s);
        return rc;
    }
    *out = b.s;
    return 0;
}
