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
}

/** Above this length, measure the UTF-8 size first instead of allocating for the worst case. */
const WORST_CASE_ALLOCATION_LIMIT = 16 * 1024;

/** Lay a UTF-8 string after `reserve` free bytes in one allocation, without a second pass to measure it when small. */
export function stringWithReserve(text: string, reserve: number): Buffer {
  if (text.length > WORST_CASE_ALLOCATION_LIMIT) {
    const buffer = Buffer.allocUnsafe(reserve + Buffer.byteLength(text));
    buffer.write(text, reserve);
    return buffer;
  }
  const buffer = Buffer.allocUnsafe(reserve + text.length * 3);
  return buffer.subarray(0, reserve + buffer.write(text, reserve));
}
