-- ARGV: now, stamp, token, the caller's era and count of changes (as put_number), e164.
-- The number leaves every pool; its live leases stay. Its settings stay too, as the
-- record that it was dropped (a number never seen here gets one: a stale view must not
-- add it later).
-- Returns CHANGED (ok 0 if a newer change is stored), or {-1}.
local token, writes = ARGV[ARG_TOKEN], ARGV[ARG_WRITES]
if not CFGV or stale(ARGV[ARG_ERA], token, writes) then return {-1} end
local now = clock(ARGV[ARG_NOW])
local e = ARGV[ARG_E164]
redis.call("SADD", key("numbers"), e) -- first: a refused write still restores the index
local stamp, settled = restamp(e, ARGV[ARG_STAMP], token, now)
if not stamp then
  return {[CHANGED_OK] = 0}
end
leave_groups(e)
local n = key("n", e)
if not settled then
  local used, inbound = leases_of(e)
  redis.call("HSET", n, "cap", 0, "caps", "", "used", used, "inb", inbound)
end
redis.call("HSET", n, "active", "0", "groups", "", "stamp", int(stamp), "by", token)
reclaim(now)
return changed(stamp, token, writes ~= "")
