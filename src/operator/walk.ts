import type { EnvelopeSerializer } from "../../codecs/serializer";
import type { EngineCaller } from "../engine-caller";
import type { StoredEntry } from "../engine";
import type { KeyLayout } from "../keys";
import type { SchemaGate } from "../schema-gate";
import { RateLimit } from "./rate-limit";

/** What the operator API works with: the store's own parts. */
export interface OperatorParts {
  keys: KeyLayout;
  serializer: EnvelopeSerializer;
  schemas: SchemaGate;
  caller: EngineCaller;
}

export type OperatorOperation = "stats" | "verify" | "migrateAll" | "deleteCompleted";

/** Where a long operator run is. */
export interface OperatorProgress {
  operation: OperatorOperation;
  sagaName: string;
  /** "counting": the first pass, which only lists keys (or reads headers) to learn the total; "working": the run itself. */
  phase: "counting" | "working";
  /** Values done so far in this phase. */
  done: number;
  /** Working phase: the values the counting pass found. Sagas written meanwhile can make `done` pass it. */
  total: number | undefined;
  /** performance.now() when this phase began. */
  phaseStartedAt: number;
}

/** How a long operator run reports, stops and paces itself. */
export interface RunControl {
  /** Called after every batch. Given, a first pass counts the values (SCAN only) so the working phase has a total. */
  onProgress?(progress: OperatorProgress): void;
  /** Checked between batches: the run stops there and returns what it did, with `stopped: true`. */
  signal?: AbortSignal;
  /** At most this many values per second (each a few Redis commands); default no limit. */
  rate?: number;
  /** Values read per pipelined batch (default 500). */
  batchSize?: number;
}

export const DEFAULT_BATCH_SIZE = 500;

/**
 * A key an operator run found wrong. `code`: the error code a read (or the
 * run's rewrite) of it fails with (DECODE_FAILED, SCHEMA_VALIDATION_FAILED,
 * MIGRATION_FAILED, SCHEMA_VERSION_AHEAD, ...), or ORPHAN_INDEX for an id
 * index leading to no value of its saga.
 */
export interface OperatorProblem {
  sagaName: string;
  key: string;
  code: string;
  message: string;
  /** ORPHAN_INDEX with fixOrphans: whether it was deleted. */
  fixed?: boolean;
}

export interface ProblemReporting {
  /** Problems listed in the result (default 1000); all are counted, and all reach onProblem. */
  maxListed?: number;
  /** Called for every problem as it is found. */
  onProblem?(problem: OperatorProblem): void;
}

export const DEFAULT_MAX_LISTED = 1_000;

/** A reporter keeping the first maxListed problems in `list`. */
export function problemReporter(options: ProblemReporting, list: OperatorProblem[]): (problem: OperatorProblem) => void {
  const maxListed = options.maxListed ?? DEFAULT_MAX_LISTED;
  return (problem) => {
    if (list.length < maxListed) list.push(problem);
    options.onProblem?.(problem);
  };
}

/** One batch of a saga type's keys: value keys with their correlation ids, index keys with their saga ids. */
export interface KeyBatch {
  values: { key: string; correlationId: string }[];
  indexes: { key: string; sagaId: string }[];
}

/**
 * Every key of one saga type, in batches of at most `size`, by SCAN on every
 * primary: memory bounded by the batch, never the data. SCAN semantics: a
 * key written or deleted meanwhile may or may not be seen, and a key can
 * come twice if the server resizes its table during the walk.
 */
export async function* keyBatches(parts: OperatorParts, sagaName: string, size: number): AsyncIterable<KeyBatch> {
  const { keys, caller } = parts;
  const prefix = keys.sagaKeyPrefix(sagaName);
  const indexPrefix = `${prefix}idx:id:`;
  let batch: KeyBatch = { values: [], indexes: [] };
  for await (const scanned of caller.ready().scanPrefix(prefix)) {
    for (const key of scanned) {
      if (key.startsWith(indexPrefix)) {
        batch.indexes.push({ key, sagaId: key.slice(indexPrefix.length) });
      } else {
        const correlationId = keys.correlationIdOf(prefix, key);
        // Other "idx:" namespaces are reserved, and hold nothing this version writes.
        if (correlationId === undefined) continue;
        batch.values.push({ key, correlationId });
      }
      if (batch.values.length + batch.indexes.length >= size) {
        yield batch;
        batch = { values: [], indexes: [] };
      }
    }
  }
  if (batch.values.length + batch.indexes.length > 0) yield batch;
}

/**
 * Run `work` over every batch of a saga type's keys with `control`'s pacing,
 * stopping and progress (a counting pass first when progress is wanted);
 * `counted` replaces that pass (migrateAll counts while it checks headers).
 * Returns whether the run was stopped.
 */
export async function walkSaga(
  parts: OperatorParts,
  sagaName: string,
  operation: OperatorOperation,
  control: RunControl,
  work: (batch: KeyBatch) => Promise<void>,
  counted?: number,
): Promise<{ stopped: boolean }> {
  const limit = new RateLimit(control.rate);
  const size = limit.batchSize(control.batchSize ?? DEFAULT_BATCH_SIZE);
  const report = control.onProgress;
  const total = counted ?? (report ? await countValues(parts, sagaName, operation, control) : undefined);
  if (control.signal?.aborted) return { stopped: true };
  const phaseStartedAt = performance.now();
  let done = 0;
  report?.({ operation, sagaName, phase: "working", done, total, phaseStartedAt });
  // A few batches at once, so Redis works on one while Node decodes another; each awaited in turn bounds memory.
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  const settle = async (limitInFlight: number) => {
    while (inFlight.size > limitInFlight) await Promise.race(inFlight);
    if (failure !== undefined) throw failure;
  };
  let stopped = false;
  for await (const batch of keyBatches(parts, sagaName, size)) {
    await settle(BATCHES_IN_FLIGHT - 1);
    if (control.signal?.aborted) {
      stopped = true;
      break;
    }
    await limit.take(batch.values.length);
    const running: Promise<void> = work(batch).then(
      () => {
        done += batch.values.length;
        report?.({ operation, sagaName, phase: "working", done, total, phaseStartedAt });
      },
      (error: unknown) => {
        failure ??= error;
      },
    );
    inFlight.add(running);
    void running.finally(() => inFlight.delete(running));
  }
  await settle(0);
  return { stopped };
}

/** Batches a run works on at once: enough to keep Redis and Node both busy. */
const BATCHES_IN_FLIGHT = 3;

/** The counting pass: how many value keys a saga type has (SCAN only), reporting as it goes. */
export async function countValues(parts: OperatorParts, sagaName: string, operation: OperatorOperation, control: RunControl = {}): Promise<number> {
  const phaseStartedAt = performance.now();
  let done = 0;
  for await (const batch of keyBatches(parts, sagaName, 5_000)) {
    if (control.signal?.aborted) break;
    done += batch.values.length;
    control.onProgress?.({ operation, sagaName, phase: "counting", done, total: undefined, phaseStartedAt });
  }
  return done;
}

/** Batch reads through the store's retries and time bound. */
export function readEntries(parts: OperatorParts, keys: readonly string[], limitBytes?: number): Promise<StoredEntry[]> {
  return parts.caller.call((engine) => engine.readEntries(keys, limitBytes));
}
