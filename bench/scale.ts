/**
 * Whether the store slows down as it accumulates history: one store is
 * measured fresh (insert, and a first findByCorrelationId of sagas it has
 * never read), then fills up with many distinct sagas, then is measured the
 * same way again. Its bounded caches are full by then; what they cost to keep
 * full (eviction, a larger heap to mark) shows as Node CPU per operation.
 * The sagas read are written beforehand by another store instance, so the
 * measured store has never seen them.
 *
 * The two measurements are minutes apart, so outside load can move them: the
 * later one also runs a store opened just then, interleaved in the same
 * cells. That comparison is immune to drift but blind to state shared by the
 * whole process (module-level caches), which the first one sees.
 */
import { randomUUID } from "node:crypto";
import type { Cluster, Redis } from "ioredis";
import { EnvelopeSerializer } from "../codecs/serializer";
import type { BuiltInCodecName, RedisSagaStore as Store } from "../src/index";
import { storePackage } from "./package-under-test";
import { drive, indexesNeeded, measureSides, type CellPlan, type SideResult } from "./measure";
import { SAGA_NAME, orderState, withIds, type OrderState } from "./order-state";

const { RedisSagaStore } = storePackage;

export interface ScaleRow {
  op: "insert" | "first findByCorrelationId";
  codec: BuiltInCodecName;
  concurrency: number;
  /** Distinct sagas the store inserted between the two measurements. */
  sagasBetween: number;
  freshCpuUsPerOp: number;
  afterCpuUsPerOp: number;
  /** after ÷ fresh Node CPU per op. */
  ratio: number;
  /** A store opened after the fill, measured in the same cells as `after`. */
  besideCpuUsPerOp: number;
  /** after ÷ beside Node CPU per op. */
  besideRatio: number;
  /** The raw baseline (SET / GET) measured in the same cells: if it moved too, the machine did. */
  freshRawCpuUsPerOp: number;
  afterRawCpuUsPerOp: number;
  freshOpsPerSec: number;
  afterOpsPerSec: number;
  freshP99us: number;
  afterP99us: number;
}

export interface ScalePlan {
  cell: CellPlan;
  /** Sagas inserted between the fresh and the later measurement. */
  sagas: number;
}

/** The keys are left under `prefix` for the caller to delete. */
export async function benchScale(
  redis: Redis | Cluster,
  prefix: string,
  codec: BuiltInCodecName,
  plan: ScalePlan,
  log: (message: string) => void,
): Promise<ScaleRow[]> {
  const { cell } = plan;
  const template = orderState(randomUUID(), "ord-template");
  const bytes = new EnvelopeSerializer({ codec }).encode(SAGA_NAME, template, { sagaId: template.metadata.sagaId, sagaVersion: 0, schemaVersion: 1 });
  const perSide = indexesNeeded(cell);
  const readPool = (phase: string) => Array.from({ length: perSide }, (_, k) => withIds(template, randomUUID(), `ord-${phase}-read-${k}`));
  const pools = { fresh: readPool("fresh"), after: readPool("after"), beside: readPool("beside") };
  const rawReadKeys = Array.from({ length: 256 }, (_, k) => `${prefix}raw:read:${k}`);

  const seeder = new RedisSagaStore({ redis, keyPrefix: prefix, codec });
  await seeder.initialize();
  try {
    for (const pool of [pools.fresh, pools.after, pools.beside]) await drive(cell.concurrency, pool.length, (i) => seeder.insert(SAGA_NAME, pool[i]!.orderId, pool[i]!));
    await Promise.all(rawReadKeys.map((key) => redis.set(key, bytes)));
  } finally {
    await seeder.close();
  }

  const store = new RedisSagaStore({ redis, keyPrefix: prefix, codec });
  await store.initialize();
  let beside: Store | undefined;
  /** Sides: the store, raw, and (after the fill) the store opened beside it. */
  const measure = async (phase: "fresh" | "after", other?: Store) => {
    const stores = other ? [store, other] : [store];
    const states = stores.map((_, s) => Array.from({ length: perSide }, (_, i) => withIds(template, randomUUID(), `ord-${phase}-${s}-insert-${i}`)));
    const insert = await measureSides(cell, [
      (i) => store.insert(SAGA_NAME, states[0]![i]!.orderId, states[0]![i]!),
      (i) => redis.set(`${prefix}raw:${phase}:${i}`, bytes),
      ...(other ? [(i: number) => other.insert(SAGA_NAME, states[1]![i]!.orderId, states[1]![i]!)] : []),
    ]);
    const pool: OrderState[] = pools[phase];
    const otherPool: OrderState[] = pools.beside;
    const read = await measureSides(cell, [
      async (i) => nonNull(await store.findByCorrelationId(SAGA_NAME, pool[i]!.orderId)),
      async (i) => nonNull(await redis.getBuffer(rawReadKeys[i % rawReadKeys.length]!)),
      ...(other ? [async (i: number) => nonNull(await other.findByCorrelationId(SAGA_NAME, otherPool[i]!.orderId))] : []),
    ]);
    return { insert, read };
  };
  try {
    const fresh = await measure("fresh");
    const started = Date.now();
    await drive(cell.concurrency, plan.sagas, (i) => {
      const state = withIds(template, randomUUID(), `ord-fill-${i}`);
      return store.insert(SAGA_NAME, state.orderId, state);
    });
    log(`  inserted ${plan.sagas.toLocaleString("en-US")} sagas in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    beside = new RedisSagaStore({ redis, keyPrefix: prefix, codec });
    await beside.initialize();
    const after = await measure("after", beside);
    return [
      row("insert", codec, plan, fresh.insert, after.insert),
      row("first findByCorrelationId", codec, plan, fresh.read, after.read),
    ];
  } finally {
    await store.close();
    await beside?.close();
  }
}

/** Cell sides: [store, raw] fresh; [store, raw, beside] after. */
function row(op: ScaleRow["op"], codec: BuiltInCodecName, plan: ScalePlan, [fresh, freshRaw]: SideResult[], [after, afterRaw, beside]: SideResult[]): ScaleRow {
  const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;
  return {
    op,
    codec,
    concurrency: plan.cell.concurrency,
    sagasBetween: plan.sagas,
    freshCpuUsPerOp: round(fresh!.cpuUsPerOp, 2),
    afterCpuUsPerOp: round(after!.cpuUsPerOp, 2),
    ratio: round(after!.cpuUsPerOp / fresh!.cpuUsPerOp, 3),
    besideCpuUsPerOp: round(beside!.cpuUsPerOp, 2),
    besideRatio: round(after!.cpuUsPerOp / beside!.cpuUsPerOp, 3),
    freshRawCpuUsPerOp: round(freshRaw!.cpuUsPerOp, 2),
    afterRawCpuUsPerOp: round(afterRaw!.cpuUsPerOp, 2),
    freshOpsPerSec: Math.round(fresh!.opsPerSec),
    afterOpsPerSec: Math.round(after!.opsPerSec),
    freshP99us: round(fresh!.p99us, 1),
    afterP99us: round(after!.p99us, 1),
  };
}

function nonNull(value: unknown): void {
  if (value === null || value === undefined) throw new Error("scale benchmark read returned nothing: its setup is broken");
}
