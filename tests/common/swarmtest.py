"""swarmtest.py - the test kit for Python tests that drive a whole local swarm.

The harness the integration, fault, agent, DAG, deploy and cluster tests
share: `Swarm` runs the real `swarm` CLI against a private state dir (its
redis-server, swarmd and workers), remembers every pid it started and checks
that none is left after `swarm down` and that no sanitizer report landed in
a log; `check_result` asserts the merged result holds every sub-task exactly
once, in order; `run_scenarios` is the one main() of a scenario script
(usage, tools present, temp dir, logs on failure, clean-up). Import it with
    sys.path.insert(0, os.path.join(HERE, "..", "common"))
    from swarmtest import Fail, Swarm, check, ...
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SLOW = 1
if os.environ.get("SWARM_TEST_SLOW"):
    SLOW = int(os.environ["SWARM_TEST_SLOW"])


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


class Swarm:
    def __init__(self, bindir, tmp):
        self.bindir = bindir
        self.tmp = tmp
        self.state = os.path.join(tmp, "s")
        self.pids = set()
        self.children = []  # processes a test started itself (waited for at the end)

    def cli(self, *args, timeout=180, check_rc=True):
        cmd = [os.path.join(self.bindir, "swarm")] + list(args) + ["--state", self.state]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * SLOW)
        if check_rc and p.returncode != 0:
            raise Fail("%s exited %d\nstdout: %s\nstderr: %s" %
                       (" ".join(cmd), p.returncode, p.stdout[-2000:], p.stderr[-3000:]))
        return p

    def record_pids(self):
        """Remember every pid the state dir names, to check they are gone later."""
        if not os.path.isdir(self.state):
            return
        for f in os.listdir(self.state):
            if f.endswith(".pid"):
                try:
                    self.pids.add(int(open(os.path.join(self.state, f)).read().split()[0]))
                except (OSError, ValueError, IndexError):
                    pass

    def worker_pid(self, n):
        return int(open(os.path.join(self.state, "worker-%d.pid" % n)).read().split()[0])

    def up(self, *args):
        self.cli("up", *args)
        self.record_pids()
        check(len(self.pids) >= 3, "swarm up left no pid files in %s" % self.state)

    def status(self, job):
        return json.loads(self.cli("status", job, "--json").stdout)

    def wait_terminal(self, job, timeout):
        deadline = time.time() + timeout * SLOW
        st = None
        while time.time() < deadline:
            st = self.status(job)
            if st["state"] in ("done", "failed", "cancelled") and "result" in st:
                return st
            time.sleep(0.2)
        raise Fail("job %s not finished after %d s: %s" % (job, timeout * SLOW, st))

    def leftovers(self):
        left = []
        for pid in list(self.pids) + scan_proc(self.tmp):
            if alive(pid):
                left.append(pid)
        return sorted(set(left))

    def down_and_check(self):
        self.record_pids()
        self.cli("down", timeout=60)
        time.sleep(0.2)
        left = self.leftovers()
        check(not left, "processes left after swarm down: %s" % describe(left))
        self.check_logs()

    def check_logs(self):
        """Under ASan/UBSan a child's report only shows in its log: fail on one."""
        logs = os.path.join(self.state, "logs")
        if not os.path.isdir(logs):
            return
        for f in sorted(os.listdir(logs)):
            text = open(os.path.join(logs, f), errors="replace").read()
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
                at = text.find(marker)
                check(at < 0, "%s in %s:\n%s" % (marker, f, text[max(0, at - 200):at + 2500]))

    def force_cleanup(self):
        self.record_pids()
        try:
            self.cli("down", timeout=60, check_rc=False)
        except Exception:
            pass
        for pid in self.leftovers():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def alive(pid):
    """Running and not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def scan_proc(needle):
    """Pids whose command line mentions needle (our temp dir)."""
    out = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if needle.encode() in cmd:
            out.append(int(d))
    return out


def describe(pids):
    parts = []
    for pid in pids:
        try:
            cmd = open("/proc/%d/cmdline" % pid, "rb").read().replace(b"\0", b" ").decode()
        except OSError:
            cmd = "?"
        parts.append("%d (%s)" % (pid, cmd.strip()))
    return ", ".join(parts)



def free_port():
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port

def make_model(bindir, tmp):
    path = os.path.join(tmp, "tiny.gguf")
    p = subprocess.run([os.path.join(bindir, "swarm-infer"), "mkmodel", "--arch", "qwen3moe",
                        "--preset", "tiny", "--type", "Q8_0", "--out", path],
                       capture_output=True, text=True, timeout=120 * SLOW)
    check(p.returncode == 0 and os.path.exists(path),
          "swarm-infer mkmodel failed (%d): %s" % (p.returncode, p.stderr[-2000:]))
    return path


def write_job(tmp, name, items, max_tokens=16, extra=None):
    job = {
        "name": name,
        "goal": "You are a test agent.",
        "instructions": "Say something about {item}.",
        "fanout": {"items": items},
        "merge": "concat",
        "budget": {"max_tokens": max_tokens, "max_attempts": 3},
        "sampling": {"temperature": 0.0, "seed": 1},
    }
    if extra:
        job.update(extra)
    path = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(job, f)
    return path


def check_result(res, items, expect_state="done"):
    """One entry per sub-task, each exactly once, in order, matching its item."""
    check(res.get("state") == expect_state, "result state %r, want %r" % (res.get("state"),
                                                                           expect_state))
    results = res.get("results")
    check(isinstance(results, list), "result has no results list")
    n = len(items)
    check(res.get("total") == n, "total %r, want %d" % (res.get("total"), n))
    ids = [r.get("task_id") for r in results]
    check(len(ids) == n, "%d results for %d sub-tasks" % (len(ids), n))
    check(len(set(ids)) == n, "duplicate task ids in results")
    want = ["t%04d" % i for i in range(n)]
    check(ids == want, "task ids not t0000..t%04d in order: %s" % (n - 1, ids[:5]))
    for i, r in enumerate(results):
        check(r.get("item") == items[i], "task %s item %r, want %r" % (ids[i], r.get("item"),
                                                                      items[i]))
        if expect_state == "done":
            check(r.get("ok") is True, "task %s not ok: %s" % (ids[i], r))
            check(isinstance(r.get("output"), str), "task %s has no output" % ids[i])
            check(isinstance(r.get("tokens"), int) and r["tokens"] >= 1,
                  "task %s tokens %r" % (ids[i], r.get("tokens")))
            check(isinstance(r.get("worker"), str) and r["worker"],
                  "task %s has no worker" % ids[i])
    if expect_state == "done":
        check(res.get("done") == n and res.get("failed") == 0,
              "counts done=%r failed=%r" % (res.get("done"), res.get("failed")))
        if res.get("merge") == "concat":
            check(isinstance(res.get("merged"), str), "concat merge is not a string")
            # one section per task, labelled with its item (sched_merge.c)
            def label(item):
                b = item.encode()
                if len(b) > 120:
                    n = 120
                    while n > 0 and (b[n] & 0xC0) == 0x80:
                        n -= 1
                    b = b[:n] + b"..."
                return b.decode().replace("\n", " ").replace("\r", " ")
            want = "\n\n".join("## %s\n%s" % (label(r["item"]), r["output"]) for r in results)
            check(res["merged"] == want,
                  "merged text is not the labelled outputs in task order")


# ---- scenarios ----


def wait_health(url, timeout):
    """Poll url + "/health" (curl) until it answers 200 or timeout seconds
    (times SLOW) pass; the caller's next request tells which it was."""
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                            url + "/health"], capture_output=True, text=True)
        if p.stdout == "200":
            return True
        time.sleep(0.1)
    return False


def run_scenarios(doc, scenarios, tmp_prefix, tools=("redis-server",)):
    """main() of a scenario script: `SCRIPT BINDIR SRCDIR SCENARIO` (see
    run_scenario). Returns the exit code; 2 for a usage error."""
    if len(sys.argv) != 4 or sys.argv[3] not in scenarios:
        print(doc, file=sys.stderr)
        return 2
    bindir, srcdir, name = sys.argv[1:4]
    return run_scenario(scenarios, name, bindir, srcdir, tmp_prefix, tools)


def run_scenario(scenarios, name, bindir, srcdir, tmp_prefix, tools=("redis-server",),
                 log_tail=1500):
    """Runs one scenario in a fresh short temp dir (unix socket paths must
    stay short), prints the end of every log when it fails, and always stops
    what it started. Returns the exit code: 0 pass, 1 fail, 77 skipped (a
    tool missing outside CI; in CI that fails)."""
    missing = [t for t in tools if not shutil.which(t) and not os.path.exists("/usr/bin/" + t)]
    if missing:
        print("%s not installed" % " / ".join(missing), file=sys.stderr)
        return 77 if os.environ.get("CI") != "true" else 1
    tmp = tempfile.mkdtemp(prefix=tmp_prefix, dir="/tmp")
    sw = Swarm(bindir, tmp)
    ok = False
    try:
        scenarios[name](sw, bindir, srcdir)
        ok = True
    except Fail as e:
        print("FAIL %s: %s" % (name, e), file=sys.stderr)
    except subprocess.TimeoutExpired as e:
        print("FAIL %s: timed out: %s" % (name, e), file=sys.stderr)
    finally:
        if not ok:
            logs = os.path.join(sw.state, "logs")
            if os.path.isdir(logs):
                for f in sorted(os.listdir(logs)):
                    try:
                        text = open(os.path.join(logs, f), errors="replace").read()
                    except OSError:
                        continue
                    print("---- %s (last %d bytes)\n%s" % (f, log_tail, text[-log_tail:]),
                          file=sys.stderr)
        sw.force_cleanup()
        for p in sw.children:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    if ok:
        print("PASS %s" % name)
    return 0 if ok else 1
