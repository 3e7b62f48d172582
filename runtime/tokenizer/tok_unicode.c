/* tok_unicode.c - codepoint classification, UTF-8 and the GPT-2 byte map for the tokenizers. */
#include "tok_unicode.h"
#include "swarm_utf8.h"

#include <stdlib.h>

unsigned tok_cpt_flags(uint32_t cp)
{
    if (cp < 128) return tok_ascii_flags[cp];
    if (cp >= 0x110000) return TOK_F_UNDEF;
    size_t lo = 0, hi = tok_flag_ranges_n;
    while (hi - lo > 1) { /* last range whose start <= cp */
        size_t mid = (lo + hi) / 2;
        if (tok_flag_ranges[mid].start <= cp)
            lo = mid;
        else
            hi = mid;
    }
    unsigned f = tok_flag_ranges[lo].flags;
    if (cp <= 0x3000) {
        for (size_t i = 0; i < tok_whitespace_n; i++) {
            if (tok_whitespace[i] == cp) {
                f |= TOK_F_WHITESPACE;
                break;
            }
        }
    }
    return f;
}

static uint32_t umap_find(const tok_umap *m, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m[mid].from < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (lo < n && m[lo].from == cp) ? m[lo].to : cp;
}

uint32_t tok_cpt_lower(uint32_t cp)
{
    if (cp < 128) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    return umap_find(tok_lower, tok_lower_n, cp);
}

uint32_t tok_cpt_nfd(uint32_t cp)
{
    if (cp < 0xC0) return cp;
    return umap_find(tok_nfd, tok_nfd_n, cp);
}

size_t tok_utf8_len(unsigned char lead)
{
    static const unsigned char lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[lead >> 4];
}

static bool cont(const char *s, size_t len, size_t i)
{
    return i < len && ((unsigned char)s[i] & 0xC0) == 0x80;
}

uint32_t tok_utf8_next(const char *s, size_t len, size_t *off)
{
    size_t i = *off;
    unsigned c = (unsigned char)s[i];
    if (c < 0x80) {
        *off = i + 1;
        return c;
    }
    /* Same acceptance rules as llama.cpp's decoder (no overlong/surrogate checks),
     * so both produce the same codepoints for odd input. */
    if ((c & 0x40) == 0) goto bad;
    if ((c & 0x20) == 0) {
        if (!cont(s, len, i + 1)) goto bad;
        *off = i + 2;
        return ((c & 0x1F) << 6) | ((unsigned char)s[i + 1] & 0x3F);
    }
    if ((c & 0x10) == 0) {
        if (!cont(s, len, i + 1) || !cont(s, len, i + 2)) goto bad;
        *off = i + 3;
        return ((c & 0x0F) << 12) | (((unsigned char)s[i + 1] & 0x3F) << 6) |
               ((unsigned char)s[i + 2] & 0x3F);
    }
    if ((c & 0x08) == 0) {
        if (!cont(s, len, i + 1) || !cont(s, len, i + 2) || !cont(s, len, i + 3)) goto bad;
        *off = i + 4;
        return ((c & 0x07) << 18) | (((unsigned char)s[i + 1] & 0x3F) << 12) |
               (((unsigned char)s[i + 2] & 0x3F) << 6) | ((unsigned char)s[i + 3] & 0x3F);
    }
bad:
    *off = i + 1;
    return 0xFFFD;
}

size_t tok_utf8_put(uint32_t cp, char *o)
{
    return swarm_utf8_encode(cp, o);
}

uint32_t *tok_utf8_decode(const char *s, size_t len, size_t *n_out)
{
    uint32_t *cp = malloc((len ? len : 1) * sizeof(*cp));
    if (!cp) return NULL;
    size_t n = 0, off = 0;
    while (off < len)
        cp[n++] = tok_utf8_next(s, len, &off);
    *n_out = n;
    return cp;
}

/* GPT-2 maps printable Latin-1 bytes to themselves and the other 68 bytes, in
 * order, to U+0100 upwards, so every byte has a visible, non-space codepoint. */
static bool byte_is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

uint32_t tok_byte_to_cpt(uint8_t b)
{
    if (byte_is_printable(b)) return b;
    unsigned n = 0;
    for (unsigned i = 0; i < b; i++)
        n += !byte_is_printable(i);
    return 256 + n;
}

int tok_cpt_to_byte(uint32_t cp)
{
    if (cp < 256) return byte_is_printable(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    unsigned k = cp - 256, n = 0;
    for (unsigned b = 0; b < 256; b++) {
        if (!byte_is_printable(b)) {
            if (n == k) return (int)b;
            n++;
        }
    }
    return -1;
}
