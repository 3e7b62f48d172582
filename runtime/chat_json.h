/* chat_json.h - private: the small JSON tree the chat templates need.
 *
 * Tool definitions and tool-call arguments arrive as JSON text; the published
 * templates re-serialise them with Python's json.dumps (ensure_ascii=False,
 * separators ", " and ": ", or indent=4 with ","), keeping key order. This
 * parser keeps key order, decodes strings to UTF-8 (with their length, so
 * embedded NULs survive) and keeps number literals as written. */
#ifndef SWARM_CHAT_JSON_H
#define SWARM_CHAT_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "swarm_buf.h"

typedef enum { CJ_NULL, CJ_FALSE, CJ_TRUE, CJ_NUM, CJ_STR, CJ_ARR, CJ_OBJ } cj_type;

typedef struct cj_value {
    cj_type t;
    char *s; /* CJ_STR: decoded bytes; CJ_NUM: the literal */
    size_t len;
    struct cj_value *kids; /* CJ_ARR / CJ_OBJ members, in order */
    char **keys;           /* CJ_OBJ: decoded keys (NUL-terminated) */
    size_t n;
} cj_value;

/* Parses one JSON value from text[0..len). With end != NULL, parsing stops
 * after the value (leading whitespace skipped) and *end is the offset just
 * past it; with end == NULL only whitespace may follow. *out is malloc'ed.
 * Errors name the byte offset. */
int cj_parse(const char *text, size_t len, cj_value **out, size_t *end, char *err, size_t errlen);
void cj_free(cj_value *v);

/* The member named key of an object, or NULL. */
const cj_value *cj_get(const cj_value *obj, const char *key);
bool cj_is_str(const cj_value *v, const char *s);

/* Python json.dumps(v, ensure_ascii=False): indent < 0 gives one line with
 * ", " and ": "; indent >= 0 gives json.dumps(..., indent=indent). */
void cj_dump(swarm_buf *b, const cj_value *v, int indent);
void cj_dump_str(swarm_buf *b, const char *s, size_t n);

/* Are two values equal as JSON (object members in any order)? */
bool cj_equal(const cj_value *a, const cj_value *b);

#endif
