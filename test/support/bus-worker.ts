/**
 * Child process for the multi-process saga-bus test (test/saga-bus-runtime.test.ts):
 * one "bus instance" running the loop of bus-runtime.ts over its share of
 * the same sagas' messages, on one store connection of its own.
 *
 * Run: node --import tsx test/support/bus-worker.ts
 * Env: REDIS_URL, KEY_PREFIX, SAGAS (how many sagas), WORKERS, WORKER_INDEX (0-based)
 * Its share: every message whose position in the full list is WORKER_INDEX modulo WORKERS,
 * so each saga's steps land on every process.
 *
 * Protocol on stdio (one JSON object per line):
 *   worker -> parent  {"ready":true}                          store initialized
 *   parent -> worker  "start"                                 deliver this worker's start messages
 *   worker -> parent  {"phase":"start","report":{...}}        a DeliveryReport
 *   parent -> worker  "steps"                                 (sent once every worker's sagas exist)
 *   worker -> parent  {"phase":"steps","report":{...}}        then the process exits 0
 * Barriers, not timers: all processes start each phase together, so their updates collide.
 */
import { createInterface } from "node:readline";
import { Redis } from "ioredis";
import type { SagaStore } from "@saga-bus/core";
import { RedisSagaStore } from "../../src/index";
import { deliver, startMessages, stepMessages, trailIds, type TrailMessage, type TrailState } from "./bus-runtime";

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`bus-worker: ${name} is not set`);
  return value;
}

async function main(): Promise<void> {
  const workers = Number(env("WORKERS"));
  const index = Number(env("WORKER_INDEX"));
  const trails = trailIds(Number(env("SAGAS")));
  const share = (messages: TrailMessage[]) => messages.filter((_, i) => i % workers === index);

  const redis = new Redis(env("REDIS_URL"));
  // The same options as the parent's store: a misread completion would give keys an expiry it can see.
  const store = new RedisSagaStore({ redis, keyPrefix: env("KEY_PREFIX"), completedTtlSeconds: 3600 });
  await store.initialize();
  const bus: SagaStore<TrailState> = store;

  const commands = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const awaitCommand = async (expected: string) => {
    const { value, done } = await commands.next();
    if (done || value.trim() !== expected) throw new Error(`bus-worker: expected "${expected}" on stdin, got ${done ? "end of input" : JSON.stringify(value)}`);
  };
  const send = (message: object) => process.stdout.write(JSON.stringify(message) + "\n");

  send({ ready: true });
  await awaitCommand("start");
  send({ phase: "start", report: await deliver(bus, share(startMessages(trails))) });
  await awaitCommand("steps");
  send({ phase: "steps", report: await deliver(bus, share(stepMessages(trails))) });

  process.stdin.destroy();
  await store.close();
  await redis.quit();
}

main().catch((error) => {
  process.stderr.write(`bus-worker failed: ${(error as Error)?.stack ?? error}\n`);
  process.exit(1);
});
