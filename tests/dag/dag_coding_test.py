#!/usr/bin/env python3
"""dag_coding_test.py - a coding job's branches and merge step, whole swarm.

Real processes (`swarm up`: redis-server, swarmd, two swarm-workers on the
labelled REPLAY engine playing a recorded trajectory, so each agent's edits
are known) on a real git repository made in a temp dir. The job (agent.git)
has three agents and the planner's merge step:

  feature-a   writes a.txt                       (keeps the check passing)
  breaker     writes "broken" into value.txt     (breaks the check)
  feature-b   depends on feature-a, writes b.txt

Each agent works in its own worktree on its own branch swarm/<job>/<task>
(its commit is on that branch, the main checkout is untouched); the merge
step merges the branches in dependency order into swarm/<job>/merged, runs the
check command (sh check.sh) after each merge, rolls the breaking merge back
and reports the final branch, what was merged and what was rolled back; the
branch itself holds a.txt and b.txt and passes the check.

usage: dag_coding_test.py BINDIR SRCDIR [coding_merge|coding_conflict|coding_example|research_citations|model_plan]
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "agent"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from agent_loop_test import transcript, run as run_scenario, SCENARIOS  # noqa: E402
from swarm_e2e import check  # noqa: E402


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@t"] +
                          list(args), capture_output=True, text=True, check=True).stdout


def sc_coding_merge(sw, bindir, srcdir):
    repo = os.path.join(sw.tmp, "repo")
    os.makedirs(repo)
    with open(os.path.join(repo, "check.sh"), "w") as f:
        f.write("! grep -q broken value.txt\n")
    with open(os.path.join(repo, "value.txt"), "w") as f:
        f.write("fine\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    traj = os.path.join(sw.tmp, "traj.jsonl")
    steps = [("t0000", "a.txt", "feature a\n"), ("t0001", "value.txt", "broken\n"),
             ("t0002", "b.txt", "feature b\n")]
    with open(traj, "w") as f:
        for tid, path, text in steps:
            f.write(json.dumps({"task_id": tid, "step": 1, "tool_calls": [
                {"name": "write_file", "arguments": {"path": path, "content": text}}]}) + "\n")
            f.write(json.dumps({"task_id": tid, "step": 2, "content": "wrote " + path}) + "\n")
    os.environ["SWARM_REPLAY"] = traj
    job = os.path.join(sw.tmp, "coding.json")
    with open(job, "w") as f:
        json.dump({"name": "coding", "goal": "You are one agent of a coding swarm.",
                   "tasks": [{"id": "feature-a", "instructions": "Add a"},
                             {"id": "breaker", "instructions": "Change value"},
                             {"id": "feature-b", "instructions": "Add b",
                              "depends_on": ["feature-a"]}],
                   "budget": {"max_tokens": 48},
                   "agent": {"tools": ["write_file", "read_file"], "workspace": repo,
                             "max_steps": 3, "sandbox": "unsandboxed",
                             "git": {"base": "main", "check": "sh check.sh"}}}, f)
    sw.up("--workers", "2", "--slots", "1", "--engine", "replay")
    jid = sw.cli("submit", job).stdout.strip()
    res = sw.wait_terminal(jid, 120)["result"]
    check(res["state"] == "done", "job %s: %s" % (res["state"], res["results"]))
    items = [r["item"] for r in res["results"]]
    check(items == ["feature-a", "breaker", "feature-b", "merge"], "tasks: %s" % items)
    # every agent's commit sits on its own branch; the main checkout is untouched
    log = git(repo, "log", "--all", "--oneline", "--name-only")
    for tid, path, text in steps:
        br = "swarm/%s/%s" % (jid, tid)
        got = subprocess.run(["git", "-C", repo, "show", "%s:%s" % (br, path)],
                             capture_output=True, text=True).stdout
        check(got == text, "branch %s lacks %s: %r\n%s\n%s" % (br, path, got, log,
                                                                transcript(sw, jid, tid)))
    check(git(repo, "status", "--porcelain") == "", "the main checkout was changed")
    check(not os.path.exists(os.path.join(repo, "a.txt")), "an agent wrote into the main checkout")
    rep = json.loads(res["results"][3]["output"])
    target = "swarm/%s/merged" % jid
    check(rep["branch"] == target, "merge report: %s" % rep)
    want = ["swarm/%s/t0000" % jid, "swarm/%s/t0002" % jid]
    check(rep["merged"] == want, "merged %s, want %s (dependency order)" % (rep["merged"], want))
    rb = rep["rolled_back"]
    check(len(rb) == 1 and rb[0]["branch"] == "swarm/%s/t0001" % jid and
          "check failed after the merge" in rb[0]["reason"], "rolled back: %s" % rb)
    check(rep["base_check_passed"] is True and rep["check"]["passed"] is True,
          "check verdict: %s" % rep["check"])
    check(git(repo, "rev-parse", target).strip() == rep["head"], "head differs from the report")
    check(git(repo, "show", target + ":value.txt") == "fine\n", "the breaking change was kept")
    check(git(repo, "show", target + ":b.txt") == "feature b\n", "b.txt not merged")
    print("coding_merge: merged %s, rolled back %s (%s)" %
          (rep["merged"], rb[0]["branch"], rb[0]["reason"]))
    sw.down_and_check()


def sc_research_citations(sw, bindir, srcdir):
    """A research job (agent.citations): a sub-agent and the reducer (merge
    "agent") cite file:line; each answer ends with the check's verdict, the
    unresolved citations named."""
    ws = os.path.join(sw.tmp, "docs")
    os.makedirs(ws)
    with open(os.path.join(ws, "kv.md"), "w") as f:
        f.write("pages\nevict\nlru\n")
    traj = os.path.join(sw.tmp, "traj.jsonl")
    with open(traj, "w") as f:
        f.write(json.dumps({"task_id": "t0000", "step": 1,
                            "content": "Pages are evicted (kv.md:2), LRU at kv.md:3."}) + "\n")
        f.write(json.dumps({"task_id": "t0001", "step": 1,
                            "content": "Report: eviction kv.md:2-3; also kv.md:40 and gone.md:1."})
                + "\n")
    os.environ["SWARM_REPLAY"] = traj
    job = os.path.join(sw.tmp, "research.json")
    with open(job, "w") as f:
        json.dump({"name": "research", "goal": "Answer from the documents, citing file:line.",
                   "tasks": [{"id": "evict", "instructions": "How are pages evicted?"}],
                   "merge": "agent", "budget": {"max_tokens": 48},
                   "agent": {"tools": ["read_file", "grep"], "workspace": ws, "max_steps": 2,
                             "sandbox": "unsandboxed", "citations": True}}, f)
    sw.up("--workers", "1", "--slots", "1", "--engine", "replay")
    jid = sw.cli("submit", job).stdout.strip()
    res = sw.wait_terminal(jid, 120)["result"]
    check(res["state"] == "done", "job %s: %s" % (res["state"], res["results"]))
    sub, red = res["results"][0]["output"], res["results"][1]["output"]
    check(sub.endswith("[citations: 2 checked, 2 resolved]"), "sub-agent: %r" % sub)
    check("[citations: 3 checked, 1 resolved; unresolved: kv.md:40 (the file has 3 lines), "
          "gone.md:1 (no such file)]" in red, "reducer: %r" % red)
    check(res["merged"] == red and res["reducer"] == "t0001",
          "the merged answer is not the reducer's: %s" % res)
    print("research_citations: %s" % red.splitlines()[-1])
    sw.down_and_check()


def sc_model_plan(sw, bindir, srcdir):
    """"plan": "model": the planning agent (t0000, REPLAY engine) submits a plan
    with a dependency through its submit_plan tool (whose schema is the plan
    schema: the embedded engine's tool grammar forces it); swarmd's scripts turn it into tasks, which run as agents
    in dependency order, and the reducer's answer is the merged result."""
    ws = os.path.join(sw.tmp, "ws")
    os.makedirs(ws)
    plan = {"tasks": [{"id": "survey", "instructions": "List the modules", "tools": ["list_dir"],
                       "depends_on": []},
                      {"id": "write", "instructions": "Write the report", "depends_on": ["survey"]}]}
    traj = os.path.join(sw.tmp, "traj.jsonl")
    with open(traj, "w") as f:
        # the planner answers through submit_plan (its arguments are the plan)
        f.write(json.dumps({"task_id": "t0000", "step": 1, "tool_calls": [
            {"name": "submit_plan", "arguments": plan}]}) + "\n")
        f.write(json.dumps({"task_id": "t0000", "step": 2, "content": "done"}) + "\n")
        for tid, text in (("t0001", "modules: a, b"),
                          ("t0002", "report written"), ("t0003", "FINAL: a and b, reported")):
            f.write(json.dumps({"task_id": tid, "step": 1, "content": text}) + "\n")
    os.environ["SWARM_REPLAY"] = traj
    job = os.path.join(sw.tmp, "plan.json")
    with open(job, "w") as f:
        json.dump({"name": "planned", "goal": "Report on the workspace's modules.",
                   "plan": "model", "merge": "agent", "budget": {"max_tokens": 48,
                                                                  "max_subtasks": 6},
                   "agent": {"tools": ["list_dir"], "workspace": ws, "max_steps": 2,
                             "sandbox": "unsandboxed"}}, f)
    sw.up("--workers", "2", "--slots", "1", "--engine", "replay")
    jid = sw.cli("submit", job).stdout.strip()
    res = sw.wait_terminal(jid, 120)["result"]
    check(res["state"] == "done", "job %s: %s" % (res["state"], res["results"]))
    items = [r["item"] for r in res["results"]]
    check(items == ["plan", "survey", "write", "reduce"], "tasks: %s" % items)
    check(res["merged"] == "FINAL: a and b, reported" and res["reducer"] == "t0003",
          "merged: %s" % res.get("merged"))
    ev = [json.loads(l) for l in sw.cli("logs", jid, "--json").stdout.splitlines()]
    ev = [e for e in ev if e.get("type") == "event"]
    kinds = [(e.get("event"), e.get("task_id")) for e in ev]
    check(("plan_expanded", "t0000") in kinds, "no plan_expanded event: %s" % kinds)
    check(json.loads(res["results"][0]["output"]) == plan,
          "the planning task's output is not the submitted plan: %r" % res["results"][0])
    done_survey = kinds.index(("task_done", "t0001"))
    check(kinds.index(("task_ready", "t0002")) == done_survey + 1,
          "write not released by survey: %s" % kinds)
    print("model_plan: %s -> %s" % (items, res["merged"]))
    sw.down_and_check()


def sc_coding_example(sw, bindir, srcdir):
    """examples/coding (8 agents, failing C tests) as a coding job: its repo
    made a git repository, agent.git set, the recorded trajectory replayed.
    Every agent commits its fix on its own branch; the merge step merges the
    8 branches (the base fails the check, so none is rolled back) and the
    final check on swarm/<job>/merged passes, while main still fails."""
    import shutil
    coding = os.path.join(sw.tmp, "coding")
    shutil.copytree(os.path.join(srcdir, "examples", "coding"), coding)
    repo = os.path.join(coding, "repo")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "example")
    os.environ["SWARM_REPLAY"] = os.path.join(coding, "trajectory.jsonl")
    job = json.load(open(os.path.join(coding, "job.json")))
    if not shutil.which("bwrap"):
        job["agent"]["sandbox"] = "unsandboxed"
    job["agent"]["git"] = {"base": "main", "check": "sh check.sh"}
    with open(os.path.join(coding, "job.json"), "w") as f:
        json.dump(job, f)
    sw.up("--workers", "2", "--slots", "4", "--engine", "replay")
    jid = sw.cli("submit", os.path.join(coding, "job.json")).stdout.strip()
    res = sw.wait_terminal(jid, 300)["result"]
    check(res["state"] == "done", "job %s: %s" % (res["state"], res["results"]))
    check(len(res["results"]) == 9 and res["results"][8]["item"] == "merge",
          "want 8 agents and the merge step: %s" % [r["item"] for r in res["results"]])
    rep = json.loads(res["results"][8]["output"])
    check(len(rep["merged"]) == 8 and rep["rolled_back"] == [] and rep["conflicts"] == [],
          "merge report: %s" % rep)
    check(rep["base_check_passed"] is False and rep["check"]["passed"] is True and
          "PASS all" in rep["check"]["output"], "check verdict: %s" % rep["check"])
    main = subprocess.run(["sh", "check.sh"], cwd=repo, capture_output=True, text=True)
    check(main.returncode != 0 and git(repo, "status", "--porcelain") == "",
          "the main checkout changed or passes: %s" % main.stdout)
    wt = os.path.join(sw.tmp, "final")
    git(repo, "worktree", "add", "-q", wt, rep["branch"])
    p = subprocess.run(["sh", "check.sh"], cwd=wt, capture_output=True, text=True)
    check(p.returncode == 0 and "PASS all" in p.stdout, "merged branch: %s" % p.stdout)
    print("coding_example: %d branches merged into %s; check: %s" %
          (len(rep["merged"]), rep["branch"], p.stdout.strip()))
    sw.down_and_check()


def sc_coding_conflict(sw, bindir, srcdir):
    """Two agents change the same line: the merge step hands the conflict to
    the merge agent (an agent loop in the merge worktree, REPLAY engine),
    which rewrites the file without markers; the merge is committed and
    checked, and the report says the conflict was resolved."""
    repo = os.path.join(sw.tmp, "repo")
    os.makedirs(repo)
    with open(os.path.join(repo, "check.sh"), "w") as f:
        f.write("! grep -q '^<<<<<<<' shared.txt\n")
    with open(os.path.join(repo, "shared.txt"), "w") as f:
        f.write("base\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    traj = os.path.join(sw.tmp, "traj.jsonl")
    lines = []
    for tid, text in (("t0000", "left\n"), ("t0001", "right\n")):
        lines.append({"task_id": tid, "step": 1, "tool_calls": [
            {"name": "write_file", "arguments": {"path": "shared.txt", "content": text}}]})
        lines.append({"task_id": tid, "step": 2, "content": "edited"})
    # the merge step (t0002): its merge agent resolves the conflict
    lines.append({"task_id": "t0002", "step": 1, "tool_calls": [
        {"name": "write_file", "arguments": {"path": "shared.txt", "content": "left\nright\n"}}]})
    lines.append({"task_id": "t0002", "step": 2, "content": "kept both lines"})
    with open(traj, "w") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")
    os.environ["SWARM_REPLAY"] = traj
    job = os.path.join(sw.tmp, "conflict.json")
    with open(job, "w") as f:
        json.dump({"name": "conflict", "goal": "You are one agent of a coding swarm.",
                   "tasks": [{"id": "left", "instructions": "Say left"},
                             {"id": "right", "instructions": "Say right"}],
                   "budget": {"max_tokens": 48},
                   "agent": {"tools": ["write_file"], "workspace": repo, "max_steps": 3,
                             "sandbox": "unsandboxed",
                             "git": {"base": "main", "check": "sh check.sh"}}}, f)
    sw.up("--workers", "1", "--slots", "2", "--engine", "replay")
    jid = sw.cli("submit", job).stdout.strip()
    res = sw.wait_terminal(jid, 120)["result"]
    check(res["state"] == "done", "job %s: %s" % (res["state"], res["results"]))
    rep = json.loads(res["results"][2]["output"])
    check(len(rep["merged"]) == 2 and rep["rolled_back"] == [], "merge report: %s" % rep)
    check(len(rep["conflicts"]) == 1 and rep["conflicts"][0]["resolved"] is True and
          "shared.txt" in rep["conflicts"][0]["files"], "conflicts: %s" % rep["conflicts"])
    check(rep["check"]["passed"] is True, "check: %s" % rep["check"])
    check(git(repo, "show", rep["branch"] + ":shared.txt") == "left\nright\n",
          "the merged file: %r" % git(repo, "show", rep["branch"] + ":shared.txt"))
    print("coding_conflict: resolved by the merge agent: %s" % rep["conflicts"])
    sw.down_and_check()


SCENARIOS["coding_conflict"] = sc_coding_conflict
SCENARIOS["coding_example"] = sc_coding_example
SCENARIOS["model_plan"] = sc_model_plan
SCENARIOS["coding_merge"] = sc_coding_merge
SCENARIOS["research_citations"] = sc_research_citations

if __name__ == "__main__":
    sys.exit(run_scenario(sys.argv[1], sys.argv[2],
                          sys.argv[3] if len(sys.argv) > 3 else "coding_merge"))
