-- Take an account's next request slot, or hold its slots back (Retry-After).
-- KEYS[1]: the account's pacing key (the time of its next free slot)
-- ARGV[1]: seconds between slots (0 when holding)
-- ARGV[2]: seconds to hold every slot back (0 when reserving)
-- Returns the seconds to wait for the slot taken, as a string (Lua numbers lose
-- their fraction on the way out).
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local hold = tonumber(ARGV[2])
local free = tonumber(redis.call('GET', KEYS[1]) or now)
local wait = 0
if hold > 0 then
  free = math.max(free, now + hold)
else
  local slot = math.max(now, free)
  wait = slot - now
  free = slot + interval
end
local ttl = math.ceil((free - now) * 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.6f', free), 'PX', ttl)
return string.format('%.6f', wait)
