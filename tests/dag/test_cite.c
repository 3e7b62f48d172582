/* test_cite.c - research jobs' citation check (worker/agent/cite.c) on a real
 * workspace in a temp dir: file:line and file:first-last citations resolve
 * when the file exists inside the workspace with enough lines; a missing
 * file, a line past the end, an escape (.., absolute) are unresolved and
 * named; URLs and times are not citations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cite.h"
#include "../common/check.h"

int main(void)
{
    char root[64] = "/tmp/swarm-cite-XXXXXX", p[128], err[256];
    if (!mkdtemp(root)) return 1;
    snprintf(p, sizeof p, "%s/docs", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/docs/kv.md", root);
    FILE *f = fopen(p, "w");
    fputs("one\ntwo\nthree\nfour", f); /* 4 lines, the last without '\n' */
    fclose(f);
    snprintf(p, sizeof p, "%s/notes.txt", root);
    f = fopen(p, "w");
    fputs("a\n", f);
    fclose(f);
    cite_report r;
    CHECK(cite_check(root,
                     "The cache is paged (docs/kv.md:2), eviction at docs/kv.md:3-4. "
                     "See `notes.txt:1`. Wrong: docs/kv.md:5, docs/gone.md:1, ../etc/passwd.txt:1, "
                     "docs/kv.md:2-9. Not citations: http://localhost:8080/x, at 10:30, v1.2:3x.",
                     &r, err, sizeof err) == 0);
    CHECK(r.checked == 7);
    CHECK(r.resolved == 3);
    CHECK(r.summary && strstr(r.summary, "[citations: 7 checked, 3 resolved; unresolved: "));
    CHECK(r.summary && strstr(r.summary, "docs/kv.md:5 (the file has 4 lines)"));
    CHECK(r.summary && strstr(r.summary, "docs/gone.md:1 (no such file)"));
    CHECK(r.summary && strstr(r.summary, "../etc/passwd.txt:1 (outside the workspace)"));
    CHECK(r.summary && strstr(r.summary, "docs/kv.md:9 (the file has 4 lines)"));
    if (r.summary) printf("%s\n", r.summary);
    cite_report_free(&r);
    CHECK(cite_check(root, "no citations here", &r, err, sizeof err) == 0);
    CHECK(r.checked == 0 && r.summary && !strcmp(r.summary, "[citations: 0 checked, 0 resolved]"));
    cite_report_free(&r);
    CHECK(cite_check("/nonexistent-swarm", "a.md:1", &r, err, sizeof err) != 0);
    CHECK(strstr(err, "not a directory") != NULL);
    snprintf(p, sizeof p, "rm -rf '%s'", root);
    CHECK(system(p) == 0);
    if (check_fail_count)
        fprintf(stderr, "%d check(s) failed\n", check_fail_count);
    else
        printf("test_cite: all checks passed\n");
    return check_fail_count ? 1 : 0;
}
