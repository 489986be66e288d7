/**
 * Print the README's Reliability table from the figures the fault suite wrote:
 * test/.figures/faults.json (test/faults/*.test.ts) and, when present,
 * test/.figures/cluster-failover.json (test/cluster-failover.test.ts).
 *
 * Run: npm run test:faults   (vitest run test/faults && tsx test/faults/report.ts)
 *  or: npx tsx test/faults/report.ts
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { CODECS } from "../support/envelopes";
import { FAULTS_FILE, FIGURES_DIR, readFigures } from "./figures";

type Figures = Record<string, any>;

const CLUSTER_FILE = join(FIGURES_DIR, "cluster-failover.json");

const n = (value: unknown) => (typeof value === "number" ? value.toLocaleString("en-US") : String(value ?? "–"));
const mb = (bytes: number) => `${(bytes / 1_000_000).toFixed(2)} MB`;

function codes(counts: Record<string, number> | undefined): string {
  const entries = Object.entries(counts ?? {}).filter(([, count]) => count > 0);
  return entries.length === 0 ? "none" : entries.map(([code, count]) => `${code} ${n(count)}`).join(", ");
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

interface Row {
  fault: string;
  done: string;
  figures: string;
}

function restartRow(f: Figures): Row {
  return {
    fault: `Server restart, \`appendfsync ${f.appendfsync}\``,
    done:
      `Standalone Redis, \`appendonly yes\`; ${f.callers} async callers doing \`modify\` increments, one saga each ` +
      `(maxRetries ${f.store?.maxRetries}, retryDelayMs ${f.store?.retryDelayMs}); SIGKILL mid-load, down ~${n(f.downMs)} ms, ` +
      `restarted on the same port and dir; same store, never re-initialised`,
    figures:
      `acked ${n(f.acked)} (${n(f.ackedBeforeKill)} before the kill), **lost ${n(f.lost)}**, double-applied ${n(f.doubleApplied)}; ` +
      `errors: ${codes(f.errorsByCode)}; raw errors ${n(f.rawErrors)}, hung ${n(f.hung)}; ` +
      `downtime ${n(f.downtimeMs)} ms, first ack after the kill at ${n(f.recoveryMs)} ms; ` +
      `NOSCRIPT→EVAL fallbacks ${n(f.noscriptFallbacks)}; all ${n(f.resumedCallers)} callers resumed`,
  };
}

function clientKillRow(f: Figures): Row {
  return {
    fault: "Connection killed (`CLIENT KILL`)",
    done: `${f.kills} kills of the store's connection, 150 ms apart, under ${f.callers} callers doing \`modify\` increments, one saga each; ioredis re-sends unanswered commands on reconnect`,
    figures:
      `acked ${n(f.acked)}, lost ${n(f.lost)}, **double-applied ${n(f.doubleApplied)}**; errors: ${codes(f.errorsByCode)}; ` +
      `raw errors ${n(f.rawErrors)}, hung ${n(f.hung)}; max call ${n(f.maxSettleMs)} ms`,
  };
}

function pauseRow(f: Figures, how: string): Row {
  return {
    fault: `Server unresponsive (${how})`,
    done:
      `${how} for ${n(f.pauseMs)} ms under ${f.callers} callers doing \`modify\` increments; client \`commandTimeout\` ${f.store?.commandTimeoutMs} ms, ` +
      `maxRetries ${f.store?.maxRetries}, retryDelayMs ${f.store?.retryDelayMs}; timed-out commands still run late`,
    figures:
      `acked ${n(f.acked)}, lost ${n(f.lost)}, **double-applied ${n(f.doubleApplied)}**; errors: ${codes(f.errorsByCode)} ` +
      `(of which ${n(f.landedUnacknowledged)} unknown outcomes landed); raw errors ${n(f.rawErrors)}, hung ${n(f.hung)}; ` +
      `slowest call ${n(f.maxSettleMs)} ms (bound ${n(f.settleBoundMs)} ms)`,
  };
}

function memoryRow(f: Figures): Row {
  return {
    fault: "Memory limit reached",
    done: `\`maxmemory ${f.maxmemory}\`, \`${f.policy}\`; ${f.workers} workers inserting ${n(f.stateBytes)}-byte sagas and modifying them until Redis refused writes; every saga read back while full; then \`CONFIG SET maxmemory 0\``,
    figures:
      `writes acked ${n(f.writesAcked)}; errors: ${codes(f.errorsByCode)}; reads served while full ${n(f.readsWhileFull)} ` +
      `(${n(f.readProblems)} wrong); refused inserts found stored anyway ${n(f.refusedButStored)}; ` +
      `harmless indexes without value ${n(f.orphanIndexes)}; writes after raising the limit: ${Array.isArray(f.writesAfterRaise) ? "failed" : f.writesAfterRaise}`,
  };
}

function sizeRow(f: Figures): Row {
  const codecs = CODECS.filter((codec) => f[`roundTrip.${codec}`]);
  const trips = codecs.map((codec) => {
    const t = f[`roundTrip.${codec}`];
    return `${codec}: ${mb(t.payloadBytes)} (stored ${mb(t.storedBytes)}), insert ${t.insertMs} ms, find ${t.findByCorrelationIdMs} ms, update ${t.updateMs} ms`;
  });
  const refused = codecs
    .map((codec) => f[`refused.${codec}`])
    .filter(Boolean)
    .map((r: Figures) => `${mb(r.sizeBytes)} refused in ${r.refusedInMs} ms, commands sent: ${Object.keys(r.commandsSent ?? {}).length}`);
  return {
    fault: "State size limit",
    done: `Default \`maxStateBytes\` ${n(f.defaultMaxStateBytes)} bytes; per codec a ~5 MB state through insert/find/findById/update, a ~9 MB one, and a ${n(f.smallLimit)}-byte configured limit`,
    figures: `${trips.join("; ")}. Above the limit: STATE_TOO_LARGE, ${refused[0] ?? "–"} (every codec: ${refused.length}/${codecs.length}), keys absent afterwards`,
  };
}

function clusterRow(f: Figures, top: Figures): Row {
  const durable = f.durability ? `durability { replicas: ${f.durability.replicas}, timeoutMs: ${f.durability.timeoutMs} }` : "no durability option";
  return {
    fault: `Cluster master SIGKILL (${durable})`,
    done: `3 masters + 3 replicas; ${top.callers ?? "?"} callers doing \`modify\` increments, one saga each; a master killed mid-load, its replica promoted`,
    figures:
      `acked ${n(f.acked)}, **lost ${n(f.lost)}**, maybe-applied ${n(f.maybeApplied)}; errors: ${codes(f.errorsByCode)}; ` +
      `hung ${n(f.hung)}; failover ${n(f.failoverMs)} ms`,
  };
}

/** Numeric leaves of a nested figures object, summed by leaf name: { accepted: 369, failed: 0, ... }. */
function sumLeaves(value: unknown, into: Record<string, number> = {}): Record<string, number> {
  if (value && typeof value === "object") {
    for (const [name, child] of Object.entries(value)) {
      if (typeof child === "number") into[name] = (into[name] ?? 0) + child;
      else sumLeaves(child, into);
    }
  }
  return into;
}

/** A figures entry this report has no dedicated row for (another fault file's): its scalars, and each nested group's numbers summed. */
function genericRow(key: string, f: Figures): Row {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(f)) {
    if (name === "at" || name === "description" || name === "what") continue;
    if (name === "errorsByCode") parts.push(`errors: ${codes(value)}`);
    else if (typeof value === "number" || typeof value === "string" || typeof value === "boolean") parts.push(`${name} ${n(value)}`);
    else if (value && typeof value === "object") {
      const sums = Object.entries(sumLeaves(value)).map(([leaf, total]) => `${leaf} ${n(total)}`);
      if (sums.length > 0) parts.push(`${name}: ${sums.join(", ")}`);
    }
  }
  const done = typeof f.description === "string" ? f.description : typeof f.what === "string" ? f.what : "see the test file";
  return { fault: key, done, figures: parts.join("; ") || "–" };
}

const KNOWN: Record<string, (f: Figures) => Row> = {
  "restart.always": restartRow,
  "restart.everysec": restartRow,
  "connection.clientKill": clientKillRow,
  "connection.clientPause": (f) => pauseRow(f, "`CLIENT PAUSE … ALL`"),
  "connection.debugSleep": (f) => pauseRow(f, "`DEBUG SLEEP`"),
  memory: memoryRow,
  size: sizeRow,
};

function main(): void {
  if (!existsSync(FAULTS_FILE)) {
    console.error(`No figures at ${FAULTS_FILE}: run \`npx vitest run test/faults\` first.`);
    process.exit(1);
  }
  const faults = readFigures(FAULTS_FILE);
  const rows: Row[] = [];
  for (const key of Object.keys(KNOWN)) if (faults[key]) rows.push(KNOWN[key]!(faults[key] as Figures));
  for (const [key, value] of Object.entries(faults)) {
    if (!KNOWN[key] && value && typeof value === "object") rows.push(genericRow(key, value as Figures));
  }
  const sources = [FAULTS_FILE];
  if (existsSync(CLUSTER_FILE)) {
    const cluster = readFigures(CLUSTER_FILE);
    for (const label of ["withDurability", "withoutDurability"]) {
      if (cluster[label]) rows.push(clusterRow(cluster[label] as Figures, cluster));
    }
    sources.push(CLUSTER_FILE);
  }
  const times = [faults, ...(existsSync(CLUSTER_FILE) ? [readFigures(CLUSTER_FILE)] : [])]
    .flatMap((all) => [all.at, ...Object.values(all).map((v) => (v as Figures)?.at)])
    .filter((at): at is string => typeof at === "string")
    .sort();
  const lines = [
    "| Fault | What was done | Figures |",
    "| --- | --- | --- |",
    ...rows.map((row) => `| ${cell(row.fault)} | ${cell(row.done)} | ${cell(row.figures)} |`),
    "",
    `_Figures from \`npm run test:faults\`, runs between ${times[0] ?? "?"} and ${times[times.length - 1] ?? "?"}; sources: ${sources
      .map((file) => `\`${file.slice(file.indexOf("test/"))}\``)
      .join(", ")}._`,
  ];
  console.log(lines.join("\n"));
}

main();
