/**
 * The container scanners (codecs/json-containers.ts, codecs/msgpack-containers.ts)
 * against what the codecs really decode. For generated values of every kind the
 * codecs carry, and for hostile bytes (generated msgpack token streams, mutated
 * envelopes' payloads), whenever the codec decodes the bytes:
 *   - json: the count is exactly the objects and arrays JSON.parse builds;
 *   - superjson and msgpack: the count is at least the containers the decode
 *     builds (objects, arrays, Maps, Sets, Dates, RegExps, Errors, binary views);
 *   - msgpack: the count is at most MAX_WEIGHT_PER_BYTE per byte, which is what
 *     lets the store skip the scan of a payload too short to exceed the limit.
 * And each codec's countContainers skips exactly the payloads its rule says.
 */
import fc from "fast-check";
import { C1 } from "msgpackr";
import { describe, expect, it } from "vitest";
import { jsonCodec, msgpackCodec, superjsonCodec } from "../codecs/index";
import { countJsonContainers, countSuperjsonContainers, jsonContainers, superjsonContainers, SUPERJSON_PATH_WEIGHT } from "../codecs/json-containers";
import { countMsgpackContainers, MAX_WEIGHT_PER_BYTE, msgpackContainers } from "../codecs/msgpack-containers";

/**
 * Every distinct object the decoded value holds (plain objects, arrays, Maps, Sets, Dates, RegExps, Errors,
 * binary views), walked. msgpackr's C1 (byte 0xc1) is one shared constant, not built by the decode.
 */
function containersIn(value: unknown, seen = new Set<object>()): number {
  if (value === null || typeof value !== "object" || value === C1 || seen.has(value)) return 0;
  seen.add(value);
  let count = 1;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date || value instanceof RegExp) return count;
  if (value instanceof Map) {
    for (const [key, item] of value) count += containersIn(key, seen) + containersIn(item, seen);
  } else if (value instanceof Set) {
    for (const item of value) count += containersIn(item, seen);
  } else {
    if (value instanceof Error) count += containersIn(value.cause, seen);
    for (const key of Object.keys(value)) count += containersIn((value as Record<string, unknown>)[key], seen);
  }
  return count;
}

function decodes(decode: () => unknown): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: decode() };
  } catch {
    return { ok: false };
  }
}

/** The scanner's count, or undefined when it refuses the bytes outright. */
function scanned(count: () => number): number | undefined {
  try {
    return count();
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return undefined;
  }
}

const keyArb = fc.string({ maxLength: 8 }).filter((key) => !["__proto__", "constructor", "prototype"].includes(key));
const jsonValueArb = fc.jsonValue({ maxDepth: 5 });
/** Values with every kind the rich codecs carry, and arrays of same-shaped objects (msgpack records, read often enough to be compiled). */
const richLeafArb = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 12 }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.bigInt(),
  fc.date(),
  fc.uint8Array({ maxLength: 8 }),
  fc.constantFrom("a+b", "x").map((source) => new RegExp(source, "g")),
  fc.string({ maxLength: 6 }).map((message) => new Error(message)),
);
const richValueArb: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown; array: unknown; object: unknown; set: unknown; map: unknown; rows: unknown }>((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, richLeafArb, tie("array"), tie("object"), tie("set"), tie("map"), tie("rows")),
  array: fc.array(tie("value"), { maxLength: 5 }),
  object: fc.dictionary(keyArb, tie("value"), { maxKeys: 5 }),
  set: fc.array(tie("value"), { maxLength: 4 }).map((items) => new Set(items)),
  map: fc.dictionary(keyArb, tie("value"), { maxKeys: 4 }).map((entries) => new Map(Object.entries(entries))),
  rows: fc
    .tuple(fc.uniqueArray(keyArb, { minLength: 0, maxLength: 4 }), fc.oneof(fc.nat({ max: 8 }), fc.nat({ max: 150 })))
    .map(([keys, n]) => Array.from({ length: n }, (_, i) => Object.fromEntries(keys.map((key) => [key, i])))),
})).value;
const richStateArb = fc.dictionary(keyArb, richValueArb, { maxKeys: 6 });

describe("json: the count is exactly what JSON.parse builds", () => {
  it("generated JSON values (1,000 cases)", () => {
    fc.assert(
      fc.property(jsonValueArb, (value) => {
        const bytes = Buffer.from(JSON.stringify(value));
        expect(jsonContainers(bytes, 0, Infinity)).toBe(containersIn(JSON.parse(bytes.toString("utf8"))));
      }),
      { numRuns: 1000 },
    );
  });

  it("strings full of brackets, quotes and backslashes are skipped (500 cases)", () => {
    const trickyString = fc.string({ unit: fc.constantFrom("{", "[", "]", "}", '"', "\\", "a", "\u00e9", "\ud83d\ude00"), maxLength: 20 });
    fc.assert(
      fc.property(fc.array(fc.oneof(trickyString, fc.dictionary(trickyString, trickyString, { maxKeys: 3 })), { maxLength: 6 }), (value) => {
        const bytes = Buffer.from(JSON.stringify(value));
        expect(jsonContainers(bytes, 0, Infinity)).toBe(containersIn(value));
      }),
      { numRuns: 500 },
    );
  });

  it("the codec's own payloads, after the reserved header space", () => {
    fc.assert(
      fc.property(fc.dictionary(keyArb, jsonValueArb, { maxKeys: 6 }), (state) => {
        const buffer = jsonCodec.encode(state, 28);
        expect(jsonContainers(buffer, 28, Infinity)).toBe(containersIn(jsonCodec.decode(buffer.subarray(28))));
      }),
      { numRuns: 300 },
    );
  });

  it("stops once above the limit", () => {
    const bytes = Buffer.from("[" + "{},".repeat(100) + "{}]");
    expect(jsonContainers(bytes, 0, 10)).toBe(11);
  });
});

describe("superjson: the count is at least what the decode builds", () => {
  it("generated rich states (1,000 cases)", () => {
    fc.assert(
      fc.property(richStateArb, (state) => {
        const payload = superjsonCodec.encode(state, 0);
        const decoded = superjsonCodec.decode(payload);
        const count = superjsonContainers(payload, 0, Infinity);
        expect(count).toBeGreaterThanOrEqual(containersIn(decoded));
        // Never less than JSON.parse alone builds, and only strings outside `json` weigh more.
        expect(count).toBeGreaterThanOrEqual(jsonContainers(payload, 0, Infinity));
      }),
      { numRuns: 1000 },
    );
  });

  it("strings of meta weigh SUPERJSON_PATH_WEIGHT, strings of json nothing", () => {
    const plain = Buffer.from('{"json":{"a":["x","y"]}}');
    // Three containers; of the strings only the key "json" is outside the json member.
    expect(superjsonContainers(plain, 0, Infinity)).toBe(3 + SUPERJSON_PATH_WEIGHT);
    const withMeta = Buffer.from('{"json":{"a":1},"meta":{"referentialEqualities":{"a":["b","c"]}}}');
    // {json}, {a:1}, {meta}, {referentialEqualities}, [b, c]: 5 containers; "json" + 5 strings of meta.
    expect(superjsonContainers(withMeta, 0, Infinity)).toBe(5 + 6 * SUPERJSON_PATH_WEIGHT);
  });
});

// ---- msgpack ------------------------------------------------------------------------------

/**
 * msgpack token streams of the densest constructs, valid by construction: maps, arrays, record
 * definitions and references (to slots defined earlier in the stream), Sets, Errors, RegExps, typed
 * arrays, bins, Dates, BigInts, undefined, strings and numbers. Built bottom-up as byte arrays.
 */
function tokenStreamArb(): fc.Arbitrary<Buffer> {
  return fc
    .array(fc.tuple(fc.nat({ max: 15 }), fc.nat({ max: 5 }), fc.nat({ max: 63 })), { minLength: 1, maxLength: 60 })
    .map((choices) => {
      // Each choice makes one value; containers take their items from the values made so far.
      const values: number[][] = [];
      const slots = new Map<number, number>(); // slot -> keys
      const take = (n: number) => Array.from({ length: n }, () => values.pop() ?? [0x01]).flat();
      for (const [kind, n, slot] of choices) {
        switch (kind) {
          case 0:
            values.push([0x80]);
            break;
          case 1:
            values.push([0x90 + n, ...take(n)]);
            break;
          case 2:
            values.push([0x80 + n, ...Array.from({ length: n }, (_, i) => [0xa1, 0x61 + i, ...take(1)]).flat()]);
            break;
          case 3: {
            // record definition with n keys, then its n values
            const keys = Array.from({ length: n }, (_, i) => [0xa1, 0x61 + i]).flat();
            values.push([0xd4, 0x72, slot, 0x90 + n, ...keys, ...take(n)]);
            slots.set(slot & 0x3f, n);
            break;
          }
          case 4: {
            // A reference to a slot defined before it in generation order: values are nested in reverse, so the
            // bytes may put it before its definition (then it is a number, or another structure's reference).
            const keys = slots.get(slot & 0x3f);
            values.push([0x40 | (slot & 0x3f), ...(keys === undefined ? [] : take(keys))]);
            break;
          }
          case 5:
            values.push([0xd4, 0x73, 0x00, 0x90 + n, ...take(n)]);
            break;
          case 6:
            values.push([0xd4, 0x65, 0x00, 0x93, 0xa5, ...Buffer.from("Error"), 0xa1, 0x6d, 0xc0]);
            break;
          case 7:
            values.push([0xd4, 0x78, 0x00, 0x92, 0xa1, 0x61, 0xa1, 0x67]);
            break;
          case 8:
            values.push([0xd4, 0x74, 0x01]);
            break;
          case 9:
            values.push([0xc4, n, ...Array.from({ length: n }, () => 7)]);
            break;
          case 10:
            values.push([0xd6, 0xff, 0, 0, 0, n]);
            break;
          case 11:
            values.push([0xd4, 0x42, n]);
            break;
          case 12:
            values.push([0xd4, 0x00, 0x00]);
            break;
          case 13:
            values.push([0xa0 + n, ...Array.from({ length: n }, () => 0x7a)]);
            break;
          default:
            values.push(n % 2 ? [0xcb, 0, 0, 0, 0, 0, 0, 0, 0] : [0xe0 + n]);
        }
      }
      return Buffer.from([0x90 + Math.min(values.length, 15), ...values.slice(-15).flat()]);
    });
}

/** Record definitions then references in order (the references need the stream order the generator above cannot give). */
const recordStreamArb = fc
  .array(fc.tuple(fc.nat({ max: 19 }), fc.nat({ max: 3 }), fc.nat({ max: 3 })), { minLength: 1, maxLength: 600 })
  .map((steps) => {
    const slots = new Map<number, number>();
    const items: number[][] = [];
    for (const [draw, slot, n] of steps) {
      const define = draw === 0;
      if (define || !slots.has(slot)) {
        slots.set(slot, n);
        items.push([0xd4, 0x72, slot, 0x90 + n, ...Array.from({ length: n }, (_, i) => [0xa1, 0x61 + i]).flat(), ...Array.from({ length: n }, () => 0x80)]);
      } else {
        items.push([0x40 | slot, ...Array.from({ length: slots.get(slot)! }, () => 0x90)]);
      }
    }
    return Buffer.from([0xdc, items.length >> 8, items.length & 0xff, ...items.flat()]);
  });

function expectMsgpackBound(bytes: Buffer): "decoded" | "refused" | "undecodable" {
  const count = scanned(() => msgpackContainers(bytes, 0, Infinity));
  const decoded = decodes(() => msgpackCodec.decode(bytes));
  if (count === undefined) return "refused";
  expect(count).toBeLessThanOrEqual(bytes.length * MAX_WEIGHT_PER_BYTE);
  if (!decoded.ok) return "undecodable";
  expect(count, `bytes ${bytes.subarray(0, 64).toString("hex")}`).toBeGreaterThanOrEqual(containersIn(decoded.value));
  return "decoded";
}

describe("msgpack: the count is at least what the decode builds, and at most MAX_WEIGHT_PER_BYTE per byte", () => {
  it("the codec's own payloads of generated rich states, records included (1,000 cases)", () => {
    fc.assert(
      fc.property(richStateArb, (state) => {
        const payload = msgpackCodec.encode(state, 0);
        expect(expectMsgpackBound(payload)).toBe("decoded");
      }),
      { numRuns: 1000 },
    );
  });

  it("generated token streams of the densest constructs (2,000 cases)", () => {
    const outcomes: Record<string, number> = {};
    fc.assert(
      fc.property(tokenStreamArb(), (bytes) => {
        const outcome = expectMsgpackBound(bytes);
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      }),
      { numRuns: 2000 },
    );
    expect(outcomes.decoded).toBeGreaterThan(500);
  });

  it("record definitions and references in every order, compiled readers included (1,000 cases)", () => {
    fc.assert(
      fc.property(recordStreamArb, (bytes) => {
        expect(expectMsgpackBound(bytes)).toBe("decoded");
      }),
      { numRuns: 1000 },
    );
  });

  it("mutated payloads: flipped, inserted and deleted bytes (3,000 cases)", () => {
    const mutationArb = fc.array(fc.tuple(fc.constantFrom("flip", "insert", "delete"), fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 });
    const outcomes: Record<string, number> = {};
    fc.assert(
      fc.property(fc.oneof(richStateArb.map((state) => msgpackCodec.encode(state, 0)), tokenStreamArb(), recordStreamArb), mutationArb, (payload, mutations) => {
        const bytes = [...payload];
        for (const [kind, at, value] of mutations) {
          const i = at % (bytes.length + 1);
          if (kind === "flip" && i < bytes.length) bytes[i] = value;
          else if (kind === "insert") bytes.splice(i, 0, value);
          else if (kind === "delete") bytes.splice(i, 1);
        }
        const outcome = expectMsgpackBound(Buffer.from(bytes));
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 3000) },
    );
    // About a tenth still decode (most mutations leave bytes after the value, or truncate it).
    expect(outcomes.decoded, JSON.stringify(outcomes)).toBeGreaterThan(150);
  });

  it("random bytes never make it throw anything but an Error, nor count above MAX_WEIGHT_PER_BYTE per byte (2,000 cases)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (raw) => {
        expectMsgpackBound(Buffer.from(raw));
      }),
      { numRuns: 2000 },
    );
  });

  it("weights: a record definition read four times (its reader compiled) is the densest, 72 in 7 bytes", () => {
    const compiled = Buffer.from([0x94, 0xd4, 0x72, 0x00, 0x90, 0x40, 0x40, 0x40]);
    // The array 1; the definition 3 + its object 1 + its keys array 1; 3 references; the compile 64 + 0 keys.
    expect(msgpackContainers(compiled, 0, Infinity)).toBe(1 + 5 + 3 + 64);
    expect(msgpackContainers(Buffer.from([0x93, 0xd4, 0x72, 0x00, 0x90, 0x40, 0x40]), 0, Infinity)).toBe(1 + 5 + 2);
    expect((msgpackContainers(compiled, 0, Infinity) - 1) / (compiled.length - 1)).toBeLessThanOrEqual(MAX_WEIGHT_PER_BYTE);
    // Error 12 + its array; typed array 6; bin 2; Set 2 + its array; Date 2; undefined 0.
    expect(msgpackContainers(Buffer.from([0xd4, 0x65, 0x00, 0x90]), 0, Infinity)).toBe(13);
    expect(msgpackContainers(Buffer.from([0xd4, 0x74, 0x01]), 0, Infinity)).toBe(6);
    expect(msgpackContainers(Buffer.from([0xc4, 0x00]), 0, Infinity)).toBe(2);
    expect(msgpackContainers(Buffer.from([0xd4, 0x73, 0x00, 0x90]), 0, Infinity)).toBe(3);
    expect(msgpackContainers(Buffer.from([0xd4, 0xff, 0xff]), 0, Infinity)).toBe(2);
    expect(msgpackContainers(Buffer.from([0xd4, 0x00, 0x00]), 0, Infinity)).toBe(0);
  });

  it("a reference to a structure of more than 256 keys weighs 1 + its keys (a dictionary object per read)", () => {
    const keys = 300;
    const definition = [0xd4, 0x72, 0x00, 0xdc, keys >> 8, keys & 0xff, ...Array.from({ length: keys }, (_, k) => [0xcd, k >> 8, k & 0xff]).flat()];
    const bytes = Buffer.from([0x92, ...definition, ...Array(keys).fill(0), 0x40, ...Array(keys).fill(0)]);
    expect(msgpackContainers(bytes, 0, Infinity)).toBe(1 + 5 + (1 + keys));
    expect(containersIn(msgpackCodec.decode(bytes))).toBe(3);
  });

  it("a reference among a definition's keys means the slot's previous structure (msgpackr assigns it after reading the keys)", () => {
    const keys = 300;
    const keyArray = [0xdc, keys >> 8, keys & 0xff, ...Array.from({ length: keys }, (_, k) => [0xcd, k >> 8, k & 0xff]).flat()];
    const first = [0xd4, 0x72, 0x00, ...keyArray, ...Array(keys).fill(0)];
    // The second definition of slot 0 lists as its key a reference to slot 0: the first structure, 300 values.
    const second = [0xd4, 0x72, 0x00, 0x91, 0x40, ...Array(keys).fill(0)];
    const bytes = Buffer.from([0x92, ...first, ...second]);
    expect(() => msgpackCodec.decode(bytes)).toThrow(/Invalid property type for record/);
    expect(msgpackContainers(bytes, 0, Infinity)).toBe(1 + 5 + 5 + (1 + keys));
  });

  it("refuses bytes after the value, and the constructs this codec never writes", () => {
    const refusal = (hex: string) => {
      try {
        msgpackContainers(Buffer.from(hex.replace(/ /g, ""), "hex"), 0, Infinity);
        return "counted";
      } catch (error) {
        return (error as Error).message;
      }
    };
    expect(refusal("90 c0")).toMatch(/1 bytes follow the value/);
    expect(refusal("d5 72 20 00 90")).toMatch(/two-byte record ids/);
    expect(refusal("d6 62 00 00 00 00 c0")).toMatch(/string bundles/);
    expect(refusal("d4 72 00 a1 61")).toMatch(/keys are not an array/);
    expect(refusal("91".repeat(70_000) + "c0")).toMatch(/nested deeper than 65536/);
    // Structured clone is off: the decode fails at the first reference, so the count stops there.
    expect(refusal("92 d6 69 00 00 00 01 80 80")).toBe("counted");
    expect(() => msgpackCodec.decode(Buffer.from("92d6690000000180 80".replace(/ /g, ""), "hex"))).toThrow(/Structured clone extension is disabled/);
  });

  it("stops once above the limit", () => {
    const bytes = Buffer.concat([Buffer.from([0xdc, 0x00, 0x64]), Buffer.alloc(100, 0x80)]);
    expect(msgpackContainers(bytes, 0, 10)).toBe(11);
  });
});

describe("countContainers skips exactly the payloads too short to exceed the limit", () => {
  const limit = 1000;
  it("json: up to 2 × limit bytes", () => {
    const fill = (length: number) => Buffer.concat([Buffer.from("["), Buffer.alloc(length - 2, "["), Buffer.from("]")]);
    expect(countJsonContainers(fill(2 * limit), 0, limit)).toBe(0);
    expect(countJsonContainers(fill(2 * limit + 1), 0, limit)).toBeGreaterThan(limit);
    expect(jsonCodec.countContainers!(fill(2 * limit), 0, limit)).toBe(0);
  });

  it("superjson: up to limit × 3 / SUPERJSON_PATH_WEIGHT bytes", () => {
    const edge = (limit * 3) / SUPERJSON_PATH_WEIGHT;
    const strings = (length: number) => Buffer.concat([Buffer.from("["), Buffer.alloc(length - 2, '"'), Buffer.from("]")]);
    expect(countSuperjsonContainers(strings(edge), 0, limit)).toBe(0);
    expect(countSuperjsonContainers(strings(edge + 1), 0, limit)).toBeGreaterThan(0);
  });

  it("msgpack: up to limit / MAX_WEIGHT_PER_BYTE bytes, the header space left out", () => {
    const edge = Math.floor(limit / MAX_WEIGHT_PER_BYTE);
    const maps = (length: number) => Buffer.concat([Buffer.alloc(28), Buffer.from([0xdc, (length - 3) >> 8, (length - 3) & 0xff]), Buffer.alloc(length - 3, 0x80)]);
    expect(countMsgpackContainers(maps(edge), 28, limit)).toBe(0);
    expect(countMsgpackContainers(maps(edge + 1), 28, limit)).toBeGreaterThan(0);
  });
});
