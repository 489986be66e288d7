/**
 * The rules by which a stored value is trusted, in one place for the
 * TypeScript side: which envelope headers this version can vouch for (format,
 * flags, codec id), and what a 0.2.2 JSON value says of its saga id and
 * version. The serializer decodes by them, the embedded engine and the
 * Cluster engine compare by them, and the Lua scripts apply the same rules
 * from src/lua/includes/stored-identity.lua, whose constants a test checks
 * against these.
 */
import {
  ENVELOPE_FORMAT_VERSION,
  FIRST_CUSTOM_CODEC_ID,
  HEADER_SIZE,
  HIGHEST_BUILT_IN_CODEC_ID,
  KNOWN_FLAGS,
  OFFSET,
  isEnvelope,
  sagaIdFingerprint,
} from "./envelope";
import { isSagaBusShaped, readSagaId } from "./state-shape";

export interface StoredIdentity {
  version: number;
  /** 0 for a 0.2.2 value. */
  schemaVersion: number;
  fingerprint: Buffer;
  /** An envelope's write token; a 0.2.2 value has none. */
  token: Buffer | undefined;
}

/** Why this version cannot vouch for an envelope's header; undefined when it can. `bytes` starts with the envelope magic. */
export function headerProblem(bytes: Buffer): string | undefined {
  if (bytes.length < HEADER_SIZE) return `envelope shorter than its ${HEADER_SIZE}-byte header`;
  const format = bytes[OFFSET.format]!;
  if (format !== ENVELOPE_FORMAT_VERSION) return `envelope format ${format} is not supported by this version (reads format ${ENVELOPE_FORMAT_VERSION})`;
  const flags = bytes[OFFSET.flags]!;
  if ((flags & ~KNOWN_FLAGS) !== 0) return `unknown envelope flags 0x${flags.toString(16)}`;
  const codecId = bytes[OFFSET.codec]!;
  if (codecId === 0 || (codecId > HIGHEST_BUILT_IN_CODEC_ID && codecId < FIRST_CUSTOM_CODEC_ID)) return `unknown codec id ${codecId}`;
  return undefined;
}

/**
 * The saga id and version a parsed 0.2.2 JSON value carries: a saga-bus-shaped
 * one (codecs/state-shape.ts) from its metadata, any other from its top-level
 * `id` and `version`; a version that is not a number counts as 0. Undefined
 * without a string id.
 */
export function legacyIdentity(doc: unknown): { sagaId: string; version: number } | undefined {
  if (doc === null || typeof doc !== "object") return undefined;
  const record = doc as Record<string, unknown>;
  const sagaId = readSagaId(record);
  if (sagaId === undefined) return undefined;
  const version = (isSagaBusShaped(record) ? (record.metadata as Record<string, unknown>) : record).version;
  return { sagaId, version: typeof version === "number" ? version : 0 };
}

/** The stored value's identity; undefined when it is unreadable. */
export function identityOf(bytes: Buffer): StoredIdentity | undefined {
  if (isEnvelope(bytes)) {
    if (headerProblem(bytes) !== undefined) return undefined;
    return {
      version: bytes.readUInt32BE(OFFSET.sagaVersion),
      schemaVersion: bytes.readUInt32BE(OFFSET.schemaVersion),
      token: bytes.subarray(OFFSET.token, OFFSET.token + 8),
      fingerprint: bytes.subarray(OFFSET.fingerprint, OFFSET.fingerprint + 8),
    };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch {
    return undefined;
  }
  const legacy = legacyIdentity(doc);
  return legacy && { version: legacy.version, schemaVersion: 0, token: undefined, fingerprint: sagaIdFingerprint(legacy.sagaId) };
}

/**
 * Whether a stored value may be the saga with this fingerprint: it carries
 * it, or it is unreadable (which never names its saga). False when missing.
 * What drop-orphan-index.lua judges on a standalone server.
 */
export function mayHoldSaga(value: Buffer | null | undefined, fingerprint: Buffer): boolean {
  if (!value) return false;
  const owner = identityOf(value);
  return !owner || owner.fingerprint.equals(fingerprint);
}

/**
 * The bytes that tell one write from any other at the same key: an
 * envelope's 28-byte header (its write token is fresh for every write), a
 * 0.2.2 value's whole text (it carries no token). The operator API's
 * rewrites and deletions go ahead only while the key still holds them
 * (src/lua/replace-values.lua, the embedded engine).
 */
export function writeIdentity(bytes: Buffer): Buffer {
  return isEnvelope(bytes) ? bytes.subarray(0, HEADER_SIZE) : bytes;
}

/** Whether `stored` is still the write `identity` (writeIdentity) was taken from. */
export function holdsWrite(stored: Buffer, identity: Buffer): boolean {
  return isEnvelope(identity) ? stored.length >= HEADER_SIZE && stored.subarray(0, HEADER_SIZE).equals(identity) : stored.equals(identity);
}
