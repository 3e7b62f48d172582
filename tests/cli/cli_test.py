#!/usr/bin/env python3
"""cli_test.py - the `swarm` CLI as a person meets it (issue 11).

Real binaries, real processes: scenarios that need a swarm start one with
`swarm up` (private redis-server, swarmd, a swarm-worker on the embedded
engine with the tiny default model made by `swarm-infer mkmodel`) in a temp
state dir, and always stop it. Every check names the complaint it guards:
each would fail on the CLI before issue 11 (--help said "--help needs a
value", --workers abc started 4 workers, cancel of a failed job said
"cancelled" and exited 0, the bar was full for an all-failed job, ...).

usage: cli_test.py BINDIR SCENARIO
scenarios: help-version, numbers, down-endpoint, validation, lifecycle, results, retry,
           cancel-tasks, json, pushed-result, zmtp-peer, ahead
"""
import json
import os
import pty
import re
import shutil
import subprocess
import sys
import tempfile
import time

COMMANDS = ["up", "down", "submit", "status", "run", "wait", "cancel", "retry", "result", "rm",
            "workers", "keygen", "logs", "top"]

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from swarmtest import SLOW, Fail, check  # noqa: E402


class Cli:
    def __init__(self, bindir, tmp):
        self.bindir = bindir
        self.tmp = tmp
        self.state = os.path.join(tmp, "s")
        self.started = False

    def run(self, *args, env=None, timeout=120, state=True):
        cmd = [os.path.join(self.bindir, "swarm")] + list(args)
        if state:
            cmd += ["--state", self.state]
        e = dict(os.environ)
        e.pop("SWARM_ENDPOINT", None)
        if env:
            e.update(env)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * SLOW,
                              env=e, cwd=self.tmp)

    def ok(self, *args, **kw):
        p = self.run(*args, **kw)
        check(p.returncode == 0, "swarm %s exited %d\nstdout: %s\nstderr: %s" %
              (" ".join(args), p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
        return p

    def up(self, *extra):
        self.ok("up", "--workers", "1", "--slots", "2", *extra, timeout=300)
        self.started = True

    def down(self):
        if self.started:
            self.run("down", timeout=120)
            self.started = False

    def job(self, name, spec):
        path = os.path.join(self.tmp, name + ".json")
        with open(path, "w") as f:
            json.dump(spec, f)
        return path

    def submit(self, spec_path):
        p = self.ok("submit", spec_path)
        job = p.stdout.strip()
        check(re.match(r"^j-[0-9]+-[0-9a-f]+$", job), "submit printed %r, not a job id" % job)
        return job

    def status_json(self, job):
        return json.loads(self.ok("status", job, "--json").stdout)

    def status_tty(self, job):
        """`swarm status JOB` with stdout on a terminal (the bar is drawn only there)."""
        master, slave = pty.openpty()
        cmd = [os.path.join(self.bindir, "swarm"), "status", job, "--state", self.state]
        p = subprocess.Popen(cmd, stdout=slave, stderr=subprocess.PIPE)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        p.wait(timeout=30 * SLOW)
        check(p.returncode == 0, "status on a tty exited %d: %s" % (p.returncode, p.stderr.read()))
        p.stderr.close()
        return out.decode(errors="replace")


def job_spec(name, instructions, items, **extra):
    spec = {"name": name, "goal": "You are one agent of a test swarm.",
            "instructions": instructions, "fanout": {"items": items}}
    spec.update(extra)
    return spec


# ---- scenarios without a running swarm ----

def sc_help_version(c):
    for cmd in COMMANDS:
        for flag in ("--help", "-h"):
            p = c.run(cmd, flag, state=False)
            check(p.returncode == 0, "swarm %s %s exited %d: %s" %
                  (cmd, flag, p.returncode, p.stderr))
            check(p.stdout.startswith("usage: swarm %s" % cmd),
                  "swarm %s %s printed no usage on stdout: %r" % (cmd, flag, p.stdout[:200]))
        # --help wins over a bad or missing value elsewhere on the line
        p = c.run(cmd, "--state", c.state, "--help", state=False)
        check(p.returncode == 0 and "usage: swarm %s" % cmd in p.stdout,
              "swarm %s --state DIR --help: exit %d" % (cmd, p.returncode))
        p = c.run("help", cmd, state=False)
        check(p.returncode == 0 and p.stdout.startswith("usage: swarm %s" % cmd),
              "swarm help %s: exit %d %r" % (cmd, p.returncode, p.stdout[:100]))
    p = c.run("--help", state=False)
    check(p.returncode == 0 and all(("  %s " % cmd) in p.stdout for cmd in COMMANDS),
          "swarm --help does not list every command: %r" % p.stdout)
    # every option a command's usage shows is accepted by its --help text and parser
    p = c.run("up", "--help", state=False)
    for flag in ("--workers", "--slots", "--threads", "--model", "--engine", "--state"):
        check(flag in p.stdout, "swarm up --help does not describe %s" % flag)
    for binary in ("swarm", "swarmd", "swarm-worker", "swarm-infer"):
        p = subprocess.run([os.path.join(c.bindir, binary), "--version"], capture_output=True,
                           text=True, timeout=30)
        check(p.returncode == 0, "%s --version exited %d: %s" % (binary, p.returncode, p.stderr))
        check(re.match(r"^%s \d+\.\d+\.\d+( \(git [^)]+\))?\n$" % re.escape(binary), p.stdout),
              "%s --version printed %r" % (binary, p.stdout))
    # the build records git describe when it was built from a checkout
    src = os.environ.get("SWARM_SRC_DIR", "")
    if src and os.path.isdir(os.path.join(src, ".git")) and shutil.which("git"):
        p = subprocess.run([os.path.join(c.bindir, "swarm"), "--version"], capture_output=True,
                           text=True)
        check("(git " in p.stdout, "built from a git checkout but --version has no git "
              "describe: %r" % p.stdout)


def sc_numbers(c):
    bad = [("up", "--workers", "abc"), ("up", "--workers", "-1"),
           ("up", "--workers", "99999999999"), ("up", "--workers", "0"),
           ("up", "--workers", "4x"), ("up", "--workers", ""), ("up", "--slots", "two"),
           ("up", "--threads", "-3"), ("run", "--workers", "abc"),
           ("wait", "--timeout", "soon")]
    for cmd, flag, value in bad:
        args = [cmd, flag, value] if cmd != "wait" else [cmd, "j-1", flag, value]
        p = c.run(*args)
        check(p.returncode == 2, "swarm %s: exit %d, want 2 (usage)" % (" ".join(args),
                                                                       p.returncode))
        check(flag in p.stderr and ('"%s"' % value) in p.stderr,
              "swarm %s: the error does not name %s and %r: %r" %
              (" ".join(args), flag, value, p.stderr))
        check("whole number" in p.stderr, "swarm %s: error %r" % (" ".join(args), p.stderr))
    # nothing was started: no state dir, no pid files
    check(not os.path.exists(c.state) or
          not any(f.endswith(".pid") for f in os.listdir(c.state)),
          "a rejected command line left processes in %s" % c.state)
    # an option the command does not take, a missing value, a stray argument
    for args, what in ((["status", "--workers", "3"], "--workers is not an option"),
                       (["up", "--state", c.state, "--workers"], "--workers needs a value"),
                       (["down", "extra"], "unexpected argument"),
                       (["cancel"], "which JOB")):
        p = c.run(*args, state="--state" not in args)
        check(p.returncode == 2 and what in p.stderr,
              "swarm %s: exit %d %r, want 2 and %r" % (" ".join(args), p.returncode, p.stderr, what))


def sc_down_endpoint(c):
    p = c.run("down", env={"SWARM_ENDPOINT": "tcp://127.0.0.1:1"})
    check(p.returncode == 1, "down with SWARM_ENDPOINT and nothing local: exit %d, want 1" %
          p.returncode)
    check("stopped 0 process" not in p.stderr, "down still says %r" % p.stderr)
    check("SWARM_ENDPOINT=tcp://127.0.0.1:1" in p.stderr and "cannot" in p.stderr,
          "down does not say it cannot stop the endpoint's swarm: %r" % p.stderr)
    p = c.run("down")
    check(p.returncode == 0 and "nothing to stop" in p.stderr and
          "stopped 0 process" not in p.stderr, "down of nothing: %d %r" % (p.returncode, p.stderr))
    # a local swarm under SWARM_ENDPOINT: the local one stops, the endpoint is named as not
    c.up()
    p = c.run("down", env={"SWARM_ENDPOINT": "tcp://127.0.0.1:1"})
    c.started = False
    check(p.returncode == 0, "down of a local swarm with SWARM_ENDPOINT set: exit %d %s" %
          (p.returncode, p.stderr))
    check(re.search(r"stopped [1-9]\d* local process", p.stderr) and "is not stopped" in p.stderr,
          "down does not tell what it stopped and what not: %r" % p.stderr)
    check(not any(f.endswith(".pid") for f in os.listdir(c.state)), "pid files left behind")


# ---- scenarios with a swarm ----

def sc_validation(c):
    c.up()
    # instructions that never mention {item}, more than one item: refused
    p = c.run("submit", c.job("noitem", job_spec("noitem", "Say hello.", ["a", "b", "c"])))
    check(p.returncode == 1, "job without {item}: submit exit %d, want 1" % p.returncode)
    check("instructions" in p.stderr and "{item}" in p.stderr and "3 sub-tasks" in p.stderr,
          "job without {item}: %r" % p.stderr)
    # one item needs no {item}
    c.submit(c.job("one", job_spec("one", "Say hello.", ["a"], budget={"max_tokens": 2})))
    # the worker announces its context; max_tokens beyond it is refused before any task runs
    ws = json.loads(c.ok("workers", "--json").stdout)
    check(len(ws) == 1 and ws[0].get("n_ctx") == 4096,
          "worker does not announce its context: %r" % ws)
    before = json.loads(c.ok("status", "--json").stdout)["jobs"]
    p = c.run("submit", c.job("big", job_spec("big", "Say {item}", ["a", "b"],
                                              budget={"max_tokens": 100000})))
    check(p.returncode == 1, "max_tokens 100000: submit exit %d, want 1" % p.returncode)
    check("budget.max_tokens 100000" in p.stderr and "context of 4096" in p.stderr,
          "max_tokens refusal does not explain: %r" % p.stderr)
    after = json.loads(c.ok("status", "--json").stdout)["jobs"]
    check(len(after) == len(before), "the refused job was stored anyway")
    p = c.run("run", "--job", c.job("big2", job_spec("big2", "Say {item}", ["a"],
                                                     budget={"max_tokens": 4096})))
    check(p.returncode == 1 and "does not fit the model context" in p.stderr,
          "swarm run with max_tokens 4096: exit %d %r" % (p.returncode, p.stderr))


def sc_lifecycle(c):
    c.up()
    # every sub-task fails: instructions alone overflow the context, one attempt each
    fail = c.submit(c.job("allfail", job_spec("allfail", "word " * 6000 + "{item}",
                                              ["a", "b", "c"],
                                              budget={"max_tokens": 8, "max_attempts": 1})))
    p = c.run("wait", fail, "--timeout", "120", timeout=180)
    check(p.returncode == 3, "wait on an all-failed job: exit %d, want 3 (%s)" %
          (p.returncode, p.stderr))
    bar = c.status_tty(fail)
    m = re.search(r"\[([#x.\-]{30})\] (\d+)/(\d+) done\s+(\d+) failed", bar)
    check(m, "no bar in the tty status: %r" % bar)
    check("#" not in m.group(1) and m.group(1).count("x") == 30,
          "bar of an all-failed job shows success: %r" % m.group(1))
    check(m.group(2) == "0" and m.group(4) == "3", "counts %r" % m.group(0))
    check(re.search(r"\d+\.\d/s\s+\d+s", bar), "tty status has no rate and elapsed: %r" % bar)
    plain = c.ok("status", fail).stdout
    check("failed=3" in plain and "done=0/3" in plain and "rate=" in plain and
          "elapsed=" in plain and "eta=-" in plain, "plain status: %r" % plain)
    st = c.status_json(fail)
    check(st["state"] == "failed" and st["failed"] == 3 and st["done"] == 0, "status %r" % st)
    check(isinstance(st.get("elapsed_ms"), (int, float)) and st["rate_per_s"] > 0 and
          st["eta_ms"] is None, "status --json timing: %r" % st)
    # cancel of an ended job is not a success
    p = c.run("cancel", fail)
    check(p.returncode == 1, "cancel of a failed job: exit %d, want 1" % p.returncode)
    check("already ended failed" in p.stderr and "nothing to cancel" in p.stderr and
          "cancelled " + fail not in p.stdout, "cancel of a failed job said %r / %r" %
          (p.stdout, p.stderr))
    p = c.run("cancel", "j-20000101000000-beef")
    check(p.returncode == 1 and "unknown job j-20000101000000-beef" in p.stderr,
          "cancel of an unknown job: %d %r" % (p.returncode, p.stderr))
    p = c.run("wait", "j-20000101000000-beef")
    check(p.returncode == 1 and "unknown job" in p.stderr,
          "wait on an unknown job: %d %r" % (p.returncode, p.stderr))

    # a running job: ETA while it runs, wait --timeout, cancel, wait -> cancelled
    # long enough (~20 s here) that it is still running after wait --timeout 1 on a fast machine
    items = ["topic %d" % i for i in range(200)]
    run = c.submit(c.job("long", job_spec("long", "Write about {item}", items,
                                          budget={"max_tokens": 300})))
    deadline = time.time() + 120 * SLOW
    st = None
    while time.time() < deadline:
        st = c.status_json(run)
        if st["done"] >= 1 or st["state"] != "running":
            break
        time.sleep(0.05)
    check(st["state"] == "running" and st["done"] >= 1,
          "job ended before it could be watched: %r" % st)
    check(isinstance(st["eta_ms"], (int, float)) and st["eta_ms"] > 0 and st["rate_per_s"] > 0,
          "a running job with finished sub-tasks has no ETA: %r" % st)
    plain = c.ok("status", run).stdout
    check(re.search(r"eta=\d+", plain), "plain status of a running job has no ETA: %r" % plain)
    p = c.run("wait", run, "--timeout", "1")
    check(p.returncode == 5 and "--timeout" in p.stderr,
          "wait --timeout 1 on a long job: exit %d %r" % (p.returncode, p.stderr))
    p = c.run("cancel", run)
    check(p.returncode == 0 and p.stdout.strip() == "cancelled " + run,
          "cancel of a running job: %d %r %r" % (p.returncode, p.stdout, p.stderr))
    p = c.run("wait", run, "--json", timeout=120)
    check(p.returncode == 4, "wait on a cancelled job: exit %d, want 4" % p.returncode)
    check(json.loads(p.stdout)["state"] == "cancelled", "wait --json: %r" % p.stdout)
    p = c.run("cancel", run)
    check(p.returncode == 1 and "already ended cancelled" in p.stderr,
          "second cancel: %d %r" % (p.returncode, p.stderr))
    # a job that succeeds: wait exits 0
    ok = c.submit(c.job("ok", job_spec("ok", "Say {item}", ["x", "y"],
                                       budget={"max_tokens": 2})))
    p = c.run("wait", ok, timeout=120)
    check(p.returncode == 0, "wait on a done job: exit %d %r" % (p.returncode, p.stderr))


def sc_results(c):
    c.up()
    # concat: each output under a label naming its item; the cut input is flagged
    long_item = "long " * 5000
    p = c.run("run", "--job", c.job("cat", job_spec("cat", "Summarise: {item}",
                                                     ["short one", long_item],
                                                     budget={"max_tokens": 8})), "--json",
              timeout=180)
    check(p.returncode == 0, "run concat: exit %d %s" % (p.returncode, p.stderr))
    res = json.loads(p.stdout)
    r = res["results"]
    check(len(r) == 2 and all(x["ok"] for x in r), "results %r" % r)
    want = "## short one\n%s\n\n## %s...\n%s" % (r[0]["output"], long_item[:120], r[1]["output"])
    check(res["merged"] == want, "concat is not labelled per item:\n%r\nwant\n%r" %
          (res["merged"][:300], want[:300]))
    check(re.match(r"^\[input truncated to fit the model context: kept \d+ of 25000 bytes\]\n",
                   r[1]["output"]), "cut input not flagged: %r" % r[1]["output"][:200])
    check(not r[0]["output"].startswith("[input truncated"), "short input flagged as cut")
    check("t0001" in p.stderr and "input truncated" in p.stderr,
          "swarm run does not warn about the cut input: %r" % p.stderr)
    # the text form prints the labelled merge
    p = c.run("run", "--job", os.path.join(c.tmp, "cat.json"), timeout=180)
    check(p.returncode == 0 and p.stdout.startswith("## short one\n"),
          "text run output: %r" % p.stdout[:200])
    # json: every entry carries task_id, item, status and output
    p = c.run("run", "--job", c.job("js", job_spec("js", "Say {item}", ["p", "q"], merge="json",
                                                    budget={"max_tokens": 4})), "--json",
              timeout=180)
    check(p.returncode == 0, "run json: exit %d %s" % (p.returncode, p.stderr))
    res = json.loads(p.stdout)
    m = res["merged"]
    check(isinstance(m, list) and len(m) == 2, "json merged %r" % m)
    for i, (e, item) in enumerate(zip(m, ["p", "q"])):
        check(e.get("task_id") == "t%04d" % i and e.get("item") == item and
              e.get("status") == "done" and "output" in e, "json merged entry %r" % e)
        out = res["results"][i]["output"]
        try:
            want = json.loads(out)  # an output that is JSON is merged as JSON
        except ValueError:
            want = out
        check(e["output"] == want, "entry output differs from the task's: %r vs %r" %
              (e["output"], out))


def sc_retry(c):
    """A job runs out of wall time with one sub-task done: the swarm (SIMULATED
    engine, 2 s per sub-task, one slot) ends it failed. The swarm is restarted
    on the same state dir (Redis keeps the job) with fast sub-tasks, and
    `swarm retry` re-runs exactly the failed sub-tasks: the job ends done and
    the sub-task that had succeeded keeps its output and attempt."""
    slow = {"SWARM_SIM_TOKEN_US": "200000"}
    c.ok("up", "--workers", "1", "--slots", "1", "--engine", "sim", env=slow, timeout=300)
    c.started = True
    spec = job_spec("deadline", "Say {item}", ["a", "b", "c"],
                    budget={"max_tokens": 10, "max_attempts": 1, "wall_time_s": 3})
    job = c.submit(c.job("deadline", spec))
    p = c.run("wait", job, timeout=120)
    check(p.returncode == 3, "the job should run out of wall time: wait exit %d %s" %
          (p.returncode, p.stderr))
    before = json.loads(c.ok("result", job, "--json").stdout)
    check(before["done"] == 1 and before["failed"] == 2 and before["results"][0]["ok"],
          "before retry: %r" % {k: before.get(k) for k in ("state", "done", "failed")})
    # retry of a job that is not failed changes nothing and says why
    ok = c.submit(c.job("fine", job_spec("fine", "Say {item}", ["x"],
                                         budget={"max_tokens": 1})))
    check(c.run("wait", ok, timeout=120).returncode == 0, "the fine job did not end done")
    p = c.run("retry", ok)
    check(p.returncode == 1 and "the job is done" in p.stderr,
          "retry of a done job: %d %r" % (p.returncode, p.stderr))
    p = c.run("retry", "j-20000101000000-beef")
    check(p.returncode == 1 and "unknown job" in p.stderr,
          "retry of an unknown job: %d %r" % (p.returncode, p.stderr))
    c.down()
    c.ok("up", "--workers", "1", "--slots", "1", "--engine", "sim",
         env={"SWARM_SIM_TOKEN_US": "1000"}, timeout=300)
    c.started = True
    check(c.status_json(job)["state"] == "failed", "the job did not survive down/up")
    p = c.run("retry", job)
    check(p.returncode == 0 and p.stdout.startswith("retrying %s: 2 failed" % job),
          "retry: %d %r %r" % (p.returncode, p.stdout, p.stderr))
    p = c.run("wait", job, timeout=120)
    check(p.returncode == 0, "the retried job did not end done: exit %d %s" %
          (p.returncode, p.stderr))
    res = json.loads(c.ok("result", job, "--json").stdout)
    check(res["state"] == "done" and res["done"] == 3 and res["failed"] == 0,
          "result after retry: %r" % {k: res.get(k) for k in ("state", "done", "failed")})
    r0, b0 = res["results"][0], before["results"][0]
    check(r0["output"] == b0["output"] and r0["attempt"] == b0["attempt"],
          "the sub-task that had succeeded was run again: %r vs %r" % (r0, b0))
    check(all(x["ok"] and x["output"] for x in res["results"][1:]),
          "the failed sub-tasks did not run: %r" % res["results"][1:])
    p = c.run("retry", job)
    check(p.returncode == 1, "a second retry of a done job: exit %d" % p.returncode)


def logs_json(c, job):
    p = c.ok("logs", job, "--json")
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


def sc_cancel_tasks(c):
    """`swarm cancel JOB TASK...` on a running job (SIMULATED engine, 3 s per
    sub-task, one worker with two slots): a running task and a queued one are
    cancelled, the others complete; the two end cancelled exactly once, the
    queued one never ran, and the job's state and result say so."""
    c.ok("up", "--workers", "1", "--slots", "2", "--engine", "sim",
         env={"SWARM_SIM_TOKEN_US": "300000"}, timeout=300)
    c.started = True
    items = ["i%d" % i for i in range(6)]
    job = c.submit(c.job("six", job_spec("six", "Say {item}", items,
                                         budget={"max_tokens": 10, "max_attempts": 1})))
    # a fan-out's tasks are t0000, t0001, ... in item order (checked against the result below)
    tasks = ["t%04d" % i for i in range(len(items))]
    running = None
    deadline = time.time() + 60 * SLOW
    while time.time() < deadline and not running:
        ev = logs_json(c, job)
        started = [e["task_id"] for e in ev if e.get("event") == "task_running"]
        ended = {e["task_id"] for e in ev if e.get("event") in ("task_done", "task_failed")}
        live = [t for t in started if t not in ended]
        if live:
            running = live[0]
        else:
            time.sleep(0.05)
    check(running, "no task was seen running")
    started = {e["task_id"] for e in logs_json(c, job) if e.get("event") in
               ("task_running", "task_leased")}
    queued = [t for t in tasks if t not in started]
    check(queued, "every task already started; nothing queued to cancel: %r" % tasks)
    queued = queued[-1]
    p = c.run("cancel", job, running, queued)
    check(p.returncode == 0, "cancel of two tasks: exit %d %r %r" % (p.returncode, p.stdout,
                                                                    p.stderr))
    check(p.stdout.split() == ["cancelled", "%s/%s" % (job, running), "cancelled",
                               "%s/%s" % (job, queued)], "cancel printed %r" % p.stdout)
    # again: they have ended, nothing changes, exit 1 naming the state
    p = c.run("cancel", job, queued)
    check(p.returncode == 1 and "already ended cancelled" in p.stderr and not p.stdout,
          "second cancel of a task: %d %r %r" % (p.returncode, p.stdout, p.stderr))
    p = c.run("cancel", job, "no-such-task")
    check(p.returncode == 1 and "unknown task no-such-task" in p.stderr,
          "cancel of an unknown task: %d %r" % (p.returncode, p.stderr))
    p = c.run("wait", job, "--json", timeout=120)
    check(p.returncode == 4, "wait on a job with cancelled tasks: exit %d, want 4 (%s)" %
          (p.returncode, p.stderr))
    st = json.loads(p.stdout)
    check(st["state"] == "cancelled" and st["cancelled"] == 2 and st["done"] == 4 and
          st["failed"] == 0, "final status %r" % st)
    res = json.loads(c.ok("result", job, "--json").stdout)
    by = {r["task_id"]: r for r in res["results"]}
    check(sorted(by) == tasks, "task ids %r" % sorted(by))
    check(res["state"] == "cancelled" and res["done"] == 4 and res["cancelled"] == 2,
          "result %r" % {k: res.get(k) for k in ("state", "done", "cancelled")})
    for t in (running, queued):
        check(by[t]["state"] == "cancelled" and not by[t]["ok"], "task %s: %r" % (t, by[t]))
    for t, r in by.items():
        if t not in (running, queued):
            check(r["ok"] and r["output"], "task %s did not complete: %r" % (t, r))
    # exactly once: one task_cancelled each, and none of the two is done after it
    ev = logs_json(c, job)
    for t in (running, queued):
        kinds = [e["event"] for e in ev if e.get("task_id") == t]
        check(kinds.count("task_cancelled") == 1 and "task_done" not in kinds and
              "task_failed" not in kinds, "events of %s: %r" % (t, kinds))
    check("task_running" not in [e["event"] for e in ev if e.get("task_id") == queued],
          "the queued task ran after it was cancelled")
    # cancel of a task of an ended job: the job is named as not running
    p = c.run("cancel", job, running)
    check(p.returncode == 1 and "not running" in p.stderr,
          "task cancel on an ended job: %d %r" % (p.returncode, p.stderr))


def sc_json(c):
    """Every read command's --json parses and has the documented keys."""
    p = c.run("status", env={"SWARM_ENDPOINT": "tcp://127.0.0.1:1"})
    check(p.returncode == 1 and "--insecure" in p.stderr,
          "a tcp:// endpoint without keys does not name --insecure: %r" % p.stderr)
    c.ok("up", "--workers", "1", "--slots", "2", "--engine", "sim",
         env={"SWARM_SIM_TOKEN_US": "1000"}, timeout=300)
    c.started = True
    job = c.submit(c.job("two", job_spec("two", "Say {item}", ["a", "b"],
                                         budget={"max_tokens": 4})))
    w = json.loads(c.ok("wait", job, "--json", timeout=120).stdout)
    check(w["job_id"] == job and w["state"] == "done", "wait --json %r" % w)
    one = json.loads(c.ok("status", job, "--json").stdout)
    for k in ("job_id", "name", "state", "total", "done", "failed", "running", "pending",
              "cancelled", "elapsed_ms", "rate_per_s", "eta_ms"):
        check(k in one, "status JOB --json lacks %s: %r" % (k, one))
    every = json.loads(c.ok("status", "--json").stdout)
    check(isinstance(every, dict) and any(j["job_id"] == job for j in every["jobs"]) and
          isinstance(every["workers"], list), "status --json %r" % every)
    ws = json.loads(c.ok("workers", "--json").stdout)
    check(isinstance(ws, list) and len(ws) == 1 and ws[0]["slots"] == 2 and
          "worker_id" in ws[0] and "busy" in ws[0], "workers --json %r" % ws)
    # short sub-tasks: swarmd keeps a prefetch queue on the worker beyond its 2
    # slots, yet "busy" counts running sub-tasks only, never more than the slots
    many = c.submit(c.job("many", job_spec("many", "Say {item}", ["m%d" % i for i in range(300)],
                                           budget={"max_tokens": 4, "max_subtasks": 300})))
    seen = []
    for _ in range(40):
        seen.append(json.loads(c.ok("workers", "--json").stdout)[0]["busy"])
        if json.loads(c.ok("status", many, "--json").stdout)["state"] != "running":
            break
    check(max(seen) <= 2 and max(seen) >= 1, "busy of a 2-slot worker over a run: %r" % seen)
    c.ok("wait", many, timeout=120)
    res = json.loads(c.ok("result", job, "--json").stdout)
    check(res["job_id"] == job and res["done"] == 2 and len(res["results"]) == 2 and
          all(r["ok"] for r in res["results"]), "result --json %r" % res)
    ev = logs_json(c, job)
    check(ev and all(e["type"] in ("event", "step", "audit", "gap", "end") for e in ev) and
          [e["event"] for e in ev if e["type"] == "event"].count("task_done") == 2,
          "logs --json %r" % ev[:5])
    # --insecure: a second swarmd (own prefix, same redis) on plain tcp:// with --insecure;
    # the CLI reaches it only with the flag, and without it is told to use keys or the flag
    import socket
    ports = []
    for _ in range(2):
        so = socket.socket()
        so.bind(("127.0.0.1", 0))
        ports.append(so.getsockname()[1])
        so.close()
    tcp = "tcp://127.0.0.1:%d" % ports[0]
    with open(os.path.join(c.tmp, "swarmd-tcp.log"), "w") as log:
        d = subprocess.Popen([os.path.join(c.bindir, "swarmd"), "--redis",
                              "unix:" + os.path.join(c.state, "redis.sock"), "--prefix", "tcp:",
                              "--client", tcp, "--workers", "tcp://127.0.0.1:%d" % ports[1],
                              "--insecure"], stdout=log, stderr=log)
    try:
        p = None
        for _ in range(100):
            p = c.run("status", "--json", "--insecure", env={"SWARM_ENDPOINT": tcp})
            if p.returncode == 0:
                break
            time.sleep(0.1)
        check(p.returncode == 0 and json.loads(p.stdout)["jobs"] == [],
              "status --insecure on a plain tcp:// swarmd: %d %r" % (p.returncode, p.stderr))
        p = c.run("status", "--json", env={"SWARM_ENDPOINT": tcp})
        check(p.returncode == 1 and "--insecure" in p.stderr,
              "status without --insecure on a tcp:// swarmd: %d %r" % (p.returncode, p.stderr))
    finally:
        d.terminate()
        d.wait(timeout=30)
    top = json.loads(c.ok("top", "--once", "--json").stdout)
    check(any(j["job_id"] == job for j in top["jobs"]) and len(top["workers"]) == 1,
          "top --once --json %r" % top)
    p = c.run("top", "--json")
    check(p.returncode == 2 and "--once" in p.stderr, "top --json without --once: %d %r" %
          (p.returncode, p.stderr))


def timing(stderr):
    """The one `swarm timing:` line SWARM_TIMING=1 adds to stderr, parsed:
    its key=value pairs, and exchanges as [(kind, us, reply bytes)]."""
    lines = [ln for ln in stderr.splitlines() if ln.startswith("swarm timing: ")]
    check(len(lines) == 1, "want one timing line on stderr, got %r" % stderr[-1500:])
    kv = dict(f.split("=", 1) for f in lines[0][len("swarm timing: "):].split())
    ex = []
    for e in kv.get("exchanges", "").split(","):
        kind, rest = e.split(":")
        us, size = rest.rstrip("B").split("/")
        ex.append((kind, int(us), int(size)))
    kv["exchanges"] = ex
    return kv


PAGE = 1 << 20  # SWARMD_RESULT_PAGE: the most result bytes one Status reply carries


def sc_pushed_result(c):
    """Issue 10: `swarm run` is pushed its result. After the Submit, a small
    job's merged result arrives in exactly one reply, asked for by no further
    request: the Submit waits on its job (Submit.wait_ms) and its second
    answer says the job ended and carries the result; a result larger than a page still comes
    in pages, no reply over a page; `swarm wait` is pushed the end, never
    polls. Over both transports: the CLI's own ZMTP for ipc:// and libzmq
    (SWARM_CLIENT_LIBZMQ=1)."""
    fast = {"SWARM_SIM_TOKEN_US": "0"}
    c.ok("up", "--workers", "1", "--slots", "4", "--engine", "sim", env=fast, timeout=300)
    c.started = True
    one = c.job("one", job_spec("one", "Say {item}", ["solo"], budget={"max_tokens": 4}))
    p = c.ok("run", "--job", one, "--json")
    check("swarm timing" not in p.stderr, "a timing line without SWARM_TIMING: %r" % p.stderr)
    for transport in ({}, {"SWARM_CLIENT_LIBZMQ": "1"}):
        env = dict(transport, SWARM_TIMING="1")
        p = c.ok("run", "--job", one, "--json", env=env)
        res = json.loads(p.stdout)
        check(res.get("state") == "done" and [r["item"] for r in res["results"]] == ["solo"],
              "%s: single-task run result %r" % (transport, res))
        t = timing(p.stderr)
        kinds = [k for k, _, _ in t["exchanges"]]
        check(kinds == ["submit", "held"] and t["after_submit"] == "1",
              "%s: a small job's result should come in the one reply after the Submit "
              "(the pushed end), exchanges %r" % (transport, t["exchanges"]))
        size = len(json.dumps(res, separators=(",", ":")))
        check(t["exchanges"][1][2] > size * 0.9,
              "%s: the pushed end (%d bytes) does not carry the %d-byte result" %
              (transport, t["exchanges"][1][2], size))
        check(float(t["submit_to_result_us"]) > 0, "no submit->result figure: %r" % t)
    # a result of several pages: the end carries the first, the rest is read in pages
    items = ["big%04d" % i for i in range(400)]
    big = c.job("big", job_spec("big", "Say {item}", items,
                                budget={"max_tokens": 1200, "max_subtasks": 400}))
    for transport in ({}, {"SWARM_CLIENT_LIBZMQ": "1"}):
        p = c.ok("run", "--job", big, "--json", env=dict(transport, SWARM_TIMING="1"),
                 timeout=300)
        res = json.loads(p.stdout)
        check(res.get("state") == "done" and [r["item"] for r in res["results"]] == items,
              "%s: big run result is not the 400 items in order" % transport)
        t = timing(p.stderr)
        size = len(json.dumps(res, separators=(",", ":")))
        check(size > 2 * PAGE, "the big result is only %d bytes; make the job bigger" % size)
        after = [k for k, _, _ in t["exchanges"][1:]]
        pages = after.count("result")
        check(after[0] == "held" and after[-1 - pages] in ("held", "wait") and
              after[-pages:] == ["result"] * pages and
              pages >= size // PAGE,
              "%s: a %d-byte result should follow the pushed end in >= %d result pages: %r" %
              (transport, size, size // PAGE, after))
        check(int(t["max_reply_bytes"]) <= PAGE + 65536,
              "%s: a reply of %s bytes: more than one page" % (transport, t["max_reply_bytes"]))
    # `swarm wait` holds one request until the job ends (the old CLI polled Status
    # every 250 ms): only "wait" exchanges, about one per second at most
    job = c.submit(big)
    t0 = time.monotonic()
    p = c.ok("wait", job, env={"SWARM_TIMING": "1"}, timeout=300)
    took = time.monotonic() - t0
    kinds = [k for k, _, _ in timing(p.stderr)["exchanges"]]
    check(set(kinds) == {"wait"} and len(kinds) <= 2 + int(took),
          "swarm wait should be pushed the end, not poll: %d exchanges %r in %.1f s" %
          (len(kinds), sorted(set(kinds)), took))


def swarmd_counters(c):
    """The counters swarmd logs when it stops (`swarm down`): name -> value."""
    c.down()
    out = {}
    with open(os.path.join(c.state, "logs", "swarmd.log"), errors="replace") as f:
        for line in f:
            m = re.search(r"swarmd: counter (\S+) = (\d+)$", line.strip())
            if m:
                out[m.group(1)] = int(m.group(2))
    return out


def sc_ahead(c):
    """Issue 10 (latency): swarmd sends a plain job's Assigns ahead of its
    lease's answer when that answer is known (nothing else is due, every task
    fits the free slots): single-task runs on an idle swarm go ahead and none
    is withdrawn. When the guess is wrong - another job was made due behind
    swarmd's back (stored straight into Redis by submit.lua), so the lease
    gives the slot to that job's task first - the Assign sent ahead is
    withdrawn (Cancel; assigns.withdrawn), its Result counts as stale, never as
    forged, and both jobs end done with every sub-task merged exactly once."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
    import resp
    fast = {"SWARM_SIM_TOKEN_US": "0"}
    c.ok("up", "--workers", "1", "--slots", "1", "--engine", "sim", env=fast, timeout=300)
    c.started = True
    one = c.job("one", job_spec("one", "Say {item}", ["solo"], budget={"max_tokens": 4}))
    for _ in range(3):
        res = json.loads(c.ok("run", "--job", one, "--json").stdout)
        check(res.get("state") == "done" and [r["item"] for r in res["results"]] == ["solo"],
              "single-task run: %r" % res)
    counters = swarmd_counters(c)
    check(counters.get("assigns.ahead", 0) >= 1 and not counters.get("assigns.withdrawn"),
          "runs on an idle swarm should go ahead, none withdrawn: %r" % counters)

    c.ok("up", "--workers", "1", "--slots", "1", "--engine", "sim", env=fast, timeout=300)
    c.started = True
    c.ok("run", "--job", one, "--json")  # the swarm is idle, its last lease came back short
    r = resp.Redis(os.path.join(c.state, "redis.sock"))
    raws = []
    withdrawn = 0
    for attempt in range(10):
        raw = "j-raw-%d" % attempt
        raws.append(raw)
        r.must("FCALL", "swarm_submit", "0", "swarm:", str(int(time.time() * 1000)), raw, "9",
               "name", "raw", "goal", "g", "merge", "concat", "max_tokens", "4",
               "max_attempts", "3", "max_subtasks", "1", "wall_time_s", "0",
               "temperature", "0", "seed", "1", "t0000", "Say {item}", "rawitem", "rawitem")
        res = json.loads(c.ok("run", "--job", one, "--json").stdout)
        check(res.get("state") == "done" and [x["item"] for x in res["results"]] == ["solo"],
              "run beside a job made due behind swarmd's back: %r" % res)
        with open(os.path.join(c.state, "logs", "swarmd.log"), errors="replace") as f:
            withdrawn = f.read().count("withdrawn: the lease went otherwise")
        if withdrawn:
            break
    for raw in raws:
        p = c.ok("wait", raw, timeout=60)
        st = c.status_json(raw)
        job = st["jobs"][0] if "jobs" in st else st
        res = job.get("result") or {}
        check(job.get("state") == "done" and
              [x["item"] for x in res.get("results", [])] == ["rawitem"],
              "the job made due behind swarmd's back: %r" % job)
    counters = swarmd_counters(c)
    check(withdrawn >= 1 and counters.get("assigns.withdrawn", 0) == withdrawn,
          "a wrong guess should be withdrawn: %d in the log, counters %r" % (withdrawn, counters))
    check(not counters.get("results.rejected"),
          "a withdrawn Assign's Result counted as forged: %r" % counters)


def sc_zmtp_peer(c):
    """The CLI's own ZMTP client (ipc://) facing a peer that is not swarmd:
    a clear error naming the endpoint, promptly, never a hang or a crash.
    A socket nobody listens on is retried until the command's timeout;
    garbage instead of a ZMTP greeting, or a peer that hangs up, fails at once."""
    import socket
    import threading
    path = os.path.join(c.tmp, "peer.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(8)
    mode = {"reply": b"HTTP/1.1 400 Bad Request\r\n\r\n" + b"x" * 100}

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            try:
                conn.recv(4096)
                if mode["reply"]:
                    conn.sendall(mode["reply"])
            except OSError:
                pass
            conn.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    env = {"SWARM_ENDPOINT": "ipc://" + path}
    try:
        for reply, want in ((mode["reply"], "does not answer as a swarmd client endpoint"),
                            (b"", "closed the connection")):
            mode["reply"] = reply
            t0 = time.monotonic()
            p = c.run("status", env=env, timeout=60)
            took = time.monotonic() - t0
            check(p.returncode == 1 and ("ipc://" + path) in p.stderr and want in p.stderr,
                  "status against a non-swarmd peer (%r): exit %d %r" %
                  (reply[:16], p.returncode, p.stderr))
            check(took < 5, "a non-swarmd peer took %.1f s to be refused" % took)
    finally:
        srv.close()


SCENARIOS = {"help-version": sc_help_version, "numbers": sc_numbers,
             "down-endpoint": sc_down_endpoint, "validation": sc_validation,
             "lifecycle": sc_lifecycle, "results": sc_results, "retry": sc_retry,
             "cancel-tasks": sc_cancel_tasks, "json": sc_json,
             "pushed-result": sc_pushed_result, "zmtp-peer": sc_zmtp_peer, "ahead": sc_ahead}


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in SCENARIOS:
        print(__doc__, file=sys.stderr)
        return 2
    bindir, name = os.path.abspath(sys.argv[1]), sys.argv[2]
    if name not in ("help-version", "numbers", "zmtp-peer") and not shutil.which("redis-server"):
        print("cli_test: redis-server is not installed", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="swcli-", dir="/tmp")
    c = Cli(bindir, tmp)
    rc = 0
    try:
        SCENARIOS[name](c)
        print("cli_test %s: ok" % name)
    except Fail as e:
        print("cli_test %s: FAIL: %s" % (name, e), file=sys.stderr)
        rc = 1
        log = os.path.join(c.state, "logs")
        if os.path.isdir(log):
            for f in sorted(os.listdir(log)):
                with open(os.path.join(log, f), errors="replace") as fh:
                    print("--- %s (tail)\n%s" % (f, fh.read()[-1500:]), file=sys.stderr)
    finally:
        c.down()
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
