/* test_planner.c - the fan-out planner: items, lines and glob fan-outs on a
 * real temp directory, defaults, and errors that name the offending field;
 * the lazy form (planner_open, then a chunk at a time) and streamed items. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "planner.h"
#include "../common/check.h"

static void write_file(const char *dir, const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "w");
    if (!f) {
        perror(p);
        check_fail_count++;
        return;
    }
    fputs(text, f);
    fclose(f);
}

/* Expect a planning error mentioning want. */
static void expect_error(const char *json, const char *dir, const char *want)
{
    planner_job *j = NULL;
    char err[512] = "";
    int rc = planner_plan(json, dir, &j, err, sizeof err);
    CHECK(rc != 0 && j == NULL);
    if (!strstr(err, want)) {
        fprintf(stderr, "error \"%s\" does not mention \"%s\"\n", err, want);
        check_fail_count++;
    }
}

int main(void)
{
    char dir[] = "/tmp/swarm-planner-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char sub[600];
    snprintf(sub, sizeof sub, "%s/ws", dir);
    mkdir(sub, 0755);
    snprintf(sub, sizeof sub, "%s/ws/src", dir);
    mkdir(sub, 0755);
    snprintf(sub, sizeof sub, "%s/ws/src/deep", dir);
    mkdir(sub, 0755);
    write_file(dir, "ws/a.c", "int a;\n");
    write_file(dir, "ws/src/b.c", "int b;\n");
    write_file(dir, "ws/src/deep/c.c", "int c;\n");
    write_file(dir, "ws/src/notes.txt", "x\n");
    write_file(dir, "items.txt", "one\n\n  \ntwo\r\nthree");

    planner_job *j = NULL;
    char err[512];
    /* items + defaults */
    CHECK(planner_plan("{\"goal\":\"G\",\"instructions\":\"Do {item}\","
                       "\"fanout\":{\"items\":[\"x\",\"y\"]}}",
                       dir, &j, err, sizeof err) == 0);
    if (j) {
        CHECK(j->spec.n_tasks == 2);
        CHECK(!strcmp(j->spec.tasks[1].item, "y") && !strcmp(j->spec.tasks[1].input, "y"));
        CHECK(!strcmp(j->spec.tasks[0].instructions, "Do {item}"));
        CHECK(!strcmp(j->spec.merge, "concat") && !strcmp(j->spec.name, "job"));
        CHECK(j->spec.max_attempts == 3 && j->spec.max_subtasks == 1000);
    }
    planner_job_free(j);

    /* lines: non-empty lines, trailing whitespace/CR trimmed */
    CHECK(planner_plan("{\"name\":\"n\",\"goal\":\"G\",\"instructions\":\"{item}\","
                       "\"fanout\":{\"lines\":\"items.txt\"},\"merge\":\"json\","
                       "\"budget\":{\"max_tokens\":24,\"max_attempts\":2},"
                       "\"sampling\":{\"temperature\":0.7,\"seed\":42}}",
                       dir, &j, err, sizeof err) == 0);
    if (j) {
        CHECK(j->spec.n_tasks == 3);
        CHECK(!strcmp(j->spec.tasks[0].item, "one") && !strcmp(j->spec.tasks[1].item, "two") &&
              !strcmp(j->spec.tasks[2].item, "three"));
        CHECK(j->spec.max_tokens == 24 && j->spec.max_attempts == 2 && j->spec.seed == 42);
        CHECK(j->spec.temperature > 0.69 && j->spec.temperature < 0.71);
        CHECK(!strcmp(j->spec.merge, "json"));
    }
    planner_job_free(j);

    /* glob: ** spans directories, sorted, input carries path + contents */
    CHECK(planner_plan("{\"goal\":\"G\",\"instructions\":\"{item}\","
                       "\"fanout\":{\"glob\":\"**/*.c\",\"workspace\":\"ws/\"}}",
                       dir, &j, err, sizeof err) == 0);
    if (j) {
        CHECK(j->spec.n_tasks == 3);
        if (j->spec.n_tasks == 3) {
            CHECK(!strcmp(j->spec.tasks[0].item, "a.c"));
            CHECK(!strcmp(j->spec.tasks[1].item, "src/b.c"));
            CHECK(!strcmp(j->spec.tasks[2].item, "src/deep/c.c"));
            CHECK(strstr(j->spec.tasks[1].input, "path: src/b.c") != NULL);
            CHECK(strstr(j->spec.tasks[1].input, "int b;") != NULL);
        }
    }
    planner_job_free(j);
    CHECK(planner_plan("{\"goal\":\"G\",\"instructions\":\"{item}\","
                       "\"fanout\":{\"glob\":\"src/*.c\",\"workspace\":\"ws\"}}",
                       dir, &j, err, sizeof err) == 0);
    if (j) CHECK(j->spec.n_tasks == 1);
    planner_job_free(j);

    /* errors name the field */
    expect_error("not json", dir, "not valid JSON");
    expect_error("{\"goal\":\"G\",\"instructions\":\"x\",\"fanout\":{\"items\":[\"a\"]},"
                 "\"colour\":1}",
                 dir, "colour: unknown key");
    expect_error("{\"instructions\":\"x\",\"fanout\":{\"items\":[\"a\"]}}", dir, "goal: missing");
    expect_error("{\"goal\":\"G\",\"instructions\":\"x\",\"fanout\":{\"items\":[\"a\",3]}}", dir,
                 "fanout.items[1]: expected a string");
    expect_error("{\"goal\":\"G\",\"instructions\":\"x\",\"fanout\":{\"glob\":\"**/*.rs\","
                 "\"workspace\":\"ws\"}}",
                 dir, "fanout.glob: no files match \"**/*.rs\" under ws");
    expect_error("{\"goal\":\"G\",\"instructions\":\"x\",\"fanout\":{\"lines\":\"missing.txt\"}}",
                 dir, "fanout.lines:");
    expect_error("{\"goal\":\"G\",\"instructions\":\"x\",\"fanout\":{\"items\":[\"a\"]},"
                 "\"merge\":\"vote\"}",
                 dir, "merge: \"vote\"");
    expect_error("{\"goal\":\"G\",\"instructions\":\"x\",\"fanout\":{\"items\":[\"a\"]},"
                 "\"budget\":{\"max_attempts\":0}}",
                 dir, "budget.max_attempts");
    expect_error("{\"goal\":\"G\",\"instructions\":\"x\",\"fanout\":{\"items\":[\"a\",\"b\"]},"
                 "\"budget\":{\"max_subtasks\":1}}",
                 dir, "exceed budget.max_subtasks 1");
    expect_error("{\"goal\":\"G\",\"instructions\":\"x\",\"fanout\":{\"items\":[\"a\"],"
                 "\"lines\":\"items.txt\"}}",
                 dir, "exactly one of");
    expect_error("{\"goal\":\"G\",\"instructions\":\"x\",\"fanout\":{\"items\":[]}}", dir,
                 "fanout: no items");
    expect_error("{\"goal\":\"G\",\"instructions\":\"x\",\"fanout\":{\"items\":[\"a\"]},"
                 "\"sampling\":{\"top_k\":3}}",
                 dir, "sampling.top_k: unknown key");

    /* lazy: planner_open counts, planner_job_next makes a chunk at a time */
    CHECK(planner_open("{\"goal\":\"G\",\"instructions\":\"{item}\","
                       "\"fanout\":{\"lines\":\"items.txt\"}}",
                       dir, 0, 0, &j, err, sizeof err) == 0);
    if (j) {
        CHECK(j->chunked && j->total == 3 && j->spec.n_tasks == 0 && j->produced == 0);
        CHECK(planner_job_next(j, 2, SIZE_MAX, err, sizeof err) == 2);
        CHECK(j->spec.n_tasks == 2 && !strcmp(j->spec.tasks[1].item, "two"));
        CHECK(!strcmp(j->spec.tasks[0].instructions, "{item}"));
        CHECK(planner_job_next(j, 2, SIZE_MAX, err, sizeof err) == 1);
        CHECK(!strcmp(j->spec.tasks[0].item, "three") && j->produced == 3);
        CHECK(planner_job_next(j, 2, SIZE_MAX, err, sizeof err) == 0);
    }
    planner_job_free(j);
    /* glob chunks by bytes too: one file's input is over 1 byte */
    CHECK(planner_open("{\"goal\":\"G\",\"instructions\":\"{item}\","
                       "\"fanout\":{\"glob\":\"**/*.c\",\"workspace\":\"ws\"}}",
                       dir, 0, 0, &j, err, sizeof err) == 0);
    if (j) {
        CHECK(j->total == 3);
        CHECK(planner_job_next(j, 100, 1, err, sizeof err) == 1);
        CHECK(!strcmp(j->spec.tasks[0].item, "a.c") && strstr(j->spec.tasks[0].input, "int a;"));
        CHECK(planner_job_next(j, 100, 1, err, sizeof err) == 1);
        CHECK(!strcmp(j->spec.tasks[0].item, "src/b.c"));
    }
    planner_job_free(j);
    /* a file that shrank after it was counted is an error, not a short job */
    write_file(dir, "shrinks.txt", "1\n2\n3\n4\n");
    CHECK(planner_open("{\"goal\":\"G\",\"instructions\":\"{item}\","
                       "\"fanout\":{\"lines\":\"shrinks.txt\"}}",
                       dir, 0, 0, &j, err, sizeof err) == 0);
    write_file(dir, "shrinks.txt", "1\n");
    if (j) {
        err[0] = 0;
        int got = planner_job_next(j, 10, SIZE_MAX, err, sizeof err);
        CHECK(got < 0 && strstr(err, "changed while it was read"), "got %d: %s", got, err);
    }
    planner_job_free(j);
    /* streamed items: announced at open, given in chunks, never more */
    CHECK(planner_open("{\"goal\":\"G\",\"instructions\":\"{item}\","
                       "\"fanout\":{\"items\":[]}}",
                       dir, PLANNER_ITEMS_STREAMED, 3, &j, err, sizeof err) == 0);
    if (j) {
        CHECK(j->chunked && j->total == 3);
        CHECK(planner_job_items(j, "[\"a\", \"b\"]", err, sizeof err) == 2);
        CHECK(!strcmp(j->spec.tasks[1].input, "b") && j->produced == 2);
        CHECK(planner_job_next(j, 10, SIZE_MAX, err, sizeof err) < 0);
        CHECK(planner_job_items(j, "[\"c\", \"d\"]", err, sizeof err) < 0 &&
              strstr(err, "1 more than the 3 announced"));
        CHECK(planner_job_items(j, "[1]", err, sizeof err) < 0 &&
              strstr(err, "fanout.items[2]: expected a string"));
        CHECK(planner_job_items(j, "[\"c\"]", err, sizeof err) == 1 && j->produced == 3);
    }
    planner_job_free(j);
    /* the job text check: strict UTF-8, no \u0000, an escaped backslash is fine */
    CHECK(planner_text_check("{\"a\":\"\\\\u0000\"}", err, sizeof err) == 0);
    CHECK(planner_text_check("{\"a\":\"\\u0000\"}", err, sizeof err) < 0 && strstr(err, "NUL"));
    CHECK(planner_text_check("\xED\xA0\x80", err, sizeof err) < 0 &&
          strstr(err, "not valid UTF-8 (byte 0xed at offset 0)"));

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (check_fail_count) {
        fprintf(stderr, "%d check(s) failed\n", check_fail_count);
        return 1;
    }
    printf("test_planner: all checks passed\n");
    return 0;
}
