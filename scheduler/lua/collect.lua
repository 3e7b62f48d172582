-- collect.lua - everything the merger needs, in task order.
-- ARGV[3] job. Returns {job fields (HGETALL), {task, state, attempt, item, output, error, worker,
-- tokens, steps, tool_calls}...}; steps and tool_calls are '' for a task that ran no agent step.
local j = ARGV[3]
local out = {redis.call('HGETALL', jkey(j))}
for _, t in ipairs(redis.call('LRANGE', tlist(j), 0, -1)) do
  local h = redis.call('HMGET', tkey(j, t), 'state', 'attempt', 'item', 'output', 'error', 'worker',
                       'tokens', 'steps', 'tool_calls')
  out[#out + 1] = {t, h[1] or '', h[2] or '0', h[3] or '', h[4] or '', h[5] or '', h[6] or '',
                   h[7] or '0', h[8] or '', h[9] or '0'}
end
return out
