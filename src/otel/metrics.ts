import type { Attributes, Counter, Histogram, Meter } from "@opentelemetry/api";
import type { ConflictEvent, OperationContext, RetryEvent, UpgradedEvent } from "../telemetry/channels";
import * as attr from "./attributes";

/** OpenTelemetry's recommended boundaries for db.client.operation.duration, in seconds. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

/**
 * The store's instruments. Attributes are of low cardinality only (saga
 * name, operation, outcome, codes, schema versions): never keys or ids.
 */
export class StoreMetrics {
  private readonly duration: Histogram;
  private readonly operations: Counter;
  private readonly conflicts: Counter;
  private readonly retries: Counter;
  private readonly upgrades: Counter;
  private readonly connectionErrors: Counter;

  constructor(meter: Meter) {
    this.duration = meter.createHistogram("db.client.operation.duration", {
      description: "Duration of saga store calls, retries included",
      unit: "s",
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    this.operations = meter.createCounter("saga_bus.store.operations", { description: "Saga store calls, by outcome", unit: "{operation}" });
    this.conflicts = meter.createCounter("saga_bus.store.conflicts", { description: "Writes that lost a version race", unit: "{conflict}" });
    this.retries = meter.createCounter("saga_bus.store.retries", { description: "Steps tried again: transient failures, and modify's reloads", unit: "{retry}" });
    this.upgrades = meter.createCounter("saga_bus.store.upgrades", { description: "Reads that upgraded a stored value's schema version", unit: "{read}" });
    this.connectionErrors = meter.createCounter("saga_bus.store.connection_errors", {
      description: "Errors of the clients the stores created",
      unit: "{error}",
    });
  }

  operationEnded(message: OperationContext, seconds: number): void {
    const attributes: Attributes = {
      [attr.DB_SYSTEM_NAME]: message.system,
      [attr.DB_OPERATION_NAME]: message.operation,
      [attr.OUTCOME]: message.outcome ?? "error",
      ...(message.sagaName === undefined ? {} : { [attr.SAGA_NAME]: message.sagaName }),
      ...(message.error === undefined ? {} : { [attr.ERROR_TYPE]: message.outcome ?? "error" }),
    };
    this.duration.record(seconds, attributes);
    this.operations.add(1, attributes);
  }

  conflicted(event: ConflictEvent): void {
    this.conflicts.add(1, { [attr.DB_OPERATION_NAME]: event.operation, [attr.SAGA_NAME]: event.sagaName });
  }

  retried(event: RetryEvent): void {
    this.retries.add(1, {
      [attr.DB_OPERATION_NAME]: event.operation,
      [attr.ERROR_TYPE]: event.code,
      ...(event.sagaName === undefined ? {} : { [attr.SAGA_NAME]: event.sagaName }),
    });
  }

  upgraded(event: UpgradedEvent): void {
    this.upgrades.add(1, { [attr.SAGA_NAME]: event.sagaName, [attr.SCHEMA_FROM]: event.from, [attr.SCHEMA_TO]: event.to });
  }

  connectionFailed(): void {
    this.connectionErrors.add(1);
  }
}
