/**
 * npm run bench [-- --json] [-- --quick] [-- --codec json,msgpack] [-- --op insert,update]
 *
 * Each store operation at concurrency 1 and 64, per codec, measured beside raw
 * ioredis commands of the same encoded bytes on the same connection: SET for
 * insert/update/save, GET (getBuffer) for the reads. In the same cells, on the
 * same connection: a hand-written JSON store and the published 0.2.2. Then the
 * registry's cost, the diagnostics channels' cost, encryption's cost, and the store after many distinct sagas. One server, one
 * ioredis connection, one run. See bench/README.md.
 */
import { randomUUID } from "node:crypto";
import { availableParallelism } from "node:os";
import { Cluster, Redis } from "ioredis";
import { EnvelopeSerializer } from "../codecs/serializer";
import { storePackage } from "./package-under-test";
import { startTestCluster } from "../test/support/redis-cluster";
import { spawnRedisServer } from "../test/support/redis-server";
import type { Contender } from "./contenders/contender";
import { HandWrittenJsonStore } from "./contenders/hand-written";
import { load022, open022, type Store022Class } from "./contenders/v022";
import { indexesNeeded, measureSides, type CellPlan, type Op, type SideResult } from "./measure";
import { REGISTRY_ADDED_US_TARGET, benchRegistry, type RegistryRow } from "./registry";
import { SAGA_NAME, orderState, withIds, type OrderState } from "./order-state";
import { benchScale, type ScalePlan, type ScaleRow } from "./scale";
import { benchTelemetry, type TelemetryRow } from "./telemetry";
import { ENCRYPTION_ADDED_US_TARGET, benchEncryption, type EncryptionRow } from "./encryption";

const { RedisSagaStore } = storePackage;

const CODECS = ["json", "superjson", "msgpack"] as const;
type CodecName = (typeof CODECS)[number];
const OPS = ["insert", "findByCorrelationId", "findById", "update", "save"] as const;
type OpName = (typeof OPS)[number];
const BASELINE: Record<OpName, "SET" | "GET"> = { insert: "SET", findByCorrelationId: "GET", findById: "GET", update: "SET", save: "SET" };
const CONCURRENCIES = [1, 64] as const;
const MAX_CONCURRENCY = 64;
/** Sagas the read cells cycle through. */
const READ_POOL = 256;

/** The operations the contenders have (saga-bus's four; neither has save). */
const CONTENDER_OPS: readonly OpName[] = ["insert", "findByCorrelationId", "findById", "update"];

/** Targets, all at concurrency 64, for these codecs. */
const TARGET_CODECS: readonly CodecName[] = ["json", "msgpack"];
/** Most Node CPU per op, µs, that the store may add over the raw command it stands beside. */
const ADDED_CPU_TARGETS_US: Partial<Record<OpName, number>> = { update: 9, insert: 12, findByCorrelationId: 3.5, findById: 4 };
/** Least ours ÷ contender ops/s; an op missing here is reported without a target. */
const CONTENDER_TARGETS: Record<string, Partial<Record<OpName, number>>> = {
  "0.2.2": { insert: 1, findByCorrelationId: 1, findById: 1, update: 1 },
  "hand-written": { findByCorrelationId: 1, findById: 1 },
};
const MSGPACK_BYTES_TARGET = 0.75;
/** Most that Node CPU per op may grow after many distinct sagas. */
const SCALE_TARGET = 1.1;
const SCALE_SAGAS = 100_000;
const SCALE_SAGAS_QUICK = 20_000;

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
  /** cpuUsPerOp - baselineCpuUsPerOp: what the store costs Node beyond sending the bytes. */
  cpuAddedUsPerOp: number;
}

/** A contender measured in the same cell as a Row (same op, codec of ours, concurrency). */
export interface ContenderRow {
  contender: string;
  op: OpName;
  /** Ours' codec in the cell; the contenders always write JSON. */
  codec: CodecName;
  concurrency: number;
  opsPerSec: number;
  p50us: number;
  p99us: number;
  cpuUsPerOp: number;
  /** Over the same cell's raw baseline, as Row.cpuAddedUsPerOp. */
  cpuAddedUsPerOp: number;
  oursOpsPerSec: number;
  oursCpuUsPerOp: number;
  /** ours ops/s ÷ contender ops/s. */
  ratio: number;
}

/** A contender that could not be measured, and why. */
export interface ContenderNote {
  contender: string;
  /** Absent: it could not be used at all in this run. */
  codec?: CodecName;
  reason: string;
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
  /** Leave out the hand-written and 0.2.2 sides. */
  skipContenders: boolean;
  /** Sagas inserted between the scale row's two measurements; 0 leaves that row out. */
  scaleSagas: number;
  /** Leave out the diagnostics channels' rows. */
  skipTelemetry: boolean;
  /** Leave out encryption's rows. */
  skipEncryption: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { json: false, quick: false, autoPipelining: false, cluster: false, codecs: [...CODECS], ops: [...OPS], skipContenders: false, scaleSagas: SCALE_SAGAS, skipTelemetry: false, skipEncryption: false };
  let scaleSagas: number | undefined;
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
    else if (flag === "--skip-contenders") args.skipContenders = true;
    else if (flag === "--skip-scale") scaleSagas = 0;
    else if (flag === "--skip-telemetry") args.skipTelemetry = true;
    else if (flag === "--skip-encryption") args.skipEncryption = true;
    else if (flag === "--scale-sagas") {
      const value = inline ?? argv[++i];
      scaleSagas = Number(value);
      if (!Number.isSafeInteger(scaleSagas) || scaleSagas < 0) throw new Error(`${flag}: "${value}" is not a count of sagas`);
    } else if (flag === "--help" || flag === "-h") {
      process.stdout.write(
        "usage: npm run bench -- [--json] [--quick] [--cluster] [--auto-pipelining] [--codec json,superjson,msgpack] [--op insert,findByCorrelationId,findById,update,save]\n" +
          "                        [--skip-contenders] [--skip-scale] [--scale-sagas N] [--skip-telemetry] [--skip-encryption]\n" +
          "  REDIS_URL=redis://... uses that server (only this run's keys are deleted); otherwise a throwaway redis-server is started.\n" +
          `  --scale-sagas: distinct sagas inserted before the scale row's second measurement (default ${fmtInt(SCALE_SAGAS)}, --quick ${fmtInt(SCALE_SAGAS_QUICK)}).\n`,
      );
      process.exit(0);
    } else throw new Error(`unknown argument "${arg}" (try --help)`);
  }
  args.scaleSagas = scaleSagas ?? (args.quick ? SCALE_SAGAS_QUICK : SCALE_SAGAS);
  return args;
}

function planFor(concurrency: number, quick: boolean): CellPlan {
  if (quick) return concurrency === 1 ? { concurrency, ops: 500, warmup: 100, rounds: 2 } : { concurrency, ops: 2_000, warmup: 400, rounds: 2 };
  // Many short alternating chunks: on a shared machine a burst of outside load then hits both sides alike.
  return concurrency === 1 ? { concurrency, ops: 6_000, warmup: 600, rounds: 10 } : { concurrency, ops: 30_000, warmup: 3_000, rounds: 10 };
}

function scalePlanFor(args: Args): ScalePlan {
  const cell: CellPlan = args.quick ? { concurrency: 64, ops: 4_000, warmup: 500, rounds: 4 } : { concurrency: 64, ops: 20_000, warmup: 2_000, rounds: 10 };
  return { cell, sagas: args.scaleSagas };
}

function log(message: string): void {
  process.stderr.write(message + "\n");
}

function globPattern(prefix: string): string {
  return prefix.replace(/[*?[\]\\]/g, "\\$&") + "*";
}

async function deleteByPrefix(client: Redis | Cluster, prefix: string): Promise<number> {
  let deleted = 0;
  // On a Cluster every master holds some keys; UNLINK them one by one (they span slots), a SCAN page per pipeline,
  // so the scale row's few hundred thousand keys go in seconds.
  for (const node of client instanceof Cluster ? client.nodes("master") : [client]) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", globPattern(prefix), "COUNT", 1000);
      cursor = next;
      if (keys.length === 0) continue;
      const pipeline = node.pipeline();
      for (const key of keys) pipeline.unlink(key);
      for (const [error, count] of (await pipeline.exec()) ?? []) {
        if (error) throw error;
        deleted += count as number;
      }
    } while (cursor !== "0");
  }
  return deleted;
}

function nonNull(value: unknown): void {
  if (value === null || value === undefined) throw new Error("benchmark read returned nothing: its setup is broken");
}

/** A contender's op threw: named, so its cell can go on without it. */
class ContenderFailure extends Error {
  constructor(
    readonly contender: string,
    cause: unknown,
  ) {
    super(`${contender}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/** The contenders this run compares against: built once, opened per codec. */
interface ContenderSource {
  name: string;
  /** Why it cannot be used at all in this run; then `open` is never called. */
  unavailable?: string;
  /** Its keys must share one Cluster slot: 0.2.2's WATCH/MULTI spans its value and index keys, and its users hash-tagged them. */
  oneSlot?: boolean;
  open(redis: Redis | Cluster, keyPrefix: string): Promise<Contender>;
}

async function contenderSources(args: Args): Promise<ContenderSource[]> {
  if (args.skipContenders) return [];
  const handWritten: ContenderSource = { name: "hand-written", open: async (redis, keyPrefix) => new HandWrittenJsonStore(redis, keyPrefix) };
  const loaded: Store022Class | { reason: string } = await load022();
  const v022: ContenderSource =
    typeof loaded === "function"
      ? { name: "0.2.2", oneSlot: true, open: (redis, keyPrefix) => open022(loaded, redis, keyPrefix) }
      : { name: "0.2.2", unavailable: `could not be installed or loaded: ${loaded.reason}`, open: () => Promise.reject(new Error(loaded.reason)) };
  return [handWritten, v022];
}

/** One contender's sagas in one codec's cells, as ours has them: a read pool and one saga per writing worker. */
interface ContenderSetup {
  contender: Contender;
  updateStates: OrderState[];
  updateVersions: number[];
}

/** Everything one codec's cells need, inserted up front. */
async function benchCodec(
  redis: Redis | Cluster,
  runPrefix: string,
  codec: CodecName,
  args: Args,
  sources: ContenderSource[],
  out: { rows: HumanRow[]; contenders: ContenderRow[]; notes: ContenderNote[] },
): Promise<number> {
  const prefix = `${runPrefix}${codec}:`;
  const store = new RedisSagaStore({ redis, keyPrefix: prefix, codec });
  await store.initialize();
  const setups: ContenderSetup[] = [];
  const opened: Contender[] = [];
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

    // Each contender gets the same sagas (same ids, its own keys under its own prefix) and its own update copies.
    // Only in the codecs the targets compare: the contenders write JSON whatever the codec, and a third round of them
    // would add a minute to a full run and tell nothing new.
    if (TARGET_CODECS.includes(codec) && args.ops.some((op) => CONTENDER_OPS.includes(op))) {
      for (const source of sources) {
        if (source.unavailable) continue;
        const keyPrefix = `${prefix}${source.name}:${source.oneSlot && redis instanceof Cluster ? "{c}:" : ""}`;
        try {
          const contender = await source.open(redis, keyPrefix);
          opened.push(contender);
          await Promise.all(readStates.map((state) => contender.insert(SAGA_NAME, state.orderId, state)));
          const copies = updateStates.map((state) => withIds(template, state.metadata.sagaId, state.orderId));
          await Promise.all(copies.map((state) => contender.insert(SAGA_NAME, state.orderId, state)));
          if (!(await contender.findById(SAGA_NAME, readStates[0]!.metadata.sagaId))) throw new Error("findById of a saga it inserted found nothing");
          setups.push({ contender, updateStates: copies, updateVersions: copies.map(() => 0) });
        } catch (error) {
          out.notes.push({ contender: source.name, codec, reason: `setup failed: ${(error as Error)?.message ?? String(error)}` });
          log(`  ${codec.padEnd(9)} ${source.name}: setup failed, left out: ${(error as Error)?.message}`);
        }
      }
    }

    let attempt = 0;
    for (const concurrency of CONCURRENCIES) {
      const plan = planFor(concurrency, args.quick);
      for (const opName of args.ops) {
        const contenderOp = (setup: ContenderSetup): Op => {
          const { contender } = setup;
          const name = contender.name;
          switch (opName) {
            case "insert":
              return async (i) => {
                try {
                  await contender.insert(SAGA_NAME, insertStates[i]!.orderId, insertStates[i]!);
                } catch (error) {
                  throw new ContenderFailure(name, error);
                }
              };
            case "findByCorrelationId":
              return async (i) => {
                try {
                  nonNull(await contender.findByCorrelationId(SAGA_NAME, readStates[i % READ_POOL]!.orderId));
                } catch (error) {
                  throw new ContenderFailure(name, error);
                }
              };
            case "findById":
              return async (i) => {
                try {
                  nonNull(await contender.findById(SAGA_NAME, readStates[i % READ_POOL]!.metadata.sagaId));
                } catch (error) {
                  throw new ContenderFailure(name, error);
                }
              };
            case "update":
              return async (_i, w) => {
                try {
                  const state = setup.updateStates[w]!;
                  const expected = setup.updateVersions[w]!;
                  state.metadata.version = expected + 1;
                  await contender.update(SAGA_NAME, state.orderId, state, expected);
                  setup.updateVersions[w] = expected + 1;
                } catch (error) {
                  throw new ContenderFailure(name, error);
                }
              };
            default:
              throw new Error(`no contender op for ${opName}`);
          }
        };

        // Fresh insert ids per attempt: a cell measured again after a contender failed must not insert a saga twice.
        let insertStates: OrderState[] = [];
        let insertKeys: string[] = [];
        let ours: Op;
        let raw: Op;
        switch (opName) {
          case "insert":
            ours = (i) => store.insert(SAGA_NAME, insertStates[i]!.orderId, insertStates[i]!);
            raw = (i) => redis.set(insertKeys[i]!, bytes);
            break;
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

        let active = CONTENDER_OPS.includes(opName) ? [...setups] : [];
        let results: SideResult[] | undefined;
        while (!results) {
          if (opName === "insert") {
            const n = indexesNeeded(plan);
            const tag = `c${concurrency}-a${attempt++}`;
            insertStates = Array.from({ length: n }, (_, i) => withIds(template, randomUUID(), `ord-${tag}-${i}`));
            insertKeys = Array.from({ length: n }, (_, i) => rawKey(`insert:${tag}:${i}`));
          }
          try {
            results = await measureSides(plan, [ours, raw, ...active.map(contenderOp)]);
          } catch (error) {
            if (!(error instanceof ContenderFailure)) throw error;
            out.notes.push({ contender: error.contender, codec, reason: `${opName} c=${concurrency} failed, left out of the rest of ${codec}: ${error.message}` });
            log(`  ${codec.padEnd(9)} c=${String(concurrency).padEnd(2)} ${opName}: ${error.message}; measuring again without ${error.contender}`);
            active = active.filter((setup) => setup.contender.name !== error.contender);
            setups.splice(setups.findIndex((setup) => setup.contender.name === error.contender), 1);
          }
        }
        const [oursResult, rawResult, ...contenderResults] = results as [SideResult, SideResult, ...SideResult[]];
        const row: HumanRow = {
          op: opName,
          codec,
          concurrency,
          opsPerSec: Math.round(oursResult.opsPerSec),
          p50us: round(oursResult.p50us, 1),
          p99us: round(oursResult.p99us, 1),
          baselineOp: BASELINE[opName],
          baselineOpsPerSec: Math.round(rawResult.opsPerSec),
          ratio: round(oursResult.opsPerSec / rawResult.opsPerSec, 3),
          cpuUsPerOp: round(oursResult.cpuUsPerOp, 2),
          baselineCpuUsPerOp: round(rawResult.cpuUsPerOp, 2),
          cpuAddedUsPerOp: round(oursResult.cpuUsPerOp - rawResult.cpuUsPerOp, 2),
          baselineP50us: round(rawResult.p50us, 1),
          baselineP99us: round(rawResult.p99us, 1),
        };
        out.rows.push(row);
        let line = `  ${codec.padEnd(9)} c=${String(concurrency).padEnd(2)} ${opName.padEnd(19)} ${fmtInt(row.opsPerSec).padStart(7)} ops/s vs raw ${row.baselineOp} ${fmtInt(row.baselineOpsPerSec).padStart(7)}  ratio ${row.ratio.toFixed(2)}  cpu ${row.cpuUsPerOp.toFixed(1)} vs ${row.baselineCpuUsPerOp.toFixed(1)} µs/op`;
        active.forEach((setup, k) => {
          const result = contenderResults[k]!;
          const contenderRow: ContenderRow = {
            contender: setup.contender.name,
            op: opName,
            codec,
            concurrency,
            opsPerSec: Math.round(result.opsPerSec),
            p50us: round(result.p50us, 1),
            p99us: round(result.p99us, 1),
            cpuUsPerOp: round(result.cpuUsPerOp, 2),
            cpuAddedUsPerOp: round(result.cpuUsPerOp - rawResult.cpuUsPerOp, 2),
            oursOpsPerSec: row.opsPerSec,
            oursCpuUsPerOp: row.cpuUsPerOp,
            ratio: round(oursResult.opsPerSec / result.opsPerSec, 3),
          };
          out.contenders.push(contenderRow);
          line += `  | ${contenderRow.contender} ${fmtInt(contenderRow.opsPerSec)} ops/s (ours ×${contenderRow.ratio.toFixed(2)})`;
        });
        log(line);
      }
    }
    return bytes.length;
  } finally {
    await store.close();
    await Promise.all(opened.map((contender) => contender.close()));
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

export interface TargetCheck {
  label: string;
  /** null: nothing to compare (the contender could not be measured). */
  achieved: number | null;
  unit: "µs" | "×";
  /** null: reported without a target. */
  target: number | null;
  comparison: "<=" | ">=";
  status: "PASS" | "MISS" | "n/a" | "info";
  note?: string;
}

function check(label: string, achieved: number | null, unit: TargetCheck["unit"], comparison: TargetCheck["comparison"], target: number | null, note?: string): TargetCheck {
  const status: TargetCheck["status"] =
    achieved === null ? "n/a" : target === null ? "info" : (comparison === "<=" ? achieved <= target : achieved >= target) ? "PASS" : "MISS";
  return { label, achieved, unit, target, comparison, status, ...(note ? { note } : {}) };
}

interface Results {
  rows: Row[];
  contenders: ContenderRow[];
  notes: ContenderNote[];
  bytes: Partial<Record<CodecName, number>>;
  registry: RegistryRow[];
  telemetry: TelemetryRow[];
  encryption: EncryptionRow[];
  scale: ScaleRow[];
}

function checkTargets(results: Results, sources: ContenderSource[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const at64 = (codec: CodecName, op: OpName) => results.rows.find((r) => r.codec === codec && r.op === op && r.concurrency === 64);
  for (const codec of TARGET_CODECS) {
    for (const [op, target] of Object.entries(ADDED_CPU_TARGETS_US) as [OpName, number][]) {
      const row = at64(codec, op);
      if (row) checks.push(check(`${op} ${codec}: Node CPU added over raw ${row.baselineOp}`, row.cpuAddedUsPerOp, "µs", "<=", target));
    }
  }
  for (const source of sources) {
    const targets = CONTENDER_TARGETS[source.name] ?? {};
    for (const codec of TARGET_CODECS) {
      for (const op of CONTENDER_OPS) {
        if (!at64(codec, op)) continue;
        const target = targets[op] ?? null;
        const label = `${op} ${codec}: ops/s vs ${source.name}`;
        const row = results.contenders.find((r) => r.contender === source.name && r.codec === codec && r.op === op && r.concurrency === 64);
        if (row) checks.push(check(label, row.ratio, "×", ">=", target));
        else {
          const note = results.notes.find((n) => n.contender === source.name && (n.codec === undefined || n.codec === codec));
          checks.push(check(label, null, "×", ">=", target, `${source.name} not measured: ${note?.reason ?? source.unavailable ?? "unknown"}`));
        }
      }
    }
  }
  if (results.bytes.json && results.bytes.msgpack) {
    checks.push(check("msgpack bytes vs json bytes", round(results.bytes.msgpack / results.bytes.json, 3), "×", "<=", MSGPACK_BYTES_TARGET));
  }
  for (const r of results.encryption) {
    if (r.concurrency === 64 || r.engine === "memory") {
      checks.push(check(`encryption ${r.op} (${r.engine}, c=${r.concurrency}): Node CPU added`, r.addedCpuUsPerOp, "µs", "<=", ENCRYPTION_ADDED_US_TARGET));
    }
  }
  for (const r of results.registry) {
    if (r.concurrency === 64) checks.push(check(`registry ${r.adds}: Node CPU added`, r.addedCpuUsPerOp, "µs", "<=", REGISTRY_ADDED_US_TARGET));
  }
  for (const r of results.scale) {
    checks.push(check(`${r.op} ${r.codec}: Node CPU after ${fmtInt(r.sagasBetween)} sagas vs fresh`, r.ratio, "×", "<=", SCALE_TARGET));
  }
  for (const r of results.scale) {
    checks.push(check(`${r.op} ${r.codec}: Node CPU after the fill vs a new store beside it`, r.besideRatio, "×", "<=", null));
  }
  return checks;
}

function formatCheck(c: TargetCheck): [string, string, string, string] {
  const digits = c.unit === "µs" ? 2 : c.label.includes("bytes") ? 3 : 2;
  const achieved = c.achieved === null ? "-" : `${c.achieved.toFixed(digits)}${c.unit === "µs" ? " µs" : "×"}`;
  const needed = c.target === null ? "no target" : `${c.comparison} ${c.target}${c.unit === "µs" ? " µs" : "×"}`;
  return [c.label, achieved, needed, c.status];
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

    const sources = await contenderSources(args);
    const notes: ContenderNote[] = [];
    for (const source of sources) {
      if (source.unavailable) {
        notes.push({ contender: source.name, reason: source.unavailable });
        log(`${source.name}: ${source.unavailable}; its rows are left out`);
      }
    }
    const humanRows: HumanRow[] = [];
    const contenders: ContenderRow[] = [];
    const bytes: Partial<Record<CodecName, number>> = {};
    for (const codec of args.codecs) bytes[codec] = await benchCodec(redis, runPrefix, codec, args, sources, { rows: humanRows, contenders, notes });
    // The feature cells share one plan per concurrency.
    const featurePlans = CONCURRENCIES.map((c) => planFor(c, args.quick));
    log("registry: upgrade on read and validation on save");
    const registryRows: RegistryRow[] = await benchRegistry(redis, runPrefix, featurePlans);
    let telemetryRows: TelemetryRow[] = [];
    if (!args.skipTelemetry) {
      log("telemetry: no subscriber, a no-op subscriber on every channel, instrumentSagaStore with the OpenTelemetry SDK");
      telemetryRows = await benchTelemetry(redis, runPrefix, featurePlans);
    }
    let encryptionRows: EncryptionRow[] = [];
    if (!args.skipEncryption) {
      log("encryption: AES-256-GCM reads and updates beside the same without a key ring");
      encryptionRows = await benchEncryption(redis, runPrefix, featurePlans);
    }
    let scaleRows: ScaleRow[] = [];
    if (args.scaleSagas > 0) {
      const codec: CodecName = args.codecs.includes("json") ? "json" : args.codecs[0]!;
      const plan = scalePlanFor(args);
      log(`scale: ${codec} insert and first read, fresh and after ${fmtInt(plan.sagas)} distinct sagas (c=${plan.cell.concurrency})`);
      const prefix = `${runPrefix}scale:`;
      try {
        scaleRows = await benchScale(redis, prefix, codec, plan, log);
      } finally {
        await deleteByPrefix(redis, prefix);
      }
      for (const r of scaleRows) {
        log(
          `  ${r.op.padEnd(25)} cpu ${r.freshCpuUsPerOp.toFixed(1)} → ${r.afterCpuUsPerOp.toFixed(1)} µs/op (×${r.ratio.toFixed(2)}; new store beside ${r.besideCpuUsPerOp.toFixed(1)}, ×${r.besideRatio.toFixed(2)}); raw ${r.freshRawCpuUsPerOp.toFixed(1)} → ${r.afterRawCpuUsPerOp.toFixed(1)}`,
        );
      }
    }
    const rows = humanRows.map(({ baselineP50us: _p50, baselineP99us: _p99, ...row }): Row => row);
    const results: Results = { rows, contenders, notes, bytes, registry: registryRows, telemetry: telemetryRows, encryption: encryptionRows, scale: scaleRows };
    const checks = checkTargets(results, sources);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);

    if (args.json) {
      process.stdout.write(JSON.stringify({ context, ...results, targets: checks }) + "\n");
      for (const c of checks) {
        const [label, achieved, needed, status] = formatCheck(c);
        log(`target ${status.padEnd(4)} ${label}: ${achieved} (${needed})${c.note ? ` ${c.note}` : ""}`);
      }
      log(`done in ${seconds} s`);
      return;
    }

    const out: string[] = [];
    out.push(`@saga-bus/store-redis benchmark: ${context}`);
    out.push(
      `State: saga-bus order, ${JSON.stringify(orderState(randomUUID(), "ord-00000000")).length} bytes as JSON; one ioredis ${cluster ? "Cluster client" : "connection"}; ratio = ours / raw ops/s; +cpu = Node CPU per op over raw's`,
    );
    out.push("");
    out.push(
      table(
        ["op", "codec", "c", "ours ops/s", "p50 µs", "p99 µs", "cpu µs", "raw", "raw ops/s", "raw p50", "raw p99", "raw cpu", "ratio", "+cpu µs"],
        humanRows.map((r) => [
          r.op,
          r.codec,
          String(r.concurrency),
          fmtInt(r.opsPerSec),
          r.p50us.toFixed(1),
          r.p99us.toFixed(1),
          r.cpuUsPerOp.toFixed(2),
          r.baselineOp,
          fmtInt(r.baselineOpsPerSec),
          r.baselineP50us.toFixed(1),
          r.baselineP99us.toFixed(1),
          r.baselineCpuUsPerOp.toFixed(2),
          r.ratio.toFixed(2),
          r.cpuAddedUsPerOp.toFixed(2),
        ]),
        [false, false, true, true, true, true, true, false, true, true, true, true, true, true],
      ),
    );
    if (sources.length > 0) {
      out.push("");
      out.push("Contenders, measured in the same cells as ours (same connection; they always write JSON; ours = ours ops/s ÷ theirs)");
      out.push(
        table(
          ["contender", "op", "ours codec", "c", "ops/s", "p50 µs", "p99 µs", "cpu µs", "+cpu µs", "ours ops/s", "ours cpu", "ours ×"],
          contenders.map((r) => [
            r.contender,
            r.op,
            r.codec,
            String(r.concurrency),
            fmtInt(r.opsPerSec),
            r.p50us.toFixed(1),
            r.p99us.toFixed(1),
            r.cpuUsPerOp.toFixed(2),
            r.cpuAddedUsPerOp.toFixed(2),
            fmtInt(r.oursOpsPerSec),
            r.oursCpuUsPerOp.toFixed(2),
            r.ratio.toFixed(2),
          ]),
          [false, false, false, true, true, true, true, true, true, true, true, true],
        ),
      );
      for (const n of notes) out.push(`${n.contender}${n.codec ? ` (${n.codec} cells)` : ""}: ${n.reason}`);
    }
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
    out.push("Registry (json codec; ratio = first case / second case ops/s; +cpu = Node CPU per op the first case adds)");
    out.push(
      table(
        ["case", "c", "ops/s", "p50 µs", "p99 µs", "cpu µs", "beside", "ops/s", "cpu µs", "ratio", "+cpu µs"],
        registryRows.map((r) => [
          r.case,
          String(r.concurrency),
          fmtInt(r.opsPerSec),
          r.p50us.toFixed(1),
          r.p99us.toFixed(1),
          r.cpuUsPerOp.toFixed(2),
          r.baselineCase,
          fmtInt(r.baselineOpsPerSec),
          r.baselineCpuUsPerOp.toFixed(2),
          r.ratio.toFixed(2),
          r.addedCpuUsPerOp.toFixed(2),
        ]),
        [false, true, true, true, true, true, false, true, true, true, true],
      ),
    );
    if (telemetryRows.length > 0) {
      out.push("");
      out.push("Diagnostics channels (json codec; +cpu = Node CPU per op over the same cell's no-subscriber side)");
      out.push(
        table(
          ["engine", "op", "c", "case", "ops/s", "cpu µs", "+cpu µs"],
          telemetryRows.map((r) => [r.engine, r.op, String(r.concurrency), r.case, fmtInt(r.opsPerSec), r.cpuUsPerOp.toFixed(2), r.addedCpuUsPerOp.toFixed(2)]),
          [false, false, true, false, true, true, true],
        ),
      );
    }
    if (encryptionRows.length > 0) {
      out.push("");
      out.push("Encryption (json codec, AES-256-GCM; +cpu = Node CPU per op over the same store without a key ring)");
      out.push(
        table(
          ["engine", "op", "c", "ops/s", "cpu µs", "plain ops/s", "plain cpu µs", "+cpu µs"],
          encryptionRows.map((r) => [r.engine, r.op, String(r.concurrency), fmtInt(r.opsPerSec), r.cpuUsPerOp.toFixed(2), fmtInt(r.plainOpsPerSec), r.plainCpuUsPerOp.toFixed(2), r.addedCpuUsPerOp.toFixed(2)]),
          [false, false, true, true, true, true, true, true],
        ),
      );
    }
    if (scaleRows.length > 0) {
      const first = scaleRows[0]!;
      out.push("");
      out.push(
        `After ${fmtInt(first.sagasBetween)} distinct sagas (${first.codec}, c=${first.concurrency}; one store measured fresh, then again after inserting them; ratio = after / fresh Node CPU per op; ` +
          "beside = a store opened after the fill, in the same cells as after)",
      );
      out.push(
        table(
          ["op", "fresh cpu µs", "after cpu µs", "ratio", "beside cpu µs", "after/beside", "raw fresh", "raw after", "fresh ops/s", "after ops/s", "fresh p99", "after p99"],
          scaleRows.map((r) => [
            r.op,
            r.freshCpuUsPerOp.toFixed(2),
            r.afterCpuUsPerOp.toFixed(2),
            r.ratio.toFixed(2),
            r.besideCpuUsPerOp.toFixed(2),
            r.besideRatio.toFixed(2),
            r.freshRawCpuUsPerOp.toFixed(2),
            r.afterRawCpuUsPerOp.toFixed(2),
            fmtInt(r.freshOpsPerSec),
            fmtInt(r.afterOpsPerSec),
            r.freshP99us.toFixed(1),
            r.afterP99us.toFixed(1),
          ]),
          [false, true, true, true, true, true, true, true, true, true, true, true],
        ),
      );
    }
    if (checks.length > 0) {
      out.push("");
      out.push("Targets (c=64)");
      out.push(table(["target", "achieved", "needed", "status"], checks.map(formatCheck), [false, true, true, false]));
      for (const c of checks) if (c.note) out.push(`  ${c.label}: ${c.note}`);
      const count = (status: TargetCheck["status"]) => checks.filter((c) => c.status === status).length;
      out.push(`${count("PASS")} PASS, ${count("MISS")} MISS${count("n/a") ? `, ${count("n/a")} n/a` : ""}`);
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
