import { Redis, type Cluster, type RedisOptions } from "ioredis";
import { RedisEngine, isCluster, type Durability } from "./engines/redis";
import { ClusterRedisEngine } from "./engines/redis-cluster";
import { StandaloneRedisEngine } from "./engines/redis-standalone";
import { InvalidOptionsError } from "./errors";
import { DEFAULT_KEY_PREFIX, assertKeyPrefixCannotNest } from "./keys";
import { publish } from "./telemetry/trace";
import { DEFAULT_OPERATION_TIMEOUT_MS, DEFAULT_START_TIMEOUT_MS, SagaStore, type SagaStoreOptions } from "./store";

/** Where the store's Redis is: a client it is given, or options for one it creates. */
export type RedisConnection =
  | {
      /** Existing client: a `Redis` or a `Cluster`. The store never closes a client it was given. */
      redis: Redis | Cluster;
      connection?: RedisOptions;
    }
  | {
      redis?: undefined;
      /** Connection options for a client the store creates (and closes in close()). */
      connection: RedisOptions;
    };

export type RedisSagaStoreOptions<Types = any> = SagaStoreOptions<Types> &
  RedisConnection & {
    /**
     * Make every write wait until this many replicas have it (Redis WAIT, sent
     * in the same pipeline as the write). Unconfirmed in time: ReplicationTimeoutError.
     */
    durability?: Durability;
    /**
     * Accept a server whose maxmemory-policy evicts keys (default false: the
     * start fails with EvictionPolicyError). An evicted value or index is a
     * saga lost or unfindable, without any error.
     */
    allowEviction?: boolean;
  };

/** process.emitWarning code for a hash-tagged keyPrefix on a Cluster. */
export const HASH_TAG_WARNING = "SAGA_STORE_HASH_TAG_PREFIX";

/** The saga store on Redis (standalone or Cluster). */
export class RedisSagaStore<Types = any> extends SagaStore<Types> {
  constructor(options: RedisSagaStoreOptions<Types>) {
    if (!options?.redis && !options?.connection) {
      throw new InvalidOptionsError("RedisSagaStore needs either `redis` (an ioredis Redis or Cluster) or `connection` (ioredis options)");
    }
    const redis: unknown = options.redis;
    if (redis !== undefined && (redis === null || typeof redis !== "object" || typeof (redis as { on?: unknown }).on !== "function")) {
      throw new InvalidOptionsError(
        typeof redis === "string"
          ? "`redis` must be an ioredis client, not a URL: pass `redis: new Redis(url)`, or `connection` options for a client the store creates"
          : "`redis` must be an ioredis Redis or Cluster client",
      );
    }
    // A hash tag puts every saga in one slot, served by one node. Only warned about: 0.2.2 on a Cluster needed one
    // (its WATCH/MULTI spans two keys), and a fleet upgrading from it must keep its keys.
    if ((redis as Cluster | undefined)?.isCluster === true && /\{[^}]*\}/.test(options.keyPrefix ?? "")) {
      process.emitWarning(
        `keyPrefix ${JSON.stringify(options.keyPrefix)} holds a hash tag: on a Cluster every saga lives in one slot (one node). ` +
          "This store needs none; keep it only for keys that 0.2.2 wrote.",
        { code: HASH_TAG_WARNING },
      );
    }
    // ioredis puts its own keyPrefix in front of every key: the two together are what could nest.
    const clientPrefix = (redis as { options?: { keyPrefix?: unknown } } | undefined)?.options?.keyPrefix ?? options.connection?.keyPrefix;
    if (typeof clientPrefix === "string" && clientPrefix !== "") assertKeyPrefixCannotNest(clientPrefix + (options.keyPrefix ?? DEFAULT_KEY_PREFIX), options.allowNestingKeyPrefix);
    const durability = options.durability;
    if (durability && (!Number.isSafeInteger(durability.replicas) || durability.replicas < 1 || !Number.isSafeInteger(durability.timeoutMs) || durability.timeoutMs < 1)) {
      throw new InvalidOptionsError("durability needs an integer replicas >= 1 and an integer timeoutMs >= 1");
    }
    super(options, (keysPrefix) => {
      const client = options.redis ?? ownClient(options.connection!, options);
      const Engine = isCluster(client) ? ClusterRedisEngine : StandaloneRedisEngine;
      return new Engine(client, !options.redis, { durability, allowEviction: options.allowEviction === true, keysPrefix });
    }, "redis");
  }

  /** The client of the started store (the one it was given, or the one it created), as in 0.2.2; null before the first start and after close(). */
  getRedis(): Redis | Cluster | null {
    const engine = this.engine;
    return engine instanceof RedisEngine ? engine.client : null;
  }
}

/**
 * A client the store creates, with defaults that keep to the store's bounds
 * (the options given win): connecting gives up within the start bound, and
 * commands time out at the operation bound. While disconnected it queues
 * nothing (enableOfflineQueue false): a call fails at once and the store's
 * own retries wait out the reconnection, and a queued command can never
 * outlive close(). Its connection errors reach callers as typed errors on
 * their calls, and the connection-error channel (src/telemetry/channels.ts),
 * never as unhandled events.
 */
function ownClient(connection: RedisOptions, bounds: { startTimeoutMs?: number; operationTimeoutMs?: number }): Redis {
  const startTimeoutMs = bounds.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const operationTimeoutMs = bounds.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;
  const client = new Redis({
    ...(startTimeoutMs > 0 ? { connectTimeout: startTimeoutMs } : {}),
    // ioredis then ends each command in time itself, and the store needs no timer of its own per command.
    ...(operationTimeoutMs > 0 ? { commandTimeout: operationTimeoutMs } : {}),
    enableOfflineQueue: false,
    // ioredis waits this long for a socket that never connected to close before destroying it, holding the process meanwhile.
    disconnectTimeout: 200,
    ...connection,
  });
  client.on("error", (error: unknown) => publish("connection-error", () => ({ error })));
  return client;
}
