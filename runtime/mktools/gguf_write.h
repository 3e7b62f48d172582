/* gguf_write.h - streaming GGUF v3 writer.
 *
 * Two phases. First declare everything that goes in the header: key/value
 * pairs (every GGUF value type, arrays included) and tensor infos (name,
 * shape in ggml order, type). Offsets are computed as tensors are declared,
 * so the header can be written before any tensor data exists. Then
 * gguf_writer_begin() writes the header to "<path>.tmp<pid>" and the caller
 * streams each tensor's bytes, in declaration order, in chunks of any size;
 * alignment padding is inserted automatically. gguf_writer_finish() checks
 * every tensor is complete, flushes, and renames the file into place, so a
 * failed or abandoned write never leaves a partial file at the target path.
 * Memory use is the header plus the caller's chunk: a 30B-parameter file
 * never needs 30B of memory. */
#ifndef SWARM_GGUF_WRITE_H
#define SWARM_GGUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

typedef struct gguf_writer gguf_writer;

/* NULL only when out of memory. */
gguf_writer *gguf_writer_new(void);
/* Removes the temporary file if the write was not finished. NULL is fine. */
void gguf_writer_free(gguf_writer *w);

/* Data-section alignment (a power of two, default 32). Also records the
 * general.alignment key, as readers expect whenever it is not 32. */
int gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment, char *err, size_t errlen);

/* Scalars. Keys must be unique; a duplicate is an error naming the key. */
int gguf_writer_add_u8(gguf_writer *w, const char *key, uint8_t v, char *err, size_t errlen);
int gguf_writer_add_i8(gguf_writer *w, const char *key, int8_t v, char *err, size_t errlen);
int gguf_writer_add_u16(gguf_writer *w, const char *key, uint16_t v, char *err, size_t errlen);
int gguf_writer_add_i16(gguf_writer *w, const char *key, int16_t v, char *err, size_t errlen);
int gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v, char *err, size_t errlen);
int gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v, char *err, size_t errlen);
int gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v, char *err, size_t errlen);
int gguf_writer_add_i64(gguf_writer *w, const char *key, int64_t v, char *err, size_t errlen);
int gguf_writer_add_f32(gguf_writer *w, const char *key, float v, char *err, size_t errlen);
int gguf_writer_add_f64(gguf_writer *w, const char *key, double v, char *err, size_t errlen);
int gguf_writer_add_bool(gguf_writer *w, const char *key, bool v, char *err, size_t errlen);
int gguf_writer_add_str(gguf_writer *w, const char *key, const char *v, char *err, size_t errlen);
/* Array of n fixed-size elements of elem_type (any scalar type except
 * STRING/ARRAY), given in host (little-endian) layout; bools are one byte. */
int gguf_writer_add_arr(gguf_writer *w, const char *key, gguf_vtype elem_type, const void *data,
                        uint64_t n, char *err, size_t errlen);
/* Array of strings: lens may be NULL for NUL-terminated strings. */
int gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                            const size_t *lens, uint64_t n, char *err, size_t errlen);

/* Declare a tensor: ne[0] is the row length; type is an RT_TYPE_* id whose
 * block size must divide ne[0]. Returns the tensor index (>= 0) or negative. */
int gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t n_dims, const int64_t *ne,
                           uint32_t type, char *err, size_t errlen);
size_t gguf_writer_n_tensors(const gguf_writer *w);
/* Bytes of tensor i's data (without padding). */
uint64_t gguf_writer_tensor_nbytes(const gguf_writer *w, size_t i);
/* Size the finished file will have. */
uint64_t gguf_writer_file_size(const gguf_writer *w);

/* Write the header to a temporary file beside path. No kv or tensor may be
 * added afterwards. */
int gguf_writer_begin(gguf_writer *w, const char *path, char *err, size_t errlen);
/* Append n bytes to the current tensor (declaration order). A chunk may not
 * run past the end of the current tensor; padding follows each tensor. */
int gguf_writer_write(gguf_writer *w, const void *data, size_t n, char *err, size_t errlen);
/* Index of the tensor the next write goes to (== n_tensors when all done). */
size_t gguf_writer_current(const gguf_writer *w);
/* Verify all data was written, flush, close and rename into place. On error
 * the temporary file is removed and nothing appears at path. */
int gguf_writer_finish(gguf_writer *w, char *err, size_t errlen);

#endif
