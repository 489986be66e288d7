/**
 * Least-privilege users, on servers spawned here (users are created, so never
 * REDIS_URL). The README's ACL ("Least-privilege Redis user") is read from
 * README.md; test/contract.test.ts runs the whole contract suite as that user.
 * Here each command is taken away from it, one at a time:
 *
 * - before the start: initialize() fails with MissingPermissionsError naming
 *   exactly the commands missing, and nothing is written;
 * - after the start (the start's check passed): every call that needs the
 *   command fails and leaves every key byte-identical with the same absolute
 *   expiry (read by an admin connection, PEXPIRETIME), except where the
 *   README says what else happens, and then exactly that.
 *
 * A server that cannot be asked (before Redis 7.0, no redis.acl_check_cmd) is
 * played by the same scripts with the one line that finds acl_check_cmd
 * made to find nothing.
 */
import { createHash } from "node:crypto";
import { Cluster, Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  MissingPermissionsError,
  RedisSagaStore,
  ReplicationTimeoutError,
  WriteOutcomeUnknownError,
  type RedisSagaStoreOptions,
} from "../../src/index";
import { neededCommands } from "../../src/engines/redis-permissions";
import { StandaloneRedisEngine } from "../../src/engines/redis-standalone";
import { LuaScript } from "../../src/lua-script";
import { rejectionOf } from "../support/assertions";
import { indexKeyOf, valueKeyOf } from "../support/key-layout";
import { ACL_USER, leastPrivilegeLogin, readmeAclRules, setAclUser } from "../support/least-privilege";
import { spawnTestCluster, type TestCluster } from "../support/redis-cluster";
import { spawnRedisServer, type TestRedis } from "../support/redis-server";
import { sagaBusState, uniquePrefix } from "../support/stores";

const SAGA = "OrderSaga";
const RULES = readmeAclRules();
/** The README's standalone commands, as ACL rules name them: "+script|load" -> "script|load". */
const STANDALONE = RULES.standalone.filter((rule) => rule.startsWith("+")).map((rule) => rule.slice(1));

let server: TestRedis & { port: number };
let replica: TestRedis & { port: number };
let admin: Redis;
const clients: Array<Redis | Cluster> = [];

beforeAll(async () => {
  server = await spawnRedisServer();
  // Durable writes are confirmed: WAIT is refused only where a test takes it away.
  replica = await spawnRedisServer(["--replicaof", "127.0.0.1", String(server.port)]);
  admin = new Redis(server.url);
  for (;;) {
    const info = await admin.info("replication");
    if (/connected_slaves:1/.test(info) && /state=online/.test(info)) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});
afterAll(async () => {
  await admin.quit();
  await replica.stop();
  await server.stop();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.quit().catch(() => client.disconnect())));
});

/** A store whose client logs in as the test user; the user's rules are set first. */
async function storeAs(rules: readonly string[], options: Partial<RedisSagaStoreOptions> = {}): Promise<{ store: RedisSagaStore; prefix: string }> {
  await setAclUser(admin, rules);
  const redis = new Redis(server.url, leastPrivilegeLogin);
  clients.push(redis);
  const prefix = options.keyPrefix ?? uniquePrefix();
  return { store: new RedisSagaStore({ retryDelayMs: 1, maxRetries: 1, ...options, redis, keyPrefix: prefix } as RedisSagaStoreOptions), prefix };
}

/** Take rules away from (or add them to) the test user as it stands, as an operator would. */
async function changeAcl(...rules: string[]): Promise<void> {
  await admin.call("ACL", "SETUSER", ACL_USER, ...rules);
}

/** Every key under `prefix`: its bytes and its absolute expiry in ms (-1 none), exact however late it is read. */
async function snapshot(prefix: string): Promise<Record<string, { bytes: string; expiresAt: number }>> {
  const keys = (await admin.keys(`${prefix}*`)).sort();
  const entries = await Promise.all(
    keys.map(async (key) => [key, { bytes: (await admin.getBuffer(key))!.toString("hex"), expiresAt: (await admin.call("PEXPIRETIME", key)) as number }] as const),
  );
  return Object.fromEntries(entries);
}

const without = (rules: readonly string[], command: string) => [...rules, `-${command}`];

describe("the README's ACL", () => {
  it("grants exactly the commands the start checks: standalone, with durability, on a Cluster", () => {
    const names = (rules: string[]) => rules.filter((rule) => rule.startsWith("+")).map((rule) => rule.slice(1));
    const needed = (options: { durability: boolean; cluster: boolean }) =>
      neededCommands({ key: "k", sha: "0".repeat(40), clusterReadyCheck: true, ...options }).map(([name]) => name);
    for (const rules of Object.values(RULES)) expect(rules.filter((rule) => !rule.startsWith("+"))).toEqual(["-@all"]);
    expect(names(RULES.standalone)).toEqual(needed({ durability: false, cluster: false }));
    expect(names(RULES.durability)).toEqual(needed({ durability: true, cluster: false }));
    expect(names(RULES.cluster)).toEqual(needed({ durability: false, cluster: true }));
  });

  it("with it a store starts, durable or not, and a durable write is confirmed", async () => {
    const plain = await storeAs(RULES.standalone);
    await plain.store.initialize();
    const durable = await storeAs(RULES.durability, { durability: { replicas: 1, timeoutMs: 2_000 } });
    await durable.store.insert(SAGA, "c-1", sagaBusState("s-1"));
    expect((await durable.store.getById(SAGA, "s-1"))!.metadata.version).toBe(0);
    await plain.store.close();
    await durable.store.close();
  });
});

describe("a command missing at the start", () => {
  it.each(STANDALONE)("-%s: initialize() fails with REDIS_PERMISSION_DENIED naming it, nothing written; a first call fails alike", async (command) => {
    const keysBefore = (await admin.keys("*")).sort();
    const { store, prefix } = await storeAs(without(RULES.standalone, command));
    const error = await rejectionOf<MissingPermissionsError>(store.initialize());
    expect(error).toBeInstanceOf(MissingPermissionsError);
    expect(error).toMatchObject({ code: "REDIS_PERMISSION_DENIED", operation: "initialize", key: `${prefix}saga:`, commands: [command], retryable: false });
    expect(error.message).toContain(`'${command}'`);
    const first = await rejectionOf(store.insert(SAGA, "c-1", sagaBusState("s-1")));
    expect(first).toMatchObject({ code: "REDIS_PERMISSION_DENIED", commands: [command] });
    expect((await admin.keys("*")).sort()).toEqual(keysBefore);
  });

  it("-wait with durability: named; without durability WAIT is not needed and the store starts", async () => {
    const durable = await storeAs(without(RULES.durability, "wait"), { durability: { replicas: 1, timeoutMs: 200 } });
    expect(await rejectionOf(durable.store.initialize())).toMatchObject({ code: "REDIS_PERMISSION_DENIED", commands: ["wait"] });
    expect(await admin.keys(`${durable.prefix}*`)).toEqual([]);
    const plain = await storeAs(without(RULES.durability, "wait"));
    await plain.store.initialize();
    await plain.store.close();
  });

  it("several missing: every one named, in the README's order; once granted, the next call starts the store", async () => {
    const { store } = await storeAs([...RULES.standalone, "-scan", "-pexpire", "-getdel"]);
    expect(await rejectionOf(store.initialize())).toMatchObject({ commands: ["getdel", "pexpire", "scan"] });
    await changeAcl("+scan", "+pexpire", "+getdel");
    await store.insert(SAGA, "c-1", sagaBusState("s-1"));
    expect((await store.getById(SAGA, "s-1"))!.metadata.sagaId).toBe("s-1");
  });

  it("a key pattern that misses the store's prefix: every command that names a key", async () => {
    await setAclUser(admin, RULES.standalone);
    await changeAcl("resetkeys", "~elsewhere:*");
    const redis = new Redis(server.url, leastPrivilegeLogin);
    clients.push(redis);
    const store = new RedisSagaStore({ redis, keyPrefix: uniquePrefix() });
    expect(await rejectionOf(store.initialize())).toMatchObject({
      commands: ["get", "set", "getdel", "del", "getrange", "exists", "pttl", "pexpire", "persist", "eval", "evalsha"],
    });
  });

  it("-eval -evalsha: both named (the check itself is a script: the others cannot be asked about, and the error says so)", async () => {
    const { store } = await storeAs([...RULES.standalone, "-eval", "-evalsha"]);
    const error = await rejectionOf<MissingPermissionsError>(store.initialize());
    expect(error).toMatchObject({ code: "REDIS_PERMISSION_DENIED", commands: ["eval", "evalsha"] });
    expect(error.message).toContain("cannot be checked");
  });
});

describe("the ACL changed after the start", () => {
  const TTL_S = 600;

  /** A started store of the README user with saga s-1 at c-1 (version 1, so both keys exist and have been updated). */
  async function started(options: Partial<RedisSagaStoreOptions> = {}) {
    const opened = await storeAs(options.durability ? RULES.durability : RULES.standalone, options);
    await opened.store.insert(SAGA, "c-1", sagaBusState("s-1", { n: 0 }));
    await opened.store.modify(SAGA, "c-1", (state) => ({ ...state, n: 1 }));
    const loaded = (await opened.store.getById(SAGA, "s-1"))!;
    const valueKey = valueKeyOf(opened.prefix, SAGA, "c-1");
    const indexKey = indexKeyOf(opened.prefix, SAGA, "s-1");
    return { ...opened, loaded, valueKey, indexKey, before: await snapshot(opened.prefix) };
  }

  /** The call fails with MissingPermissionsError (naming `command` when given) and no key under the prefix changed. */
  async function refusedAndUnchanged(prefix: string, before: unknown, call: Promise<unknown>, command?: string) {
    const error = await rejectionOf<MissingPermissionsError>(call);
    expect(error).toBeInstanceOf(MissingPermissionsError);
    expect(error.retryable).toBe(false);
    if (command !== undefined) expect(error.commands).toEqual([command]);
    expect(await snapshot(prefix)).toEqual(before);
  }

  it("-pexpire: an update or modify with a TTL is refused, value and index untouched; an insert (SET PX alone) still works", async () => {
    const { store, prefix, loaded, before } = await started({ defaultTtlSeconds: TTL_S });
    expect(Object.values(before).every(({ expiresAt }) => expiresAt > 0)).toBe(true);
    await changeAcl("-pexpire");
    await refusedAndUnchanged(prefix, before, store.update(SAGA, { ...loaded, n: 2 }, 1), "pexpire");
    await refusedAndUnchanged(prefix, before, store.modify(SAGA, "c-1", (state) => ({ ...state, n: 2 })), "pexpire");
    await refusedAndUnchanged(prefix, before, store.save(SAGA, { ...loaded, n: 2 }), "pexpire");
    await store.insert(SAGA, "c-2", sagaBusState("s-2"));
    expect((await store.getById(SAGA, "s-2"))!.metadata.version).toBe(0);
  });

  it("-persist: an update that removes the TTL is refused, value and index keep their expiry", async () => {
    const { store, prefix, loaded, before } = await started({ defaultTtlSeconds: TTL_S });
    const untimed = new RedisSagaStore({ redis: clients.at(-1) as Redis, keyPrefix: prefix, retryDelayMs: 1 });
    // Started before the change, like the other: the calls below are what is refused, not a start.
    await untimed.initialize();
    await changeAcl("-persist");
    await refusedAndUnchanged(prefix, before, untimed.modify(SAGA, "c-1", (state) => ({ ...state, n: 2 })), "persist");
    await refusedAndUnchanged(prefix, before, untimed.update(SAGA, { ...loaded, n: 2 }, 1), "persist");
    await store.close();
  });

  it("-set: an insert writes neither key; an update changes nothing", async () => {
    const { store, prefix, loaded, before } = await started();
    await changeAcl("-set");
    await refusedAndUnchanged(prefix, before, store.insert(SAGA, "c-2", sagaBusState("s-2")));
    await refusedAndUnchanged(prefix, before, store.update(SAGA, { ...loaded, n: 2 }, 1));
  });

  it("-del: deleteById deletes nothing (value and index go in one DEL); deleteByCorrelationId takes the value and leaves the index, as the README says", async () => {
    const { store, prefix, valueKey, indexKey, before } = await started({ defaultTtlSeconds: TTL_S });
    await changeAcl("-del");
    await refusedAndUnchanged(prefix, before, store.deleteById(SAGA, "s-1"));
    expect(await store.deleteByCorrelationId(SAGA, "c-1")).toBe(true);
    expect(await snapshot(prefix)).toEqual({ [indexKey]: before[indexKey] });
    expect(before[valueKey]).toBeDefined();
    expect(await store.getById(SAGA, "s-1")).toBeNull();
    expect(await store.getByCorrelationId(SAGA, "c-1")).toBeNull();
  });

  it("SET allowed on value keys only (an ACL selector): an insert is refused before its value write, neither key written", async () => {
    const { store, prefix, before } = await started();
    await changeAcl("-set", `(+set ~${prefix}saga:${SAGA}:c-*)`);
    await refusedAndUnchanged(prefix, before, store.insert(SAGA, "c-2", sagaBusState("s-2")), "set");
  });

  it("DEL allowed on value keys only (an ACL selector): deleteById deletes neither key", async () => {
    const { store, prefix, before } = await started();
    await changeAcl("-del", `(+del ~${prefix}saga:${SAGA}:c-*)`);
    await refusedAndUnchanged(prefix, before, store.deleteById(SAGA, "s-1"));
  });

  it("-getdel: deleteByCorrelationId deletes nothing", async () => {
    const { store, prefix, before } = await started();
    await changeAcl("-getdel");
    await refusedAndUnchanged(prefix, before, store.deleteByCorrelationId(SAGA, "c-1"), "getdel");
    await refusedAndUnchanged(prefix, before, store.delete(SAGA, "c-1"), "getdel");
  });

  it("-getrange: every script that reads a stored header (insert, update, deleteById) is refused before writing", async () => {
    const { store, prefix, loaded, before } = await started();
    await changeAcl("-getrange");
    await refusedAndUnchanged(prefix, before, store.insert(SAGA, "c-2", sagaBusState("s-2")));
    await refusedAndUnchanged(prefix, before, store.update(SAGA, { ...loaded, n: 2 }, 1));
    await refusedAndUnchanged(prefix, before, store.deleteById(SAGA, "s-1"));
  });

  it("-exists: asked only when a key reads empty, so an insert is refused before writing; an update of a stored value works", async () => {
    const { store, prefix, loaded, before } = await started();
    await changeAcl("-exists");
    await refusedAndUnchanged(prefix, before, store.insert(SAGA, "c-2", sagaBusState("s-2")));
    await store.update(SAGA, { ...loaded, n: 2 }, 1);
  });

  it("-pttl: an update is refused before writing; a new saga's insert reads no TTL and works", async () => {
    const { store, prefix, loaded, before } = await started();
    await changeAcl("-pttl");
    await refusedAndUnchanged(prefix, before, store.update(SAGA, { ...loaded, n: 2 }, 1));
    await store.insert(SAGA, "c-2", sagaBusState("s-2"));
  });

  it("-get: reads are refused naming it; an insert (which reads the index first) writes nothing", async () => {
    const { store, prefix, before } = await started();
    await changeAcl("-get");
    await refusedAndUnchanged(prefix, before, store.getByCorrelationId(SAGA, "c-1"), "get");
    await refusedAndUnchanged(prefix, before, store.insert(SAGA, "c-2", sagaBusState("s-2")));
  });

  it("-evalsha: every write is refused naming it, nothing changed", async () => {
    const { store, prefix, loaded, before } = await started();
    await changeAcl("-evalsha");
    await refusedAndUnchanged(prefix, before, store.insert(SAGA, "c-2", sagaBusState("s-2")), "evalsha");
    await refusedAndUnchanged(prefix, before, store.update(SAGA, { ...loaded, n: 2 }, 1), "evalsha");
    await refusedAndUnchanged(prefix, before, store.deleteById(SAGA, "s-1"), "evalsha");
  });

  it("-eval: once the script cache is emptied (NOSCRIPT), a write is refused naming it, nothing changed", async () => {
    const { store, prefix, loaded, before } = await started();
    await changeAcl("-eval");
    await admin.script("FLUSH");
    await refusedAndUnchanged(prefix, before, store.update(SAGA, { ...loaded, n: 2 }, 1), "eval");
  });

  it("-scan: scanCorrelationIds is refused naming it", async () => {
    const { store, prefix, before } = await started();
    await changeAcl("-scan");
    const listing = (async () => {
      for await (const id of store.scanCorrelationIds(SAGA)) void id;
    })();
    await refusedAndUnchanged(prefix, before, listing, "scan");
  });

  it("-script|load: needed only by a start; every call of a started store still works", async () => {
    const { store, loaded } = await started();
    await changeAcl("-script|load");
    await store.update(SAGA, { ...loaded, n: 2 }, 1);
    await store.insert(SAGA, "c-2", sagaBusState("s-2"));
    expect(await store.deleteById(SAGA, "s-2")).toBe(true);
    expect(await store.deleteByCorrelationId(SAGA, "c-1")).toBe(true);
  });

  it("-wait with durability: the write is applied and WRITE_NOT_REPLICATED says so, its cause the refusal", async () => {
    const { store, prefix, valueKey, indexKey } = await started({ durability: { replicas: 1, timeoutMs: 2_000 } });
    await changeAcl("-wait");
    const error = await rejectionOf<ReplicationTimeoutError>(store.insert(SAGA, "c-2", sagaBusState("s-2")));
    expect(error).toBeInstanceOf(ReplicationTimeoutError);
    expect(error).toMatchObject({ code: "WRITE_NOT_REPLICATED", replicasAcknowledged: 0 });
    expect((error.cause as Error).message).toMatch(/^NOPERM .*'wait'/);
    const after = await snapshot(prefix);
    expect(Object.keys(after).sort()).toEqual([valueKey, indexKey, valueKeyOf(prefix, SAGA, "c-2"), indexKeyOf(prefix, SAGA, "s-2")].sort());
  });
});

describe("a server that cannot be asked (Redis before 7.0, played by the scripts without acl_check_cmd)", () => {
  // Every engine of this test file shares one table of scripts (src/engines/redis.ts): swapped here, restored after.
  let scripts: Record<string, LuaScript>;
  let originals: Record<string, LuaScript>;
  const blind = (script: LuaScript): LuaScript => {
    const source = script.source.replace("local aclCheck = redis.acl_check_cmd", "local aclCheck = nil");
    expect(source).not.toBe(script.source);
    return Object.assign(Object.create(LuaScript.prototype) as LuaScript, { name: script.name, source, sha: createHash("sha1").update(source).digest("hex") });
  };
  beforeAll(async () => {
    const engine = new StandaloneRedisEngine(admin, false);
    scripts = (engine as unknown as { scripts: Record<string, LuaScript> }).scripts;
    await engine.close();
    originals = { ...scripts };
    scripts.write = blind(originals.write!);
    scripts.checkPermissions = blind(originals.checkPermissions!);
  });
  afterAll(() => Object.assign(scripts, originals));

  it("the start goes on unchecked; an update whose index PEXPIRE is refused after its value write is WRITE_OUTCOME_UNKNOWN, and the value was written", async () => {
    const { store, prefix } = await storeAs(without(RULES.standalone, "pexpire"), { defaultTtlSeconds: 600 });
    await store.initialize();
    await store.insert(SAGA, "c-1", sagaBusState("s-1", { n: 0 }));
    const indexKey = indexKeyOf(prefix, SAGA, "s-1");
    const indexBefore = (await snapshot(prefix))[indexKey];
    const loaded = (await store.getById(SAGA, "s-1"))!;
    const error = await rejectionOf<WriteOutcomeUnknownError>(store.update(SAGA, { ...loaded, n: 1 }, 0));
    expect(error).toBeInstanceOf(WriteOutcomeUnknownError);
    expect(error).toMatchObject({ code: "WRITE_OUTCOME_UNKNOWN", sagaName: SAGA, sagaId: "s-1", key: valueKeyOf(prefix, SAGA, "c-1") });
    expect((error.cause as { cause: Error }).cause.message).toMatch(/^PARTIAL /);
    expect((await store.getById(SAGA, "s-1")) as unknown).toMatchObject({ n: 1, metadata: { version: 1 } });
    expect((await snapshot(prefix))[indexKey]).toEqual(indexBefore);
  });

  it("an update that removes the TTL, its index PERSIST refused after the value write: WRITE_OUTCOME_UNKNOWN, and the value was written", async () => {
    const timed = await storeAs(without(RULES.standalone, "persist"), { defaultTtlSeconds: 600 });
    await timed.store.insert(SAGA, "c-1", sagaBusState("s-1", { n: 0 }));
    const untimed = new RedisSagaStore({ redis: clients.at(-1) as Redis, keyPrefix: timed.prefix, retryDelayMs: 1 });
    const error = await rejectionOf(untimed.modify(SAGA, "c-1", (state) => ({ ...state, n: 1 })));
    expect(error).toMatchObject({ code: "WRITE_OUTCOME_UNKNOWN", sagaId: "s-1" });
    expect((await admin.call("PEXPIRETIME", valueKeyOf(timed.prefix, SAGA, "c-1"))) as number).toBe(-1);
    expect((await admin.call("PEXPIRETIME", indexKeyOf(timed.prefix, SAGA, "s-1"))) as number).toBeGreaterThan(0);
    await untimed.close();
  });
});

describe("on a Cluster (its own 3 + 3 nodes, the README's Cluster user on every node)", () => {
  let cluster: TestCluster;
  let nodes: Redis[];
  beforeAll(async () => {
    cluster = await spawnTestCluster();
    nodes = cluster.nodes.map(({ host, port }) => new Redis({ host, port }));
  });
  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.quit()));
    await cluster.stop();
  });

  const setEverywhere = (rules: readonly string[]) => Promise.all(nodes.map((node) => setAclUser(node, rules)));
  const openCluster = () => {
    const client = new Cluster(cluster.nodes, { redisOptions: leastPrivilegeLogin });
    clients.push(client);
    return client;
  };
  const masters = async () => {
    const roles = await Promise.all(nodes.map(async (node) => ((await node.info("replication")).includes("role:master") ? node : undefined)));
    return roles.filter((node): node is Redis => node !== undefined);
  };

  it("the README's Cluster user starts; a command missing on one primary alone is named, with that node", async () => {
    await setEverywhere(RULES.cluster);
    await new RedisSagaStore({ redis: openCluster(), keyPrefix: uniquePrefix() }).initialize();
    const [lacking] = await masters();
    await setAclUser(lacking!, without(RULES.cluster, "getdel"));
    const prefix = uniquePrefix();
    const error = await rejectionOf<MissingPermissionsError>(new RedisSagaStore({ redis: openCluster(), keyPrefix: prefix }).initialize());
    expect(error).toMatchObject({ code: "REDIS_PERMISSION_DENIED", commands: ["getdel"], key: `${prefix}saga:` });
    expect(error.message).toContain(`127.0.0.1:${lacking!.options.port}: getdel`);
    expect(error.message.match(/: getdel/g)).toHaveLength(1);
  });

  it("-cluster|slots: ioredis cannot load the slot map and the start names it", async () => {
    await setEverywhere(without(RULES.cluster, "cluster|slots"));
    const error = await rejectionOf(new RedisSagaStore({ redis: openCluster(), keyPrefix: uniquePrefix() }).initialize());
    expect(error).toMatchObject({ code: "REDIS_PERMISSION_DENIED", commands: ["cluster|slots"], retryable: false });
  });

  it("-cluster|info on a Cluster client connected before: named (its next reconnect's ready check would never pass)", async () => {
    await setEverywhere(RULES.cluster);
    const client = openCluster();
    await new Promise((resolve) => client.once("ready", resolve));
    await setEverywhere(without(RULES.cluster, "cluster|info"));
    const error = await rejectionOf(new RedisSagaStore({ redis: client, keyPrefix: uniquePrefix() }).initialize());
    expect(error).toMatchObject({ code: "REDIS_PERMISSION_DENIED", commands: ["cluster|info"] });
  });

  it("SET allowed on value keys only (an ACL selector) after the start: an insert's value is taken back when its index claim is refused; nothing remains", async () => {
    await setEverywhere(RULES.cluster);
    const prefix = uniquePrefix();
    const store = new RedisSagaStore({ redis: openCluster(), keyPrefix: prefix, retryDelayMs: 1 });
    await store.insert(SAGA, "c-1", sagaBusState("s-1"));
    await Promise.all(nodes.map((node) => node.call("ACL", "SETUSER", ACL_USER, "-set", `(+set ~${prefix}saga:${SAGA}:c-*)`)));
    expect(await rejectionOf(store.insert(SAGA, "c-2", sagaBusState("s-2")))).toMatchObject({ code: "REDIS_PERMISSION_DENIED" });
    const keys = (await Promise.all((await masters()).map((node) => node.keys(`${prefix}*`)))).flat().sort();
    expect(keys).toEqual([indexKeyOf(prefix, SAGA, "s-1"), valueKeyOf(prefix, SAGA, "c-1")].sort());
  });

  it("DEL allowed on value keys only after the start: deleteById deletes the value and leaves the index (a command of its own on a Cluster), as the README says", async () => {
    await setEverywhere(RULES.cluster);
    const prefix = uniquePrefix();
    const store = new RedisSagaStore({ redis: openCluster(), keyPrefix: prefix, retryDelayMs: 1 });
    await store.insert(SAGA, "c-1", sagaBusState("s-1"));
    await Promise.all(nodes.map((node) => node.call("ACL", "SETUSER", ACL_USER, "-del", `(+del ~${prefix}saga:${SAGA}:c-*)`)));
    expect(await store.deleteById(SAGA, "s-1")).toBe(true);
    const keys = (await Promise.all((await masters()).map((node) => node.keys(`${prefix}*`)))).flat();
    expect(keys).toEqual([indexKeyOf(prefix, SAGA, "s-1")]);
    expect(await store.getById(SAGA, "s-1")).toBeNull();
  });

  it("-set after the start: an insert leaves no key on any node", async () => {
    await setEverywhere(RULES.cluster);
    const prefix = uniquePrefix();
    const store = new RedisSagaStore({ redis: openCluster(), keyPrefix: prefix, retryDelayMs: 1 });
    await store.insert(SAGA, "c-1", sagaBusState("s-1"));
    await Promise.all(nodes.map((node) => node.call("ACL", "SETUSER", ACL_USER, "-set")));
    expect(await rejectionOf(store.insert(SAGA, "c-2", sagaBusState("s-2")))).toBeInstanceOf(MissingPermissionsError);
    const keys = (await Promise.all((await masters()).map((node) => node.keys(`${prefix}*`)))).flat().sort();
    expect(keys).toEqual([indexKeyOf(prefix, SAGA, "s-1"), valueKeyOf(prefix, SAGA, "c-1")].sort());
  });
});
