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
-- A task is an item (and, only when it differs from the defaults every reader
-- assumes, a row and a cold hash: lib.lua task_store), and the item column, the
-- list and the ready set take the whole batch in one variadic call each:
-- per-task redis.call overhead is most of Redis' CPU.
BATCH = true
-- the first batch's first task sets the job's default instructions
local def_ins = nil
if ARGV[5] == '0' and n > 0 then
  def_ins = ARGV[7]
  redis.call('SET', jkey(j) .. ':ins', def_ins)
else
  def_ins = redis.call('GET', jkey(j) .. ':ins') or ''
end
local ids, zr, items = {}, {}, {}
for i = 0, n - 1 do
  local b = 6 + i * 4
  local t = ARGV[b]
  task_store(j, t, 'ready', ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], nil, def_ins, items)
  ids[#ids + 1] = t
  zr[#zr + 1] = NOW
  zr[#zr + 1] = t
end
push_many('HSET', itemkey(j), items, 2)
rows_flush()
push_many('RPUSH', tlist(j), ids)
push_many('ZADD', jkey(j) .. ':ready', zr, 2)
redis.call('ZADD', P .. 'submitting', NOW, j)
return redis.call('LLEN', tlist(j))
