/* test_gguf_hostile.c - the GGUF loader against broken files.
 *
 * Builds a small valid GGUF byte by byte (gguf_build.h), checks that it
 * loads and reads back right, then derives more than 40 broken variants
 * (truncated at every section, hostile counts and lengths, bad dimensions,
 * types, offsets, alignment, names ...). Each is written to a temp dir and
 * opened from disk and from memory: both must fail with a message naming
 * the file and the field at fault, and never crash (run it under ASan).
 *
 * With --write-corpus DIR it instead writes the valid file and every broken
 * variant there, the seed corpus of the fuzz target. */
#include "gguf.h"
#include "gguf_build.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../common/check.h"

typedef struct {
    const char *name;
    const char *want[3]; /* substrings the error message must contain */
} expect;

/* Builds case i into *b; returns its expectation, or name NULL past the end. */
static expect make_case(int i, gb_buf *b)
{
    gb_opts o = gb_opts_default();
    gb_layout L;
    expect e = {0};
#define BASE() (*b = gb_build(&o, &L))
#define CASE(n, ...)                                                                               \
    case n:                                                                                        \
        e = (expect){__VA_ARGS__};
    switch (i) {
        CASE(0, "empty", {"GGUF"})
        BASE();
        b->len = 0;
        break;
        CASE(1, "trunc-magic", {"too small"})
        BASE();
        b->len = 3;
        break;
        CASE(2, "trunc-version", {"version"})
        BASE();
        b->len = L.version + 2;
        break;
        CASE(3, "trunc-counts", {"counts"})
        BASE();
        b->len = L.n_kv + 4;
        break;
        CASE(4, "trunc-key0", {"n_kv 5", "truncated"})
        BASE();
        b->len = L.kv[0] + 12;
        break;
        CASE(5, "trunc-kv0-value", {"general.architecture", "past end"})
        BASE(); /* one kv, so the count check passes and the value is cut */
        gb_set_u64(b, L.n_kv, 1);
        b->len = L.kv_val[0] + 10;
        break;
        CASE(6, "trunc-array", {"test.arr", "count"})
        BASE();
        b->len = L.kv_val[2] + 4 + 8 + 6;
        break;
        CASE(7, "trunc-string-array", {"tokenizer.ggml.tokens"})
        BASE();
        b->len = L.kv_val[3] + 4 + 8 + 8 + 1 + 8 + 1;
        break;
        CASE(8, "trunc-kv-type", {"test.flag", "value type"})
        BASE();
        b->len = L.kv_type[4] + 2;
        break;
        CASE(9, "trunc-tensor0-name", {"n_tensors 2", "truncated"})
        BASE();
        b->len = L.t[0] + 9;
        break;
        CASE(10, "trunc-tensor0-offset", {"w1", "offset"})
        BASE(); /* one tensor, so the count check passes and the info is cut */
        gb_set_u64(b, L.n_t, 1);
        b->len = L.t_off[0] + 4;
        break;
        CASE(11, "trunc-tensor1-offset", {"w2", "offset"})
        BASE();
        b->len = L.t_off[1] + 7;
        break;
        CASE(12, "trunc-data", {"w2", "past end"})
        BASE();
        b->len = L.end - 4;
        break;
        CASE(13, "trunc-before-data", {"w1", "past end"})
        BASE();
        b->len = L.data;
        break;
        CASE(14, "bad-magic", {"magic"})
        BASE();
        memcpy(b->p, "GGML", 4);
        break;
        CASE(15, "version-1", {"version 1"})
        o.version = 1;
        BASE();
        break;
        CASE(16, "version-4", {"version 4"})
        o.version = 4;
        BASE();
        break;
        CASE(17, "big-endian", {"big-endian"})
        o.version = 0x03000000;
        BASE();
        break;
        CASE(18, "huge-n_kv", {"n_kv", "1152921504606846976"})
        BASE();
        gb_set_u64(b, L.n_kv, 1ull << 60);
        break;
        CASE(19, "huge-n_tensors", {"n_tensors", "1152921504606846976"})
        BASE();
        gb_set_u64(b, L.n_t, 1ull << 60);
        break;
        CASE(20, "huge-key-len", {"key #1", "name length"})
        BASE();
        gb_set_u64(b, L.kv[1], 1ull << 62);
        break;
        CASE(21, "huge-string-value", {"general.architecture", "string length"})
        BASE();
        gb_set_u64(b, L.kv_val[0], UINT64_MAX);
        break;
        CASE(22, "huge-array-count", {"test.arr", "count"})
        BASE();
        gb_set_u64(b, L.kv_val[2] + 4, 1ull << 61);
        break;
        CASE(23, "huge-string-array", {"tokenizer.ggml.tokens", "count"})
        BASE();
        gb_set_u64(b, L.kv_val[3] + 4, 1ull << 60);
        break;
        CASE(24, "huge-string-in-array", {"tokenizer.ggml.tokens", "string 1"})
        BASE();
        gb_set_u64(b, L.kv_val[3] + 4 + 8 + 8 + 1, 1ull << 40);
        break;
        CASE(25, "unknown-value-type", {"test.flag", "unknown value type 13"})
        BASE();
        gb_set_u32(b, L.kv_type[4], 13);
        break;
        CASE(26, "unknown-array-elem-type", {"test.arr", "element type 77"})
        o.arr_elem_type = 77;
        BASE();
        break;
        CASE(27, "nested-array", {"test.arr", "nested"})
        o.nested_array = 1;
        BASE();
        break;
        CASE(28, "non-utf8-key", {"key #2", "UTF-8", "\\xff"})
        o.key[2] = "test.\xff\xfe";
        BASE();
        break;
        CASE(29, "overlong-utf8-key", {"key #2", "UTF-8"})
        o.key[2] = "test.\xc0\x80";
        BASE();
        break;
        CASE(30, "surrogate-utf8-key", {"key #2", "UTF-8"})
        o.key[2] = "test.\xed\xa0\x80";
        BASE();
        break;
        CASE(31, "nul-in-key", {"key #2", "UTF-8"})
        o.key[2] = "test.a\0b";
        o.key_len[2] = 8;
        BASE();
        break;
        CASE(32, "duplicate-key", {"test.arr", "duplicate key"})
        o.key[4] = "test.arr";
        BASE();
        break;
        CASE(33, "empty-key", {"key #4", "empty"})
        o.key[4] = "";
        BASE();
        break;
        CASE(34, "alignment-zero", {"general.alignment", "power of two"})
        o.align_val = 0;
        BASE();
        break;
        CASE(35, "alignment-48", {"general.alignment", "48"})
        o.align_val = 48;
        BASE();
        break;
        CASE(36, "alignment-string", {"general.alignment", "type string"})
        o.align_type = 8;
        BASE();
        break;
        CASE(37, "bool-value-2", {"test.flag", "bool"})
        o.flag_val = 2;
        BASE();
        break;
        CASE(38, "n_dims-5", {"w1", "n_dims 5"})
        BASE();
        gb_set_u32(b, L.t_ndims[0], 5);
        break;
        CASE(39, "n_dims-0", {"w2", "n_dims 0"})
        BASE();
        gb_set_u32(b, L.t_ndims[1], 0);
        break;
        CASE(40, "zero-dim", {"w1", "dimension 1 is zero"})
        BASE();
        gb_set_u64(b, L.t_ne[0][1], 0);
        break;
        CASE(41, "dim-product-overflow", {"w1", "overflows"})
        BASE();
        gb_set_u64(b, L.t_ne[0][1], 1ull << 62);
        break;
        CASE(42, "dim-over-int64", {"w2", "overflows"})
        BASE();
        gb_set_u64(b, L.t_ne[1][0], 1ull << 63);
        break;
        CASE(43, "byte-size-overflow", {"w2", "byte size overflows"})
        BASE();
        gb_set_u64(b, L.t_ne[1][0], 1ull << 62);
        break;
        CASE(44, "unknown-type-42", {"w1", "unknown tensor type 42"})
        BASE();
        gb_set_u32(b, L.t_type[0], 42);
        break;
        CASE(45, "retired-type-4", {"w2", "unknown tensor type 4"})
        BASE();
        gb_set_u32(b, L.t_type[1], 4);
        break;
        CASE(46, "ne0-not-block-multiple", {"w1", "ne[0]=48", "block size 32"})
        BASE();
        gb_set_u64(b, L.t_ne[0][0], 48);
        break;
        CASE(47, "misaligned-offset", {"w2", "offset 100", "alignment"})
        BASE();
        gb_set_u64(b, L.t_off[1], 100);
        break;
        CASE(48, "offset-past-end", {"w2", "past end"})
        BASE();
        gb_set_u64(b, L.t_off[1], 1ull << 40);
        break;
        CASE(49, "offset-plus-size-wraps", {"w2", "past end"})
        BASE();
        gb_set_u64(b, L.t_off[1], UINT64_MAX - 31);
        break;
        CASE(50, "overlapping-tensors", {"w2", "overlaps", "w1"})
        BASE();
        gb_set_u64(b, L.t_off[1], 64);
        break;
        CASE(51, "duplicate-tensor", {"w1", "duplicate tensor name"})
        o.tname[1] = "w1";
        BASE();
        break;
        CASE(52, "non-utf8-tensor-name", {"tensor #1", "UTF-8"})
        o.tname[1] = "w\x80";
        BASE();
        break;
        CASE(53, "empty-tensor-name", {"tensor #0", "empty"})
        o.tname[0] = "";
        BASE();
        break;
        CASE(54, "huge-tensor-name-len", {"tensor #1", "name length"})
        BASE();
        gb_set_u64(b, L.t[1], 1ull << 50);
        break;
        CASE(55, "control-char-key", {"key #1", "control character 0x1b"})
        o.key[1] = "general.\x1b[31malignment";
        BASE();
        break;
        CASE(56, "newline-tensor-name", {"tensor #0", "control character 0x0a"})
        o.tname[0] = "w\n1";
        BASE();
        break;
    default:
        break;
    }
#undef CASE
#undef BASE
    return e;
}

static int write_file(const char *path, const gb_buf *b)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    size_t n = b->len ? fwrite(b->p, 1, b->len, fp) : 0;
    return (fclose(fp) == 0 && n == b->len) ? 0 : -1;
}

static void check_valid(void)
{
    gb_opts o = gb_opts_default();
    gb_layout L;
    gb_buf b = gb_build(&o, &L);
    char err[512];
    gguf_file *f = NULL;
    int rc = gguf_open_mem(b.p, b.len, "valid.gguf", &f, err, sizeof err);
    CHECK(rc == 0);
    if (rc != 0) {
        fprintf(stderr, "valid file rejected: %s\n", err);
        free(b.p);
        return;
    }
    CHECK(gguf_version(f) == 3);
    CHECK(gguf_alignment(f) == 32);
    CHECK(gguf_n_kv(f) == GB_NKV);
    CHECK(gguf_n_tensors(f) == GB_NT);
    CHECK(gguf_data_offset(f) == L.data);
    gguf_str s;
    CHECK(gguf_get_str(f, "general.architecture", &s) == 0 && gguf_str_eq(s, "test"));
    CHECK(gguf_get_str(f, "missing.key", &s) == -1);
    CHECK(gguf_get_str(f, "general.alignment", &s) == -2);
    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    float f32;
    bool bl;
    CHECK(gguf_get_u32(f, "general.alignment", &u32) == 0 && u32 == 32);
    CHECK(gguf_get_u64(f, "general.alignment", &u64) == 0 && u64 == 32);
    CHECK(gguf_get_i64(f, "general.alignment", &i64) == 0 && i64 == 32);
    CHECK(gguf_get_f32(f, "general.alignment", &f32) == -2);
    CHECK(gguf_get_bool(f, "test.flag", &bl) == 0 && bl);
    CHECK(gguf_get_u32(f, "test.arr", &u32) == -2);
    const gguf_kv *kv = gguf_find(f, "test.arr");
    CHECK(kv && kv->type == GGUF_T_ARRAY && kv->arr_type == GGUF_T_UINT32 && kv->n == 3);
    if (kv) {
        CHECK(gguf_arr_i64(kv, 0) == 1 && gguf_arr_i64(kv, 2) == 3);
        CHECK(gguf_arr_f64(kv, 1) == 2.0);
    }
    kv = gguf_find(f, "tokenizer.ggml.tokens");
    CHECK(kv && kv->arr_type == GGUF_T_STRING && kv->n == 3 && kv->strs);
    if (kv && kv->strs) {
        CHECK(gguf_str_eq(kv->strs[0], "a") && gguf_str_eq(kv->strs[1], "bc"));
        CHECK(gguf_str_eq(kv->strs[2], "<0x00>"));
    }
    const gguf_tensor *t = gguf_tensor_find(f, "w1");
    CHECK(t && t->type == 8 && t->n_dims == 2 && t->ne[0] == 32 && t->ne[1] == 2 && t->ne[2] == 1 &&
          t->nbytes == 68);
    if (t) CHECK((const uint8_t *)t->data == b.p + L.data);
    t = gguf_tensor_find(f, "w2");
    CHECK(t && t->type == 0 && t->nbytes == 32);
    if (t) {
        float v;
        memcpy(&v, (const uint8_t *)t->data + 4 * 3, 4);
        CHECK(v == 1.5f);
    }
    CHECK(gguf_tensor_find(f, "w3") == NULL);
    CHECK(gguf_tensor_at(f, 2) == NULL && gguf_kv_at(f, GB_NKV) == NULL);
    gguf_close(f);

    /* version 2 has the same layout and must load too */
    gb_set_u32(&b, L.version, 2);
    CHECK(gguf_open_mem(b.p, b.len, "v2.gguf", &f, err, sizeof err) == 0);
    if (f) CHECK(gguf_version(f) == 2);
    gguf_close(f);
    free(b.p);
}

/* test.arr as float32 {inf, NaN, -3.75}: the fuzzer found that reading such
 * values as integers must not convert inf/NaN (undefined in C). */
static gb_buf float_specials_file(void)
{
    gb_opts o = gb_opts_default();
    gb_layout L;
    o.arr_elem_type = 6;
    gb_buf b = gb_build(&o, &L);
    gb_set_u32(&b, L.kv_val[2] + 12, 0x7f800000u);
    gb_set_u32(&b, L.kv_val[2] + 16, 0x7fc00000u);
    gb_set_u32(&b, L.kv_val[2] + 20, 0xc0700000u); /* -3.75 */
    return b;
}

static void check_float_specials(void)
{
    gb_buf b = float_specials_file();
    char err[512];
    gguf_file *f = NULL;
    CHECK(gguf_open_mem(b.p, b.len, "floats.gguf", &f, err, sizeof err) == 0);
    const gguf_kv *kv = f ? gguf_find(f, "test.arr") : NULL;
    CHECK(kv && kv->arr_type == GGUF_T_FLOAT32 && kv->n == 3);
    if (kv) {
        CHECK(isinf(gguf_arr_f64(kv, 0)) && isnan(gguf_arr_f64(kv, 1)));
        CHECK(gguf_arr_f64(kv, 2) == -3.75);
        CHECK(gguf_arr_i64(kv, 0) == 0 && gguf_arr_i64(kv, 1) == 0 && gguf_arr_i64(kv, 2) == -3);
    }
    gguf_close(f);
    free(b.p);
}

/* ggml type geometry as the GGUF format defines it (written out here, not
 * taken from quant.c): id, elements per block, bytes per block. */
static const uint32_t spec_types[] = {0,  1,  2,  3,  6,  7,  8,  9,  10, 11, 12,
                                      13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
                                      24, 25, 26, 27, 28, 29, 30, 34, 35, 39};
static const uint64_t spec_blck[] = {1,   1,   32,  32,  32,  32,  32,  32,  256, 256, 256,
                                     256, 256, 256, 256, 256, 256, 256, 32,  256, 256, 256,
                                     1,   1,   1,   1,   1,   256, 1,   256, 256, 32};
static const uint64_t spec_bytes[] = {4,   2,   18,  20, 22, 24, 34, 36, 84,  110, 144,
                                      176, 210, 292, 66, 74, 98, 50, 18, 110, 82,  136,
                                      1,   2,   4,   8,  8,  56, 2,  54, 66,  17};
#define N_SPEC ((int)(sizeof spec_types / sizeof spec_types[0]))

/* One tensor of every known type: loads, with sizes from the format spec. */
static void check_types(void)
{
    gb_buf b = gb_build_types(spec_types, spec_blck, spec_bytes, N_SPEC);
    char err[512];
    gguf_file *f = NULL;
    if (gguf_open_mem(b.p, b.len, "types.gguf", &f, err, sizeof err) != 0) {
        fprintf(stderr, "types file rejected: %s\n", err);
        check_fail_count++;
        free(b.p);
        return;
    }
    CHECK(gguf_n_tensors(f) == (size_t)N_SPEC);
    for (int i = 0; i < N_SPEC && i < (int)gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, (size_t)i);
        CHECK(t->type == spec_types[i] && (uint64_t)t->ne[0] == spec_blck[i]);
        if (t->nbytes != spec_bytes[i]) {
            fprintf(stderr, "type %u: %llu bytes per block, the format says %llu\n", t->type,
                    (unsigned long long)t->nbytes, (unsigned long long)spec_bytes[i]);
            check_fail_count++;
        }
    }
    gguf_close(f);
    free(b.p);
}

static int write_corpus(const char *dir)
{
    char path[4096];
    gb_opts o = gb_opts_default();
    gb_layout L;
    gb_buf b = gb_build(&o, &L);
    snprintf(path, sizeof path, "%s/valid.gguf", dir);
    int rc = write_file(path, &b);
    free(b.p);
    b = float_specials_file();
    snprintf(path, sizeof path, "%s/regress-float-inf-nan.gguf", dir);
    rc |= write_file(path, &b);
    free(b.p);
    b = gb_build_types(spec_types, spec_blck, spec_bytes, N_SPEC);
    snprintf(path, sizeof path, "%s/types.gguf", dir);
    rc |= write_file(path, &b);
    free(b.p);
    for (int i = 0;; i++) {
        gb_buf c = {0};
        expect e = make_case(i, &c);
        if (!e.name) break;
        snprintf(path, sizeof path, "%s/%02d-%s.gguf", dir, i, e.name);
        rc |= write_file(path, &c);
        free(c.p);
    }
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) return write_corpus(argv[2]);

    check_valid();
    check_types();
    check_float_specials();

    char dir[] = "/tmp/gguf-hostile-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    int n_cases = 0;
    for (int i = 0;; i++) {
        gb_buf b = {0};
        expect e = make_case(i, &b);
        if (!e.name) {
            free(b.p);
            break;
        }
        n_cases++;
        char path[256], err[512];
        snprintf(path, sizeof path, "%s/%s.gguf", dir, e.name);
        if (write_file(path, &b) != 0) {
            perror(path);
            check_fail_count++;
        }
        for (int mode = 0; mode < 2; mode++) {
            gguf_file *f = (gguf_file *)1;
            memset(err, 0, sizeof err);
            int rc = mode == 0 ? gguf_open(path, &f, err, sizeof err)
                               : gguf_open_mem(b.p, b.len, path, &f, err, sizeof err);
            if (rc >= 0 || f != NULL) {
                fprintf(stderr, "FAIL %s (%s): accepted\n", e.name, mode ? "mem" : "file");
                check_fail_count++;
                if (rc >= 0) gguf_close(f);
                continue;
            }
            int ok = strstr(err, path) != NULL;
            for (int k = 0; k < 3 && e.want[k]; k++)
                ok &= strstr(err, e.want[k]) != NULL;
            if (!ok) {
                fprintf(stderr, "FAIL %s (%s): message \"%s\" lacks the path or one of", e.name,
                        mode ? "mem" : "file", err);
                for (int k = 0; k < 3 && e.want[k]; k++)
                    fprintf(stderr, " \"%s\"", e.want[k]);
                fprintf(stderr, "\n");
                check_fail_count++;
            } else if (mode == 0) {
                printf("ok %-26s %s\n", e.name, err + strlen(path) + 2);
            }
        }
        unlink(path);
        free(b.p);
    }
    rmdir(dir);

    /* a missing file and a directory fail cleanly too */
    char err[512];
    gguf_file *f;
    CHECK(gguf_open("/nonexistent/x.gguf", &f, err, sizeof err) < 0 && strstr(err, "x.gguf"));
    CHECK(gguf_open("/tmp", &f, err, sizeof err) < 0 && strstr(err, "regular file"));

    printf("%d hostile cases, %d failures\n", n_cases, check_fail_count);
    CHECK(n_cases >= 30);
    return check_fail_count ? 1 : 0;
}
