import { Cluster, Redis, type ClusterNode, type RedisOptions } from "ioredis";
import { RedisSagaStore } from "../redis-store";
import type { CommonOptions } from "./args";
import { UsageError } from "./args";
import type { CommandName } from "./help";
import { loadEncryption, loadRegistry } from "./load-registry";

export const DEFAULT_URL = "redis://127.0.0.1:6379";

export interface OpenStore {
  store: RedisSagaStore;
  close(): Promise<void>;
}

/**
 * The store a command works on, over a client of the CLI's own (a URL can
 * carry TLS and credentials, which the store's `connection` options cannot
 * take as a URL). `writes`: false lets a read-only command run on a server
 * that evicts keys, where the store refuses to write.
 */
export async function openStore(command: CommandName, common: CommonOptions, writes: boolean): Promise<OpenStore> {
  const registry = common.registry === undefined ? undefined : await loadRegistry(common.registry);
  const encryption = common.encryption === undefined ? undefined : await loadEncryption(common.encryption);
  const client = common.cluster !== undefined ? clusterClient(command, common.cluster) : standaloneClient(common.url ?? process.env.REDIS_URL ?? DEFAULT_URL);
  // ioredis reports connection trouble as events too; the store's calls already turn it into typed errors.
  client.on("error", () => {});
  const store = new RedisSagaStore({ redis: client, keyPrefix: common.prefix, registry, encryption, allowEviction: !writes });
  return {
    store,
    async close() {
      await store.close().catch(() => undefined);
      await client.quit().catch(() => client.disconnect());
    },
  };
}

function standaloneClient(url: string): Redis {
  // No connection retries past the first answer would keep a CLI waiting forever on a wrong URL: the store's start bound ends it.
  return new Redis(url, { lazyConnect: false, connectTimeout: 5_000 });
}

/** `host:port,host:port`, each entry optionally a redis:// or rediss:// URL whose credentials and TLS apply to every node. */
function clusterClient(command: CommandName, list: string): Cluster {
  const nodes: ClusterNode[] = [];
  const redisOptions: RedisOptions = { connectTimeout: 5_000 };
  for (const entry of list.split(",").map((part) => part.trim()).filter(Boolean)) {
    let url: URL;
    try {
      url = new URL(entry.includes("://") ? entry : `redis://${entry}`);
    } catch {
      throw new UsageError(`--cluster entry ${JSON.stringify(entry)} is neither host:port nor a redis:// URL`, command);
    }
    if (url.protocol !== "redis:" && url.protocol !== "rediss:") throw new UsageError(`--cluster entry ${JSON.stringify(entry)}: only redis:// and rediss:// URLs`, command);
    nodes.push({ host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port || 6379) });
    if (url.username) redisOptions.username = decodeURIComponent(url.username);
    if (url.password) redisOptions.password = decodeURIComponent(url.password);
    if (url.protocol === "rediss:") redisOptions.tls = {};
  }
  if (nodes.length === 0) throw new UsageError("--cluster needs at least one host:port", command);
  return new Cluster(nodes, { redisOptions, lazyConnect: true });
}
