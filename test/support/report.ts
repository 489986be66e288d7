/**
 * Figures a long-running test prints for a person reading the run, and only
 * when asked: `reporter("concurrency", "CONCURRENCY_REPORT")` prints
 * `[concurrency] <label> <figures as JSON>` when CONCURRENCY_REPORT is set,
 * and nothing otherwise, so an ordinary run stays quiet.
 */
export function reporter(tag: string, envVar: string): (label: string, figures: object) => void {
  return (label, figures) => {
    if (process.env[envVar]) console.log(`[${tag}] ${label} ${JSON.stringify(figures)}`);
  };
}
