import { DecodeError, InvalidKeyError, InvalidOptionsError, InvalidStateError, StateTooLargeError } from "../src/errors";
import { escapeCorrelationId } from "./correlation-id-escape";
import { isSagaBusShaped, type AnySagaState } from "./state-shape";
import { stringWithReserve } from "./codec";
import { HEADER_SIZE, sagaIdFingerprint, writePlainRequestHeader } from "./envelope";
import { reviveMetadataDates } from "./saga-dates";

/**
 * The value format of @saga-bus/store-redis 0.2.2, both ways, in one place:
 * plain JSON, no envelope. What 0.2.2 wrote (its `serializeState`) is
 *
 *   JSON.stringify({ ...state, metadata: { ...state.metadata,
 *     createdAt: createdAt.toISOString(), updatedAt: updatedAt.toISOString(),
 *     archivedAt: archivedAt?.toISOString() ?? null,
 *     timeoutExpiresAt: timeoutExpiresAt?.toISOString() ?? null } })
 *
 * and what it reads back is JSON.parse with those four fields turned into
 * Dates again (`new Date(...)`, null kept), its version from
 * `metadata.version`, its saga id from `metadata.sagaId`.
 */

/** `writeFormat` option: "envelope" (default) writes envelope format 1; "0.2.2" writes exactly what 0.2.2 writes. */
export type WriteFormat = "envelope" | "0.2.2";
export const WRITE_FORMATS: readonly WriteFormat[] = ["envelope", "0.2.2"];
export const LEGACY_WRITE_FORMAT = "0.2.2" satisfies WriteFormat;

/** Refuses (INVALID_OPTIONS) a write format that is neither of WRITE_FORMATS. */
export function assertWriteFormat(format: WriteFormat, option: string): void {
  if (!WRITE_FORMATS.includes(format)) {
    throw new InvalidOptionsError(`Unknown ${option} ${JSON.stringify(format)} (expected ${WRITE_FORMATS.map((f) => `"${f}"`).join(" or ")})`);
  }
}

/** A value written by 0.2.2 (or by writeFormat "0.2.2"): plain JSON with ISO date strings. */
export function decodeLegacy(key: string, bytes: Buffer): Record<string, unknown> {
  const first = bytes.length > 0 ? bytes[0]! : -1;
  if (first !== 0x7b /* { */ && first !== 0x20 && first !== 0x0a && first !== 0x0d && first !== 0x09) {
    throw new DecodeError(key, bytes.length === 0 ? "empty value" : `unknown value format (first byte 0x${first.toString(16)})`);
  }
  let state: unknown;
  try {
    state = JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw new DecodeError(key, `legacy JSON value is corrupt: ${(error as Error).message}`, { cause: error });
  }
  if (state === null || typeof state !== "object" || Array.isArray(state)) throw new DecodeError(key, "payload is not an object");
  return reviveMetadataDates(state) as Record<string, unknown>;
}

/**
 * The exact text 0.2.2 writes for `state` saved as `version`: its
 * serializeState of the state with `metadata.version` set to `version`
 * (0.2.2 reads the version from there; there is no header). A state 0.2.2
 * could not write or read back is refused with INVALID_STATE, so nothing is
 * written:
 * - not saga-bus-shaped (no string `metadata.sagaId`): 0.2.2 finds id,
 *   version and dates in `metadata` only, and its update would index it
 *   under saga id "undefined";
 * - `createdAt`/`updatedAt` not valid Dates, or `archivedAt`/`timeoutExpiresAt`
 *   neither null/absent nor valid Dates: 0.2.2's serializer throws on them,
 *   so a 0.2.2 instance that loaded such a saga could never save it.
 */
export function legacyJson(sagaName: string, state: AnySagaState, version: number): string {
  if (!isSagaBusShaped(state)) {
    throw new InvalidStateError(
      sagaName,
      'writeFormat "0.2.2" writes saga-bus-shaped states only (a string metadata.sagaId): 0.2.2 reads id, version and dates from metadata and could not read this state',
    );
  }
  const metadata = state.metadata as Record<string, unknown>;
  return JSON.stringify({
    ...state,
    metadata: {
      ...metadata,
      version,
      createdAt: isoDate(sagaName, "createdAt", metadata.createdAt, false),
      updatedAt: isoDate(sagaName, "updatedAt", metadata.updatedAt, false),
      archivedAt: isoDate(sagaName, "archivedAt", metadata.archivedAt, true),
      timeoutExpiresAt: isoDate(sagaName, "timeoutExpiresAt", metadata.timeoutExpiresAt, true),
    },
  });
}

function isoDate(sagaName: string, field: string, value: unknown, optional: boolean): string | null {
  if (optional && (value === null || value === undefined)) return null;
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
  throw new InvalidStateError(
    sagaName,
    `writeFormat "0.2.2": metadata.${field} must be a valid Date${optional ? ", null or absent" : ""} (0.2.2's serializer calls toISOString() on it), got ${describe(value)}`,
  );
}

function describe(value: unknown): string {
  if (value instanceof Date) return "an Invalid Date";
  if (value === undefined) return "nothing";
  return typeof value === "string" ? `the string ${JSON.stringify(value.slice(0, 40))}` : typeof value;
}

/**
 * 0.2.2 keys a value under the raw correlation id; ours escapes one starting
 * with `%` or `idx:` (src/keys.ts), so 0.2.2 would look elsewhere. Such a
 * saga cannot be shared with 0.2.2 and is refused (INVALID_KEY) before anything is sent.
 */
export function assertLegacyCorrelationId(correlationId: string): void {
  if (escapeCorrelationId(correlationId) !== correlationId) {
    throw new InvalidKeyError(
      "correlationId",
      correlationId,
      'starts with "%" or "idx:", which this store escapes in its key and 0.2.2 does not: writeFormat "0.2.2" cannot write it where 0.2.2 looks',
    );
  }
}

/**
 * The write request for a 0.2.2 value: the plain-JSON request header (see
 * codecs/envelope.ts) followed by exactly the bytes to store.
 */
export function encodeLegacyRequest(
  sagaName: string,
  state: AnySagaState,
  meta: { sagaId: string; sagaVersion: number; schemaVersion: number },
  maxStateBytes: number,
): Buffer {
  const buffer = stringWithReserve(legacyJson(sagaName, state, meta.sagaVersion), HEADER_SIZE);
  const size = buffer.length - HEADER_SIZE;
  if (size > maxStateBytes) throw new StateTooLargeError(sagaName, size, maxStateBytes);
  return writePlainRequestHeader(buffer, { schemaVersion: meta.schemaVersion, sagaVersion: meta.sagaVersion }, sagaIdFingerprint(meta.sagaId));
}
