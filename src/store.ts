import { EnvelopeSerializer, type SerializerOptions } from "../codecs/serializer";
import { sagaIdFingerprint } from "../codecs/envelope";
import { DeleteStatus, type SagaEngine } from "./engine";
import { EngineCaller, noAnswer } from "./engine-caller";
import { BoundedCache } from "./bounded-cache";
import { AmbiguousIdError, ConcurrencyError, DecodeError, EncryptionKeyUnknownError, InvalidOptionsError, isUnreadable, InvalidStateError, SagaNotFoundError, StoreClosedError } from "./errors";
import { DEFAULT_KEY_PREFIX, KeyLayout, assertKeyPrefixCannotNest, assertSagaName } from "./keys";
import { nonNegativeInteger } from "./options";
import type { InputOf, SagaName, SagaRegistry, SeedInputOf, SeedStateOf, StateOf } from "./registry";
import { beforeDeadline } from "./deadline";
import { retrying } from "./retry";
import { SchemaGate } from "./schema-gate";
import { loadSagaBusErrors } from "./saga-bus-errors";
import { WriteProtocol } from "./write-protocol";
import { countValues, type OperatorParts, type RunControl } from "./operator/walk";
import { sagaStats, type SagaStats } from "./operator/stats";
import { verifySaga, type VerifyOptions, type VerifyResult } from "./operator/verify";
import { migrateSaga, type MigrateOptions, type MigrateResult } from "./operator/migrate";
import { deleteCompletedSagas, type DeleteCompletedOptions, type DeleteCompletedResult } from "./operator/delete-completed";
import { inspectSaga, type InspectTarget, type InspectedSaga } from "./operator/inspect";
import { StoreOperation, deletedOrNot, done, doneOrStopped, foundOrNot, publish, traced, written } from "./telemetry/trace";
import type { TracedOperation } from "./telemetry/channels";
import { applyStoredVersion, isCompleted, isSagaBusShaped, readCorrelationId, readSagaId, readVersion, withVersion, type AnySagaState, type SagaState } from "../codecs/state-shape";

export interface SagaStoreOptions<Types = any> extends SerializerOptions {
  /** Per-saga Zod schemas and migrations (see createSagaRegistry); types flow from it. */
  registry?: SagaRegistry<Types>;
  /** Key prefix for all saga keys (default "saga-bus:"). A prefix containing "saga:" is refused: it could nest inside another store's keys. */
  keyPrefix?: string;
  /** Accept a keyPrefix containing "saga:": you make sure no store uses the part of it before "saga:" as its prefix. */
  allowNestingKeyPrefix?: boolean;
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
 * engine (src/engine.ts). All correctness lives in the engine's atomic
 * compare-and-set (src/lua/write.lua); writes travel through
 * src/write-protocol.ts, engine calls through src/engine-caller.ts.
 */
export class SagaStore<Types = any> {
  /** The one start in flight, shared by every caller waiting on it. */
  private starting: Promise<SagaEngine> | undefined;
  private closed = false;
  private readonly keys: KeyLayout;
  private readonly serializer: EnvelopeSerializer;
  private readonly schemas: SchemaGate;
  private readonly defaultTtlMs: number;
  private readonly completedTtlMs: number;
  private readonly startTimeoutMs: number;
  private readonly caller: EngineCaller;
  private readonly writes: WriteProtocol;
  /** index key -> correlation id; the mapping never changes for a live saga, and every use is verified. */
  private readonly correlationIds = new BoundedCache<string, string>(CORRELATION_CACHE_SIZE);

  /**
   * `openEngine` runs on the first call (or initialize()), again after a start that failed; `keysPrefix` is
   * what every key of this store starts with. `system` names the engine on the store's diagnostics channels.
   */
  constructor(
    options: SagaStoreOptions<Types>,
    private readonly openEngine: (keysPrefix: string) => SagaEngine,
    private readonly system = "custom",
  ) {
    const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    if (typeof keyPrefix !== "string" || !keyPrefix.isWellFormed()) throw new InvalidOptionsError("keyPrefix must be a well-formed string");
    assertKeyPrefixCannotNest(keyPrefix, options.allowNestingKeyPrefix);
    this.keys = new KeyLayout(keyPrefix);
    this.serializer = new EnvelopeSerializer(options);
    this.schemas = new SchemaGate(options.registry, this.serializer);
    this.defaultTtlMs = nonNegativeInteger("defaultTtlSeconds", options.defaultTtlSeconds ?? 0) * 1000;
    this.completedTtlMs = nonNegativeInteger("completedTtlSeconds", options.completedTtlSeconds ?? 0) * 1000;
    this.startTimeoutMs = nonNegativeInteger("startTimeoutMs", options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS) || Infinity;
    this.caller = new EngineCaller({
      maxRetries: nonNegativeInteger("maxRetries", options.maxRetries ?? 3),
      retryDelayMs: nonNegativeInteger("retryDelayMs", options.retryDelayMs ?? 100),
      operationTimeoutMs: nonNegativeInteger("operationTimeoutMs", options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS) || Infinity,
    });
    this.writes = new WriteProtocol({
      keys: this.keys,
      serializer: this.serializer,
      schemas: this.schemas,
      caller: this.caller,
      correlationIds: this.correlationIds,
      ttlMsFor: (state) => (this.completedTtlMs > 0 && isCompleted(state) ? this.completedTtlMs : this.defaultTtlMs),
    });
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
    const engine = this.caller.engine;
    this.caller.engine = undefined;
    await engine?.close();
  }

  // ---- reads ----------------------------------------------------------------

  findByCorrelationId<Name extends SagaName<Types>>(sagaName: Name, correlationId: string): Promise<StateOf<Types, Name> | null> {
    const operation = this.operation("findByCorrelationId", sagaName);
    return traced(operation, () => this.byCorrelationId(operation, sagaName, correlationId), foundOrNot) as Promise<StateOf<Types, Name> | null>;
  }

  findById<Name extends SagaName<Types>>(sagaName: Name, sagaId: string): Promise<StateOf<Types, Name> | null> {
    const operation = this.operation("findById", sagaName);
    return traced(operation, () => this.byId(operation, sagaName, sagaId), foundOrNot) as Promise<StateOf<Types, Name> | null>;
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
    const operation = this.operation("getById", sagaName);
    return traced(operation, () => this.byId(operation, sagaName, sagaId), foundOrNot);
  }

  /** saga-bus store contract. */
  getByCorrelationId<Name extends SagaName<Types>>(sagaName: Name, correlationId: string): Promise<StateOf<Types, Name> | null>;
  /** saga-bus's SagaStore<TState> signature (see getById). */
  getByCorrelationId(sagaName: never, correlationId: string): Promise<never>;
  getByCorrelationId(sagaName: SagaName<Types>, correlationId: string): Promise<unknown> {
    const operation = this.operation("getByCorrelationId", sagaName);
    return traced(operation, () => this.byCorrelationId(operation, sagaName, correlationId), foundOrNot);
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
  save(sagaName: string, input: unknown): Promise<any> {
    const operation = this.operation("save", sagaName);
    return traced(operation, () => this.saveAs(operation, sagaName, input as AnySagaState), written);
  }

  private async saveAs(operation: StoreOperation, sagaName: string, state: AnySagaState): Promise<AnySagaState> {
    if (!this.caller.engine) await this.start();
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
      const saved = await this.writes.insert(operation, sagaName, sagaId, givenCorrelationId, state, 0);
      return withVersion(saved, 0);
    }
    const indexKey = this.keys.indexKey(sagaName, sagaId);
    const correlationId = givenCorrelationId ?? (await this.correlationIdAt(operation, sagaName, sagaId, indexKey));
    const saved = await this.writes.update(operation, sagaName, sagaId, correlationId, state, loadedVersion, indexKey);
    return withVersion(saved, loadedVersion + 1);
  }

  /** saga-bus store contract: create a saga; throws SagaAlreadyExistsError when the correlation id is taken. */
  insert<Name extends SagaName<Types>>(sagaName: Name, correlationId: string, input: InputOf<Types, Name>): Promise<void>;
  /** saga-bus's SagaStore<TState> signature, so a registry-typed store is one; `never` keeps calls on the typed signature above. */
  insert(sagaName: never, correlationId: string, state: SagaState): Promise<void>;
  insert(sagaName: string, correlationId: string, input: unknown): Promise<void> {
    const state = input as AnySagaState;
    const operation = this.operation("insert", sagaName);
    return traced(
      operation,
      async () => {
        if (!this.caller.engine) await this.start();
        const sagaId = this.requireSagaId(sagaName, state);
        await this.writes.insert(operation, sagaName, sagaId, correlationId, state, readVersion(state) ?? 0);
      },
      written,
    );
  }

  /** saga-bus store contract: write `state` as version expectedVersion + 1 if the stored version is expectedVersion. */
  update<Name extends SagaName<Types>>(sagaName: Name, input: InputOf<Types, Name>, expectedVersion: number): Promise<void>;
  /** saga-bus's SagaStore<TState> signature (see insert). */
  update(sagaName: never, state: SagaState, expectedVersion: number): Promise<void>;
  update(sagaName: string, input: unknown, expectedVersion: number): Promise<void> {
    const state = input as AnySagaState;
    const operation = this.operation("update", sagaName);
    return traced(
      operation,
      async () => {
        if (!this.caller.engine) await this.start();
        if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0) {
          throw new InvalidStateError(sagaName, `expectedVersion must be a non-negative integer, got ${expectedVersion}`);
        }
        const sagaId = this.requireSagaId(sagaName, state);
        const indexKey = this.keys.indexKey(sagaName, sagaId);
        const correlationId = readCorrelationId(state) ?? (await this.correlationIdAt(operation, sagaName, sagaId, indexKey));
        await this.writes.update(operation, sagaName, sagaId, correlationId, state, expectedVersion, indexKey);
      },
      written,
    );
  }

  /**
   * Load, apply `fn`, save; on a version conflict reload and apply `fn` again,
   * up to maxRetries times. `fn` must be free of side effects it cannot repeat.
   */
  modify<Name extends SagaName<Types>>(
    sagaName: Name,
    correlationId: string,
    fn: (state: StateOf<Types, Name>) => InputOf<Types, Name> | Promise<InputOf<Types, Name>>,
  ): Promise<StateOf<Types, Name>> {
    const operation = this.operation("modify", sagaName);
    return traced(
      operation,
      async () => {
        if (!this.caller.engine) await this.start();
        // Reloads after conflicts stop at the operation bound too.
        const deadline = Date.now() + this.caller.policy.operationTimeoutMs;
        const valueKey = this.keys.valueKey(sagaName, correlationId);
        const isConflict = (error: unknown) => error instanceof ConcurrencyError;
        return retrying(
          this.caller.policy,
          deadline,
          isConflict,
          async () => {
            const current = await this.read(operation, sagaName, correlationId);
            if (!current) throw new SagaNotFoundError(sagaName, undefined, correlationId);
            const loadedVersion = readVersion(current) ?? 0;
            const sagaId = this.requireSagaId(sagaName, current);
            const next = (await fn(current as StateOf<Types, Name>)) as AnySagaState;
            const saved = await this.writes.update(operation, sagaName, sagaId, correlationId, next, loadedVersion, this.keys.indexKey(sagaName, sagaId));
            return withVersion(saved, loadedVersion + 1) as StateOf<Types, Name>;
          },
          operation,
          valueKey,
        );
      },
      written,
    );
  }

  /**
   * Delete a saga. The seed README passes a correlation id; saga-bus's store
   * contract passes a saga id. The id is tried as a correlation id first and,
   * when no saga is stored under it, as a saga id.
   */
  delete(sagaName: SagaName<Types>, id: string): Promise<void> {
    const operation = this.operation("delete", sagaName);
    let deleted = false;
    return traced(
      operation,
      async () => {
        deleted = await this.deleteEither(operation, sagaName, id);
      },
      () => deletedOrNot(deleted),
    );
  }

  /** Delete by correlation id. Returns whether a saga was deleted. */
  deleteByCorrelationId(sagaName: SagaName<Types>, correlationId: string): Promise<boolean> {
    const operation = this.operation("deleteByCorrelationId", sagaName);
    return traced(operation, () => this.takeByCorrelationId(operation, sagaName, correlationId), deletedOrNot);
  }

  /** Delete by saga id. Never deletes another saga, even through a stale index. Returns whether a saga was deleted. */
  deleteById(sagaName: SagaName<Types>, sagaId: string): Promise<boolean> {
    const operation = this.operation("deleteById", sagaName);
    return traced(operation, () => this.takeById(operation, sagaName, sagaId), deletedOrNot);
  }

  private async deleteEither(operation: StoreOperation, sagaName: string, id: string): Promise<boolean> {
    if (!this.caller.engine) await this.start();
    this.schemas.checkSaga(sagaName);
    const valueKey = this.keys.valueKey(sagaName, id);
    operation.touch(valueKey);
    const [atCorrelationId, indexed] = await Promise.all([
      this.caller.call((engine) => engine.getValue(valueKey), operation, valueKey),
      this.indexedCorrelationId(operation, this.keys.indexKey(sagaName, id)),
    ]);
    if (atCorrelationId === null) return this.takeById(operation, sagaName, id);
    if (indexed !== null && indexed !== id && (await this.writes.ownerOf(operation, valueKey)) !== id) {
      // `id` also names a saga by its id: delete only if that one is the saga stored under `id` as correlation id.
      if ((await this.writes.ownerOf(operation, this.keys.valueKey(sagaName, indexed))) === id) throw new AmbiguousIdError(sagaName, id);
    }
    return this.takeByCorrelationId(operation, sagaName, id);
  }

  private async takeByCorrelationId(operation: StoreOperation, sagaName: string, correlationId: string): Promise<boolean> {
    if (!this.caller.engine) await this.start();
    this.schemas.checkSaga(sagaName);
    const valueKey = this.keys.valueKey(sagaName, correlationId);
    operation.touch(valueKey);
    // The caller asked for this value to go, readable or not; an unreadable one cannot name its index, which findById ignores anyway.
    let indexKey: string | undefined;
    const indexKeyOf = (bytes: Buffer) => {
      try {
        indexKey = this.keys.storedIndexKey(sagaName, readSagaId(this.serializer.decode(valueKey, bytes).state));
      } catch (error) {
        if (!isUnreadable(error)) throw error;
      }
      return indexKey;
    };
    const taken = await this.caller.call((engine) => engine.take({ valueKey, correlationId, indexKeyOf }), operation, valueKey);
    if (!taken) return false;
    if (indexKey) this.correlationIds.delete(indexKey);
    return true;
  }

  private async takeById(operation: StoreOperation, sagaName: string, sagaId: string): Promise<boolean> {
    if (!this.caller.engine) await this.start();
    this.schemas.checkSaga(sagaName);
    const indexKey = this.keys.indexKey(sagaName, sagaId);
    const correlationId = await this.indexedCorrelationId(operation, indexKey);
    if (correlationId === null) return false;
    const valueKey = this.keys.valueKey(sagaName, correlationId);
    operation.touch(valueKey);
    const fingerprint = sagaIdFingerprint(sagaId);
    const status = await this.caller.call((engine) => engine.deleteOwned({ valueKey, fingerprint, indexKey, correlationId }), operation, valueKey);
    if (status === DeleteStatus.Unreadable) throw new DecodeError(valueKey, "stored value is unreadable; not deleted");
    this.correlationIds.delete(indexKey);
    return status === DeleteStatus.Deleted;
  }

  /**
   * Every correlation id stored for a saga type, scanning every primary of a
   * Cluster. SCAN semantics, for stats and batch jobs: no blocking and
   * bounded memory, but no order, an id may come twice, and one written or
   * deleted meanwhile may or may not be seen.
   */
  async *scanCorrelationIds(sagaName: SagaName<Types>): AsyncIterable<string> {
    if (!this.caller.engine) await this.start();
    this.schemas.checkSaga(sagaName);
    const prefix = this.keys.sagaKeyPrefix(sagaName);
    for await (const keys of this.caller.ready().scanPrefix(prefix)) {
      for (const key of keys) {
        const correlationId = this.keys.correlationIdOf(prefix, key);
        if (correlationId !== undefined) yield correlationId;
      }
    }
  }

  // ---- operating: batch jobs over every stored saga (src/operator/) ----------
  // SCAN on every primary, pipelined batches, memory bounded by the batch; each
  // takes a RunControl (progress, stop signal, rate) as its last argument.

  /** How many sagas of a type are stored (SCAN only: no value is read). */
  countByName(sagaName: SagaName<Types>, control: RunControl = {}): Promise<number> {
    return this.operatorRun("countByName", sagaName, done, async (parts) => countValues(parts, sagaName, "stats", control));
  }

  /** Every saga name that has keys under this store's prefix (one SCAN of all of them). */
  sagaNames(): Promise<string[]> {
    return this.operatorRun("sagaNames", undefined, done, async (parts) => {
      const names = new Set<string>();
      for await (const keys of parts.caller.ready().scanPrefix(this.keys.sagaKeysPrefix)) {
        for (const key of keys) {
          const name = this.keys.sagaNameOf(key);
          if (name !== undefined) names.add(name);
        }
      }
      return [...names].sort();
    });
  }

  /** Counts of one saga type's values and indexes: schema versions, codecs, forms, sizes, TTLs, completed, undecodable, broken indexes. */
  stats(sagaName: SagaName<Types>, control: RunControl = {}): Promise<SagaStats> {
    return this.operatorRun("stats", sagaName, doneOrStopped, (parts) => sagaStats(parts, sagaName, control));
  }

  /** Read every value as reads do (decoded; with a registry, upgraded and validated) and every id index; list what fails. */
  verify(sagaName: SagaName<Types>, options: VerifyOptions = {}, control: RunControl = {}): Promise<VerifyResult> {
    return this.operatorRun("verify", sagaName, doneOrStopped, (parts) =>
      verifySaga(parts, sagaName, { ...options, ...control }, (key, bytes) => this.decodeStored(sagaName, key, bytes)),
    );
  }

  /**
   * Rewrite every value not yet at the target schema version, codec or
   * form, never over a live write (README "Operating"). Refused with
   * MigrationRefusedError, before anything is written, when the target
   * breaks the rollout rules or a stored schema version is unknown.
   */
  migrateAll(sagaName: SagaName<Types>, options: MigrateOptions = {}, control: RunControl = {}): Promise<MigrateResult> {
    return this.operatorRun("migrateAll", sagaName, doneOrStopped, (parts) => migrateSaga(parts, sagaName, { ...options, ...control }));
  }

  /** Delete the completed sagas last saved before `options.before` (each only if unchanged since it was read), or with dryRun count them. */
  deleteCompleted(sagaName: SagaName<Types>, options: DeleteCompletedOptions, control: RunControl = {}): Promise<DeleteCompletedResult> {
    return this.operatorRun("deleteCompleted", sagaName, doneOrStopped, (parts) => deleteCompletedSagas(parts, sagaName, { ...options, ...control }));
  }

  /** saga-bus's SQL stores' signature: delete the completed sagas last saved before `before`; returns how many. */
  deleteCompletedBefore(sagaName: SagaName<Types>, before: Date, control: RunControl = {}): Promise<number> {
    return this.operatorRun("deleteCompletedBefore", sagaName, done, async (parts) => (await deleteCompletedSagas(parts, sagaName, { before, ...control })).deleted);
  }

  /** One saga as stored: header fields, TTL, the decoded state, and with a registry the state reads return. */
  inspect(sagaName: SagaName<Types>, target: InspectTarget): Promise<InspectedSaga> {
    return this.operatorRun(
      "inspect",
      sagaName,
      (inspected) => (inspected.found ? "found" : "not-found"),
      (parts) => inspectSaga(parts, sagaName, target, (key, bytes) => this.decodeStored(sagaName, key, bytes)),
    );
  }

  /**
   * An operator run, traced as `operation`, given the store's parts once
   * started; a saga name is checked like any key part (not against the registry).
   */
  private operatorRun<T>(
    operation: TracedOperation,
    sagaName: string | undefined,
    outcomeOf: (result: T) => string,
    run: (parts: OperatorParts) => Promise<T>,
  ): Promise<T> {
    return traced(
      this.operation(operation, sagaName),
      async () => {
        if (!this.caller.engine) await this.start();
        if (sagaName !== undefined) assertSagaName(sagaName);
        return run({ keys: this.keys, serializer: this.serializer, schemas: this.schemas, caller: this.caller });
      },
      outcomeOf,
    );
  }

  // ---- internals ------------------------------------------------------------

  /** The engine of a started store, for subclasses' accessors. */
  protected get engine(): SagaEngine | undefined {
    return this.caller.engine;
  }

  private start(): Promise<SagaEngine> {
    if (this.closed) return Promise.reject(new StoreClosedError());
    if (this.caller.engine) return Promise.resolve(this.caller.engine);
    this.starting ??= this.open().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async open(): Promise<SagaEngine> {
    // Before any error can be thrown, so every failure is built on saga-bus's classes where it is installed.
    await loadSagaBusErrors();
    const engine = this.openEngine(this.keys.sagaKeysPrefix);
    const ms = this.startTimeoutMs;
    try {
      // A key provider's first ring is loaded with the engine's start, under the same bound.
      const started = Promise.all([engine.initialize(), this.serializer.keyRing?.ready()]);
      await beforeDeadline(started, Date.now() + ms, () => noAnswer("initialize", undefined, false, ms));
      if (this.closed) throw new StoreClosedError();
    } catch (error) {
      await engine.close().catch(() => undefined);
      throw error;
    }
    this.caller.engine = engine;
    return engine;
  }

  private requireSagaId(sagaName: string, state: AnySagaState): string {
    assertSagaName(sagaName);
    this.schemas.checkSaga(sagaName);
    if (state === null || typeof state !== "object") throw new InvalidStateError(sagaName, "state must be an object");
    const sagaId = readSagaId(state);
    if (sagaId === undefined) throw new InvalidStateError(sagaName, "state needs a string metadata.sagaId (or id)");
    return sagaId;
  }

  private operation(name: TracedOperation, sagaName: string | undefined): StoreOperation {
    return new StoreOperation(name, this.system, sagaName);
  }

  private async byCorrelationId(operation: StoreOperation, sagaName: string, correlationId: string): Promise<AnySagaState | null> {
    if (!this.caller.engine) await this.start();
    const state = await this.read(operation, sagaName, correlationId);
    // Remember where this saga lives for findById/update; a stored id that could never be a key is simply not cached.
    const indexKey = state && this.keys.storedIndexKey(sagaName, readSagaId(state));
    if (indexKey) this.correlationIds.set(indexKey, correlationId);
    return state;
  }

  private async byId(operation: StoreOperation, sagaName: string, sagaId: string): Promise<AnySagaState | null> {
    if (!this.caller.engine) await this.start();
    this.schemas.checkSaga(sagaName);
    const indexKey = this.keys.indexKey(sagaName, sagaId);
    const cached = this.correlationIds.get(indexKey);
    if (cached !== undefined) {
      const state = await this.read(operation, sagaName, cached);
      if (state && readSagaId(state) === sagaId) return state;
      this.correlationIds.delete(indexKey);
    }
    const correlationId = await this.indexedCorrelationId(operation, indexKey);
    if (correlationId === null) return null;
    const state = await this.read(operation, sagaName, correlationId);
    // A stale index (its saga deleted, the correlation id reused) must never yield another saga.
    if (!state || readSagaId(state) !== sagaId) return null;
    this.correlationIds.set(indexKey, correlationId);
    return state;
  }

  private async read(operation: StoreOperation, sagaName: string, correlationId: string): Promise<AnySagaState | null> {
    this.schemas.checkSaga(sagaName);
    const key = this.keys.valueKey(sagaName, correlationId);
    operation.touch(key);
    const bytes = await this.caller.call((engine) => engine.getValue(key), operation, key);
    if (!bytes) return null;
    try {
      return this.decodeStored(sagaName, key, bytes, operation);
    } catch (error) {
      // A key provider's ring may have gained the key since it was loaded.
      const ring = this.serializer.keyRing;
      if (!(error instanceof EncryptionKeyUnknownError) || !ring?.mayLearn()) throw error;
      await ring.reload();
      return this.decodeStored(sagaName, key, bytes, operation);
    }
  }

  /**
   * A stored value as the caller sees it: decoded, upgraded to the latest
   * schema, carrying the stored version. A store call's `operation` records
   * what was read, and an upgrade is published.
   */
  protected decodeStored(sagaName: string, key: string, bytes: Buffer, operation?: StoreOperation): AnySagaState {
    const decoded = this.serializer.decode(key, bytes);
    if (operation) {
      const from = this.schemas.storedVersion(sagaName, decoded);
      operation.recordValue(decoded.codec, from, decoded.sagaVersion);
      const to = this.schemas.knownVersion(sagaName);
      // Published before the upgrade runs, so a failing one is seen too (then also as validation-failed or the like).
      if (from < to) publish("upgraded", () => ({ operation: operation.operation, sagaName, key, from, to }));
    }
    const state = this.schemas.materialize(sagaName, key, decoded);
    if (decoded.sagaVersion !== undefined) applyStoredVersion(state, decoded.sagaVersion);
    return state;
  }

  /** Key layout, for subclasses that walk their engine's keys. */
  protected get keyLayout(): KeyLayout {
    return this.keys;
  }

  private indexedCorrelationId(operation: StoreOperation, indexKey: string): Promise<string | null> {
    operation.touch(indexKey);
    return this.caller.call((engine) => engine.getIndex(indexKey), operation, indexKey);
  }

  /** The correlation id a saga id's index points at (cached); SagaNotFoundError when there is none. */
  private async correlationIdAt(operation: StoreOperation, sagaName: string, sagaId: string, indexKey: string): Promise<string> {
    const correlationId = this.correlationIds.get(indexKey) ?? (await this.indexedCorrelationId(operation, indexKey));
    if (correlationId === null) throw new SagaNotFoundError(sagaName, sagaId, undefined);
    return correlationId;
  }
}
