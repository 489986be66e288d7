import { MemoryBackend } from "./engines/memory";
import { SagaStore, type SagaStoreOptions } from "./store";

/**
 * The embedded engine: the same envelopes, compare-and-set and TTL rules as
 * Redis, in process memory. Ready without initialize() (calling it is harmless).
 */
export class InMemorySagaStore extends SagaStore {
  constructor(options: SagaStoreOptions = {}) {
    const backend = new MemoryBackend();
    super(options, () => backend, backend);
  }
}
