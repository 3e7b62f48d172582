/* gguf.h - GGUF v2/v3 reader.
 *
 * The file is mmap'ed read-only and every count, string length, dimension,
 * type, offset and size is validated before anything is handed out, so a
 * caller never reads outside the mapping. Errors name the file, the key or
 * tensor, and what is wrong. Keys, tensor names and string values point into
 * the mapping (length-delimited, NOT NUL-terminated) except where noted. */
#ifndef SWARM_GGUF_H
#define SWARM_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GGUF_MAX_DIMS 4

typedef enum {
    GGUF_T_UINT8 = 0,
    GGUF_T_INT8 = 1,
    GGUF_T_UINT16 = 2,
    GGUF_T_INT16 = 3,
    GGUF_T_UINT32 = 4,
    GGUF_T_INT32 = 5,
    GGUF_T_FLOAT32 = 6,
    GGUF_T_BOOL = 7,
    GGUF_T_STRING = 8,
    GGUF_T_ARRAY = 9,
    GGUF_T_UINT64 = 10,
    GGUF_T_INT64 = 11,
    GGUF_T_FLOAT64 = 12,
} gguf_vtype;

typedef struct {
    const char *ptr; /* into the mapping; not NUL-terminated */
    uint64_t len;
} gguf_str;

typedef struct {
    char *key;           /* NUL-terminated copy (owned by the gguf_file) */
    gguf_vtype type;     /* value type; GGUF_T_ARRAY for arrays */
    gguf_vtype arr_type; /* element type when type == GGUF_T_ARRAY */
    uint64_t n;          /* element count for arrays, else 1 */
    const void *data;    /* scalar value or first array element, in the mapping
                            (may be unaligned: read with memcpy) */
    gguf_str *strs;      /* for string values / string arrays: n entries (owned) */
} gguf_kv;

typedef struct {
    char *name; /* NUL-terminated copy (owned) */
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] = row length (contiguous); unused dims = 1 */
    uint32_t type;             /* ggml type id, see quant.h (RT_TYPE_*) */
    uint64_t offset;           /* relative to the data section */
    const void *data;          /* validated pointer into the mapping */
    uint64_t nbytes;           /* validated size of the tensor data */
} gguf_tensor;

typedef struct gguf_file gguf_file;

/* Open and validate a file. On error returns negative and writes a message
 * ("PATH: tensor blk.3.ffn_up_exps: offset 123 + size 456 past end of file 400"). */
int gguf_open(const char *path, gguf_file **out, char *err, size_t errlen);
/* Same over a caller-owned buffer (fuzzing, tests); the buffer must outlive the handle. */
int gguf_open_mem(const void *buf, size_t len, const char *name, gguf_file **out, char *err,
                  size_t errlen);
void gguf_close(gguf_file *f);

const char *gguf_path(const gguf_file *f);
uint32_t gguf_version(const gguf_file *f);
uint64_t gguf_alignment(const gguf_file *f);
size_t gguf_n_kv(const gguf_file *f);
const gguf_kv *gguf_kv_at(const gguf_file *f, size_t i);
size_t gguf_n_tensors(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, size_t i);

const gguf_kv *gguf_find(const gguf_file *f, const char *key);
const gguf_tensor *gguf_tensor_find(const gguf_file *f, const char *name);

/* Typed getters. Return 0 on success, -1 if the key is missing, -2 if it has a
 * type that cannot represent the request (integers convert between widths when
 * the value fits; floats accept float32/float64). */
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out);
int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out);
int gguf_get_f32(const gguf_file *f, const char *key, float *out);
int gguf_get_bool(const gguf_file *f, const char *key, bool *out);
int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out);
/* Array element access (index < kv->n, checked by the caller). */
int64_t gguf_arr_i64(const gguf_kv *kv, uint64_t i);
double gguf_arr_f64(const gguf_kv *kv, uint64_t i);

/* Where the data section starts (file offset), the file size, and the start
 * of the mapping; tensor data = base + data_offset + tensor offset. */
uint64_t gguf_data_offset(const gguf_file *f);
size_t gguf_file_size(const gguf_file *f);
const void *gguf_file_base(const gguf_file *f);
/* "uint32", "string", ... for messages. */
const char *gguf_vtype_name(uint32_t t);
/* Bytes of one scalar value of type t; 0 for strings, arrays and unknown types. */
size_t gguf_vtype_size(uint32_t t);

/* Compare a length-delimited string with a C string. */
bool gguf_str_eq(gguf_str s, const char *c);

#endif
