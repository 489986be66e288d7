/**
 * Memory limit. A redis-server of this test's own with
 * `--maxmemory 4mb --maxmemory-policy noeviction`; 16 async workers insert
 * ~6 KB sagas (and modify their own earlier ones) until Redis refuses writes
 * mid-load. A model records, per correlation id, the state last
 * acknowledged (or that the insert was never acknowledged).
 *
 * Asserted: writes fail only with RedisOutOfMemoryError (REDIS_OUT_OF_MEMORY)
 * naming the saga's value or index key; while Redis is still full, every
 * read works and returns exactly the acknowledged state (findByCorrelationId
 * and findById), null for every never-acknowledged insert, including one
 * whose index SET landed before its value was refused (an index without a
 * value is harmless); a refused modify leaves the previous state. After
 * `CONFIG SET maxmemory 0` writes work again, including re-inserting a
 * refused saga.
 *
 * Figures: test/.figures/faults.json, key "memory".
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { RedisOutOfMemoryError, RedisSagaStore, type AnySagaState } from "../../src/index";
import { indexKeyOf, valueKeyOf } from "../support/key-layout";
import { addCount, describeError } from "../support/load";
import { spawnRedisServer } from "../support/redis-server";
import { sagaBusState, uniquePrefix } from "../support/stores";
import { recordFigures } from "./figures";

const SAGA = "Mem";
const MAXMEMORY = "4mb";
const WORKERS = 16;
/** Hex blob per saga: 6 000 bytes of JSON, below the 16 KiB compression threshold, so every saga really costs memory. */
const BLOB_BYTES = 3_000;
/** A worker stops after this many refused writes, or these many operations, or at the deadline. */
const OOM_PER_WORKER = 50;
const OPS_PER_WORKER = 400;
const LOAD_DEADLINE_MS = 15_000;

interface Saga {
  correlationId: string;
  sagaId: string;
  blob: string;
  /** Acknowledged insert; false = the insert was refused (never acknowledged). */
  acked: boolean;
  /** Counter of the last acknowledged state (version equals counter). */
  counter: number;
  /** The key the REDIS_OUT_OF_MEMORY error of a refused insert named. */
  refusedOn?: string;
}

describe(`maxmemory ${MAXMEMORY}, noeviction, reached mid-load`, () => {
  it("writes refused with REDIS_OUT_OF_MEMORY naming the key; reads exact while full; nothing half-written decodes; writes resume after raising the limit", async () => {
    const server = await spawnRedisServer(["--maxmemory", MAXMEMORY, "--maxmemory-policy", "noeviction"]);
    const client = new Redis(server.url);
    client.on("error", () => {});
    const admin = new Redis(server.url);
    const prefix = uniquePrefix();
    const valueKey = (correlationId: string) => valueKeyOf(prefix, SAGA, correlationId);
    const indexKey = (sagaId: string) => indexKeyOf(prefix, SAGA, sagaId);
    const store = new RedisSagaStore({ redis: client, keyPrefix: prefix });
    try {
      await store.initialize();
      const sagas: Saga[] = [];
      const oomByOperation: Record<string, number> = {};
      const oomKeysWrong: string[] = [];
      const unexpected: string[] = [];
      let insertsAcked = 0;
      let modifiesAcked = 0;
      let ackedBeforeFirstOom: number | undefined;
      const started = performance.now();
      const deadline = Date.now() + LOAD_DEADLINE_MS;

      const worker = async (w: number) => {
        const mine: Saga[] = [];
        let oom = 0;
        for (let op = 0; op < OPS_PER_WORKER && oom < OOM_PER_WORKER && Date.now() < deadline; op++) {
          const doModify = mine.some((s) => s.acked) && op % 4 === 3;
          const saga: Saga = doModify
            ? mine.filter((s) => s.acked)[op % mine.filter((s) => s.acked).length]!
            : { correlationId: `w${w}-${op}`, sagaId: `s-w${w}-${op}`, blob: randomBytes(BLOB_BYTES).toString("hex"), acked: false, counter: 0 };
          if (!doModify) {
            mine.push(saga);
            sagas.push(saga);
          }
          try {
            if (doModify) {
              const saved = await store.modify(SAGA, saga.correlationId, (state: AnySagaState) => ({ ...state, counter: (state.counter as number) + 1 }));
              saga.counter = saved.counter as number;
              modifiesAcked++;
            } else {
              await store.insert(SAGA, saga.correlationId, sagaBusState(saga.sagaId, { counter: 0, blob: saga.blob }));
              saga.acked = true;
              insertsAcked++;
            }
          } catch (error) {
            if (!(error instanceof RedisOutOfMemoryError)) {
              unexpected.push(`${doModify ? "modify" : "insert"} ${saga.correlationId}: ${describeError(error)}`);
              continue;
            }
            oom++;
            ackedBeforeFirstOom ??= insertsAcked + modifiesAcked;
            addCount(oomByOperation, doModify ? "modify" : "insert");
            if (!doModify) saga.refusedOn = error.key === indexKey(saga.sagaId) ? "index SET" : "value write";
            const named = error.key === valueKey(saga.correlationId) || error.key === indexKey(saga.sagaId);
            if (error.code !== "REDIS_OUT_OF_MEMORY" || !named || !/\bOOM\b/.test((error.cause as Error)?.message ?? "")) {
              oomKeysWrong.push(`${saga.correlationId}: code ${error.code}, key ${error.key}, cause ${(error.cause as Error)?.message}`);
            }
          }
        }
      };
      await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
      const loadMs = Math.round(performance.now() - started);

      const memory = (await admin.info("memory")) as string;
      const usedMemory = Number(memory.match(/^used_memory:(\d+)/m)?.[1]);
      const maxmemory = Number(memory.match(/^maxmemory:(\d+)/m)?.[1]);

      // Still full: a new write is refused...
      const stillFull = await store
        .insert(SAGA, "probe-full", sagaBusState("s-probe-full", { counter: 0, blob: randomBytes(BLOB_BYTES).toString("hex") }))
        .then(
          () => "accepted",
          (error: unknown) => (error instanceof RedisOutOfMemoryError ? "REDIS_OUT_OF_MEMORY" : describeError(error)),
        );

      // ...and every read works and is exact, on the loaded store (its id cache warm) and on a fresh one (as another process).
      const fresh = new RedisSagaStore({ redis: admin, keyPrefix: prefix });
      await fresh.initialize();
      const readProblems: string[] = [];
      let readsWhileFull = 0;
      const project = (state: AnySagaState | null) =>
        state && { sagaId: state.metadata?.sagaId, version: state.metadata?.version, counter: state.counter, blob: state.blob };
      for (const saga of sagas) {
        const expected = saga.acked ? { sagaId: saga.sagaId, version: saga.counter, counter: saga.counter, blob: saga.blob } : null;
        try {
          const reads = [
            ["findByCorrelationId", project(await store.findByCorrelationId(SAGA, saga.correlationId))],
            ["findById", project(await store.findById(SAGA, saga.sagaId))],
            ["fresh store findById", project(await fresh.findById(SAGA, saga.sagaId))],
            ["fresh store findByCorrelationId", project(await fresh.findByCorrelationId(SAGA, saga.correlationId))],
          ] as const;
          readsWhileFull += reads.length;
          for (const [how, got] of reads) {
            if (JSON.stringify(got) !== JSON.stringify(expected)) {
              readProblems.push(`${saga.correlationId} ${how}: ${expected ? `acked counter ${saga.counter}` : "never acknowledged"}, got ${got ? `counter ${got.counter}, version ${got.version}` : "null"}`);
            }
          }
        } catch (error) {
          readProblems.push(`${saga.correlationId}: ${describeError(error)}`);
        }
      }

      // Half-written inserts: an index without its value (index SET landed, the value write refused).
      // The reverse, a value stored for an insert that was refused, is a write the caller was told did not happen.
      let orphanIndexes = 0;
      let valuesWithoutIndex = 0;
      const refusedButStored: string[] = [];
      for (const saga of sagas) {
        const [hasValue, hasIndex] = await Promise.all([admin.exists(valueKey(saga.correlationId)), admin.exists(indexKey(saga.sagaId))]);
        if (hasIndex && !hasValue) orphanIndexes++;
        if (hasValue && !hasIndex) valuesWithoutIndex++;
        if (hasValue && !saga.acked) refusedButStored.push(`${saga.correlationId}: refused on its ${saga.refusedOn}, value stored, index ${hasIndex ? "stored" : "missing"}`);
      }

      // Raise the limit: writes work again, including re-inserting a refused saga under its own id.
      await admin.config("SET", "maxmemory", "0");
      const afterRaise: string[] = [];
      const refused = sagas.find((s) => !s.acked);
      const acked = sagas.find((s) => s.acked);
      try {
        await store.insert(SAGA, "after-raise", sagaBusState("s-after-raise", { counter: 0 }));
        if ((await store.findById(SAGA, "s-after-raise"))?.counter !== 0) afterRaise.push("new insert not found");
        if (acked) {
          const saved = await store.modify(SAGA, acked.correlationId, (state: AnySagaState) => ({ ...state, counter: (state.counter as number) + 1 }));
          if (saved.counter !== acked.counter + 1) afterRaise.push(`modify gave counter ${saved.counter}, expected ${acked.counter + 1}`);
        }
        if (refused) {
          await store.insert(SAGA, refused.correlationId, sagaBusState(refused.sagaId, { counter: 0, blob: refused.blob }));
          if ((await store.findById(SAGA, refused.sagaId))?.blob !== refused.blob) afterRaise.push("re-inserted refused saga not found by id");
        }
      } catch (error) {
        afterRaise.push(describeError(error));
      }

      const oomErrors = Object.values(oomByOperation).reduce((sum, n) => sum + n, 0);
      recordFigures("memory", {
        maxmemory: MAXMEMORY,
        policy: "noeviction",
        workers: WORKERS,
        stateBytes: BLOB_BYTES * 2,
        loadMs,
        insertsAcked,
        modifiesAcked,
        writesAcked: insertsAcked + modifiesAcked,
        ackedBeforeFirstOom: ackedBeforeFirstOom ?? null,
        oomErrors,
        oomByOperation,
        errorsByCode: { REDIS_OUT_OF_MEMORY: oomErrors, ...(unexpected.length ? { unexpected: unexpected.length } : {}) },
        insertsRefused: sagas.filter((s) => !s.acked).length,
        usedMemory,
        maxmemoryBytes: maxmemory,
        readsWhileFull,
        readProblems: readProblems.length,
        orphanIndexes,
        valuesWithoutIndex,
        refusedButStored: refusedButStored.length,
        refusedOn: sagas.reduce<Record<string, number>>((counts, s) => (s.refusedOn && addCount(counts, s.refusedOn), counts), {}),
        writesAfterRaise: afterRaise.length === 0 ? "ok" : afterRaise,
      });

      expect(unexpected).toEqual([]);
      expect(oomKeysWrong).toEqual([]);
      // Memory ran out mid-load: writes were acknowledged first, then refused.
      expect(insertsAcked).toBeGreaterThan(0);
      expect(modifiesAcked).toBeGreaterThan(0);
      expect(ackedBeforeFirstOom).toBeGreaterThan(0);
      expect(oomErrors).toBeGreaterThan(0);
      expect(stillFull).toBe("REDIS_OUT_OF_MEMORY");
      // An insert reported as refused must not have stored its saga.
      expect(refusedButStored).toEqual([]);
      expect(readProblems).toEqual([]);
      expect(readsWhileFull).toBe(sagas.length * 4);
      // A value is never left without its index (the index is sent first).
      expect(valuesWithoutIndex).toBe(0);
      expect(afterRaise).toEqual([]);
    } finally {
      await store.close();
      client.disconnect();
      await admin.quit().catch(() => admin.disconnect());
      await server.stop();
    }
  }, 30_000);
});
