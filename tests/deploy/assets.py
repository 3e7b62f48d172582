#!/usr/bin/env python3
"""assets.py - the systemd units and Kubernetes manifests of deploy/ (ctest deploy.systemd, deploy.k8s).

systemd: `systemd-analyze verify` on the three units (copied to a temp dir
with ExecStart pointing at the build's binaries, since nothing is installed);
it must print nothing. A unit with a misspelt key must make it complain, so
the check is known to bite. Then the ExecStart lines are expanded the way
systemd does with the defaults the units set, and swarmd and a worker are
started with exactly those arguments (ipc:// in a temp dir): the worker
registers, so the units' command lines work, not just parse.

k8s: no cluster exists here, so every manifest is parsed (python3-yaml) and
checked for what makes it deployable: kinds and names, selectors matching pod
labels, Redis with AOF on a volume claim, swarmd's Service ports matching its
container ports and its tcp:// endpoints, CURVE key paths inside mounted
Secret items, a worker Deployment that scales (no fixed id, endpoint = the
Service). make-secret.sh's Secret is decoded and used for real: swarmd with
its keypair and authorized_keys admits a worker and the CLI holding the
Secret's keys, over tcp:// on 127.0.0.1.

usage: assets.py BINDIR SRCDIR systemd|k8s
"""
import base64
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from swarmtest import SLOW, Fail, check, free_port  # noqa: E402


def skip_or_fail(what, why):
    if os.environ.get("CI") == "true":
        print("deploy.%s: %s (required under CI=true)" % (what, why), file=sys.stderr)
        sys.exit(1)
    print("deploy.%s: skipped: %s" % (what, why), file=sys.stderr)
    sys.exit(77)


class Procs:
    """Processes started here, stopped on exit."""

    def __init__(self, tmp):
        self.tmp, self.ps = tmp, []

    def start(self, argv, log, env=None):
        f = open(os.path.join(self.tmp, log), "ab")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=f, env=env,
                             start_new_session=True)
        f.close()
        self.ps.append(p)
        return p

    def stop(self):
        for p in reversed(self.ps):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def log(self, name):
        try:
            return open(os.path.join(self.tmp, name), errors="replace").read()
        except OSError:
            return ""


def start_redis(procs, tmp):
    sock = os.path.join(tmp, "redis.sock")
    procs.start(["redis-server", "--port", "0", "--unixsocket", sock, "--dir", tmp, "--save", ""],
                "redis.log")
    deadline = time.time() + 10 * SLOW
    while not os.path.exists(sock):
        check(time.time() < deadline, "redis-server did not start")
        time.sleep(0.05)
    return sock


def wait_workers(bindir, env, want, timeout=20):
    deadline = time.time() + timeout * SLOW
    last = None
    while time.time() < deadline:
        p = subprocess.run([os.path.join(bindir, "swarm"), "workers", "--json"], env=env,
                           capture_output=True, text=True, timeout=30 * SLOW)
        last = p
        if p.returncode == 0:
            ids = {w["worker_id"] for w in json.loads(p.stdout)}
            if want <= ids:
                return ids
        time.sleep(0.2)
    raise Fail("workers %s not registered: %s" % (want, last.stderr if last else "?"))


# ---- systemd ----

def unit_exec(text, env):
    """ExecStart of a unit as systemd runs it: backslash-newline joined,
    ${X} one word, $X split on blanks (values from Environment= lines, then env)."""
    m = re.search(r"^ExecStart=(.*?)(?<!\\)$", text, re.M | re.S)
    cmd = m.group(1).replace("\\\n", " ")
    vals = dict(re.findall(r"^Environment=([A-Z_]+)=(.*)$", text, re.M))
    vals.update(env)
    words = []
    for w in shlex.split(cmd):
        m1 = re.fullmatch(r"\$\{(\w+)\}", w)
        m2 = re.fullmatch(r"\$(\w+)", w)
        if m1:
            words.append(vals.get(m1.group(1), ""))
        elif m2:
            words += vals.get(m2.group(1), "").split()
        else:
            words.append(re.sub(r"\$\{(\w+)\}", lambda x: vals.get(x.group(1), ""), w))
    return words


def sc_systemd(bindir, srcdir, tmp):
    sa = shutil.which("systemd-analyze")
    if not sa:
        skip_or_fail("systemd", "systemd-analyze not installed (Debian package systemd)")
    units = ["swarm-redis.service", "swarmd.service", "swarm-worker@.service"]
    udir = os.path.join(tmp, "units")
    os.mkdir(udir)
    texts = {}
    for u in units:
        t = open(os.path.join(srcdir, "deploy", "systemd", u)).read()
        texts[u] = t
        with open(os.path.join(udir, u), "w") as f:
            f.write(t.replace("/usr/local/bin/", bindir + "/"))
    # the template is verified through an instance name
    args = [os.path.join(udir, u) for u in units[:2]] + [os.path.join(udir, "swarm-worker@1.service")]
    os.symlink(os.path.join(udir, "swarm-worker@.service"), args[2])
    p = subprocess.run([sa, "verify"] + args, capture_output=True, text=True, timeout=60,
                       cwd=udir)
    noise = [line for line in (p.stdout + p.stderr).splitlines() if line.strip()]
    check(p.returncode == 0 and not noise, "systemd-analyze verify: rc %d\n%s" % (
        p.returncode, "\n".join(noise)))
    # the check bites: a misspelt key and a missing binary are reported
    bad = os.path.join(udir, "broken.service")
    with open(bad, "w") as f:
        f.write(texts["swarmd.service"].replace("KillSignal=", "KilSignal=")
                .replace("/usr/local/bin/swarmd", os.path.join(tmp, "no-such-swarmd")))
    p = subprocess.run([sa, "verify", bad], capture_output=True, text=True, timeout=60, cwd=udir)
    out = p.stdout + p.stderr
    check("KilSignal" in out and "no-such-swarmd" in out,
          "systemd-analyze verify did not flag a broken unit: %r" % out)

    # the units' command lines, expanded with their defaults (paths moved into tmp)
    run = os.path.join(tmp, "run")
    os.mkdir(run)
    procs = Procs(tmp)
    try:
        rsock = start_redis(procs, tmp)
        env = {"SWARM_CLIENT": "ipc://%s/client.ipc" % run,
               "SWARM_WORKERS": "ipc://%s/worker.ipc" % run}
        d = unit_exec(texts["swarmd.service"].replace("/run/swarm/redis.sock", rsock), env)
        check(d[0] == "/usr/local/bin/swarmd" and "$" not in " ".join(d), "swarmd ExecStart %s" % d)
        d[0] = os.path.join(bindir, "swarmd")
        procs.start(d + ["--log", os.path.join(tmp, "swarmd.log")], "swarmd.out")
        w = unit_exec(texts["swarm-worker@.service"].replace("%H", "host").replace("%i", "1"),
                      {"SWARM_CONNECT": env["SWARM_WORKERS"], "SWARM_MODEL": "unused.gguf"})
        check(w[0] == "/usr/local/bin/swarm-worker", "worker ExecStart %s" % w)
        w[0] = os.path.join(bindir, "swarm-worker")
        procs.start(w + ["--engine", "sim"], "worker.log")
        cenv = dict(os.environ, SWARM_ENDPOINT=env["SWARM_CLIENT"],
                    SWARM_STATE=os.path.join(tmp, "state"))
        ids = wait_workers(bindir, cenv, {"w-host-1"})
        print("deploy.systemd: verify clean; units' ExecStart ran: swarmd + worker %s" % ids)
    finally:
        procs.stop()


# ---- Kubernetes ----

def sc_k8s(bindir, srcdir, tmp):
    try:
        import yaml
    except ImportError:
        skip_or_fail("k8s", "python3-yaml not installed")
    kdir = os.path.join(srcdir, "deploy", "k8s")
    kust = yaml.safe_load(open(os.path.join(kdir, "kustomization.yaml")))
    docs = []
    for r in kust["resources"]:
        for d in yaml.safe_load_all(open(os.path.join(kdir, r))):
            if d:
                check(all(k in d for k in ("apiVersion", "kind", "metadata")),
                      "%s: a document without apiVersion/kind/metadata" % r)
                check(d["metadata"].get("name"), "%s: a %s without a name" % (r, d["kind"]))
                docs.append(d)
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    for (kind, name), d in by.items():
        if kind in ("Deployment", "StatefulSet"):
            sel = d["spec"]["selector"]["matchLabels"]
            labels = d["spec"]["template"]["metadata"]["labels"]
            check(all(labels.get(k) == v for k, v in sel.items()),
                  "%s %s: selector %s does not match its pod labels %s" % (kind, name, sel, labels))
    for (kind, name), d in by.items():
        if kind == "Service":
            pods = [x for x in docs if x["kind"] in ("Deployment", "StatefulSet") and all(
                x["spec"]["template"]["metadata"]["labels"].get(k) == v
                for k, v in d["spec"]["selector"].items())]
            check(len(pods) == 1, "Service %s selects %d workloads" % (name, len(pods)))
            cports = {p["name"]: p["containerPort"] for c in
                      pods[0]["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
            for sp in d["spec"]["ports"]:
                check(sp["targetPort"] in cports, "Service %s: targetPort %s is no container port"
                      % (name, sp["targetPort"]))

    redis = by.get(("StatefulSet", "swarm-redis"))
    check(redis is not None, "no StatefulSet swarm-redis")
    rc = redis["spec"]["template"]["spec"]["containers"][0]
    rargs = rc["args"]
    check("--appendonly" in rargs and rargs[rargs.index("--appendonly") + 1] == "yes",
          "redis runs without AOF: %s" % rargs)
    data_dir = rargs[rargs.index("--dir") + 1]
    claims = {c["metadata"]["name"] for c in redis["spec"].get("volumeClaimTemplates", [])}
    check(any(m["mountPath"] == data_dir and m["name"] in claims for m in rc["volumeMounts"]),
          "redis --dir %s is not on a volume claim" % data_dir)

    secret = yaml.safe_load(subprocess.run(
        ["bash", os.path.join(kdir, "make-secret.sh")], env=dict(os.environ, SWARM_BIN=bindir),
        capture_output=True, text=True, check=True, timeout=30).stdout)
    check(secret["kind"] == "Secret", "make-secret.sh printed a %s" % secret.get("kind"))
    sname = secret["metadata"]["name"]

    def mounted(pod, path):
        """The Secret key a file path in the pod comes from (or Fail)."""
        c = pod["containers"][0]
        for m in c["volumeMounts"]:
            if path.startswith(m["mountPath"].rstrip("/") + "/"):
                vol = [v for v in pod["volumes"] if v["name"] == m["name"]][0]
                check("secret" in vol and vol["secret"]["secretName"] == sname,
                      "%s is not on the Secret %s" % (path, sname))
                rel = path[len(m["mountPath"].rstrip("/")) + 1:]
                items = {i["path"]: i["key"] for i in vol["secret"].get("items", [])}
                key = items.get(rel, rel if not items else None)
                check(key in secret["data"], "%s: the Secret has no key %r" % (path, key))
                return key
        raise Fail("%s is on no volume" % path)

    swd = by[("Deployment", "swarmd")]
    pod = swd["spec"]["template"]["spec"]
    a = pod["containers"][0]["args"]
    check(swd["spec"]["replicas"] == 1, "swarmd must run one replica")
    check(mounted(pod, a[a.index("--server-key") + 1]) == "swarmd.key", "server key")
    check(mounted(pod, a[a.index("--authorized-keys") + 1]) == "authorized_keys", "authorized")
    check("--insecure" not in a, "swarmd manifest runs --insecure")
    svc = by[("Service", "swarmd")]
    sports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
    cports = {p["name"]: p["containerPort"] for p in pod["containers"][0]["ports"]}
    for flag, pname in (("--client", "client"), ("--workers", "workers")):
        ep = a[a.index(flag) + 1]
        check(ep.startswith("tcp://") and ep.endswith(":%d" % cports[pname]),
              "swarmd %s %s does not listen on container port %s" % (flag, ep, cports[pname]))

    wk = by[("Deployment", "swarm-worker")]
    wpod = wk["spec"]["template"]["spec"]
    wa = wpod["containers"][0]["args"]
    check("--id" not in wa, "worker pods share a fixed --id: the Deployment cannot scale")
    check(wa[wa.index("--connect") + 1] == "tcp://swarmd:%d" % sports["workers"],
          "worker --connect %s is not the swarmd Service's workers port" % wa)
    wenv = {e["name"]: e["value"] for e in wpod["containers"][0]["env"]}
    check(mounted(wpod, wenv["SWARM_SERVER_KEY"]) == "swarmd.pub", "worker server key")
    check(mounted(wpod, wenv["SWARM_KEY"]) == "worker.key", "worker key")

    # the Secret's keys, used for real: swarmd as in the manifest (over tcp on
    # 127.0.0.1), a worker and the CLI with the pods' and the CLI's files
    kd = os.path.join(tmp, "keys")
    os.mkdir(kd, 0o700)
    for k, v in secret["data"].items():
        with open(os.path.join(kd, k), "wb") as f:
            f.write(base64.b64decode(v))
        os.chmod(os.path.join(kd, k), 0o400)  # the Secret volume's defaultMode
    procs = Procs(tmp)
    try:
        rsock = start_redis(procs, tmp)
        cp, wp = free_port(), free_port()
        procs.start([os.path.join(bindir, "swarmd"), "--redis", "unix:" + rsock,
                     "--client", "tcp://127.0.0.1:%d" % cp, "--workers", "tcp://127.0.0.1:%d" % wp,
                     "--server-key", os.path.join(kd, "swarmd.key"),
                     "--authorized-keys", os.path.join(kd, "authorized_keys"),
                     "--log", os.path.join(tmp, "swarmd.log")], "swarmd.out")
        env = dict(os.environ, SWARM_SERVER_KEY=os.path.join(kd, "swarmd.pub"),
                   SWARM_KEY=os.path.join(kd, "worker.key"))
        env.pop("SWARM_INSECURE", None)
        procs.start([os.path.join(bindir, "swarm-worker"), "--connect",
                     "tcp://127.0.0.1:%d" % wp, "--engine", "sim", "--id", "pod-1"], "worker.log",
                    env=env)
        cenv = dict(env, SWARM_KEY=os.path.join(kd, "cli.key"),
                    SWARM_ENDPOINT="tcp://127.0.0.1:%d" % cp, SWARM_STATE=os.path.join(tmp, "st"))
        try:
            wait_workers(bindir, cenv, {"pod-1"})
        except Fail:
            raise Fail("the Secret's keys do not work:\n%s\n%s" % (procs.log("swarmd.log"),
                                                                  procs.log("worker.log")))
        check("auth: CURVE on" in procs.log("swarmd.log"), "swarmd ran without CURVE")
    finally:
        procs.stop()
    print("deploy.k8s: %d manifests consistent; make-secret.sh's keys admitted over CURVE" %
          len(docs))


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in ("systemd", "k8s"):
        print(__doc__, file=sys.stderr)
        return 2
    bindir, srcdir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if not shutil.which("redis-server"):
        skip_or_fail(sys.argv[3], "redis-server not installed")
    tmp = tempfile.mkdtemp(prefix="swarm-deploy-")
    try:
        (sc_systemd if sys.argv[3] == "systemd" else sc_k8s)(bindir, srcdir, tmp)
        return 0
    except (Fail, subprocess.TimeoutExpired, subprocess.CalledProcessError, OSError, KeyError,
            ValueError, IndexError, TypeError) as e:
        print("deploy.%s: FAIL: %s" % (sys.argv[3], e), file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
