/**
 * Soak: a bounded mixed load on a standalone Redis and on
 * the Redis Cluster, SOAK_SECONDS per engine (default 15 s; the README's
 * figure comes from SOAK_SECONDS=60).
 *
 * 64 async callers on one store (completedTtlSeconds 1) and a second store
 * on the same client and prefix with defaultTtlSeconds 1, each picking at
 * random:
 * - hot sagas (16, shared by every caller): `modify` increments, which
 *   conflict (ConcurrencyError after the store's retries: expected, counted)
 *   and `findByCorrelationId`, whose counter must lie between the increments
 *   acknowledged before the find started and those started before it ended;
 * - owned sagas (4 slots per caller, used by that caller only, so the model
 *   is exact): insert (saga-bus shape) or save (seed shape), find / findById
 *   (exactly the model's counter and version), modify, a duplicate insert
 *   (SagaAlreadyExistsError, expected by the model), deleteByCorrelationId
 *   (returns what the model says), calls on an absent saga (null / false /
 *   SagaNotFoundError, as the model says), and completion: the saga gets a
 *   1 s TTL on value and index (checked raw with PTTL) and must be gone
 *   (find, findById, raw EXISTS of both keys) once it expired;
 * - contested inserts (64 correlation ids raced by every caller): exactly
 *   one insert wins each, the others get SagaAlreadyExistsError, and a
 *   loser's saga id never gets an index;
 * - ephemeral inserts through the defaultTtlSeconds store: gone after 1 s.
 * A sweeper checks expired sagas while the load runs (so the model stays
 * bounded) and the rest at the end.
 *
 * Asserted: no error other than the expected ones; every saga's final state
 * equals the model (hot counters = acknowledged increments, owned sagas,
 * race winners, expired ones gone); heap at the end within 20% of the heap
 * after warm-up (each store's bounded correlation-id cache is filled to its
 * 50,000-entry bound first, see fillCorrelationCache, so filling it is not read as a leak;
 * the figures record its size). Heap is read as heapUsed after a forced full GC (V8's gc,
 * exposed at runtime with v8.setFlagsFromString("--expose-gc"), so no
 * vitest option is needed); where that is unavailable, the median of 5
 * samples taken between idle ticks. The figures say which was used.
 *
 * Figures: test/.figures/faults.json, keys "soak.redis" and "soak.cluster".
 */
import type { Cluster, Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { ConcurrencyError, SagaAlreadyExistsError, SagaNotFoundError, SagaStoreError, type SagaStore } from "../../src/index";
import { forcedGc } from "../support/heap";
import { indexKeyOf, valueKeyOf } from "../support/key-layout";
import { addCount, sleep } from "../support/load";
import { clusterEngine, redisEngine, sagaBusState, type StoreHarness } from "../support/stores";
import { recordFigures } from "./figures";

const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? 15);
const CALLERS = 64;
const HOT_SAGAS = 16;
const SLOTS_PER_CALLER = 4;
const RACE_IDS = 64;
const TTL_MS = 1_000;
/** Checked for being gone this long after its expiry was acknowledged. */
const EXPIRY_MARGIN_MS = 1_000;
const HEAP_TOLERANCE = 0.2;
const SAGA = "Soak";
const STORE_OPTIONS = { maxRetries: 3, retryDelayMs: 2 };

// ---- heap ------------------------------------------------------------------------------------

const gc = forcedGc();
const HEAP_METHOD = gc ? "heapUsed after a forced full GC (v8 gc exposed at runtime)" : "median heapUsed of 5 samples between idle ticks (no gc available)";

async function heapUsed(): Promise<number> {
  const idle = () => new Promise((resolve) => setTimeout(resolve, 20));
  if (gc) {
    await idle();
    gc();
    await idle();
    gc();
    return process.memoryUsage().heapUsed;
  }
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    await idle();
    samples.push(process.memoryUsage().heapUsed);
  }
  return samples.sort((a, b) => a - b)[2]!;
}

/**
 * Each store keeps a correlation-id cache bounded at 50,000 entries (src/store.ts). Left to fill during
 * the run, its growth to that bound would read as heap growth although it is bounded by design; so
 * before warm-up it is filled to capacity with entries shaped like real ones (index keys of saga ids
 * no call ever asks for, evicted oldest-first as real entries arrive). Returns the cache size, or
 * undefined when the store no longer has such a cache (then nothing is filled; the figures say so).
 */
function fillCorrelationCache(store: SagaStore, prefix: string): number | undefined {
  const cache = (store as unknown as { correlationIds?: { capacity?: unknown; entries?: unknown; set(key: string, value: string): void } }).correlationIds;
  if (!cache || typeof cache.capacity !== "number" || !(cache.entries instanceof Map)) return undefined;
  for (let i = cache.entries.size; i < cache.capacity; i++) cache.set(indexKeyOf(prefix, SAGA, `warm-s-${i}-0-0`), `warm-${i}-0-0`);
  return cache.entries.size;
}
function correlationCacheSize(store: SagaStore): number | undefined {
  const entries = (store as unknown as { correlationIds?: { entries?: unknown } }).correlationIds?.entries;
  return entries instanceof Map ? entries.size : undefined;
}

const MB = (bytes: number) => +(bytes / 2 ** 20).toFixed(1);
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

// ---- the model --------------------------------------------------------------------------------

type Shape = "saga-bus" | "seed";
interface Slot {
  shape: Shape;
  generation: number;
  cid: string;
  sid: string;
  exists: boolean;
  counter: number;
  version: number;
}
interface Expiring {
  cid: string;
  sid: string;
  /** Check after this time (acknowledged + TTL + margin). */
  checkAfter: number;
  why: "completed" | "ephemeral";
}

function counterOf(state: Record<string, any> | null, shape: Shape): number | undefined {
  if (!state) return undefined;
  return shape === "saga-bus" ? state.counter : state.data?.counter;
}
function versionOf(state: Record<string, any>, shape: Shape): number | undefined {
  return shape === "saga-bus" ? state.metadata?.version : state.version;
}
function sagaIdOf(state: Record<string, any>): string | undefined {
  return state.metadata?.sagaId ?? state.id;
}

interface Raw {
  exists(key: string): Promise<number>;
  pttl(key: string): Promise<number>;
  /** Delete every key under the prefix (only this test's keys). */
  clean(prefix: string): Promise<void>;
}

function rawOf(redis: Redis | undefined, cluster: Cluster | undefined): Raw {
  const client = (redis ?? cluster)!;
  const nodes = () => (redis ? [redis] : cluster!.nodes("master"));
  return {
    exists: (key) => client.exists(key),
    pttl: (key) => client.pttl(key),
    async clean(prefix) {
      for (const node of nodes()) {
        const keys = await node.keys(`${prefix}*`);
        for (let i = 0; i < keys.length; i += 500) await Promise.all(keys.slice(i, i + 500).map((key) => client.del(key)));
      }
    },
  };
}

async function soak(engine: StoreHarness): Promise<Record<string, unknown>> {
  const { store, prefix, redis, cluster } = await engine.open({ ...STORE_OPTIONS, completedTtlSeconds: TTL_MS / 1000 });
  const { store: ttlStore } = await engine.open({ ...STORE_OPTIONS, keyPrefix: prefix, defaultTtlSeconds: TTL_MS / 1000 });
  const raw = rawOf(redis, cluster);
  const layout = { valueKey: (sagaName: string, cid: string) => valueKeyOf(prefix, sagaName, cid), indexKey: (sagaName: string, sid: string) => indexKeyOf(prefix, sagaName, sid) };

  const ops: Record<string, number> = {};
  const expectedErrors: Record<string, number> = {};
  const unexpected: string[] = [];
  const anomalies: string[] = [];
  const note = (list: string[], text: string) => {
    if (list.length < 50) list.push(text);
  };
  const unexpectedError = (op: string, error: unknown) =>
    note(unexpected, `${op}: ${error instanceof SagaStoreError ? `${error.name}(${error.code})` : (error as Error)?.name}: ${(error as Error)?.message}`);

  // Hot sagas.
  const hotCid = (i: number) => `hot-${i}`;
  const hotAcked = new Array<number>(HOT_SAGAS).fill(0);
  const hotStarted = new Array<number>(HOT_SAGAS).fill(0);
  for (let i = 0; i < HOT_SAGAS; i++) await store.insert(SAGA, hotCid(i), sagaBusState(`hot-s-${i}`, { counter: 0 }));

  // Owned slots.
  const slots: Slot[][] = Array.from({ length: CALLERS }, (_, caller) =>
    Array.from({ length: SLOTS_PER_CALLER }, (_, k) => {
      const shape: Shape = k % 2 === 0 ? "saga-bus" : "seed";
      return { shape, generation: 0, cid: `own-${caller}-${k}-0`, sid: `own-s-${caller}-${k}-0`, exists: false, counter: 0, version: 0 };
    }),
  );

  // Contested inserts.
  const raceWinner = new Array<string | undefined>(RACE_IDS);
  const raceLoser = new Array<string | undefined>(RACE_IDS);

  // Sagas that must expire.
  let expiring: Expiring[] = [];
  let expiredVerified = 0;
  let peakExpiring = 0;

  const verifyGone = async (entry: Expiring) => {
    const [byCid, bySid, valueExists, indexExists] = await Promise.all([
      store.findByCorrelationId(SAGA, entry.cid),
      store.findById(SAGA, entry.sid),
      raw.exists(layout.valueKey(SAGA, entry.cid)),
      raw.exists(layout.indexKey(SAGA, entry.sid)),
    ]);
    if (byCid !== null || bySid !== null || valueExists !== 0 || indexExists !== 0) {
      note(anomalies, `${entry.why} saga ${entry.cid}/${entry.sid} not gone ${Date.now() - entry.checkAfter + EXPIRY_MARGIN_MS} ms after its TTL: find ${byCid !== null}, findById ${bySid !== null}, value key ${valueExists}, index key ${indexExists}`);
    }
    expiredVerified++;
  };

  let ephemeralCount = 0;
  /** Calls of the hot modify's fn: beyond one per call, each is a conflict the store retried by itself. */
  let hotAttempts = 0;
  const started = Date.now();
  const warmupMs = Math.max(3_000, SOAK_SECONDS * 200);
  const deadline = started + SOAK_SECONDS * 1000;
  let running = true;

  const ownedStep = async (caller: number) => {
    const slotIndex = Math.floor(Math.random() * SLOTS_PER_CALLER);
    const slot = slots[caller]![slotIndex]!;
    const { shape } = slot;
    const create = () =>
      shape === "saga-bus"
        ? store.insert(SAGA, slot.cid, sagaBusState(slot.sid, { counter: 0 }))
        : store.save(SAGA, { id: slot.sid, correlationId: slot.cid, status: "running", data: { counter: 0 } });
    const bump = (s: Record<string, any>) => (shape === "saga-bus" ? { ...s, counter: s.counter + 1 } : { ...s, data: { ...s.data, counter: s.data.counter + 1 } });
    const complete = (s: Record<string, any>) => (shape === "saga-bus" ? { ...s, metadata: { ...s.metadata, isCompleted: true } } : { ...s, status: "completed" });
    const r = Math.random();

    if (!slot.exists) {
      if (r < 0.85) {
        addCount(ops, "insert");
        await create();
        Object.assign(slot, { exists: true, counter: 0, version: 0 });
      } else if (r < 0.9) {
        addCount(ops, "findAbsent");
        if ((await store.findByCorrelationId(SAGA, slot.cid)) !== null) note(anomalies, `find of deleted ${slot.cid} returned a state`);
        if ((await store.findById(SAGA, slot.sid)) !== null) note(anomalies, `findById of deleted ${slot.sid} returned a state`);
      } else if (r < 0.95) {
        addCount(ops, "deleteAbsent");
        if ((await store.deleteByCorrelationId(SAGA, slot.cid)) !== false) note(anomalies, `deleteByCorrelationId of absent ${slot.cid} said it deleted`);
      } else {
        addCount(ops, "modifyAbsent");
        try {
          await store.modify(SAGA, slot.cid, bump);
          note(anomalies, `modify of absent ${slot.cid} resolved`);
        } catch (error) {
          if (!(error instanceof SagaNotFoundError)) throw error;
          addCount(expectedErrors, "SAGA_NOT_FOUND (absent, per model)");
        }
      }
      return;
    }

    if (r < 0.3) {
      addCount(ops, "findOwned");
      const [byCid, bySid] = await Promise.all([store.findByCorrelationId(SAGA, slot.cid), store.findById(SAGA, slot.sid)]);
      for (const [how, state] of [["find", byCid], ["findById", bySid]] as const) {
        if (!state || counterOf(state, shape) !== slot.counter || versionOf(state, shape) !== slot.version || sagaIdOf(state) !== slot.sid) {
          note(anomalies, `${how} ${slot.cid}: got counter ${counterOf(state, shape)} version ${state && versionOf(state, shape)}, model ${slot.counter} / ${slot.version}`);
        }
      }
    } else if (r < 0.65) {
      addCount(ops, "modifyOwned");
      const saved = await store.modify(SAGA, slot.cid, bump);
      slot.counter++;
      slot.version++;
      if (counterOf(saved, shape) !== slot.counter || versionOf(saved, shape) !== slot.version) {
        note(anomalies, `modify ${slot.cid} returned counter ${counterOf(saved, shape)} version ${versionOf(saved, shape)}, model ${slot.counter} / ${slot.version}`);
      }
    } else if (r < 0.72) {
      addCount(ops, "duplicateInsert");
      try {
        await store.insert(SAGA, slot.cid, sagaBusState(`${slot.sid}-dup`, { counter: -1 }));
        note(anomalies, `duplicate insert of ${slot.cid} resolved`);
      } catch (error) {
        if (!(error instanceof SagaAlreadyExistsError)) throw error;
        addCount(expectedErrors, "SAGA_ALREADY_EXISTS (duplicate, per model)");
      }
    } else if (r < 0.86) {
      addCount(ops, "deleteByCorrelationId");
      const deleted = await store.deleteByCorrelationId(SAGA, slot.cid);
      if (deleted !== true) note(anomalies, `deleteByCorrelationId ${slot.cid} returned ${deleted}, model says it exists`);
      slot.exists = false;
    } else {
      addCount(ops, "complete");
      await store.modify(SAGA, slot.cid, complete);
      const acknowledged = Date.now();
      const [valueTtl, indexTtl] = await Promise.all([raw.pttl(layout.valueKey(SAGA, slot.cid)), raw.pttl(layout.indexKey(SAGA, slot.sid))]);
      // -2: already expired (a slow tick); otherwise both must carry the completed TTL.
      for (const [which, ttl] of [["value", valueTtl], ["index", indexTtl]] as const) {
        if (ttl !== -2 && (ttl <= 0 || ttl > TTL_MS)) note(anomalies, `completed ${slot.cid}: ${which} key PTTL ${ttl}, expected 1..${TTL_MS}`);
      }
      expiring.push({ cid: slot.cid, sid: slot.sid, checkAfter: acknowledged + TTL_MS + EXPIRY_MARGIN_MS, why: "completed" });
      peakExpiring = Math.max(peakExpiring, expiring.length);
      // The completed correlation id is retired; the slot goes on with a new saga.
      slot.generation++;
      const [, c, k] = slot.cid.split("-");
      Object.assign(slot, { cid: `own-${c}-${k}-${slot.generation}`, sid: `own-s-${c}-${k}-${slot.generation}`, exists: false, counter: 0, version: 0 });
    }
  };

  const caller = async (index: number) => {
    let n = 0;
    while (Date.now() < deadline) {
      n++;
      const r = Math.random();
      let op = "?";
      try {
        if (r < 0.35) {
          op = "modifyHot";
          const i = Math.floor(Math.random() * HOT_SAGAS);
          hotStarted[i]!++;
          try {
            await store.modify(SAGA, hotCid(i), (s) => {
              hotAttempts++;
              return { ...s, counter: s.counter + 1 };
            });
            hotAcked[i]!++;
            addCount(ops, op);
          } catch (error) {
            if (!(error instanceof ConcurrencyError)) throw error;
            addCount(ops, op);
            addCount(expectedErrors, "SAGA_CONFLICT (hot modify after retries)");
          }
        } else if (r < 0.45) {
          op = "findHot";
          const i = Math.floor(Math.random() * HOT_SAGAS);
          const low = hotAcked[i]!;
          const state = await store.findByCorrelationId(SAGA, hotCid(i));
          const high = hotStarted[i]!;
          addCount(ops, op);
          const counter = state?.counter as number | undefined;
          if (counter === undefined || counter < low || counter > high) note(anomalies, `findHot ${hotCid(i)}: counter ${counter} outside [${low}, ${high}]`);
        } else if (r < 0.85) {
          op = "owned";
          await ownedStep(index);
        } else if (r < 0.95) {
          op = "raceInsert";
          const k = Math.floor(Math.random() * RACE_IDS);
          const wonBefore = raceWinner[k] !== undefined;
          const sid = `race-s-${k}-${index}-${n}`;
          addCount(ops, op);
          try {
            await store.insert(SAGA, `race-${k}`, sagaBusState(sid, { by: index }));
            if (raceWinner[k] !== undefined) note(anomalies, `race-${k}: a second insert won (${raceWinner[k]} and ${sid})${wonBefore ? " after the first had been acknowledged" : ""}`);
            raceWinner[k] = sid;
          } catch (error) {
            if (!(error instanceof SagaAlreadyExistsError)) throw error;
            raceLoser[k] = sid;
            addCount(expectedErrors, "SAGA_ALREADY_EXISTS (contested insert)");
          }
        } else {
          op = "ephemeralInsert";
          const id = ephemeralCount++;
          await ttlStore.insert(SAGA, `eph-${id}`, sagaBusState(`eph-s-${id}`, { counter: 0 }));
          addCount(ops, op);
          expiring.push({ cid: `eph-${id}`, sid: `eph-s-${id}`, checkAfter: Date.now() + TTL_MS + EXPIRY_MARGIN_MS, why: "ephemeral" });
          peakExpiring = Math.max(peakExpiring, expiring.length);
        }
      } catch (error) {
        unexpectedError(op, error);
      }
    }
  };

  const sweeper = async () => {
    while (running) {
      await sleep(250);
      const now = Date.now();
      const due = expiring.filter((entry) => entry.checkAfter <= now);
      if (due.length === 0) continue;
      expiring = expiring.filter((entry) => entry.checkAfter > now);
      for (let i = 0; i < due.length; i += 64) {
        await Promise.all(due.slice(i, i + 64).map((entry) => verifyGone(entry).catch((error) => unexpectedError("verifyExpired", error))));
      }
    }
  };

  const cacheFilled = [fillCorrelationCache(store, prefix), fillCorrelationCache(ttlStore, prefix)];
  let heapAfterWarmup = 0;
  let cacheAfterWarmup: Array<number | undefined> = [];
  const warmupProbe = (async () => {
    await sleep(warmupMs);
    heapAfterWarmup = await heapUsed();
    cacheAfterWarmup = [correlationCacheSize(store), correlationCacheSize(ttlStore)];
  })();

  const sweeping = sweeper();
  await Promise.all(Array.from({ length: CALLERS }, (_, i) => caller(i)));
  const loadMs = Date.now() - started;
  await warmupProbe;
  const heapAtEnd = await heapUsed();
  const cacheAtEnd = [correlationCacheSize(store), correlationCacheSize(ttlStore)];
  running = false;
  await sweeping;

  // ---- final state against the model --------------------------------------------------
  const finalMismatches: string[] = [];
  const mismatch = (text: string) => {
    if (finalMismatches.length < 50) finalMismatches.push(text);
  };
  for (let i = 0; i < HOT_SAGAS; i++) {
    const state = await store.findByCorrelationId(SAGA, hotCid(i));
    if (state?.counter !== hotAcked[i] || state?.metadata?.version !== hotAcked[i]) {
      mismatch(`${hotCid(i)}: counter ${state?.counter} version ${state?.metadata?.version}, acknowledged increments ${hotAcked[i]}`);
    }
  }
  for (const slot of slots.flat()) {
    const [byCid, bySid] = await Promise.all([store.findByCorrelationId(SAGA, slot.cid), store.findById(SAGA, slot.sid)]);
    if (!slot.exists) {
      if (byCid !== null || bySid !== null) mismatch(`${slot.cid}: exists, model says deleted`);
      continue;
    }
    for (const state of [byCid, bySid]) {
      if (!state || counterOf(state, slot.shape) !== slot.counter || versionOf(state, slot.shape) !== slot.version || sagaIdOf(state) !== slot.sid) {
        mismatch(`${slot.cid}: counter ${counterOf(state, slot.shape)} version ${state && versionOf(state, slot.shape)}, model ${slot.counter} / ${slot.version}`);
      }
    }
  }
  let raceWon = 0;
  for (let k = 0; k < RACE_IDS; k++) {
    const state = await store.findByCorrelationId(SAGA, `race-${k}`);
    if (raceWinner[k] === undefined) {
      if (state !== null) mismatch(`race-${k}: stored (${sagaIdOf(state)}) but no insert was acknowledged`);
      continue;
    }
    raceWon++;
    if (!state || sagaIdOf(state) !== raceWinner[k]) mismatch(`race-${k}: stored ${state && sagaIdOf(state)}, winner ${raceWinner[k]}`);
    if ((await store.findById(SAGA, raceWinner[k]!)) === null) mismatch(`race-${k}: winner ${raceWinner[k]} not found by id`);
    if (raceLoser[k] !== undefined) {
      if ((await store.findById(SAGA, raceLoser[k]!)) !== null) mismatch(`race-${k}: loser ${raceLoser[k]} found by id`);
      if ((await raw.exists(layout.indexKey(SAGA, raceLoser[k]!))) !== 0) mismatch(`race-${k}: loser ${raceLoser[k]} has an index key`);
    }
  }
  // Whatever still waits to expire: wait for the last one, then check all.
  const lastCheck = Math.max(0, ...expiring.map((entry) => entry.checkAfter));
  if (lastCheck > Date.now()) await sleep(lastCheck - Date.now());
  const remaining = expiring;
  expiring = [];
  for (let i = 0; i < remaining.length; i += 64) {
    await Promise.all(remaining.slice(i, i + 64).map((entry) => verifyGone(entry).catch((error) => unexpectedError("verifyExpired", error))));
  }

  await raw.clean(prefix);
  await Promise.all([store.close(), ttlStore.close()]);

  const totalOps = Object.values(ops).reduce((a, b) => a + b, 0);
  return {
    soakSeconds: SOAK_SECONDS,
    callers: CALLERS,
    loadMs,
    totalOps,
    opsPerSecond: Math.round(totalOps / (loadMs / 1000)),
    ops,
    expectedErrors,
    conflicts: expectedErrors["SAGA_CONFLICT (hot modify after retries)"] ?? 0,
    conflictsRetriedByModify: hotAttempts - (ops.modifyHot ?? 0),
    hotIncrementsAcked: hotAcked.reduce((a, b) => a + b, 0),
    raceIdsWon: raceWon,
    expiredVerified,
    peakAwaitingExpiry: peakExpiring,
    unexpectedErrors: unexpected,
    anomalies,
    finalMismatches,
    heap: {
      method: HEAP_METHOD,
      warmupMs,
      afterWarmupMB: MB(heapAfterWarmup),
      atEndMB: MB(heapAtEnd),
      growth: +((heapAtEnd - heapAfterWarmup) / heapAfterWarmup).toFixed(3),
      correlationCacheEntries: { filledBeforeWarmup: cacheFilled, afterWarmup: cacheAfterWarmup, atEnd: cacheAtEnd },
    },
    heapAfterWarmup,
    heapAtEnd,
  };
}

describe.each([
  ["redis", redisEngine],
  ["cluster", clusterEngine],
] as const)("soak on %s", (name, make) => {
  const engine = make();
  afterAll(() => engine.closeAll());

  it(
    `${CALLERS} callers, ${SOAK_SECONDS} s of find / modify / insert / delete / TTL expiry: only expected errors, final state equals the model, heap within 20% of after warm-up`,
    async () => {
      const result = await soak(engine);
      const { heapAfterWarmup, heapAtEnd, ...figures } = result as Record<string, any>;
      recordFigures(`soak.${name}`, figures);
      expect(figures.unexpectedErrors, "errors other than expected conflicts / per-model refusals").toEqual([]);
      expect(figures.anomalies, "reads or returns that disagree with the model during the load").toEqual([]);
      expect(figures.finalMismatches, "final state differs from the model").toEqual([]);
      expect(figures.ops.modifyHot).toBeGreaterThan(0);
      expect(figures.ops.complete).toBeGreaterThan(0);
      expect(figures.ops.ephemeralInsert).toBeGreaterThan(0);
      expect(figures.ops.deleteByCorrelationId).toBeGreaterThan(0);
      expect(figures.expiredVerified).toBeGreaterThan(0);
      expect(figures.hotIncrementsAcked).toBeGreaterThan(0);
      expect(heapAtEnd, `heap at end ${MB(heapAtEnd)} MB vs ${MB(heapAfterWarmup)} MB after warm-up (${HEAP_METHOD})`).toBeLessThanOrEqual(heapAfterWarmup * (1 + HEAP_TOLERANCE));
    },
    SOAK_SECONDS * 1000 + 90_000,
  );
});
