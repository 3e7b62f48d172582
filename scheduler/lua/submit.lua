-- submit.lua - store a new job and its tasks (ready to lease).
-- ARGV[3] job id, ARGV[4] n job fields, then n field/value pairs, then
-- per task: id, instructions, item, input.
-- The job field 'dag' (not stored as such) gives dependencies,
-- "<task>=<dep>,<dep>;...": those tasks start 'pending' (lib.lua dag_release).
-- An unknown id or a cycle refuses the whole job, naming them, before anything
-- is written.
-- The job field 'staged' (not stored) counts tasks submit_chunk.lua already
-- wrote for this job (ids before this call's); they count in total and ready.
-- The job field 'lease' (not stored), "lease_ms;worker,token,incarnation;...",
-- leases the job's tasks to those slots at once, task i to slot i, when no
-- other job waits in the rotation (fair share holds) and every task fits; then
-- the reply is {tasks, tasks leased}, else {tasks, 0} (swarmd sent the Assigns
-- ahead of this answer and withdraws them on 0).
local j = ARGV[3]
if redis.call('EXISTS', jkey(j)) == 1 then return redis.error_reply('job ' .. j .. ' exists') end
local nf = tonumber(ARGV[4])
local first = 5 + 2 * nf
local n = (#ARGV - first + 1) / 4
local staged, lease = 0, nil
for i = 0, nf - 1 do
  if ARGV[5 + 2 * i] == 'staged' then staged = tonumber(ARGV[6 + 2 * i]) end
  if ARGV[5 + 2 * i] == 'lease' then lease = ARGV[6 + 2 * i] end
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
-- the slots to lease to at once: only a whole job of ready tasks, nobody else waiting
local slots = nil
if lease and staged == 0 and npend == 0 and n > 0 and redis.call('LLEN', P .. 'rr') == 0 then
  local parts = {}
  for x in string.gmatch(lease, '[^;]+') do parts[#parts + 1] = x end
  if #parts - 1 >= n then
    slots = {}
    for k = 2, n + 1 do slots[#slots + 1] = csv(parts[k]) end
    slots.until_ms = tostring(NOW + tonumber(parts[1]))
  end
end
local nlease = slots and n or 0
local h = {'state', 'running', 'total', staged + n, 'n_ready', staged + n - npend - nlease,
           'n_pending', npend, 'n_leased', nlease,
           'n_running', 0, 'n_done', 0, 'n_failed', 0, 'n_cancelled', 0, 'n_skipped', 0,
           'created_ms', ARGV[2], 'finished_ms', 0}
for i = 0, nf - 1 do
  if ARGV[5 + 2 * i] ~= 'dag' and ARGV[5 + 2 * i] ~= 'staged' and ARGV[5 + 2 * i] ~= 'lease' then
    h[#h + 1] = ARGV[5 + 2 * i]; h[#h + 1] = ARGV[6 + 2 * i]
  end
end
-- budget.wall_time_s counts from the first dispatch: now, for a job leased at once
local wall = 0
if slots then
  h[#h + 1] = 'first_dispatch_ms'
  h[#h + 1] = ARGV[2]
  for i = 0, nf - 1 do
    if ARGV[5 + 2 * i] == 'wall_time_s' then wall = tonumber(ARGV[6 + 2 * i]) or 0 end
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
local ids, zr, items, lz = {}, {}, {}, {}
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
  if slots then
    -- leased now, as lease.lua would (its row, P leased, a task_leased event)
    local sl = slots[i + 1]
    local c = ROWS[j] and ROWS[j][t] and ROWS[j][t].c or ''
    row_set(j, t, {s = 'leased', a = '1', k = sl[2], i = sl[3], n = '0', c = c, w = sl[1]})
    lz[#lz + 1] = slots.until_ms
    lz[#lz + 1] = member(j, t)
  elseif not deps[t] then
    zr[#zr + 1] = ARGV[2] -- NOW as sent: no number formatting per task
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
if #lz > 0 then
  push_many('ZADD', P .. 'leased', lz, 2)
  if wall > 0 then redis.call('ZADD', P .. 'deadlines', NOW + wall * 1000, j) end
end
redis.call('ZADD', P .. 'jobs', ARGV[2], j)
if staged > 0 then
  redis.call('ZREM', P .. 'submitting', j)
  -- the staged tasks are in the job's ready set already: the job joins the
  -- round robin now (every task may have been staged, none sent with us)
  if redis.call('SADD', P .. 'rrset', j) == 1 then redis.call('RPUSH', P .. 'rr', j) end
end
-- budget.wall_time_s counts from the first dispatch (lease.lua), not from here:
-- a job queued behind others must not spend its budget waiting.
event(j, 'job_submitted', nil, nil, {'tasks', staged + n})
for i = 1, nlease do event_task(j, 'task_leased', ids[i], '1', 'worker', slots[i][1]) end
if staged + n == 0 then maybe_finish(j) end
events_flush()
if lease then return {staged + n, nlease} end
return staged + n
