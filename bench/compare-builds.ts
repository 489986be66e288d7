/**
 * npx tsx bench/compare-builds.ts --before <dist/index.js of another build> [--after <dist/index.js>] [--scale N] [--json]
 *
 * Two builds of the store in one process, measured in alternating chunks on
 * the same cells: what a change costs per operation, in Node CPU, beside the
 * build before it. On the embedded engine (one caller: no round trip to hide
 * CPU behind) and on one throwaway redis-server (64 callers, one connection
 * per build). A build of an earlier commit comes from a worktree:
 *   git worktree add /tmp/before <commit> && ln -s "$PWD/node_modules" /tmp/before/ && (cd /tmp/before && npx tsup)
 */
import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Redis } from "ioredis";
import type * as Source from "../src/index";
import { spawnRedisServer } from "../test/support/redis-server";
import { measureSides, type CellPlan, type Op } from "./measure";
import { SAGA_NAME, orderState, withIds } from "./order-state";

type Package = typeof Source;
type Store = Source.SagaStore<any>;

interface Args {
  before: string;
  after: string;
  /** Multiplies every cell's op count. */
  scale: number;
  json: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Partial<Args> = { after: "dist/index.js", scale: 1, json: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--before") args.before = argv[++i];
    else if (argv[i] === "--after") args.after = argv[++i];
    else if (argv[i] === "--scale") args.scale = Number(argv[++i]);
    else if (argv[i] === "--json") args.json = true;
    else throw new Error(`unknown argument "${argv[i]}" (--before PATH [--after PATH] [--scale N] [--json])`);
  }
  if (!args.before) throw new Error("--before <path to dist/index.js of the other build> is required");
  if (!(args.scale! > 0)) throw new Error("--scale needs a positive number");
  return args as Args;
}

const load = async (path: string): Promise<Package> => (await import(pathToFileURL(resolve(path)).href)) as Package;

interface Comparison {
  engine: string;
  op: string;
  concurrency: number;
  beforeCpuUsPerOp: number;
  afterCpuUsPerOp: number;
  addedCpuUsPerOp: number;
  beforeOpsPerSec: number;
  afterOpsPerSec: number;
}

/** Each op measured on both builds' stores (seeded alike), alternating. */
async function cells(engine: string, stores: readonly Store[], plan: CellPlan): Promise<Comparison[]> {
  const template = orderState(randomUUID(), "ord-template");
  const readPool = Array.from({ length: 256 }, (_, k) => `ord-read-${k}`);
  const writerIds = Array.from({ length: plan.concurrency }, (_, w) => `ord-writer-${w}`);
  // Per store, the version each worker's saga is stored at.
  const versions = stores.map(() => writerIds.map(() => 0));
  for (const store of stores) {
    await Promise.all([...readPool, ...writerIds].map((id) => store.insert(SAGA_NAME, id, { ...withIds(template, `s-${id}`, id), correlationId: id })));
  }
  const ops: Record<string, (store: Store, k: number) => Op> = {
    findByCorrelationId: (store) => async (i) => {
      if (!(await store.findByCorrelationId(SAGA_NAME, readPool[i % readPool.length]!))) throw new Error("compare-builds: a seeded saga is missing");
    },
    update: (store, k) => async (_i, w) => {
      const id = writerIds[w]!;
      await store.update(SAGA_NAME, { ...withIds(template, `s-${id}`, id), correlationId: id }, versions[k]![w]!);
      versions[k]![w]!++;
    },
    insert: (store, k) => (i) => {
      const id = `ord-new-${k}-${i}`;
      return store.insert(SAGA_NAME, id, withIds(template, randomUUID(), id));
    },
  };
  const round = (n: number) => Math.round(n * 100) / 100;
  const results: Comparison[] = [];
  for (const [op, make] of Object.entries(ops)) {
    const [before, after] = await measureSides(
      plan,
      stores.map((store, k) => make(store, k)),
    );
    results.push({
      engine,
      op,
      concurrency: plan.concurrency,
      beforeCpuUsPerOp: round(before!.cpuUsPerOp),
      afterCpuUsPerOp: round(after!.cpuUsPerOp),
      addedCpuUsPerOp: round(after!.cpuUsPerOp - before!.cpuUsPerOp),
      beforeOpsPerSec: Math.round(before!.opsPerSec),
      afterOpsPerSec: Math.round(after!.opsPerSec),
    });
  }
  return results;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const builds = [await load(args.before), await load(args.after)] as const;
  const results: Comparison[] = [];
  const memory = builds.map((b) => new b.InMemorySagaStore<any>());
  results.push(...(await cells("memory", memory, { concurrency: 1, ops: 200_000 * args.scale, warmup: 20_000, rounds: 20 * Math.ceil(args.scale) })));
  const server = await spawnRedisServer();
  const clients = builds.map(() => new Redis(server.url));
  try {
    const redis = builds.map((b, k) => new b.RedisSagaStore<any>({ redis: clients[k]!, keyPrefix: `cmp-${k}:` }));
    for (const store of redis) await store.initialize();
    results.push(...(await cells("redis", redis, { concurrency: 64, ops: 60_000 * args.scale, warmup: 6_000, rounds: 10 * Math.ceil(args.scale) })));
  } finally {
    for (const client of clients) client.disconnect();
    await server.stop();
  }
  if (args.json) {
    process.stdout.write(JSON.stringify({ before: args.before, after: args.after, node: process.version, results }) + "\n");
    return;
  }
  console.log(`before: ${args.before}\nafter:  ${args.after}\nNode CPU per op, µs (process.cpuUsage ÷ ops), alternating chunks`);
  for (const r of results) {
    console.log(
      `${r.engine.padEnd(7)} ${r.op.padEnd(20)} c=${String(r.concurrency).padEnd(3)} before ${r.beforeCpuUsPerOp.toFixed(2).padStart(6)}  after ${r.afterCpuUsPerOp.toFixed(2).padStart(6)}  added ${r.addedCpuUsPerOp.toFixed(2).padStart(6)}   ops/s ${r.beforeOpsPerSec} → ${r.afterOpsPerSec}`,
    );
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
