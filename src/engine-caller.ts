import type { SagaEngine } from "./engine";
import { beforeDeadline } from "./deadline";
import { RedisUnavailableError, StoreClosedError } from "./errors";
import { retrying, type RetryObserver, type RetryPolicy } from "./retry";

export interface CallPolicy extends RetryPolicy {
  /** Each call, its retries included, ends within this many milliseconds (Infinity: no bound). */
  operationTimeoutMs: number;
}

const isTransient = (error: unknown) => error instanceof RedisUnavailableError;

/**
 * How the store calls its engine: transient failures (RedisUnavailableError)
 * retried with the same request, every call bounded by operationTimeoutMs.
 * A write also learns whether a reply may have gone missing on the way (a
 * retry of a call that may have been applied, or a reconnect while it ran):
 * then a conflict cannot tell "someone else won" from "we won, then someone
 * wrote on top".
 */
export class EngineCaller {
  /** Set once the store has started; cleared by close(). */
  engine: SagaEngine | undefined;

  constructor(readonly policy: CallPolicy) {}

  /** The started engine; the store's public methods have awaited their start first. */
  ready(): SagaEngine {
    if (!this.engine) throw new StoreClosedError();
    return this.engine;
  }

  /** A read, or a command that is safe to repeat; `observer` hears of its retries (of the step at `key`). */
  call<T>(run: (engine: SagaEngine) => Promise<T>, observer?: RetryObserver, key?: string): Promise<T> {
    const engine = this.ready();
    const deadline = Date.now() + this.policy.operationTimeoutMs;
    return retrying(this.policy, deadline, isTransient, () => this.bounded(engine, run(engine), deadline, "read", undefined), observer, key);
  }

  /**
   * A write, safe to repeat with the same envelope; `replyLost` as described
   * above. When the retries run out after a reply was lost, the error is
   * `outcomeUnknown(lastError)`: the write may have been applied.
   */
  write<T>(
    key: string,
    run: (engine: SagaEngine) => Promise<T>,
    outcomeUnknown: (cause: unknown) => Error,
    observer?: RetryObserver,
  ): Promise<{ value: T; replyLost: boolean }> {
    const engine = this.ready();
    const deadline = Date.now() + this.policy.operationTimeoutMs;
    const epoch = engine.connectionEpoch;
    let replyLost = false;
    const retryable = (error: unknown) => {
      if (!isTransient(error)) return false;
      replyLost ||= error.mayHaveBeenApplied;
      return true;
    };
    return retrying(this.policy, deadline, retryable, () => this.bounded(engine, run(engine), deadline, "write", key), observer, key).then(
      (value) => ({ value, replyLost: replyLost || engine.connectionEpoch !== epoch }),
      (error: unknown) => {
        throw isTransient(error) && (replyLost || error.mayHaveBeenApplied) ? outcomeUnknown(error) : error;
      },
    );
  }

  /**
   * Wait for one command's answer no later than its call's deadline. Free
   * when the engine itself ends the command in time (a standalone client's
   * commandTimeout; the embedded engine).
   */
  private bounded<T>(engine: SagaEngine, work: Promise<T>, deadline: number, operation: "read" | "write", key: string | undefined): Promise<T> {
    const ownBound = engine.commandTimeoutMs;
    if (ownBound !== undefined && Date.now() + ownBound <= deadline) return work;
    const ms = this.policy.operationTimeoutMs;
    return beforeDeadline(work, deadline, () => noAnswer(operation, key, operation === "write", ms));
  }
}

/** Redis gave no answer in time: retryable, and a write sent may have been applied. */
export function noAnswer(operation: string, key: string | undefined, mayHaveBeenApplied: boolean, ms: number): RedisUnavailableError {
  return new RedisUnavailableError(operation, key, mayHaveBeenApplied, { cause: new Error(`no answer from Redis within ${ms} ms`) });
}
