-- notes.lua - the agents' job-wide memory (the note / read_notes tools): one
-- stream per job, P job:<id>:notes (capped at ARGV[12] notes, deleted with the
-- job by job_remove), fenced like progress.lua so only the lease holder of a
-- leased or running task of the job writes or reads it.
-- ARGV[3] job, [4] task, [5] attempt, [6] token, [7] worker (sender), [8] op:
--   'add':  [9] author, [10] tag, [11] text, [12] max notes kept
--           -> {'ok', id}
--   'read': [9] tag ('' = all), [10] after (a stream id, '' = from the oldest),
--           [11] limit, [12] max bytes
--           -> {'ok', next, more (0|1), id, author, tag, text, id, ...}
-- Anything else: {'stale' | 'unknown' | 'forged', ''}.
local j, t, attempt = ARGV[3], ARGV[4], tonumber(ARGV[5])
local r = row_get(j, t)
if not task_exists(j, t, r) then return {'unknown', ''} end
local h = {r.s, r.a, r.k, r.w}
if tonumber(h[2]) ~= attempt or (h[1] ~= 'leased' and h[1] ~= 'running') then
  return {'stale', ''}
end
if h[3] ~= ARGV[6] or h[4] ~= ARGV[7] then return {'forged', ''} end
local nk = jkey(j) .. ':notes'
if ARGV[8] == 'add' then
  local id = redis.call('XADD', nk, 'MAXLEN', tonumber(ARGV[12]), '*', 'author', ARGV[9],
                        'tag', ARGV[10], 'text', ARGV[11], 'task', t)
  return {'ok', id}
end
local tag, limit, max_bytes = ARGV[9], tonumber(ARGV[11]), tonumber(ARGV[12])
-- '(' makes the cursor exclusive; scan in chunks so a tag filter that skips
-- many notes still ends in bounded work (the stream holds at most its cap)
local start = ARGV[10] == '' and '-' or '(' .. ARGV[10]
local out, n, bytes, next, more = {'ok', '', 0}, 0, 0, ARGV[10], 0
while true do
  local page = redis.call('XRANGE', nk, start, '+', 'COUNT', 100)
  if #page == 0 then break end
  for _, e in ipairs(page) do
    local f = {}
    for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end
    if tag == '' or f.tag == tag then
      local sz = #(f.text or '') + #(f.author or '') + #(f.tag or '') + 32
      if n >= limit or (n > 0 and bytes + sz > max_bytes) then
        more = 1
        break
      end
      out[#out + 1] = e[1]
      out[#out + 1] = f.author or ''
      out[#out + 1] = f.tag or ''
      out[#out + 1] = f.text or ''
      n = n + 1
      bytes = bytes + sz
    end
    next = e[1]
  end
  if more == 1 or #page < 100 then break end
  start = '(' .. page[#page][1]
end
out[2] = next
out[3] = more
return out
