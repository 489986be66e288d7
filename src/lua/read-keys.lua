--[[
  Read many keys in one call: the operator API's batches on a standalone
  server (a Cluster reads key by key: its keys live in many slots). Read
  only.

  Input:
    KEYS     the keys
    ARGV[1]  0: each whole value; N > 0: at most its first N bytes

  Output: for each key, two elements: its bytes (false when missing) and its PTTL
          (-2 missing, -1 no expiry, else milliseconds)
]]
local limit = tonumber(ARGV[1])
local replies = {}
for i, key in ipairs(KEYS) do
  local ttl = redis.call("PTTL", key)
  local bytes = false
  if ttl ~= -2 then
    if limit > 0 then bytes = redis.call("GETRANGE", key, 0, limit - 1) else bytes = redis.call("GET", key) end
  end
  replies[2 * i - 1] = bytes
  replies[2 * i] = ttl
end
return replies
