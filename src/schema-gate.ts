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
 * write, upgraded and validated after a read. The store's own `metadata`
 * field is set aside, so schemas describe only the saga's fields.
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

  prepareWrite(sagaName: string, sagaId: string, state: AnySagaState): PreparedWrite {
    const codec = this.codecs.get(sagaName) ?? this.serializer.writeCodec;
    const saga = this.registry?.lookup(sagaName);
    if (!saga) return { stored: state, saved: state, schemaVersion: UNREGISTERED_SCHEMA_VERSION, codec };
    const { chain } = saga;
    const { metadata, fields } = splitMetadata(state);
    const latest = chain.parse(fields, chain.latest);
    if (!latest.ok) throw writeFailure(sagaName, sagaId, latest);
    let written: StepOutcome = latest;
    if (chain.writeVersion !== chain.latest) {
      written = chain.migrate(latest.state, chain.latest, chain.writeVersion);
      if (!written.ok) throw writeFailure(sagaName, sagaId, written);
    }
    return {
      stored: joinMetadata(written.state, metadata),
      saved: joinMetadata(latest.state, metadata),
      schemaVersion: chain.writeVersion,
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
  const { metadata, fields } = splitMetadata(decoded.state);
  const parsed = chain.parse(fields, stored);
  if (!parsed.ok) {
    const invalid = readFailure(sagaName, sagaId, parsed);
    if (stored === chain.latest) throw invalid;
    throw new MigrationError(sagaName, sagaId, key, stored, chain.latest, { cause: invalid });
  }
  if (stored === chain.latest) return joinMetadata(parsed.state, metadata);
  const upgraded = chain.migrate(parsed.state, stored, chain.latest);
  if (!upgraded.ok) {
    const cause = upgraded.kind === "threw" ? upgraded.cause : readFailure(sagaName, sagaId, upgraded);
    throw new MigrationError(sagaName, sagaId, key, upgraded.from, upgraded.to, { cause });
  }
  return joinMetadata(upgraded.state, metadata);
}

type Failed = Exclude<StepOutcome, { ok: true }>;

function writeFailure(sagaName: string, sagaId: string, failed: Failed): Error {
  if (failed.kind === "threw") return new MigrationError(sagaName, sagaId, undefined, failed.from, failed.to, { cause: failed.cause });
  return new SchemaValidationError(sagaName, sagaId, failed.to, failed.issues, "write");
}

function readFailure(sagaName: string, sagaId: string | undefined, failed: Failed): SchemaValidationError {
  return new SchemaValidationError(sagaName, sagaId, failed.to, failed.kind === "invalid" ? failed.issues : [], "read");
}

function splitMetadata(state: AnySagaState): { metadata: unknown; fields: AnySagaState } {
  if (!("metadata" in state)) return { metadata: undefined, fields: state };
  const { metadata, ...fields } = state;
  return { metadata, fields };
}

function joinMetadata(fields: unknown, metadata: unknown): AnySagaState {
  return metadata === undefined ? (fields as AnySagaState) : { ...(fields as AnySagaState), metadata };
}
