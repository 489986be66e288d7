import { runInNewContext } from "node:vm";
import { setFlagsFromString } from "node:v8";

/**
 * `global.gc` when the process has it, else V8's gc exposed at runtime (--expose-gc set now, read from
 * a fresh context), so no vitest option is needed; undefined where neither works.
 */
export function forcedGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  try {
    setFlagsFromString("--expose-gc");
    return runInNewContext("gc") as () => void;
  } catch {
    return undefined;
  }
}
