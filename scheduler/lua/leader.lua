-- leader.lua - the coordinator's leader lease (P leader = holder id, with a TTL).
-- ARGV[3] holder id, [4] ttl ms. Renews the lease if this holder has it, takes it
-- again if it expired and nobody else took it. Returns 1 if held, 0 if another
-- coordinator holds it (the caller must stop: two leaders would both dispatch).
local k = P .. 'leader'
local cur = redis.call('GET', k)
if cur and cur ~= ARGV[3] then return 0 end
redis.call('SET', k, ARGV[3], 'PX', tonumber(ARGV[4]))
return 1
