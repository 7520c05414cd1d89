-- ARGV: now, lease id, its number, ttl (us, "" = default). Returns {new expiry} or {}
-- if the lease is gone (or is not a lease of that number).
if not CFGV then return {-1} end
local now = clock(ARGV[1])
reclaim(now)
local record = redis.call("HGET", key("l"), ARGV[2])
if not record or record == VOID or split_lease(record) ~= ARGV[3] then
  return finish({})
end
local expires = now + (ARGV[4] ~= "" and tonumber(ARGV[4]) or POLICY.ttl)
schedule(key("leases"), expires, ARGV[2])
return finish({expires})
