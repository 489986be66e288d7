/**
 * The store must plug into saga-bus: `createBus({ store })` takes a
 * SagaStore<TState>. These are that interface's declarations as saga-bus
 * publishes them (@saga-bus/core types/saga.ts), checked structurally.
 */
import { describe, expectTypeOf, it } from "vitest";
import { InMemorySagaStore, RedisSagaStore } from "../src/index";

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
    expectTypeOf(new RedisSagaStore<OrderState>({ connection: {} }).getById).returns.resolves.toEqualTypeOf<OrderState | null>();
  });

  it("InMemorySagaStore is a SagaStore too", () => {
    expectTypeOf(new InMemorySagaStore<OrderState>()).toExtend<SagaStore<OrderState>>();
  });
});
