import { hash, randomBytes } from "node:crypto";

/**
 * Envelope format 1: every stored value is one Redis string laid out as
 *
 *   offset size field
 *   0      1    magic 0xFE (never the first byte of UTF-8 text, so a 0.2.2 JSON value is told apart)
 *   1      1    envelope format version (1)
 *   2      1    codec id (1 json, 2 superjson, 3 msgpack, 128-255 custom)
 *   3      1    flags (bit 0: payload is deflate-raw compressed; bit 1: payload is encrypted, laid out as in codecs/encryption.ts)
 *   4      4    schema version, uint32 big-endian
 *   8      4    saga version, uint32 big-endian (authoritative over the payload's copy)
 *   12     8    write token: random per write, lets a re-sent write recognise itself
 *   20     8    saga id fingerprint: first 8 bytes of SHA-1(UTF-8 saga id)
 *   28     ...  payload (codec output, possibly compressed)
 *
 * The Lua scripts read the same offsets; golden tests pin them.
 *
 * Plain-JSON write request (writeFormat "0.2.2"): what the store sends to
 * write.lua and the memory engine when the value to store is a 0.2.2 value
 * (plain JSON) rather than an envelope. It is never stored: the engine
 * stores the bytes after the header as they are. Same offsets, so the write
 * script reads the new value's identity where it reads an envelope's:
 *
 *   0      1    magic 0xFD (never a byte of UTF-8 text, never an envelope's first byte)
 *   1      1    1
 *   2      1    codec id 1 (json)
 *   3      1    flags 0
 *   4      4    schema version the stored JSON is read back as (the registry's legacySchemaVersion, else 1)
 *   8      4    saga version (the JSON's metadata.version)
 *   12     8    0xFF x 8: no write token (plain JSON carries none; no UTF-8 text contains 0xFF,
 *               so retract.lua, which compares stored bytes 12-19 with these, never takes a JSON value back)
 *   20     8    saga id fingerprint, as in an envelope
 *   28     ...  the bytes to store (the 0.2.2 JSON text)
 */
export const ENVELOPE_MAGIC = 0xfe;
export const PLAIN_REQUEST_MAGIC = 0xfd;
export const ENVELOPE_FORMAT_VERSION = 1;
export const HEADER_SIZE = 28;
export const FLAG_DEFLATE = 0x01;
export const FLAG_ENCRYPTED = 0x02;
/** Every flag bit this version reads; a value with any other bit set is never decoded, written over or deleted. */
export const KNOWN_FLAGS = FLAG_DEFLATE | FLAG_ENCRYPTED;
/** Codec ids 1..HIGHEST_BUILT_IN_CODEC_ID are the built-in codecs; 0 and the ids up to 127 above it are unassigned. */
export const HIGHEST_BUILT_IN_CODEC_ID = 3;
/** Ids from here to 255 belong to applications' own codecs. */
export const FIRST_CUSTOM_CODEC_ID = 128;

export const OFFSET = {
  magic: 0,
  format: 1,
  codec: 2,
  flags: 3,
  schemaVersion: 4,
  sagaVersion: 8,
  token: 12,
  fingerprint: 20,
} as const;

export interface EnvelopeHeader {
  format: number;
  codecId: number;
  flags: number;
  schemaVersion: number;
  sagaVersion: number;
}

export function isEnvelope(bytes: Buffer): boolean {
  return bytes.length > 0 && bytes[0] === ENVELOPE_MAGIC;
}

const fingerprints = new Map<string, Buffer>();
const FINGERPRINT_CACHE_SIZE = 10_000;

/** First 8 bytes of SHA-1(UTF-8 saga id); cached, as a saga is written many times. */
export function sagaIdFingerprint(sagaId: string): Buffer {
  let fingerprint = fingerprints.get(sagaId);
  if (!fingerprint) {
    fingerprint = hash("sha1", sagaId, "buffer").subarray(0, 8);
    if (fingerprints.size >= FINGERPRINT_CACHE_SIZE) fingerprints.clear();
    fingerprints.set(sagaId, fingerprint);
  }
  return fingerprint;
}

/**
 * Write tokens only need to differ between writes to one key: 4 random bytes
 * per process followed by a 32-bit counter make them unique within a process
 * and collide across processes with odds of 2^-32, at no cost per write.
 */
const tokenPrefix = randomBytes(4);
let tokenCounter = randomBytes(4).readUInt32BE(0);

function writeToken(buffer: Buffer, offset: number): void {
  tokenPrefix.copy(buffer, offset);
  tokenCounter = (tokenCounter + 1) >>> 0;
  buffer.writeUInt32BE(tokenCounter, offset + 4);
}

/**
 * Fill the reserved first HEADER_SIZE bytes of `buffer`, with a fresh write
 * token unless `token` is given: a rewrite of the same write in another form
 * (the operator API's migration) keeps the token of the write it rewrites.
 */
export function writeHeader(buffer: Buffer, header: Omit<EnvelopeHeader, "format">, fingerprint: Buffer, token?: Buffer): Buffer {
  buffer[OFFSET.magic] = ENVELOPE_MAGIC;
  buffer[OFFSET.format] = ENVELOPE_FORMAT_VERSION;
  buffer[OFFSET.codec] = header.codecId;
  buffer[OFFSET.flags] = header.flags;
  buffer.writeUInt32BE(header.schemaVersion, OFFSET.schemaVersion);
  buffer.writeUInt32BE(header.sagaVersion, OFFSET.sagaVersion);
  if (token) token.copy(buffer, OFFSET.token, 0, 8);
  else writeToken(buffer, OFFSET.token);
  fingerprint.copy(buffer, OFFSET.fingerprint);
  return buffer;
}

/** Read the header of a buffer that starts with the magic byte; returns null when it is too short. */
export function readHeader(bytes: Buffer): EnvelopeHeader | null {
  if (bytes.length < HEADER_SIZE) return null;
  return {
    format: bytes[OFFSET.format]!,
    codecId: bytes[OFFSET.codec]!,
    flags: bytes[OFFSET.flags]!,
    schemaVersion: bytes.readUInt32BE(OFFSET.schemaVersion),
    sagaVersion: bytes.readUInt32BE(OFFSET.sagaVersion),
  };
}

/** Whether a write request carries a plain value (writeFormat "0.2.2") rather than an envelope. */
export function isPlainRequest(request: Buffer): boolean {
  return request.length >= HEADER_SIZE && request[0] === PLAIN_REQUEST_MAGIC;
}

/** The bytes an engine stores for a write request: the envelope itself, or a plain request's payload. */
export function storedBytesOf(request: Buffer): Buffer {
  return isPlainRequest(request) ? request.subarray(HEADER_SIZE) : request;
}

/** Fill the reserved first HEADER_SIZE bytes of `buffer` as a plain-JSON write request header. */
export function writePlainRequestHeader(buffer: Buffer, header: { schemaVersion: number; sagaVersion: number }, fingerprint: Buffer): Buffer {
  buffer[OFFSET.magic] = PLAIN_REQUEST_MAGIC;
  buffer[OFFSET.format] = ENVELOPE_FORMAT_VERSION;
  buffer[OFFSET.codec] = 1;
  buffer[OFFSET.flags] = 0;
  buffer.writeUInt32BE(header.schemaVersion, OFFSET.schemaVersion);
  buffer.writeUInt32BE(header.sagaVersion, OFFSET.sagaVersion);
  buffer.fill(0xff, OFFSET.token, OFFSET.token + 8);
  fingerprint.copy(buffer, OFFSET.fingerprint);
  return buffer;
}
