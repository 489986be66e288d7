import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { inflateRawSync } from "node:zlib";
import { Packr } from "msgpackr";
import superjson from "superjson";
import { describe, expect, it } from "vitest";
import {
  ENVELOPE_FORMAT_VERSION,
  ENVELOPE_MAGIC,
  FLAG_DEFLATE,
  FLAG_ENCRYPTED,
  HEADER_SIZE,
  KNOWN_FLAGS, HIGHEST_BUILT_IN_CODEC_ID, FIRST_CUSTOM_CODEC_ID,
  OFFSET,
} from "../codecs/envelope";
import { EnvelopeSerializer } from "../codecs/serializer";
import { MemoryEngine } from "../src/engines/memory";
import {
  ConcurrencyError,
  ENVELOPE_FORMAT_VERSION as EXPORTED_FORMAT_VERSION,
  ENVELOPE_HEADER_SIZE as EXPORTED_HEADER_SIZE,
  SagaStore,
} from "../src/index";
import { Money } from "./support/envelopes";

/**
 * The on-Redis format is a contract: bytes written by any released version
 * must decode to the same state forever. The fixtures in test/fixtures/golden
 * were generated once (see the README there); this file only reads them.
 */

const FIXTURES = new URL("./fixtures/golden/", import.meta.url);

function fixture(name: string): Buffer {
  const text = readFileSync(new URL(`${name}.hex`, FIXTURES), "utf8").replace(/\s+/g, "");
  if (!/^(?:[0-9a-f]{2})+$/.test(text)) throw new Error(`fixture ${name}.hex is not an even-length lowercase hex string`);
  return Buffer.from(text, "hex");
}

const SAGA_ID = "saga-golden-1";
const HEADER_VERSION = 7;
const META = { sagaId: SAGA_ID, sagaVersion: HEADER_VERSION, schemaVersion: 1 } as const;

// ---- inputs the fixtures were encoded from -----------------------------------

const createdAt = new Date("2026-01-02T03:04:05.678Z");
const updatedAt = new Date("2026-01-02T03:09:10.111Z");
const timeoutExpiresAt = new Date("2026-01-02T03:10:10.111Z");
const placedAt = new Date("2025-12-31T23:59:59.999Z");

const metadata = () => ({
  sagaId: SAGA_ID,
  version: 6,
  createdAt: new Date(createdAt),
  updatedAt: new Date(updatedAt),
  isCompleted: false,
  archivedAt: null,
  timeoutMs: 60000,
  timeoutExpiresAt: new Date(timeoutExpiresAt),
  traceParent: null,
  traceState: null,
});

const base = () => ({
  orderId: "ord-1001",
  correlationId: "ord-1001",
  status: "awaiting_payment",
  totalCents: 1234,
  rate: 0.125,
  items: [
    { sku: "SKU-1", qty: 2, priceCents: 450 },
    { sku: "SKU-2", qty: 1, priceCents: 334 },
  ],
  tags: ["plain", "ü€😀"],
  nested: [[1, [2, [3]]], []],
  empty: {},
  paid: false,
  paymentId: null,
  placedAt: new Date(placedAt),
  metadata: metadata(),
});

const rich = () => ({
  ...base(),
  lookup: new Map<string, unknown>([
    ["warehouse", "LHR-2"],
    ["slot", 7],
  ]),
  labels: new Set(["gift", "express"]),
  ledgerId: 9007199254740993n,
  note: undefined,
  holes: [1, undefined, 3],
  ratio: NaN,
});

const history = () => Array.from({ length: 40 }, (_, step) => ({ step, event: "PaymentRequested", at: "2026-01-02T03:04:05.678Z" }));

const GOLDEN_INPUTS = {
  json: base(),
  superjson: rich(),
  msgpack: rich(),
  "json-deflate": { ...base(), history: history() },
};

// ---- what every reader must get back -------------------------------------------

/** Written out literally: the expectation must not depend on today's encoder. */
const expectedJsonState = () => ({
  orderId: "ord-1001",
  correlationId: "ord-1001",
  status: "awaiting_payment",
  totalCents: 1234,
  rate: 0.125,
  items: [
    { sku: "SKU-1", qty: 2, priceCents: 450 },
    { sku: "SKU-2", qty: 1, priceCents: 334 },
  ],
  tags: ["plain", "ü€😀"],
  nested: [[1, [2, [3]]], []],
  empty: {},
  paid: false,
  paymentId: null,
  placedAt: "2025-12-31T23:59:59.999Z", // a user Date is an ISO string under json
  metadata: {
    sagaId: SAGA_ID,
    version: 6,
    createdAt: new Date("2026-01-02T03:04:05.678Z"),
    updatedAt: new Date("2026-01-02T03:09:10.111Z"),
    isCompleted: false,
    archivedAt: null,
    timeoutMs: 60000,
    timeoutExpiresAt: new Date("2026-01-02T03:10:10.111Z"),
    traceParent: null,
    traceState: null,
  },
});

const expectedRichState = (lookup: unknown) => ({
  ...expectedJsonState(),
  placedAt: new Date("2025-12-31T23:59:59.999Z"),
  lookup,
  labels: new Set(["gift", "express"]),
  ledgerId: 9007199254740993n,
  note: undefined,
  holes: [1, undefined, 3],
  ratio: NaN,
});

const EXPECTED: Record<string, { codecId: number; flags: number; state: Record<string, unknown> }> = {
  json: { codecId: 1, flags: 0, state: expectedJsonState() },
  superjson: {
    codecId: 2,
    flags: 0,
    state: expectedRichState(
      new Map<string, unknown>([
        ["warehouse", "LHR-2"],
        ["slot", 7],
      ]),
    ),
  },
  msgpack: { codecId: 3, flags: 0, state: expectedRichState({ warehouse: "LHR-2", slot: 7 }) },
  // codec 3 as released: records without shared structures (msgpack.hex predates records and must still decode)
  "msgpack-records": { codecId: 3, flags: 0, state: expectedRichState({ warehouse: "LHR-2", slot: 7 }) },
  "json-deflate": { codecId: 1, flags: FLAG_DEFLATE, state: { ...expectedJsonState(), history: history() } },
};

const expectedLegacy = () => ({ ...expectedJsonState(), metadata: { ...expectedJsonState().metadata, version: 4 } });

const expectedLegacySeedShape = () => ({
  id: "saga-456",
  correlationId: "order-123",
  status: "running",
  version: 2,
  data: { orderId: "order-123", placedAt: "2025-12-31T23:59:59.999Z" },
  // the metadata Date paths are revived whatever the shape
  metadata: { createdAt: new Date("2026-01-02T03:04:05.678Z"), updatedAt: new Date("2026-01-02T03:09:10.111Z") },
});

function fingerprint(sagaId: string): Buffer {
  return createHash("sha1").update(Buffer.from(sagaId, "utf8")).digest().subarray(0, 8);
}

const withoutToken = (bytes: Buffer) => Buffer.concat([bytes.subarray(0, 12), bytes.subarray(20)]);

// ---- constants ----------------------------------------------------------------

describe("envelope constants", () => {
  it("pins HEADER_SIZE = 28, ENVELOPE_FORMAT_VERSION = 1, magic 0xFE, deflate flag bit 0, encrypted flag bit 1", () => {
    expect(HEADER_SIZE).toBe(28);
    expect(ENVELOPE_FORMAT_VERSION).toBe(1);
    expect(EXPORTED_HEADER_SIZE).toBe(28);
    expect(EXPORTED_FORMAT_VERSION).toBe(1);
    expect(ENVELOPE_MAGIC).toBe(0xfe);
    expect(FLAG_DEFLATE).toBe(0x01);
    expect(KNOWN_FLAGS).toBe(0x03);
    expect(HIGHEST_BUILT_IN_CODEC_ID).toBe(3);
    expect(FIRST_CUSTOM_CODEC_ID).toBe(128);
    expect(OFFSET).toEqual({
      magic: 0,
      format: 1,
      codec: 2,
      flags: 3,
      schemaVersion: 4,
      sagaVersion: 8,
      token: 12,
      fingerprint: 20,
    });
  });
});

// ---- fixed bytes decode to fixed states -----------------------------------------

describe("golden envelopes decode to fixed states", () => {
  const reader = new EnvelopeSerializer(); // default (json) writer: every codec is readable anyway

  for (const [name, expected] of Object.entries(EXPECTED)) {
    describe(`${name}.hex`, () => {
      it("has the header it was written with", () => {
        const bytes = fixture(name);
        expect(bytes[0]).toBe(0xfe);
        expect(bytes[1]).toBe(1);
        expect(bytes[2]).toBe(expected.codecId);
        expect(bytes[3]).toBe(expected.flags);
        expect(bytes.readUInt32BE(4)).toBe(1);
        expect(bytes.readUInt32BE(8)).toBe(HEADER_VERSION);
        expect(bytes.subarray(20, 28).equals(fingerprint(SAGA_ID))).toBe(true);
      });

      it("decodes to exactly the expected state, versions from the header", () => {
        const key = `golden:${name}`;
        const decoded = reader.decode(key, fixture(name));
        expect(decoded.state).toStrictEqual(expected.state);
        expect(decoded.schemaVersion).toBe(1);
        expect(decoded.sagaVersion).toBe(HEADER_VERSION);
      });

      it("decodes the same with a reader of every codec and with a small compression threshold", () => {
        for (const codec of ["json", "superjson", "msgpack"] as const) {
          const other = new EnvelopeSerializer({ codec, compressAboveBytes: 1, maxStateBytes: 64 * 1024 });
          expect(other.decode("k", fixture(name)).state).toStrictEqual(expected.state);
        }
      });
    });
  }

  it("json.hex and json-deflate.hex keep Dates only at the saga-bus metadata paths", () => {
    const { state } = reader.decode("k", fixture("json"));
    const meta = state.metadata as Record<string, unknown>;
    expect(meta.createdAt).toBeInstanceOf(Date);
    expect(meta.updatedAt).toBeInstanceOf(Date);
    expect(meta.timeoutExpiresAt).toBeInstanceOf(Date);
    expect(meta.archivedAt).toBeNull();
    expect(typeof state.placedAt).toBe("string");
  });

  it("legacy-0.2.2.hex (plain JSON, no envelope) decodes with revived metadata Dates and no header versions", () => {
    const bytes = fixture("legacy-0.2.2");
    expect(bytes[0]).toBe(0x7b); // "{"
    const decoded = reader.decode("golden:legacy", bytes);
    expect(decoded.state).toStrictEqual(expectedLegacy());
    expect(decoded.schemaVersion).toBeUndefined();
    expect(decoded.sagaVersion).toBeUndefined();
  });

  it("legacy-0.2.2-seed-shape.hex decodes in the seed README's shape", () => {
    const decoded = reader.decode("golden:legacy-seed", fixture("legacy-0.2.2-seed-shape"));
    expect(decoded.state).toStrictEqual(expectedLegacySeedShape());
    expect(decoded.schemaVersion).toBeUndefined();
    expect(decoded.sagaVersion).toBeUndefined();
  });
});

// ---- today's encoder still writes the fixtures' bytes -----------------------------

describe("today's encoder reproduces the golden bytes (a codec id pins its exact bytes)", () => {
  for (const [codec, fixtureName] of [
    ["json", "json"],
    ["superjson", "superjson"],
    ["msgpack", "msgpack-records"],
  ] as const) {
    it(`${codec}: identical to ${fixtureName}.hex except the random write token`, () => {
      const encoded = new EnvelopeSerializer({ codec }).encode("OrderSaga", GOLDEN_INPUTS[codec], META);
      const golden = fixture(fixtureName);
      expect(encoded.length).toBe(golden.length);
      expect(withoutToken(encoded).toString("hex")).toBe(withoutToken(golden).toString("hex"));
    });
  }

  it("json-deflate: same header, and the payload inflates to the json codec's plain bytes", () => {
    const encoded = new EnvelopeSerializer({ codec: "json", compressAboveBytes: 256 }).encode("OrderSaga", GOLDEN_INPUTS["json-deflate"], META);
    const golden = fixture("json-deflate");
    expect(withoutToken(encoded.subarray(0, HEADER_SIZE))).toEqual(withoutToken(golden.subarray(0, HEADER_SIZE)));
    const plain = Buffer.from(JSON.stringify(GOLDEN_INPUTS["json-deflate"]), "utf8");
    expect(inflateRawSync(golden.subarray(HEADER_SIZE)).equals(plain)).toBe(true);
    expect(inflateRawSync(encoded.subarray(HEADER_SIZE)).equals(plain)).toBe(true);
  });
});

// ---- an encrypted envelope (README "Encryption at rest") -----------------------------

describe("json-encrypted.hex: AES-256-GCM under a fixed test key and IV", () => {
  // Fixed only here: a real IV is random per write, and must never repeat under one key.
  const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  const iv = Buffer.from(Array.from({ length: 12 }, (_, i) => 0xa0 + i));
  const token = Buffer.from("0123456789abcdef", "hex");
  const encryption = { currentKeyId: "golden-key-1", keys: { "golden-key-1": key } };

  it("decodes to the json golden state; the layout is header, key id length and key id, IV, ciphertext, tag", () => {
    const golden = fixture("json-encrypted");
    expect(golden.subarray(0, HEADER_SIZE).toString("hex")).toBe("fe01010200000001000000070123456789abcdef" + fixture("json").subarray(20, 28).toString("hex"));
    expect(golden[HEADER_SIZE]).toBe(12);
    expect(golden.toString("utf8", HEADER_SIZE + 1, HEADER_SIZE + 13)).toBe("golden-key-1");
    expect(golden.subarray(HEADER_SIZE + 13, HEADER_SIZE + 25).equals(iv)).toBe(true);
    expect(golden.length).toBe(fixture("json").length + 1 + 12 + 12 + 16);
    const decoded = new EnvelopeSerializer({ encryption }).decode("k", golden);
    expect(decoded.state).toStrictEqual(new EnvelopeSerializer().decode("k", fixture("json")).state);
    expect(decoded).toMatchObject({ schemaVersion: 1, sagaVersion: 7, codec: "json", keyId: "golden-key-1" });
  });

  it("today's encoder with the same key, IV and write token writes the fixture to the byte", () => {
    const encoded = new EnvelopeSerializer({ codec: "json", encryption }).encode("OrderSaga", GOLDEN_INPUTS.json, { ...META, writeToken: token, iv });
    expect(encoded.toString("hex")).toBe(fixture("json-encrypted").toString("hex"));
  });

  it("flag bit 1 marks encryption, and is a known flag to the write scripts", () => {
    expect(FLAG_ENCRYPTED).toBe(0x02);
    expect(KNOWN_FLAGS).toBe(FLAG_DEFLATE | FLAG_ENCRYPTED);
  });
});

// ---- header layout of an envelope encoded now -------------------------------------

describe("header layout of a fresh envelope", () => {
  const sagaId = "saga-Ω-😀-42"; // non-ASCII: the fingerprint hashes UTF-8
  const state = { orderId: "o-1", n: 3, metadata: { sagaId, version: 0x01020303, createdAt: createdAt, updatedAt, isCompleted: false } };

  for (const [codec, id] of [
    ["json", 1],
    ["superjson", 2],
    ["msgpack", 3],
  ] as const) {
    it(`${codec}: FE 01 ${id} flags, schema u32 BE, saga version u32 BE, random token, sha1 fingerprint`, () => {
      const serializer = new EnvelopeSerializer({ codec });
      const bytes = serializer.encode("OrderSaga", state, { sagaId, sagaVersion: 0x01020304, schemaVersion: 1 });
      expect(bytes[0]).toBe(0xfe);
      expect(bytes[1]).toBe(1);
      expect(bytes[2]).toBe(id);
      expect(bytes[3]).toBe(0);
      expect([...bytes.subarray(4, 8)]).toEqual([0, 0, 0, 1]);
      expect([...bytes.subarray(8, 12)]).toEqual([1, 2, 3, 4]);
      expect(bytes.subarray(20, 28).equals(fingerprint(sagaId))).toBe(true);

      const again = serializer.encode("OrderSaga", state, { sagaId, sagaVersion: 0x01020304, schemaVersion: 1 });
      expect(again.subarray(12, 20).equals(bytes.subarray(12, 20))).toBe(false);
      expect(withoutToken(again).equals(withoutToken(bytes))).toBe(true);

      const tokens = new Set(Array.from({ length: 50 }, () => serializer.encode("OrderSaga", state, { sagaId, sagaVersion: 1, schemaVersion: 1 }).subarray(12, 20).toString("hex")));
      expect(tokens.size).toBe(50);
    });
  }

  it("extreme versions are written big-endian", () => {
    const serializer = new EnvelopeSerializer();
    const max = serializer.encode("OrderSaga", state, { sagaId, sagaVersion: 0xffffffff, schemaVersion: 0x0a0b0c0d });
    expect([...max.subarray(4, 12)]).toEqual([0x0a, 0x0b, 0x0c, 0x0d, 0xff, 0xff, 0xff, 0xff]);
    const zero = serializer.encode("OrderSaga", state, { sagaId, sagaVersion: 0, schemaVersion: 1 });
    expect([...zero.subarray(8, 12)]).toEqual([0, 0, 0, 0]);
    expect(serializer.decode("k", max).sagaVersion).toBe(0xffffffff);
    expect(serializer.decode("k", max).schemaVersion).toBe(0x0a0b0c0d);
  });

  it("json payload is exactly JSON.stringify(state) in UTF-8", () => {
    const bytes = new EnvelopeSerializer({ codec: "json" }).encode("OrderSaga", state, { sagaId, sagaVersion: 1, schemaVersion: 1 });
    expect(bytes.subarray(HEADER_SIZE).equals(Buffer.from(JSON.stringify(state), "utf8"))).toBe(true);
  });

  it("superjson payload is exactly superjson.stringify(state) in UTF-8", () => {
    const input = { ...state, when: new Date(0), tags: new Set(["a"]) };
    const bytes = new EnvelopeSerializer({ codec: "superjson" }).encode("OrderSaga", input, { sagaId, sagaVersion: 1, schemaVersion: 1 });
    expect(bytes.subarray(HEADER_SIZE).toString("utf8")).toBe(superjson.stringify(input));
  });

  it("msgpack payload is exactly msgpackr with codec 3's pinned options (records without shared structures, maps as objects, moreTypes, no toJSON)", () => {
    const input = { ...state, when: new Date(0), tags: new Set(["a"]), big: 2n ** 70n, price: new Money(5, "EUR"), m: new Map([["k", 1]]) };
    const bytes = new EnvelopeSerializer({ codec: "msgpack" }).encode("OrderSaga", input, { sagaId, sagaVersion: 1, schemaVersion: 1 });
    const reference = new Packr({ useRecords: true, mapsAsObjects: true, moreTypes: true, useToJSON: false }).pack(input);
    expect(bytes.subarray(HEADER_SIZE).toString("hex")).toBe(Buffer.from(reference).toString("hex"));
  });

  it("a compressed envelope sets only flag bit 0 and keeps every other header field", () => {
    const big = { ...state, rows: Array.from({ length: 2000 }, (_, i) => ({ i, text: "the same words again" })) };
    const bytes = new EnvelopeSerializer({ codec: "json" }).encode("OrderSaga", big, { sagaId, sagaVersion: 9, schemaVersion: 1 });
    expect(bytes[3]).toBe(0x01);
    expect([...bytes.subarray(0, 3)]).toEqual([0xfe, 1, 1]);
    expect(bytes.readUInt32BE(4)).toBe(1);
    expect(bytes.readUInt32BE(8)).toBe(9);
    expect(bytes.subarray(20, 28).equals(fingerprint(sagaId))).toBe(true);
    expect(inflateRawSync(bytes.subarray(HEADER_SIZE)).equals(Buffer.from(JSON.stringify(big)))).toBe(true);
  });
});

// ---- writeFormat "0.2.2": 0.2.2's bytes, framed for the write script ----------------

describe("writeFormat \"0.2.2\" reproduces legacy-0.2.2.hex (the plain-JSON write request)", () => {
  it("payload: the fixture to the byte; header: 0xFD, format 1, codec 1, flags 0, schema, saga version, no token (0xFF x 8), fingerprint", () => {
    const golden = fixture("legacy-0.2.2");
    const state = new EnvelopeSerializer().decode("golden:legacy", golden).state;
    const request = new EnvelopeSerializer({ writeFormat: "0.2.2" }).encode("OrderSaga", state, { sagaId: SAGA_ID, sagaVersion: 4, schemaVersion: 1 });
    expect(request.subarray(HEADER_SIZE).equals(golden)).toBe(true);
    expect([...request.subarray(0, 4)]).toEqual([0xfd, 1, 1, 0]);
    expect(request.readUInt32BE(OFFSET.schemaVersion)).toBe(1);
    expect(request.readUInt32BE(OFFSET.sagaVersion)).toBe(4);
    expect(request.subarray(OFFSET.token, OFFSET.token + 8).equals(Buffer.alloc(8, 0xff))).toBe(true);
    expect(request.subarray(OFFSET.fingerprint, HEADER_SIZE).equals(fingerprint(SAGA_ID))).toBe(true);
    // The version it is written as is the one in the JSON: 0.2.2 has nowhere else to read it.
    const next = new EnvelopeSerializer({ writeFormat: "0.2.2" }).encode("OrderSaga", state, { sagaId: SAGA_ID, sagaVersion: 5, schemaVersion: 1 });
    expect(next.subarray(HEADER_SIZE).toString("utf8")).toBe(golden.toString("utf8").replace('"version":4', '"version":5'));
  });
});

// ---- the store reads golden values as they sit in the engine ------------------------

describe("the store reads golden values (embedded engine holding the exact bytes)", () => {
  async function storeHolding(valueKey: string, bytes: Buffer, index?: { key: string; correlationId: string }) {
    const embedded = new MemoryEngine();
    embedded.plant(valueKey, bytes);
    if (index) embedded.plant(index.key, index.correlationId);
    const store = new SagaStore({ keyPrefix: "golden:" }, () => embedded);
    return { store, embedded };
  }

  for (const name of Object.keys(EXPECTED)) {
    it(`${name}.hex: findByCorrelationId and findById return the state with the header's version`, async () => {
      const { store } = await storeHolding("golden:saga:OrderSaga:ord-1001", fixture(name), {
        key: "golden:saga:OrderSaga:idx:id:saga-golden-1",
        correlationId: "ord-1001",
      });
      const expected = EXPECTED[name]!.state;
      const want = { ...expected, metadata: { ...(expected.metadata as object), version: HEADER_VERSION } };
      expect(await store.findByCorrelationId("OrderSaga", "ord-1001")).toStrictEqual(want);
      expect(await store.findById("OrderSaga", SAGA_ID)).toStrictEqual(want);
    });
  }

  it("json.hex: the compare-and-set reads the header version (7): update at 7 writes 8, at 6 conflicts", async () => {
    const { store, embedded } = await storeHolding("golden:saga:OrderSaga:ord-1001", fixture("json"), {
      key: "golden:saga:OrderSaga:idx:id:saga-golden-1",
      correlationId: "ord-1001",
    });
    const loaded = (await store.findByCorrelationId("OrderSaga", "ord-1001"))!;
    const stale = { ...loaded, metadata: { ...loaded.metadata, version: 6 } };
    const error = await store.update("OrderSaga", stale, 6).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConcurrencyError);
    expect((error as ConcurrencyError).actualVersion).toBe(7);

    await store.update("OrderSaga", { ...loaded, status: "paid" }, 7);
    const bytes = (await embedded.getValue("golden:saga:OrderSaga:ord-1001"))!;
    expect(bytes.readUInt32BE(8)).toBe(8);
    expect(bytes.subarray(20, 28).equals(fingerprint(SAGA_ID))).toBe(true);
    const reread = (await store.findByCorrelationId("OrderSaga", "ord-1001"))!;
    expect(reread.status).toBe("paid");
    expect(reread.metadata.version).toBe(8);
  });

  it("legacy-0.2.2.hex: read with the payload's own version", async () => {
    const { store } = await storeHolding("golden:saga:OrderSaga:ord-1001", fixture("legacy-0.2.2"), {
      key: "golden:saga:OrderSaga:idx:id:saga-golden-1",
      correlationId: "ord-1001",
    });
    expect(await store.findByCorrelationId("OrderSaga", "ord-1001")).toStrictEqual(expectedLegacy());
    expect(await store.findById("OrderSaga", SAGA_ID)).toStrictEqual(expectedLegacy());
  });

  it("legacy-0.2.2-seed-shape.hex: read in the seed shape", async () => {
    const { store } = await storeHolding("golden:saga:OrderSaga:order-123", fixture("legacy-0.2.2-seed-shape"), {
      key: "golden:saga:OrderSaga:idx:id:saga-456",
      correlationId: "order-123",
    });
    expect(await store.findByCorrelationId("OrderSaga", "order-123")).toStrictEqual(expectedLegacySeedShape());
    expect(await store.findById("OrderSaga", "saga-456")).toStrictEqual(expectedLegacySeedShape());
  });
});
