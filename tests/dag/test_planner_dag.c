/* test_planner_dag.c - the planner seam's DAG forms (orchestrator/planner_model.c):
 * explicit tasks with depends_on become task specs and the scheduler's dag
 * string, a reducer for merge "agent", "plan": "model" a planning task with
 * the plan schema; duplicate ids, unknown ids and cycles are refused naming
 * them, before anything reaches Redis. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "planner.h"
#include "../common/check.h"

static int plan(const char *json, planner_job **out, char *err, size_t errlen)
{
    *out = NULL;
    err[0] = 0;
    return planner_plan(json, "/tmp", out, err, errlen);
}

int main(void)
{
    char err[1024];
    planner_job *j = NULL;
    CHECK(plan("{\"goal\":\"g\",\"instructions\":\"Context: tests.\",\"merge\":\"agent\","
               "\"tasks\":[{\"id\":\"build\",\"instructions\":\"Build it\"},"
               "{\"id\":\"test\",\"instructions\":\"Test it\",\"depends_on\":[\"build\"]},"
               "{\"id\":\"docs\",\"instructions\":\"Docs for {item}\",\"input\":\"the API\"}],"
               "\"budget\":{\"max_depth\":2,\"tokens\":5000}}",
               &j, err, sizeof err) == 0);
    if (!j) {
        fprintf(stderr, "plan: %s\n", err);
        return 1;
    }
    CHECK(j->spec.n_tasks == 4); /* three tasks and the reducer */
    CHECK(!strcmp(j->spec.tasks[0].item, "build") && !strcmp(j->spec.tasks[3].item, "reduce"));
    CHECK(j->spec.dag && !strcmp(j->spec.dag, "t0001=t0000;t0003=t0000,t0001,t0002"));
    CHECK(j->spec.reducer && !strcmp(j->spec.reducer, "t0003"));
    CHECK(!strcmp(j->spec.merge, "agent"));
    CHECK(j->spec.max_depth == 2 && j->spec.max_job_tokens == 5000);
    /* the preamble leads; results reach a dependant through {item} */
    CHECK(!strncmp(j->spec.tasks[1].instructions, "Context: tests.\n\nTest it", 24));
    CHECK(strstr(j->spec.tasks[1].instructions, "{item}") != NULL);
    CHECK(strstr(j->spec.tasks[0].instructions, "{item}") == NULL);
    CHECK(!strcmp(j->spec.tasks[2].input, "the API"));
    planner_job_free(j);

    CHECK(plan("{\"goal\":\"g\",\"tasks\":[{\"id\":\"a\",\"instructions\":\"x\"},"
               "{\"id\":\"b\",\"instructions\":\"x\",\"depends_on\":[\"d\"]},"
               "{\"id\":\"c\",\"instructions\":\"x\",\"depends_on\":[\"b\"]},"
               "{\"id\":\"d\",\"instructions\":\"x\",\"depends_on\":[\"c\"]}]}",
               &j, err, sizeof err) != 0);
    CHECK(strstr(err, "dependency cycle b -> d -> c -> b") != NULL);
    CHECK(plan("{\"goal\":\"g\",\"tasks\":[{\"id\":\"a\",\"instructions\":\"x\","
               "\"depends_on\":[\"zz\"]}]}",
               &j, err, sizeof err) != 0);
    CHECK(strstr(err, "unknown task id \"zz\"") != NULL);
    CHECK(plan("{\"goal\":\"g\",\"tasks\":[{\"id\":\"a\",\"instructions\":\"x\"},"
               "{\"id\":\"a\",\"instructions\":\"y\"}]}",
               &j, err, sizeof err) != 0);
    CHECK(strstr(err, "tasks[1].id: \"a\" is also tasks[0].id") != NULL);
    CHECK(plan("{\"goal\":\"g\",\"tasks\":[{\"id\":\"a\",\"instructions\":\"x\"}],"
               "\"fanout\":{\"items\":[\"q\"]}}",
               &j, err, sizeof err) != 0);
    CHECK(strstr(err, "not both") != NULL);
    CHECK(plan("{\"goal\":\"g\",\"budget\":{\"max_subtasks\":2},\"tasks\":["
               "{\"id\":\"a\",\"instructions\":\"x\"},{\"id\":\"b\",\"instructions\":\"x\"},"
               "{\"id\":\"c\",\"instructions\":\"x\"}]}",
               &j, err, sizeof err) != 0);
    CHECK(strstr(err, "exceed budget.max_subtasks 2") != NULL);

    CHECK(plan("{\"goal\":\"Port the parser\",\"plan\":\"model\",\"merge\":\"agent\","
               "\"budget\":{\"max_subtasks\":10}}",
               &j, err, sizeof err) == 0);
    if (j) {
        CHECK(j->spec.n_tasks == 1 && !strcmp(j->spec.tasks[0].item, "plan"));
        CHECK(j->spec.plan_schema && strstr(j->spec.plan_schema, "\"maxItems\":8"));
        CHECK(strstr(j->spec.tasks[0].instructions, "\"depends_on\"") != NULL);
        CHECK(!j->spec.dag);
        planner_job_free(j);
    }
    /* coding jobs: the merge step depends on every task, its input the
     * tasks in dependency order */
    char repo[64] = "/tmp/swarm-plan-git-XXXXXX", cmd[160];
    if (mkdtemp(repo)) {
        snprintf(cmd, sizeof cmd, "git init -q '%s'", repo);
        CHECK(system(cmd) == 0);
        char job[1024];
        snprintf(job, sizeof job,
                 "{\"goal\":\"g\",\"tasks\":[{\"id\":\"b\",\"instructions\":\"x\","
                 "\"depends_on\":[\"c\"]},{\"id\":\"a\",\"instructions\":\"x\"},"
                 "{\"id\":\"c\",\"instructions\":\"x\"}],\"agent\":{\"tools\":[\"read_file\"],"
                 "\"workspace\":\"%s\","
                 "\"git\":{\"base\":\"main\",\"check\":\"make test\"}}}",
                 repo);
        CHECK(plan(job, &j, err, sizeof err) == 0);
        if (j) {
            CHECK(j->spec.n_tasks == 4 && !strcmp(j->spec.tasks[3].item, "merge"));
            CHECK(!strcmp(j->spec.tasks[3].instructions, PLANNER_GIT_MERGE_TASK));
            CHECK(!strcmp(j->spec.tasks[3].input, "t0002,t0000,t0001\n"));
            CHECK(j->spec.dag && !strcmp(j->spec.dag, "t0000=t0002;t0003=t0000,t0001,t0002"));
            planner_job_free(j);
        } else {
            fprintf(stderr, "git plan: %s\n", err);
        }
        snprintf(cmd, sizeof cmd, "rm -rf '%s/.git'", repo);
        CHECK(system(cmd) == 0);
        snprintf(job, sizeof job,
                 "{\"goal\":\"g\",\"tasks\":[{\"id\":\"a\",\"instructions\":\"x\"}],"
                 "\"agent\":{\"tools\":[\"read_file\"],\"workspace\":\"%s\",\"git\":{\"check\":"
                 "\"make\"}}}",
                 repo);
        CHECK(plan(job, &j, err, sizeof err) != 0 && strstr(err, "is not a git repository"));
        rmdir(repo);
    }
    /* an agent job: the worker's submit_plan tool gets the schema */
    CHECK(plan("{\"goal\":\"g\",\"plan\":\"model\",\"agent\":{\"tools\":[\"list_dir\"],"
               "\"workspace\":\"/tmp\"}}",
               &j, err, sizeof err) == 0);
    if (j) {
        CHECK(j->spec.agent_json && strstr(j->spec.agent_json, "\"plan_schema\":{\"type\""));
        planner_job_free(j);
    }
    char *schema = planner_plan_schema(3);
    CHECK(schema && strstr(schema, "\"maxItems\":3") && strstr(schema, "\"required\":[\"id\""));
    free(schema);
    if (check_fail_count)
        fprintf(stderr, "%d check(s) failed\n", check_fail_count);
    else
        printf("test_planner_dag: all checks passed\n");
    return check_fail_count ? 1 : 0;
}
