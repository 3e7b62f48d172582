/* test_tokenizer.c - tokenizers against llama.cpp's own output.
 *
 * Checks every case of fixtures/tokenizer/X.tokenized.json (ids with
 * add_special, and the bytes of each id's piece) and every string of
 * llama.cpp's vocab test files (llama.cpp-vocab/X.gguf.inp vs .out, no
 * special tokens), then that detokenizing gives the input back for the BPE
 * vocabularies. Prints per-file pass counts; fails unless everything matches.
 * Usage: test_tokenizer FIXTURES_DIR    (or --ids MODEL.gguf TEXT to print ids) */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "vocab.h"
#include "../common/test_files.h"

typedef struct {
    gguf_file *g;
    rt_vocab *v;
} loaded;

static int load(const char *path, loaded *l)
{
    char err[512];
    if (gguf_open(path, &l->g, err, sizeof(err))) {
        fprintf(stderr, "FAIL open: %s\n", err);
        return -1;
    }
    if (rt_vocab_load(l->g, &l->v, err, sizeof(err))) {
        fprintf(stderr, "FAIL vocab: %s\n", err);
        gguf_close(l->g);
        return -1;
    }
    return 0;
}

static void unload(loaded *l)
{
    rt_vocab_free(l->v);
    gguf_close(l->g);
}

static void print_ids(const char *tag, const int32_t *ids, size_t n)
{
    fprintf(stderr, "    %s:", tag);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "\n");
}

static void print_text(const char *s, size_t n)
{
    fprintf(stderr, "  text \"");
    for (size_t i = 0; i < n && i < 120; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"')
            fprintf(stderr, "\\x%02x", c);
        else
            fputc(c, stderr);
    }
    fprintf(stderr, "\"%s\n", n > 120 ? "..." : "");
}

/* detokenize(tokenize(s)) == s, with no special tokens added */
static int roundtrip(const rt_vocab *v, const char *s, size_t n)
{
    int32_t *ids;
    size_t nid;
    char err[256];
    if (rt_vocab_tokenize(v, s, n, false, false, &ids, &nid, err, sizeof(err))) return -1;
    char *out = malloc(n * 4 + 64);
    size_t o = 0, cap = n * 4 + 64;
    int ok = 0;
    for (size_t i = 0; i < nid; i++) {
        int k = rt_vocab_piece(v, ids[i], out + o, cap - o);
        if (k < 0 || (size_t)k > cap - o) {
            ok = -1;
            break;
        }
        o += (size_t)k;
    }
    if (ok == 0 && (o != n || memcmp(out, s, n) != 0)) ok = -1;
    free(out);
    free(ids);
    return ok;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : (c | 32) - 'a' + 10;
}

static int check_json(const char *fix, const char *name, int *n_rt, int *n_rt_ok)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/tokenizer/%s", fix, name);
    char *js = test_file_read(path, NULL);
    cJSON *root = js ? cJSON_Parse(js) : NULL;
    free(js);
    if (!root) {
        fprintf(stderr, "FAIL %s: cannot read/parse\n", path);
        return 1;
    }
    const char *model = cJSON_GetStringValue(cJSON_GetObjectItem(root, "model"));
    const char *tm = cJSON_GetStringValue(cJSON_GetObjectItem(root, "tokenizer_model"));
    char arch[256];
    snprintf(arch, sizeof(arch), "%s", model ? model : "");
    char *dash = strchr(arch, '-');
    if (dash) *dash = 0;
    snprintf(path, sizeof(path), "%s/models/%s/%s", fix, arch, model ? model : "?");
    loaded l;
    if (load(path, &l)) {
        cJSON_Delete(root);
        return 1;
    }
    int bos_want = cJSON_GetObjectItem(root, "bos_id")->valueint;
    int fails = 0, total = 0;
    if (rt_vocab_bos(l.v) != bos_want) {
        fprintf(stderr, "FAIL %s: bos %d, want %d\n", name, rt_vocab_bos(l.v), bos_want);
        fails++;
    }
    if (rt_vocab_add_bos(l.v) != cJSON_IsTrue(cJSON_GetObjectItem(root, "add_bos"))) {
        fprintf(stderr, "FAIL %s: add_bos differs\n", name);
        fails++;
    }
    cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases"))
    {
        total++;
        const char *hex = cJSON_GetStringValue(cJSON_GetObjectItem(c, "text_hex"));
        size_t n = strlen(hex) / 2;
        char *s = malloc(n + 1);
        for (size_t i = 0; i < n; i++)
            s[i] = (char)(hexval(hex[2 * i]) * 16 + hexval(hex[2 * i + 1]));
        s[n] = 0;
        int32_t *ids = NULL;
        size_t nid = 0;
        char err[256];
        cJSON *want = cJSON_GetObjectItem(c, "ids"), *pieces = cJSON_GetObjectItem(c, "pieces_hex");
        int bad = 0;
        if (rt_vocab_tokenize(l.v, s, n, true, false, &ids, &nid, err, sizeof(err))) {
            fprintf(stderr, "FAIL %s: tokenize error %s\n", name, err);
            bad = 1;
        } else if ((int)nid != cJSON_GetArraySize(want)) {
            bad = 1;
        } else {
            for (size_t i = 0; i < nid; i++) {
                if (ids[i] != cJSON_GetArrayItem(want, (int)i)->valueint) bad = 1;
                char piece[512], ph[1100];
                int k = rt_vocab_piece(l.v, ids[i], piece, sizeof(piece));
                for (int j = 0; j < k && j < 512; j++)
                    sprintf(ph + 2 * j, "%02x", (unsigned char)piece[j]);
                ph[k > 0 ? 2 * k : 0] = 0;
                const char *pw = cJSON_GetStringValue(cJSON_GetArrayItem(pieces, (int)i));
                if (!pw || strcmp(pw, ph) != 0) {
                    fprintf(stderr, "  piece of %d: %s, want %s\n", ids[i], ph, pw ? pw : "?");
                    bad = 1;
                }
            }
        }
        if (bad) {
            fails++;
            fprintf(stderr, "FAIL %s case %d\n", name, total - 1);
            print_text(s, n);
            print_ids("got ", ids, nid);
            fprintf(stderr, "    want:");
            cJSON *x;
            cJSON_ArrayForEach(x, want) fprintf(stderr, " %d", x->valueint);
            fprintf(stderr, "\n");
        }
        if (tm && !strcmp(tm, "gpt2")) {
            (*n_rt)++;
            if (roundtrip(l.v, s, n) == 0)
                (*n_rt_ok)++;
            else {
                fprintf(stderr, "FAIL %s round-trip case %d\n", name, total - 1);
                print_text(s, n);
            }
        }
        free(ids);
        free(s);
    }
    printf("%-40s %d/%d cases match\n", name, total - fails, total);
    unload(&l);
    cJSON_Delete(root);
    return fails != 0;
}

static int check_vocab(const char *fix, const char *name, int *n_rt, int *n_rt_ok)
{
    char path[1024], pin[1100], pout[1100];
    snprintf(path, sizeof(path), "%s/tokenizer/llama.cpp-vocab/%s", fix, name);
    snprintf(pin, sizeof(pin), "%s.inp", path);
    snprintf(pout, sizeof(pout), "%s.out", path);
    size_t inl, outl;
    char *inp = test_file_read(pin, &inl), *outp = test_file_read(pout, &outl);
    loaded l;
    if (!inp || !outp || load(path, &l)) {
        fprintf(stderr, "FAIL %s: cannot read test files or vocab\n", name);
        free(inp);
        free(outp);
        return 1;
    }
    char model[32] = "";
    gguf_str ms;
    if (gguf_get_str(l.g, "tokenizer.ggml.model", &ms) == 0)
        snprintf(model, sizeof(model), "%.*s", (int)ms.len, ms.ptr);
    bool bpe = !strcmp(model, "gpt2");
    const char *sep = "\n__ggml_vocab_test__\n";
    size_t sepl = strlen(sep);
    char *p = inp, *q = outp, *inend = inp + inl;
    int total = 0, fails = 0;
    while (p < inend) {
        char *e = memmem(p, (size_t)(inend - p), sep, sepl);
        size_t n = e ? (size_t)(e - p) : (size_t)(inend - p);
        if (!e && n == 0) break;
        char *nl = strchr(q, '\n');
        if (!nl) {
            fprintf(stderr, "FAIL %s: .out has fewer lines than .inp has strings\n", name);
            fails++;
            break;
        }
        *nl = 0;
        int32_t want[4096];
        size_t nw = 0;
        for (char *t = strtok(q, " "); t && nw < 4096; t = strtok(NULL, " "))
            want[nw++] = atoi(t);
        q = nl + 1;
        total++;
        int32_t *ids = NULL;
        size_t nid = 0;
        char err[256];
        int bad = rt_vocab_tokenize(l.v, p, n, false, false, &ids, &nid, err, sizeof(err)) != 0;
        if (!bad) bad = nid != nw || (nid && memcmp(ids, want, nid * sizeof(int32_t)) != 0);
        if (bad) {
            fails++;
            fprintf(stderr, "FAIL %s string %d\n", name, total - 1);
            print_text(p, n);
            print_ids("got ", ids, nid);
            print_ids("want", want, nw);
        }
        free(ids);
        if (bpe) {
            (*n_rt)++;
            if (roundtrip(l.v, p, n) == 0)
                (*n_rt_ok)++;
            else {
                fprintf(stderr, "FAIL %s round-trip string %d\n", name, total - 1);
                print_text(p, n);
            }
        }
        if (!e) break;
        p = e + sepl;
    }
    printf("%-40s %d/%d strings match\n", name, total - fails, total);
    unload(&l);
    free(inp);
    free(outp);
    return fails != 0 || total == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_dir(const char *dir, const char *suffix, char **names, int max)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    struct dirent *e;
    size_t sl = strlen(suffix);
    while ((e = readdir(d)) && n < max) {
        size_t l = strlen(e->d_name);
        if (l > sl && !strcmp(e->d_name + l - sl, suffix)) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(*names), cmp_str);
    return n;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--ids")) {
        loaded l;
        if (load(argv[2], &l)) return 1;
        int32_t *ids;
        size_t n;
        char err[256];
        if (rt_vocab_tokenize(l.v, argv[3], strlen(argv[3]), false, false, &ids, &n, err,
                              sizeof(err))) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        for (size_t i = 0; i < n; i++)
            printf("%d ", ids[i]);
        printf("\n");
        free(ids);
        unload(&l);
        return 0;
    }
    const char *fix = argc > 1 ? argv[1] : getenv("SWARM_FIXTURES");
    const char *ci = getenv("CI");
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/tokenizer", fix ? fix : "");
    char *names[64];
    int nj = fix ? list_dir(dir, ".tokenized.json", names, 64) : -1;
    if (nj <= 0) {
        fprintf(stderr, "fixtures missing: %s\n", dir);
        return ci && !strcmp(ci, "true") ? 1 : 77;
    }
    int fails = 0, n_rt = 0, n_rt_ok = 0;
    for (int i = 0; i < nj; i++) {
        fails += check_json(fix, names[i], &n_rt, &n_rt_ok);
        free(names[i]);
    }
    snprintf(dir, sizeof(dir), "%s/tokenizer/llama.cpp-vocab", fix);
    int nv = list_dir(dir, ".gguf", names, 64);
    if (nv <= 0) {
        fprintf(stderr, "FAIL: no llama.cpp vocab files in %s\n", dir);
        fails++;
    }
    for (int i = 0; i < nv; i++) {
        fails += check_vocab(fix, names[i], &n_rt, &n_rt_ok);
        free(names[i]);
    }
    printf("round-trip (BPE vocabularies): %d/%d\n", n_rt_ok, n_rt);
    if (n_rt_ok != n_rt) fails++;
    printf("%s\n", fails ? "FAILED" : "all tokenizer checks passed");
    return fails ? 1 : 0;
}
