/**
 * Test-side envelope building, for the tests that hand the serializer or the
 * store bytes of their own making (test/decode-fuzz.test.ts,
 * test/faults/hostile-bytes.test.ts), the built-in codec names and ids every
 * per-codec test iterates over, and a value type the codec tests encode.
 * test/golden.test.ts restates the envelope layout on its own on purpose and
 * takes only `Money` from here.
 */
import { HEADER_SIZE } from "../../codecs/envelope";
import { EnvelopeSerializer } from "../../codecs/serializer";

/** The built-in codecs, for tests that run once per codec. */
export const CODECS = ["json", "superjson", "msgpack"] as const;
export type CodecName = (typeof CODECS)[number];
/** The id each built-in codec writes at envelope byte 2, as the README's codec table lists them. */
export const CODEC_IDS: Readonly<Record<CodecName, number>> = { json: 1, superjson: 2, msgpack: 3 };
/** The built-in codecs' ids (json 1, superjson 2, msgpack 3). */
export const KNOWN_CODEC_IDS = new Set(Object.values(CODEC_IDS));

/** A writer per codec, uncompressed and always-compressing. */
export function envelopeWriters(options: { maxStateBytes?: number } = {}) {
  return CODECS.flatMap((codec) => [
    { codec, compressed: false, serializer: new EnvelopeSerializer({ codec, compressAboveBytes: 0, ...options }) },
    { codec, compressed: true, serializer: new EnvelopeSerializer({ codec, compressAboveBytes: 1, ...options }) },
  ]);
}

/**
 * A bare envelope header: magic 0xFE, the given format, codec id and flags, schema version 1 and the
 * given saga version (u32 BE), a zero write token, and the 8-byte saga fingerprint when one is given
 * (zeros otherwise).
 */
export function envelopeHeader(format: number, codecId: number, flags: number, sagaVersion: number, fingerprint?: Buffer): Buffer {
  const bytes = Buffer.alloc(HEADER_SIZE);
  bytes[0] = 0xfe;
  bytes[1] = format;
  bytes[2] = codecId;
  bytes[3] = flags;
  bytes.writeUInt32BE(1, 4);
  bytes.writeUInt32BE(sagaVersion, 8);
  fingerprint?.copy(bytes, 20, 0, 8);
  return bytes;
}

/** A user class with toJSON: each codec treats it differently (see the fidelity table in test/codecs.test.ts). */
export class Money {
  constructor(
    readonly amount: number,
    readonly currency: string,
  ) {}
  toJSON() {
    return `${this.amount} ${this.currency}`;
  }
}
