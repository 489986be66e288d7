/**
 * Durable writes never stall anything else: with `durability` and no replica
 * to confirm, every durable write waits out its `timeoutMs` and fails with
 * WRITE_NOT_REPLICATED, while reads and other calls on the same store keep
 * their normal latency (WAIT runs on connections of its own). Once a replica
 * attaches, durable writes succeed again.
 *
 * Figures: test/.figures/faults.json, key "durability.noReplica".
 */
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { ReplicationTimeoutError, RedisSagaStore } from "../../src/index";
import { percentile } from "../../bench/measure";
import { sleep } from "../support/load";
import { spawnRedisServer } from "../support/redis-server";
import { sagaBusState, uniquePrefix } from "../support/stores";
import { recordFigures } from "./figures";

const WAIT_MS = 200;
const READERS = 16;
const WRITERS = 16;
const RUN_MS = 3_000;
/** Reads on this 2-core machine, with the writers' load beside them. */
const READ_P99_BOUND_MS = 20;
const WRITE_MARGIN_MS = 300;

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe("durability without a confirming replica", () => {
  it(`${READERS} readers and ${WRITERS} durable writers for ${RUN_MS / 1000} s: reads keep their latency, every durable write is WRITE_NOT_REPLICATED within timeoutMs + margin; a replica attaching ends it`, async () => {
    const master = await spawnRedisServer();
    cleanups.push(() => master.stop());
    const redis = new Redis(master.url, { commandTimeout: 500 });
    cleanups.push(async () => redis.disconnect());
    const keyPrefix = uniquePrefix();
    const store = new RedisSagaStore({ redis, keyPrefix, durability: { replicas: 1, timeoutMs: WAIT_MS }, retryDelayMs: 5 });
    cleanups.push(() => store.close());
    // Written before durability matters: a plain store on the same keys.
    const plain = new RedisSagaStore({ redis, keyPrefix });
    for (let i = 0; i < READERS; i++) await plain.insert("Probe", `r-${i}`, sagaBusState(`r-${i}`, { n: 0 }));

    const readMs: number[] = [];
    const writeMs: number[] = [];
    const writeCodes: Record<string, number> = {};
    const until = performance.now() + RUN_MS;
    const reader = async (i: number) => {
      while (performance.now() < until) {
        const started = performance.now();
        const state = await store.findByCorrelationId("Probe", `r-${i}`);
        readMs.push(performance.now() - started);
        expect(state!.metadata.sagaId).toBe(`r-${i}`);
      }
    };
    const writer = async (i: number) => {
      let n = 0;
      while (performance.now() < until) {
        const started = performance.now();
        const error = await store.insert("Probe", `w-${i}-${n++}`, sagaBusState(`w-${i}-${n}`)).then(() => undefined, (e: unknown) => e);
        writeMs.push(performance.now() - started);
        const code = (error as { code?: string } | undefined)?.code ?? "acknowledged";
        writeCodes[code] = (writeCodes[code] ?? 0) + 1;
        if (error) expect(error).toBeInstanceOf(ReplicationTimeoutError);
      }
    };
    await Promise.all([...Array.from({ length: READERS }, (_, i) => reader(i)), ...Array.from({ length: WRITERS }, (_, i) => writer(i))]);

    const reads = Float64Array.from(readMs).sort();
    const writes = Float64Array.from(writeMs).sort();
    expect(writeCodes).toEqual({ WRITE_NOT_REPLICATED: writeMs.length });
    expect(percentile(writes, 1)).toBeLessThan(WAIT_MS + WRITE_MARGIN_MS);
    expect(percentile(reads, 0.99)).toBeLessThan(READ_P99_BOUND_MS);

    // A replica attaches: durable writes are confirmed again.
    const replica = await spawnRedisServer(["--replicaof", "127.0.0.1", String(master.port)]);
    cleanups.push(() => replica.stop());
    let confirmedAfterMs: number | undefined;
    const attached = performance.now();
    while (confirmedAfterMs === undefined && performance.now() - attached < 10_000) {
      const error = await store.insert("Probe", `after-${Math.random()}`, sagaBusState(`after-${Math.random()}`)).then(() => undefined, (e: unknown) => e);
      if (!error) confirmedAfterMs = performance.now() - attached;
      else {
        expect(error).toBeInstanceOf(ReplicationTimeoutError);
        await sleep(50);
      }
    }
    expect(confirmedAfterMs).toBeDefined();
    recordFigures("durability.noReplica", {
      description: `durability { replicas: 1, timeoutMs: ${WAIT_MS} } on a master without replica, client commandTimeout 500; ${READERS} readers and ${WRITERS} durable writers for ${RUN_MS / 1000} s; then a replica attaches`,
      timeoutMs: WAIT_MS,
      readers: READERS,
      writers: WRITERS,
      reads: readMs.length,
      readP50Ms: Number(percentile(reads, 0.5).toFixed(2)),
      readP99Ms: Number(percentile(reads, 0.99).toFixed(2)),
      durableWrites: writeMs.length,
      slowestDurableWriteMs: Math.round(percentile(writes, 1)),
      confirmedAfterReplicaMs: Math.round(confirmedAfterMs!),
    });
  });
});

describe("durability with WAIT refused", () => {
  it("a user whose ACL loses +wait after the start: the write is applied, and the error says so (WRITE_NOT_REPLICATED, the refusal as cause), never REDIS_COMMAND_FAILED", async () => {
    const server = await spawnRedisServer();
    cleanups.push(() => server.stop());
    const admin = new Redis(server.url);
    cleanups.push(async () => admin.disconnect());
    await admin.call("ACL", "SETUSER", "nowait", "on", ">pw", "~*", "+@all");
    const redis = new Redis(server.url, { username: "nowait", password: "pw" });
    cleanups.push(async () => redis.disconnect());
    const keyPrefix = uniquePrefix();
    const store = new RedisSagaStore({ redis, keyPrefix, durability: { replicas: 1, timeoutMs: WAIT_MS } });
    cleanups.push(() => store.close());
    // Lacking it already, the start would refuse (test/faults/acl.test.ts): the refusal here is the write's WAIT.
    await store.initialize();
    await admin.call("ACL", "SETUSER", "nowait", "-wait");
    const error = await store.insert("Probe", "c", sagaBusState("s")).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ReplicationTimeoutError);
    expect((error as ReplicationTimeoutError).replicasAcknowledged).toBe(0);
    expect(String((error as Error).cause)).toMatch(/NOPERM|permission/i);
    // Applied, as the error says.
    const plain = new RedisSagaStore({ redis: admin, keyPrefix });
    expect((await plain.getByCorrelationId("Probe", "c"))!.metadata.sagaId).toBe("s");
  });
});
