-- ARGV: now, lease id, its number, ttl (us, "" = default). Returns RENEWED (the new
-- expiry), or {} if the lease is gone (or is not a lease of that number).
if not CFGV then return {-1} end
local now = clock(ARGV[ARG_NOW])
reclaim(now)
local id = ARGV[ARG_ID]
local record = redis.call("HGET", key("l"), id)
if not record or record == VOID or split_lease(record) ~= ARGV[ARG_NUMBER] then
  return finish({})
end
local expires = now + (ARGV[ARG_TTL] ~= "" and tonumber(ARGV[ARG_TTL]) or POLICY.ttl)
schedule(key("leases"), expires, id)
return finish({[RENEWED_EXPIRES] = expires})
