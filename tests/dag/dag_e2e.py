#!/usr/bin/env python3
"""dag_e2e.py - the task DAG through a whole local swarm.

Real processes: `swarm up` starts a private redis-server, swarmd and two
swarm-workers on the labelled SIMULATED engine (fake tokens at a fixed pace:
the orchestration is under test, not a model). A job file with explicit
tasks and depends_on is submitted with the CLI:

  slow-1 -> slow-2 -> slow-3   (a long chain)
  quick-1 -> quick-2           (an unrelated short branch)
  join                         (needs slow-3 and quick-2)

Checked from the job's event stream (`swarm logs --json`), by order and
timestamps, never by wall-time thresholds: quick-2 becomes ready in the very
script call that finished quick-1 (same ts, the next event), and finishes
before the slow chain does; join becomes ready when the last of its two
dependencies is done. The merged result has every task once, in order. A job whose depends_on form a cycle, or name
an unknown task, is refused at submit with the ids named, and nothing runs.

usage: dag_e2e.py BINDIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from swarmtest import Fail, check  # noqa: E402


def main():
    bindir = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="swarm-dag-")
    state = os.path.join(tmp, "s")
    env = dict(os.environ, SWARM_SIM_TOKEN_US="4000")

    def cli(*args, check_rc=True, timeout=120):
        cmd = [os.path.join(bindir, "swarm")] + list(args) + ["--state", state]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        if check_rc and p.returncode != 0:
            raise Fail("%s exited %d\nstdout: %s\nstderr: %s" %
                       (" ".join(cmd), p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
        return p

    def job_file(name, tasks):
        path = os.path.join(tmp, name + ".json")
        with open(path, "w") as f:
            json.dump({"name": name, "goal": "exercise the task DAG",
                       "instructions": "You are one step of a pipeline.",
                       "tasks": tasks, "budget": {"max_tokens": 12}}, f)
        return path

    up = False
    try:
        cli("up", "--workers", "2", "--slots", "1", "--engine", "sim")
        up = True

        # refused at submit, naming the ids; nothing is stored
        bad = job_file("cycle", [
            {"id": "fetch", "instructions": "Fetch"},
            {"id": "parse", "instructions": "Parse", "depends_on": ["report"]},
            {"id": "report", "instructions": "Report", "depends_on": ["parse"]}])
        p = cli("submit", bad, check_rc=False)
        check(p.returncode != 0, "a cyclic job was accepted: %s" % p.stdout)
        check("dependency cycle parse -> report -> parse" in p.stderr,
              "cycle not named: %r" % p.stderr)
        bad = job_file("unknown", [
            {"id": "a", "instructions": "A", "depends_on": ["nope"]}])
        p = cli("submit", bad, check_rc=False)
        check(p.returncode != 0 and 'unknown task id "nope"' in p.stderr,
              "unknown dependency not refused by name: %r" % p.stderr)
        st = json.loads(cli("status", "--json").stdout)
        jobs = st.get("jobs", st) if isinstance(st, dict) else st
        check(not jobs, "a refused job was stored: %s" % st)

        tasks = [
            {"id": "slow-1", "instructions": "Step one of the long chain"},
            {"id": "slow-2", "instructions": "Step two", "depends_on": ["slow-1"]},
            {"id": "slow-3", "instructions": "Step three", "depends_on": ["slow-2"]},
            {"id": "quick-1", "instructions": "The short branch"},
            {"id": "quick-2", "instructions": "Use {item}", "depends_on": ["quick-1"]},
            {"id": "join", "instructions": "Join", "depends_on": ["slow-3", "quick-2"]},
        ]
        p = cli("run", "--job", job_file("flow", tasks), "--json", timeout=180)
        res = json.loads(p.stdout)
        check(res.get("state") == "done", "job not done: %s" % p.stdout[-2000:])
        items = [r["item"] for r in res["results"]]
        check(items == [t["id"] for t in tasks], "results not once each in order: %s" % items)
        tid = {r["item"]: r["task_id"] for r in res["results"]}
        job = res["job_id"]

        ev = []
        for line in cli("logs", job, "--json").stdout.splitlines():
            o = json.loads(line)
            if o.get("type") == "event":
                ev.append(o)
        check(ev, "no events for %s" % job)

        def find(kind, item):
            for i, o in enumerate(ev):
                if o.get("event") == kind and o.get("task_id") == tid[item]:
                    return i, int(o["ts_ms"])
            raise Fail("no %s event for %s in %s" % (kind, item, ev[:40]))

        q1_done = find("task_done", "quick-1")
        q2_ready = find("task_ready", "quick-2")
        q2_done = find("task_done", "quick-2")
        s3_done = find("task_done", "slow-3")
        join_ready = find("task_ready", "join")
        # ready in the same script call: same coordinator timestamp, next event
        check(q2_ready[1] == q1_done[1] and q2_ready[0] == q1_done[0] + 1,
              "quick-2 not released by quick-1's completion: %s %s" % (q1_done, q2_ready))
        # the short branch ran while the long chain was still going
        check(q2_done[0] < s3_done[0] and q2_done[1] <= s3_done[1],
              "quick-2 waited for the slow branch: %s vs %s" % (q2_done, s3_done))
        # join waits for both, and is released by the later one (slow-3)
        check(join_ready[1] == s3_done[1] and join_ready[0] == s3_done[0] + 1,
              "join not released by its last dependency: %s %s" % (s3_done, join_ready))
        # every dependant: ready right after its last dependency's task_done,
        # never before any of them
        for t in tasks:
            deps = t.get("depends_on", [])
            if not deps:
                continue
            r = find("task_ready", t["id"])
            dones = [find("task_done", d) for d in deps]
            check(max(dones)[0] + 1 == r[0] and max(dones)[1] == r[1],
                  "%s not released by its last dependency: %s %s" % (t["id"], dones, r))
        # under ASan/UBSan a child's report only shows in its log
        logs = os.path.join(state, "logs")
        for f in sorted(os.listdir(logs)) if os.path.isdir(logs) else []:
            text = open(os.path.join(logs, f), errors="replace").read()
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
                check(marker not in text, "%s in %s" % (marker, f))
        print("dag_e2e: ok (job %s, %d events)" % (job, len(ev)))
        return 0
    except Fail as e:
        print("FAIL: %s" % e, file=sys.stderr)
        for f in ("swarmd.log", "worker-1.log"):
            p = os.path.join(state, f)
            if os.path.exists(p):
                print("--- %s\n%s" % (f, open(p, errors="replace").read()[-3000:]), file=sys.stderr)
        return 1
    finally:
        if up:
            subprocess.run([os.path.join(bindir, "swarm"), "down", "--state", state],
                           capture_output=True, timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
