/* swarm_version.h - the one `--version` line every swarm binary prints.
 *
 * SWARM_VERSION and SWARM_GIT_DESCRIBE come from the top CMakeLists.txt
 * (the release number, and `git describe` of the tree at configure time when
 * it was a git checkout), so a bug report names the exact build. */
#ifndef SWARM_VERSION_H
#define SWARM_VERSION_H

#include <stdio.h>

#ifndef SWARM_VERSION
#define SWARM_VERSION "0.0.0-unknown"
#endif
#ifndef SWARM_GIT_DESCRIBE
#define SWARM_GIT_DESCRIBE ""
#endif

/* "PROG 0.1.0 (git 69aadc3-dirty)"; without git information just "PROG 0.1.0". */
static inline void swarm_version_print(FILE *f, const char *prog)
{
    if (SWARM_GIT_DESCRIBE[0])
        fprintf(f, "%s %s (git %s)\n", prog, SWARM_VERSION, SWARM_GIT_DESCRIBE);
    else
        fprintf(f, "%s %s\n", prog, SWARM_VERSION);
}

#endif
