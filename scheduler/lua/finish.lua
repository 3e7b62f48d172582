-- finish.lua - store the merged result once: only a job still in merging takes it.
-- ARGV[3] job, [4] final state, [5] head, [6] mid1, [7] mid2, [8] tail, [9] tasks merged,
-- [10..12] the last page's fragments, [13] bytes of the result page to return. The
-- result is head R mid1 F mid2 M tail, R F M the scratch keys collect.lua's pages filled
-- (sched_merge.c); a merge of one page sends it whole in [5] with [9] = 0 (no scratch
-- keys to append to and read back). Returns {1, the job's status_entry with the first [13] bytes of its
-- result} if stored (swarmd answers the clients waiting on the job from it), 0 if it
-- already was.
-- The result is its own string key (P job:<id>:result) so Status can read it in
-- pages with GETRANGE instead of carrying it whole.
local j = ARGV[3]
local k = jkey(j) .. ':merge:'
redis.call('SREM', P .. 'merging', j)
redis.call('ZREM', P .. 'deadlines', j)
if redis.call('HGET', jkey(j), 'state') ~= 'merging' then
  redis.call('DEL', k .. 'r', k .. 'f', k .. 'm', k .. 'at')
  return 0
end
if ARGV[9] == '0' then
  -- a one-page merge (collect's first page cleared the scratch keys): the whole
  -- result is ARGV[5]
  redis.call('SET', jkey(j) .. ':result', ARGV[5])
else
  merge_append(j, tonumber(ARGV[9]), ARGV[10], ARGV[11], ARGV[12])
  local function get(x) return redis.call('GET', k .. x) or '' end
  redis.call('SET', jkey(j) .. ':result', ARGV[5] .. get('r') .. ARGV[6] .. get('f') .. ARGV[7] ..
             get('m') .. ARGV[8])
  redis.call('DEL', k .. 'r', k .. 'f', k .. 'm', k .. 'at')
end
redis.call('HSET', jkey(j), 'state', ARGV[4], 'finished_ms', NOW)
-- retention (purge.lua) removes it later; its event stream shrinks to the tail
redis.call('ZADD', P .. 'finished', NOW, j)
redis.call('XTRIM', jkey(j) .. ':events', 'MAXLEN', '~', 100)
-- a done job's task hashes are folded away in batches by purge.lua (compaction)
if ARGV[4] == 'done' then redis.call('SADD', P .. 'compact', j) end
event(j, 'job_' .. ARGV[4])
return {1, status_entry(j, '0', '1', 0, tonumber(ARGV[13]) or 0)}
