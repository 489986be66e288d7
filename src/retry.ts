export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Exponential backoff with jitter: attempt 0 waits about `baseMs`, capped at 5 s. */
export function backoffMs(baseMs: number, attempt: number): number {
  const ceiling = Math.min(baseMs * 2 ** attempt, 5_000);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}
