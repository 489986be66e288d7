/**
 * Type tests: the store's types flow from the registry's Zod
 * schemas, with no hand-written state type. Run by vitest's typecheck mode
 * (vitest.config.ts: typecheck.include test/**\/*.test-d.ts); nothing here executes.
 */
import type { Redis } from "ioredis";
import { describe, expectTypeOf, it } from "vitest";
import { z } from "zod";
import {
  InMemorySagaStore,
  RedisSagaStore,
  createSagaRegistry,
  defineSaga,
  type SagaMetadata,
  type SagaState,
} from "../src/index";

// Input and output differ on purpose: defaults make fields optional on input, a transform changes a type.
const OrderV1 = z.object({ orderId: z.string(), amount: z.number() });
const OrderV2 = z.object({ orderId: z.string(), amount: z.number(), currency: z.string() });
const OrderV3 = z.object({
  orderId: z.string(),
  total: z.object({ cents: z.number().int(), currency: z.string() }),
  status: z.enum(["open", "paid", "cancelled"]).default("open"),
  notes: z.array(z.string()).default([]),
  reference: z.string().transform((value) => value.length),
});
const PaymentV1 = z.object({ paymentId: z.string(), captured: z.boolean() });

const OrderSaga = defineSaga("OrderSaga", OrderV1)
  .version(2, OrderV2, {
    upgrade: (v1) => {
      expectTypeOf(v1).toEqualTypeOf<{ orderId: string; amount: number }>();
      return { ...v1, currency: "EUR" };
    },
    downgrade: ({ currency: _currency, ...v1 }) => v1,
  })
  .version(3, OrderV3, {
    upgrade: (v2) => {
      expectTypeOf(v2).toEqualTypeOf<{ orderId: string; amount: number; currency: string }>();
      return { orderId: v2.orderId, total: { cents: v2.amount, currency: v2.currency }, reference: "r" };
    },
    downgrade: (v3) => {
      // The downgrade receives the parsed v3 (output: reference is a number, status is required).
      expectTypeOf(v3.reference).toEqualTypeOf<number>();
      expectTypeOf(v3.status).toEqualTypeOf<"open" | "paid" | "cancelled">();
      return { orderId: v3.orderId, amount: v3.total.cents, currency: v3.total.currency };
    },
  })
  .writeVersion(2);
const PaymentSaga = defineSaga("PaymentSaga", PaymentV1).withCodec("msgpack");

const registry = createSagaRegistry([OrderSaga, PaymentSaga]);

declare const redis: Redis;
const redisStore = new RedisSagaStore({ redis, registry });
const memoryStore = new InMemorySagaStore({ registry });

/** The latest schema's output plus the store's metadata, spelled out by hand to compare against. */
type OrderRead = {
  orderId: string;
  total: { cents: number; currency: string };
  status: "open" | "paid" | "cancelled";
  notes: string[];
  reference: number;
  metadata: SagaMetadata;
};
type PaymentRead = { paymentId: string; captured: boolean; metadata: SagaMetadata };

describe("a store with a registry: types come from the latest Zod schema", () => {
  it("findByCorrelationId / findById / get* return the latest output + metadata, or null", () => {
    for (const store of [redisStore, memoryStore]) {
      expectTypeOf(store.findByCorrelationId("OrderSaga", "c")).resolves.branded.toEqualTypeOf<OrderRead | null>();
      expectTypeOf(store.findById("OrderSaga", "s")).resolves.branded.toEqualTypeOf<OrderRead | null>();
      expectTypeOf(store.getByCorrelationId("OrderSaga", "c")).resolves.branded.toEqualTypeOf<OrderRead | null>();
      expectTypeOf(store.getById("OrderSaga", "s")).resolves.branded.toEqualTypeOf<OrderRead | null>();
      expectTypeOf(store.findByCorrelationId("PaymentSaga", "c")).resolves.branded.toEqualTypeOf<PaymentRead | null>();
      expectTypeOf(store.findByCorrelationId("OrderSaga", "c")).resolves.toEqualTypeOf<(z.output<typeof OrderV3> & { metadata: SagaMetadata }) | null>();
    }
  });

  it("not an older version's type, and not any", () => {
    expectTypeOf(redisStore.findByCorrelationId("OrderSaga", "c")).resolves.not.toBeAny();
    expectTypeOf(redisStore.findByCorrelationId("OrderSaga", "c")).resolves.not.toEqualTypeOf<
      (z.output<typeof OrderV2> & { metadata: SagaMetadata }) | null
    >();
    // writeVersion(2) changes what is stored, not what the caller sees.
    expectTypeOf(redisStore.findByCorrelationId("OrderSaga", "c")).resolves.not.toEqualTypeOf<OrderRead>();
  });

  it("the saga name parameter is exactly the registered names", () => {
    // (Parameters<> of a generic method gives its constraint: the names the registry declares.)
    expectTypeOf<Parameters<typeof redisStore.findByCorrelationId>[0]>().toEqualTypeOf<"OrderSaga" | "PaymentSaga">();
    expectTypeOf<Parameters<typeof memoryStore.save>[0]>().toEqualTypeOf<"OrderSaga" | "PaymentSaga">();
    expectTypeOf<Parameters<typeof memoryStore.modify>[0]>().toEqualTypeOf<"OrderSaga" | "PaymentSaga">();
    expectTypeOf(redisStore.delete).parameter(0).toEqualTypeOf<"OrderSaga" | "PaymentSaga">();
  });

  it("save / insert / update accept the latest input (defaults optional, pre-transform types)", () => {
    const input = { orderId: "o", total: { cents: 1, currency: "EUR" }, reference: "abc", metadata: { sagaId: "s" } };
    // Generic methods: the calls themselves are the assertions (this file only compiles if they type-check).
    expectTypeOf(redisStore.save("OrderSaga", input)).resolves.branded.toEqualTypeOf<OrderRead>();
    void memoryStore.insert("OrderSaga", "c", input);
    void memoryStore.update("OrderSaga", { ...input, status: "paid", notes: ["n"] }, 3);
    void redisStore.save("PaymentSaga", { paymentId: "p", captured: true, metadata: { sagaId: "s" } });
    expectTypeOf<z.input<typeof OrderV3>>().toEqualTypeOf<{
      orderId: string;
      total: { cents: number; currency: string };
      status?: "open" | "paid" | "cancelled" | undefined;
      notes?: string[] | undefined;
      reference: string;
    }>();
    // A saga-bus-shaped write needs metadata.sagaId, and nothing else of the metadata.
    // @ts-expect-error no metadata at all: the store could not tell which saga this is
    void memoryStore.insert("OrderSaga", "c", { orderId: "o", total: { cents: 1, currency: "EUR" }, reference: "r" });
    // @ts-expect-error metadata without its sagaId
    void redisStore.update("OrderSaga", { ...input, metadata: { version: 1 } }, 0);
    void redisStore.update("OrderSaga", { ...input, metadata: { sagaId: "s", version: 4, isCompleted: true } }, 3);
    // A new seed-shaped saga through save: id and correlationId are required, and come back.
    const seed = { id: "s", correlationId: "c", orderId: "o", total: { cents: 1, currency: "EUR" }, reference: "r" };
    expectTypeOf(redisStore.save("OrderSaga", seed)).resolves.toHaveProperty("correlationId").toEqualTypeOf<string>();
    expectTypeOf(redisStore.save("OrderSaga", seed)).resolves.toHaveProperty("reference").toEqualTypeOf<number>();
    const { correlationId: _dropped, ...withoutCorrelationId } = seed;
    // @ts-expect-error a new seed-shaped saga without its correlation id
    void redisStore.save("OrderSaga", withoutCorrelationId);
    // @ts-expect-error a v1-shaped state is not the latest input
    void redisStore.save("OrderSaga", { orderId: "o", amount: 1, metadata: { sagaId: "s" } });
    // @ts-expect-error `reference` is a string on input (the transform's output type is a number)
    void redisStore.save("OrderSaga", { ...input, reference: 3 });
    // @ts-expect-error not one of the enum's values
    void memoryStore.insert("OrderSaga", "c", { ...input, status: "shipped" });
    // @ts-expect-error another saga's state
    void memoryStore.save("PaymentSaga", input);
  });

  it("an unregistered name is a type error on every method", () => {
    // @ts-expect-error not in the registry
    void redisStore.findByCorrelationId("ShippingSaga", "c");
    // @ts-expect-error not in the registry
    void memoryStore.findById("ShippingSaga", "s");
    // @ts-expect-error not in the registry
    void redisStore.save("ShippingSaga", { anything: true });
    // @ts-expect-error not in the registry
    void redisStore.modify("ShippingSaga", "c", (state) => state);
    // @ts-expect-error not in the registry
    void memoryStore.delete("ShippingSaga", "c");
    // @ts-expect-error not in the registry
    void memoryStore.deleteById("ShippingSaga", "s");
    // @ts-expect-error names are case-sensitive
    void redisStore.findByCorrelationId("orderSaga", "c");
  });

  it("modify's callback gets the latest type and must return the latest input", () => {
    void redisStore.modify("OrderSaga", "c", (state) => {
      expectTypeOf(state).branded.toEqualTypeOf<OrderRead>();
      expectTypeOf(state.reference).toEqualTypeOf<number>();
      return { ...state, reference: String(state.reference), status: "paid" as const };
    });
    expectTypeOf(
      memoryStore.modify("OrderSaga", "c", async (state) => ({ ...state, reference: "r" })),
    ).resolves.branded.toEqualTypeOf<OrderRead>();
    void memoryStore.modify("PaymentSaga", "c", (state) => {
      expectTypeOf(state).branded.toEqualTypeOf<PaymentRead>();
      return { ...state, captured: true };
    });
    // @ts-expect-error the callback must return the latest input (reference must be a string again)
    void redisStore.modify("OrderSaga", "c", (state) => state);
  });
});

describe("stores without a registry", () => {
  it("an untyped store accepts any name and any state", () => {
    const store = new RedisSagaStore({ redis });
    const memory = new InMemorySagaStore();
    expectTypeOf<Parameters<typeof store.findByCorrelationId>[0]>().toEqualTypeOf<string>();
    expectTypeOf<Parameters<typeof memory.findById>[0]>().toEqualTypeOf<string>();
    expectTypeOf(store.findByCorrelationId("AnySaga", "c")).resolves.toBeAny();
    void memory.save("WhateverSaga", { anything: 1, metadata: { sagaId: "s" } });
    void store.insert("OtherSaga", "c", 42);
    void store.modify("Other", "c", (state) => {
      expectTypeOf(state).toBeAny();
      return state;
    });
  });

  it("new InMemorySagaStore<OrderState>() types every saga as OrderState (0.2.2 style)", () => {
    interface OrderState extends SagaState {
      orderId: string;
      totalCents: number;
    }
    const store = new InMemorySagaStore<OrderState>();
    const redisTyped = new RedisSagaStore<OrderState>({ redis });
    expectTypeOf<Parameters<typeof store.findByCorrelationId>[0]>().toEqualTypeOf<string>();
    expectTypeOf(store.findByCorrelationId("OrderSaga", "c")).resolves.toEqualTypeOf<OrderState | null>();
    expectTypeOf(store.findById("AnyOtherName", "s")).resolves.toEqualTypeOf<OrderState | null>();
    expectTypeOf(redisTyped.getByCorrelationId("X", "c")).resolves.toEqualTypeOf<OrderState | null>();
    expectTypeOf<Parameters<typeof store.save>[1]>().toEqualTypeOf<OrderState>();
    expectTypeOf(store.save("Any", {} as OrderState)).resolves.toEqualTypeOf<OrderState>();
    void store.modify("Any", "c", (state) => {
      expectTypeOf(state).toEqualTypeOf<OrderState>();
      return { ...state, totalCents: state.totalCents + 1 };
    });
    // @ts-expect-error totalCents is a number
    void store.save("Any", { orderId: "o", totalCents: "1", metadata: {} as SagaMetadata });
    // @ts-expect-error metadata is required by OrderState
    void redisTyped.insert("Any", "c", { orderId: "o", totalCents: 1 });
  });
});
