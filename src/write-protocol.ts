import type { EnvelopeSerializer } from "../codecs/serializer";
import { readSagaId, type AnySagaState } from "../codecs/state-shape";
import type { BoundedCache } from "./bounded-cache";
import { WriteStatus, type WriteRequest, type WriteResult } from "./engine";
import type { EngineCaller } from "./engine-caller";
import {
  ConcurrencyError,
  DecodeError,
  InvalidStateError,
  SagaAlreadyExistsError,
  SagaNotFoundError,
  SagaStoreError,
  SchemaVersionAheadError,
  WriteOutcomeUnknownError,
} from "./errors";
import type { KeyLayout } from "./keys";
import type { SchemaGate } from "./schema-gate";
import { publish, type StoreOperation } from "./telemetry/trace";

export interface WriteProtocolParts {
  keys: KeyLayout;
  serializer: EnvelopeSerializer;
  schemas: SchemaGate;
  caller: EngineCaller;
  /** index key -> correlation id, shared with the store's reads. */
  correlationIds: BoundedCache<string, string>;
  /** The TTL a state is written with (0 = none). */
  ttlMsFor(state: AnySagaState): number;
}

/**
 * How a write travels: validate and encode (registry, codec, envelope), hand
 * the engine one request carrying value and index, then turn the engine's
 * status into the store's answer or typed error. All correctness sits in the
 * engine's compare-and-set (src/lua/write.lua on Redis).
 */
export class WriteProtocol {
  constructor(private readonly parts: WriteProtocolParts) {}

  /**
   * Insert: value and index together, refused when the correlation id is
   * taken or the saga id is live under another one; a reported failure
   * leaves nothing readable. Returns the state as saved.
   */
  async insert(operation: StoreOperation, sagaName: string, sagaId: string, correlationId: string, state: AnySagaState, version: number): Promise<AnySagaState> {
    const { keys, caller, correlationIds } = this.parts;
    const valueKey = keys.valueKey(sagaName, correlationId);
    const indexKey = keys.indexKey(sagaName, sagaId);
    operation.touch(valueKey);
    operation.touch(indexKey);
    const { envelope, saved } = this.encode(operation, sagaName, sagaId, correlationId, state, version);
    const request = { valueKey, envelope, ttlMs: this.parts.ttlMsFor(state), indexKey, correlationId, valueKeyPrefix: keys.sagaKeyPrefix(sagaName), sagaName, sagaId };
    const { value: result, replyLost } = await caller.write(valueKey, (engine) => engine.insert(request), lostWrite(sagaName, sagaId, valueKey), operation);
    if (result.status === WriteStatus.DuplicateId) {
      throw new SagaAlreadyExistsError(sagaName, correlationId, sagaId, result.existingCorrelationId);
    }
    if (result.status === WriteStatus.Unreadable && result.existingCorrelationId !== undefined) {
      const blocking = keys.valueKey(sagaName, result.existingCorrelationId);
      throw new DecodeError(blocking, `the saga id's index leads to a value this version cannot read, which may be this saga; not inserted`);
    }
    if (result.status === WriteStatus.Exists) {
      // The same saga id: it may be our own insert, updated since its reply was lost.
      if (replyLost && (await this.ownerOf(operation, valueKey)) === sagaId) throw new WriteOutcomeUnknownError(sagaName, sagaId, valueKey);
      throw new SagaAlreadyExistsError(sagaName, correlationId, sagaId);
    }
    this.expectWritten(operation, result, sagaName, sagaId, valueKey, -1);
    correlationIds.set(indexKey, correlationId);
    return saved;
  }

  /**
   * Update: compare-and-set of the value at `expectedVersion`, written as
   * expectedVersion + 1, its index's expiry kept with it. Returns the state
   * as saved.
   */
  async update(
    operation: StoreOperation,
    sagaName: string,
    sagaId: string,
    correlationId: string,
    state: AnySagaState,
    expectedVersion: number,
    indexKey: string,
  ): Promise<AnySagaState> {
    const { keys, caller, correlationIds, schemas } = this.parts;
    const valueKey = keys.valueKey(sagaName, correlationId);
    operation.touch(valueKey);
    operation.touch(indexKey);
    const ttlMs = this.parts.ttlMsFor(state);
    let { envelope, saved } = this.encode(operation, sagaName, sagaId, correlationId, state, expectedVersion + 1);
    const lost = lostWrite(sagaName, sagaId, valueKey);
    const send = (request: WriteRequest) => caller.write(valueKey, (engine) => engine.update(request), lost, operation);
    let { value: result, replyLost } = await send({ valueKey, envelope, ttlMs, indexKey, correlationId, sagaName, sagaId });
    const storedSchema = result.storedSchemaVersion;
    if (result.status === WriteStatus.SchemaAhead && storedSchema <= schemas.knownVersion(sagaName)) {
      // Mid-rollout: the saga is already at a version this process knows but does not write yet
      // (writeVersion below it). Write at the stored version rather than refuse or lose its fields.
      ({ envelope, saved } = this.encode(operation, sagaName, sagaId, correlationId, state, expectedVersion + 1, storedSchema));
      ({ value: result, replyLost } = await send({ valueKey, envelope, ttlMs, indexKey, correlationId, sagaName, sagaId }));
    }
    if (result.status === WriteStatus.NotFound || result.status === WriteStatus.OtherSaga) correlationIds.delete(indexKey);
    if (result.status === WriteStatus.Conflict && replyLost) throw new WriteOutcomeUnknownError(sagaName, sagaId, valueKey);
    this.expectWritten(operation, result, sagaName, sagaId, valueKey, expectedVersion);
    correlationIds.set(indexKey, correlationId);
    return saved;
  }

  /** The saga id stored at a value key; undefined when missing or unreadable. */
  async ownerOf(operation: StoreOperation, valueKey: string): Promise<string | undefined> {
    const bytes = await this.parts.caller.call((engine) => engine.getValue(valueKey), operation, valueKey);
    if (!bytes) return undefined;
    try {
      return readSagaId(this.parts.serializer.decode(valueKey, bytes).state);
    } catch {
      return undefined;
    }
  }

  /**
   * Validate (registry), then encode; `saved` is the state the caller gets back.
   * With writeFormat "0.2.2" the result is a plain-JSON write request, and a
   * correlation id 0.2.2's key layout cannot hold is refused first.
   */
  private encode(
    operation: StoreOperation,
    sagaName: string,
    sagaId: string,
    correlationId: string,
    state: AnySagaState,
    sagaVersion: number,
    targetSchemaVersion?: number,
  ): { envelope: Buffer; saved: AnySagaState } {
    const { serializer, schemas } = this.parts;
    serializer.assertWritableCorrelationId(correlationId);
    const { stored, saved, schemaVersion, codec } = schemas.prepareWrite(sagaName, sagaId, state, targetSchemaVersion);
    operation.recordValue(codec.name, schemaVersion, sagaVersion);
    try {
      return { envelope: serializer.encode(sagaName, stored, { sagaId, sagaVersion, schemaVersion }, codec), saved };
    } catch (error) {
      if (error instanceof SagaStoreError) throw error;
      throw new InvalidStateError(sagaName, `cannot encode with ${codec.name}: ${(error as Error)?.message}`);
    }
  }

  private expectWritten(operation: StoreOperation, result: WriteResult, sagaName: string, sagaId: string, valueKey: string, expectedVersion: number): void {
    switch (result.status) {
      case WriteStatus.Written:
        return;
      case WriteStatus.AlreadyWritten:
        operation.outcome = "already-written";
        return;
      case WriteStatus.Conflict:
        publish("conflict", () => ({ operation: operation.operation, sagaName, sagaId, key: valueKey, expectedVersion, storedVersion: result.storedVersion }));
        throw new ConcurrencyError(sagaId, expectedVersion, result.storedVersion, sagaName);
      case WriteStatus.NotFound:
      case WriteStatus.OtherSaga:
        throw new SagaNotFoundError(sagaName, sagaId, undefined);
      case WriteStatus.Unreadable:
        throw new DecodeError(valueKey, "stored value is unreadable; not overwritten");
      case WriteStatus.SchemaAhead:
        throw new SchemaVersionAheadError(sagaName, sagaId, valueKey, result.storedSchemaVersion, this.parts.schemas.knownVersion(sagaName));
      default:
        throw new InvalidStateError(sagaName, `unexpected write status ${result.status} at "${valueKey}"`);
    }
  }
}

function lostWrite(sagaName: string, sagaId: string, valueKey: string) {
  return (cause: unknown) => new WriteOutcomeUnknownError(sagaName, sagaId, valueKey, { cause });
}
