-- status.lua - job summaries for Status. ARGV[3] with_tasks (1/0), [4] with_result (1/0),
-- [5] result offset, [6] result page bytes, [7..] job ids (none = the newest 1000 jobs).
-- Per job: {id, found, name, state, total, done, failed, cancelled, running, pending,
-- created_ms, finished_ms, result page, result size, sandbox (agent jobs' agent.sandbox,
-- else ''), {task, state, attempt, worker, tokens, error}...}. Bounded: a result page at most, the first 1000 tasks at most.
local ids = {}
for i = 7, #ARGV do ids[#ids + 1] = ARGV[i] end
local roff, rlen = tonumber(ARGV[5]), tonumber(ARGV[6])
if #ids == 0 then ids = redis.call('ZRANGE', P .. 'jobs', -1000, -1) end
local out = {}
for _, j in ipairs(ids) do
  local h = redis.call('HMGET', jkey(j), 'name', 'state', 'total', 'n_done', 'n_failed',
                       'n_cancelled', 'n_leased', 'n_running', 'n_ready', 'created_ms',
                       'finished_ms', 'n_pending', 'n_skipped')
  if not h[2] then
    out[#out + 1] = {j, 0}
  else
    local state = h[2]
    -- a cancelled job reads as cancelled at once, even before its merge ran
    if (state == 'merging' or state == 'running') and
       redis.call('HGET', jkey(j), 'cancel_requested') == '1' then
      state = 'cancelled'
    end
    -- DAG: skipped tasks (a dependency failed) count as failed, pending ones
    -- (waiting for dependencies) as not started
    local e = {j, 1, h[1] or '', state, h[3] or '0', h[4] or '0',
               tostring(tonumber(h[5] or 0) + tonumber(h[13] or 0)), h[6] or '0',
               tostring(tonumber(h[7] or 0) + tonumber(h[8] or 0)),
               tostring(tonumber(h[9] or 0) + tonumber(h[12] or 0)),
               h[10] or '0', h[11] or '0', '', 0, ''}
    local agent = redis.call('HGET', jkey(j), 'agent')
    if agent then
      local ok, a = pcall(cjson.decode, agent)
      e[15] = ok and type(a) == 'table' and type(a.sandbox) == 'string' and a.sandbox or 'bwrap'
    end
    local rk = jkey(j) .. ':result'
    e[14] = redis.call('STRLEN', rk)
    if ARGV[4] == '1' and e[14] > roff and rlen > 0 then
      e[13] = redis.call('GETRANGE', rk, roff, roff + rlen - 1)
    end
    if ARGV[3] == '1' then
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
    out[#out + 1] = e
  end
end
return out
