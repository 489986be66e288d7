/**
 * A mixed fleet for test/upgrade-from-0.2.2.test.ts: instances of the REAL
 * @saga-bus/store-redis 0.2.2 (installed as `store-redis-0.2.2`, its
 * @saga-bus/core import resolving to test/fixtures/saga-bus-core) beside
 * instances of this store, all running the saga-bus update cycle on shared
 * sagas: load → +1 → update(state, loadedVersion), reload on a conflict.
 */
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { Redis } from "ioredis";
import { RedisSagaStore as Store022 } from "store-redis-0.2.2";
import { ConcurrencyError, RedisSagaStore, type RedisSagaStoreOptions, type SagaMetadata } from "../../src/index";

export const SAGA = "CounterSaga";
export const CREATED_AT = new Date("2026-01-02T03:04:05.678Z");

export interface Counter {
  count: number;
  lastWriter: string;
  metadata: SagaMetadata;
}

export const sagaIdOf = (i: number) => `saga-${i}`;
export const correlationIdOf = (i: number) => `order-${i}`;

/** A new saga as saga-bus creates it. */
export function newCounter(i: number): Counter {
  return {
    count: 0,
    lastWriter: "insert",
    metadata: { sagaId: sagaIdOf(i), version: 0, createdAt: CREATED_AT, updatedAt: CREATED_AT, isCompleted: false, traceParent: null, traceState: null },
  };
}

/** What 0.2.2's serializer makes of a state (its private serializeState, called as it calls it). */
export function serialize022(state: unknown): string {
  return (Store022.prototype as unknown as { serializeState(s: unknown): string }).serializeState.call({}, state);
}

/** 0.2.2's own read of stored text. */
export function deserialize022(text: string): Counter {
  return (Store022.prototype as unknown as { deserializeState(s: string): Counter }).deserializeState.call({}, text);
}

/** One caller's view of a store: what saga-bus calls. */
export interface Caller {
  label: string;
  kind: "0.2.2" | "ours";
  get(correlationId: string): Promise<Counter | null>;
  update(state: Counter, expectedVersion: number): Promise<void>;
}

export interface Fleet {
  callers: Caller[];
  stop(): Promise<void>;
}

/**
 * 0.2.2 instances. 0.2.2's WATCH belongs to a connection, so callers sharing
 * one connection lose each other's updates (0.2.2's own bug, fixed by this
 * store): each caller gets its own client, as each would in a process of its own.
 */
export async function open022(url: string, prefix: string, instances: number, callersEach: number): Promise<Fleet> {
  const clients: Redis[] = [];
  const callers: Caller[] = [];
  for (let i = 0; i < instances; i++) {
    for (let c = 0; c < callersEach; c++) {
      const redis = new Redis(url);
      clients.push(redis);
      const store = new Store022<any>({ redis, keyPrefix: prefix, retryDelayMs: 1 });
      await store.initialize();
      callers.push({
        label: `0.2.2#${i}.${c}`,
        kind: "0.2.2",
        get: (correlationId) => store.getByCorrelationId(SAGA, correlationId) as Promise<Counter | null>,
        update: (state, expectedVersion) => store.update(SAGA, state as any, expectedVersion),
      });
    }
  }
  return { callers, stop: () => Promise.all(clients.map((client) => client.quit())).then(() => undefined) };
}

/** Instances of this store: one connection each, shared by all its callers (safe: one atomic script per write). */
export async function openOurs(url: string, prefix: string, instances: number, callersEach: number, options: Partial<RedisSagaStoreOptions>): Promise<Fleet & { stores: RedisSagaStore[] }> {
  const clients: Redis[] = [];
  const stores: RedisSagaStore[] = [];
  const callers: Caller[] = [];
  for (let i = 0; i < instances; i++) {
    const redis = new Redis(url);
    clients.push(redis);
    const store = new RedisSagaStore({ retryDelayMs: 1, ...options, redis, keyPrefix: prefix });
    await store.initialize();
    stores.push(store);
    for (let c = 0; c < callersEach; c++) {
      callers.push({
        label: `ours(${options.writeFormat ?? "envelope"})#${i}.${c}`,
        kind: "ours",
        get: (correlationId) => store.getByCorrelationId(SAGA, correlationId) as Promise<Counter | null>,
        update: (state, expectedVersion) => store.update(SAGA, state, expectedVersion),
      });
    }
  }
  return {
    callers,
    stores,
    async stop() {
      await Promise.all(stores.map((store) => store.close()));
      await Promise.all(clients.map((client) => client.quit()));
    },
  };
}

/**
 * The ConcurrencyError class 0.2.2 really throws. 0.2.2 is loaded by Node
 * from node_modules while a test's own `import "@saga-bus/core"` goes through
 * Vite, so the two get separate module instances of the stand-in and their
 * classes differ: take the class from a conflict 0.2.2 raises itself (on a
 * stub client that holds version 1 while the caller expects 0).
 */
async function conflictClassOf022(): Promise<Function> {
  const stored = JSON.stringify({ metadata: { sagaId: "probe", version: 1, createdAt: CREATED_AT, updatedAt: CREATED_AT } });
  const stub = { get: async (key: string) => (key.includes(":idx:id:") ? "probe" : stored), watch: async () => "OK", unwatch: async () => "OK" };
  const store = new Store022<any>({ redis: stub as unknown as Redis });
  await store.initialize();
  const error = await store.update(SAGA, newCounter(0) as any, 0).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof Error) || error.name !== "ConcurrencyError") throw new Error(`0.2.2 did not raise a ConcurrencyError: ${String(error)}`);
  return error.constructor;
}
const conflict022 = await conflictClassOf022();

/** Either package's ConcurrencyError: 0.2.2's (core's) or ours. */
export function isConflict(error: unknown): boolean {
  return error instanceof conflict022 || error instanceof ConcurrencyError;
}

export interface LoadFigures {
  /** Acknowledged increments per correlation id. */
  acked: Map<string, number>;
  ackedByKind: Record<Caller["kind"], number>;
  conflictsByKind: Record<Caller["kind"], number>;
  /** Anything thrown that is not a conflict ("<caller>: <error>"); must stay empty. */
  failures: string[];
  ms: number;
}

/**
 * Every caller makes `perCaller` acknowledged increments, walking the sagas
 * from its own offset so neighbours collide; a conflict (either package's
 * ConcurrencyError) reloads and tries again.
 */
export async function runIncrements(callers: Caller[], correlationIds: string[], perCaller: number): Promise<LoadFigures> {
  const figures: LoadFigures = {
    acked: new Map(correlationIds.map((id) => [id, 0])),
    ackedByKind: { "0.2.2": 0, ours: 0 },
    conflictsByKind: { "0.2.2": 0, ours: 0 },
    failures: [],
    ms: 0,
  };
  const started = Date.now();
  await Promise.all(
    callers.map(async (caller, index) => {
      for (let i = 0; i < perCaller; i++) {
        const correlationId = correlationIds[(index + i) % correlationIds.length]!;
        for (let attempt = 0; ; attempt++) {
          try {
            const current = await caller.get(correlationId);
            if (!current) throw new Error(`saga ${correlationId} not found`);
            const loaded = current.metadata.version;
            // As saga-bus does: the handler's change, the next version, a fresh updatedAt.
            const next: Counter = {
              ...current,
              count: current.count + 1,
              lastWriter: caller.label,
              metadata: { ...current.metadata, version: loaded + 1, updatedAt: new Date() },
            };
            await caller.update(next, loaded);
            figures.acked.set(correlationId, figures.acked.get(correlationId)! + 1);
            figures.ackedByKind[caller.kind]++;
            break;
          } catch (error) {
            if (!isConflict(error) || attempt >= 2_000) {
              figures.failures.push(`${caller.label} on ${correlationId}: ${(error as Error)?.name}: ${(error as Error)?.message}`);
              return;
            }
            figures.conflictsByKind[caller.kind]++;
            await yieldToLoop();
          }
        }
      }
    }),
  );
  figures.ms = Date.now() - started;
  return figures;
}
