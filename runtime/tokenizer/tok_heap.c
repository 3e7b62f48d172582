/* tok_heap.c - merge-candidate heap (see tok_heap.h). */
#include "tok_heap.h"

#include <stdbool.h>
#include <stdlib.h>

static bool cand_before(const tok_cand *x, const tok_cand *y)
{
    return x->key < y->key || (x->key == y->key && x->left < y->left);
}

int tok_heap_push(tok_heap *h, tok_cand c)
{
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        tok_cand *nv = realloc(h->v, nc * sizeof(*nv));
        if (!nv) return -1;
        h->v = nv;
        h->cap = nc;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_before(&c, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = c;
    return 0;
}

tok_cand tok_heap_pop(tok_heap *h)
{
    tok_cand top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const tok_cand *best = &last;
        if (l < h->n && cand_before(&h->v[l], best)) m = l, best = &h->v[l];
        if (r < h->n && cand_before(&h->v[r], best)) m = r;
        if (m == i) break;
        h->v[i] = h->v[m];
        i = m;
    }
    if (h->n) h->v[i] = last;
    return top;
}

void tok_heap_free(tok_heap *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
