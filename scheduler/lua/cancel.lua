-- cancel.lua - cancel every non-terminal task of a job; the job goes to merging.
-- ARGV[3] job. Returns {state} when the job was not running (nothing done), else
-- {'ok', task, attempt, worker, ...} for the tasks that were leased or running.
local j = ARGV[3]
local st = redis.call('HGET', jkey(j), 'state')
if not st then return redis.error_reply('unknown job ' .. j) end
if st ~= 'running' then return {st} end
local out = {'ok'}
for _, t in ipairs(redis.call('LRANGE', tlist(j), 0, -1)) do
  local tk = tkey(j, t)
  local h = redis.call('HMGET', tk, 'state', 'attempt', 'worker')
  if h[1] and not TERMINAL[h[1]] then
    if h[1] == 'leased' or h[1] == 'running' then
      out[#out + 1] = t; out[#out + 1] = h[2]; out[#out + 1] = h[3]
    end
    local m = member(j, t)
    ready_rem(j, t)
    redis.call('ZREM', P .. 'leased', m)
    redis.call('HSET', tk, 'state', 'cancelled', 'lease_until', 0)
    move(j, h[1], 'cancelled')
  end
end
redis.call('HSET', jkey(j), 'cancel_requested', 1)
event(j, 'job_cancel')
maybe_finish(j)
return out
