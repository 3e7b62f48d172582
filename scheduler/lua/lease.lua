-- lease.lua - hand ready tasks (ready_at <= now) to workers, one per slot.
-- ARGV[3] lease ms, then per slot to fill: worker id, fencing token (random,
-- decimal string: kept as a string, 64 bits do not fit a Lua number), incarnation.
-- Returns per task {job, task, attempt, worker, goal, instructions, input,
-- max_tokens, temperature, seed, lease_until, token, agent, checkpoint} (agent: the job's
-- agent spec JSON or ''; checkpoint: the task's last agent checkpoint or '').
local lease_ms = tonumber(ARGV[3])
local want = (#ARGV - 3) / 3
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
        local w, tok, inc = ARGV[1 + 3 * k], ARGV[2 + 3 * k], ARGV[3 + 3 * k]
        local attempt = redis.call('HINCRBY', tk, 'attempt', 1)
        local lu = NOW + lease_ms
        redis.call('HSET', tk, 'state', 'leased', 'worker', w, 'lease_until', lu, 'token', tok,
                   'inc', inc)
        redis.call('ZADD', P .. 'leased', lu, m)
        move(j, 'ready', 'leased')
        event(j, 'task_leased', t, attempt, {'worker', w})
        local jh = redis.call('HMGET', jkey(j), 'goal', 'max_tokens', 'temperature', 'seed',
                              'agent')
        local th = redis.call('HMGET', tk, 'instructions', 'input', 'ckpt')
        out[#out + 1] = {j, t, attempt, w, jh[1] or '', th[1] or '', th[2] or '',
                         jh[2] or '0', jh[3] or '0', jh[4] or '0', lu, tok, jh[5] or '',
                         th[3] or ''}
        k = k + 1
      end
    end
  end
end
return out
