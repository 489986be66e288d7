import { stringWithReserve, type SagaCodec } from "./codec";
import { countJsonContainers } from "./json-containers";
import { reviveMetadataDates } from "./saga-dates";

/** Plain JSON. Only the saga-bus metadata Dates come back as Dates; see the README's fidelity table. */
export const jsonCodec: SagaCodec = {
  id: 1,
  name: "json",
  encode: (state, reserve) => stringWithReserve(JSON.stringify(state), reserve),
  decode: (payload) => reviveMetadataDates(JSON.parse(payload.toString("utf8"))),
  countContainers: countJsonContainers,
};
