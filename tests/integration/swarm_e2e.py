#!/usr/bin/env python3
"""swarm_e2e.py - end-to-end tests of a whole local swarm.

Everything is real: the `swarm` CLI starts a private redis-server (unix
socket in a temp dir), swarmd and N swarm-workers; the workers run the
embedded MoE engine on a tiny random-weight model made at test time with
`swarm-infer mkmodel` (scenario `sim-scale` alone uses the labelled
SIMULATED engine, to push 1000 sub-tasks through the orchestration).
Results are checked by parsing the JSON the CLI prints: one entry per
sub-task, each exactly once, in task order. Every scenario ends by checking
that no process it started is left behind.

usage: swarm_e2e.py BINDIR SRCDIR SCENARIO
scenarios: submit-100, run-demo, kill-worker, bad-job, sim-scale, swarmd-restart
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
# the harness lives in the test kit; the names stay importable from here for
# the tests that import them from swarm_e2e
from swarmtest import (SLOW, Fail, Swarm, alive, check, check_result, describe,  # noqa: E402,F401
                       make_model, run_scenarios, write_job)


def sc_submit_100(sw, bindir, srcdir):
    model = make_model(bindir, sw.tmp)
    sw.up("--workers", "4", "--slots", "2", "--model", model)
    w = json.loads(sw.cli("workers", "--json").stdout)
    check(len(w) == 4, "want 4 workers registered, got %d" % len(w))
    again = sw.cli("up", "--workers", "1", "--model", model, check_rc=False)
    check(again.returncode != 0 and "already running" in again.stderr,
          "a second swarm up in the same state dir was not refused: %r" % again.stderr)
    items = ["item-%03d" % i for i in range(100)]
    job = write_job(sw.tmp, "hundred", items)
    p = sw.cli("submit", job)
    jid = p.stdout.strip()
    check(jid.startswith("j-"), "submit printed %r, not a job id" % jid)
    st = sw.wait_terminal(jid, 300)
    check(st["state"] == "done", "job state %s" % st["state"])
    check(st["done"] == 100 and st["total"] == 100 and st["failed"] == 0,
          "status counts %s" % st)
    check_result(st["result"], items)
    # status of all jobs lists it, done
    allst = json.loads(sw.cli("status", "--json").stdout)
    mine = [j for j in allst["jobs"] if j["job_id"] == jid]
    check(len(mine) == 1 and mine[0]["state"] == "done", "status --json: %s" % allst)
    workers = {r["worker"] for r in st["result"]["results"]}
    check(len(workers) >= 2, "all 100 tasks ran on one worker: %s" % workers)
    # glob fan-out over the sample workspace: one sub-task per file
    ws = os.path.join(srcdir, "examples", "workspace")
    files = sorted(os.path.relpath(os.path.join(d, f), ws)
                   for d, _, fs in os.walk(ws) for f in fs)
    jid = sw.cli("submit", os.path.join(srcdir, "examples", "survey.json")).stdout.strip()
    st = sw.wait_terminal(jid, 120)
    check_result(st["result"], files)
    # files far larger than the model's context are shortened, not failed
    big = os.path.join(sw.tmp, "big")
    os.makedirs(big)
    with open(os.path.join(big, "a.txt"), "w") as f:
        f.write(" ".join("lease token worker merge queue".split() * 3000))
    with open(os.path.join(big, "b.txt"), "w") as f:
        f.write("h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c\u8a9e " * 800)
    job = os.path.join(sw.tmp, "bigjob.json")
    with open(job, "w") as f:
        json.dump({"name": "big", "goal": "Summarise.", "instructions": "Summarise:\n{item}",
                   "fanout": {"glob": "*.txt", "workspace": "big"}, "merge": "json",
                   "budget": {"max_tokens": 16, "max_attempts": 1}}, f)
    jid = sw.cli("submit", job).stdout.strip()
    st = sw.wait_terminal(jid, 120)
    check_result(st["result"], ["a.txt", "b.txt"])
    sw.down_and_check()
    check(os.path.exists(os.path.join(sw.state, "dump.rdb")), "redis did not save on swarm down")
    p = sw.cli("status", check_rc=False)
    check(p.returncode != 0 and "no swarm is running" in p.stderr,
          "status without a swarm: rc %d, %r" % (p.returncode, p.stderr))


def sc_run_demo(sw, bindir, srcdir):
    demo = os.path.join(srcdir, "examples", "demo.json")
    items = json.load(open(demo))["fanout"]["items"]
    check(len(items) >= 60, "demo has %d items" % len(items))
    p = subprocess.run([os.path.join(bindir, "swarm"), "run", "--job", demo, "--workers", "4",
                        "--json", "--state", sw.state],
                       capture_output=True, text=True, timeout=600 * SLOW)
    sw.record_pids()
    check(p.returncode == 0, "swarm run exited %d: %s" % (p.returncode, p.stderr[-3000:]))
    res = json.loads(p.stdout)
    check_result(res, items)
    check(os.path.exists(os.path.join(sw.state, "models", "default.gguf")),
          "swarm run did not make the default model")
    time.sleep(0.2)
    left = sw.leftovers()
    check(not left, "processes left after swarm run: %s" % describe(left))
    sw.check_logs()


def sc_kill_worker(sw, bindir, srcdir):
    model = make_model(bindir, sw.tmp)
    sw.up("--workers", "4", "--slots", "2", "--model", model)
    # long enough that a fast machine cannot finish before the kill lands
    items = ["victim-%03d" % i for i in range(120)]
    job = write_job(sw.tmp, "killjob", items, max_tokens=96)
    jid = sw.cli("submit", job).stdout.strip()
    victim = None
    deadline = time.time() + 120 * SLOW
    while time.time() < deadline and victim is None:
        st = sw.status(jid)
        check(st["state"] == "running", "job finished before a worker could be killed; make "
                                        "the job longer (state %s)" % st["state"])
        if st["done"] >= 3:
            for w in json.loads(sw.cli("workers", "--json").stdout):
                if w["busy"] > 0 and w["worker_id"].startswith("w-"):
                    victim = int(w["worker_id"][2:])
                    break
        if victim is None:
            time.sleep(0.05)
    check(victim is not None, "never saw a busy worker to kill")
    pid = sw.worker_pid(victim)
    # Frozen first, so what it holds cannot change between reading it and
    # the kill (a Result already sent gets a moment to be stored).
    os.kill(pid, signal.SIGSTOP)
    time.sleep(0.5)
    held = held_by(sw, jid, "w-%d" % victim)
    os.kill(pid, signal.SIGKILL)
    done_at_kill = sw.status(jid)["done"]
    check(held, "w-%d was busy but holds no task in the job's events" % victim)
    st = sw.wait_terminal(jid, 300)
    check_result(st["result"], items)  # every task merged exactly once, in order
    check(not alive(pid), "killed worker %d still alive" % pid)
    by_id = {r["task_id"]: r for r in st["result"]["results"]}
    for t in held:
        check(by_id[t].get("attempt", 1) > 1,
              "task %s was running on the killed w-%d but was not retried: %s" %
              (t, victim, by_id[t]))
    retried = [r for r in st["result"]["results"] if r.get("attempt", 1) > 1]
    print("kill-worker: killed w-%d (pid %d) at done=%d holding %s; %d task(s) retried" %
          (victim, pid, done_at_kill, ",".join(held), len(retried)))
    sw.down_and_check()


def held_by(sw, jid, worker):
    """The tasks of job jid whose latest lease went to worker and that have not
    ended or gone back to the queue since, from the job's event stream."""
    holder = {}
    for line in sw.cli("logs", jid, "--json").stdout.splitlines():
        e = json.loads(line)
        t = e.get("task_id")
        if e.get("type") != "event" or not t:
            continue
        if e.get("event") == "task_leased":
            holder[t] = e.get("worker")
        elif e.get("event") in ("task_done", "task_failed", "task_retry", "task_cancelled"):
            holder.pop(t, None)
    return sorted(t for t, w in holder.items() if w == worker)


def sc_bad_job(sw, bindir, srcdir):
    model = make_model(bindir, sw.tmp)
    sw.up("--workers", "2", "--slots", "1", "--model", model)
    bad = os.path.join(sw.tmp, "bad.json")
    with open(bad, "w") as f:
        json.dump({"name": "bad", "goal": "g", "instructions": "{item}",
                   "fanout": {"items": ["a"]}, "fanout_typo": 1}, f)
    p = sw.cli("submit", bad, check_rc=False)
    check(p.returncode != 0, "submit of a job with an unknown key succeeded: %s" % p.stdout)
    check("fanout_typo" in p.stderr, "error does not name the field: %r" % p.stderr)
    with open(bad, "w") as f:
        json.dump({"name": "bad2", "goal": "g", "instructions": "{item}",
                   "fanout": {"items": ["a"]}, "budget": {"max_tokens": "many"}}, f)
    p = sw.cli("submit", bad, check_rc=False)
    check(p.returncode != 0, "submit with a string max_tokens succeeded")
    check("max_tokens" in p.stderr, "error does not name budget.max_tokens: %r" % p.stderr)
    with open(bad, "w") as f:
        f.write('{"name": "x", "fanout": ')
    p = sw.cli("submit", bad, check_rc=False)
    check(p.returncode != 0 and p.stderr.strip(), "truncated JSON accepted: %r" % p.stderr)
    # the swarm keeps working
    items = ["ok-%d" % i for i in range(6)]
    jid = sw.cli("submit", write_job(sw.tmp, "good", items)).stdout.strip()
    st = sw.wait_terminal(jid, 120)
    check_result(st["result"], items)
    # max_tokens beyond the workers' context is refused at submit, naming it
    items = ["too-long-%d" % i for i in range(3)]
    job = write_job(sw.tmp, "refused", items, max_tokens=1000000,
                    extra={"budget": {"max_tokens": 1000000, "max_attempts": 1}})
    p = sw.cli("run", "--job", job, "--json", check_rc=False)
    check(p.returncode != 0 and "max_tokens" in p.stderr and not p.stdout.strip(),
          "max_tokens beyond the context not refused at submit: rc %d %r" % (p.returncode,
                                                                            p.stderr))
    # a job whose sub-tasks all fail on the worker (max_tokens fits the context
    # but leaves no room for any prompt): state failed, swarm run exits 1,
    # every task listed with its reason
    ws = json.loads(sw.cli("workers", "--json").stdout)
    ctx = min(int(re.search(r"ctx (\d+)", w["model"]).group(1)) for w in ws)
    job = write_job(sw.tmp, "failing", items, max_tokens=ctx - 1,
                    extra={"budget": {"max_tokens": ctx - 1, "max_attempts": 1}})
    p = sw.cli("run", "--job", job, "--json", check_rc=False)
    check(p.returncode == 1, "swarm run of a failing job exited %d" % p.returncode)
    res = json.loads(p.stdout)
    check_result(res, items, expect_state="failed")
    ft = res.get("failed_tasks", [])
    check(sorted(t["task_id"] for t in ft) == ["t0000", "t0001", "t0002"],
          "failed_tasks: %s" % ft)
    check(all("max_tokens" in t["error"] for t in ft), "errors do not name max_tokens: %s" % ft)
    sw.down_and_check()
    # a model that does not load: swarm up fails naming it and leaves nothing running
    garbage = os.path.join(sw.tmp, "garbage.gguf")
    with open(garbage, "wb") as f:
        f.write(b"this is not a GGUF file" * 100)
    sw2 = Swarm(bindir, sw.tmp)
    sw2.state = os.path.join(sw.tmp, "s2")
    try:
        p = sw2.cli("up", "--workers", "1", "--model", garbage, check_rc=False)
        sw2.record_pids()
        check(p.returncode != 0, "swarm up with a garbage model succeeded")
        check("garbage.gguf" in p.stderr, "error does not name the model: %r" % p.stderr)
        left = sw2.leftovers()
        check(not left, "processes left after a failed up: %s" % describe(left))
    finally:
        sw2.force_cleanup()


def sc_swarmd_restart(sw, bindir, srcdir):
    """kill -9 swarmd mid-job and start it again: the workers register again
    (swarmd answers their heartbeats with "unknown worker") and the job
    completes with every result exactly once."""
    model = make_model(bindir, sw.tmp)
    sw.up("--workers", "3", "--slots", "2", "--model", model)
    items = ["phoenix-%03d" % i for i in range(60)]
    jid = sw.cli("submit", write_job(sw.tmp, "restart", items, max_tokens=96)).stdout.strip()
    deadline = time.time() + 120 * SLOW
    while True:
        st = sw.status(jid)
        check(st["state"] == "running", "job ended before swarmd could be killed")
        if st["done"] >= 3:
            st_kill = st
            break
        check(time.time() < deadline, "job made no progress")
        time.sleep(0.05)
    pidfile = os.path.join(sw.state, "swarmd.pid")
    old = int(open(pidfile).read().split()[0])
    argv = open("/proc/%d/cmdline" % old, "rb").read().split(b"\0")[:-1]
    os.kill(old, signal.SIGKILL)
    while alive(old):
        time.sleep(0.02)
    time.sleep(0.5)
    log = open(os.path.join(sw.state, "logs", "swarmd.log"), "ab")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         start_new_session=True)
    with open(pidfile, "w") as f:
        f.write("%d\n" % p.pid)
    sw.pids.add(p.pid)
    st = sw.wait_terminal(jid, 300)
    check_result(st["result"], items)
    workers = json.loads(sw.cli("workers", "--json").stdout)
    check(len(workers) == 3, "after the restart %d of 3 workers registered again" % len(workers))
    again = 0
    for n in range(1, 4):
        text = open(os.path.join(sw.state, "logs", "worker-%d.log" % n), errors="replace").read()
        again += text.count("registered with swarmd")
    retried = [r for r in st["result"]["results"] if r.get("attempt", 1) > 1]
    print("swarmd-restart: killed swarmd at done=%d; %d registrations; %d task(s) retried" %
          (st_kill["done"], again, len(retried)))
    check(again >= 6, "workers did not register again after the restart")
    sw.down_and_check()
    p.wait(timeout=10)


def sc_sim_scale(sw, bindir, srcdir):
    # SIMULATED engine: exercises swarmd/Redis/workers at 1000 sub-tasks, no model.
    sw.up("--workers", "4", "--slots", "8", "--engine", "sim")
    items = ["s%04d" % i for i in range(1000)]
    job = write_job(sw.tmp, "simscale", items, max_tokens=8)
    jid = sw.cli("submit", job).stdout.strip()
    t0 = time.time()
    st = sw.wait_terminal(jid, 300)
    check_result(st["result"], items)
    for r in st["result"]["results"]:
        check(r["output"].startswith("[sim]"), "sim output not labelled: %r" % r["output"])
    print("sim-scale: 1000 sub-tasks in %.1f s" % (time.time() - t0))
    # cancel: a long job stops, is reported cancelled, and frees every slot
    items = ["long%02d" % i for i in range(40)]
    jid = sw.cli("submit", write_job(sw.tmp, "long", items, max_tokens=100000)).stdout.strip()
    deadline = time.time() + 60 * SLOW
    while sw.status(jid)["running"] == 0:
        check(time.time() < deadline, "long job never started")
        time.sleep(0.05)
    sw.cli("cancel", jid)
    st = sw.wait_terminal(jid, 60)
    check(st["state"] == "cancelled", "cancelled job reads %s" % st["state"])
    check_result(st["result"], items, expect_state="cancelled")
    deadline = time.time() + 30 * SLOW
    while any(w["busy"] for w in json.loads(sw.cli("workers", "--json").stdout)):
        check(time.time() < deadline, "slots still busy 30 s after cancel")
        time.sleep(0.1)
    sw.down_and_check()


SCENARIOS = {
    "submit-100": sc_submit_100,
    "run-demo": sc_run_demo,
    "kill-worker": sc_kill_worker,
    "bad-job": sc_bad_job,
    "sim-scale": sc_sim_scale,
    "swarmd-restart": sc_swarmd_restart,
}


def main():
    return run_scenarios(__doc__, SCENARIOS, "swit-")


if __name__ == "__main__":
    sys.exit(main())
