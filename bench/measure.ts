/**
 * Timing primitives: a fixed number of operations driven by `concurrency`
 * async workers sharing one counter, each op timed with process.hrtime.bigint.
 * A cell runs "ours", its raw baseline and any contenders in alternating
 * chunks (ABBA order for two sides, ABC CBA for three), so drift (GC, server
 * memory growth, CPU frequency) hits every side alike.
 * Node CPU per operation (process.cpuUsage, user + system, over the measured
 * chunks) is recorded beside throughput: it is far steadier under machine load.
 */

/** One operation; `i` is unique per side within a cell, `worker` is 0..concurrency-1. */
export type Op = (i: number, worker: number) => Promise<unknown>;

/**
 * A side that needs the process set up while its chunks run (subscribers on
 * the store's channels, say, which are global): `enter` before each of its
 * chunks, `leave` after.
 */
export interface SideWithSetup {
  op: Op;
  enter(): void;
  leave(): void;
}

export interface SideResult {
  ops: number;
  opsPerSec: number;
  p50us: number;
  p99us: number;
  /** Node CPU time (user + system) per measured operation, in microseconds. */
  cpuUsPerOp: number;
}

class Recorder {
  readonly latenciesUs: Float64Array;
  count = 0;
  elapsedNs = 0n;
  cpuUs = 0;

  constructor(capacity: number) {
    this.latenciesUs = new Float64Array(capacity);
  }

  result(): SideResult {
    const sorted = this.latenciesUs.subarray(0, this.count).sort();
    const seconds = Number(this.elapsedNs) / 1e9;
    return {
      ops: this.count,
      opsPerSec: seconds > 0 ? this.count / seconds : 0,
      p50us: percentile(sorted, 0.5),
      p99us: percentile(sorted, 0.99),
      cpuUsPerOp: this.count > 0 ? this.cpuUs / this.count : 0,
    };
  }
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return sorted[rank - 1]!;
}

/** Run `count` ops with `concurrency` workers, op indexes from `firstIndex`; records into `recorder` when given. */
async function runChunk(concurrency: number, count: number, firstIndex: number, op: Op, recorder?: Recorder): Promise<void> {
  let next = 0;
  const worker = async (w: number) => {
    while (next < count) {
      const i = firstIndex + next++;
      const t0 = process.hrtime.bigint();
      try {
        await op(i, w);
      } catch (error) {
        // The other workers stop after the op they have in flight, so nothing of this chunk outlives it.
        next = count;
        throw error;
      }
      if (recorder) recorder.latenciesUs[recorder.count++] = Number(process.hrtime.bigint() - t0) / 1000;
    }
  };
  const started = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  const workers: Promise<void>[] = [];
  for (let w = 0; w < concurrency; w++) workers.push(worker(w));
  const failed = (await Promise.allSettled(workers)).find((outcome) => outcome.status === "rejected");
  if (failed) throw failed.reason;
  if (recorder) {
    const cpu = process.cpuUsage(cpuBefore);
    recorder.cpuUs += cpu.user + cpu.system;
    recorder.elapsedNs += process.hrtime.bigint() - started;
  }
}

export interface CellPlan {
  concurrency: number;
  /** Measured ops per side. */
  ops: number;
  /** Unrecorded ops per side before measuring. */
  warmup: number;
  /** Measured chunks per side; sides alternate ours/raw, raw/ours, ... */
  rounds: number;
}

/** Total op indexes a side will use (warm-up included): size per-op data (e.g. fresh insert ids) with this. */
export function indexesNeeded(plan: CellPlan): number {
  return plan.warmup + Math.ceil(plan.ops / plan.rounds) * plan.rounds;
}

export async function measureCell(plan: CellPlan, ours: Op, raw: Op): Promise<{ ours: SideResult; raw: SideResult }> {
  const [oursResult, rawResult] = await measureSides(plan, [ours, raw]);
  return { ours: oursResult!, raw: rawResult! };
}

/**
 * Any number of sides in one cell, each warmed up, then measured in
 * alternating chunks: forward order on even rounds, reversed on odd ones
 * (A B C, C B A, ...), so every side sits as often early as late in a round.
 * Results come back in the order the sides were given.
 */
export async function measureSides(plan: CellPlan, ops: readonly (Op | SideWithSetup)[]): Promise<SideResult[]> {
  const { concurrency, warmup, rounds } = plan;
  const chunk = Math.ceil(plan.ops / rounds);
  const sides = ops.map((side) => ({
    ...(typeof side === "function" ? { op: side, enter: undefined, leave: undefined } : side),
    recorder: new Recorder(chunk * rounds),
    next: 0,
  }));
  const reversed = [...sides].reverse();
  const run = async (side: (typeof sides)[number], count: number, recorder?: Recorder) => {
    side.enter?.();
    try {
      await runChunk(concurrency, count, side.next, side.op, recorder);
    } finally {
      side.leave?.();
    }
    side.next += count;
  };
  for (const side of sides) await run(side, warmup);
  for (let round = 0; round < rounds; round++) {
    for (const side of round % 2 === 0 ? sides : reversed) await run(side, chunk, side.recorder);
  }
  return sides.map((side) => side.recorder.result());
}

/** `count` unrecorded ops with `concurrency` workers: for filling a store before a cell. */
export function drive(concurrency: number, count: number, op: Op, firstIndex = 0): Promise<void> {
  return runChunk(concurrency, count, firstIndex, op);
}
