import { EnvelopeSerializer, type SerializerOptions } from "../codecs/serializer";
import { DeleteStatus, WriteStatus, type SagaBackend, type WriteRequest, type WriteResult } from "./backend";
import { BoundedCache } from "./bounded-cache";
import {
  AmbiguousIdError,
  ConcurrencyError,
  DecodeError,
  InvalidOptionsError,
  InvalidStateError,
  SagaAlreadyExistsError,
  SagaNotFoundError,
  StoreClosedError,
  WriteOutcomeUnknownError,
  RedisUnavailableError,
  SchemaVersionAheadError,
  SagaStoreError,
} from "./errors";
import { KeyLayout, assertSagaName } from "./keys";
import { nonNegativeInteger } from "./options";
import type { InputOf, SagaName, SagaRegistry, SeedInputOf, SeedStateOf, StateOf } from "./registry";
import { beforeDeadline } from "./deadline";
import { backoffMs, sleep } from "./retry";
import { SchemaGate } from "./schema-gate";
import { loadSagaBusErrors } from "./saga-bus-errors";
import { applyStoredVersion, isCompleted, isSagaBusShaped, readCorrelationId, readSagaId, readVersion, withVersion, type AnySagaState, type SagaState } from "./state-shape";

export interface SagaStoreOptions<Types = any> extends SerializerOptions {
  /** Per-saga Zod schemas and migrations (see createSagaRegistry); types flow from it. */
  registry?: SagaRegistry<Types>;
  /** Key prefix for all saga keys (default "saga-bus:"). */
  keyPrefix?: string;
  /** TTL in seconds for completed sagas; wins over defaultTtlSeconds once completed (0 = not set). */
  completedTtlSeconds?: number;
  /** TTL in seconds applied on every write (0 = no expiry). */
  defaultTtlSeconds?: number;
  /** Retries of a call that failed transiently (connection loss, LOADING, TRYAGAIN, ...), and reloads in modify() (default 3). */
  maxRetries?: number;
  /** Base delay between those retries in milliseconds, doubled per attempt with jitter (default 100). */
  retryDelayMs?: number;
  /**
   * How long a call waits for Redis (default 5000, 0 = no bound): each
   * round-trip step of a call, its retries included, ends with a typed error
   * at most this long after it began, whatever the client's own timeouts.
   * Most calls are one step; findById, delete and a Cluster insert up to three.
   */
  operationTimeoutMs?: number;
  /** How long a start (initialize() or the first call) may take before it fails with REDIS_UNAVAILABLE (default 10000). */
  startTimeoutMs?: number;
}

export const DEFAULT_OPERATION_TIMEOUT_MS = 5_000;
export const DEFAULT_START_TIMEOUT_MS = 10_000;

const CORRELATION_CACHE_SIZE = 50_000;

/**
 * The store: the seed README's API and the saga-bus store contract over any
 * engine. All correctness lives in one atomic compare-and-set per write
 * (see src/lua/write.lua); this class encodes, retries and keeps indexes.
 */
export class SagaStore<Types = any> {
  /** Set once a start succeeded; cleared by close(). */
  private backend: SagaBackend | undefined;
  /** The one start in flight, shared by every caller waiting on it. */
  private starting: Promise<SagaBackend> | undefined;
  private closed = false;
  private readonly keys: KeyLayout;
  private readonly serializer: EnvelopeSerializer;
  private readonly schemas: SchemaGate;
  private readonly defaultTtlMs: number;
  private readonly completedTtlMs: number;
  private readonly maxRetries: number;
  private readonly retryDelayMs: number;
  private readonly operationTimeoutMs: number;
  private readonly startTimeoutMs: number;
  /** index key -> correlation id; the mapping never changes for a live saga, and every use is verified. */
  private readonly correlationIds = new BoundedCache<string, string>(CORRELATION_CACHE_SIZE);

  /** `openBackend` runs on the first call (or initialize()), again after a start that failed. */
  constructor(
    options: SagaStoreOptions<Types>,
    private readonly openBackend: () => SagaBackend,
  ) {
    const keyPrefix = options.keyPrefix ?? "saga-bus:";
    if (typeof keyPrefix !== "string" || !keyPrefix.isWellFormed()) throw new InvalidOptionsError("keyPrefix must be a well-formed string");
    this.keys = new KeyLayout(keyPrefix);
    this.serializer = new EnvelopeSerializer(options);
    this.schemas = new SchemaGate(options.registry, this.serializer);
    this.defaultTtlMs = nonNegativeInteger("defaultTtlSeconds", options.defaultTtlSeconds ?? 0) * 1000;
    this.completedTtlMs = nonNegativeInteger("completedTtlSeconds", options.completedTtlSeconds ?? 0) * 1000;
    this.maxRetries = nonNegativeInteger("maxRetries", options.maxRetries ?? 3);
    this.retryDelayMs = nonNegativeInteger("retryDelayMs", options.retryDelayMs ?? 100);
    this.operationTimeoutMs = nonNegativeInteger("operationTimeoutMs", options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS) || Infinity;
    this.startTimeoutMs = nonNegativeInteger("startTimeoutMs", options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS) || Infinity;
  }

  /**
   * Connect and load the scripts now, to fail fast at startup. Optional:
   * the first call starts the store too. Concurrent callers share one
   * attempt; a failed attempt is made again by the next call.
   */
  async initialize(): Promise<void> {
    await this.start();
  }

  /** Later calls fail with StoreClosedError. A client passed as `redis` stays open. */
  async close(): Promise<void> {
    this.closed = true;
    const backend = this.backend;
    this.backend = undefined;
    await backend?.close();
  }

  // ---- reads ----------------------------------------------------------------

  async findByCorrelationId<Name extends SagaName<Types>>(sagaName: Name, correlationId: string): Promise<StateOf<Types, Name> | null> {
    await this.started();
    const state = await this.read(sagaName, correlationId);
    // Remember where this saga lives for findById/update; a stored id that could never be a key is simply not cached.
    const indexKey = state && this.keys.storedIndexKey(sagaName, readSagaId(state));
    if (indexKey) this.correlationIds.set(indexKey, correlationId);
    return state as StateOf<Types, Name> | null;
  }

  async findById<Name extends SagaName<Types>>(sagaName: Name, sagaId: string): Promise<StateOf<Types, Name> | null> {
    await this.started();
    this.schemas.checkSaga(sagaName);
    const indexKey = this.keys.indexKey(sagaName, sagaId);
    const cached = this.correlationIds.get(indexKey);
    if (cached !== undefined) {
      const state = await this.read(sagaName, cached);
      if (state && readSagaId(state) === sagaId) return state as StateOf<Types, Name>;
      this.correlationIds.delete(indexKey);
    }
    const correlationId = await this.indexedCorrelationId(indexKey);
    if (correlationId === null) return null;
    const state = await this.read(sagaName, correlationId);
    // A stale index (its saga deleted, the correlation id reused) must never yield another saga.
    if (!state || readSagaId(state) !== sagaId) return null;
    this.correlationIds.set(indexKey, correlationId);
    return state as StateOf<Types, Name>;
  }

  /** saga-bus store contract. */
  getById<Name extends SagaName<Types>>(sagaName: Name, sagaId: string): Promise<StateOf<Types, Name> | null>;
  /**
   * saga-bus's SagaStore<TState> signature: one store serves several sagas,
   * and the bus asks each registration's store for its own saga only. No
   * call can select it (`never`); calls get the typed signature above.
   */
  getById(sagaName: never, sagaId: string): Promise<never>;
  getById(sagaName: SagaName<Types>, sagaId: string): Promise<unknown> {
    return this.findById(sagaName, sagaId);
  }

  /** saga-bus store contract. */
  getByCorrelationId<Name extends SagaName<Types>>(sagaName: Name, correlationId: string): Promise<StateOf<Types, Name> | null>;
  /** saga-bus's SagaStore<TState> signature (see getById). */
  getByCorrelationId(sagaName: never, correlationId: string): Promise<never>;
  getByCorrelationId(sagaName: SagaName<Types>, correlationId: string): Promise<unknown> {
    return this.findByCorrelationId(sagaName, correlationId);
  }

  // ---- writes ---------------------------------------------------------------

  /**
   * Save a state. Its version (`metadata.version`, else `version`) is the one
   * it was loaded at: absent = a new saga (stored at version 0), a number =
   * written as version + 1 only if the stored version still matches.
   * Returns the state as saved, carrying its new version.
   */
  save<Name extends SagaName<Types>>(sagaName: Name, input: InputOf<Types, Name>): Promise<StateOf<Types, Name>>;
  save<Name extends SagaName<Types>>(sagaName: Name, input: SeedInputOf<Types, Name>): Promise<SeedStateOf<Types, Name>>;
  async save(sagaName: string, input: unknown): Promise<any> {
    const state = input as AnySagaState;
    await this.started();
    const sagaId = this.requireSagaId(sagaName, state);
    const loadedVersion = readVersion(state);
    const givenCorrelationId = readCorrelationId(state);
    if (loadedVersion === undefined) {
      if (givenCorrelationId === undefined) {
        throw new InvalidStateError(
          sagaName,
          isSagaBusShaped(state)
            ? "a new saga-bus state carries no correlation id of the store's (its fields are its own): use insert(sagaName, correlationId, state)"
            : "a new saga needs a string correlationId",
        );
      }
      const saved = await this.create(sagaName, sagaId, givenCorrelationId, state, 0);
      return withVersion(saved, 0);
    }
    const indexKey = this.keys.indexKey(sagaName, sagaId);
    const correlationId = givenCorrelationId ?? (await this.correlationIdAt(sagaName, sagaId, indexKey));
    const saved = await this.replace(sagaName, sagaId, correlationId, state, loadedVersion, indexKey);
    return withVersion(saved, loadedVersion + 1);
  }

  /** saga-bus store contract: create a saga; throws SagaAlreadyExistsError when the correlation id is taken. */
  insert<Name extends SagaName<Types>>(sagaName: Name, correlationId: string, input: InputOf<Types, Name>): Promise<void>;
  /** saga-bus's SagaStore<TState> signature, so a registry-typed store is one; `never` keeps calls on the typed signature above. */
  insert(sagaName: never, correlationId: string, state: SagaState): Promise<void>;
  async insert(sagaName: string, correlationId: string, input: unknown): Promise<void> {
    const state = input as AnySagaState;
    await this.started();
    const sagaId = this.requireSagaId(sagaName, state);
    await this.create(sagaName, sagaId, correlationId, state, readVersion(state) ?? 0);
  }

  /** saga-bus store contract: write `state` as version expectedVersion + 1 if the stored version is expectedVersion. */
  update<Name extends SagaName<Types>>(sagaName: Name, input: InputOf<Types, Name>, expectedVersion: number): Promise<void>;
  /** saga-bus's SagaStore<TState> signature (see insert). */
  update(sagaName: never, state: SagaState, expectedVersion: number): Promise<void>;
  async update(sagaName: string, input: unknown, expectedVersion: number): Promise<void> {
    const state = input as AnySagaState;
    await this.started();
    if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0) {
      throw new InvalidStateError(sagaName, `expectedVersion must be a non-negative integer, got ${expectedVersion}`);
    }
    const sagaId = this.requireSagaId(sagaName, state);
    const indexKey = this.keys.indexKey(sagaName, sagaId);
    const correlationId = readCorrelationId(state) ?? (await this.correlationIdAt(sagaName, sagaId, indexKey));
    await this.replace(sagaName, sagaId, correlationId, state, expectedVersion, indexKey);
  }

  /**
   * Load, apply `fn`, save; on a version conflict reload and apply `fn` again,
   * up to maxRetries times. `fn` must be free of side effects it cannot repeat.
   */
  async modify<Name extends SagaName<Types>>(
    sagaName: Name,
    correlationId: string,
    fn: (state: StateOf<Types, Name>) => InputOf<Types, Name> | Promise<InputOf<Types, Name>>,
  ): Promise<StateOf<Types, Name>> {
    await this.started();
    // Reloads after conflicts stop at the operation bound too.
    const deadline = Date.now() + this.operationTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      const current = await this.read(sagaName, correlationId);
      if (!current) throw new SagaNotFoundError(sagaName, undefined, correlationId);
      const loadedVersion = readVersion(current) ?? 0;
      const sagaId = this.requireSagaId(sagaName, current);
      const next = (await fn(current as StateOf<Types, Name>)) as AnySagaState;
      try {
        const saved = await this.replace(sagaName, sagaId, correlationId, next, loadedVersion);
        return withVersion(saved, loadedVersion + 1) as StateOf<Types, Name>;
      } catch (error) {
        const delay = backoffMs(this.retryDelayMs, attempt);
        if (!(error instanceof ConcurrencyError) || attempt >= this.maxRetries || Date.now() + delay >= deadline) throw error;
        await sleep(delay);
      }
    }
  }

  /**
   * Delete a saga. The seed README passes a correlation id; saga-bus's store
   * contract passes a saga id. The id is tried as a correlation id first and,
   * when no saga is stored under it, as a saga id.
   */
  async delete(sagaName: SagaName<Types>, id: string): Promise<void> {
    await this.started();
    this.schemas.checkSaga(sagaName);
    const valueKey = this.keys.valueKey(sagaName, id);
    const [atCorrelationId, indexed] = await Promise.all([
      this.withRetries(() => this.ready().getValue(valueKey)),
      this.indexedCorrelationId(this.keys.indexKey(sagaName, id)),
    ]);
    if (atCorrelationId === null) {
      await this.deleteById(sagaName, id);
      return;
    }
    if (indexed !== null && indexed !== id && (await this.ownerOf(valueKey)) !== id) {
      // `id` also names a saga by its id: delete only if that one is the saga stored under `id` as correlation id.
      if ((await this.ownerOf(this.keys.valueKey(sagaName, indexed))) === id) throw new AmbiguousIdError(sagaName, id);
    }
    await this.deleteByCorrelationId(sagaName, id);
  }

  /** Delete by correlation id. Returns whether a saga was deleted. */
  async deleteByCorrelationId(sagaName: SagaName<Types>, correlationId: string): Promise<boolean> {
    await this.started();
    this.schemas.checkSaga(sagaName);
    const key = this.keys.valueKey(sagaName, correlationId);
    const bytes = await this.withRetries(() => this.ready().takeValue(key));
    if (!bytes) return false;
    let sagaId: string | undefined;
    try {
      sagaId = readSagaId(this.serializer.decode(key, bytes).state);
    } catch (error) {
      // The caller asked for this value to go; an unreadable one cannot name its index, which findById ignores anyway.
      if (!(error instanceof DecodeError)) throw error;
    }
    const indexKey = this.keys.storedIndexKey(sagaName, sagaId);
    if (indexKey) await this.dropIndex(indexKey);
    return true;
  }

  /** Delete by saga id. Never deletes another saga, even through a stale index. Returns whether a saga was deleted. */
  async deleteById(sagaName: SagaName<Types>, sagaId: string): Promise<boolean> {
    await this.started();
    this.schemas.checkSaga(sagaName);
    const indexKey = this.keys.indexKey(sagaName, sagaId);
    const correlationId = await this.indexedCorrelationId(indexKey);
    if (correlationId === null) return false;
    const valueKey = this.keys.valueKey(sagaName, correlationId);
    const status = await this.withRetries(() => this.ready().deleteValueOf(valueKey, sagaId));
    if (status === DeleteStatus.Unreadable) throw new DecodeError(valueKey, "stored value is unreadable; not deleted");
    await this.dropIndex(indexKey);
    return status === DeleteStatus.Deleted;
  }

  /**
   * Every correlation id stored for a saga type, scanning every primary of a
   * Cluster. SCAN semantics, for stats and batch jobs: no blocking and
   * bounded memory, but no order, an id may come twice, and one written or
   * deleted meanwhile may or may not be seen.
   */
  async *scanCorrelationIds(sagaName: SagaName<Types>): AsyncIterable<string> {
    await this.started();
    this.schemas.checkSaga(sagaName);
    const prefix = this.keys.sagaKeyPrefix(sagaName);
    for await (const keys of this.ready().scanPrefix(prefix)) {
      for (const key of keys) {
        const correlationId = this.keys.correlationIdOf(prefix, key);
        if (correlationId !== undefined) yield correlationId;
      }
    }
  }

  // ---- internals ------------------------------------------------------------

  /** The engine of a started store, for subclasses' accessors. */
  protected get engine(): SagaBackend | undefined {
    return this.backend;
  }

  /** The started engine; the public methods have awaited started() first. */
  private ready(): SagaBackend {
    if (!this.backend) throw new StoreClosedError();
    return this.backend;
  }

  private started(): Promise<unknown> | undefined {
    return this.backend ? undefined : this.start();
  }

  private start(): Promise<SagaBackend> {
    if (this.closed) return Promise.reject(new StoreClosedError());
    if (this.backend) return Promise.resolve(this.backend);
    this.starting ??= this.open().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async open(): Promise<SagaBackend> {
    // Before any error can be thrown, so every failure is built on saga-bus's classes where it is installed.
    await loadSagaBusErrors();
    const backend = this.openBackend();
    const ms = this.startTimeoutMs;
    try {
      await beforeDeadline(backend.initialize(), Date.now() + ms, () => noAnswer("initialize", undefined, false, ms));
      if (this.closed) throw new StoreClosedError();
    } catch (error) {
      await backend.close().catch(() => undefined);
      throw error;
    }
    this.backend = backend;
    return backend;
  }

  private requireSagaId(sagaName: string, state: AnySagaState): string {
    assertSagaName(sagaName);
    this.schemas.checkSaga(sagaName);
    if (state === null || typeof state !== "object") throw new InvalidStateError(sagaName, "state must be an object");
    const sagaId = readSagaId(state);
    if (sagaId === undefined) throw new InvalidStateError(sagaName, "state needs a string metadata.sagaId (or id)");
    return sagaId;
  }

  private async read(sagaName: string, correlationId: string): Promise<AnySagaState | null> {
    this.schemas.checkSaga(sagaName);
    const key = this.keys.valueKey(sagaName, correlationId);
    const bytes = await this.withRetries(() => this.ready().getValue(key));
    return bytes ? this.decodeStored(sagaName, key, bytes) : null;
  }

  /** A stored value as the caller sees it: decoded, upgraded to the latest schema, carrying the stored version. */
  protected decodeStored(sagaName: string, key: string, bytes: Buffer): AnySagaState {
    const decoded = this.serializer.decode(key, bytes);
    const state = this.schemas.materialize(sagaName, key, decoded);
    if (decoded.sagaVersion !== undefined) applyStoredVersion(state, decoded.sagaVersion);
    return state;
  }

  /** Key layout, for subclasses that walk their engine's keys. */
  protected get keyLayout(): KeyLayout {
    return this.keys;
  }

  private indexedCorrelationId(indexKey: string): Promise<string | null> {
    return this.withRetries(() => this.ready().getIndex(indexKey));
  }

  /** The correlation id a saga id's index points at (cached); SagaNotFoundError when there is none. */
  private async correlationIdAt(sagaName: string, sagaId: string, indexKey: string): Promise<string> {
    const correlationId = this.correlationIds.get(indexKey) ?? (await this.indexedCorrelationId(indexKey));
    if (correlationId === null) throw new SagaNotFoundError(sagaName, sagaId, undefined);
    return correlationId;
  }

  private async dropIndex(indexKey: string): Promise<void> {
    this.correlationIds.delete(indexKey);
    await this.withRetries(() => this.ready().deleteIndex(indexKey));
  }

  private ttlMsFor(state: AnySagaState): number {
    return this.completedTtlMs > 0 && isCompleted(state) ? this.completedTtlMs : this.defaultTtlMs;
  }

  /**
   * Insert: value and index together, refused when the correlation id is
   * taken or the saga id is live under another one; a reported failure
   * leaves nothing readable.
   */
  private async create(sagaName: string, sagaId: string, correlationId: string, state: AnySagaState, version: number): Promise<AnySagaState> {
    const valueKey = this.keys.valueKey(sagaName, correlationId);
    const indexKey = this.keys.indexKey(sagaName, sagaId);
    const ttlMs = this.ttlMsFor(state);
    const { envelope, saved } = this.encode(sagaName, sagaId, correlationId, state, version);
    const backend = this.ready();
    // Where value and index share a node, the write script checks and sets both; on a Cluster the index is claimed after.
    const index = backend.writesIndexWithValue ? { key: indexKey, correlationId, valueKeyPrefix: this.keys.sagaKeyPrefix(sagaName) } : undefined;
    const { result, replyLost } = await this.sendWrite(sagaName, sagaId, { key: valueKey, envelope, expectedVersion: -1, ttlMs, index }, undefined);
    if (result.status === WriteStatus.DuplicateId) {
      throw new SagaAlreadyExistsError(sagaName, correlationId, sagaId, result.existingCorrelationId);
    }
    if (result.status === WriteStatus.Exists) {
      // The same saga id: it may be our own insert, updated since its reply was lost.
      if (replyLost && (await this.ownerOf(valueKey)) === sagaId) throw new WriteOutcomeUnknownError(sagaName, sagaId, valueKey);
      throw new SagaAlreadyExistsError(sagaName, correlationId, sagaId);
    }
    this.expectWritten(result, sagaName, sagaId, valueKey, -1);
    if (!index) await this.claimIndex(sagaName, sagaId, correlationId, indexKey, valueKey, envelope, ttlMs);
    this.correlationIds.set(indexKey, correlationId);
    return saved;
  }

  /**
   * Cluster inserts: with the value written, point the id index at it. An
   * index naming another correlation id blocks only while that saga is live
   * under this id; a stale one is replaced, compared-and-set so a rival
   * insert's claim is never overwritten. Any refusal retracts our value.
   */
  private async claimIndex(
    sagaName: string,
    sagaId: string,
    correlationId: string,
    indexKey: string,
    valueKey: string,
    envelope: Buffer,
    ttlMs: number,
  ): Promise<void> {
    let stale: string | undefined;
    for (let attempt = 0; ; attempt++) {
      let holder: string | null;
      try {
        holder = await this.withRetries(() => this.ready().claimIndex(indexKey, correlationId, ttlMs, stale));
      } catch (error) {
        return this.retract(sagaName, sagaId, valueKey, envelope, error);
      }
      if (holder === null) return;
      const liveThere = (await this.ownerOf(this.keys.valueKey(sagaName, holder))) === sagaId;
      if (liveThere || attempt >= this.maxRetries) {
        await this.retract(sagaName, sagaId, valueKey, envelope, new SagaAlreadyExistsError(sagaName, correlationId, sagaId, holder));
      }
      stale = holder;
    }
  }

  /** Update: compare-and-set of the value, the index refreshed in the same round trip when a TTL applies. */
  private async replace(
    sagaName: string,
    sagaId: string,
    correlationId: string,
    state: AnySagaState,
    expectedVersion: number,
    indexKey = this.keys.indexKey(sagaName, sagaId),
  ): Promise<AnySagaState> {
    const valueKey = this.keys.valueKey(sagaName, correlationId);
    const ttlMs = this.ttlMsFor(state);
    const backend = this.ready();
    // Where value and index share a node, the write script re-applies the index's expiry when the write succeeds.
    const together = backend.writesIndexWithValue;
    const index = together ? { key: indexKey, correlationId, refresh: true } : undefined;
    const refreshIndex = !together && ttlMs > 0 ? () => backend.refreshIndex(indexKey, correlationId, ttlMs) : undefined;
    let { envelope, saved } = this.encode(sagaName, sagaId, correlationId, state, expectedVersion + 1);
    // A failed index refresh is not reported: the value is what counts, and the next save refreshes the index again.
    let { result, replyLost } = await this.sendWrite(sagaName, sagaId, { key: valueKey, envelope, expectedVersion, ttlMs, index }, refreshIndex);
    const storedSchema = result.storedSchemaVersion;
    if (result.status === WriteStatus.SchemaAhead && storedSchema <= this.schemas.knownVersion(sagaName)) {
      // Mid-rollout: the saga is already at a version this process knows but does not write yet
      // (writeVersion below it). Write at the stored version rather than refuse or lose its fields.
      ({ envelope, saved } = this.encode(sagaName, sagaId, correlationId, state, expectedVersion + 1, storedSchema));
      ({ result, replyLost } = await this.sendWrite(sagaName, sagaId, { key: valueKey, envelope, expectedVersion, ttlMs, index }, refreshIndex));
    }
    const written = result.status === WriteStatus.Written || result.status === WriteStatus.AlreadyWritten;
    if (!together && written && ttlMs === 0 && result.previousTtlMs > 0) {
      // The value just lost its expiry; its index must not expire alone.
      await this.withRetries(() => backend.alignIndexTtl(indexKey, -1));
    } else if (!together && !written && ttlMs > 0 && result.previousTtlMs !== -2) {
      // The refresh above ran although the write did not: give the index back its value's expiry.
      await this.withRetries(() => backend.alignIndexTtl(indexKey, result.previousTtlMs));
    }
    if (result.status === WriteStatus.NotFound || result.status === WriteStatus.OtherSaga) this.correlationIds.delete(indexKey);
    if (result.status === WriteStatus.Conflict && replyLost) throw new WriteOutcomeUnknownError(sagaName, sagaId, valueKey);
    this.expectWritten(result, sagaName, sagaId, valueKey, expectedVersion);
    this.correlationIds.set(indexKey, correlationId);
    return saved;
  }

  /**
   * Validate (registry), then encode; `saved` is the state the caller gets back.
   * With writeFormat "0.2.2" the result is a plain-JSON write request, and a
   * correlation id 0.2.2's key layout cannot hold is refused first.
   */
  private encode(
    sagaName: string,
    sagaId: string,
    correlationId: string,
    state: AnySagaState,
    sagaVersion: number,
    targetSchemaVersion?: number,
  ): { envelope: Buffer; saved: AnySagaState } {
    this.serializer.assertWritableCorrelationId(correlationId);
    const { stored, saved, schemaVersion, codec } = this.schemas.prepareWrite(sagaName, sagaId, state, targetSchemaVersion);
    try {
      return { envelope: this.serializer.encode(sagaName, stored, { sagaId, sagaVersion, schemaVersion }, codec), saved };
    } catch (error) {
      if (error instanceof SagaStoreError) throw error;
      throw new InvalidStateError(sagaName, `cannot encode with ${codec.name}: ${(error as Error)?.message}`);
    }
  }

  /**
   * Send a write, retrying transient failures with the same envelope: its
   * write token makes a repeat of an applied write report AlreadyWritten.
   * `replyLost` says a reply went missing on the way (our retry, or ioredis
   * re-sending on reconnect): a conflict seen then cannot tell "someone else
   * won" from "we won, then someone wrote on top".
   */
  private async sendWrite(
    sagaName: string,
    sagaId: string,
    request: WriteRequest,
    indexWrite: (() => Promise<void>) | undefined,
  ): Promise<{ result: WriteResult; replyLost: boolean; indexError?: unknown }> {
    const backend = this.ready();
    let replyLost = false;
    const deadline = Date.now() + this.operationTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      const epoch = backend.connectionEpoch;
      let result: WriteResult;
      let indexError: unknown;
      try {
        if (indexWrite) {
          // The index command (another key, maybe another slot) goes out first, in the same round trip.
          const [index, value] = await Promise.allSettled([this.bounded(indexWrite(), deadline, undefined, true), this.bounded(backend.writeValue(request), deadline, request.key, true)]);
          if (value.status === "rejected") throw value.reason;
          result = value.value;
          if (index.status === "rejected") indexError = index.reason;
        } else {
          result = await this.bounded(backend.writeValue(request), deadline, request.key, true);
        }
      } catch (error) {
        if (!(error instanceof RedisUnavailableError)) throw error;
        replyLost ||= error.mayHaveBeenApplied;
        const delay = backoffMs(this.retryDelayMs, attempt);
        if (attempt >= this.maxRetries || Date.now() + delay >= deadline) {
          throw replyLost ? new WriteOutcomeUnknownError(sagaName, sagaId, request.key, { cause: error }) : error;
        }
        await sleep(delay);
        continue;
      }
      replyLost ||= backend.connectionEpoch !== epoch;
      // A transient index failure: send the pair again (the value write recognises its own token).
      if (indexError instanceof RedisUnavailableError && attempt < this.maxRetries) {
        await sleep(backoffMs(this.retryDelayMs, attempt));
        continue;
      }
      return { result, replyLost, indexError };
    }
  }

  /**
   * An insert whose value landed but whose index write failed: take the value
   * back, so the reported failure leaves nothing readable.
   */
  private async retract(sagaName: string, sagaId: string, valueKey: string, envelope: Buffer, indexError: unknown): Promise<never> {
    let retracted = false;
    try {
      retracted = await this.withRetries(() => this.ready().retractValue(valueKey, envelope));
    } catch (error) {
      throw new WriteOutcomeUnknownError(sagaName, sagaId, valueKey, { cause: error });
    }
    // Not retracted: the saga was already updated by someone who loaded it, so it lives on without its index.
    if (!retracted) throw new WriteOutcomeUnknownError(sagaName, sagaId, valueKey, { cause: indexError });
    throw indexError;
  }

  private expectWritten(result: WriteResult, sagaName: string, sagaId: string, valueKey: string, expectedVersion: number): void {
    switch (result.status) {
      case WriteStatus.Written:
      case WriteStatus.AlreadyWritten:
        return;
      case WriteStatus.Conflict:
        throw new ConcurrencyError(sagaId, expectedVersion, result.storedVersion, sagaName);
      case WriteStatus.NotFound:
      case WriteStatus.OtherSaga:
        throw new SagaNotFoundError(sagaName, sagaId, undefined);
      case WriteStatus.Unreadable:
        throw new DecodeError(valueKey, "stored value is unreadable; not overwritten");
      case WriteStatus.SchemaAhead:
        throw new SchemaVersionAheadError(sagaName, sagaId, valueKey, result.storedSchemaVersion, this.schemas.knownVersion(sagaName));
      default:
        throw new InvalidStateError(sagaName, `unexpected write status ${result.status} at "${valueKey}"`);
    }
  }

  /** The saga id stored at a value key; undefined when missing or unreadable. */
  private async ownerOf(valueKey: string): Promise<string | undefined> {
    const bytes = await this.withRetries(() => this.ready().getValue(valueKey));
    if (!bytes) return undefined;
    try {
      return readSagaId(this.serializer.decode(valueKey, bytes).state);
    } catch {
      return undefined;
    }
  }

  /**
   * Reads and idempotent index commands: retried on transient failures
   * until maxRetries, or until operationTimeoutMs has passed since the
   * first attempt (which an unanswered command does not outlast).
   */
  private async withRetries<T>(run: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.operationTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.bounded(run(), deadline, undefined, false);
      } catch (error) {
        if (!(error instanceof RedisUnavailableError)) throw error;
        const delay = backoffMs(this.retryDelayMs, attempt);
        if (attempt >= this.maxRetries || Date.now() + delay >= deadline) throw error;
        await sleep(delay);
      }
    }
  }

  /**
   * Wait for one command's answer no later than its retry loop's deadline.
   * Free when the engine itself ends the command in time (a standalone
   * client's commandTimeout; the embedded engine).
   */
  private bounded<T>(work: Promise<T>, deadline: number, key: string | undefined, isWrite: boolean): Promise<T> {
    const ownBound = this.backend?.commandTimeoutMs;
    if (ownBound !== undefined && Date.now() + ownBound <= deadline) return work;
    return beforeDeadline(work, deadline, () => noAnswer(isWrite ? "write" : "read", key, isWrite, this.operationTimeoutMs));
  }
}

/** Redis gave no answer in time: retryable, and a write sent may have been applied. */
function noAnswer(operation: string, key: string | undefined, mayHaveBeenApplied: boolean, ms: number): RedisUnavailableError {
  return new RedisUnavailableError(operation, key, mayHaveBeenApplied, { cause: new Error(`no answer from Redis within ${ms} ms`) });
}
