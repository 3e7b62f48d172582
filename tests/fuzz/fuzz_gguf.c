/* fuzz_gguf.c - libFuzzer target for the GGUF loader: open the input from
 * memory and, when it is accepted, touch everything the loader hands out
 * (every kv element and string byte, every tensor's first and last byte,
 * and a dequantized row of small tensors), so any validation gap becomes an
 * out-of-bounds read that ASan reports. Also linked into the replay driver
 * (replay.c) that ctest runs over the seed corpus. */
#include "gguf.h"
#include "quant.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

/* Mix a float's bits into the checksum: converting NaN/inf to an integer
 * would itself be undefined. */
static uint64_t bits_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    gguf_file *f = NULL;
    if (gguf_open_mem(data, size, "fuzz", &f, err, sizeof err) != 0) return 0;
    uint64_t acc = 0;
    for (size_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        acc += gguf_find(f, kv->key) == kv;
        if (kv->strs) {
            for (uint64_t k = 0; k < kv->n; k++)
                for (uint64_t c = 0; c < kv->strs[k].len; c++)
                    acc += (uint8_t)kv->strs[k].ptr[c];
        } else {
            for (uint64_t k = 0; k < kv->n; k++)
                acc += (uint64_t)gguf_arr_i64(kv, k) + bits_of(gguf_arr_f64(kv, k));
        }
    }
    for (size_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        acc += gguf_tensor_find(f, t->name) == t;
        const uint8_t *p = t->data;
        if (t->nbytes) acc += p[0] + p[t->nbytes - 1];
        const rt_type_traits *tr = rt_type_get(t->type);
        if (tr && t->ne[0] <= 4096) {
            float *row = malloc((size_t)t->ne[0] * sizeof *row);
            if (row) {
                tr->dequant(t->data, row, t->ne[0]);
                acc += bits_of(tr->dot_f32(t->data, row, t->ne[0]));
                /* the integer path, against the row itself as activation */
                const rt_vec_dot_traits *vd = rt_type_vec_dot(t->type);
                size_t qb = vd ? rt_type_row_size(vd->act_type, t->ne[0]) : 0;
                void *xq = qb ? malloc(qb) : NULL;
                if (xq) {
                    rt_type_get(vd->act_type)->quantize(row, xq, t->ne[0]);
                    acc += bits_of(vd->vec_dot(t->data, xq, t->ne[0]));
                    free(xq);
                }
                free(row);
            }
        }
    }
    sink = acc;
    gguf_close(f);
    return 0;
}
