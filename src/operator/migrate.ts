import { HEADER_SIZE, storedBytesOf } from "../../codecs/envelope";
import type { SagaCodec } from "../../codecs/codec";
import { jsonCodec, type BuiltInCodecName } from "../../codecs/index";
import { LEGACY_WRITE_FORMAT, assertLegacyCorrelationId, assertWriteFormat, type WriteFormat } from "../../codecs/legacy-json";
import { identityOf, writeIdentity } from "../../codecs/stored-identity";
import { readSagaId } from "../../codecs/state-shape";
import type { ReplaceRequest } from "../engine";
import { DecodeError, MigrationRefusedError, isSagaStoreError } from "../errors";
import { UNREGISTERED_SCHEMA_VERSION } from "../schema-gate";
import { storedForm } from "./stored-form";
import { keyBatches, problemReporter, readEntries, walkSaga, type OperatorParts, type OperatorProblem, type ProblemReporting, type RunControl } from "./walk";

export interface MigrateOptions extends RunControl, ProblemReporting {
  /**
   * The schema version values are brought to: "latest", or a number. Never
   * above the registry's writeVersion (a version the fleet does not write
   * yet may be unknown to instances still running). Default: "latest" when
   * neither codec nor format is given, else the stored version is kept.
   */
  toSchema?: "latest" | number;
  /** Rewrite in this codec (default: each value keeps its own). */
  codec?: BuiltInCodecName | SagaCodec;
  /** Rewrite in this form: "envelope", or "0.2.2" plain JSON for a rollback to 0.2.2 (default: each value keeps its own). */
  format?: WriteFormat;
  /**
   * Also rewrite every value not encrypted under the store's current key
   * (values of another key, and unencrypted ones): a key rotation's last
   * step. Needs the store's encryption option. Alone, it keeps each value's
   * schema version.
   */
  reencrypt?: boolean;
  /** Count what would be rewritten, and write nothing. */
  dryRun?: boolean;
  /** Values rewritten per round trip (default 256). */
  concurrency?: number;
}

export interface MigrateResult {
  sagaName: string;
  /** What "at the target" means; undefined: any. */
  target: { schemaVersion: number | undefined; codec: string | undefined; format: WriteFormat | undefined; keyId: string | undefined };
  /** Values the first pass found, by the schema version they are stored at (0.2.2 values: the one they are read as). */
  found: { total: number; bySchemaVersion: Record<string, number> };
  /** Values the rewriting pass saw. */
  checked: number;
  /** Values rewritten at the target (with dryRun: that would be). */
  migrated: number;
  alreadyAtTarget: number;
  /** Stored at a schema version above the target: left as they are, a migration never writes an older one. */
  ahead: number;
  /** Rewrites that found the value changed by a live write since it was read, and reloaded it (once per reload). */
  reloaded: number;
  /** A live write changed the value at every attempt: left to it (a re-run migrates it if it is still not at the target). */
  contended: number;
  /** Deleted meanwhile. */
  gone: number;
  /** Values that cannot be read, upgraded or written at the target; listed in problems. */
  failed: number;
  problems: OperatorProblem[];
  dryRun: boolean;
  stopped: boolean;
}

const DEFAULT_CONCURRENCY = 256;
/** Attempts at one value, each after a live write changed it under the rewrite. */
const MAX_ATTEMPTS = 10;

interface Target {
  schemaVersion: number | undefined;
  codec: SagaCodec | undefined;
  format: WriteFormat | undefined;
  /** reencrypt: the key id every value is to be encrypted under. */
  keyId: string | undefined;
}

/**
 * Rewrite every value of a saga type that is not yet at the target, each by
 * replace-value's compare-and-set on the exact bytes read (src/lua/replace-value.lua):
 * a live write in between makes it reload and try again, never overwrite.
 * The rewrite keeps the saga version, the write token and the expiry, so
 * instances that loaded the value before still update it without a conflict.
 * A first pass reads every header: a stored schema version the registry
 * does not know refuses the whole run before anything is written.
 */
export async function migrateSaga(parts: OperatorParts, sagaName: string, options: MigrateOptions = {}): Promise<MigrateResult> {
  const target = resolveTarget(parts, sagaName, options);
  const result: MigrateResult = {
    sagaName,
    target: { schemaVersion: target.schemaVersion, codec: target.codec?.name, format: target.format, keyId: target.keyId },
    found: { total: 0, bySchemaVersion: {} },
    checked: 0,
    migrated: 0,
    alreadyAtTarget: 0,
    ahead: 0,
    reloaded: 0,
    contended: 0,
    gone: 0,
    failed: 0,
    problems: [],
    dryRun: options.dryRun === true,
    stopped: false,
  };
  if (!(await countStoredVersions(parts, sagaName, options, result.found))) return { ...result, stopped: true };
  refuseUnknownVersions(parts, sagaName, result.found.bySchemaVersion);
  const report = problemReporter(options, result.problems);
  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);

  /** Rewrite these values, reloading each one a live write changed meanwhile, up to MAX_ATTEMPTS times. */
  const migrateBatch = async (batch: { key: string; correlationId: string; bytes: Buffer | null }[]): Promise<void> => {
    let pending = batch;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const writes: { key: string; correlationId: string; request: ReplaceRequest }[] = [];
      for (const { key, correlationId, bytes } of pending) {
        if (!bytes) {
          result.gone++;
          continue;
        }
        let rewrite: Buffer | "at-target" | "ahead";
        try {
          rewrite = rewriteOf(parts, sagaName, key, correlationId, bytes, target);
        } catch (error) {
          if (!isSagaStoreError(error)) throw error;
          result.failed++;
          report({ sagaName, key, code: error.code, message: error.message });
          continue;
        }
        if (rewrite === "at-target") result.alreadyAtTarget++;
        else if (rewrite === "ahead") result.ahead++;
        else if (result.dryRun) result.migrated++;
        else writes.push({ key, correlationId, request: { valueKey: key, expected: writeIdentity(bytes), replacement: rewrite, correlationId } });
      }
      const changed: { key: string; correlationId: string }[] = [];
      for (let start = 0; start < writes.length; start += concurrency) {
        const chunk = writes.slice(start, start + concurrency);
        const replaced = await parts.caller.call((engine) => engine.replaceValues(chunk.map(({ request }) => request)));
        chunk.forEach((write, i) => (replaced[i] ? result.migrated++ : changed.push(write)));
      }
      if (changed.length === 0) return;
      if (attempt === MAX_ATTEMPTS) {
        result.contended += changed.length;
        return;
      }
      result.reloaded += changed.length;
      const reloaded = await readEntries(parts, changed.map(({ key }) => key));
      pending = changed.map((write, i) => ({ ...write, bytes: reloaded[i]!.bytes }));
    }
  };

  const { stopped } = await walkSaga(
    parts,
    sagaName,
    "migrateAll",
    options,
    async ({ values }) => {
      const entries = await readEntries(parts, values.map(({ key }) => key));
      result.checked += entries.filter(({ bytes }) => bytes).length;
      await migrateBatch(values.flatMap(({ key, correlationId }, i) => (entries[i]!.bytes ? [{ key, correlationId, bytes: entries[i]!.bytes }] : [])));
    },
    result.found.total,
  );
  result.stopped = stopped;
  return result;
}

function resolveTarget(parts: OperatorParts, sagaName: string, options: MigrateOptions): Target {
  const { serializer, schemas } = parts;
  const chain = schemas.chainOf(sagaName);
  if (options.format !== undefined) assertWriteFormat(options.format, "format");
  const codec = options.codec === undefined ? undefined : serializer.resolveCodec(options.codec);
  const legacy = options.format === LEGACY_WRITE_FORMAT;
  if (legacy && codec !== undefined && codec !== jsonCodec) {
    throw new MigrationRefusedError(sagaName, `format "0.2.2" is plain JSON, which codec "${codec.name}" cannot produce`);
  }
  if (options.reencrypt && !serializer.keyRing) throw new MigrationRefusedError(sagaName, "reencrypt needs the store's encryption option (saga-store: --encryption <module>)");
  if (options.reencrypt && legacy) throw new MigrationRefusedError(sagaName, 'format "0.2.2" is plain JSON, which cannot be encrypted');
  const keyId = options.reencrypt ? serializer.keyRing!.currentKeyId : undefined;
  const toSchema = options.toSchema ?? (codec === undefined && options.format === undefined && !options.reencrypt ? "latest" : undefined);
  let schemaVersion: number | undefined;
  if (toSchema !== undefined) {
    if (!chain) throw new MigrationRefusedError(sagaName, "the saga is not in the registry, so its schema version cannot change (give --registry, or only a codec or format)");
    schemaVersion = toSchema === "latest" ? chain.latest : toSchema;
    if (!Number.isSafeInteger(schemaVersion) || schemaVersion < chain.first || schemaVersion > chain.latest) {
      throw new MigrationRefusedError(sagaName, `schema version ${toSchema} is not one of the registry's (${chain.first}..${chain.latest})`);
    }
    if (schemaVersion > chain.writeVersion) {
      throw new MigrationRefusedError(
        sagaName,
        `the registry writes schema version ${chain.writeVersion} (writeVersion), so instances may still run that cannot read ${schemaVersion}; ` +
          `migrate to ${chain.writeVersion}, or first deploy writeVersion ${schemaVersion} everywhere (phase 2 of the two-phase rollout)`,
      );
    }
  }
  if (legacy) {
    // Plain JSON carries no schema version: every reader takes it as legacySchemaVersion.
    const legacyVersion = schemas.legacyVersion(sagaName);
    if (schemaVersion !== undefined && schemaVersion !== legacyVersion) {
      throw new MigrationRefusedError(sagaName, `format "0.2.2" values are read as schema version ${legacyVersion} (legacySchemaVersion), not ${schemaVersion}`);
    }
    schemaVersion = legacyVersion;
  }
  return { schemaVersion, codec: legacy ? jsonCodec : codec, format: options.format, keyId };
}

/** The first pass: every value's stored schema version, from its header alone (a 0.2.2 value: the version it is read as). False when stopped. */
async function countStoredVersions(parts: OperatorParts, sagaName: string, control: RunControl, found: MigrateResult["found"]): Promise<boolean> {
  const phaseStartedAt = performance.now();
  const legacyVersion = parts.schemas.legacyVersion(sagaName);
  for await (const { values } of keyBatches(parts, sagaName, 2_000)) {
    if (control.signal?.aborted) return false;
    for (const { bytes } of await readEntries(parts, values.map(({ key }) => key), HEADER_SIZE)) {
      if (!bytes) continue;
      found.total++;
      // An unreadable header is counted by the rewriting pass, as a failure of that value.
      const form = storedForm(parts.serializer, bytes);
      const version = form.format === "0.2.2" ? legacyVersion : form.header?.schemaVersion;
      if (version !== undefined) found.bySchemaVersion[version] = (found.bySchemaVersion[version] ?? 0) + 1;
    }
    control.onProgress?.({ operation: "migrateAll", sagaName, phase: "counting", done: found.total, total: undefined, phaseStartedAt });
  }
  return true;
}

function refuseUnknownVersions(parts: OperatorParts, sagaName: string, bySchemaVersion: Record<string, number>): void {
  const chain = parts.schemas.chainOf(sagaName);
  const first = chain?.first ?? UNREGISTERED_SCHEMA_VERSION;
  const latest = chain?.latest ?? UNREGISTERED_SCHEMA_VERSION;
  const unknown = Object.entries(bySchemaVersion).filter(([version]) => Number(version) < first || Number(version) > latest);
  if (unknown.length === 0) return;
  throw new MigrationRefusedError(
    sagaName,
    `stored values are at schema versions the registry does not know (${unknown.map(([v, n]) => `${n} at ${v}`).join(", ")}; it knows ${first}..${latest})`,
  );
}

/** What one value needs: nothing (at the target, or ahead of it), or these bytes in its place. */
function rewriteOf(
  parts: OperatorParts,
  sagaName: string,
  key: string,
  correlationId: string,
  bytes: Buffer,
  target: Target,
): Buffer | "at-target" | "ahead" {
  const { serializer, schemas } = parts;
  const form = storedForm(serializer, bytes);
  // An envelope's header says all the decision needs (a re-run decodes nothing it skips; verify decodes every
  // value). Anything else is decoded first, so bytes that are no 0.2.2 value fail here rather than pass as one.
  let decoded = form.header ? undefined : serializer.decode(key, bytes);
  const storedVersion = form.header?.schemaVersion ?? schemas.legacyVersion(sagaName);
  const storedCodec = form.header ? serializer.codecById(form.header.codecId) : jsonCodec;
  if (!storedCodec) throw new DecodeError(key, `unknown codec id ${form.header!.codecId}`);
  const storedFormat: WriteFormat = form.format === "envelope" ? "envelope" : LEGACY_WRITE_FORMAT;
  if (target.schemaVersion !== undefined && storedVersion > target.schemaVersion) return "ahead";
  const schemaVersion = target.schemaVersion ?? storedVersion;
  const codec = target.codec ?? storedCodec;
  // Plain JSON is json read as legacySchemaVersion, never encrypted: a 0.2.2 value brought to another version or
  // codec, or to encryption, becomes an envelope.
  const outgrowsPlain = schemaVersion !== schemas.legacyVersion(sagaName) || codec !== jsonCodec || target.keyId !== undefined;
  const format = target.format ?? (storedFormat === LEGACY_WRITE_FORMAT && outgrowsPlain ? "envelope" : storedFormat);
  const encryptedAsWanted = target.keyId === undefined || form.keyId === target.keyId;
  if (schemaVersion === storedVersion && codec === storedCodec && format === storedFormat && encryptedAsWanted) return "at-target";
  decoded ??= serializer.decode(key, bytes);
  const state = schemas.rewriteAt(sagaName, key, decoded, schemaVersion);
  const sagaId = readSagaId(state);
  if (sagaId === undefined) throw new MigrationRefusedError(sagaName, `the value at "${key}" names no saga id`);
  if (format === LEGACY_WRITE_FORMAT) assertLegacyCorrelationId(correlationId);
  const sagaVersion = decoded.sagaVersion ?? identityOf(bytes)?.version ?? 0;
  const request = serializer.encode(sagaName, state, { sagaId, sagaVersion, schemaVersion, writeToken: form.writeToken }, codec, format);
  return storedBytesOf(request);
}

