/**
 * Containers in JSON text, counted from the bytes without decoding them and
 * without allocating: what JSON.parse (and superjson after it) would build.
 *
 * Every `{` and `[` outside a string is one container, which is exactly what
 * JSON.parse builds from valid text, and an upper bound for any prefix it
 * accepts before failing. A container takes at least two bytes (`{}`), so a
 * text of at most 2 × limit bytes cannot exceed the limit and is not scanned.
 */

/** Strings superjson turns into a path (an array of segments, ~200-400 bytes of heap) weigh this many containers. */
export const SUPERJSON_PATH_WEIGHT = 4;

/** SagaCodec.countContainers of the json codec (and of 0.2.2 values): 0 for a text too short to exceed `limit`. */
export function countJsonContainers(bytes: Uint8Array, start: number, limit: number): number {
  return bytes.length - start <= 2 * limit ? 0 : jsonContainers(bytes, start, limit);
}

/** Containers in `bytes[start..]` as JSON text; stops counting once above `stopAbove`. */
export function jsonContainers(bytes: Uint8Array, start: number, stopAbove: number): number {
  const end = bytes.length;
  let containers = 0;
  for (let i = start; i < end; i++) {
    const byte = bytes[i]!;
    if (byte === 0x22 /* " */) {
      i = stringEnd(bytes, i + 1, end);
    } else if (byte === 0x7b /* { */ || byte === 0x5b /* [ */) {
      if (++containers > stopAbove) return containers;
    }
  }
  return containers;
}

/**
 * The same for superjson text, `{"json":…,"meta":…}`. Besides its containers,
 * superjson turns strings of `meta` into paths (one array each, plus the
 * segments) and walks them: every string outside the top-level `json` member
 * weighs SUPERJSON_PATH_WEIGHT. Valid JSON has at least three bytes per string
 * (`"",`), so a text of at most limit × 3 / 4 bytes is not scanned.
 */
export function countSuperjsonContainers(bytes: Uint8Array, start: number, limit: number): number {
  return (bytes.length - start) * SUPERJSON_PATH_WEIGHT <= limit * 3 ? 0 : superjsonContainers(bytes, start, limit);
}

/** Weighted containers in `bytes[start..]` as superjson text; stops counting once above `stopAbove`. */
export function superjsonContainers(bytes: Uint8Array, start: number, stopAbove: number): number {
  const end = bytes.length;
  let containers = 0;
  let depth = 0;
  /** Inside the value of a top-level key spelled exactly "json" (an escaped spelling counts as meta: an overcount). */
  let inJson = false;
  let lastKeyIsJson = false;
  for (let i = start; i < end; i++) {
    const byte = bytes[i]!;
    if (byte === 0x22 /* " */) {
      const close = stringEnd(bytes, i + 1, end);
      if (depth === 1 && !inJson) lastKeyIsJson = close - i === 5 && bytes[i + 1] === 0x6a && bytes[i + 2] === 0x73 && bytes[i + 3] === 0x6f && bytes[i + 4] === 0x6e;
      if (!inJson && (containers += SUPERJSON_PATH_WEIGHT) > stopAbove) return containers;
      i = close;
    } else if (byte === 0x7b /* { */ || byte === 0x5b /* [ */) {
      depth++;
      if (++containers > stopAbove) return containers;
    } else if (byte === 0x7d /* } */ || byte === 0x5d /* ] */) {
      depth--;
      if (depth <= 1) inJson = lastKeyIsJson = false;
    } else if (depth === 1) {
      if (byte === 0x3a /* : */) inJson = lastKeyIsJson;
      else if (byte === 0x2c /* , */) inJson = lastKeyIsJson = false;
    }
  }
  return containers;
}

/** Index of the quote closing a string whose contents start at `from` (or `end` when unterminated); a backslash escapes the next byte. */
function stringEnd(bytes: Uint8Array, from: number, end: number): number {
  let i = from;
  while (i < end) {
    const byte = bytes[i]!;
    if (byte === 0x22) return i;
    i += byte === 0x5c ? 2 : 1;
  }
  return end;
}
