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
import shutil
import subprocess
import sys
import tempfile
import time

SLOW = int(os.environ.get("SWARM_TEST_SLOW", "1") or 1)


def main():
    bindir = os.path.abspath(sys.argv[1])
    if not shutil.which("redis-server"):
        print("prefix_workers: redis-server is not installed", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="swpc-", dir="/tmp")
    state = os.path.join(tmp, "s")
    env = dict(os.environ)
    env.pop("SWARM_ENDPOINT", None)

    def swarm(*args, timeout=120):
        p = subprocess.run([os.path.join(bindir, "swarm")] + list(args) + ["--state", state],
                           capture_output=True, text=True, timeout=timeout * SLOW, env=env,
                           cwd=tmp)
        if p.returncode != 0:
            raise RuntimeError("swarm %s exited %d: %s %s" % (" ".join(args), p.returncode,
                                                            p.stdout[-1500:], p.stderr[-1500:]))
        return p.stdout

    def job(name, items):
        spec = {"name": name,
                "goal": "You are one agent of a test swarm. " + " ".join(
                    "Rule %d: answer briefly and stay on the topic you are given." % i
                    for i in range(40)),
                "instructions": "Say {item}.", "fanout": {"items": items},
                "budget": {"max_tokens": 4}}
        path = os.path.join(tmp, name + ".json")
        with open(path, "w") as f:
            json.dump(spec, f)
        return path

    up = False
    rc = 0
    try:
        swarm("up", "--workers", "1", "--slots", "4", timeout=300)
        up = True
        ws = json.loads(swarm("workers", "--json"))
        assert len(ws) == 1, "want one worker: %r" % ws
        assert "prefix_cache" not in ws[0], "counters before any task ran: %r" % ws[0]
        swarm("run", "--job", job("first", ["hello"]), "--json", timeout=300)
        swarm("run", "--job", job("second", ["red", "blue"]), "--json", timeout=300)
        pc = None
        deadline = time.time() + 20 * SLOW
        while time.time() < deadline:  # the next Heartbeat carries them (1 s interval)
            ws = json.loads(swarm("workers", "--json"))
            pc = ws[0].get("prefix_cache")
            if pc and pc.get("hits", 0) > 0:
                break
            time.sleep(0.3)
        assert pc, "swarm workers --json has no prefix_cache: %r" % ws
        assert pc["hits"] > 0 and pc["tokens_reused"] >= 32, "no prefix-cache hit: %r" % pc
        assert pc["lookups"] >= 3, "3 sub-tasks ran, %r lookups" % pc
        assert 0 < pc["bytes"] <= pc["max_bytes"], "cache bytes: %r" % pc
        text = swarm("workers")
        assert "prefix cache: %d hits of %d lookups, %d tokens reused" % (
            pc["hits"], pc["lookups"], pc["tokens_reused"]) in text, "text view: %r" % text
        print("prefix_workers: ok (%r)" % pc)
    except (AssertionError, RuntimeError, subprocess.TimeoutExpired) as e:
        print("prefix_workers: FAIL: %s" % e, file=sys.stderr)
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
