/**
 * Stores whose Redis user has exactly the ACL the README gives (section
 * "Least-privilege Redis user"), read from README.md itself so the two
 * cannot drift: its `ACL SETUSER` lines with the user, password and key
 * pattern replaced by the test's own, every command rule as written.
 *
 * Creating users needs a server of one's own: these spawn theirs (never
 * REDIS_URL or REDIS_CLUSTER_NODES), and each store's client connects as the
 * least-privilege user while the test side keeps an admin client (the
 * default user) to plant and read raw keys.
 */
import { readFileSync } from "node:fs";
import { Cluster, Redis } from "ioredis";
import { RedisSagaStore } from "../../src/index";
import { spawnTestCluster, type TestCluster } from "./redis-cluster";
import { spawnRedisServer, type TestRedis } from "./redis-server";
import { uniquePrefix, type StoreHarness } from "./stores";

export const ACL_USER = "saga-store";
export const ACL_PASSWORD = "least-privilege";
/** Every test prefix (uniquePrefix) starts with this. */
const TEST_KEY_PATTERN = "~t-*";

export type AclDeployment = "standalone" | "durability" | "cluster";

/** The README's command rules (`-@all`, `+get`, ...) for each deployment, as `ACL SETUSER` arguments. */
export function readmeAclRules(): Record<AclDeployment, string[]> {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const start = readme.indexOf("### Least-privilege Redis user");
  if (start < 0) throw new Error('README.md has no "### Least-privilege Redis user" section');
  const section = readme.slice(start, readme.indexOf("\n#", start + 4));
  const lines = [...section.matchAll(/^ACL SETUSER .+$/gm)].map((match) => splitArgs(match[0]));
  if (lines.length !== 3) throw new Error(`expected 3 ACL SETUSER lines in the README section, found ${lines.length}`);
  const rules = lines.map((words) => {
    const [acl, setuser, user, reset, on, password, keys, ...commands] = words;
    if (acl !== "ACL" || setuser !== "SETUSER" || user !== "saga-store" || reset !== "reset" || on !== "on" || !password?.startsWith(">") || !keys?.startsWith("~")) {
      throw new Error(`README ACL line not of the expected form: ${words.join(" ")}`);
    }
    return commands;
  });
  const pick = (test: (rules: string[]) => boolean) => rules.find(test)!;
  return {
    standalone: pick((r) => !r.includes("+wait") && !r.includes("+cluster|slots")),
    durability: pick((r) => r.includes("+wait")),
    cluster: pick((r) => r.includes("+cluster|slots")),
  };
}

/** redis-cli's splitting: words apart by spaces, a "quoted" word taken whole. */
function splitArgs(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((match) => match[1] ?? match[2]!);
}

/** ACL SETUSER for the test user with `rules`, keys under every test prefix. */
export async function setAclUser(admin: Redis, rules: readonly string[]): Promise<void> {
  await admin.call("ACL", "SETUSER", ACL_USER, "reset", "on", `>${ACL_PASSWORD}`, TEST_KEY_PATTERN, ...rules);
}

/** The client options of a least-privilege connection; INFO is not granted, so no ready check (README). */
export const leastPrivilegeLogin = { username: ACL_USER, password: ACL_PASSWORD, enableReadyCheck: false } as const;

/** A standalone server of its own, spawned on the first open, the store's client logged in as the README's user. */
export function leastPrivilegeRedisEngine(): StoreHarness & { server(): Promise<TestRedis & { port: number }> } {
  let started: Promise<{ server: TestRedis & { port: number }; admin: Redis }> | undefined;
  const clients: Redis[] = [];
  const start = () =>
    (started ??= (async () => {
      const server = await spawnRedisServer();
      const admin = new Redis(server.url);
      await setAclUser(admin, readmeAclRules().standalone);
      return { server, admin };
    })());
  return {
    name: "redis (README's least-privilege user)",
    async server() {
      return (await start()).server;
    },
    async open(options = {}) {
      const { server, admin } = await start();
      const redis = new Redis(server.url, leastPrivilegeLogin);
      clients.push(redis);
      const prefix = options.keyPrefix ?? uniquePrefix();
      const store = new RedisSagaStore({ ...options, redis, keyPrefix: prefix });
      await store.initialize();
      return { store, prefix, redis: admin };
    },
    async closeAll() {
      await Promise.all(clients.splice(0).map((client) => client.quit()));
      if (!started) return;
      const { server, admin } = await started;
      started = undefined;
      await admin.quit();
      await server.stop();
    },
  };
}

/** A 3 + 3 Cluster of its own, the README's Cluster user set on every node, masters and replicas. */
export function leastPrivilegeClusterEngine(): StoreHarness & { cluster(): Promise<TestCluster> } {
  let started: Promise<{ cluster: TestCluster; admin: Cluster }> | undefined;
  const clients: Cluster[] = [];
  const start = () =>
    (started ??= (async () => {
      const cluster = await spawnTestCluster();
      await Promise.all(
        cluster.nodes.map(async ({ host, port }) => {
          const node = new Redis({ host, port });
          try {
            await setAclUser(node, readmeAclRules().cluster);
          } finally {
            await node.quit();
          }
        }),
      );
      return { cluster, admin: new Cluster(cluster.nodes) };
    })());
  return {
    name: "cluster (README's least-privilege user)",
    async cluster() {
      return (await start()).cluster;
    },
    async open(options = {}) {
      const { cluster: spawned, admin } = await start();
      const cluster = new Cluster(spawned.nodes, { redisOptions: leastPrivilegeLogin });
      clients.push(cluster);
      const prefix = options.keyPrefix ?? uniquePrefix();
      const store = new RedisSagaStore({ ...options, redis: cluster, keyPrefix: prefix });
      await store.initialize();
      return { store, prefix, cluster: admin };
    },
    async closeAll() {
      await Promise.all(clients.splice(0).map((client) => client.quit().catch(() => client.disconnect())));
      if (!started) return;
      const { cluster, admin } = await started;
      started = undefined;
      await admin.quit().catch(() => admin.disconnect());
      await cluster.stop();
    },
  };
}
