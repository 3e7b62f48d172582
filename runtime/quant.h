/* quant.h - tensor types (ggml numbering) and their kernels, behind one dispatch table.
 *
 * Every type has a scalar reference implementation that is bit-exact with the
 * GGUF/ggml format definition: dequantize, quantize (reference rounding), and a
 * fused dequantize+dot against float activations. Fast paths (AVX2, ...) plug
 * into the same table and are checked against the scalar ones. */
#ifndef SWARM_QUANT_H
#define SWARM_QUANT_H

#include <stddef.h>
#include <stdint.h>

enum {
    RT_TYPE_F32 = 0,
    RT_TYPE_F16 = 1,
    RT_TYPE_Q4_0 = 2,
    RT_TYPE_Q4_1 = 3,
    RT_TYPE_Q5_0 = 6,
    RT_TYPE_Q5_1 = 7,
    RT_TYPE_Q8_0 = 8,
    RT_TYPE_Q8_1 = 9,
    RT_TYPE_Q2_K = 10,
    RT_TYPE_Q3_K = 11,
    RT_TYPE_Q4_K = 12,
    RT_TYPE_Q5_K = 13,
    RT_TYPE_Q6_K = 14,
    RT_TYPE_Q8_K = 15,
    RT_TYPE_BF16 = 30,
    RT_TYPE_MXFP4 = 39,
    RT_TYPE_COUNT = 40,
};

typedef struct {
    const char *name;  /* "q4_K", as ggml names it */
    int64_t blck_size; /* elements per block */
    size_t type_size;  /* bytes per block */
    /* n is a multiple of blck_size */
    void (*dequant)(const void *src, float *dst, int64_t n);
    /* NULL where the type has no quantizer here */
    void (*quantize)(const float *src, void *dst, int64_t n);
    /* sum_i dequant(w)[i] * x[i], accumulated in float */
    float (*dot_f32)(const void *w, const float *x, int64_t n);
} rt_type_traits;

/* NULL when the type id is unknown or unsupported. Picks the fastest
 * kernels this CPU runs (AVX2+FMA+F16C where present). */
const rt_type_traits *rt_type_get(uint32_t type);
/* The scalar reference kernels only (tests compare the fast ones to these). */
const rt_type_traits *rt_type_get_scalar(uint32_t type);
/* ggml's name ("q4_K"); "unknown type" for an id without one, never NULL. */
const char *rt_type_name(uint32_t type);
/* Bytes for a row of n elements; 0 if n is not a multiple of the block size. */
size_t rt_type_row_size(uint32_t type, int64_t n);

/* Integer dot products against activations quantized once per row (what
 * llama.cpp's CPU backend does; several times faster than dot_f32, at the
 * cost of the activation's 8-bit rounding): quantize x (n elements) with
 * rt_type_get(vt->act_type)->quantize into rt_type_row_size(vt->act_type, n)
 * bytes, then call vt->vec_dot(w_row, xq, n) for each weight row. n must be
 * a multiple of the act_type block size too (256 for Q8_K). */
typedef struct {
    uint32_t act_type; /* RT_TYPE_Q8_0 or RT_TYPE_Q8_K */
    float (*vec_dot)(const void *w, const void *xq, int64_t n);
    /* out[t * ldo + r] = vec_dot(w + r * w_stride, xq + t * x_stride, n) for
     * r < nr, t < nt, bit for bit: a token's result does not depend on the
     * other tokens of the call, so prompt processing and decode agree. */
    void (*gemm)(const void *w, size_t w_stride, int64_t nr, const void *xq, size_t x_stride,
                 int64_t nt, int64_t n, float *out, int64_t ldo);
    /* the act_type quantizer, bit-identical to rt_type_get(act_type)->quantize */
    void (*quantize_act)(const float *src, void *dst, int64_t n);
} rt_vec_dot_traits;

/* NULL when the weight type has no integer path (F32/F16/BF16, ...).
 * rt_type_vec_dot picks AVX-512 VNNI, then AVX2, then the scalar kernels;
 * rt_type_vec_dot_isa asks for one ("avx512vnni", "avx2", "scalar"; NULL
 * when this CPU or build lacks it) so tests can compare them all. */
const rt_vec_dot_traits *rt_type_vec_dot(uint32_t type);
const rt_vec_dot_traits *rt_type_vec_dot_scalar(uint32_t type);
const rt_vec_dot_traits *rt_type_vec_dot_isa(uint32_t type, const char *isa);

/* Block geometry of any ggml type id known to the GGUF format, including
 * types that have no kernels here (so files holding them still load and the
 * model loader can name the tensor that is unsupported). -1 when unknown. */
int rt_type_block_info(uint32_t type, int64_t *blck_size, size_t *type_size);

/* Half-precision helpers (exact conversions). */
float rt_fp16_to_f32(uint16_t h);
uint16_t rt_f32_to_fp16(float f);
float rt_bf16_to_f32(uint16_t h);
uint16_t rt_f32_to_bf16(float f); /* round to nearest even, NaN kept */

#endif
