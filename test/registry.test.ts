/**
 * The typed saga registry: startup validation, validation on write,
 * upgrade on read, fail-closed errors, lazy persistence, legacy values and
 * per-saga codecs, on the real redis-server of test/global-setup.ts and on the
 * in-memory engine.
 *
 * Several tests need two stores with different registries over the SAME data
 * (a v1 writer, a v3 reader). On Redis that is two stores with their own
 * connections on one key prefix; in memory it is two `SagaStore`s sharing one
 * `MemoryEngine` (the engine InMemorySagaStore wraps), so both engines run
 * exactly the same scenarios and every stored byte can be inspected.
 */
import { Redis } from "ioredis";
import { afterEach, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { MemoryEngine } from "../src/engines/memory";
import {
  InMemorySagaStore,
  MigrationError,
  RegistryInvalidError,
  SagaStore,
  SagaStoreError,
  SchemaValidationError,
  SchemaVersionAheadError,
  UnknownSagaError,
  createSagaRegistry,
  defineSaga,
  type SagaStoreOptions,
} from "../src/index";
import { rejectionOf } from "./support/assertions";
import { indexKeyOf, valueKeyOf } from "./support/key-layout";
import { redisEngine as redisStoresUnderTest, uniquePrefix } from "./support/stores";

// ---- schemas ----------------------------------------------------------------

const OrderV1 = z.object({ orderId: z.string(), amount: z.number().int() });
const OrderV2 = z.object({ orderId: z.string(), amount: z.number().int(), currency: z.string().length(3) });
// v3 lets any currency string through; v2 wants exactly 3 letters, so a valid v3 can fail as v2.
const OrderV3 = z.object({
  orderId: z.string(),
  total: z.object({ cents: z.number().int(), currency: z.string().min(1) }),
  notes: z.array(z.string()),
});
type V1 = z.output<typeof OrderV1>;
type V2 = z.output<typeof OrderV2>;
type V3 = z.output<typeof OrderV3>;

const up12 = (v1: V1): V2 => ({ ...v1, currency: "EUR" });
const down21 = ({ currency: _currency, ...v1 }: V2): V1 => v1;
const up23 = (v2: V2): V3 => ({ orderId: v2.orderId, total: { cents: v2.amount, currency: v2.currency }, notes: [] });
const down32 = (v3: V3): V2 => ({ orderId: v3.orderId, amount: v3.total.cents, currency: v3.total.currency });

const SAGA = "OrderSaga";
const orderV1 = () => defineSaga(SAGA, OrderV1);
const orderV2 = () => orderV1().version(2, OrderV2, { upgrade: up12, downgrade: down21 });
const orderV3 = () => orderV2().version(3, OrderV3, { upgrade: up23, downgrade: down32 });

/** Accepts anything at every version: writes states the strict schemas would refuse. */
const Loose = z.record(z.string(), z.unknown());
const looseOrder = (latest: number) => {
  let saga = defineSaga(SAGA, Loose);
  for (let version = 2; version <= latest; version++) saga = saga.version(version, Loose, { upgrade: (s) => s, downgrade: (s) => s });
  return saga;
};

// ---- engines ----------------------------------------------------------------

interface World {
  prefix: string;
  open<T>(options?: SagaStoreOptions<T>): Promise<SagaStore<T>>;
  raw(key: string): Promise<Buffer | null>;
  rawIndex(key: string): Promise<string | null>;
  /** Put raw bytes at a key (that must be empty), as another program would. */
  putRaw(key: string, bytes: Buffer | string): Promise<void>;
}

interface Engine {
  name: string;
  world(): Promise<World>;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

const redisStores = redisStoresUnderTest();

const redisEngine: Engine = {
  name: "redis",
  async world() {
    const prefix = uniquePrefix();
    const raw = new Redis(inject("redisUrl"));
    const opened: SagaStore[] = [];
    cleanups.push(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()));
      await Promise.all([raw.quit(), redisStores.closeAll()]);
    });
    return {
      prefix,
      async open<T>(options: SagaStoreOptions<T> = {}) {
        const { store } = await redisStores.open({ ...options, keyPrefix: prefix });
        opened.push(store);
        return store as SagaStore<T>;
      },
      raw: (key) => raw.getBuffer(key),
      rawIndex: (key) => raw.get(key),
      async putRaw(key, bytes) {
        expect(await raw.set(key, bytes, "NX")).toBe("OK");
      },
    };
  },
};

const memoryEngine: Engine = {
  name: "memory",
  async world() {
    const prefix = uniquePrefix();
    const embedded = new MemoryEngine();
    return {
      prefix,
      async open<T>(options: SagaStoreOptions<T> = {}) {
        const store = new SagaStore<T>({ ...options, keyPrefix: prefix }, () => embedded);
        await store.initialize();
        return store;
      },
      raw: (key) => embedded.getValue(key),
      rawIndex: (key) => embedded.getIndex(key),
      async putRaw(key, bytes) {
        embedded.plant(key, Buffer.from(bytes));
      },
    };
  },
};

/** A registered saga-bus state's metadata as read back: what the write left out is filled in. */
const completedMetadata = (sagaId: string, version: number) => ({
  sagaId,
  version,
  createdAt: expect.any(Date),
  updatedAt: expect.any(Date),
  isCompleted: false,
});

/** The same in a json payload, Dates as ISO strings (the version lives in the header). */
const storedMetadata = (sagaId: string, version: number) => ({ ...completedMetadata(sagaId, version), createdAt: expect.any(String), updatedAt: expect.any(String) });

const valueKey = (world: World, correlationId: string, saga = SAGA) => valueKeyOf(world.prefix, saga, correlationId);
const indexKey = (world: World, sagaId: string, saga = SAGA) => indexKeyOf(world.prefix, saga, sagaId);

/** Envelope header fields (codecs/envelope.ts): codec id at byte 2, schema version at bytes 4-7, saga version at 8-11. */
function header(bytes: Buffer | null) {
  if (!bytes) throw new Error("no value stored");
  expect(bytes[0]).toBe(0xfe);
  return { codecId: bytes[2], schemaVersion: bytes.readUInt32BE(4), sagaVersion: bytes.readUInt32BE(8) };
}

/** The JSON payload of a json-codec envelope (uncompressed: these states are tiny). */
function jsonPayload(bytes: Buffer | null): unknown {
  if (!bytes) throw new Error("no value stored");
  expect(bytes[2]).toBe(1);
  expect(bytes[3]).toBe(0);
  return JSON.parse(bytes.subarray(28).toString("utf8"));
}

// ---- startup validation -------------------------------------------------------

describe("strict schemas never see the store's own fields", () => {
  const Strict = z.strictObject({ orderId: z.string(), step: z.number() });
  const registry = createSagaRegistry([defineSaga(SAGA, Strict)]);

  it("the seed shape's id, correlationId and version round-trip through z.strictObject on write and read", async () => {
    const store = new InMemorySagaStore({ registry });
    const saved = await store.save(SAGA, { id: "s-1", correlationId: "c-1", orderId: "o", step: 0 });
    expect(saved).toEqual({ id: "s-1", correlationId: "c-1", orderId: "o", step: 0, version: 0 });
    const loaded = (await store.findByCorrelationId(SAGA, "c-1")) as unknown as typeof saved;
    expect(loaded).toEqual(saved);
    const next = await store.save(SAGA, { ...loaded, step: 1 });
    expect(next).toEqual({ ...saved, step: 1, version: 1 });
    expect(await store.findById(SAGA, "s-1")).toEqual(next);
  });

  it("a saga-bus state's metadata is kept aside, and its own fields are validated strictly", async () => {
    const store = new InMemorySagaStore({ registry });
    await store.insert(SAGA, "c-2", { orderId: "o", step: 0, metadata: { sagaId: "s-2" } });
    expect((await store.getById(SAGA, "s-2"))!.step).toBe(0);
    // In a saga-bus state a top-level correlationId is the saga's data, which this strict schema does not declare.
    const stray = await rejectionOf(store.insert(SAGA, "c-3", { orderId: "o", step: 0, correlationId: "c-3", metadata: { sagaId: "s-3" } } as never));
    expect(stray).toBeInstanceOf(SchemaValidationError);
    expect(await store.getById(SAGA, "s-3")).toBeNull();
  });
});

describe("startup validation: REGISTRY_INVALID lists every problem", () => {
  const problemsOf = (build: () => unknown): readonly string[] => {
    try {
      build();
    } catch (error) {
      expect(error).toBeInstanceOf(RegistryInvalidError);
      expect(error).toBeInstanceOf(SagaStoreError);
      const invalid = error as RegistryInvalidError;
      expect(invalid.code).toBe("REGISTRY_INVALID");
      expect(invalid.retryable).toBe(false);
      for (const problem of invalid.problems) expect(invalid.message).toContain(problem);
      return invalid.problems;
    }
    throw new Error("expected REGISTRY_INVALID, the registry was built");
  };

  it("a Date (or Map, Set, bigint) anywhere in a schema is refused with the json codec, naming saga, version and path", () => {
    const Dated = z.object({
      placedAt: z.date(),
      shipment: z.object({ eta: z.date().optional() }),
      lines: z.array(z.object({ addedAt: z.date().nullable() })),
      event: z.union([z.object({ kind: z.literal("a"), at: z.date() }), z.object({ kind: z.literal("b") })]),
      tags: z.set(z.string()),
    });
    const dated = defineSaga("DatedSaga", OrderV1).version(2, Dated, { upgrade: () => ({}) as never });
    const registry = createSagaRegistry([dated, orderV3()]);
    const problems = problemsOf(() => new InMemorySagaStore({ registry }));
    expect(problems).toEqual(
      ["placedAt date", "shipment.eta date", "lines[].addedAt date", "event.at date", "tags set"].map(
        (field) => expect.stringMatching(new RegExp(`^saga "DatedSaga" version 2: ${field.split(" ")[0]!.replace(/[.[\]]/g, "\\$&")} is a ${field.split(" ")[1]} field.*superjson.*msgpack`)),
      ),
    );
    // The codecs that keep those types are accepted: the store's own, or the saga's.
    expect(() => new InMemorySagaStore({ registry, codec: "superjson" })).not.toThrow();
    expect(() => new InMemorySagaStore({ registry: createSagaRegistry([dated.withCodec("msgpack")]) })).not.toThrow();
    // A coerced date reads back from its ISO string, and a transform's input is what is stored: both fine with json.
    const Coerced = z.object({ at: z.coerce.date(), parsed: z.string().transform((text) => new Date(text)) });
    expect(() => new InMemorySagaStore({ registry: createSagaRegistry([defineSaga("CoercedSaga", Coerced)]) })).not.toThrow();
  });

  it("the refusal is real: a json store would accept the write of a z.date() saga and reject every read", async () => {
    const saga = defineSaga("DatedSaga", z.object({ at: z.date() }));
    const json = new InMemorySagaStore({ registry: createSagaRegistry([saga]), codec: "superjson" });
    await json.insert("DatedSaga", "c", { at: new Date(5), metadata: { sagaId: "s" } });
    expect((await json.findById("DatedSaga", "s"))!.at).toEqual(new Date(5));
    expect(z.object({ at: z.date() }).safeParse(JSON.parse(JSON.stringify({ at: new Date(5) }))).success).toBe(false);
  });

  it("a correct registry builds and knows its sagas", () => {
    const registry = createSagaRegistry([orderV3(), defineSaga("PaymentSaga", OrderV1).withCodec("msgpack")]);
    expect(registry.names).toEqual([SAGA, "PaymentSaga"]);
    expect(registry.strict).toBe(true);
    expect(registry.legacySchemaVersion).toBe(1);
    expect(registry.lookup(SAGA)!.chain).toMatchObject({ first: 1, latest: 3, writeVersion: 3 });
    expect(createSagaRegistry([orderV3().writeVersion(1)]).lookup(SAGA)!.chain.writeVersion).toBe(1);
  });

  it("missing upgrade step", () => {
    const broken = orderV1().version(2, OrderV2, { upgrade: undefined as never });
    expect(problemsOf(() => createSagaRegistry([broken]))).toEqual([`saga "${SAGA}": no upgrade from version 1 to 2`]);
  });

  it("writeVersion below the latest with no downgrade path to it", () => {
    const noDowngrades = orderV1()
      .version(2, OrderV2, { upgrade: up12 })
      .version(3, OrderV3, { upgrade: up23 });
    expect(problemsOf(() => createSagaRegistry([noDowngrades.writeVersion(2)]))).toEqual([
      `saga "${SAGA}": writeVersion 2 needs a downgrade from version 3 to 2`,
    ]);
    // A partial path is not a path: 3 -> 2 exists, 2 -> 1 does not.
    const partial = orderV1()
      .version(2, OrderV2, { upgrade: up12 })
      .version(3, OrderV3, { upgrade: up23, downgrade: down32 })
      .writeVersion(1);
    expect(problemsOf(() => createSagaRegistry([partial]))).toEqual([`saga "${SAGA}": writeVersion 1 needs a downgrade from version 2 to 1`]);
    // Writing the latest needs no downgrade at all.
    expect(() => createSagaRegistry([noDowngrades.writeVersion(3)])).not.toThrow();
  });

  it("writeVersion that is not one of the saga's versions", () => {
    for (const writeVersion of [0, 4, 2.5]) {
      expect(problemsOf(() => createSagaRegistry([orderV3().writeVersion(writeVersion)]))).toEqual([
        `saga "${SAGA}": writeVersion ${writeVersion} is not one of its versions (1..3)`,
      ]);
    }
  });

  it("duplicate saga names", () => {
    expect(problemsOf(() => createSagaRegistry([orderV1(), defineSaga("PaymentSaga", OrderV1), orderV3()]))).toEqual([
      `saga "${SAGA}" is registered twice`,
    ]);
  });

  it("non-integer, non-positive and non-contiguous versions", () => {
    const fractional = orderV1().version(2.5, OrderV2, { upgrade: up12 });
    expect(problemsOf(() => createSagaRegistry([fractional]))).toEqual([`saga "${SAGA}": version 2.5 is not a positive integer`]);
    expect(problemsOf(() => createSagaRegistry([defineSaga(SAGA, OrderV1, 0)]))).toEqual([`saga "${SAGA}": version 0 is not a positive integer`]);
    const gap = orderV1().version(3, OrderV3, { upgrade: (v1) => up23(up12(v1)) });
    expect(problemsOf(() => createSagaRegistry([gap]))).toEqual([`saga "${SAGA}": version 3 does not follow 1 (versions must be contiguous)`]);
    const backwards = defineSaga(SAGA, OrderV2, 2).version(1, OrderV1, { upgrade: down21 });
    expect(problemsOf(() => createSagaRegistry([backwards]))).toEqual([`saga "${SAGA}": version 1 does not follow 2 (versions must be contiguous)`]);
  });

  it("every problem of every saga in one error, none half-registered", () => {
    const definitions = [
      orderV1().version(2, OrderV2, { upgrade: undefined as never }), // missing upgrade
      defineSaga("GapSaga", OrderV1).version(3, OrderV3, { upgrade: (v1) => up23(up12(v1)) }), // non-contiguous
      defineSaga("FractionSaga", OrderV1).version(1.5, OrderV2, { upgrade: up12 }), // non-integer
      defineSaga("WriteSaga", OrderV1).version(2, OrderV2, { upgrade: up12 }).writeVersion(1), // no downgrade path
      defineSaga("GapSaga", OrderV1), // duplicate
      defineSaga("Bad:Name", OrderV1), // ':' is reserved by the key layout
      defineSaga("NoSchema", undefined as unknown as typeof OrderV1),
    ];
    const problems = problemsOf(() => createSagaRegistry(definitions, { legacySchemaVersion: 0 }));
    expect([...problems].sort()).toEqual(
      [
        "legacySchemaVersion must be a positive integer, got 0",
        `saga "${SAGA}": no upgrade from version 1 to 2`,
        'saga "GapSaga": version 3 does not follow 1 (versions must be contiguous)',
        'saga "FractionSaga": version 1.5 is not a positive integer',
        'saga "WriteSaga": writeVersion 1 needs a downgrade from version 2 to 1',
        'saga "GapSaga" is registered twice',
        expect.stringContaining('Invalid sagaName "Bad:Name"'),
        'saga "NoSchema": version 1 has no Zod schema',
      ].sort(),
    );
    expect(problems).toHaveLength(8);
  });
});

// ---- per engine -----------------------------------------------------------------

describe.each([redisEngine, memoryEngine])("$name engine", (engine) => {
  /** A saga stored at schema version 1 by a store that knows only v1. */
  async function seedV1(world: World, correlationId = "c-1", sagaId = "s-1", amount = 1250) {
    const writer = await world.open({ registry: createSagaRegistry([orderV1()]) });
    await writer.insert(SAGA, correlationId, { orderId: `order-${sagaId}`, amount, metadata: { sagaId } });
    expect(header(await world.raw(valueKey(world, correlationId))).schemaVersion).toBe(1);
  }

  describe("UNKNOWN_SAGA and non-strict registries", () => {
    it("a strict registry rejects an unregistered name on every call, before any I/O", async () => {
      const world = await engine.world();
      const store = await world.open<any>({ registry: createSagaRegistry([orderV3()]) });
      const state = { orderId: "o", amount: 1, metadata: { sagaId: "s-x", version: 0 } };
      const calls: [string, () => Promise<unknown>][] = [
        ["findByCorrelationId", () => store.findByCorrelationId("Unregistered", "c-x")],
        ["getByCorrelationId", () => store.getByCorrelationId("Unregistered", "c-x")],
        ["findById", () => store.findById("Unregistered", "s-x")],
        ["getById", () => store.getById("Unregistered", "s-x")],
        ["save (new)", () => store.save("Unregistered", { ...state, correlationId: "c-x", metadata: { sagaId: "s-x" } })],
        ["save (existing)", () => store.save("Unregistered", { ...state, correlationId: "c-x" })],
        ["insert", () => store.insert("Unregistered", "c-x", state)],
        ["update", () => store.update("Unregistered", { ...state, correlationId: "c-x" }, 0)],
        ["modify", () => store.modify("Unregistered", "c-x", (s: any) => s)],
        ["delete", () => store.delete("Unregistered", "c-x")],
        ["deleteById", () => store.deleteById("Unregistered", "s-x")],
      ];
      for (const [label, call] of calls) {
        const error = await rejectionOf(call());
        expect(error, label).toBeInstanceOf(UnknownSagaError);
        expect((error as UnknownSagaError).code, label).toBe("UNKNOWN_SAGA");
        expect((error as UnknownSagaError).sagaName, label).toBe("Unregistered");
        expect((error as UnknownSagaError).knownSagas, label).toEqual([SAGA]);
        expect((error as UnknownSagaError).retryable, label).toBe(false);
      }
      expect(await world.raw(valueKey(world, "c-x", "Unregistered"))).toBeNull();
      expect(await world.rawIndex(indexKey(world, "s-x", "Unregistered"))).toBeNull();
    });

    it("a non-strict registry lets unregistered names through unvalidated, and still validates registered ones", async () => {
      const world = await engine.world();
      const store = await world.open<any>({ registry: createSagaRegistry([orderV3()], { strict: false }) });
      // Nothing like any Order schema: only its identity is read.
      const free = { anything: [1, "two", { three: null }], amount: "not a number", metadata: { sagaId: "s-free" } };
      await store.insert("Unregistered", "c-free", free);
      const stored = await world.raw(valueKey(world, "c-free", "Unregistered"));
      expect(header(stored)).toEqual({ codecId: 1, schemaVersion: 1, sagaVersion: 0 });
      expect(jsonPayload(stored)).toEqual(free);
      expect(await store.findByCorrelationId("Unregistered", "c-free")).toEqual({ ...free, metadata: { sagaId: "s-free", version: 0 } });
      const modified = await store.modify("Unregistered", "c-free", (s: any) => ({ ...s, extra: true }));
      expect(modified).toEqual({ ...free, extra: true, metadata: { sagaId: "s-free", version: 1 } });

      const error = await rejectionOf(store.insert(SAGA, "c-bad", { ...free, metadata: { sagaId: "s-bad" } }));
      expect(error).toBeInstanceOf(SchemaValidationError);
      expect(await world.raw(valueKey(world, "c-bad"))).toBeNull();
    });
  });

  describe("upgrade on read", () => {
    it("a v1 value reads as v3 (two steps) through every read method", async () => {
      const world = await engine.world();
      await seedV1(world);
      const reader = await world.open({ registry: createSagaRegistry([orderV3()]) });
      const expected = { orderId: "order-s-1", total: { cents: 1250, currency: "EUR" }, notes: [], metadata: completedMetadata("s-1", 0) };
      expect(await reader.findByCorrelationId(SAGA, "c-1")).toEqual(expected);
      expect(await reader.getByCorrelationId(SAGA, "c-1")).toEqual(expected);
      expect(await reader.findById(SAGA, "s-1")).toEqual(expected);
      expect(await reader.getById(SAGA, "s-1")).toEqual(expected);
      const modified = await reader.modify(SAGA, "c-1", (state) => {
        expect(state).toEqual(expected);
        return { ...state, notes: ["modified"] };
      });
      expect(modified).toEqual({ ...expected, notes: ["modified"], metadata: completedMetadata("s-1", 1) });
    });

    it("a v2 value reads as v3 (one step); a v3 value is parsed only", async () => {
      const world = await engine.world();
      const v2Writer = await world.open({ registry: createSagaRegistry([orderV2()]) });
      await v2Writer.insert(SAGA, "c-2", { orderId: "o-2", amount: 7, currency: "USD", metadata: { sagaId: "s-2" } });
      const v3Writer = await world.open({ registry: createSagaRegistry([orderV3()]) });
      await v3Writer.insert(SAGA, "c-3", { orderId: "o-3", total: { cents: 9, currency: "GBP" }, notes: ["n"], metadata: { sagaId: "s-3" } });
      expect(header(await world.raw(valueKey(world, "c-2"))).schemaVersion).toBe(2);
      expect(header(await world.raw(valueKey(world, "c-3"))).schemaVersion).toBe(3);

      const reader = await world.open({ registry: createSagaRegistry([orderV3()]) });
      expect(await reader.findByCorrelationId(SAGA, "c-2")).toEqual({
        orderId: "o-2",
        total: { cents: 7, currency: "USD" },
        notes: [],
        metadata: completedMetadata("s-2", 0),
      });
      expect(await reader.findById(SAGA, "s-3")).toEqual({
        orderId: "o-3",
        total: { cents: 9, currency: "GBP" },
        notes: ["n"],
        metadata: completedMetadata("s-3", 0),
      });
    });

    it("one store writing v1 (writeVersion 1, downgrades 3->2->1) reads its own values back as v3", async () => {
      const world = await engine.world();
      const store = await world.open({ registry: createSagaRegistry([orderV3().writeVersion(1)]) });
      await store.insert(SAGA, "c-w1", { orderId: "o-w1", total: { cents: 30, currency: "CHF" }, notes: ["dropped in v1"], metadata: { sagaId: "s-w1" } });
      const bytes = await world.raw(valueKey(world, "c-w1"));
      expect(header(bytes).schemaVersion).toBe(1);
      expect(jsonPayload(bytes)).toEqual({ orderId: "o-w1", amount: 30, metadata: { sagaId: "s-w1", createdAt: expect.any(String), updatedAt: expect.any(String), isCompleted: false } });
      // v1 has no currency and no notes: the upgrade fills them in.
      expect(await store.findByCorrelationId(SAGA, "c-w1")).toEqual({
        orderId: "o-w1",
        total: { cents: 30, currency: "EUR" },
        notes: [],
        metadata: completedMetadata("s-w1", 0),
      });
    });
  });

  describe("SCHEMA_VALIDATION_FAILED", () => {
    it("write: an input the latest schema rejects is refused with the Zod issues; nothing written", async () => {
      const world = await engine.world();
      const store = await world.open({ registry: createSagaRegistry([orderV3()]) });
      const invalid = { orderId: 42, total: { cents: 1.5, currency: "EUR" }, metadata: { sagaId: "s-inv" } } as never;
      const error = (await rejectionOf(store.insert(SAGA, "c-inv", invalid))) as SchemaValidationError;
      expect(error).toBeInstanceOf(SchemaValidationError);
      expect(error).toMatchObject({ code: "SCHEMA_VALIDATION_FAILED", sagaName: SAGA, sagaId: "s-inv", schemaVersion: 3, phase: "write", retryable: false });
      expect(error.issues.map((issue) => issue.path.join(".")).sort()).toEqual(["notes", "orderId", "total.cents"]);
      expect(error.message).toContain("orderId");
      expect(await world.raw(valueKey(world, "c-inv"))).toBeNull();
      expect(await world.rawIndex(indexKey(world, "s-inv"))).toBeNull();

      // On an existing saga: save, update and modify are refused and the stored bytes stay as they were.
      await store.insert(SAGA, "c-ok", { orderId: "o", total: { cents: 1, currency: "EUR" }, notes: [], metadata: { sagaId: "s-ok" } });
      const before = await world.raw(valueKey(world, "c-ok"));
      const loaded = (await store.findByCorrelationId(SAGA, "c-ok"))!;
      const bad = { ...loaded, total: { cents: "many" } } as never;
      for (const call of [() => store.save(SAGA, bad), () => store.update(SAGA, bad, 0), () => store.modify(SAGA, "c-ok", () => bad)]) {
        const refused = (await rejectionOf(call())) as SchemaValidationError;
        expect(refused).toBeInstanceOf(SchemaValidationError);
        expect(refused).toMatchObject({ sagaId: "s-ok", schemaVersion: 3, phase: "write" });
        expect(refused.issues.map((issue) => issue.path.join("."))).toEqual(["total.cents", "total.currency"]);
      }
      expect(await world.raw(valueKey(world, "c-ok"))).toEqual(before);
    });

    it("write: a valid latest state whose downgrade to writeVersion fails that version's schema is refused at that version", async () => {
      const world = await engine.world();
      const store = await world.open({ registry: createSagaRegistry([orderV3().writeVersion(2)]) });
      // "EURO" is a valid v3 currency but not a valid v2 one (exactly 3 letters).
      const error = (await rejectionOf(
        store.insert(SAGA, "c-euro", { orderId: "o", total: { cents: 5, currency: "EURO" }, notes: [], metadata: { sagaId: "s-euro" } }),
      )) as SchemaValidationError;
      expect(error).toBeInstanceOf(SchemaValidationError);
      expect(error).toMatchObject({ sagaName: SAGA, sagaId: "s-euro", schemaVersion: 2, phase: "write" });
      expect(error.issues.map((issue) => issue.path.join("."))).toEqual(["currency"]);
      expect(await world.raw(valueKey(world, "c-euro"))).toBeNull();
      expect(await world.rawIndex(indexKey(world, "s-euro"))).toBeNull();
      // The same state is fine for a registry writing v3.
      const v3Writer = await world.open({ registry: createSagaRegistry([orderV3()]) });
      await v3Writer.insert(SAGA, "c-euro", { orderId: "o", total: { cents: 5, currency: "EURO" }, notes: [], metadata: { sagaId: "s-euro" } });
      expect(header(await world.raw(valueKey(world, "c-euro"))).schemaVersion).toBe(3);
    });

    it("write: a downgrade that throws is MIGRATION_FAILED (3 -> 2, no key); nothing written", async () => {
      const world = await engine.world();
      const boom = new Error("cannot downgrade");
      const saga = orderV2()
        .version(3, OrderV3, {
          upgrade: up23,
          downgrade: () => {
            throw boom;
          },
        })
        .writeVersion(2);
      const store = await world.open({ registry: createSagaRegistry([saga]) });
      const error = (await rejectionOf(
        store.insert(SAGA, "c-down", { orderId: "o", total: { cents: 5, currency: "EUR" }, notes: [], metadata: { sagaId: "s-down" } }),
      )) as MigrationError;
      expect(error).toBeInstanceOf(MigrationError);
      expect(error).toMatchObject({ code: "MIGRATION_FAILED", sagaName: SAGA, sagaId: "s-down", fromVersion: 3, toVersion: 2, key: undefined });
      expect(error.cause).toBe(boom);
      expect(await world.raw(valueKey(world, "c-down"))).toBeNull();
    });

    it("read: a value at the latest version that the latest schema rejects", async () => {
      const world = await engine.world();
      const loose = await world.open({ registry: createSagaRegistry([looseOrder(3)]) });
      await loose.insert(SAGA, "c-rd", { orderId: 7, total: "none", notes: [], metadata: { sagaId: "s-rd" } });
      const before = await world.raw(valueKey(world, "c-rd"));
      expect(header(before).schemaVersion).toBe(3);

      const reader = await world.open({ registry: createSagaRegistry([orderV3()]) });
      for (const read of [() => reader.findByCorrelationId(SAGA, "c-rd"), () => reader.findById(SAGA, "s-rd")]) {
        const error = (await rejectionOf(read())) as SchemaValidationError;
        expect(error).toBeInstanceOf(SchemaValidationError);
        expect(error).toMatchObject({ sagaName: SAGA, sagaId: "s-rd", schemaVersion: 3, phase: "read" });
        expect(error.issues.map((issue) => issue.path.join(".")).sort()).toEqual(["orderId", "total"]);
      }
      expect(await world.raw(valueKey(world, "c-rd"))).toEqual(before);
    });
  });

  describe("MIGRATION_FAILED on read; stored bytes untouched", () => {
    it("an upgrade step that throws: from/to of the failing step, the thrown error as cause", async () => {
      const world = await engine.world();
      await seedV1(world);
      const before = await world.raw(valueKey(world, "c-1"));
      const boom = new Error("upgrade 1->2 exploded");
      const saga = orderV1()
        .version(2, OrderV2, {
          upgrade: () => {
            throw boom;
          },
        })
        .version(3, OrderV3, { upgrade: up23 });
      const reader = await world.open({ registry: createSagaRegistry([saga]) });
      for (const call of [
        () => reader.findByCorrelationId(SAGA, "c-1"),
        () => reader.findById(SAGA, "s-1"),
        () => reader.modify(SAGA, "c-1", (state) => state),
      ]) {
        const error = (await rejectionOf(call())) as MigrationError;
        expect(error).toBeInstanceOf(MigrationError);
        expect(error).toMatchObject({
          code: "MIGRATION_FAILED",
          sagaName: SAGA,
          sagaId: "s-1",
          key: valueKey(world, "c-1"),
          fromVersion: 1,
          toVersion: 2,
          retryable: false,
        });
        expect(error.cause).toBe(boom);
        expect(error.message).toContain("upgrade 1->2 exploded");
      }
      expect(await world.raw(valueKey(world, "c-1"))).toEqual(before);
    });

    it("an upgrade step whose output fails its target schema: from/to of that step, a SchemaValidationError as cause", async () => {
      const world = await engine.world();
      await seedV1(world);
      const before = await world.raw(valueKey(world, "c-1"));
      const saga = orderV2().version(3, OrderV3, { upgrade: (v2) => ({ orderId: v2.orderId, total: { cents: String(v2.amount) } }) as never });
      const reader = await world.open({ registry: createSagaRegistry([saga]) });
      const error = (await rejectionOf(reader.findByCorrelationId(SAGA, "c-1"))) as MigrationError;
      expect(error).toBeInstanceOf(MigrationError);
      expect(error).toMatchObject({ sagaName: SAGA, sagaId: "s-1", key: valueKey(world, "c-1"), fromVersion: 2, toVersion: 3 });
      const cause = error.cause as SchemaValidationError;
      expect(cause).toBeInstanceOf(SchemaValidationError);
      expect(cause).toMatchObject({ schemaVersion: 3, phase: "read" });
      expect(cause.issues.map((issue) => issue.path.join(".")).sort()).toEqual(["notes", "total.cents", "total.currency"]);
      expect(await world.raw(valueKey(world, "c-1"))).toEqual(before);
    });

    it("a stored older value that fails its own version's schema, and one older than the first registered version", async () => {
      const world = await engine.world();
      const loose = await world.open({ registry: createSagaRegistry([looseOrder(1)]) });
      await loose.insert(SAGA, "c-old-bad", { orderId: "o", amount: "lots", metadata: { sagaId: "s-old-bad" } });
      const reader = await world.open({ registry: createSagaRegistry([orderV3()]) });
      const invalid = (await rejectionOf(reader.findByCorrelationId(SAGA, "c-old-bad"))) as MigrationError;
      expect(invalid).toBeInstanceOf(MigrationError);
      expect(invalid).toMatchObject({ fromVersion: 1, toVersion: 3, sagaId: "s-old-bad" });
      expect(invalid.cause).toBeInstanceOf(SchemaValidationError);
      expect((invalid.cause as SchemaValidationError).schemaVersion).toBe(1);

      await seedV1(world);
      const startsAt2 = defineSaga(SAGA, OrderV2, 2).version(3, OrderV3, { upgrade: up23 });
      const tooOld = (await rejectionOf((await world.open({ registry: createSagaRegistry([startsAt2]) })).findByCorrelationId(SAGA, "c-1"))) as MigrationError;
      expect(tooOld).toBeInstanceOf(MigrationError);
      expect(tooOld).toMatchObject({ fromVersion: 1, toVersion: 2, sagaId: "s-1" });
    });
  });

  describe("SCHEMA_VERSION_AHEAD: fail closed", () => {
    it("reads of a version newer than the registry knows fail; writes cannot overwrite it", async () => {
      const world = await engine.world();
      const v3 = await world.open({ registry: createSagaRegistry([orderV3()]) });
      await v3.insert(SAGA, "c-new", { orderId: "o-new", total: { cents: 80, currency: "EUR" }, notes: ["v3 only"], metadata: { sagaId: "s-new" } });
      await v3.modify(SAGA, "c-new", (state) => ({ ...state, notes: [...state.notes, "again"] }));
      const key = valueKey(world, "c-new");
      const before = await world.raw(key);
      expect(header(before)).toMatchObject({ schemaVersion: 3, sagaVersion: 1 });

      const old = await world.open({ registry: createSagaRegistry([orderV2()]) });
      const expectAhead = (error: unknown, label: string) => {
        expect(error, label).toBeInstanceOf(SchemaVersionAheadError);
        expect(error, label).toMatchObject({
          code: "SCHEMA_VERSION_AHEAD",
          sagaName: SAGA,
          sagaId: "s-new",
          key,
          storedVersion: 3,
          knownVersion: 2,
          retryable: false,
        });
      };
      expectAhead(await rejectionOf(old.findByCorrelationId(SAGA, "c-new")), "findByCorrelationId");
      expectAhead(await rejectionOf(old.getByCorrelationId(SAGA, "c-new")), "getByCorrelationId");
      expectAhead(await rejectionOf(old.findById(SAGA, "s-new")), "findById");
      expectAhead(await rejectionOf(old.modify(SAGA, "c-new", (state) => ({ ...state, amount: 0 }))), "modify");
      // A caller that skipped the read: the write script refuses, whatever version it claims to have loaded.
      const blind = { orderId: "o-new", amount: 1, currency: "EUR" };
      expectAhead(await rejectionOf(old.save(SAGA, { ...blind, metadata: { sagaId: "s-new", version: 1 } })), "save at the stored version");
      expectAhead(await rejectionOf(old.save(SAGA, { ...blind, metadata: { sagaId: "s-new", version: 0 } })), "save at a stale version");
      expectAhead(await rejectionOf(old.update(SAGA, { ...blind, metadata: { sagaId: "s-new" } }, 1)), "update");
      expect(await world.raw(key)).toEqual(before);
      expect(await v3.findByCorrelationId(SAGA, "c-new")).toEqual({
        orderId: "o-new",
        total: { cents: 80, currency: "EUR" },
        notes: ["v3 only", "again"],
        metadata: completedMetadata("s-new", 1),
      });
    });
  });

  describe("lazy persistence", () => {
    it.each([
      { label: "writeVersion 3", build: () => orderV3(), writes: 3 },
      { label: "writeVersion 2", build: () => orderV3().writeVersion(2), writes: 2 },
    ])("reads never write; the next save persists at the writeVersion ($label)", async ({ build, writes }) => {
      const world = await engine.world();
      await seedV1(world);
      const key = valueKey(world, "c-1");
      const before = await world.raw(key);
      const reader = await world.open({ registry: createSagaRegistry([build()]) });
      for (let i = 0; i < 3; i++) {
        await reader.findByCorrelationId(SAGA, "c-1");
        await reader.getByCorrelationId(SAGA, "c-1");
        await reader.findById(SAGA, "s-1");
        await reader.getById(SAGA, "s-1");
      }
      // Byte-equal, write token included: nothing was rewritten, not even with the same content.
      const after = await world.raw(key);
      expect(after).toEqual(before);
      expect(header(after)).toMatchObject({ schemaVersion: 1, sagaVersion: 0 });

      const loaded = (await reader.findByCorrelationId(SAGA, "c-1"))!;
      const saved = await reader.save(SAGA, { ...loaded, notes: ["persisted"] });
      expect(saved.metadata.version).toBe(1);
      const persisted = await world.raw(key);
      expect(header(persisted)).toMatchObject({ schemaVersion: writes, sagaVersion: 1 });
      expect(jsonPayload(persisted)).toEqual(
        writes === 3
          ? { orderId: "order-s-1", total: { cents: 1250, currency: "EUR" }, notes: ["persisted"], metadata: storedMetadata("s-1", 0) }
          : { orderId: "order-s-1", amount: 1250, currency: "EUR", metadata: storedMetadata("s-1", 0) },
      );
      expect(await reader.findById(SAGA, "s-1")).toEqual({
        orderId: "order-s-1",
        total: { cents: 1250, currency: "EUR" },
        notes: writes === 3 ? ["persisted"] : [],
        metadata: completedMetadata("s-1", 1),
      });
    });
  });

  describe("legacy 0.2.2 values (no envelope)", () => {
    const legacyJson = (fields: Record<string, unknown>, sagaId: string) =>
      JSON.stringify({
        ...fields,
        metadata: {
          sagaId,
          version: 4,
          createdAt: "2026-01-02T03:04:05.678Z",
          updatedAt: "2026-01-02T03:09:10.111Z",
          isCompleted: false,
        },
      });
    const legacyMetadata = (sagaId: string, version = 4) => ({
      sagaId,
      version,
      createdAt: new Date("2026-01-02T03:04:05.678Z"),
      updatedAt: new Date("2026-01-02T03:09:10.111Z"),
      isCompleted: false,
    });

    it("read as legacySchemaVersion (default 1), upgraded, never rewritten by a read, persisted in an envelope by the next save", async () => {
      const world = await engine.world();
      const key = valueKey(world, "c-legacy");
      await world.putRaw(key, legacyJson({ orderId: "o-legacy", amount: 999 }, "s-legacy"));
      await world.putRaw(indexKey(world, "s-legacy"), "c-legacy");
      const before = await world.raw(key);
      expect(before![0]).toBe(0x7b);

      const reader = await world.open({ registry: createSagaRegistry([orderV3()]) });
      const expected = { orderId: "o-legacy", total: { cents: 999, currency: "EUR" }, notes: [], metadata: legacyMetadata("s-legacy") };
      expect(await reader.findByCorrelationId(SAGA, "c-legacy")).toEqual(expected);
      expect(await reader.findById(SAGA, "s-legacy")).toEqual(expected);
      expect(await world.raw(key)).toEqual(before);

      const saved = await reader.modify(SAGA, "c-legacy", (state) => ({ ...state, notes: ["migrated"] }));
      expect(saved.metadata.version).toBe(5);
      expect(header(await world.raw(key))).toMatchObject({ schemaVersion: 3, sagaVersion: 5 });
      expect(await reader.findById(SAGA, "s-legacy")).toEqual({ ...expected, notes: ["migrated"], metadata: legacyMetadata("s-legacy", 5) });
    });

    it("legacySchemaVersion: 2 reads legacy values with the v2 schema", async () => {
      const world = await engine.world();
      await world.putRaw(valueKey(world, "c-l2"), legacyJson({ orderId: "o-l2", amount: 5, currency: "USD" }, "s-l2"));
      // As v1 (the default) the currency is not part of the schema: stripped, then the upgrade fills in EUR.
      const asV1 = await world.open({ registry: createSagaRegistry([orderV3()]) });
      expect((await asV1.findByCorrelationId(SAGA, "c-l2"))!.total).toEqual({ cents: 5, currency: "EUR" });
      const asV2 = await world.open({ registry: createSagaRegistry([orderV3()], { legacySchemaVersion: 2 }) });
      expect(await asV2.findByCorrelationId(SAGA, "c-l2")).toEqual({
        orderId: "o-l2",
        total: { cents: 5, currency: "USD" },
        notes: [],
        metadata: legacyMetadata("s-l2"),
      });
      // A legacy value v2 cannot parse is a migration failure from the legacy version, not a guess.
      await world.putRaw(valueKey(world, "c-l2-bad"), legacyJson({ orderId: "o", amount: 5 }, "s-l2-bad"));
      const error = (await rejectionOf(asV2.findByCorrelationId(SAGA, "c-l2-bad"))) as MigrationError;
      expect(error).toBeInstanceOf(MigrationError);
      expect(error).toMatchObject({ fromVersion: 2, toVersion: 3, sagaId: "s-l2-bad" });
    });
  });

  /**
   * Whatever a registry accepts on write, the same registry must read back,
   * by correlation id and by id, and modify. Both schemas below are ones the
   * README says are accepted: a transform whose output is not its input
   * ("what is stored is the validated input"), and a seed-shaped state whose
   * schema leaves out `id` and `correlationId` ("the store's own fields
   * survive any schema"). So the write must land: a refusal fails the test.
   */
  describe("an acknowledged write reads back with the same registry", () => {
    async function writeThenRead<T>(
      world: World,
      store: SagaStore<T>,
      write: () => Promise<unknown>,
      correlationId: string,
      sagaId: string,
      toInput: (state: any) => any = (state) => state,
    ) {
      await write();
      expect(await world.raw(valueKey(world, correlationId, "T"))).not.toBeNull();
      const any = store as SagaStore<any>;
      const byCorrelation = await any.findByCorrelationId("T", correlationId);
      expect(await any.findById("T", sagaId)).toEqual(byCorrelation);
      await any.modify("T", correlationId, toInput);
      return byCorrelation;
    }

    it("a schema with a type-changing transform (input string, output number)", async () => {
      const world = await engine.world();
      const Schema = z.object({ orderId: z.string(), amount: z.string().regex(/^\d+$/).transform(Number) });
      const store = await world.open({ registry: createSagaRegistry([defineSaga("T", Schema)]) });
      // What is stored is the validated input, so the transform runs again on every read.
      const read = await writeThenRead(
        world,
        store,
        () => store.insert("T", "c-t", { orderId: "o", amount: "12", metadata: { sagaId: "s-t" } }),
        "c-t",
        "s-t",
        (state) => ({ ...state, amount: String(state.amount) }),
      );
      expect(read).toEqual({ orderId: "o", amount: 12, metadata: completedMetadata("s-t", 0) });
      // Handing the output back as input is what the types forbid: refused on write, nothing changed.
      const before = await world.raw(valueKey(world, "c-t", "T"));
      await expect(store.modify("T", "c-t", (state) => state as never)).rejects.toMatchObject({ code: "SCHEMA_VALIDATION_FAILED", phase: "write" });
      expect(await world.raw(valueKey(world, "c-t", "T"))).toEqual(before);
    });

    it("a seed-shaped state ({ id, correlationId, status, data }) whose schema leaves out the identity fields", async () => {
      const world = await engine.world();
      const Schema = z.object({ status: z.string(), data: z.record(z.string(), z.unknown()) });
      const store = await world.open<any>({ registry: createSagaRegistry([defineSaga("T", Schema)]) });
      const read = await writeThenRead(
        world,
        store,
        () => store.insert("T", "c-seed", { id: "s-seed", correlationId: "c-seed", status: "new", data: { n: 1 } }),
        "c-seed",
        "s-seed",
      );
      expect(read).toMatchObject({ id: "s-seed", status: "new", data: { n: 1 }, version: 0 });
    });
  });

  it("legacySchemaVersion applies to values with no envelope only; a store without a registry writes schema version 1", async () => {
    const world = await engine.world();
    const plain = await world.open();
    await plain.insert(SAGA, "c-plain", { orderId: "o-plain", amount: 5, metadata: { sagaId: "s-plain" } });
    expect(header(await world.raw(valueKey(world, "c-plain"))).schemaVersion).toBe(1);
    const reader = await world.open({ registry: createSagaRegistry([orderV3()], { legacySchemaVersion: 2 }) });
    // Read as v1 and upgraded: the v1 -> v2 step adds its default currency.
    expect((await reader.findByCorrelationId(SAGA, "c-plain"))!.total).toEqual({ cents: 5, currency: "EUR" });
  });

  describe("per-saga codec override", () => {
    it("envelope byte 2 is the saga's codec id (json 1, superjson 2, msgpack 3), whatever the store's codec", async () => {
      const world = await engine.world();
      const registry = () =>
        createSagaRegistry([
          orderV3(),
          defineSaga("JsonSaga", OrderV1).withCodec("json"),
          defineSaga("SuperSaga", OrderV1).withCodec("superjson"),
          defineSaga("PackSaga", OrderV1).withCodec("msgpack"),
        ]);
      const jsonStore = await world.open({ registry: registry() });
      const superStore = await world.open({ registry: registry(), codec: "superjson" });
      const expectedIds = { JsonSaga: 1, SuperSaga: 2, PackSaga: 3 } as const;
      for (const [saga, codecId] of Object.entries(expectedIds) as [keyof typeof expectedIds, number][]) {
        for (const [store, label] of [
          [jsonStore, "json-store"],
          [superStore, "superjson-store"],
        ] as const) {
          const correlationId = `c-${label}`;
          await store.insert(saga, correlationId, { orderId: `o-${saga}`, amount: codecId, metadata: { sagaId: `s-${label}` } });
          expect(header(await world.raw(valueKey(world, correlationId, saga))).codecId, `${saga} via ${label}`).toBe(codecId);
          // Any instance reads any codec.
          for (const reader of [jsonStore, superStore]) {
            expect(await reader.findByCorrelationId(saga, correlationId)).toEqual({
              orderId: `o-${saga}`,
              amount: codecId,
              metadata: completedMetadata(`s-${label}`, 0),
            });
          }
        }
      }
      // A saga without an override uses the store's codec.
      const order = { orderId: "o", total: { cents: 1, currency: "EUR" }, notes: [] };
      await jsonStore.insert(SAGA, "c-plain-json", { ...order, metadata: { sagaId: "s-pj" } });
      await superStore.insert(SAGA, "c-plain-super", { ...order, metadata: { sagaId: "s-ps" } });
      expect(header(await world.raw(valueKey(world, "c-plain-json"))).codecId).toBe(1);
      expect(header(await world.raw(valueKey(world, "c-plain-super"))).codecId).toBe(2);
    });
  });
});

describe("InMemorySagaStore with a registry (no shared embedded)", () => {
  it("validates, downgrades to writeVersion and upgrades on read within one store", async () => {
    const store = new InMemorySagaStore({ registry: createSagaRegistry([orderV3().writeVersion(1)]) });
    await store.insert(SAGA, "c", { orderId: "o", total: { cents: 3, currency: "NOK" }, notes: ["x"], metadata: { sagaId: "s" } });
    expect(await store.findById(SAGA, "s")).toEqual({ orderId: "o", total: { cents: 3, currency: "EUR" }, notes: [], metadata: completedMetadata("s", 0) });
    expect(await rejectionOf(store.findByCorrelationId("Nope" as never, "c"))).toBeInstanceOf(UnknownSagaError);
  });
});
