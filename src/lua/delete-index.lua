--[[
  Drop a saga's id index only while it points at the given correlation id:
  the index of a deleted saga goes, one a new saga claimed meanwhile stays.
  One key only.

  Input:
    KEYS[1]  index key
    ARGV[1]  correlation id

  Output: 1 deleted, 0 left alone (missing, or points elsewhere)
]]
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
redis.call("DEL", KEYS[1])
return 1
