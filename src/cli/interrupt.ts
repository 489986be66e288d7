/**
 * Ctrl-C stops a long run between batches instead of killing it mid-batch,
 * so the command can still say what it did. A second Ctrl-C quits at once,
 * for a run stuck waiting on Redis.
 */
export const INTERRUPTED_EXIT_CODE = 130;

export interface Interrupt {
  signal: AbortSignal;
  readonly interrupted: boolean;
  dispose(): void;
}

export function stopOnInterrupt(stderr: { write(text: string): unknown } = process.stderr): Interrupt {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(INTERRUPTED_EXIT_CODE);
    stderr.write("\nstopping after the current batch (Ctrl-C again to quit at once)\n");
    controller.abort();
  };
  process.on("SIGINT", onSigint);
  return {
    signal: controller.signal,
    get interrupted() {
      return controller.signal.aborted;
    },
    dispose() {
      process.off("SIGINT", onSigint);
    },
  };
}
