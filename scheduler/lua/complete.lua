-- complete.lua - workers' Results, fenced by attempt, lease token and holder; many
-- per call (swarmd batches the results it drained together: one script per batch,
-- not per sub-task). Per result 10 ARGV from ARGV[3]: job, task, attempt, token,
-- worker (the sender), ok (1/0), output, error, tokens, elapsed ms.
-- Returns one flat array, per result outcome, merge: outcome ok | retry | failed | stale |
-- duplicate | unknown | forged; merge = 1 when this result made the job ready to merge
-- (flat: Redis converts a reply per element, a table per result costs more). Then how
-- many tasks this call made due now (dependants released, planned tasks added: swarmd
-- leases only when some are, or when others may be due). Then, per job of at most
-- INLINE_MERGE tasks that this call turned to merging, its id and the first collect page
-- (lib.lua collect_page): swarmd merges it from this reply, one collect.lua round trip
-- sooner.
-- Per-job counter moves and the finish check are gathered and applied once per
-- job at the end of the batch (most of a batch's results share a job).
local moved = {}   -- job -> {from_state -> n}
local done_n = {}  -- job -> results moved to done
local order = {}   -- jobs in first-seen order
local first_of = {} -- job -> index in out of its first result's merge flag
local unleased = {} -- members leaving P leased, removed by one ZREM at the end
local inline = {}   -- small jobs this call turned to merging: their first page goes back

local vals = {}   -- job -> task -> its row as read at the start of the batch
local fast = {}   -- job -> true when no task of the job comes twice in the batch

-- Per-job state of a result on the fast path (the common case): a good result
-- for the current attempt of a leased or running task with no cold fields,
-- from its holder with its token. The row is checked for the expected
-- "<state>|<attempt>|<token>|" prefix and "||<worker>" suffix in place, without
-- parsing it or building strings (a parse costs Redis a table and seven strings).
local function fast_state(v, b)
  if not v or ARGV[b + 5] ~= '1' then return nil end
  -- a planning job's t0000 is expanded by plan_expand (the full path)
  if ARGV[b + 1] == 't0000' and redis.call('HEXISTS', jkey(ARGV[b]), 'plan_schema') == 1 then
    return nil
  end
  local at
  if string.find(v, 'leased|', 1, true) == 1 then
    at = 7
  elseif string.find(v, 'running|', 1, true) == 1 then
    at = 8
  else
    return nil
  end
  -- attempt then token, each followed by '|', found in place (no new string)
  local a, k = ARGV[b + 2], ARGV[b + 3]
  if a == '' or string.find(v, a, at + 1, true) ~= at + 1 or string.byte(v, at + 1 + #a) ~= 124 then
    return nil
  end
  local kat = at + 2 + #a
  if string.find(v, k, kat, true) ~= kat or string.byte(v, kat + #k) ~= 124 then return nil end
  local w = ARGV[b + 4]
  local p = #v - #w -- the '|' before the worker
  if p <= kat + #k or string.find(v, w, p + 1, true) ~= p + 1 or string.byte(v, p) ~= 124 or
     string.byte(v, p - 1) ~= 124 then
    return nil
  end
  return at == 7 and 'leased' or 'running'
end

-- A result that moved task t of job j from state `from` to done: its job's
-- counter moves (applied once per job at the end) and its task_done event.
local function count_done(j, t, from, idx, b)
  if not moved[j] then
    moved[j] = {}
    done_n[j] = 0
    order[#order + 1] = j
    first_of[j] = idx
  end
  moved[j][from] = (moved[j][from] or 0) + 1
  done_n[j] = done_n[j] + 1
  event_task(j, 'task_done', t, ARGV[b + 2], 'worker', ARGV[b + 4], 'tokens', ARGV[b + 8])
end

local function complete_one(b, idx)
  local j, t, attempt = ARGV[b], ARGV[b + 1], tonumber(ARGV[b + 2])
  local v = vals[j][t]
  local fs = fast[j] and fast_state(v, b)
  if fs then
    -- done: the row keeps attempt, token (a replay reads as a duplicate), tokens
    -- and worker; the holder's incarnation is no longer needed
    row_put_raw(j, t, 'done|' .. ARGV[b + 2] .. '|' .. ARGV[b + 3] .. '||' .. ARGV[b + 8] .. '||' ..
                ARGV[b + 4])
    out_set(j, t, ARGV[b + 6])
    unleased[#unleased + 1] = member(j, t)
    count_done(j, t, fs, idx, b)
    return 'ok', 0
  end
  local r = row_get_v(j, t, v)
  if r.fresh and not task_exists(j, t, r) then return 'unknown', 0 end
  if tonumber(r.a) ~= attempt or attempt == 0 then return 'stale', 0 end
  -- The current attempt: only its holder, echoing its token, may end it.
  if r.k ~= ARGV[b + 3] or r.w ~= ARGV[b + 4] then return 'forged', 0 end
  local st = r.s
  if TERMINAL[st] then
    if st == 'done' then return 'duplicate', 0 end
    return 'stale', 0
  end
  -- A result for the current attempt is good even if its lease expired and the
  -- task sits in ready again: nobody else holds it.
  -- "plan": "model": the planning task's answer becomes tasks, or it fails
  local ok, why = ARGV[b + 5] == '1', ARGV[b + 7]
  if ok then ok, why = plan_expand(j, t, ARGV[b + 6]) end
  if ok then
    unleased[#unleased + 1] = member(j, t)
    -- a leased or running task is in no ready set (lease.lua took it out)
    if st ~= 'leased' and st ~= 'running' then ready_rem(j, t) end
    -- only a cold task (dependants, an earlier attempt's error...) has a hash
    -- to read; error is cleared only when an earlier attempt left one. The
    -- elapsed ms are not stored (nothing reads them; P leased holds the leases)
    local h = cold_get(j, t, 'dependants', 'error')
    if h[2] and h[2] ~= '' then redis.call('HSET', tkey(j, t), 'error', '') end
    r.s, r.n = 'done', ARGV[b + 8]
    row_set(j, t, r)
    out_set(j, t, ARGV[b + 6])
    count_done(j, t, st, idx, b)
    dag_release(j, t, h[1] or '')
    return 'ok', 0
  end
  r.n = ARGV[b + 8]
  row_set(j, t, r)
  local res = retry_or_fail(j, t, attempt, 'worker ' .. ARGV[b + 4] .. ': ' .. why)
  if res == 'failed' and redis.call('HGET', jkey(j), 'state') == 'merging' then return res, 1 end
  return res, 0
end

-- one HMGET of rows per job for the whole batch, rows and outputs written by
-- one HSET per job per column at the end (rows_flush)
BATCH = true
local byjob = {}
for b = 3, #ARGV - 9, 10 do
  local j = ARGV[b]
  local l = byjob[j]
  if not l then
    l = {}
    byjob[j] = l
    vals[j] = {}
    fast[j] = true
  end
  l[#l + 1] = ARGV[b + 1]
  -- a task twice in one batch: its job takes the slow path (rows cached per call)
  if vals[j][ARGV[b + 1]] then fast[j] = false end
  vals[j][ARGV[b + 1]] = true
end
for j, ts in pairs(byjob) do
  local vs = col_many(stkey(j), ts)
  local m = vals[j]
  for x, t in ipairs(ts) do m[t] = vs[x] end
end
local INLINE_MERGE = 256 -- tasks: the page stays small, the call short
local out = {}
for b = 3, #ARGV - 9, 10 do
  local n = #out
  out[n + 1], out[n + 2] = complete_one(b, n + 2)
end
if #unleased > 0 then redis.call('ZREM', P .. 'leased', unpack(unleased)) end
for _, j in ipairs(order) do
  for from, n in pairs(moved[j]) do redis.call('HINCRBY', jkey(j), 'n_' .. from, -n) end
  redis.call('HINCRBY', jkey(j), 'n_done', done_n[j])
  local merging, total = maybe_finish(j)
  if merging then
    out[first_of[j]] = 1
    if total <= INLINE_MERGE then
      inline[#inline + 1] = j
    end
  end
end
rows_flush()
events_flush()
out[#out + 1] = DUE
-- after rows_flush: the page reads the rows back from the column hashes
for _, j in ipairs(inline) do
  out[#out + 1] = j
  out[#out + 1] = collect_page(j, 0, INLINE_MERGE)
end
return out
