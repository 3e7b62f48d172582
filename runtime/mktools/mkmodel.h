/* mkmodel.h - `swarm-infer mkmodel`: write a random-weight GGUF for a supported
 * MoE architecture (tiny test preset or real published shapes), so the engine
 * can be exercised without downloading weights. */
#ifndef SWARM_MKMODEL_H
#define SWARM_MKMODEL_H

/* argv[0] is "mkmodel"; the rest are its options
 * (--arch A --preset P --type T --out F [--seed N] [--vocab N] [--routing v2|v3]).
 * Prints usage/errors on stderr; returns 0 on success, non-zero on failure
 * (the partial output file is removed). */
int rt_mkmodel_main(int argc, char **argv);

#endif
