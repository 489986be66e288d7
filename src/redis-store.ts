import { Redis, type Cluster, type RedisOptions } from "ioredis";
import { RedisBackend, type Durability } from "./engines/redis";
import { InvalidOptionsError } from "./errors";
import { SagaStore, type SagaStoreOptions } from "./store";

export interface RedisSagaStoreOptions<Types = any> extends SagaStoreOptions<Types> {
  /** Existing client: a `Redis` or a `Cluster`. The store never closes a client it was given. */
  redis?: Redis | Cluster;
  /** Connection options for a client the store creates (and closes in close()). */
  connection?: RedisOptions;
  /**
   * Make every write wait until this many replicas have it (Redis WAIT, sent
   * in the same pipeline as the write). Unconfirmed in time: ReplicationTimeoutError.
   */
  durability?: Durability;
}

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
}

/** A client the store creates: its connection errors reach callers as typed errors on their calls, not as unhandled events. */
function ownClient(connection: RedisOptions): Redis {
  const client = new Redis(connection);
  client.on("error", () => {});
  return client;
}
