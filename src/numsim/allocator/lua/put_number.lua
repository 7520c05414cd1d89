-- ARGV (names in protocol.py, as in every function): now, stamp ("": a new change; a sync
-- passes the change's own), the token of the process that made it, the caller's era and
-- count of changes (see stale(); "": a sync's write), e164, capacity, caps ("reason window
-- limit" rows, window in us; see caps_of), then "template|group" for every group the
-- number belongs to. Returns CHANGED (ok 0 if a newer change is stored), or {-1} (the
-- caller must sync first).
local token, writes = ARGV[ARG_TOKEN], ARGV[ARG_WRITES]
if not CFGV or stale(ARGV[ARG_ERA], token, writes) then return {-1} end
local now = clock(ARGV[ARG_NOW])
local e = ARGV[ARG_E164]
-- First, so that a refused write still restores the index; 0: Redis knew the number.
local known = redis.call("SADD", key("numbers"), e) == 0
local stamp, settled = restamp(e, ARGV[ARG_STAMP], token, now)
if not stamp then
  return {[CHANGED_OK] = 0}
end
-- A number whose settings are gone (a key evicted or deleted) restarts from the leases
-- it holds, not from zero: its live calls still occupy channels.
local lost = known and not settled
leave_groups(e)
local groups = {}
for i = ARG_GROUPS, #ARGV do
  local g = ARGV[i]
  groups[#groups + 1] = g
  redis.call("SADD", key("gm", g), e)
  redis.call("SADD", key("p", string.sub(g, 1, string.find(g, "|", 1, true) - 1)), e)
end
redis.call("HSET", key("n", e), "cap", ARGV[ARG_CAPACITY], "caps", ARGV[ARG_CAPS], "active",
  "1", "groups", table.concat(groups, "\n"), "stamp", int(stamp), "by", token)
-- its next call prunes, and sets its windows' TTLs; an older numsim's caps give way
redis.call("HDEL", key("n", e), "pruned", "hcap", "dcap")
if lost then
  local used, inbound = leases_of(e)
  redis.call("HSET", key("n", e), "used", used, "inb", inbound)
else
  redis.call("HSETNX", key("n", e), "used", 0)
  redis.call("HSETNX", key("n", e), "inb", 0)
end
reclaim(now)
refresh_number(e, now)
return changed(stamp, token, writes ~= "")
