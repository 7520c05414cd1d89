-- ARGV: now, repair (0/1), then the caller's own numbers (checked even if the namespace
-- forgot them). Checks what can be derived from the lease index: each number's calls
-- in progress and inbound calls, and each lease's expiry; then every index against the
-- numbers' own records (groups' members and free and cooling numbers, templates'
-- pools); repairs them if asked.
-- Returns CHECKED then FINDING rows (number or "", problem, repaired 0/1), or {-1} (no
-- configuration).
if not CFGV then return {-1} end
local now = clock(ARGV[ARG_NOW])
local repair = ARGV[ARG_REPAIR] == "1"
reclaim(now)
local found = {[CHECKED_OK] = 1}
local function report(e, problem, repaired)
  local at = #found
  found[at + FINDING_NUMBER] = e
  found[at + FINDING_PROBLEM] = problem
  found[at + FINDING_REPAIRED] = repaired and 1 or 0
end

local used, inbound = {}, {}
local records = redis.call("HGETALL", key("l"))
for i = 1, #records, 2 do
  local id, record = records[i], records[i + 1]
  local e = ""
  if record ~= VOID then
    local is_inbound
    e, is_inbound = split_lease(record)
    used[e] = (used[e] or 0) + 1
    if is_inbound then
      inbound[e] = (inbound[e] or 0) + 1
    end
  end
  if not redis.call("ZSCORE", key("leases"), id) then
    report(e, "lease " .. id .. " has no expiry", repair)
    if repair then
      schedule(key("leases"), now + POLICY.ttl, id)
    end
  end
end
local numbers = {}
for _, e in ipairs(redis.call("SMEMBERS", key("numbers"))) do
  numbers[e] = true
end
for i = ARG_NUMBERS, #ARGV do
  numbers[ARGV[i]] = true
end

-- An expiry without its record: the lease id is a member of its number's hourly window
-- if the call went out within the hour (or up to a minute more: windows are pruned in
-- batches), which names the number.
for _, id in ipairs(redis.call("ZRANGEBYSCORE", key("leases"), "0", "+inf")) do
  if redis.call("HEXISTS", key("l"), id) == 0 then
    local owner = nil
    for e in pairs(numbers) do
      if redis.call("ZSCORE", window_key(e, HOUR), id) then
        owner = e
        break
      end
    end
    if owner then
      report(owner, "lease " .. id .. " lost its record; its number's hourly window names it"
        .. (repair and ", record rebuilt" or ""), repair)
      if repair then
        redis.call("HSET", key("l"), id, owner .. "|0")
      end
      used[owner] = (used[owner] or 0) + 1
    else
      report("", "lease " .. id .. " has an expiry but no record, and no window names its "
        .. "number: its channel is counted free", repair)
      if repair then
        redis.call("ZREM", key("leases"), id)
      end
    end
  end
end
for e in pairs(used) do
  numbers[e] = true
end
for e in pairs(numbers) do
  if not redis.call("HGET", key("n", e), "cap") then
    if used[e] or redis.call("SISMEMBER", key("numbers"), e) == 1 then
      report(e, "settings lost", false)
    end
  else
    local n = state(e)
    local inb = tonumber(redis.call("HGET", key("n", e), "inb")) or 0
    local want, want_inb = used[e] or 0, inbound[e] or 0
    if n.used ~= want or inb ~= want_inb then
      report(e, string.format("counts %d calls in progress (%d inbound) but has %d leases (%d inbound)",
        n.used, inb, want, want_inb), repair)
      if repair then
        redis.call("HSET", key("n", e), "used", want, "inb", want_inb)
        n.used = want
        refresh(e, now, n)
        freed = now
      end
    end
    if want > n.capacity and n.active then
      report(e, string.format("has %d calls in progress over its capacity of %d", want, n.capacity),
        false)
    end
  end
end

-- Every index against the numbers' records: where refresh() and put_number put a number,
-- and nowhere else. `members[kind][name]` is who belongs in each index a number names.
local members = {gm = {}, p = {}, g = {}, c = {}}
local SETS = {gm = true, p = true} -- the others are sorted sets
local function belongs(kind, name, e, want) -- every index named is checked for strays
  members[kind][name] = members[kind][name] or {}
  if want then
    members[kind][name][e] = true
  end
end
local repaired = {}
local function index_problem(e, problem)
  report(e, problem, repair)
  if repair then
    repaired[e] = true
  end
end
for _, e in ipairs(redis.call("SMEMBERS", key("numbers"))) do
  local n = state(e)
  local ready, cooling = false, false
  if n.active and n.used < n.capacity then
    local free_at = nil
    if #n.caps.caps > 0 then
      free_at = cap_free_at(e, n.caps, trim(e, now, n.caps))
    end
    ready, cooling = free_at == nil, free_at ~= nil
  end
  for g in string.gmatch(n.groups, "[^\n]+") do
    local template = string.sub(g, 1, string.find(g, "|", 1, true) - 1)
    local wanted = {gm = n.active, p = n.active, g = ready, c = cooling}
    local names = {gm = g, p = template, g = g, c = g}
    for kind, want in pairs(wanted) do
      local name = names[kind]
      belongs(kind, name, e, want)
      local present
      if SETS[kind] then
        present = redis.call("SISMEMBER", key(kind, name), e) == 1
      else
        present = redis.call("ZSCORE", key(kind, name), e) ~= false
      end
      if present ~= want then
        index_problem(e, string.format("%s index %s:%s", want and "missing from" or "wrongly in",
          kind, name))
      end
    end
  end
end
-- Numbers left in an index that no number's record puts them in.
for kind, names in pairs(members) do
  for name, wanted in pairs(names) do
    local listed
    if SETS[kind] then
      listed = redis.call("SMEMBERS", key(kind, name))
    else
      listed = redis.call("ZRANGE", key(kind, name), 0, -1)
    end
    for _, e in ipairs(listed) do
      if not wanted[e] then
        report(e, string.format("wrongly in index %s:%s", kind, name), repair)
        if repair then
          redis.call(SETS[kind] and "SREM" or "ZREM", key(kind, name), e)
        end
      end
    end
  end
end
for e in pairs(repaired) do -- out of every index it names, then back where it belongs
  local n = state(e)
  leave_groups(e)
  if n.active then
    for g in string.gmatch(n.groups, "[^\n]+") do
      redis.call("SADD", key("gm", g), e)
      redis.call("SADD", key("p", string.sub(g, 1, string.find(g, "|", 1, true) - 1)), e)
    end
  end
  refresh(e, now, n)
  freed = now
end
return finish(found)
