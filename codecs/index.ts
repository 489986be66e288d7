import type { SagaCodec } from "./codec";
import { jsonCodec } from "./json";
import { msgpackCodec } from "./msgpack";
import { superjsonCodec } from "./superjson";

export type { SagaCodec } from "./codec";
export { jsonCodec, msgpackCodec, superjsonCodec };

export const BUILT_IN_CODECS = { json: jsonCodec, superjson: superjsonCodec, msgpack: msgpackCodec } as const;
export type BuiltInCodecName = keyof typeof BUILT_IN_CODECS;

export function builtInCodecById(id: number): SagaCodec | undefined {
  for (const codec of Object.values(BUILT_IN_CODECS)) if (codec.id === id) return codec;
  return undefined;
}
