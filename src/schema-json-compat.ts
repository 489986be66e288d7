/**
 * Which Zod 4 schemas the JSON codec can store faithfully.
 *
 * The store persists a state's validated *input* form and validates it again
 * after every read. JSON brings some inputs back as something else (a Date
 * as an ISO string, a Map or Set as {}, an undefined array element as null,
 * an undefined property not at all; a bigint does not stringify), so a
 * schema that declares one accepts the write and rejects every later read.
 * This finds those declarations so the store can refuse the schema at
 * startup instead.
 *
 * It reads schema internals (`_zod.def`) rather than parsing sample values:
 * nothing of the user's (refinements, transforms, preprocess functions) runs
 * at startup, and no zod import is needed. Kinds it does not know are safe.
 */

export interface JsonUnsafeField {
  /** Dot-separated; `[]` an array or set element (or a tuple's rest), `[0]` a tuple item, `{}` a record or map entry; "(root)" the schema itself. */
  path: string;
  type:
    | "date"
    | "bigint"
    | "map"
    | "set"
    | "symbol"
    | "function"
    | "file"
    | "nan"
    | "promise"
    | "instanceof"
    /** A slot that admits undefined where JSON cannot keep it: a required property (the key is dropped) or an array/tuple element that rejects null (it becomes null). */
    | "undefined";
}

type UnsafeType = JsonUnsafeField["type"];
type Def = { type: string } & Record<string, unknown>;
type Schema = {
  _zod: { def: Def; optin?: unknown; traits?: Set<string>; bag?: Record<string, unknown> };
};

const ROOT = "(root)";

/** Every place in a Zod 4 schema whose *input* type JSON cannot round-trip. Empty = safe for the JSON codec. */
export function jsonUnsafeFields(schema: unknown): JsonUnsafeField[] {
  const found = new Map<string, JsonUnsafeField>();
  const report = (path: string, type: UnsafeType) => {
    const key = `${path}\u0000${type}`;
    if (!found.has(key)) found.set(key, { path: path === "" ? ROOT : path, type });
  };
  // Ancestors only, not every schema seen: a shared schema used in two fields must be reported at both paths.
  const ancestors = new Set<Schema>();

  const walk = (value: unknown, path: string): void => {
    const s = asSchema(value);
    // Meeting an ancestor again is a recursive schema: its fields were already reported at the outer occurrence.
    if (!s || ancestors.has(s)) return;
    ancestors.add(s);
    visit(s, path);
    ancestors.delete(s);
  };

  // JSON drops an undefined property, and zod then reports a missing key unless the schema allows absence (optin).
  const property = (value: unknown, path: string) => {
    if (admits(value, undefined) && asSchema(value)?._zod.optin === undefined) report(path, "undefined");
    walk(value, path);
  };

  // JSON writes an undefined element as null, which the element must then accept.
  const element = (value: unknown, path: string) => {
    if (admits(value, undefined) && !admits(value, null)) report(path, "undefined");
    walk(value, path);
  };

  const visit = (s: Schema, path: string): void => {
    const def = s._zod.def;
    switch (def.type) {
      // Coercion re-runs on the string or number JSON gives back, so only the strict forms are unsafe.
      case "date":
      case "bigint":
        if (def.coerce !== true) report(path, def.type);
        return;
      case "symbol":
      case "function":
      case "file":
      case "nan":
        report(path, def.type);
        return;
      case "literal":
        if (list(def.values).some((v) => typeof v === "bigint")) report(path, "bigint");
        return;
      case "custom": {
        // z.instanceof keeps its class in the bag; JSON brings back a plain object, except for these two.
        const cls = s._zod.bag?.Class;
        if (typeof cls === "function" && cls !== Object && cls !== Array) report(path, "instanceof");
        return;
      }
      case "promise":
        // The input may be the promise itself (it stores as {}) or an already-resolved value.
        report(path, "promise");
        walk(def.innerType, path);
        return;
      case "optional":
      case "nullable":
      case "default":
      case "prefault":
      case "catch":
      case "readonly":
      case "nonoptional":
      case "success":
        walk(def.innerType, path);
        return;
      case "pipe":
        // What is stored is the pipe's input; whatever it turns into is recomputed on every read.
        walk(def.in, path);
        return;
      case "lazy":
        walk(lazyInner(def), path);
        return;
      case "union": // also discriminated unions and z.xor
        for (const option of list(def.options)) walk(option, path);
        return;
      case "intersection":
        walk(def.left, path);
        walk(def.right, path);
        return;
      case "object": {
        const shape = (def.shape ?? {}) as Record<PropertyKey, unknown>;
        for (const key of Object.keys(shape)) property(shape[key], join(path, key));
        // JSON drops symbol-keyed properties whatever their schema.
        for (const key of Object.getOwnPropertySymbols(shape)) report(join(path, String(key)), "symbol");
        // Catchall keys are only parsed when present, so an undefined one dropped by JSON is not missed.
        walk(def.catchall, `${path}{}`);
        return;
      }
      case "array":
        element(def.element, `${path}[]`);
        return;
      case "tuple":
        list(def.items).forEach((item, i) => element(item, `${path}[${i}]`));
        element(def.rest, `${path}[]`);
        return;
      case "record":
        // Keys are strings on both sides of JSON, except symbols (dropped). Values may go missing safely:
        // a record parses only the keys present, or, with an exhaustive key enum, parses an absent one as undefined.
        walk(def.keyType, `${path}{}`);
        walk(def.valueType, `${path}{}`);
        return;
      case "map":
        report(path, "map");
        walk(def.keyType, `${path}{}`);
        walk(def.valueType, `${path}{}`);
        return;
      case "set":
        report(path, "set");
        walk(def.valueType, `${path}[]`);
        return;
      default:
        // Strings, numbers, booleans, null, enums, template literals, any/unknown, transforms, and kinds newer than this file.
        return;
    }
  };

  walk(schema, "");
  return [...found.values()];
}

/** Whether `probe` (null or undefined) is a valid input, judged from structure alone. */
function admits(value: unknown, probe: null | undefined, ancestors = new Set<Schema>()): boolean {
  const s = asSchema(value);
  if (!s || ancestors.has(s)) return false;
  ancestors.add(s);
  const def = s._zod.def;
  const inner = (child: unknown) => admits(child, probe, ancestors);
  let result: boolean;
  switch (def.type) {
    // They accept anything, but declare no type: an undefined they get is the caller's value, not the schema's
    // promise, and counting it would flag every z.unknown() property.
    case "any":
    case "unknown":
    case "custom":
      result = probe === null;
      break;
    // A catch turns a rejection into its fallback; a bare transform takes anything.
    case "catch":
    case "transform":
      result = true;
      break;
    case "null":
      result = probe === null;
      break;
    case "undefined":
    case "void":
      result = probe === undefined;
      break;
    case "literal":
      result = list(def.values).includes(probe);
      break;
    case "nullable":
      result = probe === null || inner(def.innerType);
      break;
    case "optional":
      // exactOptional allows an absent key but not an undefined value.
      result = (probe === undefined && !s._zod.traits?.has("$ZodExactOptional")) || inner(def.innerType);
      break;
    case "default":
    case "prefault":
      result = probe === undefined || inner(def.innerType);
      break;
    case "nonoptional":
      result = probe !== undefined && inner(def.innerType);
      break;
    case "readonly":
    case "success":
    case "promise":
      result = inner(def.innerType);
      break;
    case "pipe":
      result = inner(def.in);
      break;
    case "lazy":
      result = inner(lazyInner(def));
      break;
    case "union":
      result = list(def.options).some(inner);
      break;
    case "intersection":
      result = inner(def.left) && inner(def.right);
      break;
    default:
      result = false;
  }
  ancestors.delete(s);
  return result;
}

function asSchema(value: unknown): Schema | undefined {
  const def = (value as { _zod?: { def?: { type?: unknown } } } | null | undefined)?._zod?.def;
  return typeof def?.type === "string" ? (value as Schema) : undefined;
}

function lazyInner(def: Def): unknown {
  return typeof def.getter === "function" ? (def.getter as () => unknown)() : undefined;
}

function list(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}
