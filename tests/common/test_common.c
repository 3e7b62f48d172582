/* test_common.c - unit tests for the libc-only helpers in common/: the error
 * formatter, the growable string, strict UTF-8, the PRNG (published reference
 * values) and the monotonic clock. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "swarm_buf.h"
#include "swarm_clock.h"
#include "swarm_err.h"
#include "swarm_rand.h"
#include "swarm_utf8.h"

static void test_err(void)
{
    char err[16];
    CHECK_EQ(swarm_err_set(err, sizeof err, "bad %s at %d", "key", 7), -1);
    CHECK_STR(err, "bad key at 7");
    /* truncated to the buffer, still terminated */
    CHECK_EQ(swarm_err_set(err, sizeof err, "%s", "a message longer than sixteen"), -1);
    CHECK_EQ(strlen(err), sizeof err - 1);
    /* callers that do not want the message pass NULL or 0 */
    CHECK_EQ(swarm_err_set(NULL, 0, "ignored %d", 1), -1);
    err[0] = 'x';
    CHECK_EQ(swarm_err_set(err, 0, "ignored"), -1);
    CHECK(err[0] == 'x');
    /* a prefix, then the caller's words after it, truncated like set */
    swarm_err_set(err, sizeof err, "%s: ", "f.gguf");
    CHECK_EQ(swarm_err_append(err, sizeof err, "bad %d", 42), -1);
    CHECK_STR(err, "f.gguf: bad 42");
    CHECK_EQ(swarm_err_append(err, sizeof err, " and more text"), -1);
    CHECK_STR(err, "f.gguf: bad 42 ");
    CHECK_EQ(swarm_err_append(err, sizeof err, "full"), -1);
    CHECK_STR(err, "f.gguf: bad 42 ");
    CHECK_EQ(swarm_err_append(NULL, 0, "ignored"), -1);
}

static void test_buf(void)
{
    swarm_buf b = {0};
    CHECK_STR(swarm_buf_str(&b), "");
    swarm_buf_put(&b, "[");
    for (int i = 0; i < 1000; i++)
        swarm_buf_printf(&b, "%s%d", i ? "," : "", i);
    swarm_buf_putc(&b, ']');
    CHECK(!b.oom);
    CHECK_EQ(b.n, strlen(b.s));
    CHECK(strncmp(b.s, "[0,1,2,", 7) == 0 && strcmp(b.s + b.n - 5, ",999]") == 0);
    /* a formatted piece longer than any spare room grows the buffer once */
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    size_t before = b.n;
    swarm_buf_printf(&b, "<%s>", big);
    CHECK_EQ(b.n, before + sizeof big + 1);
    CHECK(b.s[before] == '<' && b.s[b.n - 1] == '>' && b.s[b.n] == 0);
    swarm_buf_putn(&b, "a\0b", 3); /* embedded NUL kept, length counts it */
    CHECK_EQ(b.n, before + sizeof big + 4);
    swarm_buf_free(&b);
    CHECK(b.s == NULL && b.n == 0 && b.cap == 0);
    /* out of memory is sticky: nothing more is appended */
    b.oom = true;
    swarm_buf_put(&b, "lost");
    swarm_buf_printf(&b, "%d", 1);
    CHECK(b.s == NULL && b.n == 0);
}

static int utf8_ok(const char *s, size_t n)
{
    return swarm_utf8_valid(s, n);
}

static void test_utf8(void)
{
    CHECK(utf8_ok("", 0));
    CHECK(utf8_ok("plain ascii", 11));
    CHECK(utf8_ok("\xC2\x80", 2));          /* U+0080, smallest 2-byte */
    CHECK(utf8_ok("\xDF\xBF", 2));          /* U+07FF */
    CHECK(utf8_ok("\xE0\xA0\x80", 3));      /* U+0800, smallest 3-byte */
    CHECK(utf8_ok("\xED\x9F\xBF", 3));      /* U+D7FF, just below surrogates */
    CHECK(utf8_ok("\xEE\x80\x80", 3));      /* U+E000, just above */
    CHECK(utf8_ok("\xF0\x90\x80\x80", 4));  /* U+10000 */
    CHECK(utf8_ok("\xF4\x8F\xBF\xBF", 4));  /* U+10FFFF, the last one */
    CHECK(!utf8_ok("\x80", 1));             /* lone continuation */
    CHECK(!utf8_ok("\xC0\x80", 2));         /* overlong NUL */
    CHECK(!utf8_ok("\xC1\xBF", 2));         /* overlong 2-byte */
    CHECK(!utf8_ok("\xE0\x9F\xBF", 3));     /* overlong 3-byte */
    CHECK(!utf8_ok("\xF0\x8F\xBF\xBF", 4)); /* overlong 4-byte */
    CHECK(!utf8_ok("\xED\xA0\x80", 3));     /* U+D800 */
    CHECK(!utf8_ok("\xED\xBF\xBF", 3));     /* U+DFFF */
    CHECK(!utf8_ok("\xF4\x90\x80\x80", 4)); /* U+110000 */
    CHECK(!utf8_ok("\xF5\x80\x80\x80", 4)); /* lead above F4 */
    CHECK(!utf8_ok("\xE2\x82", 2));         /* truncated */
    CHECK(!utf8_ok("\xE2\x28\xA1", 3));     /* bad continuation */
    CHECK_EQ(swarm_utf8_seq_len((const unsigned char *)"\xF0\x9F\x98\x80", 4), 4);
    CHECK_EQ(swarm_utf8_seq_len((const unsigned char *)"\xF0\x9F\x98\x80", 3), 0);
    CHECK_EQ(swarm_utf8_seq_len((const unsigned char *)"", 1), 1); /* NUL: caller decides */
    uint32_t cp = 0;
    CHECK_EQ(swarm_utf8_decode((const unsigned char *)"\xF0\x9F\x98\x80", 4, &cp), 4);
    CHECK_EQ(cp, 0x1F600);
    CHECK_EQ(swarm_utf8_decode((const unsigned char *)"\xC3\xA9", 2, &cp), 2);
    CHECK_EQ(cp, 0xE9);
    CHECK_EQ(swarm_utf8_decode((const unsigned char *)"A", 1, &cp), 1);
    CHECK_EQ(cp, 'A');
    CHECK_EQ(swarm_utf8_decode((const unsigned char *)"\xED\xA0\x80", 3, &cp), 0);
    /* encode: every length, and the round trip through decode */
    static const uint32_t cps[] = {0x41, 0x7F, 0x80, 0x7FF, 0x800, 0xFFFF, 0x10000, 0x10FFFF};
    static const size_t lens[] = {1, 1, 2, 2, 3, 3, 4, 4};
    for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++) {
        char u[4];
        uint32_t back = 0;
        size_t k = swarm_utf8_encode(cps[i], u);
        CHECK(k == lens[i], "U+%X took %zu bytes", (unsigned)cps[i], k);
        CHECK(swarm_utf8_decode((const unsigned char *)u, k, &back) == k && back == cps[i], "U+%X",
              (unsigned)cps[i]);
    }
    char u[4];
    CHECK_EQ(swarm_utf8_encode(0x110000, u), 3); /* out of range: U+FFFD */
    CHECK(memcmp(u, "\xEF\xBF\xBD", 3) == 0);
}

static void test_rand(void)
{
    /* splitmix64 from state 0 and xoshiro256** seeded by it: the reference
     * outputs of the published algorithms */
    uint64_t x = 0;
    CHECK(swarm_splitmix64(&x) == 0xE220A8397B1DCDAFull);
    CHECK(swarm_splitmix64(&x) == 0x6E789E6AA1B965F4ull);
    uint64_t s[4];
    swarm_xoshiro_seed(s, 0);
    CHECK(s[0] == 0xE220A8397B1DCDAFull && s[3] == 0xF88BB8A8724C81ECull);
    CHECK(swarm_xoshiro_next(s) == 0x99EC5F36CB75F2B4ull);
    CHECK(swarm_xoshiro_next(s) == 0xBF6E1F784956452Aull);
    CHECK(swarm_xoshiro_next(s) == 0x1A5F849D4933E6E0ull);
}

static void test_clock(void)
{
    uint64_t a = swarm_clock_ms();
    double sa = swarm_clock_sec();
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
    uint64_t b = swarm_clock_ms();
    double sb = swarm_clock_sec();
    CHECK(b >= a + 19, "slept 20 ms, clock moved %llu ms", (unsigned long long)(b - a));
    CHECK(sb - sa >= 0.019 && sb - sa < 60.0);
}

int main(void)
{
    test_err();
    test_buf();
    test_utf8();
    test_rand();
    test_clock();
    return check_done();
}
