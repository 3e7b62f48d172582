/* gguf_write.c - streaming GGUF v3 writer (see gguf_write.h).
 *
 * Key/value pairs are serialized into one growing byte buffer as they are
 * added (the on-disk encoding is the in-memory one), tensor infos are kept as
 * structs with offsets assigned at declaration. All multi-byte values are
 * written little-endian explicitly so the file is the same on any host. */
#include "gguf_write.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quant.h"
#include "swarm_err.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_VERSION 3
#define GGUF_DEFAULT_ALIGN 32

typedef struct {
    char *name;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    uint32_t type;
    uint64_t offset; /* relative to the data section */
    uint64_t nbytes;
} gw_tensor;

struct gguf_writer {
    uint8_t *kv; /* serialized key/value pairs */
    size_t kv_len, kv_cap;
    uint64_t n_kv;
    char **keys; /* for the duplicate check */
    size_t keys_cap;
    gw_tensor *tensors;
    size_t n_tensors, tensors_cap;
    uint64_t data_size; /* padded */
    uint32_t alignment;
    bool alignment_set;
    /* streaming state */
    FILE *fp;
    char *path, *tmp_path;
    size_t cur;        /* tensor being written */
    uint64_t cur_done; /* bytes of it written */
    bool began, finished, failed;
};

gguf_writer *gguf_writer_new(void)
{
    gguf_writer *w = calloc(1, sizeof *w);
    if (w) w->alignment = GGUF_DEFAULT_ALIGN;
    return w;
}

void gguf_writer_free(gguf_writer *w)
{
    if (!w) return;
    if (w->fp) fclose(w->fp);
    if (w->tmp_path && !w->finished) unlink(w->tmp_path);
    for (uint64_t i = 0; i < w->n_kv; i++)
        free(w->keys[i]);
    free(w->keys);
    for (size_t i = 0; i < w->n_tensors; i++)
        free(w->tensors[i].name);
    free(w->tensors);
    free(w->kv);
    free(w->path);
    free(w->tmp_path);
    free(w);
}

/* ---- serialization into the kv buffer ---- */

static int kv_reserve(gguf_writer *w, size_t more)
{
    if (w->kv_len + more <= w->kv_cap) return 0;
    size_t cap = w->kv_cap ? w->kv_cap : 4096;
    while (cap < w->kv_len + more)
        cap *= 2;
    uint8_t *p = realloc(w->kv, cap);
    if (!p) return -1;
    w->kv = p;
    w->kv_cap = cap;
    return 0;
}

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int kv_put_int(gguf_writer *w, uint64_t v, size_t n)
{
    if (kv_reserve(w, n)) return -1;
    put_le(w->kv + w->kv_len, v, n);
    w->kv_len += n;
    return 0;
}

static int kv_put_bytes(gguf_writer *w, const void *p, size_t n)
{
    if (kv_reserve(w, n)) return -1;
    if (n) memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
    return 0;
}

static int kv_put_str(gguf_writer *w, const char *s, size_t n)
{
    if (kv_put_int(w, n, 8)) return -1;
    return kv_put_bytes(w, s, n);
}

/* Checks the key and writes it with the value type; the caller writes the value. */
static int kv_begin(gguf_writer *w, const char *key, gguf_vtype type, char *err, size_t errlen)
{
    if (w->began)
        return swarm_err_set(err, errlen, "gguf writer: key %s added after the header was written",
                             key);
    if (!key || !*key) return swarm_err_set(err, errlen, "gguf writer: empty key");
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0)
            return swarm_err_set(err, errlen, "gguf writer: duplicate key %s", key);
    if (w->n_kv == w->keys_cap) {
        size_t cap = w->keys_cap ? 2 * w->keys_cap : 32;
        char **k = realloc(w->keys, cap * sizeof *k);
        if (!k) return swarm_err_set(err, errlen, "gguf writer: out of memory adding key %s", key);
        w->keys = k;
        w->keys_cap = cap;
    }
    char *copy = strdup(key);
    if (!copy || kv_put_str(w, key, strlen(key)) || kv_put_int(w, (uint64_t)type, 4)) {
        free(copy);
        return swarm_err_set(err, errlen, "gguf writer: out of memory adding key %s", key);
    }
    w->keys[w->n_kv++] = copy;
    return 0;
}

static int kv_scalar(gguf_writer *w, const char *key, gguf_vtype t, uint64_t bits, char *err,
                     size_t errlen)
{
    size_t mark = w->kv_len;
    if (kv_begin(w, key, t, err, errlen)) return -1;
    if (kv_put_int(w, bits, gguf_vtype_size(t))) {
        w->kv_len = mark;
        free(w->keys[--w->n_kv]);
        return swarm_err_set(err, errlen, "gguf writer: out of memory adding key %s", key);
    }
    return 0;
}

int gguf_writer_add_u8(gguf_writer *w, const char *key, uint8_t v, char *err, size_t errlen)
{
    return kv_scalar(w, key, GGUF_T_UINT8, v, err, errlen);
}
int gguf_writer_add_i8(gguf_writer *w, const char *key, int8_t v, char *err, size_t errlen)
{
    return kv_scalar(w, key, GGUF_T_INT8, (uint8_t)v, err, errlen);
}
int gguf_writer_add_u16(gguf_writer *w, const char *key, uint16_t v, char *err, size_t errlen)
{
    return kv_scalar(w, key, GGUF_T_UINT16, v, err, errlen);
}
int gguf_writer_add_i16(gguf_writer *w, const char *key, int16_t v, char *err, size_t errlen)
{
    return kv_scalar(w, key, GGUF_T_INT16, (uint16_t)v, err, errlen);
}
int gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v, char *err, size_t errlen)
{
    return kv_scalar(w, key, GGUF_T_UINT32, v, err, errlen);
}
int gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v, char *err, size_t errlen)
{
    return kv_scalar(w, key, GGUF_T_INT32, (uint32_t)v, err, errlen);
}
int gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v, char *err, size_t errlen)
{
    return kv_scalar(w, key, GGUF_T_UINT64, v, err, errlen);
}
int gguf_writer_add_i64(gguf_writer *w, const char *key, int64_t v, char *err, size_t errlen)
{
    return kv_scalar(w, key, GGUF_T_INT64, (uint64_t)v, err, errlen);
}
int gguf_writer_add_f32(gguf_writer *w, const char *key, float v, char *err, size_t errlen)
{
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return kv_scalar(w, key, GGUF_T_FLOAT32, bits, err, errlen);
}
int gguf_writer_add_f64(gguf_writer *w, const char *key, double v, char *err, size_t errlen)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    return kv_scalar(w, key, GGUF_T_FLOAT64, bits, err, errlen);
}
int gguf_writer_add_bool(gguf_writer *w, const char *key, bool v, char *err, size_t errlen)
{
    return kv_scalar(w, key, GGUF_T_BOOL, v ? 1 : 0, err, errlen);
}

int gguf_writer_add_str(gguf_writer *w, const char *key, const char *v, char *err, size_t errlen)
{
    size_t mark = w->kv_len;
    if (!v) return swarm_err_set(err, errlen, "gguf writer: NULL string for key %s", key);
    if (kv_begin(w, key, GGUF_T_STRING, err, errlen)) return -1;
    if (kv_put_str(w, v, strlen(v))) {
        w->kv_len = mark;
        free(w->keys[--w->n_kv]);
        return swarm_err_set(err, errlen, "gguf writer: out of memory adding key %s", key);
    }
    return 0;
}

int gguf_writer_add_arr(gguf_writer *w, const char *key, gguf_vtype elem_type, const void *data,
                        uint64_t n, char *err, size_t errlen)
{
    size_t es = gguf_vtype_size(elem_type);
    if (!es)
        return swarm_err_set(err, errlen,
                             "gguf writer: key %s: array element type %d not allowed here", key,
                             (int)elem_type);
    if (n && !data) return swarm_err_set(err, errlen, "gguf writer: key %s: NULL array data", key);
    size_t mark = w->kv_len;
    if (kv_begin(w, key, GGUF_T_ARRAY, err, errlen)) return -1;
    int rc = kv_put_int(w, (uint64_t)elem_type, 4) | kv_put_int(w, n, 8);
    rc = rc ? rc : kv_reserve(w, (size_t)n * es);
    if (!rc) {
        const uint8_t *src = data;
        for (uint64_t i = 0; i < n; i++) {
            /* read a host integer of the element's width, write it little-endian */
            uint64_t v;
            if (es == 1) {
                v = src[i];
            } else if (es == 2) {
                uint16_t x;
                memcpy(&x, src + i * es, 2);
                v = x;
            } else if (es == 4) {
                uint32_t x;
                memcpy(&x, src + i * es, 4);
                v = x;
            } else {
                memcpy(&v, src + i * es, 8);
            }
            put_le(w->kv + w->kv_len, v, es);
            w->kv_len += es;
        }
    }
    if (rc) {
        w->kv_len = mark;
        free(w->keys[--w->n_kv]);
        return swarm_err_set(err, errlen, "gguf writer: out of memory adding array %s", key);
    }
    return 0;
}

int gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                            const size_t *lens, uint64_t n, char *err, size_t errlen)
{
    if (n && !strs)
        return swarm_err_set(err, errlen, "gguf writer: key %s: NULL string array", key);
    size_t mark = w->kv_len;
    if (kv_begin(w, key, GGUF_T_ARRAY, err, errlen)) return -1;
    int rc = kv_put_int(w, (uint64_t)GGUF_T_STRING, 4) | kv_put_int(w, n, 8);
    for (uint64_t i = 0; !rc && i < n; i++) {
        if (!strs[i]) {
            w->kv_len = mark;
            free(w->keys[--w->n_kv]);
            return swarm_err_set(err, errlen, "gguf writer: key %s: string %llu is NULL", key,
                                 (unsigned long long)i);
        }
        rc = kv_put_str(w, strs[i], lens ? lens[i] : strlen(strs[i]));
    }
    if (rc) {
        w->kv_len = mark;
        free(w->keys[--w->n_kv]);
        return swarm_err_set(err, errlen, "gguf writer: out of memory adding array %s", key);
    }
    return 0;
}

int gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment, char *err, size_t errlen)
{
    if (alignment == 0 || (alignment & (alignment - 1)))
        return swarm_err_set(err, errlen, "gguf writer: alignment %u is not a power of two",
                             alignment);
    if (w->n_tensors)
        return swarm_err_set(err, errlen,
                             "gguf writer: alignment must be set before tensors are added");
    if (w->alignment_set) return swarm_err_set(err, errlen, "gguf writer: alignment already set");
    if (gguf_writer_add_u32(w, "general.alignment", alignment, err, errlen)) return -1;
    w->alignment = alignment;
    w->alignment_set = true;
    return 0;
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) / a * a;
}

int gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t n_dims, const int64_t *ne,
                           uint32_t type, char *err, size_t errlen)
{
    if (w->began)
        return swarm_err_set(err, errlen,
                             "gguf writer: tensor %s added after the header was written", name);
    if (!name || !*name)
        return swarm_err_set(err, errlen, "gguf writer: tensor with an empty name");
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return swarm_err_set(err, errlen, "gguf writer: tensor %s: %u dimensions (1..%d allowed)",
                             name, n_dims, GGUF_MAX_DIMS);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return swarm_err_set(err, errlen, "gguf writer: duplicate tensor %s", name);
    uint64_t rows = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] <= 0)
            return swarm_err_set(err, errlen, "gguf writer: tensor %s: dimension %u is %lld", name,
                                 d, (long long)ne[d]);
        if (d > 0) rows *= (uint64_t)ne[d];
    }
    if (!rt_type_get(type))
        return swarm_err_set(err, errlen, "gguf writer: tensor %s: type %s is not supported", name,
                             rt_type_name(type));
    size_t row = rt_type_row_size(type, ne[0]);
    if (row == 0)
        return swarm_err_set(err, errlen,
                             "gguf writer: tensor %s: row length %lld is not a multiple of the %s "
                             "block size",
                             name, (long long)ne[0], rt_type_name(type));
    if (w->n_tensors == w->tensors_cap) {
        size_t cap = w->tensors_cap ? 2 * w->tensors_cap : 64;
        gw_tensor *t = realloc(w->tensors, cap * sizeof *t);
        if (!t)
            return swarm_err_set(err, errlen, "gguf writer: out of memory adding tensor %s", name);
        w->tensors = t;
        w->tensors_cap = cap;
    }
    gw_tensor *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name)
        return swarm_err_set(err, errlen, "gguf writer: out of memory adding tensor %s", name);
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
        t->ne[d] = d < n_dims ? ne[d] : 1;
    t->type = type;
    t->offset = w->data_size;
    t->nbytes = (uint64_t)row * rows;
    w->data_size = align_up(w->data_size + t->nbytes, w->alignment);
    return (int)w->n_tensors++;
}

size_t gguf_writer_n_tensors(const gguf_writer *w)
{
    return w->n_tensors;
}

uint64_t gguf_writer_tensor_nbytes(const gguf_writer *w, size_t i)
{
    return i < w->n_tensors ? w->tensors[i].nbytes : 0;
}

static uint64_t header_size(const gguf_writer *w)
{
    uint64_t n = 4 + 4 + 8 + 8 + w->kv_len;
    for (size_t i = 0; i < w->n_tensors; i++)
        n += 8 + strlen(w->tensors[i].name) + 4 + 8ull * w->tensors[i].n_dims + 4 + 8;
    return n;
}

uint64_t gguf_writer_file_size(const gguf_writer *w)
{
    return align_up(header_size(w), w->alignment) + w->data_size;
}

/* ---- streaming ---- */

static int io_fail(gguf_writer *w, char *err, size_t errlen, const char *what)
{
    int e = errno;
    w->failed = true;
    return swarm_err_set(err, errlen, "%s: %s: %s%s", w->path, what, strerror(e),
                         e == ENOSPC || e == EFBIG || e == EDQUOT ? " (not enough disk space?)"
                                                                  : "");
}

static int put_file(gguf_writer *w, const void *p, size_t n, char *err, size_t errlen)
{
    if (n && fwrite(p, 1, n, w->fp) != n) return io_fail(w, err, errlen, "write failed");
    return 0;
}

static int put_zeros(gguf_writer *w, uint64_t n, char *err, size_t errlen)
{
    static const uint8_t zeros[64];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (put_file(w, zeros, k, err, errlen)) return -1;
        n -= k;
    }
    return 0;
}

static int put_u64(gguf_writer *w, uint64_t v, char *err, size_t errlen)
{
    uint8_t b[8];
    put_le(b, v, 8);
    return put_file(w, b, 8, err, errlen);
}

static int put_u32(gguf_writer *w, uint32_t v, char *err, size_t errlen)
{
    uint8_t b[4];
    put_le(b, v, 4);
    return put_file(w, b, 4, err, errlen);
}

int gguf_writer_begin(gguf_writer *w, const char *path, char *err, size_t errlen)
{
    if (w->began) return swarm_err_set(err, errlen, "gguf writer: header already written");
    w->path = strdup(path);
    size_t n = strlen(path) + 32;
    w->tmp_path = malloc(n);
    if (!w->path || !w->tmp_path) return swarm_err_set(err, errlen, "gguf writer: out of memory");
    snprintf(w->tmp_path, n, "%s.tmp%ld", path, (long)getpid());
    w->fp = fopen(w->tmp_path, "wb");
    if (!w->fp) {
        int e = errno;
        free(w->tmp_path);
        w->tmp_path = NULL; /* nothing created, nothing to remove */
        return swarm_err_set(err, errlen, "%s: cannot create file: %s", path, strerror(e));
    }
    w->began = true;
    /* Big buffer: the data section is written in many small row chunks. */
    setvbuf(w->fp, NULL, _IOFBF, 1 << 20);
    if (put_file(w, GGUF_MAGIC, 4, err, errlen) || put_u32(w, GGUF_VERSION, err, errlen) ||
        put_u64(w, w->n_tensors, err, errlen) || put_u64(w, w->n_kv, err, errlen) ||
        put_file(w, w->kv, w->kv_len, err, errlen))
        return -1;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const gw_tensor *t = &w->tensors[i];
        size_t len = strlen(t->name);
        if (put_u64(w, len, err, errlen) || put_file(w, t->name, len, err, errlen) ||
            put_u32(w, t->n_dims, err, errlen))
            return -1;
        for (uint32_t d = 0; d < t->n_dims; d++)
            if (put_u64(w, (uint64_t)t->ne[d], err, errlen)) return -1;
        if (put_u32(w, t->type, err, errlen) || put_u64(w, t->offset, err, errlen)) return -1;
    }
    uint64_t h = header_size(w);
    if (put_zeros(w, align_up(h, w->alignment) - h, err, errlen)) return -1;
    w->cur = 0;
    w->cur_done = 0;
    /* skip any leading tensors... none are empty: every dimension is >= 1 */
    return 0;
}

int gguf_writer_write(gguf_writer *w, const void *data, size_t n, char *err, size_t errlen)
{
    if (!w->began || w->finished) return swarm_err_set(err, errlen, "gguf writer: not writing");
    if (w->failed) return swarm_err_set(err, errlen, "%s: an earlier write failed", w->path);
    if (w->cur >= w->n_tensors)
        return swarm_err_set(err, errlen, "%s: %zu bytes written past the last tensor", w->path, n);
    gw_tensor *t = &w->tensors[w->cur];
    if (n > t->nbytes - w->cur_done)
        return swarm_err_set(
            err, errlen,
            "%s: tensor %s: chunk of %zu bytes runs past its end (%llu of %llu written)", w->path,
            t->name, n, (unsigned long long)w->cur_done, (unsigned long long)t->nbytes);
    if (put_file(w, data, n, err, errlen)) return -1;
    w->cur_done += n;
    if (w->cur_done == t->nbytes) {
        uint64_t end = t->offset + t->nbytes;
        if (put_zeros(w, align_up(end, w->alignment) - end, err, errlen)) return -1;
        w->cur++;
        w->cur_done = 0;
    }
    return 0;
}

size_t gguf_writer_current(const gguf_writer *w)
{
    return w->cur;
}

int gguf_writer_finish(gguf_writer *w, char *err, size_t errlen)
{
    if (!w->began || w->finished) return swarm_err_set(err, errlen, "gguf writer: not writing");
    if (w->failed) return swarm_err_set(err, errlen, "%s: an earlier write failed", w->path);
    if (w->cur < w->n_tensors)
        return swarm_err_set(err, errlen,
                             "%s: tensor %s is incomplete (%llu of %llu bytes written)", w->path,
                             w->tensors[w->cur].name, (unsigned long long)w->cur_done,
                             (unsigned long long)w->tensors[w->cur].nbytes);
    /* fflush/fsync/fclose report the errors a buffered fwrite deferred (ENOSPC). */
    if (fflush(w->fp) != 0) return io_fail(w, err, errlen, "write failed");
    if (fsync(fileno(w->fp)) != 0 && errno != EINVAL && errno != EROFS)
        return io_fail(w, err, errlen, "fsync failed");
    FILE *fp = w->fp;
    w->fp = NULL;
    if (fclose(fp) != 0) return io_fail(w, err, errlen, "close failed");
    if (rename(w->tmp_path, w->path) != 0)
        return io_fail(w, err, errlen, "rename into place failed");
    w->finished = true;
    return 0;
}
