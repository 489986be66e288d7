/**
 * The store a user would write in an afternoon, without concurrency control:
 * the state as JSON under its correlation id, and a second key mapping the
 * saga id to that correlation id. No envelope, no version check, no atomicity
 * between the two keys: the floor of what a JSON store on Redis can cost.
 */
import type { Cluster, Redis } from "ioredis";
import type { Contender, ContenderState } from "./contender";

export class HandWrittenJsonStore implements Contender {
  readonly name = "hand-written";

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly keyPrefix: string,
  ) {}

  insert(sagaName: string, correlationId: string, state: ContenderState): Promise<void> {
    return this.write(sagaName, correlationId, state);
  }

  /** Overwrites whatever is there: the expected version is not checked. */
  update(sagaName: string, correlationId: string, state: ContenderState, _expectedVersion: number): Promise<void> {
    return this.write(sagaName, correlationId, state);
  }

  async findByCorrelationId(sagaName: string, correlationId: string): Promise<ContenderState | null> {
    const text = await this.redis.get(this.valueKey(sagaName, correlationId));
    return text === null ? null : revive(JSON.parse(text) as ContenderState);
  }

  async findById(sagaName: string, sagaId: string): Promise<ContenderState | null> {
    const correlationId = await this.redis.get(this.idKey(sagaName, sagaId));
    return correlationId === null ? null : this.findByCorrelationId(sagaName, correlationId);
  }

  async close(): Promise<void> {}

  private async write(sagaName: string, correlationId: string, state: ContenderState): Promise<void> {
    const text = JSON.stringify(state);
    // Both SETs leave before either reply comes back: one round trip, as a
    // user who knows ioredis would write it (no MULTI, so nothing atomic).
    await Promise.all([this.redis.set(this.valueKey(sagaName, correlationId), text), this.redis.set(this.idKey(sagaName, state.metadata.sagaId), correlationId)]);
  }

  private valueKey(sagaName: string, correlationId: string): string {
    return `${this.keyPrefix}${sagaName}:${correlationId}`;
  }

  private idKey(sagaName: string, sagaId: string): string {
    return `${this.keyPrefix}${sagaName}:id:${sagaId}`;
  }
}

/** JSON.stringify turned the two Dates into ISO strings; saga-bus expects Dates back. */
function revive(state: ContenderState): ContenderState {
  const metadata = state.metadata as { createdAt: Date | string; updatedAt: Date | string };
  metadata.createdAt = new Date(metadata.createdAt);
  metadata.updatedAt = new Date(metadata.updatedAt);
  return state;
}
