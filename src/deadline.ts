/**
 * Stop waiting for a promise once a deadline passes. One shared, unref'd
 * timer checks every pending wait, so a call costs a Set insertion rather
 * than a timer of its own, and nothing here keeps the process alive. The
 * timer's period is the precision: a wait ends at most CHECK_EVERY_MS late.
 */
const CHECK_EVERY_MS = 25;

interface Pending {
  deadline: number;
  expire(): void;
}

const pending = new Set<Pending>();
let timer: NodeJS.Timeout | undefined;

function check(): void {
  const now = Date.now();
  for (const entry of pending) {
    if (entry.deadline <= now) {
      pending.delete(entry);
      entry.expire();
    }
  }
  if (pending.size === 0 && timer) {
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
    const entry: Pending = { deadline, expire: () => reject(expired()) };
    pending.add(entry);
    if (!timer) {
      timer = setInterval(check, CHECK_EVERY_MS);
      timer.unref();
    }
    work.then(
      (value) => {
        pending.delete(entry);
        resolve(value);
      },
      (error: unknown) => {
        pending.delete(entry);
        reject(error);
      },
    );
  });
}
