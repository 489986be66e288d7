import type { DecodedValue, EnvelopeSerializer } from "../codecs/serializer";
import type { SagaCodec } from "../codecs/codec";
import type { MigrationChain, StepOutcome } from "../migrations/chain";
import { jsonCodec } from "../codecs/index";
import { LEGACY_WRITE_FORMAT } from "../codecs/legacy-json";
import { InvalidStateError, MigrationError, RegistryInvalidError, SchemaValidationError, SchemaVersionAheadError } from "./errors";
import { jsonUnsafeFields } from "./schema-json-compat";
import type { RegisteredSaga, SagaRegistry } from "./registry";
import { isSagaBusShaped, readSagaId, type AnySagaState } from "../codecs/state-shape";

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
  /** writeFormat "0.2.2": values are written at the schema version 0.2.2 values are read as. */
  private readonly legacyWrites: boolean;

  constructor(
    private readonly registry: SagaRegistry<any> | undefined,
    private readonly serializer: EnvelopeSerializer,
  ) {
    this.legacyWrites = serializer.writeFormat === LEGACY_WRITE_FORMAT;
    const problems: string[] = [];
    for (const name of registry?.names ?? []) {
      const saga = registry!.lookup(name)!;
      if (saga.codec !== undefined) this.codecs.set(name, serializer.resolveCodec(saga.codec));
      const codec = this.codecs.get(name) ?? serializer.writeCodec;
      if (codec === jsonCodec) problems.push(...jsonCodecProblems(name, saga));
      if (this.legacyWrites) problems.push(...legacyWriteProblems(name, saga, codec, registry!.legacySchemaVersion));
    }
    if (problems.length > 0) throw new RegistryInvalidError(problems);
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
    if (this.legacyWrites && target !== chain.writeVersion) {
      // Asked to write at the stored version (a saga already stored above writeVersion): plain JSON is always read
      // as legacySchemaVersion, so it would claim the wrong version, and a lower one would drop that version's fields.
      throw new InvalidStateError(
        sagaName,
        `saga ${sagaId} is stored at schema version ${target}; writeFormat "0.2.2" writes schema version ${chain.writeVersion} ` +
          `(legacySchemaVersion) only and does not overwrite newer data: not written. Write it with writeFormat "envelope".`,
      );
    }
    const fields = withoutStoreFields(state);
    const latest = chain.parse(fields, chain.latest);
    if (!latest.ok) throw writeFailure(sagaName, sagaId, latest);
    let written: StepOutcome = latest;
    if (target !== chain.latest) {
      written = chain.migrate(latest.state, chain.latest, target);
      if (!written.ok) throw writeFailure(sagaName, sagaId, written);
    }
    const complete = withCompleteMetadata(state);
    return {
      // At the latest version the validated input is the state itself: no copy.
      stored: target === chain.latest ? complete : withStoreFields(written.raw, complete),
      saved: withStoreFields(latest.state, complete),
      schemaVersion: target,
      codec,
    };
  }

  /** Bring a decoded value to the latest schema. Fails closed on versions from the future. */
  materialize(sagaName: string, key: string, decoded: DecodedValue): AnySagaState {
    const saga = this.registry?.lookup(sagaName);
    if (!saga) return decoded.state;
    return withStoreFields(upgrade(sagaName, key, decoded, saga, this.registry!.legacySchemaVersion, saga.chain.latest).state, decoded.state);
  }

  /** The schema version a decoded value is read as: its envelope's, else (0.2.2 JSON) the registry's legacySchemaVersion. */
  storedVersion(sagaName: string, decoded: DecodedValue): number {
    return decoded.schemaVersion ?? this.legacyVersion(sagaName);
  }

  /** The schema version a 0.2.2 value (plain JSON, no header) of this saga is read as. */
  legacyVersion(sagaName: string): number {
    // Any saga name, even one a strict registry does not declare: counting never refuses.
    return this.registry?.names.includes(sagaName) ? this.registry.legacySchemaVersion : UNREGISTERED_SCHEMA_VERSION;
  }

  /**
   * A stored value as a rewrite at schema version `to` stores it (the
   * operator API's migration): upgraded to `to`, validated at every step, in
   * its input form, beside the store's fields. A saga the registry does not
   * declare keeps its fields as they are.
   */
  rewriteAt(sagaName: string, key: string, decoded: DecodedValue, to: number): AnySagaState {
    const saga = this.registry?.lookup(sagaName);
    if (!saga) return decoded.state;
    return withStoreFields(upgrade(sagaName, key, decoded, saga, this.registry!.legacySchemaVersion, to).raw, decoded.state);
  }

  /** The saga's chain, for the operator API's checks; undefined for a saga the registry does not declare. */
  chainOf(sagaName: string): MigrationChain | undefined {
    return this.registry?.lookup(sagaName)?.chain;
  }
}

/**
 * The json codec stores a state's input form as JSON, which brings a Date
 * back as a string (a Map as {}, ...): a schema declaring one would accept
 * the write and reject every read. Refused at startup, for every version
 * (old versions parse stored values too), pointing at the codecs that keep them.
 */
function jsonCodecProblems(sagaName: string, { chain }: RegisteredSaga): string[] {
  return chain.versions.flatMap(({ version, schema }) =>
    jsonUnsafeFields(schema).map(
      ({ path, type }) =>
        `saga "${sagaName}" version ${version}: ${path} is a ${type} field, which the json codec cannot read back; ` +
        `use codec "superjson" or "msgpack" (store option, or defineSaga(...).withCodec)`,
    ),
  );
}

/**
 * writeFormat "0.2.2" writes plain JSON, which every reader (0.2.2, and this
 * store) takes as schema version legacySchemaVersion: each saga must write
 * exactly that version, with the json codec.
 */
function legacyWriteProblems(sagaName: string, { chain }: RegisteredSaga, codec: SagaCodec, legacySchemaVersion: number): string[] {
  const problems: string[] = [];
  if (codec !== jsonCodec) {
    problems.push(`saga "${sagaName}": writeFormat "0.2.2" writes plain JSON, but the saga's codec is "${codec.name}" (withCodec): use json`);
  }
  if (chain.writeVersion !== legacySchemaVersion) {
    problems.push(
      `saga "${sagaName}": writeFormat "0.2.2" values are read back as legacySchemaVersion ${legacySchemaVersion}, ` +
        `but the saga writes schema version ${chain.writeVersion}: set .writeVersion(${legacySchemaVersion}) (with downgrades) or the registry's legacySchemaVersion`,
    );
  }
  return problems;
}

/**
 * A decoded value upgraded from its stored schema version to `to` (never
 * down), validated at every step: the schema's output and the input form
 * that parsed into it (what a write stores).
 */
function upgrade(sagaName: string, key: string, decoded: DecodedValue, { chain }: RegisteredSaga, legacyVersion: number, to: number): { state: unknown; raw: unknown } {
  const stored = decoded.schemaVersion ?? legacyVersion;
  const sagaId = readSagaId(decoded.state);
  if (stored > chain.latest) throw new SchemaVersionAheadError(sagaName, sagaId, key, stored, chain.latest);
  if (stored < chain.first) {
    throw new MigrationError(sagaName, sagaId, key, stored, chain.first, {
      cause: new Error(`schema version ${stored} is older than the oldest one registered (${chain.first})`),
    });
  }
  const parsed = chain.parse(withoutStoreFields(decoded.state), stored);
  if (!parsed.ok) {
    const invalid = readFailure(sagaName, sagaId, parsed);
    if (stored === to) throw invalid;
    throw new MigrationError(sagaName, sagaId, key, stored, to, { cause: invalid });
  }
  if (stored === to) return parsed;
  const upgraded = chain.migrate(parsed.state, stored, to);
  if (!upgraded.ok) {
    const cause = upgraded.kind === "threw" ? upgraded.cause : readFailure(sagaName, sagaId, upgraded);
    throw new MigrationError(sagaName, sagaId, key, upgraded.from, upgraded.to, { cause });
  }
  return upgraded;
}

type Failed = Exclude<StepOutcome, { ok: true }>;

function writeFailure(sagaName: string, sagaId: string, failed: Failed): Error {
  if (failed.kind === "threw") return new MigrationError(sagaName, sagaId, undefined, failed.from, failed.to, { cause: failed.cause });
  return new SchemaValidationError(sagaName, sagaId, failed.to, failed.issues, "write");
}

function readFailure(sagaName: string, sagaId: string | undefined, failed: Failed): SchemaValidationError {
  return new SchemaValidationError(sagaName, sagaId, failed.to, failed.kind === "invalid" ? failed.issues : [], "read");
}

/** What the store keeps for itself in each shape: never shown to a schema, so strict schemas work. */
const BUS_STORE_FIELDS = ["metadata"] as const;
const SEED_STORE_FIELDS = ["id", "correlationId", "version", "metadata"] as const;

function storeFieldsOf(state: AnySagaState): readonly string[] {
  return isSagaBusShaped(state) ? BUS_STORE_FIELDS : SEED_STORE_FIELDS;
}

function withoutStoreFields(state: AnySagaState): AnySagaState {
  const own = storeFieldsOf(state);
  if (!own.some((field) => field in state)) return state;
  const fields: AnySagaState = {};
  for (const field of Object.keys(state)) if (!own.includes(field)) fields[field] = state[field];
  return fields;
}

/**
 * Put the store's fields of `source` back beside the saga's own. `fields` is
 * a schema's fresh output or a migration's result (or a copy), so it is
 * completed in place.
 */
function withStoreFields(fields: unknown, source: AnySagaState): AnySagaState {
  const result = fields as AnySagaState;
  for (const field of storeFieldsOf(source)) if (source[field] !== undefined) result[field] = source[field];
  return result;
}

/**
 * A registered saga-bus state's reads promise the whole metadata, and a
 * write needs only `metadata.sagaId`: what the bus always sends but a
 * caller left out is filled in (createdAt/updatedAt now, not completed).
 */
function withCompleteMetadata(state: AnySagaState): AnySagaState {
  if (!isSagaBusShaped(state)) return state;
  const metadata = state.metadata as Record<string, unknown>;
  if (metadata.createdAt instanceof Date && metadata.updatedAt instanceof Date && typeof metadata.isCompleted === "boolean") return state;
  const now = new Date();
  return {
    ...state,
    metadata: {
      ...metadata,
      createdAt: metadata.createdAt instanceof Date ? metadata.createdAt : now,
      updatedAt: metadata.updatedAt instanceof Date ? metadata.updatedAt : now,
      isCompleted: typeof metadata.isCompleted === "boolean" ? metadata.isCompleted : false,
    },
  };
}
