/* test_backend_util.c - unit tests for the worker's shared helpers: prompt
 * expansion (wb_prompt_expand) and UTF-8 repair (wb_utf8_sanitize), which
 * every sub-task output passes through before it goes into protobuf/JSON. */
#include <stdlib.h>
#include <string.h>

#include "../common/check.h"
#include "backend.h"

#define FFFD "\xEF\xBF\xBD"

static void check_expand(const char *instr, const char *input, const char *want)
{
    char *got = wb_prompt_expand(instr, input);
    CHECK_STR(got, want);
    free(got);
}

static void test_prompt_expand(void)
{
    check_expand("no placeholder", "x", "no placeholder");
    check_expand("{item}", "abc", "abc");
    check_expand("Summarize: {item}.", "the text", "Summarize: the text.");
    check_expand("{item}{item} and {item}", "ab", "abab and ab");
    check_expand("a {item} b", "", "a  b");
    check_expand("", "ignored", "");
    /* the input is inserted verbatim, never expanded again */
    check_expand("<{item}>", "{item}", "<{item}>");
    /* near misses of the key are left alone */
    check_expand("{ite} {item {ITEM} {{item}}", "X", "{ite} {item {ITEM} {X}");
}

/* Sanitizes len bytes of in and compares with want (NUL-terminated). */
static void check_utf8(const char *what, const char *in, size_t len, const char *want)
{
    char *got = wb_utf8_sanitize(in, len);
    CHECK(got && strcmp(got, want) == 0, "%s: got \"%s\"", what, got ? got : "(null)");
    free(got);
}

static void test_utf8_sanitize(void)
{
    /* valid text, 1- to 4-byte sequences, passes unchanged */
    const char *ok = "ascii \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF end";
    check_utf8("valid", ok, strlen(ok), ok);
    check_utf8("empty", "", 0, "");
    /* one U+FFFD per bad byte; valid bytes around it kept */
    check_utf8("lone continuation", "a\x80z", 3, "a" FFFD "z");
    check_utf8("invalid lead C0/C1", "\xC0\xAF\xC1\xBF", 4, FFFD FFFD FFFD FFFD);
    check_utf8("overlong 3-byte", "\xE0\x80\xAF", 3, FFFD FFFD FFFD);
    check_utf8("overlong 4-byte", "\xF0\x80\x80\xAF", 4, FFFD FFFD FFFD FFFD);
    check_utf8("surrogate D800", "\xED\xA0\x80", 3, FFFD FFFD FFFD);
    check_utf8("surrogate DFFF", "x\xED\xBF\xBFy", 5, "x" FFFD FFFD FFFD "y");
    check_utf8("above U+10FFFF", "\xF4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD);
    check_utf8("lead F5..FF", "\xF5\xFE\xFF", 3, FFFD FFFD FFFD);
    check_utf8("truncated at end", "ok\xE2\x82", 4, "ok" FFFD FFFD);
    check_utf8("broken continuation", "\xE2\x28\xA1", 3, FFFD "(" FFFD);
    /* a NUL would cut the C string short: it is replaced too */
    check_utf8("embedded NUL", "a\0b", 3, "a" FFFD "b");
    /* the length bounds the read: bytes past len are not looked at */
    check_utf8("length bound", "abc\xFF", 3, "abc");

    /* worst case: every byte bad, output is 3x the input and still valid */
    char bad[256];
    for (int i = 0; i < 256; i++)
        bad[i] = (char)(0x80 + (i % 64));
    char *got = wb_utf8_sanitize(bad, sizeof bad);
    CHECK(got && strlen(got) == 3 * sizeof bad);
    for (size_t i = 0; got && i < sizeof bad; i++)
        CHECK(memcmp(got + 3 * i, FFFD, 3) == 0, "byte %zu", i);
    free(got);
}

int main(void)
{
    test_prompt_expand();
    test_utf8_sanitize();
    return check_done();
}
