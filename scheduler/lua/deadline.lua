-- deadline.lua - jobs past budget.wall_time_s: every unfinished task fails.
-- ARGV[3] max jobs. Returns {job, task, attempt, worker, ...} for the tasks that
-- were leased or running (their workers should stop them).
local out = {}
for _, j in ipairs(redis.call('ZRANGEBYSCORE', P .. 'deadlines', '-inf', NOW, 'LIMIT', 0,
                              tonumber(ARGV[3]))) do
  redis.call('ZREM', P .. 'deadlines', j)
  if redis.call('HGET', jkey(j), 'state') == 'running' then
    for _, t in ipairs(redis.call('LRANGE', tlist(j), 0, -1)) do
      local tk = tkey(j, t)
      local h = redis.call('HMGET', tk, 'state', 'attempt', 'worker')
      if h[1] and not TERMINAL[h[1]] then
        if h[1] == 'leased' or h[1] == 'running' then
          out[#out + 1] = j; out[#out + 1] = t; out[#out + 1] = h[2]; out[#out + 1] = h[3]
        end
        local m = member(j, t)
        ready_rem(j, t)
        redis.call('ZREM', P .. 'leased', m)
        redis.call('HSET', tk, 'state', 'failed', 'error', 'budget.wall_time_s exceeded',
                   'lease_until', 0)
        move(j, h[1], 'failed')
        event(j, 'task_failed', t, tonumber(h[2] or '0'), {'error', 'budget.wall_time_s exceeded'})
      end
    end
    event(j, 'job_deadline')
    maybe_finish(j)
  end
end
return out
