#!/usr/bin/env python3
"""soak.py - a local swarm kept busy for a while: RSS of swarmd, the workers
and redis-server must stay flat.

`swarm up` (SIMULATED engine) runs jobs back to back: submit T sub-tasks, wait
for the end, check the result, `swarm rm` it. Every 10 s the RSS (VmRSS) of
each process is sampled. At the end it prints first, last and peak RSS per
process and fails when a process's last sample exceeds its first by more
than 50 % + 8 MiB (a leak), or a job's result is wrong.

usage: soak.py BINDIR [--minutes 10] [--tasks 500] [--workers 2] [--slots 4]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


def rss_kib(pid):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bindir")
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--tasks", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--slots", type=int, default=4)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sws-", dir="/tmp")
    state = os.path.join(tmp, "s")
    env = dict(os.environ, SWARM_SIM_TOKEN_US=os.environ.get("SWARM_SIM_TOKEN_US", "200"))
    swarm = os.path.join(args.bindir, "swarm")

    def cli(*a, timeout=300):
        p = subprocess.run([swarm] + list(a) + ["--state", state], capture_output=True,
                           text=True, timeout=timeout, env=env)
        if p.returncode != 0:
            raise RuntimeError("swarm %s: %s" % (" ".join(a), p.stderr[-1000:]))
        return p.stdout

    ok = True
    samples = {}
    try:
        cli("up", "--workers", str(args.workers), "--slots", str(args.slots), "--engine", "sim")
        job = os.path.join(tmp, "job.json")
        items = ["soak-%05d" % i for i in range(args.tasks)]
        with open(job, "w") as f:
            json.dump({"name": "soak", "goal": "g", "instructions": "{item}",
                       "fanout": {"items": items}, "merge": "concat",
                       "budget": {"max_tokens": 8, "max_subtasks": args.tasks}}, f)
        end = time.time() + args.minutes * 60
        next_sample = 0
        jobs = 0
        while time.time() < end:
            jid = cli("submit", job).strip()
            subprocess.run([swarm, "wait", jid, "--state", state], capture_output=True, env=env,
                           timeout=600)
            res = json.loads(cli("result", jid, "--json"))
            if res.get("state") != "done" or res.get("done") != args.tasks:
                print("soak: job %s ended %s with %s done" % (jid, res.get("state"),
                                                              res.get("done")), file=sys.stderr)
                ok = False
                break
            cli("rm", jid)
            jobs += 1
            if time.time() >= next_sample:
                next_sample = time.time() + 10
                for f in sorted(os.listdir(state)):
                    if f.endswith(".pid") and f != "supervisor.pid":
                        pid = int(open(os.path.join(state, f)).read().split()[0])
                        r = rss_kib(pid)
                        if r is not None:
                            samples.setdefault(f[:-4], []).append(r)
        print("soak: %d jobs of %d sub-tasks in %.1f min" % (jobs, args.tasks, args.minutes))
        print("%-12s %10s %10s %10s" % ("process", "first KiB", "last KiB", "peak KiB"))
        for name, s in sorted(samples.items()):
            print("%-12s %10d %10d %10d" % (name, s[0], s[-1], max(s)))
            if s[-1] > s[0] * 1.5 + 8192:
                print("soak: %s grew from %d to %d KiB" % (name, s[0], s[-1]), file=sys.stderr)
                ok = False
    finally:
        subprocess.run([swarm, "down", "--state", state], capture_output=True, env=env,
                       timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
