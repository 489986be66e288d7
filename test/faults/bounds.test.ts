/**
 * Bounded failure when Redis is away: every start and every call ends with a
 * typed error within the bound the options set (startTimeoutMs,
 * operationTimeoutMs), however the client's own retry and timeout options
 * are set, and the store recovers by itself once Redis is back.
 *
 * Each scenario uses a redis-server (or a TCP stand-in) of its own:
 *   dead port at start       nothing listens; later a server starts there
 *   server killed mid-run    SIGKILL under load, restarted on the same port
 *   server never answers     a TCP relay that stops passing bytes (both ways,
 *                            buffered, as a stalled network does), then resumes
 * Plus: a failed start leaves nothing that keeps the process alive; a
 * Cluster start is bounded whatever ioredis emits; refused credentials are
 * the same typed, non-retryable error on a standalone server and a Cluster.
 *
 * Figures: test/.figures/faults.json, keys "bounds.deadPort",
 * "bounds.killed", "bounds.stalled".
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, connect, type Server, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { Cluster, Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { RedisAuthError, RedisSagaStore, RedisUnavailableError, type SagaStore } from "../../src/index";
import { sleep } from "../support/load";
import { freePort, spawnRedisServer } from "../support/redis-server";
import { sagaBusState, uniquePrefix } from "../support/stores";
import { recordFigures } from "./figures";

/** The scheduling slack allowed over a bound: the deadline check runs every 25 ms, plus event-loop delay on a loaded machine. */
const SLACK_MS = 400;
const OPERATION_TIMEOUT_MS = 1_000;
const START_TIMEOUT_MS = 1_500;

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function timed<T>(work: Promise<T>): Promise<{ ms: number; error?: any; value?: T }> {
  const started = performance.now();
  try {
    const value = await work;
    return { ms: performance.now() - started, value };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

/** Calls every `everyMs` until `until` says stop; the first typed error and the first success after it are timed. */
async function probe(store: SagaStore, stop: () => boolean, everyMs = 20) {
  const calls: Array<{ at: number; ms: number; code?: string }> = [];
  while (!stop()) {
    const at = performance.now();
    const { ms, error } = await timed(store.findByCorrelationId("Probe", "c"));
    calls.push({ at, ms, code: error ? (error.code ?? `untyped: ${error}`) : undefined });
    await sleep(everyMs);
  }
  return calls;
}

/** A TCP relay that can stall: stop passing bytes both ways (kept in the sockets' buffers, nothing lost), then resume. */
async function startRelay(targetPort: number) {
  const pairs: Array<[Socket, Socket]> = [];
  let stalled = false;
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    pairs.push([client, upstream]);
    if (stalled) {
      client.pause();
      upstream.pause();
    }
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  return {
    port,
    stall() {
      stalled = true;
      for (const [a, b] of pairs) {
        a.pause();
        b.pause();
      }
    },
    resume() {
      stalled = false;
      for (const [a, b] of pairs) {
        a.resume();
        b.resume();
      }
    },
    async close() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      server.close();
    },
  };
}

/** A server that accepts connections and never writes a byte. */
async function startSilentServer() {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => undefined);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as { port: number }).port,
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

function expectUnavailable(error: unknown) {
  expect(error).toBeInstanceOf(RedisUnavailableError);
  expect((error as RedisUnavailableError).retryable).toBe(true);
}

describe("bounded failure when Redis is away", () => {
  it("dead port at start: initialize() is REDIS_UNAVAILABLE within startTimeoutMs; the next call starts once a server listens there", async () => {
    const port = await freePort();
    const store = new RedisSagaStore({ connection: { host: "127.0.0.1", port }, startTimeoutMs: START_TIMEOUT_MS, operationTimeoutMs: OPERATION_TIMEOUT_MS });
    cleanups.push(() => store.close());
    const start = await timed(store.initialize());
    expectUnavailable(start.error);
    expect(start.ms).toBeLessThan(START_TIMEOUT_MS + SLACK_MS);
    const call = await timed(store.findByCorrelationId("Probe", "c"));
    expectUnavailable(call.error);
    expect(call.ms).toBeLessThan(START_TIMEOUT_MS + SLACK_MS);

    const server = await spawnRedisServer([], port);
    cleanups.push(() => server.stop());
    const serverUp = performance.now();
    let recovered: number | undefined;
    while (recovered === undefined && performance.now() - serverUp < 10_000) {
      const attempt = await timed(store.findByCorrelationId("Probe", "c"));
      if (!attempt.error) recovered = performance.now() - serverUp;
      else expectUnavailable(attempt.error);
    }
    expect(recovered).toBeDefined();
    recordFigures("bounds.deadPort", {
      startTimeoutMs: START_TIMEOUT_MS,
      firstTypedErrorMs: Math.round(start.ms),
      callWhileDownMs: Math.round(call.ms),
      recoverMs: Math.round(recovered!),
    });
  });

  it("a failed start closes what it opened: 20 failed starts (half never closed), then the process exits by itself", async () => {
    const port = await freePort();
    const worker = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("../support/dead-port-worker.ts", import.meta.url))], {
      env: { ...process.env, PORT: String(port), ATTEMPTS: "20" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    cleanups.push(() => worker.kill("SIGKILL"));
    let output = "";
    worker.stdout!.on("data", (chunk) => (output += chunk));
    const printed = new Promise<number>((resolve) => worker.stdout!.once("data", () => resolve(performance.now())));
    const exited = once(worker, "exit").then(() => performance.now());
    const [printedAt, exitedAt] = await Promise.race([
      Promise.all([printed, exited]),
      sleep(30_000).then(() => {
        throw new Error("the worker did not exit within 30 s of starting: something kept it alive");
      }),
    ]);
    const report = JSON.parse(output.trim()) as { codes: Record<string, number>; slowestMs: number };
    expect(report.codes).toEqual({ REDIS_UNAVAILABLE: 20 });
    expect(report.slowestMs).toBeLessThan(300 + SLACK_MS);
    // After its last failure, nothing of the store keeps the process alive.
    expect(exitedAt - printedAt).toBeLessThan(2_000);
  });

  it("server killed mid-run, with a client the user made without commandTimeout: calls fail typed within operationTimeoutMs, and recover after restart", async () => {
    const server = await spawnRedisServer();
    const redis = new Redis(server.url);
    redis.on("error", () => undefined);
    cleanups.push(() => redis.disconnect());
    const store = new RedisSagaStore({ redis, keyPrefix: uniquePrefix(), operationTimeoutMs: OPERATION_TIMEOUT_MS, retryDelayMs: 20 });
    await store.insert("Probe", "c", sagaBusState("s"));
    let stop = false;
    const probing = probe(store, () => stop);
    await sleep(300);
    const killedAt = performance.now();
    await server.stop();
    await sleep(2_500);
    const restarted = await spawnRedisServer([], server.port);
    cleanups.push(() => restarted.stop());
    const backAt = performance.now();
    await sleep(3_000);
    stop = true;
    const calls = await probing;

    const whileDown = calls.filter((call) => call.at >= killedAt && call.at < backAt);
    const firstError = whileDown.find((call) => call.code !== undefined);
    expect(firstError, "a typed error while the server was down").toBeDefined();
    for (const call of calls) if (call.code) expect(call.code).toBe("REDIS_UNAVAILABLE");
    const slowest = Math.max(...calls.map((call) => call.ms));
    expect(slowest).toBeLessThan(OPERATION_TIMEOUT_MS + SLACK_MS);
    const recoveredCall = calls.find((call) => call.at >= backAt && call.code === undefined);
    expect(recoveredCall, "a successful call after the restart").toBeDefined();
    recordFigures("bounds.killed", {
      operationTimeoutMs: OPERATION_TIMEOUT_MS,
      firstTypedErrorMs: Math.round(firstError!.at + firstError!.ms - killedAt),
      slowestCallMs: Math.round(slowest),
      recoverMs: Math.round(recoveredCall!.at + recoveredCall!.ms - backAt),
      callsWhileDown: whileDown.length,
    });
  });

  it("server that never answers: a start against a silent server fails within startTimeoutMs; a stalled connection mid-run fails calls within operationTimeoutMs and recovers when it flows again", async () => {
    const silent = await startSilentServer();
    cleanups.push(() => silent.close());
    const quiet = new Redis({ host: "127.0.0.1", port: silent.port });
    quiet.on("error", () => undefined);
    cleanups.push(() => quiet.disconnect());
    const quietStore = new RedisSagaStore({ redis: quiet, startTimeoutMs: START_TIMEOUT_MS });
    const start = await timed(quietStore.initialize());
    expectUnavailable(start.error);
    expect(start.ms).toBeLessThan(START_TIMEOUT_MS + SLACK_MS);

    const server = await spawnRedisServer();
    cleanups.push(() => server.stop());
    const relay = await startRelay(server.port);
    cleanups.push(() => relay.close());
    const redis = new Redis({ host: "127.0.0.1", port: relay.port });
    redis.on("error", () => undefined);
    cleanups.push(() => redis.disconnect());
    const store = new RedisSagaStore({ redis, keyPrefix: uniquePrefix(), operationTimeoutMs: OPERATION_TIMEOUT_MS, retryDelayMs: 20 });
    await store.insert("Probe", "c", sagaBusState("s"));
    let stop = false;
    const probing = probe(store, () => stop);
    await sleep(300);
    const stalledAt = performance.now();
    relay.stall();
    await sleep(2_500);
    relay.resume();
    const flowingAt = performance.now();
    await sleep(2_000);
    stop = true;
    const calls = await probing;

    const firstError = calls.find((call) => call.at >= stalledAt && call.code !== undefined);
    expect(firstError, "a typed error while stalled").toBeDefined();
    for (const call of calls) if (call.code) expect(call.code).toBe("REDIS_UNAVAILABLE");
    const slowest = Math.max(...calls.map((call) => call.ms));
    expect(slowest).toBeLessThan(OPERATION_TIMEOUT_MS + SLACK_MS);
    const recoveredCall = calls.find((call) => call.at >= flowingAt && call.code === undefined);
    expect(recoveredCall, "a successful call once the connection flows").toBeDefined();
    // What the stalled calls read, answered late, went to the callers who had stopped waiting: the state is intact.
    expect((await store.findById("Probe", "s"))!.metadata.sagaId).toBe("s");
    recordFigures("bounds.stalled", {
      startTimeoutMs: START_TIMEOUT_MS,
      silentStartMs: Math.round(start.ms),
      operationTimeoutMs: OPERATION_TIMEOUT_MS,
      firstTypedErrorMs: Math.round(firstError!.at + firstError!.ms - stalledAt),
      slowestCallMs: Math.round(slowest),
      recoverMs: Math.round(recoveredCall!.at + recoveredCall!.ms - flowingAt),
    });
  });

  it("a Cluster start is bounded whatever ioredis emits: seed nodes that accept and never answer", async () => {
    const silent = await startSilentServer();
    cleanups.push(() => silent.close());
    const cluster = new Cluster([{ host: "127.0.0.1", port: silent.port }]);
    cluster.on("error", () => undefined);
    cleanups.push(() => cluster.disconnect());
    const store = new RedisSagaStore({ redis: cluster, startTimeoutMs: START_TIMEOUT_MS });
    const start = await timed(store.initialize());
    expectUnavailable(start.error);
    expect(start.ms).toBeLessThan(START_TIMEOUT_MS + SLACK_MS);
  });
});

async function requirePassword(port: number) {
  const admin = new Redis({ host: "127.0.0.1", port });
  await admin.config("SET", "requirepass", "right");
  await admin.quit();
}

describe("refused credentials", () => {
  async function expectAuthRefused(store: RedisSagaStore) {
    const start = await timed(store.initialize());
    expect(start.error).toBeInstanceOf(RedisAuthError);
    expect(start.error.code).toBe("REDIS_AUTH_FAILED");
    expect(start.error.retryable).toBe(false);
    expect(start.error).not.toBeInstanceOf(RedisUnavailableError);
    expect(start.ms).toBeLessThan(START_TIMEOUT_MS);
  }

  it("are REDIS_AUTH_FAILED, not retryable, on a standalone server (wrong password, and none) and on a Cluster", async () => {
    // The password is set once the server answers (the spawn helper's readiness check logs in as no one).
    const server = await spawnRedisServer();
    cleanups.push(() => server.stop());
    await requirePassword(server.port);
    for (const password of ["wrong", undefined]) {
      const store = new RedisSagaStore({ connection: { host: "127.0.0.1", port: server.port, password }, startTimeoutMs: START_TIMEOUT_MS });
      cleanups.push(() => store.close());
      await expectAuthRefused(store);
    }

    // A one-node Cluster holding every slot, with a password.
    const node = await spawnRedisServer(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-announce-ip", "127.0.0.1"]);
    cleanups.push(() => node.stop());
    const admin = new Redis({ host: "127.0.0.1", port: node.port });
    await admin.call("CLUSTER", "ADDSLOTSRANGE", "0", "16383");
    await admin.quit();
    await requirePassword(node.port);
    const cluster = new Cluster([{ host: "127.0.0.1", port: node.port }], { redisOptions: { password: "wrong" } });
    cluster.on("error", () => undefined);
    cleanups.push(() => cluster.disconnect());
    await expectAuthRefused(new RedisSagaStore({ redis: cluster, startTimeoutMs: START_TIMEOUT_MS }));
  });
});
