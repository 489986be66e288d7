/**
 * Upgrading a running 0.2.2 fleet (docs/upgrading-from-0.2.2.md), against the
 * REAL @saga-bus/store-redis 0.2.2 (devDependency `store-redis-0.2.2`) and a
 * real redis-server:
 *
 * - phase A: 0.2.2 instances and ours with writeFormat "0.2.2" share sagas
 *   under concurrent updates; every value ours writes is one 0.2.2 reads,
 *   byte for byte what 0.2.2 itself writes;
 * - phase B: 0.2.2 stopped, ours switched to envelopes;
 * - rollback B → A: ours back to "0.2.2"; saved sagas become 0.2.2 values
 *   again, and 0.2.2 instances can run again.
 *
 * Then the unit rules of writeFormat "0.2.2" on both engines: refusals at
 * construction and at write, the exact bytes, and what a lost reply means.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { RedisSagaStore as Store022 } from "store-redis-0.2.2";
import { EnvelopeSerializer } from "../codecs/serializer";
import { HEADER_SIZE } from "../codecs/envelope";
import { WriteStatus, type SagaEngine, type WriteRequest } from "../src/engine";
import { MemoryEngine } from "../src/engines/memory";
import { StandaloneRedisEngine } from "../src/engines/redis-standalone";
import { ENGINES } from "./support/engines";
import {
  ConcurrencyError,
  InMemorySagaStore,
  RedisSagaStore,
  RedisUnavailableError,
  SagaStore,
  createSagaRegistry,
  defineSaga,
  jsonCodec,
  type SagaCodec,
  type SagaStoreOptions,
} from "../src/index";
import {
  CREATED_AT,
  SAGA,
  correlationIdOf,
  deserialize022,
  newCounter,
  open022,
  openOurs,
  runIncrements,
  sagaIdOf,
  serialize022,
  type Counter,
  type Fleet,
  type LoadFigures,
} from "./support/fleet-022";
import { uniquePrefix } from "./support/stores";

const report = (label: string, figures: LoadFigures) => {
  if (process.env.UPGRADE_REPORT) {
    const { acked, ...rest } = figures;
    const total = [...acked.values()].reduce((a, b) => a + b, 0);
    console.log(`[upgrade-from-0.2.2] ${label} ${JSON.stringify({ ...rest, ackedTotal: total })}`);
  }
};

const caught = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error as any);

// ---- the fleet, phase by phase -------------------------------------------------

describe("a running 0.2.2 fleet: upgrade with writeFormat \"0.2.2\", switch to envelopes, roll back", () => {
  const SAGAS = 20;
  const url = () => inject("redisUrl");
  const prefix = uniquePrefix();
  const all = Array.from({ length: SAGAS }, (_, i) => i);
  const ids = (indexes: number[]) => indexes.map(correlationIdOf);
  const valueKey = (i: number) => `${prefix}saga:${SAGA}:${correlationIdOf(i)}`;
  const indexKey = (i: number) => `${prefix}saga:${SAGA}:idx:id:${sagaIdOf(i)}`;
  /** Every acknowledged increment so far, per saga; and every version bump (increments + touches). */
  const expectedCount = new Map<string, number>(ids(all).map((id) => [id, 0]));
  const expectedVersion = new Map<string, number>(ids(all).map((id) => [id, 0]));
  let admin: Redis;
  let reader022: Store022<any>;
  let fleets: Fleet[] = [];

  const account = (figures: LoadFigures) => {
    expect(figures.failures).toEqual([]);
    for (const [id, n] of figures.acked) {
      expectedCount.set(id, expectedCount.get(id)! + n);
      expectedVersion.set(id, expectedVersion.get(id)! + n);
    }
  };
  const stopAll = async () => {
    await Promise.all(fleets.map((fleet) => fleet.stop()));
    fleets = [];
  };

  /** Every acknowledged increment is stored, and the version counts every write: nothing lost, nothing applied twice. */
  async function expectNothingLost(reader: RedisSagaStore, indexes: number[]) {
    for (const i of indexes) {
      const state = (await reader.getByCorrelationId(SAGA, correlationIdOf(i))) as Counter;
      expect({ saga: i, count: state.count, version: state.metadata.version }).toEqual({
        saga: i,
        count: expectedCount.get(correlationIdOf(i)),
        version: expectedVersion.get(correlationIdOf(i)),
      });
    }
  }

  /** Stored as 0.2.2 writes it, and 0.2.2 reads it by correlation id and by id. */
  async function expect022Value(i: number) {
    const raw = (await admin.get(valueKey(i)))!;
    expect(raw[0]).toBe("{");
    // 0.2.2's own read and write of it give back exactly these bytes: no field, order or date form of ours differs.
    expect(serialize022(deserialize022(raw))).toBe(raw);
    const byCorrelation = (await reader022.getByCorrelationId(SAGA, correlationIdOf(i))) as Counter;
    const byId = (await reader022.getById(SAGA, sagaIdOf(i))) as Counter;
    expect(byCorrelation.count).toBe(expectedCount.get(correlationIdOf(i)));
    expect(byCorrelation.metadata.version).toBe(expectedVersion.get(correlationIdOf(i)));
    expect(byCorrelation.metadata.createdAt).toEqual(CREATED_AT);
    expect(byId).toEqual(byCorrelation);
    expect(await admin.get(indexKey(i))).toBe(correlationIdOf(i));
  }

  beforeAll(async () => {
    admin = new Redis(url());
    reader022 = new Store022<any>({ redis: admin, keyPrefix: prefix });
    await reader022.initialize();
  });
  afterAll(async () => {
    await stopAll();
    await admin.quit();
  });

  it("phase A: 0.2.2 and ours (writeFormat \"0.2.2\") insert and update the same sagas concurrently; nothing is lost, every value is 0.2.2's", { timeout: 60_000 }, async () => {
    const old = await open022(url(), prefix, 2, 8);
    const ours = await openOurs(url(), prefix, 2, 8, { writeFormat: "0.2.2" });
    fleets.push(old, ours);
    // Half the sagas are created by 0.2.2, half by ours: the bytes of ours' inserts are 0.2.2's to the byte.
    for (const i of all) {
      const state = newCounter(i);
      if (i % 2 === 0) {
        await reader022.insert(SAGA, correlationIdOf(i), state);
      } else {
        await ours.stores[0]!.insert(SAGA, correlationIdOf(i), state);
        expect(await admin.get(valueKey(i))).toBe(serialize022(state));
      }
    }

    const figures = await runIncrements([...old.callers, ...ours.callers], ids(all), 25);
    report("phase A", figures);
    account(figures);
    expect(figures.ackedByKind["0.2.2"]).toBe(16 * 25);
    expect(figures.ackedByKind.ours).toBe(16 * 25);
    // Both kinds really contended on the same sagas.
    expect(figures.conflictsByKind["0.2.2"] + figures.conflictsByKind.ours).toBeGreaterThan(0);

    await expectNothingLost(ours.stores[0]!, all);
    for (const i of all) await expect022Value(i);

    // Then one more round by ours alone, so that every final value is ours' write: 0.2.2 reads each of them.
    const last = await runIncrements(ours.callers.slice(0, 1), ids(all), SAGAS);
    account(last);
    for (const i of all) {
      expect(deserialize022((await admin.get(valueKey(i)))!).lastWriter).toMatch(/^ours/);
      await expect022Value(i);
    }
    // And 0.2.2 updates a value ours wrote.
    const [again] = (await runIncrements(old.callers.slice(0, 1), ids([0]), 1)).acked.values();
    expectedCount.set(correlationIdOf(0), expectedCount.get(correlationIdOf(0))! + again!);
    expectedVersion.set(correlationIdOf(0), expectedVersion.get(correlationIdOf(0))! + again!);
    await expectNothingLost(ours.stores[1]!, all);
  });

  it("phase B: 0.2.2 stopped, ours on envelopes: saved sagas become envelopes, unsaved ones stay 0.2.2 values, both read; nothing lost", { timeout: 60_000 }, async () => {
    await stopAll();
    const ours = await openOurs(url(), prefix, 2, 8, { writeFormat: "envelope" });
    fleets.push(ours);
    const saved = all.slice(0, 15);
    const figures = await runIncrements(ours.callers, ids(saved), 25);
    report("phase B", figures);
    account(figures);

    for (const i of all) {
      const first = (await admin.getBuffer(valueKey(i)))![0];
      expect({ saga: i, first }).toEqual({ saga: i, first: i < 15 ? 0xfe : 0x7b });
    }
    await expectNothingLost(ours.stores[0]!, all);
    await expectNothingLost(ours.stores[1]!, all);
    // Why 0.2.2 must be stopped first: it cannot read an envelope.
    expect(await caught(reader022.getByCorrelationId(SAGA, correlationIdOf(0)))).toBeInstanceOf(SyntaxError);
    expect(await caught(reader022.getById(SAGA, sagaIdOf(0)))).toBeInstanceOf(SyntaxError);
    await expect022Value(19);
  });

  it("rollback B → A: ours back on \"0.2.2\": every saga saved after the rollback is a 0.2.2 value again, a bulk touch converts the rest, and 0.2.2 runs again", { timeout: 60_000 }, async () => {
    await stopAll();
    const ours = await openOurs(url(), prefix, 2, 8, { writeFormat: "0.2.2" });
    fleets.push(ours);
    const savedAfterRollback = all.slice(0, 10);
    const figures = await runIncrements(ours.callers, ids(savedAfterRollback), 15);
    report("rollback", figures);
    account(figures);

    for (const i of savedAfterRollback) await expect022Value(i);
    // Envelopes not saved since the rollback: still unreadable for 0.2.2.
    for (const i of all.slice(10, 15)) {
      expect((await admin.getBuffer(valueKey(i)))![0]).toBe(0xfe);
      expect(await caught(reader022.getByCorrelationId(SAGA, correlationIdOf(i)))).toBeInstanceOf(SyntaxError);
    }
    await expectNothingLost(ours.stores[0]!, all);

    // Operator tooling before 0.2.2 instances return: re-save every envelope once (a compare-and-set, version + 1).
    const store = ours.stores[0]!;
    let touched = 0;
    for await (const correlationId of store.scanCorrelationIds(SAGA)) {
      const bytes = await admin.getBuffer(`${prefix}saga:${SAGA}:${correlationId}`);
      if (bytes?.[0] !== 0xfe) continue;
      await store.modify(SAGA, correlationId, (state) => state);
      expectedVersion.set(correlationId, expectedVersion.get(correlationId)! + 1);
      touched++;
    }
    expect(touched).toBe(5);
    for (const i of all) await expect022Value(i);

    // And the mixed fleet of phase A runs again.
    const old = await open022(url(), prefix, 2, 8);
    fleets.push(old);
    const again = await runIncrements([...old.callers, ...ours.callers], ids(all), 15);
    report("phase A again", again);
    account(again);
    await expectNothingLost(store, all);
    for (const i of all) await expect022Value(i);
  });
});

// ---- unit rules, on both engines -------------------------------------------------

interface Opened {
  store: SagaStore;
  prefix: string;
  raw(key: string): Promise<Buffer | null>;
  /** Another store over the same data. */
  sibling(options: SagaStoreOptions): Promise<SagaStore>;
  pttl(key: string): Promise<number>;
}

const redisClients: Redis[] = [];
afterAll(async () => {
  await Promise.all(redisClients.splice(0).map((client) => client.quit()));
});

const engines: Array<{ name: string; open(options: SagaStoreOptions, wrap?: (embedded: SagaEngine) => SagaEngine): Promise<Opened> }> = [
  {
    name: "memory",
    async open(options, wrap = (b) => b) {
      const embedded = new MemoryEngine();
      const prefix = uniquePrefix();
      const make = async (o: SagaStoreOptions, w: (b: SagaEngine) => SagaEngine) => {
        const store = new SagaStore({ retryDelayMs: 1, ...o, keyPrefix: prefix }, () => w(embedded));
        await store.initialize();
        return store;
      };
      return {
        store: await make(options, wrap),
        prefix,
        raw: async (key) => embedded.peek(key) ?? null,
        sibling: (o) => make(o, (b) => b),
        // The engine keeps an absolute expiry per entry (0 = none).
        pttl: async (key) => {
          const expiresAt = (embedded as unknown as { entries: Map<string, { expiresAt: number }> }).entries.get(key)?.expiresAt;
          return expiresAt === undefined ? -2 : expiresAt === 0 ? -1 : expiresAt - Date.now();
        },
      };
    },
  },
  {
    name: "redis",
    async open(options, wrap = (b) => b) {
      const redis = new Redis(inject("redisUrl"));
      redisClients.push(redis);
      const prefix = uniquePrefix();
      const make = async (o: SagaStoreOptions, w: (b: SagaEngine) => SagaEngine) => {
        const store = new SagaStore({ retryDelayMs: 1, ...o, keyPrefix: prefix }, () => w(new StandaloneRedisEngine(redis, false)));
        await store.initialize();
        return store;
      };
      return {
        store: await make(options, wrap),
        prefix,
        raw: (key) => redis.getBuffer(key),
        sibling: (o) => make(o, (b) => b),
        pttl: (key) => redis.pttl(key),
      };
    },
  },
];

const LEGACY: SagaStoreOptions = { writeFormat: "0.2.2" };
const at = new Date("2026-03-04T05:06:07.089Z");
const busState = (sagaId: string, fields: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) => ({
  ...fields,
  metadata: { sagaId, version: 0, createdAt: at, updatedAt: at, isCompleted: false, ...metadata },
});
const withVersion = (state: any, version: number) => ({ ...state, metadata: { ...state.metadata, version } });
const key = (opened: Opened, correlationId: string) => `${opened.prefix}saga:${SAGA}:${correlationId}`;

describe("writeFormat \"0.2.2\": refused at construction", () => {
  const Plain = z.object({ n: z.number() });
  const stores: Array<(options: SagaStoreOptions) => unknown> = [
    (options) => new InMemorySagaStore(options),
    (options) => new RedisSagaStore({ ...options, connection: { lazyConnect: true } }),
  ];

  it.each(stores.map((make, i) => [i === 0 ? "InMemorySagaStore" : "RedisSagaStore", make] as const))("%s: bad writeFormat, non-json codecs, compression", (_name, make) => {
    const custom: SagaCodec = { ...jsonCodec, id: 200, name: "custom-json" };
    for (const options of [
      { writeFormat: "0.2.3" as any },
      { writeFormat: "0.2.2", codec: "msgpack" },
      { writeFormat: "0.2.2", codec: "superjson" },
      { writeFormat: "0.2.2", codec: custom },
      { writeFormat: "0.2.2", compressAboveBytes: 1024 },
    ] as SagaStoreOptions[]) {
      const error = (() => {
        try {
          make(options);
        } catch (e) {
          return e as any;
        }
      })();
      expect({ options, code: error?.code, aboutWriteFormat: /writeFormat/.test(error?.message) }).toEqual({ options, code: "INVALID_OPTIONS", aboutWriteFormat: true });
    }
    // What works: json (named or default), compression off, and envelope mode with any codec.
    for (const options of [LEGACY, { ...LEGACY, codec: "json" }, { ...LEGACY, compressAboveBytes: 0 }, { writeFormat: "envelope", codec: "msgpack" }] as SagaStoreOptions[]) {
      expect(() => make(options)).not.toThrow();
    }
  });

  it("a registry: a saga's non-json codec and a writeVersion other than legacySchemaVersion are all listed, naming the saga", () => {
    const Packed = defineSaga("PackedSaga", Plain).withCodec("msgpack");
    const Ahead = defineSaga("AheadSaga", Plain).version(2, Plain.extend({ m: z.number() }), { upgrade: (v) => ({ ...v, m: 0 }) });
    const Fine = defineSaga("FineSaga", Plain).version(2, Plain.extend({ m: z.number() }), { upgrade: (v) => ({ ...v, m: 0 }), downgrade: ({ m: _m, ...v }) => v }).writeVersion(1);
    const registry = createSagaRegistry([Packed, Ahead, Fine]);
    const error = (() => {
      try {
        new InMemorySagaStore({ ...LEGACY, registry });
      } catch (e) {
        return e as any;
      }
    })();
    expect(error?.code).toBe("REGISTRY_INVALID");
    expect(error.problems).toHaveLength(2);
    expect(error.problems[0]).toMatch(/"PackedSaga".*codec is "msgpack"/);
    expect(error.problems[1]).toMatch(/"AheadSaga".*legacySchemaVersion 1.*schema version 2/);
    // The same registry is fine for envelopes; a matching registry is fine for 0.2.2.
    expect(() => new InMemorySagaStore({ registry })).not.toThrow();
    expect(() => new InMemorySagaStore({ ...LEGACY, registry: createSagaRegistry([Fine]) })).not.toThrow();
    expect(() => new InMemorySagaStore({ ...LEGACY, registry: createSagaRegistry([Ahead], { legacySchemaVersion: 2 }) })).not.toThrow();
    expect(() => new RedisSagaStore({ ...LEGACY, registry, connection: { lazyConnect: true } })).toThrow(/AheadSaga/);
  });
});

describe.each(engines)("writeFormat \"0.2.2\" on $name", ({ open }) => {
  it("writes exactly 0.2.2's bytes: inserts and updates, every metadata form, user fields of every JSON kind", async () => {
    const opened = await open(LEGACY);
    class Money {
      constructor(readonly cents: number) {}
      toJSON() {
        return `${this.cents / 100} EUR`;
      }
    }
    const states = [
      busState("s-min"),
      busState("s-full", { total: 12.5 }, {
        archivedAt: new Date("2026-05-06T07:08:09.010Z"),
        traceParent: "00-abc-def-01",
        traceState: null,
        timeoutMs: 60_000,
        timeoutExpiresAt: new Date("2026-03-04T05:07:07.089Z"),
      }),
      { note: "no version yet", metadata: { sagaId: "s-noversion", createdAt: at, updatedAt: at, isCompleted: false } },
      busState("s-kinds", {
        unicode: 'ü€😀 "quoted" \n \u2028',
        nested: [[1, [2, [3]]], [], {}],
        when: new Date("2025-12-31T23:59:59.999Z"),
        price: new Money(1250),
        dropped: undefined,
        nothing: null,
        big: Number.MAX_SAFE_INTEGER,
      }),
    ];
    for (const [n, state] of states.entries()) {
      const correlationId = `c-${n}`;
      await opened.store.insert(SAGA, correlationId, state as any);
      expect((await opened.raw(key(opened, correlationId)))!.toString("utf8")).toBe(serialize022(withVersion(state, 0)));
      const loaded = await opened.store.getByCorrelationId(SAGA, correlationId);
      const next = { ...loaded, changed: true, metadata: { ...loaded.metadata, version: 1, updatedAt: new Date("2026-03-04T05:06:08.000Z") } };
      await opened.store.update(SAGA, next, 0);
      const raw = (await opened.raw(key(opened, correlationId)))!.toString("utf8");
      expect(raw).toBe(serialize022(next));
      // The version lives where 0.2.2 looks: metadata.version, as the store counts it (not as the caller wrote it).
      await opened.store.update(SAGA, { ...next, metadata: { ...next.metadata, version: 99 } }, 1);
      expect(deserialize022((await opened.raw(key(opened, correlationId)))!.toString("utf8")).metadata.version).toBe(2);
    }
    // save() of a loaded state and modify() write 0.2.2 values too.
    const saved = await opened.store.save(SAGA, (await opened.store.findById(SAGA, "s-min"))!);
    expect(saved.metadata.version).toBe(3);
    await opened.store.modify(SAGA, "c-0", (s) => ({ ...s, viaModify: 1 }));
    const raw = (await opened.raw(key(opened, "c-0")))!.toString("utf8");
    expect(deserialize022(raw)).toMatchObject({ viaModify: 1, metadata: { version: 4 } });
    expect(serialize022(deserialize022(raw))).toBe(raw);
  });

  it("a large state is not compressed", async () => {
    const opened = await open(LEGACY);
    const state = busState("s-large", { blob: "x".repeat(100_000) });
    await opened.store.insert(SAGA, "c-large", state);
    expect((await opened.raw(key(opened, "c-large")))!.toString("utf8")).toBe(serialize022(state));
  });

  it("refuses at write, writing nothing: seed-shaped states, dates 0.2.2 cannot serialize, correlation ids 0.2.2 keys elsewhere, oversize", async () => {
    const opened = await open({ ...LEGACY, maxStateBytes: 1_000 });
    const attempts: Array<[string, () => Promise<unknown>, string]> = [
      ["seed shape via save", () => opened.store.save(SAGA, { id: "s1", correlationId: "c1", status: "open" }), "INVALID_STATE"],
      ["seed shape via insert", () => opened.store.insert(SAGA, "c1", { id: "s1", metadata: { version: 0 } } as any), "INVALID_STATE"],
      ["createdAt missing", () => opened.store.insert(SAGA, "c1", { metadata: { sagaId: "s1", version: 0, updatedAt: at, isCompleted: false } } as any), "INVALID_STATE"],
      ["createdAt a string", () => opened.store.insert(SAGA, "c1", busState("s1", {}, { createdAt: at.toISOString() }) as any), "INVALID_STATE"],
      ["updatedAt invalid", () => opened.store.insert(SAGA, "c1", busState("s1", {}, { updatedAt: new Date(Number.NaN) }) as any), "INVALID_STATE"],
      ["archivedAt a string", () => opened.store.insert(SAGA, "c1", busState("s1", {}, { archivedAt: "yesterday" }) as any), "INVALID_STATE"],
      ["timeoutExpiresAt a number", () => opened.store.insert(SAGA, "c1", busState("s1", {}, { timeoutExpiresAt: 5 }) as any), "INVALID_STATE"],
      ["a BigInt", () => opened.store.insert(SAGA, "c1", busState("s1", { n: 5n }) as any), "INVALID_STATE"],
      ["correlation id starting with %", () => opened.store.insert(SAGA, "%c1", busState("s1") as any), "INVALID_KEY"],
      ["correlation id starting with idx:", () => opened.store.insert(SAGA, "idx:c1", busState("s1") as any), "INVALID_KEY"],
      ["oversize", () => opened.store.insert(SAGA, "c1", busState("s1", { blob: "x".repeat(2_000) }) as any), "STATE_TOO_LARGE"],
    ];
    for (const [label, attempt, code] of attempts) {
      const error = await caught(attempt());
      expect({ label, code: error?.code }).toEqual({ label, code });
    }
    for (const id of ["c1", "%25c1", "%69dx:c1"]) expect(await opened.raw(key(opened, id))).toBeNull();
    expect(await opened.raw(`${opened.prefix}saga:${SAGA}:idx:id:s1`)).toBeNull();
    // What an envelope-mode store wrote (or 0.2.2) loads as a state 0.2.2 mode can always write back.
    const envelopeStore = await opened.sibling({});
    await envelopeStore.insert(SAGA, "c2", busState("s2", { ok: true }));
    await opened.store.modify(SAGA, "c2", (s) => s);
    expect((await opened.raw(key(opened, "c2")))!.toString("utf8")).toBe(serialize022(withVersion(busState("s2", { ok: true }), 1)));
  });

  it("rollback with a registry: 0.2.2 values are written at legacySchemaVersion; a saga already stored above it is refused, its bytes untouched", async () => {
    const V1 = z.object({ orderId: z.string() });
    const V2 = z.object({ orderId: z.string(), currency: z.string() });
    const phaseB = createSagaRegistry([defineSaga(SAGA, V1).version(2, V2, { upgrade: (v) => ({ ...v, currency: "EUR" }), downgrade: ({ currency: _c, ...v }) => v })]);
    const phaseA = createSagaRegistry([
      defineSaga(SAGA, V1)
        .version(2, V2, { upgrade: (v) => ({ ...v, currency: "EUR" }), downgrade: ({ currency: _c, ...v }) => v })
        .writeVersion(1),
    ]);
    const opened = await open({ ...LEGACY, registry: phaseA });
    // Written by ours in 0.2.2 mode: the v1 form, plain JSON, read back (and upgraded) as v1.
    await opened.store.insert(SAGA, "c1", busState("s1", { orderId: "o1", currency: "USD" }) as any);
    const raw = (await opened.raw(key(opened, "c1")))!.toString("utf8");
    expect(JSON.parse(raw)).not.toHaveProperty("currency");
    expect(JSON.parse(raw).orderId).toBe("o1");
    expect(await opened.store.getByCorrelationId(SAGA, "c1")).toMatchObject({ orderId: "o1", currency: "EUR" });

    // Written in phase B at schema version 2 (an envelope), then met by a rolled-back instance.
    const envelopes = await opened.sibling({ registry: phaseB });
    await envelopes.insert(SAGA, "c2", busState("s2", { orderId: "o2", currency: "USD" }) as any);
    const before = await opened.raw(key(opened, "c2"));
    const loaded = await opened.store.getByCorrelationId(SAGA, "c2");
    expect(loaded).toMatchObject({ currency: "USD" });
    const error = await caught(opened.store.update(SAGA, loaded, 0));
    expect(error?.code).toBe("INVALID_STATE");
    expect(error.message).toMatch(/stored at schema version 2.*writes schema version 1/);
    expect((await opened.raw(key(opened, "c2")))!.equals(before!)).toBe(true);
  });

  it("TTL and index as 0.2.2 sets them: both keys get defaultTtlSeconds, completedTtlSeconds once completed", async () => {
    const opened = await open({ ...LEGACY, defaultTtlSeconds: 50, completedTtlSeconds: 200 });
    await opened.store.insert(SAGA, "c1", busState("s1"));
    expect((await opened.store.findById(SAGA, "s1"))?.metadata.sagaId).toBe("s1");
    const indexKey = `${opened.prefix}saga:${SAGA}:idx:id:s1`;
    expect((await opened.raw(indexKey))!.toString()).toBe("c1");
    for (const k of [key(opened, "c1"), indexKey]) {
      const pttl = await opened.pttl(k);
      expect(pttl).toBeGreaterThan(40_000);
      expect(pttl).toBeLessThanOrEqual(50_000);
    }
    const loaded = await opened.store.getByCorrelationId(SAGA, "c1");
    await opened.store.update(SAGA, { ...loaded, metadata: { ...loaded.metadata, version: 1, isCompleted: true } }, 0);
    for (const k of [key(opened, "c1"), indexKey]) {
      expect(await opened.pttl(k)).toBeGreaterThan(190_000);
    }
  });

  it("two writers producing byte-identical states from one version: one is acknowledged, the other gets a ConcurrencyError (never both)", async () => {
    const opened = await open(LEGACY);
    const other = await opened.sibling(LEGACY);
    await opened.store.insert(SAGA, "c1", busState("s1", { count: 0 }));
    const a = await opened.store.getByCorrelationId(SAGA, "c1");
    const b = await other.getByCorrelationId(SAGA, "c1");
    // Same change, same updatedAt: the same bytes.
    const next = (s: any) => ({ ...s, count: s.count + 1, metadata: { ...s.metadata, version: 1, updatedAt: new Date("2026-03-04T05:06:08.000Z") } });
    await opened.store.update(SAGA, next(a), 0);
    const error = await caught(other.update(SAGA, next(b), 0));
    expect(error).toBeInstanceOf(ConcurrencyError);
    expect(error.actualVersion).toBe(1);
    // The same for a second insert with identical bytes.
    const again = await caught(other.insert(SAGA, "c2", busState("s2")).then(() => opened.store.insert(SAGA, "c2", busState("s2"))));
    expect(again?.code).toBe("SAGA_ALREADY_EXISTS");
  });

  describe("a lost reply", () => {
    /** The first write's reply is lost: the write is applied first or not, and someone may write in between. */
    const losingFirstReply = (plan: { applied: boolean; meanwhile?: () => Promise<void> }) => (inner: SagaEngine): SagaEngine => {
      let lost = false;
      return new Proxy(inner, {
        get(target, property) {
          if (property === "update") {
            return async (request: WriteRequest) => {
              if (lost) return target.update(request);
              lost = true;
              if (plan.applied) await target.update(request);
              await plan.meanwhile?.();
              throw new RedisUnavailableError("write", request.valueKey, true, { cause: new Error("connection lost before the reply (test)") });
            };
          }
          const value = Reflect.get(target, property, target);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    };

    async function scenario(writeFormat: "envelope" | "0.2.2", plan: { applied: boolean; meanwhileWrite?: boolean }) {
      let writeMeanwhile: () => Promise<void> = async () => {};
      const opened = await open({ writeFormat }, losingFirstReply({ applied: plan.applied, meanwhile: () => writeMeanwhile() }));
      const setup = await opened.sibling({ writeFormat });
      await setup.insert(SAGA, "c1", busState("s1", { count: 0 }));
      if (plan.meanwhileWrite) {
        writeMeanwhile = async () => {
          const s = await setup.getByCorrelationId(SAGA, "c1");
          await setup.update(SAGA, { ...s, count: 100, metadata: { ...s.metadata, version: 2 } }, 1);
        };
      }
      const loaded = await setup.getByCorrelationId(SAGA, "c1");
      const outcome = await caught(opened.store.update(SAGA, { ...loaded, count: 1, metadata: { ...loaded.metadata, version: 1 } }, 0));
      const stored = await setup.getByCorrelationId(SAGA, "c1");
      return { outcome: outcome?.code ?? "ok", count: stored.count, version: stored.metadata.version };
    }

    it("after the write landed: envelope recognises its token (ok); 0.2.2 has none, so WRITE_OUTCOME_UNKNOWN, applied once", async () => {
      expect(await scenario("envelope", { applied: true })).toEqual({ outcome: "ok", count: 1, version: 1 });
      expect(await scenario("0.2.2", { applied: true })).toEqual({ outcome: "WRITE_OUTCOME_UNKNOWN", count: 1, version: 1 });
    });

    it("before the write landed: the retry writes it, in both formats", async () => {
      expect(await scenario("envelope", { applied: false })).toEqual({ outcome: "ok", count: 1, version: 1 });
      expect(await scenario("0.2.2", { applied: false })).toEqual({ outcome: "ok", count: 1, version: 1 });
    });

    it("after it landed and another writer wrote on top: WRITE_OUTCOME_UNKNOWN in both formats, as before", async () => {
      expect(await scenario("envelope", { applied: true, meanwhileWrite: true })).toEqual({ outcome: "WRITE_OUTCOME_UNKNOWN", count: 100, version: 2 });
      expect(await scenario("0.2.2", { applied: true, meanwhileWrite: true })).toEqual({ outcome: "WRITE_OUTCOME_UNKNOWN", count: 100, version: 2 });
    });
  });
});

describe("the write script and the memory engine on plain-JSON requests", () => {
  const legacy = new EnvelopeSerializer({ writeFormat: "0.2.2" });
  const envelopes = new EnvelopeSerializer();
  const request = (sagaId: string, sagaVersion: number, fields: Record<string, unknown> = {}, schemaVersion = 1) =>
    legacy.encode(SAGA, busState(sagaId, fields), { sagaId, sagaVersion, schemaVersion });

  it.each(ENGINES)("$name: stores the payload as is; same rules as for envelopes, but a repeat is never 'already written'", async ({ open }) => {
    const { engine, close } = await open();
    const prefix = uniquePrefix();
    const k = `${prefix}saga:${SAGA}:c1`;
    const indexKey = `${prefix}saga:${SAGA}:idx:id:s1`;
    const first = request("s1", 0, { n: 0 });
    expect(first[0]).toBe(0xfd);
    const at = (bytes: Buffer): WriteRequest => ({ valueKey: k, envelope: bytes, ttlMs: 0, indexKey, correlationId: "c1", sagaName: SAGA, sagaId: "s1" });
    const insert = { valueKey: k, envelope: first, ttlMs: 0, indexKey, correlationId: "c1", valueKeyPrefix: `${prefix}saga:${SAGA}:`, sagaName: SAGA, sagaId: "s1" };
    expect((await engine.insert(insert)).status).toBe(WriteStatus.Written);
    expect((await engine.getValue(k))!.equals(first.subarray(HEADER_SIZE))).toBe(true);
    expect((await engine.getValue(k))!.toString()).toBe(serialize022(busState("s1", { n: 0 })));
    expect(await engine.getIndex(indexKey)).toBe("c1");
    expect((await engine.insert(insert)).status).toBe(WriteStatus.Exists);

    const v1 = request("s1", 1, { n: 1 });
    expect(await engine.update(at(v1))).toMatchObject({ status: WriteStatus.Written, storedVersion: 0, storedSchemaVersion: 0 });
    // The very same request again (as a re-send would be): stored bytes equal ours, still a conflict.
    expect(await engine.update(at(v1))).toMatchObject({ status: WriteStatus.Conflict, storedVersion: 1 });
    expect((await engine.getValue(k))!.equals(v1.subarray(HEADER_SIZE))).toBe(true);
    expect((await engine.update(at(request("intruder", 2)))).status).toBe(WriteStatus.OtherSaga);
    // Over an envelope: identity from its header; a higher stored schema version is never overwritten by a lower one.
    const envelope = envelopes.encode(SAGA, busState("s1"), { sagaId: "s1", sagaVersion: 2, schemaVersion: 3 });
    expect((await engine.update(at(envelope))).status).toBe(WriteStatus.Written);
    expect((await engine.update(at(request("s1", 3, {}, 2)))).status).toBe(WriteStatus.SchemaAhead);
    expect((await engine.update(at(request("s1", 3, {}, 3)))).status).toBe(WriteStatus.Written);
    expect((await engine.getValue(k))![0]).toBe(0x7b);
    await close();
  });
});
