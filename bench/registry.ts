/**
 * The registry's cost: on the same connection and server, a
 * findByCorrelationId of a v1 state read as v3 (two upgrade steps, each
 * validated) beside a read of a state already at v3, and a save validated by
 * the registry beside the same save without one. The cost is the Node CPU
 * per operation one side adds over the other: a throughput ratio would hide
 * it behind the round trip both sides share.
 */
import { randomUUID } from "node:crypto";
import type { Cluster, Redis } from "ioredis";
import { z } from "zod";
import type { SagaStore as Store, SagaRegistry } from "../src/index";
import { storePackage } from "./package-under-test";

const { RedisSagaStore, createSagaRegistry, defineSaga } = storePackage;
import { measureCell, type CellPlan } from "./measure";
import { SAGA_NAME, orderState, withIds, type OrderState } from "./order-state";

const Line = z.object({ sku: z.string(), qty: z.number().int().positive(), price: z.number().nonnegative() });
const AddressV1 = z.object({ name: z.string(), line1: z.string(), city: z.string(), postalCode: z.string(), country: z.string().length(2) });
const Totals = z.object({ subtotal: z.number(), shipping: z.number(), tax: z.number(), discount: z.number(), grandTotal: z.number() });
const OrderV1 = z.object({ orderId: z.string(), customerId: z.string(), status: z.string(), items: z.array(Line), shippingAddress: AddressV1, totals: Totals });
const OrderV2 = OrderV1.extend({ currency: z.string().length(3) });
const OrderV3 = OrderV2.extend({ shippingAddress: AddressV1.extend({ line2: z.string() }) });

export const v1Only = defineSaga(SAGA_NAME, OrderV1);
export const v1ToV3 = defineSaga(SAGA_NAME, OrderV1)
  .version(2, OrderV2, { upgrade: (v1) => ({ ...v1, currency: "EUR" }) })
  .version(3, OrderV3, { upgrade: (v2) => ({ ...v2, shippingAddress: { ...v2.shippingAddress, line2: "" } }) });

export interface RegistryRow {
  op: "findByCorrelationId" | "save";
  case: string;
  concurrency: number;
  opsPerSec: number;
  p50us: number;
  p99us: number;
  baselineCase: string;
  baselineOpsPerSec: number;
  ratio: number;
  cpuUsPerOp: number;
  baselineCpuUsPerOp: number;
  /** What this case costs on top of the one beside it: cpuUsPerOp - baselineCpuUsPerOp. */
  addedCpuUsPerOp: number;
  /** What the added cost is: the upgrade, or validation. */
  adds: "v1→v3 upgrade" | "validation on read" | "validation on save";
}

/** Most Node CPU per operation that validation, or a v1→v3 upgrade, may add. */
export const REGISTRY_ADDED_US_TARGET = 2;

export async function benchRegistry(redis: Redis | Cluster, runPrefix: string, plans: CellPlan[]): Promise<RegistryRow[]> {
  const prefix = `${runPrefix}registry:`;
  // Typed loosely: the benchmark hands the same OrderState objects to every store.
  const open = async (registry?: SagaRegistry<any>) => {
    const store = new RedisSagaStore<any>({ redis, keyPrefix: prefix, registry });
    await store.initialize();
    return store;
  };
  const oldWriter = await open(createSagaRegistry([v1Only]));
  const reader = await open(createSagaRegistry([v1ToV3]));
  const plain = await open();

  const template = orderState(randomUUID(), "ord-template");
  const pool = 256;
  const v1Ids = Array.from({ length: pool }, (_, k) => `ord-v1-${k}`);
  const v3Ids = Array.from({ length: pool }, (_, k) => `ord-v3-${k}`);
  await Promise.all(v1Ids.map((id) => oldWriter.insert(SAGA_NAME, id, withIds(template, randomUUID(), id))));
  await Promise.all(v3Ids.map((id) => reader.insert(SAGA_NAME, id, withIds(template, randomUUID(), id))));
  const check = (state: unknown) => {
    if (!state || (state as OrderState).currency !== "EUR") throw new Error("registry benchmark read the wrong state: its setup is broken");
  };
  check(await reader.findByCorrelationId(SAGA_NAME, v1Ids[0]!));

  const rows: RegistryRow[] = [];
  for (const plan of plans) {
    const c = plan.concurrency;
    const find = await measureCell(
      plan,
      async (i) => check(await reader.findByCorrelationId(SAGA_NAME, v1Ids[i % pool]!)),
      async (i) => check(await reader.findByCorrelationId(SAGA_NAME, v3Ids[i % pool]!)),
    );
    rows.push(row("findByCorrelationId", "v1 read as v3 (2 upgrades + validation)", c, find, "v3 read as v3 (validation)", "v1→v3 upgrade"));

    const validated = await measureCell(
      plan,
      async (i) => check(await reader.findByCorrelationId(SAGA_NAME, v3Ids[i % pool]!)),
      async (i) => check(await plain.findByCorrelationId(SAGA_NAME, v3Ids[i % pool]!)),
    );
    rows.push(row("findByCorrelationId", "v3 read with validation", c, validated, "same read without a registry", "validation on read"));

    // Saves: one saga per worker on each side, so nothing conflicts.
    const withRegistry = await seedWriters(reader, template, `ord-save-r-${c}`, c);
    const withoutRegistry = await seedWriters(plain, template, `ord-save-p-${c}`, c);
    const save = await measureCell(
      plan,
      async (_i, w) => (withRegistry[w] = await reader.save(SAGA_NAME, withRegistry[w]!)),
      async (_i, w) => (withoutRegistry[w] = await plain.save(SAGA_NAME, withoutRegistry[w]!)),
    );
    rows.push(row("save", "save with validation", c, save, "save without a registry", "validation on save"));
  }
  await Promise.all([oldWriter.close(), reader.close(), plain.close()]);
  return rows;
}

/** One saga per worker, inserted at version 0: each worker saves its own, so nothing conflicts. */
export async function seedWriters(store: Store<any>, template: OrderState, prefix: string, count: number): Promise<OrderState[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, w) => {
      const id = `${prefix}-${w}`;
      const state = { ...withIds(template, randomUUID(), id), correlationId: id };
      await store.insert(SAGA_NAME, id, state);
      return state as OrderState;
    }),
  );
}

function row(
  op: RegistryRow["op"],
  name: string,
  concurrency: number,
  result: Awaited<ReturnType<typeof measureCell>>,
  baselineCase: string,
  adds: RegistryRow["adds"],
): RegistryRow {
  const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;
  return {
    op,
    case: name,
    concurrency,
    opsPerSec: Math.round(result.ours.opsPerSec),
    p50us: round(result.ours.p50us, 1),
    p99us: round(result.ours.p99us, 1),
    baselineCase,
    baselineOpsPerSec: Math.round(result.raw.opsPerSec),
    ratio: round(result.ours.opsPerSec / result.raw.opsPerSec, 3),
    cpuUsPerOp: round(result.ours.cpuUsPerOp, 2),
    baselineCpuUsPerOp: round(result.raw.cpuUsPerOp, 2),
    addedCpuUsPerOp: round(result.ours.cpuUsPerOp - result.raw.cpuUsPerOp, 2),
    adds,
  };
}
