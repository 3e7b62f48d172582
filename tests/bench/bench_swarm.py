#!/usr/bin/env python3
"""bench_swarm.py - end-to-end sub-task throughput of a local swarm.

Each configuration starts a private swarm with the real `swarm` CLI (its own
redis-server, swarmd and N swarm-workers in a fresh state dir under /tmp),
submits one job of T sub-tasks, times submit -> job done (`swarm wait`, which
swarmd answers when the job ends; --poll S polls `swarm status` instead) and the
result read back (`swarm result JOB --json`), checks the result (every sub-task exactly once, all
ok), and stops everything it started (swarm down, then SIGKILL for anything a
pid file still names).

Engines:
  sim       the SIMULATED engine (fake tokens, outputs start with "[sim]"),
            SWARM_SIM_TOKEN_US microseconds per fake token. It measures the
            orchestration, not inference; every figure it yields says "sim".
  embedded  the real engine on a model file (--model).

Figures: wall seconds, sub-tasks/s, and the ratio against the first
configuration of the same series (1 worker), measured in the same run; with
--rounds R the configurations run in alternating rounds and each keeps its
best. Scheduler overhead per sub-task, two ways (sim only, where the work of a
sub-task is known exactly: tokens x token-us):
  amortised ms/task  with --token-us 0 a sim task does no work at all, so
                     wall / T is the orchestration's whole cost per sub-task
                     (submit + planner + swarmd + Redis + protocol + worker loop).
  slot ms/task       (wall x workers x slots - sum of task work) / T: how long
                     a slot spends per sub-task not running it (waiting for an
                     assignment, reporting, plus sleep overshoot of the fake
                     tokens).

Celery baseline (--celery): the same number of no-op tasks through Debian's
python3-celery in the same run (its own redis-server on a unix socket as broker
and result backend, a prefork worker with concurrency 2), timed from the first
apply_async to the last result; the swarm's best rate is divided by it.

Latency (--latency N): N single-sub-task jobs, one after the other, each a
`swarm run --job ONE.json --json` against one running swarm. Two figures,
p50/p99 in ms: submit->result at the client, timed by swarm itself
(SWARM_TIMING=1: from just before the Submit is sent to the merged result in
hand), and the whole process wall seen from here (CLI start, connect, submit,
wait for the pushed end, result, exit), with beside it the p50 of starting the
CLI process alone (`swarm --version`, interleaved), the share no scheduler
change can remove.

usage: bench_swarm.py BINDIR --engine sim|embedded [--model M.gguf]
                      [--tasks T] [--workers 1,2,4] [--slots K] [--threads N]
                      [--max-tokens M] [--token-us U] [--rounds R] [--celery]
                      [--latency N] [--json]
Exit 0 when every configuration completed with a correct result.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time


class BenchError(Exception):
    pass


def read_pids(state):
    pids = []
    if not os.path.isdir(state):
        return pids
    for f in os.listdir(state):
        if f.endswith(".pid"):
            try:
                pids.append(int(open(os.path.join(state, f)).read().split()[0]))
            except (OSError, ValueError, IndexError):
                pass
    return pids


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


class LocalSwarm:
    """One private swarm in its own state dir; always stopped by close()."""

    def __init__(self, bindir, env):
        self.bindir = bindir
        self.env = env
        # unix socket paths must stay short: a short dir under /tmp
        self.tmp = tempfile.mkdtemp(prefix="swb-", dir="/tmp")
        self.state = os.path.join(self.tmp, "s")
        self.pids = set()

    def cli(self, *args, timeout=300):
        cmd = [os.path.join(self.bindir, "swarm")] + list(args) + ["--state", self.state]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=self.env)
        self.pids.update(read_pids(self.state))
        if p.returncode != 0:
            raise BenchError("%s exited %d: %s" % (" ".join(cmd), p.returncode,
                                                   p.stderr.strip()[-1500:]))
        return p.stdout

    def close(self):
        self.pids.update(read_pids(self.state))
        try:
            subprocess.run([os.path.join(self.bindir, "swarm"), "down", "--state", self.state],
                           capture_output=True, timeout=60, env=self.env)
        except (OSError, subprocess.TimeoutExpired):
            pass
        deadline = time.time() + 5
        while time.time() < deadline and any(alive(p) for p in self.pids):
            time.sleep(0.1)
        left = [p for p in self.pids if alive(p)]
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        # SWARM_BENCH_LOGS=DIR keeps the state dir (daemons' logs) for a look afterwards
        keep = self.env.get("SWARM_BENCH_LOGS")
        if keep:
            shutil.copytree(self.state, os.path.join(keep, os.path.basename(self.tmp)),
                            ignore=shutil.ignore_patterns("*.sock", "*.ipc"), dirs_exist_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
        return left


def write_job(path, n, max_tokens):
    items = ["bench-%05d" % i for i in range(n)]
    job = {
        "name": "bench-%d" % n,
        "goal": "You are a benchmark agent.",
        "instructions": "Say one short thing about {item}.",
        "fanout": {"items": items},
        "merge": "concat",
        "budget": {"max_tokens": max_tokens, "max_attempts": 3, "max_subtasks": max(n, 1)},
        "sampling": {"temperature": 0.0, "seed": 1},
    }
    with open(path, "w") as f:
        json.dump(job, f)
    return items


def run_one(args, workers):
    env = dict(os.environ)
    if args.engine == "sim":
        env["SWARM_SIM_TOKEN_US"] = str(args.token_us)
    sw = LocalSwarm(args.bindir, env)
    try:
        up = ["up", "--workers", str(workers), "--slots", str(args.slots),
              "--engine", args.engine]
        if args.threads:
            up += ["--threads", str(args.threads)]
        if args.engine == "embedded":
            up += ["--model", args.model]
        sw.cli(*up)
        job = os.path.join(sw.tmp, "job.json")
        items = write_job(job, args.tasks, args.max_tokens)
        t0 = time.monotonic()
        jid = sw.cli("submit", job).strip()
        polls = 0
        if args.poll > 0:
            while True:
                st = json.loads(sw.cli("status", jid, "--json"))
                polls += 1
                if st.get("state") in ("done", "failed", "cancelled") and "result" in st:
                    break
                if time.monotonic() - t0 > args.timeout:
                    raise BenchError("job %s not finished after %d s: %s" %
                                     (jid, args.timeout, {k: st.get(k) for k in
                                                          ("state", "done", "total")}))
                time.sleep(args.poll)
            res = st["result"]
        else:
            # the end is pushed to `swarm wait` (no polling); then the result in pages
            try:
                sw.cli("wait", jid, "--timeout", str(args.timeout), timeout=args.timeout + 30)
            except BenchError as e:
                raise BenchError("job %s: %s" % (jid, e))
            res = json.loads(sw.cli("result", jid, "--json"))
            st = {"state": res.get("state")}
        wall = time.monotonic() - t0
        results = res.get("results", [])
        ids = [r.get("task_id") for r in results]
        if st["state"] != "done" or res.get("done") != args.tasks or len(ids) != args.tasks \
                or len(set(ids)) != args.tasks:
            raise BenchError("job ended %s with %r done of %d" % (st["state"], res.get("done"),
                                                                  args.tasks))
        if [r.get("item") for r in results] != items:
            raise BenchError("results are not the items in order")
        if args.engine == "sim" and not all(r.get("output", "").startswith("[sim]")
                                            for r in results):
            raise BenchError("a sim output is not labelled [sim]")
        tokens = sum(int(r.get("tokens", 0)) for r in results)
        used = len({r.get("worker") for r in results})
        return {"wall_s": wall, "tokens": tokens, "workers_used": used, "polls": polls}
    finally:
        left = sw.close()
        if left:
            print("bench_swarm: had to SIGKILL leftover pids %s" % left, file=sys.stderr)


# Debian's python3-celery lives in the system interpreter, not a pyenv one.
CELERY_PY = os.environ.get("CELERY_PYTHON", "/usr/bin/python3")

CELERY_APP = """
from celery import Celery
app = Celery("benchapp", broker="redis+socket://%(sock)s", backend="redis+socket://%(sock)s")
app.conf.worker_prefetch_multiplier = 64
@app.task
def noop(i):
    return i
"""


def run_celery(tasks, timeout):
    """Celery: tasks no-op tasks, prefork 2, Redis broker and backend; wall seconds."""
    tmp = tempfile.mkdtemp(prefix="swc-", dir="/tmp")
    sock = os.path.join(tmp, "redis.sock")
    procs = []
    try:
        procs.append(subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock,
                                       "--save", "", "--appendonly", "no"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True))
        with open(os.path.join(tmp, "benchapp.py"), "w") as f:
            f.write(CELERY_APP % {"sock": sock})
        deadline = time.time() + 10
        while not os.path.exists(sock):
            if time.time() > deadline:
                raise BenchError("celery baseline: redis-server did not start")
            time.sleep(0.05)
        env = dict(os.environ, PYTHONPATH=tmp)
        procs.append(subprocess.Popen([CELERY_PY, "-m", "celery", "-A", "benchapp", "worker",
                                       "--pool", "prefork", "--concurrency", "2",
                                       "--loglevel", "WARNING", "--without-gossip",
                                       "--without-mingle", "--without-heartbeat"],
                                      cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True))
        client = """
import sys, time
sys.path.insert(0, %r)
from benchapp import noop
noop.delay(-1).get(timeout=60)  # the worker is up
n = %d
t0 = time.monotonic()
rs = [noop.delay(i) for i in range(n)]
out = [r.get(timeout=%d) for r in rs]
wall = time.monotonic() - t0
assert out == list(range(n)), "celery results wrong"
print(wall)
""" % (tmp, tasks, timeout)
        p = subprocess.run([CELERY_PY, "-c", client], capture_output=True, text=True,
                           timeout=timeout + 90, env=env)
        if p.returncode != 0:
            raise BenchError("celery baseline failed: %s" % p.stderr[-1500:])
        return float(p.stdout.strip().splitlines()[-1])
    finally:
        for pr in procs:
            try:
                os.killpg(pr.pid, signal.SIGKILL)
            except OSError:
                pass
            pr.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def timing_line(stderr):
    """The `swarm timing:` line SWARM_TIMING=1 makes swarm print, as a dict."""
    for line in stderr.splitlines():
        if line.startswith("swarm timing: "):
            return dict(kv.split("=", 1) for kv in line[len("swarm timing: "):].split())
    return None


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))]


def run_latency(args, n):
    """n single-task `swarm run`s against one swarm (1 worker), each timed two
    ways: at the client by swarm itself (SWARM_TIMING=1: from just before the
    Submit is sent to the merged result in hand; the issue's figure) and as the
    whole process wall seen from here (exec, CLI start, connect, submit, wait,
    result, exit). Returns a dict of percentiles in ms."""
    env = dict(os.environ, SWARM_TIMING="1")
    if args.engine == "sim":
        env["SWARM_SIM_TOKEN_US"] = str(args.token_us)
    sw = LocalSwarm(args.bindir, env)
    try:
        up = ["up", "--workers", "1", "--slots", str(args.slots), "--engine", args.engine]
        if args.engine == "embedded":
            up += ["--model", args.model]
        sw.cli(*up)
        job = os.path.join(sw.tmp, "one.json")
        write_job(job, 1, args.max_tokens)
        wall, at_client, after, start = [], [], [], []
        swarm = os.path.join(args.bindir, "swarm")
        cmd = [swarm, "run", "--job", job, "--json", "--state", sw.state]
        for _ in range(n):
            t0 = time.monotonic()
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
            wall.append((time.monotonic() - t0) * 1000.0)
            if p.returncode != 0:
                raise BenchError("swarm run exited %d: %s" % (p.returncode, p.stderr[-1500:]))
            out = json.loads(p.stdout)
            if out.get("state") != "done" or out.get("done") != 1:
                raise BenchError("single-task job ended %s" % out.get("state"))
            tl = timing_line(p.stderr)
            if not tl or "submit_to_result_us" not in tl:
                raise BenchError("swarm run printed no timing line with SWARM_TIMING=1: %r"
                                 % p.stderr[-500:])
            at_client.append(float(tl["submit_to_result_us"]) / 1000.0)
            after.append(int(tl.get("after_submit", "-1")))
            # the part of each figure that is the CLI process itself (exec, dynamic
            # linking, exit), interleaved so it sees the same load: not subtracted
            t0 = time.monotonic()
            subprocess.run([swarm, "--version"], capture_output=True, env=env, check=True)
            start.append((time.monotonic() - t0) * 1000.0)
        return {"at_client_p50": pct(at_client, 0.5), "at_client_p99": pct(at_client, 0.99),
                "at_client_min": min(at_client), "wall_p50": pct(wall, 0.5),
                "wall_p99": pct(wall, 0.99), "wall_min": min(wall),
                "cli_start_p50": pct(start, 0.5), "replies_after_submit_p50": pct(after, 0.5)}
    finally:
        left = sw.close()
        if left:
            print("bench_swarm: had to SIGKILL leftover pids %s" % left, file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bindir")
    ap.add_argument("--engine", choices=("sim", "embedded"), required=True)
    ap.add_argument("--model")
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="engine threads per worker (0: swarm's default)")
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--token-us", type=int, default=1000, help="sim: microseconds per fake token")
    ap.add_argument("--poll", type=float, default=0,
                    help="status poll interval, s; 0 (default): `swarm wait` is pushed the end")
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds, best kept")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--latency", type=int, default=0,
                    help="also time N single-task swarm runs at the client (p50/p99)")
    ap.add_argument("--celery", action="store_true",
                    help="also run the same tasks through Celery (python3-celery) and compare")
    args = ap.parse_args()
    if args.engine == "embedded" and not args.model:
        ap.error("--engine embedded needs --model")
    if not shutil.which("redis-server"):
        print("bench_swarm: redis-server is not installed", file=sys.stderr)
        return 1
    label = "sim" if args.engine == "sim" else "embedded"
    series = [int(w) for w in args.workers.split(",")]
    base = None
    ok = True
    if not args.json:
        extra = ("%d us/token" % args.token_us) if args.engine == "sim" else \
            os.path.basename(args.model)
        print("swarm %s engine (%s): %d sub-tasks x %d max tokens, %d slot(s)/worker, "
              "best of %d round(s)" % (label.upper() if label == "sim" else label, extra,
                                       args.tasks, args.max_tokens, args.slots, args.rounds))
        print("%-8s %9s %10s %8s %12s %12s %8s" % ("workers", "wall s", "tasks/s", "ratio",
                                                   "amort ms/t", "slot ms/t", "tokens"))
    best = {}
    for _ in range(max(args.rounds, 1)):
        for w in series:
            try:
                r = run_one(args, w)
            except (BenchError, subprocess.TimeoutExpired, OSError) as e:
                print("bench_swarm: %s engine, %d worker(s): %s" % (label, w, e), file=sys.stderr)
                ok = False
                continue
            if w not in best or r["wall_s"] < best[w]["wall_s"]:
                best[w] = r
    for w in series:
        if w not in best:
            continue
        r = best[w]
        rate = args.tasks / r["wall_s"]
        if base is None:
            base = rate
        ratio = rate / base
        amort = slot = None
        if args.engine == "sim" and args.token_us == 0:
            amort = r["wall_s"] * 1000.0 / args.tasks
        if args.engine == "sim":
            work_s = r["tokens"] * args.token_us * 1e-6
            slot = (r["wall_s"] * w * args.slots - work_s) * 1000.0 / args.tasks
        if args.json:
            print(json.dumps({"bench": "swarm", "engine": label, "workers": w, "slots": args.slots,
                              "tasks": args.tasks, "max_tokens": args.max_tokens,
                              "token_us": args.token_us if label == "sim" else None,
                              "model": None if label == "sim" else os.path.basename(args.model),
                              "rounds": args.rounds, "wall_s": round(r["wall_s"], 4),
                              "tasks_per_s": round(rate, 3), "ratio_vs_first": round(ratio, 3),
                              "amortised_ms_per_task": None if amort is None else round(amort, 3),
                              "slot_ms_per_task": None if slot is None else round(slot, 3),
                              "tokens": r["tokens"], "workers_used": r["workers_used"]}))
        else:
            print("%-8d %9.2f %10.1f %7.2fx %12s %12s %8d" % (
                w, r["wall_s"], rate, ratio, "%.3f" % amort if amort is not None else "-",
                "%.3f" % slot if slot is not None else "-", r["tokens"]))
        sys.stdout.flush()
    if args.latency:
        try:
            lat = run_latency(args, args.latency)
        except (BenchError, subprocess.TimeoutExpired, OSError) as e:
            print("bench_swarm: latency: %s" % e, file=sys.stderr)
            return 1
        if args.json:
            print(json.dumps(dict({"bench": "latency", "runs": args.latency},
                                  **{k + ("_ms" if "replies" not in k else ""): round(v, 3)
                                     for k, v in lat.items()})))
        else:
            print("latency (%s engine), %d single-task `swarm run`s, one after the other:"
                  % (label, args.latency))
            print("  submit->result at the client (swarm's own clock, SWARM_TIMING=1): "
                  "p50 %.2f ms, p99 %.2f ms, min %.2f ms; replies after the Submit: p50 %d"
                  % (lat["at_client_p50"], lat["at_client_p99"], lat["at_client_min"],
                     lat["replies_after_submit_p50"]))
            print("  whole `swarm run` process wall, CLI start included: p50 %.2f ms, "
                  "p99 %.2f ms, min %.2f ms (starting the CLI alone, `swarm --version`: "
                  "p50 %.2f ms)" % (lat["wall_p50"], lat["wall_p99"], lat["wall_min"],
                                     lat["cli_start_p50"]))
    if args.celery and best:
        try:
            cw = min(run_celery(args.tasks, args.timeout) for _ in range(max(args.rounds, 1)))
        except (BenchError, subprocess.TimeoutExpired, OSError) as e:
            print("bench_swarm: %s" % e, file=sys.stderr)
            return 1
        crate = args.tasks / cw
        srate = max(args.tasks / r["wall_s"] for r in best.values())
        if args.json:
            print(json.dumps({"bench": "celery", "tasks": args.tasks, "wall_s": round(cw, 4),
                              "tasks_per_s": round(crate, 3),
                              "swarm_best_tasks_per_s": round(srate, 3),
                              "swarm_vs_celery": round(srate / crate, 3)}))
        else:
            print("celery (prefork 2, redis broker+backend): %d no-op tasks in %.2f s = %.1f/s; "
                  "swarm best %.1f/s = %.2fx celery" % (args.tasks, cw, crate, srate,
                                                         srate / crate))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
