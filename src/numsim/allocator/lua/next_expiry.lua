-- ARGV: now. Returns {now, the next live lease's expiry or -1}.
if not CFGV then return {-1} end
local now = clock(ARGV[1])
reclaim(now)
return finish({now, first_expiry() or -1})
