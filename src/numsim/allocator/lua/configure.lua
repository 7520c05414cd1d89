-- ARGV: order, lease ttl (us), destination max calls (0: none), its window (us),
-- sticky memory (us), audit (0/1)
redis.call("HSET", CFG, "order", ARGV[1], "ttl", ARGV[2], "dmax", ARGV[3], "dper", ARGV[4],
  "sticky", ARGV[5], "audit", ARGV[6])
return 1
