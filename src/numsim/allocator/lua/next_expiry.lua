-- ARGV: now. Returns NEXT_EXPIRY: now, the next live lease's expiry or -1.
if not CFGV then return {-1} end
local now = clock(ARGV[ARG_NOW])
reclaim(now)
return finish({[NEXT_EXPIRY_NOW] = now, [NEXT_EXPIRY_EXPIRY] = first_expiry() or -1})
