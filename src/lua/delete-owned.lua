--[[
  Delete a saga value only when it belongs to the given saga id, so a stale
  id index can never make deleteById remove another saga. One key only.

  Input:
    KEYS[1]  value key
    ARGV[1]  saga id (UTF-8)

  Output: status
     1  deleted
     0  missing
    -4  the key holds a different saga
    -5  unreadable: neither envelope format 1 (with known flags and a built-in or
        custom codec id, the rule of write.lua) nor 0.2.2 JSON: a header this
        version cannot vouch for is never trusted to name its saga
]]
local key = KEYS[1]
local sagaId = ARGV[1]

local current = redis.call("GET", key)
if not current then return 0 end

local wanted = string.sub(redis.sha1hex(sagaId), 1, 16)
local owner
if string.byte(current, 1) == 254 then
  local codec, flags = string.byte(current, 3, 4)
  if string.len(current) < 28 or string.byte(current, 2) ~= 1 or flags > 1 or codec == 0 or (codec > 3 and codec < 128) then
    return -5
  end
  owner = string.gsub(string.sub(current, 21, 28), ".", function(c) return string.format("%02x", string.byte(c)) end)
else
  local ok, doc = pcall(cjson.decode, current)
  if not ok or type(doc) ~= "table" then return -5 end
  local id
  if type(doc.metadata) == "table" then id = doc.metadata.sagaId end
  if type(id) ~= "string" then id = doc.id end
  if type(id) ~= "string" then return -5 end
  owner = string.sub(redis.sha1hex(id), 1, 16)
end

if owner ~= wanted then return -4 end
redis.call("DEL", key)
return 1
