/**
 * Stop waiting for a promise once a deadline passes. One shared, unref'd
 * timer checks every pending wait, so a call costs an array push rather than
 * a timer of its own, and nothing here keeps the process alive. The timer's
 * period is the precision: a wait ends at most CHECK_EVERY_MS late.
 */
const CHECK_EVERY_MS = 25;

class Wait<T> {
  done = false;
  constructor(
    readonly deadline: number,
    private readonly resolve: (value: T) => void,
    private readonly reject: (error: unknown) => void,
    private readonly expired: () => Error,
  ) {}

  settle(value: T): void {
    if (this.done) return;
    this.done = true;
    this.resolve(value);
  }

  fail(error: unknown): void {
    if (this.done) return;
    this.done = true;
    this.reject(error);
  }

  expire(): void {
    if (!this.done) this.fail(this.expired());
  }
}

// Settled waits are not removed when they settle (that would cost a search or a hash per call): each check drops them.
let pending: Wait<any>[] = [];
let timer: NodeJS.Timeout | undefined;

function check(): void {
  const now = Date.now();
  const waiting = pending;
  pending = [];
  for (const wait of waiting) {
    if (wait.done) continue;
    if (wait.deadline <= now) wait.expire();
    else pending.push(wait);
  }
  if (pending.length === 0 && timer) {
    clearInterval(timer);
    timer = undefined;
  }
}

/**
 * `work`'s outcome, or `expired()`'s error once `deadline` (epoch ms) has
 * passed. The work itself goes on (a Redis command cannot be called back);
 * only the caller stops waiting.
 */
export function beforeDeadline<T>(work: Promise<T>, deadline: number, expired: () => Error): Promise<T> {
  if (deadline === Infinity || Number.isNaN(deadline)) return work;
  return new Promise<T>((resolve, reject) => {
    const wait = new Wait(deadline, resolve, reject, expired);
    pending.push(wait);
    if (!timer) {
      timer = setInterval(check, CHECK_EVERY_MS);
      timer.unref();
    }
    work.then(
      (value) => wait.settle(value),
      (error: unknown) => wait.fail(error),
    );
  });
}
