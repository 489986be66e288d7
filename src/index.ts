export { RedisSagaStore, HASH_TAG_WARNING, type RedisSagaStoreOptions, type RedisConnection } from "./redis-store";
export { InMemorySagaStore } from "./memory-store";
export { SagaStore, type SagaStoreOptions } from "./store";
export {
  SagaRegistry,
  createSagaRegistry,
  type SagaRegistryOptions,
  type RegisteredState,
  type RegisteredInput,
  type RegisteredSagas,
  type TypesOf,
  type SagaName,
  type StateOf,
  type InputOf,
} from "./registry";
export { defineSaga, SagaDefinition, type Migration, type SchemaVersion } from "../migrations/define-saga";
export * from "./errors";
export type { SagaState, SagaMetadata, AnySagaState } from "../codecs/state-shape";
export type { SagaCodec } from "../codecs/codec";
export { jsonCodec, superjsonCodec, msgpackCodec, type BuiltInCodecName } from "../codecs/index";
export { DEFAULT_COMPRESS_ABOVE_BYTES, DEFAULT_MAX_STATE_BYTES, DEFAULT_MAX_STATE_CONTAINERS } from "../codecs/serializer";
export { ENVELOPE_FORMAT_VERSION, HEADER_SIZE as ENVELOPE_HEADER_SIZE } from "../codecs/envelope";
export { DEFAULT_KEY_REFRESH_MS, type EncryptionOptions, type EncryptionKeyRing, type EncryptionKey } from "../codecs/encryption";
export {
  WriteStatus,
  DeleteStatus,
  type SagaEngine,
  type WriteRequest,
  type InsertRequest,
  type DeleteRequest,
  type TakeRequest,
  type WriteResult,
  type StoredEntry,
  type ReplaceRequest,
  type OrphanIndexRequest,
} from "./engine";
export type { RunControl, OperatorProgress, OperatorProblem, OperatorOperation, ProblemReporting } from "./operator/walk";
export type { SagaStats } from "./operator/stats";
export type { VerifyOptions, VerifyResult } from "./operator/verify";
export type { MigrateOptions, MigrateResult } from "./operator/migrate";
export type { DeleteCompletedOptions, DeleteCompletedResult } from "./operator/delete-completed";
export type { InspectedSaga, InspectTarget } from "./operator/inspect";
export type { StoredForm } from "./operator/stored-form";
export {
  CHANNEL_PREFIX,
  TRACED_OPERATIONS,
  STORE_EVENTS,
  type TracedOperation,
  type OperationContext,
  type OperationOutcome,
  type StoreEvents,
  type StoreEventName,
  type ConflictEvent,
  type RetryEvent,
  type FailureEvent,
  type UpgradedEvent,
  type ConnectionErrorEvent,
} from "./telemetry/channels";
export { MemoryEngine } from "./engines/memory";
export { identityOf, holdsWrite, writeIdentity, type StoredIdentity } from "../codecs/stored-identity";
export { sagaIdFingerprint } from "../codecs/envelope";
export { escapeCorrelationId } from "../codecs/correlation-id-escape";
