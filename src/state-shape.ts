/**
 * The store accepts two state shapes:
 * - saga-bus:  { ...fields, metadata: { sagaId, version, isCompleted, createdAt, updatedAt, ... } }
 * - seed README: { id, correlationId, status, data, metadata?, version? }, completed when status === "completed".
 * These helpers are the only place that knows where each shape keeps its identity and version.
 */
export interface SagaMetadata {
  sagaId: string;
  version: number;
  createdAt: Date;
  updatedAt: Date;
  isCompleted: boolean;
  archivedAt?: Date | null;
  traceParent?: string | null;
  traceState?: string | null;
  timeoutMs?: number | null;
  timeoutExpiresAt?: Date | null;
}

/** The saga-bus state shape. */
export interface SagaState {
  metadata: SagaMetadata;
  [field: string]: unknown;
}

/** Any state object the store can persist (saga-bus shape or the seed README shape). */
export type AnySagaState = Record<string, any>;

type Loose = Record<string, unknown>;

function metadataOf(state: Loose): Loose | undefined {
  const metadata = state.metadata;
  return metadata !== null && typeof metadata === "object" ? (metadata as Loose) : undefined;
}

export function readSagaId(state: Loose): string | undefined {
  const id = metadataOf(state)?.sagaId ?? state.id;
  return typeof id === "string" ? id : undefined;
}

/** The version the state was loaded at; undefined for a state never stored. */
export function readVersion(state: Loose): number | undefined {
  const version = metadataOf(state)?.version ?? state.version;
  return typeof version === "number" ? version : undefined;
}

export function readCorrelationId(state: Loose): string | undefined {
  return typeof state.correlationId === "string" ? state.correlationId : undefined;
}

export function isCompleted(state: Loose): boolean {
  return metadataOf(state)?.isCompleted === true || state.status === "completed";
}

/** A shallow copy of `state` carrying `version` where its shape keeps it. */
export function withVersion<T extends Loose>(state: T, version: number): T {
  const metadata = metadataOf(state);
  return metadata ? { ...state, metadata: { ...metadata, version } } : { ...state, version };
}

/** Set the authoritative stored version on a freshly decoded state (owned by the caller, so mutated in place). */
export function applyStoredVersion(state: Loose, version: number): void {
  const metadata = metadataOf(state);
  if (metadata) metadata.version = version;
  else state.version = version;
}
