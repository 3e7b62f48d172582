#!/usr/bin/env python3
"""web_test.py - swarmd's HTTP side end to end (issue 11): the JSON API and
its auth, server-sent events, the dashboard in a real headless Chromium, and
/metrics scraped by a real Prometheus server.

Real processes only: `swarm up --engine sim --http ADDR` starts redis-server,
swarmd and workers (the sim engine with a per-token delay, so a job runs for
seconds); chromium is driven over the DevTools protocol (a tiny WebSocket
client below: the standard library has none); prometheus scrapes every 1 s.

usage: web_test.py BINDIR BUILDDIR SCENARIO   scenarios: api, browser, prometheus, agent
A missing chromium/prometheus/promtool skips (exit 77) - and fails under CI=true.
"""
import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from swarmtest import SLOW, Fail, check, free_port  # noqa: E402

SKIP = 77


def need(tool):
    path = shutil.which(tool)
    if path:
        return path
    if os.environ.get("CI") == "true":
        raise Fail("%s is not installed (CI=true: .ci/run installs it; apt-get install %s)" %
                   (tool, "prometheus" if tool == "promtool" else tool))
    print("SKIP: %s is not installed (apt-get install -y --no-install-recommends %s)" %
          (tool, "prometheus" if tool == "promtool" else tool))
    sys.exit(SKIP)


def wait_for(what, fn, timeout):
    end = time.time() + timeout * SLOW
    last = None
    while time.time() < end:
        last = fn()
        if last:
            return last
        time.sleep(0.2)
    raise Fail("timed out waiting for %s (last: %r)" % (what, last))


def http(method, url, token=None, timeout=10):
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout * SLOW) as r:
            return r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers
    except (urllib.error.URLError, OSError) as e:  # not listening (yet)
        return 0, str(e), {}


class Swarm:
    """A private swarm (sim engine) with the HTTP server on a free port."""

    def __init__(self, bindir, tmp, token=None, token_us=20000, engine="sim"):
        self.bindir, self.tmp = bindir, tmp
        self.state = os.path.join(tmp, "s")
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.env = dict(os.environ, SWARM_SIM_TOKEN_US=str(token_us))
        self.env.pop("SWARM_ENDPOINT", None)
        self.engine = engine
        os.makedirs(self.state, mode=0o700, exist_ok=True)
        if token:
            with open(os.path.join(self.state, "http.token"), "w") as f:
                f.write(token + "\n")
        self.up = False

    def swarm(self, *args, timeout=120, ok=True):
        p = subprocess.run([os.path.join(self.bindir, "swarm")] + list(args) +
                           ["--state", self.state], capture_output=True, text=True,
                           env=self.env, cwd=self.tmp, timeout=timeout * SLOW)
        if ok:
            check(p.returncode == 0, "swarm %s exited %d: %s %s" %
                  (" ".join(args), p.returncode, p.stdout[-1500:], p.stderr[-1500:]))
        return p

    def start(self, workers=2, slots=2):
        self.swarm("up", "--workers", str(workers), "--slots", str(slots), "--engine", self.engine,
                   "--http", "127.0.0.1:%d" % self.port, timeout=120)
        self.up = True

    def stop(self, check_logs=True):
        """`swarm down`; then swarmd must have stopped cleanly (MHD's threads
        joined) with no sanitizer report in its log."""
        if not self.up:
            return
        self.swarm("down", ok=False)
        self.up = False
        if not check_logs:
            return
        log = self.log(whole=True)
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer"):
            check(bad not in log, "swarmd.log has a sanitizer report:\n%s" % log[-4000:])
        check(re.search(r"swarmd: stopped$", log, re.M), "swarmd did not stop cleanly:\n%s" %
              log[-2000:])

    def submit(self, name, n, max_tokens, wall_time_s=None):
        spec = {"name": name, "goal": "A web test swarm.",
                "instructions": "Answer about {item}.",
                "fanout": {"items": ["item-%02d" % i for i in range(n)]},
                "budget": {"max_tokens": max_tokens, "max_attempts": 1}}
        if wall_time_s:
            spec["budget"]["wall_time_s"] = wall_time_s
        path = os.path.join(self.tmp, name + ".json")
        with open(path, "w") as f:
            json.dump(spec, f)
        job = self.swarm("submit", path).stdout.strip()
        check(re.match(r"^j-[0-9]+-[0-9a-f]+$", job), "submit printed %r" % job)
        return job

    def status(self, job):
        """`swarm status JOB --json`: one job's object."""
        st = json.loads(self.swarm("status", job, "--json").stdout)
        return st["jobs"][0] if "jobs" in st else st

    def log(self, whole=False):
        try:
            with open(os.path.join(self.state, "logs", "swarmd.log")) as f:
                text = f.read()
                return text if whole else text[-3000:]
        except OSError:
            return ""


def job_state(st):
    return st.get("state")


# ---- server-sent events ----

class SSE:
    """Reads /api/events on a thread: every event's name and parsed data."""

    def __init__(self, url, token=None):
        self.events, self.errors = [], []
        self.lock = threading.Lock()
        req = urllib.request.Request(url)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        self.resp = urllib.request.urlopen(req, timeout=30 * SLOW)
        check(self.resp.headers.get("Content-Type", "").startswith("text/event-stream"),
              "events: content type %r" % self.resp.headers.get("Content-Type"))
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        name, data, eid = None, [], None
        try:
            for raw in self.resp:
                line = raw.decode().rstrip("\n")
                if line == "":
                    if data:
                        try:
                            obj = json.loads("\n".join(data))
                            with self.lock:
                                self.events.append((eid, name or "message", obj))
                        except ValueError as e:
                            self.errors.append("bad JSON in event %s: %s" % (name, e))
                    name, data, eid = None, [], None
                elif line.startswith(":"):
                    continue
                elif line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif line.startswith("id: "):
                    eid = int(line[4:])
                elif line.startswith("retry: "):
                    continue
                else:
                    self.errors.append("unexpected line %r" % line)
        except Exception:  # the stream is closed by close() or by swarmd stopping
            pass

    def of(self, kind):
        with self.lock:
            return [e for e in self.events if e[1] == kind]

    def close(self):
        try:
            self.resp.close()
        except Exception:
            pass


def sc_api(bindir, build, tmp):
    token = "t0k-" + os.urandom(8).hex()
    s = Swarm(bindir, tmp, token=token)
    try:
        s.start()
        # auth: the API and metrics want the token, the page does not
        for path in ("/api/jobs", "/api/workers", "/metrics", "/api/events"):
            code, body, hdr = http("GET", s.base + path)
            check(code == 401, "GET %s without a token: %d %s" % (path, code, body[:200]))
            check("Bearer" in (hdr.get("WWW-Authenticate") or ""), "401 without WWW-Authenticate")
            code, _, _ = http("GET", s.base + path, token="wrong" + token)
            check(code == 401, "GET %s with a wrong token: %d" % (path, code))
        code, body, _ = http("GET", s.base + "/")
        check(code == 200 and "swarm dashboard" in body and "/app.js" in body,
              "GET / : %d %r" % (code, body[:200]))
        for path in ("/app.js", "/style.css"):
            code, body, _ = http("GET", s.base + path)
            check(code == 200 and len(body) > 200, "GET %s: %d" % (path, code))
        # unknown paths: 404 in JSON
        for path, tok in (("/nope", None), ("/api/nope", token), ("/api/jobs/j-1/nope", token)):
            code, body, _ = http("GET", s.base + path, token=tok)
            check(code == 404 and "error" in json.loads(body), "GET %s: %d %s" % (path, code, body))
        code, body, _ = http("GET", s.base + "/api/jobs/j-unknown-1", token=token)
        check(code == 404 and "unknown job" in body, "unknown job: %d %s" % (code, body))
        code, body, _ = http("GET", s.base + "/api/workers", token=token)
        ws = json.loads(body)["workers"]
        check(code == 200 and sorted(w["worker_id"] for w in ws) == ["w-1", "w-2"],
              "workers: %d %s" % (code, body))

        # events while a job runs: job progress, task transitions, live output
        sse = SSE(s.base + "/api/events", token=token)
        time.sleep(1.0)  # the sweep's baseline
        job = s.submit("api", 8, 400)  # 8 x 400 tokens x 20 ms on 4 slots: ~16 s (cancelled)
        wait_for("output events of the job",
                 lambda: [e for e in sse.of("output") if e[2]["job_id"] == job], 20)
        wait_for("a job event with progress",
                 lambda: [e for e in sse.of("job") if e[2]["job_id"] == job and
                          e[2]["running"] > 0], 20)
        wait_for("a task transition event",
                 lambda: [e for e in sse.of("task") if e[2]["job_id"] == job], 20)
        out = [e[2] for e in sse.of("output") if e[2]["job_id"] == job]
        check(all(o["tail"].startswith("[sim]") or o["tail"] for o in out) and
              all(o["worker"] in ("w-1", "w-2") and o["tokens"] > 0 for o in out),
              "output events: %r" % out[:3])
        ids = [e[0] for e in sse.events]
        check(ids == sorted(ids) and len(set(ids)) == len(ids), "event ids not increasing")
        check(not sse.errors, "SSE stream: %s" % sse.errors[:3])

        code, body, _ = http("GET", s.base + "/api/jobs/" + job, token=token)
        j = json.loads(body)
        check(code == 200 and j["job"]["total"] == 8 and len(j["tasks"]) == 8 and
              {t["task_id"] for t in j["tasks"]} == {"t%04d" % i for i in range(8)},
              "tasks page: %d %s" % (code, body[:400]))
        code, body, _ = http("GET", s.base + "/api/jobs", token=token)
        check(code == 200 and job in [x["job_id"] for x in json.loads(body)["jobs"]],
              "jobs list: %s" % body[:300])

        # cancel: refused without the token, works with it, then 409; unknown 404
        code, _, _ = http("POST", s.base + "/api/jobs/%s/cancel" % job)
        check(code == 401, "cancel without a token: %d" % code)
        check(job_state(s.status(job)) == "running", "job not running before the cancel")
        code, body, _ = http("GET", s.base + "/api/jobs/%s/cancel" % job, token=token)
        check(code == 405, "GET cancel: %d" % code)
        code, body, _ = http("POST", s.base + "/api/jobs/%s/cancel" % job, token=token)
        check(code == 200 and json.loads(body)["state"] == "cancelled",
              "cancel: %d %s" % (code, body))
        st = wait_for("the job cancelled in swarm status",
                      lambda: (lambda x: x if job_state(x) == "cancelled" else None)(
                          s.status(job)), 15)
        code, body, _ = http("POST", s.base + "/api/jobs/%s/cancel" % job, token=token)
        check(code == 409, "second cancel: %d %s" % (code, body))
        code, body, _ = http("POST", s.base + "/api/jobs/j-unknown-1/cancel", token=token)
        check(code == 404, "cancel of an unknown job: %d %s" % (code, body))
        wait_for("a job event saying cancelled",
                 lambda: [e for e in sse.of("job") if e[2]["job_id"] == job and
                          e[2]["state"] == "cancelled"], 15)
        sse.close()

        # metrics: the text format, linted by promtool
        code, body, hdr = http("GET", s.base + "/metrics", token=token)
        check(code == 200 and hdr.get("Content-Type", "").startswith("text/plain"),
              "metrics: %d" % code)
        for name in ("swarm_subtasks", "swarm_queue_depth", "swarm_workers",
                     "swarm_dispatch_latency_seconds_bucket", "swarm_worker_tokens_per_second",
                     "swarm_redis_roundtrip_seconds_count", "swarm_bad_frames_total"):
            check(re.search(r"^%s[{ ]" % name, body, re.M), "metrics lack %s" % name)
        check(re.search(r'^swarm_workers\{state="live"\} 2$', body, re.M), "live workers != 2")
        m = re.search(r"^swarm_dispatch_latency_seconds_count (\d+)$", body, re.M)
        check(m and int(m.group(1)) >= 4, "dispatch latency not observed: %s" % (m and m.group(0)))
        m = re.search(r'^swarm_worker_tokens_total\{worker="w-1"\} (\d+)$', body, re.M)
        check(m and int(m.group(1)) > 0, "no tokens counted for w-1")
        check(re.search(r'^swarm_subtasks\{state="cancelled"\} [1-9]', body, re.M),
              "no cancelled sub-tasks in the metrics")
        promtool = need("promtool")
        p = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                           text=True, timeout=30)
        check(p.returncode == 0, "promtool check metrics: %s %s" % (p.stdout, p.stderr))
        # swarmd stops with a stream open: the stream ends, swarmd exits cleanly
        sse2 = SSE(s.base + "/api/events?token=" + token)
        s.stop()
        sse2.t.join(10 * SLOW)
        check(not sse2.t.is_alive(), "an open event stream did not end when swarmd stopped")
        print("api: 401/404/405/409 as specified, %d SSE events, cancel through the API ok, "
              "promtool clean" % len(sse.events))
    except Fail:
        print(s.log(), file=sys.stderr)
        raise
    finally:
        s.stop(check_logs=False)


# ---- headless Chromium over the DevTools protocol ----

class DevTools:
    """The smallest WebSocket client CDP needs: text frames, client-side masking."""

    def __init__(self, ws_url):
        m = re.match(r"ws://([^:/]+):(\d+)(/.*)", ws_url)
        self.sock = socket.create_connection((m.group(1), int(m.group(2))), timeout=30 * SLOW)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n" %
                           (m.group(3), m.group(1), m.group(2), key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            check(chunk, "DevTools closed the handshake")
            head += chunk
        check(b" 101 " in head.split(b"\r\n")[0], "DevTools handshake: %r" % head[:100])
        self.next_id = 0

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            check(chunk, "DevTools connection closed")
            buf += chunk
        return buf

    def _recv(self):
        data = b""
        while True:
            b0, b1 = self._recv_exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._recv_exact(8))[0]
            payload = self._recv_exact(n)
            if b0 & 0x0F in (0x1, 0x0):
                data += payload
                if b0 & 0x80:
                    return json.loads(data.decode())

    def call(self, method, **params):
        self.next_id += 1
        msg = json.dumps({"id": self.next_id, "method": method, "params": params}).encode()
        head = bytes([0x81])
        if len(msg) < 126:
            head += bytes([0x80 | len(msg)])
        elif len(msg) < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", len(msg))
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", len(msg))
        mask = os.urandom(4)
        self.sock.sendall(head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(msg)))
        while True:
            r = self._recv()
            if r.get("id") == self.next_id:
                check("error" not in r, "%s: %s" % (method, r.get("error")))
                return r["result"]

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        check("exceptionDetails" not in r, "page script failed: %s" % r.get("exceptionDetails"))
        return r["result"].get("value")

    def screenshot(self, path):
        png = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        with open(path, "wb") as f:
            f.write(png)
        return len(png)


PAGE_STATE = """(() => {
  if (!window.swarmStats) return null; // still loading
  const row = document.querySelector('#jobs tr[data-job="%s"]');
  return {events: swarmStats.events, fetches: swarmStats.fetches,
          conn: document.getElementById('conn').textContent,
          done: row ? +row.dataset.done : -1, state: row ? row.dataset.state : '',
          workers: document.querySelectorAll('#workers tbody tr').length,
          outputs: [...document.querySelectorAll('#tasks td.out')].map(td => td.textContent)
                     .filter(t => t.length > 0).length,
          errors: [...document.querySelectorAll('#tasks td.out.error')].map(td => td.textContent),
          message: document.getElementById('message').textContent};
})()"""


def sc_browser(bindir, build, tmp):
    chromium = need("chromium")
    s = Swarm(bindir, tmp, token_us=25000)
    browser = None
    art = os.path.join(build, "artifacts")
    os.makedirs(art, exist_ok=True)
    try:
        s.start()
        # 24 x 160 tokens x 25 ms on 4 slots: ~24 s, cancelled once progress was seen
        job = s.submit("browser", 24, 160)
        wait_for("the job running", lambda: s.status(job)["running"] > 0, 20)
        browser = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-dev-shm-usage", "--remote-debugging-port=0", "--window-size=1280,900",
             "--user-data-dir=" + os.path.join(tmp, "chrome"), s.base + "/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = None
        end = time.time() + 30 * SLOW
        while time.time() < end and port is None:
            line = browser.stderr.readline()
            check(line or browser.poll() is None, "chromium exited: %s" % line)
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
        check(port, "chromium did not print its DevTools port")
        threading.Thread(target=lambda: browser.stderr.read(), daemon=True).start()
        targets = wait_for("the page target", lambda: [
            t for t in json.loads(http("GET", "http://127.0.0.1:%d/json/list" % port)[1])
            if t.get("type") == "page" and t.get("url", "").startswith(s.base)], 20)
        dt = DevTools(targets[0]["webSocketDebuggerUrl"])
        state = PAGE_STATE % job
        first = wait_for("the page live with the job row", lambda: (
            lambda v: v if v and v["conn"] == "live" and v["done"] >= 0 and v["workers"] == 2 and
            v["outputs"] > 0 else None)(dt.js(state)), 20)
        later = wait_for("progress through SSE", lambda: (
            lambda v: v if v["done"] > first["done"] and v["events"] > first["events"] else None)(
                dt.js(state)), 30)
        check(later["fetches"] == first["fetches"],
              "the page fetched the API again (%d -> %d): progress must come from SSE" %
              (first["fetches"], later["fetches"]))
        shot = os.path.join(art, "dashboard.png")
        size = dt.screenshot(shot)
        check(size > 10000, "screenshot is %d bytes" % size)
        print("screenshot: %s" % shot)
        # the cancel button
        if job_state(s.status(job)) == "running":
            dt.js("document.querySelector('button.cancel[data-job=\"%s\"]').click()" % job)
            wait_for("the row cancelled", lambda: dt.js(state)["state"] == "cancelled", 15)
            check(job_state(s.status(job)) == "cancelled", "cancel button: job not cancelled")
        # a failed task's error
        bad = s.submit("deadline", 4, 2000, wall_time_s=1)  # 2000 x 25 ms > 1 s: fails
        wait_for("the second job failed", lambda: job_state(s.status(bad)) == "failed", 30)
        dt.js("document.querySelector('#jobs tr[data-job=\"%s\"]').click()" % bad)
        v = wait_for("the failed tasks' errors on the page", lambda: (
            lambda v: v if v and v["errors"] else None)(dt.js(PAGE_STATE % bad)), 15)
        check(any("wall_time" in e for e in v["errors"]), "errors shown: %r" % v["errors"])
        wait_for("the failed job's row through SSE",
                 lambda: (dt.js(PAGE_STATE % bad) or {}).get("state") == "failed", 15)
        shot2 = os.path.join(art, "dashboard-failed.png")
        dt.screenshot(shot2)
        print("screenshot: %s" % shot2)
        print("browser: done %d -> %d of 24 through %d -> %d SSE events, no refetch" %
              (first["done"], later["done"], first["events"], later["events"]))
        browser.terminate()
        browser.wait(timeout=10)
        s.stop()
    except Fail:
        print(s.log(), file=sys.stderr)
        raise
    finally:
        if browser:
            browser.terminate()
            try:
                browser.wait(timeout=10)
            except subprocess.TimeoutExpired:
                browser.kill()
                browser.wait()
        s.stop(check_logs=False)


def sc_agent(bindir, build, tmp):
    """Each agent's step lines arrive live: a replayed agent (3 tool steps,
    400 ms apart, then an answer) and the SSE output events it causes."""
    ws = os.path.join(tmp, "ws")
    os.makedirs(ws)
    traj = os.path.join(tmp, "traj.jsonl")
    with open(traj, "w") as f:
        for k in range(1, 4):
            f.write(json.dumps({"step": k, "delay_ms": 400, "tool_calls": [
                {"name": "list_dir", "arguments": {"path": "."}}]}) + "\n")
        f.write(json.dumps({"step": 4, "content": "listed the workspace 3 times"}) + "\n")
    s = Swarm(bindir, tmp, engine="replay")
    s.env["SWARM_REPLAY"] = traj
    try:
        s.start(workers=1, slots=2)
        sse = SSE(s.base + "/api/events")
        time.sleep(1.0)
        spec = {"name": "agents", "goal": "You are a test agent.", "instructions": "Look at {item}",
                "fanout": {"items": ["a", "b"]}, "merge": "json",
                "budget": {"max_tokens": 48, "max_attempts": 1},
                "agent": {"tools": ["list_dir"], "workspace": ws, "max_steps": 6,
                          "sandbox": "unsandboxed"}}
        path = os.path.join(tmp, "agents.json")
        with open(path, "w") as f:
            json.dump(spec, f)
        job = s.swarm("submit", path).stdout.strip()
        s.swarm("wait", job, timeout=60)
        steps = wait_for("agent step lines for both agents", lambda: (lambda ev: ev if {
            e["task_id"] for e in ev} == {"t0000", "t0001"} else None)(
            [e[2] for e in sse.of("output") if e[2]["job_id"] == job and "step_line" in e[2]]),
            15)
        for task in ("t0000", "t0001"):
            mine = [e for e in steps if e["task_id"] == task]
            nums = [e["step"] for e in mine]
            check(nums == sorted(nums) and len(set(nums)) >= 3,
                  "%s: step events %s (want steps 1..4 in order)" % (task, nums))
            check(any(e["step_line"].startswith("list_dir(") for e in mine),
                  "%s: no step line names the tool call: %r" % (task, mine[:2]))
            last = mine[-1]
            check(last["final"] and last["step_line"] == "answer: listed the workspace 3 times",
                  "%s: the last step line is not the answer: %r" % (task, last))
            check(all("\n" not in e["step_line"] and len(e["step_line"].encode()) <= 400
                      for e in mine), "%s: a step line is not one short line" % task)
        check(not sse.errors, "SSE stream: %s" % sse.errors[:3])
        sse.close()
        s.stop()
        print("agent: %d live step events for 2 agents" % len(steps))
    except Fail:
        print(s.log(), file=sys.stderr)
        raise
    finally:
        s.stop(check_logs=False)


def sc_prometheus(bindir, build, tmp):
    prom = need("prometheus")
    s = Swarm(bindir, tmp, token_us=1000)
    server = None
    try:
        s.start()
        job = s.submit("prom", 6, 40)
        s.swarm("wait", job, timeout=60)
        j = s.status(job)
        check(j["done"] == 6, "job not done: %r" % j)
        pport = free_port()
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: swarmd\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % s.port)
        server = subprocess.Popen(
            [prom, "--config.file=" + cfg, "--storage.tsdb.path=" + os.path.join(tmp, "tsdb"),
             "--web.listen-address=127.0.0.1:%d" % pport],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "prometheus.log"), "w"))

        def query(q):
            code, body, _ = http("GET", "http://127.0.0.1:%d/api/v1/query?%s" % (
                pport, urllib.parse.urlencode({"query": q})))
            if code != 200:
                return None
            r = json.loads(body)["data"]["result"]
            return r or None

        done = wait_for("swarm_subtasks{state=done} in Prometheus",
                        lambda: query('swarm_subtasks{state="done"}'), 40)
        check(float(done[0]["value"][1]) == j["done"],
              "Prometheus says %s done sub-tasks, swarm status %d" % (done[0]["value"][1], j["done"]))
        live = query('swarm_workers{state="live"}')
        check(live and float(live[0]["value"][1]) == 2, "live workers: %r" % live)
        up = query('up{job="swarmd"}')
        check(up and float(up[0]["value"][1]) == 1, "up: %r" % up)
        lat = query("swarm_dispatch_latency_seconds_count")
        check(lat and float(lat[0]["value"][1]) >= 6, "dispatch latency count: %r" % lat)
        print("prometheus: swarm_subtasks{state=\"done\"} = %s = swarm status; 2 live workers" %
              done[0]["value"][1])
        s.stop()
    except Fail:
        print(s.log(), file=sys.stderr)
        if os.path.exists(os.path.join(tmp, "prometheus.log")):
            print(open(os.path.join(tmp, "prometheus.log")).read()[-2000:], file=sys.stderr)
        raise
    finally:
        if server:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        s.stop(check_logs=False)


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    bindir, build, sc = sys.argv[1:]
    fn = {"api": sc_api, "browser": sc_browser, "prometheus": sc_prometheus,
          "agent": sc_agent}.get(sc)
    if not fn:
        print("unknown scenario %s" % sc)
        return 2
    tmp = tempfile.mkdtemp(prefix="swarm-web-")
    try:
        fn(bindir, build, tmp)
    except Fail as e:
        print("FAIL (%s): %s" % (sc, e), file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok: web.%s" % sc)
    return 0


if __name__ == "__main__":
    import urllib.parse  # noqa: E402  (used by the prometheus scenario)
    sys.exit(main())
