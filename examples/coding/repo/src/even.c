/* even.c - 1 when n is even. */
#include "lib.h"

int lib_is_even(int n)
{
    return n % 2 == 1;
}
