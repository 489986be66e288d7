/**
 * Planted mixed data for the operator API's tests: one saga type holding
 * values at schema versions 1, 2 and 3, in every codec, compressed, as 0.2.2
 * plain JSON, undecodable, with and without TTL, completed, and indexes that
 * are orphaned, stale, missing or pointing elsewhere. Each kind is written
 * the way it arises (a store of that version and options), except the
 * damage, which is planted with raw commands. `EXPECTED` is counted from the
 * plan, never from the store.
 */
import { Cluster, Redis } from "ioredis";
import { inject } from "vitest";
import { z } from "zod";
import { MemoryEngine, RedisSagaStore, SagaStore, createSagaRegistry, defineSaga, type SagaStoreOptions } from "../../src/index";
import { indexKeyOf, valueKeyOf } from "./key-layout";
import { uniquePrefix } from "./stores";

export const SAGA = "Order";

const V1 = z.object({ status: z.string() });
const V2 = z.object({ status: z.string(), amount: z.number() });
const V3 = z.object({ status: z.string(), amount: z.number(), currency: z.string() });

const upTo1 = defineSaga(SAGA, V1);
const upTo2 = upTo1.version(2, V2, { upgrade: (v1) => ({ ...v1, amount: 0 }), downgrade: ({ amount: _amount, ...v1 }) => v1 });
const upTo3 = upTo2.version(3, V3, { upgrade: (v2) => ({ ...v2, currency: "EUR" }), downgrade: ({ currency: _currency, ...v2 }) => v2 });

/** What each fleet generation knows: v1 only; v1..v2; v1..v3. */
export const registries = {
  v1: createSagaRegistry([upTo1]),
  v2: createSagaRegistry([upTo2]),
  v3: createSagaRegistry([upTo3]),
  /** Knows v3 but writes v2: phase 1 of a two-phase rollout. */
  v3WritingV2: createSagaRegistry([upTo3.writeVersion(2)]),
};

/** A backend several stores (of different versions and options) share, with raw access for planting. */
export interface Backend {
  name: "memory" | "redis" | "cluster";
  prefix: string;
  store(options?: SagaStoreOptions): Promise<SagaStore>;
  getRaw(key: string): Promise<Buffer | null>;
  setRaw(key: string, bytes: Buffer | string): Promise<void>;
  del(key: string): Promise<void>;
  pttl(key: string): Promise<number>;
  close(): Promise<void>;
}

export async function openBackend(name: Backend["name"]): Promise<Backend> {
  const prefix = uniquePrefix();
  const stores: SagaStore[] = [];
  const track = async (store: SagaStore) => {
    stores.push(store);
    await store.initialize();
    return store;
  };
  if (name === "memory") {
    const engine = new MemoryEngine();
    return {
      name,
      prefix,
      store: (options = {}) => track(new SagaStore({ ...options, keyPrefix: prefix }, () => engine)),
      getRaw: async (key) => (await engine.readEntries([key]))[0]!.bytes,
      setRaw: async (key, bytes) => engine.plant(key, bytes),
      del: async (key) => engine.deleteStartingWith(key),
      pttl: async (key) => (await engine.readEntries([key]))[0]!.ttlMs,
      close: async () => undefined,
    };
  }
  const client: Redis | Cluster =
    name === "redis" ? new Redis(inject("redisUrl")) : new Cluster(inject("redisClusterNodes").map(({ host, port }) => ({ host, port })));
  return {
    name,
    prefix,
    store: (options = {}) => track(new RedisSagaStore({ ...options, redis: client, keyPrefix: prefix })),
    getRaw: (key) => client.getBuffer(key),
    setRaw: async (key, bytes) => {
      await client.set(key, bytes);
    },
    del: async (key) => {
      await client.del(key);
    },
    pttl: (key) => client.pttl(key),
    close: async () => {
      await Promise.all(stores.map((store) => store.close()));
      await client.quit().catch(() => client.disconnect());
    },
  };
}

const at = new Date("2026-01-02T03:04:05.678Z");
const later = new Date("2026-06-01T00:00:00.000Z");

function state(sagaId: string, fields: Record<string, unknown>, completed = false, updatedAt = at) {
  return { ...fields, metadata: { sagaId, version: 0, createdAt: at, updatedAt, isCompleted: completed } };
}

/** The counts `stats` must report for the planted data. */
export const EXPECTED = {
  count: 20,
  // v1: 4 + 2 plain (read as legacySchemaVersion 1) + the corrupt envelope's header; the garbage has no version.
  bySchemaVersion: { "1": 7, "2": 4, "3": 8 },
  byCodec: { json: 13, msgpack: 3, superjson: 3, unknown: 1 },
  byFormat: { envelope: 17, "0.2.2": 2, unknown: 1 },
  compressed: 1,
  withTtl: 2,
  withoutTtl: 18,
  completed: 4,
  undecodable: 2,
  // The orphan, the stale one, and the index of the value whose index points elsewhere (at no value).
  index: { withoutValue: 3, missing: 1, elsewhere: 1 },
  /** Values migrateAll to v3 rewrites: the decodable ones below v3. */
  belowV3: 10,
  atV3: 8,
};

/** Correlation ids of the planted kinds, for tests that look at one. */
export const PLANTED = {
  v1: ["v1-0", "v1-1", "v1-2", "v1-3"],
  legacy: ["legacy-0", "legacy-1"],
  v2msgpack: ["v2-0", "v2-1", "v2-2"],
  v2ttl: "v2-ttl",
  v3superjson: ["v3-sj-0", "v3-sj-1", "v3-sj-2"],
  v3json: ["v3-0", "v3-1"],
  v3compressed: "v3-big",
  indexMissing: "v3-no-index",
  indexElsewhere: "v3-index-elsewhere",
  corruptEnvelope: "broken-envelope",
  garbage: "garbage",
  orphanIndexSagaId: "ghost",
  staleIndexSagaId: "stale",
  /** Completed and last saved before LATER. */
  completedEarly: ["v1-0", "v2-0", "v3-0"],
  /** Completed, saved at LATER. */
  completedLate: ["v3-1"],
  later,
};

/** Plant the mixed data on `backend`; returns the stores used, for tests that write more. */
export async function plantMixedData(backend: Backend): Promise<void> {
  const v1 = await backend.store({ registry: registries.v1 });
  const legacy = await backend.store({ registry: registries.v1, writeFormat: "0.2.2" });
  const v2msgpack = await backend.store({ registry: registries.v2, codec: "msgpack" });
  const v2ttl = await backend.store({ registry: registries.v2, defaultTtlSeconds: 3600 });
  const v3superjson = await backend.store({ registry: registries.v3, codec: "superjson" });
  const v3 = await backend.store({ registry: registries.v3, compressAboveBytes: 1024, completedTtlSeconds: 0 });

  // 4 at v1, json; v1-0 completed early.
  for (const [i, id] of PLANTED.v1.entries()) await v1.insert(SAGA, id, state(`s-${id}`, { status: "new" }, i === 0));
  // 2 as 0.2.2 plain JSON (read as v1).
  for (const id of PLANTED.legacy) await legacy.insert(SAGA, id, state(`s-${id}`, { status: "new" }));
  // 3 at v2, msgpack; v2-0 completed early.
  for (const [i, id] of PLANTED.v2msgpack.entries()) await v2msgpack.insert(SAGA, id, state(`s-${id}`, { status: "new", amount: i }, i === 0));
  // 1 at v2, json, with a TTL.
  await v2ttl.insert(SAGA, PLANTED.v2ttl, state(`s-${PLANTED.v2ttl}`, { status: "new", amount: 5 }));
  // 3 at v3, superjson; one with a TTL written by a store that sets one.
  for (const id of PLANTED.v3superjson) await v3superjson.insert(SAGA, id, state(`s-${id}`, { status: "new", amount: 1, currency: "USD" }));
  const v3ttl = await backend.store({ registry: registries.v3, codec: "superjson", defaultTtlSeconds: 3600 });
  await v3ttl.update(SAGA, { ...(await v3ttl.getByCorrelationId(SAGA, PLANTED.v3superjson[0]!))! }, 0);
  // 2 at v3, json: v3-0 completed early, v3-1 completed late.
  await v3.insert(SAGA, "v3-0", state("s-v3-0", { status: "done", amount: 2, currency: "EUR" }, true));
  await v3.insert(SAGA, "v3-1", state("s-v3-1", { status: "done", amount: 3, currency: "EUR" }, true, later));
  // 1 at v3, compressed (a long status).
  await v3.insert(SAGA, PLANTED.v3compressed, state(`s-${PLANTED.v3compressed}`, { status: "x".repeat(5000), amount: 4, currency: "EUR" }));
  // 1 at v3 whose index is gone; 1 at v3 whose index points at another correlation id.
  await v3.insert(SAGA, PLANTED.indexMissing, state(`s-${PLANTED.indexMissing}`, { status: "new", amount: 0, currency: "EUR" }));
  await backend.del(indexKeyOf(backend.prefix, SAGA, `s-${PLANTED.indexMissing}`));
  await v3.insert(SAGA, PLANTED.indexElsewhere, state(`s-${PLANTED.indexElsewhere}`, { status: "new", amount: 0, currency: "EUR" }));
  await backend.setRaw(indexKeyOf(backend.prefix, SAGA, `s-${PLANTED.indexElsewhere}`), "somewhere-else");
  // Undecodable: an envelope (json, v1) whose payload is not JSON, and bytes that are neither envelope nor JSON.
  const corrupt = Buffer.alloc(28 + 7);
  corrupt.set([0xfe, 1, 1, 0]);
  corrupt.writeUInt32BE(1, 4);
  corrupt.write("{broken", 28);
  await backend.setRaw(valueKeyOf(backend.prefix, SAGA, PLANTED.corruptEnvelope), corrupt);
  await backend.setRaw(valueKeyOf(backend.prefix, SAGA, PLANTED.garbage), Buffer.from([0x00, 0x01, 0x02, 0x03]));
  // An orphan index (no value), and a stale one (its correlation id holds another saga).
  await backend.setRaw(indexKeyOf(backend.prefix, SAGA, PLANTED.orphanIndexSagaId), "nobody-here");
  await backend.setRaw(indexKeyOf(backend.prefix, SAGA, PLANTED.staleIndexSagaId), "v1-1");
}
