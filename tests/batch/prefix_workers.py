#!/usr/bin/env python3
"""prefix_workers.py - prefix-cache hits reach `swarm workers` (issue 9).

A real swarm (`swarm up`: private redis-server, swarmd, one embedded-engine
worker with 4 slots on the default tiny model): job 1 runs one sub-task with
a long goal, so the worker's prefix cache holds that goal's KV; job 2 runs
two sub-tasks with the same goal at once, so at least one lands on a slot
that never saw it and must take the KV from the cache. The worker's
Heartbeat carries the counters: `swarm workers --json` must show hits > 0
and tokens reused, the text view must say so, and a worker that ran nothing
shares no counters yet.

usage: prefix_workers.py BINDIR
"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
from swarmtest import SLOW, check, check_result, run_scenario, write_job  # noqa: E402


def prefix_workers(sw, bindir, srcdir):
    os.environ.pop("SWARM_ENDPOINT", None)
    goal = "You are one agent of a test swarm. " + " ".join(
        "Rule %d: answer briefly and stay on the topic you are given." % i for i in range(40))

    def run(name, items):
        job = write_job(sw.tmp, name, items, max_tokens=4,
                        extra={"goal": goal, "instructions": "Say {item}."})
        check_result(json.loads(sw.cli("run", "--job", job, "--json", timeout=300).stdout),
                     items)

    sw.up("--workers", "1", "--slots", "4")
    ws = json.loads(sw.cli("workers", "--json").stdout)
    check(len(ws) == 1, "want one worker: %r" % ws)
    check("prefix_cache" not in ws[0], "counters before any task ran: %r" % ws[0])
    run("first", ["hello"])
    run("second", ["red", "blue"])
    pc = None
    deadline = time.time() + 20 * SLOW
    while time.time() < deadline:  # the next Heartbeat carries them (1 s interval)
        ws = json.loads(sw.cli("workers", "--json").stdout)
        pc = ws[0].get("prefix_cache")
        if pc and pc.get("hits", 0) > 0:
            break
        time.sleep(0.3)
    check(pc, "swarm workers --json has no prefix_cache: %r" % ws)
    check(pc["hits"] > 0 and pc["tokens_reused"] >= 32, "no prefix-cache hit: %r" % pc)
    check(pc["lookups"] >= 3, "3 sub-tasks ran, %r lookups" % pc)
    check(0 < pc["bytes"] <= pc["max_bytes"], "cache bytes: %r" % pc)
    text = sw.cli("workers").stdout
    check("prefix cache: %d hits of %d lookups, %d tokens reused" % (
        pc["hits"], pc["lookups"], pc["tokens_reused"]) in text, "text view: %r" % text)
    print("prefix_workers: %r" % pc)
    sw.down_and_check()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(run_scenario({"prefix_workers": prefix_workers}, "prefix_workers",
                          os.path.abspath(sys.argv[1]), "", "swpc-"))
