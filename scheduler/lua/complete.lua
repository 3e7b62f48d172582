-- complete.lua - a worker's Result, fenced by attempt.
-- ARGV[3] job, [4] task, [5] attempt, [6] worker, [7] ok (1/0), [8] output,
-- [9] error, [10] tokens, [11] elapsed ms.
-- Returns {outcome, merge}: outcome ok | retry | failed | stale | duplicate | unknown;
-- merge = 1 when this result made the job ready to merge.
local j, t, attempt = ARGV[3], ARGV[4], tonumber(ARGV[5])
local tk = tkey(j, t)
local h = redis.call('HMGET', tk, 'state', 'attempt')
if not h[1] then return {'unknown', 0} end
if TERMINAL[h[1]] then
  if h[1] == 'done' and tonumber(h[2]) == attempt then return {'duplicate', 0} end
  return {'stale', 0}
end
-- A result for the current attempt is good even if its lease expired and the
-- task sits in ready again: nobody else holds it.
if tonumber(h[2]) ~= attempt or attempt == 0 then return {'stale', 0} end
if ARGV[7] == '1' then
  local m = member(j, t)
  redis.call('ZREM', P .. 'leased', m)
  redis.call('ZREM', P .. 'ready', m)
  redis.call('HSET', tk, 'state', 'done', 'output', ARGV[8], 'error', '', 'tokens', ARGV[10],
             'worker', ARGV[6], 'elapsed_ms', ARGV[11], 'lease_until', 0)
  move(j, h[1], 'done')
  event(j, 'task_done', t, attempt, {'worker', ARGV[6], 'tokens', ARGV[10]})
  if maybe_finish(j) then return {'ok', 1} end
  return {'ok', 0}
end
redis.call('HSET', tk, 'worker', ARGV[6], 'tokens', ARGV[10])
local r = retry_or_fail(j, t, attempt, 'worker ' .. ARGV[6] .. ': ' .. ARGV[9])
if r == 'failed' and redis.call('HGET', jkey(j), 'state') == 'merging' then return {r, 1} end
return {r, 0}
