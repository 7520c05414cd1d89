-- ARGV: none. Every number's pool settings with their stamps, for a process to bring its
-- view up to date: {epoch, [e164, stamp, active, capacity, hourly cap, daily cap,
-- groups]...}, or {-1} (no configuration). Numbers whose settings were lost are left out.
if not CFGV then return {-1} end
local result = {CFGV.epoch}
for _, e in ipairs(redis.call("SMEMBERS", key("numbers"))) do
  local n = redis.call("HMGET", key("n", e), "stamp", "active", "cap", "hcap", "dcap", "groups")
  if n[1] and n[3] then
    result[#result + 1] = e
    for i = 1, 6 do
      result[#result + 1] = n[i]
    end
  end
end
return result
