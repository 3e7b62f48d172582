/* table.c - open-addressing hash table with linear probing. */
#include <stdlib.h>
#include <string.h>

#include "table.h"

static unsigned long hash(const char *s)
{
    unsigned long h = 5381;
    while (*s) h = h * 33 + (unsigned char)*s++;
    return h;
}

int table_put(table *t, const char *key, const char *value)
{
    if (t->used * 2 >= t->cap && table_grow(t) != 0) return -1;
    unsigned long i = hash(key) & (t->cap - 1);
    while (t->keys[i] && strcmp(t->keys[i], key) != 0) i = (i + 1) & (t->cap - 1);
    if (!t->keys[i]) {
        t->keys[i] = strdup(key);
        t->used++;
    }
    free(t->values[i]);
    t->values[i] = strdup(value);
    return 0;
}
