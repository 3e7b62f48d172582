-- complete.lua - workers' Results, fenced by attempt, lease token and holder; many
-- per call (swarmd batches the results it drained together: one script per batch,
-- not per sub-task). Per result 10 ARGV from ARGV[3]: job, task, attempt, token,
-- worker (the sender), ok (1/0), output, error, tokens, elapsed ms.
-- Returns one flat array, per result outcome, merge: outcome ok | retry | failed | stale |
-- duplicate | unknown | forged; merge = 1 when this result made the job ready to merge
-- (flat: Redis converts a reply per element, a table per result costs more).
-- Per-job counter moves and the finish check are gathered and applied once per
-- job at the end of the batch (most of a batch's results share a job).
local moved = {}   -- job -> {from_state -> n}
local done_n = {}  -- job -> results moved to done
local order = {}   -- jobs in first-seen order
local first_of = {} -- job -> index in out of its first result's merge flag
local unleased = {} -- members leaving P leased, removed by one ZREM at the end

local function complete_one(b, idx)
  local j, t, attempt = ARGV[b], ARGV[b + 1], tonumber(ARGV[b + 2])
  local tk = tkey(j, t)
  local h = redis.call('HMGET', tk, 'state', 'attempt', 'token', 'worker', 'dependants', 'error')
  if not h[1] then return 'unknown', 0 end
  if tonumber(h[2]) ~= attempt or attempt == 0 then return 'stale', 0 end
  -- The current attempt: only its holder, echoing its token, may end it.
  if h[3] ~= ARGV[b + 3] or h[4] ~= ARGV[b + 4] then return 'forged', 0 end
  if TERMINAL[h[1]] then
    if h[1] == 'done' then return 'duplicate', 0 end
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
    if h[1] ~= 'leased' and h[1] ~= 'running' then ready_rem(j, t) end
    -- error is cleared only when an earlier attempt left one; lease_until and
    -- the elapsed ms are not stored (nothing reads them from the hash; P leased
    -- holds the live leases)
    if h[6] and h[6] ~= '' then
      redis.call('HSET', tk, 'state', 'done', 'output', ARGV[b + 6], 'error', '', 'tokens',
                 ARGV[b + 8])
    else
      redis.call('HSET', tk, 'state', 'done', 'output', ARGV[b + 6], 'tokens', ARGV[b + 8])
    end
    if not moved[j] then
      moved[j] = {}
      done_n[j] = 0
      order[#order + 1] = j
      first_of[j] = idx
    end
    moved[j][h[1]] = (moved[j][h[1]] or 0) + 1
    done_n[j] = done_n[j] + 1
    event_task(j, 'task_done', t, ARGV[b + 2], 'worker', ARGV[b + 4], 'tokens', ARGV[b + 8])
    dag_release(j, t, h[5] or '')
    return 'ok', 0
  end
  redis.call('HSET', tk, 'tokens', ARGV[b + 8])
  local r = retry_or_fail(j, t, attempt, 'worker ' .. ARGV[b + 4] .. ': ' .. why)
  if r == 'failed' and redis.call('HGET', jkey(j), 'state') == 'merging' then return r, 1 end
  return r, 0
end

local out = {}
for b = 3, #ARGV - 9, 10 do
  local n = #out
  out[n + 1], out[n + 2] = complete_one(b, n + 2)
end
if #unleased > 0 then redis.call('ZREM', P .. 'leased', unpack(unleased)) end
for _, j in ipairs(order) do
  for from, n in pairs(moved[j]) do redis.call('HINCRBY', jkey(j), 'n_' .. from, -n) end
  redis.call('HINCRBY', jkey(j), 'n_done', done_n[j])
  if maybe_finish(j) then out[first_of[j]] = 1 end
end
events_flush()
return out
