import type { RunControl } from "../operator/walk";
import { ProgressRenderer, type ProgressOutput } from "./progress";
import { stopOnInterrupt, type Interrupt } from "./interrupt";
import { COMMAND_HELP, type CommandName } from "./help";

/** Where a command writes: the process's streams, or a test's. */
export interface CommandIo {
  stdout: ProgressOutput;
  stderr: ProgressOutput;
}

export const processIo: CommandIo = { stdout: process.stdout, stderr: process.stderr };

/** --help: the command's help on stdout, and nothing run. */
export function printHelp(io: CommandIo, command: CommandName): number {
  io.stdout.write(COMMAND_HELP[command]);
  return 0;
}

/** The one document `--json` promises on stdout. */
export function writeJson(io: CommandIo, document: unknown): void {
  io.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
}

/** A long run's control: progress on stderr, Ctrl-C as the stop signal. End it with finish(). */
export interface LongRun {
  control: RunControl & { signal: AbortSignal };
  interrupt: Interrupt;
  /** Close the progress line of one saga's run. */
  endSaga(): void;
  finish(): void;
}

export function startLongRun(io: CommandIo, rate?: number): LongRun {
  const progress = new ProgressRenderer(io.stderr);
  const interrupt = stopOnInterrupt(io.stderr);
  return {
    control: { onProgress: progress.update, signal: interrupt.signal, ...(rate === undefined ? {} : { rate }) },
    interrupt,
    endSaga: () => progress.end(),
    finish() {
      progress.end();
      interrupt.dispose();
    },
  };
}
