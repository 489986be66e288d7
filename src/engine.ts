/**
 * The contract every engine implements: the in-memory one, standalone Redis
 * and Redis Cluster (src/engines/), and one an application writes for
 * itself. An engine moves bytes and keeps a saga's value and its id index
 * together; it never decodes a payload. What it may read of a stored value
 * is its identity (codecs/stored-identity.ts: header or 0.2.2 JSON id and
 * version), by exactly those rules, so every engine refuses, overwrites and
 * deletes the same bytes. test/engine-conformance.test.ts runs one suite of
 * cases against every engine.
 *
 * Every method may fail with a typed store error (src/errors.ts); a
 * RedisUnavailableError is retried by the store with the same request, so
 * each write must be safe to repeat: its envelope's write token lets the
 * engine recognise a write of its own that already landed (AlreadyWritten).
 */
export const WriteStatus = {
  Written: 1,
  /** The stored value already carries this write's token: a re-sent write that had landed. */
  AlreadyWritten: 2,
  /** Update: the stored saga version is not the one below the new value's. */
  Conflict: 0,
  /** Update: nothing stored under the value key. */
  NotFound: -1,
  /** Insert: the value key holds another write. */
  Exists: -2,
  /** The stored schema version is above the new value's: never overwritten by an older writer. */
  SchemaAhead: -3,
  /** Update: the value key holds another saga. */
  OtherSaga: -4,
  /** The stored value is one this version cannot vouch for; nothing written. */
  Unreadable: -5,
  /** Insert: the saga id is live under another correlation id (`existingCorrelationId`); nothing written. */
  DuplicateId: -6,
} as const;
export type WriteStatus = (typeof WriteStatus)[keyof typeof WriteStatus];

export interface WriteResult {
  status: WriteStatus;
  /** Version stored before this write (meaningful unless NotFound/Unreadable). */
  storedVersion: number;
  /** Schema version stored before this write (0 for a 0.2.2 value). */
  storedSchemaVersion: number;
  /** PTTL of the value before the write: -2 missing, -1 no expiry, else milliseconds. */
  previousTtlMs: number;
  /**
   * Insert only: with DuplicateId, the correlation id the saga id already
   * lives under; with Unreadable, the correlation id whose value, named by
   * the saga id's index, cannot be vouched for (it may be this saga).
   */
  existingCorrelationId?: string;
}

/**
 * One value write and its index. `envelope` is the new value (codecs/envelope.ts):
 * an envelope, stored as is, or a plain-JSON write request (writeFormat
 * "0.2.2") whose payload is stored and which carries no write token.
 */
export interface WriteRequest {
  valueKey: string;
  envelope: Buffer;
  /** 0 = no expiry (an existing expiry is removed). */
  ttlMs: number;
  /** The saga's id index key: it points at `correlationId`. */
  indexKey: string;
  correlationId: string;
  /** For the error an engine throws when a write may have stayed although it failed (WriteOutcomeUnknownError). */
  sagaName: string;
  sagaId: string;
}

export interface InsertRequest extends WriteRequest {
  /**
   * The value keys' prefix of this saga name: an index naming another
   * correlation id whose value (this prefix + that id, escaped as
   * codecs/correlation-id-escape.ts says) carries this saga's fingerprint
   * makes the insert DuplicateId. Any other index is replaced.
   */
  valueKeyPrefix: string;
}

/** deleteById: the value at `valueKey` if it carries `fingerprint` (codecs/envelope.ts sagaIdFingerprint), and its index. */
export interface DeleteRequest {
  valueKey: string;
  fingerprint: Buffer;
  indexKey: string;
  /** The correlation id the index was read pointing at. */
  correlationId: string;
}

/** deleteByCorrelationId: whatever `valueKey` holds, and the index `indexKeyOf(value)` names (undefined: none). */
export interface TakeRequest {
  valueKey: string;
  correlationId: string;
  indexKeyOf(value: Buffer): string | undefined;
}

/** A key as the operator API reads it (src/operator/). */
export interface StoredEntry {
  /** The value, or its first `limitBytes` when asked for fewer; null when the key is missing. */
  bytes: Buffer | null;
  /** Remaining life: -2 missing, -1 no expiry, else milliseconds (PTTL). */
  ttlMs: number;
}

/**
 * The operator API's rewrite (migrate) or removal (deleteCompletedBefore) of
 * one value: done only while the key still holds the write that was read,
 * so a write made since always wins. A rewrite keeps the value's expiry.
 */
export interface ReplaceRequest {
  valueKey: string;
  /** The write read: codecs/stored-identity.ts writeIdentity (an envelope's header, a 0.2.2 value's whole text), compared by holdsWrite. */
  expected: Buffer;
  /** The new stored bytes; null deletes the value and, if it still points at `correlationId`, its index. */
  replacement: Buffer | null;
  /** With a deletion: the saga's id index key (none when the stored saga id could never be a key). */
  indexKey?: string;
  correlationId: string;
}

/**
 * Drop a saga id's index that leads nowhere: only while it still points at
 * `correlationId` and the value there does not carry `fingerprint` (missing,
 * or another saga's); an unreadable value keeps it.
 */
export interface OrphanIndexRequest {
  indexKey: string;
  correlationId: string;
  valueKey: string;
  fingerprint: Buffer;
}

export const DeleteStatus = { Deleted: 1, Missing: 0, OtherSaga: -4, Unreadable: -5 } as const;
export type DeleteStatus = (typeof DeleteStatus)[keyof typeof DeleteStatus];

export interface SagaEngine {
  /** Incremented whenever the connection dropped; a write whose reply spans a change may have been re-sent. */
  readonly connectionEpoch: number;
  /**
   * When every command already ends (answered or failed) within this many
   * milliseconds on its own, e.g. through ioredis's commandTimeout; undefined
   * when a command may wait indefinitely. Lets the store skip its own timer.
   */
  readonly commandTimeoutMs: number | undefined;
  initialize(): Promise<void>;
  close(): Promise<void>;

  getValue(key: string): Promise<Buffer | null>;
  getIndex(key: string): Promise<string | null>;
  /**
   * Store a new saga: the value only where its key is missing (or holds this
   * very write: AlreadyWritten), and its index pointing at it with the same
   * TTL. A result other than Written/AlreadyWritten leaves both keys as they
   * were. If the engine cannot keep that promise (an index write failed and
   * the value could not be taken back), it throws WriteOutcomeUnknownError.
   */
  insert(request: InsertRequest): Promise<WriteResult>;
  /**
   * Compare-and-set an existing saga (src/lua/write.lua states the rules):
   * written only when the stored saga version is one below the envelope's.
   * When written, an index pointing at `correlationId` gets the value's
   * expiry (none when ttlMs is 0). A failure after the value was written
   * is WriteOutcomeUnknownError, never an error that says nothing was.
   */
  update(request: WriteRequest): Promise<WriteResult>;
  /**
   * deleteById: delete the value only when it carries the fingerprint, then,
   * unless Unreadable, drop the index if it still points at `correlationId`.
   */
  deleteOwned(request: DeleteRequest): Promise<DeleteStatus>;
  /**
   * deleteByCorrelationId: remove the value and return it, whatever it holds;
   * then drop the index it names if that still points at `correlationId`.
   */
  take(request: TakeRequest): Promise<Buffer | null>;
  /** Every key starting with `prefix`, in batches, across all primaries of a Cluster (SCAN semantics: a key may repeat). */
  scanPrefix(prefix: string): AsyncIterable<string[]>;

  // ---- the operator API's (src/operator/): batch jobs over stored sagas ----

  /** Each key's bytes (at most `limitBytes` of each, when given) and remaining life, in as few round trips as the engine can. */
  readEntries(keys: readonly string[], limitBytes?: number): Promise<StoredEntry[]>;
  /** Rewrite or delete values that still hold the write read (ReplaceRequest), as few round trips as the engine can; false for each that changed or went meanwhile. */
  replaceValues(requests: readonly ReplaceRequest[]): Promise<boolean[]>;
  /** OrphanIndexRequest; true when the index was dropped. */
  dropOrphanIndex(request: OrphanIndexRequest): Promise<boolean>;
}
