/* log.c - append-only write log; replayed at start-up to rebuild the table. */
#include <stdio.h>

#include "table.h"

int log_append(FILE *f, const char *key, const char *value)
{
    if (fprintf(f, "%s\t%s\n", key, value) < 0) return -1;
    return fflush(f);
}

int log_replay(FILE *f, table *t)
{
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        char *tab = line;
        while (*tab && *tab != '\t') tab++;
        if (!*tab) continue;
        *tab++ = 0;
        for (char *nl = tab; *nl; nl++)
            if (*nl == '\n') *nl = 0;
        if (table_put(t, line, tab) != 0) return -1;
    }
    return 0;
}
