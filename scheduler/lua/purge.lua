-- purge.lua - retention: ended jobs whose finished_ms is at or before ARGV[3] (ms)
-- are removed, up to ARGV[4] jobs per call; then up to ARGV[5] task hashes of
-- removed jobs are deleted or, when none are waiting, up to ARGV[5] task ids of
-- finished jobs are compacted (below). Returns {jobs removed, task hashes left to delete}.
local n = 0
for _, j in ipairs(redis.call('ZRANGEBYSCORE', P .. 'finished', '-inf', tonumber(ARGV[3]),
                              'LIMIT', 0, tonumber(ARGV[4]))) do
  local st = redis.call('HGET', jkey(j), 'state')
  if not st or TERMINAL[st] then
    job_remove(j)
    n = n + 1
  else
    redis.call('ZREM', P .. 'finished', j)
  end
end
-- A submission whose swarmd died between batches (submit_chunk.lua) is
-- dropped 10 minutes after its last batch; its staged tasks go to the trash.
for _, j in ipairs(redis.call('ZRANGEBYSCORE', P .. 'submitting', '-inf', NOW - 600000,
                              'LIMIT', 0, 16)) do
  if redis.call('EXISTS', jkey(j)) == 0 then job_remove(j) end
  redis.call('ZREM', P .. 'submitting', j)
end
local budget = tonumber(ARGV[5])
-- one kind of deletion per call, so a call never deletes more than the budget
local trash = redis.call('SCARD', P .. 'trash') > 0
local left = trash_drain(budget)
if trash then budget = 0 end

-- Compaction: a job that ended 'done' has its merged result stored (finish.lua),
-- so its done tasks' hashes (~300-800 bytes each: instructions, item, output...)
-- are only a second copy. They are deleted, walking the task list from the
-- job's 'compact_at' cursor; the list of task ids stays (status.lua reads a
-- missing hash of a compacted job as done). Only 'done' jobs: a failed one may
-- be retried (retry.lua), whose new merge needs every task's output.
-- Transcripts (agent jobs) are separate keys and are kept.
for _, j in ipairs(redis.call('SMEMBERS', P .. 'compact')) do
  if budget <= 0 then left = left + 1; break end
  local jk = jkey(j)
  local h = redis.call('HMGET', jk, 'state', 'compact_at')
  if h[1] ~= 'done' then
    redis.call('SREM', P .. 'compact', j)
  else
    local at = tonumber(h[2] or '0')
    local ts = redis.call('LRANGE', tlist(j), at, at + math.min(budget, 5000) - 1)
    -- a done task's row, item and output go (its result is in the job's); a
    -- cold hash only where the row says there is one
    rows_load(j, ts)
    local gone = {}
    for _, t in ipairs(ts) do
      local r = ROWS[j][t]
      if r.s == 'done' then
        gone[#gone + 1] = t
        if r.c == '1' then redis.call('DEL', tkey(j, t)) end
      end
    end
    push_many('HDEL', stkey(j), gone)
    push_many('HDEL', itemkey(j), gone)
    push_many('HDEL', outkey(j), gone)
    budget = budget - #ts
    at = at + #ts
    redis.call('HSET', jk, 'compact_at', at)
    if at >= redis.call('LLEN', tlist(j)) then
      redis.call('SREM', P .. 'compact', j)
      redis.call('HSET', jk, 'compacted', 1)
    else
      left = left + 1
    end
  end
end
return {n, left}
