/* cli_keygen.c - `swarm keygen [NAME] [--out DIR]`: a CURVE keypair, so a
 * swarmd on tcp:// can admit exactly the workers and clients it lists. */
#include "cli_keygen.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "curve.h"

int cli_keygen(const cli_env *e, const cli_opts *o)
{
    (void)e;
    char host[256] = "swarm", err[1024];
    if (!o->arg && gethostname(host, sizeof host - 1) == 0) {
        host[strcspn(host, ".")] = 0; /* the short name: NAME.pub must be a plain file name */
        if (!host[0]) snprintf(host, sizeof host, "swarm");
    }
    const char *name = o->arg ? o->arg : host;
    const char *dir = o->out ? o->out : ".";
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "swarm keygen: --out %s: %s\n", dir,
                stat(dir, &st) != 0 ? strerror(errno) : "not a directory");
        return CLI_EXIT_ERROR;
    }
    curve_keypair kp;
    if (curve_keypair_generate(&kp, err, sizeof err) != 0 ||
        curve_keypair_write(&kp, dir, name, err, sizeof err) != 0) {
        explicit_bzero(&kp, sizeof kp);
        fprintf(stderr, "swarm keygen: %s\n", err);
        return CLI_EXIT_ERROR;
    }
    explicit_bzero(kp.secret_z85, sizeof kp.secret_z85);
    printf("%s/%s.key  keypair (secret: keep it on this host, mode 0600)\n"
           "%s/%s.pub  public key %s\n",
           dir, name, dir, name, kp.public_z85);
    return CLI_EXIT_OK;
}
