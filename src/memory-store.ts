import { MemoryBackend } from "./engines/memory";
import { SagaStore, type SagaStoreOptions } from "./store";

/**
 * The embedded engine: the same envelopes, compare-and-set and TTL rules as
 * Redis, in process memory.
 */
export class InMemorySagaStore<Types = any> extends SagaStore<Types> {
  constructor(options: SagaStoreOptions<Types> = {}) {
    const backend = new MemoryBackend();
    super(options, () => backend);
  }
}
