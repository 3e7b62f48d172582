/* test_gguf_write.c - round-trip of the streaming GGUF writer through the reader.
 *
 * Writes one key of every GGUF value type (arrays of every element type and
 * of strings, including empty and non-ASCII strings), tensors of several
 * types and ranks streamed in odd-sized chunks, with a non-default
 * alignment; reads the file back with gguf_open and compares every key,
 * shape, type, offset alignment and data byte. Also checks the writer's
 * refusals (duplicate key/tensor, chunk past a tensor's end, incomplete
 * data) and that a failed or abandoned write leaves no file behind. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"
#include "gguf_write.h"
#include "quant.h"
#include "../common/check.h"

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* No file named "<path>.tmp*" left in the directory. */
static bool no_tmp_left(const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q '\\.tmp'", dir);
    return system(cmd) != 0;
}

static uint8_t pattern_byte(size_t tensor, uint64_t i)
{
    return (uint8_t)(i * 31u + tensor * 7u + (i >> 8));
}

typedef struct {
    const char *name;
    uint32_t n_dims;
    int64_t ne[4];
    uint32_t type;
} tspec;

int main(void)
{
    char dir[] = "/tmp/swarm-gguf-write-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/rt.gguf", dir);

    gguf_writer *w = gguf_writer_new();
    CHECK(w != NULL);
    CHECK(gguf_writer_set_alignment(w, 64, err, sizeof err) == 0);
    CHECK(gguf_writer_set_alignment(w, 48, err, sizeof err) != 0); /* not a power of two */
    CHECK(gguf_writer_add_u8(w, "t.u8", 250, err, sizeof err) == 0);
    CHECK(gguf_writer_add_i8(w, "t.i8", -120, err, sizeof err) == 0);
    CHECK(gguf_writer_add_u16(w, "t.u16", 65000, err, sizeof err) == 0);
    CHECK(gguf_writer_add_i16(w, "t.i16", -32000, err, sizeof err) == 0);
    CHECK(gguf_writer_add_u32(w, "t.u32", 4000000000u, err, sizeof err) == 0);
    CHECK(gguf_writer_add_i32(w, "t.i32", -2000000000, err, sizeof err) == 0);
    CHECK(gguf_writer_add_u64(w, "t.u64", 0xFEDCBA9876543210ull, err, sizeof err) == 0);
    CHECK(gguf_writer_add_i64(w, "t.i64", -1234567890123ll, err, sizeof err) == 0);
    CHECK(gguf_writer_add_f32(w, "t.f32", 3.25f, err, sizeof err) == 0);
    CHECK(gguf_writer_add_f64(w, "t.f64", -1e300, err, sizeof err) == 0);
    CHECK(gguf_writer_add_bool(w, "t.bool", true, err, sizeof err) == 0);
    CHECK(gguf_writer_add_str(w, "t.str", "h\xc3\xa9llo \xe2\x96\x81 world", err, sizeof err) == 0);
    CHECK(gguf_writer_add_str(w, "t.empty", "", err, sizeof err) == 0);
    /* duplicate keys are refused and name the key */
    CHECK(gguf_writer_add_u32(w, "t.u32", 1, err, sizeof err) != 0 && strstr(err, "t.u32"));

    const uint8_t a_u8[] = {0, 1, 255};
    const int8_t a_i8[] = {-128, 0, 127};
    const uint16_t a_u16[] = {0, 1, 65535, 42};
    const int16_t a_i16[] = {-32768, 32767};
    const uint32_t a_u32[] = {0, 4294967295u, 7};
    const int32_t a_i32[] = {-1, 2, -3, 4, -5};
    const uint64_t a_u64[] = {0, 0xFFFFFFFFFFFFFFFFull};
    const int64_t a_i64[] = {-9223372036854775807ll - 1, 9223372036854775807ll, 0};
    const float a_f32[] = {0.5f, -2.0f, 1e-30f, 65504.0f};
    const double a_f64[] = {3.141592653589793, -0.0};
    const bool a_bool[] = {true, false, true};
    CHECK(gguf_writer_add_arr(w, "a.u8", GGUF_T_UINT8, a_u8, 3, err, sizeof err) == 0);
    CHECK(gguf_writer_add_arr(w, "a.i8", GGUF_T_INT8, a_i8, 3, err, sizeof err) == 0);
    CHECK(gguf_writer_add_arr(w, "a.u16", GGUF_T_UINT16, a_u16, 4, err, sizeof err) == 0);
    CHECK(gguf_writer_add_arr(w, "a.i16", GGUF_T_INT16, a_i16, 2, err, sizeof err) == 0);
    CHECK(gguf_writer_add_arr(w, "a.u32", GGUF_T_UINT32, a_u32, 3, err, sizeof err) == 0);
    CHECK(gguf_writer_add_arr(w, "a.i32", GGUF_T_INT32, a_i32, 5, err, sizeof err) == 0);
    CHECK(gguf_writer_add_arr(w, "a.u64", GGUF_T_UINT64, a_u64, 2, err, sizeof err) == 0);
    CHECK(gguf_writer_add_arr(w, "a.i64", GGUF_T_INT64, a_i64, 3, err, sizeof err) == 0);
    CHECK(gguf_writer_add_arr(w, "a.f32", GGUF_T_FLOAT32, a_f32, 4, err, sizeof err) == 0);
    CHECK(gguf_writer_add_arr(w, "a.f64", GGUF_T_FLOAT64, a_f64, 2, err, sizeof err) == 0);
    CHECK(gguf_writer_add_arr(w, "a.bool", GGUF_T_BOOL, a_bool, 3, err, sizeof err) == 0);
    CHECK(gguf_writer_add_arr(w, "a.empty", GGUF_T_INT32, NULL, 0, err, sizeof err) == 0);
    CHECK(gguf_writer_add_arr(w, "a.bad", GGUF_T_STRING, a_u8, 1, err, sizeof err) != 0);
    const char *strs[] = {"alpha", "", "\xe2\x96\x81piece", "with space", "<|im_end|>"};
    CHECK(gguf_writer_add_arr_str(w, "a.str", strs, NULL, 5, err, sizeof err) == 0);
    const char *lstrs[] = {"abcdef", "xyz"};
    const size_t lens[] = {3, 0};
    CHECK(gguf_writer_add_arr_str(w, "a.strlen", lstrs, lens, 2, err, sizeof err) == 0);

    const tspec specs[] = {
        {"f32.vec", 1, {7, 1, 1, 1}, RT_TYPE_F32},  {"f16.mat", 2, {5, 3, 1, 1}, RT_TYPE_F16},
        {"q8.mat", 2, {64, 3, 1, 1}, RT_TYPE_Q8_0}, {"q4k.exps", 3, {256, 2, 3, 1}, RT_TYPE_Q4_K},
        {"bf16.4d", 4, {3, 2, 2, 2}, RT_TYPE_BF16}, {"mxfp4.mat", 2, {32, 5, 1, 1}, RT_TYPE_MXFP4},
    };
    const size_t n_specs = sizeof specs / sizeof specs[0];
    for (size_t i = 0; i < n_specs; i++)
        CHECK(gguf_writer_add_tensor(w, specs[i].name, specs[i].n_dims, specs[i].ne, specs[i].type,
                                     err, sizeof err) == (int)i);
    int64_t bad_ne[2] = {100, 2};
    CHECK(gguf_writer_add_tensor(w, "bad.q8", 2, bad_ne, RT_TYPE_Q8_0, err, sizeof err) < 0 &&
          strstr(err, "bad.q8"));
    CHECK(gguf_writer_add_tensor(w, "q8.mat", 2, specs[2].ne, RT_TYPE_Q8_0, err, sizeof err) < 0);

    CHECK(gguf_writer_begin(w, path, err, sizeof err) == 0);
    CHECK(gguf_writer_add_u32(w, "late.key", 1, err, sizeof err) != 0); /* header is written */
    CHECK(!exists(path));                                               /* only the temp file */
    /* stream every tensor in chunks of 1, 2, 3, ... bytes */
    for (size_t i = 0; i < n_specs; i++) {
        uint64_t nb = gguf_writer_tensor_nbytes(w, i);
        CHECK(nb == rt_type_row_size(specs[i].type, specs[i].ne[0]) *
                        (uint64_t)(specs[i].ne[1] * specs[i].ne[2] * specs[i].ne[3]));
        uint8_t *buf = malloc(nb);
        for (uint64_t k = 0; k < nb; k++)
            buf[k] = pattern_byte(i, k);
        uint64_t off = 0;
        size_t step = 1;
        while (off < nb) {
            size_t n = nb - off < step ? (size_t)(nb - off) : step;
            CHECK(gguf_writer_write(w, buf + off, n, err, sizeof err) == 0);
            off += n;
            step++;
        }
        free(buf);
    }
    uint8_t extra = 0;
    CHECK(gguf_writer_write(w, &extra, 1, err, sizeof err) != 0); /* past the last tensor */
    uint64_t expect_size = gguf_writer_file_size(w);
    CHECK(gguf_writer_finish(w, err, sizeof err) == 0);
    gguf_writer_free(w);
    CHECK(exists(path));
    CHECK(no_tmp_left(dir));

    struct stat st;
    CHECK(stat(path, &st) == 0 && (uint64_t)st.st_size == expect_size);

    gguf_file *f = NULL;
    if (gguf_open(path, &f, err, sizeof err) != 0) {
        fprintf(stderr, "gguf_open failed: %s\n", err);
        return 1;
    }
    CHECK(gguf_version(f) == 3);
    CHECK(gguf_alignment(f) == 64);
    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    float f32;
    bool b;
    gguf_str s;
    const gguf_kv *kv;
    CHECK((kv = gguf_find(f, "t.u8")) && kv->type == GGUF_T_UINT8 &&
          *(const uint8_t *)kv->data == 250);
    CHECK((kv = gguf_find(f, "t.i8")) && kv->type == GGUF_T_INT8 &&
          *(const int8_t *)kv->data == -120);
    CHECK((kv = gguf_find(f, "t.u16")) && kv->type == GGUF_T_UINT16 &&
          gguf_get_u32(f, "t.u16", &u32) == 0 && u32 == 65000);
    CHECK((kv = gguf_find(f, "t.i16")) && kv->type == GGUF_T_INT16 &&
          gguf_get_i64(f, "t.i16", &i64) == 0 && i64 == -32000);
    CHECK((kv = gguf_find(f, "t.u32")) && kv->type == GGUF_T_UINT32 &&
          gguf_get_u32(f, "t.u32", &u32) == 0 && u32 == 4000000000u);
    CHECK((kv = gguf_find(f, "t.i32")) && kv->type == GGUF_T_INT32 &&
          gguf_get_i64(f, "t.i32", &i64) == 0 && i64 == -2000000000);
    CHECK((kv = gguf_find(f, "t.u64")) && kv->type == GGUF_T_UINT64 &&
          gguf_get_u64(f, "t.u64", &u64) == 0 && u64 == 0xFEDCBA9876543210ull);
    CHECK((kv = gguf_find(f, "t.i64")) && kv->type == GGUF_T_INT64 &&
          gguf_get_i64(f, "t.i64", &i64) == 0 && i64 == -1234567890123ll);
    CHECK((kv = gguf_find(f, "t.f32")) && kv->type == GGUF_T_FLOAT32 &&
          gguf_get_f32(f, "t.f32", &f32) == 0 && f32 == 3.25f);
    CHECK((kv = gguf_find(f, "t.f64")) && kv->type == GGUF_T_FLOAT64);
    if (kv) {
        double d;
        memcpy(&d, kv->data, 8);
        CHECK(d == -1e300);
    }
    CHECK((kv = gguf_find(f, "t.bool")) && kv->type == GGUF_T_BOOL &&
          gguf_get_bool(f, "t.bool", &b) == 0 && b);
    CHECK(gguf_get_str(f, "t.str", &s) == 0 && gguf_str_eq(s, "h\xc3\xa9llo \xe2\x96\x81 world"));
    CHECK(gguf_get_str(f, "t.empty", &s) == 0 && s.len == 0);
    CHECK(gguf_find(f, "late.key") == NULL && gguf_find(f, "a.bad") == NULL);
    CHECK(gguf_get_u32(f, "general.alignment", &u32) == 0 && u32 == 64);

#define CHECK_ARR(key, et, arr, cnt, getter)                                                       \
    do {                                                                                           \
        const gguf_kv *a = gguf_find(f, key);                                                      \
        CHECK(a && a->type == GGUF_T_ARRAY && a->arr_type == (et) && a->n == (cnt));               \
        for (uint64_t j = 0; a && j < a->n && j < (cnt); j++)                                      \
            CHECK(getter(a, j) == (arr)[j]);                                                       \
    } while (0)
    CHECK_ARR("a.u8", GGUF_T_UINT8, a_u8, 3u, gguf_arr_i64);
    CHECK_ARR("a.i8", GGUF_T_INT8, a_i8, 3u, gguf_arr_i64);
    CHECK_ARR("a.u16", GGUF_T_UINT16, a_u16, 4u, gguf_arr_i64);
    CHECK_ARR("a.i16", GGUF_T_INT16, a_i16, 2u, gguf_arr_i64);
    CHECK_ARR("a.u32", GGUF_T_UINT32, a_u32, 3u, gguf_arr_i64);
    CHECK_ARR("a.i32", GGUF_T_INT32, a_i32, 5u, gguf_arr_i64);
    CHECK_ARR("a.i64", GGUF_T_INT64, a_i64, 3u, gguf_arr_i64);
    CHECK_ARR("a.f32", GGUF_T_FLOAT32, a_f32, 4u, (float)gguf_arr_f64);
    CHECK_ARR("a.f64", GGUF_T_FLOAT64, a_f64, 2u, gguf_arr_f64);
    {
        const gguf_kv *a = gguf_find(f, "a.u64");
        CHECK(a && a->arr_type == GGUF_T_UINT64 && a->n == 2);
        if (a) {
            uint64_t v[2];
            memcpy(v, a->data, 16);
            CHECK(v[0] == 0 && v[1] == 0xFFFFFFFFFFFFFFFFull);
        }
        a = gguf_find(f, "a.bool");
        CHECK(a && a->arr_type == GGUF_T_BOOL && a->n == 3);
        if (a) {
            const uint8_t *p = a->data;
            CHECK(p[0] == 1 && p[1] == 0 && p[2] == 1);
        }
        a = gguf_find(f, "a.empty");
        CHECK(a && a->arr_type == GGUF_T_INT32 && a->n == 0);
        a = gguf_find(f, "a.str");
        CHECK(a && a->arr_type == GGUF_T_STRING && a->n == 5 && a->strs);
        for (uint64_t j = 0; a && a->strs && j < 5; j++)
            CHECK(gguf_str_eq(a->strs[j], strs[j]));
        a = gguf_find(f, "a.strlen");
        CHECK(a && a->n == 2 && a->strs && gguf_str_eq(a->strs[0], "abc") && a->strs[1].len == 0);
    }
    /* 13 scalars + alignment + 12 numeric arrays + 2 string arrays */
    CHECK(gguf_n_kv(f) == 13 + 1 + 12 + 2);

    CHECK(gguf_n_tensors(f) == n_specs);
    for (size_t i = 0; i < n_specs && i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        CHECK(strcmp(t->name, specs[i].name) == 0);
        CHECK(t->n_dims == specs[i].n_dims && t->type == specs[i].type);
        for (int d = 0; d < 4; d++)
            CHECK(t->ne[d] == specs[i].ne[d]);
        CHECK(t->offset % 64 == 0);
        CHECK(((uintptr_t)t->data - (uintptr_t)gguf_tensor_at(f, 0)->data) % 64 == 0);
        const uint8_t *p = t->data;
        bool same = true;
        for (uint64_t k = 0; k < t->nbytes; k++)
            if (p[k] != pattern_byte(i, k)) same = false;
        CHECK(same);
        CHECK(gguf_tensor_find(f, specs[i].name) == t);
    }
    gguf_close(f);

    /* An incomplete write is refused and leaves nothing behind. */
    char path2[512];
    snprintf(path2, sizeof path2, "%s/incomplete.gguf", dir);
    w = gguf_writer_new();
    CHECK(gguf_writer_add_tensor(w, "x", 1, specs[0].ne, RT_TYPE_F32, err, sizeof err) == 0);
    CHECK(gguf_writer_begin(w, path2, err, sizeof err) == 0);
    float half[3] = {1, 2, 3};
    CHECK(gguf_writer_write(w, half, sizeof half, err, sizeof err) == 0);
    float too_much[8] = {0};
    CHECK(gguf_writer_write(w, too_much, sizeof too_much, err, sizeof err) != 0 &&
          strstr(err, "x"));
    CHECK(gguf_writer_finish(w, err, sizeof err) != 0 && strstr(err, "incomplete"));
    gguf_writer_free(w);
    CHECK(!exists(path2));
    CHECK(no_tmp_left(dir));

    /* An abandoned writer (freed mid-way) removes its temporary file too. */
    w = gguf_writer_new();
    CHECK(gguf_writer_add_tensor(w, "x", 1, specs[0].ne, RT_TYPE_F32, err, sizeof err) == 0);
    CHECK(gguf_writer_begin(w, path2, err, sizeof err) == 0);
    gguf_writer_free(w);
    CHECK(!exists(path2));
    CHECK(no_tmp_left(dir));

    /* An unwritable directory fails at begin with the path in the message. */
    w = gguf_writer_new();
    CHECK(gguf_writer_begin(w, "/nonexistent-dir/x.gguf", err, sizeof err) != 0 &&
          strstr(err, "/nonexistent-dir/x.gguf"));
    gguf_writer_free(w);

    unlink(path);
    rmdir(dir);
    if (check_fail_count) {
        fprintf(stderr, "%d check(s) failed\n", check_fail_count);
        return 1;
    }
    printf("gguf_write round-trip: ok\n");
    return 0;
}
