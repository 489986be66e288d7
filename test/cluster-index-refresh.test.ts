/**
 * On a Cluster an update's index gets its value's expiry in a second command,
 * after the value is written (src/engines/redis-cluster.ts). When that
 * command fails, the value is already the caller's: a refusal is not
 * reported as a failed update, and a transient failure is retried with the
 * same envelope until it goes through or the call's retries run out. The
 * failures are injected into the engine's refresh-index call only; Redis is
 * the test Cluster.
 */
import { Cluster } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import type { LuaScript } from "../src/lua-script";
import type { Argument } from "../src/engines/redis";
import { ClusterRedisEngine } from "../src/engines/redis-cluster";
import { RedisCommandError, RedisUnavailableError, SagaStore, WriteOutcomeUnknownError } from "../src/index";
import { rejectionOf } from "./support/assertions";
import { sagaBusState, uniquePrefix } from "./support/stores";

const SAGA = "IndexRefresh";

/** The Cluster engine with the refresh-index script failing `failures` times with `error`. */
class RefreshFailing extends ClusterRedisEngine {
  failures = 0;
  error: unknown;
  refreshCalls = 0;

  protected override runScript(script: LuaScript, keys: string[], args: Argument[]): Promise<unknown> {
    if (script.name !== "refresh-index") return super.runScript(script, keys, args);
    this.refreshCalls++;
    if (this.failures > 0) {
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

async function open() {
  const client = new Cluster(inject("redisClusterNodes").map(({ host, port }) => ({ host, port })));
  clients.push(client);
  const engine = new RefreshFailing(client, false);
  const store = new SagaStore({ keyPrefix: uniquePrefix(), defaultTtlSeconds: 60, retryDelayMs: 1, maxRetries: 2 }, () => engine);
  await store.insert(SAGA, "c1", sagaBusState("s1", { n: 0 }));
  const loaded = (await store.getByCorrelationId(SAGA, "c1"))!;
  const next = { ...loaded, n: 1, metadata: { ...loaded.metadata, version: 1 } };
  return { engine, store, next };
}

describe("Cluster: the index refresh after an update", () => {
  it("refused by Redis: the update is reported done, as it is", async () => {
    const { engine, store, next } = await open();
    engine.failures = 1;
    engine.error = new RedisCommandError("refresh-index", "k", { cause: new Error("NOPERM this user has no permissions to run the 'pexpire' command") });
    await store.update(SAGA, next, 0);
    expect(engine.refreshCalls).toBe(1);
    expect((await store.getById(SAGA, "s1"))!.metadata.version).toBe(1);
  });

  it("failing transiently once: retried with the same envelope (already written), then refreshed", async () => {
    const { engine, store, next } = await open();
    engine.failures = 1;
    engine.error = new RedisUnavailableError("refresh-index", "k", true, { cause: new Error("connection lost (test)") });
    await store.update(SAGA, next, 0);
    expect(engine.refreshCalls).toBe(2);
    expect((await store.getById(SAGA, "s1"))!.metadata.version).toBe(1);
  });

  it("failing transiently past the retries: WRITE_OUTCOME_UNKNOWN, and the value is written once", async () => {
    const { engine, store, next } = await open();
    engine.failures = 10;
    engine.error = new RedisUnavailableError("refresh-index", "k", true, { cause: new Error("connection lost (test)") });
    const error = await rejectionOf(store.update(SAGA, next, 0));
    expect(error).toBeInstanceOf(WriteOutcomeUnknownError);
    expect(engine.refreshCalls).toBe(3);
    expect((await store.getById(SAGA, "s1"))!.metadata.version).toBe(1);
  });
});
