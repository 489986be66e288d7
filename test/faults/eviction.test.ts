/**
 * A server that evicts keys under memory pressure loses sagas (or only their
 * indexes) without any error, so a start refuses every evicting
 * maxmemory-policy unless the store is told to accept it.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EvictionPolicyError, RedisSagaStore } from "../../src/index";
import { indexKeyOf, valueKeyOf } from "../support/key-layout";
import { spawnRedisServer, type TestRedis } from "../support/redis-server";
import { sagaBusState, uniquePrefix } from "../support/stores";

const EVICTING = ["allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"];

let server: TestRedis & { port: number };
let admin: Redis;
beforeAll(async () => {
  server = await spawnRedisServer();
  admin = new Redis(server.url);
});
afterAll(async () => {
  await admin.quit();
  await server.stop();
});

describe("maxmemory-policy", () => {
  for (const policy of EVICTING) {
    it(`${policy}: the start fails with EVICTION_POLICY naming it, nothing written; allowEviction: true accepts it`, async () => {
      await admin.config("SET", "maxmemory-policy", policy);
      const prefix = uniquePrefix();
      const client = new Redis(server.url);
      try {
        const store = new RedisSagaStore({ redis: client, keyPrefix: prefix });
        const error = await store.insert("OrderSaga", "c", sagaBusState("s")).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(EvictionPolicyError);
        expect(error).toMatchObject({ code: "EVICTION_POLICY", policy, retryable: false });
        expect((error as Error).message).toContain("allowEviction");
        expect(await admin.keys(`${prefix}*`)).toEqual([]);

        const accepting = new RedisSagaStore({ redis: client, keyPrefix: prefix, allowEviction: true });
        await accepting.insert("OrderSaga", "c", sagaBusState("s"));
        expect((await accepting.getById("OrderSaga", "s"))!.metadata.sagaId).toBe("s");
      } finally {
        await client.quit();
      }
    });
  }

  it("noeviction starts without the option; a server that forbids CONFIG GET cannot be checked, and starts", async () => {
    await admin.config("SET", "maxmemory-policy", "noeviction");
    const client = new Redis(server.url);
    try {
      await new RedisSagaStore({ redis: client, keyPrefix: uniquePrefix() }).initialize();
      await admin.call("ACL", "SETUSER", "noconfig", "on", ">pw", "~*", "+@all", "-config");
      await admin.config("SET", "maxmemory-policy", "allkeys-lru");
      const restricted = new Redis(server.url, { username: "noconfig", password: "pw" });
      try {
        await new RedisSagaStore({ redis: restricted, keyPrefix: uniquePrefix() }).initialize();
      } finally {
        await restricted.quit();
        await admin.config("SET", "maxmemory-policy", "noeviction");
      }
    } finally {
      await client.quit();
    }
  });
});

describe("value and index age together (standalone)", () => {
  it("an update reads the index, so under LRU it is as recently used as its value", async () => {
    await admin.config("SET", "maxmemory-policy", "noeviction");
    const prefix = uniquePrefix();
    const client = new Redis(server.url);
    try {
      const store = new RedisSagaStore({ redis: client, keyPrefix: prefix });
      await store.insert("OrderSaga", "c", sagaBusState("s", { n: 0 }));
      // OBJECT IDLETIME counts whole seconds since a key was last read or written.
      await new Promise((resolve) => setTimeout(resolve, 2_100));
      await store.modify("OrderSaga", "c", (state) => ({ ...state, n: 1 }));
      const indexIdle = (await admin.call("OBJECT", "IDLETIME", indexKeyOf(prefix, "OrderSaga", "s"))) as number;
      const valueIdle = (await admin.call("OBJECT", "IDLETIME", valueKeyOf(prefix, "OrderSaga", "c"))) as number;
      expect(valueIdle).toBeLessThanOrEqual(1);
      expect(indexIdle).toBeLessThanOrEqual(1);
    } finally {
      await client.quit();
    }
  });
});
