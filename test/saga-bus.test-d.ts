/**
 * The store must plug into saga-bus: `createBus({ store })` takes a
 * SagaStore<TState>. These are that interface's declarations as saga-bus
 * publishes them (@saga-bus/core types/saga.ts), checked structurally.
 */
import { describe, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { InMemorySagaStore, RedisSagaStore, createSagaRegistry, defineSaga, type StateOf } from "../src/index";

interface SagaStateMetadata {
  readonly sagaId: string;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly isCompleted: boolean;
  readonly archivedAt?: Date | null;
  readonly traceParent?: string | null;
  readonly traceState?: string | null;
  readonly timeoutMs?: number | null;
  readonly timeoutExpiresAt?: Date | null;
}
interface SagaState {
  readonly metadata: SagaStateMetadata;
}
interface SagaStore<TState extends SagaState> {
  getById(sagaName: string, sagaId: string): Promise<TState | null>;
  getByCorrelationId(sagaName: string, correlationId: string): Promise<TState | null>;
  insert(sagaName: string, correlationId: string, state: TState): Promise<void>;
  update(sagaName: string, state: TState, expectedVersion: number): Promise<void>;
  delete(sagaName: string, sagaId: string): Promise<void>;
}
/** createBus's options (types/bus.ts): a default store for every saga, or one per registration. */
interface SagaRegistration<TState extends SagaState> {
  readonly definition: { readonly name: string };
  readonly store?: SagaStore<TState>;
}
interface BusConfig {
  readonly store?: SagaStore<SagaState>;
  readonly sagas: ReadonlyArray<SagaRegistration<SagaState>>;
}
declare function createBus(config: BusConfig): void;

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
