/* gen_text.c - the generated-text buffer and stop-string matching shared by
 * rt_generate (generate.c) and the batch engine (batch.c), so both stop and
 * hold back streamed bytes the same way. */
#include <stdlib.h>
#include <string.h>

#include "gen_text.h"

int rt_textbuf_add(rt_textbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

/* Earliest stop-string match that ends within the last `added` bytes. */
long rt_text_find_stop(const rt_textbuf *t, size_t added, const char *const *stops)
{
    long best = -1;
    for (size_t i = 0; stops && stops[i]; i++) {
        size_t sl = strlen(stops[i]);
        if (sl == 0 || sl > t->len) continue;
        size_t from = t->len >= added + sl ? t->len - added - sl + 1 : 0;
        for (size_t at = from; at + sl <= t->len; at++) {
            if (memcmp(t->p + at, stops[i], sl) == 0) {
                if (best < 0 || (long)at < best) best = (long)at;
                break;
            }
        }
    }
    return best;
}

/* Length of the longest suffix of t that is a proper prefix of a stop string. */
size_t rt_text_stop_prefix_len(const rt_textbuf *t, const char *const *stops)
{
    size_t best = 0;
    for (size_t i = 0; stops && stops[i]; i++) {
        size_t sl = strlen(stops[i]);
        for (size_t k = sl > 0 ? sl - 1 : 0; k > best; k--) {
            if (k <= t->len && memcmp(t->p + t->len - k, stops[i], k) == 0) {
                best = k;
                break;
            }
        }
    }
    return best;
}
