/**
 * The operator API (stats, verify, migrateAll, deleteCompleted, inspect,
 * countByName) on every engine, over the planted mixed data of
 * test/support/operator-fixture.ts: counts exact, repairs and rewrites that
 * touch only what they say, dry runs that change no byte.
 */
import { afterEach, describe, expect, it } from "vitest";
import { MigrationRefusedError, type SagaStore } from "../src/index";
import { EXPECTED, PLANTED, SAGA, openBackend, plantMixedData, registries, type Backend } from "./support/operator-fixture";
import { indexKeyOf, valueKeyOf } from "./support/key-layout";

const ALL_VALUE_IDS = [
  ...PLANTED.v1,
  ...PLANTED.legacy,
  ...PLANTED.v2msgpack,
  PLANTED.v2ttl,
  ...PLANTED.v3superjson,
  ...PLANTED.v3json,
  PLANTED.v3compressed,
  PLANTED.indexMissing,
  PLANTED.indexElsewhere,
  PLANTED.corruptEnvelope,
  PLANTED.garbage,
];

describe.each(["memory", "redis", "cluster"] as const)("operator API on %s", (engine) => {
  let backend: Backend;
  afterEach(() => backend?.close());

  async function planted(): Promise<{ store: SagaStore; snapshot(): Promise<(string | null)[]> }> {
    backend = await openBackend(engine);
    await plantMixedData(backend);
    const store = await backend.store({ registry: registries.v3 });
    const keys = [
      ...ALL_VALUE_IDS.map((id) => valueKeyOf(backend.prefix, SAGA, id)),
      ...ALL_VALUE_IDS.map((id) => indexKeyOf(backend.prefix, SAGA, `s-${id}`)),
      indexKeyOf(backend.prefix, SAGA, PLANTED.orphanIndexSagaId),
      indexKeyOf(backend.prefix, SAGA, PLANTED.staleIndexSagaId),
    ];
    const snapshot = async () => Promise.all(keys.map(async (key) => (await backend.getRaw(key))?.toString("hex") ?? null));
    return { store, snapshot };
  }

  it("stats counts every kind of planted value and index exactly", async () => {
    const { store } = await planted();
    const stats = await store.stats(SAGA);
    const { belowV3: _belowV3, atV3: _atV3, ...counted } = EXPECTED;
    expect(stats).toMatchObject({ ...counted, sagaName: SAGA, stopped: false });
    expect(stats.bySchemaVersion).toEqual(EXPECTED.bySchemaVersion);
    expect(stats.byCodec).toEqual(EXPECTED.byCodec);
    expect(await store.countByName(SAGA)).toBe(EXPECTED.count);
    expect(await store.sagaNames()).toEqual([SAGA]);
  });

  it("stats gives the same counts without a registry", async () => {
    await planted();
    const bare = await backend.store();
    expect(await bare.stats(SAGA)).toMatchObject({ count: EXPECTED.count, bySchemaVersion: EXPECTED.bySchemaVersion, undecodable: EXPECTED.undecodable, index: EXPECTED.index });
  });

  it("stats measures the stored sizes", async () => {
    const { store } = await planted();
    const sizes = await Promise.all(ALL_VALUE_IDS.map(async (id) => (await backend.getRaw(valueKeyOf(backend.prefix, SAGA, id)))!.length));
    sizes.sort((a, b) => a - b);
    const stats = await store.stats(SAGA);
    expect(stats.bytes).toEqual({ p50: sizes[Math.ceil(0.5 * sizes.length) - 1], p99: sizes[Math.ceil(0.99 * sizes.length) - 1], max: sizes[sizes.length - 1] });
  });

  it("verify lists each undecodable key and orphan index with its code; --fix-orphans drops those indexes and no value", async () => {
    const { store, snapshot } = await planted();
    const found = await store.verify(SAGA);
    expect(found).toMatchObject({ checked: EXPECTED.count, failed: EXPECTED.undecodable, orphanIndexes: EXPECTED.index.withoutValue, fixedOrphans: 0 });
    const byKey = Object.fromEntries(found.problems.map((p) => [p.key, p.code]));
    expect(byKey).toEqual({
      [valueKeyOf(backend.prefix, SAGA, PLANTED.corruptEnvelope)]: "DECODE_FAILED",
      [valueKeyOf(backend.prefix, SAGA, PLANTED.garbage)]: "DECODE_FAILED",
      [indexKeyOf(backend.prefix, SAGA, PLANTED.orphanIndexSagaId)]: "ORPHAN_INDEX",
      [indexKeyOf(backend.prefix, SAGA, PLANTED.staleIndexSagaId)]: "ORPHAN_INDEX",
      [indexKeyOf(backend.prefix, SAGA, `s-${PLANTED.indexElsewhere}`)]: "ORPHAN_INDEX",
    });
    const before = await snapshot();
    const fixed = await store.verify(SAGA, { fixOrphans: true });
    expect(fixed.fixedOrphans).toBe(EXPECTED.index.withoutValue);
    const after = await snapshot();
    const changed = before.flatMap((bytes, i) => (after[i] === bytes ? [] : [[i, after[i]]]));
    const orphanPositions = [ALL_VALUE_IDS.length * 2, ALL_VALUE_IDS.length * 2 + 1, ALL_VALUE_IDS.length + ALL_VALUE_IDS.indexOf(PLANTED.indexElsewhere)];
    expect(changed).toEqual(orphanPositions.sort((a, b) => a - b).map((i) => [i, null]));
    expect((await store.verify(SAGA)).orphanIndexes).toBe(0);
  });

  it("verify with a registry reports what reads would fail on: a value above the registry's versions", async () => {
    await planted();
    const v2 = await backend.store({ registry: registries.v2 });
    const found = await v2.verify(SAGA);
    expect(found.failed).toBe(EXPECTED.undecodable + EXPECTED.atV3);
    expect(found.problems.filter((p) => p.code === "SCHEMA_VERSION_AHEAD")).toHaveLength(EXPECTED.atV3);
  });

  it("migrateAll --dry-run changes no byte; the run rewrites every value below v3, keeping versions and TTLs; a second run rewrites none", async () => {
    const { store, snapshot } = await planted();
    const readsBefore = await Promise.all(ALL_VALUE_IDS.slice(0, -2).map((id) => store.getByCorrelationId(SAGA, id)));
    const before = await snapshot();
    const dry = await store.migrateAll(SAGA, { dryRun: true });
    expect(dry).toMatchObject({ migrated: EXPECTED.belowV3, alreadyAtTarget: EXPECTED.atV3, failed: EXPECTED.undecodable, dryRun: true });
    expect(await snapshot()).toEqual(before);

    const ttlBefore = await backend.pttl(valueKeyOf(backend.prefix, SAGA, PLANTED.v2ttl));
    const tokenAt = async (id: string) => (await backend.getRaw(valueKeyOf(backend.prefix, SAGA, id)))!.subarray(12, 20).toString("hex");
    const tokenBefore = await tokenAt(PLANTED.v2msgpack[1]!);
    const run = await store.migrateAll(SAGA);
    // The rewrite is the same write in another form: its token stays, so a lost-reply re-send still recognises it.
    expect(await tokenAt(PLANTED.v2msgpack[1]!)).toBe(tokenBefore);
    expect(run).toMatchObject({
      target: { schemaVersion: 3 },
      found: { total: EXPECTED.count },
      migrated: EXPECTED.belowV3,
      alreadyAtTarget: EXPECTED.atV3,
      failed: EXPECTED.undecodable,
      ahead: 0,
      contended: 0,
      stopped: false,
    });
    expect(run.problems.map((p) => p.code)).toEqual(["DECODE_FAILED", "DECODE_FAILED"]);
    const stats = await store.stats(SAGA);
    // The corrupt envelope's header still says v1; everything readable is at v3, and no 0.2.2 value is left.
    expect(stats.bySchemaVersion).toEqual({ "1": 1, "3": EXPECTED.belowV3 + EXPECTED.atV3 });
    expect(stats.byFormat).toEqual({ envelope: EXPECTED.count - 1, "0.2.2": 0, unknown: 1 });
    // Reads return what they returned before (upgraded on read then, stored upgraded now), saga versions kept.
    expect(await Promise.all(ALL_VALUE_IDS.slice(0, -2).map((id) => store.getByCorrelationId(SAGA, id)))).toEqual(readsBefore);
    const ttlAfter = await backend.pttl(valueKeyOf(backend.prefix, SAGA, PLANTED.v2ttl));
    expect(ttlAfter).toBeGreaterThan(0);
    expect(ttlAfter).toBeLessThanOrEqual(ttlBefore);

    const again = await store.migrateAll(SAGA);
    expect(again).toMatchObject({ migrated: 0, alreadyAtTarget: EXPECTED.belowV3 + EXPECTED.atV3 });
  });

  it("a writer that loaded a value before its migration still updates it: the rewrite keeps the saga version", async () => {
    const { store } = await planted();
    const writer = await backend.store({ registry: registries.v3 });
    const loaded = (await writer.getByCorrelationId(SAGA, PLANTED.v1[2]!))!;
    expect((await store.migrateAll(SAGA)).migrated).toBe(EXPECTED.belowV3);
    await writer.update(SAGA, { ...loaded, status: "paid", metadata: { ...loaded.metadata, version: loaded.metadata.version + 1 } }, loaded.metadata.version);
    expect(await writer.getByCorrelationId(SAGA, PLANTED.v1[2]!)).toMatchObject({ status: "paid", amount: 0, currency: "EUR", metadata: { version: 1 } });
  });

  it("migrateAll to another codec rewrites every decodable value in it, 0.2.2 values becoming envelopes", async () => {
    const { store } = await planted();
    const run = await store.migrateAll(SAGA, { codec: "msgpack" });
    expect(run).toMatchObject({ target: { schemaVersion: undefined, codec: "msgpack" }, migrated: EXPECTED.count - EXPECTED.undecodable - 3, alreadyAtTarget: 3 });
    const stats = await store.stats(SAGA);
    expect(stats.byCodec).toEqual({ msgpack: EXPECTED.count - EXPECTED.undecodable, json: 1, unknown: 1 });
    expect(stats.bySchemaVersion).toEqual(EXPECTED.bySchemaVersion);
  });

  it("migrateAll --format 0.2.2 turns v1 envelopes into plain JSON and leaves newer schema versions (never downgraded)", async () => {
    const { store } = await planted();
    const run = await store.migrateAll(SAGA, { format: "0.2.2" });
    expect(run).toMatchObject({ target: { schemaVersion: 1, codec: "json", format: "0.2.2" }, migrated: PLANTED.v1.length, alreadyAtTarget: PLANTED.legacy.length, ahead: 4 + EXPECTED.atV3 });
    const raw = await backend.getRaw(valueKeyOf(backend.prefix, SAGA, PLANTED.v1[1]!));
    expect(JSON.parse(raw!.toString("utf8"))).toMatchObject({ status: "new", metadata: { sagaId: `s-${PLANTED.v1[1]}`, version: 0 } });
    expect((await store.getByCorrelationId(SAGA, PLANTED.v1[1]!))!.metadata.sagaId).toBe(`s-${PLANTED.v1[1]}`);
  });

  it("refuses, before writing anything: a target above writeVersion, stored versions the registry does not know, a codec 0.2.2 cannot hold", async () => {
    const { snapshot } = await planted();
    const before = await snapshot();
    const phase1 = await backend.store({ registry: registries.v3WritingV2 });
    await expect(phase1.migrateAll(SAGA)).rejects.toThrow(MigrationRefusedError);
    await expect(phase1.migrateAll(SAGA, { toSchema: 3 })).rejects.toMatchObject({ code: "MIGRATION_REFUSED", sagaName: SAGA, reason: expect.stringContaining("writeVersion") });
    const v2 = await backend.store({ registry: registries.v2 });
    await expect(v2.migrateAll(SAGA)).rejects.toMatchObject({ code: "MIGRATION_REFUSED", reason: expect.stringContaining(`${EXPECTED.atV3} at 3`) });
    const v3 = await backend.store({ registry: registries.v3 });
    await expect(v3.migrateAll(SAGA, { format: "0.2.2", codec: "msgpack" })).rejects.toMatchObject({ code: "MIGRATION_REFUSED" });
    await expect(v3.migrateAll(SAGA, { toSchema: 4 })).rejects.toMatchObject({ code: "MIGRATION_REFUSED" });
    const bare = await backend.store();
    await expect(bare.migrateAll(SAGA)).rejects.toMatchObject({ code: "MIGRATION_REFUSED", reason: expect.stringContaining("not in the registry") });
    expect(await snapshot()).toEqual(before);
  });

  it("deleteCompleted: a dry run deletes nothing; the run deletes the completed sagas saved before the date, value and index", async () => {
    const { store, snapshot } = await planted();
    const before = await snapshot();
    const dry = await store.deleteCompleted(SAGA, { before: PLANTED.later, dryRun: true });
    expect(dry).toMatchObject({ matched: PLANTED.completedEarly.length, deleted: 0, failed: EXPECTED.undecodable });
    expect(await snapshot()).toEqual(before);
    expect(await store.deleteCompletedBefore(SAGA, PLANTED.later)).toBe(PLANTED.completedEarly.length);
    for (const id of PLANTED.completedEarly) {
      expect(await backend.getRaw(valueKeyOf(backend.prefix, SAGA, id))).toBeNull();
      expect(await backend.getRaw(indexKeyOf(backend.prefix, SAGA, `s-${id}`))).toBeNull();
    }
    expect(await store.getByCorrelationId(SAGA, PLANTED.completedLate[0]!)).not.toBeNull();
    expect(await store.countByName(SAGA)).toBe(EXPECTED.count - PLANTED.completedEarly.length);
  });

  it("inspect shows one saga's header, TTL, decoded state and index, by correlation id or saga id", async () => {
    const { store } = await planted();
    const id = PLANTED.v3superjson[0]!;
    const byCorrelation = await store.inspect(SAGA, { correlationId: id });
    expect(byCorrelation).toMatchObject({
      found: true,
      valueKey: valueKeyOf(backend.prefix, SAGA, id),
      form: { format: "envelope", codec: "superjson", compressed: false, header: { schemaVersion: 3, sagaVersion: 1, codecId: 2 } },
      fingerprintMatches: true,
      index: "ok",
      error: undefined,
    });
    expect(byCorrelation.ttlMs).toBeGreaterThan(0);
    expect((byCorrelation.state!.metadata as { createdAt: unknown }).createdAt).toBeInstanceOf(Date);
    expect(byCorrelation.raw!.subarray(0, 2)).toEqual(Buffer.from([0xfe, 0x01]));
    expect({ ...(await store.inspect(SAGA, { sagaId: `s-${id}` })), ttlMs: 0 }).toEqual({ ...byCorrelation, ttlMs: 0 });
    expect(await store.inspect(SAGA, { correlationId: PLANTED.indexMissing })).toMatchObject({ found: true, index: "missing" });
    expect(await store.inspect(SAGA, { correlationId: PLANTED.corruptEnvelope })).toMatchObject({ found: true, error: { code: "DECODE_FAILED" } });
    expect(await store.inspect(SAGA, { correlationId: "no-such-saga" })).toMatchObject({ found: false, ttlMs: -2 });
    expect((await store.inspect(SAGA, { correlationId: PLANTED.legacy[0]! })).form).toMatchObject({ format: "0.2.2", codec: "json" });
  });

  it("stops between batches when its signal is aborted, reporting what it did", async () => {
    const { store } = await planted();
    const stop = new AbortController();
    const phases: string[] = [];
    const run = await store.migrateAll(SAGA, {}, {
      batchSize: 4,
      signal: stop.signal,
      onProgress: (progress) => {
        phases.push(progress.phase);
        if (progress.phase === "working" && progress.done > 0) stop.abort();
      },
    });
    expect(run.stopped).toBe(true);
    expect(run.checked).toBeGreaterThan(0);
    expect(run.checked).toBeLessThan(EXPECTED.count);
    expect(phases[0]).toBe("counting");
    const rest = await store.migrateAll(SAGA);
    expect(run.migrated + rest.migrated).toBe(EXPECTED.belowV3);
  });
});
