#!/usr/bin/env python3
"""agent_notes_test.py - agents' job-wide memory and sandbox mode, whole swarm.

Real processes only (redis-server, swarmd, swarm-workers started by `swarm
up`, the harness of tests/integration/swarm_e2e.py); what the agents did is
read back from their transcripts in that Redis with redis-cli.

usage: agent_notes_test.py BINDIR SRCDIR SCENARIO
scenarios:
  notes_shared  two agents on two workers (REPLAY engine): agent A's notes
                (note tool) are read by agent B (read_notes, all and by tag)
                through swarmd and Redis; a note over the 4096-byte cap is
                refused with the cap named; the notes stream goes with the job
                (`swarm rm`)
  status_sandbox  `swarm status` (text and --json) shows each agent job's
                sandbox mode ("bwrap", "unsandboxed") and each worker's
                (bwrap found or not); without bwrap an agent's `run` is refused
                unless its job is explicitly unsandboxed
"""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_loop_test import agent_job, redis, transcript, run as run_scenario, SCENARIOS  # noqa
from swarm_e2e import check  # noqa: E402

NOTE_CAP = 4096


def write_traj(path, lines):
    with open(path, "w") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")


def sc_notes_shared(sw, bindir, srcdir):
    ws = os.path.join(sw.tmp, "ws")
    os.makedirs(ws)
    traj = os.path.join(sw.tmp, "traj.jsonl")
    big = "x" * (NOTE_CAP + 1)
    # A notes at once, then holds its slot so B is leased to the other worker;
    # B reads after A has written (its first step waits 2 s)
    write_traj(traj, [
        {"task_id": "t0000", "step": 1, "tool_calls": [
            {"name": "note", "arguments": {"text": "parser lives in src/parse.c",
                                           "tag": "finding"}}]},
        {"task_id": "t0000", "step": 2, "tool_calls": [
            {"name": "note", "arguments": {"text": big}}]},
        {"task_id": "t0000", "step": 3, "tool_calls": [
            {"name": "note", "arguments": {"text": "tests need make check", "tag": "todo"}}]},
        {"task_id": "t0000", "step": 4, "delay_ms": 4000, "content": "A done"},
        {"task_id": "t0001", "step": 1, "delay_ms": 2000, "tool_calls": [
            {"name": "read_notes", "arguments": {}}]},
        {"task_id": "t0001", "step": 2, "tool_calls": [
            {"name": "read_notes", "arguments": {"tag": "finding"}}]},
        {"task_id": "t0001", "step": 3, "content": "B done"},
    ])
    os.environ["SWARM_REPLAY"] = traj
    sw.up("--workers", "2", "--slots", "1", "--engine", "replay")
    job = agent_job(sw.tmp, "notes", ["a", "b"],
                    {"tools": ["note", "read_notes"], "workspace": ws, "max_steps": 6,
                     "sandbox": "unsandboxed"})
    jid = sw.cli("submit", job).stdout.strip()
    st = sw.wait_terminal(jid, 120)
    res = st["result"]
    check(res["state"] == "done", "job %s: %s" % (res["state"], res["results"]))
    wa = redis(sw, "HGET", "swarm:job:%s:task:t0000" % jid, "worker").strip()
    wb = redis(sw, "HGET", "swarm:job:%s:task:t0001" % jid, "worker").strip()
    check(wa and wb and wa != wb, "agents A and B ran on the same worker (%r, %r)" % (wa, wb))
    a = transcript(sw, jid, "t0000")
    b = transcript(sw, jid, "t0001")
    c1, c2, c3 = (a[i]["tool_calls"][0] for i in range(3))
    check(c1["status"] == 0 and c3["status"] == 0, "A's notes failed: %s / %s" % (c1, c3))
    check(c2["status"] < 0 and ("at most %d bytes" % NOTE_CAP) in c2["observation"] and
          str(NOTE_CAP + 1) in c2["observation"],
          "the oversize note was not refused with the cap named: %s" % c2)
    every = b[0]["tool_calls"][0]
    check(every["status"] == 0, "B's read_notes failed: %s" % every)
    lines = every["observation"].splitlines()
    check(lines == ["[t0000 #finding] parser lives in src/parse.c",
                    "[t0000 #todo] tests need make check"],
          "B read %r, want A's two notes oldest first (and not the refused one)" % lines)
    tagged = b[1]["tool_calls"][0]["observation"].splitlines()
    check(tagged == ["[t0000 #finding] parser lives in src/parse.c"],
          "read_notes by tag gave %r" % tagged)
    nk = "swarm:job:%s:notes" % jid
    check(redis(sw, "XLEN", nk).strip() == "2", "the notes stream holds %s entries, want 2" %
          redis(sw, "XLEN", nk).strip())
    sw.cli("rm", jid)
    check(redis(sw, "EXISTS", nk).strip() == "0", "the notes stream outlived its job")
    print("notes_shared: A on %s noted, B on %s read %d notes; oversize refused: %s" %
          (wa, wb, len(lines), c2["observation"][:90]))
    sw.down_and_check()


def path_without_bwrap(tmp):
    """A PATH of links to every program of $PATH but bwrap: the workers started
    under it find no bubblewrap, like a machine without the package."""
    d = os.path.join(tmp, "nobwrap-bin")
    os.makedirs(d)
    for p in os.environ.get("PATH", "/usr/bin:/bin").split(":"):
        if not os.path.isdir(p):
            continue
        for name in os.listdir(p):
            dst = os.path.join(d, name)
            if name != "bwrap" and not os.path.lexists(dst):
                os.symlink(os.path.join(p, name), dst)
    return d


def sc_status_sandbox(sw, bindir, srcdir):
    ws = os.path.join(sw.tmp, "ws")
    os.makedirs(ws)
    traj = os.path.join(sw.tmp, "traj.jsonl")
    write_traj(traj, [
        {"step": 1, "tool_calls": [{"name": "run", "arguments": {"command": "echo ran-here"}}]},
        {"step": 2, "content": "done"},
    ])
    os.environ["SWARM_REPLAY"] = traj
    saved = os.environ["PATH"]
    os.environ["PATH"] = path_without_bwrap(sw.tmp)
    try:
        sw.up("--workers", "1", "--slots", "2", "--engine", "replay")
    finally:
        os.environ["PATH"] = saved
    jobs = {}
    for mode in ("bwrap", "unsandboxed"):
        job = agent_job(sw.tmp, "sb-" + mode, ["x"],
                        {"tools": ["run"], "workspace": ws, "max_steps": 3, "sandbox": mode})
        jobs[mode] = sw.cli("submit", job).stdout.strip()
    for mode, jid in jobs.items():
        st = sw.wait_terminal(jid, 120)
        check(st["state"] == "done", "%s job %s" % (mode, st["state"]))
        check(st.get("sandbox") == mode, "status --json of the %s job: sandbox %r" %
              (mode, st.get("sandbox")))
        call = transcript(sw, jid, "t0000")[0]["tool_calls"][0]
        if mode == "bwrap":
            check(call["status"] < 0 and "bwrap" in call["observation"] and
                  "unsandboxed" in call["observation"],
                  "run without bubblewrap was not refused: %s" % call)
            check(st.get("sandbox_refused_on") == ["w-1"],
                  "sandbox_refused_on %r, want the worker without bwrap" %
                  st.get("sandbox_refused_on"))
            text = sw.cli("status", jid).stdout
            check("sandbox: bwrap" in text and "REFUSED on 1 worker(s)" in text and "w-1" in text,
                  "swarm status does not say run is refused: %r" % text)
        else:
            check(call["status"] == 0 and "ran-here" in call["observation"] and
                  call["audit"].get("sandbox") == "unsandboxed",
                  "the unsandboxed job's run: %s" % call)
            check("sandbox_refused_on" not in st, "an unsandboxed job lists refusals")
            text = sw.cli("status", jid).stdout
            check("sandbox: unsandboxed (explicit opt-in" in text,
                  "swarm status does not show the unsandboxed mode: %r" % text)
    every = json.loads(sw.cli("status", "--json").stdout)
    check([w.get("sandbox") for w in every["workers"]] == ["none"],
          "workers' sandbox in status --json: %s" % every["workers"])
    check(sorted(j.get("sandbox") for j in every["jobs"]) == ["bwrap", "unsandboxed"],
          "jobs' sandbox in status --json: %s" % every["jobs"])
    text = sw.cli("status").stdout
    check("worker w-1: no bubblewrap" in text, "swarm status names no worker without bwrap: %r"
          % text)
    print("status_sandbox: %s" % text.strip().replace("\n", " | ")[:400])
    sw.down_and_check()


SCENARIOS.update({"notes_shared": sc_notes_shared, "status_sandbox": sc_status_sandbox})


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in SCENARIOS:
        print(__doc__, file=sys.stderr)
        return 2
    return run_scenario(*sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
