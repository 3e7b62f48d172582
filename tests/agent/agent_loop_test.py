#!/usr/bin/env python3
"""agent_loop_test.py - agent sub-tasks through a whole local swarm.

Real processes only: the `swarm` CLI starts redis-server, swarmd and
swarm-workers (tests/integration/swarm_e2e.py's harness); transcripts and
checkpoints are read back from that Redis with redis-cli.

usage: agent_loop_test.py BINDIR SRCDIR SCENARIO
scenarios:
  embedded  agents on the default random model (mkmodel tiny): every step's
            reply parsed into a listed tool with JSON-object arguments or a
            final answer, transcripts complete, steps/tool_calls reported
  examples  examples/coding and examples/research as shipped, on the default
            random model (mkmodel tiny): 8 agents each, every call parsed,
            transcripts and audit complete (release builds only: minutes
            under ASan)
  replay    examples/coding on the REPLAY engine with its recorded trajectory:
            8 agents fix the library, its check passes afterwards
  resume    kill -9 the worker mid-agent: the sub-task resumes from its last
            checkpoint on another worker, no step and no side effect repeated
  mcp       (run through mcp_test.sh, which installs the npm reference server:
            agent_loop_test.py mcp ENTRY with $SWARM_TEST_BINDIR/$SWARM_TEST_SRCDIR)
            an agent lists and reads files through the MCP filesystem server's tools
  http      --engine http against `swarm-infer serve --slots 1 --max-queue 0`
            kept busy: the agent pauses on 429 (reason stored for swarm
            status), resumes when the server frees up, nothing lost
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from swarmtest import (SLOW, Fail, Swarm, alive, check, free_port,  # noqa: E402,F401
                       make_model, run_scenario, wait_health)


def redis(sw, *args):
    p = subprocess.run(["redis-cli", "-s", os.path.join(sw.state, "redis.sock"), "--raw"] +
                       list(args), capture_output=True, text=True, timeout=30)
    check(p.returncode == 0, "redis-cli %s: %s" % (args, p.stderr))
    return p.stdout


def task_field(sw, jid, tid, name):
    """A task's hot field (state, attempt, worker, tokens...) from its row in the
    job's column P job:<id>:st, "state|attempt|token|inc|tokens|cold|worker"
    (scheduler/lua/lib.lua; absent = ready, attempt 0)."""
    v = redis(sw, "HGET", "swarm:job:%s:st" % jid, tid).rstrip("\n") or "ready|0|||0||"
    f = v.split("|", 6)
    return f[["state", "attempt", "token", "inc", "tokens", "cold", "worker"].index(name)]


def transcript(sw, job, tid):
    out = redis(sw, "LRANGE", "swarm:job:%s:task:%s:transcript" % (job, tid), "0", "-1")
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def agent_job(tmp, name, items, agent, instructions="Work on: {item}", max_tokens=48):
    job = {"name": name, "goal": "You are a test agent.", "instructions": instructions,
           "fanout": {"items": items}, "merge": "json",
           "budget": {"max_tokens": max_tokens, "max_attempts": 3},
           "sampling": {"temperature": 0.0, "seed": 3}, "agent": agent}
    path = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(job, f)
    return path


def run_job(sw, job, *up_args):
    """swarm up + submit + wait: the swarm (and its Redis) stays up for the checks."""
    sw.up(*up_args)
    jid = sw.cli("submit", job).stdout.strip()
    return sw.wait_terminal(jid, 600)["result"]


def audit_records(sw, job):
    out = redis(sw, "XRANGE", "swarm:job:%s:audit" % job, "-", "+")
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def check_steps(sw, res, allowed):
    """Every task's transcript: steps 1..n once each, calls parsed and valid;
    one audit record per call in the job's audit stream."""
    total_calls = 0
    for r in res["results"]:
        check(r["ok"], "task %s failed: %s" % (r["task_id"], r.get("error")))
        steps = transcript(sw, res["job_id"], r["task_id"])
        nums = [s["step"] for s in steps]
        check(nums == list(range(1, len(nums) + 1)),
              "%s: transcript steps %s, want 1..n once each" % (r["task_id"], nums))
        check(r.get("steps") == len(nums), "%s: result steps %r, transcript %d" %
              (r["task_id"], r.get("steps"), len(nums)))
        calls = 0
        for s in steps:
            for c in s["tool_calls"]:
                calls += 1
                check(c["name"] in allowed, "%s step %d: tool %r not offered" %
                      (r["task_id"], s["step"], c["name"]))
                check(isinstance(json.loads(c["arguments"]), dict),
                      "%s step %d: arguments not a JSON object" % (r["task_id"], s["step"]))
                check("audit" in c and c["audit"]["tool"] == c["name"], "no audit record")
        check(steps[-1]["final"], "%s: the last step is not a final answer" % r["task_id"])
        check(r.get("tool_calls") == calls, "%s: tool_calls %r, transcript %d" %
              (r["task_id"], r.get("tool_calls"), calls))
        total_calls += calls
    audit = audit_records(sw, res["job_id"])
    check(len(audit) == total_calls, "audit stream has %d records for %d tool calls" %
          (len(audit), total_calls))
    check(all(a["tool"] in allowed and len(a["args_sha256"]) == 64 for a in audit),
          "audit records lack tool or digest: %s" % audit[:2])
    return True


def sc_embedded(sw, bindir, srcdir):
    model = make_model(bindir, sw.tmp)
    ws = os.path.join(sw.tmp, "ws")
    os.makedirs(os.path.join(ws, "docs"))
    for i in range(3):
        with open(os.path.join(ws, "docs", "n%d.txt" % i), "w") as f:
            f.write("note %d: the swarm keeps state in redis\n" % i)
    # small enough for ASan on a loaded machine: two tools, a call then an answer
    allowed = ["read_file", "list_dir"]
    job = agent_job(sw.tmp, "emb", ["alpha", "beta"],
                    {"tools": allowed, "workspace": ws, "max_steps": 2, "sandbox": "unsandboxed"},
                    max_tokens=24)
    res = run_job(sw, job, "--workers", "1", "--slots", "2", "--model", model)
    check(res["state"] == "done", "job state %s" % res["state"])
    check_steps(sw, res, allowed)
    check(all(r["tool_calls"] >= 1 for r in res["results"]),
          "the first step must call a tool (agent.first_step defaults to tool)")
    # the planner checks the agent object and names the field
    for agent, want in (({"tools": allowed, "workspace": ws, "toolz": 1}, "agent.toolz"),
                        ({"tools": allowed, "workspace": os.path.join(ws, "nope")},
                         "agent.workspace"),
                        ({"tools": [], "workspace": ws}, "agent.tools"),
                        ({"tools": allowed, "workspace": ws, "sandbox": "none"}, "agent.sandbox"),
                        ({"tools": allowed, "workspace": ws, "mcp": [{"name": "Bad Name",
                                                                       "command": ["x"]}]},
                         "agent.mcp[0].name")):
        bad = agent_job(sw.tmp, "bad", ["x"], agent)
        p = sw.cli("submit", bad, check_rc=False)
        check(p.returncode != 0 and want in p.stderr, "bad agent %s: rc %d, %r" %
              (agent, p.returncode, p.stderr))
    print("embedded: %s" % [(r["task_id"], r["steps"], r["tool_calls"]) for r in res["results"]])
    sw.down_and_check()


def sc_examples(sw, bindir, srcdir):
    model = make_model(bindir, sw.tmp)
    sw.up("--workers", "1", "--slots", "4", "--model", model)
    for name in ("coding", "research"):
        dst = os.path.join(sw.tmp, name)
        shutil.copytree(os.path.join(srcdir, "examples", name), dst)
        job = json.load(open(os.path.join(dst, "job.json")))
        if name == "coding" and not shutil.which("bwrap"):
            job["agent"]["sandbox"] = "unsandboxed"
            with open(os.path.join(dst, "job.json"), "w") as f:
                json.dump(job, f)
        jid = sw.cli("submit", os.path.join(dst, "job.json")).stdout.strip()
        res = sw.wait_terminal(jid, 600)["result"]
        check(res["state"] == "done" and res["total"] >= 8, "%s: state %s, total %s" %
              (name, res["state"], res["total"]))
        check_steps(sw, res, job["agent"]["tools"])
        print("examples/%s: %d agents, %d steps, %d tool calls" %
              (name, res["total"], sum(r["steps"] for r in res["results"]),
               sum(r["tool_calls"] for r in res["results"])))
    sw.down_and_check()


def copy_coding(srcdir, tmp):
    dst = os.path.join(tmp, "coding")
    shutil.copytree(os.path.join(srcdir, "examples", "coding"), dst)
    return dst


def check_cmd(repo):
    return subprocess.run(["sh", "check.sh"], cwd=repo, capture_output=True, text=True)


def sc_replay(sw, bindir, srcdir):
    coding = copy_coding(srcdir, sw.tmp)
    repo = os.path.join(coding, "repo")
    check(check_cmd(repo).returncode != 0, "the example's tests pass before any agent ran")
    os.environ["SWARM_REPLAY"] = os.path.join(coding, "trajectory.jsonl")
    job = json.load(open(os.path.join(coding, "job.json")))
    if not shutil.which("bwrap"):
        job["agent"]["sandbox"] = "unsandboxed"
    with open(os.path.join(coding, "job.json"), "w") as f:
        json.dump(job, f)
    res = run_job(sw, os.path.join(coding, "job.json"), "--workers", "2", "--slots", "4",
                  "--engine", "replay")
    check(res["state"] == "done" and res["total"] >= 8, "state %s total %s" %
          (res["state"], res["total"]))
    check_steps(sw, res, job["agent"]["tools"])
    for r in res["results"]:
        steps = transcript(sw, res["job_id"], r["task_id"])
        run = [c for s in steps for c in s["tool_calls"] if c["name"] == "run"]
        check(run and run[-1]["status"] == 0 and "PASS" in run[-1]["observation"],
              "%s: its check did not pass: %s" % (r["task_id"], run))
    p = check_cmd(repo)
    check(p.returncode == 0 and "PASS all" in p.stdout, "tests fail after the job: %s" % p.stdout)
    print("replay: 8 agents, check passes: %s" % p.stdout.strip())
    sw.down_and_check()


def sc_resume(sw, bindir, srcdir):
    ws = os.path.join(sw.tmp, "ws")
    os.makedirs(ws)
    traj = os.path.join(sw.tmp, "traj.jsonl")
    n = 6
    with open(traj, "w") as f:
        for k in range(1, n):
            f.write(json.dumps({"step": k, "delay_ms": 600, "tool_calls": [
                {"name": "run", "arguments": {"command": "echo step%d >> log.txt" % k}}]}) + "\n")
        f.write(json.dumps({"step": n, "content": "done after %d steps" % (n - 1)}) + "\n")
    os.environ["SWARM_REPLAY"] = traj
    sw.up("--workers", "2", "--slots", "1", "--engine", "replay")
    job = agent_job(sw.tmp, "resume", ["only"],
                    {"tools": ["run"], "workspace": ws, "max_steps": 10,
                     "sandbox": "unsandboxed"})
    jid = sw.cli("submit", job).stdout.strip()
    tk = "swarm:job:%s:task:t0000" % jid
    deadline = time.time() + 60 * SLOW
    while time.time() < deadline:
        if int(redis(sw, "LLEN", tk + ":transcript").strip() or 0) >= 2:
            break
        time.sleep(0.05)
    worker = task_field(sw, jid, "t0000", "worker")
    check(worker.startswith("w-"), "no worker holds the task: %r" % worker)
    pid = sw.worker_pid(int(worker[2:]))
    os.kill(pid, signal.SIGKILL)
    killed_at = int(redis(sw, "LLEN", tk + ":transcript").strip())
    st = sw.wait_terminal(jid, 120)
    r = st["result"]["results"][0]
    check(r["ok"] and r["attempt"] >= 2, "not retried after the kill: %s" % r)
    check(r["steps"] == n, "steps %r, want %d" % (r["steps"], n))
    steps = transcript(sw, jid, "t0000")
    check([s["step"] for s in steps] == list(range(1, n + 1)),
          "transcript steps %s (a step repeated or lost)" % [s["step"] for s in steps])
    log = open(os.path.join(ws, "log.txt")).read().split()
    check(log == ["step%d" % k for k in range(1, n)],
          "side effects %s: repeated or lost after the resume" % log)
    check(not alive(pid), "killed worker still alive")
    print("resume: killed %s at step %d, resumed on attempt %d; log %s" %
          (worker, killed_at, r["attempt"], log))
    sw.down_and_check()


def sc_http(sw, bindir, srcdir):
    model = make_model(bindir, sw.tmp)
    port = free_port()
    url = "http://127.0.0.1:%d" % port
    log = open(os.path.join(sw.tmp, "serve.log"), "w")
    srv = subprocess.Popen([os.path.join(bindir, "swarm-infer"), "serve", "--model", model,
                            "--port", str(port), "--slots", "1", "--max-queue", "0"],
                           stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_health(url, 60)
        # hold the only slot: every agent request meanwhile is answered 429
        hog_body = json.dumps({"messages": [{"role": "user", "content": "hold"}],
                               "max_tokens": 3000, "ignore_eos": True})
        hog = subprocess.Popen(["curl", "-s", "-o", "/dev/null", "-H",
                                "Content-Type: application/json", "-d", hog_body,
                                url + "/v1/chat/completions"])
        time.sleep(0.5)
        ws = os.path.join(sw.tmp, "ws")
        os.makedirs(ws)
        with open(os.path.join(ws, "a.txt"), "w") as f:
            f.write("hello\n")
        os.environ["SWARM_HTTP_URL"] = url
        sw.up("--workers", "1", "--slots", "2", "--engine", "http")
        job = agent_job(sw.tmp, "http", ["one", "two"],
                        {"tools": ["read_file", "list_dir"], "workspace": ws, "max_steps": 2,
                         "sandbox": "unsandboxed"}, max_tokens=24)
        jid = sw.cli("submit", job).stdout.strip()
        paused = set()
        deadline = time.time() + 120 * SLOW
        while time.time() < deadline and hog.poll() is None and not paused:
            for t in ("t0000", "t0001"):
                why = redis(sw, "HGET", "swarm:job:%s:task:%s" % (jid, t), "paused").strip()
                if why:
                    paused.add(why)
                    # the tail swarm status / swarm top show carries the reason
                    tail = redis(sw, "HGET", "swarm:job:%s:task:%s" % (jid, t), "tail")
                    check(tail.startswith("[paused] ") and "429" in tail,
                          "task tail while paused: %r" % tail)
            time.sleep(0.1)
        # the server answers again: the hog disconnects, which frees its slot
        hog.terminate()
        hog.wait(timeout=60)
        check(any("429" in p for p in paused), "no sub-task paused on 429: %s" % paused)
        st = sw.wait_terminal(jid, 300)
        res = st["result"]
        check(res["state"] == "done", "job %s after the pause" % res["state"])
        check_steps(sw, res, ["read_file", "list_dir"])
        for t in ("t0000", "t0001"):
            check(redis(sw, "HGET", "swarm:job:%s:task:%s" % (jid, t), "paused").strip() == "",
                  "%s still marked paused" % t)
        events = redis(sw, "XRANGE", "swarm:job:%s:events" % jid, "-", "+")
        check("task_paused" in events, "no task_paused event in the job's stream")
        print("http: paused with %s; resumed, %d done" % (sorted(paused)[:1], res["done"]))
    finally:
        srv.send_signal(signal.SIGTERM)
        try:
            srv.wait(timeout=20)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()
    sw.down_and_check()


def sc_mcp(sw, bindir, srcdir):
    entry = os.environ["SWARM_MCP_ENTRY"]
    ws = os.path.join(sw.tmp, "ws")
    os.makedirs(ws)
    with open(os.path.join(ws, "a.txt"), "w") as f:
        f.write("mcp says hello\n")
    traj = os.path.join(sw.tmp, "traj.jsonl")
    with open(traj, "w") as f:
        f.write(json.dumps({"step": 1, "tool_calls": [
            {"name": "fs__list_directory", "arguments": {"path": ws}}]}) + "\n")
        f.write(json.dumps({"step": 2, "tool_calls": [
            {"name": "fs__read_text_file", "arguments": {"path": os.path.join(ws, "a.txt")}}]})
                + "\n")
        f.write(json.dumps({"step": 3, "content": "read it"}) + "\n")
    os.environ["SWARM_REPLAY"] = traj
    job = agent_job(sw.tmp, "mcp", ["x"],
                    {"tools": ["fs__list_directory", "fs__read_text_file"], "workspace": ws,
                     "sandbox": "unsandboxed", "max_steps": 4,
                     "mcp": [{"name": "fs", "command": ["node", entry, ws]}]})
    res = run_job(sw, job, "--workers", "1", "--slots", "1", "--engine", "replay")
    check(res["state"] == "done", "job %s: %s" % (res["state"], res["results"][0].get("error")))
    check_steps(sw, res, ["fs__list_directory", "fs__read_text_file"])
    steps = transcript(sw, res["job_id"], "t0000")
    obs1 = steps[0]["tool_calls"][0]
    obs2 = steps[1]["tool_calls"][0]
    check(obs1["status"] == 0 and "a.txt" in obs1["observation"], "list_directory: %s" % obs1)
    check(obs2["status"] == 0 and "mcp says hello" in obs2["observation"], "read: %s" % obs2)
    print("mcp: listed and read through the MCP server's tools")
    sw.down_and_check()


SCENARIOS = {"mcp": sc_mcp, "examples": sc_examples, "embedded": sc_embedded, "replay": sc_replay, "resume": sc_resume, "http": sc_http}


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "mcp":  # from mcp_test.sh: CASE ENTRY
        os.environ["SWARM_MCP_ENTRY"] = sys.argv[2]
        return run(os.environ["SWARM_TEST_BINDIR"], os.environ["SWARM_TEST_SRCDIR"], "mcp")
    if len(sys.argv) != 4 or sys.argv[3] not in SCENARIOS:
        print(__doc__, file=sys.stderr)
        return 2
    bindir, srcdir, name = sys.argv[1:]
    if name == "mcp":
        return 2
    return run(bindir, srcdir, name)


def run(bindir, srcdir, name):
    return run_scenario(SCENARIOS, name, bindir, srcdir, "swarm-agent-",
                        tools=("redis-server", "redis-cli"), log_tail=3000)


if __name__ == "__main__":
    sys.exit(main())
