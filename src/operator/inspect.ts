import { sagaIdFingerprint } from "../../codecs/envelope";
import { readSagaId } from "../../codecs/state-shape";
import { isSagaStoreError } from "../errors";
import { valueIndexStates, type ValueIndexState } from "./index-check";
import { storedForm, type StoredForm } from "./stored-form";
import { readEntries, type OperatorParts } from "./walk";

/** One stored saga as it sits in Redis: for support engineers, whatever its codec. */
export interface InspectedSaga {
  sagaName: string;
  /** Undefined when looked up by a saga id whose index is missing. */
  correlationId: string | undefined;
  valueKey: string | undefined;
  found: boolean;
  /** -1 no expiry, else milliseconds; -2 when not found. */
  ttlMs: number;
  /** The stored bytes, header included. */
  raw: Buffer | undefined;
  form: StoredForm | undefined;
  /** Whether the header's fingerprint is that of the decoded saga id; undefined without both. */
  fingerprintMatches: boolean | undefined;
  /** The payload decoded by its codec (Dates, Maps, Sets, BigInts as they are), before any upgrade. */
  state: Record<string, unknown> | undefined;
  /** With a registry: the state as reads return it (upgraded to the latest schema, validated). */
  readAs: Record<string, unknown> | undefined;
  /** Why decoding, or reading as the store does, fails. */
  error: { code: string; message: string } | undefined;
  /** Where the saga id's index points. */
  index: ValueIndexState | undefined;
}

export type InspectTarget = { correlationId: string; sagaId?: undefined } | { sagaId: string; correlationId?: undefined };

export async function inspectSaga(
  parts: OperatorParts,
  sagaName: string,
  target: InspectTarget,
  readAs: (key: string, bytes: Buffer) => Record<string, unknown>,
): Promise<InspectedSaga> {
  const result: InspectedSaga = {
    sagaName,
    correlationId: target.correlationId,
    valueKey: undefined,
    found: false,
    ttlMs: -2,
    raw: undefined,
    form: undefined,
    fingerprintMatches: undefined,
    state: undefined,
    readAs: undefined,
    error: undefined,
    index: undefined,
  };
  if (target.sagaId !== undefined) {
    const indexKey = parts.keys.indexKey(sagaName, target.sagaId);
    result.correlationId = (await readEntries(parts, [indexKey]))[0]!.bytes?.toString("utf8");
    if (result.correlationId === undefined) return result;
  }
  const key = parts.keys.valueKey(sagaName, result.correlationId!);
  result.valueKey = key;
  const [{ bytes, ttlMs }] = (await readEntries(parts, [key])) as [{ bytes: Buffer | null; ttlMs: number }];
  if (!bytes) return result;
  Object.assign(result, { found: true, ttlMs, raw: bytes, form: storedForm(parts.serializer, bytes) });
  try {
    result.state = parts.serializer.decode(key, bytes).state;
    result.readAs = readAs(key, bytes);
  } catch (error) {
    if (!isSagaStoreError(error)) throw error;
    result.error = { code: error.code, message: error.message };
  }
  const sagaId = result.state && readSagaId(result.state);
  if (sagaId !== undefined) {
    if (result.form!.fingerprint) result.fingerprintMatches = result.form!.fingerprint.equals(sagaIdFingerprint(sagaId));
    [result.index] = await valueIndexStates(parts, sagaName, [{ correlationId: result.correlationId!, sagaId }]);
  }
  return result;
}
