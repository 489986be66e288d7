import { sleep } from "../retry";

/**
 * At most `perSecond` units of work per second, spread evenly: each batch
 * starts once the batches before it have had their share of time. No limit
 * when perSecond is undefined or 0.
 */
export class RateLimit {
  private nextStart = performance.now();

  constructor(readonly perSecond: number | undefined) {}

  /** The largest batch that keeps bursts to about a twentieth of a second's worth. */
  batchSize(preferred: number): number {
    return this.perSecond ? Math.max(1, Math.min(preferred, Math.floor(this.perSecond / 20))) : preferred;
  }

  async take(units: number): Promise<void> {
    if (!this.perSecond) return;
    const now = performance.now();
    const start = Math.max(now, this.nextStart);
    this.nextStart = start + (units * 1000) / this.perSecond;
    if (start > now) await sleep(start - now);
  }
}
