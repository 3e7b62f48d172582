/* mask.c - which tokens may come next under a grammar, fast.
 *
 * Per model, every token's exact bytes (rt_token_piece: byte-level BPE,
 * SentencePiece with "▁" and <0xNN> byte fallback, WordPiece) go into one
 * trie, laid out in preorder with each node's subtree end, built once on
 * first use and published on the model with a compare-and-swap (a racing
 * builder frees its copy). Masking walks the trie against the grammar state:
 * a prefix shared by many tokens is matched once, and a rejected prefix skips
 * its whole subtree. Results are cached per state (the sorted stack-id set
 * plus any partial UTF-8), so states that recur - inside strings, runs of
 * digits or whitespace, the same spot of a repeated structure - cost a hash
 * lookup. Control tokens are masked unless the caller opted in to matching
 * their literal text; end-of-generation tokens are allowed exactly where
 * the grammar may end. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar.h"
#include "model.h"

enum { TK_TEXT = 0, TK_SPECIAL = 1, TK_EOG = 2, TK_NONE = 3 };

struct gtrie {
    int32_t n_nodes, n_vocab, max_depth;
    uint8_t *byte;   /* edge byte into node i (node 0: root) */
    uint16_t *depth; /* bytes from the root */
    int32_t *end;    /* preorder index after node i's subtree */
    int32_t *tok0;   /* tokens ending at node i: toks[tok0[i] .. tok0[i + 1]) */
    int32_t *toks;
    uint64_t *sub;   /* [2 * i]: ASCII bytes on the edges of node i's subtree, itself included */
    uint8_t *sub_hi; /* the subtree has a byte >= 0x80 */
    uint8_t *kind;   /* per token id: TK_* */
    uint32_t *poff;  /* per token id: its bytes in pdata[poff[id] .. poff[id + 1]) */
    char *pdata;
    int32_t *eog;
    int32_t n_eog;
};

void gtrie_free(gtrie *t)
{
    if (!t) return;
    free(t->byte);
    free(t->depth);
    free(t->end);
    free(t->tok0);
    free(t->toks);
    free(t->sub);
    free(t->sub_hi);
    free(t->kind);
    free(t->poff);
    free(t->pdata);
    free(t->eog);
    free(t);
}

void rt_grammar_trie_free(void *trie)
{
    gtrie_free(trie);
}

/* Merge sort by piece bytes (no global context needed). */
static void sort_tokens(const gtrie *t, int32_t *v, int32_t *tmp, int32_t n)
{
    if (n < 2) return;
    if (n <= 16) {
        for (int32_t i = 1; i < n; i++) {
            int32_t x = v[i], j = i;
            while (j > 0) {
                int32_t a = v[j - 1];
                uint32_t la = t->poff[a + 1] - t->poff[a], lb = t->poff[x + 1] - t->poff[x];
                int c = memcmp(t->pdata + t->poff[a], t->pdata + t->poff[x], la < lb ? la : lb);
                if (c < 0 || (c == 0 && (la < lb || (la == lb && a < x)))) break;
                v[j] = v[j - 1];
                j--;
            }
            v[j] = x;
        }
        return;
    }
    int32_t h = n / 2;
    sort_tokens(t, v, tmp, h);
    sort_tokens(t, v + h, tmp, n - h);
    int32_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int32_t a = v[i], b = v[j];
        uint32_t la = t->poff[a + 1] - t->poff[a], lb = t->poff[b + 1] - t->poff[b];
        int c = memcmp(t->pdata + t->poff[a], t->pdata + t->poff[b], la < lb ? la : lb);
        bool a_first = c < 0 || (c == 0 && (la < lb || (la == lb && a < b)));
        tmp[k++] = a_first ? v[i++] : v[j++];
    }
    while (i < h)
        tmp[k++] = v[i++];
    while (j < n)
        tmp[k++] = v[j++];
    memcpy(v, tmp, sizeof *v * (size_t)n);
}

static gtrie *gtrie_build(const rt_model *m)
{
    int32_t nv = m->hp.n_vocab;
    gtrie *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->n_vocab = nv;
    t->kind = malloc((size_t)nv);
    t->poff = malloc(sizeof *t->poff * ((size_t)nv + 1));
    t->eog = malloc(sizeof *t->eog * ((size_t)nv + 1));
    int32_t *order = malloc(sizeof *order * ((size_t)nv + 1));
    int32_t *tmp = malloc(sizeof *tmp * ((size_t)nv + 1));
    size_t cap = 1 << 16, used = 0;
    t->pdata = malloc(cap);
    if (!t->kind || !t->poff || !t->eog || !order || !tmp || !t->pdata) goto fail;
    int32_t n_ord = 0;
    char small[512];
    for (int32_t id = 0; id < nv; id++) {
        t->poff[id] = (uint32_t)used;
        int n = rt_token_piece(m, id, small, sizeof small);
        if (rt_model_is_eog(m, id)) {
            t->kind[id] = TK_EOG;
            t->eog[t->n_eog++] = id;
            continue;
        }
        if (n <= 0) {
            t->kind[id] = TK_NONE;
            continue;
        }
        t->kind[id] = rt_vocab_is_control(m->vocab, id) ? TK_SPECIAL : TK_TEXT;
        if (used + (size_t)n > cap) {
            while (used + (size_t)n > cap)
                cap *= 2;
            char *p = realloc(t->pdata, cap);
            if (!p) goto fail;
            t->pdata = p;
        }
        if ((size_t)n <= sizeof small)
            memcpy(t->pdata + used, small, (size_t)n);
        else
            rt_token_piece(m, id, t->pdata + used, (size_t)n);
        used += (size_t)n;
        order[n_ord++] = id;
    }
    t->poff[nv] = (uint32_t)used;
    sort_tokens(t, order, tmp, n_ord);
    /* preorder trie from the sorted pieces: a path stack of open nodes */
    int32_t ncap = 1024;
    t->byte = malloc((size_t)ncap);
    t->depth = malloc(sizeof *t->depth * (size_t)ncap);
    t->end = malloc(sizeof *t->end * (size_t)ncap);
    t->tok0 = malloc(sizeof *t->tok0 * ((size_t)ncap + 1));
    t->toks = malloc(sizeof *t->toks * ((size_t)n_ord + 1));
    int32_t *path = malloc(sizeof *path * 65536);
    if (!t->byte || !t->depth || !t->end || !t->tok0 || !t->toks || !path) {
        free(path);
        goto fail;
    }
    t->byte[0] = 0;
    t->depth[0] = 0;
    t->tok0[0] = 0;
    t->n_nodes = 1;
    int32_t sp = 1, n_toks = 0; /* path[0] = root */
    path[0] = 0;
    const char *prev = NULL;
    uint32_t prev_len = 0;
    for (int32_t k = 0; k < n_ord; k++) {
        int32_t id = order[k];
        const char *s = t->pdata + t->poff[id];
        uint32_t len = t->poff[id + 1] - t->poff[id];
        if (len > 65000) len = 65000; /* absurd pieces are truncated, never matched in full */
        uint32_t l = 0;
        while (prev && l < len && l < prev_len && s[l] == prev[l])
            l++;
        while (sp > (int32_t)l + 1) /* close nodes deeper than the shared prefix */
            t->end[path[--sp]] = t->n_nodes;
        for (uint32_t d = l; d < len; d++) {
            if (t->n_nodes == ncap) {
                ncap *= 2;
                uint8_t *b = realloc(t->byte, (size_t)ncap);
                if (b) t->byte = b;
                uint16_t *dp = realloc(t->depth, sizeof *dp * (size_t)ncap);
                if (dp) t->depth = dp;
                int32_t *e = realloc(t->end, sizeof *e * (size_t)ncap);
                if (e) t->end = e;
                int32_t *t0 = realloc(t->tok0, sizeof *t0 * ((size_t)ncap + 1));
                if (t0) t->tok0 = t0;
                if (!b || !dp || !e || !t0) {
                    free(path);
                    goto fail;
                }
            }
            int32_t nd = t->n_nodes++;
            t->byte[nd] = (uint8_t)s[d];
            t->depth[nd] = (uint16_t)(d + 1);
            t->tok0[nd] = n_toks;
            if (d + 1 > (uint32_t)t->max_depth) t->max_depth = (int32_t)d + 1;
            path[sp++] = nd;
        }
        t->toks[n_toks++] = id; /* ends at the top of the path */
        prev = s;
        prev_len = len;
    }
    while (sp > 0)
        t->end[path[--sp]] = t->n_nodes;
    t->tok0[t->n_nodes] = n_toks;
    free(path);
    /* subtree byte sets: parents from a forward pass, then OR children upward */
    t->sub = calloc(2 * (size_t)t->n_nodes, sizeof *t->sub);
    t->sub_hi = calloc((size_t)t->n_nodes, 1);
    int32_t *parent = malloc(sizeof *parent * (size_t)t->n_nodes);
    int32_t *open = malloc(sizeof *open * ((size_t)t->max_depth + 1));
    if (!t->sub || !t->sub_hi || !parent || !open) {
        free(parent);
        free(open);
        goto fail;
    }
    open[0] = 0;
    for (int32_t i = 1; i < t->n_nodes; i++) {
        open[t->depth[i]] = i;
        parent[i] = open[t->depth[i] - 1];
    }
    for (int32_t i = t->n_nodes - 1; i >= 1; i--) {
        uint8_t b = t->byte[i];
        if (b < 0x80)
            t->sub[2 * i + (b >> 6)] |= 1ull << (b & 63);
        else
            t->sub_hi[i] = 1;
        int32_t p = parent[i];
        t->sub[2 * p] |= t->sub[2 * i];
        t->sub[2 * p + 1] |= t->sub[2 * i + 1];
        t->sub_hi[p] |= t->sub_hi[i];
    }
    free(parent);
    free(open);
    free(order);
    free(tmp);
    return t;
fail:
    free(order);
    free(tmp);
    gtrie_free(t);
    return NULL;
}

const gtrie *gtrie_get(const rt_model *m)
{
    rt_model *mm = (rt_model *)m; /* the cache slot is the only mutable part */
    void *t = atomic_load(&mm->grammar_trie);
    if (t) return t;
    gtrie *nt = gtrie_build(m);
    if (!nt) return NULL;
    void *expected = NULL;
    if (!atomic_compare_exchange_strong(&mm->grammar_trie, &expected, nt)) {
        gtrie_free(nt);
        return expected;
    }
    return nt;
}

/* ---- per-sampler masker ---- */

#define MASK_CACHE_SLOTS 4096 /* power of two */
#define MASK_CACHE_MAX_BYTES (96u << 20)
#define ARENA_COMPACT_NODES (1 << 20)

typedef struct {
    uint64_t hash;
    int32_t set_off, set_n; /* into the key pool */
    uint32_t cp;
    uint8_t rem, used;
    uint64_t *mask;
} centry;

struct gmasker {
    const rt_model *m;
    const rt_grammar *g;
    const gtrie *t;
    rt_grammar_opts opts;
    rt_grammar_state *st;
    rt_grammar_state *init; /* the root state, kept to restart cheaply */
    int32_t words;
    uint64_t *cur; /* mask of the current state when computed uncached */
    centry *cache;
    int32_t n_cached;
    size_t cache_bytes;
    gset keys;
    /* walk scratch */
    int32_t *lv_off, *lv_n;
    uint32_t *lv_cp;
    uint8_t *lv_rem;
    uint8_t *lv_root; /* level's stacks equal the walk's starting set (no partial) */
    gset sbuf, out;
    gmask_stats stats;
    int32_t compact_limit; /* arena nodes before compaction */
};

static void cache_clear(gmasker *k)
{
    for (int32_t i = 0; i < MASK_CACHE_SLOTS; i++) {
        free(k->cache[i].mask);
        k->cache[i].mask = NULL;
        k->cache[i].used = 0;
    }
    k->n_cached = 0;
    k->cache_bytes = 0;
    k->keys.n = 0;
}

void gmasker_free(gmasker *k)
{
    if (!k) return;
    if (k->cache) cache_clear(k);
    free(k->cache);
    gset_free(&k->keys);
    rt_grammar_state_free(k->st);
    rt_grammar_state_free(k->init);
    free(k->cur);
    free(k->lv_off);
    free(k->lv_n);
    free(k->lv_cp);
    free(k->lv_rem);
    free(k->lv_root);
    gset_free(&k->sbuf);
    gset_free(&k->out);
    free(k);
}

static int state_copy(rt_grammar_state *dst, const rt_grammar_state *src)
{
    dst->set.n = 0;
    for (int32_t i = 0; i < src->set.n; i++)
        if (gset_push(&dst->set, src->set.v[i])) return -1;
    dst->cp = src->cp;
    dst->rem = src->rem;
    return 0;
}

int gmasker_new(const rt_model *m, const rt_grammar *g, const rt_grammar_opts *o, gmasker **out,
                char *err, size_t errlen)
{
    *out = NULL;
    gmasker *k = calloc(1, sizeof *k);
    if (!k) goto oom;
    k->m = m;
    k->g = g;
    k->compact_limit = ARENA_COMPACT_NODES;
    if (o) k->opts = *o;
    k->t = gtrie_get(m);
    if (!k->t) goto oom;
    k->words = (k->t->n_vocab + 63) / 64;
    k->st = rt_grammar_state_new(g);
    k->cur = malloc(sizeof *k->cur * (size_t)k->words);
    k->cache = calloc(MASK_CACHE_SLOTS, sizeof *k->cache);
    int32_t L = k->t->max_depth + 2;
    k->lv_off = malloc(sizeof *k->lv_off * (size_t)L);
    k->lv_n = malloc(sizeof *k->lv_n * (size_t)L);
    k->lv_cp = malloc(sizeof *k->lv_cp * (size_t)L);
    k->lv_rem = malloc((size_t)L);
    k->lv_root = malloc((size_t)L);
    if (!k->st || !k->cur || !k->cache || !k->lv_off || !k->lv_n || !k->lv_cp || !k->lv_rem ||
        !k->lv_root)
        goto oom;
    /* the root state shares the arena of st: keep its ids, restart by copying */
    k->init = calloc(1, sizeof *k->init);
    if (!k->init || state_copy(k->init, k->st)) goto oom;
    *out = k;
    return 0;
oom:
    gmasker_free(k);
    snprintf(err, errlen, "grammar: out of memory setting up token masking");
    return -1;
}

int gmasker_reset(gmasker *k)
{
    return state_copy(k->st, k->init);
}

const rt_grammar_state *gmasker_state(const gmasker *k)
{
    return k->st;
}

void gmasker_set_compact_limit(gmasker *k, int32_t nodes)
{
    k->compact_limit = nodes;
}

int32_t rt_grammar_mask_vocab(const gmasker *k)
{
    return k->t->n_vocab;
}

gmask_stats *gmasker_stats(gmasker *k)
{
    return &k->stats;
}

/* Feeds len bytes from (set, cp, rem) in st's arena; true if all accepted. */
static bool bytes_ok(gmasker *k, const char *s, uint32_t len)
{
    rt_grammar_state *st = k->st;
    gset *a = &k->sbuf, *b = &k->out;
    a->n = 0;
    for (int32_t i = 0; i < st->set.n; i++)
        if (gset_push(a, st->set.v[i])) return false;
    uint32_t cp = st->cp;
    uint8_t rem = st->rem;
    for (uint32_t i = 0; i < len; i++) {
        int r = gstate_step(k->g, st->a, a, &cp, &rem, (uint8_t)s[i], b);
        if (r < 0) return false;
        if (r == 0) {
            gset t = *a;
            *a = *b;
            *b = t;
        }
    }
    return true;
}

bool gmasker_allows(gmasker *k, int32_t id)
{
    const gtrie *t = k->t;
    if (id < 0 || id >= t->n_vocab) return false;
    switch (t->kind[id]) {
    case TK_EOG:
        return rt_grammar_state_can_end(k->st);
    case TK_NONE:
        return false;
    case TK_SPECIAL:
        if (!k->opts.allow_special_text) return false;
        break;
    default:
        break;
    }
    return bytes_ok(k, t->pdata + t->poff[id], t->poff[id + 1] - t->poff[id]);
}

/* The full walk: every token whose bytes the state accepts. */
static int walk(gmasker *k, uint64_t *mask)
{
    const gtrie *t = k->t;
    rt_grammar_state *st = k->st;
    const rt_grammar *g = k->g;
    memset(mask, 0, sizeof *mask * (size_t)k->words);
    gset *sb = &k->sbuf;
    sb->n = 0;
    for (int32_t i = 0; i < st->set.n; i++)
        if (gset_push(sb, st->set.v[i])) return -1;
    k->lv_off[0] = 0;
    k->lv_n[0] = st->set.n;
    k->lv_cp[0] = st->cp;
    k->lv_rem[0] = st->rem;
    bool special_ok = k->opts.allow_special_text;
    /* ASCII bytes that lead from the starting set back to itself (inside a
     * string: almost all of them). A subtree whose every edge is such a byte,
     * entered from that set, is accepted whole without walking it. */
    uint64_t loop[2] = {0, 0};
    if (st->rem == 0) {
        for (uint32_t b = 0; b < 128; b++) {
            uint32_t cp = 0;
            uint8_t rem = 0;
            if (gstate_step(g, st->a, &st->set, &cp, &rem, (uint8_t)b, &k->out) == 0 &&
                k->out.n == st->set.n &&
                memcmp(k->out.v, st->set.v, sizeof(int32_t) * (size_t)st->set.n) == 0)
                loop[b >> 6] |= 1ull << (b & 63);
        }
    }
    k->lv_root[0] = (loop[0] | loop[1]) != 0;
    int32_t i = 1;
    while (i < t->n_nodes) {
        int32_t d = t->depth[i];
        int32_t pd = d - 1;
        if (k->lv_root[pd] && !t->sub_hi[i] && !(t->sub[2 * i] & ~loop[0]) &&
            !(t->sub[2 * i + 1] & ~loop[1])) {
            for (int32_t j = t->tok0[i]; j < t->tok0[t->end[i]]; j++) {
                int32_t id = t->toks[j];
                if (t->kind[id] == TK_SPECIAL && !special_ok) continue;
                mask[id >> 6] |= 1ull << (id & 63);
            }
            k->stats.trie_nodes++;
            i = t->end[i];
            continue;
        }
        /* the parent level's set as a gset view (sbuf may move on push: rebuild per step) */
        gset par = {sb->v + k->lv_off[pd], k->lv_n[pd], k->lv_n[pd]};
        uint32_t cp = k->lv_cp[pd];
        uint8_t rem = k->lv_rem[pd];
        int r = gstate_step(g, st->a, &par, &cp, &rem, t->byte[i], &k->out);
        k->stats.trie_nodes++;
        if (r < 0) {
            i = t->end[i];
            continue;
        }
        if (r == 1) { /* partial code point: same stacks */
            k->lv_off[d] = k->lv_off[pd];
            k->lv_n[d] = k->lv_n[pd];
            k->lv_root[d] = 0;
        } else {
            k->lv_root[d] = k->lv_root[0] && k->out.n == st->set.n &&
                            memcmp(k->out.v, st->set.v, sizeof(int32_t) * (size_t)st->set.n) == 0;
            int32_t off = k->lv_off[pd] + k->lv_n[pd];
            sb->n = off;
            for (int32_t j = 0; j < k->out.n; j++)
                if (gset_push(sb, k->out.v[j])) return -1;
            k->lv_off[d] = off;
            k->lv_n[d] = k->out.n;
        }
        k->lv_cp[d] = cp;
        k->lv_rem[d] = rem;
        for (int32_t j = t->tok0[i]; j < t->tok0[i + 1]; j++) {
            int32_t id = t->toks[j];
            if (t->kind[id] == TK_SPECIAL && !special_ok) continue;
            mask[id >> 6] |= 1ull << (id & 63);
        }
        i++;
    }
    if (rt_grammar_state_can_end(st))
        for (int32_t j = 0; j < t->n_eog; j++)
            mask[t->eog[j] >> 6] |= 1ull << (t->eog[j] & 63);
    return 0;
}

static bool key_eq(const gmasker *k, const centry *e, const rt_grammar_state *st)
{
    if (e->set_n != st->set.n || e->cp != st->cp || e->rem != st->rem) return false;
    return memcmp(k->keys.v + e->set_off, st->set.v, sizeof(int32_t) * (size_t)st->set.n) == 0;
}

const uint64_t *gmasker_mask(gmasker *k)
{
    rt_grammar_state *st = k->st;
    uint64_t h = gset_hash(&st->set, st->cp, st->rem);
    uint32_t slot = (uint32_t)h & (MASK_CACHE_SLOTS - 1);
    for (uint32_t probe = 0; probe < 8; probe++) {
        centry *e = &k->cache[(slot + probe) & (MASK_CACHE_SLOTS - 1)];
        if (!e->used) break;
        if (e->hash == h && key_eq(k, e, st)) {
            k->stats.hits++;
            return e->mask;
        }
    }
    k->stats.misses++;
    if (walk(k, k->cur) != 0) return NULL;
    size_t need = sizeof(uint64_t) * (size_t)k->words;
    if (k->cache_bytes + need > MASK_CACHE_MAX_BYTES || k->n_cached >= MASK_CACHE_SLOTS / 2)
        cache_clear(k);
    for (uint32_t probe = 0; probe < 8; probe++) {
        centry *e = &k->cache[(slot + probe) & (MASK_CACHE_SLOTS - 1)];
        if (e->used) continue;
        e->mask = malloc(need);
        if (!e->mask) return k->cur;
        int32_t off = k->keys.n;
        for (int32_t i = 0; i < st->set.n; i++)
            if (gset_push(&k->keys, st->set.v[i])) {
                free(e->mask);
                e->mask = NULL;
                return k->cur;
            }
        memcpy(e->mask, k->cur, need);
        e->hash = h;
        e->set_off = off;
        e->set_n = st->set.n;
        e->cp = st->cp;
        e->rem = st->rem;
        e->used = 1;
        k->n_cached++;
        k->cache_bytes += need;
        return e->mask;
    }
    return k->cur;
}

int gmasker_accept(gmasker *k, int32_t id)
{
    const gtrie *t = k->t;
    if (id < 0 || id >= t->n_vocab) return -1;
    if (t->kind[id] == TK_EOG) return rt_grammar_state_can_end(k->st) ? 0 : -1;
    if (t->kind[id] == TK_NONE) return -1;
    if (rt_grammar_state_accept(k->st, t->pdata + t->poff[id], t->poff[id + 1] - t->poff[id]))
        return -1;
    if (garena_size(k->st->a) > k->compact_limit) {
        /* node ids change: cached masks and the root copy are keyed by them */
        if (gstate_compact(k->st)) return -1;
        cache_clear(k);
        k->init->set.n = 0;
        if (gstate_root(k->g, k->st->a, &k->init->set)) return -1;
        k->stats.compactions++;
    }
    return 0;
}

/* Longest-match tokenization of bytes through the trie (for completions):
 * every id's piece is a prefix of what remains, so the ids spell s exactly
 * whenever each byte is reachable; returns the count or < 0. */
int gmasker_spell(const gmasker *k, const char *s, size_t n, int32_t **ids)
{
    const gtrie *t = k->t;
    *ids = malloc(sizeof **ids * (n + 1));
    if (!*ids) return -1;
    size_t at = 0;
    int32_t cnt = 0;
    while (at < n) {
        int32_t node = 0, best = -1;
        size_t best_len = 0;
        /* descend: children of node are the preorder run after it */
        int32_t i = 1, lim = t->n_nodes;
        size_t d = 0;
        while (at + d < n && i < lim) {
            while (i < lim && t->byte[i] != (uint8_t)s[at + d])
                i = t->end[i];
            if (i >= lim) break;
            node = i;
            d++;
            for (int32_t j = t->tok0[node]; j < t->tok0[node + 1]; j++)
                if (t->kind[t->toks[j]] == TK_TEXT) {
                    best = t->toks[j];
                    best_len = d;
                    break;
                }
            lim = t->end[node];
            i = node + 1;
        }
        if (best < 0) {
            free(*ids);
            *ids = NULL;
            return -1;
        }
        (*ids)[cnt++] = best;
        at += best_len;
    }
    return cnt;
}
