import { Redis, type Cluster, type RedisOptions } from "ioredis";
import { RedisBackend } from "./engines/redis";
import { InvalidOptionsError } from "./errors";
import { SagaStore, type SagaStoreOptions } from "./store";

export interface RedisSagaStoreOptions<Types = any> extends SagaStoreOptions<Types> {
  /** Existing client: a `Redis` or a `Cluster`. The store never closes a client it was given. */
  redis?: Redis | Cluster;
  /** Connection options for a client the store creates (and closes in close()). */
  connection?: RedisOptions;
}

/** The saga store on Redis (standalone or Cluster). */
export class RedisSagaStore<Types = any> extends SagaStore<Types> {
  constructor(options: RedisSagaStoreOptions<Types>) {
    if (!options?.redis && !options?.connection) {
      throw new InvalidOptionsError("RedisSagaStore needs either `redis` (an ioredis Redis or Cluster) or `connection` (ioredis options)");
    }
    super(options, () =>
      options.redis ? new RedisBackend(options.redis, false) : new RedisBackend(new Redis(options.connection!), true),
    );
  }
}
