/* swarm_utf8.h - one strict UTF-8 decoder step for every place that checks
 * or repairs text (task inputs, generated output): shortest form only, no
 * surrogates (U+D800..DFFF), nothing above U+10FFFF, as RFC 3629 says.
 * libc only. */
#ifndef SWARM_UTF8_H
#define SWARM_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes the valid UTF-8 sequence at s, which has left > 0 bytes: its
 * length (1..4) with the code point in *cp, or 0 when it is not one (bad
 * lead, bad or missing continuation, overlong form, surrogate, above
 * U+10FFFF). NUL counts as a valid 1-byte sequence. */
static inline size_t swarm_utf8_decode(const unsigned char *s, size_t left, uint32_t *cp)
{
    unsigned c = s[0];
    size_t n;
    uint32_t min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, min = 0x10000;
    else
        return 0;
    if (left < n) return 0;
    uint32_t v = c & (0x7Fu >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return n;
}

/* Length (1..4) of the valid UTF-8 sequence at s (left > 0 bytes), or 0
 * when it is not one; swarm_utf8_decode without the code point. */
static inline size_t swarm_utf8_seq_len(const unsigned char *s, size_t left)
{
    uint32_t cp;
    return swarm_utf8_decode(s, left, &cp);
}

/* Writes code point cp as UTF-8 into out (room for 4 bytes) and returns the
 * byte count; a cp above U+10FFFF is written as U+FFFD. */
static inline size_t swarm_utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp > 0x10FFFF) cp = 0xFFFD;
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Whether buf[0..len) is entirely valid UTF-8. */
static inline bool swarm_utf8_valid(const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    for (size_t i = 0; i < len;) {
        size_t n = swarm_utf8_seq_len(s + i, len - i);
        if (!n) return false;
        i += n;
    }
    return true;
}

#endif
