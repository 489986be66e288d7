import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { inflateRawSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { stringWithReserve, type SagaCodec } from "../codecs/codec";
import { HEADER_SIZE } from "../codecs/envelope";
import { DEFAULT_COMPRESS_ABOVE_BYTES, DEFAULT_MAX_STATE_BYTES, EnvelopeSerializer } from "../codecs/serializer";
import { MemoryEngine } from "../src/engines/memory";
import {
  DecodeError,
  InMemorySagaStore,
  InvalidOptionsError,
  InvalidStateError,
  SagaStore,
  StateTooLargeError,
  type SagaStoreOptions,
} from "../src/index";
import { CODEC_IDS, CODECS, Money, type CodecName } from "./support/envelopes";
import { indexKeyOf, valueKeyOf } from "./support/key-layout";

const AT = new Date("2026-01-02T03:04:05.678Z");
const meta = (sagaId: string, version = 0) => ({ sagaId, version, createdAt: new Date(AT), updatedAt: new Date(AT), isCompleted: false });
const encodeMeta = (sagaId = "s1", sagaVersion = 0) => ({ sagaId, sagaVersion, schemaVersion: 1 });

/** A store on the embedded engine whose stored bytes the test can inspect. */
function inspectableStore(options: SagaStoreOptions = {}) {
  const embedded = new MemoryEngine();
  const store = new SagaStore({ keyPrefix: "c:", ...options }, () => embedded);
  return { store, embedded, valueKey: (name: string, correlationId: string) => valueKeyOf("c:", name, correlationId), indexKey: (name: string, id: string) => indexKeyOf("c:", name, id) };
}

// =====================================================================================
// Type fidelity
// =====================================================================================

/** What a codec gives back for field `v`: a value (compared with toStrictEqual and Object.is for numbers), no key at all, or an encode failure. */
type Outcome = { value: unknown } | { absent: true } | { encodeThrows: RegExp; errorType: new (...args: never[]) => Error };

interface FidelityRow {
  label: string;
  input: () => unknown;
  expect: Record<CodecName, Outcome>;
  /** Cell text of docs/fidelity.md, kept in sync by a test below. */
  doc: Record<CodecName, string>;
}

const same = (value: unknown): Outcome => ({ value });

const FIDELITY: FidelityRow[] = [
  {
    label: "Date (user field)",
    input: () => new Date("2025-05-06T07:08:09.010Z"),
    expect: { json: same("2025-05-06T07:08:09.010Z"), superjson: same(new Date("2025-05-06T07:08:09.010Z")), msgpack: same(new Date("2025-05-06T07:08:09.010Z")) },
    doc: { json: "ISO string", superjson: "Date", msgpack: "Date" },
  },
  {
    label: "Invalid Date",
    input: () => new Date(Number.NaN),
    expect: { json: same(null), superjson: same(null), msgpack: same(new Date(Number.NaN)) },
    doc: { json: "null", superjson: "null", msgpack: "Invalid Date" },
  },
  {
    label: "Map, string keys",
    input: () => new Map<string, unknown>([["a", 1], ["b", { c: 2 }]]),
    expect: {
      json: same({}),
      superjson: same(new Map<string, unknown>([["a", 1], ["b", { c: 2 }]])),
      msgpack: same({ a: 1, b: { c: 2 } }),
    },
    doc: { json: "`{}` (entries lost)", superjson: "Map", msgpack: "plain object" },
  },
  {
    label: "Map, number keys",
    input: () => new Map<number, string>([[1, "x"], [2, "y"]]),
    expect: { json: same({}), superjson: same(new Map([[1, "x"], [2, "y"]])), msgpack: same({ "1": "x", "2": "y" }) },
    doc: { json: "`{}` (entries lost)", superjson: "Map", msgpack: "plain object, keys become strings" },
  },
  {
    label: "Set",
    input: () => new Set([1, "two", 3]),
    expect: { json: same({}), superjson: same(new Set([1, "two", 3])), msgpack: same(new Set([1, "two", 3])) },
    doc: { json: "`{}` (members lost)", superjson: "Set", msgpack: "Set" },
  },
  {
    label: "BigInt (2^70)",
    input: () => 2n ** 70n,
    expect: { json: { encodeThrows: /BigInt/, errorType: TypeError }, superjson: same(2n ** 70n), msgpack: same(2n ** 70n) },
    doc: { json: "write fails: `InvalidStateError` (`INVALID_STATE`)", superjson: "BigInt", msgpack: "BigInt" },
  },
  {
    label: "BigInt (small, 5n)",
    input: () => 5n,
    expect: { json: { encodeThrows: /BigInt/, errorType: TypeError }, superjson: same(5n), msgpack: same(5n) },
    doc: { json: "write fails: `InvalidStateError` (`INVALID_STATE`)", superjson: "BigInt", msgpack: "BigInt" },
  },
  {
    label: "`undefined` field value",
    input: () => undefined,
    expect: { json: { absent: true }, superjson: same(undefined), msgpack: same(undefined) },
    doc: { json: "key dropped", superjson: "key kept, `undefined`", msgpack: "key kept, `undefined`" },
  },
  {
    label: "`undefined` in an array",
    input: () => [1, undefined, 3],
    expect: { json: same([1, null, 3]), superjson: same([1, undefined, 3]), msgpack: same([1, undefined, 3]) },
    doc: { json: "`null`", superjson: "`undefined`", msgpack: "`undefined`" },
  },
  {
    label: "NaN",
    input: () => Number.NaN,
    expect: { json: same(null), superjson: same(Number.NaN), msgpack: same(Number.NaN) },
    doc: { json: "`null`", superjson: "NaN", msgpack: "NaN" },
  },
  {
    label: "Infinity, -Infinity",
    input: () => [Infinity, -Infinity],
    expect: { json: same([null, null]), superjson: same([Infinity, -Infinity]), msgpack: same([Infinity, -Infinity]) },
    doc: { json: "`null`", superjson: "kept", msgpack: "kept" },
  },
  {
    label: "-0",
    input: () => -0,
    expect: { json: same(0), superjson: same(-0), msgpack: same(0) },
    doc: { json: "0", superjson: "-0", msgpack: "0" },
  },
  {
    label: "nested arrays",
    input: () => [[1, [2, [3, [4, []]]]], [], [[]], ["a", [true, null]]],
    expect: {
      json: same([[1, [2, [3, [4, []]]]], [], [[]], ["a", [true, null]]]),
      superjson: same([[1, [2, [3, [4, []]]]], [], [[]], ["a", [true, null]]]),
      msgpack: same([[1, [2, [3, [4, []]]]], [], [[]], ["a", [true, null]]]),
    },
    doc: { json: "kept", superjson: "kept", msgpack: "kept" },
  },
  {
    label: "`null`",
    input: () => null,
    expect: { json: same(null), superjson: same(null), msgpack: same(null) },
    doc: { json: "kept", superjson: "kept", msgpack: "kept" },
  },
  {
    label: "class instance with `toJSON()`",
    input: () => new Money(5, "EUR"),
    expect: { json: same("5 EUR"), superjson: same("5 EUR"), msgpack: same({ amount: 5, currency: "EUR" }) },
    doc: { json: "its `toJSON()` value", superjson: "its `toJSON()` value", msgpack: "plain object of its fields (`toJSON` ignored)" },
  },
  {
    label: "Uint8Array",
    input: () => new Uint8Array([1, 2, 255]),
    expect: { json: same({ "0": 1, "1": 2, "2": 255 }), superjson: same(new Uint8Array([1, 2, 255])), msgpack: same(new Uint8Array([1, 2, 255])) },
    doc: { json: "object of indexes", superjson: "Uint8Array", msgpack: "Uint8Array" },
  },
  {
    label: "Buffer",
    input: () => Buffer.from([1, 2, 255]),
    expect: {
      json: same({ type: "Buffer", data: [1, 2, 255] }),
      superjson: same(Buffer.from([1, 2, 255])),
      msgpack: same(Buffer.from([1, 2, 255])),
    },
    doc: { json: "`{ type: \"Buffer\", data }` (its `toJSON()`)", superjson: "Buffer", msgpack: "Buffer" },
  },
  {
    label: "a field named `__proto__`",
    input: () => JSON.parse('{"__proto__":{"x":1},"y":2}'),
    expect: {
      json: same(JSON.parse('{"__proto__":{"x":1},"y":2}')),
      superjson: { encodeThrows: /Detected property __proto__/, errorType: Error },
      msgpack: same({ __proto_: { x: 1 }, y: 2 }),
    },
    doc: { json: "kept", superjson: "write fails: `InvalidStateError` (`INVALID_STATE`)", msgpack: "silently renamed `__proto_`" },
  },
  {
    label: "a field named `constructor` or `prototype`",
    input: () => ({ constructor: "c", prototype: "p", y: 2 }),
    expect: {
      json: same({ constructor: "c", prototype: "p", y: 2 }),
      superjson: { encodeThrows: /Detected property (constructor|prototype)/, errorType: Error },
      msgpack: same({ constructor: "c", prototype: "p", y: 2 }),
    },
    doc: { json: "kept", superjson: "write fails: `InvalidStateError` (`INVALID_STATE`)", msgpack: "kept" },
  },
];

function assertOutcome(container: Record<string, unknown>, outcome: Outcome) {
  if ("encodeThrows" in outcome) throw new Error("assertOutcome called for an encode failure");
  if ("absent" in outcome) {
    expect(Object.hasOwn(container, "v")).toBe(false);
    return;
  }
  expect(Object.hasOwn(container, "v")).toBe(true);
  expect(container.v).toStrictEqual(outcome.value);
  if (typeof outcome.value === "number") expect(Object.is(container.v, outcome.value)).toBe(true);
  if (outcome.value instanceof Date) {
    expect(container.v).toBeInstanceOf(Date);
    expect(Object.is((container.v as Date).getTime(), outcome.value.getTime())).toBe(true);
  }
  if (Array.isArray(outcome.value)) {
    const got = container.v as unknown[];
    outcome.value.forEach((item, i) => {
      expect(Object.hasOwn(got, i)).toBe(true); // no holes
      if (typeof item === "number") expect(Object.is(got[i], item)).toBe(true);
    });
  }
}

describe("type fidelity through EnvelopeSerializer", () => {
  for (const codec of CODECS) {
    describe(codec, () => {
      const serializer = new EnvelopeSerializer({ codec });
      for (const row of FIDELITY) {
        it(`${row.label}: ${row.doc[codec]}`, () => {
          const state = { v: row.input(), other: "kept", metadata: meta("s1") };
          const outcome = row.expect[codec];
          if ("encodeThrows" in outcome) {
            expect(() => serializer.encode("Fidelity", state, encodeMeta())).toThrow(outcome.encodeThrows);
            expect(() => serializer.encode("Fidelity", state, encodeMeta())).toThrow(outcome.errorType);
            return;
          }
          const decoded = serializer.decode("k", serializer.encode("Fidelity", state, encodeMeta())).state;
          assertOutcome(decoded, outcome);
          expect(decoded.other).toBe("kept");
        });
      }
    });
  }
});

describe("type fidelity through InMemorySagaStore({ codec })", () => {
  for (const codec of CODECS) {
    describe(codec, () => {
      for (const [i, row] of FIDELITY.entries()) {
        it(`${row.label}: ${row.doc[codec]}`, async () => {
          const store = new InMemorySagaStore({ codec });
          const sagaId = `saga-${i}`;
          const state = { v: row.input(), metadata: meta(sagaId) };
          const outcome = row.expect[codec];
          if ("encodeThrows" in outcome) {
            const error = await store.insert("Fidelity", `c-${i}`, state).catch((e: unknown) => e);
            expect(error).toBeInstanceOf(InvalidStateError);
            expect((error as InvalidStateError).code).toBe("INVALID_STATE");
            expect((error as Error).message).toMatch(outcome.encodeThrows);
            // nothing was stored
            expect(await store.getByCorrelationId("Fidelity", `c-${i}`)).toBeNull();
            expect(await store.getById("Fidelity", sagaId)).toBeNull();
            return;
          }
          await store.insert("Fidelity", `c-${i}`, state);
          const byCorrelation = (await store.getByCorrelationId("Fidelity", `c-${i}`))!;
          const byId = (await store.getById("Fidelity", sagaId))!;
          assertOutcome(byCorrelation, outcome);
          assertOutcome(byId, outcome);
          expect(byCorrelation.metadata.version).toBe(0);
        });
      }
    });
  }

  it("json: save() of a state holding a BigInt raises InvalidStateError and leaves the stored saga unchanged", async () => {
    const store = new InMemorySagaStore({ codec: "json" });
    await store.insert("Fidelity", "c-big", { n: 1, metadata: meta("saga-big") });
    const loaded = (await store.getByCorrelationId("Fidelity", "c-big"))!;
    const error = await store.save("Fidelity", { ...loaded, n: 10n }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidStateError);
    expect((error as InvalidStateError).code).toBe("INVALID_STATE");
    const after = (await store.getByCorrelationId("Fidelity", "c-big"))!;
    expect(after.n).toBe(1);
    expect(after.metadata.version).toBe(0);
  });
});

describe("saga-bus metadata Dates", () => {
  const metadataWithAllDates = () => ({
    sagaId: "saga-m",
    version: 3,
    createdAt: new Date("2026-01-01T00:00:00.001Z"),
    updatedAt: new Date("2026-01-02T00:00:00.002Z"),
    archivedAt: new Date("2026-01-03T00:00:00.003Z"),
    timeoutExpiresAt: new Date("2026-01-04T00:00:00.004Z"),
    isCompleted: true,
    timeoutMs: 1000,
    traceParent: null,
    traceState: null,
  });

  for (const codec of CODECS) {
    it(`${codec}: createdAt, updatedAt, archivedAt, timeoutExpiresAt come back as equal Dates (serializer and store)`, async () => {
      const serializer = new EnvelopeSerializer({ codec });
      const state = { correlationId: "c-m", metadata: metadataWithAllDates() };
      const decoded = serializer.decode("k", serializer.encode("M", state, encodeMeta("saga-m", 3))).state;
      expect(decoded.metadata).toStrictEqual(metadataWithAllDates());

      const store = new InMemorySagaStore({ codec });
      await store.insert("M", "c-m", state);
      const stored = (await store.getByCorrelationId("M", "c-m"))!;
      for (const field of ["createdAt", "updatedAt", "archivedAt", "timeoutExpiresAt"] as const) {
        expect(stored.metadata[field]).toBeInstanceOf(Date);
        expect(stored.metadata[field]).toStrictEqual(metadataWithAllDates()[field]);
      }
    });

    it(`${codec}: null metadata Dates stay null`, () => {
      const serializer = new EnvelopeSerializer({ codec });
      const state = { metadata: { ...meta("s"), archivedAt: null, timeoutExpiresAt: null } };
      const decoded = serializer.decode("k", serializer.encode("M", state, encodeMeta("s"))).state;
      expect((decoded.metadata as Record<string, unknown>).archivedAt).toBeNull();
      expect((decoded.metadata as Record<string, unknown>).timeoutExpiresAt).toBeNull();
    });
  }

  it("json revives only the metadata paths: the same field names elsewhere stay ISO strings", () => {
    const serializer = new EnvelopeSerializer({ codec: "json" });
    const state = { createdAt: new Date(AT), order: { updatedAt: new Date(AT) }, metadata: { ...meta("s"), extra: new Date(AT) } };
    const decoded = serializer.decode("k", serializer.encode("M", state, encodeMeta())).state as any;
    expect(decoded.createdAt).toBe(AT.toISOString());
    expect(decoded.order.updatedAt).toBe(AT.toISOString());
    expect(decoded.metadata.extra).toBe(AT.toISOString());
    expect(decoded.metadata.createdAt).toStrictEqual(AT);
  });
});

describe("what a codec accepts on write it reads back", () => {
  // msgpack (mapsAsObjects) encodes a Map with non-string keys as a MessagePack
  // map with object keys, which its own decoder then refuses: the write
  // succeeds and every later read of the saga fails with DECODE_FAILED.
  const objectKeys: [string, () => unknown][] = [
    ["an object", () => ({ id: 1 })],
    ["an array", () => [1, 2]],
    ["a Date", () => new Date(0)],
  ];
  for (const codec of CODECS) {
    for (const [what, key] of objectKeys) {
      it(`${codec}: a Map keyed by ${what} is refused at write (INVALID_STATE) or read back, never stored unreadable`, async () => {
        const store = new InMemorySagaStore({ codec });
        const state = { lookup: new Map<unknown, unknown>([[key(), "v"]]), metadata: meta("saga-ok") };
        let stored = true;
        try {
          await store.insert("Keys", "k1", state);
        } catch (error) {
          stored = false;
          expect(error).toBeInstanceOf(InvalidStateError);
        }
        if (!stored) {
          expect(await store.getByCorrelationId("Keys", "k1")).toBeNull();
          return;
        }
        const read = await store.getByCorrelationId("Keys", "k1").then(
          (value) => ({ ok: true as const, value }),
          (error: unknown) => ({ ok: false as const, error }),
        );
        expect(read.ok, read.ok ? "" : `saga written with ${codec} cannot be read back: ${(read.error as Error).message}`).toBe(true);
      });
    }
  }
});

describe("docs/fidelity.md", () => {
  it("shows exactly the tested matrix", () => {
    const text = readFileSync(new URL("../docs/fidelity.md", import.meta.url), "utf8");
    const rows = text
      .split("\n")
      .filter((line) => line.startsWith("|"))
      .slice(2) // header and separator
      .map((line) => line.trim());
    const expected = FIDELITY.map((row) => `| ${row.label} | ${row.doc.json} | ${row.doc.superjson} | ${row.doc.msgpack} |`);
    expect(rows).toEqual(expected);
  });
});

// =====================================================================================
// Every instance reads every codec
// =====================================================================================

describe("every reader reads every codec", () => {
  const state = { a: 1, list: ["x", "y"], metadata: meta("s1", 2) };
  for (const writer of CODECS) {
    for (const reader of CODECS) {
      it(`${writer} envelope read by a ${reader} serializer`, () => {
        const bytes = new EnvelopeSerializer({ codec: writer }).encode("X", state, encodeMeta("s1", 3));
        expect(bytes[2]).toBe(CODEC_IDS[writer]);
        const decoded = new EnvelopeSerializer({ codec: reader }).decode("k", bytes);
        expect(decoded.state).toStrictEqual(state);
        expect(decoded.sagaVersion).toBe(3);
        expect(decoded.schemaVersion).toBe(1);
      });
    }
  }

  it("a store switched from msgpack to json keeps reading and updating the msgpack saga (rolling codec change)", async () => {
    const embedded = new MemoryEngine();
    const before = new SagaStore({ codec: "msgpack", keyPrefix: "r:" }, () => embedded);
    await before.insert("Roll", "c1", { n: 1, metadata: meta("saga-r") });
    expect((await embedded.getValue(valueKeyOf("r:", "Roll", "c1")))![2]).toBe(3);

    const after = new SagaStore({ codec: "json", keyPrefix: "r:" }, () => embedded);
    const loaded = (await after.getByCorrelationId("Roll", "c1"))!;
    expect(loaded.n).toBe(1);
    await after.update("Roll", { ...loaded, n: 2 }, 0);
    const bytes = (await embedded.getValue(valueKeyOf("r:", "Roll", "c1")))!;
    expect(bytes[2]).toBe(1);
    expect(bytes.readUInt32BE(8)).toBe(1);
    expect((await before.getByCorrelationId("Roll", "c1"))!.n).toBe(2);
  });
});

// =====================================================================================
// Compression
// =====================================================================================

/** A compressible state whose json payload is a bit over `bytes` long. */
function compressibleState(bytes: number, sagaId = "s-big") {
  const rows: { i: number; sku: string; note: string }[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const row = { i, sku: `SKU-${i % 50}`, note: "gift wrap, leave at the door" };
    rows.push(row);
    size += JSON.stringify(row).length + 1;
  }
  return { rows, metadata: meta(sagaId) };
}

/** A state whose json payload is exactly `bytes` long: {"s":"xxx..."}. */
function exactJsonState(bytes: number) {
  const state = { s: "x".repeat(bytes - 8) };
  expect(Buffer.byteLength(JSON.stringify(state))).toBe(bytes);
  return state;
}

describe("compression", () => {
  it("default threshold is 16384 bytes and default maxStateBytes 8 MiB", () => {
    expect(DEFAULT_COMPRESS_ABOVE_BYTES).toBe(16384);
    expect(DEFAULT_MAX_STATE_BYTES).toBe(8 * 1024 * 1024);
  });

  for (const codec of CODECS) {
    it(`${codec}: a payload above 16384 bytes is stored deflated (flag bit 0), smaller, and round-trips`, () => {
      const serializer = new EnvelopeSerializer({ codec });
      // msgpack records make the same state about a third smaller than JSON text
      const state = compressibleState(codec === "msgpack" ? 30_000 : 20_000);
      const plain = new EnvelopeSerializer({ codec, compressAboveBytes: 0 }).encode("Big", state, encodeMeta("s-big"));
      expect(plain.length - HEADER_SIZE).toBeGreaterThan(16384);
      expect(plain[3]).toBe(0);

      const bytes = serializer.encode("Big", state, encodeMeta("s-big"));
      expect(bytes[3]! & 0x01).toBe(1);
      expect(bytes[3]).toBe(0x01);
      expect(bytes.length).toBeLessThan(plain.length / 3);
      expect(inflateRawSync(bytes.subarray(HEADER_SIZE)).equals(plain.subarray(HEADER_SIZE))).toBe(true);
      expect(serializer.decode("k", bytes).state).toStrictEqual(state);
    });

    it(`${codec}: a payload below the threshold is not compressed`, () => {
      const serializer = new EnvelopeSerializer({ codec });
      const state = compressibleState(10_000);
      const bytes = serializer.encode("Big", state, encodeMeta());
      expect(bytes[3]).toBe(0);
      expect(bytes.length - HEADER_SIZE).toBeLessThan(16384);
      expect(serializer.decode("k", bytes).state).toStrictEqual(state);
    });

    it(`${codec}: compressAboveBytes 0 turns compression off`, () => {
      const serializer = new EnvelopeSerializer({ codec, compressAboveBytes: 0 });
      const state = compressibleState(codec === "msgpack" ? 250_000 : 150_000);
      const bytes = serializer.encode("Big", state, encodeMeta());
      expect(bytes[3]).toBe(0);
      expect(bytes.length - HEADER_SIZE).toBeGreaterThan(100_000);
      expect(serializer.decode("k", bytes).state).toStrictEqual(state);
    });
  }

  it("the threshold is strict: a payload of exactly compressAboveBytes is not compressed, one byte more is", () => {
    const serializer = new EnvelopeSerializer({ codec: "json", compressAboveBytes: 1000 });
    const at = serializer.encode("T", exactJsonState(1000), encodeMeta());
    expect(at[3]).toBe(0);
    expect(at.length).toBe(HEADER_SIZE + 1000);
    const above = serializer.encode("T", exactJsonState(1001), encodeMeta());
    expect(above[3]).toBe(1);
    expect(above.length).toBeLessThan(HEADER_SIZE + 1001);
    expect(serializer.decode("k", above).state).toStrictEqual(exactJsonState(1001));
  });

  it("a payload deflate cannot shrink is stored uncompressed", () => {
    const serializer = new EnvelopeSerializer({ codec: "msgpack", compressAboveBytes: 100 });
    const state = { noise: randomBytes(50_000) };
    const bytes = serializer.encode("T", state, encodeMeta());
    expect(bytes[3]).toBe(0);
    expect(Buffer.from((serializer.decode("k", bytes).state as any).noise).equals(state.noise)).toBe(true);
  });

  it("the store writes a large saga deflated and reads it back (embedded engine, bytes inspected)", async () => {
    const { store, embedded, valueKey } = inspectableStore();
    const state = { ...compressibleState(30_000, "saga-z"), correlationId: "z1" };
    await store.insert("Big", "z1", state);
    const stored = (await embedded.getValue(valueKey("Big", "z1")))!;
    expect(stored[3]).toBe(0x01);
    expect(stored.length).toBeLessThan(Buffer.byteLength(JSON.stringify(state)) / 3);
    const loaded = (await store.getByCorrelationId("Big", "z1"))!;
    expect(loaded).toStrictEqual(state);

    const small = { n: 1, correlationId: "z2", metadata: meta("saga-z2") };
    await store.insert("Big", "z2", small);
    expect((await embedded.getValue(valueKey("Big", "z2")))![3]).toBe(0);
  });

  it("rejects invalid compressAboveBytes / maxStateBytes with InvalidOptionsError", () => {
    for (const options of [{ compressAboveBytes: -1 }, { compressAboveBytes: 1.5 }, { compressAboveBytes: Number.NaN }, { maxStateBytes: -1 }, { maxStateBytes: Infinity }]) {
      expect(() => new EnvelopeSerializer(options)).toThrow(InvalidOptionsError);
      expect(() => new InMemorySagaStore(options)).toThrow(InvalidOptionsError);
    }
  });
});

// =====================================================================================
// maxStateBytes
// =====================================================================================

describe("maxStateBytes", () => {
  it("the limit is on the encoded payload: exactly the limit is accepted, one byte more is StateTooLargeError", () => {
    const serializer = new EnvelopeSerializer({ codec: "json", maxStateBytes: 1000 });
    expect(serializer.encode("T", exactJsonState(1000), encodeMeta()).length).toBe(HEADER_SIZE + 1000);
    const error = (() => {
      try {
        serializer.encode("T", exactJsonState(1001), encodeMeta());
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(StateTooLargeError);
    expect((error as StateTooLargeError).code).toBe("STATE_TOO_LARGE");
    expect((error as StateTooLargeError).sizeBytes).toBe(1001);
    expect((error as StateTooLargeError).limitBytes).toBe(1000);
    expect((error as StateTooLargeError).sagaName).toBe("T");
  });

  it("the limit applies before compression (a payload that would compress small is still too large)", () => {
    const serializer = new EnvelopeSerializer({ codec: "json", maxStateBytes: 4096, compressAboveBytes: 100 });
    expect(() => serializer.encode("T", compressibleState(10_000), encodeMeta())).toThrow(StateTooLargeError);
  });

  for (const codec of CODECS) {
    it(`${codec}: insert of a state above the limit throws STATE_TOO_LARGE and stores nothing (value nor index)`, async () => {
      const { store, embedded, valueKey, indexKey } = inspectableStore({ codec, maxStateBytes: 2048 });
      const state = { ...compressibleState(4096, "saga-l"), correlationId: "l1" };
      const error = await store.insert("Large", "l1", state).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StateTooLargeError);
      expect((error as StateTooLargeError).code).toBe("STATE_TOO_LARGE");
      expect(await embedded.getValue(valueKey("Large", "l1"))).toBeNull();
      expect(await embedded.getIndex(indexKey("Large", "saga-l"))).toBeNull();
      expect(await store.getByCorrelationId("Large", "l1")).toBeNull();

      const { metadata: _metadata, ...fields } = state;
      const viaSave = await store.save("Large", { ...fields, id: "saga-l", correlationId: "l1" }).catch((e: unknown) => e);
      expect(viaSave).toBeInstanceOf(StateTooLargeError);
      expect(await embedded.getValue(valueKey("Large", "l1"))).toBeNull();
    });

    it(`${codec}: an update growing a saga past the limit throws STATE_TOO_LARGE and leaves it unchanged`, async () => {
      const { store, embedded, valueKey } = inspectableStore({ codec, maxStateBytes: 2048 });
      await store.insert("Large", "g1", { n: 1, metadata: meta("saga-g") });
      const before = Buffer.from((await embedded.getValue(valueKey("Large", "g1")))!);
      const loaded = (await store.getByCorrelationId("Large", "g1"))!;
      const error = await store.update("Large", { ...loaded, blob: "y".repeat(4096) }, 0).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StateTooLargeError);
      expect((await embedded.getValue(valueKey("Large", "g1")))!.equals(before)).toBe(true);
      const modified = await store.modify("Large", "g1", (s) => ({ ...s, blob: "y".repeat(4096) })).catch((e: unknown) => e);
      expect(modified).toBeInstanceOf(StateTooLargeError);
      expect((await store.getByCorrelationId("Large", "g1"))!.metadata.version).toBe(0);
    });

    it(`${codec}: a 5 MB state round-trips through the store with maxStateBytes 8 MiB`, async () => {
      const { store, embedded, valueKey } = inspectableStore({ codec, maxStateBytes: 8 * 1024 * 1024 });
      const lines = Array.from({ length: codec === "msgpack" ? 110_000 : 80_000 }, (_, i) => ({ i, sku: `SKU-${i}`, qty: i % 7, note: `line ${i} of a very large order` }));
      const state = { correlationId: "huge", lines, metadata: meta("saga-huge") };
      const payloadBytes = new EnvelopeSerializer({ codec, compressAboveBytes: 0, maxStateBytes: 8 * 1024 * 1024 }).encode("Huge", state, encodeMeta("saga-huge")).length - HEADER_SIZE;
      expect(payloadBytes).toBeGreaterThanOrEqual(5_000_000);
      expect(payloadBytes).toBeLessThanOrEqual(8 * 1024 * 1024);

      await store.insert("Huge", "huge", state);
      const stored = (await embedded.getValue(valueKey("Huge", "huge")))!;
      expect(stored[3]).toBe(1); // above the default compression threshold
      const loaded = (await store.getByCorrelationId("Huge", "huge"))!;
      expect(loaded).toStrictEqual(state);
    });
  }
});

// =====================================================================================
// Custom codecs
// =====================================================================================

/** JSON text reversed: unreadable by any built-in codec, so only id 200 can decode it. */
const reversedJson = (id: number): SagaCodec => ({
  id,
  name: `reversed-json-${id}`,
  encode: (state, reserve) => stringWithReserve([...JSON.stringify(state)].reverse().join(""), reserve),
  decode: (payload) => JSON.parse([...payload.toString("utf8")].reverse().join("")),
});

describe("custom codecs", () => {
  it("a codec object with id 200 writes codec byte 200 and round-trips through serializer and store", async () => {
    const codec = reversedJson(200);
    const serializer = new EnvelopeSerializer({ codec });
    const state = { label: "custom", n: 42, metadata: { sagaId: "saga-c", version: 0 } };
    const bytes = serializer.encode("Custom", state, encodeMeta("saga-c"));
    expect(bytes[2]).toBe(200);
    expect(bytes.subarray(HEADER_SIZE).toString("utf8")).toBe([...JSON.stringify(state)].reverse().join(""));
    expect(serializer.decode("k", bytes).state).toStrictEqual(state);

    const { store, embedded, valueKey } = inspectableStore({ codec });
    await store.insert("Custom", "c1", state);
    expect((await embedded.getValue(valueKey("Custom", "c1")))![2]).toBe(200);
    const loaded = (await store.getByCorrelationId("Custom", "c1"))!;
    expect(loaded.label).toBe("custom");
    await store.update("Custom", { ...loaded, n: 43 }, 0);
    expect((await store.getByCorrelationId("Custom", "c1"))!.n).toBe(43);
  });

  it("a store with a custom codec still reads every built-in codec", () => {
    const custom = new EnvelopeSerializer({ codec: reversedJson(200) });
    for (const codec of CODECS) {
      const bytes = new EnvelopeSerializer({ codec }).encode("X", { a: codec }, encodeMeta());
      expect(custom.decode("k", bytes).state).toStrictEqual({ a: codec });
    }
  });

  it("a reader without the custom codec fails with DecodeError naming the key", () => {
    const bytes = new EnvelopeSerializer({ codec: reversedJson(200) }).encode("X", { a: 1 }, encodeMeta());
    const error = (() => {
      try {
        new EnvelopeSerializer().decode("the:key", bytes);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(DecodeError);
    expect((error as DecodeError).code).toBe("DECODE_FAILED");
    expect((error as DecodeError).key).toBe("the:key");
    expect((error as DecodeError).message).toMatch(/unknown codec id 200/);
  });

  it("a codec object with a reserved or invalid id (5, 1, 127, 0, 256, 200.5) is rejected with InvalidOptionsError", () => {
    for (const id of [5, 1, 3, 127, 0, -1, 256, 200.5, Number.NaN]) {
      const error = (() => {
        try {
          new EnvelopeSerializer({ codec: reversedJson(id) });
        } catch (e) {
          return e;
        }
      })();
      expect(error, `id ${id}`).toBeInstanceOf(InvalidOptionsError);
      expect((error as InvalidOptionsError).code).toBe("INVALID_OPTIONS");
      expect(() => new InMemorySagaStore({ codec: reversedJson(id) })).toThrow(InvalidOptionsError);
    }
  });

  it("ids 128 and 255 are the custom range's bounds", () => {
    expect(new EnvelopeSerializer({ codec: reversedJson(128) }).encode("X", { a: 1 }, encodeMeta())[2]).toBe(128);
    expect(new EnvelopeSerializer({ codec: reversedJson(255) }).encode("X", { a: 1 }, encodeMeta())[2]).toBe(255);
  });

  it("an unknown codec name is rejected with InvalidOptionsError", () => {
    expect(() => new EnvelopeSerializer({ codec: "yaml" as never })).toThrow(InvalidOptionsError);
    expect(() => new InMemorySagaStore({ codec: "yaml" as never })).toThrow(InvalidOptionsError);
  });
});

// =====================================================================================
// Size: msgpack vs json on a realistic order
// =====================================================================================

/** A realistic saga-bus order state, about 700 bytes as JSON. */
function orderState() {
  const at = new Date("2026-03-04T05:06:07.089Z");
  return {
    orderId: "ord-000123",
    customer: { id: "cus-88231", name: "Ada Lovelace", email: "ada@example.com" },
    items: [
      { sku: "SKU-1001", qty: 2, price: 19.99 },
      { sku: "SKU-2040", qty: 1, price: 149.5 },
      { sku: "SKU-3307", qty: 3, price: 4.25 },
      { sku: "SKU-4410", qty: 1, price: 89 },
      { sku: "SKU-5123", qty: 6, price: 2.5 },
    ],
    shippingAddress: { street: "12 Engine Way", city: "London", zip: "N1 9GU", country: "GB" },
    billingAddress: { street: "12 Engine Way", city: "London", zip: "N1 9GU", country: "GB" },
    status: "payment_pending",
    total: 420.73,
    metadata: { sagaId: "saga-7f3c2a90", version: 3, createdAt: at, updatedAt: at, isCompleted: false },
  };
}

describe("bytes per state", () => {
  it("the ~700-byte order state: msgpack stored bytes are at most 0.75x json's", () => {
    const sizes = Object.fromEntries(
      CODECS.map((codec) => [codec, new EnvelopeSerializer({ codec }).encode("Order", orderState(), encodeMeta("saga-7f3c2a90", 4)).length]),
    ) as Record<CodecName, number>;
    // the premise: a ~700-byte state
    expect(sizes.json).toBeGreaterThanOrEqual(650);
    expect(sizes.json).toBeLessThanOrEqual(750);
    expect(sizes.msgpack / sizes.json, `bytes per stored value: ${JSON.stringify(sizes)}`).toBeLessThanOrEqual(0.75);
  });
});
