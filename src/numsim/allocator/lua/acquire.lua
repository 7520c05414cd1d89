-- ARGV: now, template, destination, lease id, ttl (us, "" = default),
-- flags "sticky explain" as two 0/1 digits, random in [0, 1), the era of the caller's
-- view of the pools, then the groups to try.
-- Returns GRANTED, or REFUSED (retry_at -1: none) then STATUS rows when asked to
-- explain, or {-1} when the namespace lost its configuration or the caller's view is of
-- another era (it syncs first).
if not CFGV or ARGV[ARG_ERA] ~= CFGV.era then return {-1} end
local now = clock(ARGV[ARG_NOW])
reclaim(now)
local template, destination, id = ARGV[ARG_TEMPLATE], ARGV[ARG_DESTINATION], ARGV[ARG_ID]
local prior = prior_outcome(id, now)
if prior then
  return finish(prior)
end
local ttl = ARGV[ARG_TTL] ~= "" and tonumber(ARGV[ARG_TTL]) or POLICY.ttl
local flags = ARGV[ARG_FLAGS]
local sticky, explain = string.sub(flags, 1, 1) == "1", string.sub(flags, 2, 2) == "1"
local groups = {}
for i = ARG_GROUPS, #ARGV do
  groups[#groups + 1] = template .. "|" .. ARGV[i]
end

-- `statuses`: {number, status} pairs, one STATUS row each.
local function refuse(reason, retry_at, statuses)
  count(COUNT_REFUSALS .. reason)
  count(COUNT_TEMPLATE_REFUSALS .. template .. ":" .. reason)
  local result = refused(reason, retry_at or -1, now)
  for i = 1, #(statuses or {}), 2 do
    local at = #result
    result[at + STATUS_NUMBER] = statuses[i]
    result[at + STATUS_STATUS] = statuses[i + 1]
  end
  return finish(result)
end

local dkey = key("dst", destination)
if POLICY.dmax > 0 then
  redis.call("ZREMRANGEBYSCORE", dkey, "-inf", int(now - POLICY.dper))
  local calls = redis.call("ZCARD", dkey)
  if calls >= POLICY.dmax then
    return refuse(REASON_DESTINATION_LIMIT, nth_score(dkey, calls - POLICY.dmax) + POLICY.dper)
  end
end
local function remembered()
  -- "number|when": the key's own expiry only bounds memory; `when` decides, on our clock
  local memory = redis.call("GET", key("st", destination))
  if memory then
    local bar = string.find(memory, "|", 1, true)
    local last, since = string.sub(memory, 1, bar - 1), tonumber(string.sub(memory, bar + 1))
    if since + POLICY.sticky > now and redis.call("ZSCORE", key("g", groups[#groups]), last) then
      return last
    end
  end
  return nil
end

local function first_free()
  for _, g in ipairs(groups) do
    local gkey = key("g", g)
    local pick = nil
    if POLICY.order == "random" then
      local size = redis.call("ZCARD", gkey)
      if size > 0 then
        local index = math.floor(tonumber(ARGV[ARG_RANDOM]) * size)
        pick = redis.call("ZRANGE", gkey, int(index), int(index))[1]
      end
    else
      pick = redis.call("ZRANGE", gkey, "0", "0")[1]
    end
    if pick then
      return pick
    end
  end
  return nil
end

-- Take the best free number. One the indexes offer but that cannot take a call (its
-- settings were lost) leaves them, counted "inconsistent" for check(), and the next is tried.
local pick, expires = nil, nil
if sticky then
  pick = remembered()
end
for _ = 1, 8 do
  pick = pick or first_free()
  if not pick then
    break
  end
  expires = take(pick, id, now, ttl, true)
  if expires then
    break
  end
  for _, g in ipairs(groups) do
    redis.call("ZREM", key("g", g), pick)
  end
  count("inconsistent")
  pick = nil
end

if not pick then
  if redis.call("EXISTS", key("p", template)) == 0 then
    return refuse(REASON_EMPTY_POOL, nil, {})
  end
  local eligible, retry_at, blocker = false, nil, nil
  for _, g in ipairs(groups) do
    if redis.call("SCARD", key("gm", g)) > 0 then
      eligible = true
      local first = redis.call("ZRANGE", key("c", g), "0", "0", "WITHSCORES")
      if first[1] and (retry_at == nil or tonumber(first[2]) < retry_at) then
        retry_at, blocker = tonumber(first[2]), first[1]
      end
    end
  end
  local reason = REASON_NOT_COMPLIANT
  if eligible then
    reason = blocker and status(blocker, now) or REASON_BUSY
  end
  local statuses = {}
  if explain then  -- a sample of a big pool: see EXPLAIN_LIMIT
    for _, e in ipairs(redis.call("SRANDMEMBER", key("p", template), EXPLAIN_LIMIT)) do
      statuses[#statuses + 1] = e
      statuses[#statuses + 1] = status(e, now)
    end
  end
  return refuse(reason, retry_at, statuses)
end

if POLICY.dmax > 0 then
  redis.call("ZADD", dkey, int(now), id)
  redis.call("PEXPIRE", dkey, int(math.floor(POLICY.dper / 1000) + 1000))
end
if sticky then
  local memory = pick .. "|" .. int(now)
  redis.call("SET", key("st", destination), memory, "PX", int(math.floor(POLICY.sticky / 1000) + 1000))
end
return finish(granted(id, pick, expires, now))
