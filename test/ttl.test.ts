/**
 * TTL rules: defaultTtlSeconds on every write, completedTtlSeconds once
 * completed (it wins), 0 = no expiry, sliding on each save, value and index
 * always expiring together. PTTLs are read with raw ioredis; the memory
 * engine is checked by letting a 1-second TTL run out (one shared wait).
 */
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { ConcurrencyError, SagaNotFoundError, type SagaStore, type SagaStoreOptions } from "../src/index";
import { indexKeyOf, valueKeyOf } from "./support/key-layout";
import { memoryEngine, redisEngine, sagaBusState, uniquePrefix } from "./support/stores";

const redisUnderTest = redisEngine();
const memoryUnderTest = memoryEngine();
afterAll(() => redisUnderTest.closeAll());

const TOLERANCE_MS = 3_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function seedState(id: string, correlationId: string, status = "running") {
  return { id, correlationId, status, data: { n: 1 }, metadata: {} } as Record<string, any>;
}

async function openRedis(options: SagaStoreOptions = {}) {
  const opened = await redisUnderTest.open({ retryDelayMs: 1, ...options });
  const redis = opened.redis!;
  const keys = (sagaName: string, correlationId: string, sagaId: string) => ({
    value: valueKeyOf(opened.prefix, sagaName, correlationId),
    index: indexKeyOf(opened.prefix, sagaName, sagaId),
  });
  return { ...opened, redis, keys };
}

/** PTTL of the value and the index key of one saga. */
async function pttls(redis: Redis, keys: { value: string; index: string }): Promise<[number, number]> {
  return [await redis.pttl(keys.value), await redis.pttl(keys.index)];
}

/** Both keys expire in (seconds - tolerance, seconds]. */
async function expectBothExpireIn(redis: Redis, keys: { value: string; index: string }, seconds: number) {
  const [value, index] = await pttls(redis, keys);
  for (const pttl of [value, index]) {
    expect(pttl).toBeGreaterThan(seconds * 1000 - TOLERANCE_MS);
    expect(pttl).toBeLessThanOrEqual(seconds * 1000);
  }
  // Set together, so they are within the tolerance of each other.
  expect(Math.abs(value - index)).toBeLessThan(TOLERANCE_MS);
}

async function expectNoExpiry(redis: Redis, keys: { value: string; index: string }) {
  expect(await pttls(redis, keys)).toEqual([-1, -1]);
}

describe("Redis: PTTL of the value and the index", () => {
  it("defaultTtlSeconds applies to both keys on insert, on a new save and on every update", async () => {
    const { store, redis, keys } = await openRedis({ defaultTtlSeconds: 3600 });
    await store.insert("OrderSaga", "c-1", sagaBusState("s-1"));
    await expectBothExpireIn(redis, keys("OrderSaga", "c-1", "s-1"), 3600);

    const v0 = await store.save("OrderSaga", seedState("s-2", "c-2"));
    await expectBothExpireIn(redis, keys("OrderSaga", "c-2", "s-2"), 3600);

    await store.update("OrderSaga", (await store.getById("OrderSaga", "s-1"))!, 0);
    await expectBothExpireIn(redis, keys("OrderSaga", "c-1", "s-1"), 3600);
    await store.save("OrderSaga", v0);
    await expectBothExpireIn(redis, keys("OrderSaga", "c-2", "s-2"), 3600);
    await store.modify("OrderSaga", "c-2", (s) => s);
    await expectBothExpireIn(redis, keys("OrderSaga", "c-2", "s-2"), 3600);
  });

  it("completedTtlSeconds wins once completed (metadata.isCompleted or status \"completed\")", async () => {
    const { store, redis, keys } = await openRedis({ defaultTtlSeconds: 3600, completedTtlSeconds: 60 });

    await store.insert("OrderSaga", "c-1", sagaBusState("s-1"));
    await expectBothExpireIn(redis, keys("OrderSaga", "c-1", "s-1"), 3600);
    const running = (await store.getById("OrderSaga", "s-1"))!;
    await store.update("OrderSaga", { ...running, metadata: { ...running.metadata, isCompleted: true } }, 0);
    await expectBothExpireIn(redis, keys("OrderSaga", "c-1", "s-1"), 60);

    const seed = await store.save("OrderSaga", seedState("s-2", "c-2"));
    await expectBothExpireIn(redis, keys("OrderSaga", "c-2", "s-2"), 3600);
    await store.save("OrderSaga", { ...seed, status: "completed" });
    await expectBothExpireIn(redis, keys("OrderSaga", "c-2", "s-2"), 60);

    // Completed from the start.
    await store.insert("OrderSaga", "c-3", { ...sagaBusState("s-3"), metadata: { ...sagaBusState("s-3").metadata, isCompleted: true } });
    await expectBothExpireIn(redis, keys("OrderSaga", "c-3", "s-3"), 60);
    await store.save("OrderSaga", seedState("s-4", "c-4", "completed"));
    await expectBothExpireIn(redis, keys("OrderSaga", "c-4", "s-4"), 60);
  });

  it("completedTtlSeconds alone leaves running sagas without expiry", async () => {
    const { store, redis, keys } = await openRedis({ completedTtlSeconds: 60 });
    const v0 = await store.save("OrderSaga", seedState("s-1", "c-1"));
    await expectNoExpiry(redis, keys("OrderSaga", "c-1", "s-1"));
    const v1 = await store.save("OrderSaga", { ...v0, status: "completed" });
    await expectBothExpireIn(redis, keys("OrderSaga", "c-1", "s-1"), 60);
    // Re-opened (no longer completed): the expiry is removed from both keys.
    await store.save("OrderSaga", { ...v1, status: "running" });
    await expectNoExpiry(redis, keys("OrderSaga", "c-1", "s-1"));
  });

  it("0 (or no option) means no expiry on either key", async () => {
    for (const options of [{}, { defaultTtlSeconds: 0 }, { defaultTtlSeconds: 0, completedTtlSeconds: 0 }]) {
      const { store, redis, keys } = await openRedis(options);
      await store.insert("OrderSaga", "c-1", sagaBusState("s-1"));
      await expectNoExpiry(redis, keys("OrderSaga", "c-1", "s-1"));
      await store.save("OrderSaga", seedState("s-2", "c-2", "completed"));
      await expectNoExpiry(redis, keys("OrderSaga", "c-2", "s-2"));
      await store.modify("OrderSaga", "c-2", (s) => s);
      await expectNoExpiry(redis, keys("OrderSaga", "c-2", "s-2"));
    }
  });

  it("the TTL slides: each save re-applies it to both keys", async () => {
    const { store, redis, keys } = await openRedis({ defaultTtlSeconds: 3600 });
    const k = keys("OrderSaga", "c-1", "s-1");
    const v0 = await store.save("OrderSaga", seedState("s-1", "c-1"));
    // Pretend most of the TTL has passed.
    await redis.pexpire(k.value, 5_000);
    await redis.pexpire(k.index, 5_000);
    const v1 = await store.save("OrderSaga", v0);
    await expectBothExpireIn(redis, k, 3600);

    await redis.pexpire(k.value, 5_000);
    await redis.pexpire(k.index, 5_000);
    await store.update("OrderSaga", v1, 1);
    await expectBothExpireIn(redis, k, 3600);
  });

  it("a store switched from a TTL to none removes the expiry from both keys on the next save, and back", async () => {
    const prefix = uniquePrefix();
    const withTtl = await openRedis({ keyPrefix: prefix, defaultTtlSeconds: 3600 });
    const without = await openRedis({ keyPrefix: prefix });
    const k = withTtl.keys("OrderSaga", "c-1", "s-1");

    await withTtl.store.insert("OrderSaga", "c-1", sagaBusState("s-1"));
    await expectBothExpireIn(withTtl.redis, k, 3600);
    await without.store.update("OrderSaga", (await without.store.getById("OrderSaga", "s-1"))!, 0);
    await expectNoExpiry(withTtl.redis, k);
    await withTtl.store.update("OrderSaga", (await withTtl.store.getById("OrderSaga", "s-1"))!, 1);
    await expectBothExpireIn(withTtl.redis, k, 3600);
    await without.store.modify("OrderSaga", "c-1", (s) => s);
    await expectNoExpiry(withTtl.redis, k);
  });

  it("a conflicting update on a TTL store leaves both keys' expiries as they were", async () => {
    const prefix = uniquePrefix();
    const withTtl = await openRedis({ keyPrefix: prefix, defaultTtlSeconds: 3600 });
    const without = await openRedis({ keyPrefix: prefix });

    // Value and index expiring in ~50 s: a stale write must not extend the index alone.
    const a = withTtl.keys("OrderSaga", "c-1", "s-1");
    await withTtl.store.insert("OrderSaga", "c-1", sagaBusState("s-1"));
    const stale = (await withTtl.store.getById("OrderSaga", "s-1"))!;
    await withTtl.store.update("OrderSaga", stale, 0);
    await withTtl.redis.pexpire(a.value, 50_000);
    await withTtl.redis.pexpire(a.index, 50_000);
    const conflict = await withTtl.store.update("OrderSaga", stale, 0).catch((e) => e);
    expect(conflict).toBeInstanceOf(ConcurrencyError);
    await expectBothExpireIn(withTtl.redis, a, 50);

    // Value and index without expiry: a stale write must not give the index one.
    const b = withTtl.keys("OrderSaga", "c-2", "s-2");
    await without.store.insert("OrderSaga", "c-2", sagaBusState("s-2"));
    const staleB = (await withTtl.store.getById("OrderSaga", "s-2"))!;
    await without.store.update("OrderSaga", staleB, 0);
    const conflictB = await withTtl.store.update("OrderSaga", staleB, 0).catch((e) => e);
    expect(conflictB).toBeInstanceOf(ConcurrencyError);
    await expectNoExpiry(withTtl.redis, b);
  });

  it("a failed save of a deleted saga on a TTL store leaves no key behind", async () => {
    const { store, redis, prefix } = await openRedis({ defaultTtlSeconds: 3600 });
    const v0 = await store.save("OrderSaga", seedState("s-1", "c-1"));
    expect(await store.deleteById("OrderSaga", "s-1")).toBe(true);
    expect(await redis.keys(`${prefix}*`)).toEqual([]);
    const error = await store.save("OrderSaga", v0).catch((e) => e);
    expect(error).toBeInstanceOf(SagaNotFoundError);
    expect(await redis.keys(`${prefix}*`)).toEqual([]);
  });
});

describe("both engines: TTLs really expire (one shared ~1.3 s wait)", () => {
  it("default TTL expires value and index, slides on save, and completedTtlSeconds expires completed sagas only", async () => {
    type Opened = { name: string; ttl: SagaStore; completed: SagaStore; redis?: Redis; prefix: string };
    const engines: Opened[] = [];
    for (const engine of [memoryUnderTest, redisUnderTest]) {
      const ttl = await engine.open({ defaultTtlSeconds: 1 });
      const completed = await engine.open({ completedTtlSeconds: 1 });
      engines.push({ name: engine.name, ttl: ttl.store, completed: completed.store, redis: ttl.redis, prefix: ttl.prefix });
    }

    for (const { ttl, completed } of engines) {
      await ttl.insert("OrderSaga", "c-a", sagaBusState("a")); // will slide
      await ttl.save("OrderSaga", seedState("b", "c-b")); // will expire
      await completed.save("OrderSaga", seedState("c", "c-c", "completed")); // will expire
      await completed.save("OrderSaga", seedState("d", "c-d")); // never expires
    }
    await sleep(700);
    for (const { ttl } of engines) await ttl.modify("OrderSaga", "c-a", (s) => ({ ...s, slid: true }));
    await sleep(600);

    for (const { name, ttl, completed, redis, prefix } of engines) {
      expect(await ttl.findByCorrelationId("OrderSaga", "c-b"), name).toBeNull();
      expect(await ttl.findById("OrderSaga", "b"), name).toBeNull();
      expect(await completed.findByCorrelationId("OrderSaga", "c-c"), name).toBeNull();
      expect(await completed.findById("OrderSaga", "c"), name).toBeNull();

      expect((await ttl.findByCorrelationId("OrderSaga", "c-a"))?.slid, name).toBe(true);
      expect((await ttl.findById("OrderSaga", "a"))?.slid, name).toBe(true);
      expect((await completed.findById("OrderSaga", "d"))?.status, name).toBe("running");

      if (redis) {
        // Expired together: no orphan index remains for the expired saga.
        expect(await redis.exists(valueKeyOf(prefix, "OrderSaga", "c-b"), indexKeyOf(prefix, "OrderSaga", "b"))).toBe(0);
      }
    }
  });
});
