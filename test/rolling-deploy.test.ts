/**
 * Rolling-deploy simulation on ONE real Redis
 * (test/global-setup.ts), one key prefix, several RedisSagaStore instances,
 * each with its own ioredis connection and its own registry:
 *
 *   old     knows v1..v2, writes v2        (the code running before the rollout)
 *   phase1  knows v1..v3, writes v2        (writeVersion 2, with a 3 -> 2 downgrade)
 *   phase2  knows v1..v3, writes v3
 *
 * Phase A: old + phase1 run together. Phase B: old is gone, phase2 rolls out
 * beside phase1, both writing: phase1 writes v2, except over a saga already at
 * v3, which it knows and so writes at v3 (a v2 write would drop `history`, and
 * the write script refuses it). Phase C: an old instance that comes back fails
 * closed on v3 data and cannot overwrite it.
 *
 * Every successful write adds exactly 1 to the saga's counter and to its
 * version (both start at 0), so every state read at any time must have
 * counter === metadata.version, and at the end counter === acknowledged writes.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import {
  ConcurrencyError,
  RedisSagaStore,
  SchemaVersionAheadError,
  createSagaRegistry,
  defineSaga,
  type SagaMetadata,
} from "../src/index";
import { reporter } from "./support/report";
import { uniquePrefix } from "./support/stores";
import { valueKeyOf } from "./support/key-layout";

const SAGA = "OrderSaga";
const SAGAS = 20;
const CALLERS = 32;
const OPS_PER_CALLER = 60;
const HISTORY_MAX = 5;

// ---- schemas and registries -------------------------------------------------------

const V1 = z.object({ orderId: z.string(), counter: z.number().int().nonnegative() });
const V2 = z.object({ orderId: z.string(), counter: z.number().int().nonnegative(), status: z.enum(["open", "closed"]) });
// v3 renames counter -> count and adds history, which a downgrade to v2 has no place for.
const V3 = z.object({
  orderId: z.string(),
  count: z.number().int().nonnegative(),
  status: z.enum(["open", "closed"]),
  history: z.array(z.string()).max(HISTORY_MAX),
});

const upTo2 = () =>
  defineSaga(SAGA, V1).version(2, V2, {
    upgrade: (v1) => ({ ...v1, status: "open" as const }),
    downgrade: ({ status: _status, ...v1 }) => v1,
  });
const upTo3 = () =>
  upTo2().version(3, V3, {
    upgrade: (v2) => ({ orderId: v2.orderId, count: v2.counter, status: v2.status, history: [] }),
    downgrade: (v3) => ({ orderId: v3.orderId, counter: v3.count, status: v3.status }),
  });

type Kind = "old" | "phase1" | "phase2";
const registryFor = {
  old: () => createSagaRegistry([upTo2()]),
  phase1: () => createSagaRegistry([upTo3().writeVersion(2)]),
  phase2: () => createSagaRegistry([upTo3()]),
};

// ---- instances ------------------------------------------------------------------

const prefix = uniquePrefix();
const clients: Redis[] = [];
let raw: Redis;

/** What every instance kind reports of a state, whatever its shape. */
interface View {
  counter: number;
  version: number;
  sagaId: string;
  history: string[] | undefined;
  shape: "v2" | "v3";
}

function newClient(): Redis {
  const client = new Redis(inject("redisUrl"));
  clients.push(client);
  return client;
}

const storeOptions = { keyPrefix: prefix, maxRetries: 8, retryDelayMs: 1 };
const correlationId = (i: number) => `order-${i}`;
const sagaId = (i: number) => `saga-${i}`;
const valueKey = (i: number) => valueKeyOf(prefix, SAGA, correlationId(i));

interface Finds<S> {
  findById(sagaName: typeof SAGA, sagaId: string): Promise<S | null>;
  findByCorrelationId(sagaName: typeof SAGA, correlationId: string): Promise<S | null>;
}

/** An instance's read of saga i, by saga id or by correlation id, through its view; a missing saga fails the read. */
function reader<S>(label: string, store: Finds<S>, view: (state: S) => View) {
  return async (i: number, byId: boolean) => {
    const state = byId ? await store.findById(SAGA, sagaId(i)) : await store.findByCorrelationId(SAGA, correlationId(i));
    if (!state) throw new Error(`${label}: saga ${i} not found`);
    return view(state);
  };
}

/** One deployed instance: its own connection, its own registry, typed by it. */
async function deploy(kind: Kind, label: string) {
  if (kind === "old") {
    const store = new RedisSagaStore({ ...storeOptions, redis: newClient(), registry: registryFor.old() });
    await store.initialize();
    const view = (state: { counter: number; metadata: SagaMetadata } & Record<string, unknown>): View => {
      expect(state, label).not.toHaveProperty("count");
      return { counter: state.counter, version: state.metadata.version, sagaId: state.metadata.sagaId, history: undefined, shape: "v2" };
    };
    return {
      kind,
      label,
      store,
      read: reader(label, store, view),
      create: (i: number) => store.insert(SAGA, correlationId(i), { orderId: `o-${i}`, counter: 0, status: "open", metadata: { sagaId: sagaId(i) } }),
      modifyIncrement: async (i: number) => view(await store.modify(SAGA, correlationId(i), (s) => ({ ...s, counter: s.counter + 1 }))),
      async saveIncrement(i: number) {
        const state = (await store.findByCorrelationId(SAGA, correlationId(i)))!;
        return view(await store.save(SAGA, { ...state, counter: state.counter + 1 }));
      },
      async updateIncrement(i: number) {
        const state = (await store.findById(SAGA, sagaId(i)))!;
        await store.update(SAGA, { ...state, counter: state.counter + 1 }, state.metadata.version);
      },
      /** A write by a caller that never read the value: claims the given loaded version. */
      blindSave: (i: number, version: number) =>
        store.save(SAGA, { orderId: `o-${i}`, counter: 0, status: "closed", metadata: { sagaId: sagaId(i), version } }),
      blindUpdate: (i: number, version: number) =>
        store.update(SAGA, { orderId: `o-${i}`, counter: 0, status: "closed", metadata: { sagaId: sagaId(i) } }, version),
    };
  }
  const store = new RedisSagaStore({ ...storeOptions, redis: newClient(), registry: registryFor[kind]() });
  await store.initialize();
  const view = (state: z.output<typeof V3> & { metadata: SagaMetadata }): View => {
    expect(state, label).not.toHaveProperty("counter");
    expect(Array.isArray(state.history), label).toBe(true);
    return { counter: state.count, version: state.metadata.version, sagaId: state.metadata.sagaId, history: state.history, shape: "v3" };
  };
  const bump = <S extends z.output<typeof V3>>(s: S) => ({ ...s, count: s.count + 1, history: [...s.history, `${label}:${s.count + 1}`].slice(-HISTORY_MAX) });
  return {
    kind,
    label,
    store,
    read: reader(label, store, view),
    create: (i: number) => store.insert(SAGA, correlationId(i), { orderId: `o-${i}`, count: 0, status: "open", history: [], metadata: { sagaId: sagaId(i) } }),
    modifyIncrement: async (i: number) => view(await store.modify(SAGA, correlationId(i), bump)),
    async saveIncrement(i: number) {
      const state = (await store.findByCorrelationId(SAGA, correlationId(i)))!;
      return view(await store.save(SAGA, { ...bump(state), metadata: state.metadata }));
    },
    async updateIncrement(i: number) {
      const state = (await store.findById(SAGA, sagaId(i)))!;
      await store.update(SAGA, { ...bump(state), metadata: state.metadata }, state.metadata.version);
    },
    blindSave: (i: number, version: number) =>
      store.save(SAGA, { orderId: `o-${i}`, count: 0, status: "closed", history: [], metadata: { sagaId: sagaId(i), version } }),
    blindUpdate: (i: number, version: number) =>
      store.update(SAGA, { orderId: `o-${i}`, count: 0, status: "closed", history: [], metadata: { sagaId: sagaId(i) } }, version),
  };
}
type Instance = Awaited<ReturnType<typeof deploy>>;

// ---- the workload ---------------------------------------------------------------

/** Deterministic choices per caller (timing still interleaves them differently on every run). */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Tally {
  ops: number;
  reads: number;
  writesAcked: number;
  conflicts: number;
  /** Per saga: acknowledged increments. */
  acked: number[];
  /** Per saga, per instance kind: acknowledged increments. */
  ackedBy: Record<Kind, number[]>;
  readsBy: Record<Kind, number>;
  /** Anything other than a ConcurrencyError; must stay empty. */
  errors: string[];
  /** Reads breaking counter === version, going back in time, or with the wrong identity. */
  corrupt: string[];
}

const zeros = () => Array.from({ length: SAGAS }, () => 0);
function newTally(): Tally {
  return {
    ops: 0,
    reads: 0,
    writesAcked: 0,
    conflicts: 0,
    acked: zeros(),
    ackedBy: { old: zeros(), phase1: zeros(), phase2: zeros() },
    readsBy: { old: 0, phase1: 0, phase2: 0 },
    errors: [],
    corrupt: [],
  };
}

/**
 * CALLERS async callers, caller c on instances[c % n]; each does OPS_PER_CALLER
 * operations on random sagas: reads (by correlation id / by id), modify(+1),
 * read -> save(+1), read -> update(+1, loaded version). Writers listed in
 * `readOnly` only read.
 */
async function runPhase(instances: Instance[], tally: Tally, seed: number, readOnly: Kind[] = []): Promise<void> {
  const caller = async (c: number) => {
    const instance = instances[c % instances.length]!;
    const random = prng(seed * 1000 + c);
    const lastSeen = zeros().map(() => -1);
    const check = (i: number, view: View, what: string) => {
      const where = `${instance.label} ${what} saga ${i}`;
      if (view.counter !== view.version) tally.corrupt.push(`${where}: counter ${view.counter} != version ${view.version}`);
      if (view.version < lastSeen[i]!) tally.corrupt.push(`${where}: version went back from ${lastSeen[i]} to ${view.version}`);
      if (view.sagaId !== sagaId(i)) tally.corrupt.push(`${where}: saga id ${view.sagaId}`);
      lastSeen[i] = view.version;
    };
    for (let n = 0; n < OPS_PER_CALLER; n++) {
      const i = Math.floor(random() * SAGAS);
      const roll = random();
      const op = readOnly.includes(instance.kind) || roll < 0.3 ? (roll < 0.15 ? "readById" : "read") : roll < 0.65 ? "modify" : roll < 0.85 ? "save" : "update";
      tally.ops++;
      try {
        if (op === "read" || op === "readById") {
          check(i, await instance.read(i, op === "readById"), op);
          tally.reads++;
          tally.readsBy[instance.kind]++;
          continue;
        }
        if (op === "modify") check(i, await instance.modifyIncrement(i), "modify result");
        else if (op === "save") check(i, await instance.saveIncrement(i), "save result");
        else await instance.updateIncrement(i);
        tally.writesAcked++;
        tally.acked[i]!++;
        tally.ackedBy[instance.kind][i]!++;
      } catch (error) {
        if (error instanceof ConcurrencyError) tally.conflicts++;
        else tally.errors.push(`${instance.label} ${op} saga ${i}: ${(error as Error)?.name} ${(error as Error)?.message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CALLERS }, (_, c) => caller(c)));
}

const report = reporter("rolling-deploy", "ROLLING_REPORT");

const schemaVersionOf = async (i: number) => {
  const bytes = await raw.getBuffer(valueKey(i));
  if (!bytes) throw new Error(`saga ${i} missing`);
  expect(bytes[0]).toBe(0xfe);
  return bytes.readUInt32BE(4);
};
const allSagas = Array.from({ length: SAGAS }, (_, i) => i);
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

// ---- the rollout ------------------------------------------------------------------

describe("two-phase rolling deploy on one Redis (v2 -> v3)", () => {
  const tally = newTally();
  let old: Instance[];
  let phase1: Instance[];
  let phase2: Instance[];

  beforeAll(async () => {
    raw = newClient();
    old = await Promise.all([deploy("old", "old-a"), deploy("old", "old-b")]);
    phase1 = await Promise.all([deploy("phase1", "phase1-a"), deploy("phase1", "phase1-b")]);
  });

  afterAll(async () => {
    await Promise.all(clients.splice(0).map((client) => client.quit()));
  });

  it(`phase A: old (v1..v2) and phase1 (reads v3, writes v2), ${CALLERS} callers × ${OPS_PER_CALLER} ops on ${SAGAS} sagas: nothing lost, no SCHEMA_VERSION_AHEAD`, async () => {
    // Half the sagas are created by old instances, half by phase1 ones; all are stored as v2.
    await Promise.all(allSagas.map((i) => (i % 2 === 0 ? old[0]! : phase1[0]!).create(i)));
    for (const i of allSagas) expect(await schemaVersionOf(i)).toBe(2);

    const started = performance.now();
    await runPhase([...old, ...phase1], tally, 1);
    const ms = Math.round(performance.now() - started);
    report("phase A", { ms, ops: tally.ops, reads: tally.reads, acked: tally.writesAcked, conflicts: tally.conflicts, readsBy: tally.readsBy });

    expect(tally.errors).toEqual([]);
    expect(tally.corrupt).toEqual([]);
    expect(tally.ops).toBe(CALLERS * OPS_PER_CALLER);
    expect(tally.reads + tally.writesAcked + tally.conflicts).toBe(tally.ops);
    expect(tally.readsBy.old).toBeGreaterThan(0);
    expect(tally.readsBy.phase1).toBeGreaterThan(0);
    // Both kinds really wrote every saga: the sagas went back and forth between v2 writers of two code versions.
    for (const i of allSagas) {
      expect(tally.ackedBy.old[i], `old writes to saga ${i}`).toBeGreaterThan(0);
      expect(tally.ackedBy.phase1[i], `phase1 writes to saga ${i}`).toBeGreaterThan(0);
    }

    // Everything readable by every instance of both kinds, with exactly the acknowledged increments.
    for (const i of allSagas) {
      expect(await schemaVersionOf(i), `saga ${i} stays v2 while old instances run`).toBe(2);
      for (const instance of [...old, ...phase1]) {
        for (const byId of [false, true]) {
          const view = await instance.read(i, byId);
          expect(view, `${instance.label} saga ${i}`).toMatchObject({ counter: tally.acked[i], version: tally.acked[i], sagaId: sagaId(i) });
          // phase1 sees v3, with nothing in history: a v2 value has none.
          if (instance.kind === "phase1") expect(view.history).toEqual([]);
        }
      }
    }
  });

  it("phase B: phase2 (writes v3) rolls out beside phase1; both read and write every saga, v2 or v3", async () => {
    phase2 = await Promise.all([deploy("phase2", "phase2-a"), deploy("phase2", "phase2-b")]);
    const before = { ops: tally.ops, reads: tally.reads, writesAcked: tally.writesAcked, conflicts: tally.conflicts, readsBy: { ...tally.readsBy } };

    const started = performance.now();
    await runPhase([...phase1, ...phase2], tally, 2);
    // The rollout finishes: every saga gets written by phase2 at least once more.
    await Promise.all(
      allSagas.map(async (i) => {
        const view = await phase2[i % 2]!.modifyIncrement(i);
        tally.acked[i]!++;
        tally.ackedBy.phase2[i]!++;
        tally.writesAcked++;
        expect(view.counter).toBe(view.version);
      }),
    );
    const ms = Math.round(performance.now() - started);
    report("phase B", {
      ms,
      ops: tally.ops - before.ops,
      reads: tally.reads - before.reads,
      acked: tally.writesAcked - before.writesAcked,
      conflicts: tally.conflicts - before.conflicts,
      readsBy: tally.readsBy,
    });

    expect(tally.errors).toEqual([]);
    expect(tally.corrupt).toEqual([]);
    expect(tally.ops - before.ops).toBe(CALLERS * OPS_PER_CALLER);
    expect(tally.reads + tally.writesAcked + tally.conflicts).toBe(tally.ops + SAGAS);
    expect(tally.readsBy.phase1).toBeGreaterThan(before.readsBy.phase1);
    expect(sum(tally.ackedBy.phase2)).toBeGreaterThan(SAGAS);

    for (const i of allSagas) {
      expect(await schemaVersionOf(i), `saga ${i} is v3 once phase2 wrote it`).toBe(3);
      const byPhase2 = await phase2[0]!.read(i, false);
      expect(byPhase2).toMatchObject({ counter: tally.acked[i], version: tally.acked[i], shape: "v3" });
      expect(byPhase2.history!.length).toBeGreaterThan(0);
      for (const instance of phase1) {
        // phase1 knows v3: it reads the stored v3 as is, history included (no downgrade on read).
        expect(await instance.read(i, true)).toEqual(byPhase2);
      }
    }
  });

  it("phase1 writes over a v3 value at v3 (it knows v3), keeping history, instead of downgrading or refusing", async () => {
    const i = 0;
    const loaded = await phase1[0]!.read(i, false);
    for (const [instance, write] of [
      [phase1[0]!, (i: number) => phase1[0]!.modifyIncrement(i)],
      [phase1[1]!, (i: number) => phase1[1]!.saveIncrement(i)],
      [phase1[0]!, (i: number) => phase1[0]!.updateIncrement(i)],
    ] as const) {
      await write(i);
      tally.acked[i]!++;
      tally.ackedBy[instance.kind][i]!++;
      tally.writesAcked++;
      expect(await schemaVersionOf(i)).toBe(3);
    }
    const after = await phase2[0]!.read(i, true);
    expect(after).toMatchObject({ counter: loaded.counter + 3, version: loaded.version + 3, shape: "v3" });
    // Everything phase2 wrote into history survived, and phase1's own entries follow it.
    const added = after.history!.slice(-3);
    for (const entry of added) expect(entry).toMatch(/^phase1-/);
    expect(after.history).toEqual([...loaded.history!, ...added].slice(-HISTORY_MAX));
  });

  it("phase C: an old instance (v1..v2) fails closed on v3 data: every read and write refused, even under load, bytes unchanged", async () => {
    const returning = await Promise.all([deploy("old", "old-returning-a"), deploy("old", "old-returning-b")]);
    const expectAhead = (error: unknown, what: string) => {
      expect(error, what).toBeInstanceOf(SchemaVersionAheadError);
      expect(error, what).toMatchObject({ code: "SCHEMA_VERSION_AHEAD", sagaName: SAGA, storedVersion: 3, knownVersion: 2, retryable: false });
    };
    const refusal = (promise: Promise<unknown>) =>
      promise.then(
        () => new Error("the call succeeded"),
        (e: unknown) => e,
      );

    // Under load: phase2 keeps incrementing while the old instances try everything, each call refused.
    const refused: Record<string, number> = { read: 0, readById: 0, modify: 0, save: 0, update: 0, blindSave: 0, blindUpdate: 0 };
    const unexpected: string[] = [];
    const oldCaller = async (c: number) => {
      const instance = returning[c % 2]!;
      const random = prng(3000 + c);
      for (let n = 0; n < 20; n++) {
        const i = Math.floor(random() * SAGAS);
        const version = tally.acked[i]!; // at or behind the stored version; refused either way
        const calls = {
          read: () => instance.read(i, false),
          readById: () => instance.read(i, true),
          modify: () => instance.modifyIncrement(i),
          save: () => instance.saveIncrement(i),
          update: () => instance.updateIncrement(i),
          blindSave: () => instance.blindSave(i, version),
          blindUpdate: () => instance.blindUpdate(i, version),
        };
        const op = Object.keys(calls)[n % 7] as keyof typeof calls;
        const error = await refusal(calls[op]());
        if (error instanceof SchemaVersionAheadError && error.storedVersion === 3 && error.knownVersion === 2 && error.sagaId === sagaId(i)) refused[op]!++;
        else unexpected.push(`${instance.label} ${op} saga ${i}: ${(error as Error)?.name} ${(error as Error)?.message}`);
      }
    };
    const before = tally.writesAcked;
    await Promise.all([
      ...Array.from({ length: CALLERS / 2 }, (_, c) => oldCaller(c)),
      runPhase(phase2, tally, 4).then(() => undefined),
    ]);
    report("phase C", { refused, phase2Acked: tally.writesAcked - before });
    expect(unexpected).toEqual([]);
    expect(sum(Object.values(refused))).toBe((CALLERS / 2) * 20);
    for (const count of Object.values(refused)) expect(count).toBeGreaterThan(0);
    expect(tally.errors).toEqual([]);
    expect(tally.corrupt).toEqual([]);

    // Quiescent: raw GET before/after every refused call, on every saga.
    for (const i of allSagas) {
      const key = valueKey(i);
      const bytes = await raw.getBuffer(key);
      const storedVersion = tally.acked[i]!;
      const old = returning[i % 2]!;
      expectAhead(await refusal(old.read(i, false)), `findByCorrelationId ${i}`);
      expectAhead(await refusal(old.read(i, true)), `findById ${i}`);
      expectAhead(await refusal(old.modifyIncrement(i)), `modify ${i}`);
      expectAhead(await refusal(old.blindSave(i, storedVersion)), `save at the stored version ${i}`);
      expectAhead(await refusal(old.blindSave(i, storedVersion - 1)), `save at a stale version ${i}`);
      expectAhead(await refusal(old.blindUpdate(i, storedVersion)), `update ${i}`);
      expect(await raw.getBuffer(key), `saga ${i} bytes`).toEqual(bytes);
      expect(await schemaVersionOf(i)).toBe(3);
    }
  });

  it("at the end every saga is readable by phase1 and phase2 with exactly the acknowledged increments", async () => {
    const totalAcked = sum(tally.acked);
    expect(totalAcked).toBe(tally.writesAcked);
    report("end", { totalAcked, conflicts: tally.conflicts, perSaga: tally.acked });
    for (const i of allSagas) {
      const expected = { counter: tally.acked[i], version: tally.acked[i], sagaId: sagaId(i), shape: "v3" };
      const views = [];
      for (const instance of [...phase1, ...phase2]) {
        for (const byId of [false, true]) {
          const view = await instance.read(i, byId);
          expect(view, `${instance.label} saga ${i}`).toMatchObject(expected);
          views.push(view);
        }
      }
      for (const view of views) expect(view).toEqual(views[0]);
      // The per-kind bookkeeping adds up to the same figure.
      expect(tally.ackedBy.old[i]! + tally.ackedBy.phase1[i]! + tally.ackedBy.phase2[i]!).toBe(tally.acked[i]);
    }
  });
});
