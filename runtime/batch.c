/* batch.c - continuous batching: the sequences of many requests decoded
 * together over one model, so a worker's agent slots share every read of the
 * weights (one rt_sessions_decode pass per step, tokens routed to the same
 * expert multiplied together) instead of each slot running its own forward
 * pass.
 *
 * Requests are queued from any thread under one mutex; a single engine
 * thread owns the slots' sessions, samplers and the prefix cache, so none of
 * those need locks. Each step: admit queued requests into free slots while
 * their KV reservation (prompt + n_predict positions) fits the budget (FIFO:
 * a large request at the head is not overtaken, so it cannot starve), sample
 * one token for every running sequence, and evaluate those tokens together
 * with prefill chunks of joining sequences in one forward pass
 * (rt_sessions_forward: up to RT_BATCH rows, weights read once; "chunked
 * prefill", so a long prompt joining never stalls the others' decoding). A sequence leaves as
 * soon as it stops; its slot keeps the KV so the next request with the same
 * prompt head reuses it, and the prefix cache keeps whole blocks of finished
 * prompts for the other slots.
 *
 * Generation follows rt_generate (stop strings, end-of-generation, grammar
 * completion when n_predict runs out, streamed bytes held back while they may
 * grow into a stop string), so greedy results are identical to it. The last
 * sampled token of a sequence is never evaluated: nothing would read its
 * logits. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gen_text.h"
#include "grammar/grammar.h"
#include "kv.h"
#include "model.h"
#include "prefix_cache.h"
#include "swarm_clock.h"

typedef enum { SEQ_QUEUED, SEQ_PREFILL, SEQ_DECODE } seq_state;

typedef struct seq {
    struct seq *next; /* queue link */
    rt_batch_request req;
    int32_t *prompt;
    char **stops; /* NULL-terminated copies, or NULL */
    rt_sampler *smp;
    gmasker *gm;
    int32_t *ids; /* prompt then generated ids (the sampler's history) */
    size_t n_prompt, n_gen, cap;
    int32_t n_pred;
    size_t reserve; /* KV positions reserved */
    rt_textbuf text;
    size_t emitted;
    int32_t last_id;
    bool stopped;
    seq_state state;
    int slot;
    size_t done_prompt; /* prompt positions the session holds */
    double t_submit;
    bool waited, complete; /* rt_batch_generate's handshake */
    rt_batch_result res;
} seq;

struct rt_batch {
    const rt_model *m;
    rt_batch_params p;
    int32_t n_ctx;
    rt_session **sess;
    seq **slot_seq;
    size_t bpt, budget_tokens, reserved_tokens;
    rt_prefix_cache *pc;
    float *logits;
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    seq *qhead, *qtail;
    int32_t n_queued, n_running;
    pthread_t thr;
    bool started, stopping;
    uint64_t steps, decoded, prefilled, finished;
    rt_prefix_cache_stats pc_snap; /* copied under mu after each step, for other threads */
};

int rt_batch_new(const rt_model *m, const rt_batch_params *p, rt_batch **out, char *err,
                 size_t errlen)
{
    *out = NULL;
    if (!p || p->n_slots < 1 || p->n_slots > 1024) {
        snprintf(err, errlen, "batch: n_slots must be between 1 and 1024");
        return -1;
    }
    rt_batch *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory creating the batch engine");
        return -1;
    }
    b->m = m;
    b->p = *p;
    if (b->p.prefill_chunk <= 0) b->p.prefill_chunk = 256;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->work_cv, NULL);
    pthread_cond_init(&b->done_cv, NULL);
    b->sess = calloc((size_t)p->n_slots, sizeof *b->sess);
    b->slot_seq = calloc((size_t)p->n_slots, sizeof *b->slot_seq);
    b->logits = malloc(sizeof(float) * (size_t)m->hp.n_vocab);
    if (!b->sess || !b->slot_seq || !b->logits) {
        snprintf(err, errlen, "out of memory creating the batch engine");
        goto fail;
    }
    for (int32_t i = 0; i < p->n_slots; i++)
        if (rt_session_new_kv(m, p->n_ctx, p->kv_type, &b->sess[i], err, errlen) != 0) goto fail;
    b->n_ctx = rt_session_n_ctx(b->sess[0]);
    b->bpt = rt_kv_bytes_per_token_type(m, p->kv_type);
    /* KV pages are touched only as positions fill, so the budget bounds
     * what running sequences may reserve rather than what is allocated */
    size_t full = (size_t)p->n_slots * (size_t)b->n_ctx;
    b->budget_tokens = p->kv_budget_bytes ? p->kv_budget_bytes / (b->bpt ? b->bpt : 1) : full;
    if (p->prefix_cache_bytes &&
        rt_prefix_cache_new_kv(m, p->kv_type, p->prefix_cache_bytes, &b->pc, err, errlen) != 0)
        goto fail;
    *out = b;
    return 0;
fail:
    rt_batch_free(b);
    return -1;
}

int32_t rt_batch_n_ctx(const rt_batch *b)
{
    return b->n_ctx;
}

static void seq_free(seq *s)
{
    if (!s) return;
    free(s->prompt);
    for (size_t i = 0; s->stops && s->stops[i]; i++)
        free(s->stops[i]);
    free(s->stops);
    rt_sampler_free(s->smp);
    free(s->ids);
    free(s->text.p);
    rt_batch_result_free(&s->res);
    free(s);
}

void rt_batch_result_free(rt_batch_result *r)
{
    if (!r) return;
    free(r->ids);
    free(r->text);
    r->ids = NULL;
    r->text = NULL;
    r->n_ids = 0;
}

/* Hands the result over (engine thread, or rt_batch_free): to a blocked
 * rt_batch_generate, or to on_done; the seq is freed by whoever ends up
 * owning it. */
static void seq_deliver(rt_batch *b, seq *s)
{
    pthread_mutex_lock(&b->mu);
    b->finished++;
    if (s->waited) {
        s->complete = true;
        pthread_cond_broadcast(&b->done_cv);
        pthread_mutex_unlock(&b->mu);
        return;
    }
    pthread_mutex_unlock(&b->mu);
    if (s->req.on_done) {
        rt_batch_result r = s->res;
        memset(&s->res, 0, sizeof s->res);
        s->req.on_done(s->req.done_ud, &r);
    }
    seq_free(s);
}

static void seq_fail(seq *s, const char *msg)
{
    s->res.rc = -1;
    snprintf(s->res.err, sizeof s->res.err, "%s", msg);
}

void rt_batch_free(rt_batch *b)
{
    if (!b) return;
    pthread_mutex_lock(&b->mu);
    b->stopping = true;
    pthread_cond_broadcast(&b->work_cv);
    pthread_mutex_unlock(&b->mu);
    if (b->started) pthread_join(b->thr, NULL);
    for (int32_t i = 0; b->slot_seq && i < b->p.n_slots; i++) {
        if (b->slot_seq[i]) {
            seq_fail(b->slot_seq[i], "the batch engine shut down");
            seq_deliver(b, b->slot_seq[i]);
        }
    }
    while (b->qhead) {
        seq *s = b->qhead;
        b->qhead = s->next;
        seq_fail(s, "the batch engine shut down");
        seq_deliver(b, s);
    }
    for (int32_t i = 0; b->sess && i < b->p.n_slots; i++)
        rt_session_free(b->sess[i]);
    free(b->sess);
    free(b->slot_seq);
    free(b->logits);
    rt_prefix_cache_free(b->pc);
    pthread_cond_destroy(&b->work_cv);
    pthread_cond_destroy(&b->done_cv);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static seq *seq_make(rt_batch *b, const rt_batch_request *r, char *err, size_t errlen)
{
    if (!r->prompt || r->n_prompt == 0) {
        snprintf(err, errlen, "batch: the prompt is empty");
        return NULL;
    }
    int32_t n_pred = r->gen.n_predict > 0 ? r->gen.n_predict : 0;
    const int32_t nv = b->m->hp.n_vocab;
    for (size_t i = 0; i < r->n_prompt; i++) {
        if (r->prompt[i] < 0 || r->prompt[i] >= nv) {
            snprintf(err, errlen, "token id %d at index %zu is out of range [0, %d)", r->prompt[i],
                     i, nv);
            return NULL;
        }
    }
    if (r->n_prompt + (size_t)n_pred > (size_t)b->n_ctx) {
        snprintf(err, errlen,
                 "prompt of %zu tokens + n_predict %d does not fit the context of %d tokens",
                 r->n_prompt, n_pred, b->n_ctx);
        return NULL;
    }
    size_t reserve = r->n_prompt + (size_t)n_pred;
    if (reserve > b->budget_tokens) {
        snprintf(err, errlen,
                 "the KV of %zu positions (%zu bytes) exceeds the batch's whole KV budget of %zu "
                 "bytes; shorten the prompt or max tokens, or raise the budget",
                 reserve, reserve * b->bpt, b->budget_tokens * b->bpt);
        return NULL;
    }
    seq *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->req = *r;
    s->n_pred = n_pred;
    s->reserve = reserve;
    s->n_prompt = r->n_prompt;
    s->cap = r->n_prompt + (size_t)n_pred + 1;
    s->prompt = malloc(sizeof(int32_t) * r->n_prompt);
    s->ids = malloc(sizeof(int32_t) * s->cap);
    if (!s->prompt || !s->ids) goto oom;
    memcpy(s->prompt, r->prompt, sizeof(int32_t) * r->n_prompt);
    memcpy(s->ids, r->prompt, sizeof(int32_t) * r->n_prompt);
    s->req.prompt = s->prompt;
    if (r->gen.stops) {
        size_t n = 0;
        while (r->gen.stops[n])
            n++;
        s->stops = calloc(n + 1, sizeof *s->stops);
        if (!s->stops) goto oom;
        for (size_t i = 0; i < n; i++)
            if (!(s->stops[i] = strdup(r->gen.stops[i]))) goto oom;
    }
    s->req.gen.stops = (const char *const *)s->stops;
    s->smp = rt_sampler_new(&r->sampling);
    if (!s->smp) goto oom;
    if (r->grammar) {
        if (rt_sampler_set_grammar_opts(s->smp, b->m, r->grammar, &r->grammar_opts, err, errlen) !=
            0) {
            seq_free(s);
            return NULL;
        }
        s->gm = rt_sampler_masker(s->smp);
        if (s->gm && gmasker_reset(s->gm) != 0) goto oom;
    }
    if (rt_textbuf_add(&s->text, "", 0) != 0) goto oom;
    s->last_id = -1;
    s->slot = -1;
    s->t_submit = swarm_clock_sec();
    s->res.t_first_s = -1;
    return s;
oom:
    seq_free(s);
    snprintf(err, errlen, "out of memory queueing a request");
    return NULL;
}

static void seq_enqueue(rt_batch *b, seq *s)
{
    if (b->qtail)
        b->qtail->next = s;
    else
        b->qhead = s;
    b->qtail = s;
    b->n_queued++;
    pthread_cond_signal(&b->work_cv);
}

int rt_batch_submit(rt_batch *b, const rt_batch_request *r, char *err, size_t errlen)
{
    seq *s = seq_make(b, r, err, errlen);
    if (!s) return -1;
    pthread_mutex_lock(&b->mu);
    if (b->stopping) {
        pthread_mutex_unlock(&b->mu);
        seq_free(s);
        snprintf(err, errlen, "the batch engine is shutting down");
        return -1;
    }
    seq_enqueue(b, s);
    pthread_mutex_unlock(&b->mu);
    return 0;
}

int rt_batch_generate(rt_batch *b, const rt_batch_request *r, rt_batch_result *res)
{
    memset(res, 0, sizeof *res);
    seq *s = seq_make(b, r, res->err, sizeof res->err);
    if (!s) return res->rc = -1;
    s->waited = true;
    pthread_mutex_lock(&b->mu);
    if (b->stopping || !b->started) {
        pthread_mutex_unlock(&b->mu);
        seq_free(s);
        snprintf(res->err, sizeof res->err, "the batch engine is not running");
        return res->rc = -1;
    }
    seq_enqueue(b, s);
    while (!s->complete)
        pthread_cond_wait(&b->done_cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
    *res = s->res;
    memset(&s->res, 0, sizeof s->res);
    seq_free(s);
    return res->rc;
}

/* Engine thread: the slot for a newly admitted sequence is the free one
 * already holding the longest head of its prompt. */
static int pick_slot(rt_batch *b, const seq *s)
{
    int best = -1;
    size_t best_k = 0;
    for (int32_t i = 0; i < b->p.n_slots; i++) {
        if (b->slot_seq[i]) continue;
        size_t k = rt_session_common_prefix(b->sess[i], s->prompt, s->n_prompt);
        if (best < 0 || k > best_k) {
            best = i;
            best_k = k;
        }
    }
    return best;
}

/* Engine thread: reuse what the slot and the prefix cache hold of the prompt
 * (at most n - 1 positions, so the last prompt token yields fresh logits). */
static void seq_start(rt_batch *b, seq *s)
{
    rt_session *ss = b->sess[s->slot];
    size_t k = rt_session_reuse_prefix(ss, s->prompt, s->n_prompt);
    if (b->pc) k = rt_prefix_cache_load(b->pc, ss, s->prompt, s->n_prompt, s->n_prompt - 1);
    s->done_prompt = k;
    s->res.n_reused = k;
    s->state = SEQ_PREFILL;
}

/* Ends generation as rt_generate does: grammar completion when the output
 * cannot end yet, the held-back bytes streamed, ids and text handed over. */
static void seq_finish(rt_batch *b, seq *s)
{
    if (s->res.rc == 0 && s->gm && !s->stopped && !rt_grammar_state_can_end(gmasker_state(s->gm))) {
        char *tail = NULL;
        int n = rt_grammar_state_complete(gmasker_state(s->gm), &tail);
        if (n < 0 || rt_textbuf_add(&s->text, tail, (size_t)n) != 0) {
            seq_fail(s, "grammar: the output cannot be completed to a sentence");
        } else {
            int32_t *spell = NULL;
            int k = gmasker_spell(s->gm, tail, (size_t)n, &spell);
            if (k > 0 && s->n_prompt + s->n_gen + (size_t)k > s->cap) {
                size_t nc = s->n_prompt + s->n_gen + (size_t)k;
                int32_t *p = realloc(s->ids, sizeof *p * nc);
                if (p) {
                    s->ids = p;
                    s->cap = nc;
                } else {
                    k = 0;
                }
            }
            for (int i = 0; i < k; i++) {
                gmasker_accept(s->gm, spell[i]);
                s->ids[s->n_prompt + s->n_gen++] = spell[i];
                s->last_id = spell[i];
            }
            free(spell);
        }
        free(tail);
    }
    if (s->res.rc == 0 && s->req.gen.on_token && s->text.len > s->emitted)
        s->req.gen.on_token(s->req.gen.ud, s->last_id, s->text.p + s->emitted,
                            s->text.len - s->emitted);
    if (s->res.rc >= 0) {
        s->res.ids = malloc(sizeof(int32_t) * (s->n_gen ? s->n_gen : 1));
        if (!s->res.ids) {
            seq_fail(s, "out of memory");
        } else {
            if (s->n_gen) memcpy(s->res.ids, s->ids + s->n_prompt, sizeof(int32_t) * s->n_gen);
            s->res.n_ids = s->n_gen;
            s->res.text = s->text.p;
            s->text.p = NULL;
        }
    }
    pthread_mutex_lock(&b->mu);
    b->slot_seq[s->slot] = NULL;
    b->reserved_tokens -= s->reserve;
    b->n_running--;
    pthread_mutex_unlock(&b->mu);
    seq_deliver(b, s);
}

/* Samples the next token of a running sequence from its session's last
 * logits (rt_generate's loop body). Returns 1 when the sequence continues
 * (the token goes into this step's decode), 0 when it is finished. */
static int seq_sample(rt_batch *b, seq *s)
{
    const rt_model *m = b->m;
    const int32_t nv = m->hp.n_vocab;
    rt_session *ss = b->sess[s->slot];
    if (s->n_gen >= (size_t)s->n_pred) return 0;
    if (s->gm && rt_grammar_state_done(gmasker_state(s->gm))) return 0;
    memcpy(b->logits, rt_session_last_logits(ss), sizeof(float) * (size_t)nv);
    int32_t id = rt_sampler_sample(s->smp, b->logits, nv, s->ids, s->n_prompt + s->n_gen);
    if (s->res.t_first_s < 0) s->res.t_first_s = swarm_clock_sec() - s->t_submit;
    if (id == RT_SAMPLER_NO_TOKEN) return 0;
    if (id < 0) {
        seq_fail(s, "sampler failed");
        return 0;
    }
    if ((s->req.gen.stop_at_eog || s->gm) && rt_model_is_eog(m, id)) return 0;
    s->ids[s->n_prompt + s->n_gen++] = id;
    char piece[256];
    int pl = rt_token_piece(m, id, piece, sizeof piece);
    if (pl < 0) pl = 0;
    if (pl > (int)sizeof piece) pl = (int)sizeof piece;
    if (rt_textbuf_add(&s->text, piece, (size_t)pl) != 0) {
        seq_fail(s, "out of memory");
        return 0;
    }
    const char *const *stops = s->req.gen.stops;
    rt_token_cb cb = s->req.gen.on_token;
    long stop = rt_text_find_stop(&s->text, (size_t)pl, stops);
    if (stop >= 0) {
        if (cb && (size_t)stop > s->emitted)
            cb(s->req.gen.ud, id, s->text.p + s->emitted, (size_t)stop - s->emitted);
        s->emitted = s->text.len = (size_t)stop;
        s->text.p[s->text.len] = 0;
        s->stopped = true;
        return 0;
    }
    size_t safe = s->text.len - rt_text_stop_prefix_len(&s->text, stops);
    if (cb && (safe > s->emitted || !stops)) {
        if (cb(s->req.gen.ud, id, s->text.p + s->emitted, safe - s->emitted) != 0) {
            s->emitted = s->text.len;
            s->stopped = true;
            s->res.rc = 1;
            return 0;
        }
    }
    if (safe > s->emitted) s->emitted = safe;
    s->last_id = id;
    return s->n_gen < (size_t)s->n_pred ? 1 : 0;
}

int rt_batch_step(rt_batch *b, char *err, size_t errlen)
{
    const int32_t N = b->p.n_slots;
    /* 1. sample one token for every decoding sequence: one row each */
    rt_session *pss[N > 0 ? N : 1];
    const int32_t *ptok[N > 0 ? N : 1];
    size_t pcnt[N > 0 ? N : 1];
    bool pwant[N > 0 ? N : 1];
    seq *pseq[N > 0 ? N : 1];
    size_t ne = 0, nd = 0;
    for (int32_t i = 0; i < N; i++) {
        seq *s = b->slot_seq[i];
        if (!s || s->state != SEQ_DECODE) continue;
        if (seq_sample(b, s)) {
            pss[ne] = b->sess[i];
            ptok[ne] = s->ids + s->n_prompt + s->n_gen - 1;
            pcnt[ne] = 1;
            pwant[ne] = true;
            pseq[ne++] = s;
            nd++;
        } else {
            seq_finish(b, s);
        }
    }

    seq *joined[N > 0 ? N : 1];
    int n_joined = 0;
    /* 2. admit from the queue head while a slot is free and the KV fits -
     * after sampling, so a slot freed by a sequence that just finished takes
     * its successor's prefill in this very pass instead of idling a step */
    pthread_mutex_lock(&b->mu);
    while (b->qhead && b->n_running < N &&
           b->reserved_tokens + b->qhead->reserve <= b->budget_tokens) {
        seq *s = b->qhead;
        b->qhead = s->next;
        if (!b->qhead) b->qtail = NULL;
        s->next = NULL;
        b->n_queued--;
        s->slot = pick_slot(b, s);
        b->slot_seq[s->slot] = s;
        b->reserved_tokens += s->reserve;
        b->n_running++;
        joined[n_joined++] = s;
    }
    pthread_mutex_unlock(&b->mu);
    for (int i = 0; i < n_joined; i++)
        seq_start(b, joined[i]);

    /* 3. prefill chunks of joining sequences fill the rest of the pass (at
     * least a quarter of one, so prompts advance however many decode) */
    size_t room = nd < RT_BATCH ? RT_BATCH - nd : 0;
    if (room < RT_BATCH / 4) room = RT_BATCH / 4;
    uint64_t prefilled = 0;
    for (int32_t i = 0; i < N && room > 0; i++) {
        seq *s = b->slot_seq[i];
        if (!s || s->state != SEQ_PREFILL) continue;
        size_t n = s->n_prompt - s->done_prompt;
        if (n > (size_t)b->p.prefill_chunk) n = (size_t)b->p.prefill_chunk;
        if (n > room) n = room;
        pss[ne] = b->sess[i];
        ptok[ne] = s->prompt + s->done_prompt;
        pcnt[ne] = n;
        pwant[ne] = s->done_prompt + n == s->n_prompt; /* logits after the prompt only */
        pseq[ne++] = s;
        room -= n;
    }

    /* 4. one forward pass (more only when the rows exceed RT_BATCH) */
    for (size_t e0 = 0; e0 < ne;) {
        size_t e1 = e0, rows = 0;
        while (e1 < ne && rows + pcnt[e1] <= RT_BATCH)
            rows += pcnt[e1++];
        if (rt_sessions_forward(pss + e0, ptok + e0, pcnt + e0, pwant + e0, e1 - e0, err, errlen) !=
            0) {
            for (size_t k = e0; k < e1; k++) {
                rt_session_reset(pss[k]);
                if (pseq[k]->state == SEQ_DECODE) nd--;
                seq_fail(pseq[k], err);
                seq_finish(b, pseq[k]);
            }
        } else {
            for (size_t k = e0; k < e1; k++) {
                seq *s = pseq[k];
                if (s->state != SEQ_PREFILL) continue;
                s->done_prompt += pcnt[k];
                prefilled += pcnt[k];
                if (s->done_prompt == s->n_prompt) {
                    if (b->pc) rt_prefix_cache_store(b->pc, pss[k], s->prompt, s->n_prompt);
                    s->state = SEQ_DECODE;
                }
            }
        }
        e0 = e1;
    }
    int rc = 0;
    pthread_mutex_lock(&b->mu);
    b->steps++;
    b->decoded += nd;
    b->prefilled += prefilled;
    rc = b->n_running + b->n_queued;
    if (b->pc) rt_prefix_cache_get_stats(b->pc, &b->pc_snap);
    pthread_mutex_unlock(&b->mu);
    return rc;
}

static void *engine_main(void *arg)
{
    rt_batch *b = arg;
    char err[256];
    for (;;) {
        pthread_mutex_lock(&b->mu);
        while (!b->stopping && b->n_running == 0 &&
               !(b->qhead && b->reserved_tokens + b->qhead->reserve <= b->budget_tokens))
            pthread_cond_wait(&b->work_cv, &b->mu);
        bool stop = b->stopping;
        pthread_mutex_unlock(&b->mu);
        if (stop) break;
        rt_batch_step(b, err, sizeof err);
    }
    return NULL;
}

int rt_batch_start(rt_batch *b, char *err, size_t errlen)
{
    if (b->started) return 0;
    if (pthread_create(&b->thr, NULL, engine_main, b) != 0) {
        snprintf(err, errlen, "cannot start the batch engine thread");
        return -1;
    }
    b->started = true;
    return 0;
}

void rt_batch_get_stats(rt_batch *b, rt_batch_stats *st)
{
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&b->mu);
    st->n_slots = b->p.n_slots;
    st->running = b->n_running;
    st->queued = b->n_queued;
    st->kv_bytes_per_token = b->bpt;
    st->kv_budget_bytes = b->budget_tokens * b->bpt;
    st->kv_reserved_bytes = b->reserved_tokens * b->bpt;
    st->steps = b->steps;
    st->decoded_tokens = b->decoded;
    st->prefill_tokens = b->prefilled;
    st->finished = b->finished;
    if (b->pc) {
        const rt_prefix_cache_stats ps = b->pc_snap;
        st->pc_lookups = ps.lookups;
        st->pc_hits = ps.hits;
        st->pc_tokens_reused = ps.tokens_reused;
        st->pc_evictions = ps.evictions;
        st->pc_bytes = ps.bytes;
        st->pc_blocks = ps.blocks;
        st->pc_bytes_max = ps.max_bytes;
    }
    pthread_mutex_unlock(&b->mu);
}
