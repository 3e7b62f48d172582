/* main.c - the `swarm` command: all logic lives in the cli library. */
#include "cli.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
