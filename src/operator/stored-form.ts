import { FLAG_DEFLATE, FLAG_ENCRYPTED, OFFSET, isEnvelope, readHeader, type EnvelopeHeader } from "../../codecs/envelope";
import { encryptionKeyIdOf } from "../../codecs/encryption";
import type { EnvelopeSerializer } from "../../codecs/serializer";
import { headerProblem } from "../../codecs/stored-identity";

/** What a stored value's bytes say of their form, before any payload is decoded. */
export interface StoredForm {
  /** "envelope" (README "Envelope format"), "0.2.2" (plain JSON, no header), or "unknown" (an envelope header this version cannot read). */
  format: "envelope" | "0.2.2" | "unknown";
  /** The codec's name: "json" for a 0.2.2 value. */
  codec: string;
  compressed: boolean;
  /** The encryption key id an encrypted envelope names (readable without the key); undefined when not encrypted. */
  keyId: string | undefined;
  /** The envelope header; undefined for a 0.2.2 value or an unreadable header. */
  header: EnvelopeHeader | undefined;
  /** Envelope bytes 12-19 and 20-27. */
  writeToken: Buffer | undefined;
  fingerprint: Buffer | undefined;
}

export function storedForm(serializer: EnvelopeSerializer, bytes: Buffer): StoredForm {
  const none = { compressed: false, keyId: undefined, header: undefined, writeToken: undefined, fingerprint: undefined };
  if (!isEnvelope(bytes)) return { format: "0.2.2", codec: "json", ...none };
  const header = headerProblem(bytes) === undefined ? readHeader(bytes)! : undefined;
  if (!header) return { format: "unknown", codec: "unknown", ...none };
  return {
    format: "envelope",
    codec: serializer.codecName(header.codecId),
    compressed: (header.flags & FLAG_DEFLATE) !== 0,
    keyId: header.flags & FLAG_ENCRYPTED ? (encryptionKeyIdOf(bytes) ?? "(unreadable)") : undefined,
    header,
    writeToken: bytes.subarray(OFFSET.token, OFFSET.token + 8),
    fingerprint: bytes.subarray(OFFSET.fingerprint, OFFSET.fingerprint + 8),
  };
}
