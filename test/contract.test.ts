/**
 * The shared contract: every test in the first describe.each runs against the
 * in-memory engine, a real standalone Redis and a real Redis Cluster (3 masters,
 * 3 replicas, default-style key prefix), and again on a standalone server and a
 * Cluster of their own whose store connects as a user with exactly the
 * README's least-privilege ACL, with the same expectations.
 * Tests that need raw bytes in Redis (corrupt values, stale indexes written by
 * hand, client ownership) follow in Redis-only describes.
 */
import { randomUUID } from "node:crypto";
import { Cluster, Redis } from "ioredis";
import { afterAll, describe, expect, inject, it, vi } from "vitest";
import { MemoryEngine } from "../src/engines/memory";
import {
  ConcurrencyError,
  DecodeError,
  InvalidKeyError,
  InvalidOptionsError,
  InvalidStateError,
  RedisSagaStore,
  SagaAlreadyExistsError,
  SagaNotFoundError,
  SagaStore,
  StoreClosedError,
  RedisUnavailableError,
  HASH_TAG_WARNING,
  type SagaCodec,
  type SagaStoreOptions,
} from "../src/index";
import { rejectionOf } from "./support/assertions";
import { CODEC_IDS, CODECS } from "./support/envelopes";
import { indexKeyOf, valueKeyOf } from "./support/key-layout";
import { clusterEngine, memoryEngine, redisEngine, sagaBusState, uniquePrefix } from "./support/stores";
import { leastPrivilegeClusterEngine, leastPrivilegeRedisEngine } from "./support/least-privilege";

function seedState(id: string, correlationId: string, data: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    id,
    correlationId,
    status: "running",
    data: { orderId: correlationId, ...data },
    metadata: { createdAt: new Date("2026-03-04T05:06:07.089Z"), note: "seed" },
    ...extra,
  } as Record<string, any>;
}

/** A saga-bus state exercising every JSON-representable shape plus the metadata Dates. */
function richSagaBusState(sagaId: string) {
  const state = sagaBusState(sagaId, {
    orderId: "order-ü-😀",
    total: 1234.5,
    negative: -7,
    flags: { paid: true, shipped: false },
    lines: [
      { sku: "A-1", qty: 2 },
      { sku: "B-2", qty: 1, tags: ["x", "y"] },
    ],
    nested: [[1, 2], [[3]], []],
    nothing: null,
    empty: "",
    text: 'quote " backslash \\ newline \n tab \t',
  }) as Record<string, any>;
  state.metadata.archivedAt = null;
  state.metadata.timeoutMs = 5000;
  state.metadata.timeoutExpiresAt = new Date("2026-01-02T04:00:00.000Z");
  state.metadata.traceParent = "00-abc-def-01";
  return state;
}

/** A custom codec (id 200) that only stores built with it can read. */
const privateCodec: SagaCodec = {
  id: 200,
  name: "private-json",
  encode: (state, reserve) => {
    const text = JSON.stringify(state);
    const buffer = Buffer.alloc(reserve + Buffer.byteLength(text));
    buffer.write(text, reserve);
    return buffer;
  },
  decode: (payload) => JSON.parse(payload.toString("utf8")),
};

describe.each([memoryEngine(), redisEngine(), clusterEngine(), leastPrivilegeRedisEngine(), leastPrivilegeClusterEngine()])("store contract on the $name engine", (engine) => {
  afterAll(() => engine.closeAll());

  const open = async (options: SagaStoreOptions = {}) => (await engine.open({ retryDelayMs: 1, ...options })).store;

  /** Several stores over the same data (same prefix on the same server, or one shared memory embedded), each with its own options and cache. */
  async function openShared(...optionsList: SagaStoreOptions[]): Promise<{ stores: SagaStore[]; prefix: string }> {
    const prefix = uniquePrefix();
    if (engine.name === "memory") {
      const embedded = new MemoryEngine();
      return { prefix, stores: optionsList.map((options) => new SagaStore({ retryDelayMs: 1, ...options, keyPrefix: prefix }, () => embedded)) };
    }
    const stores: SagaStore[] = [];
    for (const options of optionsList) stores.push((await engine.open({ retryDelayMs: 1, ...options, keyPrefix: prefix })).store);
    return { prefix, stores };
  }

  describe("saga-bus contract: insert / getById / getByCorrelationId / update", () => {
    it("insert stores the state at version 0, readable by id and by correlation id with Dates revived", async () => {
      const store = await open();
      const state = sagaBusState("saga-1", { orderId: "o-1", amount: 10 });
      await store.insert("OrderSaga", "order-1", state);

      const byCorrelation = await store.getByCorrelationId("OrderSaga", "order-1");
      const byId = await store.getById("OrderSaga", "saga-1");
      expect(byCorrelation).toEqual(state);
      expect(byId).toEqual(state);
      expect(byId!.metadata.version).toBe(0);
      expect(byId!.metadata.createdAt).toBeInstanceOf(Date);
      expect(byId!.metadata.updatedAt).toBeInstanceOf(Date);
    });

    it("unknown ids and correlation ids read as null", async () => {
      const store = await open();
      await store.insert("OrderSaga", "order-1", sagaBusState("saga-1"));
      expect(await store.getById("OrderSaga", "nope")).toBeNull();
      expect(await store.getByCorrelationId("OrderSaga", "nope")).toBeNull();
      expect(await store.getById("OtherSaga", "saga-1")).toBeNull();
      expect(await store.getByCorrelationId("OtherSaga", "order-1")).toBeNull();
    });

    it("insert of an existing correlation id throws SagaAlreadyExistsError and keeps the first saga", async () => {
      const store = await open();
      const first = sagaBusState("saga-1", { who: "first" });
      await store.insert("OrderSaga", "order-1", first);

      const error = await rejectionOf(store.insert("OrderSaga", "order-1", sagaBusState("saga-2", { who: "second" })));
      expect(error).toBeInstanceOf(SagaAlreadyExistsError);
      expect(error.code).toBe("SAGA_ALREADY_EXISTS");
      expect(error.correlationId).toBe("order-1");

      expect(await store.getByCorrelationId("OrderSaga", "order-1")).toEqual(first);
      expect(await store.getById("OrderSaga", "saga-1")).toEqual(first);
      // The loser's id leads nowhere.
      expect(await store.getById("OrderSaga", "saga-2")).toBeNull();
    });

    it("the same correlation id under two saga names holds two sagas", async () => {
      const store = await open();
      await store.insert("OrderSaga", "c-1", sagaBusState("a", { n: 1 }));
      await store.insert("PaymentSaga", "c-1", sagaBusState("a", { n: 2 }));
      expect((await store.getByCorrelationId("OrderSaga", "c-1"))!.n).toBe(1);
      expect((await store.getByCorrelationId("PaymentSaga", "c-1"))!.n).toBe(2);
      expect((await store.getById("OrderSaga", "a"))!.n).toBe(1);
      expect((await store.getById("PaymentSaga", "a"))!.n).toBe(2);
    });

    it("update with the loaded version writes version + 1; the stored version is authoritative", async () => {
      const store = await open();
      await store.insert("OrderSaga", "order-1", sagaBusState("saga-1", { step: 0 }));
      const loaded = (await store.getById("OrderSaga", "saga-1"))!;

      // The payload's own version copy is not trusted: the store records expectedVersion + 1.
      await store.update("OrderSaga", { ...loaded, step: 1, metadata: { ...loaded.metadata, version: 99 } }, 0);
      const v1 = (await store.getByCorrelationId("OrderSaga", "order-1"))!;
      expect(v1.step).toBe(1);
      expect(v1.metadata.version).toBe(1);

      await store.update("OrderSaga", { ...v1, step: 2, metadata: { ...v1.metadata, version: 2 } }, 1);
      const v2 = (await store.getById("OrderSaga", "saga-1"))!;
      expect(v2.step).toBe(2);
      expect(v2.metadata.version).toBe(2);
      expect(v2.metadata.createdAt).toEqual(new Date("2026-01-02T03:04:05.678Z"));
    });

    it("a stale update throws ConcurrencyError carrying the real stored version and writes nothing", async () => {
      const store = await open();
      await store.insert("OrderSaga", "order-1", sagaBusState("saga-1", { step: 0 }));
      const loaded = (await store.getById("OrderSaga", "saga-1"))!;
      await store.update("OrderSaga", { ...loaded, step: 1 }, 0);
      await store.update("OrderSaga", { ...loaded, step: 2 }, 1);

      const error = await rejectionOf(store.update("OrderSaga", { ...loaded, step: 99 }, 0));
      expect(error).toBeInstanceOf(ConcurrencyError);
      expect(error.name).toBe("ConcurrencyError");
      expect(error.code).toBe("SAGA_CONFLICT");
      expect(error.sagaId).toBe("saga-1");
      expect(error.expectedVersion).toBe(0);
      expect(error.actualVersion).toBe(2);
      expect(error.message).toContain("Optimistic concurrency conflict");

      const ahead = await rejectionOf(store.update("OrderSaga", { ...loaded, step: 99 }, 7));
      expect(ahead).toBeInstanceOf(ConcurrencyError);
      expect(ahead.expectedVersion).toBe(7);
      expect(ahead.actualVersion).toBe(2);

      const stored = (await store.getByCorrelationId("OrderSaga", "order-1"))!;
      expect(stored.step).toBe(2);
      expect(stored.metadata.version).toBe(2);
    });

    it("another store instance (no cache) updates through the id index", async () => {
      const { stores } = await openShared({}, {});
      const [writer, other] = stores as [SagaStore, SagaStore];
      await writer.insert("OrderSaga", "order-1", sagaBusState("saga-1", { step: 0 }));
      const loaded = (await other.getById("OrderSaga", "saga-1"))!;
      await other.update("OrderSaga", { ...loaded, step: 1 }, 0);
      const seen = (await writer.getByCorrelationId("OrderSaga", "order-1"))!;
      expect(seen.step).toBe(1);
      expect(seen.metadata.version).toBe(1);
      const stale = await rejectionOf(writer.update("OrderSaga", { ...loaded, step: 5 }, 0));
      expect(stale).toBeInstanceOf(ConcurrencyError);
      expect(stale.actualVersion).toBe(1);
    });

    it("update of a saga that never existed throws SAGA_NOT_FOUND and creates nothing", async () => {
      const store = await open();
      const error = await rejectionOf(store.update("OrderSaga", sagaBusState("ghost"), 0));
      expect(error).toBeInstanceOf(SagaNotFoundError);
      expect(error.code).toBe("SAGA_NOT_FOUND");
      const withCorrelation = await rejectionOf(store.update("OrderSaga", { ...sagaBusState("ghost"), correlationId: "c-ghost" }, 0));
      expect(withCorrelation).toBeInstanceOf(SagaNotFoundError);
      expect(await store.getById("OrderSaga", "ghost")).toBeNull();
      expect(await store.getByCorrelationId("OrderSaga", "c-ghost")).toBeNull();
    });

    it("update rejects a negative or fractional expectedVersion with INVALID_STATE", async () => {
      const store = await open();
      await store.insert("OrderSaga", "order-1", sagaBusState("saga-1"));
      for (const bad of [-1, 0.5, Number.NaN]) {
        const error = await rejectionOf(store.update("OrderSaga", sagaBusState("saga-1"), bad));
        expect(error).toBeInstanceOf(InvalidStateError);
        expect(error.code).toBe("INVALID_STATE");
      }
      expect((await store.getById("OrderSaga", "saga-1"))!.metadata.version).toBe(0);
    });
  });

  describe("seed API: save / findByCorrelationId / findById / delete / deleteById", () => {
    it("runs the seed README's basic example", async () => {
      const store = await open();
      expect(await store.findByCorrelationId("OrderSaga", "order-123")).toBeNull();
      expect(await store.findById("OrderSaga", "saga-456")).toBeNull();

      const saved = await store.save("OrderSaga", {
        id: "saga-456",
        correlationId: "order-123",
        status: "running",
        data: { orderId: "order-123" },
        metadata: {},
      });
      expect(saved.metadata.version).toBe(0);

      const state = await store.findByCorrelationId("OrderSaga", "order-123");
      const stateById = await store.findById("OrderSaga", "saga-456");
      const expected = { id: "saga-456", correlationId: "order-123", status: "running", data: { orderId: "order-123" }, metadata: { version: 0 } };
      expect(state).toEqual(expected);
      expect(stateById).toEqual(expected);

      expect(await store.deleteByCorrelationId("OrderSaga", "order-123")).toBe(true);
      expect(await store.findByCorrelationId("OrderSaga", "order-123")).toBeNull();
      expect(await store.findById("OrderSaga", "saga-456")).toBeNull();
      expect(await store.deleteByCorrelationId("OrderSaga", "order-123")).toBe(false);
    });

    it("a state without a version is a new saga stored at version 0; the returned state carries it", async () => {
      const store = await open();
      // Seed shape without metadata: the version lives at the top level.
      const input = { id: "s-1", correlationId: "c-1", status: "running", data: { n: 1 } };
      const saved = await store.save("OrderSaga", input);
      expect(saved).toEqual({ ...input, version: 0 });
      expect(await store.findByCorrelationId("OrderSaga", "c-1")).toEqual({ ...input, version: 0 });

      // Seed shape with metadata: the version lives in metadata; its Dates come back as Dates.
      const withMetadata = seedState("s-2", "c-2");
      const saved2 = await store.save("OrderSaga", withMetadata);
      expect(saved2.metadata.version).toBe(0);
      const loaded2 = (await store.findById("OrderSaga", "s-2"))!;
      expect(loaded2).toEqual({ ...withMetadata, metadata: { ...withMetadata.metadata, version: 0 } });
      expect(loaded2.metadata.createdAt).toBeInstanceOf(Date);
    });

    it("a new saga-bus shaped state is refused by save (its fields are its own, so it names no correlation id); insert creates it", async () => {
      const store = await open();
      const at = new Date("2026-05-06T07:08:09.010Z");
      const state = { correlationId: "c-bus", payload: 1, metadata: { sagaId: "bus-1", createdAt: at, updatedAt: at, isCompleted: false } };
      const error = await rejectionOf(store.save("OrderSaga", state));
      expect(error).toBeInstanceOf(InvalidStateError);
      expect(error.message).toMatch(/insert\(sagaName, correlationId, state\)/);
      expect(await store.findById("OrderSaga", "bus-1")).toBeNull();
      expect(await store.findByCorrelationId("OrderSaga", "c-bus")).toBeNull();

      await store.insert("OrderSaga", "order-bus", state);
      const loaded = (await store.findById("OrderSaga", "bus-1"))!;
      expect(loaded).toEqual({ ...state, metadata: { ...state.metadata, version: 0 } });
      expect(await store.findByCorrelationId("OrderSaga", "c-bus")).toBeNull();
      // An existing saga-bus saga is found through its id index by save.
      const saved = await store.save("OrderSaga", { ...loaded, payload: 2 });
      expect(saved.metadata.version).toBe(1);
      expect((await store.findByCorrelationId("OrderSaga", "order-bus"))!.payload).toBe(2);
    });

    it("a state with a version is written as that version + 1, and saving the returned state works again", async () => {
      const store = await open();
      const v0 = await store.save("OrderSaga", seedState("s-1", "c-1", { step: 0 }));
      const v1 = await store.save("OrderSaga", { ...v0, data: { ...v0.data, step: 1 } });
      expect(v1.metadata.version).toBe(1);
      const v2 = await store.save("OrderSaga", { ...v1, status: "completed", data: { ...v1.data, step: 2 } });
      expect(v2.metadata.version).toBe(2);

      const loaded = (await store.findByCorrelationId("OrderSaga", "c-1"))!;
      expect(loaded.metadata.version).toBe(2);
      expect(loaded.status).toBe("completed");
      expect(loaded.data.step).toBe(2);
      expect(loaded.metadata.createdAt).toBeInstanceOf(Date);

      // Top-level version for the shape without metadata.
      const t0 = await store.save("OrderSaga", { id: "s-2", correlationId: "c-2", status: "running", data: {} });
      const t1 = await store.save("OrderSaga", { ...t0, status: "waiting" });
      expect(t1.version).toBe(1);
      expect(await store.findById("OrderSaga", "s-2")).toEqual({ id: "s-2", correlationId: "c-2", status: "waiting", data: {}, version: 1 });
    });

    it("save of a saga-bus state without a correlation id finds it through the id index", async () => {
      const store = await open();
      await store.insert("OrderSaga", "order-1", sagaBusState("saga-1", { step: 0 }));
      const loaded = (await store.findById("OrderSaga", "saga-1"))!;
      const saved = await store.save("OrderSaga", { ...loaded, step: 1 });
      expect(saved.metadata.version).toBe(1);
      expect(saved.metadata.createdAt).toBeInstanceOf(Date);
      const reloaded = (await store.findByCorrelationId("OrderSaga", "order-1"))!;
      expect(reloaded.step).toBe(1);
      expect(reloaded.metadata.version).toBe(1);
      expect(reloaded.metadata.createdAt).toEqual(loaded.metadata.createdAt);
    });

    it("saving a new saga whose correlation id exists throws SAGA_ALREADY_EXISTS", async () => {
      const store = await open();
      await store.save("OrderSaga", seedState("s-1", "c-1", { who: "first" }));
      const error = await rejectionOf(store.save("OrderSaga", seedState("s-2", "c-1", { who: "second" })));
      expect(error).toBeInstanceOf(SagaAlreadyExistsError);
      expect(error.code).toBe("SAGA_ALREADY_EXISTS");
      expect((await store.findByCorrelationId("OrderSaga", "c-1"))!.data.who).toBe("first");
      expect(await store.findById("OrderSaga", "s-2")).toBeNull();
    });

    it("saving a stale version throws ConcurrencyError with the stored version", async () => {
      const store = await open();
      const v0 = await store.save("OrderSaga", seedState("s-1", "c-1", { step: 0 }));
      await store.save("OrderSaga", { ...v0, data: { step: 1 } });
      const error = await rejectionOf(store.save("OrderSaga", { ...v0, data: { step: 2 } }));
      expect(error).toBeInstanceOf(ConcurrencyError);
      expect(error.code).toBe("SAGA_CONFLICT");
      expect(error.sagaId).toBe("s-1");
      expect(error.expectedVersion).toBe(0);
      expect(error.actualVersion).toBe(1);
      expect(error.message).toContain("Optimistic concurrency conflict");
      expect((await store.findByCorrelationId("OrderSaga", "c-1"))!.data.step).toBe(1);
    });

    it("deleteById removes the saga and its index; unknown ids delete nothing", async () => {
      const store = await open();
      await store.save("OrderSaga", seedState("s-1", "c-1"));
      await store.save("OrderSaga", seedState("s-2", "c-2"));
      expect(await store.deleteById("OrderSaga", "nope")).toBe(false);
      expect(await store.deleteById("OrderSaga", "s-1")).toBe(true);
      expect(await store.findById("OrderSaga", "s-1")).toBeNull();
      expect(await store.findByCorrelationId("OrderSaga", "c-1")).toBeNull();
      expect(await store.deleteById("OrderSaga", "s-1")).toBe(false);
      expect(await store.deleteByCorrelationId("OrderSaga", "c-1")).toBe(false);
      // The neighbour is untouched.
      expect((await store.findById("OrderSaga", "s-2"))!.correlationId).toBe("c-2");
    });

    it("a deleted correlation id can be used by a new saga", async () => {
      const store = await open();
      await store.save("OrderSaga", seedState("s-1", "c-1"));
      expect(await store.deleteByCorrelationId("OrderSaga", "c-1")).toBe(true);
      const again = await store.save("OrderSaga", seedState("s-1", "c-1", { round: 2 }));
      expect(again.metadata.version).toBe(0);
      expect((await store.findById("OrderSaga", "s-1"))!.data.round).toBe(2);
    });
  });

  describe("modify", () => {
    it("loads, applies fn, saves and returns the state with its new version", async () => {
      const store = await open();
      await store.insert("OrderSaga", "order-1", sagaBusState("saga-1", { count: 0 }));
      const result = await store.modify("OrderSaga", "order-1", (state) => ({ ...state, count: state.count + 1 }));
      expect(result.count).toBe(1);
      expect(result.metadata.version).toBe(1);
      const stored = (await store.findById("OrderSaga", "saga-1"))!;
      expect(stored.count).toBe(1);
      expect(stored.metadata.version).toBe(1);
      expect(stored.metadata.createdAt).toBeInstanceOf(Date);
    });

    it("works on the seed shape (async fn)", async () => {
      const store = await open();
      await store.save("OrderSaga", seedState("s-1", "c-1", { count: 5 }));
      const result = await store.modify("OrderSaga", "c-1", async (state) => ({ ...state, status: "completed", data: { ...state.data, count: state.data.count * 2 } }));
      expect(result.metadata.version).toBe(1);
      const stored = (await store.findByCorrelationId("OrderSaga", "c-1"))!;
      expect(stored.status).toBe("completed");
      expect(stored.data.count).toBe(10);
    });

    it("on a conflict reloads and applies fn again, so no update is lost", async () => {
      const { stores } = await openShared({}, {});
      const [store, rival] = stores as [SagaStore, SagaStore];
      await store.insert("OrderSaga", "order-1", sagaBusState("saga-1", { count: 0, log: [] as string[] }));
      const seen: number[] = [];
      const result = await store.modify("OrderSaga", "order-1", async (state) => {
        seen.push(state.metadata.version);
        if (seen.length === 1) {
          // A rival write lands between our load and our save.
          await rival.modify("OrderSaga", "order-1", (s) => ({ ...s, count: s.count + 1, log: [...s.log, "rival"] }));
        }
        return { ...state, count: state.count + 1, log: [...state.log, "mine"] };
      });
      expect(seen).toEqual([0, 1]);
      expect(result.metadata.version).toBe(2);
      const stored = (await store.findByCorrelationId("OrderSaga", "order-1"))!;
      expect(stored.count).toBe(2);
      expect(stored.log).toEqual(["rival", "mine"]);
      expect(stored.metadata.version).toBe(2);
    });

    it("gives up with ConcurrencyError after maxRetries reloads", async () => {
      const { stores } = await openShared({ maxRetries: 2 }, {});
      const [store, rival] = stores as [SagaStore, SagaStore];
      await store.insert("OrderSaga", "order-1", sagaBusState("saga-1", { count: 0 }));
      let calls = 0;
      const error = await rejectionOf(
        store.modify("OrderSaga", "order-1", async (state) => {
          calls++;
          await rival.modify("OrderSaga", "order-1", (s) => ({ ...s, count: s.count + 100 }));
          return { ...state, count: -1 };
        }),
      );
      expect(error).toBeInstanceOf(ConcurrencyError);
      expect(error.code).toBe("SAGA_CONFLICT");
      expect(calls).toBe(3);
      const stored = (await store.findByCorrelationId("OrderSaga", "order-1"))!;
      expect(stored.count).toBe(300);
      expect(stored.metadata.version).toBe(3);
    });

    it("throws SAGA_NOT_FOUND for a missing saga without calling fn", async () => {
      const store = await open();
      const fn = vi.fn((state: any) => state);
      const error = await rejectionOf(store.modify("OrderSaga", "missing", fn));
      expect(error).toBeInstanceOf(SagaNotFoundError);
      expect(error.code).toBe("SAGA_NOT_FOUND");
      expect(fn).not.toHaveBeenCalled();
    });

    it("throws SAGA_NOT_FOUND when the saga is deleted while fn runs, and does not resurrect it", async () => {
      const store = await open();
      await store.insert("OrderSaga", "order-1", sagaBusState("saga-1", { count: 0 }));
      const error = await rejectionOf(
        store.modify("OrderSaga", "order-1", async (state) => {
          await store.delete("OrderSaga", "order-1");
          return { ...state, count: 1 };
        }),
      );
      expect(error).toBeInstanceOf(SagaNotFoundError);
      expect(await store.findByCorrelationId("OrderSaga", "order-1")).toBeNull();
      expect(await store.findById("OrderSaga", "saga-1")).toBeNull();
    });

    it("an error thrown by fn propagates and nothing is written", async () => {
      const store = await open();
      await store.insert("OrderSaga", "order-1", sagaBusState("saga-1", { count: 0 }));
      await expect(
        store.modify("OrderSaga", "order-1", () => {
          throw new Error("boom");
        }),
      ).rejects.toThrow("boom");
      expect((await store.findByCorrelationId("OrderSaga", "order-1"))!.metadata.version).toBe(0);
    });
  });

  describe("deleted sagas and stale indexes", () => {
    it("update or save of a deleted saga throws SAGA_NOT_FOUND and does not recreate it", async () => {
      const store = await open();
      // saga-bus shape (no correlation id in the state): found through the index, which is gone.
      await store.insert("OrderSaga", "order-1", sagaBusState("saga-1", { step: 0 }));
      const loaded = (await store.getById("OrderSaga", "saga-1"))!;
      expect(await store.deleteByCorrelationId("OrderSaga", "order-1")).toBe(true);
      const viaUpdate = await rejectionOf(store.update("OrderSaga", { ...loaded, step: 1 }, 0));
      expect(viaUpdate).toBeInstanceOf(SagaNotFoundError);
      expect(viaUpdate.code).toBe("SAGA_NOT_FOUND");
      const viaSave = await rejectionOf(store.save("OrderSaga", { ...loaded, step: 1 }));
      expect(viaSave).toBeInstanceOf(SagaNotFoundError);

      // Seed shape (carries its correlation id), deleted by id.
      const seed = await store.save("OrderSaga", seedState("s-2", "c-2"));
      expect(await store.deleteById("OrderSaga", "s-2")).toBe(true);
      const seedSave = await rejectionOf(store.save("OrderSaga", { ...seed, status: "again" }));
      expect(seedSave).toBeInstanceOf(SagaNotFoundError);
      expect(seedSave.code).toBe("SAGA_NOT_FOUND");
      const seedUpdate = await rejectionOf(store.update("OrderSaga", seed, 0));
      expect(seedUpdate).toBeInstanceOf(SagaNotFoundError);

      expect(await store.getById("OrderSaga", "saga-1")).toBeNull();
      expect(await store.getByCorrelationId("OrderSaga", "order-1")).toBeNull();
      expect(await store.findById("OrderSaga", "s-2")).toBeNull();
      expect(await store.findByCorrelationId("OrderSaga", "c-2")).toBeNull();
    });

    it("findById never returns another saga that took over a deleted saga's correlation id", async () => {
      const store = await open();
      await store.insert("OrderSaga", "c", sagaBusState("a", { who: "A" }));
      expect((await store.findById("OrderSaga", "a"))!.who).toBe("A");
      expect(await store.deleteByCorrelationId("OrderSaga", "c")).toBe(true);
      await store.insert("OrderSaga", "c", sagaBusState("b", { who: "B" }));

      expect(await store.findById("OrderSaga", "a")).toBeNull();
      expect(await store.getById("OrderSaga", "a")).toBeNull();
      expect(await store.deleteById("OrderSaga", "a")).toBe(false);
      expect((await store.findByCorrelationId("OrderSaga", "c"))!.who).toBe("B");
      expect((await store.findById("OrderSaga", "b"))!.who).toBe("B");
    });

    it("a store whose cache still maps a deleted saga's id never reads, updates or deletes its successor", async () => {
      const { stores } = await openShared({}, {}, {}, {});
      const [writer, reader, updater, deleter] = stores as [SagaStore, SagaStore, SagaStore, SagaStore];
      await writer.insert("OrderSaga", "c", sagaBusState("a", { who: "A" }));
      // Each of these stores now remembers a -> c.
      const stateA = (await reader.findById("OrderSaga", "a"))!;
      expect(stateA.who).toBe("A");
      expect((await updater.findById("OrderSaga", "a"))!.who).toBe("A");
      expect((await deleter.findById("OrderSaga", "a"))!.who).toBe("A");

      expect(await writer.deleteByCorrelationId("OrderSaga", "c")).toBe(true);
      await writer.insert("OrderSaga", "c", sagaBusState("b", { who: "B" }));

      expect(await reader.findById("OrderSaga", "a")).toBeNull();
      expect(await reader.getById("OrderSaga", "a")).toBeNull();
      const viaUpdate = await rejectionOf(updater.update("OrderSaga", { ...stateA, who: "A2" }, 0));
      expect(viaUpdate).toBeInstanceOf(SagaNotFoundError);
      const viaSave = await rejectionOf(updater.save("OrderSaga", { ...stateA, who: "A3" }));
      expect(viaSave).toBeInstanceOf(SagaNotFoundError);
      expect(await deleter.deleteById("OrderSaga", "a")).toBe(false);

      const b = (await writer.findByCorrelationId("OrderSaga", "c"))!;
      expect(b.who).toBe("B");
      expect(b.metadata.sagaId).toBe("b");
      expect(b.metadata.version).toBe(0);
      for (const store of [reader, updater, deleter]) expect((await store.findById("OrderSaga", "b"))!.who).toBe("B");
    });
  });

  describe("saga-bus states: top-level fields are the saga's own data", () => {
    /** User data named like the store's fields, with values that disagree with the store's own. */
    const lookalikes = { correlationId: "user-correlation", status: "completed", id: "user-id", version: 99, note: "n0" };

    it("insert, get*, find*, update, save, modify and delete go by metadata and the bus's correlation id only", async () => {
      const store = await open();
      const state = sagaBusState("sb-1", lookalikes);
      await store.insert("OrderSaga", "bus-correlation", state);

      for (const read of [store.getByCorrelationId("OrderSaga", "bus-correlation"), store.findById("OrderSaga", "sb-1")]) {
        expect(await read).toEqual(state);
      }
      expect(await store.findByCorrelationId("OrderSaga", "user-correlation")).toBeNull();
      expect(await store.findById("OrderSaga", "user-id")).toBeNull();

      const v0 = (await store.getById("OrderSaga", "sb-1"))!;
      await store.update("OrderSaga", { ...v0, note: "n1", metadata: { ...v0.metadata, version: 1 } }, 0);
      const stale = await rejectionOf(store.update("OrderSaga", { ...v0, note: "lost", metadata: { ...v0.metadata, version: 1 } }, 0));
      expect(stale).toBeInstanceOf(ConcurrencyError);
      expect(stale).toMatchObject({ expectedVersion: 0, actualVersion: 1 });

      const v1 = (await store.getByCorrelationId("OrderSaga", "bus-correlation"))!;
      expect(v1).toEqual({ ...lookalikes, note: "n1", metadata: { ...state.metadata, version: 1 } });
      const v2 = await store.save("OrderSaga", { ...v1, note: "n2" });
      expect(v2.metadata.version).toBe(2);
      expect(v2.version).toBe(99);
      const v3 = await store.modify("OrderSaga", "bus-correlation", (current) => ({ ...current, note: `${current.note}+` }));
      expect(v3).toEqual({ ...lookalikes, note: "n2+", metadata: { ...state.metadata, version: 3 } });
      expect(await store.findById("OrderSaga", "sb-1")).toEqual(v3);

      // saga-bus deletes by saga id.
      await store.delete("OrderSaga", "sb-1");
      expect(await store.getByCorrelationId("OrderSaga", "bus-correlation")).toBeNull();
      expect(await store.getById("OrderSaga", "sb-1")).toBeNull();
    });

    it("completion is metadata.isCompleted alone: status 'completed' in the data gets no completed TTL", async () => {
      const store = await open({ completedTtlSeconds: 1 });
      await store.insert("OrderSaga", "active", sagaBusState("sb-active", lookalikes));
      const completed = sagaBusState("sb-done", { ...lookalikes, status: "running" });
      await store.insert("OrderSaga", "done", { ...completed, metadata: { ...completed.metadata, isCompleted: true } });
      await new Promise((resolve) => setTimeout(resolve, 1_300));
      expect((await store.getByCorrelationId("OrderSaga", "active"))!.status).toBe("completed");
      expect(await store.findById("OrderSaga", "sb-active")).not.toBeNull();
      expect(await store.getByCorrelationId("OrderSaga", "done")).toBeNull();
      expect(await store.findById("OrderSaga", "sb-done")).toBeNull();
    });
  });

  describe("saga ids are unique per saga name", () => {
    /** A store plus a way to point an id index anywhere, as a leftover from another program would. */
    async function openWithIndexWriter() {
      if (engine.name === "memory") {
        const embedded = new MemoryEngine();
        const prefix = uniquePrefix();
        const store = new SagaStore({ retryDelayMs: 1, keyPrefix: prefix }, () => embedded);
        return { store, prefix, putIndex: async (key: string, to: string) => embedded.plant(key, to) };
      }
      const opened = await engine.open({ retryDelayMs: 1 });
      const raw = (opened.redis ?? opened.cluster)!;
      return { store: opened.store, prefix: opened.prefix, putIndex: async (key: string, to: string) => void (await raw.set(key, to)) };
    }

    it("insert of a saga id live under another correlation id is SAGA_ALREADY_EXISTS naming both, and writes nothing", async () => {
      const store = await open();
      await store.insert("OrderSaga", "first", sagaBusState("dup-1", { who: "first" }));
      const error = await rejectionOf(store.insert("OrderSaga", "second", sagaBusState("dup-1", { who: "second" })));
      expect(error).toBeInstanceOf(SagaAlreadyExistsError);
      expect(error).toMatchObject({ code: "SAGA_ALREADY_EXISTS", sagaName: "OrderSaga", sagaId: "dup-1", correlationId: "second", existingCorrelationId: "first" });
      expect(error.message).toContain('"first"');
      expect(error.message).toContain('"second"');
      expect(await store.getByCorrelationId("OrderSaga", "second")).toBeNull();
      expect((await store.getById("OrderSaga", "dup-1"))!.who).toBe("first");
      // A new seed-shaped save is an insert too.
      const viaSave = await rejectionOf(store.save("OrderSaga", seedState("dup-1", "third")));
      expect(viaSave).toMatchObject({ code: "SAGA_ALREADY_EXISTS", existingCorrelationId: "first" });
      expect(await store.findByCorrelationId("OrderSaga", "third")).toBeNull();
      // Once the first is deleted the id is free again.
      await store.delete("OrderSaga", "dup-1");
      await store.insert("OrderSaga", "second", sagaBusState("dup-1", { who: "second" }));
      expect((await store.getById("OrderSaga", "dup-1"))!.who).toBe("second");
    });

    it("a stale index (its value gone, or another saga's) does not block, and is repointed", async () => {
      const { store, prefix, putIndex } = await openWithIndexWriter();
      const indexKey = `${prefix}saga:OrderSaga:idx:id:dup-2`;
      await putIndex(indexKey, "nothing-here");
      await store.insert("OrderSaga", "mine", sagaBusState("dup-2", { who: "mine" }));
      expect((await store.getById("OrderSaga", "dup-2"))!.who).toBe("mine");

      await store.insert("OrderSaga", "other", sagaBusState("someone-else", { who: "other" }));
      await putIndex(`${prefix}saga:OrderSaga:idx:id:dup-3`, "other");
      await store.insert("OrderSaga", "third", sagaBusState("dup-3", { who: "third" }));
      expect((await store.getById("OrderSaga", "dup-3"))!.who).toBe("third");
      expect((await store.getById("OrderSaga", "someone-else"))!.who).toBe("other");
    });

    it("concurrent inserts of one saga id under two correlation ids: exactly one wins, the other is refused and leaves nothing", async () => {
      const store = await open();
      const pairs = 25;
      const outcomes = await Promise.all(
        Array.from({ length: pairs }, async (_, i) => {
          const sagaId = `race-${i}`;
          const settled = await Promise.allSettled([
            store.insert("OrderSaga", `${sagaId}-a`, sagaBusState(sagaId, { who: "a" })),
            store.insert("OrderSaga", `${sagaId}-b`, sagaBusState(sagaId, { who: "b" })),
          ]);
          return { sagaId, settled };
        }),
      );
      for (const { sagaId, settled } of outcomes) {
        const won = settled.findIndex((outcome) => outcome.status === "fulfilled");
        expect(settled.filter((outcome) => outcome.status === "fulfilled")).toHaveLength(1);
        const winner = won === 0 ? "a" : "b";
        const loser = won === 0 ? "b" : "a";
        const refusal = (settled[1 - won] as PromiseRejectedResult).reason;
        expect(refusal).toBeInstanceOf(SagaAlreadyExistsError);
        expect(refusal).toMatchObject({ correlationId: `${sagaId}-${loser}`, existingCorrelationId: `${sagaId}-${winner}` });
        expect(await store.getByCorrelationId("OrderSaga", `${sagaId}-${loser}`)).toBeNull();
        expect((await store.getById("OrderSaga", sagaId))!.who).toBe(winner);
      }
    });
  });

  describe("invalid keys, states and options", () => {
    const badNames: Array<[string, string]> = [
      ["empty", ""],
      ["containing ':'", "Order:Saga"],
      ["with a lone surrogate", "Order\uD800Saga"],
    ];

    it.each(badNames)("a saga name %s is INVALID_KEY on every method", async (_label, name) => {
      const store = await open();
      const calls: Array<() => Promise<unknown>> = [
        () => store.findByCorrelationId(name, "c"),
        () => store.findById(name, "s"),
        () => store.getByCorrelationId(name, "c"),
        () => store.getById(name, "s"),
        () => store.save(name, seedState("s", "c")),
        () => store.insert(name, "c", sagaBusState("s")),
        () => store.update(name, { ...sagaBusState("s"), correlationId: "c" }, 0),
        () => store.modify(name, "c", (s) => s),
        () => store.delete(name, "c"),
        () => store.deleteById(name, "s"),
      ];
      for (const call of calls) {
        const error = await rejectionOf(call());
        expect(error).toBeInstanceOf(InvalidKeyError);
        expect(error.code).toBe("INVALID_KEY");
      }
    });

    const badIds: Array<[string, string]> = [
      ["empty", ""],
      ["a lone high surrogate", "abc\uD83D"],
      ["a lone low surrogate", "\uDE00abc"],
      ["1025 ASCII bytes", "x".repeat(1025)],
      ["1026 UTF-8 bytes in 513 characters", "é".repeat(513)],
      ["1028 UTF-8 bytes of emoji", "😀".repeat(257)],
    ];

    it.each(badIds)("an id that is %s is INVALID_KEY as saga id and as correlation id", async (_label, id) => {
      const store = await open();
      const asCorrelation: Array<() => Promise<unknown>> = [
        () => store.findByCorrelationId("OrderSaga", id),
        () => store.save("OrderSaga", seedState("ok-id", id)),
        () => store.insert("OrderSaga", id, sagaBusState("ok-id")),
        () => store.modify("OrderSaga", id, (s) => s),
        () => store.delete("OrderSaga", id),
      ];
      const asSagaId: Array<() => Promise<unknown>> = [
        () => store.findById("OrderSaga", id),
        () => store.save("OrderSaga", seedState(id, "ok-c")),
        () => store.insert("OrderSaga", "ok-c", sagaBusState(id)),
        () => store.update("OrderSaga", sagaBusState(id), 0),
        () => store.deleteById("OrderSaga", id),
      ];
      for (const call of [...asCorrelation, ...asSagaId]) {
        const error = await rejectionOf(call());
        expect(error).toBeInstanceOf(InvalidKeyError);
        expect(error.code).toBe("INVALID_KEY");
      }
      // Nothing was half-written by the rejected inserts and saves.
      expect(await store.findByCorrelationId("OrderSaga", "ok-c")).toBeNull();
      expect(await store.findById("OrderSaga", "ok-id")).toBeNull();
    });

    it("ids of exactly 1024 UTF-8 bytes are accepted", async () => {
      const store = await open();
      for (const [i, id] of ["x".repeat(1024), "😀".repeat(256), "é".repeat(512)].entries()) {
        await store.save("OrderSaga", seedState(id, id, { i }));
        expect((await store.findByCorrelationId("OrderSaga", id))!.data.i).toBe(i);
        expect((await store.findById("OrderSaga", id))!.data.i).toBe(i);
      }
    });

    it("a new save without a correlation id, or any state without a saga id, is INVALID_STATE", async () => {
      const store = await open();
      const noCorrelation = await rejectionOf(store.save("OrderSaga", { id: "s-1", status: "running", data: {} }));
      expect(noCorrelation).toBeInstanceOf(InvalidStateError);
      expect(noCorrelation.code).toBe("INVALID_STATE");
      const busNoCorrelation = await rejectionOf(store.save("OrderSaga", { metadata: { sagaId: "s-1", isCompleted: false } }));
      expect(busNoCorrelation.code).toBe("INVALID_STATE");

      for (const call of [
        () => store.save("OrderSaga", { correlationId: "c-1", status: "running", data: {} }),
        () => store.save("OrderSaga", { correlationId: "c-1", metadata: { version: 0 } }),
        () => store.save("OrderSaga", { id: 42, correlationId: "c-1" }),
        () => store.insert("OrderSaga", "c-1", { metadata: { version: 0 } }),
        () => store.update("OrderSaga", { correlationId: "c-1", metadata: { version: 0 } }, 0),
        () => store.save("OrderSaga", null as any),
      ]) {
        const error = await rejectionOf(call());
        expect(error).toBeInstanceOf(InvalidStateError);
        expect(error.code).toBe("INVALID_STATE");
      }
      expect(await store.findByCorrelationId("OrderSaga", "c-1")).toBeNull();
      expect(await store.findById("OrderSaga", "s-1")).toBeNull();
    });

    it("bad options are INVALID_OPTIONS", async () => {
      for (const options of [{ codec: "xml" as any }, { defaultTtlSeconds: -1 }, { completedTtlSeconds: 1.5 }, { maxRetries: -1 }, { codec: { ...privateCodec, id: 5 } }]) {
        const error = await rejectionOf(open(options));
        expect(error).toBeInstanceOf(InvalidOptionsError);
        expect(error.code).toBe("INVALID_OPTIONS");
      }
    });
  });

  describe("codecs", () => {
    it.each(CODECS)("%s round-trips a saga-bus state through insert, update and both reads", async (codec) => {
      const store = await open({ codec });
      const state = richSagaBusState(`saga-${codec}`);
      await store.insert("OrderSaga", `order-${codec}`, state);
      const byCorrelation = (await store.getByCorrelationId("OrderSaga", `order-${codec}`))!;
      expect(byCorrelation).toEqual(state);
      for (const field of ["createdAt", "updatedAt", "timeoutExpiresAt"]) expect(byCorrelation.metadata[field]).toBeInstanceOf(Date);
      expect(byCorrelation.metadata.archivedAt).toBeNull();

      const next = { ...byCorrelation, total: 99, metadata: { ...byCorrelation.metadata, updatedAt: new Date("2026-02-02T00:00:00.000Z") } };
      await store.update("OrderSaga", next, 0);
      const byId = (await store.getById("OrderSaga", `saga-${codec}`))!;
      expect(byId).toEqual({ ...next, metadata: { ...next.metadata, version: 1 } });
      expect(byId.metadata.updatedAt).toEqual(new Date("2026-02-02T00:00:00.000Z"));
    });

    it.each(CODECS)("%s round-trips the seed shape through save, with metadata Dates revived", async (codec) => {
      const store = await open({ codec });
      const state = seedState("s-1", "c-1", { lines: [{ sku: "x", qty: 1 }], paid: false });
      const saved = await store.save("OrderSaga", state);
      const loaded = (await store.findByCorrelationId("OrderSaga", "c-1"))!;
      expect(loaded).toEqual(saved);
      expect(loaded).toEqual({ ...state, metadata: { ...state.metadata, version: 0 } });
      expect(loaded.metadata.createdAt).toBeInstanceOf(Date);
    });

    const pairs = CODECS.flatMap((writer) => CODECS.map((reader) => [writer, reader] as const));
    it.each(pairs)("rolling codec change: a %s writer and a %s reader read and update each other's values", async (writerCodec, readerCodec) => {
      const { stores } = await openShared({ codec: writerCodec }, { codec: readerCodec });
      const [writer, reader] = stores as [SagaStore, SagaStore];
      const state = richSagaBusState("saga-roll");
      await writer.insert("OrderSaga", "order-roll", state);
      const read = (await reader.getById("OrderSaga", "saga-roll"))!;
      expect(read).toEqual(state);
      expect(read.metadata.createdAt).toBeInstanceOf(Date);

      await reader.update("OrderSaga", { ...read, total: 1 }, 0);
      const back = (await writer.getByCorrelationId("OrderSaga", "order-roll"))!;
      expect(back).toEqual({ ...state, total: 1, metadata: { ...state.metadata, version: 1 } });
      expect(back.metadata.timeoutExpiresAt).toBeInstanceOf(Date);

      const modified = await writer.modify("OrderSaga", "order-roll", (s) => ({ ...s, total: s.total + 1 }));
      expect(modified.metadata.version).toBe(2);
      expect((await reader.getByCorrelationId("OrderSaga", "order-roll"))!.total).toBe(2);
    });

    it("a value in a codec this store does not know is a DecodeError naming the key", async () => {
      const { stores, prefix } = await openShared({ codec: privateCodec }, {});
      const [custom, plain] = stores as [SagaStore, SagaStore];
      await custom.save("OrderSaga", seedState("s-1", "c-1"));
      expect((await custom.findById("OrderSaga", "s-1"))!.data.orderId).toBe("c-1");

      const key = valueKeyOf(prefix, "OrderSaga", "c-1");
      for (const read of [() => plain.findByCorrelationId("OrderSaga", "c-1"), () => plain.findById("OrderSaga", "s-1"), () => plain.modify("OrderSaga", "c-1", (s) => s)]) {
        const error = await rejectionOf(read());
        expect(error).toBeInstanceOf(DecodeError);
        expect(error.code).toBe("DECODE_FAILED");
        expect(error.key).toBe(key);
        expect(error.message).toContain(key);
      }
      // The custom store still reads its own value, unchanged.
      expect((await custom.findByCorrelationId("OrderSaga", "c-1"))!.metadata.version).toBe(0);
    });
  });
});

// ---------------------------------------------------------------------------
// Redis only: raw bytes, hand-written stale indexes, client ownership.
// ---------------------------------------------------------------------------

function connectionOptionsFromUrl(url: string) {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.pathname.length > 1 ? { db: Number(parsed.pathname.slice(1)) } : {}),
  };
}

describe("Redis only: corrupt stored bytes", () => {
  const engine = redisEngine();
  afterAll(() => engine.closeAll());

  function envelopeHeader(format: number, codecId: number, flags: number): Buffer {
    const header = Buffer.alloc(28);
    header[0] = 0xfe;
    header[1] = format;
    header[2] = codecId;
    header[3] = flags;
    header.writeUInt32BE(1, 4);
    return header;
  }

  // Bytes that are neither a readable envelope nor a 0.2.2 JSON value, even for the server-side compare-and-set.
  const unreadable: Array<[string, Buffer]> = [
    ["random binary", Buffer.from([0x00, 0xff, 0x13, 0x37, 0x80, 0x81])],
    ["an empty string", Buffer.alloc(0)],
    ["a truncated envelope", Buffer.from([0xfe, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00])],
    ["an envelope of unknown format 9", Buffer.concat([envelopeHeader(9, 1, 0), Buffer.from("{}")])],
    ["truncated JSON", Buffer.from('{"metadata":{"sagaId":"s-1","version":0')],
    ["JSON that is not an object", Buffer.from("[1,2,3]")],
    ["plain text", Buffer.from("hello world")],
  ];

  it.each(unreadable)("%s: reads are DECODE_FAILED naming the key, and no write overwrites the bytes", async (_label, garbage) => {
    const { store, prefix, redis } = await engine.open({ retryDelayMs: 1 });
    const valueKey = valueKeyOf(prefix, "OrderSaga", "c-1");
    const v0 = await store.save("OrderSaga", seedState("s-1", "c-1"));
    await store.insert("OrderSaga", "c-bus", sagaBusState("bus-1"));
    const busKey = valueKeyOf(prefix, "OrderSaga", "c-bus");
    await redis!.set(valueKey, garbage);
    await redis!.set(busKey, garbage);

    for (const [key, read] of [
      [valueKey, () => store.findByCorrelationId("OrderSaga", "c-1")],
      [valueKey, () => store.findById("OrderSaga", "s-1")],
      [busKey, () => store.getByCorrelationId("OrderSaga", "c-bus")],
      [busKey, () => store.getById("OrderSaga", "bus-1")],
      [valueKey, () => store.modify("OrderSaga", "c-1", (s) => s)],
    ] as const) {
      const error = await rejectionOf(read());
      expect(error).toBeInstanceOf(DecodeError);
      expect(error.code).toBe("DECODE_FAILED");
      expect(error.key).toBe(key);
      expect(error.message).toContain(key);
    }

    const writes: Array<() => Promise<unknown>> = [
      () => store.save("OrderSaga", { ...v0, status: "overwritten" }),
      () => store.update("OrderSaga", { ...v0, status: "overwritten" }, 0),
      () => store.update("OrderSaga", sagaBusState("bus-1", { overwritten: true }), 0),
      () => store.save("OrderSaga", sagaBusState("bus-1", { overwritten: true })),
      () => store.insert("OrderSaga", "c-1", sagaBusState("s-1")),
      () => store.save("OrderSaga", seedState("s-9", "c-1")),
      () => store.deleteById("OrderSaga", "s-1"),
    ];
    for (const write of writes) {
      const error = await rejectionOf(write());
      expect(["DECODE_FAILED", "SAGA_ALREADY_EXISTS"]).toContain(error.code);
    }
    const decodeOnSave = await rejectionOf(store.save("OrderSaga", { ...v0, status: "overwritten" }));
    expect(decodeOnSave).toBeInstanceOf(DecodeError);
    expect(decodeOnSave.key).toBe(valueKey);

    expect(await redis!.getBuffer(valueKey)).toEqual(garbage);
    expect(await redis!.getBuffer(busKey)).toEqual(garbage);
    // The index survived the failed writes, so the saga stays reachable by id once repaired.
    expect(await redis!.get(indexKeyOf(prefix, "OrderSaga", "s-1"))).toBe("c-1");
  });

  it("deleteById of an envelope in an unknown format (same saga id fingerprint) is DECODE_FAILED and deletes nothing", async () => {
    const { store, prefix, redis } = await engine.open();
    const valueKey = valueKeyOf(prefix, "OrderSaga", "c-1");
    const indexKey = indexKeyOf(prefix, "OrderSaga", "s-1");
    await store.save("OrderSaga", seedState("s-1", "c-1"));
    const future = Buffer.from((await redis!.getBuffer(valueKey))!);
    future[1] = 9; // a later envelope format this version cannot read
    await redis!.set(valueKey, future);

    const read = await rejectionOf(store.findById("OrderSaga", "s-1"));
    expect(read).toBeInstanceOf(DecodeError);
    const error = await rejectionOf(store.deleteById("OrderSaga", "s-1"));
    expect(error).toBeInstanceOf(DecodeError);
    expect(error.code).toBe("DECODE_FAILED");
    expect(error.key).toBe(valueKey);
    expect(await redis!.getBuffer(valueKey)).toEqual(future);
    expect(await redis!.get(indexKey)).toBe("c-1");
  });

  it("delete by correlation id removes an unreadable value (the caller asked for it to go)", async () => {
    const { store, prefix, redis } = await engine.open();
    await store.save("OrderSaga", seedState("s-1", "c-1"));
    await redis!.set(valueKeyOf(prefix, "OrderSaga", "c-1"), Buffer.from([0x00, 0x01]));
    expect(await store.deleteByCorrelationId("OrderSaga", "c-1")).toBe(true);
    expect(await redis!.exists(valueKeyOf(prefix, "OrderSaga", "c-1"))).toBe(0);
    expect(await store.findByCorrelationId("OrderSaga", "c-1")).toBeNull();
  });

  // Envelopes whose header the compare-and-set accepts but whose payload cannot be decoded.
  const undecodable: Array<[string, (real: Buffer) => Buffer]> = [
    ["a corrupt json payload", (real) => Buffer.concat([real.subarray(0, 28), Buffer.from("{{{not json")])],
    ["a corrupt msgpack payload", (real) => Buffer.concat([Buffer.from([0xfe, 0x01, 0x03]), real.subarray(3, 28), Buffer.from([0xc1, 0xc1, 0xc1])])],
    ["an unknown codec id", (real) => Buffer.concat([Buffer.from([0xfe, 0x01, 0x63]), real.subarray(3)])],
    ["unknown flags", (real) => Buffer.concat([Buffer.from([0xfe, 0x01, 0x01, 0x80]), real.subarray(4)])],
    ["a corrupt deflate payload", (real) => Buffer.concat([Buffer.from([0xfe, 0x01, 0x01, 0x01]), real.subarray(4, 28), Buffer.from([0xff, 0xff, 0xff, 0xff])])],
    ["a payload that is a JSON string", (real) => Buffer.concat([real.subarray(0, 28), Buffer.from('"just a string"')])],
  ];

  it.each(undecodable)("an envelope with %s is DECODE_FAILED naming the key", async (_label, corrupt) => {
    const { store, prefix, redis } = await engine.open();
    const valueKey = valueKeyOf(prefix, "OrderSaga", "c-1");
    await store.save("OrderSaga", seedState("s-1", "c-1"));
    const bad = corrupt((await redis!.getBuffer(valueKey))!);
    await redis!.set(valueKey, bad);
    for (const read of [() => store.findByCorrelationId("OrderSaga", "c-1"), () => store.findById("OrderSaga", "s-1")]) {
      const error = await rejectionOf(read());
      expect(error).toBeInstanceOf(DecodeError);
      expect(error.code).toBe("DECODE_FAILED");
      expect(error.key).toBe(valueKey);
    }
    expect(await redis!.getBuffer(valueKey)).toEqual(bad);
  });

  it("a hand-written stale index pointing at another saga is never followed", async () => {
    const { store, prefix, redis } = await engine.open();
    await store.insert("OrderSaga", "c", sagaBusState("b", { who: "B" }));
    await redis!.set(indexKeyOf(prefix, "OrderSaga", "a"), "c");
    expect(await store.findById("OrderSaga", "a")).toBeNull();
    expect(await store.deleteById("OrderSaga", "a")).toBe(false);
    const stale = await rejectionOf(store.update("OrderSaga", sagaBusState("a", { who: "A" }), 0));
    expect(stale).toBeInstanceOf(SagaNotFoundError);
    const b = (await store.findByCorrelationId("OrderSaga", "c"))!;
    expect(b.who).toBe("B");
    expect(b.metadata.version).toBe(0);
    expect(await redis!.get(indexKeyOf(prefix, "OrderSaga", "b"))).toBe("c");
  });

  it.each(CODECS)("a value written with %s carries its codec id in the envelope, and others keep it on update", async (codec) => {
    const prefix = uniquePrefix();
    const { store: writer, redis } = await engine.open({ codec, keyPrefix: prefix });
    const { store: json } = await engine.open({ codec: "json", keyPrefix: prefix });
    const key = valueKeyOf(prefix, "OrderSaga", "c-1");
    await writer.insert("OrderSaga", "c-1", sagaBusState("s-1"));
    let bytes = (await redis!.getBuffer(key))!;
    expect(bytes[0]).toBe(0xfe);
    expect(bytes[2]).toBe(CODEC_IDS[codec]);
    await json.update("OrderSaga", (await json.getById("OrderSaga", "s-1"))!, 0);
    bytes = (await redis!.getBuffer(key))!;
    expect(bytes[2]).toBe(CODEC_IDS.json);
    expect(bytes.readUInt32BE(8)).toBe(1);
    expect((await writer.getById("OrderSaga", "s-1"))!.metadata.version).toBe(1);
  });
});

describe("Redis only: construction, initialize and close", () => {
  it("neither `redis` nor `connection` is INVALID_OPTIONS", () => {
    let error: any;
    try {
      new RedisSagaStore({} as any);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error.code).toBe("INVALID_OPTIONS");
    expect(error.message).toMatch(/redis/);
    expect(error.message).toMatch(/connection/);
    expect(() => new RedisSagaStore({ keyPrefix: "x:" } as never)).toThrow(InvalidOptionsError);
  });

  it("scanCorrelationIds with a client that has an ioredis keyPrefix lists its own sagas, not another namespace's", async () => {
    const namespace = uniquePrefix();
    const storePrefix = uniquePrefix();
    const tenant = new Redis(inject("redisUrl"), { keyPrefix: namespace });
    const plain = new Redis(inject("redisUrl"));
    const cluster = new Cluster(inject("redisClusterNodes"), { keyPrefix: namespace });
    const plainCluster = new Cluster(inject("redisClusterNodes"));
    try {
      for (const [prefixed, other] of [[tenant, plain], [cluster, plainCluster]] as const) {
        const mine = new RedisSagaStore({ redis: prefixed, keyPrefix: storePrefix });
        const theirs = new RedisSagaStore({ redis: other, keyPrefix: storePrefix });
        await mine.insert("OrderSaga", "mine-1", sagaBusState("m1"));
        await mine.insert("OrderSaga", "idx:mine-2", sagaBusState("m2"));
        await theirs.insert("OrderSaga", "theirs-1", sagaBusState("t1"));
        const listed = async (store: RedisSagaStore) => {
          const ids = new Set<string>();
          for await (const id of store.scanCorrelationIds("OrderSaga")) ids.add(id);
          return [...ids].sort();
        };
        expect(await listed(mine)).toEqual(["idx:mine-2", "mine-1"]);
        expect(await listed(theirs)).toEqual(["theirs-1"]);
      }
    } finally {
      await Promise.all([tenant.quit(), plain.quit(), cluster.quit(), plainCluster.quit()]);
    }
  });

  it("20 stores on one shared client (standalone and Cluster) raise no listener warning, and closing them gives the room back", async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on("warning", onWarning);
    const redis = new Redis(inject("redisUrl"));
    const cluster = new Cluster(inject("redisClusterNodes"));
    try {
      for (const client of [redis, cluster]) {
        const limit = client.getMaxListeners();
        const stores = Array.from({ length: 20 }, () => new RedisSagaStore({ redis: client, keyPrefix: uniquePrefix() }));
        await Promise.all(stores.map((store) => store.findById("OrderSaga", "s")));
        await Promise.all(stores.map((store) => store.close()));
        expect(client.getMaxListeners()).toBe(limit);
      }
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toEqual([]);
    } finally {
      process.off("warning", onWarning);
      await redis.quit();
      await cluster.quit();
    }
  });

  it("a URL string as `redis` is INVALID_OPTIONS with a hint; a hash-tagged keyPrefix on a Cluster is warned about", async () => {
    let error: any;
    try {
      new RedisSagaStore({ redis: inject("redisUrl") as never });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error.message).toContain("new Redis(url)");
    const cluster = new Cluster(inject("redisClusterNodes"), { lazyConnect: true });
    try {
      const warnings: Array<{ name: string; code?: string; message: string }> = [];
      const onWarning = (warning: Error & { code?: string }) => warnings.push(warning);
      process.on("warning", onWarning);
      try {
        new RedisSagaStore({ redis: cluster, keyPrefix: "app:" });
        // On a standalone server a hash tag changes nothing.
        const redis = new Redis(inject("redisUrl"), { lazyConnect: true });
        new RedisSagaStore({ redis, keyPrefix: "{app}:" });
        redis.disconnect();
        new RedisSagaStore({ redis: cluster, keyPrefix: "{app}:" });
        await new Promise((resolve) => setImmediate(resolve));
      } finally {
        process.off("warning", onWarning);
      }
      expect(warnings.map((warning) => warning.code)).toEqual([HASH_TAG_WARNING]);
      expect(warnings[0]!.message).toContain("one slot");
    } finally {
      cluster.disconnect();
    }
  });

  it("a RedisSagaStore used before initialize() starts itself on the first call; concurrent first callers share one start", async () => {
    const redis = new Redis(inject("redisUrl"));
    try {
      const prefix = uniquePrefix();
      const store = new RedisSagaStore({ redis, keyPrefix: prefix });
      const scriptLoads = vi.spyOn(redis, "script");
      const results = await Promise.all([
        store.save("OrderSaga", seedState("s", "c")),
        store.findByCorrelationId("OrderSaga", "c-missing"),
        store.findById("OrderSaga", "s-missing"),
        store.insert("OrderSaga", "c2", sagaBusState("s2")),
      ]);
      expect(results[0].metadata.version).toBe(0);
      expect(results[1]).toBeNull();
      // One start: each script loaded once, not once per waiting caller.
      const loads = scriptLoads.mock.calls.length;
      expect(loads).toBeGreaterThan(0);
      await store.initialize();
      await store.findByCorrelationId("OrderSaga", "c");
      expect(scriptLoads.mock.calls.length).toBe(loads);
      expect((await store.findById("OrderSaga", "s"))!.correlationId).toBe("c");
      expect((await store.getByCorrelationId("OrderSaga", "c2"))!.metadata.sagaId).toBe("s2");
    } finally {
      await redis.quit();
    }
  });

  it("a failed start reaches its callers as a typed error and the next call starts again", async () => {
    const embedded = new MemoryEngine();
    let attempts = 0;
    const flaky = Object.create(embedded, {
      initialize: {
        value: async () => {
          attempts++;
          if (attempts === 1) throw new RedisUnavailableError("initialize", undefined, false, { cause: new Error("connect ECONNREFUSED") });
        },
      },
    }) as MemoryEngine;
    const store = new SagaStore({ keyPrefix: uniquePrefix() }, () => flaky);
    const first = await Promise.all([rejectionOf(store.findById("OrderSaga", "s")), rejectionOf(store.save("OrderSaga", seedState("s", "c")))]);
    for (const error of first) expect(error).toBeInstanceOf(RedisUnavailableError);
    expect(attempts).toBe(1);
    await store.save("OrderSaga", seedState("s", "c"));
    expect(attempts).toBe(2);
    expect((await store.findById("OrderSaga", "s"))!.correlationId).toBe("c");
  });

  it("after close() every call, initialize() included, is STORE_CLOSED and writes nothing", async () => {
    const redis = new Redis(inject("redisUrl"));
    try {
      const prefix = uniquePrefix();
      const store = new RedisSagaStore({ redis, keyPrefix: prefix });
      await store.save("OrderSaga", seedState("s", "c"));
      await store.close();
      const before = await redis.keys(`${prefix}*`);
      const calls: Array<() => Promise<unknown>> = [
        () => store.initialize(),
        () => store.findByCorrelationId("OrderSaga", "c"),
        () => store.findById("OrderSaga", "s"),
        () => store.getByCorrelationId("OrderSaga", "c"),
        () => store.getById("OrderSaga", "s"),
        () => store.save("OrderSaga", seedState("s2", "c2")),
        () => store.insert("OrderSaga", "c3", sagaBusState("s3")),
        () => store.update("OrderSaga", sagaBusState("s"), 0),
        () => store.modify("OrderSaga", "c", (s) => s),
        () => store.delete("OrderSaga", "c"),
        () => store.deleteById("OrderSaga", "s"),
        () => store.deleteByCorrelationId("OrderSaga", "c"),
      ];
      for (const call of calls) {
        const error = await rejectionOf(call());
        expect(error).toBeInstanceOf(StoreClosedError);
        expect(error.code).toBe("STORE_CLOSED");
      }
      expect((await redis.keys(`${prefix}*`)).sort()).toEqual(before.sort());
    } finally {
      await redis.quit();
    }
  });

  it("close() does not quit a client the store was given", async () => {
    const redis = new Redis(inject("redisUrl"));
    try {
      const store = new RedisSagaStore({ redis, keyPrefix: uniquePrefix() });
      await store.initialize();
      await store.save("OrderSaga", seedState("s", "c"));
      await store.close();
      expect(redis.status).toBe("ready");
      expect(await redis.ping()).toBe("PONG");
    } finally {
      await redis.quit();
    }
  });

  it("a store's own client keeps to the store's bounds (connectTimeout, commandTimeout, no offline queue, 200 ms disconnectTimeout); the options given win", async () => {
    const url = connectionOptionsFromUrl(inject("redisUrl"));
    const defaults = new RedisSagaStore({ connection: url, keyPrefix: uniquePrefix(), startTimeoutMs: 1_234, operationTimeoutMs: 567 });
    const chosen = new RedisSagaStore({ connection: { ...url, connectTimeout: 9_000, commandTimeout: 800, enableOfflineQueue: true, disconnectTimeout: 50 }, keyPrefix: uniquePrefix() });
    try {
      await Promise.all([defaults.initialize(), chosen.initialize()]);
      expect(defaults.getRedis()!.options).toMatchObject({ connectTimeout: 1_234, commandTimeout: 567, enableOfflineQueue: false, disconnectTimeout: 200 });
      expect(chosen.getRedis()!.options).toMatchObject({ connectTimeout: 9_000, commandTimeout: 800, enableOfflineQueue: true, disconnectTimeout: 50 });
    } finally {
      await Promise.all([defaults.close(), chosen.close()]);
    }
  });

  it("a store given `connection` creates its own client and quits it on close()", async () => {
    const admin = new Redis(inject("redisUrl"));
    const name = `own-${randomUUID().slice(0, 8)}`;
    const listed = async () => ((await admin.client("LIST")) as string).split("\n").some((line) => line.includes(` name=${name} `));
    try {
      const store = new RedisSagaStore({ connection: { ...connectionOptionsFromUrl(inject("redisUrl")), connectionName: name }, keyPrefix: uniquePrefix() });
      await store.initialize();
      const saved = await store.save("OrderSaga", seedState("s", "c"));
      expect(saved.metadata.version).toBe(0);
      expect((await store.findByCorrelationId("OrderSaga", "c"))!.id).toBe("s");
      expect(await listed()).toBe(true);
      await store.close();
      await vi.waitFor(async () => expect(await listed()).toBe(false), { timeout: 5_000, interval: 50 });
    } finally {
      await admin.quit();
    }
  });
});
