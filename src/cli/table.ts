/**
 * Aligned text columns for the human output. Numbers are right-aligned so
 * counts of different widths line up by their last digit, as operators
 * compare them down a column.
 */
export type Cell = string | number | boolean | undefined;

export function renderTable(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = rows.map((row) => headers.map((_, i) => cellText(row[i])));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((row) => typeof row[i] === "number" || row[i] === undefined));
  const widths = headers.map((header, i) => Math.max(header.length, ...text.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...text.map(line)].join("\n") + "\n";
}

/** Two columns, field and value: one record (a saga's header, say) read top to bottom. */
export function renderFields(fields: readonly (readonly [string, Cell])[]): string {
  const width = Math.max(0, ...fields.map(([name]) => name.length));
  return fields.map(([name, value]) => `${name.padEnd(width)}  ${cellText(value)}`.trimEnd()).join("\n") + "\n";
}

function cellText(cell: Cell): string {
  if (cell === undefined) return "-";
  if (typeof cell === "boolean") return cell ? "yes" : "no";
  return String(cell);
}

/** "1: 20, 2: 3" for a count by name, "-" when empty; by name, so runs over the same data print the same line. */
export function countsText(counts: Record<string, number>): string {
  const entries = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }));
  return entries.length === 0 ? "-" : entries.map(([name, n]) => `${name}: ${n}`).join(", ");
}
