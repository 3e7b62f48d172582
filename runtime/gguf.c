/* gguf.c - GGUF v2/v3 reader: mmap the file, validate every byte we will
 * hand out, and index keys and tensor names.
 *
 * Parsing is a single forward pass through a bounds-checked cursor. Every
 * count read from the file is checked against the bytes that remain before
 * anything is allocated for it (each element needs at least one byte, most
 * need more), so a hostile count of 2^60 fails at once instead of asking
 * malloc for exabytes. Lookups go through open-addressing hash tables built
 * once, which also detect duplicate keys and tensor names in O(n). */
#include "gguf.h"
#include "quant.h"
#include "swarm_err.h"
#include "swarm_utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_DEFAULT_ALIGNMENT 32

struct gguf_file {
    char *path;
    void *map; /* non-NULL when we own an mmap */
    size_t map_len;
    const uint8_t *buf;
    size_t len;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_off;
    size_t n_kv;
    gguf_kv *kvs;
    size_t n_tensors;
    gguf_tensor *tensors;
    /* hash tables of (index + 1), 0 = empty; sizes are powers of two */
    uint32_t *kv_hash;
    size_t kv_hash_cap;
    uint32_t *t_hash;
    size_t t_hash_cap;
};

typedef struct {
    const uint8_t *p;
    size_t len;
    size_t pos;
} cursor;

typedef struct {
    gguf_file *f;
    cursor c;
    char *err;
    size_t errlen;
} parser;

/* "<path>: <message>", so the user knows which file is broken. */
__attribute__((format(printf, 2, 3))) static int perr(parser *ps, const char *fmt, ...)
{
    swarm_err_set(ps->err, ps->errlen, "%s: ", ps->f->path);
    va_list ap;
    va_start(ap, fmt);
    swarm_err_vappend(ps->err, ps->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static size_t cur_left(const cursor *c)
{
    return c->len - c->pos;
}

static bool cur_read(cursor *c, void *dst, size_t n)
{
    if (cur_left(c) < n) return false;
    memcpy(dst, c->p + c->pos, n);
    c->pos += n;
    return true;
}

static bool cur_u32(cursor *c, uint32_t *v)
{
    return cur_read(c, v, 4);
}

static bool cur_u64(cursor *c, uint64_t *v)
{
    return cur_read(c, v, 8);
}

/* Reads a gguf string (u64 length + bytes) without copying. */
static bool cur_str(cursor *c, gguf_str *s)
{
    uint64_t n;
    size_t save = c->pos;
    if (!cur_u64(c, &n)) return false;
    if (n > cur_left(c)) {
        c->pos = save;
        return false;
    }
    s->ptr = (const char *)(c->p + c->pos);
    s->len = n;
    c->pos += (size_t)n;
    return true;
}

/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF, no NUL so the
 * copy is a proper C string). Returns the byte offset of the first bad byte
 * or -1 when the string is valid. */
static int64_t utf8_bad_at(const uint8_t *s, uint64_t n)
{
    for (uint64_t i = 0; i < n;) {
        size_t k = s[i] ? swarm_utf8_seq_len(s + i, (size_t)(n - i)) : 0; /* NUL is refused too */
        if (!k) return (int64_t)i;
        i += k;
    }
    return -1;
}

/* Printable, bounded rendering of an untrusted name for error messages. */
static void name_show(const char *s, uint64_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (uint64_t i = 0; i < n && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7F && ch != '\\') {
            out[o++] = (char)ch;
        } else {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
        }
        if (i + 1 < n && o + 5 >= cap && cap > 4) {
            memcpy(out + cap - 4, "...", 3);
            o = cap - 1;
            break;
        }
    }
    out[o < cap ? o : cap - 1] = '\0';
}

/* FNV-1a from a per-table starting value (the table's address, which ASLR
 * varies), so a file cannot be crafted to make every name collide and turn
 * loading into O(n^2). */
static uint64_t hash_bytes(const void *tab, const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull ^ ((uint64_t)(uintptr_t)tab * 0x9E3779B97F4A7C15ull);
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

static size_t hash_cap_for(size_t n)
{
    size_t cap = 16;
    while (cap < n * 2)
        cap <<= 1;
    return cap;
}

/* Insert index i whose name is names(i); returns the index of an existing
 * equal entry, or -1 when inserted. */
static int64_t hash_insert(uint32_t *tab, size_t cap, const char *name, size_t len, uint32_t idx,
                           const char *(*name_of)(const gguf_file *, uint32_t), const gguf_file *f)
{
    size_t m = cap - 1;
    for (size_t h = (size_t)hash_bytes(tab, name, len) & m;; h = (h + 1) & m) {
        if (tab[h] == 0) {
            tab[h] = idx + 1;
            return -1;
        }
        const char *other = name_of(f, tab[h] - 1);
        if (strlen(other) == len && memcmp(other, name, len) == 0) return (int64_t)(tab[h] - 1);
    }
}

static int64_t hash_lookup(const uint32_t *tab, size_t cap, const char *name,
                           const char *(*name_of)(const gguf_file *, uint32_t), const gguf_file *f)
{
    if (!tab) return -1;
    size_t len = strlen(name), m = cap - 1;
    for (size_t h = (size_t)hash_bytes(tab, name, len) & m;; h = (h + 1) & m) {
        if (tab[h] == 0) return -1;
        const char *other = name_of(f, tab[h] - 1);
        if (strcmp(other, name) == 0) return (int64_t)(tab[h] - 1);
    }
}

static const char *kv_name_of(const gguf_file *f, uint32_t i)
{
    return f->kvs[i].key;
}

static const char *t_name_of(const gguf_file *f, uint32_t i)
{
    return f->tensors[i].name;
}

size_t gguf_vtype_size(uint32_t t)
{
    switch (t) {
    case GGUF_T_UINT8:
    case GGUF_T_INT8:
    case GGUF_T_BOOL:
        return 1;
    case GGUF_T_UINT16:
    case GGUF_T_INT16:
        return 2;
    case GGUF_T_UINT32:
    case GGUF_T_INT32:
    case GGUF_T_FLOAT32:
        return 4;
    case GGUF_T_UINT64:
    case GGUF_T_INT64:
    case GGUF_T_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

const char *gguf_vtype_name(uint32_t t)
{
    static const char *const names[] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                        "int32",  "float32", "bool",   "string", "array",
                                        "uint64", "int64",   "float64"};
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

/* Reads a key or tensor name, checks it and returns a NUL-terminated copy. */
static int read_name(parser *ps, const char *what, size_t idx, char **out)
{
    gguf_str s;
    size_t at = ps->c.pos;
    if (!cur_str(&ps->c, &s)) {
        uint64_t n = 0;
        if (cur_left(&ps->c) >= 8) {
            memcpy(&n, ps->c.p + ps->c.pos, 8);
            return perr(ps,
                        "%s #%zu: name length %llu at offset %zu runs past end of file "
                        "(%zu bytes left)",
                        what, idx, (unsigned long long)n, at, cur_left(&ps->c) - 8);
        }
        return perr(ps, "%s #%zu: file truncated in the name at offset %zu", what, idx, at);
    }
    if (s.len == 0) return perr(ps, "%s #%zu: empty name at offset %zu", what, idx, at);
    int64_t bad = utf8_bad_at((const uint8_t *)s.ptr, s.len);
    if (bad >= 0) {
        char show[96];
        name_show(s.ptr, s.len, show, sizeof show);
        return perr(ps, "%s #%zu: name \"%s\" is not valid UTF-8 (bad byte 0x%02x at %lld)", what,
                    idx, show, (unsigned char)s.ptr[bad], (long long)bad);
    }
    /* names end up in messages and logs: no terminal control characters */
    for (uint64_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (ch < 0x20 || ch == 0x7f) {
            char show[96];
            name_show(s.ptr, s.len, show, sizeof show);
            return perr(ps, "%s #%zu: name \"%s\" contains control character 0x%02x", what, idx,
                        show, ch);
        }
    }
    char *copy = malloc((size_t)s.len + 1);
    if (!copy) return perr(ps, "%s #%zu: out of memory", what, idx);
    memcpy(copy, s.ptr, (size_t)s.len);
    copy[s.len] = '\0';
    *out = copy;
    return 0;
}

/* Parses the value of kv (its type already read) at the cursor. */
static int read_value(parser *ps, gguf_kv *kv)
{
    cursor *c = &ps->c;
    uint32_t t = kv->type;
    if (t == GGUF_T_ARRAY) {
        uint32_t et;
        uint64_t n;
        if (!cur_u32(c, &et) || !cur_u64(c, &n))
            return perr(ps, "key %s: file truncated in the array header", kv->key);
        if (et == GGUF_T_ARRAY) return perr(ps, "key %s: nested arrays are not supported", kv->key);
        if (et != GGUF_T_STRING && gguf_vtype_size(et) == 0)
            return perr(ps, "key %s: unknown array element type %u", kv->key, et);
        kv->arr_type = (gguf_vtype)et;
        kv->n = n;
        kv->data = c->p + c->pos;
        if (et == GGUF_T_STRING) {
            /* each string costs at least its 8-byte length */
            if (n > cur_left(c) / 8)
                return perr(ps,
                            "key %s: string array count %llu does not fit in the %zu bytes "
                            "left in the file",
                            kv->key, (unsigned long long)n, cur_left(c));
            kv->strs = malloc((n ? (size_t)n : 1) * sizeof *kv->strs);
            if (!kv->strs)
                return perr(ps, "key %s: out of memory for %llu strings", kv->key,
                            (unsigned long long)n);
            for (uint64_t i = 0; i < n; i++) {
                if (!cur_str(c, &kv->strs[i]))
                    return perr(ps,
                                "key %s: string %llu of %llu runs past end of file (offset %zu)",
                                kv->key, (unsigned long long)i, (unsigned long long)n, c->pos);
            }
            return 0;
        }
        size_t es = gguf_vtype_size(et);
        if (n > cur_left(c) / es)
            return perr(ps,
                        "key %s: %s array count %llu (%llu bytes) does not fit in the %zu bytes "
                        "left in the file",
                        kv->key, gguf_vtype_name(et), (unsigned long long)n,
                        (unsigned long long)n * es > n ? (unsigned long long)(n * es) : 0ull,
                        cur_left(c));
        if (et == GGUF_T_BOOL) {
            for (uint64_t i = 0; i < n; i++)
                if (c->p[c->pos + i] > 1)
                    return perr(ps, "key %s: bool array element %llu has value %u (not 0/1)",
                                kv->key, (unsigned long long)i, c->p[c->pos + i]);
        }
        c->pos += (size_t)(n * es);
        return 0;
    }
    kv->n = 1;
    kv->data = c->p + c->pos;
    if (t == GGUF_T_STRING) {
        kv->strs = malloc(sizeof *kv->strs);
        if (!kv->strs) return perr(ps, "key %s: out of memory", kv->key);
        if (!cur_str(c, &kv->strs[0])) {
            uint64_t n = 0;
            if (cur_left(c) >= 8) {
                memcpy(&n, c->p + c->pos, 8);
                return perr(ps, "key %s: string length %llu runs past end of file (%zu bytes left)",
                            kv->key, (unsigned long long)n, cur_left(c) - 8);
            }
            return perr(ps, "key %s: file truncated in the string value", kv->key);
        }
        return 0;
    }
    size_t sz = gguf_vtype_size(t);
    if (sz == 0) return perr(ps, "key %s: unknown value type %u", kv->key, t);
    if (cur_left(c) < sz)
        return perr(ps, "key %s: file truncated in the %s value", kv->key, gguf_vtype_name(t));
    if (t == GGUF_T_BOOL && c->p[c->pos] > 1)
        return perr(ps, "key %s: bool value %u (not 0/1)", kv->key, c->p[c->pos]);
    c->pos += sz;
    return 0;
}

static int parse_kvs(parser *ps, uint64_t n_kv)
{
    gguf_file *f = ps->f;
    /* smallest kv: 8 (key len) + 1 (key) + 4 (type) + 1 (u8 value) */
    if (n_kv > cur_left(&ps->c) / 14)
        return perr(
            ps,
            "header: n_kv %llu cannot fit in the %zu bytes left in the file (truncated or corrupt)",
            (unsigned long long)n_kv, cur_left(&ps->c));
    if (n_kv >= UINT32_MAX)
        return perr(ps, "header: n_kv %llu too large", (unsigned long long)n_kv);
    f->kvs = calloc(n_kv ? (size_t)n_kv : 1, sizeof *f->kvs);
    f->kv_hash_cap = hash_cap_for((size_t)n_kv);
    f->kv_hash = calloc(f->kv_hash_cap, sizeof *f->kv_hash);
    if (!f->kvs || !f->kv_hash)
        return perr(ps, "out of memory for %llu keys", (unsigned long long)n_kv);
    for (size_t i = 0; i < (size_t)n_kv; i++) {
        gguf_kv *kv = &f->kvs[i];
        if (read_name(ps, "key", i, &kv->key) < 0) return -1;
        f->n_kv = i + 1; /* from here on the kv is owned by f */
        int64_t dup = hash_insert(f->kv_hash, f->kv_hash_cap, kv->key, strlen(kv->key), (uint32_t)i,
                                  kv_name_of, f);
        if (dup >= 0)
            return perr(ps, "key %s: duplicate key (also kv #%lld)", kv->key, (long long)dup);
        uint32_t t;
        if (!cur_u32(&ps->c, &t))
            return perr(ps, "key %s: file truncated in the value type", kv->key);
        if (t != GGUF_T_STRING && t != GGUF_T_ARRAY && gguf_vtype_size(t) == 0)
            return perr(ps, "key %s: unknown value type %u", kv->key, t);
        kv->type = (gguf_vtype)t;
        kv->arr_type = (gguf_vtype)t;
        if (read_value(ps, kv) < 0) return -1;
    }
    return 0;
}

static bool mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a != 0 && b > UINT64_MAX / a) return false;
    *out = a * b;
    return true;
}

static int parse_tensor_infos(parser *ps, uint64_t n_t)
{
    gguf_file *f = ps->f;
    /* smallest info: 8+1 (name) + 4 (n_dims) + 8 (ne0) + 4 (type) + 8 (offset) */
    if (n_t > cur_left(&ps->c) / 33)
        return perr(ps,
                    "header: n_tensors %llu cannot fit in the %zu bytes left in the file "
                    "(truncated or corrupt)",
                    (unsigned long long)n_t, cur_left(&ps->c));
    if (n_t >= UINT32_MAX)
        return perr(ps, "header: n_tensors %llu too large", (unsigned long long)n_t);
    f->tensors = calloc(n_t ? (size_t)n_t : 1, sizeof *f->tensors);
    f->t_hash_cap = hash_cap_for((size_t)n_t);
    f->t_hash = calloc(f->t_hash_cap, sizeof *f->t_hash);
    if (!f->tensors || !f->t_hash)
        return perr(ps, "out of memory for %llu tensors", (unsigned long long)n_t);
    for (size_t i = 0; i < (size_t)n_t; i++) {
        gguf_tensor *t = &f->tensors[i];
        if (read_name(ps, "tensor", i, &t->name) < 0) return -1;
        f->n_tensors = i + 1;
        int64_t dup = hash_insert(f->t_hash, f->t_hash_cap, t->name, strlen(t->name), (uint32_t)i,
                                  t_name_of, f);
        if (dup >= 0)
            return perr(ps, "tensor %s: duplicate tensor name (also tensor #%lld)", t->name,
                        (long long)dup);
        if (!cur_u32(&ps->c, &t->n_dims))
            return perr(ps, "tensor %s: file truncated in n_dims", t->name);
        if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS)
            return perr(ps, "tensor %s: n_dims %u out of range 1..%d", t->name, t->n_dims,
                        GGUF_MAX_DIMS);
        for (int d = 0; d < GGUF_MAX_DIMS; d++)
            t->ne[d] = 1;
        uint64_t nel = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            uint64_t v;
            if (!cur_u64(&ps->c, &v))
                return perr(ps, "tensor %s: file truncated in dimension %u", t->name, d);
            if (v == 0) return perr(ps, "tensor %s: dimension %u is zero", t->name, d);
            if (v > (uint64_t)INT64_MAX || !mul_ok(nel, v, &nel) || nel > (uint64_t)INT64_MAX)
                return perr(ps, "tensor %s: dimension %u (%llu) overflows the element count",
                            t->name, d, (unsigned long long)v);
            t->ne[d] = (int64_t)v;
        }
        if (!cur_u32(&ps->c, &t->type))
            return perr(ps, "tensor %s: file truncated in the type", t->name);
        int64_t blck;
        size_t tsize;
        if (rt_type_block_info(t->type, &blck, &tsize) < 0)
            return perr(ps, "tensor %s: unknown tensor type %u", t->name, t->type);
        if (t->ne[0] % blck != 0)
            return perr(ps,
                        "tensor %s: row length ne[0]=%lld is not a multiple of the %s block "
                        "size %lld",
                        t->name, (long long)t->ne[0], rt_type_name(t->type), (long long)blck);
        uint64_t rows = nel / (uint64_t)t->ne[0], nbytes;
        uint64_t row_bytes = (uint64_t)(t->ne[0] / blck) * tsize; /* ne0 < 2^63, tsize small */
        if (row_bytes / tsize != (uint64_t)(t->ne[0] / blck) || !mul_ok(row_bytes, rows, &nbytes))
            return perr(ps, "tensor %s: byte size overflows", t->name);
        t->nbytes = nbytes;
        if (!cur_u64(&ps->c, &t->offset))
            return perr(ps, "tensor %s: file truncated in the offset", t->name);
    }
    return 0;
}

typedef struct {
    uint64_t offset, nbytes;
    uint32_t idx;
} span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static int check_layout(parser *ps)
{
    gguf_file *f = ps->f;
    uint64_t al = f->alignment;
    uint64_t end_info = ps->c.pos;
    uint64_t data_off = (end_info + al - 1) / al * al; /* end_info < 2^63, al <= 2^31 */
    f->data_off = data_off;
    if (f->n_tensors == 0) return 0;
    if (data_off > f->len)
        return perr(ps, "data section starts at %llu, past end of file (%zu bytes)",
                    (unsigned long long)data_off, f->len);
    uint64_t data_len = f->len - data_off;
    for (size_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        if (t->offset % al != 0)
            return perr(ps, "tensor %s: offset %llu is not a multiple of the alignment %llu",
                        t->name, (unsigned long long)t->offset, (unsigned long long)al);
        if (t->offset > data_len || t->nbytes > data_len - t->offset)
            return perr(ps,
                        "tensor %s: offset %llu + size %llu past end of data section (%llu bytes "
                        "at file offset %llu, file %zu bytes)",
                        t->name, (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                        (unsigned long long)data_len, (unsigned long long)data_off, f->len);
        t->data = f->buf + data_off + t->offset;
    }
    /* overlap check: sort indices by offset and compare neighbours */
    span *sp = malloc(f->n_tensors * sizeof *sp);
    if (!sp) return perr(ps, "out of memory");
    for (size_t i = 0; i < f->n_tensors; i++)
        sp[i] = (span){f->tensors[i].offset, f->tensors[i].nbytes, (uint32_t)i};
    qsort(sp, f->n_tensors, sizeof *sp, cmp_span);
    int rc = 0;
    for (size_t i = 1; i < f->n_tensors; i++) {
        const gguf_tensor *a = &f->tensors[sp[i - 1].idx], *b = &f->tensors[sp[i].idx];
        if (a->offset + a->nbytes > b->offset) {
            rc = perr(ps, "tensor %s (offset %llu, %llu bytes) overlaps tensor %s (offset %llu)",
                      b->name, (unsigned long long)b->offset, (unsigned long long)b->nbytes,
                      a->name, (unsigned long long)a->offset);
            break;
        }
    }
    free(sp);
    return rc;
}

static int parse(parser *ps)
{
    gguf_file *f = ps->f;
    cursor *c = &ps->c;
    uint8_t magic[4];
    if (!cur_read(c, magic, 4)) return perr(ps, "file too small (%zu bytes) to be GGUF", f->len);
    if (memcmp(magic, "GGUF", 4) != 0)
        return perr(ps, "bad magic %02x %02x %02x %02x, not a GGUF file", magic[0], magic[1],
                    magic[2], magic[3]);
    if (!cur_u32(c, &f->version)) return perr(ps, "header truncated in the version");
    if (f->version == 1)
        return perr(ps, "GGUF version 1 is not supported (re-convert the model to v3)");
    if (f->version != 2 && f->version != 3) {
        uint32_t v = f->version;
        uint32_t sw = (v >> 24) | ((v >> 8) & 0xFF00) | ((v << 8) & 0xFF0000) | (v << 24);
        if (sw == 2 || sw == 3) return perr(ps, "big-endian GGUF files are not supported");
        return perr(ps, "unsupported GGUF version %u (supported: 2, 3)", v);
    }
    uint64_t n_t, n_kv;
    if (!cur_u64(c, &n_t) || !cur_u64(c, &n_kv))
        return perr(ps, "header truncated in the tensor/kv counts");
    if (parse_kvs(ps, n_kv) < 0) return -1;

    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *akv = gguf_find(f, "general.alignment");
    if (akv) {
        uint64_t a;
        if (gguf_get_u64(f, "general.alignment", &a) != 0)
            return perr(ps, "key general.alignment: has type %s, expected an unsigned integer",
                        gguf_vtype_name(akv->type));
        if (a == 0 || (a & (a - 1)) != 0 || a > (1u << 30))
            return perr(ps, "key general.alignment: %llu is not a power of two in 1..2^30",
                        (unsigned long long)a);
        f->alignment = a;
    }
    if (parse_tensor_infos(ps, n_t) < 0) return -1;
    return check_layout(ps);
}

static int open_common(gguf_file *f, char *err, size_t errlen)
{
    parser ps = {.f = f, .c = {.p = f->buf, .len = f->len, .pos = 0}, .err = err, .errlen = errlen};
    if (err && errlen) err[0] = '\0';
    return parse(&ps);
}

int gguf_open_mem(const void *buf, size_t len, const char *name, gguf_file **out, char *err,
                  size_t errlen)
{
    *out = NULL;
    gguf_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(name ? name : "<memory>"))) {
        free(f);
        if (err && errlen) snprintf(err, errlen, "%s: out of memory", name ? name : "<memory>");
        return -1;
    }
    f->buf = buf;
    f->len = len;
    if (!buf && len) f->len = 0;
    if (open_common(f, err, errlen) < 0) {
        gguf_close(f);
        return -1;
    }
    *out = f;
    return 0;
}

int gguf_open(const char *path, gguf_file **out, char *err, size_t errlen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (err && errlen) snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (err && errlen) snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_size == 0) {
        if (err && errlen) snprintf(err, errlen, "%s: empty file, not GGUF", path);
        close(fd);
        return -1;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) {
        if (err && errlen) snprintf(err, errlen, "%s: mmap failed: %s", path, strerror(e));
        return -1;
    }
    gguf_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        munmap(map, (size_t)st.st_size);
        if (err && errlen) snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    f->map = map;
    f->map_len = (size_t)st.st_size;
    f->buf = map;
    f->len = (size_t)st.st_size;
    if (open_common(f, err, errlen) < 0) {
        gguf_close(f);
        return -1;
    }
    *out = f;
    return 0;
}

void gguf_close(gguf_file *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n_kv; i++) {
        free(f->kvs[i].key);
        free(f->kvs[i].strs);
    }
    for (size_t i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    free(f->kvs);
    free(f->tensors);
    free(f->kv_hash);
    free(f->t_hash);
    if (f->map) munmap(f->map, f->map_len);
    free(f->path);
    free(f);
}

const char *gguf_path(const gguf_file *f)
{
    return f->path;
}

uint32_t gguf_version(const gguf_file *f)
{
    return f->version;
}

uint64_t gguf_alignment(const gguf_file *f)
{
    return f->alignment;
}

uint64_t gguf_data_offset(const gguf_file *f)
{
    return f->data_off;
}

size_t gguf_file_size(const gguf_file *f)
{
    return f->len;
}

const void *gguf_file_base(const gguf_file *f)
{
    return f->buf;
}

size_t gguf_n_kv(const gguf_file *f)
{
    return f->n_kv;
}

const gguf_kv *gguf_kv_at(const gguf_file *f, size_t i)
{
    return i < f->n_kv ? &f->kvs[i] : NULL;
}

size_t gguf_n_tensors(const gguf_file *f)
{
    return f->n_tensors;
}

const gguf_tensor *gguf_tensor_at(const gguf_file *f, size_t i)
{
    return i < f->n_tensors ? &f->tensors[i] : NULL;
}

const gguf_kv *gguf_find(const gguf_file *f, const char *key)
{
    int64_t i = hash_lookup(f->kv_hash, f->kv_hash_cap, key, kv_name_of, f);
    return i < 0 ? NULL : &f->kvs[i];
}

const gguf_tensor *gguf_tensor_find(const gguf_file *f, const char *name)
{
    int64_t i = hash_lookup(f->t_hash, f->t_hash_cap, name, t_name_of, f);
    return i < 0 ? NULL : &f->tensors[i];
}

/* Reads element i of a numeric value as either a signed or unsigned 64-bit
 * integer; returns false for non-integer types. */
static bool int_at(gguf_vtype t, const void *data, uint64_t i, int64_t *sv, uint64_t *uv,
                   bool *is_signed)
{
    const uint8_t *p = data;
    switch (t) {
    case GGUF_T_UINT8:
    case GGUF_T_BOOL: {
        uint8_t v = p[i];
        *uv = v, *is_signed = false;
        return true;
    }
    case GGUF_T_INT8: {
        int8_t v;
        memcpy(&v, p + i, 1);
        *sv = v, *is_signed = true;
        return true;
    }
    case GGUF_T_UINT16: {
        uint16_t v;
        memcpy(&v, p + 2 * i, 2);
        *uv = v, *is_signed = false;
        return true;
    }
    case GGUF_T_INT16: {
        int16_t v;
        memcpy(&v, p + 2 * i, 2);
        *sv = v, *is_signed = true;
        return true;
    }
    case GGUF_T_UINT32: {
        uint32_t v;
        memcpy(&v, p + 4 * i, 4);
        *uv = v, *is_signed = false;
        return true;
    }
    case GGUF_T_INT32: {
        int32_t v;
        memcpy(&v, p + 4 * i, 4);
        *sv = v, *is_signed = true;
        return true;
    }
    case GGUF_T_UINT64: {
        memcpy(uv, p + 8 * i, 8);
        *is_signed = false;
        return true;
    }
    case GGUF_T_INT64: {
        memcpy(sv, p + 8 * i, 8);
        *is_signed = true;
        return true;
    }
    default:
        return false;
    }
}

static int get_int(const gguf_file *f, const char *key, int64_t *sv, uint64_t *uv, bool *is_signed)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return -1;
    if (kv->type == GGUF_T_BOOL || !int_at(kv->type, kv->data, 0, sv, uv, is_signed)) return -2;
    return 0;
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out)
{
    uint64_t v;
    int rc = gguf_get_u64(f, key, &v);
    if (rc != 0) return rc;
    if (v > UINT32_MAX) return -2;
    *out = (uint32_t)v;
    return 0;
}

int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out)
{
    int64_t sv = 0;
    uint64_t uv = 0;
    bool s;
    int rc = get_int(f, key, &sv, &uv, &s);
    if (rc != 0) return rc;
    if (s) {
        if (sv < 0) return -2;
        uv = (uint64_t)sv;
    }
    *out = uv;
    return 0;
}

int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out)
{
    int64_t sv = 0;
    uint64_t uv = 0;
    bool s;
    int rc = get_int(f, key, &sv, &uv, &s);
    if (rc != 0) return rc;
    if (!s) {
        if (uv > (uint64_t)INT64_MAX) return -2;
        sv = (int64_t)uv;
    }
    *out = sv;
    return 0;
}

int gguf_get_f32(const gguf_file *f, const char *key, float *out)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return -1;
    if (kv->type == GGUF_T_FLOAT32) {
        memcpy(out, kv->data, 4);
    } else if (kv->type == GGUF_T_FLOAT64) {
        double d;
        memcpy(&d, kv->data, 8);
        *out = (float)d;
    } else {
        return -2;
    }
    return 0;
}

int gguf_get_bool(const gguf_file *f, const char *key, bool *out)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return -1;
    if (kv->type != GGUF_T_BOOL) return -2;
    *out = *(const uint8_t *)kv->data != 0;
    return 0;
}

int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return -1;
    if (kv->type != GGUF_T_STRING) return -2;
    *out = kv->strs[0];
    return 0;
}

int64_t gguf_arr_i64(const gguf_kv *kv, uint64_t i)
{
    gguf_vtype t = kv->type == GGUF_T_ARRAY ? kv->arr_type : kv->type;
    int64_t sv = 0;
    uint64_t uv = 0;
    bool s;
    if (int_at(t, kv->data, i, &sv, &uv, &s)) return s ? sv : (int64_t)uv;
    /* floats truncate toward zero; NaN and out-of-range values (which C
     * leaves undefined to convert) give 0 */
    double d = gguf_arr_f64(kv, i);
    if (!(d > -9.2e18 && d < 9.2e18)) return 0;
    return (int64_t)d;
}

double gguf_arr_f64(const gguf_kv *kv, uint64_t i)
{
    gguf_vtype t = kv->type == GGUF_T_ARRAY ? kv->arr_type : kv->type;
    const uint8_t *p = kv->data;
    if (t == GGUF_T_FLOAT32) {
        float v;
        memcpy(&v, p + 4 * i, 4);
        return v;
    }
    if (t == GGUF_T_FLOAT64) {
        double v;
        memcpy(&v, p + 8 * i, 8);
        return v;
    }
    int64_t sv = 0;
    uint64_t uv = 0;
    bool s;
    if (int_at(t, kv->data, i, &sv, &uv, &s)) return s ? (double)sv : (double)uv;
    return 0.0;
}

bool gguf_str_eq(gguf_str s, const char *c)
{
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}
