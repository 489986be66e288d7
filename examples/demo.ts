/**
 * `npm start`: a short tour of the store.
 *
 *   npm start                                   # embedded engine (InMemorySagaStore)
 *   REDIS_URL=redis://127.0.0.1:6379 npm start  # real Redis (RedisSagaStore)
 *   npm start -- --events                       # also print what the store publishes on its
 *                                               # diagnostics channels (README "Observability")
 *
 * Create a saga, update it, provoke a ConcurrencyError, run `modify` from
 * several concurrent callers, read it back by id, show the bytes each codec
 * stores, and roll out a new schema version across instances of different
 * code versions. On Redis every key lives under a fresh prefix and is deleted
 * at the end (never FLUSHALL).
 *
 * It uses only the public API, so it can be copied into an application. Two
 * parts need Redis, and on the embedded engine say so instead of faking it:
 * the public API has no view of an InMemorySagaStore's stored bytes, and
 * each InMemorySagaStore has its own memory, so instances of different code
 * versions cannot share one (see section 6).
 */
import { randomUUID } from "node:crypto";
import { subscribe, tracingChannel } from "node:diagnostics_channel";
import { Redis } from "ioredis";
import { z } from "zod";
// Only the package's public entry, as an application imports it. In this repo the name resolves to src/index.ts
// through tsconfig.json "paths" (tsx and tsc both honour it), so no build is needed.
import {
  CHANNEL_PREFIX,
  ConcurrencyError,
  STORE_EVENTS,
  TRACED_OPERATIONS,
  ENVELOPE_HEADER_SIZE,
  InMemorySagaStore,
  RedisSagaStore,
  createSagaRegistry,
  defineSaga,
  type BuiltInCodecName,
  type OperationContext,
  type SagaRegistry,
  type SagaState,
  type SagaStore,
  type SagaStoreOptions,
} from "@saga-bus/store-redis";

const SAGA = "OrderSaga";
const CODECS: BuiltInCodecName[] = ["json", "superjson", "msgpack"];
const CONCURRENT_CALLERS = 6;

interface OrderState extends SagaState {
  correlationId: string;
  orderId: string;
  status: "created" | "paid" | "shipped";
  items: Array<{ sku: string; qty: number; price: number }>;
  total: number;
  counter: number;
}

const redisUrl = process.env.REDIS_URL?.trim() || undefined;
const prefix = `demo-${randomUUID().slice(0, 8)}:`;

function line(label: string, text: string): void {
  console.log(`  ${label.padEnd(10)} ${text}`);
}

function newOrder(sagaId: string, correlationId: string): OrderState {
  const now = new Date();
  return {
    correlationId,
    orderId: correlationId,
    status: "created",
    items: [
      { sku: "TEA-GREEN-100G", qty: 2, price: 7.5 },
      { sku: "MUG-STONEWARE", qty: 1, price: 14 },
    ],
    total: 29,
    counter: 0,
    metadata: { sagaId, version: 0, createdAt: now, updatedAt: now, isCompleted: false },
  };
}

/**
 * --events: every store call as it ends (its TracingChannel's asyncEnd) and
 * every event, subscribed by channel name as any application can.
 */
function printStoreEvents(): void {
  const show = (value: unknown) =>
    JSON.stringify(value, (_key, v: unknown) => (v instanceof Error ? `${v.name}: ${(v as { code?: string }).code ?? v.message}` : v));
  for (const operation of TRACED_OPERATIONS) {
    tracingChannel<object, OperationContext>(CHANNEL_PREFIX + operation).subscribe({
      start() {},
      end() {},
      asyncStart() {},
      error() {},
      asyncEnd({ sagaName, outcome, keys, codec, schemaVersion, sagaVersion, attempts }) {
        const fields = { keys, codec, schemaVersion, sagaVersion, attempts };
        console.log(`    · ${operation}${sagaName ? ` ${sagaName}` : ""} → ${outcome} ${show(fields)}`);
      },
    });
  }
  for (const event of STORE_EVENTS) {
    subscribe(CHANNEL_PREFIX + event, (message) => console.log(`    · event ${event} ${show(message)}`));
  }
}

/** Header fields of an envelope (README "Envelope format"), then a printable preview of its payload. */
function describeEnvelope(bytes: Buffer): string[] {
  const hex = (from: number, to: number) => bytes.subarray(from, to).toString("hex").replace(/(..)(?!$)/g, "$1 ");
  const payload = bytes.subarray(ENVELOPE_HEADER_SIZE, ENVELOPE_HEADER_SIZE + 56);
  const printable = [...payload].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : "·")).join("");
  return [
    `header  ${hex(0, 12)}  magic 0x${bytes[0]!.toString(16)}, format ${bytes[1]}, codec ${bytes[2]}, flags ${bytes[3]}, ` +
      `schema ${bytes.readUInt32BE(4)}, version ${bytes.readUInt32BE(8)}`,
    `        ${hex(12, 28)}  write token, saga-id fingerprint`,
    `payload ${printable}${bytes.length > ENVELOPE_HEADER_SIZE + payload.length ? "…" : ""}`,
  ];
}

async function main(): Promise<void> {
  if (process.argv.includes("--events")) printStoreEvents();
  const redis = redisUrl
    ? new Redis(redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 5_000, retryStrategy: (n) => (n > 3 ? null : 200) })
    : undefined;
  redis?.on("error", () => {}); // failures surface on the commands themselves
  // One state type for every saga, as in 0.2.2 (`new RedisSagaStore<OrderState>(...)`); a registry would type each saga.
  const open = async <T = OrderState>(options: SagaStoreOptions<T> = {}): Promise<SagaStore<T>> => {
    const keyPrefix = options.keyPrefix ?? prefix;
    const store = redis ? new RedisSagaStore<T>({ ...options, redis, keyPrefix }) : new InMemorySagaStore<T>({ ...options, keyPrefix });
    await store.initialize();
    return store;
  };

  const where = redisUrl ? `Redis at ${redisUrl.replace(/\/\/[^@/]*@/, "//***@")}` : "embedded InMemorySagaStore (set REDIS_URL to use Redis)";
  console.log(`@saga-bus/store-redis demo — ${where}, key prefix "${prefix}"`);

  try {
    // maxRetries >= callers - 1: each modify caller can lose to every other caller at most once.
    const store = await open({ maxRetries: CONCURRENT_CALLERS, retryDelayMs: 5 });
    const sagaId = `saga-${randomUUID().slice(0, 8)}`;
    const correlationId = `order-${randomUUID().slice(0, 8)}`;

    console.log("\n1. create, update (saga-bus contract: insert / update with expected version)");
    await store.insert(SAGA, correlationId, newOrder(sagaId, correlationId));
    const created = (await store.getByCorrelationId(SAGA, correlationId))!;
    line("insert", `${SAGA}/${sagaId} correlation "${correlationId}" → version ${created.metadata.version}`);

    const paid: OrderState = { ...created, status: "paid", metadata: { ...created.metadata, version: 1, updatedAt: new Date() } };
    await store.update(SAGA, paid, 0);
    const afterUpdate = (await store.getById(SAGA, sagaId))!;
    line("update", `status "${afterUpdate.status}" → version ${afterUpdate.metadata.version}`);

    console.log("\n2. a conflict: a second writer still holding version 0");
    try {
      await store.update(SAGA, { ...created, status: "shipped" }, 0);
      throw new Error("expected a ConcurrencyError");
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error;
      line(error.name, `code=${error.code} expectedVersion=${error.expectedVersion} actualVersion=${error.actualVersion}`);
      line("message", error.message);
    }

    console.log(`\n3. modify from ${CONCURRENT_CALLERS} concurrent callers (each: counter + 1)`);
    let calls = 0;
    const results = await Promise.all(
      Array.from({ length: CONCURRENT_CALLERS }, () =>
        store.modify(SAGA, correlationId, (state) => {
          calls++;
          return { ...state, counter: state.counter + 1, metadata: { ...state.metadata, updatedAt: new Date() } };
        }),
      ),
    );
    const versions = results.map((r) => r.metadata.version).sort((a, b) => a - b);
    line("modify", `${CONCURRENT_CALLERS} calls succeeded with versions [${versions.join(", ")}]; fn ran ${calls} times (${calls - CONCURRENT_CALLERS} conflicts reloaded and retried)`);

    console.log("\n4. findById");
    const found = (await store.findById(SAGA, sagaId))!;
    line("findById", `status=${found.status} counter=${found.counter} version=${found.metadata.version} total=${found.total}`);
    line("", `metadata.createdAt is a Date: ${found.metadata.createdAt instanceof Date} (${found.metadata.createdAt.toISOString()})`);
    if (found.counter !== CONCURRENT_CALLERS) throw new Error(`lost update: counter ${found.counter}, expected ${CONCURRENT_CALLERS}`);
    await store.close();

    // The state as a new saga (no version), so every codec stores the same state at version 0.
    const { version: _loadedAt, ...newMetadata } = found.metadata;
    const sample = { ...found, metadata: newMetadata };
    if (redis) {
      console.log("\n5. stored bytes per codec (read back from Redis with GETBUFFER)");
      const sizes: Partial<Record<BuiltInCodecName, number>> = {};
      for (const codec of CODECS) {
        const codecPrefix = `${prefix}${codec}:`;
        const codecStore = new RedisSagaStore<Record<string, unknown>>({ redis, codec, keyPrefix: codecPrefix });
        await codecStore.insert(SAGA, correlationId, sample);
        // README "Key Structure": {prefix}saga:{sagaName}:{correlationId} holds the envelope.
        const bytes = (await codecStore.getRedis()!.getBuffer(`${codecPrefix}saga:${SAGA}:${correlationId}`))!;
        await codecStore.close();
        sizes[codec] = bytes.length;
        console.log(`  ${codec.padEnd(10)} ${String(bytes.length).padStart(4)} bytes (${ENVELOPE_HEADER_SIZE}-byte header + ${bytes.length - ENVELOPE_HEADER_SIZE} payload)`);
        for (const detail of describeEnvelope(bytes)) console.log(`    ${detail}`);
      }
      if (sizes.json && sizes.msgpack) console.log(`  msgpack / json = ${(sizes.msgpack / sizes.json).toFixed(2)}`);
    } else {
      console.log("\n5. codecs (the byte view needs Redis: the embedded engine has no public view of stored bytes)");
      for (const codec of CODECS) {
        const codecStore = await open<Record<string, unknown>>({ codec });
        await codecStore.insert(SAGA, correlationId, sample);
        const back = (await codecStore.findByCorrelationId(SAGA, correlationId)) as OrderState;
        await codecStore.close();
        const same = back.counter === sample.counter && back.total === sample.total && back.items.length === sample.items.length;
        line(codec, `stored and read back: ${same ? "same state" : "DIFFERENT state"}, metadata.createdAt is a Date: ${back.metadata.createdAt instanceof Date}`);
      }
      line("", "set REDIS_URL to see each codec's envelope bytes and sizes");
    }

    await schemaEvolution(redis);
  } finally {
    if (redis) {
      let deleted = 0;
      if (redis.status === "ready") {
        let cursor = "0";
        do {
          const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
          cursor = next;
          if (keys.length) deleted += await redis.del(...keys);
        } while (cursor !== "0");
      }
      console.log(`\ncleanup: deleted ${deleted} demo keys under "${prefix}"`);
      await redis.quit().catch(() => redis.disconnect());
    }
  }
  console.log("\ndemo finished");
}

/** Section 6: a v1 state read as v3, and the two-phase rollout of v3 (README: "Schema evolution"). */
async function schemaEvolution(redis: Redis | undefined): Promise<void> {
  const migrations = { upgrades: 0, downgrades: 0 }; // counted to show, without the bytes, what the store did
  const V1 = z.object({ orderId: z.string(), total: z.number() });
  const V2 = V1.extend({ currency: z.string() });
  const V3 = z.object({ orderId: z.string(), amount: z.object({ value: z.number(), currency: z.string() }) });
  const upTo2 = defineSaga(SAGA, V1).version(2, V2, { upgrade: (v1) => ({ ...v1, currency: "EUR" }) });
  const upTo3 = upTo2.version(3, V3, {
    upgrade: (v2) => (migrations.upgrades++, { orderId: v2.orderId, amount: { value: v2.total, currency: v2.currency } }),
    downgrade: (v3) => (migrations.downgrades++, { orderId: v3.orderId, total: v3.amount.value, currency: v3.amount.currency }),
  });
  const meta = (sagaId: string) => ({ sagaId, version: 0, createdAt: new Date(), updatedAt: new Date(), isCompleted: false });

  if (!redis) {
    // A rollout is several instances of different code versions sharing one store. Every InMemorySagaStore has its
    // own memory: one store per code version would share nothing, so showing the rollout that way would be fake.
    // What one instance shows on its own is true: phase-1 code (reads v3, writes v2) downgrades on every save and
    // upgrades on every read; the migration counters show it, as the stored bytes are not publicly readable here.
    console.log("\n6. schema evolution (the rollout across code versions needs Redis: several instances sharing one store)");
    const phase1 = new InMemorySagaStore<any>({ keyPrefix: `${prefix}schema:`, registry: createSagaRegistry([upTo3.writeVersion(2)]) });
    await phase1.initialize();
    line("phase 1", "one instance of the code that reads v3 but writes v2:");
    await phase1.insert(SAGA, "order-p1", { orderId: "order-p1", amount: { value: 42, currency: "EUR" }, metadata: meta("saga-p1") });
    line("", `insert of a v3 state ran the 3 → 2 downgrade ${migrations.downgrades}× (stored at schema 2)`);
    const read = await phase1.findByCorrelationId(SAGA, "order-p1");
    line("", `read back as v3 ${JSON.stringify({ orderId: read.orderId, amount: read.amount })}: the 2 → 3 upgrade ran ${migrations.upgrades}×`);
    line("", "set REDIS_URL to see old and new code versions read and write the same sagas");
    await phase1.close();
    return;
  }

  console.log("\n6. schema evolution: upgrade on read, two-phase rollout (instances of 4 code versions, one Redis, one prefix)");
  const deploy = async (registry: SagaRegistry<any>) => {
    const store = new RedisSagaStore<any>({ redis, keyPrefix: `${prefix}schema:`, registry });
    await store.initialize();
    return store;
  };
  const v1Code = await deploy(createSagaRegistry([defineSaga(SAGA, V1)]));
  const v2Code = await deploy(createSagaRegistry([upTo2]));
  const phase1 = await deploy(createSagaRegistry([upTo3.writeVersion(2)]));
  const phase2 = await deploy(createSagaRegistry([upTo3]));

  await v1Code.insert(SAGA, "order-v1", { orderId: "order-v1", total: 42, metadata: meta("saga-v1") });
  const upgraded = await phase2.findByCorrelationId(SAGA, "order-v1");
  line("v1 → v3", `stored at schema 1 by old code, read by v3 code as ${JSON.stringify({ orderId: upgraded.orderId, amount: upgraded.amount })}`);
  line("", `a read never writes: still stored at schema 1 until the next save`);

  line("phase 1", "code that reads v3 but writes v2 rolls out while v2 code still runs");
  await phase1.modify(SAGA, "order-v1", (state: any) => ({ ...state, amount: { ...state.amount, value: state.amount.value + 1 } }));
  const seenByV2 = await v2Code.findByCorrelationId(SAGA, "order-v1");
  line("", `phase-1 save stored v2; the v2 instance reads it: total=${seenByV2.total} currency=${seenByV2.currency}`);

  line("phase 2", "once phase 1 is everywhere, code writing v3 rolls out");
  await phase2.modify(SAGA, "order-v1", (state: any) => ({ ...state, amount: { ...state.amount, value: state.amount.value + 1 } }));
  const seenByPhase1 = await phase1.findByCorrelationId(SAGA, "order-v1");
  line("", `stored v3 now; phase-1 instances still read it: amount=${JSON.stringify(seenByPhase1.amount)}`);
  const refused = await v2Code.findByCorrelationId(SAGA, "order-v1").then(
    () => "read it (unexpected)",
    (error: { code?: string }) => `fails closed with ${error.code}`,
  );
  line("", `a v2-only instance coming back ${refused}, and cannot overwrite the v3 value`);
  await Promise.all([v1Code, v2Code, phase1, phase2].map((store) => store.close()));
}

main().catch((error) => {
  // A store error's message says what went wrong (e.g. REDIS_UNAVAILABLE: nothing listening at REDIS_URL).
  console.error("demo failed:", error instanceof Error && "code" in error ? `${error.name} [${String(error.code)}]: ${error.message}` : error);
  process.exitCode = 1;
});
