import { describe, expect, it } from "vitest";
import { z } from "zod";
import { jsonUnsafeFields } from "../src/schema-json-compat";

const jsonRoundTrip = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

describe("the problem", () => {
  it("a z.date() field accepts the write and rejects the value JSON gives back", () => {
    const schema = z.object({ when: z.date() });
    const state = { when: new Date("2026-01-02T03:04:05.678Z") };

    expect(schema.safeParse(state).success).toBe(true);
    const read = schema.safeParse(jsonRoundTrip(state));
    expect(read.success).toBe(false);
    expect(read.error?.issues[0]).toMatchObject({ code: "invalid_type", expected: "date", path: ["when"] });
  });
});

describe("jsonUnsafeFields", () => {
  it("flags a date at the root and at the top level of an object", () => {
    expect(jsonUnsafeFields(z.date())).toEqual([{ path: "(root)", type: "date" }]);
    expect(jsonUnsafeFields(z.object({ id: z.string(), when: z.date() }))).toEqual([{ path: "when", type: "date" }]);
  });

  it("names nested object and array paths", () => {
    const schema = z.object({
      a: z.object({ when: z.date(), name: z.string() }),
      list: z.array(z.object({ at: z.date().optional() })),
      grid: z.array(z.array(z.date())),
    });
    expect(jsonUnsafeFields(schema)).toEqual([
      { path: "a.when", type: "date" },
      { path: "list[].at", type: "date" },
      { path: "grid[][]", type: "date" },
    ]);
    expect(jsonUnsafeFields(z.array(z.date()))).toEqual([{ path: "[]", type: "date" }]);
  });

  it("looks through optional, nullable, default, prefault, catch, readonly, nonoptional and success", () => {
    const schema = z.object({
      o: z.date().optional(),
      n: z.date().nullable(),
      ish: z.date().nullish(),
      d: z.date().default(() => new Date(0)),
      p: z.date().prefault(() => new Date(0)),
      c: z.date().catch(new Date(0)),
      r: z.date().readonly(),
      no: z.date().optional().nonoptional(),
      s: z.success(z.date()),
    });
    expect(jsonUnsafeFields(schema)).toEqual(
      ["o", "n", "ish", "d", "p", "c", "r", "no", "s"].map((path) => ({ path, type: "date" })),
    );
  });

  it("reports each unsafe union member once, at the union's path", () => {
    const union = z.object({ v: z.union([z.string(), z.date(), z.date().nullable(), z.bigint()]) });
    expect(jsonUnsafeFields(union)).toEqual([
      { path: "v", type: "date" },
      { path: "v", type: "bigint" },
    ]);

    const event = z.discriminatedUnion("kind", [
      z.object({ kind: z.literal("scheduled"), at: z.date() }),
      z.object({ kind: z.literal("manual"), by: z.string() }),
      z.object({ kind: z.literal("batch"), at: z.date(), items: z.set(z.string()) }),
    ]);
    expect(jsonUnsafeFields(z.object({ event }))).toEqual([
      { path: "event.at", type: "date" },
      { path: "event.items", type: "set" },
    ]);

    expect(jsonUnsafeFields(z.object({ v: z.xor([z.string(), z.date()]) }))).toEqual([{ path: "v", type: "date" }]);
  });

  it("reports a shared schema at every path that uses it", () => {
    const Stamp = z.date();
    expect(jsonUnsafeFields(z.object({ created: Stamp, changed: Stamp }))).toEqual([
      { path: "created", type: "date" },
      { path: "changed", type: "date" },
    ]);
  });

  it("walks record values and object catchalls as {}", () => {
    expect(jsonUnsafeFields(z.object({ byId: z.record(z.string(), z.object({ at: z.date() })) }))).toEqual([
      { path: "byId{}.at", type: "date" },
    ]);
    expect(jsonUnsafeFields(z.record(z.enum(["a", "b"]), z.bigint()))).toEqual([{ path: "{}", type: "bigint" }]);
    expect(jsonUnsafeFields(z.record(z.symbol(), z.string()))).toEqual([{ path: "{}", type: "symbol" }]);
    expect(jsonUnsafeFields(z.object({ id: z.string() }).catchall(z.date()))).toEqual([{ path: "{}", type: "date" }]);
    expect(jsonUnsafeFields(z.record(z.string(), z.number()))).toEqual([]);
  });

  it("indexes tuple items and walks the rest as []", () => {
    expect(jsonUnsafeFields(z.tuple([z.string(), z.date(), z.number()]))).toEqual([{ path: "[1]", type: "date" }]);
    expect(jsonUnsafeFields(z.object({ t: z.tuple([z.date()], z.bigint()) }))).toEqual([
      { path: "t[0]", type: "date" },
      { path: "t[]", type: "bigint" },
    ]);
  });

  it("walks both sides of an intersection", () => {
    const schema = z.intersection(z.object({ a: z.date() }), z.object({ b: z.string(), c: z.map(z.string(), z.number()) }));
    expect(jsonUnsafeFields(schema)).toEqual([
      { path: "a", type: "date" },
      { path: "c", type: "map" },
    ]);
  });

  it("terminates on recursive schemas and finds the date inside", () => {
    type Node = { at: Date; children: Node[] };
    const Node: z.ZodType<Node> = z.lazy(() => z.object({ at: z.date(), children: z.array(Node) }));
    expect(jsonUnsafeFields(Node)).toEqual([{ path: "at", type: "date" }]);
    expect(jsonUnsafeFields(z.object({ tree: Node }))).toEqual([{ path: "tree.at", type: "date" }]);

    // The getter form recurses through the object itself, without z.lazy.
    const Category = z.object({
      name: z.string(),
      movedAt: z.date(),
      get children() {
        return z.array(Category);
      },
    });
    expect(jsonUnsafeFields(Category)).toEqual([{ path: "movedAt", type: "date" }]);

    expect(jsonUnsafeFields(z.object({ payload: z.json() }))).toEqual([]);
  });

  it("judges a pipe by its input side only", () => {
    expect(jsonUnsafeFields(z.object({ at: z.string().transform((s) => new Date(s)) }))).toEqual([]);
    expect(jsonUnsafeFields(z.object({ at: z.iso.datetime().pipe(z.coerce.date()) }))).toEqual([]);
    const isoToDate = z.codec(z.iso.datetime(), z.date(), {
      decode: (s) => new Date(s),
      encode: (d) => d.toISOString(),
    });
    expect(jsonUnsafeFields(z.object({ at: isoToDate }))).toEqual([]);
    expect(jsonUnsafeFields(z.object({ at: z.date().transform((d) => d.toISOString()) }))).toEqual([
      { path: "at", type: "date" },
    ]);
  });

  it("treats coerced dates and bigints as safe, strict ones as unsafe", () => {
    expect(jsonUnsafeFields(z.object({ at: z.coerce.date(), n: z.coerce.bigint() }))).toEqual([]);
    expect(jsonUnsafeFields(z.object({ at: z.date(), n: z.bigint(), big: z.int64() }))).toEqual([
      { path: "at", type: "date" },
      { path: "n", type: "bigint" },
      { path: "big", type: "bigint" },
    ]);
  });

  it("flags maps, sets and bigints, and what is inside them", () => {
    const schema = z.object({
      m: z.map(z.string(), z.object({ at: z.date() })),
      s: z.set(z.date()),
      n: z.bigint(),
      one: z.literal(1n),
    });
    expect(jsonUnsafeFields(schema)).toEqual([
      { path: "m", type: "map" },
      { path: "m{}.at", type: "date" },
      { path: "s", type: "set" },
      { path: "s[]", type: "date" },
      { path: "n", type: "bigint" },
      { path: "one", type: "bigint" },
    ]);
  });

  it("flags the other inputs JSON drops or rewrites", () => {
    const tag = Symbol("tag");
    const schema = z.object({
      sym: z.symbol(),
      fn: z.function(),
      file: z.file(),
      nan: z.nan(),
      later: z.promise(z.date()),
      url: z.instanceof(URL),
      [tag]: z.string(),
    });
    expect(jsonUnsafeFields(schema)).toEqual([
      { path: "sym", type: "symbol" },
      { path: "fn", type: "function" },
      { path: "file", type: "file" },
      { path: "nan", type: "nan" },
      { path: "later", type: "promise" },
      { path: "later", type: "date" },
      { path: "url", type: "instanceof" },
      { path: "Symbol(tag)", type: "symbol" },
    ]);
    expect(jsonUnsafeFields(z.object({ a: z.instanceof(Array), o: z.instanceof(Object) }))).toEqual([]);
  });

  it("flags undefined only where JSON cannot keep it", () => {
    const schema = z.object({
      // Dropped keys that zod then reports missing.
      u: z.undefined(),
      v: z.void(),
      orUndefined: z.union([z.string(), z.undefined()]),
      // Dropped keys that may be absent.
      opt: z.string().optional(),
      exact: z.string().exactOptional(),
      def: z.string().default("x"),
      optUndefined: z.undefined().optional(),
      any: z.any(),
      // Elements JSON writes as null.
      list: z.array(z.string().optional()),
      defaults: z.array(z.number().default(0)),
      pair: z.tuple([z.string(), z.string().optional()]),
      // Elements that accept the null.
      nullish: z.array(z.string().nullish()),
      exactList: z.array(z.string().exactOptional()),
      caught: z.array(z.string().catch("?")),
      // Record values may be absent.
      rec: z.record(z.string(), z.string().optional()),
    });
    expect(jsonUnsafeFields(schema)).toEqual([
      { path: "u", type: "undefined" },
      { path: "v", type: "undefined" },
      { path: "orUndefined", type: "undefined" },
      { path: "list[]", type: "undefined" },
      { path: "defaults[]", type: "undefined" },
      { path: "pair[1]", type: "undefined" },
    ]);
  });

  it("returns [] for a schema JSON carries", () => {
    const schema = z.object({
      id: z.uuid(),
      status: z.enum(["open", "closed"]),
      count: z.number().int(),
      flag: z.boolean(),
      note: z.string().nullable().optional(),
      at: z.iso.datetime(),
      tags: z.array(z.string()),
      pair: z.tuple([z.string(), z.number()]),
      meta: z.record(z.string(), z.unknown()),
      key: z.templateLiteral(["k-", z.number()]),
      on: z.stringbool(),
    });
    expect(jsonUnsafeFields(schema)).toEqual([]);
  });

  it("returns [] for values that are not zod 4 schemas, and treats unknown kinds as safe", () => {
    for (const value of [undefined, null, 42, "z.date()", {}, { _def: { typeName: "ZodDate" } }, { _zod: {} }]) {
      expect(jsonUnsafeFields(value)).toEqual([]);
    }
    // A kind this module has never heard of (a newer zod), holding a date it must not go looking for.
    const future = { _zod: { def: { type: "hologram", innerType: z.date() } } };
    expect(jsonUnsafeFields(future)).toEqual([]);
  });

  // The detector's verdict matches what actually happens to a valid input across JSON.
  it.each([
    ["date", z.object({ v: z.date() }), { v: new Date(0) }, true],
    ["coerced date", z.object({ v: z.coerce.date() }), { v: new Date(0) }, false],
    ["bigint", z.object({ v: z.bigint() }), { v: 1n }, true],
    ["coerced bigint from a string", z.object({ v: z.coerce.bigint() }), { v: "1" }, false],
    ["map", z.object({ v: z.map(z.string(), z.number()) }), { v: new Map([["a", 1]]) }, true],
    ["set", z.object({ v: z.set(z.number()) }), { v: new Set([1]) }, true],
    ["symbol", z.object({ v: z.symbol() }), { v: Symbol("s") }, true],
    ["function", z.object({ v: z.function() }), { v: () => 1 }, true],
    ["nan", z.object({ v: z.nan() }), { v: NaN }, true],
    ["instanceof", z.object({ v: z.instanceof(URL) }), { v: new URL("https://example.com") }, true],
    ["required undefined", z.object({ v: z.undefined() }), { v: undefined }, true],
    ["optional element", z.object({ v: z.array(z.string().optional()) }), { v: [undefined] }, true],
    ["nullish element", z.object({ v: z.array(z.string().nullish()) }), { v: [undefined] }, false],
    ["optional property", z.object({ v: z.string().optional() }), { v: undefined }, false],
    ["transform", z.object({ v: z.string().transform((s) => new Date(s)) }), { v: "2026-01-01T00:00:00Z" }, false],
  ] as const)("%s: flagged exactly when the JSON round trip breaks the read", (_, schema, input, unsafe) => {
    expect(schema.safeParse(input).success).toBe(true);
    let readBack = false;
    try {
      readBack = schema.safeParse(jsonRoundTrip(input)).success;
    } catch {
      // bigint: JSON.stringify throws
    }
    expect(readBack).toBe(!unsafe);
    expect(jsonUnsafeFields(schema).length > 0).toBe(unsafe);
  });
});
