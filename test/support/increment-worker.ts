/**
 * Child process for the cross-process concurrency test (test/concurrency.test.ts).
 *
 * Run: node --import tsx test/support/increment-worker.ts
 * Env: REDIS_URL, KEY_PREFIX, SAGA_NAME, CORRELATION_ID, CALLERS, INCREMENTS, MAX_RETRIES, RETRY_DELAY_MS
 *
 * Protocol on stdio (one JSON object per line):
 *   worker -> parent  {"ready":true}                      store initialized
 *   parent -> worker  any line                            start (a barrier, so all workers contend at once)
 *   worker -> parent  {"acked":n,"conflicts":n,"errors":[...]}   then the process exits 0
 * `acked` counts modify() calls that resolved: each added exactly 1 to the counter.
 */
import { once } from "node:events";
import { Redis } from "ioredis";
import { ConcurrencyError, RedisSagaStore } from "../../src/index";

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`increment-worker: ${name} is not set`);
  return value;
}

async function main(): Promise<void> {
  const redis = new Redis(env("REDIS_URL"));
  const store = new RedisSagaStore({
    redis,
    keyPrefix: env("KEY_PREFIX"),
    maxRetries: Number(env("MAX_RETRIES")),
    retryDelayMs: Number(env("RETRY_DELAY_MS")),
    // Reloads after conflicts stop at the operation bound too; here only MAX_RETRIES may end them, so that on a
    // loaded machine every call still gets through and the count is exact.
    operationTimeoutMs: 0,
  });
  await store.initialize();
  const sagaName = env("SAGA_NAME");
  const correlationId = env("CORRELATION_ID");
  const callers = Number(env("CALLERS"));
  const increments = Number(env("INCREMENTS"));

  process.stdout.write(JSON.stringify({ ready: true }) + "\n");
  await once(process.stdin, "data");
  process.stdin.pause();

  let acked = 0;
  let conflicts = 0;
  const errors: string[] = [];
  const caller = async () => {
    for (let i = 0; i < increments; i++) {
      try {
        await store.modify(sagaName, correlationId, (state) => ({ ...state, counter: (state.counter as number) + 1 }));
        acked++;
      } catch (error) {
        if (error instanceof ConcurrencyError) conflicts++;
        else errors.push(`${(error as Error)?.name}: ${(error as Error)?.message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: callers }, caller));
  await store.close();
  await redis.quit();
  process.stdout.write(JSON.stringify({ acked, conflicts, errors }) + "\n");
}

main().catch((error) => {
  process.stderr.write(`increment-worker failed: ${(error as Error)?.stack ?? error}\n`);
  process.exit(1);
});
