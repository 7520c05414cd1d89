-- ARGV: a SSCAN cursor of {ns}:numbers ("0" to start), the caller's token. Up to 500
-- numbers' pool settings with their stamps, for a process to sync its view (in chunks: a
-- pool of 10,000 would block Redis ~70 ms in one call): {era, the caller's changes Redis
-- holds, next cursor ("0": done), [e164, stamp, token, active, capacity, caps (as
-- put_number takes them), groups]...}, or {-1} (no configuration).
-- Numbers whose settings were lost are left out.
if not CFGV then return {-1} end
local scan = redis.call("SSCAN", key("numbers"), ARGV[1], "COUNT", 500)
local writes = tonumber(redis.call("HGET", key("w"), ARGV[2])) or 0
local result = {CFGV.era, writes, scan[1]}
for _, e in ipairs(scan[2]) do
  local n = redis.call("HMGET", key("n", e), "stamp", "by", "active", "cap", "caps", "groups",
    "hcap", "dcap")
  if n[1] and n[4] then
    n[5] = n[5] or legacy_caps(n[7], n[8])
    result[#result + 1] = e
    for i = 1, 6 do
      result[#result + 1] = n[i] or ""
    end
  end
end
return result
