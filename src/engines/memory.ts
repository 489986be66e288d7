import { DeleteStatus, WriteStatus, type DeleteRequest, type InsertRequest, type OrphanIndexRequest, type ReplaceRequest, type SagaEngine, type StoredEntry, type TakeRequest, type WriteRequest, type WriteResult } from "../engine";
import { escapeCorrelationId } from "../../codecs/correlation-id-escape";
import { holdsWrite, identityOf, mayHoldSaga } from "../../codecs/stored-identity";
import { OFFSET, isPlainRequest, storedBytesOf } from "../../codecs/envelope";

interface Entry {
  bytes: Buffer;
  /** Epoch milliseconds; 0 = no expiry. */
  expiresAt: number;
}

/**
 * The embedded engine: the same bytes and the same rules as the Redis
 * scripts (src/lua/write.lua, delete-owned.lua), kept in a Map. Expired
 * entries vanish on access.
 */
export class MemoryEngine implements SagaEngine {
  readonly connectionEpoch = 0;
  readonly commandTimeoutMs = 0;
  private readonly entries = new Map<string, Entry>();

  async initialize(): Promise<void> {}

  async close(): Promise<void> {
    this.entries.clear();
  }

  async getValue(key: string): Promise<Buffer | null> {
    const entry = this.live(key);
    return entry ? Buffer.from(entry.bytes) : null;
  }

  async getIndex(key: string): Promise<string | null> {
    return this.live(key)?.bytes.toString("utf8") ?? null;
  }

  async insert(request: InsertRequest): Promise<WriteResult> {
    const { valueKey, envelope, indexKey, correlationId, ttlMs } = request;
    if (!this.live(valueKey)) {
      const refusal = this.liveElsewhere(request);
      if (refusal) return { ...result(refusal.status, 0, 0, -2), existingCorrelationId: refusal.correlationId };
    }
    const outcome = this.compareAndSet(request, true);
    if (written(outcome)) this.set(indexKey, Buffer.from(correlationId, "utf8"), ttlMs);
    return outcome;
  }

  async update(request: WriteRequest): Promise<WriteResult> {
    const outcome = this.compareAndSet(request, false);
    const index = this.live(request.indexKey);
    // As write.lua: only when an expiry is involved, the value's new one or one it just lost.
    const expiryInvolved = request.ttlMs > 0 || outcome.previousTtlMs > 0;
    if (written(outcome) && expiryInvolved && index?.bytes.toString("utf8") === request.correlationId) {
      index.expiresAt = request.ttlMs > 0 ? Date.now() + request.ttlMs : 0;
    }
    return outcome;
  }

  async deleteOwned({ valueKey, fingerprint, indexKey, correlationId }: DeleteRequest): Promise<DeleteStatus> {
    const entry = this.live(valueKey);
    let status: DeleteStatus = DeleteStatus.Missing;
    if (entry) {
      const stored = identityOf(entry.bytes);
      if (!stored) return DeleteStatus.Unreadable;
      status = DeleteStatus.OtherSaga;
      if (stored.fingerprint.equals(fingerprint)) {
        this.entries.delete(valueKey);
        status = DeleteStatus.Deleted;
      }
    }
    this.deleteIndex(indexKey, correlationId);
    return status;
  }

  async take({ valueKey, correlationId, indexKeyOf }: TakeRequest): Promise<Buffer | null> {
    const entry = this.live(valueKey);
    if (!entry) return null;
    this.entries.delete(valueKey);
    const indexKey = indexKeyOf(entry.bytes);
    if (indexKey !== undefined) this.deleteIndex(indexKey, correlationId);
    return entry.bytes;
  }

  async *scanPrefix(prefix: string): AsyncIterable<string[]> {
    yield this.keysStartingWith(prefix);
  }

  async readEntries(keys: readonly string[], limitBytes?: number): Promise<StoredEntry[]> {
    return keys.map((key) => {
      const entry = this.live(key);
      if (!entry) return { bytes: null, ttlMs: -2 };
      const bytes = Buffer.from(limitBytes === undefined ? entry.bytes : entry.bytes.subarray(0, limitBytes));
      return { bytes, ttlMs: entry.expiresAt ? Math.max(1, entry.expiresAt - Date.now()) : -1 };
    });
  }

  async replaceValues(requests: readonly ReplaceRequest[]): Promise<boolean[]> {
    return requests.map(({ valueKey, expected, replacement, indexKey, correlationId }) => {
      const entry = this.live(valueKey);
      if (!entry || !holdsWrite(entry.bytes, expected)) return false;
      if (replacement) {
        entry.bytes = Buffer.from(replacement);
      } else {
        this.entries.delete(valueKey);
        if (indexKey) this.deleteIndex(indexKey, correlationId);
      }
      return true;
    });
  }

  async dropOrphanIndex({ indexKey, correlationId, valueKey, fingerprint }: OrphanIndexRequest): Promise<boolean> {
    if (this.live(indexKey)?.bytes.toString("utf8") !== correlationId) return false;
    if (mayHoldSaga(this.live(valueKey)?.bytes, fingerprint)) return false;
    this.entries.delete(indexKey);
    return true;
  }

  /** The live keys starting with `prefix`, read synchronously (for InMemorySagaStore's test helpers). */
  keysStartingWith(prefix: string): string[] {
    return [...this.entries.keys()].filter((key) => key.startsWith(prefix) && this.live(key));
  }

  /** A live entry's bytes, read synchronously. */
  peek(key: string): Buffer | undefined {
    return this.live(key)?.bytes;
  }

  /**
   * Put bytes under a key as they would sit on a server, past every rule:
   * for tests and fixtures that hold values of other versions or other
   * programs (ttlMs 0 = no expiry).
   */
  plant(key: string, bytes: Buffer | string, ttlMs = 0): void {
    this.set(key, Buffer.from(bytes), ttlMs);
  }

  /** Drop every entry whose key starts with `prefix`. */
  deleteStartingWith(prefix: string): void {
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.entries.delete(key);
  }

  /**
   * An insert whose saga id's index names another correlation id holding this
   * very saga (DuplicateId), or a value there that this version cannot vouch
   * for (Unreadable: it may be this saga); as write.lua.
   */
  private liveElsewhere({ envelope, indexKey, correlationId, valueKeyPrefix }: InsertRequest): { status: WriteStatus; correlationId: string } | undefined {
    const indexed = this.live(indexKey)?.bytes.toString("utf8");
    if (indexed === undefined || indexed === correlationId) return undefined;
    const other = this.live(valueKeyPrefix + escapeCorrelationId(indexed));
    if (!other) return undefined;
    const owner = identityOf(other.bytes);
    if (!owner) return { status: WriteStatus.Unreadable, correlationId: indexed };
    return owner.fingerprint.equals(envelope.subarray(OFFSET.fingerprint, OFFSET.fingerprint + 8)) ? { status: WriteStatus.DuplicateId, correlationId: indexed } : undefined;
  }

  private compareAndSet({ valueKey, envelope, ttlMs }: WriteRequest, inserting: boolean): WriteResult {
    const entry = this.live(valueKey);
    // An envelope is stored as is; a plain-JSON request (writeFormat "0.2.2") stores its payload and carries no token.
    const plain = isPlainRequest(envelope);
    const store = () => this.set(valueKey, Buffer.from(storedBytesOf(envelope)), ttlMs);
    if (!entry) {
      if (!inserting) return result(WriteStatus.NotFound, 0, 0, -2);
      store();
      return result(WriteStatus.Written, 0, 0, -2);
    }
    const previousTtlMs = entry.expiresAt ? Math.max(1, entry.expiresAt - Date.now()) : -1;
    const stored = identityOf(entry.bytes);
    if (!stored) return result(WriteStatus.Unreadable, 0, 0, previousTtlMs);
    const { version, schemaVersion } = stored;
    if (!plain && stored.token?.equals(envelope.subarray(OFFSET.token, OFFSET.token + 8))) {
      return result(WriteStatus.AlreadyWritten, version, schemaVersion, previousTtlMs);
    }
    if (inserting) return result(WriteStatus.Exists, version, schemaVersion, previousTtlMs);
    if (!stored.fingerprint.equals(envelope.subarray(OFFSET.fingerprint, OFFSET.fingerprint + 8))) {
      return result(WriteStatus.OtherSaga, version, schemaVersion, previousTtlMs);
    }
    if (schemaVersion > envelope.readUInt32BE(OFFSET.schemaVersion)) {
      return result(WriteStatus.SchemaAhead, version, schemaVersion, previousTtlMs);
    }
    if (version !== envelope.readUInt32BE(OFFSET.sagaVersion) - 1) return result(WriteStatus.Conflict, version, schemaVersion, previousTtlMs);
    store();
    return result(WriteStatus.Written, version, schemaVersion, previousTtlMs);
  }

  private set(key: string, bytes: Buffer, ttlMs: number): void {
    this.entries.set(key, { bytes, expiresAt: ttlMs > 0 ? Date.now() + ttlMs : 0 });
  }

  private deleteIndex(indexKey: string, correlationId: string): void {
    if (this.live(indexKey)?.bytes.toString("utf8") === correlationId) this.entries.delete(indexKey);
  }

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt !== 0 && entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }
}

function written(outcome: WriteResult): boolean {
  return outcome.status === WriteStatus.Written || outcome.status === WriteStatus.AlreadyWritten;
}

function result(status: WriteStatus, storedVersion: number, storedSchemaVersion: number, previousTtlMs: number): WriteResult {
  return { status, storedVersion, storedSchemaVersion, previousTtlMs };
}
