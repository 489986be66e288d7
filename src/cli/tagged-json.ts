/**
 * Decoded states hold what JSON cannot say (Dates, Maps, Sets, BigInts,
 * binary): plain JSON.stringify would turn a Map into {} and throw on a
 * BigInt. Each becomes a one-key object naming its type, so a script reading
 * `--json` output can tell a Date from a string that looks like one.
 */
export function toTaggedJson(value: unknown, seen = new Set<object>()): unknown {
  if (typeof value === "bigint") return { $bigint: value.toString() };
  if (typeof value === "number" && !Number.isFinite(value)) return { $number: String(value) };
  if (typeof value === "undefined") return { $undefined: true };
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Date) return { $date: Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString() };
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64") };
  if (value instanceof RegExp) return { $regexp: String(value) };
  if (seen.has(value)) return { $circular: true };
  seen.add(value);
  try {
    if (value instanceof Map) return { $map: [...value].map(([k, v]) => [toTaggedJson(k, seen), toTaggedJson(v, seen)]) };
    if (value instanceof Set) return { $set: [...value].map((v) => toTaggedJson(v, seen)) };
    if (Array.isArray(value)) return value.map((v) => toTaggedJson(v, seen));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toTaggedJson(v, seen);
    return out;
  } finally {
    seen.delete(value);
  }
}
