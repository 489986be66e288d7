import { isCompleted, readSagaId, readUpdatedAt } from "../../codecs/state-shape";
import { writeIdentity } from "../../codecs/stored-identity";
import { isSagaStoreError } from "../errors";
import { problemReporter, readEntries, walkSaga, type OperatorParts, type OperatorProblem, type ProblemReporting, type RunControl } from "./walk";

export interface DeleteCompletedOptions extends RunControl, ProblemReporting {
  /** Sagas completed and last saved before this moment are deleted. */
  before: Date;
  /** Count what would be deleted, and delete nothing. */
  dryRun?: boolean;
}

export interface DeleteCompletedResult {
  sagaName: string;
  before: Date;
  /** Values read. */
  checked: number;
  /** Completed, and last saved (metadata.updatedAt) before `before`. */
  matched: number;
  /** Deleted (with dryRun: 0). */
  deleted: number;
  /** Written or deleted by someone else between the read and the delete: left as they are. */
  changedMeanwhile: number;
  /** Values that cannot be decoded: never deleted by this; listed in problems. */
  failed: number;
  problems: OperatorProblem[];
  dryRun: boolean;
  stopped: boolean;
}

/**
 * Delete a saga type's completed sagas last saved before a date, each only
 * while it is still exactly the value read (src/lua/replace-value.lua), with
 * its id index. As saga-bus's SQL stores' deleteCompletedBefore.
 */
export async function deleteCompletedSagas(parts: OperatorParts, sagaName: string, options: DeleteCompletedOptions): Promise<DeleteCompletedResult> {
  const before = options.before;
  const result: DeleteCompletedResult = { sagaName, before, checked: 0, matched: 0, deleted: 0, changedMeanwhile: 0, failed: 0, problems: [], dryRun: options.dryRun === true, stopped: false };
  const report = problemReporter(options, result.problems);
  const { stopped } = await walkSaga(parts, sagaName, "deleteCompleted", options, async ({ values }) => {
    const entries = await readEntries(parts, values.map(({ key }) => key));
    const doomed: { key: string; correlationId: string; bytes: Buffer; sagaId: string | undefined }[] = [];
    entries.forEach(({ bytes }, i) => {
      if (!bytes) return;
      const { key, correlationId } = values[i]!;
      result.checked++;
      let state: Record<string, unknown>;
      try {
        state = parts.serializer.decode(key, bytes).state;
      } catch (error) {
        if (!isSagaStoreError(error)) throw error;
        result.failed++;
        report({ sagaName, key, code: error.code, message: error.message });
        return;
      }
      const updatedAt = readUpdatedAt(state);
      const sagaId = readSagaId(state);
      if (!isCompleted(state) || updatedAt === undefined || updatedAt >= before) return;
      result.matched++;
      doomed.push({ key, correlationId, bytes, sagaId });
    });
    if (result.dryRun) return;
    const requests = doomed.map(({ key, correlationId, bytes, sagaId }) => ({
      valueKey: key,
      expected: writeIdentity(bytes),
      replacement: null,
      indexKey: parts.keys.storedIndexKey(sagaName, sagaId),
      correlationId,
    }));
    const deleted = await parts.caller.call((engine) => engine.replaceValues(requests));
    for (const done of deleted) done ? result.deleted++ : result.changedMeanwhile++;
  });
  result.stopped = stopped;
  return result;
}
