/**
 * Values written by @saga-bus/store-redis 0.2.2: plain JSON (its serializer
 * turned the metadata Dates into ISO strings and added archivedAt /
 * timeoutExpiresAt as null) at the value key, the raw correlation id at the
 * index key. They must read correctly, keep the compare-and-set, and move to
 * the envelope on their next write.
 */
import { afterAll, describe, expect, it } from "vitest";
import { ConcurrencyError, SagaAlreadyExistsError, type SagaStoreOptions } from "../src/index";
import { CODECS } from "./support/envelopes";
import { indexKeyOf, valueKeyOf } from "./support/key-layout";
import { redisEngine, sagaBusState, uniquePrefix } from "./support/stores";

const engine = redisEngine();
afterAll(() => engine.closeAll());

/** Exactly what 0.2.2's serializer stored for a saga-bus state. */
function legacyJson(state: Record<string, any>): string {
  const metadata = state.metadata;
  return JSON.stringify({
    ...state,
    metadata: {
      ...metadata,
      createdAt: metadata.createdAt.toISOString(),
      updatedAt: metadata.updatedAt.toISOString(),
      archivedAt: null,
      timeoutExpiresAt: null,
    },
  });
}

/** What a 0.2.2 value reads back as: the same state, Dates revived, the two added nulls. */
function asRead(state: Record<string, any>) {
  return { ...state, metadata: { ...state.metadata, archivedAt: null, timeoutExpiresAt: null } };
}

async function openWithLegacy(options: SagaStoreOptions = {}, sagaId = "saga-legacy", correlationId = "order-legacy", version = 3) {
  const opened = await engine.open({ retryDelayMs: 1, ...options });
  const redis = opened.redis!;
  const state = sagaBusState(sagaId, { orderId: correlationId, lines: [{ sku: "A", qty: 2 }], paid: false }, version) as Record<string, any>;
  const valueKey = valueKeyOf(opened.prefix, "OrderSaga", correlationId);
  const indexKey = indexKeyOf(opened.prefix, "OrderSaga", sagaId);
  const json = legacyJson(state);
  await redis.set(valueKey, json);
  await redis.set(indexKey, correlationId);
  return { ...opened, redis, state, valueKey, indexKey, json, sagaId, correlationId };
}

describe("values written by 0.2.2", () => {
  it.each(CODECS)("read correctly with Dates revived by a %s store, by correlation id and by id", async (codec) => {
    const { store, state } = await openWithLegacy({ codec });
    const byCorrelation = (await store.getByCorrelationId("OrderSaga", "order-legacy"))!;
    expect(byCorrelation).toEqual(asRead(state));
    expect(byCorrelation.metadata.createdAt).toBeInstanceOf(Date);
    expect(byCorrelation.metadata.updatedAt).toBeInstanceOf(Date);
    expect(byCorrelation.metadata.createdAt.toISOString()).toBe("2026-01-02T03:04:05.678Z");
    expect(byCorrelation.metadata.version).toBe(3);

    expect(await store.getById("OrderSaga", "saga-legacy")).toEqual(asRead(state));
    expect(await store.findById("OrderSaga", "saga-legacy")).toEqual(asRead(state));
    expect(await store.findByCorrelationId("OrderSaga", "order-legacy")).toEqual(asRead(state));
  });

  it.each(CODECS)("update with the right expectedVersion succeeds and rewrites the value as an envelope (%s)", async (codec) => {
    const { store, redis, valueKey, indexKey } = await openWithLegacy({ codec });
    const loaded = (await store.getById("OrderSaga", "saga-legacy"))!;
    await store.update("OrderSaga", { ...loaded, paid: true, metadata: { ...loaded.metadata, version: 4 } }, 3);

    const bytes = (await redis.getBuffer(valueKey))!;
    expect(bytes[0]).toBe(0xfe);
    expect(bytes[1]).toBe(1);
    expect(bytes.readUInt32BE(8)).toBe(4);
    expect(await redis.get(indexKey)).toBe("order-legacy");

    const reread = (await store.getByCorrelationId("OrderSaga", "order-legacy"))!;
    expect(reread.paid).toBe(true);
    expect(reread.metadata.version).toBe(4);
    expect(reread.metadata.createdAt).toEqual(new Date("2026-01-02T03:04:05.678Z"));
    expect((await store.getById("OrderSaga", "saga-legacy"))!.paid).toBe(true);

    // And the envelope keeps the compare-and-set going.
    await store.update("OrderSaga", reread, 4);
    expect((await store.getById("OrderSaga", "saga-legacy"))!.metadata.version).toBe(5);
  });

  it('with writeFormat "0.2.2" an update keeps it a 0.2.2 value: the same JSON form, the new version in metadata.version', async () => {
    const { store, redis, valueKey, indexKey, state } = await openWithLegacy({ writeFormat: "0.2.2" });
    const loaded = (await store.getById("OrderSaga", "saga-legacy"))!;
    await store.update("OrderSaga", { ...loaded, paid: true, metadata: { ...loaded.metadata, version: 4 } }, 3);
    expect(await redis.get(valueKey)).toBe(legacyJson({ ...state, paid: true, metadata: { ...state.metadata, version: 4 } }));
    expect(await redis.get(indexKey)).toBe("order-legacy");
    expect((await store.getByCorrelationId("OrderSaga", "order-legacy"))!.metadata.version).toBe(4);
  });

  it("a wrong expectedVersion is a ConcurrencyError with the real stored version, and the 0.2.2 bytes stay", async () => {
    const { store, redis, valueKey, json } = await openWithLegacy();
    const loaded = (await store.getById("OrderSaga", "saga-legacy"))!;
    for (const wrong of [0, 2, 4]) {
      const error = await store.update("OrderSaga", { ...loaded, paid: true }, wrong).catch((e) => e);
      expect(error).toBeInstanceOf(ConcurrencyError);
      expect(error.code).toBe("SAGA_CONFLICT");
      expect(error.sagaId).toBe("saga-legacy");
      expect(error.expectedVersion).toBe(wrong);
      expect(error.actualVersion).toBe(3);
      expect(error.message).toContain("Optimistic concurrency conflict");
    }
    expect(await redis.get(valueKey)).toBe(json);
  });

  it("save of a loaded 0.2.2 state and modify both write version + 1 in the envelope", async () => {
    const { store, redis, valueKey } = await openWithLegacy();
    const loaded = (await store.findById("OrderSaga", "saga-legacy"))!;
    const saved = await store.save("OrderSaga", { ...loaded, paid: true });
    expect(saved.metadata.version).toBe(4);
    expect((await redis.getBuffer(valueKey))![0]).toBe(0xfe);

    const second = await openWithLegacy({}, "saga-2", "order-2", 0);
    const modified = await second.store.modify("OrderSaga", "order-2", (s) => ({ ...s, paid: true }));
    expect(modified.metadata.version).toBe(1);
    const bytes = (await second.redis.getBuffer(second.valueKey))!;
    expect(bytes[0]).toBe(0xfe);
    expect(bytes.readUInt32BE(8)).toBe(1);
    expect((await second.store.findById("OrderSaga", "saga-2"))!.paid).toBe(true);
  });

  it("a saga id with non-ASCII and JSON-escaped characters keeps its identity for the compare-and-set", async () => {
    const sagaId = 'säga-"quoted"-\n-😀';
    const { store, redis, valueKey } = await openWithLegacy({}, sagaId, "order-unicode", 7);
    const loaded = (await store.findById("OrderSaga", sagaId))!;
    expect(loaded.metadata.sagaId).toBe(sagaId);
    await store.update("OrderSaga", { ...loaded, paid: true }, 7);
    expect((await redis.getBuffer(valueKey))!.readUInt32BE(8)).toBe(8);
    expect((await store.findByCorrelationId("OrderSaga", "order-unicode"))!.paid).toBe(true);
  });

  it("another saga's update never overwrites a 0.2.2 value at the same correlation id", async () => {
    const { store, redis, valueKey, json } = await openWithLegacy();
    const intruder = { ...sagaBusState("intruder", {}, 3), correlationId: "order-legacy" };
    const error = await store.update("OrderSaga", intruder, 3).catch((e) => e);
    expect(error.code).toBe("SAGA_NOT_FOUND");
    expect(await redis.get(valueKey)).toBe(json);
  });

  it("insert on a 0.2.2 value's correlation id is SAGA_ALREADY_EXISTS and keeps the value", async () => {
    const { store, redis, valueKey, json, indexKey } = await openWithLegacy();
    const error = await store.insert("OrderSaga", "order-legacy", sagaBusState("newcomer")).catch((e) => e);
    expect(error).toBeInstanceOf(SagaAlreadyExistsError);
    expect(await redis.get(valueKey)).toBe(json);
    expect(await redis.get(indexKey)).toBe("order-legacy");
    expect(await store.findById("OrderSaga", "newcomer")).toBeNull();
  });

  it("deleteById and delete remove 0.2.2 values with their index", async () => {
    const prefix = uniquePrefix();
    const first = await openWithLegacy({ keyPrefix: prefix }, "s-1", "c-1");
    const second = await openWithLegacy({ keyPrefix: prefix }, "s-2", "c-2");
    expect(await first.store.deleteById("OrderSaga", "s-2")).toBe(true);
    expect(await first.store.deleteByCorrelationId("OrderSaga", "c-1")).toBe(true);
    expect(await first.redis.exists(first.valueKey, first.indexKey, second.valueKey, second.indexKey)).toBe(0);
  });

  it("a stale 0.2.2 index pointing at another saga's 0.2.2 value is never followed", async () => {
    const { store, redis, prefix, json, valueKey } = await openWithLegacy();
    await redis.set(indexKeyOf(prefix, "OrderSaga", "someone-else"), "order-legacy");
    expect(await store.findById("OrderSaga", "someone-else")).toBeNull();
    expect(await store.deleteById("OrderSaga", "someone-else")).toBe(false);
    expect(await redis.get(valueKey)).toBe(json);
  });
});
