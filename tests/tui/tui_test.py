#!/usr/bin/env python3
"""tui_test.py - `swarm top` and `swarm logs -f` watched the way a person does.

Real processes: each scenario starts its own swarm with `swarm up` (private
redis-server, swarmd, workers) in a temp state dir and stops it at the end.
Jobs run long enough to watch: the sim engine with a per-token delay
(SWARM_SIM_TOKEN_US), or agent sub-tasks on the replay engine with a delay per
recorded step (transcripts and audit records, as real agents write them).
The interactive views run in a private tmux server; `tmux capture-pane`
reads the screen twice and the checks compare the two.

usage: tui_test.py BINDIR SCENARIO      scenarios: top, logs-follow, plain
Exit 77 (skip) when tmux or the fixture model is missing, unless CI=true:
then it fails.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from swarmtest import SLOW, Fail, check  # noqa: E402

SKIP = 77


def wait_for(pred, timeout, what):
    end = time.time() + timeout * SLOW
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise Fail("timed out after %ds waiting for %s" % (timeout * SLOW, what))


class Swarm:
    """A swarm in a temp state dir, driven through the real `swarm` CLI."""

    def __init__(self, bindir, tmp, env):
        self.bin = os.path.join(bindir, "swarm")
        self.tmp = tmp
        self.state = os.path.join(tmp, "s")
        self.env = dict(os.environ)
        self.env.pop("SWARM_ENDPOINT", None)
        self.env.update(env)
        self.started = False
        self.children = []

    def cmdline(self, *args):
        return [self.bin] + list(args) + ["--state", self.state]

    def run(self, *args, timeout=60):
        return subprocess.run(self.cmdline(*args), capture_output=True, text=True,
                              timeout=timeout * SLOW, env=self.env, cwd=self.tmp)

    def ok(self, *args, **kw):
        p = self.run(*args, **kw)
        check(p.returncode == 0, "swarm %s exited %d\nstdout: %s\nstderr: %s" %
              (" ".join(args), p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
        return p

    def up(self, *args):
        self.ok("up", *args, timeout=120)
        self.started = True

    def down(self):
        if self.started:
            self.run("down", timeout=60)
            self.started = False
        for p in self.children:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def sanitizer_reports(self):
        """Sanitizer reports the swarm's processes wrote to their logs (ASan builds)."""
        found = []
        logs = os.path.join(self.state, "logs")
        for name in sorted(os.listdir(logs)) if os.path.isdir(logs) else []:
            with open(os.path.join(logs, name), errors="replace") as f:
                text = f.read()
            for pat in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
                if pat in text:
                    found.append("%s: %s" % (name, text[text.index(pat):][:1500]))
        return found

    def submit(self, name, spec):
        path = os.path.join(self.tmp, name + ".json")
        with open(path, "w") as f:
            json.dump(spec, f)
        job = self.ok("submit", path).stdout.strip()
        check(re.match(r"^j-[0-9]+-[0-9a-f]+$", job), "submit printed %r" % job)
        return job

    def restart_swarmd(self):
        """kill -9 swarmd and start it again with the same command line, as a
        crash and a supervisor would; Redis keeps everything a follower needs."""
        pid_path = os.path.join(self.state, "swarmd.pid")
        with open(pid_path) as f:
            pid = int(f.read().split()[0])
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = [a.decode() for a in f.read().split(b"\0") if a]
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not os.path.exists("/proc/%d" % pid) or
                 open("/proc/%d/stat" % pid).read().split()[2] == "Z", 10, "swarmd to die")
        time.sleep(0.5)
        log = open(os.path.join(self.state, "logs", "swarmd.log"), "a")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True, env=self.env)
        log.close()
        with open(pid_path, "w") as f:
            f.write("%d\n" % p.pid)
        self.children.append(p)

    def status(self, job):
        return json.loads(self.ok("status", job, "--json").stdout)


class Tmux:
    """A private tmux server (its own socket), so no user session is touched."""

    def __init__(self, tmp):
        self.sock = os.path.join(tmp, "tmux.sock")
        self.started = False

    def tmux(self, *args, check_rc=True):
        p = subprocess.run(["tmux", "-S", self.sock] + list(args), capture_output=True,
                           text=True, timeout=20)
        if check_rc:
            check(p.returncode == 0, "tmux %s: %s" % (" ".join(args), p.stderr))
        return p.stdout

    def start(self, name, command, env, cols=200, rows=50):
        """A session running command (a list); its pane stays after it exits,
        so its exit status and last screen can be read."""
        if not self.started:
            self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "boot", "sh")
            self.tmux("set-option", "-g", "remain-on-exit", "on")
            self.started = True
        line = " ".join(shell_quote(a) for a in command)
        self.tmux("new-session", "-d", "-s", name, "-x", str(cols), "-y", str(rows),
                  env_prefix(env) + line)
        return name

    def screen(self, name):
        return self.tmux("capture-pane", "-p", "-J", "-t", name)

    def history(self, name):
        return self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", name)

    def fmt(self, name, f):
        return self.tmux("display-message", "-p", "-t", name, f).strip()

    def keys(self, name, *keys):
        self.tmux("send-keys", "-t", name, *keys)

    def kill(self):
        if self.started:
            self.tmux("kill-server", check_rc=False)
            self.started = False


# A pane runs the command under a shell that marks the main screen first and
# stays after it, so the restored screen, cursor and exit status can be read.
WRAP = ["sh", "-c", 'echo MAIN-SCREEN-MARKER; "$@"; echo "EXIT=$?"; exec sleep 600', "sh"]


def exit_status(screen):
    m = re.search(r"^EXIT=(\d+)$", screen, re.M)
    return int(m.group(1)) if m else None


def child_pid(pid):
    """The command the wrapper shell runs (its only child)."""
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        kids = f.read().split()
    check(len(kids) == 1, "the pane's shell has children %s" % kids)
    return int(kids[0])


def shell_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def env_prefix(env):
    return "env " + " ".join(shell_quote("%s=%s" % kv) for kv in sorted(env.items())) + " "


def need_tmux():
    if shutil.which("tmux"):
        return True
    msg = "tui: tmux is not installed (apt-get install tmux; .ci/run installs it)"
    if os.environ.get("CI") == "true":
        raise Fail(msg)
    print(msg + ": skipped", file=sys.stderr)
    return False


def fixture_model():
    fx = os.environ.get("SWARM_FIXTURES", "")
    m = os.path.join(fx, "models", "qwen3moe", "qwen3moe-q4_k_m.gguf")
    if fx and os.path.exists(m):
        return m
    msg = "tui: fixture model not found (set SWARM_FIXTURES): %s" % m
    if os.environ.get("CI") == "true":
        raise Fail(msg)
    print(msg + ": skipped", file=sys.stderr)
    return None


def sim_swarm(bindir, tmp, token_us):
    s = Swarm(bindir, tmp, {"SWARM_SIM_TOKEN_US": str(token_us)})
    s.up("--engine", "sim", "--workers", "2", "--slots", "2")
    return s


def agent_swarm(bindir, tmp, model, delay_ms, steps):
    """Agents on the replay engine: each sub-task lists the workspace, reads a
    file, ..., then answers; every step takes delay_ms."""
    ws = os.path.join(tmp, "ws")
    os.makedirs(ws)
    with open(os.path.join(ws, "notes.txt"), "w") as f:
        f.write("the answer is 42\n")
    traj = os.path.join(tmp, "trajectory.jsonl")
    with open(traj, "w") as f:
        for k in range(1, steps):
            call = ({"name": "list_dir", "arguments": {"path": "."}} if k % 2 else
                    {"name": "read_file", "arguments": {"path": "notes.txt"}})
            f.write(json.dumps({"step": k, "content": "", "tool_calls": [call],
                                "delay_ms": delay_ms}) + "\n")
        f.write(json.dumps({"step": steps, "content": "The notes say 42.", "tool_calls": [],
                            "delay_ms": delay_ms}) + "\n")
    s = Swarm(bindir, tmp, {"SWARM_REPLAY": traj})
    s.up("--engine", "replay", "--workers", "1", "--slots", "2", "--model", model)
    return s


def agent_spec(n):
    return {"name": "watch-agents", "goal": "You are one agent of a test swarm.",
            "instructions": "Read the notes about {item} and answer.",
            "fanout": {"items": ["item%d" % i for i in range(n)]},
            "budget": {"max_tokens": 64},
            "agent": {"tools": ["list_dir", "read_file"], "workspace": "ws", "max_steps": 8,
                      "sandbox": "unsandboxed"}}


def sim_spec(n, tokens):
    return {"name": "watch-sim", "goal": "You are one agent of a test swarm.",
            "instructions": "Write about {item}.",
            "fanout": {"items": ["item%d" % i for i in range(n)]},
            "budget": {"max_tokens": tokens}}


def done_count(screen, job):
    m = re.search(re.escape(job) + r".*?\] (\d+)/(\d+) done", screen)
    return int(m.group(1)) if m else None


# ---- scenarios ----

def sc_top(bindir, tmp):
    if not need_tmux():
        return SKIP
    s = sim_swarm(bindir, tmp, 40000)
    t = Tmux(tmp)
    try:
        # 16 sub-tasks of 40 tokens at 40 ms on 4 slots: about 7 s of work
        job = s.submit("sim", sim_spec(16, 40))
        t.start("top", WRAP + s.cmdline("top"), {"TERM": "xterm-256color"})
        first = wait_for(lambda: (lambda sc: sc if job in sc and "/t0" in sc else None)(
            t.screen("top")), 20, "swarm top to show the job and a running task")
        check(t.fmt("top", "#{alternate_on}") == "1", "swarm top is not on the alternate screen")
        check("MAIN-SCREEN-MARKER" not in first, "the main screen shows through:\n" + first)
        for want in ("JOBS (1)", "WORKERS", "RUNNING", "w-1", "w-2", "tok/s"):
            check(want in first, "no %r on the screen:\n%s" % (want, first))
        d1 = done_count(first, job)
        check(d1 is not None, "no progress line for %s:\n%s" % (job, first))
        check(d1 < 16, "the job was already done at the first look:\n" + first)
        # the same pane, redrawn in place: progress advances without a new command,
        # with running sub-tasks (tokens, output) and measured tokens/s on screen
        running = re.compile(re.escape(job) + r"/t\d{4}\s+w-[12]\s+[1-9]\d*\s+running\s+\S+")

        def rates(sc):
            return [float(x) for x in
                    re.findall(r"^w-[12]\s+\S+\s+\d+\s+\d+\s+(\d+\.\d)", sc, re.M)]

        def advanced():
            sc = t.screen("top")
            ok = ((done_count(sc, job) or 0) > d1 and running.search(sc) and
                  any(r > 0 for r in rates(sc)))
            return sc if ok else None

        try:
            second = wait_for(advanced, 20, "the done count to advance past %d with a running "
                              "task line and tokens/s" % d1)
        except Fail as e:
            raise Fail("%s; last screen:\n%s" % (e, t.screen("top")))
        check(second != first, "the screen did not change")
        check(second.count("JOBS (") == 1, "the frame was not redrawn in place:\n" + second)
        check(re.search(r"w-[12]\s+\S+\s+2\s+[0-2]\s+\d+\.\d", second),
              "no worker line with slots, busy and tokens/s:\n" + second)
        t.keys("top", "q")
        after = wait_for(lambda: (lambda sc: sc if exit_status(sc) is not None else None)(
            t.screen("top")), 10, "swarm top to exit on q")
        check(exit_status(after) == 0, "swarm top exit status %s" % exit_status(after))
        check(t.fmt("top", "#{alternate_on}") == "0", "the alternate screen was left on")
        check(t.fmt("top", "#{cursor_flag}") == "1", "the cursor was left hidden")
        check("MAIN-SCREEN-MARKER" in after and "JOBS (" not in after,
              "the main screen was not restored:\n" + after)
        # SIGTERM restores the terminal too
        t.start("top2", WRAP + s.cmdline("top"), {"TERM": "xterm-256color"})
        wait_for(lambda: "JOBS (" in t.screen("top2"), 20, "the second swarm top")
        os.kill(child_pid(int(t.fmt("top2", "#{pane_pid}"))), signal.SIGTERM)
        after = wait_for(lambda: (lambda sc: sc if exit_status(sc) is not None else None)(
            t.screen("top2")), 10, "swarm top to exit on SIGTERM")
        check(exit_status(after) == 0, "swarm top exit status %s after SIGTERM" %
              exit_status(after))
        check(t.fmt("top2", "#{alternate_on}") == "0", "SIGTERM left the alternate screen on")
        check(t.fmt("top2", "#{cursor_flag}") == "1", "SIGTERM left the cursor hidden")
        check("MAIN-SCREEN-MARKER" in after and "JOBS (" not in after,
              "SIGTERM did not restore the main screen:\n" + after)
        s.ok("wait", job, "--timeout", "60", timeout=90)
    finally:
        t.kill()
        s.down()
    return 0


def sc_logs_follow(bindir, tmp):
    if not need_tmux():
        return SKIP
    model = fixture_model()
    if not model:
        return SKIP
    steps, n = 3, 4
    s = agent_swarm(bindir, tmp, model, 900, steps)
    t = Tmux(tmp)
    try:
        # 4 agents x 3 steps of 0.9 s on 2 slots: about 6 s
        job = s.submit("agents", agent_spec(n))
        t.start("logs", WRAP + s.cmdline("logs", "-f", job), {"TERM": "xterm-256color"})
        # both first agents have finished step 1 (stored before swarmd goes down)
        first = wait_for(lambda: (lambda h: h if re.search(r"t0000\s+task_step", h) and
                                  re.search(r"t0001\s+task_step", h) else None)(
            t.history("logs")), 20, "the first task_step events")
        check(exit_status(first) is None, "swarm logs -f exited before the job ended")
        check(s.status(job)["state"] == "running", "the job ended before the first look")
        n1 = len(first.strip().splitlines())
        # swarmd crashes and comes back while the follower runs: it keeps its
        # cursors and asks again, so nothing is repeated or skipped
        s.restart_swarmd()
        try:
            second = wait_for(lambda: (lambda h: h if "task_done" in h and
                                       len(h.strip().splitlines()) > n1 else None)(
                t.history("logs")), 40, "later events (task_done) to appear live")
        except Fail as e:
            raise Fail("%s; the pane:\n%s" % (e, t.history("logs")[-3000:]))
        check(second.startswith(first.strip()), "the earlier output was rewritten")
        end = wait_for(lambda: (lambda h: h if exit_status(h) is not None else None)(
            t.history("logs")), 40, "swarm logs -f to exit when the job ends")
        check(exit_status(end) == 0, "swarm logs -f exit status %s" % exit_status(end))
        out = t.history("logs")
        check("job_done" in out and ("-- job %s ended: done" % job) in out,
              "no end of job in:\n" + out[-3000:])
        lines = [l for l in out.splitlines() if l.strip() and l != "MAIN-SCREEN-MARKER"
                 and not l.startswith("EXIT=") and not l.startswith("-- job ")]
        # exactly what Redis holds, read afterwards in one go: no gaps, no repeats
        # (as multisets: a line printed twice would be one too many)
        static = [l for l in s.ok("logs", job).stdout.splitlines() if l.strip()]
        check(sorted(lines) == sorted(static),
              "the followed lines differ from the stored log:\nfollowed only: %s\nstored only: %s"
              % (sorted(set(lines) - set(static))[:10], sorted(set(static) - set(lines))[:10]))
        for k in range(n):
            task = "t%04d" % k
            done = sum(1 for l in lines if re.search(r"\s%s\s+task_done\s" % task, l))
            check(done == 1, "%s task_done shown %d times" % (task, done))
            if k > 1:
                # a step a worker reports while swarmd is down can be lost to the
                # store; the two steps seen before the restart are certain
                continue
            check(any(re.search(r"\s%s\s+audit\s+tool=list_dir step=1 sha256=[0-9a-f]{12} "
                                r"status=0" % task, l) for l in lines), "%s: no audit line" % task)
            check(any(re.match(r"^\s+%s\s+tool list_dir .*sha256=[0-9a-f]{12} status=0" % task,
                               l) for l in lines), "%s: no list_dir call line" % task)
    finally:
        t.kill()
        s.down()
    return 0


def sc_plain(bindir, tmp):
    """No terminal: `swarm top --once` and periodic frames, `swarm logs --json`."""
    model = fixture_model()
    if not model:
        return SKIP
    s = agent_swarm(bindir, tmp, model, 600, 3)
    try:
        job = s.submit("agents", agent_spec(3))
        wait_for(lambda: "/t0" in s.ok("top", "--once").stdout, 20, "a running task in top")
        once = s.ok("top", "--once").stdout
        check("\033" not in once, "escape sequences in plain output: %r" % once[:200])
        for want in ("JOBS (1)", job, "w-1", "RUNNING"):
            check(want in once, "swarm top --once lacks %r:\n%s" % (want, once))
        check(re.search(re.escape(job) + r"/t000\d\s+w-1\s+\d+\s+step \d", once),
              "no agent step on a running task line:\n" + once)
        # periodic plain frames until SIGTERM, exit 0
        p = subprocess.Popen(s.cmdline("top"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=s.env)
        time.sleep(2.5)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
        check(p.returncode == 0, "plain swarm top exit %d: %s" % (p.returncode, err))
        check(out.count("JOBS (") >= 2, "want 2+ plain frames in 2.5 s, got:\n" + out)
        check("\033" not in out, "escape sequences in plain frames")
        s.ok("wait", job, "--timeout", "60", timeout=90)
        # --json: one object per line, each parsed
        js = s.ok("logs", job, "--json").stdout
        objs = [json.loads(l) for l in js.splitlines()]
        kinds = {}
        for o in objs:
            kinds[o["type"]] = kinds.get(o["type"], 0) + 1
            check(o["job_id"] == job, "job_id %r" % o.get("job_id"))
        check(kinds.get("step") == 3 * 3, "steps: %s" % kinds)
        check(kinds.get("audit") == 3 * 2, "audit records: %s" % kinds)
        ev = [o for o in objs if o["type"] == "event"]
        check(ev and ev[-1]["event"] == "job_done", "the last event is not job_done")
        check(len({o["id"] for o in ev}) == len(ev), "an event id repeats")
        check(all(isinstance(o["ts_ms"], (int, float)) and o["ts_ms"] > 1e12 for o in ev),
              "ts_ms is not a time in ms")
        leased = [o for o in ev if o["event"] == "task_leased"]
        check(len(leased) == 3 and all(o["worker"] == "w-1" and o["attempt"] == 1
                                        for o in leased), "task_leased events: %s" % leased)
        st = [o for o in objs if o["type"] == "step"]
        check(sorted((o["task_id"], o["record"]["step"]) for o in st) ==
              sorted((t, k) for t in ("t0000", "t0001", "t0002") for k in (1, 2, 3)),
              "transcript steps differ")
        check(all(o["record"]["tool_calls"][0]["audit"]["args_sha256"] for o in st
                  if o["record"]["tool_calls"]), "a tool call without its audit digest")
        au = [o for o in objs if o["type"] == "audit"]
        check({o["record"]["tool"] for o in au} == {"list_dir", "read_file"} and
              all(o["record"]["status"] == 0 for o in au), "audit records: %s" % au[:2])
        # one task only
        one = [json.loads(l) for l in s.ok("logs", job, "t0001", "--json").stdout.splitlines()]
        check(one and all(o.get("task_id") == "t0001" for o in one),
              "logs JOB TASK printed other tasks")
        check(sum(1 for o in one if o["type"] == "step") == 3, "t0001 steps")
        # text form of an ended job; -f on it ends at once
        txt = s.ok("logs", job).stdout
        check(re.search(r"t0002\s+step 3\s+tokens=\d+ total=\d+ ms=\d+ final", txt),
              "no final step line:\n" + txt[-2000:])
        check(re.search(r"answer \"The notes say 42.\"", txt), "no answer line")
        f = s.ok("logs", "-f", job, timeout=20).stdout
        check(f.startswith(txt) and f.endswith("-- job %s ended: done\n" % job),
              "logs -f of an ended job:\n" + f[-500:])
        bad = s.run("logs", "j-20000101000000-0000")
        check(bad.returncode == 1 and "unknown job" in bad.stderr,
              "unknown job: exit %d, %s" % (bad.returncode, bad.stderr))
        use = s.run("logs")
        check(use.returncode == 2, "logs without JOB exit %d" % use.returncode)
        for cmd, words in (("logs", ("-f, --follow", "--json", "JOB [TASK]")),
                           ("top", ("--once", "q (or Ctrl-C) quits"))):
            h = s.ok(cmd, "--help")
            check(h.stdout.startswith("usage: swarm %s " % cmd) and
                  all(w in h.stdout for w in words), "swarm %s --help:\n%s" % (cmd, h.stdout))
        listed = subprocess.run([s.bin, "--help"], capture_output=True, text=True,
                                timeout=20).stdout
        check(re.search(r"^  logs\s", listed, re.M) and re.search(r"^  top\s", listed, re.M),
              "swarm --help does not list logs and top:\n" + listed)
        for bad_args in (("top", "extra"), ("logs", job, "t0001", "t0002"), ("top", "-f")):
            b = s.run(*bad_args)
            check(b.returncode == 2, "swarm %s: exit %d, want 2" % (" ".join(bad_args),
                                                                   b.returncode))
    finally:
        s.down()
    return 0


SCENARIOS = {"top": sc_top, "logs-follow": sc_logs_follow, "plain": sc_plain}


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in SCENARIOS:
        print(__doc__, file=sys.stderr)
        return 2
    bindir = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="swarm-tui-", dir="/tmp")
    try:
        rc = SCENARIOS[sys.argv[2]](bindir, tmp)
        reports = Swarm(bindir, tmp, {}).sanitizer_reports()
        check(not reports, "sanitizer reports:\n" + "\n".join(reports))
        return rc
    except Fail as e:
        print("FAIL: %s" % e, file=sys.stderr)
        for name in ("swarmd.log", "worker-1.log"):
            p = os.path.join(tmp, "s", "logs", name)
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    print("---- %s (tail)\n%s" % (name, f.read()[-2000:]), file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
