-- logs.lua - one page of a job's logs after a cursor, for `swarm logs [-f]` and
-- `swarm top` (read only). ARGV[3] kind, [4] job ('' = every job, kind live only),
-- [5] task ('' = every task), [6] after (cursor, '' = from the start), [7] most
-- entries, [8] most bytes (at least one entry is always returned).
-- Kinds: events (P job:<id>:events) and audit (P job:<id>:audit) page a stream by
-- entry id; transcript pages the agents' P job:<id>:task:<tid>:transcript lists
-- with the cursor "<task index>:<line index>" (just "<line index>" for one task);
-- live lists the tasks leased or running now with what they report.
-- Returns {job state, next cursor, more (0/1), trimmed, first id, entry...}, each
-- entry {id, task, name, value, name, value, ...}. Bounded per call: limit
-- entries, max bytes, and for a filtered stream 10 * limit entries scanned, for
-- transcripts 1000 tasks visited, for live the leased set (every busy slot).
local kind, j, task, after = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local limit, maxbytes = tonumber(ARGV[7]), tonumber(ARGV[8])
if limit < 1 then limit = 1 end
local LINE_MAX = 2 * 1024 * 1024 -- a transcript line above this is replaced by a stub

local state = ''
if j ~= '' then
  -- the stored state, not status.lua's view of a cancel in progress: a follower
  -- stops only once finish.lua has added the job's last event with it
  state = redis.call('HGET', jkey(j), 'state')
  if not state then return redis.error_reply('unknown job ' .. j) end
elseif kind ~= 'live' then
  return redis.error_reply('a job id is needed for ' .. kind)
end

local out = {state, after, 0, 0, ''}
local bytes = 0

-- A stream id "MS-SEQ" as its two parts (SEQ a number) for comparisons.
local function id_parts(id)
  local d = string.find(id, '-', 1, true)
  return string.sub(id, 1, d - 1), tonumber(string.sub(id, d + 1))
end
local function id_le(ams, aseq, bms, bseq) -- a <= b
  if #ams ~= #bms then return #ams < #bms end
  if ams ~= bms then return ams < bms end
  return aseq <= bseq
end

-- The events of one stream entry as {id, field list}: itself, or for a batch
-- entry (lib.lua ev_flush: fields ts, event, n, <n>, task, attempt, ... with
-- comma-separated lists) each of its n events with the fields and id it would
-- have had alone: ts, event, task, attempt, the rest; ids MS-(SEQ-n+1..SEQ).
local function entry_events(e)
  local f = e[2]
  if f[5] ~= 'n' then return {{e[1], f}} end
  local n = tonumber(f[6])
  local ms, seq = id_parts(e[1])
  local cols = {}
  for i = 7, #f - 1, 2 do
    local vals, at = {}, 1
    local s = f[i + 1]
    while true do
      local c = string.find(s, ',', at, true)
      if not c then
        vals[#vals + 1] = string.sub(s, at)
        break
      end
      vals[#vals + 1] = string.sub(s, at, c - 1)
      at = c + 1
    end
    cols[#cols + 1] = {f[i], vals}
  end
  local evs = {}
  for k = 1, n do
    local g = {'ts', f[2], 'event', f[4]}
    for _, c in ipairs(cols) do
      g[#g + 1] = c[1]
      g[#g + 1] = c[2][k] or ''
    end
    evs[k] = {string.format('%s-%.0f', ms, seq - n + k), g}
  end
  return evs
end

local function stream(key)
  if redis.call('EXISTS', key) == 0 then return end
  local info = redis.call('XINFO', 'STREAM', key)
  local added, len = 0, 0
  for i = 1, #info, 2 do
    if info[i] == 'entries-added' then added = tonumber(info[i + 1]) end
    if info[i] == 'length' then len = tonumber(info[i + 1]) end
    if info[i] == 'first-entry' and type(info[i + 1]) == 'table' then
      out[5] = entry_events(info[i + 1])[1][1]
    end
  end
  -- entries, not events: a batch entry dropped by the cap counts once
  if added > len then out[4] = added - len end
  local start = '-'
  local ams, aseq = nil, nil
  if after ~= '' then
    start = '(' .. after
    if string.find(after, '-', 1, true) then ams, aseq = id_parts(after) end
  end
  local scanned, n = 0, 0
  while true do
    local chunk = redis.call('XRANGE', key, start, '+', 'COUNT', limit)
    for _, e in ipairs(chunk) do
      for _, ev in ipairs(entry_events(e)) do
        local id, f = ev[1], ev[2]
        local ms, seq = id_parts(id)
        -- a cursor inside a batch entry: its events up to the cursor were read
        if not (ams and id_le(ms, seq, ams, aseq)) then
          local t = ''
          for i = 1, #f - 1, 2 do if f[i] == 'task' then t = f[i + 1] end end
          if task == '' or t == task then
            local size = 0
            for i = 1, #f do size = size + #f[i] end
            if n >= limit or (n > 0 and bytes + size > maxbytes) then
              out[3] = 1
              return
            end
            local entry = {id, t}
            for i = 1, #f do entry[#entry + 1] = f[i] end
            out[#out + 1] = entry
            n = n + 1
            bytes = bytes + size
          end
          out[2] = id
        end
      end
      scanned = scanned + 1
    end
    if #chunk < limit then return end
    if scanned >= 10 * limit then
      out[3] = 1
      return
    end
    start = '(' .. out[2]
  end
end

local function line_entry(t, idx, line)
  if #line > LINE_MAX then
    line = cjson.encode({task_id = t, stub = true, bytes = #line})
  end
  bytes = bytes + #line
  out[#out + 1] = {t .. ':' .. idx, t, 'record', line}
end

local function transcript()
  local ti, li = 0, 0
  if task ~= '' then
    li = tonumber(after) or 0
    local lines = redis.call('LRANGE', tkey(j, task) .. ':transcript', li, li + limit - 1)
    for k, line in ipairs(lines) do
      if k > 1 and bytes + #line > maxbytes then
        out[3] = 1
        break
      end
      line_entry(task, li, line)
      li = li + 1
    end
    if out[3] == 0 and #lines == limit and
       redis.call('LLEN', tkey(j, task) .. ':transcript') > li then
      out[3] = 1
    end
    out[2] = tostring(li)
    return
  end
  local a, b = string.match(after, '^(%d+):(%d+)$')
  if a then ti, li = tonumber(a), tonumber(b) end
  local ids = redis.call('LRANGE', tlist(j), ti, ti + 999)
  for _, t in ipairs(ids) do
    local room = limit - (#out - 5)
    if room <= 0 then
      out[3] = 1
      break
    end
    local lines = redis.call('LRANGE', tkey(j, t) .. ':transcript', li, li + room - 1)
    local stopped = false
    for k, line in ipairs(lines) do
      if #out > 5 and bytes + #line > maxbytes then
        stopped = true
        break
      end
      line_entry(t, li, line)
      li = li + 1
      if k == #lines and #lines == room then stopped = true end
    end
    if stopped then
      out[3] = 1
      break
    end
    ti, li = ti + 1, 0
  end
  if out[3] == 0 and #ids == 1000 then out[3] = 1 end
  out[2] = ti .. ':' .. li
end

-- The last transcript line's tool, step and output (its answer, else its last
-- call's observation, cut to 200 bytes), when small enough to decode.
local function last_step(tk)
  local line = redis.call('LINDEX', tk .. ':transcript', -1)
  if not line or #line > 262144 then return '', '', '' end
  local ok, rec = pcall(cjson.decode, line)
  if not ok or type(rec) ~= 'table' then return '', '', '' end
  local tool, said = '', ''
  if type(rec.content) == 'string' then said = rec.content end
  if type(rec.tool_calls) == 'table' then
    for _, c in ipairs(rec.tool_calls) do
      if type(c) == 'table' and type(c.name) == 'string' then
        if tool == '' then tool = c.name end
        if type(c.observation) == 'string' and c.observation ~= '' then said = c.observation end
      end
    end
  end
  if tool == '' and rec.final then tool = '(answer)' end
  if #said > 200 then said = string.sub(said, -200) end
  return tool, tostring(rec.step or ''), said
end

local function live()
  local ms = redis.call('ZRANGE', P .. 'leased', 0, -1)
  local n = 0
  for _, m in ipairs(ms) do
    local mj, mt = split(m)
    if mj and (j == '' or mj == j) and (task == '' or mt == task) then
      if n >= limit then
        out[3] = 1
        return
      end
      local tk = tkey(mj, mt)
      local r = row_get(mj, mt)
      local c = cold_get(mj, mt, 'tail', 'steps', 'tool_calls', 'paused')
      local h = {r.s, r.a, r.w, r.n, c[1], c[2], c[3], c[4], item_get(mj, mt)}
      local tool, step, said = last_step(tk)
      out[#out + 1] = {m, mt, 'job', mj, 'state', h[1] or '', 'attempt', h[2] or '0',
                       'worker', h[3] or '', 'tokens', h[4] or '0', 'tail', h[5] or '',
                       'steps', h[6] or '0', 'tool_calls', h[7] or '0', 'paused', h[8] or '',
                       'item', string.sub(h[9] or '', 1, 200), 'tool', tool, 'last_step', step,
                       'output', said}
      n = n + 1
    end
  end
end

if kind == 'events' then
  stream(jkey(j) .. ':events')
elseif kind == 'audit' then
  stream(jkey(j) .. ':audit')
elseif kind == 'transcript' then
  transcript()
elseif kind == 'live' then
  live()
else
  return redis.error_reply('unknown log kind ' .. kind .. ' (events, audit, transcript, live)')
end
return out
