/* arch_list.h - private: the one list of supported architectures. The
 * loader (model.c), its "not supported" message, `swarm-infer mkmodel`
 * (--arch, presets) and the tests all read it; runtime/CMakeLists.txt reads
 * the entries below too, for the per-architecture tests.
 * Adding an architecture: docs/CONTRIBUTING.md, "How to add...". */
#ifndef SWARM_RT_ARCH_LIST_H
#define SWARM_RT_ARCH_LIST_H

#include <stddef.h>

/* Entries: X(kind, "general.architecture value"). */
#define RT_ARCH_LIST(X)                                                                            \
    X(LLAMA, "llama")         /* llama / Mixtral */                                                \
    X(QWEN3MOE, "qwen3moe")   /* per-head q/k RMS norm, NEOX rope */                               \
    X(QWEN2MOE, "qwen2moe")   /* qkv biases, shared expert with sigmoid gate */                    \
    X(OLMOE, "olmoe")         /* q/k RMS norm over the whole projection */                         \
    X(DEEPSEEK2, "deepseek2") /* MLA, V2 or V3 routing */                                          \
    X(GPTOSS, "gpt-oss")      /* sinks, sliding window, MXFP4 experts */

typedef enum {
#define RT_ARCH_ENUM_(kind, name) RT_ARCH_##kind,
    RT_ARCH_LIST(RT_ARCH_ENUM_)
#undef RT_ARCH_ENUM_
        RT_ARCH_COUNT
} rt_arch_kind;

/* The general.architecture string of a kind ("?" out of range). */
const char *rt_arch_name(rt_arch_kind kind);
/* The kind named name; -1 when it is not in the list. */
int rt_arch_from_name(const char *name, rt_arch_kind *out);
/* "llama, qwen3moe, ..." (sep between names) into buf, for messages that say
 * what is supported; returns buf. */
char *rt_arch_names_join(const char *sep, char *buf, size_t cap);

#endif
