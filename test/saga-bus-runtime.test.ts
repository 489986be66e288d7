/**
 * The store inside saga-bus's own failure handling. The real bus retries a
 * failed message only when its DefaultErrorHandler says "retry": for an
 * instance of @saga-bus/core's ConcurrencyError or TransientError, or a
 * network-looking message. Anything else is dead-lettered, so a conflict
 * that is only the store's own ConcurrencyError would lose the message.
 *
 * @saga-bus/core here is the stand-in of test/fixtures/saga-bus-core (a
 * devDependency): same names, same classification, and, like the real
 * package, separate classes in its ESM and CommonJS builds. This file is
 * ESM, so the store must hand out errors of the ESM build.
 */
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Cluster, Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import * as core from "@saga-bus/core";
import type { SagaStore as BusSagaStore } from "@saga-bus/core";
import { ConcurrencyError, RedisSagaStore, RedisUnavailableError, SagaAlreadyExistsError } from "../src/index";
import {
  SAGA,
  checkTrails,
  deadLetterSummary,
  deliver,
  mergeReports,
  startMessages,
  stepMessages,
  trailIds,
  type DeliveryReport,
  type TrailState,
} from "./support/bus-runtime";
import { rejectionOf } from "./support/assertions";
import { reporter } from "./support/report";
import { clusterEngine, memoryEngine, redisEngine, sagaBusState, uniquePrefix } from "./support/stores";

const SAGAS = 200;
// completedTtlSeconds is set so that a store mistaking the user's `status: "completed"` for completion shows it as an expiry.
const STORE_OPTIONS = { completedTtlSeconds: 3600 };
// What BusImpl passes the error handler; DefaultErrorHandler does not look at it.
const HANDLER_CONTEXT = { envelope: { id: "m-1", type: "StepRecorded" }, sagaName: SAGA, correlationId: "c-1", metadata: {} };

/** Core's CommonJS build: what a require()-ing application (and the store's CJS build) gets. */
const coreCjs = createRequire(import.meta.url)("@saga-bus/core") as typeof core;

const report = reporter("saga-bus-runtime", "BUS_RUNTIME_REPORT");

function summary(delivery: DeliveryReport) {
  return { messages: delivery.messages, attempts: delivery.attempts, retriedBy: delivery.retriedBy, deadLettered: delivery.deadLettered.length };
}

/** How many keys under `prefix` carry an expiry, on every primary, with a few of them to show. */
async function keysWithExpiry(client: Redis | Cluster, prefix: string): Promise<{ count: number; sample: string[] }> {
  const nodes = client instanceof Cluster ? client.nodes("master") : [client];
  const expiring: string[] = [];
  for (const node of nodes) {
    const keys = await node.keys(`${prefix}*`);
    const ttls = await Promise.all(keys.map((key) => node.pttl(key)));
    keys.forEach((key, i) => ttls[i]! >= 0 && expiring.push(key));
  }
  return { count: expiring.length, sample: expiring.sort().slice(0, 3) };
}

const engines = [memoryEngine(), redisEngine(), clusterEngine()];
afterAll(async () => {
  for (const engine of engines) await engine.closeAll();
});

describe.each(engines)("saga-bus's retry policy on $name", (engine) => {
  it(`${SAGAS} sagas, 5 steps each all in flight at once: nothing dead-lettered, every step applied once, conflicts retried`, async () => {
    const { store, redis, cluster, prefix } = await engine.open(STORE_OPTIONS);
    const bus: BusSagaStore<TrailState> = store;
    const trails = trailIds(SAGAS);

    const started = await deliver(bus, startMessages(trails));
    const stepped = await deliver(bus, stepMessages(trails));
    report(engine.name, { started: summary(started), stepped: summary(stepped) });

    expect(deadLetterSummary(mergeReports([started, stepped]).deadLettered)).toEqual({});
    expect(await checkTrails(bus, trails)).toEqual([]);
    // The retry path was taken: updates collided and the bus redelivered them.
    expect(stepped.retriedBy.SAGA_CONFLICT ?? 0).toBeGreaterThan(0);
    const client = redis ?? cluster;
    if (client) expect(await keysWithExpiry(client, prefix)).toEqual({ count: 0, sample: [] });
  });

  it("a stale update and a lost insert race are core's ConcurrencyError (ESM build) as well as the store's errors", async () => {
    const { store } = await engine.open();
    await store.insert(SAGA, "c-contract", sagaBusState("s-contract"));
    await store.update(SAGA, sagaBusState("s-contract", {}, 1), 0);

    const conflict = await rejectionOf(store.update(SAGA, sagaBusState("s-contract", {}, 1), 0));
    expect(conflict).toBeInstanceOf(ConcurrencyError);
    expect(conflict).toMatchObject({ code: "SAGA_CONFLICT", sagaId: "s-contract", expectedVersion: 0, actualVersion: 1 });
    expect(conflict).toBeInstanceOf(core.ConcurrencyError);
    expect(conflict).not.toBeInstanceOf(coreCjs.ConcurrencyError);
    expect(await new core.DefaultErrorHandler().handle(conflict, HANDLER_CONTEXT)).toBe("retry");

    // Another saga (another saga id) inserted under the same correlation id: the orchestrator's lost race.
    const taken = await rejectionOf(store.insert(SAGA, "c-contract", sagaBusState("s-other")));
    expect(taken).toBeInstanceOf(SagaAlreadyExistsError);
    expect(taken).toMatchObject({ code: "SAGA_ALREADY_EXISTS", correlationId: "c-contract" });
    expect(taken).toBeInstanceOf(core.ConcurrencyError);
    expect(await new core.DefaultErrorHandler().handle(taken, HANDLER_CONTEXT)).toBe("retry");
  });
});

describe("@saga-bus/core's two builds", () => {
  it("import and require give different classes, and each build's handler dead-letters the other build's conflict", async () => {
    // If they were one object, the instanceof checks in this file could not tell which build the store loaded.
    expect(fileURLToPath(import.meta.resolve("@saga-bus/core"))).toMatch(/index\.js$/);
    expect(createRequire(import.meta.url).resolve("@saga-bus/core")).toMatch(/index\.cjs$/);
    expect(coreCjs.ConcurrencyError).not.toBe(core.ConcurrencyError);
    expect(coreCjs.TransientError).not.toBe(core.TransientError);
    const ctx = HANDLER_CONTEXT;
    expect(await new core.DefaultErrorHandler().handle(new core.ConcurrencyError("s", 0, 1), ctx)).toBe("retry");
    expect(await new core.DefaultErrorHandler().handle(new coreCjs.ConcurrencyError("s", 0, 1), ctx)).toBe("dlq");
    expect(await new coreCjs.DefaultErrorHandler().handle(new core.TransientError("flaky"), ctx)).toBe("dlq");
  });

  it("a store whose Redis is down fails with REDIS_UNAVAILABLE, core's TransientError (ESM build)", async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const store = new RedisSagaStore({
      connection: { host: "127.0.0.1", port, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null },
      maxRetries: 0,
    });
    try {
      // Whichever call meets the closed port first reports it.
      const error = await rejectionOf(store.initialize().then(() => store.getByCorrelationId(SAGA, "c-down")));
      expect(error).toBeInstanceOf(RedisUnavailableError);
      expect(error).toMatchObject({ code: "REDIS_UNAVAILABLE" });
      expect(error).toBeInstanceOf(core.TransientError);
      expect(error).not.toBeInstanceOf(coreCjs.TransientError);
      expect(await new core.DefaultErrorHandler().handle(error, HANDLER_CONTEXT)).toBe("retry");
    } finally {
      await store.close();
    }
  });
});

describe("redis: 3 bus processes sharing the same sagas' messages", () => {
  const WORKERS = 3;
  const workerPath = fileURLToPath(new URL("./support/bus-worker.ts", import.meta.url));
  const repoRoot = fileURLToPath(new URL("..", import.meta.url));

  function startBusWorker(env: Record<string, string>) {
    const child = spawn(process.execPath, ["--import", "tsx", workerPath], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    // A worker that died makes writes to its stdin fail; its exit is what gets reported.
    child.stdin.on("error", () => undefined);
    const seen = new Map<string, { promise: Promise<any>; resolve: (line: any) => void }>();
    const waiter = (key: string) => {
      let entry = seen.get(key);
      if (!entry) {
        let resolve!: (line: any) => void;
        const promise = new Promise<any>((r) => (resolve = r));
        seen.set(key, (entry = { promise, resolve }));
      }
      return entry;
    };
    createInterface({ input: child.stdout }).on("line", (line) => {
      let message: { ready?: boolean; phase?: string };
      try {
        message = JSON.parse(line);
      } catch {
        stderr += `(stdout) ${line}\n`;
        return;
      }
      waiter(message.ready ? "ready" : String(message.phase)).resolve(message);
    });
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve, reject) => {
      child.on("error", reject);
      child.on("exit", (code, signal) => resolve({ code, signal }));
    });
    /** The worker's line for `key`; rejects if it exits first, so no barrier hangs on a dead worker. */
    const next = (key: string): Promise<any> =>
      Promise.race([
        waiter(key).promise,
        exited.then(({ code, signal }) => {
          throw new Error(`bus-worker exited ${code ?? signal} before "${key}"; stderr: ${stderr}`);
        }),
      ]);
    const finished = exited.then(({ code, signal }) => {
      if (code !== 0) throw new Error(`bus-worker exited ${code ?? signal}; stderr: ${stderr}`);
    });
    // Awaited only on the success path; a worker killed after a failed assertion must not add an unhandled rejection.
    finished.catch(() => undefined);
    return { child, next, finished };
  }

  it(`${WORKERS} processes × ${SAGAS} sagas: nothing dead-lettered, every step applied once, conflicts retried`, async () => {
    const redis = new Redis(inject("redisUrl"));
    const prefix = uniquePrefix();
    const store = new RedisSagaStore({ redis, keyPrefix: prefix, ...STORE_OPTIONS });
    const workers = Array.from({ length: WORKERS }, (_, i) =>
      startBusWorker({ REDIS_URL: inject("redisUrl"), KEY_PREFIX: prefix, SAGAS: String(SAGAS), WORKERS: String(WORKERS), WORKER_INDEX: String(i) }),
    );
    try {
      await store.initialize();
      await Promise.all(workers.map((w) => w.next("ready")));
      for (const w of workers) w.child.stdin.write("start\n");
      const started: DeliveryReport[] = (await Promise.all(workers.map((w) => w.next("start")))).map((line) => line.report);
      for (const w of workers) w.child.stdin.end("steps\n");
      const stepped: DeliveryReport[] = (await Promise.all(workers.map((w) => w.next("steps")))).map((line) => line.report);
      await Promise.all(workers.map((w) => w.finished));
      report("processes", { started: started.map(summary), stepped: stepped.map(summary) });

      expect(deadLetterSummary(mergeReports([...started, ...stepped]).deadLettered)).toEqual({});
      expect(await checkTrails(store, trailIds(SAGAS))).toEqual([]);
      expect(mergeReports(started).messages + mergeReports(stepped).messages).toBe(SAGAS * 6);
      expect(mergeReports(stepped).retriedBy.SAGA_CONFLICT ?? 0).toBeGreaterThan(0);
      expect(await keysWithExpiry(redis, prefix)).toEqual({ count: 0, sample: [] });
    } finally {
      for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill("SIGKILL");
      await store.close();
      await redis.quit();
    }
  });
});
