-- ARGV: now, lease id, its number; or "" for the number: the lease of an acquire whose
-- reply was lost, given back whatever its number, and voided if that acquire has not
-- run yet. Returns RELEASED: released 1 if this released the lease, 0 if not.
if not CFGV then return {-1} end
local now = clock(ARGV[ARG_NOW])
reclaim(now)
local id, number = ARGV[ARG_ID], ARGV[ARG_NUMBER]
local record = redis.call("HGET", key("l"), id)
if record and record ~= VOID then
  local e, inbound = split_lease(record)
  if number == "" or number == e then
    free(id, e, inbound, now, "released")
    return finish({[RELEASED_RELEASED] = 1, [RELEASED_NOW] = now})
  end
elseif not record and number == "" then
  if (tonumber(redis.call("ZSCORE", key("leases"), id)) or 0) >= 0 then -- not ended
    redis.call("HSET", key("l"), id, VOID)
    schedule(key("leases"), now + POLICY.ttl, id)
  end
end
count("release_ignored")
return finish({[RELEASED_RELEASED] = 0, [RELEASED_NOW] = now})
