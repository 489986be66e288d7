/**
 * Decode bombs at STORE level, on the embedded engine and on a redis-server of
 * this test's own: values whose bytes are small (or at least within
 * maxStateBytes) but would decode into millions of objects.
 *
 * The bombs, one per format, each planted at a saga's value key with the
 * saga's index pointing at it:
 *   - msgpack: 8,000,000 empty maps (0x80) in one array, deflated to ~8 KB (it
 *     inflates to 8,000,010 bytes, under the default 8 MiB): 512 MiB of heap
 *     and ~3 s per read before maxStateContainers;
 *   - json and superjson: `{}` repeated to just under 8 MiB (2.8 M objects),
 *     deflated to ~8 KB;
 *   - a 0.2.2 plain-JSON value of the same text, stored as it is (8 MB).
 * Each is read 8 times concurrently through every read call
 * (findByCorrelationId, getByCorrelationId, findById, getById, modify): every
 * read is refused with DecodeError (DECODE_FAILED, `.key` the value key,
 * naming maxStateContainers), the stored bytes are identical afterwards, and
 * the heap grows by less than READ_HEAP_BOUND over each batch of 8.
 *
 * Writes, with maxStateContainers set to WRITE_LIMIT (100,000: the rule is
 * the same at any limit, and superjson alone takes ~5 s to serialize a
 * million objects): a state of more containers is refused with
 * StateTooLargeError (STATE_TOO_LARGE, limitContainers set) for every codec
 * and for writeFormat "0.2.2", by insert and by update, before any command
 * reaches Redis (INFO commandstats does not move), nothing stored. At the
 * boundary: a state counting exactly the limit round-trips (insert, both
 * finds, update) and one more container is refused on write and, planted as
 * bytes, on read.
 *
 * The bound itself: for each of the densest shapes we know (COSTLY: empty
 * maps, objects with keys no other has, Errors, typed arrays, compiled record
 * readers, dictionary-sized records, superjson paths...), as many items as the
 * store's own count accepts at the default limits (one more is refused) are
 * read once, with heap growth below ACCEPTED_HEAP_BOUND, the figure the README
 * states. Sized by the scanner itself, so a weight set too low shows here.
 *
 * Figures: test/.figures/faults.json, key "decode-bounds".
 */
import { deflateRawSync } from "node:zlib";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER_SIZE } from "../../codecs/envelope";
import { jsonCodec, msgpackCodec, superjsonCodec } from "../../codecs/index";
import { EnvelopeSerializer } from "../../codecs/serializer";
import { jsonContainers, superjsonContainers } from "../../codecs/json-containers";
import { msgpackContainers } from "../../codecs/msgpack-containers";
import {
  DEFAULT_MAX_STATE_BYTES,
  DEFAULT_MAX_STATE_CONTAINERS,
  DecodeError,
  MemoryEngine,
  RedisSagaStore,
  SagaStore,
  StateTooLargeError,
  sagaIdFingerprint,
  type AnySagaState,
  type SagaStoreOptions,
} from "../../src/index";
import { CODECS, CODEC_IDS, envelopeHeader, type CodecName } from "../support/envelopes";
import { forcedGc } from "../support/heap";
import { indexKeyOf, valueKeyOf } from "../support/key-layout";
import { spawnRedisServer } from "../support/redis-server";
import { sagaBusState, uniquePrefix } from "../support/stores";
import { recordFigures } from "./figures";

const SAGA = "Bomb";
const MIB = 2 ** 20;
/** Heap growth allowed over a batch of 8 concurrent refused reads (each inflates its payload outside the heap and counts). */
const READ_HEAP_BOUND = 64 * MIB;
/** The README's bound on what one accepted read builds at the default limits. */
const ACCEPTED_HEAP_BOUND = 256 * MIB;
const CONCURRENT_READS = 8;
const WRITE_LIMIT = 100_000;

const gc = forcedGc();
async function heapUsed(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc?.();
  }
  return process.memoryUsage().heapUsed;
}

// ---- the bombs ---------------------------------------------------------------------------

type Format = CodecName | "0.2.2";
const FORMATS: readonly Format[] = [...CODECS, "0.2.2"];

/** `head`, `unit` × count, `tail`, built in one buffer. */
function repeated(head: string | Buffer, unit: Buffer, count: number, tail: string | Buffer): Buffer {
  const [h, t] = [Buffer.from(head), Buffer.from(tail)];
  const out = Buffer.allocUnsafe(h.length + unit.length * count + t.length);
  h.copy(out, 0);
  for (let i = 0, at = h.length; i < count; i++, at += unit.length) unit.copy(out, at);
  t.copy(out, out.length - t.length);
  return out;
}

/** `{"a":[{},{},...,{}], ...}` just under 8 MiB: 2.8 million objects. */
function jsonBombText(superjson: boolean): Buffer {
  const count = Math.floor((DEFAULT_MAX_STATE_BYTES - 64) / 3);
  return superjson ? repeated('{"json":{"a":[', Buffer.from("{},"), count, '{}]}}') : repeated('{"a":[', Buffer.from("{},"), count, "{}]}");
}

interface Bomb {
  format: Format;
  /** The payload (the value itself for 0.2.2), and the bytes stored at the key for saga `sid`. */
  payloadBytes: number;
  stored(sid: string): Buffer;
}

function bomb(format: Format): Bomb {
  if (format === "0.2.2") {
    const text = jsonBombText(false);
    return { format, payloadBytes: text.length, stored: () => text };
  }
  const payload =
    format === "msgpack"
      ? // { a: [8,000,000 empty maps] }: fixmap 1, "a", array 32, then 0x80 per map.
        repeated(Buffer.from([0x81, 0xa1, 0x61, 0xdd, 0x00, 0x7a, 0x12, 0x00]), Buffer.from([0x80]), 8_000_000, Buffer.alloc(0))
      : jsonBombText(format === "superjson");
  const deflated = deflateRawSync(payload, { level: 9 });
  return {
    format,
    payloadBytes: payload.length,
    stored: (sid) => Buffer.concat([envelopeHeader(1, CODEC_IDS[format], 1, 0, sagaIdFingerprint(sid)), deflated]),
  };
}

// ---- engines ------------------------------------------------------------------------------

interface Opened {
  store: SagaStore;
  valueKey(correlationId: string): string;
  indexKey(sagaId: string): string;
  plant(key: string, bytes: Buffer | string): Promise<void>;
  raw(key: string): Promise<Buffer | null>;
}
interface Engine {
  name: "memory" | "redis";
  open(options?: SagaStoreOptions): Promise<Opened>;
}

let server: Awaited<ReturnType<typeof spawnRedisServer>>;
let admin: Redis;
const clients: Redis[] = [];
const figures: Record<string, unknown> = {
  maxStateBytes: DEFAULT_MAX_STATE_BYTES,
  maxStateContainers: DEFAULT_MAX_STATE_CONTAINERS,
  concurrentReads: CONCURRENT_READS,
  forcedGc: gc ? "v8 gc (exposed at runtime)" : "unavailable",
};

beforeAll(async () => {
  server = await spawnRedisServer();
  admin = new Redis(server.url);
});

afterAll(async () => {
  recordFigures("decode-bounds", figures);
  await Promise.all(clients.splice(0).map((client) => client.quit()));
  await admin?.quit();
  await server?.stop();
});

const ENGINES: Engine[] = [
  {
    name: "memory",
    async open(options = {}) {
      const prefix = uniquePrefix();
      const engine = new MemoryEngine();
      const store = new SagaStore({ ...options, keyPrefix: prefix }, () => engine);
      await store.initialize();
      return {
        store,
        valueKey: (cid) => valueKeyOf(prefix, SAGA, cid),
        indexKey: (sid) => indexKeyOf(prefix, SAGA, sid),
        plant: async (key, bytes) => engine.plant(key, Buffer.from(bytes)),
        raw: async (key) => engine.peek(key) ?? null,
      };
    },
  },
  {
    name: "redis",
    async open(options = {}) {
      const prefix = uniquePrefix();
      const client = new Redis(server.url);
      clients.push(client);
      const store = new RedisSagaStore({ ...options, redis: client, keyPrefix: prefix });
      await store.initialize();
      return {
        store,
        valueKey: (cid) => valueKeyOf(prefix, SAGA, cid),
        indexKey: (sid) => indexKeyOf(prefix, SAGA, sid),
        plant: async (key, bytes) => void (await admin.set(key, bytes)),
        raw: (key) => admin.getBuffer(key),
      };
    },
  },
];

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

const READS = ["findByCorrelationId", "getByCorrelationId", "findById", "getById", "modify"] as const;
type Read = (typeof READS)[number];

function describeOutcome(outcome: PromiseSettledResult<unknown>, valueKey: string): string {
  if (outcome.status === "fulfilled") return "resolved";
  const error = outcome.reason as DecodeError;
  if (error instanceof DecodeError && error.code === "DECODE_FAILED" && error.key === valueKey && /maxStateContainers/.test(error.message)) return "DecodeError(key, maxStateContainers)";
  return `${(error as Error)?.name}: ${(error as Error)?.message?.slice(0, 160)}`;
}

// ---- reads --------------------------------------------------------------------------------

describe.each(ENGINES.map((engine) => [engine.name, engine] as const))("decode bombs on the %s engine", (_name, engine) => {
  it.each(FORMATS)("%s bomb: 8 concurrent reads through every read call are refused with DecodeError(key); bytes untouched, heap bounded", async (format) => {
    const { store, valueKey, indexKey, plant, raw } = await engine.open();
    const planted = bomb(format);
    const sid = `bomb-${format}`;
    const cid = `c-bomb-${format}`;
    const bytes = planted.stored(sid);
    await plant(valueKey(cid), bytes);
    await plant(indexKey(sid), cid);
    const runs: Record<Read, () => Promise<unknown>> = {
      findByCorrelationId: () => store.findByCorrelationId(SAGA, cid),
      getByCorrelationId: () => store.getByCorrelationId(SAGA, cid),
      findById: () => store.findById(SAGA, sid),
      getById: () => store.getById(SAGA, sid),
      modify: () => store.modify(SAGA, cid, (state: AnySagaState) => ({ ...state, touched: true })),
    };
    const observed: Record<string, Record<string, number>> = {};
    const expected: Record<string, Record<string, number>> = {};
    const growth: Record<string, number> = {};
    const slowest: Record<string, number> = {};
    for (const read of READS) {
      const heapBefore = await heapUsed();
      const outcomes = await Promise.allSettled(
        Array.from({ length: CONCURRENT_READS }, async () => {
          const from = performance.now();
          try {
            return await runs[read]();
          } finally {
            slowest[read] = Math.max(slowest[read] ?? 0, performance.now() - from);
          }
        }),
      );
      growth[read] = (await heapUsed()) - heapBefore;
      observed[read] = {};
      for (const outcome of outcomes) {
        const label = describeOutcome(outcome, valueKey(cid));
        observed[read]![label] = (observed[read]![label] ?? 0) + 1;
      }
      expected[read] = { "DecodeError(key, maxStateContainers)": CONCURRENT_READS };
      expect((await raw(valueKey(cid)))?.equals(bytes), `${read}: stored bytes unchanged`).toBe(true);
      expect((await raw(indexKey(sid)))?.toString(), `${read}: index unchanged`).toBe(cid);
    }
    expect(observed).toEqual(expected);
    for (const read of READS) expect(growth[read], `${read}: heap growth over ${CONCURRENT_READS} concurrent reads`).toBeLessThan(READ_HEAP_BOUND);
    figures[`${engine.name}.${format}`] = {
      payloadBytes: planted.payloadBytes,
      storedBytes: bytes.length,
      slowestReadMs: Math.round(Math.max(...Object.values(slowest))),
      maxHeapGrowthMB: +(Math.max(...Object.values(growth)) / MIB).toFixed(1),
    };
  }, 60_000);
});

// ---- writes -------------------------------------------------------------------------------

/** A saga-bus state holding `items` empty objects besides its own (root, metadata and the array). */
const stateWith = (sid: string, items: number) => sagaBusState(sid, { items: Array.from({ length: items }, () => ({})) });

type Writer = { name: Format; options: SagaStoreOptions };
const WRITERS: Writer[] = [...CODECS.map((codec): Writer => ({ name: codec, options: { codec } })), { name: "0.2.2", options: { writeFormat: "0.2.2" } } as Writer].map(
  (writer) => ({ ...writer, options: { ...writer.options, maxStateContainers: WRITE_LIMIT } }),
);

/** The count the store makes of what `writer` writes for `state`, read off its own serializer's bytes. */
function countOf(writer: Writer, state: AnySagaState): number {
  const serializer = new EnvelopeSerializer({ ...writer.options, compressAboveBytes: 0, maxStateContainers: Number.MAX_SAFE_INTEGER });
  const bytes = serializer.encode(SAGA, state, { sagaId: "s", sagaVersion: 1, schemaVersion: 1 });
  const codec = writer.name === "0.2.2" ? "json" : writer.name;
  const count = codec === "msgpack" ? msgpackContainers : codec === "superjson" ? superjsonContainers : jsonContainers;
  return count(bytes, HEADER_SIZE, Infinity);
}

describe("writes are held to the same count (Redis)", () => {
  const redisEngine = ENGINES[1]!;

  it.each(WRITERS.map((w) => [w.name, w] as const))("%s: a state of more containers than the limit is refused before any command is sent; nothing stored", async (name, writer) => {
    const { store, valueKey, indexKey, raw } = await redisEngine.open(writer.options);
    const sid = `over-${name}`;
    const over = stateWith(sid, WRITE_LIMIT + 100);
    const before = await commandCalls();
    const insert = await store.insert(SAGA, "c-over", over).then(
      () => "accepted",
      (error: unknown) => error,
    );
    expect(callsSince(before, await commandCalls())).toEqual({});
    expect(insert).toBeInstanceOf(StateTooLargeError);
    expect(insert).toMatchObject({ code: "STATE_TOO_LARGE", sagaName: SAGA, limitContainers: WRITE_LIMIT, limitBytes: DEFAULT_MAX_STATE_BYTES });
    expect((insert as StateTooLargeError).sizeBytes).toBeLessThan(DEFAULT_MAX_STATE_BYTES);
    expect(await admin.exists(valueKey("c-over"), indexKey(sid))).toBe(0);

    // An update of a stored saga to such a state: refused, no write, the stored bytes as they were.
    const small = sagaBusState(`grow-${name}`, { items: [] });
    await store.insert(SAGA, "c-grow", small);
    const stored = await raw(valueKey("c-grow"));
    const beforeUpdate = await commandCalls();
    const update = await store.update(SAGA, stateWith(`grow-${name}`, WRITE_LIMIT + 100), 0).then(
      () => "accepted",
      (error: unknown) => error,
    );
    expect(callsSince(beforeUpdate, await commandCalls())).toEqual({});
    expect(update).toBeInstanceOf(StateTooLargeError);
    expect((await raw(valueKey("c-grow")))?.equals(stored!)).toBe(true);
    figures[`writeRefused.${name}`] = { sizeBytes: (insert as StateTooLargeError).sizeBytes, commandsSent: 0 };
  }, 60_000);

  it.each(WRITERS.map((w) => [w.name, w] as const))("%s: a state counting exactly the limit round-trips; one more container is refused on write and, planted, on read", async (name, writer) => {
    const { store, valueKey, plant } = await redisEngine.open(writer.options);
    // The count is affine in the number of items past the first few (msgpack compiles its record reader at the 4th).
    const [at10, at20] = [countOf(writer, stateWith("s", 10)), countOf(writer, stateWith("s", 20))];
    const perItem = (at20 - at10) / 10;
    expect(perItem).toBe(1);
    const items = WRITE_LIMIT - (at10 - 10);
    const sid = `edge-${name}`;
    const atLimit = stateWith(sid, items);
    expect(countOf(writer, atLimit)).toBe(WRITE_LIMIT);
    const oneMore = stateWith(sid, items + 1);
    expect(countOf(writer, oneMore)).toBe(WRITE_LIMIT + 1);

    await store.insert(SAGA, "c-edge", atLimit);
    expect((await store.findByCorrelationId(SAGA, "c-edge"))?.items).toHaveLength(items);
    const found = await store.findById(SAGA, sid);
    expect(found?.items).toHaveLength(items);
    await store.update(SAGA, { ...found!, marker: 1 }, 0);
    expect((await store.findByCorrelationId(SAGA, "c-edge"))?.marker).toBe(1);

    await expect(store.update(SAGA, { ...oneMore, metadata: { ...oneMore.metadata, version: 1 } }, 1)).rejects.toBeInstanceOf(StateTooLargeError);
    // The same bytes another writer (with a higher limit) could have stored: refused on read.
    const unbounded = new EnvelopeSerializer({ ...writer.options, maxStateContainers: Number.MAX_SAFE_INTEGER });
    const request = unbounded.encode(SAGA, oneMore, { sagaId: sid, sagaVersion: 5, schemaVersion: 1 });
    await plant(valueKey("c-edge"), name === "0.2.2" ? request.subarray(HEADER_SIZE) : request);
    const refused = await store.findByCorrelationId(SAGA, "c-edge").then(
      () => "accepted",
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(DecodeError);
    expect(refused).toMatchObject({ code: "DECODE_FAILED", key: valueKey("c-edge") });
    figures[`boundary.${name}`] = { items, containers: WRITE_LIMIT };
  }, 60_000);
});

// ---- the bound ----------------------------------------------------------------------------

/** A distinct 4-character key per index (90 printable characters, no quote or backslash). */
function freshKey(i: number): number[] {
  const chars: number[] = [];
  for (let k = 0; k < 4; k++, i = Math.floor(i / 90)) chars.push(0x23 + (i % 90) + (0x23 + (i % 90) >= 0x5c ? 1 : 0));
  return chars;
}

interface Costly {
  name: string;
  codec: CodecName;
  /** The payload holding `n` items. */
  payload(n: number): Buffer;
}

const u32be = (n: number) => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
/** msgpack `{ a: [...] }` of n copies of unit(i) (`perUnit` array items each), `prefix` first in the array. */
function msgpackOf(n: number, unit: (i: number) => number[] | Buffer, { perUnit = 1, prefix = [] as number[], prefixItems = 0 } = {}): Buffer {
  const parts: Buffer[] = [Buffer.from([0x81, 0xa1, 0x61, 0xdd, ...u32be(n * perUnit + prefixItems), ...prefix])];
  for (let i = 0; i < n; i++) parts.push(Buffer.from(unit(i)));
  return Buffer.concat(parts);
}
const jsonOf = (n: number, unit: (i: number) => string, superjson = false) => {
  const items = Array.from({ length: n }, (_, i) => unit(i)).join(",");
  return Buffer.from(superjson ? `{"json":{"a":[${items}]}}` : `{"a":[${items}]}`);
};
const printable = (i: number) => String.fromCharCode(...freshKey(i));
const BIG_RECORD_KEYS = 1024;
const bigRecordDefinition = [0xd4, 0x72, 0x00, 0xdc, BIG_RECORD_KEYS >> 8, BIG_RECORD_KEYS & 0xff, ...Array.from({ length: BIG_RECORD_KEYS }, (_, k) => [0xa4, ...freshKey(k)]).flat(), ...Array(BIG_RECORD_KEYS).fill(0)];
const bigRecordReference = Buffer.concat([Buffer.from([0x40]), Buffer.alloc(BIG_RECORD_KEYS)]);

/**
 * The densest ways we know to turn stored bytes into heap (see codecs/msgpack-containers.ts and
 * bench/decode-bombs.ts): one object per byte or two, objects with keys no other object has (a hidden
 * class or a dictionary each), msgpack's costly instances, record readers compiled by msgpackr, records
 * of dictionary size, superjson's paths.
 */
const COSTLY: Costly[] = [
  { name: "empty maps", codec: "msgpack", payload: (n) => msgpackOf(n, () => [0x80]) },
  { name: "objects with fresh keys", codec: "msgpack", payload: (n) => msgpackOf(n, (i) => [0x81, 0xa4, ...freshKey(i), 0x00]) },
  { name: "Errors", codec: "msgpack", payload: (n) => msgpackOf(n, () => [0xd4, 0x65, 0x00, 0x90]) },
  { name: "typed arrays", codec: "msgpack", payload: (n) => msgpackOf(n, () => [0xd4, 0x74, 0x01]) },
  { name: "Sets", codec: "msgpack", payload: (n) => msgpackOf(n, () => [0xd4, 0x73, 0x00, 0x90]) },
  { name: "bins", codec: "msgpack", payload: (n) => msgpackOf(n, () => [0xc4, 0x00]) },
  { name: "Dates", codec: "msgpack", payload: (n) => msgpackOf(n, () => [0xd4, 0xff, 0xff]) },
  {
    name: "compiled record readers",
    codec: "msgpack",
    payload: (n) => msgpackOf(n, (i) => [0xd4, 0x72, 0x00, 0x91, 0xa4, ...freshKey(i), 0x00, 0x40, 0x00, 0x40, 0x00, 0x40, 0x00], { perUnit: 4 }),
  },
  { name: `records of ${BIG_RECORD_KEYS} keys`, codec: "msgpack", payload: (n) => msgpackOf(n, () => bigRecordReference, { prefix: bigRecordDefinition, prefixItems: 1 }) },
  { name: "empty objects", codec: "json", payload: (n) => jsonOf(n, () => "{}") },
  { name: "objects with fresh keys", codec: "json", payload: (n) => jsonOf(n, (i) => `{"${printable(i)}":0}`) },
  { name: "objects with fresh keys", codec: "superjson", payload: (n) => jsonOf(n, (i) => `{"${printable(i)}":0}`, true) },
  {
    name: "referential-equality paths",
    codec: "superjson",
    payload: (n) => Buffer.from(`{"json":{"a":1},"meta":{"referentialEqualities":{"a":[${Array.from({ length: n }, () => '"b"').join(",")}]}}}`),
  },
];

const CODEC_OBJECTS = { json: jsonCodec, superjson: superjsonCodec, msgpack: msgpackCodec } as const;

/** Whether the store reads `payload` of `codec` at the default limits (the codec's own count, as the store makes it). */
function accepted(codec: CodecName, payload: Buffer): boolean {
  if (payload.length > DEFAULT_MAX_STATE_BYTES) return false;
  try {
    return CODEC_OBJECTS[codec].countContainers!(payload, 0, DEFAULT_MAX_STATE_CONTAINERS) <= DEFAULT_MAX_STATE_CONTAINERS;
  } catch {
    return false;
  }
}

/** The most items the store accepts: the count is affine in the items (read off two small payloads), then checked at the edge. */
function mostAccepted(shape: Costly): number {
  const count = (n: number) => {
    const payload = shape.payload(n);
    const counter = shape.codec === "msgpack" ? msgpackContainers : shape.codec === "superjson" ? superjsonContainers : jsonContainers;
    return counter(payload, 0, Infinity);
  };
  const [small, large] = [count(1000), count(2000)];
  const perItem = (large - small) / 1000;
  const bytesPerItem = (shape.payload(2000).length - shape.payload(1000).length) / 1000;
  let n = Math.min(perItem > 0 ? Math.floor((DEFAULT_MAX_STATE_CONTAINERS - (small - 1000 * perItem)) / perItem) : Infinity, Math.floor(DEFAULT_MAX_STATE_BYTES / bytesPerItem));
  for (let tries = 0; tries < 64 && n > 0 && !accepted(shape.codec, shape.payload(n)); tries++) n--;
  return n;
}

describe("the costliest reads the default limits let through", () => {
  it.each(COSTLY.map((shape) => [`${shape.codec}, ${shape.name}`, shape] as const))(
    `%s: as many as the store accepts build less than ${ACCEPTED_HEAP_BOUND / MIB} MiB of heap in one read`,
    async (label, shape) => {
      const { store, valueKey, plant } = await ENGINES[0]!.open();
      const n = mostAccepted(shape);
      const payload = shape.payload(n);
      expect(accepted(shape.codec, payload)).toBe(true);
      expect(accepted(shape.codec, shape.payload(n + 1))).toBe(false);
      const bytes = Buffer.concat([envelopeHeader(1, CODEC_IDS[shape.codec], 1, 0), deflateRawSync(payload)]);
      await plant(valueKey("c-costly"), bytes);

      const heapBefore = await heapUsed();
      const started = performance.now();
      let state: unknown = await store.findByCorrelationId(SAGA, "c-costly");
      const ms = performance.now() - started;
      const growth = (await heapUsed()) - heapBefore;
      expect(state).not.toBeNull();
      state = undefined;
      expect(growth).toBeLessThan(ACCEPTED_HEAP_BOUND);
      figures[`costliest.${label}`] = { items: n, payloadBytes: payload.length, storedBytes: bytes.length, readMs: Math.round(ms), heapGrowthMB: +(growth / MIB).toFixed(1) };
    },
    60_000,
  );
});
