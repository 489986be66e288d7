import { randomUUID } from "node:crypto";
import { Cluster, Redis } from "ioredis";
import { inject } from "vitest";
import { InMemorySagaStore, RedisSagaStore, SagaStore, type MemoryEngine, type SagaStoreOptions } from "../../src/index";

/**
 * Stores opened on one engine (memory, redis, cluster), for store-level tests;
 * test/support/engines.ts opens the engines themselves. One isolated store per
 * call: a fresh key prefix, so tests never see each other's keys.
 */
export interface StoreHarness {
  name: string;
  open(options?: SagaStoreOptions): Promise<{ store: SagaStore; prefix: string; redis?: Redis; cluster?: Cluster }>;
  closeAll(): Promise<void>;
}

export function uniquePrefix(): string {
  return `t-${randomUUID().slice(0, 8)}:`;
}

export function memoryEngine(): StoreHarness {
  return {
    name: "memory",
    async open(options = {}) {
      const prefix = options.keyPrefix ?? uniquePrefix();
      const store = new InMemorySagaStore({ ...options, keyPrefix: prefix });
      await store.initialize();
      return { store, prefix };
    },
    async closeAll() {},
  };
}

export function redisEngine(): StoreHarness {
  const clients: Redis[] = [];
  return {
    name: "redis",
    async open(options = {}) {
      const redis = new Redis(inject("redisUrl"));
      clients.push(redis);
      const prefix = options.keyPrefix ?? uniquePrefix();
      const store = new RedisSagaStore({ ...options, redis, keyPrefix: prefix });
      await store.initialize();
      return { store, prefix, redis };
    },
    async closeAll() {
      await Promise.all(clients.splice(0).map((client) => client.quit()));
    },
  };
}

/**
 * The shared Redis Cluster of test/global-setup.ts, each store on its own
 * client built exactly as the seed README shows (`new Cluster([...])`, no
 * options) with a default-style prefix: no hash tag, so keys spread over
 * every master.
 */
export function clusterEngine(): StoreHarness {
  const clients: Cluster[] = [];
  return {
    name: "cluster",
    async open(options = {}) {
      const cluster = new Cluster(inject("redisClusterNodes").map(({ host, port }) => ({ host, port })));
      clients.push(cluster);
      const prefix = options.keyPrefix ?? uniquePrefix();
      const store = new RedisSagaStore({ ...options, redis: cluster, keyPrefix: prefix });
      await store.initialize();
      return { store, prefix, cluster };
    },
    async closeAll() {
      await Promise.all(clients.splice(0).map((client) => client.quit().catch(() => client.disconnect())));
    },
  };
}

/** A second store on the same data as `first`: on memory its engine, else its server and prefix. */
export async function openBeside(harness: StoreHarness, first: { store: SagaStore; prefix: string }, options: SagaStoreOptions = {}): Promise<SagaStore> {
  if (harness.name !== "memory") return (await harness.open({ ...options, keyPrefix: first.prefix })).store;
  const engine = (first.store as unknown as { engine: MemoryEngine }).engine;
  return new SagaStore({ ...options, keyPrefix: first.prefix }, () => engine, "memory");
}

/** The bytes under a key of a store's engine, read and written beside the store (a Redis client's, or the embedded engine's). */
export function rawAccess(store: SagaStore): { get(key: string): Promise<Buffer | null>; set(key: string, bytes: Buffer): Promise<void> } {
  if (store instanceof RedisSagaStore) {
    const client = store.getRedis()!;
    return { get: (key) => client.getBuffer(key), set: async (key, bytes) => void (await client.set(key, bytes)) };
  }
  const engine = (store as unknown as { engine: MemoryEngine }).engine;
  return { get: async (key) => engine.peek(key) ?? null, set: async (key, bytes) => engine.plant(key, bytes) };
}

export function sagaBusState(sagaId: string, fields: Record<string, unknown> = {}, version = 0) {
  const at = new Date("2026-01-02T03:04:05.678Z");
  return { ...fields, metadata: { sagaId, version, createdAt: at, updatedAt: at, isCompleted: false } };
}
