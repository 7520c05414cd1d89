-- ARGV: now. Returns {now, [e164, in use, inbound, status, calls]...}: calls is
-- "window count" pairs (window in us, space-separated) for each window the number keeps.
if not CFGV then return {-1} end
local now = clock(ARGV[1])
reclaim(now)
local result = {now}
for _, e in ipairs(redis.call("SMEMBERS", key("numbers"))) do
  local n = state(e)
  local calls = trim(e, now, n.caps)
  local counts, made = {}, 0
  for _, window in ipairs(n.caps.windows) do
    counts[#counts + 1] = int(window) .. " " .. calls[window]
    made = made + calls[window]
  end
  if n.active or n.used > 0 or made > 0 then
    local inbound = tonumber(redis.call("HGET", key("n", e), "inb")) or 0
    result[#result + 1] = e
    result[#result + 1] = n.used
    result[#result + 1] = inbound
    result[#result + 1] = status(e, now)
    result[#result + 1] = table.concat(counts, " ")
  end
end
return finish(result)
