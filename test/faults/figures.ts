/**
 * Figures of the fault suite: one JSON object in test/.figures/faults.json,
 * keyed by test ("restart.always", "memory", ...). Test files run in parallel
 * workers, so every merge is a read-modify-write under a lock directory
 * (mkdir is atomic), written to a temporary file and renamed into place.
 * test/faults/report.ts turns the file into the README's Reliability table.
 */
import { mkdirSync, readFileSync, renameSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const FIGURES_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", ".figures");
export const FAULTS_FILE = join(FIGURES_DIR, "faults.json");

const LOCK_DIR = `${FAULTS_FILE}.lock`;
const LOCK_WAIT_MS = 5_000;
/** A lock older than this was left by a killed process. */
const STALE_LOCK_MS = 10_000;

function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function withLock<T>(run: () => T): T {
  mkdirSync(FIGURES_DIR, { recursive: true });
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      mkdirSync(LOCK_DIR);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      try {
        if (Date.now() - statSync(LOCK_DIR).mtimeMs > STALE_LOCK_MS) rmdirSync(LOCK_DIR);
      } catch {
        // Released meanwhile.
      }
      if (Date.now() > deadline) throw new Error(`figures: could not lock ${FAULTS_FILE} within ${LOCK_WAIT_MS} ms`);
      pause(5);
    }
  }
  try {
    return run();
  } finally {
    rmdirSync(LOCK_DIR);
  }
}

export function readFigures(file = FAULTS_FILE): Record<string, unknown> {
  try {
    const parsed = JSON.parse(readFileSync(file, "utf8")) as unknown;
    return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Merge `value` under `key` (replacing what an earlier run left there), stamped with the time. */
export function recordFigures(key: string, value: Record<string, unknown>): void {
  withLock(() => {
    const all = readFigures();
    all[key] = { at: new Date().toISOString(), ...value };
    const temporary = `${FAULTS_FILE}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(all, null, 2) + "\n");
    renameSync(temporary, FAULTS_FILE);
  });
  if (process.env.FAULTS_REPORT) console.log(`[faults] ${key} ${JSON.stringify(value)}`);
}
