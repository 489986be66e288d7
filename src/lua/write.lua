--[[
  Compare-and-set one saga value: read, check, write and set the TTL in one
  atomic step. Touches one key on a Cluster (more only on a standalone
  server, see KEYS[2]).

  Only the 28-byte header of a stored envelope is read; a value not starting
  with the envelope magic is a 0.2.2 JSON value, read in full (the rules are
  in includes/stored-identity.lua).

  The new value (ARGV[1]) is an envelope, or a plain-JSON write request
  (writeFormat "0.2.2"; codecs/envelope.ts): byte 1 is 0xFD, the same header
  offsets carry its schema version, saga version and saga id fingerprint,
  bytes 13-20 hold no write token, and the bytes from 29 on are what is
  stored (0.2.2's JSON, as is). A plain request is never recognised as
  "already written": without a token, stored bytes equal to ours could be
  another writer's identical state, so it gets the ordinary checks (the
  store reports a conflict seen after a lost reply as WRITE_OUTCOME_UNKNOWN).
  An update requires the stored saga version to be one below the new
  value's (bytes 9-12 of ARGV[1]).

  Input:
    KEYS[1]  value key
    KEYS[2]  optional, standalone server only (same node, never on a Cluster):
             the saga's id index key, maintained when the write succeeds: an
             insert sets it with the value's TTL; an update gives it the
             value's expiry if it points at ARGV[4]
    ARGV[1]  new envelope, or plain-JSON write request
    ARGV[2]  TTL in milliseconds; 0 = no expiry (an existing TTL is removed)
    ARGV[3]  "insert" (the key must not exist), "update", or "update-keeping-expiry"
             (Cluster, ARGV[2] 0): an update that would take an expiry off the
             stored value is not written (-7), so the engine can first take it
             off the index, which lives on another node and must never expire
             before its value
    ARGV[4]  with KEYS[2]: the correlation id the index points at
    ARGV[5]  with KEYS[2], insert only: the value key prefix of this saga name.
             An insert is refused when the index names another correlation id
             whose value (ARGV[5] .. that id, escaped) belongs to this saga id
             (the saga already lives there), or is unreadable (it may). That
             key is read, never written.

  Output: { status, storedVersion, storedSchemaVersion, previousPttl [, existingCorrelationId] }
    status  1  written
            2  already written: the stored value carries this envelope's write token
               (our own write landed and its reply was lost; nothing is written again);
               never for a plain request
            0  conflict: the stored version is not the one this update expects
           -1  not found: an update, and the key is missing
           -2  exists: an insert, and the key holds another write
           -3  schema ahead: the stored schema version is above the new envelope's;
               newer data is never overwritten by an older writer
           -4  other saga: the key holds a different saga id
           -5  unreadable: the stored value is neither an envelope this version can
               vouch for nor 0.2.2 JSON naming a saga id; or (insert with KEYS[2]) the
               value at the correlation id the index names, returned as the fifth element
           -6  duplicate id (insert with KEYS[2] only): this saga id is live under the
               correlation id returned as the fifth element; nothing written
           -7  index first ("update-keeping-expiry" only): the write passed every check but
               would remove the stored value's expiry; nothing written
    storedSchemaVersion is 0 for a 0.2.2 value; previousPttl is -2 when the key was missing.

  Error replies of its own (any other is the server's, from a command before the first write: nothing written):
    NOPERM ...   the user's ACL would refuse the index command that follows the value write; nothing written
    PARTIAL ...  the value was written, then the server refused the index command after it (the server's reply
                 follows the code); only where the ACL cannot be asked first (Redis before 7.0)
]]
--- @include "stored-identity"
--- @include "permissions"

local key = KEYS[1]
local envelope = ARGV[1]
local ttl = tonumber(ARGV[2])
local inserting = ARGV[3] == "insert"
local keepingExpiry = ARGV[3] == "update-keeping-expiry"
local fingerprint = string.sub(envelope, 21, 28)
local plain = string.byte(envelope, 1) == 253
local value = envelope
if plain then value = string.sub(envelope, HEADER_SIZE + 1) end

-- Where the index names another correlation id: -6 when this saga id is live there, -5 when the value there
-- is one this version cannot vouch for (it may be this saga, written by a newer version); else nil (stale).
local function liveElsewhere()
  local indexed = redis.call("GET", KEYS[2])
  if not indexed or indexed == ARGV[4] then return nil end
  local other = identity(ARGV[5] .. escapeCorrelationId(indexed))
  if other == false then return -5, indexed end
  if other and other.fingerprint == fingerprint then return -6, indexed end
  return nil
end

local function set(target, bytes)
  if ttl > 0 then
    redis.call("SET", target, bytes, "PX", ttl)
  else
    redis.call("SET", target, bytes)
  end
end

local pttl = -2

-- The command that keeps the index with the value once the value is written, or nil: an insert sets it with
-- the value's TTL; an update gives it the value's new expiry, or removes the one the value just lost, while it
-- points at this saga. Read before the first write, so nothing after it can fail but the command itself.
local function indexCommand()
  if not KEYS[2] then return nil end
  if inserting then
    if ttl > 0 then return { "SET", KEYS[2], ARGV[4], "PX", ttl } end
    return { "SET", KEYS[2], ARGV[4] }
  end
  -- The GET runs on every update: reading the index ages it with its value under an LRU/LFU policy, so a busy
  -- saga's index is not the first key evicted.
  if redis.call("GET", KEYS[2]) ~= ARGV[4] then return nil end
  if ttl > 0 then return { "PEXPIRE", KEYS[2], ttl } end
  if pttl > 0 then return { "PERSIST", KEYS[2] } end
  return nil
end

-- Write the value and keep its index with it, or write nothing. Redis lets a script that has written once keep
-- writing past maxmemory, so the index never goes missing alone for that reason either.
local function writeWithIndex(reply)
  local command = indexCommand()
  if not command then
    set(key, value)
    return reply
  end
  local refused = refusal(command)
  if refused then return refused end
  set(key, value)
  return afterWrite(command) or reply
end

local stored = identity(key)
if stored == nil then
  if not inserting then return { -1, 0, 0, -2 } end
  if KEYS[2] then
    local blocked, existing = liveElsewhere()
    if blocked then return { blocked, 0, 0, -2, existing } end
  end
  return writeWithIndex({ 1, 0, 0, -2 })
end

pttl = redis.call("PTTL", key)
if stored == false then return { -5, 0, 0, pttl } end
if not plain and stored.token == string.sub(envelope, 13, 20) then
  -- The value is in place: the index command is this script's only write.
  local command = indexCommand()
  if command then redis.call(unpack(command)) end
  return { 2, stored.version, stored.schema, pttl }
end
if inserting then return { -2, stored.version, stored.schema, pttl } end
if stored.fingerprint ~= fingerprint then return { -4, stored.version, stored.schema, pttl } end
if stored.schema > u32(envelope, 5) then return { -3, stored.version, stored.schema, pttl } end
if stored.version ~= u32(envelope, 9) - 1 then return { 0, stored.version, stored.schema, pttl } end
if keepingExpiry and ttl == 0 and pttl >= 0 then return { -7, stored.version, stored.schema, pttl } end
return writeWithIndex({ 1, stored.version, stored.schema, pttl })
