--[[
  Drop a saga id's index that leads to no value of its saga: only while it
  still points at the correlation id it was read with, and the value there
  is missing or carries another saga's fingerprint. A value this version
  cannot vouch for might be the saga: its index stays. Standalone server
  only (both keys on one node); a Cluster engine checks the value itself.

  Input:
    KEYS[1]  index key
    KEYS[2]  the value key the index leads to
    ARGV[1]  the correlation id the index was read pointing at
    ARGV[2]  saga id fingerprint (8 bytes: the first 8 of SHA-1(saga id))

  Output: 1 dropped, 0 left alone
]]
--- @include "stored-identity"

if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
local stored = identity(KEYS[2])
if stored == false or (stored and stored.fingerprint == ARGV[2]) then return 0 end
redis.call("DEL", KEYS[1])
return 1
