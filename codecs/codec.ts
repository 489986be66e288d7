/**
 * A codec turns a state object into payload bytes and back. Its `id` is
 * written into every envelope, so a codec id must always mean the same bytes:
 * never change an existing codec's options under the same id.
 */
export interface SagaCodec {
  /** Envelope codec id: 1-127 are reserved for built-in codecs, 128-255 are yours. */
  readonly id: number;
  readonly name: string;
  /**
   * Encode `state` into a buffer whose first `reserve` bytes are left for the
   * envelope header (writing the header in place avoids a copy).
   */
  encode(state: unknown, reserve: number): Buffer;
  /** Decode a payload produced by `encode` (without the reserved prefix). */
  decode(payload: Buffer): unknown;
  /**
   * Optional: how many containers (objects, arrays, Maps, Sets, ...) decoding
   * `bytes[start..]` could build, counted without decoding: a number at least
   * that count, or any number up to `limit` when the payload is too short to
   * hold more; it may stop counting once above `limit`, and throw for bytes
   * it can tell are not a payload of this codec. The store refuses a payload
   * above maxStateContainers on write and on read; a codec without it is
   * bounded by maxStateBytes alone. Called on every encode and decode, so a
   * short payload must cost no more than a length check.
   */
  countContainers?(bytes: Buffer, start: number, limit: number): number;
}

/**
 * Lay a UTF-8 string after `reserve` free bytes, sized exactly: measuring
 * first costs less than allocating for the worst case (3 bytes per UTF-16
 * unit), which drains Buffer's shared pool three times as fast and leaves
 * the collector more to do.
 */
export function stringWithReserve(text: string, reserve: number): Buffer {
  const buffer = Buffer.allocUnsafe(reserve + Buffer.byteLength(text));
  buffer.write(text, reserve);
  return buffer;
}
