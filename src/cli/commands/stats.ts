import type { SagaStats } from "../../operator/stats";
import { parseCommand } from "../args";
import { INTERRUPTED_EXIT_CODE } from "../interrupt";
import { printHelp, startLongRun, writeJson, type CommandIo } from "../io";
import { forEachSaga } from "../session";
import { countsText, renderTable } from "../table";

export async function statsCommand(args: string[], io: CommandIo): Promise<number> {
  const { common, positionals, help } = parseCommand("stats", args, {});
  if (help) return printHelp(io, "stats");
  const run = startLongRun(io);
  const sagas: SagaStats[] = await forEachSaga("stats", common, false, positionals, run, (store, name) => store.stats(name, run.control));
  const stopped = run.interrupt.interrupted || sagas.some((s) => s.stopped);
  const problems = sagas.some((s) => s.undecodable > 0 || s.index.withoutValue + s.index.missing + s.index.elsewhere > 0);
  if (common.json) writeJson(io, { sagas, stopped });
  else io.stdout.write(renderStats(sagas, stopped, common.prefix));
  return stopped ? INTERRUPTED_EXIT_CODE : problems ? 1 : 0;
}

function renderStats(sagas: SagaStats[], stopped: boolean, prefix: string | undefined): string {
  if (sagas.length === 0) return `no sagas under the prefix ${JSON.stringify(prefix ?? "saga-bus:")}\n`;
  const counts = renderTable(
    ["SAGA", "VALUES", "COMPLETED", "UNDECODABLE", "WITH TTL", "NO TTL", "COMPRESSED", "BYTES P50", "P99", "MAX"],
    sagas.map((s) => [s.sagaName, s.count, s.completed, s.undecodable, s.withTtl, s.withoutTtl, s.compressed, s.bytes.p50, s.bytes.p99, s.bytes.max]),
  );
  const forms = renderTable(
    ["SAGA", "SCHEMA VERSIONS", "CODECS", "FORMATS", "ENCRYPTION KEYS", "UNENCRYPTED"],
    sagas.map((s) => [s.sagaName, countsText(s.bySchemaVersion), countsText(s.byCodec), countsText(s.byFormat), countsText(s.byKeyId), s.unencrypted]),
  );
  // Index trouble: an orphan makes findById fail for nobody; a missing or misdirected one hides a saga from findById.
  const indexes = renderTable(
    ["SAGA", "INDEX WITHOUT VALUE", "INDEX MISSING", "INDEX ELSEWHERE"],
    sagas.map((s) => [s.sagaName, s.index.withoutValue, s.index.missing, s.index.elsewhere]),
  );
  const note = stopped ? "\nstopped before the end: the counts are of the keys seen so far\n" : "";
  return `${counts}\n${forms}\n${indexes}${note}`;
}
