--[[
  Rewrite or delete saga values, each only while its key still holds the
  write the caller read: the operator API's migration and its deletion of
  completed sagas, which must never undo a write made since. A rewrite keeps
  the value's expiry (SET KEEPTTL) and its saga version, so writers that
  loaded the value before it still update it. Many values in one call on a
  standalone server; one on a Cluster (each key in its own slot).

  What identifies the write read (codecs/stored-identity.ts writeIdentity):
  an envelope's 28-byte header, whose write token is fresh for every write,
  compared with the stored value's first 28 bytes; or a 0.2.2 value's whole
  text (it has no header), compared whole.

  Input, for each value i = 1..n:
    KEYS[2i-1]    value key
    KEYS[2i]      with "delete", standalone only: the saga's id index key,
                  deleted too while it points at ARGV[3i]; else the value key again
    ARGV[3i-2]    the write read: an envelope header (first byte 0xFE) or a whole 0.2.2 value
    ARGV[3i-1]    "set" or "delete"
    ARGV[3i]      "set": the new bytes; "delete": the correlation id the index must point at

  Output: one number per value: 1 rewritten or deleted, 0 left alone (changed or gone since)
]]
--- @include "stored-identity"

local replies = {}
for i = 1, #KEYS / 2 do
  local valueKey, indexKey = KEYS[2 * i - 1], KEYS[2 * i]
  local read, mode, argument = ARGV[3 * i - 2], ARGV[3 * i - 1], ARGV[3 * i]
  local stored
  if string.byte(read, 1) == ENVELOPE_MAGIC then
    stored = redis.call("GETRANGE", valueKey, 0, HEADER_SIZE - 1)
  else
    stored = redis.call("GET", valueKey)
  end
  replies[i] = 0
  if stored == read then
    replies[i] = 1
    if mode == "set" then
      redis.call("SET", valueKey, argument, "KEEPTTL")
    elseif indexKey ~= valueKey and redis.call("GET", indexKey) == argument then
      -- One DEL for both keys: the ACL allows or refuses it whole.
      redis.call("DEL", valueKey, indexKey)
    else
      redis.call("DEL", valueKey)
    end
  end
end
return replies
