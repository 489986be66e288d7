import superjson from "superjson";
import { stringWithReserve, type SagaCodec } from "./codec";
import { countSuperjsonContainers } from "./json-containers";

/** SuperJSON: JSON text that keeps Date, Map, Set, BigInt, undefined and NaN. */
export const superjsonCodec: SagaCodec = {
  id: 2,
  name: "superjson",
  encode: (state, reserve) => stringWithReserve(superjson.stringify(state), reserve),
  decode: (payload) => superjson.parse(payload.toString("utf8")),
  countContainers: countSuperjsonContainers,
};
