/* swarm_err.h - the one way to fill a caller's `char *err, size_t errlen`
 * (the project's error convention): printf-style with the compiler checking
 * the format, NULL/0-safe, and returning -1 so a failure path is one line:
 *     return swarm_err_set(err, errlen, "gguf: %s: bad magic", path);
 * libc only, so the engine library may use it too. */
#ifndef SWARM_ERR_H
#define SWARM_ERR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

__attribute__((format(printf, 3, 4))) static inline int swarm_err_set(char *err, size_t errlen,
                                                                      const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

#endif
