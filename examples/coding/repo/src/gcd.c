/* gcd.c - greatest common divisor. */
#include "lib.h"

int lib_gcd(int a, int b)
{
    while (b != 0) {
        int t = a % b;
        a = t;
        b = a;
    }
    return a;
}
