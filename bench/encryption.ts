/**
 * Encryption's cost: the same reads and updates on a store with a key ring
 * (AES-256-GCM on every write and read) beside one without, same state,
 * alternating chunks. On Redis and on the embedded engine, where no round
 * trip hides the CPU.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { Cluster, Redis } from "ioredis";
import type { SagaStore } from "../src/index";
import { storePackage } from "./package-under-test";
import { measureSides, type CellPlan } from "./measure";
import { SAGA_NAME, orderState, withIds } from "./order-state";
import { seedWriters } from "./registry";

const { RedisSagaStore, InMemorySagaStore } = storePackage;

/** Most Node CPU per op that encryption may add, on a write and on a read. */
export const ENCRYPTION_ADDED_US_TARGET = 3;

export interface EncryptionRow {
  engine: "redis" | "memory";
  op: "findByCorrelationId" | "update";
  concurrency: number;
  opsPerSec: number;
  cpuUsPerOp: number;
  plainOpsPerSec: number;
  plainCpuUsPerOp: number;
  /** cpuUsPerOp - plainCpuUsPerOp. */
  addedCpuUsPerOp: number;
}

export async function benchEncryption(redis: Redis | Cluster, runPrefix: string, plans: CellPlan[]): Promise<EncryptionRow[]> {
  const encryption = { currentKeyId: "bench", keys: { bench: randomBytes(32) } };
  const template = orderState(randomUUID(), "ord-template");
  const pairs = [
    ["redis", (options: object) => new RedisSagaStore<any>({ ...options, redis, keyPrefix: `${runPrefix}encryption:${randomUUID().slice(0, 4)}:` })],
    ["memory", (options: object) => new InMemorySagaStore<any>(options)],
  ] as const;
  const rows: EncryptionRow[] = [];
  for (const [engine, open] of pairs) {
    const stores: SagaStore<any>[] = [open({ encryption }), open({})];
    const pool = Array.from({ length: 256 }, (_, k) => `ord-enc-${k}`);
    for (const store of stores) {
      await store.initialize();
      await Promise.all(pool.map((id) => store.insert(SAGA_NAME, id, withIds(template, randomUUID(), id))));
    }
    for (const plan of engine === "memory" ? plans.filter((p) => p.concurrency === 1) : plans) {
      const c = plan.concurrency;
      const reads = await measureSides(
        plan,
        stores.map((store) => async (i: number) => {
          if (!(await store.findByCorrelationId(SAGA_NAME, pool[i % pool.length]!))) throw new Error("encryption bench: a seeded saga is missing");
        }),
      );
      rows.push(row(engine, "findByCorrelationId", c, reads));
      const writers = await Promise.all(stores.map((store) => seedWriters(store, template, `ord-enc-w-${c}`, c)));
      const updates = await measureSides(
        plan,
        stores.map((store, k) => async (_i: number, w: number) => {
          const state = writers[k]![w]!;
          await store.update(SAGA_NAME, state, state.metadata.version);
          state.metadata.version++;
        }),
      );
      rows.push(row(engine, "update", c, updates));
    }
    await Promise.all(stores.map((store) => store.close()));
  }
  return rows;
}

function row(engine: EncryptionRow["engine"], op: EncryptionRow["op"], concurrency: number, [encrypted, plain]: { opsPerSec: number; cpuUsPerOp: number }[]): EncryptionRow {
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    engine,
    op,
    concurrency,
    opsPerSec: Math.round(encrypted!.opsPerSec),
    cpuUsPerOp: round(encrypted!.cpuUsPerOp),
    plainOpsPerSec: Math.round(plain!.opsPerSec),
    plainCpuUsPerOp: round(plain!.cpuUsPerOp),
    addedCpuUsPerOp: round(encrypted!.cpuUsPerOp - plain!.cpuUsPerOp),
  };
}
