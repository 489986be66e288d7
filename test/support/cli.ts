import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";

/** The repository root: the CLI runs from source there, as `node --import tsx src/cli/main.ts`. */
export const ROOT = resolve(__dirname, "../..");
export const CLI = ["--import", "tsx", "src/cli/main.ts"];

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** An env without REDIS_URL: a CLI run given no --url must never reach a server the test did not mean. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.REDIS_URL;
  delete env.FORCE_COLOR;
  return env;
}

/** Start the saga-store command; `finished` settles with its exit code and output. */
export function startCli(args: string[]): { child: ChildProcess; finished: Promise<CliRun>; output: { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, [...CLI, ...args], { cwd: ROOT, env: cliEnv(), stdio: ["ignore", "pipe", "pipe"] });
  const output = { stdout: "", stderr: "" };
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output.stdout += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output.stderr += chunk));
  const finished = new Promise<CliRun>((resolvePromise, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolvePromise({ code, signal, ...output }));
  });
  return { child, finished, output };
}

export function runCli(args: string[]): Promise<CliRun> {
  return startCli(args).finished;
}

/** A shell command line running the CLI, for `script` (which takes one string). */
export function cliCommandLine(args: string[]): string {
  const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
  return [process.execPath, ...CLI, ...args].map(quote).join(" ");
}
