/**
 * A write whose reply was lost may have been applied, and ioredis re-sends
 * unanswered commands after a reconnect. The write token
 * in the envelope lets write.lua recognise its own applied write
 * ("already written") instead of reporting a conflict with itself, after which
 * modify() would apply its function twice.
 *
 * 1. Engine level: every engine (test/support/engines.ts), the same envelope sent twice.
 * 2. Store level, real connection loss: CLIENT KILL of the store's connection
 *    while 16 callers modify one saga.
 * 3. Store level, deterministic lost replies: a TCP relay that stops passing
 *    replies, lets the server run what it received, then drops the connection;
 *    the stored version shows writes that landed unanswered, and ioredis
 *    re-sends them.
 * Afterwards the counter must equal the acknowledged modify calls (no lost
 * update, no double increment) and every error must be one of the store's types.
 */
import { randomUUID } from "node:crypto";
import { createServer, connect, type AddressInfo, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import { EnvelopeSerializer } from "../codecs/serializer";
import { OFFSET } from "../codecs/envelope";
import { WriteStatus, type WriteRequest } from "../src/engine";
import {
  ConcurrencyError,
  RedisSagaStore,
  SagaAlreadyExistsError,
  RedisUnavailableError,
  SagaStoreError,
  WriteOutcomeUnknownError,
  type AnySagaState,
} from "../src/index";
import { indexKeyOf, valueKeyOf } from "./support/key-layout";
import { addCount, describeError } from "./support/load";
import { clientIdByName } from "./support/redis-server";
import { ENGINES } from "./support/engines";
import { reporter } from "./support/report";
import { redisEngine, sagaBusState, uniquePrefix } from "./support/stores";

const SAGA = "Resend";

/** Printed with the concurrency figures: both are runs of concurrent writers. */
const report = reporter("resend", "CONCURRENCY_REPORT");

describe.each(ENGINES)("$name engine: a re-sent write recognises itself", ({ open }) => {
  const serializer = new EnvelopeSerializer();
  const envelope = (sagaId: string, sagaVersion: number, fields: Record<string, unknown>) =>
    serializer.encode(SAGA, sagaBusState(sagaId, fields, sagaVersion), { sagaId, sagaVersion, schemaVersion: 1 });
  const tokenOf = (bytes: Buffer) => bytes.subarray(OFFSET.token, OFFSET.token + 8).toString("hex");
  const updateOf = (valueKey: string, bytes: Buffer): WriteRequest => ({ valueKey, envelope: bytes, ttlMs: 0, indexKey: `${valueKey}:idx`, correlationId: "c", sagaName: SAGA, sagaId: "s" });
  const insertOf = (valueKey: string, bytes: Buffer) => ({ ...updateOf(valueKey, bytes), valueKeyPrefix: `${valueKey}:` });

  it("insert sent twice: Written, then AlreadyWritten; a different insert of the key: Exists", async () => {
    const { engine, close } = await open();
    try {
      const key = valueKeyOf(uniquePrefix(), SAGA, "c1");
      const first = envelope("s1", 0, { n: 1 });
      expect(await engine.insert(insertOf(key, first))).toMatchObject({
        status: WriteStatus.Written,
        previousTtlMs: -2,
      });
      expect(await engine.insert(insertOf(key, first))).toMatchObject({
        status: WriteStatus.AlreadyWritten,
        storedVersion: 0,
      });
      const other = envelope("s1", 0, { n: 2 });
      expect(tokenOf(other)).not.toBe(tokenOf(first));
      expect(await engine.insert(insertOf(key, other))).toMatchObject({
        status: WriteStatus.Exists,
        storedVersion: 0,
      });
      expect((await engine.getValue(key))?.equals(first)).toBe(true);
    } finally {
      await close();
    }
  });

  it("update sent twice: Written, then AlreadyWritten (nothing rewritten); another envelope at the stale version: Conflict with the new version", async () => {
    const { engine, close } = await open();
    try {
      const key = valueKeyOf(uniquePrefix(), SAGA, "c2");
      expect((await engine.insert(insertOf(key, envelope("s2", 0, { n: 0 })))).status).toBe(
        WriteStatus.Written,
      );

      const v1 = envelope("s2", 1, { n: 1 });
      expect(await engine.update(updateOf(key, v1))).toMatchObject({
        status: WriteStatus.Written,
        storedVersion: 0,
      });
      // The same bytes again, as ioredis re-sends them after a reconnect.
      expect(await engine.update(updateOf(key, v1))).toMatchObject({
        status: WriteStatus.AlreadyWritten,
        storedVersion: 1,
      });
      expect((await engine.getValue(key))?.equals(v1)).toBe(true);

      // A different write (another caller) at the stale version is a real conflict.
      const rival = envelope("s2", 1, { n: 100 });
      expect(await engine.update(updateOf(key, rival))).toMatchObject({
        status: WriteStatus.Conflict,
        storedVersion: 1,
      });
      expect((await engine.getValue(key))?.equals(v1)).toBe(true);

      // Once someone has written on top, our re-sent write no longer finds its token: a conflict carrying the newest version.
      const v2 = envelope("s2", 2, { n: 2 });
      expect((await engine.update(updateOf(key, v2))).status).toBe(WriteStatus.Written);
      expect(await engine.update(updateOf(key, v1))).toMatchObject({
        status: WriteStatus.Conflict,
        storedVersion: 2,
      });
      expect((await engine.getValue(key))?.equals(v2)).toBe(true);
    } finally {
      await close();
    }
  });
});

// ---- store level ------------------------------------------------------------

const CALLERS = 16;

interface Tally {
  acked: number;
  maxAckedVersion: number;
  byError: Record<string, number>;
  untyped: string[];
}

/** Errors a caller may see when the connection drops under it: only the store's own types. */
function isExpectedStoreError(error: unknown): boolean {
  return (
    error instanceof SagaStoreError &&
    (error instanceof ConcurrencyError || error instanceof RedisUnavailableError || error instanceof WriteOutcomeUnknownError)
  );
}

/**
 * A store on `client` (3 retries, 2 ms apart) holding one saga (counter 0, saga id `<correlationId>-1`),
 * and 16 callers looping modify(+1) on it until stopped.
 */
async function runIncrementers(client: Redis, prefix: string, correlationId: string) {
  const store = new RedisSagaStore({ redis: client, keyPrefix: prefix, maxRetries: 3, retryDelayMs: 2 });
  await store.initialize();
  await store.insert(SAGA, correlationId, sagaBusState(`${correlationId}-1`, { counter: 0 }));
  const tally: Tally = { acked: 0, maxAckedVersion: 0, byError: {}, untyped: [] };
  let stopped = false;
  const caller = async () => {
    while (!stopped) {
      try {
        const saved = await store.modify(SAGA, correlationId, (state: AnySagaState) => ({ ...state, counter: state.counter + 1 }));
        tally.acked++;
        tally.maxAckedVersion = Math.max(tally.maxAckedVersion, saved.metadata.version);
      } catch (error) {
        if (isExpectedStoreError(error)) addCount(tally.byError, (error as SagaStoreError).code);
        else tally.untyped.push(describeError(error));
      }
    }
  };
  const running = Promise.all(Array.from({ length: CALLERS }, caller));
  return {
    tally,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

/** A fresh store on its own connection straight to Redis, so the counter is read past whatever the store under test went through. */
const readers = redisEngine();
afterAll(() => readers.closeAll());

async function readCounter(prefix: string, correlationId: string) {
  const { store } = await readers.open({ keyPrefix: prefix });
  const state = await store.findByCorrelationId(SAGA, correlationId);
  return { counter: state?.counter as number, version: state?.metadata.version as number };
}

describe("store on a connection that is killed while 16 callers modify one saga", () => {
  it("CLIENT KILL × 6: counter === acknowledged modify calls, every error a typed store error", async () => {
    const url = inject("redisUrl");
    const name = `resend-kill-${randomUUID().slice(0, 8)}`;
    const storeClient = new Redis(url, { connectionName: name });
    const connectionErrors: string[] = [];
    storeClient.on("error", (error: Error) => connectionErrors.push(error.message));
    let closes = 0;
    storeClient.on("close", () => closes++);
    const admin = new Redis(url);
    const prefix = uniquePrefix();
    try {
      const run = await runIncrementers(storeClient, prefix, "kill");
      const KILLS = 6;
      let killed = 0;
      const ackedAtKill: number[] = [];
      try {
        for (let k = 0; k < KILLS; k++) {
          await sleep(120);
          const id = await clientIdByName(admin, name);
          ackedAtKill.push(run.tally.acked);
          killed += Number(await admin.client("KILL", "ID", id));
        }
        await sleep(150);
      } finally {
        await run.stop();
      }

      const { counter, version } = await readCounter(prefix, "kill");
      const { tally } = run;
      report("CLIENT KILL", { killed, closes, acked: tally.acked, byError: tally.byError, counter, ackedAtKill, connectionErrors: connectionErrors.length });
      expect(tally.untyped).toEqual([]);
      expect(killed).toBe(KILLS);
      expect(closes).toBeGreaterThanOrEqual(KILLS);
      // Work went on after the last kill: the store recovered on the reconnected connection.
      expect(tally.acked).toBeGreaterThan(ackedAtKill[KILLS - 1]!);
      expect(counter).toBe(tally.acked);
      expect(version).toBe(tally.acked);
    } finally {
      await admin.quit();
      storeClient.disconnect();
    }
  });
});

/** A TCP relay to Redis that can stop passing replies and then drop its connections. */
async function startRelay(target: URL) {
  interface Link {
    client: Socket;
    upstream: Socket;
    dropReplies: boolean;
  }
  const links = new Set<Link>();
  let droppedBytes = 0;
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    const link: Link = { client, upstream, dropReplies: false };
    links.add(link);
    client.on("data", (chunk) => upstream.write(chunk));
    upstream.on("data", (chunk) => {
      if (!link.dropReplies) client.write(chunk);
      else droppedBytes += chunk.length;
    });
    const end = () => {
      links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on("close", end);
      socket.on("error", end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get droppedBytes() {
      return droppedBytes;
    },
    dropReplies() {
      for (const link of links) link.dropReplies = true;
    },
    cut() {
      for (const link of [...links]) {
        link.client.destroy();
        link.upstream.destroy();
      }
    },
    async close() {
      this.cut();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The test Redis behind a relay: a store client through the relay, an admin client straight to Redis, a fresh prefix. */
async function behindRelay() {
  const url = inject("redisUrl");
  const relay = await startRelay(new URL(url));
  const storeClient = new Redis(relay.url);
  storeClient.on("error", () => {});
  const admin = new Redis(url);
  return {
    relay,
    storeClient,
    admin,
    prefix: uniquePrefix(),
    async close() {
      storeClient.disconnect();
      await admin.quit();
      await relay.close();
    },
  };
}

describe("store whose replies are lost after the server applied its writes", () => {
  it("writes that landed unanswered are re-sent by ioredis and recognised: counter === acknowledged calls", async () => {
    const { relay, storeClient, admin, prefix, close } = await behindRelay();
    const valueKey = valueKeyOf(prefix, SAGA, "lost");
    try {
      const run = await runIncrementers(storeClient, prefix, "lost");
      let cycles = 0;
      let landedUnanswered = 0;
      try {
        while (cycles < 20 && landedUnanswered < 4) {
          cycles++;
          await sleep(60);
          relay.dropReplies();
          // The server runs every command it already received; their replies vanish.
          await sleep(40);
          const stored = (await admin.getBuffer(valueKey))!.readUInt32BE(OFFSET.sagaVersion);
          if (stored > run.tally.maxAckedVersion) landedUnanswered++;
          relay.cut();
        }
        await sleep(150);
      } finally {
        await run.stop();
      }

      const { counter, version } = await readCounter(prefix, "lost");
      const { tally } = run;
      report("lost replies", { cycles, landedUnanswered, acked: tally.acked, byError: tally.byError, counter });
      expect(tally.untyped).toEqual([]);
      // The scenario really happened: some write was applied while its reply was lost.
      expect(landedUnanswered).toBeGreaterThan(0);
      expect(counter).toBe(tally.acked);
      expect(version).toBe(tally.acked);
    } finally {
      await close();
    }
  });
});

describe("insert pairs whose replies are lost", () => {
  it("50 duplicate-insert pairs answered only after a reconnect: one saga per correlation id, the loser leaves no index", async () => {
    const { relay, storeClient, admin, prefix, close } = await behindRelay();
    const PAIRS = 50;
    try {
      const store = new RedisSagaStore({ redis: storeClient, keyPrefix: prefix });
      await store.initialize();
      // Every reply from here on is lost; the server still runs each command, then the connection drops
      // and ioredis re-sends all of them on a new one.
      relay.dropReplies();
      const pairs = Array.from({ length: PAIRS }, (_, i) =>
        Promise.allSettled(["a", "b"].map((side) => store.insert(SAGA, `pair-${i}`, sagaBusState(`${side}-${i}`, { side })))),
      );
      await sleep(60);
      relay.cut();
      const settled = await Promise.all(pairs);

      const problems: string[] = [];
      const loserErrors: Record<string, number> = {};
      for (let i = 0; i < PAIRS; i++) {
        const ids = [`a-${i}`, `b-${i}`];
        const winners = ids.filter((_, k) => settled[i]![k]!.status === "fulfilled");
        if (winners.length !== 1) {
          problems.push(`pair-${i}: ${winners.length} winners`);
          continue;
        }
        const winner = winners[0]!;
        const loser = ids.find((id) => id !== winner)!;
        const reason = (settled[i]![ids.indexOf(loser)] as PromiseRejectedResult).reason;
        addCount(loserErrors, reason?.code ?? reason?.name);
        if (!(reason instanceof SagaAlreadyExistsError || reason instanceof WriteOutcomeUnknownError)) {
          problems.push(`pair-${i}: loser got ${reason?.name}: ${reason?.message}`);
        }
        if ((await store.findByCorrelationId(SAGA, `pair-${i}`))?.metadata.sagaId !== winner) problems.push(`pair-${i}: stored saga is not ${winner}`);
        if ((await store.findById(SAGA, winner))?.metadata.sagaId !== winner) problems.push(`pair-${i}: findById(${winner}) wrong`);
        if ((await store.findById(SAGA, loser)) !== null) problems.push(`pair-${i}: findById(${loser}) is not null`);
        const loserIndex = await admin.get(indexKeyOf(prefix, SAGA, loser));
        if (loserIndex !== null) problems.push(`pair-${i}: loser index ${loser} -> ${loserIndex} (dangling)`);
      }
      report("insert pairs, replies lost", { droppedBytes: relay.droppedBytes, loserErrors, problems: problems.length });
      expect(relay.droppedBytes).toBeGreaterThan(0);
      expect(problems).toEqual([]);
    } finally {
      await close();
    }
  });
});
