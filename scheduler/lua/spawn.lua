-- spawn.lua - an agent's `spawn` tool: a child task of a running task, through
-- swarmd, within the job's budget. Fenced like a result: only the parent's
-- current lease holder (attempt, token, worker) may spawn.
-- ARGV[3] job, [4] parent task, [5] attempt, [6] token, [7] worker,
-- [8] instructions, [9] item, [10] input, [11] depends_on (task ids,
-- comma-separated, may be ''), [12] tools (JSON array or '').
-- Returns {'ok', child task id} or {outcome, message} with outcome stale |
-- forged | unknown | refused; a refusal's message says which budget and how
-- to raise it, and goes back to the agent as the tool's observation.
local j, parent, attempt = ARGV[3], ARGV[4], tonumber(ARGV[5])
local jh = redis.call('HMGET', jkey(j), 'state', 'total', 'max_subtasks', 'max_depth',
                      'max_job_tokens', 'first_dispatch_ms', 'wall_time_s', 'cancel_requested')
if not jh[1] then return {'unknown', 'unknown job ' .. j} end
local pr = row_get(j, parent)
if not task_exists(j, parent, pr) then return {'unknown', 'unknown task ' .. parent} end
local ph = {pr.s, pr.a, pr.k, pr.w, cold_get(j, parent, 'depth')[1]}
if tonumber(ph[2]) ~= attempt then return {'stale', 'the parent lost its lease'} end
if ph[3] ~= ARGV[6] or ph[4] ~= ARGV[7] then return {'forged', 'not the lease holder'} end
if ph[1] ~= 'leased' and ph[1] ~= 'running' then return {'stale', 'the parent is ' .. ph[1]} end
if jh[1] ~= 'running' or jh[8] then return {'refused', 'the job is ' .. jh[1] .. ', not running'} end

local depth = tonumber(ph[5] or '0') + 1
local maxd = tonumber(jh[4] or '0')
if not maxd or maxd <= 0 then maxd = 3 end
if depth > maxd then
  return {'refused', 'budget.max_depth exceeded: a child of ' .. parent .. ' would be at depth ' ..
          depth .. ', the job allows ' .. maxd .. ' (raise budget.max_depth in the job file)'}
end
local total = tonumber(jh[2] or '0')
local maxn = tonumber(jh[3] or '0')
if maxn and maxn > 0 and total >= maxn then
  return {'refused', 'budget.max_subtasks exceeded: the job already has ' .. total ..
          ' of its ' .. maxn .. ' tasks (raise budget.max_subtasks in the job file)'}
end
local wall = tonumber(jh[7] or '0')
if wall and wall > 0 and jh[6] and NOW >= tonumber(jh[6]) + wall * 1000 then
  return {'refused', 'budget.wall_time_s exceeded: the job has run ' ..
          math.floor((NOW - tonumber(jh[6])) / 1000) .. ' s of its ' .. wall .. ' s'}
end
local maxtok = tonumber(jh[5] or '0')
if maxtok and maxtok > 0 then
  local used = 0
  local ts = redis.call('LRANGE', tlist(j), 0, -1)
  rows_load(j, ts)
  for _, t in ipairs(ts) do used = used + (tonumber(ROWS[j][t].n) or 0) end
  if used >= maxtok then
    return {'refused', 'budget.tokens exceeded: the job has used ' .. used .. ' of its ' ..
            maxtok .. ' tokens'}
  end
end

local deps, waiting = csv(ARGV[11]), 0
for _, d in ipairs(deps) do
  local dr = row_get(j, d)
  if not task_exists(j, d, dr) then return {'refused', 'depends_on: unknown task ' .. d} end
  local st = dr.s
  if st == 'failed' or st == 'skipped' or st == 'cancelled' then
    return {'refused', 'depends_on: task ' .. d .. ' is ' .. st}
  end
  if st ~= 'done' then waiting = waiting + 1 end
end

local child = string.format('t%04d', total)
redis.call('HSET', itemkey(j), child, ARGV[9])
row_set(j, child, {s = 'pending', a = '0', k = '', i = '', n = '0', c = '1', w = ''})
cold_set(j, child, 'instructions', ARGV[8], 'input', ARGV[10], 'parent', parent, 'depth', depth,
         'tools', ARGV[12])
redis.call('RPUSH', tlist(j), child)
redis.call('HINCRBY', jkey(j), 'total', 1)
if #deps > 0 then
  cold_set(j, child, 'deps', table.concat(deps, ','), 'waiting', waiting)
  for _, d in ipairs(deps) do
    local cur = cold_get(j, d, 'dependants')[1]
    cold_set(j, d, 'dependants', (cur and cur ~= '') and (cur .. ',' .. child) or child)
  end
end
if waiting == 0 then
  dag_ready(j, child)
  redis.call('HINCRBY', jkey(j), 'n_ready', 1)
else
  redis.call('HINCRBY', jkey(j), 'n_pending', 1)
end
event(j, 'task_spawned', child, nil, {'parent', parent, 'depth', depth})
return {'ok', child}
