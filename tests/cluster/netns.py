#!/usr/bin/env python3
"""netns.py - a three-host swarm with CURVE on, in network namespaces (ctest cluster.netns).

The test builds its own little network: namespaces C (redis + swarmd), A and B
(one worker each), joined by two veth pairs on private addresses that exist
only inside these namespaces (10.123.1.0/24 C<->A, 10.123.2.0/24 C<->B), so
no traffic leaves them. Every key is made by `swarm keygen`; swarmd listens
on tcp:// with CURVE and admits only the keys in its authorized-keys file.

Asserted:
  - swarmd refuses to start on tcp:// without keys; a worker without keys
    refuses to connect (both with an error naming the flags);
  - a job submitted by the CLI from namespace B (CURVE client keys) completes;
  - a worker whose key is not listed is refused, swarmd logs the refusal with
    that key, the worker never registers and exits saying its key was refused
    (so does a CLI with an unlisted key; a wrong server key fails the handshake);
  - worker A's link goes down for 10 s mid-job and comes back: swarmd gives
    A's tasks to B, A registers again, the job completes with every sub-task
    exactly once.
Namespaces, links and processes are removed on exit, also on failure
(and stale ones of a killed earlier run are removed at start).

usage: netns.py BINDIR SRCDIR   (root and `ip netns` needed: exit 77 to skip
outside CI, a failure under CI=true)
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from swarm_e2e import SLOW, Fail, check, check_result, write_job  # noqa: E402

PREFIX = "swt"  # namespace names: swt<pid>c / a / b
PORT_CLIENT, PORT_WORKER = 7101, 7102
NET = {"a": ("10.123.1.1", "10.123.1.2"), "b": ("10.123.2.1", "10.123.2.2")}


def skip_or_fail(why):
    if os.environ.get("CI") == "true":
        print("cluster.netns: %s (required under CI=true)" % why, file=sys.stderr)
        sys.exit(1)
    print("cluster.netns: skipped: %s" % why, file=sys.stderr)
    sys.exit(77)


def sh(*argv, check_rc=True, timeout=30):
    p = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check_rc and p.returncode != 0:
        raise Fail("%s: exit %d: %s" % (" ".join(argv), p.returncode, p.stderr.strip()))
    return p


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class Cluster:
    def __init__(self, bindir, tmp):
        self.bindir, self.tmp = bindir, tmp
        self.tag = "%s%d" % (PREFIX, os.getpid())
        self.ns = {k: self.tag + k for k in ("c", "a", "b")}
        self.procs = []
        self.made = []

    # ---- network ----
    def setup(self):
        for ns in self.ns.values():
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for side, (caddr, waddr) in NET.items():
            cend, wend = self.veth(side)
            # made in C, the worker end moved into its namespace
            sh("ip", "-n", self.ns["c"], "link", "add", cend, "type", "veth", "peer", "name", wend)
            sh("ip", "-n", self.ns["c"], "link", "set", wend, "netns", self.ns[side])
            sh("ip", "-n", self.ns["c"], "addr", "add", caddr + "/24", "dev", cend)
            sh("ip", "-n", self.ns[side], "addr", "add", waddr + "/24", "dev", wend)
            sh("ip", "-n", self.ns["c"], "link", "set", cend, "up")
            sh("ip", "-n", self.ns[side], "link", "set", wend, "up")

    def veth(self, side):
        return self.tag + "c" + side, self.tag + side  # both < 16 characters

    def link(self, side, up):
        sh("ip", "-n", self.ns["c"], "link", "set", self.veth(side)[0], "up" if up else "down")

    # ---- processes ----
    def spawn(self, ns, argv, log, env=None):
        f = open(os.path.join(self.tmp, log), "ab")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns[ns]] + argv, stdin=subprocess.DEVNULL,
                             stdout=f, stderr=f, env=env, start_new_session=True)
        f.close()
        self.procs.append(p)
        return p

    def run(self, ns, argv, env=None, timeout=60):
        return subprocess.run(["ip", "netns", "exec", self.ns[ns]] + argv, capture_output=True,
                              text=True, env=env, timeout=timeout * SLOW)

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.time() + 5
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for ns in self.made:
            remove_ns(ns)


def remove_ns(ns):
    """Kill what still runs in ns (only this test's processes run there), delete it."""
    p = sh("ip", "netns", "pids", ns, check_rc=False)
    for pid in p.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    sh("ip", "netns", "delete", ns, check_rc=False)


def remove_stale():
    """Namespaces of an earlier run killed before its cleanup (its pid is gone)."""
    p = sh("ip", "netns", "list", check_rc=False)
    for line in p.stdout.splitlines():
        m = re.match(r"(%s(\d+)[cab])\b" % PREFIX, line)
        if m and not alive(int(m.group(2))):
            remove_ns(m.group(1))


def log_text(tmp, name):
    try:
        return open(os.path.join(tmp, name), errors="replace").read()
    except FileNotFoundError:
        return ""


def wait_for(what, fn, timeout):
    deadline = time.time() + timeout * SLOW
    while True:
        v = fn()
        if v:
            return v
        check(time.time() < deadline, "timed out after %d s waiting for %s" % (timeout * SLOW,
                                                                               what))
        time.sleep(0.2)


def scenario(cl, bindir):
    tmp = cl.tmp
    swarm, swarmd, worker = (os.path.join(bindir, b) for b in ("swarm", "swarmd", "swarm-worker"))
    keys = os.path.join(tmp, "keys")
    os.mkdir(keys)
    for name in ("swarmd", "wa", "wb", "cli", "intruder"):
        p = sh(swarm, "keygen", name, "--out", keys)
        check(os.stat(os.path.join(keys, name + ".key")).st_mode & 0o777 == 0o600,
              "%s.key is not mode 0600" % name)
    p = sh(swarm, "keygen", "wa", "--out", keys, check_rc=False)
    check(p.returncode != 0 and "exists" in p.stderr, "keygen overwrote a key: %r" % p.stderr)
    auth = os.path.join(tmp, "authorized_keys")
    with open(auth, "w") as f:
        f.write("# the swarm's workers and clients\n")
        for name in ("wa", "wb", "cli"):
            f.write(open(os.path.join(keys, name + ".pub")).read())
    pub = {n: open(os.path.join(keys, n + ".pub")).read().split()[0]
           for n in ("swarmd", "intruder", "wa")}
    k = lambda n: os.path.join(keys, n)  # noqa: E731

    cl.setup()
    rsock = os.path.join(tmp, "redis.sock")
    cl.spawn("c", [shutil.which("redis-server"), "--port", "0", "--unixsocket", rsock,
                   "--dir", tmp, "--appendonly", "yes", "--save", ""], "redis.log")
    wait_for("redis", lambda: os.path.exists(rsock), 10)
    cep, wep = "tcp://*:%d" % PORT_CLIENT, "tcp://*:%d" % PORT_WORKER
    base = [swarmd, "--redis", "unix:" + rsock, "--client", cep, "--workers", wep,
            "--heartbeat-ms", "500"]
    # tcp:// without keys: refused, naming what to give
    p = cl.run("c", base)
    check(p.returncode != 0 and "--server-key" in p.stderr and "--insecure" in p.stderr,
          "swarmd on tcp:// without keys: rc %d %r" % (p.returncode, p.stderr))
    dlog = os.path.join(tmp, "swarmd.log")
    cl.spawn("c", base + ["--server-key", k("swarmd.key"), "--authorized-keys", auth,
                          "--log", dlog, "--http", "127.0.0.1:7180"], "swarmd.out")
    wait_for("swarmd up", lambda: "redis connected" in log_text(tmp, "swarmd.log"), 15)

    env = dict(os.environ, SWARM_SIM_TOKEN_US="60000")
    for v in ("SWARM_SERVER_KEY", "SWARM_KEY", "SWARM_INSECURE", "SWARM_ENDPOINT"):
        env.pop(v, None)  # only what each command is given here
    wargs = lambda side: [worker, "--engine", "sim", "--slots", "2", "--heartbeat-ms", "500",  # noqa
                          "--connect", "tcp://%s:%d" % (NET[side][0], PORT_WORKER),
                          "--server-key", k("swarmd.pub")]
    # a worker without keys does not connect in plain text
    p = cl.run("a", wargs("a")[:-2] + ["--id", "nokeys"], env=env, timeout=20)
    check(p.returncode != 0 and "--key" in p.stderr and "CURVE" in p.stderr,
          "worker without keys: rc %d %r" % (p.returncode, p.stderr))
    cl.spawn("a", wargs("a") + ["--key", k("wa.key"), "--id", "wa"], "wa.log", env=env)
    cl.spawn("b", wargs("b") + ["--key", k("wb.key"), "--id", "wb"], "wb.log", env=env)
    cl.spawn("b", wargs("b") + ["--key", k("intruder.key"), "--id", "intruder"], "intruder.log",
             env=env)

    # the CLI from namespace B, as a client on another host
    cenv = dict(env, SWARM_ENDPOINT="tcp://%s:%d" % (NET["b"][0], PORT_CLIENT),
                SWARM_SERVER_KEY=k("swarmd.pub"), SWARM_KEY=k("cli.key"),
                SWARM_STATE=os.path.join(tmp, "state"))

    def cli(*args, timeout=30):
        p = cl.run("b", [swarm] + list(args), env=cenv, timeout=timeout)
        if p.returncode != 0:
            raise Fail("swarm %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr))
        return p.stdout

    def workers():
        return {w.get("worker_id") for w in json.loads(cli("workers", "--json"))}

    wait_for("workers wa and wb registered", lambda: {"wa", "wb"} <= workers(), 20)
    refused = "auth: REFUSED key %s" % pub["intruder"]
    wait_for("the intruder's refusal in swarmd's log", lambda: refused in log_text(tmp,
                                                                                     "swarmd.log"),
             15)
    check("intruder" not in workers(), "the worker with an unlisted key registered")
    intruder = cl.procs[-1]
    wait_for("the intruder to give up", lambda: intruder.poll() is not None, 15)
    check(intruder.returncode == 1 and "refused this side's key" in log_text(tmp, "intruder.log"),
          "the refused worker: rc %r, log %r" % (intruder.returncode,
                                                 log_text(tmp, "intruder.log")[-400:]))
    check("auth: admitted key %s (wa)" % pub["wa"] in log_text(tmp, "swarmd.log"),
          "swarmd did not log wa's key as admitted")
    # a client with an unlisted key gets no answer (its handshake is refused)
    bad = dict(cenv, SWARM_KEY=k("intruder.key"))
    p = cl.run("b", [swarm, "status"], env=bad, timeout=30)
    check(p.returncode == 1 and "refused this side's key" in p.stderr,
          "a CLI with an unlisted key: rc %d %r %r" % (p.returncode, p.stdout, p.stderr))
    # a worker given the wrong server key fails its handshake and says so
    p = cl.run("a", wargs("a")[:-1] + [k("wb.pub"), "--key", k("wa.key"), "--id", "wrongsrv"],
               env=env, timeout=20)
    check(p.returncode == 1 and "handshake" in p.stderr,
          "worker with a wrong server key: rc %d %r" % (p.returncode, p.stderr[-300:]))

    # the refusals are counted in /metrics (C's own loopback: nothing leaves the namespace)
    p = cl.run("c", [sys.executable, "-c", "import urllib.request as u; print(u.urlopen("
                     "'http://127.0.0.1:7180/metrics', timeout=10).read().decode())"])
    m = dict(re.findall(r'^swarmd_events_total\{counter="(auth\.\w+)"\} (\d+)$', p.stdout, re.M))
    check(int(m.get("auth.refused", 0)) >= 2 and int(m.get("auth.admitted", 0)) >= 3,
          "/metrics auth counters %s (rc %d %s)" % (m, p.returncode, p.stderr[-300:]))

    items = ["n%03d" % i for i in range(120)]
    job = write_job(tmp, "netns", items, max_tokens=8,
                    extra={"budget": {"max_tokens": 8, "max_attempts": 10}})
    jid = cli("submit", job).strip()
    check(jid.startswith("j-"), "submit printed %r" % jid)

    def status():
        return json.loads(cli("status", jid, "--json"))

    # partition: A's link down while it holds work, 10 s, then healed
    wait_for("a few sub-tasks done", lambda: status().get("done", 0) >= 8, 30)
    cl.link("a", False)
    t_down = time.time()
    print("cluster.netns: link to A down at done=%d" % status().get("done", 0))
    wait_for("swarmd to notice A is gone", lambda: re.search(
        r"worker wa removed", log_text(tmp, "swarmd.log")), 12)
    check("wa" not in workers(), "wa still listed while partitioned")
    time.sleep(max(0.0, 10 - (time.time() - t_down)))
    cl.link("a", True)
    print("cluster.netns: link to A up after %.1f s, done=%d" % (time.time() - t_down,
                                                                   status().get("done", 0)))
    wait_for("wa registered again after the partition", lambda: "wa" in workers(), 30)

    st = wait_for("the job to end", lambda: (lambda s: s if s["state"] in (
        "done", "failed", "cancelled") and "result" in s else None)(status()), 60)
    check_result(st["result"], items)
    by = {}
    for r in st["result"]["results"]:
        by[r["worker"]] = by.get(r["worker"], 0) + 1
    check(set(by) <= {"wa", "wb"}, "results from unexpected workers: %s" % by)
    check(by.get("wa", 0) > 0 and by.get("wb", 0) > 0, "both workers should have worked: %s" % by)
    print("cluster.netns: job %s done, %d sub-tasks exactly once, by worker %s" % (jid, len(items),
                                                                                   by))


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    bindir = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        skip_or_fail("needs root for ip netns")
    if not shutil.which("ip") or sh("ip", "netns", "list", check_rc=False).returncode != 0:
        skip_or_fail("`ip netns` not available (Debian package iproute2)")
    if not shutil.which("redis-server"):
        skip_or_fail("redis-server not installed")
    remove_stale()
    tmp = tempfile.mkdtemp(prefix="swarm-netns-")
    cl = Cluster(bindir, tmp)
    rc = 1

    def on_term(signum, frame):
        raise Fail("stopped by signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)  # ctest's timeout: clean up all the same
    try:
        scenario(cl, bindir)
        rc = 0
    except (Fail, subprocess.TimeoutExpired, OSError, ValueError, KeyError) as e:
        print("cluster.netns: FAIL: %s" % e, file=sys.stderr)
        for name in ("swarmd.log", "swarmd.out", "wa.log", "wb.log", "intruder.log"):
            t = log_text(tmp, name)
            print("---- %s (last lines)\n%s" % (name, "\n".join(t.splitlines()[-25:])),
                  file=sys.stderr)
    finally:
        cl.cleanup()
        left = [ns for ns in cl.made if ns in sh("ip", "netns", "list", check_rc=False).stdout]
        if left:
            print("cluster.netns: namespaces left behind: %s" % left, file=sys.stderr)
            rc = 1
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
