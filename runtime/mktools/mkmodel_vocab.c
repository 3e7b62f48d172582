/* mkmodel_vocab.c - generated tokenizer vocabularies for `swarm-infer mkmodel`.
 *
 * A random-weight model still needs a real tokenizer so prompts tokenize and
 * generated ids detokenize. We learn BPE merges from a small built-in text
 * (English prose and code) the way a BPE trainer does — count adjacent symbol
 * pairs inside pre-tokenized chunks, merge the most frequent, repeat — then,
 * when the requested vocabulary is larger than the text supports (real
 * presets ask for 50k-200k tokens), pad with generated merges "token +
 * letter" in breadth-first order. Every token except bytes and specials is
 * reachable from its merge, so the vocabulary is a valid, if odd, BPE.
 *
 * Layout (ids): byte-level BPE = 256 byte tokens (GPT-2 byte->unicode
 * mapping, in byte order), learned merges, generated merges, special tokens
 * last. SentencePiece = <unk> <s> </s>, <0x00>..<0xFF>, learned pieces (score
 * -rank), generated pieces, then single characters with the lowest scores. */
#include "mkmodel_vocab.h"
#include "swarm_err.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Token types as llama.cpp stores them in tokenizer.ggml.token_type. */
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_BYTE = 6 };

/* Written for this project: a little prose and a little code, so the learned
 * merges cover common English words, whitespace and code punctuation. */
static const char mk_corpus[] =
    "The swarm runs many small agents at once. Each agent reads a task, thinks about it, and "
    "writes a short answer. When the answer is ready, the worker sends it back to the "
    "coordinator, which merges the results of all the agents into one report for the user.\n"
    "A good report is clear and honest. It says what was done, what was tested, and what is "
    "still missing. It does not hide errors; it names the file, the line and the reason.\n"
    "The model in this file has random weights. It was not trained on any data, so the text "
    "it writes has no meaning at all, but the shapes, the names and the tokenizer are the "
    "same as those of a real model, and that is what the tests need.\n"
    "Hello, world! How are you today? I am fine, thank you. The quick brown fox jumps over "
    "the lazy dog. She sells sea shells by the sea shore. Numbers: 0 1 2 3 4 5 6 7 8 9, "
    "10, 42, 100, 2024, 3.14159 and 1e-6.\n"
    "Question: what is the capital of France? Answer: Paris is the capital of France.\n"
    "Question: how many days are there in a week? Answer: there are seven days in a week.\n"
    "In the morning the team meets to plan the work of the day. Then everyone goes back to "
    "their own part of the code, writes tests first, and commits small changes often.\n"
    "\n"
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "#include <string.h>\n"
    "\n"
    "/* Return the number of words in a string. */\n"
    "static int count_words(const char *text)\n"
    "{\n"
    "    int count = 0;\n"
    "    int in_word = 0;\n"
    "    for (const char *p = text; *p != '\\0'; p++) {\n"
    "        if (*p == ' ' || *p == '\\n' || *p == '\\t') {\n"
    "            in_word = 0;\n"
    "        } else if (!in_word) {\n"
    "            in_word = 1;\n"
    "            count++;\n"
    "        }\n"
    "    }\n"
    "    return count;\n"
    "}\n"
    "\n"
    "int main(int argc, char **argv)\n"
    "{\n"
    "    if (argc < 2) {\n"
    "        fprintf(stderr, \"usage: %s TEXT\\n\", argv[0]);\n"
    "        return 1;\n"
    "    }\n"
    "    printf(\"%d\\n\", count_words(argv[1]));\n"
    "    return 0;\n"
    "}\n"
    "\n"
    "def merge_results(results, policy=\"concat\"):\n"
    "    \"\"\"Merge the results of the sub-agents into one value.\"\"\"\n"
    "    if policy == \"concat\":\n"
    "        return \"\\n\".join(r[\"text\"] for r in results if r.get(\"ok\"))\n"
    "    if policy == \"vote\":\n"
    "        counts = {}\n"
    "        for r in results:\n"
    "            counts[r[\"text\"]] = counts.get(r[\"text\"], 0) + 1\n"
    "        return max(counts, key=counts.get)\n"
    "    raise ValueError(f\"unknown merge policy: {policy}\")\n"
    "\n"
    "class Task:\n"
    "    def __init__(self, name, deps=None):\n"
    "        self.name = name\n"
    "        self.deps = list(deps or [])\n"
    "        self.state = \"pending\"\n"
    "\n"
    "    def ready(self, done):\n"
    "        return all(d in done for d in self.deps)\n"
    "\n"
    "{\"task\": \"summarize\", \"input\": \"README.md\", \"max_tokens\": 256, \"ok\": true}\n"
    "for i in range(10):\n"
    "    print(i, i * i)\n"
    "while (n > 0) { n = n - 1; total += n; }\n"
    "if (x == NULL) return -1; else return 0;\n"
    "The function returns zero on success and a negative value on error, and it fills the "
    "error message with the name of the file and the key that was wrong.\n";

/* ---- an interning string table (id <-> bytes) ---- */

typedef struct {
    char **str;
    uint32_t *len;
    size_t n, cap;
    int32_t *ht; /* open addressing, -1 = empty */
    size_t htcap;
} strtab;

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static void st_free(strtab *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->str[i]);
    free(t->str);
    free(t->len);
    free(t->ht);
    memset(t, 0, sizeof *t);
}

static int32_t st_find(const strtab *t, const char *s, size_t n)
{
    if (!t->htcap) return -1;
    size_t m = t->htcap - 1;
    for (size_t i = hash_bytes(s, n) & m;; i = (i + 1) & m) {
        int32_t id = t->ht[i];
        if (id < 0) return -1;
        if (t->len[id] == n && memcmp(t->str[id], s, n) == 0) return id;
    }
}

static int st_rehash(strtab *t, size_t cap)
{
    int32_t *ht = malloc(cap * sizeof *ht);
    if (!ht) return -1;
    for (size_t i = 0; i < cap; i++)
        ht[i] = -1;
    for (size_t id = 0; id < t->n; id++) {
        size_t i = hash_bytes(t->str[id], t->len[id]) & (cap - 1);
        while (ht[i] >= 0)
            i = (i + 1) & (cap - 1);
        ht[i] = (int32_t)id;
    }
    free(t->ht);
    t->ht = ht;
    t->htcap = cap;
    return 0;
}

/* Adds s (which must not be present); returns its id or -1 when out of memory. */
static int32_t st_add(strtab *t, const char *s, size_t n)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 1024;
        char **ns = realloc(t->str, cap * sizeof *ns);
        if (!ns) return -1;
        t->str = ns;
        uint32_t *nl = realloc(t->len, cap * sizeof *nl);
        if (!nl) return -1;
        t->len = nl;
        t->cap = cap;
    }
    if ((t->n + 1) * 2 > t->htcap && st_rehash(t, t->htcap ? 2 * t->htcap : 2048)) return -1;
    char *c = malloc(n + 1);
    if (!c) return -1;
    memcpy(c, s, n);
    c[n] = 0;
    int32_t id = (int32_t)t->n++;
    t->str[id] = c;
    t->len[id] = (uint32_t)n;
    size_t i = hash_bytes(s, n) & (t->htcap - 1);
    while (t->ht[i] >= 0)
        i = (i + 1) & (t->htcap - 1);
    t->ht[i] = id;
    return id;
}

static int32_t st_intern(strtab *t, const char *s, size_t n)
{
    int32_t id = st_find(t, s, n);
    return id >= 0 ? id : st_add(t, s, n);
}

/* Concatenation of two entries, interned; *is_new says whether it was added. */
static int32_t st_concat(strtab *t, int32_t a, int32_t b, bool *is_new)
{
    size_t la = t->len[a], lb = t->len[b];
    char buf[256];
    char *p = la + lb <= sizeof buf ? buf : malloc(la + lb);
    if (!p) return -1;
    memcpy(p, t->str[a], la);
    memcpy(p + la, t->str[b], lb);
    int32_t id = st_find(t, p, la + lb);
    *is_new = id < 0;
    if (id < 0) id = st_add(t, p, la + lb);
    if (p != buf) free(p);
    return id;
}

/* ---- GPT-2 byte <-> unicode mapping ---- */

static bool byte_printable(int b)
{
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

/* UTF-8 of the code point GPT-2 uses for byte b; returns its length. */
static size_t byte_to_utf8(int b, char out[4])
{
    unsigned cp;
    if (byte_printable(b)) {
        cp = (unsigned)b;
    } else {
        unsigned k = 0;
        for (int x = 0; x < b; x++)
            if (!byte_printable(x)) k++;
        cp = 256 + k;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* ---- pre-tokenization of the training text into chunks ---- */

static bool is_letter(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}
static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}
static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}
static bool is_punct(unsigned char c)
{
    return !is_letter(c) && !is_digit(c) && !is_space(c);
}

/* End of the chunk starting at i, approximating the GPT-2/Qwen2 regexes:
 * " ?letters", single digits, " ?punctuation", whitespace runs (a run's last
 * space goes with the word that follows it). Merges never cross chunks. */
static size_t chunk_end_bpe(const unsigned char *t, size_t n, size_t i)
{
    unsigned char c = t[i];
    size_t j = i + 1;
    if (c == ' ' && j < n && !is_space(t[j]) && !is_digit(t[j])) {
        c = t[j++];
    }
    if (is_letter(c)) {
        while (j < n && is_letter(t[j]))
            j++;
    } else if (is_digit(c)) {
        /* one digit per chunk */
    } else if (is_space(c)) {
        while (j < n && is_space(t[j]))
            j++;
        if (j < n && j - i > 1 && t[j - 1] == ' ') j--;
    } else {
        while (j < n && is_punct(t[j]))
            j++;
    }
    return j;
}

typedef struct {
    int32_t *sym;
    int32_t len;
    int32_t count;
} word;

typedef struct {
    strtab tab; /* symbols: bytes/chars, then merge results */
    word *words;
    size_t n_words;
    int32_t *ma, *mb, *mr; /* merges in order: a b -> r */
    bool *mnew;            /* whether merge i created a new token */
    size_t n_merges, merges_cap;
} trainer;

static void trainer_free(trainer *tr)
{
    st_free(&tr->tab);
    for (size_t i = 0; i < tr->n_words; i++)
        free(tr->words[i].sym);
    free(tr->words);
    free(tr->ma);
    free(tr->mb);
    free(tr->mr);
    free(tr->mnew);
}

/* Adds one chunk (its symbols already interned) to the word multiset. */
static int add_word(trainer *tr, strtab *chunks, const char *raw, size_t rawlen, const int32_t *sym,
                    int32_t len)
{
    int32_t id = st_find(chunks, raw, rawlen);
    if (id >= 0) {
        tr->words[id].count++;
        return 0;
    }
    id = st_add(chunks, raw, rawlen);
    if (id < 0) return -1;
    word *nw = realloc(tr->words, (size_t)(id + 1) * sizeof *nw);
    if (!nw) return -1;
    tr->words = nw;
    word *w = &tr->words[id];
    w->sym = malloc((size_t)len * sizeof *w->sym);
    if (!w->sym) return -1;
    memcpy(w->sym, sym, (size_t)len * sizeof *sym);
    w->len = len;
    w->count = 1;
    tr->n_words = (size_t)id + 1;
    return 0;
}

typedef struct {
    uint64_t key;
    int64_t count;
} pair_count;

static int cmp_pair(const void *x, const void *y)
{
    const pair_count *a = x, *b = y;
    return a->key < b->key ? -1 : a->key > b->key;
}

static int push_merge(trainer *tr, int32_t a, int32_t b, int32_t r, bool is_new)
{
    if (tr->n_merges == tr->merges_cap) {
        size_t cap = tr->merges_cap ? 2 * tr->merges_cap : 1024;
        int32_t *na = realloc(tr->ma, cap * sizeof *na);
        if (!na) return -1;
        tr->ma = na;
        int32_t *nb = realloc(tr->mb, cap * sizeof *nb);
        if (!nb) return -1;
        tr->mb = nb;
        int32_t *nr = realloc(tr->mr, cap * sizeof *nr);
        if (!nr) return -1;
        tr->mr = nr;
        bool *nn = realloc(tr->mnew, cap * sizeof *nn);
        if (!nn) return -1;
        tr->mnew = nn;
        tr->merges_cap = cap;
    }
    tr->ma[tr->n_merges] = a;
    tr->mb[tr->n_merges] = b;
    tr->mr[tr->n_merges] = r;
    tr->mnew[tr->n_merges] = is_new;
    tr->n_merges++;
    return 0;
}

/* Learns merges until want new tokens exist or every chunk is one symbol
 * (pairs seen once are merged too, last: they give whole words).
 * Returns the number of new tokens, or -1 when out of memory. */
static int64_t train(trainer *tr, int64_t want)
{
    size_t total = 0;
    for (size_t i = 0; i < tr->n_words; i++)
        total += (size_t)tr->words[i].len;
    pair_count *pc = malloc((total + 1) * sizeof *pc);
    if (!pc) return -1;
    int64_t made = 0;
    while (made < want) {
        size_t np = 0;
        for (size_t i = 0; i < tr->n_words; i++) {
            const word *w = &tr->words[i];
            for (int32_t j = 0; j + 1 < w->len; j++) {
                pc[np].key = (uint64_t)(uint32_t)w->sym[j] << 32 | (uint32_t)w->sym[j + 1];
                pc[np].count = w->count;
                np++;
            }
        }
        if (!np) break;
        qsort(pc, np, sizeof *pc, cmp_pair);
        uint64_t best = 0;
        int64_t best_n = 0;
        for (size_t i = 0; i < np;) {
            size_t j = i;
            int64_t c = 0;
            while (j < np && pc[j].key == pc[i].key)
                c += pc[j++].count;
            if (c > best_n) { /* ties: the smallest key wins (deterministic) */
                best_n = c;
                best = pc[i].key;
            }
            i = j;
        }
        if (best_n < 1) break;
        int32_t a = (int32_t)(best >> 32), b = (int32_t)(best & 0xffffffffu);
        bool is_new;
        int32_t r = st_concat(&tr->tab, a, b, &is_new);
        if (r < 0 || push_merge(tr, a, b, r, is_new)) {
            free(pc);
            return -1;
        }
        if (is_new) made++;
        for (size_t i = 0; i < tr->n_words; i++) {
            word *w = &tr->words[i];
            int32_t o = 0;
            for (int32_t j = 0; j < w->len; j++) {
                if (j + 1 < w->len && w->sym[j] == a && w->sym[j + 1] == b) {
                    w->sym[o++] = r;
                    j++;
                } else {
                    w->sym[o++] = w->sym[j];
                }
            }
            w->len = o;
        }
    }
    free(pc);
    return made;
}

/* Whether a token is a word or word piece (optional space marker, then
 * ASCII letters): only those seed the generated padding, so padded tokens
 * look like longer words rather than whitespace or punctuation runs. */
static bool wordlike(const strtab *tab, int32_t id, const char *marker, size_t mlen)
{
    const char *s = tab->str[id];
    size_t n = tab->len[id], i = 0;
    if (n >= mlen && memcmp(s, marker, mlen) == 0) i = mlen;
    if (i == n) return false;
    for (; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z'))) return false;
    return true;
}

/* Generated padding: token + letter, breadth first over the tokens, until
 * want more new tokens exist. letters are symbol ids of 'a'..'z'. */
static int64_t pad_merges(trainer *tr, const int32_t *seed_ids, size_t n_seed,
                          const int32_t *letters, int64_t want)
{
    int32_t *queue = malloc((size_t)(n_seed + (size_t)want + 1) * sizeof *queue);
    if (!queue) return -1;
    memcpy(queue, seed_ids, n_seed * sizeof *seed_ids);
    size_t qh = 0, qt = n_seed;
    int64_t made = 0;
    while (made < want && qh < qt) {
        int32_t a = queue[qh++];
        for (int l = 0; l < 26 && made < want; l++) {
            bool is_new;
            int32_t r = st_concat(&tr->tab, a, letters[l], &is_new);
            if (r < 0) {
                free(queue);
                return -1;
            }
            if (!is_new) continue;
            if (push_merge(tr, a, letters[l], r, true)) {
                free(queue);
                return -1;
            }
            queue[qt++] = r;
            made++;
        }
    }
    free(queue);
    return made;
}

/* ---- families ---- */

typedef struct {
    const char *text;
    int type;
} special;

typedef struct {
    const char *pre;
    const special *specials;
    int n_specials;
    int bos, eos, pad; /* index into specials, -1 = none */
    bool add_bos;
    const char *chat_template;
} family_desc;

static const special qwen_sp[] = {
    {"<|endoftext|>", TT_CONTROL}, {"<|im_start|>", TT_CONTROL}, {"<|im_end|>", TT_CONTROL},
    {"<think>", TT_USER},          {"</think>", TT_USER},
};
static const special olmo_sp[] = {{"<|endoftext|>", TT_CONTROL}, {"<|padding|>", TT_CONTROL}};
static const special ds_sp[] = {{"<\xef\xbd\x9c"
                                 "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                                 TT_CONTROL},
                                {"<\xef\xbd\x9c"
                                 "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                                 TT_CONTROL}};
static const special ds3_sp[] = {
    {"<\xef\xbd\x9c"
     "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
     TT_CONTROL},
    {"<\xef\xbd\x9c"
     "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
     TT_CONTROL},
    {"<\xef\xbd\x9cUser\xef\xbd\x9c>", TT_USER},
    {"<\xef\xbd\x9c"
     "Assistant\xef\xbd\x9c>",
     TT_USER},
};
static const special gptoss_sp[] = {
    {"<|startoftext|>", TT_CONTROL}, {"<|endoftext|>", TT_CONTROL}, {"<|return|>", TT_CONTROL},
    {"<|constrain|>", TT_CONTROL},   {"<|channel|>", TT_CONTROL},   {"<|start|>", TT_CONTROL},
    {"<|end|>", TT_CONTROL},         {"<|message|>", TT_CONTROL},   {"<|call|>", TT_CONTROL},
};
static const special spm_sp[] = {{"<unk>", TT_UNKNOWN}, {"<s>", TT_CONTROL}, {"</s>", TT_CONTROL}};

static const char chatml_tmpl[] =
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}{%- endif %}";
static const char olmo_tmpl[] =
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{ "
    "'<|system|>\\n' + message['content'] + '\\n' }}{% elif message['role'] == 'user' %}{{ "
    "'<|user|>\\n' + message['content'] + '\\n' }}{% elif message['role'] == 'assistant' %}{{ "
    "'<|assistant|>\\n' + message['content'] + eos_token + '\\n' }}{% endif %}{% if loop.last "
    "and add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}{% endfor %}";
static const char ds_tmpl[] =
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ 'User: ' "
    "+ message['content'] + '\\n\\n' }}{% elif message['role'] == 'assistant' %}{{ 'Assistant: "
    "' + message['content'] + eos_token }}{% elif message['role'] == 'system' %}{{ "
    "message['content'] + '\\n\\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ "
    "'Assistant:' }}{% endif %}";
static const char ds3_tmpl[] =
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{ "
    "message['content'] }}{% elif message['role'] == 'user' %}{{ '<\xef\xbd\x9cUser\xef\xbd\x9c>' "
    "+ "
    "message['content'] }}{% elif message['role'] == 'assistant' %}{{ "
    "'<\xef\xbd\x9c"
    "Assistant\xef\xbd\x9c>' + message['content'] + eos_token }}{% endif %}{% endfor "
    "%}{% if add_generation_prompt %}{{ '<\xef\xbd\x9c"
    "Assistant\xef\xbd\x9c>' }}{% endif %}";
static const char harmony_tmpl[] =
    "{#- harmony (gpt-oss) -#}{%- for message in messages %}{{- '<|start|>' + message['role'] + "
    "'<|message|>' + message['content'] + '<|end|>' }}{%- endfor %}{%- if add_generation_prompt "
    "%}{{- '<|start|>assistant<|channel|>final<|message|>' }}{%- endif %}";
static const char mistral_tmpl[] =
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' "
    "+ message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ "
    "message['content'] + eos_token }}{% endif %}{% endfor %}";

#define NSP(a) ((int)(sizeof a / sizeof a[0]))
static const family_desc families[] = {
    [MK_VOCAB_QWEN] = {"qwen2", qwen_sp, NSP(qwen_sp), 0, 2, 0, false, chatml_tmpl},
    [MK_VOCAB_OLMO] = {"olmo", olmo_sp, NSP(olmo_sp), 0, 0, 1, false, olmo_tmpl},
    [MK_VOCAB_DEEPSEEK] = {"deepseek-llm", ds_sp, NSP(ds_sp), 0, 1, 1, true, ds_tmpl},
    [MK_VOCAB_DEEPSEEK3] = {"deepseek-v3", ds3_sp, NSP(ds3_sp), 0, 1, 1, true, ds3_tmpl},
    [MK_VOCAB_GPTOSS] = {"gpt-4o", gptoss_sp, NSP(gptoss_sp), 0, 2, 1, false, harmony_tmpl},
    [MK_VOCAB_SPM] = {NULL, spm_sp, NSP(spm_sp), 1, 2, -1, true, mistral_tmpl},
};

int32_t mk_vocab_min_size(mk_vocab_family fam)
{
    /* bytes + specials + room for the single-character pieces / some merges */
    return fam == MK_VOCAB_SPM ? 3 + 256 + 128 : 256 + families[fam].n_specials + 64;
}

/* Final token list being assembled for the GGUF arrays. */
typedef struct {
    const char **text;
    size_t *len;
    int32_t *type;
    float *score;
    size_t n;
} toklist;

/* Room for n tokens; 0, or -1 when out of memory (toklist_free still safe). */
static int toklist_alloc(toklist *tl, int64_t n)
{
    tl->text = malloc((size_t)n * sizeof *tl->text);
    tl->len = malloc((size_t)n * sizeof *tl->len);
    tl->type = malloc((size_t)n * sizeof *tl->type);
    tl->score = malloc((size_t)n * sizeof *tl->score);
    return tl->text && tl->len && tl->type && tl->score ? 0 : -1;
}

static void toklist_free(toklist *tl)
{
    free(tl->text);
    free(tl->len);
    free(tl->type);
    free(tl->score);
}

static void tok_push(toklist *tl, const char *s, size_t n, int32_t type, float score)
{
    tl->text[tl->n] = s;
    tl->len[tl->n] = n;
    tl->type[tl->n] = type;
    tl->score[tl->n] = score;
    tl->n++;
}

static int add_special_keys(gguf_writer *w, const family_desc *fd, int32_t first_special, char *err,
                            size_t errlen)
{
    if (fd->bos >= 0 && gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id",
                                            (uint32_t)(first_special + fd->bos), err, errlen))
        return -1;
    if (gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)(first_special + fd->eos),
                            err, errlen))
        return -1;
    if (fd->pad >= 0 && gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id",
                                            (uint32_t)(first_special + fd->pad), err, errlen))
        return -1;
    if (gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", fd->add_bos, err, errlen) ||
        gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", false, err, errlen) ||
        gguf_writer_add_str(w, "tokenizer.chat_template", fd->chat_template, err, errlen))
        return -1;
    return 0;
}

static int build_bpe(gguf_writer *w, const family_desc *fd, int32_t n_vocab, char *err,
                     size_t errlen)
{
    trainer tr;
    memset(&tr, 0, sizeof tr);
    strtab chunks;
    memset(&chunks, 0, sizeof chunks);
    toklist tl = {0};
    char **merge_txt = NULL;
    size_t n_merge_txt = 0;
    int rc = -1;

    for (int b = 0; b < 256; b++) {
        char u[4];
        size_t n = byte_to_utf8(b, u);
        if (st_add(&tr.tab, u, n) != b) goto oom;
    }
    const unsigned char *t = (const unsigned char *)mk_corpus;
    size_t n = sizeof mk_corpus - 1;
    int32_t sym[256];
    for (size_t i = 0; i < n;) {
        size_t j = chunk_end_bpe(t, n, i);
        if (j - i > sizeof sym / sizeof sym[0]) j = i + sizeof sym / sizeof sym[0];
        for (size_t k = i; k < j; k++)
            sym[k - i] = t[k];
        if (add_word(&tr, &chunks, (const char *)t + i, j - i, sym, (int32_t)(j - i))) goto oom;
        i = j;
    }
    int64_t want = (int64_t)n_vocab - 256 - fd->n_specials;
    int64_t learned = train(&tr, want);
    if (learned < 0) goto oom;
    if (getenv("MKMODEL_DEBUG"))
        fprintf(stderr, "vocab: learned %lld of %lld\n", (long long)learned, (long long)want);
    if (learned < want) {
        /* seeds: learned tokens first (so padding extends real words), then letters */
        size_t n_seed = 0;
        int32_t *seeds = malloc((tr.n_merges + 27) * sizeof *seeds);
        int32_t letters[26];
        if (!seeds) goto oom;
        seeds[n_seed++] = ' '; /* the byte token of the space ("Ġ") */
        for (size_t m = 0; m < tr.n_merges; m++)
            if (tr.mnew[m] && wordlike(&tr.tab, tr.mr[m], "\xc4\xa0", 2))
                seeds[n_seed++] = tr.mr[m];
        for (int l = 0; l < 26; l++) {
            letters[l] = 'a' + l; /* byte token ids equal the byte */
            seeds[n_seed++] = letters[l];
        }
        int64_t padded = pad_merges(&tr, seeds, n_seed, letters, want - learned);
        free(seeds);
        if (padded < 0) goto oom;
        if (padded < want - learned) {
            swarm_err_set(err, errlen, "vocabulary: could not generate %lld tokens",
                          (long long)(want - learned));
            goto out;
        }
    }
    /* tokens: bytes, merge results in merge order, specials */
    int tl_rc = toklist_alloc(&tl, n_vocab);
    merge_txt = calloc(tr.n_merges + 1, sizeof *merge_txt);
    if (tl_rc || !merge_txt) goto oom;
    for (int b = 0; b < 256; b++)
        tok_push(&tl, tr.tab.str[b], tr.tab.len[b], TT_NORMAL, 0.0f);
    for (size_t m = 0; m < tr.n_merges; m++) {
        const char *sa = tr.tab.str[tr.ma[m]], *sb = tr.tab.str[tr.mb[m]];
        size_t la = tr.tab.len[tr.ma[m]], lb = tr.tab.len[tr.mb[m]];
        char *s = malloc(la + lb + 2);
        if (!s) goto oom;
        memcpy(s, sa, la);
        s[la] = ' ';
        memcpy(s + la + 1, sb, lb);
        s[la + 1 + lb] = 0;
        merge_txt[n_merge_txt++] = s;
        if (tr.mnew[m]) tok_push(&tl, tr.tab.str[tr.mr[m]], tr.tab.len[tr.mr[m]], TT_NORMAL, 0.0f);
    }
    int32_t first_special = (int32_t)tl.n;
    for (int s = 0; s < fd->n_specials; s++)
        tok_push(&tl, fd->specials[s].text, strlen(fd->specials[s].text), fd->specials[s].type,
                 0.0f);
    if (tl.n != (size_t)n_vocab) {
        swarm_err_set(err, errlen, "vocabulary: built %zu tokens, wanted %d", tl.n, n_vocab);
        goto out;
    }
    if (gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2", err, errlen) ||
        gguf_writer_add_str(w, "tokenizer.ggml.pre", fd->pre, err, errlen) ||
        gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", tl.text, tl.len, tl.n, err, errlen) ||
        gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_T_INT32, tl.type, tl.n, err,
                            errlen) ||
        gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merge_txt, NULL,
                                n_merge_txt, err, errlen) ||
        add_special_keys(w, fd, first_special, err, errlen))
        goto out;
    rc = 0;
    goto out;
oom:
    swarm_err_set(err, errlen, "vocabulary: out of memory");
out:
    for (size_t m = 0; m < n_merge_txt; m++)
        free(merge_txt[m]);
    free(merge_txt);
    toklist_free(&tl);
    st_free(&chunks);
    trainer_free(&tr);
    return rc;
}

static size_t utf8_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

#define SPM_SPACE "\xe2\x96\x81" /* U+2581, the SentencePiece word marker */

static int build_spm(gguf_writer *w, const family_desc *fd, int32_t n_vocab, char *err,
                     size_t errlen)
{
    trainer tr;
    memset(&tr, 0, sizeof tr);
    strtab chunks;
    memset(&chunks, 0, sizeof chunks);
    toklist tl = {0};
    char(*bytes)[8] = NULL;
    int rc = -1;

    /* Single-character pieces: printable ASCII, the word marker, and every
     * character of the text; they get the lowest scores (like Llama's). */
    for (int c = 32; c < 127; c++) {
        char s[1] = {(char)(c == ' ' ? 0 : c)};
        if (c == ' ') {
            if (st_intern(&tr.tab, SPM_SPACE, 3) < 0) goto oom;
        } else if (st_intern(&tr.tab, s, 1) < 0) {
            goto oom;
        }
    }
    /* chunks: "▁word" pieces; the text's spaces become ▁ and a ▁ is prepended */
    const unsigned char *t = (const unsigned char *)mk_corpus;
    size_t n = sizeof mk_corpus - 1;
    int32_t sym[256];
    char raw[1024];
    for (size_t i = 0; i < n;) {
        int32_t len = 0;
        size_t rl = 0;
        if (t[i] == '\n' || t[i] == '\t') {
            i++; /* bytes fallback handles control characters */
            continue;
        }
        /* one chunk: optional marker for the space(s) before, then non-space chars */
        bool marker = (i == 0 || t[i] == ' ');
        if (t[i] == ' ') i++;
        if (marker) {
            sym[len++] = st_intern(&tr.tab, SPM_SPACE, 3);
            memcpy(raw, SPM_SPACE, 3);
            rl = 3;
        }
        while (i < n && t[i] != ' ' && t[i] != '\n' && t[i] != '\t' && len < 255 && rl < 1000) {
            size_t cl = utf8_len(t[i]);
            if (i + cl > n) cl = n - i;
            int32_t id = st_intern(&tr.tab, (const char *)t + i, cl);
            if (id < 0) goto oom;
            sym[len++] = id;
            memcpy(raw + rl, t + i, cl);
            rl += cl;
            i += cl;
        }
        if (len > 0 && add_word(&tr, &chunks, raw, rl, sym, len)) goto oom;
    }
    size_t n_chars = tr.tab.n;
    int64_t want = (int64_t)n_vocab - fd->n_specials - 256 - (int64_t)n_chars;
    if (want < 0) {
        swarm_err_set(err, errlen,
                      "vocabulary: %d tokens is too small for a SentencePiece vocabulary", n_vocab);
        goto out;
    }
    int64_t learned = train(&tr, want);
    if (learned < 0) goto oom;
    if (getenv("MKMODEL_DEBUG"))
        fprintf(stderr, "vocab: learned %lld of %lld\n", (long long)learned, (long long)want);
    if (learned < want) {
        size_t n_seed = 0;
        int32_t *seeds = malloc((tr.n_merges + 1) * sizeof *seeds);
        int32_t letters[26];
        if (!seeds) goto oom;
        seeds[n_seed++] = st_find(&tr.tab, SPM_SPACE, 3);
        for (size_t m = 0; m < tr.n_merges; m++)
            if (tr.mnew[m] && wordlike(&tr.tab, tr.mr[m], SPM_SPACE, 3)) seeds[n_seed++] = tr.mr[m];
        for (int l = 0; l < 26; l++) {
            char c = (char)('a' + l);
            letters[l] = st_find(&tr.tab, &c, 1);
        }
        int64_t padded = pad_merges(&tr, seeds, n_seed, letters, want - learned);
        free(seeds);
        if (padded < 0) goto oom;
        if (padded < want - learned) {
            swarm_err_set(err, errlen, "vocabulary: could not generate %lld pieces",
                          (long long)(want - learned));
            goto out;
        }
    }
    int tl_rc = toklist_alloc(&tl, n_vocab);
    bytes = malloc(256 * sizeof *bytes);
    if (tl_rc || !bytes) goto oom;
    for (int s = 0; s < fd->n_specials; s++)
        tok_push(&tl, fd->specials[s].text, strlen(fd->specials[s].text), fd->specials[s].type,
                 0.0f);
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        tok_push(&tl, bytes[b], 6, TT_BYTE, 0.0f);
    }
    float score = 0.0f;
    for (size_t m = 0; m < tr.n_merges; m++)
        if (tr.mnew[m]) {
            score -= 1.0f;
            tok_push(&tl, tr.tab.str[tr.mr[m]], tr.tab.len[tr.mr[m]], TT_NORMAL, score);
        }
    for (size_t c = 0; c < n_chars; c++) {
        score -= 1.0f;
        tok_push(&tl, tr.tab.str[c], tr.tab.len[c], TT_NORMAL, score);
    }
    if (tl.n != (size_t)n_vocab) {
        swarm_err_set(err, errlen, "vocabulary: built %zu pieces, wanted %d", tl.n, n_vocab);
        goto out;
    }
    if (gguf_writer_add_str(w, "tokenizer.ggml.model", "llama", err, errlen) ||
        gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", tl.text, tl.len, tl.n, err, errlen) ||
        gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_T_INT32, tl.type, tl.n, err,
                            errlen) ||
        gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_T_FLOAT32, tl.score, tl.n, err,
                            errlen) ||
        gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 0, err, errlen) ||
        add_special_keys(w, fd, 0, err, errlen))
        goto out;
    rc = 0;
    goto out;
oom:
    swarm_err_set(err, errlen, "vocabulary: out of memory");
out:
    free(bytes);
    toklist_free(&tl);
    st_free(&chunks);
    trainer_free(&tr);
    return rc;
}

bool mk_vocab_is_muted(mk_vocab_family fam, int32_t n_vocab, int32_t id)
{
    if ((unsigned)fam > MK_VOCAB_SPM) return false;
    const family_desc *fd = &families[fam];
    /* byte tokens: bytes 0..255 at ids 0..255 (BPE) or 3..258 (SPM) */
    int32_t byte = fam == MK_VOCAB_SPM ? id - 3 : id;
    if (byte >= 0 && byte < 256)
        return !(byte == '\t' || byte == '\n' || (byte >= 32 && byte < 127));
    /* the layouts built below: SPM specials first, BPE specials last */
    int32_t first = fam == MK_VOCAB_SPM ? 0 : n_vocab - fd->n_specials;
    if (id < first || id >= first + fd->n_specials) return false;
    return id - first != fd->eos;
}

int mk_vocab_add(gguf_writer *w, mk_vocab_family fam, int32_t n_vocab, char *err, size_t errlen)
{
    if ((unsigned)fam > MK_VOCAB_SPM)
        return swarm_err_set(err, errlen, "vocabulary: unknown family");
    if (n_vocab < mk_vocab_min_size(fam))
        return swarm_err_set(err, errlen,
                             "--vocab %d is too small for this tokenizer (at least %d)", n_vocab,
                             mk_vocab_min_size(fam));
    const family_desc *fd = &families[fam];
    return fam == MK_VOCAB_SPM ? build_spm(w, fd, n_vocab, err, errlen)
                               : build_bpe(w, fd, n_vocab, err, errlen);
}
