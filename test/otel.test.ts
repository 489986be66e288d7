/**
 * @saga-bus/store-redis/otel with the real OpenTelemetry SDK: spans in an
 * in-memory span exporter, metrics through a metric reader, the async-hooks
 * context manager as a Node application registers it. On every engine.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { context, trace, SpanKind, SpanStatusCode, type Tracer } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { AggregationTemporality, MeterProvider, MetricReader, type DataPoint, type Histogram } from "@opentelemetry/sdk-metrics";
import { z } from "zod";
import { createSagaRegistry, defineSaga, type SagaStore } from "../src/index";
import { instrumentSagaStore } from "../src/otel/index";
import { clusterEngine, memoryEngine, openBeside, redisEngine, sagaBusState, type StoreHarness } from "./support/stores";
import { valueKeyOf } from "./support/key-layout";

const SAGA = "orders";

class TestMetricReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}

  /** Every data point of one instrument, by name. */
  async points(name: string): Promise<DataPoint<unknown>[]> {
    const { resourceMetrics } = await this.collect();
    return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics.filter((m) => m.descriptor.name === name).flatMap((m) => m.dataPoints as DataPoint<unknown>[]));
  }

  /** The summed value of a counter's points whose attributes include `where`. */
  async total(name: string, where: Record<string, unknown> = {}): Promise<number> {
    const points = await this.points(name);
    return points.filter((p) => Object.entries(where).every(([k, v]) => p.attributes[k] === v)).reduce((sum, p) => sum + (p.value as number), 0);
  }
}

const contextManager = new AsyncLocalStorageContextManager();
const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
let reader: TestMetricReader;
let meterProvider: MeterProvider;
let tracer: Tracer;
let stopInstrumenting: () => void;

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
  tracer = tracerProvider.getTracer("test");
});
afterAll(async () => {
  context.disable();
  await tracerProvider.shutdown();
});
beforeEach(() => {
  exporter.reset();
  reader = new TestMetricReader();
  meterProvider = new MeterProvider({ readers: [reader] });
  stopInstrumenting = instrumentSagaStore({ tracerProvider, meterProvider });
});
afterEach(async () => {
  stopInstrumenting();
  await meterProvider.shutdown();
});

const storeSpans = () => exporter.getFinishedSpans().filter((s) => s.instrumentationScope.name === "@saga-bus/store-redis");
const spansNamed = (name: string) => exporter.getFinishedSpans().filter((s) => s.name === name);
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

/** Run `work` inside a caller's span, as an application handler would. */
function underCallerSpan<T>(name: string, work: () => Promise<T>): Promise<{ result: T; spanId: string }> {
  return tracer.startActiveSpan(name, async (span) => {
    try {
      return { result: await work(), spanId: span.spanContext().spanId };
    } finally {
      span.end();
    }
  });
}

const harnesses: StoreHarness[] = [memoryEngine(), redisEngine(), clusterEngine()];
afterAll(() => Promise.all(harnesses.map((h) => h.closeAll())));

describe.each(harnesses.map((h) => [h.name, h] as const))("instrumentSagaStore on %s", (name, harness) => {
  const system = name === "memory" ? "memory" : "redis";
  let store: SagaStore;
  let prefix: string;
  beforeEach(async () => {
    ({ store, prefix } = await harness.open({ codec: "msgpack" }));
  });

  it("a store call is a CLIENT span, child of the caller's span, with the database conventions and the store's attributes", async () => {
    await store.insert(SAGA, "c-1", sagaBusState("s-1", { status: "new" }));
    const { spanId } = await underCallerSpan("handle message", () => store.findByCorrelationId(SAGA, "c-1"));
    const [span] = spansNamed("findByCorrelationId orders");
    expect(span).toBeDefined();
    expect(span!.kind).toBe(SpanKind.CLIENT);
    expect(parentOf(span!)).toBe(spanId);
    expect(span!.attributes).toEqual({
      "db.system.name": system,
      "db.operation.name": "findByCorrelationId",
      "saga_bus.saga.name": SAGA,
      "saga_bus.store.outcome": "found",
      "saga_bus.store.attempts": 1,
      "saga_bus.store.codec": "msgpack",
      "saga_bus.store.schema_version": 1,
      "saga_bus.saga.version": 0,
      "saga_bus.store.keys": [valueKeyOf(prefix, SAGA, "c-1")],
    });
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    expect(await reader.total("saga_bus.store.operations", { "db.operation.name": "findByCorrelationId", "saga_bus.store.outcome": "found" })).toBe(1);
    expect(await reader.total("saga_bus.store.operations", { "db.operation.name": "insert", "saga_bus.store.outcome": "written" })).toBe(1);
    const [duration] = (await reader.points("db.client.operation.duration")).filter((p) => p.attributes["db.operation.name"] === "findByCorrelationId");
    expect((duration!.value as Histogram).count).toBe(1);
    expect((duration!.value as Histogram).sum).toBeGreaterThan(0);
  });

  it("a failed call's span has error status, error.type set to the code, and the exception recorded", async () => {
    await store.insert(SAGA, "c-1", sagaBusState("s-1"));
    await expect(store.insert(SAGA, "c-1", sagaBusState("s-1"))).rejects.toMatchObject({ code: "SAGA_ALREADY_EXISTS" });
    const failed = spansNamed("insert orders").find((s) => s.status.code === SpanStatusCode.ERROR)!;
    expect(failed.attributes).toMatchObject({ "error.type": "SAGA_ALREADY_EXISTS", "saga_bus.store.outcome": "SAGA_ALREADY_EXISTS" });
    expect(failed.events.map((e) => e.name)).toEqual(["exception"]);
    expect(await reader.total("saga_bus.store.operations", { "db.operation.name": "insert", "error.type": "SAGA_ALREADY_EXISTS" })).toBe(1);
  });

  it("modify under a conflict: one span with a conflict and a retry event; each attempt's spans, and the store call that conflicts, are its children", async () => {
    await store.insert(SAGA, "c-1", sagaBusState("s-1", { n: 0 }));
    let attempt = 0;
    const { spanId: callerId } = await underCallerSpan("handle message", () =>
      store.modify(SAGA, "c-1", async (state: any) => {
        attempt++;
        return tracer.startActiveSpan(`apply ${attempt}`, async (span) => {
          // Another writer gets in first on the first attempt.
          if (attempt === 1) await store.update(SAGA, { ...state, n: 100 }, state.metadata.version);
          span.end();
          return { ...state, n: state.n + 1 };
        });
      }),
    );
    const [modify] = spansNamed("modify orders");
    expect(parentOf(modify!)).toBe(callerId);
    const modifyId = modify!.spanContext().spanId;
    expect(spansNamed("apply 1").map(parentOf)).toEqual([modifyId]);
    expect(spansNamed("apply 2").map(parentOf)).toEqual([modifyId]);
    // The conflicting update ran inside the first attempt's own span.
    expect(spansNamed("update orders").map(parentOf)).toEqual([spansNamed("apply 1")[0]!.spanContext().spanId]);
    expect(modify!.attributes).toMatchObject({ "saga_bus.store.attempts": 2, "saga_bus.store.outcome": "written", "saga_bus.saga.version": 2 });
    expect(modify!.events.map((e) => e.name)).toEqual(["conflict", "retry"]);
    expect(modify!.events[0]!.attributes).toEqual({ "saga_bus.conflict.expected_version": 0, "saga_bus.conflict.stored_version": 1 });
    expect(modify!.events[1]!.attributes).toMatchObject({ "saga_bus.retry.attempt": 2, "error.type": "SAGA_CONFLICT" });
    expect(await reader.total("saga_bus.store.conflicts", { "saga_bus.saga.name": SAGA, "db.operation.name": "modify" })).toBe(1);
    expect(await reader.total("saga_bus.store.retries", { "db.operation.name": "modify", "error.type": "SAGA_CONFLICT" })).toBe(1);
    expect(((await store.findByCorrelationId(SAGA, "c-1")) as any).n).toBe(101);
  });

  it("16 concurrent callers on one store: every modify span is the child of its own caller's span, and conflicts add up", async () => {
    await store.insert(SAGA, "counter", sagaBusState("s-counter", { n: 0 }));
    const busy = await openBeside(harness, { store, prefix }, { maxRetries: 50, retryDelayMs: 1, operationTimeoutMs: 30_000 });
    const callers = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        underCallerSpan(`caller ${i}`, () =>
          busy.modify(SAGA, "counter", (state: any) => {
            // The callback runs inside the modify span: the store's call becomes its child.
            const active = trace.getActiveSpan()!.spanContext().spanId;
            return { ...state, n: state.n + 1, lastBy: active };
          }),
        ),
      ),
    );
    const modifies = spansNamed("modify orders");
    expect(modifies).toHaveLength(16);
    const callerIds = new Set(callers.map((c) => c.spanId));
    expect(new Set(modifies.map(parentOf))).toEqual(callerIds);
    const lastWriter = ((await busy.findByCorrelationId(SAGA, "counter")) as any).lastBy;
    expect(modifies.map((s) => s.spanContext().spanId)).toContain(lastWriter);
    const retries = modifies.reduce((sum, s) => sum + (s.attributes["saga_bus.store.attempts"] as number) - 1, 0);
    expect(retries).toBeGreaterThan(0);
    expect(await reader.total("saga_bus.store.conflicts")).toBe(retries);
    expect(await reader.total("saga_bus.store.retries", { "error.type": "SAGA_CONFLICT" })).toBe(retries);
    expect(((await busy.findByCorrelationId(SAGA, "counter")) as any).n).toBe(16);
  });

  it("upgrades are counted by saga and from/to, and an upgraded event sits on the read's span", async () => {
    const Order = z.object({ status: z.string() });
    const writer = await openBeside(harness, { store, prefix }, { registry: createSagaRegistry([defineSaga(SAGA, Order)]) });
    await writer.insert(SAGA, "c-1", sagaBusState("s-1", { status: "new" }));
    const v3 = defineSaga(SAGA, Order)
      .version(2, Order.extend({ currency: z.string() }), { upgrade: (s) => ({ ...s, currency: "EUR" }) })
      .version(3, Order.extend({ currency: z.string(), note: z.string() }), { upgrade: (s) => ({ ...s, note: "" }) });
    const reader3 = await openBeside(harness, { store, prefix }, { registry: createSagaRegistry([v3]) });
    await reader3.findByCorrelationId(SAGA, "c-1");
    await reader3.findByCorrelationId(SAGA, "c-1");
    expect(await reader.total("saga_bus.store.upgrades", { "saga_bus.saga.name": SAGA, "saga_bus.schema.from": 1, "saga_bus.schema.to": 3 })).toBe(2);
    const reads = spansNamed("findByCorrelationId orders");
    expect(reads.map((s) => s.events.map((e) => [e.name, e.attributes]))).toEqual([
      [["upgraded", { "saga_bus.schema.from": 1, "saga_bus.schema.to": 3 }]],
      [["upgraded", { "saga_bus.schema.from": 1, "saga_bus.schema.to": 3 }]],
    ]);
  });

  it("operator runs are spans too; after unsubscribing no span or metric is produced", async () => {
    await store.insert(SAGA, "c-1", sagaBusState("s-1"));
    await store.stats(SAGA);
    await store.sagaNames();
    expect(spansNamed("stats orders")[0]!.attributes).toMatchObject({ "db.operation.name": "stats", "saga_bus.store.outcome": "done" });
    expect(spansNamed("sagaNames")[0]!.attributes).not.toHaveProperty("saga_bus.saga.name");
    stopInstrumenting();
    const before = storeSpans().length;
    await store.findByCorrelationId(SAGA, "c-1");
    expect(storeSpans()).toHaveLength(before);
    expect(await reader.total("saga_bus.store.operations", { "db.operation.name": "findByCorrelationId" })).toBe(0);
  });
});

describe("instrumentSagaStore options", () => {
  it("recordKeys: false leaves the keys off the spans", async () => {
    stopInstrumenting();
    stopInstrumenting = instrumentSagaStore({ tracerProvider, meterProvider, recordKeys: false });
    const { store } = await memoryEngine().open();
    await store.findByCorrelationId(SAGA, "c-1");
    expect(spansNamed("findByCorrelationId orders")[0]!.attributes).not.toHaveProperty("saga_bus.store.keys");
  });
});
