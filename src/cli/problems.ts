import type { OperatorProblem } from "../operator/walk";
import { renderTable } from "./table";

/** The problems a run listed, one a row; and how many it counted but did not list. */
export function renderProblems(problems: readonly OperatorProblem[], counted: number): string {
  if (counted === 0) return "";
  const rows = problems.map((p) => [p.sagaName, p.code, p.key, p.fixed === undefined ? undefined : p.fixed ? "fixed" : "not fixed", p.message]);
  const table = renderTable(["SAGA", "CODE", "KEY", "FIX", "MESSAGE"], rows);
  const more = counted > problems.length ? `(${counted - problems.length} more not listed)\n` : "";
  return `\n${table}${more}`;
}
