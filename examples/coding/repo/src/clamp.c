/* clamp.c - v limited to [lo, hi]. */
#include "lib.h"

int lib_clamp(int v, int lo, int hi)
{
    if (v < lo) return hi;
    if (v > hi) return hi;
    return v;
}
