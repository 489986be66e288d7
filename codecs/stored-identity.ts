/**
 * What a stored value says of itself, by the rules the write scripts apply
 * (src/lua/write.lua, src/lua/delete-owned.lua): an envelope's header, when
 * this version can vouch for it (format 1, known flags, an assigned codec
 * id), or a 0.2.2 JSON value's saga id and version. The embedded engine and
 * the tests take these rules from here.
 */
import { ENVELOPE_FORMAT_VERSION, HEADER_SIZE, KNOWN_FLAGS, OFFSET, isEnvelope, sagaIdFingerprint } from "./envelope";

export interface StoredIdentity {
  version: number;
  schemaVersion: number;
  fingerprint: Buffer;
  token: Buffer | undefined;
}

/** The stored value's identity; undefined when it is unreadable. */
export function identityOf(bytes: Buffer): StoredIdentity | undefined {
  if (isEnvelope(bytes)) {
    const codec = bytes[OFFSET.codec]!;
    const unknownCodec = codec === 0 || (codec > 3 && codec < 128);
    if (bytes.length < HEADER_SIZE || bytes[OFFSET.format] !== ENVELOPE_FORMAT_VERSION || (bytes[OFFSET.flags]! & ~KNOWN_FLAGS) !== 0 || unknownCodec) {
      return undefined;
    }
    return {
      version: bytes.readUInt32BE(OFFSET.sagaVersion),
      schemaVersion: bytes.readUInt32BE(OFFSET.schemaVersion),
      token: bytes.subarray(OFFSET.token, OFFSET.token + 8),
      fingerprint: bytes.subarray(OFFSET.fingerprint, OFFSET.fingerprint + 8),
    };
  }
  let doc: any;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch {
    return undefined;
  }
  if (doc === null || typeof doc !== "object") return undefined;
  // The shape rule of src/state-shape.ts: a string metadata.sagaId makes metadata the only source.
  const busMetadata = doc.metadata !== null && typeof doc.metadata === "object" && typeof doc.metadata.sagaId === "string" ? doc.metadata : undefined;
  const id = busMetadata ? busMetadata.sagaId : doc.id;
  if (typeof id !== "string") return undefined;
  const version = (busMetadata ?? doc).version;
  return { version: typeof version === "number" ? version : 0, schemaVersion: 0, token: undefined, fingerprint: sagaIdFingerprint(id) };
}
