/**
 * The store's diagnostics channels (node:diagnostics_channel), a public
 * API: one TracingChannel per public store method and one plain channel per
 * event (README "Observability"). Names are global to the process, so every
 * copy of this package, and the OpenTelemetry entry point, meet on them.
 * Nothing here imports the store: src/otel/ builds on this file alone.
 */
import { channel, tracingChannel, type Channel, type TracingChannel } from "node:diagnostics_channel";

export const CHANNEL_PREFIX = "saga-bus:store-redis:";

/** The store methods traced, each on the TracingChannel `saga-bus:store-redis:<method>`. */
export const TRACED_OPERATIONS = [
  "findByCorrelationId",
  "findById",
  "getById",
  "getByCorrelationId",
  "insert",
  "update",
  "save",
  "modify",
  "delete",
  "deleteByCorrelationId",
  "deleteById",
  "countByName",
  "sagaNames",
  "stats",
  "verify",
  "migrateAll",
  "deleteCompleted",
  "deleteCompletedBefore",
  "inspect",
] as const;
export type TracedOperation = (typeof TRACED_OPERATIONS)[number];

/**
 * How an operation ended: a read "found" or "not-found"; a write "written",
 * or "already-written" (a re-sent write found its own earlier landing); a
 * delete "deleted" or "not-found"; an operator run "done" or "stopped" (its
 * signal); a failure its error's `code` ("error" for an error without one).
 */
export type OperationOutcome = "found" | "not-found" | "written" | "already-written" | "deleted" | "done" | "stopped" | (string & {});

/**
 * The context object of every message of an operation's TracingChannel
 * (start, end, asyncStart, asyncEnd, error): one object per call, filled in
 * as the call goes, complete by asyncEnd. TracingChannel adds `result` or
 * `error`.
 */
export interface OperationContext {
  operation: TracedOperation;
  /** "redis" for RedisSagaStore, "memory" for InMemorySagaStore, else what a custom store names. */
  system: string;
  /** Undefined for sagaNames(), which spans every saga type. */
  sagaName: string | undefined;
  /** Redis keys read or written, value key first; empty for operator runs, which walk every key of a saga type. */
  keys: string[];
  /** Codec of the value read, or written. */
  codec: string | undefined;
  /** Schema version of the value as stored (read) or as written. */
  schemaVersion: number | undefined;
  /** Saga version read, or written (the new version). */
  sagaVersion: number | undefined;
  /** 1 plus each retry: transient failures retried, and modify's reloads after a conflict. */
  attempts: number;
  outcome: OperationOutcome | undefined;
  result?: unknown;
  error?: unknown;
}

/** A save lost a version race: the stored version is not the one the state was loaded at. */
export interface ConflictEvent {
  operation: TracedOperation;
  sagaName: string;
  sagaId: string;
  key: string;
  expectedVersion: number;
  storedVersion: number;
}

/** A step of an operation is tried again after `delayMs`. */
export interface RetryEvent {
  operation: TracedOperation;
  sagaName: string | undefined;
  key: string | undefined;
  /** The attempt about to run: 2 for the first retry. */
  attempt: number;
  delayMs: number;
  /** What failed: a RedisUnavailableError, or in modify a ConcurrencyError. */
  cause: unknown;
  code: string;
}

/** An operation ended with an error of its kind (WriteOutcomeUnknownError, DecodeError, ...). */
export interface FailureEvent {
  operation: TracedOperation;
  sagaName: string | undefined;
  key: string | undefined;
  error: unknown;
}

/** A read brought a stored value from schema version `from` up to `to`. */
export interface UpgradedEvent {
  operation: TracedOperation;
  sagaName: string;
  key: string;
  from: number;
  to: number;
}

/** The store-created client reported a connection error (a client given as `redis` reports to its owner). */
export interface ConnectionErrorEvent {
  error: unknown;
}

export interface StoreEvents {
  conflict: ConflictEvent;
  retry: RetryEvent;
  "write-outcome-unknown": FailureEvent;
  "decode-failed": FailureEvent;
  upgraded: UpgradedEvent;
  "schema-version-ahead": FailureEvent;
  "validation-failed": FailureEvent;
  "connection-error": ConnectionErrorEvent;
}
export type StoreEventName = keyof StoreEvents;

export const STORE_EVENTS: readonly StoreEventName[] = [
  "conflict",
  "retry",
  "write-outcome-unknown",
  "decode-failed",
  "upgraded",
  "schema-version-ahead",
  "validation-failed",
  "connection-error",
];

/** The TracingChannel of a store method. */
export function operationChannel(operation: TracedOperation): TracingChannel<OperationContext, OperationContext> {
  return tracingChannel(CHANNEL_PREFIX + operation);
}

/** The plain channel of an event. */
export function eventChannel(event: StoreEventName): Channel {
  return channel(CHANNEL_PREFIX + event);
}

/**
 * Set on an operation's context by a start subscriber (src/otel/) to run the
 * operation inside its own async context, so spans begun within (a modify's
 * callback, the client's commands) are children of the operation's span.
 * Symbol.for: the OpenTelemetry entry point may be a separate copy of this file.
 */
export const RUN_WITHIN = Symbol.for("@saga-bus/store-redis.runWithin");
export type RunWithin = <T>(run: () => T) => T;
