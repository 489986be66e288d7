/**
 * Every example of the seed README (../shared/seed/store-redis-README.md),
 * as written, against servers the tests started. Host and port point at the
 * test server instead of localhost:6379, and key prefixes are made unique so
 * runs never meet; nothing else is changed.
 */
import { randomUUID } from "node:crypto";
import { Cluster, Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import { InMemorySagaStore, RedisSagaStore } from "../src/index";
import { sagaBusState } from "./support/stores";

const url = new URL(inject("redisUrl"));
const host = url.hostname;
const port = Number(url.port);
const unique = () => randomUUID().slice(0, 8);
const opened: Array<{ close(): Promise<void> }> = [];
const clients: Array<Redis | Cluster> = [];

afterAll(async () => {
  await Promise.all(opened.map((store) => store.close()));
  await Promise.all(clients.map((client) => client.quit().catch(() => client.disconnect())));
});

describe("the seed README's examples, as written", () => {
  it("Quick Start: connection options, completedTtlSeconds, initialize, then the bus's calls", async () => {
    const store = new RedisSagaStore({
      connection: { host, port },
      completedTtlSeconds: 86400, // Auto-cleanup after 1 day
      keyPrefix: `seed-${unique()}:`,
    });
    opened.push(store);
    await store.initialize();

    // What createBus({ store }) does with it: insert at version 0, update with the expected version.
    const state = sagaBusState("saga-qs", { orderId: "order-qs" });
    await store.insert("OrderSaga", "order-qs", state);
    await store.update("OrderSaga", { ...state, metadata: { ...state.metadata, version: 1, isCompleted: true } }, 0);
    const completed = await store.getById("OrderSaga", "saga-qs");
    expect(completed.metadata).toMatchObject({ version: 1, isCompleted: true });
  });

  it("Basic Usage: findByCorrelationId, findById, save, delete", async () => {
    const store = new RedisSagaStore({
      connection: { host, port },
      keyPrefix: `seed-${unique()}:`,
    });
    opened.push(store);

    await store.initialize();

    // Find by correlation ID
    const state = await store.findByCorrelationId("OrderSaga", "order-123");

    // Find by saga ID
    const stateById = await store.findById("OrderSaga", "saga-456");

    // Save state
    await store.save("OrderSaga", {
      id: "saga-456",
      correlationId: "order-123",
      status: "running",
      data: { orderId: "order-123" },
      metadata: {
        /* ... */
      },
    });

    expect(state).toBeNull();
    expect(stateById).toBeNull();
    expect(await store.findById("OrderSaga", "saga-456")).toMatchObject({ correlationId: "order-123", status: "running" });

    // Delete
    await store.delete("OrderSaga", "order-123");
    expect(await store.findByCorrelationId("OrderSaga", "order-123")).toBeNull();
  });

  it("With Existing Redis Client: password, db 1, keyPrefix; the store leaves the client open", async () => {
    const redis = new Redis({
      host,
      port,
      password: "secret", // the test server has no password: ioredis warns and carries on
      db: 1,
    });
    clients.push(redis);

    const keyPrefix = `myapp-${unique()}:`;
    const store = new RedisSagaStore({
      redis,
      keyPrefix,
    });
    await store.initialize();
    await store.save("OrderSaga", { id: "s-db1", correlationId: "c-db1", status: "running", data: {} });
    expect(await redis.exists(`${keyPrefix}saga:OrderSaga:c-db1`)).toBe(1);
    await store.delete("OrderSaga", "c-db1");
    await store.close();
    expect(redis.status).toBe("ready");
  });

  it("With TTL for Auto-Cleanup: both TTLs as given", async () => {
    const redis = new Redis(inject("redisUrl"));
    clients.push(redis);
    const keyPrefix = `seed-${unique()}:`;
    const store = new RedisSagaStore({
      redis,
      keyPrefix,
      completedTtlSeconds: 86400, // Delete completed sagas after 24 hours
      defaultTtlSeconds: 604800, // Delete all sagas after 7 days
    });
    await store.initialize();
    const saved = await store.save("OrderSaga", { id: "s-ttl", correlationId: "c-ttl", status: "running", data: {} });
    const week = await redis.pttl(`${keyPrefix}saga:OrderSaga:c-ttl`);
    expect(week).toBeGreaterThan(604_000_000);
    await store.save("OrderSaga", { ...saved, status: "completed" });
    const day = await redis.pttl(`${keyPrefix}saga:OrderSaga:c-ttl`);
    expect(day).toBeGreaterThan(86_000_000);
    expect(day).toBeLessThanOrEqual(86_400_000);
    expect(await redis.pttl(`${keyPrefix}saga:OrderSaga:idx:id:s-ttl`)).toBeGreaterThan(86_000_000);
  });

  it("Redis Cluster: `redis: cluster as any`", async () => {
    const cluster = new Cluster(inject("redisClusterNodes").map(({ host, port }) => ({ host, port })));
    clients.push(cluster);

    const store = new RedisSagaStore({
      redis: cluster as any,
      keyPrefix: `seed-${unique()}:`,
    });
    await store.initialize();
    await store.insert("OrderSaga", "order-cl", sagaBusState("saga-cl"));
    expect(await store.getById("OrderSaga", "saga-cl")).toMatchObject({ metadata: { sagaId: "saga-cl", version: 0 } });
  });

  it("Optimistic Concurrency options, and Error Handling by message", async () => {
    const store = new RedisSagaStore({
      connection: { host, port },
      maxRetries: 5, // More retries for high-contention scenarios
      retryDelayMs: 50, // Shorter delay between retries
      keyPrefix: `seed-${unique()}:`,
    });
    opened.push(store);
    await store.initialize();
    const state = await store.save("OrderSaga", { id: "s-err", correlationId: "c-err", status: "running", data: {} });
    await store.save("OrderSaga", state);

    let conflict = false;
    try {
      await store.save("OrderSaga", state);
    } catch (error: any) {
      if (error.message.includes("Optimistic concurrency conflict")) {
        // State was modified by another process
        // Reload and retry
        conflict = true;
      }
    }
    expect(conflict).toBe(true);
  });

  it("Testing: an in-memory store for unit tests", async () => {
    const testStore = new InMemorySagaStore();
    await testStore.insert("OrderSaga", "order-mem", sagaBusState("saga-mem"));
    expect(await testStore.getByCorrelationId("OrderSaga", "order-mem")).toMatchObject({ metadata: { sagaId: "saga-mem" } });
  });
});
