-- expire.lua - leases past lease_until go back to ready (or failed).
-- ARGV[3] max tasks to expire in one call. Returns how many expired.
local ms = redis.call('ZRANGEBYSCORE', P .. 'leased', '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[3]))
local n = 0
for _, m in ipairs(ms) do
  local j, t = split(m)
  local h = {}
  if j then
    local r = row_get(j, t)
    h = {r.s, r.a}
  end
  if h[1] == 'leased' or h[1] == 'running' then
    retry_or_fail(j, t, tonumber(h[2]), 'lease expired')
    n = n + 1
  else
    redis.call('ZREM', P .. 'leased', m)
  end
end
return n
