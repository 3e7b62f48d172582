/* gen_text.c - the generated-text buffer and stop-string matching shared by
 * rt_generate (generate.c) and the batch engine (batch.c), so both stop and
 * hold back streamed bytes the same way. */
#include <stdlib.h>
#include <string.h>

#include "gen_text.h"
#include "swarm_buf.h"

int rt_textbuf_add(rt_textbuf *b, const char *s, size_t n)
{
    /* the growth is common/'s swarm_buf; rt_textbuf keeps its field names for
     * generate.c and batch.c */
    swarm_buf sb = {b->p, b->len, b->cap, false};
    swarm_buf_putn(&sb, s, n);
    b->p = sb.s;
    b->len = sb.n;
    b->cap = sb.cap;
    return sb.oom ? -1 : 0;
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
