/**
 * The diagnostics channels' cost: the same store calls with no subscriber,
 * with a subscriber that does nothing on every channel, and with
 * instrumentSagaStore() feeding the OpenTelemetry SDK (spans through a
 * SimpleSpanProcessor to an exporter that drops them, metrics into a reader
 * never collected; no context manager registered, so context.with is free).
 * Subscriptions are global to the process, so each side subscribes around
 * its own chunks (SideWithSetup). On Redis and on the embedded engine, where
 * no round trip hides the CPU.
 */
import { randomUUID } from "node:crypto";
import { subscribe, tracingChannel, unsubscribe } from "node:diagnostics_channel";
import type { Cluster, Redis } from "ioredis";
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { otelPackage, storePackage } from "./package-under-test";
import { measureSides, type CellPlan, type Op, type SideWithSetup } from "./measure";
import { SAGA_NAME, orderState, withIds } from "./order-state";
import { seedWriters } from "./registry";

const { RedisSagaStore, InMemorySagaStore, CHANNEL_PREFIX, STORE_EVENTS, TRACED_OPERATIONS } = storePackage;
const { instrumentSagaStore } = otelPackage;

export const TELEMETRY_CASES = ["no subscriber", "no-op subscriber on every channel", "instrumentSagaStore + OpenTelemetry SDK"] as const;
export type TelemetryCase = (typeof TELEMETRY_CASES)[number];

export interface TelemetryRow {
  engine: "redis" | "memory";
  op: "findByCorrelationId" | "update";
  concurrency: number;
  case: TelemetryCase;
  opsPerSec: number;
  cpuUsPerOp: number;
  /** cpuUsPerOp minus the no-subscriber side's, same cell. */
  addedCpuUsPerOp: number;
}

/** Subscribe handlers that do nothing to every channel of the store; returns the undo. */
function subscribeNoOps(): () => void {
  const noop = () => {};
  const handlers = { start: noop, end: noop, asyncStart: noop, asyncEnd: noop, error: noop };
  for (const operation of TRACED_OPERATIONS) tracingChannel(CHANNEL_PREFIX + operation).subscribe(handlers);
  for (const event of STORE_EVENTS) subscribe(CHANNEL_PREFIX + event, noop);
  return () => {
    for (const operation of TRACED_OPERATIONS) tracingChannel(CHANNEL_PREFIX + operation).unsubscribe(handlers);
    for (const event of STORE_EVENTS) unsubscribe(CHANNEL_PREFIX + event, noop);
  };
}

class UncollectedReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

const droppingExporter: SpanExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: async () => {},
};

/** The three sides of a cell around one op. */
function sides(op: Op): (Op | SideWithSetup)[] {
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(droppingExporter)] });
  const meterProvider = new MeterProvider({ readers: [new UncollectedReader()] });
  let undo: (() => void) | undefined;
  const around = (subscribeAll: () => () => void): SideWithSetup => ({
    op,
    enter: () => {
      undo = subscribeAll();
    },
    leave: () => undo?.(),
  });
  return [op, around(subscribeNoOps), around(() => instrumentSagaStore({ tracerProvider, meterProvider }))];
}

export async function benchTelemetry(redis: Redis | Cluster, runPrefix: string, plans: CellPlan[]): Promise<TelemetryRow[]> {
  const rows: TelemetryRow[] = [];
  const template = orderState(randomUUID(), "ord-template");
  const engines = [
    ["redis", new RedisSagaStore<any>({ redis, keyPrefix: `${runPrefix}telemetry:` })],
    ["memory", new InMemorySagaStore<any>()],
  ] as const;
  for (const [engine, store] of engines) {
    await store.initialize();
    const pool = Array.from({ length: 256 }, (_, k) => `ord-tel-${k}`);
    await Promise.all(pool.map((id) => store.insert(SAGA_NAME, id, withIds(template, randomUUID(), id))));
    // The embedded engine has no round trip to overlap: one caller measures it.
    for (const plan of engine === "memory" ? plans.filter((p) => p.concurrency === 1) : plans) {
      const c = plan.concurrency;
      const find = await measureSides(
        plan,
        sides(async (i) => {
          if (!(await store.findByCorrelationId(SAGA_NAME, pool[i % pool.length]!))) throw new Error("telemetry bench: a seeded saga is missing");
        }),
      );
      rows.push(...toRows(engine, "findByCorrelationId", c, find));
      const writers = await seedWriters(store, template, `ord-tel-w-${c}`, c);
      const update = await measureSides(
        plan,
        sides(async (_i, w) => {
          const state = writers[w]!;
          await store.update(SAGA_NAME, state, state.metadata.version);
          state.metadata.version++;
        }),
      );
      rows.push(...toRows(engine, "update", c, update));
    }
    await store.close();
  }
  return rows;
}

function toRows(engine: TelemetryRow["engine"], op: TelemetryRow["op"], concurrency: number, results: { opsPerSec: number; cpuUsPerOp: number }[]): TelemetryRow[] {
  const round = (n: number) => Math.round(n * 100) / 100;
  return results.map((result, k) => ({
    engine,
    op,
    concurrency,
    case: TELEMETRY_CASES[k]!,
    opsPerSec: Math.round(result.opsPerSec),
    cpuUsPerOp: round(result.cpuUsPerOp),
    addedCpuUsPerOp: round(result.cpuUsPerOp - results[0]!.cpuUsPerOp),
  }));
}
