--[[
  Refresh a saga's id index on update: point it at the correlation id and set
  its TTL, but only when it is missing or already points there. The mapping
  saga id -> correlation id never changes for a live saga, so an index that
  points elsewhere belongs to someone else and is left untouched. One key only.

  Input:
    KEYS[1]  index key
    ARGV[1]  correlation id
    ARGV[2]  TTL in milliseconds; 0 = no expiry

  Output: 1 written, 0 left untouched (points to another correlation id)
]]
local current = redis.call("GET", KEYS[1])
if current and current ~= ARGV[1] then return 0 end
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call("SET", KEYS[1], ARGV[1], "PX", ttl)
else
  redis.call("SET", KEYS[1], ARGV[1])
end
return 1
