-- release.lua - a worker came back as a new process (another incarnation): the
-- leases its predecessor held are lost now, not when they expire.
-- ARGV[3] worker id, [4] its new incarnation. Returns how many were released.
-- Scans the leased set, which holds at most one entry per busy slot.
local w, inc = ARGV[3], ARGV[4]
local n = 0
for _, m in ipairs(redis.call('ZRANGE', P .. 'leased', 0, -1)) do
  local j, t = split(m)
  if j then
    local r = row_get(j, t)
    local h = {r.s, r.a, r.w, r.i}
    if (h[1] == 'leased' or h[1] == 'running') and h[3] == w and h[4] ~= inc then
      retry_or_fail(j, t, tonumber(h[2]), 'worker ' .. w .. ' restarted')
      n = n + 1
    end
  end
end
return n
