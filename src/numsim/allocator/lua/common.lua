-- numsim Redis backend: helpers shared by every function of the library (lua/*.lua, each
-- the body of one function; see redis.py). The library is loaded once per server, so its
-- helpers are defined once, not at every call.
--
-- KEYS[1] is "{ns}:cfg"; every other key is built from its prefix, so all keys share
-- the {ns} hash tag (one Redis Cluster slot per namespace). Times are integer
-- microseconds: exact in Lua's doubles, so "t + window <= now" and "frees at
-- t + window" always agree. Each function reads its ARGV by the names protocol.py gives
-- them (ARG_NOW: the client's clock in microseconds, or "" to use the server's clock,
-- TIME), and builds its replies by field (GRANTED_ID ...): _Library writes the constants.

-- The state of the call running now, set by begin() as every function starts.
local CFG, PREFIX -- "{ns}:cfg", and "{ns}:" that starts every other key
local CFGV -- the namespace's changing state: era, due, wake, pruned (nil: lost)
local POLICY -- its policy: order, ttl, dmax, dper, sticky, audit, skew
local client_clock -- whether this call runs on a client's clock
local freed -- the time a channel was freed by this call, if one was

local HOUR, DAY = 3600000000, 86400000000
local LEVEL = 1099511627776 -- 2^40: score = calls in progress * LEVEL + order

local function key(kind, name)
  if name then
    return PREFIX .. kind .. ":" .. name
  end
  return PREFIX .. kind
end

-- A whole number as a command argument: redis.call formats a Lua number itself with %.17g,
-- several times slower than %d (about 0.3 us per number; a cycle passes a dozen).
local function int(x)
  return string.format("%d", x)
end

-- The namespace's policy, as configure writes it in one field ("order ttl dmax dper sticky
-- audit skew"), parsed once per server: a policy seen before is a table lookup, and a call
-- reads 5 fields of {ns}:cfg, not 11. A memo of a pure parse, so it never goes stale.
-- Fields a later version may append are ignored.
local POLICIES, POLICIES_KEPT = {}, 0

-- The policy written as `text`, or nil if it is unreadable.
local function policy_of(text)
  local known = POLICIES[text]
  if known then
    return known
  end
  local order, ttl, dmax, dper, sticky, audit, skew =
    string.match(text, "^(%S+) (%d+) (%d+) (%d+) (%d+) ([01]) (%d+)")
  if not order then
    return nil
  end
  known = {
    order = order,
    ttl = tonumber(ttl),
    dmax = tonumber(dmax),
    dper = tonumber(dper),
    sticky = tonumber(sticky),
    audit = audit == "1",
    skew = tonumber(skew), -- the most a client clock may differ from ours (0: any)
  }
  if POLICIES_KEPT >= 64 then -- bounded: many namespaces with many policies on one server
    POLICIES, POLICIES_KEPT = {}, 0
  end
  POLICIES[text], POLICIES_KEPT = known, POLICIES_KEPT + 1
  return known
end

-- The namespace's changing state and its policy; nil if the namespace lost them, or if
-- its policy is unreadable (configure writes it again, as for a lost namespace).
local function config()
  local c = redis.call("HMGET", CFG, "policy", "era", "due", "wake", "pruned")
  local policy = c[1] and policy_of(c[1])
  if not policy then
    return nil, nil
  end
  return {
    -- The pools' era, new each time the namespace is created and each time a sync writes
    -- to it: a process whose view is of another era syncs it before it acts.
    era = c[2] or "",
    -- No lease expires and no cap frees before `due` (nil: unknown, scan): reclaim
    -- skips its scans until then. A lower bound, lowered by every schedule().
    due = tonumber(c[3]),
    wake = tonumber(c[4]) or 0, -- some process waits for freed channels until then
    pruned = tonumber(c[5]), -- the record of ended leases was last pruned then (nil: never)
  }, policy
end

-- Every function starts here: its call's state, and nothing left of the previous call.
local function begin(cfg)
  CFG, PREFIX = cfg, string.sub(cfg, 1, -4)
  CFGV, POLICY = config()
  client_clock, freed = false, nil
end

local function server_time()
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- The time of this call: the server's, or a client's within the allowed skew (a worker
-- whose clock is hours ahead would otherwise expire everyone's leases). A client time is
-- never negative: ended leases are scored below zero in {ns}:leases.
local function clock(given)
  if given == "" then
    return server_time()
  end
  client_clock = true
  local now = tonumber(given)
  if now < 0 then
    error({err = "numsim: the client clock reads a time before 1970 (" .. given .. " us)"})
  end
  if CFGV and POLICY.skew > 0 then
    local off = now - server_time()
    if math.abs(off) > POLICY.skew then
      error({err = string.format(
        "numsim: the client clock is %.3f s %s the Redis server's (max_clock_skew %.3f s)",
        math.abs(off) / 1000000, off > 0 and "ahead of" or "behind", POLICY.skew / 1000000)})
    end
  end
  return now
end

local function count(what)
  redis.call("HINCRBY", key("stats"), what, "1")
end

local function audit(what, number, id, now)
  if CFGV and POLICY.audit then
    redis.call("XADD", key("audit"), "MAXLEN", "~", "1000000", "*",
      "op", what, "number", number, "lease", id, "t", int(now))
  end
end

-- A number's caps are data: put_number stores them in field "caps" of {ns}:n:<e164> as
-- "reason window limit" rows (window in us), and one loop walks them, so a new window
-- is a new row. Parsed once per server, as policies are: {caps = {{reason, window,
-- limit}...}, windows = the windows kept}. Every number keeps the hour, capped or not
-- (snapshots show it, and a cap set later counts the calls already made); another window
-- is kept while a cap asks for it (a lifted cap's window expires with its key's TTL).
local CAPS, CAPS_KEPT = {}, 0

local function caps_of(text)
  local known = CAPS[text]
  if known then
    return known
  end
  known = {caps = {}, windows = {HOUR}}
  local kept = {[HOUR] = true}
  for reason, window, limit in string.gmatch(text, "(%S+) (%d+) (%d+)") do
    window = tonumber(window)
    known.caps[#known.caps + 1] = {reason = reason, window = window, limit = tonumber(limit)}
    if not kept[window] then
      kept[window] = true
      known.windows[#known.windows + 1] = window
    end
  end
  if CAPS_KEPT >= 256 then
    CAPS, CAPS_KEPT = {}, 0
  end
  CAPS[text], CAPS_KEPT = known, CAPS_KEPT + 1
  return known
end

-- The caps of number e as numsim wrote them before caps were data (fields hcap and dcap
-- of a hash without "caps"): read in place, with its windows (window_key), so an upgraded
-- namespace keeps counting until put_number rewrites the number.
local function legacy_caps(e)
  local hcap, dcap = unpack(redis.call("HMGET", key("n", e), "hcap", "dcap"))
  local rows = {}
  if (tonumber(hcap) or 0) > 0 then
    rows[#rows + 1] = "hourly_cap " .. int(HOUR) .. " " .. hcap
  end
  if (tonumber(dcap) or 0) > 0 then
    rows[#rows + 1] = "daily_cap " .. int(DAY) .. " " .. dcap
  end
  return table.concat(rows, "\n")
end

-- The key of number e's calls in a window: the hour's and the day's keep the names of
-- numsim before caps were data, so the calls of an upgraded namespace keep counting.
local WINDOW_KINDS = {[HOUR] = "h", [DAY] = "d"}

local function window_key(e, window)
  return key(WINDOW_KINDS[window] or ("win:" .. int(window)), e)
end

-- Drop window entries that no longer count; returns the calls in each window kept.
local function trim(e, now, caps)
  local calls = {}
  for _, window in ipairs(caps.windows) do
    local wk = window_key(e, window)
    redis.call("ZREMRANGEBYSCORE", wk, "-inf", int(now - window))
    calls[window] = redis.call("ZCARD", wk)
  end
  return calls
end

-- A number's windows are pruned at most this often while it takes calls (readers trim
-- them first: this only bounds memory). Each prune keeps the keys alive until every
-- entry added before the next prune has stopped counting; an idle number's windows expire.
local WINDOW_PRUNE_EVERY = 60000000

-- Whether a prune last run at `last` (nil: never) is due again. Client clocks a little
-- behind the last prune's wait for it; one more than a minute behind prunes at once.
local function prune_due(last, now, every)
  return not last or now - last >= every or last - now > WINDOW_PRUNE_EVERY
end

-- Keep a number's windows alive until every entry added before the next prune has
-- stopped counting (their TTLs run on the server's clock).
local function keep_windows(e, caps)
  for _, window in ipairs(caps.windows) do
    redis.call("PEXPIRE", window_key(e, window), int((window + WINDOW_PRUNE_EVERY) / 1000 + 1000))
  end
end

local function prune_windows(e, now, caps)
  for _, window in ipairs(caps.windows) do
    redis.call("ZREMRANGEBYSCORE", window_key(e, window), "-inf", int(now - window))
  end
  keep_windows(e, caps)
end

local function nth_score(zkey, index)
  local entry = redis.call("ZRANGE", zkey, int(index), int(index), "WITHSCORES")
  return tonumber(entry[2])
end

-- Number e's settings and state: capacity, caps (caps_of), calls in progress (used),
-- active, its "template|group" names (groups, one per line), and when its windows were
-- last pruned (pruned, nil: never).
local function state(e)
  local n = redis.call("HMGET", key("n", e), "cap", "caps", "used", "active", "groups", "pruned")
  return {
    capacity = tonumber(n[1]) or 0,
    caps = caps_of(n[2] or legacy_caps(e)),
    used = tonumber(n[3]) or 0,
    active = n[4] == "1",
    groups = n[5] or "",
    pruned = tonumber(n[6]),
  }
end

-- When number e's windows (`calls`, from trim) let it call again (nil if not capped),
-- and which cap binds: the one that frees last; on a tie the longer window.
local function cap_free_at(e, caps, calls)
  local at, why, longest = nil, nil, 0
  for _, c in ipairs(caps.caps) do
    local made = calls[c.window]
    if made >= c.limit then
      local free = nth_score(window_key(e, c.window), made - c.limit) + c.window
      if at == nil or free > at or (free == at and c.window >= longest) then
        at, why, longest = free, c.reason, c.window
      end
    end
  end
  return at, why
end

-- A caller that has read the number's state and trimmed its windows passes both (n,
-- calls): one read per number.
local function status(e, now, n, calls)
  n = n or state(e)
  if not n.active then
    return "retired"
  end
  local _, why = cap_free_at(e, n.caps, calls or trim(e, now, n.caps))
  if why then
    return why
  end
  if n.used >= n.capacity then
    return REASON_BUSY
  end
  return "ready"
end

-- Add `member` to the time index `zkey` (leases or revisit) at `at`, keeping CFGV.due a
-- lower bound of every score in both.
local function schedule(zkey, at, member)
  local score = int(at)
  redis.call("ZADD", zkey, score, member)
  if CFGV.due and at < CFGV.due then
    redis.call("HSET", CFG, "due", score)
    CFGV.due = at
  end
end

-- Put number e where its state says: in its groups' ready indexes (scored by load,
-- then by when it got there), in their cooling sets (capped, a channel free), or out.
-- Takes the number's state (state()) as read and changed by the caller: one read per call.
local function refresh(e, now, n)
  local capped_ever = #n.caps.caps > 0
  local score, free_at = nil, nil
  if n.active and n.used < n.capacity then
    if capped_ever then
      free_at = cap_free_at(e, n.caps, trim(e, now, n.caps))
    end
    if free_at == nil then
      score = redis.call("INCR", key("seq"))
      if POLICY.order == "least_loaded" then
        score = n.used * LEVEL + score
      end
      score = int(score)
    end
  end
  local free_score = free_at and int(free_at)
  for g in string.gmatch(n.groups, "[^\n]+") do
    if score then
      redis.call("ZADD", key("g", g), score, e)
      if capped_ever then
        redis.call("ZREM", key("c", g), e)
      end
    else
      redis.call("ZREM", key("g", g), e)
      if free_at then
        redis.call("ZADD", key("c", g), free_score, e)
      elseif capped_ever then
        redis.call("ZREM", key("c", g), e) -- busy: only a release frees it, not time
      end
    end
  end
  if free_at then
    schedule(key("revisit"), free_at, e)
  end
end

local function refresh_number(e, now)
  refresh(e, now, state(e))
end

-- {ns}:leases scores each live lease (and each voided id) by its expiry, and each ended
-- lease's id by -1 - the time it ended, below every expiry (times are never negative):
-- one lookup tells an acquire whether its id ran before.
-- How long an ended lease's id is remembered, so that a late run of its acquire (a retried
-- command, or one a give-back overtook) takes nothing: far longer than any client retry.
local DONE_WINDOW = 300000000
-- Older ids are pruned in batches, at most this often: a prune per release would cost
-- every release a command, and a tenth of a second's ids stays quick to remove.
local DONE_PRUNE_EVERY = 100000

-- The first live lease's expiry, or nil if none.
local function first_expiry()
  local first = redis.call("ZRANGEBYSCORE", key("leases"), "0", "+inf", "WITHSCORES", "LIMIT", "0",
    "1")
  return tonumber(first[2])
end

-- Give lease `id` (a channel of number e) back. A counter never goes below zero: a
-- number whose state was lost (a key evicted or deleted) is counted "inconsistent"
-- for check() to repair, instead of taking one call too many.
local function free(id, e, inbound, now, why)
  redis.call("HDEL", key("l"), id)
  local leases = key("leases")
  redis.call("ZADD", leases, int(-1 - now), id) -- ended: remembered, and no longer expiring
  if prune_due(CFGV.pruned, now, DONE_PRUNE_EVERY) then
    -- forget the ids that ended before now - DONE_WINDOW: scores above -1 - that time
    redis.call("ZREMRANGEBYSCORE", leases, "(" .. int(DONE_WINDOW - 1 - now), "(0")
    redis.call("HSET", CFG, "pruned", int(now))
    CFGV.pruned = now
  end
  local n = state(e)
  if n.used <= 0 then
    count("inconsistent")
    return
  end
  if inbound then
    redis.call("HINCRBY", key("n", e), "inb", "-1")
  end
  n.used = redis.call("HINCRBY", key("n", e), "used", "-1")
  refresh(e, now, n)
  count(why)
  audit(why, e, id, now)
  freed = now
end

local function split_lease(record)
  local bar = string.find(record, "|", 1, true)
  return string.sub(record, 1, bar - 1), string.sub(record, bar + 1) == "1"
end

-- Number e's live leases and inbound ones, counted from the lease records: O(leases), for
-- repairs only (check, and the settings of a number restored after its key was lost).
local function leases_of(e)
  local records = redis.call("HGETALL", key("l"))
  local used, inbound = 0, 0
  for i = 2, #records, 2 do
    local record = records[i]
    if record ~= "void" and string.sub(record, 1, #e + 1) == e .. "|" then
      used = used + 1
      if string.sub(record, -1) == "1" then
        inbound = inbound + 1
      end
    end
  end
  return used, inbound
end

-- The record of a lease id given up by its client (its acquire's reply never came):
-- an acquire that runs later with that id takes nothing. Expires like a lease.
local VOID = "void"

-- An acquire's replies, by field (protocol.py): its lease, or its refusal.
local function granted(id, number, expires, now)
  return {[GRANTED_OK] = 1, [GRANTED_ID] = id, [GRANTED_NUMBER] = number,
    [GRANTED_EXPIRES] = expires, [GRANTED_NOW] = now}
end

local function refused(reason, retry_at, now)
  return {[REFUSED_OK] = 0, [REFUSED_REASON] = reason, [REFUSED_RETRY_AT] = retry_at,
    [REFUSED_NOW] = now}
end

-- An acquire is idempotent by lease id: run again (a client retrying a command whose
-- reply it lost), it returns the same lease and takes nothing. nil: a new id.
local function prior_outcome(id, now)
  local score = tonumber(redis.call("ZSCORE", key("leases"), id))
  if not score then
    return nil
  end
  if score < 0 then
    return refused(VOID, -1, now) -- ran before, and its lease has ended since
  end
  local record = redis.call("HGET", key("l"), id)
  if not record then
    return nil -- an expiry without its record: reclaim counts it for check()
  end
  if record == VOID then
    return refused(VOID, -1, now)
  end
  local e = split_lease(record)
  return granted(id, e, score, now)
end

-- Reclaim expired leases and revisit numbers whose caps freed (bounded work per call),
-- unless nothing is due yet: most calls skip both scans.
local function reclaim(now)
  if CFGV.due and now < CFGV.due then
    return
  end
  local expired = redis.call("ZRANGEBYSCORE", key("leases"), "0", int(now), "LIMIT", "0", "512")
  for _, id in ipairs(expired) do
    local record = redis.call("HGET", key("l"), id)
    if record == VOID then
      redis.call("HDEL", key("l"), id)
      redis.call("ZADD", key("leases"), int(-1 - now), id) -- remembered as ended
    elseif record then
      local e, inbound = split_lease(record)
      free(id, e, inbound, now, "expired")
    else
      redis.call("ZREM", key("leases"), id)
      count("inconsistent") -- an expiry without its lease record: run check()
    end
  end
  local due = redis.call("ZRANGEBYSCORE", key("revisit"), "-inf", int(now), "LIMIT", "0", "512")
  for _, e in ipairs(due) do
    redis.call("ZREM", key("revisit"), e)
    refresh_number(e, now)
  end
  local cap = redis.call("ZRANGE", key("revisit"), "0", "0", "WITHSCORES")[2]
  local due = math.min(first_expiry() or math.huge, tonumber(cap) or math.huge)
  if due == math.huge then
    redis.call("HDEL", CFG, "due")
    CFGV.due = nil
  else
    redis.call("HSET", CFG, "due", int(due))
    CFGV.due = due
  end
end

-- Take a channel of number e for lease `id`; `outbound` calls enter the windows
-- (pruned about once a minute, and gone once the number is idle: memory stays bounded).
-- Returns the lease's expiry, or nil (and takes nothing) if the number cannot take a call:
-- an index out of step with a number whose settings were lost.
local function take(e, id, now, ttl, outbound)
  local n = state(e)
  if not n.active or n.used >= n.capacity then
    return nil
  end
  local nkey, at = key("n", e), int(now)
  n.used = n.used + 1
  if outbound then
    for _, window in ipairs(n.caps.windows) do
      redis.call("ZADD", window_key(e, window), at, id)
    end
    if prune_due(n.pruned, now, WINDOW_PRUNE_EVERY) then
      prune_windows(e, now, n.caps)
      redis.call("HSET", nkey, "used", int(n.used), "pruned", at)
    else
      redis.call("HSET", nkey, "used", int(n.used))
      if client_clock then
        -- Renewed on every call: a client clock slower than the server's cannot let the
        -- keys run out under entries that still count.
        keep_windows(e, n.caps)
      end
    end
  else
    redis.call("HSET", nkey, "used", int(n.used))
    redis.call("HINCRBY", nkey, "inb", "1")
  end
  refresh(e, now, n)
  redis.call("HSET", key("l"), id, e .. "|" .. (outbound and "0" or "1"))
  schedule(key("leases"), now + ttl, id)
  count(outbound and "acquired" or "acquired_inbound")
  audit("acquire", e, id, now)
  return now + ttl
end

-- Take number e out of every group and pool (its settings and live leases stay).
local function leave_groups(e)
  local groups = redis.call("HGET", key("n", e), "groups") or ""
  for g in string.gmatch(groups, "[^\n]+") do
    redis.call("ZREM", key("g", g), e)
    redis.call("ZREM", key("c", g), e)
    redis.call("SREM", key("gm", g), e)
    redis.call("SREM", key("p", string.sub(g, 1, string.find(g, "|", 1, true) - 1)), e)
  end
end

local function finish(result)
  if freed and CFGV and CFGV.wake > freed then -- someone waits: wake them
    redis.call("PUBLISH", key("freed"), "1")
  end
  return result
end

-- Whether a process changing the pools must sync first: its view is of another era, or
-- Redis holds fewer of its changes than it made (Redis came back from an older snapshot:
-- {ns}:w counts each process's changes). "" for the count: a sync's own write, unchecked.
local function stale(era, token, writes)
  if writes == "" then
    return false
  end
  return era ~= CFGV.era or (tonumber(redis.call("HGET", key("w"), token)) or 0) < tonumber(writes)
end

-- Pool changes are last-writer-wins per number: each put or drop carries a stamp (its time
-- in microseconds, after the number's last stamp) and the token of the process that made
-- it (which breaks ties), kept in {ns}:n:<e164>. A sync writes a process's own changes with
-- their stamps, which win only over older ones: a stale view never undoes a newer change
-- after a loss. `given` is "" for a new change. Returns the stamp to write (nil if the
-- stored change is as new), and whether the number has settings here. A number whose
-- settings were lost has no stamp.
local function restamp(e, given, by, now)
  local n = redis.call("HMGET", key("n", e), "stamp", "by", "cap")
  local settled = n[3] ~= false
  local stored = settled and tonumber(n[1]) or -1
  if given == "" then
    return math.max(now, stored + 1), settled
  end
  local stamp = tonumber(given)
  if stamp > stored or (stamp == stored and by > (n[2] or "")) then
    return stamp, settled
  end
  return nil, settled
end

-- A pool change is done. A process's own change (not a sync's write) counts in {ns}:w.
-- Returns CHANGED: ok 1, the stamp, the changes Redis holds of the process (-1: a sync's
-- write).
local function changed(stamp, token, own)
  local writes = own and redis.call("HINCRBY", key("w"), token, 1) or -1
  return finish({[CHANGED_OK] = 1, [CHANGED_STAMP] = stamp, [CHANGED_WRITES] = writes})
end
