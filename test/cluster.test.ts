/**
 * The store on a real Redis Cluster: the shared 3-master, 3-replica
 * cluster of test/global-setup.ts, each store built as the seed README shows
 * (`new Cluster([...])`) with a default-style prefix, never a hash tag.
 *
 * - every operation works although a saga's value and index keys live in
 *   different slots, usually on different masters (no CROSSSLOT, no ioredis
 *   "same slots allocation group" error);
 * - 10,000 sagas of one saga type spread over all three masters (no master
 *   above 40%), counted where they really are (SCAN on each master) and
 *   checked against where Redis says their slots live (CLUSTER KEYSLOT +
 *   CLUSTER SLOTS);
 * - scanCorrelationIds finds all of them, across every master;
 * - `durability` writes succeed on the healthy cluster and are on the
 *   replica when acknowledged; asking for more replicas than exist is a
 *   typed ReplicationTimeoutError.
 *
 * Figures: always test/.figures/cluster.json; printed too when CLUSTER_REPORT=1.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ReplicationTimeoutError, RedisSagaStore, SagaStoreError, type RedisSagaStoreOptions, type SagaStore } from "../src/index";
import { indexKeyOf, sagaKeyPrefixOf, valueKeyOf } from "./support/key-layout";
import { clusterSlots } from "./support/redis-cluster";
import { clusterEngine, sagaBusState, uniquePrefix } from "./support/stores";

const SAGA = "ClusterSaga";
const SPLIT_SAGAS = 10_000;
const MAX_MASTER_SHARE = 0.4;
const FIGURES_FILE = join(dirname(fileURLToPath(import.meta.url)), ".figures", "cluster.json");

const engine = clusterEngine();
const figures: Record<string, unknown> = { at: new Date().toISOString() };
/** Prefixes whose keys this file wrote, removed in afterAll (the cluster may be REDIS_CLUSTER_NODES). */
const prefixesToClean = new Set<string>();
let admin: Cluster;

function saveFigures(): void {
  mkdirSync(dirname(FIGURES_FILE), { recursive: true });
  writeFileSync(FIGURES_FILE, JSON.stringify(figures, null, 2) + "\n");
  if (process.env.CLUSTER_REPORT) console.log(`[cluster] ${JSON.stringify(figures)}`);
}

const addressOf = (node: Redis) => `${node.options.host}:${node.options.port}`;

/** slot -> "host:port" of its master, and each master's replica addresses, from CLUSTER SLOTS. */
async function slotMap(): Promise<{ owner: string[]; replicasOf: Map<string, string[]>; slotsOf: Map<string, number> }> {
  const owner: string[] = new Array(16384);
  const replicasOf = new Map<string, string[]>();
  const slotsOf = new Map<string, number>();
  for (const { start, end, master, replicas } of await clusterSlots(admin)) {
    for (let slot = start; slot <= end; slot++) owner[slot] = master;
    replicasOf.set(master, [...(replicasOf.get(master) ?? []), ...replicas]);
    slotsOf.set(master, (slotsOf.get(master) ?? 0) + end - start + 1);
  }
  return { owner, replicasOf, slotsOf };
}

/** CLUSTER KEYSLOT of each key, asked of one node in one pipeline. */
async function keySlots(keys: string[]): Promise<number[]> {
  const [first] = admin.nodes("master");
  const node = new Redis({ host: first!.options.host, port: first!.options.port });
  try {
    const pipeline = node.pipeline();
    for (const key of keys) pipeline.cluster("KEYSLOT", key);
    const replies = (await pipeline.exec())!;
    return replies.map(([error, slot]) => {
      if (error) throw error;
      return slot as number;
    });
  } finally {
    node.disconnect();
  }
}

/** Every key under `match` on one master (SCAN; deduplicated). */
async function scanNode(node: Redis, match: string): Promise<Set<string>> {
  const keys = new Set<string>();
  let cursor = "0";
  do {
    const [next, batch] = await node.scan(cursor, "MATCH", match, "COUNT", 1000);
    for (const key of batch) keys.add(key);
    cursor = next;
  } while (cursor !== "0");
  return keys;
}

async function keysUnder(prefix: string): Promise<Map<string, Set<string>>> {
  const byMaster = new Map<string, Set<string>>();
  for (const node of admin.nodes("master")) byMaster.set(addressOf(node), await scanNode(node, `${prefix}*`));
  return byMaster;
}

async function open(options: Omit<RedisSagaStoreOptions, "redis" | "connection"> = {}): Promise<{ store: SagaStore; prefix: string; cluster: Cluster }> {
  const opened = await engine.open({ retryDelayMs: 5, ...options });
  prefixesToClean.add(opened.prefix);
  return { store: opened.store, prefix: opened.prefix, cluster: opened.cluster! };
}

/** Run `fn` over items with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

beforeAll(async () => {
  admin = new Cluster(inject("redisClusterNodes").map(({ host, port }) => ({ host, port })));
  await new Promise<void>((resolve, reject) => {
    admin.once("ready", resolve);
    admin.once("error", reject);
  });
});

afterAll(async () => {
  saveFigures();
  await engine.closeAll();
  for (const prefix of prefixesToClean) {
    for (const [, keys] of await keysUnder(prefix)) {
      const list = [...keys];
      for (let i = 0; i < list.length; i += 500) await Promise.all(list.slice(i, i + 500).map((key) => admin.unlink(key)));
    }
  }
  await admin.quit();
}, 60_000);

describe("Cluster: every operation with the default-style prefix", () => {
  it("the cluster has 3 masters, each with a replica, and the prefix carries no hash tag", async () => {
    const { prefix } = await open();
    expect(prefix).not.toMatch(/[{}]/);
    const { replicasOf } = await slotMap();
    expect(replicasOf.size).toBe(3);
    for (const replicas of replicasOf.values()) expect(replicas.length).toBeGreaterThanOrEqual(1);
  });

  it.each([
    ["no TTL", {}],
    ["defaultTtlSeconds + completedTtlSeconds (the index refresh and the write go to different slots in one round trip)", { defaultTtlSeconds: 3600, completedTtlSeconds: 600 }],
  ])("insert, findById, findByCorrelationId, update, save, modify, delete, deleteById on 60 sagas over every master (%s)", async (_label, ttl) => {
    const { store, prefix } = await open(ttl);
    const { owner } = await slotMap();
    const N = 60;
    // Random ids: CRC16 is affine, so ids sharing a pattern (saga-i / order-i) keep a fixed slot offset and
    // may, for some prefixes, land value and index on the same master almost every time.
    const ids = Array.from({ length: N }, () => ({ sagaId: `saga-${randomUUID()}`, correlationId: `order-${randomUUID()}` }));
    const valueKey = (c: string) => valueKeyOf(prefix, SAGA, c);
    const indexKey = (s: string) => indexKeyOf(prefix, SAGA, s);

    // The premise: values on every master, and most sagas with value and index on different masters.
    const slots = await keySlots(ids.flatMap(({ sagaId, correlationId }) => [valueKey(correlationId), indexKey(sagaId)]));
    const valueMasters = new Set(ids.map((_, i) => owner[slots[2 * i]!]));
    const splitSagas = ids.filter((_, i) => owner[slots[2 * i]!] !== owner[slots[2 * i + 1]!]).length;
    expect(valueMasters.size).toBe(3);
    expect(splitSagas).toBeGreaterThan(N / 3);

    // insert + reads
    for (const { sagaId, correlationId } of ids) await store.insert(SAGA, correlationId, sagaBusState(sagaId, { n: 0, correlationId }));
    for (const { sagaId, correlationId } of ids) {
      const byId = await store.findById(SAGA, sagaId);
      const byCorrelation = await store.findByCorrelationId(SAGA, correlationId);
      expect(byId?.n).toBe(0);
      expect(byId?.metadata.version).toBe(0);
      expect(byCorrelation).toEqual(byId);
      expect(await store.getById(SAGA, sagaId)).toEqual(byId);
      expect(await store.getByCorrelationId(SAGA, correlationId)).toEqual(byId);
    }

    // update, save, modify: version 0 -> 1 -> 2 -> 3
    for (const { sagaId } of ids) {
      const loaded = (await store.findById(SAGA, sagaId))!;
      await store.update(SAGA, { ...loaded, n: 1 }, 0);
      const saved = await store.save(SAGA, { ...(await store.findById(SAGA, sagaId))!, n: 2 });
      expect(saved.metadata.version).toBe(2);
    }
    await Promise.all(ids.map(({ correlationId }) => store.modify(SAGA, correlationId, (s) => ({ ...s, n: s.n + 1 }))));

    // A second store (its own client, no cache) finds every saga through the index.
    const { store: fresh } = await open({ ...ttl, keyPrefix: prefix });
    for (const { sagaId, correlationId } of ids) {
      const state = await fresh.findById(SAGA, sagaId);
      expect(state).toMatchObject({ n: 3, correlationId, metadata: { sagaId, version: 3 } });
    }

    // The seed shape: save without a version creates.
    const seed = await store.save(SAGA, { id: "seed-1", correlationId: "seed-order-1", status: "running", data: {}, metadata: {} });
    expect((await fresh.findById(SAGA, "seed-1"))?.correlationId).toBe("seed-order-1");
    await store.save(SAGA, { ...seed, status: "completed" });
    expect((await fresh.findByCorrelationId(SAGA, "seed-order-1"))?.status).toBe("completed");

    // delete by correlation id for half, deleteById for the other half
    for (const [i, { sagaId, correlationId }] of ids.entries()) {
      if (i % 2 === 0) await store.delete(SAGA, correlationId);
      else expect(await store.deleteById(SAGA, sagaId)).toBe(true);
      expect(await fresh.findById(SAGA, sagaId)).toBeNull();
      expect(await fresh.findByCorrelationId(SAGA, correlationId)).toBeNull();
    }
    expect(await store.deleteById(SAGA, "seed-1")).toBe(true);

    // Nothing is left on any master: every value and index key went.
    const left = [...(await keysUnder(prefix)).values()].flatMap((keys) => [...keys]);
    expect(left).toEqual([]);
  });

  it("errors stay typed on the Cluster: a duplicate insert is SAGA_ALREADY_EXISTS, a stale update SAGA_CONFLICT", async () => {
    const { store } = await open();
    await store.insert(SAGA, "dup", sagaBusState("dup-1"));
    const duplicate = await store.insert(SAGA, "dup", sagaBusState("dup-2")).catch((error) => error);
    expect(duplicate).toBeInstanceOf(SagaStoreError);
    expect(duplicate.code).toBe("SAGA_ALREADY_EXISTS");
    expect(await store.findById(SAGA, "dup-2")).toBeNull();
    const loaded = (await store.findById(SAGA, "dup-1"))!;
    await store.update(SAGA, loaded, 0);
    const stale = await store.update(SAGA, loaded, 0).catch((error) => error);
    expect(stale).toBeInstanceOf(SagaStoreError);
    expect(stale.code).toBe("SAGA_CONFLICT");
  });
});

describe(`Cluster: ${SPLIT_SAGAS.toLocaleString("en")} sagas of one saga type`, () => {
  let store: SagaStore;
  let prefix: string;
  const correlationIds = Array.from({ length: SPLIT_SAGAS }, (_, i) => `order-${i.toString().padStart(5, "0")}`);

  beforeAll(async () => {
    ({ store, prefix } = await open());
    const started = performance.now();
    await pool(correlationIds, 200, async (correlationId) => {
      await store.insert(SAGA, correlationId, sagaBusState(`saga-${correlationId}`, { correlationId }));
    });
    figures.split = { sagas: SPLIT_SAGAS, insertMs: Math.round(performance.now() - started) };
  }, 60_000);

  it(`spread over all three masters, none above ${MAX_MASTER_SHARE * 100}% (counted per master, checked against CLUSTER KEYSLOT/SLOTS)`, async () => {
    const valuePrefix = sagaKeyPrefixOf(prefix, SAGA);
    const perMaster = await keysUnder(valuePrefix);
    const { owner, slotsOf } = await slotMap();
    const expected = new Map<string, number>();
    for (const slot of await keySlots(correlationIds.map((c) => valuePrefix + c))) expected.set(owner[slot]!, (expected.get(owner[slot]!) ?? 0) + 1);

    const masters = [...perMaster.entries()].map(([address, keys]) => {
      const values = [...keys].filter((key) => !key.startsWith(`${valuePrefix}idx:`)).length;
      return {
        master: address,
        slots: slotsOf.get(address) ?? 0,
        sagas: values,
        expectedFromSlots: expected.get(address) ?? 0,
        indexKeys: keys.size - values,
        share: Number((values / SPLIT_SAGAS).toFixed(4)),
      };
    });
    // DBSIZE is informational: the shared cluster also holds other tests' keys.
    const dbsize = Object.fromEntries(await Promise.all(admin.nodes("master").map(async (node) => [addressOf(node), await node.dbsize()] as const)));
    figures.split = { ...(figures.split as object), masters, dbsize };
    saveFigures();

    expect(masters).toHaveLength(3);
    expect(masters.reduce((sum, m) => sum + m.sagas, 0)).toBe(SPLIT_SAGAS);
    expect(masters.reduce((sum, m) => sum + m.indexKeys, 0)).toBe(SPLIT_SAGAS);
    for (const master of masters) {
      expect(master.sagas, `sagas on ${master.master}`).toBe(master.expectedFromSlots);
      expect(master.sagas).toBeGreaterThan(0);
      expect(master.share, `share of ${master.master}`).toBeLessThanOrEqual(MAX_MASTER_SHARE);
    }
  });

  it("scanCorrelationIds yields every one of them, from every master", async () => {
    const started = performance.now();
    const seen = new Set<string>();
    let yielded = 0;
    for await (const correlationId of store.scanCorrelationIds(SAGA)) {
      seen.add(correlationId);
      yielded++;
    }
    figures.scan = { yielded, unique: seen.size, ms: Math.round(performance.now() - started) };
    saveFigures();
    expect(seen.size).toBe(SPLIT_SAGAS);
    expect([...seen].sort()).toEqual(correlationIds);
    expect(yielded).toBeGreaterThanOrEqual(SPLIT_SAGAS);
  });
});

describe("Cluster: durability (WAIT in the write's pipeline)", () => {
  it("durability { replicas: 1, timeoutMs: 500 }: every write succeeds, and each acknowledged value is already on its master's replica", async () => {
    const { store, prefix } = await open({ durability: { replicas: 1, timeoutMs: 500 } });
    const { owner, replicasOf } = await slotMap();
    const replicaClients = new Map<string, Redis>();
    const onReplica = async (key: string): Promise<Buffer | null> => {
      const [slot] = await keySlots([key]);
      const replica = replicasOf.get(owner[slot!]!)![0]!;
      let client = replicaClients.get(replica);
      if (!client) {
        const [host, port] = replica.split(":");
        client = new Redis({ host: host!, port: Number(port) });
        await client.readonly();
        replicaClients.set(replica, client);
      }
      return client.getBuffer(key);
    };
    const valueKey = (c: string) => valueKeyOf(prefix, SAGA, c);
    const indexKey = (s: string) => indexKeyOf(prefix, SAGA, s);
    const writeMs: number[] = [];
    const timed = async <T>(run: () => Promise<T>): Promise<T> => {
      const started = performance.now();
      const result = await run();
      writeMs.push(performance.now() - started);
      return result;
    };
    try {
      const ids = Array.from({ length: 30 }, (_, i) => ({ sagaId: `durable-${i}`, correlationId: `durable-order-${i}` }));
      for (const { sagaId, correlationId } of ids) {
        await timed(() => store.insert(SAGA, correlationId, sagaBusState(sagaId, { n: 0 })));
        expect(await onReplica(indexKey(sagaId))).toEqual(Buffer.from(correlationId));
        expect(await onReplica(valueKey(correlationId))).toEqual(await admin.getBuffer(valueKey(correlationId)));

        const loaded = (await store.findById(SAGA, sagaId))!;
        await timed(() => store.update(SAGA, { ...loaded, n: 1 }, 0));
        await timed(async () => store.save(SAGA, { ...(await store.findById(SAGA, sagaId))!, n: 2 }));
        const modified = await timed(() => store.modify(SAGA, correlationId, (s) => ({ ...s, n: s.n + 1 })));
        expect(modified.metadata.version).toBe(3);
        const stored = await admin.getBuffer(valueKey(correlationId));
        expect(stored!.readUInt32BE(8)).toBe(3);
        expect(await onReplica(valueKey(correlationId))).toEqual(stored);
      }
      for (const [i, { sagaId, correlationId }] of ids.entries()) {
        if (i % 2 === 0) await timed(() => store.delete(SAGA, correlationId));
        else expect(await timed(() => store.deleteById(SAGA, sagaId))).toBe(true);
        expect(await onReplica(valueKey(correlationId))).toBeNull();
        expect(await onReplica(indexKey(sagaId))).toBeNull();
      }
      writeMs.sort((a, b) => a - b);
      figures.durability = {
        replicas: 1,
        timeoutMs: 500,
        operations: writeMs.length,
        p50Ms: Number(writeMs[Math.floor(writeMs.length / 2)]!.toFixed(2)),
        p99Ms: Number(writeMs[Math.floor(writeMs.length * 0.99)]!.toFixed(2)),
      };
      saveFigures();
    } finally {
      await Promise.all([...replicaClients.values()].map((client) => client.quit()));
    }
  });

  it("durability { replicas: 2 } on masters with one replica: the write is applied but rejected with a typed WRITE_NOT_REPLICATED", async () => {
    const { store, prefix } = await open({ durability: { replicas: 2, timeoutMs: 100 }, maxRetries: 0 });
    const started = performance.now();
    const error = await store.insert(SAGA, "under-replicated", sagaBusState("under-replicated-1")).catch((e) => e);
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(ReplicationTimeoutError);
    expect(error.code).toBe("WRITE_NOT_REPLICATED");
    expect(error.replicasRequired).toBe(2);
    expect(error.replicasAcknowledged).toBe(1);
    expect(elapsed).toBeGreaterThanOrEqual(90);
    // Applied on the primary (and its one replica), as the error says.
    expect(await admin.exists(valueKeyOf(prefix, SAGA, "under-replicated"))).toBe(1);
  });
});

// A cluster store that is closed and reopened on the same client keeps working (no re-initialisation of the client).
describe("Cluster: store lifecycle on a client it does not own", () => {
  it("close() leaves the Cluster client open; a new store on it works at once", async () => {
    const cluster = new Cluster(inject("redisClusterNodes").map(({ host, port }) => ({ host, port })));
    const prefix = uniquePrefix();
    prefixesToClean.add(prefix);
    try {
      const first = new RedisSagaStore({ redis: cluster, keyPrefix: prefix });
      await first.initialize();
      await first.insert(SAGA, "life-1", sagaBusState("life-1"));
      await first.close();
      expect(cluster.status).toBe("ready");
      const second = new RedisSagaStore({ redis: cluster, keyPrefix: prefix });
      await second.initialize();
      expect((await second.findById(SAGA, "life-1"))?.metadata.sagaId).toBe("life-1");
      await second.close();
    } finally {
      await cluster.quit();
    }
  });
});
