/* test_common.c - unit tests for the libc-only helpers in common/: the error
 * formatter, strict UTF-8, the PRNG (published reference values) and the
 * monotonic clock. */
#include <stdint.h>
#include <string.h>

#include "check.h"
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
    test_utf8();
    test_rand();
    test_clock();
    return check_done();
}
