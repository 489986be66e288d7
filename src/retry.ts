export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Exponential backoff with jitter: attempt 0 waits about `baseMs`, capped at 5 s. */
export function backoffMs(baseMs: number, attempt: number): number {
  const ceiling = Math.min(baseMs * 2 ** attempt, 5_000);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

export interface RetryPolicy {
  /** Retries after the first attempt. */
  maxRetries: number;
  /** Base delay between attempts (see backoffMs). */
  retryDelayMs: number;
}

/** Told of each retry before its delay: the store's operation context (src/telemetry/trace.ts). */
export interface RetryObserver {
  retrying(cause: unknown, delayMs: number, key: string | undefined): void;
}

/**
 * The one retry loop: run `attempt` (given its number, from 0) until it
 * succeeds, or fails with an error `retryable` turns down, or maxRetries
 * retries are spent, or the next attempt would begin at or after `deadline`
 * (epoch ms); then its last error is thrown. `observer` hears of each retry
 * of the step at `key`.
 */
export function retrying<T>(
  policy: RetryPolicy,
  deadline: number,
  retryable: (error: unknown) => boolean,
  attempt: (n: number) => Promise<T>,
  observer?: RetryObserver,
  key?: string,
): Promise<T> {
  const again = (error: unknown, n: number): Promise<T> => {
    const delay = backoffMs(policy.retryDelayMs, n);
    if (n >= policy.maxRetries || !retryable(error) || Date.now() + delay >= deadline) return Promise.reject(error);
    observer?.retrying(error, delay, key);
    return sleep(delay).then(() => attempt(n + 1).catch((next: unknown) => again(next, n + 1)));
  };
  return attempt(0).catch((error: unknown) => again(error, 0));
}
