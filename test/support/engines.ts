/**
 * The engines themselves (src/engine.ts), for tests of the engine contract:
 * the embedded one, a standalone server and the shared Cluster of
 * test/global-setup.ts, each opened on a client of its own. Store-level
 * tests use test/support/stores.ts.
 */
import { Cluster, Redis } from "ioredis";
import { inject } from "vitest";
import type { SagaEngine } from "../../src/engine";
import { MemoryEngine } from "../../src/engines/memory";
import { ClusterRedisEngine } from "../../src/engines/redis-cluster";
import { StandaloneRedisEngine } from "../../src/engines/redis-standalone";

export interface OpenedEngine {
  engine: SagaEngine;
  close(): Promise<void>;
}

export interface EngineHarness {
  name: "memory" | "redis" | "cluster";
  open(): Promise<OpenedEngine>;
}

export const ENGINES: readonly EngineHarness[] = [
  {
    name: "memory",
    async open() {
      const engine = new MemoryEngine();
      return { engine, close: () => engine.close() };
    },
  },
  {
    name: "redis",
    async open() {
      const client = new Redis(inject("redisUrl"));
      const engine = new StandaloneRedisEngine(client, false);
      await engine.initialize();
      return {
        engine,
        async close() {
          await engine.close();
          await client.quit();
        },
      };
    },
  },
  {
    name: "cluster",
    async open() {
      const client = new Cluster(inject("redisClusterNodes").map(({ host, port }) => ({ host, port })));
      const engine = new ClusterRedisEngine(client, false);
      await engine.initialize();
      return {
        engine,
        async close() {
          await engine.close();
          await client.quit().catch(() => client.disconnect());
        },
      };
    },
  },
];
