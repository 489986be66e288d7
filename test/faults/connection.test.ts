/**
 * Connection faults, each on a redis-server of this test's own.
 *
 * (a) CLIENT KILL of the store's connection, 6 times under load. The
 *     correctness of this is asserted in test/resend.test.ts (one contended
 *     saga); here 16 callers each increment their OWN saga, so the figures for
 *     the Reliability table are exact per saga: acknowledged, errors by code,
 *     and double-applied increments (must be 0).
 * (b) A server that stops answering for longer than the client's command
 *     timeout: `CLIENT PAUSE 3000 ALL`, and `DEBUG SLEEP 3` (the whole server
 *     frozen). The store's own client is created from
 *     `connection: { commandTimeout: 200 }`; 16 callers run modify increments
 *     with maxRetries 1. Asserted: every call settles within the bound the
 *     options imply (never waiting out the pause), errors are the store's
 *     types, and once the server answers again every saga's counter lies in
 *     [acked, acked + calls the store said may have applied]: the commands
 *     that timed out run late, and their re-sent copies must not apply twice.
 *
 * Figures: test/.figures/faults.json, keys "connection.clientKill",
 * "connection.clientPause" and "connection.debugSleep".
 */
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { RedisSagaStore, type AnySagaState } from "../../src/index";
import { countHung, countRejection, describeError, newCallerAccount, sleep, sumCounts, within, type CallerAccount } from "../support/load";
import { clientIdByName, spawnRedisServer } from "../support/redis-server";
import { sagaBusState, uniquePrefix } from "../support/stores";
import { recordFigures } from "./figures";

const SAGA = "Counter";
const CALLERS = 16;
/** Codes a connection fault may produce. Anything else (or an untyped error) fails the test. */
const EXPECTED_CODES = new Set(["REDIS_UNAVAILABLE", "WRITE_OUTCOME_UNKNOWN", "SAGA_CONFLICT"]);

interface Caller extends CallerAccount {
  correlationId: string;
  sagaId: string;
  settleMs: number[];
  /** performance.now() of every settlement, with whether it was acknowledged. */
  settled: Array<{ at: number; ok: boolean }>;
}

/** CALLERS async callers, each looping modify(+1) on its own saga until stopped; every call bounded by callTimeoutMs. */
async function startLoad(store: RedisSagaStore, callTimeoutMs: number) {
  const callers: Caller[] = Array.from({ length: CALLERS }, (_, i) => ({
    correlationId: `caller-${i}`,
    sagaId: `saga-${i}`,
    ...newCallerAccount(),
    settleMs: [],
    settled: [],
  }));
  await Promise.all(callers.map((c) => store.insert(SAGA, c.correlationId, sagaBusState(c.sagaId, { counter: 0 }))));
  let stopped = false;
  const loop = async (caller: Caller) => {
    while (!stopped) {
      const started = performance.now();
      const outcome = await within(
        store.modify(SAGA, caller.correlationId, (state: AnySagaState) => ({ ...state, counter: (state.counter as number) + 1 })),
        callTimeoutMs,
      );
      const now = performance.now();
      caller.settleMs.push(now - started);
      caller.settled.push({ at: now, ok: outcome.kind === "ok" });
      if (outcome.kind === "ok") {
        caller.acked++;
        continue;
      }
      if (outcome.kind === "hung") {
        countHung(caller);
        return;
      }
      countRejection(caller, outcome.error, { expectedCodes: EXPECTED_CODES });
      await sleep(5);
    }
  };
  const running = Promise.all(callers.map(loop));
  return {
    callers,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

/** Read every saga back on a fresh client: counters against what callers were told. */
async function audit(url: string, prefix: string, callers: Caller[]) {
  const admin = new Redis(url);
  const problems: string[] = [];
  let lost = 0;
  let landedUnacknowledged = 0;
  let doubleApplied = 0;
  try {
    const reader = new RedisSagaStore({ redis: admin, keyPrefix: prefix });
    await reader.initialize();
    for (const caller of callers) {
      const state = await reader.findByCorrelationId(SAGA, caller.correlationId).catch((error: unknown) => {
        problems.push(`${caller.correlationId}: ${describeError(error)}`);
        return null;
      });
      if (!state) {
        problems.push(`${caller.correlationId}: missing`);
        continue;
      }
      const counter = state.counter as number;
      if (state.metadata.version !== counter) problems.push(`${caller.correlationId}: version ${state.metadata.version} != counter ${counter}`);
      if (counter < caller.acked) lost += caller.acked - counter;
      if (counter > caller.acked) landedUnacknowledged += counter - caller.acked;
      if (counter > caller.acked + caller.maybeApplied) {
        doubleApplied += counter - caller.acked - caller.maybeApplied;
        problems.push(`${caller.correlationId}: counter ${counter} > acked ${caller.acked} + maybe-applied ${caller.maybeApplied}`);
      }
      if (counter < caller.acked) problems.push(`${caller.correlationId}: counter ${counter} < acked ${caller.acked}`);
    }
  } finally {
    await admin.quit();
  }
  return { problems, lost, landedUnacknowledged, doubleApplied };
}

function totals(callers: Caller[]) {
  const settle = callers.flatMap((c) => c.settleMs).sort((a, b) => a - b);
  return {
    acked: callers.reduce((sum, c) => sum + c.acked, 0),
    errorsByCode: sumCounts(callers.map((c) => c.errors)),
    maybeApplied: callers.reduce((sum, c) => sum + c.maybeApplied, 0),
    hung: callers.reduce((sum, c) => sum + c.hung, 0),
    rawErrors: callers.flatMap((c) => c.raw),
    unexpectedErrors: callers.flatMap((c) => c.unexpected),
    maxSettleMs: Math.round(settle[settle.length - 1] ?? 0),
    p99SettleMs: Math.round(settle[Math.floor(settle.length * 0.99)] ?? 0),
  };
}

/** The figures every scenario records of its load: the totals (error lists as counts) and the audit's counts. */
function loadFigures(result: ReturnType<typeof totals>, checked: Awaited<ReturnType<typeof audit>>) {
  return {
    ...result,
    rawErrors: result.rawErrors.length,
    unexpectedErrors: result.unexpectedErrors.length,
    lost: checked.lost,
    landedUnacknowledged: checked.landedUnacknowledged,
    doubleApplied: checked.doubleApplied,
  };
}

const servers: Array<{ stop(): Promise<void> }> = [];
afterAll(async () => {
  await Promise.all(servers.splice(0).map((server) => server.stop()));
});

describe("CLIENT KILL of the store's connection under 16 callers, one saga each", () => {
  it("6 kills: every error typed, 0 double-applied, 0 lost; figures for the table", async () => {
    const server = await spawnRedisServer();
    servers.push(server);
    const storeOptions = { maxRetries: 3, retryDelayMs: 20 };
    const name = `fault-kill-${uniquePrefix().slice(2, 10)}`;
    const client = new Redis(server.url, { connectionName: name });
    client.on("error", () => {});
    let closes = 0;
    client.on("close", () => closes++);
    const admin = new Redis(server.url);
    const prefix = uniquePrefix();
    const store = new RedisSagaStore({ redis: client, keyPrefix: prefix, ...storeOptions });
    try {
      await store.initialize();
      const load = await startLoad(store, 10_000);
      const KILLS = 6;
      let killed = 0;
      let ackedAtLastKill = 0;
      try {
        for (let k = 0; k < KILLS; k++) {
          await sleep(150);
          const id = await clientIdByName(admin, name);
          ackedAtLastKill = load.callers.reduce((sum, c) => sum + c.acked, 0);
          killed += Number(await admin.client("KILL", "ID", id));
        }
        await sleep(300);
      } finally {
        await load.stop();
      }
      await store.close();
      const result = totals(load.callers);
      const checked = await audit(server.url, prefix, load.callers);
      recordFigures("connection.clientKill", {
        callers: CALLERS,
        store: storeOptions,
        kills: killed,
        closes,
        ...loadFigures(result, checked),
      });
      expect(result.rawErrors).toEqual([]);
      expect(result.unexpectedErrors).toEqual([]);
      expect(result.hung).toBe(0);
      expect(killed).toBe(KILLS);
      expect(closes).toBeGreaterThanOrEqual(KILLS);
      expect(result.acked).toBeGreaterThan(ackedAtLastKill);
      expect(checked.problems).toEqual([]);
      expect(checked.doubleApplied).toBe(0);
      expect(checked.lost).toBe(0);
    } finally {
      client.disconnect();
      await admin.quit();
    }
  }, 30_000);
});

const COMMAND_TIMEOUT_MS = 200;
const PAUSED_STORE = { maxRetries: 1, retryDelayMs: 100 };
const PAUSE_MS = 3_000;
/**
 * The longest a modify call may take when every command times out: each
 * command is tried maxRetries + 1 times, each attempt bounded by the command
 * timeout, with backoff (at most retryDelayMs × 2^attempt) between; a modify
 * attempt is a read then a write, and modify reloads up to maxRetries times
 * on a conflict. Plus slack for a busy machine. Below PAUSE_MS, so a call
 * that waited out the pause fails the bound.
 */
const BACKOFF_TOTAL_MS = PAUSED_STORE.retryDelayMs * (2 ** PAUSED_STORE.maxRetries - 1);
const PER_COMMAND_MS = COMMAND_TIMEOUT_MS * (PAUSED_STORE.maxRetries + 1) + BACKOFF_TOTAL_MS;
const SETTLE_BOUND_MS = (PAUSED_STORE.maxRetries + 1) * 2 * PER_COMMAND_MS + BACKOFF_TOTAL_MS + 300;

const pauses = [
  {
    label: "CLIENT PAUSE 3000 ALL",
    key: "connection.clientPause",
    args: [] as string[],
    freeze: (admin: Redis) => admin.client("PAUSE", PAUSE_MS, "ALL"),
  },
  {
    label: "DEBUG SLEEP 3",
    key: "connection.debugSleep",
    args: ["--enable-debug-command", "yes"],
    freeze: (admin: Redis) => admin.call("DEBUG", "SLEEP", String(PAUSE_MS / 1000)),
  },
];

describe.each(pauses)("server unresponsive for $label, client commandTimeout 200 ms, 16 callers", ({ key, args, freeze }) => {
  it(`every call settles within ${SETTLE_BOUND_MS} ms with a typed error or an ack; no duplicate effect after the server answers again`, async () => {
    expect(SETTLE_BOUND_MS).toBeLessThan(PAUSE_MS);
    const server = await spawnRedisServer(args);
    servers.push(server);
    const admin = new Redis(server.url);
    const prefix = uniquePrefix();
    const store = new RedisSagaStore({
      connection: { host: "127.0.0.1", port: server.port, commandTimeout: COMMAND_TIMEOUT_MS },
      keyPrefix: prefix,
      ...PAUSED_STORE,
    });
    let closed = false;
    try {
      await store.initialize();
      const load = await startLoad(store, SETTLE_BOUND_MS * 3);
      let pauseStart = 0;
      let pauseEnd = 0;
      try {
        await sleep(500);
        pauseStart = performance.now();
        // DEBUG SLEEP answers only when the sleep is over; CLIENT PAUSE answers at once.
        const frozen = freeze(admin);
        await sleep(PAUSE_MS);
        await frozen;
        pauseEnd = performance.now();
        await sleep(1_000);
      } finally {
        await load.stop();
      }
      // quit() waits for the replies of every command still queued (those that timed out run late).
      await store.close();
      closed = true;
      const result = totals(load.callers);
      const checked = await audit(server.url, prefix, load.callers);
      const settled = load.callers.flatMap((c) => c.settled);
      const failedDuringPause = settled.filter((s) => !s.ok && s.at >= pauseStart && s.at <= pauseEnd).length;
      const ackedAfterPause = settled.filter((s) => s.ok && s.at > pauseEnd).length;
      recordFigures(key, {
        callers: CALLERS,
        store: { ...PAUSED_STORE, commandTimeoutMs: COMMAND_TIMEOUT_MS },
        pauseMs: PAUSE_MS,
        settleBoundMs: SETTLE_BOUND_MS,
        ...loadFigures(result, checked),
        failedDuringPause,
        ackedAfterPause,
      });
      expect(result.rawErrors).toEqual([]);
      expect(result.unexpectedErrors).toEqual([]);
      expect(result.hung).toBe(0);
      expect(result.maxSettleMs).toBeLessThanOrEqual(SETTLE_BOUND_MS);
      // The fault really happened (calls timed out during the pause) and the store recovered after it.
      expect(failedDuringPause).toBeGreaterThan(0);
      expect(result.errorsByCode.REDIS_UNAVAILABLE ?? 0).toBeGreaterThan(0);
      expect(ackedAfterPause).toBeGreaterThan(0);
      expect(checked.problems).toEqual([]);
      expect(checked.doubleApplied).toBe(0);
      expect(checked.lost).toBe(0);
    } finally {
      if (!closed) await store.close().catch(() => {});
      await admin.quit();
    }
  }, 30_000);
});
