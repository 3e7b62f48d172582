/* test_route.c - MoE router variants on hand-computed cases: softmax top-k
 * with renormalisation (Mixtral/Qwen), softmax without it plus a scale
 * (DeepSeek-V2), sigmoid + selection bias + group limiting + scale
 * (DeepSeek-V3) and top-k-then-softmax (gpt-oss). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "arch/arch.h"
#include "../common/check.h"

static bool near(float a, double b)
{
    return fabs((double)a - b) < 1e-5;
}

int main(void)
{
    rt_hparams hp;
    float scratch[8], w[8];
    int32_t ids[8];

    /* softmax, top-2, renormalised */
    memset(&hp, 0, sizeof hp);
    hp.n_expert = 4;
    hp.n_expert_used = 2;
    hp.gating = RT_GATE_SOFTMAX;
    hp.expert_norm = true;
    float l1[4] = {1.0f, 3.0f, 2.0f, 0.0f};
    rt_moe_route(&hp, NULL, l1, scratch, ids, w);
    double e3 = exp(3.0), e2 = exp(2.0);
    CHECK(ids[0] == 1 && ids[1] == 2, "softmax picked %d %d", ids[0], ids[1]);
    CHECK(near(w[0], e3 / (e3 + e2)) && near(w[1], e2 / (e3 + e2)), "renorm weights %g %g", w[0],
          w[1]);

    /* softmax over all experts, no renormalisation, scaled by 2 */
    hp.expert_norm = false;
    hp.expert_scale = 2.0f;
    float l2[4] = {1.0f, 3.0f, 2.0f, 0.0f};
    rt_moe_route(&hp, NULL, l2, scratch, ids, w);
    double z = exp(1.0) + e3 + e2 + 1.0;
    CHECK(ids[0] == 1 && ids[1] == 2, "v2 picked %d %d", ids[0], ids[1]);
    CHECK(near(w[0], 2 * e3 / z) && near(w[1], 2 * e2 / z), "v2 weights %g %g", w[0], w[1]);

    /* sigmoid + bias + groups: 8 experts in 4 groups of 2, keep 2 groups, pick 2 */
    memset(&hp, 0, sizeof hp);
    hp.n_expert = 8;
    hp.n_expert_used = 2;
    hp.gating = RT_GATE_SIGMOID;
    hp.expert_norm = true;
    hp.expert_scale = 2.5f;
    hp.n_group = 4;
    hp.n_group_used = 2;
    /* expert 0 alone is the best, but its group (0,1) has the weakest pair sum;
     * the bias lifts expert 5 over expert 4 within group (4,5). */
    float l3[8] = {3.0f, -4.0f, 1.0f, 1.0f, 1.5f, 1.2f, 0.0f, 0.0f};
    float bias[8] = {0, 0, 0, 0, 0, 0.5f, 0, 0};
    rt_weight bw = {.data = (const uint8_t *)bias};
    rt_moe_route(&hp, &bw, l3, scratch, ids, w);
    double s[8];
    for (int i = 0; i < 8; i++)
        s[i] = 1.0 / (1.0 + exp(-(double)(float[]){3, -4, 1, 1, 1.5f, 1.2f, 0, 0}[i]));
    /* group sums (with bias): g0 .95+.02=.97, g1 1.46, g2 .82+.77+.5=2.09, g3 1.0 -> keep g2, g1 */
    CHECK(ids[0] == 5 && ids[1] == 4, "v3 picked %d %d", ids[0], ids[1]);
    double sum = s[5] + s[4];
    CHECK(near(w[0], 2.5 * s[5] / sum) && near(w[1], 2.5 * s[4] / sum), "v3 weights %g %g", w[0],
          w[1]);

    /* gpt-oss: top-k on raw logits, softmax over the chosen */
    memset(&hp, 0, sizeof hp);
    hp.n_expert = 4;
    hp.n_expert_used = 2;
    hp.gating = RT_GATE_SOFTMAX_WEIGHT;
    float l4[4] = {0.5f, -1.0f, 2.0f, 1.0f};
    rt_moe_route(&hp, NULL, l4, scratch, ids, w);
    CHECK(ids[0] == 2 && ids[1] == 3, "oai picked %d %d", ids[0], ids[1]);
    CHECK(near(w[0], exp(2.0) / (exp(2.0) + exp(1.0))), "oai weight %g", w[0]);

    if (check_fail_count) {
        fprintf(stderr, "%d check(s) failed\n", check_fail_count);
        return 1;
    }
    printf("engine route: all checks hold\n");
    return 0;
}
