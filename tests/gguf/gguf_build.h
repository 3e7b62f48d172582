/* gguf_build.h - builds a small valid GGUF byte by byte for the loader tests
 * and the fuzz seed corpus, recording where every field sits so a test can
 * patch or truncate exactly one of them. Header-only (static functions):
 * test code, not part of the runtime. */
#ifndef SWARM_TEST_GGUF_BUILD_H
#define SWARM_TEST_GGUF_BUILD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *p;
    size_t len, cap;
} gb_buf;

enum { GB_NKV = 5, GB_NT = 2 };

/* File offsets of each field of the built file. */
typedef struct {
    size_t version, n_t, n_kv;
    size_t kv[GB_NKV];      /* key length field */
    size_t kv_type[GB_NKV]; /* value type field */
    size_t kv_val[GB_NKV];  /* value (for arrays: element type field) */
    size_t t[GB_NT];        /* name length field */
    size_t t_ndims[GB_NT];
    size_t t_ne[GB_NT][4];
    size_t t_type[GB_NT];
    size_t t_off[GB_NT];
    size_t data, end;
} gb_layout;

/* What to vary while building; gb_opts_default() gives the valid file. */
typedef struct {
    const char *key[GB_NKV];
    size_t key_len[GB_NKV]; /* 0: strlen */
    uint32_t version;
    uint32_t align_type;
    uint32_t align_val;
    uint32_t arr_elem_type; /* test.arr element type (written as u32 values) */
    int nested_array;       /* test.arr becomes an array of arrays */
    uint8_t flag_val;       /* test.flag bool byte */
    const char *tname[GB_NT];
    size_t tname_len[GB_NT];
} gb_opts;

static inline gb_opts gb_opts_default(void)
{
    gb_opts o = {.key = {"general.architecture", "general.alignment", "test.arr",
                         "tokenizer.ggml.tokens", "test.flag"},
                 .version = 3,
                 .align_type = 4 /* uint32 */,
                 .align_val = 32,
                 .arr_elem_type = 4,
                 .flag_val = 1,
                 .tname = {"w1", "w2"}};
    return o;
}

static inline void gb_put(gb_buf *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *np = realloc(b->p, cap);
        if (!np) abort(); /* test helper: out of memory is fatal */
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static inline void gb_u8(gb_buf *b, uint8_t v)
{
    gb_put(b, &v, 1);
}
static inline void gb_u32(gb_buf *b, uint32_t v)
{
    gb_put(b, &v, 4);
}
static inline void gb_u64(gb_buf *b, uint64_t v)
{
    gb_put(b, &v, 8);
}
static inline void gb_str(gb_buf *b, const char *s, size_t n)
{
    gb_u64(b, n);
    gb_put(b, s, n);
}

static inline void gb_set_u32(gb_buf *b, size_t at, uint32_t v)
{
    memcpy(b->p + at, &v, 4);
}
static inline void gb_set_u64(gb_buf *b, size_t at, uint64_t v)
{
    memcpy(b->p + at, &v, 8);
}

/* Tensors: w1 = q8_0 [32, 2] at offset 0 (68 bytes), w2 = f32 [8] at
 * offset 96 (32 bytes); data section 128 bytes. */
static inline gb_buf gb_build(const gb_opts *o, gb_layout *L)
{
    gb_buf b = {0};
    gb_put(&b, "GGUF", 4);
    L->version = b.len;
    gb_u32(&b, o->version);
    L->n_t = b.len;
    gb_u64(&b, GB_NT);
    L->n_kv = b.len;
    gb_u64(&b, GB_NKV);
    for (int i = 0; i < GB_NKV; i++) {
        L->kv[i] = b.len;
        gb_str(&b, o->key[i], o->key_len[i] ? o->key_len[i] : strlen(o->key[i]));
        L->kv_type[i] = b.len;
        switch (i) {
        case 0:
            gb_u32(&b, 8);
            L->kv_val[i] = b.len;
            gb_str(&b, "test", 4);
            break;
        case 1:
            gb_u32(&b, o->align_type);
            L->kv_val[i] = b.len;
            if (o->align_type == 8)
                gb_str(&b, "32", 2);
            else
                gb_u32(&b, o->align_val);
            break;
        case 2:
            gb_u32(&b, 9);
            L->kv_val[i] = b.len;
            if (o->nested_array) {
                gb_u32(&b, 9);
                gb_u64(&b, 1);
            }
            gb_u32(&b, o->arr_elem_type);
            gb_u64(&b, 3);
            for (uint32_t k = 1; k <= 3; k++)
                gb_u32(&b, k);
            break;
        case 3: {
            gb_u32(&b, 9);
            L->kv_val[i] = b.len;
            gb_u32(&b, 8);
            gb_u64(&b, 3);
            gb_str(&b, "a", 1);
            gb_str(&b, "bc", 2);
            gb_str(&b, "<0x00>", 6);
            break;
        }
        default:
            gb_u32(&b, 7);
            L->kv_val[i] = b.len;
            gb_u8(&b, o->flag_val);
            break;
        }
    }
    static const uint32_t ndims[GB_NT] = {2, 1}, types[GB_NT] = {8, 0};
    static const uint64_t ne[GB_NT][2] = {{32, 2}, {8, 1}}, off[GB_NT] = {0, 96};
    for (int i = 0; i < GB_NT; i++) {
        L->t[i] = b.len;
        gb_str(&b, o->tname[i], o->tname_len[i] ? o->tname_len[i] : strlen(o->tname[i]));
        L->t_ndims[i] = b.len;
        gb_u32(&b, ndims[i]);
        for (uint32_t d = 0; d < ndims[i]; d++) {
            L->t_ne[i][d] = b.len;
            gb_u64(&b, ne[i][d]);
        }
        L->t_type[i] = b.len;
        gb_u32(&b, types[i]);
        L->t_off[i] = b.len;
        gb_u64(&b, off[i]);
    }
    while (b.len % 32)
        gb_u8(&b, 0);
    L->data = b.len;
    /* w1: two q8_0 blocks, scale 1.0 (fp16 0x3c00), codes -16..15 */
    for (int blk = 0; blk < 2; blk++) {
        uint8_t d[2] = {0x00, 0x3c};
        gb_put(&b, d, 2);
        for (int k = 0; k < 32; k++)
            gb_u8(&b, (uint8_t)(int8_t)(k - 16 + blk));
    }
    while (b.len - L->data < 96)
        gb_u8(&b, 0);
    for (int k = 0; k < 8; k++) {
        float v = (float)k * 0.5f;
        gb_put(&b, &v, 4);
    }
    L->end = b.len;
    return b;
}

/* A file with one tensor per ggml type id in types[] (one block row of
 * blck[i] elements each, data bytes = pattern), for the per-type geometry
 * test and as a fuzz seed that reaches every kernel. */
static inline gb_buf gb_build_types(const uint32_t *types, const uint64_t *blck,
                                    const uint64_t *bytes, int n)
{
    gb_buf b = {0};
    gb_put(&b, "GGUF", 4);
    gb_u32(&b, 3);
    gb_u64(&b, (uint64_t)n);
    gb_u64(&b, 1);
    gb_str(&b, "general.architecture", 20);
    gb_u32(&b, 8);
    gb_str(&b, "types", 5);
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        char name[32];
        int len = 0;
        uint32_t t = types[i];
        name[len++] = 't';
        if (t >= 10) name[len++] = (char)('0' + t / 10);
        name[len++] = (char)('0' + t % 10);
        gb_str(&b, name, (size_t)len);
        gb_u32(&b, 1);
        gb_u64(&b, blck[i]);
        gb_u32(&b, t);
        gb_u64(&b, off);
        off += (bytes[i] + 31) / 32 * 32;
    }
    while (b.len % 32)
        gb_u8(&b, 0);
    size_t data = b.len;
    uint64_t pos = 0;
    for (int i = 0; i < n; i++) {
        while (b.len - data < pos)
            gb_u8(&b, 0);
        for (uint64_t k = 0; k < bytes[i]; k++)
            gb_u8(&b, (uint8_t)(k * 37 + (uint64_t)i * 11));
        pos += (bytes[i] + 31) / 32 * 32;
    }
    return b;
}

#endif
