import { Redis, type Cluster, type RedisOptions } from "ioredis";
import { RedisBackend, type Durability } from "./engines/redis";
import { InvalidOptionsError } from "./errors";
import { SagaStore, type SagaStoreOptions } from "./store";

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
  };

/** The saga store on Redis (standalone or Cluster). */
export class RedisSagaStore<Types = any> extends SagaStore<Types> {
  constructor(options: RedisSagaStoreOptions<Types>) {
    if (!options?.redis && !options?.connection) {
      throw new InvalidOptionsError("RedisSagaStore needs either `redis` (an ioredis Redis or Cluster) or `connection` (ioredis options)");
    }
    const durability = options.durability;
    if (durability && (!Number.isSafeInteger(durability.replicas) || durability.replicas < 1 || !Number.isSafeInteger(durability.timeoutMs) || durability.timeoutMs < 1)) {
      throw new InvalidOptionsError("durability needs an integer replicas >= 1 and an integer timeoutMs >= 1");
    }
    super(options, () => (options.redis ? new RedisBackend(options.redis, false, durability) : new RedisBackend(ownClient(options.connection!), true, durability)));
  }

  /** The client of the started store (the one it was given, or the one it created), as in 0.2.2; null before the first start and after close(). */
  getRedis(): Redis | Cluster | null {
    const engine = this.engine;
    return engine instanceof RedisBackend ? engine.client : null;
  }
}

/** A client the store creates: its connection errors reach callers as typed errors on their calls, not as unhandled events. */
function ownClient(connection: RedisOptions): Redis {
  const client = new Redis(connection);
  client.on("error", () => {});
  return client;
}
