/**
 * The store driven exactly as saga-bus's SagaOrchestrator drives it: load by
 * correlation id; if absent, insert the initial state at version 0; apply the
 * handler; update with metadata.version + 1 and expectedVersion = the loaded
 * version. The transport redelivers a message whose handling threw.
 */
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import type { SagaStore } from "../src/index";
import { clusterEngine, memoryEngine, redisEngine } from "./support/stores";

interface OrderState {
  orderId: string;
  events: string[];
  metadata: {
    sagaId: string;
    version: number;
    createdAt: Date;
    updatedAt: Date;
    isCompleted: boolean;
    traceParent?: string | null;
    traceState?: string | null;
    timeoutMs?: number | null;
    timeoutExpiresAt?: Date | null;
  };
}

interface Message {
  type: "OrderSubmitted" | "ItemAdded" | "OrderShipped";
  orderId: string;
  id: string;
}

const SAGA = "OrderSaga";

async function processMessage(store: SagaStore<OrderState>, message: Message): Promise<void> {
  let state = await store.getByCorrelationId(SAGA, message.orderId);
  if (!state) {
    if (message.type !== "OrderSubmitted") throw new Error("not started yet: redeliver");
    const now = new Date();
    state = {
      orderId: message.orderId,
      events: [],
      metadata: { sagaId: randomUUID(), version: 0, createdAt: now, updatedAt: now, isCompleted: false, traceParent: null, traceState: null },
    };
    await store.insert(SAGA, message.orderId, state);
  }
  if (state.metadata.isCompleted) return;
  const expectedVersion = state.metadata.version;
  const newState: OrderState = {
    ...state,
    events: [...state.events, message.id],
    metadata: {
      ...state.metadata,
      version: expectedVersion + 1,
      updatedAt: new Date(),
      isCompleted: message.type === "OrderShipped",
      timeoutMs: null,
      timeoutExpiresAt: null,
    },
  };
  await store.update(SAGA, newState, expectedVersion);
}

/** A transport with `consumers` concurrent consumers; a message that throws goes back on the queue. */
async function deliver(store: SagaStore<OrderState>, queue: Message[], consumers: number) {
  const errorNames = new Map<string, number>();
  let redeliveries = 0;
  await Promise.all(
    Array.from({ length: consumers }, async () => {
      for (let message = queue.shift(); message; message = queue.shift()) {
        try {
          await processMessage(store, message);
        } catch (error) {
          const name = (error as Error).name;
          errorNames.set(name, (errorNames.get(name) ?? 0) + 1);
          redeliveries++;
          queue.push(message);
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 2));
        }
      }
    }),
  );
  return { errorNames, redeliveries };
}

const engines = [memoryEngine(), redisEngine(), clusterEngine()];
afterAll(async () => {
  for (const engine of engines) await engine.closeAll();
});

describe.each(engines)("saga-bus orchestration on $name", (engine) => {
  it("20 orders × 12 messages through 8 concurrent consumers: every message applied exactly once, no update lost", async () => {
    const { store } = await engine.open({ completedTtlSeconds: 3600 });
    const typed = store as SagaStore<OrderState>;
    const orders = Array.from({ length: 20 }, (_, i) => `order-${i}`);
    const queue: Message[] = [];
    for (const orderId of orders) {
      // Two OrderSubmitted per order race to create the saga; only one insert can win.
      queue.push({ type: "OrderSubmitted", orderId, id: `${orderId}:submitted-a` }, { type: "OrderSubmitted", orderId, id: `${orderId}:submitted-b` });
      for (let n = 0; n < 10; n++) queue.push({ type: "ItemAdded", orderId, id: `${orderId}:item-${n}` });
    }
    queue.sort(() => Math.random() - 0.5);
    const { errorNames } = await deliver(typed, queue, 8);

    // The only failures a bus sees are the ones it handles by redelivery.
    for (const name of errorNames.keys()) expect(["ConcurrencyError", "SagaAlreadyExistsError", "Error"]).toContain(name);
    for (const orderId of orders) {
      const state = (await typed.getByCorrelationId(SAGA, orderId))!;
      expect(state.events).toHaveLength(12);
      expect(new Set(state.events).size).toBe(12);
      expect(state.metadata.version).toBe(12);
      expect(state.metadata.createdAt).toBeInstanceOf(Date);
      expect(await typed.getById(SAGA, state.metadata.sagaId)).toEqual(state);
    }

    // Completion, then a late message is ignored as the orchestrator does.
    await deliver(typed, orders.map((orderId) => ({ type: "OrderShipped" as const, orderId, id: `${orderId}:shipped` })), 4);
    await deliver(typed, orders.map((orderId) => ({ type: "ItemAdded" as const, orderId, id: `${orderId}:late` })), 4);
    for (const orderId of orders) {
      const state = (await typed.getByCorrelationId(SAGA, orderId))!;
      expect(state.metadata.isCompleted).toBe(true);
      expect(state.events.at(-1)).toBe(`${orderId}:shipped`);
      expect(state.metadata.version).toBe(13);
    }
  });

  it("delete(sagaName, sagaId), as saga-bus's contract calls it, removes the saga", async () => {
    const { store } = await engine.open();
    const typed = store as SagaStore<OrderState>;
    await deliver(typed, [{ type: "OrderSubmitted", orderId: "o-del", id: "m1" }], 1);
    const state = (await typed.getByCorrelationId(SAGA, "o-del"))!;
    await typed.delete(SAGA, state.metadata.sagaId);
    expect(await typed.getByCorrelationId(SAGA, "o-del")).toBeNull();
    expect(await typed.getById(SAGA, state.metadata.sagaId)).toBeNull();
  });
});
