/* cli_keygen.h - `swarm keygen`: make a CURVE keypair for swarmd, a worker or
 * a client on another host (proto/curve.h has the file formats). */
#ifndef SWARM_CLI_KEYGEN_H
#define SWARM_CLI_KEYGEN_H

#include "cli_args.h"
#include "client.h"

/* Writes DIR/NAME.key and DIR/NAME.pub (0600); NAME is o->arg or the short
 * host name, DIR is --out or the current directory. */
int cli_keygen(const cli_env *e, const cli_opts *o);

#endif
