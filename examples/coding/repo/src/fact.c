/* fact.c - n! for small n. */
#include "lib.h"

long lib_fact(int n)
{
    long r = 0;
    for (int i = 2; i <= n; i++)
        r *= i;
    return r;
}
