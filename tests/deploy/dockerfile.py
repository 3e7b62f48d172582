#!/usr/bin/env python3
"""dockerfile.py - structural check of deploy/Dockerfile (ctest deploy.dockerfile).

The image cannot be built here (no registry to pull debian:bookworm from) and
no Dockerfile linter is packaged in Debian, so this parses the Dockerfile
(comments, line continuations, JSON and shell forms) and checks what would
make `docker build -f deploy/Dockerfile .` or the Kubernetes pods fail:
known instructions only, every stage FROM Debian bookworm, every COPY source
from the build context exists in the repository, the build stage installs
with deploy/packages.sh's swarm_install_packages and builds the targets whose
binaries the run stage copies (each a real binary in BINDIR), each binary's
NEEDED shared libraries come from a package the run stage installs (dpkg -S
on this machine), the last stage runs as a non-root USER, and every
container of deploy/k8s that uses swarm:latest names, as its command, a
binary the image puts on PATH. A broken copy of the Dockerfile (missing COPY
source, root user, unknown binary) must be refused, so the check is known to
bite.

usage: dockerfile.py BINDIR SRCDIR
"""
import glob
import json
import os
import re
import shlex
import subprocess
import sys

KNOWN = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
         "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
# in debian:bookworm-slim already (Essential or its base set)
BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}


def parse(text):
    """[(lineno, INSTRUCTION, args)] with continuations joined and comments dropped."""
    out, cur, start = [], "", 0
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue
        if not cur:
            start = n
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        word, _, rest = cur.partition(" ")
        out.append((start, word.upper(), rest.strip()))
        cur = ""
    if cur:
        raise ValueError("line %d: continuation runs past the end" % start)
    return out


def words(args):
    """JSON form or shell form of an instruction's arguments."""
    if args.startswith("["):
        return json.loads(args)
    return shlex.split(args)


def check_dockerfile(text, srcdir, bindir):
    """The problems found (empty when the Dockerfile is fine)."""
    bad = []
    try:
        ins = parse(text)
    except ValueError as e:
        return [str(e)], set()
    stages, cur = [], None
    for n, op, args in ins:
        if op not in KNOWN:
            bad.append("line %d: unknown instruction %s" % (n, op))
            continue
        if op != "FROM" and cur is None and op != "ARG":
            bad.append("line %d: %s before the first FROM" % (n, op))
            continue
        if op == "FROM":
            w = args.split()
            if not re.match(r"^debian:bookworm(-slim)?$", w[0]):
                bad.append("line %d: base image %s is not Debian bookworm" % (n, w[0]))
            cur = {"name": w[2] if len(w) >= 3 and w[1].upper() == "AS" else None, "ins": [],
                   "from": w[0]}
            stages.append(cur)
            continue
        cur["ins"].append((n, op, args))
    if len(stages) < 2:
        return bad + ["expected a build stage and a run stage, found %d stage(s)" % len(stages)], set()
    build, run = stages[0], stages[-1]
    names = {s["name"] for s in stages if s["name"]}
    built_targets, build_dir = set(), None
    for n, op, args in build["ins"]:
        if op == "RUN" and "cmake --build" in args:
            m = re.search(r"cmake --build\s+(\S+)", args)
            build_dir = m.group(1) if m else None
            t = re.search(r"--target\s+(.+?)(&&|$)", args)
            built_targets |= set(t.group(1).split()) if t else set()
    if not any(op == "RUN" and "packages.sh" in a and "swarm_install_packages" in a
               for _, op, a in build["ins"]):
        bad.append("the build stage does not install with deploy/packages.sh's "
                   "swarm_install_packages")
    with open(os.path.join(srcdir, "deploy", "packages.sh")) as f:
        if "swarm_install_packages()" not in f.read():
            bad.append("deploy/packages.sh has no swarm_install_packages function")
    on_path, run_pkgs, user = set(), set(), None
    for st in stages:
        for n, op, args in st["ins"]:
            if op not in ("COPY", "ADD"):
                continue
            w = args.split()
            frm = [x for x in w if x.startswith("--from=")]
            paths = [x for x in w if not x.startswith("--")]
            srcs, dest = paths[:-1], paths[-1]
            if not srcs:
                bad.append("line %d: COPY without a source" % n)
                continue
            if frm:
                stage = frm[0].split("=", 1)[1]
                if stage not in names:
                    bad.append("line %d: --from=%s names no stage" % (n, stage))
                for s in srcs:
                    if not build_dir or not s.startswith(build_dir + "/bin/"):
                        bad.append("line %d: %s is not in the build stage's %s/bin" %
                                   (n, s, build_dir))
                        continue
                    b = os.path.basename(s)
                    if b not in built_targets:
                        bad.append("line %d: %s is copied but not built (--target %s)" %
                                   (n, b, " ".join(sorted(built_targets))))
                    if not os.access(os.path.join(bindir, b), os.X_OK):
                        bad.append("line %d: %s is not a binary this project builds" % (n, b))
                    if st is run and dest.rstrip("/") in ("/usr/local/bin", "/usr/bin"):
                        on_path.add(b)
            else:
                for s in srcs:
                    if not glob.glob(os.path.join(srcdir, s)):
                        bad.append("line %d: COPY source %s does not exist in the repository" %
                                   (n, s))
    for n, op, args in run["ins"]:
        if op == "RUN" and "apt-get install" in args:
            after = args.split("apt-get install", 1)[1].split("&&")[0]
            run_pkgs |= {x for x in after.split() if not x.startswith("-")}
        if op == "USER":
            user = args.split(":")[0]
    if user is None or user in ("root", "0"):
        bad.append("the image runs as root (no USER, or USER %s, in the last stage)" % user)
    for b in sorted(on_path):
        for pkg in needed_packages(os.path.join(bindir, b)):
            if pkg not in run_pkgs and pkg not in BASE_PACKAGES:
                bad.append("%s needs a library from %s, which the run stage does not install" %
                           (b, pkg))
    cmd = [a for n, op, a in run["ins"] if op in ("CMD", "ENTRYPOINT")]
    if cmd and words(cmd[-1]) and words(cmd[-1])[0] not in on_path:
        bad.append("CMD runs %s, which the image does not put on PATH" % words(cmd[-1])[0])
    return bad, on_path


_NEEDED = {}


def needed_packages(path):
    """Debian packages of the binary's NEEDED libraries, as resolved on this machine
    (dpkg -S is slow: once per binary, one dpkg call for all its libraries)."""
    if path not in _NEEDED:
        _NEEDED[path] = _needed_packages(path)
    return _NEEDED[path]


def _needed_packages(path):
    out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    dyn = subprocess.run(["readelf", "-d", path], capture_output=True, text=True).stdout
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn))
    libs = []
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) => (\S+)", line)
        # the image builds Release: a sanitizer build's runtimes are not its business
        if m and m.group(1) in needed and not re.match(r"lib[almt]san|libubsan", m.group(1)):
            libs.append(os.path.realpath(m.group(2)))
    # dpkg names a file by the path it installed; /lib is /usr/lib on merged-/usr systems
    cands = sorted({c for r in libs for c in (r, r.replace("/usr/lib/", "/lib/", 1),
                                             r.replace("/lib/", "/usr/lib/", 1))})
    p = subprocess.run(["dpkg", "-S"] + cands, capture_output=True, text=True)
    owner = {}
    for line in p.stdout.splitlines():
        pkg, _, f = line.partition(": ")
        owner[f.strip()] = pkg.split(":")[0]
    pkgs = set()
    for r in libs:
        got = [owner[c] for c in (r, r.replace("/usr/lib/", "/lib/", 1),
                                  r.replace("/lib/", "/usr/lib/", 1)) if c in owner]
        if not got:
            raise SystemExit("dockerfile.py: dpkg -S does not know %s (of %s)" % (r, path))
        pkgs.add(got[0])
    return pkgs


def k8s_commands(srcdir):
    """(file, container, command[0]) of every container running swarm:latest."""
    import yaml
    out = []
    for f in sorted(glob.glob(os.path.join(srcdir, "deploy", "k8s", "*.yaml"))):
        with open(f) as fh:
            for doc in yaml.safe_load_all(fh):
                if not doc or doc.get("kind") not in ("Deployment", "StatefulSet", "Job"):
                    continue
                spec = doc["spec"]["template"]["spec"]
                for c in spec.get("containers", []) + spec.get("initContainers", []):
                    if c.get("image") == "swarm:latest":
                        out.append((os.path.basename(f), c["name"],
                                    (c.get("command") or [None])[0]))
    return out


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    bindir, srcdir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    for tool in ("readelf", "ldd", "dpkg"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            print("deploy.dockerfile: %s is missing" % tool, file=sys.stderr)
            return 1
    with open(os.path.join(srcdir, "deploy", "Dockerfile")) as f:
        text = f.read()
    bad, on_path = check_dockerfile(text, srcdir, bindir)
    try:
        uses = k8s_commands(srcdir)
    except ImportError:
        if os.environ.get("CI") == "true":
            print("deploy.dockerfile: python3-yaml is missing (required under CI=true)",
                  file=sys.stderr)
            return 1
        print("deploy.dockerfile: skipped: python3-yaml is missing", file=sys.stderr)
        return 77
    if len(uses) < 2:
        bad.append("deploy/k8s runs swarm:latest in %d container(s); want swarmd and the worker" %
                   len(uses))
    for f, name, cmd in uses:
        if cmd not in on_path:
            bad.append("%s: container %s runs %r, which the image does not put on PATH" %
                       (f, name, cmd))
    if bad:
        print("deploy.dockerfile: FAIL:\n  " + "\n  ".join(bad), file=sys.stderr)
        return 1
    # the check bites: each of these breakages must be named
    breakages = [
        ("COPY deploy/packages.sh", "COPY deploy/no-such-file.sh", "does not exist"),
        ("USER 10001:10001", "USER root", "runs as root"),
        ("/src/build-image/bin/swarmd ", "/src/build-image/bin/swarmd-nope ", "not built"),
        ("libzmq5 ", "", "libzmq5"),
        ("FROM debian:bookworm-slim", "FROM alpine:3", "not Debian bookworm"),
    ]
    for old, new, want in breakages:
        if old not in text:
            print("deploy.dockerfile: FAIL: the self-test expects %r in the Dockerfile" % old,
                  file=sys.stderr)
            return 1
        got = check_dockerfile(text.replace(old, new, 1), srcdir, bindir)[0]
        if not any(want in b for b in got):
            print("deploy.dockerfile: FAIL: replacing %r by %r was not caught (%r)" %
                  (old, new, got), file=sys.stderr)
            return 1
    print("deploy.dockerfile: ok (%d k8s containers, binaries on PATH: %s; not built here)" %
          (len(uses), " ".join(sorted(on_path))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
