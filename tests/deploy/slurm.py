#!/usr/bin/env python3
"""slurm.py - deploy/slurm/swarm.sbatch on a real single-node Slurm (ctest deploy.slurm).

The test starts its own Slurm: munged on a private socket, slurmctld and
slurmd from Debian's slurm-wlm with a private slurm.conf (non-default ports,
everything under a temp dir; /work/shared/notes/SLURM.md says what works on
these machines). It then runs a 40-item job through `sbatch --wait` with
swarm.sbatch (redis + swarmd on the first node, workers through srun, CURVE
on tcp://), and asserts the job completed with every sub-task exactly once
and that nothing the allocation started is left running. Daemons are
stopped by their pids on exit, also on failure.

usage: slurm.py BINDIR SRCDIR  (root, slurm-wlm and munge needed: exit 77 to
skip outside CI, a failure under CI=true)
"""
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from swarmtest import SLOW, Fail, check, check_result, free_port, write_job  # noqa: E402

TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "sinfo", "scontrol", "srun", "redis-server")


def skip_or_fail(why):
    if os.environ.get("CI") == "true":
        print("deploy.slurm: %s (required under CI=true)" % why, file=sys.stderr)
        sys.exit(1)
    print("deploy.slurm: skipped: %s" % why, file=sys.stderr)
    sys.exit(77)


def tool(name):
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin")


def read_pid(path):
    try:
        return int(open(path).read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def stop_pid(pid, timeout=5):
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def procs_mentioning(needle):
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            cmd = open("/proc/%s/cmdline" % d, "rb").read().replace(b"\0", b" ").decode(
                errors="replace")
        except OSError:
            continue
        if needle in cmd:
            found.append((int(d), cmd.strip()))
    return found


class Slurm:
    def __init__(self, tmp):
        self.tmp = tmp
        self.pidfiles = []
        self.conf = os.path.join(tmp, "slurm.conf")
        self.env = dict(os.environ, SLURM_CONF=self.conf)

    def start_munge(self):
        mdir = os.path.join(self.tmp, "munge")
        os.mkdir(mdir, 0o755)
        m = pwd.getpwnam("munge")
        os.chown(mdir, m.pw_uid, m.pw_gid)
        self.sock = os.path.join(mdir, "munge.socket")
        pid = os.path.join(mdir, "munged.pid")
        self.pidfiles.append(pid)
        p = subprocess.run(["su", "-s", "/bin/sh", "munge", "-c",
                            "%s --socket=%s --pid-file=%s --log-file=%s --seed-file=%s" % (
                                tool("munged"), self.sock, pid, os.path.join(mdir, "munged.log"),
                                os.path.join(mdir, "munged.seed"))],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, "munged did not start: %s" % p.stderr)

    def write_conf(self):
        host = socket.gethostname().split(".")[0]
        mem = 1024
        try:
            for line in open("/proc/meminfo"):
                if line.startswith("MemAvailable:"):
                    mem = max(256, int(line.split()[1]) // 1024 - 512)
        except OSError:
            pass
        d = self.tmp
        for sub in ("state", "spool"):
            os.mkdir(os.path.join(d, sub))
        conf = {
            "ClusterName": "swarmtest",
            "SlurmctldHost": host,
            "SlurmUser": "root",
            "AuthType": "auth/munge",
            "AuthInfo": "socket=%s" % self.sock,
            "CredType": "cred/munge",
            "SlurmctldPort": str(free_port()),
            "SlurmdPort": str(free_port()),
            "StateSaveLocation": os.path.join(d, "state"),
            "SlurmdSpoolDir": os.path.join(d, "spool"),
            "SlurmctldPidFile": os.path.join(d, "slurmctld.pid"),
            "SlurmdPidFile": os.path.join(d, "slurmd.pid"),
            "SlurmctldLogFile": os.path.join(d, "slurmctld.log"),
            "SlurmdLogFile": os.path.join(d, "slurmd.log"),
            "ProctrackType": "proctrack/linuxproc",
            "TaskPlugin": "task/none",
            "JobAcctGatherType": "jobacct_gather/none",
            "AccountingStorageType": "accounting_storage/none",
            "JobCompType": "jobcomp/none",
            "SelectType": "select/cons_tres",
            "SelectTypeParameters": "CR_Core",
            "MpiDefault": "none",
            "ReturnToService": "2",
            "SlurmctldTimeout": "30",
            "SlurmdTimeout": "30",
        }
        self.pidfiles += [conf["SlurmdPidFile"], conf["SlurmctldPidFile"]]
        with open(self.conf, "w") as f:
            for k, v in conf.items():
                f.write("%s=%s\n" % (k, v))
            f.write("NodeName=%s CPUs=%d RealMemory=%d State=UNKNOWN\n" % (host, os.cpu_count(),
                                                                           mem))
            f.write("PartitionName=swarmtest Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n")

    def start(self):
        self.start_munge()
        self.write_conf()
        for daemon in ("slurmctld", "slurmd"):
            p = subprocess.run([tool(daemon), "-f", self.conf], capture_output=True, text=True,
                               env=self.env, timeout=30)
            check(p.returncode == 0, "%s did not start: %s %s" % (daemon, p.stdout, p.stderr))
        deadline = time.time() + 30 * SLOW
        while True:
            p = subprocess.run([tool("sinfo"), "-h", "-o", "%t"], capture_output=True, text=True,
                               env=self.env, timeout=10)
            if p.stdout.strip() == "idle":
                return
            check(time.time() < deadline, "the node never went idle: sinfo %r %r\n%s" % (
                p.stdout, p.stderr, self.log("slurmctld.log") + self.log("slurmd.log")))
            time.sleep(0.3)

    def log(self, name):
        try:
            return "\n".join(open(os.path.join(self.tmp, name), errors="replace").read()
                             .splitlines()[-15:]) + "\n"
        except OSError:
            return ""

    def stop(self):
        # reverse order: slurmd, slurmctld, munged
        for pf in reversed(self.pidfiles):
            stop_pid(read_pid(pf))


def scenario(sl, bindir, srcdir, tmp):
    state = os.path.join(tmp, "swarm")
    os.mkdir(state)
    items = ["s%02d" % i for i in range(40)]
    job = write_job(tmp, "slurmjob", items, max_tokens=6)
    out = os.path.join(tmp, "sbatch-%j.out")
    env = dict(sl.env, SWARM_BIN=bindir, SWARM_STATE=state, SWARM_ENGINE="sim",
               SWARM_SLOTS="2", SWARM_JOB=job, SWARM_WAIT_S="60", SWARM_SIM_TOKEN_US="2000",
               SWARM_PORT=str(free_port()))
    for k in ("SWARM_ENDPOINT", "SWARM_KEY", "SWARM_SERVER_KEY", "SWARM_INSECURE"):
        env.pop(k, None)
    t0 = time.time()
    p = subprocess.run([tool("sbatch"), "--wait", "-N", "1", "--time", "5", "--output", out,
                        os.path.join(srcdir, "deploy", "slurm", "swarm.sbatch")],
                       capture_output=True, text=True, env=env, timeout=75 * SLOW)
    outs = [os.path.join(tmp, f) for f in os.listdir(tmp) if f.startswith("sbatch-")]
    text = "".join(open(f, errors="replace").read() for f in outs)
    check(p.returncode == 0, "sbatch --wait: exit %d %s %s\n---- job output\n%s\n---- swarmd\n%s"
          % (p.returncode, p.stdout, p.stderr, text,
             open(os.path.join(state, "logs", "swarmd.log"), errors="replace").read()[-3000:]
             if os.path.exists(os.path.join(state, "logs", "swarmd.log")) else ""))
    jid = p.stdout.split()[-1]
    check("1 of 1 worker(s) registered" in text, "the worker did not register:\n%s" % text)
    res = [f for f in os.listdir(state) if f.startswith("result-")]
    check(res == ["result-%s.json" % jid], "result files %s, want result-%s.json" % (res, jid))
    result = json.load(open(os.path.join(state, res[0])))
    check_result(result, items)
    workers = {r["worker"] for r in result["results"]}
    check(all(w.startswith("w-") and w.endswith("-0") for w in workers),
          "results from workers %s, want the srun task's w-HOST-0" % workers)
    swarmd_log = open(os.path.join(state, "logs", "swarmd.log")).read()
    check("auth: CURVE on" in swarmd_log, "swarmd in the allocation ran without CURVE")
    check(os.stat(os.path.join(state, "keys", "worker.key")).st_mode & 0o777 == 0o600,
          "worker.key is not mode 0600")
    # the script stops what it started when the job ends
    deadline = time.time() + 10 * SLOW
    while procs_mentioning(state):
        check(time.time() < deadline, "left running after the batch job: %s" %
              procs_mentioning(state))
        time.sleep(0.1)
    print("deploy.slurm: slurm job %s ran %d sub-tasks through swarm.sbatch in %.1f s" % (
        jid, len(items), time.time() - t0))


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    bindir, srcdir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if os.geteuid() != 0:
        skip_or_fail("needs root to run slurmctld/slurmd")
    missing = [t for t in TOOLS if not tool(t)]
    if missing:
        skip_or_fail("missing %s (Debian packages slurm-wlm, munge, redis-server)" %
                     " ".join(missing))
    try:
        pwd.getpwnam("munge")
    except KeyError:
        skip_or_fail("no munge user (Debian package munge)")
    tmp = tempfile.mkdtemp(prefix="swarm-slurm-")
    os.chmod(tmp, 0o755)  # munged runs as the munge user under it
    sl = Slurm(tmp)
    rc = 1

    def on_term(signum, frame):
        raise Fail("stopped by signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)
    try:
        sl.start()
        scenario(sl, bindir, srcdir, tmp)
        rc = 0
    except (Fail, subprocess.TimeoutExpired, OSError, ValueError, KeyError) as e:
        print("deploy.slurm: FAIL: %s" % e, file=sys.stderr)
        print("---- slurmctld.log\n%s---- slurmd.log\n%s" % (sl.log("slurmctld.log"),
                                                            sl.log("slurmd.log")), file=sys.stderr)
    finally:
        sl.stop()
        for pid, cmd in procs_mentioning(tmp):
            print("deploy.slurm: killing leftover %d %s" % (pid, cmd), file=sys.stderr)
            stop_pid(pid, 2)
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
