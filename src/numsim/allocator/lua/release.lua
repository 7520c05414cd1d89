-- ARGV: now, lease id. Returns 1 if this released the lease, 0 if it was gone.
if not CFGV then return {-1} end
local now = clock(ARGV[1])
reclaim(now)
local record = redis.call("HGET", key("l"), ARGV[2])
if not record then
  count("release_ignored")
  return finish({0, now})
end
local e, inbound = split_lease(record)
free(ARGV[2], e, inbound, now, "released")
return finish({1, now})
