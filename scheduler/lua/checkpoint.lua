-- checkpoint.lua - an agent sub-task finished a step (or paused): keep its
-- transcript line and checkpoint, fenced like progress.lua.
-- ARGV[3] job, [4] task, [5] attempt, [6] token, [7] worker (sender), [8] step,
-- [9] tool_calls, [10] step record (JSON, '' when none), [11] checkpoint ('' keeps
-- the last), [12] paused reason ('' = running). Returns ok | stale | unknown | forged.
-- The transcript is a list P job:<id>:task:<tid>:transcript (one JSON line per
-- step, capped at 10000); a retried attempt resumes after the checkpoint's
-- step, so each step is pushed once. Each call's audit record in the step line
-- is appended to the job's audit stream P job:<id>:audit (capped ~100000):
-- fields task, record (agent, tool, argument digest, exit status, duration, bytes).
local j, t, attempt = ARGV[3], ARGV[4], tonumber(ARGV[5])
local tk = tkey(j, t)
local r = row_get(j, t)
if not task_exists(j, t, r) then return 'unknown' end
local h = {r.s, r.a, r.k, r.w}
if tonumber(h[2]) ~= attempt or (h[1] ~= 'leased' and h[1] ~= 'running') then return 'stale' end
if h[3] ~= ARGV[6] or h[4] ~= ARGV[7] then return 'forged' end
if ARGV[10] ~= '' then
  redis.call('RPUSH', tk .. ':transcript', ARGV[10])
  redis.call('LTRIM', tk .. ':transcript', -10000, -1)
  cold_set(j, t, 'steps', ARGV[8], 'tool_calls', ARGV[9])
  event(j, 'task_step', t, attempt, {'step', ARGV[8]})
  local ok, rec = pcall(cjson.decode, ARGV[10])
  if ok and type(rec) == 'table' and type(rec.tool_calls) == 'table' then
    for _, c in ipairs(rec.tool_calls) do
      if type(c) == 'table' and type(c.audit) == 'table' then
        redis.call('XADD', jkey(j) .. ':audit', 'MAXLEN', '~', 100000, '*', 'task', t, 'record',
                   cjson.encode(c.audit))
      end
    end
  end
end
if ARGV[11] ~= '' then cold_set(j, t, 'ckpt', ARGV[11]) end
if ARGV[12] ~= '' then
  if cold_get(j, t, 'paused')[1] ~= ARGV[12] then
    event(j, 'task_paused', t, attempt, {'reason', ARGV[12]})
  end
  cold_set(j, t, 'paused', ARGV[12])
elseif r.c == '1' then
  redis.call('HSET', tk, 'paused', '')
end
return 'ok'
