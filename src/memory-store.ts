import { MemoryEngine } from "./engines/memory";
import { SagaStore, type SagaStoreOptions } from "./store";
import { readSagaId, type AnySagaState } from "../codecs/state-shape";

/**
 * The embedded engine: the same envelopes, compare-and-set and TTL rules as
 * Redis, in process memory. Besides the store's API it has the test helpers
 * of saga-bus's own in-memory store (`size`, `clear`, `getAll`, `has`),
 * synchronous as there, over this store's key prefix.
 */
export class InMemorySagaStore<Types = any> extends SagaStore<Types> {
  private readonly memory: MemoryEngine;

  constructor(options: SagaStoreOptions<Types> = {}) {
    const engine = new MemoryEngine();
    super(options, () => engine, "memory");
    this.memory = engine;
  }

  /** How many sagas are stored. */
  get size(): number {
    return this.valueKeys().length;
  }

  /** Remove every saga. */
  clear(): void {
    this.memory.deleteStartingWith(this.keyLayout.sagaKeysPrefix);
  }

  /** Every stored saga, decoded as reads return it (each call returns fresh copies). */
  getAll(): AnySagaState[] {
    return this.valueKeys().map(({ key, sagaName }) => this.decodeStored(sagaName, key, this.memory.peek(key)!));
  }

  /** Whether a saga with this id is stored under this saga name. */
  has(sagaName: string, sagaId: string): boolean {
    const correlationId = this.memory.peek(this.keyLayout.indexKey(sagaName, sagaId))?.toString("utf8");
    if (correlationId === undefined) return false;
    const key = this.keyLayout.valueKey(sagaName, correlationId);
    const bytes = this.memory.peek(key);
    return bytes !== undefined && readSagaId(this.decodeStored(sagaName, key, bytes)) === sagaId;
  }

  private valueKeys(): { key: string; sagaName: string }[] {
    return this.memory.keysStartingWith(this.keyLayout.sagaKeysPrefix).flatMap((key) => {
      const parsed = this.keyLayout.parseValueKey(key);
      return parsed ? [{ key, sagaName: parsed.sagaName }] : [];
    });
  }
}
