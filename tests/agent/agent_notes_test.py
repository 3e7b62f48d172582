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
  http_stream   --engine http against an endpoint that streams slowly (SSE): a
                tool call assembled from argument fragments, the answer's words
                in the task's tail while they arrive, a plain sub-task's tokens
                growing during the stream; requests ask for stream + usage
  http_stream_serve  the same backend against swarm-infer serve: a streamed
                plain answer equals serve's non-streamed one; agents' streamed
                tool calls parse
"""
import http.server
import json
import signal
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_loop_test import (agent_job, check_steps, free_port, redis, task_field, transcript,  # noqa
                             run as run_scenario, SCENARIOS, SLOW)
from swarmtest import check, make_model, wait_health, write_job  # noqa: E402

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
    wa = task_field(sw, jid, "t0000", "worker")
    wb = task_field(sw, jid, "t0001", "worker")
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


class SlowSSE(threading.Thread):
    """An OpenAI-compatible endpoint that writes its answer slowly, as server-sent
    events, the way a big model on a GPU server does: swarm-infer serve on the
    tiny test model writes hundreds of tokens in a tenth of a second, too fast to
    see a stream arrive. Each request gets the next scripted answer: a list of
    deltas sent 250 ms apart. The request bodies are kept for the checks."""

    def __init__(self, answers):
        super().__init__(daemon=True)
        self.answers, self.bodies = list(answers), []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                outer.bodies.append(json.loads(self.rfile.read(n)))
                deltas = outer.answers.pop(0) if outer.answers else [{"content": "done"}]
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for d in deltas:
                    chunk = {"object": "chat.completion.chunk",
                             "choices": [{"index": 0, "delta": d, "finish_reason": None}]}
                    self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                    self.wfile.flush()
                    time.sleep(0.25)
                usage = {"object": "chat.completion.chunk", "choices": [],
                         "usage": {"completion_tokens": len(deltas)}}
                self.wfile.write(b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n")
                self.wfile.flush()

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d" % self.srv.server_address[1]

    def run(self):
        self.srv.serve_forever()


def watch_task(sw, jid, tid, until):
    """(tokens, tail) of a running task as often as redis-cli allows."""
    seen = []
    while time.time() < until:
        h = [task_field(sw, jid, tid, "state"), task_field(sw, jid, tid, "tokens"),
             redis(sw, "HGET", "swarm:job:%s:task:%s" % (jid, tid), "tail").split("\n")[0]]
        if h[0] in ("done", "failed"):
            break
        if h[0] == "running" and h[1].isdigit():
            seen.append((int(h[1]), h[2]))
        time.sleep(0.02)
    return seen


def sc_http_stream(sw, bindir, srcdir):
    words = ["w%d " % i for i in range(8)]
    args = json.dumps({"path": "a.txt"})
    srv = SlowSSE([
        # agent step 1: one tool call, its arguments in three fragments
        [{"role": "assistant", "content": ""},
         {"tool_calls": [{"index": 0, "id": "c1", "type": "function",
                          "function": {"name": "read_file", "arguments": ""}}]},
         {"tool_calls": [{"index": 0, "function": {"arguments": args[:5]}}]},
         {"tool_calls": [{"index": 0, "function": {"arguments": args[5:11]}}]},
         {"tool_calls": [{"index": 0, "function": {"arguments": args[11:]}}]}],
        # agent step 2: the answer, word by word
        [{"content": w} for w in words],
        # the plain sub-task: word by word (the worker reports every 4 tokens)
        [{"content": w} for w in words + words],
    ])
    srv.start()
    model = make_model(bindir, sw.tmp)
    ws = os.path.join(sw.tmp, "ws")
    os.makedirs(ws)
    with open(os.path.join(ws, "a.txt"), "w") as f:
        f.write("streamed hello\n")
    os.environ["SWARM_HTTP_URL"] = srv.url
    sw.up("--workers", "1", "--slots", "1", "--engine", "http")
    # an agent: the step's tool call assembled from fragments, the answer's
    # words reach the task's tail while they arrive
    job = agent_job(sw.tmp, "stream-agent", ["x"],
                    {"tools": ["read_file"], "workspace": ws, "max_steps": 3,
                     "sandbox": "unsandboxed"})
    jid = sw.cli("submit", job).stdout.strip()
    seen = watch_task(sw, jid, "t0000", time.time() + 60 * SLOW)
    st = sw.wait_terminal(jid, 60)
    check(st["state"] == "done", "agent job %s: %s" % (st["state"], st["result"]["results"]))
    steps = transcript(sw, jid, "t0000")
    call = steps[0]["tool_calls"][0]
    check(call["name"] == "read_file" and json.loads(call["arguments"]) == {"path": "a.txt"} and
          call["status"] == 0 and "streamed hello" in call["observation"],
          "the streamed tool call was not assembled: %s" % call)
    check(steps[1]["final"] and steps[1]["content"] == "".join(words),
          "the streamed answer: %r" % steps[1]["content"])
    writing = [t for _, t in seen if t.startswith("step 2: writing: w0")]
    check(writing and not any(t.endswith(words[-1].strip()) for t in writing[:1]),
          "no partial answer in the task's tail while it was written: %s" % seen[-12:])
    check(all(b.get("stream") is True and b.get("stream_options", {}).get("include_usage")
              for b in srv.bodies[:2]), "requests do not ask for a stream: %s" % srv.bodies[:1])
    # a plain sub-task: tokens grow while the answer streams
    plain = write_job(sw.tmp, "stream-plain", ["y"], max_tokens=32)
    jid = sw.cli("submit", plain).stdout.strip()
    seen = watch_task(sw, jid, "t0000", time.time() + 60 * SLOW)
    st = sw.wait_terminal(jid, 60)
    out = st["result"]["results"][0]
    check(out["ok"] and out["output"] == "".join(words + words), "plain streamed output %r" % out)
    mid = sorted({n for n, t in seen if 0 < n < 2 * len(words) and len(t.split()) == n})
    check(len(mid) >= 2, "tokens did not grow while the answer streamed: %s" % seen[-12:])
    print("http_stream: agent tail while writing %r; plain tokens seen %s" % (writing[0], mid))
    srv.srv.shutdown()
    sw.down_and_check()


def sc_http_stream_serve(sw, bindir, srcdir):
    """Against swarm-infer serve (the real server, stream on): a plain
    sub-task's streamed output equals serve's non-streamed answer to the same
    request, and agents' streamed tool calls parse (agent.loop_http also runs
    the 429 pause through the stream)."""
    model = make_model(bindir, sw.tmp)
    port = free_port()
    url = "http://127.0.0.1:%d" % port
    srv = subprocess.Popen([os.path.join(bindir, "swarm-infer"), "serve", "--model", model,
                            "--port", str(port), "--slots", "2"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_health(url, 60)
        os.environ["SWARM_HTTP_URL"] = url
        sw.up("--workers", "1", "--slots", "2", "--engine", "http")
        plain = write_job(sw.tmp, "serve-plain", ["zebras"], max_tokens=48)
        jid = sw.cli("submit", plain).stdout.strip()
        out = sw.wait_terminal(jid, 120)["result"]["results"][0]
        body = json.dumps({"messages": [{"role": "system", "content": "You are a test agent."},
                                        {"role": "user",
                                         "content": "Say something about zebras."}],
                           "max_tokens": 48, "temperature": 0.0})
        p = subprocess.run(["curl", "-s", "-H", "Content-Type: application/json", "-d", body,
                            url + "/v1/chat/completions"], capture_output=True, text=True)
        want = json.loads(p.stdout)["choices"][0]["message"]["content"]
        check(out["ok"] and out["output"] == want and want,
              "streamed output %r != serve's answer %r" % (out.get("output"), want))
        ws = os.path.join(sw.tmp, "ws")
        os.makedirs(ws)
        with open(os.path.join(ws, "a.txt"), "w") as f:
            f.write("hi\n")
        job = agent_job(sw.tmp, "serve-agent", ["one", "two"],
                        {"tools": ["read_file", "list_dir"], "workspace": ws, "max_steps": 2,
                         "sandbox": "unsandboxed"}, max_tokens=24)
        jid = sw.cli("submit", job).stdout.strip()
        res = sw.wait_terminal(jid, 120)["result"]
        check(res["state"] == "done", "agent job on serve: %s" % res["state"])
        check_steps(sw, res, ["read_file", "list_dir"])
        print("http_stream_serve: streamed output = serve's (%d bytes); agents parsed" % len(want))
    finally:
        srv.terminate()
        srv.wait(timeout=20)
    sw.down_and_check()


def sc_resume_intent(sw, bindir, srcdir):
    """kill -9 the worker while a side-effect tool runs: its intent was stored
    before it started, so the resumed agent does not run it blind a second
    time; it is told to check the effects instead."""
    ws = os.path.join(sw.tmp, "ws")
    os.makedirs(ws)
    log = os.path.join(ws, "log.txt")
    traj = os.path.join(sw.tmp, "traj.jsonl")
    write_traj(traj, [
        {"step": 1, "tool_calls": [{"name": "run", "arguments": {
            "command": "echo started >> log.txt; sleep 3; echo finished >> log.txt"}}]},
        {"step": 2, "content": "done"},
    ])
    os.environ["SWARM_REPLAY"] = traj
    sw.up("--workers", "2", "--slots", "1", "--engine", "replay")
    job = agent_job(sw.tmp, "intent", ["only"],
                    {"tools": ["run"], "workspace": ws, "max_steps": 4, "sandbox": "unsandboxed"})
    jid = sw.cli("submit", job).stdout.strip()
    deadline = time.time() + 60 * SLOW
    while time.time() < deadline and not (os.path.exists(log) and "started" in open(log).read()):
        time.sleep(0.02)
    check(os.path.exists(log), "the command never started")
    # the tool runs now, its report not sent: the window a kill used to open
    worker = task_field(sw, jid, "t0000", "worker")
    ck = json.loads(redis(sw, "HGET", "swarm:job:%s:task:t0000" % jid, "ckpt"))
    pending = [e for e in ck.get("journal", []) if e.get("status") == -100000]
    check(len(pending) == 1 and ":run:" in pending[0]["key"],
          "no intent stored before the tool ran: journal %s" % ck.get("journal"))
    os.kill(sw.worker_pid(int(worker[2:])), signal.SIGKILL)
    st = sw.wait_terminal(jid, 120)
    r = st["result"]["results"][0]
    check(r["ok"] and r["attempt"] >= 2, "not resumed after the kill: %s" % r)
    call = transcript(sw, jid, "t0000")[0]["tool_calls"][0]
    check(call["replayed"] and call["status"] < 0 and "not run again" in call["observation"],
          "the resumed agent did not reconcile the intent: %s" % call)
    time.sleep(3.5)  # the orphaned first run ends (its sleep) before the leftover check
    lines = open(log).read().split()
    check(lines.count("started") == 1, "the side effect ran %d times: %s" %
          (lines.count("started"), lines))
    print("resume_intent: killed %s mid-tool; resumed attempt %d reconciled: %s" %
          (worker, r["attempt"], call["observation"][:80]))
    sw.down_and_check()


SCENARIOS.update({"resume_intent": sc_resume_intent})
SCENARIOS.update({"notes_shared": sc_notes_shared, "status_sandbox": sc_status_sandbox,
                  "http_stream": sc_http_stream, "http_stream_serve": sc_http_stream_serve})


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in SCENARIOS:
        print(__doc__, file=sys.stderr)
        return 2
    return run_scenario(*sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
