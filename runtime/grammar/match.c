/* match.c - the byte-level grammar recognizer.
 *
 * A parse is a set of stacks, each an interned chain of nodes (position,
 * parent) whose top position is a code-point set: the set of everything the
 * next code point may be. Interning (hash-consing) gives each distinct stack
 * one id, so a state is a small sorted array of ids - cheap to copy, compare
 * and hash for the mask cache - and per-node results are memoized: the
 * closure of a continuation and the stacks reached after a leaf's set
 * matches. Right recursion (what repetitions lower to) is run as a loop:
 * a reference in tail position pushes no frame. Bytes are fed one at a time;
 * a multi-byte UTF-8 sequence is held as a partial code point that survives
 * only while some stack's set still holds a code point it can complete to. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "grammar.h"
#include "swarm_buf.h"
#include "swarm_utf8.h"

#define GSTACK_MAX_DEPTH 4096 /* deeper stacks are dropped (rejected), never recursed into */

typedef struct {
    int32_t pos, parent, depth;
    int32_t memo_off, memo_len; /* closure or advance list; memo_len < 0: not computed */
} gnode;

struct garena {
    gnode *nodes;
    int32_t n, cap;
    int32_t *ht; /* open addressing over node ids, -1 empty */
    uint32_t ht_cap;
    int32_t *pool;
    int32_t pool_n, pool_cap;
    uint32_t *mark;
    uint32_t gen;
};

int gset_push(gset *s, int32_t v)
{
    if (s->n == s->cap) {
        int32_t nc = s->cap ? s->cap * 2 : 16;
        int32_t *t = realloc(s->v, sizeof *t * (size_t)nc);
        if (!t) return -1;
        s->v = t;
        s->cap = nc;
    }
    s->v[s->n++] = v;
    return 0;
}

void gset_free(gset *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

static uint32_t node_hash(int32_t pos, int32_t parent)
{
    uint64_t h = (uint64_t)(uint32_t)pos * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uint32_t)parent;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    return (uint32_t)(h ^ (h >> 32));
}

static garena *garena_new(void)
{
    garena *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->cap = 1024;
    a->ht_cap = 2048;
    a->nodes = malloc(sizeof *a->nodes * (size_t)a->cap);
    a->ht = malloc(sizeof *a->ht * a->ht_cap);
    a->mark = calloc((size_t)a->cap, sizeof *a->mark);
    if (!a->nodes || !a->ht || !a->mark) {
        free(a->nodes);
        free(a->ht);
        free(a->mark);
        free(a);
        return NULL;
    }
    memset(a->ht, 0xff, sizeof *a->ht * a->ht_cap);
    a->nodes[0] = (gnode){-1, -1, 0, 0, 0}; /* the empty stack */
    a->n = 1;
    return a;
}

static void garena_free(garena *a)
{
    if (!a) return;
    free(a->nodes);
    free(a->ht);
    free(a->pool);
    free(a->mark);
    free(a);
}

int32_t garena_size(const garena *a)
{
    return a->n;
}

static int ht_grow(garena *a)
{
    uint32_t nc = a->ht_cap * 2;
    int32_t *t = malloc(sizeof *t * nc);
    if (!t) return -1;
    memset(t, 0xff, sizeof *t * nc);
    for (int32_t i = 1; i < a->n; i++) {
        uint32_t h = node_hash(a->nodes[i].pos, a->nodes[i].parent) & (nc - 1);
        while (t[h] >= 0)
            h = (h + 1) & (nc - 1);
        t[h] = i;
    }
    free(a->ht);
    a->ht = t;
    a->ht_cap = nc;
    return 0;
}

/* Id of the node (pos, parent); -1 out of memory, -2 too deep. */
static int32_t intern(garena *a, int32_t pos, int32_t parent)
{
    uint32_t h = node_hash(pos, parent) & (a->ht_cap - 1);
    while (a->ht[h] >= 0) {
        const gnode *nd = &a->nodes[a->ht[h]];
        if (nd->pos == pos && nd->parent == parent) return a->ht[h];
        h = (h + 1) & (a->ht_cap - 1);
    }
    int32_t depth = a->nodes[parent].depth + 1;
    if (depth > GSTACK_MAX_DEPTH) return -2;
    if (a->n == a->cap) {
        int32_t nc = a->cap * 2;
        gnode *t = realloc(a->nodes, sizeof *t * (size_t)nc);
        if (!t) return -1;
        a->nodes = t;
        uint32_t *mk = realloc(a->mark, sizeof *mk * (size_t)nc);
        if (!mk) return -1;
        memset(mk + a->cap, 0, sizeof *mk * (size_t)(nc - a->cap));
        a->mark = mk;
        a->cap = nc;
    }
    int32_t id = a->n++;
    a->nodes[id] = (gnode){pos, parent, depth, 0, -1};
    a->ht[h] = id;
    if ((uint32_t)a->n * 2 > a->ht_cap && ht_grow(a) != 0) return -1;
    return id;
}

static int i32_cmp(const void *x, const void *y)
{
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return a < b ? -1 : a > b;
}

static void sort_unique(gset *s)
{
    if (s->n < 2) return;
    if (s->n <= 16) {
        for (int32_t i = 1; i < s->n; i++) {
            int32_t v = s->v[i], j = i;
            while (j > 0 && s->v[j - 1] > v) {
                s->v[j] = s->v[j - 1];
                j--;
            }
            s->v[j] = v;
        }
    } else {
        qsort(s->v, (size_t)s->n, sizeof *s->v, i32_cmp);
    }
    int32_t m = 1;
    for (int32_t i = 1; i < s->n; i++)
        if (s->v[i] != s->v[m - 1]) s->v[m++] = s->v[i];
    s->n = m;
}

static int memo_of(const rt_grammar *g, garena *a, int32_t n, int32_t pos, int32_t parent);

/* Appends to out the leaf stacks reached from position pos over parent. */
static int expand(const rt_grammar *g, garena *a, int32_t pos, int32_t parent, gset *out)
{
    const gelem *e = &g->el[pos];
    if (e->kind == GE_END) {
        if (parent == 0) return gset_push(out, 0);
        const gnode *p = &a->nodes[parent];
        if (g->el[p->pos].kind == GE_CHARS) return gset_push(out, parent);
        if (memo_of(g, a, parent, p->pos, p->parent)) return -1;
        const gnode *q = &a->nodes[parent];
        for (int32_t i = 0; i < q->memo_len; i++)
            if (gset_push(out, a->pool[q->memo_off + i])) return -1;
        return 0;
    }
    if (e->kind == GE_CHARS) {
        int32_t id = intern(a, pos, parent);
        if (id == -2) return 0;
        return id < 0 ? -1 : gset_push(out, id);
    }
    int32_t cont = parent;
    if (g->el[pos + 1].kind != GE_END) {
        cont = intern(a, pos + 1, parent);
        if (cont == -2) return 0;
        if (cont < 0) return -1;
    }
    int32_t r = e->arg;
    for (int32_t k = 0; k < g->rule_nalt[r]; k++)
        if (expand(g, a, g->alt_start[g->rule_alt0[r] + k], cont, out)) return -1;
    return 0;
}

/* Memoizes node n's list: for a leaf (code-point set on top) the stacks after
 * its set matched; for a continuation, its closure. */
static int memo_of(const rt_grammar *g, garena *a, int32_t n, int32_t pos, int32_t parent)
{
    if (a->nodes[n].memo_len >= 0) return 0;
    gset tmp = {0};
    int rc = expand(g, a, g->el[pos].kind == GE_CHARS ? pos + 1 : pos, parent, &tmp);
    if (rc == 0) {
        sort_unique(&tmp);
        if (a->pool_n + tmp.n > a->pool_cap) {
            int32_t nc = a->pool_cap ? a->pool_cap : 1024;
            while (nc < a->pool_n + tmp.n)
                nc *= 2;
            int32_t *t = realloc(a->pool, sizeof *t * (size_t)nc);
            if (!t) {
                rc = -1;
            } else {
                a->pool = t;
                a->pool_cap = nc;
            }
        }
        if (rc == 0) {
            if (tmp.n) memcpy(a->pool + a->pool_n, tmp.v, sizeof *tmp.v * (size_t)tmp.n);
            a->nodes[n].memo_off = a->pool_n;
            a->nodes[n].memo_len = tmp.n;
            a->pool_n += tmp.n;
        }
    }
    gset_free(&tmp);
    return rc;
}

/* out = union of the advance lists of the leaves in s whose set holds cp. */
static int advance_cp(const rt_grammar *g, garena *a, const gset *s, uint32_t cp, gset *out)
{
    out->n = 0;
    if (++a->gen == 0) {
        memset(a->mark, 0, sizeof *a->mark * (size_t)a->cap);
        a->gen = 1;
    }
    for (int32_t i = 0; i < s->n; i++) {
        int32_t L = s->v[i];
        if (L == 0) continue;
        const gnode *nd = &a->nodes[L];
        if (!grammar_cs_has(g, g->el[nd->pos].arg, cp)) continue;
        if (nd->memo_len < 0 && memo_of(g, a, L, nd->pos, nd->parent)) return -1;
        nd = &a->nodes[L];
        for (int32_t k = 0; k < nd->memo_len; k++) {
            int32_t v = a->pool[nd->memo_off + k];
            if (a->mark[v] == a->gen) continue;
            a->mark[v] = a->gen;
            if (gset_push(out, v)) return -1;
        }
    }
    sort_unique(out);
    return out->n > 0 ? 0 : -1;
}

/* Can some leaf of s still take a code point in [lo, hi]? */
static bool any_in(const rt_grammar *g, const garena *a, const gset *s, uint32_t lo, uint32_t hi)
{
    for (int32_t i = 0; i < s->n; i++)
        if (s->v[i] != 0 && grammar_cs_any(g, g->el[a->nodes[s->v[i]].pos].arg, lo, hi))
            return true;
    return false;
}

/* Code points a partial sequence can still become: v holds the payload bits
 * so far, n continuation bytes are missing, len is the sequence length.
 * Overlong forms and UTF-16 surrogates are excluded (they would let a token
 * smuggle in a character the grammar forbids, e.g. F0 80 81 BB for '{'). */
static bool partial_range(uint32_t v, uint8_t n, uint8_t len, uint32_t *lo, uint32_t *hi)
{
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    *lo = v << (6 * n);
    *hi = *lo | ((1u << (6 * n)) - 1);
    if (*lo < min_cp[len]) *lo = min_cp[len];
    if (*hi > 0x10FFFF) *hi = 0x10FFFF;
    if (*lo >= 0xD800 && *hi <= 0xDFFF) return false;
    return *lo <= *hi;
}

int gstate_step(const rt_grammar *g, garena *a, const gset *s, uint32_t *cp, uint8_t *rem,
                uint8_t b, gset *out)
{
    uint32_t lo, hi;
    if (*rem == 0) {
        if (b < 0x80) return advance_cp(g, a, s, b, out);
        uint8_t n;
        uint32_t v;
        if (b >= 0xC2 && b <= 0xDF) {
            n = 1;
            v = b & 0x1F;
        } else if (b >= 0xE0 && b <= 0xEF) {
            n = 2;
            v = b & 0x0F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            n = 3;
            v = b & 0x07;
        } else {
            return -1;
        }
        if (!partial_range(v, n, (uint8_t)(n + 1), &lo, &hi) || !any_in(g, a, s, lo, hi)) return -1;
        *cp = v | (uint32_t)(n + 1) << 24; /* the sequence length rides in the top byte */
        *rem = n;
        return 1; /* set unchanged */
    }
    if ((b & 0xC0) != 0x80) return -1;
    uint8_t len = (uint8_t)(*cp >> 24);
    uint32_t v = (*cp & 0xFFFFFF) << 6 | (b & 0x3F);
    uint8_t n = (uint8_t)(*rem - 1);
    if (!partial_range(v, n, len, &lo, &hi)) return -1;
    if (n == 0) {
        if (advance_cp(g, a, s, v, out)) return -1;
        *cp = 0;
        *rem = 0;
        return 0;
    }
    if (!any_in(g, a, s, lo, hi)) return -1;
    *cp = v | (uint32_t)len << 24;
    *rem = n;
    return 1;
}

uint64_t gset_hash(const gset *s, uint32_t cp, uint8_t rem)
{
    uint64_t h = 0xcbf29ce484222325ull ^ ((uint64_t)cp << 8 | rem);
    for (int32_t i = 0; i < s->n; i++) {
        h ^= (uint64_t)(uint32_t)s->v[i];
        h *= 0x100000001b3ull;
        h ^= h >> 31;
    }
    return h;
}

static int gset_copy(gset *dst, const gset *src)
{
    dst->n = 0;
    for (int32_t i = 0; i < src->n; i++)
        if (gset_push(dst, src->v[i])) return -1;
    return 0;
}

int gstate_root(const rt_grammar *g, garena *a, gset *out)
{
    int32_t r = g->root;
    for (int32_t k = 0; k < g->rule_nalt[r]; k++)
        if (expand(g, a, g->alt_start[g->rule_alt0[r] + k], 0, out)) return -1;
    sort_unique(out);
    return 0;
}

rt_grammar_state *rt_grammar_state_new(const rt_grammar *g)
{
    if (!g) return NULL;
    rt_grammar_state *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->g = g;
    st->a = garena_new();
    if (!st->a || gstate_root(g, st->a, &st->set) != 0) {
        rt_grammar_state_free(st);
        return NULL;
    }
    return st;
}

void rt_grammar_state_free(rt_grammar_state *st)
{
    if (!st) return;
    garena_free(st->a);
    gset_free(&st->set);
    gset_free(&st->scratch);
    free(st);
}

int rt_grammar_state_accept(rt_grammar_state *st, const char *bytes, size_t n)
{
    if (!st) return -1;
    if (n == 0) return 0;
    gset cur = {0}, nxt = {0};
    uint32_t cp = st->cp;
    uint8_t rem = st->rem;
    int rc = gset_copy(&cur, &st->set);
    for (size_t i = 0; i < n && rc == 0; i++) {
        int r = gstate_step(st->g, st->a, &cur, &cp, &rem, (uint8_t)bytes[i], &nxt);
        if (r < 0) {
            rc = -1;
        } else if (r == 0) {
            gset t = cur;
            cur = nxt;
            nxt = t;
        }
    }
    if (rc == 0) {
        gset_free(&st->set);
        st->set = cur;
        st->cp = cp;
        st->rem = rem;
        cur.v = NULL;
    }
    gset_free(&cur);
    gset_free(&nxt);
    return rc;
}

bool rt_grammar_state_can_end(const rt_grammar_state *st)
{
    return st && st->rem == 0 && st->set.n > 0 && st->set.v[0] == 0;
}

bool rt_grammar_state_done(const rt_grammar_state *st)
{
    return rt_grammar_state_can_end(st) && st->set.n == 1;
}

/* ---- shortest completion ---- */

static void cbuf_cp(swarm_buf *b, uint32_t cp)
{
    char u[4];
    swarm_buf_putn(b, u, swarm_utf8_encode(cp, u));
}

/* A printable member when there is one (completions end up in user-visible text). */
static uint32_t cs_pick(const rt_grammar *g, int32_t cs)
{
    uint32_t c = grammar_cs_first(g, cs, 0x20, 0x10FFFF);
    return c != UINT32_MAX ? c : grammar_cs_first(g, cs, 0, 0x1F);
}

/* Emits the fewest code points that finish the alternative from pos on.
 * Iterative (an explicit stack of return positions): a hostile grammar's
 * derivations may nest deeper than the C stack allows. */
static int gen_seq(const rt_grammar *g, int32_t pos, swarm_buf *b)
{
    gset ret = {0};
    int rc = 0;
    for (;;) {
        if (g->el[pos].kind == GE_END) {
            if (ret.n == 0) break;
            pos = ret.v[--ret.n];
            continue;
        }
        if (g->el[pos].kind == GE_CHARS) {
            cbuf_cp(b, cs_pick(g, g->el[pos].arg));
            pos++;
            continue;
        }
        int32_t r = g->el[pos].arg, best = -1;
        for (int32_t k = 0; k < g->rule_nalt[r]; k++) {
            int32_t s = g->alt_start[g->rule_alt0[r] + k];
            if (best < 0 || g->min_pos[s] < g->min_pos[best]) best = s;
        }
        if (best < 0 || g->min_pos[best] == INT32_MAX || gset_push(&ret, pos + 1) || b->oom) {
            rc = -1;
            break;
        }
        pos = best;
    }
    gset_free(&ret);
    return rc;
}

static int64_t chain_cost(const rt_grammar *g, const garena *a, int32_t n)
{
    int64_t c = 0;
    for (; n != 0; n = a->nodes[n].parent) {
        int32_t m = g->min_pos[a->nodes[n].pos];
        if (m == INT32_MAX) return INT64_MAX;
        c += m;
    }
    return c;
}

int rt_grammar_state_complete(const rt_grammar_state *st, char **bytes)
{
    *bytes = NULL;
    if (!st) return -1;
    const rt_grammar *g = st->g;
    const garena *a = st->a;
    swarm_buf b = {0};
    swarm_buf_putn(&b, "", 0); /* allocate and NUL-terminate: "" when it can end */
    if (rt_grammar_state_can_end(st)) {
        *bytes = b.s;
        return b.oom ? -1 : 0;
    }
    int32_t best = -1;
    int64_t best_cost = INT64_MAX;
    uint32_t lo = 0, hi = 0;
    if (st->rem && !partial_range(st->cp & 0xFFFFFF, st->rem, (uint8_t)(st->cp >> 24), &lo, &hi)) {
        free(b.s);
        return -1;
    }
    for (int32_t i = 0; i < st->set.n; i++) {
        int32_t L = st->set.v[i];
        if (L == 0) continue;
        if (st->rem && !grammar_cs_any(g, g->el[a->nodes[L].pos].arg, lo, hi)) continue;
        int64_t c = chain_cost(g, a, L);
        if (c < best_cost) {
            best_cost = c;
            best = L;
        }
    }
    if (best < 0 || best_cost == INT64_MAX) {
        free(b.s);
        return -1;
    }
    const gnode *nd = &a->nodes[best];
    if (st->rem) {
        /* finish the pending code point: emit only its missing continuation bytes */
        uint32_t cp = grammar_cs_first(g, g->el[nd->pos].arg, lo, hi);
        for (int k = st->rem - 1; k >= 0; k--) {
            swarm_buf_putc(&b, (char)(0x80 | ((cp >> (6 * k)) & 0x3F)));
        }
    } else {
        cbuf_cp(&b, cs_pick(g, g->el[nd->pos].arg));
    }
    int rc = gen_seq(g, nd->pos + 1, &b);
    for (int32_t n = nd->parent; rc == 0 && n != 0; n = a->nodes[n].parent)
        rc = gen_seq(g, a->nodes[n].pos, &b);
    if (rc != 0 || b.oom) {
        free(b.s);
        return -1;
    }
    *bytes = b.s;
    return (int)b.n;
}

/* ---- arena compaction (masking keeps a state alive across many steps) ---- */

static int32_t recopy(garena *na, const garena *oa, int32_t n)
{
    if (n == 0) return 0;
    int32_t p = recopy(na, oa, oa->nodes[n].parent);
    if (p < 0) return p;
    return intern(na, oa->nodes[n].pos, p);
}

int gstate_compact(rt_grammar_state *st)
{
    garena *na = garena_new();
    if (!na) return -1;
    gset ns = {0};
    for (int32_t i = 0; i < st->set.n; i++) {
        int32_t id = recopy(na, st->a, st->set.v[i]);
        if (id < 0 || gset_push(&ns, id)) {
            garena_free(na);
            gset_free(&ns);
            return -1;
        }
    }
    sort_unique(&ns);
    garena_free(st->a);
    st->a = na;
    gset_free(&st->set);
    st->set = ns;
    return 0;
}
