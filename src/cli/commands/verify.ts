import type { VerifyResult } from "../../operator/verify";
import { parseCommand } from "../args";
import { INTERRUPTED_EXIT_CODE } from "../interrupt";
import { printHelp, startLongRun, writeJson, type CommandIo } from "../io";
import { renderProblems } from "../problems";
import { forEachSaga } from "../session";
import { renderTable } from "../table";

export async function verifyCommand(args: string[], io: CommandIo): Promise<number> {
  const { common, values, positionals, help } = parseCommand("verify", args, { "fix-orphans": { type: "boolean" } });
  if (help) return printHelp(io, "verify");
  const fixOrphans = values["fix-orphans"] === true;
  const run = startLongRun(io);
  const sagas: VerifyResult[] = await forEachSaga("verify", common, fixOrphans, positionals, run, (store, name) => store.verify(name, { fixOrphans }, run.control));
  const stopped = run.interrupt.interrupted || sagas.some((s) => s.stopped);
  const problems = sagas.some((s) => s.failed > 0 || s.orphanIndexes > s.fixedOrphans);
  if (common.json) writeJson(io, { sagas, stopped });
  else io.stdout.write(renderVerify(sagas, stopped));
  return stopped ? INTERRUPTED_EXIT_CODE : problems ? 1 : 0;
}

function renderVerify(sagas: VerifyResult[], stopped: boolean): string {
  if (sagas.length === 0) return "no sagas to verify\n";
  const summary = renderTable(
    ["SAGA", "CHECKED", "FAILED", "ORPHAN INDEXES", "FIXED"],
    sagas.map((s) => [s.sagaName, s.checked, s.failed, s.orphanIndexes, s.fixedOrphans]),
  );
  const listed = sagas.flatMap((s) => s.problems);
  const counted = sagas.reduce((n, s) => n + s.failed + s.orphanIndexes, 0);
  const note = stopped ? "\nstopped before the end: only the keys seen so far were checked\n" : "";
  return `${summary}${renderProblems(listed, counted)}${note}`;
}
