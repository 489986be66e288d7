/**
 * The store must plug into saga-bus: `createBus({ store })` takes a
 * SagaStore<TState>. These are that interface's declarations as saga-bus
 * publishes them (the test stand-in of @saga-bus/core), checked structurally.
 */
import { describe, expectTypeOf, it } from "vitest";
import { z } from "zod";
import type { BusConfig, SagaRegistration, SagaState, SagaStore } from "@saga-bus/core";
import { InMemorySagaStore, RedisSagaStore, createSagaRegistry, defineSaga, type StateOf } from "../src/index";

// The test stand-in of @saga-bus/core declares these as core publishes them (test/fixtures/saga-bus-core).
type BusOptions = Pick<BusConfig, "store" | "sagas">;
declare function createBus(config: BusOptions): void;

interface OrderState extends SagaState {
  orderId: string;
  status: "pending" | "paid";
}

describe("saga-bus SagaStore compatibility", () => {
  it("an untyped RedisSagaStore is a SagaStore of any state", () => {
    expectTypeOf(new RedisSagaStore({ connection: {} })).toExtend<SagaStore<OrderState>>();
  });

  it("RedisSagaStore<OrderState>, as 0.2.2 was typed, is a SagaStore<OrderState>", () => {
    expectTypeOf(new RedisSagaStore<OrderState>({ connection: {} })).toExtend<SagaStore<OrderState>>();
    expectTypeOf(new RedisSagaStore<OrderState>({ connection: {} }).getById("OrderSaga", "s")).resolves.toEqualTypeOf<OrderState | null>();
  });

  it("InMemorySagaStore is a SagaStore too", () => {
    expectTypeOf(new InMemorySagaStore<OrderState>()).toExtend<SagaStore<OrderState>>();
  });

  it("a registry-typed store is createBus's store, and each registered saga's store, without casts", () => {
    const OrderSaga = defineSaga("OrderSaga", z.strictObject({ orderId: z.string(), status: z.enum(["pending", "paid"]) }));
    const PaymentSaga = defineSaga("PaymentSaga", z.object({ paymentId: z.string() }));
    const registry = createSagaRegistry([OrderSaga, PaymentSaga]);
    const store = new RedisSagaStore({ connection: {}, registry });
    const memory = new InMemorySagaStore({ registry });
    type Order = StateOf<typeof registry.types, "OrderSaga">;
    type Payment = StateOf<typeof registry.types, "PaymentSaga">;
    expectTypeOf(store).toExtend<SagaStore<SagaState>>();
    expectTypeOf(store).toExtend<SagaStore<Order>>();
    expectTypeOf(memory).toExtend<SagaStore<Payment>>();
    // The hand-written state of a saga-bus user, matching the schema, works as well.
    expectTypeOf(store).toExtend<SagaStore<OrderState>>();
    createBus({ store, sagas: [{ definition: { name: "OrderSaga" }, store }] });
    const orders: SagaRegistration<Order> = { definition: { name: "OrderSaga" }, store };
    void orders;
    // The typed signatures still apply to direct calls.
    // @ts-expect-error not a registered saga
    void store.insert("ShippingSaga", "c", { orderId: "o", status: "paid", metadata: { sagaId: "s" } });
  });

  it("a RedisSagaStore needs `redis` or `connection`", () => {
    // @ts-expect-error neither a client nor connection options
    void new RedisSagaStore({});
    // @ts-expect-error neither, with other options
    void new RedisSagaStore({ keyPrefix: "x:" });
  });
});
