/**
 * migrateAll beside live writers: 32 async callers on one connection keep
 * incrementing counters through modify() while a migration (on a connection
 * of its own) rewrites every saga from schema v1 to v2. The callers are
 * instances in phase 1 of the two-phase rollout (they know v2 but write
 * v1), so every saga keeps being rewritten at v1 until the migration brings
 * it to v2, and the two race on every saga. Every increment a caller was
 * told succeeded must be in the stored count, and every value must end at
 * v2. Counted from what the callers were told, compared with what is stored.
 */
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createSagaRegistry, defineSaga, type SagaStore } from "../src/index";
import { openBackend, type Backend } from "./support/operator-fixture";

const SAGA = "Tally";
const SAGAS = 128;
const CALLERS = 32;
const MIN_INCREMENTS_PER_CALLER = 20;

const V1 = z.object({ count: z.number() });
const V2 = z.object({ count: z.number(), unit: z.string() });
const v1Only = createSagaRegistry([defineSaga(SAGA, V1)]);
const upToV2 = defineSaga(SAGA, V1).version(2, V2, { upgrade: (v1) => ({ ...v1, unit: "items" }), downgrade: ({ unit: _unit, ...v1 }) => v1 });
const v1ToV2 = createSagaRegistry([upToV2]);
const phase1 = createSagaRegistry([upToV2.writeVersion(1)]);

const at = new Date("2026-01-02T03:04:05.678Z");

describe.each(["memory", "redis", "cluster"] as const)("migrateAll beside live modify() callers on %s", (engine) => {
  let backend: Backend;
  afterEach(() => backend?.close());

  it(`${CALLERS} callers increment ${SAGAS} sagas while a migration rewrites them to v2: no acknowledged increment lost, every value at v2`, async () => {
    backend = await openBackend(engine);
    const old = await backend.store({ registry: v1Only });
    for (let i = 0; i < SAGAS; i++) {
      await old.insert(SAGA, `t-${i}`, { count: 0, metadata: { sagaId: `s-${i}`, version: 0, createdAt: at, updatedAt: at, isCompleted: false } });
    }
    // Live writers on one connection; the migration on its own store and connection.
    const live: SagaStore = await backend.store({ registry: phase1, maxRetries: 1_000, retryDelayMs: 1, operationTimeoutMs: 60_000 });
    const migrator = await backend.store({ registry: v1ToV2 });
    const acknowledged = new Array<number>(SAGAS).fill(0);
    let migrationDone = false;
    let duringMigration = 0;

    const caller = async (seed: number) => {
      let done = 0;
      // Each caller walks the sagas in its own order, so callers collide on sagas and with the migration.
      for (let step = 0; !migrationDone || done < MIN_INCREMENTS_PER_CALLER; step++) {
        const i = (seed * 7 + step * 13) % SAGAS;
        await live.modify(SAGA, `t-${i}`, (state) => ({ ...state, count: state.count + 1 }));
        acknowledged[i]!++;
        done++;
        if (!migrationDone) duringMigration++;
      }
    };
    const callers = Array.from({ length: CALLERS }, (_, seed) => caller(seed));
    // Small batches and few rewrites in flight stretch the migration over many of the callers' writes.
    const migration = migrator.migrateAll(SAGA, {}, { batchSize: 32 }).finally(() => {
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
    expect((await migrator.stats(SAGA)).bySchemaVersion).toEqual({ "2": SAGAS });
    expect((await migrator.migrateAll(SAGA)).migrated).toBe(0);
  });
});
