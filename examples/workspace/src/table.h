/* table.h - the in-memory index of tinykv. */
#ifndef TABLE_H
#define TABLE_H
#include <stddef.h>

typedef struct {
    char **keys, **values;
    size_t cap, used;
} table;

int table_grow(table *t);
int table_put(table *t, const char *key, const char *value);
const char *table_get(const table *t, const char *key);
#endif
