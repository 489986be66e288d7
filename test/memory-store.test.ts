/**
 * InMemorySagaStore's test helpers, with the meanings of saga-bus's own
 * in-memory store (size, clear, getAll, has), which saga-bus users call in
 * their unit tests.
 */
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { InMemorySagaStore, createSagaRegistry, defineSaga } from "../src/index";
import { sagaBusState } from "./support/stores";

describe("InMemorySagaStore test helpers", () => {
  it("size counts stored sagas (not index entries); has(sagaName, sagaId) tells one saga apart; clear() empties", async () => {
    const store = new InMemorySagaStore();
    expect(store.size).toBe(0);
    await store.insert("OrderSaga", "order-1", sagaBusState("s-1", { n: 1 }));
    await store.insert("OrderSaga", "order-2", sagaBusState("s-2", { n: 2 }));
    await store.insert("PaymentSaga", "order-1", sagaBusState("p-1", { n: 3 }));
    expect(store.size).toBe(3);
    expect(store.has("OrderSaga", "s-1")).toBe(true);
    expect(store.has("PaymentSaga", "p-1")).toBe(true);
    expect(store.has("PaymentSaga", "s-1")).toBe(false);
    expect(store.has("OrderSaga", "order-1")).toBe(false);

    await store.delete("OrderSaga", "s-2");
    expect(store.size).toBe(2);
    expect(store.has("OrderSaga", "s-2")).toBe(false);

    store.clear();
    expect(store.size).toBe(0);
    expect(store.has("OrderSaga", "s-1")).toBe(false);
    expect(await store.getByCorrelationId("OrderSaga", "order-1")).toBeNull();
    // Still usable after clear().
    await store.insert("OrderSaga", "order-1", sagaBusState("s-1"));
    expect(store.size).toBe(1);
  });

  it("getAll() returns every saga as reads do (versions, Dates, registry upgrades), each call a fresh copy", async () => {
    const V1 = z.object({ amount: z.number() });
    const V2 = z.object({ amount: z.number(), currency: z.string() });
    // Written at v1 (writeVersion 1), read as v2: getAll() upgrades as reads do.
    const order = defineSaga("OrderSaga", V1).version(2, V2, { upgrade: (v1) => ({ ...v1, currency: "EUR" }), downgrade: ({ currency: _c, ...v1 }) => v1 });
    const registry = createSagaRegistry([order.writeVersion(1), defineSaga("OtherSaga", z.object({ free: z.boolean() }))]);
    const store = new InMemorySagaStore({ registry });
    await store.insert("OrderSaga", "o-1", { amount: 5, currency: "USD", metadata: { sagaId: "s-1" } });
    const loaded = (await store.getById("OrderSaga", "s-1"))!;
    await store.update("OrderSaga", { ...loaded, amount: 6, metadata: { ...loaded.metadata, version: 1 } }, 0);
    await store.insert("OtherSaga", "x-1", { free: true, metadata: sagaBusState("x-1").metadata });

    const all = store.getAll();
    expect(all).toHaveLength(2);
    const read = all.find((state) => state.metadata.sagaId === "s-1")!;
    expect(read).toMatchObject({ amount: 6, currency: "EUR", metadata: { sagaId: "s-1", version: 1 } });
    expect(read.metadata.createdAt).toBeInstanceOf(Date);
    expect(all.find((state) => state.metadata.sagaId === "x-1")).toEqual(sagaBusState("x-1", { free: true }));
    // The currency never reached storage (v1 has none): the upgrade supplied it.
    expect(read.currency).toBe("EUR");

    read.amount = 1_000;
    expect(store.getAll().find((state) => state.metadata.sagaId === "s-1")!.amount).toBe(6);
  });
});
