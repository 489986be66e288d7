/**
 * How the store publishes on its channels (src/telemetry/channels.ts). With
 * no subscriber an operation pays for one context object and a few
 * `hasSubscribers` reads; every message is built only for a subscriber.
 */
import type { Channel } from "node:diagnostics_channel";
import { isSagaStoreError } from "../errors";
import type { RetryObserver } from "../retry";
import {
  RUN_WITHIN,
  STORE_EVENTS,
  TRACED_OPERATIONS,
  eventChannel,
  operationChannel,
  type OperationContext,
  type OperationOutcome,
  type RunWithin,
  type StoreEventName,
  type StoreEvents,
  type TracedOperation,
} from "./channels";

const operationChannels = Object.fromEntries(TRACED_OPERATIONS.map((operation) => [operation, operationChannel(operation)])) as Record<
  TracedOperation,
  ReturnType<typeof operationChannel>
>;

const eventChannels = Object.fromEntries(STORE_EVENTS.map((name) => [name, eventChannel(name)])) as Record<StoreEventName, Channel>;

/** Publish an event, building its message only when someone listens. */
export function publish<Name extends StoreEventName>(name: Name, message: () => StoreEvents[Name]): void {
  const target = eventChannels[name];
  if (target.hasSubscribers) target.publish(message());
}

/** The error codes an operation may end with that are events of their own. */
const FAILURE_EVENTS: Record<string, StoreEventName> = {
  DECODE_FAILED: "decode-failed",
  WRITE_OUTCOME_UNKNOWN: "write-outcome-unknown",
  SCHEMA_VERSION_AHEAD: "schema-version-ahead",
  SCHEMA_VALIDATION_FAILED: "validation-failed",
};

function failureEventOf(error: unknown): StoreEventName | undefined {
  if (!isSagaStoreError(error)) return undefined;
  // A read that fails validation is a migration (from the stored version up) whose cause is the validation.
  if (error.code === "MIGRATION_FAILED" && isSagaStoreError(error.cause) && error.cause.code === "SCHEMA_VALIDATION_FAILED") return "validation-failed";
  return FAILURE_EVENTS[error.code];
}

function failureEventsWatched(): boolean {
  return (
    eventChannels["decode-failed"].hasSubscribers ||
    eventChannels["write-outcome-unknown"].hasSubscribers ||
    eventChannels["schema-version-ahead"].hasSubscribers ||
    eventChannels["validation-failed"].hasSubscribers
  );
}

/** An error a nested operation already published (modify's callback calling the store) is not published again by the outer one. */
const published = new WeakSet<object>();

function publishFailure(operation: StoreOperation, error: unknown): void {
  const name = failureEventOf(error);
  if (name === undefined || published.has(error as object)) return;
  published.add(error as object);
  const key = (error as { key?: unknown }).key;
  publish(name, () => ({ operation: operation.operation, sagaName: operation.sagaName, key: typeof key === "string" ? key : operation.keys[0], error }));
}

/** The context of one store call, filled in by the layers it passes through. */
export class StoreOperation implements OperationContext, RetryObserver {
  keys: string[] = [];
  codec: string | undefined = undefined;
  schemaVersion: number | undefined = undefined;
  sagaVersion: number | undefined = undefined;
  attempts = 1;
  outcome: OperationOutcome | undefined = undefined;

  constructor(
    readonly operation: TracedOperation,
    readonly system: string,
    readonly sagaName: string | undefined,
  ) {}

  /** A key read or written, listed once. */
  touch(key: string): void {
    if (!this.keys.includes(key)) this.keys.push(key);
  }

  /** The value written or read: its codec, schema version and saga version. */
  recordValue(codec: string, schemaVersion: number | undefined, sagaVersion: number | undefined): void {
    this.codec = codec;
    this.schemaVersion = schemaVersion;
    this.sagaVersion = sagaVersion;
  }

  retrying(cause: unknown, delayMs: number, key: string | undefined): void {
    this.attempts++;
    publish("retry", () => ({
      operation: this.operation,
      sagaName: this.sagaName,
      key,
      attempt: this.attempts,
      delayMs,
      cause,
      code: isSagaStoreError(cause) ? cause.code : "error",
    }));
  }
}

/**
 * Run a store call as `operation`: on its TracingChannel when it has a
 * subscriber (the context complete before asyncEnd), and with its failure
 * published as an event (FAILURE_EVENTS) when that has one.
 */
export function traced<T>(operation: StoreOperation, body: () => Promise<T>, outcomeOf: (result: T) => OperationOutcome): Promise<T> {
  const tracing = operationChannels[operation.operation];
  if (tracing.hasSubscribers) return tracing.tracePromise(runTraced<T>, operation, undefined, operation, body, outcomeOf);
  if (failureEventsWatched()) {
    return body().catch((error: unknown) => {
      publishFailure(operation, error);
      throw error;
    });
  }
  return body();
}

async function runTraced<T>(operation: StoreOperation, body: () => Promise<T>, outcomeOf: (result: T) => OperationOutcome): Promise<T> {
  // A start subscriber may have asked for the call to run inside its own async context.
  const within = (operation as { [RUN_WITHIN]?: RunWithin })[RUN_WITHIN];
  try {
    const result = await (within ? within(body) : body());
    operation.outcome ??= outcomeOf(result);
    return result;
  } catch (error) {
    operation.outcome = isSagaStoreError(error) ? error.code : "error";
    publishFailure(operation, error);
    throw error;
  }
}

export const foundOrNot = (state: unknown): OperationOutcome => (state === null ? "not-found" : "found");
export const written = (): OperationOutcome => "written";
export const deletedOrNot = (deleted: boolean): OperationOutcome => (deleted ? "deleted" : "not-found");
export const doneOrStopped = (result: { stopped?: boolean }): OperationOutcome => (result.stopped ? "stopped" : "done");
export const done = (): OperationOutcome => "done";
