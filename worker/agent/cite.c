/* cite.c - checks an answer's file:line citations against the workspace
 * (cite.h). The scan is a hand-written tokenizer, not a regex: a citation
 * starts after a character that cannot be part of a path, so "see(a.md:3)"
 * and "`a.md:3`" both count, and a URL's "host:port" does not (no extension
 * before the colon is required to look like a file: it must contain '.'
 * after its last '/'). */
#include "cite.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CITE_MAX 200          /* citations checked per answer */
#define CITE_SUMMARY_MAX 2048 /* bytes of the unresolved list */

static bool path_char(int c)
{
    return isalnum(c) || c == '_' || c == '-' || c == '.' || c == '/';
}

/* Lines in the file (a last line without '\n' counts), or -1 if unreadable. */
static long count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long n = 0;
    int c, last = '\n';
    while ((c = getc(f)) != EOF) {
        if (c == '\n') n++;
        last = c;
    }
    if (last != '\n') n++;
    fclose(f);
    return n;
}

/* Why path:last does not resolve under root, or NULL when it does. */
static const char *resolve(const char *root, const char *path, long last, char *why, size_t len)
{
    if (path[0] == '/' || strstr(path, "..")) return "outside the workspace";
    char full[4096];
    if ((size_t)snprintf(full, sizeof full, "%s/%s", root, path) >= sizeof full)
        return "path too long";
    struct stat st;
    if (stat(full, &st) != 0) return "no such file";
    if (!S_ISREG(st.st_mode)) return "not a file";
    long n = count_lines(full);
    if (n < 0) return "unreadable";
    if (last > n) {
        snprintf(why, len, "the file has %ld lines", n);
        return why;
    }
    return NULL;
}

int cite_check(const char *root, const char *text, cite_report *rep, char *err, size_t errlen)
{
    memset(rep, 0, sizeof *rep);
    struct stat st;
    if (!root || stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "citations: workspace %s is not a directory", root ? root : "?");
        return -1;
    }
    char bad[CITE_SUMMARY_MAX] = "";
    size_t blen = 0;
    const char *p = text ? text : "";
    while (*p && rep->checked < CITE_MAX) {
        if (!path_char((unsigned char)*p) || (p > text && path_char((unsigned char)p[-1]))) {
            p++;
            continue;
        }
        const char *s = p;
        while (path_char((unsigned char)*p))
            p++;
        size_t n = (size_t)(p - s);
        if (*p != ':' || !isdigit((unsigned char)p[1]) || n == 0 || n >= 1024) continue;
        /* an extension after the last '/' makes it a file name */
        const char *slash = s, *dot = NULL;
        for (const char *q = s; q < p; q++) {
            if (*q == '/') slash = q + 1;
            if (*q == '.') dot = q;
        }
        while (n > 0 && s[n - 1] == '.')
            n--; /* "a.md:3." ends a sentence */
        if (!dot || dot < slash || dot == s + n - 1 || dot == slash) continue;
        char *end;
        long first = strtol(p + 1, &end, 10), last = first;
        if (*end == '-' && isdigit((unsigned char)end[1])) last = strtol(end + 1, &end, 10);
        p = end;
        if (first < 1 || last < first || isalnum((unsigned char)*end)) continue;
        char path[1024], why[64];
        snprintf(path, sizeof path, "%.*s", (int)n, s);
        rep->checked++;
        const char *r = resolve(root, path, last, why, sizeof why);
        if (!r) {
            rep->resolved++;
            continue;
        }
        int w = snprintf(bad + blen, sizeof bad - blen, "%s%s:%ld (%s)", blen ? ", " : "", path,
                         last, r);
        if (w > 0 && blen + (size_t)w < sizeof bad) blen += (size_t)w;
    }
    size_t cap = blen + 128;
    if (!(rep->summary = malloc(cap))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(rep->summary, cap, "[citations: %u checked, %u resolved%s%s]", rep->checked,
             rep->resolved, blen ? "; unresolved: " : "", bad);
    return 0;
}

void cite_report_free(cite_report *rep)
{
    free(rep->summary);
    rep->summary = NULL;
}
