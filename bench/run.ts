/**
 * npm run bench [-- --json] [-- --quick] [-- --codec json,msgpack] [-- --op insert,update]
 *
 * Each store operation at concurrency 1 and 64, per codec, measured beside raw
 * ioredis commands of the same encoded bytes on the same connection: SET for
 * insert/update/save, GET (getBuffer) for the reads. One server, one ioredis
 * connection, one run. See bench/README.md.
 */
import { randomUUID } from "node:crypto";
import { availableParallelism } from "node:os";
import { Cluster, Redis } from "ioredis";
import { EnvelopeSerializer } from "../codecs/serializer";
import { RedisSagaStore } from "../src/index";
import { startTestCluster } from "../test/support/redis-cluster";
import { spawnRedisServer } from "../test/support/redis-server";
import { indexesNeeded, measureCell, type CellPlan, type Op } from "./measure";
import { benchRegistry, type RegistryRow } from "./registry";
import { SAGA_NAME, orderState, withIds, type OrderState } from "./order-state";

const CODECS = ["json", "superjson", "msgpack"] as const;
type CodecName = (typeof CODECS)[number];
const OPS = ["insert", "findByCorrelationId", "findById", "update", "save"] as const;
type OpName = (typeof OPS)[number];
const BASELINE: Record<OpName, "SET" | "GET"> = { insert: "SET", findByCorrelationId: "GET", findById: "GET", update: "SET", save: "SET" };
const CONCURRENCIES = [1, 64] as const;
const MAX_CONCURRENCY = 64;
/** Sagas the read cells cycle through. */
const READ_POOL = 256;

/** Targets from the issue, at concurrency 64, for these codecs. */
const TARGET_CODECS: readonly CodecName[] = ["json", "msgpack"];
const TARGETS: Partial<Record<OpName, number>> = { update: 0.6, insert: 0.5, findByCorrelationId: 0.8, findById: 0.6 };
const MSGPACK_BYTES_TARGET = 0.75;

export interface Row {
  op: OpName;
  codec: CodecName;
  concurrency: number;
  opsPerSec: number;
  p50us: number;
  p99us: number;
  baselineOp: "SET" | "GET";
  baselineOpsPerSec: number;
  ratio: number;
  /** Node CPU per operation, µs (process.cpuUsage ÷ operations): steadier than throughput under load. */
  cpuUsPerOp: number;
  baselineCpuUsPerOp: number;
}

interface HumanRow extends Row {
  baselineP50us: number;
  baselineP99us: number;
}

interface Args {
  json: boolean;
  quick: boolean;
  /** ioredis enableAutoPipelining for the one connection (both sides); off by default, as in ioredis. */
  autoPipelining: boolean;
  /** Run on a Redis Cluster (REDIS_CLUSTER_NODES, else a throwaway 3+3 cluster) beside raw ioredis Cluster SET/GET. */
  cluster: boolean;
  codecs: CodecName[];
  ops: OpName[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { json: false, quick: false, autoPipelining: false, cluster: false, codecs: [...CODECS], ops: [...OPS] };
  const list = <T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T[] => {
    const items = (value ?? "").split(",").filter(Boolean);
    for (const item of items) if (!allowed.includes(item as T)) throw new Error(`${flag}: unknown "${item}" (one of ${allowed.join(", ")})`);
    if (items.length === 0) throw new Error(`${flag} needs a value`);
    return items as T[];
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    if (flag === "--json") args.json = true;
    else if (flag === "--quick") args.quick = true;
    else if (flag === "--auto-pipelining") args.autoPipelining = true;
    else if (flag === "--cluster") args.cluster = true;
    else if (flag === "--codec") args.codecs = list(inline ?? argv[++i], CODECS, flag);
    else if (flag === "--op") args.ops = list(inline ?? argv[++i], OPS, flag);
    else if (flag === "--help" || flag === "-h") {
      process.stdout.write(
        "usage: npm run bench -- [--json] [--quick] [--cluster] [--auto-pipelining] [--codec json,superjson,msgpack] [--op insert,findByCorrelationId,findById,update,save]\n" +
          "  REDIS_URL=redis://... uses that server (only this run's keys are deleted); otherwise a throwaway redis-server is started.\n",
      );
      process.exit(0);
    } else throw new Error(`unknown argument "${arg}" (try --help)`);
  }
  return args;
}

function planFor(concurrency: number, quick: boolean): CellPlan {
  if (quick) return concurrency === 1 ? { concurrency, ops: 500, warmup: 100, rounds: 2 } : { concurrency, ops: 2_000, warmup: 400, rounds: 2 };
  // Many short alternating chunks: on a shared machine a burst of outside load then hits both sides alike.
  return concurrency === 1 ? { concurrency, ops: 6_000, warmup: 600, rounds: 10 } : { concurrency, ops: 30_000, warmup: 3_000, rounds: 10 };
}

function log(message: string): void {
  process.stderr.write(message + "\n");
}

function globPattern(prefix: string): string {
  return prefix.replace(/[*?[\]\\]/g, "\\$&") + "*";
}

async function deleteByPrefix(client: Redis | Cluster, prefix: string): Promise<number> {
  let deleted = 0;
  // On a Cluster every master holds some keys; UNLINK them one by one (they span slots).
  for (const node of client instanceof Cluster ? client.nodes("master") : [client]) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", globPattern(prefix), "COUNT", 1000);
      cursor = next;
      for (const key of keys) deleted += await node.unlink(key);
    } while (cursor !== "0");
  }
  return deleted;
}

function nonNull(value: unknown): void {
  if (value === null || value === undefined) throw new Error("benchmark read returned nothing: its setup is broken");
}

/** Everything one codec's cells need, inserted up front. */
async function benchCodec(redis: Redis | Cluster, runPrefix: string, codec: CodecName, args: Args, rows: HumanRow[]): Promise<number> {
  const prefix = `${runPrefix}${codec}:`;
  const store = new RedisSagaStore({ redis, keyPrefix: prefix, codec });
  await store.initialize();
  try {
    const template = orderState(randomUUID(), "ord-template");
    // The baseline's bytes: one envelope encoded once, exactly what the store writes for this state.
    const serializer = new EnvelopeSerializer({ codec });
    const bytes = serializer.encode(SAGA_NAME, template, { sagaId: template.metadata.sagaId, sagaVersion: 0, schemaVersion: 1 });
    const rawKey = (name: string) => `${prefix}raw:${name}`;

    // Read pool: READ_POOL sagas through the store, and as many raw keys holding the same bytes.
    const readStates = Array.from({ length: READ_POOL }, (_, k) => withIds(template, randomUUID(), `ord-read-${k}`));
    const readRawKeys = readStates.map((_, k) => rawKey(`read:${k}`));
    await Promise.all(readStates.map((state) => store.insert(SAGA_NAME, state.orderId, state)));
    await Promise.all(readRawKeys.map((key) => redis.set(key, bytes)));

    // One saga per worker for update and for save, so workers never conflict.
    const updateStates = Array.from({ length: MAX_CONCURRENCY }, (_, w) => withIds(template, randomUUID(), `ord-update-${w}`));
    const updateVersions = updateStates.map(() => 0);
    const saveStates: OrderState[] = Array.from({ length: MAX_CONCURRENCY }, (_, w) => withIds(template, randomUUID(), `ord-save-${w}`));
    await Promise.all([...updateStates, ...saveStates].map((state) => store.insert(SAGA_NAME, state.orderId, state)));
    const writeRawKeys = updateStates.map((_, w) => rawKey(`write:${w}`));

    for (const concurrency of CONCURRENCIES) {
      const plan = planFor(concurrency, args.quick);
      for (const opName of args.ops) {
        let ours: Op;
        let raw: Op;
        switch (opName) {
          case "insert": {
            const n = indexesNeeded(plan);
            const states = Array.from({ length: n }, (_, i) => withIds(template, randomUUID(), `ord-c${concurrency}-${i}`));
            const keys = Array.from({ length: n }, (_, i) => rawKey(`insert:c${concurrency}:${i}`));
            ours = (i) => store.insert(SAGA_NAME, states[i]!.orderId, states[i]!);
            raw = (i) => redis.set(keys[i]!, bytes);
            break;
          }
          case "findByCorrelationId":
            ours = async (i) => nonNull(await store.findByCorrelationId(SAGA_NAME, readStates[i % READ_POOL]!.orderId));
            raw = async (i) => nonNull(await redis.getBuffer(readRawKeys[i % READ_POOL]!));
            break;
          case "findById":
            ours = async (i) => nonNull(await store.findById(SAGA_NAME, readStates[i % READ_POOL]!.metadata.sagaId));
            raw = async (i) => nonNull(await redis.getBuffer(readRawKeys[i % READ_POOL]!));
            break;
          case "update":
            // saga-bus style: the handler bumps the version in the state it passes, with the version it loaded.
            ours = async (_i, w) => {
              const state = updateStates[w]!;
              const expected = updateVersions[w]!;
              state.metadata.version = expected + 1;
              await store.update(SAGA_NAME, state, expected);
              updateVersions[w] = expected + 1;
            };
            raw = (_i, w) => redis.set(writeRawKeys[w]!, bytes);
            break;
          case "save":
            // seed-README style: save the state as loaded; the store returns it at its new version.
            ours = async (_i, w) => {
              saveStates[w] = await store.save(SAGA_NAME, saveStates[w]!);
            };
            raw = (_i, w) => redis.set(writeRawKeys[w]!, bytes);
            break;
        }
        const result = await measureCell(plan, ours, raw);
        const row: HumanRow = {
          op: opName,
          codec,
          concurrency,
          opsPerSec: Math.round(result.ours.opsPerSec),
          p50us: round(result.ours.p50us, 1),
          p99us: round(result.ours.p99us, 1),
          baselineOp: BASELINE[opName],
          baselineOpsPerSec: Math.round(result.raw.opsPerSec),
          ratio: round(result.ours.opsPerSec / result.raw.opsPerSec, 3),
          cpuUsPerOp: round(result.ours.cpuUsPerOp, 2),
          baselineCpuUsPerOp: round(result.raw.cpuUsPerOp, 2),
          baselineP50us: round(result.raw.p50us, 1),
          baselineP99us: round(result.raw.p99us, 1),
        };
        rows.push(row);
        log(
          `  ${codec.padEnd(9)} c=${String(concurrency).padEnd(2)} ${opName.padEnd(19)} ${fmtInt(row.opsPerSec).padStart(7)} ops/s vs raw ${row.baselineOp} ${fmtInt(row.baselineOpsPerSec).padStart(7)}  ratio ${row.ratio.toFixed(2)}  cpu ${row.cpuUsPerOp.toFixed(1)} vs ${row.baselineCpuUsPerOp.toFixed(1)} µs/op`,
        );
      }
    }
    return bytes.length;
  } finally {
    await store.close();
    // Keep the server's memory flat across codecs (and leave nothing behind on a shared server).
    await deleteByPrefix(redis, prefix);
  }
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function fmtInt(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

function table(header: string[], body: string[][], rightAlign: boolean[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((r) => r[c]!.length)));
  const line = (cells: string[]) => cells.map((cell, c) => (rightAlign[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

interface TargetCheck {
  label: string;
  achieved: number;
  target: number;
  met: boolean;
}

function checkTargets(rows: Row[], bytes: Partial<Record<CodecName, number>>): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const codec of TARGET_CODECS) {
    for (const [op, target] of Object.entries(TARGETS) as [OpName, number][]) {
      const row = rows.find((r) => r.codec === codec && r.op === op && r.concurrency === 64);
      if (row) checks.push({ label: `${op} ${codec} c=64 vs raw ${row.baselineOp}`, achieved: row.ratio, target, met: row.ratio >= target });
    }
  }
  if (bytes.json && bytes.msgpack) {
    const ratio = round(bytes.msgpack / bytes.json, 3);
    checks.push({ label: "msgpack bytes vs json bytes (<=)", achieved: ratio, target: MSGPACK_BYTES_TARGET, met: ratio <= MSGPACK_BYTES_TARGET });
  }
  return checks;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const cluster = args.cluster ? await startTestCluster() : undefined;
  const server = args.cluster || process.env.REDIS_URL ? undefined : await spawnRedisServer();
  const redis: Redis | Cluster = cluster
    ? new Cluster(cluster.nodes, { enableAutoPipelining: args.autoPipelining })
    : new Redis(process.env.REDIS_URL ?? server!.url, { enableAutoPipelining: args.autoPipelining });
  redis.on("error", (error) => log(`redis: ${error.message}`));
  const runPrefix = `sb-bench-${randomUUID().slice(0, 8)}:`;

  let shuttingDown = false;
  const shutdown = async () => {
    if (shuttingDown) return;
    shuttingDown = true;
    try {
      // Never FLUSHALL: on a shared server only this run's keys go; a throwaway server simply stops.
      if (!server && !cluster?.owned && redis.status === "ready") await deleteByPrefix(redis, runPrefix);
    } finally {
      redis.disconnect();
      await server?.stop();
      await cluster?.stop();
    }
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => void shutdown().finally(() => process.exit(130)));
  }

  try {
    if (redis instanceof Cluster && redis.status !== "ready") await new Promise((resolve) => redis.once("ready", resolve));
    const info = await (redis instanceof Cluster ? redis.nodes("master")[0]! : redis).info("server");
    const redisVersion = /redis_version:(\S+)/.exec(info)?.[1] ?? "?";
    const where = cluster
      ? `${cluster.owned ? "throwaway" : "REDIS_CLUSTER_NODES"} cluster, 3 masters + 3 replicas`
      : server
        ? `throwaway redis-server on port ${server.port}`
        : "REDIS_URL";
    const context = `node ${process.version}, redis ${redisVersion} (${where}), ${availableParallelism()} CPUs, ${args.quick ? "quick" : "full"} run${args.autoPipelining ? ", enableAutoPipelining" : ""}`;
    log(`saga store benchmark: ${context}`);

    const rows: HumanRow[] = [];
    const bytes: Partial<Record<CodecName, number>> = {};
    for (const codec of args.codecs) bytes[codec] = await benchCodec(redis, runPrefix, codec, args, rows);
    log("registry: upgrade on read and validation on save");
    const registryRows: RegistryRow[] = await benchRegistry(
      redis,
      runPrefix,
      CONCURRENCIES.map((c) => planFor(c, args.quick)),
    );
    const checks = checkTargets(rows, bytes);
    for (const r of registryRows) {
      if (r.target !== undefined && r.concurrency === 64) {
        checks.push({ label: `${r.case} c=64 vs ${r.baselineCase}`, achieved: r.ratio, target: r.target, met: r.ratio >= r.target });
      }
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);

    if (args.json) {
      const out = {
        rows: rows.map(({ baselineP50us: _p50, baselineP99us: _p99, ...row }): Row => row),
        bytes,
        registry: registryRows,
      };
      process.stdout.write(JSON.stringify(out) + "\n");
      for (const check of checks) log(`target ${check.met ? "met   " : "MISSED"} ${check.label}: ${check.achieved} (target ${check.target})`);
      log(`done in ${seconds} s`);
      return;
    }

    const out: string[] = [];
    out.push(`@saga-bus/store-redis benchmark: ${context}`);
    out.push(`State: saga-bus order, ${JSON.stringify(orderState(randomUUID(), "ord-00000000")).length} bytes as JSON; one ioredis ${cluster ? "Cluster client" : "connection"}; ratio = ours / raw ops/s`);
    out.push("");
    out.push(
      table(
        ["op", "codec", "c", "ours ops/s", "p50 µs", "p99 µs", "raw", "raw ops/s", "raw p50", "raw p99", "ratio"],
        rows.map((r) => [
          r.op,
          r.codec,
          String(r.concurrency),
          fmtInt(r.opsPerSec),
          r.p50us.toFixed(1),
          r.p99us.toFixed(1),
          r.baselineOp,
          fmtInt(r.baselineOpsPerSec),
          r.baselineP50us.toFixed(1),
          r.baselineP99us.toFixed(1),
          r.ratio.toFixed(2),
        ]),
        [false, false, true, true, true, true, false, true, true, true, true],
      ),
    );
    out.push("");
    out.push("Bytes per stored state (envelope: 28-byte header + payload)");
    out.push(
      table(
        ["codec", "bytes", "vs json"],
        Object.entries(bytes).map(([codec, n]) => [codec, String(n), bytes.json ? (n / bytes.json).toFixed(2) : "-"]),
        [false, true, true],
      ),
    );
    out.push("");
    out.push("Registry (json codec; ratio = first case / second case, same server and connection)");
    out.push(
      table(
        ["case", "c", "ops/s", "p50 µs", "p99 µs", "beside", "ops/s", "ratio"],
        registryRows.map((r) => [r.case, String(r.concurrency), fmtInt(r.opsPerSec), r.p50us.toFixed(1), r.p99us.toFixed(1), r.baselineCase, fmtInt(r.baselineOpsPerSec), r.ratio.toFixed(2)]),
        [false, true, true, true, true, false, true, true],
      ),
    );
    if (checks.length > 0) {
      out.push("");
      out.push("Targets");
      out.push(
        table(
          ["target", "achieved", "needed", "status"],
          checks.map((c) => [c.label, c.achieved.toFixed(c.label.includes("bytes") ? 3 : 2), (c.label.includes("<=") ? "<= " : ">= ") + c.target, c.met ? "met" : "MISSED"]),
          [false, true, true, false],
        ),
      );
    }
    out.push("");
    out.push(`done in ${seconds} s`);
    process.stdout.write(out.join("\n") + "\n");
  } finally {
    await shutdown();
  }
}

main().catch((error) => {
  log(`bench failed: ${(error as Error)?.stack ?? error}`);
  process.exitCode = 1;
});
