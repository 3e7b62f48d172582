/* main.c - the swarm-worker command: flags, signals, then worker_run(). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarm_version.h"
#include "worker.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: swarm-worker --connect ENDPOINT --model M.gguf [--slots K] [--id NAME]\n"
               "                    [--threads T] [--engine embedded|http|sim|replay]\n"
               "                    [--http-url URL] [--http-model NAME] [--replay FILE]\n"
               "                    [--heartbeat-ms MS] [--version]\n"
               "                    [--server-key swarmd.pub --key worker.key | --insecure]\n"
               "  A tcp:// --connect uses CURVE: --server-key is swarmd's public key, --key\n"
               "    this worker's keypair (`swarm keygen`; its .pub listed in swarmd's\n"
               "    --authorized-keys). Defaults: $SWARM_SERVER_KEY, $SWARM_KEY.\n"
               "    --insecure (or SWARM_INSECURE=1) connects with plain TCP.\n"
               "  --engine sim is a SIMULATED engine (fake tokens) for scale tests only.\n"
               "  --engine replay REPLAYS a recorded agent trajectory (no model runs).\n"
               "  --engine http asks an OpenAI-compatible server at --http-url; the API key,\n"
               "    if any, is read from $SWARM_HTTP_API_KEY (never from the command line).\n"
               "  Defaults for --http-url, --http-model and --replay come from\n"
               "  $SWARM_HTTP_URL, $SWARM_HTTP_MODEL and $SWARM_REPLAY.\n");
}

int main(int argc, char **argv)
{
    worker_config cfg = {.engine = "embedded", .slots = 1, .heartbeat_ms = 1000, .stop = &g_stop};
    cfg.http_url = getenv("SWARM_HTTP_URL");
    cfg.http_model = getenv("SWARM_HTTP_MODEL");
    cfg.api_key = getenv("SWARM_HTTP_API_KEY");
    cfg.replay = getenv("SWARM_REPLAY");
    cfg.server_key = getenv("SWARM_SERVER_KEY");
    cfg.key = getenv("SWARM_KEY");
    cfg.insecure = getenv("SWARM_INSECURE") && !strcmp(getenv("SWARM_INSECURE"), "1");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            swarm_version_print(stdout, "swarm-worker");
            return 0;
        }
        if (strcmp(a, "--insecure") == 0) {
            cfg.insecure = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "swarm-worker: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        if (strcmp(a, "--connect") == 0)
            cfg.connect = v;
        else if (strcmp(a, "--model") == 0)
            cfg.model = v;
        else if (strcmp(a, "--engine") == 0)
            cfg.engine = v;
        else if (strcmp(a, "--id") == 0)
            cfg.id = v;
        else if (strcmp(a, "--slots") == 0)
            cfg.slots = atoi(v);
        else if (strcmp(a, "--threads") == 0)
            cfg.threads = atoi(v);
        else if (strcmp(a, "--http-url") == 0)
            cfg.http_url = v;
        else if (strcmp(a, "--http-model") == 0)
            cfg.http_model = v;
        else if (strcmp(a, "--replay") == 0)
            cfg.replay = v;
        else if (strcmp(a, "--heartbeat-ms") == 0)
            cfg.heartbeat_ms = atoi(v);
        else if (strcmp(a, "--server-key") == 0)
            cfg.server_key = v;
        else if (strcmp(a, "--key") == 0)
            cfg.key = v;
        else {
            fprintf(stderr, "swarm-worker: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (cfg.slots < 1 || cfg.slots > 1024) {
        fprintf(stderr, "swarm-worker: --slots must be 1..1024\n");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    char err[1024] = "";
    if (worker_run(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "swarm-worker: %s\n", err);
        return 1;
    }
    return 0;
}
