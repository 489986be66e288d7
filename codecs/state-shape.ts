/**
 * The store accepts two state shapes, told apart by one rule:
 * - saga-bus: a string `metadata.sagaId`. Identity, version and completion
 *   come from `metadata` alone; the correlation id is the one the bus passes
 *   (or the id index). Every top-level field — `id`, `correlationId`,
 *   `status`, `version` included — is the saga's own data, never read here.
 * - seed README: anything else: { id, correlationId, status, metadata?, ... },
 *   completed when status === "completed"; its version sits in `metadata`
 *   when that is an object, else at the top level (as 0.3.0 kept it).
 * These helpers are the only place that knows where each shape keeps them.
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

/** The saga-bus shape's metadata, or undefined for the seed shape. */
function busMetadataOf(state: Loose): Loose | undefined {
  const metadata = metadataOf(state);
  return typeof metadata?.sagaId === "string" ? metadata : undefined;
}

export function isSagaBusShaped(state: Loose): boolean {
  return busMetadataOf(state) !== undefined;
}

export function readSagaId(state: Loose): string | undefined {
  const metadata = busMetadataOf(state);
  if (metadata) return metadata.sagaId as string;
  return typeof state.id === "string" ? state.id : undefined;
}

/** The version the state was loaded at; undefined for a state never stored. */
export function readVersion(state: Loose): number | undefined {
  const metadata = metadataOf(state);
  const version = busMetadataOf(state) ? metadata!.version : (metadata?.version ?? state.version);
  return typeof version === "number" ? version : undefined;
}

/** The seed shape's own correlation id; a saga-bus state's is never read from its data. */
export function readCorrelationId(state: Loose): string | undefined {
  if (busMetadataOf(state)) return undefined;
  return typeof state.correlationId === "string" ? state.correlationId : undefined;
}

export function isCompleted(state: Loose): boolean {
  const metadata = busMetadataOf(state);
  return metadata ? metadata.isCompleted === true : state.status === "completed";
}

/**
 * When the state was last saved, as it says: a saga-bus state's
 * metadata.updatedAt; a seed-shaped one's metadata.updatedAt or top-level
 * updatedAt (a Date or an ISO string). Undefined when it says nothing readable.
 */
export function readUpdatedAt(state: Loose): Date | undefined {
  const metadata = metadataOf(state);
  const candidates = busMetadataOf(state) ? [metadata!.updatedAt] : [metadata?.updatedAt, state.updatedAt];
  for (const value of candidates) {
    const date = value instanceof Date ? value : typeof value === "string" ? new Date(value) : undefined;
    if (date && !Number.isNaN(date.getTime())) return date;
  }
  return undefined;
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
