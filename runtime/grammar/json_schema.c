/* json_schema.c - JSON Schema -> GBNF (placeholder so the runtime links; the
 * JSON Schema compiler replaces this file). rt_grammar_from_json_schema
 * lives in gbnf.c and calls this. */
#include <stdio.h>

#include "rt.h"

int rt_json_schema_to_gbnf(const char *schema, size_t len, char **gbnf, char *err, size_t errlen)
{
    (void)schema;
    (void)len;
    if (gbnf) *gbnf = NULL;
    snprintf(err, errlen, "JSON Schema compilation is not implemented yet");
    return -1;
}
