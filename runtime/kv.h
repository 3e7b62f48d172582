/* kv.h - private: the per-session KV cache (F32 or F16 rows). */
#ifndef SWARM_RT_KV_H
#define SWARM_RT_KV_H

#include "model.h"

typedef struct {
    int32_t n_layer, n_ctx;
    rt_kv_type type; /* element type of every row */
    void **k, **v;   /* [n_layer] -> [n_ctx][kv_k_dim | kv_v_dim] elements of type */
} rt_kv;

int rt_kv_init(rt_kv *kv, const rt_model *m, int32_t n_ctx, rt_kv_type type);
void rt_kv_free(rt_kv *kv);
/* Bytes of n_ctx positions, F32 (rt_kv_bytes) or of a type. */
size_t rt_kv_bytes(const rt_model *m, int32_t n_ctx);
size_t rt_kv_bytes_type(const rt_model *m, int32_t n_ctx, rt_kv_type type);
/* Bytes of one element of a KV row of this type. */
size_t rt_kv_elem_size(rt_kv_type type);

/* Session internals for the batch engine and the prefix cache (session.c):
 * the KV rows, the token held at each cached position, and marking the
 * first n positions as holding ids once their KV rows were written by
 * someone else (copied from the prefix cache). */
rt_kv *rt_session_kv(rt_session *s);
const int32_t *rt_session_tokens(const rt_session *s);
void rt_session_set_prefix(rt_session *s, const int32_t *ids, int32_t n);
/* One forward pass over several sessions of one model: session i gets its
 * next counts[i] tokens toks[i] (a prefill chunk or one decode token), all
 * rows together at most RT_BATCH, so a worker's decoding sequences and a
 * joining sequence's prompt share one read of the weights. The logits after
 * each session's last row are computed where want_logits[i] (NULL = all)
 * and become its last logits. All-or-nothing like rt_sessions_decode. */
int rt_sessions_forward(rt_session *const *ss, const int32_t *const *toks, const size_t *counts,
                        const bool *want_logits, size_t n, char *err, size_t errlen);
/* Length of the common prefix of the cached tokens and ids[0..n). */
size_t rt_session_common_prefix(const rt_session *s, const int32_t *ids, size_t n);

#endif
