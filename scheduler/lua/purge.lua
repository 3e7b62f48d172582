-- purge.lua - retention: ended jobs whose finished_ms is at or before ARGV[3] (ms)
-- are removed, up to ARGV[4] jobs per call; then up to ARGV[5] task hashes of
-- removed jobs are deleted. Returns {jobs removed, task hashes left in the trash}.
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
return {n, trash_drain(tonumber(ARGV[5]))}
