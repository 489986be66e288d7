import { parseArgs, type ParseArgsConfig } from "node:util";
import { COMMAND_HELP, type CommandName } from "./help";

/** A command line the command cannot run: exit 2, with the command's help on stderr. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command: CommandName | undefined,
  ) {
    super(message);
  }
}

type OptionSpecs = NonNullable<ParseArgsConfig["options"]>;

const COMMON_OPTIONS = {
  url: { type: "string" },
  cluster: { type: "string" },
  prefix: { type: "string" },
  registry: { type: "string" },
  encryption: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies OptionSpecs;

export interface CommonOptions {
  url: string | undefined;
  cluster: string | undefined;
  prefix: string | undefined;
  registry: string | undefined;
  encryption: string | undefined;
  json: boolean;
}

export interface ParsedCommand<Values> {
  common: CommonOptions;
  values: Values;
  positionals: string[];
  /** --help was given: print the help and run nothing. */
  help: boolean;
}

/** Parse one command's arguments: the common options plus its own, anything else a UsageError. */
export function parseCommand<const Own extends OptionSpecs>(command: CommandName, args: string[], own: Own) {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...COMMON_OPTIONS, ...own }, allowPositionals: true, strict: true });
  } catch (error) {
    // parseArgs's own messages name the option and say what is wrong with it.
    throw new UsageError((error as Error).message, command);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const common: CommonOptions = {
    url: values.url as string | undefined,
    cluster: values.cluster as string | undefined,
    prefix: values.prefix as string | undefined,
    registry: values.registry as string | undefined,
    encryption: values.encryption as string | undefined,
    json: values.json === true,
  };
  return {
    common,
    values: parsed.values as { [K in keyof Own]?: Own[K]["type"] extends "boolean" ? boolean : string },
    positionals: parsed.positionals,
    help: values.help === true,
  };
}

export function helpOf(command: CommandName): string {
  return COMMAND_HELP[command];
}

/** The one saga name a command takes (migrate, delete-completed), and nothing after it. */
export function singleSagaName(command: CommandName, positionals: string[]): string {
  const [sagaName, ...extra] = positionals;
  if (sagaName === undefined) throw new UsageError(`${command} needs a saga name`, command);
  if (extra.length > 0) throw new UsageError(`${command} takes one saga name; unexpected ${JSON.stringify(extra[0])}`, command);
  return sagaName;
}

/** A positive number option (--rate), or undefined when not given. */
export function positiveNumber(command: CommandName, name: string, text: string | undefined, integer = false): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value <= 0 || (integer && !Number.isSafeInteger(value))) {
    throw new UsageError(`--${name} must be a positive ${integer ? "integer" : "number"}, got ${JSON.stringify(text)}`, command);
  }
  return value;
}
