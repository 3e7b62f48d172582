/* max.c - the larger of two integers. */
#include "lib.h"

int lib_max(int a, int b)
{
    return a < b ? a : b;
}
