/* bench_kernels.c - matvec throughput of each tensor type's dot_f32 kernel:
 * the run-time-selected fast path (rt_type_get) against the scalar reference
 * (rt_type_get_scalar), on one thread.
 *
 * The machines this runs on are shared and noisy, so the two paths are timed
 * in alternating rounds within one run and each keeps its best round: the
 * ratio scalar/fast is the figure to trust, the absolute GB/s (bytes of
 * quantized weights streamed per second) the one to read with care. Both
 * results are also compared, so a fast path that computes garbage quickly
 * shows up as a large relative difference rather than as a speedup.
 *
 * Types with an integer path (rt_type_vec_dot: activations quantized once
 * per matvec to Q8_0/Q8_K, then integer dots) get a third timing, the
 * quantization of x included, compared with the fast dot_f32; its results
 * differ from the float ones by the activations' 8-bit rounding, so it is
 * checked with a looser bound (2e-2 of the largest output).
 *
 * --gemm T1,T2,... times the integer gemm instead (rt_type_vec_dot(type)->gemm,
 * what the forward pass runs): rows x cols weights against T tokens of
 * activations already quantized, in GMAC/s (multiply-adds per second) and
 * GB/s of weights streamed; --threads N splits the rows over N threads (the
 * decode figure: T = 1, a matrix larger than the caches, 2 threads). Each
 * (type, T) also checks the gemm against one vec_dot per (row, token).
 *
 * usage: bench_kernels [--rows R] [--cols C] [--rounds N] [--min-ms MS] [--json]
 *                      [--types f32,bf16,...] [--gemm T1,T2,...] [--threads N]
 * Exit 0 when every benchmarked type ran and its fast and scalar results
 * agree within 1e-3 relative (integer path: 2e-2; gemm: bit-identical to
 * vec_dot); 1 otherwise; 2 on bad usage. */
#include "quant.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct {
    const char *name;
    uint32_t type;
} bench_type;

/* The types the engine's models use (DESIGN.md, "Tensor types"). */
static const bench_type bench_types[] = {
    {"F32", RT_TYPE_F32},   {"F16", RT_TYPE_F16},   {"BF16", RT_TYPE_BF16},
    {"Q8_0", RT_TYPE_Q8_0}, {"Q4_0", RT_TYPE_Q4_0}, {"Q4_K", RT_TYPE_Q4_K},
    {"Q5_K", RT_TYPE_Q5_K}, {"Q6_K", RT_TYPE_Q6_K}, {"MXFP4", RT_TYPE_MXFP4},
};
#define N_BENCH_TYPES (sizeof bench_types / sizeof bench_types[0])

typedef struct {
    long rows, cols, rounds, min_ms, threads;
    bool json;
    const char *types; /* comma-separated names, NULL = all */
    const char *gemm;  /* comma-separated token counts, NULL = matvec mode */
} bench_opts;

static double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t bench_rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Roughly Gaussian weights (sum of uniforms): realistic block scales. */
static float bench_rng_weight(uint64_t *s)
{
    double a = 0.0;
    for (int i = 0; i < 4; i++)
        a += (double)(bench_rng_next(s) >> 11) / 9007199254740992.0 - 0.5;
    return (float)(a * 0.05);
}

static bool bench_type_wanted(const bench_opts *o, const char *name)
{
    if (!o->types) return true;
    size_t n = strlen(name);
    for (const char *p = o->types; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncasecmp(p, name, n) == 0) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

/* One matvec y = W x with the given kernel; returns seconds. */
static double bench_matvec(const rt_type_traits *tr, const unsigned char *w, size_t row_bytes,
                           const float *x, float *y, long rows, long cols)
{
    double t0 = bench_now_s();
    for (long r = 0; r < rows; r++)
        y[r] = tr->dot_f32(w + (size_t)r * row_bytes, x, cols);
    return bench_now_s() - t0;
}

/* The integer path: quantize x once, then one integer dot per row. */
static double bench_matvec_int(const rt_vec_dot_traits *vt, const rt_type_traits *act,
                               const unsigned char *w, size_t row_bytes, const float *x, void *xq,
                               float *y, long rows, long cols)
{
    double t0 = bench_now_s();
    act->quantize(x, xq, cols);
    for (long r = 0; r < rows; r++)
        y[r] = vt->vec_dot(w + (size_t)r * row_bytes, xq, cols);
    return bench_now_s() - t0;
}

static double bench_round_int(const rt_vec_dot_traits *vt, const rt_type_traits *act,
                              const unsigned char *w, size_t row_bytes, const float *x, void *xq,
                              float *y, long rows, long cols, long min_ms)
{
    double best = 1e30, spent = 0.0;
    int reps = 0;
    while (reps < 2 || spent * 1000.0 < (double)min_ms) {
        double t = bench_matvec_int(vt, act, w, row_bytes, x, xq, y, rows, cols);
        if (t < best) best = t;
        spent += t;
        reps++;
    }
    return best;
}

/* Largest |a - b| relative to the largest |b|, so rows that cancel to ~0 do
 * not blow it up; NaN anywhere counts as a mismatch. */
static double bench_max_rel(const float *a, const float *b, long n)
{
    double ymax = 0.0, dmax = 0.0;
    for (long r = 0; r < n; r++) {
        if (fabs((double)b[r]) > ymax) ymax = fabs((double)b[r]);
        double d = fabs((double)a[r] - (double)b[r]);
        if (d > dmax || d != d) dmax = d;
    }
    return ymax > 0.0 ? dmax / ymax : dmax;
}

/* Best time of one matvec over a round of at least min_ms. */
static double bench_round(const rt_type_traits *tr, const unsigned char *w, size_t row_bytes,
                          const float *x, float *y, long rows, long cols, long min_ms)
{
    double best = 1e30, spent = 0.0;
    int reps = 0;
    while (reps < 2 || spent * 1000.0 < (double)min_ms) {
        double t = bench_matvec(tr, w, row_bytes, x, y, rows, cols);
        if (t < best) best = t;
        spent += t;
        reps++;
    }
    return best;
}

typedef struct {
    double t_fast, t_scalar, max_rel;
    bool has_int;
    double t_int, max_rel_int; /* integer path, when has_int */
    size_t bytes;
} bench_result;

static int bench_one(const bench_opts *o, const bench_type *bt, bench_result *res, char *err,
                     size_t errlen)
{
    const rt_type_traits *fast = rt_type_get(bt->type);
    const rt_type_traits *ref = rt_type_get_scalar(bt->type);
    if (!fast || !ref) {
        snprintf(err, errlen, "%s: no kernels for this type", bt->name);
        return -1;
    }
    size_t row_bytes = rt_type_row_size(bt->type, o->cols);
    if (row_bytes == 0) {
        snprintf(err, errlen, "%s: --cols %ld is not a multiple of the block size %lld", bt->name,
                 o->cols, (long long)ref->blck_size);
        return -1;
    }
    if (!ref->quantize) {
        snprintf(err, errlen, "%s: no quantizer, cannot make realistic weights", bt->name);
        return -1;
    }
    int rc = -1;
    unsigned char *w = malloc(row_bytes * (size_t)o->rows);
    float *src = malloc(sizeof(float) * (size_t)o->cols);
    float *x = malloc(sizeof(float) * (size_t)o->cols);
    float *y_fast = malloc(sizeof(float) * (size_t)o->rows);
    float *y_ref = malloc(sizeof(float) * (size_t)o->rows);
    float *y_int = malloc(sizeof(float) * (size_t)o->rows);
    const rt_vec_dot_traits *vt = rt_type_vec_dot(bt->type);
    const rt_type_traits *act = vt ? rt_type_get(vt->act_type) : NULL;
    size_t xq_bytes = act ? rt_type_row_size(vt->act_type, o->cols) : 0;
    res->has_int = act && act->quantize && xq_bytes > 0;
    void *xq = res->has_int ? malloc(xq_bytes) : NULL;
    if (!w || !src || !x || !y_fast || !y_ref || !y_int || (res->has_int && !xq)) {
        snprintf(err, errlen, "%s: out of memory for a %ld x %ld matrix", bt->name, o->rows,
                 o->cols);
        goto done;
    }
    uint64_t s = 0x9E3779B97F4A7C15ull ^ bt->type;
    for (long r = 0; r < o->rows; r++) {
        for (long c = 0; c < o->cols; c++)
            src[c] = bench_rng_weight(&s);
        ref->quantize(src, w + (size_t)r * row_bytes, o->cols);
    }
    for (long c = 0; c < o->cols; c++)
        x[c] = bench_rng_weight(&s) * 20.0f;

    res->t_fast = res->t_scalar = res->t_int = 1e30;
    for (long k = 0; k < o->rounds; k++) {
        double tf = bench_round(fast, w, row_bytes, x, y_fast, o->rows, o->cols, o->min_ms);
        double ts = bench_round(ref, w, row_bytes, x, y_ref, o->rows, o->cols, o->min_ms);
        if (tf < res->t_fast) res->t_fast = tf;
        if (ts < res->t_scalar) res->t_scalar = ts;
        if (res->has_int) {
            double ti =
                bench_round_int(vt, act, w, row_bytes, x, xq, y_int, o->rows, o->cols, o->min_ms);
            if (ti < res->t_int) res->t_int = ti;
        }
    }
    res->max_rel = bench_max_rel(y_fast, y_ref, o->rows);
    res->max_rel_int = res->has_int ? bench_max_rel(y_int, y_ref, o->rows) : 0.0;
    res->bytes = row_bytes * (size_t)o->rows;
    rc = 0;
done:
    free(w);
    free(src);
    free(x);
    free(y_fast);
    free(y_ref);
    free(y_int);
    free(xq);
    return rc;
}

/* ---- gemm mode ---- */

typedef struct {
    const rt_vec_dot_traits *vt;
    const unsigned char *w;
    size_t row_bytes, x_bytes;
    const unsigned char *xq;
    long r0, r1, ntok, cols, ldo;
    float *out;
} bench_gemm_part;

static void *bench_gemm_thread(void *arg)
{
    const bench_gemm_part *p = arg;
    p->vt->gemm(p->w + (size_t)p->r0 * p->row_bytes, p->row_bytes, p->r1 - p->r0, p->xq, p->x_bytes,
                p->ntok, p->cols, p->out + p->r0, p->ldo);
    return NULL;
}

/* One gemm over all rows, split in contiguous row ranges (multiples of 16)
 * over nth threads; returns seconds, or -1 when a thread could not start. */
static double bench_gemm_run(bench_gemm_part *parts, long nth)
{
    pthread_t th[64];
    double t0 = bench_now_s();
    long started = 0;
    for (long k = 1; k < nth; k++) {
        if (pthread_create(&th[k], NULL, bench_gemm_thread, &parts[k]) != 0) break;
        started = k;
    }
    bench_gemm_thread(&parts[0]);
    for (long k = 1; k <= started; k++)
        pthread_join(th[k], NULL);
    double t = bench_now_s() - t0;
    return started == nth - 1 ? t : -1.0;
}

static int bench_gemm_type(const bench_opts *o, const bench_type *bt, long ntok, int *failed)
{
    const rt_vec_dot_traits *vt = rt_type_vec_dot(bt->type);
    const rt_type_traits *ref = rt_type_get_scalar(bt->type);
    if (!vt || !ref || !ref->quantize) return 0; /* no integer path: not a gemm type */
    const rt_type_traits *act = rt_type_get_scalar(vt->act_type);
    size_t row_bytes = rt_type_row_size(bt->type, o->cols);
    size_t x_bytes = rt_type_row_size(vt->act_type, o->cols);
    if (!row_bytes || !x_bytes) {
        fprintf(stderr, "bench_kernels: %s: --cols %ld does not fit the type's blocks\n", bt->name,
                o->cols);
        (*failed)++;
        return -1;
    }
    unsigned char *w = malloc(row_bytes * (size_t)o->rows);
    unsigned char *xq = malloc(x_bytes * (size_t)ntok);
    float *src = malloc(sizeof(float) * (size_t)o->cols);
    float *out = malloc(sizeof(float) * (size_t)o->rows * (size_t)ntok);
    if (!w || !xq || !src || !out) {
        fprintf(stderr, "bench_kernels: %s: out of memory for the gemm\n", bt->name);
        free(w), free(xq), free(src), free(out);
        (*failed)++;
        return -1;
    }
    uint64_t s = 0x9E3779B97F4A7C15ull ^ bt->type;
    for (long r = 0; r < o->rows; r++) {
        for (long c = 0; c < o->cols; c++)
            src[c] = bench_rng_weight(&s);
        ref->quantize(src, w + (size_t)r * row_bytes, o->cols);
    }
    for (long t = 0; t < ntok; t++) {
        for (long c = 0; c < o->cols; c++)
            src[c] = bench_rng_weight(&s) * 20.0f;
        act->quantize(src, xq + (size_t)t * x_bytes, o->cols);
    }
    long nth = o->threads < 1 ? 1 : (o->threads > 64 ? 64 : o->threads);
    bench_gemm_part parts[64];
    long per = ((o->rows + nth - 1) / nth + 15) / 16 * 16;
    for (long k = 0; k < nth; k++) {
        long r0 = k * per < o->rows ? k * per : o->rows;
        long r1 = r0 + per < o->rows ? r0 + per : o->rows;
        parts[k] =
            (bench_gemm_part){vt, w, row_bytes, x_bytes, xq, r0, r1, ntok, o->cols, o->rows, out};
    }
    double best = 1e30;
    for (long k = 0; k < o->rounds; k++) {
        double spent = 0.0;
        for (int reps = 0; reps < 2 || spent * 1000.0 < (double)o->min_ms; reps++) {
            double t = bench_gemm_run(parts, nth);
            if (t < 0) {
                fprintf(stderr, "bench_kernels: could not start %ld threads\n", nth);
                free(w), free(xq), free(src), free(out);
                (*failed)++;
                return -1;
            }
            if (t < best) best = t;
            spent += t;
        }
    }
    /* the gemm's promise: each (row, token) equals its one-pair vec_dot */
    long bad = 0;
    for (long r = 0; r < o->rows; r += 1 + o->rows / 64)
        for (long t = 0; t < ntok; t++) {
            float one = vt->vec_dot(w + (size_t)r * row_bytes, xq + (size_t)t * x_bytes, o->cols);
            if (memcmp(&one, &out[t * o->rows + r], sizeof one) != 0) bad++;
        }
    if (bad) (*failed)++;
    double macs = (double)o->rows * (double)o->cols * (double)ntok;
    double bytes = (double)row_bytes * (double)o->rows;
    if (o->json)
        printf("{\"bench\":\"gemm\",\"type\":\"%s\",\"rows\":%ld,\"cols\":%ld,\"tokens\":%ld,"
               "\"threads\":%ld,\"seconds\":%.6g,\"gmac_s\":%.4g,\"weight_gb_s\":%.4g,"
               "\"matches_vec_dot\":%s}\n",
               bt->name, o->rows, o->cols, ntok, nth, best, macs / best / 1e9, bytes / best / 1e9,
               bad ? "false" : "true");
    else
        printf("%-6s %6ld %8.3f %9.2f %9.2f%s\n", bt->name, ntok, best * 1e3, macs / best / 1e9,
               bytes / best / 1e9, bad ? "  MISMATCH vs vec_dot" : "");
    fflush(stdout);
    free(w), free(xq), free(src), free(out);
    return 0;
}

static int bench_gemm_all(const bench_opts *o)
{
    int failed = 0;
    if (!o->json)
        printf("integer gemm %ld x %ld, %ld thread(s), best of %ld rounds (activations "
               "quantized beforehand)\n%-6s %6s %8s %9s %9s\n",
               o->rows, o->cols, o->threads, o->rounds, "type", "tokens", "ms", "GMAC/s", "GB/s");
    for (size_t i = 0; i < N_BENCH_TYPES; i++) {
        const bench_type *bt = &bench_types[i];
        if (!bench_type_wanted(o, bt->name)) continue;
        for (const char *p = o->gemm; *p;) {
            char *end;
            long nt = strtol(p, &end, 10);
            if (end == p || nt < 1) {
                fprintf(stderr, "bench_kernels: --gemm wants token counts like 1,8,64\n");
                return 2;
            }
            bench_gemm_type(o, bt, nt, &failed);
            p = *end == ',' ? end + 1 : end;
            if (*end && *end != ',') return 2;
        }
    }
    return failed ? 1 : 0;
}

static int bench_parse_long(const char *s, long lo, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo) return -1;
    *out = v;
    return 0;
}

static int bench_usage(const char *msg)
{
    if (msg) fprintf(stderr, "bench_kernels: %s\n", msg);
    fprintf(stderr, "usage: bench_kernels [--rows R] [--cols C] [--rounds N] [--min-ms MS] "
                    "[--json] [--types f32,q4_0,...]\n"
                    "                     [--gemm 1,8,64] [--threads N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    bench_opts o = {.rows = 2048, .cols = 2048, .rounds = 5, .min_ms = 100, .threads = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            o.json = true;
            continue;
        }
        if (i + 1 >= argc) return bench_usage("missing value after an option");
        const char *v = argv[++i];
        long *dst = strcmp(a, "--rows") == 0      ? &o.rows
                    : strcmp(a, "--cols") == 0    ? &o.cols
                    : strcmp(a, "--rounds") == 0  ? &o.rounds
                    : strcmp(a, "--min-ms") == 0  ? &o.min_ms
                    : strcmp(a, "--threads") == 0 ? &o.threads
                                                  : NULL;
        if (strcmp(a, "--types") == 0)
            o.types = v;
        else if (strcmp(a, "--gemm") == 0)
            o.gemm = v;
        else if (!dst)
            return bench_usage("unknown option");
        else if (bench_parse_long(v, dst == &o.min_ms ? 0 : 1, dst) != 0)
            return bench_usage("option values must be positive integers");
    }
    size_t n_wanted = 0;
    for (size_t i = 0; i < N_BENCH_TYPES; i++)
        n_wanted += bench_type_wanted(&o, bench_types[i].name);
    if (n_wanted == 0) {
        fprintf(stderr, "bench_kernels: --types selected nothing (F32 F16 BF16 Q8_0 Q4_0 Q4_K "
                        "Q5_K Q6_K MXFP4)\n");
        return 2;
    }
    if (o.gemm) return bench_gemm_all(&o);
    int failed = 0;
    if (!o.json)
        printf("matvec %ld x %ld, 1 thread, best of %ld alternating rounds\n"
               "%-6s %8s %10s %10s %9s %8s %9s | %9s %8s %8s %9s\n",
               o.rows, o.cols, o.rounds, "type", "MB", "fast GB/s", "ref GB/s", "fast ms",
               "fast/ref", "max rel", "int GB/s", "int ms", "int/fast", "max rel");
    for (size_t i = 0; i < N_BENCH_TYPES; i++) {
        const bench_type *bt = &bench_types[i];
        if (!bench_type_wanted(&o, bt->name)) continue;
        bench_result r;
        char err[256];
        if (bench_one(&o, bt, &r, err, sizeof err) != 0) {
            fprintf(stderr, "bench_kernels: %s\n", err);
            failed++;
            continue;
        }
        bool agree = r.max_rel <= 1e-3 && (!r.has_int || r.max_rel_int <= 2e-2);
        if (!agree) failed++;
        double gbf = (double)r.bytes / r.t_fast / 1e9, gbs = (double)r.bytes / r.t_scalar / 1e9;
        double gbi = r.has_int ? (double)r.bytes / r.t_int / 1e9 : 0.0;
        if (o.json) {
            printf("{\"bench\":\"kernel\",\"type\":\"%s\",\"rows\":%ld,\"cols\":%ld,"
                   "\"weight_bytes\":%zu,\"fast_s\":%.6g,\"scalar_s\":%.6g,\"fast_gb_s\":%.4g,"
                   "\"scalar_gb_s\":%.4g,\"fast_gflop_s\":%.4g,\"speedup\":%.4g,"
                   "\"max_rel_diff\":%.3g,\"agree\":%s",
                   bt->name, o.rows, o.cols, r.bytes, r.t_fast, r.t_scalar, gbf, gbs,
                   2.0 * (double)o.rows * (double)o.cols / r.t_fast / 1e9, r.t_scalar / r.t_fast,
                   r.max_rel, agree ? "true" : "false");
            if (r.has_int)
                printf(",\"int_s\":%.6g,\"int_gb_s\":%.4g,\"int_vs_fast\":%.4g,"
                       "\"int_max_rel_diff\":%.3g",
                       r.t_int, gbi, r.t_fast / r.t_int, r.max_rel_int);
            printf("}\n");
        } else {
            printf("%-6s %8.2f %10.2f %10.2f %9.3f %7.2fx %9.2g |", bt->name, (double)r.bytes / 1e6,
                   gbf, gbs, r.t_fast * 1e3, r.t_scalar / r.t_fast, r.max_rel);
            if (r.has_int)
                printf(" %9.2f %8.3f %7.2fx %9.2g", gbi, r.t_int * 1e3, r.t_fast / r.t_int,
                       r.max_rel_int);
            else
                printf(" %9s %8s %8s %9s", "-", "-", "-", "-");
            printf("%s\n", agree ? "" : "  MISMATCH");
        }
        fflush(stdout);
    }
    return failed ? 1 : 0;
}
