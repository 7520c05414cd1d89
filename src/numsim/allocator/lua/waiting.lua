-- ARGV: now, a process token, how long it waits (us; "" = it stopped waiting).
-- Keeps {ns}:waiters (token -> until when) and cfg "wake", the last of those times:
-- scripts that free a channel publish on {ns}:freed only before it. A process that
-- dies while waiting stops counting when its mark runs out. Returns {}.
if not CFGV then return {-1} end
local now = clock(ARGV[ARG_NOW])
local waiters = key("waiters")
redis.call("ZREMRANGEBYSCORE", waiters, "-inf", now)
local token, ttl = ARGV[ARG_TOKEN], ARGV[ARG_TTL]
if ttl ~= "" then
  redis.call("ZADD", waiters, now + tonumber(ttl), token)
else
  redis.call("ZREM", waiters, token)
end
local last = redis.call("ZRANGE", waiters, -1, -1, "WITHSCORES")[2]
if last then
  redis.call("HSET", CFG, "wake", last)
else
  redis.call("HDEL", CFG, "wake")
end
return {}
