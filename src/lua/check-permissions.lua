--[[
  Which of the given commands the connection's user may not run, asked of
  the server's ACL without running any of them: the start's check
  (src/engines/redis-permissions.ts). Reads and writes nothing. No keys: the
  keys to ask about are arguments, so it runs on every primary of a Cluster
  whatever slot they hash to.

  Input:
    ARGV  the commands, each as its word count followed by its words, keys
          included: 3, "pexpire", "<key>", "1", 2, "scan", "0", ...

  Output: false (nil) when the server cannot tell (before Redis 7.0, see
          includes/permissions.lua); else the 1-based positions, in order, of the
          commands refused (an empty list when none is)
]]
--- @include "permissions"

if not aclCheck then return false end
local refused = {}
local at, position = 1, 1
while at <= #ARGV do
  local count = tonumber(ARGV[at])
  local command = {}
  for i = 1, count do command[i] = ARGV[at + i] end
  if not allowed(command) then refused[#refused + 1] = position end
  at = at + count + 1
  position = position + 1
end
return refused
