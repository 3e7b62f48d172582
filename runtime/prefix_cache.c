/* prefix_cache.c - the KV of shared prompt prefixes, kept once for all the
 * slots of a batch: sub-agents of a job share a long system prompt and
 * context, and the second one should not compute its KV again.
 *
 * A radix tree whose edges are blocks of RT_PREFIX_BLOCK tokens: a node
 * holds one block's tokens and their K/V rows for every layer, and its path
 * from the root spells the prefix those rows were computed after (K/V at a
 * position depend on every earlier token, so a block is only valid under
 * its exact prefix). Whole blocks keep lookups a walk of memcmp's and let
 * eviction drop a leaf at a time. Eviction is least-recently-used over
 * leaves, so a prefix shared by many requests (touched on every hit) stays
 * while one-off tails go first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"
#include "prefix_cache.h"

typedef struct pc_node {
    struct pc_node *parent;
    struct pc_node **kids;
    size_t n_kids, cap_kids;
    int32_t toks[RT_PREFIX_BLOCK];
    unsigned char *rows; /* per layer: K [BLOCK][kv_k_dim] then V [BLOCK][kv_v_dim], KV's type */
    uint64_t used;       /* LRU tick */
    size_t idx;          /* position in pc->all */
} pc_node;

struct rt_prefix_cache {
    const rt_model *m;
    int32_t n_layer, kd, vd;
    size_t es; /* bytes per element: the slots' KV type, copied as is */
    size_t node_bytes, max_bytes;
    pc_node root;
    pc_node **all; /* every non-root node, for the LRU scan */
    size_t n_all, cap_all;
    uint64_t tick;
    rt_prefix_cache_stats st;
};

int rt_prefix_cache_new(const rt_model *m, size_t max_bytes, rt_prefix_cache **out, char *err,
                        size_t errlen)
{
    return rt_prefix_cache_new_kv(m, RT_KV_F32, max_bytes, out, err, errlen);
}

int rt_prefix_cache_new_kv(const rt_model *m, rt_kv_type kv_type, size_t max_bytes,
                           rt_prefix_cache **out, char *err, size_t errlen)
{
    *out = NULL;
    rt_prefix_cache *pc = calloc(1, sizeof *pc);
    if (!pc) {
        snprintf(err, errlen, "out of memory creating the prefix cache");
        return -1;
    }
    pc->m = m;
    pc->n_layer = m->hp.n_layer;
    pc->kd = m->hp.kv_k_dim;
    pc->vd = m->hp.kv_v_dim;
    pc->es = rt_kv_elem_size(kv_type);
    pc->node_bytes = rt_kv_bytes_type(m, RT_PREFIX_BLOCK, kv_type);
    pc->max_bytes = max_bytes;
    pc->st.max_bytes = max_bytes;
    *out = pc;
    return 0;
}

static void node_free(pc_node *n)
{
    free(n->kids);
    free(n->rows);
    free(n);
}

void rt_prefix_cache_free(rt_prefix_cache *pc)
{
    if (!pc) return;
    for (size_t i = 0; i < pc->n_all; i++)
        node_free(pc->all[i]);
    free(pc->all);
    free(pc->root.kids);
    free(pc);
}

static pc_node *node_child(const pc_node *n, const int32_t *toks)
{
    for (size_t i = 0; i < n->n_kids; i++)
        if (memcmp(n->kids[i]->toks, toks, sizeof(int32_t) * RT_PREFIX_BLOCK) == 0)
            return n->kids[i];
    return NULL;
}

/* Copies rows [from, RT_PREFIX_BLOCK) of block b between a node and the KV. */
static void node_copy(const rt_prefix_cache *pc, pc_node *n, rt_kv *kv, size_t b, int32_t from,
                      bool to_kv)
{
    const size_t es = pc->es;
    size_t per = (size_t)RT_PREFIX_BLOCK * (size_t)(pc->kd + pc->vd) * es;
    size_t cnt = (size_t)(RT_PREFIX_BLOCK - from);
    for (int32_t il = 0; il < pc->n_layer; il++) {
        unsigned char *nk = n->rows + per * (size_t)il;
        unsigned char *nv = nk + (size_t)RT_PREFIX_BLOCK * (size_t)pc->kd * es;
        size_t p0 = b * RT_PREFIX_BLOCK + (size_t)from;
        unsigned char *kk = (unsigned char *)kv->k[il] + p0 * (size_t)pc->kd * es;
        unsigned char *ck = nk + (size_t)from * (size_t)pc->kd * es;
        if (to_kv)
            memcpy(kk, ck, es * cnt * (size_t)pc->kd);
        else
            memcpy(ck, kk, es * cnt * (size_t)pc->kd);
        if (pc->vd > 0) {
            unsigned char *vv = (unsigned char *)kv->v[il] + p0 * (size_t)pc->vd * es;
            unsigned char *cv = nv + (size_t)from * (size_t)pc->vd * es;
            if (to_kv)
                memcpy(vv, cv, es * cnt * (size_t)pc->vd);
            else
                memcpy(cv, vv, es * cnt * (size_t)pc->vd);
        }
    }
}

size_t rt_prefix_cache_load(rt_prefix_cache *pc, rt_session *s, const int32_t *ids, size_t n,
                            size_t max_tokens)
{
    size_t have = rt_session_common_prefix(s, ids, n);
    if (max_tokens > n) max_tokens = n;
    if (max_tokens > (size_t)rt_session_n_ctx(s)) max_tokens = (size_t)rt_session_n_ctx(s);
    pc->st.lookups++;
    pc->tick++;
    /* walk the matching blocks, marking them used */
    size_t nb = 0;
    pc_node *cur = &pc->root;
    pc_node *path[4096];
    while ((nb + 1) * RT_PREFIX_BLOCK <= max_tokens && nb < sizeof path / sizeof path[0]) {
        pc_node *c = node_child(cur, ids + nb * RT_PREFIX_BLOCK);
        if (!c) break;
        c->used = pc->tick;
        path[nb++] = cur = c;
    }
    size_t got = nb * RT_PREFIX_BLOCK;
    if (got <= have) return have < max_tokens ? have : max_tokens;
    rt_kv *kv = rt_session_kv(s);
    for (size_t b = have / RT_PREFIX_BLOCK; b < nb; b++) {
        int32_t from = b == have / RT_PREFIX_BLOCK ? (int32_t)(have % RT_PREFIX_BLOCK) : 0;
        node_copy(pc, path[b], kv, b, from, true);
    }
    rt_session_set_prefix(s, ids, (int32_t)got);
    pc->st.hits++;
    pc->st.tokens_reused += got - have;
    return got;
}

static void node_unlink(rt_prefix_cache *pc, pc_node *n)
{
    pc_node *p = n->parent;
    for (size_t i = 0; i < p->n_kids; i++) {
        if (p->kids[i] == n) {
            p->kids[i] = p->kids[--p->n_kids];
            break;
        }
    }
    pc->all[n->idx] = pc->all[--pc->n_all];
    pc->all[n->idx]->idx = n->idx;
    node_free(n);
    pc->st.bytes -= pc->node_bytes;
    pc->st.blocks--;
}

/* Drops the least recently used leaf not touched in this tick; false when
 * every leaf is on the path being stored. */
static bool evict_one(rt_prefix_cache *pc)
{
    pc_node *best = NULL;
    for (size_t i = 0; i < pc->n_all; i++) {
        pc_node *n = pc->all[i];
        if (n->n_kids == 0 && n->used < pc->tick && (!best || n->used < best->used)) best = n;
    }
    if (!best) return false;
    node_unlink(pc, best);
    pc->st.evictions++;
    return true;
}

static pc_node *node_add(rt_prefix_cache *pc, pc_node *parent, const int32_t *toks)
{
    while (pc->st.bytes + pc->node_bytes > pc->max_bytes)
        if (!evict_one(pc)) return NULL;
    if (pc->n_all == pc->cap_all) {
        size_t cap = pc->cap_all ? pc->cap_all * 2 : 64;
        pc_node **a = realloc(pc->all, cap * sizeof *a);
        if (!a) return NULL;
        pc->all = a;
        pc->cap_all = cap;
    }
    if (parent->n_kids == parent->cap_kids) {
        size_t cap = parent->cap_kids ? parent->cap_kids * 2 : 2;
        pc_node **k = realloc(parent->kids, cap * sizeof *k);
        if (!k) return NULL;
        parent->kids = k;
        parent->cap_kids = cap;
    }
    pc_node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->rows = malloc(pc->node_bytes);
    if (!n->rows) {
        free(n);
        return NULL;
    }
    memcpy(n->toks, toks, sizeof n->toks);
    n->parent = parent;
    n->used = pc->tick;
    n->idx = pc->n_all;
    pc->all[pc->n_all++] = n;
    parent->kids[parent->n_kids++] = n;
    pc->st.bytes += pc->node_bytes;
    pc->st.blocks++;
    return n;
}

void rt_prefix_cache_store(rt_prefix_cache *pc, rt_session *s, const int32_t *ids, size_t n)
{
    size_t held = rt_session_common_prefix(s, ids, n);
    size_t nb = held / RT_PREFIX_BLOCK;
    if (nb == 0 || pc->node_bytes > pc->max_bytes) return;
    pc->tick++;
    rt_kv *kv = rt_session_kv(s);
    pc_node *cur = &pc->root;
    for (size_t b = 0; b < nb; b++) {
        const int32_t *toks = ids + b * RT_PREFIX_BLOCK;
        pc_node *c = node_child(cur, toks);
        if (!c) {
            c = node_add(pc, cur, toks);
            if (!c) return; /* no room without evicting this very prefix */
            node_copy(pc, c, kv, b, 0, false);
            pc->st.stored_blocks++;
        }
        c->used = pc->tick;
        cur = c;
    }
}

void rt_prefix_cache_get_stats(const rt_prefix_cache *pc, rt_prefix_cache_stats *st)
{
    *st = pc->st;
}
