--[[
  Compare-and-set one saga value: read, check, write and set the TTL in one
  atomic step. Touches one key on a Cluster (more only on a standalone
  server, see KEYS[2]).

  Envelope format 1 offsets (1-based here; codecs/envelope.ts is the spec):
    byte 1 magic 0xFE, byte 2 format (1), bytes 5-8 schema version,
    bytes 9-12 saga version, bytes 13-20 write token, bytes 21-28 saga id fingerprint.
  Only the 28-byte header of a stored value is read. A value not starting
  with 0xFE is a 0.2.2 JSON value, read in full with cjson: a string
  metadata.sagaId makes it saga-bus-shaped (id and version from metadata),
  else id and version are its top-level fields.

  The new value (ARGV[2]) is an envelope, or a plain-JSON write request
  (writeFormat "0.2.2"; codecs/envelope.ts): byte 1 is 0xFD, the same header
  offsets carry its schema version, saga version and saga id fingerprint,
  bytes 13-20 hold no write token, and the bytes from 29 on are what is
  stored (0.2.2's JSON, as is). A plain request is never recognised as
  "already written": without a token, stored bytes equal to ours could be
  another writer's identical state, so it gets the ordinary checks (the
  store reports a conflict seen after a lost reply as WRITE_OUTCOME_UNKNOWN).

  Input:
    KEYS[1]  value key
    KEYS[2]  optional, standalone server only (same node, never on a Cluster):
             the saga's id index key, maintained when the write succeeds: set
             with the value's TTL ("set", inserts), or given the value's expiry
             if it points at ARGV[4] ("refresh", updates)
    ARGV[1]  expected stored saga version; -1 = the key must not exist
    ARGV[2]  new envelope, or plain-JSON write request
    ARGV[3]  TTL in milliseconds; 0 = no expiry (an existing TTL is removed)
    ARGV[4]  with KEYS[2]: the correlation id the index points at
    ARGV[5]  with KEYS[2]: "set" or "refresh"
    ARGV[6]  with "set": the value key prefix of this saga name. An insert is
             refused when the index names another correlation id whose value
             (ARGV[6] .. that id, escaped as src/keys.ts escapes it) belongs
             to this saga id: the saga already lives there. That key is read,
             never written.

  Output: { status, storedVersion, storedSchemaVersion, previousPttl [, existingCorrelationId] }
    status  1  written
            2  already written: the stored value carries this envelope's write token
               (our own write landed and its reply was lost; nothing is written again);
               never for a plain request
            0  conflict: stored version differs from ARGV[1]
           -1  not found: ARGV[1] >= 0 and the key is missing
           -2  exists: ARGV[1] = -1 and the key holds another write
           -3  schema ahead: the stored schema version is above the new envelope's;
               newer data is never overwritten by an older writer
           -4  other saga: the key holds a different saga id
           -5  unreadable: stored value is neither envelope format 1 (with known flags and a
               built-in or custom codec id) nor 0.2.2 JSON
           -6  duplicate id (insert with "set" only): this saga id is live under the
               correlation id returned as the fifth element; nothing written
    storedSchemaVersion is 0 for a 0.2.2 value; previousPttl is -2 when the key was missing.
]]
local key = KEYS[1]
local expected = tonumber(ARGV[1])
local envelope = ARGV[2]
local ttl = tonumber(ARGV[3])
local fingerprint = string.sub(envelope, 21, 28)
local plain = string.byte(envelope, 1) == 253
local value = envelope
if plain then value = string.sub(envelope, 29) end

local function u32(s, at)
  local a, b, c, d = string.byte(s, at, at + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

local function hex(s)
  return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end))
end

-- What a stored value says of itself: nil when missing, false when unreadable.
local function identity(target)
  local head = redis.call("GETRANGE", target, 0, 27)
  if head == "" and redis.call("EXISTS", target) == 0 then return nil end
  if string.byte(head, 1) == 254 then
    -- Unknown format, flags or an unassigned built-in codec id: a header this version cannot vouch for.
    local codec, flags = string.byte(head, 3, 4)
    if string.len(head) < 28 or string.byte(head, 2) ~= 1 or flags > 1 or codec == 0 or (codec > 3 and codec < 128) then
      return false
    end
    return { schema = u32(head, 5), version = u32(head, 9), token = string.sub(head, 13, 20), sameSaga = string.sub(head, 21, 28) == fingerprint }
  end
  local ok, doc = pcall(cjson.decode, redis.call("GET", target))
  if not ok or type(doc) ~= "table" then return false end
  local id, version
  local meta = doc.metadata
  if type(meta) == "table" and type(meta.sagaId) == "string" then
    id, version = meta.sagaId, meta.version
  else
    id, version = doc.id, doc.version
  end
  if type(id) ~= "string" then return false end
  if type(version) ~= "number" then version = 0 end
  return { schema = 0, version = version, sameSaga = string.sub(redis.sha1hex(id), 1, 16) == hex(fingerprint) }
end

local function escapeCorrelationId(id)
  if string.sub(id, 1, 1) == "%" then return "%25" .. string.sub(id, 2) end
  if string.sub(id, 1, 4) == "idx:" then return "%69" .. string.sub(id, 2) end
  return id
end

-- The correlation id this saga id is already live under, if another.
local function liveElsewhere()
  local indexed = redis.call("GET", KEYS[2])
  if not indexed or indexed == ARGV[4] then return nil end
  local other = identity(ARGV[6] .. escapeCorrelationId(indexed))
  if other and other.sameSaga then return indexed end
  return nil
end

local function set(target, value)
  if ttl > 0 then
    redis.call("SET", target, value, "PX", ttl)
  else
    redis.call("SET", target, value)
  end
end

local pttl = -2

-- Redis lets a script that has written once keep writing past maxmemory, so the index never goes missing alone.
local function storeIndex()
  if not KEYS[2] then return end
  if ARGV[5] ~= "refresh" then
    set(KEYS[2], ARGV[4])
  -- The GET runs on every update: reading the index ages it with its value under an LRU/LFU policy, so a busy
  -- saga's index is not the first key evicted.
  elseif redis.call("GET", KEYS[2]) == ARGV[4] and (ttl > 0 or pttl > 0) then
    -- Only when an expiry is involved: the value's new one, or one it just lost.
    if ttl > 0 then redis.call("PEXPIRE", KEYS[2], ttl) else redis.call("PERSIST", KEYS[2]) end
  end
end

local stored = identity(key)
if stored == nil then
  if expected ~= -1 then return { -1, 0, 0, -2 } end
  if KEYS[2] and ARGV[5] == "set" then
    local existing = liveElsewhere()
    if existing then return { -6, 0, 0, -2, existing } end
  end
  set(key, value)
  storeIndex()
  return { 1, 0, 0, -2 }
end

pttl = redis.call("PTTL", key)
if stored == false then return { -5, 0, 0, pttl } end
if not plain and stored.token == string.sub(envelope, 13, 20) then
  storeIndex()
  return { 2, stored.version, stored.schema, pttl }
end
if expected == -1 then return { -2, stored.version, stored.schema, pttl } end
if not stored.sameSaga then return { -4, stored.version, stored.schema, pttl } end
if stored.schema > u32(envelope, 5) then return { -3, stored.version, stored.schema, pttl } end
if stored.version ~= expected then return { 0, stored.version, stored.schema, pttl } end
set(key, value)
storeIndex()
return { 1, stored.version, stored.schema, pttl }
