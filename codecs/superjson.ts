import { SuperJSON } from "superjson";
import { stringWithReserve, type SagaCodec } from "./codec";
import { countSuperjsonContainers } from "./json-containers";

/**
 * Our own instance, so nothing an application registers on superjson's
 * default one changes what these bytes mean. A Node Buffer is a custom type
 * here: superjson records it as a typed array named "Buffer", which its
 * parse does not know, so a saga holding one would be written and never read.
 */
const superjson = new SuperJSON();
superjson.registerCustom<Buffer, string>(
  { isApplicable: (value): value is Buffer => Buffer.isBuffer(value), serialize: (value) => value.toString("base64"), deserialize: (text) => Buffer.from(text, "base64") },
  "Buffer",
);

/** SuperJSON: JSON text that keeps Date, Map, Set, BigInt, undefined, NaN and Buffer. */
export const superjsonCodec: SagaCodec = {
  id: 2,
  name: "superjson",
  encode: (state, reserve) => stringWithReserve(superjson.stringify(state), reserve),
  decode: (payload) => superjson.parse(payload.toString("utf8")),
  countContainers: countSuperjsonContainers,
};
