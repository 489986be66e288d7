/**
 * npm run bench:operate [-- --sagas N] [-- --json]
 *
 * The operator API at scale on one throwaway redis-server (REDIS_URL: that
 * server, only this run's keys touched): N sagas (default 1,000,000) of the
 * benchmark's ~700-byte order state, json, schema v1, inserted through the
 * store; then, each timed with the Node CPU it used and the process's peak
 * RSS,
 *   - raw ioredis: SCAN every key and GET every value in pipelined batches,
 *     the floor any stats pass stands on;
 *   - stats: every value decoded and counted, every index checked;
 *   - migrateAll from v1 to v3 (two upgrade steps, each validated), then
 *     again (nothing left to do);
 * Peak RSS beside the data's size shows that memory is bounded by the batch.
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { spawnRedisServer } from "../test/support/redis-server";
import { storePackage } from "./package-under-test";
import { SAGA_NAME, orderState, withIds } from "./order-state";
import { v1Only, v1ToV3 } from "./registry";

const { RedisSagaStore, createSagaRegistry } = storePackage;

const { values: args } = parseArgs({ options: { sagas: { type: "string", default: "1000000" }, json: { type: "boolean", default: false } } });
const SAGAS = Number(args.sagas);
const INSERT_CONCURRENCY = 256;

interface Phase {
  name: string;
  seconds: number;
  sagasPerSec: number;
  cpuUsPerSaga: number;
  peakRssMb: number;
  result?: unknown;
}

const log = (line: string) => {
  if (!args.json) process.stderr.write(line + "\n");
};

let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 50);

async function timed<T>(name: string, run: () => Promise<T>): Promise<Phase & { result: T }> {
  global.gc?.();
  peakRss = process.memoryUsage().rss;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await run();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const phase = { name, seconds, sagasPerSec: SAGAS / seconds, cpuUsPerSaga: (cpu.user + cpu.system) / SAGAS, peakRssMb: peakRss / 2 ** 20, result };
  log(`${name.padEnd(28)} ${seconds.toFixed(1).padStart(7)} s  ${Math.round(phase.sagasPerSec).toLocaleString("en-US").padStart(9)} sagas/s  ${phase.cpuUsPerSaga.toFixed(1).padStart(6)} µs CPU/saga  peak RSS ${phase.peakRssMb.toFixed(0)} MB`);
  return phase;
}

const server = process.env.REDIS_URL ? undefined : await spawnRedisServer();
const url = process.env.REDIS_URL ?? server!.url;
const redis = new Redis(url);
const prefix = `bench-operate-${randomUUID().slice(0, 8)}:`;
try {
  const writer = new RedisSagaStore({ redis, keyPrefix: prefix, registry: createSagaRegistry([v1Only]) });
  const template = orderState("template", "template");
  log(`${SAGAS.toLocaleString("en-US")} sagas, ${Buffer.byteLength(JSON.stringify(template))}-byte json states, on ${server ? `a throwaway redis-server on port ${server.port}` : url}`);
  const insert = await timed("insert (through the store)", async () => {
    let next = 0;
    await Promise.all(
      Array.from({ length: INSERT_CONCURRENCY }, async () => {
        for (let i = next++; i < SAGAS; i = next++) await writer.insert(SAGA_NAME, `order-${i}`, withIds(template, `saga-${i}`, `order-${i}`));
      }),
    );
  });
  const used = Number(/used_memory:(\d+)/.exec(await redis.info("memory"))![1]) / 2 ** 20;
  log(`redis used_memory after insert: ${used.toFixed(0)} MB`);

  const raw = await timed("raw ioredis SCAN + GET", async () => {
    let cursor = "0";
    let values = 0;
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      const pipeline = redis.pipeline();
      for (const key of keys) pipeline.getBuffer(key);
      values += (await pipeline.exec())!.length;
    } while (cursor !== "0");
    return values;
  });

  const operator = new RedisSagaStore({ redis, keyPrefix: prefix, registry: createSagaRegistry([v1ToV3]) });
  const stats = await timed("stats", () => operator.stats(SAGA_NAME));
  const migrate = await timed("migrateAll v1 → v3", () => operator.migrateAll(SAGA_NAME));
  const again = await timed("migrateAll again (no-op)", () => operator.migrateAll(SAGA_NAME));
  const phases = [insert, raw, stats, migrate, again];
  if (args.json) {
    process.stdout.write(JSON.stringify({ sagas: SAGAS, redisUsedMemoryMb: used, phases: phases.map(({ result: _r, ...p }) => p), stats: stats.result, migrate: { ...migrate.result, problems: undefined } }) + "\n");
  } else {
    log(`stats: count ${stats.result.count}, bytes p50 ${stats.result.bytes.p50} p99 ${stats.result.bytes.p99} max ${stats.result.bytes.max}`);
    log(`migrate: migrated ${migrate.result.migrated}, failed ${migrate.result.failed}; again: migrated ${again.result.migrated}, already ${again.result.alreadyAtTarget}`);
  }
  await writer.close();
  await operator.close();
} finally {
  clearInterval(sampler);
  if (!server) {
    // Only this run's keys, on a server that is not ours.
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  }
  redis.disconnect();
  await server?.stop();
}
