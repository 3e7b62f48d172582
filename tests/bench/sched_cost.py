#!/usr/bin/env python3
"""sched_cost.py - Redis' cost per sub-task of the scheduler's Lua scripts.

Runs the life of one N-task fan-out job straight through scheduler/lua on a
private redis-server (AOF everysec, as swarm runs it): submit (submit_chunk.lua
batches of 2000, then submit.lua), lease.lua calls of --slots slots until none
is ready, complete.lua once per lease batch, collect.lua pages of 2000. Prints
Redis' cost per sub-task for each phase and in all.

With --callgrind, redis-server runs under valgrind and the cost is counted in
instructions (deterministic: comparable across runs on a busy machine, unlike
CPU time); without it, in CPU ms of redis-server. With --baseline SRC2 the same
run is made with SRC2's scripts (e.g. a `git archive` of an older commit) and
the ratio printed, both measured in this one run.

The scripts are loaded as swarm loads them: a source whose embed_lua.cmake
builds the Redis function library (#!lua name=swarm) is built by running that
file (cmake -P, LIB=...) and FUNCTION LOADed, each call an FCALL swarm_<name>;
an older source (lib.lua prepended to each script) is SCRIPT LOADed and called
by EVALSHA, so a baseline from before the library stays comparable.

usage: sched_cost.py [--tasks N] [--slots S] [--callgrind] [--baseline SRC2] [SRC]
"""
import argparse
import glob
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from resp import Redis  # noqa: E402

PHASES = ("submit", "lease", "complete", "collect")


def lease_rows(x, slots):
    """(job, task, attempt, worker, token) per leased task of lease.lua's reply:
    the flat form (job headers '' + 7 fields, then 5 per task; the i-th task
    took the i-th slot) or the older table per task."""
    if x and isinstance(x[0], list):
        return [(t[0], t[1], t[2], t[3], t[11]) for t in x]
    rows, i, job = [], 0, None
    while i < len(x):
        if x[i] == "":
            job, i = x[i + 1], i + 8
            continue
        w, tok = slots[len(rows)]
        rows.append((job, x[i], x[i + 1], w, tok))
        i += 5
    return rows


def load_scripts(r, src, tmp):
    """Loads src's scheduler scripts into r the way that source's swarm does;
    returns call(name, *args) running one of them with no keys."""
    emb = os.path.join(src, "scheduler", "embed_lua.cmake")
    if "register_function" in open(emb).read():
        lib = os.path.join(tmp, "swarm.lua")
        subprocess.run(["cmake", "-DOUT=%s/s.c" % tmp, "-DHDR=%s/s.h" % tmp, "-DLIB=" + lib,
                        "-DDIR=" + os.path.join(src, "scheduler", "lua"), "-P", emb],
                       check=True, stdout=subprocess.DEVNULL)
        r.must("FUNCTION", "LOAD", "REPLACE", open(lib).read())
        return lambda name, *a: r.must("FCALL", "swarm_" + name, 0, *a)
    lib = open(os.path.join(src, "scheduler", "lua", "lib.lua")).read()
    sha = {}
    for s in ("submit", "submit_chunk", "lease", "complete", "collect"):
        body = open(os.path.join(src, "scheduler", "lua", s + ".lua")).read()
        sha[s] = r.must("SCRIPT", "LOAD", lib + "\n" + body)
    return lambda name, *a: r.must("EVALSHA", sha[name], 0, *a)


def run(src, n, nslots, vg_dir):
    tmp = tempfile.mkdtemp(prefix="sched-cost-")
    sock = os.path.join(tmp, "redis.sock")
    pre = []
    if vg_dir:
        pre = ["valgrind", "--tool=callgrind", "--callgrind-out-file=%s/cg.%%p" % vg_dir,
               "--compress-strings=no"]
    srv = subprocess.Popen(pre + ["redis-server", "--port", "0", "--unixsocket", sock, "--dir", tmp,
                                  "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(1200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        time.sleep(0.2)
        r = Redis(sock)
        call = load_scripts(r, src, tmp)
        P, J = "swarm:", "j-cost"

        def now():
            return str(int(time.time() * 1000))

        def task(i):
            return ["t%04d" % i, "Say one short thing about {item}.", "item-%06d" % i,
                    "item-%06d" % i]

        def submit():
            per = 2000
            staged = (n - 1) // per * per
            for first in range(0, staged, per):
                a = [x for i in range(first, first + per) for x in task(i)]
                call("submit_chunk", P, now(), J, "tasks", first, *a)
            f = ["name", "cost", "goal", "You are a benchmark agent.", "merge", "concat",
                 "max_tokens", 2, "max_attempts", 3, "max_subtasks", n, "wall_time_s", 0,
                 "temperature", "0", "seed", 1, "max_depth", 0, "max_job_tokens", 0]
            if staged:
                f += ["staged", staged]
            a = [x for i in range(staged, n) for x in task(i)]
            call("submit", P, now(), J, len(f) // 2, *f, *a)

        batches = []

        def lease():
            while True:
                slots = [("w-%d" % (1 + k % 2), str(random.getrandbits(63))) for k in range(nslots)]
                args = [x for w, tok in slots for x in (w, tok, "1")]
                x = call("lease", P, now(), 60000, *args)
                if not x:
                    return
                batches.append(lease_rows(x, slots))

        def complete():
            for b in batches:
                a = [x for (j, t, att, w, tok) in b
                     for x in (j, t, att, tok, w, 1, "[sim] done", "", 2, 0)]
                call("complete", P, now(), *a)

        def collect():
            at = 0
            while at < n:
                x = call("collect", P, now(), J, at, 2000,
                           *([] if at == 0 else ["", "", ""]))
                at += len(x) - 1

        def cpu_ms():
            f = open("/proc/%d/stat" % srv.pid).read().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) * 10.0

        out = {}
        for name, fn in zip(PHASES, (submit, lease, complete, collect)):
            if vg_dir:
                subprocess.run(["callgrind_control", "-z", str(srv.pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            c0 = cpu_ms()
            fn()
            cost = (cpu_ms() - c0) / n * 1000.0  # us per task
            if vg_dir:
                subprocess.run(["callgrind_control", "-d", name, str(srv.pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
                time.sleep(0.5)
                dump = max(glob.glob(vg_dir + "/cg.*"), key=os.path.getmtime)
                ins = [int(l.split()[1]) for l in open(dump) if l.startswith("summary:")]
                cost = ins[0] / n / 1000.0 if ins else float("nan")  # K instructions per task
            out[name] = cost
        state = r.must("HGET", P + "job:" + J, "state")
        if state != "merging":
            raise RuntimeError("%s: the job ended %s, not merging" % (src, state))
        return out
    finally:
        srv.terminate()
        srv.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", nargs="?",
                    default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    ap.add_argument("--tasks", type=int, default=20000)
    ap.add_argument("--slots", type=int, default=16)
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("--baseline")
    o = ap.parse_args()
    if not shutil.which("redis-server") or (o.callgrind and not shutil.which("valgrind")):
        print("sched_cost: needs redis-server (and valgrind for --callgrind)", file=sys.stderr)
        return 1
    unit = "K instructions/task" if o.callgrind else "us CPU/task"
    res = {}
    for label, src in (("current", o.src), ("baseline", o.baseline)):
        if not src:
            continue
        vg = tempfile.mkdtemp(prefix="sched-cost-vg-") if o.callgrind else None
        try:
            res[label] = run(src, o.tasks, o.slots, vg)
        finally:
            if vg:
                shutil.rmtree(vg, ignore_errors=True)
        row = res[label]
        print("%-8s %s (%s, %d tasks, %d slots per lease): %s, total %.1f" %
              (label, src, unit, o.tasks, o.slots,
               ", ".join("%s %.1f" % (p, row[p]) for p in PHASES), sum(row.values())))
    if "baseline" in res:
        a, b = sum(res["current"].values()), sum(res["baseline"].values())
        print("ratio current/baseline: %.2f" % (a / b))
    return 0


if __name__ == "__main__":
    sys.exit(main())
