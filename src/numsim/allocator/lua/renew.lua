-- ARGV: now, lease id, ttl (us, "" = default). Returns {new expiry} or {} if gone.
if not CFGV then return {-1} end
local now = clock(ARGV[1])
reclaim(now)
if not redis.call("HGET", key("l"), ARGV[2]) then
  return finish({})
end
local expires = now + (ARGV[3] ~= "" and tonumber(ARGV[3]) or CFGV.ttl)
redis.call("ZADD", key("leases"), expires, ARGV[2])
return finish({expires})
