-- ARGV: order, lease ttl (us), destination max calls (0: none), its window (us),
-- sticky memory (us), audit (0/1), max client clock skew (us, 0: any), and a fresh era
-- token, kept only if the namespace has none (it is new, or was lost): the era of a
-- re-created namespace never matches the one before.
redis.call("HSET", CFG, "policy", table.concat(ARGV, " ", 1, 7))
redis.call("HSETNX", CFG, "era", ARGV[8])
return 1
