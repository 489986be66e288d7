import type { DecodedValue, EnvelopeSerializer } from "../codecs/serializer";
import type { SagaCodec } from "../codecs/codec";
import type { StepOutcome } from "../migrations/chain";
import { MigrationError, SchemaValidationError, SchemaVersionAheadError } from "./errors";
import type { RegisteredSaga, SagaRegistry } from "./registry";
import { readSagaId, type AnySagaState } from "./state-shape";

/** Envelope schema version for sagas the registry does not declare (or with no registry). */
export const UNREGISTERED_SCHEMA_VERSION = 1;

export interface PreparedWrite {
  /** What goes into the envelope: the state at the version being written. */
  stored: AnySagaState;
  /** What the caller gets back: the state at the latest version. */
  saved: AnySagaState;
  schemaVersion: number;
  codec: SagaCodec;
}

/**
 * Where states cross the registry: validated (and downgraded) before a
 * write, upgraded and validated after a read. Schemas describe the saga's
 * fields; the store's own fields are kept aside (see withStoreFields).
 */
export class SchemaGate {
  private readonly codecs = new Map<string, SagaCodec>();

  constructor(
    private readonly registry: SagaRegistry<any> | undefined,
    private readonly serializer: EnvelopeSerializer,
  ) {
    for (const name of registry?.names ?? []) {
      const codec = registry!.lookup(name)!.codec;
      if (codec !== undefined) this.codecs.set(name, serializer.resolveCodec(codec));
    }
  }

  /** Highest schema version this process knows for a saga. */
  knownVersion(sagaName: string): number {
    return this.registry?.lookup(sagaName)?.chain.latest ?? UNREGISTERED_SCHEMA_VERSION;
  }

  /** Also rejects unknown sagas of a strict registry before any I/O. */
  checkSaga(sagaName: string): void {
    this.registry?.lookup(sagaName);
  }

  /**
   * Validate a state for writing at `schemaVersion` (default: the saga's
   * writeVersion). What is stored is the validated input form, so a schema's
   * transforms run on read exactly as they did on write.
   */
  prepareWrite(sagaName: string, sagaId: string, state: AnySagaState, schemaVersion?: number): PreparedWrite {
    const codec = this.codecs.get(sagaName) ?? this.serializer.writeCodec;
    const saga = this.registry?.lookup(sagaName);
    if (!saga) return { stored: state, saved: state, schemaVersion: UNREGISTERED_SCHEMA_VERSION, codec };
    const { chain } = saga;
    const target = schemaVersion ?? chain.writeVersion;
    const fields = withoutMetadata(state);
    const latest = chain.parse(fields, chain.latest);
    if (!latest.ok) throw writeFailure(sagaName, sagaId, latest);
    let written: StepOutcome = latest;
    if (target !== chain.latest) {
      written = chain.migrate(latest.state, chain.latest, target);
      if (!written.ok) throw writeFailure(sagaName, sagaId, written);
    }
    return {
      // At the latest version the validated input is the state itself: no copy.
      stored: target === chain.latest ? state : withStoreFields(written.raw, state),
      saved: withStoreFields(latest.state, state),
      schemaVersion: target,
      codec,
    };
  }

  /** Bring a decoded value to the latest schema. Fails closed on versions from the future. */
  materialize(sagaName: string, key: string, decoded: DecodedValue): AnySagaState {
    const saga = this.registry?.lookup(sagaName);
    if (!saga) return decoded.state;
    return upgrade(sagaName, key, decoded, saga, this.registry!.legacySchemaVersion);
  }
}

function upgrade(sagaName: string, key: string, decoded: DecodedValue, { chain }: RegisteredSaga, legacyVersion: number): AnySagaState {
  const stored = decoded.schemaVersion ?? legacyVersion;
  const sagaId = readSagaId(decoded.state);
  if (stored > chain.latest) throw new SchemaVersionAheadError(sagaName, sagaId, key, stored, chain.latest);
  if (stored < chain.first) {
    throw new MigrationError(sagaName, sagaId, key, stored, chain.first, {
      cause: new Error(`schema version ${stored} is older than the oldest one registered (${chain.first})`),
    });
  }
  const parsed = chain.parse(withoutMetadata(decoded.state), stored);
  if (!parsed.ok) {
    const invalid = readFailure(sagaName, sagaId, parsed);
    if (stored === chain.latest) throw invalid;
    throw new MigrationError(sagaName, sagaId, key, stored, chain.latest, { cause: invalid });
  }
  if (stored === chain.latest) return withStoreFields(parsed.state, decoded.state);
  const upgraded = chain.migrate(parsed.state, stored, chain.latest);
  if (!upgraded.ok) {
    const cause = upgraded.kind === "threw" ? upgraded.cause : readFailure(sagaName, sagaId, upgraded);
    throw new MigrationError(sagaName, sagaId, key, upgraded.from, upgraded.to, { cause });
  }
  return withStoreFields(upgraded.state, decoded.state);
}

type Failed = Exclude<StepOutcome, { ok: true }>;

function writeFailure(sagaName: string, sagaId: string, failed: Failed): Error {
  if (failed.kind === "threw") return new MigrationError(sagaName, sagaId, undefined, failed.from, failed.to, { cause: failed.cause });
  return new SchemaValidationError(sagaName, sagaId, failed.to, failed.issues, "write");
}

function readFailure(sagaName: string, sagaId: string | undefined, failed: Failed): SchemaValidationError {
  return new SchemaValidationError(sagaName, sagaId, failed.to, failed.kind === "invalid" ? failed.issues : [], "read");
}

function withoutMetadata(state: AnySagaState): AnySagaState {
  if (!("metadata" in state)) return state;
  const { metadata: _metadata, ...fields } = state;
  return fields;
}

/**
 * The fields the store relies on survive any schema: `metadata` is never
 * shown to it, and the seed shape's `id` and `correlationId` are carried over
 * when the schema does not declare them (a schema that does, validates them).
 * `fields` is a schema's fresh output or a migration's result, so it is
 * completed in place rather than copied.
 */
function withStoreFields(fields: unknown, source: AnySagaState): AnySagaState {
  const result = fields as AnySagaState;
  if (source.metadata !== undefined) result.metadata = source.metadata;
  if (source.id !== undefined && !("id" in result)) result.id = source.id;
  if (source.correlationId !== undefined && !("correlationId" in result)) result.correlationId = source.correlationId;
  return result;
}
