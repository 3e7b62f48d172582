/* gen_text.h - private: generated text and stop strings (gen_text.c). */
#ifndef SWARM_RT_GEN_TEXT_H
#define SWARM_RT_GEN_TEXT_H

#include <stddef.h>

typedef struct {
    char *p;
    size_t len, cap;
} rt_textbuf;

/* Appends n bytes, keeping the text NUL-terminated; -1 when out of memory. */
int rt_textbuf_add(rt_textbuf *b, const char *s, size_t n);
/* Earliest stop-string match that ends within the last `added` bytes, or -1. */
long rt_text_find_stop(const rt_textbuf *t, size_t added, const char *const *stops);
/* Length of the longest suffix of t that is a proper prefix of a stop string. */
size_t rt_text_stop_prefix_len(const rt_textbuf *t, const char *const *stops);

#endif
