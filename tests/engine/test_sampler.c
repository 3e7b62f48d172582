/* test_sampler.c - sampler behaviour: greedy is argmax, top-k=1 is greedy,
 * equal seeds give equal streams (different seeds differ), top-p / min-p /
 * top-k never emit tokens outside their filter sets, sampling frequencies
 * follow the softmax, and penalties demote repeated tokens. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rt.h"
#include "../common/check.h"

#define NV 8
/* softmax at T=1: probabilities roughly .46 .25 .12 .08 .04 .03 .01 .01 */
static const float base[NV] = {2.0f, 1.4f, 0.7f, 0.3f, -0.4f, -0.6f, -1.5f, -1.8f};

static int32_t draw(rt_sampler *s, const int32_t *hist, size_t nh)
{
    float l[NV];
    memcpy(l, base, sizeof l);
    return rt_sampler_sample(s, l, NV, hist, nh);
}

int main(void)
{
    rt_sampler_params p = rt_sampler_default_params();
    rt_sampler *s = rt_sampler_new(&p);
    float l[NV] = {0.1f, 3.0f, -2.0f, 2.9f, 0, 0, 0, 0};
    CHECK(rt_sampler_sample(s, l, NV, NULL, 0) == 1, "greedy is not argmax");
    rt_sampler_free(s);

    /* top-k = 1 at a high temperature is still greedy */
    p = rt_sampler_default_params();
    p.temperature = 5.0f;
    p.top_k = 1;
    p.seed = 7;
    s = rt_sampler_new(&p);
    for (int i = 0; i < 200; i++)
        CHECK(draw(s, NULL, 0) == 0, "top-k 1 drew a non-argmax token");
    rt_sampler_free(s);

    /* seeded determinism */
    p = rt_sampler_default_params();
    p.temperature = 1.0f;
    p.seed = 1234;
    rt_sampler *a = rt_sampler_new(&p), *b = rt_sampler_new(&p);
    p.seed = 99;
    rt_sampler *c = rt_sampler_new(&p);
    int same_ab = 1, same_ac = 1;
    int counts[NV] = {0};
    for (int i = 0; i < 4000; i++) {
        int32_t x = draw(a, NULL, 0), y = draw(b, NULL, 0), z = draw(c, NULL, 0);
        same_ab &= x == y;
        same_ac &= x == z;
        CHECK(x >= 0 && x < NV, "out of range id %d", x);
        counts[x]++;
    }
    CHECK(same_ab, "equal seeds gave different streams");
    CHECK(!same_ac, "different seeds gave identical streams");
    /* frequencies follow softmax(base) within a loose bound */
    double z = 0;
    for (int i = 0; i < NV; i++)
        z += exp(base[i]);
    for (int i = 0; i < NV; i++) {
        double want = exp(base[i]) / z * 4000;
        CHECK(fabs(counts[i] - want) < 5 * sqrt(want) + 5,
              "token %d drawn %d times, expected ~%.0f", i, counts[i], want);
    }
    rt_sampler_free(a);
    rt_sampler_free(b);
    rt_sampler_free(c);

    /* top-p 0.6: the smallest prefix reaching 0.6 is {0, 1} (.46, .71) */
    p = rt_sampler_default_params();
    p.temperature = 1.5f;
    p.top_p = 0.6f;
    p.seed = 3;
    s = rt_sampler_new(&p);
    int seen[NV] = {0};
    for (int i = 0; i < 2000; i++)
        seen[draw(s, NULL, 0)]++;
    CHECK(seen[0] > 0 && seen[1] > 0, "top-p lost a member of its set");
    for (int i = 2; i < NV; i++)
        CHECK(seen[i] == 0, "top-p 0.6 emitted token %d", i);
    rt_sampler_free(s);

    /* min-p 0.2: keeps p >= 0.2 * p(top) -> logits >= 2 + ln 0.2 = 0.39 -> {0, 1, 2} */
    p = rt_sampler_default_params();
    p.temperature = 2.0f;
    p.min_p = 0.2f;
    p.seed = 5;
    s = rt_sampler_new(&p);
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 3000; i++)
        seen[draw(s, NULL, 0)]++;
    CHECK(seen[0] && seen[1] && seen[2], "min-p lost a member of its set");
    for (int i = 3; i < NV; i++)
        CHECK(seen[i] == 0, "min-p 0.2 emitted token %d", i);
    rt_sampler_free(s);

    /* top-k 3 */
    p = rt_sampler_default_params();
    p.temperature = 3.0f;
    p.top_k = 3;
    p.seed = 11;
    s = rt_sampler_new(&p);
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 3000; i++)
        seen[draw(s, NULL, 0)]++;
    CHECK(seen[0] && seen[1] && seen[2], "top-k lost a member of its set");
    for (int i = 3; i < NV; i++)
        CHECK(seen[i] == 0, "top-k 3 emitted token %d", i);
    rt_sampler_free(s);

    /* repetition penalty 2 halves the positive logit of a repeated token: 2.0 -> 1.0 < 1.4 */
    p = rt_sampler_default_params();
    p.repeat_penalty = 2.0f;
    s = rt_sampler_new(&p);
    int32_t hist[3] = {0, 0, 5};
    CHECK(draw(s, hist, 3) == 1, "repeat penalty did not demote token 0");
    CHECK(draw(s, NULL, 0) == 0, "penalty leaked into a call without history");
    rt_sampler_free(s);
    /* presence 0.3 + frequency 0.25 x 2 = 0.8 off token 0: 1.2 < 1.4; once: 1.45 > 1.4 */
    p = rt_sampler_default_params();
    p.presence_penalty = 0.3f;
    p.frequency_penalty = 0.25f;
    s = rt_sampler_new(&p);
    CHECK(draw(s, hist, 3) == 1, "presence/frequency penalties did not demote token 0");
    int32_t hist1[1] = {0};
    CHECK(draw(s, hist1, 1) == 0, "frequency penalty not proportional to the count");
    rt_sampler_free(s);
    /* repeat_last_n window: the occurrence outside the window is ignored */
    p = rt_sampler_default_params();
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 1;
    s = rt_sampler_new(&p);
    int32_t hist2[2] = {0, 5};
    CHECK(draw(s, hist2, 2) == 0, "penalty applied outside repeat_last_n");
    rt_sampler_free(s);

    /* a large vocabulary: drawn ids stay inside the exact top-k / top-p sets */
    {
        enum { BIG = 3000 };
        static float big[BIG], work[BIG];
        static int32_t order[BIG];
        uint32_t x = 99;
        for (int i = 0; i < BIG; i++) {
            x = x * 1664525u + 1013904223u;
            big[i] = (float)(x >> 8) / (float)(1u << 24) * 12.0f - 6.0f;
            order[i] = i;
        }
        /* reference order by insertion sort (descending logit, then id) */
        for (int i = 1; i < BIG; i++) {
            int32_t v = order[i];
            int j = i - 1;
            while (j >= 0 && big[order[j]] < big[v]) {
                order[j + 1] = order[j];
                j--;
            }
            order[j + 1] = v;
        }
        static int rank[BIG];
        for (int i = 0; i < BIG; i++)
            rank[order[i]] = i;
        double zb = 0, cum = 0;
        for (int i = 0; i < BIG; i++)
            zb += exp(big[i]);
        int n_p = 0;
        while (cum < 0.5 * zb)
            cum += exp(big[order[n_p++]]);
        p = rt_sampler_default_params();
        p.temperature = 50.0f; /* nearly uniform over what survives */
        p.top_k = 40;
        p.seed = 17;
        s = rt_sampler_new(&p);
        int max_rank = 0;
        for (int i = 0; i < 3000; i++) {
            memcpy(work, big, sizeof big);
            int r = rank[rt_sampler_sample(s, work, BIG, NULL, 0)];
            max_rank = r > max_rank ? r : max_rank;
        }
        CHECK(max_rank == 39, "top-k 40 over %d tokens: worst rank drawn %d", BIG, max_rank);
        rt_sampler_free(s);
        p.top_k = 0;
        p.top_p = 0.5f;
        s = rt_sampler_new(&p);
        max_rank = 0;
        for (int i = 0; i < 3000; i++) {
            memcpy(work, big, sizeof big);
            int r = rank[rt_sampler_sample(s, work, BIG, NULL, 0)];
            max_rank = r > max_rank ? r : max_rank;
        }
        CHECK(max_rank == n_p - 1, "top-p 0.5: worst rank drawn %d, set size %d", max_rank, n_p);
        rt_sampler_free(s);
    }

    if (check_fail_count) {
        fprintf(stderr, "%d check(s) failed\n", check_fail_count);
        return 1;
    }
    printf("engine sampler: all checks hold\n");
    return 0;
}
