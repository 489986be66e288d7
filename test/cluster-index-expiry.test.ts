/**
 * On a Cluster a saga's value and its index live on different nodes, so an
 * update keeps them in step in several commands (src/engines/redis-cluster.ts):
 * whatever could lengthen the value's life is done to the index before the
 * value is written, and shortening the index comes after. The rule tested
 * here: an index never expires before its value, and a reported failure
 * left the value untouched. Failures are injected into the engine's index
 * scripts only; Redis is the test Cluster.
 */
import { Cluster } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import type { LuaScript } from "../src/lua-script";
import type { Argument, Durability } from "../src/engines/redis";
import { ClusterRedisEngine } from "../src/engines/redis-cluster";
import { RedisCommandError, RedisSagaStore, RedisUnavailableError, ReplicationTimeoutError, SagaStore, type SagaStoreOptions } from "../src/index";
import { rejectionOf } from "./support/assertions";
import { indexKeyOf, valueKeyOf } from "./support/key-layout";
import { sagaBusState, uniquePrefix } from "./support/stores";

const SAGA = "IndexExpiry";

/** The Cluster engine with one of its index scripts failing `failures` times with `error`. */
class IndexScriptFailing extends ClusterRedisEngine {
  failing = "";
  failures = 0;
  error: unknown;
  calls: Record<string, number> = {};

  protected override runScript(script: LuaScript, keys: string[], args: Argument[]): Promise<unknown> {
    this.calls[script.name] = (this.calls[script.name] ?? 0) + 1;
    if (script.name === this.failing && this.failures > 0) {
      this.failures--;
      return Promise.reject(this.error);
    }
    return super.runScript(script, keys, args);
  }
}

const clients: Cluster[] = [];
afterAll(async () => {
  await Promise.all(clients.map((client) => client.quit().catch(() => client.disconnect())));
});

function cluster(): Cluster {
  const client = new Cluster(inject("redisClusterNodes").map(({ host, port }) => ({ host, port })));
  clients.push(client);
  return client;
}

/** A saga s1 under c1, inserted with `insertTtlSeconds`; `next` is its version-1 state. */
async function open(insertTtlSeconds: number, options: Partial<SagaStoreOptions> = {}, engineOptions: { durability?: Durability } = {}) {
  const client = cluster();
  const keyPrefix = uniquePrefix();
  const engine = new IndexScriptFailing(client, false, engineOptions);
  const store = new SagaStore({ keyPrefix, retryDelayMs: 1, maxRetries: 2, ...options }, () => engine);
  const inserting = new SagaStore({ keyPrefix, defaultTtlSeconds: insertTtlSeconds }, () => new ClusterRedisEngine(client, false));
  await inserting.insert(SAGA, "c1", sagaBusState("s1", { n: 0 }));
  const loaded = (await store.getByCorrelationId(SAGA, "c1"))!;
  const next = { ...loaded, n: 1, metadata: { ...loaded.metadata, version: 1 } };
  const expiryOf = async (key: string) => (await client.call("PEXPIRETIME", key)) as number;
  const ttls = async () => ({ value: await client.pttl(valueKeyOf(keyPrefix, SAGA, "c1")), index: await client.pttl(indexKeyOf(keyPrefix, SAGA, "s1")) });
  const expiries = async () => ({ value: await expiryOf(valueKeyOf(keyPrefix, SAGA, "c1")), index: await expiryOf(indexKeyOf(keyPrefix, SAGA, "s1")) });
  const version = async () => (await store.getByCorrelationId(SAGA, "c1"))!.metadata.version;
  return { engine, store, next, ttls, expiries, version };
}

/** The index expires no earlier than its value (absolute expiry times, PEXPIRETIME; -1 is none). */
function expectIndexOutlivesValue({ value, index }: { value: number; index: number }) {
  expect(value).not.toBe(-2);
  expect(index).not.toBe(-2);
  if (index !== -1) expect(value === -1 ? Infinity : value).toBeLessThanOrEqual(index);
}

/** What an extended index may be given beyond its value's expiry (src/engines/redis-cluster.ts). */
const MARGIN_MS = 10_000;

describe("Cluster: an update keeps the index living at least as long as its value", () => {
  const cases: Array<[string, number, number]> = [
    ["the same TTL again", 60, 60],
    ["a longer TTL (a completing saga)", 5, 3600],
    ["a shorter TTL", 3600, 5],
    ["a TTL where there was none", 0, 60],
    ["no TTL where there was one", 60, 0],
    ["no TTL, none before", 0, 0],
  ];
  for (const [name, before, after] of cases) {
    it(`${name}: ${before} s → ${after} s`, async () => {
      const { store, next, expiries, version } = await open(before, { defaultTtlSeconds: after });
      await store.update(SAGA, next, 0);
      expect(await version()).toBe(1);
      const { value, index } = await expiries();
      expectIndexOutlivesValue({ value, index });
      if (after === 0) expect([value, index]).toEqual([-1, -1]);
      // The index is not left far longer than its value: trimmed, or given the value's TTL and the margin.
      else expect(index - value).toBeLessThanOrEqual(MARGIN_MS);
    });
  }

  it("the index lengthened first is refused: the update fails with that error and the value is untouched", async () => {
    const { engine, store, next, ttls, version } = await open(5, { defaultTtlSeconds: 3600 });
    engine.failing = "extend-index";
    engine.failures = 1;
    engine.error = new RedisCommandError("extend-index", "k", { cause: new Error("NOPERM this user has no permissions to run the 'pexpire' command") });
    expect(await rejectionOf(store.update(SAGA, next, 0))).toBe(engine.error);
    expect(await version()).toBe(0);
    const { value } = await ttls();
    expect(value).toBeLessThanOrEqual(5_000);
  });

  it("the index lengthened first fails transiently once: retried, then the update lands", async () => {
    const { engine, store, next, expiries, version } = await open(5, { defaultTtlSeconds: 3600 });
    engine.failing = "extend-index";
    engine.failures = 1;
    engine.error = new RedisUnavailableError("extend-index", "k", true, { cause: new Error("connection lost (test)") });
    await store.update(SAGA, next, 0);
    expect(engine.calls["extend-index"]).toBe(2);
    expect(await version()).toBe(1);
    expectIndexOutlivesValue(await expiries());
  });

  it("the index lengthened first fails transiently past the retries: REDIS_UNAVAILABLE, nothing applied", async () => {
    const { engine, store, next, ttls, version } = await open(5, { defaultTtlSeconds: 3600 });
    engine.failing = "extend-index";
    engine.failures = 10;
    engine.error = new RedisUnavailableError("extend-index", "k", true, { cause: new Error("connection lost (test)") });
    const error = await rejectionOf(store.update(SAGA, next, 0));
    expect(error).toBeInstanceOf(RedisUnavailableError);
    expect(engine.calls["extend-index"]).toBe(3);
    expect(await version()).toBe(0);
    expect((await ttls()).value).toBeLessThanOrEqual(5_000);
  });

  it("taking the expiry off: the index loses it first; if that fails, the value keeps its expiry", async () => {
    const { engine, store, next, ttls, expiries, version } = await open(60);
    engine.failing = "extend-index";
    engine.failures = 10;
    engine.error = new RedisCommandError("extend-index", "k", { cause: new Error("NOPERM this user has no permissions to run the 'persist' command") });
    expect(await rejectionOf(store.update(SAGA, next, 0))).toBe(engine.error);
    expect(await version()).toBe(0);
    expect((await ttls()).value).toBeGreaterThan(0);
    expectIndexOutlivesValue(await expiries());
  });

  it("the trim after the write fails: the update is reported done, and the index outlives its value", async () => {
    const { engine, store, next, ttls, version } = await open(3600, { defaultTtlSeconds: 5 });
    engine.failing = "trim-index";
    engine.failures = 1;
    engine.error = new RedisUnavailableError("trim-index", "k", true, { cause: new Error("connection lost (test)") });
    await store.update(SAGA, next, 0);
    expect(await version()).toBe(1);
    const { value, index } = await ttls();
    expect(value).toBeLessThanOrEqual(5_000);
    expect(index).toBeGreaterThan(3_000_000);
  });

  it("updates that need no index step (no expiry before or after) send one command", async () => {
    const { engine, store, next } = await open(0);
    await store.update(SAGA, next, 0);
    expect(engine.calls).toEqual({ write: 1 });
  });
});

describe("Cluster with durability that replicas cannot confirm: every step still runs, and the error says the write was applied", () => {
  // Each master of the test Cluster has one replica, so WAIT for two always falls short.
  const durability = { replicas: 2, timeoutMs: 20 };

  it("insert: WRITE_NOT_REPLICATED, and the saga is found by id from another store (its index was claimed)", async () => {
    const client = cluster();
    const keyPrefix = uniquePrefix();
    const store = new RedisSagaStore({ redis: client, keyPrefix, durability });
    const error = await rejectionOf(store.insert(SAGA, "c1", sagaBusState("s1", { n: 0 })));
    expect(error).toBeInstanceOf(ReplicationTimeoutError);
    const reader = new RedisSagaStore({ redis: client, keyPrefix });
    expect((await reader.findById(SAGA, "s1"))?.metadata.sagaId).toBe("s1");
  });

  const updates: Array<[string, number, number]> = [
    ["a longer TTL", 5, 3600],
    ["no TTL where there was one", 60, 0],
  ];
  for (const [name, before, after] of updates) {
    it(`update to ${name}: WRITE_NOT_REPLICATED, the value written, its index living at least as long`, async () => {
      const { store, next, expiries, version } = await open(before, { defaultTtlSeconds: after }, { durability });
      expect(await rejectionOf(store.update(SAGA, next, 0))).toBeInstanceOf(ReplicationTimeoutError);
      expect(await version()).toBe(1);
      expectIndexOutlivesValue(await expiries());
    });
  }
});
