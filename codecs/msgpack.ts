import { Packr, RESERVE_START_SPACE } from "msgpackr";
import type { SagaCodec } from "./codec";
import { countMsgpackContainers } from "./msgpack-containers";

/**
 * MessagePack via msgpackr with one pinned option set (codec id 3 means
 * exactly these options):
 * - records without shared structures: a repeated object shape (line items)
 *   is described once inside the buffer and referenced after, so every buffer
 *   stays self-contained. Shared structure tables are never used: a reader
 *   with a different table would silently mis-assign fields. Buffers written
 *   without records decode the same way;
 * - maps decode as plain objects (a default Unpackr would return Maps);
 * - moreTypes: Set, BigInt and friends survive; Dates use the timestamp extension;
 * - useToJSON false: class instances are stored as their fields, not their toJSON().
 * - structuredClone false: this codec never writes msgpackr's shared-reference
 *   extensions (0x69/0x70), and reading them is refused: they would let a
 *   few bytes stand for a graph whose every path a reader (or a schema) walks.
 *   What the codec writes is unchanged.
 */
const packr = new Packr({
  useRecords: true,
  mapsAsObjects: true,
  moreTypes: true,
  useToJSON: false,
  structuredClone: false,
});

export const msgpackCodec: SagaCodec = {
  id: 3,
  name: "msgpack",
  encode: (state, reserve) => {
    assertReadableMapKeys(state, 0);
    return packr.pack(state, RESERVE_START_SPACE | reserve);
  },
  decode: (payload) => packr.unpack(payload),
  countContainers: countMsgpackContainers,
};

const MAX_DEPTH = 512;

/**
 * With maps decoded as objects, msgpackr cannot read back a Map whose key is
 * an object, array or Date, although it writes one happily. Refuse such a
 * state at write time instead of storing bytes nobody can decode.
 */
function assertReadableMapKeys(value: unknown, depth: number): void {
  if (value === null || typeof value !== "object" || depth > MAX_DEPTH) return;
  if (Array.isArray(value)) {
    for (const item of value) assertReadableMapKeys(item, depth + 1);
  } else if (value instanceof Map) {
    for (const [key, item] of value) {
      if (key !== null && typeof key === "object") throw new TypeError("msgpack codec cannot store a Map key that is an object, array or Date");
      assertReadableMapKeys(item, depth + 1);
    }
  } else if (value instanceof Set) {
    for (const item of value) assertReadableMapKeys(item, depth + 1);
  } else if (!ArrayBuffer.isView(value) && !(value instanceof Date)) {
    for (const key in value) assertReadableMapKeys((value as Record<string, unknown>)[key], depth + 1);
  }
}
