/* spm.c - SentencePiece-style tokenization ("llama" vocabularies), as llama.cpp does it.
 *
 * Spaces become U+2581, the text is split into UTF-8 characters, and adjacent
 * symbols are merged whenever their concatenation is a token, highest score
 * first (ties: leftmost). Symbols left that are not tokens fall back to byte
 * tokens <0xNN>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_heap.h"
#include "tok_internal.h"
#include "tok_unicode.h"

typedef struct {
    int32_t prev, next;
    uint32_t off, n;
} sym;

static int try_pair(const rt_vocab *v, const char *t, const sym *s, tok_heap *h, int32_t l,
                    int32_t r)
{
    if (l < 0 || r < 0) return 0;
    uint32_t n = s[l].n + s[r].n;
    int32_t id = tok_lookup(v, t + s[l].off, n);
    if (id < 0) return 0;
    return tok_heap_push(h, (tok_cand){-(double)v->score[id], l, r, n});
}

static int32_t byte_token(const rt_vocab *v, unsigned char b)
{
    char hex[8];
    snprintf(hex, sizeof(hex), "<0x%02X>", b);
    int32_t id = tok_lookup(v, hex, 6);
    if (id < 0) id = tok_lookup(v, (const char *)&b, 1);
    return id;
}

int tok_spm_fragment(const rt_vocab *v, const char *text, size_t len, tok_ids *out, char *err,
                     size_t errlen)
{
    /* escape spaces: each ' ' becomes the 3-byte U+2581 */
    size_t sp = 0;
    for (size_t i = 0; i < len; i++)
        sp += text[i] == ' ';
    size_t tn = len + 2 * sp;
    char *t = malloc(tn + 1);
    sym *s = malloc((tn + 1) * sizeof(*s));
    tok_heap h = {0};
    int rc = -1;
    if (!t || !s) goto oom;
    for (size_t i = 0, k = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(t + k, "\xe2\x96\x81", 3);
            k += 3;
        } else {
            t[k++] = text[i];
        }
    }
    int32_t ns = 0;
    for (size_t off = 0; off < tn; ns++) {
        size_t k = tok_utf8_len((unsigned char)t[off]);
        if (k > tn - off) k = tn - off;
        s[ns] = (sym){ns - 1, off + k == tn ? -1 : ns + 1, (uint32_t)off, (uint32_t)k};
        off += k;
    }
    for (int32_t i = 1; i < ns; i++)
        if (try_pair(v, t, s, &h, i - 1, i)) goto oom;
    while (h.n) {
        tok_cand b = tok_heap_pop(&h);
        sym *l = &s[b.left], *r = &s[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = b.left;
        if (try_pair(v, t, s, &h, l->prev, b.left) || try_pair(v, t, s, &h, b.left, l->next))
            goto oom;
    }
    for (int32_t i = 0; i >= 0 && ns > 0; i = s[i].next) {
        int32_t id = tok_lookup(v, t + s[i].off, s[i].n);
        if (id >= 0) {
            if (tok_ids_push(out, id)) goto oom;
            continue;
        }
        for (uint32_t j = 0; j < s[i].n; j++) {
            unsigned char byte = (unsigned char)t[s[i].off + j];
            id = byte_token(v, byte);
            if (id < 0) id = v->unk;
            if (id < 0) {
                if (err && errlen)
                    snprintf(err, errlen,
                             "tokenize: byte 0x%02X has no token (no <0x%02X>, no unknown token)",
                             byte, byte);
                goto done;
            }
            if (tok_ids_push(out, id)) goto oom;
        }
    }
    rc = 0;
    goto done;
oom:
    if (err && errlen) snprintf(err, errlen, "tokenize: out of memory");
done:
    free(t);
    free(s);
    tok_heap_free(&h);
    return rc;
}
