-- progress.lua - workers report progress: leased -> running, lease extended; many
-- per call (swarmd coalesces the Progress messages of a drain pass: one script
-- per batch, not per message). Per report 8 ARGV from ARGV[3]: job, task, attempt,
-- token, worker (sender), tokens, lease ms, text tail.
-- Returns per report ok | stale | unknown | forged.
local function progress_one(b)
  local j, t, attempt = ARGV[b], ARGV[b + 1], tonumber(ARGV[b + 2])
  local r = row_get(j, t)
  if not task_exists(j, t, r) then return 'unknown' end
  local h = {r.s, r.a, r.k, r.w}
  if tonumber(h[2]) ~= attempt or (h[1] ~= 'leased' and h[1] ~= 'running') then return 'stale' end
  if h[3] ~= ARGV[b + 3] or h[4] ~= ARGV[b + 4] then return 'forged' end
  local lu = NOW + tonumber(ARGV[b + 6])
  if h[1] == 'leased' then
    r.s = 'running'
    move(j, 'leased', 'running')
    event(j, 'task_running', t, attempt)
  end
  r.n = ARGV[b + 5]
  row_set(j, t, r)
  -- the tail is cold: a hash only for a task that reported one
  if ARGV[b + 7] ~= '' or r.c == '1' then cold_set(j, t, 'tail', ARGV[b + 7]) end
  redis.call('ZADD', P .. 'leased', lu, member(j, t))
  return 'ok'
end

local out = {}
for b = 3, #ARGV - 7, 8 do out[#out + 1] = progress_one(b) end
return out
