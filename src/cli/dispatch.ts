import { UsageError } from "./args";
import { deleteCompletedCommand } from "./commands/delete-completed";
import { inspectCommand } from "./commands/inspect";
import { migrateCommand } from "./commands/migrate";
import { statsCommand } from "./commands/stats";
import { verifyCommand } from "./commands/verify";
import { errorCode } from "./failure";
import { COMMAND_HELP, TOP_HELP, type CommandName } from "./help";
import type { CommandIo } from "./io";

export const USAGE_EXIT_CODE = 2;

const COMMANDS: Record<CommandName, (args: string[], io: CommandIo) => Promise<number>> = {
  stats: statsCommand,
  inspect: inspectCommand,
  verify: verifyCommand,
  migrate: migrateCommand,
  "delete-completed": deleteCompletedCommand,
};

/** Run one command line; the exit code: 0 nothing wrong, 1 something wrong (or an error), 2 usage, 130 stopped. */
export async function runCli(argv: string[], io: CommandIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === "--help" || name === "-h") return write(io.stdout, TOP_HELP, 0);
  if (name === "help" && args[0] === undefined) return write(io.stdout, TOP_HELP, 0);
  if (name === "help") return isCommand(args[0]!) ? write(io.stdout, COMMAND_HELP[args[0]], 0) : unknownCommand(io, args[0]!);
  if (name === undefined) return write(io.stderr, TOP_HELP, USAGE_EXIT_CODE);
  if (!isCommand(name)) return unknownCommand(io, name);
  try {
    return await COMMANDS[name](args, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`saga-store ${error.command ?? name}: ${error.message}\n\n`);
      return write(io.stderr, COMMAND_HELP[error.command ?? name], USAGE_EXIT_CODE);
    }
    const code = errorCode(error);
    if (code !== undefined) return write(io.stderr, `error ${code}: ${(error as Error).message}\n`, 1);
    return write(io.stderr, `error: ${(error as Error)?.stack ?? String(error)}\n`, 1);
  }
}

function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

function unknownCommand(io: CommandIo, name: string): number {
  io.stderr.write(`saga-store: unknown command ${JSON.stringify(name)}\n\n`);
  return write(io.stderr, TOP_HELP, USAGE_EXIT_CODE);
}

function write(stream: { write(text: string): unknown }, text: string, exitCode: number): number {
  stream.write(text);
  return exitCode;
}
