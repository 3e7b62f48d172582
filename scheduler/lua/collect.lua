-- collect.lua - everything the merger needs, in task order, a page at a time.
-- ARGV[3] job, [4] offset, [5] page size; from the second page on, [6..8] the
-- previous page's fragments (results, failed_tasks, merged) to append first
-- (lib.lua merge_append; the first page clears the scratch keys).
-- Returns {job fields (HGETALL; {} after the first page), {task, state, attempt, item, output,
-- error, worker, tokens, steps, tool_calls}...}; steps and tool_calls are '' for a task that ran no
-- agent step.
local j, at, n = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local out = {{}}
if at == 0 then
  local k = jkey(j) .. ':merge:'
  redis.call('DEL', k .. 'r', k .. 'f', k .. 'm', k .. 'at')
  out[1] = redis.call('HGETALL', jkey(j))
else
  merge_append(j, at, ARGV[6], ARGV[7], ARGV[8])
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
