-- progress.lua - a worker reports progress: leased -> running, lease extended.
-- ARGV[3] job, [4] task, [5] attempt, [6] token, [7] worker (sender), [8] tokens,
-- [9] lease ms, [10] text tail. Returns ok | stale | unknown | forged.
local j, t, attempt = ARGV[3], ARGV[4], tonumber(ARGV[5])
local tk = tkey(j, t)
local h = redis.call('HMGET', tk, 'state', 'attempt', 'token', 'worker')
if not h[1] then return 'unknown' end
if tonumber(h[2]) ~= attempt or (h[1] ~= 'leased' and h[1] ~= 'running') then return 'stale' end
if h[3] ~= ARGV[6] or h[4] ~= ARGV[7] then return 'forged' end
local lu = NOW + tonumber(ARGV[9])
if h[1] == 'leased' then
  redis.call('HSET', tk, 'state', 'running')
  move(j, 'leased', 'running')
  event(j, 'task_running', t, attempt)
end
redis.call('HSET', tk, 'tokens', ARGV[8], 'lease_until', lu, 'tail', ARGV[10])
redis.call('ZADD', P .. 'leased', lu, member(j, t))
return 'ok'
