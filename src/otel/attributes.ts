/**
 * Attribute names of the store's spans and metrics: OpenTelemetry's database
 * semantic conventions where they have one, the `saga_bus.` namespace for
 * what is the store's own.
 */
export const DB_SYSTEM_NAME = "db.system.name";
export const DB_OPERATION_NAME = "db.operation.name";
export const ERROR_TYPE = "error.type";
export const SAGA_NAME = "saga_bus.saga.name";
export const SAGA_VERSION = "saga_bus.saga.version";
export const OUTCOME = "saga_bus.store.outcome";
export const ATTEMPTS = "saga_bus.store.attempts";
export const CODEC = "saga_bus.store.codec";
export const SCHEMA_VERSION = "saga_bus.store.schema_version";
export const KEYS = "saga_bus.store.keys";
export const SCHEMA_FROM = "saga_bus.schema.from";
export const SCHEMA_TO = "saga_bus.schema.to";
export const RETRY_ATTEMPT = "saga_bus.retry.attempt";
export const RETRY_DELAY_MS = "saga_bus.retry.delay_ms";
export const EXPECTED_VERSION = "saga_bus.conflict.expected_version";
export const STORED_VERSION = "saga_bus.conflict.stored_version";

/** The instrumentation scope every tracer and meter is created under. */
export const SCOPE_NAME = "@saga-bus/store-redis";
