/* abs.c - absolute value. */
#include "lib.h"

int lib_abs(int a)
{
    return a;
}
