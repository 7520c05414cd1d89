-- ARGV: order, lease ttl (us), destination max calls (0: none), its window (us),
-- sticky memory (us), audit (0/1), max client clock skew (us, 0: any), and the pool
-- generation to set ("": keep the namespace's; a restore sets the restorer's).
redis.call("HSET", CFG, "order", ARGV[1], "ttl", ARGV[2], "dmax", ARGV[3], "dper", ARGV[4],
  "sticky", ARGV[5], "audit", ARGV[6], "skew", ARGV[7])
if ARGV[8] ~= "" then
  redis.call("HSET", CFG, "gen", ARGV[8])
else
  redis.call("HSETNX", CFG, "gen", 0)
end
return 1
