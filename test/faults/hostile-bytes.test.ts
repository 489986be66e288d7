/**
 * Hostile bytes at STORE level on a real Redis.
 * test/decode-fuzz.test.ts covers the serializer alone; here the bytes sit at
 * a saga's value key (written with a raw ioredis SET, the saga's index key
 * pointing at it) and go through the whole store: the Lua scripts that read
 * the envelope header on the server, the retries, the index cache.
 *
 * ~2,000 generated cases in nine families: random bytes; random bytes behind
 * an envelope-looking header; 0.2.2-looking JSON (random, mangled, valid);
 * truncated envelopes of every codec, compressed or not; bit-flipped
 * envelopes (anywhere, or only in the payload so the header stays intact);
 * envelopes declaring unknown codecs / format versions / flags or random
 * header fields; compression bombs (deflate flag set, a small deflate-raw
 * payload inflating past maxStateBytes); and valid envelopes whose payload
 * carries a hostile saga identity (empty, lone surrogate, 2,000 chars, not
 * a string, missing).
 *
 * Each case runs findByCorrelationId, findById, modify, save, update,
 * deleteById and deleteByCorrelationId, re-planting the bytes (and the index)
 * before each call. The oracle is a reference EnvelopeSerializer with the
 * store's options: when it cannot decode the bytes, every non-delete call
 * must reject with DecodeError (DECODE_FAILED, `.key` = the value key) or
 * the size error and leave the raw bytes unchanged. deleteById has exactly
 * one right outcome per stored value, read off its header by the README's
 * envelope table (restated in deleteByIdOutcome below): this saga's value is
 * deleted with its index, another saga's is left and false returned, and a
 * header this version cannot read is a DecodeError(key) that leaves value and
 * index untouched. deleteByCorrelationId deletes. When the bytes still
 * decode, reads must succeed, a write may land (and must then read back) or
 * be refused with a typed SagaStoreError
 * that leaves the bytes unchanged. Never another exception. Process heap
 * growth over the whole run stays under 64 MB.
 *
 * Violations are collected per call kind (one `it` each) with the family,
 * the bytes (hex, first 96 bytes) and what was seen, so one kind of failure
 * does not hide another. FUZZ_SEED=<n> replays a run.
 *
 * Figures: test/.figures/faults.json, key "hostile-bytes".
 */
import { createHash } from "node:crypto";
import { deflateRawSync } from "node:zlib";
import fc from "fast-check";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER_SIZE } from "../../codecs/envelope";
import { EnvelopeSerializer } from "../../codecs/serializer";
import {
  ConcurrencyError,
  DecodeError,
  InvalidKeyError,
  InvalidStateError,
  SagaNotFoundError,
  SagaStoreError,
  SchemaVersionAheadError,
  StateTooLargeError,
  isUnreadable,
  type SagaStore,
} from "../../src/index";
import { KeyLayout } from "../../src/keys";
import { envelopeHeader, envelopeWriters, KNOWN_CODEC_IDS } from "../support/envelopes";
import { forcedGc } from "../support/heap";
import { redisEngine, sagaBusState } from "../support/stores";
import { recordFigures } from "./figures";

const SAGA = "Fuzz";
const MAX_STATE_BYTES = 64 * 1024;
const HEAP_GROWTH_LIMIT = 64 * 1024 * 1024;
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() % 2 ** 31;

/** Per family: how many cases. About 2,000 in all. */
const FAMILIES = {
  randomBytes: 250,
  headerThenRandom: 200,
  legacyJson: 200,
  truncated: 250,
  bitFlipped: 350,
  payloadFlipped: 200,
  headerFields: 250,
  bomb: 150,
  hostileIdentity: 150,
} as const;
type Family = keyof typeof FAMILIES;

const CALLS = ["findByCorrelationId", "findById", "modify", "save", "update", "deleteById", "deleteByCorrelationId"] as const;
type Call = (typeof CALLS)[number];

// ---- forced GC (no vitest config change needed) ----------------------------------------

const gc = forcedGc();
async function heapUsed(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc?.();
  }
  return process.memoryUsage().heapUsed;
}

// ---- envelopes to mutate -----------------------------------------------------------------

const writers = envelopeWriters({ maxStateBytes: MAX_STATE_BYTES });
type Writer = (typeof writers)[number];

/** JSON-safe saga fields (so any codec's state can be re-encoded by the store's JSON codec on write). */
const REFUSED_KEYS = new Set(["__proto__", "constructor", "prototype", "metadata", "id", "correlationId", "version"]);
const fieldsArb = fc.dictionary(
  fc.string({ maxLength: 10 }).filter((key) => !REFUSED_KEYS.has(key)),
  fc.oneof(fc.integer(), fc.string({ maxLength: 20 }), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 4 })),
  { maxKeys: 6 },
);
/** A repetitive filler makes compression kick in for the compressing writers. */
const fillerArb = fc.tuple(fc.constantFrom("a", "xyz", "{}", "😀"), fc.nat({ max: 600 })).map(([unit, n]) => unit.repeat(n));

interface Source {
  writer: Writer;
  fields: Record<string, unknown>;
  filler: string;
  version: number;
  shape: "saga-bus" | "seed";
}
const sourceArb: fc.Arbitrary<Source> = fc.record({
  writer: fc.constantFrom(...writers),
  fields: fieldsArb,
  filler: fillerArb,
  version: fc.nat({ max: 1000 }),
  shape: fc.constantFrom("saga-bus" as const, "seed" as const),
});

/** The state a store would have written for saga `sid` at correlation id `cid`. */
function stateOf(source: Source, sid: string, cid: string, identity?: unknown): Record<string, unknown> {
  const id = identity === undefined ? sid : identity;
  const withId = (object: Record<string, unknown>, field: string) => (identity === MISSING ? object : { ...object, [field]: id });
  if (source.shape === "saga-bus") {
    return { ...source.fields, filler: source.filler, metadata: withId({ version: source.version, createdAt: new Date(0), updatedAt: new Date(0), isCompleted: false }, "sagaId") };
  }
  return withId({ correlationId: cid, status: "running", data: { ...source.fields, filler: source.filler }, version: source.version }, "id");
}

/**
 * A real envelope, as another process would have written it: its write token's 4-byte process part is
 * inverted, so no handful of bit flips can turn it into a token this process's store is about to use
 * (which write.lua would take for its own landed write and report as already written).
 */
function envelopeOf(source: Source, sid: string, cid: string, identity?: unknown): Buffer {
  const bytes = source.writer.serializer.encode(SAGA, stateOf(source, sid, cid, identity), { sagaId: sid, sagaVersion: source.version, schemaVersion: 1 });
  for (let i = 12; i < 16; i++) bytes[i] = ~bytes[i]! & 0xff;
  return bytes;
}

function header(format: number, codecId: number, flags: number, sid: string | undefined, version = 0): Buffer {
  // Take the fingerprint from a real envelope of this saga id, so the header claims the right saga.
  const fingerprint = sid === undefined ? undefined : writers[0]!.serializer.encode(SAGA, {}, { sagaId: sid, sagaVersion: 0, schemaVersion: 1 }).subarray(20, 28);
  return envelopeHeader(format, codecId, flags, version, fingerprint);
}

// ---- cases ---------------------------------------------------------------------------------

interface Planted {
  bytes: Buffer;
  /** The version a caller that loaded this saga before the damage would hold. */
  version: number;
}
interface Case {
  family: Family;
  plant(sid: string, cid: string): Planted;
}

const MISSING = Symbol("missing");
const flipsArb = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 6 });
function flip(bytes: Buffer, flips: Array<[number, number]>, from: number): Buffer {
  const mutated = Buffer.from(bytes);
  const span = mutated.length - from;
  if (span <= 0) return mutated;
  for (const [at, bit] of flips) mutated[from + (at % span)]! ^= 1 << bit;
  return mutated;
}

const familyArbs: Record<Family, fc.Arbitrary<Case>> = {
  randomBytes: fc.uint8Array({ maxLength: 300 }).map((raw) => ({ family: "randomBytes", plant: () => ({ bytes: Buffer.from(raw), version: 0 }) })),
  headerThenRandom: fc
    .tuple(fc.constantFrom(1, 0, 2, 255), fc.constantFrom(1, 2, 3, 0, 4, 127, 128, 255), fc.constantFrom(0, 1, 2, 3, 255), fc.boolean(), fc.uint8Array({ maxLength: 200 }))
    .map(([format, codecId, flags, ownFingerprint, tail]) => ({
      family: "headerThenRandom",
      plant: (sid) => ({ bytes: Buffer.concat([header(format, codecId, flags, ownFingerprint ? sid : undefined), Buffer.from(tail)]), version: 0 }),
    })),
  legacyJson: fc
    .oneof(
      fc.json({ maxDepth: 3 }).map((text) => (_sid: string) => Buffer.from(" " + text, "utf8")),
      fc.uint8Array({ maxLength: 120 }).map((tail) => () => Buffer.concat([Buffer.from("{"), Buffer.from(tail)])),
      fc
        .tuple(fieldsArb, fc.nat({ max: 50 }), fc.nat(), fc.string({ maxLength: 3 }))
        .map(([fields, version, at, insert]) => (sid: string) => {
          const text = JSON.stringify({ id: sid, correlationId: "x", status: "running", data: fields, version });
          const cut = at % (text.length + 1);
          return Buffer.from(text.slice(0, cut) + insert + text.slice(cut + (at % 3)), "utf8");
        }),
      fc.tuple(fieldsArb, fc.nat({ max: 50 })).map(([fields, version]) => (sid: string) => Buffer.from(JSON.stringify({ id: sid, status: "running", data: fields, version }), "utf8")),
    )
    .map((bytesFor) => ({ family: "legacyJson", plant: (sid) => ({ bytes: bytesFor(sid), version: 0 }) })),
  truncated: fc.tuple(sourceArb, fc.nat()).map(([source, n]) => ({
    family: "truncated",
    plant: (sid, cid) => {
      const bytes = envelopeOf(source, sid, cid);
      return { bytes: bytes.subarray(0, n % bytes.length), version: source.version };
    },
  })),
  bitFlipped: fc.tuple(sourceArb, flipsArb).map(([source, flips]) => ({
    family: "bitFlipped",
    plant: (sid, cid) => ({ bytes: flip(envelopeOf(source, sid, cid), flips, 0), version: source.version }),
  })),
  payloadFlipped: fc.tuple(sourceArb, flipsArb).map(([source, flips]) => ({
    family: "payloadFlipped",
    plant: (sid, cid) => ({ bytes: flip(envelopeOf(source, sid, cid), flips, HEADER_SIZE), version: source.version }),
  })),
  headerFields: fc
    .tuple(
      sourceArb,
      fc.oneof(
        fc.record({ at: fc.constant(1), value: fc.integer({ min: 0, max: 255 }).filter((f) => f !== 1) }),
        fc.record({ at: fc.constant(2), value: fc.integer({ min: 0, max: 255 }).filter((c) => c < 1 || c > 3) }),
        fc.record({ at: fc.constant(3), value: fc.integer({ min: 2, max: 255 }) }),
        fc.record({ at: fc.constantFrom(4, 8, 12, 20), value: fc.integer({ min: 0, max: 2 ** 32 - 1 }) }),
      ),
    )
    .map(([source, { at, value }]) => ({
      family: "headerFields",
      plant: (sid, cid) => {
        const bytes = Buffer.from(envelopeOf(source, sid, cid));
        if (at < 4) bytes[at] = value;
        else bytes.writeUInt32BE(value, at);
        return { bytes, version: source.version };
      },
    })),
  bomb: fc
    .tuple(fc.constantFrom(1, 2, 3), fc.constantFrom(1, 3, 0x81), fc.integer({ min: 1, max: 8 * MAX_STATE_BYTES }), fc.constantFrom(0, 0x7b, 0x20, 0x91, 0x22), fc.boolean())
    .map(([codecId, flags, extra, fill, ownFingerprint]) => ({
      family: "bomb",
      plant: (sid) => ({
        bytes: Buffer.concat([header(1, codecId, flags, ownFingerprint ? sid : undefined), deflateRawSync(Buffer.alloc(MAX_STATE_BYTES + extra, fill), { level: 9 })]),
        version: 0,
      }),
    })),
  hostileIdentity: fc
    .tuple(sourceArb, fc.constantFrom<unknown>("", " ", "\ud800", "a\udc00", "x".repeat(2000), 42, null, true, { id: 1 }, MISSING))
    .map(([source, identity]) => ({
      family: "hostileIdentity",
      plant: (sid, cid) => ({ bytes: envelopeOf(source, sid, cid, identity), version: source.version }),
    })),
};

// ---- the oracle -----------------------------------------------------------------------------

const reference = new EnvelopeSerializer({ maxStateBytes: MAX_STATE_BYTES });

interface Violation {
  family: Family;
  call: Call;
  /** "wrote" = a write landed over bytes the store cannot decode; "threw" = the wrong outcome, nothing written. */
  kind: "wrote" | "threw";
  /** The bytes' envelope header declares a codec or flags this version cannot read (format 1, >= 28 bytes). */
  unreadableHeader: boolean;
  observed: string;
  expected: string;
  bytes: string;
}

/** A header write.lua accepts: format 1, known flags, a built-in or custom (128-255) codec id. */
/** README "Envelope format": flag bits 0 (deflate) and 1 (encrypted) are known, any other is not. */
const README_KNOWN_FLAGS = 0x03;

function headerIntact(bytes: Buffer): boolean {
  return bytes.length >= HEADER_SIZE && bytes[0] === 0xfe && bytes[1] === 1 && (bytes[3]! & ~README_KNOWN_FLAGS) === 0 && (KNOWN_CODEC_IDS.has(bytes[2]!) || bytes[2]! >= 128);
}
function declaresUnknownCodecOrFlags(bytes: Buffer): boolean {
  return bytes.length >= HEADER_SIZE && bytes[0] === 0xfe && bytes[1] === 1 && (!KNOWN_CODEC_IDS.has(bytes[2]!) || (bytes[3]! & ~README_KNOWN_FLAGS) !== 0);
}

type DeleteByIdOutcome = "deleted" | "not this saga's" | "unreadable";

/**
 * What deleteById must do with `bytes` at the value key saga `sid`'s index points to, restated from the
 * README rather than taken from the store's own code, so the two can disagree. An envelope (first byte
 * 0xFE) names its saga by the fingerprint at bytes 20-27 (first 8 bytes of SHA-1 of the saga id), but
 * only when this version can read its header: at least 28 bytes, format 1, no flag beyond bits 0 and 1, codec
 * id 1-3 or a custom 128-255. Anything else is a 0.2.2 JSON value naming its saga by `metadata.sagaId`
 * (when a string) or else `id`; bytes that name no saga either way are unreadable.
 */
function deleteByIdOutcome(bytes: Buffer, sid: string): DeleteByIdOutcome {
  const fingerprintOf = (id: string) => createHash("sha1").update(id, "utf8").digest().subarray(0, 8);
  if (bytes[0] === 0xfe) {
    const codec = bytes[2]!;
    const readable = bytes.length >= HEADER_SIZE && bytes[1] === 1 && (bytes[3]! & ~README_KNOWN_FLAGS) === 0 && (KNOWN_CODEC_IDS.has(codec) || codec >= 128);
    if (!readable) return "unreadable";
    return bytes.subarray(20, 28).equals(fingerprintOf(sid)) ? "deleted" : "not this saga's";
  }
  let doc: any;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch {
    return "unreadable";
  }
  if (doc === null || typeof doc !== "object") return "unreadable";
  const busId = doc.metadata !== null && typeof doc.metadata === "object" && typeof doc.metadata.sagaId === "string" ? doc.metadata.sagaId : undefined;
  const id = busId ?? doc.id;
  if (typeof id !== "string") return "unreadable";
  return id === sid ? "deleted" : "not this saga's";
}

const violations = new Map<Call, Violation[]>(CALLS.map((call) => [call, []]));
/** call -> outcome -> count, e.g. modify -> { DECODE_FAILED: 812, ok: 40, SAGA_NOT_FOUND: 3 } */
const outcomes: Record<Call, Record<string, number>> = Object.fromEntries(CALLS.map((call) => [call, {}])) as Record<Call, Record<string, number>>;
const familyOutcomes: Record<string, { cases: number; decodable: number }> = {};

function describeError(error: unknown): string {
  if (error instanceof SagaStoreError) return `${error.name}(${error.code}): ${error.message.slice(0, 200)}`;
  return `${(error as Error)?.name ?? typeof error}: ${String((error as Error)?.message ?? error).slice(0, 200)}`;
}

/** Refusals a write may give when the stored bytes still decode (a damaged header or identity can make them say so). */
const WRITE_REFUSALS_WHEN_DECODABLE = [ConcurrencyError, SagaNotFoundError, SchemaVersionAheadError, InvalidStateError, InvalidKeyError, StateTooLargeError, DecodeError];

describe("hostile bytes at a saga's value key, through the store (Redis)", () => {
  const engine = redisEngine();
  let store: SagaStore;
  let redis: Redis;
  let layout: KeyLayout;
  let prefix: string;
  const figures: Record<string, unknown> = { seed: SEED, maxStateBytes: MAX_STATE_BYTES, forcedGc: gc ? "v8 gc (exposed at runtime)" : "unavailable" };

  beforeAll(async () => {
    const opened = await engine.open({ maxStateBytes: MAX_STATE_BYTES, retryDelayMs: 1 });
    store = opened.store;
    redis = opened.redis!;
    prefix = opened.prefix;
    layout = new KeyLayout(prefix);

    const cases: Case[] = [];
    let offset = 0;
    for (const [family, count] of Object.entries(FAMILIES) as Array<[Family, number]>) {
      cases.push(...fc.sample(familyArbs[family], { numRuns: count, seed: SEED + offset++ }));
    }

    const heapBefore = await heapUsed();
    const started = performance.now();
    let n = 0;
    for (const c of cases) await runCase(c, n++);
    const ms = Math.round(performance.now() - started);
    const heapAfter = await heapUsed();
    Object.assign(figures, {
      cases: cases.length,
      ms,
      heapUsedBeforeMB: +(heapBefore / 2 ** 20).toFixed(1),
      heapUsedAfterMB: +(heapAfter / 2 ** 20).toFixed(1),
      heapGrowthMB: +((heapAfter - heapBefore) / 2 ** 20).toFixed(1),
      families: familyOutcomes,
      outcomes,
      violations: Object.fromEntries([...violations].map(([call, list]) => [call, list.length])),
    });
    figures.heapGrowthBytes = heapAfter - heapBefore;
  }, 120_000);

  afterAll(async () => {
    recordFigures("hostile-bytes", figures);
    const keys = await redis?.keys(`${prefix}*`);
    if (keys?.length) await redis.del(...keys);
    await engine.closeAll();
  });

  async function runCase(c: Case, n: number): Promise<void> {
    const sid = `fs-${n}`;
    const cid = `fc-${n}`;
    const valueKey = layout.valueKey(SAGA, cid);
    const indexKey = layout.indexKey(SAGA, sid);
    const { bytes, version } = c.plant(sid, cid);
    let decodable = true;
    try {
      reference.decode(valueKey, bytes);
    } catch (error) {
      // An encrypted-payload flag names a key id, and this store holds no keys: unreadable as well.
      if (!isUnreadable(error)) throw new Error(`reference serializer threw ${describeError(error)} (covered by test/decode-fuzz.test.ts)`);
      decodable = false;
    }
    const family = (familyOutcomes[c.family] ??= { cases: 0, decodable: 0 });
    family.cases++;
    if (decodable) family.decodable++;

    const replant = () => Promise.all([redis.set(valueKey, bytes), redis.set(indexKey, cid)]);
    const raw = () => redis.getBuffer(valueKey);
    const bump = (state: Record<string, unknown>) => ({ ...state, bumped: n });
    const runs: Record<Call, () => Promise<unknown>> = {
      findByCorrelationId: () => store.findByCorrelationId(SAGA, cid),
      findById: () => store.findById(SAGA, sid),
      modify: () => store.modify(SAGA, cid, bump),
      save: () => store.save(SAGA, { id: sid, correlationId: cid, status: "running", data: { saved: n }, version }),
      update: () => store.update(SAGA, sagaBusState(sid, { updated: n }, version), version),
      deleteById: () => store.deleteById(SAGA, sid),
      deleteByCorrelationId: () => store.deleteByCorrelationId(SAGA, cid),
    };

    for (const call of CALLS) {
      await replant();
      let value: unknown;
      let error: unknown;
      let failed = false;
      try {
        value = await runs[call]();
      } catch (caught) {
        failed = true;
        error = caught;
      }
      const after = await raw();
      const unchanged = after !== null && after.equals(bytes);
      const indexAfter = call === "deleteById" ? await redis.get(indexKey) : undefined;
      const index = indexAfter === undefined ? undefined : indexAfter === null ? "gone" : indexAfter === cid ? "kept" : "changed";
      const outcome = failed ? ((error as SagaStoreError)?.code ?? (error as Error)?.name ?? "non-error") : value === null ? "null" : value === false ? "false" : "ok";
      outcomes[call][outcome] = (outcomes[call][outcome] ?? 0) + 1;
      const problem = judge(call, decodable, failed, value, error, unchanged, after, valueKey, sid, bytes, index);
      if (problem) {
        violations.get(call)!.push({
          family: c.family,
          call,
          kind: !unchanged && after !== null ? "wrote" : "threw",
          unreadableHeader: declaresUnknownCodecOrFlags(bytes),
          observed: problem.observed,
          expected: problem.expected,
          bytes: `${bytes.length} bytes ${bytes.subarray(0, 96).toString("hex")}${bytes.length > 96 ? "…" : ""}`,
        });
      }
    }
    await redis.del(valueKey, indexKey);
  }

  function judge(
    call: Call,
    decodable: boolean,
    failed: boolean,
    value: unknown,
    error: unknown,
    unchanged: boolean,
    after: Buffer | null,
    valueKey: string,
    sid: string,
    bytes: Buffer,
    index?: "gone" | "kept" | "changed",
  ): { observed: string; expected: string } | undefined {
    const observed = () => `${failed ? `threw ${describeError(error)}` : `resolved ${JSON.stringify(value)?.slice(0, 120)}`}; raw bytes ${after === null ? "gone" : unchanged ? "unchanged" : "CHANGED"}`;
    const isDecodeError = isUnreadable(error) && error.key === valueKey;
    const isSizeError = error instanceof StateTooLargeError;

    if (call === "deleteByCorrelationId") {
      // Deletes by design, readable or not; reports it did.
      if (failed || value !== true || after !== null) return { observed: observed(), expected: "resolves true, the value is gone" };
      return undefined;
    }
    if (call === "deleteById") {
      const withIndex = () => `${observed()}, index ${index}`;
      switch (deleteByIdOutcome(bytes, sid)) {
        case "unreadable":
          if (failed && isDecodeError && unchanged && index === "kept") return undefined;
          return { observed: withIndex(), expected: "DecodeError(key), value and index untouched: the header names no saga this version can read" };
        case "deleted":
          if (!failed && value === true && after === null && index === "gone") return undefined;
          return { observed: withIndex(), expected: "true, value and index gone (this saga's value)" };
        case "not this saga's":
          if (!failed && value === false && unchanged) return undefined;
          return { observed: withIndex(), expected: "false, the value left as it was (another saga's)" };
      }
    }
    if (!decodable) {
      if (failed && (isDecodeError || isSizeError) && unchanged) return undefined;
      // A write refused with a typed error that wrote nothing is fine whatever the code: the write script reads
      // 0.2.2 JSON with cjson, which accepts a few things JSON.parse does not (0x1, NaN), so it may see a version.
      if ((call === "save" || call === "update") && failed && error instanceof SagaStoreError && unchanged) return undefined;
      if ((call === "save" || call === "update") && headerIntact(bytes)) {
        // Documented limit: the write script reads only the header, so a blind compare-and-set carrying the
        // stored version replaces a damaged payload behind an intact header (a caller that read first got
        // DECODE_FAILED and could not know the version). Otherwise: a typed refusal that wrote nothing.
        if (!failed) {
          const stored = reference.decode(valueKey, after ?? Buffer.alloc(0)).state as { id?: unknown; metadata?: { sagaId?: unknown } };
          if ((stored.metadata?.sagaId ?? stored.id) === sid) return undefined;
        } else if (error instanceof SagaStoreError && unchanged) return undefined;
        return { observed: observed(), expected: "behind an intact header: the state written, or a typed refusal with the raw bytes unchanged" };
      }
      return { observed: observed(), expected: "DecodeError (DECODE_FAILED, key = value key) or the size error, raw bytes unchanged (the reference serializer cannot decode them)" };
    }
    // The bytes still decode.
    if (call === "findByCorrelationId") {
      if (!failed && value !== null && typeof value === "object" && unchanged) return undefined;
      return { observed: observed(), expected: "the decoded state (the bytes decode), raw bytes unchanged" };
    }
    if (call === "findById") {
      if (!failed && unchanged && (value === null || (typeof value === "object" && ((value as { id?: unknown; metadata?: { sagaId?: unknown } }).metadata?.sagaId ?? (value as { id?: unknown }).id) === sid))) {
        return undefined;
      }
      return { observed: observed(), expected: "the decoded state when it is this saga's, else null; raw bytes unchanged" };
    }
    // modify / save / update on decodable bytes: a write that reads back, or a typed refusal that wrote nothing.
    if (!failed) {
      try {
        const stored = reference.decode(valueKey, after ?? Buffer.alloc(0)).state as { id?: unknown; metadata?: { sagaId?: unknown } };
        if ((stored.metadata?.sagaId ?? stored.id) === sid || call === "modify") return undefined;
      } catch {
        // fall through
      }
      return { observed: observed(), expected: "after a successful write the value decodes to the state written" };
    }
    if (WRITE_REFUSALS_WHEN_DECODABLE.some((type) => error instanceof type) && unchanged) return undefined;
    return { observed: observed(), expected: "a typed SagaStoreError refusal with the raw bytes unchanged" };
  }

  /** Passes when `call` had no violation; else fails listing counts by family and a few examples (with FUZZ_SEED to replay). */
  const expectNoViolation = (call: Call, only: (v: Violation) => boolean = () => true) => {
    const list = violations.get(call)!.filter(only);
    const byFamily: Record<string, number> = {};
    const byObserved: Record<string, number> = {};
    for (const v of list) {
      byFamily[v.family] = (byFamily[v.family] ?? 0) + 1;
      const kind = v.observed.replace(/"[^"]*"/g, '"…"').replace(/\d+/g, "N").slice(0, 140);
      byObserved[kind] = (byObserved[kind] ?? 0) + 1;
    }
    const examples = [...new Map(list.map((v) => [v.family + v.observed.slice(0, 40), v])).values()].slice(0, 4);
    expect(list.length, `${call}: ${list.length} violations (FUZZ_SEED=${SEED})\n${JSON.stringify({ byFamily, byObserved, examples }, null, 2)}`).toBe(0);
  };

  it("ran about 2,000 cases, some of each family still decodable and most not", () => {
    expect(figures.cases).toBe(Object.values(FAMILIES).reduce((a, b) => a + b, 0));
    expect(familyOutcomes.randomBytes!.decodable).toBeLessThan(FAMILIES.randomBytes);
    expect(familyOutcomes.truncated!.decodable).toBe(0);
    expect(familyOutcomes.bomb!.decodable).toBe(0);
    expect(familyOutcomes.hostileIdentity!.decodable).toBe(FAMILIES.hostileIdentity);
    const undecodable = Object.values(familyOutcomes).reduce((sum, f) => sum + f.cases - f.decodable, 0);
    expect(undecodable).toBeGreaterThan(1_000);
  });

  it.each(["findByCorrelationId", "findById"] as const)("%s: DecodeError(key) for undecodable bytes, the state for decodable ones; never another exception, never a write", (call) => {
    expectNoViolation(call);
  });

  it("modify: DecodeError(key) for undecodable bytes and nothing written; never another exception", () => {
    expectNoViolation("modify");
  });

  // save/update carry the version a caller held before the bytes were damaged, so the header-only
  // compare-and-set in src/lua/write.lua would let them through if it trusted a damaged value.
  it.each(["save", "update"] as const)("%s never writes over bytes whose header this version cannot vouch for", (call) => {
    expectNoViolation(call, (v) => v.kind === "wrote");
  });

  it.each(["save", "update"] as const)("%s never overwrites an envelope declaring a codec or flags this version cannot read", (call) => {
    expectNoViolation(call, (v) => v.kind === "wrote" && v.unreadableHeader);
  });

  it.each(["save", "update"] as const)("%s refuses undecodable bytes with a typed error, never another exception", (call) => {
    expectNoViolation(call, (v) => v.kind === "threw");
  });

  it("deleteById: true with value and index gone for this saga's value, false for another saga's, DecodeError(key) with both untouched for a header this version cannot read", async () => {
    // Values planted by hand first, one named outcome each, so every kind of header is covered
    // whatever the fuzz seed drew; then the same rule over the generated cases. The unreadable
    // headers are this saga's own envelope with one header byte changed: the payload still decodes
    // and the fingerprint is right, so only the header can make deleteById refuse.
    const json = writers.find((w) => w.codec === "json" && !w.compressed)!.serializer;
    const deflated = writers.find((w) => w.codec === "msgpack" && w.compressed)!.serializer;
    const ownEnvelope = (sid: string, serializer = json) => serializer.encode(SAGA, sagaBusState(sid, { n: 1 }), { sagaId: sid, sagaVersion: 0, schemaVersion: 1 });
    const withByte = (bytes: Buffer, at: number, value: number) => {
      const changed = Buffer.from(bytes);
      changed[at] = value;
      return changed;
    };
    const DELETED = { result: "true", value: "gone", index: "gone" };
    const NOT_OURS = { result: "false", value: "kept", index: expect.any(String) };
    const REFUSED = { result: "DecodeError(key)", value: "kept", index: "kept" };
    const planted: Array<[label: string, bytes: (sid: string) => Buffer, expected: object]> = [
      ["this saga's json envelope", (sid) => ownEnvelope(sid), DELETED],
      ["this saga's compressed msgpack envelope", (sid) => ownEnvelope(sid, deflated), DELETED],
      ["this saga's 0.2.2 seed-shaped JSON", (sid) => Buffer.from(JSON.stringify({ id: sid, correlationId: "x", status: "running", data: {}, version: 0 })), DELETED],
      ["this saga's 0.2.2 saga-bus JSON", (sid) => Buffer.from(JSON.stringify({ n: 1, metadata: { sagaId: sid, version: 0 } })), DELETED],
      ["this saga's header with a custom codec id (128)", (sid) => withByte(ownEnvelope(sid), 2, 128), DELETED],
      ["another saga's envelope", () => ownEnvelope("someone-else"), NOT_OURS],
      ["another saga's 0.2.2 JSON", () => Buffer.from(JSON.stringify({ id: "someone-else", status: "running", data: {}, version: 0 })), NOT_OURS],
      ["format 1, codec 1, flags 0x04 (an unknown flag bit)", (sid) => withByte(ownEnvelope(sid), 3, 0x04), REFUSED],
      ["flags 0x05 (deflate plus an unknown bit)", (sid) => withByte(ownEnvelope(sid), 3, 0x05), REFUSED],
      ["flags 0x80", (sid) => withByte(ownEnvelope(sid), 3, 0x80), REFUSED],
      ["format 0", (sid) => withByte(ownEnvelope(sid), 1, 0), REFUSED],
      ["format 2", (sid) => withByte(ownEnvelope(sid), 1, 2), REFUSED],
      ["format 255", (sid) => withByte(ownEnvelope(sid), 1, 255), REFUSED],
      ["codec id 0", (sid) => withByte(ownEnvelope(sid), 2, 0), REFUSED],
      ["codec id 4", (sid) => withByte(ownEnvelope(sid), 2, 4), REFUSED],
      ["codec id 127", (sid) => withByte(ownEnvelope(sid), 2, 127), REFUSED],
      ["a header truncated to 27 bytes", (sid) => ownEnvelope(sid).subarray(0, HEADER_SIZE - 1), REFUSED],
      ["the magic byte alone", () => Buffer.from([0xfe]), REFUSED],
    ];
    const observed: Record<string, unknown> = {};
    const expected: Record<string, unknown> = {};
    for (const [i, [label, bytesOf, outcome]] of planted.entries()) {
      const sid = `del-s-${i}`;
      const cid = `del-c-${i}`;
      const valueKey = layout.valueKey(SAGA, cid);
      const indexKey = layout.indexKey(SAGA, sid);
      const bytes = bytesOf(sid);
      expect(deleteByIdOutcome(bytes, sid), `${label}: the test's own rule`).toBe(
        outcome === DELETED ? "deleted" : outcome === NOT_OURS ? "not this saga's" : "unreadable",
      );
      await Promise.all([redis.set(valueKey, bytes), redis.set(indexKey, cid)]);
      const result = await store.deleteById(SAGA, sid).then(
        (deleted) => String(deleted),
        (error: unknown) =>
          error instanceof DecodeError && error.code === "DECODE_FAILED" && error.key === valueKey ? "DecodeError(key)" : `threw ${describeError(error)}`,
      );
      const valueAfter = await redis.getBuffer(valueKey);
      const indexAfter = await redis.get(indexKey);
      observed[label] = {
        result,
        value: valueAfter === null ? "gone" : valueAfter.equals(bytes) ? "kept" : "changed",
        index: indexAfter === null ? "gone" : indexAfter === cid ? "kept" : "changed",
      };
      expected[label] = outcome;
      await redis.del(valueKey, indexKey);
    }
    expect.soft(observed).toEqual(expected);
    expectNoViolation("deleteById");
  });

  it("deleteByCorrelationId: removes whatever bytes are there and says so; never an exception", () => {
    expectNoViolation("deleteByCorrelationId");
  });

  it("process heap grows by less than 64 MB over the whole run", () => {
    expect(figures.heapGrowthBytes as number).toBeLessThan(HEAP_GROWTH_LIMIT);
  });
});

describe("a compression bomb against the default 8 MiB limit, through the store (Redis)", () => {
  const engine = redisEngine();
  afterAll(() => engine.closeAll());

  it("64 MiB of zeros in a ~64 KB deflate payload: every read is a fast DecodeError(key), nothing written, heap bounded", async () => {
    const { store, redis, prefix } = await engine.open();
    const layout = new KeyLayout(prefix);
    const compressed = deflateRawSync(Buffer.alloc(64 * 2 ** 20), { level: 9 });
    const heapBefore = await heapUsed();
    const timings: number[] = [];
    try {
      for (const codecId of [1, 2, 3]) {
        const cid = `bomb-${codecId}`;
        const sid = `bomb-s-${codecId}`;
        const valueKey = layout.valueKey(SAGA, cid);
        const bytes = Buffer.concat([header(1, codecId, 1, sid), compressed]);
        expect(bytes.length).toBeLessThan(100 * 1024);
        await redis!.set(valueKey, bytes);
        await redis!.set(layout.indexKey(SAGA, sid), cid);
        for (const run of [
          () => store.findByCorrelationId(SAGA, cid),
          () => store.findById(SAGA, sid),
          () => store.modify(SAGA, cid, (s) => s),
        ]) {
          const started = performance.now();
          const error = await run().then(
            () => undefined,
            (e: unknown) => e,
          );
          timings.push(performance.now() - started);
          expect(error).toBeInstanceOf(DecodeError);
          expect(error).toMatchObject({ code: "DECODE_FAILED", key: valueKey });
          expect((error as Error).message).toMatch(/inflates past 8388608 bytes/);
          expect((await redis!.getBuffer(valueKey))!.equals(bytes)).toBe(true);
        }
      }
      const heapGrowth = (await heapUsed()) - heapBefore;
      expect(heapGrowth).toBeLessThan(HEAP_GROWTH_LIMIT);
      expect(Math.max(...timings)).toBeLessThan(2_000);
      recordFigures("hostile-bytes.bomb-8MiB", {
        inflatedBytes: 64 * 2 ** 20,
        storedBytes: compressed.length + HEADER_SIZE,
        slowestCallMs: Math.round(Math.max(...timings)),
        heapGrowthMB: +(heapGrowth / 2 ** 20).toFixed(1),
      });
    } finally {
      const keys = await redis!.keys(`${prefix}*`);
      if (keys.length) await redis!.del(...keys);
    }
  });
});
