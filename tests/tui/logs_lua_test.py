#!/usr/bin/env python3
"""logs_lua_test.py - scheduler/lua/logs.lua against a real redis-server.

The script behind `swarm logs` and `swarm top` pages a job's event and audit
streams, its agents' transcripts and the running tasks after a cursor. Here
its pages are walked with small limits, so the paging paths a big job takes
(many pages, task filters that skip most entries, the byte cap, trimmed
streams, a huge transcript line) run on a few keys: every entry must come
back exactly once and in order, and a cursor at the end must stay put.

usage: logs_lua_test.py SOURCE_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from resp import Redis, RedisError  # noqa: E402
from swarmtest import Fail, check  # noqa: E402


P = "t:"


def logs(r, script, kind, job, task="", after="", limit=500, maxbytes=1 << 20):
    rep = r.call("EVAL", script, 0, P, int(time.time() * 1000), kind, job, task, after, limit,
                 maxbytes)
    if isinstance(rep, RedisError):
        return rep
    state, nxt, more, trimmed, first = rep[:5]
    entries = [(e[0], e[1], dict(zip(e[2::2], e[3::2]))) for e in rep[5:]]
    return {"state": state, "next": nxt, "more": int(more), "trimmed": int(trimmed),
            "first": first, "entries": entries}


def walk(r, script, kind, job, task="", limit=3, maxbytes=1 << 20, max_calls=1000):
    """Every entry after the start, page by page; the cursor must settle."""
    got, after, calls = [], "", 0
    while True:
        pg = logs(r, script, kind, job, task, after, limit, maxbytes)
        check(not isinstance(pg, RedisError), "logs.lua: %s" % pg)
        check(len(pg["entries"]) <= limit, "page of %d entries over limit %d" %
              (len(pg["entries"]), limit))
        got += pg["entries"]
        after = pg["next"]
        calls += 1
        check(calls < max_calls, "no end after %d pages" % calls)
        if not pg["more"]:
            break
    again = logs(r, script, kind, job, task, after, limit, maxbytes)
    check(not again["entries"] and again["next"] == after and not again["more"],
          "a finished cursor moved or found more: %s" % again)
    return got, calls


def run(src, tmp):
    lib = open(os.path.join(src, "scheduler", "lua", "lib.lua")).read()
    body = open(os.path.join(src, "scheduler", "lua", "logs.lua")).read()
    script = lib + "\n" + body  # as scheduler/embed_lua.cmake builds it
    sock = os.path.join(tmp, "redis.sock")
    srv = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
                            "--appendonly", "no"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        r = Redis(sock)
        j = "J1"
        r.call("HSET", P + "job:" + j, "state", "running")
        ev = P + "job:" + j + ":events"
        ids = []
        for i in range(40):
            t = "t%04d" % (i % 3) if i % 7 else None
            args = ["ts", 1000 + i, "event", "e%d" % i] + (["task", t] if t else [])
            ids.append((r.call("XADD", ev, "*", *args), t or ""))
        # a plain walk: every entry once, in order, with its task
        got, calls = walk(r, script, "events", j, limit=7)
        check([(e[0], e[1]) for e in got] == ids, "events walk differs from the stream")
        check(calls >= 6, "40 entries in pages of 7 took %d calls" % calls)
        check(got[5][2] == {"ts": "1005", "event": "e5", "task": "t0002"},
              "fields of an entry: %s" % (got[5][2],))
        # a task filter: only that task, all of it
        want = [e for e in ids if e[1] == "t0001"]
        got, _ = walk(r, script, "events", j, task="t0001", limit=2)
        check([(e[0], e[1]) for e in got] == want, "filtered walk differs")
        # a filter that skips most entries: bounded scans, still every match
        for i in range(200):
            r.call("XADD", ev, "*", "ts", 5000 + i, "event", "noise", "task", "t0000")
        last = r.call("XADD", ev, "*", "ts", 9999, "event", "rare", "task", "t0009")
        pg = logs(r, script, "events", j, task="t0009", after=ids[-1][0], limit=2)
        check(pg["more"] == 1 and not pg["entries"], "a scan cap page: %s" % pg)
        got, calls = walk(r, script, "events", j, task="t0009", limit=2)
        check([e[0] for e in got] == [last] and calls > 2, "rare entry: %s in %d calls" %
              (got, calls))
        # the byte cap: one entry per page when each is larger than the cap
        got, calls = walk(r, script, "events", j, limit=50, maxbytes=5)
        check(len(got) == 241 and calls >= 241, "byte-capped walk: %d entries, %d calls" %
              (len(got), calls))
        # a trimmed stream: the count of dropped entries and the oldest id left
        r.call("XTRIM", ev, "MAXLEN", 10)
        pg = logs(r, script, "events", j, limit=500)
        left = r.call("XRANGE", ev, "-", "+")
        check(pg["trimmed"] == 231 and pg["first"] == left[0][0] and
              [e[0] for e in pg["entries"]] == [x[0] for x in left],
              "trimmed stream: trimmed %d first %s" % (pg["trimmed"], pg["first"]))
        # audit: the same paging over the audit stream
        au = P + "job:" + j + ":audit"
        aids = [r.call("XADD", au, "*", "task", "t%04d" % (i % 2), "record",
                       json.dumps({"tool": "read_file", "step": i})) for i in range(9)]
        got, _ = walk(r, script, "audit", j, limit=4)
        check([e[0] for e in got] == aids and json.loads(got[3][2]["record"])["step"] == 3,
              "audit walk")
        # transcripts: job-wide in task order, and per task by line index
        r.call("RPUSH", P + "job:" + j + ":tasks", "t0000", "t0001", "t0002", "t0003")
        lines = {"t0000": 5, "t0001": 0, "t0002": 3, "t0003": 1}
        want = []
        for t, n in lines.items():
            for k in range(n):
                rec = json.dumps({"task_id": t, "step": k + 1, "content": "x" * 20})
                r.call("RPUSH", P + "job:%s:task:%s:transcript" % (j, t), rec)
                want.append(("%s:%d" % (t, k), t, rec))
        got, _ = walk(r, script, "transcript", j, limit=2)
        check([(e[0], e[1], e[2]["record"]) for e in got] == want, "transcript walk: %s" %
              [e[0] for e in got])
        got, _ = walk(r, script, "transcript", j, limit=3, maxbytes=10)
        check([e[0] for e in got] == [w[0] for w in want], "byte-capped transcript walk")
        got, _ = walk(r, script, "transcript", j, task="t0000", limit=2)
        check([e[0] for e in got] == ["t0000:%d" % k for k in range(5)], "one task's lines")
        pg = logs(r, script, "transcript", j, task="t0000", after="3", limit=10)
        check([e[0] for e in pg["entries"]] == ["t0000:3", "t0000:4"] and pg["next"] == "5",
              "per-task cursor: %s" % pg)
        # a line too large for a reply is replaced by a stub that says so
        r.call("RPUSH", P + "job:%s:task:t0003:transcript" % j, "y" * (2 * 1024 * 1024 + 10))
        pg = logs(r, script, "transcript", j, task="t0003", after="1")
        stub = json.loads(pg["entries"][0][2]["record"])
        check(stub.get("stub") is True and stub["bytes"] == 2 * 1024 * 1024 + 10, "stub %s" % stub)
        # live: leased and running tasks of this job (or every job) with their last step
        r.call("HSET", P + "job:J2", "state", "running")
        tk = P + "job:%s:task:t0002" % j
        # a task is a row across the job's columns (scheduler/lua/lib.lua): hot
        # state "state|attempt|token|inc|tokens|cold|worker", item, and cold fields
        # in its own hash (flag 1 in the row)
        r.call("HSET", P + "job:%s:st" % j, "t0002", "running|2|tok|1|77|1|w-3")
        r.call("HSET", P + "job:%s:item" % j, "t0002", "i2")
        r.call("HSET", tk, "tail", "abc\ndef", "steps", 3, "tool_calls", 2, "paused", "")
        r.call("RPUSH", tk + ":transcript", json.dumps(
            {"step": 4, "content": "", "tool_calls": [
                {"name": "grep", "observation": "a.c:3: match"}]}))
        r.call("HSET", P + "job:J2:st", "t0000", "leased|1|tok|1|0||w-1")
        r.call("ZADD", P + "leased", 1, j + "/t0002", 2, "J2/t0000")
        pg = logs(r, script, "live", j)
        check(len(pg["entries"]) == 1 and pg["state"] == "running", "live of J1: %s" % pg)
        f = pg["entries"][0][2]
        check(pg["entries"][0][0] == j + "/t0002" and f["job"] == j and f["tokens"] == "77" and
              f["worker"] == "w-3" and f["tool"] == "grep" and f["last_step"] == "4" and
              f["output"] == "a.c:3: match" and f["tail"] == "abc\ndef" and f["attempt"] == "2",
              "live fields: %s" % f)
        pg = logs(r, script, "live", "")
        check(sorted(e[0] for e in pg["entries"]) == ["J1/t0002", "J2/t0000"], "live of all")
        pg = logs(r, script, "live", "", limit=1)
        check(len(pg["entries"]) == 1 and pg["more"] == 1, "live over its limit: %s" % pg)
        # batched task events (lib.lua event_task/ev_flush): one stream entry per
        # script call and job, read back as the events one by one, in order,
        # each with its own increasing MS-SEQ id, the last one the entry's id
        j3 = "J3"
        r.call("HSET", P + "job:" + j3, "state", "running")
        body = lib + "\n" + """
local j = ARGV[3]
event(j, 'job_submitted', nil, nil, {'tasks', 7})
for i = 1, 7 do event_task(j, 'task_leased', string.format('t%04d', i), '1', 'worker', 'w-' .. i % 2) end
event(j, 'job_note')
for i = 1, 3 do
  event_task(j, 'task_done', string.format('t%04d', i), '1', 'worker', 'w-1', 'tokens', tostring(i))
end
event_task(j, 'task_leased', 't0009', '2', 'worker', 'w,odd')
event_task(j, 'task_leased', 't0008', '2', 'worker', 'w-1')
events_flush()
return 0
"""
        ev3 = P + "job:" + j3 + ":events"
        for _ in range(2):
            rep = r.call("EVAL", body, 0, P, int(time.time() * 1000), j3)
            check(not isinstance(rep, RedisError), "event batch script: %r" % rep)
        raw = r.call("XRANGE", ev3, "-", "+")
        # per call: job_submitted, a batch of 7, job_note, a batch of 3, t0009
        # alone (its worker holds the list separator) and t0008 alone
        check(len(raw) == 12, "stream entries for 2 x 13 events: %d" % len(raw))
        got, _ = walk(r, script, "events", j3, limit=3)
        kinds = [(e[2]["event"], e[1]) for e in got]
        want = []
        for _ in range(2):
            want += [("job_submitted", "")] + [("task_leased", "t%04d" % i) for i in range(1, 8)]
            want += [("job_note", "")] + [("task_done", "t%04d" % i) for i in range(1, 4)]
            want += [("task_leased", "t0009"), ("task_leased", "t0008")]
        check(kinds == want, "batched events read back: %s" % kinds)

        def idkey(i):
            ms, seq = i.split("-")
            return (int(ms), int(seq))
        keys = [idkey(e[0]) for e in got]
        check(keys == sorted(set(keys)), "event ids not increasing and unique: %s" %
              [e[0] for e in got])
        check(got[7][0] == raw[1][0] and got[11][0] == raw[3][0],
              "a batch's last event has the entry's id: %s %s" % (got[7][0], raw[1][0]))
        check(got[2][2] == {"ts": got[0][2]["ts"], "event": "task_leased", "task": "t0002",
                            "attempt": "1", "worker": "w-0"}, "fields of a leased event: %s" %
              (got[2][2],))
        check(got[10][2]["tokens"] == "2" and got[10][2]["worker"] == "w-1" and
              got[12][2]["worker"] == "w,odd", "fields of done events: %s" % (got[10][2],))
        # a cursor inside a batch: the next page starts right after it
        pg = logs(r, script, "events", j3, after=got[3][0], limit=2)
        check([e[0] for e in pg["entries"]] == [got[4][0], got[5][0]] and pg["more"] == 1,
              "page after a cursor inside a batch: %s" % pg)
        got2, _ = walk(r, script, "events", j3, task="t0002", limit=1)
        check([(e[2]["event"], e[0]) for e in got2] ==
              [(e[2]["event"], e[0]) for e in got if e[1] == "t0002"],
              "task filter over batches: %s" % got2)
        # trimmed to the last entries: first names the oldest event left
        r.call("XTRIM", ev3, "MAXLEN", 3)
        pg = logs(r, script, "events", j3, limit=500)
        check(pg["first"] == got[-5][0] and pg["entries"][0][0] == got[-5][0],
              "first event of a trimmed batched stream: %s vs %s" % (pg["first"], got[-5][0]))
        # refusals
        err = logs(r, script, "events", "nope")
        check(isinstance(err, RedisError) and "unknown job nope" in err, "unknown job: %r" % err)
        err = logs(r, script, "bogus", j)
        check(isinstance(err, RedisError) and "unknown log kind" in err, "bad kind: %r" % err)
        err = logs(r, script, "events", "")
        check(isinstance(err, RedisError) and "job id is needed" in err, "no job: %r" % err)
    finally:
        srv.terminate()
        srv.wait(timeout=10)
    return 0


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    if not shutil.which("redis-server"):
        print("FAIL: redis-server not found", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="swarm-logs-lua-", dir="/tmp")
    try:
        return run(os.path.abspath(sys.argv[1]), tmp)
    except Fail as e:
        print("FAIL: %s" % e, file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
