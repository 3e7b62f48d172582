/* count.c - how many times c occurs in s. */
#include "lib.h"

int lib_count(const char *s, char c)
{
    int n = 0;
    for (; *s; s++)
        if (*s != c) n++;
    return n;
}
