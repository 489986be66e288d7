import { sagaIdFingerprint } from "../../codecs/envelope";
import { isSagaStoreError } from "../errors";
import { indexLeads } from "./index-check";
import { problemReporter, readEntries, walkSaga, type OperatorParts, type OperatorProblem, type ProblemReporting, type RunControl } from "./walk";

export interface VerifyOptions extends RunControl, ProblemReporting {
  /** Delete the id index keys that lead to no value of their saga (never a value). */
  fixOrphans?: boolean;
}

export interface VerifyResult {
  sagaName: string;
  /** Values read. */
  checked: number;
  /** Values a read fails on. */
  failed: number;
  orphanIndexes: number;
  fixedOrphans: number;
  /** The first maxListed problems. */
  problems: OperatorProblem[];
  stopped: boolean;
}

/**
 * Read every value as the store's reads do (decoded; with a registry,
 * upgraded and validated) and every id index; report what fails.
 */
export async function verifySaga(parts: OperatorParts, sagaName: string, options: VerifyOptions = {}, decode: (key: string, bytes: Buffer) => unknown): Promise<VerifyResult> {
  const result: VerifyResult = { sagaName, checked: 0, failed: 0, orphanIndexes: 0, fixedOrphans: 0, problems: [], stopped: false };
  const report = problemReporter(options, result.problems);
  const { stopped } = await walkSaga(parts, sagaName, "verify", options, async ({ values, indexes }) => {
    const [entries, leads] = await Promise.all([readEntries(parts, values.map(({ key }) => key)), indexLeads(parts, sagaName, indexes)]);
    entries.forEach(({ bytes }, i) => {
      if (!bytes) return;
      const { key } = values[i]!;
      result.checked++;
      try {
        decode(key, bytes);
      } catch (error) {
        if (!isSagaStoreError(error)) throw error;
        result.failed++;
        report({ sagaName, key, code: error.code, message: error.message });
      }
    });
    for (const lead of leads) {
      if (lead.leadsTo !== "nothing") continue;
      result.orphanIndexes++;
      const problem: OperatorProblem = { sagaName, key: lead.indexKey, code: "ORPHAN_INDEX", message: `id index of saga ${lead.sagaId} leads to no value of it (correlation id ${JSON.stringify(lead.correlationId)})` };
      if (options.fixOrphans && lead.valueKey !== undefined) {
        const request = { indexKey: lead.indexKey, correlationId: lead.correlationId!, valueKey: lead.valueKey, fingerprint: sagaIdFingerprint(lead.sagaId) };
        problem.fixed = await parts.caller.call((engine) => engine.dropOrphanIndex(request));
        if (problem.fixed) result.fixedOrphans++;
      }
      report(problem);
    }
  });
  result.stopped = stopped;
  return result;
}
