--[[
  Refresh the TTL of a saga's id index on update, only when it points at the
  saga's correlation id. The mapping saga id -> correlation id never changes
  for a live saga, so an index that points elsewhere belongs to someone else,
  and a missing one is not recreated (a failed update of a deleted saga must
  leave no key behind). One key only.

  Input:
    KEYS[1]  index key
    ARGV[1]  correlation id
    ARGV[2]  TTL in milliseconds (> 0)

  Output: 1 refreshed, 0 left untouched (missing, or points elsewhere)
]]
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
redis.call("PEXPIRE", KEYS[1], ARGV[2])
return 1
