#!/usr/bin/env python3
"""examples_test.py - the shipped examples run end to end as a user runs them.

agent.examples_done (issue 8, Done-when 1). Real processes only: `swarm up`
(redis-server, swarmd, a swarm-worker) on the DEFAULT random model - no
--model, so `swarm up` makes it - then

  examples/coding/run.sh DIR   (the repository made a git repo, agent.git set,
                                `swarm run --json`: 8 agents and the merge step)
  swarm run --job examples/research/job.json --json
                               (8 agents and the merge-agent reducer, citations
                                checked)

and asserts, from the printed results and `swarm logs JOB --json`: >= 8
agents each; every transcript step is a call of an offered tool with
JSON-object arguments or a final answer, steps 1..n once each; one audit
record per tool call (same tool, same order); the coding merge report lists
every agent's branch as merged or rolled back, with the check command's
verdict; the research answers (sub-agents' and the reducer's report) end
with the citation check, each citation resolved or named as unresolved.
Then run.sh again with `--engine replay` and the recorded trajectory (a swarm
of its own, started and stopped by `swarm run`): the merged branch passes
`sh check.sh` (PASS all) while main still fails.

usage: examples_test.py BINDIR SRCDIR
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from swarm_e2e import Fail, Swarm, check  # noqa: E402

SLOW = int(os.environ.get("SWARM_TEST_SLOW", "1"))
# the tools a merge agent may get when the merge step meets a conflict
MERGE_TOOLS = {"read_file", "write_file", "edit_file", "list_dir", "grep", "glob"}


def git(repo, *args):
    return subprocess.run(["git", "-C", repo] + list(args), capture_output=True, text=True,
                          check=True).stdout


def run_json(cmd, env, what):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300 * SLOW)
    check(p.returncode == 0, "%s exited %d\nstdout: %s\nstderr: %s" %
          (what, p.returncode, p.stdout[-2000:], p.stderr[-3000:]))
    try:
        return json.loads(p.stdout)
    except ValueError:
        raise Fail("%s printed no JSON result: %r" % (what, p.stdout[-2000:]))


def coding_run(bindir, srcdir, dest, *swarm_args, env_extra=None):
    env = dict(os.environ, SWARM=os.path.join(bindir, "swarm"))
    if not shutil.which("bwrap"):
        env["SANDBOX"] = "unsandboxed"
    env.update(env_extra or {})
    return run_json([os.path.join(srcdir, "examples", "coding", "run.sh"), dest] +
                    list(swarm_args), env, "examples/coding/run.sh")


def logs(sw, job):
    """`swarm logs JOB --json`: transcript steps and audit records by task."""
    steps, audit = {}, {}
    for line in sw.cli("logs", job, "--json").stdout.splitlines():
        o = json.loads(line)
        check("record" in o or o["type"] not in ("step", "audit"),
              "a %s line that is not JSON: %s" % (o["type"], o))
        if o["type"] == "step":
            steps.setdefault(o["task_id"], []).append(o["record"])
        elif o["type"] == "audit":
            audit.setdefault(o["task_id"], []).append(o["record"])
    return steps, audit


def check_agents(sw, res, tools, extra_tasks):
    """Every tool call parsed, transcripts and audit complete; returns the
    number of agents (tasks other than extra_tasks) and of tool calls."""
    steps, audit = logs(sw, res["job_id"])
    agents = calls_total = 0
    for r in res["results"]:
        tid = r["task_id"]
        check(r["ok"], "task %s (%s) failed: %s" % (tid, r["item"], r.get("error")))
        allowed = set(tools)
        if r["item"] in extra_tasks:
            allowed |= MERGE_TOOLS
            if tid not in steps:  # the merge step ran without a model
                continue
        else:
            agents += 1
        st = steps.get(tid, [])
        nums = [s["step"] for s in st]
        check(nums and nums == list(range(1, len(nums) + 1)),
              "%s: transcript steps %s, want 1..n once each" % (tid, nums))
        check(r.get("steps") == len(nums), "%s: result says %r steps, transcript has %d" %
              (tid, r.get("steps"), len(nums)))
        calls = []
        for s in st:
            check(s["tool_calls"] or s["final"],
                  "%s step %d: neither a tool call nor a final answer: %s" % (tid, s["step"], s))
            for c in s["tool_calls"]:
                check(c["name"] in allowed, "%s step %d: tool %r not offered" %
                      (tid, s["step"], c["name"]))
                check(isinstance(json.loads(c["arguments"]), dict),
                      "%s step %d: arguments not a JSON object: %r" %
                      (tid, s["step"], c["arguments"]))
                calls.append((s["step"], c["name"]))
        check(st[-1]["final"] and isinstance(st[-1].get("content"), str),
              "%s: the last step is not a final answer" % tid)
        check(r.get("tool_calls") == len(calls), "%s: result says %r tool calls, transcript %d" %
              (tid, r.get("tool_calls"), len(calls)))
        au = [(a["step"], a["tool"]) for a in audit.get(tid, [])]
        check(au == calls, "%s: audit records %s, transcript calls %s" % (tid, au, calls))
        check(all(len(a["args_sha256"]) == 64 for a in audit.get(tid, [])),
              "%s: an audit record without the arguments' digest" % tid)
        calls_total += len(calls)
    check(sum(len(v) for v in audit.values()) == calls_total,
          "audit stream holds %d records for %d tool calls" %
          (sum(len(v) for v in audit.values()), calls_total))
    return agents, calls_total


def check_merge_report(res, job):
    merge = [r for r in res["results"] if r["item"] == "merge"]
    check(len(merge) == 1 and merge[0] is res["results"][-1],
          "the merge step is not the job's last task: %s" % [r["item"] for r in res["results"]])
    rep = json.loads(merge[0]["output"])
    branches = {"swarm/%s/%s" % (job, r["task_id"]) for r in res["results"][:-1]}
    merged = set(rep["merged"])
    rolled = {b["branch"] for b in rep["rolled_back"]}
    check(merged | rolled == branches and not merged & rolled,
          "branches %s: merged %s, rolled back %s" % (sorted(branches), rep["merged"],
                                                     rep["rolled_back"]))
    check(all(b.get("reason") for b in rep["rolled_back"]), "a rollback without a reason: %s" %
          rep["rolled_back"])
    check(rep["branch"] == "swarm/%s/merged" % job, "merge report branch %r" % rep["branch"])
    # the example's tests fail on the base: the check's verdict says so
    check(rep["base_check_passed"] is False, "base check verdict: %r" % rep["base_check_passed"])
    check(isinstance(rep["check"]["passed"], bool) and "output" in rep["check"],
          "no check verdict in the merge report: %s" % rep.get("check"))
    return rep


CITE = re.compile(r"\[citations: (\d+) checked, (\d+) resolved(?:; unresolved: (.*))?\]\s*$",
                  re.S)


def check_citations(text, who):
    m = CITE.search(text)
    check(m is not None, "%s: the answer does not end with the citation check: %r" %
          (who, text[-300:]))
    checked, resolved = int(m.group(1)), int(m.group(2))
    check(resolved <= checked, "%s: %d resolved of %d" % (who, resolved, checked))
    named = m.group(3) or ""
    # each unresolved citation is named with why: "path:N (reason)"
    n_named = len(re.findall(r"\S+:\d+(?:-\d+)? \([^)]*\)", named))
    check(n_named == checked - resolved, "%s: %d unresolved but %d named: %r" %
          (who, checked - resolved, n_named, named))
    return checked, resolved


def scenario(sw, bindir, srcdir):
    # the default random model: swarm up makes it (no --model)
    sw.up("--workers", "1", "--slots", "4")
    check(os.path.exists(os.path.join(sw.state, "logs", "mkmodel.log")),
          "swarm up did not make the default model")

    coding_dir = os.path.join(sw.tmp, "coding")
    res = coding_run(bindir, srcdir, coding_dir, "--state", sw.state)
    job = json.load(open(os.path.join(coding_dir, "job.json")))
    check(res["state"] == "done", "coding: state %s" % res["state"])
    agents, calls = check_agents(sw, res, job["agent"]["tools"], {"merge"})
    check(agents >= 8, "coding: %d agents" % agents)
    rep = check_merge_report(res, res["job_id"])
    repo = os.path.join(coding_dir, "repo")
    check(git(repo, "status", "--porcelain") == "" and
          git(repo, "rev-parse", rep["branch"]).strip() == rep["head"],
          "coding: main checkout changed or the merged branch is not the reported head")
    print("examples/coding (random model): %d agents, %d tool calls; merged %d, rolled back %d;"
          " check passed: %s" % (agents, calls, len(rep["merged"]), len(rep["rolled_back"]),
                                 rep["check"]["passed"]))

    research = os.path.join(srcdir, "examples", "research", "job.json")
    rjob = json.load(open(research))
    res = run_json([os.path.join(bindir, "swarm"), "run", "--job", research, "--json",
                    "--state", sw.state], dict(os.environ), "swarm run research")
    check(res["state"] == "done", "research: state %s" % res["state"])
    agents, calls = check_agents(sw, res, rjob["agent"]["tools"], {"reduce"})
    check(agents >= 8, "research: %d agents" % agents)
    red = res["results"][-1]
    check(red["item"] == "reduce" and res["reducer"] == red["task_id"] and
          res["merged"] == red["output"], "the report is not the reducer's answer: %s" %
          {k: res.get(k) for k in ("reducer", "merged")})
    for r in res["results"][:-1]:
        check_citations(r["output"], r["task_id"])
    checked, resolved = check_citations(res["merged"], "report")
    print("examples/research (random model): %d agents, %d tool calls; report citations: "
          "%d checked, %d resolved" % (agents, calls, checked, resolved))
    sw.down_and_check()

    # the recorded trajectory: the coding job ends with its tests passing
    sw2 = Swarm(bindir, os.path.join(sw.tmp, "replay"))
    try:
        dest = os.path.join(sw.tmp, "replay", "coding")
        res = coding_run(bindir, srcdir, dest, "--engine", "replay", "--workers", "2",
                         "--slots", "4", "--state", sw2.state,
                         env_extra={"SWARM_REPLAY": os.path.join(srcdir, "examples", "coding",
                                                                 "trajectory.jsonl")})
        sw2.record_pids()
        check(res["state"] == "done", "replay: state %s" % res["state"])
        rep = check_merge_report(res, res["job_id"])
        check(len(rep["merged"]) == 8 and rep["check"]["passed"] is True,
              "replay: merge report %s" % rep)
        repo = os.path.join(dest, "repo")
        main = subprocess.run(["sh", "check.sh"], cwd=repo, capture_output=True, text=True)
        check(main.returncode != 0, "replay: main passes the check: agents wrote into it")
        wt = os.path.join(sw.tmp, "replay", "merged")
        git(repo, "worktree", "add", "-q", wt, rep["branch"])
        p = subprocess.run(["sh", "check.sh"], cwd=wt, capture_output=True, text=True)
        check(p.returncode == 0 and "PASS all" in p.stdout,
              "replay: the merged branch fails: %s%s" % (p.stdout, p.stderr))
        left = sw2.leftovers()
        check(not left, "swarm run left processes: %s" % left)
        sw2.check_logs()
        print("examples/coding (replay): %d branches merged into %s; %s" %
              (len(rep["merged"]), rep["branch"], p.stdout.strip().splitlines()[-1]))
    finally:
        sw2.force_cleanup()


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    bindir, srcdir = sys.argv[1:]
    if not shutil.which("redis-server") or not shutil.which("git"):
        print("redis-server or git not installed", file=sys.stderr)
        return 1 if os.environ.get("CI") == "true" else 77
    tmp = tempfile.mkdtemp(prefix="swarm-examples-")
    sw = Swarm(bindir, tmp)
    try:
        scenario(sw, bindir, srcdir)
    except Fail as e:
        print("FAIL examples_done: %s" % e, file=sys.stderr)
        for st in (sw.state, os.path.join(tmp, "replay", "s")):
            d = os.path.join(st, "logs")
            for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                print("--- %s\n%s" % (f, open(os.path.join(d, f), errors="replace").read()[-3000:]),
                      file=sys.stderr)
        sw.force_cleanup()
        return 1
    except BaseException:
        sw.force_cleanup()
        raise
    sw.force_cleanup()
    shutil.rmtree(tmp, ignore_errors=True)
    print("PASS examples_done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
