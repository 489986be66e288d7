import type { DeleteRequest, DeleteStatus, InsertRequest, WriteRequest, WriteResult } from "../engine";
import { RedisEngine } from "./redis";

/**
 * A standalone server (or one primary with replicas): value and index share
 * the node, so each write, index included, is one atomic script.
 */
export class StandaloneRedisEngine extends RedisEngine {
  insert({ valueKey, envelope, ttlMs, indexKey, correlationId, valueKeyPrefix }: InsertRequest): Promise<WriteResult> {
    return this.runWrite([valueKey, indexKey], [envelope, ttlMs, "insert", correlationId, valueKeyPrefix]);
  }

  update({ valueKey, envelope, ttlMs, indexKey, correlationId }: WriteRequest): Promise<WriteResult> {
    return this.runWrite([valueKey, indexKey], [envelope, ttlMs, "update", correlationId]);
  }

  async deleteOwned({ valueKey, fingerprint, indexKey, correlationId }: DeleteRequest): Promise<DeleteStatus> {
    return (await this.runScript(this.scripts.deleteOwned, [valueKey, indexKey], [fingerprint, correlationId])) as DeleteStatus;
  }
}
