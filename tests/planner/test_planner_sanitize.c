/* test_planner_sanitize.c - the planner's UTF-8 repair of task inputs: a
 * glob fan-out over files holding invalid bytes must give inputs that are
 * valid UTF-8 (each bad byte replaced by '?', valid characters kept), since
 * they travel as protobuf strings into prompts. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/check.h"
#include "../common/test_files.h"
#include "planner.h"

typedef struct {
    const char *name, *bytes, *want;
    size_t len;
} sanitize_case;

int main(void)
{
    /* clang-format off */
    static const sanitize_case cases[] = {
        {"a_valid.txt", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 14},
        {"b_cont.txt", "a\x80z", "a?z", 3},
        {"c_lead.txt", "\xC0\xAF\xC1\xBF!", "??" "??" "!", 5},
        {"d_high.txt", "\xF8\xFF\xFEx", "??" "?x", 4},
        {"e_trunc.txt", "ok\xE2\x82", "ok??", 4},
        {"f_broken.txt", "\xE2\x28\xA1", "?(?", 3},
        {"g_nul.txt", "a\0b", "a?b", 3},
        /* strict: overlong forms and surrogates are refused byte by byte */
        {"h_overlong.txt", "\xE0\x80\xAFz", "??" "?z", 4},
        {"i_surrogate.txt", "\xED\xA0\x80z", "??" "?z", 4},
        {"j_above.txt", "\xF4\x90\x80\x80", "??" "??", 4},
    };
    /* clang-format on */
    const size_t n_cases = sizeof cases / sizeof cases[0];
    char dir[256], path[600];
    test_tmpdir_make(dir, sizeof dir, "planner-utf8");
    snprintf(path, sizeof path, "%s/ws", dir);
    mkdir(path, 0755);
    for (size_t i = 0; i < n_cases; i++) {
        snprintf(path, sizeof path, "%s/ws/%s", dir, cases[i].name);
        FILE *f = fopen(path, "wb");
        CHECK(f && fwrite(cases[i].bytes, 1, cases[i].len, f) == cases[i].len);
        if (f) fclose(f);
    }

    planner_job *j = NULL;
    char err[512] = "";
    int rc = planner_plan("{\"goal\":\"G\",\"instructions\":\"{item}\","
                          "\"fanout\":{\"glob\":\"*.txt\",\"workspace\":\"ws\"}}",
                          dir, &j, err, sizeof err);
    CHECK(rc == 0, "planner_plan: %s", err);
    CHECK(j && j->spec.n_tasks == n_cases);
    for (size_t i = 0; j && i < j->spec.n_tasks && i < n_cases; i++) {
        const char *in = j->spec.tasks[i].input;
        CHECK_STR(j->spec.tasks[i].item, cases[i].name);
        /* input is "path: <rel>\n\n<contents>" */
        const char *body = in ? strstr(in, "\n\n") : NULL;
        CHECK(body != NULL, "%s: no contents in \"%s\"", cases[i].name, in ? in : "(null)");
        if (body) CHECK_STR(body + 2, cases[i].want);
    }
    planner_job_free(j);
    test_tmpdir_remove(dir);
    return check_done();
}
