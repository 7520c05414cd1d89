-- ARGV: now, then numbers: only their keys are read (a page's numbers, or one chunk of a
-- read of every number: one call over a big pool would hold Redis for all of it).
-- Returns NUMBERS, then a NUMBERS_ROW for each number with state (a number never added,
-- or removed and idle, has none): calls is "window count" pairs (window in us,
-- space-separated) for each window the number keeps.
if not CFGV then return {-1} end
local now = clock(ARGV[ARG_NOW])
reclaim(now)
local result = {[NUMBERS_NOW] = now}
for i = ARG_NUMBERS, #ARGV do
  local e = ARGV[i]
  local n = state(e)
  local calls = trim(e, now, n.caps)
  local counts, made = {}, 0
  for _, window in ipairs(n.caps.windows) do
    counts[#counts + 1] = int(window) .. " " .. calls[window]
    made = made + calls[window]
  end
  if n.active or n.used > 0 or made > 0 then
    local inbound = tonumber(redis.call("HGET", key("n", e), "inb")) or 0
    local at = #result
    result[at + NUMBERS_ROW_E164] = e
    result[at + NUMBERS_ROW_IN_USE] = n.used
    result[at + NUMBERS_ROW_INBOUND] = inbound
    result[at + NUMBERS_ROW_STATUS] = status(e, now, n, calls)
    result[at + NUMBERS_ROW_CALLS] = table.concat(counts, " ")
  end
end
return finish(result)
