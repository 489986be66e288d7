--[[
  Give a saga's id index its value's expiry after an update on a Cluster,
  when extend-index.lua found the index outliving it. Runs after the value
  write, so the index still expires no earlier than its value. Only while
  it points at the saga's correlation id: the mapping saga id -> correlation
  id never changes for a live saga, so an index that points elsewhere
  belongs to someone else, and a missing one is not recreated. One key only.

  Input:
    KEYS[1]  index key
    ARGV[1]  correlation id
    ARGV[2]  TTL in milliseconds (above 0)

  Output: 1 trimmed, 0 left untouched (missing, or points elsewhere)
]]
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
redis.call("PEXPIRE", KEYS[1], ARGV[2])
return 1
