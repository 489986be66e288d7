/**
 * Raw key access for test/engine-conformance.test.ts: the same four
 * operations (plant bytes, read bytes, read the expiry's sign, delete) on
 * each engine, so one suite can plant odd stored bytes and look at what a
 * store call left behind, whatever the engine.
 */
import type { Cluster, Redis } from "ioredis";
import type { MemoryEngine } from "../../src/engines/memory";
import type { SagaStore } from "../../src/index";

/** What a key's expiry looks like: no key, no expiry, or one set. */
export type TtlSign = "missing" | "persist" | "expires";

export interface RawKeys {
  /** Store these exact bytes at `key`, with no expiry (as a plain SET would). */
  plant(key: string, bytes: Buffer | string): Promise<void>;
  get(key: string): Promise<Buffer | null>;
  ttl(key: string): Promise<TtlSign>;
  del(key: string): Promise<void>;
}

function signOf(pttl: number): TtlSign {
  if (pttl === -2) return "missing";
  if (pttl === -1) return "persist";
  return "expires";
}

/**
 * Standalone Redis or Cluster through the test's own client. Every command
 * names one key, so a Cluster routes each to its slot's master.
 */
export function redisRaw(client: Redis | Cluster): RawKeys {
  // Both clients carry the same command methods; one name for them keeps the calls typed.
  const redis = client as Redis;
  return {
    async plant(key, bytes) {
      await redis.set(key, bytes);
    },
    get: (key) => redis.getBuffer(key),
    ttl: async (key) => signOf(await redis.pttl(key)),
    async del(key) {
      await redis.del(key);
    },
  };
}

interface MemoryEntry {
  bytes: Buffer;
  /** Epoch milliseconds; 0 = no expiry. */
  expiresAt: number;
}

/**
 * The embedded engine has no client to plant bytes with, so this reaches
 * into InMemorySagaStore's private engine and that engine's private Map.
 * It is the only code of the suite that knows those private names: when
 * the engine is refactored, re-point this function and nothing else. It
 * fails loudly rather than planting nowhere if the names have moved.
 */
export function memoryRaw(store: SagaStore): RawKeys {
  const embedded = (store as any).memory as MemoryEngine | undefined;
  const entries = (embedded as any)?.entries as Map<string, MemoryEntry> | undefined;
  if (!embedded || !(entries instanceof Map) || typeof embedded.peek !== "function") {
    throw new Error("memoryRaw: InMemorySagaStore's engine (store.memory.entries) has moved; re-point test/support/conformance.ts");
  }
  // An entry past its expiry counts as gone, as every engine read treats it; peek() drops it.
  const live = (key: string): MemoryEntry | undefined => (embedded.peek(key) === undefined ? undefined : entries.get(key));
  return {
    async plant(key, bytes) {
      embedded.plant(key, bytes);
    },
    async get(key) {
      const entry = live(key);
      return entry ? Buffer.from(entry.bytes) : null;
    },
    async ttl(key) {
      const entry = live(key);
      return entry === undefined ? "missing" : entry.expiresAt === 0 ? "persist" : "expires";
    },
    async del(key) {
      entries.delete(key);
    },
  };
}

/** Run `work` over `items` with at most `limit` in flight; results in input order. */
export async function inPool<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const at = next++;
      results[at] = await work(items[at]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
