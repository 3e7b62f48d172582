-- retry.lua - `swarm retry`: re-run the failed sub-tasks of a failed job.
-- ARGV[3] job. Each failed task goes back to ready now (its attempt count is
-- kept, so it gets one more attempt however many it used), the job back to
-- running with its old result dropped and its wall-time budget counted
-- again from now. Returns {state} when the job is not failed (nothing done:
-- a running job is still trying, a done one has nothing to re-run, a
-- cancelled one was stopped on purpose), else {'ok', n} with n re-queued.
local j = ARGV[3]
local st = redis.call('HGET', jkey(j), 'state')
if not st then return redis.error_reply('unknown job ' .. j) end
if st ~= 'failed' then return {st} end
local n = 0
local ts = redis.call('LRANGE', tlist(j), 0, -1)
rows_load(j, ts)
for _, t in ipairs(ts) do
  local r = row_get(j, t)
  if r.s == 'failed' then
    cold_set(j, t, 'ready_at', NOW)
    r.s = 'ready'
    row_set(j, t, r)
    redis.call('ZADD', P .. 'ready', NOW, member(j, t))
    move(j, 'failed', 'ready')
    event(j, 'task_retry', t, tonumber(r.a), {'error', 'swarm retry'})
    n = n + 1
  end
end
-- DAG: tasks skipped because a dependency failed wait again for it
for _, t in ipairs(ts) do
  local r = row_get(j, t)
  if r.s == 'skipped' then
    local waiting = 0
    for _, d in ipairs(csv(cold_get(j, t, 'deps')[1])) do
      if row_get(j, d).s ~= 'done' then waiting = waiting + 1 end
    end
    cold_set(j, t, 'waiting', waiting, 'error', '')
    r.s = 'pending'
    row_set(j, t, r)
    move(j, 'skipped', 'pending')
    event(j, 'task_pending', t, nil, {'error', 'swarm retry'})
  end
end
redis.call('DEL', jkey(j) .. ':result')
redis.call('HDEL', jkey(j), 'result')
redis.call('HSET', jkey(j), 'state', 'running', 'finished_ms', 0)
local wall = tonumber(redis.call('HGET', jkey(j), 'wall_time_s') or '0')
if wall and wall > 0 then redis.call('ZADD', P .. 'deadlines', NOW + wall * 1000, j) end
event(j, 'job_retry', nil, nil, {'tasks', n})
return {'ok', n}
