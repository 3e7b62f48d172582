#!/usr/bin/env python3
"""prefill_share.py - sub-tasks that start together share one prefill of
their job's head (worker/backend_embedded.c, emb_prefill_wait; issue 9).

A real swarm (`swarm up`: private redis-server, swarmd, one embedded-engine
worker with 4 slots on the default tiny model) runs one job of 4 sub-tasks
with a long shared goal on a fresh worker: the 4 arrive together, so without
the wait all 4 would evaluate the goal at once and the prefix cache (filled
only when a prefill ends) could serve none of them. With it, one evaluates
the head and the other three reuse it instead of evaluating it again. The
worker's trace (SWARM_WORKER_TRACE=1: prompt and reused tokens per
sub-task) must show at least 3 of the 4 reusing at least 2 blocks (64
tokens) of their prompt, whether from the prefix cache or from the KV a
slot kept of the head (a slot that picks up its next sub-task after the
head's prefill ended reuses its own session: just as shared, but not a
cache hit); `swarm workers --json` must show the 4 cache lookups; and
every sub-task must still finish with its output.

usage: prefill_share.py BINDIR
"""
import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
from swarmtest import SLOW, check, check_result, run_scenario, write_job  # noqa: E402


def prefill_share(sw, bindir, srcdir):
    os.environ.pop("SWARM_ENDPOINT", None)
    os.environ.pop("SWARM_PREFILL_SHARE", None)  # the wait must be on
    os.environ["SWARM_WORKER_TRACE"] = "1"
    items = ["red", "blue", "green", "white"]
    job = write_job(sw.tmp, "share", items, max_tokens=4, extra={
        "goal": "You are one agent of a test swarm. " + " ".join(
            "Rule %d: answer briefly and stay on the topic you are given." % i
            for i in range(30)),
        "instructions": "Say {item}."})
    sw.up("--workers", "1", "--slots", "4")
    check_result(json.loads(sw.cli("run", "--job", job, "--json", timeout=300).stdout), items)
    pc, ws = None, None
    deadline = time.time() + 20 * SLOW
    while time.time() < deadline:  # the next Heartbeat carries the counters (1 s)
        ws = json.loads(sw.cli("workers", "--json").stdout)
        pc = ws[0].get("prefix_cache")
        if pc and pc.get("lookups", 0) >= 4:
            break
        time.sleep(0.3)
    check(pc, "swarm workers --json has no prefix_cache: %r" % ws)
    check(pc["lookups"] >= 4, "4 sub-tasks ran, %r lookups" % pc)
    log = open(os.path.join(sw.state, "logs", "worker-1.log"), errors="replace").read()
    runs = [(int(m.group(1)), int(m.group(2))) for m in
            re.finditer(r"swarm-worker trace: .* prompt (\d+) reused (\d+) ", log)]
    check(len(runs) == 4, "the worker traced %d sub-tasks, not 4:\n%s" % (len(runs), log[-2000:]))
    shared = [r for r in runs if r[1] >= 64]
    check(len(shared) >= 3, "the first wave did not share the head's prefill "
          "(prompt, reused) per sub-task: %r; cache %r" % (runs, pc))
    print("prefill_share: (prompt, reused) %r, cache %r" % (runs, pc))
    sw.down_and_check()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(run_scenario({"prefill_share": prefill_share}, "prefill_share",
                          os.path.abspath(sys.argv[1]), "", "swps-"))
