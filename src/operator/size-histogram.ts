/** Sizes below this are counted exactly, one slot each. */
const EXACT_BELOW = 65_536;
/** Above it, slots are 1% wide. */
const GROWTH = 1.01;
const WIDE_SLOTS = 2_000;

/**
 * Value sizes in memory that does not grow with their number: exact below
 * 64 KiB, within 1% above (a percentile there is its slot's lower bound).
 */
export class SizeHistogram {
  private readonly exact = new Uint32Array(EXACT_BELOW);
  private readonly wide = new Uint32Array(WIDE_SLOTS);
  count = 0;
  max = 0;

  add(size: number): void {
    this.count++;
    if (size > this.max) this.max = size;
    if (size < EXACT_BELOW) this.exact[size]!++;
    else this.wide[Math.min(WIDE_SLOTS - 1, Math.floor(Math.log(size / EXACT_BELOW) / Math.log(GROWTH)))]!++;
  }

  /** The size at quantile q (0..1): the smallest size with at least q of all sizes at or below it; 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let size = 0; size < EXACT_BELOW; size++) {
      seen += this.exact[size]!;
      if (seen >= rank) return size;
    }
    for (let slot = 0; slot < WIDE_SLOTS; slot++) {
      seen += this.wide[slot]!;
      if (seen >= rank) return Math.min(this.max, Math.ceil(EXACT_BELOW * GROWTH ** slot));
    }
    return this.max;
  }
}
