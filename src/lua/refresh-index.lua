--[[
  Give a saga's id index its value's new expiry after an update, only when it
  points at the saga's correlation id. The mapping saga id -> correlation id
  never changes for a live saga, so an index that points elsewhere belongs
  to someone else, and a missing one is not recreated (a failed update of a
  deleted saga must leave no key behind). Used on a Cluster, where index and
  value live in different slots; on a standalone server write.lua does it.
  One key only.

  Input:
    KEYS[1]  index key
    ARGV[1]  correlation id
    ARGV[2]  TTL in milliseconds; 0 = no expiry (an existing one is removed)

  Output: 1 refreshed, 0 left untouched (missing, or points elsewhere)
]]
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) > 0 then redis.call("PEXPIRE", KEYS[1], ARGV[2]) else redis.call("PERSIST", KEYS[1]) end
return 1
