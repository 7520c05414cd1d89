-- ARGV: a SSCAN cursor of {ns}:numbers ("0" to start), the caller's token. Up to 500
-- numbers' pool settings with their stamps, for a process to sync its view (in chunks: a
-- pool of 10,000 would block Redis ~70 ms in one call): POOL (the era, the caller's
-- changes Redis holds, the next cursor, "0": done), then a POOL_ROW for each number (its
-- caps as put_number takes them), or {-1} (no configuration).
-- Numbers whose settings were lost are left out.
if not CFGV then return {-1} end
local scan = redis.call("SSCAN", key("numbers"), ARGV[ARG_CURSOR], "COUNT", 500)
local writes = tonumber(redis.call("HGET", key("w"), ARGV[ARG_TOKEN])) or 0
local result = {[POOL_ERA] = CFGV.era, [POOL_WRITES] = writes, [POOL_CURSOR] = scan[1]}
for _, e in ipairs(scan[2]) do
  local n = redis.call("HMGET", key("n", e), "stamp", "by", "active", "cap", "caps", "groups")
  if n[1] and n[4] then
    local at = #result
    result[at + POOL_ROW_E164] = e
    result[at + POOL_ROW_STAMP] = n[1]
    result[at + POOL_ROW_BY] = n[2] or ""
    result[at + POOL_ROW_ACTIVE] = n[3] or ""
    result[at + POOL_ROW_CAPACITY] = n[4]
    result[at + POOL_ROW_CAPS] = n[5] or legacy_caps(e)
    result[at + POOL_ROW_GROUPS] = n[6] or ""
  end
end
return result
