-- lease.lua - hand ready tasks (ready_at <= now) to workers, one per slot.
-- ARGV[3] lease ms, then per slot to fill: worker id, fencing token (random,
-- decimal string: kept as a string, 64 bits do not fit a Lua number), incarnation.
-- Returns one flat array (no table per task: converting the reply costs Redis
-- per element): a job header '', job, goal, max_tokens, temperature, seed,
-- agent (the job's agent spec JSON or ''), lease_until; then per task of that
-- job: task, attempt, instructions, input, checkpoint (the task's last agent
-- checkpoint or ''); then the next header... The i-th task in the reply took
-- the i-th slot of ARGV (its worker, token and incarnation).
-- Fair share: jobs are served round-robin from the rotation P rr, each turn a
-- job's share of the slots left to fill, so a small job submitted behind a huge
-- one starts at once.
local lease_ms = tonumber(ARGV[3])
BATCH = true -- rows written by one HSET per job (rows_flush)
local want = (#ARGV - 3) / 3
local out = {}
-- attempt numbers as strings without a number formatting (sprintf) per task
local ATT = {'1', '2', '3', '4', '5', '6', '7', '8'}

-- Tasks still put in the legacy global ready zset join their job's set.
local legacy = redis.call('ZRANGE', P .. 'ready', 0, 999, 'WITHSCORES')
for i = 1, #legacy, 2 do
  local j, t = split(legacy[i])
  redis.call('ZREM', P .. 'ready', legacy[i])
  if j then ready_add(j, t, tonumber(legacy[i + 1])) end
end

-- Job fields are read once per job per call, and its ready -> leased counter
-- moves applied once at the end (a batch is mostly a few jobs' tasks).
local jobs, leased_n = {}, {}
local function job_of(j)
  local jh = jobs[j]
  if not jh then
    jh = redis.call('HMGET', jkey(j), 'goal', 'max_tokens', 'temperature', 'seed', 'agent',
                    'first_dispatch_ms', 'wall_time_s', 'cancel_requested')
    jh[9] = redis.call('GET', jkey(j) .. ':ins') or '' -- tasks' default instructions
    -- budget.wall_time_s counts from the job's first dispatch
    if not jh[6] and not jh[8] then
      redis.call('HSET', jkey(j), 'first_dispatch_ms', NOW)
      jh[6] = tostring(NOW)
      local wall = tonumber(jh[7] or '0')
      if wall and wall > 0 then redis.call('ZADD', P .. 'deadlines', NOW + wall * 1000, j) end
    end
    jobs[j] = jh
    leased_n[j] = 0
  end
  return jh
end

-- Each turn takes up to this job's share (want / jobs in the rotation; what a
-- job leaves of its share flows to the next turns), with one ZRANGEBYSCORE, one ZREM
-- and one ZADD per turn instead of per task: a call that fills hundreds of
-- slots costs a few commands per task, not a dozen.
local k = 1
local nj = redis.call('LLEN', P .. 'rr')
local misses = 0
while k <= want and nj > 0 and misses < nj do
  local j = redis.call('LMOVE', P .. 'rr', P .. 'rr', 'LEFT', 'RIGHT')
  local rk = P .. 'job:' .. j .. ':ready'
  local share = math.min(math.ceil(want / nj), want - k + 1)
  local ms = redis.call('ZRANGEBYSCORE', rk, '-inf', NOW, 'LIMIT', 0, share)
  if #ms == 0 then
    -- nothing due: only backoffs left, or nothing at all (then out of the rotation)
    if redis.call('ZCARD', rk) == 0 then
      redis.call('LREM', P .. 'rr', 0, j)
      redis.call('SREM', P .. 'rrset', j)
      nj = nj - 1
    else
      misses = misses + 1
    end
  else
    misses = 0
    redis.call('ZREM', rk, unpack(ms))
    local jh = job_of(j)
    local lus = tostring(NOW + lease_ms) -- formatted once, not once per command per task
    local zl = {}
    local head = false
    -- the batch's rows and items: one HMGET each (lib.lua col_many); a fresh
    -- task (no row) is leased without parsing anything
    local vs = col_many(stkey(j), ms)
    local its = col_many(itemkey(j), ms)
    for x, t in ipairs(ms) do
      local v = vs[x]
      local r = nil
      if v then r = row_get_v(j, t, v) end
      if (not r or r.s == 'ready') and not jh[8] then
        local w, tok, inc = ARGV[1 + 3 * k], ARGV[2 + 3 * k], ARGV[3 + 3 * k]
        local attempt = '1'
        -- lease_until lives in P leased only (nothing reads it from the row)
        if r then
          local an = tonumber(r.a) + 1
          attempt = ATT[an] or tostring(an)
          r.s, r.a, r.w, r.k, r.i = 'leased', attempt, w, tok, inc
          row_set(j, t, r)
        else
          row_put_raw(j, t, 'leased|1|' .. tok .. '|' .. inc .. '|0||' .. w)
        end
        zl[#zl + 1] = lus
        zl[#zl + 1] = member(j, t)
        leased_n[j] = leased_n[j] + 1
        event_task(j, 'task_leased', t, attempt, 'worker', w)
        if not head then
          head = true
          local n = #out
          out[n + 1] = ''
          out[n + 2] = j
          out[n + 3] = jh[1] or ''
          out[n + 4] = jh[2] or '0'
          out[n + 5] = jh[3] or '0'
          out[n + 6] = jh[4] or '0'
          out[n + 7] = jh[5] or ''
          out[n + 8] = lus
        end
        -- a missing instructions field is the job's default, a missing input
        -- the item; only a cold task (its row says so) has a per-task hash
        -- (no table per task: each costs Redis ~3.6 K instructions)
        local ins, inp, ck = jh[9], its[x] or '', ''
        if r and r.c == '1' then
          local th = redis.call('HMGET', tkey(j, t), 'instructions', 'input', 'ckpt')
          ins, inp, ck = th[1] or ins, th[2] or inp, th[3] or ''
        end
        local n = #out
        out[n + 1] = t
        out[n + 2] = attempt
        out[n + 3] = ins
        out[n + 4] = inp
        out[n + 5] = ck
        k = k + 1
      end
    end
    if #zl > 0 then redis.call('ZADD', P .. 'leased', unpack(zl)) end
  end
end
for j, n in pairs(leased_n) do
  if n > 0 then
    redis.call('HINCRBY', jkey(j), 'n_ready', -n)
    redis.call('HINCRBY', jkey(j), 'n_leased', n)
  end
end
rows_flush()
events_flush()
return out
