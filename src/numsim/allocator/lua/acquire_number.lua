-- ARGV: now, e164, lease id, ttl (us, "" = default), the era of the caller's view.
-- An inbound call on one number. Returns GRANTED, or REFUSED and one STATUS row.
if not CFGV or ARGV[ARG_ERA] ~= CFGV.era then return {-1} end
local now = clock(ARGV[ARG_NOW])
reclaim(now)
local e, id = ARGV[ARG_E164], ARGV[ARG_ID]
local prior = prior_outcome(id, now)
if prior then
  return finish(prior)
end
local ttl = ARGV[ARG_TTL] ~= "" and tonumber(ARGV[ARG_TTL]) or POLICY.ttl
local n = state(e)
if not n.active or n.used >= n.capacity then
  count(COUNT_REFUSALS .. REASON_BUSY)
  local why = redis.call("EXISTS", key("n", e)) == 1 and status(e, now) or "retired"
  local result = refused(REASON_BUSY, -1, now)
  result[REFUSED_WIDTH + STATUS_NUMBER], result[REFUSED_WIDTH + STATUS_STATUS] = e, why
  return finish(result)
end
local expires = take(e, id, now, ttl, false)
return finish(granted(id, e, expires, now))
