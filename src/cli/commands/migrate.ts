import type { BuiltInCodecName } from "../../../codecs/index";
import type { WriteFormat } from "../../../codecs/legacy-json";
import type { MigrateResult } from "../../operator/migrate";
import { UsageError, parseCommand, positiveNumber, singleSagaName } from "../args";
import { INTERRUPTED_EXIT_CODE } from "../interrupt";
import { printHelp, startLongRun, writeJson, type CommandIo } from "../io";
import { renderProblems } from "../problems";
import { withStore } from "../session";
import { countsText, renderFields } from "../table";

const CODECS: readonly BuiltInCodecName[] = ["json", "msgpack", "superjson"];
const FORMATS: readonly WriteFormat[] = ["envelope", "0.2.2"];

export async function migrateCommand(args: string[], io: CommandIo): Promise<number> {
  const { common, values, positionals, help } = parseCommand("migrate", args, {
    "to-schema": { type: "string" },
    codec: { type: "string" },
    format: { type: "string" },
    "dry-run": { type: "boolean" },
    reencrypt: { type: "boolean" },
    rate: { type: "string" },
    concurrency: { type: "string" },
  });
  if (help) return printHelp(io, "migrate");
  const sagaName = singleSagaName("migrate", positionals);
  const codec = oneOf("codec", values.codec, CODECS);
  const format = oneOf("format", values.format, FORMATS);
  const toSchema = schemaTarget(values["to-schema"]);
  const rate = positiveNumber("migrate", "rate", values.rate);
  const concurrency = positiveNumber("migrate", "concurrency", values.concurrency, true);
  const dryRun = values["dry-run"] === true;
  const reencrypt = values.reencrypt === true;
  if (reencrypt && common.encryption === undefined) throw new UsageError("--reencrypt needs --encryption <module> (the key ring to encrypt under)", "migrate");
  const run = startLongRun(io, rate);
  let result: MigrateResult;
  try {
    result = await withStore("migrate", common, !dryRun, (store) => store.migrateAll(sagaName, { toSchema, codec, format, reencrypt, dryRun, concurrency }, run.control));
  } finally {
    run.finish();
  }
  const stopped = result.stopped || run.interrupt.interrupted;
  if (common.json) writeJson(io, { ...result, stopped });
  else io.stdout.write(renderMigrate(result, stopped));
  if (stopped) return INTERRUPTED_EXIT_CODE;
  return result.failed + result.contended + result.ahead > 0 ? 1 : 0;
}

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${name} must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`, "migrate");
  return value as T;
}

function schemaTarget(value: string | undefined): "latest" | number | undefined {
  if (value === undefined || value === "latest") return value;
  const version = Number(value);
  if (!Number.isSafeInteger(version) || version < 1) throw new UsageError(`--to-schema must be "latest" or a positive integer, got ${JSON.stringify(value)}`, "migrate");
  return version;
}

function renderMigrate(result: MigrateResult, stopped: boolean): string {
  const { target } = result;
  const would = result.dryRun ? " (dry run: nothing written)" : "";
  const fields = renderFields([
    ["saga", result.sagaName],
    ["target schema version", target.schemaVersion ?? "as stored"],
    ["target codec", target.codec ?? "as stored"],
    ["target format", target.format ?? "as stored"],
    ["target encryption key", target.keyId ?? "as stored"],
    ["found", result.found.total],
    ["found by schema version", countsText(result.found.bySchemaVersion)],
    ["checked", result.checked],
    [result.dryRun ? "would migrate" : "migrated", `${result.migrated}${would}`],
    ["already at target", result.alreadyAtTarget],
    ["reloaded (a live write came first)", result.reloaded],
    ["ahead of target (left)", result.ahead],
    ["contended (left to live writes)", result.contended],
    ["deleted meanwhile", result.gone],
    ["failed", result.failed],
    ["stopped", stopped],
  ]);
  return fields + renderProblems(result.problems, result.failed);
}
