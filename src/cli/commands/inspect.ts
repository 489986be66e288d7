import { inspect as inspectValue } from "node:util";
import type { InspectedSaga } from "../../operator/inspect";
import { UsageError, parseCommand } from "../args";
import { hexDump } from "../hex-dump";
import { printHelp, writeJson, type CommandIo } from "../io";
import { withStore } from "../session";
import { renderFields, type Cell } from "../table";
import { toTaggedJson } from "../tagged-json";

export async function inspectCommand(args: string[], io: CommandIo): Promise<number> {
  const { common, values, positionals, help } = parseCommand("inspect", args, { id: { type: "string" }, raw: { type: "boolean" } });
  if (help) return printHelp(io, "inspect");
  const [sagaName, correlationId, ...extra] = positionals;
  if (sagaName === undefined) throw new UsageError("inspect needs a saga name", "inspect");
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`, "inspect");
  if ((correlationId === undefined) === (values.id === undefined)) {
    throw new UsageError("inspect needs either a correlation id or --id <sagaId>, not both", "inspect");
  }
  const target = values.id !== undefined ? { sagaId: values.id } : { correlationId: correlationId! };
  const saga = await withStore("inspect", common, false, (store) => store.inspect(sagaName, target));
  if (common.json) writeJson(io, inspectDocument(saga, values.raw === true));
  else io.stdout.write(renderInspected(saga, values.raw === true, io.stdout.isTTY === true));
  return saga.found && saga.error === undefined ? 0 : 1;
}

function inspectDocument(saga: InspectedSaga, raw: boolean) {
  const header = saga.form?.header;
  return {
    sagaName: saga.sagaName,
    correlationId: saga.correlationId,
    key: saga.valueKey,
    found: saga.found,
    ttlMs: saga.ttlMs,
    bytes: saga.raw?.length,
    format: saga.form?.format,
    codec: saga.form?.codec,
    header: header && { ...header, compressed: saga.form!.compressed },
    writeToken: saga.form?.writeToken?.toString("hex"),
    fingerprint: saga.form?.fingerprint?.toString("hex"),
    fingerprintMatches: saga.fingerprintMatches,
    index: saga.index,
    state: saga.state === undefined ? undefined : toTaggedJson(saga.state),
    readAs: saga.readAs === undefined ? undefined : toTaggedJson(saga.readAs),
    error: saga.error,
    ...(raw && saga.raw ? { raw: saga.raw.toString("base64") } : {}),
  };
}

function renderInspected(saga: InspectedSaga, raw: boolean, colors: boolean): string {
  const header = saga.form?.header;
  const fields: [string, Cell][] = [
    ["saga", saga.sagaName],
    ["correlation id", saga.correlationId ?? "- (no id index for that saga id)"],
    ["key", saga.valueKey],
    ["found", saga.found],
  ];
  if (saga.found) {
    fields.push(
      ["ttl", ttlText(saga.ttlMs)],
      ["bytes", saga.raw?.length],
      ["format", saga.form?.format],
      ["codec", saga.form?.codec],
      ["codec id", header?.codecId],
      ["envelope format", header?.format],
      ["flags", header && `0x${header.flags.toString(16).padStart(2, "0")}`],
      ["compressed", saga.form?.compressed],
      ["encryption key id", saga.form?.keyId ?? (saga.form?.format === "unknown" ? undefined : "not encrypted")],
      ["schema version", header?.schemaVersion],
      ["saga version", header?.sagaVersion],
      ["write token", saga.form?.writeToken?.toString("hex")],
      ["fingerprint", saga.form?.fingerprint?.toString("hex")],
      ["fingerprint matches saga id", saga.fingerprintMatches],
      ["id index", indexText(saga.index)],
      ["error", saga.error && `${saga.error.code}: ${saga.error.message}`],
    );
  }
  let text = renderFields(fields);
  // depth Infinity: a support engineer wants the whole state, not "[Object]" three levels down.
  const show = (value: unknown) => inspectValue(value, { depth: Infinity, colors, maxArrayLength: Infinity, maxStringLength: Infinity, breakLength: 100 });
  if (saga.state !== undefined) text += `\nstate (as stored, decoded by its codec):\n${show(saga.state)}\n`;
  if (saga.readAs !== undefined) text += `\nread as (what the store's reads return; with --registry, upgraded and validated):\n${show(saga.readAs)}\n`;
  if (raw && saga.raw) text += `\nraw (${saga.raw.length} bytes):\n${hexDump(saga.raw)}`;
  return text;
}

function ttlText(ttlMs: number): string {
  if (ttlMs === -1) return "none";
  if (ttlMs < 0) return "-";
  return `${(ttlMs / 1000).toFixed(1)}s (${ttlMs} ms)`;
}

function indexText(index: InspectedSaga["index"]): string | undefined {
  if (index === "ok") return "ok (points at this value)";
  if (index === "missing") return "missing (findById cannot find this saga)";
  if (index === "elsewhere") return "elsewhere (points at another correlation id)";
  return undefined;
}
