#!/usr/bin/env python3
"""test_serve_curl.py - `swarm-infer serve` driven by curl (a real HTTP client
over real sockets): health, models, chat and completions with and without
streaming (SSE frames parse, [DONE] last, streamed text equals the
non-streamed text for the same seed), prefix reuse across requests, stop
strings, the 400/401/404/405/413/429 paths, a client disconnecting
mid-stream (the slot is freed long before the generation would have
ended), and SIGTERM ending a stream cleanly.

usage: test_serve_curl.py SWARM_INFER FIXTURES_DIR"""
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BIN, FIX = sys.argv[1], sys.argv[2]
MODEL = os.path.join(FIX, "models", "qwen3moe", "qwen3moe-q8_0.gguf")
if not os.path.isfile(MODEL):
    print(f"fixtures not found at {FIX}")
    sys.exit(1 if os.environ.get("CI") == "true" else 77)
if not shutil.which("curl"):
    print("the curl command is not installed")
    sys.exit(1 if os.environ.get("CI") == "true" else 77)
SLOW = int(os.environ.get("SWARM_TEST_SLOW", "1"))
KEY = "sk-serve-test-7"
TMP = tempfile.mkdtemp(prefix="serve_curl_")
failures = []
servers = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, flush=True)
    return cond


def start_server(*args):
    """Starts swarm-infer serve on a free port; returns (process, port)."""
    err = open(os.path.join(TMP, f"server{len(servers)}.err"), "w")
    p = subprocess.Popen([BIN, "serve", "--model", MODEL, "--port", "0", *args],
                         stdout=subprocess.PIPE, stderr=err, text=True)
    servers.append(p)
    ready, _, _ = select.select([p.stdout], [], [], 60 * SLOW)
    line = p.stdout.readline() if ready else ""
    if not line.startswith("listening on http://127.0.0.1:"):
        print("server did not start:", repr(line), open(err.name).read())
        sys.exit(1)
    return p, int(line.strip().rsplit(":", 1)[1])


def curl(port, path, body=None, key=KEY, method=None, headers=(), timeout=120):
    """One request through curl; returns (status, headers, body bytes)."""
    n = len(os.listdir(TMP))
    out, hdr = os.path.join(TMP, f"b{n}"), os.path.join(TMP, f"h{n}")
    cmd = ["curl", "-sS", "-N", "-o", out, "-D", hdr, "-w", "%{http_code}",
           "--max-time", str(timeout * SLOW)]
    if key:
        cmd += ["-H", f"Authorization: Bearer {key}"]
    for h in headers:
        cmd += ["-H", h]
    if body is not None:
        src = os.path.join(TMP, f"req{n}")
        with open(src, "wb") as f:
            f.write(body if isinstance(body, bytes) else json.dumps(body).encode())
        cmd += ["-H", "Content-Type: application/json", "--data-binary", "@" + src]
    if method:
        cmd += ["-X", method]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    r = subprocess.run(cmd, capture_output=True, text=True)
    status = int(r.stdout or 0)
    hd = {}
    if os.path.exists(hdr):
        for ln in open(hdr, encoding="latin-1"):
            if ":" in ln:
                k, v = ln.split(":", 1)
                hd[k.strip().lower()] = v.strip()
    data = open(out, "rb").read() if os.path.exists(out) else b""
    return status, hd, data


def js(data):
    try:
        return json.loads(data)
    except ValueError:
        return None


def sse_frames(data):
    """The data: payloads of an event stream, in order."""
    frames = []
    for block in data.decode("utf-8", "strict").split("\n\n"):
        if block.strip():
            check(block.startswith("data: "), f"SSE block without 'data: ': {block[:80]!r}")
            frames.append(block[6:])
    return frames


def health(port):
    return js(curl(port, "/health", key=None)[2]) or {}


def expect_error(status, data, want_status, want_param, what):
    e = (js(data) or {}).get("error") or {}
    check(status == want_status, f"{what}: status {status}, expected {want_status}")
    check(isinstance(e.get("message"), str) and e["message"], f"{what}: no error message: {data!r}")
    if want_param is not None:
        check(e.get("param") == want_param, f"{what}: param {e.get('param')!r}, expected "
              f"{want_param!r}")
        check(want_param in e.get("message", ""), f"{what}: message does not name "
              f"{want_param}: {e.get('message')!r}")
    return e


def cli_checks():
    """The command line: --help, usage errors (exit 2), a missing model (exit 1)."""
    r = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True)
    check(r.returncode == 0 and "--max-queue" in r.stdout, f"serve --help: {r.returncode}")
    for args in (["--bogus"], [], ["--model", MODEL, "--slots", "0"], ["--model", MODEL, "--port",
                                                                       "70000"]):
        r = subprocess.run([BIN, "serve", *args], capture_output=True, text=True, timeout=30)
        check(r.returncode == 2, f"serve {args}: exit {r.returncode}, expected 2")
    r = subprocess.run([BIN, "serve", "--model", os.path.join(TMP, "nope.gguf"), "--port", "0"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 1 and "nope.gguf" in r.stderr, f"missing model: {r.returncode} "
          f"{r.stderr!r}")


def main():
    cli_checks()
    # --- server B: two slots, an API key
    srv, port = start_server("--slots", "2", "--max-queue", "8", "--api-key", KEY)

    h = health(port)
    check(h.get("status") == "ok" and h.get("slots") == 2, f"health: {h}")
    model = h.get("model")

    st, _, data = curl(port, "/v1/models")
    d = js(data) or {}
    check(st == 200 and d.get("object") == "list" and d["data"][0]["id"] == model,
          f"models: {st} {data!r}")
    st, _, data = curl(port, f"/v1/models/{model}")
    check(st == 200 and (js(data) or {}).get("id") == model, f"model by id: {st}")

    # 401: no key, wrong key
    for key, what in ((None, "no key"), ("sk-wrong", "wrong key")):
        st, hd, data = curl(port, "/v1/models", key=key)
        e = expect_error(st, data, 401, None, f"401 ({what})")
        check("api key" in e.get("message", "").lower(), f"401 message: {e}")
    st, _, _ = curl(port, "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]},
                    key="sk-wrong")
    check(st == 401, f"chat with a wrong key: {st}")

    # chat, non-streamed: the response shape
    chat = {"model": model, "messages": [
        {"role": "system", "content": "You are a terse assistant. " * 8},
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "Another one?"}],
        "max_tokens": 12, "temperature": 0.9, "seed": 1234}
    st, hd, data = curl(port, "/v1/chat/completions", chat)
    r = js(data) or {}
    check(st == 200 and hd.get("content-type", "").startswith("application/json"),
          f"chat: {st} {hd}")
    c = (r.get("choices") or [{}])[0]
    m = c.get("message") or {}
    u = r.get("usage") or {}
    check(r.get("object") == "chat.completion" and r.get("id", "").startswith("chatcmpl-") and
          isinstance(r.get("created"), int) and r.get("model") == model, f"chat head: {r}")
    check(c.get("index") == 0 and m.get("role") == "assistant" and
          isinstance(m.get("content"), str), f"chat message: {c}")
    check(c.get("finish_reason") in ("stop", "length"), f"finish_reason {c.get('finish_reason')}")
    check(u.get("total_tokens") == u.get("prompt_tokens", 0) + u.get("completion_tokens", 0) and
          0 < u.get("prompt_tokens", 0) and u.get("completion_tokens", 99) <= 12, f"usage: {u}")
    if c.get("finish_reason") == "length":
        check(u.get("completion_tokens") == 12, f"length but {u.get('completion_tokens')} tokens")
    n_prompt = u.get("prompt_tokens", 0)

    # the same request again is routed to the slot holding its prefix
    st, _, data = curl(port, "/v1/chat/completions", chat)
    r2 = js(data) or {}
    cached = ((r2.get("usage") or {}).get("prompt_tokens_details") or {}).get("cached_tokens")
    check(st == 200 and cached == n_prompt - 1,
          f"prefix reuse: cached_tokens {cached}, expected {n_prompt - 1}")
    st, _, data = curl(port, "/v1/chat/completions", chat)
    r3 = js(data) or {}
    text3 = r3["choices"][0]["message"]["content"] if st == 200 else None
    check(text3 == r2["choices"][0]["message"]["content"], "same seed, different text")
    # a new user turn after the same system prompt reuses the system part
    chat_b = dict(chat, messages=chat["messages"][:2])
    st, _, data = curl(port, "/v1/chat/completions", chat_b)
    cached_b = ((js(data) or {}).get("usage", {}).get("prompt_tokens_details") or {}).get(
        "cached_tokens", 0)
    check(st == 200 and cached_b >= 40, f"shared system prompt reused: cached {cached_b}")

    # chat, streamed: frames, [DONE] last, the same text as non-streamed
    st, hd, data = curl(port, "/v1/chat/completions",
                        dict(chat, stream=True, stream_options={"include_usage": True}))
    check(st == 200 and hd.get("content-type", "").startswith("text/event-stream"),
          f"stream: {st} {hd}")
    frames = sse_frames(data)
    check(frames and frames[-1] == "[DONE]", f"stream does not end with [DONE]: {frames[-2:]}")
    chunks = [js(f) for f in frames[:-1]]
    check(all(ch is not None for ch in chunks), "a stream frame is not JSON")
    chunks = [ch for ch in chunks if ch]
    check(all(ch.get("object") == "chat.completion.chunk" for ch in chunks) and
          len({ch.get("id") for ch in chunks}) == 1, "chunk objects / ids")
    check(chunks and chunks[0]["choices"][0]["delta"].get("role") == "assistant",
          "first delta has no role")
    with_choice = [ch for ch in chunks if ch["choices"]]
    finishes = [ch["choices"][0]["finish_reason"] for ch in with_choice]
    check(finishes[-1] in ("stop", "length") and all(f is None for f in finishes[:-1]),
          f"finish_reason in stream: {finishes}")
    text = "".join(ch["choices"][0]["delta"].get("content") or "" for ch in with_choice)
    check(text == text3, f"streamed text {text!r} != non-streamed {text3!r}")
    usage = chunks[-1].get("usage") if chunks else None
    check(chunks and chunks[-1]["choices"] == [] and usage and
          usage["completion_tokens"] == r3["usage"]["completion_tokens"], f"usage chunk: {usage}")

    # completions: default 16 tokens, streamed text equals non-streamed
    comp = {"model": model, "prompt": "Once upon a time", "temperature": 0}
    st, _, data = curl(port, "/v1/completions", comp)
    st2, _, data2 = curl(port, "/v1/completions", comp)
    c1, c2 = js(data) or {}, js(data2) or {}
    check(st == 200 and c1.get("object") == "text_completion" and
          c1.get("id", "").startswith("cmpl-"), f"completions: {st} {data!r}")
    check(c1.get("usage", {}).get("completion_tokens", 99) <= 16, "completions default max_tokens")
    ctext = c2["choices"][0]["text"] if st2 == 200 else ""
    st, _, data = curl(port, "/v1/completions", dict(comp, stream=True))
    frames = sse_frames(data)
    check(st == 200 and frames and frames[-1] == "[DONE]", "completions stream")
    parts = [js(f) for f in frames[:-1]]
    check(all(p and p.get("object") == "text_completion" for p in parts), "completion chunks")
    stext = "".join(p["choices"][0]["text"] for p in parts if p and p["choices"])
    check(stext == ctext, f"streamed completion {stext!r} != {ctext!r}")

    # stop strings: the text ends before the first occurrence
    at = next((i for i in range(1, len(ctext)) if ctext[i].isascii() and ctext[i].isalnum()), -1)
    if check(at > 0, f"no ASCII character to stop at in {ctext!r}"):
        stop = ctext[at]
        st, _, data = curl(port, "/v1/completions", dict(comp, stop=[stop, "\u00a7never"]))
        sc = (js(data) or {}).get("choices", [{}])[0]
        check(sc.get("text") == ctext[:ctext.index(stop)] and sc.get("finish_reason") == "stop",
              f"stop {stop!r}: {sc} (full text {ctext!r})")

    # 400s name the field
    st, _, data = curl(port, "/v1/chat/completions", b'{"messages": [')
    e = expect_error(st, data, 400, None, "bad JSON")
    check("not valid JSON" in e.get("message", ""), f"bad JSON message: {e}")
    bad = [({"messages": chat["messages"], "temperature": "hot"}, "temperature"),
           ({"model": model}, "messages"),
           ({"messages": "hi"}, "messages"),
           ({"messages": [{"role": "wizard", "content": "x"}]}, "messages"),
           ({"messages": chat["messages"], "max_tokens": -1}, "max_tokens"),
           ({"messages": chat["messages"], "stop": ["a", "b", "c", "d", "e"]}, "stop"),
           ({"messages": chat["messages"], "n": 2}, "n"),
           ({"messages": chat["messages"], "stream": "yes"}, "stream"),
           ({"messages": chat["messages"], "tool_choice": "required"}, "tool_choice"),
           ({"messages": chat["messages"], "response_format": {"type": "xml"}},
            "response_format")]
    for body, field in bad:
        st, _, data = curl(port, "/v1/chat/completions", body)
        expect_error(st, data, 400, field, f"400 for {field}")
    st, _, data = curl(port, "/v1/completions", {"prompt": "word " * 700})
    e = expect_error(st, data, 400, "prompt", "prompt longer than the context")
    check("context" in e.get("message", ""), f"context message: {e}")

    # 404, 405
    st, _, data = curl(port, "/v1/embeddings", {"input": "x"})
    expect_error(st, data, 404, None, "unknown path")
    st, hd, data = curl(port, "/v1/chat/completions")
    expect_error(st, data, 405, None, "GET on a POST endpoint")
    check(hd.get("allow") == "POST", f"405 Allow header: {hd.get('allow')}")

    # 413: declared length, and a chunked body that grows past the limit
    big = json.dumps({"prompt": "x" * (1100 * 1024)}).encode()
    st, _, data = curl(port, "/v1/completions", big)
    expect_error(st, data, 413, None, "413 (Content-Length)")
    st, _, data = curl(port, "/v1/completions", big, headers=["Transfer-Encoding: chunked"])
    expect_error(st, data, 413, None, "413 (chunked)")

    # concurrent requests all served (2 slots, the rest wait in the queue)
    procs = []
    for i in range(6):
        body = os.path.join(TMP, f"conc{i}.json")
        with open(body, "w") as f:
            json.dump(dict(chat, seed=i, max_tokens=8), f)
        procs.append(subprocess.Popen(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H",
             f"Authorization: Bearer {KEY}", "--data-binary", "@" + body,
             f"http://127.0.0.1:{port}/v1/chat/completions"], stdout=subprocess.PIPE, text=True))
    codes = [p.communicate()[0] for p in procs]
    check(codes == ["200"] * 6, f"concurrent requests: {codes}")
    check(health(port).get("status") == "ok", "health after the error paths")

    # --- server A: one slot, one waiting place, a long context
    srv_a, pa = start_server("--slots", "1", "--max-queue", "1", "--ctx", "8192")
    long_req = {"messages": [{"role": "user", "content": "Tell me everything."}],
                "max_tokens": 6000, "ignore_eos": True, "stream": True, "seed": 3}

    def stream_bg(name):
        body = os.path.join(TMP, name + ".json")
        with open(body, "w") as f:
            json.dump(long_req, f)
        out = os.path.join(TMP, name + ".sse")
        p = subprocess.Popen(["curl", "-sS", "-N", "-o", out, "--data-binary", "@" + body,
                              f"http://127.0.0.1:{pa}/v1/chat/completions"])
        return p, out

    def wait_for(cond, limit):
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            if cond():
                return True
            time.sleep(0.05)
        return False

    def frames_in(path):
        return open(path, "rb").read().count(b"data: ") if os.path.exists(path) else 0

    s1, out1 = stream_bg("s1")
    check(wait_for(lambda: frames_in(out1) >= 3, 30 * SLOW), "long stream produced no tokens")
    s2, out2 = stream_bg("s2")
    check(wait_for(lambda: health(pa).get("queued") == 1, 10 * SLOW), "second request not queued")
    st, hd, data = curl(pa, "/v1/chat/completions", dict(long_req, stream=False, max_tokens=4))
    e = expect_error(st, data, 429, None, "429 beyond --max-queue")
    check(hd.get("retry-after", "").isdigit(), f"429 without Retry-After: {hd}")
    check(e.get("type") == "rate_limit_error", f"429 type: {e}")

    # disconnects: the queued client leaves, then the running one
    s2.kill()
    s2.wait()
    time.sleep(0.3)
    s1.kill()
    s1.wait()
    t0 = time.monotonic()
    freed = wait_for(lambda: (lambda hh: hh.get("slots_busy") == 0 and hh.get("queued") == 0)(
        health(pa)), 60 * SLOW)
    took = time.monotonic() - t0
    print(f"slot freed {took:.3f} s after the disconnect", flush=True)
    check(freed and took < 3 * SLOW, f"slot freed {took:.2f} s after the client disconnected")
    check(b"[DONE]" not in open(out1, "rb").read(), "the killed stream ran to its end")
    st, _, data = curl(pa, "/v1/chat/completions", dict(long_req, stream=False, max_tokens=4))
    check(st == 200 and (js(data) or {}).get("usage", {}).get("completion_tokens") == 4,
          f"request after the disconnect: {st} {data[:200]!r}")

    # SIGTERM: a running stream is ended cleanly, the server exits 0
    s4, out4 = stream_bg("s4")
    check(wait_for(lambda: frames_in(out4) >= 3, 30 * SLOW), "stream before SIGTERM")
    srv_a.send_signal(signal.SIGTERM)
    try:
        rc = srv_a.wait(timeout=20 * SLOW)
    except subprocess.TimeoutExpired:
        rc = None
    check(rc == 0, f"server exit after SIGTERM: {rc}")
    check(s4.wait(timeout=20 * SLOW) == 0, "curl saw the stream cut off by SIGTERM "
          f"(exit {s4.returncode}), not a complete response")
    tail = open(out4, "rb").read()[-200:]
    check(tail.endswith(b"data: [DONE]\n\n"), f"stream cut by SIGTERM ends {tail[-60:]!r}")

    srv.send_signal(signal.SIGINT)
    check(srv.wait(timeout=20 * SLOW) == 0, "server exit after SIGINT")


try:
    main()
finally:
    for p in servers:
        if p.poll() is None:
            p.kill()
            p.wait()
    if not failures:
        shutil.rmtree(TMP, ignore_errors=True)
if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("serve curl: all checks passed")
