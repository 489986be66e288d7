--[[
  Rewrite or delete a saga's value only while it is still exactly the bytes
  the caller read: the operator API's migration and its deletion of
  completed sagas, which must never undo a write made since. A rewrite keeps
  the value's expiry (SET KEEPTTL) and its saga version, so writers that
  loaded the value before it still update it.

  Input:
    KEYS[1]  value key
    KEYS[2]  optional, standalone server only, with "delete": the saga's id
             index key, deleted too while it points at ARGV[3]
    ARGV[1]  the bytes read, compared whole
    ARGV[2]  "set" or "delete"
    ARGV[3]  "set": the new bytes; "delete" with KEYS[2]: the correlation id
             the index must point at

  Output: 1 rewritten or deleted, 0 left alone (changed or gone since)
]]
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == "set" then
  redis.call("SET", KEYS[1], ARGV[3], "KEEPTTL")
  return 1
end
-- One DEL for both keys, the script's only write: the ACL allows or refuses it whole.
if KEYS[2] and redis.call("GET", KEYS[2]) == ARGV[3] then
  redis.call("DEL", KEYS[1], KEYS[2])
else
  redis.call("DEL", KEYS[1])
end
return 1
