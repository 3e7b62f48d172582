-- progress.lua - a worker reports progress: leased -> running, lease extended.
-- ARGV[3] job, [4] task, [5] attempt, [6] tokens, [7] lease ms, [8] text tail.
local j, t, attempt = ARGV[3], ARGV[4], tonumber(ARGV[5])
local tk = tkey(j, t)
local h = redis.call('HMGET', tk, 'state', 'attempt')
if not h[1] then return 'unknown' end
if tonumber(h[2]) ~= attempt or (h[1] ~= 'leased' and h[1] ~= 'running') then return 'stale' end
local lu = NOW + tonumber(ARGV[7])
if h[1] == 'leased' then
  redis.call('HSET', tk, 'state', 'running')
  move(j, 'leased', 'running')
  event(j, 'task_running', t, attempt)
end
redis.call('HSET', tk, 'tokens', ARGV[6], 'lease_until', lu, 'tail', ARGV[8])
redis.call('ZADD', P .. 'leased', lu, member(j, t))
return 'ok'
