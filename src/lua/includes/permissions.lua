--[[
  Shared by every script that writes more than once, and by the start's
  permission check; the build puts it where a script says
  --- @include "permissions"  (src/lua-assemble.ts).

  Redis does not undo a script's earlier writes when a later command in it
  fails, and an ACL refusal is such a failure. So a script asks the ACL
  before its first write whether it may run the commands that follow that
  write (refusal), and runs those through afterWrite: should the server
  refuse one anyway, the reply says that what was written before stays.

  redis.acl_check_cmd exists from Redis 7.0 on; on an older server nothing
  can be asked, refusal always passes, and only afterWrite's reply is left.
]]
local aclCheck = redis.acl_check_cmd

-- Whether this user may run `command` ({ name, arguments... }, keys included): true, false, or nil where the
-- server cannot tell. A name the server does not know (renamed, disabled) is one the user cannot run.
local function allowed(command)
  if not aclCheck then return nil end
  local ok, permitted = pcall(aclCheck, unpack(command))
  return ok and permitted == true
end

-- The error reply a script returns instead of its first write when the ACL would refuse `command` after it;
-- nil when it may run (or the server cannot tell). NOPERM, as the server's own refusal of a command reads. Its
-- commands are the script's own, known to the server, so no pcall: this runs on every write that has one.
local function refusal(command)
  if not aclCheck or aclCheck(unpack(command)) then return nil end
  return redis.error_reply("NOPERM this user has no permissions to run the '" .. string.lower(command[1]) .. "' command (asked before the script's first write)")
end

-- Run a command that follows the script's first write: nil when done, else the error reply to return, whose
-- code PARTIAL says the earlier write stays (reached only where refusal could not ask the ACL first).
local function afterWrite(command)
  local reply = redis.pcall(unpack(command))
  if type(reply) == "table" and reply.err then return redis.error_reply("PARTIAL " .. reply.err) end
  return nil
end
