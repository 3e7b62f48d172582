/* grammar.h - private: the compiled grammar (flat rules of code-point sets
 * and rule references) and the matcher's shared pieces, for gbnf.c (the
 * parser), match.c (the byte-level recognizer) and mask.c (token masking).
 *
 * A rule is a list of alternatives; an alternative is a run of elements in
 * el[] closed by GE_END. A parse position is an index into el[]. Groups and
 * repetitions are lowered to generated rules, so every element is a single
 * code-point set or a single rule reference. */
#ifndef SWARM_GRAMMAR_H
#define SWARM_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt.h"

enum { GE_END = 0, GE_CHARS = 1, GE_RULE = 2 };

typedef struct {
    uint8_t kind;
    int32_t arg; /* GE_CHARS: charset index; GE_RULE: rule index */
} gelem;

/* A set of code points: merged, sorted ranges [lo, hi], optionally negated,
 * with a bitmap of the ASCII answer (negation applied) for the fast path. */
typedef struct {
    uint64_t ascii[2];
    int32_t r0, nr; /* ranges[2*r0 ...] */
    bool neg;
} gcharset;

struct rt_grammar {
    gelem *el;
    int32_t n_el;
    int32_t *alt_start; /* positions of alternatives, grouped by rule */
    int32_t *rule_alt0, *rule_nalt;
    int32_t n_rules;
    char **rule_names;
    gcharset *cs;
    int32_t n_cs;
    uint32_t *ranges; /* pairs lo, hi */
    int32_t root;
    int32_t *min_pos;  /* fewest code points from a position to its alternative's end */
    int32_t *min_rule; /* fewest code points a rule can derive (INT32_MAX: none) */
};

bool grammar_cs_has(const rt_grammar *g, int32_t cs, uint32_t cp);
/* Does the set hold any code point in [lo, hi]? */
bool grammar_cs_any(const rt_grammar *g, int32_t cs, uint32_t lo, uint32_t hi);
/* Smallest code point of the set within [lo, hi], or UINT32_MAX. */
uint32_t grammar_cs_first(const rt_grammar *g, int32_t cs, uint32_t lo, uint32_t hi);

/* ---- matcher (match.c) ----
 * A stack is an interned node chain: node = (position, parent node). Node 0
 * is the empty stack (the sentence is complete). A state is the sorted set of
 * leaf stacks (their position is a GE_CHARS element, or node 0) plus a
 * partial UTF-8 code point. Nodes and closures live in an arena owned by the
 * state; masking walks sets inside the same arena. */
typedef struct garena garena;

typedef struct {
    int32_t *v;
    int32_t n, cap;
} gset;

struct rt_grammar_state {
    const rt_grammar *g;
    garena *a;
    gset set;
    uint32_t cp;  /* partial code point so far (sequence length in bits 24..31) */
    uint8_t rem;  /* continuation bytes still expected */
    gset scratch; /* advance output */
};

/* Advance set s by one byte (cp/rem in-out) into out; 0 ok, -1 rejected. */
int gstate_step(const rt_grammar *g, garena *a, const gset *s, uint32_t *cp, uint8_t *rem,
                uint8_t byte, gset *out);
int gset_push(gset *s, int32_t v);
void gset_free(gset *s);
int32_t garena_size(const garena *a);
/* Re-intern the state's stacks into a fresh arena (drops every other node). */
int gstate_compact(rt_grammar_state *st);
uint64_t gset_hash(const gset *s, uint32_t cp, uint8_t rem);
/* The root rule's leaf stacks, interned in a (sorted). */
int gstate_root(const rt_grammar *g, garena *a, gset *out);

/* ---- token masking (mask.c) ---- */
typedef struct gtrie gtrie;
/* The model's token trie (built once, cached on the model, thread-safe). */
const gtrie *gtrie_get(const rt_model *m);
void gtrie_free(gtrie *t);

/* One sampler's view: its grammar state, the model's trie, and a cache of
 * masks keyed by state. */
typedef struct gmasker gmasker;
typedef struct {
    uint64_t hits, misses, trie_nodes, compactions;
} gmask_stats;
int gmasker_new(const rt_model *m, const rt_grammar *g, const rt_grammar_opts *o, gmasker **out,
                char *err, size_t errlen);
void gmasker_free(gmasker *k);
int gmasker_reset(gmasker *k); /* back to the root state */
const rt_grammar_state *gmasker_state(const gmasker *k);
gmask_stats *gmasker_stats(gmasker *k);
bool gmasker_allows(gmasker *k, int32_t id); /* may token id come next? */
/* Bitmask (bit id set = allowed) over the model's vocabulary for the current
 * state; valid until the next call. NULL on out of memory. */
const uint64_t *gmasker_mask(gmasker *k);
int gmasker_accept(gmasker *k, int32_t id);      /* advance by token id; < 0 if not allowed */
int32_t rt_grammar_mask_vocab(const gmasker *k); /* bits in the mask */
/* Arena size that triggers compaction (tests lower it to exercise the path). */
void gmasker_set_compact_limit(gmasker *k, int32_t nodes);
/* The sampler's masker (sampler.c), or NULL: for rt_generate's completion. */
gmasker *rt_sampler_masker(rt_sampler *s);
/* rt_sampler_sample's answer when the grammar leaves no token at all. */
#define RT_SAMPLER_NO_TOKEN (-2)
/* Ids whose pieces spell s exactly (longest match through the trie). */
int gmasker_spell(const gmasker *k, const char *s, size_t n, int32_t **ids);

#endif
