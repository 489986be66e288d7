--[[
  Delete a saga's value only when it belongs to the given saga, so a stale id
  index can never make deleteById remove another saga; and drop the index
  while it still points where it was read, unless the value is unreadable.
  On a Cluster the value key alone (KEYS[2] absent): the index is then
  dropped by delete-index.lua.

  Input:
    KEYS[1]  value key
    KEYS[2]  optional, standalone server only: the saga's id index key
    ARGV[1]  saga id fingerprint (8 bytes: the first 8 of SHA-1(saga id))
    ARGV[2]  with KEYS[2]: the correlation id the index was read pointing at

  Output: status (an error reply is the server's refusal of a command: nothing deleted)
     1  deleted
     0  missing (the stale index is dropped)
    -4  the key holds a different saga (the stale index is dropped)
    -5  unreadable: a value this version cannot vouch for never names its saga; nothing is deleted
]]
--- @include "stored-identity"

local stored = identity(KEYS[1])
if stored == false then return -5 end
local status = 0
local doomed = {}
if stored then
  status = -4
  if stored.fingerprint == ARGV[1] then
    doomed[1] = KEYS[1]
    status = 1
  end
end
if KEYS[2] and redis.call("GET", KEYS[2]) == ARGV[2] then doomed[#doomed + 1] = KEYS[2] end
-- One DEL for both keys, the script's only write: the ACL allows or refuses it whole, so a refusal deletes neither.
if #doomed > 0 then redis.call("DEL", unpack(doomed)) end
return status
