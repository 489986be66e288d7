import { HEADER_SIZE, isEnvelope, sagaIdFingerprint } from "../../codecs/envelope";
import { identityOf } from "../../codecs/stored-identity";
import { readEntries, type OperatorParts } from "./walk";

/** Where a value's id index points: at it, nowhere, or at another correlation id. */
export type ValueIndexState = "ok" | "missing" | "elsewhere";

/** For values whose saga id is known: where each one's index points. */
export async function valueIndexStates(parts: OperatorParts, sagaName: string, values: readonly { correlationId: string; sagaId: string }[]): Promise<ValueIndexState[]> {
  const indexKeys = values.map(({ sagaId }) => parts.keys.storedIndexKey(sagaName, sagaId));
  const readable = indexKeys.flatMap((key) => (key === undefined ? [] : [key]));
  const entries = await readEntries(parts, readable);
  let at = 0;
  return values.map(({ correlationId }, i) => {
    if (indexKeys[i] === undefined) return "missing";
    const pointed = entries[at++]!.bytes?.toString("utf8");
    return pointed === undefined ? "missing" : pointed === correlationId ? "ok" : "elsewhere";
  });
}

/** What a saga id's index leads to: its saga, nothing (missing, or another saga), a value this version cannot vouch for; or the index went meanwhile. */
export interface IndexLead {
  indexKey: string;
  sagaId: string;
  /** Undefined when the index went meanwhile. */
  correlationId: string | undefined;
  /** The value key it names; undefined when gone, or when no key could hold that correlation id. */
  valueKey: string | undefined;
  leadsTo: "saga" | "nothing" | "unreadable" | "gone";
}

/** For index keys: what each leads to, from the header of the value it names (a 0.2.2 value read in full). */
export async function indexLeads(parts: OperatorParts, sagaName: string, indexes: readonly { key: string; sagaId: string }[]): Promise<IndexLead[]> {
  const pointed = (await readEntries(parts, indexes.map(({ key }) => key))).map((entry) => entry.bytes?.toString("utf8"));
  const targets = pointed.map((correlationId) => (correlationId === undefined ? undefined : safeValueKey(parts, sagaName, correlationId)));
  const heads = await readEntries(parts, targets.flatMap((key) => (key === undefined ? [] : [key])), HEADER_SIZE);
  const plain: string[] = [];
  let at = 0;
  const headOf = targets.map((key) => (key === undefined ? undefined : heads[at++]!.bytes));
  headOf.forEach((head, i) => {
    if (head && !isEnvelope(head)) plain.push(targets[i]!);
  });
  const plainValues = new Map((await readEntries(parts, plain)).map((entry, i) => [plain[i]!, entry.bytes]));
  return indexes.map(({ key, sagaId }, i) => {
    const correlationId = pointed[i];
    const head = headOf[i];
    const lead = (leadsTo: IndexLead["leadsTo"]): IndexLead => ({ indexKey: key, sagaId, correlationId, valueKey: targets[i], leadsTo });
    if (correlationId === undefined) return lead("gone");
    if (!head) return lead("nothing");
    const bytes = isEnvelope(head) ? head : plainValues.get(targets[i]!);
    if (!bytes) return lead("nothing");
    const owner = identityOf(bytes);
    if (!owner) return lead("unreadable");
    return lead(owner.fingerprint.equals(sagaIdFingerprint(sagaId)) ? "saga" : "nothing");
  });
}

/** The value key of a correlation id read from an index, or undefined when no key could hold it. */
function safeValueKey(parts: OperatorParts, sagaName: string, correlationId: string): string | undefined {
  try {
    return parts.keys.valueKey(sagaName, correlationId);
  } catch {
    return undefined;
  }
}
