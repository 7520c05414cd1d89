-- ARGV: now, e164, lease id, ttl (us, "" = default), the era of the caller's view.
-- An inbound call on one number.
if not CFGV or ARGV[5] ~= CFGV.era then return {-1} end
local now = clock(ARGV[1])
reclaim(now)
local e, id = ARGV[2], ARGV[3]
local prior = prior_outcome(id, now)
if prior then
  return finish(prior)
end
local ttl = ARGV[4] ~= "" and tonumber(ARGV[4]) or POLICY.ttl
local n = state(e)
if not n.active or n.used >= n.capacity then
  count("refused:busy")
  local why = redis.call("EXISTS", key("n", e)) == 1 and status(e, now) or "retired"
  return finish({0, "busy", -1, now, e, why})
end
local expires = take(e, id, now, ttl, false)
return finish({1, id, e, expires, now})
