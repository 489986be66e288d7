--[[
  Shared by every script that judges a stored value; the build puts it where
  a script says  --- @include "stored-identity"  (src/lua-assemble.ts).
  These are the rules of codecs/stored-identity.ts, and the constants are
  codecs/envelope.ts's: test/lua-script.test.ts checks that they agree.

  Envelope format 1 offsets, 1-based here: byte 1 magic, byte 2 format,
  byte 3 codec id, byte 4 flags, bytes 5-8 schema version, bytes 9-12 saga
  version, bytes 13-20 write token, bytes 21-28 saga id fingerprint.
]]
local ENVELOPE_MAGIC = 254
local ENVELOPE_FORMAT_VERSION = 1
local HEADER_SIZE = 28
local KNOWN_FLAGS = 3
local HIGHEST_BUILT_IN_CODEC_ID = 3
local FIRST_CUSTOM_CODEC_ID = 128

local function u32(s, at)
  local a, b, c, d = string.byte(s, at, at + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

-- A header this version can vouch for: format 1, no unknown flag bit, a built-in or custom codec id.
local function readableHeader(head)
  if string.len(head) < HEADER_SIZE or string.byte(head, 2) ~= ENVELOPE_FORMAT_VERSION then return false end
  local codec, flags = string.byte(head, 3, 4)
  if bit.band(flags, bit.bnot(KNOWN_FLAGS)) ~= 0 then return false end
  return codec ~= 0 and (codec <= HIGHEST_BUILT_IN_CODEC_ID or codec >= FIRST_CUSTOM_CODEC_ID)
end

-- A number token as JSON (and so JSON.parse) spells it: -?(0|[1-9]digits)(.digits)?([eE][+-]?digits)?
local function jsonNumber(token)
  local at = 1
  if string.sub(token, 1, 1) == "-" then at = 2 end
  local whole = string.match(token, "^%d+", at)
  if not whole or (#whole > 1 and string.sub(whole, 1, 1) == "0") then return false end
  at = at + #whole
  local fraction = string.match(token, "^%.%d+", at)
  if fraction then at = at + #fraction end
  local exponent = string.match(token, "^[eE][-+]?%d+", at)
  if exponent then at = at + #exponent end
  return at == #token + 1
end

-- Redis's cjson reads text JSON.parse refuses: numbers such as 01, 0x1F, +1, 1., NaN, and raw control characters
-- in strings. Text the TypeScript side cannot read is no 0.2.2 value to it, so it must not be one here either.
local function strictJson(text)
  local at, length = 1, #text
  while at <= length do
    local quote = string.find(text, '"', at, true)
    for token in string.gmatch(string.sub(text, at, (quote or length + 1) - 1), "[%w%.%+%-]+") do
      if token ~= "true" and token ~= "false" and token ~= "null" and not jsonNumber(token) then return false end
    end
    if not quote then return true end
    at = quote + 1
    while true do
      local stop = string.find(text, '[%z\1-\31"\\]', at)
      if not stop then return false end
      local byte = string.byte(text, stop)
      if byte < 32 then return false end
      if byte == 34 then at = stop + 1 break end
      at = stop + 2
    end
  end
  return true
end

-- A 0.2.2 JSON value's saga id and version: from metadata when metadata.sagaId is a string, else the top-level
-- id and version; a version that is not a number counts as 0. nil without a string id, or for text that is not
-- strict JSON.
local function legacyIdentity(text)
  if not strictJson(text) then return nil end
  local ok, doc = pcall(cjson.decode, text)
  if not ok or type(doc) ~= "table" then return nil end
  local source = doc
  if type(doc.metadata) == "table" and type(doc.metadata.sagaId) == "string" then source = doc.metadata end
  local id = source.id
  if source ~= doc then id = source.sagaId end
  if type(id) ~= "string" then return nil end
  local version = source.version
  if type(version) ~= "number" then version = 0 end
  return id, version
end

-- The first 8 bytes of SHA-1(saga id): the fingerprint an envelope carries in bytes 21-28.
local function fingerprintOf(sagaId)
  return (string.gsub(string.sub(redis.sha1hex(sagaId), 1, 16), "..", function(pair) return string.char(tonumber(pair, 16)) end))
end

-- What the value at `target` says of itself: nil when missing, false when unreadable, else
-- { schema, version, token (nil for 0.2.2 JSON), fingerprint }. Reads only the header of an envelope.
local function identity(target)
  local head = redis.call("GETRANGE", target, 0, HEADER_SIZE - 1)
  if head == "" and redis.call("EXISTS", target) == 0 then return nil end
  if string.byte(head, 1) == ENVELOPE_MAGIC then
    if not readableHeader(head) then return false end
    return { schema = u32(head, 5), version = u32(head, 9), token = string.sub(head, 13, 20), fingerprint = string.sub(head, 21, 28) }
  end
  local id, version = legacyIdentity(redis.call("GET", target))
  if not id then return false end
  return { schema = 0, version = version, fingerprint = fingerprintOf(id) }
end

-- How a correlation id appears in a value key (codecs/correlation-id-escape.ts).
local function escapeCorrelationId(id)
  if string.sub(id, 1, 1) == "%" then return "%25" .. string.sub(id, 2) end
  if string.sub(id, 1, 4) == "idx:" then return "%69" .. string.sub(id, 2) end
  return id
end
