-- fail.lua - attempts lost with their worker (dead, gone, unreachable).
-- ARGV[3] reason, [4] forgive (1: lost to a quarantined worker, the attempt does
-- not count), then per task: job, task, attempt. Returns how many were requeued or failed.
local n = 0
local forgive = ARGV[4] == '1'
for i = 5, #ARGV - 2, 3 do
  local j, t, attempt = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local r = row_get(j, t)
  local h = {r.s, r.a}
  if (h[1] == 'leased' or h[1] == 'running') and tonumber(h[2]) == attempt then
    retry_or_fail(j, t, attempt, ARGV[3], forgive)
    n = n + 1
  end
end
return n
