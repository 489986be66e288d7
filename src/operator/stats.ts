import { isCompleted, readSagaId } from "../../codecs/state-shape";
import { isUnreadable } from "../errors";
import { indexLeads, valueIndexStates } from "./index-check";
import { SizeHistogram } from "./size-histogram";
import { storedForm } from "./stored-form";
import { readEntries, walkSaga, type OperatorParts, type RunControl } from "./walk";

/** One saga type's stored values and indexes, counted (sizes are the stored bytes, header included). */
export interface SagaStats {
  sagaName: string;
  /** Stored values. */
  count: number;
  /** Values by the schema version they are read as (a 0.2.2 value: the registry's legacySchemaVersion, else 1); values with an unreadable header are left out. */
  bySchemaVersion: Record<string, number>;
  /** Values by codec name ("json" for 0.2.2 values; "unknown" for an unreadable header). */
  byCodec: Record<string, number>;
  /** Values by form: envelope, 0.2.2 plain JSON, or an envelope header this version cannot read. */
  byFormat: { envelope: number; "0.2.2": number; unknown: number };
  /** Envelopes with a deflate-compressed payload. */
  compressed: number;
  /** Encrypted values by the key id they name (no key needed to count them): a key may be retired once it has none. */
  byKeyId: Record<string, number>;
  /** Values stored without encryption (0.2.2 values included; unreadable headers left out). */
  unencrypted: number;
  /** Stored size in bytes: p50 and p99 exact below 64 KiB, within 1% above; max exact. 0 when there are none. */
  bytes: { p50: number; p99: number; max: number };
  withTtl: number;
  withoutTtl: number;
  /** Decoded values that are completed (metadata.isCompleted, or status "completed" in the seed shape). */
  completed: number;
  /** Values that fail to decode (their codec, compression or bounds); see verify for each key and why. */
  undecodable: number;
  index: {
    /** Id index keys leading to no value of their saga (the value missing, or another saga's). */
    withoutValue: number;
    /** Decoded values whose id index is missing: findById cannot find them. */
    missing: number;
    /** Decoded values whose id index points at another correlation id. */
    elsewhere: number;
  };
  /** True when the run was stopped (signal) before it saw every key: the counts are of what it saw. */
  stopped: boolean;
}

export async function sagaStats(parts: OperatorParts, sagaName: string, control: RunControl = {}): Promise<SagaStats> {
  const sizes = new SizeHistogram();
  const stats: SagaStats = {
    sagaName,
    count: 0,
    bySchemaVersion: {},
    byCodec: {},
    byFormat: { envelope: 0, "0.2.2": 0, unknown: 0 },
    compressed: 0,
    byKeyId: {},
    unencrypted: 0,
    bytes: { p50: 0, p99: 0, max: 0 },
    withTtl: 0,
    withoutTtl: 0,
    completed: 0,
    undecodable: 0,
    index: { withoutValue: 0, missing: 0, elsewhere: 0 },
    stopped: false,
  };
  const bump = (counts: Record<string, number>, name: string | number) => {
    counts[name] = (counts[name] ?? 0) + 1;
  };
  const { stopped } = await walkSaga(parts, sagaName, "stats", control, async ({ values, indexes }) => {
    const [entries, leads] = await Promise.all([readEntries(parts, values.map(({ key }) => key)), indexLeads(parts, sagaName, indexes)]);
    const indexed: { correlationId: string; sagaId: string }[] = [];
    entries.forEach(({ bytes, ttlMs }, i) => {
      if (!bytes) return;
      const { key, correlationId } = values[i]!;
      stats.count++;
      sizes.add(bytes.length);
      if (ttlMs >= 0) stats.withTtl++;
      else stats.withoutTtl++;
      let form = storedForm(parts.serializer, bytes);
      let state: Record<string, unknown> | undefined;
      try {
        state = parts.serializer.decode(key, bytes).state;
      } catch (error) {
        if (!isUnreadable(error)) throw error;
        stats.undecodable++;
        // Bytes without the envelope magic that are no JSON either are no 0.2.2 value.
        if (form.format === "0.2.2") form = { ...form, format: "unknown", codec: "unknown" };
      }
      stats.byFormat[form.format]++;
      bump(stats.byCodec, form.codec);
      if (form.compressed) stats.compressed++;
      if (form.keyId !== undefined) bump(stats.byKeyId, form.keyId);
      else if (form.format !== "unknown") stats.unencrypted++;
      if (form.header) bump(stats.bySchemaVersion, form.header.schemaVersion);
      if (!state) return;
      if (form.format === "0.2.2") bump(stats.bySchemaVersion, parts.schemas.legacyVersion(sagaName));
      if (isCompleted(state)) stats.completed++;
      const sagaId = readSagaId(state);
      if (sagaId !== undefined) indexed.push({ correlationId, sagaId });
    });
    for (const state of await valueIndexStates(parts, sagaName, indexed)) {
      if (state !== "ok") stats.index[state]++;
    }
    for (const { leadsTo } of leads) if (leadsTo === "nothing") stats.index.withoutValue++;
  });
  stats.bytes = { p50: sizes.quantile(0.5), p99: sizes.quantile(0.99), max: sizes.max };
  stats.stopped = stopped;
  return stats;
}
