-- remove.lua - delete an ended job (`swarm rm`): ARGV[3] job. Returns {state} and
-- changes nothing when the job still runs, else {'ok', tasks left to delete}. The
-- job disappears at once; its task hashes go to the trash list and are deleted
-- in bounded batches (here and by purge.lua), so a 1M-task job never blocks Redis.
local j = ARGV[3]
local st = redis.call('HGET', jkey(j), 'state')
if not st then return redis.error_reply('unknown job ' .. j) end
if not TERMINAL[st] then return {st} end
job_remove(j)
return {'ok', trash_drain(5000)}
