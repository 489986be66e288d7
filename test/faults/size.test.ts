/**
 * Size limits on Redis, on a redis-server of this test's own.
 *
 * For every built-in codec (json, superjson, msgpack) with the default
 * maxStateBytes (DEFAULT_MAX_STATE_BYTES, 8 MiB of encoded payload before
 * compression):
 *   - a ~5 MB state round-trips through insert, findByCorrelationId,
 *     findById and update, byte for byte in its fields;
 *   - a ~9 MB state is refused with StateTooLargeError (STATE_TOO_LARGE)
 *     before anything is sent: the server's command counters do not move
 *     (no write command at all; for insert no command at all), and neither the
 *     value key nor the index key exists afterwards; an update that large
 *     leaves the stored saga as it was;
 *   - with maxStateBytes set to 64 KiB, a ~100 KB state is refused the same
 *     way and a ~50 KB state is accepted.
 *
 * Figures (sizes and timings): test/.figures/faults.json, key "size".
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILT_IN_CODECS, type BuiltInCodecName } from "../../codecs/index";
import { DEFAULT_MAX_STATE_BYTES, RedisSagaStore, StateTooLargeError, type AnySagaState } from "../../src/index";
import { CODECS } from "../support/envelopes";
import { indexKeyOf, valueKeyOf } from "../support/key-layout";
import { spawnRedisServer } from "../support/redis-server";
import { sagaBusState, uniquePrefix } from "../support/stores";
import { recordFigures } from "./figures";

const SAGA = "Big";
const MB = 1_000_000;
const SMALL_LIMIT = 64 * 1024;

/** A state whose JSON is about `bytes` long: 1 000-character hex strings (random, so compression cannot hide the size entirely). */
function stateOfSize(sagaId: string, bytes: number): AnySagaState {
  const items = Array.from({ length: Math.ceil(bytes / 1_003) }, () => randomBytes(500).toString("hex"));
  return sagaBusState(sagaId, { counter: 0, items });
}

let server: Awaited<ReturnType<typeof spawnRedisServer>>;
let admin: Redis;
const clients: Redis[] = [];
const figures: Record<string, unknown> = { defaultMaxStateBytes: DEFAULT_MAX_STATE_BYTES, smallLimit: SMALL_LIMIT };

beforeAll(async () => {
  server = await spawnRedisServer();
  admin = new Redis(server.url);
});

afterAll(async () => {
  recordFigures("size", figures);
  await Promise.all(clients.splice(0).map((client) => client.quit()));
  await admin?.quit();
  await server?.stop();
});

async function openStore(codec: BuiltInCodecName, extra: { maxStateBytes?: number } = {}) {
  const client = new Redis(server.url);
  clients.push(client);
  const prefix = uniquePrefix();
  const store = new RedisSagaStore({ redis: client, keyPrefix: prefix, codec, ...extra });
  await store.initialize();
  return {
    store,
    valueKey: (correlationId: string) => valueKeyOf(prefix, SAGA, correlationId),
    indexKey: (sagaId: string) => indexKeyOf(prefix, SAGA, sagaId),
  };
}

/** Calls per command since server start, from INFO commandstats (the admin's own INFO left out). */
async function commandCalls(): Promise<Record<string, number>> {
  const info = (await admin.info("commandstats")) as string;
  const calls: Record<string, number> = {};
  for (const [, name, n] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (name !== "info") calls[name!] = Number(n);
  return calls;
}

function callsSince(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [name, n] of Object.entries(after)) if (n !== (before[name] ?? 0)) delta[name] = n - (before[name] ?? 0);
  return delta;
}

const WRITE_COMMANDS = ["set", "eval", "evalsha", "getdel", "del", "pexpire", "persist"];

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await run();
  return { value, ms: Math.round(performance.now() - started) };
}

async function refusal(run: () => Promise<unknown>): Promise<StateTooLargeError | string> {
  try {
    await run();
    return "accepted";
  } catch (error) {
    return error instanceof StateTooLargeError ? error : `${(error as Error)?.name}: ${(error as Error)?.message}`;
  }
}

describe.each(CODECS)("codec %s on Redis, default maxStateBytes", (codec) => {
  it("a ~5 MB state round-trips through insert, findByCorrelationId, findById and update", async () => {
    const { store, valueKey } = await openStore(codec);
    const state = stateOfSize(`big-${codec}`, 5 * MB);
    const payloadBytes = BUILT_IN_CODECS[codec].encode(state, 0).length;
    expect(payloadBytes).toBeGreaterThan(4.9 * MB);
    expect(payloadBytes).toBeLessThan(DEFAULT_MAX_STATE_BYTES);

    const insert = await timed(() => store.insert(SAGA, "c-big", state));
    const storedBytes = await admin.strlen(valueKey("c-big"));
    const find = await timed(() => store.findByCorrelationId(SAGA, "c-big"));
    expect(find.value?.items).toEqual(state.items);
    expect(find.value?.counter).toBe(0);
    expect(find.value?.metadata.version).toBe(0);
    const findById = await timed(() => store.findById(SAGA, `big-${codec}`));
    expect(findById.value?.items).toEqual(state.items);

    const next = { ...find.value!, counter: 1, items: [...state.items].reverse() };
    const update = await timed(() => store.update(SAGA, next, 0));
    const reread = await store.findByCorrelationId(SAGA, "c-big");
    expect(reread?.counter).toBe(1);
    expect(reread?.metadata.version).toBe(1);
    expect(reread?.items).toEqual(next.items);

    figures[`roundTrip.${codec}`] = {
      payloadBytes,
      storedBytes,
      insertMs: insert.ms,
      findByCorrelationIdMs: find.ms,
      findByIdMs: findById.ms,
      updateMs: update.ms,
    };
  }, 30_000);

  it("a ~9 MB state is refused with STATE_TOO_LARGE before anything is sent; an update that large leaves the saga as it was", async () => {
    const { store, valueKey, indexKey } = await openStore(codec);
    const huge = stateOfSize(`huge-${codec}`, 9 * MB);

    const before = await commandCalls();
    const refusedAt = performance.now();
    const insertError = await refusal(() => store.insert(SAGA, "c-huge", huge));
    const refusedInMs = Math.round(performance.now() - refusedAt);
    const sent = callsSince(before, await commandCalls());
    expect(insertError).toBeInstanceOf(StateTooLargeError);
    const error = insertError as StateTooLargeError;
    expect(error.code).toBe("STATE_TOO_LARGE");
    expect(error.limitBytes).toBe(DEFAULT_MAX_STATE_BYTES);
    expect(error.sizeBytes).toBeGreaterThan(DEFAULT_MAX_STATE_BYTES);
    expect(error.sagaName).toBe(SAGA);
    expect(sent).toEqual({});
    expect(await admin.exists(valueKey("c-huge"), indexKey(`huge-${codec}`))).toBe(0);

    // Update of a stored saga with a state above the limit: refused, nothing written, the saga unchanged.
    await store.insert(SAGA, "c-grow", sagaBusState(`grow-${codec}`, { counter: 0, items: ["small"] }));
    const storedBefore = await admin.getBuffer(valueKey("c-grow"));
    const beforeUpdate = await commandCalls();
    const updateError = await refusal(() => store.update(SAGA, { ...huge, metadata: { ...huge.metadata, sagaId: `grow-${codec}` } }, 0));
    const sentByUpdate = callsSince(beforeUpdate, await commandCalls());
    expect(updateError).toBeInstanceOf(StateTooLargeError);
    expect(WRITE_COMMANDS.filter((name) => sentByUpdate[name])).toEqual([]);
    expect((await admin.getBuffer(valueKey("c-grow")))?.equals(storedBefore!)).toBe(true);
    const unchanged = await store.findByCorrelationId(SAGA, "c-grow");
    expect(unchanged?.items).toEqual(["small"]);
    expect(unchanged?.metadata.version).toBe(0);

    figures[`refused.${codec}`] = { sizeBytes: error.sizeBytes, limitBytes: error.limitBytes, refusedInMs, commandsSent: sent, commandsSentByUpdate: sentByUpdate };
  }, 30_000);

  it(`maxStateBytes ${SMALL_LIMIT}: a ~100 KB state is refused before anything is sent, a ~50 KB state round-trips`, async () => {
    const { store, valueKey, indexKey } = await openStore(codec, { maxStateBytes: SMALL_LIMIT });
    const tooBig = stateOfSize(`over-${codec}`, 100_000);
    const before = await commandCalls();
    const refused = await refusal(() => store.insert(SAGA, "c-over", tooBig));
    const sent = callsSince(before, await commandCalls());
    expect(refused).toBeInstanceOf(StateTooLargeError);
    expect((refused as StateTooLargeError).limitBytes).toBe(SMALL_LIMIT);
    expect((refused as StateTooLargeError).sizeBytes).toBeGreaterThan(SMALL_LIMIT);
    expect(sent).toEqual({});
    expect(await admin.exists(valueKey("c-over"), indexKey(`over-${codec}`))).toBe(0);

    const fits = stateOfSize(`fits-${codec}`, 50_000);
    const fitsBytes = BUILT_IN_CODECS[codec].encode(fits, 0).length;
    expect(fitsBytes).toBeLessThan(SMALL_LIMIT);
    await store.insert(SAGA, "c-fits", fits);
    expect((await store.findById(SAGA, `fits-${codec}`))?.items).toEqual(fits.items);

    figures[`smallLimit.${codec}`] = { refusedSizeBytes: (refused as StateTooLargeError).sizeBytes, acceptedSizeBytes: fitsBytes, limitBytes: SMALL_LIMIT };
  }, 30_000);
});
