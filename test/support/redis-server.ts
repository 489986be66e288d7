import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";

/**
 * Test servers, in the order DEVELOPERS.md asks: REDIS_URL when set (never
 * flushed), else a throwaway `redis-server` on a free port, else a
 * Testcontainers Redis (for machines with Docker but no redis-server).
 */
export interface TestRedis {
  url: string;
  /** True when this process started the server (so it may flush or kill it). */
  owned: boolean;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export function hasRedisServer(): boolean {
  return spawnSync("redis-server", ["--version"], { stdio: "ignore" }).status === 0;
}

export async function waitForPing(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on("error", () => {});
    try {
      await client.connect();
      await client.ping();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`redis at ${url} did not answer PING within ${timeoutMs} ms: ${(error as Error).message}`);
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      client.disconnect();
    }
  }
}

/** Spawn a throwaway redis-server; extra args are passed through (e.g. ["--appendonly", "yes"]). */
export async function spawnRedisServer(extraArgs: string[] = [], port?: number): Promise<TestRedis & { port: number; dir: string; process: ChildProcess }> {
  const chosenPort = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), "saga-store-redis-"));
  const child = spawn(
    "redis-server",
    ["--port", String(chosenPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, ...extraArgs],
    { stdio: "ignore" },
  );
  const url = `redis://127.0.0.1:${chosenPort}`;
  await waitForPing(url);
  return {
    url,
    port: chosenPort,
    dir,
    process: child,
    owned: true,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGKILL");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startTestRedis(): Promise<TestRedis> {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, owned: false, stop: async () => {} };
  if (hasRedisServer()) return spawnRedisServer();
  const { GenericContainer } = await import("testcontainers");
  const container = await new GenericContainer("redis:7").withExposedPorts(6379).start();
  const url = `redis://${container.getHost()}:${container.getMappedPort(6379)}`;
  await waitForPing(url);
  return { url, owned: true, stop: async () => void (await container.stop()) };
}

/** The CLIENT LIST id of the connection named `name` (ioredis `connectionName`), waiting until it is connected. */
export async function clientIdByName(admin: Redis, name: string, timeoutMs = 3_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = (await admin.client("LIST")) as string;
    const id = list
      .split("\n")
      .find((line) => line.includes(` name=${name} `))
      ?.match(/^id=(\d+) /)?.[1];
    if (id) return id;
    if (Date.now() > deadline) throw new Error(`no client named ${name} in CLIENT LIST`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
