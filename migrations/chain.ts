import type { z } from "zod";
import type { SagaDefinition, SchemaVersion } from "./define-saga";

/**
 * A saga's validated migration chain: contiguous versions first..latest,
 * an upgrade for every step, downgrades from latest to writeVersion.
 * Every step's result is parsed with its target schema, so each migration
 * receives exactly the output type its signature promises.
 */
export interface MigrationChain {
  readonly first: number;
  readonly latest: number;
  readonly writeVersion: number;
  /** Every version with its schema, oldest first. */
  readonly versions: readonly SchemaVersion[];
  /** Parse `state` with the schema of `version`. */
  parse(state: unknown, version: number): StepOutcome;
  /** Migrate an already parsed state from one version to another, parsing after each step. */
  migrate(state: unknown, from: number, to: number): StepOutcome;
}

export type StepOutcome =
  /** `state` is the schema's output; `raw` the value it parsed (what a write stores: the input form). */
  | { ok: true; state: unknown; raw: unknown }
  | { ok: false; kind: "threw"; from: number; to: number; cause: unknown }
  | { ok: false; kind: "invalid"; from: number; to: number; issues: z.core.$ZodIssue[] };

/** Every problem with a definition, so startup can report them all at once. */
export function chainProblems(definition: SagaDefinition): string[] {
  const problems: string[] = [];
  const where = `saga "${definition.name}"`;
  const versions = definition.versions;
  versions.forEach((entry, index) => {
    if (!Number.isSafeInteger(entry.version) || entry.version < 1) {
      problems.push(`${where}: version ${entry.version} is not a positive integer`);
    } else if (index > 0 && entry.version !== versions[index - 1]!.version + 1) {
      problems.push(`${where}: version ${entry.version} does not follow ${versions[index - 1]!.version} (versions must be contiguous)`);
    }
    if (!entry.schema || typeof (entry.schema as { safeParse?: unknown }).safeParse !== "function") {
      problems.push(`${where}: version ${entry.version} has no Zod schema`);
    }
    if (index > 0 && typeof entry.upgrade !== "function") {
      problems.push(`${where}: no upgrade from version ${versions[index - 1]!.version} to ${entry.version}`);
    }
  });
  const latest = versions[versions.length - 1]?.version;
  const writeVersion = definition.writeVersionNumber;
  if (writeVersion !== undefined && latest !== undefined) {
    const firstVersion = versions[0]!.version;
    if (!Number.isSafeInteger(writeVersion) || writeVersion < firstVersion || writeVersion > latest) {
      problems.push(`${where}: writeVersion ${writeVersion} is not one of its versions (${firstVersion}..${latest})`);
    } else {
      for (const entry of versions) {
        if (entry.version > writeVersion && typeof entry.downgrade !== "function") {
          problems.push(`${where}: writeVersion ${writeVersion} needs a downgrade from version ${entry.version} to ${entry.version - 1}`);
        }
      }
    }
  }
  return problems;
}

/** Build the chain of a definition that chainProblems() found no fault with. */
export function compileChain(definition: SagaDefinition): MigrationChain {
  const byVersion = new Map<number, SchemaVersion>(definition.versions.map((entry) => [entry.version, entry]));
  const latest = definition.versions[definition.versions.length - 1]!.version;

  const parse = (state: unknown, version: number, from = version): StepOutcome => {
    const result = byVersion.get(version)!.schema.safeParse(state);
    return result.success ? { ok: true, state: result.data, raw: state } : { ok: false, kind: "invalid", from, to: version, issues: result.error.issues };
  };

  const migrate = (state: unknown, from: number, to: number): StepOutcome => {
    let current = state;
    let raw = state;
    const step = from < to ? 1 : -1;
    for (let version = from; version !== to; version += step) {
      const target = version + step;
      const transform = step === 1 ? byVersion.get(target)!.upgrade! : byVersion.get(version)!.downgrade!;
      try {
        current = transform(current);
      } catch (cause) {
        return { ok: false, kind: "threw", from: version, to: target, cause };
      }
      const parsed = parse(current, target, version);
      if (!parsed.ok) return parsed;
      raw = current;
      current = parsed.state;
    }
    return { ok: true, state: current, raw };
  };

  return {
    first: definition.versions[0]!.version,
    latest,
    writeVersion: definition.writeVersionNumber ?? latest,
    versions: definition.versions,
    parse: (state, version) => parse(state, version),
    migrate,
  };
}
