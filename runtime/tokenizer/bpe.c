/* bpe.c - byte-level BPE (GPT-2 style) over the words of the pre-tokenizer.
 *
 * Each word is mapped byte-by-byte to GPT-2's printable codepoints, split into
 * characters, and adjacent pairs are merged lowest rank first (ties: leftmost)
 * using a binary heap of candidate pairs; stale candidates are recognised by
 * their size, as a symbol only ever grows by absorbing its right neighbour. */
#include <stdlib.h>
#include <string.h>

#include "tok_heap.h"
#include "tok_internal.h"
#include "tok_unicode.h"

typedef struct {
    int32_t prev, next;
    uint32_t off, n; /* bytes of the encoded word; n == 0 once merged away */
} sym;

typedef struct {
    const rt_vocab *v;
    const char *w;
    sym *s;
    tok_heap h;
} bpe_ctx;

static int try_pair(bpe_ctx *c, int32_t l, int32_t r)
{
    if (l < 0 || r < 0) return 0;
    const sym *a = &c->s[l], *b = &c->s[r];
    int32_t rank = tok_merge_rank(c->v, c->w + a->off, a->n, c->w + b->off, b->n);
    if (rank < 0) return 0;
    return tok_heap_push(&c->h, (tok_cand){rank, l, r, a->n + b->n});
}

static int emit_text(const rt_vocab *v, const char *t, size_t n, tok_ids *out)
{
    int32_t id = tok_lookup(v, t, n);
    if (id >= 0) return tok_ids_push(out, id);
    /* no such token: llama.cpp falls back to single-byte tokens where they exist */
    for (size_t i = 0; i < n; i++) {
        id = tok_lookup(v, t + i, 1);
        if (id >= 0 && tok_ids_push(out, id)) return -1;
    }
    return 0;
}

static int bpe_word(bpe_ctx *c, const char *w, size_t wn, tok_ids *out)
{
    const rt_vocab *v = c->v;
    if (v->ignore_merges && tok_lookup(v, w, wn) >= 0) return emit_text(v, w, wn, out);
    c->w = w;
    int32_t ns = 0;
    for (size_t off = 0; off < wn; ns++) {
        size_t k = tok_utf8_len((unsigned char)w[off]);
        if (k > wn - off) k = wn - off;
        c->s[ns] = (sym){ns - 1, off + k == wn ? -1 : ns + 1, (uint32_t)off, (uint32_t)k};
        off += k;
    }
    c->h.n = 0;
    for (int32_t i = 1; i < ns; i++)
        if (try_pair(c, i - 1, i)) return -1;
    while (c->h.n) {
        tok_cand b = tok_heap_pop(&c->h);
        sym *l = &c->s[b.left], *r = &c->s[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) c->s[r->next].prev = b.left;
        if (try_pair(c, l->prev, b.left) || try_pair(c, b.left, l->next)) return -1;
    }
    for (int32_t i = 0; i >= 0 && ns > 0; i = c->s[i].next)
        if (emit_text(v, w + c->s[i].off, c->s[i].n, out)) return -1;
    return 0;
}

int tok_bpe_fragment(const rt_vocab *v, const char *text, size_t len, tok_ids *out, char *err,
                     size_t errlen)
{
    size_t n = 0, *wl = NULL, nw = 0;
    uint32_t *cps = tok_utf8_decode(text, len, &n);
    if (!cps) goto oom;
    if (tok_pretok_split(v, cps, n, &wl, &nw, err, errlen)) {
        free(cps);
        return -1;
    }
    /* an input byte re-encodes to at most 3 bytes (U+FFFD), each byte to 2 */
    char *w = malloc(len * 6 + 8);
    sym *s = malloc((len * 3 + 1) * sizeof(*s));
    bpe_ctx c = {v, NULL, s, {0}};
    int rc = -1;
    if (!w || !s) goto done;
    size_t ci = 0;
    for (size_t wi = 0; wi < nw; wi++) {
        size_t k = 0;
        for (size_t j = 0; j < wl[wi]; j++, ci++) {
            char u[4];
            size_t ub = tok_utf8_put(cps[ci], u);
            for (size_t q = 0; q < ub; q++) {
                const char *e = v->byte_enc[(unsigned char)u[q]];
                while (*e)
                    w[k++] = *e++;
            }
        }
        if (bpe_word(&c, w, k, out)) goto done;
    }
    rc = 0;
done:
    free(w);
    free(s);
    tok_heap_free(&c.h);
    free(wl);
    free(cps);
    if (rc == 0) return 0;
oom:
    if (err && errlen) strncpy(err, "tokenize: out of memory", errlen - 1), err[errlen - 1] = 0;
    return -1;
}
