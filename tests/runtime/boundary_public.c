/* boundary_public.c - the control of runtime.boundary: a file outside
 * runtime/ that uses the engine through rt.h, the one public header, and
 * must compile against the public target swarm_runtime. */
#include "rt.h"

int boundary_public_probe(void);

int boundary_public_probe(void)
{
    rt_sampler_params p = rt_sampler_default_params();
    return p.top_k;
}
