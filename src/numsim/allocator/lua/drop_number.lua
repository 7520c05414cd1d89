-- ARGV: now, stamp, token, the caller's era and count of changes (as put_number), e164.
-- The number leaves every pool; its live leases stay. Its settings stay too, as the
-- record that it was dropped (a number never seen here gets one: a stale view must not
-- add it later).
-- Returns what changed() returns, {0} if a newer change is stored, or {-1}.
if not CFGV or stale(ARGV[4], ARGV[3], ARGV[5]) then return {-1} end
local now = clock(ARGV[1])
local e = ARGV[6]
redis.call("SADD", key("numbers"), e) -- first: a refused write still restores the index
local stamp, settled = restamp(e, ARGV[2], ARGV[3], now)
if not stamp then
  return {0}
end
leave_groups(e)
local n = key("n", e)
if not settled then
  local used, inbound = leases_of(e)
  redis.call("HSET", n, "cap", 0, "caps", "", "used", used, "inb", inbound)
end
redis.call("HSET", n, "active", "0", "groups", "", "stamp", int(stamp), "by", ARGV[3])
reclaim(now)
return changed(stamp, ARGV[3], ARGV[5] ~= "")
