/**
 * Every ```typescript block of README.md, in order, named by the heading it
 * sits under (see test/support/readme-snippets.ts for how blocks are found,
 * checked and run).
 *
 * Each block is standalone: its own imports and declarations, never
 * concatenated with the block before it.
 *
 * 1. Typecheck: each block is its own .mts module; one tsc run over all of them
 *    with strict, noEmit, module esnext, moduleResolution bundler, target
 *    es2022, "@saga-bus/store-redis" mapped to src/index.ts. Every block must
 *    have zero diagnostics (they are printed, as README.md:line:col, on failure).
 * 2. Run: each block that has JavaScript to run is imported by vitest against
 *    the test servers of test/global-setup.ts (addresses rewritten as
 *    test/seed-readme.test.ts does; a `new Cluster([...])` gets the test
 *    Cluster's nodes), with a unique key prefix. It must finish without
 *    throwing; then every store it created must start and answer a PING, and
 *    some blocks get a check of what they left in Redis (AFTER_RUN below). Its
 *    keys are then deleted, its stores closed and the clients it gave them quit.
 *    Not run: a block that only declares types, and a block importing a
 *    @saga-bus/core name the installed stand-in does not have at run time
 *    (createBus): both are typechecked only, and their test names say so.
 */
import { randomUUID } from "node:crypto";
import * as core from "@saga-bus/core";
import { Cluster } from "ioredis";
import { beforeAll, describe, expect, inject, it } from "vitest";
import {
  deleteKeys,
  beginRun,
  declaresTypesOnly,
  endRun,
  extractSnippets,
  importedNames,
  typecheckSnippets,
  usesCluster,
  writeRunnable,
  type CreatedStore,
  type Snippet,
  type SnippetDiagnostic,
} from "./support/readme-snippets";

const snippets = extractSnippets();

/** @saga-bus/core names a block imports that the stand-in does not export at run time. */
const missingFromCore = (snippet: Snippet) => importedNames(snippet.code, "@saga-bus/core").filter((name) => !(name in core));

/**
 * What @saga-bus/core 0.2.2 declares and the stand-in lacks (core's
 * runtime/BusImpl.ts and types/bus.ts: `createBus(config: BusConfig): Bus`),
 * so a block calling createBus is checked against core's own signature.
 */
const CORE_SHIM = `import type { BusConfig } from "@saga-bus/core";
declare module "@saga-bus/core" {
  export interface Bus {
    start(): Promise<void>;
    stop(): Promise<void>;
    isRunning(): boolean;
  }
  export function createBus(config: BusConfig): Bus;
}
`;

const only = (stores: CreatedStore[]) => {
  expect(stores).toHaveLength(1);
  return stores[0]!;
};

/** Checks of what a block left behind, by heading. */
const AFTER_RUN: Record<string, (stores: CreatedStore[]) => Promise<void>> = {
  "Typed quick start: a registry of Zod schemas": async (stores) => {
    const { store } = only(stores);
    expect(await store.findByCorrelationId("OrderSaga", "order-123")).toMatchObject({
      orderId: "order-123",
      total: 11,
      currency: "EUR",
      metadata: { version: 1, isCompleted: false },
    });
  },
  "Basic Usage": async (stores) => {
    const { store } = only(stores);
    expect(await store.findByCorrelationId("OrderSaga", "order-123")).toBeNull();
    expect(await store.findById("OrderSaga", "saga-456")).toBeNull();
  },
  "Load, change, save: `modify`": async (stores) => {
    const { store } = only(stores);
    expect(await store.findByCorrelationId("OrderSaga", "order-123")).toMatchObject({ id: "saga-456", status: "paid", version: 1 });
  },
  "With Existing Redis Client": async (stores) => {
    const { store, givenClient } = only(stores);
    expect(store.getRedis()).toBe(givenClient);
    expect((givenClient as { options: { db?: number } }).options.db).toBe(1);
  },
  "With TTL for Auto-Cleanup": async (stores) => {
    const { store, keyPrefix } = only(stores);
    const saved = await store.save("OrderSaga", { id: "s-ttl", correlationId: "c-ttl", status: "running" });
    const redis = store.getRedis()!;
    expect(await redis.pttl(`${keyPrefix}saga:OrderSaga:c-ttl`)).toBeGreaterThan(604_000_000);
    await store.save("OrderSaga", { ...saved, status: "completed" });
    const day = await redis.pttl(`${keyPrefix}saga:OrderSaga:c-ttl`);
    expect(day).toBeGreaterThan(86_000_000);
    expect(day).toBeLessThanOrEqual(86_400_000);
  },
  "Error Handling": async (stores) => {
    // Both stale saves were refused: the other process's save is what is stored.
    const { store } = only(stores);
    expect(await store.findByCorrelationId("OrderSaga", "order-123")).toMatchObject({ id: "saga-456", status: "paid", version: 1 });
  },
  "Redis Cluster": async (stores) => {
    expect(only(stores).store.getRedis()).toBeInstanceOf(Cluster);
  },
  "Durable writes": async (stores) => {
    const { store } = only(stores);
    expect(store.getRedis()).toBeInstanceOf(Cluster);
    expect(await store.findById("OrderSaga", "saga-456")).toMatchObject({ correlationId: "order-123", status: "running", version: 0 });
  },
};

describe("README.md's typescript blocks", () => {
  it("are found, each under a heading", () => {
    expect(snippets.length).toBeGreaterThan(0);
    for (const snippet of snippets) {
      expect(snippet.code.trim(), `README.md:${snippet.line}`).not.toBe("");
      expect(snippet.heading).not.toBe("(top)");
    }
    // A check whose heading no block has any more would silently stop checking.
    const headings = new Set(snippets.map((s) => s.heading));
    expect(Object.keys(AFTER_RUN).filter((heading) => !headings.has(heading))).toEqual([]);
  });
});

describe("typecheck: each block as its own module, strict", () => {
  let diagnostics: SnippetDiagnostic[] = [];
  beforeAll(() => {
    const needsShim = snippets.some((s) => missingFromCore(s).length > 0);
    diagnostics = typecheckSnippets(snippets, needsShim ? CORE_SHIM : undefined);
  });

  for (const snippet of snippets) {
    const why = declaresTypesOnly(snippet.code)
      ? " (declares types only: typechecked, not run)"
      : missingFromCore(snippet).length > 0
        ? ` (not run: the @saga-bus/core stand-in has no ${missingFromCore(snippet).join(", ")})`
        : "";
    it(`${snippet.index}. ${snippet.heading} (README.md:${snippet.line}) compiles${why}`, () => {
      const own = diagnostics.filter((d) => d.stem === snippet.stem).map((d) => d.text);
      expect(own, own.join("\n")).toEqual([]);
    });
  }

  it("tsc reports nothing outside the blocks (the mapped source, the core shim)", () => {
    const other = diagnostics.filter((d) => d.stem === null).map((d) => d.text);
    expect(other, other.join("\n")).toEqual([]);
  });
});

describe("run: each block with code to run, against the test servers", () => {
  const servers = { redisUrl: inject("redisUrl"), clusterNodes: inject("redisClusterNodes") };
  const runnable = snippets.filter((s) => !declaresTypesOnly(s.code) && missingFromCore(s).length === 0);

  for (const snippet of runnable) {
    const where = usesCluster(snippet.code)
      ? "on the test Redis Cluster"
      : /new (Redis|RedisSagaStore)\b/.test(snippet.code)
        ? "on the test Redis"
        : "(it uses no Redis)";
    it(`${snippet.index}. ${snippet.heading} (README.md:${snippet.line}) runs ${where}`, async () => {
      const file = writeRunnable(snippet, servers);
      const stores = beginRun(`readme-${randomUUID().slice(0, 8)}:`);
      try {
        try {
          await import(/* @vite-ignore */ file);
        } finally {
          endRun();
        }
        for (const { store } of stores) {
          await store.initialize();
          expect(await store.getRedis()!.ping()).toBe("PONG");
        }
        await AFTER_RUN[snippet.heading]?.(stores);
      } finally {
        for (const { store, keyPrefix, givenClient } of stores) {
          const client = store.getRedis();
          if (client) await deleteKeys(client, keyPrefix).catch(() => {});
          await store.close();
          if (givenClient) await givenClient.quit().catch(() => givenClient.disconnect());
        }
      }
    });
  }
});
