/**
 * migrateAll beside live writers: 32 async callers on one connection keep
 * incrementing counters through modify() while a migration (on a connection
 * of its own) rewrites every saga from schema v1 to v2. The callers are
 * instances in phase 1 of the two-phase rollout (they know v2 but write
 * v1), so every saga keeps being rewritten at v1 until the migration brings
 * it to v2, and the two race on every saga. Every increment a caller was
 * told succeeded must be in the stored count, and every value must end at
 * v2. Counted from what the callers were told, compared with what is stored.
 * On Redis and a Cluster the migration is the saga-store command in a
 * process of its own, as an operator runs it beside a live fleet; on the
 * embedded engine it runs in the callers' process.
 */
import { afterEach, describe, expect, inject, it } from "vitest";
import type { MigrateResult, SagaStore } from "../src/index";
import { TALLY as SAGA, phase1, registry, v1Only } from "./fixtures/tally-registry";
import { startCli } from "./support/cli";
import { openBackend, type Backend } from "./support/operator-fixture";

const SAGAS = 256;
const CALLERS = 32;
const MIN_INCREMENTS_PER_CALLER = 20;

const at = new Date("2026-01-02T03:04:05.678Z");

/** The migration, from v1 to the registry's v2: in process on the embedded engine, else the saga-store command. */
async function migrate(backend: Backend): Promise<MigrateResult> {
  if (backend.name === "memory") return (await backend.store({ registry })).migrateAll(SAGA);
  const connection =
    backend.name === "redis" ? ["--url", inject("redisUrl")] : ["--cluster", inject("redisClusterNodes").map(({ host, port }) => `${host}:${port}`).join(",")];
  const run = await startCli(["migrate", SAGA, "--registry", "test/fixtures/tally-registry.ts", "--prefix", backend.prefix, ...connection, "--json"]).finished;
  if (run.code !== 0) throw new Error(`saga-store migrate exited ${run.code}: ${run.stderr}${run.stdout}`);
  return JSON.parse(run.stdout) as MigrateResult;
}

describe.each(["memory", "redis", "cluster"] as const)("migrateAll beside live modify() callers on %s", (engine) => {
  let backend: Backend;
  afterEach(() => backend?.close());

  it(`${CALLERS} callers increment ${SAGAS} sagas while a migration rewrites them to v2: no acknowledged increment lost, every value at v2`, async () => {
    backend = await openBackend(engine);
    const old = await backend.store({ registry: v1Only });
    for (let i = 0; i < SAGAS; i++) {
      await old.insert(SAGA, `t-${i}`, { count: 0, metadata: { sagaId: `s-${i}`, version: 0, createdAt: at, updatedAt: at, isCompleted: false } });
    }
    const live: SagaStore = await backend.store({ registry: phase1, maxRetries: 1_000, retryDelayMs: 1, operationTimeoutMs: 60_000 });
    const acknowledged = new Array<number>(SAGAS).fill(0);
    let migrationDone = false;
    let duringMigration = 0;
    let written = 0;
    let warm: () => void;
    const warmedUp = new Promise<void>((resolve) => (warm = resolve));

    const caller = async (seed: number) => {
      let done = 0;
      // Each caller walks the sagas in its own order, so callers collide on sagas and with the migration.
      for (let step = 0; !migrationDone || done < MIN_INCREMENTS_PER_CALLER; step++) {
        const i = (seed * 7 + step * 13) % SAGAS;
        await live.modify(SAGA, `t-${i}`, (state) => ({ ...state, count: state.count + 1 }));
        acknowledged[i]!++;
        done++;
        if (++written === 4 * CALLERS) warm!();
        if (!migrationDone) duringMigration++;
      }
    };
    const callers = Array.from({ length: CALLERS }, (_, seed) => caller(seed));
    // The migration starts once the callers write steadily, so it runs amid their writes rather than before them.
    await warmedUp;
    const migration = migrate(backend).finally(() => {
      migrationDone = true;
    });
    const [result] = await Promise.all([migration, ...callers]);

    expect(result).toMatchObject({ failed: 0, ahead: 0, contended: 0, stopped: false, target: { schemaVersion: 2 } });
    expect(result.migrated, JSON.stringify(result)).toBeGreaterThan(0);
    // The race this test is about happened: rewrites found a live write in their way and reloaded.
    expect(result.reloaded, JSON.stringify(result)).toBeGreaterThan(0);
    expect(duringMigration).toBeGreaterThan(CALLERS);
    const stored = await Promise.all(Array.from({ length: SAGAS }, (_, i) => live.getByCorrelationId(SAGA, `t-${i}`)));
    expect(stored.map((state) => state!.count)).toEqual(acknowledged);
    expect(stored.every((state) => state!.unit === "items")).toBe(true);
    const check = await backend.store({ registry });
    expect((await check.stats(SAGA)).bySchemaVersion).toEqual({ "2": SAGAS });
    expect((await check.migrateAll(SAGA)).migrated).toBe(0);
  });
});
