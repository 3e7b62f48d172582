-- heartbeat.lua - extend the leases a live worker still holds.
-- ARGV[3] lease ms, then per task: job, task, attempt. Returns how many matched.
local lu = NOW + tonumber(ARGV[3])
local n = 0
for i = 4, #ARGV - 2, 3 do
  local j, t, attempt = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local h = redis.call('HMGET', tkey(j, t), 'state', 'attempt')
  if (h[1] == 'leased' or h[1] == 'running') and tonumber(h[2]) == attempt then
    redis.call('HSET', tkey(j, t), 'lease_until', lu)
    redis.call('ZADD', P .. 'leased', lu, member(j, t))
    n = n + 1
  end
end
return n
