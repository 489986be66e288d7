/**
 * Real concurrency: many async callers on ONE
 * connection, several processes, and concurrent duplicate inserts, against the
 * real redis-server of test/global-setup.ts (and the in-memory engine where the
 * scenario applies). Every figure is counted from what callers were told, then
 * compared with what is stored: a lost update or a double apply shows up as a
 * mismatch.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import { ConcurrencyError, RedisSagaStore, SagaAlreadyExistsError, type AnySagaState, type SagaStore } from "../src/index";
import { reporter } from "./support/report";
import { indexKeyOf } from "./support/key-layout";
import { memoryEngine, redisEngine, sagaBusState, uniquePrefix, type StoreHarness } from "./support/stores";

const SAGA = "Counter";
const CALLERS = 16;
const INCREMENTS = 100;
const PAIRS = 50;

const engines: StoreHarness[] = [redisEngine(), memoryEngine()];
afterAll(async () => {
  await Promise.all(engines.map((engine) => engine.closeAll()));
});

/** Contention figures; printed only when CONCURRENCY_REPORT is set. */
const report = reporter("concurrency", "CONCURRENCY_REPORT");

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const counterOf = (state: AnySagaState | null): number => {
  if (!state) throw new Error("saga not found");
  return state.counter as number;
};

/**
 * Stores for the two sides of duplicate-insert pairs. On Redis the sides run on
 * two connections (same key prefix), pair by pair swapping which connection
 * fires first, so either side can win; one connection would always order them.
 */
async function openPairStores(engine: StoreHarness) {
  const opened = await engine.open();
  const other = opened.redis ? (await engine.open({ keyPrefix: opened.prefix })).store : opened.store;
  const sides = (i: number): SagaStore[] => (i % 2 === 0 ? [opened.store, other] : [other, opened.store]);
  return { ...opened, sides };
}

describe.each(engines)("$name engine: 16 async callers on one store/connection, one saga", (engine) => {
  it(`update: ${CALLERS} callers × ${INCREMENTS} read→+1→update(expectedVersion) with retry on ConcurrencyError lose nothing`, async () => {
    const { store } = await engine.open();
    const sagaId = "saga-update";
    await store.insert(SAGA, "corr-update", sagaBusState(sagaId, { counter: 0 }));

    let acked = 0;
    let conflicts = 0;
    const badConflicts: string[] = [];
    const caller = async () => {
      for (let i = 0; i < INCREMENTS; i++) {
        for (;;) {
          const state = await store.getById(SAGA, sagaId);
          const version = state!.metadata.version as number;
          try {
            await store.update(SAGA, { ...state, counter: counterOf(state) + 1 }, version);
            acked++;
            break;
          } catch (error) {
            if (!(error instanceof ConcurrencyError)) throw error;
            conflicts++;
            // The conflict must carry the real stored version, which only ever grows.
            if (error.expectedVersion !== version || !(error.actualVersion > version) || error.code !== "SAGA_CONFLICT") {
              badConflicts.push(`expected ${error.expectedVersion} actual ${error.actualVersion} (loaded ${version})`);
            }
          }
        }
      }
    };
    await Promise.all(range(CALLERS).map(caller));

    const final = await store.getById(SAGA, sagaId);
    const byCorrelation = await store.getByCorrelationId(SAGA, "corr-update");
    report(`${engine.name} update`, { acked, conflicts });
    expect(badConflicts).toEqual([]);
    expect(acked).toBe(CALLERS * INCREMENTS);
    expect(counterOf(final)).toBe(acked);
    expect(final!.metadata.version).toBe(acked);
    expect(counterOf(byCorrelation)).toBe(acked);
    expect(byCorrelation!.metadata.version).toBe(acked);
  });

  it(`modify: ${CALLERS} callers × ${INCREMENTS} modify(+1), maxRetries 3: counter === acknowledged calls exactly`, async () => {
    const { store } = await engine.open({ maxRetries: 3, retryDelayMs: 2 });
    const sagaId = "saga-modify";
    await store.insert(SAGA, "corr-modify", sagaBusState(sagaId, { counter: 0 }));

    let acked = 0;
    let conflicts = 0;
    let fnCalls = 0;
    const versionsSeen: number[] = [];
    const caller = async () => {
      for (let i = 0; i < INCREMENTS; i++) {
        try {
          const saved = await store.modify(SAGA, "corr-modify", (state) => {
            fnCalls++;
            return { ...state, counter: counterOf(state) + 1 };
          });
          acked++;
          versionsSeen.push(saved.metadata.version as number);
        } catch (error) {
          if (!(error instanceof ConcurrencyError)) throw error;
          conflicts++;
        }
      }
    };
    await Promise.all(range(CALLERS).map(caller));

    const final = await store.findByCorrelationId(SAGA, "corr-modify");
    report(`${engine.name} modify`, { acked, conflicts, fnCalls });
    expect(acked + conflicts).toBe(CALLERS * INCREMENTS);
    expect(acked).toBeGreaterThan(0);
    expect(counterOf(final)).toBe(acked);
    expect(final!.metadata.version).toBe(acked);
    // Each acknowledged modify produced its own version: versions 1..acked, each exactly once.
    expect([...versionsSeen].sort((a, b) => a - b)).toEqual(range(acked).map((i) => i + 1));
    // At most 1 + maxRetries calls of fn per modify.
    expect(fnCalls).toBeLessThanOrEqual(CALLERS * INCREMENTS * 4);
  });

  it(`${PAIRS} concurrent duplicate-insert pairs with different saga ids: exactly one wins each, the loser leaves no index`, async () => {
    const { store, prefix, redis, sides } = await openPairStores(engine);
    const outcomes = await Promise.all(
      range(PAIRS).map(async (i) => {
        const correlationId = `dup-${i}`;
        const ids = [`a-${i}`, `b-${i}`];
        const settled = await Promise.allSettled(
          ids.map((id, k) => sides(i)[k]!.insert(SAGA, correlationId, sagaBusState(id, { who: id }))),
        );
        return { correlationId, ids, settled };
      }),
    );

    const problems: string[] = [];
    for (const { correlationId, ids, settled } of outcomes) {
      const winners = ids.filter((_, k) => settled[k]!.status === "fulfilled");
      if (winners.length !== 1) {
        problems.push(`${correlationId}: ${winners.length} winners`);
        continue;
      }
      const winner = winners[0]!;
      const loser = ids.find((id) => id !== winner)!;
      const reason = (settled[ids.indexOf(loser)] as PromiseRejectedResult).reason;
      if (!(reason instanceof SagaAlreadyExistsError) || reason.code !== "SAGA_ALREADY_EXISTS") {
        problems.push(`${correlationId}: loser got ${reason?.name}: ${reason?.message}`);
      } else if (reason.correlationId !== correlationId || reason.sagaId !== loser || reason.sagaName !== SAGA) {
        problems.push(`${correlationId}: error fields ${JSON.stringify({ c: reason.correlationId, s: reason.sagaId })}`);
      }
      const stored = await store.findByCorrelationId(SAGA, correlationId);
      if (stored?.who !== winner || stored?.metadata.sagaId !== winner) problems.push(`${correlationId}: stored ${stored?.who}, winner ${winner}`);
      if ((await store.findById(SAGA, winner))?.who !== winner) problems.push(`${correlationId}: findById(winner) wrong`);
      if ((await store.findById(SAGA, loser)) !== null) problems.push(`${correlationId}: findById(loser ${loser}) is not null`);
      if (redis) {
        const loserIndex = await redis.get(indexKeyOf(prefix, SAGA, loser));
        if (loserIndex !== null) problems.push(`${correlationId}: loser index key still exists -> ${loserIndex}`);
        const winnerIndex = await redis.get(indexKeyOf(prefix, SAGA, winner));
        if (winnerIndex !== correlationId) problems.push(`${correlationId}: winner index -> ${winnerIndex}`);
      }
    }
    const firstWins = outcomes.filter((o) => o.settled[0]!.status === "fulfilled").length;
    report(`${engine.name} duplicate inserts (different ids)`, { pairs: PAIRS, firstWins, secondWins: PAIRS - firstWins });
    expect(problems).toEqual([]);
  });

  it(`${PAIRS} concurrent duplicate-insert pairs with the same saga id: exactly one wins each, its state is stored`, async () => {
    const { store, prefix, redis, sides } = await openPairStores(engine);
    const outcomes = await Promise.all(
      range(PAIRS).map(async (i) => {
        const correlationId = `same-${i}`;
        const sagaId = `s-${i}`;
        const labels = ["first", "second"];
        const settled = await Promise.allSettled(
          labels.map((who, k) => sides(i)[k]!.insert(SAGA, correlationId, sagaBusState(sagaId, { who }))),
        );
        return { correlationId, sagaId, labels, settled };
      }),
    );

    const problems: string[] = [];
    for (const { correlationId, sagaId, labels, settled } of outcomes) {
      const winners = labels.filter((_, k) => settled[k]!.status === "fulfilled");
      if (winners.length !== 1) {
        problems.push(`${correlationId}: ${winners.length} winners`);
        continue;
      }
      const loserReason = (settled.find((s) => s.status === "rejected") as PromiseRejectedResult).reason;
      if (!(loserReason instanceof SagaAlreadyExistsError) || loserReason.code !== "SAGA_ALREADY_EXISTS") {
        problems.push(`${correlationId}: loser got ${loserReason?.name}: ${loserReason?.message}`);
      }
      const stored = await store.findByCorrelationId(SAGA, correlationId);
      if (stored?.who !== winners[0]) problems.push(`${correlationId}: stored ${stored?.who}, winner ${winners[0]}`);
      // The loser shares the winner's id index: it must still lead to the winner's state.
      if ((await store.findById(SAGA, sagaId))?.who !== winners[0]) problems.push(`${correlationId}: findById lost the saga`);
      if (redis) {
        const index = await redis.get(indexKeyOf(prefix, SAGA, sagaId));
        if (index !== correlationId) problems.push(`${correlationId}: index -> ${index}`);
      }
    }
    const firstWins = outcomes.filter((o) => o.settled[0]!.status === "fulfilled").length;
    report(`${engine.name} duplicate inserts (same id)`, { pairs: PAIRS, firstWins, secondWins: PAIRS - firstWins });
    expect(problems).toEqual([]);
  });
});

describe("redis: 4 child processes incrementing one saga through modify", () => {
  const WORKERS = 4;
  const WORKER_CALLERS = 8;
  const WORKER_INCREMENTS = 25;
  const workerPath = fileURLToPath(new URL("./support/increment-worker.ts", import.meta.url));
  const repoRoot = fileURLToPath(new URL("..", import.meta.url));

  interface WorkerResult {
    acked: number;
    conflicts: number;
    errors: string[];
  }

  function startWorker(env: Record<string, string>) {
    const child = spawn(process.execPath, ["--import", "tsx", workerPath], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let onReady!: () => void;
    const ready = new Promise<void>((resolve) => (onReady = resolve));
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      if (stdout.includes('"ready":true')) onReady();
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const done = new Promise<WorkerResult>((resolve, reject) => {
      child.on("error", reject);
      child.on("exit", (code, signal) => {
        const lines = stdout.trim().split("\n");
        const last = lines[lines.length - 1] ?? "";
        if (code !== 0 || !last.includes('"acked"')) {
          reject(new Error(`worker exited ${code ?? signal}; stdout: ${stdout}; stderr: ${stderr}`));
        } else {
          resolve(JSON.parse(last) as WorkerResult);
        }
      });
    });
    // A worker that dies before printing "ready" must not hang the barrier.
    return { child, ready: Promise.race([ready, done.then(() => undefined)]), done };
  }

  it(`${WORKERS} processes × ${WORKER_CALLERS} callers × ${WORKER_INCREMENTS} modify(+1): counter === sum of acknowledged calls`, async () => {
    const redis = new Redis(inject("redisUrl"));
    try {
      const prefix = uniquePrefix();
      const store = new RedisSagaStore({ redis, keyPrefix: prefix });
      await store.initialize();
      await store.insert(SAGA, "corr-procs", sagaBusState("saga-procs", { counter: 0 }));

      const workers = range(WORKERS).map(() =>
        startWorker({
          REDIS_URL: inject("redisUrl"),
          KEY_PREFIX: prefix,
          SAGA_NAME: SAGA,
          CORRELATION_ID: "corr-procs",
          CALLERS: String(WORKER_CALLERS),
          INCREMENTS: String(WORKER_INCREMENTS),
          MAX_RETRIES: "10000",
          RETRY_DELAY_MS: "1",
        }),
      );
      try {
        await Promise.all(workers.map((w) => w.ready));
        for (const w of workers) w.child.stdin.end("go\n");
        const results = await Promise.all(workers.map((w) => w.done));

        const acked = results.reduce((sum, r) => sum + r.acked, 0);
        const conflicts = results.reduce((sum, r) => sum + r.conflicts, 0);
        const final = await store.findByCorrelationId(SAGA, "corr-procs");
        report("processes modify", { perWorker: results.map((r) => r.acked), acked, conflicts });
        expect(results.flatMap((r) => r.errors)).toEqual([]);
        expect(acked + conflicts).toBe(WORKERS * WORKER_CALLERS * WORKER_INCREMENTS);
        expect(counterOf(final)).toBe(acked);
        expect(final!.metadata.version).toBe(acked);
        // With 10 000 retries allowed every call should get through.
        expect(acked).toBe(WORKERS * WORKER_CALLERS * WORKER_INCREMENTS);
      } finally {
        for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill("SIGKILL");
      }
    } finally {
      await redis.quit();
    }
  });
});
