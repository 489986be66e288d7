import type { DeleteRequest, DeleteStatus, InsertRequest, OrphanIndexRequest, ReplaceRequest, WriteRequest, WriteResult } from "../engine";
import { RedisEngine } from "./redis";

/**
 * A standalone server (or one primary with replicas): value and index share
 * the node, so each write, index included, is one atomic script.
 */
export class StandaloneRedisEngine extends RedisEngine {
  insert(request: InsertRequest): Promise<WriteResult> {
    const { valueKey, envelope, ttlMs, indexKey, correlationId, valueKeyPrefix } = request;
    return this.runWrite([valueKey, indexKey], [envelope, ttlMs, "insert", correlationId, valueKeyPrefix], request);
  }

  update(request: WriteRequest): Promise<WriteResult> {
    const { valueKey, envelope, ttlMs, indexKey, correlationId } = request;
    return this.runWrite([valueKey, indexKey], [envelope, ttlMs, "update", correlationId], request);
  }

  async deleteOwned({ valueKey, fingerprint, indexKey, correlationId }: DeleteRequest): Promise<DeleteStatus> {
    return (await this.runScript(this.scripts.deleteOwned, [valueKey, indexKey], [fingerprint, correlationId])) as DeleteStatus;
  }

  async replaceValues(requests: readonly ReplaceRequest[]): Promise<boolean[]> {
    if (requests.length === 0) return [];
    const { keys, args } = this.replaceArguments(requests, true);
    return ((await this.runScript(this.scripts.replaceValues, keys, args)) as number[]).map((reply) => reply === 1);
  }

  async dropOrphanIndex({ indexKey, correlationId, valueKey, fingerprint }: OrphanIndexRequest): Promise<boolean> {
    return (await this.runScript(this.scripts.dropOrphanIndex, [indexKey, valueKey], [correlationId, fingerprint])) === 1;
  }
}
