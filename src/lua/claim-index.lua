--[[
  Point a new saga's id index at its correlation id, unless the index names
  another correlation id that the caller has not yet found stale. Used on a
  Cluster, where index and value live in different slots: the insert writes
  its value first, then claims the index; whoever claims second finds the
  first one's value already written. One key only.

  Input:
    KEYS[1]  index key
    ARGV[1]  correlation id of the new saga
    ARGV[2]  TTL in milliseconds; 0 = no expiry
    ARGV[3]  a correlation id the caller checked and found stale (its value
             gone or another saga's), which may be replaced; "" for none

  Output: false (nil) when the index now points at ARGV[1]; else the
          correlation id it points at, left untouched
]]
local current = redis.call("GET", KEYS[1])
if current and current ~= ARGV[1] and current ~= ARGV[3] then return current end
if tonumber(ARGV[2]) > 0 then
  redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
else
  redis.call("SET", KEYS[1], ARGV[1])
end
return false
