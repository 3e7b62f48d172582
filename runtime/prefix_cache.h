/* prefix_cache.h - private: KV blocks keyed by token prefix, shared by the
 * slots of one rt_batch (runtime/prefix_cache.c). Not thread-safe: only the
 * batch's engine thread uses it. */
#ifndef SWARM_RT_PREFIX_CACHE_H
#define SWARM_RT_PREFIX_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "rt.h"

/* Tokens per cached block: a prefix is reused in whole blocks. */
#define RT_PREFIX_BLOCK 32

typedef struct rt_prefix_cache rt_prefix_cache;

typedef struct {
    uint64_t lookups, hits, tokens_reused, evictions, stored_blocks;
    size_t bytes, blocks, max_bytes;
} rt_prefix_cache_stats;

int rt_prefix_cache_new(const rt_model *m, size_t max_bytes, rt_prefix_cache **out, char *err,
                        size_t errlen);
/* The same for slots whose KV rows are of kv_type (rt_prefix_cache_new: F32). */
int rt_prefix_cache_new_kv(const rt_model *m, rt_kv_type kv_type, size_t max_bytes,
                           rt_prefix_cache **out, char *err, size_t errlen);
void rt_prefix_cache_free(rt_prefix_cache *pc);
/* Copies into s the KV of the longest cached prefix of ids[0..max_tokens)
 * (whole blocks) where it is longer than what s already holds of ids, and
 * returns how many leading positions of s now hold ids. */
size_t rt_prefix_cache_load(rt_prefix_cache *pc, rt_session *s, const int32_t *ids, size_t n,
                            size_t max_tokens);
/* Stores the whole blocks of ids[0..n) that s holds (s's first n positions
 * must hold ids), evicting least recently used blocks to stay under the
 * bound; blocks already cached are only marked used. */
void rt_prefix_cache_store(rt_prefix_cache *pc, rt_session *s, const int32_t *ids, size_t n);
void rt_prefix_cache_get_stats(const rt_prefix_cache *pc, rt_prefix_cache_stats *st);

#endif
