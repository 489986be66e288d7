import { DeleteStatus, WriteStatus, type SagaBackend, type WriteRequest, type WriteResult } from "../backend";
import { escapeCorrelationId } from "../keys";
import { identityOf } from "../../codecs/stored-identity";
import { OFFSET, isEnvelope, isPlainRequest, sagaIdFingerprint, storedBytesOf } from "../../codecs/envelope";

interface Entry {
  bytes: Buffer;
  /** Epoch milliseconds; 0 = no expiry. */
  expiresAt: number;
}


/**
 * The embedded engine: the same bytes and the same compare-and-set rules as
 * src/lua/write.lua, kept in a Map. Expired entries vanish on access.
 */
export class MemoryBackend implements SagaBackend {
  readonly connectionEpoch = 0;
  readonly commandTimeoutMs = 0;
  readonly writesIndexWithValue = true;
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

  async writeValue(request: WriteRequest): Promise<WriteResult> {
    const existingCorrelationId = this.liveElsewhere(request);
    if (existingCorrelationId !== undefined) return { ...result(WriteStatus.DuplicateId, 0, 0, -2), existingCorrelationId };
    const outcome = this.compareAndSet(request);
    const written = outcome.status === WriteStatus.Written || outcome.status === WriteStatus.AlreadyWritten;
    const index = request.index;
    if (written && index) {
      if (index.refresh) await this.refreshIndex(index.key, index.correlationId, request.ttlMs);
      else this.setIndex(index.key, index.correlationId, request.ttlMs);
    }
    return outcome;
  }

  /** An insert of a saga id whose index names another correlation id holding this very saga (see write.lua). */
  private liveElsewhere({ key, envelope, expectedVersion, index }: WriteRequest): string | undefined {
    if (expectedVersion !== -1 || !index || index.refresh || index.valueKeyPrefix === undefined || this.live(key)) return undefined;
    const indexed = this.live(index.key)?.bytes.toString("utf8");
    if (indexed === undefined || indexed === index.correlationId) return undefined;
    const other = this.live(index.valueKeyPrefix + escapeCorrelationId(indexed));
    const owner = other && identityOf(other.bytes);
    return owner && owner.fingerprint.equals(envelope.subarray(OFFSET.fingerprint, OFFSET.fingerprint + 8)) ? indexed : undefined;
  }

  private compareAndSet({ key, envelope, expectedVersion, ttlMs }: WriteRequest): WriteResult {
    const entry = this.live(key);
    // An envelope is stored as is; a plain-JSON request (writeFormat "0.2.2") stores its payload and carries no token.
    const plain = isPlainRequest(envelope);
    const store = () => this.entries.set(key, { bytes: Buffer.from(storedBytesOf(envelope)), expiresAt: ttlMs > 0 ? Date.now() + ttlMs : 0 });
    if (!entry) {
      if (expectedVersion !== -1) return result(WriteStatus.NotFound, 0, 0, -2);
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
    if (expectedVersion === -1) return result(WriteStatus.Exists, version, schemaVersion, previousTtlMs);
    if (!stored.fingerprint.equals(envelope.subarray(OFFSET.fingerprint, OFFSET.fingerprint + 8))) {
      return result(WriteStatus.OtherSaga, version, schemaVersion, previousTtlMs);
    }
    if (schemaVersion > envelope.readUInt32BE(OFFSET.schemaVersion)) {
      return result(WriteStatus.SchemaAhead, version, schemaVersion, previousTtlMs);
    }
    if (version !== expectedVersion) return result(WriteStatus.Conflict, version, schemaVersion, previousTtlMs);
    store();
    return result(WriteStatus.Written, version, schemaVersion, previousTtlMs);
  }

  async claimIndex(key: string, correlationId: string, ttlMs: number, replaceable: string | undefined): Promise<string | null> {
    const current = this.live(key)?.bytes.toString("utf8");
    if (current !== undefined && current !== correlationId && current !== replaceable) return current;
    this.setIndex(key, correlationId, ttlMs);
    return null;
  }

  private setIndex(key: string, correlationId: string, ttlMs: number): void {
    this.entries.set(key, { bytes: Buffer.from(correlationId, "utf8"), expiresAt: ttlMs > 0 ? Date.now() + ttlMs : 0 });
  }

  async refreshIndex(key: string, correlationId: string, ttlMs: number): Promise<void> {
    if ((await this.getIndex(key)) === correlationId) await this.alignIndexTtl(key, ttlMs);
  }

  async alignIndexTtl(key: string, ttlMs: number): Promise<void> {
    const entry = this.live(key);
    if (entry) entry.expiresAt = ttlMs > 0 ? Date.now() + ttlMs : 0;
  }

  async deleteIndex(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async takeValue(key: string): Promise<Buffer | null> {
    const entry = this.live(key);
    this.entries.delete(key);
    return entry?.bytes ?? null;
  }

  async retractValue(key: string, envelope: Buffer): Promise<boolean> {
    const token = envelope.subarray(OFFSET.token, OFFSET.token + 8);
    const entry = this.live(key);
    if (!entry || !isEnvelope(entry.bytes) || !entry.bytes.subarray(OFFSET.token, OFFSET.token + 8).equals(token)) return false;
    this.entries.delete(key);
    return true;
  }

  async deleteValueOf(key: string, sagaId: string): Promise<DeleteStatus> {
    const entry = this.live(key);
    if (!entry) return DeleteStatus.Missing;
    const stored = identityOf(entry.bytes);
    if (!stored) return DeleteStatus.Unreadable;
    if (!stored.fingerprint.equals(sagaIdFingerprint(sagaId))) return DeleteStatus.OtherSaga;
    this.entries.delete(key);
    return DeleteStatus.Deleted;
  }

  async *scanPrefix(prefix: string): AsyncIterable<string[]> {
    yield this.keysStartingWith(prefix);
  }

  /** The live keys starting with `prefix`, read synchronously (for InMemorySagaStore's test helpers). */
  keysStartingWith(prefix: string): string[] {
    return [...this.entries.keys()].filter((key) => key.startsWith(prefix) && this.live(key));
  }

  /** A live entry's bytes, read synchronously. */
  peek(key: string): Buffer | undefined {
    return this.live(key)?.bytes;
  }

  /** Drop every entry whose key starts with `prefix`. */
  deleteStartingWith(prefix: string): void {
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.entries.delete(key);
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

function result(status: WriteStatus, storedVersion: number, storedSchemaVersion: number, previousTtlMs: number): WriteResult {
  return { status, storedVersion, storedSchemaVersion, previousTtlMs };
}
