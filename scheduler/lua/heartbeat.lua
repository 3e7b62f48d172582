-- heartbeat.lua - extend the leases a live worker still holds.
-- ARGV[3] lease ms, [4] worker (the sender), then per task: job, task, attempt, token.
-- Returns how many matched (only leases this worker holds, with their tokens).
local lu = NOW + tonumber(ARGV[3])
local n = 0
for i = 5, #ARGV - 3, 4 do
  local j, t, attempt = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local r = row_get(j, t)
  local h = {r.s, r.a, r.k, r.w}
  if (h[1] == 'leased' or h[1] == 'running') and tonumber(h[2]) == attempt and
     h[3] == ARGV[i + 3] and h[4] == ARGV[4] then
    redis.call('ZADD', P .. 'leased', lu, member(j, t))
    n = n + 1
  end
end
return n
