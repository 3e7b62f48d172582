/* boundary_private.c - must NOT compile: a file outside runtime/ that reaches
 * for a private engine header through the public target swarm_runtime.
 * runtime.boundary builds it and expects "gguf.h" not to be found. */
#include "gguf.h"

int boundary_private_probe(void);

int boundary_private_probe(void)
{
    return 0;
}
