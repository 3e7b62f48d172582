#!/usr/bin/env python3
"""dag_spawn_test.py - an agent's spawn tool through the whole swarm.

Real processes (`swarm up`: redis-server, swarmd, a swarm-worker on the
labelled REPLAY engine, which plays a recorded trajectory so the agent's
calls are known): the spawn tool goes worker -> swarmd (proto Spawn) ->
scheduler/lua/spawn.lua. Budget: max_subtasks 2, max_depth 1.

  t0000 spawns a child: created (t0001), which then runs as an agent;
  t0000 spawns again: refused, the third task is over budget.max_subtasks,
        and the refusal is the tool's observation, naming the budget;
  t0001 (depth 1) spawns: refused, budget.max_depth;
the job still ends done with both tasks' results.

usage: dag_spawn_test.py BINDIR SRCDIR
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "agent"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from agent_loop_test import transcript, run as run_scenario, SCENARIOS  # noqa: E402
from swarm_e2e import check  # noqa: E402


def sc_spawn_budget(sw, bindir, srcdir):
    ws = os.path.join(sw.tmp, "ws")
    os.makedirs(ws)
    traj = os.path.join(sw.tmp, "traj.jsonl")
    lines = [
        {"task_id": "t0000", "step": 1, "tool_calls": [
            {"name": "spawn", "arguments": {"instructions": "Count the files",
                                            "tools": ["spawn"]}}]},
        {"task_id": "t0000", "step": 2, "tool_calls": [
            {"name": "spawn", "arguments": {"instructions": "One too many"}}]},
        {"task_id": "t0000", "step": 3, "content": "lead done"},
        {"task_id": "t0001", "step": 1, "tool_calls": [
            {"name": "spawn", "arguments": {"instructions": "A grandchild"}}]},
        {"task_id": "t0001", "step": 2, "content": "child done"},
    ]
    with open(traj, "w") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")
    os.environ["SWARM_REPLAY"] = traj
    job = os.path.join(sw.tmp, "spawn.json")
    with open(job, "w") as f:
        json.dump({"name": "spawn", "goal": "You are a test agent.",
                   "tasks": [{"id": "lead", "instructions": "Split the work"}],
                   "budget": {"max_tokens": 48, "max_subtasks": 2, "max_depth": 1},
                   "agent": {"tools": ["spawn"], "workspace": ws, "max_steps": 4,
                             "sandbox": "unsandboxed"}}, f)
    sw.up("--workers", "1", "--slots", "2", "--engine", "replay")
    jid = sw.cli("submit", job).stdout.strip()
    res = sw.wait_terminal(jid, 120)["result"]
    check(res["state"] == "done", "job %s: %s" % (res["state"], res["results"]))
    check([r["task_id"] for r in res["results"]] == ["t0000", "t0001"],
          "want the lead and one child: %s" % res["results"])
    check(res["results"][1]["item"] == "child of t0000" and
          "child done" in res["results"][1]["output"], "the child: %s" % res["results"][1])
    a = transcript(sw, jid, "t0000")
    ok, over = a[0]["tool_calls"][0], a[1]["tool_calls"][0]
    check(ok["status"] == 0 and "spawned sub-task t0001" in ok["observation"],
          "the first spawn: %s" % ok)
    check(over["status"] < 0 and "budget.max_subtasks exceeded" in over["observation"] and
          "2 of its 2" in over["observation"], "the over-budget spawn: %s" % over)
    b = transcript(sw, jid, "t0001")
    deep = b[0]["tool_calls"][0]
    check(deep["status"] < 0 and "budget.max_depth exceeded" in deep["observation"],
          "the too-deep spawn: %s" % deep)
    print("spawn_budget: child t0001 created; refused: %s | %s" %
          (over["observation"][:100], deep["observation"][:100]))
    sw.down_and_check()


SCENARIOS["spawn_budget"] = sc_spawn_budget

if __name__ == "__main__":
    sys.exit(run_scenario(sys.argv[1], sys.argv[2], "spawn_budget"))
