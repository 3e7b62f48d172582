-- deadline.lua - jobs past budget.wall_time_s: every unfinished task fails.
-- ARGV[3] max jobs. Returns {job, task, attempt, worker, ...} for the tasks that
-- were leased or running (their workers should stop them).
local out = {}
for _, j in ipairs(redis.call('ZRANGEBYSCORE', P .. 'deadlines', '-inf', NOW, 'LIMIT', 0,
                              tonumber(ARGV[3]))) do
  redis.call('ZREM', P .. 'deadlines', j)
  if redis.call('HGET', jkey(j), 'state') == 'running' then
    local ts = redis.call('LRANGE', tlist(j), 0, -1)
    -- rows read by one HMGET and written by one HSET (rows_flush)
    BATCH = true
    rows_load(j, ts)
    for _, t in ipairs(ts) do
      local r = row_get(j, t)
      local h = {r.s, r.a, r.w}
      if not TERMINAL[h[1]] then
        if h[1] == 'leased' or h[1] == 'running' then
          out[#out + 1] = j; out[#out + 1] = t; out[#out + 1] = h[2]; out[#out + 1] = h[3]
        end
        local m = member(j, t)
        ready_rem(j, t)
        redis.call('ZREM', P .. 'leased', m)
        cold_set(j, t, 'error', 'budget.wall_time_s exceeded')
        r.s = 'failed'
        row_set(j, t, r)
        move(j, h[1], 'failed')
        event(j, 'task_failed', t, tonumber(h[2] or '0'), {'error', 'budget.wall_time_s exceeded'})
      end
    end
    rows_flush()
    event(j, 'job_deadline')
    maybe_finish(j)
  end
end
return out
