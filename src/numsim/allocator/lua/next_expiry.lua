-- ARGV: now. Returns {now, the next live lease's expiry or -1}.
if not CFGV then return {-1} end
local now = clock(ARGV[1])
reclaim(now)
local first = redis.call("ZRANGE", key("leases"), 0, 0, "WITHSCORES")
return finish({now, first[2] and tonumber(first[2]) or -1})
