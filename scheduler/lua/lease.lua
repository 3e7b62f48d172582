-- lease.lua - hand ready tasks (ready_at <= now) to workers, one per slot.
-- ARGV[3] lease ms, ARGV[4..] one worker id per slot to fill.
-- Returns per task {job, task, attempt, worker, goal, instructions, input,
-- max_tokens, temperature, seed, lease_until}.
local lease_ms = tonumber(ARGV[3])
local want = #ARGV - 3
local out = {}
local k = 1
while k <= want do
  local ms = redis.call('ZRANGEBYSCORE', P .. 'ready', '-inf', NOW, 'LIMIT', 0, want - k + 1)
  if #ms == 0 then break end
  for _, m in ipairs(ms) do
    redis.call('ZREM', P .. 'ready', m)
    local j, t = split(m)
    if j then
      local tk = tkey(j, t)
      if redis.call('HGET', tk, 'state') == 'ready' then
        local w = ARGV[3 + k]
        local attempt = redis.call('HINCRBY', tk, 'attempt', 1)
        local lu = NOW + lease_ms
        redis.call('HSET', tk, 'state', 'leased', 'worker', w, 'lease_until', lu)
        redis.call('ZADD', P .. 'leased', lu, m)
        move(j, 'ready', 'leased')
        event(j, 'task_leased', t, attempt, {'worker', w})
        local jh = redis.call('HMGET', jkey(j), 'goal', 'max_tokens', 'temperature', 'seed')
        local th = redis.call('HMGET', tk, 'instructions', 'input')
        out[#out + 1] = {j, t, attempt, w, jh[1] or '', th[1] or '', th[2] or '',
                         jh[2] or '0', jh[3] or '0', jh[4] or '0', lu}
        k = k + 1
      end
    end
  end
end
return out
