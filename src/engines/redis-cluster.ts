import { DeleteStatus, WriteStatus, type DeleteRequest, type InsertRequest, type OrphanIndexRequest, type ReplaceRequest, type WriteRequest, type WriteResult } from "../engine";
import { escapeCorrelationId } from "../../codecs/correlation-id-escape";
import { OFFSET } from "../../codecs/envelope";
import { identityOf, mayHoldSaga } from "../../codecs/stored-identity";
import { DecodeError, RedisUnavailableError, ReplicationTimeoutError, SagaAlreadyExistsError, WriteOutcomeUnknownError } from "../errors";
import { RedisEngine, toWriteResult, type Argument } from "./redis";

/** write.lua's reply in "update-keeping-expiry" mode when the index must lose its expiry first. */
const INDEX_FIRST = -7;
/** extend-index.lua's reply when the index lives longer than the value will. */
const INDEX_OUTLIVES = 2;
/**
 * What an extended index is given beyond its value's TTL: the value is
 * written after the index, a round trip later (longer when a command waits
 * in a client's queue), and must not outlive its index.
 */
const INDEX_EXPIRY_MARGIN_MS = 10_000;

function isWritten(result: WriteResult): boolean {
  return result.status === WriteStatus.Written || result.status === WriteStatus.AlreadyWritten;
}

/**
 * The result of a write whose steps have all run, or the ReplicationTimeoutError
 * of a step too few replicas confirmed: of the value write itself, or of an
 * index step when the value was written (the saga is then applied on the
 * primary, and a failover may lose part of it).
 */
function confirmed(value: { result: WriteResult; unconfirmed?: ReplicationTimeoutError }, indexUnconfirmed?: ReplicationTimeoutError): WriteResult {
  const unconfirmed = value.unconfirmed ?? (isWritten(value.result) ? indexUnconfirmed : undefined);
  if (unconfirmed) throw unconfirmed;
  return value.result;
}

/** Stale index holders an insert replaces before it gives up (each a saga deleted, or an id reused, meanwhile). */
const MAX_STALE_HOLDERS = 3;

/**
 * A Redis Cluster: a saga's value and its index hash to different slots, so
 * every command touches one key and the engine keeps the two in step itself.
 * An insert writes the value, then claims the index, and takes the value
 * back when the claim fails; an update lengthens the index's life before it
 * writes the value (see update). Between the steps of an insert another
 * client can see the value without its index (findById misses it for that
 * moment), never an index leading to a value that is not the saga's, and an
 * index never expires before its value.
 */
export class ClusterRedisEngine extends RedisEngine {
  async insert(request: InsertRequest): Promise<WriteResult> {
    const { valueKey, envelope, ttlMs } = request;
    const value = await this.writeValue([envelope, ttlMs, "insert"], valueKey);
    if (!isWritten(value.result)) return confirmed(value);
    let claim: { holder?: { status: WriteStatus; correlationId: string }; unconfirmed?: ReplicationTimeoutError };
    try {
      claim = await this.claimIndex(request);
    } catch (error) {
      await this.retract(request, error);
      throw error;
    }
    const { holder } = claim;
    if (holder === undefined) return confirmed(value, claim.unconfirmed);
    const blocking =
      holder.status === WriteStatus.Unreadable
        ? new DecodeError(request.valueKeyPrefix + escapeCorrelationId(holder.correlationId), "unreadable value behind the saga id's index; not inserted")
        : new SagaAlreadyExistsError(request.sagaName, request.correlationId, request.sagaId, holder.correlationId);
    await this.retract(request, blocking);
    return { status: holder.status, storedVersion: 0, storedSchemaVersion: 0, previousTtlMs: -2, existingCorrelationId: holder.correlationId };
  }

  /**
   * The index must never expire before its value, and the two live on
   * different nodes: whatever could lengthen the value's life is done to the
   * index first (extend-index.lua), so a failure there leaves the value
   * untouched and is reported as what it is. Shortening the index to the
   * value's expiry comes after the write and may fail: the index then
   * outlives its value, which is harmless (a read checks the value an index
   * leads to) until it expires.
   */
  async update(request: WriteRequest): Promise<WriteResult> {
    const { valueKey, envelope, ttlMs, indexKey, correlationId } = request;
    if (ttlMs === 0) {
      // Most updates of a saga without expiry need no index step; the write says when one is needed.
      const first = await this.writeValue([envelope, 0, "update-keeping-expiry"], valueKey);
      if ((first.result.status as number) !== INDEX_FIRST) return confirmed(first);
      const extended = await this.extendIndex(indexKey, correlationId, 0);
      return confirmed(await this.writeValue([envelope, 0, "update"], valueKey), extended.unconfirmed);
    }
    const extended = await this.extendIndex(indexKey, correlationId, ttlMs);
    const value = await this.writeValue([envelope, ttlMs, "update"], valueKey);
    if (isWritten(value.result) && extended.reply === INDEX_OUTLIVES) {
      await this.runScript(this.scripts.trimIndex, [indexKey], [correlationId, ttlMs]).catch(() => undefined);
    }
    return confirmed(value, extended.unconfirmed);
  }

  /** write.lua on the value key alone; with durability, its result even when replicas did not confirm it. */
  private async writeValue(args: Argument[], valueKey: string): Promise<{ result: WriteResult; unconfirmed?: ReplicationTimeoutError }> {
    const { reply, unconfirmed } = await this.runScriptUnconfirmed(this.scripts.write, [valueKey], args);
    return { result: toWriteResult(reply), unconfirmed };
  }

  /** extend-index.lua; whatever it did, the value was not written, which is what a failure says. */
  private extendIndex(indexKey: string, correlationId: string, ttlMs: number): Promise<{ reply: unknown; unconfirmed?: ReplicationTimeoutError }> {
    const args = [correlationId, ttlMs, ttlMs === 0 ? 0 : ttlMs + INDEX_EXPIRY_MARGIN_MS];
    return this.runScriptUnconfirmed(this.scripts.extendIndex, [indexKey], args).catch((error: unknown) => {
      if (error instanceof RedisUnavailableError && error.mayHaveBeenApplied) {
        throw new RedisUnavailableError(error.operation, error.key, false, { cause: error.cause });
      }
      throw error;
    });
  }

  async deleteOwned({ valueKey, fingerprint, indexKey, correlationId }: DeleteRequest): Promise<DeleteStatus> {
    const status = (await this.runScript(this.scripts.deleteOwned, [valueKey], [fingerprint])) as DeleteStatus;
    if (status !== DeleteStatus.Unreadable) await this.dropIndex(indexKey, correlationId);
    return status;
  }

  /** One call per value (each in its own slot), all at once; a deleted value's index is dropped after it, on its own node. */
  replaceValues(requests: readonly ReplaceRequest[]): Promise<boolean[]> {
    return Promise.all(
      requests.map(async (request) => {
        const { keys, args } = this.replaceArguments([request], false);
        const [reply] = (await this.runScript(this.scripts.replaceValues, keys, args)) as [number];
        if (reply === 1 && !request.replacement && request.indexKey) await this.dropIndex(request.indexKey, request.correlationId);
        return reply === 1;
      }),
    );
  }

  /**
   * Index and value live on different nodes, so no one script can judge both:
   * the value is read, the index dropped while it still points there, and the
   * value read again. An insert of the saga that landed in between (value
   * first, then its claim on the index) gets its index back.
   */
  async dropOrphanIndex({ indexKey, correlationId, valueKey, fingerprint }: OrphanIndexRequest): Promise<boolean> {
    const leadsToSaga = async () => mayHoldSaga(await this.getValue(valueKey), fingerprint);
    if (await leadsToSaga()) return false;
    if ((await this.runScript(this.scripts.deleteIndex, [indexKey], [correlationId])) !== 1) return false;
    if (!(await leadsToSaga())) return true;
    const ttlMs = await this.client.pttl(valueKey).catch(() => -1);
    await this.runScript(this.scripts.claimIndex, [indexKey], [correlationId, ttlMs > 0 ? ttlMs + INDEX_EXPIRY_MARGIN_MS : 0, ""]);
    return false;
  }

  /**
   * Point the index at the new saga. An index naming another correlation id
   * blocks while the value there carries this saga's fingerprint
   * (DuplicateId) or cannot be vouched for (Unreadable), as in write.lua; a
   * stale one is replaced, compared-and-set so a rival insert's claim is
   * never overwritten. Returns what blocks the insert, else undefined.
   */
  private async claimIndex({ indexKey, correlationId, ttlMs, valueKeyPrefix, envelope }: InsertRequest): Promise<{
    holder?: { status: WriteStatus; correlationId: string };
    unconfirmed?: ReplicationTimeoutError;
  }> {
    const fingerprint = envelope.subarray(OFFSET.fingerprint, OFFSET.fingerprint + 8);
    let stale = "";
    for (let replaced = 0; ; replaced++) {
      const { reply, unconfirmed } = await this.runScriptUnconfirmed(this.scripts.claimIndex, [indexKey], [correlationId, ttlMs, stale]);
      const holder = reply as string | null;
      if (holder === null) return { unconfirmed };
      const value = await this.getValue(valueKeyPrefix + escapeCorrelationId(holder));
      const owner = value && identityOf(value);
      if (value && !owner) return { holder: { status: WriteStatus.Unreadable, correlationId: holder } };
      if ((owner && owner.fingerprint.equals(fingerprint)) || replaced >= MAX_STALE_HOLDERS) return { holder: { status: WriteStatus.DuplicateId, correlationId: holder } };
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
