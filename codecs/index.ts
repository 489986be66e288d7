import { jsonCodec } from "./json";
import { msgpackCodec } from "./msgpack";
import { superjsonCodec } from "./superjson";

export type { SagaCodec } from "./codec";
export { jsonCodec, msgpackCodec, superjsonCodec };

export const BUILT_IN_CODECS = { json: jsonCodec, superjson: superjsonCodec, msgpack: msgpackCodec } as const;
export type BuiltInCodecName = keyof typeof BUILT_IN_CODECS;
