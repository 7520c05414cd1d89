-- ARGV: order, lease ttl (us), destination max calls (0: none), its window (us),
-- sticky memory (us), audit (0/1), max client clock skew (us, 0: any), a fresh era
-- token, kept only if the namespace has none (it is new, or was lost): the era of a
-- re-created namespace never matches the one before; then "1" to replace another policy
-- stored here. Returns CONFIGURED: ok 1, or ok 0 and the stored policy if it differs and
-- is kept: workers
-- of one namespace must share one policy (a lease TTL, a destination limit), or one
-- worker's settings silently become every worker's.
local given = table.concat(ARGV, " ", ARG_ORDER, ARG_SKEW)
local stored = redis.call("HGET", CFG, "policy")
if stored and ARGV[ARG_REPLACE] ~= "1" and policy_of(stored) then
  local fields = string.match(stored, "^%S+ %d+ %d+ %d+ %d+ [01] %d+") -- a later version's
  if fields ~= given then -- appended fields are not this version's to compare
    return {[CONFIGURED_OK] = 0, [CONFIGURED_POLICY] = stored}
  end
end
redis.call("HSET", CFG, "policy", given)
redis.call("HSETNX", CFG, "era", ARGV[ARG_ERA])
return {[CONFIGURED_OK] = 1}
