--[[
  Take back a value this client just wrote, only if it is still exactly that
  write (its write token is still in place): used when an insert's index write
  failed, so a reported failure leaves nothing readable. One key only; DEL is
  allowed even when Redis is out of memory.

  Input:
    KEYS[1]  value key
    ARGV[1]  write token (8 bytes, envelope bytes 13-20)

  Output: 1 deleted, 0 left alone (missing, or written again since)
]]
if redis.call("GETRANGE", KEYS[1], 12, 19) ~= ARGV[1] then return 0 end
redis.call("DEL", KEYS[1])
return 1
