#!/usr/bin/env python3
"""prefill_share.py - sub-tasks that start together share one prefill of
their job's head (worker/backend_embedded.c, emb_prefill_wait; issue 9).

A real swarm (`swarm up`: private redis-server, swarmd, one embedded-engine
worker with 4 slots on the default tiny model) runs one job of 4 sub-tasks
with a long shared goal on a fresh worker: the 4 arrive together, so without
the wait all 4 would evaluate the goal at once and the prefix cache (filled
only when a prefill ends) could serve none of them. With it, one evaluates
the head and the other three take it from the cache: `swarm workers --json`
must show at least 3 hits and 3 blocks' worth of reused tokens, and every
sub-task must still finish with its output.

usage: prefill_share.py BINDIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

SLOW = int(os.environ.get("SWARM_TEST_SLOW", "1") or 1)


def main():
    bindir = os.path.abspath(sys.argv[1])
    if not shutil.which("redis-server"):
        print("prefill_share: redis-server is not installed", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="swps-", dir="/tmp")
    state = os.path.join(tmp, "s")
    env = dict(os.environ)
    env.pop("SWARM_ENDPOINT", None)
    env.pop("SWARM_PREFILL_SHARE", None)

    def swarm(*args, timeout=120):
        p = subprocess.run([os.path.join(bindir, "swarm")] + list(args) + ["--state", state],
                           capture_output=True, text=True, timeout=timeout * SLOW, env=env,
                           cwd=tmp)
        if p.returncode != 0:
            raise RuntimeError("swarm %s exited %d: %s %s" % (" ".join(args), p.returncode,
                                                            p.stdout[-1500:], p.stderr[-1500:]))
        return p.stdout

    items = ["red", "blue", "green", "white"]
    spec = {"name": "share",
            "goal": "You are one agent of a test swarm. " + " ".join(
                "Rule %d: answer briefly and stay on the topic you are given." % i
                for i in range(30)),
            "instructions": "Say {item}.", "fanout": {"items": items},
            "budget": {"max_tokens": 4}}
    path = os.path.join(tmp, "share.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    up = False
    rc = 0
    try:
        swarm("up", "--workers", "1", "--slots", "4", timeout=300)
        up = True
        out = json.loads(swarm("run", "--job", path, "--json", timeout=300))
        res = out.get("results", out)
        got = [r.get("item") for r in res] if isinstance(res, list) else None
        assert got == items, "results are not the 4 items: %r" % out
        assert all(r.get("tokens", 0) > 0 for r in res), "a sub-task generated nothing: %r" % res
        pc = None
        deadline = time.time() + 20 * SLOW
        while time.time() < deadline:  # the next Heartbeat carries the counters (1 s)
            ws = json.loads(swarm("workers", "--json"))
            pc = ws[0].get("prefix_cache")
            if pc and pc.get("lookups", 0) >= 4 and pc.get("hits", 0) >= 3:
                break
            time.sleep(0.3)
        assert pc, "swarm workers --json has no prefix_cache: %r" % ws
        assert pc["lookups"] >= 4, "4 sub-tasks ran, %r lookups" % pc
        assert pc["hits"] >= 3, "the first wave did not share the head's prefill: %r" % pc
        assert pc["tokens_reused"] >= 3 * 32, "too few tokens reused: %r" % pc
        print("prefill_share: ok (%r)" % pc)
    except (AssertionError, RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
        print("prefill_share: FAIL: %s" % e, file=sys.stderr)
        rc = 1
        log = os.path.join(state, "logs")
        if os.path.isdir(log):
            for f in sorted(os.listdir(log)):
                with open(os.path.join(log, f), errors="replace") as fh:
                    print("--- %s (tail)\n%s" % (f, fh.read()[-1500:]), file=sys.stderr)
    finally:
        if up:
            subprocess.run([os.path.join(bindir, "swarm"), "down", "--state", state],
                           capture_output=True, timeout=120 * SLOW, env=env)
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
