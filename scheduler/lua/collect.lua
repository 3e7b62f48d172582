-- collect.lua - everything the merger needs, in task order, a page at a time.
-- ARGV[3] job, [4] offset, [5] page size; from the second page on, [6..8] the
-- previous page's fragments (results, failed_tasks, merged) to append first
-- (lib.lua merge_append; the first page clears the scratch keys).
-- Returns lib.lua collect_page's page.
local j, at, n = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
if at > 0 then merge_append(j, at, ARGV[6], ARGV[7], ARGV[8]) end
return collect_page(j, at, n)
