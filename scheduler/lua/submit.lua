-- submit.lua - store a new job and all its tasks at once (ready to lease).
-- ARGV[3] job id, ARGV[4] n job fields, then n field/value pairs, then
-- per task: id, instructions, item, input.
local j = ARGV[3]
if redis.call('EXISTS', jkey(j)) == 1 then return redis.error_reply('job ' .. j .. ' exists') end
local nf = tonumber(ARGV[4])
local first = 5 + 2 * nf
local n = (#ARGV - first + 1) / 4
local h = {'state', 'running', 'total', n, 'n_ready', n, 'n_leased', 0, 'n_running', 0,
           'n_done', 0, 'n_failed', 0, 'n_cancelled', 0, 'created_ms', NOW, 'finished_ms', 0}
for i = 0, nf - 1 do
  h[#h + 1] = ARGV[5 + 2 * i]; h[#h + 1] = ARGV[6 + 2 * i]
end
redis.call('HSET', jkey(j), unpack(h))
for i = 0, n - 1 do
  local b = first + i * 4
  local t = ARGV[b]
  redis.call('HSET', tkey(j, t), 'state', 'ready', 'attempt', 0, 'instructions', ARGV[b + 1],
             'item', ARGV[b + 2], 'input', ARGV[b + 3], 'worker', '', 'lease_until', 0,
             'output', '', 'error', '', 'tokens', 0)
  redis.call('RPUSH', tlist(j), t)
  ready_add(j, t, NOW)
end
redis.call('ZADD', P .. 'jobs', NOW, j)
-- budget.wall_time_s counts from the first dispatch (lease.lua), not from here:
-- a job queued behind others must not spend its budget waiting.
event(j, 'job_submitted', nil, nil, {'tasks', n})
if n == 0 then maybe_finish(j) end
return n
