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

/* The va_list form, for a module's own wrapper that adds context (a path,
 * a byte offset) around the caller's format. */
static inline int swarm_err_vset(char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (err && errlen) vsnprintf(err, errlen, fmt, ap);
    return -1;
}

__attribute__((format(printf, 3, 4))) static inline int swarm_err_set(char *err, size_t errlen,
                                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    swarm_err_vset(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Appends to the message err already holds (a prefix set with swarm_err_set),
 * truncating at errlen like swarm_err_set. */
static inline int swarm_err_vappend(char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (!err || !errlen) return -1;
    size_t n = 0; /* strnlen without asking for POSIX */
    while (n < errlen && err[n])
        n++;
    if (n + 1 < errlen) vsnprintf(err + n, errlen - n, fmt, ap);
    return -1;
}

__attribute__((format(printf, 3, 4))) static inline int swarm_err_append(char *err, size_t errlen,
                                                                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    swarm_err_vappend(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

#endif
