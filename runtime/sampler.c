/* sampler.c - token sampling: penalties (repetition, presence, frequency
 * over the last repeat_last_n tokens), then top-k, top-p, min-p, temperature
 * and a draw from a seeded xoshiro256** generator; temperature <= 0 is greedy
 * (argmax after penalties). Each sampler owns its RNG, so equal seeds give
 * equal streams regardless of other sessions.
 *
 * Under a grammar (rt_sampler_set_grammar) disallowed tokens get logit -INF
 * before anything else looks at them. The fast path first picks from the
 * unmasked logits and keeps that token when the grammar allows it (one short
 * walk over its bytes); only otherwise is the full mask computed (trie walk,
 * cached per grammar state) and the pick redone. For greedy decoding this is
 * exact; for sampling it is rejection sampling, exact for plain temperature
 * and, as in other engines, an approximation when top-k/top-p/min-p would
 * have cut differently after masking (opts.full_mask turns it off). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "rt.h"
#include "swarm_rand.h"

typedef struct {
    int32_t id;
    float logit;
} cand;

struct rt_sampler {
    rt_sampler_params p;
    uint64_t rng[4];
    cand *c;
    int32_t *counts;
    int32_t cap;
    gmasker *gm; /* grammar constraint, or NULL */
    bool full_mask;
};

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t *s)
{
    return (double)(swarm_xoshiro_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

rt_sampler_params rt_sampler_default_params(void)
{
    rt_sampler_params p = {
        .temperature = 0.0f,
        .top_k = 0,
        .top_p = 1.0f,
        .min_p = 0.0f,
        .repeat_penalty = 1.0f,
        .repeat_last_n = 64,
        .presence_penalty = 0.0f,
        .frequency_penalty = 0.0f,
        .seed = 0,
    };
    return p;
}

rt_sampler *rt_sampler_new(const rt_sampler_params *p)
{
    rt_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = p ? *p : rt_sampler_default_params();
    swarm_xoshiro_seed(s->rng, s->p.seed);
    return s;
}

void rt_sampler_free(rt_sampler *s)
{
    if (!s) return;
    gmasker_free(s->gm);
    free(s->c);
    free(s->counts);
    free(s);
}

static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Moves the candidates with logit >= thr to the front; returns their count. */
static int32_t cand_partition(cand *c, int32_t n, float thr)
{
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) {
        if (c[i].logit >= thr) {
            cand t = c[k];
            c[k++] = c[i];
            c[i] = t;
        }
    }
    return k;
}

/* Quickselect: afterwards c[0..k) are the k best candidates (cand_cmp order),
 * in no particular order. */
static void cand_select(cand *c, int32_t n, int32_t k)
{
    int32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        cand pivot = c[lo + (hi - lo) / 2];
        int32_t i = lo, j = hi;
        while (i <= j) {
            while (cand_cmp(&c[i], &pivot) < 0)
                i++;
            while (cand_cmp(&c[j], &pivot) > 0)
                j--;
            if (i <= j) {
                cand t = c[i];
                c[i++] = c[j];
                c[j--] = t;
            }
        }
        if (k - 1 <= j)
            hi = j;
        else if (k - 1 >= i)
            lo = i;
        else
            break;
    }
}

static void apply_penalties(rt_sampler *s, float *logits, int32_t n_vocab, const int32_t *history,
                            size_t n_history)
{
    const rt_sampler_params *p = &s->p;
    if (!history || n_history == 0 || p->repeat_last_n == 0) return;
    if (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f)
        return;
    size_t win = p->repeat_last_n < 0 ? n_history : (size_t)p->repeat_last_n;
    if (win > n_history) win = n_history;
    const int32_t *h = history + (n_history - win);
    for (size_t i = 0; i < win; i++)
        if (h[i] >= 0 && h[i] < n_vocab) s->counts[h[i]]++;
    for (size_t i = 0; i < win; i++) {
        int32_t id = h[i];
        if (id < 0 || id >= n_vocab || s->counts[id] == 0) continue;
        float l = logits[id];
        if (p->repeat_penalty != 1.0f && p->repeat_penalty > 0.0f)
            l = l > 0.0f ? l / p->repeat_penalty : l * p->repeat_penalty;
        l -= (float)s->counts[id] * p->frequency_penalty + p->presence_penalty;
        logits[id] = l;
        s->counts[id] = 0; /* penalise each distinct token once */
    }
}

static int32_t pick(rt_sampler *s, const float *logits, int32_t n_vocab);

int32_t rt_sampler_sample(rt_sampler *s, float *logits, int32_t n_vocab, const int32_t *history,
                          size_t n_history)
{
    if (!s || !logits || n_vocab <= 0) return -1;
    if (s->cap < n_vocab) {
        cand *c = realloc(s->c, sizeof *c * (size_t)n_vocab);
        int32_t *cnt = c ? calloc((size_t)n_vocab, sizeof *cnt) : NULL;
        if (!c || !cnt) {
            free(cnt);
            s->c = c;
            return -1;
        }
        s->c = c;
        free(s->counts);
        s->counts = cnt;
        s->cap = n_vocab;
    }
    apply_penalties(s, logits, n_vocab, history, n_history);
    if (!s->gm) return pick(s, logits, n_vocab);
    if (!s->full_mask) {
        int32_t id = pick(s, logits, n_vocab);
        if (id >= 0 && logits[id] != -INFINITY && gmasker_allows(s->gm, id))
            return gmasker_accept(s->gm, id) == 0 ? id : -1;
    }
    const uint64_t *mask = gmasker_mask(s->gm);
    if (!mask) return -1;
    int32_t n_mask = rt_grammar_mask_vocab(s->gm);
    int32_t allowed = 0;
    for (int32_t w = 0; w * 64 < n_vocab; w++) {
        uint64_t bits = w * 64 < n_mask ? mask[w] : 0;
        if (bits == ~0ull && (w + 1) * 64 <= n_mask && (w + 1) * 64 <= n_vocab) {
            allowed += 64;
            continue;
        }
        for (int32_t i = w * 64; i < n_vocab && i < (w + 1) * 64; i++) {
            if (i < n_mask && ((bits >> (i & 63)) & 1) && logits[i] != -INFINITY)
                allowed++;
            else
                logits[i] = -INFINITY;
        }
    }
    if (allowed == 0) return RT_SAMPLER_NO_TOKEN;
    int32_t id = pick(s, logits, n_vocab);
    if (id < 0 || logits[id] == -INFINITY) {
        /* every allowed logit was NaN or filtered: fall back to the first allowed */
        id = -1;
        for (int32_t i = 0; i < n_vocab && id < 0; i++)
            if (i < n_mask && ((mask[i >> 6] >> (i & 63)) & 1)) id = i;
        if (id < 0) return RT_SAMPLER_NO_TOKEN;
    }
    return gmasker_accept(s->gm, id) == 0 ? id : -1;
}

/* The unconstrained pick over (penalised) logits. */
static int32_t pick(rt_sampler *s, const float *logits, int32_t n_vocab)
{
    const rt_sampler_params *p = &s->p;
    if (p->temperature <= 0.0f || p->top_k == 1) {
        int32_t best = 0;
        for (int32_t i = 1; i < n_vocab; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }
    cand *c = s->c;
    int32_t n = 0;
    float mx = -INFINITY;
    for (int32_t i = 0; i < n_vocab; i++) {
        if (!isnan(logits[i]) && logits[i] != -INFINITY) {
            c[n++] = (cand){i, logits[i]};
            mx = fmaxf(mx, logits[i]);
        }
    }
    if (n == 0) return 0;
    /* Filters work on the temperature-1 distribution; only top-p needs an
     * order, and only over the head that can reach the requested mass. */
    if (p->top_k > 0 && p->top_k < n) {
        cand_select(c, n, p->top_k);
        n = p->top_k;
    }
    if (p->top_p < 1.0f && p->top_p > 0.0f) {
        double sum = 0.0;
        for (int32_t i = 0; i < n; i++)
            sum += exp((double)(c[i].logit - mx));
        /* the head: tokens within e^-30 of the best; sort it alone when it
         * already holds top_p of the mass, else sort everything */
        int32_t h = cand_partition(c, n, mx - 30.0f);
        double head = 0.0;
        for (int32_t i = 0; i < h; i++)
            head += exp((double)(c[i].logit - mx));
        int32_t m = head / sum >= p->top_p ? h : n;
        qsort(c, (size_t)m, sizeof *c, cand_cmp);
        double cum = 0.0;
        int32_t keep = m;
        for (int32_t i = 0; i < m; i++) {
            cum += exp((double)(c[i].logit - mx)) / sum;
            if (cum >= p->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (p->min_p > 0.0f) {
        /* keep tokens with prob >= min_p * p(max) */
        n = cand_partition(c, n, mx + logf(p->min_p));
        if (n == 0) n = 1;
    }
    /* weights at the sampling temperature, recomputed on the fly to avoid a buffer */
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++)
        sum += exp((double)(c[i].logit - mx) / p->temperature);
    double r = rng_uniform(s->rng) * sum;
    double acc = 0.0;
    for (int32_t i = 0; i < n; i++) {
        acc += exp((double)(c[i].logit - mx) / p->temperature);
        if (r < acc) return c[i].id;
    }
    return c[n - 1].id;
}

int rt_sampler_set_grammar_opts(rt_sampler *s, const rt_model *m, const rt_grammar *g,
                                const rt_grammar_opts *opts, char *err, size_t errlen)
{
    if (!s) {
        snprintf(err, errlen, "no sampler");
        return -1;
    }
    gmasker_free(s->gm);
    s->gm = NULL;
    s->full_mask = opts && opts->full_mask;
    if (!g) return 0;
    if (!m) {
        snprintf(err, errlen, "a grammar needs the model (its vocabulary)");
        return -1;
    }
    return gmasker_new(m, g, opts, &s->gm, err, errlen);
}

int rt_sampler_set_grammar(rt_sampler *s, const rt_model *m, const rt_grammar *g, char *err,
                           size_t errlen)
{
    return rt_sampler_set_grammar_opts(s, m, g, NULL, err, errlen);
}

void rt_sampler_reset_grammar(rt_sampler *s)
{
    if (s && s->gm) gmasker_reset(s->gm);
}

const rt_grammar_state *rt_sampler_grammar_state(const rt_sampler *s)
{
    return s && s->gm ? gmasker_state(s->gm) : NULL;
}

gmasker *rt_sampler_masker(rt_sampler *s)
{
    return s ? s->gm : NULL;
}

int rt_sampler_grammar_mask(rt_sampler *s, uint8_t *mask, int32_t n_vocab)
{
    if (!s || !s->gm || !mask) return -1;
    const uint64_t *bits = gmasker_mask(s->gm);
    if (!bits) return -1;
    int32_t n_mask = rt_grammar_mask_vocab(s->gm);
    for (int32_t i = 0; i < n_vocab; i++)
        mask[i] = i < n_mask && ((bits[i >> 6] >> (i & 63)) & 1);
    return 0;
}
