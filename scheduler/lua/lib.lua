-- lib.lua - shared prelude of the scheduler's Redis function library (swarm).
-- embed_lua.cmake builds ONE library (#!lua name=swarm) from this file and every
-- lua/<name>.lua: this file runs once, at FUNCTION LOAD, so its definitions cost
-- nothing per call; each script body becomes a function swarm_<name> called by
-- FCALL swarm_<name> 0 <prefix> <now> ..., whose wrapper first runs lib_begin.
-- ARGV[1] = key prefix, ARGV[2] = now (ms, the coordinator's clock).
-- Keys are built here rather than passed in KEYS: a job's keys are only known
-- inside the script (tasks of a job), and swarm runs on one Redis, not a cluster.
-- Per-call values are library-level locals (functions may not use globals),
-- set by lib_begin: nothing of one call may leak into the next.
local ARGV, P, NOW
local TERMINAL = {done = true, failed = true, cancelled = true, skipped = true}

local function jkey(j) return P .. 'job:' .. j end
local function tkey(j, t) return P .. 'job:' .. j .. ':task:' .. t end
local function tlist(j) return P .. 'job:' .. j .. ':tasks' end
local function member(j, t) return j .. '/' .. t end
local function split(m)
  local s = string.find(m, '/', 1, true)
  if not s then return nil, nil end
  return string.sub(m, 1, s - 1), string.sub(m, s + 1)
end

-- One variadic command (RPUSH, ZADD, ZREM...) for a whole list of arguments, in
-- pieces of at most 4000 (unpack's stack is bounded); stride keeps pairs together.
local function push_many(cmd, key, args, stride)
  local step = 4000 - 4000 % (stride or 1)
  for i = 1, #args, step do
    redis.call(cmd, key, unpack(args, i, math.min(i + step - 1, #args)))
  end
end

-- A task is a ROW across per-job column hashes keyed by task id, so a batch of
-- one job's tasks costs one variadic HMGET/HSET per column instead of one call
-- per task (each redis.call and each field costs Redis thousands of instructions):
--   P job:<id>:item  task -> item (every task, '' included: its existence)
--   P job:<id>:st    task -> hot state "state|attempt|token|inc|tokens|cold|worker"
--                    (worker last: it is the only free-form part); absent = fresh:
--                    ready, attempt 0, nothing cold
--   P job:<id>:out   task -> output (once done)
-- The per-task hash tkey(j, t) holds only what is rare or cold (instructions or
-- input differing from the defaults, deps/dependants/waiting, error, forgiven,
-- checkpoint, steps, tail, parent...). It exists only when the row's cold flag
-- is '1' (cold_set), so hot paths read it only for those tasks.
-- Defaults: instructions = the job's (P job:<id>:ins), input = the item.
-- Rows are cached per script call; in BATCH mode (lease, complete, submit,
-- submit_chunk, bulk loops) writes are gathered and rows_flush writes each job's
-- rows and outputs with one HSET per column.
local function stkey(j) return P .. 'job:' .. j .. ':st' end
local function itemkey(j) return P .. 'job:' .. j .. ':item' end
local function outkey(j) return P .. 'job:' .. j .. ':out' end

-- Per call (reset by lib_begin):
local ROWS   -- job -> task -> row {s, a, k, i, n, c, w, fresh}
local DIRTY  -- job -> {task, task, ...} rows to write (BATCH)
local OUTS   -- job -> {task, output, ...} outputs to write (BATCH)
local OUTC   -- job -> task -> output set in this call (read back by dag_ready)
local RAW    -- job -> {task, packed row, ...} written by fast paths (BATCH)
local BATCH
local DUE    -- tasks this call made due now (ready_add at or before NOW)

local function row_parse(v)
  if not v then return {s = 'ready', a = '0', k = '', i = '', n = '0', c = '', w = '', fresh = true} end
  local s, a, k, i, n, c, w = string.match(v, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
  return {s = s, a = a, k = k, i = i, n = n, c = c, w = w}
end

local function row_pack(r)
  return r.s .. '|' .. r.a .. '|' .. r.k .. '|' .. r.i .. '|' .. r.n .. '|' .. r.c .. '|' .. r.w
end

-- A task's row from a value already read (v, false when absent), unless cached.
-- Parsing costs Redis a Lua table and seven strings (~9 K instructions): the hot
-- paths (lease, complete) parse only rows off their fast path.
local function row_get_v(j, t, v)
  local c = ROWS[j]
  if not c then c = {}; ROWS[j] = c end
  local r = c[t]
  if not r then
    r = row_parse(v or nil)
    c[t] = r
  end
  return r
end

-- A packed row written as is, in BATCH mode (the caller knows the task is on
-- no other path in this call): no table, one string.
local function row_put_raw(j, t, v)
  local a = RAW[j]
  if not a then a = {}; RAW[j] = a end
  a[#a + 1] = t
  a[#a + 1] = v
end

-- One task's row (cached for the rest of the call).
local function row_get(j, t)
  local c = ROWS[j]
  if not c then c = {}; ROWS[j] = c end
  local r = c[t]
  if not r then
    r = row_parse(redis.call('HGET', stkey(j), t))
    c[t] = r
  end
  return r
end

-- The rows of many tasks of one job: one HMGET per 4000 tasks.
local function rows_load(j, ts)
  local c = ROWS[j]
  if not c then c = {}; ROWS[j] = c end
  local need = {}
  for _, t in ipairs(ts) do if not c[t] then need[#need + 1] = t end end
  for x = 1, #need, 4000 do
    local last = math.min(x + 3999, #need)
    local vs = redis.call('HMGET', stkey(j), unpack(need, x, last))
    for y = x, last do c[need[y]] = row_parse(vs[y - x + 1]) end
  end
end

local function row_set(j, t, r)
  local c = ROWS[j]
  if not c then c = {}; ROWS[j] = c end
  c[t] = r
  if BATCH then
    if not r.dirty then
      r.dirty = true
      local d = DIRTY[j]
      if not d then d = {}; DIRTY[j] = d end
      d[#d + 1] = t
    end
  else
    redis.call('HSET', stkey(j), t, row_pack(r))
  end
  r.fresh = nil
end

local function out_set(j, t, v)
  local c = OUTC[j]
  if not c then c = {}; OUTC[j] = c end
  c[t] = v
  if BATCH then
    local o = OUTS[j]
    if not o then o = {}; OUTS[j] = o end
    o[#o + 1] = t
    o[#o + 1] = v
  else
    redis.call('HSET', outkey(j), t, v)
  end
end

-- Write the rows and outputs gathered in BATCH mode: one HSET per job per column.
local function rows_flush()
  for j, d in pairs(DIRTY) do
    local c, a = ROWS[j], RAW[j] or {}
    RAW[j] = nil
    for _, t in ipairs(d) do
      local r = c[t]
      r.dirty = nil
      a[#a + 1] = t
      a[#a + 1] = row_pack(r)
    end
    push_many('HSET', stkey(j), a, 2)
  end
  DIRTY = {}
  for j, a in pairs(RAW) do push_many('HSET', stkey(j), a, 2) end
  RAW = {}
  for j, o in pairs(OUTS) do push_many('HSET', outkey(j), o, 2) end
  OUTS = {}
end

local function out_get(j, t)
  local c = OUTC[j]
  if c and c[t] then return c[t] end
  return redis.call('HGET', outkey(j), t)
end

-- Does t exist in j (a fresh row is only known by its item)?
local function task_exists(j, t, r)
  if not r.fresh then return true end
  return redis.call('HEXISTS', itemkey(j), t) == 1
end

-- Write cold fields of a task (its per-task hash) and mark its row cold.
local function cold_set(j, t, ...)
  redis.call('HSET', tkey(j, t), ...)
  local r = row_get(j, t)
  if r.c ~= '1' then
    r.c = '1'
    row_set(j, t, r)
  end
end

-- Cold fields of a task: nils (without a Redis call) when it has none.
local function cold_get(j, t, ...)
  if row_get(j, t).c ~= '1' then return {} end
  return redis.call('HMGET', tkey(j, t), ...)
end

local function item_get(j, t) return redis.call('HGET', itemkey(j), t) end

-- Values of column key for tasks ts (one HMGET per 4000): a list in ts' order.
local function col_many(key, ts)
  local out = {}
  for x = 1, #ts, 4000 do
    local last = math.min(x + 3999, #ts)
    local vs = redis.call('HMGET', key, unpack(ts, x, last))
    for y = x, last do out[y] = vs[y - x + 1] end
  end
  return out
end

-- A new task (submit, submit_chunk): its item always (one pair in the caller's
-- variadic HSET of items), a row only when not fresh (pending, or cold), a cold
-- hash only for what differs from the defaults (instructions = the job's, input
-- = the item) and extra field/value pairs.
local function task_store(j, t, state, instructions, item, input, extra, def_ins, items)
  items[#items + 1] = t
  items[#items + 1] = item
  -- the common task (defaults, ready) allocates nothing here: no table, no row
  if state == 'ready' and not extra and input == item and instructions == (def_ins or '') then
    return
  end
  local a = {}
  if instructions ~= (def_ins or '') then a[#a + 1] = 'instructions'; a[#a + 1] = instructions end
  if input ~= item then a[#a + 1] = 'input'; a[#a + 1] = input end
  if extra then for i = 1, #extra do a[#a + 1] = extra[i] end end
  if #a > 0 then
    redis.call('HSET', tkey(j, t), unpack(a))
    row_set(j, t, {s = state, a = '0', k = '', i = '', n = '0', c = '1', w = ''})
  elseif state ~= 'ready' then
    row_set(j, t, {s = state, a = '0', k = '', i = '', n = '0', c = '', w = ''})
  end
end

-- Task events of one kind for one job gathered by event_task in a script call
-- and written as ONE stream entry (a lease or result batch is mostly one job's
-- tasks: one XADD instead of one per task). job -> {kind, names, tasks,
-- attempts, {values of names[1]}, ...}. Any other event of the job writes the
-- pending batch first, so the stream keeps the order the events happened in.
local EVB -- per call (lib_begin)
local EVB_MAX = 1000

local function event_add(j, a)
  redis.call('XADD', P .. 'job:' .. j .. ':events', 'MAXLEN', '~', '1000', unpack(a))
end

-- A batch of n > 1 events is the entry
--   ts, event, n, <n>, task, <t1,..,tn>, attempt, <a1,..>, <name>, <v1,..>, ...
-- stored at id MS-(S+n-1) where MS-S .. MS-(S+n-1) are free ids after the
-- stream's last entry: event k of the batch reads as its own entry MS-(S+k)
-- (logs.lua expands it), so ids stay increasing MS-SEQ ids, one per event.
local function ev_flush(j)
  local b = EVB[j]
  if not b then return end
  EVB[j] = nil
  local n = #b[3]
  local last = nil
  if n > 1 then last = redis.call('XREVRANGE', P .. 'job:' .. j .. ':events', '+', '-', 'COUNT', 1)[1] end
  if not last then
    -- one entry per event (a lone event, or no last id to count from)
    for i = 1, n do
      local a = {'*', 'ts', ARGV[2], 'event', b[1], 'task', b[3][i], 'attempt', b[4][i]}
      for k, name in ipairs(b[2]) do a[#a + 1] = name; a[#a + 1] = b[4 + k][i] end
      event_add(j, a)
    end
    return
  end
  local dash = string.find(last[1], '-', 1, true)
  local lms, lseq = string.sub(last[1], 1, dash - 1), tonumber(string.sub(last[1], dash + 1))
  local ms, seq = lms, lseq + 1
  -- ms as the stream would pick it: NOW unless the last entry is newer
  if #ARGV[2] > #lms or (#ARGV[2] == #lms and ARGV[2] > lms) then ms, seq = ARGV[2], 0 end
  local a = {string.format('%s-%.0f', ms, seq + n - 1), 'ts', ARGV[2], 'event', b[1], 'n', n,
             'task', table.concat(b[3], ','), 'attempt', table.concat(b[4], ',')}
  for k, name in ipairs(b[2]) do
    a[#a + 1] = name
    a[#a + 1] = table.concat(b[4 + k], ',')
  end
  event_add(j, a)
end

local function event(j, kind, t, attempt, extra)
  if EVB[j] then ev_flush(j) end
  -- capped: the full state lives in the task records; the stream is for followers
  local a = {'*', 'ts', ARGV[2], 'event', kind}  -- ARGV[2]: NOW as sent, no number formatting
  if t then a[#a + 1] = 'task'; a[#a + 1] = t end
  if attempt then a[#a + 1] = 'attempt'; a[#a + 1] = tostring(attempt) end
  if extra then for i = 1, #extra do a[#a + 1] = tostring(extra[i]) end end
  event_add(j, a)
end

-- A task event (task and attempt strings, then one or two name/value pairs of
-- strings: n2 may be nil) gathered into its job's batch (ev_flush); the script
-- writes what is left with events_flush before it returns. A value holding the
-- list separator ',' is written alone.
local function event_task(j, kind, t, attempt, n1, v1, n2, v2)
  local b = EVB[j]
  if b and (b[1] ~= kind or b[2][1] ~= n1 or b[2][2] ~= n2 or #b[3] >= EVB_MAX) then
    ev_flush(j)
    b = nil
  end
  if string.find(t, ',', 1, true) or string.find(v1, ',', 1, true) or
     (n2 and string.find(v2, ',', 1, true)) then
    return event(j, kind, t, attempt, {n1, v1, n2, v2})
  end
  if not b then
    b = {kind, {n1, n2}, {}, {}, {}}
    if n2 then b[6] = {} end
    EVB[j] = b
  end
  local i = #b[3] + 1
  b[3][i] = t
  b[4][i] = attempt
  b[5][i] = v1
  if n2 then b[6][i] = v2 end
end

local function events_flush()
  for j in pairs(EVB) do ev_flush(j) end
end

-- Fair share: each job keeps its own ready set (P job:<id>:ready, task -> ready-at
-- ms) and the jobs that have one sit once each in the rotation list P rr, which
-- lease.lua walks round-robin. P ready (one zset for all jobs) is legacy: lease.lua
-- moves whatever is still added there into the per-job sets.
local function ready_add(j, t, at)
  if at <= NOW then DUE = DUE + 1 end
  redis.call('ZADD', P .. 'job:' .. j .. ':ready', at, t)
  if redis.call('SADD', P .. 'rrset', j) == 1 then redis.call('RPUSH', P .. 'rr', j) end
end
local function ready_rem(j, t)
  redis.call('ZREM', P .. 'job:' .. j .. ':ready', t)
  redis.call('ZREM', P .. 'ready', j .. '/' .. t)
end

-- Delete a job's keys at once except its per-task (cold) hashes, whose ids move to the trash
-- (P trash: set of job ids; P trash:<id>: list of task ids) for trash_drain.
local function job_remove(j)
  local jk = jkey(j)
  if redis.call('EXISTS', jk .. ':tasks') == 1 then
    redis.call('RENAME', jk .. ':tasks', P .. 'trash:' .. j)
    redis.call('SADD', P .. 'trash', j)
  end
  redis.call('DEL', jk, jk .. ':result', jk .. ':events', jk .. ':ready', jk .. ':notes', jk .. ':ins')
  -- the column hashes may hold a million fields: freed in the background
  redis.call('UNLINK', stkey(j), itemkey(j), outkey(j))
  redis.call('ZREM', P .. 'jobs', j)
  redis.call('ZREM', P .. 'finished', j)
  redis.call('ZREM', P .. 'deadlines', j)
  redis.call('SREM', P .. 'merging', j)
  if redis.call('SREM', P .. 'rrset', j) == 1 then redis.call('LREM', P .. 'rr', 0, j) end
end

-- Delete up to budget task hashes of removed jobs; returns how many are left.
local function trash_drain(budget)
  local left = 0
  for _, j in ipairs(redis.call('SMEMBERS', P .. 'trash')) do
    local lk = P .. 'trash:' .. j
    while budget > 0 do
      local ts = redis.call('LPOP', lk, math.min(budget, 1000))
      if not ts then break end
      for _, t in ipairs(ts) do redis.call('DEL', tkey(j, t)) end
      budget = budget - #ts
    end
    local rest = redis.call('LLEN', lk)
    if rest == 0 then redis.call('SREM', P .. 'trash', j) end
    left = left + rest
  end
  return left
end

-- Per-state counters on the job hash keep Status O(1) per job.
local function move(j, from, to)
  if from == to then return end
  if from then redis.call('HINCRBY', jkey(j), 'n_' .. from, -1) end
  redis.call('HINCRBY', jkey(j), 'n_' .. to, 1)
end

-- The script that makes the last task terminal hands the job to the merger.
-- Returns true (and the job's task count) when this call did.
local function maybe_finish(j)
  local h = redis.call('HMGET', jkey(j), 'total', 'n_done', 'n_failed', 'n_cancelled', 'state',
                       'n_skipped')
  local term = tonumber(h[2] or 0) + tonumber(h[3] or 0) + tonumber(h[4] or 0) +
               tonumber(h[6] or 0)
  if h[5] == 'running' and term >= tonumber(h[1] or 0) then
    redis.call('HSET', jkey(j), 'state', 'merging')
    redis.call('SADD', P .. 'merging', j)
    event(j, 'job_merging')
    return true, tonumber(h[1] or 0)
  end
  return false
end

-- Task DAG (docs/JOBS.md "Dependencies"). A task with dependencies waits in
-- 'pending' with fields deps (its dependencies, comma-separated task ids) and
-- waiting (how many are not done yet); each dependency lists it in dependants.
-- Dataflow, not lock-step: the script that completes a task releases exactly
-- its dependants whose last dependency that was, so unrelated siblings never
-- wait for each other, and a failure skips only what depends on it.
local function csv(s)
  local out = {}
  if not s or s == '' then return out end
  for x in string.gmatch(s, '[^,]+') do out[#out + 1] = x end
  return out
end

-- d's dependencies are all done: it becomes ready with its input extended by
-- each dependency's result (counters and events are the caller's).
local function dag_ready(j, d)
  local di = cold_get(j, d, 'input', 'deps')
  local parts = {di[1] or item_get(j, d) or ''} -- a missing input is the item
  for _, p in ipairs(csv(di[2])) do
    parts[#parts + 1] = '## result of ' .. (item_get(j, p) or p) .. '\n' ..
                        (out_get(j, p) or '')
  end
  local input = table.concat(parts, '\n\n')
  if parts[1] == '' then input = table.concat(parts, '\n\n', 2) end
  cold_set(j, d, 'input', input, 'ready_at', NOW)
  local r = row_get(j, d)
  r.s = 'ready'
  row_set(j, d, r)
  ready_add(j, d, NOW)
end

-- t is done: dependants whose dependencies are now all done become ready, their
-- input extended with each dependency's result (what {item} expands to).
-- ds: t's dependants when the caller already read them (complete.lua).
local function dag_release(j, t, ds)
  ds = ds or cold_get(j, t, 'dependants')[1]
  for _, d in ipairs(csv(ds)) do
    if redis.call('HINCRBY', tkey(j, d), 'waiting', -1) <= 0 and row_get(j, d).s == 'pending' then
      dag_ready(j, d)
      move(j, 'pending', 'ready')
      event(j, 'task_ready', d, nil, {'after', t})
    end
  end
end

-- t failed for good (or was skipped): every task that depends on it, directly
-- or not, is skipped with the reason; other branches go on.
local function dag_skip(j, t, reason)
  local item = item_get(j, t) or t
  local why = 'skipped: dependency ' .. t .. ' (' .. item .. ') failed: ' .. (reason or '')
  local queue, qi = csv(cold_get(j, t, 'dependants')[1]), 1
  while qi <= #queue do
    local d = queue[qi]
    qi = qi + 1
    local r = row_get(j, d)
    local st = r.s
    if task_exists(j, d, r) and not TERMINAL[st] and st ~= 'leased' and st ~= 'running' then
      ready_rem(j, d)
      cold_set(j, d, 'error', why)
      r.s = 'skipped'
      row_set(j, d, r)
      move(j, st, 'skipped')
      event(j, 'task_skipped', d, nil, {'error', why})
      for _, e in ipairs(csv(cold_get(j, d, 'dependants')[1])) do queue[#queue + 1] = e end
    end
  end
end

-- The cycle in deps (task -> list of tasks it needs) reachable first in
-- `order`, as "a -> b -> a" in names, or nil. Depth-first; colour 1 = on the path.
local function dag_cycle(order, deps, names)
  local colour, path = {}, {}
  local function visit(t)
    colour[t] = 1
    path[#path + 1] = t
    for _, d in ipairs(deps[t] or {}) do
      if colour[d] == 1 then
        local out, on = {}, false
        for _, p in ipairs(path) do
          if p == d then on = true end
          if on then out[#out + 1] = names[p] or p end
        end
        out[#out + 1] = names[d] or d
        return table.concat(out, ' -> ')
      end
      if not colour[d] then
        local e = visit(d)
        if e then return e end
      end
    end
    path[#path] = nil
    colour[t] = 2
    return nil
  end
  for _, t in ipairs(order) do
    if deps[t] and not colour[t] then
      local e = visit(t)
      if e then return e end
    end
  end
  return nil
end

local REDUCE_TEXT = "Write the final answer to the job's goal from the results of its " ..
  'sub-tasks below. Keep what they found, resolve disagreements, and say what is missing.' ..
  '\n\n{item}'

-- "plan": "model" (orchestrator/planner_model.c): the planning task t0000's
-- answer becomes the job's tasks, in the script call that completes it.
-- Checked again here (the worker's grammar forces the schema, but a result is
-- input): a JSON object {"tasks": [{id, instructions, tools, depends_on}]}
-- within budget.max_subtasks, ids unique, dependencies known, no cycle.
-- Returns true, or false and why (the planning attempt then fails and is retried).
local function plan_expand(j, t, output)
  if t ~= 't0000' then return true end
  local jh = redis.call('HMGET', jkey(j), 'plan_schema', 'planned', 'max_subtasks', 'merge', 'total')
  if not jh[1] or jh[2] then return true end
  local ok, plan = pcall(cjson.decode, output)
  if not ok or type(plan) ~= 'table' or type(plan.tasks) ~= 'table' or #plan.tasks == 0 then
    return false, 'plan: the answer is not a JSON object with a non-empty "tasks" array'
  end
  local reduce = jh[4] == 'agent'
  local room = tonumber(jh[3] or '0') - tonumber(jh[5] or '1') - (reduce and 1 or 0)
  if #plan.tasks > room then
    return false, 'plan: ' .. #plan.tasks .. ' sub-tasks exceed budget.max_subtasks (room for ' ..
      room .. ')'
  end
  local base = tonumber(jh[5] or '1')
  local tid, names, order, deps = {}, {}, {}, {}
  for i, s in ipairs(plan.tasks) do
    if type(s) ~= 'table' or type(s.id) ~= 'string' or not string.match(s.id, '^[%w_.-]+$') or
       #s.id > 64 then
      return false, 'plan: tasks[' .. (i - 1) .. '].id: expected letters, digits, _ . -'
    end
    if tid[s.id] then return false, 'plan: task id ' .. s.id .. ' given twice' end
    if type(s.instructions) ~= 'string' or s.instructions == '' then
      return false, 'plan: task ' .. s.id .. ': instructions must be a non-empty string'
    end
    tid[s.id] = string.format('t%04d', base + i - 1)
    names[tid[s.id]] = s.id
    order[#order + 1] = tid[s.id]
  end
  for _, s in ipairs(plan.tasks) do
    local ds = {}
    if s.depends_on ~= nil and type(s.depends_on) ~= 'table' then
      return false, 'plan: task ' .. s.id .. ': depends_on must be an array of task ids'
    end
    for _, d in ipairs(s.depends_on or {}) do
      if type(d) ~= 'string' or not tid[d] then
        return false, 'plan: task ' .. s.id .. ' depends on unknown task ' .. tostring(d)
      end
      ds[#ds + 1] = tid[d]
    end
    if #ds > 0 then deps[tid[s.id]] = ds end
  end
  local cyc = dag_cycle(order, deps, names)
  if cyc then return false, 'plan: dependency cycle ' .. cyc end
  if reduce then
    local r = string.format('t%04d', base + #plan.tasks)
    deps[r] = {}
    for _, x in ipairs(order) do table.insert(deps[r], x) end
    names[r] = 'reduce'
    order[#order + 1] = r
    redis.call('HSET', jkey(j), 'reducer', r)
  end
  local dependants, nready = {}, 0
  for _, x in ipairs(order) do
    for _, d in ipairs(deps[x] or {}) do
      dependants[d] = dependants[d] or {}
      table.insert(dependants[d], x)
    end
  end
  for i, x in ipairs(order) do
    local s = plan.tasks[i]
    local ins = s and s.instructions or REDUCE_TEXT
    if s and deps[x] and not string.find(ins, '{item}', 1, true) then ins = ins .. '\n\n{item}' end
    local tools = ''
    if s and type(s.tools) == 'table' then tools = cjson.encode(s.tools) end
    redis.call('HSET', itemkey(j), x, names[x])
    row_set(j, x, {s = deps[x] and 'pending' or 'ready', a = '0', k = '', i = '', n = '0', c = '1',
                   w = ''})
    cold_set(j, x, 'instructions', ins, 'input', '', 'parent', t, 'depth', 1, 'tools', tools)
    if deps[x] then
      cold_set(j, x, 'deps', table.concat(deps[x], ','), 'waiting', #deps[x])
    else
      ready_add(j, x, NOW)
      nready = nready + 1
    end
    if dependants[x] then cold_set(j, x, 'dependants', table.concat(dependants[x], ',')) end
    redis.call('RPUSH', tlist(j), x)
  end
  redis.call('HINCRBY', jkey(j), 'total', #order)
  redis.call('HINCRBY', jkey(j), 'n_ready', nready)
  redis.call('HINCRBY', jkey(j), 'n_pending', #order - nready)
  redis.call('HSET', jkey(j), 'planned', 1)
  event(j, 'plan_expanded', t, nil, {'tasks', #order})
  return true
end

-- A lost or failed attempt: back to ready with backoff, or failed for good.
-- forgive: the attempt was lost to a quarantined worker, not the task's fault:
-- it does not count against max_attempts (the task's cold hash counts 'forgiven').
local function retry_or_fail(j, t, attempt, reason, forgive)
  local tk = tkey(j, t)
  local r = row_get(j, t)
  local st = r.s
  local maxa = tonumber(redis.call('HGET', jkey(j), 'max_attempts') or '3')
  local m = member(j, t)
  redis.call('ZREM', P .. 'leased', m)
  ready_rem(j, t)
  local used = attempt
  if forgive then
    used = attempt - redis.call('HINCRBY', tk, 'forgiven', 1)
    cold_set(j, t, 'error', reason)
  else
    used = attempt - tonumber(cold_get(j, t, 'forgiven')[1] or '0')
  end
  if used < maxa then
    local backoff = 0
    if not forgive then
      backoff = 1000 * (2 ^ (used - 1))
      if backoff > 32000 then backoff = 32000 end
    end
    cold_set(j, t, 'error', reason, 'ready_at', NOW + backoff)
    r.s = 'ready'
    row_set(j, t, r)
    ready_add(j, t, NOW + backoff)
    move(j, st, 'ready')
    event(j, 'task_retry', t, attempt, {'error', reason, 'backoff_ms', backoff})
    return 'retry'
  end
  cold_set(j, t, 'error', reason)
  r.s = 'failed'
  row_set(j, t, r)
  move(j, st, 'failed')
  event(j, 'task_failed', t, attempt, {'error', reason})
  dag_skip(j, t, reason)
  maybe_finish(j)
  return 'failed'
end

-- The merged result is built in pages (sched_merge.c): each page's fragments
-- (results, failed_tasks, merged) are appended to scratch keys. 'at' counts the
-- tasks whose fragments are in; a page is appended once even if its call is
-- sent again after a reconnect (its 'at' is then already reached).
local function merge_append(j, at, r, f, m)
  local k = jkey(j) .. ':merge:'
  if tonumber(redis.call('GET', k .. 'at') or '0') >= at then return end
  if #r > 0 then redis.call('APPEND', k .. 'r', r) end
  if #f > 0 then redis.call('APPEND', k .. 'f', f) end
  if #m > 0 then redis.call('APPEND', k .. 'm', m) end
  redis.call('SET', k .. 'at', at)
end

-- A page of what the merger needs, in task order (collect.lua; complete.lua
-- also returns the first page of a small job it turned to merging, so the
-- merge needs no collect round trip): {the job fields the merger reads (name,
-- merge, created_ms, cancel_requested, reducer, agent as field/value pairs; {}
-- when the job is gone, and after the first page), {task, state, attempt, item, output, error, worker, tokens, steps,
-- tool_calls}...}; steps and tool_calls are '' for a task that ran no agent
-- step. The first page clears the merge's scratch keys. Rows come from the
-- column hashes: call it after rows_flush in a BATCH call.
local function collect_page(j, at, n)
  local out = {{}}
  if at == 0 then
    local k = jkey(j) .. ':merge:'
    redis.call('DEL', k .. 'r', k .. 'f', k .. 'm', k .. 'at')
    -- only what sched_merge.c reads, not the whole job hash (~30 fields)
    local h = redis.call('HMGET', jkey(j), 'state', 'name', 'merge', 'cancel_requested', 'reducer',
                         'created_ms')
    if h[1] then
      local f = {'name', h[2] or '', 'merge', h[3] or '', 'created_ms', h[6] or '0'}
      if h[4] then f[#f + 1] = 'cancel_requested'; f[#f + 1] = h[4] end
      if h[5] then f[#f + 1] = 'reducer'; f[#f + 1] = h[5] end
      -- an agent job's status names its sandbox (status_entry): swarmd answers
      -- waiting clients from the merge only for the others
      if redis.call('HEXISTS', jkey(j), 'agent') == 1 then f[#f + 1] = 'agent'; f[#f + 1] = '1' end
      out[1] = f
    end
  end
  -- the page's rows, items and outputs: one HMGET per column; the per-task hash
  -- only for cold tasks (error, agent steps). A row is split by one string.match
  -- into just the fields the merger reads (no table: each costs Redis ~3.6 K
  -- instructions, each capture a string).
  local ts = redis.call('LRANGE', tlist(j), at, at + n - 1)
  local vs = col_many(stkey(j), ts)
  local its, outs = col_many(itemkey(j), ts), col_many(outkey(j), ts)
  for x, t in ipairs(ts) do
    local s, a, tok, c, w = 'ready', '0', '0', '', ''
    if vs[x] then
      s, a, tok, c, w = string.match(vs[x], '^([^|]*)|([^|]*)|[^|]*|[^|]*|([^|]*)|([^|]*)|(.*)$')
    end
    local e, st, tc = '', '', '0'
    if c == '1' then
      local h = redis.call('HMGET', tkey(j, t), 'error', 'steps', 'tool_calls')
      e, st, tc = h[1] or '', h[2] or '', h[3] or '0'
    end
    out[#out + 1] = {t, s, a, its[x] or '', outs[x] or '', e, w, tok, st, tc}
  end
  return out
end

-- One job's Status summary (status.lua; finish.lua returns it for the job it
-- just stored, so a client waiting on the job is answered without another
-- read): {id, found, name, state, total, done, failed, cancelled, running,
-- pending, created_ms, finished_ms, result page, result size, sandbox (agent
-- jobs' agent.sandbox, else ''), {task, state, attempt, worker, tokens,
-- error}...}, or {id, 0} for no such job. with_tasks / with_result are '1' or
-- '0'; the result page is bytes [roff, roff + rlen) of the merged result.
local function status_entry(j, with_tasks, with_result, roff, rlen)
  local h = redis.call('HMGET', jkey(j), 'name', 'state', 'total', 'n_done', 'n_failed',
                       'n_cancelled', 'n_leased', 'n_running', 'n_ready', 'created_ms',
                       'finished_ms', 'n_pending', 'n_skipped', 'cancel_requested', 'agent')
  if not h[2] then return {j, 0} end
  local state = h[2]
  -- a cancelled job reads as cancelled at once, even before its merge ran
  if (state == 'merging' or state == 'running') and h[14] == '1' then state = 'cancelled' end
  -- DAG: skipped tasks (a dependency failed) count as failed, pending ones
  -- (waiting for dependencies) as not started
  local e = {j, 1, h[1] or '', state, h[3] or '0', h[4] or '0',
             tostring(tonumber(h[5] or 0) + tonumber(h[13] or 0)), h[6] or '0',
             tostring(tonumber(h[7] or 0) + tonumber(h[8] or 0)),
             tostring(tonumber(h[9] or 0) + tonumber(h[12] or 0)),
             h[10] or '0', h[11] or '0', '', 0, ''}
  local agent = h[15]
  if agent then
    local ok, a = pcall(cjson.decode, agent)
    e[15] = ok and type(a) == 'table' and type(a.sandbox) == 'string' and a.sandbox or 'bwrap'
  end
  local rk = jkey(j) .. ':result'
  e[14] = redis.call('STRLEN', rk)
  if with_result == '1' and e[14] > roff and rlen > 0 then
    e[13] = redis.call('GETRANGE', rk, roff, roff + rlen - 1)
  end
  if with_tasks == '1' then
    local compacted = redis.call('HGET', jkey(j), 'compact_at') ~= false
    local ts = redis.call('LRANGE', tlist(j), 0, 999)
    rows_load(j, ts)
    for _, t in ipairs(ts) do
      local r = ROWS[j][t]
      local err = ''
      if r.c == '1' then err = redis.call('HGET', tkey(j, t), 'error') or '' end
      -- a compacted job (purge.lua) kept only the rows of its tasks not done
      e[#e + 1] = {t, (r.fresh and compacted) and 'done' or r.s, r.a, r.w, r.n, err}
    end
  end
  return e
end

-- The start of every call (the generated wrapper of each function): this
-- call's arguments, and empty per-call caches, also after a call that raised.
local function lib_begin(args)
  ARGV = args
  P = args[1]
  NOW = tonumber(args[2])
  ROWS, DIRTY, OUTS, OUTC, RAW, BATCH, EVB, DUE = {}, {}, {}, {}, {}, false, {}, 0
end

-- lib.lua + a body run as one plain EVAL script (tests/tui/logs_lua_test.py
-- does): ARGV is then that script's global (_G: the local ARGV above shadows
-- it). embed_lua.cmake drops this line from the library, where each
-- function's wrapper calls lib_begin instead.
lib_begin(_G.ARGV) -- EVAL only
