/**
 * Progress of a long operator run, on stderr so `--json` output on stdout
 * stays one clean document. A renderer of our own rather than a progress-bar
 * package: it is one line, the operator API already hands over everything it
 * shows (phase, done, the counted total, when the phase began), and the
 * package keeps no runtime dependency beyond its codecs for a CLI most
 * applications never run.
 */
import type { OperatorOperation, OperatorProgress } from "../operator/walk";

export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** Redraw in place (a terminal) or print plain lines (a log). Default: the output's isTTY. */
  tty?: boolean;
  /** The clock, for tests; default performance.now (the clock of phaseStartedAt). */
  now?: () => number;
}

/** A terminal is redrawn at most this often: faster is flicker, and costs the run time. */
const REDRAW_MS = 100;
/** A log gets a line this often: enough to see the run is alive, few enough to read. */
const LOG_EVERY_MS = 5_000;

const COMMAND_OF: Record<OperatorOperation, string> = {
  stats: "stats",
  verify: "verify",
  migrateAll: "migrate",
  deleteCompleted: "delete-completed",
};

export class ProgressRenderer {
  private readonly tty: boolean;
  private readonly now: () => number;
  private current: OperatorProgress | undefined;
  private lastOutput = -Infinity;

  constructor(
    private readonly output: ProgressOutput,
    options: ProgressOptions = {},
  ) {
    this.tty = options.tty ?? output.isTTY === true;
    this.now = options.now ?? (() => performance.now());
  }

  /** Give it as `control.onProgress`. */
  readonly update = (progress: OperatorProgress): void => {
    const previous = this.current;
    if (previous && (previous.phase !== progress.phase || previous.sagaName !== progress.sagaName || previous.operation !== progress.operation)) {
      this.finishPhase();
    }
    this.current = progress;
    const now = this.now();
    // A log's first line comes 5 s into the phase: a short phase gets only its closing line.
    const last = this.tty ? this.lastOutput : Math.max(this.lastOutput, progress.phaseStartedAt);
    if (now - last < (this.tty ? REDRAW_MS : LOG_EVERY_MS)) return;
    this.print(progressLine(progress, now, false), now);
  };

  /** The run ended (or stopped): its last state, and the line closed. */
  end(): void {
    this.finishPhase();
  }

  private finishPhase(): void {
    const last = this.current;
    if (!last) return;
    const now = this.now();
    this.print(progressLine(last, now, true), now);
    if (this.tty) this.output.write("\n");
    this.current = undefined;
    // The next phase's first state shows at once.
    this.lastOutput = -Infinity;
  }

  private print(line: string, now: number): void {
    this.lastOutput = now;
    if (!this.tty) {
      this.output.write(`${line}\n`);
      return;
    }
    // Longer than the terminal, the line would wrap and \r would redraw only its last part.
    const width = this.output.columns && this.output.columns > 1 ? this.output.columns - 1 : undefined;
    this.output.write(`\r${width ? line.slice(0, width) : line}\x1b[K`);
  }
}

/**
 * One state as text: "migrate Order: working [####----] 1200/3000 (counted) 40% 1985/s ETA 1s";
 * `ended`: the phase's closing line, with its duration in place of the ETA.
 */
export function progressLine(progress: OperatorProgress, now: number, ended: boolean): string {
  const head = `${COMMAND_OF[progress.operation]} ${progress.sagaName}:`;
  const seconds = Math.max(0, now - progress.phaseStartedAt) / 1000;
  const { done, total } = progress;
  if (progress.phase === "counting") return ended ? `${head} counted ${done} in ${formatDuration(seconds)}` : `${head} counting… ${done}`;
  const rate = seconds > 0 ? done / seconds : undefined;
  const rateText = rate === undefined ? "-/s" : `${formatRate(rate)}/s`;
  const tail = ended ? `in ${formatDuration(seconds)}` : undefined;
  if (total === undefined) return `${head} working ${done} ${rateText}${tail ? ` ${tail}` : ""}`;
  const fraction = total === 0 ? 1 : Math.min(1, done / total);
  const eta = done >= total ? 0 : rate ? (total - done) / rate : undefined;
  const etaText = tail ?? `ETA ${eta === undefined ? "-" : formatDuration(eta)}`;
  return `${head} working ${bar(fraction)} ${done}/${total} (counted) ${Math.floor(fraction * 100)}% ${rateText} ${etaText}`;
}

function bar(fraction: number, width = 20): string {
  const filled = Math.round(fraction * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}

function formatRate(rate: number): string {
  return rate >= 100 ? String(Math.round(rate)) : rate.toFixed(1);
}

export function formatDuration(seconds: number): string {
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  const whole = Math.ceil(seconds);
  if (whole < 60) return `${whole}s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes}m${String(whole % 60).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}
