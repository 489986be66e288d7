/**
 * The published @saga-bus/store-redis 0.2.2, installed as the devDependency
 * alias `store-redis-0.2.2` (its @saga-bus/core import resolves to the
 * stand-in in test/fixtures/saga-bus-core). Loaded at run time, so a machine
 * without it still runs the rest of the benchmark, and reports why.
 */
import type { Cluster, Redis } from "ioredis";
import type { Contender, ContenderState } from "./contender";

/** A variable, not a literal: the type checker then does not need the package either. */
const SPECIFIER = "store-redis-0.2.2";

/** The part of 0.2.2's RedisSagaStore the benchmark calls. */
interface Store022 {
  initialize(): Promise<void>;
  close(): Promise<void>;
  insert(sagaName: string, correlationId: string, state: ContenderState): Promise<void>;
  update(sagaName: string, state: ContenderState, expectedVersion: number): Promise<void>;
  getByCorrelationId(sagaName: string, correlationId: string): Promise<ContenderState | null>;
  getById(sagaName: string, sagaId: string): Promise<ContenderState | null>;
}

export type Store022Class = new (options: { redis: Redis | Cluster; keyPrefix: string }) => Store022;

/** 0.2.2's store class, or why it could not be loaded. */
export async function load022(): Promise<Store022Class | { reason: string }> {
  try {
    const module = (await import(SPECIFIER)) as { RedisSagaStore?: unknown };
    if (typeof module.RedisSagaStore !== "function") return { reason: `${SPECIFIER} has no RedisSagaStore export` };
    return module.RedisSagaStore as Store022Class;
  } catch (error) {
    return { reason: `import("${SPECIFIER}") failed: ${(error as Error)?.message ?? String(error)}` };
  }
}

/** 0.2.2 with its defaults (retries, delays), on the given client, as a user of it ran it. */
export async function open022(Store: Store022Class, redis: Redis | Cluster, keyPrefix: string): Promise<Contender> {
  const store = new Store({ redis, keyPrefix });
  await store.initialize();
  return {
    name: "0.2.2",
    insert: (sagaName, correlationId, state) => store.insert(sagaName, correlationId, state),
    // 0.2.2 finds the correlation id itself (GET of its id index), then WATCH, GET, MULTI/EXEC.
    update: (sagaName, _correlationId, state, expectedVersion) => store.update(sagaName, state, expectedVersion),
    findByCorrelationId: (sagaName, correlationId) => store.getByCorrelationId(sagaName, correlationId),
    findById: (sagaName, sagaId) => store.getById(sagaName, sagaId),
    // A client it was given is not closed by 0.2.2 either.
    close: () => store.close(),
  };
}
