-- finish.lua - store the merged result once: only a job still in merging takes it.
-- ARGV[3] job, [4] final state, [5] result JSON. Returns 1 if stored, 0 if it already was.
-- The result is its own string key (P job:<id>:result) so Status can read it in
-- pages with GETRANGE instead of carrying it whole.
local j = ARGV[3]
redis.call('SREM', P .. 'merging', j)
redis.call('ZREM', P .. 'deadlines', j)
if redis.call('HGET', jkey(j), 'state') ~= 'merging' then return 0 end
redis.call('SET', jkey(j) .. ':result', ARGV[5])
redis.call('HSET', jkey(j), 'state', ARGV[4], 'finished_ms', NOW)
-- retention (purge.lua) removes it later; its event stream shrinks to the tail
redis.call('ZADD', P .. 'finished', NOW, j)
redis.call('XTRIM', jkey(j) .. ':events', 'MAXLEN', '~', 100)
-- a done job's task hashes are folded away in batches by purge.lua (compaction)
if ARGV[4] == 'done' then redis.call('SADD', P .. 'compact', j) end
event(j, 'job_' .. ARGV[4])
return 1
