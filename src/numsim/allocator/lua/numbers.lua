-- ARGV: now. Returns {now, [e164, in use, inbound, calls last hour, last day, status]...}.
if not CFGV then return {-1} end
local now = clock(ARGV[1])
reclaim(now)
local result = {now}
for _, e in ipairs(redis.call("SMEMBERS", key("numbers"))) do
  local _, _, dcap, used, active = state(e)
  local hour, day = trim(e, now)
  local inbound = tonumber(redis.call("HGET", key("n", e), "inb")) or 0
  if active or used > 0 or hour > 0 or day > 0 then
    result[#result + 1] = e
    result[#result + 1] = used
    result[#result + 1] = inbound
    result[#result + 1] = hour
    result[#result + 1] = dcap > 0 and day or -1
    result[#result + 1] = status(e, now)
  end
end
return finish(result)
