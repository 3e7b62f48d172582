/* session.c - one sequence over a model: its KV cache, position and the
 * last logits row (so generation can resume after an eval). Evaluation is
 * all-or-nothing: ids and context room are checked before anything runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

struct rt_session {
    const rt_model *m;
    rt_kv kv;
    rt_scratch s;
    int32_t n_ctx, pos;
    float *last; /* logits after the last evaluated token */
    bool have_last;
    int32_t *hist; /* the token at each cached position (for prefix reuse) */
};

int rt_session_new(const rt_model *m, int32_t n_ctx, rt_session **out, char *err, size_t errlen)
{
    return rt_session_new_kv(m, n_ctx, RT_KV_F32, out, err, errlen);
}

int rt_session_new_kv(const rt_model *m, int32_t n_ctx, rt_kv_type kv_type, rt_session **out,
                      char *err, size_t errlen)
{
    *out = NULL;
    if (n_ctx < 0) {
        snprintf(err, errlen, "n_ctx %d is negative", n_ctx);
        return -1;
    }
    if (n_ctx == 0) n_ctx = m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096;
    if (n_ctx <= 0) n_ctx = 4096;
    rt_session *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->m = m;
    s->n_ctx = n_ctx;
    if (kv_type != RT_KV_F32 && kv_type != RT_KV_F16) {
        snprintf(err, errlen, "unknown KV type %d (f32 or f16)", (int)kv_type);
        free(s);
        return -1;
    }
    if (rt_kv_init(&s->kv, m, n_ctx, kv_type) != 0) {
        snprintf(err, errlen, "%s: cannot allocate a %s KV cache of %zu bytes for %d positions",
                 m->name, rt_kv_type_name(kv_type), rt_kv_bytes_type(m, n_ctx, kv_type), n_ctx);
        free(s);
        return -1;
    }
    if (rt_scratch_init(m, &s->s, n_ctx) != 0) goto oom;
    s->last = calloc((size_t)m->hp.n_vocab, sizeof(float));
    s->hist = calloc((size_t)n_ctx, sizeof(int32_t));
    if (!s->last || !s->hist) goto oom;
    *out = s;
    return 0;
oom:
    if (s) {
        rt_kv_free(&s->kv);
        rt_scratch_free(&s->s);
        free(s->last);
        free(s->hist);
        free(s);
    }
    snprintf(err, errlen, "out of memory creating a session");
    return -1;
}

void rt_session_free(rt_session *s)
{
    if (!s) return;
    rt_kv_free(&s->kv);
    rt_scratch_free(&s->s);
    free(s->last);
    free(s->hist);
    free(s);
}

void rt_session_reset(rt_session *s)
{
    s->pos = 0;
    s->have_last = false;
}

int32_t rt_session_pos(const rt_session *s)
{
    return s->pos;
}

int32_t rt_session_n_ctx(const rt_session *s)
{
    return s->n_ctx;
}

const rt_model *rt_session_model(const rt_session *s)
{
    return s->m;
}

const float *rt_session_last_logits(const rt_session *s)
{
    return s->have_last ? s->last : NULL;
}

int rt_session_eval(rt_session *s, const int32_t *tokens, size_t n, float *logits_all,
                    float *logits_last, char *err, size_t errlen)
{
    const int32_t nv = s->m->hp.n_vocab;
    if (n == 0) return 0;
    if (n > (size_t)(s->n_ctx - s->pos)) {
        snprintf(err, errlen,
                 "context overflow: %zu tokens at position %d exceed the session's n_ctx %d", n,
                 s->pos, s->n_ctx);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= nv) {
            snprintf(err, errlen, "token id %d at index %zu is out of range [0, %d)", tokens[i], i,
                     nv);
            return -1;
        }
    }
    for (size_t i = 0; i < n; i += RT_BATCH) {
        int32_t nb = (int32_t)(n - i < RT_BATCH ? n - i : RT_BATCH);
        bool last_chunk = i + (size_t)nb == n;
        if (rt_forward_batch(s->m, &s->s, s->kv.k, s->kv.v, s->kv.type, s->n_ctx, tokens + i, nb,
                             s->pos, logits_all ? logits_all + i * (size_t)nv : NULL,
                             last_chunk ? s->last : NULL) != 0) {
            snprintf(err, errlen, "forward pass failed at position %d", s->pos);
            return -1;
        }
        memcpy(s->hist + s->pos, tokens + i, sizeof(int32_t) * (size_t)nb);
        s->pos += nb;
    }
    s->have_last = true;
    if (logits_last) memcpy(logits_last, s->last, sizeof(float) * (size_t)nv);
    return 0;
}

int rt_sessions_decode(rt_session *const *ss, const int32_t *tokens, size_t n, float *const *logits,
                       char *err, size_t errlen)
{
    if (n == 0) return 0;
    const rt_model *m = ss[0]->m;
    const int32_t nv = m->hp.n_vocab;
    for (size_t i = 0; i < n; i++) {
        if (ss[i]->m != m) {
            snprintf(err, errlen, "session %zu runs a different model than session 0", i);
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            if (ss[j] == ss[i]) {
                snprintf(err, errlen, "session %zu appears twice in one decode batch", i);
                return -1;
            }
        }
        if (ss[i]->pos >= ss[i]->n_ctx) {
            snprintf(err, errlen, "context overflow: session %zu is full (n_ctx %d)", i,
                     ss[i]->n_ctx);
            return -1;
        }
        if (tokens[i] < 0 || tokens[i] >= nv) {
            snprintf(err, errlen, "token id %d for session %zu is out of range [0, %d)", tokens[i],
                     i, nv);
            return -1;
        }
    }
    float *out = malloc(sizeof(float) * (size_t)nv * (n < RT_BATCH ? n : RT_BATCH));
    if (!out) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i += RT_BATCH) {
        int32_t nb = (int32_t)(n - i < RT_BATCH ? n - i : RT_BATCH);
        rt_row rows[RT_BATCH];
        for (int32_t b = 0; b < nb; b++) {
            rt_session *s = ss[i + (size_t)b];
            rows[b] = (rt_row){s->kv.k, s->kv.v, s->pos, s->kv.type};
        }
        if (rt_forward_rows(m, &ss[i]->s, rows, tokens + i, nb, out) != 0) {
            snprintf(err, errlen, "forward pass failed");
            free(out);
            return -1;
        }
        for (int32_t b = 0; b < nb; b++) {
            rt_session *s = ss[i + (size_t)b];
            memcpy(s->last, out + (size_t)b * (size_t)nv, sizeof(float) * (size_t)nv);
            s->have_last = true;
            s->hist[s->pos++] = tokens[i + (size_t)b];
            if (logits && logits[i + (size_t)b])
                memcpy(logits[i + (size_t)b], s->last, sizeof(float) * (size_t)nv);
        }
    }
    free(out);
    return 0;
}

void rt_session_truncate(rt_session *s, int32_t n)
{
    if (n < 0) n = 0;
    if (n < s->pos) {
        /* later rows are simply overwritten; the last logits no longer apply */
        s->pos = n;
        s->have_last = false;
    }
}

size_t rt_session_reuse_prefix(rt_session *s, const int32_t *ids, size_t n)
{
    size_t k = 0;
    while (k < n && k < (size_t)s->pos && s->hist[k] == ids[k])
        k++;
    /* keep one token to evaluate so the caller gets fresh logits */
    if (k == n && k > 0) k--;
    rt_session_truncate(s, (int32_t)k);
    return k;
}

rt_kv *rt_session_kv(rt_session *s)
{
    return &s->kv;
}

const int32_t *rt_session_tokens(const rt_session *s)
{
    return s->hist;
}

void rt_session_set_prefix(rt_session *s, const int32_t *ids, int32_t n)
{
    if (n < 0) n = 0;
    if (n > s->n_ctx) n = s->n_ctx;
    memmove(s->hist, ids, sizeof(int32_t) * (size_t)n);
    s->pos = n;
    s->have_last = false; /* the logits after ids[n-1] were not computed here */
}

size_t rt_session_common_prefix(const rt_session *s, const int32_t *ids, size_t n)
{
    size_t k = 0;
    while (k < n && k < (size_t)s->pos && s->hist[k] == ids[k])
        k++;
    return k;
}

int rt_sessions_forward(rt_session *const *ss, const int32_t *const *toks, const size_t *counts,
                        const bool *want_logits, size_t n, char *err, size_t errlen)
{
    if (n == 0) return 0;
    const rt_model *m = ss[0]->m;
    const int32_t nv = m->hp.n_vocab;
    const int64_t E = m->hp.n_embd;
    size_t total = 0, n_want = 0;
    for (size_t i = 0; i < n; i++) {
        if (ss[i]->m != m) {
            snprintf(err, errlen, "session %zu runs a different model than session 0", i);
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            if (ss[j] == ss[i]) {
                snprintf(err, errlen, "session %zu appears twice in one forward pass", i);
                return -1;
            }
        }
        if (counts[i] == 0 || counts[i] > (size_t)(ss[i]->n_ctx - ss[i]->pos)) {
            snprintf(err, errlen,
                     "context overflow: %zu tokens for session %zu at position %d (n_ctx %d)",
                     counts[i], i, ss[i]->pos, ss[i]->n_ctx);
            return -1;
        }
        for (size_t j = 0; j < counts[i]; j++) {
            if (toks[i][j] < 0 || toks[i][j] >= nv) {
                snprintf(err, errlen, "token id %d for session %zu is out of range [0, %d)",
                         toks[i][j], i, nv);
                return -1;
            }
        }
        total += counts[i];
        if (!want_logits || want_logits[i]) n_want++;
    }
    if (total > RT_BATCH) {
        snprintf(err, errlen, "%zu rows exceed one forward pass (%d)", total, RT_BATCH);
        return -1;
    }
    rt_row rows[RT_BATCH];
    int32_t tk[RT_BATCH];
    size_t r = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < counts[i]; j++, r++) {
            rows[r] = (rt_row){ss[i]->kv.k, ss[i]->kv.v, ss[i]->pos + (int32_t)j, ss[i]->kv.type};
            tk[r] = toks[i][j];
        }
    }
    rt_scratch *sc = &ss[0]->s;
    /* no logits_all: the output head runs below only for the rows asked for
     * (a prefill chunk's inner rows need none) */
    if (rt_forward_rows(m, sc, rows, tk, (int32_t)total, NULL) != 0) {
        snprintf(err, errlen, "forward pass failed");
        return -1;
    }
    float *out = n_want ? malloc(sizeof(float) * (size_t)nv * n_want) : NULL;
    if (n_want && !out) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t w = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        last += counts[i];
        if (want_logits && !want_logits[i]) continue;
        rt_rmsnorm(sc->xn + (int64_t)w * E, sc->x + (int64_t)(last - 1) * E, &m->output_norm, E,
                   m->hp.rms_eps);
        w++;
    }
    if (n_want) rt_matmul(m->pool, out, nv, &m->output, 0, sc->xn, E, (int64_t)n_want);
    w = 0;
    for (size_t i = 0; i < n; i++) {
        rt_session *s = ss[i];
        memcpy(s->hist + s->pos, toks[i], sizeof(int32_t) * counts[i]);
        s->pos += (int32_t)counts[i];
        if (want_logits && !want_logits[i]) {
            s->have_last = false;
            continue;
        }
        memcpy(s->last, out + w * (size_t)nv, sizeof(float) * (size_t)nv);
        s->have_last = true;
        w++;
    }
    free(out);
    return 0;
}
