-- complete.lua - a worker's Result, fenced by attempt, lease token and holder.
-- ARGV[3] job, [4] task, [5] attempt, [6] token, [7] worker (the sender),
-- [8] ok (1/0), [9] output, [10] error, [11] tokens, [12] elapsed ms.
-- Returns {outcome, merge}: outcome ok | retry | failed | stale | duplicate | unknown |
-- forged; merge = 1 when this result made the job ready to merge.
local j, t, attempt = ARGV[3], ARGV[4], tonumber(ARGV[5])
local tk = tkey(j, t)
local h = redis.call('HMGET', tk, 'state', 'attempt', 'token', 'worker')
if not h[1] then return {'unknown', 0} end
if tonumber(h[2]) ~= attempt or attempt == 0 then return {'stale', 0} end
-- The current attempt: only its holder, echoing its token, may end it.
if h[3] ~= ARGV[6] or h[4] ~= ARGV[7] then return {'forged', 0} end
if TERMINAL[h[1]] then
  if h[1] == 'done' then return {'duplicate', 0} end
  return {'stale', 0}
end
-- A result for the current attempt is good even if its lease expired and the
-- task sits in ready again: nobody else holds it.
if ARGV[8] == '1' then
  local m = member(j, t)
  redis.call('ZREM', P .. 'leased', m)
  ready_rem(j, t)
  redis.call('HSET', tk, 'state', 'done', 'output', ARGV[9], 'error', '', 'tokens', ARGV[11],
             'elapsed_ms', ARGV[12], 'lease_until', 0)
  move(j, h[1], 'done')
  event(j, 'task_done', t, attempt, {'worker', ARGV[7], 'tokens', ARGV[11]})
  if maybe_finish(j) then return {'ok', 1} end
  return {'ok', 0}
end
redis.call('HSET', tk, 'tokens', ARGV[11])
local r = retry_or_fail(j, t, attempt, 'worker ' .. ARGV[7] .. ': ' .. ARGV[10])
if r == 'failed' and redis.call('HGET', jkey(j), 'state') == 'merging' then return {r, 1} end
return {r, 0}
