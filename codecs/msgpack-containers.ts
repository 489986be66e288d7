/**
 * Containers in a msgpack payload as the msgpack codec decodes it (msgpackr
 * 2, records on, maps as objects, moreTypes, structured clone off), counted by
 * walking the framing without decoding and without allocating per call.
 *
 * One byte of msgpack can become a whole object (a fixmap 0x80, a fixarray
 * 0x90, a record reference 0x40-0x7f), and some constructs cost far more than
 * an empty object, so the count is a weight: about one per 64 bytes of heap
 * the decode builds, read off msgpackr's unpack.js:
 *   - map, array, record reference: 1 (an object or array);
 *   - record definition (`d4 72 id`): 3 for the structure and its reader
 *     closures, plus 1 for the object it reads at once;
 *   - a record reference to a structure of more than 256 keys: 1 + keys (V8
 *     makes such objects dictionaries, ~50 bytes a property, while the keys
 *     are not repeated in the bytes);
 *   - the 4th read of a structure: + 64 + keys, for the reader msgpackr then
 *     compiles with `new Function` (~1 KB and ~85 µs each);
 *   - bin: 2 (a Buffer view, ~100 bytes); extensions by type: Date 2, Set 2,
 *     Error 12 (a captured stack, ~700 bytes), typed array / ArrayBuffer /
 *     DataView 6 (~200 bytes of heap and as much outside it), RegExp and
 *     BigInt 1, undefined 0, others 1.
 * Values of other kinds (numbers, strings) cost about as many bytes of heap
 * per payload byte as an array slot, and stay bounded by maxStateBytes.
 *
 * The densest weight is a definition read four times: 72 in 7 bytes, so a
 * payload of at most limit / MAX_WEIGHT_PER_BYTE bytes cannot exceed the
 * limit and is not scanned.
 *
 * Refused outright (thrown, so the store reports the payload corrupt):
 * bytes after the value (msgpackr would decode it all, then JSON.stringify
 * it into its error message), and the constructs this codec never writes
 * whose cost cannot be read off the framing: two-byte record ids (`d5 72`,
 * references through them), string bundles (extension 0x62), definitions
 * whose keys are not an array, nesting deeper than MAX_DEPTH.
 */

export const MAX_WEIGHT_PER_BYTE = 11;
export const MAX_DEPTH = 65_536;

const DEFINITION = 3;
const COMPILE = 64;
const DICTIONARY_KEYS = 256;

/** Weight of an extension by type; an unknown type is a decode error (or an application's own extension): 1. */
const EXTENSION_WEIGHT = new Uint8Array(256).fill(1);
EXTENSION_WEIGHT[0x00] = 0; // undefined
EXTENSION_WEIGHT[0x65] = 12; // Error
EXTENSION_WEIGHT[0x73] = 2; // Set
EXTENSION_WEIGHT[0x74] = 6; // typed array, ArrayBuffer, DataView
EXTENSION_WEIGHT[0xff] = 2; // Date
/** Extensions whose decoder reads the next value as their contents (Error, Set, RegExp). */
const READS_NEXT_VALUE = new Uint8Array(256);
READS_NEXT_VALUE[0x65] = READS_NEXT_VALUE[0x73] = READS_NEXT_VALUE[0x78] = 1;

/**
 * Per open container: values still to read, and for a definition's keys the slot (0-63, else -1) and key
 * count that take effect once the keys are read (msgpackr assigns the structure after reading its keys, so
 * a reference among them still means the slot's previous structure). Allocated once, on the first scan.
 */
let pending: Float64Array | undefined;
let commitSlot: Int8Array | undefined;
let commitKeys: Float64Array | undefined;
/** Per record slot (0-63): keys of the structure defined there (-1: none) and how often it has been read. */
const slotKeys = new Float64Array(64);
const slotReads = new Uint8Array(64);

/** SagaCodec.countContainers of the msgpack codec: 0 for a payload too short to exceed `limit`. */
export function countMsgpackContainers(bytes: Uint8Array, start: number, limit: number): number {
  return (bytes.length - start) * MAX_WEIGHT_PER_BYTE <= limit ? 0 : msgpackContainers(bytes, start, limit);
}

/** Weighted containers in `bytes[start..]`; stops counting once above `stopAbove`. Throws on the refused constructs above. */
export function msgpackContainers(bytes: Uint8Array, start: number, stopAbove: number): number {
  const stack = (pending ??= new Float64Array(MAX_DEPTH));
  const commits = (commitSlot ??= new Int8Array(MAX_DEPTH));
  const committedKeys = (commitKeys ??= new Float64Array(MAX_DEPTH));
  slotKeys.fill(-1);
  slotReads.fill(0);
  const end = bytes.length;
  let at = start;
  let weight = 0;
  let depth = 1;
  stack[0] = 1;
  commits[0] = -1;
  while (depth > 0) {
    if (stack[depth - 1] === 0) {
      depth--;
      const slot = commits[depth]!;
      if (slot >= 0) {
        slotKeys[slot] = committedKeys[depth]!;
        slotReads[slot] = 1; // the object the definition reads at once
      }
      continue;
    }
    stack[depth - 1]!--;
    // Ran out of bytes: the decode fails here, having built no more than what was counted.
    if (at >= end) return weight;
    const token = bytes[at++]!;
    let children = 0;
    if (token < 0x40) {
      // positive fixint
    } else if (token < 0x80) {
      const slot = token & 0x3f;
      const keys = slotKeys[slot]!;
      if (keys < 0) {
        weight++; // a number here: msgpackr writes 0x40-0x7f as record references only
      } else {
        weight += 1 + (keys > DICTIONARY_KEYS ? keys : 0);
        if (slotReads[slot]! < 4 && ++slotReads[slot]! === 4) weight += COMPILE + keys;
        children = keys;
      }
    } else if (token < 0x90) {
      weight++;
      children = 2 * (token - 0x80);
    } else if (token < 0xa0) {
      weight++;
      children = token - 0x90;
    } else if (token < 0xc0) {
      at += token - 0xa0;
    } else if (token >= 0xe0) {
      // negative fixint
    } else {
      switch (token) {
        case 0xc0: // nil
        case 0xc1: // never used (msgpackr's C1 constant)
        case 0xc2: // false
        case 0xc3: // true
          break;
        case 0xc4: // bin 8
          if (at + 1 > end) return weight;
          weight += 2;
          at += 1 + bytes[at]!;
          break;
        case 0xc5: // bin 16
          if (at + 2 > end) return weight;
          weight += 2;
          at += 2 + u16(bytes, at);
          break;
        case 0xc6: // bin 32
          if (at + 4 > end) return weight;
          weight += 2;
          at += 4 + u32(bytes, at);
          break;
        case 0xc7: // ext 8
        case 0xc8: // ext 16
        case 0xc9: {
          // ext 32
          const size = token === 0xc7 ? 1 : token === 0xc8 ? 2 : 4;
          if (at + size + 1 > end) return weight;
          const length = size === 1 ? bytes[at]! : size === 2 ? u16(bytes, at) : u32(bytes, at);
          at += size;
          const type = bytes[at++]!;
          if (type === 0x69 || type === 0x70) return weight; // structured clone is off: the decode fails here
          if (type === 0x62) throw new Error("string bundles (extension 0x62) are never written by this codec");
          weight += EXTENSION_WEIGHT[type]!;
          children = READS_NEXT_VALUE[type]!;
          at += length;
          break;
        }
        case 0xca: // float 32
        case 0xce: // uint 32
        case 0xd2: // int 32
          at += 4;
          break;
        case 0xcb: // float 64
        case 0xcf: // uint 64
        case 0xd3: // int 64
          at += 8;
          break;
        case 0xcc: // uint 8
        case 0xd0: // int 8
          at += 1;
          break;
        case 0xcd: // uint 16
        case 0xd1: // int 16
          at += 2;
          break;
        case 0xd4: {
          // fixext 1, or a record definition (d4 72 id)
          if (at + 2 > end) return weight;
          const type = bytes[at]!;
          if (type === 0x72) {
            const slot = bytes[at + 1]! & 0x3f;
            at += 2;
            const keys = arrayLength(bytes, at, end);
            if (keys === undefined) return weight;
            if (keys < 0) throw new Error("a record definition whose keys are not an array is never written by this codec");
            weight += DEFINITION + 1;
            // The keys array (the slot defined once it is read), then the values of the object it reads at once.
            if (depth + 2 > MAX_DEPTH) throw new Error(`nested deeper than ${MAX_DEPTH}`);
            commits[depth] = -1;
            stack[depth++] = keys;
            commits[depth] = slot;
            committedKeys[depth] = keys;
            stack[depth++] = 1;
            break;
          }
          if (type === 0x69 || type === 0x70) return weight;
          if (type === 0x62) throw new Error("string bundles (extension 0x62) are never written by this codec");
          weight += EXTENSION_WEIGHT[type]!;
          children = READS_NEXT_VALUE[type]!;
          at += 2;
          break;
        }
        case 0xd5: // fixext 2, or a two-byte record definition (d5 72 id high)
        case 0xd6: // fixext 4
        case 0xd7: // fixext 8
        case 0xd8: {
          // fixext 16
          if (at + 1 > end) return weight;
          const type = bytes[at++]!;
          if (token === 0xd5 && type === 0x72) throw new Error("two-byte record ids are never written by this codec");
          if (type === 0x69 || type === 0x70) return weight;
          if (type === 0x62) throw new Error("string bundles (extension 0x62) are never written by this codec");
          weight += EXTENSION_WEIGHT[type]!;
          children = READS_NEXT_VALUE[type]!;
          at += token === 0xd5 ? 2 : token === 0xd6 ? 4 : token === 0xd7 ? 8 : 16;
          break;
        }
        case 0xd9: // str 8
          if (at + 1 > end) return weight;
          at += 1 + bytes[at]!;
          break;
        case 0xda: // str 16
          if (at + 2 > end) return weight;
          at += 2 + u16(bytes, at);
          break;
        case 0xdb: // str 32
          if (at + 4 > end) return weight;
          at += 4 + u32(bytes, at);
          break;
        case 0xdc: // array 16
        case 0xdd: // array 32
        case 0xde: // map 16
        case 0xdf: {
          // map 32
          const wide = token === 0xdd || token === 0xdf;
          if (at + (wide ? 4 : 2) > end) return weight;
          const length = wide ? u32(bytes, at) : u16(bytes, at);
          at += wide ? 4 : 2;
          weight++;
          children = token >= 0xde ? 2 * length : length;
          break;
        }
      }
    }
    if (weight > stopAbove) return weight;
    if (children > 0) {
      if (depth === MAX_DEPTH) throw new Error(`nested deeper than ${MAX_DEPTH}`);
      commits[depth] = -1;
      stack[depth++] = children;
    }
  }
  if (at < end) throw new Error(`${end - at} bytes follow the value`);
  return weight;
}

/**
 * The length of the array header at `at` (its bytes left for the walk to read), -1 when another value
 * starts there, undefined when the bytes run out.
 */
function arrayLength(bytes: Uint8Array, at: number, end: number): number | undefined {
  if (at >= end) return undefined;
  const token = bytes[at]!;
  if (token >= 0x90 && token < 0xa0) return token - 0x90;
  if (token === 0xdc) return at + 3 > end ? undefined : u16(bytes, at + 1);
  if (token === 0xdd) return at + 5 > end ? undefined : u32(bytes, at + 1);
  return -1;
}

function u16(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!;
}

function u32(bytes: Uint8Array, at: number): number {
  return bytes[at]! * 0x1000000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}
