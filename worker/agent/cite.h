/* cite.h - research jobs: the file:line citations of an answer, checked to
 * exist in the job's workspace (docs/JOBS.md "Research jobs").
 *
 * A citation is a relative path with an extension followed by ":LINE" or
 * ":FIRST-LAST" (e.g. "docs/kv.md:12", "src/a.c:3-9"). It resolves when the
 * path stays inside the workspace (no "..", not absolute), names a regular
 * file, and the file has at least that many lines. */
#ifndef SWARM_AGENT_CITE_H
#define SWARM_AGENT_CITE_H

#include <stddef.h>

typedef struct cite_report {
    unsigned checked, resolved;
    char *summary; /* malloc'ed one line: "[citations: N checked, M resolved; unresolved: ...]" */
} cite_report;

/* Checks every citation in text against the workspace root. 0, or -1 with
 * err (out of memory, root not a directory). */
int cite_check(const char *root, const char *text, cite_report *rep, char *err, size_t errlen);
void cite_report_free(cite_report *rep);

#endif
