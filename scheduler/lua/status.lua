-- status.lua - job summaries for Status. ARGV[3] with_tasks (1/0), [4] with_result (1/0),
-- [5] result offset, [6] result page bytes, [7..] job ids (none = the newest 1000 jobs).
-- Per job: lib.lua status_entry. Bounded: a result page at most, the first 1000 tasks at most.
local ids = {}
for i = 7, #ARGV do ids[#ids + 1] = ARGV[i] end
local roff, rlen = tonumber(ARGV[5]), tonumber(ARGV[6])
if #ids == 0 then ids = redis.call('ZRANGE', P .. 'jobs', -1000, -1) end
local out = {}
for _, j in ipairs(ids) do out[#out + 1] = status_entry(j, ARGV[3], ARGV[4], roff, rlen) end
return out
