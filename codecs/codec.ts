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
