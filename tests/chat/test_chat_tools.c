/* test_chat_tools.c - native tool calls per chat family: the exact prompt
 * each published template renders for tool definitions, assistant calls and
 * tool results; replies parsed back into calls (content before calls,
 * several calls, malformed JSON); render->parse round trips.
 * Usage: test_chat_tools chatml|llama3|deepseek3|mistral-v3|harmony|errors
 *
 * Expected strings are written out by hand from these sources:
 *  chatml     Qwen/Qwen3-30B-A3B tokenizer_config.json chat_template
 *  llama3     meta-llama/Llama-3.1-8B-Instruct chat_template (defaults:
 *             tools_in_user_message, date_string "26 Jul 2024")
 *  deepseek3  deepseek-ai/DeepSeek-V3-0324 chat_template (tool messages;
 *             the tool list in the system prompt is ours, see RUNTIME.md)
 *  mistral-v3 mistralai/Mistral-7B-Instruct-v0.3 chat_template
 *  harmony    openai/gpt-oss-20b chat_template.jinja (system, developer,
 *             tool results) and OpenAI's harmony guide (the call form
 *             "<|channel|>commentary to=functions.X <|constrain|>json") */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat.h"
#include "chat_json.h"
#include "mkmodel.h"
#include "../common/check.h"

#define WEATHER_PARAMS                                                                             \
    "{\"type\":\"object\",\"properties\":{\"location\":{\"type\":\"string\",\"description\":"      \
    "\"City name\"},\"unit\":{\"type\":\"string\",\"enum\":[\"celsius\",\"fahrenheit\"]}},"        \
    "\"required\":[\"location\"]}"
/* the same, as Python's json.dumps writes it */
#define WEATHER_PARAMS_PY                                                                          \
    "{\"type\": \"object\", \"properties\": {\"location\": {\"type\": \"string\", "                \
    "\"description\": \"City name\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"celsius\", "   \
    "\"fahrenheit\"]}}, \"required\": [\"location\"]}"

static const rt_tool_def k_tools[] = {
    {"get_weather", "Get the current weather", WEATHER_PARAMS},
    {"get_time", NULL, "{\"type\":\"object\",\"properties\":{}}"},
};

static const rt_tool_call k_call = {"abc123XYZ", "get_weather", "{\"location\": \"Paris\"}"};

/* system, user, assistant call, tool result */
static const rt_chat_msg k_conv[] = {
    {.role = "system", .content = "Be brief."},
    {.role = "user", .content = "Weather in Paris?"},
    {.role = "assistant", .content = NULL, .tool_calls = &k_call, .n_tool_calls = 1},
    {.role = "tool",
     .content = "{\"temp\": 18}",
     .tool_call_id = "abc123XYZ",
     .name = "get_weather"},
};

static void expect(const char *family, const rt_chat_msg *m, size_t n, const rt_tool_def *tools,
                   size_t nt, bool gen, const char *want)
{
    char *out = NULL, err[512] = "";
    int rc = rt_chat_apply_tools(family, m, n, tools, nt, gen, &out, err, sizeof(err));
    CHECK(rc == 0, "%s: render failed: %s", family, err);
    if (rc == 0)
        CHECK(!strcmp(out, want), "%s (gen=%d):\n got: [%s]\nwant: [%s]", family, gen, out, want);
    free(out);
}

static bool json_eq(const char *a, const char *b)
{
    cj_value *x = NULL, *y = NULL;
    char err[160];
    bool eq = !cj_parse(a, strlen(a), &x, NULL, err, sizeof(err)) &&
              !cj_parse(b, strlen(b), &y, NULL, err, sizeof(err)) && cj_equal(x, y);
    cj_free(x);
    cj_free(y);
    return eq;
}

/* Parses text; checks the calls' names and arguments and the content. */
static void expect_parse(const char *family, const char *text, size_t n_want,
                         const char *const *names, const char *const *args, const char *content)
{
    rt_tool_call *calls = NULL;
    size_t n = 0;
    char *c = NULL, err[512] = "";
    int rc = rt_chat_parse_tool_calls(family, text, strlen(text), &calls, &n, &c, err, sizeof(err));
    CHECK(rc == 0, "%s: parse failed on [%s]: %s", family, text, err);
    if (rc) return;
    CHECK(n == n_want, "%s: %zu calls parsed from [%s], want %zu", family, n, text, n_want);
    for (size_t i = 0; i < n && i < n_want; i++) {
        CHECK(!strcmp(calls[i].name, names[i]), "%s: call %zu name %s, want %s", family, i,
              calls[i].name, names[i]);
        CHECK(json_eq(calls[i].arguments, args[i]), "%s: call %zu arguments %s, want %s", family, i,
              calls[i].arguments, args[i]);
    }
    CHECK(!strcmp(c, content), "%s: content [%s], want [%s]", family, c, content);
    rt_tool_calls_free(calls, n);
    free(c);
}

static void expect_parse_error(const char *family, const char *text, const char *needle)
{
    rt_tool_call *calls = (rt_tool_call *)1;
    size_t n = 7;
    char *c = (char *)1, err[512] = "";
    int rc = rt_chat_parse_tool_calls(family, text, strlen(text), &calls, &n, &c, err, sizeof(err));
    CHECK(rc < 0, "%s: [%s] parsed without an error", family, text);
    CHECK(calls == NULL && n == 0 && c == NULL, "%s: outputs not cleared on error", family);
    CHECK(strstr(err, needle), "%s: error for [%s] does not mention \"%s\": %s", family, text,
          needle, err);
}

/* Render [user] + generation prompt and [user, assistant(calls)]: the second
 * must extend the first, and the extension must parse back into the calls. */
static void round_trip(const char *family, const rt_tool_call *calls, size_t n)
{
    const rt_chat_msg q[] = {
        {.role = "user", .content = "Weather in Paris and the time?"},
        {.role = "assistant", .content = NULL, .tool_calls = calls, .n_tool_calls = n},
    };
    char *p1 = NULL, *p2 = NULL, err[512] = "";
    int rc = rt_chat_apply_tools(family, q, 1, k_tools, 2, true, &p1, err, sizeof(err));
    if (!rc) rc = rt_chat_apply_tools(family, q, 2, k_tools, 2, false, &p2, err, sizeof(err));
    CHECK(rc == 0, "%s: round trip render: %s", family, err);
    if (rc == 0) {
        size_t l1 = strlen(p1);
        CHECK(!strncmp(p1, p2, l1), "%s: the rendered call does not extend the generation prompt",
              family);
        const char *reply = p2 + l1;
        rt_tool_call *got = NULL;
        size_t ng = 0;
        char *content = NULL;
        rc = rt_chat_parse_tool_calls(family, reply, strlen(reply), &got, &ng, &content, err,
                                      sizeof(err));
        CHECK(rc == 0, "%s: round trip parse of [%s]: %s", family, reply, err);
        if (rc == 0) {
            CHECK(ng == n, "%s: round trip gave %zu calls, want %zu ([%s])", family, ng, n, reply);
            for (size_t i = 0; i < ng && i < n; i++) {
                CHECK(!strcmp(got[i].name, calls[i].name), "%s: round trip name %s != %s", family,
                      got[i].name, calls[i].name);
                CHECK(json_eq(got[i].arguments, calls[i].arguments),
                      "%s: round trip arguments %s != %s", family, got[i].arguments,
                      calls[i].arguments);
            }
            CHECK(content[0] == 0, "%s: round trip left content [%s]", family, content);
            rt_tool_calls_free(got, ng);
            free(content);
        }
    }
    free(p1);
    free(p2);
}

static const rt_tool_call k_two[] = {
    {"abc123XYZ", "get_weather", "{\"location\": \"Paris\", \"unit\": \"celsius\"}"},
    {"def456UVW", "get_time", "{}"},
};

#define QWEN_TOOLS_HEAD                                                                            \
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are "     \
    "provided with function signatures within <tools></tools> XML tags:\n<tools>\n"                \
    "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get "   \
    "the current weather\", \"parameters\": " WEATHER_PARAMS_PY "}}\n"                             \
    "{\"type\": \"function\", \"function\": {\"name\": \"get_time\", \"parameters\": {\"type\": "  \
    "\"object\", \"properties\": {}}}}\n</tools>\n\nFor each function call, return a json object " \
    "with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"     \
    "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n"

static void test_chatml(void)
{
    expect("chatml", k_conv, 4, k_tools, 2, true,
           "<|im_start|>system\nBe brief.\n\n" QWEN_TOOLS_HEAD
           "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
           "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
           "{\"location\": \"Paris\"}}\n</tool_call><|im_end|>\n"
           "<|im_start|>user\n<tool_response>\n{\"temp\": 18}\n</tool_response><|im_end|>\n"
           "<|im_start|>assistant\n");
    /* no system message: the tools open their own system turn; content before
     * calls, two calls, two results batched into one user turn */
    const rt_chat_msg conv2[] = {
        {.role = "user", .content = "Hi"},
        {.role = "assistant", .content = "Checking.", .tool_calls = k_two, .n_tool_calls = 2},
        {.role = "tool", .content = "18C"},
        {.role = "tool", .content = "noon"},
    };
    expect("chatml", conv2, 4, k_tools, 2, false,
           "<|im_start|>system\n" QWEN_TOOLS_HEAD "<|im_start|>user\nHi<|im_end|>\n"
           "<|im_start|>assistant\nChecking.\n<tool_call>\n{\"name\": \"get_weather\", "
           "\"arguments\": {\"location\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call>\n"
           "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call><|im_end|>\n"
           "<|im_start|>user\n<tool_response>\n18C\n</tool_response>\n<tool_response>\nnoon\n"
           "</tool_response><|im_end|>\n");
    const char *n2[] = {"get_weather", "get_time"};
    const char *a2[] = {"{\"location\":\"Paris\"}", "{}"};
    expect_parse("chatml",
                 "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                 "{\"location\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", "
                 "\"arguments\": {}}\n</tool_call><|im_end|>",
                 2, n2, a2, "Let me check.");
    /* generation stopped before the closing tag; arguments as a JSON string */
    expect_parse("chatml",
                 "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": \"{\\\"location\\\": "
                 "\\\"Paris\\\"}\"}",
                 1, n2, a2, "");
    expect_parse("chatml", "It is 18C in Paris.", 0, NULL, NULL, "It is 18C in Paris.");
    expect_parse_error("chatml",
                       "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": "
                       "}}\n</tool_call>",
                       "invalid JSON");
    expect_parse_error("chatml", "<tool_call>\n{\"arguments\": {}}\n</tool_call>", "name");
    expect_parse_error("chatml", "<tool_call>\n{\"name\": \"x\", \"arguments\": [1]}\n</tool_call>",
                       "not a JSON object");
    round_trip("chatml", k_two, 2);
}

#define LLAMA_TOOL_INDENTED                                                                        \
    "{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"get_weather\",\n"    \
    "        \"description\": \"Get the current weather\",\n        \"parameters\": {\n"           \
    "            \"type\": \"object\",\n            \"properties\": {\n"                           \
    "                \"location\": {\n                    \"type\": \"string\",\n"                 \
    "                    \"description\": \"City name\"\n                },\n"                     \
    "                \"unit\": {\n                    \"type\": \"string\",\n"                     \
    "                    \"enum\": [\n                        \"celsius\",\n"                      \
    "                        \"fahrenheit\"\n                    ]\n                }\n"           \
    "            },\n            \"required\": [\n                \"location\"\n            ]\n"   \
    "        }\n    }\n}\n\n"

static void test_llama3(void)
{
    expect(
        "llama3", k_conv, 4, k_tools, 1, true,
        "<|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nGiven the following functions, please "
        "respond with a JSON for a function call with its proper arguments that best answers "
        "the given prompt.\n\nRespond in the format {\"name\": function name, \"parameters\": "
        "dictionary of argument name and its value}.Do not use variables.\n\n" LLAMA_TOOL_INDENTED
        "Weather in Paris?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"get_weather\", "
        "\"parameters\": {\"location\": \"Paris\"}}<|eot_id|>"
        /* a string result goes through tojson: Jinja strings are iterable */
        "<|start_header_id|>ipython<|end_header_id|>\n\n\"{\\\"temp\\\": 18}\"<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n");
    /* Llama 3.1 takes one call per message */
    const rt_chat_msg two[] = {{.role = "user", .content = "x"},
                               {.role = "assistant", .tool_calls = k_two, .n_tool_calls = 2}};
    char *out = NULL, err[256] = "";
    CHECK(rt_chat_apply_tools("llama3", two, 2, k_tools, 2, false, &out, err, sizeof(err)) < 0 &&
              strstr(err, "single tool call"),
          "llama3 accepted two calls in one message (%s)", err);
    /* tools need a first user message to live in */
    const rt_chat_msg sys_only[] = {{.role = "system", .content = "s"}};
    CHECK(rt_chat_apply_tools("llama3", sys_only, 1, k_tools, 1, true, &out, err, sizeof(err)) < 0,
          "llama3 rendered tools without a user message");
    const char *n1[] = {"get_weather"};
    const char *a1[] = {"{\"location\": \"Paris\"}"};
    expect_parse("llama3", "{\"name\": \"get_weather\", \"parameters\": {\"location\": \"Paris\"}}",
                 1, n1, a1, "");
    expect_parse("llama3",
                 " <|python_tag|>{\"name\": \"get_weather\", \"arguments\": {\"location\": "
                 "\"Paris\"}}<|eot_id|>",
                 1, n1, a1, "");
    expect_parse("llama3", "It is {warm} today.", 0, NULL, NULL, "It is {warm} today.");
    expect_parse("llama3", "{\"answer\": 42}", 0, NULL, NULL, "{\"answer\": 42}");
    expect_parse_error(
        "llama3", "{\"name\": \"get_weather\", \"parameters\": {\"location\": ", "invalid JSON");
    round_trip("llama3", k_two, 1);
}

static void test_deepseek3(void)
{
    /* tool messages exactly as DeepSeek-V3-0324 renders them (no tool list) */
    expect("deepseek3", k_conv, 4, NULL, 0, true,
           "Be brief." DS_USER "Weather in Paris?" DS_ASSISTANT DS_CALLS_BEGIN DS_CALL_BEGIN
           "function" DS_SEP
           "get_weather\n```json\n{\"location\": \"Paris\"}\n```" DS_CALL_END DS_CALLS_END DS_EOS
               DS_OUTPUTS_BEGIN DS_OUTPUT_BEGIN "{\"temp\": 18}" DS_OUTPUT_END DS_OUTPUTS_END);
    /* content before two calls, two results, then the answer after them */
    const rt_chat_msg conv2[] = {
        {.role = "user", .content = "Hi"},
        {.role = "assistant", .content = "Checking.", .tool_calls = k_two, .n_tool_calls = 2},
        {.role = "tool", .content = "18C"},
        {.role = "tool", .content = "noon"},
        {.role = "assistant", .content = "18C at noon."},
    };
    expect("deepseek3", conv2, 5, NULL, 0, true,
           DS_USER
           "Hi" DS_ASSISTANT "Checking." DS_CALLS_BEGIN DS_CALL_BEGIN "function" DS_SEP
           "get_weather\n```json\n{\"location\": \"Paris\", \"unit\": \"celsius\"}\n```" DS_CALL_END
           "\n" DS_CALL_BEGIN "function" DS_SEP
           "get_time\n```json\n{}\n```" DS_CALL_END DS_CALLS_END DS_EOS DS_OUTPUTS_BEGIN
               DS_OUTPUT_BEGIN "18C" DS_OUTPUT_END "\n" DS_OUTPUT_BEGIN
           "noon" DS_OUTPUT_END DS_OUTPUTS_END "18C at noon." DS_EOS DS_ASSISTANT);
    /* with tools, the list joins the system prompt */
    char *out = NULL, err[256] = "";
    CHECK(rt_chat_apply_tools("deepseek3", k_conv, 2, k_tools, 2, true, &out, err, sizeof(err)) ==
                  0 &&
              !strncmp(out, "Be brief.\n\n## Tools\n", 20) &&
              strstr(out, "### get_weather\nDescription: Get the current "
                          "weather\n\nParameters: " WEATHER_PARAMS_PY "\n") &&
              strstr(out, "### get_time\n\nParameters: ") &&
              strstr(out, DS_USER "Weather in Paris?" DS_ASSISTANT),
          "deepseek3 tool list: %s / %s", err, out ? out : "");
    free(out);
    const char *n2[] = {"get_weather", "get_time"};
    const char *a2[] = {"{\"location\":\"Paris\"}", "{}"};
    expect_parse("deepseek3",
                 "Let me check." DS_CALLS_BEGIN DS_CALL_BEGIN "function" DS_SEP
                 "get_weather\n```json\n{\"location\":\"Paris\"}\n```" DS_CALL_END
                 "\n" DS_CALL_BEGIN "function" DS_SEP
                 "get_time\n```json\n{}\n```" DS_CALL_END DS_CALLS_END DS_EOS,
                 2, n2, a2, "Let me check.");
    expect_parse("deepseek3", "Plain answer." DS_EOS, 0, NULL, NULL, "Plain answer.");
    expect_parse_error(
        "deepseek3",
        DS_CALLS_BEGIN DS_CALL_BEGIN
        "function" DS_SEP
        "get_weather\n```json\n{\"location\" \"Paris\"}\n```" DS_CALL_END DS_CALLS_END,
        "invalid JSON");
    expect_parse_error("deepseek3", DS_CALLS_BEGIN "junk", "expected");
    round_trip("deepseek3", k_two, 2);
}

#define MISTRAL_TOOLS                                                                              \
    "[AVAILABLE_TOOLS] [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "       \
    "\"description\": \"Get the current weather\", \"parameters\": " WEATHER_PARAMS_PY "}}, "      \
    "{\"type\": \"function\", \"function\": {\"name\": \"get_time\", \"parameters\": {\"type\": "  \
    "\"object\", \"properties\": {}}}}][/AVAILABLE_TOOLS]"

static void test_mistral_v3(void)
{
    /* the system message joins the last message only if that is the user's */
    expect("mistral-v3", k_conv, 4, k_tools, 2, false,
           MISTRAL_TOOLS "[INST] Weather in Paris?[/INST][TOOL_CALLS] [{\"name\": \"get_weather\", "
                         "\"arguments\": {\"location\": \"Paris\"}, \"id\": \"abc123XYZ\"}]</s>"
                         "[TOOL_RESULTS] {\"content\": {\"temp\": 18}, \"call_id\": \"abc123XYZ\"}"
                         "[/TOOL_RESULTS]");
    expect("mistral-v3", k_conv, 2, k_tools, 2, true,
           MISTRAL_TOOLS "[INST] Be brief.\n\nWeather in Paris?[/INST]");
    /* tools sit before the last user message only */
    const rt_chat_msg conv[] = {{.role = "user", .content = "a"},
                                {.role = "assistant", .content = " b "},
                                {.role = "user", .content = "c"}};
    expect("mistral-v3", conv, 3, k_tools, 1, true,
           "[INST] a[/INST] b</s>[AVAILABLE_TOOLS] [{\"type\": \"function\", \"function\": "
           "{\"name\": \"get_weather\", \"description\": \"Get the current weather\", "
           "\"parameters\": " WEATHER_PARAMS_PY "}}][/AVAILABLE_TOOLS][INST] c[/INST]");
    const rt_tool_call badid = {"short", "get_time", "{}"};
    const rt_chat_msg bad[] = {{.role = "user", .content = "a"},
                               {.role = "assistant", .tool_calls = &badid, .n_tool_calls = 1}};
    char *out = NULL, err[256] = "";
    CHECK(rt_chat_apply_tools("mistral-v3", bad, 2, k_tools, 1, false, &out, err, sizeof(err)) <
                  0 &&
              strstr(err, "9 alphanumeric"),
          "mistral-v3 accepted a call id that is not 9 alphanumerics (%s)", err);
    const char *n2[] = {"get_weather", "get_time"};
    const char *a2[] = {"{\"location\":\"Paris\"}", "{}"};
    expect_parse(
        "mistral-v3",
        "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"location\": "
        "\"Paris\"}, \"id\": \"abc123XYZ\"}, {\"name\": \"get_time\", \"arguments\": {}}]</s>",
        2, n2, a2, "");
    expect_parse("mistral-v3", "Sunny.</s>", 0, NULL, NULL, "Sunny.");
    expect_parse_error("mistral-v3", "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {]",
                       "invalid JSON");
    /* the id survives the parse */
    rt_tool_call *calls = NULL;
    size_t n = 0;
    char *c = NULL;
    const char *t =
        "[TOOL_CALLS] [{\"name\": \"get_time\", \"arguments\": {}, \"id\": \"abc123XYZ\"}]";
    if (rt_chat_parse_tool_calls("mistral-v3", t, strlen(t), &calls, &n, &c, err, sizeof(err)) ==
        0) {
        CHECK(n == 1 && calls[0].id && !strcmp(calls[0].id, "abc123XYZ"), "mistral-v3 id lost");
        rt_tool_calls_free(calls, n);
        free(c);
    } else {
        CHECK(0, "mistral-v3 id parse: %s", err);
    }
    /* calls without an id get a stable 9-alphanumeric one, which renders */
    const char *noid = "[TOOL_CALLS] [{\"name\": \"get_time\", \"arguments\": {}}]";
    if (rt_chat_parse_tool_calls("mistral-v3", noid, strlen(noid), &calls, &n, &c, err,
                                 sizeof(err)) == 0) {
        const rt_chat_msg back[] = {
            {.role = "user", .content = "t?"},
            {.role = "assistant", .tool_calls = calls, .n_tool_calls = n},
            {.role = "tool", .content = "noon", .tool_call_id = n ? calls[0].id : NULL}};
        char *again = NULL;
        rt_tool_call *c2 = NULL;
        size_t nc2 = 0;
        char *cc = NULL;
        CHECK(n == 1 && calls[0].id && strlen(calls[0].id) == 9, "mistral-v3: no id given");
        CHECK(rt_chat_parse_tool_calls("mistral-v3", noid, strlen(noid), &c2, &nc2, &cc, err,
                                       sizeof(err)) == 0 &&
                  nc2 == 1 && n == 1 && !strcmp(c2[0].id, calls[0].id),
              "mistral-v3: the given id is not stable");
        CHECK(rt_chat_apply_tools("mistral-v3", back, 3, k_tools, 1, true, &again, err,
                                  sizeof(err)) == 0,
              "mistral-v3: a parsed call does not render back: %s", err);
        free(again);
        rt_tool_calls_free(c2, nc2);
        free(cc);
        rt_tool_calls_free(calls, n);
        free(c);
    } else {
        CHECK(0, "mistral-v3 no-id parse: %s", err);
    }
    round_trip("mistral-v3", k_two, 2);
}

#define HARMONY_SYSTEM                                                                             \
    "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"       \
    "Knowledge cutoff: 2024-06\n\nReasoning: medium\n\n# Valid channels: analysis, commentary, "   \
    "final. Channel must be included for every message.\nCalls to these tools must go to the "     \
    "commentary channel: 'functions'.<|end|>"

static void test_harmony(void)
{
    /* the tools of OpenAI's harmony guide ("Function calling" example) */
    const rt_tool_def guide[] = {
        {"get_location", "Gets the location of the user.", NULL},
        {"get_current_weather", "Gets the current weather in the provided location.",
         "{\"type\":\"object\",\"properties\":{\"location\":{\"type\":\"string\",\"description\":"
         "\"The city and state, e.g. San Francisco, CA\"},\"format\":{\"type\":\"string\","
         "\"enum\":[\"celsius\",\"fahrenheit\"],\"default\":\"celsius\"}},\"required\":["
         "\"location\"]}"},
    };
    const rt_tool_call call = {NULL, "get_current_weather", "{\"location\":\"San Francisco\"}"};
    const rt_chat_msg conv[] = {
        {.role = "system", .content = "Use a friendly tone."},
        {.role = "user", .content = "What is the weather like in SF?"},
        {.role = "assistant",
         .content = "Need to use function get_current_weather.",
         .tool_calls = &call,
         .n_tool_calls = 1},
        {.role = "tool", .content = "{\"sunny\": true, \"temperature\": 20}"},
    };
    expect("harmony", conv, 4, guide, 2, true,
           HARMONY_SYSTEM
           "<|start|>developer<|message|># Instructions\n\nUse a friendly tone.\n\n"
           "# Tools\n\n## functions\n\nnamespace functions {\n\n"
           "// Gets the location of the user.\ntype get_location = () => any;\n\n"
           "// Gets the current weather in the provided location.\n"
           "type get_current_weather = (_: {\n"
           "// The city and state, e.g. San Francisco, CA\nlocation: string,\n"
           /* the template ends every property with ",\n", after a
            * default comment too (the harmony guide shows none) */
           "format?: \"celsius\" | \"fahrenheit\", // default: celsius,\n"
           "}) => any;\n\n} // namespace functions<|end|>"
           "<|start|>user<|message|>What is the weather like in SF?<|end|>"
           "<|start|>assistant<|channel|>analysis<|message|>Need to use function "
           "get_current_weather.<|end|>"
           "<|start|>assistant<|channel|>commentary to=functions.get_current_weather "
           "<|constrain|>json<|message|>{\"location\":\"San Francisco\"}<|call|>"
           "<|start|>functions.get_current_weather to=assistant<|channel|>commentary"
           "<|message|>{\"sunny\": true, \"temperature\": 20}<|end|>"
           "<|start|>assistant");
    /* a later final answer drops the reasoning beside the call; nested
     * object and array types keep the template's stray newline + 16 spaces */
    const rt_tool_def nested = {
        "configure", NULL,
        "{\"type\":\"object\",\"properties\":{\"opts\":{\"type\":\"object\",\"properties\":{\"a\":"
        "{\"type\":\"integer\"},\"b\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}},"
        "\"required\":[\"a\"]},\"n\":{\"type\":\"number\",\"default\":3}},\"required\":[\"opts\"]"
        "}"};
    const rt_tool_call cc = {NULL, "configure", "{\"opts\":{\"a\":1}}"};
    const rt_chat_msg conv2[] = {
        {.role = "user", .content = "go"},
        {.role = "assistant", .content = "thinking", .tool_calls = &cc, .n_tool_calls = 1},
        {.role = "tool", .content = "ok"},
        {.role = "assistant", .content = "Done."},
    };
    expect("harmony", conv2, 4, &nested, 1, false,
           HARMONY_SYSTEM "<|start|>developer<|message|># Tools\n\n## functions\n\nnamespace "
                          "functions {\n\ntype configure = (_: {\nopts: {\na: \n                "
                          "number, b?: \n                string[]},\nn?: number, // default: 3,\n"
                          "}) => any;\n\n} // namespace functions<|end|>"
                          "<|start|>user<|message|>go<|end|>"
                          "<|start|>assistant<|channel|>commentary to=functions.configure "
                          "<|constrain|>json<|message|>{\"opts\":{\"a\":1}}<|call|>"
                          "<|start|>functions.configure to=assistant<|channel|>commentary"
                          "<|message|>ok<|end|><|start|>assistant<|channel|>final<|message|>Done."
                          "<|end|>");
    const char *n1[] = {"get_current_weather"};
    const char *a1[] = {"{\"location\":\"San Francisco\"}"};
    expect_parse("harmony",
                 "<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant"
                 "<|channel|>commentary to=functions.get_current_weather <|constrain|>json"
                 "<|message|>{\"location\":\"San Francisco\"}<|call|>",
                 1, n1, a1, "");
    /* the recipient before the channel, as the Hugging Face template writes it */
    expect_parse("harmony",
                 " to=functions.get_current_weather<|channel|>commentary json<|message|>"
                 "{\"location\":\"San Francisco\"}",
                 1, n1, a1, "");
    expect_parse("harmony",
                 "<|channel|>analysis<|message|>Easy.<|end|><|start|>assistant<|channel|>final"
                 "<|message|>It is sunny.<|return|>",
                 0, NULL, NULL, "It is sunny.");
    expect_parse("harmony", "no markers at all", 0, NULL, NULL, "no markers at all");
    expect_parse_error("harmony",
                       "<|channel|>commentary to=functions.get_current_weather <|constrain|>json"
                       "<|message|>{\"location\":<|call|>",
                       "invalid JSON");
    round_trip("harmony", k_two, 1);
}

/* ---- tool-call grammars ---- */

/* The reply a model would emit for these calls: the rendered assistant turn
 * after the generation prompt, without the end-of-turn marker (an
 * end-of-generation token, which the grammar does not spell). */
static char *reply_for(const char *family, const rt_tool_call *calls, size_t n)
{
    const rt_chat_msg q[] = {
        {.role = "user", .content = "Weather in Paris and the time?"},
        {.role = "assistant", .content = NULL, .tool_calls = calls, .n_tool_calls = n},
    };
    char *p1 = NULL, *p2 = NULL, err[512] = "";
    if (rt_chat_apply_tools(family, q, 1, k_tools, 2, true, &p1, err, sizeof(err)) ||
        rt_chat_apply_tools(family, q, 2, k_tools, 2, false, &p2, err, sizeof(err))) {
        CHECK(0, "%s: render for grammar: %s", family, err);
        free(p1);
        free(p2);
        return NULL;
    }
    char *r = strdup(p2 + strlen(p1));
    static const char *const ends[] = {"<|im_end|>\n", "<|eot_id|>", DS_EOS, "</s>"};
    for (size_t i = 0; r && i < sizeof(ends) / sizeof(ends[0]); i++) {
        size_t l = strlen(r), e = strlen(ends[i]);
        if (l >= e && !strcmp(r + l - e, ends[i])) r[l - e] = 0;
    }
    free(p1);
    free(p2);
    return r;
}

/* Does g accept all of text as a complete reply? */
static bool accepts(const rt_grammar *g, const char *text)
{
    rt_grammar_state *st = rt_grammar_state_new(g);
    if (!st) return false;
    bool ok = rt_grammar_state_accept(st, text, strlen(text)) == 0 && rt_grammar_state_can_end(st);
    rt_grammar_state_free(st);
    return ok;
}

static rt_grammar *tool_grammar(const char *family, rt_tool_choice choice, const char *named)
{
    char *gbnf = NULL, err[512] = "";
    if (rt_chat_tool_grammar(family, k_tools, 2, choice, named, &gbnf, err, sizeof(err))) {
        CHECK(0, "%s: rt_chat_tool_grammar(choice %d): %s", family, (int)choice, err);
        return NULL;
    }
    rt_grammar *g = NULL;
    if (rt_grammar_from_gbnf(gbnf, strlen(gbnf), NULL, &g, err, sizeof(err)))
        CHECK(0, "%s: tool grammar does not compile: %s\n%s", family, err, gbnf);
    free(gbnf);
    return g;
}

/* Replaces the first occurrence of from with to (malloc'ed). */
static char *replace(const char *s, const char *from, const char *to)
{
    const char *hit = strstr(s, from);
    if (!hit) return strdup(s);
    size_t a = (size_t)(hit - s), fl = strlen(from), tl = strlen(to), sl = strlen(s);
    char *r = malloc(sl - fl + tl + 1);
    if (!r) return NULL;
    memcpy(r, s, a);
    memcpy(r + a, to, tl);
    memcpy(r + a + tl, hit + fl, sl - a - fl + 1);
    return r;
}

static void test_grammar(const char *family)
{
    bool harmony = !strcmp(family, "harmony");
    bool multi =
        !strcmp(family, "chatml") || !strcmp(family, "deepseek3") || !strcmp(family, "mistral-v3");
    const char *answer =
        harmony ? "<|channel|>final<|message|>It is 18C in Paris." : "It is 18C in Paris.";
    char *call = reply_for(family, k_two, 1);
    char *both = multi ? reply_for(family, k_two, 2) : NULL;
    char *time_call = reply_for(family, k_two + 1, 1);
    if (!call || !time_call || (multi && !both)) goto out;
    char *unknown = replace(call, "get_weather", "get_wether");
    char *badtype = replace(call, "\"Paris\"", "5");
    char *noreq = replace(call, "\"location\": \"Paris\", ", "");
    char *badenum = replace(call, "\"celsius\"", "\"kelvin\"");

    rt_grammar *g = tool_grammar(family, RT_TOOL_CHOICE_AUTO, NULL);
    if (g) {
        CHECK(accepts(g, call), "%s auto: rendered call rejected: [%s]", family, call);
        CHECK(!both || accepts(g, both), "%s auto: two calls rejected: [%s]", family, both);
        CHECK(accepts(g, time_call), "%s auto: get_time call rejected: [%s]", family, time_call);
        CHECK(accepts(g, answer), "%s auto: final answer rejected", family);
        CHECK(!accepts(g, unknown), "%s auto: call to an unknown tool accepted: [%s]", family,
              unknown);
        CHECK(!accepts(g, badtype), "%s auto: location 5 (schema says string) accepted: [%s]",
              family, badtype);
        CHECK(!accepts(g, noreq), "%s auto: call without required location accepted: [%s]", family,
              noreq);
        CHECK(!accepts(g, badenum), "%s auto: unit outside its enum accepted: [%s]", family,
              badenum);
        if (!strcmp(family, "chatml") || !strcmp(family, "deepseek3")) {
            char *pre = malloc(strlen(call) + 32);
            if (pre) {
                sprintf(pre, "Let me check.\n%s", call);
                CHECK(accepts(g, pre), "%s auto: text before the call rejected", family);
                free(pre);
            }
        }
        rt_grammar_free(g);
    }
    g = tool_grammar(family, RT_TOOL_CHOICE_REQUIRED, NULL);
    if (g) {
        CHECK(accepts(g, call), "%s required: call rejected", family);
        CHECK(!accepts(g, answer), "%s required: a plain answer accepted", family);
        rt_grammar_free(g);
    }
    g = tool_grammar(family, RT_TOOL_CHOICE_NONE, NULL);
    if (g) {
        CHECK(accepts(g, answer), "%s none: answer rejected", family);
        CHECK(!accepts(g, call), "%s none: a call accepted", family);
        rt_grammar_free(g);
    }
    g = tool_grammar(family, RT_TOOL_CHOICE_NAMED, "get_time");
    if (g) {
        CHECK(accepts(g, time_call), "%s named get_time: its call rejected", family);
        CHECK(!accepts(g, call), "%s named get_time: a get_weather call accepted", family);
        rt_grammar_free(g);
    }
    free(unknown);
    free(badtype);
    free(noreq);
    free(badenum);
out:
    free(call);
    free(both);
    free(time_call);
}

/* ---- generation under the tool grammar ---- */

/* A random-weight fixture model samples under the tool grammar (special
 * tokens may spell markers): whatever it emits must parse back into calls to
 * listed tools with schema-shaped arguments (choice required), or into calls
 * or an answer (auto). Families are paired with models for their syntax
 * only; the weights know none of them. */
static void generate_ids(rt_model *m, const char *model, const char *family, rt_tool_choice choice,
                         uint64_t seed, int32_t **out_ids, size_t *n_out)
{
    char err[512] = "";
    rt_session *s = NULL;
    rt_sampler *smp = NULL;
    rt_grammar *g = NULL;
    char *prompt = NULL, *text = NULL, *gbnf = NULL, *content = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0, n_calls = 0;
    rt_tool_call *calls = NULL;
    /* one small tool keeps the prompt short (the fixtures' vocabulary has
     * 512 tokens, so text takes many) and the test fast under sanitizers */
    static const rt_tool_def small = {
        "get_weather", NULL,
        "{\"type\":\"object\",\"properties\":{\"location\":{\"type\":\"string\"}},"
        "\"required\":[\"location\"]}"};
    const rt_tool_def *tool = &small;
    const rt_chat_msg q[] = {{.role = "user", .content = "Weather in Paris?"}};
    /* the prompt without the tool list: random weights ignore it, and a
     * short prompt keeps the test fast under sanitizers */
    int rc = rt_chat_format_tools(m, family, q, 1, NULL, 0, true, &prompt, err, sizeof(err));
    if (!rc)
        rc = rt_tokenize(m, prompt, strlen(prompt), true, true, &ids, &n_ids, err, sizeof(err));
    if (!rc) rc = rt_chat_tool_grammar(family, tool, 1, choice, NULL, &gbnf, err, sizeof(err));
    if (!rc) rc = rt_grammar_from_gbnf(gbnf, strlen(gbnf), NULL, &g, err, sizeof(err));
    if (!rc)
        rc = rt_session_new(m, 1024, &s, err,
                            sizeof(err)); /* past n_ctx_train: weights are random anyway */
    rt_sampler_params sp = rt_sampler_default_params();
    sp.temperature = 1.0f;
    sp.seed = seed;
    if (!rc) rc = (smp = rt_sampler_new(&sp)) ? 0 : -1;
    rt_grammar_opts go = {.allow_special_text = true};
    if (!rc) rc = rt_sampler_set_grammar_opts(smp, m, g, &go, err, sizeof(err));
    int32_t room = s ? rt_session_n_ctx(s) - (int32_t)n_ids : 0;
    rt_generate_params gp = {.n_predict = room < 64 ? room : 64, .stop_at_eog = true};
    if (!rc) rc = rt_generate(s, smp, ids, n_ids, &gp, out_ids, n_out, &text, err, sizeof(err));
    CHECK(rc == 0, "%s/%s seed %llu (%zu prompt tokens): %s", model, family,
          (unsigned long long)seed, n_ids, err);
    if (rc == 0) {
        rc = rt_chat_parse_tool_calls(family, text, strlen(text), &calls, &n_calls, &content, err,
                                      sizeof(err));
        CHECK(rc == 0, "%s/%s seed %llu: generated text does not parse: %s\n[%s]", model, family,
              (unsigned long long)seed, err, text);
        if (rc == 0 && choice == RT_TOOL_CHOICE_REQUIRED)
            CHECK(n_calls >= 1 && content[0] == 0,
                  "%s/%s seed %llu: required choice gave %zu calls, content [%s]", model, family,
                  (unsigned long long)seed, n_calls, content);
        for (size_t i = 0; rc == 0 && i < n_calls; i++) {
            CHECK(!strcmp(calls[i].name, "get_weather"), "%s/%s: call to %s", model, family,
                  calls[i].name);
            cj_value *a = NULL;
            char jerr[160];
            const cj_value *loc = NULL;
            if (!cj_parse(calls[i].arguments, strlen(calls[i].arguments), &a, NULL, jerr,
                          sizeof(jerr)))
                loc = cj_get(a, "location");
            CHECK(loc && loc->t == CJ_STR, "%s/%s: arguments %s do not fit the schema", model,
                  family, calls[i].arguments);
            cj_free(a);
        }
    }
    rt_tool_calls_free(calls, n_calls);
    free(content);
    free(text);
    free(gbnf);
    free(prompt);
    free(ids);
    rt_sampler_free(smp);
    rt_grammar_free(g);
    rt_session_free(s);
}

static void generate_one(rt_model *m, const char *model, const char *family, rt_tool_choice choice,
                         uint64_t seed)
{
    generate_ids(m, model, family, choice, seed, NULL, NULL);
}

/* gpt-oss's vocabulary (mkmodel's tiny gpt-oss) has harmony's markers as
 * single tokens (<|call|> an end-of-generation one): under the tool grammar
 * the sampler takes them where the grammar spells their text, and the reply
 * still parses. */
static void generate_special_tokens(void)
{
    char dir[] = "/tmp/swarm-chat-tools-XXXXXX", path[256], err[512] = "";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp failed");
        return;
    }
    snprintf(path, sizeof(path), "%s/gpt-oss.gguf", dir);
    char *argv[] = {"mkmodel", "--arch", "gpt-oss", "--preset", "tiny",
                    "--type",  "F32",    "--out",   path,       NULL};
    int rc = rt_mkmodel_main(9, argv);
    CHECK(rc == 0, "mkmodel gpt-oss tiny failed");
    rt_model *m = NULL;
    rt_load_params lp = {.n_threads = 1};
    if (rc == 0 && rt_model_load(path, &lp, &m, err, sizeof(err))) CHECK(0, "%s: %s", path, err);
    if (m) {
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(rt_tokenize(m, "<|channel|>", 11, false, true, &ids, &n, err, sizeof(err)) == 0 &&
                  n == 1,
              "gpt-oss vocab: <|channel|> is not one token");
        int32_t channel = n == 1 ? ids[0] : -1;
        free(ids);
        for (uint64_t seed = 1; seed <= 2; seed++) {
            int32_t *out = NULL;
            size_t n_out = 0;
            generate_ids(m, "mkmodel-gpt-oss", "harmony", RT_TOOL_CHOICE_REQUIRED, seed, &out,
                         &n_out);
            bool used = false;
            for (size_t i = 0; i < n_out; i++)
                used |= out[i] == channel;
            CHECK(used, "harmony seed %llu: the <|channel|> control token was never sampled",
                  (unsigned long long)seed);
            free(out);
        }
        rt_model_free(m);
    }
    unlink(path);
    rmdir(dir);
}

static void test_generate(const char *fix)
{
    generate_special_tokens();
    static const struct {
        const char *model, *families[3];
    } models[] = {{"qwen3moe", {"chatml", "harmony", "llama3"}},
                  {"mixtral", {"mistral-v3", NULL, NULL}},
                  {"deepseek2", {"deepseek3", NULL, NULL}}};
    for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
        char path[1024], err[512] = "";
        snprintf(path, sizeof(path), "%s/models/%s/%s-f32.gguf", fix, models[i].model,
                 models[i].model);
        rt_model *m = NULL;
        rt_load_params lp = {.n_threads = 1};
        if (rt_model_load(path, &lp, &m, err, sizeof(err))) {
            CHECK(0, "%s: %s", path, err);
            continue;
        }
        for (size_t f = 0; f < 3 && models[i].families[f]; f++) {
            generate_one(m, models[i].model, models[i].families[f], RT_TOOL_CHOICE_REQUIRED, 1);
            generate_one(m, models[i].model, models[i].families[f], RT_TOOL_CHOICE_AUTO, 2);
        }
        rt_model_free(m);
    }
}

/* Every prefix of a reply and byte-flipped copies of it: the parser either
 * parses or fails with a message, never crashes (ASan/UBSan builds check the
 * memory side). */
static void junk(const char *family, const char *reply)
{
    size_t len = strlen(reply);
    char *buf = malloc(len + 1);
    if (!buf) return;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t round = 0; round < len + 200; round++) {
        size_t n = round <= len ? round : len;
        memcpy(buf, reply, len + 1);
        if (round > len)
            for (int k = 0; k < 3; k++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf[x % len] = (char)(x >> 32);
            }
        rt_tool_call *calls = NULL;
        size_t nc = 0;
        char *content = NULL, err[256] = "";
        int rc = rt_chat_parse_tool_calls(family, buf, n, &calls, &nc, &content, err, sizeof(err));
        CHECK(rc == 0 ? content != NULL : (err[0] != 0 && !calls && !content),
              "%s: junk input %zu: rc %d without %s", family, round, rc,
              rc ? "a message" : "content");
        rt_tool_calls_free(calls, nc);
        free(content);
    }
    free(buf);
}

static void test_errors(void)
{
    rt_tool_call *calls;
    size_t n;
    char *c, err[256] = "";
    CHECK(rt_chat_parse_tool_calls("vicuna", "x", 1, &calls, &n, &c, err, sizeof(err)) < 0 &&
              strstr(err, "vicuna") && strstr(err, "chatml"),
          "unknown family accepted by the parser (%s)", err);
    CHECK(rt_chat_parse_tool_calls("mistral", "x", 1, &calls, &n, &c, err, sizeof(err)) < 0 &&
              strstr(err, "no tool-call format"),
          "mistral (v0.1) has no tool format, yet parsing succeeded (%s)", err);
    char *out = NULL;
    CHECK(rt_chat_apply_tools("mistral", k_conv, 2, k_tools, 1, true, &out, err, sizeof(err)) < 0 &&
              strstr(err, "mistral-v3"),
          "mistral (v0.1) rendered tools (%s)", err);
    CHECK(rt_chat_apply_tools("deepseek", k_conv, 4, NULL, 0, true, &out, err, sizeof(err)) < 0,
          "deepseek (V2) rendered tool messages");
    const rt_tool_def badp = {"f", NULL, "{\"type\": \"object\", }"};
    CHECK(rt_chat_apply_tools("chatml", k_conv, 2, &badp, 1, true, &out, err, sizeof(err)) < 0 &&
              strstr(err, "invalid JSON") && strstr(err, "\"f\""),
          "malformed tool parameters not reported clearly (%s)", err);
    const rt_tool_call badargs = {"abc123XYZ", "f", "{not json"};
    const rt_chat_msg m[] = {{.role = "user", .content = "a"},
                             {.role = "assistant", .tool_calls = &badargs, .n_tool_calls = 1}};
    const char *const *fam = rt_chat_families();
    for (; *fam; fam++) {
        err[0] = 0;
        CHECK(rt_chat_apply_tools(*fam, m, 2, NULL, 0, true, &out, err, sizeof(err)) < 0 &&
                  out == NULL,
              "%s: malformed call arguments accepted", *fam);
    }
    CHECK(rt_chat_tool_grammar("vicuna", k_tools, 1, RT_TOOL_CHOICE_AUTO, NULL, &out, err,
                               sizeof(err)) < 0 &&
              out == NULL,
          "tool grammar for an unknown family");
    CHECK(rt_chat_tool_grammar("chatml", k_tools, 2, RT_TOOL_CHOICE_NAMED, "nope", &out, err,
                               sizeof(err)) < 0 &&
              strstr(err, "nope"),
          "tool grammar naming an unknown tool (%s)", err);
    const char *fams[] = {"chatml", "llama3", "deepseek3", "mistral-v3", "harmony"};
    for (size_t i = 0; i < 5; i++) {
        char *r = reply_for(fams[i], k_two,
                            !strcmp(fams[i], "llama3") || !strcmp(fams[i], "harmony") ? 1 : 2);
        if (r) junk(fams[i], r);
        free(r);
    }
    CHECK(rt_chat_tool_grammar("chatml", NULL, 0, RT_TOOL_CHOICE_REQUIRED, NULL, &out, err,
                               sizeof(err)) < 0,
          "required tool call without tools");
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "chatml"))
        test_chatml();
    else if (!strcmp(what, "llama3"))
        test_llama3();
    else if (!strcmp(what, "deepseek3"))
        test_deepseek3();
    else if (!strcmp(what, "mistral-v3"))
        test_mistral_v3();
    else if (!strcmp(what, "harmony"))
        test_harmony();
    else if (!strcmp(what, "errors"))
        test_errors();
    else if (!strcmp(what, "generate")) {
        const char *fix = argc > 2 ? argv[2] : getenv("SWARM_FIXTURES");
        char probe[1024];
        snprintf(probe, sizeof(probe), "%s/models/qwen3moe/qwen3moe-q8_0.gguf", fix ? fix : "");
        FILE *f = fopen(probe, "rb");
        if (!f) {
            /* the fixtures are required: missing ones fail the test, CI or not */
            fprintf(stderr, "fixtures missing (%s): set SWARM_FIXTURES\n", probe);
            return 1;
        }
        fclose(f);
        test_generate(fix);
    } else if (!strcmp(what, "grammar")) {
        const char *fams[] = {"chatml", "llama3", "deepseek3", "mistral-v3", "harmony"};
        for (size_t i = 0; i < 5; i++)
            test_grammar(fams[i]);
    } else {
        fprintf(
            stderr,
            "usage: test_chat_tools chatml|llama3|deepseek3|mistral-v3|harmony|errors|grammar\n");
        return 2;
    }
    printf("%s: %s (%d failures)\n", what, check_fail_count ? "FAILED" : "tool-call checks passed",
           check_fail_count);
    return check_fail_count ? 1 : 0;
}
