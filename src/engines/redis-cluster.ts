import { DeleteStatus, WriteStatus, type DeleteRequest, type InsertRequest, type WriteRequest, type WriteResult } from "../engine";
import { escapeCorrelationId } from "../../codecs/correlation-id-escape";
import { OFFSET } from "../../codecs/envelope";
import { identityOf } from "../../codecs/stored-identity";
import { DecodeError, RedisUnavailableError, SagaAlreadyExistsError, WriteOutcomeUnknownError } from "../errors";
import { RedisEngine } from "./redis";

/** Stale index holders an insert replaces before it gives up (each a saga deleted, or an id reused, meanwhile). */
const MAX_STALE_HOLDERS = 3;

/**
 * A Redis Cluster: a saga's value and its index hash to different slots, so
 * every command touches one key and the engine keeps the two in step itself.
 * An insert writes the value, then claims the index, and takes the value
 * back when the claim fails; an update refreshes the index's expiry after
 * the value is written. Between the two steps another client can see the
 * value without its index (findById misses it for that moment), never an
 * index leading to a value that is not the saga's.
 */
export class ClusterRedisEngine extends RedisEngine {
  async insert(request: InsertRequest): Promise<WriteResult> {
    const { valueKey, envelope, ttlMs } = request;
    const result = await this.runWrite([valueKey], [envelope, ttlMs, "insert"]);
    if (result.status !== WriteStatus.Written && result.status !== WriteStatus.AlreadyWritten) return result;
    let holder: { status: WriteStatus; correlationId: string } | undefined;
    try {
      holder = await this.claimIndex(request);
    } catch (error) {
      await this.retract(request, error);
      throw error;
    }
    if (holder === undefined) return result;
    const blocking =
      holder.status === WriteStatus.Unreadable
        ? new DecodeError(request.valueKeyPrefix + escapeCorrelationId(holder.correlationId), "unreadable value behind the saga id's index; not inserted")
        : new SagaAlreadyExistsError(request.sagaName, request.correlationId, request.sagaId, holder.correlationId);
    await this.retract(request, blocking);
    return { status: holder.status, storedVersion: 0, storedSchemaVersion: 0, previousTtlMs: -2, existingCorrelationId: holder.correlationId };
  }

  async update(request: WriteRequest): Promise<WriteResult> {
    const { valueKey, envelope, ttlMs, indexKey, correlationId } = request;
    const result = await this.runWrite([valueKey], [envelope, ttlMs, "update"]);
    const written = result.status === WriteStatus.Written || result.status === WriteStatus.AlreadyWritten;
    // As write.lua does on one node: only when an expiry is involved, the value's new one or one it just lost.
    if (written && (ttlMs > 0 || result.previousTtlMs > 0)) {
      await this.runScript(this.scripts.refreshIndex, [indexKey], [correlationId, ttlMs]).catch((error: unknown) => {
        // A transient failure is the store's to retry: the value write recognises its own token, then this runs again.
        // Any other is not reported: the value is written, which is what the caller asked, and the next write refreshes the index.
        if (error instanceof RedisUnavailableError) throw error;
      });
    }
    return result;
  }

  async deleteOwned({ valueKey, fingerprint, indexKey, correlationId }: DeleteRequest): Promise<DeleteStatus> {
    const status = (await this.runScript(this.scripts.deleteOwned, [valueKey], [fingerprint])) as DeleteStatus;
    if (status !== DeleteStatus.Unreadable) await this.dropIndex(indexKey, correlationId);
    return status;
  }

  /**
   * Point the index at the new saga. An index naming another correlation id
   * blocks while the value there carries this saga's fingerprint
   * (DuplicateId) or cannot be vouched for (Unreadable), as in write.lua; a
   * stale one is replaced, compared-and-set so a rival insert's claim is
   * never overwritten. Returns what blocks the insert, else undefined.
   */
  private async claimIndex({ indexKey, correlationId, ttlMs, valueKeyPrefix, envelope }: InsertRequest): Promise<{ status: WriteStatus; correlationId: string } | undefined> {
    const fingerprint = envelope.subarray(OFFSET.fingerprint, OFFSET.fingerprint + 8);
    let stale = "";
    for (let replaced = 0; ; replaced++) {
      const holder = (await this.runScript(this.scripts.claimIndex, [indexKey], [correlationId, ttlMs, stale])) as string | null;
      if (holder === null) return undefined;
      const value = await this.getValue(valueKeyPrefix + escapeCorrelationId(holder));
      const owner = value && identityOf(value);
      if (value && !owner) return { status: WriteStatus.Unreadable, correlationId: holder };
      if ((owner && owner.fingerprint.equals(fingerprint)) || replaced >= MAX_STALE_HOLDERS) return { status: WriteStatus.DuplicateId, correlationId: holder };
      stale = holder;
    }
  }

  /**
   * Take back an insert's value after its index claim failed (`why`), so the
   * reported failure leaves nothing behind. WriteOutcomeUnknownError when it
   * could not be taken back, or was updated meanwhile by someone who loaded it.
   */
  private async retract({ valueKey, envelope, sagaName, sagaId }: InsertRequest, why: unknown): Promise<void> {
    let retracted: boolean;
    try {
      retracted = (await this.runScript(this.scripts.retract, [valueKey], [envelope.subarray(OFFSET.token, OFFSET.token + 8)])) === 1;
    } catch (error) {
      throw new WriteOutcomeUnknownError(sagaName, sagaId, valueKey, { cause: error });
    }
    if (!retracted) throw new WriteOutcomeUnknownError(sagaName, sagaId, valueKey, { cause: why });
  }
}
