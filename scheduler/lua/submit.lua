-- submit.lua - store a new job and its tasks (ready to lease).
-- ARGV[3] job id, ARGV[4] n job fields, then n field/value pairs, then
-- per task: id, instructions, item, input.
-- The job field 'dag' (not stored as such) gives dependencies,
-- "<task>=<dep>,<dep>;...": those tasks start 'pending' (lib.lua dag_release).
-- An unknown id or a cycle refuses the whole job, naming them, before anything
-- is written.
-- The job field 'staged' (not stored) counts tasks submit_chunk.lua already
-- wrote for this job (ids before this call's); they count in total and ready.
local j = ARGV[3]
if redis.call('EXISTS', jkey(j)) == 1 then return redis.error_reply('job ' .. j .. ' exists') end
local nf = tonumber(ARGV[4])
local first = 5 + 2 * nf
local n = (#ARGV - first + 1) / 4
local staged = 0
for i = 0, nf - 1 do
  if ARGV[5 + 2 * i] == 'staged' then staged = tonumber(ARGV[6 + 2 * i]) end
end
if staged > 0 and redis.call('LLEN', tlist(j)) ~= staged then
  return redis.error_reply('job ' .. j .. ': ' .. redis.call('LLEN', tlist(j)) ..
                           ' tasks staged, expected ' .. staged)
end
local deps, dependants, items = {}, {}, {}
for i = 0, n - 1 do items[ARGV[first + i * 4]] = ARGV[first + i * 4 + 2] end
local npend = 0
for i = 0, nf - 1 do
  if ARGV[5 + 2 * i] == 'dag' then
    for entry in string.gmatch(ARGV[6 + 2 * i], '[^;]+') do
      local eq = string.find(entry, '=', 1, true)
      local t = eq and string.sub(entry, 1, eq - 1) or entry
      if not items[t] then return redis.error_reply('depends_on: unknown task ' .. t) end
      local ds = csv(eq and string.sub(entry, eq + 1) or '')
      for _, d in ipairs(ds) do
        if not items[d] then
          return redis.error_reply('depends_on: task ' .. items[t] .. ' depends on unknown task ' .. d)
        end
        if d == t then return redis.error_reply('depends_on: task ' .. items[t] .. ' depends on itself') end
        dependants[d] = dependants[d] or {}
        table.insert(dependants[d], t)
      end
      if #ds > 0 then deps[t] = ds; npend = npend + 1 end
    end
  end
end
local order = {}
for i = 0, n - 1 do order[#order + 1] = ARGV[first + i * 4] end
local cyc = dag_cycle(order, deps, items)
if cyc then return redis.error_reply('depends_on: dependency cycle ' .. cyc) end
local h = {'state', 'running', 'total', staged + n, 'n_ready', staged + n - npend, 'n_pending', npend, 'n_leased', 0,
           'n_running', 0, 'n_done', 0, 'n_failed', 0, 'n_cancelled', 0, 'n_skipped', 0,
           'created_ms', NOW, 'finished_ms', 0}
for i = 0, nf - 1 do
  if ARGV[5 + 2 * i] ~= 'dag' and ARGV[5 + 2 * i] ~= 'staged' then
    h[#h + 1] = ARGV[5 + 2 * i]; h[#h + 1] = ARGV[6 + 2 * i]
  end
end
redis.call('HSET', jkey(j), unpack(h))
-- one variadic HSET of items, rows and RPUSH and ZADD for all tasks; a per-task
-- hash only for a task with non-default fields (lib.lua task_store)
BATCH = true
local def_ins = ''
if staged > 0 then
  def_ins = redis.call('GET', jkey(j) .. ':ins') or ''
elseif n > 0 then
  def_ins = ARGV[first + 1] -- the first task's instructions: the job's default
  redis.call('SET', jkey(j) .. ':ins', def_ins)
end
local ids, zr, items = {}, {}, {}
for i = 0, n - 1 do
  local b = first + i * 4
  local t = ARGV[b]
  local extra = nil
  if deps[t] then extra = {'deps', table.concat(deps[t], ','), 'waiting', #deps[t]} end
  if dependants[t] then
    extra = extra or {}
    extra[#extra + 1] = 'dependants'
    extra[#extra + 1] = table.concat(dependants[t], ',')
  end
  task_store(j, t, deps[t] and 'pending' or 'ready', ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], extra,
             def_ins, items)
  ids[#ids + 1] = t
  if not deps[t] then
    zr[#zr + 1] = NOW
    zr[#zr + 1] = t
  end
end
push_many('HSET', itemkey(j), items, 2)
rows_flush()
push_many('RPUSH', tlist(j), ids)
if #zr > 0 then
  push_many('ZADD', jkey(j) .. ':ready', zr, 2)
  if redis.call('SADD', P .. 'rrset', j) == 1 then redis.call('RPUSH', P .. 'rr', j) end
end
redis.call('ZADD', P .. 'jobs', NOW, j)
if staged > 0 then
  redis.call('ZREM', P .. 'submitting', j)
  -- the staged tasks are in the job's ready set already: the job joins the
  -- round robin now (every task may have been staged, none sent with us)
  if redis.call('SADD', P .. 'rrset', j) == 1 then redis.call('RPUSH', P .. 'rr', j) end
end
-- budget.wall_time_s counts from the first dispatch (lease.lua), not from here:
-- a job queued behind others must not spend its budget waiting.
event(j, 'job_submitted', nil, nil, {'tasks', staged + n})
if staged + n == 0 then maybe_finish(j) end
return staged + n
