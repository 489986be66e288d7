/**
 * Child process for test/faults/bounds.test.ts: ATTEMPTS failed starts of a
 * store that creates its own client, against a port where nothing listens,
 * then return from main. The parent times how long the process takes to
 * exit: anything the store left open (a reconnecting client, a timer) keeps
 * it alive.
 *
 * Env: PORT, ATTEMPTS. Prints one JSON line: { codes, slowestMs }.
 */
import { RedisSagaStore } from "../../src/index";

async function main(): Promise<void> {
  const port = Number(process.env.PORT);
  const attempts = Number(process.env.ATTEMPTS);
  const codes: Record<string, number> = {};
  let slowestMs = 0;
  for (let i = 0; i < attempts; i++) {
    const store = new RedisSagaStore({ connection: { host: "127.0.0.1", port }, startTimeoutMs: 300 });
    const started = performance.now();
    try {
      await store.initialize();
      codes.started = (codes.started ?? 0) + 1;
    } catch (error) {
      const code = (error as { code?: string }).code ?? String(error);
      codes[code] = (codes[code] ?? 0) + 1;
    }
    slowestMs = Math.max(slowestMs, performance.now() - started);
    // Half the attempts are never closed: a failed start must have closed what it opened itself.
    if (i % 2 === 0) await store.close();
  }
  process.stdout.write(JSON.stringify({ codes, slowestMs: Math.round(slowestMs) }) + "\n");
  if (process.env.SHOW_HANDLES) setTimeout(() => console.error(process.getActiveResourcesInfo()), 100).unref();
}

void main();
