/**
 * Hostile keys, on the memory engine, a standalone Redis
 * and the Redis Cluster (test/support/stores.ts).
 *
 * test/keys.test.ts pins the key layout on Redis for ordinary and a few
 * special ids. This file throws a corpus of hostile saga names and ids at
 * every public key-taking call, in every role (saga name, correlation id,
 * saga id, and one string as both ids), next to a fixed set of bystander
 * sagas whose keys the corpus aims at (`idx:id:<their id>`, their full keys,
 * key suffixes, escaped forms, glob and hash-tag characters).
 *
 * Oracle, per case: if the documented rules (src/keys.ts; restated below
 * independently of it) accept the name and both ids, the saga round-trips
 * through save / findByCorrelationId / findById / modify /
 * deleteByCorrelationId / insert / update / deleteById / delete /
 * scanCorrelationIds on exactly two keys of its own (the documented value
 * and index key), and
 * afterwards the whole key space under the store's prefix is byte-identical
 * to before (keys and values, read raw: KEYS + GET on Redis, the engine's
 * map on memory) and every bystander reads back deep-equal. Otherwise every
 * call taking the refused string rejects with InvalidKeyError (INVALID_KEY,
 * naming the refused part) and the key space is byte-identical (nothing
 * written). A fast-check property generates more names and ids with the
 * same oracle; another checks that the key mapping is injective at the byte
 * level Redis sees (ioredis sends UTF-8). `delete(name, id)`, which takes a
 * correlation id (seed README) or a saga id (saga-bus), gets its own test
 * for an id that is one saga's saga id and another saga's correlation id.
 *
 * Figures: test/.figures/faults.json, key "hostile-keys".
 */
import fc from "fast-check";
import type { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidKeyError, SagaStoreError, type SagaStore } from "../../src/index";
import { KeyLayout, MAX_ID_BYTES, MAX_SAGA_NAME_LENGTH } from "../../src/keys";
import { escapedCorrelationId, indexKeyOf, valueKeyOf } from "../support/key-layout";
import { clusterEngine, memoryEngine, redisEngine, sagaBusState, type StoreHarness } from "../support/stores";
import { recordFigures } from "./figures";

// ---- the documented rules, restated without src/keys.ts ------------------------------

const NAME_MAX_CHARS = 256;
const ID_MAX_UTF8_BYTES = 1024;
/** In a `u` regex a surrogate pair is one code point, so this matches only lone surrogates. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function nameAccepted(name: string): boolean {
  return name.length > 0 && !name.includes(":") && name.length <= NAME_MAX_CHARS && !LONE_SURROGATE.test(name);
}

function idAccepted(id: string): boolean {
  return id.length > 0 && Buffer.byteLength(id, "utf8") <= ID_MAX_UTF8_BYTES && !LONE_SURROGATE.test(id);
}


// ---- bystanders and corpus --------------------------------------------------------------

interface Saga {
  name: string;
  cid: string;
  sid: string;
}

/** Sagas the corpus aims at; seeded first, byte-identical after every case. */
const BYSTANDERS: Saga[] = [
  { name: "Order", cid: "order-1", sid: "s-1" },
  { name: "Order", cid: "idx:id:s-9", sid: "s-2" },
  { name: "Order", cid: "%", sid: "s-3" },
  { name: "Order", cid: "%25", sid: "s-4" },
  { name: "Order", cid: "a:b", sid: "c:d" },
  { name: "Order", cid: "{tag}", sid: "{tag}" },
  { name: "Order", cid: " ", sid: "\t" },
  { name: "Order", cid: "😀", sid: "e\u0301" },
  { name: "Order", cid: "\0", sid: "\n" },
  { name: "Order", cid: "i", sid: "idx" },
  { name: "{Order}", cid: "order-1", sid: "s-1" },
  { name: "Order*", cid: "*", sid: "?" },
  { name: "Ord?r", cid: "order-1", sid: "s-1" },
  { name: "Order\\", cid: "\\", sid: "[a]" },
  { name: "idx", cid: "id", sid: "idx:" },
];
const HOME = "Order";

function isBystanderCid(name: string, cid: string): boolean {
  return BYSTANDERS.some((b) => b.name === name && b.cid === cid);
}
function isBystanderSid(name: string, sid: string): boolean {
  return BYSTANDERS.some((b) => b.name === name && b.sid === sid);
}

function corpus(prefix: string): Array<[label: string, value: string]> {
  return [
    ["empty", ""],
    ["space", " "],
    ["spaces", "   "],
    ["whitespace mix", " \t\r\n "],
    ["colon", ":"],
    ["colons", "::"],
    ["{", "{"],
    ["}", "}"],
    ["{tag}", "{tag}"],
    ["{}", "{}"],
    ["}{", "}{"],
    ["{Order}", "{Order}"],
    ["*", "*"],
    ["?", "?"],
    ["[", "["],
    ["]", "]"],
    ["[a-z]", "[a-z]"],
    ["backslash", "\\"],
    ["backslash star", "\\*"],
    ["*:*", "*:*"],
    ["LF", "\n"],
    ["CR", "\r"],
    ["CRLF", "\r\n"],
    ["tab", "\t"],
    ["NUL", "\0"],
    ["NUL inside", "a\0b"],
    ["RESP command text", "*1\r\n$4\r\nPING\r\n"],
    ["emoji", "😀"],
    ["ZWJ family", "👩‍👩‍👧"],
    ["e + combining acute", "e\u0301"],
    ["precomposed é", "\u00e9"],
    ["lone combining mark", "\u0301"],
    ["BOM", "\ufeff"],
    ["U+FFFD", "\ufffd"],
    ["lone high surrogate", "\ud800"],
    ["lone low surrogate", "\udc00"],
    ["high surrogate inside", "a\ud83db"],
    ["low then high", "\ude00\ud83d"],
    ["trailing high surrogate", "abc\udbff"],
    ["64 KB ASCII", "x".repeat(64 * 1024)],
    ["64 KB emoji", "😀".repeat(16 * 1024)],
    ["1024 UTF-8 bytes (ASCII)", "a".repeat(1024)],
    ["1025 UTF-8 bytes (ASCII)", "a".repeat(1025)],
    ["1024 UTF-8 bytes (3-byte chars)", "€".repeat(341) + "a"],
    ["1025 UTF-8 bytes (3-byte chars)", "€".repeat(341) + "ab"],
    ["1024 UTF-8 bytes (emoji)", "😀".repeat(256)],
    ["1025 UTF-8 bytes (emoji)", "😀".repeat(256) + "a"],
    ["1026 UTF-8 bytes (an emoji across the limit)", "a".repeat(1022) + "😀"],
    ["256 chars", "n".repeat(256)],
    ["257 chars", "n".repeat(257)],
    ["idx:", "idx:"],
    ["idx:id:", "idx:id:"],
    ["idx:id:s-1 (a bystander's index suffix)", "idx:id:s-1"],
    ["idx:id:s-2", "idx:id:s-2"],
    ["idx:id:s-1:", "idx:id:s-1:"],
    [":idx:id:s-1", ":idx:id:s-1"],
    ["idx:idx:id:s-1", "idx:idx:id:s-1"],
    ["id:s-1", "id:s-1"],
    ["idx", "idx"],
    ["%", "%"],
    ["%25", "%25"],
    ["%2525", "%2525"],
    ["%69dx:", "%69dx:"],
    ["%69dx:id:s-9 (a bystander's escaped key suffix)", "%69dx:id:s-9"],
    ["%69dx:id:s-1", "%69dx:id:s-1"],
    ["%69", "%69"],
    ["%6", "%6"],
    ["%zz", "%zz"],
    ["%%", "%%"],
    ["a bystander's full value key", `${prefix}saga:Order:order-1`],
    ["a bystander's full index key", `${prefix}saga:Order:idx:id:s-1`],
    ["a bystander's full escaped value key", `${prefix}saga:Order:%69dx:id:s-9`],
    ["a bystander's key without prefix", "saga:Order:order-1"],
    ["name:cid suffix", "Order:order-1"],
    [":order-1", ":order-1"],
    ["order-1:", "order-1:"],
    ["the key prefix", prefix],
    ["saga:", "saga:"],
    ["order-1 (a bystander's correlation id)", "order-1"],
    ["s-1 (a bystander's saga id)", "s-1"],
  ];
}

// ---- engines ----------------------------------------------------------------------------

interface Handle {
  engine: string;
  store: SagaStore;
  prefix: string;
  /** Every key under the prefix (hex of its UTF-8/raw bytes) -> hex of its value bytes. */
  snapshot(): Promise<Map<string, string>>;
  /** Raw bytes at a key, or null. */
  raw(key: string): Promise<Buffer | null>;
  /** Remove every key under the prefix (only keys this file wrote). */
  clean(): Promise<void>;
}

const hex = (text: string) => Buffer.from(text, "utf8").toString("hex");

async function openHandle(engine: StoreHarness): Promise<Handle> {
  const { store, prefix, redis, cluster } = await engine.open();
  if (engine.name === "memory") {
    // White-box: the embedded engine keeps its keys in a private Map; reading it is the memory engine's "raw GET".
    const entries = (store as unknown as { memory: { entries: Map<string, { bytes: Buffer }> } }).memory.entries;
    expect(entries).toBeInstanceOf(Map);
    return {
      engine: engine.name,
      store,
      prefix,
      async snapshot() {
        return new Map([...entries].filter(([key]) => key.startsWith(prefix)).map(([key, entry]) => [hex(key), entry.bytes.toString("hex")]));
      },
      async raw(key) {
        const entry = entries.get(key);
        return entry ? Buffer.from(entry.bytes) : null;
      },
      async clean() {
        for (const key of [...entries.keys()]) if (key.startsWith(prefix)) entries.delete(key);
      },
    };
  }
  const client = (redis ?? cluster)!;
  const nodes: Redis[] = redis ? [redis] : (cluster as Cluster).nodes("master");
  const listKeys = async () => (await Promise.all(nodes.map((node) => node.keysBuffer(`${prefix}*`)))).flat();
  return {
    engine: engine.name,
    store,
    prefix,
    async snapshot() {
      const keys = await listKeys();
      const values = await Promise.all(keys.map((key) => client.getBuffer(key)));
      return new Map(keys.map((key, i) => [key.toString("hex"), values[i]?.toString("hex") ?? "(gone)"]));
    },
    raw: (key) => client.getBuffer(key),
    async clean() {
      const keys = await listKeys();
      await Promise.all(keys.map((key) => client.del(key)));
    },
  };
}

async function seedBystanders(h: Handle): Promise<void> {
  for (const [i, b] of BYSTANDERS.entries()) {
    if (i % 2 === 0) await h.store.save(b.name, { id: b.sid, correlationId: b.cid, status: "running", data: { bystander: i } });
    else await h.store.insert(b.name, b.cid, sagaBusState(b.sid, { bystander: i }));
  }
  // One update each, so they are at version 1 with a real compare-and-set behind them.
  for (const b of BYSTANDERS) await h.store.modify(b.name, b.cid, (s) => ({ ...s, touched: true }));
}

async function readBystanders(h: Handle): Promise<unknown[]> {
  return Promise.all(BYSTANDERS.map(async (b) => [await h.store.findByCorrelationId(b.name, b.cid), await h.store.findById(b.name, b.sid)]));
}

/** Keys added / removed / changed between two snapshots (hex keys). */
function diff(before: Map<string, string>, after: Map<string, string>) {
  const added = [...after.keys()].filter((k) => !before.has(k));
  const removed = [...before.keys()].filter((k) => !after.has(k));
  const changed = [...after.keys()].filter((k) => before.has(k) && before.get(k) !== after.get(k));
  return { added, removed, changed };
}

const short = (text: string) => {
  const json = JSON.stringify(text);
  return json.length > 60 ? `${json.slice(0, 40)}…(${text.length} chars)` : json;
};

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

// ---- one case ---------------------------------------------------------------------------

type Part = "sagaName" | "correlationId" | "sagaId";

/** Every call taking a refused string rejects with InvalidKeyError, and nothing under the prefix changes. */
async function expectRefused(h: Handle, baseline: Map<string, string>, { name, cid, sid }: Saga, refused: Set<Part>): Promise<void> {
  const { store } = h;
  const calls: Array<[string, Set<Part>, () => Promise<unknown>]> = [];
  const seedState = { id: sid, correlationId: cid, status: "running", data: { hostile: true } };
  const touches = (...parts: Part[]) => new Set(parts.filter((p) => refused.has(p)));
  calls.push(["save", touches("sagaName", "correlationId", "sagaId"), () => store.save(name, seedState)]);
  calls.push(["insert", touches("sagaName", "correlationId", "sagaId"), () => store.insert(name, cid, sagaBusState(sid))]);
  calls.push(["update", touches("sagaName", "correlationId", "sagaId"), () => store.update(name, { ...seedState, version: 0 }, 0)]);
  calls.push(["findByCorrelationId", touches("sagaName", "correlationId"), () => store.findByCorrelationId(name, cid)]);
  calls.push(["modify", touches("sagaName", "correlationId"), () => store.modify(name, cid, (s) => ({ ...s, n: 1 }))]);
  calls.push(["deleteByCorrelationId", touches("sagaName", "correlationId"), () => store.deleteByCorrelationId(name, cid)]);
  calls.push(["findById", touches("sagaName", "sagaId"), () => store.findById(name, sid)]);
  calls.push(["getById", touches("sagaName", "sagaId"), () => store.getById(name, sid)]);
  calls.push(["deleteById", touches("sagaName", "sagaId"), () => store.deleteById(name, sid)]);
  calls.push(["scanCorrelationIds", touches("sagaName"), () => collect(store.scanCorrelationIds(name))]);
  let checked = 0;
  for (const [call, parts, run] of calls) {
    if (parts.size === 0) continue;
    checked++;
    let outcome: unknown;
    try {
      outcome = await run();
    } catch (error) {
      if (!(error instanceof InvalidKeyError)) throw new Error(`${call}: expected InvalidKeyError, got ${(error as Error)?.name}: ${(error as Error)?.message}`);
      expect(error.code, call).toBe("INVALID_KEY");
      expect(parts.has(error.part as Part), `${call}: InvalidKeyError names ${error.part}, expected one of ${[...parts]}`).toBe(true);
      continue;
    }
    throw new Error(`${call}: expected InvalidKeyError, resolved with ${short(JSON.stringify(outcome) ?? "undefined")}`);
  }
  expect(checked).toBeGreaterThan(0);
  expect(diff(baseline, await h.snapshot()), "a refused call wrote something").toEqual({ added: [], removed: [], changed: [] });
}

/** The full round trip on the saga's own two keys; afterwards the key space is exactly the baseline again. */
async function expectRoundTrip(h: Handle, baseline: Map<string, string>, { name, cid, sid }: Saga, tag: string): Promise<void> {
  const { store, prefix } = h;
  const valueKey = valueKeyOf(prefix, name, cid);
  const indexKey = indexKeyOf(prefix, name, sid);
  const layout = new KeyLayout(prefix);
  expect(layout.valueKey(name, cid), "KeyLayout.valueKey differs from the documented layout").toBe(valueKey);
  expect(layout.indexKey(name, sid), "KeyLayout.indexKey differs from the documented layout").toBe(indexKey);

  const expectOwnKeys = async (step: string) => {
    const { added, removed, changed } = diff(baseline, await h.snapshot());
    expect({ removed, changed }, `${step}: another key changed`).toEqual({ removed: [], changed: [] });
    expect(added.sort(), `${step}: keys written`).toEqual([hex(valueKey), hex(indexKey)].sort());
    expect((await h.raw(indexKey))?.equals(Buffer.from(cid, "utf8")), `${step}: index key holds the raw correlation id`).toBe(true);
  };
  const expectBaseline = async (step: string) => {
    expect(diff(baseline, await h.snapshot()), `${step}: key space differs from before`).toEqual({ added: [], removed: [], changed: [] });
  };

  // Seed shape: save, read both ways, modify, delete by correlation id.
  const saved = await store.save(name, { id: sid, correlationId: cid, status: "running", data: { n: 1, tag } });
  expect(saved.version).toBe(0);
  await expectOwnKeys("save");
  for (const found of [await store.findByCorrelationId(name, cid), await store.findById(name, sid)]) {
    expect(found).toMatchObject({ id: sid, correlationId: cid, version: 0, data: { n: 1, tag } });
  }
  const scanned = await collect(store.scanCorrelationIds(name));
  const expectedIds = [...BYSTANDERS.filter((b) => b.name === name).map((b) => b.cid), cid];
  expect(new Set(scanned), "scanCorrelationIds").toEqual(new Set(expectedIds));
  const modified = await store.modify(name, cid, (s) => ({ ...s, data: { ...s.data, n: s.data.n + 1 } }));
  expect(modified).toMatchObject({ version: 1, data: { n: 2 } });
  expect(await store.findById(name, sid)).toMatchObject({ version: 1, data: { n: 2, tag } });
  await expectOwnKeys("modify");
  expect(await store.deleteByCorrelationId(name, cid)).toBe(true);
  expect(await store.findByCorrelationId(name, cid)).toBeNull();
  expect(await store.findById(name, sid)).toBeNull();
  await expectBaseline("deleteByCorrelationId");

  // saga-bus shape: insert, update through the index, delete by saga id.
  await store.insert(name, cid, sagaBusState(sid, { tag }));
  await expectOwnKeys("insert");
  const loaded = (await store.findById(name, sid))!;
  expect(loaded).toMatchObject({ tag, metadata: { sagaId: sid, version: 0 } });
  await store.update(name, { ...loaded, tag: `${tag}+` }, 0);
  expect(await store.findByCorrelationId(name, cid)).toMatchObject({ tag: `${tag}+`, metadata: { sagaId: sid, version: 1 } });
  await expect(store.insert(name, cid, sagaBusState("twin"))).rejects.toMatchObject({ code: "SAGA_ALREADY_EXISTS" });
  await expectOwnKeys("update");
  expect(await store.deleteById(name, sid)).toBe(true);
  expect(await store.findById(name, sid)).toBeNull();
  expect(await store.findByCorrelationId(name, cid)).toBeNull();
  expect(await store.deleteById(name, sid)).toBe(false);
  expect(await store.deleteByCorrelationId(name, cid)).toBe(false);
  await expectBaseline("deleteById");

  // delete(name, id): the seed README passes a correlation id, saga-bus a saga id.
  await store.insert(name, cid, sagaBusState(sid, { tag }));
  if (isBystanderSid(name, cid) && cid !== sid) {
    // The id names this saga by correlation id and a bystander by saga id: refused, nothing deleted.
    await expect(store.delete(name, cid)).rejects.toMatchObject({ code: "AMBIGUOUS_ID" });
    await store.deleteByCorrelationId(name, cid);
  } else {
    await store.delete(name, cid);
  }
  await expectBaseline("delete(name, correlationId)");
  if (!isBystanderCid(name, sid)) {
    // (A saga id equal to another saga's correlation id is the ambiguous case: see its own test.)
    await store.insert(name, cid, sagaBusState(sid, { tag }));
    await store.delete(name, sid);
    await expectBaseline("delete(name, sagaId)");
  }
}

async function runCase(h: Handle, baseline: Map<string, string>, bystanders: unknown[], saga: Saga, tag: string): Promise<"accepted" | "refused"> {
  const refused = new Set<Part>();
  if (!nameAccepted(saga.name)) refused.add("sagaName");
  if (!idAccepted(saga.cid)) refused.add("correlationId");
  if (!idAccepted(saga.sid)) refused.add("sagaId");
  try {
    if (refused.size > 0) await expectRefused(h, baseline, saga, refused);
    else await expectRoundTrip(h, baseline, saga, tag);
  } finally {
    // A failed case must not leave keys that fail every later case too.
    if (refused.size === 0) await cleanUp(h, baseline, saga);
  }
  expect(await readBystanders(h), "a bystander reads back differently").toEqual(bystanders);
  return refused.size > 0 ? "refused" : "accepted";
}

async function cleanUp(h: Handle, baseline: Map<string, string>, saga: Saga): Promise<void> {
  for (const key of [valueKeyOf(h.prefix, saga.name, saga.cid), indexKeyOf(h.prefix, saga.name, saga.sid)]) {
    if (baseline.has(hex(key))) continue;
    if ((await h.raw(key)) !== null) {
      await h.store.deleteByCorrelationId(saga.name, saga.cid).catch(() => {});
      await h.store.deleteById(saga.name, saga.sid).catch(() => {});
    }
  }
}

// ---- generators ---------------------------------------------------------------------------

/** Any UTF-16 code unit, lone surrogates included. */
const codeUnitArb = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));
/** Strings built from the pieces a key is made of, so collisions would be likely if the layout were ambiguous. */
const keyishArb = fc.stringMatching(/^(idx:|id:|idx|%25|%69|%|:|\{|\}|\*|\?|\[|\]|\\|s-1|s-9|order-1|Order|saga:|i|dx|\n|\r|\x00| )*$/, { size: "small" });
const nearLimitArb = fc
  .tuple(fc.integer({ min: -3, max: 3 }), fc.constantFrom("a", "é", "€", "😀"))
  .map(([delta, unit]) => unit.repeat(Math.floor(1024 / Buffer.byteLength(unit)) + (delta < 0 ? delta : 0)) + "a".repeat(Math.max(0, delta)));
const anyStringArb = fc.oneof(
  fc.string({ unit: "binary", maxLength: 24 }),
  fc.string({ unit: "grapheme", maxLength: 12 }),
  fc.string({ unit: codeUnitArb, maxLength: 12 }),
  fc.string({ unit: "binary-ascii", maxLength: 16 }),
);
const nameArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...new Set(BYSTANDERS.map((b) => b.name))) },
  { weight: 4, arbitrary: anyStringArb },
  { weight: 3, arbitrary: keyishArb },
  { weight: 1, arbitrary: fc.integer({ min: 250, max: 262 }).map((n) => "N".repeat(n)) },
);
function idArb(prefix: string) {
  const aimed = BYSTANDERS.flatMap((b) => [
    `idx:id:${b.sid}`,
    `%69dx:id:${b.sid}`,
    valueKeyOf(prefix, b.name, b.cid),
    indexKeyOf(prefix, b.name, b.sid),
    `${b.name}:${b.cid}`,
    escapedCorrelationId(b.cid),
    b.cid,
    b.sid,
  ]);
  return fc.oneof(
    { weight: 4, arbitrary: anyStringArb },
    { weight: 4, arbitrary: keyishArb },
    { weight: 2, arbitrary: fc.constantFrom(...aimed) },
    { weight: 1, arbitrary: nearLimitArb },
  );
}

// ---- tests -------------------------------------------------------------------------------

const ROLES = ["sagaName", "correlationId", "sagaId", "both ids"] as const;
type Role = (typeof ROLES)[number];

function sagaFor(role: Role, value: string, n: number): Saga | undefined {
  switch (role) {
    case "sagaName":
      return { name: value, cid: `c-${n}`, sid: `h-${n}` };
    case "correlationId":
      // The same correlation id as a bystander of the same saga type is that saga, not a hostile key.
      return isBystanderCid(HOME, value) ? undefined : { name: HOME, cid: value, sid: `h-${n}` };
    case "sagaId":
      // Likewise: reusing a bystander's saga id would be the same saga.
      return isBystanderSid(HOME, value) ? undefined : { name: HOME, cid: `c-${n}`, sid: value };
    case "both ids":
      return isBystanderCid(HOME, value) || isBystanderSid(HOME, value) ? undefined : { name: HOME, cid: value, sid: value };
  }
}

const figures: Record<string, unknown> = {};
afterAll(() => {
  recordFigures("hostile-keys", figures);
});

describe("the key rules this file assumes", () => {
  it("are the documented limits: names up to 256 characters without ':', ids up to 1024 UTF-8 bytes, both non-empty and well-formed", () => {
    expect(MAX_SAGA_NAME_LENGTH).toBe(NAME_MAX_CHARS);
    expect(MAX_ID_BYTES).toBe(ID_MAX_UTF8_BYTES);
    const verdicts = corpus("p:").map(([label, value]) => [label, nameAccepted(value), idAccepted(value)]);
    const verdict = (label: string) => verdicts.find(([l]) => l === label)!.slice(1);
    expect(verdict("empty")).toEqual([false, false]);
    expect(verdict("colon")).toEqual([false, true]);
    expect(verdict("lone high surrogate")).toEqual([false, false]);
    expect(verdict("lone low surrogate")).toEqual([false, false]);
    expect(verdict("1024 UTF-8 bytes (emoji)")).toEqual([false, true]);
    expect(verdict("1025 UTF-8 bytes (3-byte chars)")).toEqual([false, false]);
    expect(verdict("256 chars")).toEqual([true, true]);
    expect(verdict("257 chars")).toEqual([false, true]);
    expect(verdict("NUL")).toEqual([true, true]);
    expect(verdict("ZWJ family")).toEqual([true, true]);
  });
});

const ENGINES: Array<() => StoreHarness> = [memoryEngine, redisEngine, clusterEngine];

describe.each(ENGINES.map((make) => [make().name, make] as const))("hostile keys on %s", (engineName, make) => {
  const engine = make();
  let h: Handle;
  let baseline: Map<string, string>;
  let bystanders: unknown[];
  const engineFigures: Record<string, unknown> = {};
  figures[engineName] = engineFigures;

  beforeAll(async () => {
    h = await openHandle(engine);
    await seedBystanders(h);
    baseline = await h.snapshot();
    bystanders = await readBystanders(h);
    expect(baseline.size).toBe(BYSTANDERS.length * 2);
  });

  afterAll(async () => {
    await h?.clean();
    await engine.closeAll();
  });

  let counter = 0;

  it.each(ROLES)("corpus as %s: round-trips on its own keys or is refused with INVALID_KEY; bystanders untouched", async (role) => {
    const started = performance.now();
    const failures: string[] = [];
    const outcomes = { accepted: 0, refused: 0, skipped: 0 };
    for (const [label, value] of corpus(h.prefix)) {
      const saga = sagaFor(role, value, counter++);
      if (!saga) {
        outcomes.skipped++;
        continue;
      }
      try {
        outcomes[await runCase(h, baseline, bystanders, saga, `${role}|${label}`)]++;
      } catch (error) {
        failures.push(`${role} = ${label} ${short(value)}: ${(error as Error)?.message}`);
      }
    }
    engineFigures[`corpus.${role}`] = { ...outcomes, failed: failures.length, ms: Math.round(performance.now() - started) };
    expect(failures).toEqual([]);
    expect(outcomes.accepted).toBeGreaterThan(20);
    expect(outcomes.refused).toBeGreaterThan(role === "sagaName" ? 20 : 8);
  }, 120_000);

  it.each([
    ["a saga id equal to another saga's correlation id (saga-bus passes saga ids)", { cid: "c-amb-1", sid: "order-1" }, "order-1"],
    ["a correlation id equal to another saga's saga id (the seed README passes correlation ids)", { cid: "s-1", sid: "h-amb-2" }, "s-1"],
  ] as const)("delete(name, id) with %s deletes only the saga it names, never the other one", async (_label, ids, id) => {
    const saga = { name: HOME, ...ids };
    await h.store.insert(saga.name, saga.cid, sagaBusState(saga.sid, { amb: true }));
    try {
      const outcome = await h.store.delete(saga.name, id).then(
        () => "resolved",
        (error: unknown) => error,
      );
      // A typed refusal of the ambiguous call is acceptable; deleting the other saga is not.
      if (outcome !== "resolved") expect(outcome).toBeInstanceOf(SagaStoreError);
      expect(await readBystanders(h), "delete(name, id) removed or changed a bystander").toEqual(bystanders);
      const remaining = diff(baseline, await h.snapshot());
      expect(remaining.removed.length + remaining.changed.length, "delete(name, id) touched another saga's keys").toBe(0);
      if (outcome === "resolved") {
        expect(await h.store.findById(saga.name, saga.sid), "the saga the id names is still there").toBeNull();
        expect(remaining.added).toEqual([]);
      }
    } finally {
      await h.store.deleteById(saga.name, saga.sid).catch(() => {});
      // Restore a bystander the call may have deleted, so later tests see the baseline.
      await h.clean();
      await seedBystanders(h);
      baseline = await h.snapshot();
      bystanders = await readBystanders(h);
    }
  });

  it("property: generated names and ids round-trip on their own keys or are refused with INVALID_KEY (300 runs)", async () => {
    const started = performance.now();
    const outcomes = { accepted: 0, refused: 0 };
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(nameArb, idArb(h.prefix), idArb(h.prefix), async (name, cid, sid) => {
        fc.pre(!isBystanderCid(name, cid) && !isBystanderSid(name, sid));
        runs++;
        outcomes[await runCase(h, baseline, bystanders, { name, cid, sid }, `p${counter++}`)]++;
      }),
      { numRuns: 300 },
    );
    engineFigures.property = { runs, ...outcomes, ms: Math.round(performance.now() - started) };
    expect(outcomes.accepted).toBeGreaterThan(25);
    expect(outcomes.refused).toBeGreaterThan(25);
  }, 120_000);
});

// ---- injectivity of the key mapping ----------------------------------------------------------

describe("the key mapping is injective at the byte level Redis sees", () => {
  const layout = new KeyLayout("saga-bus:");
  const accepted = (name: string, id: string) => nameAccepted(name) && idAccepted(id);
  const bytes = (key: string) => Buffer.from(key, "utf8");
  /** Small alphabets make equal and near-equal strings common. */
  const pieceArb = fc.oneof(keyishArb, fc.string({ unit: codeUnitArb, maxLength: 4 }), fc.constantFrom("Order", "{Order}", "idx", "i", "%", "a"));

  it("distinct accepted (name, correlationId) pairs get distinct value keys; value keys never equal index keys (20,000 cases)", () => {
    let compared = 0;
    fc.assert(
      fc.property(pieceArb, pieceArb, pieceArb, pieceArb, pieceArb, (n1, c1, n2, c2, s2) => {
        if (accepted(n1, c1) && accepted(n2, c2)) {
          compared++;
          const same = n1 === n2 && c1 === c2;
          expect(bytes(layout.valueKey(n1, c1)).equals(bytes(layout.valueKey(n2, c2))), `valueKey(${short(n1)}, ${short(c1)}) vs (${short(n2)}, ${short(c2)})`).toBe(same);
        }
        if (accepted(n1, c1) && accepted(n2, s2)) {
          expect(bytes(layout.valueKey(n1, c1)).equals(bytes(layout.indexKey(n2, s2))), `valueKey(${short(n1)}, ${short(c1)}) = indexKey(${short(n2)}, ${short(s2)})`).toBe(false);
        }
        if (accepted(n1, s2) && accepted(n2, c2)) {
          const same = n1 === n2 && s2 === c2;
          expect(bytes(layout.indexKey(n1, s2)).equals(bytes(layout.indexKey(n2, c2)))).toBe(same);
        }
        if (accepted(n1, c1)) {
          // The value key names its correlation id unambiguously (what scanCorrelationIds relies on).
          const prefix = layout.sagaKeyPrefix(n1);
          expect(layout.correlationIdOf(prefix, layout.valueKey(n1, c1))).toBe(c1);
          if (idAccepted(s2)) expect(layout.correlationIdOf(prefix, layout.indexKey(n1, s2))).toBeUndefined();
        }
      }),
      { numRuns: 20_000 },
    );
    figures.injectivity = { cases: 20_000, acceptedPairsCompared: compared };
    expect(compared).toBeGreaterThan(2_000);
  });

  it("every accepted (name, id) pair of the corpus and the bystanders gets its own value key and its own index key", () => {
    const names = [...new Set([...BYSTANDERS.map((b) => b.name), ...corpus("saga-bus:").map(([, v]) => v)])].filter(nameAccepted);
    const ids = [...new Set([...BYSTANDERS.flatMap((b) => [b.cid, b.sid]), ...corpus("saga-bus:").map(([, v]) => v)])].filter(idAccepted);
    const seen = new Map<string, string>();
    for (const name of names) {
      for (const id of ids) {
        for (const [kind, key] of [["value", layout.valueKey(name, id)], ["index", layout.indexKey(name, id)]] as const) {
          const hexKey = bytes(key).toString("hex");
          const owner = `${kind}(${short(name)}, ${short(id)})`;
          expect(seen.get(hexKey), `${owner} collides`).toBeUndefined();
          seen.set(hexKey, owner);
        }
      }
    }
    expect(seen.size).toBe(names.length * ids.length * 2);
  });
});
