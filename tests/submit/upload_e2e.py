#!/usr/bin/env python3
"""upload_e2e.py - a job too big for one Submit, through the real CLI.

A whole local swarm (swarm up: redis-server, swarmd, 2 workers on the
labelled SIMULATED engine at 0 us per token). Scenarios:

  upload-items  a job file whose fanout.items list is over 1 MiB (50000
                items, 1.9 MB; SWARM_UPLOAD_N, 30000 under ASan): `swarm
                submit` sends it as an upload (SubmitBegin, a SubmitChunk per
                2000 items, SubmitEnd) and the job completes with every
                sub-task merged exactly once, in order. swarmd's log shows the
                upload, and no submission is left staged in Redis.
  lazy-lines    a fanout.lines job of 50000 lines (30000 under ASan) after
                one of 2000: swarmd plans it off its loop and stages it chunk
                by chunk; it completes, swarmd's peak RSS (VmHWM, Release
                builds) grew by less than 40 bytes per additional task (the
                task list is never held: it was ~445, then ~110 bytes/task),
                and after retention's compaction Redis keeps <= 400 bytes per
                task. SWARM_UPLOAD_N=1000000 is the 1,000,000-task run of
                docs/PERFORMANCE.md.

usage: upload_e2e.py BINDIR SRCDIR SCENARIO
"""
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import swarm_e2e as e2e  # noqa: E402
from swarm_e2e import Fail, check  # noqa: E402


def vm_hwm_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise Fail("no VmHWM for pid %d" % pid)


def sanitized(bindir):
    return b"__asan_init" in open(os.path.join(bindir, "swarmd"), "rb").read()


def redis_cli(sw, *args):
    import subprocess
    sock = os.path.join(sw.state, "redis.sock")
    return subprocess.run(["redis-cli", "-s", sock] + list(args), capture_output=True,
                          text=True, timeout=30).stdout.strip()


def wait_done(sw, jid, timeout):
    """The job's end, read from the plain `swarm status` line (no result is
    read: swarmd's peak RSS is then the submission's and the run's, not the
    1 MiB result pages a reader costs whatever the job's size)."""
    deadline = time.time() + timeout * e2e.SLOW
    state = None
    while time.time() < deadline:
        p = sw.cli("status", check_rc=False)
        if p.returncode != 0:
            # swarmd answers Status through Redis: while a 1,000,000-task job's
            # result (~100 MB) is assembled by finish.lua, Redis is busy for longer
            # than the CLI's 10 s; say so and ask again
            check("no answer from swarmd" in p.stderr, "swarm status: %s" % p.stderr[-500:])
            print("wait: swarm status got no answer (%s); asking again" % p.stderr.strip()[-80:])
            continue
        for line in p.stdout.splitlines():
            if line.startswith(jid + " "):
                state = line.split("state=")[1].split()[0]
        if state in ("done", "failed", "cancelled"):
            break
        time.sleep(0.5)
    check(state == "done", "job %s is %s after %d s" % (jid, state, timeout * e2e.SLOW))


def wait_result(sw, jid, timeout):
    """The job's end, then its whole result read through `swarm result`."""
    wait_done(sw, jid, timeout)
    out = sw.cli("result", jid, "--json", timeout=120).stdout
    return json.loads(out)


def check_compact(res, items):
    """Every sub-task exactly once, in order, ok, with its own item (a cheaper
    form of swarm_e2e.check_result for 200000 entries)."""
    check(res.get("state") == "done", "result state %r" % res.get("state"))
    results = res.get("results")
    n = len(items)
    check(isinstance(results, list) and len(results) == n,
          "%s results for %d sub-tasks" % (len(results) if results else None, n))
    check(res.get("total") == n and res.get("done") == n and res.get("failed") == 0,
          "counts total=%r done=%r failed=%r" % (res.get("total"), res.get("done"),
                                                 res.get("failed")))
    for i, r in enumerate(results):
        if r.get("task_id") != "t%04d" % i or r.get("item") != items[i] or r.get("ok") is not True:
            raise Fail("entry %d is %r, want task t%04d item %r ok" % (i, r, i, items[i]))


def compacted_bytes(sw, jid, size, before):
    """Redis bytes per task of job jid once retention compacted it (its done
    task hashes deleted in batches): used_memory now minus before its submit."""
    deadline = time.time() + 300 * e2e.SLOW
    while redis_cli(sw, "HGET", "swarm:job:" + jid, "compacted") != "1":
        check(time.time() < deadline, "job %s not compacted 300 s after it ended" % jid)
        time.sleep(0.5)
    return (redis_used(sw) - before) / float(size)


def sc_upload_items(sw, bindir):
    n = int(os.environ.get("SWARM_UPLOAD_N", "30000" if sanitized(bindir) else "50000"))
    items = ["upload item %07d of the long list" % i for i in range(n)]
    job = e2e.write_job(sw.tmp, "upload", items, max_tokens=4,
                        extra={"budget": {"max_tokens": 4, "max_attempts": 3, "max_subtasks": n}})
    size = os.path.getsize(job)
    check(size > 1 << 20, "job file is only %d bytes: it would not be uploaded" % size)
    sw.up("--workers", "2", "--slots", "16", "--engine", "sim")
    spid = int(open(os.path.join(sw.state, "swarmd.pid")).read().split()[0])
    before = redis_used(sw)
    t0 = time.time()
    jid = sw.cli("submit", job).stdout.strip()
    t_submit = time.time() - t0
    wait_done(sw, jid, 240 if n <= 200000 else 1800)
    wall = time.time() - t0
    hwm = vm_hwm_kb(spid)
    check_compact(json.loads(sw.cli("result", jid, "--json", timeout=600).stdout), items)
    log = open(os.path.join(sw.state, "logs", "swarmd.log"), errors="replace").read()
    check("%s (upload): %d task(s), merge concat, items uploaded in chunks" % (jid, n) in log
          or "job %s (upload): %d task(s), merge concat, items uploaded in chunks" % (jid, n) in log,
          "swarmd's log does not show job %s as an upload of %d items" % (jid, n))
    staged = redis_cli(sw, "ZCARD", "swarm:submitting")
    check(staged == "0", "%s submissions left staged" % staged)
    per_task = compacted_bytes(sw, jid, n, before)
    print("upload-items: %d items (%d bytes of job file) submitted in %.1f s, done in %.1f s, "
          "swarmd VmHWM %d kB, %.0f Redis bytes/task after compaction"
          % (n, size, t_submit, wall, hwm, per_task))
    check(per_task <= 400, "%.0f Redis bytes per finished task (> 400)" % per_task)
    sw.down_and_check()


def redis_used(sw):
    for line in redis_cli(sw, "INFO", "memory").splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    raise Fail("INFO memory has no used_memory")


def sc_lazy_lines(sw, bindir):
    n = int(os.environ.get("SWARM_UPLOAD_N", "30000" if sanitized(bindir) else "50000"))
    sw.up("--workers", "2", "--slots", "16", "--engine", "sim")
    spid = int(open(os.path.join(sw.state, "swarmd.pid")).read().split()[0])
    hwm = []
    for size in (2000, n):
        before = redis_used(sw)
        lines = os.path.join(sw.tmp, "lines%d.txt" % size)
        with open(lines, "w") as f:
            for i in range(size):
                f.write("line %07d\n" % i)
        job = os.path.join(sw.tmp, "lines%d.json" % size)
        with open(job, "w") as f:
            json.dump({"name": "lines", "goal": "g", "instructions": "Say {item}.",
                       "fanout": {"lines": os.path.basename(lines)},
                       "budget": {"max_tokens": 4, "max_subtasks": size}}, f)
        t0 = time.time()
        jid = sw.cli("submit", job).stdout.strip()
        t_submit = time.time() - t0
        wait_done(sw, jid, 240 if size <= 200000 else 1800)
        wall = time.time() - t0
        hwm.append(vm_hwm_kb(spid))
        check_compact(json.loads(sw.cli("result", jid, "--json", timeout=600).stdout),
                      ["line %07d" % i for i in range(size)])
        per_task = compacted_bytes(sw, jid, size, before)
        print("lazy-lines: %d lines submitted in %.1f s, done in %.1f s, swarmd VmHWM %d kB, "
              "%.0f Redis bytes/task after compaction" % (size, t_submit, wall, hwm[-1], per_task))
        if size == n:  # a small job's share of the fixed costs (job hash, events) is larger
            check(per_task <= 400, "%.0f Redis bytes per finished task (> 400)" % per_task)
    grow = (hwm[1] - hwm[0]) * 1024.0 / (n - 2000)
    print("lazy-lines: swarmd peak RSS +%.1f bytes per additional task" % grow)
    if not sanitized(bindir):
        check(grow < 40, "swarmd peak RSS grows %.1f bytes per task (>= 40): the plan is held"
              % grow)
    sw.down_and_check()


SCENARIOS = {"upload-items": sc_upload_items, "lazy-lines": sc_lazy_lines}


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in SCENARIOS:
        print(__doc__)
        return 2
    bindir = os.path.abspath(sys.argv[1])
    os.environ["SWARM_SIM_TOKEN_US"] = "0"
    tmp = tempfile.mkdtemp(prefix="swarm-upload-")
    sw = e2e.Swarm(bindir, tmp)
    try:
        SCENARIOS[sys.argv[3]](sw, bindir)
    except Fail as e:
        print("FAIL: %s" % e)
        sw.force_cleanup()
        return 1
    finally:
        sw.force_cleanup()
    shutil.rmtree(tmp, ignore_errors=True)
    print("%s: passed" % sys.argv[3])
    return 0


if __name__ == "__main__":
    sys.exit(main())
