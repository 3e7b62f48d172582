/* check.h - the test kit's assertions: CHECK and friends report file:line and
 * keep counting (a test shows every broken expectation in one run, not just the
 * first), and check_done() turns the count into the process exit code ctest
 * reads. One copy for every C test instead of a macro block per file. */
#ifndef SWARM_TEST_CHECK_H
#define SWARM_TEST_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Failed checks so far in this test program (each test is its own process). */
static int check_fail_count;

/* What is being checked right now (e.g. "qwen3moe Q4_K_M"), added to every
 * failure message while non-empty; a test loop over cases sets it with
 * snprintf(check_ctx, sizeof check_ctx, ...). */
__attribute__((unused)) static char check_ctx[256];

/* Prints one failure. fmt always starts with a space (see CHECK) so that the
 * format is never empty; a lone space means "no message". */
__attribute__((format(printf, 4, 5), unused)) static void
check_fail_at(const char *file, int line, const char *expr, const char *fmt, ...)
{
    check_fail_count++;
    fprintf(stderr, "%s:%d: CHECK failed: %s", file, line, expr);
    if (fmt[0] && fmt[1]) {
        va_list ap;
        va_start(ap, fmt);
        fputs(" -", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    if (check_ctx[0]) fprintf(stderr, " [%s]", check_ctx);
    fputc('\n', stderr);
}

/* CHECK(cond) or CHECK(cond, "printf format", args...) for context. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) check_fail_at(__FILE__, __LINE__, #cond, " " __VA_ARGS__);                    \
    } while (0)

/* Like CHECK, but a failure also jumps to the enclosing function's `fail:`
 * label, for steps whose later checks make no sense once one failed. */
#define REQUIRE(cond, ...)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            check_fail_at(__FILE__, __LINE__, #cond, " " __VA_ARGS__);                             \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* Integer equality; both sides shown on failure. */
#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) check_fail_at(__FILE__, __LINE__, #a " == " #b, " %lld != %lld", a_, b_);    \
    } while (0)

/* String equality; NULL only equals NULL. */
#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!((a_ == NULL && b_ == NULL) || (a_ && b_ && strcmp(a_, b_) == 0)))                    \
            check_fail_at(__FILE__, __LINE__, #a " == " #b, " \"%s\" != \"%s\"",                   \
                          a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                 \
    } while (0)

/* hay contains needle (hay may be NULL, which fails). */
#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (!h_ || !strstr(h_, n_))                                                                \
            check_fail_at(__FILE__, __LINE__, #hay " contains " #needle,                           \
                          " expected \"%s\" in: %s", n_, h_ ? h_ : "(null)");                      \
    } while (0)

/* The exit code for main: 0 when every check passed, 1 otherwise (with a
 * one-line summary so a log shows the count without scrolling). */
__attribute__((unused)) static int check_done(void)
{
    if (check_fail_count) fprintf(stderr, "%d check(s) failed\n", check_fail_count);
    return check_fail_count ? 1 : 0;
}

#endif
