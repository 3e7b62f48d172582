/* swarm_buf.h - a growable NUL-terminated string for code that builds text
 * piece by piece (JSON, GBNF, chat transcripts). Out of memory is sticky:
 * every later append is a no-op, so a builder checks b->oom once at the end
 * instead of after each call. libc only, header-only like the rest of common/.
 *
 *     swarm_buf b = {0};
 *     swarm_buf_put(&b, "[");
 *     swarm_buf_printf(&b, "%d", n);
 *     if (b.oom) ...; use b.s (NULL while nothing was appended); free(b.s); */
#ifndef SWARM_BUF_H
#define SWARM_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *s;    /* NUL-terminated once anything was appended */
    size_t n;   /* bytes, excluding the terminator */
    size_t cap; /* bytes allocated */
    bool oom;   /* an allocation failed; s holds what fitted before */
} swarm_buf;

/* Room for `more` bytes plus the terminator; false (and oom) when it fails. */
static inline bool swarm_buf_reserve(swarm_buf *b, size_t more)
{
    if (b->oom) return false;
    if (more > (size_t)-1 - b->n - 1) {
        b->oom = true;
        return false;
    }
    size_t need = b->n + more + 1;
    if (need <= b->cap) return true;
    size_t nc = b->cap ? b->cap : 64;
    while (nc < need)
        nc = nc > (size_t)-1 / 2 ? need : nc * 2;
    char *p = realloc(b->s, nc);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->s = p;
    b->cap = nc;
    return true;
}

static inline void swarm_buf_putn(swarm_buf *b, const char *s, size_t n)
{
    if (!swarm_buf_reserve(b, n)) return;
    if (n) memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static inline void swarm_buf_put(swarm_buf *b, const char *s)
{
    swarm_buf_putn(b, s, strlen(s));
}

static inline void swarm_buf_putc(swarm_buf *b, char c)
{
    swarm_buf_putn(b, &c, 1);
}

static inline void swarm_buf_vprintf(swarm_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    /* try the spare room first; one more pass only when it was too small */
    size_t room = b->cap > b->n ? b->cap - b->n : 0;
    int k = vsnprintf(room ? b->s + b->n : NULL, room, fmt, ap);
    if (k >= 0 && (size_t)k >= room && swarm_buf_reserve(b, (size_t)k))
        vsnprintf(b->s + b->n, (size_t)k + 1, fmt, ap2);
    va_end(ap2);
    if (k < 0 || b->oom) {
        if (b->s) b->s[b->n] = 0; /* drop a partial write */
        return;
    }
    b->n += (size_t)k;
}

__attribute__((format(printf, 2, 3))) static inline void swarm_buf_printf(swarm_buf *b,
                                                                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    swarm_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* The text so far, "" when empty (never NULL). */
static inline const char *swarm_buf_str(const swarm_buf *b)
{
    return b->s ? b->s : "";
}

static inline void swarm_buf_free(swarm_buf *b)
{
    free(b->s);
    *b = (swarm_buf){0};
}

#endif
