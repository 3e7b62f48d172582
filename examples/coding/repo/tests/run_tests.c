/* run_tests.c - the library's tests: `run_tests` runs all, `run_tests NAME` one. */
#include <stdio.h>
#include <string.h>

#include "../src/lib.h"

static int failures;

#define CHECK(name, cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("FAIL %s: %s\n", name, #cond);                                                  \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
#define WANT(n) (!only || strcmp(only, n) == 0)
    if (WANT("add")) CHECK("add", lib_add(2, 3) == 5 && lib_add(-1, 1) == 0);
    if (WANT("max")) CHECK("max", lib_max(2, 3) == 3 && lib_max(7, -7) == 7);
    if (WANT("abs")) CHECK("abs", lib_abs(-4) == 4 && lib_abs(4) == 4);
    if (WANT("clamp")) CHECK("clamp", lib_clamp(-5, 0, 9) == 0 && lib_clamp(5, 0, 9) == 5);
    if (WANT("even")) CHECK("even", lib_is_even(4) && !lib_is_even(7) && lib_is_even(-2));
    if (WANT("count")) CHECK("count", lib_count("banana", 'a') == 3 && lib_count("aab", 'a') == 2);
    if (WANT("fact")) CHECK("fact", lib_fact(5) == 120 && lib_fact(0) == 1);
    if (WANT("gcd")) CHECK("gcd", lib_gcd(12, 18) == 6 && lib_gcd(7, 5) == 1);
    if (failures == 0) printf("PASS %s\n", only ? only : "all");
    return failures ? 1 : 0;
}
