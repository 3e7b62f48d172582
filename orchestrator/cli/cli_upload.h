/* cli_upload.h - `swarm submit` of a job with a long fanout.items list: the
 * list goes to swarmd as an upload (SubmitBegin, SubmitChunk..., SubmitEnd;
 * proto/swarm.proto), a chunk at a time, so neither the 8 MiB message cap
 * nor swarmd's memory bounds how many items a job has. */
#ifndef SWARM_CLI_UPLOAD_H
#define SWARM_CLI_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"

#define CLI_UPLOAD_MIN_BYTES (1u << 20)   /* an items list this long goes as an upload */
#define CLI_UPLOAD_CHUNK_ITEMS 2000       /* items per SubmitChunk ... */
#define CLI_UPLOAD_CHUNK_BYTES (1u << 20) /* ... and about this many bytes of them */

/* Where the job text's top-level fanout.items array is: [*start, *end) spans
 * it from '[' to ']' inclusive. 1 when found, 0 when the job has none (or is
 * not well-formed JSON: then swarmd's planner names the problem). */
int cli_upload_find_items(const char *text, size_t len, size_t *start, size_t *end);

/* Uploads the job: text with its items list at [start, end) (from
 * cli_upload_find_items), relative paths against base_dir, each part waiting
 * up to timeout_ms for its answer. Returns 0 with job_id and *total filled,
 * -1 with err (swarmd's Error message, or why no answer came). */
int cli_upload_job(cli_client *c, const char *text, size_t len, size_t start, size_t end,
                   const char *base_dir, int timeout_ms, char *job_id, size_t cap, uint32_t *total,
                   char *err, size_t errlen);

/* Takes swarmd's answer to a submission (a Submit or an upload's
 * SubmitEnd) and frees it: 0 with job_id and *total (may be NULL) from its
 * first job, -1 with err when the answer holds no job. */
int cli_submit_reply_job(Swarm__Envelope *reply, char *job_id, size_t cap, uint32_t *total,
                         char *err, size_t errlen);

/* The job text with fanout.items emptied ("[]"): malloc'd, NULL on out of memory. */
char *cli_upload_header(const char *text, size_t len, size_t start, size_t end);

#endif
