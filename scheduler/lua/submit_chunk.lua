-- submit_chunk.lua - stage one batch of a large job's tasks before submit.lua
-- makes the job visible, so swarmd never builds one Redis call holding every
-- task (sched.c sched_job_submit sends batches one after another).
-- ARGV[3] job id, ARGV[4] 'tasks', ARGV[5] the batch's first task index (how
-- many are staged already: a batch sent twice or out of order is refused),
-- then per task: id, instructions, item, input;
-- or ARGV[4] 'abort': drop what was staged (the task hashes go to the trash
-- that purge.lua drains in batches).
-- Staged tasks are 'ready' in the job's ready set but the job is in neither
-- P..'jobs' nor the round-robin list, so nothing leases or lists them until
-- submit.lua (field 'staged') adds the job hash. P..'submitting' (job -> ms of
-- its last batch) lets purge.lua remove a submission whose swarmd died.
local j = ARGV[3]
if ARGV[4] == 'abort' then
  if redis.call('EXISTS', jkey(j)) == 0 then job_remove(j) end
  redis.call('ZREM', P .. 'submitting', j)
  return 0
end
if redis.call('EXISTS', jkey(j)) == 1 then return redis.error_reply('job ' .. j .. ' exists') end
local have = redis.call('LLEN', tlist(j))
if have ~= tonumber(ARGV[5]) then
  return redis.error_reply('job ' .. j .. ': ' .. have .. ' tasks staged, this batch starts at ' .. ARGV[5])
end
local n = (#ARGV - 5) / 4
for i = 0, n - 1 do
  local b = 6 + i * 4
  local t = ARGV[b]
  redis.call('HSET', tkey(j, t), 'state', 'ready', 'attempt', 0, 'instructions', ARGV[b + 1],
             'item', ARGV[b + 2], 'input', ARGV[b + 3], 'worker', '', 'lease_until', 0,
             'output', '', 'error', '', 'tokens', 0)
  redis.call('RPUSH', tlist(j), t)
  redis.call('ZADD', jkey(j) .. ':ready', NOW, t)
end
redis.call('ZADD', P .. 'submitting', NOW, j)
return redis.call('LLEN', tlist(j))
