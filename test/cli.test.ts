/**
 * The saga-store command end to end: run as a child process from source
 * against the suite's throwaway Redis, on data planted through the store
 * (and raw bytes where the store would never write them).
 */
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { RedisSagaStore, type SagaStoreOptions } from "../src/index";
import { CLI_ORDER_V1 } from "./fixtures/cli-registry";
import { OLD_RING } from "./fixtures/cli-encryption";
import { runCli } from "./support/cli";
import { uniquePrefix } from "./support/stores";

const url = inject("redisUrl");
let redis: Redis;
const stores: RedisSagaStore[] = [];

beforeAll(() => {
  redis = new Redis(url);
});
afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()));
  await redis.quit();
});

function storeAt(prefix: string, options: SagaStoreOptions = {}): RedisSagaStore {
  const store = new RedisSagaStore({ ...options, redis, keyPrefix: prefix });
  stores.push(store);
  return store;
}

const AT = new Date("2026-01-02T03:04:05.678Z");
function busState(sagaId: string, fields: Record<string, unknown> = {}, completed = false) {
  return { ...fields, metadata: { sagaId, version: 0, createdAt: AT, updatedAt: AT, isCompleted: completed } };
}

/** Three OrderSaga values (one completed), plus an undecodable one and an orphan id index when asked. */
async function plantOrders(prefix: string, broken: boolean): Promise<void> {
  const store = storeAt(prefix);
  await store.insert("OrderSaga", "o-1", busState("s-1", { status: "new" }));
  await store.insert("OrderSaga", "o-2", busState("s-2", { status: "paid" }));
  await store.insert("OrderSaga", "o-3", busState("s-3", { status: "done" }, true));
  if (!broken) return;
  // An envelope magic and format byte, then too few bytes for a header: no codec can read it.
  await redis.set(`${prefix}saga:OrderSaga:o-bad`, Buffer.from([0xfe, 0x01, 0x09, 0x00, 0xde, 0xad]));
  await redis.set(`${prefix}saga:OrderSaga:idx:id:s-orphan`, "o-missing");
}

const on = (prefix: string) => ["--url", url, "--prefix", prefix];

describe("saga-store with --encryption", () => {
  const ring = ["--encryption", "test/fixtures/cli-encryption.ts"];

  it("stats counts values by key id; migrate --reencrypt rewrites them under the current key; a ring lacking a key reads none", async () => {
    const prefix = uniquePrefix();
    const old = storeAt(prefix, { encryption: OLD_RING });
    for (const id of ["o-1", "o-2"]) await old.insert("OrderSaga", id, busState(`s-${id}`, { card: "4111" }));
    await storeAt(prefix).insert("OrderSaga", "o-plain", busState("s-plain"));

    const before = await runCli(["stats", "OrderSaga", ...on(prefix), ...ring, "--json"]);
    expect(before.code, before.stderr).toBe(0);
    expect(JSON.parse(before.stdout).sagas[0]).toMatchObject({ count: 3, byKeyId: { k1: 2 }, unencrypted: 1, undecodable: 0 });
    const table = await runCli(["stats", "OrderSaga", ...on(prefix), ...ring]);
    expect(table.stdout).toMatch(/ENCRYPTION KEYS\s+UNENCRYPTED/);
    expect(table.stdout).toMatch(/k1: 2\s+1/);

    const inspected = await runCli(["inspect", "OrderSaga", "o-1", ...on(prefix), ...ring]);
    expect(inspected.stdout).toMatch(/^encryption key id\s+k1$/m);
    expect(inspected.stdout).toContain("4111");
    expect((await runCli(["inspect", "OrderSaga", "o-plain", ...on(prefix), ...ring])).stdout).toMatch(/^encryption key id\s+not encrypted$/m);

    const migrated = await runCli(["migrate", "OrderSaga", "--reencrypt", ...on(prefix), ...ring, "--json"]);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(JSON.parse(migrated.stdout)).toMatchObject({ migrated: 3, failed: 0, target: { keyId: "k2" } });
    const after = await runCli(["stats", "OrderSaga", ...on(prefix), ...ring, "--json"]);
    expect(JSON.parse(after.stdout).sagas[0]).toMatchObject({ count: 3, byKeyId: { k2: 3 }, unencrypted: 0 });

    // Without the ring the values are counted by key id all the same, and listed as unreadable.
    const blind = await runCli(["verify", "OrderSaga", ...on(prefix), "--json"]);
    expect(blind.code).toBe(1);
    expect(blind.stdout).toContain("ENCRYPTION_KEY_UNKNOWN");
    expect(JSON.parse((await runCli(["stats", "OrderSaga", ...on(prefix), "--json"])).stdout).sagas[0]).toMatchObject({ byKeyId: { k2: 3 }, undecodable: 3 });
  });

  it("--reencrypt without --encryption is a usage error", async () => {
    const run = await runCli(["migrate", "OrderSaga", "--reencrypt", ...on(uniquePrefix())]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--reencrypt needs --encryption");
  });
});

describe("stats", () => {
  it("shows the exact counts, and exits 1 for an undecodable value", async () => {
    const prefix = uniquePrefix();
    await plantOrders(prefix, true);
    // A second undecodable value (no JSON, no envelope), so no two counts of a row are equal.
    await redis.set(`${prefix}saga:OrderSaga:o-bad-2`, "{not json");
    const human = await runCli(["stats", ...on(prefix)]);
    expect(human.code).toBe(1);
    // SAGA VALUES COMPLETED UNDECODABLE WITH-TTL NO-TTL COMPRESSED ...
    expect(human.stdout).toMatch(/^OrderSaga\s+5\s+1\s+2\s+0\s+5\s+0\s/m);
    expect(human.stdout).toMatch(/^OrderSaga\s+1: 3\s+json: 3, unknown: 2\s+envelope: 3, unknown: 2\s+-\s+3$/m);
    // INDEX WITHOUT VALUE, MISSING, ELSEWHERE
    expect(human.stdout).toMatch(/^OrderSaga\s+1\s+0\s+0$/m);

    const json = await runCli(["stats", ...on(prefix), "--json"]);
    expect(json.code).toBe(1);
    const { sagas, stopped } = JSON.parse(json.stdout);
    expect(stopped).toBe(false);
    expect(sagas).toHaveLength(1);
    expect(sagas[0]).toMatchObject({
      sagaName: "OrderSaga",
      count: 5,
      completed: 1,
      undecodable: 2,
      bySchemaVersion: { "1": 3 },
      byCodec: { json: 3, unknown: 2 },
      byFormat: { envelope: 3, "0.2.2": 0, unknown: 2 },
      index: { withoutValue: 1, missing: 0, elsewhere: 0 },
    });
  });

  it("exits 0 on clean data, over every saga name when none is given", async () => {
    const prefix = uniquePrefix();
    await plantOrders(prefix, false);
    await storeAt(prefix).insert("PaymentSaga", "p-1", busState("ps-1"));
    const run = await runCli(["stats", ...on(prefix), "--json"]);
    expect(run.stderr).not.toMatch(/error/);
    expect(run.code).toBe(0);
    const { sagas } = JSON.parse(run.stdout);
    expect(sagas.map((s: { sagaName: string; count: number }) => [s.sagaName, s.count])).toEqual([
      ["OrderSaga", 3],
      ["PaymentSaga", 1],
    ]);
  });
});

describe("--cluster", () => {
  it("stats and verify over every master of a Redis Cluster, its nodes given as host:port and as a URL", async () => {
    const nodes = inject("redisClusterNodes");
    const cluster = new Cluster(nodes.map(({ host, port }) => ({ host, port })));
    const prefix = uniquePrefix();
    const store = new RedisSagaStore({ redis: cluster, keyPrefix: prefix });
    try {
      // Enough sagas that no single master holds them all.
      for (let i = 0; i < 20; i++) await store.insert("OrderSaga", `o-${i}`, busState(`s-${i}`));
      const list = nodes.map(({ host, port }, i) => (i === 0 ? `redis://${host}:${port}` : `${host}:${port}`)).join(",");
      const stats = await runCli(["stats", "--cluster", list, "--prefix", prefix, "--json"]);
      expect(stats.stderr).not.toMatch(/error/);
      expect(stats.code).toBe(0);
      expect(JSON.parse(stats.stdout).sagas).toMatchObject([{ sagaName: "OrderSaga", count: 20, index: { withoutValue: 0, missing: 0, elsewhere: 0 } }]);
      const verify = await runCli(["verify", "OrderSaga", "--cluster", list, "--prefix", prefix]);
      expect(verify.code).toBe(0);
      expect(verify.stdout).toMatch(/^OrderSaga\s+20\s+0\s+0\s+0$/m);
    } finally {
      await store.close();
      await cluster.quit();
    }
  });
});

describe("inspect", () => {
  it("shows a superjson saga's Date and Map for what they are, and its header", async () => {
    const prefix = uniquePrefix();
    await storeAt(prefix, { codec: "superjson" }).insert("OrderSaga", "o-1", busState("s-1", { placedAt: AT, lines: new Map([["sku-1", 2]]) }));
    const human = await runCli(["inspect", "OrderSaga", "o-1", ...on(prefix)]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^codec\s+superjson$/m);
    expect(human.stdout).toMatch(/^fingerprint matches saga id\s+yes$/m);
    expect(human.stdout).toMatch(/^id index\s+ok/m);
    // util.inspect: a Date unquoted, a Map as Map(n) { k => v }.
    expect(human.stdout).toContain("placedAt: 2026-01-02T03:04:05.678Z");
    expect(human.stdout).toContain("lines: Map(1) { 'sku-1' => 2 }");

    const json = await runCli(["inspect", "OrderSaga", "--id", "s-1", ...on(prefix), "--json"]);
    expect(json.code).toBe(0);
    const document = JSON.parse(json.stdout);
    expect(document).toMatchObject({ found: true, codec: "superjson", correlationId: "o-1", index: "ok", fingerprintMatches: true, header: { schemaVersion: 1 } });
    expect(document.state.placedAt).toEqual({ $date: "2026-01-02T03:04:05.678Z" });
    expect(document.state.lines).toEqual({ $map: [["sku-1", 2]] });
  });

  it("--raw adds a hex dump of the envelope", async () => {
    const prefix = uniquePrefix();
    await storeAt(prefix).insert("OrderSaga", "o-1", busState("s-1"));
    const run = await runCli(["inspect", "OrderSaga", "o-1", "--raw", ...on(prefix)]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^00000000  fe 01 01 00 /m);
    expect(run.stdout).toMatch(/^00000010 {2}(?:[0-9a-f]{2} ){8} (?:[0-9a-f]{2} ){7}[0-9a-f]{2} {2}\|.{16}\|$/m);
  });

  it("exits 1 for a missing or undecodable saga, with the error code", async () => {
    const prefix = uniquePrefix();
    await plantOrders(prefix, true);
    const missing = await runCli(["inspect", "OrderSaga", "nobody", ...on(prefix)]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/^found\s+no$/m);
    const bad = await runCli(["inspect", "OrderSaga", "o-bad", ...on(prefix), "--json"]);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ found: true, error: { code: "DECODE_FAILED" } });
  });
});

describe("verify", () => {
  it("lists the undecodable key and the orphan index; --fix-orphans deletes the index and never a value", async () => {
    const prefix = uniquePrefix();
    await plantOrders(prefix, true);
    const badKey = `${prefix}saga:OrderSaga:o-bad`;
    const orphanKey = `${prefix}saga:OrderSaga:idx:id:s-orphan`;
    const before = await runCli(["verify", ...on(prefix)]);
    expect(before.code).toBe(1);
    expect(before.stdout).toMatch(/^OrderSaga\s+4\s+1\s+1\s+0$/m);
    expect(before.stdout).toMatch(new RegExp(`^OrderSaga\\s+DECODE_FAILED\\s+${escape(badKey)}\\s`, "m"));
    expect(before.stdout).toMatch(new RegExp(`^OrderSaga\\s+ORPHAN_INDEX\\s+${escape(orphanKey)}\\s`, "m"));
    expect(await redis.get(orphanKey)).toBe("o-missing");

    const fixed = await runCli(["verify", "OrderSaga", "--fix-orphans", ...on(prefix), "--json"]);
    // The undecodable value is still there: still a failure.
    expect(fixed.code).toBe(1);
    expect(JSON.parse(fixed.stdout).sagas[0]).toMatchObject({ checked: 4, failed: 1, orphanIndexes: 1, fixedOrphans: 1 });
    expect(await redis.get(orphanKey)).toBeNull();
    expect(await redis.getBuffer(badKey)).toEqual(Buffer.from([0xfe, 0x01, 0x09, 0x00, 0xde, 0xad]));
    expect(await redis.exists(`${prefix}saga:OrderSaga:o-1`, `${prefix}saga:OrderSaga:o-2`, `${prefix}saga:OrderSaga:o-3`)).toBe(3);

    await redis.del(badKey);
    const clean = await runCli(["verify", ...on(prefix)]);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toMatch(/^OrderSaga\s+3\s+0\s+0\s+0$/m);
  });
});

describe("verify with a strict registry", () => {
  it("reports each value of a saga type the registry does not declare as UNKNOWN_SAGA, though the error comes from the registry's own copy of the package", async () => {
    const prefix = uniquePrefix();
    await plantOrders(prefix, false);
    const run = await runCli(["verify", "OrderSaga", "--registry", "test/fixtures/cli-strict-registry.ts", ...on(prefix), "--json"]);
    expect(run.code).toBe(1);
    const [result] = JSON.parse(run.stdout).sagas;
    expect(result).toMatchObject({ checked: 3, failed: 3 });
    expect(result.problems.map((problem: { code: string }) => problem.code)).toEqual(["UNKNOWN_SAGA", "UNKNOWN_SAGA", "UNKNOWN_SAGA"]);
  });
});

describe("migrate", () => {
  it("with a registry module, brings version-1 values to version 2; a second run migrates none; --dry-run writes no byte", async () => {
    const prefix = uniquePrefix();
    const v1 = storeAt(prefix, { registry: CLI_ORDER_V1 });
    for (let i = 0; i < 5; i++) await v1.insert("CliOrder", `c-${i}`, busState(`cs-${i}`, { total: i }));
    const keys = Array.from({ length: 5 }, (_, i) => `${prefix}saga:CliOrder:c-${i}`);
    const registry = ["--registry", "test/fixtures/cli-registry.ts"];
    const stored = async () => Promise.all(keys.map((key) => redis.getBuffer(key)));

    const original = await stored();
    const dry = await runCli(["migrate", "CliOrder", ...registry, "--dry-run", ...on(prefix), "--json"]);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, migrated: 5, found: { total: 5, bySchemaVersion: { "1": 5 } } });
    expect(await stored()).toEqual(original);

    const first = await runCli(["migrate", "CliOrder", ...registry, ...on(prefix)]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^migrated\s+5$/m);
    expect(first.stdout).toMatch(/^target schema version\s+2$/m);
    const stats = JSON.parse((await runCli(["stats", "CliOrder", ...on(prefix), "--json"])).stdout);
    expect(stats.sagas[0].bySchemaVersion).toEqual({ "2": 5 });

    const second = await runCli(["migrate", "CliOrder", ...registry, ...on(prefix), "--json"]);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ migrated: 0, alreadyAtTarget: 5, stopped: false });
  });

  it("a refused migration prints the typed error and exits 1", async () => {
    const prefix = uniquePrefix();
    await plantOrders(prefix, false);
    const run = await runCli(["migrate", "OrderSaga", "--to-schema", "2", ...on(prefix)]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error MIGRATION_REFUSED: /m);
    expect(run.stdout).toBe("");
  });
});

describe("delete-completed", () => {
  it("without --yes deletes nothing; with --yes deletes the completed sagas", async () => {
    const prefix = uniquePrefix();
    await plantOrders(prefix, false);
    const before = new Date(Date.now() + 86_400_000).toISOString();
    const dry = await runCli(["delete-completed", "OrderSaga", "--before", before, ...on(prefix)]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^matched\s+1$/m);
    expect(dry.stdout).toMatch(/^deleted\s+0$/m);
    expect(await redis.exists(`${prefix}saga:OrderSaga:o-3`)).toBe(1);

    const real = await runCli(["delete-completed", "OrderSaga", "--before", before, "--yes", ...on(prefix), "--json"]);
    expect(real.code).toBe(0);
    expect(JSON.parse(real.stdout)).toMatchObject({ dryRun: false, checked: 3, matched: 1, deleted: 1 });
    expect(await redis.get(`${prefix}saga:OrderSaga:o-3`)).toBeNull();
    expect(await redis.get(`${prefix}saga:OrderSaga:idx:id:s-3`)).toBeNull();
    expect(await redis.exists(`${prefix}saga:OrderSaga:o-1`, `${prefix}saga:OrderSaga:o-2`)).toBe(2);
  });
});

describe("usage", () => {
  it.each(["stats", "inspect", "verify", "migrate", "delete-completed"])("%s --help prints its usage and exits 0", async (command) => {
    const run = await runCli([command, "--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^Usage: saga-store ${command}`));
    expect(run.stderr).toBe("");
  });

  it("top-level --help exits 0; no command exits 2", async () => {
    const help = await runCli(["-h"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: saga-store <command>/);
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^Usage: saga-store <command>/);
  });

  it("an unknown option or a missing argument exits 2 with the command's help on stderr", async () => {
    const unknown = await runCli(["stats", "--bogus"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("--bogus");
    expect(unknown.stderr).toContain("Usage: saga-store stats");
    expect(unknown.stdout).toBe("");
    const missing = await runCli(["delete-completed", "OrderSaga"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--before");
    expect(missing.stderr).toContain("Usage: saga-store delete-completed");
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
