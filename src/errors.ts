import { sagaBusErrorClass, type SagaBusErrorKind } from "./saga-bus-errors";

/**
 * Every failure the store reports is one of these classes. Each carries a
 * stable `code` so callers can branch without matching on message text.
 */
export type SagaStoreErrorCode =
  | "SAGA_CONFLICT"
  | "SAGA_ALREADY_EXISTS"
  | "SAGA_NOT_FOUND"
  | "INVALID_KEY"
  | "INVALID_STATE"
  | "INVALID_OPTIONS"
  | "DECODE_FAILED"
  | "STATE_TOO_LARGE"
  | "STORE_CLOSED"
  | "REDIS_UNAVAILABLE"
  | "REDIS_COMMAND_FAILED"
  | "REDIS_AUTH_FAILED"
  | "REDIS_PERMISSION_DENIED"
  | "EVICTION_POLICY"
  | "REDIS_OUT_OF_MEMORY"
  | "AMBIGUOUS_ID"
  | "WRITE_OUTCOME_UNKNOWN"
  | "WRITE_NOT_REPLICATED"
  | "UNKNOWN_SAGA"
  | "REGISTRY_INVALID"
  | "SCHEMA_VALIDATION_FAILED"
  | "MIGRATION_FAILED"
  | "SCHEMA_VERSION_AHEAD"
  | "MIGRATION_REFUSED"
  | "ENCRYPTION_KEY_UNKNOWN"
  | "PLAINTEXT_REFUSED";

const STORE_CLASS = Symbol("saga-store-error-class");

interface SagaStoreErrorOptions {
  cause?: unknown;
  /** True when the same call may succeed if simply repeated later. */
  retryable?: boolean;
  /** Which of saga-bus's classes this failure is also an instance of, when @saga-bus/core is installed. */
  sagaBus?: SagaBusErrorKind;
}

export abstract class SagaStoreError extends Error {
  abstract readonly code: SagaStoreErrorCode;
  /** True when the same call may succeed if simply repeated later. */
  declare readonly retryable: boolean;

  constructor(message: string, options: SagaStoreErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    const busClass = options.sagaBus && sagaBusErrorClass(options.sagaBus);
    const target: SagaStoreError = busClass ? onSagaBusClass(this, new.target, busClass) : this;
    Object.defineProperty(target, "name", { value: new.target.name, writable: true, configurable: true });
    Object.defineProperty(target, "retryable", { value: options.retryable ?? false, enumerable: true });
    // A derived constructor's `this` is what its parent returns: the subclass's fields land on `target`.
    return target;
  }

  /**
   * An error built on one of saga-bus's classes is not on this class's
   * prototype chain, so instanceof also accepts the store class it was made as.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    const origin = (value as { [STORE_CLASS]?: unknown } | null | undefined)?.[STORE_CLASS];
    return typeof origin === "function" && (origin === this || Object.prototype.isPrototypeOf.call(this.prototype, origin.prototype));
  }
}

const bridgedPrototypes = new Map<Function, Map<Function, object>>();

/**
 * The same error, made by saga-bus's class: its prototype descends from the
 * bus class and carries the store class's own members, so it reads like the
 * store error and `instanceof` works both ways.
 */
function onSagaBusClass(error: SagaStoreError, storeClass: Function, busClass: new (...args: any[]) => Error): SagaStoreError {
  let byBusClass = bridgedPrototypes.get(storeClass);
  if (!byBusClass) bridgedPrototypes.set(storeClass, (byBusClass = new Map()));
  let prototype = byBusClass.get(busClass);
  if (!prototype) {
    prototype = Object.create(busClass.prototype) as object;
    for (let from = storeClass.prototype; from !== Error.prototype; from = Object.getPrototypeOf(from)) {
      for (const [name, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(from))) {
        if (!Object.prototype.hasOwnProperty.call(prototype, name)) Object.defineProperty(prototype, name, descriptor);
      }
    }
    Object.defineProperty(prototype, STORE_CLASS, { value: storeClass });
    byBusClass.set(busClass, prototype);
  }
  const construct = function () {} as unknown as new () => object;
  construct.prototype = prototype;
  const bridged = Reflect.construct(busClass, [error.message, error.cause], construct) as SagaStoreError;
  for (const name of ["message", "stack"] as const) {
    Object.defineProperty(bridged, name, { value: error[name], writable: true, configurable: true });
  }
  if (error.cause === undefined) delete (bridged as { cause?: unknown }).cause;
  else Object.defineProperty(bridged, "cause", { value: error.cause, writable: true, configurable: true });
  return bridged;
}

/**
 * The stored version is not the one the caller loaded. Retrying the same
 * write cannot succeed: reload, re-apply, save again (or use `modify`).
 * With @saga-bus/core installed it is also core's ConcurrencyError, which
 * the bus retries by redelivering the message (a reload and a re-run).
 */
export class ConcurrencyError extends SagaStoreError {
  readonly code = "SAGA_CONFLICT" as const;
  constructor(
    readonly sagaId: string,
    readonly expectedVersion: number,
    readonly actualVersion: number,
    readonly sagaName?: string,
  ) {
    super(
      `Optimistic concurrency conflict on saga ${sagaName ?? ""}${sagaName ? "/" : ""}${sagaId}: ` +
        `expected version ${expectedVersion}, stored version is ${actualVersion}`,
      { sagaBus: "conflict" },
    );
  }
}

/**
 * A new saga whose correlation id is taken (`existingCorrelationId`
 * undefined: another insert won the race, and with @saga-bus/core installed
 * this is also core's ConcurrencyError, so the bus reloads and finds the
 * saga), or whose saga id is live under another correlation id.
 */
export class SagaAlreadyExistsError extends SagaStoreError {
  readonly code = "SAGA_ALREADY_EXISTS" as const;
  constructor(
    readonly sagaName: string,
    readonly correlationId: string,
    readonly sagaId: string,
    /** Set when the saga id is already live under this other correlation id. */
    readonly existingCorrelationId?: string,
  ) {
    super(
      existingCorrelationId === undefined
        ? `Saga ${sagaName} with correlation id "${correlationId}" already exists`
        : `Saga ${sagaName} id "${sagaId}" already exists under correlation id "${existingCorrelationId}"; not inserted under "${correlationId}"`,
      existingCorrelationId === undefined ? { sagaBus: "conflict" } : {},
    );
  }
}

export class SagaNotFoundError extends SagaStoreError {
  readonly code = "SAGA_NOT_FOUND" as const;
  constructor(
    readonly sagaName: string,
    readonly sagaId: string | undefined,
    readonly correlationId: string | undefined,
  ) {
    super(
      `Saga ${sagaName} not found (` +
        [sagaId !== undefined ? `id "${sagaId}"` : "", correlationId !== undefined ? `correlation id "${correlationId}"` : ""]
          .filter(Boolean)
          .join(", ") +
        ")",
    );
  }
}

export class InvalidKeyError extends SagaStoreError {
  readonly code = "INVALID_KEY" as const;
  constructor(
    readonly part: "sagaName" | "sagaId" | "correlationId",
    readonly value: string,
    reason: string,
  ) {
    super(`Invalid ${part} ${JSON.stringify(value.length > 80 ? value.slice(0, 80) + "…" : value)}: ${reason}`);
  }
}

export class InvalidStateError extends SagaStoreError {
  readonly code = "INVALID_STATE" as const;
  constructor(
    readonly sagaName: string,
    reason: string,
  ) {
    super(`Invalid state for saga ${sagaName}: ${reason}`);
  }
}

export class InvalidOptionsError extends SagaStoreError {
  readonly code = "INVALID_OPTIONS" as const;
}

/** Stored bytes that are neither a readable envelope nor a 0.2.2 JSON value. Nothing was written. */
export class DecodeError extends SagaStoreError {
  readonly code = "DECODE_FAILED" as const;
  constructor(
    readonly key: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`Cannot decode stored value at key "${key}": ${reason}`, options);
  }
}

export class StateTooLargeError extends SagaStoreError {
  readonly code = "STATE_TOO_LARGE" as const;
  constructor(
    readonly sagaName: string,
    readonly sizeBytes: number,
    readonly limitBytes: number,
    /** Set when the state is refused for its containers (maxStateContainers), not its bytes. */
    readonly limitContainers?: number,
  ) {
    super(
      limitContainers === undefined
        ? `State of saga ${sagaName} is ${sizeBytes} bytes encoded, above the limit of ${limitBytes} bytes`
        : `State of saga ${sagaName} holds more than ${limitContainers} containers (objects, arrays, maps, sets, ...) in its ${sizeBytes} encoded bytes, above maxStateContainers`,
    );
  }
}

export class StoreClosedError extends SagaStoreError {
  readonly code = "STORE_CLOSED" as const;
  constructor() {
    super("Store is closed: close() was called; create a new store");
  }
}

/**
 * The connection failed or the server answered that it cannot serve now
 * (LOADING, TRYAGAIN, CLUSTERDOWN, READONLY, ...). Safe to repeat: with
 * @saga-bus/core installed it is also core's TransientError.
 */
export class RedisUnavailableError extends SagaStoreError {
  readonly code = "REDIS_UNAVAILABLE" as const;
  constructor(
    readonly operation: string,
    readonly key: string | undefined,
    /** False when the server certainly did not run the command (it refused it with an error reply). */
    readonly mayHaveBeenApplied: boolean,
    options: { cause: unknown },
  ) {
    super(`Redis unavailable during ${operation}${key ? ` on "${key}"` : ""}: ${(options.cause as Error)?.message ?? options.cause}`, {
      ...options,
      retryable: true,
      sagaBus: "transient",
    });
  }
}

/**
 * Redis refused a write because it reached `maxmemory` under the noeviction
 * policy. Nothing was written by the refused command; reads keep working.
 * Not retried: it lasts until memory is freed or the limit raised.
 */
export class RedisOutOfMemoryError extends SagaStoreError {
  readonly code = "REDIS_OUT_OF_MEMORY" as const;
  constructor(
    readonly operation: string,
    readonly key: string | undefined,
    options: { cause: unknown },
  ) {
    super(`Redis is out of memory (maxmemory reached) and refused ${operation}${key ? ` on "${key}"` : ""}`, options);
  }
}

/**
 * Redis refused the credentials (WRONGPASS, NOAUTH), on a standalone server
 * and on a Cluster alike. Not retryable: fix the password or user.
 */
export class RedisAuthError extends SagaStoreError {
  readonly code = "REDIS_AUTH_FAILED" as const;
  constructor(
    readonly operation: string,
    readonly key: string | undefined,
    options: { cause: unknown },
  ) {
    super(`Redis refused the credentials during ${operation}: ${(options.cause as Error)?.message ?? options.cause}`, options);
  }
}

/**
 * The Redis user's ACL does not let the store run a command it needs on its
 * keys. From a start, `commands` lists every one missing (of every primary
 * of a Cluster); from a call, the one Redis refused before anything of the
 * call was applied. Nothing was written either way. Not retryable: grant
 * the commands (README "Least-privilege Redis user").
 */
export class MissingPermissionsError extends SagaStoreError {
  readonly code = "REDIS_PERMISSION_DENIED" as const;
  constructor(
    readonly operation: string,
    readonly key: string | undefined,
    /** As ACL rules name them ("pexpire", "script|load"); empty when Redis's refusal named none (a key pattern, say). */
    readonly commands: readonly string[],
    options: { cause?: unknown; note?: string } = {},
  ) {
    const which = commands.length > 0 ? commands.map((name) => `'${name}'`).join(", ") : "a command";
    const cause = options.cause === undefined ? "" : `: ${(options.cause as Error)?.message ?? options.cause}`;
    super(
      `The Redis user's ACL does not allow ${which}${key === undefined ? "" : ` on "${key}"`}, needed by ${operation}${options.note ? ` (${options.note})` : ""}; nothing was written${cause}`,
      options.cause === undefined ? {} : { cause: options.cause },
    );
  }
}

/**
 * The server's maxmemory-policy evicts keys: under memory pressure it would
 * drop saga values or their indexes, silently. Use `noeviction`, or pass
 * `allowEviction: true` to accept the loss.
 */
export class EvictionPolicyError extends SagaStoreError {
  readonly code = "EVICTION_POLICY" as const;
  constructor(
    readonly node: string,
    readonly policy: string,
  ) {
    super(
      `Redis at ${node} has maxmemory-policy "${policy}": under memory pressure it evicts keys, and an evicted saga or index is lost without an error. ` +
        `Set maxmemory-policy noeviction (the store then gets REDIS_OUT_OF_MEMORY instead), or pass allowEviction: true to accept the loss.`,
    );
  }
}

/** Any other error reply from Redis. */
export class RedisCommandError extends SagaStoreError {
  readonly code = "REDIS_COMMAND_FAILED" as const;
  constructor(
    readonly operation: string,
    readonly key: string | undefined,
    options: { cause: unknown },
  ) {
    super(`Redis rejected ${operation}${key ? ` on "${key}"` : ""}: ${(options.cause as Error)?.message ?? options.cause}`, options);
  }
}

/**
 * A write that may have been applied, reported as a failure: its reply was
 * lost and what is stored now does not tell (another writer has written
 * since), or Redis applied it in part (`reason` then says so). The caller must
 * reload and decide; blindly re-applying could apply a change twice.
 */
export class WriteOutcomeUnknownError extends SagaStoreError {
  readonly code = "WRITE_OUTCOME_UNKNOWN" as const;
  constructor(
    readonly sagaName: string,
    readonly sagaId: string,
    readonly key: string,
    options: { cause?: unknown; reason?: string } = {},
  ) {
    super(
      `Write to saga ${sagaName}/${sagaId} at "${key}" ${options.reason ?? "may or may not have been applied: the reply was lost and the saga has changed since"}`,
      options.cause === undefined ? {} : { cause: options.cause },
    );
  }
}

/** A saga name the registry does not declare (strict registries only). */
export class UnknownSagaError extends SagaStoreError {
  readonly code = "UNKNOWN_SAGA" as const;
  constructor(
    readonly sagaName: string,
    readonly knownSagas: readonly string[],
  ) {
    super(`Saga ${sagaName} is not in the registry (registered: ${knownSagas.join(", ") || "none"})`);
  }
}

/** Everything wrong with a registry, found at construction; nothing is half-registered. */
export class RegistryInvalidError extends SagaStoreError {
  readonly code = "REGISTRY_INVALID" as const;
  constructor(readonly problems: readonly string[]) {
    super(`Saga registry is invalid:\n- ${problems.join("\n- ")}`);
  }
}

export interface SchemaIssue {
  path: PropertyKey[];
  message: string;
  code?: string;
}

/** A state that does not match the schema of the version being written (or read). Nothing was written. */
export class SchemaValidationError extends SagaStoreError {
  readonly code = "SCHEMA_VALIDATION_FAILED" as const;
  constructor(
    readonly sagaName: string,
    readonly sagaId: string | undefined,
    readonly schemaVersion: number,
    readonly issues: readonly SchemaIssue[],
    readonly phase: "write" | "read",
  ) {
    super(
      `State of saga ${sagaName}${sagaId !== undefined ? `/${sagaId}` : ""} does not match schema version ${schemaVersion} on ${phase}: ` +
        issues
          .slice(0, 5)
          .map((issue) => `${issue.path.map(String).join(".") || "(root)"}: ${issue.message}`)
          .join("; "),
    );
  }
}

/** A migration step threw, or produced a state its target schema rejects. The stored bytes are untouched. */
export class MigrationError extends SagaStoreError {
  readonly code = "MIGRATION_FAILED" as const;
  constructor(
    readonly sagaName: string,
    readonly sagaId: string | undefined,
    readonly key: string | undefined,
    readonly fromVersion: number,
    readonly toVersion: number,
    options: { cause: unknown },
  ) {
    const cause = options.cause as { message?: string } | undefined;
    super(
      `Migration of saga ${sagaName}${sagaId !== undefined ? `/${sagaId}` : ""} from schema version ${fromVersion} to ${toVersion} failed: ${cause?.message ?? String(options.cause)}`,
      options,
    );
  }
}

/**
 * The stored state was written with a schema version newer than any this
 * registry knows. Never guessed at and never overwritten: deploy the code
 * that knows it (or roll forward), this call will not succeed on retry.
 */
export class SchemaVersionAheadError extends SagaStoreError {
  readonly code = "SCHEMA_VERSION_AHEAD" as const;
  constructor(
    readonly sagaName: string,
    readonly sagaId: string | undefined,
    readonly key: string,
    readonly storedVersion: number,
    readonly knownVersion: number,
  ) {
    super(
      `Saga ${sagaName}${sagaId !== undefined ? `/${sagaId}` : ""} at "${key}" was written with schema version ${storedVersion}; ` +
        `this registry knows up to ${knownVersion}. Refusing to read or overwrite newer data.`,
    );
  }
}

/**
 * With `durability` set: the write was applied on the primary, but fewer
 * replicas than required confirmed it within the timeout. It may be lost if
 * the primary fails before replicating; it may also survive. Reload before
 * deciding to redo anything.
 */
export class ReplicationTimeoutError extends SagaStoreError {
  readonly code = "WRITE_NOT_REPLICATED" as const;
  constructor(
    readonly operation: string,
    readonly key: string,
    readonly replicasAcknowledged: number,
    readonly replicasRequired: number,
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    const failed = options?.cause === undefined ? "" : ` (WAIT failed: ${(options.cause as Error)?.message ?? options.cause})`;
    super(
      `${operation} on "${key}" was applied on the primary but only ${replicasAcknowledged} of ${replicasRequired} required replicas confirmed it within ${timeoutMs} ms${failed}`,
      options,
    );
  }
}

/**
 * delete(sagaName, id) was given an id that is one saga's correlation id and
 * another saga's id. Nothing was deleted: call deleteByCorrelationId or
 * deleteById to say which.
 */
export class AmbiguousIdError extends SagaStoreError {
  readonly code = "AMBIGUOUS_ID" as const;
  constructor(
    readonly sagaName: string,
    readonly id: string,
  ) {
    super(`"${id}" is the correlation id of one ${sagaName} saga and the saga id of another; nothing deleted (use deleteByCorrelationId or deleteById)`);
  }
}

/**
 * The operator API's migrateAll would break a rule (a target above what the
 * fleet writes, a stored schema version the registry does not know, a target
 * the format cannot hold): refused before anything is written.
 */
export class MigrationRefusedError extends SagaStoreError {
  readonly code = "MIGRATION_REFUSED" as const;
  constructor(
    readonly sagaName: string,
    readonly reason: string,
  ) {
    super(`Migration of ${sagaName} refused: ${reason}. Nothing was written.`);
  }
}

/**
 * A stored value is encrypted under a key id the store's key ring does not
 * hold. Nothing is read or written over: give the ring that key (rotation
 * keeps old keys until `stats` counts none of their values).
 */
export class EncryptionKeyUnknownError extends SagaStoreError {
  readonly code = "ENCRYPTION_KEY_UNKNOWN" as const;
  constructor(
    readonly keyId: string,
    readonly key: string,
  ) {
    super(`Stored value at "${key}" is encrypted with key id "${keyId}", which this store's encryption key ring does not hold; nothing read or written`);
  }
}

/** encryption.requireEncrypted: a value stored without encryption is refused, not read. It is left as it is. */
export class PlaintextRefusedError extends SagaStoreError {
  readonly code = "PLAINTEXT_REFUSED" as const;
  constructor(readonly key: string) {
    super(`Stored value at "${key}" is not encrypted, and encryption.requireEncrypted refuses to read it; encrypt it first (saga-store migrate --reencrypt)`);
  }
}

/** Stored bytes this store cannot read as they are: undecodable, under a key it lacks, or unencrypted where that is refused. */
export function isUnreadable(error: unknown): error is DecodeError | EncryptionKeyUnknownError | PlaintextRefusedError {
  return error instanceof DecodeError || error instanceof EncryptionKeyUnknownError || error instanceof PlaintextRefusedError;
}

/**
 * Whether `error` is one of the store's typed errors, one made by another
 * copy of this package included: a registry module an operator tool loads
 * may bring its own copy, whose classes are not this one's.
 */
export function isSagaStoreError(error: unknown): error is SagaStoreError {
  if (error instanceof SagaStoreError) return true;
  const fields = error as { code?: unknown; retryable?: unknown };
  return error instanceof Error && typeof fields.code === "string" && typeof fields.retryable === "boolean";
}
