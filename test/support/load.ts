/**
 * Shared by the tests that run callers against a store while something goes
 * wrong (test/faults/*, test/cluster-failover.test.ts, test/resend.test.ts):
 * bounding a call, describing what it threw, and the per-caller accounting of
 * how calls settled (acknowledged, hung, typed store error by code, raw error,
 * and whether the write may have landed anyway).
 */
import { RedisUnavailableError, SagaStoreError } from "../../src/index";

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How a call bounded by `within` settled: a value, a rejection, or still running when the bound passed. */
export type Outcome<T> = { kind: "ok"; value: T } | { kind: "error"; error: unknown } | { kind: "hung" };

export function within<T>(promise: Promise<T>, ms: number): Promise<Outcome<T>> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.then(
      (value): Outcome<T> => ({ kind: "ok", value }),
      (error): Outcome<T> => ({ kind: "error", error }),
    ),
    new Promise<Outcome<T>>((resolve) => (timer = setTimeout(() => resolve({ kind: "hung" }), ms))),
  ]).finally(() => clearTimeout(timer));
}

/** "<constructor> <name>[ <context>]: <message>" of whatever was thrown, for the lists a test asserts empty. */
export function describeError(error: unknown, context?: string): string {
  const e = error as Error;
  return `${e?.constructor?.name ?? typeof error} ${e?.name}${context === undefined ? "" : ` ${context}`}: ${e?.message}`;
}

/** Count by error code: { REDIS_UNAVAILABLE: 3, ... }. */
export function addCount(counts: Record<string, number>, code: string, n = 1): void {
  counts[code] = (counts[code] ?? 0) + n;
}

export function sumCounts(all: Array<Record<string, number>>): Record<string, number> {
  const total: Record<string, number> = {};
  for (const counts of all) for (const [code, n] of Object.entries(counts)) addCount(total, code, n);
  return total;
}

/** What one caller of a load was told, call by call. */
export interface CallerAccount {
  acked: number;
  /** Rejections after which the write may or may not have landed, and hung calls. */
  maybeApplied: number;
  hung: number;
  /** Typed rejections (SagaStoreError) by code. */
  errors: Record<string, number>;
  /** Rejections that are not a SagaStoreError (a raw ioredis or other error). */
  raw: string[];
  /** Typed rejections with a code the fault should not produce. */
  unexpected: string[];
}

export function newCallerAccount(): CallerAccount {
  return { acked: 0, maybeApplied: 0, hung: 0, errors: {}, raw: [], unexpected: [] };
}

/** A call still running when its bound passed: it may land later. */
export function countHung(caller: CallerAccount): void {
  caller.hung++;
  caller.maybeApplied++;
}

export interface RejectionRules {
  /** Codes the fault may produce; any other typed rejection is listed in `unexpected`. */
  expectedCodes: ReadonlySet<string>;
  /**
   * Codes after which the write may have landed (default: WRITE_OUTCOME_UNKNOWN). REDIS_UNAVAILABLE
   * counts too when its error says mayHaveBeenApplied.
   */
  maybeAppliedCodes?: ReadonlySet<string>;
  /** Whether a raw (untyped) rejection counts as maybe applied (default: true). */
  rawMayHaveApplied?: boolean;
  /** The text listed in `raw` / `unexpected` (default: describeError). */
  describe?: (error: unknown) => string;
}

const OUTCOME_UNKNOWN = new Set(["WRITE_OUTCOME_UNKNOWN"]);

/** Accounts one rejected call on its caller. */
export function countRejection(caller: CallerAccount, error: unknown, rules: RejectionRules): void {
  const { expectedCodes, maybeAppliedCodes = OUTCOME_UNKNOWN, rawMayHaveApplied = true, describe = describeError } = rules;
  if (!(error instanceof SagaStoreError)) {
    caller.raw.push(describe(error));
    if (rawMayHaveApplied) caller.maybeApplied++;
    return;
  }
  addCount(caller.errors, error.code);
  if (!expectedCodes.has(error.code)) caller.unexpected.push(describe(error));
  if (maybeAppliedCodes.has(error.code) || (error instanceof RedisUnavailableError && error.mayHaveBeenApplied)) caller.maybeApplied++;
}
