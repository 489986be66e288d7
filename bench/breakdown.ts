/**
 * npx tsx bench/breakdown.ts [--quick]
 *
 * Where a store operation's time goes, for when `npm run bench` misses a
 * target. Three parts:
 *   1. CPU only: encode/decode and envelope pieces per codec, in µs per call.
 *   2. The store over a stub engine that answers at once: the store's own
 *      Node-side cost per operation, without the network or Redis.
 *   3. Redis commands the store sends, issued raw at concurrency 64 on one
 *      connection beside raw SET: the floor the command design imposes.
 * Uses REDIS_URL when set (only this run's keys are deleted), else a throwaway redis-server.
 */
import { randomFillSync, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { Redis } from "ioredis";
import { BUILT_IN_CODECS, type BuiltInCodecName } from "../codecs/index";
import { HEADER_SIZE, sagaIdFingerprint } from "../codecs/envelope";
import { EnvelopeSerializer } from "../codecs/serializer";
import { WriteStatus, type SagaEngine, type WriteResult } from "../src/engine";
import { LuaScript } from "../src/lua-script";
import { RedisSagaStore } from "../src/redis-store";
import { SagaStore } from "../src/store";
import { spawnRedisServer } from "../test/support/redis-server";
import { measureCell, type CellPlan, type Op } from "./measure";
import { SAGA_NAME, orderState, withIds } from "./order-state";

const quick = process.argv.includes("--quick");
const codecs = Object.keys(BUILT_IN_CODECS) as BuiltInCodecName[];

/** Mean µs per call of a synchronous function. */
function timeSync(iterations: number, fn: (i: number) => unknown): number {
  for (let i = 0; i < Math.min(2_000, iterations); i++) fn(i);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn(i);
  return Number(process.hrtime.bigint() - t0) / 1000 / iterations;
}

/** Mean µs per call of an async function awaited one at a time. */
async function timeAsync(iterations: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(2_000, iterations); i++) await fn(i);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await fn(i);
  return Number(process.hrtime.bigint() - t0) / 1000 / iterations;
}

const us = (value: number) => value.toFixed(2).padStart(7);

function cpuOnly(): void {
  const n = quick ? 5_000 : 50_000;
  const state = orderState(randomUUID(), "ord-00000001");
  const meta = { sagaId: state.metadata.sagaId, sagaVersion: 1, schemaVersion: 1 };
  console.log(`1. CPU only, µs per call (${n} calls, ${JSON.stringify(state).length}-byte JSON state)`);
  const token = Buffer.alloc(HEADER_SIZE);
  console.log(`   randomFillSync(8 bytes)           ${us(timeSync(n, () => randomFillSync(token, 12, 8)))}`);
  console.log(`   sagaIdFingerprint (SHA-1)         ${us(timeSync(n, () => sagaIdFingerprint(meta.sagaId)))}`);
  console.log(`   Buffer.allocUnsafe(800)           ${us(timeSync(n, () => Buffer.allocUnsafe(800)))}`);
  console.log("   codec        codec.encode  serializer.encode  codec.decode  serializer.decode");
  for (const name of codecs) {
    const codec = BUILT_IN_CODECS[name];
    const serializer = new EnvelopeSerializer({ codec: name });
    const envelope = serializer.encode(SAGA_NAME, state, meta);
    const payload = envelope.subarray(HEADER_SIZE);
    const results = [
      timeSync(n, () => codec.encode(state, HEADER_SIZE)),
      timeSync(n, () => serializer.encode(SAGA_NAME, state, meta)),
      timeSync(n, () => codec.decode(payload)),
      timeSync(n, () => serializer.decode("k", envelope)),
    ];
    console.log(`   ${name.padEnd(10)}   ${results.map((r) => us(r).padStart(12)).join("       ")}`);
  }
  const text = JSON.stringify(state);
  const textBuffer = Buffer.from(text);
  console.log(`   JSON.stringify alone              ${us(timeSync(n, () => JSON.stringify(state)))}`);
  console.log(`   JSON.parse alone (from string)    ${us(timeSync(n, () => JSON.parse(text)))}`);
  console.log(`   Buffer -> utf8 string             ${us(timeSync(n, () => textBuffer.toString("utf8")))}`);
}

/**
 * An engine that answers at once: reads return one stored envelope, writes
 * succeed. Methods the store does not call on these paths resolve to undefined,
 * so the stub keeps compiling as the engine contract grows.
 */
function stubEngine(stored: Buffer, correlationId: string): SagaEngine {
  const written: WriteResult = { status: WriteStatus.Written, storedVersion: 0, storedSchemaVersion: 1, previousTtlMs: -1 };
  const hot: Partial<SagaEngine> = {
    connectionEpoch: 0,
    getValue: async () => stored,
    getIndex: async () => correlationId,
    insert: async () => written,
    update: async () => written,
  };
  const idle = async () => undefined;
  return new Proxy(hot, { get: (target, name) => (name in target ? target[name as keyof SagaEngine] : idle) }) as SagaEngine;
}

async function storeOverStub(): Promise<void> {
  const n = quick ? 5_000 : 50_000;
  console.log(`\n2. The store over a stub engine (no network), µs per op, sequential (${n} ops)`);
  console.log("   codec        insert  findByCorrelationId  findById(cached)   update     save");
  for (const name of codecs) {
    const template = orderState(randomUUID(), "ord-stub");
    const serializer = new EnvelopeSerializer({ codec: name });
    const stored = serializer.encode(SAGA_NAME, template, { sagaId: template.metadata.sagaId, sagaVersion: 0, schemaVersion: 1 });
    const engine = stubEngine(stored, template.orderId);
    const store = new SagaStore({ codec: name, keyPrefix: "stub:" }, () => engine);
    const fresh = Array.from({ length: n + 2_000 }, (_, i) => withIds(template, template.metadata.sagaId, `ord-${i}`));
    await store.insert(SAGA_NAME, template.orderId, template); // fills the id -> correlation id cache
    let saved = template;
    const results = [
      await timeAsync(n, (i) => store.insert(SAGA_NAME, fresh[i]!.orderId, fresh[i]!)),
      await timeAsync(n, () => store.findByCorrelationId(SAGA_NAME, template.orderId)),
      await timeAsync(n, () => store.findById(SAGA_NAME, template.metadata.sagaId)),
      await timeAsync(n, (i) => store.update(SAGA_NAME, template, i)),
      await timeAsync(n, async () => (saved = await store.save(SAGA_NAME, { ...saved, metadata: { ...saved.metadata, version: 0 } }))),
    ];
    console.log(`   ${name.padEnd(10)} ${results.map((r) => us(r)).join("         ")}`);
  }
}

/** CPU seconds used so far by a local process (Linux /proc), or undefined when unreadable. */
function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks (USER_HZ = 100)
  } catch {
    return undefined;
  }
}

/** Run `op` alone (the paired side is a no-op) and report ops/s with Node and Redis CPU use over the wall time. */
async function alone(plan: CellPlan, op: Op, redisPid: number | undefined): Promise<string> {
  const node0 = process.cpuUsage();
  const redis0 = processCpuSeconds(redisPid);
  const t0 = process.hrtime.bigint();
  const result = await measureCell(plan, op, async () => {});
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const node = process.cpuUsage(node0);
  const redis1 = processCpuSeconds(redisPid);
  const nodePct = ((node.user + node.system) / 1e6 / wall) * 100;
  const redisPct = redis0 !== undefined && redis1 !== undefined ? `${Math.round(((redis1 - redis0) / wall) * 100)}%` : "?";
  return `${Math.round(result.ours.opsPerSec).toString().padStart(8)}  node ${Math.round(nodePct)}% redis ${redisPct}`.padEnd(36);
}

async function commandsAtC64(redis: Redis, prefix: string, redisPid: number | undefined): Promise<void> {
  const plan: CellPlan = quick ? { concurrency: 64, ops: 4_000, warmup: 1_000, rounds: 2 } : { concurrency: 64, ops: 20_000, warmup: 2_000, rounds: 4 };
  console.log(`\n3. Redis commands at c=64 on one connection, ${plan.ops} ops each, beside raw SET of the same bytes`);
  const write = new LuaScript("write");
  const extend = new LuaScript("extend-index");
  await redis.script("LOAD", write.source);
  await redis.script("LOAD", extend.source);
  const trivialSha = (await redis.script("LOAD", "return redis.call('SET', KEYS[1], ARGV[2])")) as string;

  const template = orderState(randomUUID(), "ord-raw");
  const base = new EnvelopeSerializer({ codec: "json" }).encode(SAGA_NAME, template, {
    sagaId: template.metadata.sagaId,
    sagaVersion: 0,
    schemaVersion: 1,
  });
  const workers = plan.concurrency;
  const setKeys = Array.from({ length: workers }, (_, w) => `${prefix}set:${w}`);
  const casKeys = Array.from({ length: workers }, (_, w) => `${prefix}cas:${w}`);
  const idxKeys = Array.from({ length: workers }, (_, w) => `${prefix}idx:${w}`);
  const versions = casKeys.map(() => 0);
  await Promise.all(casKeys.map((key) => redis.set(key, base)));
  let tokens = 0;
  /** The envelope for this worker's next version, with a fresh write token (as the store makes it). */
  const nextEnvelope = (w: number) => {
    const envelope = Buffer.from(base);
    envelope.writeUInt32BE(versions[w]! + 1, 8);
    envelope.writeUInt32BE(++tokens, 12);
    envelope.writeUInt32BE(w, 16);
    return envelope;
  };
  const cas: Op = async (_i, w) => {
    const expected = versions[w]!;
    const reply = (await redis.evalsha(write.sha, 1, casKeys[w]!, expected, nextEnvelope(w), 0)) as number[];
    if (reply[0] !== 1) throw new Error(`write.lua answered ${reply.join(",")}`);
    versions[w] = expected + 1;
  };
  const set: Op = (_i, w) => redis.set(setKeys[w]!, base);
  const store = new RedisSagaStore({ redis, keyPrefix: `${prefix}store:`, codec: "json" });
  await store.initialize();
  const readState = withIds(template, randomUUID(), "ord-read");
  await store.insert(SAGA_NAME, readState.orderId, readState);
  const ownStates = Array.from({ length: workers }, (_, w) => withIds(template, randomUUID(), `ord-own-${w}`));
  const ownVersions = ownStates.map(() => 0);
  await Promise.all(ownStates.map((state) => store.insert(SAGA_NAME, state.orderId, state)));
  const fresh = Array.from({ length: plan.warmup * 2 + plan.ops * 2 }, (_, i) => withIds(template, randomUUID(), `ord-new-${i}`));
  let nextFresh = 0;
  const cases: Array<[string, Op]> = [
    ["store.findByCorrelationId (json)", () => store.findByCorrelationId(SAGA_NAME, readState.orderId)],
    ["store.insert (json)", () => {
      const state = fresh[nextFresh++ % fresh.length]!;
      return store.insert(SAGA_NAME, state.orderId, state);
    }],
    ["store.update (json)", async (_i, w) => {
      const expected = ownVersions[w]!;
      await store.update(SAGA_NAME, ownStates[w]!, expected);
      ownVersions[w] = expected + 1;
    }],
    ["GET (getBuffer)", (_i, w) => redis.getBuffer(casKeys[w]!)],
    ["SET Buffer.from(copy) per op", (_i, w) => redis.set(setKeys[w]!, Buffer.from(base))],
    ["EVALSHA trivial SET script", (_i, w) => redis.evalsha(trivialSha, 1, setKeys[w]!, 0, base, 0)],
    ["EVALSHA write.lua (CAS ok)", cas],
    ["SET index + EVALSHA write.lua (insert)", (i, w) => Promise.all([redis.set(`${idxKeys[w]}:${i}`, "c"), redis.evalsha(write.sha, 1, `${casKeys[w]}:${i}`, -1, base, 0)])],
    ["pipeline(SET index, EVALSHA write.lua)", (i, w) => redis.pipeline().set(`${idxKeys[w]}:${i}`, "c").evalsha(write.sha, 1, `${casKeys[w]}:${i}`, -1, base, 0).exec()],
    ["EVALSHA extend-index + write.lua (update, TTL)", (i, w) => Promise.all([redis.evalsha(extend.sha, 1, idxKeys[w]!, "c", 60_000, 70_000), cas(i, w)])],
  ];
  const before = commandStats(await redis.info("commandstats"));
  console.log("   command(s)                                     alone: ops/s, CPU use of wall time    beside SET: ops/s   SET ops/s  ratio");
  console.log(`   ${"raw SET".padEnd(46)} ${await alone(plan, set, redisPid)}`);
  for (const [label, op] of cases) {
    const single = await alone(plan, op, redisPid);
    const result = await measureCell(plan, op, set);
    console.log(
      `   ${label.padEnd(46)} ${single} ${Math.round(result.ours.opsPerSec).toString().padStart(8)}  ${Math.round(result.raw.opsPerSec).toString().padStart(10)}  ${(result.ours.opsPerSec / result.raw.opsPerSec).toFixed(2)}`,
    );
  }
  await store.close();
  // Deltas, not CONFIG RESETSTAT: the server may be shared.
  const after = commandStats(await redis.info("commandstats"));
  console.log("   server time per call (INFO commandstats, this run):");
  for (const [command, { calls, usec }] of after) {
    const prior = before.get(command) ?? { calls: 0, usec: 0 };
    const dc = calls - prior.calls;
    if (dc > 0 && ["set", "get", "evalsha"].includes(command)) console.log(`     ${command.padEnd(8)} ${((usec - prior.usec) / dc).toFixed(2)} µs (${dc} calls)`);
  }
}

function commandStats(info: string): Map<string, { calls: number; usec: number }> {
  const stats = new Map<string, { calls: number; usec: number }>();
  for (const line of info.split("\n")) {
    const match = /^cmdstat_(\w+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (match) stats.set(match[1]!, { calls: Number(match[2]), usec: Number(match[3]) });
  }
  return stats;
}

async function main(): Promise<void> {
  cpuOnly();
  await storeOverStub();
  const server = process.env.REDIS_URL ? undefined : await spawnRedisServer();
  const redis = new Redis(process.env.REDIS_URL ?? server!.url);
  redis.on("error", (error) => console.error(`redis: ${error.message}`));
  const prefix = `sb-breakdown-${randomUUID().slice(0, 8)}:`;
  try {
    const infoPid = Number(/process_id:(\d+)/.exec(await redis.info("server"))?.[1]);
    await commandsAtC64(redis, prefix, server?.process.pid ?? (Number.isFinite(infoPid) ? infoPid : undefined));
  } finally {
    if (!server) {
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
        cursor = next;
        if (keys.length > 0) await redis.unlink(...keys);
      } while (cursor !== "0");
    }
    redis.disconnect();
    await server?.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
