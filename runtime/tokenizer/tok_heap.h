/* tok_heap.h - the binary heap of merge candidates shared by BPE and SPM.
 *
 * Both tokenizers merge adjacent symbols best-candidate-first with ties going
 * to the leftmost pair; they differ only in what "best" means (BPE: lowest
 * merge rank, SPM: highest score), which the caller folds into one key where
 * smaller is better. */
#ifndef SWARM_TOK_HEAP_H
#define SWARM_TOK_HEAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    double key;          /* smaller merges first (exact for int32 ranks and float scores) */
    int32_t left, right; /* symbol indices of the pair */
    uint32_t size;       /* bytes of the merged pair: detects stale candidates */
} tok_cand;

typedef struct {
    tok_cand *v;
    size_t n, cap;
} tok_heap;

int tok_heap_push(tok_heap *h, tok_cand c); /* 0, or -1 when out of memory */
tok_cand tok_heap_pop(tok_heap *h);         /* h->n > 0 */
void tok_heap_free(tok_heap *h);

#endif
