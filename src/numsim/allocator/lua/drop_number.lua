-- ARGV: now, e164. The number leaves every pool; its live leases stay.
-- Returns {1, generation}.
if not CFGV then return {-1} end
local now = clock(ARGV[1])
local e = ARGV[2]
leave_groups(e)
redis.call("HSET", key("n", e), "active", "0", "groups", "")
reclaim(now)
return finish({1, redis.call("HINCRBY", CFG, "gen", 1)})
