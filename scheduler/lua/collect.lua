-- collect.lua - everything the merger needs, in task order, a page at a time.
-- ARGV[3] job, [4] offset, [5] page size; from the second page on, [6..8] the
-- previous page's fragments (results, failed_tasks, merged) to append first
-- (lib.lua merge_append; the first page clears the scratch keys).
-- Returns {job fields (HGETALL; {} after the first page), {task, state, attempt, item, output,
-- error, worker, tokens, steps, tool_calls}...}; steps and tool_calls are '' for a task that ran no
-- agent step.
local j, at, n = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local out = {{}}
if at == 0 then
  local k = jkey(j) .. ':merge:'
  redis.call('DEL', k .. 'r', k .. 'f', k .. 'm', k .. 'at')
  out[1] = redis.call('HGETALL', jkey(j))
else
  merge_append(j, at, ARGV[6], ARGV[7], ARGV[8])
end
for _, t in ipairs(redis.call('LRANGE', tlist(j), at, at + n - 1)) do
  local h = redis.call('HMGET', tkey(j, t), 'state', 'attempt', 'item', 'output', 'error', 'worker',
                       'tokens', 'steps', 'tool_calls')
  out[#out + 1] = {t, h[1] or '', h[2] or '0', h[3] or '', h[4] or '', h[5] or '', h[6] or '',
                   h[7] or '0', h[8] or '', h[9] or '0'}
end
return out
