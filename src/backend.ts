/**
 * The narrow contract every engine implements (Redis, in-memory). Engines
 * move bytes and run the compare-and-set; they know nothing of codecs,
 * registries or state shapes. One shared contract-test suite runs against each.
 */
export const WriteStatus = {
  Written: 1,
  /** The stored value already carries this write's token: a re-sent write that had landed. */
  AlreadyWritten: 2,
  Conflict: 0,
  NotFound: -1,
  Exists: -2,
  SchemaAhead: -3,
  OtherSaga: -4,
  Unreadable: -5,
  /** Insert only: the saga id is live under another correlation id (`existingCorrelationId`). */
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
  /** With DuplicateId: the correlation id the saga id already lives under. */
  existingCorrelationId?: string;
}

export interface WriteRequest {
  key: string;
  /**
   * The new value: an envelope, stored as is, or a plain-JSON write request
   * (writeFormat "0.2.2", codecs/envelope.ts), whose payload is stored and
   * which carries no write token (never AlreadyWritten).
   */
  envelope: Buffer;
  /** Stored version the write requires; -1 means the key must not exist. */
  expectedVersion: number;
  /** 0 = no expiry (an existing expiry is removed). */
  ttlMs: number;
  /**
   * On engines with `writesIndexWithValue`, the id index to maintain in the
   * same atomic step when the value is written: an insert sets it (same TTL);
   * with `refresh`, an update gives it the value's expiry if it points at
   * `correlationId`, and leaves it alone otherwise. An insert names the
   * value keys' prefix so the engine can refuse a saga id that is live
   * under another correlation id (DuplicateId).
   */
  index?: { key: string; correlationId: string; refresh?: boolean; valueKeyPrefix?: string };
}

export const DeleteStatus = { Deleted: 1, Missing: 0, OtherSaga: -4, Unreadable: -5 } as const;
export type DeleteStatus = (typeof DeleteStatus)[keyof typeof DeleteStatus];

export interface SagaBackend {
  /** True when an insert's index can be written atomically with its value (same node); false on a Cluster. */
  readonly writesIndexWithValue: boolean;
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
  /** Atomic compare-and-set of one value key (see src/lua/write.lua for the exact rules). */
  writeValue(request: WriteRequest): Promise<WriteResult>;
  /**
   * Point an index key at a new saga's correlation id (ttlMs 0 = no expiry)
   * if it is missing, already points there, or points at `replaceable`.
   * Returns null when claimed, else the correlation id it points at (src/lua/claim-index.lua).
   */
  claimIndex(key: string, correlationId: string, ttlMs: number, replaceable: string | undefined): Promise<string | null>;
  /** Re-apply an index key's TTL only if it points at `correlationId` (src/lua/refresh-index.lua). */
  refreshIndex(key: string, correlationId: string, ttlMs: number): Promise<void>;
  /** Give an index key the expiry its value has: -1 = none, else milliseconds. */
  alignIndexTtl(key: string, ttlMs: number): Promise<void>;
  deleteIndex(key: string): Promise<void>;
  /** Remove and return a value (GETDEL). */
  takeValue(key: string): Promise<Buffer | null>;
  /** Delete a value only while it still carries the write token of `envelope` (src/lua/retract.lua); never a plain-JSON value. */
  retractValue(key: string, envelope: Buffer): Promise<boolean>;
  /** Delete a value only when it belongs to `sagaId`. */
  deleteValueOf(key: string, sagaId: string): Promise<DeleteStatus>;
  /** Every key starting with `prefix`, in batches, across all primaries of a Cluster (SCAN; a key may repeat). */
  scanPrefix(prefix: string): AsyncIterable<string[]>;
}
