/**
 * npx tsx bench/decode-bombs.ts [--mode bomb|limit] [--heap-mb 2048] [--only msgpack:emptyMaps,...] [--json]
 *
 * What one read of a hostile stored value costs. Each shape is built as the
 * bytes an attacker could plant at a saga's key (an envelope, deflated, or a
 * plain 0.2.2 JSON value), then decoded once by the store's serializer with
 * its default options, in a child process of its own capped at --heap-mb of
 * old space, so a shape that would exhaust memory ends that child, not the
 * machine.
 *
 * --mode bomb (default): as many items as fit just under the default
 *   maxStateBytes (8 MiB): what a read built before maxStateContainers, and
 *   what it is refused at now.
 * --mode limit: as many items as the default maxStateContainers lets through
 *   (and maxStateBytes): the costliest reads still accepted, which is the
 *   bound the README states.
 *
 * Printed per shape: payload and stored bytes, items, the outcome (decoded,
 * DECODE_FAILED, or the child's death), the time of the decode, the heap it
 * left behind (the result kept, after a forced GC), the heap's committed size
 * right after the decode (garbage included), and the peak RSS over the
 * process's own before the decode.
 */
import { spawnSync } from "node:child_process";
import { getHeapStatistics } from "node:v8";
import { deflateRawSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { DEFAULT_MAX_STATE_BYTES, DEFAULT_MAX_STATE_CONTAINERS, EnvelopeSerializer } from "../codecs/serializer";
import { HEADER_SIZE } from "../codecs/envelope";

const MIB = 2 ** 20;
/** Room left under each limit for the wrapping (root object, headers). */
const BYTE_BUDGET = DEFAULT_MAX_STATE_BYTES - 256;
const WEIGHT_BUDGET = DEFAULT_MAX_STATE_CONTAINERS - 128;

type Codec = "json" | "superjson" | "msgpack" | "legacy";
const CODEC_IDS: Record<Exclude<Codec, "legacy">, number> = { json: 1, superjson: 2, msgpack: 3 };

interface Shape {
  codec: Codec;
  name: string;
  /** Payload bytes per item, and the weight the container count gives one item. */
  unitBytes: number;
  weight: number;
  /** At most this many items (distinct keys run out). */
  maxItems?: number;
  /** Weight outside the items (a definition and its compiled reader). */
  fixedWeight?: number;
  build(n: number): Buffer;
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ""), "hex");
/** A distinct printable key of `length` characters for item `i` (90 characters, none of `"` or `\`). */
function keyOf(i: number, length: number): number[] {
  const chars: number[] = [];
  for (let k = 0; k < length; k++, i = Math.floor(i / 90)) chars.push(0x23 + (i % 90) + (0x23 + (i % 90) >= 0x5c ? 1 : 0));
  return chars;
}

/** msgpack `{ a: [<n items>] }`, each item `unit(i)`; `prefix` goes before the items (inside the array). */
function msgpackArray(n: number, unit: (i: number) => number[] | Buffer, prefix: number[] = [], extraItems = 0): Buffer {
  const parts: Buffer[] = [Buffer.from([0x81, 0xa1, 0x61, 0xdd]), u32(n + extraItems), Buffer.from(prefix)];
  let chunk: number[] = [];
  for (let i = 0; i < n; i++) {
    const item = unit(i);
    if (Buffer.isBuffer(item)) {
      parts.push(Buffer.from(chunk), item);
      chunk = [];
    } else chunk.push(...item);
    if (chunk.length > 65536) {
      parts.push(Buffer.from(chunk));
      chunk = [];
    }
  }
  parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}
/** The same unit repeated, fast. */
function msgpackRepeated(n: number, unit: Buffer, prefix: number[] = [], extraItems = 0): Buffer {
  const head = Buffer.concat([Buffer.from([0x81, 0xa1, 0x61, 0xdd]), u32(n + extraItems), Buffer.from(prefix)]);
  const out = Buffer.allocUnsafe(head.length + n * unit.length);
  head.copy(out, 0);
  for (let i = 0, at = head.length; i < n; i++, at += unit.length) unit.copy(out, at);
  return out;
}
/** JSON `{"a":[items]}` (superjson: `{"json":{"a":[items]}}`). */
function jsonArray(n: number, unit: (i: number) => string, superjson = false): Buffer {
  const items = Array.from({ length: n }, (_, i) => unit(i)).join(",");
  return Buffer.from(superjson ? `{"json":{"a":[${items}]}}` : `{"a":[${items}]}`);
}
const jsonKey = (i: number, length: number) => String.fromCharCode(...keyOf(i, length));

const SHAPES: Shape[] = [
  { codec: "msgpack", name: "emptyMaps", unitBytes: 1, weight: 1, build: (n) => msgpackRepeated(n, hex("80")) },
  { codec: "msgpack", name: "emptyArrays", unitBytes: 1, weight: 1, build: (n) => msgpackRepeated(n, hex("90")) },
  // A record definition with no keys, then one reference byte per empty object.
  { codec: "msgpack", name: "emptyRecords", unitBytes: 1, weight: 1, fixedWeight: 70, build: (n) => msgpackRepeated(n, hex("40"), [0xd4, 0x72, 0x00, 0x90], 1) },
  { codec: "msgpack", name: "emptySets", unitBytes: 4, weight: 3, build: (n) => msgpackRepeated(n, hex("d4 73 00 90")) },
  { codec: "msgpack", name: "emptyTypedArrays", unitBytes: 3, weight: 6, build: (n) => msgpackRepeated(n, hex("d4 74 01")) },
  { codec: "msgpack", name: "emptyBins", unitBytes: 2, weight: 2, build: (n) => msgpackRepeated(n, hex("c4 00")) },
  { codec: "msgpack", name: "errors", unitBytes: 4, weight: 13, build: (n) => msgpackRepeated(n, hex("d4 65 00 90")) },
  { codec: "msgpack", name: "regexps", unitBytes: 6, weight: 2, build: (n) => msgpackRepeated(n, hex("d4 78 00 92 a0 a0")) },
  { codec: "msgpack", name: "distinctRegexps", unitBytes: 10, weight: 2, build: (n) => msgpackArray(n, (i) => [0xd4, 0x78, 0x00, 0x92, 0xa4, ...keyOf(i, 4).map((c) => (/[()[\]{}*+?.|^$]/.test(String.fromCharCode(c)) ? 0x61 : c)), 0xa0]) },
  { codec: "msgpack", name: "invalidDates", unitBytes: 3, weight: 2, build: (n) => msgpackRepeated(n, hex("d4 ff ff")) },
  { codec: "msgpack", name: "bigints", unitBytes: 3, weight: 1, build: (n) => msgpackRepeated(n, hex("d4 42 01")) },
  { codec: "msgpack", name: "fixints", unitBytes: 1, weight: 0, build: (n) => msgpackRepeated(n, hex("01")) },
  { codec: "msgpack", name: "shortStrings", unitBytes: 4, weight: 0, maxItems: 90 ** 3, build: (n) => msgpackArray(n, (i) => [0xa3, ...keyOf(i, 3)]) },
  // One object per item, each with a key no other object has: a hidden class (or a dictionary) per object.
  { codec: "msgpack", name: "freshKeyObjects", unitBytes: 7, weight: 1, build: (n) => msgpackArray(n, (i) => [0x81, 0xa4, ...keyOf(i, 4), 0x00]) },
  { codec: "msgpack", name: "fourFreshKeyObjects", unitBytes: 25, weight: 1, build: (n) => msgpackArray(n, (i) => [0x84, ...[0, 1, 2, 3].flatMap((j) => [0xa4, ...keyOf(4 * i + j, 4), 0x00])]) },
  // One object with as many distinct keys as fit (a dictionary).
  {
    codec: "msgpack",
    name: "oneObjectManyKeys",
    unitBytes: 6,
    weight: 0,
    maxItems: 90 ** 4,
    build: (n) => {
      const out = Buffer.concat([Buffer.from([0xdf]), u32(n), Buffer.alloc(n * 6)]);
      for (let i = 0, at = 5; i < n; i++, at += 6) {
        out[at] = 0xa4;
        out.set(keyOf(i, 4), at + 1);
      }
      return out;
    },
  },
  // A structure read four times (msgpackr compiles its reader), with a fresh key each: def, value, 3 references.
  { codec: "msgpack", name: "recordCompiles", unitBytes: 16, weight: 73, build: (n) => msgpackArray(n, (i) => [0xd4, 0x72, 0x00, 0x91, 0xa4, ...keyOf(i, 4), 0x00, 0x40, 0x00, 0x40, 0x00, 0x40, 0x00], [], 3 * n) },
  // A structure defined once per object, with a fresh key.
  { codec: "msgpack", name: "recordDefinitions", unitBytes: 10, weight: 5, build: (n) => msgpackArray(n, (i) => [0xd4, 0x72, 0x00, 0x91, 0xa4, ...keyOf(i, 4), 0x00]) },
  {
    // A structure of 1,024 keys (a dictionary object per read) referenced over and over: 1 byte of keys per property.
    codec: "msgpack",
    name: "bigRecords",
    unitBytes: 1025,
    weight: 1025,
    fixedWeight: 1100,
    build: (n) => {
      const keys = 1024;
      const definition = [0xd4, 0x72, 0x00, 0xdc, keys >> 8, keys & 0xff, ...Array.from({ length: keys }, (_, k) => [0xa2, ...keyOf(k, 2)]).flat()];
      const reference = Buffer.concat([Buffer.from([0x40]), Buffer.alloc(keys)]);
      return msgpackArray(n, () => reference, [...definition, ...Buffer.alloc(keys)], 1);
    },
  },
  { codec: "json", name: "emptyObjects", unitBytes: 3, weight: 1, build: (n) => jsonArray(n, () => "{}") },
  { codec: "json", name: "emptyArrays", unitBytes: 3, weight: 1, build: (n) => jsonArray(n, () => "[]") },
  { codec: "json", name: "zeros", unitBytes: 2, weight: 0, build: (n) => jsonArray(n, () => "0") },
  { codec: "json", name: "freshKeyObjects", unitBytes: 11, weight: 1, build: (n) => jsonArray(n, (i) => `{"${jsonKey(i, 4)}":0}`) },
  { codec: "json", name: "fourFreshKeyObjects", unitBytes: 38, weight: 1, build: (n) => jsonArray(n, (i) => `{${[0, 1, 2, 3].map((j) => `"${jsonKey(4 * i + j, 4)}":0`).join(",")}}`) },
  { codec: "json", name: "oneObjectManyKeys", unitBytes: 9, weight: 0, build: (n) => Buffer.from(`{${Array.from({ length: n }, (_, i) => `"${jsonKey(i, 4)}":0`).join(",")}}`) },
  { codec: "superjson", name: "emptyObjects", unitBytes: 3, weight: 1, build: (n) => jsonArray(n, () => "{}", true) },
  { codec: "superjson", name: "freshKeyObjects", unitBytes: 11, weight: 1, build: (n) => jsonArray(n, (i) => `{"${jsonKey(i, 4)}":0}`, true) },
  {
    // Referential-equality paths: each string becomes an array of its segments.
    codec: "superjson",
    name: "equalityPaths",
    unitBytes: 4,
    weight: 4,
    build: (n) => Buffer.from(`{"json":{"a":1},"meta":{"referentialEqualities":{"a":[${Array.from({ length: n }, () => '"b"').join(",")}]}}}`),
  },
  {
    // Value annotations: each key a path walked (and copied) by superjson, each type an array and a string.
    codec: "superjson",
    name: "valueAnnotations",
    unitBytes: 27,
    weight: 9,
    build: (n) => {
      const json = `{"a":[${Array.from({ length: n }, () => "0").join(",")}]}`;
      const values = Array.from({ length: n }, (_, i) => `"a.${i}":["undefined"]`).join(",");
      return Buffer.from(`{"json":${json},"meta":{"values":{${values}},"v":1}}`);
    },
  },
  { codec: "legacy", name: "emptyObjects", unitBytes: 3, weight: 1, build: (n) => jsonArray(n, () => "{}") },
  { codec: "legacy", name: "freshKeyObjects", unitBytes: 11, weight: 1, build: (n) => jsonArray(n, (i) => `{"${jsonKey(i, 4)}":0}`) },
];

function items(shape: Shape, mode: string): number {
  const byBytes = Math.floor(BYTE_BUDGET / shape.unitBytes) - (shape.name === "bigRecords" ? 4 : 0);
  const byWeight = shape.weight === 0 || mode === "bomb" ? Infinity : Math.floor((WEIGHT_BUDGET - (shape.fixedWeight ?? 0)) / shape.weight);
  return Math.min(byBytes, byWeight, shape.maxItems ?? Infinity);
}

/** The bytes stored at the key: an envelope, deflated (as the store writes anything above 16 KiB), or the 0.2.2 JSON itself. */
function stored(shape: Shape, payload: Buffer): Buffer {
  if (shape.codec === "legacy") return payload;
  const header = Buffer.alloc(HEADER_SIZE);
  header[0] = 0xfe;
  header[1] = 1;
  header[2] = CODEC_IDS[shape.codec];
  header[3] = 1;
  header.writeUInt32BE(1, 4);
  return Buffer.concat([header, deflateRawSync(payload, { level: 9 })]);
}

interface Result {
  shape: string;
  items?: number;
  payloadBytes?: number;
  storedBytes?: number;
  outcome: string;
  ms?: number;
  retainedHeapMiB?: number;
  heapCommittedAfterMiB?: number;
  peakRssGrowthMiB?: number;
}

const round = (n: number) => Math.round(n * 10) / 10;

/** In the child: build, decode once, measure. */
function runOne(key: string, mode: string): Result {
  const shape = SHAPES.find((s) => `${s.codec}:${s.name}` === key)!;
  const gc = (globalThis as { gc?: () => void }).gc!;
  const n = items(shape, mode);
  let bytes: Buffer | undefined = stored(shape, shape.build(n));
  const payloadBytes = shape.codec === "legacy" ? bytes.length : undefined;
  const serializer = new EnvelopeSerializer();
  // Warm the decoders on a small value, so their one-time setup is not counted.
  serializer.decode("warm", serializer.encode("W", { a: [1, { b: 2 }] }, { sagaId: "w", sagaVersion: 0, schemaVersion: 1 }));
  const inflated = shape.codec === "legacy" ? bytes.length : shape.build(n).length;
  gc();
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const rssBefore = process.memoryUsage().rss;
  const started = performance.now();
  let outcome: string;
  let kept: unknown;
  try {
    kept = serializer.decode("k", bytes).state;
    outcome = "decoded";
  } catch (error) {
    outcome = (error as { code?: string }).code ?? `threw ${(error as Error).name}`;
  }
  const ms = performance.now() - started;
  const committed = getHeapStatistics().total_heap_size;
  const storedBytes = bytes.length;
  bytes = undefined;
  gc();
  gc();
  const retained = process.memoryUsage().heapUsed - heapBefore;
  const rssGrowth = process.resourceUsage().maxRSS * 1024 - rssBefore;
  void kept;
  return {
    shape: key,
    items: n,
    payloadBytes: payloadBytes ?? inflated,
    storedBytes,
    outcome,
    ms: Math.round(ms),
    retainedHeapMiB: round(retained / MIB),
    heapCommittedAfterMiB: round(committed / MIB),
    peakRssGrowthMiB: round(Math.max(0, rssGrowth) / MIB),
  };
}

function main(): void {
  const args = process.argv.slice(2);
  const arg = (name: string) => (args.indexOf(name) >= 0 ? args[args.indexOf(name) + 1] : undefined);
  const mode = arg("--mode") ?? "bomb";
  const one = arg("--one");
  if (one) {
    process.stdout.write(JSON.stringify(runOne(one, mode)) + "\n");
    return;
  }
  const heapMb = Number(arg("--heap-mb") ?? 2048);
  const only = arg("--only") ? new Set(arg("--only")!.split(",")) : undefined;
  const asJson = args.includes("--json");
  const results: Result[] = [];
  for (const shape of SHAPES) {
    const key = `${shape.codec}:${shape.name}`;
    if (only && !only.has(key)) continue;
    const child = spawnSync(process.execPath, [`--max-old-space-size=${heapMb}`, "--expose-gc", "--import", "tsx", fileURLToPath(import.meta.url), "--one", key, "--mode", mode], {
      encoding: "utf8",
      maxBuffer: 1 << 20,
      timeout: 600_000,
    });
    const line = child.stdout.trim().split("\n").pop();
    let result: Result;
    try {
      result = JSON.parse(line ?? "");
    } catch {
      const died = /heap out of memory/.test(child.stderr) ? "heap out of memory" : `exit ${child.status ?? child.signal}: ${child.stderr.slice(-300)}`;
      result = { shape: key, outcome: `child died: ${died}` };
    }
    results.push(result);
    if (!asJson) console.log(JSON.stringify(result));
  }
  if (asJson) console.log(JSON.stringify({ mode, heapMb, maxStateBytes: DEFAULT_MAX_STATE_BYTES, maxStateContainers: DEFAULT_MAX_STATE_CONTAINERS, results }, null, 2));
}

main();
