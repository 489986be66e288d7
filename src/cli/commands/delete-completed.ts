import type { DeleteCompletedResult } from "../../operator/delete-completed";
import { UsageError, parseCommand, singleSagaName } from "../args";
import { INTERRUPTED_EXIT_CODE } from "../interrupt";
import { printHelp, startLongRun, writeJson, type CommandIo } from "../io";
import { renderProblems } from "../problems";
import { withStore } from "../session";
import { renderFields } from "../table";

export async function deleteCompletedCommand(args: string[], io: CommandIo): Promise<number> {
  const { common, values, positionals, help } = parseCommand("delete-completed", args, { before: { type: "string" }, yes: { type: "boolean" } });
  if (help) return printHelp(io, "delete-completed");
  const sagaName = singleSagaName("delete-completed", positionals);
  if (values.before === undefined) throw new UsageError("delete-completed needs --before <ISO date>", "delete-completed");
  const before = new Date(values.before);
  if (Number.isNaN(before.getTime())) throw new UsageError(`--before ${JSON.stringify(values.before)} is not a date (ISO 8601, e.g. 2026-01-01T00:00:00Z)`, "delete-completed");
  // Deleting is not undone: without --yes this only counts.
  const dryRun = values.yes !== true;
  const run = startLongRun(io);
  let result: DeleteCompletedResult;
  try {
    result = await withStore("delete-completed", common, !dryRun, (store) => store.deleteCompleted(sagaName, { before, dryRun }, run.control));
  } finally {
    run.finish();
  }
  const stopped = result.stopped || run.interrupt.interrupted;
  if (common.json) writeJson(io, { ...result, stopped });
  else io.stdout.write(renderDeleteCompleted(result, stopped));
  if (stopped) return INTERRUPTED_EXIT_CODE;
  return result.failed > 0 ? 1 : 0;
}

function renderDeleteCompleted(result: DeleteCompletedResult, stopped: boolean): string {
  const fields = renderFields([
    ["saga", result.sagaName],
    ["completed and saved before", result.before.toISOString()],
    ["checked", result.checked],
    ["matched", result.matched],
    ["deleted", result.deleted],
    ["changed meanwhile (left)", result.changedMeanwhile],
    ["undecodable (left)", result.failed],
    ["stopped", stopped],
  ]);
  const hint = result.dryRun ? `\ndry run: nothing deleted; run again with --yes to delete the ${result.matched} matched\n` : "";
  return fields + renderProblems(result.problems, result.failed) + hint;
}
