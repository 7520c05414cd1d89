-- ARGV: a fresh era token. Moves the pools to a new era, so that every process syncs on its
-- next call (a sync wrote changes the others may not know). Returns {}.
if not CFGV then return {-1} end
redis.call("HSET", CFG, "era", ARGV[ARG_ERA])
return {}
