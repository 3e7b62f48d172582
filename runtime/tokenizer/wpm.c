/* wpm.c - WordPiece ("bert" vocabularies), as llama.cpp does it.
 *
 * Preprocessing: each codepoint is reduced to the first codepoint of its NFD
 * decomposition (which drops accents) and lowercased; whitespace separates
 * words; control characters vanish; punctuation, ASCII symbols and CJK
 * ideographs become one-character words. Each word, prefixed with U+2581
 * (the GGUF form of a word start), is cut greedily into the longest tokens;
 * a word that cannot be covered becomes the unknown token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"
#include "tok_unicode.h"

static bool is_cjk(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int word_tokens(const rt_vocab *v, const char *w, size_t n, tok_ids *out)
{
    size_t start = out->n;
    for (size_t i = 0; i < n; i++) {
        bool match = false;
        size_t hi = i + v->max_token_len + 1;
        if (hi > n) hi = n;
        for (size_t j = hi; j > i; j--) {
            int32_t id = tok_lookup(v, w + i, j - i);
            if (id >= 0) {
                if (tok_ids_push(out, id)) return -1;
                match = true;
                i = j - 1;
                break;
            }
        }
        if (!match) {
            out->n = start;
            break;
        }
    }
    if (out->n == start) {
        if (v->unk < 0) return -2;
        if (tok_ids_push(out, v->unk)) return -1;
    }
    return 0;
}

int tok_wpm_fragment(const rt_vocab *v, const char *text, size_t len, tok_ids *out, char *err,
                     size_t errlen)
{
    size_t n = 0;
    uint32_t *cps = tok_utf8_decode(text, len, &n);
    char *w = malloc(3 + n * 4 + 1);
    int rc = -1;
    if (!cps || !w) goto oom;
    memcpy(w, "\xe2\x96\x81", 3);
    size_t k = 3; /* current word, after the U+2581 prefix */
    for (size_t i = 0; i <= n; i++) {
        bool end = i == n;
        uint32_t c = end ? ' ' : tok_cpt_nfd(cps[i]);
        unsigned f = tok_cpt_flags(c);
        if (!end && !(f & TOK_F_WHITESPACE) && (c == 0 || c == 0xFFFD || (f & TOK_F_CONTROL)))
            continue;
        bool single = !end && ((f & TOK_F_PUNCT) || (c < 0x7F && (f & TOK_F_SYMBOL)) || is_cjk(c));
        if (end || (f & TOK_F_WHITESPACE) || single) {
            if (k > 3 && (rc = word_tokens(v, w, k, out)) != 0) goto fail_word;
            k = 3;
            if (!single) continue;
        }
        k += tok_utf8_put(tok_cpt_lower(c), w + k);
        if (single) {
            if ((rc = word_tokens(v, w, k, out)) != 0) goto fail_word;
            k = 3;
        }
    }
    rc = 0;
    goto done;
fail_word:
    if (rc == -2) {
        if (err && errlen)
            snprintf(err, errlen,
                     "tokenize: word has no WordPiece cover and the vocabulary has "
                     "no unknown token");
        rc = -1;
        goto done;
    }
oom:
    rc = -1;
    if (err && errlen) snprintf(err, errlen, "tokenize: out of memory");
done:
    free(cps);
    free(w);
    return rc;
}
