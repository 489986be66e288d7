/**
 * A Cluster keeps a saga's value and its index on different nodes. Here the
 * index's node is SIGKILLed while completing saves move sagas from a 6 s TTL
 * to an hour, then restarted from its append-only file. Every save that was
 * reported failed left the value as it was (or said it may have been
 * applied), the failed ones are retried as saga-bus would (reload, save),
 * and afterwards, past the 6 s the indexes had before, every saga is still
 * found by its id: its index lives as long as its value.
 *
 * Figures: test/.figures/faults.json, key "cluster.indexNodeRestart".
 */
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisSagaStore, SagaStoreError } from "../../src/index";
import { sleep } from "../support/load";
import { indexKeyOf, valueKeyOf } from "../support/key-layout";
import { clusterSlots, spawnTestCluster, type TestCluster } from "../support/redis-cluster";
import { sagaBusState, uniquePrefix } from "../support/stores";
import { recordFigures } from "./figures";

const SAGA = "IndexNodeRestart";
const SAGAS = 24;
const DEFAULT_TTL_SECONDS = 6;
const COMPLETED_TTL_SECONDS = 3600;
/** Codes that say a write may have been applied; every other failure must have left the value as it was. */
const MAYBE_APPLIED = new Set(["WRITE_OUTCOME_UNKNOWN", "WRITE_NOT_REPLICATED"]);

let cluster: TestCluster;
beforeAll(async () => {
  // A node timeout far longer than the outage: the killed master is restarted, not failed over.
  cluster = await spawnTestCluster({ appendOnly: true, nodeTimeoutMs: 30_000 });
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

/** Saga ids whose index lives on `victim` while their value (correlation id) lives on another master. */
async function idsAcrossNodes(prefix: string): Promise<{ victim: string; ids: Array<{ correlationId: string; sagaId: string }> }> {
  const admin = new Redis({ ...cluster.nodes[0]! });
  try {
    const ranges = await clusterSlots(admin);
    const ownerOf = async (key: string) => {
      const slot = (await admin.cluster("KEYSLOT", key)) as number;
      return ranges.find(({ start, end }) => slot >= start && slot <= end)!.master;
    };
    const victim = ranges[0]!.master;
    const ids: Array<{ correlationId: string; sagaId: string }> = [];
    for (let i = 0; ids.length < SAGAS && i < 10_000; i++) {
      const correlationId = `order-${i}`;
      const sagaId = `saga-${i}`;
      if ((await ownerOf(indexKeyOf(prefix, SAGA, sagaId))) === victim && (await ownerOf(valueKeyOf(prefix, SAGA, correlationId))) !== victim) {
        ids.push({ correlationId, sagaId });
      }
    }
    return { victim, ids };
  } finally {
    await admin.quit();
  }
}

describe("Cluster: the index's node killed during completing saves, restarted from AOF", () => {
  it(`${SAGAS} sagas, ${DEFAULT_TTL_SECONDS} s → ${COMPLETED_TTL_SECONDS} s: reported failures applied nothing; after the restart every saga is found by id past its old expiry`, async () => {
    const prefix = uniquePrefix();
    const { victim, ids } = await idsAcrossNodes(prefix);
    const client = new Cluster(cluster.nodes.map(({ host, port }) => ({ host, port })));
    // Only to keep the output readable: ioredis reports every refused reconnect to the killed node.
    client.on("+node", (node: Redis) => node.on("error", () => {}));
    const store = new RedisSagaStore({
      redis: client,
      keyPrefix: prefix,
      defaultTtlSeconds: DEFAULT_TTL_SECONDS,
      completedTtlSeconds: COMPLETED_TTL_SECONDS,
      operationTimeoutMs: 1_000,
      maxRetries: 2,
      retryDelayMs: 50,
    });
    try {
      for (const { correlationId, sagaId } of ids) await store.insert(SAGA, correlationId, sagaBusState(sagaId, { step: "open" }));
      const complete = async (correlationId: string) => {
        const loaded = (await store.getByCorrelationId(SAGA, correlationId))!;
        if (loaded.metadata.isCompleted) return;
        const version = loaded.metadata.version;
        await store.update(SAGA, { ...loaded, step: "done", metadata: { ...loaded.metadata, version: version + 1, isCompleted: true } }, version);
      };

      const failures: Record<string, number> = {};
      let appliedDespiteFailure = 0;
      const failed: string[] = [];
      const killedAt = performance.now() + 60;
      const kill = sleep(60).then(() => cluster.killNode(Number(victim.split(":")[1])));
      await Promise.all(
        ids.map(async ({ correlationId }, i) => {
          await sleep(i * 10);
          try {
            await complete(correlationId);
          } catch (error) {
            const code = error instanceof SagaStoreError ? error.code : String(error);
            failures[code] = (failures[code] ?? 0) + 1;
            failed.push(correlationId);
            if (!MAYBE_APPLIED.has(code) && (await store.getByCorrelationId(SAGA, correlationId))!.metadata.version !== 0) appliedDespiteFailure++;
          }
        }),
      );
      await kill;
      const downMs = performance.now() - killedAt;
      await cluster.restartNode(Number(victim.split(":")[1]));
      const restartedAt = performance.now();
      // As saga-bus would on redelivery: reload, save again, until it goes through.
      for (const correlationId of failed) {
        for (let attempt = 0; ; attempt++) {
          try {
            await complete(correlationId);
            break;
          } catch (error) {
            if (attempt >= 50) throw error;
            await sleep(100);
          }
        }
      }
      const retriedMs = performance.now() - restartedAt;
      await sleep(DEFAULT_TTL_SECONDS * 1000 + 500);

      // A fresh store, as another instance would be: none of the id → correlation id mappings cached.
      const reader = new RedisSagaStore({ redis: client, keyPrefix: prefix });
      let foundById = 0;
      let indexShorterThanValue = 0;
      for (const { correlationId, sagaId } of ids) {
        const state = await reader.findById(SAGA, sagaId);
        if (state?.metadata.isCompleted && state.metadata.sagaId === sagaId) foundById++;
        const [value, index] = await Promise.all([
          client.call("PEXPIRETIME", valueKeyOf(prefix, SAGA, correlationId)),
          client.call("PEXPIRETIME", indexKeyOf(prefix, SAGA, sagaId)),
        ]);
        if ((index as number) < (value as number)) indexShorterThanValue++;
      }
      recordFigures("cluster.indexNodeRestart", {
        description: `Cluster, appendonly: the index's node SIGKILLed during completing saves (${DEFAULT_TTL_SECONDS} s → ${COMPLETED_TTL_SECONDS} s TTL), restarted from AOF; failed saves retried; then findById from a fresh store past the old TTL`,
        sagas: ids.length, failures, failed: failed.length, appliedDespiteFailure, downMs, retriedMs, foundById, indexShorterThanValue });

      expect(failed.length).toBeGreaterThan(0);
      expect(appliedDespiteFailure).toBe(0);
      expect(indexShorterThanValue).toBe(0);
      expect(foundById).toBe(ids.length);
    } finally {
      await store.close();
      client.disconnect();
    }
  }, 90_000);
});
