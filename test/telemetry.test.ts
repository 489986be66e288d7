/**
 * The diagnostics channels (README "Observability") on every engine: each
 * store method's TracingChannel with its documented context, and each event
 * on its plain channel, subscribed by name as an application would.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { tracingChannel } from "node:diagnostics_channel";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  CHANNEL_PREFIX,
  ConcurrencyError,
  DecodeError,
  MemoryEngine,
  RedisSagaStore,
  RedisUnavailableError,
  SagaStore,
  TRACED_OPERATIONS,
  WriteOutcomeUnknownError,
  createSagaRegistry,
  defineSaga,
  type OperationContext,
  type WriteRequest,
  type WriteResult,
} from "../src/index";
import { TelemetryRecorder } from "./support/telemetry-recorder";
import { clusterEngine, memoryEngine, openBeside, rawAccess, redisEngine, sagaBusState, type StoreHarness } from "./support/stores";
import { indexKeyOf, valueKeyOf } from "./support/key-layout";
import { freePort } from "./support/redis-server";

const SAGA = "orders";
const Order = z.object({ status: z.string() });
const OrderV2 = Order.extend({ currency: z.string() });
const v1 = createSagaRegistry([defineSaga(SAGA, Order)]);
const v2 = createSagaRegistry([defineSaga(SAGA, Order).version(2, OrderV2, { upgrade: (state) => ({ ...state, currency: "EUR" }) })]);

let recorder: TelemetryRecorder;
beforeEach(() => {
  recorder = new TelemetryRecorder();
});
afterEach(() => recorder.close());

const harnesses: StoreHarness[] = [memoryEngine(), redisEngine(), clusterEngine()];
afterAll(() => Promise.all(harnesses.map((h) => h.closeAll())));

describe.each(harnesses.map((h) => [h.name, h] as const))("diagnostics channels on %s", (name, harness) => {
  const system = name === "memory" ? "memory" : "redis";

  it("every store method publishes start, end, asyncStart and asyncEnd on its own TracingChannel, in that order", async () => {
    const { store } = await harness.open({ registry: v1 });
    const state = { ...sagaBusState("s-1", { status: "new" }) };
    await store.insert(SAGA, "c-1", state);
    await store.findByCorrelationId(SAGA, "c-1");
    await store.findById(SAGA, "s-1");
    await store.getById(SAGA as never, "s-1");
    await store.getByCorrelationId(SAGA as never, "c-1");
    const loaded = (await store.findByCorrelationId(SAGA, "c-1"))!;
    await store.update(SAGA, { ...loaded, status: "paid" }, 0);
    const saved = await store.save(SAGA, { ...(await store.findByCorrelationId(SAGA, "c-1"))!, status: "shipped" });
    await store.modify(SAGA, "c-1", (s) => ({ ...s, status: "done" }));
    await store.countByName(SAGA);
    await store.sagaNames();
    await store.stats(SAGA);
    await store.verify(SAGA);
    await store.migrateAll(SAGA);
    await store.inspect(SAGA, { correlationId: "c-1" });
    await store.deleteCompleted(SAGA, { before: new Date(), dryRun: true });
    await store.deleteCompletedBefore(SAGA, new Date(0));
    await store.deleteById(SAGA, "s-1");
    await store.insert(SAGA, "c-2", sagaBusState("s-2", { status: "new" }));
    await store.deleteByCorrelationId(SAGA, "c-2");
    await store.insert(SAGA, "c-3", sagaBusState("s-3", { status: "new" }));
    await store.delete(SAGA, "c-3");
    expect(saved.metadata.version).toBe(2);

    expect(new Set(recorder.finished().map((c) => c.operation))).toEqual(new Set(TRACED_OPERATIONS));
    for (const operation of TRACED_OPERATIONS) {
      const phases = recorder.phases.filter((p) => p.operation === operation).map((p) => p.phase);
      const calls = recorder.finished(operation).length;
      expect(phases, operation).toEqual(Array.from({ length: calls }, () => ["start", "end", "asyncStart", "asyncEnd"]).flat());
    }
    for (const context of recorder.finished()) {
      expect(context.system).toBe(system);
      expect(context.sagaName).toBe(context.operation === "sagaNames" ? undefined : SAGA);
    }
    // start is published before the call does anything.
    for (const start of recorder.phases.filter((p) => p.phase === "start")) expect(start).toMatchObject({ keys: [], attempts: 1, outcome: undefined });
  });

  it("reads and writes fill in keys, codec, schema version, saga version, attempts and outcome", async () => {
    const { store, prefix } = await harness.open({ registry: v1, codec: "msgpack" });
    const valueKey = valueKeyOf(prefix, SAGA, "c-1");
    const indexKey = indexKeyOf(prefix, SAGA, "s-1");
    await store.insert(SAGA, "c-1", sagaBusState("s-1", { status: "new" }));
    expect(recorder.finished("insert")).toMatchObject([
      { keys: [valueKey, indexKey], codec: "msgpack", schemaVersion: 1, sagaVersion: 0, attempts: 1, outcome: "written" },
    ]);
    const loaded = (await store.findByCorrelationId(SAGA, "c-1"))!;
    expect(await store.findByCorrelationId(SAGA, "nobody")).toBeNull();
    expect(recorder.finished("findByCorrelationId")).toMatchObject([
      { keys: [valueKey], codec: "msgpack", schemaVersion: 1, sagaVersion: 0, attempts: 1, outcome: "found" },
      { keys: [valueKeyOf(prefix, SAGA, "nobody")], codec: undefined, sagaVersion: undefined, outcome: "not-found" },
    ]);
    await store.update(SAGA, { ...loaded, status: "paid" }, 0);
    expect(recorder.finished("update")).toMatchObject([{ keys: [valueKey, indexKey], codec: "msgpack", schemaVersion: 1, sagaVersion: 1, outcome: "written" }]);
    expect(recorder.finished("update")[0]!.context.result).toBeUndefined();
    const found = await store.findById(SAGA, "s-1");
    expect(recorder.finished("findById")[0]).toMatchObject({ sagaVersion: 1, outcome: "found" });
    expect(recorder.finished("findById")[0]!.context.result).toBe(found);
    expect(recorder.finished("findById")[0]!.keys).toContain(valueKey);

    expect(await store.deleteById(SAGA, "s-1")).toBe(true);
    expect(await store.deleteById(SAGA, "s-1")).toBe(false);
    expect(recorder.finished("deleteById").map((c) => c.outcome)).toEqual(["deleted", "not-found"]);
    await store.delete(SAGA, "gone");
    expect(recorder.finished("delete")).toMatchObject([{ outcome: "not-found" }]);
    // Nothing nested: delete did its work without publishing as deleteById or deleteByCorrelationId.
    expect(recorder.finished("deleteById")).toHaveLength(2);
    expect(recorder.finished("deleteByCorrelationId")).toHaveLength(0);
  });

  it("an AsyncLocalStorage bound to a start channel holds for the whole call, modify's callback included", async () => {
    const { store } = await harness.open();
    await store.insert(SAGA, "c-1", sagaBusState("s-1", { n: 0 }));
    const storage = new AsyncLocalStorage<string>();
    const start = tracingChannel<string, OperationContext>(CHANNEL_PREFIX + "modify").start;
    start.bindStore(storage, (context) => `${context.operation} ${context.sagaName}`);
    try {
      let seen: string | undefined;
      await store.modify(SAGA, "c-1", (state) => {
        seen = storage.getStore();
        return state;
      });
      expect(seen).toBe(`modify ${SAGA}`);
      expect(storage.getStore()).toBeUndefined();
    } finally {
      start.unbindStore(storage);
    }
  });

  it("a failed call publishes on the error channel, its outcome the error's code", async () => {
    const { store } = await harness.open();
    await store.insert(SAGA, "c-1", sagaBusState("s-1"));
    const failure = await store.insert(SAGA, "c-1", sagaBusState("s-1")).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: "SAGA_ALREADY_EXISTS" });
    const phases = recorder.phases.filter((p) => p.operation === "insert").slice(4);
    expect(phases.map((p) => p.phase)).toEqual(["start", "end", "error", "asyncStart", "asyncEnd"]);
    expect(phases[4]).toMatchObject({ outcome: "SAGA_ALREADY_EXISTS" });
    expect(phases[4]!.error).toBe(failure);
  });

  it("16 concurrent modify callers: one conflict event per lost race, each followed by a retry, attempts counting them", async () => {
    const { store } = await harness.open({ maxRetries: 50, retryDelayMs: 1, operationTimeoutMs: 30_000 });
    await store.insert(SAGA, "counter", sagaBusState("s-counter", { n: 0 }));
    await Promise.all(Array.from({ length: 16 }, () => store.modify(SAGA, "counter", (s: any) => ({ ...s, n: s.n + 1 }))));
    const modifies = recorder.finished("modify");
    expect(modifies).toHaveLength(16);
    const conflicts = recorder.eventsNamed("conflict");
    const retries = recorder.eventsNamed("retry");
    expect(conflicts.length).toBeGreaterThan(0);
    expect(modifies.reduce((sum, c) => sum + c.attempts - 1, 0)).toBe(conflicts.length);
    expect(retries).toHaveLength(conflicts.length);
    for (const conflict of conflicts) {
      expect(conflict).toMatchObject({ operation: "modify", sagaName: SAGA, sagaId: "s-counter" });
      expect(conflict.storedVersion).toBeGreaterThan(conflict.expectedVersion);
    }
    for (const retry of retries) {
      expect(retry).toMatchObject({ operation: "modify", sagaName: SAGA, code: "SAGA_CONFLICT" });
      expect(retry.cause).toBeInstanceOf(ConcurrencyError);
      expect(retry.attempt).toBeGreaterThanOrEqual(2);
    }
    for (const modify of modifies) expect(modify.outcome).toBe("written");
    expect(((await store.findByCorrelationId(SAGA, "counter")) as any).n).toBe(16);
  });

  it("a read that upgrades publishes upgraded; one written ahead publishes schema-version-ahead", async () => {
    const opened = await harness.open({ registry: v1 });
    await opened.store.insert(SAGA, "c-1", sagaBusState("s-1", { status: "new" }));
    const reader = await openBeside(harness, opened, { registry: v2 });
    recorder.clear();
    expect(await reader.findByCorrelationId(SAGA, "c-1")).toMatchObject({ currency: "EUR" });
    const key = valueKeyOf(opened.prefix, SAGA, "c-1");
    expect(recorder.eventsNamed("upgraded")).toEqual([{ operation: "findByCorrelationId", sagaName: SAGA, key, from: 1, to: 2 }]);
    expect(recorder.finished("findByCorrelationId")).toMatchObject([{ schemaVersion: 1, outcome: "found" }]);

    await reader.insert(SAGA, "c-2", sagaBusState("s-2", { status: "new", currency: "USD" }));
    recorder.clear();
    const ahead = await opened.store.findByCorrelationId(SAGA, "c-2").catch((error: unknown) => error);
    expect(ahead).toMatchObject({ code: "SCHEMA_VERSION_AHEAD" });
    expect(recorder.eventsNamed("schema-version-ahead")).toEqual([
      { operation: "findByCorrelationId", sagaName: SAGA, key: valueKeyOf(opened.prefix, SAGA, "c-2"), error: ahead },
    ]);
    expect(recorder.eventsNamed("upgraded")).toEqual([]);
    expect(recorder.finished("findByCorrelationId")).toMatchObject([{ schemaVersion: 2, outcome: "SCHEMA_VERSION_AHEAD" }]);
  });

  it("validation failures on write and on read publish validation-failed; undecodable bytes publish decode-failed, once even when nested", async () => {
    const opened = await harness.open({ registry: v1 });
    const { store, prefix } = opened;
    const invalid = await store.insert(SAGA, "c-1", sagaBusState("s-1", { status: 7 }) as never).catch((error: unknown) => error);
    expect(invalid).toMatchObject({ code: "SCHEMA_VALIDATION_FAILED" });
    const bare = await openBeside(harness, opened, {});
    await bare.insert(SAGA, "c-2", sagaBusState("s-2", { status: 7 }));
    const invalidOnRead = await store.findByCorrelationId(SAGA, "c-2").catch((error: unknown) => error);
    expect(invalidOnRead).toMatchObject({ code: "SCHEMA_VALIDATION_FAILED" });
    const upgrader = await openBeside(harness, opened, { registry: v2 });
    const invalidBeforeUpgrade = await upgrader.findByCorrelationId(SAGA, "c-2").catch((error: unknown) => error);
    expect(invalidBeforeUpgrade).toMatchObject({ code: "MIGRATION_FAILED", cause: { code: "SCHEMA_VALIDATION_FAILED" } });
    const key = valueKeyOf(prefix, SAGA, "c-2");
    expect(recorder.eventsNamed("validation-failed")).toEqual([
      { operation: "insert", sagaName: SAGA, key: valueKeyOf(prefix, SAGA, "c-1"), error: invalid },
      { operation: "findByCorrelationId", sagaName: SAGA, key, error: invalidOnRead },
      { operation: "findByCorrelationId", sagaName: SAGA, key, error: invalidBeforeUpgrade },
    ]);

    const garbageKey = valueKeyOf(prefix, SAGA, "c-3");
    await rawAccess(store).set(garbageKey, Buffer.from([0xff, 0x00, 0x13]));
    await bare.insert(SAGA, "c-4", sagaBusState("s-4", { status: "new" }));
    const nested = await bare
      .modify(SAGA, "c-4", async (state) => {
        await bare.findByCorrelationId(SAGA, "c-3");
        return state;
      })
      .catch((error: unknown) => error);
    expect(nested).toBeInstanceOf(DecodeError);
    expect(recorder.eventsNamed("decode-failed")).toEqual([{ operation: "findByCorrelationId", sagaName: SAGA, key: garbageKey, error: nested }]);
    expect(recorder.finished("modify").at(-1)).toMatchObject({ outcome: "DECODE_FAILED" });
  });
});

describe("events of a connection's faults", () => {
  /** The embedded engine with writes that land and then lose their reply, or fail before landing. */
  class FlakyEngine extends MemoryEngine {
    failures: ("lost-reply" | "refused")[] = [];
    override async update(request: WriteRequest): Promise<WriteResult> {
      const failure = this.failures.shift();
      if (failure === "refused") throw new RedisUnavailableError("update", request.valueKey, false, { cause: new Error("connection reset") });
      const result = await super.update(request);
      if (failure === "lost-reply") throw new RedisUnavailableError("update", request.valueKey, true, { cause: new Error("connection reset") });
      return result;
    }
  }

  it("a transient failure publishes retry with its cause; a write whose reply was lost for good publishes write-outcome-unknown", async () => {
    const engine = new FlakyEngine();
    const store = new SagaStore({ maxRetries: 1, retryDelayMs: 1 }, () => engine);
    await store.insert(SAGA, "c-1", sagaBusState("s-1"));
    const loaded = (await store.findByCorrelationId(SAGA, "c-1"))!;
    engine.failures = ["refused"];
    await store.update(SAGA, loaded, 0);
    const [retry] = recorder.eventsNamed("retry");
    expect(retry).toMatchObject({ operation: "update", sagaName: SAGA, attempt: 2, code: "REDIS_UNAVAILABLE", key: valueKeyOf("saga-bus:", SAGA, "c-1") });
    expect(retry!.delayMs).toBeGreaterThan(0);
    expect(recorder.finished("update")).toMatchObject([{ attempts: 2, outcome: "written", system: "custom" }]);

    engine.failures = ["lost-reply", "lost-reply"];
    const unknown = await store.update(SAGA, { ...loaded, metadata: { ...loaded.metadata, version: 1 } }, 1).catch((error: unknown) => error);
    expect(unknown).toBeInstanceOf(WriteOutcomeUnknownError);
    expect(recorder.eventsNamed("write-outcome-unknown")).toEqual([{ operation: "update", sagaName: SAGA, key: valueKeyOf("saga-bus:", SAGA, "c-1"), error: unknown }]);
    expect(recorder.finished("update")[1]).toMatchObject({ attempts: 2, outcome: "WRITE_OUTCOME_UNKNOWN" });
  });

  it("a re-sent write that had landed ends as already-written", async () => {
    const engine = new FlakyEngine();
    const store = new SagaStore({ maxRetries: 1, retryDelayMs: 1 }, () => engine);
    await store.insert(SAGA, "c-1", sagaBusState("s-1"));
    engine.failures = ["lost-reply"];
    await store.update(SAGA, (await store.findByCorrelationId(SAGA, "c-1"))!, 0);
    expect(recorder.finished("update")).toMatchObject([{ attempts: 2, outcome: "already-written" }]);
  });

  it("the client a store creates publishes its connection errors on connection-error", async () => {
    const port = await freePort();
    const store = new RedisSagaStore({ connection: { port, lazyConnect: true, retryStrategy: () => null }, startTimeoutMs: 2_000 });
    const failure = await store.initialize().catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: "REDIS_UNAVAILABLE" });
    await store.close();
    const errors = recorder.eventsNamed("connection-error");
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]!.error).toMatchObject({ code: "ECONNREFUSED" });
  });
});
