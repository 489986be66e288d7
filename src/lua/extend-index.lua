--[[
  Make a saga's id index live at least as long as its value is about to:
  run on a Cluster before an update writes the value (index and value hash
  to different slots, so no script can touch both). It only ever lengthens
  the index's life, so whatever becomes of the value write that follows, the
  index never expires before its value; trim-index.lua trims it after the
  write when it would outlive the value. Only while the index points at the
  saga's correlation id; a missing one is not recreated. One key only.

  Input:
    KEYS[1]  index key
    ARGV[1]  correlation id
    ARGV[2]  TTL in milliseconds the value is about to get; 0 = none
    ARGV[3]  with ARGV[2] above 0: the TTL to give the index when it would
             expire sooner (ARGV[2] plus a margin for the write to land)

  Output: 0  left untouched: missing, or points elsewhere
          1  it now lives at least ARGV[3] ms (no expiry when ARGV[2] is 0)
          2  it outlives ARGV[3] ms (or has no expiry): trim it once the value is written
]]
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) == 0 then
  redis.call("PERSIST", KEYS[1])
  return 1
end
local extended = tonumber(ARGV[3])
local current = redis.call("PTTL", KEYS[1])
if current ~= -1 and current <= extended then
  redis.call("PEXPIRE", KEYS[1], extended)
  return 1
end
return 2
