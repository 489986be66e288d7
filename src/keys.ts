import { escapeCorrelationId, unescapeCorrelationId } from "../codecs/correlation-id-escape";
import { InvalidKeyError, InvalidOptionsError } from "./errors";

/**
 * Key layout (format 1, compatible with 0.2.2 for ordinary ids):
 *   value: {prefix}saga:{sagaName}:{escapedCorrelationId}
 *   index: {prefix}saga:{sagaName}:idx:id:{sagaId}
 *
 * The index namespace `idx:` is reserved: codecs/correlation-id-escape.ts
 * says how a correlation id is written into a value key. Saga names may not contain `:`, which keeps names from
 * bleeding into ids. Ids must be well-formed Unicode, because ioredis encodes
 * strings as UTF-8 and a lone surrogate would collapse to U+FFFD, making two
 * different ids share one key.
 */
export const DEFAULT_KEY_PREFIX = "saga-bus:";
export const MAX_SAGA_NAME_LENGTH = 256;
export const MAX_ID_BYTES = 1024;

const validatedNames = new Set<string>();

export function assertSagaName(sagaName: string): void {
  if (validatedNames.has(sagaName)) return;
  if (typeof sagaName !== "string" || sagaName.length === 0) throw new InvalidKeyError("sagaName", String(sagaName), "must be a non-empty string");
  if (sagaName.includes(":")) throw new InvalidKeyError("sagaName", sagaName, 'must not contain ":"');
  if (sagaName.length > MAX_SAGA_NAME_LENGTH) throw new InvalidKeyError("sagaName", sagaName, `longer than ${MAX_SAGA_NAME_LENGTH} characters`);
  if (!sagaName.isWellFormed()) throw new InvalidKeyError("sagaName", sagaName, "contains a lone surrogate");
  if (validatedNames.size < 10_000) validatedNames.add(sagaName);
}

export function assertId(part: "sagaId" | "correlationId", id: string): void {
  if (typeof id !== "string" || id.length === 0) throw new InvalidKeyError(part, String(id), "must be a non-empty string");
  // Cheap bound first: a UTF-8 character is at most 3 bytes per UTF-16 unit.
  if (id.length * 3 > MAX_ID_BYTES && Buffer.byteLength(id) > MAX_ID_BYTES) {
    throw new InvalidKeyError(part, id, `longer than ${MAX_ID_BYTES} bytes`);
  }
  if (!id.isWellFormed()) throw new InvalidKeyError(part, id, "contains a lone surrogate");
}

/**
 * Every key a store writes is {prefix}saga:{sagaName}:..., so a prefix that
 * holds "saga:" lies inside the keys of a shorter one: to a store with prefix
 * "a:", the keys of a store with prefix "a:saga:S:" are saga S's, under
 * correlation ids "saga:…", listed, read and deleted as its own. A prefix
 * without "saga:" can nest in no other prefix's keys: a key of prefix P is P
 * followed by "saga:", so for it to start with another prefix Q's
 * "{Q}saga:{name}:", Q shorter, that "saga:" would begin inside P.
 * `effectivePrefix` is everything before "saga:" on the server, an ioredis
 * client's own keyPrefix included.
 */
export function assertKeyPrefixCannotNest(effectivePrefix: string, allowNesting: boolean | undefined): void {
  if (allowNesting === true || !effectivePrefix.includes("saga:")) return;
  throw new InvalidOptionsError(
    `key prefix ${JSON.stringify(effectivePrefix)} contains "saga:", so it lies inside the keys of a store whose prefix is the part before it, ` +
      'which would list, read and delete these sagas as its own. Choose a prefix without "saga:", or pass allowNestingKeyPrefix: true ' +
      "if no store uses that shorter prefix (e.g. keys written by 0.2.2 under this prefix).",
  );
}

export class KeyLayout {
  constructor(readonly prefix: string) {}

  valueKey(sagaName: string, correlationId: string): string {
    assertSagaName(sagaName);
    assertId("correlationId", correlationId);
    return `${this.sagaKeysPrefix}${sagaName}:${escapeCorrelationId(correlationId)}`;
  }

  /** Every value and index key of one saga type starts with this. */
  sagaKeyPrefix(sagaName: string): string {
    assertSagaName(sagaName);
    return `${this.sagaKeysPrefix}${sagaName}:`;
  }

  /** The correlation id of a value key under sagaKeyPrefix(); undefined for an index key. */
  correlationIdOf(sagaKeyPrefix: string, key: string): string | undefined {
    const rest = key.slice(sagaKeyPrefix.length);
    return rest.startsWith("idx:") ? undefined : unescapeCorrelationId(rest);
  }

  /** Every value and index key of every saga type starts with this. */
  get sagaKeysPrefix(): string {
    return `${this.prefix}saga:`;
  }

  /** The saga name of any key of the layout (value or index); undefined for a key outside it. */
  sagaNameOf(key: string): string | undefined {
    if (!key.startsWith(this.sagaKeysPrefix)) return undefined;
    const colon = key.indexOf(":", this.sagaKeysPrefix.length);
    return colon > this.sagaKeysPrefix.length ? key.slice(this.sagaKeysPrefix.length, colon) : undefined;
  }

  /** The saga name and correlation id of a value key; undefined for an index key or a key outside the layout. */
  parseValueKey(key: string): { sagaName: string; correlationId: string } | undefined {
    const sagaName = this.sagaNameOf(key);
    if (sagaName === undefined) return undefined;
    const correlationId = this.correlationIdOf(`${this.sagaKeysPrefix}${sagaName}:`, key);
    return correlationId === undefined ? undefined : { sagaName, correlationId };
  }

  indexKey(sagaName: string, sagaId: string): string {
    assertSagaName(sagaName);
    assertId("sagaId", sagaId);
    return `${this.sagaKeysPrefix}${sagaName}:idx:id:${sagaId}`;
  }

  /** The index key of a saga id read back from storage, or undefined when that id could never be a key. */
  storedIndexKey(sagaName: string, sagaId: string | undefined): string | undefined {
    if (sagaId === undefined) return undefined;
    try {
      return this.indexKey(sagaName, sagaId);
    } catch {
      return undefined;
    }
  }
}
