import { Packr, RESERVE_START_SPACE } from "msgpackr";
import type { SagaCodec } from "./codec";

/**
 * MessagePack via msgpackr with one pinned option set (codec id 3 means
 * exactly these options):
 * - no records / shared structures: every buffer is self-contained, because a
 *   reader with a different structure table would silently mis-assign fields;
 * - maps decode as plain objects (a default Unpackr would return Maps);
 * - moreTypes: Set, BigInt and friends survive; Dates use the timestamp extension;
 * - useToJSON false: class instances are stored as their fields, not their toJSON().
 */
const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: true,
  useToJSON: false,
});

export const msgpackCodec: SagaCodec = {
  id: 3,
  name: "msgpack",
  encode: (state, reserve) => packr.pack(state, RESERVE_START_SPACE | reserve),
  decode: (payload) => packr.unpack(payload),
};
