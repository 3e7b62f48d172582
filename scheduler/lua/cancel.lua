-- cancel.lua - cancel every non-terminal task of a job; the job goes to merging.
-- ARGV[3] job, [4] most tasks to visit in this call (a 1M-task job is cancelled
-- in several calls, so Redis and the client are never blocked for long).
-- Returns {state} when the job was not running (nothing done), else {'ok' | 'more',
-- task, attempt, worker, ...} for the tasks that were leased or running; 'more'
-- means call again (the job already reads as cancelled and leases nothing).
-- With ARGV[5] a task id, only that task is cancelled (`swarm cancel JOB TASK`):
-- {'task', its state before, attempt, worker} (stop it when leased/running),
-- {'ended', state} when it had already ended (nothing changed), an error for an
-- unknown task. The job runs on; it ends cancelled once everything has ended.
local j = ARGV[3]
local st = redis.call('HGET', jkey(j), 'state')
if not st then return redis.error_reply('unknown job ' .. j) end
if st ~= 'running' then return {st} end
local jk = jkey(j)
local one = ARGV[5]
if one and one ~= '' then
  local r = row_get(j, one)
  if not task_exists(j, one, r) then return redis.error_reply('unknown task ' .. one .. ' in job ' .. j) end
  local h = {r.s, r.a, r.w}
  if TERMINAL[h[1]] then return {'ended', h[1]} end
  ready_rem(j, one)
  redis.call('ZREM', P .. 'leased', member(j, one))
  r.s = 'cancelled'
  row_set(j, one, r)
  move(j, h[1], 'cancelled')
  event(j, 'task_cancelled', one, h[2])
  -- its dependants can never start: skipped, like a failed dependency's
  dag_skip(j, one, 'cancelled')
  maybe_finish(j)
  return {'task', h[1], h[2], h[3]}
end
if redis.call('HSETNX', jk, 'cancel_requested', 1) == 1 then
  -- first call: nothing of this job is leased from now on
  redis.call('DEL', jk .. ':ready')
  if redis.call('SREM', P .. 'rrset', j) == 1 then redis.call('LREM', P .. 'rr', 0, j) end
  redis.call('HSET', jk, 'cancel_pos', 0)
  event(j, 'job_cancel')
end
local from = tonumber(redis.call('HGET', jk, 'cancel_pos') or '0')
local max = tonumber(ARGV[4] or '0')
if not max or max <= 0 then max = 20000 end
local ts = redis.call('LRANGE', tlist(j), from, from + max - 1)
local out = {'ok'}
-- rows read and written by one HMGET and one HSET per page
BATCH = true
rows_load(j, ts)
for _, t in ipairs(ts) do
  local r = ROWS[j][t]
  if not TERMINAL[r.s] then
    if r.s == 'leased' or r.s == 'running' then
      out[#out + 1] = t; out[#out + 1] = r.a; out[#out + 1] = r.w
    end
    local m = member(j, t)
    ready_rem(j, t)
    redis.call('ZREM', P .. 'leased', m)
    move(j, r.s, 'cancelled')
    r.s = 'cancelled'
    row_set(j, t, r)
  end
end
rows_flush()
redis.call('HSET', jk, 'cancel_pos', from + #ts)
if #ts == max and redis.call('LLEN', tlist(j)) > from + #ts then
  out[1] = 'more'
  return out
end
maybe_finish(j)
return out
