/**
 * One conformance suite, three engines: the embedded engine (InMemorySagaStore),
 * a standalone Redis and a Redis Cluster run the same cases through the public
 * store API, and must end the same way, in what the call returns and in the raw
 * keys it leaves behind.
 *
 * A case plants stored bytes under a saga's value key (its id index pointing at
 * them): envelopes this version cannot vouch for (an unknown flag bit, format or
 * codec id; a truncated header), 0.2.2 JSON that names no saga, another saga's
 * valid value, and readable values of this saga (an envelope, a 0.2.2 value, and
 * one inserted through the store itself) as controls. Every operation then runs
 * on a fresh copy of the case (its own saga ids and correlation ids), and its
 * outcome is recorded as plain strings: the resolved value or the error (class,
 * code, which key its `key` field or message names), then each raw key involved
 * (its bytes summarised, its expiry's sign), and for the inserts a read after.
 *
 * Two checks per case x operation: every engine's outcome equals the embedded
 * engine's (conformance), and each equals the table in `expected()`, written
 * from the README. The last test lists every departure in one place.
 *
 * Stores write with a default TTL while the planted keys have none, so a
 * refused write that still touched an expiry shows as "expires".
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sagaIdFingerprint } from "../codecs/envelope";
import { EnvelopeSerializer } from "../codecs/serializer";
import { SagaStoreError, type SagaStore } from "../src/index";
import { KeyLayout } from "../src/keys";
import { inPool, memoryRaw, redisRaw, type RawKeys, type TtlSign } from "./support/conformance";
import { envelopeHeader } from "./support/envelopes";
import { clusterEngine, memoryEngine, redisEngine, sagaBusState, uniquePrefix, type StoreHarness } from "./support/stores";

const SAGA = "Conformance";
const ENGINE_NAMES = ["memory", "redis", "cluster"] as const;
type EngineName = (typeof ENGINE_NAMES)[number];
/** Calls in flight per engine: enough to hide round trips, little enough for a shared 2-core machine. */
const CONCURRENCY = 8;

// ---- ids and keys of one run ------------------------------------------------------------

/** Each case x operation gets ids of its own, so runs never see each other's keys or cached indexes. */
interface Ids {
  /** The saga whose value key holds the case's bytes. */
  sid: string;
  cid: string;
  /** Another correlation id, for inserting `sid` a second time. */
  c2: string;
  /** A new saga id, inserted at `cid`. */
  newId: string;
  /** The saga another-saga cases store at `cid`. */
  otherId: string;
}

const KEY_LABELS = ["value", "index", "c2Value", "newIndex", "otherIndex"] as const;
type KeyLabel = (typeof KEY_LABELS)[number];

function idsFor(caseName: string, op: number): Ids {
  const at = `${caseName}.${op}`;
  return { sid: `s.${at}`, cid: `c.${at}`, c2: `c2.${at}`, newId: `n.${at}`, otherId: `o.${at}` };
}

function keysOf(layout: KeyLayout, ids: Ids): Record<KeyLabel, string> {
  return {
    value: layout.valueKey(SAGA, ids.cid),
    index: layout.indexKey(SAGA, ids.sid),
    c2Value: layout.valueKey(SAGA, ids.c2),
    newIndex: layout.indexKey(SAGA, ids.newId),
    otherIndex: layout.indexKey(SAGA, ids.otherId),
  };
}

// ---- the bytes of each case ---------------------------------------------------------------

const VERSION = 3;
const OTHER_VERSION = 5;
const AT = "2026-01-02T03:04:05.678Z";
/** Written by "another process": a token this process's writes never carry, so no write takes it for its own. */
const FOREIGN_TOKEN = Buffer.alloc(8, 0xa5);
const serializer = new EnvelopeSerializer({ compressAboveBytes: 0 });

/** A valid json-codec envelope of `sagaId` at `version`, as another instance would have written it. */
function envelopeOf(sagaId: string, version: number): Buffer {
  const bytes = serializer.encode(SAGA, sagaBusState(sagaId, { orderId: "o-1" }, version), { sagaId, sagaVersion: version, schemaVersion: 1 });
  FOREIGN_TOKEN.copy(bytes, 12);
  return bytes;
}

/** A header this saga's fingerprint vouches for, over a valid json payload: only the named header byte is odd. */
function oddHeader(format: number, codecId: number, flags: number, sagaId: string): Buffer {
  const payload = Buffer.from(JSON.stringify(sagaBusState(sagaId, { orderId: "o-1" }, VERSION)), "utf8");
  return Buffer.concat([envelopeHeader(format, codecId, flags, VERSION, sagaIdFingerprint(sagaId)), payload]);
}

/** What 0.2.2 wrote: the JSON text of the state, ISO dates, the version in metadata. */
function legacyValue(metadata: Record<string, unknown>): Buffer {
  return Buffer.from(JSON.stringify({ orderId: "o-1", metadata: { createdAt: AT, updatedAt: AT, isCompleted: false, archivedAt: null, timeoutExpiresAt: null, ...metadata } }), "utf8");
}

type Kind = "unreadable" | "legacy-no-id" | "other-saga" | "own";

interface Case {
  name: string;
  kind: Kind;
  /** The version a caller that loaded `sid` holds. */
  version: number;
  /** The expiry the plant leaves on the value and index keys. */
  ttl: Exclude<TtlSign, "missing">;
  plant(ids: Ids, store: SagaStore, raw: RawKeys, keys: Record<KeyLabel, string>): Promise<void>;
}

/** A case of bytes planted under `cid`, with `sid`'s index pointing at them. */
function planted(name: string, kind: Kind, bytesFor: (ids: Ids) => Buffer): Case {
  return {
    name,
    kind,
    version: VERSION,
    ttl: "persist",
    async plant(ids, _store, raw, keys) {
      await Promise.all([raw.plant(keys.value, bytesFor(ids)), raw.plant(keys.index, ids.cid)]);
    },
  };
}

const CASES: Case[] = [
  // Bit 1 (0x02) marks an encrypted payload: a known flag, so an engine vouches for such a header.
  ...[0x04, 0x08, 0x10, 0x20, 0x40, 0x80].map((flag) =>
    planted(`flags-0x${flag.toString(16).padStart(2, "0")}`, "unreadable", ({ sid }) => oddHeader(1, 1, flag, sid)),
  ),
  planted("format-2", "unreadable", ({ sid }) => oddHeader(2, 1, 0, sid)),
  planted("format-0", "unreadable", ({ sid }) => oddHeader(0, 1, 0, sid)),
  ...[0, 4, 127].map((codec) => planted(`codec-${codec}`, "unreadable", ({ sid }) => oddHeader(1, codec, 0, sid))),
  planted("truncated-10", "unreadable", ({ sid }) => envelopeOf(sid, VERSION).subarray(0, 10)),
  // This saga's 0.2.2 value but for one spelling Redis's cjson reads and JSON.parse refuses: no reader may take it for JSON.
  ...(
    [
      ["leading-zero", "01"],
      ["hex", "0x1F"],
      ["plus", "+1"],
      ["trailing-dot", "1."],
      ["nan", "NaN"],
      ["control-char", '"a\u0001"'],
    ] as const
  ).map(([name, spelling]) =>
    planted(`legacy-lenient-${name}`, "unreadable", ({ sid }) =>
      Buffer.from(legacyValue({ sagaId: sid, version: VERSION }).toString("utf8").replace('"orderId":"o-1"', `"orderId":"o-1","n":${spelling}`), "utf8"),
    ),
  ),
  // Neither metadata.sagaId nor id, and a version that is not a number: JSON any reader parses, naming no saga.
  planted("legacy-no-saga-id", "legacy-no-id", () => legacyValue({ version: String(VERSION) })),
  planted("other-saga", "other-saga", ({ otherId }) => envelopeOf(otherId, OTHER_VERSION)),
  planted("own-legacy-0.2.2", "own", ({ sid }) => legacyValue({ sagaId: sid, version: VERSION })),
  planted("own-envelope", "own", ({ sid }) => envelopeOf(sid, VERSION)),
  {
    name: "own-inserted-by-store",
    kind: "own",
    version: 0,
    ttl: "expires",
    async plant(ids, store) {
      await store.insert(SAGA, ids.cid, sagaBusState(ids.sid, { orderId: "o-1" }, 0));
    },
  },
];

// ---- operations -----------------------------------------------------------------------------

const OPS = [
  "findByCorrelationId",
  "findById",
  "update",
  "save",
  "modify",
  "insert newId at cid",
  "insert sid at c2",
  "deleteByCorrelationId",
  "deleteById",
  "delete(cid)",
  "delete(sid)",
] as const;
type Op = (typeof OPS)[number];

function run(op: Op, store: SagaStore, ids: Ids, c: Case): Promise<unknown> {
  switch (op) {
    case "findByCorrelationId":
      return store.findByCorrelationId(SAGA, ids.cid);
    case "findById":
      return store.findById(SAGA, ids.sid);
    case "update":
      // As the bus calls it: the state carries expectedVersion + 1.
      return store.update(SAGA, sagaBusState(ids.sid, { step: "update" }, c.version + 1), c.version);
    case "save":
      return store.save(SAGA, sagaBusState(ids.sid, { step: "save" }, c.version));
    case "modify":
      return store.modify(SAGA, ids.cid, (state) => ({ ...state, step: "modify" }));
    case "insert newId at cid":
      return store.insert(SAGA, ids.cid, sagaBusState(ids.newId, { step: "insert" }, 0));
    case "insert sid at c2":
      return store.insert(SAGA, ids.c2, sagaBusState(ids.sid, { step: "insert" }, 0));
    case "deleteByCorrelationId":
      return store.deleteByCorrelationId(SAGA, ids.cid);
    case "deleteById":
      return store.deleteById(SAGA, ids.sid);
    case "delete(cid)":
      return store.delete(SAGA, ids.cid);
    case "delete(sid)":
      return store.delete(SAGA, ids.sid);
  }
}

/** The read after an insert: whether the saga it names is findable, and as what. */
function readAfter(op: Op, store: SagaStore, ids: Ids): Promise<unknown> | undefined {
  if (op === "insert newId at cid") return store.findById(SAGA, ids.newId);
  if (op === "insert sid at c2") return store.findById(SAGA, ids.sid);
  return undefined;
}

// ---- outcomes as strings -------------------------------------------------------------------

interface Outcome {
  result: string;
  keys: Record<KeyLabel, string>;
  /** The read after an insert. */
  then?: string;
  /**
   * The value keys' bytes after the call (header in hex with the write token masked, the payload as text
   * when it is UTF-8, else hex). Compared between engines only: the table says what they are in `keys`.
   */
  bytes?: Partial<Record<KeyLabel, string>>;
}

/** The parts of an outcome the table speaks to. */
function tabled({ bytes: _bytes, ...rest }: Outcome): Outcome {
  return rest;
}

/** Raw bytes, comparable across engines: every engine draws its own write tokens. */
function rawText(bytes: Buffer): string {
  const asText = (part: Buffer) => {
    const text = part.toString("utf8");
    return Buffer.from(text, "utf8").equals(part) ? text : `hex ${part.toString("hex")}`;
  };
  if (bytes[0] !== 0xfe || bytes.length < 28) return asText(bytes);
  const hex = bytes.subarray(0, 28).toString("hex");
  return `${hex.slice(0, 24)}${"*".repeat(16)}${hex.slice(40)} | ${asText(bytes.subarray(28))}`;
}

function labeller(ids: Ids) {
  const names = new Map<string, string>(Object.entries(ids).map(([label, id]) => [id, label]));
  const fingerprints = new Map<string, string>(["sid", "newId", "otherId"].map((label) => [sagaIdFingerprint(ids[label as keyof Ids]).toString("hex"), label]));
  return {
    id: (id: unknown) => (typeof id === "string" ? (names.get(id) ?? JSON.stringify(id)) : id === undefined ? "none" : JSON.stringify(id)),
    fingerprint: (bytes: Buffer) => fingerprints.get(bytes.toString("hex")) ?? `fingerprint ${bytes.toString("hex")}`,
  };
}
type Labeller = ReturnType<typeof labeller>;

function describeState(state: Record<string, any>, label: Labeller): string {
  const metadata = state.metadata !== null && typeof state.metadata === "object" ? state.metadata : undefined;
  const sagaId = typeof metadata?.sagaId === "string" ? metadata.sagaId : state.id;
  return `state sagaId=${label.id(sagaId)} v=${JSON.stringify(metadata ? metadata.version : state.version)}`;
}

function describeResult(settled: PromiseSettledResult<unknown>, keys: Record<KeyLabel, string>, label: Labeller): string {
  if (settled.status === "fulfilled") {
    const value = settled.value;
    if (value === undefined) return "done";
    if (value === null || typeof value === "boolean") return String(value);
    if (typeof value === "object") return describeState(value as Record<string, any>, label);
    return `resolved ${JSON.stringify(value)}`;
  }
  const error = settled.reason as any;
  if (!(error instanceof SagaStoreError)) return `${error?.name ?? typeof error} (not a SagaStoreError): ${String(error?.message ?? error).slice(0, 100)}`;
  // Only some classes carry these fields (DecodeError's key, SagaAlreadyExistsError's existingCorrelationId).
  const fields = error as SagaStoreError & { key?: unknown; existingCorrelationId?: unknown };
  const named = KEY_LABELS.filter((k) => fields.key === keys[k] || error.message.includes(keys[k]));
  const existing = fields.existingCorrelationId === undefined ? "" : ` existing=${label.id(fields.existingCorrelationId)}`;
  return `${error.name} ${error.code} names=${named.length ? named.join(",") : "-"}${existing}`;
}

function describeBytes(bytes: Buffer, label: Labeller): string {
  if (bytes[0] === 0xfe && bytes.length >= 28) {
    return `envelope v${bytes.readUInt32BE(8)} codec${bytes[2]} flags${bytes[3]} of ${label.fingerprint(bytes.subarray(20, 28))}`;
  }
  try {
    const doc = JSON.parse(bytes.toString("utf8"));
    return `json of ${label.id(doc?.metadata?.sagaId ?? doc?.id)} v${JSON.stringify(doc?.metadata?.version ?? doc?.version)}`;
  } catch {
    return `bytes ${bytes.subarray(0, 32).toString("hex")}${bytes.length > 32 ? "…" : ""}`;
  }
}

interface RawSnapshot {
  bytes: Buffer | null;
  ttl: TtlSign;
}

async function snapshot(raw: RawKeys, keys: Record<KeyLabel, string>): Promise<Record<KeyLabel, RawSnapshot>> {
  const entries = await Promise.all(KEY_LABELS.map(async (k) => [k, { bytes: await raw.get(keys[k]), ttl: await raw.ttl(keys[k]) }] as const));
  return Object.fromEntries(entries) as Record<KeyLabel, RawSnapshot>;
}

/** Value keys: "unchanged" or what the new bytes are; index keys: what they point at. Then the expiry's sign. */
function describeKeys(before: Record<KeyLabel, RawSnapshot>, after: Record<KeyLabel, RawSnapshot>, label: Labeller): Record<KeyLabel, string> {
  const out = {} as Record<KeyLabel, string>;
  for (const k of KEY_LABELS) {
    const { bytes, ttl } = after[k];
    if (bytes === null) out[k] = "absent";
    else if (k === "index" || k === "newIndex" || k === "otherIndex") out[k] = `→${label.id(bytes.toString("utf8"))} ${ttl}`;
    else out[k] = `${before[k].bytes?.equals(bytes) ? "unchanged" : describeBytes(bytes, label)} ${ttl}`;
  }
  return out;
}

// ---- the table, from the README ---------------------------------------------------------------

/**
 * What each engine must do. The rules, from the README:
 * - Bytes this version cannot vouch for (unknown format, flags or codec id,
 *   truncated): `DecodeError` naming the value key, and nothing written or
 *   deleted, for every call that needs to know whose value it is (reads,
 *   writes, deleteById). deleteByCorrelationId deletes whatever is stored
 *   there, readable or not (the caller named that key); an unreadable value
 *   cannot name its index, which is left behind (findById ignores a stale one).
 * - Inserting `sid` under a second correlation id while its index points at
 *   bytes nobody can vouch for: refused with that DecodeError and nothing
 *   changed. The README lets only a stale index (its value gone, or another
 *   saga's) be repointed; a header this version cannot read is never trusted
 *   to say it is not this saga's.
 * - 0.2.2 JSON naming no saga: reads return it as stored (it is a 0.2.2 value);
 *   the write rules cannot tell whose it is, so writes and deleteById refuse it
 *   (DecodeError), modify refuses the state it read (no saga id); and, as
 *   with unreadable bytes, an insert of `sid` whose index points at it is
 *   refused with that DecodeError: the write rules cannot tell it is not
 *   this saga's.
 * - Another saga's value behind `sid`'s index: findById is null, writes of
 *   `sid` are SAGA_NOT_FOUND, deleteById is false (dropping `sid`'s stale index),
 *   all with the value untouched; by correlation id it is simply that saga.
 * - This saga's readable value (envelope, 0.2.2 JSON, or inserted by the store):
 *   read; written as an envelope at version + 1 with the store's TTL on value
 *   and index; a second insert under c2 is SAGA_ALREADY_EXISTS naming cid, and
 *   c2 holds nothing after (on a Cluster its value is taken back); deleted with
 *   its index.
 * - Inserting a new saga id at a taken cid: SAGA_ALREADY_EXISTS when the value
 *   there is readable, DecodeError when not; never an index left for the new id.
 */
function expected(c: Case, op: Op): Outcome {
  const untouched: Record<KeyLabel, string> = {
    value: `unchanged ${c.ttl}`,
    index: `→cid ${c.ttl}`,
    c2Value: "absent",
    newIndex: "absent",
    otherIndex: "absent",
  };
  const keys = (changes: Partial<Record<KeyLabel, string>> = {}) => ({ ...untouched, ...changes });
  const decodeFailed = "DecodeError DECODE_FAILED names=value";
  const written = (version: number, of = "sid") => `envelope v${version} codec1 flags0 of ${of} expires`;
  const insertedAtC2 = { result: "done", keys: keys({ c2Value: written(0), index: "→c2 expires" }), then: "state sagaId=sid v=0" };
  const v = c.version;

  switch (c.kind) {
    case "unreadable":
      switch (op) {
        case "deleteByCorrelationId":
          return { result: "true", keys: keys({ value: "absent" }) };
        case "delete(cid)":
          return { result: "done", keys: keys({ value: "absent" }) };
        case "insert newId at cid":
          return { result: decodeFailed, keys: keys(), then: "null" };
        case "insert sid at c2":
          return { result: decodeFailed, keys: keys(), then: decodeFailed };
        default:
          return { result: decodeFailed, keys: keys() };
      }
    case "legacy-no-id":
      switch (op) {
        case "findByCorrelationId":
          return { result: `state sagaId=none v="${VERSION}"`, keys: keys() };
        case "findById":
          return { result: "null", keys: keys() };
        case "modify":
          return { result: "InvalidStateError INVALID_STATE names=-", keys: keys() };
        case "insert newId at cid":
          return { result: decodeFailed, keys: keys(), then: "null" };
        case "insert sid at c2":
          return { result: decodeFailed, keys: keys(), then: "null" };
        case "deleteByCorrelationId":
          return { result: "true", keys: keys({ value: "absent" }) };
        case "delete(cid)":
          return { result: "done", keys: keys({ value: "absent" }) };
        default:
          return { result: decodeFailed, keys: keys() };
      }
    case "other-saga":
      switch (op) {
        case "findByCorrelationId":
          return { result: `state sagaId=otherId v=${OTHER_VERSION}`, keys: keys() };
        case "findById":
          return { result: "null", keys: keys() };
        case "update":
        case "save":
          return { result: "SagaNotFoundError SAGA_NOT_FOUND names=-", keys: keys() };
        case "modify":
          // cid is the other saga's correlation id: modify changes that saga, and leaves sid's index alone.
          return { result: `state sagaId=otherId v=${OTHER_VERSION + 1}`, keys: keys({ value: written(OTHER_VERSION + 1, "otherId") }) };
        case "insert newId at cid":
          return { result: "SagaAlreadyExistsError SAGA_ALREADY_EXISTS names=-", keys: keys(), then: "null" };
        case "insert sid at c2":
          return insertedAtC2;
        case "deleteByCorrelationId":
          return { result: "true", keys: keys({ value: "absent" }) };
        case "delete(cid)":
          return { result: "done", keys: keys({ value: "absent" }) };
        case "deleteById":
          return { result: "false", keys: keys({ index: "absent" }) };
        case "delete(sid)":
          return { result: "done", keys: keys({ index: "absent" }) };
      }
      break;
    case "own":
      switch (op) {
        case "findByCorrelationId":
        case "findById":
          return { result: `state sagaId=sid v=${v}`, keys: keys() };
        case "update":
          return { result: "done", keys: keys({ value: written(v + 1), index: "→cid expires" }) };
        case "save":
        case "modify":
          return { result: `state sagaId=sid v=${v + 1}`, keys: keys({ value: written(v + 1), index: "→cid expires" }) };
        case "insert newId at cid":
          return { result: "SagaAlreadyExistsError SAGA_ALREADY_EXISTS names=-", keys: keys(), then: "null" };
        case "insert sid at c2":
          return { result: "SagaAlreadyExistsError SAGA_ALREADY_EXISTS names=- existing=cid", keys: keys(), then: `state sagaId=sid v=${v}` };
        case "deleteByCorrelationId":
          return { result: "true", keys: keys({ value: "absent", index: "absent" }) };
        case "deleteById":
          return { result: "true", keys: keys({ value: "absent", index: "absent" }) };
        case "delete(cid)":
        case "delete(sid)":
          return { result: "done", keys: keys({ value: "absent", index: "absent" }) };
      }
  }
  throw new Error(`no expectation for ${c.name} x ${op}`);
}

// ---- running every case on every engine ------------------------------------------------------

const observed = new Map<string, Partial<Record<EngineName, Outcome>>>();
const slot = (c: Case, op: Op) => `${c.name} × ${op}`;

const engines: Record<EngineName, StoreHarness> = { memory: memoryEngine(), redis: redisEngine(), cluster: clusterEngine() };
const cleanups: Array<() => Promise<void>> = [];

async function runEngine(name: EngineName, prefix: string): Promise<void> {
  const opened = await engines[name].open({ keyPrefix: prefix, retryDelayMs: 1, defaultTtlSeconds: 3600 });
  const store = opened.store;
  const raw = name === "memory" ? memoryRaw(store) : redisRaw((opened.redis ?? opened.cluster)!);
  const layout = new KeyLayout(prefix);
  const touched: string[] = [];
  cleanups.push(async () => {
    if (name !== "memory") await inPool(touched, 16, (key) => raw.del(key));
  });

  const runs = CASES.flatMap((c) => OPS.map((op, i) => ({ c, op, ids: idsFor(c.name, i) })));
  await inPool(runs, CONCURRENCY, async ({ c, op, ids }) => {
    const keys = keysOf(layout, ids);
    touched.push(...Object.values(keys));
    const label = labeller(ids);
    await c.plant(ids, store, raw, keys);
    const before = await snapshot(raw, keys);
    const [settled] = await Promise.allSettled([run(op, store, ids, c)]);
    const after = await snapshot(raw, keys);
    const outcome: Outcome = { result: describeResult(settled!, keys, label), keys: describeKeys(before, after, label) };
    outcome.bytes = Object.fromEntries(
      (["value", "c2Value"] as const).map((k) => [k, after[k].bytes === null ? "absent" : rawText(after[k].bytes!)]),
    );
    const next = readAfter(op, store, ids);
    if (next) outcome.then = describeResult((await Promise.allSettled([next]))[0]!, keys, label);
    const entry = observed.get(slot(c, op)) ?? {};
    entry[name] = outcome;
    observed.set(slot(c, op), entry);
  });
}

/** The fields where two outcomes differ, one line each. */
function differences(seen: Outcome | undefined, want: Outcome): string[] {
  if (!seen) return ["no outcome recorded"];
  const flat = (o: Outcome) => ({
    result: o.result,
    ...Object.fromEntries(KEY_LABELS.map((k) => [k, o.keys[k]])),
    then: o.then ?? "-",
    ...Object.fromEntries(Object.entries(o.bytes ?? {}).map(([k, text]) => [`${k} bytes`, text])),
  });
  const a = flat(seen) as Record<string, string>;
  const b = flat(want) as Record<string, string>;
  return Object.keys(b)
    .filter((field) => a[field] !== b[field])
    .map((field) => `${field}: ${a[field]} (want ${b[field]})`);
}

describe("engine conformance: odd stored bytes through the public API on memory, Redis and Cluster", () => {
  beforeAll(async () => {
    const prefix = uniquePrefix();
    // One engine at a time: each keeps CONCURRENCY calls in flight, which is what a 2-core machine can spare.
    for (const name of ENGINE_NAMES) await runEngine(name, prefix);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(cleanups.map((cleanup) => cleanup()));
    await Promise.all(Object.values(engines).map((engine) => engine.closeAll()));
  });

  it(`ran ${CASES.length} cases x ${OPS.length} operations on each engine`, () => {
    expect(observed.size).toBe(CASES.length * OPS.length);
    for (const outcomes of observed.values()) expect(Object.keys(outcomes).sort()).toEqual([...ENGINE_NAMES].sort());
  });

  describe.each(CASES)("$name", (c) => {
    it.each(OPS)("%s: Redis and Cluster match memory, and every engine matches the table", (op) => {
      const outcomes = observed.get(slot(c, op)) ?? {};
      for (const name of ["redis", "cluster"] as const) {
        expect.soft(outcomes[name], `${name} departs from memory`).toEqual(outcomes.memory);
      }
      const want = expected(c, op);
      for (const name of ENGINE_NAMES) expect.soft(outcomes[name] && tabled(outcomes[name]), `${name} departs from the table`).toEqual(want);
    });
  });

  // Every departure on one list: which engine, which case and call, what was seen and what the table wants.
  it("lists no departure from memory or from the table", () => {
    const lines: string[] = [];
    for (const c of CASES) {
      for (const op of OPS) {
        const outcomes = observed.get(slot(c, op)) ?? {};
        const want = expected(c, op);
        for (const name of ENGINE_NAMES) {
          const vsTable = differences(outcomes[name], want);
          if (vsTable.length) lines.push(`${slot(c, op)} × ${name}: ${vsTable.join("; ")}`);
          if (name !== "memory" && outcomes.memory) {
            const vsMemory = differences(outcomes[name], outcomes.memory).map((d) => d.replace("(want", "(memory"));
            if (vsMemory.length) lines.push(`${slot(c, op)} × ${name} vs memory: ${vsMemory.join("; ")}`);
          }
        }
      }
    }
    expect(lines).toEqual([]);
  });
});
