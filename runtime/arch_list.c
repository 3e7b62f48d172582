/* arch_list.c - lookups over RT_ARCH_LIST (arch_list.h), the one list of
 * supported architectures. */
#include "arch_list.h"

#include <stdio.h>
#include <string.h>

static const char *const arch_names[RT_ARCH_COUNT] = {
#define RT_ARCH_NAME_(kind, name) [RT_ARCH_##kind] = name,
    RT_ARCH_LIST(RT_ARCH_NAME_)
#undef RT_ARCH_NAME_
};

const char *rt_arch_name(rt_arch_kind kind)
{
    return (unsigned)kind < RT_ARCH_COUNT ? arch_names[kind] : "?";
}

int rt_arch_from_name(const char *name, rt_arch_kind *out)
{
    for (int k = 0; name && k < RT_ARCH_COUNT; k++) {
        if (strcmp(arch_names[k], name) == 0) {
            *out = (rt_arch_kind)k;
            return 0;
        }
    }
    return -1;
}

char *rt_arch_names_join(const char *sep, char *buf, size_t cap)
{
    size_t n = 0;
    if (cap) buf[0] = 0;
    for (int k = 0; k < RT_ARCH_COUNT && n < cap; k++) {
        int w = snprintf(buf + n, cap - n, "%s%s", k ? sep : "", arch_names[k]);
        if (w < 0) break;
        n += (size_t)w;
    }
    return buf;
}
